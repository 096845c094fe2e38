//! `grant_table_op`, version 1: the grant-table frames a guest maps into its own space (through
//! `memory_op(XENMEM_add_to_physmap, XENMAPSPACE_grant_table)`), their size, the version, and
//! mapping, unmapping and copying grants. The rules are the `gnttab` crate's; this shim copies the
//! guest's arrays, finds the domains, gives the crate atomic access to the shared
//! `grant_entry_v1` array ([`Entries`]) and the caller's stage 2 ([`super::p2m`]), and writes
//! the results back as Xen does (whole struct for map, `status` only for unmap and copy).
//!
//! Locks, always in this order: the mapper's maptrack, the granter's active table, the
//! granter's `gnttab` (frames), then briefly a stage 2 with `xenheap_gfns` and the `foreign`
//! set. A copy holds one granter's locks at a time.

use super::hypercall::{Outcome, BATCH, RESTART};
use super::{Gnttab, XenState, GNTTAB_MAX_FRAMES};
use crate::domain::{Domain, Vcpu};
use crate::guestmem;
use crate::vcpu::Next;
use addr::{Ipa, Pa, PAGE_SIZE};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering};
use spin::{Mutex, MutexGuard};
use xen_abi::errno::*;
use xen_abi::grant_table::*;
use xen_abi::xen::DOMID_SELF;

/// Handles one domain may hold at once (Xen: `max_maptrack_frames` 1024 pages of handles; Linux
/// dom0 backends map at most a few thousand grants).
pub const MAPTRACK_LIMIT: u32 = 1 << 16;

/// A domain's grant state beyond its frames: pins of its grants, its mappings of others'.
pub struct Grants {
    /// As a granter: the pinned entries.
    pub active: Mutex<::gnttab::ActiveTable>,
    /// As a mapper: the live mappings by handle.
    pub maptrack: Mutex<::gnttab::Maptrack>,
    /// Guest frames of this domain that hold another domain's frame (grant mappings).
    pub foreign: Mutex<BTreeSet<u64>>,
    /// Guest frames given back by `XENMEM_decrease_reservation` (Linux's ballooned pages, where
    /// it maps grants) and the host page each keeps for `XENMEM_populate_physmap`.
    pub released: Mutex<BTreeMap<u64, Pa>>,
    /// As a mapper: the granter of each live mapping, by handle. Holding it keeps the granter's
    /// frames alive while they are mapped here, even once it is destroyed (Xen's page
    /// references), and finds it again for the unmap.
    pub granters: Mutex<BTreeMap<u32, Arc<Domain>>>,
}

impl Grants {
    /// Nothing pinned, nothing mapped.
    pub const fn new() -> Self {
        Self {
            active: Mutex::new(::gnttab::ActiveTable::new()),
            maptrack: Mutex::new(::gnttab::Maptrack::new(MAPTRACK_LIMIT)),
            foreign: Mutex::new(BTreeSet::new()),
            released: Mutex::new(BTreeMap::new()),
            granters: Mutex::new(BTreeMap::new()),
        }
    }
}

/// The granter's `grant_entry_v1` array (in Xenith frames it shares with the guest, which
/// writes them concurrently: every access is one atomic access) and its stage 2.
pub struct Entries<'a> {
    frames: MutexGuard<'a, Gnttab>,
    dom: &'a Domain,
    x: &'a XenState,
}

impl<'a> Entries<'a> {
    /// Locks `dom`'s grant frames (allocating frame 0 if the guest has not asked for it yet:
    /// Xen's table starts with `INITIAL_NR_GRANT_FRAMES` = 1).
    pub fn lock(dom: &'a Domain, x: &'a XenState) -> Self {
        let _ = frame(x, 0);
        Self {
            frames: x.gnttab.lock(),
            dom,
            x,
        }
    }

    /// Host address of entry `r`.
    fn entry(&self, r: ::gnttab::GrantRef) -> Option<u64> {
        let per = ::gnttab::ENTRIES_PER_FRAME;
        let f = self.frames.frames.get((r.0 / per) as usize)?;
        Some(f.0 + u64::from(r.0 % per) * ::gnttab::GRANT_ENTRY_V1_SIZE)
    }

