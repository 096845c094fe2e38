//! `xen_dt::dom0` golden tests: dom0's DT for both QEMU fixtures, compared with committed dumps
//! (`tests/data/dom0-gicv*.dts`; regenerate with `UPDATE_GOLDEN=1 cargo test -p xen-dt`) and,
//! for GICv2, with what real Xen 4.17.5 gave dom0 on the same machine
//! (`tests/data/xen-4.17-dom0-dt-arm64.reference.dts`, read back from dom0's /sys/firmware/fdt).

mod common;

use std::collections::BTreeMap;

use addr::{Pa, Region};
use common::*;
use xen_dt::dom0::{build_dom0, build_dom0_tree, Dom0Config, VuartConfig};
use xen_dt::host::parse_host;
use xen_dt::{dump, Error, Tree};

fn cfg() -> Dom0Config {
    Dom0Config {
        memory: vec![Region::new(Pa(0x6000_0000), 512 << 20)],
        nr_vcpus: 2,
        bootargs: "console=hvc0 earlycon=xen rdinit=/init".into(),
        // Where the reference boot's Xen put the initrd.
        initrd: Some(Region::new(Pa(0x6820_0000), 0x14_3983)),
        vuart: None,
        gic_v3_redist: None,
        xen: None,
    }
}

fn cfg_v3() -> Dom0Config {
    Dom0Config {
        vuart: Some(VuartConfig {
            base: Pa(0x900_0000),
            size: 0x1000,
            spi: 33,
        }),
        gic_v3_redist: Some(Region::new(Pa(0x80a_0000), 2 * 0x2_0000)),
        xen: None,
        ..cfg()
    }
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
        "{name} differs from the golden dump; if the change is intended, rerun with \
         UPDATE_GOLDEN=1 and review the diff.\n--- got ---\n{text}"
    );
}

/// Node path -> property lines of a dtc-style `.dts` text.
fn parse_dts(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<String> = Vec::new();
    let mut order = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(name) = l.strip_suffix(" {") {
            let p = match stack.last() {
                None => "/".to_string(),
                Some(parent) if parent == "/" => format!("/{name}"),
                Some(parent) => format!("{parent}/{name}"),
            };
            out.insert(p.clone(), Vec::new());
            order.push(p.clone());
            stack.push(p);
        } else if l == "};" {
            stack.pop();
        } else if l.ends_with(';') && !l.starts_with("/dts-v1/") {
            out.get_mut(stack.last().unwrap())
                .unwrap()
                .push(l.to_string());
        }
    }
    out.insert("#order".into(), order);
    out
}

#[test]
fn golden_gicv2() {
    let host = host_with_modules(GICV2);
    let info = parse_host(&host).unwrap();
    let (t, pt) = build_dom0_tree(&host, &info, &cfg()).unwrap();
    golden("dom0-gicv2.dts", &dump(&t));

    // The DTB round-trips to the same tree.
    let d = build_dom0(&host, &info, &cfg()).unwrap();
    assert_eq!(Tree::from_dtb(&d.dtb).unwrap(), t);
    assert_eq!(d.passthrough, pt);

    // Pass-through: every device but Xen's and disabled ones, 1:1.
    let r = |a: u64, s: u64| Region::new(Pa(a), s);
    assert_eq!(
        pt.mmio,
        [
            r(0x0, 0x800_0000),                // flash@0, two banks
            r(0x901_0000, 0x1000),             // pl031
            r(0x902_0000, 0x1000),             // fw-cfg
            r(0xa00_0000, 0x4000),             // 32 virtio-mmio
            r(0x1000_0000, 0x2f00_0000),       // PCIe MMIO + I/O windows (adjacent)
            r(0x40_1000_0000, 0x1000_0000),    // PCIe ECAM
            r(0x80_0000_0000, 0x80_0000_0000), // PCIe 64-bit window
        ]
    );
    let mut spis: Vec<u32> = vec![34]; // pl031
    spis.extend(35..=38); // PCIe INTx
    spis.extend(48..=79); // virtio-mmio
    assert_eq!(
        pt.spis, spis,
        "no pl011 (33, Xenith's), no pl061 (39, disabled)"
    );
}

