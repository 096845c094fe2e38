//! ARM PL011 UART (ARM DDI 0183), polled transmit and interrupt-driven receive. Xenith's own
//! console; dom0 gets an emulated SBSA UART instead (`vuart`).

use super::mmio::Mmio;
use addr::Pa;

const UARTDR: u64 = 0x00;
const UARTFR: u64 = 0x18;
const UARTCR: u64 = 0x30;
const UARTIMSC: u64 = 0x38;
const UARTICR: u64 = 0x44;
const UARTFR_TXFF: u32 = 1 << 5;
const UARTFR_RXFE: u32 = 1 << 4;
const UARTCR_UARTEN: u32 = 1 << 0;
const UARTCR_TXE: u32 = 1 << 8;
const UARTCR_RXE: u32 = 1 << 9;
const UARTIMSC_RXIM: u32 = 1 << 4;
const UARTIMSC_RTIM: u32 = 1 << 6;

/// A PL011.
pub struct Pl011 {
    regs: Mmio,
}

impl Pl011 {
    /// # Safety
    /// `base` must be a PL011 mapped as device memory that nothing else drives.
    pub const unsafe fn new(base: Pa) -> Self {
        // SAFETY: forwarded contract.
        let regs = unsafe { Mmio::new(base) };
        Self { regs }
    }

    /// Enables the UART, transmitter and receiver (firmware or QEMU set the baud rate).
    pub fn init(&self) {
        self.regs.write32(UARTICR, 0x7ff);
        let cr = self.regs.read32(UARTCR);
        self.regs
            .write32(UARTCR, cr | UARTCR_UARTEN | UARTCR_TXE | UARTCR_RXE);
    }

    /// Sends one byte, waiting for FIFO space.
    pub fn putc(&self, b: u8) {
        while self.regs.read32(UARTFR) & UARTFR_TXFF != 0 {
            core::hint::spin_loop();
        }
        self.regs.write32(UARTDR, u32::from(b));
    }

    /// A received byte, if any.
    pub fn getc(&self) -> Option<u8> {
        if self.regs.read32(UARTFR) & UARTFR_RXFE != 0 {
            None
        } else {
            Some((self.regs.read32(UARTDR) & 0xff) as u8)
        }
    }

    /// Raises (or stops raising) the UART's interrupt while received data waits.
    pub fn set_rx_interrupt(&self, on: bool) {
        self.regs
            .write32(UARTIMSC, if on { UARTIMSC_RXIM | UARTIMSC_RTIM } else { 0 });
    }
}
