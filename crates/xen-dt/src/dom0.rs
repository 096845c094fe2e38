//! dom0's device tree, built from the host's the way Xen 4.17 builds it
//! (`xen/arch/arm/domain_build.c`: `handle_node`, `write_properties`, `make_gic_node` with
//! `gicv2_make_hwdom_dt_node` / `gicv3_make_hwdom_dt_node`, `make_timer_node`,
//! `make_psci_node`, `make_cpus_node`, `make_memory_node`), compared against what real Xen
//! 4.17.5 gives dom0 on QEMU virt (`/work/shared/reference/xen-4.17-dom0-dt-arm64.dts`).
//!
//! dom0 sees the host's devices 1:1 (same addresses, same SPIs); what Xen keeps for itself or
//! virtualizes is replaced:
//! - `/chosen`: module nodes and `xen,*` properties go; `bootargs`, `linux,initrd-start/end`
//!   (64-bit values) are dom0's; `stdout-path` names the vUART if there is one, else goes.
//! - memory nodes: one `memory@<base>` with dom0's banks (1:1).
//! - `/cpus`: regenerated with `nr_vcpus` `cpu@N` nodes, `reg` = the vCPU's virtual MPIDR
//!   affinity (Xen's `vcpuid_to_vaffinity`); `cpu-map` goes.
//! - `/psci`: PSCI 1.0 over HVC with Xen's legacy PSCI 0.1 function ids.
//! - the GIC: renamed `interrupt-controller`, only GICD + GICC (v2) or GICD + one GICR region
//!   (v3) in `reg`, no maintenance interrupt, no MSI frames.
//! - the timer: secure phys, non-secure phys and virt PPIs only.
//! - PMU nodes and Xenith's own UART go; a vPL011 (`arm,sbsa-uart`) may be added.
//! - `/hypervisor` is not added here (a later step does it).
//!
//! Node order follows Xen: host nodes in host order (GIC and timer rewritten in place), then
//! `/psci`, `/cpus`, the memory node at the end of `/`.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use addr::{Pa, Region, PAGE_SIZE};

use crate::bindings::{
    self, addr_cells, at, gic_irqs, path, raw_regs, regs, size_cells, SPI_BASE, SPI_MAX,
};
use crate::host::{
    find_gic, GicInfo, HostInfo, TimerInfo, PSCI_COMPATS, TIMER_COMPATS, TIMER_PHYS_NONSECURE_PPI,
    TIMER_PHYS_SECURE_PPI, TIMER_VIRT_PPI,
};
use crate::nodes;
use crate::tree::{bytes_to_cells, encode_reg, read_cells, Node, Tree};
use crate::Error;

pub use crate::nodes::{
    vcpuid_to_vaffinity, XenNode, GICV3_GICR_SIZE, MAX_VAFFINITY_VCPUS, PSCI_CPU_OFF, PSCI_CPU_ON,
    VPL011_SPEED,
};

/// Compatibles of nodes Xen never shows dom0 (`skip_matches` in `handle_node`): PMUs (Xen
/// does not virtualize the PMU), the memory-mapped timer, EDAC.
const SKIP_COMPATS: &[&str] = &[
    "arm,cortex-a7-pmu",
    "arm,cortex-a15-pmu",
    "arm,armv8-pmuv3",
    "arm,cortex-a53-edac",
    "arm,armv7-timer-mem",
    "xen,xen",
];

/// dom0's virtual PL011 (Xen's vpl011 for guests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VuartConfig {
    /// MMIO base.
    pub base: Pa,
    /// MMIO size.
    pub size: u64,
    /// SPI INTID (32..=1019).
    pub spi: u32,
}

/// What dom0's DT must describe beyond the host's devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dom0Config {
    /// dom0's RAM banks (1:1, IPA = PA).
    pub memory: Vec<Region<Pa>>,
    /// Number of vCPUs.
    pub nr_vcpus: u32,
    /// dom0's command line (written only if not empty, as Xen does).
    pub bootargs: String,
    /// Where dom0's initrd was placed.
    pub initrd: Option<Region<Pa>>,
    /// A vPL011 to describe (and make the console).
    pub vuart: Option<VuartConfig>,
    /// GICv3 only: the redistributor region for dom0's vCPUs (at least `nr_vcpus * 128K`);
    /// `None` advertises the host's redistributor regions, as Xen does.
    pub gic_v3_redist: Option<Region<Pa>>,
    /// The `/hypervisor` node telling dom0 it runs on Xen, if the guest interface is offered.
    pub xen: Option<XenNode>,
}

