//! The FIFO-based event channel ABI (Xen 4.17 `xen/common/event_fifo.c`; the layout of
//! `xen/include/public/event_channel.h`, "FIFO-based event channel ABI"), as Linux's
//! `drivers/xen/events/events_fifo.c` drives it.
//!
//! Each port has a 32-bit event word in the guest's *event array* (pages the guest adds with
//! `EVTCHNOP_expand_array`, 1024 words each): `PENDING`, `MASKED`, `LINKED`, `BUSY` and a 17-bit
//! `LINK` to the next port of its queue. Each vCPU has a *control block* in a guest page
//! (`EVTCHN_FIFO_MAX_QUEUES` = 16 priority queues: a `ready` bitmap and a `head` per queue).
//! The hypervisor links newly pending ports onto the tail of their queue; the guest consumes
//! from the head. The hypervisor keeps each queue's tail (the guest never sees it).
//!
//! All guest words are reached through [`FifoWords`] at host addresses ([`Pa`]) the hypervisor
//! handed over when the pages were registered; this module only ever passes back 4-aligned
//! addresses inside those pages. The guest modifies the words concurrently (it may set or
//! clear `MASKED`, clear `PENDING`, clear `LINKED` + `LINK`); every change is a
//! compare-and-exchange or an atomic bit operation, exactly as in Xen. The hypervisor runs these
//! operations under its per-domain event lock (Xen's per-queue locks collapse into it).

use crate::{Error, EventWords};
use addr::{Pa, PAGE_SIZE};
use alloc::vec::Vec;
use core::ops::Range;
use xen_abi::event_channel::{
    evtchn_fifo_control_block, EVTCHN_FIFO_BUSY, EVTCHN_FIFO_LINKED, EVTCHN_FIFO_LINK_BITS,
    EVTCHN_FIFO_LINK_MASK, EVTCHN_FIFO_MASKED, EVTCHN_FIFO_MAX_QUEUES, EVTCHN_FIFO_NR_CHANNELS,
    EVTCHN_FIFO_PENDING, EVTCHN_FIFO_PRIORITY_DEFAULT, EVTCHN_FIFO_PRIORITY_MIN,
};

/// Event words in one event-array page (`EVTCHN_FIFO_EVENT_WORDS_PER_PAGE`, event_fifo.c).
pub const EVTCHN_FIFO_EVENT_WORDS_PER_PAGE: u32 = (PAGE_SIZE / 4) as u32;
/// Event-array pages covering every FIFO port (`EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES`, 128).
pub const EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES: u32 =
    EVTCHN_FIFO_NR_CHANNELS / EVTCHN_FIFO_EVENT_WORDS_PER_PAGE;
/// `sizeof(evtchn_fifo_control_block_t)` (72).
pub const CONTROL_BLOCK_SIZE: u32 = core::mem::size_of::<evtchn_fifo_control_block>() as u32;
/// Byte offset of `ready` in the control block.
const READY_OFFSET: u64 = 0;
/// Byte offset of `head[0]` in the control block.
const HEAD_OFFSET: u64 = 8;
/// What `EVTCHNOP_init_control` reports in `link_bits`.
pub const LINK_BITS: u8 = EVTCHN_FIFO_LINK_BITS as u8;

const PENDING: u32 = 1 << EVTCHN_FIFO_PENDING;
const MASKED: u32 = 1 << EVTCHN_FIFO_MASKED;
const LINKED: u32 = 1 << EVTCHN_FIFO_LINKED;
const BUSY: u32 = 1 << EVTCHN_FIFO_BUSY;

