//! Lost wake-ups: interrupts for vCPUs that idle in WFI, run, or are switched out.
//!
//! Tokens hop from CPU to CPU as SGIs, forwarded by the interrupt handlers, hundreds of thousands
//! of times while the CPUs idle in WFI between them; each token has its own SGI, so no two
//! instances of one SGI are ever in flight and every send must arrive exactly once. The same
//! tokens then travel as Xen event channels (an IPI port per token and CPU, EVTCHNOP_send, the
//! upcall PPI and a 2-level handler like Linux's `xen_evtchn_do_upcall`). Each CPU's
//! virtual timer fires at short pseudo-random intervals and wakes it from WFI. Whenever a CPU
//! wakes it checks that no token and no timer is overdue by more than [`BOUND_MS`]: a hypervisor
//! that loses a wake-up leaves one stuck (nothing else would wake that CPU), and the check names
//! it, then a rescue SGI wakes everyone so the run ends cleanly. CPU 0 drives the phases and
//! keeps its own timer ticking so it always wakes to end a phase.
#![no_std]
#![no_main]

use core::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::SeqCst,
};

use core::cell::UnsafeCell;

use aarch64_cpu::registers::{Writeable, CNTV_CTL_EL0, CNTV_CVAL_EL0};
use test_guests::xen::*;
use test_guests::{
    check, cpu_index, gic, info, irq_disable, irq_enable, now, set_irq_handler, skip, smp,
    ticks_us, wait_for, Board, MAX_CPUS, STRAY_IRQS,
};

test_guests::entry!(main);

/// Tokens use SGIs 0..MAX_TOKENS.
const MAX_TOKENS: usize = 8;
/// Wakes every CPU at the end of a phase or after a failure.
const RESCUE: u32 = 15;
/// A token or timer interrupt not taken this long after it was due is lost.
const BOUND_MS: u64 = 2000;
/// Length of each phase.
const PHASE_MS: u64 = 3000;

/// How tokens travel in a phase.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// As SGIs.
    Sgi,
    /// As event channels.
    Events,
    /// Even tokens as SGIs, odd ones as event channels (the vGIC lock is busier).
    Mixed,
}

/// One phase of the run.
struct Phase {
    name: &'static str,
    /// How tokens travel.
    mode: Mode,
    /// Tokens in flight (0: timers only).
    tokens: usize,
    /// Every CPU's timer fires at random intervals (else only CPU 0's, as its phase clock).
    timers: bool,
    /// CPU 0 polls instead of idling (interrupts then reach a running vCPU).
    cpu0_spins: bool,
}

// Token state: sends, arrivals, where and when the last send went.
static SENT: [AtomicU64; MAX_TOKENS] = [const { AtomicU64::new(0) }; MAX_TOKENS];
static RECV: [AtomicU64; MAX_TOKENS] = [const { AtomicU64::new(0) }; MAX_TOKENS];
static SENT_AT: [AtomicU64; MAX_TOKENS] = [const { AtomicU64::new(0) }; MAX_TOKENS];
static SENT_TO: [AtomicUsize; MAX_TOKENS] = [const { AtomicUsize::new(0) }; MAX_TOKENS];
static SENT_FROM: [AtomicUsize; MAX_TOKENS] = [const { AtomicUsize::new(0) }; MAX_TOKENS];
/// Per CPU: event tokens that arrived and wait to be sent on.
static FORWARD: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Arrivals on each CPU.
static ARRIVED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// A token arrived on a CPU other than the one it was sent to, or twice.
static MISROUTED: AtomicU32 = AtomicU32::new(0);

// Timer state per CPU: the deadline armed (0: none), interrupts taken, the worst lateness.
static DUE: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static FIRES: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static EARLY: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static LATEST: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static SEED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

