//! Property tests over the whole input space of the decoders that see guest-controlled values:
//! any syndrome, fault address or SMCCC register set decodes without panicking, and decoded
//! values stay in their architectural ranges.

use arm_trap::smccc::{decode_smccc, SmcccCall};
use arm_trap::{decode, fault_ipa, instr_len, Trap};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn any_esr_decodes(esr in any::<u64>()) {
        match decode(esr) {
            Trap::DataAbortLower(da) => {
                if let Some(m) = da.mmio() {
                    prop_assert!(m.size_log2 <= 3);
                    prop_assert!(m.reg <= 31);
                    let v = m.extend_read_value(u64::MAX);
                    prop_assert!(m.sixty_four || v >> 32 == 0);
                    prop_assert!(m.mask_write_value(u64::MAX) <= m.value_mask());
                }
            }
            Trap::SysReg(s) => prop_assert!(s.rt <= 31),
            _ => {}
        }
        let len = instr_len(esr);
        prop_assert!(len == 2 || len == 4);
    }

    #[test]
    fn any_fault_address_decodes(hpfar in any::<u64>(), far in any::<u64>()) {
        let ipa = fault_ipa(hpfar, far);
        prop_assert_eq!(ipa.0 & 0xfff, far & 0xfff);
    }

    #[test]
    fn any_smccc_call_decodes(x0 in any::<u64>(), x1 in any::<u64>(), x2 in any::<u64>(),
                              x3 in any::<u64>(), aarch64 in any::<bool>()) {
        let call = decode_smccc([x0, x1, x2, x3], aarch64);
        // A 32-bit caller can never reach a 64-bit function.
        if !aarch64 && (x0 as u32) & 0x4000_0000 != 0 {
            prop_assert!(matches!(call, SmcccCall::Unknown(_)));
        }
    }
}