/// What dom0 gets direct access to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Passthrough {
    /// MMIO regions, page-aligned outward, sorted, overlapping/adjacent ones merged: every `reg`
    /// of every enabled device node left in dom0's DT (children translated through `ranges`),
    /// except memory, CPUs, the GIC and the vUART; plus the CPU windows of PCI host bridges'
    /// `ranges`.
    pub mmio: Vec<Region<Pa>>,
    /// SPI INTIDs (>= 32) of those nodes' interrupts and of PCI `interrupt-map`s, sorted,
    /// without duplicates.
    pub spis: Vec<u32>,
}

/// dom0's DT and what to pass through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dom0Dt {
    /// The DTB to load for dom0.
    pub dtb: Vec<u8>,
    /// MMIO and SPIs to give dom0.
    pub passthrough: Passthrough,
}

/// Builds dom0's DTB from the host DT (see the module docs).
pub fn build_dom0(host: &Tree, info: &HostInfo, cfg: &Dom0Config) -> Result<Dom0Dt, Error> {
    let (tree, passthrough) = build_dom0_tree(host, info, cfg)?;
    Ok(Dom0Dt {
        dtb: tree.to_dtb()?,
        passthrough,
    })
}

fn phandle_of(n: &Node) -> Option<u32> {
    n.prop_u32("phandle").or(n.prop_u32("linux,phandle"))
}

fn arg(msg: String) -> Error {
    Error::InvalidArgument(msg)
}

