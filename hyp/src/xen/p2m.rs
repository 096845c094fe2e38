//! Stage-2 changes for grant mappings (Xen's `guest_physmap_add_entry` with
//! `p2m_grant_map_{rw,ro}` and `guest_physmap_remove_page` on Arm): another domain's frame
//! mapped at a guest frame of the **calling** domain, read-only or read-write, and removed again.
//!
//! TLB maintenance: `flush_guest_all` invalidates the VMID loaded on this pCPU only. That is
//! right here because `GNTMAP_host_map` always changes the caller's own stage 2 (the hypercall
//! runs on one of its vCPUs, so its VMID is the loaded one); the `IS` form reaches the caller's
//! other vCPUs on other pCPUs. Changing another domain's stage 2 would need a VMID switch first.
//!
//! Each domain keeps the set of its guest frames that hold foreign frames
//! ([`super::gnttab::Grants::foreign`]): such a frame is not the domain's own memory, so it may
//! not be granted on or used as a copy frame (Xen: `p2m_is_foreign` -> `GNTST_bad_page`).

use super::XenState;
use crate::domain::Domain;
use crate::mm::TableMemory;
use addr::{Ipa, Pa, PAGE_SIZE};
use stage2::{MemType, Perm};

/// The caller's stage 2 as [`::gnttab::MapperP2m`].
pub struct CallerP2m<'a> {
    /// The calling domain (its VMID is loaded).
    pub dom: &'a Domain,
    /// Its Xen state.
    pub x: &'a XenState,
}

impl ::gnttab::MapperP2m for CallerP2m<'_> {
    fn map_foreign(
        &mut self,
        at: Ipa,
        frame: Pa,
        writable: bool,
    ) -> Result<(), ::gnttab::P2mError> {
        map_foreign(self.dom, self.x, at, frame, writable).map_err(|_| ::gnttab::P2mError)
    }
    fn unmap_foreign(&mut self, at: Ipa, frame: Pa) -> Result<(), ::gnttab::P2mError> {
        unmap_foreign(self.dom, self.x, at, frame).map_err(|_| ::gnttab::P2mError)
    }
}

/// A stage-2 change that could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct P2mFailed;

/// Maps host frame `frame` at page-aligned `at` in `dom` (the calling domain), read-only unless
/// `writable`, replacing whatever was there (as Xen's `p2m_set_entry` does; a Xenith page that
/// was there, e.g. shared_info, is then no longer placed).
pub fn map_foreign(
    dom: &Domain,
    x: &XenState,
    at: Ipa,
    frame: Pa,
    writable: bool,
) -> Result<(), P2mFailed> {
    if !at.is_aligned(PAGE_SIZE) || !frame.is_aligned(PAGE_SIZE) {
        return Err(P2mFailed);
    }
    let gfn = at.0 / PAGE_SIZE;
    let perm = if writable { Perm::RW } else { Perm::RO };
    let mut placed = x.xenheap_gfns.lock();
    let mut s2 = dom.stage2.lock();
    let mut tm = TableMemory;
    let replaced = s2.translate(&tm, at).is_some();
    if replaced {
        s2.unmap(&mut tm, at, PAGE_SIZE).map_err(|_| P2mFailed)?;
        placed.retain(|&(_, g)| g != gfn);
        x.grants.foreign.lock().remove(&gfn);
        // Break-before-make: the old translation leaves the TLBs before the new one is
        // written (a new entry over an invalid one needs no maintenance).
        crate::arch::tlb::flush_guest_all();
    }
    s2.map(&mut tm, at, frame, PAGE_SIZE, MemType::Normal, perm)
        .map_err(|_| P2mFailed)?;
    x.grants.foreign.lock().insert(gfn);
    Ok(())
}

/// Removes the foreign frame `frame` at `at` from `dom` (the calling domain). Nothing mapped
/// there is success; a different frame is an error (Xen: `-EILSEQ` from `p2m_remove_mapping`).
pub fn unmap_foreign(dom: &Domain, x: &XenState, at: Ipa, frame: Pa) -> Result<(), P2mFailed> {
    let gfn = at.0 / PAGE_SIZE;
    let mut s2 = dom.stage2.lock();
    let mut tm = TableMemory;
    match s2.translate(&tm, at) {
        None => {
            x.grants.foreign.lock().remove(&gfn);
            Ok(())
        }
        Some(t) if Pa(t.pa.0 & !(PAGE_SIZE - 1)) == frame => {
            s2.unmap(&mut tm, at, PAGE_SIZE).map_err(|_| P2mFailed)?;
            x.grants.foreign.lock().remove(&gfn);
            crate::arch::tlb::flush_guest_all();
            Ok(())
        }
        Some(_) => Err(P2mFailed),
    }
}

/// The host frame of `dom`'s guest frame `gfn` if it is the domain's own RAM (normal memory,
/// writable when `write`, not a foreign frame it mapped).
pub fn own_frame(dom: &Domain, x: &XenState, gfn: u64, write: bool) -> Option<Pa> {
    let ipa = gfn.checked_mul(PAGE_SIZE)?;
    if x.grants.foreign.lock().contains(&gfn) {
        return None;
    }
    crate::guestmem::ipa_to_pa(dom, Ipa(ipa), write)
}

/// `MEMOP_EXTENT_SHIFT` (memory.h): `memory_op`'s command carries the first extent above it.
const MEMOP_EXTENT_SHIFT: u32 = 6;

