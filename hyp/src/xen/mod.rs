//! The Xen guest interface (Xen 4.17's ABI, `xen/include/public`): per-domain state (shared_info,
//! vcpu_info, event channels, grant-table frames, HVM params) and the hypercalls that use it.
//! Each hypercall is a register shim that copies guest structures through `guestmem` and calls
//! a pure operation (the `evtchn` crate for event channels).

#![allow(non_upper_case_globals)] // Xen's ABI names (CONVENTIONS.md §6)

pub(crate) mod domctl;
mod event;
mod gnttab;
pub mod hvm;
pub mod hypercall;
pub mod lifecycle;
mod p2m;

use crate::domain::Domain;
use crate::vcpu::apply_effects;
use addr::{Ipa, Pa, PAGE_SIZE};
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use spin::Mutex;
use vgic::Effects;
use xen_abi::xen::{
    SHARED_INFO_EVTCHN_MASK_OFFSET, SHARED_INFO_EVTCHN_PENDING_OFFSET,
    VCPU_INFO_EVTCHN_PENDING_SEL_OFFSET,
};

/// Grant-table frames a domain may have (Xen's default `gnttab_max_frames`).
pub const GNTTAB_MAX_FRAMES: usize = 64;
/// Xen version Xenith presents.
pub const XEN_MAJOR: u32 = 4;
/// Minor version.
pub const XEN_MINOR: u32 = 17;
/// HVM params kept per domain (`HVM_NR_PARAMS` in Xen's `hvm/params.h`).
pub const HVM_NR_PARAMS: usize = xen_abi::hvm::HVM_NR_PARAMS as usize;

/// A domain's grant table (v1): frames allocated on demand.
pub struct Gnttab {
    /// Host frames of the shared grant entries.
    pub frames: Vec<Pa>,
    /// Version the guest chose (1).
    pub version: u32,
}

/// Xen-interface state of one domain.
pub struct XenState {
    /// The shared_info page (a Xenith frame, mapped into the guest where it asks).
    pub shared_info: Pa,
    /// Host address of each vCPU's vcpu_info (0: not registered; vCPU 0 starts in shared_info).
    pub vcpu_info: Vec<AtomicU64>,
    /// The upcall line level last given to the vGIC, per vCPU (changed only under the vGIC lock).
    pub upcall_level: Vec<core::sync::atomic::AtomicBool>,
    /// Whether each vCPU registered its own vcpu_info (VCPUOP_register_vcpu_info, once only).
    pub vcpu_info_registered: Vec<core::sync::atomic::AtomicBool>,
    /// Guest address of each vCPU's runstate area (0: none).
    pub runstate: Vec<AtomicU64>,
    /// Event channels.
    pub evtchn: Mutex<evtchn::Evtchns>,
    /// The event-channel upcall PPI.
    pub evtchn_ppi: u32,
    /// Grant table.
    pub gnttab: Mutex<Gnttab>,
    /// Grant pins, mappings and foreign frames (map/unmap/copy).
    pub grants: self::gnttab::Grants,
    /// Where Xenith-owned pages (shared_info, grant frames) are mapped in the guest: host page
    /// -> guest frame. A page is mapped at one place at a time (Xen answers -EBUSY otherwise).
    pub xenheap_gfns: Mutex<Vec<(Pa, u64)>>,
    /// HVM params (`HVMOP_get_param` / `set_param`).
    pub hvm_params: Mutex<[u64; HVM_NR_PARAMS]>,
    /// Another domain's frames this domain maps (XENMAPSPACE_gmfn_foreign): guest frame ->
    /// the owner (kept alive, so its frames are freed only after the last mapping goes) and
    /// the host frame.
    pub foreign_maps: Mutex<BTreeMap<u64, (Arc<Domain>, Pa)>>,
    /// This domain's frames other domains map with XENMAPSPACE_gmfn_foreign: host frame ->
    /// mappings. Such a frame is not given back by XENMEM_decrease_reservation.
    pub foreign_pins: Mutex<BTreeMap<u64, u32>>,
}