#[test]
fn gicv2_matches_real_xen() {
    let host = host_with_modules(GICV2);
    let info = parse_host(&host).unwrap();
    let (t, _) = build_dom0_tree(&host, &info, &cfg()).unwrap();
    let ours = parse_dts(&dump(&t));
    let mut xen = parse_dts(include_str!("data/xen-4.17-dom0-dt-arm64.reference.dts"));

    // Known, intended differences:
    // - /hypervisor is added by a later step;
    // - the GICv2m MSI frame is not given to dom0 yet (no MSI pass-through), so neither is the
    //   GIC's `ranges`.
    xen.remove("/hypervisor");
    xen.remove("/interrupt-controller/v2m");
    xen.get_mut("#order")
        .unwrap()
        .retain(|p| p != "/hypervisor" && p != "/interrupt-controller/v2m");
    xen.get_mut("/interrupt-controller")
        .unwrap()
        .retain(|l| l != "ranges;");
    let mut ours = ours;
    for (path, props) in ours.iter_mut().chain(xen.iter_mut()) {
        // - vCPU nodes keep their host phandle (Xen drops it);
        if path.starts_with("/cpus/cpu@") {
            props.retain(|l| !l.starts_with("phandle"));
        }
        // - dom0 Linux zeroes kaslr-seed and deletes rng-seed after reading them.
        if path == "/chosen" {
            props.retain(|l| !l.starts_with("kaslr-seed") && !l.starts_with("rng-seed"));
        }
    }
    assert_eq!(
        ours["#order"], xen["#order"],
        "same nodes in the same order"
    );
    for (path, props) in &xen {
        assert_eq!(&ours[path], props, "node {path}");
    }
}

#[test]
fn golden_gicv3_with_vuart() {
    let host = host_with_modules(GICV3);
    let info = parse_host(&host).unwrap();
    let (t, pt) = build_dom0_tree(&host, &info, &cfg_v3()).unwrap();
    golden("dom0-gicv3.dts", &dump(&t));

    let gic = t.node("/interrupt-controller").unwrap();
    assert!(gic.compatible_with("arm,gic-v3"));
    assert_eq!(gic.prop_u32("#redistributor-regions"), Some(1));
    assert_eq!(
        xen_dt::decode_reg(2, 2, gic.prop("reg").unwrap()).unwrap(),
        [(0x800_0000, 0x1_0000), (0x80a_0000, 0x4_0000)]
    );
    assert!(gic.children.is_empty(), "no ITS");
    assert!(!gic.has_prop("interrupts"));
    let ph = gic.prop_u32("phandle").unwrap();

    let uart = t.node("/serial@9000000").unwrap();
    assert!(uart.compatible_with("arm,sbsa-uart"));
    // Xen's set_interrupt(.., 0xf, DT_IRQ_TYPE_LEVEL_HIGH), as in make_vpl011_uart_node.
    assert_eq!(uart.prop_cells("interrupts").unwrap(), [0, 1, 0xf04]);
    assert_eq!(uart.prop_u32("interrupt-parent"), Some(ph));
    assert_eq!(uart.prop_u32("current-speed"), Some(115_200));
    assert!(t.node("/pl011").is_none());
    assert_eq!(
        t.node("/chosen").unwrap().prop_str("stdout-path"),
        Some("/serial@9000000")
    );
    assert_eq!(
        t.node("/aliases").unwrap().prop_str("serial0"),
        Some("/serial@9000000")
    );
    let cpus = t.node("/cpus").unwrap();
    assert_eq!(cpus.children.len(), 2, "4 host CPUs, 2 vCPUs, no cpu-map");
    assert!(t.node("/pmu").is_none());
    assert_eq!(
        t.node("/timer").unwrap().prop_cells("interrupts").unwrap(),
        [1, 13, 0xf08, 1, 14, 0xf08, 1, 11, 0xf08]
    );
    // The vUART, the ITS and the disabled pl061 are not passed through; the pl031 is.
    assert!(!pt.mmio.iter().any(|r| r.contains(Pa(0x900_0000))));
    assert!(!pt.mmio.iter().any(|r| r.contains(Pa(0x808_0000))));
    assert!(!pt.mmio.iter().any(|r| r.contains(Pa(0x903_0000))));
    assert!(pt.mmio.iter().any(|r| r.contains(Pa(0x901_0000))));
    assert!(!pt.spis.contains(&33) && !pt.spis.contains(&39) && pt.spis.contains(&34));
}

