//! Minimal EL1 GIC driver for SGIs and PPIs (IHI 0048B for GICv2, IHI 0069 for GICv3).
//!
//! MMIO goes through single `ldr`/`str` instructions without writeback, so a hypervisor that
//! traps the access gets a valid ESR.ISS syndrome (ISV = 1).

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::SeqCst};

use crate::board::{board, GicInfo, MPIDR_AFF_MASK};
use crate::{cpu_index, wait_for, MAX_CPUS};

// GICv2 distributor / CPU interface registers.
const GICD_CTLR: usize = 0x000;
const GICD_IGROUPR: usize = 0x080;
const GICD_ISENABLER: usize = 0x100;
const GICD_ICENABLER: usize = 0x180;
const GICD_IPRIORITYR: usize = 0x400;
const GICD_ITARGETSR: usize = 0x800;
const GICD_SGIR: usize = 0xf00;
const GICC_CTLR: usize = 0x00;
const GICC_PMR: usize = 0x04;
const GICC_BPR: usize = 0x08;
const GICC_IAR: usize = 0x0c;
const GICC_EOIR: usize = 0x10;
// GICv3 additions.
const GICD_CTLR_RWP: u32 = 1 << 31;
/// ARE_NS | EnableGrp1A | EnableGrp1 (ARE | EnableGrp1 | EnableGrp0 with one security state).
const GICD_CTLR_V3_ENABLE: u32 = (1 << 4) | (1 << 1) | 1;
const GICR_CTLR: usize = 0x0000;
const GICR_CTLR_RWP: u32 = 1 << 3;
const GICR_TYPER: usize = 0x0008;
const GICR_TYPER_VLPIS: u64 = 1 << 1;
const GICR_TYPER_LAST: u64 = 1 << 4;
const GICR_WAKER: usize = 0x0014;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
const GICR_SGI_BASE: usize = 0x1_0000;
const GICR_FRAME: usize = 0x2_0000;
/// Priority given to every SGI/PPI; the priority mask lets all of them through.
const PRIORITY: u8 = 0xa0;
const PMR: u32 = 0xf0;
/// Interrupt ids from 1020 up are special (1023 = spurious).
pub const SPURIOUS: u32 = 1023;

/// Reads a 32-bit device register.
pub fn mmio_read32(addr: usize) -> u32 {
    let v: u32;
    // SAFETY: callers pass device registers taken from the DT (identity-mapped Device memory);
    // reads have no memory-safety effect on Rust objects.
    unsafe { asm!("ldr {v:w}, [{a}]", a = in(reg) addr, v = out(reg) v, options(nostack)) };
    v
}

/// Writes a 32-bit device register.
pub fn mmio_write32(addr: usize, v: u32) {
    // SAFETY: as for `mmio_read32`: a device register from the DT, not Rust-owned memory.
    unsafe { asm!("str {v:w}, [{a}]", a = in(reg) addr, v = in(reg) v, options(nostack)) };
}

fn mmio_read64(addr: usize) -> u64 {
    u64::from(mmio_read32(addr)) | (u64::from(mmio_read32(addr + 4)) << 32)
}

fn mmio_read8(addr: usize) -> u8 {
    let v: u32;
    // SAFETY: as for `mmio_read32` (byte-accessible GICD_ITARGETSR).
    unsafe { asm!("ldrb {v:w}, [{a}]", a = in(reg) addr, v = out(reg) v, options(nostack)) };
    v as u8
}

macro_rules! sysreg {
    (read $enc:literal) => {{
        let v: u64;
        // SAFETY: reading a GICv3 CPU interface register has no memory effects.
        unsafe { asm!(concat!("mrs {}, ", $enc), out(reg) v, options(nostack)) };
        v
    }};
    (write $enc:literal, $v:expr) => {{
        let v: u64 = $v;
        // SAFETY: GICv3 CPU interface register writes only affect interrupt delivery to this CPU.
        unsafe { asm!(concat!("msr ", $enc, ", {}"), "isb", in(reg) v, options(nostack)) };
    }};
}
// ICC_*_EL1 are named by encoding (GICv3 spec 12.2), which every assembler accepts.

