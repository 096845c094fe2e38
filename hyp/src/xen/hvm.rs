//! `hvm_op` (HVM params: the toolstack's way to tell a guest where its xenstore and console
//! rings are) and `platform_op` (dom0 setting the wallclock).

use super::hypercall::Outcome;
use super::HVM_NR_PARAMS;
use crate::domain::{Domain, Vcpu};
use crate::guestmem;
use crate::vcpu::Next;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use xen_abi::errno::*;
use xen_abi::hvm::*;
use xen_abi::platform::*;
use xen_abi::xen::{shared_info, DOMID_SELF};

fn err(e: u32) -> Outcome {
    (-(i64::from(e)), Next::Continue)
}

/// `hvm_op(HVMOP_set_param / HVMOP_get_param, xen_hvm_param *)` as Xen 4.17's arch/arm/hvm.c:
/// the target must exist (-ESRCH) and be the caller or, for the control domain, any domain
/// (-EPERM); the toolstack's params (callback IRQ, xenstore and console page and port, monitor
/// ring) are set only by another domain (a domain setting its own: -EPERM) and read by both
/// (the monitor ring only by the toolstack); every other index is -EINVAL.
pub fn hvm_op(dom: &Domain, _v: &Vcpu, a: &mut [u64; 5]) -> Outcome {
    let (op, arg) = (a[0] as u32, a[1]);
    if op != HVMOP_set_param && op != HVMOP_get_param {
        return err(XEN_ENOSYS);
    }
    let Ok(mut p) = guestmem::read::<xen_hvm_param>(dom, arg) else {
        return err(XEN_EFAULT);
    };
    let id = if p.domid == DOMID_SELF {
        dom.id
    } else {
        p.domid
    };
    let Some(d) = crate::domain::get(id) else {
        return err(XEN_ESRCH);
    };
    if d.id != dom.id && dom.id != 0 {
        return err(XEN_EPERM);
    }
    let own = d.id == dom.id;
    let toolstack_only = matches!(
        p.index,
        HVM_PARAM_CALLBACK_IRQ
            | HVM_PARAM_STORE_PFN
            | HVM_PARAM_STORE_EVTCHN
            | HVM_PARAM_CONSOLE_PFN
            | HVM_PARAM_CONSOLE_EVTCHN
            | HVM_PARAM_MONITOR_RING_PFN
    );
    let allowed = if op == HVMOP_set_param {
        match (toolstack_only, own) {
            (false, _) => Err(XEN_EINVAL),
            (true, true) => Err(XEN_EPERM),
            (true, false) => Ok(()),
        }
    } else {
        match p.index {
            HVM_PARAM_MONITOR_RING_PFN if own => Err(XEN_EPERM),
            _ if toolstack_only => Ok(()),
            _ => Err(XEN_EINVAL),
        }
    };
    if let Err(e) = allowed {
        return err(e);
    }
    let Some(x) = d.xen.as_ref() else {
        return err(XEN_EINVAL);
    };
    let Some(slot) = usize::try_from(p.index).ok().filter(|&i| i < HVM_NR_PARAMS) else {
        return err(XEN_EINVAL);
    };
    let mut params = x.hvm_params.lock();
    if op == HVMOP_set_param {
        params[slot] = p.value;
        (0, Next::Continue)
    } else {
        p.value = params[slot];
        drop(params);
        match guestmem::write(dom, arg, &p) {
            Ok(()) => (0, Next::Continue),
            Err(_) => err(XEN_EFAULT),
        }
    }
}

/// Wallclock at system time 0 (nanoseconds since the epoch), as dom0 last set it.
static WALLCLOCK_NS: AtomicU64 = AtomicU64::new(0);

/// Writes the wallclock into a domain's shared_info with Xen's version protocol (odd while
/// updating: guests retry their read).
pub fn publish_wallclock(x: &super::XenState) {
    let ns = WALLCLOCK_NS.load(Ordering::Relaxed);
    let (sec, nsec) = (ns / 1_000_000_000, (ns % 1_000_000_000) as u32);
    let base = x.shared_info.0;
    let at32 = |off: usize| -> &'static AtomicU32 {
        // SAFETY: offsets of 4-byte-aligned u32 fields inside the shared_info page, a Xenith
        // frame that lives as long as the domain; the guest only reads these fields.
        unsafe { &*((base + off as u64) as *const AtomicU32) }
    };
    let ver = at32(core::mem::offset_of!(shared_info, wc_version));
    ver.fetch_add(1, Ordering::AcqRel);
    at32(core::mem::offset_of!(shared_info, wc_sec)).store(sec as u32, Ordering::Release);
    at32(core::mem::offset_of!(shared_info, wc_sec_hi))
        .store((sec >> 32) as u32, Ordering::Release);
    at32(core::mem::offset_of!(shared_info, wc_nsec)).store(nsec, Ordering::Release);
    ver.fetch_add(1, Ordering::AcqRel);
}

/// `platform_op(xen_platform_op *)`: dom0 only; XENPF_settime64 sets the wallclock other
/// domains see in shared_info.
pub fn platform_op(dom: &Domain, _v: &Vcpu, a: &mut [u64; 5]) -> Outcome {
    if dom.id != 0 {
        return err(XEN_EPERM);
    }
    let Ok(op) = guestmem::read::<xen_platform_op>(dom, a[0]) else {
        return err(XEN_EFAULT);
    };
    if op.interface_version != XENPF_INTERFACE_VERSION {
        return err(XEN_EACCES);
    }
    match op.cmd {
        XENPF_settime64 => {
            // The wallclock at system time 0 (Xen's do_settime): the given time minus the
            // system time it was taken at.
            let t = op.settime64();
            if t.mbz != 0 {
                return err(XEN_EINVAL);
            }
            let at = (t.secs as u128) * 1_000_000_000 + u128::from(t.nsecs);
            let base = at.saturating_sub(u128::from(t.system_time));
            WALLCLOCK_NS.store(base.min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
            for d in crate::domain::DOMAINS.lock().iter() {
                if let Some(x) = d.xen.as_ref() {
                    publish_wallclock(x);
                }
            }
            (0, Next::Continue)
        }
        _ => err(XEN_ENOSYS),
    }
}
