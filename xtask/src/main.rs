//! `cargo xtask`: Xenith's build/run/test driver.
//!
//! ```text
//! cargo xtask fetch                 host tools + Debian arm64 kernel/busybox into .cache/debian
//! cargo xtask build [--debug]       target/xenith.bin and target/guests/<name>.bin
//! cargo xtask run [options]         boot Xenith + dom0 to a shell on this terminal
//! cargo xtask test [--filter S] [-v] every test; exit status 1 on any failure
//! cargo xtask bench [--hypercalls]  boot to dom0 userspace natively and under Xenith; hcbench
//!                                   under Xenith and Xen 4.17
//! cargo xtask bench --domains       xl create/console/destroy, memory per domain, xenstored
//!                                   throughput under Xenith and Xen 4.17
//! cargo xtask conformance [--against xen] [--filter S]  test guests on Xenith (and real Xen)
//! ```

mod bench;
mod build;
mod conformance;
mod doccheck;
mod dt;
mod fetch;
mod image;
mod qemu;
mod tests;
mod util;
mod xen;

use anyhow::{bail, Context, Result};
use qemu::{Boot, Console, Devices, Machine};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use util::{say, target_dir};

const HELP: &str = "\
usage: cargo xtask <command> [options]

commands:
  fetch             install missing tools (rustup targets, qemu-system-aarch64) and download
                    Debian's arm64 kernel + busybox-static into .cache/debian/
  build [--debug]   build the hypervisor (target/xenith.bin) and the test guests
                    (target/guests/<name>.bin); release profile unless --debug
  run [options]     fetch + build, then boot Xenith with Debian Linux as dom0 on QEMU, serial
                    console on this terminal (dom0 shell `dom0# `; Ctrl-A X quits QEMU)
      --gic 2|3         GIC version (default 3)
      --cpu NAME        QEMU CPU model: cortex-a57 (default) or max
      --smp N           physical CPUs (default 2)
      --vcpus N         dom0 vCPUs (default: as --smp; passed as dom0_max_vcpus=N)
      --dom0less N      also boot N dom0less domUs from the host DT (domU1..N: Debian's kernel,
                        a busybox initramfs, 128 MiB, 1 vCPU, vpl011 console; CTRL-a three
                        times cycles the serial input dom0 -> DOM1 .. DOMN -> Xenith)
      --mem SIZE        RAM (default 2G)
      --guest NAME      boot target/guests/NAME.bin as dom0's kernel instead of Linux
      --native          boot the Linux kernel directly on QEMU, without Xenith
      --on-xen          boot Debian's real Xen 4.17 instead of Xenith, same dom0 kernel and
                        initramfs, dom0 on hvc0 (the oracle; see docs/testing-on-xen.md)
      --test NAME       run /xenith/NAME.sh in dom0 (e.g. dom0: the test checks) then power off
      --debug           debug build of the hypervisor
  test [options]    host unit tests, build, then every QEMU boot test; a summary table and
                    `xtask test: N passed, M failed`; exit status 1 on any failure
      --filter SUBSTR   only the cases whose name contains SUBSTR
      -v, --verbose     stream every console line
      --guest-timeout S / --linux-timeout S   per-boot limits (default 60 / 300 seconds)
  bench [--runs N]  boot to dom0 userspace natively and under Xenith with -icount shift=0,
                    median of N (default 3) runs, and report the ratio; then the hcbench
                    guest (hypercall, event and SMCCC round trips, in instructions) under
                    Xenith and under Debian's Xen 4.17, side by side
      --boot            only the boot benchmark
      --hypercalls      only the hypercall benchmark
      --domains         instead: dom0 runs xtask/initramfs/bench.sh under Xenith and under
                        Xen 4.17 (xl create to the domU's shell, create-to-destroy cycle,
                        hypervisor memory per domain in KiB, xenstored requests/s), with
                        -icount shift=0 on 1 CPU and by the wall clock on 2, side by side
      --clock icount|wall  --domains: only one of the two
  conformance [options]  boot every test guest as dom0 under Xenith and print its checks as a
                    table; differences go to target/xenith/conformance.md (see docs/conformance.md)
      --against xen     also under Debian's Xen 4.17 (fetched into .cache/debian/xen), side by
                        side; exit status 1 only if a Xen run crashes, hangs or is malformed
      --filter SUBSTR   only the guests whose name contains SUBSTR
      -v, --verbose     stream every console line
      --timeout S       per-boot limit (default 60 seconds)
      --xenith IMAGE    a prebuilt Xenith image instead of building target/xenith.bin
