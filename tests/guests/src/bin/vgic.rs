//! Interrupt controller and timer conformance: GIC init on every CPU, SGIs between CPUs and to
//! self (all 16 pending at once arrive exactly once), a disabled SGI stays pending until enabled,
//! the EL1 virtual timer PPI fires on every CPU no earlier than programmed, WFI wakes on it.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};

use aarch64_cpu::registers::{Readable, Writeable, CNTV_CTL_EL0, CNTV_CVAL_EL0};
use test_guests::{
    check, cpu_index, delay_us, gic, info, irq_disable, irq_enable, now, set_irq_handler, skip,
    smp, ticks_us, wait_for, Board, MAX_CPUS, STRAY_IRQS,
};

test_guests::entry!(main);

const PING: u32 = 1;
const PONG: u32 = 2;
const MASKED: u32 = 5;
const TIMER_DELAY_US: u64 = 10_000;
const TIMER_SHOTS: u32 = 3;

static SGIS: [[AtomicU32; 16]; MAX_CPUS] = [const { [const { AtomicU32::new(0) }; 16] }; MAX_CPUS];
static REPLY: AtomicBool = AtomicBool::new(false);
static TIMER_FIRED: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];
static TIMER_AT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static INIT_OK: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

fn sgi_handler(intid: u32) {
    let me = cpu_index();
    SGIS[me][intid as usize % 16].fetch_add(1, SeqCst);
    if intid == PING && me != 0 && REPLY.load(SeqCst) {
        gic::send_sgi(PONG, 0);
    }
}

fn timer_handler(_intid: u32) {
    let me = cpu_index();
    TIMER_AT[me].store(now(), SeqCst);
    TIMER_FIRED[me].fetch_add(1, SeqCst);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::SET);
}

fn count(cpu: usize, id: u32) -> u32 {
    SGIS[cpu][id as usize].load(SeqCst)
}

fn reset(cpu: usize) {
    SGIS[cpu].iter().for_each(|c| c.store(0, SeqCst));
}

fn init_secondary(cpu: usize) {
    let r = gic::init_cpu();
    INIT_OK[cpu].store(if r.is_ok() { 1 } else { 2 }, SeqCst);
    if let Err(e) = r {
        info!("cpu{cpu}: {e}");
    }
    irq_enable();
}

fn main(b: &'static Board) {
    let r = gic::init_cpu();
    check!(r.is_ok(), "GIC{} initialised on cpu0", b.gic; "{:?}", r);
    if r.is_err() {
        return;
    }
    for id in 0..16 {
        set_irq_handler(id, sgi_handler);
    }
    if let Some(t) = b.vtimer_intid {
        set_irq_handler(t, timer_handler);
    }
    irq_enable();

    smp::set_init(init_secondary);
    let mut up = [false; MAX_CPUS];
    up[0] = true;
    for cpu in 1..b.ncpus {
        let r = smp::start_and_wait(cpu, 2000);
        up[cpu] = r.is_ok() && INIT_OK[cpu].load(SeqCst) == 1;
        check!(up[cpu], "cpu{cpu} up (PSCI CPU_ON) with its GIC CPU interface initialised";
            "start: {:?}, GIC init: {}", r, INIT_OK[cpu].load(SeqCst));
    }

    reset(0);
    gic::send_sgi(0, 0);
    let got = wait_for(1000, || count(0, 0) == 1);
    delay_us(10_000);
    check!(got && count(0, 0) == 1, "SGI 0 to self arrives once"; "count={}", count(0, 0));

    REPLY.store(true, SeqCst);
    for cpu in (1..b.ncpus).filter(|&c| up[c]) {
        reset(0);
        reset(cpu);
        let mut ok = true;
        for k in 1..=10 {
            gic::send_sgi(PING, cpu);
            ok &= wait_for(1000, || count(cpu, PING) == k && count(0, PONG) == k);
        }
        check!(ok, "10 round trips: SGI {PING} cpu0 -> cpu{cpu}, SGI {PONG} back";
            "ping count={}, pong count={}", count(cpu, PING), count(0, PONG));
    }
    REPLY.store(false, SeqCst);

    reset(0);
    irq_disable();
    (0..16).for_each(|id| gic::send_sgi(id, 0));
    irq_enable();
    all_once(
        0,
        format_args!("all 16 SGIs sent to self while masked arrive exactly once"),
    );
    for cpu in (1..b.ncpus).filter(|&c| up[c]) {
        reset(cpu);
        (0..16).for_each(|id| gic::send_sgi(id, cpu));
        all_once(
            cpu,
            format_args!("all 16 SGIs sent to cpu{cpu} at once arrive exactly once"),
        );
    }

    reset(0);
    gic::disable(MASKED);
    if gic::is_enabled(MASKED) {
        skip(
            "a disabled SGI is not delivered until enabled",
            "SGI enables are RAO/WI on this GIC",
        );
    } else {
        gic::send_sgi(MASKED, 0);
        delay_us(20_000);
        let early = count(0, MASKED);
        gic::enable(MASKED);
        let late = wait_for(1000, || count(0, MASKED) == 1);
        check!(early == 0 && late, "a disabled SGI is not delivered until enabled";
            "while disabled: {early}, after enable: {}", count(0, MASKED));
    }

    timer_test(0);
    for cpu in (1..b.ncpus).filter(|&c| up[c]) {
        let done = smp::run_on(cpu, timer_test, 10_000);
        check!(done, "cpu{cpu} finishes its timer test"; "no completion within 10 s");
    }
    wfi_wakeup(b);

    for cpu in (1..b.ncpus).filter(|&c| up[c]) {
        smp::request_off(cpu);
    }
    let stray = STRAY_IRQS.load(SeqCst);
    check!(stray == 0, "no unexpected interrupt was acknowledged"; "{stray} stray interrupts");
}

