//! The tree: nodes with a value, an ordered list of children, permissions and a generation
//! count; path rules; the permission check; per-domain node accounting; and the tree
//! operations READ, WRITE, MKDIR, RM, DIRECTORY(_PART), GET_PERMS and SET_PERMS as Xen's C
//! `tools/xenstored/core.c` performs them (`canonicalize`, `perm_for_conn`, `get_node_chk_perm`,
//! `errno_from_parents`, `construct_node`, `rm_node`, `do_set_perms`).
//!
//! Every operation runs through an [`Ctx`], which either touches the global [`Store`]
//! directly or goes through a [`Transaction`] (reads record generation counts, writes go
//! into the transaction's private copies), so one implementation serves both.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use crate::transaction::Transaction;
use crate::watch::Match;
use crate::wire::{XsError, XENSTORE_ABS_PATH_MAX, XENSTORE_PAYLOAD_MAX, XENSTORE_REL_PATH_MAX};

/// A domain id (`domid_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DomId(pub u16);

/// `DOMID_FIRST_RESERVED` (xen.h).
pub const DOMID_FIRST_RESERVED: u16 = 0x7FF0;
/// `DOMID_SELF` (xen.h).
pub const DOMID_SELF: u16 = 0x7FF0;
/// `DOMID_INVALID` (xen.h).
pub const DOMID_INVALID: u16 = 0x7FF4;
/// `DOMID_ANY` (xen.h): in a permission entry, matches every domain.
pub const DOMID_ANY: u16 = 0x7FF5;

/// `XS_PERM_READ` (xenstore_lib.h).
pub const XS_PERM_READ: u8 = 1;
/// `XS_PERM_WRITE`.
pub const XS_PERM_WRITE: u8 = 2;
/// `XS_PERM_OWNER` (internal: the caller owns the node or is privileged).
pub const XS_PERM_OWNER: u8 = 4;

/// The access one permission entry grants: `n`, `r`, `w` or `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `n`: none.
    None,
    /// `r`: read.
    Read,
    /// `w`: write.
    Write,
    /// `b`: both.
    Both,
}

impl Access {
    /// `XS_PERM_*` bits.
    pub const fn bits(self) -> u8 {
        match self {
            Access::None => 0,
            Access::Read => XS_PERM_READ,
            Access::Write => XS_PERM_WRITE,
            Access::Both => XS_PERM_READ | XS_PERM_WRITE,
        }
    }
    /// The wire letter.
    pub const fn letter(self) -> char {
        match self {
            Access::None => 'n',
            Access::Read => 'r',
            Access::Write => 'w',
            Access::Both => 'b',
        }
    }
}

/// One permission entry. The first entry of a node names its owner and the access of every
/// domain without an entry of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    /// The domain (or [`DOMID_ANY`]).
    pub dom: DomId,
    /// Its access.
    pub access: Access,
}

impl Perm {
    /// An entry.
    pub const fn new(dom: u16, access: Access) -> Perm {
        Perm {
            dom: DomId(dom),
            access,
        }
    }

    /// Parses `<letter><domid>` (Xen's `xenstore_strings_to_perms`; the domid in decimal,
    /// at most 65535).
    pub fn parse(s: &[u8]) -> Result<Perm, XsError> {
        let (&l, num) = s.split_first().ok_or(XsError::EINVAL)?;
        let access = match l {
            b'n' => Access::None,
            b'r' => Access::Read,
            b'w' => Access::Write,
            b'b' => Access::Both,
            _ => return Err(XsError::EINVAL),
        };
        let dom = parse_decimal(num).ok_or(XsError::EINVAL)?;
        let dom = u16::try_from(dom).map_err(|_| XsError::EINVAL)?;
        Ok(Perm::new(dom, access))
    }
}

/// Parses a non-empty all-digit decimal number (no sign), saturating far beyond `u32`.
pub fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |a, &d| a * 10 + u64::from(d - b'0')))
}

