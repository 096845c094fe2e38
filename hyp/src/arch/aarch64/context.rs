//! Guest vCPU context: the general registers saved by the exit path (entry.S) and the EL1 system
//! registers, FP/SIMD and virtual-timer state switched when a pCPU changes vCPU.

use super::sysreg;

/// General-purpose registers and exception state of a guest at its last exit.
/// Layout shared with entry.S (GREGS_* offsets).
#[repr(C)]
#[derive(Clone, Default, Debug)]
pub struct GuestRegs {
    /// x0..x30.
    pub x: [u64; 31],
    /// Where the guest resumes (ELR_EL2).
    pub pc: u64,
    /// The guest's PSTATE (SPSR_EL2).
    pub pstate: u64,
    /// ESR_EL2 of the last synchronous exit.
    pub esr: u64,
    /// FAR_EL2 of the last exit.
    pub far: u64,
    /// HPFAR_EL2 of the last exit.
    pub hpfar: u64,
}

const _: () = assert!(core::mem::size_of::<GuestRegs>() == 36 * 8);

impl GuestRegs {
    /// Reads register `n` as an instruction operand: 31 is XZR.
    pub fn reg(&self, n: u8) -> u64 {
        self.x.get(usize::from(n)).copied().unwrap_or(0)
    }
    /// Writes register `n`; writes to 31 (XZR) are dropped.
    pub fn set_reg(&mut self, n: u8, v: u64) {
        if let Some(r) = self.x.get_mut(usize::from(n)) {
            *r = v;
        }
    }
}

/// PSTATE for a vCPU entering at EL1h with D, A, I, F masked (ARM ARM C5.2.19 SPSR_EL2).
pub const PSTATE_EL1H_DAIF: u64 = 0x3c5;
/// SCTLR_EL1 architectural reset value with the MMU and caches off (RES1 bits of ARMv8.0).
pub const SCTLR_EL1_RESET: u64 = 0x30d0_0800;

/// EL1 system registers a guest owns, switched between vCPUs sharing a pCPU.
#[derive(Clone, Debug, Default)]
pub struct El1Regs {
    pub sctlr: u64,
    pub ttbr0: u64,
    pub ttbr1: u64,
    pub tcr: u64,
    pub mair: u64,
    pub amair: u64,
    pub vbar: u64,
    pub contextidr: u64,
    pub tpidr_el0: u64,
    pub tpidrro_el0: u64,
    pub tpidr_el1: u64,
    pub sp_el0: u64,
    pub sp_el1: u64,
    pub elr_el1: u64,
    pub spsr_el1: u64,
    pub esr: u64,
    pub far: u64,
    pub par: u64,
    pub afsr0: u64,
    pub afsr1: u64,
    pub cpacr: u64,
    pub csselr: u64,
    pub cntkctl: u64,
    pub mdscr: u64,
    /// Virtual timer: CNTV_CTL_EL0 and CNTV_CVAL_EL0.
    pub cntv_ctl: u64,
    pub cntv_cval: u64,
}

impl El1Regs {
    /// State of a vCPU that has just been powered on: everything reset, MMU off.
    pub fn reset() -> Self {
        Self {
            sctlr: SCTLR_EL1_RESET,
            ..Self::default()
        }
    }

    /// Saves the EL1 registers of the vCPU loaded on this pCPU.
    pub fn save(&mut self) {
        self.sctlr = sysreg::read!(sctlr_el1);
        self.ttbr0 = sysreg::read!(ttbr0_el1);
        self.ttbr1 = sysreg::read!(ttbr1_el1);
        self.tcr = sysreg::read!(tcr_el1);
        self.mair = sysreg::read!(mair_el1);
        self.amair = sysreg::read!(amair_el1);
        self.vbar = sysreg::read!(vbar_el1);
        self.contextidr = sysreg::read!(contextidr_el1);
        self.tpidr_el0 = sysreg::read!(tpidr_el0);
        self.tpidrro_el0 = sysreg::read!(tpidrro_el0);
        self.tpidr_el1 = sysreg::read!(tpidr_el1);
        self.sp_el0 = sysreg::read!(sp_el0);
        self.sp_el1 = sysreg::read!(sp_el1);
        self.elr_el1 = sysreg::read!(elr_el1);
        self.spsr_el1 = sysreg::read!(spsr_el1);
        self.esr = sysreg::read!(esr_el1);
        self.far = sysreg::read!(far_el1);
        self.par = sysreg::read!(par_el1);
        self.afsr0 = sysreg::read!(afsr0_el1);
        self.afsr1 = sysreg::read!(afsr1_el1);
        self.cpacr = sysreg::read!(cpacr_el1);
        self.csselr = sysreg::read!(csselr_el1);
        self.cntkctl = sysreg::read!(cntkctl_el1);
        self.mdscr = sysreg::read!(mdscr_el1);
        self.cntv_ctl = sysreg::read!(cntv_ctl_el0);
        self.cntv_cval = sysreg::read!(cntv_cval_el0);
        // Stop the timer so it cannot fire for the next vCPU.
        sysreg::write!(cntv_ctl_el0, 0);
    }

