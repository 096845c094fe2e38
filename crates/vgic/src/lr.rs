//! List registers: their exact encodings and the flush/fold policy.
//!
//! GICv2 GICH_LR<n> (IHI 0048B §5.3.11): VirtualID [9:0], PhysicalID [19:10] when HW = 1, else
//! CPUID [12:10] (SGI source) and EOI [19] (maintenance interrupt on EOI); Priority [27:23] (the
//! top 5 bits); State [29:28]; Grp1 [30]; HW [31].
//! GICv3 ICH_LR<n>_EL2 (IHI 0069 §12.4.7): vINTID [31:0], pINTID [41:32] when HW = 1, else EOI
//! [41]; Priority [55:48]; Group [60]; HW [61]; State [63:62].

use crate::{
    deliverable_in, for_each_bit, spi_dest, vcpu_opt, Effect, Effects, GicVersion, Vgic,
    FOLD_CLEAR_ACTIVE, FOLD_CLEAR_PENDING, FOLD_SET_ACTIVE, FOLD_SET_PENDING, MAX_LRS, NO_VCPU,
    NR_PRIVATE_IRQS, NR_SGIS,
};

/// State field of a list register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LrState {
    /// Empty, or the guest completed (EOIed and deactivated) the interrupt.
    #[default]
    Invalid = 0,
    /// Pending.
    Pending = 1,
    /// Active (acknowledged, not yet deactivated).
    Active = 2,
    /// Active and pending again.
    PendingActive = 3,
}

impl LrState {
    const fn from_bits(b: u64) -> Self {
        match b & 3 {
            0 => Self::Invalid,
            1 => Self::Pending,
            2 => Self::Active,
            _ => Self::PendingActive,
        }
    }
    const fn new(pending: bool, active: bool) -> Self {
        match (pending, active) {
            (false, false) => Self::Invalid,
            (true, false) => Self::Pending,
            (false, true) => Self::Active,
            (true, true) => Self::PendingActive,
        }
    }
    /// Whether the pending bit is set.
    pub const fn is_pending(self) -> bool {
        matches!(self, Self::Pending | Self::PendingActive)
    }
    /// Whether the active bit is set.
    pub const fn is_active(self) -> bool {
        matches!(self, Self::Active | Self::PendingActive)
    }
}

/// One list register, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Lr {
    /// Virtual INTID.
    pub intid: u32,
    /// State.
    pub state: LrState,
    /// Priority (GICv2 keeps the top 5 bits).
    pub priority: u8,
    /// Group 1.
    pub group1: bool,
    /// Physical INTID when the HW bit is set: the guest's deactivation deactivates it.
    pub hw: Option<u32>,
    /// GICv2 SGI source CPU (HW = 0 only).
    pub source: u8,
    /// Maintenance interrupt when the guest EOIs it (HW = 0 only).
    pub eoi_maint: bool,
}

const GICH_LR_VIRTUAL_ID_MASK: u32 = 0x3FF;
const GICH_LR_PHYSICAL_ID_SHIFT: u32 = 10;
const GICH_LR_PHYSICAL_ID_MASK: u32 = 0x3FF;
const GICH_LR_CPUID_MASK: u32 = 0x7;
const GICH_LR_EOI: u32 = 1 << 19;
const GICH_LR_PRIORITY_SHIFT: u32 = 23;
const GICH_LR_STATE_SHIFT: u32 = 28;
const GICH_LR_GRP1: u32 = 1 << 30;
const GICH_LR_HW: u32 = 1 << 31;

const ICH_LR_VIRTUAL_ID_MASK: u64 = 0xFFFF_FFFF;
const ICH_LR_PHYS_ID_SHIFT: u32 = 32;
const ICH_LR_PHYS_ID_MASK: u64 = 0x3FF;
const ICH_LR_EOI: u64 = 1 << 41;
const ICH_LR_PRIORITY_SHIFT: u32 = 48;
const ICH_LR_GROUP: u64 = 1 << 60;
const ICH_LR_HW: u64 = 1 << 61;
const ICH_LR_STATE_SHIFT: u32 = 62;