// Event channels.
/// A page shared with the hypervisor (it writes it behind the compiler's back).
#[repr(transparent)]
struct Shared(UnsafeCell<Page>);
// SAFETY: the page is only accessed through atomic accesses at its address.
unsafe impl Sync for Shared {}
impl Shared {
    const fn new() -> Shared {
        Shared(UnsafeCell::new(Page::zeroed()))
    }
    fn addr(&self) -> u64 {
        self.0.get() as u64
    }
}
/// The RAM page whose frame becomes shared_info.
static SHINFO_PAGE: Shared = Shared::new();
/// Every CPU's vcpu_info, [`VCPU_INFO_STRIDE`] bytes apart.
static VCPU_PAGE: Shared = Shared::new();
const VCPU_INFO_STRIDE: u64 = 64;
/// Ports below this are tracked (8 words of the 2-level bitmaps).
const MAX_PORT: usize = 512;
/// Per token and CPU: the IPI port bound to that CPU.
static PORTS: [[AtomicU32; MAX_CPUS]; MAX_TOKENS] =
    [const { [const { AtomicU32::new(0) }; MAX_CPUS] }; MAX_TOKENS];
/// Per port: token * MAX_CPUS + CPU + 1 (0: not ours).
static PORT_OWNER: [AtomicUsize; MAX_PORT] = [const { AtomicUsize::new(0) }; MAX_PORT];
/// Per CPU: its ports, as 2-level bitmap words.
static MY_PORTS: [[AtomicU64; MAX_PORT / 64]; MAX_CPUS] =
    [const { [const { AtomicU64::new(0) }; MAX_PORT / 64] }; MAX_CPUS];
/// The upcall PPI's INTID once event channels are set up (0: not available).
static UPCALL_INTID: AtomicU32 = AtomicU32::new(0);
/// Upcalls taken per CPU, and vcpu_info registrations that failed.
static UPCALLS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static VCPU_INFO_FAILED: AtomicU32 = AtomicU32::new(0);
/// How tokens travel in this phase: 0 SGIs, 1 event channels, 2 mixed.
static MODE: AtomicU32 = AtomicU32::new(0);

fn by_event(t: usize) -> bool {
    match MODE.load(SeqCst) {
        1 => true,
        2 => t % 2 == 1,
        _ => false,
    }
}

// The phase being run.
static NCPUS: AtomicUsize = AtomicUsize::new(1);
static TOKENS: AtomicUsize = AtomicUsize::new(0);
static TIMERS: AtomicBool = AtomicBool::new(false);
/// Handlers stop forwarding tokens and re-arming timers.
static STOP: AtomicBool = AtomicBool::new(true);
/// Workers leave their loops.
static OVER: AtomicBool = AtomicBool::new(true);
static READY: AtomicUsize = AtomicUsize::new(0);
/// Workers that saw the phase end.
static LEFT: AtomicUsize = AtomicUsize::new(0);

// The first failure seen: kind (0 none, 1 SGI, 2 timer), the token or CPU, details.
const FAIL_SGI: u32 = 1;
const FAIL_TIMER: u32 = 2;
static FAIL: AtomicU32 = AtomicU32::new(0);
static FAIL_WHAT: AtomicUsize = AtomicUsize::new(0);
static FAIL_SEEN_BY: AtomicUsize = AtomicUsize::new(0);
static FAIL_LATE: AtomicU64 = AtomicU64::new(0);
/// Interrupts of the failed token or timer taken when the failure was seen.
static FAIL_COUNT: AtomicU64 = AtomicU64::new(0);

fn ncpus() -> usize {
    NCPUS.load(SeqCst)
}

/// The CPU token `t` goes to from `cpu`: strides differ per token, never to itself.
fn next_cpu(cpu: usize, t: usize) -> usize {
    let n = ncpus();
    (cpu + 1 + t % (n - 1)) % n
}

fn send_token(t: usize, from: usize) {
    let to = next_cpu(from, t);
    SENT_TO[t].store(to, SeqCst);
    SENT_FROM[t].store(from, SeqCst);
    SENT_AT[t].store(now(), SeqCst);
    SENT[t].fetch_add(1, SeqCst);
    if by_event(t) {
        let mut p = evtchn_port {
            port: PORTS[t][to].load(SeqCst),
        };
        let r = hypercall(
            __HYPERVISOR_event_channel_op,
            EVTCHNOP_send,
            &mut p as *mut _ as u64,
            0,
            0,
            0,
        );
        if r != 0 {
            MISROUTED.fetch_add(1, SeqCst);
        }
    } else {
        gic::send_sgi(t as u32, to);
    }
}

