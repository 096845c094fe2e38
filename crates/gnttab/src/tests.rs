//! Host tests: each success and error path of map, unmap and copy, the guest racing the status
//! update, and a seeded random sequence checked against the pin/flag/stage-2 invariants.

use super::*;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

const DOM0: DomId = DomId(0);
const DOM1: DomId = DomId(1);
const DOM2: DomId = DomId(2);
/// Host frame of granter gfn `g` in the fake.
const fn host(g: u64) -> Pa {
    Pa(0x4000_0000 + g * PAGE_SIZE)
}
const RAM_GFNS: u64 = 64;
/// A gfn the fake treats as read-only RAM.
const RO_GFN: u64 = 7;

struct FakeGranter {
    entries: Vec<(u16, u16, u32)>,
    /// cmpxchg attempts that fail because the "guest" toggled GTF_PWT in between.
    races: u32,
}

impl FakeGranter {
    fn new(n: usize) -> Self {
        Self {
            entries: vec![(0, 0, 0); n],
            races: 0,
        }
    }
    fn grant(&mut self, r: u32, domid: DomId, gfn: u32, readonly: bool) {
        let mut f = GTF_permit_access;
        if readonly {
            f |= GTF_readonly;
        }
        self.entries[r as usize] = (f, domid.0, gfn);
    }
    fn flags(&self, r: u32) -> u16 {
        self.entries[r as usize].0
    }
}

impl GranterMem for FakeGranter {
    fn nr_entries(&self) -> u32 {
        self.entries.len() as u32
    }
    fn header(&self, r: GrantRef) -> u32 {
        let e = self.entries[r.0 as usize];
        u32::from(e.0) | (u32::from(e.1) << 16)
    }
    fn cmpxchg_header(&mut self, r: GrantRef, old: u32, new: u32) -> u32 {
        if self.races > 0 {
            self.races -= 1;
            self.entries[r.0 as usize].0 ^= GTF_PWT;
            return self.header(r);
        }
        let cur = self.header(r);
        if cur == old {
            let e = &mut self.entries[r.0 as usize];
            e.0 = (new & 0xffff) as u16;
            e.1 = (new >> 16) as u16;
        }
        cur
    }
    fn clear_flags(&mut self, r: GrantRef, mask: u16) {
        self.entries[r.0 as usize].0 &= !mask;
    }
    fn frame(&self, r: GrantRef) -> u32 {
        self.entries[r.0 as usize].2
    }
    fn gfn_to_frame(&self, gfn: u64, write: bool) -> Option<Pa> {
        (gfn < RAM_GFNS && !(write && gfn == RO_GFN)).then_some(host(gfn))
    }
}

#[derive(Default)]
struct FakeP2m {
    map: BTreeMap<u64, (Pa, bool)>,
    fail: bool,
}

impl MapperP2m for FakeP2m {
    fn map_foreign(&mut self, at: Ipa, frame: Pa, writable: bool) -> Result<(), P2mError> {
        if self.fail || at.0 >= 1 << 40 {
            return Err(P2mError);
        }
        self.map.insert(at.0, (frame, writable));
        Ok(())
    }
    fn unmap_foreign(&mut self, at: Ipa, frame: Pa) -> Result<(), P2mError> {
        match self.map.get(&at.0) {
            None => Ok(()),
            Some(&(f, _)) if f == frame => {
                self.map.remove(&at.0);
                Ok(())
            }
            Some(_) => Err(P2mError),
        }
    }
}

struct World {
    mt: Maptrack,
    act: ActiveTable,
    g: FakeGranter,
    p2m: FakeP2m,
}

