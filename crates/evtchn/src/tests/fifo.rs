//! FIFO ABI tests: a fake guest that behaves as Linux's `events_fifo.c` (masks new array
//! pages, unmasks with a cmpxchg loop, consumes queues from the control block heads).

use super::*;
use crate::fifo::{EVTCHN_FIFO_EVENT_WORDS_PER_PAGE, EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES};
use xen_abi::event_channel::{
    EVTCHN_FIFO_BUSY, EVTCHN_FIFO_LINKED, EVTCHN_FIFO_LINK_MASK, EVTCHN_FIFO_MASKED,
    EVTCHN_FIFO_PENDING, EVTCHN_FIFO_PRIORITY_DEFAULT,
};

const PENDING: u32 = 1 << EVTCHN_FIFO_PENDING;
const MASKED: u32 = 1 << EVTCHN_FIFO_MASKED;
const LINKED: u32 = 1 << EVTCHN_FIFO_LINKED;
const BUSY: u32 = 1 << EVTCHN_FIFO_BUSY;

/// The guest's side: its control blocks and per-vCPU local queue heads (Linux `cpu_queue`).
struct Guest {
    cb: Vec<Option<Pa>>,
    local_head: Vec<[u32; 16]>,
}

impl Guest {
    fn new(nr_vcpus: usize) -> Self {
        Guest {
            cb: vec![None; nr_vcpus],
            local_head: vec![[0; 16]; nr_vcpus],
        }
    }

    /// `init_control_block` for `vcpu`.
    fn init_control(&mut self, t: &mut Evtchns, w: &mut FakeWords, vcpu: u32) {
        let page = w.page();
        t.init_control(w, vcpu, 0, Some(page)).unwrap();
        self.cb[vcpu as usize] = Some(page);
    }

    /// `evtchn_fifo_setup`: a new array page, every event masked, added with expand_array.
    fn expand(&mut self, t: &mut Evtchns, w: &mut FakeWords) -> Vec<u32> {
        let page = w.page();
        for i in 0..1024 {
            w.store(Pa(page.0 + 4 * i), MASKED);
        }
        let mut up = Vec::new();
        t.expand_array(w, Some(page), |v| up.push(v)).unwrap();
        up
    }

    fn word(t: &Evtchns, port: u32) -> Pa {
        t.fifo().unwrap().word(port).unwrap()
    }

    /// `evtchn_fifo_unmask`: clear MASKED (never while BUSY), then ask Xen if pending.
    fn unmask(&self, t: &mut Evtchns, w: &mut FakeWords, port: u32) -> Option<u32> {
        let a = Self::word(t, port);
        let v = w.load(a);
        assert_eq!(v & BUSY, 0, "BUSY left set on port {port}");
        w.store(a, v & !MASKED);
        if v & PENDING != 0 {
            t.unmask(w, port).unwrap()
        } else {
            None
        }
    }

    fn mask(&self, t: &Evtchns, w: &mut FakeWords, port: u32) {
        w.fetch_or(Self::word(t, port), MASKED);
    }

    /// The upcall on `vcpu`: `__xen_evtchn_do_upcall` + `__evtchn_fifo_handle_events`.
    /// Returns the ports handled (pending and unmasked when reached), in order.
    fn drain(&mut self, t: &Evtchns, w: &mut FakeWords, vcpu: usize) -> Vec<u32> {
        w.upcall[vcpu] = false;
        let Some(cb) = self.cb[vcpu] else {
            return Vec::new();
        };
        let mut handled = Vec::new();
        let mut ready = core::mem::replace(w.at(cb), 0);
        let mut steps = 0;
        while ready != 0 {
            steps += 1;
            assert!(steps < 200_000, "queue walk does not end (cycle)");
            let q = ready.trailing_zeros() as usize;
            let mut head = self.local_head[vcpu][q];
            if head == 0 {
                head = w.load(Pa(cb.0 + 8 + 4 * q as u64));
            }
            let port = head;
            let a = Self::word(t, port);
            // clear_linked
            let v = w.load(a);
            w.store(a, v & !(LINKED | EVTCHN_FIFO_LINK_MASK));
            let next = v & EVTCHN_FIFO_LINK_MASK;
            if next == 0 {
                ready &= !(1 << q);
            }
            let v = w.load(a);
            if v & PENDING != 0 && v & MASKED == 0 {
                handled.push(port);
                // The handler acks: clear PENDING.
                w.fetch_and(a, !PENDING);
            }
            self.local_head[vcpu][q] = next;
            ready |= core::mem::replace(w.at(cb), 0);
        }
        handled
    }
}

