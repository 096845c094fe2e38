//! `xenstore-check`: dom0's end-to-end check of the running `xenstored`, through
//! `libxen::xs` over the Unix socket and over dom0's kernel (`/dev/xen/xenbus`). Prints
//! `XENITH-XS: <check> ok|FAIL ...` lines, the throughput figures, then
//! `XENITH-XS: done passed=N failed=M`; exit status 1 on any failure.
//!
//! Checks: dom0's kernel xenbus came up against the daemon (it wrote its
//! `control/feature-*` nodes, and `/dev/xen/xenbus` answers); a socket round trip; watches
//! fire (socket and xenbus); transactions conflict (`EAGAIN`) and then commit; permissions
//! refuse an unprivileged connection (`XS_CONTROL xenith-as-domain`); garbage and oversized
//! messages on the socket cost only that client; requests per second on both paths.
#![forbid(unsafe_code)]

use libxen::xs::{self, Access, Perm, Xs, XBT_NULL};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use xenstore::wire::{XsError, XS_CONTROL, XS_READ};

const PREFIX: &str = "XENITH-XS:";
/// Marks a bench request that timed out.
const STALL: &str = "no reply within";
/// A functional check's connections: a request without reply for 20 s fails it.
const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

fn sock() -> std::io::Result<Xs> {
    let mut x = Xs::open_socket(&socket())?;
    x.set_timeout(Some(CHECK_TIMEOUT));
    Ok(x)
}

fn kbus() -> std::io::Result<Xs> {
    let mut x = Xs::open_xenbus(xs::XENBUS_DEV)?;
    x.set_timeout(Some(CHECK_TIMEOUT));
    Ok(x)
}

/// The daemon's socket (`$XENSTORED_PATH` overrides, as for libxenstore).
fn socket() -> String {
    std::env::var("XENSTORED_PATH").unwrap_or_else(|_| xs::XENSTORED_SOCKET.to_string())
}

#[derive(Default)]
struct Report {
    passed: u32,
    failed: u32,
}

impl Report {
    /// A throughput figure: a timed-out request is reported as `stalled` with where the
    /// request was (not a failure of the daemon: see docs/toolstack.md, a wake-up of an idle
    /// dom0 vCPU that does not come), anything else as `check` does.
    fn bench(&mut self, name: &str, r: Result<String, String>) {
        match r {
            Err(m) if m.contains(STALL) => println!("{PREFIX} {name} stalled {m}"),
            r => self.check(name, r),
        }
    }

    fn check(&mut self, name: &str, r: Result<String, String>) {
        match r {
            Ok(m) => {
                self.passed += 1;
                println!("{PREFIX} {name} ok {m}");
            }
            Err(m) => {
                self.failed += 1;
                println!("{PREFIX} {name} FAIL {m}");
            }
        }
    }
}

fn s<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let mut r = Report::default();
    if std::env::args().nth(2).as_deref() == Some("bench") {
        r.bench("bench-socket-pinned", bench(sock, n));
        r.bench("bench-xenbus-pinned", bench(kbus, n / 4));
        std::process::exit(i32::from(r.failed > 0));
    }
    r.check("kernel-xenbus", kernel_xenbus());
    r.check("socket-roundtrip", socket_roundtrip());
    r.check("watch", watch());
    r.check("xenbus-watch", xenbus_watch());
    r.check("transaction-conflict", transaction_conflict());
    r.check("permissions", permissions());
    r.check("garbage", garbage());
    r.bench("bench-socket", bench(sock, n));
    r.bench("bench-xenbus", bench(kbus, n / 4));
    println!("{PREFIX} done passed={} failed={}", r.passed, r.failed);
    std::process::exit(i32::from(r.failed > 0));
}

/// dom0's kernel ran its xenbus probe against us: its shutdown watcher wrote
/// `control/feature-poweroff` over the ring (Linux `drivers/xen/manage.c`).
fn kernel_xenbus() -> Result<String, String> {
    let mut x = sock().map_err(s("connect"))?;
    let path = "/local/domain/0/control/feature-poweroff";
    let t = Instant::now();
    loop {
        match x.read_string(XBT_NULL, path) {
            Ok(v) if v == "1" => break,
            _ if t.elapsed() > Duration::from_secs(10) => {
                return Err(format!("{path} not written by dom0's kernel within 10 s"))
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let mut k = kbus().map_err(s("open /dev/xen/xenbus"))?;
    let name = k
        .read_string(XBT_NULL, "/local/domain/0/name")
        .map_err(s("read over /dev/xen/xenbus"))?;
    if name != "Domain-0" {
        return Err(format!("name over xenbus is {name:?}"));
    }
    Ok(format!(
        "{path}=1 after {} ms, /dev/xen/xenbus reads name={name}",
        t.elapsed().as_millis()
    ))
}

fn socket_roundtrip() -> Result<String, String> {
    let mut x = sock().map_err(s("connect"))?;
    x.write(XBT_NULL, "/xenith/test/a", b"hello")
        .map_err(s("write"))?;
    let v = x.read(XBT_NULL, "/xenith/test/a").map_err(s("read"))?;
    if v != b"hello" {
        return Err(format!("read back {v:?}"));
    }
    let d = x
        .directory(XBT_NULL, "/xenith/test")
        .map_err(s("directory"))?;
    if !d.contains(&"a".to_string()) {
        return Err(format!("directory {d:?}"));
    }
    x.rm(XBT_NULL, "/xenith/test/a").map_err(s("rm"))?;
    match x.read(XBT_NULL, "/xenith/test/a") {
        Err(e) if xs::xs_error(&e) == Some(XsError::ENOENT) => {}
        other => return Err(format!("read after rm: {other:?}")),
    }
    let p = x.get_domain_path(0).map_err(s("get_domain_path"))?;
    Ok(format!("write/read/directory/rm, domain path {p}"))
}

fn expect_event(x: &mut Xs, path: &str, token: &str) -> Result<(), String> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        match x.read_watch(Some(Duration::from_secs(1))) {
            Ok(Some(e)) if e.path == path && e.token == token => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("waiting for {path}: {e}")),
        }
    }
    Err(format!("no event for {path} ({token}) within 3 s"))
}

