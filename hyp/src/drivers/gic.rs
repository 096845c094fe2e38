//! The physical GIC, v2 (ARM IHI 0048B) or v3 (ARM IHI 0069): distributor and CPU-interface
//! set-up for Xenith, interrupt acknowledge/EOI with split priority drop and deactivation
//! (EOImode = 1, so a guest's EOI of a hardware-mapped virtual interrupt deactivates the physical
//! one), SGIs between pCPUs, and raw access to the virtualization interface (GICH for v2, ICH_*
//! system registers for v3). The policy of what goes into the list registers is the `vgic`
//! crate's; this module only moves words.

use super::mmio::Mmio;
use crate::arch::sysreg::{self, icc};
use addr::Pa;

/// First shared peripheral interrupt.
pub const SPI_BASE: u32 = 32;

// GICD (both versions).
const GICD_CTLR: u64 = 0x000;
const GICD_TYPER: u64 = 0x004;
const GICD_IGROUPR: u64 = 0x080;
const GICD_ISENABLER: u64 = 0x100;
const GICD_ICENABLER: u64 = 0x180;
const GICD_ICPENDR: u64 = 0x280;
const GICD_ISACTIVER: u64 = 0x300;
const GICD_ICACTIVER: u64 = 0x380;
const GICD_IPRIORITYR: u64 = 0x400;
const GICD_ITARGETSR: u64 = 0x800;
const GICD_SGIR: u64 = 0xf00;
const GICD_IROUTER: u64 = 0x6000;
const GICD_CTLR_ENABLE_V2: u32 = 1;
const GICD_CTLR_ENABLE_G1: u32 = 1 << 1;
const GICD_CTLR_ARE: u32 = 1 << 4;
const GICD_CTLR_RWP: u32 = 1 << 31;
// GICC (v2).
const GICC_CTLR: u64 = 0x00;
const GICC_PMR: u64 = 0x04;
const GICC_BPR: u64 = 0x08;
const GICC_IAR: u64 = 0x0c;
const GICC_EOIR: u64 = 0x10;
const GICC_DIR: u64 = 0x1000;
const GICC_CTLR_ENABLE: u32 = 1;
const GICC_CTLR_EOIMODE: u32 = 1 << 9;
// GICH (v2).
const GICH_HCR: u64 = 0x00;
const GICH_VTR: u64 = 0x04;
const GICH_VMCR: u64 = 0x08;
const GICH_APR: u64 = 0xf0;
const GICH_LR0: u64 = 0x100;
const GICH_HCR_EN: u32 = 1;
const GICH_HCR_UIE: u32 = 1 << 1;
// GICR (v3): RD_base frame then SGI_base frame.
const GICR_STRIDE: u64 = 0x20000;
const GICR_TYPER: u64 = 0x08;
const GICR_WAKER: u64 = 0x14;
const GICR_TYPER_LAST: u64 = 1 << 4;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
const GICR_SGI_BASE: u64 = 0x10000;
// ICC/ICH (v3).
const ICC_SRE_SRE: u64 = 1;
const ICC_SRE_DFB: u64 = 1 << 1;
const ICC_SRE_DIB: u64 = 1 << 2;
const ICC_SRE_ENABLE: u64 = 1 << 3;
const ICC_CTLR_EOIMODE: u64 = 1 << 1;
const ICH_HCR_EN: u64 = 1;
const ICH_HCR_UIE: u64 = 1 << 1;

/// Priority Xenith gives every interrupt it enables (lower is more urgent; all equal).
const DEFAULT_PRIORITY: u8 = 0xa0;

/// Which GIC and where.
pub enum Gic {
    /// GICv2: distributor, CPU interface, virtual interface control.
    V2 {
        dist: Mmio,
        cpu: Mmio,
        hyp: Mmio,
        nr_lrs: usize,
    },
    /// GICv3: distributor and the redistributor region(s).
    V3 {
        dist: Mmio,
        redist: Pa,
        redist_size: u64,
        nr_lrs: usize,
    },
}

