//! `xl`: Xenith's toolstack in dom0, used as Xen's `xl` (`tools/xl` of Xen 4.17).
//!
//! Commands: `create [-c] [-p] cfg [key=value...]`, `list [dom...]`, `console [-t pv] dom`,
//! `shutdown [-w] dom`, `reboot [-w] dom`, `destroy dom`, `pause dom`, `unpause dom`, `info`,
//! `dmesg [-c]`, `debug-keys keys`, and one Xenith extension, `pages [dom...]` (exact page
//! counts for benchmarks). Domains are named by name or id. After `create`, a background `xl` per
//! domain (as Xen's xl) waits for the domain to shut down and applies `on_poweroff`,
//! `on_reboot` and `on_crash`; it logs to `/var/log/xen/xl-<name>.log`.
//!
//! The logic is in modules tested on the host: [`build`] (the domain builder, over the
//! [`build::Hyp`] and [`build::Store`] interfaces), [`plan`], [`image`], [`xsent`], [`show`].
#![forbid(unsafe_code)]

mod build;
mod image;
mod live;
mod plan;
mod show;
mod xsent;

use libxen::ctrl::{shutdown_reason, Ctrl};
use libxen::xs::XBT_NULL;
use live::{LiveHyp, LiveStore};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use xlcfg::{Action, DomainConfig};

const USAGE: &str = "Usage: xl <subcommand> [args]

 create [-c] [-p] <cfg> [key=value...]  create a domain from an xl.cfg file
 list [dom...]                           list domains
 console [-t pv] <dom>                   attach to a domain's console (CTRL-] detaches)
 shutdown [-w] <dom>                     ask a domain to power off (-w: wait until it is gone)
 reboot [-w] <dom>                       ask a domain to reboot
 destroy <dom>                           terminate a domain immediately
 pause <dom> / unpause <dom>             pause or unpause a domain
 info                                    information about the host and the hypervisor
 domid <name> / domname <id>             a domain's id from its name, or its name from its id
 dmesg [-c]                              the hypervisor's console ring (-c: clear it)
 debug-keys <keys>                       run the hypervisor's debug-key handlers (see xl dmesg)
 pages [dom...]                          (Xenith extension) free and total pages of the host,
                                         tot_pages, max_pages (and the stage-2 pool where
                                         the hypervisor has one) of each domain, in pages
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(1);
    };
    let r = match cmd.as_str() {
        "create" => cmd_create(rest),
        "list" | "li" => cmd_list(rest),
        "console" => cmd_console(rest),
        "shutdown" => cmd_shutdown(rest, "poweroff"),
        "reboot" => cmd_shutdown(rest, "reboot"),
        "destroy" => cmd_simple(rest, "destroy"),
        "pause" => cmd_simple(rest, "pause"),
        "unpause" => cmd_simple(rest, "unpause"),
        "info" => cmd_info(),
        "domid" | "domname" => cmd_domid(rest, cmd == "domname"),
        "dmesg" => cmd_dmesg(rest),
        "debug-keys" => cmd_debug_keys(rest),
        "pages" => cmd_pages(rest),
        "__monitor" => cmd_monitor(rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("'{other}' is not a valid command\n{USAGE}")),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xl: {e}");
            ExitCode::from(1)
        }
    }
}

fn ctrl() -> Result<Ctrl, String> {
    Ctrl::open().map_err(|e| e.to_string())
}

fn store() -> Result<LiveStore, String> {
    LiveStore::open().map_err(|e| e.to_string())
}

/// `(domid, name)` of every domain (names from `/local/domain/N/name`).
fn names(c: &Ctrl, xs: &mut LiveStore) -> Result<Vec<(u16, String)>, String> {
    let list = c.domain_list().map_err(|e| e.to_string())?;
    Ok(list
        .iter()
        .map(|d| (d.domain, name_of(xs, d.domain)))
        .collect())
}

fn name_of(xs: &mut LiveStore, domid: u16) -> String {
    match xs.read(&format!("/local/domain/{domid}/name")) {
        Some(n) => n,
        None if domid == 0 => "Domain-0".into(),
        None => "(null)".into(),
    }
}

