//! Stage-2 translation tables for Xenith's domains, and EL2's own stage-1 descriptors ([`el2`]).
//!
//! Models VMSAv8-64 stage-2 translation (Arm ARM DDI 0487, D8 "The AArch64 Virtual Memory
//! System Architecture"; descriptor formats D8.3, stage-2 memory attributes D8.6.5 "Stage 2
//! memory type and Cacheability attributes", S2AP D8.4.2) for the configuration Xen's p2m uses
//! on ARM64 with a 4 KiB granule: a 40-bit IPA space (VTCR_EL2.T0SZ = 24) starting at level 1
//! (VTCR_EL2.SL0 = 1) with two concatenated level-1 tables as the root (8 KiB, 8 KiB aligned).
//!
//! * Level 1 entries cover 1 GiB (block or table), level 2 entries 2 MiB (block or table),
//!   level 3 entries 4 KiB pages.
//! * [`Stage2::map`] uses the largest block that the IPA, the PA and the remaining size allow.
//! * Invariant: no table other than the root is ever left empty ([`Stage2::unmap`] frees tables
//!   that become empty), which is what lets a failed `map` roll back exactly.
//!
//! The tables live in memory the hypervisor owns; [`PageTableMemory`] abstracts reading and
//! writing descriptors and allocating table pages, so this crate is pure and host-tested. TLB
//! maintenance is the caller's job, except inside a block split, where the break-before-make
//! sequence (Arm ARM D8.16.1 "Using break-before-make when updating translation table entries")
//! calls [`PageTableMemory::invalidate_for_bbm`] between the invalidation and the new table.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "fakes"))]
extern crate alloc;

pub mod el2;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
#[cfg(test)]
mod tests;

use addr::{Ipa, Pa, PAGE_SIZE};

/// Descriptor bit 0: valid.
pub const PTE_VALID: u64 = 1 << 0;
/// Descriptor bit 1: table (levels 1-2) or page (level 3); clear for a block.
pub const PTE_TABLE: u64 = 1 << 1;
/// Level-3 page descriptor type bits (bits \[1:0\] = 0b11).
pub const PTE_PAGE: u64 = PTE_VALID | PTE_TABLE;
/// Stage-2 MemAttr\[3:0\], descriptor bits \[5:2\].
pub const PTE_MEMATTR_SHIFT: u32 = 2;
/// Mask of MemAttr in a descriptor.
pub const PTE_MEMATTR_MASK: u64 = 0xf << PTE_MEMATTR_SHIFT;
/// Stage-2 MemAttr for Normal memory, Outer and Inner Write-Back Cacheable (Xen's `MATTR_MEM`).
pub const S2_MEMATTR_NORMAL_WB: u64 = 0b1111;
/// Stage-2 MemAttr for Device-nGnRE (Xen's `MATTR_DEV`).
pub const S2_MEMATTR_DEVICE_NGNRE: u64 = 0b0001;
/// S2AP\[0\], descriptor bit 6: read access allowed.
pub const PTE_S2AP_READ: u64 = 1 << 6;
/// S2AP\[1\], descriptor bit 7: write access allowed.
pub const PTE_S2AP_WRITE: u64 = 1 << 7;
/// SH\[1:0\], descriptor bits \[9:8\].
pub const PTE_SH_SHIFT: u32 = 8;
/// Mask of SH in a descriptor.
pub const PTE_SH_MASK: u64 = 0b11 << PTE_SH_SHIFT;
/// Shareability: Outer Shareable.
pub const SH_OUTER: u64 = 0b10;
/// Shareability: Inner Shareable.
pub const SH_INNER: u64 = 0b11;
/// Access flag, descriptor bit 10 (always set: Xenith does not track accesses).
pub const PTE_AF: u64 = 1 << 10;
/// XN, descriptor bit 54 (XN\[1\] with FEAT_XNX; XN\[1:0\] = 0b10 is "execute never at EL1 and
/// EL0", the same meaning as the ARMv8.0 single XN bit).
pub const PTE_XN: u64 = 1 << 54;
/// Output address bits \[47:12\] of a page or table descriptor.
pub const PTE_OA_MASK: u64 = 0x0000_ffff_ffff_f000;

