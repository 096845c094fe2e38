//! Address newtypes shared by every Xenith crate.
//!
//! A bare `u64` never means an address (CONVENTIONS.md §7): a physical address is a [`Pa`], a
//! guest intermediate physical address (what a guest believes is physical, translated by stage 2)
//! is an [`Ipa`], a virtual address is a [`Va`]. Arithmetic on them is checked: guest-derived
//! values must never wrap.
#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

/// Size of the 4 KiB translation granule Xenith uses everywhere (stage 1 at EL2 and stage 2).
pub const PAGE_SHIFT: u32 = 12;
/// Bytes in a 4 KiB page.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;

macro_rules! address_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The raw address value.
            pub const fn raw(self) -> u64 {
                self.0
            }
            /// `self + off`, or `None` on overflow.
            pub const fn checked_add(self, off: u64) -> Option<Self> {
                match self.0.checked_add(off) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }
            /// `self - other` in bytes, or `None` if `other` is above `self`.
            pub const fn offset_from(self, other: Self) -> Option<u64> {
                self.0.checked_sub(other.0)
            }
            /// Whether the address is a multiple of `align` (a power of two).
            pub const fn is_aligned(self, align: u64) -> bool {
                self.0 & (align - 1) == 0
            }
            /// Rounds down to a multiple of `align` (a power of two).
            pub const fn align_down(self, align: u64) -> Self {
                Self(self.0 & !(align - 1))
            }
            /// Rounds up to a multiple of `align` (a power of two), `None` on overflow.
            pub const fn align_up(self, align: u64) -> Option<Self> {
                match self.0.checked_add(align - 1) {
                    Some(v) => Some(Self(v & !(align - 1))),
                    None => None,
                }
            }
            /// Byte offset inside its 4 KiB page.
            pub const fn page_offset(self) -> u64 {
                self.0 & (PAGE_SIZE - 1)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
    };
}

address_type!(
    /// A host physical address (what the CPU puts on the bus after all translation).
    Pa
);
address_type!(
    /// A guest intermediate physical address, translated to a [`Pa`] by the domain's stage 2.
    Ipa
);
address_type!(
    /// A virtual address (EL2's own, or a guest's stage-1 input).
    Va
);

/// A half-open range `[start, start + size)` of addresses of one kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Region<A> {
    /// First address in the region.
    pub start: A,
    /// Length in bytes.
    pub size: u64,
}

/// What every address newtype offers generically (used by [`Region`]).
pub trait Address: Copy + Ord {
    /// The raw value.
    fn to_raw(self) -> u64;
    /// Wraps a raw value.
    fn from_raw(raw: u64) -> Self;
}

macro_rules! address_trait {
    ($($name:ident),*) => {$(
        impl Address for $name {
            fn to_raw(self) -> u64 {
                self.0
            }
            fn from_raw(raw: u64) -> Self {
                Self(raw)
            }
        }
    )*};
}
address_trait!(Pa, Ipa, Va);

impl<A: Address> Region<A> {
    /// A region of `size` bytes at `start`.
    pub const fn new(start: A, size: u64) -> Self {
        Self { start, size }
    }
    /// One past the last byte, `None` if the region wraps the address space.
    pub fn end(&self) -> Option<A> {
        self.start.to_raw().checked_add(self.size).map(A::from_raw)
    }
    /// Whether `addr` lies inside the region.
    pub fn contains(&self, addr: A) -> bool {
        match addr.to_raw().checked_sub(self.start.to_raw()) {
            Some(off) => off < self.size,
            None => false,
        }
    }
    /// Whether `[addr, addr + len)` lies wholly inside the region (len 0 never does).
    pub fn contains_range(&self, addr: A, len: u64) -> bool {
        match addr.to_raw().checked_sub(self.start.to_raw()) {
            Some(off) => len != 0 && off < self.size && len <= self.size - off,
            None => false,
        }
    }
    /// Whether the two regions share at least one byte.
    pub fn overlaps(&self, other: &Self) -> bool {
        let (a, b) = (self.start.to_raw(), other.start.to_raw());
        let a_end = a.saturating_add(self.size);
        let b_end = b.saturating_add(other.size);
        self.size != 0 && other.size != 0 && a < b_end && b < a_end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment() {
        assert_eq!(Pa(0x1234).align_down(0x1000), Pa(0x1000));
        assert_eq!(Pa(0x1234).align_up(0x1000), Some(Pa(0x2000)));
        assert_eq!(Pa(u64::MAX).align_up(0x1000), None);
        assert!(Ipa(0x20_0000).is_aligned(0x20_0000));
        assert_eq!(Va(0x1fff).page_offset(), 0xfff);
    }

    #[test]
    fn regions() {
        let r = Region::new(Ipa(0x1000), 0x1000);
        assert!(r.contains(Ipa(0x1000)));
        assert!(r.contains(Ipa(0x1fff)));
        assert!(!r.contains(Ipa(0x2000)));
        assert!(!r.contains(Ipa(0xfff)));
        assert!(r.contains_range(Ipa(0x1ff0), 0x10));
        assert!(!r.contains_range(Ipa(0x1ff0), 0x11));
        assert!(!r.contains_range(Ipa(0x1000), 0));
        assert!(!r.contains_range(Ipa(0x1800), u64::MAX));
        let wrap = Region::new(Pa(u64::MAX - 1), 4);
        assert_eq!(wrap.end(), None);
        assert!(Region::new(Pa(0), 0x10).overlaps(&Region::new(Pa(0xf), 1)));
        assert!(!Region::new(Pa(0), 0x10).overlaps(&Region::new(Pa(0x10), 1)));
    }
}
