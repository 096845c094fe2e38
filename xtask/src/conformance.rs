//! `cargo xtask conformance [--against xen] [--filter S] [-v]`: every bare-metal test guest
//! booted as dom0 under Xenith and, with `--against xen`, under Debian's real Xen 4.17 on the
//! same QEMU machine (the reference one: GICv2, cortex-a57, 2 CPUs, 2 GiB), with the same Xen
//! command line and dom0 bootargs (`xenith`: the hypervisor-only checks hold on Xen too).
//!
//! The guests print TAP-like lines (tests/guests/src/lib.rs); each check is keyed by its
//! description (and its occurrence, for repeated ones) and shown side by side: `ok`, `not ok`,
//! `skip` or `missing` (the run never printed it). Differences are the point of the table, so they
//! do not fail the command; they are written to `target/xenith/conformance.md` with both sides'
//! failure details and the `# info` lines that differ. The exit status is 1 only when a Xen run
//! is unusable (Xen panicked, hung, dom0 never powered off, or its output is malformed), since
//! then the oracle says nothing. Console logs: `target/xenith/logs/conformance_<hyp>_<guest>.log`.

use crate::qemu::{self, Limits, Machine, Transcript, Watch};
use crate::util::{cmd_line, say, target_dir};
use anyhow::Result;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

pub struct Options {
    /// Also boot every guest on Debian's Xen 4.17.
    pub against_xen: bool,
    /// Only the guests whose name contains this.
    pub filter: Option<String>,
    /// Stream every console line.
    pub verbose: bool,
    /// Per-boot limit.
    pub timeout: Duration,
    /// A prebuilt Xenith image to use instead of building `target/xenith.bin`.
    pub xenith: Option<std::path::PathBuf>,
}

/// A guest's final line starts so (as in `tests.rs`).
const GUEST_SUMMARY: &str = "# xenith-test: passed=";
const SILENCE: Duration = Duration::from_secs(30);

/// The machine of `shared/reference/`, where Debian's Xen was observed.
fn machine() -> Machine {
    Machine {
        gic: 2,
        cpu: "cortex-a57".into(),
        smp: 2,
        ..Machine::default()
    }
}

/// One check's outcome on one hypervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Skip(String),
    NotOk(String),
    Missing,
}

impl Verdict {
    fn word(&self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Skip(_) => "skip",
            Verdict::NotOk(_) => "not ok",
            Verdict::Missing => "missing",
        }
    }
    fn detail(&self) -> &str {
        match self {
            Verdict::Skip(d) | Verdict::NotOk(d) => d,
            _ => "",
        }
    }
}

/// A check, keyed by its description and which occurrence of it this is (0 = first).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub desc: String,
    pub nth: usize,
}

/// What one boot of a guest printed, and whether the run itself was sound.
#[derive(Debug, Default)]
pub struct GuestRun {
    pub checks: Vec<(Key, Verdict)>,
    /// `# ...` lines other than the summary.
    pub info: Vec<String>,
    /// `(passed, failed)` from the summary line.
    pub summary: Option<(u32, u32)>,
    /// Why the run cannot be trusted (crash, timeout, malformed output); empty when sound.
    pub problems: Vec<String>,
}

impl GuestRun {
    fn verdict(&self, k: &Key) -> Verdict {
        self.checks
            .iter()
            .find(|(kk, _)| kk == k)
            .map_or(Verdict::Missing, |(_, v)| v.clone())
    }
}

/// The guest's text of a console line: `None` for Xen's own messages (`(XEN) ...`); a `(d0) ` /
/// `(d0v1) ` prefix (Xen's tag for a guest's console_io output) is dropped.
pub fn guest_text(line: &str) -> Option<&str> {
    if line.starts_with("(XEN)") {
        return None;
    }
    if let Some(rest) = line.strip_prefix("(d") {
        if let Some(end) = rest.find(") ") {
            if end <= 8 && rest[..end].bytes().all(|b| b.is_ascii_digit() || b == b'v') {
                return Some(&rest[end + 2..]);
            }
        }
    }
    Some(line)
}

