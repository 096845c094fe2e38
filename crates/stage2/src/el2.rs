//! EL2's own stage-1 translation (the hypervisor's identity map): descriptor, MAIR_EL2 and
//! TCR_EL2 helpers (Arm ARM D8.3 stage-1 descriptors, D8.4 memory attributes and permissions,
//! D13.2.97 MAIR_EL2, D13.2.131 TCR_EL2 with HCR_EL2.E2H = 0).
//!
//! In the EL2 regime (one Exception level) AP\[1\] is RES1 and bit 54 is XN; Xen sets the same
//! bits in `mfn_to_xen_entry()`.

use addr::{Pa, Va};

/// Descriptor bit 0: valid.
pub const PTE_VALID: u64 = 1 << 0;
/// Descriptor bit 1: table (levels 0-2) or page (level 3).
pub const PTE_TABLE: u64 = 1 << 1;
/// AttrIndx\[2:0\], bits \[4:2\]: index into MAIR_EL2.
pub const PTE_ATTRINDX_SHIFT: u32 = 2;
/// AP\[1\], bit 6: RES1 in the EL2 regime.
pub const PTE_AP1: u64 = 1 << 6;
/// AP\[2\], bit 7: read-only.
pub const PTE_AP2_RO: u64 = 1 << 7;
/// SH\[1:0\], bits \[9:8\].
pub const PTE_SH_SHIFT: u32 = 8;
/// Inner Shareable.
pub const SH_INNER: u64 = 0b11;
/// Access flag, bit 10.
pub const PTE_AF: u64 = 1 << 10;
/// XN, bit 54 (execute never at EL2).
pub const PTE_XN: u64 = 1 << 54;
/// Output address of a level-1 block: bits \[47:30\].
pub const L1_BLOCK_OA_MASK: u64 = 0x0000_ffff_c000_0000;
/// Output address of a level-2 block: bits \[47:21\].
pub const L2_BLOCK_OA_MASK: u64 = 0x0000_ffff_ffe0_0000;
/// Output address of a page or table descriptor: bits \[47:12\].
pub const OA_MASK: u64 = 0x0000_ffff_ffff_f000;

/// MAIR attribute: Device-nGnRnE.
pub const MAIR_ATTR_DEVICE_NGNRNE: u64 = 0x00;
/// MAIR attribute: Normal, Inner/Outer Write-Back Non-transient, Read-Allocate, Write-Allocate.
pub const MAIR_ATTR_NORMAL_WB: u64 = 0xff;
/// MAIR attribute: Normal, Inner/Outer Non-cacheable.
pub const MAIR_ATTR_NORMAL_NC: u64 = 0x44;
/// MAIR attribute: Device-nGnRE.
pub const MAIR_ATTR_DEVICE_NGNRE: u64 = 0x04;
/// AttrIndx of Device-nGnRnE in [`mair_el2`].
pub const MT_DEVICE_NGNRNE: u8 = 0;
/// AttrIndx of Normal Write-Back in [`mair_el2`].
pub const MT_NORMAL: u8 = 1;
/// AttrIndx of Normal Non-cacheable in [`mair_el2`].
pub const MT_NORMAL_NC: u8 = 2;
/// AttrIndx of Device-nGnRE in [`mair_el2`].
pub const MT_DEVICE_NGNRE: u8 = 3;

/// MAIR_EL2: Attr0 Device-nGnRnE, Attr1 Normal WB RA WA, Attr2 Normal NC, Attr3 Device-nGnRE.
pub const fn mair_el2() -> u64 {
    (MAIR_ATTR_DEVICE_NGNRNE << (8 * MT_DEVICE_NGNRNE as u32))
        | (MAIR_ATTR_NORMAL_WB << (8 * MT_NORMAL as u32))
        | (MAIR_ATTR_NORMAL_NC << (8 * MT_NORMAL_NC as u32))
        | (MAIR_ATTR_DEVICE_NGNRE << (8 * MT_DEVICE_NGNRE as u32))
}

/// TCR_EL2.T0SZ, bits \[5:0\].
pub const TCR_T0SZ_MASK: u64 = 0x3f;
/// TCR_EL2.IRGN0, bits \[9:8\] (0b01 WBWA).
pub const TCR_IRGN0_SHIFT: u32 = 8;
/// TCR_EL2.ORGN0, bits \[11:10\] (0b01 WBWA).
pub const TCR_ORGN0_SHIFT: u32 = 10;
/// TCR_EL2.SH0, bits \[13:12\] (0b11 Inner Shareable).
pub const TCR_SH0_SHIFT: u32 = 12;
/// TCR_EL2.TG0, bits \[15:14\] (0b00 4 KiB).
pub const TCR_TG0_SHIFT: u32 = 14;
/// TCR_EL2.PS, bits \[18:16\].
pub const TCR_PS_SHIFT: u32 = 16;
/// TCR_EL2 RES1 bits (E2H = 0): 31 and 23.
pub const TCR_EL2_RES1: u64 = (1 << 31) | (1 << 23);