/// Guest memory of both event ABIs: the 2-level words ([`EventWords`], whose
/// `evtchn_upcall_pending` the FIFO ABI uses too, and whose pending bitmap is read when the
/// domain switches ABI) plus 32-bit atomic accesses to FIFO event words and control blocks.
///
/// `at` is always 4-aligned and lies inside a page given to [`crate::Evtchns::init_control`] or
/// [`crate::Evtchns::expand_array`] (which the hypervisor keeps the guest's for the domain's
/// life). All operations are sequentially consistent with the guest's own atomics.
pub trait FifoWords: EventWords {
    /// Reads the word at `at`.
    fn load(&self, at: Pa) -> u32;
    /// Writes the word at `at`.
    fn store(&mut self, at: Pa, val: u32);
    /// Compare-and-exchange: writes `new` if the word is `old`; returns the previous value.
    fn cmpxchg(&mut self, at: Pa, old: u32, new: u32) -> u32;
    /// Atomic OR; returns the previous value.
    fn fetch_or(&mut self, at: Pa, bits: u32) -> u32;
    /// Atomic AND; returns the previous value.
    fn fetch_and(&mut self, at: Pa, bits: u32) -> u32;
}

/// FIFO state of one port kept by the hypervisor (Xen's `evtchn->priority`, `fifo_lastq`,
/// `pending`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortFifo {
    /// Priority queue (`EVTCHN_FIFO_PRIORITY_*`, 0 highest).
    pub priority: u8,
    /// vCPU of the queue the port was last linked on.
    last_vcpu: u32,
    /// Priority of that queue.
    last_priority: u8,
    /// Raised while its event-array page did not exist: re-raise when the page is added.
    pending: bool,
}

impl PortFifo {
    /// A newly bound port: default priority; Xen's `fifo_lastq` starts as vCPU 0, queue 0.
    pub const NEW: PortFifo = PortFifo {
        priority: EVTCHN_FIFO_PRIORITY_DEFAULT as u8,
        last_vcpu: 0,
        last_priority: 0,
        pending: false,
    };

    /// Whether an event arrived while the port had no event word.
    pub fn saved_pending(&self) -> bool {
        self.pending
    }

    /// Records (or forgets) an event to raise once the port's event word exists.
    pub fn set_saved_pending(&mut self, p: bool) {
        self.pending = p;
    }

    /// `evtchn_fifo_set_priority`: the next event goes to the new queue; an event already
    /// linked stays where it is.
    pub fn set_priority(&mut self, priority: u32) -> Result<(), Error> {
        if priority > EVTCHN_FIFO_PRIORITY_MIN {
            return Err(Error::Inval);
        }
        // priority <= 15.
        self.priority = priority as u8;
        Ok(())
    }
}

/// One vCPU's queues.
#[derive(Clone, Debug)]
struct VcpuQueues {
    /// Host address of the control block (`evtchn_fifo_control_block`), once registered.
    control_block: Option<Pa>,
    /// Tail port of each priority queue (0: empty, port 0 is never an event).
    tail: [u32; EVTCHN_FIFO_MAX_QUEUES],
}

/// The `EVTCHNOP_init_control` offset rules: the control block fits in the page
/// (`offset <= PAGE_SIZE - sizeof(control block)`) and is 8-aligned, both `-EINVAL`.
pub fn check_control_offset(offset: u32) -> Result<(), Error> {
    if u64::from(offset) > PAGE_SIZE - u64::from(CONTROL_BLOCK_SIZE) || !offset.is_multiple_of(8) {
        return Err(Error::Inval);
    }
    Ok(())
}

/// A domain's FIFO state: per-vCPU control blocks and queue tails, and the event array.
#[derive(Clone, Debug)]
pub struct Fifo {
    vcpus: Vec<VcpuQueues>,
    /// Host address of each event-array page, in port order.
    array: Vec<Pa>,
}

impl Fifo {
    /// No control block and an empty event array for `nr_vcpus` vCPUs.
    pub fn new(nr_vcpus: u32) -> Result<Self, Error> {
        let mut vcpus = Vec::new();
        vcpus
            .try_reserve_exact(nr_vcpus as usize)
            .map_err(|_| Error::NoMem)?;
        vcpus.resize(
            nr_vcpus as usize,
            VcpuQueues {
                control_block: None,
                tail: [0; EVTCHN_FIFO_MAX_QUEUES],
            },
        );
        Ok(Fifo {
            vcpus,
            array: Vec::new(),
        })
    }

    /// Host address of `vcpu`'s control block.
    pub fn control_block(&self, vcpu: u32) -> Option<Pa> {
        self.vcpus.get(vcpu as usize)?.control_block
    }

