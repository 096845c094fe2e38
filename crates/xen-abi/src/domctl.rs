//! `HYPERVISOR_domctl` of `xen/include/public/domctl.h` (and `struct xen_arch_domainconfig` of
//! `arch-arm.h`): the `xen_domctl` header and the domain-lifecycle sub-ops a toolstack uses first
//! (create, destroy, pause, unpause, getdomaininfo, max_mem, max_vcpus) and those that
//! build a domain (set/getvcpucontext, set_address_size, cacheflush). Layouts are AArch64's.

use zerocopy::{FromBytes, IntoBytes};

/// `XEN_DOMCTL_INTERFACE_VERSION` (domctl.h, Xen 4.17).
pub const XEN_DOMCTL_INTERFACE_VERSION: u32 = 0x0000_0015;

/// `XEN_DOMCTL_createdomain` (domctl.h).
pub const XEN_DOMCTL_createdomain: u32 = 1;
/// `XEN_DOMCTL_destroydomain` (domctl.h).
pub const XEN_DOMCTL_destroydomain: u32 = 2;
/// `XEN_DOMCTL_pausedomain` (domctl.h).
pub const XEN_DOMCTL_pausedomain: u32 = 3;
/// `XEN_DOMCTL_unpausedomain` (domctl.h).
pub const XEN_DOMCTL_unpausedomain: u32 = 4;
/// `XEN_DOMCTL_getdomaininfo` (domctl.h).
pub const XEN_DOMCTL_getdomaininfo: u32 = 5;
/// `XEN_DOMCTL_max_mem` (domctl.h).
pub const XEN_DOMCTL_max_mem: u32 = 11;
/// `XEN_DOMCTL_max_vcpus` (domctl.h).
pub const XEN_DOMCTL_max_vcpus: u32 = 15;
/// `XEN_DOMCTL_setvcpucontext` (domctl.h).
pub const XEN_DOMCTL_setvcpucontext: u32 = 12;
/// `XEN_DOMCTL_getvcpucontext` (domctl.h).
pub const XEN_DOMCTL_getvcpucontext: u32 = 13;
/// `XEN_DOMCTL_getvcpuinfo` (domctl.h).
pub const XEN_DOMCTL_getvcpuinfo: u32 = 14;
/// `XEN_DOMCTL_settimeoffset` (domctl.h).
pub const XEN_DOMCTL_settimeoffset: u32 = 24;
/// `XEN_DOMCTL_set_address_size` (domctl.h).
pub const XEN_DOMCTL_set_address_size: u32 = 35;
/// `XEN_DOMCTL_cacheflush` (domctl.h).
pub const XEN_DOMCTL_cacheflush: u32 = 71;
/// `XEN_DOMCTL_get_paging_mempool_size` (domctl.h).
pub const XEN_DOMCTL_get_paging_mempool_size: u32 = 85;
/// `XEN_DOMCTL_set_paging_mempool_size` (domctl.h): the pool of pages Xen keeps for a
/// domain's stage-2 tables (libxl sets it on Arm from `shadow_memory`).
pub const XEN_DOMCTL_set_paging_mempool_size: u32 = 86;

