//! An owned, editable flattened device tree.
//!
//! Parsing is hand-written rather than done with the `fdt` crate: `fdt` 0.1.5 panics on some
//! truncated or malformed blobs (`unwrap`/`expect` in `FdtNode::children` and node-name
//! parsing) and does not expose `boot_cpuid_phys`, and Xenith must turn a malformed host DT into
//! an `Err`, never a panic. The format is small (Devicetree Specification v0.4, §5: header,
//! memory reservation block, structure block of `FDT_BEGIN_NODE`/`FDT_PROP`/`FDT_END_NODE`
//! tokens, strings block); every read below is bounds-checked. The tests cross-check this parser
//! against `fdt`. Serialization uses `vm-fdt`.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

use crate::Error;

/// `FDT_MAGIC` (Devicetree Specification §5.2).
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// `FDT_BEGIN_NODE` token (§5.4.1).
pub const FDT_BEGIN_NODE: u32 = 0x1;
/// `FDT_END_NODE` token.
pub const FDT_END_NODE: u32 = 0x2;
/// `FDT_PROP` token.
pub const FDT_PROP: u32 = 0x3;
/// `FDT_NOP` token.
pub const FDT_NOP: u32 = 0x4;
/// `FDT_END` token.
pub const FDT_END: u32 = 0x9;
/// Size of the FDT header (§5.2).
const FDT_HEADER_SIZE: usize = 40;
/// Deepest nesting accepted when parsing (Linux's `FDT_MAX_DEPTH`, vm-fdt's limit too).
pub const FDT_MAX_DEPTH: usize = 64;

/// A whole device tree: the root node plus the header fields that are not nodes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Tree {
    /// The root node (its name is empty).
    pub root: Node,
    /// `boot_cpuid_phys` from the header.
    pub boot_cpuid_phys: u32,
    /// The memory reservation block: (address, size) pairs.
    pub mem_reserve: Vec<(u64, u64)>,
}

/// One node: its name (with unit address, e.g. `pl011@9000000`), properties and children, in
/// blob order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Node {
    /// Node name including the unit address; empty for the root.
    pub name: String,
    /// Properties in order.
    pub props: Vec<Prop>,
    /// Child nodes in order.
    pub children: Vec<Node>,
}

/// One property: name and raw (big-endian) value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prop {
    /// Property name.
    pub name: String,
    /// Raw value bytes.
    pub value: Vec<u8>,
}

/// A bounds-checked big-endian reader over the blob.
struct Reader<'a> {
    data: &'a [u8],
}

impl Reader<'_> {
    fn u32_at(&self, off: usize) -> Result<u32, Error> {
        let bytes = off
            .checked_add(4)
            .and_then(|end| self.data.get(off..end))
            .ok_or(Error::BadDtb {
                offset: off,
                what: "truncated (reading a 32-bit word)",
            })?;
        let mut b = [0u8; 4];
        b.copy_from_slice(bytes);
        Ok(u32::from_be_bytes(b))
    }

    fn u64_at(&self, off: usize) -> Result<u64, Error> {
        let hi = self.u32_at(off)?;
        let lo = self.u32_at(off.checked_add(4).ok_or(Error::BadDtb {
            offset: off,
            what: "offset overflow",
        })?)?;
        Ok((u64::from(hi) << 32) | u64::from(lo))
    }
}

fn bad(offset: usize, what: &'static str) -> Error {
    Error::BadDtb { offset, what }
}

/// Reads a NUL-terminated string starting at `off` in `block`, which ends at `limit`.
fn cstr_at<'a>(
    data: &'a [u8],
    off: usize,
    limit: usize,
    what: &'static str,
) -> Result<&'a str, Error> {
    let slice = data.get(off..limit).ok_or(bad(off, what))?;
    let len = slice
        .iter()
        .position(|&b| b == 0)
        .ok_or(bad(off, "unterminated string"))?;
    core::str::from_utf8(&slice[..len]).map_err(|_| bad(off, "string is not UTF-8"))
}

fn align4(v: usize) -> Option<usize> {
    v.checked_add(3).map(|v| v & !3)
}

