//! Virtual GIC model: the state and policy of the interrupt controller Xenith emulates for its
//! guests, as pure logic the hypervisor drives.
//!
//! Models the GICv2 distributor (ARM IHI 0048B §4.3) and the GICv3 distributor and
//! redistributors with affinity routing always enabled and a single security state (ARM IHI 0069
//! §12.9, §12.10, `GICD_CTLR.{ARE,DS} = 1`, no LPIs/ITS), SGI generation (GICD_SGIR for v2,
//! ICC_SGI1R_EL1 for v3, §12.2.21) and the list-register interface of the virtualization
//! extensions (GICH_LR<n>, IHI 0048B §5.3.11; ICH_LR<n>_EL2, IHI 0069 §12.4.7).
//!
//! Design, after KVM's `arch/arm64/kvm/vgic`: the per-IRQ state held here is the truth, list
//! registers are a per-entry cache. Before entering a vCPU the hypervisor calls [`Vgic::flush`],
//! which picks the best pending/active interrupts for that vCPU and moves them into LRs; after
//! every exit it calls [`Vgic::fold`] with the LRs read back, which merges what the guest did
//! (acknowledge, EOI) into the state. Everything that needs hardware or another vCPU (waking a
//! vCPU, enabling/routing/deactivating a pass-through physical interrupt) is returned as an
//! [`Effect`] in a fixed-capacity [`Effects`] list; nothing here allocates after construction.
//! Flush and the WFI test ([`Vgic::has_deliverable`]) run at every exit, so they visit only the
//! interrupts in a candidate bitmap (a superset of those pending, active or in an LR, pruned
//! lazily by flush): an idle vGIC costs a few words, not a scan of every INTID.
//!
//! Every MMIO offset, size, value and vCPU index is guest-controlled: bad ones give a
//! [`VgicError`] (the hypervisor injects a data abort) or are RAZ/WI, never a panic.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

mod lr;
mod mmio;
#[cfg(test)]
mod reference;
pub mod regs;
#[cfg(test)]
mod tests;

pub use lr::{FlushInfo, Lr, LrState};
pub use mmio::Access;

/// Most vCPUs a [`Vgic`] supports (Xen on ARM's `MAX_VIRT_CPUS`).
pub const MAX_VCPUS: usize = 128;
/// Most vCPUs a GICv2 can address (8-bit CPU target masks).
pub const MAX_V2_VCPUS: usize = 8;
/// Most SPIs (INTIDs 32..1019).
pub const MAX_SPIS: u32 = 988;
/// SGIs + PPIs, banked per vCPU.
pub const NR_PRIVATE_IRQS: u32 = 32;
/// SGIs (INTIDs 0..15).
pub const NR_SGIS: u32 = 16;
/// Most list registers [`Vgic::flush`] fills (GICv2's GICH_VTR.ListRegs allows 64).
pub const MAX_LRS: usize = 64;
/// Implemented priority bits: 5, the most a GICv2 list register holds (as KVM's VGIC_PRI_BITS).
pub const PRIORITY_MASK: u8 = 0xF8;
/// Capacity of [`Effects`] for effects other than [`Effect::Kick`].
pub const MAX_HW_EFFECTS: usize = 64;

const NO_VCPU: u16 = u16::MAX;
const KICK_WORDS: usize = MAX_VCPUS / 64;

// Requests recorded while an interrupt sits in a running vCPU's list registers, applied by fold.
const FOLD_SET_PENDING: u8 = 1 << 0;
const FOLD_CLEAR_PENDING: u8 = 1 << 1;
const FOLD_SET_ACTIVE: u8 = 1 << 2;
const FOLD_CLEAR_ACTIVE: u8 = 1 << 3;

/// Which GIC architecture the guest sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    /// GICv2: memory-mapped CPU interface (GICV), GICD_ITARGETSR routing, GICD_SGIR.
    V2,
    /// GICv3: system-register CPU interface, redistributors, GICD_IROUTER, ICC_SGI1R_EL1.
    V3,
}

