//! `xen-check`: dom0's view of the Xen device interface, checked from userspace.
//!
//! Runs in dom0's initramfs (`/bin/xen-check`, static `aarch64-unknown-linux-musl`) once the Xen
//! modules are loaded (`xen-evtchn`, `xenfs`, `xen-privcmd`, `xen-gntdev`, `xen-gntalloc`), and
//! prints one line per check, `XENITH-XEN: <check> ok|FAIL ...`, then
//! `XENITH-XEN: done passed=N failed=M`; exit status 1 on any failure. Not on Xen
//! (`/sys/hypervisor/type` is not `xen`) it prints `XENITH-XEN: skipped (not on Xen)`, unless
//! run as `xen-check --force`. The unsafe code (ioctl, poll, mount) is all in `sys`.
//!
//! What it checks, against Linux's drivers (`drivers/xen/{privcmd,evtchn,xenfs}`) and Xen's
//! public ABI (`xen/include/public/{xen,version,event_channel}.h`):
//! - `/proc/xen` is xenfs (mounted here if needed) and `capabilities` says `control_d`;
//! - the `/dev/xen/*` character devices exist and open;
//! - `IOCTL_PRIVCMD_HYPERCALL` runs `xen_version` (version, extraversion, capabilities, pagesize)
//!   and returns Xen's errors (unknown hypercall, unknown sub-op, bad buffer);
//! - `/dev/xen/evtchn`: a loopback pair of dom0 ports (unbound + interdomain), events both ways
//!   read back from the device, the driver's and Xen's errors on bad ports;
//! - the wall time of 1000 `xen_version` round trips, in ns per call (a benchmark figure).

mod gnt;
use libxen::sys;

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::time::{Duration, Instant};
use sys::{Evtchn, Privcmd, XENVER_pagesize, XENVER_version, XenverString};

/// The version Xenith reports, as Xen 4.17 does.
const XEN_4_17: i32 = 0x4_0011;
/// Not a hypercall number (Xen answers -ENOSYS beyond its table).
const BAD_HYPERCALL: u64 = 999;
/// Not a `xen_version` sub-op.
const BAD_XENVER: u64 = 0x7fff;
/// Beyond any event-channel ABI's port space (2-level: 4096 on 64-bit; FIFO: 2^17).
const BAD_PORT: u32 = 1 << 20;
/// No such domain (below `DOMID_FIRST_RESERVED`, never created in these tests).
const NO_DOMAIN: u32 = 0x7000;
/// Calls timed for the benchmark figure.
const BENCH_CALLS: u32 = 1000;

const PREFIX: &str = "XENITH-XEN:";
const PRIVCMD: &str = "/dev/xen/privcmd";
const EVTCHN: &str = "/dev/xen/evtchn";
const DEVICES: &[&str] = &[
    "privcmd",
    "evtchn",
    "gntdev",
    "gntalloc",
    "xenbus",
    "xenbus_backend",
];
const EVENT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Report {
    passed: u32,
    failed: u32,
}

impl Report {
    fn check(&mut self, name: &str, r: Result<String, String>) {
        match r {
            Ok(msg) => {
                self.passed += 1;
                println!("{PREFIX} {name} ok {msg}");
            }
            Err(msg) => {
                self.failed += 1;
                println!("{PREFIX} {name} FAIL {msg}");
            }
        }
    }
}

fn main() {
    let hv = read_trim("/sys/hypervisor/type").unwrap_or_default();
    if hv != "xen" && !std::env::args().any(|a| a == "--force") {
        println!("{PREFIX} skipped (not on Xen)");
        return;
    }
    let mut r = Report::default();
    r.check("sysfs", check_sysfs());
    r.check("xenfs", check_xenfs());
    r.check("devices", check_devices());
    match Privcmd::open(PRIVCMD) {
        Err(e) => r.check("privcmd", Err(format!("open {PRIVCMD}: {e}"))),
        Ok(p) => {
            r.check("xen_version", check_version(&p));
            r.check("extraversion", check_extraversion(&p));
            r.check("capabilities", check_capabilities(&p));
            r.check("pagesize", check_pagesize(&p));
            r.check("privcmd-errors", check_privcmd_errors(&p));
            r.check("bench", bench(&p));
        }
    }
    match Evtchn::open(EVTCHN) {
        Err(e) => r.check("evtchn", Err(format!("open {EVTCHN}: {e}"))),
        Ok(mut ev) => {
            r.check("evtchn-loopback", check_evtchn_loopback(&mut ev));
            r.check("evtchn-errors", check_evtchn_errors(&ev));
        }
    }
    gnt::checks(&mut r);
    println!("{PREFIX} done passed={} failed={}", r.passed, r.failed);
    if r.failed > 0 {
        std::process::exit(1);
    }
}

