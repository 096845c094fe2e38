//! `xen_dt::host` on QEMU virt DTBs extended with Xen boot-protocol modules.

mod common;

use addr::{Pa, Region};
use common::*;
use xen_dt::host::{parse_host, Enhanced, GicInfo, ModuleKind, PsciMethod};
use xen_dt::{Error, Node, Tree};

#[test]
fn gicv2_host() {
    let t = host_with_modules(GICV2);
    let h = parse_host(&t).unwrap();
    assert_eq!(h.memory, [Region::new(Pa(0x4000_0000), 0x8000_0000)]);
    assert_eq!(h.cpus, [0, 1]);
    assert_eq!(h.psci_method, PsciMethod::Smc);
    assert_eq!(
        h.gic,
        GicInfo::V2 {
            dist: Region::new(Pa(0x800_0000), 0x1_0000),
            cpu: Region::new(Pa(0x801_0000), 0x1_0000),
            hyp: Region::new(Pa(0x803_0000), 0x1_0000),
            vcpu: Region::new(Pa(0x804_0000), 0x1_0000),
            maint_irq: 25,
            path: "/intc@8000000".into(),
        }
    );
    assert_eq!(h.timer.irqs, [Some(29), Some(30), Some(27), Some(26)]);
    let uart = h.uart.as_ref().unwrap();
    assert_eq!(uart.path, "/pl011@9000000");
    assert_eq!(
        (uart.base, uart.size, uart.spi),
        (Pa(0x900_0000), 0x1000, Some(33))
    );
    assert_eq!(
        h.xen_bootargs.as_deref(),
        Some("console=dtuart dtuart=/pl011@9000000 dom0_mem=512M console_timestamps=boot")
    );
    assert_eq!(h.dom0_cmdline(), "console=hvc0 earlycon=xen rdinit=/init");
    assert_eq!(h.modules.len(), 2);
    assert_eq!(h.modules[0].kind, ModuleKind::Ramdisk);
    assert_eq!(h.modules[0].region, Region::new(Pa(0x5200_0000), 0x14_3942));
    let k = h.kernel().unwrap();
    assert_eq!(k.region, Region::new(Pa(0x5000_0000), 0x1f6_da00));
    assert_eq!(k.bootargs, None);
    let cmd = xen_dt::host::parse_cmdline(h.xen_cmdline());
    assert_eq!(cmd.dom0_mem, Some(512 << 20));
}

#[test]
fn gicv3_host() {
    let t = Tree::from_dtb(GICV3).unwrap();
    let h = parse_host(&t).unwrap();
    assert_eq!(h.cpus, [0, 1, 2, 3]);
    assert_eq!(
        h.gic,
        GicInfo::V3 {
            dist: Region::new(Pa(0x800_0000), 0x1_0000),
            redist: vec![Region::new(Pa(0x80a_0000), 0xf6_0000)],
            maint_irq: 25,
            path: "/intc@8000000".into(),
        }
    );
    assert_eq!(h.timer.irqs, [Some(29), Some(30), Some(27), Some(26)]);
    assert_eq!(
        h.uart.as_ref().unwrap().path,
        "/pl011@9000000",
        "from stdout-path"
    );
    assert!(h.modules.is_empty());
    assert_eq!(h.dom0_cmdline(), "");
}

#[test]
fn module_variants_and_bootargs() {
    let mut t = Tree::from_dtb(GICV3).unwrap();
    let chosen = t.node_mut("/chosen").unwrap();
    chosen.set_prop_u32("#address-cells", 1);
    chosen.set_prop_u32("#size-cells", 1);
    for (name, compat, args) in [
        (
            "module@1000",
            &["xen,linux-zimage", "xen,multiboot-module"][..],
            Some("root=/dev/vda"),
        ),
        (
            "module@2000",
            &["xen,linux-initrd", "xen,multiboot-module"][..],
            None,
        ),
        ("module@3000", &["multiboot,module"][..], None),
        ("module@4000", &["multiboot,module"][..], None),
        ("module@5000", &["multiboot,module"][..], None),
    ] {
        let mut m = Node::new(name);
        let base = u32::from_str_radix(&name[7..], 16).unwrap();
        m.set_prop_cells("reg", &[base, 0x100]);
        m.set_prop_strs("compatible", compat);
        if let Some(a) = args {
            m.set_prop_str("bootargs", a);
        }
        chosen.add_child(m);
    }
    chosen.set_prop_str("xen,dom0-bootargs", "ignored");
    // An alias as dtuart.
    let mut aliases = Node::new("aliases");
    aliases.set_prop_str("serial0", "/pl011@9000000");
    t.root.add_child(aliases);
    t.node_mut("/chosen")
        .unwrap()
        .set_prop_str("xen,xen-bootargs", "dtuart=serial0:115200");
    let h = parse_host(&t).unwrap();
    let kinds: Vec<_> = h.modules.iter().map(|m| (m.kind, m.region.start)).collect();
    assert_eq!(
        kinds,
        [
            (ModuleKind::Kernel, Pa(0x1000)),
            (ModuleKind::Ramdisk, Pa(0x2000)),
            (ModuleKind::Kernel, Pa(0x3000)),
            (ModuleKind::Ramdisk, Pa(0x4000)),
            (ModuleKind::Other, Pa(0x5000)),
        ]
    );
    assert_eq!(h.dom0_cmdline(), "root=/dev/vda", "module bootargs win");
    assert_eq!(h.uart.unwrap().base, Pa(0x900_0000));
}

