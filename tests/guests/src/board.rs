//! What the guest learns from its Device Tree: console, CPUs, GIC, PSCI conduit, timer PPIs,
//! bootargs. Bindings: Documentation/devicetree/bindings/{arm/cpus.yaml, arm/psci.yaml,
//! timer/arm,arch_timer.yaml, interrupt-controller/arm,gic.yaml, arm,gic-v3.yaml}.

use addr::Ipa;
use core::fmt;
use fdt::Fdt;
use spin::Once;

use crate::{catch_fault, console, MAX_CPUS};

/// FDT header magic (big-endian 0xd00dfeed).
const FDT_MAGIC: u32 = 0xd00d_feed;
/// Where QEMU virt puts the DTB when it boots a non-Linux image: the start of RAM.
const QEMU_VIRT_DTB: u64 = 0x4000_0000;
/// The MPIDR_EL1 affinity fields Aff3..Aff0.
pub const MPIDR_AFF_MASK: u64 = 0xff_00ff_ffff;
/// Most GICv3 redistributor regions recorded.
pub const MAX_REDIST_REGIONS: usize = 4;

/// The interrupt controller described by the DT.
#[derive(Clone, Copy, Debug)]
pub enum GicInfo {
    /// GICv2 (`arm,cortex-a15-gic`, `arm,gic-400`): distributor and CPU interface.
    V2 { dist: Ipa, cpu: Ipa },
    /// GICv3 (`arm,gic-v3`): distributor and redistributor regions (base, size).
    V3 {
        dist: Ipa,
        redist: [(Ipa, u64); MAX_REDIST_REGIONS],
        nredist: usize,
    },
    /// No supported GIC node.
    None,
}

impl fmt::Display for GicInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GicInfo::V2 { .. } => "v2",
            GicInfo::V3 { .. } => "v3",
            GicInfo::None => "none",
        })
    }
}

/// The PSCI conduit (`/psci` `method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `hvc #0`.
    Hvc,
    /// `smc #0`.
    Smc,
}

impl fmt::Display for Conduit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if *self == Conduit::Hvc { "hvc" } else { "smc" })
    }
}

/// Everything parsed from the DT at boot.
pub struct Board {
    /// Where the DTB is.
    pub dtb: Ipa,
    /// Whether x0 pointed to it (else the QEMU virt fallback was used).
    pub dtb_from_x0: bool,
    /// UART from `/chosen/stdout-path`, if it is a PL011/SBSA UART (else Xen's console_io if
    /// there is a `xen,xen` node, else the QEMU virt PL011 at 0x0900_0000).
    pub uart: Option<Ipa>,
    /// MPIDR affinity (the `reg` of each `/cpus/cpu@N`), in DT order; index = CPU index.
    pub mpidr: [u64; MAX_CPUS],
    /// Number of valid entries in `mpidr`.
    pub ncpus: usize,
    /// GIC.
    pub gic: GicInfo,
    /// PSCI conduit (HVC if the node is missing).
    pub conduit: Conduit,
    /// INTID of the EL1 virtual timer PPI (third `interrupts` entry of `arm,armv8-timer`).
    pub vtimer_intid: Option<u32>,
    /// INTID of the EL1 non-secure physical timer PPI (second entry).
    pub ptimer_intid: Option<u32>,
    /// `/chosen/bootargs` contains `xenith`: run the hypervisor-only checks.
    pub hyp_checks: bool,
}

impl Board {
    /// The parsed DT.
    pub fn fdt(&self) -> Fdt<'static> {
        // SAFETY: `init` checked the magic at `dtb` and Fdt::from_ptr reads only `totalsize`
        // bytes of RAM that nothing in the guest writes.
        unsafe { Fdt::from_ptr(self.dtb.raw() as usize as *const u8) }.expect("DTB vanished")
    }

    /// CPU index of the DT cpu whose `reg` equals `mpidr`'s affinity.
    pub fn cpu_of_mpidr(&self, mpidr: u64) -> Option<usize> {
        self.mpidr[..self.ncpus]
            .iter()
            .position(|&m| m == mpidr & MPIDR_AFF_MASK)
    }
}

static BOARD: Once<Board> = Once::new();

/// The board description (after boot).
pub fn board() -> &'static Board {
    BOARD.get().expect("board not initialised")
}

/// The board description, if the DT has been parsed.
pub fn try_board() -> Option<&'static Board> {
    BOARD.get()
}

fn has_magic(pa: u64) -> bool {
    if pa == 0 || !pa.is_multiple_of(8) || pa >= 1 << 39 {
        return false;
    }
    let mut magic = 0;
    // A single `ldr` of an identity-mapped address: a bad one raises an abort that
    // `catch_fault` absorbs.
    let fault = catch_fault(|| magic = crate::gic::mmio_read32(pa as usize));
    fault.is_none() && u32::from_be(magic) == FDT_MAGIC
}

