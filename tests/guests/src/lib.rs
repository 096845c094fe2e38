//! Runtime shared by Xenith's bare-metal conformance test guests.
//!
//! Each binary in `src/bin/` is an arm64 Linux `Image` (Documentation/arch/arm64/booting.rst:
//! entered at EL1h, MMU off, x0 = DTB) that checks one capability and prints TAP-like lines on
//! the console named by `/chosen/stdout-path` (PL011/SBSA; Xen's console_io when the DT has no
//! UART but a `xen,xen` node): `ok N - desc`, `ok N - desc # SKIP why`, `not ok N - desc # detail`,
//! `# ...` diagnostics, then exactly `# xenith-test: passed=N failed=M` (skips count as passed)
//! and PSCI SYSTEM_OFF. An unexpected exception or panic prints `not ok` with ESR/ELR/FAR and
//! ends the run the same way; every wait is bounded by the virtual counter.
//!
//! Guests: `psci` (PSCI/SMCCC calls, CPU_ON/OFF, AFFINITY_INFO, error codes), `vgic` (GIC init,
//! SGIs, virtual timer PPI, WFI wake-up), `traps` (aborts on unbacked addresses, UNDEF), `xen`
//! (the Xen hypercall interface, checked against real Xen 4.17: docs/conformance.md), `wake`
//! (lost wake-ups: SGIs, event channels and virtual-timer interrupts between idle CPUs).
//!
//! The images are position-independent like a Linux arm64 `Image` (text_offset 0, flags bit 3
//! "anywhere"): static PIEs linked at 0 that apply their own `R_AARCH64_RELATIVE` relocations at
//! boot (see `boot.rs`), so they run wherever they are loaded (4 KiB aligned; Xenith puts dom0's
//! kernel at its 2 MiB-aligned RAM base). `/chosen/bootargs` containing `xenith` enables the
//! checks that only hold under a hypervisor (SMC trapped, `hvc #1` UNDEF).
//!
//! Build and run natively (no hypervisor; QEMU's own PSCI over HVC at EL1). Boot the flat
//! `Image`, not the ELF (linked at 0, where QEMU virt has flash). `elf2image.py` checks the ELF
//! (PIE, only RELATIVE relocations, header fields) and writes it; `cargo xtask build` writes the
//! same files to `target/guests/<name>.bin`. QEMU's `-kernel` sees the Image header, loads it at
//! RAM + 2 MiB and passes the DTB in x0:
//! ```text
//! cargo build -p test-guests --release --target aarch64-unknown-none
//! python3 tests/guests/elf2image.py target/aarch64-unknown-none/release/psci psci.bin  # or vgic, traps
//! qemu-system-aarch64 -M virt,gic-version=3 -cpu cortex-a57 -smp 4 -m 1G -nographic -kernel psci.bin
//! ```
//! Any other 4 KiB-aligned RAM address works too, e.g. instead of `-kernel`:
//! `-device loader,file=psci.bin,addr=0x48000000,force-raw=on -device loader,addr=0x48000000,cpu-num=0`
//! (x0 is then 0 and the runtime uses the DTB QEMU puts at the start of RAM, 0x4000_0000).
//! Under Xenith, the xtask passes the Image as the dom0 kernel module with bootargs `xenith`.
#![no_std]

pub mod board;
mod boot;
pub mod console;
pub mod ctl;
pub mod gic;
pub mod psci;
pub mod smp;
pub mod xen;

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};

use aarch64_cpu::registers::{
    Readable, Writeable, CNTFRQ_EL0, CNTVCT_EL0, DAIF, ESR_EL1, FAR_EL1, TPIDR_EL1,
};

pub use board::{board, Board};
pub use boot::{image_base, secondary_entry};

/// Most CPUs a guest handles (QEMU virt with GICv2 has at most 8).
pub const MAX_CPUS: usize = 8;
/// Stack bytes per CPU.
pub const STACK_SIZE: usize = 16 * 1024;

/// Registers saved by the exception vectors (layout fixed by `boot.rs`).
#[repr(C)]
pub struct Frame {
    /// x0..x30.
    pub x: [u64; 31],
    /// ELR_EL1: where `eret` resumes.
    pub elr: u64,
    /// SPSR_EL1.
    pub spsr: u64,
    _pad: u64,
    q: [u128; 32],
    fpcr: u64,
    fpsr: u64,
}

/// A synchronous exception recorded by [`catch_fault`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// ESR_EL1 (EC in bits 31:26).
    pub esr: u64,
    /// ELR_EL1 at the exception.
    pub elr: u64,
    /// FAR_EL1 (meaningful for aborts).
    pub far: u64,
}

