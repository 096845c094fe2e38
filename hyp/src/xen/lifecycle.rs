//! A domain's shutdown and teardown as Xen 4.17 does them (`common/domain.c`,
//! `common/sched/core.c`): `domain_shutdown` (SCHEDOP_shutdown, SCHEDOP_remote_shutdown, PSCI
//! SYSTEM_OFF/RESET, a crash) stops every vCPU, records the code getdomaininfo reports and
//! raises the global VIRQ_DOM_EXC for the toolstack; `relinquish` returns what a destroyed
//! domain holds that others see (event channels, grant mappings, foreign mappings), and
//! `pause_sync` takes a domain off every pCPU for a toolstack operation on its registers.

use super::Words;
use crate::domain::{Domain, SHUTDOWN_CODE_INVALID};
use core::sync::atomic::Ordering;
use xen_abi::sched::{SHUTDOWN_crash, SHUTDOWN_poweroff, SHUTDOWN_reboot};

/// Xen's `domain_shutdown(d, reason)`: for the hardware domain (dom0) the machine powers off
/// or resets; any other domain stops its vCPUs, is `is_shut_down` with the first code given
/// (SCHEDOP_shutdown_code may have set it before) and the toolstack gets VIRQ_DOM_EXC.
/// Shutting down twice changes nothing.
pub fn domain_shutdown(d: &Domain, reason: u32) {
    if d.id == 0 {
        match reason {
            SHUTDOWN_reboot => crate::smp::system_reset(),
            SHUTDOWN_poweroff => crate::smp::system_off(),
            _ => {
                crate::info!("dom0 crashed or shut down (reason {reason}): stopping");
                crate::smp::system_off()
            }
        }
    }
    if d.life.is_shutting_down.swap(true, Ordering::AcqRel) {
        return;
    }
    let _ = d.life.shutdown_code.compare_exchange(
        SHUTDOWN_CODE_INVALID,
        reason,
        Ordering::AcqRel,
        Ordering::Acquire,
    );
    // The vCPUs leave their pCPUs at their next exit (`Domain::stopped`); as in Xen
    // (`vcpu_pause_nosync`), the domain counts as shut down at once.
    for v in &d.vcpus {
        crate::vcpu::kick(v);
    }
    d.life.is_shut_down.store(true, Ordering::Release);
    crate::info!(
        "d{}: shut down, code {}",
        d.id,
        d.life.shutdown_code.load(Ordering::Acquire)
    );
    send_dom_exc();
}

/// Xen's `domain_crash`: a fatal error of the guest's own making stops that domain (shutdown
/// code `SHUTDOWN_crash`), never the host.
pub fn domain_crash(d: &Domain, why: &str) {
    crate::gprintk!("d{}: crashed: {why}", d.id);
    domain_shutdown(d, SHUTDOWN_crash);
}

/// `send_global_virq(VIRQ_DOM_EXC)`: to the domain that bound it (dom0, the toolstack's).
pub fn send_dom_exc() {
    if let Some(d0) = crate::domain::get(0) {
        super::raise_virq(&d0, xen_abi::xen::VIRQ_DOM_EXC, 0);
    }
}

/// Takes `t` (not the caller's domain) off every pCPU for an operation on its vCPUs' state
/// (Xen's `domain_pause`): true when none runs it any more, until [`unpause`]. False (nothing
/// held) when a pCPU did not leave it within a millisecond: the caller retries later.
pub fn pause_sync(t: &Domain) -> bool {
    t.life.pause_count.fetch_add(1, Ordering::AcqRel);
    for v in &t.vcpus {
        crate::vcpu::kick(v);
    }
    let until = crate::arch::time_ns().saturating_add(1_000_000);
    while crate::vcpu::running_anywhere(t.id) {
        if crate::arch::time_ns() > until {
            unpause(t);
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// Ends a [`pause_sync`].
pub fn unpause(t: &Domain) {
    let _ = t
        .life
        .pause_count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    for v in &t.vcpus {
        crate::vcpu::kick(v);
    }
}

/// Xen's `domain_relinquish_resources` for a dying domain no pCPU runs: its event channels
/// are closed (the remote ends in other domains become unbound, as `evtchn_destroy` leaves
/// them), the grants it maps from others are unmapped, the foreign frames it maps are let go.
/// Its own frames stay until the last reference to it goes (other domains' grant and foreign
/// mappings of its pages keep it alive).
pub fn relinquish(t: &Domain) {
    let Some(x) = t.xen.as_ref() else { return };
    let mut peers = alloc::vec::Vec::new();
    x.evtchn.lock().reset(&mut Words(x), |p| peers.push(p));
    for p in peers {
        if let Some(pd) = crate::domain::get(p.dom.0) {
            if let Some(px) = pd.xen.as_ref() {
                let _ = px.evtchn.lock().peer_closed(&p);
            }
        }
    }
    super::gnttab::release_mappings(t, x);
    let gfns: alloc::vec::Vec<u64> = x.foreign_maps.lock().keys().copied().collect();
    for gfn in gfns {
        let _ = super::unmap_gfn(t, x, gfn);
    }
}