fn all_once(cpu: usize, desc: core::fmt::Arguments<'_>) {
    wait_for(1000, || (0..16).all(|id| count(cpu, id) >= 1));
    delay_us(20_000);
    let bad = (0..16)
        .filter(|&id| count(cpu, id) != 1)
        .fold(0u32, |m, id| m | 1 << id);
    check!(bad == 0, "{desc}"; "SGIs not received exactly once: mask {bad:#06x}");
}

fn timer_test(cpu: usize) {
    let Some(intid) = test_guests::board().vtimer_intid else {
        check!(false, "cpu{cpu}: virtual timer PPI in the DT"; "no arm,armv8-timer node");
        return;
    };
    gic::enable(intid);
    let delay = ticks_us(TIMER_DELAY_US);
    let (mut fired, mut early, mut late) = (0, 0, 0u64);
    for shot in 1..=TIMER_SHOTS {
        let t0 = now();
        CNTV_CVAL_EL0.set(t0 + delay);
        CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
        let end = t0 + ticks_us(1_000_000);
        while TIMER_FIRED[cpu].load(SeqCst) < shot && now() < end {
            aarch64_cpu::asm::wfi();
        }
        if TIMER_FIRED[cpu].load(SeqCst) >= shot {
            fired += 1;
            let elapsed = TIMER_AT[cpu].load(SeqCst).wrapping_sub(t0);
            early += u32::from(elapsed < delay);
            late = late.max(elapsed);
        }
    }
    CNTV_CTL_EL0.set(0);
    gic::disable(intid);
    TIMER_FIRED[cpu].store(0, SeqCst);
    check!(fired == TIMER_SHOTS, "cpu{cpu}: virtual timer (INTID {intid}) fires {TIMER_SHOTS} times when re-armed";
        "fired {fired} times");
    check!(fired > 0 && early == 0, "cpu{cpu}: virtual timer never fires before CNTV_CVAL";
        "{early} early of {fired}; delay {delay} ticks");
    info!(
        "cpu{cpu}: timer latency max {} ticks over {delay}",
        late.saturating_sub(delay)
    );
}

fn wfi_wakeup(b: &Board) {
    let Some(intid) = b.vtimer_intid else { return };
    gic::enable(intid);
    irq_disable();
    let delay = ticks_us(TIMER_DELAY_US);
    let t0 = now();
    CNTV_CVAL_EL0.set(t0 + delay);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
    let (end, mut wakes) = (t0 + ticks_us(1_000_000), 0u32);
    while !CNTV_CTL_EL0.is_set(CNTV_CTL_EL0::ISTATUS) && now() < end {
        aarch64_cpu::asm::wfi();
        wakes += 1;
    }
    let elapsed = now() - t0;
    let pending = CNTV_CTL_EL0.is_set(CNTV_CTL_EL0::ISTATUS);
    check!(pending && elapsed >= delay, "WFI with IRQs masked wakes when the armed virtual timer expires";
        "ISTATUS={pending}, elapsed {elapsed} of {delay} ticks, {wakes} WFIs");
    irq_enable();
    let taken = wait_for(1000, || TIMER_FIRED[0].load(SeqCst) == 1);
    check!(taken, "the pending timer interrupt is taken once IRQs are unmasked";
        "fired {} times", TIMER_FIRED[0].load(SeqCst));
    CNTV_CTL_EL0.set(0);
    gic::disable(intid);
}
