//! Delivering an exception to an AArch64 EL1 guest: the register values the hypervisor writes
//! before returning to the guest (Arm ARM D1.10 "Exception entry", D1.10.2 "Exception vectors",
//! and the pseudocode `AArch64.TakeException`).
//!
//! What [`el1_entry`] does to PSTATE, following `AArch64.TakeException` (and KVM's
//! `enter_exception64`):
//! * M = EL1h (0b0101, nRW = 0); D, A, I, F set;
//! * N, Z, C, V and DIT carried over (DIT from bit 21 of an AArch32 CPSR);
//! * PAN carried over, and set when SCTLR_EL1.SPAN is 0 (SPAN is RES1 without FEAT_PAN, so
//!   passing the guest's real SCTLR_EL1 is right on every CPU);
//! * SSBS = SCTLR_EL1.DSSBS (RES0 without FEAT_SSBS);
//! * SS, IL, UAO, BTYPE, TCO, ALLINT and the AArch32 IT/T/J/E bits cleared (TCO is set by the
//!   architecture when MTE is implemented; Xenith exposes no MTE, so it stays 0).
//!
//! [`el1_sync_entry`] is `el1_entry` for a synchronous exception with SPAN = 1 (PAN unchanged,
//! SSBS cleared): right when the guest's SCTLR_EL1 is not at hand.

/// SPSR/PSTATE.M\[3:0\] for EL0t.
pub const PSR_MODE_EL0T: u64 = 0b0000;
/// SPSR/PSTATE.M\[3:0\] for EL1t (EL1 using SP_EL0).
pub const PSR_MODE_EL1T: u64 = 0b0100;
/// SPSR/PSTATE.M\[3:0\] for EL1h (EL1 using SP_EL1).
pub const PSR_MODE_EL1H: u64 = 0b0101;
/// SPSR.M\[3:0\] mask.
pub const PSR_MODE_MASK: u64 = 0xf;
/// SPSR.M\[4\] (nRW): the exception was taken from AArch32.
pub const PSR_MODE32_BIT: u64 = 1 << 4;
/// FIQ mask bit.
pub const PSR_F_BIT: u64 = 1 << 6;
/// IRQ mask bit.
pub const PSR_I_BIT: u64 = 1 << 7;
/// SError mask bit.
pub const PSR_A_BIT: u64 = 1 << 8;
/// Debug mask bit.
pub const PSR_D_BIT: u64 = 1 << 9;
/// Speculative Store Bypass Safe (AArch64 position).
pub const PSR_SSBS_BIT: u64 = 1 << 12;
/// Illegal Execution state.
pub const PSR_IL_BIT: u64 = 1 << 20;
/// Software step.
pub const PSR_SS_BIT: u64 = 1 << 21;
/// Privileged Access Never (same position in an AArch32 CPSR).
pub const PSR_PAN_BIT: u64 = 1 << 22;
/// User Access Override.
pub const PSR_UAO_BIT: u64 = 1 << 23;
/// Data Independent Timing (AArch64 position).
pub const PSR_DIT_BIT: u64 = 1 << 24;
/// Data Independent Timing in an AArch32 CPSR.
pub const PSR_AA32_DIT_BIT: u64 = 1 << 21;
/// Condition flags N, Z, C, V (bits \[31:28\], same in AArch32).
pub const PSR_NZCV_MASK: u64 = 0xf << 28;

/// SCTLR_EL1.SPAN, bit 23: when 0, taking an exception to EL1 sets PSTATE.PAN.
pub const SCTLR_EL1_SPAN: u64 = 1 << 23;
/// SCTLR_EL1.DSSBS, bit 44: the PSTATE.SSBS value on exception entry.
pub const SCTLR_EL1_DSSBS: u64 = 1 << 44;

