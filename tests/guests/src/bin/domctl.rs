//! The domain lifecycle as the control domain drives it: `sysctl(XEN_SYSCTL_physinfo)` and
//! `domctl` create / max_mem / max_vcpus / getdomaininfo / pause / unpause / destroy, their
//! error answers (wrong interface version, bad configurations, missing and reserved domains;
//! -EPERM for an unprivileged caller needs a second domain and is not checked here),
//! and 100 create/destroy cycles after which the host's free memory is what it was.
//!
//! Constants and structures are typed in from Xen 4.17's `xen/include/public/domctl.h`,
//! `sysctl.h` and `arch-arm.h`, independently of the hypervisor's `crates/xen-abi` (the guest also
//! runs as dom0 on real Xen: `cargo xtask conformance --against xen --filter domctl`).
#![no_std]
#![no_main]
#![allow(non_upper_case_globals, non_camel_case_types)]

use test_guests::xen::{hypercall, EEXIST, EINVAL, ESRCH};
use test_guests::{check, delay_us, info, Board};

test_guests::entry!(main);

// xen.h
const __HYPERVISOR_sysctl: u64 = 35;
const __HYPERVISOR_domctl: u64 = 36;
const DOMID_FIRST_RESERVED: u16 = 0x7ff0;
// errno.h (not in the shared helper)
const EACCES: i64 = 13;

// domctl.h / sysctl.h (Xen 4.17)
const XEN_DOMCTL_INTERFACE_VERSION: u32 = 0x15;
const XEN_SYSCTL_INTERFACE_VERSION: u32 = 0x15;
const XEN_DOMCTL_createdomain: u32 = 1;
const XEN_DOMCTL_destroydomain: u32 = 2;
const XEN_DOMCTL_pausedomain: u32 = 3;
const XEN_DOMCTL_unpausedomain: u32 = 4;
const XEN_DOMCTL_getdomaininfo: u32 = 5;
const XEN_DOMCTL_max_mem: u32 = 11;
const XEN_DOMCTL_max_vcpus: u32 = 15;
const XEN_SYSCTL_physinfo: u32 = 3;
const XEN_DOMCTL_CDF_hvm: u32 = 1 << 0;
const XEN_DOMCTL_CDF_hap: u32 = 1 << 1;
const XEN_DOMINF_dying: u32 = 1 << 0;
const XEN_DOMINF_hvm_guest: u32 = 1 << 1;
const XEN_DOMINF_paused: u32 = 1 << 3;
const XEN_DOMINF_hap: u32 = 1 << 8;
const XEN_INVALID_MAX_VCPU_ID: u32 = !0;
// arch-arm.h
const XEN_DOMCTL_CONFIG_GIC_NATIVE: u8 = 0;
const XEN_DOMCTL_CONFIG_GIC_V2: u8 = 1;
const XEN_DOMCTL_CONFIG_GIC_V3: u8 = 2;

/// `struct xen_arch_domainconfig` (arch-arm.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct xen_arch_domainconfig {
    gic_version: u8,
    _pad: u8,
    tee_type: u16,
    nr_spis: u32,
    clock_frequency: u32,
}

/// `struct xen_domctl_createdomain` (domctl.h, 4.17).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct xen_domctl_createdomain {
    ssidref: u32,
    handle: [u8; 16],
    flags: u32,
    iommu_opts: u32,
    max_vcpus: u32,
    max_evtchn_port: u32,
    max_grant_frames: i32,
    max_maptrack_frames: i32,
    grant_opts: u32,
    vmtrace_size: u32,
    cpupool_id: u32,
    arch: xen_arch_domainconfig,
}

/// `struct xen_domctl_getdomaininfo` (domctl.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct xen_domctl_getdomaininfo {
    domain: u16,
    pad1: u16,
    flags: u32,
    tot_pages: u64,
    max_pages: u64,
    outstanding_pages: u64,
    shr_pages: u64,
    paged_pages: u64,
    shared_info_frame: u64,
    cpu_time: u64,
    nr_online_vcpus: u32,
    max_vcpu_id: u32,
    ssidref: u32,
    handle: [u8; 16],
    cpupool: u32,
    gpaddr_bits: u8,
    pad2: [u8; 7],
    arch_config: xen_arch_domainconfig,
}

