//! `xen_dt::domu` golden tests. Each DTB is read back with the independent `fdt` crate and
//! compared, node by node and property by property (names, order of nodes, values), with what
//! Xen 4.17's libxl (`libxl_arm.c`) or dom0less builder (`domain_build.c`) writes for the same
//! domain, spelled out here from their sources; then the dump is compared with a committed
//! snapshot (`tests/data/domu-*.dts`; regenerate with `UPDATE_GOLDEN=1 cargo test -p xen-dt`).

use addr::{Pa, Region};
use xen_dt::domu::{build_domu, build_domu_tree, DomUConfig, Flavour, GuestGic, XenIface};
use xen_dt::dump;

/// (node path, property name, value) in blob order.
type Props = Vec<(String, String, Vec<u8>)>;

fn read_back(dtb: &[u8]) -> Props {
    let f = fdt::Fdt::new(dtb).unwrap();
    fn go(n: fdt::node::FdtNode, path: String, out: &mut Props) {
        for p in n.properties() {
            out.push((path.clone(), p.name.to_string(), p.value.to_vec()));
        }
        for c in n.children() {
            let cp = if path == "/" {
                format!("/{}", c.name)
            } else {
                format!("{path}/{}", c.name)
            };
            out.push((cp.clone(), String::new(), Vec::new()));
            go(c, cp, out);
        }
    }
    let mut out = Vec::new();
    go(f.find_node("/").unwrap(), "/".into(), &mut out);
    out
}

fn cells(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|c| c.to_be_bytes()).collect()
}

fn strs(v: &[&str]) -> Vec<u8> {
    v.iter().flat_map(|s| s.bytes().chain([0])).collect()
}

fn reg(regs: &[(u64, u64)]) -> Vec<u8> {
    regs.iter()
        .flat_map(|&(a, s)| {
            [(a >> 32) as u32, a as u32, (s >> 32) as u32, s as u32]
                .into_iter()
                .flat_map(|c| c.to_be_bytes())
        })
        .collect()
}

/// Builds the expected list: `node(path)` opens a node, `p(name, value)` adds a property.
struct Want(Props, String);

impl Want {
    fn new() -> Self {
        Want(Vec::new(), "/".into())
    }
    fn node(&mut self, path: &str) -> &mut Self {
        self.0.push((path.into(), String::new(), Vec::new()));
        self.1 = path.into();
        self
    }
    fn p(&mut self, name: &str, v: Vec<u8>) -> &mut Self {
        self.0.push((self.1.clone(), name.into(), v));
        self
    }
    fn s(&mut self, name: &str, v: &str) -> &mut Self {
        self.p(name, strs(&[v]))
    }
    fn u(&mut self, name: &str, v: u32) -> &mut Self {
        self.p(name, cells(&[v]))
    }
}

fn compare(got: &Props, want: &Props) {
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        assert_eq!(g, w, "entry {i}");
    }
    assert_eq!(got.len(), want.len(), "number of nodes + properties");
}

fn golden(name: &str, text: &str) {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run with UPDATE_GOLDEN=1 to create it)"));
    assert!(
        want == text,
        "{name} differs from the golden snapshot; if intended, rerun with UPDATE_GOLDEN=1 and \
         review the diff.\n--- got ---\n{text}"
    );
}

const GIC: u32 = 65000;

