//! Xen's event channels as pure logic: the per-domain port table and the rules of
//! `EVTCHNOP_*` (Xen 4.17 `xen/common/event_channel.c`), the 2-level delivery bit math
//! (`xen/common/event_2l.c`) and the FIFO-based ABI ([`fifo`], `xen/common/event_fifo.c`), as
//! Linux's `drivers/xen/events/events_base.c`, `events_2l.c` and `events_fifo.c` expect them.
//!
//! A domain starts with the 2-level ABI and switches to FIFO for good when
//! `EVTCHNOP_init_control` first succeeds ([`Evtchns::init_control`]; `EVTCHNOP_reset` switches
//! back). Delivery, unmask, close and the pending/masked queries follow the active ABI.
//!
//! The 2-level pending/mask bitmaps live in guest memory (`shared_info.evtchn_pending/
//! evtchn_mask`, each vCPU's `vcpu_info.evtchn_pending_sel` and `evtchn_upcall_pending`), as do
//! the FIFO event array and control blocks, and the guest changes them concurrently, so this
//! crate reaches them only through [`EventWords`] and [`FifoWords`], which the hypervisor
//! implements with atomic operations on the mapped pages.
//!
//! Locking is the hypervisor's: an operation that touches two domains
//! ([`bind_interdomain`], closing an interdomain channel, sending across domains) must run
//! with both tables locked (lower domain id first), as Xen does, so that a port seen
//! `Interdomain` on one side always points at a peer that points back.
//!
//! Every port, vCPU and VIRQ number here may come from a hostile guest: bad values give an
//! [`Error`] (mapped one-to-one onto Xen's errno by [`Error::errno`]), never a panic, and the
//! table never grows past its configured maximum (at most [`EVTCHN_2L_NR_CHANNELS`] = 4096
//! ports with the 2-level ABI, [`EVTCHN_FIFO_NR_CHANNELS`] = 131072 with FIFO).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod fifo;
#[cfg(test)]
mod tests;

use addr::{Pa, PAGE_SIZE};
use alloc::vec;
use alloc::vec::Vec;
use xen_abi::errno;
use xen_abi::event_channel::{
    evtchn_status, EVTCHNSTAT_closed, EVTCHNSTAT_interdomain, EVTCHNSTAT_ipi, EVTCHNSTAT_unbound,
    EVTCHNSTAT_virq, EVTCHN_FIFO_PRIORITY_DEFAULT, EVTCHN_FIFO_PRIORITY_MIN,
};
use xen_abi::xen::{VIRQ_DEBUG, VIRQ_TIMER, VIRQ_XENOPROF, VIRQ_XENPMU};

pub use fifo::{Fifo, FifoWords, PortFifo};
pub use xen_abi::event_channel::{EVTCHN_2L_NR_CHANNELS, EVTCHN_FIFO_NR_CHANNELS};
pub use xen_abi::xen::NR_VIRQS;

/// Bits in one `xen_ulong_t` word of the 2-level bitmaps (`BITS_PER_EVTCHN_WORD` on ARM).
pub const BITS_PER_EVTCHN_WORD: u32 = 64;

/// A domain id (`domid_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomId(pub u16);

/// The 2-level event state of one domain in guest memory. All operations are atomic in the
/// hypervisor's implementation (the guest writes these words concurrently).
///
/// Callers in this crate pass only `port < EVTCHN_2L_NR_CHANNELS`, `word < 64` and vCPUs the
/// table knows (`< nr_vcpus`); an implementation must still ignore a vCPU whose `vcpu_info` is
/// not mapped (return `true` from the test-and-set methods so no upcall is requested).
pub trait EventWords {
    /// Sets bit `port` of `shared_info.evtchn_pending`; returns its previous value.
    fn test_and_set_pending(&mut self, port: u32) -> bool;
    /// Clears bit `port` of `shared_info.evtchn_pending`.
    fn clear_pending(&mut self, port: u32);
    /// Bit `port` of `shared_info.evtchn_pending`.
    fn is_pending(&self, port: u32) -> bool;
    /// Bit `port` of `shared_info.evtchn_mask`.
    fn is_masked(&self, port: u32) -> bool;
    /// Clears bit `port` of `shared_info.evtchn_mask`; returns its previous value.
    fn test_and_clear_mask(&mut self, port: u32) -> bool;
    /// Sets bit `port` of `shared_info.evtchn_mask`.
    fn set_mask(&mut self, port: u32);
    /// Sets bit `word` of `vcpu_info(vcpu).evtchn_pending_sel`; returns its previous value.
    fn test_and_set_sel(&mut self, vcpu: u32, word: u32) -> bool;
    /// Sets `vcpu_info(vcpu).evtchn_upcall_pending`; returns its previous value.
    fn test_and_set_upcall_pending(&mut self, vcpu: u32) -> bool;
}