/// Like [`build_dom0`] but returns the edited tree (for inspection and golden tests).
pub fn build_dom0_tree(
    host: &Tree,
    info: &HostInfo,
    cfg: &Dom0Config,
) -> Result<(Tree, Passthrough), Error> {
    if cfg.memory.is_empty() {
        return Err(arg("dom0 needs at least one memory bank".into()));
    }
    if cfg.memory.iter().any(|r| r.size == 0 || r.end().is_none()) {
        return Err(arg("a dom0 memory bank is empty or wraps".into()));
    }
    nodes::check_nr_vcpus(cfg.nr_vcpus)?;
    if let Some(v) = &cfg.vuart {
        if !(SPI_BASE..=SPI_MAX).contains(&v.spi) || v.size == 0 {
            return Err(arg(format!(
                "vUART SPI {} or size {:#x} invalid",
                v.spi, v.size
            )));
        }
    }

    let mut t = host.clone();
    t.mem_reserve.clear();
    t.boot_cpuid_phys = 0;
    let root_ac = addr_cells(&t.root);
    let root_sc = size_cells(&t.root);

    // The GIC and its phandle (every interrupt-parent in dom0's DT refers to it).
    let gic_idx = find_gic(host)?;
    let host_gic = at(host, &gic_idx)?;
    let gic_phandle = match phandle_of(host_gic) {
        Some(p) => p,
        None => host
            .max_phandle()
            .checked_add(1)
            .ok_or_else(|| Error::Unsupported("no free phandle for the GIC".into()))?,
    };
    let new_gic = make_gic_node(host, &gic_idx, info, cfg, gic_phandle)?;
    {
        let parent_has_name = |name: &str| {
            gic_idx
                .split_last()
                .and_then(|(_, p)| host.node_at(p))
                .is_some_and(|p| p.children.iter().any(|c| c.name == name))
        };
        let mut g = new_gic;
        if parent_has_name(&g.name) {
            // Keep the host's name rather than create two siblings with one name.
            g.name = host_gic.name.clone();
        }
        *node_at_mut(&mut t, &gic_idx)? = g;
    }

    // The timer, rewritten in place.
    if let Some(timer_idx) =
        bindings::find_all(host, |n| TIMER_COMPATS.iter().any(|c| n.compatible_with(c)))
            .into_iter()
            .next()
    {
        let timer = make_timer_node(at(host, &timer_idx)?, &info.timer, gic_phandle)?;
        *node_at_mut(&mut t, &timer_idx)? = timer;
    }

    // Xenith's UART: removed; the vUART takes its place if it was a root child.
    let uart_idx = match &info.uart {
        Some(u) => Some(
            host.resolve(&u.path)
                .ok_or_else(|| Error::Missing(format!("console UART node {}", u.path)))?,
        ),
        None => None,
    };
    let vuart_name = cfg.vuart.map(|v| format!("serial@{:x}", v.base.raw()));
    let vuart_node = match &cfg.vuart {
        Some(v) => Some(nodes::vpl011_node(
            &format!("serial@{:x}", v.base.raw()),
            v.base,
            v.size,
            v.spi,
            root_ac,
            root_sc,
            gic_phandle,
        )?),
        None => None,
    };
    if let Some(name) = &vuart_name {
        if t.root.children.iter().any(|c| &c.name == name) {
            return Err(arg(format!("vUART node {name} collides with a host node")));
        }
    }
    // Mark nested nodes to drop (UART below a bus, PMUs anywhere) by index path, deepest
    // first so earlier removals do not shift later paths.
    let mut drop: Vec<Vec<usize>> =
        bindings::find_all(host, |n| SKIP_COMPATS.iter().any(|c| n.compatible_with(c)));
    if let Some(u) = &uart_idx {
        if u.len() > 1 {
            drop.push(u.clone());
        }
    }
    drop.retain(|p| p.len() > 1);
    drop.sort_by(|a, b| b.cmp(a));
    for p in drop {
        if let Some((last, parent)) = p.split_last() {
            let parent = node_at_mut(&mut t, parent)?;
            if *last < parent.children.len() {
                parent.children.remove(*last);
            }
        }
    }

    // Root children: drop what Xen regenerates or hides, keep the rest in order.
    let host_cpus = t.root.child("cpus").cloned();
    let old = core::mem::take(&mut t.root.children);
    let mut vuart_node = vuart_node;
    for (i, c) in old.into_iter().enumerate() {
        let is_uart = uart_idx.as_deref() == Some(&[i][..]);
        if is_uart {
            if let Some(v) = vuart_node.take() {
                t.root.children.push(v);
            }
            continue;
        }
        let skip = c.prop_str("device_type") == Some("memory")
            || (c.base_name() == "memory" && !c.has_prop("device_type"))
            || c.name == "cpus"
            || PSCI_COMPATS.iter().any(|p| c.compatible_with(p))
            || SKIP_COMPATS.iter().any(|p| c.compatible_with(p));
        if !skip {
            t.root.children.push(c);
        }
    }
    if let Some(v) = vuart_node.take() {
        t.root.children.push(v);
    }

    edit_chosen(&mut t, cfg, vuart_name.as_deref())?;
    edit_aliases(&mut t, host, uart_idx.as_deref(), vuart_name.as_deref());

    if let Some(x) = &cfg.xen {
        t.root
            .add_child(nodes::hypervisor_node(x, root_ac, root_sc, gic_phandle)?);
    }
    t.root.add_child(nodes::psci_node());
    t.root
        .add_child(make_cpus_node(host_cpus.as_ref(), cfg.nr_vcpus)?);
    t.root
        .add_child(nodes::memory_node(&cfg.memory, root_ac, root_sc));

    let passthrough = passthrough(&t, vuart_name.as_deref())?;
    Ok((t, passthrough))
}

fn node_at_mut<'a>(t: &'a mut Tree, idx: &[usize]) -> Result<&'a mut Node, Error> {
    let mut n = &mut t.root;
    for &i in idx {
        n = n
            .children
            .get_mut(i)
            .ok_or_else(|| Error::Missing(format!("node at index path {idx:?}")))?;
    }
    Ok(n)
}