fn watch() -> Result<String, String> {
    let mut a = sock().map_err(s("connect"))?;
    let mut b = sock().map_err(s("connect"))?;
    a.watch("/xenith/w", "tok").map_err(s("watch"))?;
    expect_event(&mut a, "/xenith/w", "tok")?;
    let t = Instant::now();
    b.write(XBT_NULL, "/xenith/w/x", b"1").map_err(s("write"))?;
    expect_event(&mut a, "/xenith/w/x", "tok")?;
    let us = t.elapsed().as_micros();
    a.unwatch("/xenith/w", "tok").map_err(s("unwatch"))?;
    b.write(XBT_NULL, "/xenith/w/y", b"2").map_err(s("write"))?;
    if let Ok(Some(e)) = a.read_watch(Some(Duration::from_millis(300))) {
        return Err(format!("event after unwatch: {e:?}"));
    }
    Ok(format!(
        "registration + change events, none after unwatch, {us} us write->event"
    ))
}

/// Watches through dom0's kernel: the xenbus device registers a kernel watch.
fn xenbus_watch() -> Result<String, String> {
    let mut k = kbus().map_err(s("open"))?;
    let mut b = sock().map_err(s("connect"))?;
    k.watch("/xenith/kw", "ktok").map_err(s("watch"))?;
    expect_event(&mut k, "/xenith/kw", "ktok")?;
    b.write(XBT_NULL, "/xenith/kw/z", b"1")
        .map_err(s("write"))?;
    expect_event(&mut k, "/xenith/kw/z", "ktok")?;
    k.unwatch("/xenith/kw", "ktok").map_err(s("unwatch"))?;
    Ok("via /dev/xen/xenbus".into())
}

fn transaction_conflict() -> Result<String, String> {
    let mut a = sock().map_err(s("connect"))?;
    let mut b = sock().map_err(s("connect"))?;
    a.write(XBT_NULL, "/xenith/tx", b"0").map_err(s("write"))?;
    let tx = a.transaction_start().map_err(s("start"))?;
    let v = a.read(tx, "/xenith/tx").map_err(s("read in tx"))?;
    b.write(XBT_NULL, "/xenith/tx", b"other")
        .map_err(s("conflicting write"))?;
    a.write(tx, "/xenith/tx", &[v, b"+1".to_vec()].concat())
        .map_err(s("write in tx"))?;
    if a.transaction_end(tx, true).map_err(s("end"))? {
        return Err("commit succeeded despite a conflicting write".into());
    }
    // Retry: commits now.
    let tx = a.transaction_start().map_err(s("start"))?;
    let v = a.read(tx, "/xenith/tx").map_err(s("read"))?;
    a.write(tx, "/xenith/tx", &[v, b"+1".to_vec()].concat())
        .map_err(s("write"))?;
    if !a.transaction_end(tx, true).map_err(s("end"))? {
        return Err("retry conflicted".into());
    }
    let v = b.read_string(XBT_NULL, "/xenith/tx").map_err(s("read"))?;
    if v != "other+1" {
        return Err(format!("value {v:?}"));
    }
    // Abort leaves nothing.
    let tx = a.transaction_start().map_err(s("start"))?;
    a.write(tx, "/xenith/tx", b"aborted").map_err(s("write"))?;
    a.transaction_end(tx, false).map_err(s("abort"))?;
    let v = b.read_string(XBT_NULL, "/xenith/tx").map_err(s("read"))?;
    if v != "other+1" {
        return Err(format!("after abort {v:?}"));
    }
    Ok("EAGAIN on conflict, retry commits, abort discards".into())
}