fn be32(b: &[u8], i: usize) -> Option<u32> {
    let s = b.get(i * 4..i * 4 + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Finds and parses the DT (x0, else QEMU virt's RAM base), switches the console to its UART.
pub(crate) fn init(x0: u64) -> &'static Board {
    let from_x0 = has_magic(x0);
    let dtb = if from_x0 { x0 } else { QEMU_VIRT_DTB };
    if !from_x0 && !has_magic(dtb) {
        crate::println!("not ok 1 - find the device tree # x0={x0:#x}, none at {dtb:#x} either");
        crate::println!("# xenith-test: passed=0 failed=1");
        loop {
            aarch64_cpu::asm::wfe();
        }
    }
    // SAFETY: a valid FDT header is at `dtb` (checked above); the blob is never written.
    let fdt = unsafe { Fdt::from_ptr(dtb as usize as *const u8) }.expect("bad DTB");

    let uart = fdt
        .chosen()
        .stdout()
        .or_else(|| {
            let path = fdt
                .find_node("/chosen")?
                .property("stdout-path")?
                .as_str()?;
            fdt.find_node(path.split(':').next()?)
        })
        .or_else(|| {
            let path = fdt
                .find_node("/chosen")?
                .property("stdout-path")?
                .as_str()?;
            fdt.aliases()?.resolve_node(path.split(':').next()?)
        })
        .filter(|n| {
            n.compatible()
                .is_some_and(|c| c.all().any(|s| s == "arm,pl011" || s == "arm,sbsa-uart"))
        })
        .and_then(|n| n.reg()?.next())
        .map(|r| Ipa(r.starting_address as u64));
    let xen = fdt.find_compatible(&["xen,xen"]).is_some();
    console::set_base(match uart {
        Some(u) => u.raw() as usize,
        None if xen => console::XEN_CONSOLE_IO,
        None => console::FALLBACK_UART,
    });

    let mut mpidr = [0; MAX_CPUS];
    let mut ncpus = 0;
    for cpu in fdt.cpus() {
        if ncpus < MAX_CPUS {
            mpidr[ncpus] = cpu.ids().first() as u64 & MPIDR_AFF_MASK;
            ncpus += 1;
        }
    }

    let mut gic = GicInfo::None;
    if let Some(n) = fdt.find_compatible(&["arm,gic-v3"]) {
        let mut regs = n.reg().into_iter().flatten();
        let nregions = n
            .property("#redistributor-regions")
            .and_then(|p| p.as_usize())
            .unwrap_or(1);
        let dist = regs
            .next()
            .map_or(Ipa(0), |r| Ipa(r.starting_address as u64));
        let mut redist = [(Ipa(0), 0); MAX_REDIST_REGIONS];
        let mut nredist = 0;
        for r in regs.take(nregions.min(MAX_REDIST_REGIONS)) {
            redist[nredist] = (Ipa(r.starting_address as u64), r.size.unwrap_or(0) as u64);
            nredist += 1;
        }
        gic = GicInfo::V3 {
            dist,
            redist,
            nredist,
        };
    } else if let Some(n) =
        fdt.find_compatible(&["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic"])
    {
        let mut regs = n
            .reg()
            .into_iter()
            .flatten()
            .map(|r| Ipa(r.starting_address as u64));
        if let (Some(dist), Some(cpu)) = (regs.next(), regs.next()) {
            gic = GicInfo::V2 { dist, cpu };
        }
    }

    let conduit = match fdt
        .find_compatible(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])
        .and_then(|n| n.property("method")?.as_str())
    {
        Some("smc") => Conduit::Smc,
        _ => Conduit::Hvc,
    };

    // Timer `interrupts`: 4 specifiers (secure phys, non-secure phys, virt, hyp) of 3 cells
    // <type num flags>; type 1 = PPI, INTID = 16 + num.
    let timer_ppi = |which: usize| -> Option<u32> {
        let n = fdt.find_compatible(&["arm,armv8-timer", "arm,armv7-timer"])?;
        let v = n.property("interrupts")?.value;
        let (ty, num) = (be32(v, which * 3)?, be32(v, which * 3 + 1)?);
        (ty == 1).then_some(16 + num)
    };

    let hyp_checks = fdt
        .chosen()
        .bootargs()
        .is_some_and(|a| a.split_whitespace().any(|w| w == "xenith"));

    BOARD.call_once(|| Board {
        dtb: Ipa(dtb),
        dtb_from_x0: from_x0,
        uart,
        mpidr,
        ncpus,
        gic,
        conduit,
        vtimer_intid: timer_ppi(2),
        ptimer_intid: timer_ppi(1),
        hyp_checks,
    })
}
