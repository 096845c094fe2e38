//! pCPU bring-up and machine power through the firmware's PSCI (SMC conduit on QEMU virt with
//! virtualization=on; ARM DEN0022).

use arm_trap::smccc;

extern "C" {
    fn secondary_entry();
}

/// One SMC to the firmware with the SMCCC 1.1 register convention; returns x0.
fn firmware_call(fid: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    let r: u64;
    // SAFETY: an SMCCC fast call into firmware; per SMCCC 1.1 only x0-x3 may change (x4-x17
    // are preserved since SMCCC 1.1 but we mark them clobbered conservatively).
    unsafe {
        core::arch::asm!(
            "smc #0",
            inout("x0") u64::from(fid) => r,
            inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _,
            out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _,
            options(nostack),
        );
    }
    r as i64
}

/// Starts pCPU `index` (MPIDR `mpidr`) at `secondary_entry`.
pub fn cpu_on(mpidr: u64, index: usize) -> i64 {
    let entry = secondary_entry as *const () as usize as u64;
    firmware_call(smccc::PSCI_CPU_ON_64, mpidr, entry, index as u64)
}

/// Powers the machine off (QEMU exits with status 0).
pub fn system_off() -> ! {
    firmware_call(smccc::PSCI_SYSTEM_OFF, 0, 0, 0);
    crate::arch::halt()
}

/// Resets the machine.
pub fn system_reset() -> ! {
    firmware_call(smccc::PSCI_SYSTEM_RESET, 0, 0, 0);
    crate::arch::halt()
}
