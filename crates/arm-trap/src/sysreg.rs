//! Trapped MSR/MRS decoding (EC 0x18, ISS layout in Arm ARM D13.2.37, "ISS encoding for an
//! exception from MSR, MRS, or System instruction execution in AArch64 state") and system
//! register encodings (op0, op1, CRn, CRm, op2) named as the Arm ARM names the registers.

use core::fmt;

/// A system register encoding, packed as in the MRS/MSR instruction (bits \[20:5\]):
/// `op0 << 19 | op1 << 16 | CRn << 12 | CRm << 8 | op2 << 5` (Linux's `sys_reg()` packing).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SysReg(u32);

impl SysReg {
    const OP0_SHIFT: u32 = 19;
    const OP1_SHIFT: u32 = 16;
    const CRN_SHIFT: u32 = 12;
    const CRM_SHIFT: u32 = 8;
    const OP2_SHIFT: u32 = 5;

    /// Packs an encoding; each field is masked to its width (op0: 2 bits, op1/op2: 3, CRn/CRm: 4).
    pub const fn new(op0: u8, op1: u8, crn: u8, crm: u8, op2: u8) -> Self {
        Self(
            ((op0 as u32 & 0x3) << Self::OP0_SHIFT)
                | ((op1 as u32 & 0x7) << Self::OP1_SHIFT)
                | ((crn as u32 & 0xf) << Self::CRN_SHIFT)
                | ((crm as u32 & 0xf) << Self::CRM_SHIFT)
                | ((op2 as u32 & 0x7) << Self::OP2_SHIFT),
        )
    }
    /// op0.
    pub const fn op0(self) -> u8 {
        ((self.0 >> Self::OP0_SHIFT) & 0x3) as u8
    }
    /// op1.
    pub const fn op1(self) -> u8 {
        ((self.0 >> Self::OP1_SHIFT) & 0x7) as u8
    }
    /// CRn.
    pub const fn crn(self) -> u8 {
        ((self.0 >> Self::CRN_SHIFT) & 0xf) as u8
    }
    /// CRm.
    pub const fn crm(self) -> u8 {
        ((self.0 >> Self::CRM_SHIFT) & 0xf) as u8
    }
    /// op2.
    pub const fn op2(self) -> u8 {
        ((self.0 >> Self::OP2_SHIFT) & 0x7) as u8
    }
    /// The packed value.
    pub const fn raw(self) -> u32 {
        self.0
    }
    /// Whether this is in the ID register space (op0 = 3, op1 = 0, CRn = 0, CRm = 0..=7),
    /// trapped by HCR_EL2.TID3 (and TID1/TID2 for a few).
    pub const fn is_id_reg(self) -> bool {
        self.op0() == 3 && self.op1() == 0 && self.crn() == 0 && self.crm() <= 7
    }

