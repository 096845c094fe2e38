//! `cargo xtask test`: host unit tests, the aarch64 build, then QEMU boots with hard timeouts
//! whose serial consoles are checked line by line: the bare-metal test guests (TAP-like lines)
//! and Debian's Linux as dom0 (`XENITH-DOM0: <check> ok|FAIL` lines from `initramfs/dom0.sh`).

use crate::qemu::{self, Console, Limits, Machine, Transcript, Watch};
use crate::util::{cmd_line, root, say, target_dir};
use crate::{Assets, Dom0Kernel};
use anyhow::Result;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Options {
    pub filter: Option<String>,
    pub verbose: bool,
    pub guest_timeout: Duration,
    pub linux_timeout: Duration,
}

/// One QEMU boot to check.
pub struct Case {
    pub name: String,
    pub machine: Machine,
    pub kind: Kind,
    pub limits: Limits,
    /// dom0 vCPUs when not one per pCPU (`dom0_max_vcpus=`): vCPUs then share pCPUs.
    pub vcpus: Option<u32>,
}

impl Case {
    /// The vCPUs dom0 should see.
    fn nproc(&self) -> u32 {
        self.vcpus.unwrap_or(self.machine.smp)
    }
}

pub enum Kind {
    /// A bare-metal test guest as dom0's kernel under Xenith.
    Guest(std::path::PathBuf),
    /// Debian's Linux with our initramfs, under Xenith or (native) directly on QEMU.
    Linux { native: bool },
    /// dom0 runs `initramfs/xl.sh`: Debian domUs built with `xl create`, reached with
    /// `xl console`, shut down, destroyed, crashed (`XENITH-XL:` lines).
    Xl,
    /// Linux dom0 beside a dom0less Linux domU with a vpl011: the serial input is switched to
    /// the domU (CTRL-a x3), a command runs there, then the input goes back to dom0.
    Dom0less,
}

struct Outcome {
    name: String,
    failures: Vec<String>,
    time: Duration,
}

/// The checks `initramfs/dom0.sh` reports, each as `XENITH-DOM0: <check> ok`.
const DOM0_CHECKS: &[&str] = &["console", "nproc", "timer", "disk", "net", "dhcp"];
/// `dom0.sh` asks for a line on its console; the xtask types this one (built the same way by the
/// script: `XC`, 1x2x...60x, `CD`: 175 characters, far more than a UART FIFO holds).
fn console_line() -> String {
    let body: String = (1..=60).map(|i| format!("{i}x")).collect();
    format!("XC{body}CD\n")
}
const DOM0_PREFIX: &str = "XENITH-DOM0: ";
/// `initramfs/xl.sh`'s lines.
const XL_PREFIX: &str = "XENITH-XL: ";
/// The checks `xl.sh` reports, each as `XENITH-XL: <check> ok`.
const XL_CHECKS: &[&str] = &[
    "create", "list", "console", "detach", "shutdown", "memory", "two", "pause", "reboot", "dmesg",
    "destroy", "memory2", "crash",
];
/// `initramfs/xen.sh` (run by dom0.sh): `XENITH-XEN: skipped (not on Xen)`, or on Xen the
/// `/bin/xen-check` lines ending with `XENITH-XEN: done passed=N failed=M`.
const XEN_PREFIX: &str = "XENITH-XEN: ";
/// `initramfs/xenstore.sh` (run by xen.sh on Xen): dom0's xenstored checked by its clients,
/// ending with `XENITH-XS: done passed=N failed=M`; `bench-*` lines carry the throughput.
const XS_PREFIX: &str = "XENITH-XS: ";
/// A guest's final line starts so (an earlier `# xenith-test: cpus=...` line describes the board).
const GUEST_SUMMARY: &str = "# xenith-test: passed=";
/// A boot whose console stays silent this long has hung (Linux prints all through its boot;
/// `sleep 1` and the disk read are the longest quiet stretches of the checks).
const LINUX_SILENCE: Duration = Duration::from_secs(90);
const GUEST_SILENCE: Duration = Duration::from_secs(30);

