//! Hypercall and event benchmarks, timed with the virtual counter:
//! - `xen_version`: a `xen_version(XENVER_version)` round trip (`hvc #0xea1` and back);
//! - `evtchn_send_upcall`: `EVTCHNOP_send` on an IPI port bound to vCPU 0 until the upcall
//!   handler runs (the event-channel PPI delivered, the handler entered; it then acknowledges
//!   the event in vcpu_info and shared_info as Linux does);
//! - `smccc_version`: a trivial SMCCC call (SMCCC_VERSION over `hvc #0`).
//!
//! Each is averaged over [`ITERATIONS`] (after [`WARMUP`]) and printed as
//! `# bench <name> <ns per op>`. `cargo xtask bench` runs it with `-icount shift=0`, where one
//! guest or hypervisor instruction is one nanosecond of virtual time, so the figures are
//! instruction counts (CNTVCT ticks at CNTFRQ, 62.5 MHz on QEMU virt, are converted to ns). The
//! same image runs under Xenith and Debian's Xen 4.17 for the side-by-side table.
#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};

use aarch64_cpu::registers::{Readable, CNTFRQ_EL0};
use test_guests::xen::*;
use test_guests::{check, gic, info, irq_enable, now, set_irq_handler, wait_for, Board};

test_guests::entry!(main);

/// Operations timed per benchmark.
const ITERATIONS: u64 = 10_000;
/// Operations run first, untimed (caches, TLBs, lazily allocated state).
const WARMUP: u64 = 200;

/// A page the hypervisor writes behind the compiler's back: only raw accesses.
#[repr(transparent)]
struct Shared(UnsafeCell<Page>);
// SAFETY: only accessed through raw atomic/volatile accesses at its address.
unsafe impl Sync for Shared {}
impl Shared {
    const fn new() -> Shared {
        Shared(UnsafeCell::new(Page::zeroed()))
    }
    fn addr(&self) -> u64 {
        self.0.get() as u64
    }
}

/// shared_info is mapped over this page; vcpu_info for vCPU 0 is registered in the other.
static SHINFO_PAGE: Shared = Shared::new();
static VCPU_PAGE: Shared = Shared::new();
const VCPU_INFO_OFF: u64 = 0x40;

/// The port the upcall handler acknowledges, and when the handler last ran (CNTVCT).
static PORT: AtomicU32 = AtomicU32::new(0);
static HANDLED_AT: AtomicU64 = AtomicU64::new(0);
static HANDLED: AtomicU64 = AtomicU64::new(0);

fn atomic64(addr: u64) -> &'static AtomicU64 {
    // SAFETY: callers pass 8-byte aligned addresses inside SHINFO_PAGE or VCPU_PAGE, mapped
    // for the whole run; the hypervisor updates those words atomically too.
    unsafe { &*(addr as *const AtomicU64) }
}

/// The upcall: timestamp first, then what Linux's 2-level handler does for one port.
fn upcall(_intid: u32) {
    HANDLED_AT.store(now(), SeqCst);
    let vi = VCPU_PAGE.addr() + VCPU_INFO_OFF;
    // evtchn_upcall_pending is the first byte of the word at vcpu_info + 0.
    let w0 = atomic64(vi);
    w0.fetch_and(!0xff, SeqCst);
    let sel = atomic64(vi + vcpu_info::EVTCHN_PENDING_SEL as u64).swap(0, SeqCst);
    let port = PORT.load(SeqCst);
    let word = u64::from(port / 64);
    if sel & (1 << word) != 0 {
        let pending = atomic64(SHINFO_PAGE.addr() + shared_info::EVTCHN_PENDING as u64 + 8 * word);
        pending.fetch_and(!(1 << (port % 64)), SeqCst);
    }
    HANDLED.fetch_add(1, SeqCst);
}

fn ns(ticks: u64) -> u64 {
    let f = CNTFRQ_EL0.get().max(1);
    (u128::from(ticks) * 1_000_000_000 / u128::from(f)) as u64
}

/// Average ns of `op` over ITERATIONS, after WARMUP.
fn time(mut op: impl FnMut()) -> u64 {
    for _ in 0..WARMUP {
        op();
    }
    let t0 = now();
    for _ in 0..ITERATIONS {
        op();
    }
    ns(now().wrapping_sub(t0)) / ITERATIONS
}

fn report(name: &str, per_op_ns: u64) {
    info!("bench {name} {per_op_ns}");
}