#[test]
fn many_vcpus_and_banks() {
    let host = host_with_modules(GICV3);
    let info = parse_host(&host).unwrap();
    let c = Dom0Config {
        nr_vcpus: 18,
        memory: vec![
            Region::new(Pa(0x6000_0000), 0x1000_0000),
            Region::new(Pa(0x8000_0000), 0x1000_0000),
        ],
        gic_v3_redist: Some(Region::new(Pa(0x80a_0000), 18 * 0x2_0000)),
        xen: None,
        initrd: None,
        bootargs: String::new(),
        ..cfg_v3()
    };
    let (t, _) = build_dom0_tree(&host, &info, &c).unwrap();
    let names: Vec<&str> = t
        .node("/cpus")
        .unwrap()
        .children
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(names[15..], ["cpu@f", "cpu@100", "cpu@101"]);
    assert_eq!(
        t.node("/cpus/cpu@101").unwrap().prop_u32("reg"),
        Some(0x101)
    );
    let mem = t.node("/memory@60000000").unwrap();
    assert_eq!(
        xen_dt::decode_reg(2, 2, mem.prop("reg").unwrap()).unwrap(),
        [(0x6000_0000, 0x1000_0000), (0x8000_0000, 0x1000_0000)]
    );
    let chosen = t.node("/chosen").unwrap();
    assert!(!chosen.has_prop("bootargs") && !chosen.has_prop("linux,initrd-start"));

    // Too small a redistributor region, no vCPUs, no memory: errors.
    let small = Dom0Config {
        gic_v3_redist: Some(Region::new(Pa(0x80a_0000), 0x2_0000)),
        xen: None,
        ..c.clone()
    };
    assert!(matches!(
        build_dom0(&host, &info, &small),
        Err(Error::InvalidArgument(_))
    ));
    let none = Dom0Config {
        nr_vcpus: 0,
        ..c.clone()
    };
    assert!(build_dom0(&host, &info, &none).is_err());
    let nomem = Dom0Config {
        memory: vec![],
        ..c.clone()
    };
    assert!(build_dom0(&host, &info, &nomem).is_err());
    let badspi = Dom0Config {
        vuart: Some(VuartConfig {
            base: Pa(0x2200_0000),
            size: 0x1000,
            spi: 16,
        }),
        ..c
    };
    assert!(build_dom0(&host, &info, &badspi).is_err());
}

#[test]
fn gicv3_host_redistributors_without_cfg() {
    let host = Tree::from_dtb(GICV3).unwrap();
    let info = parse_host(&host).unwrap();
    let c = Dom0Config {
        gic_v3_redist: None,
        xen: None,
        vuart: None,
        ..cfg_v3()
    };
    let d = build_dom0(&host, &info, &c).unwrap();
    let t = Tree::from_dtb(&d.dtb).unwrap();
    let gic = t.node("/interrupt-controller").unwrap();
    assert_eq!(
        xen_dt::decode_reg(2, 2, gic.prop("reg").unwrap()).unwrap(),
        [(0x800_0000, 0x1_0000), (0x80a_0000, 0xf6_0000)]
    );
    // No vUART: stdout-path dropped, no aliases created.
    assert!(t.node("/chosen").unwrap().prop("stdout-path").is_none());
    assert!(t.node("/aliases").is_none());
}