/// Shape of a domain's virtual GIC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VgicConfig {
    /// Architecture version.
    pub version: GicVersion,
    /// vCPUs (1..=8 for v2, 1..=[`MAX_VCPUS`] for v3).
    pub nr_vcpus: usize,
    /// SPIs: a multiple of 32 not above [`MAX_SPIS`] (so at most 960: INTIDs 32..991).
    pub nr_spis: u32,
    /// MPIDR affinity of each vCPU (Aff3 [39:32], Aff2 [23:16], Aff1 [15:8], Aff0 [7:0]); one
    /// entry per vCPU, all distinct.
    pub vcpu_mpidr: Vec<u64>,
}

impl VgicConfig {
    /// A configuration whose vCPU affinities follow Xen's `vcpuid_to_vaffinity`: 16 vCPUs per
    /// Aff1 cluster (Aff0 = id % 16, Aff1 = id / 16), so one ICC_SGI1R TargetList covers a cluster.
    pub fn linear(version: GicVersion, nr_vcpus: usize, nr_spis: u32) -> Self {
        let vcpu_mpidr = (0..nr_vcpus)
            .map(|i| {
                let i = i as u64;
                ((i / 16) & 0xFF) << 8 | (i % 16)
            })
            .collect();
        Self {
            version,
            nr_vcpus,
            nr_spis,
            vcpu_mpidr,
        }
    }
}

/// Why a vGIC operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VgicError {
    /// Access size not 1, 2, 4 or 8, or not one the register allows.
    BadAccessSize,
    /// Offset not a multiple of the access size.
    Misaligned,
    /// vCPU index, INTID or offset outside this vGIC.
    OutOfRange,
    /// [`VgicConfig`] not acceptable (counts, affinities).
    InvalidConfig,
}

/// A side effect the hypervisor must carry out after a vGIC call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// `vcpu` has a new deliverable interrupt, or one in its list registers changed: wake it from
    /// WFI / IPI its pCPU so it exits and goes through fold + flush.
    Kick {
        /// The vCPU.
        vcpu: usize,
    },
    /// The guest enabled a hardware-mapped interrupt: enable the physical one.
    HwEnable {
        /// Physical INTID.
        pintid: u32,
    },
    /// The guest disabled a hardware-mapped interrupt: disable the physical one.
    HwDisable {
        /// Physical INTID.
        pintid: u32,
    },
    /// A hardware-mapped SPI now targets `vcpu`: route the physical SPI to its pCPU.
    HwRoute {
        /// Physical INTID.
        pintid: u32,
        /// The new target vCPU.
        vcpu: usize,
    },
    /// The guest cleared the pending/active state of a hardware-mapped interrupt that fired
    /// physically and was only priority-dropped: deactivate the physical interrupt
    /// (GICC_DIR / ICC_DIR_EL1), since no list register will do it any more.
    HwDeactivate {
        /// Physical INTID.
        pintid: u32,
    },
}

/// Fixed-capacity accumulator of [`Effect`]s (no allocation). Kicks are kept as a bitmap of
/// vCPUs (so they never overflow and are deduplicated); other effects in call order. The
/// hypervisor makes one per guest exit that touches the vGIC, so creating it is O(1):
/// `heapless::Vec` leaves its unused slots uninitialised (a zeroed array would be ~1 KiB of
/// stores on every such exit).
#[derive(Clone, Debug)]
pub struct Effects {
    hw: heapless::Vec<Effect, MAX_HW_EFFECTS>,
    kicks: [u64; KICK_WORDS],
    overflow: bool,
}

impl Default for Effects {
    fn default() -> Self {
        Self::new()
    }
}

