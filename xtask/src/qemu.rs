//! QEMU command lines for every way we boot, the serial-console runner with hard timeouts, and
//! the boot arguments (kept here, in one place).

use crate::util::{align_up, cmd_line, say};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Xenith's own command line (`/chosen/xen,xen-bootargs`). QEMU 7.2's DT has no `serial0`
/// alias, so the UART is named by path, as for Debian's Xen in `shared/reference/`.
pub const XEN_BOOTARGS: &str = "console=dtuart dtuart=/pl011@9000000 dom0_mem=512M loglvl=all";
/// dom0 Linux under Xenith (`/chosen/xen,dom0-bootargs`), as under Xen: the console is hvc0
/// (Xen's console_io hypercall), `earlycon=xen` the same from the first line.
pub const DOM0_BOOTARGS: &str = "console=hvc0 earlycon=xen rdinit=/init panic=-1";
/// A bare-metal test guest as dom0's kernel: `xenith` in its `/chosen/bootargs` enables the
/// checks that only hold under a hypervisor (tests/guests/src/lib.rs).
pub const GUEST_BOOTARGS: &str = "xenith";
/// The same kernel booted natively (bench, `run --native`): QEMU's UART.
pub const NATIVE_BOOTARGS: &str = "console=ttyAMA0 earlycon=pl011,0x9000000 rdinit=/init panic=-1";

/// QEMU virt's RAM starts at 1 GiB.
pub const RAM_BASE: u64 = 0x4000_0000;
/// Where the dom0 kernel module is loaded (RAM + 256 MiB, as Xen's CI does).
pub const KERNEL_ADDR: u64 = RAM_BASE + (256 << 20);
const MODULE_ALIGN: u64 = 2 << 20;

/// The emulated machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub gic: u8,
    pub cpu: String,
    pub smp: u32,
    pub mem: String,
    /// `-icount shift=0` (deterministic instruction counting; bench).
    pub icount: bool,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            gic: 3,
            cpu: "cortex-a57".into(),
            smp: 2,
            mem: "2G".into(),
            icount: false,
        }
    }
}

impl Machine {
    /// Short name for test cases and file names, e.g. `gic3-cortex-a57-smp2`.
    pub fn tag(&self) -> String {
        format!("gic{}-{}-smp{}", self.gic, self.cpu, self.smp)
    }

    fn machine_opt(&self) -> String {
        format!("virt,virtualization=on,gic-version={}", self.gic)
    }

    /// The flags that define the hardware (and so the DT QEMU generates).
    fn hw_args(&self, cmd: &mut Command) {
        cmd.args([
            "-cpu",
            &self.cpu,
            "-smp",
            &self.smp.to_string(),
            "-m",
            &self.mem,
        ]);
        if self.icount {
            cmd.args(["-icount", "shift=0"]);
        }
    }

    /// Dumps QEMU's own DTB for this machine to `out`.
    pub fn dump_dtb(&self, out: &Path) -> Result<()> {
        let mut cmd = Command::new("qemu-system-aarch64");
        cmd.arg("-M")
            .arg(format!("{},dumpdtb={}", self.machine_opt(), out.display()));
        self.hw_args(&mut cmd);
        cmd.args(["-display", "none"]);
        let o = cmd
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("starting {}", cmd_line(&cmd)))?;
        if !out.is_file() {
            bail!(
                "`{}` did not dump a DTB: {}",
                cmd_line(&cmd),
                String::from_utf8_lossy(&o.stderr).trim()
            );
        }
        Ok(())
    }
}

/// The devices every boot has: the test disk on virtio-blk, virtio-net on user networking.
#[derive(Debug, Clone)]
pub struct Devices {
    pub disk: PathBuf,
}

/// Where the dom0 modules go in guest-physical memory.
#[derive(Debug, Clone)]
pub struct Module {
    pub path: PathBuf,
    pub addr: u64,
    pub size: u64,
}

