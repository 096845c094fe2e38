//! Physical interrupts at EL2: acknowledged with IRQs masked (Xenith never takes interrupts in
//! its own context; a guest exit or the idle WFI brings it here), then either handled by Xenith
//! (kick SGIs, maintenance, its UART) or forwarded to the owning guest as a hardware-mapped
//! virtual interrupt whose guest EOI deactivates the physical one.

use crate::domain;
use crate::hw::{self, SGI_KICK};
use crate::vcpu;
use vgic::Effects;

/// Handles every pending physical interrupt.
pub fn handle_pending() {
    let gic = hw::gic();
    let irqs = hw::irqs();
    while let Some(intid) = gic.ack() {
        if intid == SGI_KICK || intid == irqs.maintenance || Some(intid) == irqs.hyp_timer {
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

/// Moves typed bytes from Xenith's UART into dom0's emulated UART.
pub fn console_input() {
    let Some(dom0) = domain::get(0) else {
        while crate::console::getc().is_some() {}
        return;
    };
    if dom0.xen.is_some() {
        // dom0 uses hvc0: input waits in the serial ring for CONSOLEIO_read.
        let mut got = false;
        loop {
            if crate::console::input_space() == 0 {
                crate::console::hold_rx();
                break;
            }
            match crate::console::getc() {
                Some(b) => got |= crate::console::input_push(b),
                None => break,
            }
        }
        if got {
            crate::xen::raise_virq(&dom0, xen_abi::xen::VIRQ_CONSOLE, 0);
        }
        return;
    }
    let Some(vuart) = dom0.vuart.as_ref() else {
        return;
    };
    let level = {
        let mut u = vuart.uart.lock();
        loop {
            if u.rx_space() == 0 {
                crate::console::hold_rx();
                break;
            }
            match crate::console::getc() {
                Some(b) => {
                    u.push_rx(b);
                }
                None => break,
            }
        }
        u.irq_level()
    };
    let mut fx = Effects::new();
    let _ = dom0.vgic.lock().set_level(0, vuart.spi, level, &mut fx);
    vcpu::apply_effects(&dom0, &fx);
}
