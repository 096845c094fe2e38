use super::*;

mod fifo;
use addr::{Pa, PAGE_SIZE};
use alloc::vec;
use alloc::vec::Vec;
use xen_abi::event_channel::EVTCHNSTAT_interdomain;
use xen_abi::xen::{VIRQ_CONSOLE, VIRQ_DOM_EXC};
use xen_abi::FromZeros;

/// A simulated guest change of a word.
type Race = fn(u32) -> u32;

/// 2-level state in plain memory: `shared_info` bitmaps and per-vCPU selector/upcall words.
#[derive(Clone, Debug)]
struct FakeWords {
    pending: Vec<u64>,
    mask: Vec<u64>,
    sel: Vec<u64>,
    upcall: Vec<bool>,
    /// FIFO guest pages (4 KiB of u32 each) at `FAKE_PAGE_BASE + i * PAGE_SIZE`.
    pages: Vec<Vec<u32>>,
    /// Simulated guest changes applied just before the hypervisor's next cmpxchg.
    races: Vec<(Pa, Race)>,
}

impl FakeWords {
    fn new(nr_vcpus: usize) -> Self {
        FakeWords {
            pending: vec![0; 64],
            mask: vec![0; 64],
            sel: vec![0; nr_vcpus],
            upcall: vec![false; nr_vcpus],
            pages: Vec::new(),
            races: Vec::new(),
        }
    }
    fn bit(v: &[u64], n: u32) -> bool {
        v[(n / 64) as usize] & (1 << (n % 64)) != 0
    }
    /// What the guest does when it handles its upcall on `vcpu`.
    fn guest_ack(&mut self, vcpu: usize) {
        self.upcall[vcpu] = false;
        self.sel[vcpu] = 0;
    }
}

impl EventWords for FakeWords {
    fn test_and_set_pending(&mut self, port: u32) -> bool {
        let old = Self::bit(&self.pending, port);
        self.pending[(port / 64) as usize] |= 1 << (port % 64);
        old
    }
    fn clear_pending(&mut self, port: u32) {
        self.pending[(port / 64) as usize] &= !(1 << (port % 64));
    }
    fn is_pending(&self, port: u32) -> bool {
        Self::bit(&self.pending, port)
    }
    fn is_masked(&self, port: u32) -> bool {
        Self::bit(&self.mask, port)
    }
    fn test_and_clear_mask(&mut self, port: u32) -> bool {
        let old = Self::bit(&self.mask, port);
        self.mask[(port / 64) as usize] &= !(1 << (port % 64));
        old
    }
    fn set_mask(&mut self, port: u32) {
        self.mask[(port / 64) as usize] |= 1 << (port % 64);
    }
    fn test_and_set_sel(&mut self, vcpu: u32, word: u32) -> bool {
        assert!(word < 64);
        match self.sel.get_mut(vcpu as usize) {
            Some(s) => {
                let old = *s & (1 << word) != 0;
                *s |= 1 << word;
                old
            }
            None => true,
        }
    }
    fn test_and_set_upcall_pending(&mut self, vcpu: u32) -> bool {
        match self.upcall.get_mut(vcpu as usize) {
            Some(u) => core::mem::replace(u, true),
            None => true,
        }
    }
}

/// Base of the fake guest pages handed out by [`FakeWords::page`].
const FAKE_PAGE_BASE: u64 = 0x4000_0000;

impl FakeWords {
    /// A zeroed fake guest page for the FIFO ABI (event-array page or control block).
    fn page(&mut self) -> Pa {
        self.pages.push(vec![0; 1024]);
        Pa(FAKE_PAGE_BASE + (self.pages.len() as u64 - 1) * PAGE_SIZE)
    }
    fn at(&mut self, at: Pa) -> &mut u32 {
        assert_eq!(at.0 % 4, 0, "unaligned FIFO word {at:?}");
        let off = at.0.checked_sub(FAKE_PAGE_BASE).expect("below fake pages");
        let (p, w) = ((off / PAGE_SIZE) as usize, (off % PAGE_SIZE / 4) as usize);
        &mut self.pages[p][w]
    }
    /// Applies the pending simulated guest race (a concurrent change of one word) if any.
    fn race(&mut self) {
        if let Some((at, f)) = self.races.pop() {
            let v = *self.at(at);
            *self.at(at) = f(v);
        }
    }
}