fn domain_arg(c: &Ctrl, xs: &mut LiveStore, arg: Option<&String>) -> Result<u16, String> {
    let arg = arg.ok_or("a domain (name or id) is required")?;
    show::resolve(arg, &names(c, xs)?)
}

/// Reads and parses an xl.cfg file, `key=value` arguments appended as lines (as xl's
/// `extra_config`).
fn load_config(path: &str, extra: &[String]) -> Result<DomainConfig, String> {
    let mut src =
        std::fs::read(path).map_err(|e| format!("cannot read config file {path}: {e}"))?;
    for kv in extra {
        src.push(b'\n');
        src.extend_from_slice(kv.as_bytes());
    }
    src.push(b'\n');
    let (cfg, warnings) =
        xlcfg::parse_domain(&src).map_err(|e| format!("config file {path}: {e}"))?;
    for w in warnings {
        eprintln!("{path}:{}: warning: {}", w.line, w.message);
    }
    for (n, what) in [(cfg.disks.len(), "disk"), (cfg.vifs.len(), "vif")] {
        if n > 0 {
            eprintln!(
                "{path}: warning: {n} {what} entries ignored: dom0 has no {what} backend yet"
            );
        }
    }
    Ok(cfg)
}

fn random_uuid() -> [u8; 16] {
    let mut u = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut u);
    }
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    u
}

fn now_string() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:02}", t.as_secs(), t.subsec_millis() / 10)
}

/// Builds `cfg` into a running (or paused) domain; returns its domid.
fn create_domain(cfg: &DomainConfig, paused: bool) -> Result<u16, String> {
    let kernel_file = std::fs::read(&cfg.kernel)
        .map_err(|e| format!("cannot read kernel {}: {e}", cfg.kernel))?;
    let kernel =
        image::load_kernel(&kernel_file).map_err(|e| format!("kernel {}: {e}", cfg.kernel))?;
    drop(kernel_file);
    let ramdisk = match &cfg.ramdisk {
        Some(p) => Some(std::fs::read(p).map_err(|e| format!("cannot read ramdisk {p}: {e}"))?),
        None => None,
    };
    let uuid = cfg.uuid.map_or_else(random_uuid, |u| u.0);
    let mut hyp = LiveHyp { ctrl: ctrl()? };
    let mut xs = store()?;
    if names(&hyp.ctrl, &mut xs)?
        .iter()
        .any(|(_, n)| *n == cfg.name)
    {
        return Err(format!("domain '{}' already exists", cfg.name));
    }
    let req = build::Request {
        name: &cfg.name,
        uuid,
        memory_mib: cfg.memory_mib,
        maxmem_mib: cfg.maxmem_mib,
        vcpus: cfg.vcpus,
        max_vcpus: cfg.maxvcpus.max(cfg.vcpus),
        kernel: &kernel,
        ramdisk: ramdisk.as_deref(),
        cmdline: cfg.cmdline.as_deref(),
        start_time: now_string(),
        paused,
    };
    let b = build::build(&mut hyp, &mut xs, &req, &make_dtb).map_err(|e| e.to_string())?;
    Ok(b.domid)
}

/// The domU's DT from xen_dt::domu, as libxl's `libxl__prepare_dtb`.
fn make_dtb(i: &build::DtInputs) -> Result<Vec<u8>, String> {
    use xen_abi::domctl::XEN_DOMCTL_CONFIG_GIC_V2;
    use xen_dt::domu::{build_domu, DomUConfig, Flavour, GuestGic};
    let gic = if i.gic_version == XEN_DOMCTL_CONFIG_GIC_V2 {
        GuestGic::V2
    } else {
        GuestGic::V3_LIBXL
    };
    let mut c =
        DomUConfig::new(Flavour::Libxl, i.vcpus, i.mem_bytes, gic).map_err(|e| e.to_string())?;
    c.bootargs = i.bootargs.clone();
    c.initrd = i.initrd.map(|(a, l)| addr::Region::new(addr::Pa(a), l));
    c.timer_clock_frequency = (i.clock_frequency != 0).then_some(i.clock_frequency);
    let mut seed = vec![0u8; 128];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut seed);
    }
    c.rng_seed = Some(seed);
    build_domu(&c).map_err(|e| e.to_string())
}

