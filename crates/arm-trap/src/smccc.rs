//! SMC Calling Convention (Arm DEN0028, "SMC Calling Convention") and PSCI (Arm DEN0022,
//! "Power State Coordination Interface") function identifiers, return codes, the Xen
//! hypervisor-service UID, and a decoder from the caller's x0..x3.
//!
//! Function Identifier (W0) layout, DEN0028 §2.5: bit 31 fast call, bit 30 SMC64/HVC64
//! calling convention, bits \[29:24\] owning entity, bits \[23:16\] zero (bit 16 is the SVE hint
//! in v1.3), bits \[15:0\] function number. Names follow the specs (Linux's `PSCI_0_2_FN*` and
//! Xen's `PSCI_0_2_FN32_*`/`_FN64_*` are the same numbers); ids that exist in both conventions
//! have `_32` / `_64` suffixes.

/// W0 bit 31: fast call.
pub const SMCCC_FAST_CALL: u32 = 1 << 31;
/// W0 bit 30: SMC64/HVC64 calling convention.
pub const SMCCC_64: u32 = 1 << 30;
/// W0 bits \[29:24\]: owning entity number.
pub const SMCCC_OWNER_SHIFT: u32 = 24;
/// Mask of the owning entity number after shifting.
pub const SMCCC_OWNER_MASK: u32 = 0x3f;
/// W0 bits \[15:0\]: function number.
pub const SMCCC_FUNC_MASK: u32 = 0xffff;

/// Owning entity: Arm Architecture Calls.
pub const SMCCC_OWNER_ARCH: u32 = 0;
/// Owning entity: CPU Service Calls.
pub const SMCCC_OWNER_CPU: u32 = 1;
/// Owning entity: SiP Service Calls.
pub const SMCCC_OWNER_SIP: u32 = 2;
/// Owning entity: OEM Service Calls.
pub const SMCCC_OWNER_OEM: u32 = 3;
/// Owning entity: Standard Secure Service Calls (PSCI lives here).
pub const SMCCC_OWNER_STANDARD: u32 = 4;
/// Owning entity: Standard Hypervisor Service Calls.
pub const SMCCC_OWNER_STANDARD_HYP: u32 = 5;
/// Owning entity: Vendor Specific Hypervisor Service Calls (Xen's UID call lives here).
pub const SMCCC_OWNER_VENDOR_HYP: u32 = 6;

/// SMCCC_VERSION.
pub const SMCCC_VERSION: u32 = 0x8000_0000;
/// SMCCC_ARCH_FEATURES.
pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
/// SMCCC_ARCH_SOC_ID.
pub const SMCCC_ARCH_SOC_ID: u32 = 0x8000_0002;
/// SMCCC_ARCH_WORKAROUND_1 (Spectre v2 / CVE-2017-5715).
pub const SMCCC_ARCH_WORKAROUND_1: u32 = 0x8000_8000;
/// SMCCC_ARCH_WORKAROUND_2 (Spectre v4 / CVE-2018-3639), w1 = enable.
pub const SMCCC_ARCH_WORKAROUND_2: u32 = 0x8000_7fff;
/// SMCCC_ARCH_WORKAROUND_3 (Spectre-BHB / CVE-2022-23960).
pub const SMCCC_ARCH_WORKAROUND_3: u32 = 0x8000_3fff;

/// SMCCC version 1.1 as SMCCC_VERSION returns it (major << 16 | minor). Xen 4.17 answers 1.1.
pub const SMCCC_VERSION_1_1: u32 = 0x0001_0001;
/// SMCCC version 1.2.
pub const SMCCC_VERSION_1_2: u32 = 0x0001_0002;

