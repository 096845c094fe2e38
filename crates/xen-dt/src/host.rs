//! What Xenith learns from the host DT it boots with.
//!
//! The host DT follows Xen's boot protocol (`docs/misc/arm/device-tree/booting.txt`):
//! `/chosen` carries `xen,xen-bootargs`, `xen,dom0-bootargs` and module nodes whose
//! `compatible` is `multiboot,kernel` / `multiboot,ramdisk` (older: `xen,linux-zimage` /
//! `xen,linux-initrd`; bare `multiboot,module` nodes are guessed kernel then ramdisk, as Xen's
//! `process_multiboot_node` does). Dom0less domains are `/chosen` children with compatible
//! `xen,domain` (`memory` in KiB, `cpus`, `vpl011`, `nr_spis`, `xen,enhanced`) holding their own
//! `multiboot,kernel` / `multiboot,ramdisk` modules ([`parse_dom0less`]). The hardware is found through the usual bindings: `/memory`,
//! `/cpus/cpu@N` (reg = MPIDR affinity), `/psci`, the GIC (`arm,gic-v3` or a GICv2 compatible,
//! `reg` = GICD, GICC, GICH, GICV for v2 and GICD, GICR regions for v3, `interrupts` = the
//! maintenance PPI), the architected timer (`interrupts` = secure phys, non-secure phys, virt,
//! hyp PPIs) and the console UART.
//!
//! [`parse_cmdline`] reads the Xen command-line options Xenith honours, spelled as Xen spells
//! them (`docs/misc/xen-command-line.pandoc`).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use addr::{Pa, Region};

use crate::bindings::{self, at, gic_irqs, path, raw_regs, regs, PPI_BASE, SPI_BASE};
use crate::tree::{Node, Tree};
use crate::Error;

/// GICv2 `compatible` strings Xen's `gic-v2.c` accepts (`DT_COMPAT_GIC_*`).
pub const GIC_V2_COMPATS: &[&str] = &["arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a7-gic"];
/// GICv3 `compatible` (`DT_COMPAT_GIC_V3`).
pub const GIC_V3_COMPATS: &[&str] = &["arm,gic-v3"];
/// Architected timer `compatible` strings.
pub const TIMER_COMPATS: &[&str] = &["arm,armv8-timer", "arm,armv7-timer"];
/// PSCI `compatible` strings.
pub const PSCI_COMPATS: &[&str] = &["arm,psci-1.0", "arm,psci-0.2", "arm,psci"];

/// Index into [`TimerInfo::irqs`] of the secure physical timer PPI (Xen's
/// `TIMER_PHYS_SECURE_PPI`).
pub const TIMER_PHYS_SECURE_PPI: usize = 0;
/// Index of the non-secure physical timer PPI (`TIMER_PHYS_NONSECURE_PPI`).
pub const TIMER_PHYS_NONSECURE_PPI: usize = 1;
/// Index of the virtual timer PPI (`TIMER_VIRT_PPI`).
pub const TIMER_VIRT_PPI: usize = 2;
/// Index of the hypervisor (EL2) physical timer PPI (`TIMER_HYP_PPI`).
pub const TIMER_HYP_PPI: usize = 3;

/// How PSCI is called on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    /// `method = "smc"`.
    Smc,
    /// `method = "hvc"`.
    Hvc,
    /// No PSCI node.
    None,
}

/// The host's GIC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GicInfo {
    /// GICv2 with virtualization extensions.
    V2 {
        /// Distributor (GICD).
        dist: Region<Pa>,
        /// CPU interface (GICC).
        cpu: Region<Pa>,
        /// Virtual interface control (GICH).
        hyp: Region<Pa>,
        /// Virtual CPU interface (GICV).
        vcpu: Region<Pa>,
        /// Maintenance interrupt INTID.
        maint_irq: u32,
        /// Path of the GIC node.
        path: String,
    },
    /// GICv3.
    V3 {
        /// Distributor (GICD).
        dist: Region<Pa>,
        /// Redistributor regions (GICR), `#redistributor-regions` of them.
        redist: Vec<Region<Pa>>,
        /// Maintenance interrupt INTID.
        maint_irq: u32,
        /// Path of the GIC node.
        path: String,
    },
}

