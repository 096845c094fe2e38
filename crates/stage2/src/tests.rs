//! Host tests for [`Stage2`] against [`FakeMemory`].

extern crate std;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use addr::{Ipa, Pa};
use proptest::prelude::*;

use crate::fakes::FakeMemory;
use crate::*;

const K4: u64 = 0x1000;
const M2: u64 = 0x20_0000;
const G1: u64 = 0x4000_0000;

fn setup() -> (FakeMemory, Stage2) {
    let mut mem = FakeMemory::new();
    let s2 = Stage2::new(&mut mem).unwrap();
    (mem, s2)
}

fn tr(mem: &FakeMemory, s2: &Stage2, ipa: u64) -> Option<(u64, u64)> {
    s2.translate(mem, Ipa(ipa)).map(|t| (t.pa.0, t.block_size))
}

#[test]
fn new_and_destroy_count_pages() {
    let (mut mem, s2) = setup();
    assert_eq!(mem.outstanding(), 2);
    assert!(s2.root().is_aligned(2 * K4));
    s2.destroy(&mut mem);
    assert_eq!(mem.outstanding(), 0);
}

#[test]
fn vttbr_and_vtcr_values() {
    let (_mem, s2) = setup();
    // The fake hands out the root at 0x8000_0000 (8 KiB aligned).
    assert_eq!(s2.root(), Pa(0x8000_0000));
    // BADDR 0x8000_0000 | VMID 5 << 48.
    assert_eq!(s2.vttbr(5), 0x0005_0000_8000_0000);
    assert_eq!(s2.vttbr(0xff), 0x00ff_0000_8000_0000);
    // T0SZ 24 (0x18) | SL0 1 << 6 (0x40) | IRGN0 0x100 | ORGN0 0x400 | SH0 0x3000 | TG0 0 |
    // PS 0b010 << 16 (0x2_0000) | RES1 bit 31.
    assert_eq!(vtcr_el2(2), 0x8002_3558);
    // PARange 0b100 (44 bits, cortex-a57 on QEMU): PS 0x4_0000.
    assert_eq!(vtcr_el2(4), 0x8004_3558);
    // 52 bits caps to 48 (0b101).
    assert_eq!(vtcr_el2(6), 0x8005_3558);
    assert_eq!(vtcr_el2(0), 0x8000_3558);
}

#[test]
fn block_vs_page_selection() {
    let (mut mem, mut s2) = setup();
    // 1 GiB aligned IPA, PA and size: one level-1 block, no tables.
    s2.map(
        &mut mem,
        Ipa(G1),
        Pa(0x10_0000_0000),
        G1,
        MemType::Normal,
        Perm::RWX,
    )
    .unwrap();
    assert_eq!(mem.outstanding(), 2);
    assert_eq!(tr(&mem, &s2, G1 + 0x1234), Some((0x10_0000_1234, G1)));
    // Root entry 1: OA | AF (0x400) | SH inner (0x300) | S2AP RW (0xc0) | MemAttr 0xf << 2 (0x3c)
    // | valid, no XN.
    assert_eq!(mem.read_entry(s2.root(), 1), 0x10_0000_07fd);

    // 2 MiB aligned IPA and PA, 1 GiB size: the IPA allows 1 GiB but the PA does not → 2 MiB
    // blocks in one level-2 table.
    s2.map(
        &mut mem,
        Ipa(2 * G1),
        Pa(0x20_0020_0000),
        G1,
        MemType::Normal,
        Perm::RW,
    )
    .unwrap();
    assert_eq!(mem.outstanding(), 3);
    assert_eq!(tr(&mem, &s2, 2 * G1), Some((0x20_0020_0000, M2)));
    assert_eq!(tr(&mem, &s2, 3 * G1 - 1), Some((0x20_4020_0000 - 1, M2)));

    // 4 KiB aligned PA: pages only (one level-2 table, two level-3 tables for 4 MiB).
    s2.map(
        &mut mem,
        Ipa(4 * G1),
        Pa(0x30_0000_1000),
        2 * M2,
        MemType::Device,
        Perm::RW,
    )
    .unwrap();
    assert_eq!(mem.outstanding(), 3 + 3);
    assert_eq!(tr(&mem, &s2, 4 * G1 + M2 + 5), Some((0x30_0020_1005, K4)));

    // Unaligned head and tail: pages, then 2 MiB blocks, then a 1 GiB block, then pages.
    let ipa = 6 * G1 - M2 - K4;
    let size = K4 + M2 + G1 + M2 + K4;
    s2.map(
        &mut mem,
        Ipa(ipa),
        Pa(0x40_0000_0000 + ipa),
        size,
        MemType::Normal,
        Perm::RX,
    )
    .unwrap();
    assert_eq!(tr(&mem, &s2, ipa), Some((0x40_0000_0000 + ipa, K4)));
    assert_eq!(
        tr(&mem, &s2, ipa + K4),
        Some((0x40_0000_0000 + ipa + K4, M2))
    );
    assert_eq!(tr(&mem, &s2, 6 * G1), Some((0x40_0000_0000 + 6 * G1, G1)));
    assert_eq!(tr(&mem, &s2, 7 * G1), Some((0x40_0000_0000 + 7 * G1, M2)));
    assert_eq!(
        tr(&mem, &s2, 7 * G1 + M2),
        Some((0x40_0000_0000 + 7 * G1 + M2, K4))
    );
    assert_eq!(tr(&mem, &s2, 7 * G1 + M2 + K4), None);
    assert_eq!(tr(&mem, &s2, ipa - K4), None);

    s2.destroy(&mut mem);
    assert_eq!(mem.outstanding(), 0);
}

