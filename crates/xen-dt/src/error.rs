//! The crate's one error type.

use alloc::string::String;
use core::fmt;

/// What went wrong while parsing, editing or generating a device tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The blob is not a well-formed FDT: `what` is wrong at byte `offset`.
    BadDtb {
        /// Byte offset in the blob where the problem was found.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// `vm-fdt` refused to serialize the tree (its message).
    Write(String),
    /// A property has a malformed value.
    BadProperty {
        /// Path of the node holding the property.
        node: String,
        /// Property name.
        prop: String,
        /// What is wrong with it.
        what: &'static str,
    },
    /// A required node or property is absent (the message names it).
    Missing(String),
    /// The DT describes something Xenith does not support (the message says what).
    Unsupported(String),
    /// A caller-supplied value is invalid (the message says which).
    InvalidArgument(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadDtb { offset, what } => {
                write!(
                    f,
                    "malformed device tree blob at offset {offset:#x}: {what}"
                )
            }
            Error::Write(msg) => write!(f, "cannot serialize device tree: {msg}"),
            Error::BadProperty { node, prop, what } => {
                write!(f, "device tree node {node}: property {prop}: {what}")
            }
            Error::Missing(what) => write!(f, "device tree lacks {what}"),
            Error::Unsupported(what) => write!(f, "unsupported device tree: {what}"),
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
        }
    }
}
