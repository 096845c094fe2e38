//! A domU's Device Tree, as Xen 4.17 writes it for the two ways a domU comes to be:
//!
//! - [`Flavour::Libxl`]: `xl create` (`tools/libs/light/libxl_arm.c`: `libxl__prepare_dtb`
//!   then `libxl__arch_domain_finalise_hw_description`). Root `model` "XENVM-4.17",
//!   `compatible` "xen,xenvm-4.17" "xen,xenvm", `interrupt-parent` the GIC, 2/2 cells;
//!   `/chosen` (`bootargs`, `linux,initrd-start/end` as 64-bit values, `rng-seed`); `/cpus`
//!   ("arm,armv8", psci, `reg` = `vcpuid_to_vaffinity`); `/psci`; one `memory@<bank base>` per
//!   populated `GUEST_RAM*` bank; the GIC at `GUEST_GICD_BASE`/`GUEST_GICC_BASE` (v2,
//!   "arm,cortex-a15-gic" "arm,cortex-a9-gic") or `GUEST_GICV3_GICD_BASE` +
//!   `GUEST_GICV3_GICR0_BASE` (v3), phandle `GUEST_PHANDLE_GIC`; `/timer` (`GUEST_TIMER_*`
//!   PPIs); `/hypervisor` (grant table at `GUEST_GNTTAB_BASE`, then extended regions; the
//!   `GUEST_EVTCHN_PPI` upcall); `/sbsa-pl011` when the domain has a vpl011.
//! - [`Flavour::Dom0less`]: a domU Xen builds at boot from `/chosen/domU*`
//!   (`xen/arch/arm/domain_build.c`: `prepare_dtb_domU`): root cells only; `/chosen`; `/psci`;
//!   `/cpus` with the host CPU's `compatible` (and `clock-frequency`); one `memory@...` node with
//!   every bank; the GIC ("arm,gic-400" or "arm,gic-v3", `interrupt-controller@<GICD>`);
//!   `/timer`; `/sbsa-uart@22000000` for `vpl011`; `/hypervisor` only for `xen,enhanced`
//!   domUs.
//!
//! Xenith's one addition: with [`DomUConfig::stdout_path`] `/chosen/stdout-path` names the
//! vpl011 (neither builder writes one; Linux then needs `console=ttyAMA0`).
//!
//! The GICv3 redistributor region is a parameter ([`GuestGic::V3`]): libxl advertises the whole
//! `GUEST_GICV3_GICR0_SIZE` (room for 128 vCPUs) while a model emulating one frame per vCPU
//! advertises `nr_vcpus * 128 KiB` ([`GuestGic::v3_for_vcpus`]); Linux walks the frames up to
//! the one with `GICR_TYPER.Last` either way.
//!
//! RAM is split over the banks as libxc's `meminit` does ([`ram_banks`]); where the kernel, DTB
//! and initrd go is [`crate::image`]'s business.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use addr::{Pa, Region, PAGE_SIZE};
use xen_abi::arch_arm::{
    GUEST_EVTCHN_PPI, GUEST_GICC_BASE, GUEST_GICC_SIZE, GUEST_GICD_BASE, GUEST_GICD_SIZE,
    GUEST_GICV3_GICD_BASE, GUEST_GICV3_GICD_SIZE, GUEST_GICV3_GICR0_BASE, GUEST_GICV3_GICR0_SIZE,
    GUEST_GNTTAB_BASE, GUEST_GNTTAB_SIZE, GUEST_MAX_VCPUS, GUEST_PL011_BASE, GUEST_PL011_SIZE,
    GUEST_RAM_BANKS, GUEST_RAM_BANK_BASES, GUEST_RAM_BANK_SIZES, GUEST_RAM_MAX,
    GUEST_TIMER_PHYS_NS_PPI, GUEST_TIMER_PHYS_S_PPI, GUEST_TIMER_VIRT_PPI, GUEST_VPL011_SPI,
};
use xen_abi::device_tree_defs::{
    GUEST_PHANDLE_GIC, GUEST_ROOT_ADDRESS_CELLS, GUEST_ROOT_SIZE_CELLS,
};