#[test]
fn attributes_round_trip() {
    let (mut mem, mut s2) = setup();
    let cases = [
        (MemType::Normal, Perm::RW),
        (MemType::Normal, Perm::RWX),
        (MemType::Normal, Perm::RO),
        (MemType::Device, Perm::RX),
        (MemType::Device, Perm::NONE),
    ];
    for (k, (ty, perm)) in cases.into_iter().enumerate() {
        let ipa = 0x900_0000 + k as u64 * K4;
        s2.map(&mut mem, Ipa(ipa), Pa(0x5000_0000 + ipa), K4, ty, perm)
            .unwrap();
        let t = s2.translate(&mem, Ipa(ipa + 8)).unwrap();
        assert_eq!(
            (t.pa, t.ty, t.perm, t.block_size),
            (Pa(0x5000_0000 + ipa + 8), ty, perm, K4)
        );
    }
    // The Device pages' descriptors, found through the tables by hand.
    let l1 = mem.read_entry(s2.root(), 0);
    assert_eq!(l1 & 3, 3, "table");
    let l2 = mem.read_entry(Pa(l1 & PTE_OA_MASK), 0x900_0000 >> 21);
    let l3 = Pa(l2 & PTE_OA_MASK);
    // Device RX: OA 0x5900_3000 | AF 0x400 | SH outer 0x200 | S2AP R 0x40 | MemAttr 0b0001 << 2
    // | page 0b11; no XN.
    assert_eq!(mem.read_entry(l3, 3), 0x5900_3647);
    // Device, no access: XN (bit 54), no S2AP bits.
    assert_eq!(mem.read_entry(l3, 4), 0x0040_0000_5900_4607);
}

#[test]
fn map_then_translate_many() {
    let (mut mem, mut s2) = setup();
    let ipa = 0x4000_0000 - 0x3000;
    let pa = 0x8_8000_0000 - 0x3000;
    let size = 0x4020_6000;
    s2.map(&mut mem, Ipa(ipa), Pa(pa), size, MemType::Normal, Perm::RWX)
        .unwrap();
    let mut a = ipa;
    while a < ipa + size {
        assert_eq!(
            s2.translate(&mem, Ipa(a)).map(|t| t.pa),
            Some(Pa(pa + (a - ipa))),
            "{a:#x}"
        );
        a += 0x1_3000 + 0x7;
    }
    assert_eq!(s2.translate(&mem, Ipa(ipa + size)), None);
    assert_eq!(s2.translate(&mem, Ipa(ipa - 1)), None);
    assert_eq!(s2.translate(&mem, Ipa(IPA_SIZE)), None);
    assert_eq!(s2.translate(&mem, Ipa(u64::MAX)), None);
}