/// Parses a domid as Xen's `parse_domid`: decimal, at most 65535.
pub fn parse_domid(s: &[u8]) -> Result<DomId, XsError> {
    parse_decimal(s)
        .and_then(|v| u16::try_from(v).ok())
        .map(DomId)
        .ok_or(XsError::EINVAL)
}

/// Who issues a request, for permission and quota decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The connection's domain (the privileged domain for sockets).
    pub dom: DomId,
    /// Privileged connections (dom0's socket and ring) bypass permissions and quotas.
    pub privileged: bool,
    /// `SET_TARGET`: this domain acts for `target` (a device model's stub domain).
    pub target: Option<DomId>,
}

impl Caller {
    /// The privileged caller with domain id `dom`.
    pub const fn privileged(dom: DomId) -> Caller {
        Caller {
            dom,
            privileged: true,
            target: None,
        }
    }
    /// An unprivileged domain.
    pub const fn domain(dom: DomId) -> Caller {
        Caller {
            dom,
            privileged: false,
            target: None,
        }
    }
}

fn perm_matches(c: &Caller, p: &Perm) -> bool {
    p.dom == c.dom || c.target == Some(p.dom) || p.dom.0 == DOMID_ANY
}

/// `perm_for_conn`: the `XS_PERM_*` bits the caller has on a node with `perms`.
pub fn perm_for(c: &Caller, perms: &[Perm]) -> u8 {
    let all = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
    let Some(first) = perms.first() else {
        return if c.privileged { all } else { 0 };
    };
    if c.privileged || perm_matches(c, first) {
        return all;
    }
    for p in &perms[1..] {
        if perm_matches(c, p) {
            return p.access.bits();
        }
    }
    first.access.bits()
}

/// Permissions as GET_PERMS returns them: `<letter><domid>\0` each.
pub fn perms_to_strings(perms: &[Perm]) -> Vec<u8> {
    let mut s = String::new();
    for p in perms {
        let _ = write!(s, "{}{}\0", p.access.letter(), p.dom.0);
    }
    s.into_bytes()
}

/// One node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The value (may hold any bytes).
    pub value: Vec<u8>,
    /// Leaf names of the children, in creation order.
    pub children: Vec<String>,
    /// Permissions, never empty.
    pub perms: Vec<Perm>,
    /// Generation count of the last change.
    pub generation: u64,
}

impl Node {
    /// A node without value or children.
    pub fn new(perms: Vec<Perm>) -> Node {
        Node {
            value: Vec::new(),
            children: Vec::new(),
            perms,
            generation: 0,
        }
    }

    /// The owner (first permission entry).
    pub fn owner(&self) -> DomId {
        self.perms.first().map_or(DomId(0), |p| p.dom)
    }

    /// The accounted size (`calc_node_acc_size`: header, 8 bytes per permission, value,
    /// children list), checked against the `node-size` quota.
    pub fn acc_size(&self) -> usize {
        16 + 8 * self.perms.len()
            + self.value.len()
            + self.children.iter().map(|c| c.len() + 1).sum::<usize>()
    }

    /// The children as DIRECTORY sends them.
    pub fn children_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        for c in &self.children {
            v.extend_from_slice(c.as_bytes());
            v.push(0);
        }
        v
    }
}

/// The global tree.
#[derive(Clone, Debug, Default)]
pub struct Store {
    nodes: BTreeMap<String, Node>,
    generation: u64,
    owned: BTreeMap<DomId, u32>,
}

impl Store {
    /// An empty store (no root yet).
    pub fn new() -> Store {
        Store::default()
    }

    /// The node at a canonical path.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// The global generation count.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// A fresh generation number (`++generation`).
    pub(crate) fn next_generation(&mut self) -> u64 {
        self.generation = self.generation.wrapping_add(1);
        self.generation
    }