/// Test guests left out of `cargo xtask test` until Xenith passes them (they still run in
/// `cargo xtask conformance`). `xen` checks the Xen hypercall interface against real Xen 4.17;
/// empty this list once Xenith implements it.
pub const GUESTS_NOT_YET_ON_XENITH: &[&str] = &[];

/// The QEMU cases, in the order they run.
pub fn cases(guests: &[(String, std::path::PathBuf)], o: &Options) -> Vec<Case> {
    let m = |gic: u8, cpu: &str, smp: u32| Machine {
        gic,
        cpu: cpu.into(),
        smp,
        ..Machine::default()
    };
    let mut v = Vec::new();
    let guests = guests
        .iter()
        .filter(|(name, _)| !GUESTS_NOT_YET_ON_XENITH.contains(&name.as_str()));
    for (name, bin) in guests {
        for machine in [m(2, "cortex-a57", 2), m(3, "cortex-a57", 2), m(3, "max", 2)] {
            v.push(Case {
                name: format!("guest/{name}/{}", machine.tag()),
                machine,
                kind: Kind::Guest(bin.clone()),
                limits: Limits {
                    timeout: o.guest_timeout,
                    silence: GUEST_SILENCE,
                },
                vcpus: None,
            });
        }
        if name == "wake" {
            // Lost wake-ups also when vCPUs share pCPUs (switched out while blocked).
            for (gic, smp, vcpus) in [(2, 2, 4), (3, 1, 3), (3, 2, 3)] {
                let machine = m(gic, "cortex-a57", smp);
                v.push(Case {
                    name: format!("guest/{name}/{}-vcpus{vcpus}", machine.tag()),
                    machine,
                    kind: Kind::Guest(bin.clone()),
                    limits: Limits {
                        timeout: o.guest_timeout,
                        silence: GUEST_SILENCE,
                    },
                    vcpus: Some(vcpus),
                });
            }
        }
    }
    // Native first: it checks the initramfs and the checks themselves, without Xenith.
    let native = m(3, "cortex-a57", 2);
    v.push(Case {
        name: format!("linux-native/{}", native.tag()),
        machine: native,
        kind: Kind::Linux { native: true },
        limits: Limits {
            timeout: o.linux_timeout,
            silence: LINUX_SILENCE,
        },
        vcpus: None,
    });
    // `max` brings SVE, SME and pointer authentication, which dom0 uses directly. The last
    // two cases give dom0 more vCPUs than pCPUs: they share pCPUs in time slices.
    for (gic, cpu, smp, vcpus) in [
        (2, "cortex-a57", 2, None),
        (3, "cortex-a57", 2, None),
        (2, "cortex-a57", 4, None),
        (3, "cortex-a57", 4, None),
        (3, "max", 4, None),
        (2, "cortex-a57", 2, Some(4)),
        (3, "cortex-a57", 1, Some(3)),
    ] {
        let machine = m(gic, cpu, smp);
        let name = match vcpus {
            Some(n) => format!("dom0/{}-vcpus{n}", machine.tag()),
            None => format!("dom0/{}", machine.tag()),
        };
        v.push(Case {
            name,
            machine,
            kind: Kind::Linux { native: false },
            limits: Limits {
                timeout: o.linux_timeout,
                silence: LINUX_SILENCE,
            },
            vcpus,
        });
    }
    // xl: domUs built by our toolstack in dom0 (their boots are long under TCG).
    for (gic, smp) in [(3, 2), (2, 2)] {
        let machine = m(gic, "cortex-a57", smp);
        v.push(Case {
            name: format!("xl/{}", machine.tag()),
            machine,
            kind: Kind::Xl,
            limits: Limits {
                timeout: o.linux_timeout * 4,
                silence: LINUX_SILENCE * 3,
            },
            vcpus: None,
        });
    }
    // dom0 (1 vCPU) and one dom0less domU (1 vCPU, 128 MiB) on a pCPU each, both vGICs.
    for gic in [2, 3] {
        let machine = m(gic, "cortex-a57", 2);
        v.push(Case {
            name: format!("dom0less/{}", machine.tag()),
            machine,
            kind: Kind::Dom0less,
            limits: Limits {
                timeout: o.linux_timeout,
                silence: LINUX_SILENCE,
            },
            vcpus: Some(1),
        });
    }
    v
}