    /// ICC_SGI1R_EL1: generate Group 1 SGIs for the current Security state (GICv3).
    pub const ICC_SGI1R_EL1: Self = Self::new(3, 0, 12, 11, 5);
    /// ICC_ASGI1R_EL1: generate Group 1 SGIs for the other Security state.
    pub const ICC_ASGI1R_EL1: Self = Self::new(3, 1, 12, 11, 6);
    /// ICC_SGI0R_EL1: generate Group 0 SGIs.
    pub const ICC_SGI0R_EL1: Self = Self::new(3, 2, 12, 11, 7);
    /// ICC_SRE_EL1: system register enable.
    pub const ICC_SRE_EL1: Self = Self::new(3, 0, 12, 12, 5);
    /// ICC_DIR_EL1: deactivate interrupt.
    pub const ICC_DIR_EL1: Self = Self::new(3, 0, 12, 11, 1);
    /// CNTP_TVAL_EL0: EL1 physical timer TimerValue.
    pub const CNTP_TVAL_EL0: Self = Self::new(3, 3, 14, 2, 0);
    /// CNTP_CTL_EL0: EL1 physical timer control.
    pub const CNTP_CTL_EL0: Self = Self::new(3, 3, 14, 2, 1);
    /// CNTP_CVAL_EL0: EL1 physical timer CompareValue.
    pub const CNTP_CVAL_EL0: Self = Self::new(3, 3, 14, 2, 2);
    /// CNTPCT_EL0: physical count.
    pub const CNTPCT_EL0: Self = Self::new(3, 3, 14, 0, 1);
    /// CNTV_TVAL_EL0: virtual timer TimerValue.
    pub const CNTV_TVAL_EL0: Self = Self::new(3, 3, 14, 3, 0);
    /// CNTV_CTL_EL0: virtual timer control.
    pub const CNTV_CTL_EL0: Self = Self::new(3, 3, 14, 3, 1);
    /// CNTV_CVAL_EL0: virtual timer CompareValue.
    pub const CNTV_CVAL_EL0: Self = Self::new(3, 3, 14, 3, 2);
    /// ACTLR_EL1 (trapped by HCR_EL2.TACR).
    pub const ACTLR_EL1: Self = Self::new(3, 0, 1, 0, 1);
    /// SCTLR_EL1 (writes trapped by HCR_EL2.TVM).
    pub const SCTLR_EL1: Self = Self::new(3, 0, 1, 0, 0);
    /// TTBR0_EL1 (HCR_EL2.TVM).
    pub const TTBR0_EL1: Self = Self::new(3, 0, 2, 0, 0);
    /// TTBR1_EL1 (HCR_EL2.TVM).
    pub const TTBR1_EL1: Self = Self::new(3, 0, 2, 0, 1);
    /// TCR_EL1 (HCR_EL2.TVM).
    pub const TCR_EL1: Self = Self::new(3, 0, 2, 0, 2);
    /// AFSR0_EL1 (HCR_EL2.TVM).
    pub const AFSR0_EL1: Self = Self::new(3, 0, 5, 1, 0);
    /// AFSR1_EL1 (HCR_EL2.TVM).
    pub const AFSR1_EL1: Self = Self::new(3, 0, 5, 1, 1);
    /// ESR_EL1 (HCR_EL2.TVM).
    pub const ESR_EL1: Self = Self::new(3, 0, 5, 2, 0);
    /// FAR_EL1 (HCR_EL2.TVM).
    pub const FAR_EL1: Self = Self::new(3, 0, 6, 0, 0);
    /// MAIR_EL1 (HCR_EL2.TVM).
    pub const MAIR_EL1: Self = Self::new(3, 0, 10, 2, 0);
    /// AMAIR_EL1 (HCR_EL2.TVM).
    pub const AMAIR_EL1: Self = Self::new(3, 0, 10, 3, 0);
    /// CONTEXTIDR_EL1 (HCR_EL2.TVM).
    pub const CONTEXTIDR_EL1: Self = Self::new(3, 0, 13, 0, 1);
    /// MDSCR_EL1 (MDCR_EL2.TDA).
    pub const MDSCR_EL1: Self = Self::new(2, 0, 0, 2, 2);
    /// OSLAR_EL1: OS lock access (MDCR_EL2.TDOSA).
    pub const OSLAR_EL1: Self = Self::new(2, 0, 1, 0, 4);
    /// OSLSR_EL1: OS lock status (MDCR_EL2.TDOSA).
    pub const OSLSR_EL1: Self = Self::new(2, 0, 1, 1, 4);
    /// OSDLR_EL1: OS double lock (MDCR_EL2.TDOSA).
    pub const OSDLR_EL1: Self = Self::new(2, 0, 1, 3, 4);
    /// DBGPRCR_EL1: debug power control (MDCR_EL2.TDOSA).
    pub const DBGPRCR_EL1: Self = Self::new(2, 0, 1, 4, 4);
    /// PMUSERENR_EL0 (MDCR_EL2.TPM).
    pub const PMUSERENR_EL0: Self = Self::new(3, 3, 9, 14, 0);
}

impl fmt::Display for SysReg {
    /// The generic assembler spelling, e.g. `S3_0_C12_C11_5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "S{}_{}_C{}_C{}_{}",
            self.op0(),
            self.op1(),
            self.crn(),
            self.crm(),
            self.op2()
        )
    }
}

impl fmt::Debug for SysReg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SysReg({self})")
    }
}

/// ISS.Op0, bits \[21:20\].
pub const ISS_SYS_OP0_SHIFT: u32 = 20;
/// ISS.Op2, bits \[19:17\].
pub const ISS_SYS_OP2_SHIFT: u32 = 17;
/// ISS.Op1, bits \[16:14\].
pub const ISS_SYS_OP1_SHIFT: u32 = 14;
/// ISS.CRn, bits \[13:10\].
pub const ISS_SYS_CRN_SHIFT: u32 = 10;
/// ISS.Rt, bits \[9:5\].
pub const ISS_SYS_RT_SHIFT: u32 = 5;
/// ISS.CRm, bits \[4:1\].
pub const ISS_SYS_CRM_SHIFT: u32 = 1;
/// ISS.Direction, bit \[0\]: 1 = read (MRS), 0 = write (MSR).
pub const ISS_SYS_DIRECTION_READ: u32 = 1;

/// A trapped MSR/MRS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysRegTrap {
    /// The register accessed.
    pub reg: SysReg,
    /// The general-purpose register transferred (31 = XZR: reads as zero, writes ignored).
    pub rt: u8,
    /// `true` for MRS (guest reads the register into Xt), `false` for MSR.
    pub is_read: bool,
}

