//! Running vCPUs on a pCPU: loading and saving their state, the list-register cache around each
//! guest entry, blocking on WFI, and the per-pCPU loop.
//!
//! Scheduling: every vCPU belongs to one pCPU (`Vcpu::pcpu`); a pCPU runs the vCPUs assigned to
//! it round robin. A vCPU runs until it blocks (WFI, SCHEDOP_block) or, when another vCPU of the
//! pCPU is runnable, until its time slice (the EL2 physical timer) ends. A blocked vCPU costs
//! nothing: it is switched out and becomes runnable when it has a deliverable interrupt, is
//! kicked, or its virtual-timer deadline passes (the EL2 timer wakes the pCPU for it). When a
//! vCPU is alone on its pCPU it stays loaded while blocked and the pCPU waits in WFI. State is
//! switched only when the pCPU changes vCPU.

use crate::arch::{self, sysreg, ExitKind};
use crate::domain::{self, Domain, Vcpu, VcpuArch};
use crate::hw::{self, SGI_KICK};
use crate::{irq, percpu, traps};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use spin::Mutex;
use vgic::{Effect, Effects, GicVersion, Lr, MAX_LRS};
use xenith_core::vpsci::Power;

/// What the trap handlers ask the run loop to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Re-enter the guest.
    Continue,
    /// The vCPU waits for an interrupt (WFI, PSCI CPU_SUSPEND).
    Block,
    /// The vCPU powered itself off (PSCI CPU_OFF).
    Off,
    /// The vCPU offers its pCPU to others (WFE, SCHEDOP_yield): it stays runnable.
    Yield,
}

/// Per pCPU: the last vCPU key loaded (for TLB maintenance between vCPUs of one VM).
static LAST_OF_VM: [AtomicUsize; percpu::MAX_PCPUS] =
    [const { AtomicUsize::new(0) }; percpu::MAX_PCPUS];
/// Per pCPU: the time slice ended (set by the EL2 timer interrupt).
static PREEMPT: [AtomicBool; percpu::MAX_PCPUS] =
    [const { AtomicBool::new(false) }; percpu::MAX_PCPUS];
/// Per pCPU: key of the vCPU the round robin ran last.
static LAST_RUN: [AtomicUsize; percpu::MAX_PCPUS] =
    [const { AtomicUsize::new(0) }; percpu::MAX_PCPUS];
/// Length of a time slice when vCPUs share a pCPU.
const SLICE_US: u64 = 10_000;

/// The EL2 timer fired: the running vCPU's slice is over, or a blocked vCPU's timer is due.
pub fn hyp_timer_fired() {
    crate::arch::hyp_timer::stop();
    PREEMPT[percpu::index()].store(true, Ordering::Release);
}

/// The vCPUs assigned to pCPU `me`, in a stable order.
fn assigned(me: usize) -> alloc::vec::Vec<(Arc<Domain>, u32)> {
    let doms = domain::DOMAINS.lock();
    let mut v = alloc::vec::Vec::new();
    for d in doms.iter() {
        for c in d.vcpus.iter().filter(|c| c.pcpu == me) {
            v.push((d.clone(), c.id));
        }
    }
    v
}

/// Whether `v` of `dom` could run now (and, if it was blocked, that it has been woken).
fn runnable(dom: &Domain, v: &Vcpu) -> bool {
    if dom.stopped() {
        return false;
    }
    match *v.power.lock() {
        Power::Off => false,
        Power::OnPending(_) => true,
        Power::On => {
            !v.blocked.load(Ordering::Acquire)
                || v.kicked.load(Ordering::Acquire)
                || v.wake_at.load(Ordering::Relaxed) <= crate::arch::hyp_timer::now()
                || dom.vgic.lock().has_deliverable(v.id as usize)
        }
    }
}

/// Whether a vCPU other than (`dom`, `v`) assigned to this pCPU could run now.
fn other_runnable(me: usize, dom: &Domain, v: &Vcpu) -> bool {
    assigned(me).iter().any(|(d, id)| {
        !(d.id == dom.id && *id == v.id)
            && d.vcpus.get(*id as usize).is_some_and(|c| runnable(d, c))
    })
}