";

fn main() {
    if let Err(e) = real_main() {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

/// `--key value` / `--key=value` / `--flag` options after the subcommand.
struct Args {
    rest: Vec<String>,
}

impl Args {
    fn flag(&mut self, names: &[&str]) -> bool {
        let before = self.rest.len();
        self.rest.retain(|a| !names.contains(&a.as_str()));
        self.rest.len() != before
    }
    fn value(&mut self, name: &str) -> Result<Option<String>> {
        if let Some(i) = self.rest.iter().position(|a| a == name) {
            if i + 1 >= self.rest.len() {
                bail!("{name} needs a value (see `cargo xtask help`)");
            }
            let v = self.rest.remove(i + 1);
            self.rest.remove(i);
            return Ok(Some(v));
        }
        let pre = format!("{name}=");
        if let Some(i) = self.rest.iter().position(|a| a.starts_with(&pre)) {
            let v = self.rest.remove(i)[pre.len()..].to_string();
            return Ok(Some(v));
        }
        Ok(None)
    }
    fn parsed<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>> {
        match self.value(name)? {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| anyhow::anyhow!("bad value {v:?} for {name}")),
        }
    }
    fn done(self) -> Result<()> {
        if let Some(a) = self.rest.first() {
            bail!("unknown argument {a:?} (see `cargo xtask help`)");
        }
        Ok(())
    }
}

fn real_main() -> Result<()> {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() {
        print!("{HELP}");
        return Ok(());
    }
    let sub = argv.remove(0);
    let mut args = Args { rest: argv };
    match sub.as_str() {
        "fetch" => {
            args.done()?;
            fetch::ensure_tools()?;
            let d = fetch::ensure_debian()?;
            say(format!("kernel: {}", d.kernel.display()));
            say(format!("modules: {}", d.modules.display()));
            say(format!("busybox: {}", d.busybox.display()));
            Ok(())
        }
        "build" => {
            let release = !args.flag(&["--debug"]);
            args.flag(&["--release"]);
            args.done()?;
            fetch::ensure_tools()?;
            let b = build::build_all(release)?;
            println!("{}", b.hyp.display());
            for (_, g) in &b.guests {
                println!("{}", g.display());
            }
            Ok(())
        }
        "run" => cmd_run(args),
        "test" => {
            let verbose = args.flag(&["-v", "--verbose"]);
            let release = !args.flag(&["--debug"]);
            let o = tests::Options {
                filter: args.value("--filter")?,
                verbose,
                guest_timeout: Duration::from_secs(args.parsed("--guest-timeout")?.unwrap_or(60)),
                linux_timeout: Duration::from_secs(args.parsed("--linux-timeout")?.unwrap_or(300)),
            };
            args.done()?;
            if !tests::run_all(&o, release)? {
                std::process::exit(1);
            }
            Ok(())
        }
        "conformance" => {
            let against_xen = match args.value("--against")?.as_deref() {
                None => false,
                Some("xen") => true,
                Some(o) => bail!("--against takes `xen`, not {o:?}"),
            };
            let o = conformance::Options {
                against_xen,
                filter: args.value("--filter")?,
                verbose: args.flag(&["-v", "--verbose"]),
                timeout: Duration::from_secs(args.parsed("--timeout")?.unwrap_or(60)),
                xenith: args.value("--xenith")?.map(PathBuf::from),
            };
            args.done()?;
            if !conformance::run(&o)? {
                std::process::exit(1);
            }
            Ok(())
        }
        "bench" => {
            let runs = args.parsed("--runs")?.unwrap_or(3);
            let hypercalls = args.flag(&["--hypercalls"]);
            let boot = args.flag(&["--boot"]);
            let domains = args.flag(&["--domains"]);
            let clock = match args.value("--clock")?.as_deref() {
                None => None,
                Some("icount") => Some(true),
                Some("wall") => Some(false),
                Some(o) => bail!("--clock takes `icount` or `wall`, not {o:?}"),
            };
            args.done()?;
            if domains {
                return bench::run_domains(runs, clock);
            }
            // Both unless one is asked for.
            if boot || !hypercalls {
                bench::run(runs)?;
            }
            if hypercalls || !boot {
                bench::run_hypercalls(runs)?;
            }
            Ok(())
        }
        // Hidden helper: the flat-binary conversion `build` uses, on any ELF.
        "elf2bin" => {
            let (Some(elf), Some(out)) = (args.rest.first().cloned(), args.rest.get(1).cloned())
            else {
                bail!("usage: cargo xtask elf2bin <elf> <out.bin>");
            };
            image::elf_file_to_bin(Path::new(&elf), Path::new(&out))
        }
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        other => bail!("unknown command {other:?}\n{HELP}"),
    }
}

fn cmd_run(mut args: Args) -> Result<()> {
    let mut m = Machine::default();
    if let Some(g) = args.parsed::<u8>("--gic")? {
        if g != 2 && g != 3 {
            bail!("--gic must be 2 or 3");
        }
        m.gic = g;
    }
    if let Some(c) = args.value("--cpu")? {
        m.cpu = c;
    }
    if let Some(n) = args.parsed("--smp")? {
        m.smp = n;
    }
    if let Some(mem) = args.value("--mem")? {
        m.mem = mem;
    }
    let vcpus: Option<u32> = args.parsed("--vcpus")?;
    let domus: u32 = args.parsed("--dom0less")?.unwrap_or(0);
    let guest = args.value("--guest")?;
    let test = args.value("--test")?;
    let native = args.flag(&["--native"]);
    let on_xen = args.flag(&["--on-xen"]);
    let release = !args.flag(&["--debug"]);
    args.done()?;

    let mut extra = String::new();
    if let Some(t) = &test {
        extra.push_str(&format!(
            "xenith.test={t} xenith.nproc={}",
            vcpus.unwrap_or(m.smp)
        ));
    }
    if native {
        let a = prepare_linux()?;
        let mut cmd = native_command(&m, &a, &extra, Console::Interactive);
        return qemu::run_interactive(&mut cmd);
    }
    if on_xen {
        if guest.is_some() {
            bail!("--on-xen boots Linux; for the test guests on Xen see `cargo xtask conformance`");
        }
        let a = prepare_linux()?;
        let x = xen::ensure_xen()?;
        say(format!("Xen: {} ({})", x.image.display(), x.version()));
        let mut cmd = real_xen_command(&m, &a, &x.image, &extra, Console::Interactive, vcpus)?;
        return qemu::run_interactive(&mut cmd);
    }
    let a = prepare(release)?;
    let guest_bin = match &guest {
        Some(name) => Some(
            a.built()?
                .guests
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, p)| p.clone())
                .with_context(|| {
                    let names: Vec<&str> = a
                        .built
                        .iter()
                        .flat_map(|b| &b.guests)
                        .map(|(n, _)| n.as_str())
                        .collect();
                    format!("no test guest {name:?}; built: {}", names.join(", "))
                })?,
        ),
        None => None,
    };
    let kernel = match &guest_bin {
        Some(p) => Dom0Kernel::Guest(p),
        None => Dom0Kernel::Linux,
    };
    if domus > 0 && guest.is_some() {
        bail!("--dom0less boots Linux domUs beside a Linux dom0; drop --guest");
    }
    let (mut cmd, dtb) =
        xenith_command_full(&m, &a, kernel, &extra, Console::Interactive, vcpus, domus)?;
    if let Some(d) = dtb {
        say(format!("host DT: {}", d.display()));
    }
    qemu::run_interactive(&mut cmd)
}