impl Tree {
    /// An empty tree (root node with no properties).
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Parses a DTB. Every malformation is an `Err`, never a panic.
    pub fn from_dtb(dtb: &[u8]) -> Result<Tree, Error> {
        let r = Reader { data: dtb };
        if dtb.len() < FDT_HEADER_SIZE {
            return Err(bad(0, "shorter than the FDT header"));
        }
        if r.u32_at(0)? != FDT_MAGIC {
            return Err(bad(0, "bad magic (not a DTB)"));
        }
        let total = r.u32_at(4)? as usize;
        if total > dtb.len() || total < FDT_HEADER_SIZE {
            return Err(bad(4, "totalsize exceeds the buffer"));
        }
        let data = &dtb[..total];
        let r = Reader { data };
        let off_struct = r.u32_at(8)? as usize;
        let off_strings = r.u32_at(12)? as usize;
        let off_rsv = r.u32_at(16)? as usize;
        let version = r.u32_at(20)?;
        let last_comp = r.u32_at(24)?;
        let boot_cpuid_phys = r.u32_at(28)?;
        let size_strings = r.u32_at(32)? as usize;
        if version < 16 || last_comp > 17 {
            return Err(bad(20, "unsupported FDT version (need 16 or 17)"));
        }
        let struct_end = if version >= 17 {
            off_struct
                .checked_add(r.u32_at(36)? as usize)
                .ok_or(bad(36, "size_dt_struct overflows"))?
        } else {
            total
        };
        let strings_end = off_strings
            .checked_add(size_strings)
            .ok_or(bad(32, "size_dt_strings overflows"))?;
        if struct_end > total || strings_end > total {
            return Err(bad(8, "structure or strings block outside the blob"));
        }

        // Memory reservation block: (u64 address, u64 size) until a (0, 0) entry.
        let mut mem_reserve = Vec::new();
        let mut off = off_rsv;
        loop {
            let addr = r.u64_at(off)?;
            let size = r.u64_at(off + 8)?;
            if addr == 0 && size == 0 {
                break;
            }
            mem_reserve.push((addr, size));
            off = off
                .checked_add(16)
                .ok_or(bad(off, "memory reservation block overflows"))?;
        }

        // Structure block.
        let mut stack: Vec<Node> = Vec::new();
        let mut root: Option<Node> = None;
        let mut off = off_struct;
        loop {
            if off >= struct_end {
                return Err(bad(off, "structure block ends without FDT_END"));
            }
            let token = r.u32_at(off)?;
            off += 4;
            match token {
                FDT_BEGIN_NODE => {
                    if root.is_some() {
                        return Err(bad(off, "second root node"));
                    }
                    if stack.len() >= FDT_MAX_DEPTH {
                        return Err(bad(off, "nodes nested too deeply"));
                    }
                    let name = cstr_at(data, off, struct_end, "node name outside block")?;
                    off = align4(off + name.len() + 1).ok_or(bad(off, "offset overflow"))?;
                    if stack.is_empty() && !name.is_empty() && name != "/" {
                        // Some old blobs name the root "/"; anything else is wrong.
                        return Err(bad(off, "root node has a name"));
                    }
                    let name = if stack.is_empty() { "" } else { name };
                    stack.push(Node::new(name));
                }
                FDT_END_NODE => {
                    let node = stack.pop().ok_or(bad(off, "FDT_END_NODE without a node"))?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => root = Some(node),
                    }
                }
                FDT_PROP => {
                    let len = r.u32_at(off)? as usize;
                    let nameoff = r.u32_at(off + 4)? as usize;
                    off += 8;
                    let end = off
                        .checked_add(len)
                        .filter(|&e| e <= struct_end)
                        .ok_or(bad(off, "property value outside the structure block"))?;
                    let value = data[off..end].to_vec();
                    let name_at = off_strings
                        .checked_add(nameoff)
                        .filter(|&o| o < strings_end)
                        .ok_or(bad(off, "property name offset outside the strings block"))?;
                    let name = cstr_at(data, name_at, strings_end, "property name")?;
                    let node = stack
                        .last_mut()
                        .ok_or(bad(off, "property outside any node"))?;
                    node.props.push(Prop {
                        name: name.to_string(),
                        value,
                    });
                    off = align4(end).ok_or(bad(off, "offset overflow"))?;
                }
                FDT_NOP => {}
                FDT_END => {
                    if !stack.is_empty() {
                        return Err(bad(off, "FDT_END inside an open node"));
                    }
                    break;
                }
                _ => return Err(bad(off - 4, "unknown structure token")),
            }
        }
        let root = root.ok_or(bad(off_struct, "no root node"))?;
        Ok(Tree {
            root,
            boot_cpuid_phys,
            mem_reserve,
        })
    }

    /// Serializes the tree to a DTB (version 17) with `vm-fdt`.
    pub fn to_dtb(&self) -> Result<Vec<u8>, Error> {
        let werr = |e: vm_fdt::Error| Error::Write(format!("{e}"));
        let mut rsv = Vec::with_capacity(self.mem_reserve.len());
        for &(a, s) in &self.mem_reserve {
            rsv.push(vm_fdt::FdtReserveEntry::new(a, s).map_err(werr)?);
        }
        let mut w = vm_fdt::FdtWriter::new_with_mem_reserv(&rsv).map_err(werr)?;
        w.set_boot_cpuid_phys(self.boot_cpuid_phys);
        fn write_node(w: &mut vm_fdt::FdtWriter, node: &Node, depth: usize) -> Result<(), Error> {
            let werr = |e: vm_fdt::Error| Error::Write(format!("node {:?}: {e}", node.name));
            if depth > FDT_MAX_DEPTH {
                return Err(Error::Write("nodes nested too deeply".to_string()));
            }
            let h = w.begin_node(&node.name).map_err(werr)?;
            for p in &node.props {
                w.property(&p.name, &p.value).map_err(|e| {
                    Error::Write(format!("node {:?} property {:?}: {e}", node.name, p.name))
                })?;
            }
            for c in &node.children {
                write_node(w, c, depth + 1)?;
            }
            w.end_node(h).map_err(werr)
        }
        if !self.root.name.is_empty() {
            return Err(Error::Write(
                "the root node must have an empty name".to_string(),
            ));
        }
        write_node(&mut w, &self.root, 0)?;
        w.finish().map_err(werr)
    }

    /// The node at `path` (`"/"`, `"/chosen"`, `"/cpus/cpu@0"`). Each component matches a child's
    /// exact name; a component without `@` also matches a unique child named `component@...`.
    pub fn node(&self, path: &str) -> Option<&Node> {
        let idx = self.resolve(path)?;
        self.node_at(&idx)
    }

    /// Mutable version of [`Tree::node`].
    pub fn node_mut(&mut self, path: &str) -> Option<&mut Node> {
        let idx = self.resolve(path)?;
        let mut n = &mut self.root;
        for i in idx {
            n = n.children.get_mut(i)?;
        }
        Some(n)
    }

    /// The first node (in depth-first order) whose `phandle` (or legacy `linux,phandle`) is
    /// `phandle`.
    pub fn find_by_phandle(&self, phandle: u32) -> Option<&Node> {
        let idx = self.phandle_index(phandle)?;
        self.node_at(&idx)
    }

    /// Child-index path of the node at `path` (see [`Tree::node`]).
    pub fn resolve(&self, path: &str) -> Option<Vec<usize>> {
        let rest = path.strip_prefix('/')?;
        let mut idx = Vec::new();
        let mut n = &self.root;
        for comp in rest.split('/').filter(|c| !c.is_empty()) {
            let i = n.child_index(comp)?;
            idx.push(i);
            n = &n.children[i];
        }
        Some(idx)
    }

    /// The node at a child-index path.
    pub fn node_at(&self, idx: &[usize]) -> Option<&Node> {
        let mut n = &self.root;
        for &i in idx {
            n = n.children.get(i)?;
        }
        Some(n)
    }

    /// The full path (`"/cpus/cpu@0"`) of the node at a child-index path.
    pub fn path_of(&self, idx: &[usize]) -> Option<String> {
        let mut s = String::new();
        let mut n = &self.root;
        for &i in idx {
            n = n.children.get(i)?;
            s.push('/');
            s.push_str(&n.name);
        }
        if s.is_empty() {
            s.push('/');
        }
        Some(s)
    }

    /// Child-index path of the node with `phandle`.
    pub fn phandle_index(&self, phandle: u32) -> Option<Vec<usize>> {
        let mut found = None;
        self.walk(|idx, n| {
            if found.is_none()
                && (n.prop_u32("phandle") == Some(phandle)
                    || n.prop_u32("linux,phandle") == Some(phandle))
            {
                found = Some(idx.to_vec());
            }
        });
        found
    }

    /// Calls `f(index_path, node)` for every node, depth first, parents before children.
    pub fn walk<'a>(&'a self, mut f: impl FnMut(&[usize], &'a Node)) {
        fn go<'a>(n: &'a Node, idx: &mut Vec<usize>, f: &mut impl FnMut(&[usize], &'a Node)) {
            f(idx, n);
            for (i, c) in n.children.iter().enumerate() {
                idx.push(i);
                go(c, idx, f);
                idx.pop();
            }
        }
        go(&self.root, &mut Vec::new(), &mut f);
    }

    /// The largest phandle in use (0 if none), for allocating a new one.
    pub fn max_phandle(&self) -> u32 {
        let mut max = 0;
        self.walk(|_, n| {
            for name in ["phandle", "linux,phandle"] {
                if let Some(p) = n.prop_u32(name) {
                    max = max.max(p);
                }
            }
        });
        max
    }
}

