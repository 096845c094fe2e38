//! The daemon as a state machine: connections, the request dispatch table (`wire_funcs[]` in
//! `core.c`), domain introduction and release (`domain.c`), and watch event delivery.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::store::{
    canonicalize, domain_path, parse_atoi, parse_domid, Access, Caller, Change, Ctx, DomId, Node,
    Perm, Quotas, Store, DOMID_FIRST_RESERVED, DOMID_SELF,
};
use crate::transaction::Transaction;
use crate::watch::{watch_permitted, Match, Watch};
use crate::wire::*;

/// A connection handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u32);

/// What a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnKind {
    /// A Unix-socket client in the privileged domain (the toolstack).
    Socket,
    /// A domain's shared ring (dom0's own through `/dev/xen/xenbus_backend`).
    Domain(DomId),
}

/// Something for the driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Queue this message on the connection.
    Send(ConnId, Message),
    /// `INTRODUCE`: map `gfn` (or grant `GNTTAB_RESERVED_XENSTORE`) of `domid`, bind
    /// `evtchn`, and feed the ring to `conn`. Sent again on re-introduction (new evtchn).
    Introduce {
        /// The domain.
        domid: DomId,
        /// Its connection.
        conn: ConnId,
        /// Ring page frame as the toolstack gave it (signed decimal on the wire).
        gfn: i64,
        /// Unbound event channel in the domain.
        evtchn: u32,
    },
    /// The domain's connection is gone (`RELEASE` or destruction): unmap, unbind.
    Release {
        /// The domain.
        domid: DomId,
        /// Its former connection.
        conn: ConnId,
    },
}

/// Daemon configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The privileged domain (`priv_domid`, 0).
    pub priv_domid: DomId,
    /// Limits for unprivileged domains.
    pub quotas: Quotas,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            priv_domid: DomId(0),
            quotas: Quotas::default(),
        }
    }
}

#[derive(Clone, Debug)]
struct Connection {
    kind: ConnKind,
    dom: DomId,
    target: Option<DomId>,
    watches: Vec<Watch>,
    transactions: BTreeMap<u32, Transaction>,
    next_tx_id: u32,
}

#[derive(Clone, Debug)]
struct Domain {
    conn: ConnId,
    shutdown: bool,
}

/// The daemon's whole state.
#[derive(Clone, Debug)]
pub struct Xenstored {
    store: Store,
    config: Config,
    conns: BTreeMap<ConnId, Connection>,
    domains: BTreeMap<DomId, Domain>,
    next_conn: u32,
}

/// Splits the nul-terminated strings at the start of a payload (Xen's `get_strings`), at
/// most `max`; an unterminated tail is not a string.
pub fn split_strings(payload: &[u8], max: usize) -> Vec<&[u8]> {
    let mut v = Vec::new();
    let mut rest = payload;
    while v.len() < max {
        match rest.iter().position(|&b| b == 0) {
            Some(i) => {
                v.push(&rest[..i]);
                rest = &rest[i + 1..];
            }
            None => break,
        }
    }
    v
}

/// `onearg`: the payload must be exactly one string with its nul at the end.
fn onearg(payload: &[u8]) -> Result<&[u8], XsError> {
    match payload.iter().position(|&b| b == 0) {
        Some(i) if i + 1 == payload.len() => Ok(&payload[..i]),
        _ => Err(XsError::EINVAL),
    }
}

fn count_strings(payload: &[u8]) -> usize {
    payload.iter().filter(|&&b| b == 0).count()
}

const FLAG_NOTID: u8 = 1;
const FLAG_PRIV: u8 = 2;

/// Flags of a supported request type; `None` for unsupported ones (`ENOSYS`).
fn request_flags(ty: u32) -> Option<u8> {
    Some(match ty {
        XS_DIRECTORY | XS_READ | XS_GET_PERMS | XS_TRANSACTION_START | XS_TRANSACTION_END
        | XS_GET_DOMAIN_PATH | XS_WRITE | XS_MKDIR | XS_RM | XS_SET_PERMS | XS_RESET_WATCHES
        | XS_DIRECTORY_PART => 0,
        XS_WATCH | XS_UNWATCH => FLAG_NOTID,
        XS_INTRODUCE
        | XS_RELEASE
        | XS_IS_DOMAIN_INTRODUCED
        | XS_RESUME
        | XS_SET_TARGET
        | XS_GET_QUOTA
        | XS_SET_QUOTA => FLAG_PRIV,
        _ => return None,
    })
}