/// `struct xen_sysctl_physinfo` (sysctl.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct xen_sysctl_physinfo {
    threads_per_core: u32,
    cores_per_socket: u32,
    nr_cpus: u32,
    max_cpu_id: u32,
    nr_nodes: u32,
    max_node_id: u32,
    cpu_khz: u32,
    capabilities: u32,
    arch_capabilities: u32,
    pad: u32,
    total_pages: u64,
    free_pages: u64,
    scrub_pages: u64,
    outstanding_pages: u64,
    max_mfn: u64,
    hw_cap: [u32; 8],
}

/// `struct xen_domctl` (domctl.h): header and the 128-byte union.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct xen_domctl {
    cmd: u32,
    interface_version: u32,
    domain: u16,
    _pad: [u16; 3],
    u: [u8; 128],
}

/// `struct xen_sysctl` (sysctl.h).
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct xen_sysctl {
    cmd: u32,
    interface_version: u32,
    u: [u8; 128],
}

const _: () = {
    assert!(core::mem::size_of::<xen_arch_domainconfig>() == 12);
    assert!(core::mem::size_of::<xen_domctl_createdomain>() == 68);
    assert!(core::mem::offset_of!(xen_domctl_createdomain, arch) == 56);
    assert!(core::mem::size_of::<xen_domctl_getdomaininfo>() == 120);
    assert!(core::mem::offset_of!(xen_domctl_getdomaininfo, shared_info_frame) == 48);
    assert!(core::mem::offset_of!(xen_domctl_getdomaininfo, nr_online_vcpus) == 64);
    assert!(core::mem::offset_of!(xen_domctl_getdomaininfo, gpaddr_bits) == 96);
    assert!(core::mem::offset_of!(xen_domctl_getdomaininfo, arch_config) == 104);
    assert!(core::mem::size_of::<xen_sysctl_physinfo>() == 112);
    assert!(core::mem::offset_of!(xen_sysctl_physinfo, free_pages) == 48);
    assert!(core::mem::size_of::<xen_domctl>() == 144);
    assert!(core::mem::offset_of!(xen_domctl, u) == 16);
    assert!(core::mem::size_of::<xen_sysctl>() == 136);
    assert!(core::mem::offset_of!(xen_sysctl, u) == 8);
};

/// Copies `v` into the start of a union.
fn put<T: Copy>(u: &mut [u8; 128], v: &T) {
    const { assert!(core::mem::size_of::<T>() <= 128) };
    // SAFETY: `T` fits in the 128 bytes (checked above); an unaligned write needs no alignment.
    unsafe { core::ptr::write_unaligned(u.as_mut_ptr() as *mut T, *v) }
}

/// Reads a `T` from the start of a union.
fn get<T: Copy + Default>(u: &[u8; 128]) -> T {
    const { assert!(core::mem::size_of::<T>() <= 128) };
    // SAFETY: `T` fits in the 128 bytes; every `T` used here (integers and arrays of them) is
    // valid for any bit pattern; an unaligned read needs no alignment.
    unsafe { core::ptr::read_unaligned(u.as_ptr() as *const T) }
}

fn domctl_raw(op: &mut xen_domctl) -> i64 {
    hypercall(__HYPERVISOR_domctl, op as *mut _ as u64, 0, 0, 0, 0)
}

