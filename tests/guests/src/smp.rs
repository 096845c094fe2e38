//! Secondary CPUs: PSCI CPU_ON with a checked context id, an idle loop that runs commands posted
//! by the boot CPU, and CPU_OFF on request.

use core::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst,
};

use aarch64_cpu::registers::{Readable, Writeable, MPIDR_EL1, TPIDR_EL1};

use crate::board::{board, MPIDR_AFF_MASK};
use crate::{psci, wait_for, MAX_CPUS};

/// High half of every context id: "XENI". Low byte = CPU index, bits 8..32 = a start counter.
pub const CTX_MAGIC: u64 = 0x5845_4e49 << 32;

/// What a secondary recorded when it came up.
pub struct Started {
    /// Times the CPU has come up (any context id).
    pub count: AtomicU32,
    /// x0 it was entered with.
    pub ctx: AtomicU64,
    /// Its MPIDR_EL1 (affinity bits).
    pub mpidr: AtomicU64,
}

/// Per CPU index.
pub static STARTED: [Started; MAX_CPUS] = [const {
    Started {
        count: AtomicU32::new(0),
        ctx: AtomicU64::new(0),
        mpidr: AtomicU64::new(0),
    }
}; MAX_CPUS];
/// A CPU entered with a context id naming no valid index: (its x0), parked on the spare stack.
pub static BAD_CTX: AtomicU64 = AtomicU64::new(0);
/// What a secondary's CPU_OFF returned ([`OFF_NEVER_RETURNED`] if it did not return).
pub static OFF_RESULT: [AtomicI64; MAX_CPUS] =
    [const { AtomicI64::new(OFF_NEVER_RETURNED) }; MAX_CPUS];
/// [`OFF_RESULT`] while CPU_OFF has not returned.
pub const OFF_NEVER_RETURNED: i64 = i64::MIN;

static CMD: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
static STOP: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static INIT: AtomicUsize = AtomicUsize::new(0);
static SERIAL: AtomicU64 = AtomicU64::new(0);

/// Sets a function every secondary runs when it comes up, before its idle loop.
pub fn set_init(f: fn(usize)) {
    INIT.store(f as usize, SeqCst);
}

/// Turns on CPU `cpu` with PSCI CPU_ON; returns (PSCI result, context id passed).
pub fn start(cpu: usize) -> (i64, u64) {
    let serial = SERIAL.fetch_add(1, SeqCst) & 0xff_ffff;
    let ctx = CTX_MAGIC | (serial << 8) | cpu as u64;
    let mpidr = board().mpidr.get(cpu).copied().unwrap_or(u64::MAX);
    if let Some(s) = STOP.get(cpu) {
        s.store(false, SeqCst);
    }
    (
        psci::cpu_on(mpidr, crate::boot::secondary_entry(), ctx),
        ctx,
    )
}

/// Starts `cpu` and waits up to `ms` for it to reach its idle loop.
pub fn start_and_wait(cpu: usize, ms: u64) -> Result<u64, i64> {
    let Some(s) = STARTED.get(cpu) else {
        return Err(psci::INVALID_PARAMETERS);
    };
    let before = s.count.load(SeqCst);
    let (r, ctx) = start(cpu);
    if r != psci::SUCCESS {
        return Err(r);
    }
    if wait_for(ms, || s.count.load(SeqCst) != before) {
        Ok(ctx)
    } else {
        Err(i64::MIN)
    }
}

/// Runs `f(cpu)` on secondary `cpu` and waits up to `ms` for it to return.
pub fn run_on(cpu: usize, f: fn(usize), ms: u64) -> bool {
    let Some(cmd) = CMD.get(cpu) else {
        return false;
    };
    cmd.store(f as usize, SeqCst);
    aarch64_cpu::asm::sev();
    wait_for(ms, || cmd.load(SeqCst) == 0)
}

/// Posts `f(cpu)` to secondary `cpu` without waiting; false if it is still busy with an earlier
/// command. [`busy`] says when it has returned.
pub fn post(cpu: usize, f: fn(usize)) -> bool {
    let Some(cmd) = CMD.get(cpu) else {
        return false;
    };
    if cmd.compare_exchange(0, f as usize, SeqCst, SeqCst).is_err() {
        return false;
    }
    aarch64_cpu::asm::sev();
    true
}

/// Whether secondary `cpu` is still running a command from [`post`] or [`run_on`].
pub fn busy(cpu: usize) -> bool {
    CMD.get(cpu).is_some_and(|c| c.load(SeqCst) != 0)
}

/// Asks secondary `cpu` to leave its idle loop and call PSCI CPU_OFF.
pub fn request_off(cpu: usize) {
    if let Some(s) = STOP.get(cpu) {
        s.store(true, SeqCst);
        aarch64_cpu::asm::sev();
    }
}

/// Rust entry of a secondary (from `boot.rs`, stack chosen by the same context-id rules).
pub(crate) fn secondary(ctx: u64) -> ! {
    let mpidr = MPIDR_EL1.get() & MPIDR_AFF_MASK;
    let idx = (ctx & 0xff) as usize;
    if ctx & !0xffff_ffff != CTX_MAGIC || idx == 0 || idx >= MAX_CPUS {
        BAD_CTX.store(ctx | 1, SeqCst);
        let me = board().cpu_of_mpidr(mpidr).unwrap_or(MAX_CPUS - 1);
        TPIDR_EL1.set(me as u64);
        STARTED[me].ctx.store(ctx, SeqCst);
        STARTED[me].mpidr.store(mpidr, SeqCst);
        STARTED[me].count.fetch_add(1, SeqCst);
        loop {
            aarch64_cpu::asm::wfi();
        }
    }
    TPIDR_EL1.set(idx as u64);
    STARTED[idx].ctx.store(ctx, SeqCst);
    STARTED[idx].mpidr.store(mpidr, SeqCst);
    match INIT.load(SeqCst) {
        0 => {}
        // SAFETY: only `set_init` stores non-zero values, all `fn(usize)` pointers.
        f => unsafe { core::mem::transmute::<usize, fn(usize)>(f)(idx) },
    }
    STARTED[idx].count.fetch_add(1, SeqCst);
    loop {
        if STOP[idx].swap(false, SeqCst) {
            break;
        }
        match CMD[idx].load(SeqCst) {
            0 => aarch64_cpu::asm::wfe(),
            f => {
                // SAFETY: only `run_on` stores non-zero values, all `fn(usize)` pointers.
                unsafe { core::mem::transmute::<usize, fn(usize)>(f)(idx) };
                CMD[idx].store(0, SeqCst);
            }
        }
    }
    crate::irq_disable();
    let r = psci::cpu_off();
    OFF_RESULT[idx].store(r, SeqCst);
    loop {
        aarch64_cpu::asm::wfi();
    }
}