fn ok() -> Vec<u8> {
    Vec::from(&b"OK\0"[..])
}

fn cstring(s: &str) -> Vec<u8> {
    let mut v = Vec::from(s.as_bytes());
    v.push(0);
    v
}

impl Default for Xenstored {
    fn default() -> Xenstored {
        Xenstored::new(Config::default())
    }
}

impl Xenstored {
    /// A daemon with Xen's initial tree (`setup_structure`): `/`, `/tool`, `/tool/xenstored`,
    /// `@releaseDomain` and `@introduceDomain`, all `n<priv>`.
    pub fn new(config: Config) -> Xenstored {
        let mut store = Store::new();
        let p = config.priv_domid.0;
        let n = |children: &[&str]| Node {
            value: Vec::new(),
            children: children.iter().map(|c| String::from(*c)).collect(),
            perms: Vec::from([Perm::new(p, Access::None)]),
            generation: 0,
        };
        store.put("/", n(&["tool"]));
        store.put("/tool", n(&["xenstored"]));
        store.put("/tool/xenstored", n(&[]));
        store.put("@releaseDomain", n(&[]));
        store.put("@introduceDomain", n(&[]));
        Xenstored {
            store,
            config,
            conns: BTreeMap::new(),
            domains: BTreeMap::new(),
            next_conn: 1,
        }
    }

    /// What dom0's boot scripts add (`xen-init-dom0`: `/local/domain/0/{domid,name}`) plus
    /// `/vm` and `/local/domain`, as the privileged domain's writes. Fires watches.
    pub fn dom0_layout(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        let c = Caller::privileged(self.config.priv_domid);
        let writes: [(&str, Option<&str>); 4] = [
            ("/local/domain/0/domid", Some("0")),
            ("/local/domain/0/name", Some("Domain-0")),
            ("/vm", None),
            ("/local/domain", None),
        ];
        for (path, val) in writes {
            let quotas = self.config.quotas;
            let mut ctx = Ctx {
                store: &mut self.store,
                tx: None,
                caller: c,
                quotas: &quotas,
                changes: Vec::new(),
            };
            let _ = match val {
                Some(v) => ctx.write(path.as_bytes(), v.as_bytes()),
                None => ctx.mkdir(path.as_bytes()),
            };
            let changes = ctx.changes;
            self.fire_changes(&changes, &mut out);
        }
        out
    }