impl Lr {
    /// An empty list register.
    pub const INVALID: Self = Self {
        intid: 0,
        state: LrState::Invalid,
        priority: 0,
        group1: false,
        hw: None,
        source: 0,
        eoi_maint: false,
    };

    /// Encodes as a GICv2 GICH_LR value.
    pub fn to_gich_lr(&self) -> u32 {
        let mut v = (self.intid & GICH_LR_VIRTUAL_ID_MASK)
            | (u32::from(self.priority >> 3) << GICH_LR_PRIORITY_SHIFT)
            | ((self.state as u32) << GICH_LR_STATE_SHIFT);
        if self.group1 {
            v |= GICH_LR_GRP1;
        }
        match self.hw {
            Some(p) => {
                v |= GICH_LR_HW | ((p & GICH_LR_PHYSICAL_ID_MASK) << GICH_LR_PHYSICAL_ID_SHIFT)
            }
            None => {
                v |= (u32::from(self.source) & GICH_LR_CPUID_MASK) << GICH_LR_PHYSICAL_ID_SHIFT;
                if self.eoi_maint {
                    v |= GICH_LR_EOI;
                }
            }
        }
        v
    }

    /// Decodes a GICv2 GICH_LR value.
    pub fn from_gich_lr(v: u32) -> Self {
        let hw = v & GICH_LR_HW != 0;
        let phys = (v >> GICH_LR_PHYSICAL_ID_SHIFT) & GICH_LR_PHYSICAL_ID_MASK;
        Self {
            intid: v & GICH_LR_VIRTUAL_ID_MASK,
            state: LrState::from_bits(u64::from(v >> GICH_LR_STATE_SHIFT)),
            priority: (((v >> GICH_LR_PRIORITY_SHIFT) & 0x1F) << 3) as u8,
            group1: v & GICH_LR_GRP1 != 0,
            hw: hw.then_some(phys),
            source: if hw {
                0
            } else {
                (phys & GICH_LR_CPUID_MASK) as u8
            },
            eoi_maint: !hw && v & GICH_LR_EOI != 0,
        }
    }

    /// Encodes as a GICv3 ICH_LR<n>_EL2 value.
    pub fn to_ich_lr(&self) -> u64 {
        let mut v = u64::from(self.intid) & ICH_LR_VIRTUAL_ID_MASK
            | (u64::from(self.priority) << ICH_LR_PRIORITY_SHIFT)
            | ((self.state as u64) << ICH_LR_STATE_SHIFT);
        if self.group1 {
            v |= ICH_LR_GROUP;
        }
        match self.hw {
            Some(p) => {
                v |= ICH_LR_HW | ((u64::from(p) & ICH_LR_PHYS_ID_MASK) << ICH_LR_PHYS_ID_SHIFT)
            }
            None => {
                if self.eoi_maint {
                    v |= ICH_LR_EOI;
                }
            }
        }
        v
    }

    /// Decodes a GICv3 ICH_LR<n>_EL2 value.
    pub fn from_ich_lr(v: u64) -> Self {
        let hw = v & ICH_LR_HW != 0;
        Self {
            intid: (v & ICH_LR_VIRTUAL_ID_MASK) as u32,
            state: LrState::from_bits(v >> ICH_LR_STATE_SHIFT),
            priority: (v >> ICH_LR_PRIORITY_SHIFT) as u8,
            group1: v & ICH_LR_GROUP != 0,
            hw: hw.then_some(((v >> ICH_LR_PHYS_ID_SHIFT) & ICH_LR_PHYS_ID_MASK) as u32),
            source: 0,
            eoi_maint: !hw && v & ICH_LR_EOI != 0,
        }
    }
}