/// Offset of the vector group for an exception from the current EL using SP_EL0.
pub const VECTOR_CURRENT_SP0: u64 = 0x000;
/// ... from the current EL using SP_ELx.
pub const VECTOR_CURRENT_SPX: u64 = 0x200;
/// ... from a lower EL in AArch64.
pub const VECTOR_LOWER_A64: u64 = 0x400;
/// ... from a lower EL in AArch32.
pub const VECTOR_LOWER_A32: u64 = 0x600;
/// VBAR_EL1 bits \[10:0\] are RES0.
pub const VBAR_RES0_MASK: u64 = 0x7ff;

/// The exception type, selecting the entry within a vector group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorKind {
    /// Synchronous (+0x000).
    Sync,
    /// IRQ or vIRQ (+0x080).
    Irq,
    /// FIQ or vFIQ (+0x100).
    Fiq,
    /// SError or vSError (+0x180).
    SError,
}

impl VectorKind {
    /// Offset of this entry within a vector group.
    pub const fn offset(self) -> u64 {
        match self {
            Self::Sync => 0x000,
            Self::Irq => 0x080,
            Self::Fiq => 0x100,
            Self::SError => 0x180,
        }
    }
}

/// Guest register values after exception entry to EL1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Value for ELR_EL1: the guest PC at the exception (the preferred return address).
    pub elr_el1: u64,
    /// Value for SPSR_EL1: the guest PSTATE at the exception, verbatim.
    pub spsr_el1: u64,
    /// New guest PC (to write to ELR_EL2): the vector address.
    pub pc: u64,
    /// New guest PSTATE (to write to SPSR_EL2).
    pub pstate: u64,
}

/// Whether a guest PSTATE (SPSR_EL2 at the trap) is AArch32.
pub const fn is_aarch32(pstate: u64) -> bool {
    pstate & PSR_MODE32_BIT != 0
}

/// Exception level of an AArch64 guest PSTATE (M\[3:2\]); AArch32 guests report 0 (Xenith's
/// AArch32 guests run at EL0 under an AArch64 EL1, or will use a separate path).
pub const fn guest_el(pstate: u64) -> u8 {
    if is_aarch32(pstate) {
        0
    } else {
        ((pstate >> 2) & 0x3) as u8
    }
}

/// Whether an exception injected to EL1 counts as "taken without a change in Exception level"
/// (EC 0x21/0x25 rather than 0x20/0x24): the guest was at EL1 in AArch64.
pub const fn from_same_el(pstate: u64) -> bool {
    guest_el(pstate) != 0
}

/// Vector group offset for an exception to EL1 from the given guest PSTATE.
pub const fn vector_group(pstate: u64) -> u64 {
    if is_aarch32(pstate) {
        VECTOR_LOWER_A32
    } else if guest_el(pstate) == 0 {
        VECTOR_LOWER_A64
    } else if pstate & 1 == 0 {
        // EL1t: current EL with SP_EL0.
        VECTOR_CURRENT_SP0
    } else {
        // EL1h (and the impossible EL2/EL3 encodings, treated as current EL with SP_ELx).
        VECTOR_CURRENT_SPX
    }
}

/// Register values for taking an exception of `kind` to AArch64 EL1 (see the module docs for
/// the PSTATE rules). `pc` and `pstate` are the guest's ELR_EL2 / SPSR_EL2 at the trap.
pub const fn el1_entry(
    kind: VectorKind,
    pc: u64,
    pstate: u64,
    vbar_el1: u64,
    sctlr_el1: u64,
) -> Entry {
    let mut new = PSR_MODE_EL1H | PSR_D_BIT | PSR_A_BIT | PSR_I_BIT | PSR_F_BIT;
    new |= pstate & (PSR_NZCV_MASK | PSR_PAN_BIT);
    let dit = if is_aarch32(pstate) {
        pstate & PSR_AA32_DIT_BIT != 0
    } else {
        pstate & PSR_DIT_BIT != 0
    };
    if dit {
        new |= PSR_DIT_BIT;
    }
    if sctlr_el1 & SCTLR_EL1_SPAN == 0 {
        new |= PSR_PAN_BIT;
    }
    if sctlr_el1 & SCTLR_EL1_DSSBS != 0 {
        new |= PSR_SSBS_BIT;
    }
    Entry {
        elr_el1: pc,
        spsr_el1: pstate,
        pc: (vbar_el1 & !VBAR_RES0_MASK) | vector_group(pstate) | kind.offset(),
        pstate: new,
    }
}