    fn word(&self, r: ::gnttab::GrantRef, off: u64) -> Option<&AtomicU32> {
        let pa = self.entry(r)? + off;
        // SAFETY: `pa` is 4-aligned inside a grant-table frame of this domain (a Xenith
        // frame, identity-mapped, never freed while the domain lives, which `self` borrows).
        // The guest writes it concurrently, which is what the atomic type is for.
        Some(unsafe { &*(pa as *const AtomicU32) })
    }
}

impl ::gnttab::GranterMem for Entries<'_> {
    fn nr_entries(&self) -> u32 {
        (self.frames.frames.len() as u32).saturating_mul(::gnttab::ENTRIES_PER_FRAME)
    }
    fn header(&self, r: ::gnttab::GrantRef) -> u32 {
        self.word(r, 0).map_or(0, |w| w.load(Ordering::Acquire))
    }
    fn cmpxchg_header(&mut self, r: ::gnttab::GrantRef, old: u32, new: u32) -> u32 {
        match self.word(r, 0) {
            Some(w) => match w.compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(v) | Err(v) => v,
            },
            None => !old,
        }
    }
    fn clear_flags(&mut self, r: ::gnttab::GrantRef, mask: u16) {
        if let Some(w) = self.word(r, 0) {
            w.fetch_and(!u32::from(mask), Ordering::AcqRel);
        }
    }
    fn frame(&self, r: ::gnttab::GrantRef) -> u32 {
        self.word(r, 4)
            .map_or(u32::MAX, |w| w.load(Ordering::Acquire))
    }
    fn gfn_to_frame(&self, gfn: u64, write: bool) -> Option<Pa> {
        super::p2m::own_frame(self.dom, self.x, gfn, write)
    }
}

fn err(e: u32) -> Outcome {
    (-(i64::from(e)), Next::Continue)
}

/// Grant-table frame `idx` of the domain, allocated (zeroed) on first use.
pub fn frame(x: &XenState, idx: u64) -> Option<Pa> {
    let idx = usize::try_from(idx)
        .ok()
        .filter(|&i| i < GNTTAB_MAX_FRAMES)?;
    let mut g = x.gnttab.lock();
    while g.frames.len() <= idx {
        let f = crate::mm::alloc_frames(1, 1)?;
        g.frames.push(f);
    }
    g.frames.get(idx).copied()
}

/// Low bits of `cmd` that are the command; the rest is a continuation argument that only
/// GNTTABOP_cache_flush may carry (Xen's common/grant_table.c).
const GNTTABOP_CMD_MASK: u32 = (1 << 12) - 1;

