//! Drivers for the hardware Xenith keeps for itself: its UART, the GIC, the EL2 timer.
pub mod gic;
pub mod mmio;
pub mod uart;
