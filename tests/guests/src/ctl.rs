//! The control domain's side of the toolstack ABI, shared by the test guests that build and
//! destroy domains (`domctl`, `domu`): `domctl` / `sysctl` structures and calls, the host's
//! free memory, and the memory ops a toolstack uses on another domain (populate / decrease a
//! reservation, foreign mappings, remove_from_physmap).
//!
//! Typed in from Xen 4.17's `xen/include/public/{domctl,sysctl,memory,arch-arm}.h`,
//! independently of the hypervisor's `crates/xen-abi` (the guests also run as dom0 on real Xen).
#![allow(non_upper_case_globals, non_camel_case_types)]

use crate::xen::{__HYPERVISOR_memory_op, hypercall, DOMID_SELF};
use crate::{delay_us, Board};

// xen.h
pub const __HYPERVISOR_sysctl: u64 = 35;
pub const __HYPERVISOR_domctl: u64 = 36;
// domctl.h / sysctl.h (Xen 4.17)
pub const XEN_DOMCTL_INTERFACE_VERSION: u32 = 0x15;
pub const XEN_SYSCTL_INTERFACE_VERSION: u32 = 0x15;
pub const XEN_DOMCTL_createdomain: u32 = 1;
pub const XEN_DOMCTL_destroydomain: u32 = 2;
pub const XEN_DOMCTL_getdomaininfo: u32 = 5;
pub const XEN_DOMCTL_max_mem: u32 = 11;
pub const XEN_SYSCTL_physinfo: u32 = 3;
pub const XEN_DOMCTL_CDF_hvm: u32 = 1 << 0;
pub const XEN_DOMCTL_CDF_hap: u32 = 1 << 1;
// memory.h
pub const XENMEM_decrease_reservation: u64 = 1;
pub const XENMEM_populate_physmap: u64 = 6;
pub const XENMEM_remove_from_physmap: u64 = 15;
pub const XENMEM_add_to_physmap_batch: u64 = 23;
pub const XENMAPSPACE_gmfn_foreign: u16 = 4;

/// `struct xen_arch_domainconfig` (arch-arm.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct xen_arch_domainconfig {
    pub gic_version: u8,
    pub _pad: u8,
    pub tee_type: u16,
    pub nr_spis: u32,
    pub clock_frequency: u32,
}

/// `struct xen_domctl_createdomain` (domctl.h, 4.17).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct xen_domctl_createdomain {
    pub ssidref: u32,
    pub handle: [u8; 16],
    pub flags: u32,
    pub iommu_opts: u32,
    pub max_vcpus: u32,
    pub max_evtchn_port: u32,
    pub max_grant_frames: i32,
    pub max_maptrack_frames: i32,
    pub grant_opts: u32,
    pub vmtrace_size: u32,
    pub cpupool_id: u32,
    pub arch: xen_arch_domainconfig,
}

/// `struct xen_domctl_getdomaininfo` (domctl.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct xen_domctl_getdomaininfo {
    pub domain: u16,
    pub pad1: u16,
    pub flags: u32,
    pub tot_pages: u64,
    pub max_pages: u64,
    pub outstanding_pages: u64,
    pub shr_pages: u64,
    pub paged_pages: u64,
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
}

/// `struct xen_sysctl_physinfo` (sysctl.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct xen_sysctl_physinfo {
    pub threads_per_core: u32,
    pub cores_per_socket: u32,
    pub nr_cpus: u32,
    pub max_cpu_id: u32,
    pub nr_nodes: u32,
    pub max_node_id: u32,
    pub cpu_khz: u32,
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

/// `struct xen_domctl` (domctl.h): header and the 128-byte union.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct xen_domctl {
    pub cmd: u32,
    pub interface_version: u32,
    pub domain: u16,
    pub _pad: [u16; 3],
    pub u: [u8; 128],
}

/// `struct xen_sysctl` (sysctl.h).
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct xen_sysctl {
    pub cmd: u32,
    pub interface_version: u32,
    pub u: [u8; 128],
}

/// `struct xen_memory_reservation` (memory.h).
#[repr(C)]
pub struct xen_memory_reservation {
    pub extent_start: u64,
    pub nr_extents: u64,
    pub extent_order: u32,
    pub mem_flags: u32,
    pub domid: u16,
}

/// `struct xen_add_to_physmap_batch` (memory.h).
#[repr(C)]
pub struct xen_add_to_physmap_batch {
    pub domid: u16,
    pub space: u16,
    pub size: u16,
    pub foreign_domid: u16,
    pub idxs: u64,
    pub gpfns: u64,
    pub errs: u64,
}

/// `struct xen_remove_from_physmap` (memory.h).
#[repr(C)]
pub struct xen_remove_from_physmap {
    pub domid: u16,
    pub gpfn: u64,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<xen_arch_domainconfig>() == 12);
    assert!(size_of::<xen_domctl_createdomain>() == 68);
    assert!(offset_of!(xen_domctl_createdomain, arch) == 56);
    assert!(size_of::<xen_domctl_getdomaininfo>() == 120);
    assert!(offset_of!(xen_domctl_getdomaininfo, shared_info_frame) == 48);
    assert!(offset_of!(xen_domctl_getdomaininfo, cpu_time) == 56);
    assert!(offset_of!(xen_domctl_getdomaininfo, nr_online_vcpus) == 64);
    assert!(offset_of!(xen_domctl_getdomaininfo, gpaddr_bits) == 96);
    assert!(offset_of!(xen_domctl_getdomaininfo, arch_config) == 104);
    assert!(size_of::<xen_sysctl_physinfo>() == 112);
    assert!(offset_of!(xen_sysctl_physinfo, free_pages) == 48);
    assert!(size_of::<xen_domctl>() == 144);
    assert!(offset_of!(xen_domctl, u) == 16);
    assert!(size_of::<xen_sysctl>() == 136);
    assert!(offset_of!(xen_sysctl, u) == 8);
    assert!(size_of::<xen_memory_reservation>() == 32);
    assert!(size_of::<xen_add_to_physmap_batch>() == 32);
    assert!(size_of::<xen_remove_from_physmap>() == 16);
};

