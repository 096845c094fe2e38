//! Xen's guest interface as the `xen` test guest uses it: hypercall numbers, sub-ops, structs
//! and error numbers, typed in by hand from Xen 4.17's public headers (`xen/include/public/`:
//! `xen.h`, `arch-arm.h`, `arch-arm/smccc.h`, `version.h`, `features.h`, `memory.h`, `vcpu.h`,
//! `event_channel.h`, `sched.h`, `grant_table.h`, `hvm/hvm_op.h`, `hvm/params.h`, `errno.h`).
//!
//! Deliberately independent of the hypervisor's `crates/xen-abi`: the guest runs on Debian's real
//! Xen too, so a wrong constant shared by both sides shows up as a difference there. Names keep
//! Xen's spelling (so they grep to the header); structs are `#[repr(C)]` with the AArch64 layout
//! (`xen_ulong_t` and guest handles are 64-bit), their sizes checked below.
#![allow(non_upper_case_globals)]

use core::arch::asm;

/// `XEN_HYPERCALL_TAG` (arch-arm.h): the `HVC` immediate of a hypercall.
pub const XEN_HYPERCALL_TAG: u16 = 0xea1;

// Hypercall numbers (xen.h).
pub const __HYPERVISOR_memory_op: u64 = 12;
pub const __HYPERVISOR_xen_version: u64 = 17;
pub const __HYPERVISOR_console_io: u64 = 18;
pub const __HYPERVISOR_grant_table_op: u64 = 20;
pub const __HYPERVISOR_vcpu_op: u64 = 24;
pub const __HYPERVISOR_sched_op: u64 = 29;
pub const __HYPERVISOR_event_channel_op: u64 = 32;
pub const __HYPERVISOR_hvm_op: u64 = 34;
/// `__HYPERVISOR_arch_7` (xen.h): the last number of the table; 63 is past it, never defined.
pub const UNDEFINED_HYPERCALL: u64 = 63;

/// `DOMID_SELF` (xen.h).
pub const DOMID_SELF: u16 = 0x7ff0;

// Error numbers (errno.h); hypercalls return them negated.
pub const EPERM: i64 = 1;
pub const ENOENT: i64 = 2;
pub const ESRCH: i64 = 3;
pub const ENXIO: i64 = 6;
pub const EFAULT: i64 = 14;
pub const EBUSY: i64 = 16;
pub const EEXIST: i64 = 17;
pub const EINVAL: i64 = 22;
pub const ENOSYS: i64 = 38;

/// Name of a (negated) Xen error number, for messages.
pub fn errname(r: i64) -> &'static str {
    match -r {
        EPERM => "-EPERM",
        ENOENT => "-ENOENT",
        ESRCH => "-ESRCH",
        ENXIO => "-ENXIO",
        EFAULT => "-EFAULT",
        EBUSY => "-EBUSY",
        EEXIST => "-EEXIST",
        EINVAL => "-EINVAL",
        ENOSYS => "-ENOSYS",
        _ if r >= 0 => "",
        _ => "-E?",
    }
}