    /// Registers `vcpu`'s control block at `at` (`map_control_block`): `-EINVAL` if it has
    /// one already, `-ENOENT` for an unknown vCPU.
    pub fn map_control_block(&mut self, vcpu: u32, at: Pa) -> Result<(), Error> {
        let v = self.vcpus.get_mut(vcpu as usize).ok_or(Error::NoEnt)?;
        if v.control_block.is_some() || !at.is_aligned(8) {
            return Err(Error::Inval);
        }
        v.control_block = Some(at);
        Ok(())
    }

    /// Event-array pages added so far.
    pub fn array_pages(&self) -> u32 {
        // At most EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES (128).
        self.array.len() as u32
    }

    /// Ports that have an event word (`num_evtchns`).
    pub fn num_evtchns(&self) -> u32 {
        self.array_pages() * EVTCHN_FIFO_EVENT_WORDS_PER_PAGE
    }

    /// Adds the page at `page` to the event array (`add_page_to_event_array`); returns the
    /// ports it covers. `-ENOSPC` once every port has a word, `-EINVAL` for an unaligned page.
    pub fn add_array_page(&mut self, page: Pa) -> Result<Range<u32>, Error> {
        if self.array_pages() >= EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES {
            return Err(Error::NoSpc);
        }
        if !page.is_aligned(PAGE_SIZE) {
            return Err(Error::Inval);
        }
        self.array.try_reserve(1).map_err(|_| Error::NoMem)?;
        let first = self.num_evtchns();
        self.array.push(page);
        Ok(first..self.num_evtchns())
    }

    /// Host address of `port`'s event word (`evtchn_fifo_word_from_port`).
    pub fn word(&self, port: u32) -> Option<Pa> {
        let page = self
            .array
            .get((port / EVTCHN_FIFO_EVENT_WORDS_PER_PAGE) as usize)?;
        page.checked_add(4 * u64::from(port % EVTCHN_FIFO_EVENT_WORDS_PER_PAGE))
    }

    /// The hypervisor's tail of `vcpu`'s queue `priority` (0: empty).
    pub fn tail(&self, vcpu: u32, priority: u32) -> Option<u32> {
        self.vcpus
            .get(vcpu as usize)?
            .tail
            .get(priority as usize)
            .copied()
    }

    /// `evtchn_fifo_set_pending` of `port` towards `vcpu`: sets `PENDING`; if the port is
    /// neither masked nor linked, links it at the tail of `vcpu`'s queue for its priority (or
    /// makes it the head of an empty queue and sets the queue's `ready` bit). Returns true when
    /// `evtchn_upcall_pending` of `vcpu` went 0 -> 1: raise the upcall interrupt.
    pub fn set_pending(
        &mut self,
        w: &mut impl FifoWords,
        port: u32,
        vcpu: u32,
        pf: &mut PortFifo,
    ) -> bool {
        let Some(word) = self.word(port) else {
            // No event word yet: raise it when its page is added.
            pf.pending = true;
            return false;
        };
        let prio = pf.priority;
        let (v, q) = (vcpu as usize, usize::from(prio));
        if v >= self.vcpus.len() || q >= EVTCHN_FIFO_MAX_QUEUES {
            return false;
        }
        w.fetch_or(word, PENDING);
        // The guest must not unmask before its control block exists: drop the event.
        let Some(cb) = self.vcpus[v].control_block else {
            return false;
        };
        if w.load(word) & MASKED != 0 || w.fetch_or(word, LINKED) & LINKED != 0 {
            return false;
        }
        // If the port was the tail of the queue it was last on, that queue is now empty: drop
        // its tail so linking to it later cannot corrupt the new queue.
        let (lv, lq) = (pf.last_vcpu as usize, usize::from(pf.last_priority));
        if let Some(t) = self.vcpus.get_mut(lv).and_then(|x| x.tail.get_mut(lq)) {
            if *t == port {
                *t = 0;
            }
        }
        if (lv, lq) != (v, q) {
            pf.last_vcpu = vcpu;
            pf.last_priority = prio;
        }
        let tail = self.vcpus[v].tail[q];
        let linked = tail != 0 && self.word(tail).is_some_and(|tw| set_link(w, tw, port));
        if !linked {
            if let Some(head) = cb.checked_add(HEAD_OFFSET + 4 * q as u64) {
                w.store(head, port);
            }
        }
        self.vcpus[v].tail[q] = port;
        if linked {
            return false;
        }
        let bit = 1u32 << q;
        let Some(ready) = cb.checked_add(READY_OFFSET) else {
            return false;
        };
        if w.fetch_or(ready, bit) & bit != 0 {
            return false;
        }
        !w.test_and_set_upcall_pending(vcpu)
    }