use crate::nodes::{self, XenNode, GICV3_GICR_SIZE};
use crate::tree::{encode_reg, Node, Tree};
use crate::Error;

/// The Xen version a domU is told about (`xen,xenvm-4.17`, `xen,xen-4.17`).
pub const XEN_VERSION: &str = "4.17";
/// The vpl011 node's name in libxl's DT (it has no unit address there).
pub const LIBXL_VPL011_NODE: &str = "sbsa-pl011";
/// libxl's CPU `compatible` for a 64-bit guest (`arch_info[]`).
pub const LIBXL_CPU_COMPATIBLE: &str = "arm,armv8";
/// The timer `compatible` for a 64-bit guest.
pub const TIMER_COMPATIBLE: &str = "arm,armv8-timer";
/// Vcpus a GICv2 can target (Xen's `vgic_max_vcpus` for v2).
pub const GICV2_MAX_VCPUS: u32 = 8;
/// Extended regions smaller than this are not advertised (libxl's `EXT_REGION_MIN_SIZE`,
/// Xen's `MB(64)` in `find_domU_holes`).
pub const EXT_REGION_MIN_SIZE: u64 = 64 << 20;
/// Extended regions start 2 MiB aligned.
const SZ_2M: u64 = 2 << 20;

/// Which Xen 4.17 builder's DT to reproduce (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// libxl (`xl create`).
    Libxl,
    /// Xen's dom0less domU builder.
    Dom0less,
}

/// The domU's virtual GIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestGic {
    /// GICv2: GICD at `GUEST_GICD_BASE`, GICC at `GUEST_GICC_BASE`.
    V2,
    /// GICv3: GICD at `GUEST_GICV3_GICD_BASE`, one redistributor region of `redist_size` bytes
    /// at `GUEST_GICV3_GICR0_BASE`.
    V3 {
        /// Bytes of the redistributor region (at most `GUEST_GICV3_GICR0_SIZE`).
        redist_size: u64,
    },
}

impl GuestGic {
    /// GICv3 as libxl advertises it: the whole `GUEST_GICV3_GICR0_SIZE`.
    pub const V3_LIBXL: GuestGic = GuestGic::V3 {
        redist_size: GUEST_GICV3_GICR0_SIZE,
    };

    /// GICv3 with a redistributor region of one 128 KiB frame per vCPU.
    pub fn v3_for_vcpus(nr_vcpus: u32) -> GuestGic {
        GuestGic::V3 {
            redist_size: u64::from(nr_vcpus) * GICV3_GICR_SIZE,
        }
    }
}

/// The Xen guest interface the `/hypervisor` node advertises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenIface {
    /// Bits of guest-physical address space the domain has (getdomaininfo's `gpaddr_bits`):
    /// bounds the extended regions.
    pub gpaddr_bits: u8,
    /// Whether to advertise extended regions at all (Xen's `ext_regions` option).
    pub extended_regions: bool,
}

/// Everything a domU's DT describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomUConfig {
    /// Whose DT to reproduce.
    pub flavour: Flavour,
    /// Number of vCPUs (1..=128; at most 8 with a GICv2).
    pub nr_vcpus: u32,
    /// RAM banks, each inside `GUEST_RAM0` or `GUEST_RAM1` and starting at its base (see
    /// [`ram_banks`]).
    pub memory: Vec<Region<Pa>>,
    /// The virtual GIC.
    pub gic: GuestGic,
    /// The kernel command line (`/chosen/bootargs`).
    pub bootargs: Option<String>,
    /// Where the initrd was loaded.
    pub initrd: Option<Region<Pa>>,
    /// Whether the domain has a vpl011 at `GUEST_PL011_BASE`, SPI `GUEST_VPL011_SPI`.
    pub vpl011: bool,
    /// Xenith addition: `/chosen/stdout-path` names the vpl011.
    pub stdout_path: bool,
    /// The `/hypervisor` node, if the guest is offered the Xen interface.
    pub xen: Option<XenIface>,
    /// The timer's `clock-frequency`, if the guest must be told (libxl passes Xen's
    /// `clock_frequency` when the host DT had one).
    pub timer_clock_frequency: Option<u32>,
    /// Dom0less: the host's first CPU's raw `compatible` (libxl always writes "arm,armv8").
    pub cpu_compatible: Option<Vec<u8>>,
    /// Dom0less: the host's first CPU's `clock-frequency`.
    pub cpu_clock_frequency: Option<u32>,
    /// libxl: `/chosen/rng-seed` (libxl writes 128 random bytes).
    pub rng_seed: Option<Vec<u8>>,
}

