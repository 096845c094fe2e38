//! The daemon's I/O around the pure state machine ([`xenstore::Xenstored`]): byte streams of
//! Unix-socket clients and shared rings of domains in, replies and watch events out, and the
//! driver actions the state machine asks for (map a domain's ring, bind its event channel,
//! forget it). Independent of the real devices through [`Platform`], so it is tested on the
//! host with socket pairs and fake ring pages.
//!
//! Hostile input rules (every byte may come from a hostile client or domain):
//! - a socket client announcing a payload over `XENSTORE_PAYLOAD_MAX` is dropped (as Xen's
//!   xenstored drops the connection); a ring connection gets `E2BIG` and the payload skipped;
//! - a ring whose indices are inconsistent gets `XENSTORE_ERROR_RINGIDX` in its `error`
//!   field and is ignored from then on;
//! - a socket client that does not read its replies is dropped once [`MAX_OUT`] bytes are
//!   queued for it; a domain that does not read its ring loses further events beyond that.
//!
//! Nothing a client sends affects another client except through the store's own semantics.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use xenstore::ring::{self, RingPage};
use xenstore::wire::{XsError, XS_CONTROL, XS_INTRODUCE};
use xenstore::{ConnId, Decoded, Decoder, DomId, Message, Output, Xenstored};

/// Bytes queued for one connection before it counts as stuck.
pub const MAX_OUT: usize = 1 << 20;
/// Bytes read from one socket client per readiness event (fairness between clients).
const READ_BUDGET: usize = 64 << 10;
/// The `XS_CONTROL` command that makes a socket connection act as a domain (test hook).
pub const CONTROL_AS_DOMAIN: &[u8] = b"xenith-as-domain";

/// What a domain is, for the automatic release of dead domains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomState {
    Running,
    /// Shut down but not yet destroyed.
    Shutdown,
    /// Dying or gone.
    Gone,
}

/// The devices the daemon drives.
pub trait Platform {
    /// A mapped ring page.
    type Page: RingPage;
    /// Maps the ring page `gfn` of `domid` (XS_INTRODUCE).
    fn map_ring(&mut self, domid: u16, gfn: u64) -> io::Result<Self::Page>;
    /// Binds a local port to `remote_port` of `domid`.
    fn bind(&mut self, domid: u16, remote_port: u32) -> io::Result<u32>;
    /// Unbinds a local port.
    fn unbind(&mut self, port: u32);
    /// Sends an event on a local port.
    fn notify(&mut self, port: u32);
    /// Whether `domid` still runs.
    fn domain_state(&mut self, domid: u16) -> DomState;
}

struct SocketConn {
    stream: UnixStream,
    dec: Decoder,
    out: Vec<u8>,
    off: usize,
}

struct RingConn<P> {
    domid: u16,
    page: P,
    port: u32,
    dec: Decoder,
    out: Vec<u8>,
    off: usize,
    broken: bool,
}

enum Transport<P> {
    Socket(SocketConn),
    Ring(RingConn<P>),
}

/// Counters for diagnostics and the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests handled.
    pub requests: u64,
    /// Socket clients dropped for misbehaving (oversized message, stuck output).
    pub dropped_clients: u64,
    /// Rings marked broken.
    pub broken_rings: u64,
    /// Messages not queued for a domain whose ring output was full.
    pub dropped_messages: u64,
    /// Times a ring had requests without an event having been seen for them (a lost or
    /// late event-channel notification; [`Server::poll_rings`] recovers).
    pub unsignalled: u64,
}

/// The daemon.
pub struct Server<P: Platform> {
    xs: Xenstored,
    plat: P,
    conns: BTreeMap<ConnId, Transport<P::Page>>,
    /// Local event-channel port -> ring connection.
    ports: BTreeMap<u32, ConnId>,
    /// Socket connections to close at the next flush.
    dead: Vec<ConnId>,
    stats: Stats,
}

fn log(msg: std::fmt::Arguments) {
    eprintln!("xenstored: {msg}");
}