impl FifoWords for FakeWords {
    fn load(&self, at: Pa) -> u32 {
        let off = at.0 - FAKE_PAGE_BASE;
        self.pages[(off / PAGE_SIZE) as usize][(off % PAGE_SIZE / 4) as usize]
    }
    fn store(&mut self, at: Pa, val: u32) {
        *self.at(at) = val;
    }
    fn cmpxchg(&mut self, at: Pa, old: u32, new: u32) -> u32 {
        // The guest may change the word between the hypervisor's read and its cmpxchg.
        self.race();
        let w = self.at(at);
        let prev = *w;
        if prev == old {
            *w = new;
        }
        prev
    }
    fn fetch_or(&mut self, at: Pa, bits: u32) -> u32 {
        let w = self.at(at);
        let prev = *w;
        *w |= bits;
        prev
    }
    fn fetch_and(&mut self, at: Pa, bits: u32) -> u32 {
        let w = self.at(at);
        let prev = *w;
        *w &= bits;
        prev
    }
}

/// Words for 2-level tests of operations that never touch guest memory (allocation).
struct NoFifo;

impl EventWords for NoFifo {
    fn test_and_set_pending(&mut self, _: u32) -> bool {
        unreachable!()
    }
    fn clear_pending(&mut self, _: u32) {
        unreachable!()
    }
    fn is_pending(&self, _: u32) -> bool {
        unreachable!()
    }
    fn is_masked(&self, _: u32) -> bool {
        unreachable!()
    }
    fn test_and_clear_mask(&mut self, _: u32) -> bool {
        unreachable!()
    }
    fn set_mask(&mut self, _: u32) {
        unreachable!()
    }
    fn test_and_set_sel(&mut self, _: u32, _: u32) -> bool {
        unreachable!()
    }
    fn test_and_set_upcall_pending(&mut self, _: u32) -> bool {
        unreachable!()
    }
}

impl FifoWords for NoFifo {
    fn load(&self, _: Pa) -> u32 {
        unreachable!()
    }
    fn store(&mut self, _: Pa, _: u32) {
        unreachable!()
    }
    fn cmpxchg(&mut self, _: Pa, _: u32, _: u32) -> u32 {
        unreachable!()
    }
    fn fetch_or(&mut self, _: Pa, _: u32) -> u32 {
        unreachable!()
    }
    fn fetch_and(&mut self, _: Pa, _: u32) -> u32 {
        unreachable!()
    }
}

const D0: DomId = DomId(0);
const D1: DomId = DomId(1);

fn table(dom: DomId) -> (Evtchns, FakeWords) {
    (Evtchns::new(dom, 4, 4096), FakeWords::new(4))
}

#[test]
fn errno_mapping() {
    assert_eq!(Error::Inval.errno(), 22);
    assert_eq!(Error::NoSpc.errno(), 28);
    assert_eq!(Error::Busy.errno(), 16);
    assert_eq!(Error::Srch.errno(), 3);
    assert_eq!(Error::Perm.errno(), 1);
    assert_eq!(Error::NoEnt.errno(), 2);
    assert_eq!(Error::Exist.errno(), 17);
    assert_eq!(Error::NoMem.errno(), 12);
}

#[test]
fn port_zero_reserved() {
    let (mut t, mut w) = table(D0);
    assert_eq!(t.channel(0).unwrap().state, State::Reserved);
    assert_eq!(t.close(&mut w, 0), Err(Error::Inval));
    assert_eq!(t.send(0), Err(Error::Inval));
    assert_eq!(t.status(0).unwrap().0, Status::Closed);
    assert_eq!(t.alloc_unbound(&NoFifo, D1), Ok(1));
    assert!(t.check_invariants());
}

#[test]
fn alloc_unbound_and_status() {
    let (mut t, _) = table(D0);
    let p = t.alloc_unbound(&NoFifo, D1).unwrap();
    let (s, vcpu) = t.status(p).unwrap();
    assert_eq!(s, Status::Unbound { dom: D1 });
    assert_eq!(vcpu, 0);
    let mut out = evtchn_status::new_zeroed();
    s.fill(vcpu, &mut out);
    assert_eq!(out.status, EVTCHNSTAT_unbound);
    assert_eq!(out.u_dom(), 1);
    assert_eq!(t.status(999), Err(Error::Inval));
    assert_eq!(t.status(u32::MAX), Err(Error::Inval));
    // Sending on an unbound port is silently dropped.
    assert_eq!(t.send(p), Ok(None));
}