/// Copies `v` into the start of a union.
pub fn put<T: Copy>(u: &mut [u8; 128], v: &T) {
    const { assert!(core::mem::size_of::<T>() <= 128) };
    // SAFETY: `T` fits in the 128 bytes (checked above); an unaligned write needs no alignment.
    unsafe { core::ptr::write_unaligned(u.as_mut_ptr() as *mut T, *v) }
}

/// Reads a `T` from the start of a union. `T` must be plain integers (and arrays of them),
/// valid for any bit pattern, as every ABI structure here is.
pub fn get<T: Copy + Default>(u: &[u8; 128]) -> T {
    const { assert!(core::mem::size_of::<T>() <= 128) };
    // SAFETY: `T` fits in the 128 bytes; the callers' `T`s are valid for any bit pattern; an
    // unaligned read needs no alignment.
    unsafe { core::ptr::read_unaligned(u.as_ptr() as *const T) }
}

/// `domctl(op)` as it is.
pub fn domctl_raw(op: &mut xen_domctl) -> i64 {
    hypercall(__HYPERVISOR_domctl, op as *mut _ as u64, 0, 0, 0, 0)
}

/// A domctl `cmd` on `domain` with union member `arg`: (result, the structure afterwards).
pub fn domctl<T: Copy>(cmd: u32, domain: u16, arg: &T) -> (i64, xen_domctl) {
    let mut op = xen_domctl {
        cmd,
        interface_version: XEN_DOMCTL_INTERFACE_VERSION,
        domain,
        _pad: [0; 3],
        u: [0; 128],
    };
    put(&mut op.u, arg);
    let r = domctl_raw(&mut op);
    (r, op)
}

/// A sysctl `cmd` with union member `arg`: (result, the structure afterwards).
pub fn sysctl<T: Copy>(cmd: u32, arg: &T) -> (i64, xen_sysctl) {
    let mut op = xen_sysctl {
        cmd,
        interface_version: XEN_SYSCTL_INTERFACE_VERSION,
        u: [0; 128],
    };
    put(&mut op.u, arg);
    let r = hypercall(__HYPERVISOR_sysctl, &mut op as *mut _ as u64, 0, 0, 0, 0);
    (r, op)
}

/// `XEN_SYSCTL_physinfo`: (result, the answer).
pub fn physinfo() -> (i64, xen_sysctl_physinfo) {
    let (r, op) = sysctl(XEN_SYSCTL_physinfo, &0u64);
    (r, get(&op.u))
}

/// The host's free pages now.
pub fn free_pages() -> u64 {
    physinfo().1.free_pages
}

/// Free pages once they settle at `want` (Xen frees a destroyed domain's memory after an RCU
/// grace period): up to five seconds.
pub fn settled_free_pages(want: u64) -> u64 {
    let mut f = free_pages();
    for _ in 0..500 {
        if f == want {
            break;
        }
        delay_us(10_000);
        f = free_pages();
    }
    f
}

/// `XENMEM_populate_physmap` / `decrease_reservation` (`op`) of `gfns` (extents of `order`)
/// in `domid`: the extents done or -errno.
pub fn reservation(op: u64, domid: u16, gfns: &mut [u64], order: u32) -> i64 {
    let mut r = xen_memory_reservation {
        extent_start: gfns.as_mut_ptr() as u64,
        nr_extents: gfns.len() as u64,
        extent_order: order,
        mem_flags: 0,
        domid,
    };
    hypercall(__HYPERVISOR_memory_op, op, &mut r as *mut _ as u64, 0, 0, 0)
}

/// `XENMEM_add_to_physmap_batch(gmfn_foreign)` of frames `idxs` of `foreign` at our `gpfns`,
/// each frame's result in `errs`.
pub fn map_foreign(foreign: u16, idxs: &[u64], gpfns: &[u64], errs: &mut [i32]) -> i64 {
    let mut b = xen_add_to_physmap_batch {
        domid: DOMID_SELF,
        space: XENMAPSPACE_gmfn_foreign,
        size: idxs.len() as u16,
        foreign_domid: foreign,
        idxs: idxs.as_ptr() as u64,
        gpfns: gpfns.as_ptr() as u64,
        errs: errs.as_mut_ptr() as u64,
    };
    hypercall(
        __HYPERVISOR_memory_op,
        XENMEM_add_to_physmap_batch,
        &mut b as *mut _ as u64,
        0,
        0,
        0,
    )
}

/// `XENMEM_remove_from_physmap` of our frame `gpfn`.
pub fn unmap(gpfn: u64) -> i64 {
    let mut x = xen_remove_from_physmap {
        domid: DOMID_SELF,
        gpfn,
    };
    hypercall(
        __HYPERVISOR_memory_op,
        XENMEM_remove_from_physmap,
        &mut x as *mut _ as u64,
        0,
        0,
        0,
    )
}

/// The first extended region of the `/hypervisor` node (`reg[1]`): guest frames with nothing
/// behind them, where Linux maps foreign pages.
pub fn extended_region(b: &Board) -> Option<(u64, u64)> {
    let fdt = b.fdt();
    let n = fdt.find_node("/hypervisor")?;
    let r = n.reg()?.nth(1)?;
    Some((r.starting_address as u64, r.size.unwrap_or(0) as u64))
}
