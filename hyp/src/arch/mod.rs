//! Architecture support. AArch64 today; ARMv7 (HYP mode) will sit beside it.
mod aarch64;
pub use aarch64::*;
