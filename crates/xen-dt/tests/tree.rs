//! Round trip and cross-check tests of `xen_dt::tree` on real QEMU DTBs.

use xen_dt::{dump, Tree};

const GICV2: &[u8] = include_bytes!("data/virt-gicv2.dtb");
const GICV3: &[u8] = include_bytes!("data/virt-gicv3.dtb");

#[test]
fn round_trip_qemu_dtbs() {
    for dtb in [GICV2, GICV3] {
        let t = Tree::from_dtb(dtb).unwrap();
        let out = t.to_dtb().unwrap();
        let back = Tree::from_dtb(&out).unwrap();
        assert_eq!(back, t);
        assert_eq!(
            back.to_dtb().unwrap(),
            out,
            "serialization is deterministic"
        );
    }
}

/// The hand-written parser agrees with the `fdt` crate on every node and property.
#[test]
fn cross_check_with_fdt_crate() {
    for dtb in [GICV2, GICV3] {
        let t = Tree::from_dtb(dtb).unwrap();
        let f = fdt::Fdt::new(dtb).unwrap();
        let mut ours = Vec::new();
        t.walk(|idx, n| {
            let path = t.path_of(idx).unwrap();
            for p in &n.props {
                ours.push((path.clone(), p.name.clone(), p.value.clone()));
            }
        });
        let mut theirs = Vec::new();
        fn go(n: fdt::node::FdtNode, path: String, out: &mut Vec<(String, String, Vec<u8>)>) {
            for p in n.properties() {
                out.push((path.clone(), p.name.to_string(), p.value.to_vec()));
            }
            for c in n.children() {
                let cp = if path == "/" {
                    format!("/{}", c.name)
                } else {
                    format!("{path}/{}", c.name)
                };
                go(c, cp, out);
            }
        }
        go(f.find_node("/").unwrap(), "/".to_string(), &mut theirs);
        assert_eq!(ours, theirs);
        assert_eq!(
            t.mem_reserve,
            f.memory_reservations()
                .map(|r| (r.address() as u64, r.size() as u64))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn lookups_on_qemu_dtb() {
    let t = Tree::from_dtb(GICV3).unwrap();
    assert_eq!(t.node("/cpus/cpu@2").unwrap().prop_u32("reg"), Some(2));
    assert!(t.node("/cpus/cpu").is_none(), "cpu@N is not unique");
    assert_eq!(t.node("/pl011").unwrap().name, "pl011@9000000");
    assert_eq!(t.node("/intc/its").unwrap().name, "its@8080000");
    let gic = t
        .find_by_phandle(t.root.prop_u32("interrupt-parent").unwrap())
        .unwrap();
    assert!(gic.compatible_with("arm,gic-v3"));
    assert_eq!(
        t.node("/chosen").unwrap().prop_str("stdout-path"),
        Some("/pl011@9000000")
    );
    let text = dump(&t);
    assert!(text.contains("\tpsci {\n\t\tmigrate = <0xc4000005>;\n"));
    assert!(text.contains("compatible = \"arm,psci-1.0\\0arm,psci-0.2\\0arm,psci\";"));
    assert!(text.contains("\t\tranges;\n"));
}