/// Virtual CPU interface state saved when a pCPU switches vCPU.
#[derive(Clone, Copy, Debug, Default)]
pub struct VcpuIfState {
    /// GICH_VMCR / ICH_VMCR_EL2.
    pub vmcr: u64,
    /// GICH_APR / ICH_AP1R0_EL2.
    pub apr: u64,
}

impl Gic {
    /// A GICv2 from its three register frames.
    ///
    /// # Safety
    /// The regions must be the GIC's, identity-mapped as device memory, driven only by this.
    pub unsafe fn new_v2(dist: Pa, cpu: Pa, hyp: Pa) -> Self {
        // SAFETY: forwarded contract.
        let (dist, cpu, hyp) = unsafe { (Mmio::new(dist), Mmio::new(cpu), Mmio::new(hyp)) };
        let nr_lrs = (hyp.read32(GICH_VTR) & 0x3f) as usize + 1;
        Gic::V2 {
            dist,
            cpu,
            hyp,
            nr_lrs,
        }
    }

    /// A GICv3 from its distributor and redistributor region.
    ///
    /// # Safety
    /// As for `new_v2`.
    pub unsafe fn new_v3(dist: Pa, redist: Pa, redist_size: u64) -> Self {
        // SAFETY: forwarded contract.
        let dist = unsafe { Mmio::new(dist) };
        // Enable the system-register interface at EL2 (and let EL1 use it) before reading ICH_*.
        icc::icc_sre_el2::write(ICC_SRE_SRE | ICC_SRE_DFB | ICC_SRE_DIB | ICC_SRE_ENABLE);
        sysreg::isb();
        let nr_lrs = (icc::ich_vtr_el2::read() & 0x1f) as usize + 1;
        Gic::V3 {
            dist,
            redist,
            redist_size,
            nr_lrs,
        }
    }

    /// Version number, 2 or 3.
    pub fn version(&self) -> u8 {
        match self {
            Gic::V2 { .. } => 2,
            Gic::V3 { .. } => 3,
        }
    }

    fn dist(&self) -> &Mmio {
        match self {
            Gic::V2 { dist, .. } | Gic::V3 { dist, .. } => dist,
        }
    }

    /// Number of SPIs the distributor implements (GICD_TYPER.ITLinesNumber).
    pub fn nr_spis(&self) -> u32 {
        let lines = (self.dist().read32(GICD_TYPER) & 0x1f) + 1;
        (lines * 32).min(1020) - SPI_BASE
    }

    /// Number of list registers.
    pub fn nr_lrs(&self) -> usize {
        match self {
            Gic::V2 { nr_lrs, .. } | Gic::V3 { nr_lrs, .. } => *nr_lrs,
        }
    }

    /// Distributor set-up, once, on the boot pCPU: SPIs disabled, cleared, group 1 (v3), default
    /// priority, routed to the boot pCPU.
    pub fn init_distributor(&self, boot_mpidr: u64) {
        let d = self.dist();
        let total = self.nr_spis() + SPI_BASE;
        match self {
            Gic::V2 { .. } => d.write32(GICD_CTLR, 0),
            Gic::V3 { .. } => {
                d.write32(GICD_CTLR, 0);
                self.wait_rwp();
            }
        }
        for n in (SPI_BASE..total).step_by(32) {
            let word = u64::from(n / 32) * 4;
            d.write32(GICD_ICENABLER + word, u32::MAX);
            d.write32(GICD_ICPENDR + word, u32::MAX);
            d.write32(GICD_ICACTIVER + word, u32::MAX);
            if self.version() == 3 {
                d.write32(GICD_IGROUPR + word, u32::MAX);
            }
        }
        for n in SPI_BASE..total {
            d.write8(GICD_IPRIORITYR + u64::from(n), DEFAULT_PRIORITY);
            match self {
                Gic::V2 { .. } => d.write8(GICD_ITARGETSR + u64::from(n), 1),
                Gic::V3 { .. } => d.write64(GICD_IROUTER + 8 * u64::from(n), mpidr_aff(boot_mpidr)),
            }
        }
        match self {
            Gic::V2 { .. } => d.write32(GICD_CTLR, GICD_CTLR_ENABLE_V2),
            Gic::V3 { .. } => {
                d.write32(GICD_CTLR, GICD_CTLR_ARE | GICD_CTLR_ENABLE_G1);
                self.wait_rwp();
            }
        }
    }