/// Three CTRL-a: the serial input moves on (dom0 -> DOM1 -> Xenith -> dom0).
const SWITCH: &str = "\x01\x01\x01";
/// The dom0less domU's init reports so (`initramfs/domu-init`).
const DOMU_READY: &str = "XENITH-DOMU: init reached";
/// dom0's side waits for a line (`initramfs/dom0less.sh`).
const DOM0LESS_WAITING: &str = "XENITH-DOM0: dom0less waiting";
/// Typed into the domU's shell; the shell prints [`DOMU_ANSWER`] (not in the echoed command).
const DOMU_COMMAND: &str = "echo XY$((6*7))ZZ\n";
const DOMU_ANSWER: &str = "(d1) XY42ZZ";
/// Typed into dom0 once the input is back.
const DOM0_LINE: &str = "dom0-still-here";

/// The dom0less case's script: each step waits for a console line, then types.
#[derive(Default)]
struct Dom0lessScript {
    domu_ready: bool,
    dom0_ready: bool,
    step: u8,
}

impl Dom0lessScript {
    fn watch(&mut self, l: &str) -> Watch {
        if l.contains("Kernel panic - not syncing") {
            return Watch::Abort("kernel panic".into());
        }
        self.domu_ready |= l.contains(DOMU_READY);
        self.dom0_ready |= l.contains(DOM0LESS_WAITING);
        let (next, typed) = match self.step {
            0 if self.domu_ready && self.dom0_ready => (1, SWITCH.to_string()),
            1 if l.contains("*** Serial input to DOM1") => (2, DOMU_COMMAND.to_string()),
            2 if l.contains(DOMU_ANSWER) => (3, SWITCH.to_string()),
            3 if l.contains("*** Serial input to Xenith") => (4, SWITCH.to_string()),
            4 if l.contains("*** Serial input to DOM0") => (5, format!("{DOM0_LINE}\n")),
            5 if l.contains("XENITH-DOM0: done") => return Watch::Finished,
            _ => return Watch::Continue,
        };
        self.step = next;
        Watch::Type(typed)
    }
}

/// The dom0less case passes when every step happened in order and QEMU exited cleanly.
pub fn judge_dom0less(t: &Transcript) -> Vec<String> {
    let mut f = Vec::new();
    for l in t.lines.iter().filter(|l| l.contains("FAIL")) {
        f.push(l.clone());
    }
    let steps = [
        ("the domU's init", DOMU_READY.to_string()),
        ("dom0's script", DOM0LESS_WAITING.to_string()),
        ("the switch to DOM1", "*** Serial input to DOM1".to_string()),
        ("the command's output in the domU", DOMU_ANSWER.to_string()),
        (
            "the switch to Xenith",
            "*** Serial input to Xenith".to_string(),
        ),
        (
            "the switch back to DOM0",
            "*** Serial input to DOM0".to_string(),
        ),
        (
            "dom0 reading the line typed after the switch",
            format!("XENITH-DOM0: dom0less got '{DOM0_LINE}'"),
        ),
    ];
    let mut from = 0;
    for (what, pat) in steps {
        // The switches and what follows them happen in order; the two boots in any order.
        let start = if pat.starts_with("XENITH-DOM") && !pat.contains("got") {
            0
        } else {
            from
        };
        match t.lines[start..].iter().position(|l| l.contains(&pat)) {
            Some(i) => from = from.max(start + i),
            None => {
                f.push(format!("missing {what} (`{pat}`)"));
                break;
            }
        }
    }
    end_failures(t, &mut f);
    f
}

