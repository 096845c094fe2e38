//! `grant_table_op`, version 1: the grant-table frames a guest maps into its own space (through
//! `memory_op(XENMEM_add_to_physmap, XENMAPSPACE_grant_table)`), their size, the version. Mapping
//! and copying grants between domains arrives with the PV-I/O work; until then those sub-ops
//! answer -ENOSYS.

use super::hypercall::Outcome;
use super::{XenState, GNTTAB_MAX_FRAMES};
use crate::domain::{Domain, Vcpu};
use crate::guestmem;
use crate::vcpu::Next;
use addr::Pa;
use xen_abi::errno::*;
use xen_abi::grant_table::*;
use xen_abi::xen::DOMID_SELF;

fn err(e: u32) -> Outcome {
    (-(i64::from(e)), Next::Continue)
}

/// Grant-table frame `idx` of the domain, allocated (zeroed) on first use.
pub fn frame(x: &XenState, idx: u64) -> Option<Pa> {
    let idx = usize::try_from(idx)
        .ok()
        .filter(|&i| i < GNTTAB_MAX_FRAMES)?;
    let mut g = x.gnttab.lock();
    while g.frames.len() <= idx {
        let f = crate::mm::alloc_frames(1, 1)?;
        g.frames.push(f);
    }
    g.frames.get(idx).copied()
}

/// Low bits of `cmd` that are the command; the rest is a continuation argument that only
/// GNTTABOP_cache_flush may carry (Xen's common/grant_table.c).
const GNTTABOP_CMD_MASK: u32 = (1 << 12) - 1;

/// `grant_table_op(cmd, uop, count)`.
pub fn grant_table_op(dom: &Domain, _v: &Vcpu, a: &[u64; 5]) -> Outcome {
    let (cmd, uop, count) = (a[0] as u32, a[1], a[2] as u32);
    let Some(x) = dom.xen.as_ref() else {
        return err(XEN_ENOSYS);
    };
    if (count as i32) < 0 {
        return err(XEN_EINVAL);
    }
    let opaque = cmd & !GNTTABOP_CMD_MASK;
    let cmd = cmd & GNTTABOP_CMD_MASK;
    if cmd != GNTTABOP_cache_flush && opaque != 0 {
        return err(XEN_EINVAL);
    }
    match cmd {
        GNTTABOP_query_size => {
            if count != 1 {
                return err(XEN_EINVAL);
            }
            let Ok(mut q) = guestmem::read::<gnttab_query_size>(dom, uop) else {
                return err(XEN_EFAULT);
            };
            if q.dom != DOMID_SELF && q.dom != dom.id {
                q.status = GNTST_bad_domain;
            } else {
                q.nr_frames = x.gnttab.lock().frames.len().max(1) as u32;
                q.max_nr_frames = GNTTAB_MAX_FRAMES as u32;
                q.status = GNTST_okay;
            }
            match guestmem::write(dom, uop, &q) {
                Ok(()) => (0, Next::Continue),
                Err(_) => err(XEN_EFAULT),
            }
        }
        GNTTABOP_set_version => {
            let Ok(mut s) = guestmem::read::<gnttab_set_version>(dom, uop) else {
                return err(XEN_EFAULT);
            };
            // Version 2 is disabled on Arm (max_version 1): -ENOSYS, "as before set_version
            // was introduced"; anything but 1 and 2 is -EINVAL.
            let r = match s.version {
                1 => 0,
                2 => -(i64::from(XEN_ENOSYS)),
                _ => -(i64::from(XEN_EINVAL)),
            };
            s.version = x.gnttab.lock().version;
            match guestmem::write(dom, uop, &s) {
                Ok(()) => (r, Next::Continue),
                Err(_) => err(XEN_EFAULT),
            }
        }
        GNTTABOP_get_version => {
            let Ok(mut g) = guestmem::read::<gnttab_get_version>(dom, uop) else {
                return err(XEN_EFAULT);
            };
            if g.dom != DOMID_SELF && g.dom != dom.id {
                return err(XEN_EPERM);
            }
            g.version = x.gnttab.lock().version;
            match guestmem::write(dom, uop, &g) {
                Ok(()) => (0, Next::Continue),
                Err(_) => err(XEN_EFAULT),
            }
        }
        GNTTABOP_get_status_frames => {
            // Status frames exist only with grant tables v2, which Xenith (like Xen on Arm)
            // does not offer: asking for any is GNTST_general_error, for none GNTST_okay.
            if count != 1 {
                return err(XEN_EINVAL);
            }
            let Ok(mut s) = guestmem::read::<gnttab_get_status_frames>(dom, uop) else {
                return err(XEN_EFAULT);
            };
            s.status = if s.dom != DOMID_SELF && s.dom != dom.id {
                GNTST_bad_domain
            } else if s.nr_frames > 0 {
                GNTST_general_error
            } else {
                GNTST_okay
            };
            match guestmem::write(dom, uop, &s) {
                Ok(()) => (0, Next::Continue),
                Err(_) => err(XEN_EFAULT),
            }
        }
        _ => err(XEN_ENOSYS),
    }
}