/// Why an event-channel operation failed; [`Error::errno`] gives Xen's errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Bad port, wrong channel state, bad VIRQ (`XEN_EINVAL`).
    Inval,
    /// No free port below the domain's maximum (`XEN_ENOSPC`).
    NoSpc,
    /// Operation already in progress (`XEN_EBUSY`).
    Busy,
    /// No such domain (`XEN_ESRCH`); produced by the hypervisor's domain lookup.
    Srch,
    /// Not permitted (`XEN_EPERM`); produced by the hypervisor's privilege checks.
    Perm,
    /// No such vCPU (`XEN_ENOENT`).
    NoEnt,
    /// VIRQ already bound on that vCPU (`XEN_EEXIST`).
    Exist,
    /// Allocation failed (`XEN_ENOMEM`).
    NoMem,
    /// Not offered by the active ABI (`XEN_ENOSYS`: `EVTCHNOP_set_priority` with 2-level).
    NoSys,
    /// `EVTCHNOP_expand_array` before `EVTCHNOP_init_control` (`XEN_EOPNOTSUPP`).
    OpNotSupp,
    /// The port is not usable (`XEN_EACCES`: `EVTCHNOP_set_priority` of a closed port).
    Acces,
}

impl Error {
    /// Xen's errno for this error (positive; the hypercall returns its negation).
    pub const fn errno(self) -> u32 {
        match self {
            Error::Inval => errno::XEN_EINVAL,
            Error::NoSpc => errno::XEN_ENOSPC,
            Error::Busy => errno::XEN_EBUSY,
            Error::Srch => errno::XEN_ESRCH,
            Error::Perm => errno::XEN_EPERM,
            Error::NoEnt => errno::XEN_ENOENT,
            Error::Exist => errno::XEN_EEXIST,
            Error::NoMem => errno::XEN_ENOMEM,
            Error::NoSys => errno::XEN_ENOSYS,
            Error::OpNotSupp => errno::XEN_EOPNOTSUPP,
            Error::Acces => errno::XEN_EACCES,
        }
    }
}

/// State of one channel (Xen's `ECS_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not in use.
    Free,
    /// Never usable (port 0).
    Reserved,
    /// Waiting for `remote_dom` to bind to it.
    Unbound {
        /// The only domain allowed to bind.
        remote_dom: DomId,
    },
    /// Connected to `remote_port` of `remote_dom` (which may be this domain: loopback).
    Interdomain {
        /// Peer domain.
        remote_dom: DomId,
        /// Peer port.
        remote_port: u32,
    },
    /// Bound to a virtual IRQ.
    Virq {
        /// `VIRQ_*`.
        virq: u32,
    },
    /// An inter-vCPU notification channel of this domain.
    Ipi,
}

/// One event channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel {
    /// Binding.
    pub state: State,
    /// vCPU whose selector/upcall the event raises.
    pub notify_vcpu: u32,
}

impl Channel {
    const FREE: Channel = Channel {
        state: State::Free,
        notify_vcpu: 0,
    };
}

/// Where a sent event goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// Domain owning the receiving port.
    pub dom: DomId,
    /// Receiving port in `dom`'s table.
    pub port: u32,
    /// `dom` is the sender itself (IPI or loopback): deliver with the sender's table.
    pub local: bool,
}

/// The other end of a closed interdomain channel, which the hypervisor must turn back to
/// `Unbound` with [`Evtchns::peer_closed`] on `dom`'s table (under both locks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerToUpdate {
    /// Peer domain.
    pub dom: DomId,
    /// Peer port in `dom`'s table.
    pub port: u32,
    /// Domain that closed its end.
    pub closer: DomId,
    /// The port it closed.
    pub closer_port: u32,
}

/// A new local port of [`bind_interdomain`]; Xen marks it pending right away (notifications
/// sent while the remote end was unbound may have been lost).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    /// The new local port.
    pub port: u32,
    /// Inject the event-channel PPI into this vCPU of the local domain.
    pub upcall: Option<u32>,
}

/// What `EVTCHNOP_status` reports (`EVTCHNSTAT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Free or reserved.
    Closed,
    /// Unbound, waiting for `dom`.
    Unbound {
        /// `u.unbound.dom`.
        dom: DomId,
    },
    /// Connected.
    Interdomain {
        /// `u.interdomain.dom`.
        dom: DomId,
        /// `u.interdomain.port`.
        port: u32,
    },
    /// Bound to a VIRQ.
    Virq(u32),
    /// IPI channel.
    Ipi,
}