impl Effects {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            hw: heapless::Vec::new(),
            kicks: [0; KICK_WORDS],
            overflow: false,
        }
    }
    /// Empties the list.
    pub fn clear(&mut self) {
        self.hw.clear();
        self.kicks = [0; KICK_WORDS];
        self.overflow = false;
    }
    /// Records an effect. A non-kick effect past [`MAX_HW_EFFECTS`] sets [`Self::overflowed`]
    /// (one MMIO access produces at most 32; clear the list between calls).
    pub fn push(&mut self, e: Effect) {
        match e {
            Effect::Kick { vcpu } => {
                if let Some(w) = self.kicks.get_mut(vcpu / 64) {
                    *w |= 1 << (vcpu % 64);
                }
            }
            other => {
                if self.hw.push(other).is_err() {
                    self.overflow = true;
                }
            }
        }
    }
    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.hw.is_empty() && self.kicks.iter().all(|&w| w == 0)
    }
    /// Whether a non-kick effect was dropped for lack of room.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }
    /// Whether `vcpu` was kicked.
    pub fn kicked(&self, vcpu: usize) -> bool {
        self.kicks
            .get(vcpu / 64)
            .is_some_and(|w| w & (1 << (vcpu % 64)) != 0)
    }
    /// The non-kick effects, in the order they arose (carry them out in this order).
    pub fn hw_effects(&self) -> &[Effect] {
        &self.hw
    }
    /// The kicked vCPUs, ascending (visiting only the set bits).
    pub fn kicks(&self) -> impl Iterator<Item = usize> + '_ {
        self.kicks.iter().enumerate().flat_map(|(i, &w)| {
            let mut bits = w;
            core::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(i * 64 + b)
            })
        })
    }
    /// All effects: the non-kick ones in order, then one [`Effect::Kick`] per kicked vCPU.
    pub fn iter(&self) -> impl Iterator<Item = Effect> + '_ {
        self.hw_effects()
            .iter()
            .copied()
            .chain(self.kicks().map(|vcpu| Effect::Kick { vcpu }))
    }
}

/// A read-only snapshot of one interrupt's state (for the hypervisor's debug output and tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqInfo {
    /// GICD_ISENABLER bit.
    pub enabled: bool,
    /// Pending (latch, line level, or any SGI source).
    pub pending: bool,
    /// Active.
    pub active: bool,
    /// Priority (top 5 bits significant).
    pub priority: u8,
    /// Group 1.
    pub group1: bool,
    /// Edge-triggered (else level).
    pub edge: bool,
    /// The vCPU it is delivered to now, if any.
    pub target: Option<usize>,
    /// Physical INTID it is mapped to.
    pub hw: Option<u32>,
    /// v2 SGIs: bitmap of source CPUs with a pending instance.
    pub sgi_sources: u8,
    /// The vCPU whose list registers hold it now.
    pub in_lr: Option<usize>,
}

#[derive(Clone, Copy, Debug)]
#[cfg_attr(test, derive(PartialEq, Eq))]
struct Irq {
    enabled: bool,
    /// Edge latch, or software pending (ISPENDR) of a level interrupt.
    latch: bool,
    /// Input line level (level-triggered, not hardware-mapped).
    level: bool,
    active: bool,
    edge: bool,
    group1: bool,
    /// The physical interrupt fired and was priority-dropped only: it waits for the guest's
    /// deactivation through a list register with the HW bit.
    hw_active: bool,
    priority: u8,
    /// v2 GICD_ITARGETSR byte (SPIs).
    targets: u8,
    /// v2 SGIs: sources with a pending instance.
    sgi_pending_src: u8,
    /// v2 SGIs: source of the active instance (valid while `active`).
    sgi_active_src: u8,
    fold_flags: u8,
    /// Resolved target vCPU (SPIs) or `NO_VCPU`.
    target: u16,
    /// vCPU on which it became active (SPIs), or `NO_VCPU`.
    active_on: u16,
    /// vCPU whose list registers hold it, or `NO_VCPU`.
    in_lr: u16,
    /// v3 GICD_IROUTER value (SPIs).
    route: u64,
    hw: Option<u32>,
}

impl Irq {
    const fn new(edge: bool, group1: bool) -> Self {
        Self {
            enabled: false,
            latch: false,
            level: false,
            active: false,
            edge,
            group1,
            hw_active: false,
            priority: 0,
            targets: 0,
            sgi_pending_src: 0,
            sgi_active_src: 0,
            fold_flags: 0,
            target: NO_VCPU,
            active_on: NO_VCPU,
            in_lr: NO_VCPU,
            route: 0,
            hw: None,
        }
    }