impl DomUConfig {
    /// A configuration with `nr_vcpus` vCPUs, `mem_bytes` of RAM split as libxc does and `gic`;
    /// the Xen interface offered for libxl (always) and not for dom0less (`xen,enhanced` off);
    /// everything else absent.
    pub fn new(
        flavour: Flavour,
        nr_vcpus: u32,
        mem_bytes: u64,
        gic: GuestGic,
    ) -> Result<DomUConfig, Error> {
        Ok(DomUConfig {
            flavour,
            nr_vcpus,
            memory: ram_banks(mem_bytes)?,
            gic,
            bootargs: None,
            initrd: None,
            vpl011: false,
            stdout_path: false,
            xen: match flavour {
                Flavour::Libxl => Some(XenIface {
                    gpaddr_bits: 40,
                    extended_regions: true,
                }),
                Flavour::Dom0less => None,
            },
            timer_clock_frequency: None,
            cpu_compatible: None,
            cpu_clock_frequency: None,
            rng_seed: None,
        })
    }
}

fn arg(msg: String) -> Error {
    Error::InvalidArgument(msg)
}

/// Splits `bytes` of RAM over `GUEST_RAM0` then `GUEST_RAM1` as libxc's `meminit` does.
/// `bytes` must be a non-zero multiple of the page size, at most `GUEST_RAM_MAX`.
pub fn ram_banks(bytes: u64) -> Result<Vec<Region<Pa>>, Error> {
    if bytes == 0 || !bytes.is_multiple_of(PAGE_SIZE) || bytes > GUEST_RAM_MAX {
        return Err(arg(format!(
            "guest RAM size {bytes:#x} is not a non-zero page multiple up to {GUEST_RAM_MAX:#x}"
        )));
    }
    let mut left = bytes;
    let mut banks = Vec::new();
    for i in 0..GUEST_RAM_BANKS {
        if left == 0 {
            break;
        }
        let size = left.min(GUEST_RAM_BANK_SIZES[i]);
        banks.push(Region::new(Pa(GUEST_RAM_BANK_BASES[i]), size));
        left -= size;
    }
    Ok(banks)
}

/// Bytes given to guest bank `i` (0 when absent).
fn bank_size(memory: &[Region<Pa>], i: usize) -> u64 {
    memory
        .iter()
        .find(|r| r.start.raw() == GUEST_RAM_BANK_BASES[i])
        .map_or(0, |r| r.size)
}

/// The extended regions of a domU (libxl's `finalize_hypervisor_node`, Xen's
/// `find_domU_holes`): in each `GUEST_RAM*` bank, from the end of the RAM given (2 MiB aligned)
/// to the end of the bank or of the guest-physical address space, if at least 64 MiB.
pub fn extended_regions(memory: &[Region<Pa>], gpaddr_bits: u8) -> Vec<Region<Pa>> {
    let limit = if gpaddr_bits >= 64 {
        u64::MAX
    } else {
        (1u64 << gpaddr_bits) - 1
    };
    let mut out = Vec::new();
    for i in 0..GUEST_RAM_BANKS {
        let Some(start) = GUEST_RAM_BANK_BASES[i]
            .checked_add(bank_size(memory, i))
            .and_then(|e| e.checked_add(SZ_2M - 1))
            .map(|e| e & !(SZ_2M - 1))
        else {
            continue;
        };
        let end = limit.min(GUEST_RAM_BANK_BASES[i] + GUEST_RAM_BANK_SIZES[i] - 1);
        if end > start && end - start + 1 >= EXT_REGION_MIN_SIZE {
            out.push(Region::new(Pa(start), end - start + 1));
        }
    }
    out
}

