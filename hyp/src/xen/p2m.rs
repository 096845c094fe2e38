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
use alloc::sync::Arc;
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
    let mut old = None;
    if replaced {
        s2.unmap(&mut tm, at, PAGE_SIZE).map_err(|_| P2mFailed)?;
        placed.retain(|&(_, g)| g != gfn);
        x.grants.foreign.lock().remove(&gfn);
        // Break-before-make: the old translation leaves the TLBs before the new one is
        // written (a new entry over an invalid one needs no maintenance).
        super::flush_tlb(dom);
        old = forget_foreign(x, gfn);
    }
    s2.map(&mut tm, at, frame, PAGE_SIZE, MemType::Normal, perm)
        .map_err(|_| P2mFailed)?;
    x.grants.foreign.lock().insert(gfn);
    drop(s2);
    drop(placed);
    drop(old);
    Ok(())
}

/// Forgets the XENMAPSPACE_gmfn_foreign mapping at `gfn` of the domain with state `x` (its
/// stage-2 entry is already gone from every TLB): the owner's frame is unpinned, and the owner
/// is returned so the caller drops it, after its own locks (a destroyed owner is freed then).
pub fn forget_foreign(x: &XenState, gfn: u64) -> Option<Arc<Domain>> {
    let (owner, pa) = x.foreign_maps.lock().remove(&gfn)?;
    if let Some(ox) = owner.xen.as_ref() {
        let mut pins = ox.foreign_pins.lock();
        if let Some(n) = pins.get_mut(&pa.0) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                pins.remove(&pa.0);
            }
        }
    }
    Some(owner)
}

/// Why a XENMAPSPACE_gmfn_foreign entry failed (its `errs` value).
fn foreign_err(e: u32) -> i64 {
    -i64::from(e)
}

