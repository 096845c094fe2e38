//! Boot: the host Device Tree (Xen's boot protocol), Xenith's own set-up on every pCPU, the
//! secondary pCPUs, then dom0 and the dom0less domains.

mod dom0;
mod dom0less;

use crate::arch::sysreg;
use crate::drivers::gic::Gic;
use crate::drivers::uart::Pl011;
use crate::hw::{self, Irqs, SGI_KICK};
use crate::{console, mm, percpu, smp, vcpu};
use aarch64_cpu::registers::{Readable, Writeable, CNTHCTL_EL2, HCR_EL2, MIDR_EL1, MPIDR_EL1};
use addr::{Pa, Region};
use core::sync::atomic::Ordering;
use frames::FrameAllocator;
use xen_dt::host::{parse_cmdline, parse_host, GicInfo, HostInfo, LogLevel};
use xen_dt::tree::Tree;

/// FDT header magic (Devicetree Specification 5.2).
const FDT_MAGIC: u32 = 0xd00d_feed;
/// Largest host DT Xenith accepts.
const FDT_MAX_SIZE: u32 = 2 << 20;
/// QEMU virt's PL011, used only to report a missing or broken host DT (nothing else tells us
/// where a console is).
const FALLBACK_UART: Pa = Pa(0x0900_0000);

extern "C" {
    static _image_start: u8;
    static _image_end: u8;
}

/// Xenith's command line (`xen,xen-bootargs`), for XENVER_commandline.
static CMDLINE: spin::Once<alloc::string::String> = spin::Once::new();

/// Xenith's command line.
pub fn xen_cmdline() -> &'static str {
    CMDLINE.get().map_or("", |s| s.as_str())
}

/// The MPIDR affinity bits (Aff3, Aff2, Aff1, Aff0).
const MPIDR_AFF_MASK: u64 = 0xff_00ff_ffff;

fn fatal(msg: core::fmt::Arguments) -> ! {
    console::emergency(msg);
    console::emergency(format_args!("Xenith cannot continue; stopping."));
    crate::arch::halt()
}

fn read_host_dt(dtb: Pa) -> Result<Tree, &'static str> {
    if dtb.0 == 0 || !dtb.is_aligned(8) {
        return Err("no Device Tree in x0 (boot Xenith like a Linux Image, with a DTB)");
    }
    // SAFETY: the boot protocol hands us a DTB in RAM; the 8-byte header is read first to bound
    // the slice, and nothing writes the DTB while Xenith parses it.
    let header = unsafe { mm::slice(dtb, 8) };
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if magic != FDT_MAGIC {
        return Err("x0 does not point at a Device Tree (bad magic)");
    }
    if size > FDT_MAX_SIZE {
        return Err("host Device Tree larger than 2 MiB");
    }
    // SAFETY: as above, with the size from the header (bounded to 2 MiB).
    let bytes = unsafe { mm::slice(dtb, u64::from(size)) };
    Tree::from_dtb(bytes).map_err(|_| "host Device Tree is malformed")
}

/// Whether Xenith switches all of this CPU's guest-visible state between vCPUs sharing a pCPU:
/// not yet the SVE/SME vector state or the pointer-authentication keys.
pub fn full_state_switch() -> bool {
    let isar1 = sysreg::read!(id_aa64isar1_el1);
    let pauth = (isar1 >> 4) & 0xff != 0 || (isar1 >> 24) & 0xff != 0;
    let sve = (sysreg::read!(id_aa64pfr0_el1) >> 32) & 0xf != 0;
    let sme = (sysreg::read!(id_aa64pfr1_el1) >> 24) & 0xf != 0;
    !(pauth || sve || sme)
}

