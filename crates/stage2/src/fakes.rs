//! A [`PageTableMemory`] in host memory, for tests (here and in crates that drive [`Stage2`]).
//! Enabled by the `fakes` feature.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use addr::{Ipa, Pa, PAGE_SIZE};

use crate::{PageTableMemory, ENTRIES_PER_TABLE};

/// Pages kept in a map keyed by physical address; counts what is outstanding, can be told to
/// fail allocations, and panics on any access to a page it did not hand out (a use after free
/// or a wild pointer in the tables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeMemory {
    pages: BTreeMap<u64, Box<[u64; ENTRIES_PER_TABLE]>>,
    next: u64,
    /// Allocations that will still succeed (`None`: unlimited).
    pub alloc_budget: Option<usize>,
    /// Break-before-make invalidations requested, in order.
    pub bbm_log: Vec<(Ipa, u64)>,
}

impl Default for FakeMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeMemory {
    /// Empty memory handing out pages from 0x8000_0000 up.
    pub fn new() -> Self {
        Self {
            pages: BTreeMap::new(),
            next: 0x8000_0000,
            alloc_budget: None,
            bbm_log: Vec::new(),
        }
    }
    /// Pages allocated and not yet freed.
    pub fn outstanding(&self) -> usize {
        self.pages.len()
    }
    /// Whether both hold the same pages with the same entries (allocator state aside).
    pub fn same_contents(&self, other: &Self) -> bool {
        self.pages == other.pages
    }
    fn page(&self, table: Pa, index: usize) -> &[u64; ENTRIES_PER_TABLE] {
        assert!(
            index < ENTRIES_PER_TABLE,
            "index {index} out of a 4 KiB table"
        );
        assert!(table.is_aligned(PAGE_SIZE), "unaligned table {table:?}");
        self.pages
            .get(&table.0)
            .unwrap_or_else(|| panic!("access to unallocated page {table:?}"))
    }
}

impl PageTableMemory for FakeMemory {
    fn alloc_zeroed(&mut self, count: usize, align_pages: usize) -> Option<Pa> {
        if let Some(b) = self.alloc_budget.as_mut() {
            if *b == 0 {
                return None;
            }
            *b -= 1;
        }
        let align = PAGE_SIZE * align_pages.max(1) as u64;
        let start = self.next.div_ceil(align) * align;
        for k in 0..count as u64 {
            self.pages
                .insert(start + k * PAGE_SIZE, Box::new([0; ENTRIES_PER_TABLE]));
        }
        self.next = start + count as u64 * PAGE_SIZE;
        Some(Pa(start))
    }

    fn free(&mut self, pa: Pa, count: usize) {
        for k in 0..count as u64 {
            assert!(
                self.pages.remove(&(pa.0 + k * PAGE_SIZE)).is_some(),
                "free of unallocated page {pa:?}+{k}"
            );
        }
    }

    fn read_entry(&self, table: Pa, index: usize) -> u64 {
        self.page(table, index)[index]
    }

    fn write_entry(&mut self, table: Pa, index: usize, value: u64) {
        self.page(table, index);
        if let Some(p) = self.pages.get_mut(&table.0) {
            p[index] = value;
        }
    }

    fn invalidate_for_bbm(&mut self, ipa: Ipa, size: u64) {
        self.bbm_log.push((ipa, size));
    }
}