fn main(b: &'static Board) {
    info!(
        "hcbench: {ITERATIONS} iterations each, CNTFRQ {} Hz",
        CNTFRQ_EL0.get()
    );

    // (a) xen_version.
    let v = hypercall(__HYPERVISOR_xen_version, XENVER_version, 0, 0, 0, 0);
    check!(v == (4 << 16 | 17), "xen_version(XENVER_version) is 4.17"; "returned {v:#x}");
    report(
        "xen_version",
        time(|| {
            hypercall(__HYPERVISOR_xen_version, XENVER_version, 0, 0, 0, 0);
        }),
    );

    // (c) SMCCC_VERSION.
    let s = smccc_hvc(ARM_SMCCC_VERSION_FID, 0)[0] as u32;
    check!(s == ARM_SMCCC_VERSION_1_1, "SMCCC_VERSION is 1.1"; "returned {s:#x}");
    report(
        "smccc_version",
        time(|| {
            smccc_hvc(ARM_SMCCC_VERSION_FID, 0);
        }),
    );

    // (b) EVTCHNOP_send -> upcall handler.
    let intid = b
        .fdt()
        .find_node("/hypervisor")
        .and_then(|n| n.property("interrupts"))
        .and_then(|p| {
            let v = p.value;
            (v.len() >= 8 && v[..4] == [0, 0, 0, 1])
                .then(|| 16 + u32::from_be_bytes([v[4], v[5], v[6], v[7]]))
        });
    let gic_ok = gic::init_cpu();
    let mut x = xen_add_to_physmap {
        domid: DOMID_SELF,
        size: 0,
        space: XENMAPSPACE_shared_info,
        idx: 0,
        gpfn: SHINFO_PAGE.addr() >> 12,
    };
    let rs = op(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, &mut x);
    let mut vi = vcpu_register_vcpu_info {
        mfn: VCPU_PAGE.addr() >> 12,
        offset: VCPU_INFO_OFF as u32,
        rsvd: 0,
    };
    let rv = hypercall(
        __HYPERVISOR_vcpu_op,
        VCPUOP_register_vcpu_info,
        0,
        &mut vi as *mut _ as u64,
        0,
        0,
    );
    let mut bi = evtchn_bind_ipi { vcpu: 0, port: 0 };
    let rb = op(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_ipi, &mut bi);
    let ready = matches!((intid, &gic_ok), (Some(_), Ok(()))) && rs == 0 && rv == 0 && rb == 0;
    check!(ready, "shared_info mapped, vcpu_info registered, IPI port bound, upcall PPI enabled";
        "upcall {intid:?}, GIC {gic_ok:?}, add_to_physmap {rs}, register_vcpu_info {rv}, bind_ipi {rb}");
    if !ready {
        return;
    }
    let (intid, port) = (intid.unwrap_or(0), bi.port);
    PORT.store(port, SeqCst);
    let mask = SHINFO_PAGE.addr() + shared_info::EVTCHN_MASK as u64 + 8 * u64::from(port / 64);
    atomic64(mask).fetch_and(!(1 << (port % 64)), SeqCst);
    set_irq_handler(intid, upcall);
    gic::enable(intid);
    irq_enable();
    // register_vcpu_info marked everything pending: let that upcall pass.
    wait_for(100, || HANDLED.load(SeqCst) > 0);
    let mut send = evtchn_port { port };
    let mut lost = 0u64;
    let mut one = || -> Option<u64> {
        let before = HANDLED.load(SeqCst);
        let t0 = now();
        op(__HYPERVISOR_event_channel_op, EVTCHNOP_send, &mut send);
        // The upcall is taken on return from the hypercall: the wait is normally over at once.
        if !wait_for(100, || HANDLED.load(SeqCst) != before) {
            lost += 1;
            return None;
        }
        Some(HANDLED_AT.load(SeqCst).wrapping_sub(t0))
    };
    for _ in 0..WARMUP {
        one();
    }
    let (mut sum, mut n) = (0u64, 0u64);
    for _ in 0..ITERATIONS {
        if let Some(t) = one() {
            sum += t;
            n += 1;
        }
    }
    check!(lost == 0, "every EVTCHNOP_send raised the upcall"; "{lost} of {} did not", ITERATIONS + WARMUP);
    if let Some(avg) = ns(sum).checked_div(n) {
        report("evtchn_send_upcall", avg);
    }
}