impl Status {
    /// Fills the OUT fields (`status`, `vcpu`, `u`) of an `evtchn_status`.
    pub fn fill(self, vcpu: u32, out: &mut evtchn_status) {
        out.vcpu = vcpu;
        out.u = [0, 0];
        match self {
            Status::Closed => out.status = EVTCHNSTAT_closed,
            Status::Unbound { dom } => {
                out.status = EVTCHNSTAT_unbound;
                out.set_unbound(dom.0);
            }
            Status::Interdomain { dom, port } => {
                out.status = EVTCHNSTAT_interdomain;
                out.set_interdomain(dom.0, port);
            }
            Status::Virq(v) => {
                out.status = EVTCHNSTAT_virq;
                out.set_virq(v);
            }
            Status::Ipi => out.status = EVTCHNSTAT_ipi,
        }
    }
}

/// Whether `virq` is global (bound on vCPU 0 only, re-targetable with `EVTCHNOP_bind_vcpu`)
/// rather than per-vCPU (Xen's `virq_is_global`; on ARM every `VIRQ_ARCH_*` is global).
/// `virq` must be `< NR_VIRQS`.
pub const fn virq_is_global(virq: u32) -> bool {
    // VIRQ_ARCH_0..=VIRQ_ARCH_7 are global on ARM (`arch_virq_is_global` returns true).
    !matches!(virq, VIRQ_TIMER | VIRQ_DEBUG | VIRQ_XENOPROF | VIRQ_XENPMU)
}

/// The 2-level delivery rule (`evtchn_2l_set_pending` + `vcpu_mark_events_pending`): set the
/// pending bit; if it was clear and the port is unmasked, set the selector bit of the port's
/// word in `vcpu`'s `vcpu_info`; if that was clear, set `evtchn_upcall_pending`. Returns true
/// when `evtchn_upcall_pending` went 0 -> 1: inject the event-channel PPI into `vcpu`.
/// Ports outside the 2-level range are ignored.
pub fn set_pending(words: &mut impl EventWords, port: u32, vcpu: u32) -> bool {
    if port >= EVTCHN_2L_NR_CHANNELS {
        return false;
    }
    if words.test_and_set_pending(port) {
        return false;
    }
    if words.is_masked(port) {
        return false;
    }
    if words.test_and_set_sel(vcpu, port / BITS_PER_EVTCHN_WORD) {
        return false;
    }
    !words.test_and_set_upcall_pending(vcpu)
}

/// The 2-level unmask rule (`evtchn_2l_unmask`): clear the mask bit; if it was set and the port
/// is pending, raise the selector and upcall as [`set_pending`] does. Returns true when the PPI
/// must be injected into `vcpu`.
pub fn unmask_port(words: &mut impl EventWords, port: u32, vcpu: u32) -> bool {
    if port >= EVTCHN_2L_NR_CHANNELS {
        return false;
    }
    if !words.test_and_clear_mask(port) || !words.is_pending(port) {
        return false;
    }
    if words.test_and_set_sel(vcpu, port / BITS_PER_EVTCHN_WORD) {
        return false;
    }
    !words.test_and_set_upcall_pending(vcpu)
}

/// One domain's event-channel table.
#[derive(Clone, Debug)]
pub struct Evtchns {
    dom: DomId,
    nr_vcpus: u32,
    /// The configured maximum (`max_evtchn_port + 1`), at most `EVTCHN_FIFO_NR_CHANNELS`; the
    /// 2-level ABI further limits it to `EVTCHN_2L_NR_CHANNELS`.
    max_ports_cfg: u32,
    /// Ports `0..ports.len()` exist ("valid" in Xen's terms); grown on demand up to
    /// `max_ports()`.
    ports: Vec<Channel>,
    /// FIFO state of each port (same length as `ports`), kept under either ABI.
    fifo_ports: Vec<PortFifo>,
    /// `virq_to_port[vcpu][virq]`; global VIRQs are recorded on vCPU 0.
    virq_to_port: Vec<[Option<u32>; NR_VIRQS]>,
    /// The FIFO ABI's state once `EVTCHNOP_init_control` succeeded; `None`: 2-level.
    fifo: Option<Fifo>,
}

impl Evtchns {
    /// A table for domain `dom` with `nr_vcpus` vCPUs and at most `max_ports` ports (clamped
    /// to `1..=EVTCHN_FIFO_NR_CHANNELS`, and to `EVTCHN_2L_NR_CHANNELS` while the domain uses
    /// the 2-level ABI). Port 0 is reserved, as in Xen.
    pub fn new(dom: DomId, nr_vcpus: u32, max_ports: u32) -> Self {
        Evtchns {
            dom,
            nr_vcpus,
            max_ports_cfg: max_ports.clamp(1, EVTCHN_FIFO_NR_CHANNELS),
            ports: vec![Channel {
                state: State::Reserved,
                notify_vcpu: 0,
            }],
            fifo_ports: vec![PortFifo::NEW],
            virq_to_port: vec![[None; NR_VIRQS]; nr_vcpus as usize],
            fifo: None,
        }
    }