/// `grant_table_op(cmd, uop, count)`.
pub fn grant_table_op(dom: &Domain, _v: &Vcpu, a: &mut [u64; 5]) -> Outcome {
    let (cmd, uop, count) = (a[0] as u32, a[1], a[2] as u32);
    let Some(x) = dom.xen.as_ref() else {
        return err(XEN_ENOSYS);
    };
    if (count as i32) < 0 {
        return err(XEN_EINVAL);
    }
    let opaque = cmd & !GNTTABOP_CMD_MASK;
    let cmd = cmd & GNTTABOP_CMD_MASK;
    if cmd != GNTTABOP_cache_flush && opaque != 0 {
        return err(XEN_EINVAL);
    }
    match cmd {
        GNTTABOP_query_size => {
            if count != 1 {
                return err(XEN_EINVAL);
            }
            let Ok(mut q) = guestmem::read::<gnttab_query_size>(dom, uop) else {
                return err(XEN_EFAULT);
            };
            if q.dom != DOMID_SELF && q.dom != dom.id {
                q.status = GNTST_bad_domain;
            } else {
                q.nr_frames = x.gnttab.lock().frames.len().max(1) as u32;
                q.max_nr_frames = GNTTAB_MAX_FRAMES as u32;
                q.status = GNTST_okay;
            }
            match guestmem::write(dom, uop, &q) {
                Ok(()) => (0, Next::Continue),
                Err(_) => err(XEN_EFAULT),
            }
        }
        GNTTABOP_set_version => {
            let Ok(mut s) = guestmem::read::<gnttab_set_version>(dom, uop) else {
                return err(XEN_EFAULT);
            };
            // Version 2 is disabled on Arm (max_version 1): -ENOSYS, "as before set_version
            // was introduced"; anything but 1 and 2 is -EINVAL.
            let r = match s.version {
                1 => 0,
                2 => -(i64::from(XEN_ENOSYS)),
                _ => -(i64::from(XEN_EINVAL)),
            };
            s.version = x.gnttab.lock().version;
            match guestmem::write(dom, uop, &s) {
                Ok(()) => (r, Next::Continue),
                Err(_) => err(XEN_EFAULT),
            }
        }
        GNTTABOP_get_version => {
            let Ok(mut g) = guestmem::read::<gnttab_get_version>(dom, uop) else {
                return err(XEN_EFAULT);
            };
            if g.dom != DOMID_SELF && g.dom != dom.id {
                return err(XEN_EPERM);
            }
            g.version = x.gnttab.lock().version;
            match guestmem::write(dom, uop, &g) {
                Ok(()) => (0, Next::Continue),
                Err(_) => err(XEN_EFAULT),
            }
        }
        GNTTABOP_get_status_frames => {
            // Status frames exist only with grant tables v2, which Xenith (like Xen on Arm)
            // does not offer: asking for any is GNTST_general_error, for none GNTST_okay.
            if count != 1 {
                return err(XEN_EINVAL);
            }
            let Ok(mut s) = guestmem::read::<gnttab_get_status_frames>(dom, uop) else {
                return err(XEN_EFAULT);
            };
            s.status = if s.dom != DOMID_SELF && s.dom != dom.id {
                GNTST_bad_domain
            } else if s.nr_frames > 0 {
                GNTST_general_error
            } else {
                GNTST_okay
            };
            match guestmem::write(dom, uop, &s) {
                Ok(()) => (0, Next::Continue),
                Err(_) => err(XEN_EFAULT),
            }
        }
        GNTTABOP_map_grant_ref => each::<gnttab_map_grant_ref>(dom, a, |op| {
            map_one(dom, x, op);
            Writeback::Whole
        }),
        GNTTABOP_unmap_grant_ref => each::<gnttab_unmap_grant_ref>(dom, a, |op| {
            op.status = unmap_one(dom, x, op.handle, op.host_addr, 0);
            Writeback::Status(UNMAP_STATUS_OFFSET)
        }),
        GNTTABOP_unmap_and_replace => each::<gnttab_unmap_and_replace>(dom, a, |op| {
            op.status = unmap_one(dom, x, op.handle, op.host_addr, op.new_addr);
            Writeback::Status(UNMAP_AND_REPLACE_STATUS_OFFSET)
        }),
        GNTTABOP_copy => each::<gnttab_copy>(dom, a, |op| {
            op.status = copy_one(dom, x, op);
            Writeback::Status(COPY_STATUS_OFFSET)
        }),
        _ => err(XEN_ENOSYS),
    }
}

/// What goes back to the guest after one element of an array operation.
enum Writeback {
    /// The whole structure (`__copy_to_guest_offset`).
    Whole,
    /// Only the `int16_t status` at this offset (`__copy_field_to_guest(uop, &op, status)`).
    Status(u64),
}

/// Offset of `status` in `gnttab_unmap_grant_ref`.
const UNMAP_STATUS_OFFSET: u64 = core::mem::offset_of!(gnttab_unmap_grant_ref, status) as u64;
/// Offset of `status` in `gnttab_unmap_and_replace`.
const UNMAP_AND_REPLACE_STATUS_OFFSET: u64 =
    core::mem::offset_of!(gnttab_unmap_and_replace, status) as u64;