// SMCCC (ARM DEN 0028) as Xen implements it (xen/arch/arm/vsmc.c).
/// `ARM_SMCCC_VERSION_FID`.
pub const ARM_SMCCC_VERSION_FID: u32 = 0x8000_0000;
/// `ARM_SMCCC_ARCH_FEATURES_FID`.
pub const ARM_SMCCC_ARCH_FEATURES_FID: u32 = 0x8000_0001;
/// `ARM_SMCCC_ARCH_WORKAROUND_1_FID` (Spectre v2).
pub const ARM_SMCCC_ARCH_WORKAROUND_1_FID: u32 = 0x8000_8000;
/// `ARM_SMCCC_ARCH_WORKAROUND_2_FID` (SSBD).
pub const ARM_SMCCC_ARCH_WORKAROUND_2_FID: u32 = 0x8000_7fff;
/// `ARM_SMCCC_ARCH_WORKAROUND_3_FID` (Spectre-BHB).
pub const ARM_SMCCC_ARCH_WORKAROUND_3_FID: u32 = 0x8000_3fff;
/// `ARM_SMCCC_OWNER_HYPERVISOR` (xen/arch/arm/include/asm/smccc.h): Xen's service is owner 5,
/// SMCCC's "Standard Hypervisor Service Calls", not 6 ("Vendor Specific Hypervisor Service
/// Calls", where KVM's UID lives and Linux probes with 0x8600ff01).
pub const ARM_SMCCC_OWNER_HYPERVISOR: u32 = 5;
/// `ARM_SMCCC_CALL_COUNT_FID(HYPERVISOR)`: fast call, SMC32, owner 5, function 0xff00.
pub const ARM_SMCCC_CALL_COUNT_FID_HYPERVISOR: u32 = 0x8000_ff00 | ARM_SMCCC_OWNER_HYPERVISOR << 24;
/// `ARM_SMCCC_CALL_UID_FID(HYPERVISOR)`.
pub const ARM_SMCCC_CALL_UID_FID_HYPERVISOR: u32 = 0x8000_ff01 | ARM_SMCCC_OWNER_HYPERVISOR << 24;
/// `ARM_SMCCC_REVISION_FID(HYPERVISOR)`.
pub const ARM_SMCCC_REVISION_FID_HYPERVISOR: u32 = 0x8000_ff03 | ARM_SMCCC_OWNER_HYPERVISOR << 24;
/// Linux's `ARM_SMCCC_VENDOR_HYP_CALL_UID_FUNC_ID` (owner 6): not a Xen function.
pub const ARM_SMCCC_VENDOR_HYP_CALL_UID: u32 = 0x8600_ff01;
/// `ARM_SMCCC_NOT_SUPPORTED` / `ARM_SMCCC_ERR_UNKNOWN_FUNCTION`.
pub const ARM_SMCCC_NOT_SUPPORTED: i32 = -1;
/// `ARM_SMCCC_VERSION_1_1`.
pub const ARM_SMCCC_VERSION_1_1: u32 = 0x1_0001;
/// `XEN_SMCCC_UID` (arch-arm/smccc.h): `XEN_DEFINE_UUID(0xa71812dc, 0xc698, 0x4369, 0x9acf,
/// 0x79, 0xd1, 0x8d, 0xde, 0xe6, 0x67)`, as the 16 bytes of `xen_uuid_t`.
pub const XEN_SMCCC_UID: [u8; 16] = [
    0xa7, 0x18, 0x12, 0xdc, 0xc6, 0x98, 0x43, 0x69, 0x9a, 0xcf, 0x79, 0xd1, 0x8d, 0xde, 0xe6, 0x67,
];
/// `XEN_SMCCC_MAJOR_REVISION`, `XEN_SMCCC_MINOR_REVISION`.
pub const XEN_SMCCC_REVISION: (u32, u32) = (0, 1);

/// The UID in w0..w3 as SMCCC returns it: four bytes per register, first byte lowest
/// (DEN 0028B; Xen's `fill_uid`).
pub const fn uid_words(u: [u8; 16]) -> [u32; 4] {
    let mut w = [0u32; 4];
    let mut i = 0;
    while i < 4 {
        w[i] = u32::from_le_bytes([u[4 * i], u[4 * i + 1], u[4 * i + 2], u[4 * i + 3]]);
        i += 1;
    }
    w
}

// xen_version (version.h).
pub const XENVER_version: u64 = 0;
pub const XENVER_extraversion: u64 = 1;
pub const XENVER_compile_info: u64 = 2;
pub const XENVER_capabilities: u64 = 3;
pub const XENVER_changeset: u64 = 4;
pub const XENVER_platform_parameters: u64 = 5;
pub const XENVER_get_features: u64 = 6;
pub const XENVER_pagesize: u64 = 7;
pub const XENVER_guest_handle: u64 = 8;
pub const XENVER_commandline: u64 = 9;
/// `xen_extraversion_t`.
pub const XEN_EXTRAVERSION_LEN: usize = 16;
/// `xen_capabilities_info_t`.
pub const XEN_CAPABILITIES_INFO_LEN: usize = 1024;
/// `xen_changeset_info_t`.
pub const XEN_CHANGESET_INFO_LEN: usize = 64;
/// `xen_commandline_t`.
pub const XEN_COMMANDLINE_LEN: usize = 1024;

/// `struct xen_feature_info`.
#[repr(C)]
#[derive(Default, Debug)]
pub struct xen_feature_info {
    pub submap_idx: u32,
    pub submap: u32,
}

// features.h.
pub const XENFEAT_writable_page_tables: u32 = 0;
pub const XENFEAT_auto_translated_physmap: u32 = 2;
pub const XENFEAT_dom0: u32 = 11;
pub const XENFEAT_memory_op_vnode_supported: u32 = 13;
pub const XENFEAT_ARM_SMCCC_supported: u32 = 14;
pub const XENFEAT_not_direct_mapped: u32 = 16;
pub const XENFEAT_direct_mapped: u32 = 17;