/// Runs every test; returns whether all passed.
pub fn run_all(o: &Options, release: bool) -> Result<bool> {
    let mut results: Vec<Outcome> = Vec::new();
    let wants = |name: &str| o.filter.as_deref().is_none_or(|f| name.contains(f));

    // 1) Host unit tests of the default members.
    if wants("host/cargo-test") {
        let start = Instant::now();
        say("running host unit tests: cargo test");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo).arg("test").current_dir(root()).status();
        let failures = match st {
            Ok(s) if s.success() => vec![],
            Ok(s) => vec![format!("cargo test exited with {s}")],
            Err(e) => vec![format!("could not run cargo test: {e}")],
        };
        results.push(Outcome {
            name: "host/cargo-test".into(),
            failures,
            time: start.elapsed(),
        });
    }

    // 2) Guest assets (Debian kernel, initramfs, disk), then the aarch64 build.
    let t0 = Instant::now();
    let linux = crate::prepare_linux();
    let fetch_time = t0.elapsed();
    let t1 = Instant::now();
    let hyp = crate::build::build_hyp(release);
    let hyp_time = t1.elapsed();
    let t2 = Instant::now();
    let guests = crate::build::build_guests();
    let guests_time = t2.elapsed();
    // 2b) (after fetch, which installs the rustup targets) One policy for the code: rustfmt, and clippy (warnings are errors) for the host crates
    // and for each aarch64 target (the hypervisor, the test guests, dom0's tools).
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let lints: [(&str, &[&str]); 4] = [
        ("host/fmt", &["fmt", "--all", "--", "--check"]),
        (
            "host/clippy",
            &["clippy", "--all-targets", "--", "-D", "warnings"],
        ),
        (
            "host/clippy-hyp",
            &[
                "clippy",
                "-p",
                "xenith",
                "-p",
                "test-guests",
                "--release",
                "--target",
                "aarch64-unknown-none-softfloat",
                "--",
                "-D",
                "warnings",
            ],
        ),
        (
            "host/clippy-tools",
            &[
                "clippy",
                "--workspace",
                "--exclude",
                "xenith",
                "--exclude",
                "test-guests",
                "--exclude",
                "xtask",
                "--release",
                "--target",
                "aarch64-unknown-linux-musl",
                "--",
                "-D",
                "warnings",
            ],
        ),
    ];
    for (name, args) in lints {
        if !wants(name) {
            continue;
        }
        let start = Instant::now();
        say(format!("{name}: cargo {}", args.join(" ")));
        let st = Command::new(&cargo).args(args).current_dir(root()).status();
        let failures = match st {
            Ok(s) if s.success() => vec![],
            Ok(s) => vec![format!(
                "`cargo {}` exited with {s}: fix the findings above",
                args.join(" ")
            )],
            Err(e) => vec![format!("could not run cargo: {e}")],
        };
        results.push(Outcome {
            name: name.into(),
            failures,
            time: start.elapsed(),
        });
    }

    let guest_list = guests.as_ref().cloned().unwrap_or_default();
    let all = cases(&guest_list, o);
    let selected: Vec<&Case> = all.iter().filter(|c| wants(&c.name)).collect();
    let err = |r: Option<&anyhow::Error>| r.map(|e| format!("{e:#}")).into_iter().collect();
    results.push(Outcome {
        name: "fetch".into(),
        failures: err(linux.as_ref().err()),
        time: fetch_time,
    });
    results.push(Outcome {
        name: "build/xenith".into(),
        failures: err(hyp.as_ref().err()),
        time: hyp_time,
    });
    results.push(Outcome {
        name: "build/test-guests".into(),
        failures: err(guests.as_ref().err()),
        time: guests_time,
    });
    if guest_list.is_empty() && guests.is_ok() {
        say("note: the test-guests package produced no binaries; no guest cases");
    }
    let built = hyp.map(|hyp| crate::build::Built {
        hyp,
        guests: guest_list.clone(),
    });

    // 3) QEMU boots, one at a time (2 cores; TCG is CPU-bound).
    for c in selected {
        let native = matches!(c.kind, Kind::Linux { native: true });
        let assets = match (&linux, &built) {
            (Ok(l), Ok(b)) => Ok(crate::Assets::new(l, b)),
            (Ok(l), Err(_)) if native => Ok(crate::Assets::linux_only(l)),
            (Err(_), _) => Err("not run: fetching the guest packages failed"),
            (_, Err(_)) => Err("not run: building the hypervisor failed"),
        };
        let (failures, time) = match assets {
            Err(why) => (vec![why.to_string()], Duration::ZERO),
            Ok(a) => {
                say(format!(
                    "running {} (timeout {} s)",
                    c.name,
                    c.limits.timeout.as_secs()
                ));
                match run_case(c, &a, o.verbose) {
                    Ok(x) => x,
                    Err(e) => (vec![format!("{e:#}")], Duration::ZERO),
                }
            }
        };
        say(format!(
            "{} {} ({:.1} s)",
            if failures.is_empty() { "PASS" } else { "FAIL" },
            c.name,
            time.as_secs_f64()
        ));
        results.push(Outcome {
            name: c.name.clone(),
            failures,
            time,
        });
    }

    // Summary.
    let width = results
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!();
    println!("{:<width$}  {:<6}  {:>8}", "case", "result", "time");
    for r in &results {
        println!(
            "{:<width$}  {:<6}  {:>7.1}s",
            r.name,
            if r.failures.is_empty() { "ok" } else { "FAIL" },
            r.time.as_secs_f64()
        );
        for f in &r.failures {
            println!("{:<width$}    - {}", "", f.lines().next().unwrap_or(""));
        }
    }
    let passed = results.iter().filter(|r| r.failures.is_empty()).count();
    let failed = results.len() - passed;
    println!("xtask test: {passed} passed, {failed} failed");
    Ok(failed == 0)
}