    fn wait_rwp(&self) {
        while self.dist().read32(GICD_CTLR) & GICD_CTLR_RWP != 0 {
            core::hint::spin_loop();
        }
    }

    /// This pCPU's redistributor (v3), found by affinity.
    fn my_redist(&self, mpidr: u64) -> Option<Mmio> {
        let Gic::V3 {
            redist,
            redist_size,
            ..
        } = self
        else {
            return None;
        };
        let mut off = 0;
        while off + GICR_STRIDE <= *redist_size {
            // SAFETY: inside the redistributor region given to `new_v3`.
            let rd = unsafe { Mmio::new(Pa(redist.0 + off)) };
            let typer = rd.read64(GICR_TYPER);
            if typer >> 32 == mpidr_aff32(mpidr) {
                return Some(rd);
            }
            if typer & GICR_TYPER_LAST != 0 {
                break;
            }
            off += GICR_STRIDE;
        }
        None
    }

    /// Per-pCPU set-up: banked SGIs/PPIs, the CPU interface with EOImode = 1, and the virtual
    /// interface enabled with empty list registers. Returns this pCPU's GICv2 CPU-interface mask.
    pub fn init_cpu(&self, mpidr: u64) -> u8 {
        match self {
            Gic::V2 {
                dist,
                cpu,
                hyp,
                nr_lrs,
            } => {
                dist.write32(GICD_ICENABLER, u32::MAX);
                dist.write32(GICD_ICACTIVER, u32::MAX);
                for n in 0..SPI_BASE {
                    dist.write8(GICD_IPRIORITYR + u64::from(n), DEFAULT_PRIORITY);
                }
                cpu.write32(GICC_PMR, 0xff);
                cpu.write32(GICC_BPR, 0);
                cpu.write32(GICC_CTLR, GICC_CTLR_ENABLE | GICC_CTLR_EOIMODE);
                for i in 0..*nr_lrs {
                    hyp.write32(GICH_LR0 + 4 * i as u64, 0);
                }
                hyp.write32(GICH_HCR, GICH_HCR_EN);
                // GICD_ITARGETSR0 is banked: its byte 0 reads as this CPU interface's own bit.
                (dist.read32(GICD_ITARGETSR) & 0xff) as u8
            }
            Gic::V3 { nr_lrs, .. } => {
                if let Some(rd) = self.my_redist(mpidr) {
                    let w = rd.read32(GICR_WAKER) & !GICR_WAKER_PROCESSOR_SLEEP;
                    rd.write32(GICR_WAKER, w);
                    while rd.read32(GICR_WAKER) & GICR_WAKER_CHILDREN_ASLEEP != 0 {
                        core::hint::spin_loop();
                    }
                    let sgi = Mmio::new_offset(&rd, GICR_SGI_BASE);
                    sgi.write32(GICD_ICENABLER, u32::MAX);
                    sgi.write32(GICD_ICACTIVER, u32::MAX);
                    sgi.write32(GICD_IGROUPR, u32::MAX);
                    for n in 0..SPI_BASE {
                        sgi.write8(GICD_IPRIORITYR + u64::from(n), DEFAULT_PRIORITY);
                    }
                }
                icc::icc_sre_el2::write(ICC_SRE_SRE | ICC_SRE_DFB | ICC_SRE_DIB | ICC_SRE_ENABLE);
                sysreg::isb();
                icc::icc_pmr_el1::write(0xff);
                icc::icc_bpr1_el1::write(0);
                icc::icc_ctlr_el1::write(ICC_CTLR_EOIMODE);
                icc::icc_igrpen1_el1::write(1);
                for i in 0..*nr_lrs {
                    icc::write_lr(i, 0);
                }
                icc::ich_hcr_el2::write(ICH_HCR_EN);
                sysreg::isb();
                0
            }
        }
    }