#[test]
fn unmap_part_of_block_splits() {
    let (mut mem, mut s2) = setup();
    s2.map(
        &mut mem,
        Ipa(G1),
        Pa(0x10_0000_0000),
        G1,
        MemType::Normal,
        Perm::RW,
    )
    .unwrap();
    let hole = G1 + 5 * M2 + 7 * K4;
    assert_eq!(s2.unmap(&mut mem, Ipa(hole), K4), Ok(true));
    // 1 GiB block → level-2 table of 2 MiB blocks → level-3 table for the 2 MiB around the hole.
    assert_eq!(mem.outstanding(), 4);
    assert_eq!(mem.bbm_log, [(Ipa(G1), G1), (Ipa(G1 + 5 * M2), M2)]);
    assert_eq!(tr(&mem, &s2, hole), None);
    assert_eq!(
        tr(&mem, &s2, hole - 1),
        Some((0x10_0000_0000 + hole - 1 - G1, K4))
    );
    assert_eq!(
        tr(&mem, &s2, hole + K4),
        Some((0x10_0000_0000 + hole + K4 - G1, K4))
    );
    assert_eq!(tr(&mem, &s2, G1), Some((0x10_0000_0000, M2)));
    assert_eq!(tr(&mem, &s2, 2 * G1 - 1), Some((0x10_3fff_ffff, M2)));
    // Attributes survive the split.
    let t = s2.translate(&mem, Ipa(hole + K4)).unwrap();
    assert_eq!((t.ty, t.perm), (MemType::Normal, Perm::RW));
    // Mapping into the hole works, over it does not.
    s2.map(
        &mut mem,
        Ipa(hole),
        Pa(0x7000),
        K4,
        MemType::Device,
        Perm::RW,
    )
    .unwrap();
    assert_eq!(
        s2.map(
            &mut mem,
            Ipa(hole),
            Pa(0x7000),
            K4,
            MemType::Device,
            Perm::RW
        ),
        Err(Error::AlreadyMapped)
    );
    // Unmapping the rest frees every intermediate table.
    assert_eq!(s2.unmap(&mut mem, Ipa(0), 4 * G1), Ok(true));
    assert_eq!(mem.outstanding(), 2);
    assert_eq!(s2.unmap(&mut mem, Ipa(0), 4 * G1), Ok(false));
    assert_eq!(mem.outstanding(), 2);
}

#[test]
fn unmap_across_blocks_with_ragged_ends() {
    let (mut mem, mut s2) = setup();
    s2.map(&mut mem, Ipa(0), Pa(0), 4 * G1, MemType::Normal, Perm::RWX)
        .unwrap();
    assert_eq!(mem.outstanding(), 2);
    let (start, end) = (G1 - M2 - K4, 3 * G1 + M2 + K4);
    assert_eq!(s2.unmap(&mut mem, Ipa(start), end - start), Ok(true));
    assert_eq!(tr(&mem, &s2, start - K4), Some((start - K4, K4)));
    assert_eq!(tr(&mem, &s2, start - M2 - K4), Some((start - M2 - K4, M2)));
    assert_eq!(tr(&mem, &s2, 0), Some((0, M2)));
    for a in [start, start + K4, G1, 2 * G1, 3 * G1, 3 * G1 + M2, end - K4] {
        assert_eq!(tr(&mem, &s2, a), None, "{a:#x}");
    }
    assert_eq!(tr(&mem, &s2, end), Some((end, K4)));
    assert_eq!(tr(&mem, &s2, end + M2), Some((end + M2, M2)));
    s2.destroy(&mut mem);
    assert_eq!(mem.outstanding(), 0);
}