#[test]
fn interdomain_bind_send_close_both_ends() {
    let (mut a, mut wa) = table(D0);
    let (mut b, mut wb) = table(D1);
    let rp = b.alloc_unbound(&NoFifo, D0).unwrap();
    let bound = bind_interdomain(&mut a, &mut wa, &mut b, rp).unwrap();
    let lp = bound.port;
    // The new local port is conservatively marked pending.
    assert!(wa.is_pending(lp));
    assert_eq!(bound.upcall, Some(0));
    assert_eq!(
        a.channel(lp).unwrap().state,
        State::Interdomain {
            remote_dom: D1,
            remote_port: rp
        }
    );
    assert_eq!(
        b.channel(rp).unwrap().state,
        State::Interdomain {
            remote_dom: D0,
            remote_port: lp
        }
    );
    let (s, _) = a.status(lp).unwrap();
    let mut out = evtchn_status::new_zeroed();
    s.fill(0, &mut out);
    assert_eq!(out.status, EVTCHNSTAT_interdomain);
    assert_eq!((out.u_dom(), out.u_interdomain_port()), (1, rp));

    // Send from a: the event goes to b's port.
    let t = a.send(lp).unwrap().unwrap();
    assert_eq!(
        t,
        Target {
            dom: D1,
            port: rp,
            local: false
        }
    );
    assert_eq!(b.deliver(&mut wb, t.port), Some(0));
    assert!(wb.is_pending(rp));
    // Send from b back to a.
    let t = b.send(rp).unwrap().unwrap();
    assert_eq!((t.dom, t.port), (D0, lp));

    // Binding the same remote port again fails: it is no longer unbound.
    assert_eq!(
        bind_interdomain(&mut a, &mut wa, &mut b, rp),
        Err(Error::Inval)
    );

    // b closes its end: a's end goes back to Unbound for b.
    let peer = b.close(&mut wb, rp).unwrap().unwrap();
    assert_eq!(
        peer,
        PeerToUpdate {
            dom: D0,
            port: lp,
            closer: D1,
            closer_port: rp
        }
    );
    assert!(!wb.is_pending(rp), "close clears pending");
    a.peer_closed(&peer).unwrap();
    assert_eq!(
        a.channel(lp).unwrap().state,
        State::Unbound { remote_dom: D1 }
    );
    assert_eq!(b.channel(rp).unwrap().state, State::Free);
    // A stale/duplicate update is refused.
    assert_eq!(a.peer_closed(&peer), Err(Error::Inval));
    // b can bind again to a's (now unbound) port.
    let again = bind_interdomain(&mut b, &mut wb, &mut a, lp).unwrap();
    assert_eq!(again.port, rp, "lowest free port is reused");
    close_interdomain(&mut a, &mut wa, &mut b, lp).unwrap();
    assert_eq!(a.channel(lp).unwrap().state, State::Free);
    assert_eq!(
        b.channel(rp).unwrap().state,
        State::Unbound { remote_dom: D0 }
    );
    assert!(a.check_invariants() && b.check_invariants());
}

#[test]
fn bind_interdomain_errors() {
    let (mut a, mut wa) = table(D0);
    let (mut b, _) = table(D1);
    // Invalid remote port.
    assert_eq!(
        bind_interdomain(&mut a, &mut wa, &mut b, 77),
        Err(Error::Inval)
    );
    assert_eq!(
        bind_interdomain(&mut a, &mut wa, &mut b, u32::MAX),
        Err(Error::Inval)
    );
    // Reserved port 0.
    assert_eq!(
        bind_interdomain(&mut a, &mut wa, &mut b, 0),
        Err(Error::Inval)
    );
    // Unbound for another domain.
    let p = b.alloc_unbound(&NoFifo, DomId(7)).unwrap();
    assert_eq!(
        bind_interdomain(&mut a, &mut wa, &mut b, p),
        Err(Error::Inval)
    );
    // IPI port is not bindable.
    let ipi = b.bind_ipi(&NoFifo, 0).unwrap();
    assert_eq!(
        bind_interdomain(&mut a, &mut wa, &mut b, ipi),
        Err(Error::Inval)
    );
    // Two tables of the same domain: refused.
    let (mut a2, _) = table(D0);
    let p = a2.alloc_unbound(&NoFifo, D0).unwrap();
    assert_eq!(
        bind_interdomain(&mut a, &mut wa, &mut a2, p),
        Err(Error::Inval)
    );
    // Nothing was allocated by the failures.
    assert_eq!(a.valid_ports(), 1);
    // Full local table: ENOSPC first, as Xen.
    let mut small = Evtchns::new(D0, 1, 2);
    small.alloc_unbound(&NoFifo, D1).unwrap();
    assert_eq!(
        bind_interdomain(&mut small, &mut wa, &mut b, 12345),
        Err(Error::NoSpc)
    );
}

