//! The host DT for Xenith, as Xen's boot protocol wants it (docs/misc/arm/device-tree/booting.txt
//! in Xen): QEMU's own DTB for the machine (`dumpdtb=`), plus in `/chosen` the Xen and dom0
//! command lines and one `module@<addr>` node per boot module (`multiboot,kernel`,
//! `multiboot,ramdisk`; `reg` in 2+2 cells), and one `xen,domain` node per dom0less domain
//! (`memory` in KiB, `cpus`, `vpl011`, its own kernel/ramdisk module nodes with `bootargs`).
//! `/pl061@9030000` is disabled, as in Xen's CI.

use crate::qemu::{Machine, Module};
use anyhow::{anyhow, Context, Result};
use std::path::Path;
use xen_dt::tree::{encode_reg, Node, Tree};

/// QEMU virt's GPIO controller; dom0 Linux trips over it when it is passed through.
const PL061: &str = "/pl061@9030000";

/// A dom0less domain for the host DT (booting.txt "Creating Multiple Domains directly from
/// Xen").
#[derive(Debug, Clone)]
pub struct DomU {
    /// Node name under `/chosen` (`domU1`).
    pub name: String,
    pub memory_kb: u64,
    pub cpus: u32,
    pub vpl011: bool,
    pub kernel: Module,
    pub ramdisk: Option<Module>,
    /// The kernel module's `bootargs`.
    pub bootargs: String,
}

/// The `/chosen/<name>` node describing `d`.
fn domain_node(d: &DomU) -> Node {
    let mut n = Node::new(&d.name);
    n.set_prop_str("compatible", "xen,domain");
    n.set_prop_cells("#address-cells", &[2]);
    n.set_prop_cells("#size-cells", &[2]);
    n.set_prop_cells("memory", &[(d.memory_kb >> 32) as u32, d.memory_kb as u32]);
    n.set_prop_cells("cpus", &[d.cpus]);
    if d.vpl011 {
        n.set_prop_empty("vpl011");
    }
    let mods = std::iter::once((&d.kernel, "multiboot,kernel"))
        .chain(d.ramdisk.as_ref().map(|r| (r, "multiboot,ramdisk")));
    for (m, compat) in mods {
        let mut c = Node::new(&format!("module@{:x}", m.addr));
        c.set_prop_strs("compatible", &[compat, "multiboot,module"]);
        c.set_prop("reg", encode_reg(2, 2, &[(m.addr, m.size)]));
        if compat == "multiboot,kernel" {
            c.set_prop_str("bootargs", &d.bootargs);
        }
        n.add_child(c);
    }
    n
}

/// Adds the Xen boot-protocol nodes to a DTB.
pub fn add_boot_nodes(
    dtb: &[u8],
    kernel: &Module,
    ramdisk: Option<&Module>,
    xen_bootargs: &str,
    dom0_bootargs: &str,
    domus: &[DomU],
) -> Result<Vec<u8>> {
    let mut t = Tree::from_dtb(dtb).map_err(|e| anyhow!("parsing QEMU's DTB: {e:?}"))?;
    let chosen = t
        .node_mut("/chosen")
        .context("QEMU's DTB has no /chosen node")?;
    chosen.set_prop_str("xen,xen-bootargs", xen_bootargs);
    chosen.set_prop_str("xen,dom0-bootargs", dom0_bootargs);
    chosen.set_prop_cells("#address-cells", &[2]);
    chosen.set_prop_cells("#size-cells", &[2]);
    let mods = std::iter::once((kernel, "multiboot,kernel"))
        .chain(ramdisk.map(|r| (r, "multiboot,ramdisk")));
    for (m, compat) in mods {
        let mut n = Node::new(&format!("module@{:x}", m.addr));
        n.set_prop_strs("compatible", &[compat, "multiboot,module"]);
        n.set_prop("reg", encode_reg(2, 2, &[(m.addr, m.size)]));
        chosen.add_child(n);
    }
    for d in domus {
        chosen.add_child(domain_node(d));
    }
    if let Some(gpio) = t.node_mut(PL061) {
        gpio.set_prop_str("status", "disabled");
    }
    t.to_dtb()
        .map_err(|e| anyhow!("encoding the host DTB: {e:?}"))
}

