//! Console on a PL011 / SBSA UART: write DR (+0x00) after polling FR.TXFF (+0x18, bit 5).
//! A per-CPU-reentrant lock keeps lines whole when several CPUs print.

use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering::SeqCst};

const UARTDR: usize = 0x00;
const UARTFR: usize = 0x18;
const UARTFR_TXFF: u32 = 1 << 5;

/// QEMU virt's PL011, used until the DT names the console.
pub const FALLBACK_UART: usize = 0x0900_0000;

/// [`set_base`] value selecting Xen's `HYPERVISOR_console_io` (no PL011 in a Xen guest's DT).
pub const XEN_CONSOLE_IO: usize = usize::MAX;
/// `__HYPERVISOR_console_io` (xen/include/public/xen.h).
const HYPERVISOR_CONSOLE_IO: u64 = 18;
/// `CONSOLEIO_write` (xen/include/public/xen.h).
const CONSOLEIO_WRITE: u64 = 0;
/// Xen's hypercall immediate (`XEN_HYPERCALL_TAG`, xen/include/public/arch-arm.h).
const XEN_HYPERCALL_TAG: u16 = 0xea1;

static BASE: AtomicUsize = AtomicUsize::new(FALLBACK_UART);
/// CPU index + 1 of the holder, 0 when free.
static OWNER: AtomicUsize = AtomicUsize::new(0);

/// Selects the UART at `base` (0 = no console: output is dropped).
pub fn set_base(base: usize) {
    BASE.store(base, SeqCst);
}

/// Exclusive console access until dropped.
pub struct Console {
    release: bool,
}

/// Takes the console lock (re-entrant on the same CPU, e.g. a fault while printing).
pub fn lock() -> Console {
    let me = crate::cpu_index() + 1;
    if OWNER.load(SeqCst) == me {
        return Console { release: false };
    }
    let deadline = crate::now().saturating_add(crate::ticks_us(2_000_000));
    while OWNER.compare_exchange(0, me, SeqCst, SeqCst).is_err() {
        if crate::now() > deadline {
            break_lock(); // a CPU died holding it; better garbled output than a hang
        }
        core::hint::spin_loop();
    }
    Console { release: true }
}

/// Forgets the lock holder (fatal paths only).
pub fn break_lock() {
    OWNER.store(0, SeqCst);
}

impl Drop for Console {
    fn drop(&mut self) {
        if self.release {
            OWNER.store(0, SeqCst);
        }
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let base = BASE.load(SeqCst);
        if base == 0 {
            return Ok(());
        }
        if base == XEN_CONSOLE_IO {
            // SAFETY: Xen's console_io hypercall only reads `s.len()` bytes at `s` (identity
            // mapped, so its address is also the IPA Xen translates); x0..x5 and x16 may be
            // clobbered by the hypercall ABI.
            unsafe {
                core::arch::asm!("hvc #{tag}", tag = const XEN_HYPERCALL_TAG,
                    inout("x0") CONSOLEIO_WRITE => _, inout("x1") s.len() => _,
                    inout("x2") s.as_ptr() => _, out("x3") _, out("x4") _, out("x5") _,
                    inout("x16") HYPERVISOR_CONSOLE_IO => _, options(nostack, readonly));
            }
            return Ok(());
        }
        for b in s.bytes() {
            while crate::gic::mmio_read32(base + UARTFR) & UARTFR_TXFF != 0 {
                core::hint::spin_loop();
            }
            crate::gic::mmio_write32(base + UARTDR, u32::from(b));
        }
        Ok(())
    }
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($a:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::console::lock(), format_args!($($a)*));
    }};
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    ($($a:tt)*) => {{
        let mut c = $crate::console::lock();
        let _ = core::fmt::Write::write_fmt(&mut c, format_args!($($a)*));
        let _ = core::fmt::Write::write_str(&mut c, "\n");
    }};
}