/// `xenmem_add_to_physmap_one(XENMAPSPACE_gmfn_foreign)` on Arm: maps frame `idx` of domain
/// `foreign_domid` at `gfn` of `dom` (the caller), as Xen 4.17 checks it: the owner must exist
/// and not be named by the caller's own id (-ESRCH), not be DOMID_SELF (-EINVAL), the mapping domain must be privileged over it (dom0;
/// -EPERM) and the frame must be the owner's RAM (not MMIO, not a frame it maps from elsewhere;
/// -EINVAL). The mapping keeps the owner alive and pins its frame. Returns 0 or -errno.
pub fn map_gmfn_foreign(dom: &Domain, x: &XenState, foreign_domid: u16, idx: u64, gfn: u64) -> i64 {
    use xen_abi::errno::{XEN_EINVAL, XEN_EPERM, XEN_ESRCH};
    // Xen's get_pg_owner: DOMID_SELF is the caller (then -EINVAL below), its own id is refused.
    let od = if foreign_domid == xen_abi::xen::DOMID_SELF {
        crate::domain::get(dom.id)
    } else if foreign_domid == dom.id {
        None
    } else {
        crate::domain::get(foreign_domid)
    };
    let Some(od) = od else {
        return foreign_err(XEN_ESRCH);
    };
    if od.id == dom.id {
        return foreign_err(XEN_EINVAL);
    }
    if dom.id != 0 {
        return foreign_err(XEN_EPERM);
    }
    let Some(ox) = od.xen.as_ref() else {
        return foreign_err(XEN_EINVAL);
    };
    let Some(at) = gfn
        .checked_mul(PAGE_SIZE)
        .filter(|&a| a < (1u64 << stage2::IPA_BITS))
    else {
        return foreign_err(XEN_EINVAL);
    };
    // The owner's frame, pinned under its stage-2 lock so that it cannot be given back meanwhile.
    let (frame, writable) = {
        let Some(ipa) = idx.checked_mul(PAGE_SIZE) else {
            return foreign_err(XEN_EINVAL);
        };
        if ox.grants.foreign.lock().contains(&idx) {
            return foreign_err(XEN_EINVAL);
        }
        let os2 = od.stage2.lock();
        let Some(t) = os2.translate(&TableMemory, Ipa(ipa)) else {
            return foreign_err(XEN_EINVAL);
        };
        if t.ty != MemType::Normal || !t.perm.read {
            return foreign_err(XEN_EINVAL);
        }
        let frame = Pa(t.pa.0 & !(PAGE_SIZE - 1));
        *ox.foreign_pins.lock().entry(frame.0).or_insert(0) += 1;
        (frame, t.perm.write)
    };
    if map_foreign(dom, x, Ipa(at), frame, writable).is_err() {
        let mut pins = ox.foreign_pins.lock();
        if let Some(n) = pins.get_mut(&frame.0) {
            *n -= 1;
            if *n == 0 {
                pins.remove(&frame.0);
            }
        }
        return foreign_err(XEN_EINVAL);
    }
    x.foreign_maps.lock().insert(gfn, (od.clone(), frame));
    0
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
            super::flush_tlb(dom);
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
/// Largest extent order the control domain may ask for (Xen: `CONFIG_CTLDOM_MAX_ORDER` =
/// `MAX_ORDER`, 18 on arm64: 1 GiB).
const CTLDOM_MAX_ORDER: u32 = 18;
/// Largest extent order any other domain may ask for (Arm's `CONFIG_DOMU_MAX_ORDER`).
const DOMU_MAX_ORDER: u32 = 9;

/// A `xen_memory_reservation` read and checked as Xen's `do_memory_op` does.
struct Reservation {
    /// The extent list (guest virtual address of `xen_pfn_t`s).
    list: u64,
    /// The continuation's first extent.
    first: u64,
    /// `nr_extents`.
    end: u64,
    /// `extent_order`.
    order: u32,
    /// The target domain (`domid`, DOMID_SELF resolved).
    target: Arc<Domain>,
}

/// Reads the reservation at `arg`. `Err(v)` is the hypercall's answer: as Xen, a missing or
/// forbidden target, a start beyond the list or a too-large order are "`first` extents done"
/// (Xenith answers a bad pointer with -EFAULT).
fn reservation(dom: &Domain, cmd: u64, arg: u64) -> Result<Reservation, i64> {
    use xen_abi::memory::xen_memory_reservation;
    use xen_abi::xen::DOMID_SELF;
    let r: xen_memory_reservation =
        crate::guestmem::read(dom, arg).map_err(|_| -i64::from(xen_abi::errno::XEN_EFAULT))?;
    let first = cmd >> MEMOP_EXTENT_SHIFT;
    let done = first as i64;
    if r.nr_extents > u64::from(u32::MAX >> MEMOP_EXTENT_SHIFT) || first >= r.nr_extents {
        return Err(done);
    }
    let id = if r.domid == DOMID_SELF {
        dom.id
    } else {
        r.domid
    };
    let target = crate::domain::get(id).ok_or(done)?;
    // Xen's XSM_TARGET: the domain itself or the control domain.
    if target.id != dom.id && dom.id != 0 {
        return Err(done);
    }
    let max = if dom.id == 0 {
        CTLDOM_MAX_ORDER
    } else {
        DOMU_MAX_ORDER
    };
    // A direct-mapped domain (dom0) only gives back and takes back single frames.
    if r.extent_order > max || (target.is_direct_mapped() && r.extent_order != 0) {
        return Err(done);
    }
    Ok(Reservation {
        list: r.extent_start,
        first,
        end: r.nr_extents,
        order: r.extent_order,
        target,
    })
}

/// Reads the `i`th `xen_pfn_t` of the extent list at `list`.
fn extent(dom: &Domain, list: u64, i: u64) -> Option<u64> {
    let at = i.checked_mul(8).and_then(|o| list.checked_add(o))?;
    crate::guestmem::read::<u64>(dom, at).ok()
}

/// `XENMEM_decrease_reservation`. For a direct-mapped domain (dom0, order 0, its own frames)
/// each frame leaves its stage 2 (Linux then maps grants there: its ballooned pages); the host
/// page stays the domain's, parked in [`super::gnttab::Grants::released`] until
/// `XENMEM_populate_physmap` puts it back at the same frame (as Xen does for a direct-mapped
/// dom0, whose frames keep their machine page). Only plain RAM can be released: not a Xenith
/// page, not a foreign frame. For any other domain (its own call, or the control domain's)
/// the frames are unmapped and freed (Xen's `guest_remove_page`). Returns the number of extents
/// done (the first one that cannot be released stops).
pub fn decrease_reservation(
    dom: &Domain,
    x: &XenState,
    a: &mut [u64; 5],
) -> (i64, crate::vcpu::Next) {
    each_extent(dom, a, |r, gfn| {
        if r.target.is_direct_mapped() {
            if r.target.id != dom.id {
                return Err(P2mFailed);
            }
            release(dom, x, gfn)
        } else {
            remove_extent(&r.target, gfn, r.order)
        }
    })
}

/// Runs `f` on each extent's first frame of a `xen_memory_reservation`, from the
/// continuation's start, stopping at the first that fails; returns the number of extents done
/// (Xen's convention).
fn each_extent(
    dom: &Domain,
    a: &mut [u64; 5],
    mut f: impl FnMut(&Reservation, u64) -> Result<(), P2mFailed>,
) -> (i64, crate::vcpu::Next) {
    let (cmd, arg) = (a[0], a[1]);
    let r = match reservation(dom, cmd, arg) {
        Ok(r) => r,
        Err(e) => return (e, crate::vcpu::Next::Continue),
    };
    // Large extents are work too: fewer of them per call.
    let batch = (super::hypercall::BATCH >> r.order.min(6)).max(1);
    let mut done = r.first;
    while done < r.end {
        if done - r.first == batch {
            // Continue from `done` (the extent index rides above MEMOP_EXTENT_SHIFT in the
            // command, as in Xen); the final return counts every extent done.
            a[0] = (cmd & ((1 << MEMOP_EXTENT_SHIFT) - 1)) | (done << MEMOP_EXTENT_SHIFT);
            return (super::hypercall::RESTART, crate::vcpu::Next::Continue);
        }
        let Some(gfn) = extent(dom, r.list, done) else {
            break;
        };
        if f(&r, gfn).is_err() {
            break;
        }
        done += 1;
    }
    (done as i64, crate::vcpu::Next::Continue)
}

/// The guest-physical range of an extent: `(start, bytes)`, inside the 40-bit IPA space.
fn extent_range(gfn: u64, order: u32) -> Result<(Ipa, u64), P2mFailed> {
    let bytes = PAGE_SIZE << order;
    let start = gfn.checked_mul(PAGE_SIZE).ok_or(P2mFailed)?;
    let end = start.checked_add(bytes).ok_or(P2mFailed)?;
    if end > 1u64 << stage2::IPA_BITS {
        return Err(P2mFailed);
    }
    Ok((Ipa(start), bytes))
}

/// Populates one extent of `order` at `gfn` of the non-direct-mapped domain `t` with fresh
/// zeroed frames (Xen's `alloc_domheap_pages` + `guest_physmap_add_page`): within its
/// `max_pages` (Xen's `assign_pages` check), not while it is dying, only where nothing is mapped
/// yet. An extent is backed by the largest aligned runs the allocator has (a 2 MiB run is
/// mapped as a block), down to single frames.
fn populate_extent(t: &Domain, gfn: u64, order: u32) -> Result<(), P2mFailed> {
    let (start, bytes) = extent_range(gfn, order)?;
    let pages = bytes / PAGE_SIZE;
    if t.dying.load(core::sync::atomic::Ordering::Acquire) {
        return Err(P2mFailed);
    }
    // Lock order: the stage 2, then the memory accounting (as `remove_extent`).
    let mut s2 = t.stage2.lock();
    let mut mem = t.mem.lock();
    if mem.tot_pages().saturating_add(pages) > mem.max_pages {
        return Err(P2mFailed);
    }
    // Runs of frames: the whole extent if it is small, else 2 MiB runs, else single frames.
    let mut runs: alloc::vec::Vec<(Pa, u64)> = alloc::vec::Vec::new();
    let free_runs = |runs: &mut alloc::vec::Vec<(Pa, u64)>| {
        for (pa, n) in runs.drain(..) {
            crate::mm::free_frames(pa, n as usize);
        }
    };
    let mut left = pages;
    while left > 0 {
        let want = if left >= 512 && pages.is_multiple_of(512) {
            512
        } else {
            left.min(pages)
        };
        let got = if want > 1 {
            let align = if want.is_power_of_two() { want } else { 1 };
            crate::mm::alloc_frames(want as usize, align as usize).map(|p| (p, want))
        } else {
            None
        }
        .or_else(|| crate::mm::alloc_frames(1, 1).map(|p| (p, 1)));
        let Some(run) = got else {
            free_runs(&mut runs);
            return Err(P2mFailed);
        };
        left -= run.1;
        runs.push(run);
    }
    let mut tm = TableMemory;
    let mut at = start;
    for &(pa, n) in &runs {
        if s2
            .map(&mut tm, at, pa, n * PAGE_SIZE, MemType::Normal, Perm::RWX)
            .is_err()
        {
            // Undo: nothing was mapped in the range before (map checks), so clear it.
            let _ = s2.unmap(&mut tm, start, at.0 - start.0);
            super::flush_tlb(t);
            free_runs(&mut runs);
            return Err(P2mFailed);
        }
        at = Ipa(at.0 + n * PAGE_SIZE);
    }
    for &(pa, n) in &runs {
        mem.add(pa, n as usize);
    }
    Ok(())
}

/// Removes one extent of `order` at `gfn` from the non-direct-mapped domain `t` and frees its
/// frames (Xen's `guest_remove_page` for each page). Every page must be the domain's own RAM:
/// not a Xenith page, not a foreign or grant mapping, not pinned by another domain's foreign
/// mapping or an active grant (Xen keeps such a page alive by its reference count; Xenith
/// refuses to give it back, which the caller sees as the extent not done).
fn remove_extent(t: &Domain, gfn: u64, order: u32) -> Result<(), P2mFailed> {
    let (start, bytes) = extent_range(gfn, order)?;
    let tx = t.xen.as_ref().ok_or(P2mFailed)?;
    // Lock order as in the grant code: the active table before the stage 2.
    let act = tx.grants.active.lock();
    let placed = tx.xenheap_gfns.lock();
    let mut s2 = t.stage2.lock();
    let mut tm = TableMemory;
    let mut frames: alloc::vec::Vec<Pa> = alloc::vec::Vec::new();
    {
        let mem = t.mem.lock();
        let foreign = tx.grants.foreign.lock();
        let pins = tx.foreign_pins.lock();
        for i in 0..bytes / PAGE_SIZE {
            let g = gfn + i;
            let tr = s2
                .translate(&tm, Ipa(start.0 + i * PAGE_SIZE))
                .ok_or(P2mFailed)?;
            let pa = Pa(tr.pa.0 & !(PAGE_SIZE - 1));
            if tr.ty != MemType::Normal
                || foreign.contains(&g)
                || placed.iter().any(|&(_, pg)| pg == g)
                || !mem.owns(pa)
                || pins.contains_key(&pa.0)
                || act.iter().any(|(_, a)| a.frame == pa)
            {
                return Err(P2mFailed);
            }
            frames.push(pa);
        }
    }
    s2.unmap(&mut tm, start, bytes).map_err(|_| P2mFailed)?;
    drop(s2);
    super::flush_tlb(t);
    let mut mem = t.mem.lock();
    for pa in frames {
        if mem.take_page(pa) {
            crate::mm::free_frames(pa, 1);
        }
    }
    Ok(())
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
    super::flush_tlb(dom);
    x.grants
        .released
        .lock()
        .insert(gfn, Pa(t.pa.0 & !(PAGE_SIZE - 1)));
    Ok(())
}

/// `XENMEM_populate_physmap`. For a direct-mapped domain (dom0's own call, order 0) a frame
/// released by [`decrease_reservation`] gets its page back, read-write, if nothing else is
/// mapped there (Xen for a direct-mapped domain: only pages it still owns). Any other domain
/// (its own call, or the control domain building it) gets fresh frames. Returns the extents
/// done.
pub fn populate_physmap(dom: &Domain, x: &XenState, a: &mut [u64; 5]) -> (i64, crate::vcpu::Next) {
    each_extent(dom, a, |r, gfn| {
        if r.target.is_direct_mapped() {
            if r.target.id != dom.id {
                return Err(P2mFailed);
            }
            repopulate(dom, x, gfn)
        } else {
            populate_extent(&r.target, gfn, r.order)
        }
    })
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