/// Places the kernel at `KERNEL_ADDR` and the ramdisk after it (2 MiB aligned).
pub fn place_modules(kernel: &Path, ramdisk: Option<&Path>) -> Result<(Module, Option<Module>)> {
    let size = |p: &Path| -> Result<u64> {
        Ok(std::fs::metadata(p)
            .with_context(|| format!("reading {}", p.display()))?
            .len())
    };
    let k = Module {
        path: kernel.into(),
        addr: KERNEL_ADDR,
        size: size(kernel)?,
    };
    let r = match ramdisk {
        Some(p) => Some(Module {
            path: p.into(),
            addr: align_up(k.addr + k.size, MODULE_ALIGN),
            size: size(p)?,
        }),
        None => None,
    };
    Ok((k, r))
}

/// Places the file at `path` at the first 2 MiB boundary at or after `at`.
pub fn module_at(path: &Path, at: u64) -> Result<Module> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    Ok(Module {
        path: path.into(),
        addr: align_up(at, MODULE_ALIGN),
        size,
    })
}

/// What QEMU boots.
pub enum Boot<'a> {
    /// Xenith with a host DT (`-dtb`) naming the modules QEMU loads with `-device loader`.
    Xenith {
        hyp: &'a Path,
        dtb: &'a Path,
        kernel: &'a Module,
        ramdisk: Option<&'a Module>,
        /// More modules to load (the dom0less domains' kernels and ramdisks).
        extra: &'a [Module],
    },
    /// A Linux kernel directly (QEMU's own DT), for comparison.
    Native {
        kernel: &'a Path,
        initrd: &'a Path,
        append: &'a str,
    },
}

/// How the console is attached.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// Interactive: serial + monitor on the terminal (Ctrl-A X quits).
    Interactive,
    /// Piped to the xtask's reader; no monitor.
    Piped,
}

/// The full QEMU command.
pub fn command(m: &Machine, boot: &Boot, dev: &Devices, console: Console) -> Command {
    let mut cmd = Command::new("qemu-system-aarch64");
    cmd.args(["-M", &m.machine_opt()]);
    m.hw_args(&mut cmd);
    match console {
        Console::Interactive => cmd.arg("-nographic"),
        Console::Piped => cmd.args(["-display", "none", "-serial", "stdio", "-monitor", "none"]),
    };
    cmd.arg("-no-reboot");
    // Piped runs (tests) use a throw-away overlay so several QEMUs can share the image.
    let snapshot = if console == Console::Piped {
        ",snapshot=on"
    } else {
        ""
    };
    cmd.arg("-drive").arg(format!(
        "if=none,file={},format=raw,id=d0{snapshot}",
        dev.disk.display()
    ));
    cmd.args(["-device", "virtio-blk-device,drive=d0"]);
    cmd.args([
        "-netdev",
        "user,id=n0",
        "-device",
        "virtio-net-device,netdev=n0",
    ]);
    match boot {
        Boot::Xenith {
            hyp,
            dtb,
            kernel,
            ramdisk,
            extra,
        } => {
            cmd.arg("-kernel").arg(hyp).arg("-dtb").arg(dtb);
            for md in std::iter::once(*kernel).chain(*ramdisk).chain(extra.iter()) {
                cmd.arg("-device").arg(format!(
                    "loader,file={},addr={:#x},force-raw=on",
                    md.path.display(),
                    md.addr
                ));
            }
        }
        Boot::Native {
            kernel,
            initrd,
            append,
        } => {
            cmd.arg("-kernel")
                .arg(kernel)
                .arg("-initrd")
                .arg(initrd)
                .arg("-append")
                .arg(append);
        }
    }
    cmd
}

/// What a piped run saw.
pub struct Transcript {
    pub lines: Vec<String>,
    /// `None` when the xtask killed QEMU.
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    /// Why the run was stopped early, if it was.
    pub aborted: Option<String>,
    pub elapsed: Duration,
    /// Time at which each line arrived, from the start.
    pub times: Vec<Duration>,
}

impl Transcript {
    /// Seconds from start until the first line containing `pat`.
    pub fn time_of(&self, pat: &str) -> Option<Duration> {
        self.lines
            .iter()
            .position(|l| l.contains(pat))
            .map(|i| self.times[i])
    }
}