#[test]
fn loopback() {
    let (mut t, mut w) = table(D0);
    let p1 = t.alloc_unbound(&NoFifo, D0).unwrap();
    let b = t.bind_loopback(&mut w, p1).unwrap();
    let p2 = b.port;
    assert_ne!(p1, p2);
    assert!(w.is_pending(p2));
    let tg = t.send(p1).unwrap().unwrap();
    assert_eq!(
        tg,
        Target {
            dom: D0,
            port: p2,
            local: true
        }
    );
    let tg = t.send(p2).unwrap().unwrap();
    assert_eq!(tg.port, p1);
    assert!(t.check_invariants());
    // Closing one end of a loopback channel unbinds the other in the same table.
    assert_eq!(t.close(&mut w, p2), Ok(None));
    assert_eq!(
        t.channel(p1).unwrap().state,
        State::Unbound { remote_dom: D0 }
    );
    assert!(t.check_invariants());
    // Loopback to a port unbound for another domain fails.
    let p3 = t.alloc_unbound(&NoFifo, D1).unwrap();
    assert_eq!(t.bind_loopback(&mut w, p3), Err(Error::Inval));
    assert_eq!(t.bind_loopback(&mut w, 4000), Err(Error::Inval));
}

#[test]
fn virq_rules() {
    let (mut t, mut w) = table(D0);
    // Per-vCPU VIRQ on any vCPU.
    let t0 = t.bind_virq(&NoFifo, VIRQ_TIMER, 0).unwrap();
    let t3 = t.bind_virq(&NoFifo, VIRQ_TIMER, 3).unwrap();
    assert_ne!(t0, t3);
    assert_eq!(t.bind_virq(&NoFifo, VIRQ_TIMER, 3), Err(Error::Exist));
    assert_eq!(t.bind_virq(&NoFifo, VIRQ_TIMER, 4), Err(Error::NoEnt));
    assert_eq!(
        t.bind_virq(&NoFifo, VIRQ_TIMER, u32::MAX),
        Err(Error::NoEnt)
    );
    // Global VIRQs only on vCPU 0.
    assert_eq!(t.bind_virq(&NoFifo, VIRQ_CONSOLE, 1), Err(Error::Inval));
    let c = t.bind_virq(&NoFifo, VIRQ_CONSOLE, 0).unwrap();
    assert_eq!(t.bind_virq(&NoFifo, VIRQ_CONSOLE, 0), Err(Error::Exist));
    // VIRQ_ARCH_* are global on ARM.
    assert_eq!(
        t.bind_virq(&NoFifo, xen_abi::xen::VIRQ_ARCH_0, 2),
        Err(Error::Inval)
    );
    // Out-of-range VIRQ numbers.
    assert_eq!(t.bind_virq(&NoFifo, NR_VIRQS as u32, 0), Err(Error::Inval));
    assert_eq!(t.bind_virq(&NoFifo, u32::MAX, 0), Err(Error::Inval));
    assert_eq!(t.status(c).unwrap(), (Status::Virq(VIRQ_CONSOLE), 0));
    // Sending on a VIRQ port is invalid.
    assert_eq!(t.send(c), Err(Error::Inval));

    // Raising: per-vCPU goes to that vCPU.
    assert_eq!(t.raise_virq(&mut w, VIRQ_TIMER, 3), Some(3));
    assert!(w.is_pending(t3));
    assert_eq!(t.raise_virq(&mut w, VIRQ_TIMER, 1), None, "not bound on 1");
    assert_eq!(t.raise_virq(&mut w, VIRQ_DEBUG, 0), None);
    assert_eq!(t.raise_virq(&mut w, 1000, 0), None);
    assert_eq!(t.raise_virq(&mut w, VIRQ_TIMER, 1000), None);

    // bind_vcpu: global VIRQ can move, per-vCPU cannot.
    assert_eq!(t.bind_vcpu(t3, 1), Err(Error::Inval));
    t.bind_vcpu(c, 2).unwrap();
    assert_eq!(t.status(c).unwrap().1, 2);
    // A global VIRQ raised "on" any vCPU goes to its notify vCPU.
    assert_eq!(t.raise_virq(&mut w, VIRQ_CONSOLE, 0), Some(2));
    assert!(t.check_invariants());
    // Close releases the VIRQ for rebinding (global one recorded on vCPU 0).
    t.close(&mut w, c).unwrap();
    assert_eq!(t.virq_port(VIRQ_CONSOLE, 0), None);
    assert_eq!(t.bind_virq(&NoFifo, VIRQ_CONSOLE, 0), Ok(c));
    t.close(&mut w, t3).unwrap();
    assert_eq!(t.bind_virq(&NoFifo, VIRQ_TIMER, 3), Ok(t3));
    assert!(t.check_invariants());
    assert!(virq_is_global(VIRQ_DOM_EXC));
    assert!(!virq_is_global(VIRQ_XENOPROF) && !virq_is_global(VIRQ_XENPMU));
}

