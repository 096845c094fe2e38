//! Trap decoding for Xenith's EL2: what a guest did, as a value.
//!
//! Models the AArch64 exception syndrome seen at EL2 (Arm ARM DDI 0487, D13.2.37 "ESR_ELx,
//! Exception Syndrome Register (ELx)"; the ISS encodings per exception class follow it):
//!
//! * [`decode`] turns an `ESR_EL2` value into a [`Trap`] (WFI/WFE, HVC, SMC, MSR/MRS, aborts,
//!   FP access, everything else as [`Trap::Unknown`]);
//! * [`fault_ipa`] rebuilds the faulting IPA from `HPFAR_EL2` and `FAR_EL2` (D13.2.55 HPFAR_EL2);
//! * [`MmioAccess`] makes MMIO emulation a pure function (width truncation, sign extension);
//! * [`inject`] computes the guest state for delivering an exception to an AArch64 EL1
//!   (D1.10 "Exception entry", D1.10.2 "Exception vectors");
//! * [`smccc`] names the SMC Calling Convention (Arm DEN0028) and PSCI (Arm DEN0022) function ids
//!   and decodes a call from x0..x3.
//!
//! Everything here is total: any 64-bit syndrome decodes to some [`Trap`] without panicking.
#![no_std]
#![forbid(unsafe_code)]

pub mod abort;
pub mod inject;
pub mod smccc;
pub mod sysreg;

use addr::Ipa;

pub use abort::{AbortInfo, DataAbort, FaultStatus, MmioAccess};
pub use inject::{
    el1_entry, el1_sync_entry, esr_data_abort, esr_instr_abort, esr_undefined, Entry, VectorKind,
};
pub use sysreg::{SysReg, SysRegTrap};

/// ESR_ELx.EC, the exception class: bits \[31:26\].
pub const ESR_EC_SHIFT: u32 = 26;
/// Width mask of ESR_ELx.EC (6 bits).
pub const ESR_EC_MASK: u64 = 0x3f;
/// ESR_ELx.IL, instruction length for synchronous exceptions: bit \[25\] (1 = 32-bit).
pub const ESR_IL: u64 = 1 << 25;
/// ESR_ELx.ISS, instruction specific syndrome: bits \[24:0\].
pub const ESR_ISS_MASK: u64 = (1 << 25) - 1;

