//! Generic DT binding helpers shared by [`crate::host`] and [`crate::dom0`]: cell counts,
//! `reg` translation through `ranges` (Devicetree Specification §2.3.5-2.3.8), interrupt
//! parents and specifiers (§2.4), and the GIC interrupt specifier (Linux
//! `bindings/interrupt-controller/arm,gic.yaml`: cell 0 type, cell 1 number, cell 2 flags).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::tree::{bytes_to_cells, decode_reg, read_cells, Node, Tree};
use crate::Error;

/// Default `#address-cells` when absent (Devicetree Specification §2.3.5).
pub const DEFAULT_ADDRESS_CELLS: u32 = 2;
/// Default `#size-cells` when absent.
pub const DEFAULT_SIZE_CELLS: u32 = 1;

/// GIC interrupt specifier type for an SPI (`GIC_SPI` in Linux's `arm-gic.h`).
pub const GIC_SPI: u32 = 0;
/// GIC interrupt specifier type for a PPI (`GIC_PPI`).
pub const GIC_PPI: u32 = 1;
/// First SPI INTID (GIC architecture: SGIs 0-15, PPIs 16-31, SPIs 32-1019).
pub const SPI_BASE: u32 = 32;
/// First PPI INTID.
pub const PPI_BASE: u32 = 16;
/// Last SPI INTID (1020-1023 are special).
pub const SPI_MAX: u32 = 1019;
/// `IRQ_TYPE_LEVEL_HIGH` (Linux `dt-bindings/interrupt-controller/irq.h`; Xen's
/// `DT_IRQ_TYPE_LEVEL_HIGH`).
pub use xen_abi::device_tree_defs::DT_IRQ_TYPE_LEVEL_HIGH as IRQ_TYPE_LEVEL_HIGH;
/// `IRQ_TYPE_LEVEL_LOW` (Xen's `DT_IRQ_TYPE_LEVEL_LOW`).
pub use xen_abi::device_tree_defs::DT_IRQ_TYPE_LEVEL_LOW as IRQ_TYPE_LEVEL_LOW;
/// CPU mask Xen puts in the flags cell of the PPIs it describes (`set_interrupt(.., 0xf, ..)`:
/// "all CPUs").
pub const PPI_CPU_MASK: u32 = 0xf;

/// Most steps followed when looking for an interrupt parent (guards against loops).
const MAX_IRQ_PARENT_STEPS: usize = 64;

/// `#address-cells` of `n` (the cells its children's addresses use).
pub fn addr_cells(n: &Node) -> u32 {
    n.prop_u32("#address-cells")
        .unwrap_or(DEFAULT_ADDRESS_CELLS)
}

/// `#size-cells` of `n`.
pub fn size_cells(n: &Node) -> u32 {
    n.prop_u32("#size-cells").unwrap_or(DEFAULT_SIZE_CELLS)
}

/// Path of the node at `idx`, for messages.
pub fn path(tree: &Tree, idx: &[usize]) -> String {
    tree.path_of(idx).unwrap_or_else(|| "?".to_string())
}

/// The node at `idx`, which the caller got from the same tree.
pub fn at<'a>(tree: &'a Tree, idx: &[usize]) -> Result<&'a Node, Error> {
    tree.node_at(idx)
        .ok_or_else(|| Error::Missing(format!("node at index path {idx:?}")))
}

fn bad_prop(tree: &Tree, idx: &[usize], prop: &str, what: &'static str) -> Error {
    Error::BadProperty {
        node: path(tree, idx),
        prop: prop.to_string(),
        what,
    }
}

/// The node's `reg` entries in its parent's address space (untranslated). Empty if no `reg`.
pub fn raw_regs(tree: &Tree, idx: &[usize]) -> Result<Vec<(u64, u64)>, Error> {
    let n = at(tree, idx)?;
    let Some(v) = n.prop("reg") else {
        return Ok(Vec::new());
    };
    let parent = match idx.split_last() {
        Some((_, p)) => at(tree, p)?,
        None => {
            return Err(bad_prop(
                tree,
                idx,
                "reg",
                "the root node has no parent bus",
            ))
        }
    };
    decode_reg(addr_cells(parent), size_cells(parent), v).map_err(|e| match e {
        Error::BadProperty { what, .. } => bad_prop(tree, idx, "reg", what),
        e => e,
    })
}