/// What [`Vgic::flush`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlushInfo {
    /// List registers filled (`lrs[..used]`; the rest were set to [`Lr::INVALID`]).
    pub used: usize,
    /// More interrupts wanted delivery than fit: set GICH_HCR.UIE / ICH_HCR_EL2.UIE so the
    /// guest exits when the LRs drain, then fold and flush again.
    pub underflow: bool,
}

/// Candidate ordering key, smaller is better: not-active [31], priority [30:23], INTID [12:3],
/// v2 SGI source [2:0]. Unique per (interrupt, source).
pub(crate) fn cand_key(active: bool, priority: u8, intid: u32, src: u8) -> u32 {
    (u32::from(!active) << 31)
        | (u32::from(priority) << 23)
        | ((intid & 0x3FF) << 3)
        | u32::from(src & 7)
}

/// The best `cap` keys seen, ascending, plus a count of all.
pub(crate) struct TopN {
    pub(crate) keys: [u32; MAX_LRS],
    pub(crate) len: usize,
    pub(crate) cap: usize,
    pub(crate) total: usize,
}

impl TopN {
    pub(crate) fn offer(&mut self, key: u32) {
        self.total += 1;
        if self.cap == 0 {
            return;
        }
        let mut pos = if self.len < self.cap {
            self.len += 1;
            self.len - 1
        } else {
            match self.keys.get(self.cap - 1) {
                Some(&last) if key < last => self.cap - 1,
                _ => return,
            }
        };
        while pos > 0 && self.keys[pos - 1] > key {
            self.keys[pos] = self.keys[pos - 1];
            pos -= 1;
        }
        self.keys[pos] = key;
    }
}

impl Vgic {
    /// Fills `lrs` (at most [`MAX_LRS`] of them) for entering `vcpu`: the active interrupts
    /// routed to it first (so a guest EOI always finds its LR), then the pending, enabled ones by
    /// priority. Edge pending state moves into the LR; each chosen interrupt is marked as held
    /// by this vCPU until [`Self::fold`]. Every flush must be followed by one fold of the same
    /// LRs read back (fold at every exit, flush at every entry, as KVM does).
    ///
    /// Visits only the interrupts whose candidate bit is set and clears the bits of those found
    /// neither pending, active nor held in list registers, so an idle vGIC costs a few words.
    pub fn flush(&mut self, vcpu: usize, lrs: &mut [Lr]) -> FlushInfo {
        for lr in lrs.iter_mut() {
            *lr = Lr::INVALID;
        }
        if vcpu >= self.nr_vcpus {
            return FlushInfo::default();
        }
        let v16 = vcpu as u16;
        let mut top = TopN {
            keys: [0; MAX_LRS],
            len: 0,
            cap: lrs.len().min(MAX_LRS),
            total: 0,
        };
        let v2 = self.version == GicVersion::V2;
        let grp = self.grp_enabled;
        if let (Some(bank), Some(pc)) = (self.private.get_mut(vcpu), self.priv_cand.get_mut(vcpu)) {
            let mut keep = *pc;
            for_each_bit(u64::from(*pc), |n| {
                let intid = n as u32;
                let Some(irq) = bank.get_mut(n) else {
                    keep &= !(1 << n);
                    return;
                };
                if irq.in_lr == v16 {
                    // Stale mark from a flush that was never folded: forget it.
                    irq.in_lr = NO_VCPU;
                }
                let v2sgi = v2 && intid < NR_SGIS;
                if !irq.active && !irq.pending(v2sgi) {
                    keep &= !(1 << n);
                    return;
                }
                if v2sgi {
                    let deliver = irq.enabled && grp[usize::from(irq.group1)];
                    if irq.active {
                        top.offer(cand_key(true, irq.priority, intid, irq.sgi_active_src));
                    }
                    if deliver {
                        for_each_bit(u64::from(irq.sgi_pending_src), |s| {
                            let s = s as u8;
                            if !(irq.active && s == irq.sgi_active_src) {
                                top.offer(cand_key(false, irq.priority, intid, s));
                            }
                        });
                    }
                } else if irq.active || deliverable_in(grp, irq, false) {
                    top.offer(cand_key(irq.active, irq.priority, intid, 0));
                }
            });
            *pc = keep;
        }
        let spis = &mut self.spis;
        for (w, word) in self.spi_cand.iter_mut().enumerate() {
            let mut keep = *word;
            for_each_bit(*word, |b| {
                let i = w * 64 + b;
                let Some(irq) = spis.get_mut(i) else {
                    keep &= !(1 << b);
                    return;
                };
                if irq.in_lr == v16 {
                    // Stale mark from a flush that was never folded: forget it.
                    irq.in_lr = NO_VCPU;
                } else if irq.in_lr != NO_VCPU {
                    // Held by another vCPU: its fold settles it.
                    return;
                }
                if !irq.active && !irq.pending(false) {
                    keep &= !(1 << b);
                    return;
                }
                if (irq.active || deliverable_in(grp, irq, false)) && spi_dest(irq) == Some(vcpu) {
                    let intid = NR_PRIVATE_IRQS + i as u32;
                    top.offer(cand_key(irq.active, irq.priority, intid, 0));
                }
            });
            *word = keep;
        }
        let used = top.len.min(lrs.len());
        for (lr, &key) in lrs.iter_mut().zip(top.keys.iter()).take(used) {
            let active_cand = key & (1 << 31) == 0;
            let intid = (key >> 3) & 0x3FF;
            let src = (key & 7) as u8;
            *lr = self.take_into_lr(vcpu, intid, src, active_cand);
        }
        if let Some(b) = self.lr_busy.get_mut(vcpu) {
            *b = used > 0;
        }
        FlushInfo {
            used,
            underflow: top.total > used,
        }
    }

