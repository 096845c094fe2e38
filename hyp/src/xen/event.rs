//! `event_channel_op(cmd, arg)`: the register/structure shim around the `evtchn` crate. A domain
//! uses the 2-level ABI until `EVTCHNOP_init_control` switches it to FIFO (the crate dispatches
//! delivery, unmask, close and reset on the active ABI). Cross-domain operations lock the two
//! domains' tables lowest id first.

use super::hypercall::Outcome;
use super::{raise_upcall, Words};
use crate::domain::{self, Domain, Vcpu};
use crate::guestmem;
use crate::vcpu::Next;
use addr::{Ipa, Pa, PAGE_SIZE};
use core::sync::atomic::Ordering;
use evtchn::{DomId, Error};
use xen_abi::errno::*;
use xen_abi::event_channel::*;
use xen_abi::xen::DOMID_SELF;
use zerocopy::{FromBytes, Immutable, IntoBytes};

fn err(e: u32) -> Outcome {
    (-(i64::from(e)), Next::Continue)
}

fn fail(e: Error) -> Outcome {
    err(e.errno())
}

/// Reads the op structure, runs `f` on it, writes it back when `f` succeeded.
fn with<T: FromBytes + IntoBytes + Immutable>(
    dom: &Domain,
    arg: u64,
    f: impl FnOnce(&mut T) -> Result<(), Error>,
) -> Outcome {
    let Ok(mut op) = guestmem::read::<T>(dom, arg) else {
        return err(XEN_EFAULT);
    };
    match f(&mut op) {
        Ok(()) => match guestmem::write(dom, arg, &op) {
            Ok(()) => (0, Next::Continue),
            Err(_) => err(XEN_EFAULT),
        },
        Err(e) => fail(e),
    }
}

/// `domid`, with DOMID_SELF resolved to the caller.
fn resolve(dom: &Domain, domid: u16) -> u16 {
    if domid == DOMID_SELF {
        dom.id
    } else {
        domid
    }
}

/// The domain an op names when it is not the caller (`None`: the caller): as Xen's
/// `rcu_lock_domain_by_any_id` then `XSM_TARGET`, -ESRCH when it does not exist, -EPERM unless
/// the caller is the control domain.
fn other(dom: &Domain, domid: u16) -> Result<Option<alloc::sync::Arc<Domain>>, Error> {
    let id = resolve(dom, domid);
    if id == dom.id {
        return Ok(None);
    }
    let t = domain::get(id).ok_or(Error::Srch)?;
    if dom.id != 0 {
        return Err(Error::Perm);
    }
    Ok(Some(t))
}

/// The host page of guest frame `gfn` if it is `dom`'s writable RAM (FIFO control blocks and
/// event-array pages; Xen's `map_guest_page`).
fn ram_page(dom: &Domain, gfn: u64) -> Option<Pa> {
    let ipa = gfn.checked_mul(PAGE_SIZE)?;
    guestmem::ipa_to_pa(dom, Ipa(ipa), true)
}

/// Reads an IN-only op structure and runs `f` on it.
fn with_in<T: FromBytes + IntoBytes>(
    dom: &Domain,
    arg: u64,
    f: impl FnOnce(&T) -> Result<(), Error>,
) -> Outcome {
    let Ok(op) = guestmem::read::<T>(dom, arg) else {
        return err(XEN_EFAULT);
    };
    match f(&op) {
        Ok(()) => (0, Next::Continue),
        Err(e) => fail(e),
    }
}

/// Delivers an event on `port` of `target` and raises its upcall if needed.
pub fn deliver_to(target: &Domain, port: u32) {
    let Some(x) = target.xen.as_ref() else { return };
    let vcpu = x.evtchn.lock().deliver(&mut Words(x), port);
    if let Some(v) = vcpu {
        raise_upcall(target, v);
    }
}