    fn pending(&self, v2_sgi: bool) -> bool {
        if v2_sgi {
            self.sgi_pending_src != 0
        } else {
            self.latch || (!self.edge && self.level)
        }
    }
}

fn vcpu_opt(v: u16) -> Option<usize> {
    (v != NO_VCPU).then_some(v as usize)
}

/// Pending, enabled, and its group enabled (`grp` = GICD_CTLR group enables).
fn deliverable_in(grp: [bool; 2], irq: &Irq, v2_sgi: bool) -> bool {
    irq.enabled && grp[usize::from(irq.group1)] && irq.pending(v2_sgi)
}

/// The vCPU an SPI is delivered to: the one it is active on (so its EOI finds its LR), else its
/// target.
fn spi_dest(irq: &Irq) -> Option<usize> {
    if irq.active {
        if let Some(v) = vcpu_opt(irq.active_on) {
            return Some(v);
        }
    }
    vcpu_opt(irq.target)
}

/// Calls `f(index)` for every set bit of `word`, ascending.
#[inline]
fn for_each_bit(mut word: u64, mut f: impl FnMut(usize)) {
    while word != 0 {
        let b = word.trailing_zeros() as usize;
        word &= word - 1;
        f(b);
    }
}

/// The virtual GIC of one domain.
#[derive(Clone, Debug)]
pub struct Vgic {
    version: GicVersion,
    nr_vcpus: usize,
    nr_spis: u32,
    mpidr: Vec<u64>,
    /// GICD_CTLR.EnableGrp0 / EnableGrp1.
    grp_enabled: [bool; 2],
    private: Vec<[Irq; NR_PRIVATE_IRQS as usize]>,
    spis: Vec<Irq>,
    /// GICR_WAKER.ProcessorSleep per vCPU.
    processor_sleep: Vec<bool>,
    /// Candidate bitmaps, so the hot paths ([`Self::flush`], [`Self::has_deliverable`]) visit
    /// only interrupts that may matter. Invariant: every interrupt that is pending (latch, line
    /// level, v2 SGI source), active or held in a list register has its bit set. Bits are set by
    /// every path that can make an interrupt pending or active and cleared lazily by `flush`.
    /// `priv_cand[v]` bit `n`: INTID `n` of vCPU `v`'s bank.
    priv_cand: Vec<u32>,
    /// `spi_cand[w]` bit `b`: INTID `32 + 64 * w + b`.
    spi_cand: Vec<u64>,
    /// Per vCPU: the last flush filled at least one list register, so some interrupt may be
    /// marked as held by it (when false, none is and [`Self::fold`] has nothing to do).
    lr_busy: Vec<bool>,
}

impl Vgic {
    /// A vGIC in its reset state. Defaults follow KVM: group 1 on v3, group 0 on v2; SGIs edge,
    /// PPIs and SPIs level; SPIs target vCPU 0.
    pub fn new(cfg: &VgicConfig) -> Result<Self, VgicError> {
        let max = match cfg.version {
            GicVersion::V2 => MAX_V2_VCPUS,
            GicVersion::V3 => MAX_VCPUS,
        };
        if cfg.nr_vcpus == 0
            || cfg.nr_vcpus > max
            || !cfg.nr_spis.is_multiple_of(32)
            || cfg.nr_spis > MAX_SPIS
            || cfg.vcpu_mpidr.len() != cfg.nr_vcpus
        {
            return Err(VgicError::InvalidConfig);
        }
        let mpidr: Vec<u64> = cfg
            .vcpu_mpidr
            .iter()
            .map(|m| m & regs::MPIDR_AFFINITY_MASK)
            .collect();
        for (i, a) in mpidr.iter().enumerate() {
            if mpidr.iter().skip(i + 1).any(|b| b == a) {
                return Err(VgicError::InvalidConfig);
            }
        }
        let g1 = cfg.version == GicVersion::V3;
        let mut bank = [Irq::new(false, g1); NR_PRIVATE_IRQS as usize];
        for irq in bank.iter_mut().take(NR_SGIS as usize) {
            irq.edge = true;
        }
        let mut spi = Irq::new(false, g1);
        spi.targets = 1;
        spi.target = 0;
        spi.route = mpidr.first().copied().unwrap_or(0);
        Ok(Self {
            version: cfg.version,
            nr_vcpus: cfg.nr_vcpus,
            nr_spis: cfg.nr_spis,
            mpidr,
            grp_enabled: [false; 2],
            private: vec![bank; cfg.nr_vcpus],
            spis: vec![spi; cfg.nr_spis as usize],
            processor_sleep: vec![true; cfg.nr_vcpus],
            priv_cand: vec![0; cfg.nr_vcpus],
            spi_cand: vec![0; (cfg.nr_spis as usize).div_ceil(64)],
            lr_busy: vec![false; cfg.nr_vcpus],
        })
    }

