//! Xenith's console: its own log lines (prefixed `(XEN)`, as Xen's are, so existing log habits
//! and scripts keep working) and dom0's emulated UART output, both on the host UART.

use crate::drivers::uart::Pl011;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;

static UART: Mutex<Option<Pl011>> = Mutex::new(None);

/// Installs the host UART as the console.
pub fn init(uart: Pl011) {
    uart.init();
    *UART.lock() = Some(uart);
}

struct Writer<'a>(&'a Pl011);

impl Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.0.putc(b'\r');
            }
            self.0.putc(b);
        }
        Ok(())
    }
}

/// Prints one log line with the `(XEN) ` prefix.
pub fn log(args: fmt::Arguments) {
    if let Some(u) = UART.lock().as_ref() {
        let _ = Writer(u).write_fmt(format_args!("(XEN) {args}\n"));
    }
}

/// Writes a guest's console byte as it is.
pub fn guest_putc(b: u8) {
    if let Some(u) = UART.lock().as_ref() {
        u.putc(b);
    }
}

/// A byte typed on the host console, if any.
pub fn getc() -> Option<u8> {
    UART.lock().as_ref().and_then(|u| u.getc())
}

/// Whether input is held back because its consumer's buffer is full.
static RX_HELD: AtomicBool = AtomicBool::new(false);

/// Enables the console's receive interrupt.
pub fn enable_rx_interrupt() {
    if let Some(u) = UART.lock().as_ref() {
        u.set_rx_interrupt(true);
    }
}

/// Stops the receive interrupt while the consumer (dom0's UART) has no room, so input waiting
/// in the hardware FIFO does not raise the level-triggered interrupt over and over.
pub fn hold_rx() {
    if let Some(u) = UART.lock().as_ref() {
        u.set_rx_interrupt(false);
        RX_HELD.store(true, Ordering::Release);
    }
}

/// The consumer has room again: let input interrupt us again. Returns whether input was held
/// (the caller then pulls what waits in the hardware FIFO, which raised no new interrupt).
pub fn release_rx() -> bool {
    let held = RX_HELD.swap(false, Ordering::AcqRel);
    if held {
        enable_rx_interrupt();
    }
    held
}

/// Last-resort output that does not wait for the lock (panics, faults).
pub fn emergency(args: fmt::Arguments) {
    // SAFETY-free: `force_unlock` is unsafe, so instead try the lock and fall back to silence.
    if let Some(guard) = UART.try_lock() {
        if let Some(u) = guard.as_ref() {
            let _ = Writer(u).write_fmt(format_args!("(XEN) {args}\n"));
        }
    }
}

/// `info!("...")`: a Xenith log line.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::console::log(format_args!($($arg)*)) };
}