// console_io (xen.h).
pub const CONSOLEIO_write: u64 = 0;
pub const CONSOLEIO_read: u64 = 1;

// memory_op (memory.h).
pub const XENMEM_maximum_ram_page: u64 = 2;
pub const XENMEM_current_reservation: u64 = 3;
pub const XENMEM_maximum_reservation: u64 = 4;
pub const XENMEM_add_to_physmap: u64 = 7;
pub const XENMAPSPACE_shared_info: u32 = 0;
pub const XENMAPSPACE_grant_table: u32 = 1;

/// `struct xen_add_to_physmap`.
#[repr(C)]
#[derive(Default, Debug)]
pub struct xen_add_to_physmap {
    pub domid: u16,
    pub size: u16,
    pub space: u32,
    pub idx: u64,
    pub gpfn: u64,
}

/// `struct shared_info` (xen.h with arch-arm.h: one legacy vCPU, 64-bit `xen_ulong_t`): byte
/// offsets of the fields read here.
pub mod shared_info {
    /// `vcpu_info[0]` (`XEN_LEGACY_MAX_VCPUS` = 1 on ARM).
    pub const VCPU_INFO0: usize = 0;
    /// `evtchn_pending[64]`.
    pub const EVTCHN_PENDING: usize = super::VCPU_INFO_SIZE;
    /// `evtchn_mask[64]`.
    pub const EVTCHN_MASK: usize = EVTCHN_PENDING + 64 * 8;
    /// `wc_version`, then `wc_sec`, `wc_nsec`, `wc_sec_hi` (u32 each).
    pub const WC_VERSION: usize = EVTCHN_MASK + 64 * 8;
    pub const WC_SEC: usize = WC_VERSION + 4;
    pub const WC_NSEC: usize = WC_VERSION + 8;
    pub const WC_SEC_HI: usize = WC_VERSION + 12;
}

/// `struct vcpu_info` on ARM: `evtchn_upcall_pending` (u8), `pad0` (u8: ARM has no
/// `evtchn_upcall_mask`, `XEN_HAVE_PV_UPCALL_MASK` is x86's), `evtchn_pending_sel` (u64 at 8),
/// empty `arch_vcpu_info`, `vcpu_time_info` (32 bytes at 16).
pub const VCPU_INFO_SIZE: usize = 48;
pub mod vcpu_info {
    pub const EVTCHN_UPCALL_PENDING: usize = 0;
    pub const PAD0: usize = 1;
    pub const EVTCHN_PENDING_SEL: usize = 8;
    pub const TIME: usize = 16;
}

// vcpu_op (vcpu.h).
pub const VCPUOP_up: u64 = 1;
pub const VCPUOP_is_up: u64 = 3;
pub const VCPUOP_register_runstate_memory_area: u64 = 5;
pub const VCPUOP_register_vcpu_info: u64 = 10;
pub const RUNSTATE_running: i32 = 0;
pub const RUNSTATE_runnable: i32 = 1;
pub const RUNSTATE_blocked: i32 = 2;
pub const RUNSTATE_offline: i32 = 3;

/// `struct vcpu_register_vcpu_info`.
#[repr(C)]
#[derive(Default, Debug)]
pub struct vcpu_register_vcpu_info {
    pub mfn: u64,
    pub offset: u32,
    pub rsvd: u32,
}

/// `struct vcpu_runstate_info`.
#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
pub struct vcpu_runstate_info {
    pub state: i32,
    pub state_entry_time: u64,
    pub time: [u64; 4],
}

/// `struct vcpu_register_runstate_memory_area` (a guest virtual address on ARM).
#[repr(C)]
#[derive(Default, Debug)]
pub struct vcpu_register_runstate_memory_area {
    pub addr: u64,
}

// event_channel_op (event_channel.h).
pub const EVTCHNOP_bind_interdomain: u64 = 0;
pub const EVTCHNOP_bind_virq: u64 = 1;
pub const EVTCHNOP_close: u64 = 3;
pub const EVTCHNOP_send: u64 = 4;
pub const EVTCHNOP_status: u64 = 5;
pub const EVTCHNOP_alloc_unbound: u64 = 6;
pub const EVTCHNOP_bind_ipi: u64 = 7;
pub const EVTCHNOP_bind_vcpu: u64 = 8;
pub const EVTCHNOP_unmask: u64 = 9;
pub const EVTCHNOP_init_control: u64 = 11;
pub const EVTCHNOP_expand_array: u64 = 12;
pub const EVTCHNSTAT_closed: u32 = 0;
pub const EVTCHNSTAT_unbound: u32 = 1;
pub const EVTCHNSTAT_interdomain: u32 = 2;
pub const EVTCHNSTAT_pirq: u32 = 3;
pub const EVTCHNSTAT_virq: u32 = 4;
pub const EVTCHNSTAT_ipi: u32 = 5;
/// `VIRQ_CONSOLE` (xen.h): global, bindable by the hardware domain.
pub const VIRQ_CONSOLE: u32 = 2;
/// Ports of the 2-level ABI: 64 x 64 (`EVTCHN_2L_NR_CHANNELS` for 64-bit `xen_ulong_t`).
pub const EVTCHN_2L_NR_CHANNELS: u32 = 64 * 64;

