//! Core definitions of `xen/include/public/xen.h`: domain ids, VIRQs, `shared_info`,
//! `vcpu_info`, `vcpu_time_info`, `multicall_entry`, console and vm_assist commands.

pub use crate::arch_arm::{
    arch_shared_info, arch_vcpu_info, xen_pfn_t, xen_ulong_t, XEN_LEGACY_MAX_VCPUS,
};

/// `domid_t` (xen.h).
pub type domid_t = u16;

/// `DOMID_FIRST_RESERVED` (xen.h).
pub const DOMID_FIRST_RESERVED: domid_t = 0x7FF0;
/// `DOMID_SELF`: the calling domain (xen.h).
pub const DOMID_SELF: domid_t = 0x7FF0;
/// `DOMID_IO` (xen.h).
pub const DOMID_IO: domid_t = 0x7FF1;
/// `DOMID_XEN` (xen.h).
pub const DOMID_XEN: domid_t = 0x7FF2;
/// `DOMID_COW` (xen.h).
pub const DOMID_COW: domid_t = 0x7FF3;
/// `DOMID_INVALID` (xen.h).
pub const DOMID_INVALID: domid_t = 0x7FF4;
/// `DOMID_IDLE` (xen.h).
pub const DOMID_IDLE: domid_t = 0x7FFF;
/// `DOMID_MASK` (xen.h).
pub const DOMID_MASK: domid_t = 0x7FFF;

/// `VIRQ_TIMER`: per-vCPU, timebase update / timeout (xen.h).
pub const VIRQ_TIMER: u32 = 0;
/// `VIRQ_DEBUG`: per-vCPU, dump debug info (xen.h).
pub const VIRQ_DEBUG: u32 = 1;
/// `VIRQ_CONSOLE`: global, bytes on the emergency console (xen.h).
pub const VIRQ_CONSOLE: u32 = 2;
/// `VIRQ_DOM_EXC`: global, exceptional event for some domain (xen.h).
pub const VIRQ_DOM_EXC: u32 = 3;
/// `VIRQ_TBUF`: global, trace buffer records (xen.h).
pub const VIRQ_TBUF: u32 = 4;
/// `VIRQ_DEBUGGER`: global, a domain paused for debugging (xen.h).
pub const VIRQ_DEBUGGER: u32 = 6;
/// `VIRQ_XENOPROF`: per-vCPU, oprofile sample (xen.h).
pub const VIRQ_XENOPROF: u32 = 7;
/// `VIRQ_CON_RING`: global, bytes in the console ring (xen.h).
pub const VIRQ_CON_RING: u32 = 8;
/// `VIRQ_PCPU_STATE`: global, pCPU state changed (xen.h).
pub const VIRQ_PCPU_STATE: u32 = 9;
/// `VIRQ_MEM_EVENT`: global, memory event (xen.h).
pub const VIRQ_MEM_EVENT: u32 = 10;
/// `VIRQ_ARGO`: global, Argo notification (xen.h).
pub const VIRQ_ARGO: u32 = 11;
/// `VIRQ_ENOMEM`: global, low on heap memory (xen.h).
pub const VIRQ_ENOMEM: u32 = 12;
/// `VIRQ_XENPMU`: per-vCPU, PMC interrupt (xen.h).
pub const VIRQ_XENPMU: u32 = 13;
/// `VIRQ_ARCH_0`: architecture-specific, global unless the arch says otherwise (xen.h).
pub const VIRQ_ARCH_0: u32 = 16;
/// `VIRQ_ARCH_1` (xen.h).
pub const VIRQ_ARCH_1: u32 = 17;
/// `VIRQ_ARCH_2` (xen.h).
pub const VIRQ_ARCH_2: u32 = 18;
/// `VIRQ_ARCH_3` (xen.h).
pub const VIRQ_ARCH_3: u32 = 19;
/// `VIRQ_ARCH_4` (xen.h).
pub const VIRQ_ARCH_4: u32 = 20;
/// `VIRQ_ARCH_5` (xen.h).
pub const VIRQ_ARCH_5: u32 = 21;
/// `VIRQ_ARCH_6` (xen.h).
pub const VIRQ_ARCH_6: u32 = 22;
/// `VIRQ_ARCH_7` (xen.h).
pub const VIRQ_ARCH_7: u32 = 23;
/// `NR_VIRQS` (xen.h).
pub const NR_VIRQS: usize = 24;

/// `CONSOLEIO_write` (xen.h).
pub const CONSOLEIO_write: u32 = 0;
/// `CONSOLEIO_read` (xen.h).
pub const CONSOLEIO_read: u32 = 1;

/// `VMASST_CMD_enable` (xen.h).
pub const VMASST_CMD_enable: u32 = 0;
/// `VMASST_CMD_disable` (xen.h).
pub const VMASST_CMD_disable: u32 = 1;
/// `VMASST_TYPE_4gb_segments` (xen.h).
pub const VMASST_TYPE_4gb_segments: u32 = 0;
/// `VMASST_TYPE_4gb_segments_notify` (xen.h).
pub const VMASST_TYPE_4gb_segments_notify: u32 = 1;
/// `VMASST_TYPE_writable_pagetables` (xen.h).
pub const VMASST_TYPE_writable_pagetables: u32 = 2;
/// `VMASST_TYPE_pae_extended_cr3` (xen.h).
pub const VMASST_TYPE_pae_extended_cr3: u32 = 3;
/// `VMASST_TYPE_architectural_iopl` (xen.h).
pub const VMASST_TYPE_architectural_iopl: u32 = 4;
/// `VMASST_TYPE_runstate_update_flag`: the one vm_assist type ARM supports (xen.h).
pub const VMASST_TYPE_runstate_update_flag: u32 = 5;
/// `VMASST_TYPE_m2p_strict` (xen.h).
pub const VMASST_TYPE_m2p_strict: u32 = 32;