/// Per CPU: GICv2 CPU-interface mask (from ITARGETSR0), GICv3 redistributor base.
static V2_MASK: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(0) }; MAX_CPUS];
static REDIST: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
static DIST_DONE: AtomicBool = AtomicBool::new(false);

fn gicd() -> usize {
    match board().gic {
        GicInfo::V2 { dist, .. } | GicInfo::V3 { dist, .. } => dist.raw() as usize,
        GicInfo::None => 0,
    }
}

/// Base of the registers that bank SGI/PPI state for this CPU (GICD for v2, SGI frame for v3).
fn banked() -> usize {
    match board().gic {
        GicInfo::V3 { .. } => REDIST[cpu_index()].load(SeqCst) + GICR_SGI_BASE,
        _ => gicd(),
    }
}

fn find_redist(mpidr: u64) -> Option<usize> {
    let GicInfo::V3 {
        redist, nredist, ..
    } = board().gic
    else {
        return None;
    };
    let aff = ((mpidr >> 8) & 0xff00_0000) | (mpidr & 0xff_ffff);
    for &(base, size) in &redist[..nredist] {
        let (mut rd, end) = (
            base.raw() as usize,
            base.raw().saturating_add(size) as usize,
        );
        while rd < end {
            let typer = mmio_read64(rd + GICR_TYPER);
            if typer >> 32 == aff {
                return Some(rd);
            }
            if typer & GICR_TYPER_LAST != 0 {
                break;
            }
            rd += if typer & GICR_TYPER_VLPIS != 0 {
                2 * GICR_FRAME
            } else {
                GICR_FRAME
            };
        }
    }
    None
}

/// Initialises the distributor (once) and this CPU's interface; all SGIs enabled, PPIs disabled.
/// Returns a description of what failed, if anything.
pub fn init_cpu() -> Result<(), &'static str> {
    let b = board();
    let me = cpu_index();
    match b.gic {
        GicInfo::None => return Err("no GIC in the DT"),
        GicInfo::V2 { cpu, .. } => {
            let d = gicd();
            if !DIST_DONE.swap(true, SeqCst) {
                mmio_write32(d + GICD_CTLR, 1);
            }
            mmio_write32(d + GICD_ICENABLER, 0xffff_0000);
            let prio = u32::from_ne_bytes([PRIORITY; 4]);
            for i in 0..8 {
                mmio_write32(d + GICD_IPRIORITYR + 4 * i, prio);
            }
            mmio_write32(d + GICD_ISENABLER, 0xffff);
            let mask = mmio_read8(d + GICD_ITARGETSR);
            V2_MASK[me].store(mask, SeqCst);
            let c = cpu.raw() as usize;
            mmio_write32(c + GICC_PMR, PMR);
            mmio_write32(c + GICC_BPR, 0);
            mmio_write32(c + GICC_CTLR, 1);
            if mask == 0 {
                return Err("GICD_ITARGETSR0 reads 0 (no CPU interface number)");
            }
        }
        GicInfo::V3 { .. } => {
            let d = gicd();
            if !DIST_DONE.swap(true, SeqCst) {
                mmio_write32(d + GICD_CTLR, 0);
                wait_for(100, || mmio_read32(d + GICD_CTLR) & GICD_CTLR_RWP == 0);
                mmio_write32(d + GICD_CTLR, GICD_CTLR_V3_ENABLE);
                wait_for(100, || mmio_read32(d + GICD_CTLR) & GICD_CTLR_RWP == 0);
            }
            let mpidr = aarch64_cpu::registers::Readable::get(&aarch64_cpu::registers::MPIDR_EL1);
            let rd = find_redist(mpidr).ok_or("no redistributor with this CPU's affinity")?;
            REDIST[me].store(rd, SeqCst);
            let w = mmio_read32(rd + GICR_WAKER) & !GICR_WAKER_PROCESSOR_SLEEP;
            mmio_write32(rd + GICR_WAKER, w);
            if !wait_for(100, || {
                mmio_read32(rd + GICR_WAKER) & GICR_WAKER_CHILDREN_ASLEEP == 0
            }) {
                return Err("GICR_WAKER.ChildrenAsleep stays set");
            }
            let sgi = rd + GICR_SGI_BASE;
            mmio_write32(sgi + GICD_IGROUPR, 0xffff_ffff);
            mmio_write32(sgi + GICD_ICENABLER, 0xffff_0000);
            wait_for(100, || mmio_read32(rd + GICR_CTLR) & GICR_CTLR_RWP == 0);
            let prio = u32::from_ne_bytes([PRIORITY; 4]);
            for i in 0..8 {
                mmio_write32(sgi + GICD_IPRIORITYR + 4 * i, prio);
            }
            mmio_write32(sgi + GICD_ISENABLER, 0xffff);
            sysreg!(write "s3_0_c12_c12_5" /* ICC_SRE_EL1 */, sysreg!(read "s3_0_c12_c12_5" /* ICC_SRE_EL1 */) | 1);
            if sysreg!(read "s3_0_c12_c12_5" /* ICC_SRE_EL1 */) & 1 == 0 {
                return Err("ICC_SRE_EL1.SRE does not stick");
            }
            sysreg!(write "s3_0_c4_c6_0" /* ICC_PMR_EL1 */, u64::from(PMR));
            sysreg!(write "s3_0_c12_c12_3" /* ICC_BPR1_EL1 */, 0);
            sysreg!(write "s3_0_c12_c12_4" /* ICC_CTLR_EL1 */, 0);
            sysreg!(write "s3_0_c12_c12_7" /* ICC_IGRPEN1_EL1 */, 1);
        }
    }
    Ok(())
}