/// Parses the TAP-like lines of a run (already reduced to the guest's text).
pub fn parse(lines: &[&str]) -> GuestRun {
    let mut r = GuestRun::default();
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut key = |desc: &str| {
        let nth = match seen.iter_mut().find(|(d, _)| d == desc) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                seen.push((desc.to_string(), 0));
                0
            }
        };
        Key {
            desc: desc.to_string(),
            nth,
        }
    };
    for l in lines {
        let (ok, rest) = if let Some(rest) = l.strip_prefix("not ok ") {
            (false, rest)
        } else if let Some(rest) = l.strip_prefix("ok ") {
            (true, rest)
        } else {
            if let Some(s) = l.strip_prefix("# xenith-test:") {
                let num = |k: &str| {
                    s.split_whitespace()
                        .find_map(|w| w.strip_prefix(k))
                        .and_then(|v| v.parse::<u32>().ok())
                };
                if let (Some(p), Some(f)) = (num("passed="), num("failed=")) {
                    r.summary = Some((p, f));
                }
            } else if let Some(i) = l.strip_prefix("# ") {
                r.info.push(i.to_string());
            }
            continue;
        };
        // `N - desc[ # detail]`
        let Some((_, body)) = rest.split_once(" - ") else {
            r.problems.push(format!("malformed result line {l:?}"));
            continue;
        };
        let (desc, detail) = match body.split_once(" # ") {
            Some((d, x)) => (d.trim(), x.trim()),
            None => (body.trim(), ""),
        };
        let v = match (ok, detail.strip_prefix("SKIP")) {
            (true, Some(why)) => Verdict::Skip(why.trim().to_string()),
            (true, None) => Verdict::Ok,
            (false, _) => Verdict::NotOk(detail.to_string()),
        };
        let k = key(desc);
        r.checks.push((k, v));
    }
    match r.summary {
        None => r
            .problems
            .push("no `# xenith-test: passed=N failed=M` line".into()),
        Some((p, f)) => {
            let n = r.checks.len();
            if (p + f) as usize != n {
                r.problems.push(format!(
                    "malformed: the summary counts {} checks, the run printed {n}",
                    p + f
                ));
            }
        }
    }
    r
}

/// Boots one guest under one hypervisor and parses what it printed.
fn run_guest(who: &str, hyp: &Path, guest: &str, bin: &Path, o: &Options) -> Result<GuestRun> {
    let m = machine();
    let mut cmd = crate::xen::command(&m, who, hyp, bin, qemu::XEN_BOOTARGS, qemu::GUEST_BOOTARGS)?;
    say(format!("running {guest} on {who}"));
    let limits = Limits {
        timeout: o.timeout,
        silence: SILENCE,
    };
    let t = qemu::run_piped(&mut cmd, limits, o.verbose, &mut |l| {
        if l.contains(crate::xen::XEN_PANIC) {
            Watch::Abort(format!("hypervisor panic: {l}"))
        } else if guest_text(l).is_some_and(|g| g.starts_with(GUEST_SUMMARY)) {
            Watch::Finished
        } else {
            Watch::Continue
        }
    })?;
    save_log(who, guest, &cmd, &t);
    let text: Vec<&str> = t.lines.iter().filter_map(|l| guest_text(l)).collect();
    let mut r = parse(&text);
    // The runner's verdict on the run itself (timeouts, QEMU's exit), without the per-check
    // failures that the table shows.
    let normalized = Transcript {
        lines: text.iter().map(|s| s.to_string()).collect(),
        status: t.status,
        timed_out: t.timed_out,
        aborted: t.aborted.clone(),
        elapsed: t.elapsed,
        times: t.times.clone(),
    };
    for f in crate::tests::judge_guest(&normalized) {
        let per_check = f.starts_with("not ok") || f.starts_with("summary:");
        let dup = f.starts_with("no `# xenith-test");
        if !per_check && !dup {
            r.problems.push(f);
        }
    }
    if r.problems.is_empty() {
        say(format!("{guest} on {who}: {} checks", r.checks.len()));
    } else {
        say(format!("{guest} on {who}: {}", r.problems.join("; ")));
    }
    Ok(r)
}