/// A `xen,domain` node as booting.txt's example writes it (2 address cells, 1 size cell).
fn domain_node(name: &str, memory: &[u32], kernel: u32, ramdisk: Option<u32>) -> Node {
    let mut d = Node::new(name);
    d.set_prop_str("compatible", "xen,domain");
    d.set_prop_u32("#address-cells", 2);
    d.set_prop_u32("#size-cells", 1);
    d.set_prop_cells("memory", memory);
    d.set_prop_u32("cpus", 2);
    let mut k = Node::new(&format!("module@{kernel:x}"));
    k.set_prop_strs("compatible", &["multiboot,kernel", "multiboot,module"]);
    k.set_prop_cells("reg", &[0, kernel, 0xff_ffff]);
    k.set_prop_str("bootargs", "console=ttyAMA0 init=/bin/sh");
    d.add_child(k);
    if let Some(r) = ramdisk {
        let mut m = Node::new(&format!("module@{r:x}"));
        m.set_prop_strs("compatible", &["multiboot,ramdisk", "multiboot,module"]);
        m.set_prop_cells("reg", &[0, r, 0xff_ffff]);
        d.add_child(m);
    }
    d
}

#[test]
fn dom0less_domains() {
    let mut t = host_with_modules(GICV3);
    let chosen = t.node_mut("/chosen").unwrap();
    let mut d1 = domain_node("domU1", &[0, 131072], 0x4a00_0000, Some(0x4b00_0000));
    d1.set_prop_empty("vpl011");
    chosen.add_child(d1);
    let mut d2 = domain_node("domU2", &[65536], 0x4c00_0000, None);
    d2.set_prop_str("xen,enhanced", "no-xenstore");
    d2.set_prop_u32("nr_spis", 64);
    d2.set_prop_empty("direct-map");
    chosen.add_child(d2);
    let h = parse_host(&t).unwrap();
    // dom0's modules are unchanged: the domains' modules are theirs.
    assert_eq!(h.modules.len(), 2);
    assert_eq!(h.dom0less.len(), 2);
    let d = &h.dom0less[0];
    assert_eq!(
        (d.name.as_str(), d.memory_kb, d.cpus, d.vpl011),
        ("domU1", 131072, 2, true)
    );
    assert_eq!(d.enhanced, Enhanced::Disabled);
    assert_eq!(d.nr_spis, None);
    assert_eq!(d.kernel.region, Region::new(Pa(0x4a00_0000), 0xff_ffff));
    assert_eq!(d.cmdline(), "console=ttyAMA0 init=/bin/sh");
    assert_eq!(
        d.ramdisk.as_ref().unwrap().region,
        Region::new(Pa(0x4b00_0000), 0xff_ffff)
    );
    assert!(d.unsupported.is_empty());
    assert_eq!(d.modules().count(), 2);
    let d = &h.dom0less[1];
    assert_eq!((d.memory_kb, d.vpl011, d.nr_spis), (65536, false, Some(64)));
    assert_eq!(d.enhanced, Enhanced::NoXenstore);
    assert!(d.ramdisk.is_none());
    assert_eq!(d.unsupported, ["direct-map"]);

    // xen,enhanced without a value means enabled.
    let mut t2 = t.clone();
    let n = t2.node_mut("/chosen/domU1").unwrap();
    n.set_prop_empty("xen,enhanced");
    assert_eq!(
        parse_host(&t2).unwrap().dom0less[0].enhanced,
        Enhanced::Enabled
    );
    // Malformed domains are errors naming the node.
    for (prop, val) in [
        ("memory", &[][..]),
        ("cpus", &[0u8, 0, 0, 0][..]),
        ("xen,enhanced", &b"sometimes\0"[..]),
        ("nr_spis", &[1u8][..]),
    ] {
        let mut bad = t.clone();
        bad.node_mut("/chosen/domU1")
            .unwrap()
            .set_prop(prop, val.to_vec());
        match parse_host(&bad) {
            Err(Error::BadProperty { node, prop: p, .. }) => {
                assert_eq!((node.as_str(), p.as_str()), ("/chosen/domU1", prop))
            }
            other => panic!("{prop}: {other:?}"),
        }
    }
    let mut nokernel = t.clone();
    nokernel.node_mut("/chosen/domU2").unwrap().children.clear();
    assert!(matches!(parse_host(&nokernel), Err(Error::Missing(_))));
}

