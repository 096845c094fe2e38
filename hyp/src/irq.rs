//! Physical interrupts at EL2: acknowledged with IRQs masked (Xenith never takes interrupts in
//! its own context; a guest exit or the idle WFI brings it here), then either handled by Xenith
//! (kick SGIs, maintenance, its UART) or forwarded to the owning guest as a hardware-mapped
//! virtual interrupt whose guest EOI deactivates the physical one.

use crate::domain::{self, DomId, Domain};
use crate::hw::{self, SGI_KICK};
use crate::vcpu;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};
use vgic::Effects;
use xenith_core::console_switch::{Focus, InputSwitch, Routed};

/// Handles every pending physical interrupt.
pub fn handle_pending() {
    let gic = hw::gic();
    let irqs = hw::irqs();
    while let Some(intid) = gic.ack() {
        if Some(intid) == irqs.hyp_timer {
            vcpu::hyp_timer_fired();
            gic.eoi(intid);
            gic.deactivate(intid);
        } else if intid == SGI_KICK {
            // Another pCPU made a vCPU of this one runnable: let the scheduler look again.
            vcpu::hyp_timer_fired();
            gic.eoi(intid);
            gic.deactivate(intid);
        } else if intid == irqs.maintenance {
            // The exit itself was the point: the run loop folds and flushes the LRs.
            gic.eoi(intid);
            gic.deactivate(intid);
        } else if intid == irqs.vtimer {
            // The running vCPU's virtual timer: the guest's EOI deactivates it (LR HW bit).
            gic.eoi(intid);
            forward_to_current(intid);
        } else if Some(intid) == irqs.uart {
            console_input();
            gic.eoi(intid);
            gic.deactivate(intid);
        } else if intid >= crate::drivers::gic::SPI_BASE {
            gic.eoi(intid);
            forward_spi(intid);
        } else {
            gic.eoi(intid);
            gic.deactivate(intid);
        }
    }
}

fn forward_to_current(intid: u32) {
    let gic = hw::gic();
    let Some((dom, vid)) = vcpu::current() else {
        // No vCPU here any more: its timer state was saved and the timer stopped.
        gic.deactivate(intid);
        return;
    };
    let mut fx = Effects::new();
    let r = dom.vgic.lock().inject_hw(vid as usize, intid, &mut fx);
    if r.is_err() {
        gic.deactivate(intid);
    }
    vcpu::apply_effects(&dom, &fx);
}

/// A passed-through SPI: dom0 owns every SPI Xenith does not use.
fn forward_spi(intid: u32) {
    let gic = hw::gic();
    let Some(dom0) = domain::get(0) else {
        gic.deactivate(intid);
        return;
    };
    let mut fx = Effects::new();
    let r = dom0.vgic.lock().inject_hw(0, intid, &mut fx);
    if r.is_err() {
        gic.deactivate(intid);
        crate::info!("spurious SPI {intid}: no owner");
    }
    vcpu::apply_effects(&dom0, &fx);
}

/// Where serial input goes (CTRL-a x3 cycles dom0, the dom0less domUs with a vpl011, Xenith).
static SWITCH: spin::Mutex<InputSwitch> = spin::Mutex::new(InputSwitch::new());
/// The switch's focus, readable without its lock (the vpl011 output path asks on every byte):
/// a domain id, or [`FOCUS_XENITH`].
static FOCUS: AtomicU32 = AtomicU32::new(0);
const FOCUS_XENITH: u32 = u32::MAX;
/// Domains built at boot whose vpl011 can take serial input, ascending (Xen's `max_init_domid`
/// range).
static CONSOLE_DOMUS: spin::Mutex<Vec<DomId>> = spin::Mutex::new(Vec::new());

/// Adds a dom0less domain with a vpl011 to the serial input cycle.
pub fn add_console_domain(id: DomId) {
    let mut v = CONSOLE_DOMUS.lock();
    if !v.contains(&id) {
        v.push(id);
        v.sort_unstable();
    }
}

/// Who receives serial input now.
pub fn input_focus() -> Focus {
    match FOCUS.load(Ordering::Acquire) {
        FOCUS_XENITH => Focus::Hypervisor,
        d => Focus::Domain(d as DomId),
    }
}