impl<P: Platform> Server<P> {
    /// A daemon over `xs` (with its initial tree) and the devices `plat`.
    pub fn new(xs: Xenstored, plat: P) -> Server<P> {
        Server {
            xs,
            plat,
            conns: BTreeMap::new(),
            ports: BTreeMap::new(),
            dead: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// The state machine (read-only).
    #[cfg(test)]
    pub fn xenstored(&self) -> &Xenstored {
        &self.xs
    }

    /// The devices.
    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.plat
    }

    /// The counters.
    #[cfg(test)]
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// A new socket client (privileged, dom0's toolstack).
    pub fn add_socket(&mut self, stream: UnixStream) -> io::Result<ConnId> {
        stream.set_nonblocking(true)?;
        let id = self.xs.add_socket();
        self.conns.insert(
            id,
            Transport::Socket(SocketConn {
                stream,
                dec: Decoder::new(),
                out: Vec::new(),
                off: 0,
            }),
        );
        Ok(id)
    }

    /// dom0's own ring (the kernel's page and the local port bound to the kernel's
    /// xenstore port); serves what is already waiting and notifies the kernel, which makes
    /// its xenbus probe run.
    pub fn add_priv_ring(&mut self, page: P::Page, port: u32) -> ConnId {
        let id = self.xs.add_priv_domain();
        let domid = self.xs.config().priv_domid.0;
        self.conns
            .insert(id, Transport::Ring(RingConn::new(domid, page, port)));
        self.ports.insert(port, id);
        self.port_event(port);
        self.plat.notify(port);
        id
    }

    /// The socket connections: (id, descriptor, has output waiting).
    pub fn sockets(&self) -> Vec<(ConnId, RawFd, bool)> {
        self.conns
            .iter()
            .filter_map(|(&id, t)| match t {
                Transport::Socket(s) => Some((id, s.stream.as_raw_fd(), s.off < s.out.len())),
                Transport::Ring(_) => None,
            })
            .collect()
    }

    /// Number of ring connections (dom0's and the introduced domains').
    pub fn rings(&self) -> usize {
        self.conns
            .values()
            .filter(|t| matches!(t, Transport::Ring(_)))
            .count()
    }

    /// A socket client is readable: reads (up to a budget), handles every whole request.
    pub fn socket_readable(&mut self, conn: ConnId) {
        let mut budget = READ_BUDGET;
        let mut buf = vec![0u8; 16 << 10];
        while budget > 0 {
            let Some(Transport::Socket(s)) = self.conns.get_mut(&conn) else {
                return;
            };
            let n = match s.stream.read(&mut buf) {
                Ok(0) => {
                    self.dead.push(conn);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.dead.push(conn);
                    return;
                }
            };
            budget = budget.saturating_sub(n);
            let items = s.dec.push_all(&buf[..n]);
            for item in items {
                if self.dead.contains(&conn) {
                    return;
                }
                self.handle_item(conn, item);
            }
        }
    }

    /// An event arrived on a local port: serves the ring bound to it. False for a port
    /// that is no ring's.
    pub fn port_event(&mut self, port: u32) -> bool {
        self.serve_ring(port).is_some()
    }

    /// Serves every ring whether or not its event was seen, as Xen's xenstored checks every
    /// connection on each loop iteration: a lost notification costs a loop iteration, not
    /// a hung client. Also re-notifies rings whose replies are still unread (the peer may
    /// have missed our event). Returns how many rings had unsignalled requests.
    pub fn poll_rings(&mut self) -> usize {
        let ports: Vec<u32> = self.ports.keys().copied().collect();
        let mut n = 0;
        for p in ports {
            if self.serve_ring(p) == Some(true) {
                n += 1;
            }
        }
        self.stats.unsignalled += n as u64;
        n
    }

    /// Notifies every ring whose replies the peer has not consumed yet. Returns, for each
    /// ring kicked, `(domid, [req_cons, req_prod, rsp_cons, rsp_prod], bytes queued)`, for
    /// the log.
    pub fn kick_rings(&mut self) -> Vec<(u16, [u32; 4], usize)> {
        let mut kick = Vec::new();
        for t in self.conns.values() {
            if let Transport::Ring(r) = t {
                let idx = [
                    ring::REQ_CONS_OFFSET,
                    ring::REQ_PROD_OFFSET,
                    ring::RSP_CONS_OFFSET,
                    ring::RSP_PROD_OFFSET,
                ]
                .map(|o| r.page.load_u32(o));
                let queued = r.out.len() - r.off;
                if !r.broken && (idx[2] != idx[3] || queued > 0) {
                    kick.push((r.port, r.domid, idx, queued));
                }
            }
        }
        kick.into_iter()
            .map(|(p, d, idx, q)| {
                self.plat.notify(p);
                (d, idx, q)
            })
            .collect()
    }

    /// Reads and handles a ring's requests, writes its replies, notifies if anything moved.
    /// `None` for an unknown port, else whether there were requests.
    fn serve_ring(&mut self, port: u32) -> Option<bool> {
        let &conn = self.ports.get(&port)?;
        let mut buf = [0u8; ring::XENSTORE_RING_SIZE as usize];
        let mut consumed = false;
        loop {
            let Some(Transport::Ring(r)) = self.conns.get_mut(&conn) else {
                return Some(consumed);
            };
            if r.broken {
                break;
            }
            let n = match ring::read_requests(&mut r.page, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    r.mark_broken(e.code());
                    self.stats.broken_rings += 1;
                    log(format_args!(
                        "domain {}: ring indices broken, ignoring it",
                        r.domid
                    ));
                    break;
                }
            };
            if n == 0 {
                break;
            }
            consumed = true;
            let items = r.dec.push_all(&buf[..n]);
            for item in items {
                self.handle_item(conn, item);
            }
        }
        let wrote = self.flush_ring(conn);
        if consumed || wrote {
            self.plat.notify(port);
        }
        Some(consumed)
    }

