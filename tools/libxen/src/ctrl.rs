//! The toolstack's hypercalls (what libxenctrl gives Xen's xl): domctl and sysctl sub-ops,
//! `XENMEM_populate_physmap` for another domain, HVM params, event channels allocated for
//! another domain and `SCHEDOP_remote_shutdown`, typed over `/dev/xen/privcmd`.
//!
//! Every struct Xen reads or writes through a pointer lives in a [`HypercallBuf`] (locked,
//! mapped memory), never on the stack or heap. Errors carry the operation's name and Xen's
//! errno: `XEN_DOMCTL_createdomain: Cannot allocate memory (os error 12)`.

use crate::sys::{HypercallBuf, Privcmd, XenverString};
use std::io;
use xen_abi::arch_arm::{vcpu_guest_context, xen_pfn_t};
use xen_abi::domctl::*;
use xen_abi::event_channel::{evtchn_alloc_unbound, EVTCHNOP_alloc_unbound};
use xen_abi::hvm::{xen_hvm_param, HVMOP_get_param, HVMOP_set_param};
use xen_abi::hypercall::{
    __HYPERVISOR_domctl, __HYPERVISOR_event_channel_op, __HYPERVISOR_hvm_op,
    __HYPERVISOR_memory_op, __HYPERVISOR_sched_op, __HYPERVISOR_sysctl,
};
use xen_abi::memory::{xen_memory_reservation, XENMEM_populate_physmap};
use xen_abi::sched::{sched_remote_shutdown, SCHEDOP_remote_shutdown};
use xen_abi::sysctl::*;
use xen_abi::{FromBytes, FromZeros, Immutable, IntoBytes};

pub use xen_abi::domctl::xen_domctl_getdomaininfo as DomainInfo;
pub use xen_abi::sysctl::xen_sysctl_physinfo as PhysInfo;

/// `io::Error` of the same kind, prefixed with the operation that failed.
fn ctx(op: &str, e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(n) => io::Error::new(
            e.kind(),
            format!("{op}: {} (errno {n})", io::Error::from_raw_os_error(n)),
        ),
        None => io::Error::new(e.kind(), format!("{op}: {e}")),
    }
}

/// A locked buffer holding one `T` (and room after it).
fn buf_with<T: IntoBytes + Immutable>(v: &T, extra: usize) -> io::Result<HypercallBuf> {
    let mut b = HypercallBuf::new(size_of::<T>() + extra)?;
    b.bytes_mut()[..size_of::<T>()].copy_from_slice(v.as_bytes());
    Ok(b)
}

fn read<T: FromBytes>(b: &HypercallBuf, off: usize) -> T {
    T::read_from_prefix(&b.bytes()[off..])
        .unwrap_or_else(|_| unreachable!("buffers are sized for their contents"))
        .0
}

