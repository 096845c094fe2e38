//! The Linux ioctl/mmap interface of `/dev/xen/privcmd`, `/dev/xen/evtchn` and
//! `/dev/xen/xenbus_backend`, the only unsafe code of the crate.
//!
//! Linux uapi headers: `include/uapi/xen/privcmd.h` (`struct privcmd_hypercall`,
//! `IOCTL_PRIVCMD_HYPERCALL`, `struct privcmd_mmapbatch_v2`, `IOCTL_PRIVCMD_MMAPBATCH_V2`),
//! `include/uapi/xen/evtchn.h` (`IOCTL_EVTCHN_*`) and `include/xen/xenbus_dev.h`
//! (`IOCTL_XENBUS_BACKEND_*`), with the generic `_IOC` encoding of
//! `include/uapi/asm-generic/ioctl.h` that arm64 uses. The driver side is
//! `drivers/xen/{privcmd,evtchn}.c` and `drivers/xen/xenbus/xenbus_dev_backend.c`. The few Xen
//! ABI numbers used (`xen/include/public/{xen,version}.h`) are here too, spelled as there.
//!
//! Memory shared with Xen or another domain is a [`Mapping`]: an owned `mmap` that is only
//! accessed with volatile loads and stores (the other side writes it concurrently), and is
//! unmapped on drop.
#![allow(non_upper_case_globals)]

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

/// `_IOC_NONE` (asm-generic/ioctl.h).
const _IOC_NONE: u32 = 0;
const _IOC_NRSHIFT: u32 = 0;
const _IOC_TYPESHIFT: u32 = 8;
const _IOC_SIZESHIFT: u32 = 16;
const _IOC_DIRSHIFT: u32 = 30;

/// `_IOC(dir, type, nr, size)`.
const fn _ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    // `size` is a struct size below 2^14 (the field is 14 bits wide), checked by the tests.
    (dir << _IOC_DIRSHIFT)
        | ((ty as u32) << _IOC_TYPESHIFT)
        | ((nr as u32) << _IOC_NRSHIFT)
        | ((size as u32) << _IOC_SIZESHIFT)
}

/// `struct privcmd_hypercall` (privcmd.h).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, Default)]
pub struct privcmd_hypercall {
    pub op: u64,
    pub arg: [u64; 5],
}

/// `IOCTL_PRIVCMD_HYPERCALL` (privcmd.h).
pub const IOCTL_PRIVCMD_HYPERCALL: u32 = _ioc(_IOC_NONE, b'P', 0, size_of::<privcmd_hypercall>());

/// `struct ioctl_evtchn_bind_interdomain` (evtchn.h).
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct ioctl_evtchn_bind_interdomain {
    pub remote_domain: u32,
    pub remote_port: u32,
}
/// `struct ioctl_evtchn_bind_unbound_port` (evtchn.h).
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct ioctl_evtchn_bind_unbound_port {
    pub remote_domain: u32,
}
/// `struct ioctl_evtchn_unbind` (evtchn.h).
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct ioctl_evtchn_unbind {
    pub port: u32,
}
/// `struct ioctl_evtchn_notify` (evtchn.h).
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct ioctl_evtchn_notify {
    pub port: u32,
}

/// `IOCTL_EVTCHN_BIND_INTERDOMAIN` (evtchn.h): returns the new local port.
pub const IOCTL_EVTCHN_BIND_INTERDOMAIN: u32 = _ioc(
    _IOC_NONE,
    b'E',
    1,
    size_of::<ioctl_evtchn_bind_interdomain>(),
);
/// `IOCTL_EVTCHN_BIND_UNBOUND_PORT` (evtchn.h): returns the new local port.
pub const IOCTL_EVTCHN_BIND_UNBOUND_PORT: u32 = _ioc(
    _IOC_NONE,
    b'E',
    2,
    size_of::<ioctl_evtchn_bind_unbound_port>(),
);
/// `IOCTL_EVTCHN_UNBIND` (evtchn.h).
pub const IOCTL_EVTCHN_UNBIND: u32 = _ioc(_IOC_NONE, b'E', 3, size_of::<ioctl_evtchn_unbind>());
/// `IOCTL_EVTCHN_NOTIFY` (evtchn.h).
pub const IOCTL_EVTCHN_NOTIFY: u32 = _ioc(_IOC_NONE, b'E', 4, size_of::<ioctl_evtchn_notify>());