fn read_trim(path: &str) -> io::Result<String> {
    std::fs::read_to_string(path).map(|s| s.trim().to_string())
}

/// `/sys/hypervisor/version/*` (drivers/xen/sys-hypervisor.c) says 4.17.
fn check_sysfs() -> Result<String, String> {
    let get = |f: &str| {
        read_trim(&format!("/sys/hypervisor/version/{f}")).map_err(|e| format!("{f}: {e}"))
    };
    let (major, minor, extra) = (get("major")?, get("minor")?, get("extra")?);
    let v = format!("{major}.{minor}{extra}");
    if (major.as_str(), minor.as_str()) == ("4", "17") {
        Ok(format!("version={v}"))
    } else {
        Err(format!("version={v}, want 4.17"))
    }
}

/// `/proc/xen` is a xenfs mount (mounted here when it is not) whose `capabilities` holds
/// `control_d` (dom0).
fn check_xenfs() -> Result<String, String> {
    let mounted = || {
        std::fs::read_to_string("/proc/mounts")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some("/proc/xen"))
    };
    let mut how = "already mounted";
    if !mounted() {
        if !std::path::Path::new("/proc/xen").is_dir() {
            return Err("no /proc/xen directory (is the xenfs module loaded?)".into());
        }
        sys::mount_xenfs("/proc/xen").map_err(|e| format!("mount -t xenfs: {e}"))?;
        how = "mounted";
    }
    let caps =
        read_trim("/proc/xen/capabilities").map_err(|e| format!("/proc/xen/capabilities: {e}"))?;
    if caps.split_whitespace().any(|c| c == "control_d") {
        Ok(format!("{how}, capabilities={caps}"))
    } else {
        Err(format!("capabilities={caps:?}, want control_d"))
    }
}

/// Every `/dev/xen/<name>` is a character device that opens read-write. devtmpfs creates the
/// nodes as the drivers register, so they get a second to appear.
fn check_devices() -> Result<String, String> {
    let mut bad = Vec::new();
    for name in DEVICES {
        let path = format!("/dev/xen/{name}");
        let t0 = Instant::now();
        let meta = loop {
            match std::fs::metadata(&path) {
                Ok(m) => break Ok(m),
                Err(e) if t0.elapsed() > Duration::from_secs(1) => break Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        match meta {
            Err(e) => bad.push(format!("{path}: {e}")),
            Ok(m) if !m.file_type().is_char_device() => bad.push(format!("{path}: not a chardev")),
            Ok(_) => {
                if let Err(e) = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                {
                    bad.push(format!("open {path}: {e}"));
                }
            }
        }
    }
    if bad.is_empty() {
        Ok(DEVICES.join(","))
    } else {
        Err(bad.join("; "))
    }
}

fn xen_version(p: &Privcmd, cmd: u64) -> io::Result<i32> {
    p.xen_version(cmd)
}

fn check_version(p: &Privcmd) -> Result<String, String> {
    let v = xen_version(p, XENVER_version).map_err(|e| format!("XENVER_version: {e}"))?;
    let s = format!("{v:#x} ({}.{})", v >> 16, v & 0xffff);
    if v == XEN_4_17 {
        Ok(s)
    } else {
        Err(format!("{s}, want {XEN_4_17:#x}"))
    }
}

/// `XENVER_extraversion` into a user buffer; it must match what the kernel reports in sysfs.
fn check_extraversion(p: &Privcmd) -> Result<String, String> {
    let (r, extra) = p
        .xen_version_string(XenverString::Extraversion)
        .map_err(|e| format!("XENVER_extraversion: {e}"))?;
    let sysfs = read_trim("/sys/hypervisor/version/extra").unwrap_or_default();
    if r != 0 {
        Err(format!("returned {r}, want 0 ({extra:?})"))
    } else if extra != sysfs {
        Err(format!(
            "{extra:?} but /sys/hypervisor/version/extra is {sysfs:?}"
        ))
    } else {
        Ok(format!("{extra:?}"))
    }
}

/// `XENVER_capabilities`: an AArch64 Xen lists `xen-3.0-aarch64`.
fn check_capabilities(p: &Privcmd) -> Result<String, String> {
    let (_, caps) = p
        .xen_version_string(XenverString::Capabilities)
        .map_err(|e| format!("XENVER_capabilities: {e}"))?;
    if caps.split_whitespace().any(|c| c == "xen-3.0-aarch64") {
        Ok(format!("{caps:?}"))
    } else {
        Err(format!("{caps:?}, want xen-3.0-aarch64 in it"))
    }
}

fn check_pagesize(p: &Privcmd) -> Result<String, String> {
    match xen_version(p, XENVER_pagesize) {
        Ok(4096) => Ok("4096".into()),
        Ok(n) => Err(format!("{n}, want 4096")),
        Err(e) => Err(format!("XENVER_pagesize: {e}")),
    }
}

/// `Ok(())` when `r` failed with `want` (an errno), else what happened instead.
fn expect_errno<T: std::fmt::Debug>(what: &str, r: io::Result<T>, want: i32) -> Result<(), String> {
    match r {
        Err(e) if e.raw_os_error() == Some(want) => Ok(()),
        Err(e) => Err(format!("{what}: got {e}, want {}", errno_name(want))),
        Ok(v) => Err(format!(
            "{what}: succeeded ({v:?}), want {}",
            errno_name(want)
        )),
    }
}

fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EINVAL => "EINVAL",
        libc::ENOSYS => "ENOSYS",
        libc::EFAULT => "EFAULT",
        libc::ENOTCONN => "ENOTCONN",
        libc::ESRCH => "ESRCH",
        _ => "another errno",
    }
}

