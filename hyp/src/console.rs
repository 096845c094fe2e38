//! Xenith's console: its own log lines (prefixed `(XEN)`, as Xen's are, so existing log habits
//! and scripts keep working) and dom0's emulated UART output, both on the host UART.

use crate::drivers::uart::Pl011;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
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

/// Xen's log levels (`loglvl=`, `guest_loglvl=`): none 0, error 1, warning 2, info 3, debug 4,
/// all 5. Xenith's own messages are at the default (warning) level, as Xen's plain `printk`s are.
pub const LEVEL_WARNING: u8 = 2;
static HOST_LEVEL: AtomicU8 = AtomicU8::new(LEVEL_WARNING);
static GUEST_LEVEL: AtomicU8 = AtomicU8::new(LEVEL_WARNING);
/// Guest-caused messages allowed per burst before rate limiting (a hostile guest must not be
/// able to flood the console).
const GUEST_BURST: u32 = 16;
static GUEST_TOKENS: AtomicU32 = AtomicU32::new(GUEST_BURST);
static GUEST_LAST_REFILL: AtomicU64 = AtomicU64::new(0);
static GUEST_SUPPRESSED: AtomicU32 = AtomicU32::new(0);

/// Sets the thresholds from the command line.
pub fn set_levels(host: u8, guest: u8) {
    HOST_LEVEL.store(host, Ordering::Relaxed);
    GUEST_LEVEL.store(guest, Ordering::Relaxed);
}

/// Prints one log line with the `(XEN) ` prefix, unless `loglvl` is below warning.
pub fn log(args: fmt::Arguments) {
    if HOST_LEVEL.load(Ordering::Relaxed) < LEVEL_WARNING {
        return;
    }
    write_line(args);
}

/// A message caused by a guest (a bad access, an unhandled trap): printed when `guest_loglvl`
/// is at least warning, and rate-limited to a burst of 16 per second of the system counter.
pub fn guest_log(args: fmt::Arguments) {
    if GUEST_LEVEL.load(Ordering::Relaxed) < LEVEL_WARNING {
        return;
    }
    let now = crate::arch::sysreg::read!(cntpct_el0);
    let freq = crate::arch::sysreg::read!(cntfrq_el0).max(1);
    let last = GUEST_LAST_REFILL.load(Ordering::Relaxed);
    if now.wrapping_sub(last) >= freq {
        GUEST_LAST_REFILL.store(now, Ordering::Relaxed);
        GUEST_TOKENS.store(GUEST_BURST, Ordering::Relaxed);
        let n = GUEST_SUPPRESSED.swap(0, Ordering::Relaxed);
        if n > 0 {
            write_line(format_args!("{n} guest messages suppressed (rate limit)"));
        }
    }
    let ok = GUEST_TOKENS
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| t.checked_sub(1))
        .is_ok();
    if ok {
        write_line(args);
    } else {
        GUEST_SUPPRESSED.fetch_add(1, Ordering::Relaxed);
    }
}

fn write_line(args: fmt::Arguments) {
    if let Some(u) = UART.lock().as_ref() {
        let _ = Tee(u).write_fmt(format_args!("(XEN) {args}\n"));
    }
}

/// Writes to the UART and to the console ring.
struct Tee<'a>(&'a Pl011);

impl Write for Tee<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        ring_put(s.as_bytes());
        Writer(self.0).write_str(s)
    }
}

/// Size of the console ring (Xen's default `conring_size`: 16 KiB).
const RING_SIZE: usize = 16 << 10;

/// Everything Xenith printed and dom0 wrote with `CONSOLEIO_write`, for
/// `XEN_SYSCTL_readconsole` (`xl dmesg`): Xen's `conring`, with its free-running producer and
/// consumer indices (`conringp`, `conringc`).
struct Ring {
    buf: [u8; RING_SIZE],
    /// Producer index (bytes ever written).
    p: u32,
    /// Consumer index: the oldest byte still in the ring.
    c: u32,
}

static RING: Mutex<Ring> = Mutex::new(Ring {
    buf: [0; RING_SIZE],
    p: 0,
    c: 0,
});

/// Appends to the console ring, dropping the oldest bytes when it is full.
fn ring_put(bytes: &[u8]) {
    let mut r = RING.lock();
    for &b in bytes {
        let at = r.p as usize % RING_SIZE;
        r.buf[at] = b;
        r.p = r.p.wrapping_add(1);
    }
    if r.p.wrapping_sub(r.c) as usize > RING_SIZE {
        r.c = r.p.wrapping_sub(RING_SIZE as u32);
    }
}

