//! Grant-table operations and the v1 grant entry of `xen/include/public/grant_table.h`
//! (`HYPERVISOR_grant_table_op(cmd, uop, count)`).

use crate::arch_arm::{xen_pfn_t, GuestHandle};
use crate::xen::domid_t;

/// `grant_ref_t` (grant_table.h).
pub type grant_ref_t = u32;
/// `grant_handle_t` (grant_table.h).
pub type grant_handle_t = u32;
/// `grant_status_t`: v2 status entry (grant_table.h).
pub type grant_status_t = u16;

abi! {
    /// `struct grant_entry_v1` (grant_table.h).
    pub struct grant_entry_v1 {
        /// `GTF_*`.
        pub flags: u16,
        /// Domain being granted access.
        pub domid: domid_t,
        /// Frame (GFN) being granted.
        pub frame: u32,
    }
}
layout!(layout_grant_entry_v1, grant_entry_v1, 8, flags @ 0, domid @ 2, frame @ 4);

/// `GNTTAB_NR_RESERVED_ENTRIES` (grant_table.h).
pub const GNTTAB_NR_RESERVED_ENTRIES: u32 = 8;
/// `GNTTAB_RESERVED_CONSOLE` (grant_table.h).
pub const GNTTAB_RESERVED_CONSOLE: u32 = 0;
/// `GNTTAB_RESERVED_XENSTORE` (grant_table.h).
pub const GNTTAB_RESERVED_XENSTORE: u32 = 1;

/// `GTF_invalid` (grant_table.h).
pub const GTF_invalid: u16 = 0;
/// `GTF_permit_access` (grant_table.h).
pub const GTF_permit_access: u16 = 1;
/// `GTF_accept_transfer` (grant_table.h).
pub const GTF_accept_transfer: u16 = 2;
/// `GTF_transitive` (grant_table.h).
pub const GTF_transitive: u16 = 3;
/// `GTF_type_mask` (grant_table.h).
pub const GTF_type_mask: u16 = 3;
/// `_GTF_readonly` (grant_table.h).
pub const _GTF_readonly: u16 = 2;
/// `GTF_readonly` (grant_table.h).
pub const GTF_readonly: u16 = 1 << _GTF_readonly;
/// `_GTF_reading` (grant_table.h).
pub const _GTF_reading: u16 = 3;
/// `GTF_reading` (grant_table.h).
pub const GTF_reading: u16 = 1 << _GTF_reading;
/// `_GTF_writing` (grant_table.h).
pub const _GTF_writing: u16 = 4;
/// `GTF_writing` (grant_table.h).
pub const GTF_writing: u16 = 1 << _GTF_writing;
/// `_GTF_PWT` (grant_table.h).
pub const _GTF_PWT: u16 = 5;
/// `GTF_PWT` (grant_table.h).
pub const GTF_PWT: u16 = 1 << _GTF_PWT;
/// `_GTF_PCD` (grant_table.h).
pub const _GTF_PCD: u16 = 6;
/// `GTF_PCD` (grant_table.h).
pub const GTF_PCD: u16 = 1 << _GTF_PCD;
/// `_GTF_PAT` (grant_table.h).
pub const _GTF_PAT: u16 = 7;
/// `GTF_PAT` (grant_table.h).
pub const GTF_PAT: u16 = 1 << _GTF_PAT;
/// `_GTF_sub_page` (grant_table.h).
pub const _GTF_sub_page: u16 = 8;
/// `GTF_sub_page` (grant_table.h).
pub const GTF_sub_page: u16 = 1 << _GTF_sub_page;
/// `_GTF_transfer_committed` (grant_table.h).
pub const _GTF_transfer_committed: u16 = 2;
/// `GTF_transfer_committed` (grant_table.h).
pub const GTF_transfer_committed: u16 = 1 << _GTF_transfer_committed;
/// `_GTF_transfer_completed` (grant_table.h).
pub const _GTF_transfer_completed: u16 = 3;
/// `GTF_transfer_completed` (grant_table.h).
pub const GTF_transfer_completed: u16 = 1 << _GTF_transfer_completed;