    fn handle_item(&mut self, conn: ConnId, item: Decoded) {
        self.stats.requests += 1;
        let is_socket = matches!(self.conns.get(&conn), Some(Transport::Socket(_)));
        match item {
            Decoded::Oversized(h) if is_socket => {
                log(format_args!(
                    "socket client announced a {}-byte payload: dropping it",
                    h.len
                ));
                self.stats.dropped_clients += 1;
                self.dead.push(conn);
            }
            Decoded::Oversized(h) => {
                let out = self.xs.handle_oversized(conn, &h);
                self.apply(conn, None, out);
            }
            Decoded::Message(m) if m.ty == XS_CONTROL && is_socket => {
                let r = self.control(conn, &m);
                self.queue(conn, &r);
            }
            Decoded::Message(m) => {
                let out = self.xs.handle(conn, &m);
                self.apply(conn, Some(&m), out);
            }
        }
    }

    /// `XS_CONTROL` from a privileged socket client: `xenith-as-domain <domid>` makes the
    /// connection act as that domain (unprivileged unless 0). Anything else: `ENOSYS`.
    fn control(&mut self, conn: ConnId, m: &Message) -> Message {
        let privileged = self.xs.conn_domain(conn) == Some(self.xs.config().priv_domid);
        let args: Vec<&[u8]> = m.payload.split(|&b| b == 0).collect();
        let err = |e| Message::error(m.req_id, m.tx_id, e);
        if !privileged {
            return err(XsError::EACCES);
        }
        match args.as_slice() {
            [cmd, dom, ..] if *cmd == CONTROL_AS_DOMAIN => {
                match xenstore::store::parse_domid(dom) {
                    Ok(d) if self.xs.set_conn_domain(conn, d) => {
                        Message::new(XS_CONTROL, m.req_id, m.tx_id, b"OK\0")
                    }
                    _ => err(XsError::EINVAL),
                }
            }
            _ => err(XsError::ENOSYS),
        }
    }

    /// Carries out the state machine's outputs: driver actions first (a failed introduction
    /// turns its `OK` into an error), then the messages, in order.
    fn apply(&mut self, from: ConnId, req: Option<&Message>, out: Vec<Output>) {
        let mut sends = Vec::new();
        let mut failed_intro = false;
        let mut more = Vec::new();
        for o in out {
            match o {
                Output::Send(c, m) => sends.push((c, m)),
                Output::Introduce {
                    domid,
                    conn,
                    gfn,
                    evtchn,
                } => {
                    if let Err(e) = self.introduce(domid, conn, gfn, evtchn) {
                        log(format_args!("introducing domain {}: {e}", domid.0));
                        failed_intro = true;
                        more.extend(self.xs.domain_gone(domid));
                    }
                }
                Output::Release { conn, .. } => self.drop_ring(conn),
            }
        }
        for (c, mut m) in sends {
            if failed_intro
                && c == from
                && req.is_some_and(|r| r.req_id == m.req_id && r.ty == XS_INTRODUCE)
                && m.ty == XS_INTRODUCE
            {
                m = Message::error(m.req_id, m.tx_id, XsError::EINVAL);
            }
            self.queue(c, &m);
        }
        if !more.is_empty() {
            self.apply(from, None, more);
        }
    }