#[test]
fn ipi_and_bind_vcpu() {
    let (mut t, mut w) = table(D0);
    assert_eq!(t.bind_ipi(&NoFifo, 4), Err(Error::NoEnt));
    let p = t.bind_ipi(&NoFifo, 2).unwrap();
    assert_eq!(t.status(p).unwrap(), (Status::Ipi, 2));
    let tg = t.send(p).unwrap().unwrap();
    assert_eq!(
        tg,
        Target {
            dom: D0,
            port: p,
            local: true
        }
    );
    assert_eq!(t.deliver(&mut w, tg.port), Some(2));
    // IPIs cannot be retargeted.
    assert_eq!(t.bind_vcpu(p, 1), Err(Error::Inval));
    // Unbound can; bad vCPU first gives ENOENT, then bad port EINVAL.
    let u = t.alloc_unbound(&NoFifo, D1).unwrap();
    t.bind_vcpu(u, 3).unwrap();
    assert_eq!(t.bind_vcpu(u, 9), Err(Error::NoEnt));
    assert_eq!(t.bind_vcpu(999, 1), Err(Error::Inval));
    assert_eq!(t.bind_vcpu(0, 1), Err(Error::Inval));
    // Close resets notify vCPU to 0.
    t.close(&mut w, u).unwrap();
    assert_eq!(t.channel(u).unwrap().notify_vcpu, 0);
    assert_eq!(t.close(&mut w, u), Err(Error::Inval), "double close");
}

#[test]
fn two_level_bit_math() {
    let mut w = FakeWords::new(2);
    // First event on port 70 (word 1): pending, selector bit 1, upcall 0->1.
    assert!(set_pending(&mut w, 70, 1));
    assert!(w.is_pending(70));
    assert_eq!(w.sel[1], 1 << 1);
    assert!(w.upcall[1]);
    // Same port again: already pending, nothing more.
    assert!(!set_pending(&mut w, 70, 1));
    // Another port in another word: selector bit set, but upcall already pending.
    assert!(!set_pending(&mut w, 130, 1));
    assert_eq!(w.sel[1], (1 << 1) | (1 << 2));
    // After the guest acks the upcall, a new event upcalls again.
    w.guest_ack(1);
    assert!(set_pending(&mut w, 5, 1));
    assert_eq!(w.sel[1], 1);
    // Other vCPU independent.
    assert!(set_pending(&mut w, 6, 0));
    // Out of range ports are ignored.
    assert!(!set_pending(&mut w, EVTCHN_2L_NR_CHANNELS, 0));
    assert!(!set_pending(&mut w, u32::MAX, 0));
    // Last port uses the last word.
    let mut w = FakeWords::new(1);
    assert!(set_pending(&mut w, 4095, 0));
    assert_eq!(w.sel[0], 1 << 63);
    assert!(w.pending[63] & (1 << 63) != 0);
}