impl GicInfo {
    /// Path of the GIC node.
    pub fn path(&self) -> &str {
        match self {
            GicInfo::V2 { path, .. } | GicInfo::V3 { path, .. } => path,
        }
    }
    /// Maintenance interrupt INTID.
    pub fn maint_irq(&self) -> u32 {
        match self {
            GicInfo::V2 { maint_irq, .. } | GicInfo::V3 { maint_irq, .. } => *maint_irq,
        }
    }
}

/// The architected timer's interrupts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerInfo {
    /// PPI INTIDs (16 + n): secure phys, non-secure phys, virt, hyp (see `TIMER_*_PPI`).
    pub irqs: [Option<u32>; 4],
}

/// The UART Xenith uses as its console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UartInfo {
    /// Full path of its node.
    pub path: String,
    /// MMIO base.
    pub base: Pa,
    /// MMIO size.
    pub size: u64,
    /// Its SPI INTID, if it has one.
    pub spi: Option<u32>,
}

/// What a boot module holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleKind {
    /// dom0's kernel.
    Kernel,
    /// dom0's initramfs.
    Ramdisk,
    /// Anything else (XSM policy, device tree, unknown).
    Other,
}

/// A boot module from `/chosen`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// What it is.
    pub kind: ModuleKind,
    /// Where it lies.
    pub region: Region<Pa>,
    /// Its `bootargs`, if any.
    pub bootargs: Option<String>,
}

/// What a dom0less domain's `xen,enhanced` asks for (booting.txt "Creating Multiple Domains
/// directly from Xen").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enhanced {
    /// Absent or "disabled": no Xen PV interfaces advertised.
    Disabled,
    /// Present without a value, or "enabled": the Xen interfaces including xenstore.
    Enabled,
    /// "no-xenstore": the Xen interfaces (grant table, event channels) without xenstore.
    NoXenstore,
}

/// A domain Xen builds at boot beside dom0 (a `/chosen` child with compatible `xen,domain`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dom0lessDomain {
    /// The node's name (`domU1`), which Xen uses in its messages.
    pub name: String,
    /// `memory`: RAM in KiB (a 32- or 64-bit integer).
    pub memory_kb: u64,
    /// `cpus`: number of vCPUs.
    pub cpus: u32,
    /// `vpl011`: an emulated SBSA UART as its console.
    pub vpl011: bool,
    /// `nr_spis`, if given.
    pub nr_spis: Option<u32>,
    /// `xen,enhanced`.
    pub enhanced: Enhanced,
    /// The `multiboot,kernel` child (its `bootargs` are the domain's command line).
    pub kernel: Module,
    /// The `multiboot,ramdisk` child, if any.
    pub ramdisk: Option<Module>,
    /// Properties and modules Xenith does not implement (`xen,static-mem`, `direct-map`,
    /// `domain-cpupool`, a `multiboot,device-tree` partial DT), by name: the builder refuses
    /// the domain rather than ignore them.
    pub unsupported: Vec<String>,
}

impl Dom0lessDomain {
    /// The domain's command line: its kernel module's `bootargs`, as Xen's `kernel_probe`.
    pub fn cmdline(&self) -> &str {
        self.kernel.bootargs.as_deref().unwrap_or("")
    }

    /// Every boot module the domain uses (to reserve them from the frame allocator).
    pub fn modules(&self) -> impl Iterator<Item = &Module> {
        core::iter::once(&self.kernel).chain(self.ramdisk.as_ref())
    }
}