    /// The owning domain.
    pub fn dom(&self) -> DomId {
        self.dom
    }

    /// Number of vCPUs.
    pub fn nr_vcpus(&self) -> u32 {
        self.nr_vcpus
    }

    /// Maximum number of ports under the active ABI (the highest usable port is
    /// `max_ports() - 1`; Xen's `max_evtchns` capped by `max_evtchn_port`).
    pub fn max_ports(&self) -> u32 {
        if self.fifo.is_some() {
            self.max_ports_cfg
        } else {
            self.max_ports_cfg.min(EVTCHN_2L_NR_CHANNELS)
        }
    }

    /// Ports currently allocated in the table (valid ports are `0..valid_ports()`).
    pub fn valid_ports(&self) -> u32 {
        // ports.len() <= EVTCHN_FIFO_NR_CHANNELS, so this never truncates.
        self.ports.len() as u32
    }

    /// Channel `port`, if the port is valid.
    pub fn channel(&self, port: u32) -> Option<&Channel> {
        self.ports.get(port as usize)
    }

    /// Port bound to `virq` for `vcpu` (global VIRQs: on vCPU 0).
    pub fn virq_port(&self, virq: u32, vcpu: u32) -> Option<u32> {
        *self.virq_to_port.get(vcpu as usize)?.get(virq as usize)?
    }

    /// The FIFO state, if the domain uses the FIFO ABI.
    pub fn fifo(&self) -> Option<&Fifo> {
        self.fifo.as_ref()
    }

    /// FIFO state of `port` (its priority), if the port is valid.
    pub fn port_fifo(&self, port: u32) -> Option<&PortFifo> {
        self.fifo_ports.get(port as usize)
    }

    fn chan(&self, port: u32) -> Result<&Channel, Error> {
        self.ports.get(port as usize).ok_or(Error::Inval)
    }

    fn chan_mut(&mut self, port: u32) -> Result<&mut Channel, Error> {
        self.ports.get_mut(port as usize).ok_or(Error::Inval)
    }

    fn check_vcpu(&self, vcpu: u32) -> Result<(), Error> {
        if vcpu < self.nr_vcpus {
            Ok(())
        } else {
            Err(Error::NoEnt)
        }
    }

    /// The lowest free port, without allocating it (Xen's `get_free_port` scan). With FIFO, a
    /// closed port still linked in a guest queue is busy and skipped (`evtchn_is_busy`).
    fn find_free(&self, words: &impl FifoWords) -> Result<u32, Error> {
        let max = self.max_ports() as usize;
        let busy = |i: usize| {
            self.fifo
                .as_ref()
                .is_some_and(|f| f.is_busy(words, i as u32))
        };
        if let Some(i) = self
            .ports
            .iter()
            .take(max)
            .enumerate()
            .position(|(i, c)| c.state == State::Free && !busy(i))
        {
            return Ok(i as u32);
        }
        let next = self.valid_ports();
        if next < self.max_ports() {
            Ok(next)
        } else {
            Err(Error::NoSpc)
        }
    }

    /// Makes `port` (from `find_free`) exist and gives it `chan` (default FIFO priority, as
    /// Xen's `evtchn_port_init`).
    fn install(&mut self, port: u32, chan: Channel) -> Result<(), Error> {
        let idx = port as usize;
        if idx == self.ports.len() {
            self.ports.try_reserve(1).map_err(|_| Error::NoMem)?;
            self.fifo_ports.try_reserve(1).map_err(|_| Error::NoMem)?;
            self.ports.push(chan);
            self.fifo_ports.push(PortFifo::NEW);
        } else {
            *self.ports.get_mut(idx).ok_or(Error::Inval)? = chan;
            let pf = self.fifo_ports.get_mut(idx).ok_or(Error::Inval)?;
            pf.set_priority(EVTCHN_FIFO_PRIORITY_DEFAULT)?;
        }
        Ok(())
    }

    fn alloc(&mut self, words: &impl FifoWords, chan: Channel) -> Result<u32, Error> {
        let port = self.find_free(words)?;
        self.install(port, chan)?;
        Ok(port)
    }

    /// `EVTCHNOP_alloc_unbound`: a new port that `remote_dom` may bind to. `remote_dom` must
    /// already be resolved (`DOMID_SELF` means the *caller*, which may not be this domain).
    pub fn alloc_unbound(
        &mut self,
        words: &impl FifoWords,
        remote_dom: DomId,
    ) -> Result<u32, Error> {
        self.alloc(
            words,
            Channel {
                state: State::Unbound { remote_dom },
                notify_vcpu: 0,
            },
        )
    }