/// Input (IPA) size in bits: VTCR_EL2.T0SZ = 64 - 40 = 24.
pub const IPA_BITS: u32 = 40;
/// Bytes of IPA space a [`Stage2`] translates.
pub const IPA_SIZE: u64 = 1 << IPA_BITS;
/// Largest output address size (bits) a descriptor can hold with a 4 KiB granule (no LPA2).
pub const PA_BITS: u32 = 48;
/// Bytes of PA space a descriptor can address.
pub const PA_SIZE: u64 = 1 << PA_BITS;
/// Level the walk starts at.
pub const ROOT_LEVEL: usize = 1;
/// Pages in the root: two concatenated level-1 tables.
pub const ROOT_PAGES: usize = 2;
/// Entries in one 4 KiB table.
pub const ENTRIES_PER_TABLE: usize = 512;
/// Entries in the root (two concatenated tables).
pub const ROOT_ENTRIES: usize = ENTRIES_PER_TABLE * ROOT_PAGES;
/// Bytes mapped by a level-1 block.
pub const L1_BLOCK_SIZE: u64 = 1 << 30;
/// Bytes mapped by a level-2 block.
pub const L2_BLOCK_SIZE: u64 = 1 << 21;

/// VTCR_EL2.T0SZ, bits \[5:0\].
pub const VTCR_T0SZ_SHIFT: u32 = 0;
/// VTCR_EL2.SL0, bits \[7:6\]: with a 4 KiB granule, 1 = start at level 1.
pub const VTCR_SL0_SHIFT: u32 = 6;
/// VTCR_EL2.IRGN0, bits \[9:8\]: 0b01 = Normal, Inner Write-Back Read-Allocate Write-Allocate.
pub const VTCR_IRGN0_SHIFT: u32 = 8;
/// VTCR_EL2.ORGN0, bits \[11:10\]: 0b01 = Normal, Outer Write-Back Read-Allocate Write-Allocate.
pub const VTCR_ORGN0_SHIFT: u32 = 10;
/// VTCR_EL2.SH0, bits \[13:12\]: 0b11 = Inner Shareable.
pub const VTCR_SH0_SHIFT: u32 = 12;
/// VTCR_EL2.TG0, bits \[15:14\]: 0b00 = 4 KiB granule.
pub const VTCR_TG0_SHIFT: u32 = 14;
/// VTCR_EL2.PS, bits \[18:16\]: output physical address size, ID_AA64MMFR0_EL1.PARange encoding.
pub const VTCR_PS_SHIFT: u32 = 16;
/// VTCR_EL2.VS, bit 19: 16-bit VMID (left 0: 8-bit VMIDs).
pub const VTCR_VS: u64 = 1 << 19;
/// VTCR_EL2 bit 31 is RES1.
pub const VTCR_RES1: u64 = 1 << 31;
/// PARange encoding of 48 bits, the most a 4 KiB-granule descriptor holds without FEAT_LPA2.
pub const PARANGE_48: u8 = 0b101;

/// VTTBR_EL2.VMID, bits \[63:48\] (only \[55:48\] with VTCR_EL2.VS = 0).
pub const VTTBR_VMID_SHIFT: u32 = 48;