/// Xen's `make_gic_node` + `gicv{2,3}_make_hwdom_dt_node`.
fn make_gic_node(
    host: &Tree,
    gic_idx: &[usize],
    info: &HostInfo,
    cfg: &Dom0Config,
    phandle: u32,
) -> Result<Node, Error> {
    let hg = at(host, gic_idx)?;
    let parent = match gic_idx.split_last() {
        Some((_, p)) => at(host, p)?,
        None => return Err(Error::Unsupported("the root node is the GIC".into())),
    };
    let (pac, psc) = (addr_cells(parent), size_cells(parent));
    let raw = raw_regs(host, gic_idx)?;
    let mut g = Node::new("interrupt-controller");
    g.set_prop_u32("phandle", phandle);
    for p in ["#address-cells", "#size-cells"] {
        if let Some(v) = hg.prop(p) {
            g.set_prop(p, v.to_vec());
        }
    }
    g.set_prop_u32("#interrupt-cells", 3);
    g.set_prop_empty("interrupt-controller");
    g.set_prop("compatible", hg.prop("compatible").unwrap_or(&[]).to_vec());
    match &info.gic {
        GicInfo::V2 { .. } => {
            // GICD and GICC as the host describes them (Xen copies the first two entries:
            // dom0's GICC is backed by GICV at the same address). GICH/GICV are Xen's, and
            // so is the maintenance interrupt. The GICv2m MSI frame child is dropped: MSI
            // pass-through is not implemented yet (Xen 4.17 describes it to dom0).
            let r = raw.get(..2).ok_or_else(|| Error::BadProperty {
                node: path(host, gic_idx),
                prop: "reg".into(),
                what: "GICv2 reg lacks GICD and GICC",
            })?;
            g.set_prop("reg", encode_reg(pac, psc, r));
        }
        GicInfo::V3 { dist, redist, .. } => {
            let raw_dist = *raw.first().ok_or_else(|| Error::BadProperty {
                node: path(host, gic_idx),
                prop: "reg".into(),
                what: "GICv3 reg lacks GICD",
            })?;
            let regions: Vec<(u64, u64)> = match cfg.gic_v3_redist {
                Some(r) => {
                    if raw_dist.0 != dist.start.raw() {
                        return Err(Error::Unsupported(
                            "a GICv3 behind a translating bus with a dom0 GICR region".into(),
                        ));
                    }
                    let need = u64::from(cfg.nr_vcpus) * GICV3_GICR_SIZE;
                    if r.size < need || r.end().is_none() {
                        return Err(arg(format!(
                            "GICv3 redistributor region {:#x} bytes is smaller than {need:#x} \
                             for {} vCPUs",
                            r.size, cfg.nr_vcpus
                        )));
                    }
                    alloc::vec![raw_dist, (r.start.raw(), r.size)]
                }
                None => raw.iter().take(1 + redist.len()).copied().collect(),
            };
            let nr = u32::try_from(regions.len() - 1).unwrap_or(u32::MAX);
            g.set_prop_u32("#redistributor-regions", nr);
            g.set_prop("reg", encode_reg(pac, psc, &regions));
            // No ITS child: MSI pass-through is not implemented yet.
        }
    }
    Ok(g)
}

/// Xen's `make_timer_node`: secure phys, non-secure phys and virt PPIs, level-low with CPU mask
/// 0xf as Xen writes them; the hyp PPI and `always-on` are not shown. (A 32-bit dom0 would get
/// "arm,armv7-timer"; Linux matches both.)
fn make_timer_node(host_timer: &Node, timer: &TimerInfo, gic_phandle: u32) -> Result<Node, Error> {
    let ppi = |i: usize| {
        timer.irqs[i]
            .ok_or_else(|| Error::Missing("the timer's secure, non-secure and virtual PPIs".into()))
    };
    nodes::timer_node(
        "arm,armv8-timer",
        [
            ppi(TIMER_PHYS_SECURE_PPI)?,
            ppi(TIMER_PHYS_NONSECURE_PPI)?,
            ppi(TIMER_VIRT_PPI)?,
        ],
        gic_phandle,
        host_timer.prop_u32("clock-frequency"),
    )
}

/// Xen's `make_cpus_node`; each vCPU also keeps the phandle of the host CPU node of the same
/// index (nodes elsewhere may refer to it), which Xen drops.
fn make_cpus_node(host_cpus: Option<&Node>, nr_vcpus: u32) -> Result<Node, Error> {
    let cpus: Vec<&Node> = host_cpus
        .map(|c| {
            c.children
                .iter()
                .filter(|n| n.prop_str("device_type") == Some("cpu"))
                .collect()
        })
        .unwrap_or_default();
    let first = cpus
        .first()
        .ok_or_else(|| Error::Missing("cpu nodes under /cpus".into()))?;
    let clock = first.prop_u32("clock-frequency");
    let vcpus = (0..nr_vcpus)
        .map(|v| {
            let host_cpu = cpus.get(v as usize).copied();
            let compat = host_cpu
                .and_then(|h| h.prop("compatible"))
                .or(first.prop("compatible"));
            nodes::xen_cpu_node(v, compat, clock, host_cpu.and_then(phandle_of))
        })
        .collect();
    Ok(nodes::cpus_node(vcpus))
}