impl World {
    fn new() -> Self {
        Self {
            mt: Maptrack::new(16),
            act: ActiveTable::new(),
            g: FakeGranter::new(32),
            p2m: FakeP2m::default(),
        }
    }
    /// dom1 maps dom0's grant `r`.
    fn map(&mut self, r: u32, flags: u32, at: u64) -> Result<Mapped, Error> {
        map(
            &mut self.mt,
            DOM1,
            DOM0,
            &mut self.act,
            &mut self.g,
            &MapRequest {
                flags,
                gref: GrantRef(r),
                host_addr: Ipa(at),
            },
            &mut self.p2m,
        )
    }
    fn unmap(&mut self, h: Handle, at: u64) -> Result<(), Error> {
        self.unmap_replace(h, at, 0)
    }
    fn unmap_replace(&mut self, h: Handle, at: u64, new_addr: u64) -> Result<(), Error> {
        granter_of(&self.mt, h)?;
        unmap(
            &mut self.mt,
            &mut self.act,
            &mut self.g,
            &UnmapRequest {
                handle: h,
                host_addr: at,
                new_addr,
            },
            &mut self.p2m,
        )
    }
}

const RW: u32 = GNTMAP_host_map;
const RO: u32 = GNTMAP_host_map | GNTMAP_readonly;
const AT: u64 = 0x8000_0000;

#[test]
fn gntst_values() {
    assert_eq!(Error::GeneralError.gntst(), -1);
    assert_eq!(Error::BadDomain.gntst(), -2);
    assert_eq!(Error::BadGntref.gntst(), -3);
    assert_eq!(Error::BadHandle.gntst(), -4);
    assert_eq!(Error::PermissionDenied.gntst(), -8);
    assert_eq!(Error::BadPage.gntst(), -9);
    assert_eq!(Error::BadCopyArg.gntst(), -10);
    assert_eq!(Error::NoSpace.gntst(), -13);
    assert_eq!(status::<()>(&Ok(())), GNTST_okay);
    assert_eq!(ENTRIES_PER_FRAME, 512);
}

#[test]
fn map_rw_then_unmap() {
    let mut w = World::new();
    w.g.grant(8, DOM1, 3, false);
    let m = w.map(8, RW, AT + 0x123).unwrap();
    assert_eq!(
        m,
        Mapped {
            handle: Handle(0),
            frame: host(3)
        }
    );
    assert_eq!(w.g.flags(8), GTF_permit_access | GTF_reading | GTF_writing);
    assert_eq!(w.p2m.map.get(&AT), Some(&(host(3), true)));
    let a = w.act.get(GrantRef(8)).unwrap();
    assert_eq!((a.domid, a.frame, a.ro, a.rw), (DOM1, host(3), 0, 1));
    let mp = w.mt.get(Handle(0)).unwrap();
    assert_eq!(
        (mp.granter, mp.gref, mp.host_addr),
        (DOM0, GrantRef(8), Ipa(AT))
    );
    w.unmap(m.handle, AT).unwrap();
    assert_eq!(w.g.flags(8), GTF_permit_access);
    assert!(w.p2m.map.is_empty() && w.act.is_empty() && w.mt.is_empty());
    // The handle is free again, and a second unmap of it is a bad handle.
    assert_eq!(w.unmap(m.handle, AT), Err(Error::BadHandle));
    assert_eq!(w.map(8, RW, AT).unwrap().handle, Handle(0));
}

#[test]
fn readonly_rules() {
    let mut w = World::new();
    w.g.grant(9, DOM1, 4, true);
    // A read-write map of a read-only grant: Xen's "Attempt to write-pin a r/o grant entry".
    assert_eq!(w.map(9, RW, AT), Err(Error::GeneralError));
    assert_eq!(w.g.flags(9), GTF_permit_access | GTF_readonly);
    assert!(w.act.is_empty() && w.mt.is_empty() && w.p2m.map.is_empty());
    let m = w.map(9, RO, AT).unwrap();
    assert_eq!(m.handle, Handle(0));
    assert_eq!(w.g.flags(9), GTF_permit_access | GTF_readonly | GTF_reading);
    assert_eq!(w.p2m.map.get(&AT), Some(&(host(4), false)));
    // Still refused while pinned read-only.
    assert_eq!(w.map(9, RW, AT + PAGE_SIZE), Err(Error::GeneralError));
    w.unmap(m.handle, AT).unwrap();
    assert_eq!(w.g.flags(9), GTF_permit_access | GTF_readonly);
    // A writable map of a frame the granter cannot write.
    w.g.grant(10, DOM1, RO_GFN as u32, false);
    assert_eq!(w.map(10, RW, AT), Err(Error::BadPage));
    assert_eq!(w.g.flags(10), GTF_permit_access);
    assert!(w.map(10, RO, AT).is_ok());
}

