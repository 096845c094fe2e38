//! Instruction and data abort syndromes (Arm ARM D13.2.37, "ISS encoding for an exception from
//! an Instruction Abort" / "... from a Data Abort"), fault status codes, and the pure arithmetic
//! of emulating a trapped MMIO load or store.

/// Data abort ISS.ISV, bit \[24\]: bits \[23:14\] hold a valid instruction syndrome.
pub const ISS_DA_ISV: u32 = 1 << 24;
/// ISS.SAS, bits \[23:22\]: access size, log2 of bytes.
pub const ISS_DA_SAS_SHIFT: u32 = 22;
/// ISS.SSE, bit \[21\]: the load sign-extends.
pub const ISS_DA_SSE: u32 = 1 << 21;
/// ISS.SRT, bits \[20:16\]: the transfer register.
pub const ISS_DA_SRT_SHIFT: u32 = 16;
/// ISS.SF, bit \[15\]: the transfer register is 64-bit (Xt rather than Wt).
pub const ISS_DA_SF: u32 = 1 << 15;
/// ISS.AR, bit \[14\]: acquire/release semantics.
pub const ISS_DA_AR: u32 = 1 << 14;
/// ISS.FnV, bit \[10\]: FAR is not valid.
pub const ISS_FNV: u32 = 1 << 10;
/// ISS.EA, bit \[9\]: external abort type (IMPLEMENTATION DEFINED classification).
pub const ISS_EA: u32 = 1 << 9;
/// ISS.CM, bit \[8\]: the abort came from a cache maintenance or address translation instruction.
pub const ISS_DA_CM: u32 = 1 << 8;
/// ISS.S1PTW, bit \[7\]: stage-2 fault on a stage-1 translation table walk.
pub const ISS_S1PTW: u32 = 1 << 7;
/// ISS.WnR, bit \[6\]: the access was a write.
pub const ISS_DA_WNR: u32 = 1 << 6;
/// ISS.DFSC / IFSC, bits \[5:0\].
pub const ISS_FSC_MASK: u32 = 0x3f;

/// Fault status codes (DFSC/IFSC), as named by the Arm ARM (Xen's `FSC_*`, Linux's `ESR_ELx_FSC_*`).
pub mod fsc {
    /// Address size fault, level 0 (levels 1..3 are +1..+3).
    pub const ADDR_SIZE_L0: u8 = 0x00;
    /// Translation fault, level 0 (levels 1..3 are +1..+3).
    pub const TRANS_L0: u8 = 0x04;
    /// Access flag fault, level 0 (levels 1..3 are +1..+3).
    pub const ACCESS_L0: u8 = 0x08;
    /// Permission fault, level 0 (levels 1..3 are +1..+3).
    pub const PERM_L0: u8 = 0x0c;
    /// Synchronous External abort, not on a translation table walk. What the hypervisor
    /// injects into a guest that touches an unmapped, unemulated IPA.
    pub const EXTERNAL: u8 = 0x10;
    /// Synchronous Tag Check Fault (MTE).
    pub const TAG_CHECK: u8 = 0x11;
    /// Synchronous External abort on a walk, level -1 (FEAT_LPA2).
    pub const EXTERNAL_WALK_LM1: u8 = 0x13;
    /// Synchronous External abort on a walk, level 0 (levels 1..3 are +1..+3).
    pub const EXTERNAL_WALK_L0: u8 = 0x14;
    /// Synchronous parity or ECC error on memory access, not on a walk.
    pub const PARITY: u8 = 0x18;
    /// Synchronous parity or ECC error on a walk, level 0 (levels 1..3 are +1..+3).
    pub const PARITY_WALK_L0: u8 = 0x1c;
    /// Alignment fault.
    pub const ALIGNMENT: u8 = 0x21;
    /// Address size fault, level -1 (FEAT_LPA2).
    pub const ADDR_SIZE_LM1: u8 = 0x29;
    /// Translation fault, level -1 (FEAT_LPA2).
    pub const TRANS_LM1: u8 = 0x2b;
    /// TLB conflict abort.
    pub const TLB_CONFLICT: u8 = 0x30;
    /// Unsupported atomic hardware update fault.
    pub const UNSUPPORTED_ATOMIC: u8 = 0x31;
    /// IMPLEMENTATION DEFINED fault (Lockdown).
    pub const LOCKDOWN: u8 = 0x34;
    /// IMPLEMENTATION DEFINED fault (Unsupported Exclusive or Atomic access).
    pub const UNSUPPORTED_EXCLUSIVE: u8 = 0x35;
}