/// A FIFO domain with `n` vCPUs, all with control blocks, and one array page.
fn fifo_table(n: u32) -> (Evtchns, FakeWords, Guest) {
    let mut t = Evtchns::new(D0, n, EVTCHN_FIFO_NR_CHANNELS);
    let mut w = FakeWords::new(n as usize);
    let mut g = Guest::new(n as usize);
    for v in 0..n {
        g.init_control(&mut t, &mut w, v);
    }
    assert!(g.expand(&mut t, &mut w).is_empty());
    (t, w, g)
}

/// An IPI port on `vcpu`, unmasked by the guest.
fn ipi(t: &mut Evtchns, w: &mut FakeWords, g: &Guest, vcpu: u32) -> u32 {
    let p = t.bind_ipi(w, vcpu).unwrap();
    assert_eq!(g.unmask(t, w, p), None);
    p
}

#[test]
fn init_control_errors() {
    let mut t = Evtchns::new(D0, 2, EVTCHN_FIFO_NR_CHANNELS);
    let mut w = FakeWords::new(2);
    let page = w.page();
    // vCPU first (-ENOENT), even with a bad offset or frame.
    assert_eq!(t.init_control(&w, 2, 4, None), Err(Error::NoEnt));
    assert_eq!(
        t.init_control(&w, u32::MAX, 0, Some(page)),
        Err(Error::NoEnt)
    );
    // Offsets: misaligned, past the last place the 72-byte block fits.
    assert_eq!(t.init_control(&w, 0, 4, Some(page)), Err(Error::Inval));
    assert_eq!(t.init_control(&w, 0, 4032, Some(page)), Err(Error::Inval));
    assert_eq!(
        t.init_control(&w, 0, u32::MAX, Some(page)),
        Err(Error::Inval)
    );
    // A frame that is not the domain's RAM.
    assert_eq!(t.init_control(&w, 0, 0, None), Err(Error::Inval));
    assert_eq!(
        t.init_control(&w, 0, 0, Some(Pa(page.0 + 8))),
        Err(Error::Inval)
    );
    // Nothing switched so far.
    assert!(t.fifo().is_none());
    assert_eq!(t.max_ports(), EVTCHN_2L_NR_CHANNELS);
    let p = t.bind_ipi(&w, 0).unwrap();
    assert_eq!(t.set_priority(p, 3), Err(Error::NoSys));
    assert_eq!(t.set_priority(999, 3), Err(Error::Inval));
    let np = w.page();
    assert_eq!(
        t.expand_array(&mut w, Some(np), |_| {}),
        Err(Error::OpNotSupp)
    );
    // The last legal offset works and switches the domain to FIFO.
    assert_eq!(t.init_control(&w, 1, 4024, Some(page)), Ok(()));
    assert_eq!(t.fifo().unwrap().control_block(1), Some(Pa(page.0 + 4024)));
    assert_eq!(t.max_ports(), EVTCHN_FIFO_NR_CHANNELS);
    // Again for the same vCPU: -EINVAL; the other vCPU still can.
    assert_eq!(t.init_control(&w, 1, 0, Some(page)), Err(Error::Inval));
    assert_eq!(t.init_control(&w, 0, 0, Some(page)), Ok(()));
    assert_eq!(t.init_control(&w, 0, 0, Some(page)), Err(Error::Inval));
    // set_priority: range and closed ports.
    assert_eq!(t.set_priority(p, 16), Err(Error::Inval));
    assert_eq!(t.set_priority(p, u32::MAX), Err(Error::Inval));
    assert_eq!(t.set_priority(p, 15), Ok(()));
    assert_eq!(t.port_fifo(p).unwrap().priority, 15);
    assert_eq!(t.set_priority(0, 1), Err(Error::Acces));
    assert_eq!(t.set_priority(p + 1, 1), Err(Error::Inval));
    // expand_array: bad frame, growth, cap.
    assert_eq!(t.expand_array(&mut w, None, |_| {}), Err(Error::Inval));
    for i in 0..EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES {
        let pg = w.page();
        assert_eq!(t.expand_array(&mut w, Some(pg), |_| {}), Ok(()));
        assert_eq!(
            t.fifo().unwrap().num_evtchns(),
            (i + 1) * EVTCHN_FIFO_EVENT_WORDS_PER_PAGE
        );
    }
    let pg = w.page();
    assert_eq!(t.expand_array(&mut w, Some(pg), |_| {}), Err(Error::NoSpc));
    assert_eq!(t.fifo().unwrap().num_evtchns(), EVTCHN_FIFO_NR_CHANNELS);
    assert!(t.check_invariants());
}