/// The domain's shutdown code (`SHUTDOWN_*`) when `XEN_DOMINF_shutdown` is set.
pub fn shutdown_reason(info: &DomainInfo) -> Option<u32> {
    (info.flags & XEN_DOMINF_shutdown != 0)
        .then_some((info.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask)
}

/// The privcmd handle with the toolstack's operations.
pub struct Ctrl {
    pc: Privcmd,
}

impl Ctrl {
    /// Opens `/dev/xen/privcmd`.
    pub fn open() -> io::Result<Ctrl> {
        Privcmd::open("/dev/xen/privcmd")
            .map(|pc| Ctrl { pc })
            .map_err(|e| ctx("opening /dev/xen/privcmd (is this dom0 on Xen?)", e))
    }

    pub fn privcmd(&self) -> &Privcmd {
        &self.pc
    }

    /// One hypercall whose pointer arguments are all `HypercallBuf` addresses.
    #[allow(unsafe_code)]
    fn call(&self, op: u64, args: [u64; 5], name: &str) -> io::Result<i32> {
        // SAFETY: every caller passes as pointers only addresses of live `HypercallBuf`s sized
        // for what the sub-op reads and writes (the struct, plus the arrays its handles name),
        // which outlive this call.
        unsafe { self.pc.hypercall(op, args) }.map_err(|e| ctx(name, e))
    }

    /// `HYPERVISOR_domctl` with `cmd` on `domain`; the struct after the call.
    fn domctl<T: IntoBytes + FromBytes + Immutable>(
        &self,
        cmd: u32,
        domain: u16,
        member: &T,
        name: &str,
    ) -> io::Result<xen_domctl> {
        let mut op = xen_domctl::new_zeroed();
        op.cmd = cmd;
        op.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
        op.domain = domain;
        op.set(member);
        let b = buf_with(&op, 0)?;
        self.call(__HYPERVISOR_domctl, [b.addr(), 0, 0, 0, 0], name)?;
        Ok(read(&b, 0))
    }

    fn sysctl<T: IntoBytes + FromBytes + Immutable>(
        &self,
        cmd: u32,
        member: &T,
        name: &str,
    ) -> io::Result<xen_sysctl> {
        let mut op = xen_sysctl::new_zeroed();
        op.cmd = cmd;
        op.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
        op.set(member);
        let b = buf_with(&op, 0)?;
        self.call(__HYPERVISOR_sysctl, [b.addr(), 0, 0, 0, 0], name)?;
        Ok(read(&b, 0))
    }

    /// `XEN_DOMCTL_createdomain`: `domid` 0 lets Xen choose. Returns the new domid and the
    /// config as Xen completed it (the GIC version chosen for `GIC_NATIVE`, the clock).
    pub fn createdomain(
        &self,
        domid: u16,
        cfg: &xen_domctl_createdomain,
    ) -> io::Result<(u16, xen_domctl_createdomain)> {
        let op = self.domctl(
            XEN_DOMCTL_createdomain,
            domid,
            cfg,
            "XEN_DOMCTL_createdomain",
        )?;
        Ok((op.domain, op.get()))
    }

    /// `XEN_DOMCTL_max_vcpus`.
    pub fn max_vcpus(&self, domid: u16, max: u32) -> io::Result<()> {
        let m = xen_domctl_max_vcpus { max };
        self.domctl(XEN_DOMCTL_max_vcpus, domid, &m, "XEN_DOMCTL_max_vcpus")
            .map(drop)
    }

    /// `XEN_DOMCTL_max_mem` (KiB).
    pub fn max_mem(&self, domid: u16, max_memkb: u64) -> io::Result<()> {
        let m = xen_domctl_max_mem { max_memkb };
        self.domctl(XEN_DOMCTL_max_mem, domid, &m, "XEN_DOMCTL_max_mem")
            .map(drop)
    }

    /// `XEN_DOMCTL_set_paging_mempool_size`: the bytes Xen keeps for the domain's stage-2
    /// tables (`xc_set_paging_mempool_size`).
    pub fn set_paging_mempool_size(&self, domid: u16, size: u64) -> io::Result<()> {
        let m = xen_domctl_paging_mempool { size };
        self.domctl(
            XEN_DOMCTL_set_paging_mempool_size,
            domid,
            &m,
            "XEN_DOMCTL_set_paging_mempool_size",
        )
        .map(drop)
    }

    /// `XEN_DOMCTL_get_paging_mempool_size`: bytes (`xc_get_paging_mempool_size`).
    pub fn get_paging_mempool_size(&self, domid: u16) -> io::Result<u64> {
        let z = xen_domctl_paging_mempool { size: 0 };
        let op = self.domctl(
            XEN_DOMCTL_get_paging_mempool_size,
            domid,
            &z,
            "XEN_DOMCTL_get_paging_mempool_size",
        )?;
        Ok(op.get::<xen_domctl_paging_mempool>().size)
    }

    /// `XEN_SYSCTL_debug_keys`: the hypervisor runs the handler of each key (its output goes
    /// to its console ring: `readconsole`).
    pub fn debug_keys(&self, keys: &[u8]) -> io::Result<()> {
        let mut b = HypercallBuf::new(keys.len().max(1))?;
        b.bytes_mut()[..keys.len()].copy_from_slice(keys);
        let k = xen_sysctl_debug_keys {
            keys: b.addr(),
            nr_keys: keys.len() as u32,
            _pad: 0,
        };
        self.sysctl(XEN_SYSCTL_debug_keys, &k, "XEN_SYSCTL_debug_keys")
            .map(drop)
    }

    /// `XEN_DOMCTL_set_address_size` (64: an AArch64 guest).
    pub fn set_address_size(&self, domid: u16, size: u32) -> io::Result<()> {
        let m = xen_domctl_address_size { size };
        self.domctl(
            XEN_DOMCTL_set_address_size,
            domid,
            &m,
            "XEN_DOMCTL_set_address_size",
        )
        .map(drop)
    }

    /// `XEN_DOMCTL_getdomaininfo` of exactly `domid` (Xen answers with the next domain at or
    /// above it; another domain is reported as ESRCH, as libxc's `xc_domain_getinfo_single`).
    pub fn getdomaininfo(&self, domid: u16) -> io::Result<DomainInfo> {
        let z = DomainInfo::new_zeroed();
        let op = self.domctl(
            XEN_DOMCTL_getdomaininfo,
            domid,
            &z,
            "XEN_DOMCTL_getdomaininfo",
        )?;
        let info: DomainInfo = op.get();
        if op.domain != domid || info.domain != domid {
            return Err(ctx(
                "XEN_DOMCTL_getdomaininfo",
                io::Error::from_raw_os_error(libc::ESRCH),
            ));
        }
        Ok(info)
    }

    /// Every domain from `XEN_SYSCTL_getdomaininfolist`, by domid.
    pub fn domain_list(&self) -> io::Result<Vec<DomainInfo>> {
        const BATCH: u32 = 64;
        let mut out = Vec::new();
        let mut first: u16 = 0;
        loop {
            let sz = size_of::<DomainInfo>();
            let mut arr = HypercallBuf::new(sz * BATCH as usize)?;
            let l = xen_sysctl_getdomaininfolist {
                first_domain: first,
                _pad0: 0,
                max_domains: BATCH,
                buffer: arr.addr(),
                num_domains: 0,
                _pad1: 0,
            };
            let op = self.sysctl(
                XEN_SYSCTL_getdomaininfolist,
                &l,
                "XEN_SYSCTL_getdomaininfolist",
            )?;
            let n = op
                .get::<xen_sysctl_getdomaininfolist>()
                .num_domains
                .min(BATCH);
            let bytes = arr.bytes_mut();
            for i in 0..n as usize {
                out.push(read_info(&bytes[i * sz..]));
            }
            match out.last() {
                Some(last) if n == BATCH => first = last.domain.saturating_add(1),
                _ => break,
            }
        }
        out.sort_by_key(|d| d.domain);
        out.dedup_by_key(|d| d.domain);
        Ok(out)
    }

    /// `XEN_DOMCTL_setvcpucontext` for `vcpu`.
    pub fn setvcpucontext(&self, domid: u16, vcpu: u32, c: &vcpu_guest_context) -> io::Result<()> {
        let b = buf_with(c, 0)?;
        let m = xen_domctl_vcpucontext {
            vcpu,
            _pad: 0,
            ctxt: b.addr(),
        };
        self.domctl(
            XEN_DOMCTL_setvcpucontext,
            domid,
            &m,
            "XEN_DOMCTL_setvcpucontext",
        )
        .map(drop)
    }

    /// `XEN_DOMCTL_cacheflush`: cleans and invalidates the caches over `nr` frames from
    /// `start` (libxc does it after writing a domain's memory through foreign mappings).
    pub fn cacheflush(&self, domid: u16, start: u64, nr: u64) -> io::Result<()> {
        let m = xen_domctl_cacheflush {
            start_pfn: start,
            nr_pfns: nr,
        };
        self.domctl(XEN_DOMCTL_cacheflush, domid, &m, "XEN_DOMCTL_cacheflush")
            .map(drop)
    }

    /// `XEN_DOMCTL_pausedomain`.
    pub fn pause(&self, domid: u16) -> io::Result<()> {
        self.domctl(
            XEN_DOMCTL_pausedomain,
            domid,
            &[0u8; 0],
            "XEN_DOMCTL_pausedomain",
        )
        .map(drop)
    }

    /// `XEN_DOMCTL_unpausedomain`.
    pub fn unpause(&self, domid: u16) -> io::Result<()> {
        self.domctl(
            XEN_DOMCTL_unpausedomain,
            domid,
            &[0u8; 0],
            "XEN_DOMCTL_unpausedomain",
        )
        .map(drop)
    }

    /// `XEN_DOMCTL_destroydomain`, retried while Xen asks for a continuation (EAGAIN) as
    /// libxc's `xc_domain_destroy` does.
    pub fn destroy(&self, domid: u16) -> io::Result<()> {
        loop {
            match self.domctl(
                XEN_DOMCTL_destroydomain,
                domid,
                &[0u8; 0],
                "XEN_DOMCTL_destroydomain",
            ) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return r.map(drop),
            }
        }
    }

    /// `XEN_SYSCTL_physinfo`.
    pub fn physinfo(&self) -> io::Result<PhysInfo> {
        let z = PhysInfo::new_zeroed();
        let op = self.sysctl(XEN_SYSCTL_physinfo, &z, "XEN_SYSCTL_physinfo")?;
        Ok(op.get())
    }

    /// `XEN_SYSCTL_readconsole`: Xen's console ring, `clear`ing it after reading if asked.
    pub fn readconsole(&self, clear: bool) -> io::Result<Vec<u8>> {
        const SIZE: u32 = 64 << 10;
        let mut out = Vec::new();
        let mut index = 0u32;
        // Incremental reads until a short one, as `xc_readconsolering` with `incremental`.
        for _ in 0..64 {
            let mut b = HypercallBuf::new(SIZE as usize)?;
            let r = xen_sysctl_readconsole {
                clear: u8::from(clear),
                incremental: 1,
                pad0: 0,
                pad1: 0,
                index,
                buffer: b.addr(),
                count: SIZE,
                _pad: 0,
            };
            let op = self.sysctl(XEN_SYSCTL_readconsole, &r, "XEN_SYSCTL_readconsole")?;
            let got: xen_sysctl_readconsole = op.get();
            let n = got.count.min(SIZE) as usize;
            out.extend_from_slice(&b.bytes_mut()[..n]);
            index = got.index;
            if n < SIZE as usize {
                break;
            }
        }
        Ok(out)
    }

    /// `XENMEM_populate_physmap` for `domid`: one extent of `2^order` pages at each gfn of
    /// `gfns`. Returns how many extents Xen populated (fewer than asked when it ran out).
    pub fn populate_physmap(
        &self,
        domid: u16,
        order: u32,
        gfns: &[xen_pfn_t],
    ) -> io::Result<usize> {
        if gfns.is_empty() {
            return Ok(0);
        }
        let mut arr = HypercallBuf::new(size_of_val(gfns))?;
        arr.bytes_mut()[..size_of_val(gfns)].copy_from_slice(gfns.as_bytes());
        let r = xen_memory_reservation {
            extent_start: arr.addr(),
            nr_extents: gfns.len() as u64,
            extent_order: order,
            mem_flags: 0,
            domid,
            _pad0: [0; 3],
        };
        let b = buf_with(&r, 0)?;
        let n = self.call(
            __HYPERVISOR_memory_op,
            [u64::from(XENMEM_populate_physmap), b.addr(), 0, 0, 0],
            "XENMEM_populate_physmap",
        )?;
        Ok(n.unsigned_abs() as usize)
    }

    /// `HVMOP_set_param` on `domid`.
    pub fn hvm_set_param(&self, domid: u16, index: u32, value: u64) -> io::Result<()> {
        let p = xen_hvm_param {
            domid,
            pad: 0,
            index,
            value,
        };
        let b = buf_with(&p, 0)?;
        self.call(
            __HYPERVISOR_hvm_op,
            [u64::from(HVMOP_set_param), b.addr(), 0, 0, 0],
            "HVMOP_set_param",
        )
        .map(drop)
    }

    /// `HVMOP_get_param` of `domid`.
    pub fn hvm_get_param(&self, domid: u16, index: u32) -> io::Result<u64> {
        let p = xen_hvm_param {
            domid,
            pad: 0,
            index,
            value: 0,
        };
        let b = buf_with(&p, 0)?;
        self.call(
            __HYPERVISOR_hvm_op,
            [u64::from(HVMOP_get_param), b.addr(), 0, 0, 0],
            "HVMOP_get_param",
        )?;
        Ok(read::<xen_hvm_param>(&b, 0).value)
    }

    /// `EVTCHNOP_alloc_unbound`: a port of `dom` that `remote_dom` may bind.
    pub fn evtchn_alloc_unbound(&self, dom: u16, remote_dom: u16) -> io::Result<u32> {
        let a = evtchn_alloc_unbound {
            dom,
            remote_dom,
            port: 0,
        };
        let b = buf_with(&a, 0)?;
        self.call(
            __HYPERVISOR_event_channel_op,
            [u64::from(EVTCHNOP_alloc_unbound), b.addr(), 0, 0, 0],
            "EVTCHNOP_alloc_unbound",
        )?;
        Ok(read::<evtchn_alloc_unbound>(&b, 0).port)
    }

    /// `SCHEDOP_remote_shutdown` of `domid` with `reason` (`SHUTDOWN_*`).
    pub fn remote_shutdown(&self, domid: u16, reason: u32) -> io::Result<()> {
        let s = sched_remote_shutdown {
            domain_id: domid,
            _pad0: 0,
            reason,
        };
        let b = buf_with(&s, 0)?;
        self.call(
            __HYPERVISOR_sched_op,
            [u64::from(SCHEDOP_remote_shutdown), b.addr(), 0, 0, 0],
            "SCHEDOP_remote_shutdown",
        )
        .map(drop)
    }

    /// `xen_version`: (major, minor, extraversion, capabilities, page size).
    pub fn version(&self) -> io::Result<XenVersion> {
        let v = self
            .pc
            .xen_version(crate::sys::XENVER_version)
            .map_err(|e| ctx("XENVER_version", e))?;
        let (_, extra) = self
            .pc
            .xen_version_string(XenverString::Extraversion)
            .map_err(|e| ctx("XENVER_extraversion", e))?;
        let (_, caps) = self
            .pc
            .xen_version_string(XenverString::Capabilities)
            .map_err(|e| ctx("XENVER_capabilities", e))?;
        let page = self
            .pc
            .xen_version(crate::sys::XENVER_pagesize)
            .map_err(|e| ctx("XENVER_pagesize", e))?;
        let v = v.unsigned_abs();
        Ok(XenVersion {
            major: v >> 16,
            minor: v & 0xffff,
            extra,
            capabilities: caps,
            pagesize: page.unsigned_abs(),
        })
    }
}