/// A classified DFSC/IFSC. Levels are -1..=3 (-1 only with FEAT_LPA2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultStatus {
    /// Address size fault at a level.
    AddressSize { level: i8 },
    /// Translation fault at a level (nothing mapped: at stage 2, MMIO emulation or a bad IPA).
    Translation { level: i8 },
    /// Access flag fault at a level.
    AccessFlag { level: i8 },
    /// Permission fault at a level.
    Permission { level: i8 },
    /// Synchronous External abort, not on a table walk.
    SyncExternal,
    /// Synchronous External abort on a table walk at a level.
    SyncExternalOnWalk { level: i8 },
    /// Synchronous Tag Check Fault.
    TagCheck,
    /// Parity/ECC error, not on a walk.
    Parity,
    /// Parity/ECC error on a walk at a level.
    ParityOnWalk { level: i8 },
    /// Alignment fault.
    Alignment,
    /// TLB conflict abort.
    TlbConflict,
    /// Unsupported atomic hardware update.
    UnsupportedAtomicUpdate,
    /// IMPLEMENTATION DEFINED (0x34 lockdown, 0x35 unsupported exclusive/atomic).
    ImplementationDefined(u8),
    /// Reserved or unknown encoding.
    Other(u8),
}

impl FaultStatus {
    /// Classifies a 6-bit fault status code (upper bits ignored).
    pub const fn classify(code: u8) -> Self {
        let code = code & 0x3f;
        let level = (code & 0x3) as i8;
        match code {
            0x00..=0x03 => Self::AddressSize { level },
            0x04..=0x07 => Self::Translation { level },
            0x08..=0x0b => Self::AccessFlag { level },
            0x0c..=0x0f => Self::Permission { level },
            fsc::EXTERNAL => Self::SyncExternal,
            fsc::TAG_CHECK => Self::TagCheck,
            fsc::EXTERNAL_WALK_LM1 => Self::SyncExternalOnWalk { level: -1 },
            0x14..=0x17 => Self::SyncExternalOnWalk { level },
            fsc::PARITY => Self::Parity,
            0x1c..=0x1f => Self::ParityOnWalk { level },
            fsc::ALIGNMENT => Self::Alignment,
            fsc::ADDR_SIZE_LM1 => Self::AddressSize { level: -1 },
            fsc::TRANS_LM1 => Self::Translation { level: -1 },
            fsc::TLB_CONFLICT => Self::TlbConflict,
            fsc::UNSUPPORTED_ATOMIC => Self::UnsupportedAtomicUpdate,
            fsc::LOCKDOWN | fsc::UNSUPPORTED_EXCLUSIVE => Self::ImplementationDefined(code),
            _ => Self::Other(code),
        }
    }
    /// Translation fault at any level.
    pub const fn is_translation(self) -> bool {
        matches!(self, Self::Translation { .. })
    }
    /// Permission fault at any level.
    pub const fn is_permission(self) -> bool {
        matches!(self, Self::Permission { .. })
    }
    /// Access flag fault at any level.
    pub const fn is_access_flag(self) -> bool {
        matches!(self, Self::AccessFlag { .. })
    }
}

/// An instruction abort's syndrome (also the common part of a data abort).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortInfo {
    /// S1PTW: stage-2 fault during a stage-1 table walk.
    pub s1ptw: bool,
    /// FnV: FAR_EL2 is not valid.
    pub fnv: bool,
    /// EA: external abort type.
    pub ea: bool,
    /// IFSC, bits \[5:0\].
    pub fsc: u8,
}

impl AbortInfo {
    /// Decodes the ISS of an instruction abort (EC 0x20/0x21).
    pub const fn from_iss(iss: u32) -> Self {
        Self {
            s1ptw: iss & ISS_S1PTW != 0,
            fnv: iss & ISS_FNV != 0,
            ea: iss & ISS_EA != 0,
            fsc: (iss & ISS_FSC_MASK) as u8,
        }
    }
    /// The classified fault status.
    pub const fn status(&self) -> FaultStatus {
        FaultStatus::classify(self.fsc)
    }
}

