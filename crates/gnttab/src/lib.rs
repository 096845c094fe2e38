//! Xen grant tables, version 1, as pure logic: the rules of `GNTTABOP_map_grant_ref`,
//! `GNTTABOP_unmap_grant_ref` (and `unmap_and_replace`) and `GNTTABOP_copy` of Xen 4.17
//! (`xen/common/grant_table.c`: `map_grant_ref`, `unmap_common`, `unmap_common_complete`,
//! `acquire_grant_for_copy`, `release_grant_for_copy`, `gnttab_copy_*`, `_set_status_v1`,
//! `reduce_status_for_pin`) with the Arm specifics of `xen/arch/arm/mm.c`
//! (`create_grant_host_mapping`, `replace_grant_host_mapping`) and
//! `xen/arch/arm/include/asm/paging.h` (every Arm domain is `paging_mode_external`, so
//! `GNTMAP_device_map`, `GNTMAP_application_map` and `GNTMAP_contains_pte` are refused), over
//! the ABI of `xen/include/public/grant_table.h`.
//!
//! State kept here, per domain:
//! - as a **granter**, an [`ActiveTable`]: for each pinned grant reference the mapping domain,
//!   the host frame, and the pin counts (read-only and read-write, host mappings and transient
//!   copy pins alike, as Xen's `GNTPIN_hst{r,w}`);
//! - as a **mapper**, a [`Maptrack`]: one entry per live mapping, named by a grant handle.
//!
//! The granter's `grant_entry_v1` array lives in guest-shared frames that the guest changes
//! concurrently; this crate reaches it only through [`GranterMem`], which the hypervisor
//! implements with atomic accesses (a compare-and-exchange on the 32-bit `flags`+`domid` word,
//! as Xen's `_set_status_v1`, bounded to five attempts). The same trait translates the granted
//! frame number through the granter's stage 2. Changes to the mapper's stage 2 go through
//! [`MapperP2m`], called at the point where Xen calls `create_grant_host_mapping` /
//! `replace_grant_host_mapping`, so a failure there is undone here.
//!
//! Everything in a request and in a grant entry is hostile: bad values give an [`Error`]
//! (mapped one-to-one onto `GNTST_*` by [`Error::gntst`]), never a panic; loops are bounded;
//! counters are checked. Locking is the hypervisor's: [`map`] and [`unmap`] need the mapper's
//! [`Maptrack`] and the granter's [`ActiveTable`] (separate locks even for a domain mapping its
//! own grant); [`copy`] locks one granter at a time through [`CopyEnv`].
//!
//! Deliberate differences from Xen, all on misbehaving requests:
//! - an unmap's `host_addr` must be the address the handle mapped (Xen only checks that the
//!   frame there is the granted one, so a second mapping of the same grant could be removed
//!   under the wrong handle and the first outlive its pin);
//! - handles come from one per-domain free list with a fixed limit, not per-vCPU lists.
#![no_std]
#![forbid(unsafe_code)]
#![allow(non_upper_case_globals)]

extern crate alloc;

#[cfg(test)]
mod tests;

use addr::{Ipa, Pa, PAGE_SIZE};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use xen_abi::grant_table::*;
use xen_abi::xen::DOMID_SELF;

/// A domain id (`domid_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomId(pub u16);

/// A grant reference (`grant_ref_t`): an index into the granter's grant entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantRef(pub u32);

/// A grant handle (`grant_handle_t`): an index into the mapper's maptrack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(pub u32);

/// `sizeof(grant_entry_v1)`.
pub const GRANT_ENTRY_V1_SIZE: u64 = 8;
/// Grant entries in one grant-table frame (v1).
pub const ENTRIES_PER_FRAME: u32 = (PAGE_SIZE / GRANT_ENTRY_V1_SIZE) as u32;
/// Xen's pin counters are 8 bits wide (`GNTPIN_cntr_width`) and a pin is refused once the top
/// bit would be reached (`GNTPIN_incr2oflow_mask`): at most this many pins of each kind.
pub const PIN_LIMIT: u32 = 1 << 7;
/// Attempts at the compare-and-exchange of a shared entry before the guest is deemed to be
/// racing on purpose (`_set_status_v1`: "retries++ == 4").
pub const SET_STATUS_ATTEMPTS: u32 = 5;