    /// Builds the LR for one chosen (interrupt, source) and moves state into it (KVM's
    /// `vgic_v{2,3}_populate_lr` rules).
    pub(crate) fn take_into_lr(
        &mut self,
        vcpu: usize,
        intid: u32,
        src: u8,
        active_cand: bool,
    ) -> Lr {
        let v2sgi = self.is_v2_sgi(intid);
        let grp_enabled = self.grp_enabled;
        let Some(irq) = self.irq_mut(vcpu, intid) else {
            return Lr::INVALID;
        };
        let deliver = irq.enabled && grp_enabled[usize::from(irq.group1)];
        irq.in_lr = vcpu as u16;
        let mut lr = Lr {
            intid,
            state: LrState::Invalid,
            priority: irq.priority,
            group1: irq.group1,
            hw: None,
            source: 0,
            eoi_maint: false,
        };
        let mut pending = false;
        let active;
        if v2sgi {
            lr.source = src;
            let bit = 1u8 << (src & 7);
            active = active_cand;
            if (!active_cand || deliver) && irq.sgi_pending_src & bit != 0 {
                pending = true;
                irq.sgi_pending_src &= !bit;
            }
        } else {
            let use_hw = irq.hw.is_some() && irq.hw_active;
            if use_hw {
                lr.hw = irq.hw;
            }
            let level_sw = !irq.edge && !use_hw;
            // Level interrupts are resampled on EOI; never pending+active for them or for HW
            // ones (the pending state of those lives at the line / physical distributor).
            lr.eoi_maint = level_sw;
            active = irq.active;
            let allow_pending = !(irq.active && (use_hw || level_sw));
            if allow_pending && deliver && irq.pending(false) {
                pending = true;
                if !level_sw {
                    irq.latch = false;
                }
            }
        }
        lr.state = LrState::new(pending, active);
        lr
    }

