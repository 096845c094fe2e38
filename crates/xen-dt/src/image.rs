//! Where a guest's kernel, Device Tree and initrd go in its RAM.
//!
//! - [`Arm64Image`]: the arm64 `Image` header (Linux `Documentation/arch/arm64/booting.rst`:
//!   `code0`, `code1`, `text_offset` at 8, `image_size` at 16, `flags` at 24, magic "ARM\x64"
//!   at 0x38), as Xen's `kernel_zimage64_probe` and libxc's `xc_dom_probe_zimage64_kernel` read
//!   it. Unlike Xen 4.17, which takes the file size as the kernel's extent, the kernel's extent
//!   here is `image_size` when the header has one (it covers `.bss`, which the file does not),
//!   so nothing is placed where the kernel will clear its `.bss`.
//! - [`place_modules`]: the DTB and initrd placement of libxc's `meminit`
//!   (`tools/libs/guest/xg_dom_arm.c`: initrd then DTB, page-aligned) and of Xen's
//!   `place_modules` for dom0less domUs (`xen/arch/arm/kernel.c`: DTB then initrd, 2 MiB
//!   aligned): at 128 MiB into the first bank if the kernel ends below it and they fit, else at
//!   the top of the first bank, else just below the kernel.

use alloc::format;

use addr::{Pa, Region, PAGE_SIZE};

use crate::domu::Flavour;
use crate::Error;

/// `ARM\x64`, little-endian, at offset 0x38 of an arm64 Image (Xen's `ZIMAGE64_MAGIC_V1`).
pub const ARM64_IMAGE_MAGIC: u32 = 0x644d_5241;
/// Bytes of the arm64 Image header.
pub const ARM64_IMAGE_HEADER_SIZE: usize = 64;
/// The Image's load offset before Linux 3.17 when `image_size` is 0 (booting.rst).
pub const ARM64_LEGACY_TEXT_OFFSET: u64 = 0x8_0000;
const SZ_2M: u64 = 2 << 20;
const SZ_128M: u64 = 128 << 20;

/// What an arm64 Image header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arm64Image {
    /// Offset from a 2 MiB-aligned RAM base at which the Image must be loaded.
    pub text_offset: u64,
    /// Bytes the kernel occupies from its load address, `.bss` included (at least the file
    /// size; the file size when the header's `image_size` is 0, as for pre-3.17 kernels).
    pub image_size: u64,
    /// The header's `flags` (bit 0 big-endian, bits 1-2 page size, bit 3 anywhere in RAM).
    pub flags: u64,
}

impl Arm64Image {
    /// Parses the header at the start of `image` (`file_size` bytes long in all; `image` needs
    /// only the first 64 bytes). `None` if it is not an arm64 Image.
    pub fn parse(image: &[u8], file_size: u64) -> Option<Arm64Image> {
        let h = image.get(..ARM64_IMAGE_HEADER_SIZE)?;
        let u64_at = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[o..o + 8]);
            u64::from_le_bytes(b)
        };
        let magic = u32::from_le_bytes([h[0x38], h[0x39], h[0x3a], h[0x3b]]);
        if magic != ARM64_IMAGE_MAGIC || file_size < ARM64_IMAGE_HEADER_SIZE as u64 {
            return None;
        }
        let declared = u64_at(16);
        Some(Arm64Image {
            text_offset: if declared == 0 {
                ARM64_LEGACY_TEXT_OFFSET
            } else {
                u64_at(8)
            },
            image_size: declared.max(file_size),
            flags: u64_at(24),
        })
    }

    /// Where the kernel goes in a bank starting at `ram_base` (Xen's `kernel_zimage_place` for
    /// a 64-bit guest: the bank's start, which Xen keeps 2 MiB aligned, plus `text_offset`) and
    /// the region it then occupies. Errors if it does not fit in `bank`.
    pub fn place(&self, bank: Region<Pa>) -> Result<Region<Pa>, Error> {
        let k = bank
            .start
            .raw()
            .checked_add(self.text_offset)
            .map(|s| Region::new(Pa(s), self.image_size))
            .filter(|k| fits(bank, *k))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "a kernel of {:#x} bytes at offset {:#x} does not fit in RAM {:#x}+{:#x}",
                    self.image_size,
                    self.text_offset,
                    bank.start.raw(),
                    bank.size
                ))
            })?;
        Ok(k)
    }
}