/// Everything Xenith needs from the host DT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInfo {
    /// RAM banks from the memory nodes, in DT order.
    pub memory: Vec<Region<Pa>>,
    /// MPIDR affinity of each CPU (`reg` of `/cpus/cpu@N`), in DT order.
    pub cpus: Vec<u64>,
    /// PSCI conduit.
    pub psci_method: PsciMethod,
    /// The GIC.
    pub gic: GicInfo,
    /// Timer PPIs.
    pub timer: TimerInfo,
    /// Console UART: `dtuart=` in `xen,xen-bootargs`, else `/chosen/stdout-path`, else the
    /// first enabled `arm,pl011`.
    pub uart: Option<UartInfo>,
    /// `/chosen/xen,xen-bootargs`.
    pub xen_bootargs: Option<String>,
    /// `/chosen/xen,dom0-bootargs`.
    pub dom0_bootargs: Option<String>,
    /// `/chosen/bootargs` (Xen's fallback for both command lines).
    pub chosen_bootargs: Option<String>,
    /// Boot modules in DT order.
    pub modules: Vec<Module>,
    /// dom0less domains (`/chosen/*` with compatible `xen,domain`), in DT order.
    pub dom0less: Vec<Dom0lessDomain>,
}

impl HostInfo {
    /// Xen's command line: `xen,xen-bootargs`, else `/chosen/bootargs`.
    pub fn xen_cmdline(&self) -> &str {
        self.xen_bootargs
            .as_deref()
            .or(self.chosen_bootargs.as_deref())
            .unwrap_or("")
    }

    /// dom0's command line as Xen picks it: the kernel module's `bootargs`, else
    /// `xen,dom0-bootargs`, else `/chosen/bootargs` when `xen,xen-bootargs` is present (so it
    /// was not Xen's own).
    pub fn dom0_cmdline(&self) -> &str {
        if let Some(a) = self.kernel().and_then(|k| k.bootargs.as_deref()) {
            return a;
        }
        if let Some(a) = self.dom0_bootargs.as_deref() {
            return a;
        }
        if self.xen_bootargs.is_some() {
            return self.chosen_bootargs.as_deref().unwrap_or("");
        }
        ""
    }

    /// The first kernel module.
    pub fn kernel(&self) -> Option<&Module> {
        self.modules.iter().find(|m| m.kind == ModuleKind::Kernel)
    }

    /// The first ramdisk module.
    pub fn ramdisk(&self) -> Option<&Module> {
        self.modules.iter().find(|m| m.kind == ModuleKind::Ramdisk)
    }
}

fn compat_any(n: &Node, compats: &[&str]) -> bool {
    compats.iter().any(|c| n.compatible_with(c))
}

fn region(tree: &Tree, idx: &[usize], (a, s): (u64, u64)) -> Result<Region<Pa>, Error> {
    if a.checked_add(s).is_none() {
        return Err(Error::BadProperty {
            node: path(tree, idx),
            prop: "reg".to_string(),
            what: "region wraps the address space",
        });
    }
    Ok(Region::new(Pa(a), s))
}

/// Index path of the host's (primary) GIC: the root's `interrupt-parent` if it is a GIC, else
/// the first enabled GIC node.
pub(crate) fn find_gic(tree: &Tree) -> Result<Vec<usize>, Error> {
    let is_gic = |n: &Node| compat_any(n, GIC_V2_COMPATS) || compat_any(n, GIC_V3_COMPATS);
    if let Some(idx) = tree
        .root
        .prop_u32("interrupt-parent")
        .and_then(|ph| tree.phandle_index(ph))
    {
        if tree.node_at(&idx).is_some_and(is_gic) {
            return Ok(idx);
        }
    }
    bindings::find_all(tree, |n| is_gic(n) && n.is_enabled())
        .into_iter()
        .next()
        .ok_or_else(|| {
            Error::Missing("a GIC node (arm,gic-v3, arm,gic-400, arm,cortex-a15-gic)".into())
        })
}

