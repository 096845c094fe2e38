//! A domU built the way Xen 4.17's libxl/libxc build one on Arm, by this guest as dom0:
//! `createdomain`, `max_vcpus`, `max_mem`, `set_address_size`, `XENMEM_populate_physmap` of its
//! RAM at `GUEST_RAM0_BASE` (order 0 and a 2 MiB superpage) and magic pages at
//! `GUEST_MAGIC_BASE`, its pages mapped into our space with `XENMEM_add_to_physmap_batch`
//! (`XENMAPSPACE_gmfn_foreign`, as privcmd's `IOCTL_PRIVCMD_MMAPBATCH_V2` does) at frames of an
//! extended region of the `/hypervisor` node, a small position-independent AArch64 program
//! copied in, event channels allocated in it (`EVTCHNOP_alloc_unbound` with `dom` = the domU),
//! HVM params set, `XEN_DOMCTL_setvcpucontext` as `xg_dom_arm.c`'s `vcpu_arm64`, then unpaused.
//!
//! The domU (MMU off) checks what an unprivileged domain gets: domctl and sysctl -EPERM, a
//! foreign mapping of dom0 -EPERM (in `errs`), its STORE_EVTCHN param readable but not settable,
//! SCHEDOP_remote_shutdown of dom0 -EPERM; it signals us through the event channel and shuts
//! down (poweroff, or crash when one of its checks failed). We see the event and VIRQ_DOM_EXC,
//! the shutdown code in getdomaininfo and getdomaininfolist, its results in the page we still
//! map, destroy it (the mapping keeps the page alive), see our end of the channel unbound, unmap,
//! and find free_pages back where it started. Hostile cases: bad domids, foreign maps of MMIO
//! and of ourselves, populate beyond max_pages, bad PSRs, remote_shutdown answers.
//!
//! Constants and structures are typed in from Xen 4.17's public headers, independently of the
//! hypervisor's `crates/xen-abi`; the guest runs on real Xen too
//! (`cargo xtask conformance --against xen --filter domu`).
#![no_std]
#![no_main]
#![allow(non_upper_case_globals, non_camel_case_types)]

use core::cell::UnsafeCell;
use test_guests::ctl::{
    domctl, extended_region, free_pages, get, map_foreign, reservation, settled_free_pages, sysctl,
    unmap, xen_domctl_createdomain, xen_domctl_getdomaininfo, XENMEM_decrease_reservation,
    XENMEM_populate_physmap, XEN_DOMCTL_CDF_hap, XEN_DOMCTL_CDF_hvm, XEN_DOMCTL_createdomain,
    XEN_DOMCTL_destroydomain, XEN_DOMCTL_getdomaininfo, XEN_DOMCTL_max_mem,
};
use test_guests::xen::{
    __HYPERVISOR_event_channel_op, __HYPERVISOR_hvm_op, __HYPERVISOR_memory_op,
    __HYPERVISOR_sched_op, errname, evtchn_alloc_unbound, evtchn_bind_virq, evtchn_status,
    hypercall, peek, poke, shared_info, xen_add_to_physmap, xen_hvm_param, EVTCHNOP_alloc_unbound,
    EVTCHNOP_bind_interdomain, EVTCHNOP_bind_virq, EVTCHNOP_status, EVTCHNSTAT_interdomain,
    EVTCHNSTAT_unbound, HVMOP_get_param, HVMOP_set_param, Page, XENMAPSPACE_shared_info,
    XENMEM_add_to_physmap, DOMID_SELF, EINVAL, ENOENT, EPERM, ESRCH, HVM_PARAM_CONSOLE_EVTCHN,
    HVM_PARAM_CONSOLE_PFN, HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN,
};
use test_guests::{check, info, wait_for, Board};

test_guests::entry!(main);

// xen.h
const VIRQ_DOM_EXC: u32 = 3;
// errno.h (not in the shared helper)
const ENODATA: i64 = 61;
const EOPNOTSUPP: i64 = 95;
// memory.h
const XENMEM_acquire_resource: u64 = 28;
const XENMEM_resource_grant_table: u16 = 1;
const XENMEM_resource_grant_table_id_shared: u32 = 0;
// sched.h
const SCHEDOP_remote_shutdown: u64 = 4;
const SHUTDOWN_poweroff: u32 = 0;
const SHUTDOWN_reboot: u32 = 1;
const SHUTDOWN_crash: u32 = 3;
// domctl.h / sysctl.h (Xen 4.17)
const XEN_DOMCTL_unpausedomain: u32 = 4;
const XEN_DOMCTL_setvcpucontext: u32 = 12;
const XEN_DOMCTL_getvcpucontext: u32 = 13;
const XEN_DOMCTL_getvcpuinfo: u32 = 14;
const XEN_DOMCTL_max_vcpus: u32 = 15;
const XEN_DOMCTL_set_address_size: u32 = 35;
const XEN_DOMCTL_cacheflush: u32 = 71;
const XEN_SYSCTL_readconsole: u32 = 1;
const XEN_SYSCTL_getdomaininfolist: u32 = 6;
const XEN_DOMINF_shutdown: u32 = 1 << 2;
const XEN_DOMINF_paused: u32 = 1 << 3;
const XEN_DOMINF_shutdownshift: u32 = 16;
// arch-arm.h
const GUEST_RAM0_BASE: u64 = 0x4000_0000;
const GUEST_MAGIC_BASE: u64 = 0x3900_0000;
const GUEST_GICD_BASE: u64 = 0x0300_1000;
const PSR_GUEST64_INIT: u64 = 0x3c5; // PSR_ABT_MASK | PSR_FIQ_MASK | PSR_IRQ_MASK | EL1h
const PSR_MODE_EL2h: u64 = 0x09;
const PSR_MODE_USR32: u64 = 0x10;
const SCTLR_GUEST_INIT: u64 = 0x00c5_0078;
const VGCF_online: u32 = 1;