/// A domctl `cmd` on `domain` with union member `arg`: (result, the structure afterwards).
fn domctl<T: Copy>(cmd: u32, domain: u16, arg: &T) -> (i64, xen_domctl) {
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

fn physinfo() -> (i64, xen_sysctl_physinfo) {
    let mut op = xen_sysctl {
        cmd: XEN_SYSCTL_physinfo,
        interface_version: XEN_SYSCTL_INTERFACE_VERSION,
        u: [0; 128],
    };
    let r = hypercall(__HYPERVISOR_sysctl, &mut op as *mut _ as u64, 0, 0, 0, 0);
    (r, get(&op.u))
}

fn config(max_vcpus: u32) -> xen_domctl_createdomain {
    xen_domctl_createdomain {
        handle: *b"xenith-domctl-t\0",
        flags: XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap,
        max_vcpus,
        max_evtchn_port: 1023,
        max_grant_frames: 32,
        max_maptrack_frames: 1024,
        grant_opts: 1,
        arch: xen_arch_domainconfig {
            gic_version: XEN_DOMCTL_CONFIG_GIC_NATIVE,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Creates a domain (`domid` 0: any id): (result, id, the configuration Xen passed back).
fn create(domid: u16, c: &xen_domctl_createdomain) -> (i64, u16, xen_domctl_createdomain) {
    let (r, op) = domctl(XEN_DOMCTL_createdomain, domid, c);
    (r, op.domain, get(&op.u))
}

fn getinfo(domid: u16) -> (i64, u16, xen_domctl_getdomaininfo) {
    let (r, op) = domctl(XEN_DOMCTL_getdomaininfo, domid, &0u64);
    (r, op.domain, get(&op.u))
}

fn simple(cmd: u32, domid: u16) -> i64 {
    domctl(cmd, domid, &0u64).0
}

/// Free pages once they settle (Xen frees a destroyed domain's memory after an RCU grace
/// period): up to five seconds.
fn settled_free_pages(want: u64) -> u64 {
    let mut p = physinfo().1;
    for _ in 0..500 {
        if p.free_pages == want {
            break;
        }
        delay_us(10_000);
        p = physinfo().1;
    }
    info!(
        "settled: free_pages={} (want {want}) scrub_pages={}",
        p.free_pages, p.scrub_pages
    );
    p.free_pages
}

fn main(_b: &'static Board) {
    let (r, p) = physinfo();
    check!(r == 0, "sysctl physinfo succeeds"; "returned {r}");
    info!(
        "physinfo: nr_cpus={} total_pages={} free_pages={} max_mfn={:#x} caps={:#x}",
        p.nr_cpus, p.total_pages, p.free_pages, p.max_mfn, p.capabilities
    );
    check!(p.nr_cpus >= 1 && p.free_pages > 0 && p.total_pages >= p.free_pages,
        "physinfo: nr_cpus, total_pages and free_pages are plausible";
        "nr_cpus={} total={} free={}", p.nr_cpus, p.total_pages, p.free_pages);
    let f0 = p.free_pages;

    // Domain 0 describes itself.
    let (r, id, i) = getinfo(0);
    check!(r == 0 && id == 0 && i.domain == 0, "getdomaininfo(0) is dom0"; "returned {r}, domain {id}");
    check!(i.flags & (XEN_DOMINF_paused | XEN_DOMINF_dying) == 0 && i.nr_online_vcpus >= 1,
        "dom0 is neither paused nor dying and has online vCPUs";
        "flags={:#x} online={}", i.flags, i.nr_online_vcpus);

    // Creation.
    let (r, id, c) = create(0, &config(2));
    check!(r == 0 && id == 1, "createdomain (domain 0: any id) gives domain 1"; "returned {r}, domain {id}");
    let gic = c.arch.gic_version;
    check!(gic == XEN_DOMCTL_CONFIG_GIC_V2 || gic == XEN_DOMCTL_CONFIG_GIC_V3,
        "createdomain fills in the native GIC version"; "gic_version={gic}");
    let r = domctl(XEN_DOMCTL_max_mem, id, &(64u64 << 10)).0;
    check!(r == 0, "max_mem(64 MiB) succeeds"; "returned {r}");

    let (r, got, i) = getinfo(id);
    info!(
        "getdomaininfo({id}): flags={:#x} tot={} max={} online={} max_vcpu_id={:#x} shinfo={:#x} gpaddr_bits={}",
        i.flags, i.tot_pages, i.max_pages, i.nr_online_vcpus, i.max_vcpu_id,
        i.shared_info_frame, i.gpaddr_bits
    );
    check!(r == 0 && got == id && i.domain == id, "getdomaininfo of the new domain"; "returned {r}, domain {got}");
    check!(i.flags & XEN_DOMINF_paused != 0, "a new domain is paused"; "flags={:#x}", i.flags);
    check!(i.flags & (XEN_DOMINF_hvm_guest | XEN_DOMINF_hap) == XEN_DOMINF_hvm_guest | XEN_DOMINF_hap
        && i.flags & XEN_DOMINF_dying == 0,
        "a new domain is HVM with HAP and not dying"; "flags={:#x}", i.flags);
    check!(i.flags >> 16 == 0xffff, "no shutdown code yet (SHUTDOWN_CODE_INVALID)"; "flags={:#x}", i.flags);
    check!(i.tot_pages == 0 && i.max_pages == 16384, "tot_pages 0, max_pages from max_mem";
        "tot={} max={}", i.tot_pages, i.max_pages);
    check!(i.nr_online_vcpus == 0 && i.max_vcpu_id == XEN_INVALID_MAX_VCPU_ID,
        "no vCPUs before max_vcpus"; "online={} max_vcpu_id={:#x}", i.nr_online_vcpus, i.max_vcpu_id);
    check!(i.shared_info_frame != 0 && i.handle == *b"xenith-domctl-t\0",
        "shared_info frame and handle reported"; "shinfo={:#x}", i.shared_info_frame);

    let r = domctl(XEN_DOMCTL_max_vcpus, id, &3u32).0;
    check!(r == -EINVAL, "max_vcpus other than createdomain's is -EINVAL"; "returned {r}");
    let r = domctl(XEN_DOMCTL_max_vcpus, id, &2u32).0;
    check!(r == 0, "max_vcpus(2) succeeds"; "returned {r}");
    let (_, _, i) = getinfo(id);
    check!(i.max_vcpu_id == 1 && i.nr_online_vcpus == 0, "2 vCPUs, all offline";
        "online={} max_vcpu_id={:#x}", i.nr_online_vcpus, i.max_vcpu_id);

    // Pause and unpause: a count, starting at 1.
    let r = simple(XEN_DOMCTL_pausedomain, id);
    check!(r == 0, "pausedomain succeeds"; "returned {r}");
    let r1 = simple(XEN_DOMCTL_unpausedomain, id);
    let (_, _, i) = getinfo(id);
    check!(r1 == 0 && i.flags & XEN_DOMINF_paused != 0, "one unpause of two pauses leaves it paused";
        "returned {r1}, flags={:#x}", i.flags);
    let r1 = simple(XEN_DOMCTL_unpausedomain, id);
    let (_, _, i) = getinfo(id);
    check!(r1 == 0 && i.flags & XEN_DOMINF_paused == 0, "the second unpause runs it";
        "returned {r1}, flags={:#x}", i.flags);
    let r = simple(XEN_DOMCTL_unpausedomain, id);
    check!(r == -EINVAL, "unpausing an unpaused domain is -EINVAL"; "returned {r}");
    let r = simple(XEN_DOMCTL_pausedomain, 0);
    check!(r == -EINVAL, "pausing the calling domain is -EINVAL"; "returned {r}");
    let r = simple(XEN_DOMCTL_destroydomain, 0);
    check!(r == -EINVAL, "destroying the calling domain is -EINVAL"; "returned {r}");

    // A given id, and the same again.
    let (r, id5, _) = create(5, &config(1));
    check!(r == 0 && id5 == 5, "createdomain with domain 5 gives 5"; "returned {r}, domain {id5}");
    let (r, _, _) = create(5, &config(1));
    check!(r == -EEXIST, "createdomain of an existing id is -EEXIST"; "returned {r}");
    let (r, got, _) = getinfo(2);
    check!(r == 0 && got == 5, "getdomaininfo(2) answers the next domain, 5"; "returned {r}, domain {got}");

    // Destruction.
    let r = simple(XEN_DOMCTL_destroydomain, id);
    check!(r == 0, "destroydomain succeeds"; "returned {r}");
    let r = simple(XEN_DOMCTL_destroydomain, id5);
    check!(r == 0, "destroydomain of domain 5 succeeds"; "returned {r}");
    let (r, _, _) = getinfo(id);
    check!(r == -ESRCH, "getdomaininfo of a destroyed domain is -ESRCH"; "returned {r}");
    let r = simple(XEN_DOMCTL_pausedomain, id);
    check!(r == -ESRCH, "pausedomain of a destroyed domain is -ESRCH"; "returned {r}");
    // Once the first domains are gone: what the cycles below must come back to (Xen keeps one
    // page from its first domain creation, docs/conformance.md).
    let f1 = settled_free_pages(f0);
    let (r, _, _) = getinfo(DOMID_FIRST_RESERVED);
    check!(r == -EINVAL, "getdomaininfo of a reserved id is -EINVAL"; "returned {r}");

    // Bad requests.
    let mut op = xen_domctl {
        cmd: XEN_DOMCTL_getdomaininfo,
        interface_version: XEN_DOMCTL_INTERFACE_VERSION - 1,
        domain: 0,
        _pad: [0; 3],
        u: [0; 128],
    };
    let r = domctl_raw(&mut op);
    check!(r == -EACCES, "a domctl with another interface_version is -EACCES"; "returned {r}");
    let mut sop = xen_sysctl {
        cmd: XEN_SYSCTL_physinfo,
        interface_version: XEN_SYSCTL_INTERFACE_VERSION + 1,
        u: [0; 128],
    };
    let r = hypercall(__HYPERVISOR_sysctl, &mut sop as *mut _ as u64, 0, 0, 0, 0);
    check!(r == -EACCES, "a sysctl with another interface_version is -EACCES"; "returned {r}");
    let (r, _, _) = create(0, &config(0));
    check!(r == -EINVAL, "createdomain with max_vcpus 0 is -EINVAL"; "returned {r}");
    let too_many = if gic == XEN_DOMCTL_CONFIG_GIC_V2 {
        9
    } else {
        129
    };
    let (r, _, _) = create(0, &config(too_many));
    check!(r == -EINVAL, "createdomain with max_vcpus {too_many} is -EINVAL"; "returned {r}");
    let mut pv = config(1);
    pv.flags = 0;
    let (r, _, _) = create(0, &pv);
    check!(r == -EINVAL, "createdomain of a PV domain is -EINVAL on Arm"; "returned {r}");

    // 100 cycles leave no memory behind.
    let mut bad = None;
    for n in 0..100 {
        let (r, d, _) = create(0, &config(2));
        if r != 0 || d == 0 || d >= DOMID_FIRST_RESERVED {
            bad = Some((n, "createdomain", r, d));
            break;
        }
        let r = simple(XEN_DOMCTL_destroydomain, d);
        if r != 0 {
            bad = Some((n, "destroydomain", r, d));
            break;
        }
    }
    check!(bad.is_none(), "100 create/destroy cycles succeed"; "{:?}", bad);
    let free = settled_free_pages(f1);
    check!(free == f1, "100 create/destroy cycles leave free_pages as it was";
        "before {f1}, after {free} ({} pages leaked)", f1 as i64 - free as i64);
    check!(free == f0, "free_pages at the end is what it was before any domain was created";
        "before {f0}, after {free} ({} pages kept)", f0 as i64 - free as i64);
    let (r, _, _) = getinfo(1);
    check!(r == -ESRCH, "no domain but dom0 is left"; "getdomaininfo(1) returned {r}");

    test_guests::finish();
}