/// [`el1_entry`] for a synchronous exception with PAN left as it was (SPAN = 1, DSSBS = 0).
pub const fn el1_sync_entry(pc: u64, pstate: u64, vbar_el1: u64) -> Entry {
    el1_entry(VectorKind::Sync, pc, pstate, vbar_el1, SCTLR_EL1_SPAN)
}

/// ESR_EL1 for an UNDEFINED instruction (EC 0x00 Unknown; IL = 1 for a 32-bit instruction).
pub const fn esr_undefined(il32: bool) -> u64 {
    let ec = (crate::ec::UNKNOWN as u64) << crate::ESR_EC_SHIFT;
    if il32 {
        ec | crate::ESR_IL
    } else {
        ec
    }
}

/// ESR_EL1 for a data abort (EC 0x25 if the guest was at EL1, 0x24 at EL0), with WnR and DFSC
/// (e.g. [`crate::abort::fsc::EXTERNAL`] for an access to an unmapped IPA). IL = 1 (IL is RES1
/// for data aborts without a valid instruction syndrome); ISV = 0.
pub const fn esr_data_abort(from_same_el: bool, write: bool, dfsc: u8) -> u64 {
    let ec = if from_same_el {
        crate::ec::DABT_CUR
    } else {
        crate::ec::DABT_LOW
    };
    let mut esr = ((ec as u64) << crate::ESR_EC_SHIFT)
        | crate::ESR_IL
        | (dfsc as u64 & crate::abort::ISS_FSC_MASK as u64);
    if write {
        esr |= crate::abort::ISS_DA_WNR as u64;
    }
    esr
}