/// A data abort's syndrome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataAbort {
    /// The decoded load/store, `None` when ISV = 0 (no syndrome: e.g. LDP/STP, post-index, or a
    /// fault on a stage-1 walk). Without it the access cannot be emulated from the syndrome.
    pub access: Option<MmioAccess>,
    /// WnR: the access was a write (for S1PTW faults this is about the walk, see Arm ARM).
    pub write: bool,
    /// S1PTW: stage-2 fault during a stage-1 table walk.
    pub s1ptw: bool,
    /// FnV: FAR_EL2 is not valid.
    pub fnv: bool,
    /// EA: external abort type.
    pub ea: bool,
    /// CM: caused by a cache maintenance or address translation instruction.
    pub cm: bool,
    /// DFSC, bits \[5:0\].
    pub dfsc: u8,
}

impl DataAbort {
    /// Decodes the ISS of a data abort (EC 0x24/0x25).
    pub const fn from_iss(iss: u32) -> Self {
        let write = iss & ISS_DA_WNR != 0;
        let access = if iss & ISS_DA_ISV != 0 {
            Some(MmioAccess {
                size_log2: ((iss >> ISS_DA_SAS_SHIFT) & 0x3) as u8,
                reg: ((iss >> ISS_DA_SRT_SHIFT) & 0x1f) as u8,
                sign_extend: iss & ISS_DA_SSE != 0,
                sixty_four: iss & ISS_DA_SF != 0,
                acquire_release: iss & ISS_DA_AR != 0,
                write,
            })
        } else {
            None
        };
        Self {
            access,
            write,
            s1ptw: iss & ISS_S1PTW != 0,
            fnv: iss & ISS_FNV != 0,
            ea: iss & ISS_EA != 0,
            cm: iss & ISS_DA_CM != 0,
            dfsc: (iss & ISS_FSC_MASK) as u8,
        }
    }
    /// The classified fault status.
    pub const fn status(&self) -> FaultStatus {
        FaultStatus::classify(self.dfsc)
    }
    /// Whether this abort is an emulatable MMIO access: a stage-2 translation fault with a valid
    /// syndrome, not on a stage-1 walk, not a cache maintenance op, with a valid FAR.
    pub const fn mmio(&self) -> Option<MmioAccess> {
        if self.s1ptw || self.cm || self.fnv || !self.status().is_translation() {
            return None;
        }
        self.access
    }
}

/// A load or store described by a data abort's instruction syndrome (ISV = 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioAccess {
    /// SAS: log2 of the access size in bytes (0..=3).
    pub size_log2: u8,
    /// SRT: the transfer register; 31 means XZR/WZR (the hypervisor reads it as zero and
    /// discards loads into it).
    pub reg: u8,
    /// SSE: sign-extend the loaded value.
    pub sign_extend: bool,
    /// SF: the transfer register is 64-bit (Xt), else 32-bit (Wt, upper half zeroed on load).
    pub sixty_four: bool,
    /// AR: acquire/release semantics.
    pub acquire_release: bool,
    /// WnR: store (`true`) or load.
    pub write: bool,
}

impl MmioAccess {
    /// XZR/WZR as a transfer register number.
    pub const ZERO_REG: u8 = 31;

    /// Access size in bytes: 1, 2, 4 or 8.
    pub const fn size(&self) -> u64 {
        1 << (self.size_log2 & 0x3)
    }
    /// Mask of the low `size()` bytes.
    pub const fn value_mask(&self) -> u64 {
        match self.size_log2 & 0x3 {
            0 => 0xff,
            1 => 0xffff,
            2 => 0xffff_ffff,
            _ => u64::MAX,
        }
    }
    /// The value a store writes to the device: the transfer register truncated to the access
    /// size. Pass 0 for `reg == 31` (XZR).
    pub const fn mask_write_value(&self, reg_value: u64) -> u64 {
        reg_value & self.value_mask()
    }
    /// The value a load leaves in the transfer register, from the device's value: truncated to
    /// the access size, sign-extended if SSE, then truncated to 32 bits unless SF (a write to Wt
    /// zeroes bits \[63:32\]). Matches KVM's `kvm_handle_mmio_return`.
    pub const fn extend_read_value(&self, v: u64) -> u64 {
        let mut data = v & self.value_mask();
        if self.sign_extend && self.size_log2 & 0x3 < 3 {
            let sign = 1u64 << ((8u32 << (self.size_log2 & 0x3)) - 1);
            data = (data ^ sign).wrapping_sub(sign);
        }
        if !self.sixty_four {
            data &= 0xffff_ffff;
        }
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, Trap};

