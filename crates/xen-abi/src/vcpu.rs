//! vCPU operations of `xen/include/public/vcpu.h` (`HYPERVISOR_vcpu_op(cmd, vcpuid, arg)`).

use crate::arch_arm::GuestHandle;

/// `VCPUOP_initialise` (vcpu.h).
pub const VCPUOP_initialise: u32 = 0;
/// `VCPUOP_up` (vcpu.h).
pub const VCPUOP_up: u32 = 1;
/// `VCPUOP_down` (vcpu.h).
pub const VCPUOP_down: u32 = 2;
/// `VCPUOP_is_up` (vcpu.h).
pub const VCPUOP_is_up: u32 = 3;
/// `VCPUOP_get_runstate_info` (vcpu.h).
pub const VCPUOP_get_runstate_info: u32 = 4;
/// `VCPUOP_register_runstate_memory_area` (vcpu.h).
pub const VCPUOP_register_runstate_memory_area: u32 = 5;
/// `VCPUOP_set_periodic_timer` (vcpu.h).
pub const VCPUOP_set_periodic_timer: u32 = 6;
/// `VCPUOP_stop_periodic_timer` (vcpu.h).
pub const VCPUOP_stop_periodic_timer: u32 = 7;
/// `VCPUOP_set_singleshot_timer` (vcpu.h).
pub const VCPUOP_set_singleshot_timer: u32 = 8;
/// `VCPUOP_stop_singleshot_timer` (vcpu.h).
pub const VCPUOP_stop_singleshot_timer: u32 = 9;
/// `VCPUOP_register_vcpu_info` (vcpu.h).
pub const VCPUOP_register_vcpu_info: u32 = 10;
/// `VCPUOP_send_nmi` (vcpu.h).
pub const VCPUOP_send_nmi: u32 = 11;
/// `VCPUOP_get_physid` (vcpu.h).
pub const VCPUOP_get_physid: u32 = 12;
/// `VCPUOP_register_vcpu_time_memory_area` (vcpu.h).
pub const VCPUOP_register_vcpu_time_memory_area: u32 = 13;

/// `RUNSTATE_running` (vcpu.h).
pub const RUNSTATE_running: i32 = 0;
/// `RUNSTATE_runnable` (vcpu.h).
pub const RUNSTATE_runnable: i32 = 1;
/// `RUNSTATE_blocked` (vcpu.h).
pub const RUNSTATE_blocked: i32 = 2;
/// `RUNSTATE_offline` (vcpu.h).
pub const RUNSTATE_offline: i32 = 3;
/// `XEN_RUNSTATE_UPDATE`: set in `state_entry_time` while updating (vcpu.h).
pub const XEN_RUNSTATE_UPDATE: u64 = 1 << 63;

/// `_VCPU_SSHOTTMR_future` (vcpu.h).
pub const _VCPU_SSHOTTMR_future: u32 = 0;
/// `VCPU_SSHOTTMR_future` (vcpu.h).
pub const VCPU_SSHOTTMR_future: u32 = 1 << _VCPU_SSHOTTMR_future;

abi! {
    /// `struct vcpu_runstate_info` (vcpu.h).
    pub struct vcpu_runstate_info {
        /// `RUNSTATE_*`.
        pub state: i32,
        pub _pad0: u32,
        pub state_entry_time: u64,
        /// Nanoseconds spent in each `RUNSTATE_*`.
        pub time: [u64; 4],
    }
}
layout!(layout_vcpu_runstate_info, vcpu_runstate_info, 48, state @ 0, state_entry_time @ 8,
    time @ 16);

abi! {
    /// `struct vcpu_register_runstate_memory_area` (vcpu.h): `addr` is the union of the handle,
    /// pointer and `uint64_t p`, a guest virtual address.
    pub struct vcpu_register_runstate_memory_area {
        pub addr: GuestHandle,
    }
}
layout!(layout_vcpu_register_runstate_memory_area, vcpu_register_runstate_memory_area, 8,
    addr @ 0);

abi! {
    /// `struct vcpu_set_periodic_timer` (vcpu.h).
    pub struct vcpu_set_periodic_timer {
        pub period_ns: u64,
    }
}
layout!(layout_vcpu_set_periodic_timer, vcpu_set_periodic_timer, 8, period_ns @ 0);

abi! {
    /// `struct vcpu_set_singleshot_timer` (vcpu.h).
    pub struct vcpu_set_singleshot_timer {
        pub timeout_abs_ns: u64,
        /// `VCPU_SSHOTTMR_*`.
        pub flags: u32,
        pub _pad0: u32,
    }
}
layout!(layout_vcpu_set_singleshot_timer, vcpu_set_singleshot_timer, 16, timeout_abs_ns @ 0,
    flags @ 8);

abi! {
    /// `struct vcpu_register_vcpu_info` (vcpu.h).
    pub struct vcpu_register_vcpu_info {
        /// Guest frame of the page holding the `vcpu_info`.
        pub mfn: u64,
        /// Offset of the `vcpu_info` in that page.
        pub offset: u32,
        pub rsvd: u32,
    }
}
layout!(layout_vcpu_register_vcpu_info, vcpu_register_vcpu_info, 16, mfn @ 0, offset @ 8,
    rsvd @ 12);

abi! {
    /// `struct vcpu_get_physid` (vcpu.h).
    pub struct vcpu_get_physid {
        pub phys_id: u64,
    }
}
layout!(layout_vcpu_get_physid, vcpu_get_physid, 8, phys_id @ 0);

abi! {
    /// `struct vcpu_register_time_memory_area` (vcpu.h).
    pub struct vcpu_register_time_memory_area {
        pub addr: GuestHandle,
    }
}
layout!(layout_vcpu_register_time_memory_area, vcpu_register_time_memory_area, 8, addr @ 0);