/// What the watcher tells the runner after each line.
pub enum Watch {
    Continue,
    /// The run is complete; QEMU should exit by itself within the grace period.
    Finished,
    /// Stop now: the run has failed.
    Abort(String),
    /// Type these bytes on the serial console (QEMU's stdin), as a user would.
    Type(String),
}

/// Seconds QEMU gets to exit after the watcher says the run is finished.
const EXIT_GRACE: Duration = Duration::from_secs(30);

/// Limits of one piped run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Hard limit on the whole run.
    pub timeout: Duration,
    /// Stop early when the console prints nothing for this long (a hung boot).
    pub silence: Duration,
}

/// Runs `cmd` with the serial console piped, feeding each line to `watch`, killing QEMU when a
/// limit is reached. `echo` streams the console to our stdout as it arrives.
pub fn run_piped(
    cmd: &mut Command,
    limits: Limits,
    echo: bool,
    watch: &mut dyn FnMut(&str) -> Watch,
) -> Result<Transcript> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `{}`", cmd_line(cmd)))?;
    let mut stdin = child.stdin.take();
    let (tx, rx) = mpsc::channel::<String>();
    let mut readers = Vec::new();
    let out: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("piped"));
    let err: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("piped"));
    for (pipe, prefix) in [(out, ""), (err, "qemu stderr: ")] {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            let mut r = BufReader::new(pipe);
            let mut buf = Vec::new();
            while r.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
                let s = String::from_utf8_lossy(&buf);
                let s = s.trim_end_matches(['\n', '\r']).replace('\r', "");
                if tx.send(format!("{prefix}{s}")).is_err() {
                    break;
                }
                buf.clear();
            }
        }));
    }
    drop(tx);
    let mut t = Transcript {
        lines: Vec::new(),
        status: None,
        timed_out: false,
        aborted: None,
        elapsed: Duration::ZERO,
        times: Vec::new(),
    };
    let mut deadline = start + limits.timeout;
    let mut last = start;
    let mut finished = false;
    let mut kill = false;
    loop {
        let now = Instant::now();
        if now >= deadline {
            t.timed_out = true;
            kill = true;
            break;
        }
        if !finished && now >= last + limits.silence {
            t.aborted = Some(format!(
                "no console output for {} s",
                limits.silence.as_secs()
            ));
            kill = true;
            break;
        }
        let wait = (deadline - now).min((last + limits.silence).saturating_duration_since(now));
        match rx.recv_timeout(wait.max(Duration::from_millis(1))) {
            Ok(line) => {
                last = Instant::now();
                if echo {
                    println!("    | {line}");
                }
                let verdict = watch(&line);
                t.times.push(start.elapsed());
                t.lines.push(line);
                match verdict {
                    Watch::Continue => {}
                    Watch::Type(s) => {
                        if let Some(w) = stdin.as_mut() {
                            // A failed write shows up as the guest not seeing the input.
                            let _ = w.write_all(s.as_bytes()).and_then(|()| w.flush());
                        }
                    }
                    Watch::Finished => {
                        finished = true;
                        deadline = deadline.min(Instant::now() + EXIT_GRACE);
                    }
                    Watch::Abort(why) => {
                        t.aborted = Some(why);
                        kill = true;
                        break;
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if kill {
        let _ = child.kill();
        let _ = child.wait();
    } else {
        // Both pipes closed: QEMU is exiting.
        let left = deadline.saturating_duration_since(Instant::now());
        let until = Instant::now() + left.max(Duration::from_secs(5));
        loop {
            if let Some(st) = child.try_wait()? {
                t.status = Some(st);
                break;
            }
            if Instant::now() >= until {
                t.timed_out = true;
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for r in readers {
        let _ = r.join();
    }
    t.elapsed = start.elapsed();
    Ok(t)
}

/// Runs QEMU interactively on this terminal; returns when it exits.
pub fn run_interactive(cmd: &mut Command) -> Result<()> {
    say(format!("running {}", cmd_line(cmd)));
    say("(Ctrl-A X quits QEMU)");
    let st = cmd
        .status()
        .with_context(|| format!("starting `{}`", cmd_line(cmd)))?;
    if !st.success() {
        bail!("QEMU exited with {st}");
    }
    Ok(())
}