/// Why a grant operation failed; each is one `GNTST_*` status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// `GNTST_general_error`.
    GeneralError,
    /// `GNTST_bad_domain`.
    BadDomain,
    /// `GNTST_bad_gntref`.
    BadGntref,
    /// `GNTST_bad_handle`.
    BadHandle,
    /// `GNTST_bad_page`.
    BadPage,
    /// `GNTST_bad_copy_arg`.
    BadCopyArg,
    /// `GNTST_no_space`.
    NoSpace,
    /// `GNTST_permission_denied`.
    PermissionDenied,
}

impl Error {
    /// The `GNTST_*` status a guest sees.
    pub const fn gntst(self) -> i16 {
        match self {
            Self::GeneralError => GNTST_general_error,
            Self::BadDomain => GNTST_bad_domain,
            Self::BadGntref => GNTST_bad_gntref,
            Self::BadHandle => GNTST_bad_handle,
            Self::BadPage => GNTST_bad_page,
            Self::BadCopyArg => GNTST_bad_copy_arg,
            Self::NoSpace => GNTST_no_space,
            Self::PermissionDenied => GNTST_permission_denied,
        }
    }
}

/// `GNTST_okay` or the error's status.
pub fn status<T>(r: &Result<T, Error>) -> i16 {
    match r {
        Ok(_) => GNTST_okay,
        Err(e) => e.gntst(),
    }
}

/// The granting domain's memory: its shared `grant_entry_v1` array (which the guest writes
/// concurrently: every access is a single atomic access) and its stage 2.
///
/// Implementations must not panic on any `r`; this crate only passes `r < nr_entries()`.
pub trait GranterMem {
    /// Number of grant entries (grant-table frames × [`ENTRIES_PER_FRAME`]).
    fn nr_entries(&self) -> u32;
    /// One atomic read of the 32-bit word at the start of entry `r`: `flags` in bits 0-15,
    /// `domid` in bits 16-31 (little-endian `union grant_combo`).
    fn header(&self, r: GrantRef) -> u32;
    /// Compare-and-exchange of that word: stores `new` if it holds `old`; returns what it held.
    fn cmpxchg_header(&mut self, r: GrantRef, old: u32, new: u32) -> u32;
    /// Atomically clears `mask` in entry `r`'s `flags` (`gnttab_clear_flags`).
    fn clear_flags(&mut self, r: GrantRef, mask: u16);
    /// One read of entry `r`'s `frame` (a GFN of the granter).
    fn frame(&self, r: GrantRef) -> u32;
    /// The host frame behind the granter's `gfn`, if it is the granter's own RAM (not a
    /// foreign frame it has mapped, not MMIO), writable when `write` (Xen's `get_paged_frame`).
    fn gfn_to_frame(&self, gfn: u64, write: bool) -> Option<Pa>;
}

/// A failed change to the mapper's stage 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct P2mError;

/// The mapping domain's stage 2, changed by [`map`] and [`unmap`].
pub trait MapperP2m {
    /// Maps host frame `frame` at `at` (page-aligned), read-only unless `writable`, replacing
    /// whatever was there (`guest_physmap_add_entry` on Arm).
    fn map_foreign(&mut self, at: Ipa, frame: Pa, writable: bool) -> Result<(), P2mError>;
    /// Removes the mapping at `at` if it is `frame`; nothing mapped there is success, another
    /// frame is an error (`guest_physmap_remove_page`). Stale TLB entries must be gone when
    /// this returns.
    fn unmap_foreign(&mut self, at: Ipa, frame: Pa) -> Result<(), P2mError>;
}

/// One pinned grant of a granter (`struct active_grant_entry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Active {
    /// The domain the grant is pinned for.
    pub domid: DomId,
    /// The granted host frame (fixed while pinned, whatever the guest writes to `frame`).
    pub frame: Pa,
    /// Read-only pins (`GNTPIN_hstr`).
    pub ro: u32,
    /// Read-write pins (`GNTPIN_hstw`).
    pub rw: u32,
}

/// A granter's pinned grants (`active` table), keyed by reference; unpinned grants have no
/// entry, so the table is bounded by the pins of the mappers.
#[derive(Debug, Default)]
pub struct ActiveTable {
    pinned: BTreeMap<u32, Active>,
}