/// Standard Service Call Count (`ARM_SMCCC_CALL_COUNT_FID(STANDARD)`).
pub const ARM_SMCCC_STANDARD_CALL_COUNT: u32 = 0x8400_ff00;
/// Standard Service Call UID.
pub const ARM_SMCCC_STANDARD_CALL_UID: u32 = 0x8400_ff01;
/// Standard Service Call Revision.
pub const ARM_SMCCC_STANDARD_REVISION: u32 = 0x8400_ff03;
/// Vendor hypervisor service Call Count (owner 6; KVM's service, not Xen's).
pub const ARM_SMCCC_VENDOR_HYP_CALL_COUNT: u32 = 0x8600_ff00;
/// Vendor hypervisor service Call UID (`ARM_SMCCC_VENDOR_HYP_CALL_UID_FUNC_ID`).
pub const ARM_SMCCC_VENDOR_HYP_CALL_UID: u32 = 0x8600_ff01;
/// Vendor hypervisor service Revision.
pub const ARM_SMCCC_VENDOR_HYP_REVISION: u32 = 0x8600_ff03;
/// Standard hypervisor service Call Count: `ARM_SMCCC_CALL_COUNT_FID(HYPERVISOR)` in Xen's
/// `xen/arch/arm/include/asm/smccc.h` (owner 5), where Xen answers with its UID.
pub const ARM_SMCCC_HYP_CALL_COUNT: u32 = 0x8500_ff00;
/// Standard hypervisor service Call UID (`ARM_SMCCC_CALL_UID_FID(HYPERVISOR)`).
pub const ARM_SMCCC_HYP_CALL_UID: u32 = 0x8500_ff01;
/// Standard hypervisor service Revision (`ARM_SMCCC_REVISION_FID(HYPERVISOR)`).
pub const ARM_SMCCC_HYP_REVISION: u32 = 0x8500_ff03;

/// Xen's hypervisor-service UID (`XEN_SMCCC_UID` in `xen/include/public/arch-arm/smccc.h`:
/// `XEN_DEFINE_UUID(0xa71812dc, 0xc698, 0x4369, 0x9acf, 0x79, 0xd1, 0x8d, 0xde, 0xe6, 0x67)`),
/// as its 16 bytes in UUID order.
pub const XEN_SMCCC_UID_BYTES: [u8; 16] = [
    0xa7, 0x18, 0x12, 0xdc, 0xc6, 0x98, 0x43, 0x69, 0x9a, 0xcf, 0x79, 0xd1, 0x8d, 0xde, 0xe6, 0x67,
];
/// `XEN_SMCCC_UID` as returned in w0..w3: four bytes per register, first byte in the low-order
/// bits (DEN0028 "Call UID query", Xen's `fill_uid()` in `xen/arch/arm/vsmc.c`).
pub const XEN_SMCCC_UID: [u32; 4] = uid_regs(XEN_SMCCC_UID_BYTES);
/// Xen's hypervisor service revision, major (`XEN_SMCCC_MAJOR_REVISION`).
pub const XEN_SMCCC_MAJOR_REVISION: u32 = 0;
/// Xen's hypervisor service revision, minor (`XEN_SMCCC_MINOR_REVISION`).
pub const XEN_SMCCC_MINOR_REVISION: u32 = 1;
/// Xen's hypervisor service function count (`XEN_SMCCC_FUNCTION_COUNT`).
pub const XEN_SMCCC_FUNCTION_COUNT: u32 = 3;

/// Packs a UUID's bytes into the four UID result registers (first byte lowest).
pub const fn uid_regs(b: [u8; 16]) -> [u32; 4] {
    let mut out = [0u32; 4];
    let mut n = 0;
    while n < 4 {
        out[n] = u32::from_le_bytes([b[4 * n], b[4 * n + 1], b[4 * n + 2], b[4 * n + 3]]);
        n += 1;
    }
    out
}