    /// Loads these EL1 registers into this pCPU.
    pub fn restore(&self) {
        sysreg::write!(sctlr_el1, self.sctlr);
        sysreg::write!(ttbr0_el1, self.ttbr0);
        sysreg::write!(ttbr1_el1, self.ttbr1);
        sysreg::write!(tcr_el1, self.tcr);
        sysreg::write!(mair_el1, self.mair);
        sysreg::write!(amair_el1, self.amair);
        sysreg::write!(vbar_el1, self.vbar);
        sysreg::write!(contextidr_el1, self.contextidr);
        sysreg::write!(tpidr_el0, self.tpidr_el0);
        sysreg::write!(tpidrro_el0, self.tpidrro_el0);
        sysreg::write!(tpidr_el1, self.tpidr_el1);
        sysreg::write!(sp_el0, self.sp_el0);
        sysreg::write!(sp_el1, self.sp_el1);
        sysreg::write!(elr_el1, self.elr_el1);
        sysreg::write!(spsr_el1, self.spsr_el1);
        sysreg::write!(esr_el1, self.esr);
        sysreg::write!(far_el1, self.far);
        sysreg::write!(par_el1, self.par);
        sysreg::write!(afsr0_el1, self.afsr0);
        sysreg::write!(afsr1_el1, self.afsr1);
        sysreg::write!(cpacr_el1, self.cpacr);
        sysreg::write!(csselr_el1, self.csselr);
        sysreg::write!(cntkctl_el1, self.cntkctl);
        sysreg::write!(mdscr_el1, self.mdscr);
        sysreg::write!(cntv_cval_el0, self.cntv_cval);
        sysreg::write!(cntv_ctl_el0, self.cntv_ctl);
        sysreg::isb();
    }
}

/// FP/SIMD registers of a vCPU. Xenith is built without FP/SIMD
/// (`aarch64-unknown-none-softfloat`), so the guest's registers stay live in the hardware while
/// Xenith handles a trap; they are saved only when the pCPU switches vCPU.
#[repr(C, align(16))]
#[derive(Clone, Debug, Default)]
pub struct FpRegs {
    /// q0..q31.
    pub q: [u128; 32],
    pub fpsr: u64,
    pub fpcr: u64,
}

impl FpRegs {
    /// Saves this pCPU's FP/SIMD registers.
    pub fn save(&mut self) {
        // SAFETY: stores 32 q registers (512 bytes) then FPSR/FPCR into `self`, which is 16-byte
        // aligned and large enough (repr(C): q at offset 0, then fpsr, fpcr). FP is enabled at
        // EL2 (CPTR_EL2.TFP = 0), and `.arch_extension fp` lets the softfloat build assemble it.
        unsafe {
            core::arch::asm!(
                ".arch_extension fp",
                ".arch_extension simd",
                "stp q0, q1, [{p}, #0]", "stp q2, q3, [{p}, #32]",
                "stp q4, q5, [{p}, #64]", "stp q6, q7, [{p}, #96]",
                "stp q8, q9, [{p}, #128]", "stp q10, q11, [{p}, #160]",
                "stp q12, q13, [{p}, #192]", "stp q14, q15, [{p}, #224]",
                "stp q16, q17, [{p}, #256]", "stp q18, q19, [{p}, #288]",
                "stp q20, q21, [{p}, #320]", "stp q22, q23, [{p}, #352]",
                "stp q24, q25, [{p}, #384]", "stp q26, q27, [{p}, #416]",
                "stp q28, q29, [{p}, #448]", "stp q30, q31, [{p}, #480]",
                "mrs {t}, fpsr", "str {t}, [{p}, #512]",
                "mrs {t}, fpcr", "str {t}, [{p}, #520]",
                p = in(reg) self as *mut Self,
                t = out(reg) _,
                options(nostack),
            );
        }
    }

    /// Loads these FP/SIMD registers into this pCPU.
    pub fn restore(&self) {
        // SAFETY: the mirror of `save`: reads 528 bytes from `self`.
        unsafe {
            core::arch::asm!(
                ".arch_extension fp",
                ".arch_extension simd",
                "ldp q0, q1, [{p}, #0]", "ldp q2, q3, [{p}, #32]",
                "ldp q4, q5, [{p}, #64]", "ldp q6, q7, [{p}, #96]",
                "ldp q8, q9, [{p}, #128]", "ldp q10, q11, [{p}, #160]",
                "ldp q12, q13, [{p}, #192]", "ldp q14, q15, [{p}, #224]",
                "ldp q16, q17, [{p}, #256]", "ldp q18, q19, [{p}, #288]",
                "ldp q20, q21, [{p}, #320]", "ldp q22, q23, [{p}, #352]",
                "ldp q24, q25, [{p}, #384]", "ldp q26, q27, [{p}, #416]",
                "ldp q28, q29, [{p}, #448]", "ldp q30, q31, [{p}, #480]",
                "ldr {t}, [{p}, #512]", "msr fpsr, {t}",
                "ldr {t}, [{p}, #520]", "msr fpcr, {t}",
                p = in(reg) self as *const Self,
                t = out(reg) _,
                options(nostack, readonly),
            );
        }
    }
}