#[test]
fn ro_and_rw_pins_share_an_entry() {
    let mut w = World::new();
    w.g.grant(8, DOM1, 3, false);
    let ro = w.map(8, RO, AT).unwrap();
    assert_eq!(w.g.flags(8), GTF_permit_access | GTF_reading);
    let rw = w.map(8, RW, AT + PAGE_SIZE).unwrap();
    assert_eq!(w.g.flags(8), GTF_permit_access | GTF_reading | GTF_writing);
    let a = *w.act.get(GrantRef(8)).unwrap();
    assert_eq!((a.ro, a.rw), (1, 1));
    w.unmap(rw.handle, AT + PAGE_SIZE).unwrap();
    assert_eq!(w.g.flags(8), GTF_permit_access | GTF_reading);
    w.unmap(ro.handle, AT).unwrap();
    assert_eq!(w.g.flags(8), GTF_permit_access);
}

#[test]
fn map_flag_errors() {
    let mut w = World::new();
    w.g.grant(8, DOM1, 3, false);
    assert_eq!(w.map(8, 0, AT), Err(Error::BadGntref));
    assert_eq!(w.map(8, GNTMAP_readonly, AT), Err(Error::BadGntref));
    assert_eq!(w.map(8, GNTMAP_device_map, AT), Err(Error::GeneralError));
    assert_eq!(
        w.map(8, RW | GNTMAP_device_map, AT),
        Err(Error::GeneralError)
    );
    assert_eq!(
        w.map(8, RW | GNTMAP_contains_pte, AT),
        Err(Error::GeneralError)
    );
    assert_eq!(
        w.map(8, RW | GNTMAP_application_map, AT),
        Err(Error::GeneralError)
    );
    assert_eq!(check_map_flags(RW | GNTMAP_guest_avail_mask), Ok(()));
    assert_eq!(w.g.flags(8), GTF_permit_access);
    assert!(w.mt.is_empty());
}

#[test]
fn entry_errors() {
    let mut w = World::new();
    // Out of range.
    assert_eq!(w.map(32, RW, AT), Err(Error::BadGntref));
    assert_eq!(w.map(u32::MAX, RW, AT), Err(Error::BadGntref));
    // Invalid entry, wrong type, wrong domain, sub-page (v1 maps refuse GTF_sub_page).
    assert_eq!(w.map(8, RW, AT), Err(Error::GeneralError));
    w.g.entries[8] = (GTF_accept_transfer, 1, 3);
    assert_eq!(w.map(8, RW, AT), Err(Error::GeneralError));
    w.g.grant(8, DOM2, 3, false);
    assert_eq!(w.map(8, RW, AT), Err(Error::GeneralError));
    w.g.entries[8] = (GTF_permit_access | GTF_sub_page, 1, 3);
    assert_eq!(w.map(8, RW, AT), Err(Error::GeneralError));
    assert_eq!(w.g.entries[8].0, GTF_permit_access | GTF_sub_page);
    // A frame that is not the granter's RAM.
    w.g.grant(8, DOM1, 1000, false);
    assert_eq!(w.map(8, RW, AT), Err(Error::BadPage));
    assert_eq!(w.g.flags(8), GTF_permit_access);
    assert!(w.mt.is_empty() && w.act.is_empty() && w.p2m.map.is_empty());
}

#[test]
fn pinned_entry_keeps_its_domain_and_frame() {
    let mut w = World::new();
    w.g.grant(8, DOM1, 3, false);
    let m = w.map(8, RO, AT).unwrap();
    // The guest rewrites the entry while pinned: the pinned frame stays, and the
    // type/domid checks are not repeated (Xen checks them only when not pinned).
    w.g.entries[8].2 = 5;
    w.g.entries[8].1 = 2;
    let m2 = w.map(8, RO, AT + PAGE_SIZE).unwrap();
    assert_eq!(m2.frame, m.frame);
    // Another domain cannot pin it now.
    let r = map(
        &mut w.mt,
        DOM2,
        DOM0,
        &mut w.act,
        &mut w.g,
        &MapRequest {
            flags: RO,
            gref: GrantRef(8),
            host_addr: Ipa(AT),
        },
        &mut w.p2m,
    );
    assert_eq!(r, Err(Error::GeneralError));
}