#[test]
fn map_unmap_region_frees_tables() {
    let (mut mem, mut s2) = setup();
    s2.map(
        &mut mem,
        Ipa(0x1234_5000),
        Pa(0x9_0000_0000),
        3 * K4,
        MemType::Normal,
        Perm::RW,
    )
    .unwrap();
    assert_eq!(mem.outstanding(), 4); // root (2) + level 2 + level 3
    assert_eq!(s2.unmap(&mut mem, Ipa(0x1234_6000), K4), Ok(true));
    assert_eq!(mem.outstanding(), 4);
    assert_eq!(s2.unmap(&mut mem, Ipa(0x1234_5000), 3 * K4), Ok(true));
    assert_eq!(mem.outstanding(), 2);
    // The root is all zeroes again.
    for i in 0..ENTRIES_PER_TABLE {
        assert_eq!(mem.read_entry(s2.root(), i), 0);
        assert_eq!(mem.read_entry(Pa(s2.root().0 + K4), i), 0);
    }
    // Unmapping nothing changes nothing.
    assert_eq!(s2.unmap(&mut mem, Ipa(0), IPA_SIZE), Ok(false));
    assert_eq!(s2.unmap(&mut mem, Ipa(0x1000), 0), Ok(false));
}

#[test]
fn overlapping_map_is_refused_without_change() {
    let (mut mem, mut s2) = setup();
    s2.map(
        &mut mem,
        Ipa(0x1000_0000),
        Pa(0x4000_0000),
        K4,
        MemType::Normal,
        Perm::RW,
    )
    .unwrap();
    s2.map(
        &mut mem,
        Ipa(3 * G1),
        Pa(3 * G1),
        G1,
        MemType::Normal,
        Perm::RW,
    )
    .unwrap();
    let before = mem.clone();
    // Overlaps the page at its end, after a range that would need new tables and blocks.
    assert_eq!(
        s2.map(
            &mut mem,
            Ipa(0x0fe0_0000),
            Pa(0),
            0x20_1000,
            MemType::Normal,
            Perm::RW
        ),
        Err(Error::AlreadyMapped)
    );
    // Overlaps the 1 GiB block at its last page.
    assert_eq!(
        s2.map(
            &mut mem,
            Ipa(3 * G1 - M2),
            Pa(0),
            M2 + K4,
            MemType::Normal,
            Perm::RW
        ),
        Err(Error::AlreadyMapped)
    );
    // Covers an existing page entirely.
    assert_eq!(
        s2.map(&mut mem, Ipa(0), Pa(0), G1, MemType::Normal, Perm::RW),
        Err(Error::AlreadyMapped)
    );
    assert!(mem.same_contents(&before));
}

#[test]
fn out_of_memory_rolls_back() {
    for budget in 0..4 {
        let (mut mem, mut s2) = setup();
        s2.map(
            &mut mem,
            Ipa(0x20_0000),
            Pa(0x20_0000),
            K4,
            MemType::Normal,
            Perm::RW,
        )
        .unwrap();
        let before = mem.clone();
        mem.alloc_budget = Some(budget);
        // Needs a level-3 table in the existing level-2 table, then a level-2 and a level-3
        // table in the next 1 GiB: 3 allocations.
        let r = s2.map(
            &mut mem,
            Ipa(G1 - K4),
            Pa(0),
            2 * K4,
            MemType::Normal,
            Perm::RW,
        );
        if budget < 3 {
            assert_eq!(r, Err(Error::OutOfMemory), "budget {budget}");
            let mut after = mem.clone();
            after.alloc_budget = None;
            let mut before = before.clone();
            before.alloc_budget = None;
            assert_eq!(after.outstanding(), before.outstanding());
            // Same pages, same contents.
            assert!(after.same_contents(&before));
        } else {
            assert_eq!(r, Ok(()));
        }
    }
    // Splitting needs memory too.
    let (mut mem, mut s2) = setup();
    s2.map(&mut mem, Ipa(0), Pa(0), G1, MemType::Normal, Perm::RW)
        .unwrap();
    mem.alloc_budget = Some(1);
    assert_eq!(s2.unmap(&mut mem, Ipa(K4), K4), Err(Error::OutOfMemory));
    // The first split happened and keeps the translation.
    assert_eq!(tr(&mem, &s2, K4), Some((K4, M2)));
    mem.alloc_budget = None;
    assert_eq!(s2.unmap(&mut mem, Ipa(K4), K4), Ok(true));
    assert_eq!(tr(&mem, &s2, K4), None);
    let mut empty = FakeMemory::new();
    empty.alloc_budget = Some(0);
    assert_eq!(Stage2::new(&mut empty).map(|_| ()), Err(Error::OutOfMemory));
}