    /// Enables an interrupt (`intid` < 32 on this pCPU's bank).
    pub fn enable(&self, intid: u32, mpidr: u64) {
        let (reg, bit) = (u64::from(intid / 32) * 4, 1u32 << (intid % 32));
        match self {
            Gic::V3 { .. } if intid < SPI_BASE => {
                if let Some(rd) = self.my_redist(mpidr) {
                    Mmio::new_offset(&rd, GICR_SGI_BASE).write32(GICD_ISENABLER, bit);
                }
            }
            _ => self.dist().write32(GICD_ISENABLER + reg, bit),
        }
    }

    /// Disables a shared interrupt.
    pub fn disable(&self, intid: u32) {
        if intid >= SPI_BASE {
            self.dist().write32(
                GICD_ICENABLER + u64::from(intid / 32) * 4,
                1 << (intid % 32),
            );
        }
    }

    /// Routes a shared interrupt to one pCPU (GICv2 CPU-interface mask or GICv3 affinity).
    pub fn route(&self, intid: u32, cpu_mask: u8, mpidr: u64) {
        if intid < SPI_BASE {
            return;
        }
        match self {
            Gic::V2 { dist, .. } => dist.write8(GICD_ITARGETSR + u64::from(intid), cpu_mask),
            Gic::V3 { dist, .. } => {
                dist.write64(GICD_IROUTER + 8 * u64::from(intid), mpidr_aff(mpidr))
            }
        }
    }

    /// Acknowledges the highest-priority pending interrupt, if any.
    pub fn ack(&self) -> Option<u32> {
        let intid = match self {
            Gic::V2 { cpu, .. } => cpu.read32(GICC_IAR) & 0x3ff,
            Gic::V3 { .. } => (icc::icc_iar1_el1::read() & 0xffffff) as u32,
        };
        (intid < 1020).then_some(intid)
    }

    /// Priority drop (EOImode = 1: the interrupt stays active).
    pub fn eoi(&self, intid: u32) {
        match self {
            Gic::V2 { cpu, .. } => cpu.write32(GICC_EOIR, intid),
            Gic::V3 { .. } => icc::icc_eoir1_el1::write(u64::from(intid)),
        }
    }

    /// Whether private interrupt `intid` (< 32) is active on this pCPU.
    pub fn ppi_active(&self, intid: u32, mpidr: u64) -> bool {
        let bit = 1u32 << (intid % 32);
        match self {
            Gic::V2 { dist, .. } => dist.read32(GICD_ISACTIVER) & bit != 0,
            Gic::V3 { .. } => self.my_redist(mpidr).is_some_and(|rd| {
                Mmio::new_offset(&rd, GICR_SGI_BASE).read32(GICD_ISACTIVER) & bit != 0
            }),
        }
    }

    /// Sets or clears the active state of private interrupt `intid` (< 32) on this pCPU: a
    /// hardware-mapped interrupt that a descheduled vCPU has not completed is parked this way.
    pub fn set_ppi_active(&self, intid: u32, mpidr: u64, active: bool) {
        let bit = 1u32 << (intid % 32);
        let reg = if active {
            GICD_ISACTIVER
        } else {
            GICD_ICACTIVER
        };
        match self {
            Gic::V2 { dist, .. } => dist.write32(reg, bit),
            Gic::V3 { .. } => {
                if let Some(rd) = self.my_redist(mpidr) {
                    Mmio::new_offset(&rd, GICR_SGI_BASE).write32(reg, bit);
                }
            }
        }
    }

    /// Deactivation (the end of an interrupt Xenith handled itself).
    pub fn deactivate(&self, intid: u32) {
        match self {
            Gic::V2 { cpu, .. } => cpu.write32(GICC_DIR, intid),
            Gic::V3 { .. } => icc::icc_dir_el1::write(u64::from(intid)),
        }
    }