#[test]
fn queue_order_and_links() {
    let (mut t, mut w, mut g) = fifo_table(1);
    let ports: Vec<u32> = (0..5).map(|_| ipi(&mut t, &mut w, &g, 0)).collect();
    let prio = EVTCHN_FIFO_PRIORITY_DEFAULT;
    // First event: head of the empty queue, ready bit, upcall.
    assert_eq!(t.deliver(&mut w, ports[0]), Some(0));
    for &p in &ports[1..] {
        assert_eq!(t.deliver(&mut w, p), None, "linked behind the tail");
    }
    let cb = g.cb[0].unwrap();
    assert_eq!(w.load(cb), 1 << prio);
    assert_eq!(w.load(Pa(cb.0 + 8 + 4 * u64::from(prio))), ports[0]);
    for pair in ports.windows(2) {
        let v = w.load(Guest::word(&t, pair[0]));
        assert_eq!(v & EVTCHN_FIFO_LINK_MASK, pair[1]);
        assert_eq!(v & (PENDING | LINKED), PENDING | LINKED);
    }
    assert_eq!(t.fifo().unwrap().tail(0, prio), Some(ports[4]));
    // Re-raising a linked port changes nothing.
    assert_eq!(t.deliver(&mut w, ports[2]), None);
    assert_eq!(g.drain(&t, &mut w, 0), ports);
    assert!(!w.upcall[0]);
    // Consumed: the hypervisor's tail is stale (unlinked) so the next event starts a new queue.
    assert_eq!(t.deliver(&mut w, ports[3]), Some(0));
    assert_eq!(t.deliver(&mut w, ports[1]), None);
    assert_eq!(g.drain(&t, &mut w, 0), [ports[3], ports[1]]);
    // Upcall pending not yet acked by the guest: no second PPI, but still queued.
    assert_eq!(t.deliver(&mut w, ports[0]), Some(0));
    let _ = g.drain(&t, &mut w, 0);
    assert!(t.check_invariants());
}

#[test]
fn priorities_are_separate_queues() {
    let (mut t, mut w, mut g) = fifo_table(1);
    let lo = ipi(&mut t, &mut w, &g, 0);
    let hi = ipi(&mut t, &mut w, &g, 0);
    let mid = ipi(&mut t, &mut w, &g, 0);
    t.set_priority(lo, 15).unwrap();
    t.set_priority(hi, 0).unwrap();
    assert_eq!(t.deliver(&mut w, lo), Some(0));
    assert_eq!(t.deliver(&mut w, mid), None, "upcall already pending");
    assert_eq!(t.deliver(&mut w, hi), None);
    let cb = g.cb[0].unwrap();
    assert_eq!(w.load(cb), (1 << 15) | (1 << 7) | 1);
    // Linux serves the highest priority (lowest number) first.
    assert_eq!(g.drain(&t, &mut w, 0), [hi, mid, lo]);
    // A priority change only affects future events.
    t.set_priority(mid, 2).unwrap();
    assert_eq!(t.deliver(&mut w, mid), Some(0));
    assert_eq!(w.load(cb), 1 << 2);
    assert_eq!(g.drain(&t, &mut w, 0), [mid]);
}