/// Xen's errors come back through privcmd as the ioctl's errno.
fn check_privcmd_errors(p: &Privcmd) -> Result<String, String> {
    let mut fails = Vec::new();
    let mut push = |r: Result<(), String>| {
        if let Err(e) = r {
            fails.push(e);
        }
    };
    push(expect_errno(
        "hypercall 999",
        // SAFETY: no hypercall 999 exists, and no argument is a pointer anyway.
        unsafe { p.hypercall(BAD_HYPERCALL, [0; 5]) },
        libc::ENOSYS,
    ));
    push(expect_errno(
        "xen_version 0x7fff",
        xen_version(p, BAD_XENVER),
        libc::ENOSYS,
    ));
    push(expect_errno(
        "XENVER_extraversion to NULL",
        xen_version(p, sys::XENVER_extraversion),
        libc::EFAULT,
    ));
    if fails.is_empty() {
        Ok("ENOSYS (bad hypercall), ENOSYS (bad sub-op), EFAULT (NULL buffer)".into())
    } else {
        Err(fails.join("; "))
    }
}

/// The wall time of `BENCH_CALLS` `XENVER_version` calls through privcmd.
fn bench(p: &Privcmd) -> Result<String, String> {
    for _ in 0..10 {
        xen_version(p, XENVER_version).map_err(|e| e.to_string())?;
    }
    let t0 = Instant::now();
    for _ in 0..BENCH_CALLS {
        xen_version(p, XENVER_version).map_err(|e| e.to_string())?;
    }
    let ns = t0.elapsed().as_nanos() / u128::from(BENCH_CALLS);
    // The same loop over a plain syscall (musl's getpid is one): the kernel-entry share.
    let t0 = Instant::now();
    let mut x = 0u32;
    for _ in 0..BENCH_CALLS {
        x ^= std::hint::black_box(std::process::id());
    }
    std::hint::black_box(x);
    let sys_ns = t0.elapsed().as_nanos() / u128::from(BENCH_CALLS);
    Ok(format!(
        "privcmd_xen_version_ns={ns} getpid_ns={sys_ns} ({BENCH_CALLS} calls each, wall clock)"
    ))
}

/// Waits until `ev` has delivered exactly the ports `want` (in any order, possibly over several
/// reads), unmasking each; returns how long it took.
fn expect_events(ev: &mut Evtchn, want: &[u32]) -> Result<Duration, String> {
    let t0 = Instant::now();
    let mut got: Vec<u32> = Vec::new();
    while !want.iter().all(|p| got.contains(p)) {
        let left = EVENT_TIMEOUT.saturating_sub(t0.elapsed());
        let ports = ev.wait(left).map_err(|e| format!("read: {e}"))?;
        if ports.is_empty() {
            return Err(format!(
                "events on {want:?} within {EVENT_TIMEOUT:?}: only {got:?} arrived"
            ));
        }
        for p in &ports {
            ev.unmask(*p).map_err(|e| format!("unmask {p}: {e}"))?;
        }
        got.extend(ports);
    }
    let dt = t0.elapsed();
    got.sort_unstable();
    let mut w = want.to_vec();
    w.sort_unstable();
    if got != w {
        return Err(format!("read ports {got:?}, want {w:?}"));
    }
    Ok(dt)
}