/// Dumps QEMU's DTB for `m` and writes the host DTB for Xenith to `out`.
pub fn host_dtb(
    m: &Machine,
    kernel: &Module,
    ramdisk: Option<&Module>,
    xen_bootargs: &str,
    dom0_bootargs: &str,
    domus: &[DomU],
    out: &Path,
) -> Result<()> {
    let raw = out.with_extension("qemu.dtb");
    let _ = std::fs::remove_file(&raw);
    m.dump_dtb(&raw)?;
    let dtb = std::fs::read(&raw).with_context(|| format!("reading {}", raw.display()))?;
    let new = add_boot_nodes(&dtb, kernel, ramdisk, xen_bootargs, dom0_bootargs, domus)?;
    std::fs::write(out, new).with_context(|| format!("writing {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Edits QEMU's real DTB (when QEMU is installed) and reads the result back.
    #[test]
    fn boot_nodes_on_qemu_dtb() {
        if !crate::util::have("qemu-system-aarch64") {
            eprintln!("skipping: no qemu-system-aarch64");
            return;
        }
        let dir = std::env::temp_dir().join(format!("xtask-dt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let raw = dir.join("q.dtb");
        Machine::default().dump_dtb(&raw).unwrap();
        let k = Module {
            path: PathBuf::from("k"),
            addr: 0x5000_0000,
            size: 0x1f6_dfc0,
        };
        let r = Module {
            path: PathBuf::from("r"),
            addr: 0x5200_0000,
            size: 0x1234,
        };
        let d = DomU {
            name: "domU1".into(),
            memory_kb: 131072,
            cpus: 1,
            vpl011: true,
            kernel: Module {
                path: PathBuf::from("dk"),
                addr: 0x6000_0000,
                size: 0x100,
            },
            ramdisk: None,
            bootargs: "console=ttyAMA0".into(),
        };
        let out = add_boot_nodes(
            &std::fs::read(&raw).unwrap(),
            &k,
            Some(&r),
            "XA",
            "DA",
            &[d],
        )
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        let t = Tree::from_dtb(&out).unwrap();
        let chosen = t.node("/chosen").unwrap();
        assert_eq!(chosen.prop_str("xen,xen-bootargs"), Some("XA"));
        assert_eq!(chosen.prop_str("xen,dom0-bootargs"), Some("DA"));
        let km = chosen.child("module@50000000").unwrap();
        assert_eq!(
            km.prop_strs("compatible").collect::<Vec<_>>(),
            ["multiboot,kernel", "multiboot,module"]
        );
        assert_eq!(
            km.prop_cells("reg").unwrap(),
            [0, 0x5000_0000, 0, 0x1f6_dfc0]
        );
        let rm = chosen.child("module@52000000").unwrap();
        assert!(rm.compatible_with("multiboot,ramdisk"));
        assert_eq!(rm.prop_cells("reg").unwrap(), [0, 0x5200_0000, 0, 0x1234]);
        assert!(!t.node(PL061).unwrap().is_enabled());
        // Xenith's own parser reads the domain back.
        let h = xen_dt::host::parse_host(&t).unwrap();
        assert_eq!(h.dom0less.len(), 1);
        let d = &h.dom0less[0];
        assert_eq!((d.memory_kb, d.cpus, d.vpl011), (131072, 1, true));
        assert_eq!(d.kernel.region.start.raw(), 0x6000_0000);
        assert_eq!(d.cmdline(), "console=ttyAMA0");
        // QEMU's own nodes survive.
        assert!(t.node("/pl011@9000000").unwrap().is_enabled());
    }
}