/// `struct ioctl_evtchn_bind_virq` (evtchn.h).
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct ioctl_evtchn_bind_virq {
    pub virq: u32,
}
/// `IOCTL_EVTCHN_BIND_VIRQ` (evtchn.h): returns the new local port.
pub const IOCTL_EVTCHN_BIND_VIRQ: u32 =
    _ioc(_IOC_NONE, b'E', 0, size_of::<ioctl_evtchn_bind_virq>());

/// `xen_pfn_t` on Arm (xen/include/public/arch-arm.h): 64 bits.
#[allow(non_camel_case_types)]
pub type xen_pfn_t = u64;

/// `struct privcmd_mmapbatch_v2` (privcmd.h).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct privcmd_mmapbatch_v2 {
    /// Number of pages to populate.
    pub num: u32,
    /// Target domain (`domid_t`).
    pub dom: u16,
    /// Virtual address of the privcmd mapping to fill.
    pub addr: u64,
    /// `const xen_pfn_t *arr`: the domain's frames.
    pub arr: *const xen_pfn_t,
    /// `int *err`: per page 0 or a negative errno.
    pub err: *mut i32,
}
/// `IOCTL_PRIVCMD_MMAPBATCH_V2` (privcmd.h).
pub const IOCTL_PRIVCMD_MMAPBATCH_V2: u32 =
    _ioc(_IOC_NONE, b'P', 4, size_of::<privcmd_mmapbatch_v2>());

/// `IOCTL_XENBUS_BACKEND_EVTCHN` (xenbus_dev.h): the xenstore event channel of dom0's kernel
/// (`xen_store_evtchn`), the port xenstored binds for the local ring.
pub const IOCTL_XENBUS_BACKEND_EVTCHN: u32 = _ioc(_IOC_NONE, b'B', 0, 0);
/// `IOCTL_XENBUS_BACKEND_SETUP` (xenbus_dev.h): allocates the xenstore page of a (stub)
/// domain given as the argument; unused here.
pub const IOCTL_XENBUS_BACKEND_SETUP: u32 = _ioc(_IOC_NONE, b'B', 1, 0);

/// The page size of Xen's Arm ABI and of the mappings here.
pub const XEN_PAGE_SIZE: usize = 4096;

