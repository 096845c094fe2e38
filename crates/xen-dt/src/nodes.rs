//! Node builders shared by dom0's DT ([`crate::dom0`]) and domUs' ([`crate::domu`]): the
//! `make_*_node` functions Xen 4.17's `xen/arch/arm/domain_build.c` and
//! `tools/libs/light/libxl_arm.c` both have, written once.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use addr::{Pa, Region};

use crate::bindings::{gic_interrupt, IRQ_TYPE_LEVEL_HIGH, IRQ_TYPE_LEVEL_LOW, PPI_CPU_MASK};
use crate::tree::{encode_reg, Node};
use crate::Error;

/// Xen's legacy (PSCI 0.1) function id for CPU_OFF advertised in `/psci`
/// (`PSCI_cpu_off` in Xen's `asm/psci.h`).
pub const PSCI_CPU_OFF: u32 = 1;
/// Xen's legacy PSCI 0.1 function id for CPU_ON (`PSCI_cpu_on`).
pub const PSCI_CPU_ON: u32 = 2;
/// Bytes of one GICv3 redistributor (RD_base + SGI_base frames; Xen's
/// `GUEST_GICV3_RDIST_STRIDE`).
pub const GICV3_GICR_SIZE: u64 = 0x2_0000;
/// Most vCPUs whose affinity `vcpuid_to_vaffinity` can express (Aff0 4 bits + Aff1 8 bits).
pub const MAX_VAFFINITY_VCPUS: u32 = 1 << 12;
/// `current-speed` of the vPL011 node (Xen's `make_vpl011_uart_node`).
pub const VPL011_SPEED: u32 = 115_200;
/// The PSCI node's `compatible` list.
pub const PSCI_COMPATIBLE: [&str; 3] = ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"];

fn arg(msg: String) -> Error {
    Error::InvalidArgument(msg)
}

/// Xen's `vcpuid_to_vaffinity`: Aff0 = vCPU id bits [3:0], Aff1 = bits [11:4] (GICv3 target
/// lists address 16 CPUs per Aff0 range).
pub fn vcpuid_to_vaffinity(vcpuid: u32) -> u64 {
    let aff0 = u64::from(vcpuid & 0xf);
    let aff1 = u64::from((vcpuid >> 4) & 0xff);
    aff0 | (aff1 << 8)
}

/// Checks a vCPU count against what `vcpuid_to_vaffinity` can number.
pub fn check_nr_vcpus(nr_vcpus: u32) -> Result<(), Error> {
    if nr_vcpus == 0 || nr_vcpus > MAX_VAFFINITY_VCPUS {
        return Err(arg(format!(
            "nr_vcpus {nr_vcpus} is not in 1..={MAX_VAFFINITY_VCPUS}"
        )));
    }
    Ok(())
}

/// What the `/hypervisor` node says (Linux `Documentation/devicetree/bindings/arm/xen.txt`,
/// Xen's `make_hypervisor_node`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XenNode {
    /// Xen version in the first compatible string, e.g. "4.17" gives `xen,xen-4.17`.
    pub version: String,
    /// Guest-physical region where the guest maps its grant-table frames (first `reg` entry).
    pub gnttab: Region<Pa>,
    /// Extended regions: unused guest-physical space the guest may use for foreign and grant
    /// mappings (the other `reg` entries).
    pub extended: Vec<Region<Pa>>,
    /// The event-channel upcall PPI (INTID 16..=31).
    pub evtchn_ppi: u32,
}

/// Xen's `make_hypervisor_node`: compatible, `reg` (grant table then extended regions) and the
/// event-channel PPI, active-low level-sensitive on all CPUs (`<1 n 0xf08>`).
pub fn hypervisor_node(x: &XenNode, ac: u32, sc: u32, gic_phandle: u32) -> Result<Node, Error> {
    if !(16..32).contains(&x.evtchn_ppi) {
        return Err(arg(format!(
            "event-channel PPI {} is not a PPI",
            x.evtchn_ppi
        )));
    }
    let mut n = Node::new("hypervisor");
    let compat = format!("xen,xen-{}", x.version);
    n.set_prop_strs("compatible", &[compat.as_str(), "xen,xen"]);
    let regs: Vec<(u64, u64)> = core::iter::once(&x.gnttab)
        .chain(x.extended.iter())
        .map(|r| (r.start.0, r.size))
        .collect();
    n.set_prop("reg", encode_reg(ac, sc, &regs));
    set_interrupts(&mut n, &[(x.evtchn_ppi, IRQ_TYPE_LEVEL_LOW)], gic_phandle)?;
    Ok(n)
}

/// Xen's `fdt_property_interrupts`: `interrupts` from (INTID, trigger) pairs, each with the
/// all-CPUs mask as Xen writes it, then `interrupt-parent`.
pub fn set_interrupts(n: &mut Node, irqs: &[(u32, u32)], gic_phandle: u32) -> Result<(), Error> {
    let mut cells = Vec::with_capacity(irqs.len() * 3);
    for &(irq, level) in irqs {
        let spec = gic_interrupt(irq, PPI_CPU_MASK, level)
            .ok_or_else(|| arg(format!("INTID {irq} is neither a PPI nor an SPI")))?;
        cells.extend_from_slice(&spec);
    }
    n.set_prop_cells("interrupts", &cells);
    n.set_prop_u32("interrupt-parent", gic_phandle);
    Ok(())
}