impl ActiveTable {
    /// An empty table.
    pub const fn new() -> Self {
        Self {
            pinned: BTreeMap::new(),
        }
    }
    /// The pin state of `r`, if pinned.
    pub fn get(&self, r: GrantRef) -> Option<&Active> {
        self.pinned.get(&r.0)
    }
    /// Number of pinned grants.
    pub fn len(&self) -> usize {
        self.pinned.len()
    }
    /// Whether nothing is pinned.
    pub fn is_empty(&self) -> bool {
        self.pinned.is_empty()
    }
    /// Every pinned grant.
    pub fn iter(&self) -> impl Iterator<Item = (GrantRef, &Active)> {
        self.pinned.iter().map(|(r, a)| (GrantRef(*r), a))
    }
}

/// One live mapping of a mapper (`struct grant_mapping`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The granting domain.
    pub granter: DomId,
    /// The grant reference in the granter's table.
    pub gref: GrantRef,
    /// `GNTMAP_readonly` was asked for.
    pub readonly: bool,
    /// Where the frame is mapped in the mapper's stage 2 (page-aligned).
    pub host_addr: Ipa,
    /// The granted host frame.
    pub frame: Pa,
}

/// A mapper's live mappings by handle (the maptrack table), with at most `limit` handles.
#[derive(Debug)]
pub struct Maptrack {
    slots: Vec<Option<Mapping>>,
    free: BTreeSet<u32>,
    limit: u32,
}

impl Maptrack {
    /// An empty maptrack that hands out at most `limit` handles at a time.
    pub const fn new(limit: u32) -> Self {
        Self {
            slots: Vec::new(),
            free: BTreeSet::new(),
            limit,
        }
    }
    /// The mapping behind `h`, if live.
    pub fn get(&self, h: Handle) -> Option<&Mapping> {
        self.slots.get(h.0 as usize).and_then(Option::as_ref)
    }
    /// Number of live mappings.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }
    /// Whether no mapping is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Every live mapping.
    pub fn iter(&self) -> impl Iterator<Item = (Handle, &Mapping)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|m| (Handle(i as u32), m)))
    }
    /// A free handle (the lowest freed one first, else a new one), or `None` at the limit.
    fn alloc(&mut self) -> Option<Handle> {
        if let Some(h) = self.free.pop_first() {
            return Some(Handle(h));
        }
        let n = u32::try_from(self.slots.len()).ok()?;
        if n >= self.limit {
            return None;
        }
        self.slots.push(None);
        Some(Handle(n))
    }
    fn set(&mut self, h: Handle, m: Mapping) {
        if let Some(s) = self.slots.get_mut(h.0 as usize) {
            *s = Some(m);
        }
    }
    /// Returns `h` (allocated, unused or just cleared) to the free list.
    fn release(&mut self, h: Handle) {
        if let Some(s) = self.slots.get_mut(h.0 as usize) {
            *s = None;
            self.free.insert(h.0);
        }
    }
}

const fn header_flags(w: u32) -> u16 {
    (w & 0xffff) as u16
}
const fn header_domid(w: u32) -> u16 {
    (w >> 16) as u16
}

/// `_set_status_v1`: sets `GTF_reading` (and `GTF_writing` unless `readonly`) in entry `r`,
/// checking, when `r` is not pinned yet, that it is a `GTF_permit_access` entry for `ldom`
/// (and for a mapping, not `GTF_sub_page`), and that a read-write pin is not asked of a
/// `GTF_readonly` entry. The guest may race: at most [`SET_STATUS_ATTEMPTS`] tries.
fn set_status(
    g: &mut dyn GranterMem,
    r: GrantRef,
    pinned: bool,
    readonly: bool,
    mapflag: bool,
    ldom: DomId,
) -> Result<(), Error> {
    let mask = if mapflag {
        GTF_type_mask | GTF_sub_page
    } else {
        GTF_type_mask
    };
    let mut cur = g.header(r);
    for _ in 0..SET_STATUS_ATTEMPTS {
        let flags = header_flags(cur);
        if !pinned && ((flags & mask) != GTF_permit_access || header_domid(cur) != ldom.0) {
            return Err(Error::GeneralError);
        }
        let mut new = flags | GTF_reading;
        if !readonly {
            new |= GTF_writing;
            if flags & GTF_readonly != 0 {
                return Err(Error::GeneralError);
            }
        }
        let new = (cur & 0xffff_0000) | u32::from(new);
        let prev = g.cmpxchg_header(r, cur, new);
        if prev == cur {
            return Ok(());
        }
        cur = prev;
    }
    // "Shared grant entry is unstable".
    Err(Error::GeneralError)
}

