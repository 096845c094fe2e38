//! Running vCPUs on a pCPU: loading and saving their state, the list-register cache around each
//! guest entry, blocking on WFI, and the per-pCPU loop.
//!
//! Scheduling today: every vCPU is pinned to one pCPU (`Vcpu::pcpu`) and a pCPU runs the
//! runnable vCPUs assigned to it; a vCPU that blocks leaves its pCPU idle (WFI at EL2) until an
//! interrupt arrives for it. State is switched only when the pCPU changes vCPU.

use crate::arch::{self, sysreg, ExitKind};
use crate::domain::{self, Domain, Vcpu, VcpuArch};
use crate::hw::{self, SGI_KICK};
use crate::{irq, percpu, traps};
use alloc::sync::Arc;
use core::sync::atomic::Ordering;
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
}

/// The vCPU currently running on each pCPU (for interrupts that target "whoever is here").
type Running = Mutex<Option<(Arc<Domain>, u32)>>;
static CURRENT: [Running; percpu::MAX_PCPUS] = [const { Mutex::new(None) }; percpu::MAX_PCPUS];

/// The domain and vCPU id running on this pCPU, if any.
pub fn current() -> Option<(Arc<Domain>, u32)> {
    CURRENT[percpu::index()].lock().clone()
}

fn loaded_key(dom: &Domain, v: &Vcpu) -> usize {
    ((usize::from(dom.id) << 16) | v.id as usize) + 1
}

/// Loads a vCPU's state into this pCPU (EL1 registers, FP, timer, vGIC interface, stage 2).
fn load(dom: &Domain, v: &Vcpu, a: &VcpuArch) {
    sysreg::write!(vttbr_el2, dom.vttbr);
    sysreg::write!(vmpidr_el2, v.mpidr);
    sysreg::write!(cntvoff_el2, dom.cntvoff);
    a.el1.restore();
    a.fp.restore();
    hw::gic().restore_vcpu_if(&a.vif);
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

fn flush_lrs(dom: &Domain, v: &Vcpu) {
    let gic = hw::gic();
    let n = gic.nr_lrs().min(MAX_LRS);
    let mut lrs = [Lr::INVALID; MAX_LRS];
    let (info, version) = {
        let mut vgic = dom.vgic.lock();
        (vgic.flush(v.id as usize, &mut lrs[..n]), vgic.version())
    };
    for (i, lr) in lrs[..n].iter().enumerate() {
        gic.write_lr(i, encode(version, lr));
    }
    gic.set_underflow_irq(info.underflow);
}

fn fold_lrs(dom: &Domain, v: &Vcpu) {
    let gic = hw::gic();
    let n = gic.nr_lrs().min(MAX_LRS);
    let mut lrs = [Lr::INVALID; MAX_LRS];
    let version = dom.vgic.lock().version();
    for (i, lr) in lrs[..n].iter_mut().enumerate() {
        let raw = gic.read_lr(i);
        *lr = decode(version, raw);
        if raw != 0 {
            // Empty the LR: it also retires the EOI-maintenance status of a completed one.
            gic.write_lr(i, 0);
        }
    }
    // The underflow condition holds while the LRs are empty: without this the maintenance
    // interrupt would fire again as soon as this exit's interrupts are acknowledged.
    gic.set_underflow_irq(false);
    let mut fx = Effects::new();
    dom.vgic.lock().fold(v.id as usize, &lrs[..n], &mut fx);
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
        *v.power.lock() = Power::On;
        percpu::this().loaded.store(0, Ordering::Relaxed);
    }
    if percpu::this().loaded.load(Ordering::Relaxed) != loaded_key(dom, v) {
        load(dom, v, &a);
    }
    *CURRENT[percpu::index()].lock() = Some((dom.clone(), v.id));
    loop {
        v.kicked.store(false, Ordering::Relaxed);
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
                Next::Continue
            }
        };
        match next {
            Next::Continue => {}
            Next::Block => {
                crate::xen::set_runstate(dom, v.id as usize, xen_abi::vcpu::RUNSTATE_blocked);
                wait_for_interrupt(dom, v);
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

/// Idles this pCPU until `v` has a deliverable interrupt or is poked.
fn wait_for_interrupt(dom: &Domain, v: &Vcpu) {
    loop {
        if dom.vgic.lock().has_deliverable(v.id as usize) || v.kicked.swap(false, Ordering::AcqRel)
        {
            return;
        }
        arch::wait_for_interrupt();
        irq::handle_pending();
    }
}

/// The loop every pCPU ends in: run the vCPUs assigned here, idle when none can run.
pub fn pcpu_loop() -> ! {
    let me = percpu::index();
    loop {
        irq::handle_pending();
        let doms: alloc::vec::Vec<Arc<Domain>> = domain::DOMAINS.lock().clone();
        let mut ran = false;
        for d in &doms {
            for v in d.vcpus.iter().filter(|v| v.pcpu == me) {
                if *v.power.lock() != Power::Off {
                    run(d, v);
                    ran = true;
                }
            }
        }
        if !ran {
            arch::wait_for_interrupt();
        }
    }
}