fn save_log(who: &str, guest: &str, cmd: &std::process::Command, t: &Transcript) {
    let path = target_dir()
        .join("xenith/logs")
        .join(format!("conformance_{who}_{guest}.log"));
    let mut s = format!("# {}\n", cmd_line(cmd));
    for l in &t.lines {
        s.push_str(l);
        s.push('\n');
    }
    let _ = std::fs::create_dir_all(path.parent().expect("has parent"));
    let _ = std::fs::write(&path, s);
}

/// One guest's results on both sides.
struct GuestResult {
    name: String,
    xenith: GuestRun,
    xen: Option<GuestRun>,
}

impl GuestResult {
    /// Every key, in the oracle's order, then the ones only the other side printed.
    fn keys(&self) -> Vec<Key> {
        let first = self.xen.as_ref().unwrap_or(&self.xenith);
        let mut keys: Vec<Key> = first.checks.iter().map(|(k, _)| k.clone()).collect();
        let have: HashSet<Key> = keys.iter().cloned().collect();
        for (k, _) in &self.xenith.checks {
            if !have.contains(k) {
                keys.push(k.clone());
            }
        }
        keys
    }
}

/// Runs the suite; returns `false` when a Xen run was unusable (the exit status is then 1).
pub fn run(o: &Options) -> Result<bool> {
    crate::fetch::ensure_tools()?;
    let xen = if o.against_xen {
        Some(crate::xen::ensure_xen()?)
    } else {
        None
    };
    // The hypervisor is work in progress: if it does not build, its column is empty (with the
    // reason as a note) and the Xen column still runs.
    let hyp = match &o.xenith {
        Some(p) if p.is_file() => Ok(p.clone()),
        Some(p) => anyhow::bail!("--xenith {}: no such file", p.display()),
        None => crate::build::build_hyp(true),
    }
    .map_err(|e| {
        say(format!("Xenith did not build: {e:#}"));
        format!("Xenith did not build: {e:#}")
    });
    let guests = crate::build::build_guests()?;
    let selected: Vec<&(String, std::path::PathBuf)> = guests
        .iter()
        .filter(|(n, _)| o.filter.as_deref().is_none_or(|f| n.contains(f)))
        .collect();
    if selected.is_empty() {
        anyhow::bail!(
            "no test guest matches the filter; built: {}",
            guests
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut results = Vec::new();
    for (name, bin) in selected {
        let xenith = match &hyp {
            Ok(h) => run_guest("xenith", h, name, bin, o)?,
            Err(why) => GuestRun {
                problems: vec![why.clone()],
                ..GuestRun::default()
            },
        };
        let xen_run = match &xen {
            Some(x) => Some(run_guest("xen", &x.image, name, bin, o)?),
            None => None,
        };
        results.push(GuestResult {
            name: name.clone(),
            xenith,
            xen: xen_run,
        });
    }
    print_table(&results, xen.is_some());
    let report = markdown(&results, xen.as_ref());
    let path = target_dir().join("xenith/conformance.md");
    std::fs::create_dir_all(path.parent().expect("has parent"))?;
    std::fs::write(&path, report)?;
    say(format!("differences written to {}", path.display()));
    let xen_ok = results
        .iter()
        .all(|r| r.xen.as_ref().is_none_or(|x| x.problems.is_empty()));
    if !xen_ok {
        say("a Xen 4.17 run was unusable (see the notes above and the logs): exit status 1");
    }
    Ok(xen_ok)
}

#[derive(Default)]
struct Counts {
    ok: usize,
    skip: usize,
    not_ok: usize,
    missing: usize,
}

impl Counts {
    fn add(&mut self, v: &Verdict) {
        match v {
            Verdict::Ok => self.ok += 1,
            Verdict::Skip(_) => self.skip += 1,
            Verdict::NotOk(_) => self.not_ok += 1,
            Verdict::Missing => self.missing += 1,
        }
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ok, {} not ok, {} skipped, {} missing",
            self.ok, self.not_ok, self.skip, self.missing
        )
    }
}

fn desc_of(k: &Key) -> String {
    if k.nth == 0 {
        k.desc.clone()
    } else {
        format!("{} (#{})", k.desc, k.nth + 1)
    }
}

fn print_table(results: &[GuestResult], with_xen: bool) {
    let gw = results
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let dw = results
        .iter()
        .flat_map(|r| r.keys())
        .map(|k| desc_of(&k).len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!();
    print!("{:<gw$}  {:<dw$}  {:<7}", "guest", "check", "Xenith");
    if with_xen {
        print!("  {:<7}", "Xen 4.17");
    }
    println!();
    let (mut cx, mut cz, mut differ) = (Counts::default(), Counts::default(), 0);
    for r in results {
        for k in r.keys() {
            let a = r.xenith.verdict(&k);
            cx.add(&a);
            print!("{:<gw$}  {:<dw$}  {:<7}", r.name, desc_of(&k), a.word());
            if let Some(x) = &r.xen {
                let b = x.verdict(&k);
                cz.add(&b);
                let d = a.word() != b.word();
                differ += usize::from(d);
                print!("  {:<7}{}", b.word(), if d { "  *" } else { "" });
            }
            println!();
        }
    }
    for r in results {
        for p in &r.xenith.problems {
            println!("note: {} on Xenith: {p}", r.name);
        }
        for p in r.xen.iter().flat_map(|x| &x.problems) {
            println!("note: {} on Xen 4.17: {p}", r.name);
        }
    }
    println!();
    println!("xtask conformance: Xenith: {cx}");
    if with_xen {
        println!("xtask conformance: Xen 4.17: {cz}");
        println!("xtask conformance: {differ} checks differ (marked *)");
    }
}

/// `target/xenith/conformance.md`: the differences, with details, for whoever fixes them.
fn markdown(results: &[GuestResult], xen: Option<&crate::xen::Xen>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Xenith conformance: current differences\n");
    let _ = writeln!(
        s,
        "Generated by `cargo xtask conformance{}` on QEMU `{}` (Xen command line `{}`, dom0 \
         bootargs `{}`). Logs: `target/xenith/logs/conformance_*.log`.\n",
        if xen.is_some() { " --against xen" } else { "" },
        machine().tag(),
        qemu::XEN_BOOTARGS,
        qemu::GUEST_BOOTARGS
    );
    if let Some(x) = xen {
        let _ = writeln!(
            s,
            "Oracle: Debian `{}` {} (`{}`).\n",
            crate::xen::XEN_PACKAGE,
            x.version(),
            x.image.display()
        );
    }
    let mut rows = Vec::new();
    for r in results {
        for k in r.keys() {
            let a = r.xenith.verdict(&k);
            let b = r
                .xen
                .as_ref()
                .filter(|_| xen.is_some())
                .map(|x| x.verdict(&k));
            let interesting = match &b {
                Some(b) => a.word() != b.word(),
                None => !matches!(a, Verdict::Ok | Verdict::Skip(_)),
            };
            if interesting {
                rows.push((r.name.as_str(), k, a, b));
            }
        }
    }
    let _ = writeln!(
        s,
        "## {} {}\n",
        rows.len(),
        if xen.is_some() {
            "checks differ"
        } else {
            "checks do not pass on Xenith"
        }
    );
    if !rows.is_empty() {
        let _ = writeln!(
            s,
            "| guest | check | Xenith | {}\n|---|---|---|{}",
            if xen.is_some() { "Xen 4.17 |" } else { "" },
            if xen.is_some() { "---|" } else { "" }
        );
        let cell = |v: &Verdict| {
            let d = v.detail().replace('|', "\\|");
            if d.is_empty() {
                v.word().to_string()
            } else {
                format!("{}: {d}", v.word())
            }
        };
        for (g, k, a, b) in &rows {
            let _ = write!(
                s,
                "| {g} | {} | {} |",
                desc_of(k).replace('|', "\\|"),
                cell(a)
            );
            if let Some(b) = b {
                let _ = write!(s, " {} |", cell(b));
            }
            s.push('\n');
        }
        s.push('\n');
    }
    let mut notes = String::new();
    for r in results {
        for p in &r.xenith.problems {
            let _ = writeln!(notes, "- {} on Xenith: {p}", r.name);
        }
        for p in r.xen.iter().flat_map(|x| &x.problems) {
            let _ = writeln!(notes, "- {} on Xen 4.17: {p}", r.name);
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(s, "## Runs that did not complete cleanly\n\n{notes}");
    }
    if xen.is_some() {
        let _ = writeln!(s, "## `# info` lines that differ\n");
        for r in results {
            let Some(x) = &r.xen else { continue };
            let a: HashSet<&str> = r.xenith.info.iter().map(String::as_str).collect();
            let b: HashSet<&str> = x.info.iter().map(String::as_str).collect();
            let only_x: Vec<&str> = r
                .xenith
                .info
                .iter()
                .map(String::as_str)
                .filter(|l| !b.contains(l))
                .collect();
            let only_z: Vec<&str> = x
                .info
                .iter()
                .map(String::as_str)
                .filter(|l| !a.contains(l))
                .collect();
            if only_x.is_empty() && only_z.is_empty() {
                continue;
            }
            let _ = writeln!(s, "### {}\n\nXenith only:\n```", r.name);
            only_x.iter().for_each(|l| _ = writeln!(s, "{l}"));
            let _ = writeln!(s, "```\nXen 4.17 only:\n```");
            only_z.iter().for_each(|l| _ = writeln!(s, "{l}"));
            let _ = writeln!(s, "```\n");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_xen_prefixes() {
        assert_eq!(guest_text("(XEN) Freed 348kB init memory."), None);
        assert_eq!(guest_text("(d0) ok 1 - a"), Some("ok 1 - a"));
        assert_eq!(guest_text("(d0v1) # x"), Some("# x"));
        assert_eq!(guest_text("ok 1 - a"), Some("ok 1 - a"));
        assert_eq!(guest_text("(dummy) text"), Some("(dummy) text"));
    }

    #[test]
    fn parses_results() {
        let r = parse(&[
            "# xenith-test: cpus=2 gic=v2 psci=hvc hyp-checks=true",
            "# value 3",
            "ok 1 - first",
            "ok 2 - skipped one # SKIP no hypervisor",
            "not ok 3 - failing # returned -38 (-ENOSYS)",
            "ok 4 - first",
            "# xenith-test: passed=3 failed=1",
        ]);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.summary, Some((3, 1)));
        assert_eq!(r.info, ["value 3"]);
        let k = |d: &str, nth| Key {
            desc: d.into(),
            nth,
        };
        assert_eq!(r.verdict(&k("first", 0)), Verdict::Ok);
        assert_eq!(r.verdict(&k("first", 1)), Verdict::Ok);
        assert_eq!(
            r.verdict(&k("skipped one", 0)),
            Verdict::Skip("no hypervisor".into())
        );
        assert_eq!(
            r.verdict(&k("failing", 0)),
            Verdict::NotOk("returned -38 (-ENOSYS)".into())
        );
        assert_eq!(r.verdict(&k("absent", 0)), Verdict::Missing);
    }

    #[test]
    fn malformed_runs() {
        assert_eq!(parse(&["ok 1 - a"]).problems.len(), 1);
        assert_eq!(
            parse(&["ok 1 - a", "# xenith-test: passed=2 failed=0"])
                .problems
                .len(),
            1
        );
        assert_eq!(
            parse(&["ok 1 a", "# xenith-test: passed=1 failed=0"])
                .problems
                .len(),
            2
        );
    }

    #[test]
    fn merged_keys_keep_oracle_order() {
        let xen = parse(&["ok 1 - a", "ok 2 - b", "# xenith-test: passed=2 failed=0"]);
        let xenith = parse(&[
            "ok 1 - c",
            "not ok 2 - a # x",
            "# xenith-test: passed=1 failed=1",
        ]);
        let g = GuestResult {
            name: "g".into(),
            xenith,
            xen: Some(xen),
        };
        let keys: Vec<String> = g.keys().into_iter().map(|k| k.desc).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        let md = markdown(&[g], None);
        assert!(md.contains("| g | a | not ok: x |"), "{md}");
    }
}