/// `reduce_status_for_pin`: after pins were dropped (or not taken), clears `GTF_reading` when
/// nothing is pinned and `GTF_writing` when no read-write pin is left.
fn reduce_status(g: &mut dyn GranterMem, r: GrantRef, act: Option<&Active>, readonly: bool) {
    let (pin, rw) = act.map_or((0, 0), |a| (a.ro.saturating_add(a.rw), a.rw));
    let mut clear = if pin == 0 { GTF_reading } else { 0 };
    if !readonly && rw == 0 {
        clear |= GTF_writing;
    }
    if clear != 0 {
        g.clear_flags(r, clear);
    }
}

/// Takes one pin (`readonly` or not) of `r` for `ldom`: the common part of `map_grant_ref`
/// and `acquire_grant_for_copy`. Returns the host frame.
fn pin(
    act: &mut ActiveTable,
    g: &mut dyn GranterMem,
    r: GrantRef,
    ldom: DomId,
    readonly: bool,
    mapflag: bool,
) -> Result<Pa, Error> {
    if r.0 >= g.nr_entries() {
        return Err(Error::BadGntref);
    }
    let cur = act.pinned.get(&r.0).copied();
    if let Some(a) = cur {
        // Already pinned: for the same domain only, and without overflowing a counter.
        let count = if readonly { a.ro } else { a.rw };
        if a.domid != ldom || count.saturating_add(1) > PIN_LIMIT {
            return Err(Error::GeneralError);
        }
    }
    let need_status = match cur {
        None => true,
        Some(a) => !readonly && a.rw == 0,
    };
    let mut frame = cur.map(|a| a.frame);
    if need_status {
        set_status(g, r, cur.is_some(), readonly, mapflag, ldom)?;
        if cur.is_none() {
            let gfn = u64::from(g.frame(r));
            match g.gfn_to_frame(gfn, !readonly) {
                Some(f) => frame = Some(f),
                None => {
                    reduce_status(g, r, None, readonly);
                    return Err(Error::BadPage);
                }
            }
        }
    }
    let Some(frame) = frame else {
        return Err(Error::GeneralError);
    };
    let mut a = cur.unwrap_or(Active {
        domid: ldom,
        frame,
        ro: 0,
        rw: 0,
    });
    if readonly {
        a.ro += 1;
    } else {
        a.rw += 1;
    }
    act.pinned.insert(r.0, a);
    Ok(frame)
}

/// Drops one pin taken by [`pin`] and clears the status bits it no longer needs.
fn unpin(act: &mut ActiveTable, g: &mut dyn GranterMem, r: GrantRef, readonly: bool) {
    let left = match act.pinned.get_mut(&r.0) {
        Some(a) => {
            if readonly {
                a.ro = a.ro.saturating_sub(1);
            } else {
                a.rw = a.rw.saturating_sub(1);
            }
            Some(*a)
        }
        None => None,
    };
    let left = left.filter(|a| a.ro > 0 || a.rw > 0);
    if left.is_none() {
        act.pinned.remove(&r.0);
    }
    if r.0 < g.nr_entries() {
        reduce_status(g, r, left.as_ref(), readonly);
    }
}

/// The checks of `map_grant_ref` on `GNTMAP_*` alone, before the granting domain is looked up:
/// neither host nor device mapping is `GNTST_bad_gntref`; a device, application or PTE mapping
/// is `GNTST_general_error` on Arm ("No device mapping in HVM domain").
pub fn check_map_flags(flags: u32) -> Result<(), Error> {
    if flags & (GNTMAP_host_map | GNTMAP_device_map) == 0 {
        return Err(Error::BadGntref);
    }
    if flags & (GNTMAP_device_map | GNTMAP_application_map | GNTMAP_contains_pte) != 0 {
        return Err(Error::GeneralError);
    }
    Ok(())
}

/// A `gnttab_map_grant_ref` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRequest {
    /// `GNTMAP_*`.
    pub flags: u32,
    /// The grant reference.
    pub gref: GrantRef,
    /// Where to map it in the mapper's space (Arm: a guest-physical address; the offset into
    /// the page is ignored, as `gaddr_to_gfn` does).
    pub host_addr: Ipa,
}

/// What a successful map gives back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapped {
    /// OUT `handle`.
    pub handle: Handle,
    /// The host frame; OUT `dev_bus_addr` is its address (`mfn_to_maddr`, which Linux on Arm
    /// records in its p2m for a direct-mapped dom0).
    pub frame: Pa,
}

