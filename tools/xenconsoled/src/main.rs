//! `xenconsoled`: dom0's console daemon, as Xen's `tools/console/daemon`.
//!
//! Watches xenstore (`@introduceDomain`, `@releaseDomain`, `/local/domain`) for domains whose
//! `/local/domain/N/console/port` is set. For each: the console page (the gfn in
//! `console/ring-ref`, else the domain's `HVM_PARAM_CONSOLE_PFN`) is foreign-mapped, the
//! event channel bound, a pty created (raw) and its path written to
//! `/local/domain/N/console/tty`, which `xl console` opens. Output and input are copied
//! both ways ([`ring::Bridge`]) with event-channel notifications; a domain whose nodes
//! disappear or that `getdomaininfo` calls dying or gone is forgotten. Single-threaded
//! `poll` loop; every ring is also swept on each iteration, so a lost notification costs
//! at most one 100 ms tick.
#![forbid(unsafe_code)]

mod ring;

use libxen::ctrl::Ctrl;
use libxen::foreign::ForeignMap;
use libxen::sys::{self, Evtchn, Mapping};
use libxen::xs::{Xs, XBT_NULL};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use xen_abi::domctl::XEN_DOMINF_dying;
use xenstore::ring::RingPage;

/// `HVM_PARAM_CONSOLE_PFN` (xen/include/public/hvm/params.h).
const HVM_PARAM_CONSOLE_PFN: u32 = 17;
const TICK_MS: libc::c_int = 100;

fn log(msg: std::fmt::Arguments) {
    eprintln!("xenconsoled: {msg}");
}

/// A console page in dom0 (volatile accesses through the mapping).
struct Page(ForeignMap);

impl Page {
    fn mem(&self) -> &Mapping {
        self.0.mem()
    }
}

impl RingPage for Page {
    fn load_u32(&self, offset: usize) -> u32 {
        self.mem().load_u32(offset)
    }
    fn store_u32(&mut self, offset: usize, val: u32) {
        self.0.mem_mut().store_u32(offset, val)
    }
    fn read_bytes(&self, offset: usize, buf: &mut [u8]) {
        self.mem().read_bytes(offset, buf)
    }
    fn write_bytes(&mut self, offset: usize, data: &[u8]) {
        self.0.mem_mut().write_bytes(offset, data)
    }
    fn fence(&self) {
        self.mem().fence()
    }
}

struct Console {
    page: Page,
    port: u32,
    master: File,
    /// Kept open so the master never reads a hang-up between `xl console` sessions.
    _slave: File,
    tty: String,
    bridge: ring::Bridge,
    broken: bool,
}

struct Daemon {
    ctrl: Ctrl,
    evtchn: Evtchn,
    xs: Xs,
    consoles: BTreeMap<u16, Console>,
    ports: BTreeMap<u32, u16>,
    /// Domains whose console could not be set up (logged once; retried on changes).
    failed: BTreeSet<u16>,
}

/// The console's page and port from its xenstore nodes: `(gfn if ring-ref is set, port)`.
/// `None` while the port is not (yet) a valid number.
fn parse_console(ring_ref: Option<&str>, port: Option<&str>) -> Option<(Option<u64>, u32)> {
    let port = port?.trim().parse::<u32>().ok().filter(|&p| p > 0)?;
    let gfn = ring_ref.and_then(|r| r.trim().parse::<u64>().ok());
    Some((gfn, port))
}

impl Daemon {
    fn read_opt(&mut self, path: &str) -> Option<String> {
        self.xs.read_string(XBT_NULL, path).ok()
    }

    /// Compares xenstore's domains with ours: sets up new consoles, forgets gone domains.
    fn rescan(&mut self) {
        let listed: BTreeSet<u16> = match self.xs.directory(XBT_NULL, "/local/domain") {
            Ok(v) => v.iter().filter_map(|d| d.parse().ok()).collect(),
            Err(e) => {
                log(format_args!("listing /local/domain: {e}"));
                return;
            }
        };
        let tracked: Vec<u16> = self.consoles.keys().copied().collect();
        for d in tracked {
            // Gone from xenstore, or dying/gone for Xen (an unreadable answer keeps it).
            let alive = listed.contains(&d)
                && match self.ctrl.getdomaininfo(d) {
                    Ok(i) => i.flags & XEN_DOMINF_dying == 0,
                    Err(e) => e.raw_os_error() != Some(libc::ESRCH),
                };
            if !alive {
                self.forget(d);
            }
        }
        self.failed.retain(|d| listed.contains(d));
        for d in listed {
            if d == 0 || self.consoles.contains_key(&d) {
                continue;
            }
            let base = format!("/local/domain/{d}/console");
            let rr = self.read_opt(&format!("{base}/ring-ref"));
            let port = self.read_opt(&format!("{base}/port"));
            let Some((gfn, port)) = parse_console(rr.as_deref(), port.as_deref()) else {
                continue;
            };
            match self.setup(d, gfn, port) {
                Ok(tty) => {
                    self.failed.remove(&d);
                    log(format_args!("domain {d}: console on {tty}"));
                }
                Err(e) => {
                    if self.failed.insert(d) {
                        log(format_args!("domain {d}: console not set up: {e}"));
                    }
                }
            }
        }
    }

