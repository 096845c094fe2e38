//! `cargo xtask bench`: boot to dom0 userspace (the `XENITH-DOM0: init reached` line of our
//! initramfs) with the same kernel, initramfs and machine, natively (Linux at EL2 on QEMU's DT)
//! and under Xenith, with `-icount shift=0` (one instruction = one virtual ns, so virtual time is
//! an instruction count). Reports the median of N runs of: host wall-clock seconds to the line,
//! and the guest's own uptime at that line (dom0's virtual time; under Xenith it excludes the
//! hypervisor's boot, since dom0's counter starts at dom0's creation).
//!
//! `--hypercalls` (also part of a plain `cargo xtask bench`): the `hcbench` test guest as dom0
//! under Xenith and under Debian's Xen 4.17 (`xen.rs`, the conformance oracle), same machine,
//! same `-icount shift=0`; it prints `# bench <op> <ns per op>`, i.e. instructions per operation.
//! Median of N runs per hypervisor, side by side with the ratio Xenith / Xen.
//!
//! `--domains`: dom0 Linux with our initramfs runs `initramfs/bench.sh` (`xenith.test=bench`)
//! under Xenith and under Xen 4.17: our xenstored's throughput (`xenstore-check N bench`), then
//! `xl create` of the default domU, its console until the shell answers a typed command, the
//! hypervisor's memory for the domain, and three `xl create` + `xl destroy` cycles. The script
//! prints `mark <name> <dom0 uptime>` lines; a figure is the difference of two marks by dom0's
//! clock (virtual time: under `-icount shift=0` instructions plus skipped idle time) and by the
//! host's clock (the lines' arrival times). Memory per domain = free pages before - free pages
//! with the domU at its shell - the domU's own pages (`xl pages`, exact), in KiB, plus the
//! growth of Xenith's heap (debug key `m` through `xl debug-keys`, `xl dmesg`; Xen's allocations
//! are all pages). Once with icount on 1 CPU, once by the wall clock on 2 (`--clock` picks one).

use crate::qemu::{self, Console, Limits, Machine, Watch};
use crate::util::{cmd_line, say};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const MARKER: &str = "XENITH-DOM0: init reached";
const TIMEOUT: Duration = Duration::from_secs(600);
/// A boot whose console is silent this long has hung.
const SILENCE: Duration = Duration::from_secs(90);

struct Sample {
    wall: f64,
    uptime: Option<f64>,
}