/// Xen's `read_console_ring`: copies up to `max` bytes from the consumer index (or from `from`,
/// if it is ahead of it) through `out(offset, bytes)` (false stops the copy); `clear` moves the
/// consumer index past what was read. Returns (bytes copied, the index after them).
pub fn read_ring(
    clear: bool,
    from: Option<u32>,
    max: u32,
    mut out: impl FnMut(u32, &[u8]) -> bool,
) -> (u32, u32) {
    // Copy out of the lock in chunks: guest writes may fault and take time.
    let (mut c, p) = {
        let r = RING.lock();
        (r.c, r.p)
    };
    if let Some(i) = from {
        if (i.wrapping_sub(c) as i32) > 0 {
            c = i;
        }
    }
    let mut sofar = 0u32;
    let mut chunk = [0u8; 256];
    while c != p && sofar < max {
        let idx = c as usize % RING_SIZE;
        let len = (p.wrapping_sub(c) as usize)
            .min(RING_SIZE - idx)
            .min((max - sofar) as usize)
            .min(chunk.len());
        {
            let r = RING.lock();
            chunk[..len].copy_from_slice(&r.buf[idx..idx + len]);
        }
        if !out(sofar, &chunk[..len]) {
            return (sofar, c);
        }
        sofar += len as u32;
        c = c.wrapping_add(len as u32);
    }
    if clear {
        let mut r = RING.lock();
        r.c = if r.p.wrapping_sub(c) as usize > RING_SIZE {
            r.p.wrapping_sub(RING_SIZE as u32)
        } else {
            c
        };
    }
    (sofar, c)
}

/// Serial input waiting for dom0's `CONSOLEIO_read` (Xen's `serial_rx_ring`).
static INPUT: Mutex<InputRing> = Mutex::new(InputRing {
    buf: [0; INPUT_SIZE],
    head: 0,
    len: 0,
});
const INPUT_SIZE: usize = 1024;

struct InputRing {
    buf: [u8; INPUT_SIZE],
    head: usize,
    len: usize,
}

/// Queues a typed byte for dom0; false if the ring is full (the byte stays in the UART).
pub fn input_push(b: u8) -> bool {
    let mut r = INPUT.lock();
    if r.len == INPUT_SIZE {
        return false;
    }
    let at = (r.head + r.len) % INPUT_SIZE;
    r.buf[at] = b;
    r.len += 1;
    true
}

/// Takes up to `out.len()` queued bytes; returns how many.
pub fn input_take(out: &mut [u8]) -> usize {
    let n = {
        let mut r = INPUT.lock();
        let n = out.len().min(r.len);
        for o in out.iter_mut().take(n) {
            *o = r.buf[r.head];
            r.head = (r.head + 1) % INPUT_SIZE;
        }
        r.len -= n;
        n
    };
    n
}

/// Room in the input ring.
pub fn input_space() -> usize {
    INPUT_SIZE - INPUT.lock().len
}

/// Writes a guest's console output as it is (dom0's `CONSOLEIO_write`; also into the ring).
pub fn guest_write(bytes: &[u8]) {
    ring_put(bytes);
    if let Some(u) = UART.lock().as_ref() {
        for &b in bytes {
            u.putc(b);
        }
    }
}

/// Writes a guest's console byte as it is.
pub fn guest_putc(b: u8) {
    if let Some(u) = UART.lock().as_ref() {
        u.putc(b);
    }
}

/// A byte domain `id` wrote to its emulated UART: dom0's goes out as it is (its console is the
/// serial line); a domU's in `(dN) ` lines, at once while it has the serial input, else line by
/// line (Xen's `vpl011_write_data_xen`).
pub fn vuart_output(id: u16, out: &spin::Mutex<xenith_core::console_switch::GuestOutput>, b: u8) {
    if id == 0 {
        guest_putc(b);
        return;
    }
    let focused = crate::irq::input_focus() == xenith_core::console_switch::Focus::Domain(id);
    out.lock().feed(id, b, focused, guest_write);
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

/// `gprintk!("...")`: a line caused by a guest, subject to `guest_loglvl` and rate limiting
/// (Xen's `gprintk`).
#[macro_export]
macro_rules! gprintk {
    ($($arg:tt)*) => { $crate::console::guest_log(format_args!($($arg)*)) };
}