/// Whether domain `d` reads its console through the Xen interface (dom0's CONSOLEIO_read ring)
/// rather than an emulated UART.
fn uses_xen_console(d: &Domain) -> bool {
    d.id == 0 && d.xen.is_some()
}

/// Room for typed bytes in a domain's console (dom0's CONSOLEIO_read ring, or its UART).
fn room(d: &Domain) -> usize {
    if uses_xen_console(d) {
        crate::console::input_space()
    } else {
        d.vuart
            .as_ref()
            .map_or(usize::MAX, |v| v.uart.lock().rx_space())
    }
}

/// Queues a typed byte for a domain's console; true if it was queued.
fn push(d: &Domain, b: u8) -> bool {
    if uses_xen_console(d) {
        crate::console::input_push(b)
    } else {
        d.vuart.as_ref().is_some_and(|v| v.uart.lock().push_rx(b))
    }
}

/// The input just moved: say so as Xen does.
fn announce(f: Focus) {
    FOCUS.store(
        match f {
            Focus::Hypervisor => FOCUS_XENITH,
            Focus::Domain(d) => u32::from(d),
        },
        Ordering::Release,
    );
    match f {
        Focus::Hypervisor => crate::info!(
            "*** Serial input to Xenith (type 'CTRL-a' three times to switch input, 'h' for help)"
        ),
        Focus::Domain(d) => {
            crate::info!("*** Serial input to DOM{d} (type 'CTRL-a' three times to switch input)")
        }
    }
}

/// Moves typed bytes from Xenith's UART to their destination: the focused domain's console (the
/// serial ring read by CONSOLEIO_read, with VIRQ_CONSOLE, or its emulated UART) or Xenith's key
/// handlers. When the destination has no room the UART's receive interrupt is held until it
/// reads.
pub fn console_input() {
    // The domains that can take input now; a destroyed one drops out of the cycle.
    let domus: Vec<DomId> = CONSOLE_DOMUS
        .lock()
        .iter()
        .copied()
        .filter(|&id| domain::get(id).is_some())
        .collect();
    {
        let mut sw = SWITCH.lock();
        if let Focus::Domain(id) = sw.focus() {
            if id != 0 && !domus.contains(&id) && sw.forget(id) {
                announce(sw.focus());
            }
        }
    }
    let mut target: Option<Arc<Domain>> = None;
    let mut queued: Vec<DomId> = Vec::new();
    loop {
        let focus = SWITCH.lock().focus();
        if let Focus::Domain(id) = focus {
            if target.as_ref().is_none_or(|t| t.id != id) {
                target = domain::get(id);
            }
            if target.as_deref().is_some_and(|d| room(d) == 0) {
                crate::console::hold_rx();
                break;
            }
        }
        let Some(b) = crate::console::getc() else {
            break;
        };
        // One byte routes to at most the two held CTRL-a and itself.
        let mut routed: [Option<Routed>; 3] = [None; 3];
        let mut n = 0;
        SWITCH.lock().feed(b, &domus, |r| {
            if let Some(slot) = routed.get_mut(n) {
                *slot = Some(r);
                n += 1;
            }
        });
        for r in routed.into_iter().flatten() {
            match r {
                Routed::Guest(id, c) => {
                    let d = match target.as_ref() {
                        Some(t) if t.id == id => Some(t.clone()),
                        _ => domain::get(id),
                    };
                    if let Some(d) = d {
                        if push(&d, c) && !queued.contains(&id) {
                            queued.push(id);
                        }
                    }
                }
                Routed::Hypervisor(c) => crate::keyhandler::handle(c),
                Routed::Switched(f) => announce(f),
            }
        }
    }
    for id in queued {
        let Some(d) = domain::get(id) else { continue };
        if uses_xen_console(&d) {
            crate::xen::raise_virq(&d, xen_abi::xen::VIRQ_CONSOLE, 0);
        } else if let Some(vuart) = d.vuart.as_ref() {
            let level = vuart.uart.lock().irq_level();
            let mut fx = Effects::new();
            let _ = d.vgic.lock().set_level(0, vuart.spi, level, &mut fx);
            vcpu::apply_effects(&d, &fx);
        }
    }
}