/// The VTCR_EL2 value for these tables: T0SZ = 24, SL0 = 1, IRGN0 = ORGN0 = WBWA,
/// SH0 = Inner Shareable, TG0 = 4 KiB, VS = 0, RES1 bit 31, and
/// PS = min(`pa_range`, 48 bits).
///
/// PS is the *output* size: limiting it to 40 bits (as the IPA) would make any mapping of a PA at
/// or above 1 TiB an address size fault, so it follows the CPU's PARange, capped at 48 bits (the
/// most a 4 KiB descriptor holds). On a CPU with PARange < 40 bits a 40-bit IPA exceeds the PA
/// size; Xen then restricts the IPA, which this configuration does not model.
pub const fn vtcr_el2(pa_range: u8) -> u64 {
    let ps = if pa_range > PARANGE_48 {
        PARANGE_48
    } else {
        pa_range
    };
    ((64 - IPA_BITS as u64) << VTCR_T0SZ_SHIFT)
        | (1 << VTCR_SL0_SHIFT)
        | (0b01 << VTCR_IRGN0_SHIFT)
        | (0b01 << VTCR_ORGN0_SHIFT)
        | (0b11 << VTCR_SH0_SHIFT)
        | (0b00 << VTCR_TG0_SHIFT)
        | ((ps as u64) << VTCR_PS_SHIFT)
        | VTCR_RES1
}

/// Where translation tables live: memory the hypervisor owns, reached through this trait.
///
/// `table` is always the physical address of one 4 KiB table page and `index < 512`: the 8 KiB
/// root is accessed as its two pages.
pub trait PageTableMemory {
    /// `count` zeroed, physically contiguous 4 KiB pages aligned to `align_pages` pages.
    fn alloc_zeroed(&mut self, count: usize, align_pages: usize) -> Option<Pa>;
    /// Returns pages from [`alloc_zeroed`](Self::alloc_zeroed). A freed table page may still be
    /// cached by the TLB's walk cache until the caller's TLB invalidation: it must not be handed
    /// to another owner before that (Xen keeps p2m pages in a per-domain pool for this reason).
    fn free(&mut self, pa: Pa, count: usize);
    /// Reads entry `index` of the table page at `table`.
    fn read_entry(&self, table: Pa, index: usize) -> u64;
    /// Writes entry `index` of the table page at `table` (a single 64-bit store for hardware).
    fn write_entry(&mut self, table: Pa, index: usize, value: u64);
    /// Break-before-make: a valid block mapping `[ipa, ipa + size)` has just been invalidated
    /// and will next be replaced by a table mapping the same output. The hypervisor issues
    /// `DSB; TLBI IPAS2E1IS (or VMALLS12E1IS); DSB` for the domain here. Default: nothing (for
    /// tables not yet in use by any CPU).
    fn invalidate_for_bbm(&mut self, ipa: Ipa, size: u64) {
        let _ = (ipa, size);
    }
}

/// Memory type of a stage-2 mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    /// Normal memory, Inner/Outer Write-Back Cacheable, Inner Shareable (RAM).
    Normal,
    /// Device-nGnRE (MMIO passed through to the guest).
    Device,
}

impl MemType {
    /// The MemAttr\[3:0\] encoding.
    pub const fn memattr(self) -> u64 {
        match self {
            Self::Normal => S2_MEMATTR_NORMAL_WB,
            Self::Device => S2_MEMATTR_DEVICE_NGNRE,
        }
    }
    /// Shareability field: Inner for Normal, Outer for Device (ignored by hardware; as Xen).
    const fn sh(self) -> u64 {
        match self {
            Self::Normal => SH_INNER,
            Self::Device => SH_OUTER,
        }
    }
}

/// Access permissions of a stage-2 mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Perm {
    /// Guest may read (S2AP\[0\]).
    pub read: bool,
    /// Guest may write (S2AP\[1\]).
    pub write: bool,
    /// Guest may execute (XN clear).
    pub exec: bool,
}

impl Perm {
    /// Read and write, no execute.
    pub const RW: Self = Self {
        read: true,
        write: true,
        exec: false,
    };
    /// Read, write and execute.
    pub const RWX: Self = Self {
        read: true,
        write: true,
        exec: true,
    };
    /// Read only.
    pub const RO: Self = Self {
        read: true,
        write: false,
        exec: false,
    };
    /// Read and execute.
    pub const RX: Self = Self {
        read: true,
        write: false,
        exec: true,
    };
    /// No access (the entry is valid but every access is a permission fault).
    pub const NONE: Self = Self {
        read: false,
        write: false,
        exec: false,
    };
}