/// `xl create` of a 2-vCPU, 512 MiB GICv2 guest with a ramdisk, a vpl011 and `extra=`.
#[test]
fn libxl_gicv2() {
    let mut c = DomUConfig::new(Flavour::Libxl, 2, 512 << 20, GuestGic::V2).unwrap();
    c.bootargs = Some("console=hvc0 root=/dev/xvda".into());
    c.initrd = Some(Region::new(Pa(0x4800_0000), 0x12_3456));
    c.vpl011 = true;
    c.rng_seed = Some(vec![0xa5; 128]);
    let dtb = build_domu(&c).unwrap();

    let mut w = Want::new();
    w.s("model", "XENVM-4.17")
        .p("compatible", strs(&["xen,xenvm-4.17", "xen,xenvm"]))
        .u("interrupt-parent", GIC)
        .u("#address-cells", 2)
        .u("#size-cells", 2);
    w.node("/chosen")
        .s("bootargs", "console=hvc0 root=/dev/xvda")
        .p("linux,initrd-start", 0x4800_0000u64.to_be_bytes().to_vec())
        .p("linux,initrd-end", 0x4812_3456u64.to_be_bytes().to_vec())
        .p("rng-seed", vec![0xa5; 128]);
    w.node("/cpus").u("#address-cells", 1).u("#size-cells", 0);
    for (name, r) in [("/cpus/cpu@0", 0), ("/cpus/cpu@1", 1)] {
        w.node(name)
            .s("device_type", "cpu")
            .s("compatible", "arm,armv8")
            .s("enable-method", "psci")
            .u("reg", r);
    }
    w.node("/psci")
        .p(
            "compatible",
            strs(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]),
        )
        .s("method", "hvc")
        .u("cpu_off", 1)
        .u("cpu_on", 2);
    w.node("/memory@40000000")
        .s("device_type", "memory")
        .p("reg", reg(&[(0x4000_0000, 512 << 20)]));
    w.node("/interrupt-controller@3001000")
        .p(
            "compatible",
            strs(&["arm,cortex-a15-gic", "arm,cortex-a9-gic"]),
        )
        .u("#interrupt-cells", 3)
        .u("#address-cells", 0)
        .p("interrupt-controller", vec![])
        .p("reg", reg(&[(0x300_1000, 0x1000), (0x300_2000, 0x2000)]))
        .u("linux,phandle", GIC)
        .u("phandle", GIC);
    // GUEST_TIMER_PHYS_S_PPI 29, _NS_PPI 30, _VIRT_PPI 27; level-low, all CPUs.
    w.node("/timer")
        .s("compatible", "arm,armv8-timer")
        .p(
            "interrupts",
            cells(&[1, 13, 0xf08, 1, 14, 0xf08, 1, 11, 0xf08]),
        )
        .u("interrupt-parent", GIC);
    // Grant table, then the extended regions above the RAM of each bank (40-bit IPA).
    w.node("/hypervisor")
        .p("compatible", strs(&["xen,xen-4.17", "xen,xen"]))
        .p(
            "reg",
            reg(&[
                (0x3800_0000, 0x100_0000),
                (0x6000_0000, 0xa000_0000),
                (0x2_0000_0000, 0xfe_0000_0000),
            ]),
        )
        .p("interrupts", cells(&[1, 15, 0xf08]))
        .u("interrupt-parent", GIC);
    w.node("/sbsa-pl011")
        .s("compatible", "arm,sbsa-uart")
        .p("reg", reg(&[(0x2200_0000, 0x1000)]))
        .p("interrupts", cells(&[0, 0, 0xf04]))
        .u("interrupt-parent", GIC)
        .u("current-speed", 115_200);
    compare(&read_back(&dtb), &w.0);
    golden("domu-libxl-gicv2.dts", &dump(&build_domu_tree(&c).unwrap()));
}

/// `xl create` of a 4-vCPU, 4 GiB GICv3 guest (RAM in both banks), no ramdisk, no vpl011.
#[test]
fn libxl_gicv3_two_banks() {
    let mut c = DomUConfig::new(Flavour::Libxl, 4, 4 << 30, GuestGic::V3_LIBXL).unwrap();
    c.bootargs = Some(String::new());
    c.timer_clock_frequency = Some(62_500_000);
    let t = build_domu_tree(&c).unwrap();
    let got = read_back(&build_domu(&c).unwrap());
    let find = |path: &str, prop: &str| {
        got.iter()
            .find(|(p, n, _)| p == path && n == prop)
            .map(|(_, _, v)| v.clone())
    };
    assert_eq!(
        find("/chosen", "bootargs"),
        Some(vec![0]),
        "libxl writes it empty"
    );
    assert_eq!(find("/chosen", "linux,initrd-start"), None);
    assert_eq!(
        find("/memory@40000000", "reg"),
        Some(reg(&[(0x4000_0000, 3 << 30)]))
    );
    assert_eq!(
        find("/memory@200000000", "reg"),
        Some(reg(&[(0x2_0000_0000, 1 << 30)]))
    );
    assert_eq!(
        find("/interrupt-controller@3001000", "compatible"),
        Some(strs(&["arm,gic-v3"]))
    );
    assert_eq!(
        find("/interrupt-controller@3001000", "reg"),
        Some(reg(&[(0x300_1000, 0x1_0000), (0x302_0000, 0x100_0000)]))
    );
    assert_eq!(
        find("/timer", "clock-frequency"),
        Some(cells(&[62_500_000]))
    );
    // Bank 0 is full (no extended region there); bank 1 from 9 GiB (2 MiB aligned) to 1 TiB.
    assert_eq!(
        find("/hypervisor", "reg"),
        Some(reg(&[
            (0x3800_0000, 0x100_0000),
            (0x2_4000_0000, 0xff_ffff_ffff - 0x2_4000_0000 + 1)
        ]))
    );
    assert_eq!(find("/sbsa-pl011", "reg"), None);
    let cpus: Vec<&str> = t
        .node("/cpus")
        .unwrap()
        .children
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(cpus, ["cpu@0", "cpu@1", "cpu@2", "cpu@3"]);
    golden("domu-libxl-gicv3.dts", &dump(&t));
}