/// TCR_EL2 for a 4 KiB-granule, WBWA, Inner Shareable walk with the given T0SZ (masked to 6
/// bits; a walk starting at level 1 needs 25..=33, i.e. a VA of 39..31 bits) and
/// PS = min(`pa_range`, 48 bits).
pub const fn tcr_el2(pa_range: u8, t0sz: u8) -> u64 {
    let ps = if pa_range > crate::PARANGE_48 {
        crate::PARANGE_48
    } else {
        pa_range
    };
    (t0sz as u64 & TCR_T0SZ_MASK)
        | (0b01 << TCR_IRGN0_SHIFT)
        | (0b01 << TCR_ORGN0_SHIFT)
        | (0b11 << TCR_SH0_SHIFT)
        | (0b00 << TCR_TG0_SHIFT)
        | ((ps as u64) << TCR_PS_SHIFT)
        | TCR_EL2_RES1
}

const fn leaf_bits(attr_index: u8, device: bool) -> u64 {
    let mut d = PTE_VALID | PTE_AF | PTE_AP1 | (((attr_index & 0x7) as u64) << PTE_ATTRINDX_SHIFT);
    if device {
        d |= PTE_XN;
    } else {
        d |= SH_INNER << PTE_SH_SHIFT;
    }
    d
}

/// A level-1 1 GiB block, read-write. `pa` must be 1 GiB aligned (low bits are dropped).
/// Normal memory gets Inner Shareable; `device` memory gets XN.
pub const fn block_descriptor_l1(pa: Pa, attr_index: u8, device: bool) -> u64 {
    (pa.0 & L1_BLOCK_OA_MASK) | leaf_bits(attr_index, device)
}

/// A level-2 2 MiB block, as [`block_descriptor_l1`]. `pa` must be 2 MiB aligned.
pub const fn block_descriptor_l2(pa: Pa, attr_index: u8, device: bool) -> u64 {
    (pa.0 & L2_BLOCK_OA_MASK) | leaf_bits(attr_index, device)
}

/// A level-3 4 KiB page, as [`block_descriptor_l1`].
pub const fn page_descriptor(pa: Pa, attr_index: u8, device: bool) -> u64 {
    (pa.0 & OA_MASK) | leaf_bits(attr_index, device) | PTE_TABLE
}

/// A table descriptor pointing at the next-level table at `pa`.
pub const fn table_descriptor(pa: Pa) -> u64 {
    (pa.0 & OA_MASK) | PTE_VALID | PTE_TABLE
}

/// Makes a leaf descriptor read-only (AP\[2\]).
pub const fn read_only(desc: u64) -> u64 {
    desc | PTE_AP2_RO
}

/// Index of `va` in a level-1 table (bits \[38:30\]).
pub const fn l1_index(va: Va) -> usize {
    ((va.0 >> 30) & 0x1ff) as usize
}

/// Index of `va` in a level-2 table (bits \[29:21\]).
pub const fn l2_index(va: Va) -> usize {
    ((va.0 >> 21) & 0x1ff) as usize
}

/// Index of `va` in a level-3 table (bits \[20:12\]).
pub const fn l3_index(va: Va) -> usize {
    ((va.0 >> 12) & 0x1ff) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mair() {
        // Attr3 0x04 | Attr2 0x44 | Attr1 0xff | Attr0 0x00.
        assert_eq!(mair_el2(), 0x0444_ff00);
    }

    #[test]
    fn tcr() {
        // T0SZ 25 (0x19) | IRGN0 0x100 | ORGN0 0x400 | SH0 0x3000 | PS 0b010 << 16 = 0x2_0000
        // | RES1 0x8000_0000 | 0x80_0000.
        assert_eq!(tcr_el2(2, 25), 0x8082_3519);
        // PS = 0b100 (44 bits) → 0x4_0000; T0SZ 16 (48-bit VA).
        assert_eq!(tcr_el2(4, 16), 0x8084_3510);
        // PARange 0b110 (52 bits) is capped to 48 bits (0b101 << 16 = 0x5_0000).
        assert_eq!(tcr_el2(6, 25), 0x8085_3519);
    }

    #[test]
    fn descriptors() {
        // Normal RAM at 1 GiB: OA 0x4000_0000 | AF 0x400 | SH inner 0x300 | AP[1] 0x40 |
        // AttrIndx 1 << 2 = 0x4 | valid 0x1.
        assert_eq!(
            block_descriptor_l1(Pa(0x4000_0000), MT_NORMAL, false),
            0x4000_0745
        );
        // Device at 0: XN (bit 54) | AF | AP[1] | AttrIndx 0 | valid.
        assert_eq!(
            block_descriptor_l1(Pa(0), MT_DEVICE_NGNRNE, true),
            0x0040_0000_0000_0441
        );
        // Unaligned bits are dropped.
        assert_eq!(
            block_descriptor_l1(Pa(0x4000_1000), MT_NORMAL, false),
            block_descriptor_l1(Pa(0x4000_0000), MT_NORMAL, false)
        );
        assert_eq!(
            block_descriptor_l2(Pa(0x4020_0000), MT_NORMAL, false),
            0x4020_0745
        );
        assert_eq!(
            page_descriptor(Pa(0x4020_1000), MT_NORMAL, false),
            0x4020_1747
        );
        assert_eq!(read_only(0x4020_1747), 0x4020_17c7);
        assert_eq!(table_descriptor(Pa(0x8000_3000)), 0x8000_3003);
        assert_eq!(l1_index(Va(0x80_0000_0000 + 0x4000_0000)), 1);
        assert_eq!(l2_index(Va(0x4060_0000)), 3);
        assert_eq!(l3_index(Va(0x4060_5000)), 5);
    }
}