#[test]
fn pin_counter_limit() {
    let mut w = World::new();
    w.mt = Maptrack::new(1000);
    w.g.grant(8, DOM1, 3, false);
    for i in 0..u64::from(PIN_LIMIT) {
        w.map(8, RO, AT + i * PAGE_SIZE).unwrap();
    }
    assert_eq!(w.map(8, RO, AT), Err(Error::GeneralError));
    // The other counter is separate.
    assert!(w.map(8, RW, AT + 0x1000_0000).is_ok());
    assert_eq!(w.act.get(GrantRef(8)).unwrap().ro, PIN_LIMIT);
}

#[test]
fn maptrack_full_and_reuse() {
    let mut w = World::new();
    w.mt = Maptrack::new(2);
    w.g.grant(8, DOM1, 3, false);
    let a = w.map(8, RW, AT).unwrap();
    let b = w.map(8, RW, AT + PAGE_SIZE).unwrap();
    assert_eq!((a.handle, b.handle), (Handle(0), Handle(1)));
    assert_eq!(w.map(8, RW, AT + 2 * PAGE_SIZE), Err(Error::NoSpace));
    // No space comes first, before the grant reference is even looked at (as in Xen).
    assert_eq!(w.map(999, RW, AT), Err(Error::NoSpace));
    w.unmap(a.handle, AT).unwrap();
    assert_eq!(w.map(8, RW, AT).unwrap().handle, Handle(0));
    assert_eq!(w.act.get(GrantRef(8)).unwrap().rw, 2);
}

#[test]
fn p2m_failure_is_undone() {
    let mut w = World::new();
    w.g.grant(8, DOM1, 3, false);
    w.p2m.fail = true;
    assert_eq!(w.map(8, RW, AT), Err(Error::GeneralError));
    assert_eq!(w.g.flags(8), GTF_permit_access);
    assert!(w.act.is_empty() && w.mt.is_empty());
    w.p2m.fail = false;
    assert_eq!(w.map(8, RW, 1 << 41), Err(Error::GeneralError));
    assert!(w.act.is_empty() && w.mt.is_empty());
}

#[test]
fn unmap_errors() {
    let mut w = World::new();
    w.g.grant(8, DOM1, 3, false);
    let m = w.map(8, RW, AT).unwrap();
    assert_eq!(w.unmap(Handle(1), AT), Err(Error::BadHandle));
    assert_eq!(w.unmap(Handle(u32::MAX), AT), Err(Error::BadHandle));
    // Another address than the one mapped.
    assert_eq!(w.unmap(m.handle, AT + PAGE_SIZE), Err(Error::GeneralError));
    // Arm's replace_grant_host_mapping refuses a replacement address.
    assert_eq!(
        w.unmap_replace(m.handle, AT, AT + PAGE_SIZE),
        Err(Error::GeneralError)
    );
    // No host address: nothing done, but okay (Xen's unmap_common).
    assert_eq!(w.unmap(m.handle, 0), Ok(()));
    assert_eq!(w.g.flags(8), GTF_permit_access | GTF_reading | GTF_writing);
    assert_eq!(w.mt.len(), 1);
    // Something else now mapped at the address (the guest replaced it): refused, pin kept.
    w.p2m.map.insert(AT, (host(9), true));
    assert_eq!(w.unmap(m.handle, AT), Err(Error::GeneralError));
    assert_eq!(w.act.get(GrantRef(8)).unwrap().rw, 1);
    // The guest removed it: nothing mapped there is success (guest_physmap_remove_page).
    w.p2m.map.remove(&AT);
    assert_eq!(w.unmap(m.handle, AT + 0xfff), Ok(()));
    assert!(w.act.is_empty() && w.mt.is_empty());
    assert_eq!(w.g.flags(8), GTF_permit_access);
}