    /// Sends SGI `intid` to one pCPU.
    pub fn send_sgi(&self, intid: u32, cpu_mask: u8, mpidr: u64) {
        match self {
            Gic::V2 { dist, .. } => {
                dist.write32(GICD_SGIR, (u32::from(cpu_mask) << 16) | (intid & 0xf));
            }
            Gic::V3 { .. } => {
                let aff0 = mpidr & 0xf;
                let v = ((mpidr >> 32) & 0xff) << 48
                    | ((mpidr >> 16) & 0xff) << 32
                    | u64::from(intid & 0xf) << 24
                    | ((mpidr >> 8) & 0xff) << 16
                    | 1 << aff0;
                sysreg::dsb_sy();
                icc::icc_sgi1r_el1::write(v);
                sysreg::isb();
            }
        }
    }

    /// Reads list register `n` as the raw hardware word (GICH_LR is 32-bit, ICH_LR 64-bit).
    pub fn read_lr(&self, n: usize) -> u64 {
        match self {
            Gic::V2 { hyp, .. } => u64::from(hyp.read32(GICH_LR0 + 4 * n as u64)),
            Gic::V3 { .. } => icc::read_lr(n),
        }
    }

    /// Writes list register `n`.
    pub fn write_lr(&self, n: usize, v: u64) {
        match self {
            Gic::V2 { hyp, .. } => hyp.write32(GICH_LR0 + 4 * n as u64, v as u32),
            Gic::V3 { .. } => icc::write_lr(n, v),
        }
    }

    /// Virtual interface control: enabled, with the underflow maintenance interrupt if asked.
    pub fn set_underflow_irq(&self, on: bool) {
        match self {
            Gic::V2 { hyp, .. } => {
                hyp.write32(GICH_HCR, GICH_HCR_EN | if on { GICH_HCR_UIE } else { 0 })
            }
            Gic::V3 { .. } => {
                icc::ich_hcr_el2::write(ICH_HCR_EN | if on { ICH_HCR_UIE } else { 0 })
            }
        }
    }

    /// Saves the virtual CPU interface state of the vCPU leaving this pCPU.
    pub fn save_vcpu_if(&self) -> VcpuIfState {
        match self {
            Gic::V2 { hyp, .. } => VcpuIfState {
                vmcr: u64::from(hyp.read32(GICH_VMCR)),
                apr: u64::from(hyp.read32(GICH_APR)),
            },
            Gic::V3 { .. } => VcpuIfState {
                vmcr: icc::ich_vmcr_el2::read(),
                apr: icc::ich_ap1r0_el2::read(),
            },
        }
    }

    /// Loads the virtual CPU interface state of the vCPU entering this pCPU.
    pub fn restore_vcpu_if(&self, s: &VcpuIfState) {
        match self {
            Gic::V2 { hyp, .. } => {
                hyp.write32(GICH_VMCR, s.vmcr as u32);
                hyp.write32(GICH_APR, s.apr as u32);
            }
            Gic::V3 { .. } => {
                icc::ich_vmcr_el2::write(s.vmcr);
                icc::ich_ap1r0_el2::write(s.apr);
            }
        }
    }
}

impl Mmio {
    /// The same block shifted by `off` bytes (a sub-frame such as GICR SGI_base).
    fn new_offset(base: &Mmio, off: u64) -> Mmio {
        // SAFETY: the sub-frame lies inside the block `base` was created for (GICR frames are
        // 128 KiB: RD_base then SGI_base at +64 KiB).
        unsafe { Mmio::new(Pa(base.base().0 + off)) }
    }
}

/// MPIDR affinity fields in GICD_IROUTER layout (Aff3 at [39:32], Aff2..Aff0 at [23:0]).
fn mpidr_aff(mpidr: u64) -> u64 {
    (mpidr & 0xff_00ff_ffff) & !(1 << 31)
}

/// MPIDR affinity packed as GICR_TYPER[63:32] (Aff3.Aff2.Aff1.Aff0).
fn mpidr_aff32(mpidr: u64) -> u64 {
    ((mpidr >> 32) & 0xff) << 24 | (mpidr & 0xff_ffff)
}