/// EL2 configuration of one pCPU for running guests (ARM ARM D13.2: HCR_EL2, CPTR_EL2,
/// CNTHCTL_EL2, VTCR_EL2, VPIDR_EL2).
fn setup_el2() {
    let isar1 = sysreg::read!(id_aa64isar1_el1);
    let pauth = (isar1 >> 4) & 0xff != 0 || (isar1 >> 24) & 0xff != 0;
    let mut hcr = HCR_EL2::VM::Enable
        + HCR_EL2::SWIO::SET
        + HCR_EL2::FMO::SET
        + HCR_EL2::IMO::SET
        + HCR_EL2::AMO::SET
        + HCR_EL2::FB::SET
        + HCR_EL2::BSU::InnerShareable
        + HCR_EL2::TWI::SET
        + HCR_EL2::TWE::SET
        + HCR_EL2::TSC::SET
        + HCR_EL2::RW::EL1IsAarch64;
    if pauth {
        // Guests use their pointer-authentication keys directly (they are switched with the
        // vCPU only when vCPUs share a pCPU; today each vCPU is pinned to its own pCPU).
        hcr += HCR_EL2::API::DisableTrapPointerAuthInstToEl2
            + HCR_EL2::APK::DisableTrapPointerAuthKeyRegsToEl2;
    }
    HCR_EL2.write(hcr);
    // CPTR_EL2: trap nothing (FP/SIMD, SVE, SME stay usable by the guest); RES1 bits 13, 9,
    // 7:0, and TSM (bit 12) is RES1 when SME is absent.
    let pfr0 = sysreg::read!(id_aa64pfr0_el1);
    let pfr1 = sysreg::read!(id_aa64pfr1_el1);
    let has_sve = (pfr0 >> 32) & 0xf != 0;
    let has_sme = (pfr1 >> 24) & 0xf != 0;
    let cptr_res1: u64 = 0xff | 1 << 9 | 1 << 13 | if has_sme { 0 } else { 1 << 12 };
    sysreg::write!(cptr_el2, cptr_res1);
    sysreg::isb();
    if has_sve {
        // ZCR_EL2.LEN = maximum: the guest may use every vector length the hardware has.
        // SAFETY: ZCR_EL2 exists when ID_AA64PFR0_EL1.SVE != 0 (checked above).
        unsafe { core::arch::asm!("msr S3_4_C1_C2_0, {}", in(reg) 0xfu64, options(nostack)) };
    }
    if has_sme {
        // SMCR_EL2.LEN = maximum.
        // SAFETY: SMCR_EL2 exists when ID_AA64PFR1_EL1.SME != 0 (checked above).
        unsafe { core::arch::asm!("msr S3_4_C1_C2_6, {}", in(reg) 0xfu64, options(nostack)) };
    }
    // The guest reads the physical counter; its physical timer registers trap.
    CNTHCTL_EL2.write(CNTHCTL_EL2::EL1PCTEN::SET);
    let parange = (sysreg::read!(id_aa64mmfr0_el1) & 0xf) as u8;
    sysreg::write!(vtcr_el2, stage2::vtcr_el2(parange));
    sysreg::write!(vpidr_el2, MIDR_EL1.get());
    sysreg::write!(hstr_el2, 0);
    sysreg::isb();
}

fn gic_from(info: &HostInfo) -> Gic {
    match &info.gic {
        // SAFETY: the regions come from the host DT's GIC node, are device memory in the EL2
        // identity map (below 1 GiB on QEMU virt) and are driven only by this driver; the guest
        // sees the GICV frame through its stage 2, never GICD/GICH.
        GicInfo::V2 { dist, cpu, hyp, .. } => unsafe {
            Gic::new_v2(dist.start, cpu.start, hyp.start)
        },
        GicInfo::V3 { dist, redist, .. } => {
            let r = redist.first().copied().unwrap_or(Region::new(Pa(0), 0));
            // SAFETY: as for v2.
            unsafe { Gic::new_v3(dist.start, r.start, r.size) }
        }
    }
}

/// Per-pCPU set-up shared by the boot and secondary pCPUs.
fn cpu_init(index: usize) {
    let mpidr = MPIDR_EL1.get() & MPIDR_AFF_MASK;
    percpu::init(index, mpidr);
    setup_el2();
    let gic = hw::gic();
    let mask = gic.init_cpu(mpidr);
    let p = percpu::this();
    p.gic_mask.store(mask, Ordering::Relaxed);
    let irqs = hw::irqs();
    gic.enable(SGI_KICK, mpidr);
    gic.enable(irqs.maintenance, mpidr);
    gic.enable(irqs.vtimer, mpidr);
    if let Some(t) = irqs.hyp_timer {
        gic.enable(t, mpidr);
    }
    p.online.store(true, Ordering::Release);
}

