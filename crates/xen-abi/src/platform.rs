//! `HYPERVISOR_platform_op` of `xen/include/public/platform.h`: the `xen_platform_op` header
//! and `XENPF_settime64`, what dom0 Linux on ARM uses (to set the wallclock).

use zerocopy::FromBytes;

/// `XENPF_INTERFACE_VERSION` (platform.h).
pub const XENPF_INTERFACE_VERSION: u32 = 0x0300_0001;
/// `XENPF_settime32` (platform.h).
pub const XENPF_settime32: u32 = 17;
/// `XENPF_add_memtype` (platform.h).
pub const XENPF_add_memtype: u32 = 31;
/// `XENPF_del_memtype` (platform.h).
pub const XENPF_del_memtype: u32 = 32;
/// `XENPF_read_memtype` (platform.h).
pub const XENPF_read_memtype: u32 = 33;
/// `XENPF_microcode_update` (platform.h).
pub const XENPF_microcode_update: u32 = 35;
/// `XENPF_platform_quirk` (platform.h).
pub const XENPF_platform_quirk: u32 = 39;
/// `XENPF_get_cpu_version` (platform.h).
pub const XENPF_get_cpu_version: u32 = 48;
/// `XENPF_efi_runtime_call` (platform.h).
pub const XENPF_efi_runtime_call: u32 = 49;
/// `XENPF_firmware_info` (platform.h).
pub const XENPF_firmware_info: u32 = 50;
/// `XENPF_enter_acpi_sleep` (platform.h).
pub const XENPF_enter_acpi_sleep: u32 = 51;
/// `XENPF_change_freq` (platform.h).
pub const XENPF_change_freq: u32 = 52;
/// `XENPF_getidletime` (platform.h).
pub const XENPF_getidletime: u32 = 53;
/// `XENPF_set_processor_pminfo` (platform.h).
pub const XENPF_set_processor_pminfo: u32 = 54;
/// `XENPF_get_cpuinfo` (platform.h).
pub const XENPF_get_cpuinfo: u32 = 55;
/// `XENPF_cpu_online` (platform.h).
pub const XENPF_cpu_online: u32 = 56;
/// `XENPF_cpu_offline` (platform.h).
pub const XENPF_cpu_offline: u32 = 57;
/// `XENPF_cpu_hotadd` (platform.h).
pub const XENPF_cpu_hotadd: u32 = 58;
/// `XENPF_mem_hotadd` (platform.h).
pub const XENPF_mem_hotadd: u32 = 59;
/// `XENPF_core_parking` (platform.h).
pub const XENPF_core_parking: u32 = 60;
/// `XENPF_resource_op` (platform.h).
pub const XENPF_resource_op: u32 = 61;
/// `XENPF_settime64` (platform.h).
pub const XENPF_settime64: u32 = 62;
/// `XENPF_get_symbol` (platform.h).
pub const XENPF_get_symbol: u32 = 63;
/// `XENPF_settime`: `XENPF_settime64` for interface versions >= 0x00040600 (platform.h).
pub const XENPF_settime: u32 = XENPF_settime64;

abi! {
    /// `struct xenpf_settime32` (platform.h).
    pub struct xenpf_settime32 {
        pub secs: u32,
        pub nsecs: u32,
        pub system_time: u64,
    }
}
layout!(layout_xenpf_settime32, xenpf_settime32, 16, secs @ 0, nsecs @ 4, system_time @ 8);

abi! {
    /// `struct xenpf_settime64` (platform.h).
    pub struct xenpf_settime64 {
        pub secs: u64,
        pub nsecs: u32,
        /// Must be zero.
        pub mbz: u32,
        pub system_time: u64,
    }
}
layout!(layout_xenpf_settime64, xenpf_settime64, 24, secs @ 0, nsecs @ 8, mbz @ 12,
    system_time @ 16);

abi! {
    /// `struct xen_platform_op` (platform.h): `cmd`, `interface_version`, then the 128-byte
    /// union `u` (raw here; read members with the accessors).
    pub struct xen_platform_op {
        /// `XENPF_*`.
        pub cmd: u32,
        /// Must be `XENPF_INTERFACE_VERSION`.
        pub interface_version: u32,
        pub u: [u64; 16],
    }
}
layout!(layout_xen_platform_op, xen_platform_op, 136, cmd @ 0, interface_version @ 4, u @ 8);

impl xen_platform_op {
    /// `u.settime64`.
    pub fn settime64(&self) -> xenpf_settime64 {
        let (v, _) = xenpf_settime64::read_from_prefix(zerocopy::IntoBytes::as_bytes(&self.u))
            .unwrap_or_else(|_| unreachable!("u is 128 bytes, larger than xenpf_settime64"));
        v
    }
    /// `u.settime32`.
    pub fn settime32(&self) -> xenpf_settime32 {
        let (v, _) = xenpf_settime32::read_from_prefix(zerocopy::IntoBytes::as_bytes(&self.u))
            .unwrap_or_else(|_| unreachable!("u is 128 bytes, larger than xenpf_settime32"));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::{FromZeros, IntoBytes};

    #[test]
    fn settime64_from_union() {
        let mut op = xen_platform_op::new_zeroed();
        op.cmd = XENPF_settime64;
        op.interface_version = XENPF_INTERFACE_VERSION;
        let t = xenpf_settime64 {
            secs: 1_700_000_000,
            nsecs: 5,
            mbz: 0,
            system_time: 99,
        };
        op.as_mut_bytes()[8..32].copy_from_slice(t.as_bytes());
        assert_eq!(op.settime64(), t);
        assert_eq!(op.settime32().secs, 1_700_000_000u64 as u32);
    }
}
