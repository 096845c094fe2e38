//! Memory operations of `xen/include/public/memory.h` (`HYPERVISOR_memory_op(cmd, arg)`).

use crate::arch_arm::{xen_pfn_t, xen_ulong_t, GuestHandle};
use crate::xen::domid_t;

/// `XENMEM_increase_reservation` (memory.h).
pub const XENMEM_increase_reservation: u32 = 0;
/// `XENMEM_decrease_reservation` (memory.h).
pub const XENMEM_decrease_reservation: u32 = 1;
/// `XENMEM_maximum_ram_page` (memory.h).
pub const XENMEM_maximum_ram_page: u32 = 2;
/// `XENMEM_current_reservation` (memory.h).
pub const XENMEM_current_reservation: u32 = 3;
/// `XENMEM_maximum_reservation` (memory.h).
pub const XENMEM_maximum_reservation: u32 = 4;
/// `XENMEM_machphys_mfn_list` (memory.h).
pub const XENMEM_machphys_mfn_list: u32 = 5;
/// `XENMEM_populate_physmap` (memory.h).
pub const XENMEM_populate_physmap: u32 = 6;
/// `XENMEM_add_to_physmap` (memory.h).
pub const XENMEM_add_to_physmap: u32 = 7;
/// `XENMEM_memory_map` (memory.h).
pub const XENMEM_memory_map: u32 = 9;
/// `XENMEM_machine_memory_map` (memory.h).
pub const XENMEM_machine_memory_map: u32 = 10;
/// `XENMEM_exchange` (memory.h).
pub const XENMEM_exchange: u32 = 11;
/// `XENMEM_machphys_mapping` (memory.h).
pub const XENMEM_machphys_mapping: u32 = 12;
/// `XENMEM_set_memory_map` (memory.h).
pub const XENMEM_set_memory_map: u32 = 13;
/// `XENMEM_maximum_gpfn` (memory.h).
pub const XENMEM_maximum_gpfn: u32 = 14;
/// `XENMEM_remove_from_physmap` (memory.h).
pub const XENMEM_remove_from_physmap: u32 = 15;
/// `XENMEM_set_pod_target` (memory.h).
pub const XENMEM_set_pod_target: u32 = 16;
/// `XENMEM_get_pod_target` (memory.h).
pub const XENMEM_get_pod_target: u32 = 17;
/// `XENMEM_get_sharing_freed_pages` (memory.h).
pub const XENMEM_get_sharing_freed_pages: u32 = 18;
/// `XENMEM_get_sharing_shared_pages` (memory.h).
pub const XENMEM_get_sharing_shared_pages: u32 = 19;
/// `XENMEM_paging_op` (memory.h).
pub const XENMEM_paging_op: u32 = 20;
/// `XENMEM_access_op` (memory.h).
pub const XENMEM_access_op: u32 = 21;
/// `XENMEM_sharing_op` (memory.h).
pub const XENMEM_sharing_op: u32 = 22;
/// `XENMEM_add_to_physmap_batch` (memory.h).
pub const XENMEM_add_to_physmap_batch: u32 = 23;
/// `XENMEM_claim_pages` (memory.h).
pub const XENMEM_claim_pages: u32 = 24;
/// `XENMEM_machphys_compat_mfn_list` (memory.h).
pub const XENMEM_machphys_compat_mfn_list: u32 = 25;
/// `XENMEM_get_vnumainfo` (memory.h).
pub const XENMEM_get_vnumainfo: u32 = 26;
/// `XENMEM_reserved_device_memory_map` (memory.h).
pub const XENMEM_reserved_device_memory_map: u32 = 27;
/// `XENMEM_acquire_resource` (memory.h).
pub const XENMEM_acquire_resource: u32 = 28;

/// `XENMEMF_populate_on_demand` (memory.h).
pub const XENMEMF_populate_on_demand: u32 = 1 << 16;
/// `XENMEMF_exact_node_request` (memory.h).
pub const XENMEMF_exact_node_request: u32 = 1 << 17;
/// `XENMEMF_vnode` (memory.h).
pub const XENMEMF_vnode: u32 = 1 << 18;
/// `XENMEMF_get_address_bits(x)` (memory.h).
pub const fn XENMEMF_get_address_bits(x: u32) -> u32 {
    x & 0xff
}
/// `XENMEMF_get_node(x)` (memory.h).
pub const fn XENMEMF_get_node(x: u32) -> u32 {
    ((x >> 8).wrapping_sub(1)) & 0xff
}

/// `XENMAPSPACE_shared_info` (memory.h).
pub const XENMAPSPACE_shared_info: u32 = 0;
/// `XENMAPSPACE_grant_table` (memory.h).
pub const XENMAPSPACE_grant_table: u32 = 1;
/// `XENMAPSPACE_gmfn` (memory.h).
pub const XENMAPSPACE_gmfn: u32 = 2;
/// `XENMAPSPACE_gmfn_range`: `XENMEM_add_to_physmap` only (memory.h).
pub const XENMAPSPACE_gmfn_range: u32 = 3;
/// `XENMAPSPACE_gmfn_foreign`: a frame of another domain (memory.h).
pub const XENMAPSPACE_gmfn_foreign: u32 = 4;
/// `XENMAPSPACE_dev_mmio`: ARM only (memory.h).
pub const XENMAPSPACE_dev_mmio: u32 = 5;
/// `XENMAPIDX_grant_table_status`: idx flag selecting a v2 status frame (memory.h).
pub const XENMAPIDX_grant_table_status: u64 = 0x8000_0000;

