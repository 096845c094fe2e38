//! Per-pCPU data, found through TPIDR_EL2.

use crate::arch::{sysreg, GuestRegs};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// Most pCPUs Xenith drives (head.S allocates this many stacks).
pub const MAX_PCPUS: usize = 8;

/// One pCPU's block. `guest_regs` must stay the first field: entry.S reads it at offset 0.
#[repr(C)]
pub struct PerCpu {
    /// GuestRegs of the vCPU running here (written by entry.S on guest entry).
    pub guest_regs: AtomicPtr<GuestRegs>,
    /// Logical index (0 = boot pCPU).
    pub index: AtomicUsize,
    /// MPIDR_EL1 of this pCPU.
    pub mpidr: AtomicU64,
    /// GICv2 CPU-interface bit of this pCPU.
    pub gic_mask: AtomicU8,
    /// Set once the pCPU has finished its own set-up.
    pub online: AtomicBool,
    /// (domain id << 16 | vCPU id) + 1 of the vCPU whose state is loaded here, 0 for none.
    pub loaded: AtomicUsize,
}

impl PerCpu {
    const fn new() -> Self {
        Self {
            guest_regs: AtomicPtr::new(core::ptr::null_mut()),
            index: AtomicUsize::new(0),
            mpidr: AtomicU64::new(0),
            gic_mask: AtomicU8::new(0),
            online: AtomicBool::new(false),
            loaded: AtomicUsize::new(0),
        }
    }
}

#[allow(clippy::declare_interior_mutable_const)]
const PERCPU_INIT: PerCpu = PerCpu::new();
static PERCPU: [PerCpu; MAX_PCPUS] = [PERCPU_INIT; MAX_PCPUS];

/// Points TPIDR_EL2 at pCPU `index`'s block and records its MPIDR.
pub fn init(index: usize, mpidr: u64) {
    let p = &PERCPU[index];
    p.index.store(index, Ordering::Relaxed);
    p.mpidr.store(mpidr, Ordering::Relaxed);
    sysreg::write!(tpidr_el2, p as *const PerCpu as u64);
}

/// This pCPU's block.
pub fn this() -> &'static PerCpu {
    let p = sysreg::read!(tpidr_el2) as usize;
    let base = PERCPU.as_ptr() as usize;
    let i = (p - base) / core::mem::size_of::<PerCpu>();
    &PERCPU[i]
}

/// pCPU `index`'s block.
pub fn get(index: usize) -> Option<&'static PerCpu> {
    PERCPU.get(index)
}

/// This pCPU's logical index.
pub fn index() -> usize {
    this().index.load(Ordering::Relaxed)
}