/// Switches `v` out blocked: it is woken by an interrupt, a kick or its virtual timer.
fn switch_out_blocked(dom: &Domain, v: &Vcpu, a: &mut VcpuArch) {
    save(a);
    const CNTV_CTL_ENABLE: u64 = 1;
    const CNTV_CTL_IMASK: u64 = 2;
    let armed = a.el1.cntv_ctl & (CNTV_CTL_ENABLE | CNTV_CTL_IMASK) == CNTV_CTL_ENABLE;
    // Virtual count = physical count - CNTVOFF.
    let at = if armed {
        a.el1.cntv_cval.saturating_add(dom.cntvoff)
    } else {
        u64::MAX
    };
    v.wake_at.store(at, Ordering::Relaxed);
    v.blocked.store(true, Ordering::Release);
}

/// The vCPU currently running on each pCPU (for interrupts that target "whoever is here").
type Running = Mutex<Option<(Arc<Domain>, u32)>>;
static CURRENT: [Running; percpu::MAX_PCPUS] = [const { Mutex::new(None) }; percpu::MAX_PCPUS];

/// Whether a vCPU of domain `id` is on a pCPU now (running, or between exits).
pub fn running_anywhere(id: domain::DomId) -> bool {
    CURRENT
        .iter()
        .any(|c| c.lock().as_ref().is_some_and(|(d, _)| d.id == id))
}

/// Whether vCPU `vcpu` of domain `id` is on a pCPU now.
pub fn is_running(id: domain::DomId, vcpu: u32) -> bool {
    CURRENT.iter().any(|c| {
        c.lock()
            .as_ref()
            .is_some_and(|(d, v)| d.id == id && *v == vcpu)
    })
}

/// The domain and vCPU id running on this pCPU, if any.
pub fn current() -> Option<(Arc<Domain>, u32)> {
    CURRENT[percpu::index()].lock().clone()
}

fn loaded_key(dom: &Domain, v: &Vcpu) -> usize {
    ((usize::from(dom.id) << 16) | v.id as usize) + 1
}

/// Loads a vCPU's state into this pCPU (EL1 registers, FP, timer, vGIC interface, stage 2).
fn load(dom: &Domain, v: &Vcpu, a: &mut VcpuArch) {
    let me = percpu::index();
    sysreg::write!(vttbr_el2, dom.vttbr);
    let last = LAST_OF_VM[me].swap(loaded_key(dom, v), Ordering::Relaxed);
    if last != 0 && last != loaded_key(dom, v) && (last - 1) >> 16 == usize::from(dom.id) {
        crate::arch::tlb::flush_guest_local();
    }
    sysreg::write!(vmpidr_el2, v.mpidr);
    sysreg::write!(cntvoff_el2, dom.cntvoff);
    a.el1.restore();
    a.fp.restore();
    hw::gic().restore_vcpu_if(&a.vif);
    if core::mem::take(&mut a.vtimer_active) {
        let mpidr = percpu::this().mpidr.load(Ordering::Relaxed);
        hw::gic().set_ppi_active(hw::irqs().vtimer, mpidr, true);
    }
    sysreg::isb();
    percpu::this()
        .loaded
        .store(loaded_key(dom, v), Ordering::Relaxed);
}

/// Saves the vCPU loaded on this pCPU back into `a`.
fn save(a: &mut VcpuArch) {
    a.el1.save();
    a.fp.save();
    a.vif = hw::gic().save_vcpu_if();
    // A virtual-timer interrupt the guest has not completed stays active in the GIC and would
    // hide the next vCPU's timer: park it with the vCPU.
    let (gic, vt) = (hw::gic(), hw::irqs().vtimer);
    let mpidr = percpu::this().mpidr.load(Ordering::Relaxed);
    if gic.ppi_active(vt, mpidr) {
        gic.set_ppi_active(vt, mpidr, false);
        a.vtimer_active = true;
    }
    percpu::this().loaded.store(0, Ordering::Relaxed);
}