#[test]
fn range_checks() {
    let (mut mem, mut s2) = setup();
    let n = MemType::Normal;
    let rw = Perm::RW;
    assert_eq!(
        s2.map(&mut mem, Ipa(0x800), Pa(0), K4, n, rw),
        Err(Error::Misaligned)
    );
    assert_eq!(
        s2.map(&mut mem, Ipa(0), Pa(0x10), K4, n, rw),
        Err(Error::Misaligned)
    );
    assert_eq!(
        s2.map(&mut mem, Ipa(0), Pa(0), 0x800, n, rw),
        Err(Error::Misaligned)
    );
    assert_eq!(
        s2.map(&mut mem, Ipa(IPA_SIZE), Pa(0), K4, n, rw),
        Err(Error::OutOfRange)
    );
    assert_eq!(
        s2.map(&mut mem, Ipa(IPA_SIZE - K4), Pa(0), 2 * K4, n, rw),
        Err(Error::OutOfRange)
    );
    assert_eq!(
        s2.map(&mut mem, Ipa(!0xfff), Pa(0), K4, n, rw),
        Err(Error::OutOfRange)
    );
    assert_eq!(
        s2.map(&mut mem, Ipa(0), Pa(PA_SIZE), K4, n, rw),
        Err(Error::OutOfRange)
    );
    assert_eq!(
        s2.map(&mut mem, Ipa(0), Pa(!0xfff), K4, n, rw),
        Err(Error::OutOfRange)
    );
    assert_eq!(
        s2.unmap(&mut mem, Ipa(IPA_SIZE), K4),
        Err(Error::OutOfRange)
    );
    assert_eq!(s2.unmap(&mut mem, Ipa(0x10), K4), Err(Error::Misaligned));
    assert_eq!(mem.outstanding(), 2);
    // The very last page and the last PA page are fine.
    s2.map(&mut mem, Ipa(IPA_SIZE - K4), Pa(PA_SIZE - K4), K4, n, rw)
        .unwrap();
    assert_eq!(tr(&mem, &s2, IPA_SIZE - 1), Some((PA_SIZE - 1, K4)));
    // The last 1 GiB of IPA space sits in the second root page.
    s2.map(&mut mem, Ipa(IPA_SIZE - 2 * G1), Pa(0), G1, n, rw)
        .unwrap();
    assert_eq!(mem.read_entry(Pa(s2.root().0 + K4), 510) & PTE_OA_MASK, 0);
    assert_eq!(s2.unmap(&mut mem, Ipa(0), IPA_SIZE), Ok(true));
    assert_eq!(mem.outstanding(), 2);
    // Size 0 maps nothing.
    assert_eq!(s2.map(&mut mem, Ipa(0), Pa(0), 0, n, rw), Ok(()));
}

// ---- Property test: random map/unmap sequences against an interval model. ----

/// Reference model: start IPA → (end IPA, PA of start, type, perm).
type Model = BTreeMap<u64, (u64, u64, MemType, Perm)>;

fn model_translate(m: &Model, a: u64) -> Option<(u64, MemType, Perm)> {
    let (&s, &(e, pa, ty, perm)) = m.range(..=a).next_back()?;
    (a < e).then_some((pa + (a - s), ty, perm))
}

fn model_overlaps(m: &Model, s: u64, e: u64) -> bool {
    m.range(..e)
        .next_back()
        .is_some_and(|(_, &(end, ..))| end > s)
}

fn model_unmap(m: &mut Model, s: u64, e: u64) -> bool {
    let hits: Vec<u64> = m
        .range(..e)
        .filter(|(_, &(end, ..))| end > s)
        .map(|(&k, _)| k)
        .collect();
    for k in &hits {
        let (end, pa, ty, perm) = m.remove(k).unwrap();
        if *k < s {
            m.insert(*k, (s, pa, ty, perm));
        }
        if end > e {
            m.insert(e, (end, pa + (e - k), ty, perm));
        }
    }
    !hits.is_empty()
}

