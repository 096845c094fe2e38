//! Scheduler operations of `xen/include/public/sched.h` (`HYPERVISOR_sched_op(cmd, arg)`).

use crate::arch_arm::GuestHandle;
use crate::xen::domid_t;

/// `SCHEDOP_yield` (sched.h).
pub const SCHEDOP_yield: u32 = 0;
/// `SCHEDOP_block` (sched.h).
pub const SCHEDOP_block: u32 = 1;
/// `SCHEDOP_shutdown` (sched.h).
pub const SCHEDOP_shutdown: u32 = 2;
/// `SCHEDOP_poll` (sched.h).
pub const SCHEDOP_poll: u32 = 3;
/// `SCHEDOP_remote_shutdown` (sched.h).
pub const SCHEDOP_remote_shutdown: u32 = 4;
/// `SCHEDOP_shutdown_code` (sched.h).
pub const SCHEDOP_shutdown_code: u32 = 5;
/// `SCHEDOP_watchdog` (sched.h).
pub const SCHEDOP_watchdog: u32 = 6;
/// `SCHEDOP_pin_override` (sched.h).
pub const SCHEDOP_pin_override: u32 = 7;

/// `SHUTDOWN_poweroff` (sched.h).
pub const SHUTDOWN_poweroff: u32 = 0;
/// `SHUTDOWN_reboot` (sched.h).
pub const SHUTDOWN_reboot: u32 = 1;
/// `SHUTDOWN_suspend` (sched.h).
pub const SHUTDOWN_suspend: u32 = 2;
/// `SHUTDOWN_crash` (sched.h).
pub const SHUTDOWN_crash: u32 = 3;
/// `SHUTDOWN_watchdog` (sched.h).
pub const SHUTDOWN_watchdog: u32 = 4;
/// `SHUTDOWN_soft_reset` (sched.h).
pub const SHUTDOWN_soft_reset: u32 = 5;
/// `SHUTDOWN_MAX`: largest valid reason (sched.h).
pub const SHUTDOWN_MAX: u32 = 5;

abi! {
    /// `struct sched_shutdown` (sched.h).
    pub struct sched_shutdown {
        /// `SHUTDOWN_*`.
        pub reason: u32,
    }
}
layout!(layout_sched_shutdown, sched_shutdown, 4, reason @ 0);

abi! {
    /// `struct sched_poll` (sched.h).
    pub struct sched_poll {
        /// `XEN_GUEST_HANDLE(evtchn_port_t)`.
        pub ports: GuestHandle,
        pub nr_ports: u32,
        pub _pad0: u32,
        pub timeout: u64,
    }
}
layout!(layout_sched_poll, sched_poll, 24, ports @ 0, nr_ports @ 8, timeout @ 16);

abi! {
    /// `struct sched_remote_shutdown` (sched.h).
    pub struct sched_remote_shutdown {
        pub domain_id: domid_t,
        pub _pad0: u16,
        /// `SHUTDOWN_*`.
        pub reason: u32,
    }
}
layout!(layout_sched_remote_shutdown, sched_remote_shutdown, 8, domain_id @ 0, reason @ 4);

abi! {
    /// `struct sched_watchdog` (sched.h).
    pub struct sched_watchdog {
        pub id: u32,
        pub timeout: u32,
    }
}
layout!(layout_sched_watchdog, sched_watchdog, 8, id @ 0, timeout @ 4);

abi! {
    /// `struct sched_pin_override` (sched.h).
    pub struct sched_pin_override {
        pub pcpu: i32,
    }
}
layout!(layout_sched_pin_override, sched_pin_override, 4, pcpu @ 0);