/// `XEN_PVCLOCK_TSC_STABLE_BIT` (xen.h).
pub const XEN_PVCLOCK_TSC_STABLE_BIT: u8 = 1 << 0;
/// `XEN_PVCLOCK_GUEST_STOPPED` (xen.h).
pub const XEN_PVCLOCK_GUEST_STOPPED: u8 = 1 << 1;

abi! {
    /// `struct multicall_entry` (xen.h).
    pub struct multicall_entry {
        /// Hypercall number.
        pub op: xen_ulong_t,
        /// OUT: the hypercall's return value.
        pub result: xen_ulong_t,
        /// Arguments.
        pub args: [xen_ulong_t; 6],
    }
}
layout!(layout_multicall_entry, multicall_entry, 64, op @ 0, result @ 8, args @ 16);

abi! {
    /// `struct vcpu_time_info` (xen.h): 32 bytes.
    pub struct vcpu_time_info {
        /// Odd while an update is in progress.
        pub version: u32,
        pub pad0: u32,
        /// Counter value at the last update.
        pub tsc_timestamp: u64,
        /// Nanoseconds since boot at the last update.
        pub system_time: u64,
        pub tsc_to_system_mul: u32,
        pub tsc_shift: i8,
        /// `XEN_PVCLOCK_*`.
        pub flags: u8,
        pub pad1: [u8; 2],
    }
}
layout!(layout_vcpu_time_info, vcpu_time_info, 32, version @ 0, tsc_timestamp @ 8,
    system_time @ 16, tsc_to_system_mul @ 24, tsc_shift @ 28, flags @ 29, pad1 @ 30);

abi! {
    /// `struct vcpu_info` (xen.h) as laid out on ARM: 48 bytes (not x86's 64), because
    /// `arch_vcpu_info` is empty.
    pub struct vcpu_info {
        /// Written non-zero by Xen when an event is pending for this vCPU.
        pub evtchn_upcall_pending: u8,
        /// Linux's name; Xen's ARM build calls this byte `pad0` (no `XEN_HAVE_PV_UPCALL_MASK`)
        /// and never reads it: ARM guests mask the event-channel PPI instead.
        pub evtchn_upcall_mask: u8,
        pub _pad0: [u8; 6],
        /// One bit per `xen_ulong_t` word of `shared_info.evtchn_pending`.
        pub evtchn_pending_sel: xen_ulong_t,
        pub arch: arch_vcpu_info,
        pub time: vcpu_time_info,
    }
}
layout!(layout_vcpu_info, vcpu_info, 48, evtchn_upcall_pending @ 0, evtchn_upcall_mask @ 1,
    evtchn_pending_sel @ 8, arch @ 16, time @ 16);

abi! {
    /// `struct shared_info` (xen.h) as laid out on ARM: 1088 bytes.
    pub struct shared_info {
        pub vcpu_info: [vcpu_info; XEN_LEGACY_MAX_VCPUS],
        /// 2-level pending bitmap: bit `p % 64` of word `p / 64` for port `p`.
        pub evtchn_pending: [xen_ulong_t; 64],
        /// 2-level mask bitmap, same indexing.
        pub evtchn_mask: [xen_ulong_t; 64],
        /// Wallclock version counter (see `vcpu_time_info.version`).
        pub wc_version: u32,
        pub wc_sec: u32,
        pub wc_nsec: u32,
        /// Upper 32 bits of the wallclock seconds (in `shared_info` itself on non-i386).
        pub wc_sec_hi: u32,
        pub arch: arch_shared_info,
    }
}
layout!(layout_shared_info, shared_info, 1088, vcpu_info @ 0, evtchn_pending @ 48,
    evtchn_mask @ 560, wc_version @ 1072, wc_sec @ 1076, wc_nsec @ 1080, wc_sec_hi @ 1084,
    arch @ 1088);

/// Byte offset of `evtchn_pending` in `shared_info`.
pub const SHARED_INFO_EVTCHN_PENDING_OFFSET: usize =
    core::mem::offset_of!(shared_info, evtchn_pending);
/// Byte offset of `evtchn_mask` in `shared_info`.
pub const SHARED_INFO_EVTCHN_MASK_OFFSET: usize = core::mem::offset_of!(shared_info, evtchn_mask);
/// Byte offset of `evtchn_pending_sel` in `vcpu_info`.
pub const VCPU_INFO_EVTCHN_PENDING_SEL_OFFSET: usize =
    core::mem::offset_of!(vcpu_info, evtchn_pending_sel);

abi! {
    /// `xen_uuid_t` (xen.h).
    pub struct xen_uuid_t {
        pub a: [u8; 16],
    }
}
layout!(layout_xen_uuid_t, xen_uuid_t, 16);

/// `xen_domain_handle_t` (xen.h).
pub type xen_domain_handle_t = [u8; 16];
