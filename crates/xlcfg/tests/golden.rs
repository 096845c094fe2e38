//! Golden tests: every `tests/data/*.cfg` is parsed and the result compared with the
//! `*.golden` file beside it (regenerate with `UPDATE_GOLDEN=1 cargo test -p xlcfg`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use xlcfg::{Config, DomainConfig, Op};

/// The text recorded for one config file.
fn render(src: &[u8]) -> String {
    let mut out = String::new();
    let cfg = match Config::parse_bytes(src) {
        Ok(c) => c,
        Err(e) => {
            writeln!(out, "# syntax error\n{e}").unwrap();
            return out;
        }
    };
    writeln!(out, "# statements").unwrap();
    for e in cfg.entries() {
        let op = match e.op {
            Op::Assign => "=",
            Op::Append => "+=",
        };
        writeln!(out, "{}:{} {} {op} {}", e.line, e.col, e.key, e.value).unwrap();
    }
    let mut warnings = Vec::new();
    match DomainConfig::from_config(&cfg, &mut warnings) {
        Ok(d) => {
            writeln!(out, "# domain\n{d:#?}").unwrap();
            writeln!(out, "# warnings").unwrap();
            for w in &warnings {
                writeln!(out, "{w}").unwrap();
            }
        }
        Err(e) => writeln!(out, "# config error\n{e}").unwrap(),
    }
    out
}

fn cfg_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
        .collect();
    files.sort();
    files
}

#[test]
fn golden() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    let files = cfg_files();
    assert!(files.len() >= 40, "tests/data lost its .cfg files");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let src = std::fs::read(&path).unwrap();
        let got = render(&src);
        let is_error = got.contains("# syntax error") || got.contains("# config error");
        if name.starts_with("err-") != is_error {
            failures.push(format!(
                "{name}: err-* files must fail and only they\n{got}"
            ));
        }
        let golden = path.with_extension("golden");
        if update {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!(
                "{name}: differs from {}\n--- want ---\n{want}--- got ---\n{got}",
                golden.display()
            )),
            Err(e) => failures.push(format!(
                "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
                golden.display()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff)",
        failures.join("\n")
    );
}

/// Re-serialising a parsed file and parsing that gives the same effective settings.
#[test]
fn golden_files_round_trip_through_display() {
    for path in cfg_files() {
        let src = std::fs::read(&path).unwrap();
        let Ok(cfg) = Config::parse_bytes(&src) else {
            continue;
        };
        let again = Config::parse(&cfg.to_string())
            .unwrap_or_else(|e| panic!("{}: reparse: {e}\n{cfg}", path.display()));
        for e in cfg.entries() {
            assert_eq!(
                again.get(&e.key).map(|x| &x.value),
                cfg.get(&e.key).map(|x| &x.value),
                "{}: {}",
                path.display(),
                e.key
            );
        }
    }
}