    /// `EVTCHNOP_bind_interdomain` with `remote_dom` = this domain (a loopback channel, legal
    /// in Xen): binds a new port to `remote_port`, which must be `Unbound` for this domain.
    /// The new port is marked pending, as Xen does.
    pub fn bind_loopback(
        &mut self,
        words: &mut impl FifoWords,
        remote_port: u32,
    ) -> Result<Bound, Error> {
        let lport = self.find_free(words)?;
        let me = self.dom;
        match self.chan(remote_port)?.state {
            State::Unbound { remote_dom } if remote_dom == me => {}
            _ => return Err(Error::Inval),
        }
        self.install(
            lport,
            Channel {
                state: State::Interdomain {
                    remote_dom: me,
                    remote_port,
                },
                notify_vcpu: 0,
            },
        )?;
        self.chan_mut(remote_port)?.state = State::Interdomain {
            remote_dom: me,
            remote_port: lport,
        };
        Ok(Bound {
            port: lport,
            upcall: self.deliver(words, lport),
        })
    }

    /// `EVTCHNOP_close`: frees `port` (clearing its pending bit). For an interdomain channel
    /// to another domain, returns the peer end the hypervisor must hand to
    /// [`Evtchns::peer_closed`] (under both domains' locks); a loopback peer is updated here.
    pub fn close(
        &mut self,
        words: &mut impl FifoWords,
        port: u32,
    ) -> Result<Option<PeerToUpdate>, Error> {
        let chan = *self.chan(port)?;
        let mut peer = None;
        match chan.state {
            State::Free | State::Reserved => return Err(Error::Inval),
            State::Unbound { .. } | State::Ipi => {}
            State::Virq { virq } => {
                let vcpu = if virq_is_global(virq) {
                    0
                } else {
                    chan.notify_vcpu
                };
                if let Some(slot) = self
                    .virq_to_port
                    .get_mut(vcpu as usize)
                    .and_then(|v| v.get_mut(virq as usize))
                {
                    if *slot == Some(port) {
                        *slot = None;
                    }
                }
            }
            State::Interdomain {
                remote_dom,
                remote_port,
            } => {
                if remote_dom == self.dom {
                    let me = self.dom;
                    if let Ok(p) = self.chan_mut(remote_port) {
                        p.state = State::Unbound { remote_dom: me };
                    }
                } else {
                    peer = Some(PeerToUpdate {
                        dom: remote_dom,
                        port: remote_port,
                        closer: self.dom,
                        closer_port: port,
                    });
                }
            }
        }
        // `evtchn_port_clear_pending` of the active ABI.
        match &self.fifo {
            Some(f) => f.clear_pending(words, port),
            None if port < EVTCHN_2L_NR_CHANNELS => words.clear_pending(port),
            None => {}
        }
        if let Some(pf) = self.fifo_ports.get_mut(port as usize) {
            pf.set_saved_pending(false);
        }
        *self.chan_mut(port)? = Channel::FREE;
        Ok(peer)
    }

    /// The peer closed its end of the interdomain channel at `p.port` of this domain: the port
    /// goes back to `Unbound { remote_dom: p.closer }`. Fails (changing nothing) unless this
    /// table is `p.dom` and `p.port` really is that channel's other end.
    pub fn peer_closed(&mut self, p: &PeerToUpdate) -> Result<(), Error> {
        if p.dom != self.dom {
            return Err(Error::Inval);
        }
        let (closer, closer_port) = (p.closer, p.closer_port);
        let c = self.chan_mut(p.port)?;
        match c.state {
            State::Interdomain {
                remote_dom,
                remote_port,
            } if remote_dom == closer && remote_port == closer_port => {
                c.state = State::Unbound { remote_dom: closer };
                Ok(())
            }
            _ => Err(Error::Inval),
        }
    }

    /// `EVTCHNOP_bind_virq`: binds `virq` on `vcpu` to a new port. Global VIRQs must be bound
    /// on vCPU 0.
    pub fn bind_virq(
        &mut self,
        words: &impl FifoWords,
        virq: u32,
        vcpu: u32,
    ) -> Result<u32, Error> {
        if virq as usize >= NR_VIRQS {
            return Err(Error::Inval);
        }
        if virq_is_global(virq) && vcpu != 0 {
            return Err(Error::Inval);
        }
        self.check_vcpu(vcpu)?;
        if self.virq_port(virq, vcpu).is_some() {
            return Err(Error::Exist);
        }
        let port = self.alloc(
            words,
            Channel {
                state: State::Virq { virq },
                notify_vcpu: vcpu,
            },
        )?;
        if let Some(slot) = self
            .virq_to_port
            .get_mut(vcpu as usize)
            .and_then(|v| v.get_mut(virq as usize))
        {
            *slot = Some(port);
        }
        Ok(port)
    }

