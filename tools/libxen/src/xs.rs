//! A xenstore client, as Xen's `libxenstore` (`xs_open`, `xs_read`, ...): the wire format of
//! `xen/include/public/io/xs_wire.h` (codec from the `xenstore` crate) over the daemon's Unix
//! socket (`/run/xenstored/socket`), or over dom0's kernel (`/dev/xen/xenbus`) when no
//! socket answers.
//!
//! Errors are `io::Error`s carrying the errno of the daemon's error name (`ENOENT`,
//! `EACCES`, `EAGAIN`, ...), as libxenstore sets `errno`; [`xs_error`] gives the name back.
//! Watch events that arrive while a request waits for its reply are queued; read them with
//! [`Xs::read_watch`] (poll [`Xs`]'s descriptor — `AsRawFd` — together with other files, but
//! check [`Xs::has_queued_events`] first).
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! use libxen::xs::{Xs, XBT_NULL};
//! let mut xs = Xs::open()?;
//! xs.write(XBT_NULL, "/local/domain/0/name", b"Domain-0")?;
//! let name = xs.read_string(XBT_NULL, "/local/domain/0/name")?;
//! xs.watch("/local/domain", "tok")?;
//! while let Some(ev) = xs.read_watch(Some(std::time::Duration::from_secs(1)))? {
//!     println!("{} fired ({})", ev.path, ev.token);
//! }
//! # let _ = name; Ok(()) }
//! ```

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

pub use xenstore::store::{Access, DomId, Perm};
use xenstore::wire::*;
pub use xenstore::wire::{Message, XsError};
use xenstore::{Decoded, Decoder};

/// The daemon's socket (`xs_daemon_socket()`; Xen's `XENSTORED_RUN_DIR/socket`).
pub const XENSTORED_SOCKET: &str = "/run/xenstored/socket";
/// The older spelling of the socket's directory, also served by our daemon.
pub const XENSTORED_SOCKET_VAR: &str = "/var/run/xenstored/socket";
/// dom0's kernel xenbus device (`xs_domain_dev()`).
pub const XENBUS_DEV: &str = "/dev/xen/xenbus";

/// A transaction id; [`XBT_NULL`] outside any transaction.
pub type Tx = u32;
/// `XBT_NULL`: no transaction.
pub const XBT_NULL: Tx = 0;

/// A fired watch: the path that changed (or the watched path, on registration) and the
/// token given to [`Xs::watch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub path: String,
    pub token: String,
}

/// The errno for a xenstore error name, as libxenstore maps them.
pub fn errno_of(e: XsError) -> i32 {
    match e {
        XsError::EINVAL => libc::EINVAL,
        XsError::EACCES => libc::EACCES,
        XsError::EEXIST => libc::EEXIST,
        XsError::EISDIR => libc::EISDIR,
        XsError::ENOENT => libc::ENOENT,
        XsError::ENOMEM => libc::ENOMEM,
        XsError::ENOSPC => libc::ENOSPC,
        XsError::EIO => libc::EIO,
        XsError::ENOTEMPTY => libc::ENOTEMPTY,
        XsError::ENOSYS => libc::ENOSYS,
        XsError::EROFS => libc::EROFS,
        XsError::EBUSY => libc::EBUSY,
        XsError::EAGAIN => libc::EAGAIN,
        XsError::EISCONN => libc::EISCONN,
        XsError::E2BIG => libc::E2BIG,
        XsError::EPERM => libc::EPERM,
    }
}

/// The xenstore error an `io::Error` from this module stands for, if any.
pub fn xs_error(e: &io::Error) -> Option<XsError> {
    let n = e.raw_os_error()?;
    XsError::ALL.iter().copied().find(|&x| errno_of(x) == n)
}

fn proto(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("xenstore protocol: {what}"),
    )
}

enum Channel {
    Socket(UnixStream),
    Dev(File),
}

