//! PSCI (ARM DEN 0022) and SMCCC (ARM DEN 0028) calls over the DT's conduit.

use core::arch::asm;

use crate::board::{board, Conduit};

/// PSCI_VERSION.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// CPU_OFF.
pub const CPU_OFF: u32 = 0x8400_0002;
/// CPU_ON (SMC64).
pub const CPU_ON_64: u32 = 0xc400_0003;
/// AFFINITY_INFO (SMC64).
pub const AFFINITY_INFO_64: u32 = 0xc400_0004;
/// SYSTEM_OFF.
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// PSCI_FEATURES.
pub const PSCI_FEATURES: u32 = 0x8400_000a;
/// SMCCC_VERSION.
pub const SMCCC_VERSION: u32 = 0x8000_0000;

/// PSCI return codes.
pub const SUCCESS: i64 = 0;
/// Also SMCCC's "unknown function".
pub const NOT_SUPPORTED: i64 = -1;
/// Bad argument.
pub const INVALID_PARAMETERS: i64 = -2;
/// CPU_ON of a CPU that is on.
pub const ALREADY_ON: i64 = -4;
/// CPU_ON of a CPU being turned on.
pub const ON_PENDING: i64 = -5;
/// AFFINITY_INFO results.
pub const AFF_ON: i64 = 0;
/// The CPU is off.
pub const AFF_OFF: i64 = 1;

/// Issues `hvc #0` or `smc #0` with `fid` in w0 and x1..x3; returns x0 (sign-extended result).
pub fn call_via(conduit: Conduit, fid: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    let mut x0 = u64::from(fid);
    // SAFETY: an SMCCC call: the callee may clobber x0-x17 (declared) and nothing else; it does
    // not touch this guest's memory for the calls used here.
    unsafe {
        match conduit {
            Conduit::Hvc => {
                asm!("hvc #0", inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _,
                inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                options(nostack))
            }
            Conduit::Smc => {
                asm!("smc #0", inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _,
                inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                options(nostack))
            }
        }
    }
    x0 as i64
}

/// SMCCC call over the board's PSCI conduit.
pub fn call(fid: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    call_via(board().conduit, fid, a1, a2, a3)
}

/// CPU_ON(target MPIDR, entry point, context id).
pub fn cpu_on(mpidr: u64, entry: u64, ctx: u64) -> i64 {
    call(CPU_ON_64, mpidr, entry, ctx)
}

/// AFFINITY_INFO(target MPIDR, level 0).
pub fn affinity_info(mpidr: u64) -> i64 {
    call(AFFINITY_INFO_64, mpidr, 0, 0)
}

/// CPU_OFF; returns only on failure.
pub fn cpu_off() -> i64 {
    call(CPU_OFF, 0, 0, 0)
}

/// SYSTEM_OFF (QEMU exits 0); if it returns, parks the CPU.
pub fn system_off() -> ! {
    let conduit = crate::board::try_board().map_or(Conduit::Hvc, |b| b.conduit);
    call_via(conduit, SYSTEM_OFF, 0, 0, 0);
    crate::println!("# SYSTEM_OFF returned");
    loop {
        aarch64_cpu::asm::wfi();
    }
}