/// Xen's `write_properties` for `/chosen`.
fn edit_chosen(t: &mut Tree, cfg: &Dom0Config, vuart_name: Option<&str>) -> Result<(), Error> {
    if t.root.child("chosen").is_none() {
        t.root.add_child(Node::new("chosen"));
    }
    let chosen = t
        .root
        .child_mut("chosen")
        .ok_or_else(|| Error::Missing("/chosen".into()))?;
    chosen.props.retain(|p| {
        !p.name.starts_with("xen,")
            && !matches!(
                p.name.as_str(),
                "bootargs"
                    | "linux,initrd-start"
                    | "linux,initrd-end"
                    | "stdout-path"
                    | "linux,stdout-path"
            )
    });
    // Boot modules (and any other Xen-protocol child, e.g. dom0less domains) are Xen's.
    chosen.retain_children(|c| {
        !c.prop_strs("compatible")
            .any(|s| s.starts_with("multiboot,") || s.starts_with("xen,"))
    });
    if !cfg.bootargs.is_empty() {
        chosen.set_prop_str("bootargs", &cfg.bootargs);
    }
    if let Some(r) = cfg.initrd {
        let end = r
            .end()
            .ok_or_else(|| arg("dom0 initrd region wraps".into()))?;
        chosen.set_prop("linux,initrd-start", r.start.raw().to_be_bytes().to_vec());
        chosen.set_prop("linux,initrd-end", end.raw().to_be_bytes().to_vec());
    }
    if let Some(name) = vuart_name {
        chosen.set_prop_str("stdout-path", &format!("/{name}"));
    }
    Ok(())
}

/// Drops aliases naming Xenith's UART; points `serial0` at the vUART if there is one.
fn edit_aliases(t: &mut Tree, host: &Tree, uart_idx: Option<&[usize]>, vuart: Option<&str>) {
    if let (Some(aliases), Some(uart)) = (t.root.child_mut("aliases"), uart_idx) {
        aliases.props.retain(|p| {
            let target = p
                .value
                .split(|&b| b == 0)
                .next()
                .and_then(|s| core::str::from_utf8(s).ok())
                .and_then(|s| host.resolve(s));
            target.as_deref() != Some(uart)
        });
    }
    if let Some(name) = vuart {
        if t.root.child("aliases").is_none() {
            // Before /chosen, where dtc-built trees usually have it.
            let at = t
                .root
                .children
                .iter()
                .position(|c| c.name == "chosen")
                .unwrap_or(t.root.children.len());
            t.root.children.insert(at, Node::new("aliases"));
        }
        if let Some(a) = t.root.child_mut("aliases") {
            a.set_prop_str("serial0", &format!("/{name}"));
        }
    }
}

struct Collector {
    mmio: Vec<(u64, u64)>,
    spis: Vec<u32>,
}

/// Computes what dom0 must be given access to from its finished tree.
fn passthrough(t: &Tree, vuart_name: Option<&str>) -> Result<Passthrough, Error> {
    let gic = find_gic(t)?;
    let mut c = Collector {
        mmio: Vec::new(),
        spis: Vec::new(),
    };
    for (i, n) in t.root.children.iter().enumerate() {
        let skip = n.prop_str("device_type") == Some("memory")
            || matches!(
                n.name.as_str(),
                "chosen" | "aliases" | "cpus" | "reserved-memory" | "hypervisor"
            )
            || PSCI_COMPATS.iter().any(|p| n.compatible_with(p))
            || TIMER_COMPATS.iter().any(|p| n.compatible_with(p))
            || Some(n.name.as_str()) == vuart_name;
        if !skip {
            collect(t, &[i], &gic, &mut c)?;
        }
    }
    let mut spis = c.spis;
    spis.sort_unstable();
    spis.dedup();
    Ok(Passthrough {
        mmio: merge_pages(c.mmio)?,
        spis,
    })
}

fn collect(t: &Tree, idx: &[usize], gic: &[usize], c: &mut Collector) -> Result<(), Error> {
    let n = at(t, idx)?;
    if !n.is_enabled() || idx == gic {
        return Ok(());
    }
    match regs(t, idx) {
        Ok(r) => c.mmio.extend(r),
        // Not CPU-addressable (e.g. an I2C device's address): nothing to map.
        Err(Error::Unsupported(_)) => {}
        Err(e) => return Err(e),
    }
    c.spis.extend(
        gic_irqs(t, idx, gic)?
            .into_iter()
            .filter(|&i| i >= SPI_BASE),
    );
    if n.prop_str("device_type") == Some("pci") {
        pci_host(t, idx, gic, c)?;
        // Devices below a PCI host bridge are reached through its windows.
        return Ok(());
    }
    let mut child = idx.to_vec();
    for i in 0..n.children.len() {
        child.push(i);
        collect(t, &child, gic, c)?;
        child.pop();
    }
    Ok(())
}