impl XenState {
    /// Fresh state with a zeroed shared_info page, or `None` when out of memory.
    pub fn new(nr_vcpus: usize, evtchn_ppi: u32, domid: u16) -> Option<Self> {
        let shared_info = crate::mm::alloc_frames(1, 1)?;
        let vcpu_info: Vec<AtomicU64> = (0..nr_vcpus).map(|_| AtomicU64::new(0)).collect();
        // vCPU 0's vcpu_info is shared_info.vcpu_info[0] until the guest registers its own
        // (XEN_LEGACY_MAX_VCPUS is 1 on Arm).
        if let Some(v0) = vcpu_info.first() {
            v0.store(shared_info.0, Ordering::Relaxed);
        }
        Some(Self {
            shared_info,
            vcpu_info,
            upcall_level: (0..nr_vcpus)
                .map(|_| core::sync::atomic::AtomicBool::new(false))
                .collect(),
            vcpu_info_registered: (0..nr_vcpus)
                .map(|_| core::sync::atomic::AtomicBool::new(false))
                .collect(),
            runstate: (0..nr_vcpus).map(|_| AtomicU64::new(0)).collect(),
            evtchn: Mutex::new(evtchn::Evtchns::new(
                evtchn::DomId(domid),
                nr_vcpus as u32,
                // Xen's limits: none for dom0 (max_evtchn_port = -1: the ABI's, 2^17 with
                // FIFO), 1024 ports for other domains (arch/arm/domain_build.c).
                if domid == 0 {
                    xen_abi::event_channel::EVTCHN_FIFO_NR_CHANNELS
                } else {
                    1024
                },
            )),
            evtchn_ppi,
            gnttab: Mutex::new(Gnttab {
                frames: Vec::new(),
                version: 1,
            }),
            hvm_params: Mutex::new(initial_params(evtchn_ppi)),
            xenheap_gfns: Mutex::new(Vec::new()),
            grants: self::gnttab::Grants::new(),
            foreign_maps: Mutex::new(BTreeMap::new()),
            foreign_pins: Mutex::new(BTreeMap::new()),
        })
    }

    pub(crate) fn u64_at(pa: u64) -> &'static AtomicU64 {
        // SAFETY: callers pass 8-aligned addresses inside the shared_info frame (owned by Xenith,
        // live as long as the domain) or inside a registered vcpu_info (domain RAM, checked at
        // registration, 8-aligned). The guest writes the same words concurrently, which is what
        // the atomic type is for.
        unsafe { &*(pa as *const AtomicU64) }
    }

    pub(crate) fn u8_at(pa: u64) -> &'static AtomicU8 {
        // SAFETY: as for `u64_at`, for the byte-sized upcall flags of a vcpu_info.
        unsafe { &*(pa as *const AtomicU8) }
    }

    /// Whether vCPU `v` has `evtchn_upcall_pending` set.
    pub fn upcall_pending(&self, v: usize) -> bool {
        match self.vcpu_info.get(v).map(|a| a.load(Ordering::Acquire)) {
            Some(pa) if pa != 0 => Self::u8_at(pa).load(Ordering::Acquire) != 0,
            _ => false,
        }
    }
}

/// HVM params at domain creation: HVM_PARAM_CALLBACK_IRQ names the event-channel PPI
/// (type PPI, level-low), as Xen's arch/arm/domain_build.c sets it.
fn initial_params(evtchn_ppi: u32) -> [u64; HVM_NR_PARAMS] {
    use xen_abi::hvm::{
        HVM_PARAM_CALLBACK_IRQ, HVM_PARAM_CALLBACK_TYPE_PPI,
        HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_LOW_LEVEL,
    };
    let mut p = [0; HVM_NR_PARAMS];
    p[HVM_PARAM_CALLBACK_IRQ as usize] = (HVM_PARAM_CALLBACK_TYPE_PPI << 56)
        | (HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_LOW_LEVEL << 8)
        | u64::from(evtchn_ppi);
    p
}

