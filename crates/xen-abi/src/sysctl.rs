//! `HYPERVISOR_sysctl` of `xen/include/public/sysctl.h`: the `xen_sysctl` header and
//! `XEN_SYSCTL_physinfo`. Layouts are AArch64's.

use zerocopy::{FromBytes, IntoBytes};

/// `XEN_SYSCTL_INTERFACE_VERSION` (sysctl.h, Xen 4.17).
pub const XEN_SYSCTL_INTERFACE_VERSION: u32 = 0x0000_0015;

/// `XEN_SYSCTL_readconsole` (sysctl.h).
pub const XEN_SYSCTL_readconsole: u32 = 1;
/// `XEN_SYSCTL_tbuf_op` (sysctl.h).
pub const XEN_SYSCTL_tbuf_op: u32 = 2;
/// `XEN_SYSCTL_physinfo` (sysctl.h).
pub const XEN_SYSCTL_physinfo: u32 = 3;
/// `XEN_SYSCTL_getdomaininfolist` (sysctl.h).
pub const XEN_SYSCTL_getdomaininfolist: u32 = 6;
/// `XEN_SYSCTL_debug_keys` (sysctl.h): run the hypervisor's debug-key handlers (`xl debug-keys`).
pub const XEN_SYSCTL_debug_keys: u32 = 7;

/// `XEN_SYSCTL_PHYSCAP_hvm` (sysctl.h).
pub const XEN_SYSCTL_PHYSCAP_hvm: u32 = 1 << 0;
/// `XEN_SYSCTL_PHYSCAP_pv` (sysctl.h).
pub const XEN_SYSCTL_PHYSCAP_pv: u32 = 1 << 1;
/// `XEN_SYSCTL_PHYSCAP_directio` (sysctl.h).
pub const XEN_SYSCTL_PHYSCAP_directio: u32 = 1 << 2;
/// `XEN_SYSCTL_PHYSCAP_hap` (sysctl.h).
pub const XEN_SYSCTL_PHYSCAP_hap: u32 = 1 << 3;
/// `XEN_SYSCTL_PHYSCAP_shadow` (sysctl.h).
pub const XEN_SYSCTL_PHYSCAP_shadow: u32 = 1 << 4;
/// `XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share` (sysctl.h).
pub const XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share: u32 = 1 << 5;
/// `XEN_SYSCTL_PHYSCAP_vmtrace` (sysctl.h).
pub const XEN_SYSCTL_PHYSCAP_vmtrace: u32 = 1 << 6;
/// `XEN_SYSCTL_PHYSCAP_vpmu` (sysctl.h).
pub const XEN_SYSCTL_PHYSCAP_vpmu: u32 = 1 << 7;
/// `XEN_SYSCTL_PHYSCAP_gnttab_v1` (sysctl.h).
pub const XEN_SYSCTL_PHYSCAP_gnttab_v1: u32 = 1 << 8;
/// `XEN_SYSCTL_PHYSCAP_gnttab_v2` (sysctl.h).
pub const XEN_SYSCTL_PHYSCAP_gnttab_v2: u32 = 1 << 9;

abi! {
    /// `struct xen_sysctl_physinfo` (sysctl.h).
    pub struct xen_sysctl_physinfo {
        pub threads_per_core: u32,
        pub cores_per_socket: u32,
        /// CPUs online.
        pub nr_cpus: u32,
        pub max_cpu_id: u32,
        pub nr_nodes: u32,
        pub max_node_id: u32,
        pub cpu_khz: u32,
        /// `XEN_SYSCTL_PHYSCAP_*`.
        pub capabilities: u32,
        pub arch_capabilities: u32,
        pub pad: u32,
        pub total_pages: u64,
        pub free_pages: u64,
        pub scrub_pages: u64,
        pub outstanding_pages: u64,
        pub max_mfn: u64,
        pub hw_cap: [u32; 8],
    }
}
layout!(layout_xen_sysctl_physinfo, xen_sysctl_physinfo, 112, threads_per_core @ 0,
    cores_per_socket @ 4, nr_cpus @ 8, max_cpu_id @ 12, nr_nodes @ 16, max_node_id @ 20,
    cpu_khz @ 24, capabilities @ 28, arch_capabilities @ 32, pad @ 36, total_pages @ 40,
    free_pages @ 48, scrub_pages @ 56, outstanding_pages @ 64, max_mfn @ 72, hw_cap @ 80);