    /// `evtchn_fifo_clear_pending`: clears `PENDING` (the guest unlinks it when it gets there).
    pub fn clear_pending(&self, w: &mut impl FifoWords, port: u32) {
        if let Some(word) = self.word(port) {
            w.fetch_and(word, !PENDING);
        }
    }

    /// `evtchn_fifo_unmask`: clears `MASKED`; if the port is pending, links it as
    /// [`Fifo::set_pending`] does towards `vcpu`. Returns true to raise the upcall.
    pub fn unmask(
        &mut self,
        w: &mut impl FifoWords,
        port: u32,
        vcpu: u32,
        pf: &mut PortFifo,
    ) -> bool {
        let Some(word) = self.word(port) else {
            return false;
        };
        w.fetch_and(word, !MASKED);
        if w.load(word) & PENDING != 0 {
            return self.set_pending(w, port, vcpu, pf);
        }
        false
    }

    /// `PENDING` of `port` (false without an event word).
    pub fn is_pending(&self, w: &impl FifoWords, port: u32) -> bool {
        self.word(port).is_some_and(|a| w.load(a) & PENDING != 0)
    }

    /// `MASKED` of `port` (true without an event word).
    pub fn is_masked(&self, w: &impl FifoWords, port: u32) -> bool {
        self.word(port).is_none_or(|a| w.load(a) & MASKED != 0)
    }

    /// `evtchn_fifo_is_busy`: the port is still `LINKED` in a guest queue, so a closed port is
    /// not reused until the guest has consumed it.
    pub fn is_busy(&self, w: &impl FifoWords, port: u32) -> bool {
        self.word(port).is_some_and(|a| w.load(a) & LINKED != 0)
    }
}

/// `try_set_link`: if `*cur` is `LINKED`, replaces its `LINK` with `link` (clearing `BUSY`).
/// `Some(true)` linked, `Some(false)` the word is not linked (the queue it ended is empty),
/// `None` the guest changed the word (retry with the new value in `*cur`).
fn try_set_link(w: &mut impl FifoWords, at: Pa, cur: &mut u32, link: u32) -> Option<bool> {
    if *cur & LINKED == 0 {
        return Some(false);
    }
    let old = *cur;
    let new = (old & !(BUSY | EVTCHN_FIFO_LINK_MASK)) | (link & EVTCHN_FIFO_LINK_MASK);
    *cur = w.cmpxchg(at, old, new);
    if *cur == old {
        Some(true)
    } else {
        None
    }
}

/// `evtchn_fifo_set_link`: sets the tail word's `LINK` to `link` iff it is still `LINKED`.
/// After a first failed attempt the word is marked `BUSY`, which stops the guest from clearing
/// `MASKED`, so only its other permitted changes (set `MASKED`, clear `PENDING`, clear `LINKED`)
/// can race: at most four more attempts. Returns whether the link was made (true also when
/// giving up, as Xen does: the event then waits for the guest's next scan).
fn set_link(w: &mut impl FifoWords, at: Pa, link: u32) -> bool {
    let mut cur = w.load(at);
    if let Some(r) = try_set_link(w, at, &mut cur, link) {
        return r;
    }
    w.fetch_or(at, BUSY);
    cur = w.load(at);
    for _ in 0..4 {
        if let Some(r) = try_set_link(w, at, &mut cur, link) {
            if !r {
                w.fetch_and(at, !BUSY);
            }
            return r;
        }
    }
    w.fetch_and(at, !BUSY);
    true
}