/// The domU's RAM: its first frame (code) and the parameter/result page after it.
const RAM_GFN: u64 = GUEST_RAM0_BASE >> 12;
const PARAMS_GFN: u64 = RAM_GFN + 1;
/// Order-0 pages populated at RAM_GFN, the 2 MiB extent at RAM_GFN + 0x200, 4 magic pages.
const SMALL_PAGES: u64 = 16;
const MAX_MEM_KB: u64 = 4096;
/// A `grant_entry_v1` as u64: flags GTF_permit_access, domid 0, frame 0x39001 (xenstore page).
const GRANT_ENTRY: u64 = (0x39001 << 32) | 1;

/// `struct vcpu_guest_core_regs` (arch-arm.h, AArch64 names).
#[repr(C)]
#[derive(Clone, Copy)]
struct vcpu_guest_core_regs {
    x: [u64; 31],
    pc64: u64,
    cpsr: u64,
    spsr_el1: u64,
    spsr_fiq: u32,
    spsr_irq: u32,
    spsr_und: u32,
    spsr_abt: u32,
    sp_el0: u64,
    sp_el1: u64,
    elr_el1: u64,
}

/// `struct vcpu_guest_context` (arch-arm.h).
#[repr(C)]
#[derive(Clone, Copy)]
struct vcpu_guest_context {
    flags: u32,
    user_regs: vcpu_guest_core_regs,
    sctlr: u64,
    ttbcr: u64,
    ttbr0: u64,
    ttbr1: u64,
}

impl Default for vcpu_guest_context {
    fn default() -> Self {
        // SAFETY: integers only; all-zero is a valid value.
        unsafe { core::mem::zeroed() }
    }
}

/// `struct xen_domctl_vcpucontext` (domctl.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct xen_domctl_vcpucontext {
    vcpu: u32,
    ctxt: u64,
}

/// `struct xen_domctl_getvcpuinfo` (domctl.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct xen_domctl_getvcpuinfo {
    vcpu: u32,
    online: u8,
    blocked: u8,
    running: u8,
    cpu_time: u64,
    cpu: u32,
}

/// `struct xen_domctl_cacheflush` (domctl.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct xen_domctl_cacheflush {
    start_pfn: u64,
    nr_pfns: u64,
}

/// `struct xen_sysctl_getdomaininfolist` (sysctl.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct xen_sysctl_getdomaininfolist {
    first_domain: u16,
    max_domains: u32,
    buffer: u64,
    num_domains: u32,
}

/// `struct xen_sysctl_readconsole` (sysctl.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct xen_sysctl_readconsole {
    clear: u8,
    incremental: u8,
    pad0: u8,
    pad1: u8,
    index: u32,
    buffer: u64,
    count: u32,
}

/// `struct xen_mem_acquire_resource` (memory.h).
#[repr(C)]
struct xen_mem_acquire_resource {
    domid: u16,
    kind: u16,
    id: u32,
    nr_frames: u32,
    pad: u32,
    frame: u64,
    frame_list: u64,
}

/// `struct sched_remote_shutdown` (sched.h).
#[repr(C)]
struct sched_remote_shutdown {
    domain_id: u16,
    reason: u32,
}

/// `struct evtchn_bind_interdomain` (event_channel.h).
#[repr(C)]
#[derive(Default)]
struct evtchn_bind_interdomain {
    remote_dom: u16,
    remote_port: u32,
    local_port: u32,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<vcpu_guest_core_regs>() == 312);
    assert!(size_of::<vcpu_guest_context>() == 352);
    assert!(offset_of!(vcpu_guest_context, user_regs) == 8);
    assert!(offset_of!(vcpu_guest_context, sctlr) == 320);
    assert!(size_of::<xen_domctl_vcpucontext>() == 16);
    assert!(size_of::<xen_domctl_getvcpuinfo>() == 24);
    assert!(offset_of!(xen_domctl_getvcpuinfo, cpu_time) == 8);
    assert!(size_of::<xen_sysctl_getdomaininfolist>() == 24);
    assert!(offset_of!(xen_sysctl_getdomaininfolist, num_domains) == 16);
    assert!(size_of::<xen_sysctl_readconsole>() == 24);
    assert!(offset_of!(xen_sysctl_readconsole, count) == 16);
    assert!(size_of::<xen_mem_acquire_resource>() == 32);
    assert!(size_of::<sched_remote_shutdown>() == 8);
    assert!(size_of::<evtchn_bind_interdomain>() == 12);
};

/// A page shared with the hypervisor (it writes it behind the compiler's back).
#[repr(transparent)]
struct Shared(UnsafeCell<Page>);
// SAFETY: the page is only accessed through raw volatile accesses at its address.
unsafe impl Sync for Shared {}
impl Shared {
    const fn new() -> Shared {
        Shared(UnsafeCell::new(Page::zeroed()))
    }
    fn addr(&self) -> u64 {
        self.0.get() as u64
    }
}

/// Our RAM page that becomes shared_info.
static SHINFO: Shared = Shared::new();
/// Buffers the hypervisor writes (domain lists, the console ring).
static BUF: Shared = Shared::new();

fn getinfo(domid: u16) -> (i64, xen_domctl_getdomaininfo) {
    let (r, op) = domctl(XEN_DOMCTL_getdomaininfo, domid, &0u64);
    (r, get(&op.u))
}

fn create(max_vcpus: u32) -> (i64, u16) {
    let c = xen_domctl_createdomain {
        handle: *b"xenith-domu-test",
        flags: XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap,
        max_vcpus,
        max_evtchn_port: 1023,
        max_grant_frames: 32,
        max_maptrack_frames: 1024,
        grant_opts: 1,
        ..Default::default()
    };
    let (r, op) = domctl(XEN_DOMCTL_createdomain, 0, &c);
    (r, op.domain)
}

fn acquire(r: &mut xen_mem_acquire_resource) -> i64 {
    hypercall(
        __HYPERVISOR_memory_op,
        XENMEM_acquire_resource,
        r as *mut _ as u64,
        0,
        0,
        0,
    )
}

fn hvm_param(op: u64, domid: u16, index: u32, value: u64) -> (i64, u64) {
    let mut p = xen_hvm_param {
        domid,
        pad: 0,
        index,
        value,
    };
    let r = hypercall(__HYPERVISOR_hvm_op, op, &mut p as *mut _ as u64, 0, 0, 0);
    (r, p.value)
}

