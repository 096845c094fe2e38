//! Physical page-frame allocator.
//!
//! One bitmap bit per 4 KiB frame over the span of the host's RAM banks; holes between banks and
//! everything reserved (Xenith's image, the host DT, boot modules, dom0's 1:1 RAM) are marked
//! used. Allocation is first-fit of `count` contiguous frames at an alignment, which is what
//! stage-2 tables (8 KiB concatenated roots) and domain RAM need. Freed frames return to the pool
//! and `free_frames()` is exact, so domain destruction can be checked to return everything.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use addr::{Pa, Region, PAGE_SIZE};
use alloc::vec;
use alloc::vec::Vec;

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// No run of free frames is long enough.
    OutOfMemory,
    /// The range is not inside the managed span, not page-aligned, or empty.
    BadRange,
    /// Freeing frames that are not allocated.
    NotAllocated,
}

/// A bitmap frame allocator over `[base, base + nr_frames * 4K)`.
pub struct FrameAllocator {
    base: Pa,
    used: Vec<u64>,
    nr_frames: usize,
    free: usize,
}

impl FrameAllocator {
    /// An allocator over the span of `banks`, with every frame outside the banks marked used.
    pub fn new(banks: &[Region<Pa>]) -> Result<Self, Error> {
        let start = banks.iter().map(|b| b.start).min().ok_or(Error::BadRange)?;
        let end = banks
            .iter()
            .filter_map(|b| b.end())
            .max()
            .ok_or(Error::BadRange)?;
        let base = start.align_up(PAGE_SIZE).ok_or(Error::BadRange)?;
        let span = end
            .align_down(PAGE_SIZE)
            .offset_from(base)
            .ok_or(Error::BadRange)?;
        let nr_frames = usize::try_from(span / PAGE_SIZE).map_err(|_| Error::BadRange)?;
        let mut a = Self {
            base,
            used: vec![u64::MAX; nr_frames.div_ceil(64)],
            nr_frames,
            free: 0,
        };
        for b in banks {
            let s = b.start.align_up(PAGE_SIZE).ok_or(Error::BadRange)?;
            let e = b.end().ok_or(Error::BadRange)?.align_down(PAGE_SIZE);
            if let Some(len) = e.offset_from(s) {
                if len > 0 {
                    a.set_range(s, len, false)?;
                }
            }
        }
        Ok(a)
    }

    /// Frames currently free.
    pub fn free_frames(&self) -> usize {
        self.free
    }

    /// One past the last managed frame number (physical address / 4 KiB).
    pub fn end_frame(&self) -> u64 {
        self.base.0 / PAGE_SIZE + self.nr_frames as u64
    }

    /// Frames managed (free or not).
    pub fn total_frames(&self) -> usize {
        self.nr_frames
    }

    fn index(&self, pa: Pa) -> Option<usize> {
        let off = pa.offset_from(self.base)?;
        let i = usize::try_from(off / PAGE_SIZE).ok()?;
        (i < self.nr_frames).then_some(i)
    }

    fn is_used(&self, i: usize) -> bool {
        self.used[i / 64] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, i: usize, used: bool) {
        let was = self.is_used(i);
        if used {
            self.used[i / 64] |= 1 << (i % 64);
        } else {
            self.used[i / 64] &= !(1 << (i % 64));
        }
        match (was, used) {
            (false, true) => self.free -= 1,
            (true, false) => self.free += 1,
            _ => {}
        }
    }

    fn check_range(&self, pa: Pa, len: u64) -> Result<(usize, usize), Error> {
        if len == 0 || !pa.is_aligned(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(Error::BadRange);
        }
        let first = self.index(pa).ok_or(Error::BadRange)?;
        let count = usize::try_from(len / PAGE_SIZE).map_err(|_| Error::BadRange)?;
        let last = first.checked_add(count).ok_or(Error::BadRange)?;
        if last > self.nr_frames {
            return Err(Error::BadRange);
        }
        Ok((first, last))
    }

    fn set_range(&mut self, pa: Pa, len: u64, used: bool) -> Result<(), Error> {
        let (first, last) = self.check_range(pa, len)?;
        for i in first..last {
            self.set(i, used);
        }
        Ok(())
    }

    /// Marks `[pa, pa + len)` used (rounded out to pages; the part outside the span is ignored).
    pub fn reserve(&mut self, pa: Pa, len: u64) {
        let Some(end) = pa.checked_add(len).and_then(|e| e.align_up(PAGE_SIZE)) else {
            return;
        };
        let start = pa.align_down(PAGE_SIZE).max(self.base);
        let span_end = Pa(self.base.0 + self.nr_frames as u64 * PAGE_SIZE);
        let end = end.min(span_end);
        if let Some(len) = end.offset_from(start) {
            if len > 0 {
                let _ = self.set_range(start, len, true);
            }
        }
    }

