//! Facts about the machine, fixed at boot: the GIC, the interrupts Xenith keeps for itself.

use crate::drivers::gic::Gic;
use spin::Once;

/// The physical GIC.
pub static GIC: Once<Gic> = Once::new();

/// Interrupt numbers Xenith owns.
#[derive(Debug)]
pub struct Irqs {
    /// GIC maintenance interrupt (PPI).
    pub maintenance: u32,
    /// EL1 virtual timer PPI (hardware-mapped into the running vCPU).
    pub vtimer: u32,
    /// EL2 physical timer PPI.
    pub hyp_timer: Option<u32>,
    /// Xenith's UART SPI.
    pub uart: Option<u32>,
}

/// Interrupt numbers, set once at boot.
pub static IRQS: Once<Irqs> = Once::new();

/// The host GICv2's virtual CPU interface (GICV), mapped into each domain at its GICC.
pub static GICV: Once<addr::Region<addr::Pa>> = Once::new();

/// SGI Xenith sends to make another pCPU look at its vCPUs again.
pub const SGI_KICK: u32 = 0;

/// The GIC (set up before any other pCPU starts).
pub fn gic() -> &'static Gic {
    GIC.get()
        .expect("GIC is initialised before anything uses it")
}

/// Xenith's interrupt numbers.
pub fn irqs() -> &'static Irqs {
    IRQS.get()
        .expect("IRQ numbers are set before anything uses them")
}