#[test]
fn guest_racing_the_status_update() {
    let mut w = World::new();
    w.g.grant(8, DOM1, 3, false);
    w.g.races = SET_STATUS_ATTEMPTS - 1;
    assert!(w.map(8, RW, AT).is_ok());
    w.g.grant(9, DOM1, 3, false);
    w.g.races = SET_STATUS_ATTEMPTS;
    assert_eq!(w.map(9, RW, AT + PAGE_SIZE), Err(Error::GeneralError));
    assert_eq!(w.g.flags(9) & (GTF_reading | GTF_writing), 0);
    assert!(w.act.get(GrantRef(9)).is_none());
    // A racing guest that makes the entry read-only in between is caught on the retry.
    struct Flip(FakeGranter);
    impl GranterMem for Flip {
        fn nr_entries(&self) -> u32 {
            self.0.nr_entries()
        }
        fn header(&self, r: GrantRef) -> u32 {
            self.0.header(r)
        }
        fn cmpxchg_header(&mut self, r: GrantRef, _old: u32, _new: u32) -> u32 {
            self.0.entries[r.0 as usize].0 |= GTF_readonly;
            self.0.header(r)
        }
        fn clear_flags(&mut self, r: GrantRef, mask: u16) {
            self.0.clear_flags(r, mask)
        }
        fn frame(&self, r: GrantRef) -> u32 {
            self.0.frame(r)
        }
        fn gfn_to_frame(&self, gfn: u64, write: bool) -> Option<Pa> {
            self.0.gfn_to_frame(gfn, write)
        }
    }
    let mut f = Flip(FakeGranter::new(16));
    f.0.grant(8, DOM1, 3, false);
    let mut mt = Maptrack::new(4);
    let mut act = ActiveTable::new();
    let r = map(
        &mut mt,
        DOM1,
        DOM0,
        &mut act,
        &mut f,
        &MapRequest {
            flags: RW,
            gref: GrantRef(8),
            host_addr: Ipa(AT),
        },
        &mut FakeP2m::default(),
    );
    assert_eq!(r, Err(Error::GeneralError));
    assert!(mt.is_empty() && act.is_empty());
}

// ---- copy ----

struct Env {
    /// Per granter: active table and entries.
    doms: BTreeMap<u16, (ActiveTable, FakeGranter)>,
    /// Host memory touched by copies, by page.
    mem: BTreeMap<u64, Vec<u8>>,
    copies: u32,
}

/// The caller's own gmfn `g` is at this host frame in the fake.
const fn own(g: u64) -> Pa {
    Pa(0x9000_0000 + g * PAGE_SIZE)
}

impl Env {
    fn new() -> Self {
        let mut doms = BTreeMap::new();
        doms.insert(0, (ActiveTable::new(), FakeGranter::new(16)));
        doms.insert(1, (ActiveTable::new(), FakeGranter::new(16)));
        Self {
            doms,
            mem: BTreeMap::new(),
            copies: 0,
        }
    }
    fn g(&mut self, d: u16) -> &mut FakeGranter {
        &mut self.doms.get_mut(&d).unwrap().1
    }
    fn page(&mut self, pa: Pa) -> &mut Vec<u8> {
        self.mem
            .entry(pa.0 & !(PAGE_SIZE - 1))
            .or_insert_with(|| vec![0; PAGE_SIZE as usize])
    }
}

impl CopyEnv for Env {
    fn exists(&self, d: DomId) -> bool {
        self.doms.contains_key(&d.0)
    }
    fn with_granter<R>(
        &mut self,
        d: DomId,
        f: impl FnOnce(&mut ActiveTable, &mut dyn GranterMem) -> R,
    ) -> Option<R> {
        let (a, g) = self.doms.get_mut(&d.0)?;
        Some(f(a, g))
    }
    fn own_frame(&mut self, gmfn: u64, _write: bool) -> Option<Pa> {
        (gmfn < 16).then_some(own(gmfn))
    }
    fn copy_bytes(&mut self, dst: Pa, src: Pa, len: usize) {
        let so = (src.0 & (PAGE_SIZE - 1)) as usize;
        let d0 = (dst.0 & (PAGE_SIZE - 1)) as usize;
        let data = self.page(src)[so..so + len].to_vec();
        self.page(dst)[d0..d0 + len].copy_from_slice(&data);
        self.copies += 1;
    }
}