/// The event words in guest memory (2-level bitmaps in shared_info, FIFO event array and
/// control blocks), with atomic accesses.
pub(crate) struct Words<'a>(pub(crate) &'a XenState);

impl Words<'_> {
    fn word(&self, base: usize, port: u32) -> (&'static AtomicU64, u64) {
        let w = (port / 64) as u64;
        let pa = self.0.shared_info.0 + base as u64 + 8 * w;
        (XenState::u64_at(pa), 1u64 << (port % 64))
    }

    fn vcpu_info(&self, vcpu: u32) -> Option<u64> {
        self.0
            .vcpu_info
            .get(vcpu as usize)
            .map(|a| a.load(Ordering::Acquire))
            .filter(|&pa| pa != 0)
    }
}

impl evtchn::EventWords for Words<'_> {
    fn test_and_set_pending(&mut self, port: u32) -> bool {
        let (w, bit) = self.word(SHARED_INFO_EVTCHN_PENDING_OFFSET, port);
        w.fetch_or(bit, Ordering::AcqRel) & bit != 0
    }
    fn clear_pending(&mut self, port: u32) {
        let (w, bit) = self.word(SHARED_INFO_EVTCHN_PENDING_OFFSET, port);
        w.fetch_and(!bit, Ordering::AcqRel);
    }
    fn is_pending(&self, port: u32) -> bool {
        let (w, bit) = self.word(SHARED_INFO_EVTCHN_PENDING_OFFSET, port);
        w.load(Ordering::Acquire) & bit != 0
    }
    fn is_masked(&self, port: u32) -> bool {
        let (w, bit) = self.word(SHARED_INFO_EVTCHN_MASK_OFFSET, port);
        w.load(Ordering::Acquire) & bit != 0
    }
    fn test_and_clear_mask(&mut self, port: u32) -> bool {
        let (w, bit) = self.word(SHARED_INFO_EVTCHN_MASK_OFFSET, port);
        w.fetch_and(!bit, Ordering::AcqRel) & bit != 0
    }
    fn set_mask(&mut self, port: u32) {
        let (w, bit) = self.word(SHARED_INFO_EVTCHN_MASK_OFFSET, port);
        w.fetch_or(bit, Ordering::AcqRel);
    }
    fn test_and_set_sel(&mut self, vcpu: u32, word: u32) -> bool {
        let Some(vi) = self.vcpu_info(vcpu) else {
            return true;
        };
        let sel = XenState::u64_at(vi + VCPU_INFO_EVTCHN_PENDING_SEL_OFFSET as u64);
        let bit = 1u64 << (word % 64);
        sel.fetch_or(bit, Ordering::AcqRel) & bit != 0
    }
    fn test_and_set_upcall_pending(&mut self, vcpu: u32) -> bool {
        let Some(vi) = self.vcpu_info(vcpu) else {
            return true;
        };
        XenState::u8_at(vi).swap(1, Ordering::AcqRel) != 0
    }
}

/// A FIFO event word or control-block field (`evtchn::fifo`), by host address.
fn fifo_word(at: Pa) -> &'static core::sync::atomic::AtomicU32 {
    // SAFETY: the evtchn crate passes only 4-aligned addresses inside pages registered with
    // EVTCHNOP_init_control / EVTCHNOP_expand_array, each translated through the domain's
    // stage 2 to its own writable normal memory (`guestmem::ipa_to_pa`) and identity-mapped at
    // EL2. Xenith frees a domain's frames only when the domain (and with it this event state)
    // is destroyed; XENMEM_remove_from_physmap only unmaps them. The guest writes the same words
    // concurrently, which is what the atomic type is for.
    unsafe { &*(at.0 as *const core::sync::atomic::AtomicU32) }
}