/// `XENMEM_resource_ioreq_server` (memory.h).
pub const XENMEM_resource_ioreq_server: u16 = 0;
/// `XENMEM_resource_grant_table` (memory.h).
pub const XENMEM_resource_grant_table: u16 = 1;
/// `XENMEM_resource_vmtrace_buf` (memory.h).
pub const XENMEM_resource_vmtrace_buf: u16 = 2;
/// `XENMEM_resource_grant_table_id_shared` (memory.h).
pub const XENMEM_resource_grant_table_id_shared: u32 = 0;
/// `XENMEM_resource_grant_table_id_status` (memory.h).
pub const XENMEM_resource_grant_table_id_status: u32 = 1;

abi! {
    /// `struct xen_memory_reservation` (memory.h).
    pub struct xen_memory_reservation {
        /// `XEN_GUEST_HANDLE(xen_pfn_t)`.
        pub extent_start: GuestHandle,
        pub nr_extents: xen_ulong_t,
        pub extent_order: u32,
        /// `XENMEMF_*`.
        pub mem_flags: u32,
        pub domid: domid_t,
        pub _pad0: [u16; 3],
    }
}
layout!(layout_xen_memory_reservation, xen_memory_reservation, 32, extent_start @ 0,
    nr_extents @ 8, extent_order @ 16, mem_flags @ 20, domid @ 24);

abi! {
    /// `struct xen_memory_exchange` (memory.h).
    pub struct xen_memory_exchange {
        pub r#in: xen_memory_reservation,
        pub out: xen_memory_reservation,
        pub nr_exchanged: xen_ulong_t,
    }
}
layout!(layout_xen_memory_exchange, xen_memory_exchange, 72, r#in @ 0, out @ 32,
    nr_exchanged @ 64);

abi! {
    /// `struct xen_memory_domain` (memory.h).
    pub struct xen_memory_domain {
        pub domid: domid_t,
    }
}
layout!(layout_xen_memory_domain, xen_memory_domain, 2, domid @ 0);

abi! {
    /// `struct xen_add_to_physmap` (memory.h).
    pub struct xen_add_to_physmap {
        pub domid: domid_t,
        /// Number of pages for `XENMAPSPACE_gmfn_range`.
        pub size: u16,
        /// `XENMAPSPACE_*`.
        pub space: u32,
        /// Index into the space (`XENMAPIDX_grant_table_status` flag for grant tables).
        pub idx: xen_ulong_t,
        /// Guest frame to map at.
        pub gpfn: xen_pfn_t,
    }
}
layout!(layout_xen_add_to_physmap, xen_add_to_physmap, 24, domid @ 0, size @ 2, space @ 4,
    idx @ 8, gpfn @ 16);

abi! {
    /// `struct xen_add_to_physmap_batch` (memory.h). `u` is the union
    /// `xen_add_to_physmap_batch_extra` (`foreign_domid` / `res0`).
    pub struct xen_add_to_physmap_batch {
        pub domid: domid_t,
        pub space: u16,
        pub size: u16,
        pub u: u16,
        /// `XEN_GUEST_HANDLE(xen_ulong_t)`.
        pub idxs: GuestHandle,
        /// `XEN_GUEST_HANDLE(xen_pfn_t)`.
        pub gpfns: GuestHandle,
        /// OUT: `XEN_GUEST_HANDLE(int)`, one errno per entry.
        pub errs: GuestHandle,
    }
}
layout!(layout_xen_add_to_physmap_batch, xen_add_to_physmap_batch, 32, domid @ 0, space @ 2,
    size @ 4, u @ 6, idxs @ 8, gpfns @ 16, errs @ 24);

abi! {
    /// `struct xen_remove_from_physmap` (memory.h).
    pub struct xen_remove_from_physmap {
        pub domid: domid_t,
        pub _pad0: [u16; 3],
        pub gpfn: xen_pfn_t,
    }
}
layout!(layout_xen_remove_from_physmap, xen_remove_from_physmap, 16, domid @ 0, gpfn @ 8);

abi! {
    /// `struct xen_memory_map` (memory.h).
    pub struct xen_memory_map {
        pub nr_entries: u32,
        pub _pad0: u32,
        /// `XEN_GUEST_HANDLE(void)`.
        pub buffer: GuestHandle,
    }
}
layout!(layout_xen_memory_map, xen_memory_map, 16, nr_entries @ 0, buffer @ 8);

abi! {
    /// `struct xen_mem_acquire_resource` (memory.h).
    pub struct xen_mem_acquire_resource {
        pub domid: domid_t,
        /// `XENMEM_resource_*`.
        pub r#type: u16,
        pub id: u32,
        /// IN/OUT.
        pub nr_frames: u32,
        pub pad: u32,
        pub frame: u64,
        /// `XEN_GUEST_HANDLE(xen_pfn_t)`.
        pub frame_list: GuestHandle,
    }
}
layout!(layout_xen_mem_acquire_resource, xen_mem_acquire_resource, 32, domid @ 0, r#type @ 2,
    id @ 4, nr_frames @ 8, pad @ 12, frame @ 16, frame_list @ 24);