/// A PCI host bridge's CPU windows (`ranges`) and the SPIs of its `interrupt-map`
/// (Xen: `map_range_to_domain` over `dt_for_each_range`, `map_dt_irq_to_domain` over
/// `dt_for_each_irq_map`).
fn pci_host(t: &Tree, idx: &[usize], gic: &[usize], c: &mut Collector) -> Result<(), Error> {
    let n = at(t, idx)?;
    let bad = |prop: &str, what: &'static str| Error::BadProperty {
        node: path(t, idx),
        prop: prop.to_string(),
        what,
    };
    let parent = match idx.split_last() {
        Some((_, p)) => at(t, p)?,
        None => return Ok(()),
    };
    let (ca, pa, sc) = (
        addr_cells(n) as usize,
        addr_cells(parent) as usize,
        size_cells(n) as usize,
    );
    if let Some(v) = n.prop("ranges") {
        let cells = bytes_to_cells(v).ok_or(bad("ranges", "length is not a multiple of 4"))?;
        let per = ca + pa + sc;
        if per == 0 || !cells.len().is_multiple_of(per) {
            return Err(bad("ranges", "length is not a multiple of the entry size"));
        }
        for e in 0..cells.len() / per {
            let b = e * per;
            let cpu = read_cells(&cells, b + ca, pa).ok_or(bad("ranges", "address too wide"))?;
            let size = read_cells(&cells, b + ca + pa, sc).ok_or(bad("ranges", "size too wide"))?;
            c.mmio.push((bindings::translate(t, idx, cpu)?, size));
        }
    }
    if let Some(v) = n.prop("interrupt-map") {
        let cells =
            bytes_to_cells(v).ok_or(bad("interrupt-map", "length is not a multiple of 4"))?;
        let ic = n
            .prop_u32("#interrupt-cells")
            .ok_or(bad("#interrupt-cells", "missing beside interrupt-map"))?
            as usize;
        let mut i = 0;
        while i < cells.len() {
            let ph_at = i + ca + ic;
            let ph = *cells
                .get(ph_at)
                .ok_or(bad("interrupt-map", "truncated entry"))?;
            let ctrl = t
                .phandle_index(ph)
                .ok_or(bad("interrupt-map", "phandle names no node"))?;
            let cn = at(t, &ctrl)?;
            let pac = cn.prop_u32("#address-cells").unwrap_or(0) as usize;
            let pic = cn
                .prop_u32("#interrupt-cells")
                .ok_or(bad("interrupt-map", "parent lacks #interrupt-cells"))?
                as usize;
            let spec_at = ph_at + 1 + pac;
            let spec = cells
                .get(spec_at..spec_at + pic)
                .ok_or(bad("interrupt-map", "truncated entry"))?;
            if ctrl == gic {
                let intid = bindings::gic_intid(spec).ok_or(bad(
                    "interrupt-map",
                    "GIC specifier is neither a PPI nor an SPI",
                ))?;
                if intid >= SPI_BASE {
                    c.spis.push(intid);
                }
            }
            i = spec_at + pic;
        }
    }
    Ok(())
}

/// Page-aligns every (address, size) outward, sorts, and merges overlapping or adjacent ones.
fn merge_pages(mut v: Vec<(u64, u64)>) -> Result<Vec<Region<Pa>>, Error> {
    let mut spans: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (a, s) in v.drain(..) {
        if s == 0 {
            continue;
        }
        let end = a
            .checked_add(s)
            .and_then(|e| Pa(e).align_up(PAGE_SIZE))
            .ok_or_else(|| Error::Unsupported(format!("MMIO region {a:#x}+{s:#x} wraps")))?;
        spans.push((Pa(a).align_down(PAGE_SIZE).raw(), end.raw()));
    }
    spans.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    Ok(out
        .into_iter()
        .map(|(s, e)| Region::new(Pa(s), e - s))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn merging() {
        let m = merge_pages(vec![
            (0xa000200, 0x200),
            (0xa000000, 0x200),
            (0x9020000, 0x18),
            (0xa001000, 0x10),
            (0x0, 0),
        ])
        .unwrap();
        assert_eq!(
            m,
            [
                Region::new(Pa(0x9020000), 0x1000),
                Region::new(Pa(0xa000000), 0x2000)
            ]
        );
        assert!(merge_pages(vec![(u64::MAX - 1, 4)]).is_err());
    }
}