/// The Linux side of a boot: Debian's kernel, our initramfs, the test disk.
#[derive(Debug, Clone)]
pub struct LinuxAssets {
    pub deb: fetch::Debian,
    pub initramfs: PathBuf,
    /// The dom0less domUs' initramfs (busybox shell on the vpl011).
    pub domu_initramfs: PathBuf,
    pub disk: PathBuf,
}

/// Everything a boot needs; `built` is `None` when only native Linux boots are possible.
#[derive(Debug, Clone)]
pub struct Assets {
    pub linux: LinuxAssets,
    pub built: Option<build::Built>,
}

impl Assets {
    pub fn new(l: &LinuxAssets, b: &build::Built) -> Assets {
        Assets {
            linux: l.clone(),
            built: Some(b.clone()),
        }
    }
    pub fn linux_only(l: &LinuxAssets) -> Assets {
        Assets {
            linux: l.clone(),
            built: None,
        }
    }
    fn built(&self) -> Result<&build::Built> {
        self.built.as_ref().context("the hypervisor was not built")
    }
}

/// Fetch (tools, Debian packages), then the initramfs and the test disk under `target/xenith/`.
pub fn prepare_linux() -> Result<LinuxAssets> {
    fetch::ensure_tools()?;
    let deb = fetch::ensure_debian()?;
    let dir = target_dir().join("xenith");
    let initramfs = dir.join("initramfs.cpio.gz");
    let dom0_debs = fetch::ensure_dom0_debs()?;
    let tools = build::build_dom0_tools()?;
    image::build_initramfs(&deb, &tools, &dom0_debs, &initramfs)?;
    let domu_initramfs = dir.join("domu-initramfs.cpio.gz");
    image::build_domu_initramfs(&deb, &domu_initramfs)?;
    let disk = dir.join("disk.img");
    image::write_if_changed(&disk, &image::test_disk())?;
    say(format!("initramfs: {}", initramfs.display()));
    say(format!("disk: {}", disk.display()));
    Ok(LinuxAssets {
        deb,
        initramfs,
        domu_initramfs,
        disk,
    })
}