/// PSCI_VERSION.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// CPU_SUSPEND, SMC32.
pub const PSCI_CPU_SUSPEND_32: u32 = 0x8400_0001;
/// CPU_SUSPEND, SMC64.
pub const PSCI_CPU_SUSPEND_64: u32 = 0xc400_0001;
/// CPU_OFF.
pub const PSCI_CPU_OFF: u32 = 0x8400_0002;
/// CPU_ON, SMC32.
pub const PSCI_CPU_ON_32: u32 = 0x8400_0003;
/// CPU_ON, SMC64.
pub const PSCI_CPU_ON_64: u32 = 0xc400_0003;
/// AFFINITY_INFO, SMC32.
pub const PSCI_AFFINITY_INFO_32: u32 = 0x8400_0004;
/// AFFINITY_INFO, SMC64.
pub const PSCI_AFFINITY_INFO_64: u32 = 0xc400_0004;
/// MIGRATE, SMC32.
pub const PSCI_MIGRATE_32: u32 = 0x8400_0005;
/// MIGRATE, SMC64.
pub const PSCI_MIGRATE_64: u32 = 0xc400_0005;
/// MIGRATE_INFO_TYPE.
pub const PSCI_MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
/// MIGRATE_INFO_UP_CPU, SMC32.
pub const PSCI_MIGRATE_INFO_UP_CPU_32: u32 = 0x8400_0007;
/// MIGRATE_INFO_UP_CPU, SMC64.
pub const PSCI_MIGRATE_INFO_UP_CPU_64: u32 = 0xc400_0007;
/// SYSTEM_OFF.
pub const PSCI_SYSTEM_OFF: u32 = 0x8400_0008;
/// SYSTEM_RESET.
pub const PSCI_SYSTEM_RESET: u32 = 0x8400_0009;
/// PSCI_FEATURES.
pub const PSCI_FEATURES: u32 = 0x8400_000a;
/// CPU_FREEZE.
pub const PSCI_CPU_FREEZE: u32 = 0x8400_000b;
/// CPU_DEFAULT_SUSPEND, SMC32.
pub const PSCI_CPU_DEFAULT_SUSPEND_32: u32 = 0x8400_000c;
/// CPU_DEFAULT_SUSPEND, SMC64.
pub const PSCI_CPU_DEFAULT_SUSPEND_64: u32 = 0xc400_000c;
/// NODE_HW_STATE, SMC32.
pub const PSCI_NODE_HW_STATE_32: u32 = 0x8400_000d;
/// NODE_HW_STATE, SMC64.
pub const PSCI_NODE_HW_STATE_64: u32 = 0xc400_000d;
/// SYSTEM_SUSPEND, SMC32.
pub const PSCI_SYSTEM_SUSPEND_32: u32 = 0x8400_000e;
/// SYSTEM_SUSPEND, SMC64.
pub const PSCI_SYSTEM_SUSPEND_64: u32 = 0xc400_000e;
/// PSCI_SET_SUSPEND_MODE.
pub const PSCI_SET_SUSPEND_MODE: u32 = 0x8400_000f;
/// PSCI_STAT_RESIDENCY, SMC32.
pub const PSCI_STAT_RESIDENCY_32: u32 = 0x8400_0010;
/// PSCI_STAT_RESIDENCY, SMC64.
pub const PSCI_STAT_RESIDENCY_64: u32 = 0xc400_0010;
/// PSCI_STAT_COUNT, SMC32.
pub const PSCI_STAT_COUNT_32: u32 = 0x8400_0011;
/// PSCI_STAT_COUNT, SMC64.
pub const PSCI_STAT_COUNT_64: u32 = 0xc400_0011;
/// SYSTEM_RESET2, SMC32.
pub const PSCI_SYSTEM_RESET2_32: u32 = 0x8400_0012;
/// SYSTEM_RESET2, SMC64.
pub const PSCI_SYSTEM_RESET2_64: u32 = 0xc400_0012;

/// PSCI version 1.1 as PSCI_VERSION returns it (major << 16 | minor); Xen 4.17 reports 1.1.
pub const PSCI_VERSION_1_1: u32 = 0x0001_0001;
/// PSCI version 1.0.
pub const PSCI_VERSION_1_0: u32 = 0x0001_0000;
/// PSCI version 0.2.
pub const PSCI_VERSION_0_2: u32 = 0x0000_0002;

/// PSCI return code: success.
pub const PSCI_SUCCESS: i32 = 0;
/// PSCI return code: NOT_SUPPORTED.
pub const PSCI_NOT_SUPPORTED: i32 = -1;
/// PSCI return code: INVALID_PARAMETERS.
pub const PSCI_INVALID_PARAMETERS: i32 = -2;
/// PSCI return code: DENIED.
pub const PSCI_DENIED: i32 = -3;
/// PSCI return code: ALREADY_ON.
pub const PSCI_ALREADY_ON: i32 = -4;
/// PSCI return code: ON_PENDING.
pub const PSCI_ON_PENDING: i32 = -5;
/// PSCI return code: INTERNAL_FAILURE.
pub const PSCI_INTERNAL_FAILURE: i32 = -6;
/// PSCI return code: NOT_PRESENT.
pub const PSCI_NOT_PRESENT: i32 = -7;
/// PSCI return code: DISABLED.
pub const PSCI_DISABLED: i32 = -8;
/// PSCI return code: INVALID_ADDRESS.
pub const PSCI_INVALID_ADDRESS: i32 = -9;