/// `GNTTABOP_map_grant_ref` (grant_table.h).
pub const GNTTABOP_map_grant_ref: u32 = 0;
/// `GNTTABOP_unmap_grant_ref` (grant_table.h).
pub const GNTTABOP_unmap_grant_ref: u32 = 1;
/// `GNTTABOP_setup_table` (grant_table.h).
pub const GNTTABOP_setup_table: u32 = 2;
/// `GNTTABOP_dump_table` (grant_table.h).
pub const GNTTABOP_dump_table: u32 = 3;
/// `GNTTABOP_transfer` (grant_table.h).
pub const GNTTABOP_transfer: u32 = 4;
/// `GNTTABOP_copy` (grant_table.h).
pub const GNTTABOP_copy: u32 = 5;
/// `GNTTABOP_query_size` (grant_table.h).
pub const GNTTABOP_query_size: u32 = 6;
/// `GNTTABOP_unmap_and_replace` (grant_table.h).
pub const GNTTABOP_unmap_and_replace: u32 = 7;
/// `GNTTABOP_set_version` (grant_table.h).
pub const GNTTABOP_set_version: u32 = 8;
/// `GNTTABOP_get_status_frames` (grant_table.h).
pub const GNTTABOP_get_status_frames: u32 = 9;
/// `GNTTABOP_get_version` (grant_table.h).
pub const GNTTABOP_get_version: u32 = 10;
/// `GNTTABOP_swap_grant_ref` (grant_table.h).
pub const GNTTABOP_swap_grant_ref: u32 = 11;
/// `GNTTABOP_cache_flush` (grant_table.h).
pub const GNTTABOP_cache_flush: u32 = 12;

/// `_GNTMAP_device_map` (grant_table.h).
pub const _GNTMAP_device_map: u32 = 0;
/// `GNTMAP_device_map` (grant_table.h).
pub const GNTMAP_device_map: u32 = 1 << _GNTMAP_device_map;
/// `_GNTMAP_host_map` (grant_table.h).
pub const _GNTMAP_host_map: u32 = 1;
/// `GNTMAP_host_map` (grant_table.h).
pub const GNTMAP_host_map: u32 = 1 << _GNTMAP_host_map;
/// `_GNTMAP_readonly` (grant_table.h).
pub const _GNTMAP_readonly: u32 = 2;
/// `GNTMAP_readonly` (grant_table.h).
pub const GNTMAP_readonly: u32 = 1 << _GNTMAP_readonly;
/// `_GNTMAP_application_map` (grant_table.h).
pub const _GNTMAP_application_map: u32 = 3;
/// `GNTMAP_application_map` (grant_table.h).
pub const GNTMAP_application_map: u32 = 1 << _GNTMAP_application_map;
/// `_GNTMAP_contains_pte` (grant_table.h).
pub const _GNTMAP_contains_pte: u32 = 4;
/// `GNTMAP_contains_pte` (grant_table.h).
pub const GNTMAP_contains_pte: u32 = 1 << _GNTMAP_contains_pte;
/// `_GNTMAP_guest_avail0` (grant_table.h).
pub const _GNTMAP_guest_avail0: u32 = 16;
/// `GNTMAP_guest_avail_mask` (grant_table.h).
pub const GNTMAP_guest_avail_mask: u32 = !0u32 << _GNTMAP_guest_avail0;

/// `_GNTCOPY_source_gref` (grant_table.h).
pub const _GNTCOPY_source_gref: u16 = 0;
/// `GNTCOPY_source_gref` (grant_table.h).
pub const GNTCOPY_source_gref: u16 = 1 << _GNTCOPY_source_gref;
/// `_GNTCOPY_dest_gref` (grant_table.h).
pub const _GNTCOPY_dest_gref: u16 = 1;
/// `GNTCOPY_dest_gref` (grant_table.h).
pub const GNTCOPY_dest_gref: u16 = 1 << _GNTCOPY_dest_gref;

/// `GNTTAB_CACHE_CLEAN` (grant_table.h).
pub const GNTTAB_CACHE_CLEAN: u32 = 1 << 0;
/// `GNTTAB_CACHE_INVAL` (grant_table.h).
pub const GNTTAB_CACHE_INVAL: u32 = 1 << 1;
/// `GNTTAB_CACHE_SOURCE_GREF` (grant_table.h).
pub const GNTTAB_CACHE_SOURCE_GREF: u32 = 1 << 31;