    /// Number of nodes owned by `dom`.
    pub fn nodes_owned(&self, dom: DomId) -> u32 {
        self.owned.get(&dom).copied().unwrap_or(0)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node, by path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(k, v)| (k.as_str(), v))
    }

    fn count(&mut self, dom: DomId, add: bool) {
        let e = self.owned.entry(dom).or_insert(0);
        *e = if add {
            e.saturating_add(1)
        } else {
            e.saturating_sub(1)
        };
        if *e == 0 {
            self.owned.remove(&dom);
        }
    }

    /// Writes a node with a new generation, keeping the owner counts.
    pub(crate) fn put(&mut self, path: &str, mut node: Node) {
        node.generation = self.next_generation();
        self.put_raw(path, node);
    }

    /// Writes a node keeping its generation (initial tree, orphan clean-up).
    pub(crate) fn put_raw(&mut self, path: &str, node: Node) {
        let new_owner = node.owner();
        if let Some(old) = self.nodes.insert(String::from(path), node) {
            self.count(old.owner(), false);
        }
        self.count(new_owner, true);
    }

    /// Deletes a node (not its children).
    pub(crate) fn del(&mut self, path: &str) {
        if let Some(old) = self.nodes.remove(path) {
            self.count(old.owner(), false);
        }
    }

    /// Checks the tree's invariants: the root exists, every node but the root and the `@`
    /// special nodes is listed once by an existing parent, every listed child exists, no
    /// permission list is empty, and the owner counts match. For tests.
    pub fn check(&self) -> Result<(), String> {
        if !self.nodes.contains_key("/") {
            return Err(String::from("no root"));
        }
        let mut owned: BTreeMap<DomId, u32> = BTreeMap::new();
        for (path, node) in &self.nodes {
            if node.perms.is_empty() {
                return Err(format!("{path}: no permissions"));
            }
            *owned.entry(node.owner()).or_insert(0) += 1;
            let mut seen = Vec::new();
            for c in &node.children {
                if seen.contains(&c) {
                    return Err(format!("{path}: child {c} twice"));
                }
                seen.push(c);
                let cp = child_path(path, c);
                if !self.nodes.contains_key(&cp) {
                    return Err(format!("{path}: child {c} missing"));
                }
            }
            if path == "/" || path.starts_with('@') {
                continue;
            }
            let parent = parent_of(path);
            match self.nodes.get(parent) {
                Some(p) if p.children.iter().any(|c| c == basename(path)) => {}
                _ => return Err(format!("{path}: not listed by {parent}")),
            }
        }
        if owned != self.owned {
            return Err(format!("owner counts {:?} != {:?}", self.owned, owned));
        }
        Ok(())
    }
}

/// The parent path (`get_parent`): "/" for "/a" and for "@special".
pub fn parent_of(path: &str) -> &str {
    match path.get(1..).and_then(|p| p.rfind('/')) {
        Some(i) => &path[..i + 1],
        None => "/",
    }
}

/// The last component.
pub fn basename(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// `<parent>/<name>`.
pub fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// `/local/domain/<domid>`.
pub fn domain_path(dom: DomId) -> String {
    format!("/local/domain/{}", dom.0)
}

fn valid_chars(p: &[u8]) -> bool {
    p.iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'/' | b'_' | b'@'))
}