/// AFFINITY_INFO result: the affinity instance is ON.
pub const PSCI_AFFINITY_ON: i32 = 0;
/// AFFINITY_INFO result: OFF.
pub const PSCI_AFFINITY_OFF: i32 = 1;
/// AFFINITY_INFO result: ON_PENDING.
pub const PSCI_AFFINITY_ON_PENDING: i32 = 2;
/// MIGRATE_INFO_TYPE result: Trusted OS not present or does not require migration.
pub const PSCI_TOS_NOT_PRESENT_MP: i32 = 2;

/// SMCCC return code: success.
pub const SMCCC_RET_SUCCESS: i32 = 0;
/// SMCCC return code: NOT_SUPPORTED (also the answer to an unknown function id).
pub const SMCCC_RET_NOT_SUPPORTED: i32 = -1;
/// SMCCC return code: NOT_REQUIRED (e.g. ARCH_FEATURES of a workaround the CPU does not need).
pub const SMCCC_RET_NOT_REQUIRED: i32 = -2;
/// SMCCC return code: INVALID_PARAMETER.
pub const SMCCC_RET_INVALID_PARAMETER: i32 = -3;

/// A signed return code as written to x0: sign-extended to 64 bits (as KVM and Xen do; a
/// 32-bit caller reads the low 32 bits).
pub const fn ret(code: i32) -> u64 {
    code as i64 as u64
}

/// A decoded PSCI call. Arguments of SMC32 function ids are truncated to 32 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciCall {
    /// PSCI_VERSION.
    Version,
    /// CPU_SUSPEND(power_state, entry_point_address, context_id).
    CpuSuspend {
        power_state: u64,
        entry: u64,
        context: u64,
    },
    /// CPU_OFF.
    CpuOff,
    /// CPU_ON(target_cpu, entry_point_address, context_id).
    CpuOn {
        target_mpidr: u64,
        entry: u64,
        context: u64,
    },
    /// AFFINITY_INFO(target_affinity, lowest_affinity_level).
    AffinityInfo { target: u64, lowest_level: u64 },
    /// MIGRATE(target_cpu).
    Migrate { target_mpidr: u64 },
    /// MIGRATE_INFO_TYPE.
    MigrateInfoType,
    /// MIGRATE_INFO_UP_CPU.
    MigrateInfoUpCpu,
    /// SYSTEM_OFF.
    SystemOff,
    /// SYSTEM_RESET.
    SystemReset,
    /// SYSTEM_RESET2(reset_type, cookie).
    SystemReset2 { reset_type: u64, cookie: u64 },
    /// PSCI_FEATURES(psci_func_id).
    Features { fid: u32 },
    /// CPU_FREEZE.
    CpuFreeze,
    /// CPU_DEFAULT_SUSPEND(entry_point_address, context_id).
    CpuDefaultSuspend { entry: u64, context: u64 },
    /// NODE_HW_STATE(target_cpu, power_level).
    NodeHwState { target_mpidr: u64, power_level: u64 },
    /// SYSTEM_SUSPEND(entry_point_address, context_id).
    SystemSuspend { entry: u64, context: u64 },
    /// PSCI_SET_SUSPEND_MODE(mode).
    SetSuspendMode { mode: u64 },
    /// PSCI_STAT_RESIDENCY(target_cpu, power_state).
    StatResidency { target_mpidr: u64, power_state: u64 },
    /// PSCI_STAT_COUNT(target_cpu, power_state).
    StatCount { target_mpidr: u64, power_state: u64 },
}

/// A decoded SMCCC call (from an HVC #0 or a trapped SMC #0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmcccCall {
    /// SMCCC_VERSION.
    Version,
    /// SMCCC_ARCH_FEATURES(fid).
    ArchFeatures { fid: u32 },
    /// SMCCC_ARCH_SOC_ID(soc_id_type).
    ArchSocId { soc_id_type: u32 },
    /// SMCCC_ARCH_WORKAROUND_1.
    ArchWorkaround1,
    /// SMCCC_ARCH_WORKAROUND_2(enable).
    ArchWorkaround2 { enable: bool },
    /// SMCCC_ARCH_WORKAROUND_3.
    ArchWorkaround3,
    /// Standard service call count.
    StandardCallCount,
    /// Standard service call UID.
    StandardCallUid,
    /// Standard service revision.
    StandardRevision,
    /// Hypervisor service call count (owner 5, where Xen answers).
    HypCallCount,
    /// Hypervisor service call UID (Xen answers [`XEN_SMCCC_UID`]).
    HypCallUid,
    /// Hypervisor service revision.
    HypRevision,
    /// A PSCI call.
    Psci(PsciCall),
    /// Anything else (answer [`SMCCC_RET_NOT_SUPPORTED`]); also SMC64 ids from a 32-bit caller.
    Unknown(u32),
}

