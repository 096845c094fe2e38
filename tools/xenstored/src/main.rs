//! `xenstored`: dom0's xenstore daemon.
//!
//! The store, permissions, quotas, transactions and watches are `crates/xenstore`'s pure
//! state machine; this program is its I/O ([`server`]) on the real devices:
//! - clients on the Unix socket `/run/xenstored/socket` (and `/var/run/xenstored/socket`
//!   when that is another directory), privileged as dom0's toolstack;
//! - dom0's own kernel (Linux on Arm dom0 is `XS_LOCAL`: the kernel allocated the ring page
//!   and an unbound event channel): the page is mapped from `/dev/xen/xenbus_backend` (or
//!   `/proc/xen/xsd_kva`), the port (`IOCTL_XENBUS_BACKEND_EVTCHN` or `/proc/xen/xsd_port`)
//!   bound through `/dev/xen/evtchn`, and a first notification makes the kernel's xenbus
//!   probe run (Xen's `dom0_init`, Linux `xenbus_probe_thread`);
//! - domains' rings: on `XS_INTRODUCE domid gfn port` the page is foreign-mapped through
//!   privcmd and the port bound; `VIRQ_DOM_EXC` (and a once-a-second check while domains are
//!   introduced) asks `getdomaininfo` and releases dead domains (`@releaseDomain`).
//!
//! Single-threaded `poll` loop. Options: `--socket PATH` (replaces the default socket
//! paths), `--no-dom0` (no Xen devices: socket clients only, for tests off Xen).
#![forbid(unsafe_code)]

mod server;

use libxen::ctrl::Ctrl;
use libxen::foreign::ForeignMap;
use libxen::sys::{self, Evtchn, Mapping, XenbusBackend};
use server::{DomState, Platform, Server};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};
use xen_abi::domctl::{XEN_DOMINF_dying, XEN_DOMINF_shutdown};
use xenstore::ring::RingPage;
use xenstore::{Config, Xenstored};

/// `VIRQ_DOM_EXC` (xen/include/public/xen.h).
const VIRQ_DOM_EXC: u32 = 3;
const SOCKETS: &[&str] = &["/run/xenstored/socket", "/var/run/xenstored/socket"];
/// How often introduced domains are checked when no `VIRQ_DOM_EXC` arrives.
const DOMAIN_CHECK: Duration = Duration::from_secs(1);
/// The `poll` sleep while there was traffic in the last second: rings are swept and kicked
/// at least this often then, so a lost event-channel notification delays a request by this
/// much at most.
const TICK_MS: libc::c_int = 100;
/// The `poll` sleep when idle (fewer wake-ups of an idle dom0).
const IDLE_TICK_MS: libc::c_int = 1000;

/// A ring page: a domain's (foreign mapping) or dom0's kernel's (xenbus_backend).
enum Page {
    Foreign(ForeignMap),
    Local(Mapping),
}

impl Page {
    fn mem(&self) -> &Mapping {
        match self {
            Page::Foreign(f) => f.mem(),
            Page::Local(m) => m,
        }
    }
    fn mem_mut(&mut self) -> &mut Mapping {
        match self {
            Page::Foreign(f) => f.mem_mut(),
            Page::Local(m) => m,
        }
    }
}

impl RingPage for Page {
    fn load_u32(&self, offset: usize) -> u32 {
        self.mem().load_u32(offset)
    }
    fn store_u32(&mut self, offset: usize, val: u32) {
        self.mem_mut().store_u32(offset, val)
    }
    fn read_bytes(&self, offset: usize, buf: &mut [u8]) {
        self.mem().read_bytes(offset, buf)
    }
    fn write_bytes(&mut self, offset: usize, data: &[u8]) {
        self.mem_mut().write_bytes(offset, data)
    }
    fn fence(&self) {
        self.mem().fence()
    }
}

struct Real {
    ctrl: Option<Ctrl>,
    evtchn: Option<Evtchn>,
}

fn no_xen() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "running without Xen devices")
}

