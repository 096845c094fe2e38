//! Xen's public guest ABI as Xen 4.17 defines it in `xen/include/public/*.h`, for ARM guests.
//!
//! Every constant and struct keeps the exact spelling of the Xen header it comes from
//! (CONVENTIONS.md §6), with a doc line naming that header; one module per header. Structs are
//! `#[repr(C)]` with the ARM layout (AArch64 and AArch32 share it: `xen_ulong_t` is 64-bit on
//! both, guest handles `XEN_GUEST_HANDLE(x)` are 64-bit, `uint64_t` is 8-aligned) and derive
//! `zerocopy`'s `FromBytes`/`IntoBytes`, so the hypervisor copies them from and to guest memory
//! without unsafe code. Padding that C leaves implicit is an explicit `_pad*` field here (zerocopy
//! forbids implicit padding); C unions become integer or byte arrays with accessors.
//! Every size and field offset is asserted at compile time and in the unit tests; the expected
//! numbers were taken from the 4.17 headers compiled for `__aarch64__`.
#![no_std]
#![forbid(unsafe_code)]
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case)]

#[cfg(test)]
extern crate std;

/// Declares the size and field offsets of an ABI struct: checked at compile time, and again in
/// a unit test of the given name together with a byte round trip.
macro_rules! layout {
    ($test:ident, $ty:ty, $size:expr $(, $field:ident @ $off:expr)* $(,)?) => {
        const _: () = {
            assert!(::core::mem::size_of::<$ty>() == $size);
            $( assert!(::core::mem::offset_of!($ty, $field) == $off); )*
        };
        #[cfg(test)]
        #[test]
        fn $test() {
            assert_eq!(::core::mem::size_of::<$ty>(), $size);
            $( assert_eq!(::core::mem::offset_of!($ty, $field), $off, stringify!($field)); )*
            $crate::test_util::roundtrip::<$ty>();
        }
    };
}

/// Declares a `#[repr(C)]` ABI struct with the derives every ABI struct has.
macro_rules! abi {
    ($(#[$m:meta])* pub struct $name:ident $body:tt) => {
        $(#[$m])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq,
            zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout,
        )]
        #[repr(C)]
        pub struct $name $body
    };
}

pub mod arch_arm;
pub mod console;
pub mod device_tree_defs;
pub mod domctl;
pub mod errno;
pub mod event_channel;
pub mod features;
pub mod grant_table;
pub mod hvm;
pub mod hypercall;
pub mod memory;
pub mod physdev;
pub mod platform;
pub mod sched;
pub mod sysctl;
pub mod vcpu;
pub mod version;
pub mod xen;

pub use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

#[cfg(test)]
mod test_util {
    use std::vec::Vec;
    use zerocopy::{FromBytes, Immutable, IntoBytes};

    /// Reads a `T` from a patterned byte buffer and checks that writing it back gives the same
    /// bytes, and that a zeroed `T` is all zero bytes.
    pub(crate) fn roundtrip<T>()
    where
        T: FromBytes + IntoBytes + Immutable + PartialEq + core::fmt::Debug,
    {
        let n = core::mem::size_of::<T>();
        let bytes: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
        let v = T::read_from_bytes(&bytes).expect("size matches");
        assert_eq!(v.as_bytes(), &bytes[..]);
        let again = T::read_from_bytes(v.as_bytes()).expect("size matches");
        assert_eq!(v, again);
        let z = T::new_zeroed();
        assert!(z.as_bytes().iter().all(|&b| b == 0));
    }
}