fn parse_gic(tree: &Tree, idx: &[usize]) -> Result<GicInfo, Error> {
    let n = at(tree, idx)?;
    let p = path(tree, idx);
    let rs = regs(tree, idx)?;
    let maint_irq = gic_irqs(tree, idx, idx)?
        .first()
        .copied()
        .filter(|&i| (PPI_BASE..SPI_BASE).contains(&i))
        .ok_or_else(|| Error::BadProperty {
            node: p.clone(),
            prop: "interrupts".into(),
            what: "missing or not a PPI (the GIC maintenance interrupt is needed)",
        })?;
    if compat_any(n, GIC_V3_COMPATS) {
        let nr = n.prop_u32("#redistributor-regions").unwrap_or(1) as usize;
        if nr == 0 || rs.len() < 1 + nr {
            return Err(Error::BadProperty {
                node: p,
                prop: "reg".into(),
                what: "fewer regions than GICD plus #redistributor-regions GICR regions",
            });
        }
        let mut redist = Vec::with_capacity(nr);
        for &r in &rs[1..=nr] {
            redist.push(region(tree, idx, r)?);
        }
        Ok(GicInfo::V3 {
            dist: region(tree, idx, rs[0])?,
            redist,
            maint_irq,
            path: p,
        })
    } else {
        if rs.len() < 4 {
            return Err(Error::Unsupported(format!(
                "GICv2 node {p} has {} reg regions; GICD, GICC, GICH and GICV are needed \
                 (QEMU: -M virt,virtualization=on)",
                rs.len()
            )));
        }
        Ok(GicInfo::V2 {
            dist: region(tree, idx, rs[0])?,
            cpu: region(tree, idx, rs[1])?,
            hyp: region(tree, idx, rs[2])?,
            vcpu: region(tree, idx, rs[3])?,
            maint_irq,
            path: p,
        })
    }
}

fn parse_timer(tree: &Tree, gic: &[usize]) -> Result<TimerInfo, Error> {
    let idx = bindings::find_all(tree, |n| compat_any(n, TIMER_COMPATS) && n.is_enabled())
        .into_iter()
        .next()
        .ok_or_else(|| Error::Missing("the architected timer node (arm,armv8-timer)".into()))?;
    let irqs = gic_irqs(tree, &idx, gic)?;
    let mut out = [None; 4];
    for (slot, &irq) in out.iter_mut().zip(irqs.iter()) {
        if !(PPI_BASE..SPI_BASE).contains(&irq) {
            return Err(Error::BadProperty {
                node: path(tree, &idx),
                prop: "interrupts".into(),
                what: "a timer interrupt is not a PPI",
            });
        }
        *slot = Some(irq);
    }
    Ok(TimerInfo { irqs: out })
}

fn parse_psci(tree: &Tree) -> Result<PsciMethod, Error> {
    let Some(idx) = bindings::find_all(tree, |n| compat_any(n, PSCI_COMPATS) && n.is_enabled())
        .into_iter()
        .next()
    else {
        return Ok(PsciMethod::None);
    };
    match at(tree, &idx)?.prop_str("method") {
        Some("smc") => Ok(PsciMethod::Smc),
        Some("hvc") => Ok(PsciMethod::Hvc),
        _ => Err(Error::BadProperty {
            node: path(tree, &idx),
            prop: "method".into(),
            what: "missing or neither \"smc\" nor \"hvc\"",
        }),
    }
}

/// Resolves a console path (`/pl011@9000000`, or an alias such as `serial0`), dropping any
/// `:options` suffix.
fn resolve_console(tree: &Tree, spec: &str) -> Result<Vec<usize>, Error> {
    let spec = spec.split(':').next().unwrap_or("");
    let full = if spec.starts_with('/') {
        spec
    } else {
        tree.node("/aliases")
            .and_then(|a| a.prop_str(spec))
            .ok_or_else(|| Error::Missing(format!("alias {spec:?} for the console UART")))?
    };
    tree.resolve(full)
        .ok_or_else(|| Error::Missing(format!("console UART node {full:?}")))
}

fn parse_uart(
    tree: &Tree,
    gic: &[usize],
    xen_cmdline: &str,
    chosen: Option<&Node>,
) -> Result<Option<UartInfo>, Error> {
    let dtuart = parse_cmdline(xen_cmdline).dtuart;
    let stdout = chosen.and_then(|c| {
        c.prop_str("stdout-path")
            .or(c.prop_str("linux,stdout-path"))
    });
    let idx = match dtuart.or(stdout) {
        Some(spec) => resolve_console(tree, spec)?,
        None => {
            match bindings::find_all(tree, |n| n.compatible_with("arm,pl011") && n.is_enabled())
                .into_iter()
                .next()
            {
                Some(idx) => idx,
                None => return Ok(None),
            }
        }
    };
    let p = path(tree, &idx);
    let &(base, size) = regs(tree, &idx)?
        .first()
        .ok_or_else(|| Error::BadProperty {
            node: p.clone(),
            prop: "reg".into(),
            what: "the console UART has no MMIO region",
        })?;
    let spi = gic_irqs(tree, &idx, gic)?
        .into_iter()
        .find(|&i| i >= SPI_BASE);
    Ok(Some(UartInfo {
        path: p,
        base: Pa(base),
        size,
        spi,
    }))
}