#[test]
fn masking_and_unmask_relinks() {
    let (mut t, mut w, mut g) = fifo_table(1);
    let p = ipi(&mut t, &mut w, &g, 0);
    g.mask(&t, &mut w, p);
    assert_eq!(t.deliver(&mut w, p), None);
    let a = Guest::word(&t, p);
    assert_eq!(w.load(a), PENDING | MASKED, "pending, not linked");
    assert_eq!(t.is_pending(&w, p), Ok(true));
    assert_eq!(t.is_masked(&w, p), Ok(true));
    assert!(!w.upcall[0]);
    // The guest unmasks a pending port through EVTCHNOP_unmask, which links it.
    assert_eq!(g.unmask(&mut t, &mut w, p), Some(0));
    assert_eq!(w.load(a), PENDING | LINKED);
    assert_eq!(t.is_masked(&w, p), Ok(false));
    assert_eq!(g.drain(&t, &mut w, 0), [p]);
    assert_eq!(t.is_pending(&w, p), Ok(false));
    // Unmasking a port that is not pending links nothing.
    assert_eq!(t.unmask(&mut w, p), Ok(None));
    assert_eq!(w.load(a), 0);
    // Invalid and closed ports.
    assert_eq!(t.unmask(&mut w, 99_999), Err(Error::Inval));
    assert_eq!(t.is_pending(&w, 0), Ok(false));
    assert_eq!(t.is_masked(&w, 0), Ok(true));
}

#[test]
fn guest_races_on_the_tail_word() {
    let (mut t, mut w, mut g) = fifo_table(1);
    let a = ipi(&mut t, &mut w, &g, 0);
    let b = ipi(&mut t, &mut w, &g, 0);
    let c = ipi(&mut t, &mut w, &g, 0);
    assert_eq!(t.deliver(&mut w, a), Some(0));
    // The guest masks the tail between Xen's read and cmpxchg: the retry still links.
    let wa = Guest::word(&t, a);
    w.races.push((wa, |v| v | MASKED));
    assert_eq!(t.deliver(&mut w, b), None);
    assert_eq!(w.load(wa) & EVTCHN_FIFO_LINK_MASK, b);
    assert_eq!(w.load(wa) & BUSY, 0, "BUSY cleared by the successful link");
    w.fetch_and(wa, !MASKED);
    // The guest unlinks the tail (consumed it) during the race: the queue is empty, so c
    // becomes the new head and the ready bit is set again.
    let wb = Guest::word(&t, b);
    w.races
        .push((wb, |v| v & !(LINKED | EVTCHN_FIFO_LINK_MASK)));
    let cb = g.cb[0].unwrap();
    w.store(cb, 0);
    assert_eq!(t.deliver(&mut w, c), None, "upcall still pending");
    assert_eq!(w.load(wb) & (BUSY | EVTCHN_FIFO_LINK_MASK), 0);
    assert_eq!(w.load(Pa(cb.0 + 8 + 4 * 7)), c);
    assert_eq!(w.load(cb), 1 << 7);
    // A guest that keeps changing the word: Xen gives up after five tries, clearing BUSY.
    let d = ipi(&mut t, &mut w, &g, 0);
    let wc = Guest::word(&t, c);
    for _ in 0..5 {
        w.races.push((wc, |v| v ^ MASKED));
    }
    assert_eq!(t.deliver(&mut w, d), None);
    assert_eq!(w.load(wc) & BUSY, 0);
    assert!(w.races.is_empty());
    let _ = g.drain(&t, &mut w, 0);
}

#[test]
fn port_moved_to_another_vcpu() {
    let (mut t, mut w, mut g) = fifo_table(2);
    let u = t.alloc_unbound(&w, D0).unwrap();
    let p = t.bind_loopback(&mut w, u).unwrap().port;
    assert_eq!(g.unmask(&mut t, &mut w, u), None);
    // bind_interdomain leaves the new port pending: unmasking it links it.
    assert_eq!(g.unmask(&mut t, &mut w, p), Some(0));
    assert_eq!(g.drain(&t, &mut w, 0), [p]);
    let other = ipi(&mut t, &mut w, &g, 0);
    assert_eq!(t.deliver(&mut w, p), Some(0));
    assert_eq!(t.fifo().unwrap().tail(0, 7), Some(p));
    assert_eq!(g.drain(&t, &mut w, 0), [p]);
    // Rebound to vCPU 1: the next event goes to vCPU 1's queue and vCPU 0's queue forgets p
    // as its tail, so vCPU 0's next event does not link behind a port on another queue.
    t.bind_vcpu(p, 1).unwrap();
    assert_eq!(t.deliver(&mut w, p), Some(1));
    assert_eq!(t.fifo().unwrap().tail(0, 7), Some(0));
    assert_eq!(t.fifo().unwrap().tail(1, 7), Some(p));
    assert_eq!(t.deliver(&mut w, other), Some(0));
    assert_eq!(w.load(Guest::word(&t, p)) & EVTCHN_FIFO_LINK_MASK, 0);
    assert_eq!(g.drain(&t, &mut w, 0), [other]);
    assert_eq!(g.drain(&t, &mut w, 1), [p]);
    // A vCPU without a control block drops the event (pending stays set).
    let (mut t, mut w, mut g) = (
        Evtchns::new(D0, 2, EVTCHN_FIFO_NR_CHANNELS),
        FakeWords::new(2),
        Guest::new(2),
    );
    g.init_control(&mut t, &mut w, 0);
    g.expand(&mut t, &mut w);
    let q = t.bind_ipi(&w, 1).unwrap();
    w.fetch_and(Guest::word(&t, q), !MASKED);
    assert_eq!(t.deliver(&mut w, q), None);
    assert_eq!(w.load(Guest::word(&t, q)), PENDING);
}

