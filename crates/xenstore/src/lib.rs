//! xenstored's logic as pure code: what Xen's C daemon (`tools/xenstored/`: `core.c`,
//! `transaction.c`, `watch.c`, `domain.c`) does with the requests of its clients, without I/O,
//! so a thin dom0 program (or later a stub domain) can drive it over a Unix socket,
//! `/dev/xen/xenbus_backend` and the domains' shared rings.
//!
//! Specifications: `docs/misc/xenstore.txt` (messages, paths, permissions, watches,
//! transactions, domain management), `xen/include/public/io/xs_wire.h` (wire format, message
//! numbers, error names, limits) and `docs/misc/xenstore-ring.txt` (the shared ring).
//!
//! - [`wire`]: `xsd_sockmsg`, `XS_*`, `xsd_errors`, an incremental [`wire::Decoder`] that
//!   never buffers more than one maximal message, and the encoder.
//! - [`ring`]: `xenstore_domain_interface` index math over a [`ring::RingPage`].
//! - [`store`]: the tree, path rules, permissions, quotas and the tree operations.
//! - [`transaction`]: generation-count transactions.
//! - [`watch`]: watch matching and delivery rules.
//! - [`daemon`]: [`Xenstored`], the request state machine: `handle(conn, msg)` returns the
//!   replies, watch events and driver actions ([`Output`]).
//!
//! Every byte of a request may come from a hostile domain: malformed requests get an
//! `XS_ERROR` reply, never a panic, and leave the tree consistent.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod daemon;
pub mod ring;
pub mod store;
pub mod transaction;
pub mod watch;
pub mod wire;

#[cfg(test)]
mod tests;

pub use daemon::{Config, ConnId, ConnKind, Output, Xenstored};
pub use store::{Access, Caller, DomId, Node, Perm, Quotas, Store};
pub use wire::{Decoded, Decoder, Header, Message, XsError};