impl SysRegTrap {
    /// Decodes the ISS of an EC 0x18 syndrome.
    pub const fn from_iss(iss: u32) -> Self {
        const fn f_(iss: u32, shift: u32, mask: u32) -> u8 {
            ((iss >> shift) & mask) as u8
        }
        Self {
            reg: SysReg::new(
                f_(iss, ISS_SYS_OP0_SHIFT, 0x3),
                f_(iss, ISS_SYS_OP1_SHIFT, 0x7),
                f_(iss, ISS_SYS_CRN_SHIFT, 0xf),
                f_(iss, ISS_SYS_CRM_SHIFT, 0xf),
                f_(iss, ISS_SYS_OP2_SHIFT, 0x7),
            ),
            rt: f_(iss, ISS_SYS_RT_SHIFT, 0x1f),
            is_read: iss & ISS_SYS_DIRECTION_READ != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, Trap};
    extern crate std;
    use std::format;

    #[test]
    fn sgi1r_write() {
        // MSR ICC_SGI1R_EL1, x2: EC 0x18 (<<26 = 0x6000_0000), IL (0x0200_0000),
        // Op0=3 [21:20] = 0x30_0000, Op2=5 [19:17] = 0xa_0000, Op1=0, CRn=12 [13:10] = 0x3000,
        // Rt=2 [9:5] = 0x40, CRm=11 [4:1] = 0x16, Direction=0 (write).
        let esr = 0x6200_0000u64 | 0x30_0000 | 0xa_0000 | 0x3000 | 0x40 | 0x16;
        assert_eq!(esr, 0x623a_3056);
        assert_eq!(
            decode(esr),
            Trap::SysReg(SysRegTrap {
                reg: SysReg::ICC_SGI1R_EL1,
                rt: 2,
                is_read: false
            })
        );
    }

    #[test]
    fn sgi_variants_and_timer_read() {
        // ICC_ASGI1R_EL1: Op0=3, Op2=6 (0xc_0000), Op1=1 (0x4000), CRn=12, CRm=11, Rt=0, write.
        let esr = 0x6200_0000u64 | 0x30_0000 | 0xc_0000 | 0x4000 | 0x3000 | 0x16;
        let Trap::SysReg(t) = decode(esr) else {
            panic!()
        };
        assert_eq!(t.reg, SysReg::ICC_ASGI1R_EL1);
        // ICC_SGI0R_EL1: Op2=7 (0xe_0000), Op1=2 (0x8000).
        let esr = 0x6200_0000u64 | 0x30_0000 | 0xe_0000 | 0x8000 | 0x3000 | 0x16;
        let Trap::SysReg(t) = decode(esr) else {
            panic!()
        };
        assert_eq!(t.reg, SysReg::ICC_SGI0R_EL1);
        // MRS x30, CNTP_CTL_EL0: Op0=3, Op2=1 (0x2_0000), Op1=3 (0xc000), CRn=14 (0x3800),
        // Rt=30 (0x3c0), CRm=2 (0x4), Direction=1.
        let esr = 0x6200_0000u64 | 0x30_0000 | 0x2_0000 | 0xc000 | 0x3800 | 0x3c0 | 0x4 | 1;
        assert_eq!(
            decode(esr),
            Trap::SysReg(SysRegTrap {
                reg: SysReg::CNTP_CTL_EL0,
                rt: 30,
                is_read: true
            })
        );
        // XZR as Rt.
        let Trap::SysReg(t) = decode(0x6200_0000 | (31 << 5)) else {
            panic!()
        };
        assert_eq!(t.rt, 31);
        assert_eq!(t.reg, SysReg::new(0, 0, 0, 0, 0));
    }

    #[test]
    fn display_and_fields() {
        assert_eq!(format!("{}", SysReg::ICC_SGI1R_EL1), "S3_0_C12_C11_5");
        assert_eq!(format!("{}", SysReg::CNTP_CVAL_EL0), "S3_3_C14_C2_2");
        assert_eq!(format!("{}", SysReg::OSLAR_EL1), "S2_0_C1_C0_4");
        let r = SysReg::new(3, 7, 15, 15, 7);
        assert_eq!(
            (r.op0(), r.op1(), r.crn(), r.crm(), r.op2()),
            (3, 7, 15, 15, 7)
        );
        // Same packing as the MRS instruction's bits [20:5] (Linux sys_reg()).
        assert_eq!(
            SysReg::ICC_SGI1R_EL1.raw(),
            (3 << 19) | (12 << 12) | (11 << 8) | (5 << 5)
        );
        assert!(SysReg::new(3, 0, 0, 1, 0).is_id_reg()); // ID_AA64PFR0_EL1 is (3,0,0,4,0)
        assert!(!SysReg::CNTP_CTL_EL0.is_id_reg());
    }
}
