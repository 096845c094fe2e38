//! Volatile access to device registers, which Xenith maps Device-nGnRnE in its identity map.

use addr::Pa;

/// A device register block at a physical address (identity-mapped at EL2).
#[derive(Clone, Copy, Debug)]
pub struct Mmio {
    base: Pa,
}

impl Mmio {
    /// # Safety
    /// `base` must be the start of a device register block that is mapped as device memory in
    /// Xenith's identity map and owned by the driver using it, at least as large as every offset
    /// the driver passes.
    pub const unsafe fn new(base: Pa) -> Self {
        Self { base }
    }

    /// Physical base of the block.
    pub fn base(&self) -> Pa {
        self.base
    }

    /// Reads the 32-bit register at `off`.
    pub fn read32(&self, off: u64) -> u32 {
        // SAFETY: per `new`'s contract the address is a mapped device register of this block;
        // drivers use 4-byte aligned offsets only.
        unsafe { core::ptr::read_volatile((self.base.0 + off) as *const u32) }
    }

    /// Writes the 32-bit register at `off`.
    pub fn write32(&self, off: u64, v: u32) {
        // SAFETY: as for `read32`.
        unsafe { core::ptr::write_volatile((self.base.0 + off) as *mut u32, v) }
    }

    /// Reads the 64-bit register at `off`.
    pub fn read64(&self, off: u64) -> u64 {
        // SAFETY: as for `read32`, 8-byte aligned offsets.
        unsafe { core::ptr::read_volatile((self.base.0 + off) as *const u64) }
    }

    /// Writes the 64-bit register at `off`.
    pub fn write64(&self, off: u64, v: u64) {
        // SAFETY: as for `read64`.
        unsafe { core::ptr::write_volatile((self.base.0 + off) as *mut u64, v) }
    }

    /// Writes the byte register at `off`.
    pub fn write8(&self, off: u64, v: u8) {
        // SAFETY: as for `read32`; byte access to byte-accessible registers (GICD_IPRIORITYR,
        // GICD_ITARGETSR).
        unsafe { core::ptr::write_volatile((self.base.0 + off) as *mut u8, v) }
    }
}