/// Fetch, initramfs, disk, build.
pub fn prepare(release: bool) -> Result<Assets> {
    let l = prepare_linux()?;
    let built = build::build_all(release)?;
    Ok(Assets {
        linux: l,
        built: Some(built),
    })
}

/// dom0's kernel under Xenith.
#[derive(Clone, Copy)]
pub enum Dom0Kernel<'a> {
    Linux,
    Guest(&'a Path),
}

/// The QEMU command booting Xenith; also writes the host DTB it names.
pub fn xenith_command(
    m: &Machine,
    a: &Assets,
    k: Dom0Kernel,
    extra_dom0_args: &str,
    console: Console,
) -> Result<(Command, Option<PathBuf>)> {
    xenith_command_with(m, a, k, extra_dom0_args, console, None)
}

pub fn xenith_command_with(
    m: &Machine,
    a: &Assets,
    k: Dom0Kernel,
    extra_dom0_args: &str,
    console: Console,
    vcpus: Option<u32>,
) -> Result<(Command, Option<PathBuf>)> {
    xenith_command_full(m, a, k, extra_dom0_args, console, vcpus, 0)
}

/// A dom0less domU's memory (KiB), as `memory` in its host-DT node.
pub const DOMU_MEMORY_KB: u64 = 128 << 10;
/// A dom0less domU's command line: its vpl011 is `ttyAMA0` (and `/chosen/stdout-path`).
pub const DOMU_BOOTARGS: &str = "console=ttyAMA0 rdinit=/init panic=-1";