fn boot_once(cmd: &mut std::process::Command) -> Result<Sample> {
    let limits = qemu::Limits {
        timeout: TIMEOUT,
        silence: SILENCE,
    };
    let t = qemu::run_piped(cmd, limits, false, &mut |l| {
        if l.contains(MARKER) {
            Watch::Abort("measured".into())
        } else if l.contains("Kernel panic - not syncing") {
            Watch::Abort("kernel panic".into())
        } else {
            Watch::Continue
        }
    })?;
    let Some(wall) = t.time_of(MARKER) else {
        let tail: Vec<&String> = t
            .lines
            .iter()
            .skip(t.lines.len().saturating_sub(40))
            .collect();
        for l in tail {
            println!("    | {l}");
        }
        bail!("no `{MARKER}` line (QEMU: {})", cmd_line(cmd));
    };
    let uptime = t
        .lines
        .iter()
        .find(|l| l.contains(MARKER))
        .and_then(|l| l.split("uptime=").nth(1))
        .and_then(|v| v.trim().parse().ok());
    Ok(Sample {
        wall: wall.as_secs_f64(),
        uptime,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn run(runs: usize) -> Result<()> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let a = crate::prepare(true)?;
    let m = Machine {
        icount: true,
        ..Machine::default()
    };
    let mut rows = Vec::new();
    // With the kernel's console output and with `quiet`: dom0's console is an emulated UART
    // (a trap per register access) where native Linux has QEMU's PL011, so console output is a
    // large share of the difference; `quiet` shows the rest.
    for (native, quiet) in [(true, false), (false, false), (true, true), (false, true)] {
        let label = match (native, quiet) {
            (true, false) => "native",
            (false, false) => "xenith",
            (true, true) => "native quiet",
            (false, true) => "xenith quiet",
        };
        let args = if quiet { "quiet" } else { "" };
        let mut samples = Vec::new();
        for i in 0..runs {
            let mut cmd = if native {
                crate::native_command(&m, &a.linux, args, Console::Piped)
            } else {
                crate::xenith_command(&m, &a, crate::Dom0Kernel::Linux, args, Console::Piped)?.0
            };
            say(format!("bench {label} run {}/{runs}", i + 1));
            let s = boot_once(&mut cmd)?;
            say(format!(
                "  wall {:.2} s, dom0 uptime {}",
                s.wall,
                s.uptime.map_or("?".into(), |u| format!("{u:.2} s"))
            ));
            samples.push(s);
        }
        let wall = median(samples.iter().map(|s| s.wall).collect());
        let up: Vec<f64> = samples.iter().filter_map(|s| s.uptime).collect();
        let up = (!up.is_empty()).then(|| median(up));
        rows.push((label, wall, up));
    }
    println!();
    println!(
        "boot to dom0 userspace, {}, -icount shift=0, median of {runs}",
        m.tag()
    );
    println!(
        "{:<14} {:>12} {:>24}",
        "", "wall (s)", "dom0 virtual uptime (s)"
    );
    for (label, wall, up) in &rows {
        println!(
            "{label:<14} {wall:>12.2} {:>24}",
            up.map_or("?".into(), |u| format!("{u:.3}"))
        );
    }
    for pair in rows.chunks(2) {
        let (n, x) = (&pair[0], &pair[1]);
        println!("ratio {} / {}: wall {:.2}", x.0, n.0, x.1 / n.1);
        if let (Some(nu), Some(xu)) = (n.2, x.2) {
            println!(
                "ratio {} / {}: dom0 virtual time (instructions) {:.2}",
                x.0,
                n.0,
                xu / nu
            );
        }
    }
    Ok(())
}

/// The operations `hcbench` times, in table order: (its name, what the table calls it).
const HC_OPS: &[(&str, &str)] = &[
    ("xen_version", "xen_version(XENVER_version) round trip"),
    (
        "evtchn_send_upcall",
        "EVTCHNOP_send (IPI port) -> upcall handler",
    ),
    ("smccc_version", "SMCCC_VERSION over hvc #0"),
];
/// A guest's final line starts so (tests.rs).
const GUEST_SUMMARY: &str = "# xenith-test: passed=";
const HC_TIMEOUT: Duration = Duration::from_secs(300);
const HC_SILENCE: Duration = Duration::from_secs(120);

/// The machine: the conformance suite's (where Debian's Xen was observed) with icount, and one
/// CPU: under `-icount` QEMU runs the CPUs round-robin, and Xen 4.17 with two of them never gets
/// past bringing up its scheduler (no output for minutes after "Adding cpu 1 to runqueue 0").
fn hc_machine() -> Machine {
    Machine {
        gic: 2,
        cpu: "cortex-a57".into(),
        smp: 1,
        icount: true,
        ..Machine::default()
    }
}

/// One `hcbench` run under hypervisor image `hyp`: ns (= instructions) per operation.
fn hcbench_once(who: &str, hyp: &Path, guest: &Path) -> Result<BTreeMap<String, f64>> {
    let m = hc_machine();
    let mut cmd = crate::xen::command(
        &m,
        &format!("bench-{who}"),
        hyp,
        guest,
        qemu::XEN_BOOTARGS,
        qemu::GUEST_BOOTARGS,
    )?;
    let limits = Limits {
        timeout: HC_TIMEOUT,
        silence: HC_SILENCE,
    };
    let t = qemu::run_piped(&mut cmd, limits, false, &mut |l| {
        if l.contains(crate::xen::XEN_PANIC) {
            Watch::Abort(format!("hypervisor panic: {l}"))
        } else if crate::conformance::guest_text(l).is_some_and(|g| g.starts_with(GUEST_SUMMARY)) {
            Watch::Finished
        } else {
            Watch::Continue
        }
    })?;
    let text: Vec<&str> = t
        .lines
        .iter()
        .filter_map(|l| crate::conformance::guest_text(l))
        .collect();
    let mut out = BTreeMap::new();
    for l in &text {
        let Some(rest) = l.strip_prefix("# bench ") else {
            continue;
        };
        let mut w = rest.split_whitespace();
        if let (Some(name), Some(v)) = (w.next(), w.next().and_then(|v| v.parse::<f64>().ok())) {
            out.insert(name.to_string(), v);
        }
    }
    let failed: Vec<&&str> = text.iter().filter(|l| l.starts_with("not ok")).collect();
    if !failed.is_empty() || out.is_empty() || t.timed_out || t.aborted.is_some() {
        for l in t.lines.iter().skip(t.lines.len().saturating_sub(30)) {
            println!("    | {l}");
        }
        bail!(
            "hcbench on {who} did not complete cleanly ({} `not ok`, {} figures{}{}); QEMU: {}",
            failed.len(),
            out.len(),
            if t.timed_out { ", timed out" } else { "" },
            t.aborted
                .as_deref()
                .map(|a| format!(", {a}"))
                .unwrap_or_default(),
            cmd_line(&cmd)
        );
    }
    Ok(out)
}

/// `cargo xtask bench --hypercalls`: the `hcbench` table, Xenith against Xen 4.17.
pub fn run_hypercalls(runs: usize) -> Result<()> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    crate::fetch::ensure_tools()?;
    let xen = crate::xen::ensure_xen()?;
    let hyp = crate::build::build_hyp(true)?;
    let guests = crate::build::build_guests()?;
    let guest = guests
        .iter()
        .find(|(n, _)| n == "hcbench")
        .map(|(_, p)| p.clone())
        .context("the test-guests package built no `hcbench` guest")?;
    let mut cols: Vec<BTreeMap<String, f64>> = Vec::new();
    for (who, image) in [("xenith", hyp.as_path()), ("xen", xen.image.as_path())] {
        let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for i in 0..runs {
            say(format!("bench hcbench on {who} run {}/{runs}", i + 1));
            let r = hcbench_once(who, image, &guest)?;
            say(format!(
                "  {}",
                r.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            for (k, v) in r {
                samples.entry(k).or_default().push(v);
            }
        }
        cols.push(samples.into_iter().map(|(k, v)| (k, median(v))).collect());
    }
    println!();
    println!(
        "hypercall round trips, {} with -icount shift=0 (1 instruction = 1 ns), hcbench guest as \
         dom0, median of {runs}; Xen 4.17 is Debian's {}",
        hc_machine().tag(),
        xen.version()
    );
    println!(
        "{:<44} {:>22} {:>24} {:>8}",
        "op", "Xenith (instructions)", "Xen 4.17 (instructions)", "ratio"
    );
    let cell = |v: Option<&f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    for (name, label) in HC_OPS {
        let (x, z) = (cols[0].get(*name), cols[1].get(*name));
        let ratio = match (x, z) {
            (Some(x), Some(z)) if *z > 0.0 => format!("{:.2}", x / z),
            _ => "-".into(),
        };
        println!("{label:<44} {:>22} {:>24} {ratio:>8}", cell(x), cell(z));
    }
    println!("(ratio = Xenith / Xen 4.17; below 1 means fewer instructions than Xen)");
    Ok(())
}

/// `bench.sh`'s line prefix.
const DOM_PREFIX: &str = "XENITH-BENCH: ";
/// `xenstore-check`'s throughput lines, as bench.sh runs it (client and daemon on vCPU 0).
const XS_SOCKET: &str = "XENITH-XS: bench-socket-pinned ok ";
const XS_XENBUS: &str = "XENITH-XS: bench-xenbus-pinned ok ";
/// Create-to-destroy cycles bench.sh runs per boot.
const CYCLES: usize = 3;
const DOM_TIMEOUT: Duration = Duration::from_secs(1800);
/// bench.sh is silent while a domU boots (its console goes to a FIFO), so this is long.
const DOM_SILENCE: Duration = Duration::from_secs(480);

/// The domain figures of one boot of `bench.sh`. Times are pairs: (dom0's clock, the host's
/// wall clock), in seconds; under `-icount shift=0` dom0's clock counts instructions (plus the
/// idle time QEMU skips over).
#[derive(Debug, Clone, Default)]
struct DomSample {
    create: (f64, f64),
    shell: (f64, f64),
    reply: (f64, f64),
    cycle: (f64, f64),
    /// Pages that left the free pool for the domain beyond its own RAM, plus (Xenith) heap.
    overhead_kib: f64,
    /// (free pages before - after - domU pages) * 4 KiB, heap delta in bytes.
    pages_kib: f64,
    heap_bytes: f64,
    /// Xen's stage-2 table pool for the domain (part of `pages_kib`; Xenith has none).
    pool_kib: f64,
    domu_pages: u64,
    /// xenstored requests per second: socket writes, socket reads, xenbus writes, xenbus reads.
    xs: [f64; 4],
}

/// `<n> writes <w>/s, <n> reads <r>/s` -> (w, r).
fn parse_rates(s: &str) -> Option<(f64, f64)> {
    let mut it = s
        .split_whitespace()
        .filter_map(|w| w.strip_suffix("/s").or_else(|| w.strip_suffix("/s,")))
        .filter_map(|v| v.parse::<f64>().ok());
    Some((it.next()?, it.next()?))
}

/// `key=value` fields of a line.
fn fields(s: &str) -> BTreeMap<&str, &str> {
    s.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect()
}

/// Reads one transcript of `bench.sh` (its lines and their host arrival times).
fn dom_sample(lines: &[String], times: &[Duration]) -> Result<DomSample> {
    let mut marks: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut s = DomSample {
        xs: [f64::NAN; 4],
        ..DomSample::default()
    };
    let mut memory = None;
    for (l, t) in lines.iter().zip(times) {
        if let Some(r) = l.find(XS_SOCKET).map(|i| &l[i + XS_SOCKET.len()..]) {
            if let Some((w, rd)) = parse_rates(r) {
                s.xs[0] = w;
                s.xs[1] = rd;
            }
        }
        if let Some(r) = l.find(XS_XENBUS).map(|i| &l[i + XS_XENBUS.len()..]) {
            if let Some((w, rd)) = parse_rates(r) {
                s.xs[2] = w;
                s.xs[3] = rd;
            }
        }
        let Some(rest) = l.find(DOM_PREFIX).map(|i| &l[i + DOM_PREFIX.len()..]) else {
            continue;
        };
        if let Some(why) = rest.strip_prefix("FAIL ") {
            bail!("bench.sh: {why}");
        }
        if let Some(m) = rest.strip_prefix("mark ") {
            let mut w = m.split_whitespace();
            if let (Some(name), Some(up)) = (w.next(), w.next().and_then(|v| v.parse().ok())) {
                marks.insert(name.to_string(), (up, t.as_secs_f64()));
            }
        }
        if let Some(m) = rest.strip_prefix("memory ") {
            memory = Some(m.to_string());
        }
    }
    let span = |a: &str, b: &str| -> Result<(f64, f64)> {
        let (Some(x), Some(y)) = (marks.get(a), marks.get(b)) else {
            bail!("bench.sh printed no `mark {a}` / `mark {b}`");
        };
        Ok((y.0 - x.0, y.1 - x.1))
    };
    s.create = span("create-start", "create-end")?;
    s.shell = span("create-start", "shell")?;
    s.reply = span("create-start", "reply")?;
    let mut cyc = Vec::new();
    for i in 1..=CYCLES {
        cyc.push(span(
            &format!("cycle-start-{i}"),
            &format!("cycle-end-{i}"),
        )?);
    }
    s.cycle = (
        median(cyc.iter().map(|c| c.0).collect()),
        median(cyc.iter().map(|c| c.1).collect()),
    );
    let m = memory.context("bench.sh printed no `memory` line")?;
    let f = fields(&m);
    let num = |k: &str| -> Result<f64> {
        f.get(k)
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("bench.sh's memory line has no {k}: {m}"))
    };
    let (free0, free1, dom) = (num("free_before")?, num("free_after")?, num("domu_pages")?);
    s.domu_pages = dom as u64;
    s.pages_kib = (free0 - free1 - dom) * 4.0;
    s.heap_bytes = num("heap_after")? - num("heap_before")?;
    s.pool_kib = num("pool_pages")? * 4.0;
    s.overhead_kib = s.pages_kib + s.heap_bytes / 1024.0;
    // A `stalled` bench (xenstore-check: a wake-up that did not come) leaves its figures NaN:
    // the table takes the median of the runs that have them.
    Ok(s)
}

/// The machines of `--domains`: with `-icount shift=0` one CPU (Xen 4.17 does not get past its
/// scheduler set-up with two under icount, see `hc_machine`), so dom0 and the domU share it;
/// by the wall clock two, as the `xl/*` test cases.
fn dom_machine(icount: bool) -> Machine {
    Machine {
        gic: 2,
        cpu: "cortex-a57".into(),
        smp: if icount { 1 } else { 2 },
        icount,
        ..Machine::default()
    }
}

/// One boot of dom0 with `xenith.test=bench` under Xenith or Xen; its console goes to `log`
/// as it arrives.
fn dom_once(m: &Machine, a: &crate::Assets, xen: Option<&Path>, log: &Path) -> Result<DomSample> {
    const ARGS: &str = "xenith.test=bench";
    let mut cmd = match xen {
        None => crate::xenith_command(m, a, crate::Dom0Kernel::Linux, ARGS, Console::Piped)?.0,
        Some(image) => crate::real_xen_command(m, &a.linux, image, ARGS, Console::Piped, None)?,
    };
    let limits = Limits {
        timeout: DOM_TIMEOUT,
        silence: DOM_SILENCE,
    };
    let done = format!("{DOM_PREFIX}done");
    std::fs::create_dir_all(log.parent().expect("has parent"))?;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?,
    );
    writeln!(out, "# {}", cmd_line(&cmd))?;
    let t = qemu::run_piped(&mut cmd, limits, false, &mut |l| {
        // A lost log line only makes the log shorter.
        let _ = writeln!(out, "{l}").and_then(|()| out.flush());
        if l.contains(&done) {
            Watch::Abort("done".into())
        } else if l.contains(crate::xen::XEN_PANIC) || l.contains("Kernel panic - not syncing") {
            Watch::Abort(format!("panic: {l}"))
        } else {
            Watch::Continue
        }
    })?;
    let r = if t.aborted.as_deref() == Some("done") {
        dom_sample(&t.lines, &t.times)
    } else {
        Err(anyhow::anyhow!(
            "no `{done}` line ({})",
            t.aborted.as_deref().unwrap_or(if t.timed_out {
                "timed out"
            } else {
                "QEMU exited"
            })
        ))
    };
    r.map_err(|e| {
        for l in t.lines.iter().skip(t.lines.len().saturating_sub(40)) {
            println!("    | {l}");
        }
        e.context(format!("QEMU: {}", cmd_line(&cmd)))
    })
}

/// `cargo xtask bench --domains`: `bench.sh` in dom0 under Xenith and under Xen 4.17, with
/// `-icount shift=0` (one CPU) and by the wall clock (two CPUs) unless `only` picks one.
pub fn run_domains(runs: usize, only: Option<bool>) -> Result<()> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let xen = crate::xen::ensure_xen()?;
    let a = crate::prepare(true)?;
    let modes: Vec<bool> = match only {
        Some(icount) => vec![icount],
        None => vec![true, false],
    };
    let mut tables = Vec::new();
    for icount in modes {
        let m = dom_machine(icount);
        let mut cols: Vec<Vec<DomSample>> = Vec::new();
        for (who, image) in [("xenith", None), ("xen", Some(xen.image.as_path()))] {
            let mut v = Vec::new();
            for i in 0..runs {
                say(format!(
                    "bench domains on {who} ({}{}) run {}/{runs}",
                    m.tag(),
                    if icount { ", icount" } else { "" },
                    i + 1
                ));
                let log = crate::util::target_dir().join(format!(
                    "xenith/logs/bench-domains_{who}_{}{}_{}.log",
                    m.tag(),
                    if icount { "-icount" } else { "" },
                    i + 1
                ));
                say(format!("  console: {}", log.display()));
                let s = dom_once(&m, &a, image, &log)?;
                say(format!(
                    "  create {:.2} s, shell answers {:.2} s, cycle {:.2} s, overhead {:.0} KiB \
                     ({:.0} KiB pages + {:.0} B heap, domU {} pages), xenstored socket {:.0}/{:.0} \
                     xenbus {:.0}/{:.0} writes/reads per s",
                    s.create.0,
                    s.reply.0,
                    s.cycle.0,
                    s.overhead_kib,
                    s.pages_kib,
                    s.heap_bytes,
                    s.domu_pages,
                    s.xs[0],
                    s.xs[1],
                    s.xs[2],
                    s.xs[3]
                ));
                v.push(s);
            }
            cols.push(v);
        }
        tables.push((m, cols));
    }
    println!();
    for (m, cols) in &tables {
        print_dom_table(m, cols, runs, &xen.version());
    }
    Ok(())
}

