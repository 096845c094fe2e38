//! Emulated SBSA UART (Xen's "vpl011"), the model behind a guest's `arm,sbsa-uart` node.
//!
//! Transmission is instant: the transmit FIFO is never full and always below its trigger level,
//! so TXRIS is set while TX interrupts are unmasked and Linux's amba-pl011 driver (sbsa variant)
//! writes its buffer straight out. Received bytes wait in a 32-byte FIFO (the PL011's depth);
//! RXRIS and RTRIS follow "FIFO not empty". The interrupt line is the level of
//! `RIS & IMSC != 0`; the hypervisor forwards it to the vGIC after every access.

/// UARTDR: data.
pub const UARTDR: u64 = 0x00;
/// UARTRSR/UARTECR: receive status / error clear.
pub const UARTRSR: u64 = 0x04;
/// UARTFR: flags.
pub const UARTFR: u64 = 0x18;
/// UARTIMSC: interrupt mask set/clear.
pub const UARTIMSC: u64 = 0x38;
/// UARTRIS: raw interrupt status.
pub const UARTRIS: u64 = 0x3c;
/// UARTMIS: masked interrupt status.
pub const UARTMIS: u64 = 0x40;
/// UARTICR: interrupt clear.
pub const UARTICR: u64 = 0x44;
/// Size of the register frame.
pub const VPL011_SIZE: u64 = 0x1000;

/// UARTFR bits.
pub const UARTFR_RXFE: u32 = 1 << 4;
/// Transmit FIFO full.
pub const UARTFR_TXFF: u32 = 1 << 5;
/// Receive FIFO full.
pub const UARTFR_RXFF: u32 = 1 << 6;
/// Transmit FIFO empty.
pub const UARTFR_TXFE: u32 = 1 << 7;

/// Interrupt bits (RIS/MIS/IMSC/ICR).
pub const INT_RX: u32 = 1 << 4;
/// Transmit interrupt.
pub const INT_TX: u32 = 1 << 5;
/// Receive timeout interrupt.
pub const INT_RT: u32 = 1 << 6;
/// Bits the model implements in IMSC.
const INT_MASK: u32 = 0x7ff;

const FIFO_SIZE: usize = 32;

/// A guest access the model refuses (the hypervisor injects a data abort).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Not a 32-bit (or byte access to DR) aligned access.
    BadAccess,
}

/// State of one emulated UART.
pub struct Vpl011 {
    rx: [u8; FIFO_SIZE],
    rx_head: usize,
    rx_len: usize,
    imsc: u32,
    /// Receive overruns (input dropped because the guest did not read).
    pub overruns: u64,
}

impl Default for Vpl011 {
    fn default() -> Self {
        Self::new()
    }
}

impl Vpl011 {
    /// A UART with empty FIFOs and all interrupts masked.
    pub const fn new() -> Self {
        Self {
            rx: [0; FIFO_SIZE],
            rx_head: 0,
            rx_len: 0,
            imsc: 0,
            overruns: 0,
        }
    }

    /// Raw interrupt status.
    pub fn ris(&self) -> u32 {
        let rx = if self.rx_len > 0 { INT_RX | INT_RT } else { 0 };
        rx | INT_TX
    }

    /// Level of the interrupt line.
    pub fn irq_level(&self) -> bool {
        self.ris() & self.imsc != 0
    }

    /// Queues a byte typed on the console; false (and counted) if the FIFO is full.
    pub fn push_rx(&mut self, b: u8) -> bool {
        if self.rx_len == FIFO_SIZE {
            self.overruns += 1;
            return false;
        }
        self.rx[(self.rx_head + self.rx_len) % FIFO_SIZE] = b;
        self.rx_len += 1;
        true
    }

    /// Room left in the receive FIFO.
    pub fn rx_space(&self) -> usize {
        FIFO_SIZE - self.rx_len
    }

    fn pop_rx(&mut self) -> Option<u8> {
        if self.rx_len == 0 {
            return None;
        }
        let b = self.rx[self.rx_head];
        self.rx_head = (self.rx_head + 1) % FIFO_SIZE;
        self.rx_len -= 1;
        Some(b)
    }

