//! `HYPERVISOR_console_io(cmd, count, buffer)` commands (`xen/include/public/xen.h`).

pub use crate::xen::{CONSOLEIO_read, CONSOLEIO_write};