fn print_dom_table(m: &Machine, cols: &[Vec<DomSample>], runs: usize, xen_version: &str) {
    println!(
        "domains, {}{}, dom0 {} vCPU(s), domU 128 MiB 1 vCPU (Debian's kernel, busybox), median \
         of {runs}; Xen 4.17 is Debian's {xen_version}",
        m.tag(),
        if m.icount {
            " with -icount shift=0 (dom0's clock: 1 ns = 1 instruction, plus idle time)"
        } else {
            ", wall clock (noisy: TCG on a shared 2-core host)"
        },
        m.smp
    );
    println!(
        "{:<52} {:>12} {:>12} {:>7}",
        "figure", "Xenith", "Xen 4.17", "ratio"
    );
    type Get = fn(&DomSample) -> f64;
    let mut rows: Vec<(&str, Get, usize)> = vec![
        ("xl create (s)", |s| s.create.0, 2),
        ("xl create -> domU shell banner (s)", |s| s.shell.0, 2),
        (
            "xl create -> domU shell answers a command (s)",
            |s| s.reply.0,
            2,
        ),
        ("create-to-destroy cycle (s)", |s| s.cycle.0, 2),
    ];
    if m.icount {
        rows.extend([
            (
                "  host wall: xl create (s)",
                (|s: &DomSample| s.create.1) as Get,
                1,
            ),
            ("  host wall: create -> shell answers (s)", |s| s.reply.1, 1),
            ("  host wall: create-to-destroy cycle (s)", |s| s.cycle.1, 1),
        ]);
    }
    rows.extend([
        (
            "hypervisor memory per domain (KiB)",
            (|s: &DomSample| s.overhead_kib) as Get,
            0,
        ),
        ("  pages (KiB)", |s| s.pages_kib, 0),
        (
            "    of which Xen's stage-2 pool (KiB, libxl's size)",
            |s| s.pool_kib,
            0,
        ),
        ("    the rest (KiB)", |s| s.pages_kib - s.pool_kib, 0),
        ("  Xenith heap (KiB)", |s| s.heap_bytes / 1024.0, 1),
        ("xenstored writes/s (socket)", |s| s.xs[0], 0),
        ("xenstored reads/s (socket)", |s| s.xs[1], 0),
        ("xenstored writes/s (/dev/xen/xenbus)", |s| s.xs[2], 0),
        ("xenstored reads/s (/dev/xen/xenbus)", |s| s.xs[3], 0),
    ]);
    // The median of the runs that have the figure (NaN: none has it).
    let med = |v: &[DomSample], get: Get| {
        let have: Vec<f64> = v.iter().map(get).filter(|x| !x.is_nan()).collect();
        if have.is_empty() {
            f64::NAN
        } else {
            median(have)
        }
    };
    for (label, get, prec) in rows {
        let x = med(&cols[0], get);
        let z = med(&cols[1], get);
        let ratio = if z != 0.0 && !(x / z).is_nan() {
            format!("{:.2}", x / z)
        } else {
            "-".into()
        };
        println!("{label:<52} {x:>12.prec$} {z:>12.prec$} {ratio:>7}");
    }
    println!("(ratio = Xenith / Xen 4.17; times: lower is better, requests/s: higher is better)");
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bench.sh's lines as Xen 4.17 printed them (trimmed).
    const XEN_RUN: &str = "\
XENITH-BENCH: hypervisor 4.17.7
XENITH-XS: bench-socket-pinned ok 2000 writes 17193/s, 2000 reads 20120/s
XENITH-XS: bench-xenbus-pinned ok 500 writes 19484/s, 500 reads 21770/s
XENITH-BENCH: mark create-start 2.55
xl: domain guest (1) created in 1.08 s
XENITH-BENCH: mark create-end 3.63
XENITH-BENCH: mark shell 4.50
XENITH-BENCH: mark reply 4.52
XENITH-BENCH: memory free_before=385338 free_after=352025 domu_pages=32772 pool_pages=512 heap_before=0 heap_after=0
XENITH-BENCH: mark cycle-start-1 5.57
XENITH-BENCH: mark cycle-end-1 6.68
XENITH-BENCH: mark cycle-start-2 6.68
XENITH-BENCH: mark cycle-end-2 7.79
XENITH-BENCH: mark cycle-start-3 7.79
XENITH-BENCH: mark cycle-end-3 8.95
XENITH-BENCH: done";

    fn sample(text: &str) -> Result<DomSample> {
        let lines: Vec<String> = text.lines().map(String::from).collect();
        let times: Vec<Duration> = (0..lines.len() as u64).map(Duration::from_secs).collect();
        dom_sample(&lines, &times)
    }

    #[test]
    fn reads_bench_sh() {
        let s = sample(XEN_RUN).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert!(close(s.create.0, 1.08) && close(s.create.1, 2.0), "{s:?}");
        assert!(close(s.reply.0, 1.97) && close(s.shell.0, 1.95), "{s:?}");
        // Median of 1.11, 1.11, 1.16.
        assert!(close(s.cycle.0, 1.11), "{s:?}");
        // (385338 - 352025 - 32772) pages = 541 pages.
        assert!(
            close(s.pages_kib, 2164.0) && close(s.pool_kib, 2048.0),
            "{s:?}"
        );
        assert!(close(s.overhead_kib, 2164.0), "{s:?}");
        assert_eq!(s.xs, [17193.0, 20120.0, 19484.0, 21770.0]);
    }

    #[test]
    fn heap_counts_and_failures_stop() {
        let x = XEN_RUN.replace(
            "heap_before=0 heap_after=0",
            "heap_before=1000 heap_after=3048",
        );
        let s = sample(&x).unwrap();
        assert!((s.overhead_kib - 2166.0).abs() < 1e-6, "{s:?}");
        let bad = XEN_RUN.replace(
            "XENITH-BENCH: mark reply 4.52",
            "XENITH-BENCH: FAIL no answer",
        );
        assert!(sample(&bad).is_err());
        let short = XEN_RUN.replace("XENITH-BENCH: mark cycle-end-3 8.95\n", "");
        assert!(sample(&short).is_err());
        let stalled = XEN_RUN.replace(
            "bench-xenbus-pinned ok 500 writes 19484/s, 500 reads 21770/s",
            "bench-xenbus-pinned stalled write 3: no reply in 10 s",
        );
        let s = sample(&stalled).unwrap();
        assert!(
            s.xs[2].is_nan() && s.xs[3].is_nan() && s.xs[0] == 17193.0,
            "{s:?}"
        );
    }
}