fn cmd_create(args: &[String]) -> Result<(), String> {
    let (mut console, mut paused) = (false, false);
    let mut rest = Vec::new();
    for a in args {
        match a.as_str() {
            "-c" => console = true,
            "-p" => paused = true,
            "-q" | "-F" | "-e" => {}
            s if s.starts_with('-') && rest.is_empty() => {
                return Err(format!("create: unknown option {s}"))
            }
            _ => rest.push(a.clone()),
        }
    }
    let (path, extra) = rest
        .split_first()
        .ok_or("create: a config file is required")?;
    let cfg = load_config(path, extra)?;
    println!("Parsing config from {path}");
    let t0 = Instant::now();
    let domid = create_domain(&cfg, paused)?;
    eprintln!(
        "xl: domain {} ({domid}) created in {:.2} s",
        cfg.name,
        t0.elapsed().as_secs_f64()
    );
    spawn_monitor(domid, path, extra, &cfg.name);
    if console {
        return attach_console(domid);
    }
    Ok(())
}

/// Starts `xl __monitor` in the background for `domid`, as Xen's xl forks its daemon.
fn spawn_monitor(domid: u16, path: &str, extra: &[String], name: &str) {
    use std::os::unix::process::CommandExt;
    let _ = std::fs::create_dir_all("/var/log/xen");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(format!("/var/log/xen/xl-{name}.log"));
    let exe = std::env::current_exe().unwrap_or_else(|_| "/bin/xl".into());
    let mut c = std::process::Command::new(exe);
    c.arg("__monitor")
        .arg(domid.to_string())
        .arg(path)
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .process_group(0);
    match log {
        Ok(f) => {
            c.stderr(f);
        }
        Err(_) => {
            c.stderr(std::process::Stdio::null());
        }
    }
    if let Err(e) = c.spawn() {
        eprintln!("xl: warning: cannot start the domain monitor: {e}");
    }
}

/// The background process: waits for `@releaseDomain` (and checks every second in case a
/// watch is missed), then applies the configured action for the shutdown reason.
fn cmd_monitor(args: &[String]) -> Result<(), String> {
    let mut domid: u16 = args
        .first()
        .and_then(|s| s.parse().ok())
        .ok_or("__monitor: domid")?;
    let path = args.get(1).ok_or("__monitor: config")?;
    let extra = &args[2.min(args.len())..];
    let c = ctrl()?;
    let mut xs = store()?;
    let _ = xs.xs.watch("@releaseDomain", "xl-monitor");
    let log = |m: String| eprintln!("{m}");
    log(format!(
        "Waiting for domain {domid} to die [pid {}]",
        std::process::id()
    ));
    loop {
        let _ = xs.xs.read_watch(Some(Duration::from_secs(1)));
        let info = match c.getdomaininfo(domid) {
            Ok(i) => i,
            Err(_) => {
                log(format!("Domain {domid} has been destroyed."));
                cleanup(&mut xs, domid);
                return Ok(());
            }
        };
        let Some(reason) = shutdown_reason(&info) else {
            continue;
        };
        let cfg = load_config(path, extra)?;
        let action = match reason {
            0 => cfg.on_poweroff,
            1 => cfg.on_reboot,
            3 => cfg.on_crash,
            4 => cfg.on_watchdog,
            5 => cfg.on_soft_reset,
            _ => continue,
        };
        log(format!(
            "Domain {domid} has shut down, reason code {reason} {reason:#x}"
        ));
        log(format!(
            "Action for shutdown reason code {reason} is {}",
            action.name()
        ));
        match action {
            Action::Preserve => {
                log("Done. Exiting now (domain preserved)".into());
                return Ok(());
            }
            Action::Restart | Action::RenameRestart | Action::CoredumpRestart => {
                log(format!(
                    "Domain {domid} needs to be cleaned up: destroying the domain"
                ));
                let _ = c.destroy(domid);
                cleanup(&mut xs, domid);
                match create_domain(&cfg, false) {
                    Ok(d) => {
                        log(format!("Domain {domid} restarted as domain {d}"));
                        domid = d;
                    }
                    Err(e) => {
                        log(format!("Restarting domain {domid} failed: {e}"));
                        return Err(e);
                    }
                }
            }
            _ => {
                log(format!(
                    "Domain {domid} needs to be cleaned up: destroying the domain"
                ));
                let _ = c.destroy(domid);
                cleanup(&mut xs, domid);
                log("Done. Exiting now".into());
                return Ok(());
            }
        }
    }
}