/// Length of a `/local/domain/<n>/` prefix (`sscanf("/local/domain/%5u/%n")`), or 0.
fn local_prefix_len(name: &str) -> usize {
    let Some(rest) = name.strip_prefix("/local/domain/") else {
        return 0;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 5 || rest.as_bytes().get(digits) != Some(&b'/') {
        return 0;
    }
    "/local/domain/".len() + digits + 1
}

/// `canonicalize`: validates a path and makes it absolute (relative paths are below the
/// caller's `/local/domain/<domid>`). `path_max` is the caller's `path-max` quota (0: none),
/// applied to the part below `/local/domain/<n>/` for unprivileged callers.
pub fn canonicalize(
    c: &Caller,
    path: &[u8],
    allow_special: bool,
    path_max: u32,
) -> Result<String, XsError> {
    if !valid_chars(path) || (path.first() == Some(&b'@') && !allow_special) {
        return Err(XsError::EINVAL);
    }
    if path.len() > XENSTORE_ABS_PATH_MAX {
        return Err(XsError::EINVAL);
    }
    // valid_chars() admits ASCII only.
    let p = core::str::from_utf8(path).map_err(|_| XsError::EINVAL)?;
    let name = if p.starts_with('/') || p.starts_with('@') {
        String::from(p)
    } else {
        format!("{}/{}", domain_path(c.dom), p)
    };
    if (name.ends_with('/') && name != "/") || name.contains("//") {
        return Err(XsError::EINVAL);
    }
    if name.len() > XENSTORE_ABS_PATH_MAX {
        return Err(XsError::EINVAL);
    }
    let rel = name.len() - local_prefix_len(&name);
    if !c.privileged && exceeds(rel as u64, path_max) {
        return Err(XsError::EINVAL);
    }
    Ok(name)
}

/// `XENSTORE_REL_PATH_MAX` as the default `path-max` quota.
pub const DEFAULT_PATH_MAX: u32 = XENSTORE_REL_PATH_MAX as u32;

/// A quota check: `val` exceeds `quota` unless the quota is 0 (disabled).
pub fn exceeds(val: u64, quota: u32) -> bool {
    quota != 0 && val > u64::from(quota)
}

/// Per-domain limits for unprivileged domains (`quotas[]` in `domain.c`, same defaults). A
/// value of 0 disables the check. A limit is the largest value allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// `nodes`: nodes a domain may own.
    pub nodes: u32,
    /// `watches`: watches per connection.
    pub watches: u32,
    /// `transactions`: open transactions per connection.
    pub transactions: u32,
    /// `transaction-nodes`: nodes one transaction may access.
    pub transaction_nodes: u32,
    /// `node-permissions`: entries per SET_PERMS.
    pub permissions: u32,
    /// `path-max`: path length below `/local/domain/<n>/`.
    pub path_max: u32,
    /// `node-size`: [`Node::acc_size`].
    pub node_size: u32,
}

impl Default for Quotas {
    fn default() -> Quotas {
        Quotas {
            nodes: 1000,
            watches: 128,
            transactions: 10,
            transaction_nodes: 1024,
            permissions: 5,
            path_max: DEFAULT_PATH_MAX,
            node_size: 2048,
        }
    }
}

/// A change for the watch machinery: the path, how watches match it, and the permissions
/// needed to decide who may see it when the node is gone by the time events go out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The changed path (absolute or `@special[/domid]`).
    pub path: String,
    /// Match rule.
    pub matching: Match,
    /// The node's permissions at the change (deleted nodes), else looked up.
    pub perms: Option<Vec<Perm>>,
    /// The parent's permissions at the change (deleted subtrees), else looked up.
    pub parent_perms: Option<Vec<Perm>>,
    /// Permissions before a SET_PERMS or a transaction (a watcher losing access still hears).
    pub old_perms: Option<Vec<Perm>>,
}

/// The context one request runs in.
pub struct Ctx<'a> {
    /// The global tree.
    pub store: &'a mut Store,
    /// The transaction, if the request carries a tx_id.
    pub tx: Option<&'a mut Transaction>,
    /// The requester.
    pub caller: Caller,
    /// Quotas for unprivileged callers.
    pub quotas: &'a Quotas,
    /// Changes for watches (outside transactions; inside, they are queued in it).
    pub changes: Vec<Change>,
}

impl<'a> Ctx<'a> {
    fn unpriv(&self) -> bool {
        !self.caller.privileged
    }

    /// `read_node`: the node as this context sees it (recording the access in a transaction).
    pub fn read_node(&mut self, path: &str) -> Result<Option<Node>, XsError> {
        match self.tx.as_deref_mut() {
            None => Ok(self.store.get(path).cloned()),
            Some(tx) => {
                let limit = if self.caller.privileged {
                    0
                } else {
                    self.quotas.transaction_nodes
                };
                tx.read(self.store, path, limit)
            }
        }
    }

