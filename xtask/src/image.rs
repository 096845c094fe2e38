//! Images the QEMU runs need: ELF -> flat binary, the dom0 initramfs (newc cpio, gzip), the
//! virtio-blk test disk (with its own MD5, RFC 1321), and module dependency order read from the
//! `.ko` files' `.modinfo` sections.

use anyhow::{bail, Context, Result};
use object::elf::PT_LOAD;
use object::read::elf::{ElfFile64, ProgramHeader};
use object::{Endianness, Object, ObjectSection};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Converts an AArch64 ELF to a flat binary: every `PT_LOAD` segment's file bytes at offset
/// `p_paddr - lowest p_paddr`, gaps zero-filled (bss is not included; the image clears it).
/// Returns the load address of the first byte.
pub fn elf_to_bin(elf: &[u8]) -> Result<(u64, Vec<u8>)> {
    let file = ElfFile64::<Endianness>::parse(elf).context("not a 64-bit ELF file")?;
    let e = file.endian();
    let loads: Vec<_> = file
        .elf_program_headers()
        .iter()
        .filter(|ph| ph.p_type(e) == PT_LOAD && ph.p_filesz(e) > 0)
        .collect();
    let base = loads
        .iter()
        .map(|ph| ph.p_paddr(e))
        .min()
        .context("ELF has no PT_LOAD segment with file contents")?;
    let mut out = Vec::new();
    for ph in loads {
        let data = ph
            .data(e, elf)
            .map_err(|_| anyhow::anyhow!("PT_LOAD segment lies outside the file"))?;
        let off = usize::try_from(ph.p_paddr(e) - base)?;
        let end = off + data.len();
        if end > 256 << 20 {
            bail!("flat image would be {end} bytes: segments are too far apart");
        }
        if out.len() < end {
            out.resize(end, 0);
        }
        out[off..end].copy_from_slice(data);
    }
    Ok((base, out))
}

/// Reads `elf_path` and writes its flat binary to `bin_path`.
pub fn elf_file_to_bin(elf_path: &Path, bin_path: &Path) -> Result<()> {
    let elf = std::fs::read(elf_path).with_context(|| format!("reading {}", elf_path.display()))?;
    let (_, bin) =
        elf_to_bin(&elf).with_context(|| format!("converting {}", elf_path.display()))?;
    std::fs::write(bin_path, bin).with_context(|| format!("writing {}", bin_path.display()))
}

/// A newc ("070701") cpio archive writer, the format the Linux initramfs unpacker reads.
#[derive(Default)]
pub struct Cpio {
    buf: Vec<u8>,
    ino: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let namesize = name.len() + 1;
        let fields = [
            self.ino,
            mode,
            0, // uid
            0, // gid
            if mode & S_IFDIR == S_IFDIR { 2 } else { 1 },
            0, // mtime: reproducible archives
            u32::try_from(data.len()).expect("cpio member under 4 GiB"),
            0,
            0,
            rdev.0,
            rdev.1,
            u32::try_from(namesize).expect("short name"),
            0, // check
        ];
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }
    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
    pub fn dir(&mut self, name: &str) {
        self.entry(name, S_IFDIR | 0o755, (0, 0), &[]);
    }
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, S_IFREG | perm, (0, 0), data);
    }
    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, S_IFLNK | 0o777, (0, 0), target.as_bytes());
    }
    pub fn chardev(&mut self, name: &str, perm: u32, major: u32, minor: u32) {
        self.entry(name, S_IFCHR | perm, (major, minor), &[]);
    }
    /// Appends the trailer and returns the archive.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.buf
    }
}

/// The `depends=` list of a kernel module's `.modinfo` section.
pub fn module_depends(ko: &[u8]) -> Result<Vec<String>> {
    let file = object::File::parse(ko).context("not an ELF module")?;
    let sec = file
        .section_by_name(".modinfo")
        .context("module has no .modinfo section")?;
    let data = sec.data().context("reading .modinfo")?;
    Ok(data
        .split(|&b| b == 0)
        .filter_map(|kv| kv.strip_prefix(b"depends="))
        .flat_map(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect())
}

/// Indexes `<modules>/kernel/**.ko` by module name (`-` spelled `_`).
fn index_modules(dir: &Path, out: &mut BTreeMap<String, PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            index_modules(&p, out)?;
        } else if let Some(stem) = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".ko"))
        {
            out.insert(stem.replace('-', "_"), p);
        }
    }
    Ok(())
}

