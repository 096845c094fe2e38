//! Xenith: a type-1 hypervisor for Arm that does what Xen on Arm does, in Rust.
//!
//! This crate is the EL2 image: boot (`arch::aarch64::head.S`), the trap and run loop, the thin
//! hardware drivers and the glue to the pure-logic crates (`stage2`, `vgic`, `arm-trap`,
//! `xen-dt`, `xenith-core`, `frames`) that hold the state machines and are tested on the host.
#![no_std]
#![no_main]

extern crate alloc;

#[macro_use]
mod console;
mod arch;
mod boot;
mod domain;
mod drivers;
mod guestmem;
mod hw;
mod irq;
mod keyhandler;
mod mm;
mod percpu;
mod smp;
mod stats;
mod traps;
mod vcpu;
mod vpsci;
mod xen;

use core::sync::atomic::Ordering;

/// Xenith's version, printed in the banner.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// First Rust code on every pCPU, called by head.S with the MMU on and a stack.
#[no_mangle]
extern "C" fn rust_entry(cpu: usize, dtb: u64) -> ! {
    if cpu == 0 {
        boot::primary(addr::Pa(dtb))
    } else {
        boot::secondary(cpu)
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    console::emergency(format_args!("PANIC on pCPU {}: {info}", percpu::index()));
    arch::halt()
}

/// Frame that entry.S saves for an exception taken at EL2 itself.
#[repr(C)]
struct HypFrame {
    x: [u64; 31],
    elr: u64,
    spsr: u64,
}

/// An exception taken by Xenith itself: always a Xenith bug. Report and stop this pCPU.
#[no_mangle]
extern "C" fn hyp_exception(kind: u64, frame: &HypFrame) {
    let esr = arch::sysreg::read!(esr_el2);
    let far = arch::sysreg::read!(far_el2);
    console::emergency(format_args!(
        "Xenith fault on pCPU {} (vector kind {kind}): ESR {esr:#x} ELR {:#x} FAR {far:#x} SPSR {:#x} LR {:#x} SP-area {:#x}",
        percpu::index(),
        frame.elr,
        frame.spsr,
        frame.x[30],
        arch::stacks_base(),
    ));
    let _ = percpu::this().online.load(Ordering::Relaxed);
}