fn evtchn<T>(cmd: u64, arg: &mut T) -> i64 {
    hypercall(
        __HYPERVISOR_event_channel_op,
        cmd,
        arg as *mut T as u64,
        0,
        0,
        0,
    )
}

fn remote_shutdown(domid: u16, reason: u32) -> i64 {
    let mut s = sched_remote_shutdown {
        domain_id: domid,
        reason,
    };
    hypercall(
        __HYPERVISOR_sched_op,
        SCHEDOP_remote_shutdown,
        &mut s as *mut _ as u64,
        0,
        0,
        0,
    )
}

fn setvcpucontext(domid: u16, vcpu: u32, ctx: Option<&vcpu_guest_context>) -> i64 {
    let c = xen_domctl_vcpucontext {
        vcpu,
        ctxt: ctx.map_or(0, |c| c as *const _ as u64),
    };
    domctl(XEN_DOMCTL_setvcpucontext, domid, &c).0
}

/// Whether `port` is pending in our shared_info (2-level ABI); clears it when asked.
fn pending(port: u32, clear: bool) -> bool {
    let w = SHINFO.addr() + shared_info::EVTCHN_PENDING as u64 + 8 * u64::from(port / 64);
    let bit = 1u64 << (port % 64);
    // SAFETY: `w` is inside the shared_info page mapped at SHINFO (identity map, aligned).
    let v = unsafe { peek::<u64>(w) };
    if clear && v & bit != 0 {
        // SAFETY: as above; the hypervisor sets bits concurrently, a lost one only delays us.
        unsafe { poke::<u64>(w, v & !bit) };
    }
    v & bit != 0
}