/// `struct evtchn_alloc_unbound`.
#[repr(C)]
#[derive(Default, Debug)]
pub struct evtchn_alloc_unbound {
    pub dom: u16,
    pub remote_dom: u16,
    pub port: u32,
}

/// `struct evtchn_bind_ipi`.
#[repr(C)]
#[derive(Default, Debug)]
pub struct evtchn_bind_ipi {
    pub vcpu: u32,
    pub port: u32,
}

/// `struct evtchn_bind_virq`.
#[repr(C)]
#[derive(Default, Debug)]
pub struct evtchn_bind_virq {
    pub virq: u32,
    pub vcpu: u32,
    pub port: u32,
}

/// `struct evtchn_send`, `evtchn_close`, `evtchn_unmask`: one port.
#[repr(C)]
#[derive(Default, Debug)]
pub struct evtchn_port {
    pub port: u32,
}

/// `struct evtchn_status` (the union `u` as two words).
#[repr(C)]
#[derive(Default, Debug)]
pub struct evtchn_status {
    pub dom: u16,
    pub port: u32,
    pub status: u32,
    pub vcpu: u32,
    pub u: [u32; 2],
}

/// `struct evtchn_init_control`.
#[repr(C)]
#[derive(Default, Debug)]
pub struct evtchn_init_control {
    pub control_gfn: u64,
    pub offset: u32,
    pub vcpu: u32,
    pub link_bits: u8,
    pub _pad: [u8; 7],
}

// sched_op (sched.h).
pub const SCHEDOP_yield: u64 = 0;

// grant_table_op (grant_table.h).
pub const GNTTABOP_query_size: u64 = 6;
pub const GNTTABOP_set_version: u64 = 8;
pub const GNTTABOP_get_status_frames: u64 = 9;
pub const GNTTABOP_get_version: u64 = 10;
pub const GNTST_okay: i16 = 0;
pub const GNTST_general_error: i16 = -1;

/// `struct gnttab_query_size`.
#[repr(C)]
#[derive(Default, Debug)]
pub struct gnttab_query_size {
    pub dom: u16,
    pub nr_frames: u32,
    pub max_nr_frames: u32,
    pub status: i16,
}

/// `struct gnttab_set_version`.
#[repr(C)]
#[derive(Default, Debug)]
pub struct gnttab_set_version {
    pub version: u32,
}

/// `struct gnttab_get_version`.
#[repr(C)]
#[derive(Default, Debug)]
pub struct gnttab_get_version {
    pub dom: u16,
    pub pad: u16,
    pub version: u32,
}

/// `struct gnttab_get_status_frames`.
#[repr(C)]
#[derive(Default, Debug)]
pub struct gnttab_get_status_frames {
    pub nr_frames: u32,
    pub dom: u16,
    pub status: i16,
    pub frame_list: u64,
}

// hvm_op (hvm/hvm_op.h, hvm/params.h).
pub const HVMOP_set_param: u64 = 0;
pub const HVMOP_get_param: u64 = 1;
pub const HVM_PARAM_CALLBACK_IRQ: u32 = 0;
/// `HVM_PARAM_CALLBACK_TYPE_PPI` (params.h): `val[63:56]` of HVM_PARAM_CALLBACK_IRQ.
pub const HVM_PARAM_CALLBACK_TYPE_PPI: u64 = 2;
/// `HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_LOW_LEVEL` (`val[15:8]`).
pub const HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_LOW_LEVEL: u64 = 2;
pub const HVM_PARAM_STORE_PFN: u32 = 1;
pub const HVM_PARAM_STORE_EVTCHN: u32 = 2;
pub const HVM_PARAM_CONSOLE_PFN: u32 = 17;
pub const HVM_PARAM_CONSOLE_EVTCHN: u32 = 18;
/// `HVM_NR_PARAMS` (hvm/params.h): indices from here are invalid.
pub const HVM_NR_PARAMS: u32 = 39;