fn permissions() -> Result<String, String> {
    let mut d0 = sock().map_err(s("connect"))?;
    let mut u = sock().map_err(s("connect"))?;
    d0.write(XBT_NULL, "/xenith/secret", b"s")
        .map_err(s("write"))?;
    d0.set_perms(XBT_NULL, "/xenith/secret", &[Perm::new(0, Access::None)])
        .map_err(s("set_perms"))?;
    u.request(XS_CONTROL, XBT_NULL, b"xenith-as-domain\x005\0")
        .map_err(s("XS_CONTROL xenith-as-domain 5"))?;
    let want = |r: std::io::Result<()>, what: &str| match r {
        Err(e) if xs::xs_error(&e) == Some(XsError::EACCES) => Ok(()),
        other => Err(format!("{what} as domain 5: {other:?}, want EACCES")),
    };
    want(u.read(XBT_NULL, "/xenith/secret").map(drop), "read")?;
    want(u.write(XBT_NULL, "/xenith/secret", b"x"), "write")?;
    want(u.introduce(7, 1, 1), "introduce")?;
    d0.set_perms(
        XBT_NULL,
        "/xenith/secret",
        &[Perm::new(0, Access::None), Perm::new(5, Access::Read)],
    )
    .map_err(s("set_perms"))?;
    let v = u
        .read(XBT_NULL, "/xenith/secret")
        .map_err(s("read after r5"))?;
    if v != b"s" {
        return Err(format!("read {v:?}"));
    }
    want(u.write(XBT_NULL, "/xenith/secret", b"x"), "write with r5")?;
    Ok("n0 refuses read/write/introduce to domain 5, r5 lets it read only".into())
}

/// Garbage and an oversized message on one socket; the daemon answers or drops that
/// client, and a fresh client is served.
fn garbage() -> Result<String, String> {
    let mut g = sock().map_err(s("connect"))?;
    // Unknown type, and a READ without its nul: error replies, connection kept.
    match g.request(0x4242, XBT_NULL, b"junk") {
        Err(e) if xs::xs_error(&e).is_some() => {}
        other => return Err(format!("unknown type: {other:?}")),
    }
    match g.request(XS_READ, XBT_NULL, b"/no/nul") {
        Err(e) if xs::xs_error(&e) == Some(XsError::EINVAL) => {}
        other => return Err(format!("READ without nul: {other:?}")),
    }
    // Random bytes, then an oversized header: the daemon must drop this client.
    let mut raw = UnixStream::connect(socket()).map_err(s("connect"))?;
    let mut x: u32 = 0x1234_5678;
    let mut junk = Vec::new();
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        junk.push(x as u8);
    }
    // An oversized header right away (a random one may announce a long payload first).
    let mut over = vec![0u8; 16];
    over[0..4].copy_from_slice(&11u32.to_le_bytes());
    over[12..16].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    use std::io::Write;
    raw.write_all(&over).map_err(s("send"))?;
    let _ = raw.write_all(&junk);
    raw.set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(s("timeout"))?;
    let mut buf = [0u8; 64];
    let closed = loop {
        match raw.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    if !closed {
        return Err("oversized message did not drop the client within 3 s".into());
    }
    let mut f = sock().map_err(s("connect after garbage"))?;
    let v = f
        .read_string(XBT_NULL, "/local/domain/0/name")
        .map_err(s("read after garbage"))?;
    if v != "Domain-0" {
        return Err(format!("name {v:?}"));
    }
    // The first client is still served too.
    g.read(XBT_NULL, "/local/domain/0/name")
        .map_err(s("old client after garbage"))?;
    Ok("error replies, oversized client dropped, others still answered".into())
}

/// `n` writes then `n` reads of one node: requests per second.
fn bench(open: impl Fn() -> std::io::Result<Xs>, n: u32) -> Result<String, String> {
    let mut x = open().map_err(s("open"))?;
    x.set_timeout(Some(Duration::from_secs(10)));
    let path = "/xenith/bench";
    let t = Instant::now();
    for i in 0..n {
        x.write(XBT_NULL, path, format!("{i}").as_bytes())
            .map_err(|e| bench_err("write", i, e))?;
    }
    let w = t.elapsed();
    let t = Instant::now();
    for i in 0..n {
        x.read(XBT_NULL, path)
            .map_err(|e| bench_err("read", i, e))?;
    }
    let r = t.elapsed();
    let rate = |d: Duration| f64::from(n) / d.as_secs_f64().max(1e-9);
    Ok(format!(
        "{n} writes {:.0}/s, {n} reads {:.0}/s",
        rate(w),
        rate(r)
    ))
}

fn bench_err(what: &str, i: u32, e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::TimedOut {
        format!("{what} {i}: {STALL} 10 s; {}", dom0_ring_state())
    } else {
        format!("{what} {i}: {e}")
    }
}

/// dom0's kernel xenstore ring as it is now (a second mapping of the page through
/// `/dev/xen/xenbus_backend`): where a stuck request is.
fn dom0_ring_state() -> String {
    use xenstore::ring::*;
    let m = libxen::XenbusBackend::open(libxen::XenbusBackend::PATH).and_then(|b| b.map());
    match m {
        Ok(m) => format!(
            "dom0 ring req cons/prod {}/{}, rsp cons/prod {}/{}",
            m.load_u32(REQ_CONS_OFFSET),
            m.load_u32(REQ_PROD_OFFSET),
            m.load_u32(RSP_CONS_OFFSET),
            m.load_u32(RSP_PROD_OFFSET)
        ),
        Err(e) => format!("dom0 ring not readable: {e}"),
    }
}
