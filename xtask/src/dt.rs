//! The host DT for Xenith, as Xen's boot protocol wants it (docs/misc/arm/device-tree/booting.txt
//! in Xen): QEMU's own DTB for the machine (`dumpdtb=`), plus in `/chosen` the Xen and dom0
//! command lines and one `module@<addr>` node per boot module (`multiboot,kernel`,
//! `multiboot,ramdisk`; `reg` in 2+2 cells). `/pl061@9030000` is disabled, as in Xen's CI.

use crate::qemu::{Machine, Module};
use anyhow::{anyhow, Context, Result};
use std::path::Path;
use xen_dt::tree::{encode_reg, Node, Tree};

/// QEMU virt's GPIO controller; dom0 Linux trips over it when it is passed through.
const PL061: &str = "/pl061@9030000";

/// Adds the Xen boot-protocol nodes to a DTB.
pub fn add_boot_nodes(
    dtb: &[u8],
    kernel: &Module,
    ramdisk: Option<&Module>,
    xen_bootargs: &str,
    dom0_bootargs: &str,
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
    out: &Path,
) -> Result<()> {
    let raw = out.with_extension("qemu.dtb");
    let _ = std::fs::remove_file(&raw);
    m.dump_dtb(&raw)?;
    let dtb = std::fs::read(&raw).with_context(|| format!("reading {}", raw.display()))?;
    let new = add_boot_nodes(&dtb, kernel, ramdisk, xen_bootargs, dom0_bootargs)?;
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
        let out = add_boot_nodes(&std::fs::read(&raw).unwrap(), &k, Some(&r), "XA", "DA").unwrap();
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
        // QEMU's own nodes survive.
        assert!(t.node("/pl011@9000000").unwrap().is_enabled());
    }
}
