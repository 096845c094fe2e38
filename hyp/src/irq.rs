//! Physical interrupts at EL2: acknowledged with IRQs masked (Xenith never takes interrupts in
//! its own context; a guest exit or the idle WFI brings it here), then either handled by Xenith
//! (kick SGIs, maintenance, its UART) or forwarded to the owning guest as a hardware-mapped
//! virtual interrupt whose guest EOI deactivates the physical one.

use crate::domain::{self, Domain};
use crate::hw::{self, SGI_KICK};
use crate::vcpu;
use vgic::Effects;
use xenith_core::console_switch::{InputSwitch, Routed};

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

/// Where serial input goes (CTRL-a x3 switches between dom0 and Xenith's key handlers).
static SWITCH: spin::Mutex<InputSwitch> = spin::Mutex::new(InputSwitch::new());

/// Room for typed bytes in dom0's console (its CONSOLEIO_read ring, or its emulated UART).
fn dom0_room(dom0: &Domain) -> usize {
    if dom0.xen.is_some() {
        crate::console::input_space()
    } else {
        dom0.vuart
            .as_ref()
            .map_or(usize::MAX, |v| v.uart.lock().rx_space())
    }
}

/// Queues a typed byte for dom0; true if it was queued.
fn dom0_push(dom0: &Domain, b: u8) -> bool {
    if dom0.xen.is_some() {
        crate::console::input_push(b)
    } else {
        dom0.vuart
            .as_ref()
            .is_some_and(|v| v.uart.lock().push_rx(b))
    }
}

/// Moves typed bytes from Xenith's UART to their destination: dom0's console (the serial ring
/// read by CONSOLEIO_read, with VIRQ_CONSOLE, or its emulated UART) or Xenith's key handlers.
/// When dom0 has no room the UART's receive interrupt is held until dom0 reads.
pub fn console_input() {
    let dom0 = domain::get(0);
    let mut queued = false;
    loop {
        let to_xenith = SWITCH.lock().to_hypervisor();
        if !to_xenith && dom0.as_deref().is_some_and(|d| dom0_room(d) == 0) {
            crate::console::hold_rx();
            break;
        }
        let Some(b) = crate::console::getc() else {
            break;
        };
        SWITCH.lock().feed(b, |r| match r {
            Routed::Guest(c) => {
                if let Some(d) = dom0.as_deref() {
                    queued |= dom0_push(d, c);
                }
            }
            Routed::Hypervisor(c) => crate::keyhandler::handle(c),
            Routed::SwitchedToHypervisor => crate::info!(
                "*** Serial input to Xenith (type 'CTRL-a' three times to switch input, 'h' for help)"
            ),
            Routed::SwitchedToGuest => crate::info!(
                "*** Serial input to DOM0 (type 'CTRL-a' three times to switch input)"
            ),
        });
    }
    let Some(dom0) = dom0 else { return };
    if !queued {
        return;
    }
    if dom0.xen.is_some() {
        crate::xen::raise_virq(&dom0, xen_abi::xen::VIRQ_CONSOLE, 0);
    } else if let Some(vuart) = dom0.vuart.as_ref() {
        let level = vuart.uart.lock().irq_level();
        let mut fx = Effects::new();
        let _ = dom0.vgic.lock().set_level(0, vuart.spi, level, &mut fx);
        vcpu::apply_effects(&dom0, &fx);
    }
}