    fn introduce(&mut self, domid: DomId, conn: ConnId, gfn: i64, evtchn: u32) -> io::Result<()> {
        let d = domid.0;
        if let Some(Transport::Ring(r)) = self.conns.get_mut(&conn) {
            // Re-introduction: a new event channel, same page (Xen's domain_conn_reset).
            let port = self.plat.bind(d, evtchn)?;
            let old = std::mem::replace(&mut r.port, port);
            r.broken = false;
            r.dec = Decoder::new();
            r.out.clear();
            r.off = 0;
            self.ports.remove(&old);
            self.plat.unbind(old);
            self.ports.insert(port, conn);
            self.port_event(port);
            return Ok(());
        }
        let gfn = u64::try_from(gfn).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let page = self.plat.map_ring(d, gfn)?;
        let port = self.plat.bind(d, evtchn)?;
        self.conns
            .insert(conn, Transport::Ring(RingConn::new(d, page, port)));
        self.ports.insert(port, conn);
        self.port_event(port);
        self.plat.notify(port);
        Ok(())
    }

    fn drop_ring(&mut self, conn: ConnId) {
        if let Some(Transport::Ring(r)) = self.conns.remove(&conn) {
            self.ports.remove(&r.port);
            self.plat.unbind(r.port);
        }
    }

    fn queue(&mut self, conn: ConnId, m: &Message) {
        match self.conns.get_mut(&conn) {
            Some(Transport::Socket(s)) => {
                if s.out.len() - s.off + m.payload.len() > MAX_OUT {
                    if !self.dead.contains(&conn) {
                        log(format_args!(
                            "socket client does not read its replies: dropping it"
                        ));
                        self.stats.dropped_clients += 1;
                        self.dead.push(conn);
                    }
                    return;
                }
                m.encode_into(&mut s.out);
            }
            Some(Transport::Ring(r)) => {
                if r.out.len() - r.off + m.payload.len() > MAX_OUT {
                    self.stats.dropped_messages += 1;
                    return;
                }
                m.encode_into(&mut r.out);
            }
            None => {}
        }
    }

    /// Writes what fits of a ring's queued output; true if anything was written.
    fn flush_ring(&mut self, conn: ConnId) -> bool {
        let Some(Transport::Ring(r)) = self.conns.get_mut(&conn) else {
            return false;
        };
        if r.broken || r.off == r.out.len() {
            return false;
        }
        match ring::write_responses(&mut r.page, &r.out[r.off..]) {
            Ok(n) => {
                r.off += n;
                if r.off == r.out.len() {
                    r.out.clear();
                    r.off = 0;
                }
                n > 0
            }
            Err(e) => {
                r.mark_broken(e.code());
                self.stats.broken_rings += 1;
                false
            }
        }
    }

    /// Writes queued output everywhere it fits and closes dead socket clients.
    pub fn flush(&mut self) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            match self.conns.get_mut(&id) {
                Some(Transport::Socket(s)) => {
                    while s.off < s.out.len() {
                        match s.stream.write(&s.out[s.off..]) {
                            Ok(0) => {
                                self.dead.push(id);
                                break;
                            }
                            Ok(n) => s.off += n,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(_) => {
                                self.dead.push(id);
                                break;
                            }
                        }
                    }
                    if s.off == s.out.len() {
                        s.out.clear();
                        s.off = 0;
                    }
                }
                Some(Transport::Ring(r)) => {
                    let port = r.port;
                    if self.flush_ring(id) {
                        self.plat.notify(port);
                    }
                }
                None => {}
            }
        }
        for id in std::mem::take(&mut self.dead) {
            if self.conns.remove(&id).is_some() {
                self.xs.close(id);
            }
        }
    }

    /// Releases introduced domains that died (Xen's `domain_cleanup` on `VIRQ_DOM_EXC`),
    /// fires `@releaseDomain` once for ones that shut down.
    pub fn check_domains(&mut self) {
        let priv_dom = self.xs.config().priv_domid;
        let doms: Vec<DomId> = self.xs.domains().filter(|&d| d != priv_dom).collect();
        for d in doms {
            let out = match self.plat.domain_state(d.0) {
                DomState::Running => continue,
                DomState::Shutdown => self.xs.domain_shutdown(d),
                DomState::Gone => {
                    log(format_args!("domain {} is gone: releasing it", d.0));
                    self.xs.domain_gone(d)
                }
            };
            let from = ConnId(0);
            self.apply(from, None, out);
        }
    }

    /// True if `conn` is a known connection.
    #[cfg(test)]
    pub fn has_conn(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }
}