/// Token `t` arrived on this CPU: an SGI token goes on at once (from the handler), an event
/// token from the CPU's loop once the upcall returned. Like Linux's event handlers, the upcall
/// then makes no hypercall: the exit that lowers the upcall line is the one at its EOI, after
/// the handler's last look at `evtchn_upcall_pending`.
fn arrive(t: usize) {
    let me = cpu_index();
    if SENT_TO[t].load(SeqCst) != me || RECV[t].load(SeqCst) >= SENT[t].load(SeqCst) {
        MISROUTED.fetch_add(1, SeqCst);
    }
    RECV[t].fetch_add(1, SeqCst);
    ARRIVED[me].fetch_add(1, SeqCst);
    if STOP.load(SeqCst) {
        return;
    }
    if by_event(t) {
        FORWARD[me].fetch_or(1 << t, SeqCst);
    } else {
        send_token(t, me);
    }
}

/// Sends on the event tokens that arrived on this CPU (its loop, after each wake-up).
fn forward_events(me: usize) {
    let mut f = FORWARD[me].swap(0, SeqCst);
    while f != 0 {
        let t = f.trailing_zeros() as usize;
        f &= f - 1;
        if !STOP.load(SeqCst) {
            send_token(t, me);
        }
    }
}

fn token_handler(intid: u32) {
    arrive(intid as usize % MAX_TOKENS);
}

fn atomic_u64(addr: u64) -> &'static AtomicU64 {
    // SAFETY: callers pass 8-aligned addresses inside SHINFO_PAGE or VCPU_PAGE (page-sized
    // statics, mapped for the whole run); the hypervisor updates these words atomically too.
    unsafe { &*(addr as *const AtomicU64) }
}

fn vcpu_info_addr(cpu: usize) -> u64 {
    VCPU_PAGE.addr() + VCPU_INFO_STRIDE * cpu as u64
}

/// The event-channel upcall, as Linux's `__xen_evtchn_do_upcall` with the 2-level ABI: clear
/// `evtchn_upcall_pending`, take the selector, handle this CPU's pending unmasked ports, and
/// go round again while the hypervisor set `evtchn_upcall_pending` meanwhile.
fn upcall(_intid: u32) {
    let me = cpu_index();
    UPCALLS[me].fetch_add(1, SeqCst);
    let vi = vcpu_info_addr(me);
    // SAFETY: the flag byte of this CPU's vcpu_info (inside VCPU_PAGE).
    let flag = unsafe { &*((vi + vcpu_info::EVTCHN_UPCALL_PENDING as u64) as *const AtomicU8) };
    let sel = atomic_u64(vi + vcpu_info::EVTCHN_PENDING_SEL as u64);
    let sh = SHINFO_PAGE.addr();
    loop {
        flag.store(0, SeqCst);
        let words = sel.swap(0, SeqCst);
        for w in 0..MAX_PORT / 64 {
            if words & (1 << w) == 0 {
                continue;
            }
            let pending = atomic_u64(sh + (shared_info::EVTCHN_PENDING + 8 * w) as u64);
            let mask = atomic_u64(sh + (shared_info::EVTCHN_MASK + 8 * w) as u64);
            let mut ready =
                pending.load(SeqCst) & !mask.load(SeqCst) & MY_PORTS[me][w].load(SeqCst);
            while ready != 0 {
                let b = ready.trailing_zeros() as usize;
                ready &= ready - 1;
                pending.fetch_and(!(1 << b), SeqCst);
                match PORT_OWNER[w * 64 + b].load(SeqCst) {
                    0 => _ = MISROUTED.fetch_add(1, SeqCst),
                    o => arrive((o - 1) / MAX_CPUS),
                }
            }
        }
        if flag.load(SeqCst) == 0 {
            break;
        }
    }
}