/// `make_psci_node` (Xen and libxl write the same node): PSCI 1.0 over HVC, with Xen's legacy
/// PSCI 0.1 function ids.
pub fn psci_node() -> Node {
    let mut n = Node::new("psci");
    n.set_prop_strs("compatible", &PSCI_COMPATIBLE);
    n.set_prop_str("method", "hvc");
    n.set_prop_u32("cpu_off", PSCI_CPU_OFF);
    n.set_prop_u32("cpu_on", PSCI_CPU_ON);
    n
}

/// The architected timer node with the secure phys, non-secure phys and virtual timer PPIs
/// (INTIDs), active-low level-sensitive on all CPUs, as Xen's and libxl's `make_timer_node`.
pub fn timer_node(
    compatible: &str,
    ppis: [u32; 3],
    gic_phandle: u32,
    clock_frequency: Option<u32>,
) -> Result<Node, Error> {
    let mut n = Node::new("timer");
    n.set_prop_str("compatible", compatible);
    let irqs = ppis.map(|p| (p, IRQ_TYPE_LEVEL_LOW));
    if ppis.iter().any(|p| !(16..32).contains(p)) {
        return Err(arg(format!("timer interrupts {ppis:?} are not all PPIs")));
    }
    set_interrupts(&mut n, &irqs, gic_phandle)?;
    if let Some(f) = clock_frequency {
        n.set_prop_u32("clock-frequency", f);
    }
    Ok(n)
}

/// An emulated SBSA UART (vPL011) node named `name` (Xen's `make_vpl011_uart_node`: compatible,
/// `reg`, the SPI active-high level-sensitive, `interrupt-parent`, `current-speed`).
pub fn vpl011_node(
    name: &str,
    base: Pa,
    size: u64,
    spi: u32,
    ac: u32,
    sc: u32,
    gic_phandle: u32,
) -> Result<Node, Error> {
    if !(32..=1019).contains(&spi) || size == 0 {
        return Err(arg(format!("vUART SPI {spi} or size {size:#x} invalid")));
    }
    let mut n = Node::new(name);
    n.set_prop_str("compatible", "arm,sbsa-uart");
    n.set_prop("reg", encode_reg(ac, sc, &[(base.raw(), size)]));
    set_interrupts(&mut n, &[(spi, IRQ_TYPE_LEVEL_HIGH)], gic_phandle)?;
    n.set_prop_u32("current-speed", VPL011_SPEED);
    Ok(n)
}

/// One `cpu@<aff>` node as Xen's `make_cpus_node` writes it (dom0 and dom0less domUs):
/// `compatible` (the host CPU's), `device_type`, `reg` = the virtual MPIDR affinity, the host's
/// `clock-frequency` if any, `enable-method` = psci; `phandle` last if given.
pub fn xen_cpu_node(
    vcpuid: u32,
    compatible: Option<&[u8]>,
    clock_frequency: Option<u32>,
    phandle: Option<u32>,
) -> Node {
    let aff = vcpuid_to_vaffinity(vcpuid);
    let mut c = Node::new(&format!("cpu@{aff:x}"));
    if let Some(compat) = compatible {
        c.set_prop("compatible", compat.to_vec());
    }
    c.set_prop_str("device_type", "cpu");
    c.set_prop_u32("reg", u32::try_from(aff).unwrap_or(0));
    if let Some(f) = clock_frequency {
        c.set_prop_u32("clock-frequency", f);
    }
    c.set_prop_str("enable-method", "psci");
    if let Some(ph) = phandle {
        c.set_prop_u32("phandle", ph);
    }
    c
}

/// `/cpus` with `#address-cells` 1 and `#size-cells` 0, holding `cpus`.
pub fn cpus_node(cpus: Vec<Node>) -> Node {
    let mut n = Node::new("cpus");
    n.set_prop_u32("#address-cells", 1);
    n.set_prop_u32("#size-cells", 0);
    n.children = cpus;
    n
}

/// A `memory@<first bank>` node with every bank in its `reg` (Xen's `make_memory_node`).
pub fn memory_node(banks: &[Region<Pa>], ac: u32, sc: u32) -> Node {
    let start = banks.first().map(|r| r.start.raw()).unwrap_or(0);
    let mut n = Node::new(&format!("memory@{start:x}"));
    n.set_prop_str("device_type", "memory");
    let regs: Vec<(u64, u64)> = banks.iter().map(|r| (r.start.raw(), r.size)).collect();
    n.set_prop("reg", encode_reg(ac, sc, &regs));
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vaffinity() {
        assert_eq!(vcpuid_to_vaffinity(0), 0);
        assert_eq!(vcpuid_to_vaffinity(15), 0xf);
        assert_eq!(vcpuid_to_vaffinity(16), 0x100);
        assert_eq!(vcpuid_to_vaffinity(0x123), 0x1203);
    }

    #[test]
    fn interrupts_as_xen_writes_them() {
        let mut n = Node::new("x");
        set_interrupts(&mut n, &[(27, 8), (32, 4)], 7).unwrap();
        assert_eq!(
            n.prop_cells("interrupts").unwrap(),
            [1, 11, 0xf08, 0, 0, 0xf04]
        );
        assert_eq!(n.prop_u32("interrupt-parent"), Some(7));
        assert!(set_interrupts(&mut n, &[(15, 8)], 7).is_err());
        assert!(set_interrupts(&mut n, &[(1020, 8)], 7).is_err());
    }
}