fn read_info(b: &[u8]) -> DomainInfo {
    DomainInfo::read_from_prefix(b)
        .unwrap_or_else(|_| unreachable!("sized for BATCH entries"))
        .0
}

/// What `xen_version` tells (`xl info`'s xen_* lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XenVersion {
    pub major: u32,
    pub minor: u32,
    pub extra: String,
    pub capabilities: String,
    pub pagesize: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_code_from_flags() {
        let mut i = DomainInfo::new_zeroed();
        assert_eq!(shutdown_reason(&i), None);
        i.flags = XEN_DOMINF_shutdown | (3 << XEN_DOMINF_shutdownshift);
        assert_eq!(shutdown_reason(&i), Some(3));
    }

    #[test]
    fn errors_name_the_operation() {
        let e = ctx(
            "XEN_DOMCTL_max_mem",
            io::Error::from_raw_os_error(libc::ENOMEM),
        );
        assert!(e.to_string().starts_with("XEN_DOMCTL_max_mem: "), "{e}");
        assert!(e.to_string().contains("errno 12"), "{e}");
    }

    /// Hypercall buffers are page multiples, zeroed and writable (anonymous + mlock on a host
    /// without /dev/xen/hypercall; mlock may be refused by a low RLIMIT_MEMLOCK).
    #[test]
    fn locked_buffer() {
        match HypercallBuf::new(10) {
            Ok(mut b) => {
                assert_eq!(b.len() % 4096, 0);
                assert!(b.bytes().iter().all(|&x| x == 0));
                b.bytes_mut()[5] = 7;
                assert_eq!(b.bytes()[5], 7);
                assert_eq!(b.addr() % 4096, 0);
            }
            Err(e) => eprintln!("skipping: {e}"),
        }
    }
}