/// Registers this CPU's vcpu_info and enables the upcall PPI here.
fn evtchn_cpu_init(cpu: usize) {
    let intid = UPCALL_INTID.load(SeqCst);
    if intid == 0 {
        return;
    }
    let vi = vcpu_info_addr(cpu);
    let mut x = vcpu_register_vcpu_info {
        mfn: vi >> 12,
        offset: (vi & 0xfff) as u32,
        rsvd: 0,
    };
    let r = hypercall(
        __HYPERVISOR_vcpu_op,
        VCPUOP_register_vcpu_info,
        cpu as u64,
        &mut x as *mut _ as u64,
        0,
        0,
    );
    if r != 0 {
        VCPU_INFO_FAILED.fetch_add(1, SeqCst);
    }
    gic::enable(intid);
}

/// Maps shared_info, finds the upcall PPI and binds an IPI port per token and CPU. Returns
/// why event channels cannot be used, if so.
fn evtchn_setup(b: &Board) -> Result<(), &'static str> {
    if !b.hyp_checks {
        return Err("not under a hypervisor");
    }
    let fdt = b.fdt();
    let node = fdt.find_node("/hypervisor").ok_or("no /hypervisor node")?;
    let ints = node
        .property("interrupts")
        .ok_or("no /hypervisor interrupts")?
        .value;
    let cell = |i: usize| {
        ints.get(4 * i..4 * i + 4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    };
    let (Some(1), Some(num)) = (cell(0), cell(1)) else {
        return Err("the upcall is not a PPI");
    };
    let mut x = xen_add_to_physmap {
        domid: DOMID_SELF,
        size: 0,
        space: XENMAPSPACE_shared_info,
        idx: 0,
        gpfn: SHINFO_PAGE.addr() >> 12,
    };
    let mo = __HYPERVISOR_memory_op;
    if hypercall(mo, XENMEM_add_to_physmap, &mut x as *mut _ as u64, 0, 0, 0) != 0 {
        return Err("XENMEM_add_to_physmap(shared_info) failed");
    }
    let sh = SHINFO_PAGE.addr();
    for (t, ports) in PORTS.iter().enumerate() {
        for c in 0..b.ncpus {
            let mut bi = evtchn_bind_ipi {
                vcpu: c as u32,
                port: 0,
            };
            let eo = __HYPERVISOR_event_channel_op;
            if hypercall(eo, EVTCHNOP_bind_ipi, &mut bi as *mut _ as u64, 0, 0, 0) != 0 {
                return Err("EVTCHNOP_bind_ipi failed");
            }
            let port = bi.port as usize;
            if port == 0 || port >= MAX_PORT {
                return Err("EVTCHNOP_bind_ipi gave a port past 511");
            }
            ports[c].store(bi.port, SeqCst);
            PORT_OWNER[port].store(t * MAX_CPUS + c + 1, SeqCst);
            MY_PORTS[c][port / 64].fetch_or(1 << (port % 64), SeqCst);
            atomic_u64(sh + (shared_info::EVTCHN_MASK + 8 * (port / 64)) as u64)
                .fetch_and(!(1 << (port % 64)), SeqCst);
        }
    }
    UPCALL_INTID.store(16 + num, SeqCst);
    set_irq_handler(16 + num, upcall);
    evtchn_cpu_init(0);
    Ok(())
}

fn rescue_handler(_intid: u32) {}

/// A pseudo-random delay in 20..1000 microseconds (per-CPU xorshift).
fn random_delay(cpu: usize) -> u64 {
    let mut x = SEED[cpu].load(SeqCst) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    SEED[cpu].store(x, SeqCst);
    ticks_us(20 + x % 980)
}

fn arm_timer(cpu: usize) {
    let due = now() + random_delay(cpu);
    DUE[cpu].store(due, SeqCst);
    CNTV_CVAL_EL0.set(due);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

fn stop_timer(cpu: usize) {
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR + CNTV_CTL_EL0::IMASK::SET);
    DUE[cpu].store(0, SeqCst);
}

fn timer_wanted(cpu: usize) -> bool {
    cpu == 0 || TIMERS.load(SeqCst)
}

fn timer_handler(_intid: u32) {
    let me = cpu_index();
    let t = now();
    let due = DUE[me].load(SeqCst);
    if due != 0 {
        if t < due {
            EARLY[me].fetch_add(1, SeqCst);
        }
        LATEST[me].fetch_max(t.saturating_sub(due), SeqCst);
    }
    FIRES[me].fetch_add(1, SeqCst);
    if STOP.load(SeqCst) || !timer_wanted(me) {
        stop_timer(me);
    } else {
        arm_timer(me);
    }
}