impl evtchn::FifoWords for Words<'_> {
    fn load(&self, at: Pa) -> u32 {
        fifo_word(at).load(Ordering::SeqCst)
    }
    fn store(&mut self, at: Pa, val: u32) {
        fifo_word(at).store(val, Ordering::SeqCst);
    }
    fn cmpxchg(&mut self, at: Pa, old: u32, new: u32) -> u32 {
        match fifo_word(at).compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(v) | Err(v) => v,
        }
    }
    fn fetch_or(&mut self, at: Pa, bits: u32) -> u32 {
        fifo_word(at).fetch_or(bits, Ordering::SeqCst)
    }
    fn fetch_and(&mut self, at: Pa, bits: u32) -> u32 {
        fifo_word(at).fetch_and(bits, Ordering::SeqCst)
    }
}

/// Records vCPU `v` entering runstate `state` (RUNSTATE_running / RUNSTATE_blocked) in the
/// area it registered, with Xen's XEN_RUNSTATE_UPDATE protocol (the guest retries a read while
/// the flag is set). Called on the pCPU running `v`, whose stage 1 translates the area.
pub fn set_runstate(dom: &Domain, v: usize, state: i32) {
    use xen_abi::vcpu::{vcpu_runstate_info, XEN_RUNSTATE_UPDATE};
    let Some(x) = dom.xen.as_ref() else { return };
    let Some(area) = x
        .runstate
        .get(v)
        .map(|a| a.load(Ordering::Acquire))
        .filter(|&a| a != 0)
    else {
        return;
    };
    let Ok(mut rs) = crate::guestmem::read::<vcpu_runstate_info>(dom, area) else {
        return;
    };
    let now = crate::arch::time_ns();
    let prev = rs.state_entry_time & !XEN_RUNSTATE_UPDATE;
    if let Some(t) = usize::try_from(rs.state)
        .ok()
        .and_then(|i| rs.time.get_mut(i))
    {
        *t = t.wrapping_add(now.saturating_sub(prev));
    }
    rs.state_entry_time = now | XEN_RUNSTATE_UPDATE;
    let _ = crate::guestmem::write(dom, area + 8, &rs.state_entry_time);
    rs.state = state;
    let _ = crate::guestmem::write(dom, area, &rs);
    rs.state_entry_time = now;
    let _ = crate::guestmem::write(dom, area + 8, &rs.state_entry_time);
}

/// Raises the event-channel upcall PPI of `dom`'s vCPU `vcpu` and wakes it. The caller has just
/// set its `evtchn_upcall_pending` (0 -> 1).
pub fn raise_upcall(dom: &Domain, vcpu: u32) {
    let Some(x) = dom.xen.as_ref() else { return };
    let mut fx = Effects::new();
    {
        // The cached level changes only under the vGIC lock, with the line (see sync_upcall).
        let mut vgic = dom.vgic.lock();
        if let Some(l) = x.upcall_level.get(vcpu as usize) {
            l.store(true, Ordering::Release);
        }
        let _ = vgic.set_level(vcpu as usize, x.evtchn_ppi, true, &mut fx);
    }
    apply_effects(dom, &fx);
}

/// Before entering vCPU `v`: the upcall line follows `evtchn_upcall_pending`, so an upcall the
/// guest has not consumed yet is taken again (as Xen re-injects it on every entry).
///
/// The flag is read under the vGIC lock. Read before it, a `raise_upcall` from another pCPU
/// could set the flag after the read and find the line still high from the previous upcall (no
/// change, so no wake-up), and this function would then lower the line: the flag set, the line
/// low, nobody woken, and every later event of the vCPU lost too (an event only raises the line
/// when the flag goes 0 -> 1). Under the lock, a raise either happened before (its flag is seen
/// here) or comes after (and raises a low line, which wakes the vCPU).
pub fn sync_upcall(dom: &Domain, v: usize) {
    let Some(x) = dom.xen.as_ref() else { return };
    let Some(l) = x.upcall_level.get(v) else {
        return;
    };
    // The common exit: line low, nothing pending. A raise in progress raises the line itself.
    if !l.load(Ordering::Acquire) && !x.upcall_pending(v) {
        return;
    }
    let mut fx = Effects::new();
    {
        let mut vgic = dom.vgic.lock();
        let level = x.upcall_pending(v);
        l.store(level, Ordering::Release);
        let _ = vgic.set_level(v, x.evtchn_ppi, level, &mut fx);
    }
    apply_effects(dom, &fx);
}