fn ptr(u: u64, domid: u16, offset: u16) -> CopyPtr {
    CopyPtr { u, domid, offset }
}

#[test]
fn copy_grant_to_local_and_back() {
    let mut e = Env::new();
    // dom0 grants its gfn 3 to dom1 (the caller).
    e.g(0).grant(8, DOM1, 3, false);
    e.page(host(3))[100..104].copy_from_slice(b"xen!");
    let op = CopyOp {
        source: ptr(8, 0, 100),
        dest: ptr(2, DOMID_SELF, 10),
        len: 4,
        flags: GNTCOPY_source_gref,
    };
    assert_eq!(copy(&mut e, DOM1, &op), Ok(()));
    assert_eq!(&e.page(own(2))[10..14], b"xen!");
    // Transient pins are gone and the status bits cleared.
    assert!(e.doms[&0].0.is_empty());
    assert_eq!(e.g(0).flags(8), GTF_permit_access);
    // Back into the grant.
    e.page(own(2))[0..2].copy_from_slice(b"ok");
    let op = CopyOp {
        source: ptr(2, DOMID_SELF, 0),
        dest: ptr(8, 0, 4094),
        len: 2,
        flags: GNTCOPY_dest_gref,
    };
    assert_eq!(copy(&mut e, DOM1, &op), Ok(()));
    assert_eq!(&e.page(host(3))[4094..], b"ok");
    assert_eq!(e.g(0).flags(8), GTF_permit_access);
    // Grant to grant, the same entry on both sides (a ro and a rw pin at once).
    let op = CopyOp {
        source: ptr(8, 0, 100),
        dest: ptr(8, 0, 0),
        len: 4,
        flags: GNTCOPY_source_gref | GNTCOPY_dest_gref,
    };
    assert_eq!(copy(&mut e, DOM1, &op), Ok(()));
    assert_eq!(&e.page(host(3))[0..4], b"xen!");
    assert_eq!(e.g(0).flags(8), GTF_permit_access);
    // A zero-length copy is fine; a GTF_sub_page v1 entry is not refused for copies.
    e.g(0).entries[8].0 |= GTF_sub_page;
    let op = CopyOp {
        source: ptr(8, 0, 0),
        dest: ptr(0, DOMID_SELF, 0),
        len: 0,
        flags: GNTCOPY_source_gref,
    };
    assert_eq!(copy(&mut e, DOM1, &op), Ok(()));
}

