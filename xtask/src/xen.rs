//! Debian's real Xen 4.17 as the oracle of `cargo xtask conformance --against xen`: fetches
//! `xen-hypervisor-4.17-arm64` (`apt-get download`, unpacked with `dpkg-deb -x` into
//! `.cache/debian/xen/`), finds the hypervisor image QEMU's `-kernel` boots, and builds the QEMU
//! command that boots it with a test guest as dom0's kernel.
//!
//! Xen's arm64 image (`/boot/xen-4.17-arm64`) is a flat binary with the Linux arm64 `Image`
//! header (magic `ARM\x64` at 0x38; also an EFI stub, `MZ` at 0), so QEMU loads it like a kernel
//! and passes the DTB in x0, exactly as for Xenith. The boot follows `shared/reference/`: the host
//! DT is QEMU's plus `/chosen` `xen,xen-bootargs`, `xen,dom0-bootargs` and a `multiboot,kernel`
//! module node (xtask/src/dt.rs), the module loaded at 0x5000_0000 by `-device loader`.
//!
//! What a bare-metal dom0 sees on Xen: no UART (Xen keeps the PL011; the guest runtime then
//! prints through `HYPERVISOR_console_io`, which Xen writes straight to its console without a
//! prefix for the hardware domain), PSCI over HVC, and SYSTEM_OFF from dom0 powering the machine
//! off (`(XEN) Hardware Dom0 halted: halting machine`, then QEMU exits 0).

use crate::fetch::{cache_dir, find_deb};
use crate::qemu::{self, Boot, Console, Devices, Machine};
use crate::util::{output, privileged, run, say, target_dir};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's package with the arm64 hypervisor.
pub const XEN_PACKAGE: &str = "xen-hypervisor-4.17-arm64";
/// Where the hypervisor sits inside the package.
const XEN_IMAGE: &str = "boot/xen-4.17-arm64";
/// Offset and value of the arm64 `Image` header magic.
const IMAGE_MAGIC_AT: usize = 0x38;
const IMAGE_MAGIC: &[u8; 4] = b"ARM\x64";
/// A line of Xen's console that means Xen itself died.
pub const XEN_PANIC: &str = "Panic on CPU";

/// The unpacked package.
#[derive(Debug, Clone)]
pub struct Xen {
    /// The image QEMU's `-kernel` boots.
    pub image: PathBuf,
    /// The package file it came from (its name carries the Debian version).
    pub deb: PathBuf,
}

impl Xen {
    /// Debian version from the `.deb` name, e.g. `4.17.7+13-g2445b30a44-0+deb12u1`.
    pub fn version(&self) -> String {
        self.deb
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('_').nth(1))
            .unwrap_or("?")
            .replace("%3a", ":")
    }
}

/// Directory the package is unpacked into.
fn xen_dir() -> PathBuf {
    cache_dir().join("xen")
}

/// Ensures the package is downloaded and unpacked; reuses the cache.
pub fn ensure_xen() -> Result<Xen> {
    let debs = cache_dir().join("debs");
    let prefix = format!("{XEN_PACKAGE}_");
    let deb = match find_deb(&debs, &prefix) {
        Some(d) => d,
        None => {
            std::fs::create_dir_all(&debs)
                .with_context(|| format!("creating {}", debs.display()))?;
            ensure_arm64_candidate()?;
            say(format!("fetching {XEN_PACKAGE}:arm64"));
            let mut cmd = Command::new("apt-get");
            cmd.arg("download");
            if crate::util::is_root() {
                // apt drops to the `_apt` user, which cannot write here; stay root.
                cmd.args(["-o", "APT::Sandbox::User=root"]);
            }
            run(cmd.arg(format!("{XEN_PACKAGE}:arm64")).current_dir(&debs)).with_context(|| {
                format!("downloading {XEN_PACKAGE}; check `apt-cache policy {XEN_PACKAGE}:arm64`")
            })?;
            find_deb(&debs, &prefix).with_context(|| {
                format!(
                    "apt-get download left no {prefix}*_arm64.deb in {}",
                    debs.display()
                )
            })?
        }
    };
    let dir = xen_dir();
    let image = dir.join(XEN_IMAGE);
    if !image.is_file() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        say(format!("unpacking {}", deb.display()));
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir))?;
    }
    check_image(&image)?;
    Ok(Xen { image, deb })
}