/// Boots one case and judges its console. Returns the failures (empty = pass) and wall time.
fn run_case(c: &Case, a: &Assets, verbose: bool) -> Result<(Vec<String>, Duration)> {
    let (mut cmd, _dtb) = match &c.kind {
        Kind::Guest(bin) => crate::xenith_command_with(
            &c.machine,
            a,
            Dom0Kernel::Guest(bin),
            "",
            Console::Piped,
            c.vcpus,
        )?,
        Kind::Xl => crate::xenith_command_with(
            &c.machine,
            a,
            Dom0Kernel::Linux,
            "xenith.test=xl",
            Console::Piped,
            c.vcpus,
        )?,
        Kind::Linux { native: false } => crate::xenith_command_with(
            &c.machine,
            a,
            Dom0Kernel::Linux,
            &format!("xenith.test=dom0 xenith.nproc={}", c.nproc()),
            Console::Piped,
            c.vcpus,
        )?,
        Kind::Dom0less => crate::xenith_command_full(
            &c.machine,
            a,
            Dom0Kernel::Linux,
            "xenith.test=dom0less",
            Console::Piped,
            c.vcpus,
            1,
        )?,
        Kind::Linux { native: true } => (
            crate::native_command(
                &c.machine,
                &a.linux,
                &format!("xenith.test=dom0 xenith.nproc={}", c.machine.smp),
                Console::Piped,
            ),
            None,
        ),
    };
    let t = match &c.kind {
        Kind::Guest(_) => qemu::run_piped(&mut cmd, c.limits, verbose, &mut |l| {
            if l.starts_with(GUEST_SUMMARY) {
                Watch::Finished
            } else {
                Watch::Continue
            }
        })?,
        Kind::Xl => qemu::run_piped(&mut cmd, c.limits, verbose, &mut |l| {
            if l.contains(XL_PREFIX) && l.contains("done") {
                Watch::Finished
            } else {
                Watch::Continue
            }
        })?,
        Kind::Linux { .. } => qemu::run_piped(&mut cmd, c.limits, verbose, &mut |l| {
            if l.contains("Kernel panic - not syncing") {
                Watch::Abort("kernel panic".into())
            } else if l.contains("XENITH-DOM0: console waiting") {
                Watch::Type(console_line())
            } else if l.contains("XENITH-DOM0: done") {
                Watch::Finished
            } else {
                Watch::Continue
            }
        })?,
        Kind::Dom0less => {
            let mut s = Dom0lessScript::default();
            qemu::run_piped(&mut cmd, c.limits, verbose, &mut |l| s.watch(l))?
        }
    };
    let failures = match &c.kind {
        Kind::Xl => judge_xl(&t),
        Kind::Guest(_) => judge_guest(&t),
        Kind::Linux { .. } => judge_dom0(&t, c.nproc()),
        Kind::Dom0less => judge_dom0less(&t),
    };
    save_log(c, &cmd, &t);
    // Figures worth seeing on a pass: xenstored's throughput.
    for l in t.lines.iter().filter(|l| l.contains("XENITH-XS: bench")) {
        say(format!("{}: {}", c.name, l.trim()));
    }
    if !failures.is_empty() {
        println!("--- {}: last 40 console lines ---", c.name);
        for l in t.lines.iter().skip(t.lines.len().saturating_sub(40)) {
            println!("    | {l}");
        }
        println!("--- QEMU command: {}", cmd_line(&cmd));
    }
    Ok((failures, t.elapsed))
}