/// `ioctl(fd, req, arg)`; `Ok(return value)` or the errno as an `io::Error`.
///
/// # Safety
/// `arg` must point to a live, writable `T` of the layout `req` expects.
unsafe fn ioctl<T>(f: &File, req: u32, arg: *mut T) -> io::Result<i32> {
    // SAFETY: the caller passes a pointer to the struct this request reads/writes; `f` is an
    // open descriptor. The request number is a bit pattern: `as` reinterprets it for the libc
    // flavour (`c_int` on musl, `c_ulong` on glibc).
    let r = unsafe { libc::ioctl(f.as_raw_fd(), req as libc::Ioctl, arg) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn open_rw(path: &str) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

/// `__HYPERVISOR_xen_version` (xen/include/public/xen.h).
pub const __HYPERVISOR_xen_version: u64 = 17;
/// `XENVER_version` (version.h): `major << 16 | minor`.
pub const XENVER_version: u64 = 0;
/// `XENVER_extraversion` (version.h): fills `xen_extraversion_t` (`char[16]`).
pub const XENVER_extraversion: u64 = 1;
/// `XENVER_capabilities` (version.h): fills `xen_capabilities_info_t` (`char[1024]`).
pub const XENVER_capabilities: u64 = 3;
/// `XENVER_pagesize` (version.h): returns the page size.
pub const XENVER_pagesize: u64 = 7;
/// `XEN_EXTRAVERSION_LEN` (version.h).
pub const XEN_EXTRAVERSION_LEN: usize = 16;
/// `XEN_CAPABILITIES_INFO_LEN` (version.h).
pub const XEN_CAPABILITIES_INFO_LEN: usize = 1024;

/// The `xen_version` sub-ops that fill a fixed-size C string (version.h).
#[derive(Debug, Clone, Copy)]
pub enum XenverString {
    Extraversion,
    Capabilities,
}

impl XenverString {
    fn cmd(self) -> u64 {
        match self {
            XenverString::Extraversion => XENVER_extraversion,
            XenverString::Capabilities => XENVER_capabilities,
        }
    }
    /// The size of the struct Xen writes.
    fn len(self) -> usize {
        match self {
            XenverString::Extraversion => XEN_EXTRAVERSION_LEN,
            XenverString::Capabilities => XEN_CAPABILITIES_INFO_LEN,
        }
    }
}

/// `/dev/xen/privcmd`.
pub struct Privcmd(File);

impl Privcmd {
    pub fn open(path: &str) -> io::Result<Privcmd> {
        open_rw(path).map(Privcmd)
    }

    /// `IOCTL_PRIVCMD_HYPERCALL`: the hypercall's non-negative result, or its negated Xen errno
    /// as the `io::Error` (Xen's errno values are Linux's).
    ///
    /// # Safety
    /// The driver passes the arguments to Xen unchanged and Xen reads and writes dom0's user
    /// memory directly: every argument that `op` takes as a pointer must be valid for the
    /// accesses Xen makes through it for the duration of the call.
    pub unsafe fn hypercall(&self, op: u64, arg: [u64; 5]) -> io::Result<i32> {
        let mut h = privcmd_hypercall { op, arg };
        // SAFETY: `h` is a live `privcmd_hypercall`, what IOCTL_PRIVCMD_HYPERCALL reads; the
        // caller vouches for the pointers among the arguments.
        unsafe { ioctl(&self.0, IOCTL_PRIVCMD_HYPERCALL, &mut h) }
    }

    /// Maps the frames `gfns` of domain `dom` into this process (`mmap` of privcmd, then
    /// `IOCTL_PRIVCMD_MMAPBATCH_V2`), read-write. Returns the mapping and, per page, 0 or the
    /// negative errno Xen gave for it (an unmapped page faults if touched; the [`Mapping`]
    /// accessors never touch a page whose error is non-zero only if the caller checks). The
    /// whole call fails only for errors of the batch itself (no memory, bad domain on some
    /// kernels, `-ENOENT` for paged-out frames).
    pub fn mmapbatch_v2(&self, dom: u16, gfns: &[xen_pfn_t]) -> io::Result<(Mapping, Vec<i32>)> {
        if gfns.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let num =
            u32::try_from(gfns.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
        let len = gfns
            .len()
            .checked_mul(XEN_PAGE_SIZE)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::E2BIG))?;
        let map = Mapping::map_file(&self.0, len)?;
        let mut errs = vec![0i32; gfns.len()];
        let mut m = privcmd_mmapbatch_v2 {
            num,
            dom,
            addr: map.ptr as u64,
            arr: gfns.as_ptr(),
            err: errs.as_mut_ptr(),
        };
        // SAFETY: `m` is the struct this request reads; `arr` points to `num` frames and `err`
        // to `num` writable ints, both alive across the call; `addr` is the start of a privcmd
        // mapping of exactly `num` pages that we own (the driver fills its page tables).
        unsafe { ioctl(&self.0, IOCTL_PRIVCMD_MMAPBATCH_V2, &mut m) }?;
        Ok((map, errs))
    }

    /// `xen_version(cmd, NULL)`: for the sub-ops that return a number (and, for the others,
    /// their error on a NULL buffer).
    pub fn xen_version(&self, cmd: u64) -> io::Result<i32> {
        // SAFETY: the only pointer `xen_version` takes is its second argument, NULL here: Xen's
        // copy to it fails (-EFAULT) without touching memory.
        unsafe { self.hypercall(__HYPERVISOR_xen_version, [cmd, 0, 0, 0, 0]) }
    }

    /// `xen_version(cmd, buf)` for a sub-op that fills a C string; the hypercall's result and
    /// the string up to its NUL.
    pub fn xen_version_string(&self, which: XenverString) -> io::Result<(i32, String)> {
        let mut buf = vec![0u8; which.len()];
        // SAFETY: `buf` is ours, writable and exactly the size of the struct this sub-op
        // writes; it outlives the call.
        let r = unsafe {
            self.hypercall(
                __HYPERVISOR_xen_version,
                [which.cmd(), buf.as_mut_ptr() as u64, 0, 0, 0],
            )
        }?;
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        Ok((r, String::from_utf8_lossy(&buf[..end]).into_owned()))
    }
}

/// `/dev/xen/evtchn`: event channels bound to this file.
pub struct Evtchn(File);

impl Evtchn {
    pub fn open(path: &str) -> io::Result<Evtchn> {
        open_rw(path).map(Evtchn)
    }

    /// `IOCTL_EVTCHN_BIND_UNBOUND_PORT`: a new port that `remote_domain` may bind to.
    pub fn bind_unbound_port(&self, remote_domain: u32) -> io::Result<u32> {
        let mut a = ioctl_evtchn_bind_unbound_port { remote_domain };
        // SAFETY: `a` is the struct this request reads.
        let r = unsafe { ioctl(&self.0, IOCTL_EVTCHN_BIND_UNBOUND_PORT, &mut a) }?;
        Ok(r.unsigned_abs())
    }

    /// `IOCTL_EVTCHN_BIND_INTERDOMAIN`: a local port connected to `remote_port` of
    /// `remote_domain`.
    pub fn bind_interdomain(&self, remote_domain: u32, remote_port: u32) -> io::Result<u32> {
        let mut a = ioctl_evtchn_bind_interdomain {
            remote_domain,
            remote_port,
        };
        // SAFETY: `a` is the struct this request reads.
        let r = unsafe { ioctl(&self.0, IOCTL_EVTCHN_BIND_INTERDOMAIN, &mut a) }?;
        Ok(r.unsigned_abs())
    }

    /// `IOCTL_EVTCHN_UNBIND`.
    pub fn unbind(&self, port: u32) -> io::Result<()> {
        let mut a = ioctl_evtchn_unbind { port };
        // SAFETY: `a` is the struct this request reads.
        unsafe { ioctl(&self.0, IOCTL_EVTCHN_UNBIND, &mut a) }.map(drop)
    }

    /// `IOCTL_EVTCHN_NOTIFY`: sends an event on `port` (to its remote end).
    pub fn notify(&self, port: u32) -> io::Result<()> {
        let mut a = ioctl_evtchn_notify { port };
        // SAFETY: `a` is the struct this request reads.
        unsafe { ioctl(&self.0, IOCTL_EVTCHN_NOTIFY, &mut a) }.map(drop)
    }

    /// `IOCTL_EVTCHN_BIND_VIRQ`: a local port for the global or per-vCPU-0 `virq`
    /// (e.g. `VIRQ_DOM_EXC`, which Xen raises when a domain dies or shuts down).
    pub fn bind_virq(&self, virq: u32) -> io::Result<u32> {
        let mut a = ioctl_evtchn_bind_virq { virq };
        // SAFETY: `a` is the struct this request reads.
        let r = unsafe { ioctl(&self.0, IOCTL_EVTCHN_BIND_VIRQ, &mut a) }?;
        Ok(r.unsigned_abs())
    }

    /// The ports delivered since the last call (one `read()`; blocks if none is pending, so
    /// call it when `poll` says the descriptor is readable). Each stays masked until
    /// [`Evtchn::unmask`].
    pub fn read_pending(&mut self) -> io::Result<Vec<u32>> {
        let mut buf = [0u8; 256];
        let len = self.0.read(&mut buf)?;
        Ok(buf[..len - len % 4]
            .chunks_exact(4)
            .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Waits up to `timeout` for pending ports (poll, then `read()` of `u32` port numbers);
    /// an empty list when none arrived in time. A delivered port stays masked until
    /// [`Evtchn::unmask`].
    pub fn wait(&mut self, timeout: Duration) -> io::Result<Vec<u32>> {
        let mut p = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one live `pollfd`, count 1.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 || p.revents & libc::POLLIN == 0 {
            return Ok(Vec::new());
        }
        let mut buf = [0u8; 64];
        let len = self.0.read(&mut buf)?;
        Ok(buf[..len - len % 4]
            .chunks_exact(4)
            .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Unmasks `port` again after a delivery: `write()` of its number.
    pub fn unmask(&mut self, port: u32) -> io::Result<()> {
        self.0.write_all(&port.to_ne_bytes())
    }
}

impl AsRawFd for Evtchn {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

/// `/dev/xen/xenbus_backend`: dom0's own xenstore ring for the xenstore daemon.
pub struct XenbusBackend(File);

impl XenbusBackend {
    /// Default path of the device.
    pub const PATH: &'static str = "/dev/xen/xenbus_backend";

    pub fn open(path: &str) -> io::Result<XenbusBackend> {
        open_rw(path).map(XenbusBackend)
    }

    /// `IOCTL_XENBUS_BACKEND_EVTCHN`: the unbound port dom0's kernel allocated for xenstore
    /// (Linux `xenstored_local_init`); `ENODEV` if it has none.
    pub fn evtchn(&self) -> io::Result<u32> {
        // SAFETY: this request takes no argument (size 0); the pointer is not used.
        let r = unsafe { ioctl::<u8>(&self.0, IOCTL_XENBUS_BACKEND_EVTCHN, std::ptr::null_mut()) }?;
        Ok(r.unsigned_abs())
    }

    /// Maps the kernel's xenstore ring page (`struct xenstore_domain_interface`).
    pub fn map(&self) -> io::Result<Mapping> {
        Mapping::map_file(&self.0, XEN_PAGE_SIZE)
    }
}

/// Memory shared with another agent (Xen, a domain, dom0's kernel): an owned `MAP_SHARED`
/// read-write mapping, accessed only with volatile operations, unmapped on drop.
///
/// Offsets are the caller's (constants and masked ring indices), not data read from the
/// mapping: an access outside the mapping is a bug of the caller and panics.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; every access is a volatile
// operation through `&self`/`&mut self`, so moving it to another thread is sound.
unsafe impl Send for Mapping {}

impl Mapping {
    /// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0)`.
    pub fn map_file(f: &File, len: usize) -> io::Result<Mapping> {
        if len == 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: a fresh mapping chosen by the kernel (NULL hint), overlapping nothing of ours;
        // `f` is an open descriptor.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping { ptr: p.cast(), len })
    }

    /// The mapping's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true (a mapping has at least one byte).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address (for diagnostics and for handing to a driver).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    fn check(&self, off: usize, n: usize) {
        assert!(
            off.checked_add(n).is_some_and(|e| e <= self.len),
            "shared-memory access at {off}+{n} outside a {}-byte mapping",
            self.len
        );
    }

    /// One volatile native-endian `u32` load at `off` (4-byte aligned).
    pub fn load_u32(&self, off: usize) -> u32 {
        self.check(off, 4);
        assert!(off.is_multiple_of(4), "unaligned u32 at {off}");
        // SAFETY: in bounds and aligned (checked); the mapping lives as long as `self`.
        unsafe { std::ptr::read_volatile(self.ptr.add(off).cast::<u32>()) }
    }

    /// One volatile `u32` store at `off` (4-byte aligned).
    pub fn store_u32(&mut self, off: usize, val: u32) {
        self.check(off, 4);
        assert!(off.is_multiple_of(4), "unaligned u32 at {off}");
        // SAFETY: in bounds and aligned (checked); writable shared mapping.
        unsafe { std::ptr::write_volatile(self.ptr.add(off).cast::<u32>(), val) }
    }

    /// Copies `buf.len()` bytes at `off` into `buf`, byte by byte, volatile.
    pub fn read_bytes(&self, off: usize, buf: &mut [u8]) {
        self.check(off, buf.len());
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: `off + i` is in bounds (checked for the whole range).
            *b = unsafe { std::ptr::read_volatile(self.ptr.add(off + i)) };
        }
    }

    /// Copies `data` to `off`, byte by byte, volatile.
    pub fn write_bytes(&mut self, off: usize, data: &[u8]) {
        self.check(off, data.len());
        for (i, &b) in data.iter().enumerate() {
            // SAFETY: `off + i` is in bounds (checked for the whole range).
            unsafe { std::ptr::write_volatile(self.ptr.add(off + i), b) }
        }
    }

    /// Copies `data` to `off` in one bulk copy: only for memory no one else touches meanwhile
    /// (a paused domain's RAM while a toolstack loads its kernel), where volatile byte
    /// accesses would only cost time.
    pub fn copy_in(&mut self, off: usize, data: &[u8]) {
        self.check(off, data.len());
        // SAFETY: `off..off + data.len()` is in bounds (checked); `data` is a separate
        // allocation, so the ranges do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(off), data.len()) }
    }

    /// A full barrier between data and index accesses (`dmb ish` on arm64).
    pub fn fence(&self) {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what `mmap` returned; nothing refers into the
        // mapping once its owner is dropped (accessors borrow `self`).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// `poll` on one descriptor for input, up to `timeout_ms` (-1: forever); true if readable
/// (or hung up: the read then reports it).
pub fn poll_readable(fd: std::os::fd::RawFd, timeout_ms: libc::c_int) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one live `pollfd`, count 1.
        let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(n > 0 && p.revents != 0);
    }
}

/// `poll` on several descriptors: `fds` gets its `revents` filled; returns how many are
/// ready (0 on timeout; `EINTR` counts as 0).
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    let nfds = libc::nfds_t::try_from(fds.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `fds` is a live, writable array of `nfds` pollfds.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), nfds, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(n.unsigned_abs() as usize)
}

/// `/dev/xen/hypercall` (Linux `drivers/xen/privcmd-buf.c`): `mmap` of it gives kernel pages
/// that stay mapped, as libxencall uses for hypercall buffers.
pub const HYPERCALL_DEV: &str = "/dev/xen/hypercall";

/// Memory for the structs a hypercall passes by pointer. Linux's privcmd hands user pointers
/// straight to Xen, which translates them with dom0's stage-1 tables during the call: the pages
/// must be present and stay put. They come from `/dev/xen/hypercall` when the kernel has it
/// (what libxencall does), else from an anonymous mapping locked with `mlock`.
pub struct HypercallBuf {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is owned by the buffer alone (no aliasing pointers are handed out beyond
// borrows of `self`), so moving it to another thread is as safe as moving a `Vec<u8>`.
unsafe impl Send for HypercallBuf {}

fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p).ok().filter(|&p| p > 0).unwrap_or(4096)
}

impl HypercallBuf {
    /// A zeroed buffer of at least `len` bytes (whole pages).
    pub fn new(len: usize) -> io::Result<HypercallBuf> {
        let page = page_size();
        let len = len.max(1).div_ceil(page) * page;
        if let Ok(f) = open_rw(HYPERCALL_DEV) {
            // SAFETY: a fresh shared mapping of the device, no fixed address; the driver gives
            // zeroed kernel pages. The fd may be closed after mmap (the mapping keeps it).
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    f.as_raw_fd(),
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                let mut b = HypercallBuf { ptr: p.cast(), len };
                b.touch();
                return Ok(b);
            }
        }
        // SAFETY: a fresh private anonymous mapping (zero-filled), no fixed address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let buf = HypercallBuf { ptr: p.cast(), len };
        // SAFETY: `p..p+len` is the mapping just made; mlock faults the pages in and keeps
        // them resident.
        if unsafe { libc::mlock(p, len) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = buf;
        buf.touch();
        Ok(buf)
    }

    /// Writes every page once (zeroes, as libxencall's `memset`): Linux maps a clean shared
    /// page read-only until its first write fault (the software dirty bit on CPUs without
    /// hardware DBM), and the hypervisor's stage-1 check for a write (AT S1E1W) would refuse
    /// it (-EFAULT) — it does not take faults on dom0's behalf.
    fn touch(&mut self) {
        let page = page_size();
        for off in (0..self.len).step_by(page) {
            // SAFETY: `off < len`: inside our live read/write mapping; a volatile write so the
            // store (and the fault that marks the page dirty) really happens.
            unsafe { std::ptr::write_volatile(self.ptr.add(off), 0) };
        }
    }

    /// The buffer's address, as the hypercall argument or a guest handle.
    pub fn addr(&self) -> u64 {
        self.ptr as u64
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` is our live read/write mapping; the borrow of `self` keeps it.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `bytes`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for HypercallBuf {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping this buffer owns; no reference to it outlives `self`.
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

/// A terminal switched to raw mode (`cfmakeraw`) until dropped, as `xenconsole` does with
/// its standard input.
pub struct RawTerminal {
    fd: std::os::fd::RawFd,
    saved: libc::termios,
}

impl RawTerminal {
    /// Makes `fd`'s terminal raw; `ENOTTY` if it is no terminal.
    pub fn new(fd: std::os::fd::RawFd) -> io::Result<RawTerminal> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `t` is a live termios; `fd` is the caller's descriptor.
        if unsafe { libc::tcgetattr(fd, &mut t) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let saved = t;
        // SAFETY: `t` is a live termios.
        unsafe { libc::cfmakeraw(&mut t) };
        // SAFETY: as above.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawTerminal { fd, saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restoring the settings read in `new` on the same descriptor.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

/// Makes a pty (or any terminal) raw without keeping the old settings: the console client's
/// end of a domain's pty must pass bytes unchanged.
pub fn make_raw(fd: std::os::fd::RawFd) -> io::Result<()> {
    RawTerminal::new(fd).map(std::mem::forget)
}

/// A new pseudo-terminal: the master (non-blocking, close-on-exec), the slave opened and
/// set raw (`cfmakeraw`; kept open by the caller so the master never sees a hang-up when
/// the last user of the slave closes it), and the slave's path (`/dev/pts/N`). What Xen's
/// xenconsoled does for each domain's console (`openpty` + `cfmakeraw`).
pub fn openpty_raw() -> io::Result<(File, File, String)> {
    let master = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open("/dev/ptmx")?;
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes the pty number to the `c_uint` we pass.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN as libc::Ioctl, &mut n) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads the `c_int` we pass (0: unlock).
    if unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCSPTLCK as libc::Ioctl,
            &mut unlock,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    let path = format!("/dev/pts/{n}");
    let slave = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(&path)?;
    // SAFETY: `termios` is plain data; tcgetattr fills it before we read it.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is a live termios for tcgetattr to fill / tcsetattr to read.
    unsafe {
        if libc::tcgetattr(slave.as_raw_fd(), &mut t) < 0 {
            return Err(io::Error::last_os_error());
        }
        libc::cfmakeraw(&mut t);
        if libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((master, slave, path))
}

/// `mount -t xenfs xenfs <dir>`.
pub fn mount_xenfs(dir: &str) -> io::Result<()> {
    let src = c"xenfs";
    let target = std::ffi::CString::new(dir).map_err(io::Error::other)?;
    // SAFETY: NUL-terminated strings that live across the call; no mount data.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            src.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers a C program gets from the uapi headers on arm64.
    #[test]
    fn ioctl_numbers() {
        assert_eq!(size_of::<privcmd_hypercall>(), 48);
        assert_eq!(IOCTL_PRIVCMD_HYPERCALL, 0x0030_5000);
        assert_eq!(IOCTL_EVTCHN_BIND_INTERDOMAIN, 0x0008_4501);
        assert_eq!(IOCTL_EVTCHN_BIND_UNBOUND_PORT, 0x0004_4502);
        assert_eq!(IOCTL_EVTCHN_UNBIND, 0x0004_4503);
        assert_eq!(IOCTL_EVTCHN_NOTIFY, 0x0004_4504);
        assert_eq!(IOCTL_EVTCHN_BIND_VIRQ, 0x0004_4500);
        assert_eq!(size_of::<privcmd_mmapbatch_v2>(), 32);
        assert_eq!(std::mem::offset_of!(privcmd_mmapbatch_v2, addr), 8);
        assert_eq!(std::mem::offset_of!(privcmd_mmapbatch_v2, err), 24);
        assert_eq!(IOCTL_PRIVCMD_MMAPBATCH_V2, 0x0020_5004);
        assert_eq!(IOCTL_XENBUS_BACKEND_EVTCHN, 0x0000_4200);
        assert_eq!(IOCTL_XENBUS_BACKEND_SETUP, 0x0000_4201);
    }

    /// A file-backed mapping behaves as memory: bounds, volatile access, unmapped on drop.
    #[test]
    fn mapping_accessors() {
        let path = std::env::temp_dir().join(format!("libxen-map-{}", std::process::id()));
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.set_len(4096).unwrap();
        let mut m = Mapping::map_file(&f, 4096).unwrap();
        m.store_u32(8, 0xdead_beef);
        assert_eq!(m.load_u32(8), 0xdead_beef);
        m.write_bytes(4090, b"abcdef");
        let mut b = [0u8; 6];
        m.read_bytes(4090, &mut b);
        assert_eq!(&b, b"abcdef");
        drop(m);
        let data = std::fs::read(&path).unwrap();
        assert_eq!(&data[8..12], &0xdead_beef_u32.to_ne_bytes());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn mapping_bounds() {
        let f = tempfile_4k();
        let m = Mapping::map_file(&f, 4096).unwrap();
        let mut b = [0u8; 2];
        m.read_bytes(4095, &mut b);
    }

    /// A pty round trip: raw mode (no echo, no line buffering), both directions.
    #[test]
    fn pty_is_raw() {
        let Ok((mut m, mut s, path)) = openpty_raw() else {
            return; // no /dev/ptmx in this sandbox
        };
        assert!(path.starts_with("/dev/pts/"));
        m.write_all(b"ab\r").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let mut b = [0u8; 16];
        let n = s.read(&mut b).unwrap();
        assert_eq!(&b[..n], b"ab\r", "no line discipline translation");
        s.write_all(b"xy\n").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let n = m.read(&mut b).unwrap();
        assert_eq!(&b[..n], b"xy\n", "no echo, no \\n -> \\r\\n");
    }

    fn tempfile_4k() -> File {
        let path = std::env::temp_dir().join(format!("libxen-b-{}", std::process::id()));
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.set_len(4096).unwrap();
        let _ = std::fs::remove_file(&path);
        f
    }
}
