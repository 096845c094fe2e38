//! Memory: Xenith's heap, the page-frame allocator, access to physical memory through the EL2
//! identity map, and the stage-2 table memory.

use addr::{Pa, PAGE_SIZE};
use frames::FrameAllocator;
use linked_list_allocator::LockedHeap;
use spin::Mutex;

/// Heap for Xenith's own objects (domains, vGIC state, DT buffers).
const HEAP_SIZE: usize = 16 << 20;

#[repr(align(4096))]
#[allow(dead_code)] // only its address is used
struct HeapArea([u8; HEAP_SIZE]);
static mut HEAP_AREA: HeapArea = HeapArea([0; HEAP_SIZE]);

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Sets up the heap. Called once on the boot pCPU before any allocation.
pub fn init_heap() {
    // SAFETY: called once, before any other pCPU runs and before any allocation; HEAP_AREA is
    // used by nothing else, and only its address is taken here.
    unsafe {
        let start = core::ptr::addr_of_mut!(HEAP_AREA) as *mut u8;
        HEAP.lock().init(start, HEAP_SIZE);
    }
}

/// Bytes of heap in use.
pub fn heap_used() -> usize {
    HEAP.lock().used()
}

/// The page-frame allocator (set up by boot code).
pub static FRAMES: Mutex<Option<FrameAllocator>> = Mutex::new(None);

/// Allocates `count` zeroed frames aligned to `align` frames.
pub fn alloc_frames(count: usize, align: usize) -> Option<Pa> {
    let pa = FRAMES.lock().as_mut()?.alloc(count, align, false).ok()?;
    zero(pa, count as u64 * PAGE_SIZE);
    Some(pa)
}

/// Returns frames to the allocator.
pub fn free_frames(pa: Pa, count: usize) {
    if let Some(f) = FRAMES.lock().as_mut() {
        if f.free(pa, count).is_err() {
            crate::info!("BUG: freeing {count} frames at {pa} that are not allocated");
        }
    }
}

/// One past the highest RAM frame number (XENMEM_maximum_ram_page).
pub fn max_ram_page() -> u64 {
    FRAMES.lock().as_ref().map_or(0, |f| f.end_frame())
}

/// Frames free now.
pub fn free_frame_count() -> usize {
    FRAMES.lock().as_ref().map_or(0, |f| f.free_frames())
}

/// Frames the allocator manages and frames free now (XEN_SYSCTL_physinfo's total and free).
pub fn frame_counts() -> (u64, u64) {
    FRAMES.lock().as_ref().map_or((0, 0), |f| {
        (f.total_frames() as u64, f.free_frames() as u64)
    })
}

/// Zeroes `[pa, pa + len)` of RAM Xenith owns: whole `DC ZVA` blocks where the range has them
/// (one instruction per block: 64 bytes on Cortex-A57), stores for the ends. Every frame a
/// domain gets is zeroed here, so this is most of what populating a domain's RAM costs.
pub fn zero(pa: Pa, len: u64) {
    let end = pa.0.saturating_add(len);
    let Some(block) = zva_block().filter(|&b| len >= b) else {
        zero_stores(pa.0, end);
        return;
    };
    // An interval of `block` bytes holds one multiple of it, so `first <= last`.
    let first = pa.0.next_multiple_of(block);
    let last = end & !(block - 1);
    zero_stores(pa.0, first);
    let mut a = first;
    while a < last {
        // SAFETY: `[a, a + block)` is inside the caller's range (below), which is RAM Xenith owns,
        // mapped as Normal memory by the EL2 identity map (DC ZVA's requirement); DC ZVA writes
        // zeroes there and nothing else.
        unsafe { core::arch::asm!("dc zva, {}", in(reg) a, options(nostack, preserves_flags)) };
        a += block;
    }
    zero_stores(last, end);
}

/// `[from, to)` zeroed with ordinary stores.
fn zero_stores(from: u64, to: u64) {
    if to > from {
        // SAFETY: callers pass part of a range of RAM they own (fresh frames or a domain's RAM
        // before it runs), which the EL2 identity map covers as normal memory.
        unsafe { core::ptr::write_bytes(from as *mut u8, 0, (to - from) as usize) };
    }
}

/// `DC ZVA`'s block size in bytes, or `None` where it is prohibited (`DCZID_EL0.DZP`).
fn zva_block() -> Option<u64> {
    /// DCZID_EL0.DZP (bit 4) and DCZID_EL0.BS (bits 3:0, log2 of the size in 4-byte words).
    const DZP: u64 = 1 << 4;
    const BS_MASK: u64 = 0xf;
    let d = crate::arch::sysreg::read!(dczid_el0);
    (d & DZP == 0).then(|| 4u64 << (d & BS_MASK))
}

/// Copies `len` bytes of RAM from `src` to `dst` (non-overlapping).
///
/// # Safety
/// Both ranges must be RAM in the identity map that no one else is using.
pub unsafe fn copy(dst: Pa, src: Pa, len: u64) {
    // SAFETY: forwarded to the caller.
    unsafe { core::ptr::copy_nonoverlapping(src.0 as *const u8, dst.0 as *mut u8, len as usize) };
}

/// A byte slice view of RAM, for parsing blobs the boot loader left (host DT, modules).
///
/// # Safety
/// `[pa, pa + len)` must be RAM in the identity map that stays unchanged while the slice lives.
pub unsafe fn slice(pa: Pa, len: u64) -> &'static [u8] {
    // SAFETY: forwarded to the caller.
    unsafe { core::slice::from_raw_parts(pa.0 as *const u8, len as usize) }
}

/// Cleans and invalidates the data cache to the point of coherency for a range, so that a guest
/// starting with its MMU and caches off sees what Xenith wrote through its cacheable mapping.
pub fn clean_dcache(pa: Pa, len: u64) {
    const LINE: u64 = 64;
    let mut a = pa.0 & !(LINE - 1);
    let end = pa.0.saturating_add(len);
    while a < end {
        // SAFETY: cache maintenance by VA on identity-mapped RAM; no data changes.
        unsafe { core::arch::asm!("dc civac, {}", in(reg) a, options(nostack)) };
        a += LINE;
    }
    crate::arch::sysreg::dsb_sy();
}

/// Stage-2 table memory: frames from the allocator, entries accessed through the identity map.
pub struct TableMemory;

impl stage2::PageTableMemory for TableMemory {
    fn alloc_zeroed(&mut self, count: usize, align_pages: usize) -> Option<Pa> {
        alloc_frames(count, align_pages)
    }

    fn free(&mut self, pa: Pa, count: usize) {
        free_frames(pa, count)
    }

    fn read_entry(&self, table: Pa, index: usize) -> u64 {
        debug_assert!(index < 1024);
        // SAFETY: `table` is a table frame this allocator handed to the stage-2 code and the
        // index is inside it (at most 1024 entries for the concatenated root).
        unsafe { core::ptr::read_volatile((table.0 as *const u64).add(index)) }
    }

    fn write_entry(&mut self, table: Pa, index: usize, value: u64) {
        debug_assert!(index < 1024);
        // SAFETY: as for `read_entry`.
        unsafe { core::ptr::write_volatile((table.0 as *mut u64).add(index), value) }
    }
}