impl<P: RingPage> RingConn<P> {
    fn new(domid: u16, page: P, port: u32) -> RingConn<P> {
        RingConn {
            domid,
            page,
            port,
            dec: Decoder::new(),
            out: Vec::new(),
            off: 0,
            broken: false,
        }
    }

    fn mark_broken(&mut self, code: u32) {
        self.broken = true;
        self.page.store_u32(ring::ERROR_OFFSET, code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeSet;
    use std::rc::Rc;
    use std::time::Duration;
    use xenstore::wire::*;

    /// A ring page shared between the fake domain (test) and the daemon.
    #[derive(Clone)]
    struct Page(Rc<RefCell<Vec<u8>>>);

    impl Page {
        fn new() -> Page {
            Page(Rc::new(RefCell::new(vec![0u8; 4096])))
        }
        /// The domain's side: write a request.
        fn send(&self, m: &Message) {
            let bytes = m.encode();
            let n = ring::write_requests(&mut self.0.borrow_mut()[..], &bytes).unwrap();
            assert_eq!(n, bytes.len());
        }
        /// The domain's side: every whole message the daemon wrote.
        fn recv(&self) -> Vec<Message> {
            let mut buf = [0u8; 4096];
            let n = ring::read_responses(&mut self.0.borrow_mut()[..], &mut buf).unwrap();
            Decoder::new()
                .push_all(&buf[..n])
                .into_iter()
                .filter_map(|d| match d {
                    Decoded::Message(m) => Some(m),
                    Decoded::Oversized(_) => None,
                })
                .collect()
        }
    }

    impl RingPage for Page {
        fn load_u32(&self, offset: usize) -> u32 {
            self.0.borrow()[..].load_u32(offset)
        }
        fn store_u32(&mut self, offset: usize, val: u32) {
            self.0.borrow_mut()[..].store_u32(offset, val)
        }
        fn read_bytes(&self, offset: usize, buf: &mut [u8]) {
            self.0.borrow()[..].read_bytes(offset, buf)
        }
        fn write_bytes(&mut self, offset: usize, data: &[u8]) {
            self.0.borrow_mut()[..].write_bytes(offset, data)
        }
    }

    #[derive(Default)]
    struct Fake {
        /// (domid, gfn) -> page.
        pages: BTreeMap<(u16, u64), Page>,
        next_port: u32,
        bound: BTreeSet<u32>,
        notified: Vec<u32>,
        gone: BTreeSet<u16>,
    }

    impl Platform for Fake {
        type Page = Page;
        fn map_ring(&mut self, domid: u16, gfn: u64) -> io::Result<Page> {
            self.pages
                .get(&(domid, gfn))
                .cloned()
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
        }
        fn bind(&mut self, _domid: u16, _remote: u32) -> io::Result<u32> {
            self.next_port += 1;
            self.bound.insert(self.next_port + 100);
            Ok(self.next_port + 100)
        }
        fn unbind(&mut self, port: u32) {
            assert!(self.bound.remove(&port));
        }
        fn notify(&mut self, port: u32) {
            self.notified.push(port);
        }
        fn domain_state(&mut self, domid: u16) -> DomState {
            if self.gone.contains(&domid) {
                DomState::Gone
            } else {
                DomState::Running
            }
        }
    }

    fn server() -> Server<Fake> {
        let mut xs = Xenstored::default();
        let _ = xs.dom0_layout();
        Server::new(xs, Fake::default())
    }

    /// A client socket plus its connection in the server.
    fn client(s: &mut Server<Fake>) -> (UnixStream, ConnId) {
        let (a, b) = UnixStream::pair().unwrap();
        let id = s.add_socket(b).unwrap();
        a.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        (a, id)
    }

    fn req(ty: u32, req_id: u32, payload: &[u8]) -> Vec<u8> {
        Message::new(ty, req_id, 0, payload).encode()
    }

    /// Reads one whole message from a client socket.
    fn read_msg(c: &mut UnixStream) -> Message {
        let mut hdr = [0u8; XSD_SOCKMSG_LEN];
        c.read_exact(&mut hdr).unwrap();
        let h = Header::from_bytes(&hdr);
        let mut p = vec![0u8; h.len as usize];
        c.read_exact(&mut p).unwrap();
        Message::new(h.ty, h.req_id, h.tx_id, &p)
    }

    fn roundtrip(
        s: &mut Server<Fake>,
        c: &mut UnixStream,
        id: ConnId,
        ty: u32,
        p: &[u8],
    ) -> Message {
        c.write_all(&req(ty, 9, p)).unwrap();
        s.socket_readable(id);
        s.flush();
        read_msg(c)
    }

    #[test]
    fn socket_round_trip_split_and_pipelined() {
        let mut s = server();
        let (mut c, id) = client(&mut s);
        // Two requests in one write, the second split across writes.
        let mut bytes = req(XS_WRITE, 1, b"/a\0hello");
        let second = req(XS_READ, 2, b"/a\0");
        bytes.extend_from_slice(&second[..5]);
        c.write_all(&bytes).unwrap();
        s.socket_readable(id);
        c.write_all(&second[5..]).unwrap();
        s.socket_readable(id);
        s.flush();
        let r1 = read_msg(&mut c);
        assert_eq!(
            (r1.ty, r1.req_id, &r1.payload[..]),
            (XS_WRITE, 1, &b"OK\0"[..])
        );
        let r2 = read_msg(&mut c);
        assert_eq!(
            (r2.ty, r2.req_id, &r2.payload[..]),
            (XS_READ, 2, &b"hello"[..])
        );
    }

    #[test]
    fn garbage_and_oversized_drop_only_that_client() {
        let mut s = server();
        let (mut good, gid) = client(&mut s);
        let (mut bad, bid) = client(&mut s);
        // Unknown types and malformed payloads get error replies; the client stays.
        let r = roundtrip(&mut s, &mut bad, bid, 0xdead, b"xx");
        assert_eq!(r.ty, XS_ERROR);
        let r = roundtrip(&mut s, &mut bad, bid, XS_READ, b"no-nul");
        assert_eq!(r.payload, b"EINVAL\0");
        // An oversized announcement drops it.
        let mut h = Header {
            ty: XS_WRITE,
            req_id: 1,
            tx_id: 0,
            len: 1 << 30,
        }
        .to_bytes()
        .to_vec();
        h.extend_from_slice(&[0xff; 100]);
        bad.write_all(&h).unwrap();
        s.socket_readable(bid);
        s.flush();
        assert!(!s.has_conn(bid));
        assert_eq!(s.stats().dropped_clients, 1);
        let mut b = [0u8; 1];
        assert_eq!(bad.read(&mut b).unwrap(), 0, "closed");
        // The other client still works, and the tree is intact.
        let r = roundtrip(&mut s, &mut good, gid, XS_READ, b"/local/domain/0/name\0");
        assert_eq!(r.payload, b"Domain-0");
        s.xenstored().store().check().unwrap();
    }

    #[test]
    fn client_going_away_drops_its_watches() {
        let mut s = server();
        let (mut c, id) = client(&mut s);
        let r = roundtrip(&mut s, &mut c, id, XS_WATCH, b"/w\0t\0");
        assert_eq!(r.payload, b"OK\0");
        assert_eq!(s.xenstored().watch_count(id), 1);
        drop(c);
        s.socket_readable(id);
        s.flush();
        assert!(!s.has_conn(id));
        assert_eq!(s.xenstored().watch_count(id), 0);
    }

    #[test]
    fn stuck_reader_is_dropped() {
        let mut s = server();
        let (mut c, id) = client(&mut s);
        let (mut w, wid) = client(&mut s);
        roundtrip(&mut s, &mut c, id, XS_WATCH, b"/w\0t\0");
        read_msg(&mut c); // the initial event
                          // `c` never reads: its events (long paths) pile up, the kernel buffers some, until
                          // it is dropped.
        for i in 0..2000u32 {
            let mut p = format!("/w/{i}-").into_bytes();
            p.resize(2000, b'x');
            p.extend_from_slice(b"\0v");
            w.write_all(&req(XS_WRITE, i, &p)).unwrap();
            s.socket_readable(wid);
            s.flush();
            let _ = read_msg(&mut w);
            if !s.has_conn(id) {
                break;
            }
        }
        assert!(!s.has_conn(id));
        assert!(s.has_conn(wid));
    }

    #[test]
    fn dom0_ring_served_and_notified() {
        let mut s = server();
        let page = Page::new();
        // The kernel wrote a request before the daemon came up.
        page.send(&Message::new(XS_READ, 5, 0, b"/local/domain/0/domid\0"));
        s.add_priv_ring(page.clone(), 42);
        let r = page.recv();
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].req_id, &r[0].payload[..]), (5, &b"0"[..]));
        assert!(s.platform_mut().notified.contains(&42));
        // A later request, on an event.
        page.send(&Message::new(XS_DIRECTORY, 6, 0, b"/local/domain\0"));
        assert!(s.port_event(42));
        assert_eq!(page.recv()[0].payload, b"0\0");
        assert!(!s.port_event(7), "unknown port");
    }

    #[test]
    fn rings_are_served_without_their_event_and_kicked() {
        let mut s = server();
        let page = Page::new();
        s.add_priv_ring(page.clone(), 42);
        page.send(&Message::new(XS_READ, 1, 0, b"/local/domain/0/name\0"));
        // No port_event: the loop's sweep finds it.
        assert_eq!(s.poll_rings(), 1);
        assert_eq!(s.stats().unsignalled, 1);
        assert_eq!(s.poll_rings(), 0);
        s.platform_mut().notified.clear();
        // The reply is unread: a kick notifies again; once read, no kick.
        let k = s.kick_rings();
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].0, 0);
        assert_eq!(s.platform_mut().notified, [42]);
        assert_eq!(page.recv()[0].payload, b"Domain-0");
        assert!(s.kick_rings().is_empty());
        assert_eq!(s.platform_mut().notified, [42]);
    }

    #[test]
    fn broken_ring_is_flagged_and_ignored() {
        let mut s = server();
        let page = Page::new();
        s.add_priv_ring(page.clone(), 42);
        // prod - cons > ring size.
        page.0.borrow_mut()[..].store_u32(ring::REQ_PROD_OFFSET, 5000);
        s.port_event(42);
        assert_eq!(
            page.0.borrow()[..].load_u32(ring::ERROR_OFFSET),
            ring::XENSTORE_ERROR_RINGIDX
        );
        assert_eq!(s.stats().broken_rings, 1);
        // Sockets still served.
        let (mut c, id) = client(&mut s);
        let r = roundtrip(&mut s, &mut c, id, XS_READ, b"/local/domain/0/name\0");
        assert_eq!(r.payload, b"Domain-0");
    }

    #[test]
    fn oversized_on_a_ring_gets_e2big_and_continues() {
        let mut s = server();
        let page = Page::new();
        s.add_priv_ring(page.clone(), 42);
        let h = Header {
            ty: XS_WRITE,
            req_id: 3,
            tx_id: 0,
            len: 5000,
        };
        ring::write_requests(&mut page.0.borrow_mut()[..], &h.to_bytes()).unwrap();
        s.port_event(42);
        // Feed the 5000 skipped bytes in ring-sized chunks.
        let junk = vec![0u8; 1000];
        for _ in 0..5 {
            ring::write_requests(&mut page.0.borrow_mut()[..], &junk).unwrap();
            s.port_event(42);
        }
        page.send(&Message::new(XS_READ, 4, 0, b"/local/domain/0/name\0"));
        s.port_event(42);
        let r = page.recv();
        assert_eq!(r[0].payload, b"E2BIG\0");
        assert_eq!((r[1].req_id, &r[1].payload[..]), (4, &b"Domain-0"[..]));
    }

    #[test]
    fn introduce_serves_the_domain_with_its_permissions_and_releases() {
        let mut s = server();
        let (mut c, id) = client(&mut s);
        let page = Page::new();
        s.platform_mut().pages.insert((3, 0x39000), page.clone());
        roundtrip(&mut s, &mut c, id, XS_WATCH, b"@introduceDomain\0i\0");
        read_msg(&mut c);
        roundtrip(&mut s, &mut c, id, XS_WATCH, b"@releaseDomain\0r\0");
        read_msg(&mut c);
        c.write_all(&req(XS_INTRODUCE, 1, b"3\x00233472\x007\0"))
            .unwrap();
        s.socket_readable(id);
        s.flush();
        let ev = read_msg(&mut c);
        assert_eq!(
            (ev.ty, &ev.payload[..]),
            (XS_WATCH_EVENT, &b"@introduceDomain\0i\0"[..])
        );
        assert_eq!(read_msg(&mut c).payload, b"OK\0");
        assert_eq!(s.rings(), 1);
        // The domain talks on its ring, as domain 3: its home is writable after the
        // toolstack set it up; dom0's nodes are not readable.
        roundtrip(&mut s, &mut c, id, XS_MKDIR, b"/local/domain/3\0");
        roundtrip(&mut s, &mut c, id, XS_SET_PERMS, b"/local/domain/3\0n3\0");
        let port = *s.ports.keys().next().unwrap();
        page.send(&Message::new(XS_WRITE, 1, 0, b"data/x\0hi"));
        page.send(&Message::new(XS_READ, 2, 0, b"/local/domain/0/name\0"));
        s.port_event(port);
        let r = page.recv();
        assert_eq!(r[0].payload, b"OK\0");
        assert_eq!(r[1].payload, b"EACCES\0");
        let r = roundtrip(&mut s, &mut c, id, XS_READ, b"/local/domain/3/data/x\0");
        assert_eq!(r.payload, b"hi");
        // The domain dies: released automatically, its nodes go, @releaseDomain fires.
        s.platform_mut().gone.insert(3);
        s.check_domains();
        s.flush();
        assert_eq!(s.rings(), 0);
        assert!(s.platform_mut().bound.is_empty());
        let m = read_msg(&mut c);
        assert_eq!(
            (m.ty, &m.payload[..]),
            (XS_WATCH_EVENT, &b"@releaseDomain\0r\0"[..])
        );
        let r = roundtrip(&mut s, &mut c, id, XS_READ, b"/local/domain/3\0");
        assert_eq!(r.payload, b"ENOENT\0");
    }

    #[test]
    fn failed_introduction_answers_an_error() {
        let mut s = server();
        let (mut c, id) = client(&mut s);
        // No such page in the fake: mapping fails.
        let r = roundtrip(&mut s, &mut c, id, XS_INTRODUCE, b"4\x00100\x007\0");
        assert_eq!((r.ty, &r.payload[..]), (XS_ERROR, &b"EINVAL\0"[..]));
        let r = roundtrip(&mut s, &mut c, id, XS_IS_DOMAIN_INTRODUCED, b"4\0");
        assert_eq!(r.payload, b"F\0");
        assert_eq!(s.rings(), 0);
    }

    #[test]
    fn control_as_domain_refuses_what_the_domain_may_not_do() {
        let mut s = server();
        let (mut c, id) = client(&mut s);
        roundtrip(&mut s, &mut c, id, XS_WRITE, b"/secret\0s");
        let r = roundtrip(&mut s, &mut c, id, XS_CONTROL, b"xenith-as-domain\x005\0");
        assert_eq!(r.payload, b"OK\0");
        let r = roundtrip(&mut s, &mut c, id, XS_READ, b"/secret\0");
        assert_eq!(r.payload, b"EACCES\0");
        // Now unprivileged: it cannot switch back.
        let r = roundtrip(&mut s, &mut c, id, XS_CONTROL, b"xenith-as-domain\x000\0");
        assert_eq!(r.payload, b"EACCES\0");
        let r = roundtrip(&mut s, &mut c, id, XS_CONTROL, b"nonsense\0");
        assert_eq!(r.payload, b"EACCES\0");
    }
}
