//! Watches (`tools/xenstored/watch.c`): registration with a token and an optional depth,
//! matching a changed path against a watch, and the rule for who may hear of a change.

use alloc::string::String;
use alloc::vec::Vec;

use crate::store::{parent_of, perm_for, Caller, Change, Store, XS_PERM_READ};

/// How a change matches watches (`enum watch_match`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// Only watches on exactly this path (descendants removed by RM).
    Exact,
    /// Watches on this path or any ancestor (within their depth).
    Subtree,
    /// Special events with a `/<domid>` suffix: exact, or depth-limited ancestors.
    Depth,
    /// Special events without suffix: exact, watches without depth only.
    NoDepth,
}

/// One watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// Canonical watched path (absolute or `@special`).
    pub path: String,
    /// The client's token.
    pub token: String,
    /// Bytes to strip from event paths (relative registrations): `len("/local/domain/<n>/")`.
    pub prefix_len: usize,
    /// Levels below `path` that match (`None`: unlimited).
    pub depth: Option<u32>,
}

impl Watch {
    /// The path reported for a matching change.
    pub fn event_path<'a>(&self, name: &'a str) -> &'a str {
        name.get(self.prefix_len..).unwrap_or(name)
    }

    /// Does a change of `name` with rule `m` fire this watch?
    pub fn matches(&self, name: &str, m: Match) -> bool {
        match m {
            Match::Exact => name == self.path,
            Match::Subtree => is_child(name, &self.path, self.depth),
            Match::Depth => {
                name == self.path
                    || (self.depth.is_some_and(|d| d > 0) && is_child(name, &self.path, self.depth))
            }
            Match::NoDepth => name == self.path && self.depth.is_none(),
        }
    }
}

/// `is_child`: `child` equals `parent` or lies below it, at most `depth` levels down.
pub fn is_child(child: &str, parent: &str, depth: Option<u32>) -> bool {
    let Some(rest) = child.strip_prefix(parent) else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let below = if parent == "/" {
        rest
    } else if let Some(r) = rest.strip_prefix('/') {
        r
    } else {
        return false;
    };
    match depth {
        None => true,
        Some(d) => {
            let levels = below.split('/').count() as u64;
            levels <= u64::from(d)
        }
    }
}

/// `watch_permitted`: a watcher hears of a change if it may read the node (before or after
/// the change) or the node's parent.
pub fn watch_permitted(c: &Caller, store: &Store, change: &Change) -> bool {
    if let Some(old) = &change.old_perms {
        if perm_for(c, old) & XS_PERM_READ != 0 {
            return true;
        }
    }
    let perms: Vec<_> = match &change.perms {
        Some(p) => p.clone(),
        None => match store.get(&change.path) {
            Some(n) => n.perms.clone(),
            None => return false,
        },
    };
    if perm_for(c, &perms) & XS_PERM_READ != 0 {
        return true;
    }
    let parent = match &change.parent_perms {
        Some(p) => p.clone(),
        None => match store.get(parent_of(&change.path)) {
            Some(n) => n.perms.clone(),
            None => return false,
        },
    };
    perm_for(c, &parent) & XS_PERM_READ != 0
}