/// Carries out the side effects of a vGIC operation on `dom`.
pub fn apply_effects(dom: &Domain, fx: &Effects) {
    let gic = hw::gic();
    for e in fx.iter() {
        match e {
            Effect::Kick { vcpu } => {
                if let Some(v) = dom.vcpus.get(vcpu) {
                    kick(v);
                }
            }
            Effect::HwEnable { pintid } => {
                let mpidr = percpu::this().mpidr.load(Ordering::Relaxed);
                gic.enable(pintid, mpidr);
            }
            Effect::HwDisable { pintid } => gic.disable(pintid),
            Effect::HwDeactivate { pintid } => gic.deactivate(pintid),
            Effect::HwRoute { pintid, vcpu } => {
                if let Some(p) = dom.vcpus.get(vcpu).and_then(|v| percpu::get(v.pcpu)) {
                    gic.route(
                        pintid,
                        p.gic_mask.load(Ordering::Relaxed),
                        p.mpidr.load(Ordering::Relaxed),
                    );
                }
            }
        }
    }
}

/// Tells vCPU `v` it has something new: interrupt its pCPU if that is not this one.
pub fn kick(v: &Vcpu) {
    v.kick();
    if v.pcpu != percpu::index() {
        if let Some(p) = percpu::get(v.pcpu) {
            hw::gic().send_sgi(
                SGI_KICK,
                p.gic_mask.load(Ordering::Relaxed),
                p.mpidr.load(Ordering::Relaxed),
            );
        }
    }
}

/// List registers Xenith uses at most (GICv3 has at most 16; a GICv2 with more works with 16).
const LRS: usize = 16;

/// Per pCPU: list registers the last flush filled, and whether it asked for the underflow
/// maintenance interrupt. An exit with nothing in flight then costs no list-register access.
static LRS_USED: [AtomicUsize; percpu::MAX_PCPUS] =
    [const { AtomicUsize::new(0) }; percpu::MAX_PCPUS];
static UNDERFLOW_ON: [AtomicBool; percpu::MAX_PCPUS] =
    [const { AtomicBool::new(false) }; percpu::MAX_PCPUS];

fn flush_lrs(dom: &Domain, v: &Vcpu) {
    let gic = hw::gic();
    let me = percpu::index();
    let n = gic.nr_lrs().min(LRS).min(MAX_LRS);
    let mut lrs = [Lr::INVALID; LRS];
    let (info, version) = {
        let mut vgic = dom.vgic.lock();
        (vgic.flush(v.id as usize, &mut lrs[..n]), vgic.version())
    };
    // fold left every list register empty: write only the ones filled now.
    for (i, lr) in lrs[..info.used].iter().enumerate() {
        gic.write_lr(i, encode(version, lr));
    }
    LRS_USED[me].store(info.used, Ordering::Relaxed);
    if info.underflow || UNDERFLOW_ON[me].load(Ordering::Relaxed) {
        gic.set_underflow_irq(info.underflow);
        UNDERFLOW_ON[me].store(info.underflow, Ordering::Relaxed);
    }
}

fn fold_lrs(dom: &Domain, v: &Vcpu) {
    let gic = hw::gic();
    let me = percpu::index();
    let used = LRS_USED[me].swap(0, Ordering::Relaxed).min(LRS);
    if UNDERFLOW_ON[me].swap(false, Ordering::Relaxed) {
        // The underflow condition holds while the LRs are empty: without this the maintenance
        // interrupt would fire again as soon as this exit's interrupts are acknowledged.
        gic.set_underflow_irq(false);
    }
    if used == 0 {
        return;
    }
    let mut lrs = [Lr::INVALID; LRS];
    let version = dom.vgic.lock().version();
    for (i, lr) in lrs[..used].iter_mut().enumerate() {
        let raw = gic.read_lr(i);
        *lr = decode(version, raw);
        if raw != 0 {
            // Empty the LR: it also retires the EOI-maintenance status of a completed one.
            gic.write_lr(i, 0);
        }
    }
    let mut fx = Effects::new();
    dom.vgic.lock().fold(v.id as usize, &lrs[..used], &mut fx);
    apply_effects(dom, &fx);
}

fn encode(version: GicVersion, lr: &Lr) -> u64 {
    match version {
        GicVersion::V2 => u64::from(lr.to_gich_lr()),
        GicVersion::V3 => lr.to_ich_lr(),
    }
}