    /// The tree (read-only).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn new_conn(&mut self, kind: ConnKind, dom: DomId) -> ConnId {
        let mut id = ConnId(self.next_conn);
        while self.conns.contains_key(&id) || id.0 == 0 {
            id = ConnId(id.0.wrapping_add(1));
        }
        self.next_conn = id.0.wrapping_add(1);
        self.conns.insert(
            id,
            Connection {
                kind,
                dom,
                target: None,
                watches: Vec::new(),
                transactions: BTreeMap::new(),
                next_tx_id: 1,
            },
        );
        id
    }

    /// Makes a socket connection act as domain `dom` from now on (unprivileged unless `dom`
    /// is the privileged domain): the daemon's test hook, so dom0 can check what a domain
    /// may do. Its watches and transactions are dropped. False for an unknown or ring
    /// connection.
    pub fn set_conn_domain(&mut self, conn: ConnId, dom: DomId) -> bool {
        match self.conns.get_mut(&conn) {
            Some(c) if c.kind == ConnKind::Socket => {
                c.dom = dom;
                c.target = None;
                c.watches.clear();
                c.transactions.clear();
                true
            }
            _ => false,
        }
    }

    /// The domain a connection acts as.
    pub fn conn_domain(&self, conn: ConnId) -> Option<DomId> {
        self.conns.get(&conn).map(|c| c.dom)
    }

    /// A new socket client (privileged).
    pub fn add_socket(&mut self) -> ConnId {
        let d = self.config.priv_domid;
        self.new_conn(ConnKind::Socket, d)
    }

    /// The privileged domain's own ring (dom0's kernel via `xenbus_backend`), registered
    /// by the driver rather than by INTRODUCE. Returns the existing connection if any.
    pub fn add_priv_domain(&mut self) -> ConnId {
        let d = self.config.priv_domid;
        if let Some(dom) = self.domains.get(&d) {
            return dom.conn;
        }
        let c = self.new_conn(ConnKind::Domain(d), d);
        self.domains.insert(
            d,
            Domain {
                conn: c,
                shutdown: false,
            },
        );
        c
    }

    /// A socket client went away: its watches and transactions go with it. For a domain's
    /// connection use [`Xenstored::domain_gone`].
    pub fn close(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get(&conn) {
            if let ConnKind::Domain(d) = c.kind {
                self.domains.remove(&d);
            }
        }
        self.conns.remove(&conn);
    }

    /// The connection of an introduced domain.
    pub fn domain_conn(&self, domid: DomId) -> Option<ConnId> {
        self.domains.get(&domid).map(|d| d.conn)
    }

    /// The introduced domains.
    pub fn domains(&self) -> impl Iterator<Item = DomId> + '_ {
        self.domains.keys().copied()
    }

    /// Kind of a connection.
    pub fn conn_kind(&self, conn: ConnId) -> Option<ConnKind> {
        self.conns.get(&conn).map(|c| c.kind)
    }

    /// Number of watches on a connection.
    pub fn watch_count(&self, conn: ConnId) -> usize {
        self.conns.get(&conn).map_or(0, |c| c.watches.len())
    }

    /// Number of open transactions on a connection.
    pub fn transaction_count(&self, conn: ConnId) -> usize {
        self.conns.get(&conn).map_or(0, |c| c.transactions.len())
    }

    fn caller(&self, conn: &Connection) -> Caller {
        Caller {
            dom: conn.dom,
            privileged: conn.dom == self.config.priv_domid,
            target: conn.target,
        }
    }

    /// A header announced more than [`XENSTORE_PAYLOAD_MAX`] bytes: answer `E2BIG`.
    pub fn handle_oversized(&mut self, conn: ConnId, hdr: &Header) -> Vec<Output> {
        if !self.conns.contains_key(&conn) {
            return Vec::new();
        }
        Vec::from([Output::Send(
            conn,
            Message::error(hdr.req_id, hdr.tx_id, XsError::E2BIG),
        )])
    }

    /// Feeds one decoded item (see [`Decoder`]).
    pub fn handle_decoded(&mut self, conn: ConnId, item: &Decoded) -> Vec<Output> {
        match item {
            Decoded::Message(m) => self.handle(conn, m),
            Decoded::Oversized(h) => self.handle_oversized(conn, h),
        }
    }

    /// Handles one request; returns replies, watch events and driver actions, in order.
    /// Unknown connections are ignored.
    pub fn handle(&mut self, conn: ConnId, msg: &Message) -> Vec<Output> {
        let mut out = Vec::new();
        let Some(c) = self.conns.get(&conn) else {
            return out;
        };
        let caller = self.caller(c);
        let reply = |payload: Result<Vec<u8>, XsError>| -> Message {
            match payload {
                Ok(p) if p.len() > XENSTORE_PAYLOAD_MAX => {
                    Message::error(msg.req_id, msg.tx_id, XsError::E2BIG)
                }
                Ok(p) => Message {
                    ty: msg.ty,
                    req_id: msg.req_id,
                    tx_id: msg.tx_id,
                    payload: p,
                },
                Err(e) => Message::error(msg.req_id, msg.tx_id, e),
            }
        };
        let Some(flags) = request_flags(msg.ty) else {
            out.push(Output::Send(conn, reply(Err(XsError::ENOSYS))));
            return out;
        };
        if flags & FLAG_PRIV != 0 && !caller.privileged {
            out.push(Output::Send(conn, reply(Err(XsError::EACCES))));
            return out;
        }
        let tx_id = if flags & FLAG_NOTID != 0 {
            0
        } else {
            msg.tx_id
        };
        if tx_id != 0 && !c.transactions.contains_key(&tx_id) {
            out.push(Output::Send(conn, reply(Err(XsError::ENOENT))));
            return out;
        }
        let p = &msg.payload[..];
        let result = match msg.ty {
            XS_DIRECTORY | XS_READ | XS_GET_PERMS | XS_WRITE | XS_MKDIR | XS_RM | XS_SET_PERMS
            | XS_DIRECTORY_PART => self.tree_op(conn, caller, tx_id, msg.ty, p, &mut out),
            XS_TRANSACTION_START => self.transaction_start(conn, caller, tx_id),
            XS_TRANSACTION_END => self.transaction_end(conn, caller, tx_id, p, &mut out),
            XS_WATCH => {
                let r = self.watch(conn, caller, p);
                if let Ok((ev, _)) = &r {
                    out.push(Output::Send(conn, reply(Ok(ok()))));
                    out.push(Output::Send(conn, ev.clone()));
                    return out;
                }
                r.map(|(_, v)| v)
            }
            XS_UNWATCH => self.unwatch(conn, caller, p),
            XS_RESET_WATCHES => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.watches.clear();
                    c.transactions.clear();
                }
                Ok(ok())
            }
            XS_GET_DOMAIN_PATH => onearg(p)
                .and_then(parse_domid)
                .map(|d| cstring(&domain_path(d))),
            XS_IS_DOMAIN_INTRODUCED => onearg(p).and_then(parse_domid).map(|d| {
                let t = d.0 == DOMID_SELF || self.domains.contains_key(&d);
                Vec::from(if t { &b"T\0"[..] } else { &b"F\0"[..] })
            }),
            XS_INTRODUCE => self.introduce(p, &mut out),
            XS_RELEASE => self.release_cmd(p, &mut out),
            XS_RESUME => self.onearg_domain(p).map(|d| {
                if let Some(dom) = self.domains.get_mut(&d) {
                    dom.shutdown = false;
                }
                ok()
            }),
            XS_SET_TARGET => self.set_target(p),
            XS_GET_QUOTA => self.get_quota(p),
            XS_SET_QUOTA => self.set_quota(p),
            _ => Err(XsError::ENOSYS),
        };
        // Replies go after the events the request caused, as Xen queues them.
        let m = reply(result);
        // Driver actions stay after the reply so the ack precedes e.g. unmapping.
        let split = out
            .iter()
            .position(|o| !matches!(o, Output::Send(..)))
            .unwrap_or(out.len());
        out.insert(split, Output::Send(conn, m));
        out
    }

    fn tree_op(
        &mut self,
        conn: ConnId,
        caller: Caller,
        tx_id: u32,
        ty: u32,
        p: &[u8],
        out: &mut Vec<Output>,
    ) -> Result<Vec<u8>, XsError> {
        let quotas = self.config.quotas;
        let mut tx = if tx_id != 0 {
            self.conns
                .get_mut(&conn)
                .and_then(|c| c.transactions.remove(&tx_id))
        } else {
            None
        };
        let mut ctx = Ctx {
            store: &mut self.store,
            tx: tx.as_mut(),
            caller,
            quotas: &quotas,
            changes: Vec::new(),
        };
        let r = match ty {
            XS_READ => onearg(p).and_then(|a| ctx.read(a)),
            XS_DIRECTORY => onearg(p).and_then(|a| ctx.directory(a)),
            XS_GET_PERMS => onearg(p).and_then(|a| ctx.get_perms(a)),
            XS_MKDIR => onearg(p).and_then(|a| ctx.mkdir(a)).map(|_| ok()),
            XS_RM => onearg(p).and_then(|a| ctx.rm(a)).map(|_| ok()),
            XS_WRITE => match p.iter().position(|&b| b == 0) {
                Some(i) => ctx.write(&p[..i], &p[i + 1..]).map(|_| ok()),
                None => Err(XsError::EINVAL),
            },
            XS_DIRECTORY_PART => {
                let v = split_strings(p, 3);
                if count_strings(p) != 2 || v.len() != 2 {
                    Err(XsError::EINVAL)
                } else {
                    ctx.directory_part(v[0], v[1])
                }
            }
            XS_SET_PERMS => {
                let v = split_strings(p, usize::MAX);
                if count_strings(p) < 2 || v.len() < 2 {
                    Err(XsError::EINVAL)
                } else {
                    ctx.set_perms(v[0], &v[1..]).map(|_| ok())
                }
            }
            _ => Err(XsError::ENOSYS),
        };
        let changes = core::mem::take(&mut ctx.changes);
        if let Some(t) = tx {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.transactions.insert(tx_id, t);
            }
        }
        self.fire_changes(&changes, out);
        r
    }

    fn transaction_start(
        &mut self,
        conn: ConnId,
        caller: Caller,
        tx_id: u32,
    ) -> Result<Vec<u8>, XsError> {
        if tx_id != 0 {
            return Err(XsError::EBUSY);
        }
        let quota = self.config.quotas.transactions;
        let Some(c) = self.conns.get_mut(&conn) else {
            return Err(XsError::EINVAL);
        };
        if !caller.privileged && crate::store::exceeds(c.transactions.len() as u64 + 1, quota) {
            return Err(XsError::ENOSPC);
        }
        let mut id = c.next_tx_id;
        while id == 0 || c.transactions.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        c.next_tx_id = id.wrapping_add(1);
        let t = Transaction::new(id, &mut self.store);
        c.transactions.insert(id, t);
        Ok(cstring(&format!("{id}")))
    }

    fn transaction_end(
        &mut self,
        conn: ConnId,
        caller: Caller,
        tx_id: u32,
        p: &[u8],
        out: &mut Vec<Output>,
    ) -> Result<Vec<u8>, XsError> {
        let arg = onearg(p)?;
        if arg != b"T" && arg != b"F" {
            return Err(XsError::EINVAL);
        }
        if tx_id == 0 {
            return Err(XsError::ENOENT);
        }
        let Some(t) = self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.transactions.remove(&tx_id))
        else {
            return Err(XsError::ENOENT);
        };
        if arg == b"F" {
            return Ok(ok());
        }
        let priv_dom = self.config.priv_domid;
        let chk = !caller.privileged;
        let changes = t.commit(&mut self.store, self.config.quotas.nodes, |d| {
            chk && d != priv_dom
        })?;
        self.fire_changes(&changes, out);
        Ok(ok())
    }

    /// Returns the initial event and the (unused) ack payload.
    fn watch(
        &mut self,
        conn: ConnId,
        caller: Caller,
        p: &[u8],
    ) -> Result<(Message, Vec<u8>), XsError> {
        let v = split_strings(p, 3);
        let depth = match v.len() {
            3 => {
                let d = parse_atoi(v[2]);
                if d < 0 {
                    return Err(XsError::EINVAL);
                }
                Some(u32::try_from(d).unwrap_or(u32::MAX))
            }
            2 => None,
            _ => return Err(XsError::EINVAL),
        };
        let relative = !matches!(v[0].first(), Some(b'/') | Some(b'@'));
        let path = canonicalize(&caller, v[0], true, self.config.quotas.path_max)?;
        let token = core::str::from_utf8(v[1])
            .map(String::from)
            .map_err(|_| XsError::EINVAL)?;
        let quota = self.config.quotas.watches;
        let Some(c) = self.conns.get_mut(&conn) else {
            return Err(XsError::EINVAL);
        };
        if c.watches.iter().any(|w| w.path == path && w.token == token) {
            return Err(XsError::EEXIST);
        }
        if !caller.privileged && crate::store::exceeds(c.watches.len() as u64 + 1, quota) {
            return Err(XsError::ENOSPC);
        }
        let prefix_len = if relative {
            domain_path(caller.dom).len() + 1
        } else {
            0
        };
        let w = Watch {
            path,
            token,
            prefix_len,
            depth,
        };
        let ev = event(w.event_path(&w.path), &w.token);
        c.watches.push(w);
        Ok((ev, ok()))
    }

    fn unwatch(&mut self, conn: ConnId, caller: Caller, p: &[u8]) -> Result<Vec<u8>, XsError> {
        let v = split_strings(p, 2);
        if v.len() != 2 {
            return Err(XsError::EINVAL);
        }
        let path = canonicalize(&caller, v[0], true, self.config.quotas.path_max)?;
        let Some(c) = self.conns.get_mut(&conn) else {
            return Err(XsError::EINVAL);
        };
        match c
            .watches
            .iter()
            .position(|w| w.path == path && w.token.as_bytes() == v[1])
        {
            Some(i) => {
                c.watches.remove(i);
                Ok(ok())
            }
            None => Err(XsError::ENOENT),
        }
    }

    /// Delivers changes to every watcher allowed to see them.
    fn fire_changes(&self, changes: &[Change], out: &mut Vec<Output>) {
        for ch in changes {
            for (&id, c) in &self.conns {
                if c.watches.is_empty() || !watch_permitted(&self.caller(c), &self.store, ch) {
                    continue;
                }
                for w in &c.watches {
                    if w.matches(&ch.path, ch.matching) {
                        out.push(Output::Send(id, event(w.event_path(&ch.path), &w.token)));
                    }
                }
            }
        }
    }

    /// `fire_special_watches`: `name` (watches without depth) and `name/<domid>`.
    fn fire_special(&self, name: &str, domid: DomId, out: &mut Vec<Output>) {
        let Some(node) = self.store.get(name) else {
            return;
        };
        let perms = Some(node.perms.clone());
        let mk = |path: String, matching| Change {
            path,
            matching,
            perms: perms.clone(),
            parent_perms: perms.clone(),
            old_perms: None,
        };
        self.fire_changes(
            &[
                mk(String::from(name), Match::NoDepth),
                mk(format!("{name}/{}", domid.0), Match::Depth),
            ],
            out,
        );
    }

    fn introduce(&mut self, p: &[u8], out: &mut Vec<Output>) -> Result<Vec<u8>, XsError> {
        let v = split_strings(p, 3);
        if v.len() < 3 {
            return Err(XsError::EINVAL);
        }
        let domid = parse_domid(v[0])?;
        if domid.0 >= DOMID_FIRST_RESERVED {
            return Err(XsError::EINVAL);
        }
        let gfn = parse_atoi(v[1]);
        let port = parse_atoi(v[2]);
        if port <= 0 {
            return Err(XsError::EINVAL);
        }
        let evtchn = u32::try_from(port).map_err(|_| XsError::EINVAL)?;
        let conn = match self.domains.get(&domid) {
            Some(d) => d.conn,
            None => {
                let c = self.new_conn(ConnKind::Domain(domid), domid);
                self.domains.insert(
                    domid,
                    Domain {
                        conn: c,
                        shutdown: false,
                    },
                );
                if domid != self.config.priv_domid {
                    self.fire_special("@introduceDomain", domid, out);
                }
                c
            }
        };
        out.push(Output::Introduce {
            domid,
            conn,
            gfn,
            evtchn,
        });
        Ok(ok())
    }

    /// `onearg_domain`: a connected, unprivileged domain.
    fn onearg_domain(&self, p: &[u8]) -> Result<DomId, XsError> {
        let d = parse_domid(onearg(p)?)?;
        if d == self.config.priv_domid {
            return Err(XsError::EINVAL);
        }
        if !self.domains.contains_key(&d) {
            return Err(XsError::ENOENT);
        }
        Ok(d)
    }

    fn release_cmd(&mut self, p: &[u8], out: &mut Vec<Output>) -> Result<Vec<u8>, XsError> {
        let d = self.onearg_domain(p)?;
        self.domain_gone_into(d, out);
        Ok(ok())
    }

    /// The domain died or was released: drop its connection (watches first, so its own
    /// node removals do not echo to it), delete the nodes it owns, strip it from other
    /// nodes' permissions, and fire `@releaseDomain`.
    pub fn domain_gone(&mut self, domid: DomId) -> Vec<Output> {
        let mut out = Vec::new();
        self.domain_gone_into(domid, &mut out);
        out
    }

    fn domain_gone_into(&mut self, domid: DomId, out: &mut Vec<Output>) {
        let Some(dom) = self.domains.remove(&domid) else {
            return;
        };
        self.conns.remove(&dom.conn);
        if domid != self.config.priv_domid {
            self.remove_domain_nodes(domid, out);
        }
        self.fire_special("@releaseDomain", domid, out);
        out.push(Output::Release {
            domid,
            conn: dom.conn,
        });
    }

    /// The domain shut down (the driver saw it): fires `@releaseDomain` once until RESUME.
    pub fn domain_shutdown(&mut self, domid: DomId) -> Vec<Output> {
        let mut out = Vec::new();
        match self.domains.get_mut(&domid) {
            Some(d) if !d.shutdown => d.shutdown = true,
            _ => return out,
        }
        self.fire_special("@releaseDomain", domid, &mut out);
        out
    }

    /// `domain_tree_remove`: nodes owned by `domid` go (with their subtrees); other nodes
    /// lose `domid`'s permission entries.
    fn remove_domain_nodes(&mut self, domid: DomId, out: &mut Vec<Output>) {
        let paths: Vec<String> = self.store.iter().map(|(p, _)| String::from(p)).collect();
        let quotas = self.config.quotas;
        let caller = Caller::privileged(self.config.priv_domid);
        for path in paths {
            let Some(node) = self.store.get(&path) else {
                continue;
            };
            if node.owner() == domid && path != "/" && !path.starts_with('@') {
                let mut ctx = Ctx {
                    store: &mut self.store,
                    tx: None,
                    caller,
                    quotas: &quotas,
                    changes: Vec::new(),
                };
                let _ = ctx.rm_node(&path);
                let ch = ctx.changes;
                self.fire_changes(&ch, out);
            } else if node.perms.iter().skip(1).any(|p| p.dom == domid) {
                let mut n = node.clone();
                let mut kept = Vec::from([n.perms[0]]);
                kept.extend(n.perms[1..].iter().filter(|p| p.dom != domid));
                n.perms = kept;
                self.store.put_raw(&path, n);
            }
        }
    }

    fn set_target(&mut self, p: &[u8]) -> Result<Vec<u8>, XsError> {
        let v = split_strings(p, 2);
        if v.len() < 2 {
            return Err(XsError::EINVAL);
        }
        let d = parse_domid(v[0])?;
        let t = parse_domid(v[1])?;
        let dc = self.domains.get(&d).ok_or(XsError::ENOENT)?.conn;
        self.domains.get(&t).ok_or(XsError::ENOENT)?;
        if let Some(c) = self.conns.get_mut(&dc) {
            c.target = Some(t);
        }
        Ok(ok())
    }

    fn quota_slot<'a>(q: &'a mut Quotas, name: &[u8]) -> Option<&'a mut u32> {
        Some(match name {
            b"nodes" => &mut q.nodes,
            b"watches" => &mut q.watches,
            b"transactions" => &mut q.transactions,
            b"transaction-nodes" => &mut q.transaction_nodes,
            b"node-permissions" => &mut q.permissions,
            b"path-max" => &mut q.path_max,
            b"node-size" => &mut q.node_size,
            _ => return None,
        })
    }

    /// GET_QUOTA (global values only; per-domain quotas are not kept separately).
    fn get_quota(&mut self, p: &[u8]) -> Result<Vec<u8>, XsError> {
        let v = split_strings(p, 3);
        match v.len() {
            0 => Ok(cstring(
                "nodes watches transactions transaction-nodes node-permissions path-max node-size",
            )),
            1 | 2 => {
                let mut q = self.config.quotas;
                let name = v[v.len() - 1];
                let val = *Self::quota_slot(&mut q, name).ok_or(XsError::EINVAL)?;
                Ok(cstring(&format!("{val}")))
            }
            _ => Err(XsError::EINVAL),
        }
    }

    /// SET_QUOTA `<quota>|<value>|` (global values).
    fn set_quota(&mut self, p: &[u8]) -> Result<Vec<u8>, XsError> {
        let v = split_strings(p, 3);
        let (name, val) = match v.len() {
            2 => (v[0], v[1]),
            _ => return Err(XsError::EINVAL),
        };
        let val = crate::store::parse_decimal(val)
            .and_then(|x| u32::try_from(x).ok())
            .ok_or(XsError::EINVAL)?;
        *Self::quota_slot(&mut self.config.quotas, name).ok_or(XsError::EINVAL)? = val;
        Ok(ok())
    }
}

/// An `XS_WATCH_EVENT`: `<path>\0<token>\0`, req_id and tx_id 0.
pub fn event(path: &str, token: &str) -> Message {
    let mut p = cstring(path);
    p.extend_from_slice(token.as_bytes());
    p.push(0);
    Message {
        ty: XS_WATCH_EVENT,
        req_id: 0,
        tx_id: 0,
        payload: p,
    }
}