/// `GNTST_okay` (grant_table.h).
pub const GNTST_okay: i16 = 0;
/// `GNTST_general_error` (grant_table.h).
pub const GNTST_general_error: i16 = -1;
/// `GNTST_bad_domain` (grant_table.h).
pub const GNTST_bad_domain: i16 = -2;
/// `GNTST_bad_gntref` (grant_table.h).
pub const GNTST_bad_gntref: i16 = -3;
/// `GNTST_bad_handle` (grant_table.h).
pub const GNTST_bad_handle: i16 = -4;
/// `GNTST_bad_virt_addr` (grant_table.h).
pub const GNTST_bad_virt_addr: i16 = -5;
/// `GNTST_bad_dev_addr` (grant_table.h).
pub const GNTST_bad_dev_addr: i16 = -6;
/// `GNTST_no_device_space` (grant_table.h).
pub const GNTST_no_device_space: i16 = -7;
/// `GNTST_permission_denied` (grant_table.h).
pub const GNTST_permission_denied: i16 = -8;
/// `GNTST_bad_page` (grant_table.h).
pub const GNTST_bad_page: i16 = -9;
/// `GNTST_bad_copy_arg` (grant_table.h).
pub const GNTST_bad_copy_arg: i16 = -10;
/// `GNTST_address_too_big` (grant_table.h).
pub const GNTST_address_too_big: i16 = -11;
/// `GNTST_eagain` (grant_table.h).
pub const GNTST_eagain: i16 = -12;
/// `GNTST_no_space` (grant_table.h).
pub const GNTST_no_space: i16 = -13;

abi! {
    /// `struct gnttab_map_grant_ref` (grant_table.h).
    pub struct gnttab_map_grant_ref {
        /// IN: guest physical address to map at (ARM: an IPA, `GNTMAP_host_map`).
        pub host_addr: u64,
        /// IN: `GNTMAP_*`.
        pub flags: u32,
        pub r#ref: grant_ref_t,
        pub dom: domid_t,
        /// OUT: `GNTST_*`.
        pub status: i16,
        /// OUT.
        pub handle: grant_handle_t,
        /// OUT.
        pub dev_bus_addr: u64,
    }
}
layout!(layout_gnttab_map_grant_ref, gnttab_map_grant_ref, 32, host_addr @ 0, flags @ 8,
    r#ref @ 12, dom @ 16, status @ 18, handle @ 20, dev_bus_addr @ 24);

abi! {
    /// `struct gnttab_unmap_grant_ref` (grant_table.h).
    pub struct gnttab_unmap_grant_ref {
        pub host_addr: u64,
        pub dev_bus_addr: u64,
        pub handle: grant_handle_t,
        /// OUT: `GNTST_*`.
        pub status: i16,
        pub _pad0: u16,
    }
}
layout!(layout_gnttab_unmap_grant_ref, gnttab_unmap_grant_ref, 24, host_addr @ 0,
    dev_bus_addr @ 8, handle @ 16, status @ 20);

abi! {
    /// `struct gnttab_setup_table` (grant_table.h).
    pub struct gnttab_setup_table {
        pub dom: domid_t,
        pub _pad0: u16,
        pub nr_frames: u32,
        /// OUT: `GNTST_*`.
        pub status: i16,
        pub _pad1: [u16; 3],
        /// OUT: `XEN_GUEST_HANDLE(xen_pfn_t)` array of `nr_frames` frames.
        pub frame_list: GuestHandle,
    }
}
layout!(layout_gnttab_setup_table, gnttab_setup_table, 24, dom @ 0, nr_frames @ 4, status @ 8,
    frame_list @ 16);

abi! {
    /// `struct gnttab_dump_table` (grant_table.h).
    pub struct gnttab_dump_table {
        pub dom: domid_t,
        /// OUT: `GNTST_*`.
        pub status: i16,
    }
}
layout!(layout_gnttab_dump_table, gnttab_dump_table, 4, dom @ 0, status @ 2);

abi! {
    /// `struct gnttab_transfer` (grant_table.h).
    pub struct gnttab_transfer {
        pub mfn: xen_pfn_t,
        pub domid: domid_t,
        pub _pad0: u16,
        pub r#ref: grant_ref_t,
        /// OUT: `GNTST_*`.
        pub status: i16,
        pub _pad1: [u16; 3],
    }
}
layout!(layout_gnttab_transfer, gnttab_transfer, 24, mfn @ 0, domid @ 8, r#ref @ 12,
    status @ 16);

abi! {
    /// `struct gnttab_copy_ptr` (grant_table.h, nested in `gnttab_copy`). The C union `u` is
    /// `ref` (`grant_ref_t`, low 32 bits, little-endian) or `gmfn` (`xen_pfn_t`).
    pub struct gnttab_copy_ptr {
        pub u: u64,
        pub domid: domid_t,
        pub offset: u16,
        pub _pad0: u32,
    }
}
layout!(layout_gnttab_copy_ptr, gnttab_copy_ptr, 16, u @ 0, domid @ 8, offset @ 10);

impl gnttab_copy_ptr {
    /// `u.ref`.
    pub fn r#ref(&self) -> grant_ref_t {
        (self.u & 0xffff_ffff) as grant_ref_t
    }
    /// `u.gmfn`.
    pub fn gmfn(&self) -> xen_pfn_t {
        self.u
    }
}