fn decode(version: GicVersion, raw: u64) -> Lr {
    match version {
        GicVersion::V2 => Lr::from_gich_lr(raw as u32),
        GicVersion::V3 => Lr::from_ich_lr(raw),
    }
}

/// Runs `v` until it blocks with nothing to wake it, or powers off.
fn run(dom: &Arc<Domain>, v: &Vcpu) {
    let mut a = v.arch.lock();
    let start = match *v.power.lock() {
        Power::OnPending(s) => Some(s),
        Power::On => None,
        Power::Off => return,
    };
    if let Some(s) = start {
        Vcpu::reset(&mut a, &s);
        v.initialised.store(true, Ordering::Release);
        *v.power.lock() = Power::On;
        percpu::this().loaded.store(0, Ordering::Relaxed);
    }
    v.blocked.store(false, Ordering::Release);
    v.wake_at.store(u64::MAX, Ordering::Relaxed);
    if percpu::this().loaded.load(Ordering::Relaxed) != loaded_key(dom, v) {
        load(dom, v, &mut a);
    }
    let me = percpu::index();
    *CURRENT[me].lock() = Some((dom.clone(), v.id));
    let mut gen = domain::DOMAINS_GEN.load(Ordering::Acquire);
    let mut shared = assigned(me).len() > 1;
    if shared {
        PREEMPT[me].store(false, Ordering::Relaxed);
        let now = crate::arch::hyp_timer::now();
        crate::arch::hyp_timer::set(now + crate::arch::hyp_timer::ticks_us(SLICE_US));
    }
    loop {
        if dom.stopped() {
            // Paused or being destroyed by the control domain: leave the pCPU (the domain is
            // destroyed only once no pCPU runs it, `running_anywhere`).
            save(&mut a);
            break;
        }
        v.kicked.store(false, Ordering::Relaxed);
        if domain::DOMAINS_GEN.load(Ordering::Acquire) != gen {
            // A domain came or went: this pCPU may have company now (time slices) or not.
            gen = domain::DOMAINS_GEN.load(Ordering::Acquire);
            let now_shared = assigned(me).len() > 1;
            if now_shared && !shared {
                PREEMPT[me].store(false, Ordering::Relaxed);
                let now = crate::arch::hyp_timer::now();
                crate::arch::hyp_timer::set(now + crate::arch::hyp_timer::ticks_us(SLICE_US));
            }
            shared = now_shared;
        }
        // The vCPU's time: in the guest and in Xenith on its behalf (getdomaininfo's cpu_time).
        let t0 = crate::arch::time_ns();
        crate::xen::sync_upcall(dom, v.id as usize);
        flush_lrs(dom, v);
        let exit = arch::run_guest(&mut a.regs);
        fold_lrs(dom, v);
        let next = match exit {
            ExitKind::Irq | ExitKind::Fiq => {
                crate::stats::count(crate::stats::Exit::Irq);
                irq::handle_pending();
                Next::Continue
            }
            ExitKind::Sync => traps::handle(dom, v, &mut a),
            ExitKind::SError => {
                crate::gprintk!(
                    "d{}v{}: SError from guest at {:#x}",
                    dom.id,
                    v.id,
                    a.regs.pc
                );
                // A domU's asynchronous external abort is fatal to it (Xen's domain_crash),
                // never to the host; dom0 carries on as before.
                if dom.id != 0 {
                    crate::xen::lifecycle::domain_crash(dom, "SError");
                }
                Next::Continue
            }
        };
        v.cpu_ns
            .fetch_add(crate::arch::time_ns().saturating_sub(t0), Ordering::Relaxed);
        match next {
            Next::Yield => {
                // A vCPU spinning (WFE) on a lock whose holder waits for this pCPU lets it run.
                if shared && other_runnable(me, dom, v) {
                    save(&mut a);
                    break;
                }
            }
            Next::Continue => {
                if shared && PREEMPT[me].swap(false, Ordering::AcqRel) {
                    if other_runnable(me, dom, v) {
                        save(&mut a);
                        break;
                    }
                    let now = crate::arch::hyp_timer::now();
                    crate::arch::hyp_timer::set(now + crate::arch::hyp_timer::ticks_us(SLICE_US));
                }
            }
            Next::Block => {
                crate::xen::set_runstate(dom, v.id as usize, xen_abi::vcpu::RUNSTATE_blocked);
                if shared && other_runnable(me, dom, v) {
                    switch_out_blocked(dom, v, &mut a);
                    break;
                }
                if !wait_for_interrupt(dom, v, shared, gen) {
                    // Another vCPU of this pCPU became runnable while this one waited.
                    switch_out_blocked(dom, v, &mut a);
                    break;
                }
                if shared {
                    // The wait left the EL2 timer at the others' deadlines, or off: without a
                    // new slice this vCPU would keep the pCPU until it blocks, and a vCPU of
                    // this pCPU that it wakes (a kick from here sends no SGI) would wait as
                    // long.
                    let end =
                        crate::arch::hyp_timer::now() + crate::arch::hyp_timer::ticks_us(SLICE_US);
                    crate::arch::hyp_timer::set(earliest_wake(me).min(end));
                }
                crate::xen::set_runstate(dom, v.id as usize, xen_abi::vcpu::RUNSTATE_running);
            }
            Next::Off => {
                *v.power.lock() = Power::Off;
                save(&mut a);
                break;
            }
        }
    }
    *CURRENT[percpu::index()].lock() = None;
}