    /// Writes a node, checking the node-size quota.
    fn write_node(&mut self, path: &str, node: Node) -> Result<(), XsError> {
        if self.unpriv() && exceeds(node.acc_size() as u64, self.quotas.node_size) {
            return Err(XsError::ENOSPC);
        }
        match self.tx.as_deref_mut() {
            None => {
                self.store.put(path, node);
                Ok(())
            }
            Some(tx) => tx.write(self.store, path, Some(node)),
        }
    }

    fn delete_node(&mut self, path: &str) -> Result<(), XsError> {
        match self.tx.as_deref_mut() {
            None => {
                self.store.del(path);
                Ok(())
            }
            Some(tx) => tx.write(self.store, path, None),
        }
    }

    /// Nodes owned by `dom` as this context sees them.
    fn owned(&self, dom: DomId) -> i64 {
        let base = i64::from(self.store.nodes_owned(dom));
        base + self.tx.as_deref().map_or(0, |t| t.node_delta(dom))
    }

    fn fire(&mut self, change: Change) {
        match self.tx.as_deref_mut() {
            Some(tx) => tx.queue_watch(&change.path, change.matching),
            None => self.changes.push(change),
        }
    }

    /// `ask_parents`: the caller's bits on the nearest existing ancestor.
    fn ask_parents(&mut self, name: &str) -> Result<u8, XsError> {
        let mut cur = name;
        loop {
            if cur == "/" {
                return Ok(0);
            }
            cur = parent_of(cur);
            if let Some(n) = self.read_node(cur)? {
                return Ok(perm_for(&self.caller, &n.perms));
            }
        }
    }

    /// `errno_from_parents`: hide a node's existence unless an ancestor grants `perm`.
    fn errno_from_parents(&mut self, name: &str, err: XsError, perm: u8) -> XsError {
        match self.ask_parents(name) {
            Err(e) => e,
            Ok(pp) if pp & perm != 0 => err,
            Ok(_) => XsError::EACCES,
        }
    }

    /// `get_node` + `get_node_chk_perm`: the node if the caller holds every bit of `perm`.
    pub fn get_node(&mut self, name: &str, perm: u8) -> Result<Node, XsError> {
        let err = match self.read_node(name)? {
            Some(n) if perm_for(&self.caller, &n.perms) & perm == perm => return Ok(n),
            Some(_) => XsError::EACCES,
            None => XsError::ENOENT,
        };
        Err(self.errno_from_parents(name, err, perm))
    }

    fn canon(&self, path: &[u8], special: bool) -> Result<String, XsError> {
        canonicalize(&self.caller, path, special, self.quotas.path_max)
    }