/// The frames of a `xen_memory_reservation` for `dom` itself, order 0 (what Linux's balloon
/// driver passes), from the extent the command names: `(extent list, first, end)`.
fn reservation(dom: &Domain, cmd: u64, arg: u64) -> Result<(u64, u64, u64), i64> {
    use xen_abi::memory::xen_memory_reservation;
    use xen_abi::xen::DOMID_SELF;
    let r: xen_memory_reservation =
        crate::guestmem::read(dom, arg).map_err(|_| -i64::from(xen_abi::errno::XEN_EFAULT))?;
    if r.domid != DOMID_SELF && r.domid != dom.id {
        return Err(-i64::from(xen_abi::errno::XEN_ESRCH));
    }
    let first = cmd >> MEMOP_EXTENT_SHIFT;
    if r.extent_order != 0 || first > r.nr_extents {
        // Xen answers a start beyond the list or a too-large order with 0 extents done.
        return Err(0);
    }
    Ok((r.extent_start, first, r.nr_extents))
}

/// Reads the `i`th `xen_pfn_t` of the extent list at `list`.
fn extent(dom: &Domain, list: u64, i: u64) -> Option<u64> {
    let at = i.checked_mul(8).and_then(|o| list.checked_add(o))?;
    crate::guestmem::read::<u64>(dom, at).ok()
}

/// `XENMEM_decrease_reservation` (order 0, the caller's own frames): each frame leaves the
/// caller's stage 2 (Linux then maps grants there: its ballooned pages). The host page stays the
/// domain's, parked in [`super::gnttab::Grants::released`] until `XENMEM_populate_physmap` puts
/// it back at the same frame (as Xen does for a direct-mapped dom0, whose frames keep their
/// machine page). Only plain RAM can be released: not a Xenith page, not a foreign frame.
/// Returns the number of extents done (the first one that cannot be released stops).
pub fn decrease_reservation(
    dom: &Domain,
    x: &XenState,
    a: &mut [u64; 5],
) -> (i64, crate::vcpu::Next) {
    each_extent(dom, a, |gfn| release(dom, x, gfn))
}

/// Runs `f` on each extent's frame of a `xen_memory_reservation`, from the continuation's start,
/// stopping at the first that fails; returns the number of extents done (Xen's convention).
fn each_extent(
    dom: &Domain,
    a: &mut [u64; 5],
    mut f: impl FnMut(u64) -> Result<(), P2mFailed>,
) -> (i64, crate::vcpu::Next) {
    let (cmd, arg) = (a[0], a[1]);
    let (list, first, end) = match reservation(dom, cmd, arg) {
        Ok(r) => r,
        Err(e) => return (e, crate::vcpu::Next::Continue),
    };
    let mut done = first;
    while done < end {
        if done - first == super::hypercall::BATCH {
            // Continue from `done` (the extent index rides above MEMOP_EXTENT_SHIFT in the
            // command, as in Xen); the final return counts every extent done.
            a[0] = (cmd & ((1 << MEMOP_EXTENT_SHIFT) - 1)) | (done << MEMOP_EXTENT_SHIFT);
            return (super::hypercall::RESTART, crate::vcpu::Next::Continue);
        }
        let Some(gfn) = extent(dom, list, done) else {
            break;
        };
        if f(gfn).is_err() {
            break;
        }
        done += 1;
    }
    (done as i64, crate::vcpu::Next::Continue)
}

fn release(dom: &Domain, x: &XenState, gfn: u64) -> Result<(), P2mFailed> {
    let ipa = Ipa(gfn.checked_mul(PAGE_SIZE).ok_or(P2mFailed)?);
    let placed = x.xenheap_gfns.lock();
    if placed.iter().any(|&(_, g)| g == gfn) {
        return Err(P2mFailed);
    }
    let mut s2 = dom.stage2.lock();
    let mut tm = TableMemory;
    let t = s2.translate(&tm, ipa).ok_or(P2mFailed)?;
    if t.ty != MemType::Normal || x.grants.foreign.lock().contains(&gfn) {
        return Err(P2mFailed);
    }
    s2.unmap(&mut tm, ipa, PAGE_SIZE).map_err(|_| P2mFailed)?;
    crate::arch::tlb::flush_guest_all();
    x.grants
        .released
        .lock()
        .insert(gfn, Pa(t.pa.0 & !(PAGE_SIZE - 1)));
    Ok(())
}

/// `XENMEM_populate_physmap` (order 0, the caller's own frames): a frame released by
/// [`decrease_reservation`] gets its page back, read-write, if nothing else is mapped there
/// (Xen for a direct-mapped domain: only pages it still owns). Returns the extents done.
pub fn populate_physmap(dom: &Domain, x: &XenState, a: &mut [u64; 5]) -> (i64, crate::vcpu::Next) {
    each_extent(dom, a, |gfn| repopulate(dom, x, gfn))
}

fn repopulate(dom: &Domain, x: &XenState, gfn: u64) -> Result<(), P2mFailed> {
    let ipa = Ipa(gfn.checked_mul(PAGE_SIZE).ok_or(P2mFailed)?);
    let mut s2 = dom.stage2.lock();
    let mut tm = TableMemory;
    if s2.translate(&tm, ipa).is_some() {
        return Err(P2mFailed);
    }
    let mut released = x.grants.released.lock();
    let pa = *released.get(&gfn).ok_or(P2mFailed)?;
    s2.map(&mut tm, ipa, pa, PAGE_SIZE, MemType::Normal, Perm::RWX)
        .map_err(|_| P2mFailed)?;
    released.remove(&gfn);
    Ok(())
}