// The domU's program: position-independent, MMU off, x0 = its parameter page. Layout of that
// page (written by dom0 at +0x00..0x18, results from +0x100 in this order): +0x00 u32 port to
// signal dom0 on; +0x08 a dom0 gfn to try to map; +0x10 u32 the STORE_EVTCHN value to expect.
// Results: domctl, sysctl, batch rc, batch errs[0], get_param rc, its value, set_param rc,
// remote_shutdown(dom0) rc, EVTCHNOP_send rc, then the marker 0xd0e. Scratch structures from
// +0x200. It shuts down with SHUTDOWN_poweroff when every result is as expected, else crash.
core::arch::global_asm!(
    r#"
.section .text.domu, "ax"
.balign 4096
.global domu_blob_start
.global domu_blob_end
domu_blob_start:
    mov     x19, x0
    // domctl(getdomaininfo, dom0): -EPERM
    add     x20, x19, #0x200
    mov     w1, #5
    str     w1, [x20]
    mov     w1, #0x15
    str     w1, [x20, #4]
    str     xzr, [x20, #8]
    mov     x0, x20
    mov     x16, #36
    hvc     #0xea1
    str     x0, [x19, #0x100]
    // sysctl(physinfo): -EPERM
    add     x20, x19, #0x300
    mov     w1, #3
    str     w1, [x20]
    mov     w1, #0x15
    str     w1, [x20, #4]
    mov     x0, x20
    mov     x16, #35
    hvc     #0xea1
    str     x0, [x19, #0x108]
    // add_to_physmap_batch(DOMID_SELF, gmfn_foreign, size 1, foreign dom0): 0, errs[0] -EPERM
    add     x20, x19, #0x400
    movz    x1, #0x7ff0
    movk    x1, #4, lsl #16
    movk    x1, #1, lsl #32
    str     x1, [x20]
    add     x1, x20, #0x40
    str     x1, [x20, #8]
    add     x1, x20, #0x48
    str     x1, [x20, #16]
    add     x1, x20, #0x50
    str     x1, [x20, #24]
    ldr     x1, [x19, #8]
    str     x1, [x20, #0x40]
    lsr     x1, x19, #12
    add     x1, x1, #0x100
    str     x1, [x20, #0x48]
    mov     x1, #1
    str     x1, [x20, #0x50]
    mov     x0, #23
    mov     x1, x20
    mov     x16, #12
    hvc     #0xea1
    str     x0, [x19, #0x110]
    ldrsw   x1, [x20, #0x50]
    str     x1, [x19, #0x118]
    // hvm_op(get_param, DOMID_SELF, STORE_EVTCHN): 0 and dom0's value
    add     x20, x19, #0x480
    movz    x1, #0x7ff0
    movk    x1, #2, lsl #32
    str     x1, [x20]
    str     xzr, [x20, #8]
    mov     x0, #1
    mov     x1, x20
    mov     x16, #34
    hvc     #0xea1
    str     x0, [x19, #0x120]
    ldr     x1, [x20, #8]
    str     x1, [x19, #0x128]
    // hvm_op(set_param, DOMID_SELF, STORE_EVTCHN): -EPERM
    mov     x0, #0
    mov     x1, x20
    mov     x16, #34
    hvc     #0xea1
    str     x0, [x19, #0x130]
    // sched_op(remote_shutdown, dom0, poweroff): -EPERM
    add     x20, x19, #0x4a0
    str     xzr, [x20]
    mov     x0, #4
    mov     x1, x20
    mov     x16, #29
    hvc     #0xea1
    str     x0, [x19, #0x138]
    // event_channel_op(send, our port): 0
    add     x20, x19, #0x4b0
    ldr     w1, [x19]
    str     w1, [x20]
    mov     x0, #4
    mov     x1, x20
    mov     x16, #32
    hvc     #0xea1
    str     x0, [x19, #0x140]
    movz    x1, #0xd0e
    str     x1, [x19, #0x148]
    // Judge: poweroff if all is as expected, else crash.
    ldr     x1, [x19, #0x100]
    cmn     x1, #1
    b.ne    9f
    ldr     x1, [x19, #0x108]
    cmn     x1, #1
    b.ne    9f
    ldr     x1, [x19, #0x110]
    cbnz    x1, 9f
    ldr     x1, [x19, #0x118]
    cmn     x1, #1
    b.ne    9f
    ldr     x1, [x19, #0x120]
    cbnz    x1, 9f
    ldr     x1, [x19, #0x128]
    ldr     w2, [x19, #0x10]
    cmp     x1, x2
    b.ne    9f
    ldr     x1, [x19, #0x130]
    cmn     x1, #1
    b.ne    9f
    ldr     x1, [x19, #0x138]
    cmn     x1, #1
    b.ne    9f
    ldr     x1, [x19, #0x140]
    cbnz    x1, 9f
    mov     x2, #0
    b       8f
9:  mov     x2, #3
8:  add     x20, x19, #0x4c0
    str     w2, [x20]
    mov     x0, #2
    mov     x1, x20
    mov     x16, #29
    hvc     #0xea1
7:  wfi
    b       7b
domu_blob_end:
.text
"#
);

// A second domU program: PSCI SYSTEM_RESET over HVC (Xen's vpsci: a shutdown with
// SHUTDOWN_reboot of that domain, not of the machine).
core::arch::global_asm!(
    r#"
.section .text.domu, "ax"
.balign 4
.global psci_blob_start
.global psci_blob_end
psci_blob_start:
    movz    x0, #0x0009
    movk    x0, #0x8400, lsl #16
    hvc     #0
1:  wfi
    b       1b
psci_blob_end:
.text
"#
);

extern "C" {
    static domu_blob_start: u8;
    static domu_blob_end: u8;
    static psci_blob_start: u8;
    static psci_blob_end: u8;
}

/// The PSCI program's bytes.
fn psci_blob() -> &'static [u8] {
    // SAFETY: as for `blob`.
    unsafe {
        let s = &psci_blob_start as *const u8;
        let e = &psci_blob_end as *const u8;
        core::slice::from_raw_parts(s, e as usize - s as usize)
    }
}

/// The domU program's bytes.
fn blob() -> &'static [u8] {
    // SAFETY: both symbols are labels in this image's text, start before end; the bytes
    // between them are the program above (read-only code).
    unsafe {
        let s = &domu_blob_start as *const u8;
        let e = &domu_blob_end as *const u8;
        core::slice::from_raw_parts(s, e as usize - s as usize)
    }
}

/// Results the domU writes into its parameter page, as (name, offset, expected).
const RESULTS: [(&str, u64, i64); 8] = [
    ("domctl(getdomaininfo) from a domU", 0x100, -EPERM),
    ("sysctl(physinfo) from a domU", 0x108, -EPERM),
    (
        "add_to_physmap_batch(gmfn_foreign of dom0) from a domU returns",
        0x110,
        0,
    ),
    ("... with errs[0]", 0x118, -EPERM),
    ("hvm get_param(STORE_EVTCHN) of itself", 0x120, 0),
    ("hvm set_param(STORE_EVTCHN) of itself", 0x130, -EPERM),
    ("SCHEDOP_remote_shutdown(dom0) from a domU", 0x138, -EPERM),
    ("EVTCHNOP_send on the channel to dom0", 0x140, 0),
];

fn main(b: &'static Board) {
    let Some((ext, ext_size)) = extended_region(b) else {
        check!(false, "the /hypervisor node has an extended region"; "no reg[1]");
        test_guests::finish();
    };
    info!("extended region {ext:#x} + {ext_size:#x}");
    let ext_gfn = ext >> 12;

    // shared_info, for the pending bits of our ports.
    let mut xatp = xen_add_to_physmap {
        domid: DOMID_SELF,
        size: 0,
        space: XENMAPSPACE_shared_info,
        idx: 0,
        gpfn: SHINFO.addr() >> 12,
    };
    let r = hypercall(
        __HYPERVISOR_memory_op,
        XENMEM_add_to_physmap,
        &mut xatp as *mut _ as u64,
        0,
        0,
        0,
    );
    check!(r == 0, "shared_info mapped"; "returned {r}");
    let mut bv = evtchn_bind_virq {
        virq: VIRQ_DOM_EXC,
        vcpu: 0,
        port: 0,
    };
    let r = evtchn(EVTCHNOP_bind_virq, &mut bv);
    let dom_exc = bv.port;
    check!(r == 0, "EVTCHNOP_bind_virq(VIRQ_DOM_EXC) succeeds"; "returned {r}");

    // A first domain's creation may keep memory for good (Xen keeps a page), and so may our
    // stage 2's tables for the extended region (Xen does not free them): the baseline is taken
    // after a domain whose pages were mapped there.
    let (r, d) = create(1);
    let r1 = domctl(XEN_DOMCTL_max_mem, d, &MAX_MEM_KB).0;
    let mut g: [u64; 3] = core::array::from_fn(|i| RAM_GFN + i as u64);
    let n = reservation(XENMEM_populate_physmap, d, &mut g, 0);
    let mut errs = [1i32; 3];
    let rm = map_foreign(d, &g, &[ext_gfn, ext_gfn + 1, ext_gfn + 2], &mut errs);
    let ru = [unmap(ext_gfn), unmap(ext_gfn + 1), unmap(ext_gfn + 2)];
    let r2 = domctl(XEN_DOMCTL_destroydomain, d, &0u64).0;
    check!(r == 0 && r1 == 0 && n == 3 && rm == 0 && errs == [0; 3] && ru == [0; 3] && r2 == 0,
        "warm-up: a domain with 3 pages mapped here and unmapped";
        "create {r}, max_mem {r1}, populate {n}, map {rm} {errs:?}, unmap {ru:?}, destroy {r2}");
    let f0 = settled_free_pages(free_pages());
    pending(dom_exc, true);
    info!("free_pages at the start: {f0}");

    // Hostile: domains that do not exist, ourselves.
    let mut g = [RAM_GFN];
    let r = reservation(XENMEM_populate_physmap, 0x7000, &mut g, 0);
    check!(r == 0, "populate_physmap of a missing domain does nothing (0 extents)"; "returned {r}");
    let (r, _) = hvm_param(HVMOP_set_param, 0x7000, HVM_PARAM_STORE_PFN, 1);
    check!(r == -ESRCH, "set_param of a missing domain is -ESRCH"; "returned {r} {}", errname(r));
    let mut au = evtchn_alloc_unbound {
        dom: 0x7000,
        remote_dom: 0,
        port: 0,
    };
    let r = evtchn(EVTCHNOP_alloc_unbound, &mut au);
    check!(r == -ESRCH, "alloc_unbound in a missing domain is -ESRCH"; "returned {r} {}", errname(r));
    let r = remote_shutdown(0x7000, SHUTDOWN_poweroff);
    check!(r == -ESRCH, "remote_shutdown of a missing domain is -ESRCH"; "returned {r} {}", errname(r));
    let r = remote_shutdown(DOMID_SELF, SHUTDOWN_poweroff);
    check!(r == -ESRCH, "remote_shutdown of DOMID_SELF is -ESRCH (an id, not resolved)"; "returned {r} {}", errname(r));
    let r = setvcpucontext(0, 0, Some(&vcpu_guest_context::default()));
    check!(r == -EINVAL, "setvcpucontext of the calling domain is -EINVAL"; "returned {r} {}", errname(r));

    // The domain, as libxl creates it.
    let (r, d) = create(1);
    check!(r == 0 && d > 0, "createdomain"; "returned {r}, domain {d}");
    let r1 = domctl(XEN_DOMCTL_max_vcpus, d, &1u32).0;
    let r2 = domctl(XEN_DOMCTL_max_mem, d, &MAX_MEM_KB).0;
    let r3 = domctl(XEN_DOMCTL_set_address_size, d, &64u32).0;
    check!(r1 == 0 && r2 == 0 && r3 == 0, "max_vcpus(1), max_mem(4 MiB), set_address_size(64)";
        "returned {r1}, {r2}, {r3}");
    let r = domctl(XEN_DOMCTL_set_address_size, d, &48u32).0;
    check!(r == -EINVAL, "set_address_size(48) is -EINVAL"; "returned {r} {}", errname(r));

    // Its RAM: 16 pages, a 2 MiB superpage, the magic pages.
    let mut small: [u64; SMALL_PAGES as usize] = core::array::from_fn(|i| RAM_GFN + i as u64);
    let r = reservation(XENMEM_populate_physmap, d, &mut small, 0);
    check!(r == SMALL_PAGES as i64, "populate_physmap of 16 pages at GUEST_RAM0_BASE"; "returned {r}");
    let mut sp = [RAM_GFN + 0x200];
    let r = reservation(XENMEM_populate_physmap, d, &mut sp, 9);
    check!(r == 1, "populate_physmap of a 2 MiB extent (order 9)"; "returned {r}");
    let mut magic: [u64; 4] = core::array::from_fn(|i| (GUEST_MAGIC_BASE >> 12) + i as u64);
    let r = reservation(XENMEM_populate_physmap, d, &mut magic, 0);
    check!(r == 4, "populate_physmap of 4 magic pages at GUEST_MAGIC_BASE"; "returned {r}");
    let want = SMALL_PAGES + 512 + 4;
    let (_, i) = getinfo(d);
    check!(i.tot_pages == want && i.max_pages == MAX_MEM_KB / 4, "tot_pages and max_pages";
        "tot {} (want {want}), max {}", i.tot_pages, i.max_pages);
    let r = domctl(XEN_DOMCTL_set_address_size, d, &64u32).0;
    info!("set_address_size(64) with memory: {r} {}", errname(r));
    let mut over = [RAM_GFN + 0x400];
    let r = reservation(XENMEM_populate_physmap, d, &mut over, 9);
    check!(r == 0, "populate_physmap beyond max_pages does nothing"; "returned {r}");
    let mut last = [RAM_GFN + SMALL_PAGES - 1];
    let r = reservation(XENMEM_decrease_reservation, d, &mut last, 0);
    let (_, i) = getinfo(d);
    check!(r == 1 && i.tot_pages == want - 1, "decrease_reservation of one of its pages";
        "returned {r}, tot {}", i.tot_pages);
    let r = reservation(XENMEM_decrease_reservation, d, &mut last, 0);
    check!(r == 0, "decrease_reservation of a frame it no longer has does nothing"; "returned {r}");

    // Foreign mappings of its code and parameter pages at our extended region.
    let mut errs = [1i32; 3];
    let r = map_foreign(
        d,
        &[RAM_GFN, PARAMS_GFN, GUEST_GICD_BASE >> 12],
        &[ext_gfn, ext_gfn + 1, ext_gfn + 2],
        &mut errs,
    );
    check!(r == 0 && errs[0] == 0 && errs[1] == 0, "add_to_physmap_batch(gmfn_foreign) of two RAM pages";
        "returned {r}, errs {errs:?}");
    check!(errs[2] == -EINVAL as i32, "a foreign map of the domU's GIC distributor (not RAM) is -EINVAL";
        "errs[2] = {}", errs[2]);
    let mut e1 = [1i32];
    let r = map_foreign(0x7000, &[RAM_GFN], &[ext_gfn + 3], &mut e1);
    check!(r == 0 && e1[0] == -ESRCH as i32, "a foreign map of a missing domain is -ESRCH in errs";
        "returned {r}, errs {e1:?}");
    let r = map_foreign(0, &[SHINFO.addr() >> 12], &[ext_gfn + 3], &mut e1);
    check!(r == 0 && e1[0] == -ESRCH as i32, "a foreign map naming our own id is -ESRCH in errs";
        "returned {r}, errs {e1:?}");
    let r = map_foreign(DOMID_SELF, &[SHINFO.addr() >> 12], &[ext_gfn + 3], &mut e1);
    check!(r == 0 && e1[0] == -EINVAL as i32, "a foreign map of DOMID_SELF is -EINVAL in errs";
        "returned {r}, errs {e1:?}");

    // Its grant table, as libxc seeds it (xenforeignmemory_map_resource).
    let mut ar = xen_mem_acquire_resource {
        domid: d,
        kind: XENMEM_resource_grant_table,
        id: XENMEM_resource_grant_table_id_shared,
        nr_frames: 0,
        pad: 0,
        frame: 0,
        frame_list: 0,
    };
    let r = acquire(&mut ar);
    check!(r == 0 && ar.nr_frames >= 1, "acquire_resource(grant table) with no frame list gives its size";
        "returned {r} {}, nr_frames {}", errname(r), ar.nr_frames);
    let gt_gfn = [ext_gfn + 4];
    ar.nr_frames = 1;
    ar.frame_list = gt_gfn.as_ptr() as u64;
    let r = acquire(&mut ar);
    // SAFETY: the domU's grant-table frame 0 is mapped at `ext_gfn + 4` (identity map).
    let e1 = unsafe {
        poke::<u64>(((ext_gfn + 4) << 12) + 8, GRANT_ENTRY);
        peek::<u64>(((ext_gfn + 4) << 12) + 8)
    };
    check!(r == 0 && e1 == GRANT_ENTRY, "acquire_resource maps its grant-table frame 0 here (an entry written)";
        "returned {r} {}, entry {e1:#x}", errname(r));
    let r = unmap(ext_gfn + 4);
    check!(r == 0, "remove_from_physmap of the grant-table frame"; "returned {r} {}", errname(r));
    ar.domid = 0;
    let r = acquire(&mut ar);
    check!(r == -EPERM, "acquire_resource of our own grant table is -EPERM"; "returned {r} {}", errname(r));
    ar.domid = d;
    ar.kind = 99;
    let r = acquire(&mut ar);
    check!(r == -EOPNOTSUPP, "acquire_resource of an unknown resource type is -EOPNOTSUPP"; "returned {r}");

    // Event channels for it, and its params.
    let mut store = evtchn_alloc_unbound {
        dom: d,
        remote_dom: 0,
        port: 0,
    };
    let r = evtchn(EVTCHNOP_alloc_unbound, &mut store);
    let mut cons = evtchn_alloc_unbound {
        dom: d,
        remote_dom: 0,
        port: 0,
    };
    let r2 = evtchn(EVTCHNOP_alloc_unbound, &mut cons);
    check!(r == 0 && r2 == 0 && store.port != cons.port && store.port > 0,
        "alloc_unbound(dom = domU, remote 0) twice"; "returned {r}, {r2}; ports {} {}", store.port, cons.port);
    let mut st = evtchn_status {
        dom: d,
        port: store.port,
        ..Default::default()
    };
    let r = evtchn(EVTCHNOP_status, &mut st);
    check!(r == 0 && st.status == EVTCHNSTAT_unbound && st.u[0] & 0xffff == 0,
        "status of the domU's port: unbound for dom0"; "returned {r}, status {}, u {:x?}", st.status, st.u);
    let mut bi = evtchn_bind_interdomain {
        remote_dom: d,
        remote_port: store.port,
        local_port: 0,
    };
    let r = evtchn(EVTCHNOP_bind_interdomain, &mut bi);
    let ours = bi.local_port;
    check!(r == 0 && ours > 0, "bind_interdomain to it"; "returned {r}, port {ours}");
    pending(ours, true);
    let mut ok = true;
    for (idx, v) in [
        (HVM_PARAM_STORE_PFN, (GUEST_MAGIC_BASE >> 12) + 1),
        (HVM_PARAM_STORE_EVTCHN, u64::from(store.port)),
        (HVM_PARAM_CONSOLE_PFN, GUEST_MAGIC_BASE >> 12),
        (HVM_PARAM_CONSOLE_EVTCHN, u64::from(cons.port)),
    ] {
        let (r, _) = hvm_param(HVMOP_set_param, d, idx, v);
        let (r2, got) = hvm_param(HVMOP_get_param, d, idx, 0);
        if r != 0 || r2 != 0 || got != v {
            info!("param {idx}: set {r}, get {r2} -> {got:#x} (want {v:#x})");
            ok = false;
        }
    }
    check!(ok, "set_param/get_param of the domU's xenstore and console page and port"; "see above");
    let (r, _) = hvm_param(HVMOP_set_param, d, 99, 1);
    check!(r == -EINVAL, "set_param of index 99 is -EINVAL"; "returned {r} {}", errname(r));

    // Its program and parameters, through the mappings.
    let code = blob();
    let page = ext_gfn << 12;
    let params = (ext_gfn + 1) << 12;
    // SAFETY: `page` and `params` are the domU's two frames mapped at our extended-region
    // frames just now (identity map); nothing else refers to them; `code` fits in a page.
    unsafe {
        core::ptr::copy_nonoverlapping(code.as_ptr(), page as *mut u8, code.len());
        poke::<u32>(params, store.port);
        poke::<u64>(params + 8, SHINFO.addr() >> 12);
        poke::<u32>(params + 0x10, store.port);
    }
    // SAFETY: as above.
    let first = unsafe { peek::<u32>(page) };
    check!(code.len() <= 4096 && first == u32::from_le_bytes([code[0], code[1], code[2], code[3]]),
        "the program is in the domU's first page"; "{} bytes, first word {first:#x}", code.len());
    let flush = xen_domctl_cacheflush {
        start_pfn: RAM_GFN,
        nr_pfns: 2,
    };
    let r = domctl(XEN_DOMCTL_cacheflush, d, &flush).0;
    check!(r == 0, "cacheflush of the two pages"; "returned {r}");

    // Its vCPU, as xg_dom_arm.c's vcpu_arm64 sets it.
    let mut ctx = vcpu_guest_context {
        flags: VGCF_online,
        sctlr: SCTLR_GUEST_INIT,
        ..Default::default()
    };
    ctx.user_regs.pc64 = GUEST_RAM0_BASE;
    ctx.user_regs.x[0] = PARAMS_GFN << 12;
    let c = xen_domctl_vcpucontext {
        vcpu: 0,
        ctxt: BUF.addr(),
    };
    let r = domctl(XEN_DOMCTL_getvcpucontext, d, &c).0;
    check!(r == -ENODATA, "getvcpucontext before any context is -ENODATA"; "returned {r} {}", errname(r));
    for (psr, what) in [
        (PSR_MODE_EL2h | 0x3c0, "EL2h"),
        (PSR_MODE_USR32, "AArch32 usr"),
    ] {
        ctx.user_regs.cpsr = psr;
        let r = setvcpucontext(d, 0, Some(&ctx));
        check!(r == -EINVAL, "setvcpucontext with a {what} cpsr is -EINVAL"; "returned {r} {}", errname(r));
    }
    ctx.user_regs.cpsr = PSR_GUEST64_INIT;
    let r = setvcpucontext(d, 1, Some(&ctx));
    check!(r == -EINVAL, "setvcpucontext of vCPU 1 of a 1-vCPU domain is -EINVAL"; "returned {r} {}", errname(r));
    let r = setvcpucontext(d, 0, Some(&ctx));
    check!(r == 0, "setvcpucontext(pc = entry, x0 = parameters, PSR_GUEST64_INIT, VGCF_online)";
        "returned {r} {}", errname(r));
    let r = domctl(XEN_DOMCTL_getvcpucontext, d, &c).0;
    // SAFETY: BUF holds the context the hypervisor just wrote (page-aligned static).
    let got: vcpu_guest_context = unsafe { core::ptr::read_volatile(BUF.addr() as *const _) };
    check!(r == 0 && got.user_regs.pc64 == GUEST_RAM0_BASE && got.user_regs.x[0] == PARAMS_GFN << 12
        && got.user_regs.cpsr == PSR_GUEST64_INIT && got.flags & VGCF_online != 0
        && got.sctlr == SCTLR_GUEST_INIT,
        "getvcpucontext gives it back"; "returned {r}: pc {:#x} x0 {:#x} cpsr {:#x} flags {:#x} sctlr {:#x}",
        got.user_regs.pc64, got.user_regs.x[0], got.user_regs.cpsr, got.flags, got.sctlr);

    // Run it.
    let r = domctl(XEN_DOMCTL_unpausedomain, d, &0u64).0;
    check!(r == 0, "unpausedomain"; "returned {r}");
    let signalled = wait_for(5000, || pending(ours, false));
    check!(signalled, "the domU's event arrives on our end of the channel"; "not pending after 5 s");
    let exc = wait_for(5000, || pending(dom_exc, false));
    check!(exc, "VIRQ_DOM_EXC is raised when it shuts down"; "not pending after 5 s");
    let shut = wait_for(2000, || getinfo(d).1.flags & XEN_DOMINF_shutdown != 0);
    let (r, i) = getinfo(d);
    let code_seen = (i.flags >> XEN_DOMINF_shutdownshift) & 0xff;
    info!(
        "getdomaininfo({d}): flags {:#x}, cpu_time {} ns, tot_pages {}",
        i.flags, i.cpu_time, i.tot_pages
    );
    check!(r == 0 && shut && code_seen == SHUTDOWN_poweroff,
        "getdomaininfo: shut down with SHUTDOWN_poweroff (its checks passed)";
        "returned {r}, flags {:#x}, code {code_seen}{}", i.flags,
        if code_seen == SHUTDOWN_crash { " (crash: a check in the domU failed)" } else { "" });
    check!(i.cpu_time > 0, "getdomaininfo: cpu_time counts its run"; "cpu_time {}", i.cpu_time);
    let (r, op) = domctl(
        XEN_DOMCTL_getvcpuinfo,
        d,
        &xen_domctl_getvcpuinfo::default(),
    );
    let vi: xen_domctl_getvcpuinfo = get(&op.u);
    info!(
        "getvcpuinfo(0): online {} blocked {} running {} cpu_time {} cpu {}",
        vi.online, vi.blocked, vi.running, vi.cpu_time, vi.cpu
    );
    // `running` is not asserted: Xen may still show a shut-down vCPU on its pCPU for a while.
    check!(r == 0 && vi.online == 1 && vi.cpu_time > 0,
        "getvcpuinfo(0): online, cpu_time counted";
        "returned {r}, online {} running {} cpu_time {}", vi.online, vi.running, vi.cpu_time);
    let r = domctl(
        XEN_DOMCTL_getvcpuinfo,
        d,
        &xen_domctl_getvcpuinfo {
            vcpu: 1,
            ..Default::default()
        },
    )
    .0;
    check!(r == -EINVAL, "getvcpuinfo of a vCPU it does not have is -EINVAL"; "returned {r} {}", errname(r));
    for (what, off, want) in RESULTS {
        // SAFETY: the parameter page is still mapped at `params`.
        let got = unsafe { peek::<u64>(params + off) } as i64;
        check!(got == want, "{what}: {}", errname(want); "got {got} {}", errname(got));
    }
    // SAFETY: as above.
    let (val, marker) = unsafe { (peek::<u64>(params + 0x128), peek::<u64>(params + 0x148)) };
    check!(val == u64::from(store.port) && marker == 0xd0e, "the domU read its STORE_EVTCHN and ran to the end";
        "value {val}, marker {marker:#x}");

    // xl list.
    let l = xen_sysctl_getdomaininfolist {
        first_domain: 0,
        max_domains: 8,
        buffer: BUF.addr(),
        num_domains: 0,
    };
    let (r, op) = sysctl(XEN_SYSCTL_getdomaininfolist, &l);
    let l: xen_sysctl_getdomaininfolist = get(&op.u);
    // SAFETY: BUF holds `num_domains` entries the hypervisor wrote (at most 8 * 120 bytes).
    let (d0, d1) = unsafe {
        (
            core::ptr::read_volatile(BUF.addr() as *const xen_domctl_getdomaininfo),
            core::ptr::read_volatile((BUF.addr() + 120) as *const xen_domctl_getdomaininfo),
        )
    };
    check!(r == 0 && l.num_domains == 2 && d0.domain == 0 && d1.domain == d
        && d1.flags & XEN_DOMINF_shutdown != 0,
        "getdomaininfolist: dom0, then the shut-down domU"; "returned {r}, {} domains: {} {} flags {:#x}",
        l.num_domains, d0.domain, d1.domain, d1.flags);

    // A second domain, shut down by us.
    let (r, d2) = create(1);
    let r2 = remote_shutdown(d2, SHUTDOWN_crash);
    let (_, i2) = getinfo(d2);
    check!(r == 0 && r2 == 0 && i2.flags & XEN_DOMINF_shutdown != 0
        && (i2.flags >> XEN_DOMINF_shutdownshift) & 0xff == SHUTDOWN_crash,
        "remote_shutdown(crash) of another domain: shut down with SHUTDOWN_crash";
        "create {r}, remote_shutdown {r2}, flags {:#x}", i2.flags);
    check!(i2.flags & XEN_DOMINF_paused != 0, "it stays paused (toolstack pause)"; "flags {:#x}", i2.flags);
    let r = domctl(XEN_DOMCTL_destroydomain, d2, &0u64).0;
    check!(r == 0, "destroy it"; "returned {r}");

    // A third one resets itself with PSCI SYSTEM_RESET: only that domain shuts down (reboot).
    let (r, d3) = create(1);
    let r1 = domctl(XEN_DOMCTL_max_mem, d3, &MAX_MEM_KB).0;
    let mut ctx3 = vcpu_guest_context {
        flags: VGCF_online,
        sctlr: SCTLR_GUEST_INIT,
        ..Default::default()
    };
    ctx3.user_regs.pc64 = GUEST_RAM0_BASE;
    ctx3.user_regs.cpsr = PSR_GUEST64_INIT;
    let early = setvcpucontext(d3, 0, Some(&ctx3));
    check!(early == -EINVAL, "setvcpucontext before max_vcpus is -EINVAL (no vCPU yet)";
        "returned {early} {}", errname(early));
    let rv = domctl(XEN_DOMCTL_max_vcpus, d3, &1u32).0;
    let r32 = setvcpucontext(d3, 0, Some(&ctx3));
    check!(r32 == -EINVAL, "setvcpucontext(AArch64 PSR) before set_address_size(64) is -EINVAL (a 32-bit domain)";
        "returned {r32} {}", errname(r32));
    let ra = domctl(XEN_DOMCTL_set_address_size, d3, &64u32).0;
    let mut one = [RAM_GFN];
    let n = reservation(XENMEM_populate_physmap, d3, &mut one, 0);
    let mut e = [1i32];
    let rm = map_foreign(d3, &[RAM_GFN], &[ext_gfn + 6], &mut e);
    let prog = psci_blob();
    if rm == 0 && e[0] == 0 {
        // SAFETY: d3's first frame is mapped at `ext_gfn + 6` just now; the program is tiny.
        unsafe {
            core::ptr::copy_nonoverlapping(
                prog.as_ptr(),
                ((ext_gfn + 6) << 12) as *mut u8,
                prog.len(),
            )
        };
    }
    let ru = unmap(ext_gfn + 6);
    let rs = setvcpucontext(d3, 0, Some(&ctx3));
    let ru2 = domctl(XEN_DOMCTL_unpausedomain, d3, &0u64).0;
    check!(r == 0 && r1 == 0 && rv == 0 && ra == 0 && n == 1 && rm == 0 && e[0] == 0 && ru == 0
        && rs == 0 && ru2 == 0,
        "a third domain with a PSCI SYSTEM_RESET program, started";
        "create {r}, max_mem {r1}, max_vcpus {rv}, set_address_size {ra}, populate {n}, map {rm} {e:?}, unmap {ru}, setvcpucontext {rs}, unpause {ru2}");
    let shut = wait_for(5000, || getinfo(d3).1.flags & XEN_DOMINF_shutdown != 0);
    let (_, i3) = getinfo(d3);
    check!(shut && (i3.flags >> XEN_DOMINF_shutdownshift) & 0xff == SHUTDOWN_reboot,
        "its PSCI SYSTEM_RESET shuts it down with SHUTDOWN_reboot (the machine goes on)";
        "flags {:#x}", i3.flags);
    let r = domctl(XEN_DOMCTL_destroydomain, d3, &0u64).0;
    check!(r == 0, "destroy it"; "returned {r}");

    // Destroy the domU while its pages are still mapped here.
    pending(dom_exc, true);
    let r = domctl(XEN_DOMCTL_destroydomain, d, &0u64).0;
    check!(r == 0, "destroydomain of the shut-down domU"; "returned {r}");
    let exc = wait_for(2000, || pending(dom_exc, false));
    check!(exc, "VIRQ_DOM_EXC is raised when it is destroyed"; "not pending");
    let mut st = evtchn_status {
        dom: DOMID_SELF,
        port: ours,
        ..Default::default()
    };
    let r = evtchn(EVTCHNOP_status, &mut st);
    check!(r == 0 && st.status == EVTCHNSTAT_unbound,
        "our end of the channel is unbound once the domU is gone"; "returned {r}, status {} (interdomain is {})",
        st.status, EVTCHNSTAT_interdomain);
    // SAFETY: the foreign mapping keeps the page (Xen's page reference).
    let marker = unsafe { peek::<u64>(params + 0x148) };
    check!(marker == 0xd0e, "a foreign mapping keeps the destroyed domain's page"; "marker {marker:#x}");
    let r1 = unmap(ext_gfn);
    let r2 = unmap(ext_gfn + 1);
    let r3 = unmap(ext_gfn + 2);
    check!(r1 == 0 && r2 == 0, "remove_from_physmap of the foreign mappings"; "returned {r1}, {r2}");
    check!(r3 == -ENOENT, "remove_from_physmap of a frame with nothing is -ENOENT"; "returned {r3} {}", errname(r3));
    let f = settled_free_pages(f0);
    check!(f == f0, "free_pages is back where it started"; "start {f0}, now {f} ({} pages kept)", f0 as i64 - f as i64);

    // xl dmesg.
    let rc = xen_sysctl_readconsole {
        buffer: BUF.addr(),
        count: 4096,
        ..Default::default()
    };
    let (r, op) = sysctl(XEN_SYSCTL_readconsole, &rc);
    let got: xen_sysctl_readconsole = get(&op.u);
    let n = (got.count as usize).min(4096);
    // SAFETY: BUF holds `n` bytes the hypervisor wrote.
    let text = unsafe { core::slice::from_raw_parts(BUF.addr() as *const u8, n) };
    let has_xen = text.windows(5).any(|w| w == b"(XEN)");
    check!(r == 0 && n > 0 && has_xen, "readconsole returns the hypervisor's log";
        "returned {r}, {n} bytes, (XEN) seen: {has_xen}");
    let rc2 = xen_sysctl_readconsole {
        incremental: 1,
        index: got.index,
        buffer: BUF.addr(),
        count: 4096,
        ..Default::default()
    };
    let (r, op) = sysctl(XEN_SYSCTL_readconsole, &rc2);
    let got2: xen_sysctl_readconsole = get(&op.u);
    check!(r == 0 && got2.index.wrapping_sub(got.index) == got2.count,
        "an incremental read continues from the index it was given"; "returned {r}, index {} -> {}, count {}",
        got.index, got2.index, got2.count);

    test_guests::finish();
}