/// Removes a destroyed domain's xenstore entries (`libxl__destroy_domid`).
fn cleanup(xs: &mut LiveStore, domid: u16) {
    use build::Store;
    let vm = xs.read(&format!("/local/domain/{domid}/vm"));
    let _ = xs.apply(&xsent::cleanup(domid, vm.as_deref()));
    let _ = xs.xs.release(domid);
}

fn cmd_list(args: &[String]) -> Result<(), String> {
    let c = ctrl()?;
    let mut xs = store()?;
    let all = c.domain_list().map_err(|e| e.to_string())?;
    let named: Vec<(u16, String)> = all
        .iter()
        .map(|d| (d.domain, name_of(&mut xs, d.domain)))
        .collect();
    let wanted: Vec<u16> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(|a| show::resolve(a, &named))
        .collect::<Result<_, _>>()?;
    println!("{}", show::LIST_HEADER);
    for (d, (_, name)) in all.iter().zip(&named) {
        if wanted.is_empty() || wanted.contains(&d.domain) {
            println!("{}", show::list_line(name, d));
        }
    }
    Ok(())
}

/// `xl debug-keys <keys>` (`xl_misc.c`'s `main_debug_keys`).
fn cmd_debug_keys(args: &[String]) -> Result<(), String> {
    let keys = args.first().ok_or("debug-keys: the keys are required")?;
    ctrl()?
        .debug_keys(keys.as_bytes())
        .map_err(|e| format!("cannot send debug keys: {e}"))
}

/// `xl pages [dom...]`: what `xl info` and `xl list` round to MiB, exactly, in pages (a
/// Xenith extension for the benchmarks: Xen's xl has no such command).
fn cmd_pages(args: &[String]) -> Result<(), String> {
    let c = ctrl()?;
    let mut xs = store()?;
    let p = c.physinfo().map_err(|e| e.to_string())?;
    println!("free_pages {}", p.free_pages);
    println!("total_pages {}", p.total_pages);
    println!("outstanding_pages {}", p.outstanding_pages);
    let all = c.domain_list().map_err(|e| e.to_string())?;
    let named: Vec<(u16, String)> = all
        .iter()
        .map(|d| (d.domain, name_of(&mut xs, d.domain)))
        .collect();
    let wanted: Vec<u16> = args
        .iter()
        .map(|a| show::resolve(a, &named))
        .collect::<Result<_, _>>()?;
    for (d, (_, name)) in all.iter().zip(&named) {
        if wanted.is_empty() || wanted.contains(&d.domain) {
            // Xen's stage-2 table pool, where the hypervisor has one (Xenith has none: -ENOSYS).
            let pool = c
                .get_paging_mempool_size(d.domain)
                .map_or(String::new(), |b| {
                    format!(" paging_mempool_pages {}", b >> 12)
                });
            println!(
                "domain {} {name} tot_pages {} max_pages {}{pool}",
                d.domain, d.tot_pages, d.max_pages
            );
        }
    }
    Ok(())
}

fn cmd_simple(args: &[String], what: &str) -> Result<(), String> {
    let c = ctrl()?;
    let mut xs = store()?;
    let domid = domain_arg(&c, &mut xs, args.iter().find(|a| !a.starts_with('-')))?;
    if domid == 0 {
        return Err(format!("{what}: refusing to {what} domain 0"));
    }
    match what {
        "destroy" => {
            c.destroy(domid).map_err(|e| e.to_string())?;
            cleanup(&mut xs, domid);
        }
        "pause" => c.pause(domid).map_err(|e| e.to_string())?,
        _ => c.unpause(domid).map_err(|e| e.to_string())?,
    }
    Ok(())
}

/// `xl domid <name>` / `xl domname <id>`: prints the other half of the pair, as Xen's xl.
fn cmd_domid(args: &[String], name: bool) -> Result<(), String> {
    let c = ctrl()?;
    let mut xs = store()?;
    let domid = domain_arg(&c, &mut xs, args.first())?;
    if name {
        println!("{}", name_of(&mut xs, domid));
    } else {
        println!("{domid}");
    }
    Ok(())
}