/// Translates `addr`, an address on the bus of the node at `idx` (i.e. in its parent's address
/// space), to a CPU physical address through the `ranges` of every ancestor bus.
pub fn translate(tree: &Tree, idx: &[usize], addr: u64) -> Result<u64, Error> {
    let mut a = addr;
    // `bus_len` is the length of the index path of the bus whose address space `a` is in.
    let mut bus_len = idx.len().saturating_sub(1);
    while bus_len >= 1 {
        let bus_idx = &idx[..bus_len];
        let bus = at(tree, bus_idx)?;
        let grand = at(tree, &idx[..bus_len - 1])?;
        match bus.prop("ranges") {
            None => {
                return Err(Error::Unsupported(format!(
                    "{}: address {a:#x} is not CPU-addressable ({} has no ranges)",
                    path(tree, idx),
                    path(tree, bus_idx)
                )))
            }
            Some([]) => {}
            Some(v) => {
                let cells =
                    bytes_to_cells(v).ok_or(bad_prop(tree, bus_idx, "ranges", "bad length"))?;
                let (ca, pa, sc) = (
                    addr_cells(bus) as usize,
                    addr_cells(grand) as usize,
                    size_cells(bus) as usize,
                );
                let per = ca + pa + sc;
                if per == 0 || !cells.len().is_multiple_of(per) {
                    return Err(bad_prop(tree, bus_idx, "ranges", "bad length"));
                }
                let mut hit = None;
                for e in 0..cells.len() / per {
                    let b = e * per;
                    let (Some(cb), Some(pb), Some(sz)) = (
                        read_cells(&cells, b, ca),
                        read_cells(&cells, b + ca, pa),
                        read_cells(&cells, b + ca + pa, sc),
                    ) else {
                        continue;
                    };
                    if let Some(off) = a.checked_sub(cb).filter(|&o| o < sz) {
                        hit = pb.checked_add(off);
                        break;
                    }
                }
                a = hit.ok_or_else(|| {
                    Error::Unsupported(format!(
                        "{}: address {a:#x} is outside the ranges of {}",
                        path(tree, idx),
                        path(tree, bus_idx)
                    ))
                })?;
            }
        }
        bus_len -= 1;
    }
    Ok(a)
}

/// The node's `reg` entries as CPU physical (address, size) pairs.
pub fn regs(tree: &Tree, idx: &[usize]) -> Result<Vec<(u64, u64)>, Error> {
    raw_regs(tree, idx)?
        .into_iter()
        .map(|(a, s)| Ok((translate(tree, idx, a)?, s)))
        .collect()
}

/// Index path of the interrupt controller (or nexus) a node's `interrupts` refer to: follow
/// `interrupt-parent`, else the DT parent, until a node with `#interrupt-cells` (Linux's
/// `of_irq_find_parent`).
pub fn interrupt_parent(tree: &Tree, idx: &[usize]) -> Option<Vec<usize>> {
    let mut cur: Vec<usize> = idx.to_vec();
    for _ in 0..MAX_IRQ_PARENT_STEPS {
        let n = tree.node_at(&cur)?;
        let next = match n.prop_u32("interrupt-parent") {
            Some(ph) => tree.phandle_index(ph)?,
            None => {
                cur.pop()?;
                cur
            }
        };
        if tree.node_at(&next)?.has_prop("#interrupt-cells") {
            return Some(next);
        }
        cur = next;
    }
    None
}

/// One interrupt: the index path of its controller and its specifier cells.
pub type IrqSpec = (Vec<usize>, Vec<u32>);