    #[test]
    fn mmio_store_word() {
        // STR w1, [x0] to MMIO, stage-2 translation fault at level 3:
        // EC 0x24 << 26 = 0x9000_0000, IL 0x0200_0000, ISV (24) 0x0100_0000, SAS=2 [23:22]
        // 0x80_0000, SSE=0, SRT=1 [20:16] 0x1_0000, SF=0, AR=0, WnR (6) 0x40, DFSC 0x07.
        let esr = 0x9000_0000u64 | 0x0200_0000 | 0x0100_0000 | 0x80_0000 | 0x1_0000 | 0x40 | 0x07;
        assert_eq!(esr, 0x9381_0047);
        let Trap::DataAbortLower(da) = decode(esr) else {
            panic!()
        };
        assert_eq!(
            da,
            DataAbort {
                access: Some(MmioAccess {
                    size_log2: 2,
                    reg: 1,
                    sign_extend: false,
                    sixty_four: false,
                    acquire_release: false,
                    write: true,
                }),
                write: true,
                s1ptw: false,
                fnv: false,
                ea: false,
                cm: false,
                dfsc: 0x07,
            }
        );
        assert_eq!(da.status(), FaultStatus::Translation { level: 3 });
        assert!(da.mmio().is_some());
        let a = da.access.unwrap();
        assert_eq!(a.size(), 4);
        assert_eq!(a.mask_write_value(0x1122_3344_5566_7788), 0x5566_7788);
    }

    #[test]
    fn mmio_load_signed_byte_and_acquire() {
        // LDRSB x30, [x1]: ISV, SAS=0, SSE (21) 0x20_0000, SRT=30 [20:16] 0x1e_0000, SF (15)
        // 0x8000, AR (14) 0x4000, WnR=0, DFSC=0x06 (translation, level 2).
        let iss = 0x0100_0000u32 | 0x20_0000 | 0x1e_0000 | 0x8000 | 0x4000 | 0x06;
        let esr = 0x9200_0000u64 | u64::from(iss);
        let Trap::DataAbortLower(da) = decode(esr) else {
            panic!()
        };
        let a = da.access.unwrap();
        assert_eq!((a.size_log2, a.reg), (0, 30));
        assert!(a.sign_extend && a.sixty_four && a.acquire_release && !a.write);
        assert_eq!(a.extend_read_value(0x80), 0xffff_ffff_ffff_ff80);
        assert_eq!(a.extend_read_value(0x7f), 0x7f);
        assert_eq!(a.extend_read_value(0xabcd_ef80), 0xffff_ffff_ffff_ff80);
        assert_eq!(da.status(), FaultStatus::Translation { level: 2 });
    }

    #[test]
    fn extend_variants() {
        let mut a = MmioAccess {
            size_log2: 1,
            reg: 0,
            sign_extend: true,
            sixty_four: false,
            acquire_release: false,
            write: false,
        };
        // LDRSH w0: sign-extend to 32 bits only.
        assert_eq!(a.extend_read_value(0x8000), 0xffff_8000);
        a.sixty_four = true; // LDRSH x0
        assert_eq!(a.extend_read_value(0x1_8000), 0xffff_ffff_ffff_8000);
        a.sign_extend = false; // LDRH
        assert_eq!(a.extend_read_value(0x1_8000), 0x8000);
        a.size_log2 = 2;
        a.sign_extend = true; // LDRSW x0
        assert_eq!(a.extend_read_value(0x8000_0000), 0xffff_ffff_8000_0000);
        a.size_log2 = 3;
        a.sixty_four = true; // LDR x0
        assert_eq!(a.extend_read_value(u64::MAX), u64::MAX);
        assert_eq!(a.mask_write_value(u64::MAX), u64::MAX);
        a.size_log2 = 0;
        assert_eq!(a.mask_write_value(0x1ff), 0xff);
    }