impl Platform for Real {
    type Page = Page;
    fn map_ring(&mut self, domid: u16, gfn: u64) -> io::Result<Page> {
        let c = self.ctrl.as_ref().ok_or_else(no_xen)?;
        ForeignMap::map_page(c.privcmd(), domid, gfn).map(Page::Foreign)
    }
    fn bind(&mut self, domid: u16, remote_port: u32) -> io::Result<u32> {
        let e = self.evtchn.as_ref().ok_or_else(no_xen)?;
        e.bind_interdomain(u32::from(domid), remote_port)
    }
    fn unbind(&mut self, port: u32) {
        if let Some(e) = &self.evtchn {
            if let Err(err) = e.unbind(port) {
                eprintln!("xenstored: unbinding port {port}: {err}");
            }
        }
    }
    fn notify(&mut self, port: u32) {
        if let Some(e) = &self.evtchn {
            if let Err(err) = e.notify(port) {
                eprintln!("xenstored: notifying port {port}: {err}");
            }
        }
    }
    fn domain_state(&mut self, domid: u16) -> DomState {
        let Some(c) = &self.ctrl else {
            return DomState::Running;
        };
        match c.getdomaininfo(domid) {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => DomState::Gone,
            Ok(i) if i.flags & XEN_DOMINF_dying != 0 => DomState::Gone,
            Ok(i) if i.flags & XEN_DOMINF_shutdown != 0 => DomState::Shutdown,
            Ok(_) => DomState::Running,
            // Cannot tell: keep it.
            Err(_) => DomState::Running,
        }
    }
}

/// dom0's kernel ring and its xenstore port: `/dev/xen/xenbus_backend`, else xenfs's
/// `/proc/xen/xsd_kva` + `xsd_port`.
fn dom0_ring() -> io::Result<(Mapping, u32)> {
    match XenbusBackend::open(XenbusBackend::PATH) {
        Ok(b) => Ok((b.map()?, b.evtchn()?)),
        Err(e) => {
            let port: u32 = std::fs::read_to_string("/proc/xen/xsd_port")
                .map_err(|e2| {
                    io::Error::new(
                        e2.kind(),
                        format!("{}: {e}; /proc/xen/xsd_port: {e2}", XenbusBackend::PATH),
                    )
                })?
                .trim()
                .parse()
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "bad /proc/xen/xsd_port")
                })?;
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/proc/xen/xsd_kva")?;
            Ok((Mapping::map_file(&f, sys::XEN_PAGE_SIZE)?, port))
        }
    }
}

fn listen(path: &str) -> io::Result<UnixListener> {
    let p = Path::new(path);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(p);
    let l = UnixListener::bind(p)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let no_dom0 = args.iter().any(|a| a == "--no-dom0");
    let sockets: Vec<String> = match args.iter().position(|a| a == "--socket") {
        Some(i) => match args.get(i + 1) {
            Some(p) => vec![p.clone()],
            None => {
                eprintln!("xenstored: --socket needs a path");
                std::process::exit(2);
            }
        },
        None => SOCKETS.iter().map(|s| s.to_string()).collect(),
    };
    if let Err(e) = run(no_dom0, &sockets) {
        eprintln!("xenstored: {e}");
        std::process::exit(1);
    }
}

