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

use crate::qemu::{self, Console, Limits, Machine, Watch};
use crate::util::{cmd_line, say};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
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