    /// Merges the list registers of `vcpu`, read back after the guest ran, into the interrupt
    /// state and clears the in-LR marks. Pass exactly the LRs the last [`Self::flush`] filled
    /// (`&lrs[..used]`), as read from the hardware. Kicks another vCPU when an interrupt
    /// released here is now deliverable to it; deactivates a physical interrupt whose guest
    /// state was cleared behind the LR's back ([`Effect::HwDeactivate`]).
    pub fn fold(&mut self, vcpu: usize, lrs: &[Lr], fx: &mut Effects) {
        // Nothing is held by `vcpu` (its last flush filled no LR and cleared every stale mark):
        // every pass below would skip every LR.
        if !self.lr_busy.get(vcpu).copied().unwrap_or(false) {
            return;
        }
        self.fold_lrs(vcpu, lrs, fx);
    }

    /// [`Self::fold`] without the shortcut.
    pub(crate) fn fold_lrs(&mut self, vcpu: usize, lrs: &[Lr], fx: &mut Effects) {
        if vcpu >= self.nr_vcpus {
            return;
        }
        let v16 = vcpu as u16;
        let lrs = lrs.get(..lrs.len().min(MAX_LRS)).unwrap_or(&[]);
        // Pass 1: the active state of an interrupt in the LRs is whatever the LRs now say.
        for lr in lrs {
            if let Some(irq) = self.irq_mut(vcpu, lr.intid) {
                if irq.in_lr == v16 {
                    irq.active = false;
                }
            }
        }
        // Pass 2: merge each LR.
        for lr in lrs {
            let v2sgi = self.is_v2_sgi(lr.intid);
            let Some(irq) = self.irq_mut(vcpu, lr.intid) else {
                continue;
            };
            if irq.in_lr != v16 {
                continue;
            }
            let (p, a) = (lr.state.is_pending(), lr.state.is_active());
            if a {
                irq.active = true;
                irq.active_on = v16;
                if v2sgi {
                    irq.sgi_active_src = lr.source & 7;
                }
            }
            if v2sgi {
                if p {
                    irq.sgi_pending_src |= 1 << (lr.source & 7);
                }
            } else if lr.hw.is_some() {
                if p {
                    irq.latch = true;
                } else if !a {
                    // The guest deactivated it, and with it the physical interrupt.
                    irq.hw_active = false;
                }
            } else if irq.edge {
                if p {
                    irq.latch = true;
                }
            } else if !p {
                // Level: acknowledged, so a software pending latch is consumed; the line level
                // alone decides whether it is pending again.
                irq.latch = false;
            }
        }
        // Pass 3: release, apply requests recorded while in the LRs, route onwards.
        for lr in lrs {
            let intid = lr.intid;
            let v2sgi = self.is_v2_sgi(intid);
            let Some(irq) = self.irq_mut(vcpu, intid) else {
                continue;
            };
            if irq.in_lr != v16 {
                continue;
            }
            irq.in_lr = NO_VCPU;
            let f = core::mem::take(&mut irq.fold_flags);
            if f & FOLD_SET_PENDING != 0 && !v2sgi {
                irq.latch = true;
            }
            if f & FOLD_CLEAR_PENDING != 0 && !v2sgi {
                irq.latch = false;
            }
            if f & FOLD_SET_ACTIVE != 0 {
                irq.active = true;
            }
            if f & FOLD_CLEAR_ACTIVE != 0 {
                irq.active = false;
            }
            if !irq.active {
                irq.active_on = NO_VCPU;
            }
            // Normally still set (held in an LR); keep the invariant whatever happened.
            self.mark(vcpu, intid);
            self.settle_hw(vcpu, intid, fx);
            if intid >= NR_PRIVATE_IRQS {
                if let Some(irq) = self.irq(vcpu, intid) {
                    if self.deliverable(irq, intid) {
                        if let Some(t) = self.dest(vcpu, intid, irq).filter(|&t| t != vcpu) {
                            fx.push(Effect::Kick { vcpu: t });
                        }
                    }
                }
            }
        }
    }

    /// The vCPU whose list registers hold `intid` (bank `vcpu` for SGIs/PPIs), if any.
    pub fn in_lr(&self, vcpu: usize, intid: u32) -> Option<usize> {
        self.irq(vcpu, intid).and_then(|i| vcpu_opt(i.in_lr))
    }
}