/// Whether a function id uses the SMC64/HVC64 convention.
pub const fn is_smc64(fid: u32) -> bool {
    fid & SMCCC_64 != 0
}

/// Owning entity number of a function id.
pub const fn owner(fid: u32) -> u32 {
    (fid >> SMCCC_OWNER_SHIFT) & SMCCC_OWNER_MASK
}

/// Decodes a call from x0..x3. The function id is W0 (upper 32 bits of x0 ignored, DEN0028
/// §2.5). A 64-bit function id from a 32-bit caller is [`SmcccCall::Unknown`]. Arguments of a
/// 32-bit function id are truncated to 32 bits (DEN0028: SMC32 uses W1..W7).
pub const fn decode_smccc(regs: [u64; 4], is_64bit_caller: bool) -> SmcccCall {
    let fid = regs[0] as u32;
    if is_smc64(fid) && !is_64bit_caller {
        return SmcccCall::Unknown(fid);
    }
    let mask = if is_smc64(fid) {
        u64::MAX
    } else {
        u32::MAX as u64
    };
    let (a1, a2, a3) = (regs[1] & mask, regs[2] & mask, regs[3] & mask);
    match fid {
        SMCCC_VERSION => SmcccCall::Version,
        SMCCC_ARCH_FEATURES => SmcccCall::ArchFeatures { fid: a1 as u32 },
        SMCCC_ARCH_SOC_ID => SmcccCall::ArchSocId {
            soc_id_type: a1 as u32,
        },
        SMCCC_ARCH_WORKAROUND_1 => SmcccCall::ArchWorkaround1,
        SMCCC_ARCH_WORKAROUND_2 => SmcccCall::ArchWorkaround2 { enable: a1 != 0 },
        SMCCC_ARCH_WORKAROUND_3 => SmcccCall::ArchWorkaround3,
        ARM_SMCCC_STANDARD_CALL_COUNT => SmcccCall::StandardCallCount,
        ARM_SMCCC_STANDARD_CALL_UID => SmcccCall::StandardCallUid,
        ARM_SMCCC_STANDARD_REVISION => SmcccCall::StandardRevision,
        ARM_SMCCC_HYP_CALL_COUNT => SmcccCall::HypCallCount,
        ARM_SMCCC_HYP_CALL_UID => SmcccCall::HypCallUid,
        ARM_SMCCC_HYP_REVISION => SmcccCall::HypRevision,
        _ => match decode_psci(fid, a1, a2, a3) {
            Some(p) => SmcccCall::Psci(p),
            None => SmcccCall::Unknown(fid),
        },
    }
}

