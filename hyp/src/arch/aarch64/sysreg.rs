//! System registers by architectural name.
//!
//! Xenith uses `aarch64-cpu`'s typed registers where a field is decoded; this module covers
//! whole-register moves (context switching saves and restores many registers wholesale) and the
//! registers that crate lacks (ICC_*, CNTHP_*, VPIDR_EL2, ZCR_EL2...). The register is always
//! named, never a hex encoding, except the GICv3 ICC registers that assemblers only know by their
//! S3_<op1>_C<n>_C<m>_<op2> spelling, which are given names below.

/// Reads a system register by name: `read!(sctlr_el1)`.
macro_rules! read {
    ($reg:tt) => {{
        let v: u64;
        // SAFETY: reading a system register has no memory effects; every register named through
        // this macro exists on ARMv8.0 at EL2 (or is guarded by a feature check at the call site).
        unsafe { core::arch::asm!(concat!("mrs {}, ", stringify!($reg)), out(reg) v, options(nomem, nostack)) };
        v
    }};
}

/// Writes a system register by name: `write!(vttbr_el2, v)`.
macro_rules! write {
    ($reg:tt, $val:expr) => {{
        let v: u64 = $val;
        // SAFETY: the callers write EL1 guest state or EL2 configuration this module documents;
        // none of them changes the EL2 translation of Xenith's own memory.
        unsafe { core::arch::asm!(concat!("msr ", stringify!($reg), ", {}"), in(reg) v, options(nostack)) };
    }};
}

pub(crate) use read;
pub(crate) use write;

/// Instruction synchronization barrier.
pub fn isb() {
    // SAFETY: a barrier has no memory effects beyond ordering.
    unsafe { core::arch::asm!("isb", options(nostack)) };
}

/// Data synchronization barrier, full system.
pub fn dsb_sy() {
    // SAFETY: a barrier.
    unsafe { core::arch::asm!("dsb sy", options(nostack)) };
}

/// GICv3 CPU-interface registers, by their architectural names (GIC spec 12.2).
pub mod icc {
    macro_rules! icc_reg {
        ($name:ident, $enc:literal) => {
            #[allow(dead_code)]
            pub mod $name {
                /// Reads the register.
                #[inline(always)]
                pub fn read() -> u64 {
                    let v: u64;
                    // SAFETY: GICv3 CPU-interface register; only called when the GIC is v3 and
                    // ICC_SRE_EL2.SRE = 1, so the access is defined.
                    unsafe { core::arch::asm!(concat!("mrs {}, ", $enc), out(reg) v, options(nomem, nostack)) };
                    v
                }
                /// Writes the register.
                #[inline(always)]
                pub fn write(v: u64) {
                    // SAFETY: as for `read`.
                    unsafe { core::arch::asm!(concat!("msr ", $enc, ", {}"), in(reg) v, options(nostack)) };
                }
            }
        };
    }
    icc_reg!(icc_iar1_el1, "s3_0_c12_c12_0");
    icc_reg!(icc_eoir1_el1, "s3_0_c12_c12_1");
    icc_reg!(icc_dir_el1, "s3_0_c12_c11_1");
    icc_reg!(icc_pmr_el1, "s3_0_c4_c6_0");
    icc_reg!(icc_bpr1_el1, "s3_0_c12_c12_3");
    icc_reg!(icc_ctlr_el1, "s3_0_c12_c12_4");
    icc_reg!(icc_sre_el2, "s3_4_c12_c9_5");
    icc_reg!(icc_igrpen1_el1, "s3_0_c12_c12_7");
    icc_reg!(icc_sgi1r_el1, "s3_0_c12_c11_5");
    icc_reg!(ich_hcr_el2, "s3_4_c12_c11_0");
    icc_reg!(ich_vtr_el2, "s3_4_c12_c11_1");
    icc_reg!(ich_misr_el2, "s3_4_c12_c11_2");
    icc_reg!(ich_vmcr_el2, "s3_4_c12_c11_7");
    icc_reg!(ich_ap0r0_el2, "s3_4_c12_c8_0");
    icc_reg!(ich_ap1r0_el2, "s3_4_c12_c9_0");
    icc_reg!(ich_lr0_el2, "s3_4_c12_c12_0");
    icc_reg!(ich_lr1_el2, "s3_4_c12_c12_1");
    icc_reg!(ich_lr2_el2, "s3_4_c12_c12_2");
    icc_reg!(ich_lr3_el2, "s3_4_c12_c12_3");
    icc_reg!(ich_lr4_el2, "s3_4_c12_c12_4");
    icc_reg!(ich_lr5_el2, "s3_4_c12_c12_5");
    icc_reg!(ich_lr6_el2, "s3_4_c12_c12_6");
    icc_reg!(ich_lr7_el2, "s3_4_c12_c12_7");
    icc_reg!(ich_lr8_el2, "s3_4_c12_c13_0");
    icc_reg!(ich_lr9_el2, "s3_4_c12_c13_1");
    icc_reg!(ich_lr10_el2, "s3_4_c12_c13_2");
    icc_reg!(ich_lr11_el2, "s3_4_c12_c13_3");
    icc_reg!(ich_lr12_el2, "s3_4_c12_c13_4");
    icc_reg!(ich_lr13_el2, "s3_4_c12_c13_5");
    icc_reg!(ich_lr14_el2, "s3_4_c12_c13_6");
    icc_reg!(ich_lr15_el2, "s3_4_c12_c13_7");

    /// Reads ICH_LR<n>_EL2.
    pub fn read_lr(n: usize) -> u64 {
        match n {
            0 => ich_lr0_el2::read(),
            1 => ich_lr1_el2::read(),
            2 => ich_lr2_el2::read(),
            3 => ich_lr3_el2::read(),
            4 => ich_lr4_el2::read(),
            5 => ich_lr5_el2::read(),
            6 => ich_lr6_el2::read(),
            7 => ich_lr7_el2::read(),
            8 => ich_lr8_el2::read(),
            9 => ich_lr9_el2::read(),
            10 => ich_lr10_el2::read(),
            11 => ich_lr11_el2::read(),
            12 => ich_lr12_el2::read(),
            13 => ich_lr13_el2::read(),
            14 => ich_lr14_el2::read(),
            _ => ich_lr15_el2::read(),
        }
    }

    /// Writes ICH_LR<n>_EL2.
    pub fn write_lr(n: usize, v: u64) {
        match n {
            0 => ich_lr0_el2::write(v),
            1 => ich_lr1_el2::write(v),
            2 => ich_lr2_el2::write(v),
            3 => ich_lr3_el2::write(v),
            4 => ich_lr4_el2::write(v),
            5 => ich_lr5_el2::write(v),
            6 => ich_lr6_el2::write(v),
            7 => ich_lr7_el2::write(v),
            8 => ich_lr8_el2::write(v),
            9 => ich_lr9_el2::write(v),
            10 => ich_lr10_el2::write(v),
            11 => ich_lr11_el2::write(v),
            12 => ich_lr12_el2::write(v),
            13 => ich_lr13_el2::write(v),
            14 => ich_lr14_el2::write(v),
            _ => ich_lr15_el2::write(v),
        }
    }
}