/// Records the first failure and wakes every CPU.
fn fail(kind: u32, what: usize, late: u64, count: u64) {
    if FAIL.compare_exchange(0, kind, SeqCst, SeqCst).is_err() {
        return;
    }
    FAIL_COUNT.store(count, SeqCst);
    FAIL_WHAT.store(what, SeqCst);
    FAIL_SEEN_BY.store(cpu_index(), SeqCst);
    FAIL_LATE.store(late, SeqCst);
    STOP.store(true, SeqCst);
    OVER.store(true, SeqCst);
    rescue_all();
}

fn rescue_all() {
    let me = cpu_index();
    for c in (0..ncpus()).filter(|&c| c != me) {
        gic::send_sgi(RESCUE, c);
    }
}

/// Checks that no token and no timer is overdue.
fn watchdog() {
    if FAIL.load(SeqCst) != 0 {
        return;
    }
    let t = now();
    let bound = ticks_us(BOUND_MS * 1000);
    for k in 0..TOKENS.load(SeqCst) {
        let (s, r, at) = (
            SENT[k].load(SeqCst),
            RECV[k].load(SeqCst),
            SENT_AT[k].load(SeqCst),
        );
        if s != r && t > at + bound && SENT[k].load(SeqCst) == s && RECV[k].load(SeqCst) == r {
            fail(FAIL_SGI, k, t - at, r);
        }
    }
    for c in 0..ncpus() {
        let (due, fires) = (DUE[c].load(SeqCst), FIRES[c].load(SeqCst));
        if due != 0
            && t > due + bound
            && DUE[c].load(SeqCst) == due
            && FIRES[c].load(SeqCst) == fires
        {
            fail(FAIL_TIMER, c, t - due, fires);
        }
    }
}

/// Waits for an interrupt as Linux's idle loop does: WFI with IRQs masked unless there is work,
/// then the interrupt is taken once they are unmasked.
fn idle(cpu: usize) {
    irq_disable();
    if FORWARD[cpu].load(SeqCst) == 0 && !OVER.load(SeqCst) {
        aarch64_cpu::asm::wfi();
    }
    irq_enable();
}

/// A secondary's part of a phase: idle in WFI, checking at every wake-up, until it is over.
fn secondary_work(cpu: usize) {
    if timer_wanted(cpu) {
        arm_timer(cpu);
    }
    READY.fetch_add(1, SeqCst);
    while !OVER.load(SeqCst) {
        idle(cpu);
        forward_events(cpu);
        watchdog();
    }
    stop_timer(cpu);
    LEFT.fetch_add(1, SeqCst);
}

fn init_secondary(cpu: usize) {
    if gic::init_cpu().is_ok() {
        if let Some(t) = test_guests::board().vtimer_intid {
            gic::enable(t);
        }
        evtchn_cpu_init(cpu);
        READY.fetch_add(1, SeqCst);
    }
    SEED[cpu].store(0x9E37_79B9_7F4A_7C15 ^ ((cpu as u64) << 32), SeqCst);
    irq_enable();
}

fn reset() {
    for k in 0..MAX_TOKENS {
        SENT[k].store(0, SeqCst);
        RECV[k].store(0, SeqCst);
        SENT_AT[k].store(0, SeqCst);
    }
    for c in 0..MAX_CPUS {
        ARRIVED[c].store(0, SeqCst);
        FIRES[c].store(0, SeqCst);
        EARLY[c].store(0, SeqCst);
        LATEST[c].store(0, SeqCst);
        DUE[c].store(0, SeqCst);
    }
    MISROUTED.store(0, SeqCst);
    FORWARD.iter().for_each(|f| f.store(0, SeqCst));
    READY.store(0, SeqCst);
    LEFT.store(0, SeqCst);
}