    fn setup(&mut self, d: u16, gfn: Option<u64>, remote_port: u32) -> io::Result<String> {
        let gfn = match gfn {
            Some(g) => g,
            None => self.ctrl.hvm_get_param(d, HVM_PARAM_CONSOLE_PFN)?,
        };
        let page = Page(ForeignMap::map_page(self.ctrl.privcmd(), d, gfn)?);
        let port = self.evtchn.bind_interdomain(u32::from(d), remote_port)?;
        let (master, slave, tty) = match sys::openpty_raw() {
            Ok(x) => x,
            Err(e) => {
                let _ = self.evtchn.unbind(port);
                return Err(e);
            }
        };
        if let Err(e) = self.xs.write(
            XBT_NULL,
            &format!("/local/domain/{d}/console/tty"),
            tty.as_bytes(),
        ) {
            let _ = self.evtchn.unbind(port);
            return Err(e);
        }
        self.consoles.insert(
            d,
            Console {
                page,
                port,
                master,
                _slave: slave,
                tty: tty.clone(),
                bridge: ring::Bridge::default(),
                broken: false,
            },
        );
        self.ports.insert(port, d);
        self.service(d);
        let _ = self.evtchn.notify(port);
        Ok(tty)
    }

    fn forget(&mut self, d: u16) {
        if let Some(c) = self.consoles.remove(&d) {
            self.ports.remove(&c.port);
            let _ = self.evtchn.unbind(c.port);
            log(format_args!(
                "domain {d}: gone, console {} closed ({} output bytes dropped unread)",
                c.tty, c.bridge.dropped
            ));
        }
    }

    /// Moves a console's traffic: ring -> buffers -> pty, and queued input -> ring.
    fn service(&mut self, d: u16) {
        let Some(c) = self.consoles.get_mut(&d) else {
            return;
        };
        if c.broken {
            return;
        }
        match c.bridge.ring_step(&mut c.page) {
            Ok(m) => {
                if m.any() {
                    let _ = self.evtchn.notify(c.port);
                }
            }
            Err(ring::Broken) => {
                c.broken = true;
                log(format_args!(
                    "domain {d}: console ring indices broken, ignoring it"
                ));
                return;
            }
        }
        while !c.bridge.to_pty.is_empty() {
            match c.master.write(&c.bridge.to_pty) {
                Ok(0) => break,
                Ok(n) => c.bridge.wrote_to_pty(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break, // EAGAIN: nobody reads; the bridge bounds what waits
            }
        }
    }

    /// Input typed on a console's pty.
    fn pty_input(&mut self, d: u16) {
        let Some(c) = self.consoles.get_mut(&d) else {
            return;
        };
        let mut buf = [0u8; 1024];
        loop {
            match c.master.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if c.bridge.input(&buf[..n]) < n {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.service(d);
    }
}

fn connect_xs() -> io::Result<Xs> {
    let t = Instant::now();
    loop {
        match Xs::open() {
            Ok(x) => return Ok(x),
            Err(e) if t.elapsed() > Duration::from_secs(10) => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn main() {
    if let Err(e) = run() {
        log(format_args!("{e}"));
        std::process::exit(1);
    }
}

fn run() -> io::Result<()> {
    let ctx =
        |what: &'static str| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    let mut d = Daemon {
        ctrl: Ctrl::open()?,
        evtchn: Evtchn::open(libxen::EVTCHN).map_err(ctx(libxen::EVTCHN))?,
        xs: connect_xs().map_err(ctx("xenstore"))?,
        consoles: BTreeMap::new(),
        ports: BTreeMap::new(),
        failed: BTreeSet::new(),
    };
    for (path, token) in [
        ("@introduceDomain", "introduce"),
        ("@releaseDomain", "release"),
        ("/local/domain", "domains"),
    ] {
        d.xs.watch(path, token).map_err(ctx("xenstore watch"))?;
    }
    log(format_args!("watching xenstore for domain consoles"));
    loop {
        let mut fds = vec![
            libc::pollfd {
                fd: d.xs.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: d.evtchn.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let doms: Vec<u16> = d.consoles.keys().copied().collect();
        for id in &doms {
            let c = &d.consoles[id];
            let out = if c.bridge.to_pty.is_empty() {
                0
            } else {
                libc::POLLOUT
            };
            fds.push(libc::pollfd {
                fd: c.master.as_raw_fd(),
                events: libc::POLLIN | out,
                revents: 0,
            });
        }
        // No consoles: nothing to sweep, sleep until xenstore or an event says something.
        let timeout = if d.xs.has_queued_events() {
            0
        } else if d.consoles.is_empty() {
            -1
        } else {
            TICK_MS
        };
        sys::poll(&mut fds, timeout)?;

        if fds[0].revents != 0 || d.xs.has_queued_events() {
            let mut changed = false;
            while let Some(_ev) = d.xs.read_watch(Some(Duration::from_millis(1)))? {
                changed = true;
            }
            if changed {
                d.rescan();
            }
        }
        if fds[1].revents != 0 {
            for p in d.evtchn.read_pending()? {
                if let Some(&dom) = d.ports.get(&p) {
                    d.service(dom);
                }
                d.evtchn.unmask(p)?;
            }
        }
        for (k, id) in doms.iter().enumerate() {
            let r = fds[2 + k].revents;
            if r & libc::POLLIN != 0 {
                d.pty_input(*id);
            }
        }
        // Sweep: every console, event or not.
        for id in d.consoles.keys().copied().collect::<Vec<_>>() {
            d.service(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_console;

    #[test]
    fn console_nodes() {
        assert_eq!(
            parse_console(Some("233473"), Some("2")),
            Some((Some(233473), 2))
        );
        assert_eq!(parse_console(None, Some("5\n")), Some((None, 5)));
        assert_eq!(parse_console(Some("x"), Some("5")), Some((None, 5)));
        assert_eq!(parse_console(Some("1"), None), None);
        assert_eq!(parse_console(Some("1"), Some("0")), None);
        assert_eq!(parse_console(Some("1"), Some("-3")), None);
    }
}