#[test]
fn masked_pending_then_unmask_delivers() {
    let (mut t, mut w) = table(D0);
    let p = t.bind_ipi(&NoFifo, 1).unwrap();
    w.set_mask(p);
    // Masked: pending set but no selector and no upcall.
    assert_eq!(t.deliver(&mut w, p), None);
    assert!(w.is_pending(p));
    assert_eq!(w.sel[1], 0);
    assert!(!w.upcall[1]);
    // Unmask: the pending event is delivered to the notify vCPU.
    assert_eq!(t.unmask(&mut w, p), Ok(Some(1)));
    assert!(!w.is_masked(p));
    assert_eq!(w.sel[1], 1 << (p / 64));
    assert!(w.upcall[1]);
    // Unmask again: nothing (not masked any more).
    assert_eq!(t.unmask(&mut w, p), Ok(None));
    // Unmask a masked but not pending port: nothing.
    w.clear_pending(p);
    w.set_mask(p);
    assert_eq!(t.unmask(&mut w, p), Ok(None));
    assert!(!w.is_masked(p));
    assert_eq!(t.unmask(&mut w, 5000), Err(Error::Inval));
    // Masked while upcall already pending: unmask sets selector but no new upcall.
    w.set_mask(p);
    assert_eq!(t.deliver(&mut w, p), None);
    assert_eq!(t.unmask(&mut w, p), Ok(None));
}

#[test]
fn port_exhaustion() {
    let mut t = Evtchns::new(D0, 1, 8);
    for i in 1..8 {
        assert_eq!(t.alloc_unbound(&NoFifo, D1), Ok(i));
    }
    assert_eq!(t.alloc_unbound(&NoFifo, D1), Err(Error::NoSpc));
    assert_eq!(t.bind_ipi(&NoFifo, 0), Err(Error::NoSpc));
    assert_eq!(t.bind_virq(&NoFifo, VIRQ_TIMER, 0), Err(Error::NoSpc));
    assert_eq!(
        t.virq_port(VIRQ_TIMER, 0),
        None,
        "failed bind leaves no VIRQ entry"
    );
    let mut w = FakeWords::new(1);
    t.close(&mut w, 3).unwrap();
    assert_eq!(t.bind_ipi(&NoFifo, 0), Ok(3));
    // Full 2-level table: 4095 usable ports.
    let mut big = Evtchns::new(D0, 1, u32::MAX);
    assert_eq!(big.max_ports(), 4096);
    for _ in 1..4096 {
        big.bind_ipi(&NoFifo, 0).unwrap();
    }
    assert_eq!(big.bind_ipi(&NoFifo, 0), Err(Error::NoSpc));
    assert_eq!(big.valid_ports(), 4096);
    // A zero maximum is clamped so port 0 still exists.
    let tiny = Evtchns::new(D0, 1, 0);
    assert_eq!(tiny.max_ports(), 1);
}

#[test]
fn reset_closes_everything_and_reports_peers() {
    let (mut a, mut wa) = table(D0);
    let (mut b, mut wb) = table(D1);
    let rp = b.alloc_unbound(&NoFifo, D0).unwrap();
    let lp = bind_interdomain(&mut a, &mut wa, &mut b, rp).unwrap().port;
    a.bind_virq(&NoFifo, VIRQ_TIMER, 1).unwrap();
    a.bind_ipi(&NoFifo, 0).unwrap();
    let u = a.alloc_unbound(&NoFifo, D0).unwrap();
    a.bind_loopback(&mut wa, u).unwrap();
    let mut peers = Vec::new();
    a.reset(&mut wa, |p| peers.push(p));
    assert_eq!(
        peers,
        [PeerToUpdate {
            dom: D1,
            port: rp,
            closer: D0,
            closer_port: lp
        }]
    );
    for p in &peers {
        b.peer_closed(p).unwrap();
    }
    assert!((1..a.valid_ports()).all(|p| a.channel(p).unwrap().state == State::Free));
    assert!(wa.pending.iter().all(|&x| x == 0));
    assert_eq!(a.virq_port(VIRQ_TIMER, 1), None);
    assert_eq!(
        b.channel(rp).unwrap().state,
        State::Unbound { remote_dom: D0 }
    );
    assert!(a.check_invariants() && b.check_invariants());
    let _ = &mut wb;
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Mostly plausible values, sometimes hostile ones.
    fn arg(&mut self, plausible: u32) -> u32 {
        match self.below(10) {
            0 => u32::MAX,
            1 => self.next() as u32,
            2 => 4096,
            _ => self.below(u64::from(plausible)) as u32,
        }
    }
}