fn save_log(c: &Case, cmd: &Command, t: &Transcript) {
    let path = target_dir()
        .join("xenith/logs")
        .join(format!("{}.log", c.name.replace('/', "_")));
    let mut s = format!("# {}\n", cmd_line(cmd));
    for l in &t.lines {
        s.push_str(l);
        s.push('\n');
    }
    let _ = std::fs::create_dir_all(path.parent().expect("has parent"));
    let _ = std::fs::write(&path, s);
}

fn end_failures(t: &Transcript, f: &mut Vec<String>) {
    if let Some(why) = &t.aborted {
        f.push(format!("stopped: {why}"));
    }
    if t.timed_out {
        f.push(format!("timed out after {:.0} s", t.elapsed.as_secs_f64()));
    }
    match t.status {
        Some(s) if !s.success() => f.push(format!("QEMU exited with {s}")),
        _ => {}
    }
}

/// A guest passes with a `# xenith-test: passed=N failed=0` line (N > 0), no `not ok` line and
/// a clean QEMU exit (PSCI SYSTEM_OFF).
pub fn judge_guest(t: &Transcript) -> Vec<String> {
    let mut f = Vec::new();
    for l in t.lines.iter().filter(|l| l.starts_with("not ok")) {
        f.push(l.clone());
    }
    let summary = t.lines.iter().find(|l| l.starts_with(GUEST_SUMMARY));
    match summary.and_then(|l| l.strip_prefix("# xenith-test:")) {
        None => f.push("no `# xenith-test: passed=N failed=M` line".into()),
        Some(s) => {
            let num = |k: &str| {
                s.split_whitespace()
                    .find_map(|w| w.strip_prefix(k))
                    .and_then(|v| v.parse::<u32>().ok())
            };
            match (num("passed="), num("failed=")) {
                (Some(p), Some(0)) if p > 0 => {}
                _ => f.push(format!("summary:{s}")),
            }
        }
    }
    end_failures(t, &mut f);
    f
}

/// The xl case passes with every `XENITH-XL: <check> ok` line, no `FAIL`, and a clean exit;
/// its `figures` line is printed for the closing note.
pub fn judge_xl(t: &Transcript) -> Vec<String> {
    let mut f = Vec::new();
    let xl: Vec<&str> = t
        .lines
        .iter()
        .filter_map(|l| l.split_once(XL_PREFIX).map(|x| x.1))
        .collect();
    for l in xl.iter().filter(|l| l.contains("FAIL")) {
        f.push(format!("{XL_PREFIX}{l}"));
    }
    if !xl.iter().any(|l| l.starts_with("skipped")) {
        for c in XL_CHECKS {
            let ok = format!("{c} ok");
            if !xl
                .iter()
                .any(|l| *l == ok || l.starts_with(&format!("{ok} ")))
            {
                f.push(format!("missing `{XL_PREFIX}{ok}`"));
            }
        }
    }
    if let Some(fig) = xl.iter().find(|l| l.starts_with("figures ")) {
        say(format!("xl {fig}"));
    }
    if !xl.contains(&"done") {
        f.push(format!("missing `{XL_PREFIX}done`"));
    }
    end_failures(t, &mut f);
    f
}