fn fits(outer: Region<Pa>, inner: Region<Pa>) -> bool {
    match (outer.end(), inner.end()) {
        (Some(oe), Some(ie)) => inner.start >= outer.start && ie <= oe,
        _ => false,
    }
}

fn round_up(v: u64, to: u64) -> Option<u64> {
    v.checked_add(to - 1).map(|v| v & !(to - 1))
}

/// Where the DTB and the initrd go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The DTB's address.
    pub dtb: Pa,
    /// The initrd's address (if there is one).
    pub initrd: Option<Pa>,
}

/// Places a DTB of `dtb_size` bytes and an initrd of `initrd_size` bytes (0: none) in the first
/// RAM bank `bank0` beside a kernel occupying `kernel`, as `flavour`'s builder does (see the
/// module docs). Errors if they do not fit.
pub fn place_modules(
    flavour: Flavour,
    bank0: Region<Pa>,
    kernel: Region<Pa>,
    dtb_size: u64,
    initrd_size: u64,
) -> Result<Placement, Error> {
    let no_room = || {
        Error::InvalidArgument(format!(
            "no room for a {dtb_size:#x}-byte DTB and a {initrd_size:#x}-byte initrd in RAM \
             {:#x}+{:#x} beside the kernel at {:#x}+{:#x}",
            bank0.start.raw(),
            bank0.size,
            kernel.start.raw(),
            kernel.size
        ))
    };
    if !fits(bank0, kernel) || dtb_size == 0 {
        return Err(no_room());
    }
    let align = match flavour {
        Flavour::Libxl => PAGE_SIZE,
        Flavour::Dom0less => SZ_2M,
    };
    let dtb_len = round_up(dtb_size, align).ok_or_else(no_room)?;
    let initrd_len = round_up(initrd_size, align).ok_or_else(no_room)?;
    let modsize = dtb_len.checked_add(initrd_len).ok_or_else(no_room)?;
    let rambase = bank0.start.raw();
    let ramend = bank0.end().ok_or_else(no_room)?.raw();
    let kernbase = kernel.start.raw();
    let kernend = round_up(kernel.end().ok_or_else(no_room)?.raw(), SZ_2M).ok_or_else(no_room)?;
    let ram128mb = rambase.checked_add(SZ_128M).ok_or_else(no_room)?;
    if modsize
        .checked_add(kernend - kernbase)
        .is_none_or(|n| n > bank0.size)
    {
        return Err(no_room());
    }
    let modbase =
        if ram128mb.checked_add(modsize).is_some_and(|e| ramend >= e) && kernend < ram128mb {
            ram128mb
        } else if ramend - modsize > kernend {
            ramend - modsize
        } else if kernbase - rambase > modsize {
            kernbase - modsize
        } else {
            return Err(no_room());
        };
    let initrd = (initrd_size > 0).then_some(initrd_len);
    Ok(match flavour {
        // libxc: the initrd first, then the DTB.
        Flavour::Libxl => Placement {
            initrd: initrd.map(|_| Pa(modbase)),
            dtb: Pa(modbase + initrd_len),
        },
        // Xen: the DTB first, then the initrd.
        Flavour::Dom0less => Placement {
            dtb: Pa(modbase),
            initrd: initrd.map(|_| Pa(modbase + dtb_len)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn header(text_offset: u64, image_size: u64) -> alloc::vec::Vec<u8> {
        let mut h = vec![0u8; 64];
        h[8..16].copy_from_slice(&text_offset.to_le_bytes());
        h[16..24].copy_from_slice(&image_size.to_le_bytes());
        h[24..32].copy_from_slice(&0xau64.to_le_bytes());
        h[0x38..0x3c].copy_from_slice(&ARM64_IMAGE_MAGIC.to_le_bytes());
        h
    }

    #[test]
    fn image_header() {
        let i = Arm64Image::parse(&header(0, 0x200_0000), 0x100_0000).unwrap();
        assert_eq!(
            i,
            Arm64Image {
                text_offset: 0,
                image_size: 0x200_0000,
                flags: 0xa
            }
        );
        // Pre-3.17: image_size 0 means text_offset 0x80000 and the file's size.
        let i = Arm64Image::parse(&header(0x1234, 0), 0x5000).unwrap();
        assert_eq!((i.text_offset, i.image_size), (0x8_0000, 0x5000));
        // image_size smaller than the file: the file's size.
        let i = Arm64Image::parse(&header(0, 0x10), 0x5000).unwrap();
        assert_eq!(i.image_size, 0x5000);
        let mut bad = header(0, 0);
        bad[0x38] = 0;
        assert_eq!(Arm64Image::parse(&bad, 0x5000), None);
        assert_eq!(Arm64Image::parse(&header(0, 0)[..63], 0x5000), None);
        let bank = Region::new(Pa(0x4000_0000), 0x400_0000);
        let i = Arm64Image::parse(&header(0x8_0000, 0x200_0000), 0x100_0000).unwrap();
        assert_eq!(
            i.place(bank).unwrap(),
            Region::new(Pa(0x4008_0000), 0x200_0000)
        );
        let big = Arm64Image::parse(&header(0, 0x400_0001), 0x100).unwrap();
        assert!(big.place(bank).is_err());
    }

    #[test]
    fn placement_like_libxc_and_xen() {
        let bank = Region::new(Pa(0x4000_0000), 256 << 20);
        let kernel = Region::new(Pa(0x4000_0000), 0x230_0000);
        // Enough RAM: at 128 MiB. libxc: initrd then DTB, page aligned.
        let p = place_modules(Flavour::Libxl, bank, kernel, 0x1234, 0x10_0001).unwrap();
        assert_eq!(p.initrd, Some(Pa(0x4800_0000)));
        assert_eq!(p.dtb, Pa(0x4810_1000));
        // Xen: DTB then initrd, 2 MiB aligned.
        let p = place_modules(Flavour::Dom0less, bank, kernel, 0x1234, 0x10_0001).unwrap();
        assert_eq!(p.dtb, Pa(0x4800_0000));
        assert_eq!(p.initrd, Some(Pa(0x4820_0000)));
        // No initrd.
        let p = place_modules(Flavour::Dom0less, bank, kernel, 0x1234, 0).unwrap();
        assert_eq!((p.dtb, p.initrd), (Pa(0x4800_0000), None));
        // Small RAM: at its top.
        let small = Region::new(Pa(0x4000_0000), 64 << 20);
        let p = place_modules(Flavour::Libxl, small, kernel, 0x1000, 0x1000).unwrap();
        assert_eq!(p.initrd, Some(Pa(0x43ff_e000)));
        assert_eq!(p.dtb, Pa(0x43ff_f000));
        // A kernel high in RAM: below it.
        let high = Region::new(Pa(0x4300_0000), 0xf0_0000);
        let p = place_modules(Flavour::Dom0less, small, high, 0x1000, 0).unwrap();
        assert_eq!(p.dtb, Pa(0x42e0_0000));
        // No room at all.
        assert!(place_modules(Flavour::Libxl, small, kernel, 0x1000, 62 << 20).is_err());
        assert!(place_modules(Flavour::Libxl, small, kernel, 0, 0).is_err());
        let outside = Region::new(Pa(0x8000_0000), 0x1000);
        assert!(place_modules(Flavour::Libxl, small, outside, 0x1000, 0).is_err());
    }
}