#[test]
fn copy_errors() {
    let mut e = Env::new();
    e.g(0).grant(8, DOM1, 3, true);
    let mk = |source, dest, len, flags| CopyOp {
        source,
        dest,
        len,
        flags,
    };
    // A read-only grant as the destination.
    let op = mk(ptr(1, DOMID_SELF, 0), ptr(8, 0, 0), 8, GNTCOPY_dest_gref);
    assert_eq!(copy(&mut e, DOM1, &op), Err(Error::GeneralError));
    assert_eq!(e.g(0).flags(8), GTF_permit_access | GTF_readonly);
    // ... is fine as a source.
    let op = mk(ptr(8, 0, 0), ptr(1, DOMID_SELF, 0), 8, GNTCOPY_source_gref);
    assert_eq!(copy(&mut e, DOM1, &op), Ok(()));
    // Beyond the page, on either side; checked after both sides are claimed.
    let op = mk(
        ptr(8, 0, 4090),
        ptr(1, DOMID_SELF, 0),
        8,
        GNTCOPY_source_gref,
    );
    assert_eq!(copy(&mut e, DOM1, &op), Err(Error::BadCopyArg));
    let op = mk(
        ptr(8, 0, 0),
        ptr(1, DOMID_SELF, 4089),
        8,
        GNTCOPY_source_gref,
    );
    assert_eq!(copy(&mut e, DOM1, &op), Err(Error::BadCopyArg));
    let op = mk(
        ptr(8, 0, u16::MAX),
        ptr(1, DOMID_SELF, 0),
        u16::MAX,
        GNTCOPY_source_gref,
    );
    assert_eq!(copy(&mut e, DOM1, &op), Err(Error::BadCopyArg));
    let op = mk(
        ptr(31, 0, 4090),
        ptr(1, DOMID_SELF, 0),
        8,
        GNTCOPY_source_gref,
    );
    assert_eq!(copy(&mut e, DOM1, &op), Err(Error::BadGntref));
    assert!(e.doms[&0].0.is_empty());
    assert_eq!(e.g(0).flags(8), GTF_permit_access | GTF_readonly);
    // Frames only in the caller's own space, and only DOMID_SELF names it.
    let op = mk(ptr(1, 0, 0), ptr(1, DOMID_SELF, 0), 8, 0);
    assert_eq!(copy(&mut e, DOM1, &op), Err(Error::PermissionDenied));
    let op = mk(ptr(1, 1, 0), ptr(1, DOMID_SELF, 0), 8, 0);
    assert_eq!(copy(&mut e, DOM1, &op), Err(Error::PermissionDenied));
    // No such granter.
    let op = mk(ptr(8, 5, 0), ptr(1, DOMID_SELF, 0), 8, GNTCOPY_source_gref);
    assert_eq!(copy(&mut e, DOM1, &op), Err(Error::BadDomain));
    // A bad local frame: the source's pin is released again.
    let op = mk(ptr(8, 0, 0), ptr(99, DOMID_SELF, 0), 8, GNTCOPY_source_gref);
    assert_eq!(copy(&mut e, DOM1, &op), Err(Error::BadPage));
    assert!(e.doms[&0].0.is_empty());
    assert_eq!(e.g(0).flags(8), GTF_permit_access | GTF_readonly);
    // A grant to someone else.
    let op = mk(ptr(8, 0, 0), ptr(1, DOMID_SELF, 0), 8, GNTCOPY_source_gref);
    assert_eq!(copy(&mut e, DOM2, &op), Err(Error::BadDomain));
    e.doms.insert(2, (ActiveTable::new(), FakeGranter::new(4)));
    assert_eq!(copy(&mut e, DOM2, &op), Err(Error::GeneralError));
    assert_eq!(e.copies, 1);
}

#[test]
fn copy_while_mapped() {
    // A copy pin beside a mapping pin: the mapping's bits stay.
    let mut e = Env::new();
    e.g(0).grant(8, DOM1, 3, false);
    let (act, g) = e.doms.get_mut(&0).unwrap();
    let mut mt = Maptrack::new(4);
    let mut p2m = FakeP2m::default();
    let req = MapRequest {
        flags: RO,
        gref: GrantRef(8),
        host_addr: Ipa(AT),
    };
    let m = map(&mut mt, DOM1, DOM0, act, g, &req, &mut p2m).unwrap();
    let op = CopyOp {
        source: ptr(1, DOMID_SELF, 0),
        dest: ptr(8, 0, 0),
        len: 8,
        flags: GNTCOPY_dest_gref,
    };
    assert_eq!(copy(&mut e, DOM1, &op), Ok(()));
    assert_eq!(e.g(0).flags(8), GTF_permit_access | GTF_reading);
    let (act, g) = e.doms.get_mut(&0).unwrap();
    let u = UnmapRequest {
        handle: m.handle,
        host_addr: AT,
        new_addr: 0,
    };
    unmap(&mut mt, act, g, &u, &mut p2m).unwrap();
    assert_eq!(e.g(0).flags(8), GTF_permit_access);
}