fn check(cfg: &DomUConfig) -> Result<(), Error> {
    nodes::check_nr_vcpus(cfg.nr_vcpus)?;
    let most = match cfg.gic {
        GuestGic::V2 => GICV2_MAX_VCPUS,
        GuestGic::V3 { .. } => GUEST_MAX_VCPUS,
    };
    if cfg.nr_vcpus > most {
        return Err(arg(format!(
            "{} vCPUs: this vGIC serves at most {most}",
            cfg.nr_vcpus
        )));
    }
    if let GuestGic::V3 { redist_size } = cfg.gic {
        let need = u64::from(cfg.nr_vcpus) * GICV3_GICR_SIZE;
        if redist_size < need || redist_size > GUEST_GICV3_GICR0_SIZE {
            return Err(arg(format!(
                "GICv3 redistributor region of {redist_size:#x} bytes: {} vCPUs need {need:#x}, \
                 at most {GUEST_GICV3_GICR0_SIZE:#x} fit",
                cfg.nr_vcpus
            )));
        }
    }
    if cfg.memory.is_empty() {
        return Err(arg("a domU needs RAM".into()));
    }
    for r in &cfg.memory {
        let ok = (0..GUEST_RAM_BANKS).any(|i| {
            r.start.raw() == GUEST_RAM_BANK_BASES[i]
                && r.size > 0
                && r.size <= GUEST_RAM_BANK_SIZES[i]
        });
        if !ok {
            return Err(arg(format!(
                "RAM bank {:#x}+{:#x} is not at the start of a GUEST_RAM bank",
                r.start.raw(),
                r.size
            )));
        }
    }
    if let Some(r) = cfg.initrd {
        if r.end().is_none() {
            return Err(arg("the initrd region wraps".into()));
        }
    }
    Ok(())
}

/// Builds the domU's DTB (see the module docs).
pub fn build_domu(cfg: &DomUConfig) -> Result<Vec<u8>, Error> {
    build_domu_tree(cfg)?.to_dtb()
}

/// Like [`build_domu`] but returns the tree (for inspection and golden tests).
pub fn build_domu_tree(cfg: &DomUConfig) -> Result<Tree, Error> {
    check(cfg)?;
    let (ac, sc) = (GUEST_ROOT_ADDRESS_CELLS, GUEST_ROOT_SIZE_CELLS);
    let ph = GUEST_PHANDLE_GIC;
    let libxl = cfg.flavour == Flavour::Libxl;
    let mut t = Tree::new();
    if libxl {
        t.root
            .set_prop_str("model", &format!("XENVM-{XEN_VERSION}"));
        let compat = format!("xen,xenvm-{XEN_VERSION}");
        t.root
            .set_prop_strs("compatible", &[compat.as_str(), "xen,xenvm"]);
        t.root.set_prop_u32("interrupt-parent", ph);
    }
    t.root.set_prop_u32("#address-cells", ac);
    t.root.set_prop_u32("#size-cells", sc);

    let vpl011_name = match cfg.flavour {
        Flavour::Libxl => LIBXL_VPL011_NODE.to_string(),
        Flavour::Dom0less => format!("sbsa-uart@{GUEST_PL011_BASE:x}"),
    };
    t.root.add_child(chosen_node(cfg, &vpl011_name)?);
    if libxl {
        t.root.add_child(libxl_cpus_node(cfg.nr_vcpus));
        t.root.add_child(nodes::psci_node());
        // One node per populated bank (libxl nops the empty placeholders).
        for r in &cfg.memory {
            t.root.add_child(nodes::memory_node(&[*r], ac, sc));
        }
    } else {
        t.root.add_child(nodes::psci_node());
        let cpus = (0..cfg.nr_vcpus)
            .map(|v| {
                nodes::xen_cpu_node(
                    v,
                    Some(
                        cfg.cpu_compatible
                            .as_deref()
                            .unwrap_or(b"arm,armv8\0".as_slice()),
                    ),
                    cfg.cpu_clock_frequency,
                    None,
                )
            })
            .collect();
        t.root.add_child(nodes::cpus_node(cpus));
        t.root.add_child(nodes::memory_node(&cfg.memory, ac, sc));
    }
    t.root.add_child(gic_node(cfg)?);
    t.root.add_child(nodes::timer_node(
        TIMER_COMPATIBLE,
        [
            GUEST_TIMER_PHYS_S_PPI,
            GUEST_TIMER_PHYS_NS_PPI,
            GUEST_TIMER_VIRT_PPI,
        ],
        ph,
        cfg.timer_clock_frequency,
    )?);
    let hypervisor = match &cfg.xen {
        Some(x) => Some(nodes::hypervisor_node(
            &XenNode {
                version: XEN_VERSION.to_string(),
                gnttab: Region::new(Pa(GUEST_GNTTAB_BASE), GUEST_GNTTAB_SIZE),
                extended: if x.extended_regions {
                    extended_regions(&cfg.memory, x.gpaddr_bits)
                } else {
                    Vec::new()
                },
                evtchn_ppi: GUEST_EVTCHN_PPI,
            },
            ac,
            sc,
            ph,
        )?),
        None => None,
    };
    let vpl011 = if cfg.vpl011 {
        Some(nodes::vpl011_node(
            &vpl011_name,
            Pa(GUEST_PL011_BASE),
            GUEST_PL011_SIZE,
            GUEST_VPL011_SPI,
            ac,
            sc,
            ph,
        )?)
    } else {
        None
    };
    // libxl: hypervisor then vpl011; Xen: vpl011 then hypervisor.
    let (first, second) = if libxl {
        (hypervisor, vpl011)
    } else {
        (vpl011, hypervisor)
    };
    for n in [first, second].into_iter().flatten() {
        t.root.add_child(n);
    }
    Ok(t)
}