    /// Claims exactly `[pa, pa + len)`, which must be wholly free (e.g. dom0's 1:1 RAM).
    pub fn claim(&mut self, pa: Pa, len: u64) -> Result<(), Error> {
        let (first, last) = self.check_range(pa, len)?;
        if (first..last).any(|i| self.is_used(i)) {
            return Err(Error::OutOfMemory);
        }
        for i in first..last {
            self.set(i, true);
        }
        Ok(())
    }

    /// `count` contiguous frames whose first frame number is a multiple of `align` frames,
    /// searching from the top of memory down when `top_down` (domain RAM), else bottom up.
    pub fn alloc(&mut self, count: usize, align: usize, top_down: bool) -> Result<Pa, Error> {
        if count == 0 || align == 0 || !align.is_power_of_two() || count > self.nr_frames {
            return Err(Error::BadRange);
        }
        let base_frame = usize::try_from(self.base.0 / PAGE_SIZE).map_err(|_| Error::BadRange)?;
        let fits = |a: &Self, i: usize| (i..i + count).all(|j| !a.is_used(j));
        let aligned = |i: usize| (base_frame + i).is_multiple_of(align);
        let last_start = self.nr_frames - count;
        let found = if top_down {
            (0..=last_start)
                .rev()
                .find(|&i| aligned(i) && fits(self, i))
        } else {
            (0..=last_start).find(|&i| aligned(i) && fits(self, i))
        };
        let i = found.ok_or(Error::OutOfMemory)?;
        for j in i..i + count {
            self.set(j, true);
        }
        Ok(Pa(self.base.0 + i as u64 * PAGE_SIZE))
    }

    /// Returns `count` frames at `pa`, which must all be allocated.
    pub fn free(&mut self, pa: Pa, count: usize) -> Result<(), Error> {
        let len = (count as u64)
            .checked_mul(PAGE_SIZE)
            .ok_or(Error::BadRange)?;
        let (first, last) = self.check_range(pa, len)?;
        if (first..last).any(|i| !self.is_used(i)) {
            return Err(Error::NotAllocated);
        }
        for i in first..last {
            self.set(i, false);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    fn one_bank() -> FrameAllocator {
        FrameAllocator::new(&[Region::new(Pa(0x4000_0000), 64 * MB)]).unwrap()
    }

    #[test]
    fn counts_and_reserves() {
        let mut a = one_bank();
        assert_eq!(a.free_frames(), 16384);
        a.reserve(Pa(0x4000_0000), 2 * MB + 1);
        assert_eq!(a.free_frames(), 16384 - 513);
        // Reserving outside the span is ignored, not a panic.
        a.reserve(Pa(0x1000), 0x1000);
        a.reserve(Pa(u64::MAX - 10), 100);
        assert_eq!(a.free_frames(), 16384 - 513);
    }

    #[test]
    fn alloc_aligned_and_free() {
        let mut a = one_bank();
        let p = a.alloc(1, 1, false).unwrap();
        assert_eq!(p, Pa(0x4000_0000));
        let q = a.alloc(2, 2, false).unwrap();
        assert_eq!(q, Pa(0x4000_2000));
        let top = a.alloc(512, 512, true).unwrap();
        assert_eq!(top, Pa(0x4000_0000 + 62 * MB));
        assert_eq!(a.free(q, 2), Ok(()));
        assert_eq!(a.free(q, 2), Err(Error::NotAllocated));
        assert_eq!(a.free(Pa(0x1000), 1), Err(Error::BadRange));
        a.free(p, 1).unwrap();
        a.free(top, 512).unwrap();
        assert_eq!(a.free_frames(), 16384);
    }

    #[test]
    fn holes_between_banks_are_never_allocated() {
        let mut a = FrameAllocator::new(&[
            Region::new(Pa(0x4000_0000), 4 * 4096),
            Region::new(Pa(0x4001_0000), 4 * 4096),
        ])
        .unwrap();
        assert_eq!(a.free_frames(), 8);
        assert_eq!(a.alloc(5, 1, false), Err(Error::OutOfMemory));
        for _ in 0..8 {
            let p = a.alloc(1, 1, false).unwrap();
            assert!(p.0 < 0x4000_4000 || p.0 >= 0x4001_0000);
        }
        assert_eq!(a.alloc(1, 1, false), Err(Error::OutOfMemory));
    }

    #[test]
    fn claim_requires_free_frames() {
        let mut a = one_bank();
        a.claim(Pa(0x4100_0000), 16 * MB).unwrap();
        assert_eq!(a.claim(Pa(0x4100_0000), 4096), Err(Error::OutOfMemory));
        assert_eq!(a.claim(Pa(0x4100_0001), 4096), Err(Error::BadRange));
        assert_eq!(a.claim(Pa(0x4400_0000), 4096), Err(Error::BadRange));
    }

    #[test]
    fn bad_requests() {
        let mut a = one_bank();
        assert_eq!(a.alloc(0, 1, false), Err(Error::BadRange));
        assert_eq!(a.alloc(1, 3, false), Err(Error::BadRange));
        assert_eq!(a.alloc(usize::MAX, 1, false), Err(Error::BadRange));
        assert!(FrameAllocator::new(&[]).is_err());
    }
}