/// Errors from [`Stage2`] operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// IPA, PA or size is not a multiple of 4 KiB.
    Misaligned,
    /// The IPA range goes beyond the 40-bit IPA space, or the PA range beyond 48 bits.
    OutOfRange,
    /// [`PageTableMemory::alloc_zeroed`] failed.
    OutOfMemory,
    /// Part of the IPA range is already mapped (nothing was changed).
    AlreadyMapped,
}

/// The result of translating an IPA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The output address of the IPA (offset within the page included).
    pub pa: Pa,
    /// Memory type.
    pub ty: MemType,
    /// Permissions.
    pub perm: Perm,
    /// Size of the block or page that maps it: 1 GiB, 2 MiB or 4 KiB.
    pub block_size: u64,
}

/// Log2 of the bytes one entry at `level` maps (level 1: 30, 2: 21, 3: 12).
const fn level_shift(level: usize) -> u32 {
    12 + 9 * (3 - level as u32)
}

/// Bytes one entry at `level` maps.
const fn level_span(level: usize) -> u64 {
    1 << level_shift(level)
}

/// Builds a leaf (block or page) descriptor.
pub const fn leaf_descriptor(level: usize, pa: Pa, ty: MemType, perm: Perm) -> u64 {
    let mut d = (pa.0 & PTE_OA_MASK) | PTE_VALID | PTE_AF;
    if level == 3 {
        d |= PTE_TABLE;
    }
    d |= ty.memattr() << PTE_MEMATTR_SHIFT;
    d |= ty.sh() << PTE_SH_SHIFT;
    if perm.read {
        d |= PTE_S2AP_READ;
    }
    if perm.write {
        d |= PTE_S2AP_WRITE;
    }
    if !perm.exec {
        d |= PTE_XN;
    }
    d
}