/// Idles this pCPU, `v` still loaded, until `v` has a deliverable interrupt or is poked (true),
/// or, when `shared`, another vCPU of this pCPU becomes runnable (false). A change of the
/// domain list since `gen` (a new domain may have a vCPU here) also ends the wait (false).
fn wait_for_interrupt(dom: &Domain, v: &Vcpu, shared: bool, gen: u64) -> bool {
    let me = percpu::index();
    loop {
        if dom.vgic.lock().has_deliverable(v.id as usize) || v.kicked.swap(false, Ordering::AcqRel)
        {
            return true;
        }
        if domain::DOMAINS_GEN.load(Ordering::Acquire) != gen {
            return false;
        }
        if shared && other_runnable(me, dom, v) {
            return false;
        }
        if shared {
            arm_wakeup_timer(me);
        }
        arch::wait_for_interrupt();
        irq::handle_pending();
    }
}

/// Programs the EL2 timer for the earliest virtual-timer deadline of the switched-out blocked
/// vCPUs of pCPU `me` (none: timer off).
fn arm_wakeup_timer(me: usize) {
    let next = earliest_wake(me);
    if next == u64::MAX {
        crate::arch::hyp_timer::stop();
    } else {
        crate::arch::hyp_timer::set(next);
    }
}

/// The earliest virtual-timer deadline of the switched-out blocked vCPUs of pCPU `me`
/// (`u64::MAX`: none).
fn earliest_wake(me: usize) -> u64 {
    assigned(me)
        .iter()
        .filter_map(|(d, id)| d.vcpus.get(*id as usize))
        .filter(|c| c.blocked.load(Ordering::Acquire))
        .map(|c| c.wake_at.load(Ordering::Relaxed))
        .min()
        .unwrap_or(u64::MAX)
}

/// The loop every pCPU ends in: run the vCPUs assigned here round robin, idle when none can.
pub fn pcpu_loop() -> ! {
    let me = percpu::index();
    loop {
        irq::handle_pending();
        let list = assigned(me);
        let last = LAST_RUN[me].load(Ordering::Relaxed);
        let start = list
            .iter()
            .position(|(d, id)| usize::from(d.id) << 16 | *id as usize == last)
            .map_or(0, |i| i + 1);
        let pick = (0..list.len())
            .map(|i| &list[(start + i) % list.len()])
            .find(|(d, id)| d.vcpus.get(*id as usize).is_some_and(|v| runnable(d, v)));
        // Hold no reference to the other domains while running one (a destroyed domain is freed
        // when its last reference goes).
        let pick = pick.cloned();
        drop(list);
        match pick {
            Some((d, id)) => {
                LAST_RUN[me].store(usize::from(d.id) << 16 | id as usize, Ordering::Relaxed);
                if let Some(v) = d.vcpus.get(id as usize) {
                    v.kicked.store(false, Ordering::Release);
                    run(&d, v);
                }
            }
            None => {
                arm_wakeup_timer(me);
                arch::wait_for_interrupt();
            }
        }
    }
}