/// Raises a VIRQ in `dom` (e.g. VIRQ_CONSOLE when input arrives).
pub fn raise_virq(dom: &Domain, virq: u32, vcpu: u32) {
    let Some(x) = dom.xen.as_ref() else { return };
    let up = x.evtchn.lock().raise_virq(&mut Words(x), virq, vcpu);
    if let Some(v) = up {
        raise_upcall(dom, v);
    }
}

/// Why a Xenith page could not be mapped into a guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The page is already mapped elsewhere: the guest must remove it first (-EBUSY).
    Busy,
    /// Out of memory for stage-2 tables, or a bad frame number (-ENOMEM / -EINVAL).
    Failed,
}

/// Maps Xenith page `pa` (shared_info, a grant frame) at guest frame `gfn` of `dom`,
/// replacing what was there, and invalidates the stale translation (the caller runs on `dom`'s
/// VMID). As in Xen, a page already mapped at another frame must be removed first.
pub fn map_xenheap_page(dom: &Domain, x: &XenState, gfn: u64, pa: Pa) -> Result<(), MapError> {
    use crate::mm::TableMemory;
    use stage2::{MemType, Perm};
    let ipa = Ipa(gfn.checked_mul(PAGE_SIZE).ok_or(MapError::Failed)?);
    let mut placed = x.xenheap_gfns.lock();
    if placed.iter().any(|&(p, _)| p == pa) {
        return Err(MapError::Busy);
    }
    let mut s2 = dom.stage2.lock();
    let mut tm = TableMemory;
    if s2.translate(&tm, ipa).is_some() {
        s2.unmap(&mut tm, ipa, PAGE_SIZE)
            .map_err(|_| MapError::Failed)?;
        // Whatever Xenith page was at this frame is not mapped any more.
        placed.retain(|&(_, g)| g != gfn);
        x.grants.foreign.lock().remove(&gfn);
        flush_tlb(dom);
    }
    s2.map(&mut tm, ipa, pa, PAGE_SIZE, MemType::Normal, Perm::RW)
        .map_err(|_| MapError::Failed)?;
    placed.push((pa, gfn));
    flush_tlb(dom);
    drop(s2);
    drop(placed);
    drop(p2m::forget_foreign(x, gfn));
    Ok(())
}

/// Invalidates every translation of `dom`'s VMID on every pCPU after a change of its stage 2
/// (the caller's own, loaded here, or another domain's the toolstack changes).
pub fn flush_tlb(dom: &Domain) {
    if crate::arch::sysreg::read!(vttbr_el2) == dom.vttbr {
        crate::arch::tlb::flush_guest_all();
    } else {
        crate::arch::tlb::flush_vmid(dom.vttbr);
    }
}

/// XENMEM_remove_from_physmap: unmaps guest frame `gfn` (a Xenith page or the domain's RAM).
pub fn unmap_gfn(dom: &Domain, x: &XenState, gfn: u64) -> Result<(), MapError> {
    use crate::mm::TableMemory;
    let ipa = Ipa(gfn.checked_mul(PAGE_SIZE).ok_or(MapError::Failed)?);
    let mut placed = x.xenheap_gfns.lock();
    let mut s2 = dom.stage2.lock();
    let mut tm = TableMemory;
    if s2.translate(&tm, ipa).is_none() {
        return Err(MapError::Failed);
    }
    s2.unmap(&mut tm, ipa, PAGE_SIZE)
        .map_err(|_| MapError::Failed)?;
    placed.retain(|&(_, g)| g != gfn);
    flush_tlb(dom);
    drop(s2);
    drop(placed);
    x.grants.foreign.lock().remove(&gfn);
    // The owner's frame may be freed once the mapping is gone from every TLB (above).
    drop(p2m::forget_foreign(x, gfn));
    Ok(())
}