impl Channel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Channel::Socket(s) => s.read(buf),
            Channel::Dev(f) => f.read(buf),
        }
    }
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Channel::Socket(s) => s.write_all(data),
            Channel::Dev(f) => f.write_all(data),
        }
    }
    fn fd(&self) -> RawFd {
        match self {
            Channel::Socket(s) => s.as_raw_fd(),
            Channel::Dev(f) => f.as_raw_fd(),
        }
    }
}

/// A connection to xenstore.
pub struct Xs {
    ch: Channel,
    dec: Decoder,
    /// Decoded messages not yet consumed (replies are taken in order; events are moved to
    /// `events`).
    inbox: VecDeque<Message>,
    events: VecDeque<WatchEvent>,
    req_id: u32,
    timeout: Option<Duration>,
}

impl Xs {
    /// Connects to the daemon's socket (`$XENSTORED_PATH`, else [`XENSTORED_SOCKET`], else
    /// [`XENSTORED_SOCKET_VAR`]), falling back to [`XENBUS_DEV`].
    pub fn open() -> io::Result<Xs> {
        let mut tried = Vec::new();
        let env = std::env::var("XENSTORED_PATH").ok();
        for p in env
            .as_deref()
            .into_iter()
            .chain([XENSTORED_SOCKET, XENSTORED_SOCKET_VAR])
        {
            match Xs::open_socket(p) {
                Ok(x) => return Ok(x),
                Err(e) => tried.push(format!("{p}: {e}")),
            }
        }
        Xs::open_xenbus(XENBUS_DEV).map_err(|e| {
            tried.push(format!("{XENBUS_DEV}: {e}"));
            io::Error::new(
                e.kind(),
                format!(
                    "no xenstore reachable (is xenstored running?): {}",
                    tried.join("; ")
                ),
            )
        })
    }

    /// Connects to the daemon's Unix socket at `path`.
    pub fn open_socket(path: &str) -> io::Result<Xs> {
        UnixStream::connect(path).map(|s| Xs::with(Channel::Socket(s)))
    }