/// Exception class values (ESR_ELx.EC), named as in the Arm ARM table of D13.2.37 (Xen's
/// `HSR_EC_*` and Linux's `ESR_ELx_EC_*` use the same numbers).
pub mod ec {
    /// Unknown reason (also: UNDEFINED instruction injected into a guest).
    pub const UNKNOWN: u8 = 0x00;
    /// Trapped WFI or WFE (HCR_EL2.TWI/TWE).
    pub const WFX: u8 = 0x01;
    /// Trapped MCR or MRC access with coproc == 0b1111 (AArch32).
    pub const CP15_32: u8 = 0x03;
    /// Trapped MCRR or MRRC access with coproc == 0b1111 (AArch32).
    pub const CP15_64: u8 = 0x04;
    /// Trapped MCR or MRC access with coproc == 0b1110 (AArch32).
    pub const CP14_32: u8 = 0x05;
    /// Trapped LDC or STC access (AArch32).
    pub const CP14_LS: u8 = 0x06;
    /// Access to SVE, Advanced SIMD or floating point trapped by CPTR_EL2.
    pub const FP_ASIMD: u8 = 0x07;
    /// Trapped VMRS access (ID group traps).
    pub const CP10_ID: u8 = 0x08;
    /// Trapped MRRC access with coproc == 0b1110 (AArch32).
    pub const CP14_64: u8 = 0x0c;
    /// Illegal Execution state.
    pub const ILL: u8 = 0x0e;
    /// SVC instruction execution in AArch32 state.
    pub const SVC32: u8 = 0x11;
    /// HVC instruction execution in AArch32 state.
    pub const HVC32: u8 = 0x12;
    /// SMC instruction execution in AArch32 state (trapped by HCR_EL2.TSC).
    pub const SMC32: u8 = 0x13;
    /// SVC instruction execution in AArch64 state.
    pub const SVC64: u8 = 0x15;
    /// HVC instruction execution in AArch64 state.
    pub const HVC64: u8 = 0x16;
    /// SMC instruction execution in AArch64 state (trapped by HCR_EL2.TSC).
    pub const SMC64: u8 = 0x17;
    /// Trapped MSR, MRS or System instruction execution in AArch64 state.
    pub const SYS64: u8 = 0x18;
    /// Access to SVE functionality trapped.
    pub const SVE: u8 = 0x19;
    /// Instruction Abort from a lower Exception level.
    pub const IABT_LOW: u8 = 0x20;
    /// Instruction Abort taken without a change in Exception level.
    pub const IABT_CUR: u8 = 0x21;
    /// PC alignment fault.
    pub const PC_ALIGN: u8 = 0x22;
    /// Data Abort from a lower Exception level.
    pub const DABT_LOW: u8 = 0x24;
    /// Data Abort taken without a change in Exception level.
    pub const DABT_CUR: u8 = 0x25;
    /// SP alignment fault.
    pub const SP_ALIGN: u8 = 0x26;
    /// Trapped floating-point exception from AArch32.
    pub const FP_EXC32: u8 = 0x28;
    /// Trapped floating-point exception from AArch64.
    pub const FP_EXC64: u8 = 0x2c;
    /// SError interrupt.
    pub const SERROR: u8 = 0x2f;
    /// Breakpoint from a lower Exception level.
    pub const BREAKPT_LOW: u8 = 0x30;
    /// Breakpoint taken without a change in Exception level.
    pub const BREAKPT_CUR: u8 = 0x31;
    /// Software Step from a lower Exception level.
    pub const SOFTSTP_LOW: u8 = 0x32;
    /// Software Step taken without a change in Exception level.
    pub const SOFTSTP_CUR: u8 = 0x33;
    /// Watchpoint from a lower Exception level.
    pub const WATCHPT_LOW: u8 = 0x34;
    /// Watchpoint taken without a change in Exception level.
    pub const WATCHPT_CUR: u8 = 0x35;
    /// BKPT instruction execution in AArch32 state.
    pub const BKPT32: u8 = 0x38;
    /// BRK instruction execution in AArch64 state.
    pub const BRK64: u8 = 0x3c;
}

/// WFx ISS.TI, bits \[1:0\]: 0b00 WFI, 0b01 WFE, 0b10 WFIT, 0b11 WFET. Bit 0 set means WFE/WFET.
pub const ISS_WFX_TI_WFE: u32 = 1 << 0;
/// HVC/SMC ISS.imm16, bits \[15:0\].
pub const ISS_IMM16_MASK: u32 = 0xffff;

/// What a guest did to trap to EL2, decoded from ESR_EL2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// WFI/WFE (and WFIT/WFET, which report as WFI/WFE) trapped by HCR_EL2.TWI/TWE.
    Wfx {
        /// `true` for WFE/WFET, `false` for WFI/WFIT.
        wfe: bool,
    },
    /// `HVC #imm` from AArch64. Xen hypercalls use `imm == 0xEA1`, SMCCC calls `imm == 0`.
    Hvc64 {
        /// The instruction's immediate.
        imm: u16,
    },
    /// `SMC #imm` from AArch64, trapped by HCR_EL2.TSC (the PC still points at the SMC).
    Smc64 {
        /// The instruction's immediate.
        imm: u16,
    },
    /// `HVC #imm` from AArch32.
    Hvc32 {
        /// The instruction's immediate.
        imm: u16,
    },
    /// `SMC` from AArch32 (ISS\[15:0\] is RES0 there, so `imm` reads as 0).
    Smc32 {
        /// ISS\[15:0\].
        imm: u16,
    },
    /// Trapped MSR/MRS/system instruction (EC 0x18).
    SysReg(SysRegTrap),
    /// Instruction abort from EL0/EL1 (stage-2 fault on fetch).
    InstrAbortLower(AbortInfo),
    /// Data abort from EL0/EL1 (stage-2 fault: MMIO emulation or bad guest access).
    DataAbortLower(DataAbort),
    /// Instruction abort taken at EL2 itself (a hypervisor bug).
    InstrAbortCurrent(AbortInfo),
    /// Data abort taken at EL2 itself (a hypervisor bug or a faulting guest-memory copy).
    DataAbortCurrent(DataAbort),
    /// FP/ASIMD/SVE access trapped by CPTR_EL2 (EC 0x07).
    FpAccess,
    /// Any other exception class (AArch32 coprocessor traps included for now).
    Unknown {
        /// ESR.EC.
        ec: u8,
        /// ESR.ISS.
        iss: u32,
    },
}