/// Two dom0 ports joined to each other: A unbound for dom0, B bound to A; B -> A, then A -> B.
///
/// Xen's `EVTCHNOP_bind_interdomain` marks the new local port pending ("we may have lost
/// notifications on the remote unbound port", xen/common/event_channel.c), so B's first event
/// comes from the bind itself.
fn check_evtchn_loopback(ev: &mut Evtchn) -> Result<String, String> {
    let a = ev
        .bind_unbound_port(0)
        .map_err(|e| format!("BIND_UNBOUND_PORT(remote 0): {e}"))?;
    let b = match ev.bind_interdomain(0, a) {
        Ok(b) => b,
        Err(e) => {
            let _ = ev.unbind(a);
            return Err(format!("BIND_INTERDOMAIN(0, {a}): {e}"));
        }
    };
    let res = (|| {
        if a == b {
            return Err(format!("both ends are port {a}"));
        }
        expect_events(ev, &[b]).map_err(|e| format!("after the bind: {e}"))?;
        ev.notify(b).map_err(|e| format!("NOTIFY {b}: {e}"))?;
        let t_ba = expect_events(ev, &[a]).map_err(|e| format!("NOTIFY {b}: {e}"))?;
        ev.notify(a).map_err(|e| format!("NOTIFY {a}: {e}"))?;
        let t_ab = expect_events(ev, &[b]).map_err(|e| format!("NOTIFY {a}: {e}"))?;
        // Both directions at once, each delivered once.
        ev.notify(a).map_err(|e| format!("NOTIFY {a}: {e}"))?;
        ev.notify(b).map_err(|e| format!("NOTIFY {b}: {e}"))?;
        expect_events(ev, &[a, b]).map_err(|e| format!("NOTIFY both: {e}"))?;
        let spurious = ev.wait(Duration::ZERO).map_err(|e| format!("read: {e}"))?;
        if !spurious.is_empty() {
            return Err(format!(
                "unexpected events {spurious:?} after the round trips"
            ));
        }
        Ok(format!(
            "ports A={a} B={b}, bind->B, B->A {} us, A->B {} us",
            t_ba.as_micros(),
            t_ab.as_micros()
        ))
    })();
    let ua = ev.unbind(a);
    let ub = ev.unbind(b);
    let msg = res?;
    ua.map_err(|e| format!("UNBIND {a}: {e}"))?;
    ub.map_err(|e| format!("UNBIND {b}: {e}"))?;
    // Unbound now: the driver no longer knows them.
    expect_errno("NOTIFY of an unbound port", ev.notify(a), libc::ENOTCONN)?;
    Ok(msg)
}

/// The driver's checks (port range, ports of this file) and Xen's (bad remote port/domain).
fn check_evtchn_errors(ev: &Evtchn) -> Result<String, String> {
    let mut fails = Vec::new();
    let mut push = |r: Result<(), String>| {
        if let Err(e) = r {
            fails.push(e);
        }
    };
    // Linux checks the range on UNBIND only; NOTIFY just looks the port up among this file's.
    push(expect_errno(
        "NOTIFY 1<<20",
        ev.notify(BAD_PORT),
        libc::ENOTCONN,
    ));
    push(expect_errno(
        "UNBIND 1<<20",
        ev.unbind(BAD_PORT),
        libc::EINVAL,
    ));
    push(expect_errno("NOTIFY 99", ev.notify(99), libc::ENOTCONN));
    push(expect_errno("UNBIND 99", ev.unbind(99), libc::ENOTCONN));
    push(expect_errno(
        "BIND_INTERDOMAIN(0, 1<<20)",
        ev.bind_interdomain(0, BAD_PORT),
        libc::EINVAL,
    ));
    push(expect_errno(
        "BIND_INTERDOMAIN(0x7000, 1)",
        ev.bind_interdomain(NO_DOMAIN, 1),
        libc::ESRCH,
    ));
    if fails.is_empty() {
        Ok(
            "ENOTCONN (NOTIFY: out of range or not ours), EINVAL (UNBIND: out of range), \
             ENOTCONN (UNBIND: not ours), EINVAL (bad remote port), ESRCH (no domain)"
                .into(),
        )
    } else {
        Err(fails.join("; "))
    }
}