/// The modules to load for `wanted`, dependencies first, as (name, path).
pub fn module_closure(modules_dir: &Path, wanted: &[&str]) -> Result<Vec<(String, PathBuf)>> {
    let mut index = BTreeMap::new();
    index_modules(&modules_dir.join("kernel"), &mut index)?;
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    fn visit(
        name: &str,
        index: &BTreeMap<String, PathBuf>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<(String, PathBuf)>,
        depth: usize,
    ) -> Result<()> {
        if seen.contains(name) {
            return Ok(());
        }
        if depth > 32 {
            bail!("module dependency loop at {name}");
        }
        let path = index
            .get(name)
            .with_context(|| format!("kernel module {name}.ko not found in the kernel package"))?;
        let ko = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        for dep in module_depends(&ko).with_context(|| format!("parsing {}", path.display()))? {
            // `depends=` spells names as the files do (`xen-privcmd`); the index uses `_`.
            visit(&dep.replace('-', "_"), index, seen, order, depth + 1)?;
        }
        seen.insert(name.to_string());
        order.push((name.to_string(), path.clone()));
        Ok(())
    }
    for w in wanted {
        visit(w, &index, &mut seen, &mut order, 0)?;
    }
    Ok(order)
}

/// Gzips `data` (the kernel has CONFIG_RD_GZIP).
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

/// Size of the virtio-blk test disk.
pub const DISK_SIZE: usize = 16 << 20;
/// The header block; the pattern fills the rest of the disk.
pub const DISK_HEADER: usize = 4096;