impl Node {
    /// A node with no properties or children.
    pub fn new(name: &str) -> Node {
        Node {
            name: name.to_string(),
            props: Vec::new(),
            children: Vec::new(),
        }
    }

    /// The name without its unit address (`"pl011"` for `"pl011@9000000"`).
    pub fn base_name(&self) -> &str {
        self.name.split('@').next().unwrap_or("")
    }

    /// The unit address part of the name, if any.
    pub fn unit_address(&self) -> Option<&str> {
        self.name.split_once('@').map(|(_, a)| a)
    }

    /// Raw value of property `name`.
    pub fn prop(&self, name: &str) -> Option<&[u8]> {
        self.props
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_slice())
    }

    /// Whether the node has property `name`.
    pub fn has_prop(&self, name: &str) -> bool {
        self.props.iter().any(|p| p.name == name)
    }

    /// Property `name` as one big-endian u32 (the value must be exactly 4 bytes).
    pub fn prop_u32(&self, name: &str) -> Option<u32> {
        let v = self.prop(name)?;
        let b: [u8; 4] = v.try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }

    /// Property `name` as big-endian u32 cells (the length must be a multiple of 4).
    pub fn prop_cells(&self, name: &str) -> Option<Vec<u32>> {
        bytes_to_cells(self.prop(name)?)
    }

    /// Property `name` as a string: the bytes before the first NUL, which must exist.
    pub fn prop_str(&self, name: &str) -> Option<&str> {
        let v = self.prop(name)?;
        let end = v.iter().position(|&b| b == 0)?;
        core::str::from_utf8(&v[..end]).ok()
    }

    /// Property `name` as a stringlist (empty iterator if absent; non-UTF-8 entries skipped).
    pub fn prop_strs(&self, name: &str) -> impl Iterator<Item = &str> {
        let v = self.prop(name).unwrap_or(&[]);
        let v = v.strip_suffix(&[0]).unwrap_or(v);
        v.split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .filter_map(|s| core::str::from_utf8(s).ok())
    }

    /// Whether `compatible` lists `compat`.
    pub fn compatible_with(&self, compat: &str) -> bool {
        self.prop_strs("compatible").any(|c| c == compat)
    }

    /// Whether `status` is absent, `"okay"` or `"ok"`.
    pub fn is_enabled(&self) -> bool {
        match self.prop_str("status") {
            None => true,
            Some(s) => s == "okay" || s == "ok",
        }
    }

    /// Sets property `name`: replaces the value in place if present, else appends.
    pub fn set_prop(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        let value = value.into();
        match self.props.iter_mut().find(|p| p.name == name) {
            Some(p) => p.value = value,
            None => self.props.push(Prop {
                name: name.to_string(),
                value,
            }),
        }
    }

    /// Sets a one-cell property.
    pub fn set_prop_u32(&mut self, name: &str, v: u32) {
        self.set_prop(name, v.to_be_bytes().to_vec());
    }

    /// Sets a property of big-endian u32 cells.
    pub fn set_prop_cells(&mut self, name: &str, cells: &[u32]) {
        self.set_prop(name, cells_to_bytes(cells));
    }

    /// Sets a string property (NUL-terminated).
    pub fn set_prop_str(&mut self, name: &str, s: &str) {
        self.set_prop_strs(name, &[s]);
    }

    /// Sets a stringlist property.
    pub fn set_prop_strs(&mut self, name: &str, s: &[&str]) {
        let mut v = Vec::new();
        for x in s {
            v.extend_from_slice(x.as_bytes());
            v.push(0);
        }
        self.set_prop(name, v);
    }

    /// Sets an empty (boolean) property.
    pub fn set_prop_empty(&mut self, name: &str) {
        self.set_prop(name, Vec::new());
    }

    /// Removes property `name`; whether it was there.
    pub fn remove_prop(&mut self, name: &str) -> bool {
        let before = self.props.len();
        self.props.retain(|p| p.name != name);
        self.props.len() != before
    }

    /// Index of the child matching `name` (exact, or unique `name@...` if `name` has no `@`).
    pub fn child_index(&self, name: &str) -> Option<usize> {
        if let Some(i) = self.children.iter().position(|c| c.name == name) {
            return Some(i);
        }
        if name.contains('@') {
            return None;
        }
        let mut found = None;
        for (i, c) in self.children.iter().enumerate() {
            if c.base_name() == name {
                if found.is_some() {
                    return None;
                }
                found = Some(i);
            }
        }
        found
    }

    /// The child matching `name` (see [`Node::child_index`]).
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.child_index(name).map(|i| &self.children[i])
    }

    /// Mutable version of [`Node::child`].
    pub fn child_mut(&mut self, name: &str) -> Option<&mut Node> {
        let i = self.child_index(name)?;
        self.children.get_mut(i)
    }

    /// Appends a child and returns it.
    pub fn add_child(&mut self, node: Node) -> &mut Node {
        self.children.push(node);
        let last = self.children.len() - 1;
        &mut self.children[last]
    }

    /// Removes and returns the child matching `name` (see [`Node::child_index`]).
    pub fn remove_child(&mut self, name: &str) -> Option<Node> {
        let i = self.child_index(name)?;
        Some(self.children.remove(i))
    }

    /// Keeps only the children for which `f` returns true.
    pub fn retain_children(&mut self, f: impl FnMut(&Node) -> bool) {
        self.children.retain(f);
    }
}