/// Builds a table descriptor pointing at the next-level table at `pa`.
pub const fn table_descriptor(pa: Pa) -> u64 {
    (pa.0 & PTE_OA_MASK) | PTE_VALID | PTE_TABLE
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Desc {
    Invalid,
    Table(Pa),
    Leaf,
}

const fn classify(level: usize, d: u64) -> Desc {
    if d & PTE_VALID == 0 {
        Desc::Invalid
    } else if level == 3 {
        if d & PTE_TABLE != 0 {
            Desc::Leaf
        } else {
            // 0b01 at level 3 is reserved and behaves as invalid.
            Desc::Invalid
        }
    } else if d & PTE_TABLE != 0 {
        Desc::Table(Pa(d & PTE_OA_MASK))
    } else {
        Desc::Leaf
    }
}

const fn leaf_attrs(d: u64) -> (MemType, Perm) {
    let ty = if (d & PTE_MEMATTR_MASK) >> PTE_MEMATTR_SHIFT >> 2 == 0 {
        MemType::Device
    } else {
        MemType::Normal
    };
    (
        ty,
        Perm {
            read: d & PTE_S2AP_READ != 0,
            write: d & PTE_S2AP_WRITE != 0,
            exec: d & PTE_XN == 0,
        },
    )
}

/// A table at some level, with the IPA its entry 0 maps.
#[derive(Clone, Copy)]
struct Table {
    pa: Pa,
    level: usize,
    base: u64,
}

impl Table {
    fn entries(&self) -> usize {
        if self.level == ROOT_LEVEL {
            ROOT_ENTRIES
        } else {
            ENTRIES_PER_TABLE
        }
    }
    /// (page, index-in-page) of entry `i` (the root spans two pages).
    fn loc(&self, i: usize) -> (Pa, usize) {
        let page = (i / ENTRIES_PER_TABLE) as u64;
        (Pa(self.pa.0 + page * PAGE_SIZE), i % ENTRIES_PER_TABLE)
    }
    fn read(&self, mem: &impl PageTableMemory, i: usize) -> u64 {
        let (p, j) = self.loc(i);
        mem.read_entry(p, j)
    }
    fn write(&self, mem: &mut impl PageTableMemory, i: usize, v: u64) {
        let (p, j) = self.loc(i);
        mem.write_entry(p, j, v);
    }
    fn span(&self) -> u64 {
        level_span(self.level)
    }
    /// IPA of entry `i`.
    fn entry_base(&self, i: usize) -> u64 {
        self.base + i as u64 * self.span()
    }
    /// Entry indices intersecting `[start, end)` (which lies inside this table's coverage).
    fn indices(&self, start: u64, end: u64) -> core::ops::RangeInclusive<usize> {
        let first = ((start - self.base) / self.span()) as usize;
        let last = ((end - 1 - self.base) / self.span()) as usize;
        first..=last
    }
    fn child(&self, i: usize, pa: Pa) -> Table {
        Table {
            pa,
            level: self.level + 1,
            base: self.entry_base(i),
        }
    }
    fn is_empty(&self, mem: &impl PageTableMemory) -> bool {
        (0..self.entries()).all(|i| self.read(mem, i) & PTE_VALID == 0)
    }
}

/// One domain's stage-2 translation tables.
#[derive(Debug)]
pub struct Stage2 {
    root: Pa,
}

impl Stage2 {
    /// Allocates an empty root (two zeroed pages, 8 KiB aligned).
    pub fn new(mem: &mut impl PageTableMemory) -> Result<Self, Error> {
        let root = mem
            .alloc_zeroed(ROOT_PAGES, ROOT_PAGES)
            .ok_or(Error::OutOfMemory)?;
        Ok(Self { root })
    }

    /// Physical address of the root (for VTTBR_EL2.BADDR).
    pub fn root(&self) -> Pa {
        self.root
    }

    /// The VTTBR_EL2 value: BADDR = root, VMID in bits \[63:48\], CnP = 0. With VTCR_EL2.VS = 0
    /// ([`vtcr_el2`]) only 8-bit VMIDs are meaningful: `vmid` must be below 256.
    pub fn vttbr(&self, vmid: u16) -> u64 {
        (self.root.0 & PTE_OA_MASK) | ((vmid as u64) << VTTBR_VMID_SHIFT)
    }

    fn root_table(&self) -> Table {
        Table {
            pa: self.root,
            level: ROOT_LEVEL,
            base: 0,
        }
    }

    /// Maps `[ipa, ipa + size)` to `[pa, pa + size)` with the largest blocks possible.
    ///
    /// Fails with [`Error::Misaligned`] unless all three are 4 KiB multiples,
    /// [`Error::OutOfRange`] past the 40-bit IPA space or the 48-bit PA space,
    /// [`Error::AlreadyMapped`] if any page of the range is mapped, [`Error::OutOfMemory`]. On
    /// any error the tables are as they were. A size of 0 maps nothing. No TLB maintenance is
    /// needed after a map (only invalid entries become valid).
    pub fn map(
        &mut self,
        mem: &mut impl PageTableMemory,
        ipa: Ipa,
        pa: Pa,
        size: u64,
        ty: MemType,
        perm: Perm,
    ) -> Result<(), Error> {
        let end = check_range(ipa, size)?;
        if !pa.is_aligned(PAGE_SIZE) {
            return Err(Error::Misaligned);
        }
        match pa.0.checked_add(size) {
            Some(pend) if pend <= PA_SIZE => {}
            _ => return Err(Error::OutOfRange),
        }
        if size == 0 {
            return Ok(());
        }
        let root = self.root_table();
        if !range_free(mem, root, ipa.0, end) {
            return Err(Error::AlreadyMapped);
        }
        let res = map_range(mem, root, ipa.0, end, pa.0, ty, perm);
        if res.is_err() {
            // Roll back: the range was wholly unmapped before, so clearing it removes exactly
            // what was added and frees the tables that were allocated (they are now empty).
            // No block straddles the range's ends, so nothing needs splitting.
            clear_range(mem, root, ipa.0, end);
        }
        res
    }

    /// Unmaps `[ipa, ipa + size)`, splitting blocks that are only partly inside it and freeing
    /// tables that become empty. Returns whether anything changed (then the caller must
    /// invalidate the TLB for the range, e.g. `TLBI IPAS2E1IS` per page or `VMALLS12E1IS`).
    ///
    /// [`Error::OutOfMemory`] can only come from a split, before anything is unmapped; the
    /// splits already done keep the same translations (and were made with break-before-make).
    pub fn unmap(
        &mut self,
        mem: &mut impl PageTableMemory,
        ipa: Ipa,
        size: u64,
    ) -> Result<bool, Error> {
        let end = check_range(ipa, size)?;
        if size == 0 {
            return Ok(false);
        }
        let root = self.root_table();
        let mut changed = split_at(mem, root, ipa.0)?;
        if end < IPA_SIZE {
            changed |= split_at(mem, root, end)?;
        }
        changed |= clear_range(mem, root, ipa.0, end);
        Ok(changed)
    }

    /// Walks the tables for `ipa`.
    pub fn translate(&self, mem: &impl PageTableMemory, ipa: Ipa) -> Option<Translation> {
        if ipa.0 >= IPA_SIZE {
            return None;
        }
        let mut t = self.root_table();
        loop {
            let i = ((ipa.0 - t.base) / t.span()) as usize;
            let d = t.read(mem, i);
            match classify(t.level, d) {
                Desc::Invalid => return None,
                Desc::Table(next) => {
                    if t.level >= 3 {
                        return None;
                    }
                    t = t.child(i, next);
                }
                Desc::Leaf => {
                    let span = t.span();
                    let (ty, perm) = leaf_attrs(d);
                    let out = (d & PTE_OA_MASK & !(span - 1)) | (ipa.0 & (span - 1));
                    return Some(Translation {
                        pa: Pa(out),
                        ty,
                        perm,
                        block_size: span,
                    });
                }
            }
        }
    }

    /// Frees every table and the root. The caller must have stopped the domain's vCPUs and
    /// invalidated its VMID's TLB entries first.
    pub fn destroy(self, mem: &mut impl PageTableMemory) {
        free_tables(mem, self.root_table());
        mem.free(self.root, ROOT_PAGES);
    }
}

/// Validates an IPA range; returns its end.
fn check_range(ipa: Ipa, size: u64) -> Result<u64, Error> {
    if !ipa.is_aligned(PAGE_SIZE) || !size.is_multiple_of(PAGE_SIZE) {
        return Err(Error::Misaligned);
    }
    match ipa.0.checked_add(size) {
        Some(end) if end <= IPA_SIZE => Ok(end),
        _ => Err(Error::OutOfRange),
    }
}

/// Whether nothing in `[start, end)` is mapped.
fn range_free(mem: &impl PageTableMemory, t: Table, start: u64, end: u64) -> bool {
    for i in t.indices(start, end) {
        let d = t.read(mem, i);
        match classify(t.level, d) {
            Desc::Invalid => {}
            Desc::Leaf => return false,
            Desc::Table(next) => {
                if t.level >= 3 {
                    return false;
                }
                let c = t.child(i, next);
                let s = start.max(c.base);
                let e = end.min(c.base + t.span());
                if !range_free(mem, c, s, e) {
                    return false;
                }
            }
        }
    }
    true
}

/// Maps `[start, end)` (known to be unmapped) to output `pa` onwards.
fn map_range(
    mem: &mut impl PageTableMemory,
    t: Table,
    start: u64,
    end: u64,
    pa: u64,
    ty: MemType,
    perm: Perm,
) -> Result<(), Error> {
    let span = t.span();
    for i in t.indices(start, end) {
        let e_start = t.entry_base(i);
        let s = start.max(e_start);
        let e = end.min(e_start + span);
        let out = pa + (s - start);
        let d = t.read(mem, i);
        let kind = classify(t.level, d);
        let whole = s == e_start && e == e_start + span && out.is_multiple_of(span);
        if kind == Desc::Invalid && (t.level == 3 || whole) {
            t.write(mem, i, leaf_descriptor(t.level, Pa(out), ty, perm));
            continue;
        }
        let next = match kind {
            Desc::Table(next) if t.level < 3 => next,
            Desc::Invalid if t.level < 3 => {
                let page = mem.alloc_zeroed(1, 1).ok_or(Error::OutOfMemory)?;
                t.write(mem, i, table_descriptor(page));
                page
            }
            _ => return Err(Error::AlreadyMapped),
        };
        map_range(mem, t.child(i, next), s, e, out, ty, perm)?;
    }
    Ok(())
}

/// Splits any block that straddles `addr`, so that `addr` falls on an entry boundary at every
/// level. Returns whether a split happened.
fn split_at(mem: &mut impl PageTableMemory, root: Table, addr: u64) -> Result<bool, Error> {
    let mut t = root;
    let mut split = false;
    loop {
        let span = t.span();
        if addr.is_multiple_of(span) {
            return Ok(split);
        }
        let i = ((addr - t.base) / span) as usize;
        let d = t.read(mem, i);
        match classify(t.level, d) {
            Desc::Invalid => return Ok(split),
            Desc::Table(next) if t.level < 3 => t = t.child(i, next),
            Desc::Table(_) => return Ok(split),
            Desc::Leaf => {
                // A level-3 page never straddles a 4 KiB-aligned address: level < 3 here.
                let page = mem.alloc_zeroed(1, 1).ok_or(Error::OutOfMemory)?;
                let child = t.child(i, page);
                let (ty, perm) = leaf_attrs(d);
                let out = d & PTE_OA_MASK & !(span - 1);
                let cspan = child.span();
                for j in 0..ENTRIES_PER_TABLE {
                    let o = Pa(out + j as u64 * cspan);
                    child.write(mem, j, leaf_descriptor(child.level, o, ty, perm));
                }
                // Break-before-make.
                t.write(mem, i, 0);
                mem.invalidate_for_bbm(Ipa(t.entry_base(i)), span);
                t.write(mem, i, table_descriptor(page));
                split = true;
                t = child;
            }
        }
    }
}

/// Clears every leaf inside `[start, end)` (no block may straddle its ends) and frees tables
/// that become empty. Returns whether anything changed.
fn clear_range(mem: &mut impl PageTableMemory, t: Table, start: u64, end: u64) -> bool {
    let span = t.span();
    let mut changed = false;
    for i in t.indices(start, end) {
        let e_start = t.entry_base(i);
        let s = start.max(e_start);
        let e = end.min(e_start + span);
        let d = t.read(mem, i);
        match classify(t.level, d) {
            Desc::Invalid => {
                if d != 0 {
                    t.write(mem, i, 0);
                }
            }
            Desc::Leaf => {
                // Always whole after split_at; a partly covered leaf is left alone.
                if s == e_start && e == e_start + span {
                    t.write(mem, i, 0);
                    changed = true;
                }
            }
            Desc::Table(next) => {
                if t.level >= 3 {
                    continue;
                }
                let c = t.child(i, next);
                changed |= clear_range(mem, c, s, e);
                if c.is_empty(mem) {
                    t.write(mem, i, 0);
                    mem.free(next, 1);
                    changed = true;
                }
            }
        }
    }
    changed
}

/// Frees every table below `t` (not `t` itself).
fn free_tables(mem: &mut impl PageTableMemory, t: Table) {
    if t.level >= 3 {
        return;
    }
    for i in 0..t.entries() {
        if let Desc::Table(next) = classify(t.level, t.read(mem, i)) {
            free_tables(mem, t.child(i, next));
            mem.free(next, 1);
        }
    }
}