/// `XEN_DOMCTL_CDF_hvm` (domctl.h).
pub const XEN_DOMCTL_CDF_hvm: u32 = 1 << 0;
/// `XEN_DOMCTL_CDF_hap` (domctl.h).
pub const XEN_DOMCTL_CDF_hap: u32 = 1 << 1;
/// `XEN_DOMCTL_CDF_s3_integrity` (domctl.h).
pub const XEN_DOMCTL_CDF_s3_integrity: u32 = 1 << 2;
/// `XEN_DOMCTL_CDF_oos_off` (domctl.h).
pub const XEN_DOMCTL_CDF_oos_off: u32 = 1 << 3;
/// `XEN_DOMCTL_CDF_xs_domain` (domctl.h).
pub const XEN_DOMCTL_CDF_xs_domain: u32 = 1 << 4;
/// `XEN_DOMCTL_CDF_iommu` (domctl.h).
pub const XEN_DOMCTL_CDF_iommu: u32 = 1 << 5;
/// `XEN_DOMCTL_CDF_nested_virt` (domctl.h).
pub const XEN_DOMCTL_CDF_nested_virt: u32 = 1 << 6;
/// `XEN_DOMCTL_CDF_vpmu` (domctl.h).
pub const XEN_DOMCTL_CDF_vpmu: u32 = 1 << 7;
/// `XEN_DOMCTL_CDF_MAX` (domctl.h).
pub const XEN_DOMCTL_CDF_MAX: u32 = XEN_DOMCTL_CDF_vpmu;
/// `XEN_DOMCTL_IOMMU_no_sharept` (domctl.h).
pub const XEN_DOMCTL_IOMMU_no_sharept: u32 = 1 << 0;
/// `XEN_DOMCTL_GRANT_version_mask` (domctl.h).
pub const XEN_DOMCTL_GRANT_version_mask: u32 = 0xf;
/// `XEN_DOMCTL_GRANT_version(v)` (domctl.h): the highest grant-table version allowed.
pub const fn XEN_DOMCTL_GRANT_version(v: u32) -> u32 {
    v & XEN_DOMCTL_GRANT_version_mask
}

/// `XEN_DOMCTL_CONFIG_GIC_NATIVE` (arch-arm.h).
pub const XEN_DOMCTL_CONFIG_GIC_NATIVE: u8 = 0;
/// `XEN_DOMCTL_CONFIG_GIC_V2` (arch-arm.h).
pub const XEN_DOMCTL_CONFIG_GIC_V2: u8 = 1;
/// `XEN_DOMCTL_CONFIG_GIC_V3` (arch-arm.h).
pub const XEN_DOMCTL_CONFIG_GIC_V3: u8 = 2;
/// `XEN_DOMCTL_CONFIG_TEE_NONE` (arch-arm.h).
pub const XEN_DOMCTL_CONFIG_TEE_NONE: u16 = 0;
/// `XEN_DOMCTL_CONFIG_TEE_OPTEE` (arch-arm.h).
pub const XEN_DOMCTL_CONFIG_TEE_OPTEE: u16 = 1;

/// `XEN_DOMINF_dying` (domctl.h).
pub const XEN_DOMINF_dying: u32 = 1 << 0;
/// `XEN_DOMINF_hvm_guest` (domctl.h).
pub const XEN_DOMINF_hvm_guest: u32 = 1 << 1;
/// `XEN_DOMINF_shutdown` (domctl.h).
pub const XEN_DOMINF_shutdown: u32 = 1 << 2;
/// `XEN_DOMINF_paused` (domctl.h).
pub const XEN_DOMINF_paused: u32 = 1 << 3;
/// `XEN_DOMINF_blocked` (domctl.h).
pub const XEN_DOMINF_blocked: u32 = 1 << 4;
/// `XEN_DOMINF_running` (domctl.h).
pub const XEN_DOMINF_running: u32 = 1 << 5;
/// `XEN_DOMINF_debugged` (domctl.h).
pub const XEN_DOMINF_debugged: u32 = 1 << 6;
/// `XEN_DOMINF_xs_domain` (domctl.h).
pub const XEN_DOMINF_xs_domain: u32 = 1 << 7;
/// `XEN_DOMINF_hap` (domctl.h).
pub const XEN_DOMINF_hap: u32 = 1 << 8;
/// `XEN_DOMINF_shutdownmask` (domctl.h).
pub const XEN_DOMINF_shutdownmask: u32 = 255;
/// `XEN_DOMINF_shutdownshift` (domctl.h).
pub const XEN_DOMINF_shutdownshift: u32 = 16;
/// `XEN_INVALID_MAX_VCPU_ID` (domctl.h): the domain has no vCPUs.
pub const XEN_INVALID_MAX_VCPU_ID: u32 = !0;

