//! AArch64 EL2: entry code, vectors, guest context and system-register access.
//!
//! The only place (with `drivers` and `mm`) where Xenith uses `unsafe`: inline assembly and the
//! raw system registers that `aarch64-cpu` does not cover.

pub mod context;
pub mod sysreg;

core::arch::global_asm!(include_str!("head.S"));
core::arch::global_asm!(include_str!("entry.S"));

pub use context::GuestRegs;

/// Why `enter_guest` returned: the vector the guest's exception went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// Synchronous exception (trap): ESR_EL2 says which.
    Sync,
    /// A physical IRQ arrived while the guest ran.
    Irq,
    /// A physical FIQ (unused by Xenith).
    Fiq,
    /// An SError from the guest's context.
    SError,
}

extern "C" {
    fn enter_guest(regs: *mut GuestRegs) -> u64;
    static pcpu_stacks: u8;
}

/// Runs the guest whose general registers are `regs` until it exits, and says why.
///
/// The caller must have loaded the rest of the vCPU's state (EL1 system registers, stage 2,
/// vGIC list registers) on this pCPU and set TPIDR_EL2 to this pCPU's block.
pub fn run_guest(regs: &mut GuestRegs) -> ExitKind {
    // SAFETY: `regs` is a valid, exclusively borrowed GuestRegs for the whole call; the asm only
    // stores into it (through the per-CPU pointer it sets to `regs`) and returns to us with the
    // callee-saved registers and stack restored. The guest runs at EL1 with its own stage-2, so it
    // cannot touch hypervisor memory.
    let kind = unsafe { enter_guest(regs) };
    match kind {
        0 => ExitKind::Sync,
        1 => ExitKind::Irq,
        2 => ExitKind::Fiq,
        _ => ExitKind::SError,
    }
}

/// Base of the per-pCPU stack area (head.S); used only for diagnostics.
pub fn stacks_base() -> usize {
    core::ptr::addr_of!(pcpu_stacks) as usize
}

/// Waits for an interrupt with IRQs masked at EL2: a pending physical interrupt still wakes the
/// core, and the caller then polls the GIC.
pub fn wait_for_interrupt() {
    // SAFETY: `wfi` has no memory effects; it only suspends the core until an event.
    unsafe { core::arch::asm!("dsb sy", "wfi", options(nomem, nostack)) };
}

/// Nanoseconds since the system counter started (Xen's system time on Arm).
pub fn time_ns() -> u64 {
    let cnt = sysreg::read!(cntpct_el0);
    let freq = sysreg::read!(cntfrq_el0).max(1);
    ((u128::from(cnt) * 1_000_000_000) / u128::from(freq)) as u64
}

/// The EL2 physical timer (CNTHP), Xenith's own: time slices and wake-ups of descheduled vCPUs.
pub mod hyp_timer {
    use super::sysreg;

    /// CNTHP_CTL_EL2.ENABLE.
    const ENABLE: u64 = 1;

    /// Fires the hypervisor timer interrupt when the physical counter reaches `deadline`.
    pub fn set(deadline: u64) {
        sysreg::write!(cnthp_cval_el2, deadline);
        sysreg::write!(cnthp_ctl_el2, ENABLE);
        sysreg::isb();
    }

    /// Stops the hypervisor timer (its interrupt line drops).
    pub fn stop() {
        sysreg::write!(cnthp_ctl_el2, 0);
        sysreg::isb();
    }

    /// The physical counter now.
    pub fn now() -> u64 {
        sysreg::read!(cntpct_el0)
    }

    /// Counter ticks in `us` microseconds.
    pub fn ticks_us(us: u64) -> u64 {
        sysreg::read!(cntfrq_el0) * us / 1_000_000
    }
}

/// TLB maintenance for guest translations.
pub mod tlb {
    /// Invalidates this pCPU's stage-1 translations of the VMID loaded in VTTBR_EL2: needed when
    /// another vCPU of the same domain ran here last (its non-broadcast TLB maintenance was for
    /// its own view).
    pub fn flush_guest_local() {
        // SAFETY: local TLB invalidation for the current VMID only drops cached translations.
        unsafe { core::arch::asm!("tlbi vmalle1", "dsb nsh", "isb", options(nostack)) };
    }

    /// Invalidates, on every pCPU, the stage-1 and stage-2 translations of the VMID in `vttbr`
    /// (a domain being freed), whatever VMID this pCPU has loaded: VTTBR_EL2 is switched for
    /// the invalidation and restored.
    pub fn flush_vmid(vttbr: u64) {
        // SAFETY: EL2 does not translate through VTTBR_EL2, so switching it briefly changes no
        // access of Xenith's; it is restored before returning (and before any guest entry). The
        // TLB invalidation only drops cached translations.
        unsafe {
            core::arch::asm!(
                "mrs {old}, vttbr_el2",
                "msr vttbr_el2, {new}",
                "isb",
                "dsb ishst",
                "tlbi vmalls12e1is",
                "dsb ish",
                "msr vttbr_el2, {old}",
                "isb",
                old = out(reg) _,
                new = in(reg) vttbr,
                options(nostack)
            );
        }
    }

    /// Invalidates every stage-1 and stage-2 translation of the VMID loaded in VTTBR_EL2, on
    /// every pCPU (inner shareable), after a stage-2 change.
    pub fn flush_guest_all() {
        // SAFETY: TLB invalidation only drops cached translations of the current VMID; the
        // barriers make the preceding table writes visible to the walkers first.
        unsafe {
            core::arch::asm!(
                "dsb ishst",
                "tlbi vmalls12e1is",
                "dsb ish",
                "isb",
                options(nostack)
            );
        }
    }
}

/// Spins forever with low power: the end of a pCPU that has nothing left to do.
pub fn halt() -> ! {
    loop {
        // SAFETY: `wfe` has no memory effects.
        unsafe { core::arch::asm!("wfe", options(nomem, nostack)) };
    }
}