// ---- random sequences ----

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random maps, unmaps (good and bad), copies and guest rewrites of entries; after each step
/// the pins are exactly the live mappings, the status bits follow the pins, and every foreign
/// frame in the mapper's stage 2 is backed by a live mapping (no access without a pin).
#[test]
fn random_ops_keep_invariants() {
    let mut ok = [0u32; 3];
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut w = World::new();
        w.mt = Maptrack::new(24);
        let n = w.g.entries.len() as u64;
        for r in 0..n as u32 {
            w.g.grant(r, DOM1, (r % 12) * 5, r % 3 == 0);
        }
        for _ in 0..3000 {
            match rng.below(10) {
                0..=3 => {
                    let r = rng.below(n + 2) as u32;
                    let flags = [RW, RO, 0, GNTMAP_device_map | RW][rng.below(4) as usize];
                    let at = AT + rng.below(32) * PAGE_SIZE + rng.below(2) * 0x10;
                    w.g.races = u32::from(rng.below(8) == 0) * rng.below(7) as u32;
                    ok[0] += u32::from(w.map(r, flags, at).is_ok());
                    w.g.races = 0;
                }
                4..=6 => {
                    let live: Vec<(Handle, Mapping)> = w.mt.iter().map(|(h, m)| (h, *m)).collect();
                    let (h, at) = if !live.is_empty() && rng.below(4) != 0 {
                        let (h, m) = live[rng.below(live.len() as u64) as usize];
                        let at = if rng.below(5) == 0 {
                            m.host_addr.0 + PAGE_SIZE
                        } else {
                            m.host_addr.0
                        };
                        (h, at)
                    } else {
                        (Handle(rng.below(30) as u32), AT)
                    };
                    ok[1] += u32::from(w.unmap(h, at).is_ok());
                }
                7 => {
                    // The guest rewrites an entry (never the status bits: it does not own them).
                    let r = rng.below(n) as usize;
                    let keep = w.g.entries[r].0 & (GTF_reading | GTF_writing);
                    let f = [
                        GTF_permit_access,
                        GTF_permit_access | GTF_readonly,
                        GTF_invalid,
                        GTF_permit_access | GTF_sub_page,
                    ][rng.below(4) as usize];
                    w.g.entries[r] = (f | keep, rng.below(3) as u16, rng.below(80) as u32);
                }
                _ => {
                    // A copy through the same granter (dom1 copies with dom0's grants).
                    let mut env = Env::new();
                    core::mem::swap(&mut env.doms.get_mut(&0).unwrap().0, &mut w.act);
                    core::mem::swap(&mut env.doms.get_mut(&0).unwrap().1, &mut w.g);
                    let op = CopyOp {
                        source: ptr(rng.below(n + 1), 0, rng.below(4096) as u16),
                        dest: ptr(rng.below(20), DOMID_SELF, rng.below(4096) as u16),
                        len: rng.below(64) as u16,
                        flags: [GNTCOPY_source_gref, GNTCOPY_dest_gref][rng.below(2) as usize],
                    };
                    let op = if op.flags == GNTCOPY_dest_gref {
                        CopyOp {
                            source: op.dest,
                            dest: op.source,
                            ..op
                        }
                    } else {
                        op
                    };
                    ok[2] += u32::from(copy(&mut env, DOM1, &op).is_ok());
                    core::mem::swap(&mut env.doms.get_mut(&0).unwrap().0, &mut w.act);
                    core::mem::swap(&mut env.doms.get_mut(&0).unwrap().1, &mut w.g);
                }
            }
            check_invariants(&w);
        }
    }
    // The sequences reach the success paths often enough to mean something.
    assert!(
        ok.iter().all(|&n| n > 500),
        "successes (map, unmap, copy): {ok:?}"
    );
}

fn check_invariants(w: &World) {
    let mut want: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
    for (_, m) in w.mt.iter() {
        let e = want.entry(m.gref.0).or_default();
        if m.readonly {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
        let a = w.act.get(m.gref).expect("mapping without an active entry");
        assert_eq!(a.frame, m.frame);
        assert_eq!(m.granter, DOM0);
    }
    let got: BTreeMap<u32, (u32, u32)> = w.act.iter().map(|(r, a)| (r.0, (a.ro, a.rw))).collect();
    assert_eq!(got, want, "pins differ from the live mappings");
    for (r, e) in w.g.entries.iter().enumerate() {
        let (ro, rw) = want.get(&(r as u32)).copied().unwrap_or((0, 0));
        assert_eq!(e.0 & GTF_reading != 0, ro + rw > 0, "GTF_reading of {r}");
        assert_eq!(e.0 & GTF_writing != 0, rw > 0, "GTF_writing of {r}");
    }
    for (&at, &(frame, writable)) in &w.p2m.map {
        let backed = w
            .mt
            .iter()
            .any(|(_, m)| m.host_addr.0 == at && m.frame == frame && (!writable || !m.readonly));
        assert!(backed, "stage-2 mapping at {at:#x} without a live mapping");
    }
}
