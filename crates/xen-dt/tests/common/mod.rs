//! Fixtures shared by the integration tests.
#![allow(dead_code)]

use xen_dt::{Node, Tree};

pub const GICV2: &[u8] = include_bytes!("../data/virt-gicv2.dtb");
pub const GICV3: &[u8] = include_bytes!("../data/virt-gicv3.dtb");

/// A QEMU DTB with `/chosen` extended the way the reference boot did it
/// (`/work/shared/reference/xen-4.17-boot-host-dt-arm64.dts`): Xen and dom0 command lines and
/// two multiboot modules.
pub fn host_with_modules(dtb: &[u8]) -> Tree {
    let mut t = Tree::from_dtb(dtb).unwrap();
    let chosen = t.node_mut("/chosen").unwrap();
    let old = core::mem::take(&mut chosen.props);
    chosen.set_prop_str(
        "xen,dom0-bootargs",
        "console=hvc0 earlycon=xen rdinit=/init",
    );
    chosen.set_prop_str(
        "xen,xen-bootargs",
        "console=dtuart dtuart=/pl011@9000000 dom0_mem=512M console_timestamps=boot",
    );
    chosen.set_prop_u32("#size-cells", 2);
    chosen.set_prop_u32("#address-cells", 2);
    chosen.props.extend(old);
    let mut rd = Node::new("module@52000000");
    rd.set_prop_cells("reg", &[0, 0x5200_0000, 0, 0x14_3942]);
    rd.set_prop_strs("compatible", &["multiboot,ramdisk", "multiboot,module"]);
    chosen.add_child(rd);
    let mut k = Node::new("module@50000000");
    k.set_prop_cells("reg", &[0, 0x5000_0000, 0, 0x1f6_da00]);
    k.set_prop_strs("compatible", &["multiboot,kernel", "multiboot,module"]);
    chosen.add_child(k);
    // The reference host DT had the GPIO controller disabled.
    t.node_mut("/pl061@9030000")
        .unwrap()
        .set_prop_str("status", "disabled");
    t
}