fn chosen_node(cfg: &DomUConfig, vpl011_name: &str) -> Result<Node, Error> {
    let mut n = Node::new("chosen");
    match (&cfg.bootargs, cfg.flavour) {
        (Some(b), Flavour::Libxl) => n.set_prop_str("bootargs", b),
        (Some(b), Flavour::Dom0less) if !b.is_empty() => n.set_prop_str("bootargs", b),
        _ => {}
    }
    if let Some(r) = cfg.initrd {
        let end = r
            .end()
            .ok_or_else(|| arg("the initrd region wraps".into()))?;
        n.set_prop("linux,initrd-start", r.start.raw().to_be_bytes().to_vec());
        n.set_prop("linux,initrd-end", end.raw().to_be_bytes().to_vec());
    }
    if cfg.flavour == Flavour::Libxl {
        if let Some(seed) = &cfg.rng_seed {
            n.set_prop("rng-seed", seed.clone());
        }
    }
    if cfg.vpl011 && cfg.stdout_path {
        n.set_prop_str("stdout-path", &format!("/{vpl011_name}"));
    }
    Ok(n)
}

/// libxl's `make_cpus_node`: its property order, "arm,armv8".
fn libxl_cpus_node(nr_vcpus: u32) -> Node {
    let cpus = (0..nr_vcpus)
        .map(|v| {
            let aff = nodes::vcpuid_to_vaffinity(v);
            let mut c = Node::new(&format!("cpu@{aff:x}"));
            c.set_prop_str("device_type", "cpu");
            c.set_prop_str("compatible", LIBXL_CPU_COMPATIBLE);
            c.set_prop_str("enable-method", "psci");
            c.set_prop_u32("reg", u32::try_from(aff).unwrap_or(0));
            c
        })
        .collect();
    nodes::cpus_node(cpus)
}