/// The node's interrupts as (controller index path, specifier cells), from
/// `interrupts-extended` or `interrupts`. Empty if it has neither.
pub fn interrupts(tree: &Tree, idx: &[usize]) -> Result<Vec<IrqSpec>, Error> {
    let n = at(tree, idx)?;
    let mut out = Vec::new();
    if let Some(v) = n.prop("interrupts-extended") {
        let cells = bytes_to_cells(v).ok_or(bad_prop(
            tree,
            idx,
            "interrupts-extended",
            "length is not a multiple of 4",
        ))?;
        let mut i = 0;
        while i < cells.len() {
            let ctrl = tree.phandle_index(cells[i]).ok_or(bad_prop(
                tree,
                idx,
                "interrupts-extended",
                "phandle names no node",
            ))?;
            let ic = at(tree, &ctrl)?
                .prop_u32("#interrupt-cells")
                .ok_or(bad_prop(
                    tree,
                    idx,
                    "interrupts-extended",
                    "controller lacks #interrupt-cells",
                ))? as usize;
            let spec = cells.get(i + 1..i + 1 + ic).ok_or(bad_prop(
                tree,
                idx,
                "interrupts-extended",
                "truncated",
            ))?;
            out.push((ctrl, spec.to_vec()));
            i += 1 + ic;
        }
        return Ok(out);
    }
    let Some(v) = n.prop("interrupts") else {
        return Ok(out);
    };
    let cells = bytes_to_cells(v).ok_or(bad_prop(
        tree,
        idx,
        "interrupts",
        "length is not a multiple of 4",
    ))?;
    let ctrl = interrupt_parent(tree, idx).ok_or(bad_prop(
        tree,
        idx,
        "interrupts",
        "no interrupt parent found",
    ))?;
    let ic = at(tree, &ctrl)?.prop_u32("#interrupt-cells").unwrap_or(0) as usize;
    if ic == 0 || !cells.len().is_multiple_of(ic) {
        return Err(bad_prop(
            tree,
            idx,
            "interrupts",
            "length is not a multiple of the parent's #interrupt-cells",
        ));
    }
    for spec in cells.chunks_exact(ic) {
        out.push((ctrl.clone(), spec.to_vec()));
    }
    Ok(out)
}

/// The INTID a GIC interrupt specifier names (SPI n -> 32 + n, PPI n -> 16 + n), or `None`
/// for other types (GICv3 extended ranges) or out-of-range numbers.
pub fn gic_intid(spec: &[u32]) -> Option<u32> {
    let (&ty, &num) = (spec.first()?, spec.get(1)?);
    match ty {
        GIC_SPI => num.checked_add(SPI_BASE).filter(|&i| i <= SPI_MAX),
        GIC_PPI if num < 16 => Some(PPI_BASE + num),
        _ => None,
    }
}

/// INTIDs of the node's interrupts that go to the GIC at `gic`, in order. Interrupts of other
/// controllers are skipped; a GIC specifier that names no SGI/PPI/SPI is an error.
pub fn gic_irqs(tree: &Tree, idx: &[usize], gic: &[usize]) -> Result<Vec<u32>, Error> {
    let mut out = Vec::new();
    for (ctrl, spec) in interrupts(tree, idx)? {
        if ctrl != gic {
            continue;
        }
        out.push(gic_intid(&spec).ok_or_else(|| Error::BadProperty {
            node: path(tree, idx),
            prop: "interrupts".to_string(),
            what: "GIC specifier is neither a PPI nor an SPI",
        })?);
    }
    Ok(out)
}

/// Xen's `set_interrupt`: the three-cell GIC specifier of INTID `irq` (a PPI 16..=31 or an SPI
/// 32..=1019), with `cpumask` (PPIs only, bits [15:8]) and trigger `level` in the flags cell.
/// `None` for SGIs and INTIDs past the SPI range.
pub fn gic_interrupt(irq: u32, cpumask: u32, level: u32) -> Option<[u32; 3]> {
    let (ty, num) = match irq {
        PPI_BASE..SPI_BASE => (GIC_PPI, irq - PPI_BASE),
        SPI_BASE..=SPI_MAX => (GIC_SPI, irq - SPI_BASE),
        _ => return None,
    };
    Some([ty, num, ((cpumask & 0xff) << 8) | level])
}

/// Index paths of every node, depth first, for which `f` is true.
pub fn find_all(tree: &Tree, mut f: impl FnMut(&Node) -> bool) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    tree.walk(|idx, n| {
        if f(n) {
            out.push(idx.to_vec());
        }
    });
    out
}