/// The test disk: a header line `XENITH-DISK v1 bytes=<n> md5=<hex>` in the first 4 KiB block
/// (zero padded), then `n` bytes of a deterministic pattern whose MD5 the header gives.
pub fn test_disk() -> Vec<u8> {
    let mut pattern = vec![0u8; DISK_SIZE - DISK_HEADER];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in pattern.chunks_mut(8) {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let header = format!(
        "XENITH-DISK v1 bytes={} md5={}\n",
        pattern.len(),
        md5_hex(&pattern)
    );
    let mut disk = header.into_bytes();
    disk.resize(DISK_HEADER, 0);
    disk.extend_from_slice(&pattern);
    disk
}

/// MD5 (RFC 1321) as lowercase hex, for the disk check `md5sum` repeats in the guest.
pub fn md5_hex(data: &[u8]) -> String {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i: i32| ((f64::from(i + 1)).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut h: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut msg = data.to_vec();
    let bitlen = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bitlen.to_le_bytes());
    for block in msg.chunks_exact(64) {
        let m: Vec<u32> = block
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = h;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        h[0] = h[0].wrapping_add(a);
        h[1] = h[1].wrapping_add(b);
        h[2] = h[2].wrapping_add(c);
        h[3] = h[3].wrapping_add(d);
    }
    h.iter()
        .flat_map(|w| w.to_le_bytes())
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Modules dom0 loads (their dependencies are added from `.modinfo`).
pub const DOM0_MODULES: &[&str] = &["virtio_mmio", "virtio_blk", "virtio_net"];
/// Modules dom0 loads only when it runs on Xen (`/sys/hypervisor/type` is `xen`): their init
/// fails with -ENODEV elsewhere. They give `/dev/xen/{evtchn,privcmd,gntdev,gntalloc}` and
/// `/proc/xen`; `/dev/xen/xenbus{,_backend}` come from the built-in xenbus
/// (`CONFIG_XEN=y`, `CONFIG_XEN_BACKEND=y`).
pub const XEN_MODULES: &[&str] = &[
    "xen_evtchn",
    "xen_privcmd",
    "xenfs",
    "xen_gntdev",
    "xen_gntalloc",
];

/// Files of the unpacked [`crate::fetch::DOM0_DEBS`] copied into the initramfs at the same
/// path (symlinks stay symlinks): Debian's xenstore client with its libraries and glibc.
pub const DOM0_DEB_FILES: &[&str] = &[
    "usr/bin/xenstore",
    "lib/ld-linux-aarch64.so.1",
    "lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
    "lib/aarch64-linux-gnu/libc.so.6",
    "usr/lib/aarch64-linux-gnu/libxenstore.so.4",
    "usr/lib/aarch64-linux-gnu/libxenstore.so.4.0",
    "usr/lib/aarch64-linux-gnu/libxentoolcore.so.1",
    "usr/lib/aarch64-linux-gnu/libxentoolcore.so.1.0",
];
/// The names `usr/bin/xenstore` answers to (it dispatches on `argv[0]`), as
/// `/usr/bin/xenstore-<name>` symlinks.
pub const XENSTORE_CLIENTS: &[&str] = &[
    "read", "write", "ls", "rm", "list", "exists", "chmod", "watch",
];

const INIT: &str = include_str!("../initramfs/init");
/// Check scripts `/xenith/<name>.sh`, chosen with `xenith.test=<name>`.
const TEST_SCRIPTS: &[(&str, &str)] = &[
    ("dom0", include_str!("../initramfs/dom0.sh")),
    ("xen", include_str!("../initramfs/xen.sh")),
    ("xl", include_str!("../initramfs/xl.sh")),
    ("dom0less", include_str!("../initramfs/dom0less.sh")),
    ("xenstore", include_str!("../initramfs/xenstore.sh")),
    ("bench", include_str!("../initramfs/bench.sh")),
];
/// Builds a dom0less domU's initramfs ([`domu_initramfs`]) into `out`.
pub fn build_domu_initramfs(deb: &crate::fetch::Debian, out: &Path) -> Result<()> {
    let bb = std::fs::read(&deb.busybox)
        .with_context(|| format!("reading {}", deb.busybox.display()))?;
    write_if_changed(out, &domu_initramfs(&bb)?)
}

/// A domU's `/init` (busybox only): mounts, a report line, then busybox init with a shell.
const DOMU_INIT: &str = include_str!("../initramfs/domu-init");
/// The domU's `/etc/inittab` (busybox init): a login shell on the console, respawned; on
/// `poweroff`/`reboot` (signals to PID 1) the disks are synced first.
const DOMU_INITTAB: &str = "::respawn:-/bin/cttyhack /bin/sh\n::shutdown:/bin/sync\n";
/// `/etc/xen/guest.cfg`: the default domU (Debian's kernel, the busybox initramfs).
pub const GUEST_CFG: &str = include_str!("../initramfs/guest.cfg");
/// A domU whose kernel panics (no `/init` of its own: `rdinit=/nonexistent`).
pub const CRASH_CFG: &str = include_str!("../initramfs/crash.cfg");
/// Where the domU's kernel and initramfs live in dom0.
pub const DOMU_KERNEL: &str = "boot/domU-vmlinuz";
pub const DOMU_INITRD: &str = "boot/domU-initrd.gz";

/// A domU's initramfs (for `xl create` and dom0less alike): busybox, `/dev/console`, `/init`.
pub fn domu_initramfs(busybox: &[u8]) -> Result<Vec<u8>> {
    let mut c = Cpio::default();
    for d in [
        "bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "root", "etc",
    ] {
        c.dir(d);
    }
    c.chardev("dev/console", 0o600, 5, 1);
    c.chardev("dev/null", 0o666, 1, 3);
    c.file("bin/busybox", 0o755, busybox);
    c.symlink("bin/sh", "busybox");
    c.file("init", 0o755, DOMU_INIT.as_bytes());
    c.file("etc/inittab", 0o644, DOMU_INITTAB.as_bytes());
    gzip(&c.finish())
}

/// Builds the dom0 initramfs (gzip'd newc cpio): busybox, `/dev/console`, `/init`, the check
/// scripts, dom0's tools in `/bin` (`xen-check`, ...), the virtio modules with their load order in `/etc/xenith-modules`
/// and the Xen modules (loaded on Xen only) in `/etc/xenith-xen-modules`, and
/// [`DOM0_DEB_FILES`] from `dom0_debs` (the unpacked [`crate::fetch::DOM0_DEBS`]).
pub fn build_initramfs(
    deb: &crate::fetch::Debian,
    tools: &[(String, std::path::PathBuf)],
    dom0_debs: &Path,
    out: &Path,
) -> Result<()> {
    let mut c = Cpio::default();
    for d in [
        "bin",
        "sbin",
        "usr",
        "usr/bin",
        "usr/sbin",
        "dev",
        "proc",
        "sys",
        "tmp",
        "root",
        "etc",
        "lib",
        "lib/modules",
        "lib/aarch64-linux-gnu",
        "usr/lib",
        "usr/lib/aarch64-linux-gnu",
        "run",
        "var",
        "xenith",
    ] {
        c.dir(d);
    }
    c.symlink("var/run", "../run");
    c.chardev("dev/console", 0o600, 5, 1);
    c.chardev("dev/null", 0o666, 1, 3);
    let bb = std::fs::read(&deb.busybox)
        .with_context(|| format!("reading {}", deb.busybox.display()))?;
    c.file("bin/busybox", 0o755, &bb);
    // The domU: Debian's kernel gzip'd as a `/boot/vmlinuz` (xl decompresses it), a busybox
    // initramfs and the xl.cfg files.
    c.dir("boot");
    c.dir("etc/xen");
    let kernel =
        std::fs::read(&deb.kernel).with_context(|| format!("reading {}", deb.kernel.display()))?;
    c.file(DOMU_KERNEL, 0o644, &gzip(&kernel)?);
    drop(kernel);
    c.file(DOMU_INITRD, 0o644, &domu_initramfs(&bb)?);
    c.file("etc/xen/guest.cfg", 0o644, GUEST_CFG.as_bytes());
    c.file("etc/xen/crash.cfg", 0o644, CRASH_CFG.as_bytes());
    c.symlink("bin/sh", "busybox");
    c.file("init", 0o755, INIT.as_bytes());
    for (name, text) in TEST_SCRIPTS {
        c.file(&format!("xenith/{name}.sh"), 0o755, text.as_bytes());
    }
    for (name, exe) in tools {
        let bin = std::fs::read(exe).with_context(|| format!("reading {}", exe.display()))?;
        c.file(&format!("bin/{name}"), 0o755, &bin);
    }
    for f in DOM0_DEB_FILES {
        let src = dom0_debs.join(f);
        let meta = std::fs::symlink_metadata(&src).with_context(|| {
            format!(
                "{} (from the Debian packages {:?})",
                src.display(),
                crate::fetch::DOM0_DEBS
            )
        })?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&src)?;
            c.symlink(f, &target.to_string_lossy());
        } else {
            let data = std::fs::read(&src).with_context(|| format!("reading {}", src.display()))?;
            c.file(f, 0o755, &data);
        }
    }
    for name in XENSTORE_CLIENTS {
        c.symlink(&format!("usr/bin/xenstore-{name}"), "xenstore");
    }
    let mods = module_closure(&deb.modules, DOM0_MODULES)?;
    let xen_mods: Vec<_> = module_closure(&deb.modules, XEN_MODULES)?
        .into_iter()
        .filter(|(n, _)| !mods.iter().any(|(m, _)| m == n))
        .collect();
    for (list, file) in [
        (&mods, "etc/xenith-modules"),
        (&xen_mods, "etc/xenith-xen-modules"),
    ] {
        let mut order = String::new();
        for (name, path) in list {
            let ko = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            c.file(&format!("lib/modules/{name}.ko"), 0o644, &ko);
            order.push_str(name);
            order.push('\n');
        }
        c.file(file, 0o644, order.as_bytes());
    }
    let gz = gzip(&c.finish())?;
    write_if_changed(out, &gz)
}