/// Adds the arm64 dpkg architecture and refreshes the package lists when the package has no
/// candidate (as `cargo xtask fetch` does for the kernel).
fn ensure_arm64_candidate() -> Result<()> {
    let foreign = output(Command::new("dpkg").arg("--print-foreign-architectures"))
        .context("dpkg is needed to fetch Debian's arm64 Xen (this must be a Debian host)")?;
    let mut update = false;
    if !foreign.lines().any(|l| l.trim() == "arm64") {
        say("adding dpkg architecture arm64");
        run(&mut privileged(&["dpkg", "--add-architecture", "arm64"])?)?;
        update = true;
    }
    if !update {
        let pol =
            output(Command::new("apt-cache").args(["policy", &format!("{XEN_PACKAGE}:arm64")]))?;
        update = !pol
            .lines()
            .any(|l| l.trim().starts_with("Candidate:") && !l.contains("(none)"));
    }
    if update {
        say("running apt-get update");
        run(&mut privileged(&["apt-get", "update"])?)?;
    }
    Ok(())
}

/// QEMU boots the image through its arm64 `Image` header; anything else would be loaded as a
/// raw blob at the start of RAM and never run.
fn check_image(image: &Path) -> Result<()> {
    let data = std::fs::read(image).with_context(|| {
        format!(
            "{XEN_PACKAGE} has no {XEN_IMAGE}; delete {} and run again",
            xen_dir().display()
        )
    })?;
    if !has_image_header(&data) {
        bail!(
            "{} has no arm64 Image header (ARM\\x64 at {IMAGE_MAGIC_AT:#x}); QEMU cannot boot it",
            image.display()
        );
    }
    Ok(())
}

/// Whether `data` starts with an arm64 `Image` header.
pub fn has_image_header(data: &[u8]) -> bool {
    data.get(IMAGE_MAGIC_AT..IMAGE_MAGIC_AT + 4) == Some(IMAGE_MAGIC.as_slice())
}

/// An empty disk for the virtio-blk device every boot has (`qemu::command`); the guests ignore it.
fn empty_disk() -> Result<PathBuf> {
    let p = target_dir().join("xenith/conformance/empty.img");
    if std::fs::metadata(&p).map(|m| m.len()).ok() != Some(1 << 20) {
        std::fs::create_dir_all(p.parent().expect("has parent"))?;
        std::fs::write(&p, vec![0u8; 1 << 20])?;
    }
    Ok(p)
}

/// The QEMU command booting hypervisor image `hyp` (Xen or Xenith: same boot protocol) with the
/// test guest `guest` as dom0's kernel; writes the host DTB to
/// `target/xenith/dtb/conformance-<who>-<machine>-<guest>.dtb`.
pub fn command(
    m: &Machine,
    who: &str,
    hyp: &Path,
    guest: &Path,
    xen_bootargs: &str,
    dom0_bootargs: &str,
) -> Result<Command> {
    let (km, _) = qemu::place_modules(guest, None)?;
    let name = guest
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("guest");
    let dtb = target_dir()
        .join("xenith/dtb")
        .join(format!("conformance-{who}-{}-{name}.dtb", m.tag()));
    std::fs::create_dir_all(dtb.parent().expect("has parent"))?;
    crate::dt::host_dtb(m, &km, None, xen_bootargs, dom0_bootargs, &[], &dtb)?;
    let boot = Boot::Xenith {
        hyp,
        dtb: &dtb,
        kernel: &km,
        ramdisk: None,
        extra: &[],
    };
    Ok(qemu::command(
        m,
        &boot,
        &Devices {
            disk: empty_disk()?,
        },
        Console::Piped,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_header() {
        let mut d = vec![0u8; 0x40];
        assert!(!has_image_header(&d));
        d[0x38..0x3c].copy_from_slice(b"ARM\x64");
        assert!(has_image_header(&d));
        assert!(!has_image_header(&d[..0x3a]));
    }

    #[test]
    fn version_from_deb_name() {
        let x = Xen {
            image: PathBuf::new(),
            deb: PathBuf::from(
                "/c/xen-hypervisor-4.17-arm64_4.17.7+13-g2445b30a44-0+deb12u1_arm64.deb",
            ),
        };
        assert_eq!(x.version(), "4.17.7+13-g2445b30a44-0+deb12u1");
    }
}