/// ESR_EL1.EC values (ARM ARM D17.2.37).
pub mod ec {
    /// Unknown reason (UNDEF).
    pub const UNKNOWN: u64 = 0x00;
    /// Instruction abort taken without a change in EL.
    pub const IABT_CUR: u64 = 0x21;
    /// Data abort taken without a change in EL.
    pub const DABT_CUR: u64 = 0x25;
}

impl Fault {
    /// Exception class.
    pub fn ec(&self) -> u64 {
        (self.esr >> 26) & 0x3f
    }
    /// Data/instruction fault status code (ISS bits 5:0).
    pub fn fsc(&self) -> u64 {
        self.esr & 0x3f
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ESR={:#x} (EC={:#x}) ELR={:#x} FAR={:#x}",
            self.esr,
            self.ec(),
            self.elr,
            self.far
        )
    }
}

/// Displays an optional fault: the fault, or "no exception".
pub struct MaybeFault(pub Option<Fault>);

impl fmt::Display for MaybeFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(fault) => fault.fmt(f),
            None => f.write_str("no exception"),
        }
    }
}

struct FaultSlot {
    armed: AtomicBool,
    esr: AtomicU64,
    elr: AtomicU64,
    far: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const FAULT_SLOT: FaultSlot = FaultSlot {
    armed: AtomicBool::new(false),
    esr: AtomicU64::new(0),
    elr: AtomicU64::new(0),
    far: AtomicU64::new(0),
};
static FAULTS: [FaultSlot; MAX_CPUS] = [FAULT_SLOT; MAX_CPUS];

/// Runs `f` expecting it may raise one synchronous exception on this CPU. On an exception the
/// faulting instruction is skipped (ELR += 4), or, for an instruction abort, execution resumes at
/// the link register x30 (so branch to a bad address with `adr x30, 1f; br xN; 1:`).
pub fn catch_fault(f: impl FnOnce()) -> Option<Fault> {
    let slot = &FAULTS[cpu_index()];
    slot.armed.store(true, SeqCst);
    f();
    if slot.armed.swap(false, SeqCst) {
        None
    } else {
        Some(Fault {
            esr: slot.esr.load(SeqCst),
            elr: slot.elr.load(SeqCst),
            far: slot.far.load(SeqCst),
        })
    }
}

/// Index of the running CPU (0 = boot CPU; secondaries get theirs from the CPU_ON context id).
pub fn cpu_index() -> usize {
    (TPIDR_EL1.get() as usize).min(MAX_CPUS - 1)
}

/// Virtual counter now.
pub fn now() -> u64 {
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    CNTVCT_EL0.get()
}

/// Counter ticks in `us` microseconds.
pub fn ticks_us(us: u64) -> u64 {
    CNTFRQ_EL0.get().saturating_mul(us) / 1_000_000
}

/// Busy-waits `us` microseconds.
pub fn delay_us(us: u64) {
    let end = now().saturating_add(ticks_us(us));
    while now() < end {
        core::hint::spin_loop();
    }
}

/// Polls `cond` until it holds or `ms` milliseconds pass; returns whether it held.
pub fn wait_for(ms: u64, mut cond: impl FnMut() -> bool) -> bool {
    let end = now().saturating_add(ticks_us(ms.saturating_mul(1000)));
    loop {
        if cond() {
            return true;
        }
        if now() >= end {
            return cond();
        }
        core::hint::spin_loop();
    }
}

/// Unmasks IRQs at PSTATE.
pub fn irq_enable() {
    DAIF.write(DAIF::I::Unmasked + DAIF::F::Masked + DAIF::A::Unmasked + DAIF::D::Masked);
}

/// Masks IRQs at PSTATE.
pub fn irq_disable() {
    DAIF.write(DAIF::I::Masked + DAIF::F::Masked + DAIF::A::Unmasked + DAIF::D::Masked);
}

static NEXT_TEST: AtomicU32 = AtomicU32::new(1);
static PASSED: AtomicU32 = AtomicU32::new(0);
static FAILED: AtomicU32 = AtomicU32::new(0);

/// Prints one result line (`detail` only on failure) and counts it; returns `pass`.
pub fn report(pass: bool, desc: fmt::Arguments<'_>, detail: fmt::Arguments<'_>) -> bool {
    let n = NEXT_TEST.fetch_add(1, SeqCst);
    if pass {
        PASSED.fetch_add(1, SeqCst);
        println!("ok {n} - {desc}");
    } else {
        FAILED.fetch_add(1, SeqCst);
        println!("not ok {n} - {desc} # {detail}");
    }
    pass
}

/// Prints `ok N - desc # SKIP why` (counted as passed).
pub fn skip(desc: &str, why: &str) {
    let n = NEXT_TEST.fetch_add(1, SeqCst);
    PASSED.fetch_add(1, SeqCst);
    println!("ok {n} - {desc} # SKIP {why}");
}

/// Prints a `# ...` diagnostic line (values worth seeing on success).
#[macro_export]
macro_rules! info {
    ($($a:tt)*) => { $crate::println!("# {}", format_args!($($a)*)) };
}

/// `check!(cond, "desc", args..; "detail", args..)`: reports `cond`; returns it.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($d:expr),+ ; $($x:expr),+) => {
        $crate::report($cond, format_args!($($d),+), format_args!($($x),+))
    };
    ($cond:expr, $($d:expr),+) => {
        $crate::report($cond, format_args!($($d),+), format_args!(""))
    };
}

