//! `cargo xtask fetch`: host tools (rustup targets, QEMU) and Debian's arm64 guest packages
//! (kernel + modules, busybox-static) unpacked into `.cache/debian/root/` (git-ignored).

use crate::util::{have, is_root, output, privileged, root, run, say};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Rust targets the pinned toolchain needs (see `rust-toolchain.toml`).
const RUST_TARGETS: &[&str] = &[
    "aarch64-unknown-none",
    "aarch64-unknown-none-softfloat",
    "aarch64-unknown-linux-musl",
];
/// Debian's meta-package for the current arm64 kernel.
const KERNEL_META: &str = "linux-image-arm64:arm64";
const BUSYBOX: &str = "busybox-static:arm64";

/// Debian arm64 packages whose files go as they are into dom0's initramfs: Xen's C xenstore
/// clients (`xenstore-read`, `-write`, `-ls`, ...), their libraries and glibc's loader, so
/// Debian's own programs are checked against Xenith's `xenstored`.
pub const DOM0_DEBS: &[&str] = &["xenstore-utils", "libxenstore4", "libxentoolcore1", "libc6"];

/// What the guest packages provide, all inside `.cache/debian/root/`.
#[derive(Debug, Clone)]
pub struct Debian {
    /// Kernel release, e.g. `6.1.0-50-arm64`.
    pub kver: String,
    /// Uncompressed arm64 `Image` (`/boot/vmlinuz-<kver>`).
    pub kernel: PathBuf,
    /// `/lib/modules/<kver>/`.
    pub modules: PathBuf,
    /// The static busybox binary.
    pub busybox: PathBuf,
}

pub fn cache_dir() -> PathBuf {
    root().join(".cache/debian")
}

/// Ensures the host tools: rustup targets and `qemu-system-aarch64`.
pub fn ensure_tools() -> Result<()> {
    if have("rustup") {
        let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
        let missing: Vec<&str> = RUST_TARGETS
            .iter()
            .copied()
            .filter(|t| !installed.lines().any(|l| l.trim() == *t))
            .collect();
        if !missing.is_empty() {
            say(format!("fetching rust targets {}", missing.join(" ")));
            run(Command::new("rustup")
                .args(["target", "add"])
                .args(&missing))?;
        }
    } else {
        say("rustup not found; assuming the toolchain has the aarch64 targets");
    }
    if !have("qemu-system-aarch64") {
        say("fetching qemu-system-arm (qemu-system-aarch64) with apt-get");
        apt_install(&["qemu-system-arm"])?;
    }
    Ok(())
}

fn apt_install(pkgs: &[&str]) -> Result<()> {
    let mut args = vec!["apt-get", "install", "-y", "--no-install-recommends"];
    args.extend_from_slice(pkgs);
    let mut cmd = privileged(&args)?;
    cmd.env("DEBIAN_FRONTEND", "noninteractive");
    if run(&mut cmd).is_ok() {
        return Ok(());
    }
    say("apt-get install failed; running apt-get update and retrying");
    run(&mut privileged(&["apt-get", "update"])?)?;
    run(&mut cmd)
}

/// Finds an already unpacked tree, if complete.
fn existing(rootfs: &Path) -> Option<Debian> {
    let boot = std::fs::read_dir(rootfs.join("boot")).ok()?;
    let mut kvers: Vec<String> = boot
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("vmlinuz-"))
                .map(str::to_string)
        })
        .filter(|v| rootfs.join("lib/modules").join(v).is_dir())
        .collect();
    kvers.sort();
    let kver = kvers.pop()?;
    let busybox = rootfs.join("bin/busybox");
    if !busybox.is_file() {
        return None;
    }
    Some(Debian {
        kernel: rootfs.join(format!("boot/vmlinuz-{kver}")),
        modules: rootfs.join("lib/modules").join(&kver),
        busybox,
        kver,
    })
}