fn run(no_dom0: bool, socket_paths: &[String]) -> io::Result<()> {
    let mut xs = Xenstored::new(Config::default());
    let _ = xs.dom0_layout();
    let plat = if no_dom0 {
        Real {
            ctrl: None,
            evtchn: None,
        }
    } else {
        Real {
            ctrl: Ctrl::open()
                .map_err(|e| eprintln!("xenstored: {e} (no foreign mappings)"))
                .ok(),
            evtchn: Some(
                Evtchn::open(libxen::EVTCHN)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", libxen::EVTCHN)))?,
            ),
        }
    };
    let mut srv = Server::new(xs, plat);

    // Sockets first, so clients can connect as soon as the kernel's ring is served.
    let mut listeners: Vec<UnixListener> = Vec::new();
    let mut seen_dirs = Vec::new();
    for p in socket_paths {
        let dir = Path::new(p).parent().and_then(|d| {
            let _ = std::fs::create_dir_all(d);
            d.canonicalize().ok()
        });
        if dir.is_some() && seen_dirs.contains(&dir) {
            continue;
        }
        seen_dirs.push(dir);
        listeners
            .push(listen(p).map_err(|e| io::Error::new(e.kind(), format!("socket {p}: {e}")))?);
    }

    let mut virq = None;
    if !no_dom0 {
        let (page, kport) = dom0_ring()?;
        let evtchn = srv.platform_mut().evtchn.as_ref().ok_or_else(no_xen)?;
        let port = evtchn.bind_interdomain(0, kport).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("binding dom0's xenstore port {kport}: {e}"),
            )
        })?;
        virq = match evtchn.bind_virq(VIRQ_DOM_EXC) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("xenstored: binding VIRQ_DOM_EXC: {e} (checking domains by timer only)");
                None
            }
        };
        srv.add_priv_ring(Page::Local(page), port);
        eprintln!("xenstored: serving dom0's kernel on port {port} (kernel port {kport})");
    }
    eprintln!("xenstored: listening on {}", socket_paths.join(", "));

    let mut last_check = Instant::now();
    let mut unsignalled = 0u64;
    let mut stale_ticks = 0u64;
    let mut last_busy = Instant::now();
    loop {
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let pfd = |fd, events| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        for l in &listeners {
            fds.push(pfd(l.as_raw_fd(), libc::POLLIN));
        }
        let evtchn_at = fds.len();
        if let Some(e) = &srv.platform_mut().evtchn {
            fds.push(pfd(e.as_raw_fd(), libc::POLLIN));
        }
        let socks_at = fds.len();
        let socks = srv.sockets();
        for &(_, fd, wants_write) in &socks {
            let ev = libc::POLLIN | if wants_write { libc::POLLOUT } else { 0 };
            fds.push(pfd(fd, ev));
        }
        let tick = if last_busy.elapsed() < Duration::from_secs(1) || stale_ticks > 0 {
            TICK_MS
        } else {
            IDLE_TICK_MS
        };
        let ready = sys::poll(&mut fds, tick)?;
        if ready > 0 {
            last_busy = Instant::now();
        }

        for (i, l) in listeners.iter().enumerate() {
            if fds[i].revents == 0 {
                continue;
            }
            loop {
                match l.accept() {
                    Ok((s, _)) => {
                        if let Err(e) = srv.add_socket(s) {
                            eprintln!("xenstored: new client: {e}");
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        eprintln!("xenstored: accept: {e}");
                        break;
                    }
                }
            }
        }
        if evtchn_at < socks_at && fds[evtchn_at].revents != 0 {
            let ports = match srv.platform_mut().evtchn.as_mut() {
                Some(e) => e.read_pending()?,
                None => Vec::new(),
            };
            for p in ports {
                if Some(p) == virq {
                    srv.check_domains();
                    last_check = Instant::now();
                } else {
                    srv.port_event(p);
                }
                if let Some(e) = srv.platform_mut().evtchn.as_mut() {
                    e.unmask(p)?;
                }
            }
        }
        for (k, &(id, _, _)) in socks.iter().enumerate() {
            let r = fds[socks_at + k].revents;
            if r & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                srv.socket_readable(id);
            }
        }
        let found = srv.poll_rings();
        if found > 0 {
            unsignalled += found as u64;
            if unsignalled.is_power_of_two() {
                eprintln!("xenstored: {unsignalled} ring requests found without an event so far");
            }
        }
        if ready == 0 {
            // Replies unread a whole idle tick: the peer may have missed our event. Say so
            // (once a second per stretch) so a lost notification shows in the log.
            let kicked = srv.kick_rings();
            stale_ticks = if kicked.is_empty() {
                0
            } else {
                stale_ticks + 1
            };
            if stale_ticks % 10 == 1 {
                for (d, i, q) in kicked {
                    eprintln!(
                        "xenstored: domain {d}: replies unread, re-notified (req {}/{}, rsp {}/{}, {q} bytes queued)",
                        i[0], i[1], i[2], i[3]
                    );
                }
            }
        }
        if srv.rings() > 1 && last_check.elapsed() >= DOMAIN_CHECK {
            srv.check_domains();
            last_check = Instant::now();
        }
        srv.flush();
    }
}