/// Big-endian cells to bytes.
pub fn cells_to_bytes(cells: &[u32]) -> Vec<u8> {
    cells.iter().flat_map(|c| c.to_be_bytes()).collect()
}

/// Bytes to big-endian cells; `None` unless the length is a multiple of 4.
pub fn bytes_to_cells(v: &[u8]) -> Option<Vec<u32>> {
    if !v.len().is_multiple_of(4) {
        return None;
    }
    Some(
        v.chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// Pushes `v` as `cells` big-endian cells (high bits beyond `cells * 32` are dropped; more
/// than two cells are padded with leading zero cells).
fn push_cells(out: &mut Vec<u8>, cells: u32, v: u64) {
    for i in (0..cells).rev() {
        let cell = if i >= 2 { 0 } else { (v >> (32 * i)) as u32 };
        out.extend_from_slice(&cell.to_be_bytes());
    }
}

/// Encodes (address, size) pairs with the given `#address-cells`/`#size-cells`. A value too
/// large for its cells loses its high bits: callers pass cells of at least 2 for 64-bit values.
pub fn encode_reg(addr_cells: u32, size_cells: u32, regs: &[(u64, u64)]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(a, s) in regs {
        push_cells(&mut out, addr_cells, a);
        push_cells(&mut out, size_cells, s);
    }
    out
}

/// Reads a number of `cells` cells from `v` at cell index `at`; `None` if it does not fit in
/// 64 bits or runs past the end.
pub(crate) fn read_cells(v: &[u32], at: usize, cells: usize) -> Option<u64> {
    let mut acc: u64 = 0;
    for i in 0..cells {
        let c = *v.get(at.checked_add(i)?)?;
        if acc >> 32 != 0 {
            return None;
        }
        acc = (acc << 32) | u64::from(c);
    }
    Some(acc)
}

/// Decodes a `reg`-style value into (address, size) pairs.
pub fn decode_reg(
    addr_cells: u32,
    size_cells: u32,
    value: &[u8],
) -> Result<Vec<(u64, u64)>, Error> {
    let err = |what| Error::BadProperty {
        node: String::new(),
        prop: "reg".to_string(),
        what,
    };
    let cells = bytes_to_cells(value).ok_or(err("length is not a multiple of 4"))?;
    let (a, s) = (addr_cells as usize, size_cells as usize);
    let per = a.checked_add(s).ok_or(err("cell counts overflow"))?;
    if per == 0 {
        return if cells.is_empty() {
            Ok(Vec::new())
        } else {
            Err(err("#address-cells and #size-cells are both 0"))
        };
    }
    if !cells.len().is_multiple_of(per) {
        return Err(err("length is not a multiple of the entry size"));
    }
    let mut out = Vec::with_capacity(cells.len() / per);
    for e in 0..cells.len() / per {
        let base = e * per;
        let addr = read_cells(&cells, base, a).ok_or(err("address does not fit in 64 bits"))?;
        let size = read_cells(&cells, base + a, s).ok_or(err("size does not fit in 64 bits"))?;
        out.push((addr, size));
    }
    Ok(out)
}

/// Whether dtc would print `v` as strings: NUL-terminated, printable, no empty strings.
fn looks_like_strings(v: &[u8]) -> bool {
    if v.is_empty() || v[v.len() - 1] != 0 || v[0] == 0 {
        return false;
    }
    if v.windows(2).any(|w| w[0] == 0 && w[1] == 0) {
        return false;
    }
    v.iter().all(|&b| b == 0 || (0x20..0x7f).contains(&b))
}

fn dump_value(out: &mut String, v: &[u8]) {
    if looks_like_strings(v) {
        out.push('"');
        for &b in &v[..v.len() - 1] {
            match b {
                0 => out.push_str("\\0"),
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b => out.push(char::from(b)),
            }
        }
        out.push('"');
    } else if let Some(cells) = bytes_to_cells(v) {
        out.push('<');
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{c:#04x}");
        }
        out.push('>');
    } else {
        out.push('[');
        for (i, b) in v.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{b:02x}");
        }
        out.push(']');
    }
}

fn dump_node(out: &mut String, n: &Node, depth: usize) {
    let indent = |out: &mut String, d: usize| {
        for _ in 0..d {
            out.push('\t');
        }
    };
    indent(out, depth);
    if depth == 0 {
        out.push_str("/ {\n");
    } else {
        let _ = writeln!(out, "{} {{", n.name);
    }
    for p in &n.props {
        indent(out, depth + 1);
        out.push_str(&p.name);
        if !p.value.is_empty() {
            out.push_str(" = ");
            dump_value(out, &p.value);
        }
        out.push_str(";\n");
    }
    for c in &n.children {
        out.push('\n');
        dump_node(out, c, depth + 1);
    }
    indent(out, depth);
    out.push_str("};\n");
}

/// The tree as `.dts` text in the style of `dtc -O dts` (cells as `<0x..>`, strings as
/// `"a\0b"`, bytes as `[..]`), for golden tests and debugging.
pub fn dump(tree: &Tree) -> String {
    let mut out = String::from("/dts-v1/;\n\n");
    for (a, s) in &tree.mem_reserve {
        let _ = writeln!(out, "/memreserve/ {a:#018x} {s:#018x};");
    }
    dump_node(&mut out, &tree.root, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn reg_roundtrip() {
        let regs = [(0x4000_0000u64, 0x8000_0000u64), (0x80_0000_0000, 0x1000)];
        let v = encode_reg(2, 2, &regs);
        assert_eq!(v.len(), 32);
        assert_eq!(decode_reg(2, 2, &v).unwrap(), regs);
        let v = encode_reg(1, 1, &[(0x1000, 0x20)]);
        assert_eq!(v, vec![0, 0, 0x10, 0, 0, 0, 0, 0x20]);
        assert_eq!(decode_reg(1, 0, &[0, 0, 0, 3]).unwrap(), [(3, 0)]);
        assert!(decode_reg(2, 2, &[0; 12]).is_err());
        assert!(decode_reg(2, 1, &[1; 6]).is_err());
        assert!(decode_reg(3, 2, &[0xff; 20]).is_err());
        assert_eq!(
            decode_reg(3, 1, &encode_reg(3, 1, &[(5, 6)])).unwrap(),
            [(5, 6)]
        );
    }

    #[test]
    fn props_and_children() {
        let mut n = Node::new("chosen");
        n.set_prop_str("bootargs", "console=hvc0");
        n.set_prop_u32("#address-cells", 2);
        n.set_prop_strs("compatible", &["a,b", "c"]);
        n.set_prop_empty("ranges");
        n.set_prop_str("bootargs", "x");
        assert_eq!(n.props[0].name, "bootargs");
        assert_eq!(n.prop_str("bootargs"), Some("x"));
        assert_eq!(n.prop_u32("#address-cells"), Some(2));
        assert!(n.compatible_with("c"));
        assert!(!n.compatible_with("a"));
        assert_eq!(n.prop_strs("compatible").collect::<Vec<_>>(), ["a,b", "c"]);
        assert_eq!(n.prop("ranges"), Some(&[][..]));
        assert!(n.remove_prop("ranges"));
        assert!(!n.remove_prop("ranges"));
        n.add_child(Node::new("module@50000000"));
        n.add_child(Node::new("module@52000000"));
        assert!(n.child("module").is_none(), "ambiguous");
        assert!(n.child("module@52000000").is_some());
        n.remove_child("module@50000000").unwrap();
        assert!(n.child("module").is_some(), "now unique");
        n.retain_children(|_| false);
        assert!(n.children.is_empty());
    }

    #[test]
    fn build_serialize_parse() {
        let mut t = Tree::new();
        t.root.set_prop_u32("#address-cells", 2);
        t.mem_reserve.push((0x1000, 0x1000));
        t.boot_cpuid_phys = 3;
        let c = t.root.add_child(Node::new("cpus"));
        c.add_child(Node::new("cpu@0")).set_prop_u32("phandle", 7);
        let dtb = t.to_dtb().unwrap();
        let back = Tree::from_dtb(&dtb).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.node("/cpus/cpu").unwrap().name, "cpu@0");
        assert_eq!(back.find_by_phandle(7).unwrap().name, "cpu@0");
        assert_eq!(back.node("/").unwrap().name, "");
        assert!(back.node("cpus").is_none());
        assert_eq!(
            back.path_of(&back.phandle_index(7).unwrap()).unwrap(),
            "/cpus/cpu@0"
        );
    }

    #[test]
    fn malformed_blobs_are_errors() {
        let mut t = Tree::new();
        t.root.add_child(Node::new("a")).set_prop_str("p", "v");
        let dtb = t.to_dtb().unwrap();
        // Every truncation and every single-byte corruption must be an Err or Ok, never a panic.
        for len in 0..dtb.len() {
            let _ = Tree::from_dtb(&dtb[..len]);
        }
        for i in 0..dtb.len() {
            for x in [0x00u8, 0x01, 0x03, 0x09, 0x7f, 0xff] {
                let mut d = dtb.clone();
                d[i] = x;
                let _ = Tree::from_dtb(&d);
            }
        }
        assert!(Tree::from_dtb(&[0; 8]).is_err());
    }
}