abi! {
    /// `struct xen_arch_domainconfig` (arch-arm.h).
    pub struct xen_arch_domainconfig {
        /// IN/OUT: `XEN_DOMCTL_CONFIG_GIC_*`.
        pub gic_version: u8,
        pub _pad0: u8,
        /// IN: `XEN_DOMCTL_CONFIG_TEE_*`.
        pub tee_type: u16,
        /// IN.
        pub nr_spis: u32,
        /// OUT: the DT timer's clock-frequency (0: none).
        pub clock_frequency: u32,
    }
}
layout!(layout_xen_arch_domainconfig, xen_arch_domainconfig, 12, gic_version @ 0,
    tee_type @ 2, nr_spis @ 4, clock_frequency @ 8);

abi! {
    /// `struct xen_domctl_createdomain` (domctl.h, 4.17: no `altp2m_opts` yet).
    pub struct xen_domctl_createdomain {
        pub ssidref: u32,
        /// `xen_domain_handle_t`.
        pub handle: [u8; 16],
        /// `XEN_DOMCTL_CDF_*`.
        pub flags: u32,
        pub iommu_opts: u32,
        pub max_vcpus: u32,
        pub max_evtchn_port: u32,
        /// < 0: the hypervisor's default.
        pub max_grant_frames: i32,
        /// < 0: the hypervisor's default.
        pub max_maptrack_frames: i32,
        /// `XEN_DOMCTL_GRANT_version(v)` in the low 4 bits.
        pub grant_opts: u32,
        pub vmtrace_size: u32,
        pub cpupool_id: u32,
        pub arch: xen_arch_domainconfig,
    }
}
layout!(layout_xen_domctl_createdomain, xen_domctl_createdomain, 68, ssidref @ 0, handle @ 4,
    flags @ 20, iommu_opts @ 24, max_vcpus @ 28, max_evtchn_port @ 32, max_grant_frames @ 36,
    max_maptrack_frames @ 40, grant_opts @ 44, vmtrace_size @ 48, cpupool_id @ 52, arch @ 56);

abi! {
    /// `struct xen_domctl_getdomaininfo` (domctl.h).
    pub struct xen_domctl_getdomaininfo {
        pub domain: u16,
        pub pad1: u16,
        /// `XEN_DOMINF_*`, the shutdown code at `XEN_DOMINF_shutdownshift`.
        pub flags: u32,
        pub tot_pages: u64,
        pub max_pages: u64,
        pub outstanding_pages: u64,
        pub shr_pages: u64,
        pub paged_pages: u64,
        /// GMFN of the shared_info page.
        pub shared_info_frame: u64,
        pub cpu_time: u64,
        pub nr_online_vcpus: u32,
        pub max_vcpu_id: u32,
        pub ssidref: u32,
        pub handle: [u8; 16],
        pub cpupool: u32,
        pub gpaddr_bits: u8,
        pub pad2: [u8; 7],
        pub arch_config: xen_arch_domainconfig,
        pub _pad3: u32,
    }
}
layout!(layout_xen_domctl_getdomaininfo, xen_domctl_getdomaininfo, 120, domain @ 0, pad1 @ 2,
    flags @ 4, tot_pages @ 8, max_pages @ 16, outstanding_pages @ 24, shr_pages @ 32,
    paged_pages @ 40, shared_info_frame @ 48, cpu_time @ 56, nr_online_vcpus @ 64,
    max_vcpu_id @ 68, ssidref @ 72, handle @ 76, cpupool @ 92, gpaddr_bits @ 96, pad2 @ 97,
    arch_config @ 104);

abi! {
    /// `struct xen_domctl_max_mem` (domctl.h).
    pub struct xen_domctl_max_mem {
        pub max_memkb: u64,
    }
}
layout!(layout_xen_domctl_max_mem, xen_domctl_max_mem, 8, max_memkb @ 0);

abi! {
    /// `struct xen_domctl_paging_mempool` (domctl.h): `XEN_DOMCTL_{get,set}_paging_mempool_size`.
    pub struct xen_domctl_paging_mempool {
        /// Size in bytes (a multiple of the page size).
        pub size: u64,
    }
}
layout!(layout_xen_domctl_paging_mempool, xen_domctl_paging_mempool, 8, size @ 0);