/// Linux passes with every `XENITH-DOM0: <check> ok` line, no `FAIL`, and a clean exit.
pub fn judge_dom0(t: &Transcript, nproc: u32) -> Vec<String> {
    let mut f = Vec::new();
    let dom0: Vec<&str> = t
        .lines
        .iter()
        .filter_map(|l| l.split_once(DOM0_PREFIX).map(|x| x.1))
        .collect();
    for l in dom0.iter().filter(|l| l.contains("FAIL")) {
        f.push(format!("{DOM0_PREFIX}{l}"));
    }
    let xen: Vec<&str> = t
        .lines
        .iter()
        .filter_map(|l| l.split_once(XEN_PREFIX).map(|x| x.1))
        .collect();
    for l in xen.iter().filter(|l| l.contains("FAIL")) {
        f.push(format!("{XEN_PREFIX}{l}"));
    }
    let xs: Vec<&str> = t
        .lines
        .iter()
        .filter_map(|l| l.split_once(XS_PREFIX).map(|x| x.1))
        .collect();
    for l in xs.iter().filter(|l| l.contains("FAIL")) {
        f.push(format!("{XS_PREFIX}{l}"));
    }
    if xen.iter().any(|l| l.starts_with("done ")) && !xs.iter().any(|l| l.starts_with("done ")) {
        f.push(format!("missing `{XS_PREFIX}done ...` (xenstore checks)"));
    }
    if dom0.is_empty() {
        f.push(format!(
            "dom0 never reached /init (no `{DOM0_PREFIX}` line)"
        ));
        end_failures(t, &mut f);
        return f;
    }
    let mut need = vec!["init reached".to_string(), format!("nproc={nproc}")];
    need.extend(DOM0_CHECKS.iter().map(|c| format!("{c} ok")));
    need.push("done".into());
    for n in need {
        if !dom0
            .iter()
            .any(|l| *l == n || l.starts_with(&format!("{n} ")))
        {
            f.push(format!("missing `{DOM0_PREFIX}{n}`"));
        }
    }
    if !dom0.is_empty()
        && !xen
            .iter()
            .any(|l| l.starts_with("skipped") || l.starts_with("done "))
    {
        f.push(format!(
            "missing `{XEN_PREFIX}skipped ...` or `{XEN_PREFIX}done ...`"
        ));
    }
    end_failures(t, &mut f);
    f
}

#[cfg(test)]
mod verdicts {
    use super::*;

    fn t(lines: &[&str], ok: bool) -> Transcript {
        use std::os::unix::process::ExitStatusExt;
        Transcript {
            lines: lines.iter().map(|s| s.to_string()).collect(),
            status: Some(std::process::ExitStatus::from_raw(if ok {
                0
            } else {
                1 << 8
            })),
            timed_out: false,
            aborted: None,
            elapsed: Duration::from_secs(1),
            times: vec![Duration::ZERO; lines.len()],
        }
    }

    #[test]
    fn guest_verdicts() {
        assert!(
            judge_guest(&t(&["ok 1 - a", "# xenith-test: passed=1 failed=0"], true)).is_empty()
        );
        assert_eq!(
            judge_guest(&t(
                &["not ok 1 - a", "# xenith-test: passed=0 failed=1"],
                true
            ))
            .len(),
            2
        );
        assert_eq!(judge_guest(&t(&["ok 1 - a"], true)).len(), 1);
        assert_eq!(
            judge_guest(&t(&["ok 1 - a", "# xenith-test: passed=1 failed=0"], false)).len(),
            1
        );
    }