fn parse_modules(tree: &Tree) -> Result<Vec<Module>, Error> {
    let Some(chosen_idx) = tree.resolve("/chosen") else {
        return Ok(Vec::new());
    };
    let chosen = at(tree, &chosen_idx)?;
    let mut out = Vec::new();
    let mut guess = 0;
    for (i, c) in chosen.children.iter().enumerate() {
        let kind = if c.compatible_with("multiboot,kernel") || c.compatible_with("xen,linux-zimage")
        {
            ModuleKind::Kernel
        } else if c.compatible_with("multiboot,ramdisk") || c.compatible_with("xen,linux-initrd") {
            ModuleKind::Ramdisk
        } else if c.compatible_with("multiboot,module") || c.compatible_with("xen,multiboot-module")
        {
            // Xen's process_multiboot_node: the first unknown module is the kernel, the
            // second the ramdisk, except that explicit XSM policies / DTBs are neither.
            if c.compatible_with("multiboot,xsm-policy")
                || c.compatible_with("xen,xsm-policy")
                || c.compatible_with("multiboot,device-tree")
            {
                ModuleKind::Other
            } else {
                guess += 1;
                match guess {
                    1 => ModuleKind::Kernel,
                    2 => ModuleKind::Ramdisk,
                    _ => ModuleKind::Other,
                }
            }
        } else {
            continue;
        };
        let mut idx = chosen_idx.clone();
        idx.push(i);
        // Module addresses are CPU physical addresses in /chosen's cells (no translation).
        let &r = raw_regs(tree, &idx)?
            .first()
            .ok_or_else(|| Error::BadProperty {
                node: path(tree, &idx),
                prop: "reg".into(),
                what: "boot module without a reg",
            })?;
        out.push(Module {
            kind,
            region: region(tree, &idx, r)?,
            bootargs: c.prop_str("bootargs").map(String::from),
        });
    }
    Ok(out)
}

fn bad_domain(tree: &Tree, idx: &[usize], prop: &str, what: &'static str) -> Error {
    Error::BadProperty {
        node: path(tree, idx),
        prop: prop.to_string(),
        what,
    }
}