/// `GNTTABOP_map_grant_ref` for one request of `mapper` on `granter`'s grant: takes a handle,
/// pins the grant (setting `GTF_reading`/`GTF_writing`), maps the frame through `p2m`, and
/// records the mapping. On any failure nothing stays changed.
pub fn map(
    mt: &mut Maptrack,
    mapper: DomId,
    granter: DomId,
    act: &mut ActiveTable,
    g: &mut dyn GranterMem,
    req: &MapRequest,
    p2m: &mut dyn MapperP2m,
) -> Result<Mapped, Error> {
    check_map_flags(req.flags)?;
    let readonly = req.flags & GNTMAP_readonly != 0;
    let handle = mt.alloc().ok_or(Error::NoSpace)?;
    let frame = match pin(act, g, req.gref, mapper, readonly, true) {
        Ok(f) => f,
        Err(e) => {
            mt.release(handle);
            return Err(e);
        }
    };
    let at = req.host_addr.align_down(PAGE_SIZE);
    if p2m.map_foreign(at, frame, !readonly).is_err() {
        unpin(act, g, req.gref, readonly);
        mt.release(handle);
        return Err(Error::GeneralError);
    }
    mt.set(
        handle,
        Mapping {
            granter,
            gref: req.gref,
            readonly,
            host_addr: at,
            frame,
        },
    );
    Ok(Mapped { handle, frame })
}

/// A `gnttab_unmap_grant_ref` (or `gnttab_unmap_and_replace`) request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnmapRequest {
    /// The handle [`map`] returned.
    pub handle: Handle,
    /// Where it is mapped (0: leave the host mapping; Xen then does nothing and says okay).
    pub host_addr: u64,
    /// `unmap_and_replace`'s `new_addr`: Arm refuses anything but 0 (`GNTST_general_error`).
    pub new_addr: u64,
}

/// The first half of `unmap_common`: which granter's table [`unmap`] needs for `h`.
pub fn granter_of(mt: &Maptrack, h: Handle) -> Result<(DomId, GrantRef), Error> {
    mt.get(h)
        .map(|m| (m.granter, m.gref))
        .ok_or(Error::BadHandle)
}

/// `GNTTABOP_unmap_grant_ref` for one request: removes the host mapping through `p2m`, frees
/// the handle and drops the pin, clearing `GTF_reading`/`GTF_writing` with the last one.
/// `act` and `g` are those of the mapping's granter ([`granter_of`]).
pub fn unmap(
    mt: &mut Maptrack,
    act: &mut ActiveTable,
    g: &mut dyn GranterMem,
    req: &UnmapRequest,
    p2m: &mut dyn MapperP2m,
) -> Result<(), Error> {
    let m = *mt.get(req.handle).ok_or(Error::BadHandle)?;
    match act.get(m.gref) {
        Some(a) if a.frame == m.frame => {}
        // The active entry does not back this mapping: a broken invariant, refuse safely.
        _ => return Err(Error::BadHandle),
    }
    if req.host_addr == 0 {
        // `unmap_common` with neither a host address nor a device mapping: nothing to do.
        return Ok(());
    }
    if req.new_addr != 0 {
        return Err(Error::GeneralError);
    }
    if Ipa(req.host_addr).align_down(PAGE_SIZE) != m.host_addr {
        return Err(Error::GeneralError);
    }
    p2m.unmap_foreign(m.host_addr, m.frame)
        .map_err(|_| Error::GeneralError)?;
    mt.release(req.handle);
    unpin(act, g, m.gref, m.readonly);
    Ok(())
}

/// One side of a `gnttab_copy`: a grant reference or (for the caller's own memory) a GMFN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyPtr {
    /// `u.ref` (low 32 bits) or `u.gmfn`.
    pub u: u64,
    /// The domain (`DOMID_SELF` allowed).
    pub domid: u16,
    /// Byte offset into the page.
    pub offset: u16,
}

/// A `gnttab_copy` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyOp {
    /// Source.
    pub source: CopyPtr,
    /// Destination.
    pub dest: CopyPtr,
    /// Bytes to copy.
    pub len: u16,
    /// `GNTCOPY_source_gref`, `GNTCOPY_dest_gref`.
    pub flags: u16,
}