abi! {
    /// `struct gnttab_copy` (grant_table.h).
    pub struct gnttab_copy {
        pub source: gnttab_copy_ptr,
        pub dest: gnttab_copy_ptr,
        pub len: u16,
        /// `GNTCOPY_*`.
        pub flags: u16,
        /// OUT: `GNTST_*`.
        pub status: i16,
        pub _pad0: u16,
    }
}
layout!(layout_gnttab_copy, gnttab_copy, 40, source @ 0, dest @ 16, len @ 32, flags @ 34,
    status @ 36);

abi! {
    /// `struct gnttab_query_size` (grant_table.h).
    pub struct gnttab_query_size {
        pub dom: domid_t,
        pub _pad0: u16,
        /// OUT.
        pub nr_frames: u32,
        /// OUT.
        pub max_nr_frames: u32,
        /// OUT: `GNTST_*`.
        pub status: i16,
        pub _pad1: u16,
    }
}
layout!(layout_gnttab_query_size, gnttab_query_size, 16, dom @ 0, nr_frames @ 4,
    max_nr_frames @ 8, status @ 12);

abi! {
    /// `struct gnttab_unmap_and_replace` (grant_table.h).
    pub struct gnttab_unmap_and_replace {
        pub host_addr: u64,
        pub new_addr: u64,
        pub handle: grant_handle_t,
        /// OUT: `GNTST_*`.
        pub status: i16,
        pub _pad0: u16,
    }
}
layout!(layout_gnttab_unmap_and_replace, gnttab_unmap_and_replace, 24, host_addr @ 0,
    new_addr @ 8, handle @ 16, status @ 20);

abi! {
    /// `struct gnttab_set_version` (grant_table.h).
    pub struct gnttab_set_version {
        /// IN/OUT.
        pub version: u32,
    }
}
layout!(layout_gnttab_set_version, gnttab_set_version, 4, version @ 0);

abi! {
    /// `struct gnttab_get_status_frames` (grant_table.h).
    pub struct gnttab_get_status_frames {
        pub nr_frames: u32,
        pub dom: domid_t,
        /// OUT: `GNTST_*`.
        pub status: i16,
        /// OUT: `XEN_GUEST_HANDLE(uint64_t)`.
        pub frame_list: GuestHandle,
    }
}
layout!(layout_gnttab_get_status_frames, gnttab_get_status_frames, 16, nr_frames @ 0, dom @ 4,
    status @ 6, frame_list @ 8);

abi! {
    /// `struct gnttab_get_version` (grant_table.h).
    pub struct gnttab_get_version {
        pub dom: domid_t,
        pub pad: u16,
        /// OUT.
        pub version: u32,
    }
}
layout!(layout_gnttab_get_version, gnttab_get_version, 8, dom @ 0, pad @ 2, version @ 4);

abi! {
    /// `struct gnttab_swap_grant_ref` (grant_table.h).
    pub struct gnttab_swap_grant_ref {
        pub ref_a: grant_ref_t,
        pub ref_b: grant_ref_t,
        /// OUT: `GNTST_*`.
        pub status: i16,
        pub _pad0: u16,
    }
}
layout!(layout_gnttab_swap_grant_ref, gnttab_swap_grant_ref, 12, ref_a @ 0, ref_b @ 4,
    status @ 8);

abi! {
    /// `struct gnttab_cache_flush` (grant_table.h). The C union `a` is `dev_bus_addr` or
    /// `ref` (low 32 bits, little-endian).
    pub struct gnttab_cache_flush {
        pub a: u64,
        pub offset: u16,
        pub length: u16,
        /// `GNTTAB_CACHE_*`.
        pub op: u32,
    }
}
layout!(layout_gnttab_cache_flush, gnttab_cache_flush, 16, a @ 0, offset @ 8, length @ 10,
    op @ 12);