    /// The architecture version.
    pub fn version(&self) -> GicVersion {
        self.version
    }
    /// Number of vCPUs.
    pub fn nr_vcpus(&self) -> usize {
        self.nr_vcpus
    }
    /// Number of SPIs.
    pub fn nr_spis(&self) -> u32 {
        self.nr_spis
    }
    /// One past the highest implemented INTID.
    pub fn nr_irqs(&self) -> u32 {
        NR_PRIVATE_IRQS + self.nr_spis
    }
    /// Size of the distributor frame to map/trap.
    pub fn dist_size(&self) -> u64 {
        match self.version {
            GicVersion::V2 => regs::GICD_V2_SIZE,
            GicVersion::V3 => regs::GICD_V3_SIZE,
        }
    }
    /// Size of the redistributor region (v3: one [`regs::GICR_FRAME_SIZE`] frame per vCPU).
    pub fn redist_size(&self) -> u64 {
        match self.version {
            GicVersion::V2 => 0,
            GicVersion::V3 => regs::GICR_FRAME_SIZE * self.nr_vcpus as u64,
        }
    }
    /// MPIDR affinity of `vcpu`.
    pub fn vcpu_mpidr(&self, vcpu: usize) -> Option<u64> {
        self.mpidr.get(vcpu).copied()
    }
    /// The vCPU whose affinity is `aff` (MPIDR layout; other bits ignored).
    pub fn vcpu_for_affinity(&self, aff: u64) -> Option<usize> {
        let aff = aff & regs::MPIDR_AFFINITY_MASK;
        self.mpidr.iter().position(|&m| m == aff)
    }

    fn is_v2_sgi(&self, intid: u32) -> bool {
        self.version == GicVersion::V2 && intid < NR_SGIS
    }

    fn irq(&self, bank: usize, intid: u32) -> Option<&Irq> {
        if intid < NR_PRIVATE_IRQS {
            self.private.get(bank)?.get(intid as usize)
        } else {
            self.spis.get((intid - NR_PRIVATE_IRQS) as usize)
        }
    }

    fn irq_mut(&mut self, bank: usize, intid: u32) -> Option<&mut Irq> {
        if intid < NR_PRIVATE_IRQS {
            self.private.get_mut(bank)?.get_mut(intid as usize)
        } else {
            self.spis.get_mut((intid - NR_PRIVATE_IRQS) as usize)
        }
    }

    fn check_irq(&self, vcpu: usize, intid: u32) -> Result<(), VgicError> {
        if vcpu >= self.nr_vcpus || intid >= self.nr_irqs() {
            Err(VgicError::OutOfRange)
        } else {
            Ok(())
        }
    }

    /// Pending, enabled, and its group enabled in GICD_CTLR.
    fn deliverable(&self, irq: &Irq, intid: u32) -> bool {
        deliverable_in(self.grp_enabled, irq, self.is_v2_sgi(intid))
    }

    /// Sets the candidate bit of `intid` (bank `bank` for SGIs/PPIs): call after anything that
    /// may have made it pending or active.
    fn mark(&mut self, bank: usize, intid: u32) {
        if intid < NR_PRIVATE_IRQS {
            if let Some(w) = self.priv_cand.get_mut(bank) {
                *w |= 1 << intid;
            }
        } else {
            let i = (intid - NR_PRIVATE_IRQS) as usize;
            if i < self.spis.len() {
                if let Some(w) = self.spi_cand.get_mut(i / 64) {
                    *w |= 1 << (i % 64);
                }
            }
        }
    }

