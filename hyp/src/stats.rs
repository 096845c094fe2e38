//! Per-pCPU counts of guest exits by kind, for the `e` key handler and performance work.

use crate::percpu::MAX_PCPUS;
use core::sync::atomic::{AtomicU64, Ordering};

/// Kinds of guest exit counted.
#[derive(Clone, Copy, Debug)]
pub enum Exit {
    /// A physical interrupt.
    Irq,
    /// HVC #0 / trapped SMC: SMCCC (PSCI).
    Smccc,
    /// HVC #0xEA1: a Xen hypercall.
    Hypercall,
    /// WFI (the vCPU may block).
    Wfi,
    /// Emulated MMIO (vGIC, vUART).
    Mmio,
    /// Trapped system register (SGI generation).
    SysReg,
    /// Anything else (injected exceptions included).
    Other,
}

/// Number of kinds.
pub const KINDS: usize = 7;
/// Names, in `Exit` order.
pub const NAMES: [&str; KINDS] = [
    "irq",
    "smccc",
    "hypercall",
    "wfi",
    "mmio",
    "sysreg",
    "other",
];

static COUNTS: [[AtomicU64; KINDS]; MAX_PCPUS] =
    [const { [const { AtomicU64::new(0) }; KINDS] }; MAX_PCPUS];

/// Counts one exit of `kind` on this pCPU.
pub fn count(kind: Exit) {
    COUNTS[crate::percpu::index()][kind as usize].fetch_add(1, Ordering::Relaxed);
}

/// The counts of pCPU `cpu`.
pub fn of(cpu: usize) -> [u64; KINDS] {
    let mut v = [0; KINDS];
    if let Some(row) = COUNTS.get(cpu) {
        for (o, c) in v.iter_mut().zip(row) {
            *o = c.load(Ordering::Relaxed);
        }
    }
    v
}