    /// `construct_node` + `create_node`: creates `name` and its missing ancestors (each
    /// inheriting its parent's permissions, owned by an unprivileged creator).
    fn create_node(&mut self, name: &str, value: Vec<u8>) -> Result<(), XsError> {
        let mut missing: Vec<String> = Vec::new();
        let mut cur = String::from(name);
        let (parent_path, mut parent) = loop {
            missing.push(cur.clone());
            if cur == "/" {
                return Err(XsError::ENOENT);
            }
            let p = String::from(parent_of(&cur));
            if let Some(n) = self.read_node(&p)? {
                break (p, n);
            }
            cur = p;
        };
        let new = missing.len() as i64;
        if self.unpriv()
            && exceeds(
                (self.owned(self.caller.dom) + new) as u64,
                self.quotas.nodes,
            )
        {
            return Err(XsError::ENOSPC);
        }
        // Build every node first so quota failures leave nothing behind.
        let mut writes: Vec<(String, Node)> = Vec::with_capacity(missing.len() + 1);
        let mut perms = parent.perms.clone();
        if self.unpriv() {
            if let Some(first) = perms.first_mut() {
                first.dom = self.caller.dom;
            }
        }
        parent
            .children
            .push(String::from(basename(&missing[missing.len() - 1])));
        writes.push((parent_path, parent));
        let mut value = Some(value);
        for i in (0..missing.len()).rev() {
            let mut n = Node::new(perms.clone());
            if i == 0 {
                n.value = value.take().unwrap_or_default();
            } else {
                n.children.push(String::from(basename(&missing[i - 1])));
            }
            writes.push((missing[i].clone(), n));
        }
        if self.unpriv() {
            for (_, n) in &writes {
                if exceeds(n.acc_size() as u64, self.quotas.node_size) {
                    return Err(XsError::ENOSPC);
                }
            }
        }
        // Leaf first, the existing parent last, as Xen writes them.
        for (p, n) in writes.into_iter().rev() {
            if let Err(e) = self.write_node(&p, n) {
                if let Some(tx) = self.tx.as_deref_mut() {
                    tx.fail();
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// READ.
    pub fn read(&mut self, path: &[u8]) -> Result<Vec<u8>, XsError> {
        let name = self.canon(path, false)?;
        Ok(self.get_node(&name, XS_PERM_READ)?.value)
    }

    /// WRITE.
    pub fn write(&mut self, path: &[u8], value: &[u8]) -> Result<(), XsError> {
        let name = self.canon(path, false)?;
        match self.get_node(&name, XS_PERM_WRITE) {
            Ok(mut n) => {
                n.value = value.to_vec();
                self.write_node(&name, n)?;
            }
            Err(XsError::ENOENT) => self.create_node(&name, value.to_vec())?,
            Err(e) => return Err(e),
        }
        self.fire(Change::simple(name, Match::Subtree));
        Ok(())
    }

    /// MKDIR.
    pub fn mkdir(&mut self, path: &[u8]) -> Result<(), XsError> {
        let name = self.canon(path, false)?;
        match self.get_node(&name, XS_PERM_WRITE) {
            Ok(_) => Ok(()),
            Err(XsError::ENOENT) => {
                self.create_node(&name, Vec::new())?;
                self.fire(Change::simple(name, Match::Subtree));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// RM.
    pub fn rm(&mut self, path: &[u8]) -> Result<(), XsError> {
        let name = self.canon(path, false)?;
        match self.get_node(&name, XS_PERM_WRITE) {
            Ok(_) => {}
            Err(XsError::ENOENT) => {
                return match self.read_node(parent_of(&name))? {
                    Some(_) => Ok(()),
                    None => Err(XsError::ENOENT),
                };
            }
            Err(e) => return Err(e),
        }
        if name == "/" {
            return Err(XsError::EINVAL);
        }
        self.rm_node(&name)
    }

    /// `rm_node`: deletes `name` and its subtree (children first), firing an exact event
    /// per deleted descendant and a subtree event for `name`, then unlinks it from its parent.
    pub fn rm_node(&mut self, name: &str) -> Result<(), XsError> {
        let parent_path = String::from(parent_of(name));
        let Some(mut parent) = self.read_node(&parent_path)? else {
            return Err(XsError::EINVAL);
        };
        // Depth-first walk: (path, node, parent perms), deleted in post-order.
        let mut order: Vec<(String, Node, Vec<Perm>)> = Vec::new();
        let Some(root) = self.read_node(name)? else {
            return Ok(());
        };
        let mut stack = Vec::from([(String::from(name), root, parent.perms.clone(), false)]);
        while let Some((p, n, pp, expanded)) = stack.pop() {
            if expanded {
                order.push((p, n, pp));
                continue;
            }
            let kids: Vec<String> = n.children.iter().rev().cloned().collect();
            let perms = n.perms.clone();
            stack.push((p.clone(), n, pp, true));
            for k in kids {
                let cp = child_path(&p, &k);
                if let Some(cn) = self.read_node(&cp)? {
                    stack.push((cp, cn, perms.clone(), false));
                }
            }
        }
        for (p, n, pp) in order {
            self.delete_node(&p)?;
            let matching = if p == name {
                Match::Subtree
            } else {
                Match::Exact
            };
            self.fire(Change {
                path: p,
                matching,
                perms: Some(n.perms),
                parent_perms: Some(pp),
                old_perms: None,
            });
        }
        let base = basename(name);
        parent.children.retain(|c| c != base);
        self.write_node_nocheck(&parent_path, parent)
    }

    fn write_node_nocheck(&mut self, path: &str, node: Node) -> Result<(), XsError> {
        match self.tx.as_deref_mut() {
            None => {
                self.store.put(path, node);
                Ok(())
            }
            Some(tx) => tx.write(self.store, path, Some(node)),
        }
    }

    /// DIRECTORY.
    pub fn directory(&mut self, path: &[u8]) -> Result<Vec<u8>, XsError> {
        let name = self.canon(path, false)?;
        Ok(self.get_node(&name, XS_PERM_READ)?.children_bytes())
    }

    /// DIRECTORY_PART: `<gencnt>\0` then the children from byte `offset` of the list, as many
    /// whole names as fit; a final extra `\0` marks the end of the list.
    pub fn directory_part(&mut self, path: &[u8], offset: &[u8]) -> Result<Vec<u8>, XsError> {
        let name = self.canon(path, false)?;
        let node = self.get_node(&name, XS_PERM_READ)?;
        let off = usize::try_from(parse_atoi(offset).max(0)).unwrap_or(usize::MAX);
        let list = node.children_bytes();
        let mut out = format!("{}", node.generation).into_bytes();
        out.push(0);
        if off >= list.len() {
            out.push(0);
            return Ok(out);
        }
        let maxlen = XENSTORE_PAYLOAD_MAX - out.len() - 1;
        let rest = &list[off..];
        let mut len = 0usize;
        let mut complete = false;
        // Whole names only (the offset may point inside one, as in Xen).
        while len < rest.len() {
            let l = rest[len..]
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(rest.len() - len);
            if len + l >= maxlen {
                break;
            }
            len += l + 1;
            if len >= rest.len() {
                complete = true;
                break;
            }
        }
        out.extend_from_slice(&rest[..len.min(rest.len())]);
        if complete {
            out.push(0);
        }
        Ok(out)
    }

    /// GET_PERMS.
    pub fn get_perms(&mut self, path: &[u8]) -> Result<Vec<u8>, XsError> {
        let name = self.canon(path, true)?;
        Ok(perms_to_strings(&self.get_node(&name, XS_PERM_READ)?.perms))
    }

    /// SET_PERMS with the permission strings.
    pub fn set_perms(&mut self, path: &[u8], perms: &[&[u8]]) -> Result<(), XsError> {
        if perms.is_empty() {
            return Err(XsError::EINVAL);
        }
        if self.unpriv() && exceeds(perms.len() as u64, self.quotas.permissions) {
            return Err(XsError::ENOSPC);
        }
        let perms = perms
            .iter()
            .map(|s| Perm::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        let name = self.canon(path, true)?;
        let mut node = self.get_node(&name, XS_PERM_WRITE | XS_PERM_OWNER)?;
        if self.unpriv() && perms[0].dom != node.owner() {
            return Err(XsError::EPERM);
        }
        let old = core::mem::replace(&mut node.perms, perms);
        self.write_node(&name, node)?;
        self.fire(Change {
            path: name,
            matching: Match::Subtree,
            perms: None,
            parent_perms: None,
            old_perms: Some(old),
        });
        Ok(())
    }
}

impl Change {
    /// A change whose permissions are looked up when events go out.
    pub fn simple(path: String, matching: Match) -> Change {
        Change {
            path,
            matching,
            perms: None,
            parent_perms: None,
            old_perms: None,
        }
    }
}

/// C's `atoi`: optional blanks and sign, then digits; 0 if none. Saturates.
pub fn parse_atoi(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    while let Some(d) = s.get(i).filter(|d| d.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(i64::from(d - b'0'));
        i += 1;
    }
    if neg {
        -v
    } else {
        v
    }
}