    /// `EVTCHNOP_bind_ipi`: a new port notifying `vcpu` of this domain.
    pub fn bind_ipi(&mut self, words: &impl FifoWords, vcpu: u32) -> Result<u32, Error> {
        self.check_vcpu(vcpu)?;
        self.alloc(
            words,
            Channel {
                state: State::Ipi,
                notify_vcpu: vcpu,
            },
        )
    }

    /// `EVTCHNOP_bind_vcpu`: retargets `port` to `vcpu`. Allowed for global VIRQs, unbound and
    /// interdomain channels, as in Xen. With FIFO the next event goes to `vcpu`'s queue.
    pub fn bind_vcpu(&mut self, port: u32, vcpu: u32) -> Result<(), Error> {
        self.check_vcpu(vcpu)?;
        let c = self.chan_mut(port)?;
        match c.state {
            State::Virq { virq } if virq_is_global(virq) => c.notify_vcpu = vcpu,
            State::Unbound { .. } | State::Interdomain { .. } => c.notify_vcpu = vcpu,
            _ => return Err(Error::Inval),
        }
        Ok(())
    }

    /// `EVTCHNOP_status` of `port`, with the vCPU it notifies.
    pub fn status(&self, port: u32) -> Result<(Status, u32), Error> {
        let c = self.chan(port)?;
        let s = match c.state {
            State::Free | State::Reserved => Status::Closed,
            State::Unbound { remote_dom } => Status::Unbound { dom: remote_dom },
            State::Interdomain {
                remote_dom,
                remote_port,
            } => Status::Interdomain {
                dom: remote_dom,
                port: remote_port,
            },
            State::Virq { virq } => Status::Virq(virq),
            State::Ipi => Status::Ipi,
        };
        Ok((s, c.notify_vcpu))
    }

    /// Whether `port` is bound (Xen's `evtchn_usable`: neither free nor reserved).
    fn usable(&self, port: u32) -> Result<bool, Error> {
        Ok(!matches!(
            self.chan(port)?.state,
            State::Free | State::Reserved
        ))
    }

    /// `evtchn_is_pending` under the active ABI (false for an unbound port).
    pub fn is_pending(&self, words: &impl FifoWords, port: u32) -> Result<bool, Error> {
        if !self.usable(port)? {
            return Ok(false);
        }
        Ok(match &self.fifo {
            Some(f) => f.is_pending(words, port),
            None => port < EVTCHN_2L_NR_CHANNELS && words.is_pending(port),
        })
    }

    /// `evtchn_is_masked` under the active ABI (true for an unbound port).
    pub fn is_masked(&self, words: &impl FifoWords, port: u32) -> Result<bool, Error> {
        if !self.usable(port)? {
            return Ok(true);
        }
        Ok(match &self.fifo {
            Some(f) => f.is_masked(words, port),
            None => port >= EVTCHN_2L_NR_CHANNELS || words.is_masked(port),
        })
    }

    /// `EVTCHNOP_unmask`: clears the mask bit and, if the port is pending, raises the upcall
    /// on its notify vCPU (with FIFO: links the port onto its queue). Returns the vCPU to
    /// inject the PPI into.
    pub fn unmask(&mut self, words: &mut impl FifoWords, port: u32) -> Result<Option<u32>, Error> {
        let vcpu = self.chan(port)?.notify_vcpu;
        let usable = self.usable(port)?;
        let up = match &mut self.fifo {
            None => unmask_port(words, port, vcpu),
            Some(f) => {
                if !usable {
                    return Ok(None);
                }
                let pf = self.fifo_ports.get_mut(port as usize).ok_or(Error::Inval)?;
                f.unmask(words, port, vcpu, pf)
            }
        };
        Ok(up.then_some(vcpu))
    }

    /// `EVTCHNOP_send` from `port`: where the event goes. `Ok(None)` for an unbound port (Xen
    /// silently drops it). Deliver with [`Evtchns::deliver`] on the target's table.
    pub fn send(&self, port: u32) -> Result<Option<Target>, Error> {
        match self.chan(port)?.state {
            State::Interdomain {
                remote_dom,
                remote_port,
            } => Ok(Some(Target {
                dom: remote_dom,
                port: remote_port,
                local: remote_dom == self.dom,
            })),
            State::Ipi => Ok(Some(Target {
                dom: self.dom,
                port,
                local: true,
            })),
            State::Unbound { .. } => Ok(None),
            _ => Err(Error::Inval),
        }
    }

    /// Marks `port` of this domain pending towards its notify vCPU under the active ABI
    /// ([`set_pending`] or [`Fifo::set_pending`]). Returns the vCPU to inject the
    /// event-channel PPI into. Free or invalid ports are ignored.
    pub fn deliver(&mut self, words: &mut impl FifoWords, port: u32) -> Option<u32> {
        let c = *self.channel(port)?;
        if matches!(c.state, State::Free | State::Reserved) {
            return None;
        }
        let up = match &mut self.fifo {
            None => set_pending(words, port, c.notify_vcpu),
            Some(f) => {
                let pf = self.fifo_ports.get_mut(port as usize)?;
                f.set_pending(words, port, c.notify_vcpu, pf)
            }
        };
        up.then_some(c.notify_vcpu)
    }