/// ESR_EL1 for an instruction abort (EC 0x21 from EL1, 0x20 from EL0), IL = 1 (RES1).
pub const fn esr_instr_abort(from_same_el: bool, ifsc: u8) -> u64 {
    let ec = if from_same_el {
        crate::ec::IABT_CUR
    } else {
        crate::ec::IABT_LOW
    };
    ((ec as u64) << crate::ESR_EC_SHIFT)
        | crate::ESR_IL
        | (ifsc as u64 & crate::abort::ISS_FSC_MASK as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, Trap};

    const DAIF: u64 = 0x3c0;

    #[test]
    fn sync_from_el1h() {
        // Guest at EL1h (0x5) with DAIF clear, N and C set (bits 31, 29).
        let pstate = 0xa000_0005;
        let e = el1_sync_entry(0xffff_8000_1000_0000, pstate, 0xffff_8000_0801_0800);
        assert_eq!(e.elr_el1, 0xffff_8000_1000_0000);
        assert_eq!(e.spsr_el1, pstate);
        // Current EL with SP_ELx: VBAR + 0x200 + 0x0.
        assert_eq!(e.pc, 0xffff_8000_0801_0a00);
        // EL1h | DAIF | NZCV carried over.
        assert_eq!(e.pstate, 0xa000_0000 | DAIF | 0x5);
    }

    #[test]
    fn vector_groups() {
        let vbar = 0x4000_0000;
        // EL1t (M = 0b0100): +0x000.
        assert_eq!(el1_sync_entry(0, 0x4, vbar).pc, 0x4000_0000);
        // EL0t from AArch64: +0x400.
        assert_eq!(el1_sync_entry(0, 0x0, vbar).pc, 0x4000_0400);
        // AArch32 EL0 (M[4] = 1, usr mode 0b10000): +0x600.
        assert_eq!(el1_sync_entry(0, 0x10, vbar).pc, 0x4000_0600);
        // IRQ / FIQ / SError offsets within the group (EL0t → lower AArch64).
        assert_eq!(
            el1_entry(VectorKind::Irq, 0, 0, vbar, SCTLR_EL1_SPAN).pc,
            0x4000_0480
        );
        assert_eq!(
            el1_entry(VectorKind::Fiq, 0, 0, vbar, SCTLR_EL1_SPAN).pc,
            0x4000_0500
        );
        assert_eq!(
            el1_entry(VectorKind::SError, 0, 5, vbar, SCTLR_EL1_SPAN).pc,
            0x4000_0380
        );
        // VBAR RES0 bits [10:0] are ignored.
        assert_eq!(el1_sync_entry(0, 0x5, vbar | 0x7ff).pc, 0x4000_0200);
    }

    #[test]
    fn pstate_rules() {
        // SS (21), IL (20), UAO (23), BTYPE (11:10), SSBS (12) set in the old PSTATE; PAN (22)
        // and DIT (24) too, plus EL0t.
        let old = PSR_SS_BIT
            | PSR_IL_BIT
            | PSR_UAO_BIT
            | 0xc00
            | PSR_SSBS_BIT
            | PSR_PAN_BIT
            | PSR_DIT_BIT;
        let e = el1_sync_entry(0x1000, old, 0);
        assert_eq!(e.pstate, PSR_PAN_BIT | PSR_DIT_BIT | DAIF | PSR_MODE_EL1H);
        // SPAN = 0 sets PAN, DSSBS sets SSBS.
        let e = el1_entry(VectorKind::Sync, 0, 0x5, 0, SCTLR_EL1_DSSBS);
        assert_eq!(e.pstate, PSR_PAN_BIT | PSR_SSBS_BIT | DAIF | PSR_MODE_EL1H);
        // From AArch32: DIT comes from CPSR bit 21, T (5) and IT bits are dropped.
        let e = el1_sync_entry(0x8000, 0x10 | 0x20 | PSR_AA32_DIT_BIT | 0x0600_0000, 0);
        assert_eq!(e.pstate, PSR_DIT_BIT | DAIF | PSR_MODE_EL1H);
    }

    #[test]
    fn esr_values() {
        // Unknown: EC 0 → only IL (bit 25).
        assert_eq!(esr_undefined(true), 0x0200_0000);
        assert_eq!(esr_undefined(false), 0);
        // Data abort from EL1, write, external abort: EC 0x25 << 26 = 0x9400_0000, IL, WnR (6)
        // 0x40, DFSC 0x10.
        assert_eq!(esr_data_abort(true, true, 0x10), 0x9600_0050);
        // From EL0, read: EC 0x24 << 26 = 0x9000_0000.
        assert_eq!(esr_data_abort(false, false, 0x10), 0x9200_0010);
        // DFSC is masked to 6 bits.
        assert_eq!(esr_data_abort(false, false, 0xff), 0x9200_003f);
        // Instruction abort: EC 0x21 << 26 = 0x8400_0000 / EC 0x20 = 0x8000_0000.
        assert_eq!(esr_instr_abort(true, 0x10), 0x8600_0010);
        assert_eq!(esr_instr_abort(false, 0x07), 0x8200_0007);
        // They decode back.
        assert!(matches!(
            decode(esr_data_abort(true, true, 0x10)),
            Trap::DataAbortCurrent(d) if d.write && d.dfsc == 0x10 && d.access.is_none()
        ));
    }

    #[test]
    fn el_helpers() {
        assert!(from_same_el(0x5));
        assert!(from_same_el(0x4));
        assert!(!from_same_el(0x0));
        assert!(!from_same_el(0x13)); // AArch32 svc mode is not an AArch64 EL1
        assert_eq!(guest_el(0x9), 2);
    }
}
