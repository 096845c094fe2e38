//! Foreign mappings: another domain's pages in dom0's address space, as Xen's
//! `xenforeignmemory_map` gives them (`/dev/xen/privcmd`, `IOCTL_PRIVCMD_MMAPBATCH_V2`; on Arm
//! the kernel maps each frame with `XENMEM_add_to_physmap_range(XENMAPSPACE_gmfn_foreign)`).
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! let privcmd = libxen::Privcmd::open(libxen::PRIVCMD)?;
//! let ring = libxen::foreign::ForeignMap::map(&privcmd, 1, &[0x39001])?;
//! ring.check()?; // every page mapped
//! let word = ring.mem().load_u32(0);
//! # let _ = word; Ok(()) }
//! ```
//! The mapping is unmapped (and the frames released by the kernel) when the [`ForeignMap`]
//! drops. Access goes through [`Mapping`]'s volatile accessors: the domain writes the pages
//! concurrently and may be hostile.

use crate::sys::{xen_pfn_t, Mapping, Privcmd, XEN_PAGE_SIZE};
use std::io;

/// Pages of another domain mapped read-write into this process.
pub struct ForeignMap {
    mem: Mapping,
    dom: u16,
    errs: Vec<i32>,
}

impl ForeignMap {
    /// Maps `gfns` (guest frame numbers of domain `dom`) contiguously, page `i` of the
    /// mapping being `gfns[i]`. Pages Xen refused are reported by [`ForeignMap::errors`]
    /// (touching one would fault); the call itself fails only if the batch could not be
    /// attempted (bad arguments, no memory, or a driver error for the whole batch).
    pub fn map(privcmd: &Privcmd, dom: u16, gfns: &[xen_pfn_t]) -> io::Result<ForeignMap> {
        let (mem, errs) = privcmd.mmapbatch_v2(dom, gfns)?;
        Ok(ForeignMap { mem, dom, errs })
    }

    /// Maps one page and fails unless Xen mapped it.
    pub fn map_page(privcmd: &Privcmd, dom: u16, gfn: xen_pfn_t) -> io::Result<ForeignMap> {
        let m = ForeignMap::map(privcmd, dom, &[gfn])?;
        m.check()?;
        Ok(m)
    }

    /// The domain whose pages these are.
    pub fn domain(&self) -> u16 {
        self.dom
    }

    /// Number of pages.
    pub fn pages(&self) -> usize {
        self.errs.len()
    }

    /// Per page: 0, or the negative errno Xen gave for it (`-EINVAL` for a frame the domain
    /// does not have, `-ENOENT` for a paged-out one...).
    pub fn errors(&self) -> &[i32] {
        &self.errs
    }

    /// `Ok` if every page is mapped, else the first page's error.
    pub fn check(&self) -> io::Result<()> {
        match self.errs.iter().find(|&&e| e != 0) {
            None => Ok(()),
            Some(&e) => Err(io::Error::from_raw_os_error(e.saturating_neg())),
        }
    }

    /// The memory. Only touch pages whose error is 0.
    pub fn mem(&self) -> &Mapping {
        &self.mem
    }

    /// The memory, writable. Only touch pages whose error is 0.
    pub fn mem_mut(&mut self) -> &mut Mapping {
        &mut self.mem
    }

    /// Byte offset of page `i` in [`ForeignMap::mem`].
    pub fn page_offset(i: usize) -> usize {
        i * XEN_PAGE_SIZE
    }
}