    /// Raises `virq` (`send_guest_vcpu_virq` for per-vCPU VIRQs on `vcpu`,
    /// `send_guest_global_virq` for global ones, which go to the channel's notify vCPU and
    /// ignore `vcpu`). Returns the vCPU to inject the PPI into; nothing if the VIRQ is unbound.
    pub fn raise_virq(&mut self, words: &mut impl FifoWords, virq: u32, vcpu: u32) -> Option<u32> {
        if virq as usize >= NR_VIRQS {
            return None;
        }
        let on = if virq_is_global(virq) { 0 } else { vcpu };
        let port = self.virq_port(virq, on)?;
        self.deliver(words, port)
    }

    /// `EVTCHNOP_init_control` for `vcpu`: registers its FIFO control block at byte `offset`
    /// of the guest page at host address `page` (`None`: the frame is not the domain's
    /// writable RAM). The first success switches the domain to the FIFO ABI: ports bound so
    /// far get the default priority and keep their 2-level pending state, raised when their
    /// event-array page is added (Xen's `setup_ports`). Errors as in Xen: `-ENOENT` for a bad
    /// vCPU, then `-EINVAL` for an offset past `PAGE_SIZE - sizeof(control block)`, a
    /// misaligned offset, a bad frame, or a vCPU that already has a control block.
    pub fn init_control(
        &mut self,
        words: &impl FifoWords,
        vcpu: u32,
        offset: u32,
        page: Option<Pa>,
    ) -> Result<(), Error> {
        self.check_vcpu(vcpu)?;
        fifo::check_control_offset(offset)?;
        if self
            .fifo
            .as_ref()
            .is_some_and(|f| f.control_block(vcpu).is_some())
        {
            return Err(Error::Inval);
        }
        let page = page
            .filter(|p| p.is_aligned(PAGE_SIZE))
            .ok_or(Error::Inval)?;
        let at = page.checked_add(u64::from(offset)).ok_or(Error::Inval)?;
        if let Some(f) = &mut self.fifo {
            return f.map_control_block(vcpu, at);
        }
        let mut f = Fifo::new(self.nr_vcpus)?;
        f.map_control_block(vcpu, at)?;
        for (port, pf) in self.fifo_ports.iter_mut().enumerate().skip(1) {
            let port = port as u32;
            if port < EVTCHN_2L_NR_CHANNELS && words.is_pending(port) {
                pf.set_saved_pending(true);
            }
            pf.set_priority(EVTCHN_FIFO_PRIORITY_DEFAULT)?;
        }
        self.fifo = Some(f);
        Ok(())
    }

    /// `EVTCHNOP_expand_array`: adds the guest page at host address `page` (`None`: not the
    /// domain's writable RAM) to the event array, then raises the events that arrived for its
    /// ports while it was missing, calling `upcall(vcpu)` for each vCPU whose PPI must be
    /// injected. `-EOPNOTSUPP` before `EVTCHNOP_init_control`, `-ENOSPC` once all
    /// `EVTCHN_FIFO_NR_CHANNELS` ports have words, `-EINVAL` for a bad frame.
    pub fn expand_array(
        &mut self,
        words: &mut impl FifoWords,
        page: Option<Pa>,
        mut upcall: impl FnMut(u32),
    ) -> Result<(), Error> {
        let f = self.fifo.as_mut().ok_or(Error::OpNotSupp)?;
        if f.array_pages() >= fifo::EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES {
            return Err(Error::NoSpc);
        }
        let range = f.add_array_page(page.ok_or(Error::Inval)?)?;
        for port in range {
            let (Some(c), Some(pf)) = (
                self.ports.get(port as usize),
                self.fifo_ports.get_mut(port as usize),
            ) else {
                break;
            };
            if !pf.saved_pending() || matches!(c.state, State::Free | State::Reserved) {
                continue;
            }
            pf.set_saved_pending(false);
            if f.set_pending(words, port, c.notify_vcpu, pf) {
                upcall(c.notify_vcpu);
            }
        }
        Ok(())
    }

    /// `EVTCHNOP_set_priority`: `-EINVAL` for an invalid port, `-ENOSYS` with the 2-level
    /// ABI, `-EACCES` for a closed port, `-EINVAL` for a priority past
    /// `EVTCHN_FIFO_PRIORITY_MIN`.
    pub fn set_priority(&mut self, port: u32, priority: u32) -> Result<(), Error> {
        let usable = self.usable(port)?;
        if self.fifo.is_none() {
            return Err(Error::NoSys);
        }
        if !usable {
            return Err(Error::Acces);
        }
        self.fifo_ports
            .get_mut(port as usize)
            .ok_or(Error::Inval)?
            .set_priority(priority)
    }