    /// Talks through dom0's kernel (`/dev/xen/xenbus`), which forwards to the daemon over
    /// its ring.
    pub fn open_xenbus(path: &str) -> io::Result<Xs> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map(|f| Xs::with(Channel::Dev(f)))
    }

    fn with(ch: Channel) -> Xs {
        Xs {
            ch,
            dec: Decoder::new(),
            inbox: VecDeque::new(),
            events: VecDeque::new(),
            req_id: 0,
            timeout: None,
        }
    }

    /// How long [`Xs::request`] waits for its reply before failing with `TimedOut` (`None`,
    /// the default: forever, as libxenstore). A timed-out connection is out of step with
    /// the daemon: drop it.
    pub fn set_timeout(&mut self, t: Option<Duration>) {
        self.timeout = t;
    }

    /// True when talking through `/dev/xen/xenbus` rather than the daemon's socket.
    pub fn is_xenbus(&self) -> bool {
        matches!(self.ch, Channel::Dev(_))
    }

    /// Reads once from the channel and decodes what arrived.
    fn fill(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 4096 + XSD_SOCKMSG_LEN];
        let n = self.ch.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "xenstore closed the connection",
            ));
        }
        for d in self.dec.push_all(&buf[..n]) {
            match d {
                Decoded::Message(m) if m.ty == XS_WATCH_EVENT => {
                    let v: Vec<&[u8]> = m.payload.split(|&b| b == 0).collect();
                    if v.len() < 2 {
                        return Err(proto("watch event without path and token"));
                    }
                    self.events.push_back(WatchEvent {
                        path: String::from_utf8_lossy(v[0]).into_owned(),
                        token: String::from_utf8_lossy(v[1]).into_owned(),
                    });
                }
                Decoded::Message(m) => self.inbox.push_back(m),
                Decoded::Oversized(_) => return Err(proto("oversized message from the daemon")),
            }
        }
        Ok(())
    }

    /// Sends one request and returns the reply's payload (an `XS_ERROR` reply becomes the
    /// matching errno). Any `ty` and payload may be sent: the daemon judges them.
    pub fn request(&mut self, ty: u32, tx: Tx, payload: &[u8]) -> io::Result<Vec<u8>> {
        if payload.len() > XENSTORE_PAYLOAD_MAX {
            return Err(io::Error::from_raw_os_error(libc::E2BIG));
        }
        self.req_id = self.req_id.wrapping_add(1);
        let id = self.req_id;
        let m = Message::new(ty, id, tx, payload);
        self.ch.write_all(&m.encode())?;
        loop {
            if let Some(i) = self.inbox.iter().position(|m| m.req_id == id) {
                let r = self.inbox.remove(i).expect("index from position");
                if r.ty == XS_ERROR {
                    let name = r.payload.split(|&b| b == 0).next().unwrap_or(&[]);
                    return Err(match XsError::from_name(name) {
                        Some(e) => io::Error::from_raw_os_error(errno_of(e)),
                        None => proto(&format!(
                            "unknown error {:?}",
                            String::from_utf8_lossy(name)
                        )),
                    });
                }
                if r.ty != ty {
                    return Err(proto(&format!("reply type {} to request type {ty}", r.ty)));
                }
                return Ok(r.payload);
            }
            // The kernel's device answers in order and sets its own req_id only for its
            // transactions; anything else unclaimed is stale.
            self.inbox.clear();
            if let Some(t) = self.timeout {
                let ms = libc::c_int::try_from(t.as_millis()).unwrap_or(libc::c_int::MAX);
                if !crate::sys::poll_readable(self.ch.fd(), ms)? {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no reply to xenstore request type {ty} within {t:?}"),
                    ));
                }
            }
            self.fill()?;
        }
    }

    fn path_req(&mut self, ty: u32, tx: Tx, path: &str) -> io::Result<Vec<u8>> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        self.request(ty, tx, &p)
    }

    /// `XS_READ`: the node's value.
    pub fn read(&mut self, tx: Tx, path: &str) -> io::Result<Vec<u8>> {
        self.path_req(XS_READ, tx, path)
    }

    /// `XS_READ` as UTF-8 (lossy).
    pub fn read_string(&mut self, tx: Tx, path: &str) -> io::Result<String> {
        self.read(tx, path)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    /// `XS_WRITE`: creates the node (and missing parents) or replaces its value.
    pub fn write(&mut self, tx: Tx, path: &str, value: &[u8]) -> io::Result<()> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        p.extend_from_slice(value);
        self.request(XS_WRITE, tx, &p).map(drop)
    }

    /// `XS_MKDIR`: creates an empty node (no error if it exists).
    pub fn mkdir(&mut self, tx: Tx, path: &str) -> io::Result<()> {
        self.path_req(XS_MKDIR, tx, path).map(drop)
    }

    /// `XS_RM`: removes the node and its subtree.
    pub fn rm(&mut self, tx: Tx, path: &str) -> io::Result<()> {
        self.path_req(XS_RM, tx, path).map(drop)
    }

    /// `XS_DIRECTORY`: the children's names.
    pub fn directory(&mut self, tx: Tx, path: &str) -> io::Result<Vec<String>> {
        let v = self.path_req(XS_DIRECTORY, tx, path)?;
        Ok(split_nul(&v))
    }

    /// `XS_GET_PERMS`: owner first.
    pub fn get_perms(&mut self, tx: Tx, path: &str) -> io::Result<Vec<Perm>> {
        let v = self.path_req(XS_GET_PERMS, tx, path)?;
        v.split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| Perm::parse(s).map_err(|_| proto("bad permission string")))
            .collect()
    }

    /// `XS_SET_PERMS`: the first entry is the owner (and everyone else's access).
    pub fn set_perms(&mut self, tx: Tx, path: &str, perms: &[Perm]) -> io::Result<()> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        for perm in perms {
            p.extend_from_slice(format!("{}{}", perm.access.letter(), perm.dom.0).as_bytes());
            p.push(0);
        }
        self.request(XS_SET_PERMS, tx, &p).map(drop)
    }

    /// `XS_WATCH`: events for `path` and its subtree, tagged `token`. The daemon fires the
    /// watch once at registration.
    pub fn watch(&mut self, path: &str, token: &str) -> io::Result<()> {
        self.request(XS_WATCH, XBT_NULL, &two(path, token))
            .map(drop)
    }

    /// `XS_UNWATCH`.
    pub fn unwatch(&mut self, path: &str, token: &str) -> io::Result<()> {
        self.request(XS_UNWATCH, XBT_NULL, &two(path, token))
            .map(drop)
    }

    /// True if watch events are queued (a `poll` on the descriptor would not show them).
    pub fn has_queued_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next watch event: a queued one, else waits up to `timeout` (`None`: forever);
    /// `Ok(None)` if none arrived in time.
    pub fn read_watch(&mut self, timeout: Option<Duration>) -> io::Result<Option<WatchEvent>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            let ms = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX)
                }
            };
            if !crate::sys::poll_readable(self.ch.fd(), ms)? {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// `XS_TRANSACTION_START`: a new transaction.
    pub fn transaction_start(&mut self) -> io::Result<Tx> {
        let v = self.request(XS_TRANSACTION_START, XBT_NULL, b"\0")?;
        parse_num(&v)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| proto("bad transaction id"))
    }

    /// `XS_TRANSACTION_END`: commits (`commit`) or aborts. `Ok(false)` when the commit
    /// conflicted with another change (`EAGAIN`): retry the transaction.
    pub fn transaction_end(&mut self, tx: Tx, commit: bool) -> io::Result<bool> {
        let arg: &[u8] = if commit { b"T\0" } else { b"F\0" };
        match self.request(XS_TRANSACTION_END, tx, arg) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `XS_INTRODUCE`: tells the daemon about domain `domid`'s ring (guest frame `gfn`) and
    /// its unbound event channel `port`.
    pub fn introduce(&mut self, domid: u16, gfn: u64, port: u32) -> io::Result<()> {
        let p = format!("{domid}\0{gfn}\0{port}\0");
        self.request(XS_INTRODUCE, XBT_NULL, p.as_bytes()).map(drop)
    }

    /// `XS_RELEASE`: the daemon forgets the domain (fires `@releaseDomain`).
    pub fn release(&mut self, domid: u16) -> io::Result<()> {
        self.request(XS_RELEASE, XBT_NULL, format!("{domid}\0").as_bytes())
            .map(drop)
    }

    /// `XS_RESUME`: the domain resumed after a shutdown.
    pub fn resume(&mut self, domid: u16) -> io::Result<()> {
        self.request(XS_RESUME, XBT_NULL, format!("{domid}\0").as_bytes())
            .map(drop)
    }

    /// `XS_GET_DOMAIN_PATH`: `/local/domain/<domid>`.
    pub fn get_domain_path(&mut self, domid: u16) -> io::Result<String> {
        let v = self.request(
            XS_GET_DOMAIN_PATH,
            XBT_NULL,
            format!("{domid}\0").as_bytes(),
        )?;
        Ok(split_nul(&v).into_iter().next().unwrap_or_default())
    }

    /// `XS_IS_DOMAIN_INTRODUCED`.
    pub fn is_domain_introduced(&mut self, domid: u16) -> io::Result<bool> {
        let v = self.request(
            XS_IS_DOMAIN_INTRODUCED,
            XBT_NULL,
            format!("{domid}\0").as_bytes(),
        )?;
        Ok(v.first() == Some(&b'T'))
    }

    /// Sends raw bytes (tests: malformed or partial messages); no reply is awaited.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.ch.write_all(bytes)
    }
}

