//! Xen's Linux device interface for dom0 userspace (`aarch64-unknown-linux-musl`, std).
//!
//! `sys` is the ioctl/mmap layer over the Linux uapi (`include/uapi/xen/*.h`): the only place
//! with `unsafe`. The other modules build the tools' vocabulary on top of it.

pub mod sys;

pub use sys::{mount_xenfs, Evtchn, Privcmd, XenverString};