/// `xenith_command_with` plus `domus` dom0less domains (`domU1`...: Debian's kernel, the domU
/// initramfs, 128 MiB, 1 vCPU, a vpl011 console), described in the host DT.
pub fn xenith_command_full(
    m: &Machine,
    a: &Assets,
    k: Dom0Kernel,
    extra_dom0_args: &str,
    console: Console,
    vcpus: Option<u32>,
    domus: u32,
) -> Result<(Command, Option<PathBuf>)> {
    let (kernel, ramdisk, mut dom0_args, what) = match k {
        Dom0Kernel::Linux => (
            a.linux.deb.kernel.as_path(),
            Some(a.linux.initramfs.as_path()),
            qemu::DOM0_BOOTARGS.to_string(),
            "linux".to_string(),
        ),
        Dom0Kernel::Guest(p) => (
            p,
            None,
            qemu::GUEST_BOOTARGS.to_string(),
            p.file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("guest")
                .to_string(),
        ),
    };
    for e in extra_dom0_args.split_whitespace() {
        dom0_args.push(' ');
        dom0_args.push_str(e);
    }
    let mut xen_args = qemu::XEN_BOOTARGS.to_string();
    if let Some(v) = vcpus {
        // Xen's option for dom0's vCPU count.
        xen_args.push_str(&format!(" dom0_max_vcpus={v}"));
    }
    let (km, rm) = qemu::place_modules(kernel, ramdisk)?;
    let last = rm.as_ref().unwrap_or(&km);
    let mut end = last.addr + last.size;
    let mut doms = Vec::new();
    for i in 1..=domus {
        let kernel = qemu::module_at(&a.linux.deb.kernel, end)?;
        let ramdisk = qemu::module_at(&a.linux.domu_initramfs, kernel.addr + kernel.size)?;
        end = ramdisk.addr + ramdisk.size;
        doms.push(dt::DomU {
            name: format!("domU{i}"),
            memory_kb: DOMU_MEMORY_KB,
            cpus: 1,
            vpl011: true,
            kernel,
            ramdisk: Some(ramdisk),
            bootargs: DOMU_BOOTARGS.into(),
        });
    }
    let extra: Vec<qemu::Module> = doms
        .iter()
        .flat_map(|d| std::iter::once(d.kernel.clone()).chain(d.ramdisk.clone()))
        .collect();
    let what = if domus > 0 {
        format!("{what}-dom0less{domus}")
    } else {
        what
    };
    let dtb = target_dir()
        .join("xenith/dtb")
        .join(format!("{}-{what}.dtb", m.tag()));
    std::fs::create_dir_all(dtb.parent().expect("has parent"))?;
    dt::host_dtb(
        m,
        &km,
        rm.as_ref(),
        &xen_args,
        dom0_args.trim(),
        &doms,
        &dtb,
    )?;
    let boot = Boot::Xenith {
        hyp: &a.built()?.hyp,
        dtb: &dtb,
        kernel: &km,
        ramdisk: rm.as_ref(),
        extra: &extra,
    };
    let cmd = qemu::command(
        m,
        &boot,
        &Devices {
            disk: a.linux.disk.clone(),
        },
        console,
    );
    Ok((cmd, Some(dtb)))
}

/// dom0 Linux on Debian's real Xen: Xen's PV console (`hvc0`, `earlycon=xen`).
pub const REAL_XEN_DOM0_BOOTARGS: &str = "console=hvc0 earlycon=xen rdinit=/init panic=-1";

/// The QEMU command booting Debian's real Xen (`xen_image`) with Debian's kernel and our
/// initramfs as dom0: the host DT Xenith gets, dom0 on `hvc0`.
pub fn real_xen_command(
    m: &Machine,
    a: &LinuxAssets,
    xen_image: &Path,
    extra_dom0_args: &str,
    console: Console,
    vcpus: Option<u32>,
) -> Result<Command> {
    let dom0_args = format!("{REAL_XEN_DOM0_BOOTARGS} {extra_dom0_args}");
    let xen_args = format!(
        "{} dom0_max_vcpus={}",
        qemu::XEN_BOOTARGS,
        vcpus.unwrap_or(m.smp)
    );
    let (km, rm) = qemu::place_modules(&a.deb.kernel, Some(&a.initramfs))?;
    let dtb = target_dir()
        .join("xenith/dtb")
        .join(format!("{}-real-xen-linux.dtb", m.tag()));
    std::fs::create_dir_all(dtb.parent().expect("has parent"))?;
    dt::host_dtb(m, &km, rm.as_ref(), &xen_args, dom0_args.trim(), &[], &dtb)?;
    let boot = Boot::Xenith {
        hyp: xen_image,
        dtb: &dtb,
        kernel: &km,
        ramdisk: rm.as_ref(),
        extra: &[],
    };
    Ok(qemu::command(
        m,
        &boot,
        &Devices {
            disk: a.disk.clone(),
        },
        console,
    ))
}

/// The QEMU command booting Debian's kernel directly with our initramfs.
pub fn native_command(m: &Machine, a: &LinuxAssets, extra: &str, console: Console) -> Command {
    let append = format!("{} {extra}", qemu::NATIVE_BOOTARGS);
    let boot = Boot::Native {
        kernel: &a.deb.kernel,
        initrd: &a.initramfs,
        append: append.trim(),
    };
    qemu::command(
        m,
        &boot,
        &Devices {
            disk: a.disk.clone(),
        },
        console,
    )
}
