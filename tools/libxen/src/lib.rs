//! Xen's Linux device interface for dom0 userspace (`aarch64-unknown-linux-musl`, std).
//!
//! `sys` is the ioctl/mmap layer over the Linux uapi (`include/uapi/xen/*.h`): the only place
//! with `unsafe` (the crate denies it elsewhere), but for `ctrl`'s one hypercall function,
//! which passes locked [`sys::HypercallBuf`]s to privcmd. The other modules build the tools'
//! vocabulary on top of it:
//! - [`ctrl`]: the toolstack's hypercalls (domctl, sysctl, populate_physmap, HVM params, ...);
//! - [`domctl`]: domain state (`getdomaininfo`);
//! - [`foreign`]: another domain's pages mapped into this process (privcmd `MMAPBATCH_V2`);
//! - [`xs`]: a xenstore client over the daemon's socket or `/dev/xen/xenbus`;
//! - in [`sys`]: [`Privcmd`] (hypercalls), [`Evtchn`] (event channels, VIRQs),
//!   [`XenbusBackend`] (dom0's own xenstore ring for the daemon), [`Mapping`] (shared memory
//!   with volatile accessors).
#![deny(unsafe_code)]

pub mod ctrl;
pub mod domctl;
pub mod foreign;
#[allow(unsafe_code)]
pub mod sys;
pub mod xs;

pub use sys::{mount_xenfs, Evtchn, Mapping, Privcmd, XenbusBackend, XenverString};

/// `/dev/xen/privcmd`.
pub const PRIVCMD: &str = "/dev/xen/privcmd";
/// `/dev/xen/evtchn`.
pub const EVTCHN: &str = "/dev/xen/evtchn";