    #[test]
    fn data_abort_without_syndrome() {
        // LDP to MMIO: ISV=0; S1PTW (7) 0x80, FnV (10) 0x400, EA (9) 0x200, CM (8) 0x100,
        // DFSC 0x0f (permission level 3). EC 0x24, IL RES1.
        let esr = 0x9200_0000u64 | 0x400 | 0x200 | 0x100 | 0x80 | 0x0f;
        let Trap::DataAbortLower(da) = decode(esr) else {
            panic!()
        };
        assert_eq!(da.access, None);
        assert!(da.s1ptw && da.fnv && da.ea && da.cm && !da.write);
        assert_eq!(da.status(), FaultStatus::Permission { level: 3 });
        assert_eq!(da.mmio(), None);
        // Data abort at EL2 itself: EC 0x25 << 26 = 0x9400_0000.
        assert!(matches!(
            decode(0x9600_0010),
            Trap::DataAbortCurrent(DataAbort { dfsc: 0x10, .. })
        ));
    }

    #[test]
    fn instruction_abort() {
        // EC 0x20 << 26 = 0x8000_0000; S1PTW (7), IFSC 0x05 (translation, level 1).
        let esr = 0x8200_0000u64 | 0x80 | 0x05;
        assert_eq!(
            decode(esr),
            Trap::InstrAbortLower(AbortInfo {
                s1ptw: true,
                fnv: false,
                ea: false,
                fsc: 0x05
            })
        );
        // EC 0x21 (current EL): 0x8400_0000; FnV, IFSC 0x0b (access flag level 3).
        let Trap::InstrAbortCurrent(ia) = decode(0x8600_040b) else {
            panic!()
        };
        assert!(ia.fnv);
        assert_eq!(ia.status(), FaultStatus::AccessFlag { level: 3 });
    }

    #[test]
    fn fault_status_codes() {
        use FaultStatus::*;
        assert_eq!(FaultStatus::classify(0x00), AddressSize { level: 0 });
        assert_eq!(FaultStatus::classify(0x29), AddressSize { level: -1 });
        assert_eq!(FaultStatus::classify(0x04), Translation { level: 0 });
        assert_eq!(FaultStatus::classify(0x2b), Translation { level: -1 });
        assert_eq!(FaultStatus::classify(0x09), AccessFlag { level: 1 });
        assert_eq!(FaultStatus::classify(0x0e), Permission { level: 2 });
        assert_eq!(FaultStatus::classify(0x10), SyncExternal);
        assert_eq!(FaultStatus::classify(0x11), TagCheck);
        assert_eq!(
            FaultStatus::classify(0x13),
            SyncExternalOnWalk { level: -1 }
        );
        assert_eq!(FaultStatus::classify(0x17), SyncExternalOnWalk { level: 3 });
        assert_eq!(FaultStatus::classify(0x18), Parity);
        assert_eq!(FaultStatus::classify(0x1d), ParityOnWalk { level: 1 });
        assert_eq!(FaultStatus::classify(0x21), Alignment);
        assert_eq!(FaultStatus::classify(0x30), TlbConflict);
        assert_eq!(FaultStatus::classify(0x31), UnsupportedAtomicUpdate);
        assert_eq!(FaultStatus::classify(0x34), ImplementationDefined(0x34));
        assert_eq!(FaultStatus::classify(0x35), ImplementationDefined(0x35));
        assert_eq!(FaultStatus::classify(0x3f), Other(0x3f));
        assert_eq!(FaultStatus::classify(0xc7), Translation { level: 3 });
        assert!(FaultStatus::classify(0x07).is_translation());
        assert!(FaultStatus::classify(0x0f).is_permission());
        assert!(FaultStatus::classify(0x0b).is_access_flag());
        // Every code classifies without panicking.
        for c in 0..=u8::MAX {
            let _ = FaultStatus::classify(c);
        }
    }
}