/// Prints the summary line and powers the machine off.
pub fn finish() -> ! {
    let (p, f) = (PASSED.load(SeqCst), FAILED.load(SeqCst));
    println!("# xenith-test: passed={p} failed={f}");
    psci::system_off();
}

fn fatal(desc: fmt::Arguments<'_>, detail: fmt::Arguments<'_>) -> ! {
    static IN_FATAL: AtomicBool = AtomicBool::new(false);
    if IN_FATAL.swap(true, SeqCst) {
        psci::system_off(); // faulted while reporting a fault (e.g. no console): just stop
    }
    console::break_lock();
    report(false, desc, detail);
    finish();
}

/// Defines the guest's entry: `test_guests::entry!(main);` with `fn main(board: &Board)`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        fn __guest_main(board: &'static $crate::Board) {
            let f: fn(&'static $crate::Board) = $main;
            f(board)
        }
    };
}

extern "Rust" {
    fn __guest_main(board: &'static Board);
}

extern "C" fn primary_main(x0: u64) -> ! {
    TPIDR_EL1.set(0);
    let b = board::init(x0);
    println!(
        "# xenith-test: cpus={} gic={} psci={} hyp-checks={}",
        b.ncpus, b.gic, b.conduit, b.hyp_checks
    );
    println!("# image at {:#x}", image_base());
    if b.dtb_from_x0 {
        println!("# DTB at {:#x} (from x0)", b.dtb.raw());
    } else {
        println!("# x0={x0:#x} is no DTB; using {:#x}", b.dtb.raw());
    }
    // SAFETY: every binary defines `__guest_main` with this signature through `entry!`.
    unsafe { __guest_main(b) };
    finish();
}

extern "C" fn secondary_main(ctx: u64) -> ! {
    smp::secondary(ctx)
}

static IRQ_HANDLERS: [AtomicUsize; 32] = [const { AtomicUsize::new(0) }; 32];
/// Interrupts acknowledged with no handler registered (or a spurious INTID >= 32).
pub static STRAY_IRQS: AtomicU32 = AtomicU32::new(0);

/// Registers `f` for SGI/PPI `intid` (< 32) on all CPUs; it runs in IRQ context before the EOI.
pub fn set_irq_handler(intid: u32, f: fn(u32)) {
    if let Some(h) = IRQ_HANDLERS.get(intid as usize) {
        h.store(f as usize, SeqCst);
    }
}

extern "C" fn exception(kind: u64, frame: &mut Frame) {
    match kind {
        4 => sync_exception(frame),
        5 => loop {
            let iar = gic::ack();
            let id = iar & 0x3ff;
            if id >= 1020 {
                break;
            }
            match IRQ_HANDLERS
                .get(id as usize)
                .map(|h| h.load(SeqCst))
                .unwrap_or(0)
            {
                0 => _ = STRAY_IRQS.fetch_add(1, SeqCst),
                // SAFETY: only `set_irq_handler` stores non-zero values, all `fn(u32)` pointers.
                f => unsafe { core::mem::transmute::<usize, fn(u32)>(f)(id) },
            }
            gic::eoi(iar);
        },
        _ => fatal(
            format_args!("unexpected exception (vector {kind}) on cpu{}", cpu_index()),
            format_args!(
                "ESR={:#x} ELR={:#x} FAR={:#x}",
                ESR_EL1.get(),
                frame.elr,
                FAR_EL1.get()
            ),
        ),
    }
}

fn sync_exception(frame: &mut Frame) {
    let fault = Fault {
        esr: ESR_EL1.get(),
        elr: frame.elr,
        far: FAR_EL1.get(),
    };
    let slot = &FAULTS[cpu_index()];
    if !slot.armed.load(SeqCst) {
        fatal(
            format_args!("unexpected synchronous exception on cpu{}", cpu_index()),
            format_args!("{fault}"),
        );
    }
    slot.esr.store(fault.esr, SeqCst);
    slot.elr.store(fault.elr, SeqCst);
    slot.far.store(fault.far, SeqCst);
    slot.armed.store(false, SeqCst);
    frame.elr = match fault.ec() {
        0x20 | ec::IABT_CUR => frame.x[30],
        _ => frame.elr.wrapping_add(4),
    };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    fatal(
        format_args!("panic on cpu{}", cpu_index()),
        format_args!("{info}"),
    );
}