/// `struct xen_hvm_param`.
#[repr(C)]
#[derive(Default, Debug)]
pub struct xen_hvm_param {
    pub domid: u16,
    pub pad: u16,
    pub index: u32,
    pub value: u64,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<xen_feature_info>() == 8);
    assert!(size_of::<xen_add_to_physmap>() == 24 && offset_of!(xen_add_to_physmap, gpfn) == 16);
    assert!(size_of::<vcpu_register_vcpu_info>() == 16);
    assert!(size_of::<vcpu_runstate_info>() == 48);
    assert!(size_of::<evtchn_alloc_unbound>() == 8);
    assert!(size_of::<evtchn_bind_virq>() == 12);
    assert!(size_of::<evtchn_status>() == 24 && offset_of!(evtchn_status, u) == 16);
    assert!(size_of::<evtchn_init_control>() == 24);
    assert!(size_of::<gnttab_query_size>() == 16 && offset_of!(gnttab_query_size, status) == 12);
    assert!(size_of::<gnttab_get_status_frames>() == 16);
    assert!(size_of::<xen_hvm_param>() == 16 && offset_of!(xen_hvm_param, value) == 8);
    assert!(shared_info::WC_VERSION == 1072);
};

/// A hypercall: `hvc #XEN_HYPERCALL_TAG` with `nr` in x16 and the arguments in x0..x4; returns
/// x0 (a negative Xen errno on failure).
///
/// Arguments are numbers or guest virtual addresses of buffers; Xen reads and writes those
/// buffers through this guest's own translation (identity map), so every pointer passed must be
/// valid for what the call does with it, or deliberately bad to check an `-EFAULT`.
pub fn hypercall(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64) -> i64 {
    let mut x0 = a0;
    // SAFETY: a Xen hypercall. The hypervisor may clobber x0..x5 and x16/x17 (declared; a debug
    // Xen deliberately corrupts the argument registers) and writes guest memory only at the
    // buffers the caller passed, which are live for the duration of the call (`asm!` without
    // `nomem` is a compiler barrier for them).
    unsafe {
        asm!("hvc #{tag}", tag = const XEN_HYPERCALL_TAG,
            inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _,
            inout("x4") a4 => _, out("x5") _, inout("x16") nr => _, out("x17") _,
            options(nostack));
    }
    x0 as i64
}

/// A hypercall with a pointer to `arg` as its second argument (`op(cmd, arg)` form).
pub fn op<T>(nr: u64, cmd: u64, arg: &mut T) -> i64 {
    hypercall(nr, cmd, arg as *mut T as u64, 0, 0, 0)
}

/// An SMCCC fast call over `hvc #0`; returns x0..x3.
pub fn smccc_hvc(fid: u32, a1: u64) -> [u64; 4] {
    let (mut x0, mut x1, mut x2, mut x3) = (u64::from(fid), a1, 0u64, 0u64);
    // SAFETY: an SMCCC call: the callee may clobber x0-x17 (declared); it touches no memory.
    unsafe {
        asm!("hvc #0", inout("x0") x0, inout("x1") x1, inout("x2") x2, inout("x3") x3,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
            out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _, options(nostack, nomem));
    }
    [x0, x1, x2, x3]
}

/// One 4 KiB page, page-aligned (a guest frame to hand to Xen).
#[repr(C, align(4096))]
pub struct Page(pub [u8; 4096]);

impl Page {
    /// An all-zero page.
    pub const fn zeroed() -> Page {
        Page([0; 4096])
    }
}

/// Reads a `T` from shared memory at `addr` (written by the hypervisor behind our back).
///
/// # Safety
/// `addr` must be mapped, readable and aligned for `T`.
pub unsafe fn peek<T: Copy>(addr: u64) -> T {
    // SAFETY: the caller guarantees `addr` is a valid, aligned, mapped address.
    unsafe { core::ptr::read_volatile(addr as usize as *const T) }
}

/// Writes a `T` to shared memory at `addr`.
///
/// # Safety
/// `addr` must be mapped, writable, aligned for `T`, and no Rust reference may cover it.
pub unsafe fn poke<T: Copy>(addr: u64, v: T) {
    // SAFETY: the caller guarantees `addr` is a valid, aligned, writable address.
    unsafe { core::ptr::write_volatile(addr as usize as *mut T, v) }
}

/// The NUL-terminated prefix of `b` as text (lossy: non-UTF-8 gives `"<non-utf8>"`).
pub fn cstr(b: &[u8]) -> &str {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    core::str::from_utf8(&b[..n]).unwrap_or("<non-utf8>")
}
