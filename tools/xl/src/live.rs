//! The real backends of [`crate::build`]: libxen's privcmd hypercalls and foreign mappings,
//! and its xenstore client.

use crate::build::{Hyp, Store};
use crate::xsent::{Perm, XsOp};
use libxen::ctrl::Ctrl;
use libxen::foreign::ForeignMap;
use libxen::xs::{self, Xs, XBT_NULL};
use std::io;
use xen_abi::arch_arm::{vcpu_guest_context, xen_pfn_t};
use xen_abi::domctl::xen_domctl_createdomain;

/// Pages mapped at once while loading images.
const MAP_CHUNK: u64 = 512;

pub struct LiveHyp {
    pub ctrl: Ctrl,
}

impl Hyp for LiveHyp {
    fn createdomain(
        &mut self,
        cfg: &xen_domctl_createdomain,
    ) -> io::Result<(u16, xen_domctl_createdomain)> {
        self.ctrl.createdomain(0, cfg)
    }
    fn max_vcpus(&mut self, domid: u16, n: u32) -> io::Result<()> {
        self.ctrl.max_vcpus(domid, n)
    }
    fn max_mem(&mut self, domid: u16, kb: u64) -> io::Result<()> {
        self.ctrl.max_mem(domid, kb)
    }
    fn set_paging_mempool_size(&mut self, domid: u16, bytes: u64) -> io::Result<()> {
        self.ctrl.set_paging_mempool_size(domid, bytes)
    }
    fn set_address_size(&mut self, domid: u16, bits: u32) -> io::Result<()> {
        self.ctrl.set_address_size(domid, bits)
    }
    fn populate_physmap(
        &mut self,
        domid: u16,
        order: u32,
        gfns: &[xen_pfn_t],
    ) -> io::Result<usize> {
        // Batches of at most 4096 extents per call, as the buffers stay small.
        let mut done = 0;
        for c in gfns.chunks(4096) {
            let n = self.ctrl.populate_physmap(domid, order, c)?;
            done += n;
            if n < c.len() {
                break;
            }
        }
        Ok(done)
    }
    fn evtchn_alloc_unbound(&mut self, domid: u16, remote: u16) -> io::Result<u32> {
        self.ctrl.evtchn_alloc_unbound(domid, remote)
    }
    fn hvm_set_param(&mut self, domid: u16, index: u32, value: u64) -> io::Result<()> {
        self.ctrl.hvm_set_param(domid, index, value)
    }
    fn setvcpucontext(&mut self, domid: u16, vcpu: u32, c: &vcpu_guest_context) -> io::Result<()> {
        self.ctrl.setvcpucontext(domid, vcpu, c)
    }
    fn write_guest(&mut self, domid: u16, addr: u64, data: &[u8], zero_len: u64) -> io::Result<()> {
        let len = (data.len() as u64).max(zero_len);
        let first = addr >> 12;
        let last = (addr + len).div_ceil(4096);
        let zeros = vec![0u8; 4096];
        let mut g = first;
        while g < last {
            let n = (last - g).min(MAP_CHUNK);
            let gfns: Vec<u64> = (g..g + n).collect();
            let mut m = ForeignMap::map(self.ctrl.privcmd(), domid, &gfns)?;
            m.check().map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("mapping guest frames {g:#x}..{:#x}: {e}", g + n),
                )
            })?;
            // The part of [addr, addr+len) inside this chunk.
            let lo = addr.max(g << 12);
            let hi = (addr + len).min((g + n) << 12);
            let off = (lo - (g << 12)) as usize;
            let mut pos = (lo - addr) as usize;
            let end = (hi - addr) as usize;
            let mut o = off;
            while pos < end {
                let take = (end - pos).min(4096);
                if data.is_empty() {
                    m.mem_mut().copy_in(o, &zeros[..take]);
                } else {
                    m.mem_mut().copy_in(o, &data[pos..pos + take]);
                }
                pos += take;
                o += take;
            }
            drop(m);
            // As libxc after `xc_map_foreign_*` writes (xg_dom_core.c `xc_dom_seg_to_ptr`
            // users): the guest starts with its MMU and caches off.
            self.ctrl.cacheflush(domid, g, n)?;
            g += n;
        }
        Ok(())
    }
    fn unpause(&mut self, domid: u16) -> io::Result<()> {
        self.ctrl.unpause(domid)
    }
    fn destroy(&mut self, domid: u16) -> io::Result<()> {
        self.ctrl.destroy(domid)
    }
}

fn to_xs_perm(p: &Perm) -> io::Result<xs::Perm> {
    xs::Perm::parse(p.to_string().as_bytes())
        .map_err(|_| io::Error::other(format!("bad permission {p}")))
}

pub struct LiveStore {
    pub xs: Xs,
}

impl LiveStore {
    pub fn open() -> io::Result<LiveStore> {
        Xs::open().map(|xs| LiveStore { xs })
    }

    pub fn read(&mut self, path: &str) -> Option<String> {
        self.xs.read_string(XBT_NULL, path).ok()
    }

    fn apply_in(&mut self, tx: u32, ops: &[XsOp]) -> io::Result<()> {
        for op in ops {
            let r = match op {
                XsOp::Rm(p) => match self.xs.rm(tx, p) {
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
                    r => r,
                },
                XsOp::Mknod(p, perms) => {
                    self.xs.write(tx, p, b"")?;
                    let v = perms
                        .iter()
                        .map(to_xs_perm)
                        .collect::<io::Result<Vec<_>>>()?;
                    self.xs.set_perms(tx, p, &v)
                }
                XsOp::Write(p, v) => self.xs.write(tx, p, v.as_bytes()),
                XsOp::SetPerms(p, perms) => {
                    let v = perms
                        .iter()
                        .map(to_xs_perm)
                        .collect::<io::Result<Vec<_>>>()?;
                    self.xs.set_perms(tx, p, &v)
                }
            };
            r.map_err(|e| io::Error::new(e.kind(), format!("xenstore {op}: {e}")))?;
        }
        Ok(())
    }
}

impl Store for LiveStore {
    fn apply(&mut self, ops: &[XsOp]) -> io::Result<()> {
        for _ in 0..16 {
            let tx = self.xs.transaction_start()?;
            if let Err(e) = self.apply_in(tx, ops) {
                let _ = self.xs.transaction_end(tx, false);
                return Err(e);
            }
            if self.xs.transaction_end(tx, true)? {
                return Ok(());
            }
        }
        Err(io::Error::other(
            "xenstore transaction kept conflicting (EAGAIN 16 times)",
        ))
    }
    fn introduce(&mut self, domid: u16, gfn: u64, port: u32) -> io::Result<()> {
        self.xs.introduce(domid, gfn, port)
    }
}