/// The boot pCPU: everything, then dom0, then the run loop.
pub fn primary(dtb: Pa) -> ! {
    mm::init_heap();
    let tree = match read_host_dt(dtb) {
        Ok(t) => t,
        Err(e) => {
            // SAFETY: QEMU virt's PL011, used only to report that there is no usable DT.
            console::init(unsafe { Pl011::new(FALLBACK_UART) });
            fatal(format_args!("{e}"))
        }
    };
    let info = match parse_host(&tree) {
        Ok(i) => i,
        Err(e) => {
            // SAFETY: as above.
            console::init(unsafe { Pl011::new(FALLBACK_UART) });
            fatal(format_args!("cannot use the host Device Tree: {e:?}"))
        }
    };
    let uart = info.uart.as_ref().map_or(FALLBACK_UART, |u| u.base);
    // SAFETY: the UART named by the host DT's stdout-path, device memory in the identity map;
    // Xenith removes it from dom0's DT so nothing else drives it.
    console::init(unsafe { Pl011::new(uart) });
    CMDLINE.call_once(|| alloc::string::String::from(info.xen_cmdline()));
    let cmd = parse_cmdline(info.xen_cmdline());
    let level = |l: Option<LogLevel>, default: u8| {
        l.map_or(default, |l| match l {
            LogLevel::None => 0,
            LogLevel::Error => 1,
            LogLevel::Warning => 2,
            LogLevel::Info => 3,
            LogLevel::Debug => 4,
            LogLevel::All => 5,
        })
    };
    console::set_levels(
        level(cmd.loglvl, console::LEVEL_WARNING),
        level(cmd.guest_loglvl, console::LEVEL_WARNING),
    );
    let ram: u64 = info.memory.iter().map(|r| r.size).sum();
    let gic_version = match info.gic {
        GicInfo::V2 { .. } => 2,
        GicInfo::V3 { .. } => 3,
    };
    info!(
        "Xenith {} - a Xen 4.17-compatible hypervisor for Arm, in Rust",
        crate::VERSION
    );
    info!(
        "EL2, {} pCPUs, {} MiB RAM, GICv{gic_version}, command line: {}",
        info.cpus.len(),
        ram >> 20,
        info.xen_cmdline()
    );
    for u in &cmd.unknown {
        info!("ignoring unknown command-line option '{u}'");
    }

    let mut frames = match FrameAllocator::new(&info.memory) {
        Ok(f) => f,
        Err(e) => fatal(format_args!("no usable RAM in the host DT: {e:?}")),
    };
    let (img_start, img_end) = (
        core::ptr::addr_of!(_image_start) as u64,
        core::ptr::addr_of!(_image_end) as u64,
    );
    frames.reserve(Pa(img_start), img_end - img_start);
    frames.reserve(dtb, u64::from(FDT_MAX_SIZE));
    for m in info
        .modules
        .iter()
        .chain(info.dom0less.iter().flat_map(|d| d.modules()))
    {
        frames.reserve(m.region.start, m.region.size);
    }
    *mm::FRAMES.lock() = Some(frames);

    let irqs = Irqs {
        maintenance: info.gic.maint_irq(),
        vtimer: info.timer.irqs[2].unwrap_or(27),
        hyp_timer: info.timer.irqs[3],
        uart: info.uart.as_ref().and_then(|u| u.spi),
    };
    hw::IRQS.call_once(|| irqs);
    let gic = hw::GIC.call_once(|| gic_from(&info));
    let boot_mpidr = MPIDR_EL1.get() & MPIDR_AFF_MASK;
    gic.init_distributor(boot_mpidr);
    cpu_init(0);
    if let Some(spi) = hw::irqs().uart {
        gic.route(
            spi,
            percpu::this().gic_mask.load(Ordering::Relaxed),
            boot_mpidr,
        );
        gic.enable(spi, boot_mpidr);
        console::enable_rx_interrupt();
    }
    info!(
        "GICv{}: {} SPIs, {} list registers; {} MiB free for Xenith",
        gic.version(),
        gic.nr_spis(),
        gic.nr_lrs(),
        (mm::free_frame_count() as u64 * addr::PAGE_SIZE) >> 20
    );

    let mut online = 1;
    for (i, &mpidr) in info.cpus.iter().enumerate().skip(1) {
        if i >= percpu::MAX_PCPUS {
            info!(
                "pCPU {i} (MPIDR {mpidr:#x}) ignored: Xenith drives at most {} pCPUs",
                percpu::MAX_PCPUS
            );
            continue;
        }
        let r = smp::cpu_on(mpidr, i);
        if r != 0 {
            info!("pCPU {i} (MPIDR {mpidr:#x}) did not start: PSCI CPU_ON returned {r}");
            continue;
        }
        let p = percpu::get(i).expect("index checked against MAX_PCPUS");
        let mut spins = 0u64;
        while !p.online.load(Ordering::Acquire) && spins < 100_000_000 {
            core::hint::spin_loop();
            spins += 1;
        }
        if p.online.load(Ordering::Acquire) {
            online += 1;
        } else {
            info!("pCPU {i} (MPIDR {mpidr:#x}) started but never came online");
        }
    }
    info!("{online} pCPUs online");

    if let Err(e) = dom0::build(&tree, &info, &cmd, online, Pa(img_start)) {
        fatal(format_args!("cannot build dom0: {e}"));
    }
    dom0less::build_all(&tree, &info, online);
    drop(tree);
    info!("heap in use: {} KiB; starting dom0", mm::heap_used() >> 10);
    info!("*** Serial input to DOM0 (type 'CTRL-a' three times to switch input)");
    vcpu::pcpu_loop()
}

/// A secondary pCPU, started by the boot pCPU through PSCI CPU_ON.
pub fn secondary(index: usize) -> ! {
    cpu_init(index);
    vcpu::pcpu_loop()
}