    /// The vCPU that should receive the interrupt: its own bank's vCPU for SGIs/PPIs; for SPIs
    /// the vCPU it is active on (so its EOI finds its LR), else its target.
    fn dest(&self, bank: usize, intid: u32, irq: &Irq) -> Option<usize> {
        if intid < NR_PRIVATE_IRQS {
            return Some(bank);
        }
        spi_dest(irq)
    }

    /// After a state change: kick the vCPU holding the interrupt in its LRs (so it resyncs) and
    /// the vCPU it is now deliverable to.
    fn notify(&self, bank: usize, intid: u32, fx: &mut Effects) {
        let Some(irq) = self.irq(bank, intid) else {
            return;
        };
        if let Some(v) = vcpu_opt(irq.in_lr) {
            fx.push(Effect::Kick { vcpu: v });
        }
        if self.deliverable(irq, intid) {
            if let Some(v) = self.dest(bank, intid, irq) {
                fx.push(Effect::Kick { vcpu: v });
            }
        }
    }

    /// A hardware-mapped interrupt that the guest can no longer deactivate through an LR (no
    /// longer pending nor active, not in an LR) gets its physical interrupt deactivated.
    fn settle_hw(&mut self, bank: usize, intid: u32, fx: &mut Effects) {
        let v2sgi = self.is_v2_sgi(intid);
        let Some(irq) = self.irq_mut(bank, intid) else {
            return;
        };
        if let Some(p) = irq.hw {
            if irq.hw_active && irq.in_lr == NO_VCPU && !irq.active && !irq.pending(v2sgi) {
                irq.hw_active = false;
                fx.push(Effect::HwDeactivate { pintid: p });
            }
        }
    }

    /// Re-resolves an SPI's target after its ITARGETSR/IROUTER changed.
    fn retarget(&mut self, intid: u32, fx: &mut Effects) {
        let nr = self.nr_vcpus;
        let new = match self.irq(0, intid) {
            Some(irq) => match self.version {
                GicVersion::V2 => {
                    let t = irq.targets.trailing_zeros() as usize;
                    (t < nr).then_some(t)
                }
                GicVersion::V3 => {
                    if irq.route & regs::GICD_IROUTER_IRM != 0 {
                        Some(0)
                    } else {
                        self.vcpu_for_affinity(irq.route)
                    }
                }
            },
            None => return,
        };
        let Some(irq) = self.irq_mut(0, intid) else {
            return;
        };
        let new16 = new.map_or(NO_VCPU, |v| v as u16);
        if irq.target != new16 {
            irq.target = new16;
            if let (Some(p), Some(v)) = (irq.hw, new) {
                fx.push(Effect::HwRoute { pintid: p, vcpu: v });
            }
        }
        self.notify(0, intid, fx);
    }

    // ---------------------------------------------------------------- injection

    /// Sets the line level of an interrupt input (an emulated device's output, e.g. the vPL011).
    /// While the interrupt is configured level-sensitive the level is its pending state; when
    /// configured edge-triggered a rising edge latches it. `vcpu` selects the bank for
    /// SGIs/PPIs and is ignored for SPIs.
    pub fn set_level(
        &mut self,
        vcpu: usize,
        intid: u32,
        level: bool,
        fx: &mut Effects,
    ) -> Result<(), VgicError> {
        self.check_irq(vcpu, intid)?;
        if let Some(irq) = self.irq_mut(vcpu, intid) {
            if irq.level == level {
                return Ok(());
            }
            irq.level = level;
            // A rising edge on a line the guest configured as edge-triggered latches it.
            if level && irq.edge {
                irq.latch = true;
            }
        }
        if level {
            self.mark(vcpu, intid);
        }
        self.notify(vcpu, intid, fx);
        Ok(())
    }