fn run_phase(b: &Board, p: &Phase) {
    let n = b.ncpus;
    reset();
    TOKENS.store(p.tokens, SeqCst);
    TIMERS.store(p.timers, SeqCst);
    MODE.store(p.mode as u32, SeqCst);
    STOP.store(false, SeqCst);
    OVER.store(false, SeqCst);
    let posted = (1..n).all(|c| smp::post(c, secondary_work));
    let ready = posted && wait_for(BOUND_MS, || READY.load(SeqCst) == n - 1);
    if !ready {
        check!(false, "{}: every CPU starts its part", p.name;
            "{} of {} secondaries ready", READY.load(SeqCst), n - 1);
        STOP.store(true, SeqCst);
        OVER.store(true, SeqCst);
        return;
    }
    for t in 0..p.tokens {
        send_token(t, 0);
    }
    let t0 = now();
    let end = t0 + ticks_us(PHASE_MS * 1000);
    // CPU 0 works until the phase is over; its timer wakes it at least every millisecond.
    if timer_wanted(0) {
        arm_timer(0);
    }
    while now() < end && FAIL.load(SeqCst) == 0 {
        if p.cpu0_spins {
            for _ in 0..100 {
                core::hint::spin_loop();
            }
        } else {
            idle(0);
        }
        forward_events(0);
        watchdog();
    }
    let elapsed = now() - t0;
    // Let the tokens come to rest, then wake every CPU to leave.
    STOP.store(true, SeqCst);
    let settled = wait_for(BOUND_MS, || {
        watchdog();
        (0..p.tokens).all(|k| SENT[k].load(SeqCst) == RECV[k].load(SeqCst))
    });
    OVER.store(true, SeqCst);
    stop_timer(0);
    let left = wait_for(BOUND_MS, || {
        rescue_all();
        (1..n).all(|c| !smp::busy(c))
    });

    let hops: u64 = (0..p.tokens).map(|k| RECV[k].load(SeqCst)).sum();
    let fires: u64 = (0..n).map(|c| FIRES[c].load(SeqCst)).sum();
    let early: u64 = (0..n).map(|c| EARLY[c].load(SeqCst)).sum();
    let latest = (0..n).map(|c| LATEST[c].load(SeqCst)).max().unwrap_or(0);
    let us = |ticks: u64| ticks.saturating_mul(1000) / ticks_us(1000).max(1);
    info!(
        "{}: {hops} token hops, {fires} timer interrupts (latest {} us late) in {} ms",
        p.name,
        us(latest),
        us(elapsed) / 1000
    );
    let arrivals: [u64; MAX_CPUS] = core::array::from_fn(|c| ARRIVED[c].load(SeqCst));
    info!("{}: arrivals per CPU {:?}", p.name, &arrivals[..n]);
    if p.mode != Mode::Sgi {
        let upcalls: [u64; MAX_CPUS] = core::array::from_fn(|c| UPCALLS[c].load(SeqCst));
        info!("{}: upcalls per CPU {:?}", p.name, &upcalls[..n]);
    }
    let what = FAIL_WHAT.load(SeqCst);
    let by = FAIL_SEEN_BY.load(SeqCst);
    let late = us(FAIL_LATE.load(SeqCst)) / 1000;
    match FAIL.swap(0, SeqCst) {
        FAIL_SGI => {
            let t = what;
            check!(false, "{}: every token wakes its target", p.name;
                "{} {t} from cpu{} to cpu{} not taken {late} ms after it was sent (seen by cpu{by}; send {} of the token; taken after the rescue: {})",
                if by_event(t) { "event token" } else { "SGI" },
                SENT_FROM[t].load(SeqCst), SENT_TO[t].load(SeqCst), SENT[t].load(SeqCst),
                RECV[t].load(SeqCst) == SENT[t].load(SeqCst));
        }
        FAIL_TIMER => {
            check!(false, "{}: every virtual timer interrupt wakes its CPU", p.name;
                "cpu{what}'s virtual timer not taken {late} ms after it was due (seen by cpu{by}; {} taken before; taken after the rescue: {})",
                FAIL_COUNT.load(SeqCst), FIRES[what].load(SeqCst) > FAIL_COUNT.load(SeqCst));
        }
        _ => {
            check!(settled && left && hops >= p.tokens as u64 && (p.tokens == 0 || hops > 0),
                "{}: no interrupt lost ({hops} token hops, {fires} timer interrupts)", p.name;
                "tokens settled: {settled}, secondaries left: {left}");
        }
    }
    check!(MISROUTED.load(SeqCst) == 0 && early == 0,
        "{}: every token arrives once where it was sent, no timer fires early", p.name;
        "{} misrouted or duplicated tokens, {early} early timer interrupts",
        MISROUTED.load(SeqCst));
}