/// Enables SGI/PPI `intid` on this CPU.
pub fn enable(intid: u32) {
    mmio_write32(banked() + GICD_ISENABLER, 1 << (intid % 32));
}

/// Disables SGI/PPI `intid` on this CPU (and waits for it to take effect on GICv3).
pub fn disable(intid: u32) {
    mmio_write32(banked() + GICD_ICENABLER, 1 << (intid % 32));
    if let GicInfo::V3 { .. } = board().gic {
        let rd = REDIST[cpu_index()].load(SeqCst);
        wait_for(100, || mmio_read32(rd + GICR_CTLR) & GICR_CTLR_RWP == 0);
    }
}

/// Whether SGI/PPI `intid` is enabled on this CPU.
pub fn is_enabled(intid: u32) -> bool {
    mmio_read32(banked() + GICD_ISENABLER) & (1 << (intid % 32)) != 0
}

/// Sends SGI `intid` (0..15) to the CPU with index `cpu`.
pub fn send_sgi(intid: u32, cpu: usize) {
    let b = board();
    match b.gic {
        GicInfo::V2 { .. } => {
            let mask = V2_MASK.get(cpu).map_or(0, |m| m.load(SeqCst));
            mmio_write32(gicd() + GICD_SGIR, (u32::from(mask) << 16) | (intid & 0xf));
        }
        GicInfo::V3 { .. } => {
            let m = b.mpidr.get(cpu).copied().unwrap_or(0) & MPIDR_AFF_MASK;
            let aff0 = m & 0xff;
            let v = (((m >> 32) & 0xff) << 48)
                | ((aff0 >> 4) << 44)
                | (((m >> 16) & 0xff) << 32)
                | (u64::from(intid & 0xf) << 24)
                | (((m >> 8) & 0xff) << 16)
                | (1 << (aff0 & 0xf));
            sysreg!(write "s3_0_c12_c11_5" /* ICC_SGI1R_EL1 */, v);
        }
        GicInfo::None => {}
    }
}

/// Acknowledges the highest-priority pending interrupt; returns the raw IAR value.
pub fn ack() -> u32 {
    match board().gic {
        GicInfo::V2 { cpu, .. } => mmio_read32(cpu.raw() as usize + GICC_IAR),
        GicInfo::V3 { .. } => sysreg!(read "s3_0_c12_c12_0" /* ICC_IAR1_EL1 */) as u32,
        GicInfo::None => SPURIOUS,
    }
}

/// Signals end of interrupt for a value returned by [`ack`].
pub fn eoi(iar: u32) {
    match board().gic {
        GicInfo::V2 { cpu, .. } => mmio_write32(cpu.raw() as usize + GICC_EOIR, iar),
        GicInfo::V3 { .. } => sysreg!(write "s3_0_c12_c12_1" /* ICC_EOIR1_EL1 */, u64::from(iar)),
        GicInfo::None => {}
    }
}
