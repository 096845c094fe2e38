//! `cargo xtask build`: the hypervisor and the test guests for aarch64, converted to flat
//! binaries (`target/xenith.bin`, `target/guests/<name>.bin`).

use crate::image::elf_file_to_bin;
use crate::util::{cmd_line, root, say, target_dir};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The hypervisor's target: no FP/SIMD at EL2.
pub const HYP_TARGET: &str = "aarch64-unknown-none-softfloat";
/// The test guests' target.
pub const GUEST_TARGET: &str = "aarch64-unknown-none";
/// dom0's userspace tools (`tools/xen-check`): static musl binaries, linked by `rust-lld`
/// (`.cargo/config.toml`), so no cross C toolchain is needed.
pub const DOM0_TOOLS_TARGET: &str = "aarch64-unknown-linux-musl";

/// What `build` produced.
#[derive(Debug, Clone)]
pub struct Built {
    /// `target/xenith.bin`: flat image with a Linux arm64 Image header.
    pub hyp: PathBuf,
    /// `(name, target/guests/<name>.bin)`, sorted by name.
    pub guests: Vec<(String, PathBuf)>,
}

/// Builds `package` for `target` and returns the ELF executables it produced.
fn cargo_build(package: &str, target: &str, release: bool) -> Result<Vec<PathBuf>> {
    cargo_build_with(package, target, release, &[])
}

/// `cargo_build` with extra cargo arguments.
fn cargo_build_with(
    package: &str,
    target: &str,
    release: bool,
    extra: &[&str],
) -> Result<Vec<PathBuf>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root())
        .args(["build", "-p", package, "--target", target])
        .args(["--message-format", "json-render-diagnostics"])
        .args(extra);
    if release {
        cmd.arg("--release");
    }
    say(format!("building {package}: {}", cmd_line(&cmd)));
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `{}`", cmd_line(&cmd)))?;
    let mut exes = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line?;
        if let Some(exe) = json_string_field(&line, "executable") {
            exes.push(PathBuf::from(exe));
        }
    }
    let st = child.wait()?;
    if !st.success() {
        bail!("building {package} for {target} failed (see the compiler errors above)");
    }
    Ok(exes)
}

/// The string value of `"key":"..."` in one line of cargo's JSON messages (no escapes expected
/// in our paths; a value with escapes is skipped).
fn json_string_field(line: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\":\"");
    let start = line.find(&pat)? + pat.len();
    let rest = &line[start..];
    let end = rest.find('"')?;
    let v = &rest[..end];
    (!v.contains('\\')).then(|| v.to_string())
}

/// Builds the hypervisor and converts it to `target/xenith.bin`.
pub fn build_hyp(release: bool) -> Result<PathBuf> {
    let exes = cargo_build("xenith", HYP_TARGET, release)?;
    let elf = exes
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "xenith"))
        .context("cargo built no `xenith` executable")?;
    let bin = target_dir().join("xenith.bin");
    elf_file_to_bin(&elf, &bin)?;
    check_image_header(&bin)?;
    Ok(bin)
}

/// QEMU's `-kernel` needs the Linux arm64 Image header (magic `ARM\x64` at 0x38) to load the
/// flat image at RAM + text_offset and pass the DTB in x0.
fn check_image_header(bin: &std::path::Path) -> Result<()> {
    let data = std::fs::read(bin)?;
    if data.get(0x38..0x3c) != Some(b"ARM\x64") {
        say(format!(
            "warning: {} has no arm64 Image header (ARM\\x64 at 0x38); QEMU will load it as a raw blob",
            bin.display()
        ));
    }
    Ok(())
}

/// Builds the test guests and converts each to `target/guests/<name>.bin`.
pub fn build_guests() -> Result<Vec<(String, PathBuf)>> {
    let exes = cargo_build("test-guests", GUEST_TARGET, true)?;
    let dir = target_dir().join("guests");
    std::fs::create_dir_all(&dir)?;
    let mut out = Vec::new();
    for elf in exes {
        let name = elf
            .file_name()
            .and_then(|n| n.to_str())
            .context("guest executable without a name")?
            .to_string();
        let bin = dir.join(format!("{name}.bin"));
        elf_file_to_bin(&elf, &bin)?;
        out.push((name, bin));
    }
    out.sort();
    Ok(out)
}

/// dom0's userspace tools: (cargo package, executables it provides). Each executable goes to
/// `/bin/<name>` in dom0's initramfs.
pub const DOM0_TOOLS: &[(&str, &[&str])] = &[
    ("xen-check", &["xen-check"]),
    ("xenstored", &["xenstored", "xenstore-check"]),
    ("xl", &["xl"]),
];

/// Builds dom0's tools ([`DOM0_TOOLS`]), stripped of debug info so the initramfs stays small;
/// returns (name, static executable) for each.
pub fn build_dom0_tools() -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for (package, bins) in DOM0_TOOLS {
        let exes = cargo_build_with(
            package,
            DOM0_TOOLS_TARGET,
            true,
            &["--config", "profile.release.strip=\"debuginfo\""],
        )?;
        for bin in *bins {
            let exe = exes
                .iter()
                .find(|p| p.file_name().is_some_and(|n| n == *bin))
                .with_context(|| format!("cargo built no `{bin}` executable in {package}"))?;
            out.push((bin.to_string(), exe.clone()));
        }
    }
    Ok(out)
}

pub fn build_all(release: bool) -> Result<Built> {
    let hyp = build_hyp(release)?;
    let guests = build_guests()?;
    say(format!("hypervisor: {}", hyp.display()));
    for (_, g) in &guests {
        say(format!("test guest: {}", g.display()));
    }
    Ok(Built { hyp, guests })
}

#[cfg(test)]
mod tests {
    use super::json_string_field;

    #[test]
    fn executable_from_cargo_json() {
        let l = r#"{"reason":"compiler-artifact","executable":"/t/x/release/hello","fresh":true}"#;
        assert_eq!(
            json_string_field(l, "executable").as_deref(),
            Some("/t/x/release/hello")
        );
        assert_eq!(
            json_string_field(r#"{"executable":null}"#, "executable"),
            None
        );
    }
}