/// Offset of `status` in `gnttab_copy`.
const COPY_STATUS_OFFSET: u64 = core::mem::offset_of!(gnttab_copy, status) as u64;

/// Runs `f` on each of the `count` (`a[2]`) structures at guest address `uop` (`a[1]`), writing
/// each back; -EFAULT stops the batch where the guest's array does not read or write. After
/// [`BATCH`] elements the call continues itself with the rest (Xen's continuation).
fn each<T>(dom: &Domain, a: &mut [u64; 5], mut f: impl FnMut(&mut T) -> Writeback) -> Outcome
where
    T: zerocopy::FromBytes + zerocopy::IntoBytes + zerocopy::Immutable + StatusField,
{
    let (uop, count) = (a[1], u64::from(a[2] as u32));
    let size = core::mem::size_of::<T>() as u64;
    for i in 0..count.min(BATCH) {
        let Some(at) = i.checked_mul(size).and_then(|o| uop.checked_add(o)) else {
            return err(XEN_EFAULT);
        };
        let Ok(mut op) = guestmem::read::<T>(dom, at) else {
            return err(XEN_EFAULT);
        };
        let wrote = match f(&mut op) {
            Writeback::Whole => guestmem::write(dom, at, &op),
            Writeback::Status(off) => match at.checked_add(off) {
                Some(sa) => guestmem::write(dom, sa, &op.status()),
                None => Err(guestmem::Fault),
            },
        };
        if wrote.is_err() {
            return err(XEN_EFAULT);
        }
    }
    if count > BATCH {
        a[1] = uop.wrapping_add(BATCH * size);
        a[2] = count - BATCH;
        return (RESTART, Next::Continue);
    }
    (0, Next::Continue)
}

/// The `status` of an operation structure.
trait StatusField {
    fn status(&self) -> i16;
}
impl StatusField for gnttab_map_grant_ref {
    fn status(&self) -> i16 {
        self.status
    }
}
impl StatusField for gnttab_unmap_grant_ref {
    fn status(&self) -> i16 {
        self.status
    }
}
impl StatusField for gnttab_unmap_and_replace {
    fn status(&self) -> i16 {
        self.status
    }
}
impl StatusField for gnttab_copy {
    fn status(&self) -> i16 {
        self.status
    }
}