#[test]
fn switch_from_two_level_and_late_pages() {
    let mut t = Evtchns::new(D0, 1, EVTCHN_FIFO_NR_CHANNELS);
    let mut w = FakeWords::new(1);
    let mut g = Guest::new(1);
    let a = t.bind_ipi(&w, 0).unwrap();
    let b = t.bind_ipi(&w, 0).unwrap();
    w.set_mask(b);
    assert_eq!(t.deliver(&mut w, a), Some(0));
    w.guest_ack(0);
    // init_control: a was pending under 2-level; it is raised once its page exists.
    g.init_control(&mut t, &mut w, 0);
    // A 2-level deliver no longer touches shared_info.
    w.clear_pending(a);
    assert_eq!(t.deliver(&mut w, b), None, "no event word yet: saved");
    let page = w.page();
    let mut up = Vec::new();
    t.expand_array(&mut w, Some(page), |v| up.push(v)).unwrap();
    // A zeroed (unmasked) page: both raised, the first upcalls.
    assert_eq!(up, [0]);
    assert_eq!(g.drain(&t, &mut w, 0), [a, b]);
    assert_eq!(w.pending.iter().copied().sum::<u64>(), 0);
    // Ports beyond the array: saved until the page covering them arrives.
    let ports: Vec<u32> = (0..1100).map(|_| t.bind_ipi(&w, 0).unwrap()).collect();
    let late = *ports.last().unwrap();
    assert!(late >= EVTCHN_FIFO_EVENT_WORDS_PER_PAGE);
    assert_eq!(t.deliver(&mut w, late), None);
    assert!(t.port_fifo(late).unwrap().saved_pending());
    assert_eq!(
        g.expand(&mut t, &mut w),
        Vec::<u32>::new(),
        "masked by the guest"
    );
    assert_eq!(t.is_pending(&w, late), Ok(true));
    assert_eq!(g.unmask(&mut t, &mut w, late), Some(0));
    assert_eq!(g.drain(&t, &mut w, 0), [late]);
    // Ports above 4096 exist with FIFO; reset closes all and goes back to 2-level.
    let many: Vec<u32> = (0..3100).map(|_| t.bind_ipi(&w, 0).unwrap()).collect();
    assert!(*many.last().unwrap() >= EVTCHN_2L_NR_CHANNELS);
    t.reset(&mut w, |_| panic!("no peers"));
    assert!(t.fifo().is_none());
    assert!(t.valid_ports() <= EVTCHN_2L_NR_CHANNELS);
    assert!(t.check_invariants());
    assert_eq!(t.set_priority(1, 1), Err(Error::NoSys));
}

#[test]
fn close_clears_pending_and_linked_ports_stay_busy() {
    let (mut t, mut w, mut g) = fifo_table(1);
    let a = ipi(&mut t, &mut w, &g, 0);
    let b = ipi(&mut t, &mut w, &g, 0);
    assert_eq!(t.deliver(&mut w, a), Some(0));
    t.close(&mut w, a).unwrap();
    let wa = Guest::word(&t, a);
    assert_eq!(w.load(wa) & (PENDING | LINKED), LINKED);
    // a is still in the guest's queue: not reused.
    let c = t.bind_ipi(&w, 0).unwrap();
    assert_ne!(c, a);
    assert!(c > b);
    // The guest walks past it without handling it; then a is free again.
    assert_eq!(g.drain(&t, &mut w, 0), Vec::<u32>::new());
    assert_eq!(t.bind_ipi(&w, 0), Ok(a));
    assert_eq!(
        t.port_fifo(a).unwrap().priority,
        EVTCHN_FIFO_PRIORITY_DEFAULT as u8
    );
}