    #[test]
    fn xl_verdicts() {
        let mut good: Vec<String> = XL_CHECKS
            .iter()
            .map(|c| format!("XENITH-XL: {c} ok"))
            .collect();
        good.push("XENITH-XL: figures create=1.00s".into());
        good.push("XENITH-XL: done".into());
        let lines: Vec<&str> = good.iter().map(String::as_str).collect();
        assert!(judge_xl(&t(&lines, true)).is_empty());
        let mut bad = lines.clone();
        bad[2] = "XENITH-XL: console FAIL no reply";
        assert_eq!(judge_xl(&t(&bad, true)).len(), 2);
        assert_eq!(
            judge_xl(&t(&lines[..3], true)).len(),
            XL_CHECKS.len() - 3 + 1
        );
    }

    #[test]
    fn dom0_verdicts() {
        let good = [
            "[ 1.0] x",
            "XENITH-DOM0: init reached uptime=1.00",
            "XENITH-DOM0: console ok 200 characters",
            "XENITH-DOM0: nproc=2",
            "XENITH-DOM0: nproc ok",
            "XENITH-DOM0: timer ok slept=1000ms",
            "XENITH-DOM0: disk ok md5=abc",
            "XENITH-DOM0: net ok eth0 operstate=up",
            "XENITH-DOM0: dhcp ok lease=10.0.2.15",
            "XENITH-XEN: skipped (not on Xen)",
            "XENITH-DOM0: done",
        ];
        assert!(judge_dom0(&t(&good, true), 2).is_empty());
        assert_eq!(judge_dom0(&t(&good, true), 4).len(), 1);
        let mut bad = good.to_vec();
        bad[6] = "XENITH-DOM0: disk FAIL no /dev/vda";
        assert_eq!(judge_dom0(&t(&bad, true), 2).len(), 2);
        assert_eq!(console_line().len(), 176);
        // On Xen: xen-check's lines instead of `skipped`; a FAIL fails the case.
        let mut xen = good.to_vec();
        xen[9] = "XENITH-XEN: done passed=11 failed=0";
        assert_eq!(
            judge_dom0(&t(&xen, true), 2).len(),
            1,
            "no xenstore summary"
        );
        xen.insert(10, "XENITH-XS: done passed=9 failed=0");
        assert!(judge_dom0(&t(&xen, true), 2).is_empty());
        let mut xs = xen.clone();
        xs.insert(10, "XENITH-XS: watch FAIL no event");
        assert_eq!(judge_dom0(&t(&xs, true), 2).len(), 1);
        xen.insert(9, "XENITH-XEN: evtchn-errors FAIL NOTIFY 99: got EPERM");
        assert_eq!(judge_dom0(&t(&xen, true), 2).len(), 1);
        let mut none = good.to_vec();
        none.remove(9);
        assert_eq!(judge_dom0(&t(&none, true), 2).len(), 1);
    }

    #[test]
    fn dom0less_script_and_verdict() {
        let console = [
            "(d1) XENITH-DOMU: init reached uptime=9.00 nproc=1 mem=100000kB",
            "XENITH-DOM0: dom0less waiting for a line",
            "(XEN) *** Serial input to DOM1 (type 'CTRL-a' three times to switch input)",
            "(d1) domU# echo XY$((6*7))ZZ",
            "(d1) XY42ZZ",
            "(XEN) *** Serial input to Xenith (type 'CTRL-a' three times to switch input, 'h' for help)",
            "(XEN) *** Serial input to DOM0 (type 'CTRL-a' three times to switch input)",
            "dom0-still-here",
            "XENITH-DOM0: dom0less got 'dom0-still-here'",
            "XENITH-DOM0: done",
        ];
        let mut s = Dom0lessScript::default();
        let typed: Vec<String> = console
            .iter()
            .filter_map(|l| match s.watch(l) {
                Watch::Type(x) => Some(x),
                _ => None,
            })
            .collect();
        assert_eq!(
            typed,
            [SWITCH, DOMU_COMMAND, SWITCH, SWITCH, "dom0-still-here\n"]
        );
        assert!(judge_dom0less(&t(&console, true)).is_empty());
        // The domU never answered: the verdict names the step.
        let mut bad = console.to_vec();
        bad.remove(4);
        let f = judge_dom0less(&t(&bad, true));
        assert_eq!(f.len(), 1);
        assert!(f[0].contains("the command's output"), "{f:?}");
    }
}