#[test]
fn malformed_host_dts_are_errors() {
    let base = Tree::from_dtb(GICV2).unwrap();
    type Edit = Box<dyn Fn(&mut Tree)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "no memory",
            Box::new(|t| t.root.retain_children(|c| !c.name.starts_with("memory"))),
        ),
        (
            "bad memory reg",
            Box::new(|t| {
                t.node_mut("/memory")
                    .unwrap()
                    .set_prop("reg", vec![1, 2, 3])
            }),
        ),
        (
            "no cpus",
            Box::new(|t| {
                t.root.remove_child("cpus");
            }),
        ),
        (
            "cpu without reg",
            Box::new(|t| {
                t.node_mut("/cpus/cpu@0").unwrap().remove_prop("reg");
            }),
        ),
        (
            "no gic",
            Box::new(|t| {
                t.root.remove_child("intc@8000000");
            }),
        ),
        (
            "gicv2 w/o virt",
            Box::new(|t| {
                let g = t.node_mut("/intc").unwrap();
                let r = g.prop("reg").unwrap()[..32].to_vec();
                g.set_prop("reg", r);
            }),
        ),
        (
            "no maint irq",
            Box::new(|t| {
                t.node_mut("/intc").unwrap().remove_prop("interrupts");
            }),
        ),
        (
            "maint irq is spi",
            Box::new(|t| {
                t.node_mut("/intc")
                    .unwrap()
                    .set_prop_cells("interrupts", &[0, 9, 4])
            }),
        ),
        (
            "short interrupts",
            Box::new(|t| {
                t.node_mut("/intc")
                    .unwrap()
                    .set_prop_cells("interrupts", &[1, 9])
            }),
        ),
        (
            "no timer",
            Box::new(|t| {
                t.root.remove_child("timer");
            }),
        ),
        (
            "timer spi",
            Box::new(|t| {
                t.node_mut("/timer")
                    .unwrap()
                    .set_prop_cells("interrupts", &[0, 9, 4])
            }),
        ),
        (
            "psci method",
            Box::new(|t| t.node_mut("/psci").unwrap().set_prop_str("method", "magic")),
        ),
        (
            "stdout dangling",
            Box::new(|t| {
                t.node_mut("/chosen")
                    .unwrap()
                    .set_prop_str("stdout-path", "/nope")
            }),
        ),
        (
            "module w/o reg",
            Box::new(|t| {
                let mut m = Node::new("module@0");
                m.set_prop_strs("compatible", &["multiboot,kernel"]);
                t.node_mut("/chosen").unwrap().add_child(m);
            }),
        ),
        (
            "module wraps",
            Box::new(|t| {
                let mut m = Node::new("module@0");
                m.set_prop_strs("compatible", &["multiboot,kernel"]);
                m.set_prop_cells("reg", &[0xffff_ffff, 0xffff_ffff, 0, 0x10]);
                t.node_mut("/chosen").unwrap().add_child(m);
            }),
        ),
        (
            "dangling interrupt-parent",
            Box::new(|t| t.root.set_prop_u32("interrupt-parent", 0x1234)),
        ),
    ];
    for (what, f) in cases {
        let mut t = base.clone();
        f(&mut t);
        let e = parse_host(&t);
        assert!(e.is_err(), "{what}: expected an error, got {e:?}");
        // Every error renders a message.
        let msg = format!("{}", e.unwrap_err());
        assert!(!msg.is_empty());
    }
    assert!(matches!(
        parse_host(&{
            let mut t = base.clone();
            t.root.remove_child("cpus");
            t
        }),
        Err(Error::Missing(_))
    ));
}

/// Random property corruption of a real DT never panics parse_host.
#[test]
fn corrupted_properties_never_panic() {
    let base = Tree::from_dtb(GICV3).unwrap();
    let mut paths = Vec::new();
    base.walk(|idx, n| {
        for p in 0..n.props.len() {
            paths.push((idx.to_vec(), p));
        }
    });
    let mut seed = 0x1234_5678u32;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    for (idx, p) in paths {
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
                2 => v.iter_mut().for_each(|b| *b = rnd() as u8),
                _ => v.extend_from_slice(&[0xff; 5]),
            }
            let _ = parse_host(&t);
        }
    }
}
