//! `cargo xtask bench`: boot to dom0 userspace (the `XENITH-DOM0: init reached` line of our
//! initramfs) with the same kernel, initramfs and machine, natively (Linux at EL2 on QEMU's DT)
//! and under Xenith, with `-icount shift=0` (one instruction = one virtual ns, so virtual time is
//! an instruction count). Reports the median of N runs of: host wall-clock seconds to the line,
//! and the guest's own uptime at that line (dom0's virtual time; under Xenith it excludes the
//! hypervisor's boot, since dom0's counter starts at dom0's creation).

use crate::qemu::{self, Console, Machine, Watch};
use crate::util::{cmd_line, say};
use anyhow::{bail, Result};
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