/// Writes `data` unless the file already holds exactly it (keeps mtimes stable).
pub fn write_if_changed(path: &Path, data: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == data) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_rfc1321_vectors() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            md5_hex(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            ),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    #[test]
    fn disk_header_matches_pattern() {
        let d = test_disk();
        assert_eq!(d.len(), DISK_SIZE);
        let line = std::str::from_utf8(&d[..d.iter().position(|&b| b == b'\n').unwrap()]).unwrap();
        let md5 = line.split("md5=").nth(1).unwrap();
        assert_eq!(md5, md5_hex(&d[DISK_HEADER..]));
        assert!(line.contains(&format!("bytes={}", DISK_SIZE - DISK_HEADER)));
    }

    #[test]
    fn cpio_layout() {
        let mut c = Cpio::default();
        c.dir("dev");
        c.symlink("var/run", "../run");
        c.chardev("dev/console", 0o600, 5, 1);
        c.file("init", 0o755, b"#!/bin/sh\n");
        c.symlink("bin/sh", "busybox");
        let a = c.finish();
        assert_eq!(a.len() % 4, 0);
        assert!(a.starts_with(b"070701"));
        // Every header starts 4-aligned; the console node has rdev 5:1.
        let pos = a.windows(11).position(|w| w == b"dev/console").unwrap();
        let hdr = &a[pos - 110..pos];
        assert!(hdr.starts_with(b"070701"));
        let field = |i: usize| {
            u32::from_str_radix(
                std::str::from_utf8(&hdr[6 + 8 * i..14 + 8 * i]).unwrap(),
                16,
            )
            .unwrap()
        };
        assert_eq!(field(1), 0o020600);
        assert_eq!((field(9), field(10)), (5, 1));
        assert_eq!(field(11), 12);
        assert!(a.ends_with(&[0; 0]));
        assert!(a.windows(10).any(|w| w == b"TRAILER!!!"));
    }

    /// The Xen modules' order from the real kernel package, when it has been fetched:
    /// `xenfs` needs `xen-privcmd` (spelled with a dash in its `depends=`).
    #[test]
    fn xen_module_order() {
        let Ok(deb) = std::fs::read_dir(crate::fetch::cache_dir().join("root/lib/modules")) else {
            return;
        };
        for d in deb.flatten() {
            let order: Vec<String> = module_closure(&d.path(), XEN_MODULES)
                .unwrap()
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            let pos = |m: &str| order.iter().position(|n| n == m).unwrap();
            assert!(pos("xen_privcmd") < pos("xenfs"), "{order:?}");
            for m in XEN_MODULES {
                pos(m);
            }
        }
    }

    /// Round trip through the host's `cpio`, when it is installed.
    #[test]
    fn cpio_host_tool_reads_it() {
        if !crate::util::have("cpio") {
            return;
        }
        let mut c = Cpio::default();
        c.dir("d");
        c.file("d/f", 0o644, b"hello");
        c.symlink("d/l", "f");
        let a = c.finish();
        let dir = std::env::temp_dir().join(format!("xtask-cpio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = std::process::Command::new("cpio")
            .args(["-id", "--quiet"])
            .current_dir(&dir)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&a).unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(std::fs::read(dir.join("d/f")).unwrap(), b"hello");
        assert_eq!(std::fs::read_link(dir.join("d/l")).unwrap(), Path::new("f"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Converts an ELF built by the host toolchain for aarch64 when the target is installed
    /// (`rustc --target aarch64-unknown-none`), checking the segments land at their offsets.
    #[test]
    fn elf_to_bin_on_real_elf() {
        let dir = std::env::temp_dir().join(format!("xtask-elf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("t.rs");
        std::fs::write(
            &src,
            "#![no_std]\n#![no_main]\n#[no_mangle]\n#[link_section = \".text.head\"]\npub extern \"C\" fn _start() -> ! { loop {} }\n\
             #[no_mangle]\n#[used]\npub static DATA: [u8; 4] = *b\"XDAT\";\n\
             #[panic_handler]\nfn p(_: &core::panic::PanicInfo) -> ! { loop {} }\n",
        )
        .unwrap();
        let ld = dir.join("link.ld");
        std::fs::write(
            &ld,
            "ENTRY(_start)\nSECTIONS {\n . = 0x40080000;\n .text : { *(.text.head) *(.text*) }\n . = 0x40090000;\n .rodata : AT(0x40090000) { KEEP(*(.rodata*)) }\n}\n",
        )
        .unwrap();
        let out = dir.join("t.elf");
        let st = std::process::Command::new("rustc")
            .args([
                "--edition",
                "2021",
                "--target",
                "aarch64-unknown-none",
                "-C",
                "panic=abort",
                "-O",
            ])
            .arg("-C")
            .arg(format!("link-arg=-T{}", ld.display()))
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .status();
        if !st.is_ok_and(|s| s.success()) {
            eprintln!("skipping: no aarch64-unknown-none target");
            return;
        }
        let (base, bin) = elf_to_bin(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(base, 0x4008_0000);
        assert_eq!(&bin[0x1_0000..0x1_0004], b"XDAT");
        // `b .` is 0x14000000.
        assert_eq!(&bin[0..4], &0x1400_0000u32.to_le_bytes());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