/// ESR.EC of a syndrome.
pub const fn esr_ec(esr: u64) -> u8 {
    ((esr >> ESR_EC_SHIFT) & ESR_EC_MASK) as u8
}

/// ESR.ISS of a syndrome (25 bits).
pub const fn esr_iss(esr: u64) -> u32 {
    (esr & ESR_ISS_MASK) as u32
}

/// Decodes an `ESR_EL2` value. Total: unknown classes become [`Trap::Unknown`].
pub fn decode(esr: u64) -> Trap {
    let ec = esr_ec(esr);
    let iss = esr_iss(esr);
    let imm = (iss & ISS_IMM16_MASK) as u16;
    match ec {
        ec::WFX => Trap::Wfx {
            wfe: iss & ISS_WFX_TI_WFE != 0,
        },
        ec::HVC64 => Trap::Hvc64 { imm },
        ec::SMC64 => Trap::Smc64 { imm },
        ec::HVC32 => Trap::Hvc32 { imm },
        ec::SMC32 => Trap::Smc32 { imm },
        ec::SYS64 => Trap::SysReg(SysRegTrap::from_iss(iss)),
        ec::IABT_LOW => Trap::InstrAbortLower(AbortInfo::from_iss(iss)),
        ec::IABT_CUR => Trap::InstrAbortCurrent(AbortInfo::from_iss(iss)),
        ec::DABT_LOW => Trap::DataAbortLower(DataAbort::from_iss(iss)),
        ec::DABT_CUR => Trap::DataAbortCurrent(DataAbort::from_iss(iss)),
        ec::FP_ASIMD => Trap::FpAccess,
        _ => Trap::Unknown { ec, iss },
    }
}

/// Length in bytes of the trapped instruction (ESR.IL, bit 25: 1 → 4, 0 → 2 for T32 16-bit),
/// to add to ELR_EL2 when emulating it.
pub const fn instr_len(esr: u64) -> u64 {
    if esr & ESR_IL != 0 {
        4
    } else {
        2
    }
}

/// HPFAR_EL2.FIPA, bits \[43:4\]: IPA bits \[51:12\] of a stage-2 fault (D13.2.55).
pub const HPFAR_FIPA_SHIFT: u32 = 4;
/// Width mask of HPFAR_EL2.FIPA (40 bits).
pub const HPFAR_FIPA_MASK: u64 = (1 << 40) - 1;