fn main(b: &'static Board) {
    let r = gic::init_cpu();
    check!(r.is_ok(), "GIC{} initialised on cpu0", b.gic; "{:?}", r);
    let Some(vt) = b.vtimer_intid else {
        check!(false, "virtual timer PPI in the DT"; "no arm,armv8-timer node");
        return;
    };
    if r.is_err() {
        return;
    }
    if b.ncpus < 2 {
        skip("lost wake-ups between CPUs", "one CPU");
        return;
    }
    NCPUS.store(b.ncpus, SeqCst);
    SEED[0].store(0x9E37_79B9_7F4A_7C15, SeqCst);
    for id in 0..MAX_TOKENS as u32 {
        set_irq_handler(id, token_handler);
    }
    set_irq_handler(RESCUE, rescue_handler);
    set_irq_handler(vt, timer_handler);
    gic::enable(vt);
    irq_enable();

    let ev = evtchn_setup(b);
    if let Err(why) = ev {
        info!("event channels not used: {why}");
    }

    smp::set_init(init_secondary);
    READY.store(0, SeqCst);
    for cpu in 1..b.ncpus {
        let r = smp::start_and_wait(cpu, 2000);
        check!(r.is_ok(), "cpu{cpu} up"; "start: {:?}", r);
        if r.is_err() {
            return;
        }
    }
    let up = wait_for(1000, || READY.load(SeqCst) == b.ncpus - 1);
    check!(up, "every secondary initialised its GIC interface"; "{} of {}", READY.load(SeqCst), b.ncpus - 1);
    if !up {
        return;
    }
    if ev.is_ok() {
        let failed = VCPU_INFO_FAILED.load(SeqCst);
        check!(failed == 0, "every CPU registered its vcpu_info"; "{failed} registrations failed");
    }

    let many = (2 * b.ncpus).min(MAX_TOKENS);
    let phases = [
        Phase {
            name: "one token, all CPUs idle",
            mode: Mode::Sgi,
            tokens: 1,
            timers: false,
            cpu0_spins: false,
        },
        Phase {
            name: "one token, cpu0 running",
            mode: Mode::Sgi,
            tokens: 1,
            timers: false,
            cpu0_spins: true,
        },
        Phase {
            name: "timers only, all CPUs idle",
            mode: Mode::Sgi,
            tokens: 0,
            timers: true,
            cpu0_spins: false,
        },
        Phase {
            name: "many tokens and timers",
            mode: Mode::Sgi,
            tokens: many,
            timers: true,
            cpu0_spins: false,
        },
        Phase {
            name: "many tokens, cpu0 running",
            mode: Mode::Sgi,
            tokens: many,
            timers: false,
            cpu0_spins: true,
        },
        Phase {
            name: "one event token, all CPUs idle",
            mode: Mode::Events,
            tokens: 1,
            timers: false,
            cpu0_spins: false,
        },
        Phase {
            name: "many event tokens, all CPUs idle",
            mode: Mode::Events,
            tokens: many,
            timers: false,
            cpu0_spins: false,
        },
        Phase {
            name: "many SGI and event tokens, all CPUs idle",
            mode: Mode::Mixed,
            tokens: many,
            timers: false,
            cpu0_spins: false,
        },
        Phase {
            name: "many event tokens and timers",
            mode: Mode::Events,
            tokens: many,
            timers: true,
            cpu0_spins: false,
        },
    ];
    for p in &phases {
        if p.mode != Mode::Sgi && ev.is_err() {
            skip(p.name, "no event channels");
            continue;
        }
        run_phase(b, p);
    }

    for cpu in 1..b.ncpus {
        smp::request_off(cpu);
    }
    let stray = STRAY_IRQS.load(SeqCst);
    check!(stray == 0, "no unexpected interrupt was acknowledged"; "{stray} stray interrupts");
}