    /// `EVTCHNOP_reset` (and domain teardown): closes every port and returns to the 2-level
    /// ABI. `peer` is called with each interdomain peer in another domain, to update with
    /// [`Evtchns::peer_closed`].
    pub fn reset(&mut self, words: &mut impl FifoWords, mut peer: impl FnMut(PeerToUpdate)) {
        for port in 1..self.valid_ports() {
            if let Ok(Some(p)) = self.close(words, port) {
                peer(p);
            }
        }
        if self.fifo.take().is_some() {
            // Every port is free now: drop those beyond the 2-level range.
            let keep = self.max_ports() as usize;
            self.ports.truncate(keep);
            self.fifo_ports.truncate(keep);
        }
    }

    /// Checks the table's own invariants (port 0 reserved, notify vCPUs in range, the VIRQ
    /// map and `Virq` channels agree one-to-one, loopback channels point back).
    pub fn check_invariants(&self) -> bool {
        if self.ports.first().map(|c| c.state) != Some(State::Reserved) {
            return false;
        }
        if self.ports.len() > self.max_ports() as usize || self.fifo_ports.len() != self.ports.len()
        {
            return false;
        }
        for (i, c) in self.ports.iter().enumerate() {
            let port = i as u32;
            if c.notify_vcpu >= self.nr_vcpus.max(1) {
                return false;
            }
            match c.state {
                State::Reserved if i != 0 => return false,
                State::Virq { virq } => {
                    let on = if virq_is_global(virq) {
                        0
                    } else {
                        c.notify_vcpu
                    };
                    if self.virq_port(virq, on) != Some(port) {
                        return false;
                    }
                }
                State::Interdomain {
                    remote_dom,
                    remote_port,
                } if remote_dom == self.dom => {
                    let back = self.channel(remote_port).map(|p| p.state);
                    if back
                        != Some(State::Interdomain {
                            remote_dom: self.dom,
                            remote_port: port,
                        })
                    {
                        return false;
                    }
                }
                _ => {}
            }
        }
        for per_vcpu in &self.virq_to_port {
            for (virq, p) in per_vcpu.iter().enumerate() {
                if let Some(p) = p {
                    match self.channel(*p).map(|c| c.state) {
                        Some(State::Virq { virq: v }) if v as usize == virq => {}
                        _ => return false,
                    }
                }
            }
        }
        if self
            .fifo_ports
            .iter()
            .any(|pf| u32::from(pf.priority) > EVTCHN_FIFO_PRIORITY_MIN)
        {
            return false;
        }
        true
    }
}

/// `EVTCHNOP_bind_interdomain` between two different domains: binds a new port of `local` to
/// `remote_port` of `remote`, which must be `Unbound` for `local`'s domain. The new local
/// port is marked pending in `local_words` (Xen does so because notifications to the unbound
/// end may have been lost). For `local` binding to itself use [`Evtchns::bind_loopback`].
pub fn bind_interdomain(
    local: &mut Evtchns,
    local_words: &mut impl FifoWords,
    remote: &mut Evtchns,
    remote_port: u32,
) -> Result<Bound, Error> {
    if local.dom == remote.dom {
        return Err(Error::Inval);
    }
    // Xen allocates the local port first, so a full table reports ENOSPC before EINVAL.
    let lport = local.find_free(local_words)?;
    match remote.chan(remote_port)?.state {
        State::Unbound { remote_dom } if remote_dom == local.dom => {}
        _ => return Err(Error::Inval),
    }
    local.install(
        lport,
        Channel {
            state: State::Interdomain {
                remote_dom: remote.dom,
                remote_port,
            },
            notify_vcpu: 0,
        },
    )?;
    remote.chan_mut(remote_port)?.state = State::Interdomain {
        remote_dom: local.dom,
        remote_port: lport,
    };
    Ok(Bound {
        port: lport,
        upcall: local.deliver(local_words, lport),
    })
}

/// Closes `port` of `local`, updating the peer end in `remote` when the port is an
/// interdomain channel to `remote`'s domain (both tables locked by the caller).
/// Equivalent to [`Evtchns::close`] followed by [`Evtchns::peer_closed`].
pub fn close_interdomain(
    local: &mut Evtchns,
    local_words: &mut impl FifoWords,
    remote: &mut Evtchns,
    port: u32,
) -> Result<(), Error> {
    match local.chan(port)?.state {
        State::Interdomain { remote_dom, .. } if remote_dom == remote.dom => {}
        _ => return Err(Error::Inval),
    }
    if let Some(p) = local.close(local_words, port)? {
        remote.peer_closed(&p)?;
    }
    Ok(())
}