/// A dom0less domU (`/chosen/domU1`: memory = 131072 KiB, cpus = 1, vpl011, a ramdisk), GICv3
/// with a redistributor per vCPU, the host CPU's compatible, no `xen,enhanced`.
#[test]
fn dom0less_gicv3_vpl011() {
    let mut c =
        DomUConfig::new(Flavour::Dom0less, 1, 128 << 20, GuestGic::v3_for_vcpus(1)).unwrap();
    c.bootargs = Some("console=ttyAMA0 rdinit=/init".into());
    c.initrd = Some(Region::new(Pa(0x4820_0000), 0x8_0000));
    c.vpl011 = true;
    c.stdout_path = true;
    c.cpu_compatible = Some(strs(&["arm,cortex-a57"]));
    let dtb = build_domu(&c).unwrap();

    let mut w = Want::new();
    w.u("#address-cells", 2).u("#size-cells", 2);
    w.node("/chosen")
        .s("bootargs", "console=ttyAMA0 rdinit=/init")
        .p("linux,initrd-start", 0x4820_0000u64.to_be_bytes().to_vec())
        .p("linux,initrd-end", 0x4828_0000u64.to_be_bytes().to_vec())
        .s("stdout-path", "/sbsa-uart@22000000");
    w.node("/psci")
        .p(
            "compatible",
            strs(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]),
        )
        .s("method", "hvc")
        .u("cpu_off", 1)
        .u("cpu_on", 2);
    w.node("/cpus").u("#address-cells", 1).u("#size-cells", 0);
    w.node("/cpus/cpu@0")
        .s("compatible", "arm,cortex-a57")
        .s("device_type", "cpu")
        .u("reg", 0)
        .s("enable-method", "psci");
    w.node("/memory@40000000")
        .s("device_type", "memory")
        .p("reg", reg(&[(0x4000_0000, 128 << 20)]));
    w.node("/interrupt-controller@3001000")
        .u("#address-cells", 0)
        .u("#interrupt-cells", 3)
        .p("interrupt-controller", vec![])
        .s("compatible", "arm,gic-v3")
        .p(
            "reg",
            reg(&[(0x300_1000, 0x1_0000), (0x302_0000, 0x2_0000)]),
        )
        .u("linux,phandle", GIC)
        .u("phandle", GIC);
    w.node("/timer")
        .s("compatible", "arm,armv8-timer")
        .p(
            "interrupts",
            cells(&[1, 13, 0xf08, 1, 14, 0xf08, 1, 11, 0xf08]),
        )
        .u("interrupt-parent", GIC);
    w.node("/sbsa-uart@22000000")
        .s("compatible", "arm,sbsa-uart")
        .p("reg", reg(&[(0x2200_0000, 0x1000)]))
        .p("interrupts", cells(&[0, 0, 0xf04]))
        .u("interrupt-parent", GIC)
        .u("current-speed", 115_200);
    compare(&read_back(&dtb), &w.0);
    golden(
        "domu-dom0less-gicv3.dts",
        &dump(&build_domu_tree(&c).unwrap()),
    );
}

/// A dom0less `xen,enhanced` domU on a GICv2: the hypervisor node comes last, after the vpl011;
/// the GIC is "arm,gic-400".
#[test]
fn dom0less_enhanced_gicv2() {
    let mut c = DomUConfig::new(Flavour::Dom0less, 2, 256 << 20, GuestGic::V2).unwrap();
    c.vpl011 = true;
    c.bootargs = Some(String::new());
    c.xen = Some(XenIface {
        gpaddr_bits: 40,
        extended_regions: false,
    });
    let t = build_domu_tree(&c).unwrap();
    let names: Vec<&str> = t.root.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "chosen",
            "psci",
            "cpus",
            "memory@40000000",
            "interrupt-controller@3001000",
            "timer",
            "sbsa-uart@22000000",
            "hypervisor"
        ]
    );
    assert!(
        !t.node("/chosen").unwrap().has_prop("bootargs"),
        "Xen skips an empty command line"
    );
    assert!(!t.node("/chosen").unwrap().has_prop("stdout-path"));
    let gic = t.node("/interrupt-controller@3001000").unwrap();
    assert_eq!(gic.prop_str("compatible"), Some("arm,gic-400"));
    let hv = t.node("/hypervisor").unwrap();
    assert_eq!(
        xen_dt::decode_reg(2, 2, hv.prop("reg").unwrap()).unwrap(),
        [(0x3800_0000, 0x100_0000)],
        "extended regions off"
    );
    assert_eq!(
        t.node("/cpus/cpu@1").unwrap().prop_str("compatible"),
        Some("arm,armv8")
    );
    // The blob round-trips through our own parser too.
    let back = xen_dt::Tree::from_dtb(&build_domu(&c).unwrap()).unwrap();
    assert_eq!(back, t);
}
