//! Hypercall numbers (`xen/include/public/xen.h`) and the ARM `HVC` immediate
//! (`xen/include/public/arch-arm.h`).
//!
//! On ARM a hypercall is `HVC #XEN_HYPERCALL_TAG` with the number in x16 (r12 for AArch32) and
//! arguments in x0-x4 (r0-r4); the result comes back in x0.

/// `HVC` immediate of a Xen hypercall (arch-arm.h).
pub const XEN_HYPERCALL_TAG: u16 = 0xEA1;

macro_rules! hypercalls {
    ($($name:ident = $val:expr;)*) => {
        $( #[doc = concat!("`", stringify!($name), "` (xen.h).")] pub const $name: u64 = $val; )*
        /// Every hypercall number xen.h defines, with its name (for logs and coverage tables).
        pub const ALL: &[(u64, &str)] = &[$(($val, stringify!($name))),*];
    };
}

hypercalls! {
    __HYPERVISOR_set_trap_table = 0;
    __HYPERVISOR_mmu_update = 1;
    __HYPERVISOR_set_gdt = 2;
    __HYPERVISOR_stack_switch = 3;
    __HYPERVISOR_set_callbacks = 4;
    __HYPERVISOR_fpu_taskswitch = 5;
    __HYPERVISOR_sched_op_compat = 6;
    __HYPERVISOR_platform_op = 7;
    __HYPERVISOR_set_debugreg = 8;
    __HYPERVISOR_get_debugreg = 9;
    __HYPERVISOR_update_descriptor = 10;
    __HYPERVISOR_memory_op = 12;
    __HYPERVISOR_multicall = 13;
    __HYPERVISOR_update_va_mapping = 14;
    __HYPERVISOR_set_timer_op = 15;
    __HYPERVISOR_event_channel_op_compat = 16;
    __HYPERVISOR_xen_version = 17;
    __HYPERVISOR_console_io = 18;
    __HYPERVISOR_physdev_op_compat = 19;
    __HYPERVISOR_grant_table_op = 20;
    __HYPERVISOR_vm_assist = 21;
    __HYPERVISOR_update_va_mapping_otherdomain = 22;
    __HYPERVISOR_iret = 23;
    __HYPERVISOR_vcpu_op = 24;
    __HYPERVISOR_set_segment_base = 25;
    __HYPERVISOR_mmuext_op = 26;
    __HYPERVISOR_xsm_op = 27;
    __HYPERVISOR_nmi_op = 28;
    __HYPERVISOR_sched_op = 29;
    __HYPERVISOR_callback_op = 30;
    __HYPERVISOR_xenoprof_op = 31;
    __HYPERVISOR_event_channel_op = 32;
    __HYPERVISOR_physdev_op = 33;
    __HYPERVISOR_hvm_op = 34;
    __HYPERVISOR_sysctl = 35;
    __HYPERVISOR_domctl = 36;
    __HYPERVISOR_kexec_op = 37;
    __HYPERVISOR_tmem_op = 38;
    __HYPERVISOR_argo_op = 39;
    __HYPERVISOR_xenpmu_op = 40;
    __HYPERVISOR_dm_op = 41;
    __HYPERVISOR_hypfs_op = 42;
    __HYPERVISOR_arch_0 = 48;
    __HYPERVISOR_arch_1 = 49;
    __HYPERVISOR_arch_2 = 50;
    __HYPERVISOR_arch_3 = 51;
    __HYPERVISOR_arch_4 = 52;
    __HYPERVISOR_arch_5 = 53;
    __HYPERVISOR_arch_6 = 54;
    __HYPERVISOR_arch_7 = 55;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_unique_and_known() {
        for (i, (a, _)) in ALL.iter().enumerate() {
            for (b, _) in &ALL[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(__HYPERVISOR_event_channel_op, 32);
        assert_eq!(__HYPERVISOR_hypfs_op, 42);
        assert_eq!(XEN_HYPERCALL_TAG, 0xea1);
    }
}
