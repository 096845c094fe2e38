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

/// `hvm_op(HVMOP_set_param / HVMOP_get_param, xen_hvm_param *)` (Xen's arch/arm/hvm.c).
pub fn hvm_op(dom: &Domain, _v: &Vcpu, a: &mut [u64; 5]) -> Outcome {
    let (op, arg) = (a[0] as u32, a[1]);
    if op != HVMOP_set_param && op != HVMOP_get_param {
        return err(XEN_ENOSYS);
    }
    let Ok(mut p) = guestmem::read::<xen_hvm_param>(dom, arg) else {
        return err(XEN_EFAULT);
    };
    if p.index as usize >= HVM_NR_PARAMS {
        return err(XEN_EINVAL);
    }
    let target = if p.domid == DOMID_SELF || p.domid == dom.id {
        None
    } else if dom.id == 0 {
        Some(p.domid)
    } else {
        return err(XEN_EPERM);
    };
    let d = match target {
        None => None,
        Some(id) => match crate::domain::get(id) {
            Some(d) => Some(d),
            None => return err(XEN_ESRCH),
        },
    };
    let d: &Domain = d.as_deref().unwrap_or(dom);
    let Some(x) = d.xen.as_ref() else {
        return err(XEN_EINVAL);
    };
    let mut params = x.hvm_params.lock();
    if op == HVMOP_set_param {
        params[p.index as usize] = p.value;
        (0, Next::Continue)
    } else {
        p.value = params[p.index as usize];
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