/// One `xen,domain` node (Xen's `create_domUs`, `construct_domU`, `kernel_probe`).
fn parse_dom0less_domain(tree: &Tree, idx: &[usize]) -> Result<Dom0lessDomain, Error> {
    let n = at(tree, idx)?;
    let memory_kb = match n.prop("memory").map(<[u8]>::len) {
        Some(4) => n.prop_u32("memory").map(u64::from),
        Some(8) => n
            .prop_cells("memory")
            .map(|c| u64::from(c[0]) << 32 | u64::from(c[1])),
        _ => None,
    }
    .filter(|&kb| kb > 0)
    .ok_or_else(|| {
        bad_domain(
            tree,
            idx,
            "memory",
            "missing, zero, or not a 32/64-bit integer",
        )
    })?;
    let cpus = n
        .prop_u32("cpus")
        .filter(|&c| c > 0)
        .ok_or_else(|| bad_domain(tree, idx, "cpus", "missing, zero, or not a 32-bit integer"))?;
    let nr_spis = match n.prop("nr_spis") {
        None => None,
        Some(_) => Some(
            n.prop_u32("nr_spis")
                .ok_or_else(|| bad_domain(tree, idx, "nr_spis", "not a 32-bit integer"))?,
        ),
    };
    let enhanced = match n.prop("xen,enhanced") {
        None => Enhanced::Disabled,
        Some([]) => Enhanced::Enabled,
        Some(_) => match n.prop_str("xen,enhanced") {
            Some("enabled") => Enhanced::Enabled,
            Some("no-xenstore") => Enhanced::NoXenstore,
            Some("disabled") => Enhanced::Disabled,
            _ => {
                return Err(bad_domain(
                    tree,
                    idx,
                    "xen,enhanced",
                    "neither \"enabled\", \"no-xenstore\" nor \"disabled\"",
                ))
            }
        },
    };
    let mut unsupported: Vec<String> = ["xen,static-mem", "direct-map", "domain-cpupool"]
        .into_iter()
        .filter(|p| n.has_prop(p))
        .map(String::from)
        .collect();
    let (mut kernel, mut ramdisk) = (None, None);
    for (i, c) in n.children.iter().enumerate() {
        let kind = if c.compatible_with("multiboot,kernel") {
            ModuleKind::Kernel
        } else if c.compatible_with("multiboot,ramdisk") {
            ModuleKind::Ramdisk
        } else {
            if c.compatible_with("multiboot,device-tree") {
                unsupported.push("multiboot,device-tree".into());
            }
            continue;
        };
        let mut cidx = idx.to_vec();
        cidx.push(i);
        // Module addresses are CPU physical addresses in the domain node's cells.
        let &r = raw_regs(tree, &cidx)?
            .first()
            .ok_or_else(|| bad_domain(tree, &cidx, "reg", "boot module without a reg"))?;
        let m = Module {
            kind,
            region: region(tree, &cidx, r)?,
            bootargs: c.prop_str("bootargs").map(String::from),
        };
        let slot = if kind == ModuleKind::Kernel {
            &mut kernel
        } else {
            &mut ramdisk
        };
        slot.get_or_insert(m);
    }
    let kernel = kernel.ok_or_else(|| {
        Error::Missing(format!(
            "a multiboot,kernel module under {}",
            path(tree, idx)
        ))
    })?;
    Ok(Dom0lessDomain {
        name: n.name.clone(),
        memory_kb,
        cpus,
        vpl011: n.has_prop("vpl011"),
        nr_spis,
        enhanced,
        kernel,
        ramdisk,
        unsupported,
    })
}

/// The dom0less domains: `/chosen` children with compatible `xen,domain`, in DT order.
pub fn parse_dom0less(tree: &Tree) -> Result<Vec<Dom0lessDomain>, Error> {
    let Some(chosen_idx) = tree.resolve("/chosen") else {
        return Ok(Vec::new());
    };
    let chosen = at(tree, &chosen_idx)?;
    let mut out = Vec::new();
    for (i, c) in chosen.children.iter().enumerate() {
        if c.compatible_with("xen,domain") {
            let mut idx = chosen_idx.clone();
            idx.push(i);
            out.push(parse_dom0less_domain(tree, &idx)?);
        }
    }
    Ok(out)
}