    /// Latches an edge on an interrupt (an edge-triggered emulated source, e.g. an event
    /// channel upcall PPI). For a v2 SGI the source CPU recorded is `vcpu` itself.
    pub fn inject_edge(
        &mut self,
        vcpu: usize,
        intid: u32,
        fx: &mut Effects,
    ) -> Result<(), VgicError> {
        self.check_irq(vcpu, intid)?;
        let v2sgi = self.is_v2_sgi(intid);
        if let Some(irq) = self.irq_mut(vcpu, intid) {
            if v2sgi {
                irq.sgi_pending_src |= 1 << (vcpu % 8);
            } else {
                irq.latch = true;
            }
        }
        self.mark(vcpu, intid);
        self.notify(vcpu, intid, fx);
        Ok(())
    }

    /// A hardware-mapped interrupt fired physically; the hypervisor acknowledged it and did the
    /// priority drop only. It is presented with the LR HW bit, so the guest's EOI deactivates the
    /// physical interrupt. Falls back to [`Self::inject_edge`] if `intid` is not mapped.
    pub fn inject_hw(
        &mut self,
        vcpu: usize,
        intid: u32,
        fx: &mut Effects,
    ) -> Result<(), VgicError> {
        self.check_irq(vcpu, intid)?;
        if intid < NR_SGIS {
            return self.inject_edge(vcpu, intid, fx);
        }
        if let Some(irq) = self.irq_mut(vcpu, intid) {
            irq.latch = true;
            irq.hw_active = irq.hw.is_some();
        }
        self.mark(vcpu, intid);
        self.notify(vcpu, intid, fx);
        Ok(())
    }

    /// Maps virtual `intid` to physical `pintid` (16..1020). For SPIs `vcpu` is ignored; for PPIs
    /// it selects the bank, `None` meaning every vCPU.
    pub fn map_hw(
        &mut self,
        vcpu: Option<usize>,
        intid: u32,
        pintid: u32,
    ) -> Result<(), VgicError> {
        self.set_hw(vcpu, intid, Some(pintid))
    }

    /// Removes a hardware mapping (see [`Self::map_hw`]).
    pub fn unmap_hw(&mut self, vcpu: Option<usize>, intid: u32) -> Result<(), VgicError> {
        self.set_hw(vcpu, intid, None)
    }