    /// A guest read of `size` bytes at `offset`.
    pub fn read(&mut self, offset: u64, size: u8) -> Result<u32, Error> {
        check(offset, size)?;
        Ok(match offset {
            UARTDR => self.pop_rx().map_or(0, u32::from),
            UARTFR => {
                let mut fr = UARTFR_TXFE;
                if self.rx_len == 0 {
                    fr |= UARTFR_RXFE;
                }
                if self.rx_len == FIFO_SIZE {
                    fr |= UARTFR_RXFF;
                }
                fr
            }
            UARTIMSC => self.imsc,
            UARTRIS => self.ris(),
            UARTMIS => self.ris() & self.imsc,
            _ => 0,
        })
    }

    /// A guest write; a byte written to DR is returned for the hypervisor to print.
    pub fn write(&mut self, offset: u64, size: u8, value: u32) -> Result<Option<u8>, Error> {
        check(offset, size)?;
        match offset {
            UARTDR => return Ok(Some((value & 0xff) as u8)),
            UARTIMSC => self.imsc = value & INT_MASK,
            // RX/RT/TX status follow the FIFOs, so clearing them has no lasting effect.
            _ => {}
        }
        Ok(None)
    }
}

fn check(offset: u64, size: u8) -> Result<(), Error> {
    let ok = match size {
        4 => offset.is_multiple_of(4),
        1 | 2 => offset == UARTDR,
        _ => false,
    };
    if ok && offset < VPL011_SIZE {
        Ok(())
    } else {
        Err(Error::BadAccess)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmit_is_instant() {
        let mut u = Vpl011::new();
        assert_eq!(u.read(UARTFR, 4).unwrap() & UARTFR_TXFF, 0);
        assert_eq!(u.write(UARTDR, 4, 0x141).unwrap(), Some(0x41));
        assert!(!u.irq_level(), "masked TX must not raise the line");
        u.write(UARTIMSC, 4, INT_TX).unwrap();
        assert!(u.irq_level());
        u.write(UARTIMSC, 4, 0).unwrap();
        assert!(!u.irq_level());
    }

    #[test]
    fn receive_fifo_and_interrupt() {
        let mut u = Vpl011::new();
        u.write(UARTIMSC, 4, INT_RX | INT_RT).unwrap();
        assert!(!u.irq_level());
        assert_ne!(u.read(UARTFR, 4).unwrap() & UARTFR_RXFE, 0);
        assert!(u.push_rx(b'a'));
        assert!(u.push_rx(b'b'));
        assert!(u.irq_level());
        assert_eq!(u.read(UARTMIS, 4).unwrap(), INT_RX | INT_RT);
        assert_eq!(u.read(UARTDR, 4).unwrap(), u32::from(b'a'));
        assert_eq!(u.read(UARTDR, 1).unwrap(), u32::from(b'b'));
        assert!(!u.irq_level());
        assert_eq!(u.read(UARTDR, 4).unwrap(), 0);
    }

    #[test]
    fn overrun_is_counted_not_fatal() {
        let mut u = Vpl011::new();
        for i in 0..FIFO_SIZE {
            assert!(u.push_rx(i as u8));
        }
        assert_ne!(u.read(UARTFR, 4).unwrap() & UARTFR_RXFF, 0);
        assert!(!u.push_rx(0));
        assert_eq!(u.overruns, 1);
        for i in 0..FIFO_SIZE {
            assert_eq!(u.read(UARTDR, 4).unwrap(), i as u32);
        }
    }

    #[test]
    fn bad_accesses_are_refused() {
        let mut u = Vpl011::new();
        assert_eq!(u.read(UARTFR + 1, 4), Err(Error::BadAccess));
        assert_eq!(u.read(UARTFR, 8), Err(Error::BadAccess));
        assert_eq!(u.read(UARTFR, 1), Err(Error::BadAccess));
        assert_eq!(u.write(0x2000, 4, 0), Err(Error::BadAccess));
        assert_eq!(u.read(u64::MAX - 3, 4), Err(Error::BadAccess));
        assert_eq!(u.read(0x3c, 4).unwrap() & INT_TX, INT_TX);
    }
}