/// Parses the host DT Xenith boots with. A malformed DT gives an `Err` naming the node and
/// property at fault.
pub fn parse_host(tree: &Tree) -> Result<HostInfo, Error> {
    let mut memory = Vec::new();
    for (i, n) in tree.root.children.iter().enumerate() {
        let is_mem = n.prop_str("device_type") == Some("memory")
            || (n.base_name() == "memory" && !n.has_prop("device_type"));
        if !is_mem || !n.is_enabled() {
            continue;
        }
        for r in regs(tree, &[i])? {
            if r.1 != 0 {
                memory.push(region(tree, &[i], r)?);
            }
        }
    }
    if memory.is_empty() {
        return Err(Error::Missing("a memory node with RAM".into()));
    }

    let cpus_idx = tree
        .resolve("/cpus")
        .ok_or_else(|| Error::Missing("/cpus".into()))?;
    let cpus_node = at(tree, &cpus_idx)?;
    let mut cpus = Vec::new();
    for (i, c) in cpus_node.children.iter().enumerate() {
        if c.prop_str("device_type") != Some("cpu") {
            continue;
        }
        let mut idx = cpus_idx.clone();
        idx.push(i);
        let &(mpidr, _) = raw_regs(tree, &idx)?
            .first()
            .ok_or_else(|| Error::BadProperty {
                node: path(tree, &idx),
                prop: "reg".into(),
                what: "cpu node without reg (MPIDR)",
            })?;
        cpus.push(mpidr);
    }
    if cpus.is_empty() {
        return Err(Error::Missing("cpu nodes under /cpus".into()));
    }

    let gic_idx = find_gic(tree)?;
    let gic = parse_gic(tree, &gic_idx)?;
    let timer = parse_timer(tree, &gic_idx)?;
    let psci_method = parse_psci(tree)?;

    let chosen = tree.node("/chosen");
    let s = |name: &str| chosen.and_then(|c| c.prop_str(name)).map(String::from);
    let xen_bootargs = s("xen,xen-bootargs");
    let dom0_bootargs = s("xen,dom0-bootargs");
    let chosen_bootargs = s("bootargs");
    let xen_cmdline = xen_bootargs
        .as_deref()
        .or(chosen_bootargs.as_deref())
        .unwrap_or("");
    let uart = parse_uart(tree, &gic_idx, xen_cmdline, chosen)?;
    let modules = parse_modules(tree)?;
    let dom0less = parse_dom0less(tree)?;

    Ok(HostInfo {
        memory,
        cpus,
        psci_method,
        gic,
        timer,
        uart,
        xen_bootargs,
        dom0_bootargs,
        chosen_bootargs,
        modules,
        dom0less,
    })
}

/// Xen's `loglvl=` / `guest_loglvl=` levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `none`
    None,
    /// `error`
    Error,
    /// `warning`
    Warning,
    /// `info`
    Info,
    /// `debug`
    Debug,
    /// `all`
    All,
}

/// The Xen command-line options Xenith honours; everything else lands in `unknown`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CmdLine<'a> {
    /// `dom0_mem=<size>` in bytes.
    pub dom0_mem: Option<u64>,
    /// `dom0_max_vcpus=<n>` (or `<min>-<max>`: the max).
    pub dom0_max_vcpus: Option<u32>,
    /// `loglvl=<level>[/<rate-limited level>]`: the first level.
    pub loglvl: Option<LogLevel>,
    /// `guest_loglvl=<level>[/...]`.
    pub guest_loglvl: Option<LogLevel>,
    /// `console=` value (e.g. `dtuart`).
    pub console: Option<&'a str>,
    /// `dtuart=<path or alias>[:options]`.
    pub dtuart: Option<&'a str>,
    /// `sync_console` given.
    pub sync_console: bool,
    /// Options not recognised, or recognised with a malformed value, verbatim.
    pub unknown: Vec<&'a str>,
}

/// Xen's `simple_strtoull(s, .., 0)`: `0x` hex, leading `0` octal, else decimal. Returns the
/// value and the rest of the string; `None` if there are no digits or it overflows.
fn parse_number(s: &str) -> Option<(u64, &str)> {
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        (16, h)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    if end == 0 {
        return if radix == 8 { Some((0, digits)) } else { None };
    }
    let v = u64::from_str_radix(&digits[..end], radix).ok()?;
    Some((v, &digits[end..]))
}

/// Xen's `parse_size_and_unit`: a number with an optional `T`/`G`/`M`/`K`/`B` suffix (either
/// case); **no suffix means KiB**, as in Xen. The whole string must be consumed.
pub fn parse_size(s: &str) -> Option<u64> {
    let (v, rest) = parse_number(s)?;
    let shift = match rest {
        "T" | "t" => 40,
        "G" | "g" => 30,
        "M" | "m" => 20,
        "K" | "k" | "" => 10,
        "B" | "b" => 0,
        _ => return None,
    };
    v.checked_mul(1u64 << shift)
}

fn parse_loglvl(s: &str) -> Option<LogLevel> {
    Some(match s.split('/').next()? {
        "none" => LogLevel::None,
        "error" => LogLevel::Error,
        "warning" => LogLevel::Warning,
        "info" => LogLevel::Info,
        "debug" => LogLevel::Debug,
        "all" => LogLevel::All,
        _ => return None,
    })
}