/// `xl shutdown` / `xl reboot`: writes `control/shutdown` as libxl's
/// `libxl__domain_pvcontrol_write`; `-w` waits until the domain is gone.
fn cmd_shutdown(args: &[String], how: &str) -> Result<(), String> {
    let wait = args.iter().any(|a| a == "-w");
    let c = ctrl()?;
    let mut xs = store()?;
    let domid = domain_arg(&c, &mut xs, args.iter().find(|a| !a.starts_with('-')))?;
    let path = format!("/local/domain/{domid}/control/shutdown");
    if xs.read(&path).is_none() {
        return Err(format!(
            "PV control interface not available for domain {domid} ({path} missing)"
        ));
    }
    println!("Shutting down domain {domid}");
    xs.xs
        .write(XBT_NULL, &path, how.as_bytes())
        .map_err(|e| format!("writing {path}: {e}"))?;
    if !wait {
        return Ok(());
    }
    println!("Waiting for 1 domains");
    let mut said_shutdown = false;
    loop {
        match c.getdomaininfo(domid) {
            Err(_) => {
                println!("Domain {domid} has been destroyed.");
                return Ok(());
            }
            Ok(i) => {
                if let Some(r) = shutdown_reason(&i) {
                    if !said_shutdown {
                        println!("Domain {domid} has been shut down, reason code {r}");
                        said_shutdown = true;
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn cmd_info() -> Result<(), String> {
    let c = ctrl()?;
    let p = c.physinfo().map_err(|e| e.to_string())?;
    let v = c.version().map_err(|e| e.to_string())?;
    let rd = |f: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{f}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let u = show::Uname {
        host: rd("hostname"),
        release: rd("osrelease"),
        version: rd("version"),
        machine: std::env::consts::ARCH.into(),
    };
    print!("{}", show::info(&u, &p, &v, p.nr_cpus));
    Ok(())
}

fn cmd_dmesg(args: &[String]) -> Result<(), String> {
    let clear = args.iter().any(|a| a == "-c");
    let b = ctrl()?.readconsole(clear).map_err(|e| e.to_string())?;
    io::stdout()
        .write_all(&b)
        .map_err(|e| format!("writing: {e}"))
}

fn cmd_console(args: &[String]) -> Result<(), String> {
    let mut it = args.iter();
    let mut dom = None;
    while let Some(a) = it.next() {
        match a.as_str() {
            "-t" => match it.next().map(String::as_str) {
                Some("pv") => {}
                Some(t) => return Err(format!("console: type {t} is not supported (only pv)")),
                None => return Err("console: -t needs a type".into()),
            },
            "-n" => {
                if it.next().map(String::as_str) != Some("0") {
                    return Err("console: only console 0 exists".into());
                }
            }
            _ => dom = Some(a),
        }
    }
    let c = ctrl()?;
    let mut xs = store()?;
    let domid = domain_arg(&c, &mut xs, dom)?;
    attach_console(domid)
}

/// Opens the pty xenconsoled published in `console/tty` and copies bytes both ways until
/// CTRL-] (0x1d) is typed or the pty closes, as Xen's `xenconsole`.
fn attach_console(domid: u16) -> Result<(), String> {
    let mut xs = store()?;
    let path = format!("/local/domain/{domid}/console/tty");
    let deadline = Instant::now() + Duration::from_secs(10);
    let tty = loop {
        match xs.read(&path) {
            Some(t) if !t.is_empty() => break t,
            _ if Instant::now() > deadline => {
                return Err(format!(
                    "no console for domain {domid}: {path} is empty (is xenconsoled running?)"
                ))
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let pty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&tty)
        .map_err(|e| format!("opening {tty}: {e}"))?;
    let _ = libxen::sys::make_raw(pty.as_raw_fd());
    let stdin = io::stdin();
    let _raw = libxen::sys::RawTerminal::new(stdin.as_raw_fd()).ok();
    let mut from = pty.try_clone().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut out = io::stdout();
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.flush();
                }
            }
        }
    });
    let mut to = pty;
    let mut buf = [0u8; 256];
    let mut input = stdin.lock();
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(p) = buf[..n].iter().position(|&b| b == 0x1d) {
            let _ = to.write_all(&buf[..p]);
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    Ok(())
}