    fn set_hw(
        &mut self,
        vcpu: Option<usize>,
        intid: u32,
        hw: Option<u32>,
    ) -> Result<(), VgicError> {
        if intid < NR_SGIS
            || intid >= self.nr_irqs()
            || hw.is_some_and(|p| !(16..1020).contains(&p))
        {
            return Err(VgicError::OutOfRange);
        }
        let (lo, hi) = match vcpu {
            _ if intid >= NR_PRIVATE_IRQS => (0, 1),
            Some(v) if v < self.nr_vcpus => (v, v + 1),
            Some(_) => return Err(VgicError::OutOfRange),
            None => (0, self.nr_vcpus),
        };
        for b in lo..hi {
            if let Some(irq) = self.irq_mut(b, intid) {
                irq.hw = hw;
                irq.hw_active = false;
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- SGIs

    /// A v2 SGI from `src` to the vCPUs in `targets` (bitmap).
    fn send_sgi_v2(&mut self, src: usize, intid: u32, targets: u8, fx: &mut Effects) {
        for t in 0..self.nr_vcpus.min(MAX_V2_VCPUS) {
            if targets & (1 << t) == 0 {
                continue;
            }
            if let Some(irq) = self.irq_mut(t, intid) {
                irq.sgi_pending_src |= 1 << (src % 8);
            }
            self.mark(t, intid);
            self.notify(t, intid, fx);
        }
    }

    fn pend_sgi_v3(&mut self, target: usize, intid: u32, group1: bool, fx: &mut Effects) {
        if let Some(irq) = self.irq_mut(target, intid) {
            // IHI 0069 §12.2.21: an SGI1R write is not forwarded to a target where that SGI is
            // configured Group 0 (and ICC_SGI0R_EL1 likewise for Group 1).
            if irq.group1 != group1 {
                return;
            }
            irq.latch = true;
        }
        self.mark(target, intid);
        self.notify(target, intid, fx);
    }

    /// The guest on `vcpu` wrote ICC_SGI1R_EL1 (GICv3 only; ignored on a v2 vGIC).
    pub fn write_sgi1r(&mut self, vcpu: usize, value: u64, fx: &mut Effects) {
        self.write_sgi(vcpu, value, true, fx);
    }

    /// The guest on `vcpu` wrote ICC_SGI0R_EL1 (Group 0 SGIs; same layout as ICC_SGI1R_EL1).
    pub fn write_sgi0r(&mut self, vcpu: usize, value: u64, fx: &mut Effects) {
        self.write_sgi(vcpu, value, false, fx);
    }

    fn write_sgi(&mut self, vcpu: usize, value: u64, group1: bool, fx: &mut Effects) {
        if self.version != GicVersion::V3 || vcpu >= self.nr_vcpus {
            return;
        }
        let intid = ((value >> regs::ICC_SGI1R_SGI_ID_SHIFT) & 0xF) as u32;
        if value & (1 << regs::ICC_SGI1R_IRQ_ROUTING_MODE_BIT) != 0 {
            for t in (0..self.nr_vcpus).filter(|&t| t != vcpu) {
                self.pend_sgi_v3(t, intid, group1, fx);
            }
            return;
        }
        let aff3 = (value >> regs::ICC_SGI1R_AFFINITY_3_SHIFT) & 0xFF;
        let aff2 = (value >> regs::ICC_SGI1R_AFFINITY_2_SHIFT) & 0xFF;
        let aff1 = (value >> regs::ICC_SGI1R_AFFINITY_1_SHIFT) & 0xFF;
        let rs = (value >> regs::ICC_SGI1R_RS_SHIFT) & 0xF;
        let list = value & regs::ICC_SGI1R_TARGET_LIST_MASK;
        for bit in 0..16u64 {
            if list & (1 << bit) == 0 {
                continue;
            }
            let aff0 = rs * 16 + bit;
            let aff = aff3 << 32 | aff2 << 16 | aff1 << 8 | aff0;
            if let Some(t) = self.vcpu_for_affinity(aff) {
                self.pend_sgi_v3(t, intid, group1, fx);
            }
        }
    }

    // ---------------------------------------------------------------- queries

    /// Whether `vcpu` has an interrupt that is pending, enabled, of an enabled group and routed
    /// to it (the WFI wake-up test). Priority masking is left to the hardware.
    pub fn has_deliverable(&self, vcpu: usize) -> bool {
        let (Some(bank), Some(&pc)) = (self.private.get(vcpu), self.priv_cand.get(vcpu)) else {
            return false;
        };
        let grp = self.grp_enabled;
        let v2 = self.version == GicVersion::V2;
        let mut found = false;
        for_each_bit(u64::from(pc), |n| {
            if let Some(irq) = bank.get(n) {
                found |= deliverable_in(grp, irq, v2 && (n as u32) < NR_SGIS);
            }
        });
        if found {
            return true;
        }
        for (w, &word) in self.spi_cand.iter().enumerate() {
            for_each_bit(word, |b| {
                if let Some(irq) = self.spis.get(w * 64 + b) {
                    found |= deliverable_in(grp, irq, false)
                        && (irq.in_lr == NO_VCPU || irq.in_lr as usize == vcpu)
                        && spi_dest(irq) == Some(vcpu);
                }
            });
            if found {
                return true;
            }
        }
        false
    }

    /// A snapshot of interrupt `intid` (bank `vcpu` for SGIs/PPIs).
    pub fn irq_info(&self, vcpu: usize, intid: u32) -> Option<IrqInfo> {
        if vcpu >= self.nr_vcpus {
            return None;
        }
        let irq = self.irq(vcpu, intid)?;
        Some(IrqInfo {
            enabled: irq.enabled,
            pending: irq.pending(self.is_v2_sgi(intid)),
            active: irq.active,
            priority: irq.priority,
            group1: irq.group1,
            edge: irq.edge,
            target: self.dest(vcpu, intid, irq),
            hw: irq.hw,
            sgi_sources: irq.sgi_pending_src,
            in_lr: vcpu_opt(irq.in_lr),
        })
    }

    /// GICD_CTLR group enables (Group 0, Group 1).
    pub fn group_enabled(&self) -> [bool; 2] {
        self.grp_enabled
    }
}