fn parse_u32(s: &str) -> Option<u32> {
    match parse_number(s)? {
        (v, "") => u32::try_from(v).ok(),
        _ => None,
    }
}

/// Parses a Xen command line (`xen,xen-bootargs`). Option names treat `-` and `_` alike, as
/// Xen's parser does.
pub fn parse_cmdline(s: &str) -> CmdLine<'_> {
    let mut c = CmdLine::default();
    for opt in s.split_ascii_whitespace() {
        let (name, val) = match opt.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (opt, None),
        };
        let mut norm = [0u8; 32];
        let name_n = if name.len() <= norm.len() {
            for (d, b) in norm.iter_mut().zip(name.bytes()) {
                *d = if b == b'-' { b'_' } else { b };
            }
            core::str::from_utf8(&norm[..name.len()]).unwrap_or("")
        } else {
            ""
        };
        let ok = match (name_n, val) {
            ("dom0_mem", Some(v)) => {
                // ARM Xen takes one size; accept Xen's list syntax and use its plain size.
                let size = v.split(',').find(|x| !x.contains(':')).and_then(parse_size);
                c.dom0_mem = size.or(c.dom0_mem);
                size.is_some()
            }
            ("dom0_max_vcpus", Some(v)) => {
                let n = match v.split_once('-') {
                    Some((_, max)) => parse_u32(max),
                    None => parse_u32(v),
                };
                c.dom0_max_vcpus = n.or(c.dom0_max_vcpus);
                n.is_some()
            }
            ("loglvl", Some(v)) => {
                c.loglvl = parse_loglvl(v).or(c.loglvl);
                parse_loglvl(v).is_some()
            }
            ("guest_loglvl", Some(v)) => {
                c.guest_loglvl = parse_loglvl(v).or(c.guest_loglvl);
                parse_loglvl(v).is_some()
            }
            ("console", Some(v)) => {
                c.console = Some(v);
                true
            }
            ("dtuart", Some(v)) => {
                c.dtuart = Some(v);
                true
            }
            ("sync_console", None) => {
                c.sync_console = true;
                true
            }
            _ => false,
        };
        if !ok {
            c.unknown.push(opt);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_xen_parses_them() {
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("1024K"), Some(1 << 20));
        assert_eq!(parse_size("4096B"), Some(4096));
        assert_eq!(parse_size("1024"), Some(1 << 20), "no suffix = KiB");
        assert_eq!(parse_size("0x100M"), Some(0x100 << 20));
        assert_eq!(parse_size("010K"), Some(8 << 10), "leading 0 = octal");
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size("12Q"), None);
        assert_eq!(parse_size("99999999999T"), None, "overflow");
    }

    #[test]
    fn cmdline() {
        let c = parse_cmdline(
            "console=dtuart dtuart=/pl011@9000000 dom0_mem=512M console_timestamps=boot \
             dom0-max-vcpus=2 loglvl=all/warning guest_loglvl=debug sync_console bogus=1",
        );
        assert_eq!(c.dom0_mem, Some(512 << 20));
        assert_eq!(c.dom0_max_vcpus, Some(2));
        assert_eq!(c.loglvl, Some(LogLevel::All));
        assert_eq!(c.guest_loglvl, Some(LogLevel::Debug));
        assert_eq!(c.console, Some("dtuart"));
        assert_eq!(c.dtuart, Some("/pl011@9000000"));
        assert!(c.sync_console);
        assert_eq!(c.unknown, ["console_timestamps=boot", "bogus=1"]);
        let c = parse_cmdline("dom0_mem=lots dom0_max_vcpus=1-4 dom0_mem=min:1G,768M loglvl=x");
        assert_eq!(c.dom0_mem, Some(768 << 20));
        assert_eq!(c.dom0_max_vcpus, Some(4));
        assert_eq!(c.loglvl, None);
        assert_eq!(c.unknown, ["dom0_mem=lots", "loglvl=x"]);
        assert_eq!(parse_cmdline(""), CmdLine::default());
    }
}