/// libxl's `make_gicv{2,3}_node` / Xen's `make_gicv{2,3}_domU_node`.
fn gic_node(cfg: &DomUConfig) -> Result<Node, Error> {
    let (ac, sc) = (GUEST_ROOT_ADDRESS_CELLS, GUEST_ROOT_SIZE_CELLS);
    let (dist, regs, compat): (u64, Vec<(u64, u64)>, &[&str]) = match (cfg.gic, cfg.flavour) {
        (GuestGic::V2, f) => (
            GUEST_GICD_BASE,
            alloc::vec![
                (GUEST_GICD_BASE, GUEST_GICD_SIZE),
                (GUEST_GICC_BASE, GUEST_GICC_SIZE)
            ],
            if f == Flavour::Libxl {
                &["arm,cortex-a15-gic", "arm,cortex-a9-gic"]
            } else {
                &["arm,gic-400"]
            },
        ),
        (GuestGic::V3 { redist_size }, _) => (
            GUEST_GICV3_GICD_BASE,
            alloc::vec![
                (GUEST_GICV3_GICD_BASE, GUEST_GICV3_GICD_SIZE),
                (GUEST_GICV3_GICR0_BASE, redist_size)
            ],
            &["arm,gic-v3"],
        ),
    };
    let mut n = Node::new(&format!("interrupt-controller@{dist:x}"));
    match cfg.flavour {
        Flavour::Libxl => {
            n.set_prop_strs("compatible", compat);
            n.set_prop_u32("#interrupt-cells", 3);
            n.set_prop_u32("#address-cells", 0);
            n.set_prop_empty("interrupt-controller");
        }
        Flavour::Dom0less => {
            n.set_prop_u32("#address-cells", 0);
            n.set_prop_u32("#interrupt-cells", 3);
            n.set_prop_empty("interrupt-controller");
            n.set_prop_strs("compatible", compat);
        }
    }
    n.set_prop("reg", encode_reg(ac, sc, &regs));
    n.set_prop_u32("linux,phandle", GUEST_PHANDLE_GIC);
    n.set_prop_u32("phandle", GUEST_PHANDLE_GIC);
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banks_as_libxc_splits_them() {
        assert_eq!(
            ram_banks(128 << 20).unwrap(),
            [Region::new(Pa(0x4000_0000), 128 << 20)]
        );
        assert_eq!(
            ram_banks(4 << 30).unwrap(),
            [
                Region::new(Pa(0x4000_0000), 3 << 30),
                Region::new(Pa(0x2_0000_0000), 1 << 30)
            ]
        );
        assert!(ram_banks(0).is_err());
        assert!(ram_banks(4097).is_err());
        assert!(ram_banks(GUEST_RAM_MAX + PAGE_SIZE).is_err());
    }

    #[test]
    fn extended_regions_as_libxl() {
        let banks = ram_banks(128 << 20).unwrap();
        assert_eq!(
            extended_regions(&banks, 40),
            [
                Region::new(Pa(0x4800_0000), 0xc000_0000 - (128 << 20)),
                Region::new(Pa(0x2_0000_0000), 0xfe_0000_0000)
            ]
        );
        // 36 bits: bank 1 ends at 64 GiB.
        assert_eq!(
            extended_regions(&banks, 36)[1],
            Region::new(Pa(0x2_0000_0000), 0xe_0000_0000)
        );
        // A bank filled to within 64 MiB of its end has none.
        let full = ram_banks(GUEST_RAM_BANK_SIZES[0] - (32 << 20)).unwrap();
        assert_eq!(extended_regions(&full, 40).len(), 1);
        // 32 bits: bank 1 is out of reach.
        assert_eq!(extended_regions(&banks, 32).len(), 1);
    }

    #[test]
    fn rejects_what_cannot_be_described() {
        let mut c = DomUConfig::new(Flavour::Libxl, 9, 128 << 20, GuestGic::V2).unwrap();
        assert!(build_domu(&c).is_err(), "9 vCPUs on a GICv2");
        c.nr_vcpus = 0;
        assert!(build_domu(&c).is_err());
        c.nr_vcpus = 4;
        c.gic = GuestGic::v3_for_vcpus(2);
        assert!(build_domu(&c).is_err(), "redistributors for 2 of 4 vCPUs");
        c.gic = GuestGic::v3_for_vcpus(4);
        assert!(build_domu(&c).is_ok());
        c.memory = alloc::vec![Region::new(Pa(0x1000_0000), 1 << 20)];
        assert!(build_domu(&c).is_err(), "RAM outside the guest banks");
    }
}