/// `event_channel_op`.
pub fn event_channel_op(dom: &Domain, _v: &Vcpu, a: &mut [u64; 5]) -> Outcome {
    let (cmd, arg) = (a[0] as u32, a[1]);
    let Some(x) = dom.xen.as_ref() else {
        return err(XEN_ENOSYS);
    };
    match cmd {
        EVTCHNOP_alloc_unbound => with::<evtchn_alloc_unbound>(dom, arg, |op| {
            // DOMID_SELF as the remote end means the caller, whichever table the port is in.
            let remote = resolve(dom, op.remote_dom);
            let t = other(dom, op.dom)?;
            let t: &Domain = t.as_deref().unwrap_or(dom);
            let tx = t.xen.as_ref().ok_or(Error::Srch)?;
            let mut table = tx.evtchn.lock();
            // A destroyed domain (looked up just before its removal) gets no new port: checked
            // under its table's lock, which `lifecycle::relinquish` takes after `dying` is set.
            // Xen's get_free_port: -EINVAL once the domain is dying.
            if t.dying.load(Ordering::Acquire) {
                return Err(Error::Inval);
            }
            op.port = table.alloc_unbound(&Words(tx), DomId(remote))?;
            Ok(())
        }),
        EVTCHNOP_bind_interdomain => with::<evtchn_bind_interdomain>(dom, arg, |op| {
            let rid = resolve(dom, op.remote_dom);
            let bound = if rid == dom.id {
                x.evtchn
                    .lock()
                    .bind_loopback(&mut Words(x), op.remote_port)?
            } else {
                let remote = domain::get(rid).ok_or(Error::Srch)?;
                let rx = remote.xen.as_ref().ok_or(Error::Srch)?;
                // Lowest domain id first.
                let (mut lt, mut rt) = if dom.id < rid {
                    let l = x.evtchn.lock();
                    (l, rx.evtchn.lock())
                } else {
                    let r = rx.evtchn.lock();
                    (x.evtchn.lock(), r)
                };
                // Never bind to a destroyed domain (looked up just before its removal): its
                // channels were or are about to be closed by `lifecycle::relinquish`, which takes
                // this lock after `dying` is set, and its id may later name another domain.
                // (Xen: -EINVAL, the remote port is no longer unbound.)
                if remote.dying.load(Ordering::Acquire) {
                    return Err(Error::Inval);
                }
                evtchn::bind_interdomain(&mut lt, &mut Words(x), &mut rt, op.remote_port)?
            };
            op.local_port = bound.port;
            if let Some(v) = bound.upcall {
                raise_upcall(dom, v);
            }
            Ok(())
        }),
        EVTCHNOP_bind_virq => with::<evtchn_bind_virq>(dom, arg, |op| {
            op.port = x.evtchn.lock().bind_virq(&Words(x), op.virq, op.vcpu)?;
            Ok(())
        }),
        EVTCHNOP_bind_ipi => with::<evtchn_bind_ipi>(dom, arg, |op| {
            op.port = x.evtchn.lock().bind_ipi(&Words(x), op.vcpu)?;
            Ok(())
        }),
        EVTCHNOP_bind_vcpu => {
            with::<evtchn_bind_vcpu>(dom, arg, |op| x.evtchn.lock().bind_vcpu(op.port, op.vcpu))
        }
        EVTCHNOP_close => with::<evtchn_close>(dom, arg, |op| {
            let peer = x.evtchn.lock().close(&mut Words(x), op.port)?;
            if let Some(p) = peer {
                if let Some(pd) = domain::get(p.dom.0) {
                    if let Some(px) = pd.xen.as_ref() {
                        let _ = px.evtchn.lock().peer_closed(&p);
                    }
                }
            }
            Ok(())
        }),
        EVTCHNOP_send => with::<evtchn_send>(dom, arg, |op| {
            let target = x.evtchn.lock().send(op.port)?;
            match target {
                None => {}
                Some(t) if t.local || t.dom.0 == dom.id => deliver_to(dom, t.port),
                Some(t) => {
                    if let Some(td) = domain::get(t.dom.0) {
                        deliver_to(&td, t.port);
                    }
                }
            }
            Ok(())
        }),
        EVTCHNOP_status => with::<evtchn_status>(dom, arg, |op| {
            let t = other(dom, op.dom)?;
            let t: &Domain = t.as_deref().unwrap_or(dom);
            let tx = t.xen.as_ref().ok_or(Error::Srch)?;
            let (status, vcpu) = tx.evtchn.lock().status(op.port)?;
            status.fill(vcpu, op);
            Ok(())
        }),
        EVTCHNOP_unmask => with::<evtchn_unmask>(dom, arg, |op| {
            let v = x.evtchn.lock().unmask(&mut Words(x), op.port)?;
            if let Some(v) = v {
                raise_upcall(dom, v);
            }
            Ok(())
        }),
        EVTCHNOP_reset => with::<evtchn_reset>(dom, arg, |op| {
            if resolve(dom, op.dom) != dom.id {
                return Err(if dom.id == 0 {
                    Error::Srch
                } else {
                    Error::Perm
                });
            }
            let mut peers = alloc::vec::Vec::new();
            x.evtchn.lock().reset(&mut Words(x), |p| peers.push(p));
            for p in peers {
                if let Some(pd) = domain::get(p.dom.0) {
                    if let Some(px) = pd.xen.as_ref() {
                        let _ = px.evtchn.lock().peer_closed(&p);
                    }
                }
            }
            Ok(())
        }),
        EVTCHNOP_init_control => with::<evtchn_init_control>(dom, arg, |op| {
            // Xen checks the vCPU and the offset before the frame; the crate does the same
            // with the translated frame (`None` if it is not the domain's RAM).
            let page = ram_page(dom, op.control_gfn);
            x.evtchn
                .lock()
                .init_control(&Words(x), op.vcpu, op.offset, page)?;
            op.link_bits = evtchn::fifo::LINK_BITS;
            Ok(())
        }),
        EVTCHNOP_expand_array => with_in::<evtchn_expand_array>(dom, arg, |op| {
            let page = ram_page(dom, op.array_gfn);
            let mut upcalls = alloc::vec::Vec::new();
            let r = x
                .evtchn
                .lock()
                .expand_array(&mut Words(x), page, |v| upcalls.push(v));
            for v in upcalls {
                raise_upcall(dom, v);
            }
            r
        }),
        EVTCHNOP_set_priority => with_in::<evtchn_set_priority>(dom, arg, |op| {
            x.evtchn.lock().set_priority(op.port, op.priority)
        }),
        _ => err(XEN_ENOSYS),
    }
}