/// Cross-table invariant: every interdomain end points at a peer that points back.
fn check_all(tables: &[Evtchns]) {
    for t in tables {
        assert!(t.check_invariants());
        for port in 0..t.valid_ports() {
            if let State::Interdomain {
                remote_dom,
                remote_port,
            } = t.channel(port).unwrap().state
            {
                let peer = &tables[remote_dom.0 as usize];
                assert_eq!(
                    peer.channel(remote_port).map(|c| c.state),
                    Some(State::Interdomain {
                        remote_dom: t.dom(),
                        remote_port: port
                    }),
                    "d{} port {port}",
                    t.dom().0
                );
            }
        }
    }
}

fn two_mut<T>(v: &mut [T], i: usize, j: usize) -> (&mut T, &mut T) {
    assert_ne!(i, j);
    if i < j {
        let (a, b) = v.split_at_mut(j);
        (&mut a[i], &mut b[0])
    } else {
        let (a, b) = v.split_at_mut(i);
        (&mut b[0], &mut a[j])
    }
}

#[test]
fn random_ops_never_panic_and_keep_invariants() {
    let (mut saw_interdomain, mut saw_loopback, mut saw_virq) = (0, 0, 0);
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let n = 3usize;
        let mut tables: Vec<Evtchns> = (0..n)
            .map(|d| Evtchns::new(DomId(d as u16), 1 + d as u32, 16 + 24 * d as u32))
            .collect();
        let mut words: Vec<FakeWords> = (0..n).map(|d| FakeWords::new(1 + d)).collect();
        for _ in 0..3000 {
            let d = rng.below(n as u64) as usize;
            let port = rng.arg(80);
            let vcpu = rng.arg(4);
            match rng.below(13) {
                0 => {
                    let r = rng.below(n as u64) as u16;
                    let _ = tables[d].alloc_unbound(&NoFifo, DomId(r));
                }
                1 => {
                    let r = rng.below(n as u64) as usize;
                    if r == d {
                        let _ = tables[d].bind_loopback(&mut words[d], port);
                    } else {
                        let (l, rt) = two_mut(&mut tables, d, r);
                        let _ = bind_interdomain(l, &mut words[d], rt, port);
                    }
                }
                2 => {
                    let _ = tables[d].bind_virq(&NoFifo, rng.arg(NR_VIRQS as u32), vcpu);
                }
                3 => {
                    let _ = tables[d].bind_ipi(&NoFifo, vcpu);
                }
                4 => {
                    let _ = tables[d].bind_vcpu(port, vcpu);
                }
                5 | 6 => {
                    if let Ok(Some(p)) = tables[d].close(&mut words[d], port) {
                        let peer = p.dom.0 as usize;
                        tables[peer].peer_closed(&p).unwrap();
                    }
                }
                7 => {
                    if let Ok(Some(t)) = tables[d].send(port) {
                        let r = t.dom.0 as usize;
                        assert_eq!(t.local, r == d);
                        let _ = tables[r].deliver(&mut words[r], t.port);
                    }
                }
                8 => {
                    let _ = tables[d].unmask(&mut words[d], port);
                }
                9 => {
                    if port < EVTCHN_2L_NR_CHANNELS {
                        words[d].set_mask(port);
                    }
                }
                10 => {
                    let _ = tables[d].raise_virq(&mut words[d], rng.arg(NR_VIRQS as u32), vcpu);
                    let _ = tables[d].status(port);
                }
                11 => {
                    let v = rng.below(words[d].upcall.len() as u64) as usize;
                    words[d].guest_ack(v);
                }
                _ => {
                    if rng.below(20) == 0 {
                        let mut peers = Vec::new();
                        tables[d].reset(&mut words[d], |p| peers.push(p));
                        for p in peers {
                            tables[p.dom.0 as usize].peer_closed(&p).unwrap();
                        }
                    }
                }
            }
            check_all(&tables);
            for t in &tables {
                assert!(t.valid_ports() <= t.max_ports());
                for p in 0..t.valid_ports() {
                    match t.channel(p).unwrap().state {
                        State::Interdomain { remote_dom, .. } if remote_dom == t.dom() => {
                            saw_loopback += 1
                        }
                        State::Interdomain { .. } => saw_interdomain += 1,
                        State::Virq { .. } => saw_virq += 1,
                        _ => {}
                    }
                }
            }
        }
    }
    // The random walk really reached the interesting states.
    assert!(saw_interdomain > 1000 && saw_loopback > 100 && saw_virq > 1000);
}
