//! `HYPERVISOR_xen_version(cmd, arg)` of `xen/include/public/version.h`.

use crate::arch_arm::xen_ulong_t;

/// `XENVER_version`: returns `(major << 16) | minor` (version.h).
pub const XENVER_version: u32 = 0;
/// `XENVER_extraversion` (version.h).
pub const XENVER_extraversion: u32 = 1;
/// `XENVER_compile_info` (version.h).
pub const XENVER_compile_info: u32 = 2;
/// `XENVER_capabilities` (version.h).
pub const XENVER_capabilities: u32 = 3;
/// `XENVER_changeset` (version.h).
pub const XENVER_changeset: u32 = 4;
/// `XENVER_platform_parameters` (version.h).
pub const XENVER_platform_parameters: u32 = 5;
/// `XENVER_get_features` (version.h).
pub const XENVER_get_features: u32 = 6;
/// `XENVER_pagesize` (version.h).
pub const XENVER_pagesize: u32 = 7;
/// `XENVER_guest_handle` (version.h).
pub const XENVER_guest_handle: u32 = 8;
/// `XENVER_commandline` (version.h).
pub const XENVER_commandline: u32 = 9;
/// `XENVER_build_id` (version.h).
pub const XENVER_build_id: u32 = 10;

/// `xen_extraversion_t` (version.h).
pub type xen_extraversion_t = [u8; 16];
/// `XEN_EXTRAVERSION_LEN` (version.h).
pub const XEN_EXTRAVERSION_LEN: usize = 16;
/// `xen_capabilities_info_t` (version.h).
pub type xen_capabilities_info_t = [u8; 1024];
/// `XEN_CAPABILITIES_INFO_LEN` (version.h).
pub const XEN_CAPABILITIES_INFO_LEN: usize = 1024;
/// `xen_changeset_info_t` (version.h).
pub type xen_changeset_info_t = [u8; 64];
/// `XEN_CHANGESET_INFO_LEN` (version.h).
pub const XEN_CHANGESET_INFO_LEN: usize = 64;
/// `xen_commandline_t` (version.h).
pub type xen_commandline_t = [u8; 1024];

abi! {
    /// `struct xen_compile_info` (version.h).
    pub struct xen_compile_info {
        pub compiler: [u8; 64],
        pub compile_by: [u8; 16],
        pub compile_domain: [u8; 32],
        pub compile_date: [u8; 32],
    }
}
layout!(layout_xen_compile_info, xen_compile_info, 144, compiler @ 0, compile_by @ 64,
    compile_domain @ 80, compile_date @ 112);

abi! {
    /// `struct xen_platform_parameters` (version.h).
    pub struct xen_platform_parameters {
        pub virt_start: xen_ulong_t,
    }
}
layout!(layout_xen_platform_parameters, xen_platform_parameters, 8, virt_start @ 0);

abi! {
    /// `struct xen_feature_info` (version.h).
    pub struct xen_feature_info {
        /// IN: which 32-bit submap to return.
        pub submap_idx: u32,
        /// OUT: `XENFEAT_*` bits of that submap.
        pub submap: u32,
    }
}
layout!(layout_xen_feature_info, xen_feature_info, 8, submap_idx @ 0, submap @ 4);

abi! {
    /// `struct xen_build_id` header (version.h): `len` then `buf[len]` (flexible array).
    pub struct xen_build_id {
        /// IN: size of `buf`; the hypercall returns the bytes written.
        pub len: u32,
    }
}
layout!(layout_xen_build_id, xen_build_id, 4, len @ 0);

/// Copies `s` into a NUL-terminated fixed-size Xen string (`xen_extraversion_t` etc.),
/// truncating so that a NUL always ends it.
pub fn fill_cstr<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let n = s.len().min(N.saturating_sub(1));
    out[..n].copy_from_slice(&s.as_bytes()[..n]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cstr() {
        let e: xen_extraversion_t = fill_cstr(".0-xenith");
        assert_eq!(&e[..10], b".0-xenith\0");
        let long: [u8; 4] = fill_cstr("abcdef");
        assert_eq!(&long, b"abc\0");
        let empty: [u8; 0] = fill_cstr("x");
        assert!(empty.is_empty());
    }
}