/// The faulting IPA of a stage-2 abort: `(HPFAR_EL2.FIPA << 12) | (FAR_EL2 & 0xfff)`.
///
/// Only valid when the abort was a stage-2 fault and FnV is clear (see [`DataAbort::fnv`]).
pub const fn fault_ipa(hpfar_el2: u64, far_el2: u64) -> Ipa {
    let page = (hpfar_el2 >> HPFAR_FIPA_SHIFT) & HPFAR_FIPA_MASK;
    Ipa((page << addr::PAGE_SHIFT) | (far_el2 & (addr::PAGE_SIZE - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an ESR: EC in \[31:26\], IL in \[25\], ISS in \[24:0\].
    fn esr(ec: u8, il: bool, iss: u32) -> u64 {
        (u64::from(ec) << 26) | (u64::from(il) << 25) | u64::from(iss)
    }

    #[test]
    fn wfx() {
        // EC 0x01 << 26 = 0x0400_0000, IL bit 25 = 0x0200_0000, TI[1:0] = 0 (WFI).
        assert_eq!(decode(0x0600_0000), Trap::Wfx { wfe: false });
        // TI = 0b01: WFE.
        assert_eq!(decode(0x0600_0001), Trap::Wfx { wfe: true });
        // TI = 0b10 (WFIT) and 0b11 (WFET) report as WFI/WFE; CV (24) and COND (23:20) ignored.
        assert_eq!(decode(0x07e0_0002), Trap::Wfx { wfe: false });
        assert_eq!(decode(0x0600_0003), Trap::Wfx { wfe: true });
    }

    #[test]
    fn hvc_smc() {
        // HVC #0xEA1 from AArch64: EC 0x16 << 26 = 0x5800_0000, IL = 0x0200_0000.
        assert_eq!(decode(0x5a00_0ea1), Trap::Hvc64 { imm: 0xea1 });
        assert_eq!(decode(esr(0x16, true, 0)), Trap::Hvc64 { imm: 0 });
        // SMC #0 from AArch64: EC 0x17 << 26 = 0x5c00_0000.
        assert_eq!(decode(0x5e00_0000), Trap::Smc64 { imm: 0 });
        assert_eq!(decode(0x5e00_1234), Trap::Smc64 { imm: 0x1234 });
        // HVC from AArch32 (EC 0x12 << 26 = 0x4800_0000), imm16 in ISS[15:0].
        assert_eq!(decode(0x4a00_0ea1), Trap::Hvc32 { imm: 0xea1 });
        // SMC from AArch32 (EC 0x13 << 26 = 0x4c00_0000); CV/COND in ISS[24:20] ignored.
        assert_eq!(decode(0x4fe0_0000), Trap::Smc32 { imm: 0 });
        // Upper ESR bits (ISS2 in [36:32], RES0 [63:37]) do not change the decode.
        assert_eq!(decode(0x1f_5a00_0ea1), Trap::Hvc64 { imm: 0xea1 });
    }

    #[test]
    fn fp_and_unknown() {
        assert_eq!(decode(esr(0x07, true, 0x1e0_0000)), Trap::FpAccess);
        assert_eq!(decode(0x0200_0000), Trap::Unknown { ec: 0, iss: 0 });
        // MCR p15 from AArch32 stays Unknown for now, with its ISS intact.
        assert_eq!(
            decode(esr(0x03, true, 0x1ab_cdef)),
            Trap::Unknown {
                ec: 0x03,
                iss: 0x1ab_cdef
            }
        );
        // EC 0x3f (reserved) with all ISS bits set.
        assert_eq!(
            decode(u64::MAX),
            Trap::Unknown {
                ec: 0x3f,
                iss: 0x1ff_ffff
            }
        );
    }

    #[test]
    fn instruction_length() {
        assert_eq!(instr_len(0x5a00_0ea1), 4); // IL = 1
        assert_eq!(instr_len(0x5800_0ea1), 2); // IL = 0 (T32 16-bit)
    }

    #[test]
    fn fault_address() {
        // FIPA (HPFAR[43:4]) = 0x9000 → HPFAR 0x9_0000, IPA page 0x0900_0000; FAR[11:0] 0x018.
        assert_eq!(fault_ipa(0x9_0000, 0xffff_0000_dead_b018), Ipa(0x0900_0018));
        // FIPA uses all 40 bits, NS (bit 63) and RES0 bits above 43 are dropped.
        assert_eq!(
            fault_ipa((1 << 63) | (0xff_ffff_ffff << 4) | 0xf, 0xabc),
            Ipa(0x000f_ffff_ffff_fabc)
        );
    }
}