#[test]
fn random_ops_never_panic_and_never_lose_events() {
    let (mut checked, mut linked_behind) = (0, 0);
    for seed in 1..=30u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let n = 1 + rng.below(3) as u32;
        let mut t = Evtchns::new(D0, n, 64 + 1100 * (seed as u32 % 3));
        let mut w = FakeWords::new(n as usize);
        let mut g = Guest::new(n as usize);
        // Ports the guest must still see: delivered while unmasked towards a vCPU with a
        // control block and an event word.
        let mut expect: Vec<u32> = Vec::new();
        for _ in 0..3000 {
            let port = rng.arg(t.valid_ports() + 2);
            let vcpu = rng.arg(n + 1);
            match rng.below(14) {
                0 => {
                    let page = if rng.below(8) == 0 {
                        None
                    } else {
                        Some(w.page())
                    };
                    let off = if rng.below(4) == 0 { rng.arg(4096) } else { 0 };
                    if t.init_control(&w, vcpu, off, page).is_ok() {
                        g.cb[vcpu as usize] = page.and_then(|p| p.checked_add(u64::from(off)));
                    }
                }
                1 => {
                    if t.fifo().is_some() && rng.below(3) == 0 {
                        let _ = g.expand(&mut t, &mut w);
                    } else {
                        let _ = t.expand_array(&mut w, None, |_| {});
                    }
                }
                2 => {
                    let _ = t.bind_ipi(&w, vcpu);
                }
                3 => {
                    let _ = t.bind_virq(&w, rng.arg(NR_VIRQS as u32), vcpu);
                }
                4 => {
                    if let Ok(u) = t.alloc_unbound(&w, D0) {
                        let _ = t.bind_loopback(&mut w, u);
                    }
                }
                5 => {
                    let _ = t.bind_vcpu(port, vcpu);
                }
                6 => {
                    let _ = t.set_priority(port, rng.arg(17));
                }
                7 => {
                    if t.close(&mut w, port).is_ok() {
                        expect.retain(|&p| p != port);
                    }
                }
                8 | 9 => {
                    let before = t.is_masked(&w, port);
                    let c = t.channel(port).copied();
                    let up = t.deliver(&mut w, port);
                    if let (Some(c), Ok(false), Some(f)) = (c, before, t.fifo()) {
                        if f.control_block(c.notify_vcpu).is_some() && f.word(port).is_some() {
                            expect.push(port);
                        }
                    }
                    if let Some(v) = up {
                        assert!(w.upcall[v as usize]);
                    }
                }
                10 => {
                    if let Some(f) = t.fifo() {
                        if f.word(port).is_some() {
                            if rng.below(2) == 0 {
                                g.mask(&t, &mut w, port);
                                expect.retain(|&p| p != port);
                            } else if t.channel(port).is_some() {
                                let _ = g.unmask(&mut t, &mut w, port);
                            }
                        }
                    }
                    let _ = t.unmask(&mut w, port);
                }
                11 | 12 => {
                    if t.fifo().is_some() {
                        let mut seen = Vec::new();
                        for v in 0..n as usize {
                            seen.extend(g.drain(&t, &mut w, v));
                        }
                        for p in &expect {
                            assert!(seen.contains(p), "seed {seed}: port {p} lost");
                        }
                        checked += expect.len();
                        linked_behind += usize::from(seen.len() > n as usize);
                        expect.clear();
                    }
                }
                _ => {
                    if rng.below(40) == 0 {
                        t.reset(&mut w, |_| {});
                        g = Guest::new(n as usize);
                        expect.clear();
                    }
                }
            }
            assert!(t.check_invariants());
            assert!(w.races.is_empty());
        }
    }
    // The walk really exercised delivery and multi-event queues.
    assert!(
        checked > 1000 && linked_behind > 100,
        "{checked} {linked_behind}"
    );
}