/// Ensures the guest packages are downloaded and unpacked; reuses the cache.
pub fn ensure_debian() -> Result<Debian> {
    let cache = cache_dir();
    let rootfs = cache.join("root");
    if let Some(d) = existing(&rootfs) {
        return check_image(d);
    }
    let debs = cache.join("debs");
    std::fs::create_dir_all(&debs).with_context(|| format!("creating {}", debs.display()))?;

    let foreign = output(Command::new("dpkg").arg("--print-foreign-architectures"))
        .context("dpkg is needed to fetch Debian's arm64 packages (this must be a Debian host)")?;
    let mut need_update = false;
    if !foreign.lines().any(|l| l.trim() == "arm64") {
        say("adding dpkg architecture arm64");
        run(&mut privileged(&["dpkg", "--add-architecture", "arm64"])?)?;
        need_update = true;
    }
    if !need_update {
        let pol = output(Command::new("apt-cache").args(["policy", KERNEL_META]))?;
        need_update = !pol
            .lines()
            .any(|l| l.trim().starts_with("Candidate:") && !l.contains("(none)"));
    }
    if need_update {
        say("running apt-get update");
        run(&mut privileged(&["apt-get", "update"])?)?;
    }

    let meta = download(&debs, KERNEL_META, "linux-image-arm64_")?;
    let depends = output(Command::new("dpkg-deb").arg("-f").arg(&meta).arg("Depends"))?;
    let kpkg = kernel_dep(&depends).with_context(|| {
        format!(
            "no linux-image-<ver>-arm64 in the Depends of {}: {depends:?}",
            meta.display()
        )
    })?;
    let kdeb = download(&debs, &format!("{kpkg}:arm64"), &format!("{kpkg}_"))?;
    let bdeb = download(&debs, BUSYBOX, "busybox-static_")?;

    for deb in [&kdeb, &bdeb] {
        say(format!("unpacking {}", deb.display()));
        run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&rootfs))?;
    }
    let d = existing(&rootfs).with_context(|| {
        format!(
            "unpacked {} and {} but found no kernel/modules/busybox in {}",
            kdeb.display(),
            bdeb.display(),
            rootfs.display()
        )
    })?;
    check_image(d)
}

/// Ensures [`DOM0_DEBS`] are downloaded and unpacked into `.cache/debian/dom0-debs/`;
/// returns that directory.
pub fn ensure_dom0_debs() -> Result<PathBuf> {
    let cache = cache_dir();
    let dir = cache.join("dom0-debs");
    let stamp = dir.join(".xenith-unpacked");
    let want = DOM0_DEBS.join(" ");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == want) {
        return Ok(dir);
    }
    let debs = cache.join("debs");
    std::fs::create_dir_all(&debs).with_context(|| format!("creating {}", debs.display()))?;
    let _ = std::fs::remove_dir_all(&dir);
    for pkg in DOM0_DEBS {
        let deb = download(&debs, &format!("{pkg}:arm64"), &format!("{pkg}_"))?;
        say(format!("unpacking {}", deb.display()));
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir))?;
    }
    std::fs::write(&stamp, want).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(dir)
}

fn check_image(d: Debian) -> Result<Debian> {
    let mut head = [0u8; 64];
    use std::io::Read;
    std::fs::File::open(&d.kernel)
        .and_then(|mut f| f.read_exact(&mut head))
        .with_context(|| format!("reading {}", d.kernel.display()))?;
    if &head[0x38..0x3c] != b"ARM\x64" {
        bail!(
            "{} is not an uncompressed arm64 Image (no ARM\\x64 magic); delete {} and fetch again",
            d.kernel.display(),
            cache_dir().display()
        );
    }
    Ok(d)
}

/// Picks `linux-image-<ver>-arm64` out of a Depends field.
pub fn kernel_dep(depends: &str) -> Option<String> {
    depends
        .split([',', '|'])
        .map(|d| d.trim().split([' ', '(', ':']).next().unwrap_or(""))
        .find(|n| {
            n.starts_with("linux-image-") && n.ends_with("-arm64") && n != &"linux-image-arm64"
        })
        .map(str::to_string)
}

/// The newest `<prefix>*_arm64.deb` in `dir`.
pub fn find_deb(dir: &Path, prefix: &str) -> Option<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with("_arm64.deb"))
        })
        .collect();
    v.sort();
    v.pop()
}

/// `apt-get download pkg` into `dir` unless a `.deb` starting with `prefix` is there already.
fn download(dir: &Path, pkg: &str, prefix: &str) -> Result<PathBuf> {
    let find = || find_deb(dir, prefix);
    if let Some(p) = find() {
        return Ok(p);
    }
    say(format!("fetching {pkg}"));
    let mut cmd = Command::new("apt-get");
    cmd.arg("download");
    if is_root() {
        // apt drops to the `_apt` user, which cannot write here; stay root (no warning).
        cmd.args(["-o", "APT::Sandbox::User=root"]);
    }
    run(cmd.arg(pkg).current_dir(dir))
        .with_context(|| format!("downloading {pkg}; check `apt-cache policy {pkg}`"))?;
    find().with_context(|| {
        format!(
            "apt-get download {pkg} left no {prefix}*_arm64.deb in {}",
            dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::kernel_dep;

    #[test]
    fn picks_versioned_kernel() {
        assert_eq!(
            kernel_dep("linux-image-6.1.0-50-arm64 (= 6.1.176-1)").as_deref(),
            Some("linux-image-6.1.0-50-arm64")
        );
        assert_eq!(
            kernel_dep("foo, linux-image-6.1.0-9-arm64-unsigned (= 1) | linux-image-6.1.0-9-arm64")
                .as_deref(),
            Some("linux-image-6.1.0-9-arm64")
        );
        assert_eq!(kernel_dep("bar"), None);
    }
}