/// A console UART and a device below a `simple-bus` with a `ranges` translation; a nested PMU.
#[test]
fn nested_bus_translation_and_removal() {
    let mut host = Tree::from_dtb(GICV3).unwrap();
    let mut soc = xen_dt::Node::new("soc");
    soc.set_prop_strs("compatible", &["simple-bus"]);
    soc.set_prop_u32("#address-cells", 1);
    soc.set_prop_u32("#size-cells", 1);
    soc.set_prop_cells("ranges", &[0x0, 0x4, 0x0, 0x100_0000]);
    let mut ser = xen_dt::Node::new("serial@90000");
    ser.set_prop_strs("compatible", &["arm,pl011", "arm,primecell"]);
    ser.set_prop_cells("reg", &[0x9_0000, 0x1000]);
    ser.set_prop_cells("interrupts", &[0, 60, 4]);
    soc.add_child(ser);
    let mut dev = xen_dt::Node::new("dev@100000");
    dev.set_prop_cells("reg", &[0x10_0000, 0x800]);
    dev.set_prop_cells("interrupts", &[0, 61, 4]);
    soc.add_child(dev);
    let mut pmu = xen_dt::Node::new("pmu");
    pmu.set_prop_strs("compatible", &["arm,cortex-a15-pmu"]);
    soc.add_child(pmu);
    host.root.add_child(soc);
    host.node_mut("/chosen")
        .unwrap()
        .set_prop_str("stdout-path", "/soc/serial@90000:115200n8");

    let info = parse_host(&host).unwrap();
    let u = info.uart.as_ref().unwrap();
    assert_eq!(
        (u.path.as_str(), u.base, u.spi),
        ("/soc/serial@90000", Pa(0x4_0009_0000), Some(92))
    );

    let c = Dom0Config {
        vuart: None,
        gic_v3_redist: None,
        xen: None,
        ..cfg()
    };
    let (t, pt) = build_dom0_tree(&host, &info, &c).unwrap();
    let soc = t.node("/soc").unwrap();
    assert_eq!(soc.children.len(), 1, "UART and PMU removed: {soc:?}");
    assert!(pt.mmio.iter().any(|r| r.contains(Pa(0x4_0010_0000))));
    assert!(!pt.mmio.iter().any(|r| r.contains(Pa(0x4_0009_0000))));
    assert!(pt.spis.contains(&93) && !pt.spis.contains(&92));
    // The host pl011 is no longer Xenith's console, so dom0 gets it.
    assert!(t.node("/pl011@9000000").is_some());
    assert!(pt.spis.contains(&33));
}

/// Corrupting any one property of the host DT never makes build_dom0 panic.
#[test]
fn corrupted_host_never_panics() {
    for dtb in [GICV2, GICV3] {
        let base = host_with_modules(dtb);
        let mut spots = Vec::new();
        base.walk(|idx, n| {
            for p in 0..n.props.len() {
                spots.push((idx.to_vec(), p));
            }
        });
        for (idx, p) in spots {
            for variant in 0..4 {
                let mut t = base.clone();
                let mut n = &mut t.root;
                for &i in &idx {
                    n = &mut n.children[i];
                }
                let v = &mut n.props[p].value;
                match variant {
                    0 => v.clear(),
                    1 => v.truncate(v.len() / 2),
                    2 => v
                        .iter_mut()
                        .for_each(|b| *b = b.wrapping_mul(31).wrapping_add(7)),
                    _ => v.extend_from_slice(&[0xff; 5]),
                }
                // Parse the corrupted tree, but build from it with the clean info as well.
                let clean = parse_host(&base).unwrap();
                let _ = build_dom0(&t, &clean, &cfg_v3());
                if let Ok(info) = parse_host(&t) {
                    let _ = build_dom0(&t, &info, &cfg());
                    let _ = build_dom0(&t, &info, &cfg_v3());
                }
            }
        }
    }
}

#[test]
fn hypervisor_node_as_xen_writes_it() {
    let host = host_with_modules(GICV2);
    let info = parse_host(&host).unwrap();
    let mut cfg = cfg();
    cfg.xen = Some(xen_dt::dom0::XenNode {
        version: "4.17".into(),
        gnttab: Region::new(Pa(0x4020_0000), 0x4_0000),
        extended: vec![
            Region::new(Pa(0x4040_0000), 0x1fc0_0000),
            Region::new(Pa(0x8000_0000), 0x4000_0000),
        ],
        evtchn_ppi: 16,
    });
    let (t, _) = build_dom0_tree(&host, &info, &cfg).unwrap();
    let h = t.node("/hypervisor").expect("hypervisor node");
    let compat: Vec<&str> = h.prop_strs("compatible").collect();
    assert_eq!(compat, ["xen,xen-4.17", "xen,xen"]);
    // The values real Xen 4.17 gave dom0 on this machine (shared/reference).
    assert_eq!(
        h.prop_cells("reg").unwrap(),
        [
            0,
            0x4020_0000,
            0,
            0x4_0000,
            0,
            0x4040_0000,
            0,
            0x1fc0_0000,
            0,
            0x8000_0000,
            0,
            0x4000_0000
        ]
    );
    assert_eq!(h.prop_cells("interrupts").unwrap(), [1, 0, 0xf08]);
    let gic = h.prop_u32("interrupt-parent").unwrap();
    assert!(t
        .find_by_phandle(gic)
        .unwrap()
        .has_prop("interrupt-controller"));
    cfg.xen.as_mut().unwrap().evtchn_ppi = 40;
    assert!(build_dom0_tree(&host, &info, &cfg).is_err());
}