abi! {
    /// `struct xen_domctl_max_vcpus` (domctl.h).
    pub struct xen_domctl_max_vcpus {
        pub max: u32,
    }
}
layout!(layout_xen_domctl_max_vcpus, xen_domctl_max_vcpus, 4, max @ 0);

abi! {
    /// `struct xen_domctl_vcpucontext` (domctl.h): set/getvcpucontext.
    pub struct xen_domctl_vcpucontext {
        /// IN: the vCPU.
        pub vcpu: u32,
        pub _pad: u32,
        /// `XEN_GUEST_HANDLE_64(vcpu_guest_context_t)`: IN/OUT (NULL for set: reset the vCPU).
        pub ctxt: u64,
    }
}
layout!(layout_xen_domctl_vcpucontext, xen_domctl_vcpucontext, 16, vcpu @ 0, ctxt @ 8);

abi! {
    /// `struct xen_domctl_getvcpuinfo` (domctl.h).
    pub struct xen_domctl_getvcpuinfo {
        /// IN.
        pub vcpu: u32,
        /// OUT: not VPF_down.
        pub online: u8,
        /// OUT: waiting for an event.
        pub blocked: u8,
        /// OUT: on a pCPU now.
        pub running: u8,
        pub _pad: u8,
        /// OUT: nanoseconds it has run.
        pub cpu_time: u64,
        /// OUT: the pCPU it runs on.
        pub cpu: u32,
        pub _pad1: u32,
    }
}
layout!(layout_xen_domctl_getvcpuinfo, xen_domctl_getvcpuinfo, 24, vcpu @ 0, online @ 4,
    blocked @ 5, running @ 6, cpu_time @ 8, cpu @ 16);

abi! {
    /// `struct xen_domctl_address_size` (domctl.h).
    pub struct xen_domctl_address_size {
        /// 32 or 64.
        pub size: u32,
    }
}
layout!(layout_xen_domctl_address_size, xen_domctl_address_size, 4, size @ 0);

abi! {
    /// `struct xen_domctl_cacheflush` (domctl.h): clean and invalidate a range of guest frames.
    pub struct xen_domctl_cacheflush {
        pub start_pfn: u64,
        pub nr_pfns: u64,
    }
}
layout!(layout_xen_domctl_cacheflush, xen_domctl_cacheflush, 16, start_pfn @ 0, nr_pfns @ 8);

abi! {
    /// `struct xen_domctl` (domctl.h): the header, then the 128-byte union `u` (raw here; read
    /// and write members with the accessors).
    pub struct xen_domctl {
        /// `XEN_DOMCTL_*`.
        pub cmd: u32,
        /// Must be `XEN_DOMCTL_INTERFACE_VERSION`.
        pub interface_version: u32,
        /// `domid_t`: the target (IN/OUT for createdomain and getdomaininfo).
        pub domain: u16,
        pub _pad: [u16; 3],
        pub u: [u64; 16],
    }
}
layout!(layout_xen_domctl, xen_domctl, 144, cmd @ 0, interface_version @ 4, domain @ 8,
    _pad @ 10, u @ 16);

impl xen_domctl {
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

const _: () = assert!(core::mem::size_of::<xen_domctl_createdomain>() <= 128);
const _: () = assert!(core::mem::size_of::<xen_domctl_getdomaininfo>() <= 128);

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromZeros;

    #[test]
    fn union_round_trip() {
        let mut op = xen_domctl::new_zeroed();
        let mut c = xen_domctl_createdomain::new_zeroed();
        c.max_vcpus = 4;
        c.arch.gic_version = XEN_DOMCTL_CONFIG_GIC_V3;
        c.arch.nr_spis = 64;
        op.set(&c);
        assert_eq!(op.get::<xen_domctl_createdomain>(), c);
        assert_eq!(op.as_bytes()[16 + 28], 4);
        assert_eq!(op.as_bytes()[16 + 56], XEN_DOMCTL_CONFIG_GIC_V3);
    }
}