/// `map_grant_ref` for one request of `dom`.
fn map_one(dom: &Domain, x: &XenState, op: &mut gnttab_map_grant_ref) {
    let r = (|| -> Result<::gnttab::Mapped, ::gnttab::Error> {
        ::gnttab::check_map_flags(op.flags)?;
        let gd = crate::domain::get(op.dom).ok_or(::gnttab::Error::BadDomain)?;
        let gx = gd.xen.as_ref().ok_or(::gnttab::Error::BadDomain)?;
        let req = ::gnttab::MapRequest {
            flags: op.flags,
            gref: ::gnttab::GrantRef(op.r#ref),
            host_addr: Ipa(op.host_addr),
        };
        let mut mt = x.grants.maptrack.lock();
        let m = {
            let mut act = gx.grants.active.lock();
            let mut ent = Entries::lock(&gd, gx);
            ::gnttab::map(
                &mut mt,
                ::gnttab::DomId(dom.id),
                ::gnttab::DomId(op.dom),
                &mut act,
                &mut ent,
                &req,
                &mut super::p2m::CallerP2m { dom, x },
            )?
        };
        x.grants.granters.lock().insert(m.handle.0, gd.clone());
        Ok(m)
    })();
    match r {
        Ok(m) => {
            op.status = GNTST_okay;
            op.handle = m.handle.0;
            op.dev_bus_addr = m.frame.0;
        }
        Err(e) => op.status = e.gntst(),
    }
}

/// `unmap_common` + `unmap_common_complete` for one request of `dom`; returns the status.
fn unmap_one(dom: &Domain, x: &XenState, handle: u32, host_addr: u64, new_addr: u64) -> i16 {
    let handle = ::gnttab::Handle(handle);
    let mut mt = x.grants.maptrack.lock();
    let mut gone = None;
    let r = (|| -> Result<(), ::gnttab::Error> {
        ::gnttab::granter_of(&mt, handle)?;
        // The mapping holds its granter, destroyed or not.
        let gd = x
            .grants
            .granters
            .lock()
            .get(&handle.0)
            .cloned()
            .ok_or(::gnttab::Error::GeneralError)?;
        {
            let gx = gd.xen.as_ref().ok_or(::gnttab::Error::GeneralError)?;
            let mut act = gx.grants.active.lock();
            let mut ent = Entries::lock(&gd, gx);
            ::gnttab::unmap(
                &mut mt,
                &mut act,
                &mut ent,
                &::gnttab::UnmapRequest {
                    handle,
                    host_addr,
                    new_addr,
                },
                &mut super::p2m::CallerP2m { dom, x },
            )?;
        }
        if mt.get(handle).is_none() {
            gone = x.grants.granters.lock().remove(&handle.0);
        }
        drop(gd);
        Ok(())
    })();
    drop(mt);
    // Dropped after the locks: a destroyed granter may be freed here.
    drop(gone);
    ::gnttab::status(&r)
}

/// Unmaps every grant `dom` (dying, on no pCPU) still maps (Xen's `gnttab_release_mappings`),
/// so the granters' pins drop and nothing keeps them alive for it.
pub fn release_mappings(dom: &Domain, x: &XenState) {
    let live: alloc::vec::Vec<(u32, u64)> = x
        .grants
        .maptrack
        .lock()
        .iter()
        .map(|(h, m)| (h.0, m.host_addr.0))
        .collect();
    for (h, at) in live {
        unmap_one(dom, x, h, at, 0);
    }
    x.grants.granters.lock().clear();
}

/// The hypervisor side of a grant copy for the calling domain.
struct CopyEnv<'a> {
    dom: &'a Domain,
    x: &'a XenState,
}

impl ::gnttab::CopyEnv for CopyEnv<'_> {
    fn exists(&self, d: ::gnttab::DomId) -> bool {
        crate::domain::get(d.0).is_some_and(|d| d.xen.is_some())
    }
    fn with_granter<R>(
        &mut self,
        d: ::gnttab::DomId,
        f: impl FnOnce(&mut ::gnttab::ActiveTable, &mut dyn ::gnttab::GranterMem) -> R,
    ) -> Option<R> {
        let gd = crate::domain::get(d.0)?;
        let gx = gd.xen.as_ref()?;
        let mut act = gx.grants.active.lock();
        let mut ent = Entries::lock(&gd, gx);
        Some(f(&mut act, &mut ent))
    }
    fn own_frame(&mut self, gmfn: u64, write: bool) -> Option<Pa> {
        super::p2m::own_frame(self.dom, self.x, gmfn, write)
    }
    fn copy_bytes(&mut self, dst: Pa, src: Pa, len: usize) {
        debug_assert!(dst.page_offset() + len as u64 <= PAGE_SIZE);
        // SAFETY: `src` and `dst` are inside one page each (checked by `gnttab::copy`), each a
        // frame pinned for this copy or RAM of the caller, identity-mapped at EL2 and never
        // freed while its domain lives. They may be the same page (`copy` allows overlap).
        // Guests may write the bytes concurrently; they are copied as plain bytes.
        unsafe { core::ptr::copy(src.0 as *const u8, dst.0 as *mut u8, len) };
    }
}

/// `gnttab_copy_one` for one request of `dom`; returns the status.
fn copy_one(dom: &Domain, x: &XenState, op: &gnttab_copy) -> i16 {
    let p = |c: &gnttab_copy_ptr| ::gnttab::CopyPtr {
        u: c.u,
        domid: c.domid,
        offset: c.offset,
    };
    let req = ::gnttab::CopyOp {
        source: p(&op.source),
        dest: p(&op.dest),
        len: op.len,
        flags: op.flags,
    };
    let r = ::gnttab::copy(&mut CopyEnv { dom, x }, ::gnttab::DomId(dom.id), &req);
    ::gnttab::status(&r)
}
