//! Xen's Linux device interface for dom0 userspace (`aarch64-unknown-linux-musl`, std).
//!
//! `sys` is the ioctl/mmap layer over the Linux uapi (`include/uapi/xen/*.h`), with the
//! locked hypercall buffers; `ctrl`'s one `call` passes those buffers to privcmd. Nowhere else
//! is `unsafe`. The other modules build the tools' vocabulary on top of them.
//!
//! - [`ctrl`]: the toolstack's hypercalls (domctl, sysctl, populate_physmap, HVM params, ...).

pub mod ctrl;
pub mod sys;

pub use sys::{mount_xenfs, Evtchn, Privcmd, XenverString};
