//! The domain lifecycle as the control domain drives it: `sysctl(XEN_SYSCTL_physinfo)` and
//! `domctl` create / max_mem / max_vcpus / getdomaininfo / pause / unpause / destroy, their
//! error answers (wrong interface version, bad configurations, missing and reserved domains;
//! -EPERM for an unprivileged caller needs a second domain and is not checked here),
//! and 100 create/destroy cycles (with RAM, some with a frame mapped here as a foreign mapping
//! while the domain is destroyed) after which the host's free memory is what it was.
//!
//! Constants and structures (here and in `test_guests::ctl`) are typed in from Xen 4.17's `xen/include/public/domctl.h`,
//! `sysctl.h` and `arch-arm.h`, independently of the hypervisor's `crates/xen-abi` (the guest also
//! runs as dom0 on real Xen: `cargo xtask conformance --against xen --filter domctl`).
#![no_std]
#![no_main]
#![allow(non_upper_case_globals, non_camel_case_types)]

use test_guests::ctl::{
    __HYPERVISOR_sysctl, domctl, domctl_raw, extended_region, get, map_foreign, physinfo,
    reservation, settled_free_pages, unmap, xen_arch_domainconfig, xen_domctl,
    xen_domctl_createdomain, xen_domctl_getdomaininfo, xen_sysctl, XENMEM_populate_physmap,
    XEN_DOMCTL_CDF_hap, XEN_DOMCTL_CDF_hvm, XEN_DOMCTL_createdomain, XEN_DOMCTL_destroydomain,
    XEN_DOMCTL_getdomaininfo, XEN_DOMCTL_max_mem, XEN_SYSCTL_physinfo,
    XEN_DOMCTL_INTERFACE_VERSION, XEN_SYSCTL_INTERFACE_VERSION,
};
use test_guests::xen::{hypercall, EEXIST, EINVAL, ESRCH};
use test_guests::{check, info, Board};

test_guests::entry!(main);

// xen.h
const DOMID_FIRST_RESERVED: u16 = 0x7ff0;
// arch-arm.h: GUEST_RAM0_BASE
const GUEST_RAM0_GFN: u64 = 0x4000_0000 >> 12;
// errno.h (not in the shared helper)
const EACCES: i64 = 13;

// domctl.h / sysctl.h (Xen 4.17)
const XEN_DOMCTL_pausedomain: u32 = 3;
const XEN_DOMCTL_unpausedomain: u32 = 4;
const XEN_DOMCTL_max_vcpus: u32 = 15;
const XEN_DOMINF_dying: u32 = 1 << 0;
const XEN_DOMINF_hvm_guest: u32 = 1 << 1;
const XEN_DOMINF_paused: u32 = 1 << 3;
const XEN_DOMINF_hap: u32 = 1 << 8;
const XEN_INVALID_MAX_VCPU_ID: u32 = !0;
// arch-arm.h
const XEN_DOMCTL_CONFIG_GIC_NATIVE: u8 = 0;
const XEN_DOMCTL_CONFIG_GIC_V2: u8 = 1;
const XEN_DOMCTL_CONFIG_GIC_V3: u8 = 2;

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

/// Free pages once they settle ([`test_guests::ctl::settled_free_pages`]), logged.
fn settled(want: u64) -> u64 {
    let f = settled_free_pages(want);
    info!(
        "settled: free_pages={f} (want {want}) scrub_pages={}",
        physinfo().1.scrub_pages
    );
    f
}

fn main(b: &'static Board) {
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
    let f1 = settled(f0);
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

    // 100 cycles leave no memory behind, each domain with RAM and (every tenth) a frame mapped
    // here by XENMAPSPACE_gmfn_foreign while it is destroyed: the mapping keeps the page, its
    // removal frees the domain (no reference left behind by the mapping table).
    // (No extended region: the cycles map nothing.)
    let map_at = extended_region(b).map(|(base, _)| base >> 12);
    info!("cycles: foreign mappings at {map_at:x?}");
    let mut bad = None;
    for n in 0..100 {
        let (r, d, _) = create(0, &config(2));
        if r != 0 || d == 0 || d >= DOMID_FIRST_RESERVED {
            bad = Some((n, "createdomain", r, d));
            break;
        }
        let r = domctl(XEN_DOMCTL_max_mem, d, &256u64).0;
        let mut gfns: [u64; 4] = core::array::from_fn(|i| GUEST_RAM0_GFN + i as u64);
        let got = reservation(XENMEM_populate_physmap, d, &mut gfns, 0);
        if r != 0 || got != 4 {
            bad = Some((
                n,
                "max_mem + populate_physmap(4)",
                if r != 0 { r } else { got },
                d,
            ));
            break;
        }
        let mapped = match map_at {
            Some(at) if n % 10 == 0 => {
                let mut errs = [1i32];
                let r = map_foreign(d, &[GUEST_RAM0_GFN + 1], &[at], &mut errs);
                if r != 0 || errs[0] != 0 {
                    bad = Some((n, "map_foreign", if r != 0 { r } else { errs[0].into() }, d));
                    break;
                }
                Some(at)
            }
            _ => None,
        };
        let r = simple(XEN_DOMCTL_destroydomain, d);
        if r != 0 {
            bad = Some((n, "destroydomain", r, d));
            break;
        }
        if let Some(at) = mapped {
            let r = unmap(at);
            if r != 0 {
                bad = Some((n, "remove_from_physmap of the foreign frame", r, d));
                break;
            }
        }
    }
    check!(bad.is_none(), "100 create/destroy cycles succeed"; "{:?}", bad);
    let free = settled(f1);
    check!(free == f1, "100 create/destroy cycles leave free_pages as it was";
        "before {f1}, after {free} ({} pages leaked)", f1 as i64 - free as i64);
    check!(free == f0, "free_pages at the end is what it was before any domain was created";
        "before {f0}, after {free} ({} pages kept)", f0 as i64 - free as i64);
    let (r, _, _) = getinfo(1);
    check!(r == -ESRCH, "no domain but dom0 is left"; "getdomaininfo(1) returned {r}");

    test_guests::finish();
}