/// Decodes a PSCI function id with its (already width-truncated) arguments.
const fn decode_psci(fid: u32, a1: u64, a2: u64, a3: u64) -> Option<PsciCall> {
    Some(match fid {
        PSCI_VERSION => PsciCall::Version,
        PSCI_CPU_SUSPEND_32 | PSCI_CPU_SUSPEND_64 => PsciCall::CpuSuspend {
            power_state: a1,
            entry: a2,
            context: a3,
        },
        PSCI_CPU_OFF => PsciCall::CpuOff,
        PSCI_CPU_ON_32 | PSCI_CPU_ON_64 => PsciCall::CpuOn {
            target_mpidr: a1,
            entry: a2,
            context: a3,
        },
        PSCI_AFFINITY_INFO_32 | PSCI_AFFINITY_INFO_64 => PsciCall::AffinityInfo {
            target: a1,
            lowest_level: a2,
        },
        PSCI_MIGRATE_32 | PSCI_MIGRATE_64 => PsciCall::Migrate { target_mpidr: a1 },
        PSCI_MIGRATE_INFO_TYPE => PsciCall::MigrateInfoType,
        PSCI_MIGRATE_INFO_UP_CPU_32 | PSCI_MIGRATE_INFO_UP_CPU_64 => PsciCall::MigrateInfoUpCpu,
        PSCI_SYSTEM_OFF => PsciCall::SystemOff,
        PSCI_SYSTEM_RESET => PsciCall::SystemReset,
        PSCI_SYSTEM_RESET2_32 | PSCI_SYSTEM_RESET2_64 => PsciCall::SystemReset2 {
            reset_type: a1,
            cookie: a2,
        },
        PSCI_FEATURES => PsciCall::Features { fid: a1 as u32 },
        PSCI_CPU_FREEZE => PsciCall::CpuFreeze,
        PSCI_CPU_DEFAULT_SUSPEND_32 | PSCI_CPU_DEFAULT_SUSPEND_64 => PsciCall::CpuDefaultSuspend {
            entry: a1,
            context: a2,
        },
        PSCI_NODE_HW_STATE_32 | PSCI_NODE_HW_STATE_64 => PsciCall::NodeHwState {
            target_mpidr: a1,
            power_level: a2,
        },
        PSCI_SYSTEM_SUSPEND_32 | PSCI_SYSTEM_SUSPEND_64 => PsciCall::SystemSuspend {
            entry: a1,
            context: a2,
        },
        PSCI_SET_SUSPEND_MODE => PsciCall::SetSuspendMode { mode: a1 },
        PSCI_STAT_RESIDENCY_32 | PSCI_STAT_RESIDENCY_64 => PsciCall::StatResidency {
            target_mpidr: a1,
            power_state: a2,
        },
        PSCI_STAT_COUNT_32 | PSCI_STAT_COUNT_64 => PsciCall::StatCount {
            target_mpidr: a1,
            power_state: a2,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xen_uid_registers() {
        // Bytes a7 18 12 dc | c6 98 43 69 | 9a cf 79 d1 | 8d de e6 67, first byte lowest.
        assert_eq!(
            XEN_SMCCC_UID,
            [0xdc12_18a7, 0x6943_98c6, 0xd179_cf9a, 0x67e6_de8d]
        );
    }

    #[test]
    fn id_layout() {
        assert_eq!(owner(PSCI_CPU_ON_64), SMCCC_OWNER_STANDARD);
        assert_eq!(owner(ARM_SMCCC_VENDOR_HYP_CALL_UID), SMCCC_OWNER_VENDOR_HYP);
        assert_eq!(owner(SMCCC_ARCH_WORKAROUND_1), SMCCC_OWNER_ARCH);
        assert!(is_smc64(PSCI_CPU_ON_64) && !is_smc64(PSCI_CPU_ON_32));
        assert_eq!(PSCI_CPU_ON_64, PSCI_CPU_ON_32 | SMCCC_64);
        assert_eq!(ret(PSCI_NOT_SUPPORTED), u64::MAX);
        assert_eq!(ret(PSCI_INVALID_ADDRESS), 0xffff_ffff_ffff_fff7);
        assert_eq!(ret(PSCI_SUCCESS), 0);
    }

    #[test]
    fn arch_calls() {
        assert_eq!(
            decode_smccc([0x8000_0000, 0, 0, 0], true),
            SmcccCall::Version
        );
        // Upper half of x0 is ignored.
        assert_eq!(
            decode_smccc([0xdead_beef_8000_0000, 0, 0, 0], true),
            SmcccCall::Version
        );
        assert_eq!(
            decode_smccc([0x8000_0001, 0xffff_ffff_8000_8000, 0, 0], true),
            SmcccCall::ArchFeatures { fid: 0x8000_8000 }
        );
        assert_eq!(
            decode_smccc([0x8000_8000, 0, 0, 0], true),
            SmcccCall::ArchWorkaround1
        );
        assert_eq!(
            decode_smccc([0x8000_7fff, 1, 0, 0], false),
            SmcccCall::ArchWorkaround2 { enable: true }
        );
        // 32-bit convention: x1 = 1 << 32 truncates to 0.
        assert_eq!(
            decode_smccc([0x8000_7fff, 1 << 32, 0, 0], true),
            SmcccCall::ArchWorkaround2 { enable: false }
        );
        assert_eq!(
            decode_smccc([0x8000_3fff, 0, 0, 0], true),
            SmcccCall::ArchWorkaround3
        );
        // Xen's UID lives in the standard hypervisor service (owner 5), as real Xen 4.17
        // answers on QEMU; the vendor-hypervisor range (owner 6, KVM's) is not Xen's.
        assert_eq!(
            decode_smccc([0x8500_ff01, 0, 0, 0], true),
            SmcccCall::HypCallUid
        );
        assert_eq!(
            decode_smccc([0x8500_ff00, 0, 0, 0], true),
            SmcccCall::HypCallCount
        );
        assert_eq!(
            decode_smccc([0x8500_ff03, 0, 0, 0], true),
            SmcccCall::HypRevision
        );
        assert_eq!(
            decode_smccc([0x8600_ff01, 0, 0, 0], true),
            SmcccCall::Unknown(0x8600_ff01)
        );
        assert_eq!(
            decode_smccc([0x8400_ff01, 0, 0, 0], true),
            SmcccCall::StandardCallUid
        );
        assert_eq!(
            decode_smccc([0x8200_0000, 0, 0, 0], true),
            SmcccCall::Unknown(0x8200_0000)
        );
        // A PSCI-range number that PSCI does not define.
        assert_eq!(
            decode_smccc([0x8400_001f, 0, 0, 0], true),
            SmcccCall::Unknown(0x8400_001f)
        );
    }

    #[test]
    fn psci_calls() {
        use PsciCall::*;
        let d = |r: [u64; 4]| decode_smccc(r, true);
        assert_eq!(d([0x8400_0000, 0, 0, 0]), SmcccCall::Psci(Version));
        assert_eq!(d([0x8400_0002, 0, 0, 0]), SmcccCall::Psci(CpuOff));
        assert_eq!(
            d([0xc400_0003, 0x8000_0101, 0x4008_0000, 0x1_2345_6789]),
            SmcccCall::Psci(CpuOn {
                target_mpidr: 0x8000_0101,
                entry: 0x4008_0000,
                context: 0x1_2345_6789
            })
        );
        // SMC32 CPU_ON from a 64-bit caller: arguments truncated to 32 bits.
        assert_eq!(
            d([0x8400_0003, 0xffff_0000_0000_0001, 0x1_4008_0000, u64::MAX]),
            SmcccCall::Psci(CpuOn {
                target_mpidr: 1,
                entry: 0x4008_0000,
                context: 0xffff_ffff
            })
        );
        assert_eq!(
            d([0xc400_0004, 0x100, 1, 0]),
            SmcccCall::Psci(AffinityInfo {
                target: 0x100,
                lowest_level: 1
            })
        );
        assert_eq!(
            d([0xc400_0001, 0x1_0000, 0x4000_0000, 7]),
            SmcccCall::Psci(CpuSuspend {
                power_state: 0x1_0000,
                entry: 0x4000_0000,
                context: 7
            })
        );
        assert_eq!(d([0x8400_0006, 0, 0, 0]), SmcccCall::Psci(MigrateInfoType));
        assert_eq!(d([0x8400_0008, 0, 0, 0]), SmcccCall::Psci(SystemOff));
        assert_eq!(d([0x8400_0009, 0, 0, 0]), SmcccCall::Psci(SystemReset));
        assert_eq!(
            d([0x8400_000a, 0xc400_0003, 0, 0]),
            SmcccCall::Psci(Features { fid: 0xc400_0003 })
        );
        assert_eq!(
            d([0xc400_000e, 0x4000_0000, 9, 0]),
            SmcccCall::Psci(SystemSuspend {
                entry: 0x4000_0000,
                context: 9
            })
        );
        assert_eq!(
            d([0xc400_0012, 0x8000_0000, 5, 0]),
            SmcccCall::Psci(SystemReset2 {
                reset_type: 0x8000_0000,
                cookie: 5
            })
        );
    }

    #[test]
    fn smc64_from_32bit_caller_is_unknown() {
        assert_eq!(
            decode_smccc([0xc400_0003, 1, 2, 3], false),
            SmcccCall::Unknown(0xc400_0003)
        );
        assert_eq!(
            decode_smccc([0x8400_0003, 1, 2, 3], false),
            SmcccCall::Psci(PsciCall::CpuOn {
                target_mpidr: 1,
                entry: 2,
                context: 3
            })
        );
    }
}