/// What [`copy`] needs of the hypervisor.
pub trait CopyEnv {
    /// Whether domain `d` exists.
    fn exists(&self, d: DomId) -> bool;
    /// Runs `f` on `d`'s active table and grant entries (locked for the duration), or `None`
    /// if `d` does not exist.
    fn with_granter<R>(
        &mut self,
        d: DomId,
        f: impl FnOnce(&mut ActiveTable, &mut dyn GranterMem) -> R,
    ) -> Option<R>;
    /// The host frame of the caller's own `gmfn` (RAM, writable when `write`, not foreign).
    fn own_frame(&mut self, gmfn: u64, write: bool) -> Option<Pa>;
    /// Copies `len` bytes from host address `src` to host address `dst` (both inside one page).
    fn copy_bytes(&mut self, dst: Pa, src: Pa, len: usize);
}

/// A claimed side of a copy.
#[derive(Clone, Copy)]
struct Claim {
    frame: Pa,
    grant: Option<(DomId, GrantRef)>,
    readonly: bool,
}

fn resolve(caller: DomId, domid: u16) -> DomId {
    if domid == DOMID_SELF {
        caller
    } else {
        DomId(domid)
    }
}

/// `gnttab_copy_lock_domain`: a frame may only be named in the caller's own space.
fn lock_domain(env: &impl CopyEnv, caller: DomId, p: &CopyPtr, is_gref: bool) -> Result<(), Error> {
    if p.domid != DOMID_SELF && !is_gref {
        return Err(Error::PermissionDenied);
    }
    if env.exists(resolve(caller, p.domid)) {
        Ok(())
    } else {
        Err(Error::BadDomain)
    }
}

/// `gnttab_copy_claim_buf`.
fn claim(
    env: &mut impl CopyEnv,
    caller: DomId,
    p: &CopyPtr,
    is_gref: bool,
    readonly: bool,
) -> Result<Claim, Error> {
    let d = resolve(caller, p.domid);
    if is_gref {
        let r = GrantRef((p.u & 0xffff_ffff) as u32);
        let frame = env
            .with_granter(d, |act, g| pin(act, g, r, caller, readonly, false))
            .ok_or(Error::BadDomain)??;
        Ok(Claim {
            frame,
            grant: Some((d, r)),
            readonly,
        })
    } else {
        let frame = env.own_frame(p.u, !readonly).ok_or(Error::BadPage)?;
        Ok(Claim {
            frame,
            grant: None,
            readonly,
        })
    }
}

/// `gnttab_copy_release_buf`.
fn release(env: &mut impl CopyEnv, c: &Claim) {
    if let Some((d, r)) = c.grant {
        let _ = env.with_granter(d, |act, g| unpin(act, g, r, c.readonly));
    }
}

/// `GNTTABOP_copy` for one request of `caller`: claims the source (read-only) and the
/// destination (read-write; a grant must then allow writing), checks the offsets, copies, and
/// drops the transient pins.
pub fn copy(env: &mut impl CopyEnv, caller: DomId, op: &CopyOp) -> Result<(), Error> {
    let src_gref = op.flags & GNTCOPY_source_gref != 0;
    let dst_gref = op.flags & GNTCOPY_dest_gref != 0;
    lock_domain(env, caller, &op.source, src_gref)?;
    lock_domain(env, caller, &op.dest, dst_gref)?;
    let src = claim(env, caller, &op.source, src_gref, true)?;
    let dst = match claim(env, caller, &op.dest, dst_gref, false) {
        Ok(c) => c,
        Err(e) => {
            release(env, &src);
            return Err(e);
        }
    };
    let r = copy_checked(env, op, &src, &dst);
    release(env, &dst);
    release(env, &src);
    r
}

/// `gnttab_copy_buf`: both ranges inside their page (v1 grants cover the whole page).
fn copy_checked(
    env: &mut impl CopyEnv,
    op: &CopyOp,
    src: &Claim,
    dst: &Claim,
) -> Result<(), Error> {
    let len = u64::from(op.len);
    let (so, dof) = (u64::from(op.source.offset), u64::from(op.dest.offset));
    if so + len > PAGE_SIZE || dof + len > PAGE_SIZE {
        return Err(Error::BadCopyArg);
    }
    let (Some(s), Some(d)) = (src.frame.checked_add(so), dst.frame.checked_add(dof)) else {
        return Err(Error::GeneralError);
    };
    env.copy_bytes(d, s, usize::from(op.len));
    Ok(())
}