#[derive(Clone, Debug)]
enum Op {
    Map {
        ipa: u64,
        pa: u64,
        size: u64,
        ty: MemType,
        perm: Perm,
    },
    Unmap {
        ipa: u64,
        size: u64,
    },
}

/// IPA/size shapes that hit 1 GiB and 2 MiB blocks, ragged edges, and the 4 GiB window's ends.
fn shape() -> impl Strategy<Value = (u64, u64)> {
    let unit = prop_oneof![Just(K4), Just(M2), Just(G1)];
    (unit.clone(), 0u64..4096, unit, 1u64..3, -2i64..3, -2i64..3).prop_map(
        |(u, k, su, n, head, tail)| {
            let window = 4 * G1;
            let base = (k * u) % window;
            let ipa = (base as i64 + head * K4 as i64).clamp(0, window as i64 - K4 as i64) as u64;
            let size = ((n * su) as i64 + tail * K4 as i64).max(K4 as i64) as u64;
            let size = size.min(window + G1 - ipa);
            (ipa, size)
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    let ty = prop_oneof![Just(MemType::Normal), Just(MemType::Device)];
    let perm = prop_oneof![
        Just(Perm::RW),
        Just(Perm::RWX),
        Just(Perm::RO),
        Just(Perm::RX)
    ];
    prop_oneof![
        3 => (shape(), 0u64..8, prop_oneof![Just(M2), Just(G1), Just(K4)], ty, perm).prop_map(
            |((ipa, size), d, du, ty, perm)| {
                // Page-granular PA offsets only for small sizes (keeps the fake fast).
                let du = if size > 8 * M2 && du == K4 { M2 } else { du };
                Op::Map { ipa, pa: 0x40_0000_0000 + ipa + d * du, size, ty, perm }
            }
        ),
        2 => shape().prop_map(|(ipa, size)| Op::Unmap { ipa, size }),
    ]
}

fn check_points(mem: &FakeMemory, s2: &Stage2, m: &Model, points: &[u64]) {
    for &p in points {
        for a in [p.wrapping_sub(K4), p, p + K4 - 1, p + 0x1_2345] {
            if a >= IPA_SIZE {
                continue;
            }
            let got = s2.translate(mem, Ipa(a)).map(|t| (t.pa.0, t.ty, t.perm));
            assert_eq!(got, model_translate(m, a), "at {a:#x}");
            if let Some(t) = s2.translate(mem, Ipa(a)) {
                // Blocks are naturally aligned in both spaces.
                assert_eq!((t.pa.0 - (a & (t.block_size - 1))) % t.block_size, 0);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn random_ops_match_model(ops in proptest::collection::vec(op(), 1..24)) {
        let (mut mem, mut s2) = setup();
        let mut m = Model::new();
        let mut points = Vec::new();
        for op in ops {
            match op {
                Op::Map { ipa, pa, size, ty, perm } => {
                    let r = s2.map(&mut mem, Ipa(ipa), Pa(pa), size, ty, perm);
                    if model_overlaps(&m, ipa, ipa + size) {
                        prop_assert_eq!(r, Err(Error::AlreadyMapped));
                    } else {
                        prop_assert_eq!(r, Ok(()));
                        m.insert(ipa, (ipa + size, pa, ty, perm));
                    }
                    points.extend([ipa, ipa + size]);
                }
                Op::Unmap { ipa, size } => {
                    let changed = s2.unmap(&mut mem, Ipa(ipa), size).unwrap();
                    prop_assert_eq!(changed, model_unmap(&mut m, ipa, ipa + size));
                    points.extend([ipa, ipa + size]);
                }
            }
            check_points(&mem, &s2, &m, &points);
        }
        for (&s, &(e, ..)) in &m {
            points.extend([s, e, s + (e - s) / 2]);
        }
        check_points(&mem, &s2, &m, &points);
        // Unmapping everything leaves only the root; destroy frees it.
        s2.unmap(&mut mem, Ipa(0), IPA_SIZE).unwrap();
        prop_assert_eq!(mem.outstanding(), 2);
        s2.destroy(&mut mem);
        prop_assert_eq!(mem.outstanding(), 0);
    }
}
