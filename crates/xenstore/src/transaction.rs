//! Transactions (`tools/xenstored/transaction.c`): generation-count conflict detection.
//!
//! The first access to a node inside a transaction records the node's global generation
//! count (or its absence) and, for reads, keeps a private copy, so the transaction keeps
//! seeing that copy and its own writes. `TRANSACTION_END T` fails with `EAGAIN` if any node
//! the transaction first *read* has changed globally since (been written, created or
//! deleted); otherwise the transaction's modified nodes replace the global ones, each with a
//! new generation, and the queued watch events fire. Nodes first touched by a write are not
//! checked (the commit overwrites them), exactly as in Xen.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::store::{exceeds, Change, DomId, Node, Perm, Store};
use crate::watch::Match;
use crate::wire::XsError;

#[derive(Clone, Debug)]
struct Accessed {
    path: String,
    /// Global generation at first access; `None` if the node did not exist.
    generation: Option<u64>,
    check_gen: bool,
    modified: bool,
    /// The node as the transaction sees it (`None`: absent or deleted).
    node: Option<Node>,
    /// Permissions at first access, for watch delivery after commit.
    old_perms: Option<Vec<Perm>>,
    fire: Option<Match>,
}

/// One open transaction.
#[derive(Clone, Debug)]
pub struct Transaction {
    id: u32,
    /// Generation count when it started.
    start_generation: u64,
    accessed: Vec<Accessed>,
    index: BTreeMap<String, usize>,
    /// Change in owned-node counts per domain, applied at commit.
    delta: BTreeMap<DomId, i64>,
    failed: bool,
}

impl Transaction {
    /// A transaction with id `id` starting at the store's current generation.
    pub fn new(id: u32, store: &mut Store) -> Transaction {
        Transaction {
            id,
            start_generation: store.next_generation(),
            accessed: Vec::new(),
            index: BTreeMap::new(),
            delta: BTreeMap::new(),
            failed: false,
        }
    }

    /// The id clients put in `tx_id`.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The generation count at start.
    pub fn start_generation(&self) -> u64 {
        self.start_generation
    }

    /// Number of nodes accessed so far.
    pub fn accessed_nodes(&self) -> usize {
        self.accessed.len()
    }

    /// Marks the transaction as unable to commit (a failed partial update).
    pub fn fail(&mut self) {
        self.failed = true;
    }

    /// Owned-node count change for `dom` so far.
    pub fn node_delta(&self, dom: DomId) -> i64 {
        self.delta.get(&dom).copied().unwrap_or(0)
    }

    fn add(
        &mut self,
        store: &Store,
        path: &str,
        check_gen: bool,
        limit: u32,
    ) -> Result<usize, XsError> {
        if let Some(&i) = self.index.get(path) {
            return Ok(i);
        }
        if exceeds(self.accessed.len() as u64 + 1, limit) {
            self.failed = true;
            return Err(XsError::ENOSPC);
        }
        let global = store.get(path);
        self.accessed.push(Accessed {
            path: String::from(path),
            generation: global.map(|n| n.generation),
            check_gen,
            modified: false,
            node: global.cloned(),
            old_perms: global.map(|n| n.perms.clone()),
            fire: None,
        });
        let i = self.accessed.len() - 1;
        self.index.insert(String::from(path), i);
        Ok(i)
    }

    /// Reads a node through the transaction (`limit`: transaction-nodes quota, 0 = none).
    pub fn read(&mut self, store: &Store, path: &str, limit: u32) -> Result<Option<Node>, XsError> {
        let i = self.add(store, path, true, limit)?;
        Ok(self.accessed[i].node.clone())
    }

    /// Writes (`Some`) or deletes (`None`) a node inside the transaction.
    pub fn write(&mut self, store: &Store, path: &str, node: Option<Node>) -> Result<(), XsError> {
        let i = self.add(store, path, false, 0)?;
        let a = &mut self.accessed[i];
        let old_owner = a.node.as_ref().map(Node::owner);
        let new_owner = node.as_ref().map(Node::owner);
        a.node = node;
        a.modified = true;
        if old_owner != new_owner {
            if let Some(o) = old_owner {
                *self.delta.entry(o).or_insert(0) -= 1;
            }
            if let Some(n) = new_owner {
                *self.delta.entry(n).or_insert(0) += 1;
            }
        }
        Ok(())
    }

    /// `queue_watches`: remember to fire for `path` at commit (a subtree match wins).
    pub fn queue_watch(&mut self, path: &str, matching: Match) {
        let Some(&i) = self.index.get(path) else {
            self.failed = true;
            return;
        };
        let a = &mut self.accessed[i];
        a.fire = match (a.fire, matching) {
            (None, m) => Some(m),
            (Some(_), Match::Subtree) => Some(Match::Subtree),
            (f, _) => f,
        };
    }

    /// `TRANSACTION_END T`: checks quotas (`nodes_quota` for the unprivileged domains in
    /// `unprivileged`, 0 = none) and conflicts, then applies the changes; returns the watch
    /// changes to fire. On error nothing is applied.
    pub fn commit(
        self,
        store: &mut Store,
        nodes_quota: u32,
        unprivileged: impl Fn(DomId) -> bool,
    ) -> Result<Vec<Change>, XsError> {
        if self.failed {
            return Err(XsError::ENOMEM);
        }
        for (&dom, &d) in &self.delta {
            if d > 0 && unprivileged(dom) {
                let total = i64::from(store.nodes_owned(dom)) + d;
                if exceeds(total as u64, nodes_quota) {
                    return Err(XsError::ENOSPC);
                }
            }
        }
        for a in &self.accessed {
            if a.check_gen && store.get(&a.path).map(|n| n.generation) != a.generation {
                return Err(XsError::EAGAIN);
            }
        }
        let mut changes = Vec::new();
        for a in self.accessed {
            if a.modified {
                match a.node {
                    Some(n) => store.put(&a.path, n),
                    None => store.del(&a.path),
                }
            }
            if let Some(m) = a.fire {
                changes.push(Change {
                    path: a.path,
                    matching: m,
                    perms: None,
                    parent_perms: None,
                    old_perms: a.old_perms,
                });
            }
        }
        Ok(changes)
    }
}