abi! {
    /// `struct xen_sysctl_readconsole` (sysctl.h): the hypervisor's console ring (`xl dmesg`).
    pub struct xen_sysctl_readconsole {
        /// IN: non-zero: clear the ring after reading.
        pub clear: u8,
        /// IN: non-zero: start at `index`.
        pub incremental: u8,
        pub pad0: u8,
        pub pad1: u8,
        /// IN: start index (if `incremental`); OUT: end index after reading.
        pub index: u32,
        /// IN: `XEN_GUEST_HANDLE_64(char)`, where to write.
        pub buffer: u64,
        /// IN: size of `buffer`; OUT: bytes written.
        pub count: u32,
        pub _pad: u32,
    }
}
layout!(layout_xen_sysctl_readconsole, xen_sysctl_readconsole, 24, clear @ 0, incremental @ 1,
    index @ 4, buffer @ 8, count @ 16);

abi! {
    /// `struct xen_sysctl_getdomaininfolist` (sysctl.h).
    pub struct xen_sysctl_getdomaininfolist {
        /// IN: `domid_t`, the first domain to report.
        pub first_domain: u16,
        pub _pad0: u16,
        /// IN: room in `buffer`.
        pub max_domains: u32,
        /// IN: `XEN_GUEST_HANDLE_64(xen_domctl_getdomaininfo_t)`.
        pub buffer: u64,
        /// OUT: entries written.
        pub num_domains: u32,
        pub _pad1: u32,
    }
}
layout!(layout_xen_sysctl_getdomaininfolist, xen_sysctl_getdomaininfolist, 24,
    first_domain @ 0, max_domains @ 4, buffer @ 8, num_domains @ 16);

abi! {
    /// `struct xen_sysctl_debug_keys` (sysctl.h).
    pub struct xen_sysctl_debug_keys {
        /// IN: `XEN_GUEST_HANDLE_64(const_char)`, the keys.
        pub keys: u64,
        /// IN: how many.
        pub nr_keys: u32,
        pub _pad: u32,
    }
}
layout!(layout_xen_sysctl_debug_keys, xen_sysctl_debug_keys, 16, keys @ 0, nr_keys @ 8);

abi! {
    /// `struct xen_sysctl` (sysctl.h): the header, then the 128-byte union `u` (raw here).
    pub struct xen_sysctl {
        /// `XEN_SYSCTL_*`.
        pub cmd: u32,
        /// Must be `XEN_SYSCTL_INTERFACE_VERSION`.
        pub interface_version: u32,
        pub u: [u64; 16],
    }
}
layout!(layout_xen_sysctl, xen_sysctl, 136, cmd @ 0, interface_version @ 4, u @ 8);

impl xen_sysctl {
    /// Reads union member `T` (any type of at most 128 bytes).
    pub fn get<T: FromBytes>(&self) -> T {
        let (v, _) = T::read_from_prefix(self.u.as_bytes())
            .unwrap_or_else(|_| unreachable!("members of u are at most 128 bytes"));
        v
    }
    /// Writes union member `T` at the start of `u` (the rest unchanged).
    pub fn set<T: IntoBytes + zerocopy::Immutable>(&mut self, v: &T) {
        let b = v.as_bytes();
        let n = b.len().min(128);
        self.u.as_mut_bytes()[..n].copy_from_slice(&b[..n]);
    }
}