impl AsRawFd for Xs {
    fn as_raw_fd(&self) -> RawFd {
        self.ch.fd()
    }
}

fn two(a: &str, b: &str) -> Vec<u8> {
    let mut p = a.as_bytes().to_vec();
    p.push(0);
    p.extend_from_slice(b.as_bytes());
    p.push(0);
    p
}

/// The nul-separated strings of a reply (a trailing empty string dropped).
fn split_nul(v: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = v
        .split(|&b| b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    if out.last().is_some_and(|s| s.is_empty()) {
        out.pop();
    }
    out
}

fn parse_num(v: &[u8]) -> Option<u64> {
    let s = v.split(|&b| b == 0).next()?;
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A scripted daemon on a socket pair: answers each request with `reply(request)`,
    /// sending a watch event first when the request is a WATCH.
    fn pair(reply: fn(&Message) -> Vec<Message>) -> Xs {
        let (a, b) = UnixStream::pair().unwrap();
        std::thread::spawn(move || {
            let mut b = b;
            let mut dec = Decoder::new();
            let mut buf = [0u8; 8192];
            loop {
                let n = match b.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                for d in dec.push_all(&buf[..n]) {
                    if let Decoded::Message(m) = d {
                        for r in reply(&m) {
                            // Byte by byte: the client must reassemble.
                            for byte in r.encode() {
                                if b.write_all(&[byte]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
            }
        });
        Xs::with(Channel::Socket(a))
    }

    fn echo_ok(m: &Message) -> Vec<Message> {
        let payload: &[u8] = match m.ty {
            XS_READ => b"value",
            XS_DIRECTORY => b"a\0b\0",
            XS_GET_PERMS => b"n0\0r5\0",
            XS_TRANSACTION_START => b"7\0",
            XS_GET_DOMAIN_PATH => b"/local/domain/3\0",
            XS_IS_DOMAIN_INTRODUCED => b"T\0",
            _ => b"OK\0",
        };
        let mut v = Vec::new();
        if m.ty == XS_WATCH {
            v.push(Message::new(XS_WATCH_EVENT, 0, 0, b"/x\0tok\0"));
        }
        if m.ty == XS_RM {
            v.push(Message::error(m.req_id, m.tx_id, XsError::ENOENT));
        } else if m.ty == XS_TRANSACTION_END {
            v.push(Message::error(m.req_id, m.tx_id, XsError::EAGAIN));
        } else {
            v.push(Message::new(m.ty, m.req_id, m.tx_id, payload));
        }
        v
    }

    #[test]
    fn requests_and_replies() {
        let mut xs = pair(echo_ok);
        assert_eq!(xs.read(XBT_NULL, "/a").unwrap(), b"value");
        xs.write(XBT_NULL, "/a", b"v").unwrap();
        assert_eq!(xs.directory(XBT_NULL, "/").unwrap(), ["a", "b"]);
        assert_eq!(
            xs.get_perms(XBT_NULL, "/").unwrap(),
            [Perm::new(0, Access::None), Perm::new(5, Access::Read)]
        );
        let e = xs.rm(XBT_NULL, "/nope").unwrap_err();
        assert_eq!(xs_error(&e), Some(XsError::ENOENT));
        assert_eq!(xs.transaction_start().unwrap(), 7);
        assert!(!xs.transaction_end(7, true).unwrap());
        assert_eq!(xs.get_domain_path(3).unwrap(), "/local/domain/3");
        assert!(xs.is_domain_introduced(3).unwrap());
        xs.watch("/x", "tok").unwrap();
        assert!(xs.has_queued_events());
        assert_eq!(
            xs.read_watch(Some(Duration::from_millis(10))).unwrap(),
            Some(WatchEvent {
                path: "/x".into(),
                token: "tok".into()
            })
        );
        assert_eq!(
            xs.read_watch(Some(Duration::from_millis(10))).unwrap(),
            None
        );
    }

    #[test]
    fn oversized_request_refused_locally() {
        let mut xs = pair(echo_ok);
        let big = vec![b'a'; XENSTORE_PAYLOAD_MAX + 1];
        let e = xs.write(XBT_NULL, "/a", &big).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::E2BIG));
    }

    #[test]
    fn socket_path_connects() {
        let dir = std::env::temp_dir().join(format!("libxen-xs-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("socket");
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).unwrap();
        let p = path.to_str().unwrap().to_string();
        let t = std::thread::spawn(move || Xs::open_socket(&p).map(|_| ()));
        let _c = l.accept().unwrap();
        t.join().unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn errno_names_round_trip() {
        for e in XsError::ALL {
            assert_eq!(
                xs_error(&io::Error::from_raw_os_error(errno_of(e))),
                Some(e)
            );
        }
    }
}
