//! `HVC #0xEA1`: the Xen hypercall ABI on Arm (public/arch-arm.h): number in x16, arguments in
//! x0-x4, result in x0. One table of handlers (CONVENTIONS.md §9, Xen's `hypercall-defs.c` ARM
//! column); each reads its arguments, copies guest structures through `guestmem`, and returns a
//! value or a Xen errno. Unknown numbers answer -ENOSYS, as Xen does.

use super::{map_xenheap_page, raise_upcall, unmap_gfn, MapError, XenState, XEN_MAJOR, XEN_MINOR};
use crate::arch::GuestRegs;
use crate::domain::{Domain, Vcpu};
use crate::guestmem;
use crate::vcpu::Next;
use addr::{Ipa, PAGE_SIZE};
use core::sync::atomic::Ordering;
use xen_abi::errno::*;
use xen_abi::features::*;
use xen_abi::hypercall::*;
use xen_abi::memory::*;
use xen_abi::sched::*;
use xen_abi::vcpu::*;
use xen_abi::version::*;
use xen_abi::xen::*;

/// What a handler returns: the value for x0 (already an errno when negative) and what the
/// vCPU does next.
pub type Outcome = (i64, Next);

type Handler = fn(&Domain, &Vcpu, &mut [u64; 5]) -> Outcome;

/// Work one hypercall does before it continues itself (batch entries, console chunks, extents):
/// no guest-supplied count can keep a pCPU in Xenith for long.
pub const BATCH: u64 = 64;

/// A handler's result asking for the hypercall to be executed again (Xen's `-ERESTART`
/// continuation): the guest's PC goes back to the `HVC`, x0 is left as it was.
pub const RESTART: i64 = i64::MIN;

fn err(e: u32) -> Outcome {
    (-(i64::from(e)), Next::Continue)
}

fn ok(v: i64) -> Outcome {
    (v, Next::Continue)
}

/// The hypercall table: (number, handler). Numbers not here answer -ENOSYS.
const HYPERCALLS: &[(u64, Handler)] = &[
    (__HYPERVISOR_xen_version, xen_version),
    (__HYPERVISOR_console_io, console_io),
    (__HYPERVISOR_memory_op, memory_op),
    (__HYPERVISOR_vcpu_op, vcpu_op),
    (__HYPERVISOR_sched_op, sched_op),
    (
        __HYPERVISOR_event_channel_op,
        super::event::event_channel_op,
    ),
    (__HYPERVISOR_grant_table_op, super::gnttab::grant_table_op),
    (__HYPERVISOR_hvm_op, super::hvm::hvm_op),
    (__HYPERVISOR_physdev_op, physdev_op),
    (__HYPERVISOR_platform_op, super::hvm::platform_op),
    (__HYPERVISOR_vm_assist, vm_assist),
    (__HYPERVISOR_multicall, multicall),
    (__HYPERVISOR_domctl, super::domctl::domctl),
    (__HYPERVISOR_sysctl, super::domctl::sysctl),
];

/// Handles the hypercall in `regs` for vCPU `v` of `dom`.
pub fn dispatch(dom: &Domain, v: &Vcpu, regs: &mut GuestRegs) -> Next {
    if dom.xen.is_none() {
        regs.x[0] = neg(XEN_ENOSYS);
        return Next::Continue;
    }
    let nr = regs.x[16];
    let mut args = [regs.x[0], regs.x[1], regs.x[2], regs.x[3], regs.x[4]];
    let (ret, next) = call(dom, v, nr, &mut args);
    if ret == RESTART {
        // A continuation: the handler left the arguments for what remains (or unchanged for a
        // retry); the guest executes the HVC again after Xenith has looked at interrupts and
        // other vCPUs. ELR_EL2 of an HVC is the next instruction; HVC is 4 bytes in A64 and T32.
        regs.x[..5].copy_from_slice(&args);
        regs.pc = regs.pc.wrapping_sub(4);
        return next;
    }
    regs.x[0] = ret as u64;
    next
}

fn call(dom: &Domain, v: &Vcpu, nr: u64, args: &mut [u64; 5]) -> Outcome {
    match HYPERCALLS.iter().find(|(n, _)| *n == nr) {
        Some((_, h)) => h(dom, v, args),
        None => err(XEN_ENOSYS),
    }
}

/// `multicall(entries, nr)`: each entry's result is written back; a blocking call ends the batch.
fn multicall(dom: &Domain, v: &Vcpu, a: &mut [u64; 5]) -> Outcome {
    let (list, nr) = (a[0], a[1] as u32);
    let size = core::mem::size_of::<multicall_entry>() as u64;
    if u64::from(nr) > BATCH {
        // Continue with the rest afterwards, as Xen's multicall continuation does.
        let r = multicall(dom, v, &mut [list, BATCH, 0, 0, 0]);
        if r != ok(0) {
            return r;
        }
        a[0] = list.wrapping_add(BATCH * size);
        a[1] = u64::from(nr) - BATCH;
        return (RESTART, Next::Continue);
    }
    for i in 0..u64::from(nr) {
        let Some(at) = i.checked_mul(size).and_then(|o| list.checked_add(o)) else {
            return err(XEN_EFAULT);
        };
        let Ok(mut e) = guestmem::read::<multicall_entry>(dom, at) else {
            return err(XEN_EFAULT);
        };
        if e.op == __HYPERVISOR_multicall {
            e.result = neg(XEN_EINVAL);
        } else {
            let mut args = [e.args[0], e.args[1], e.args[2], e.args[3], e.args[4]];
            let (r, next) = call(dom, v, e.op, &mut args);
            // No continuations inside a batch: the caller retries the entry.
            e.result = if r == RESTART {
                neg(XEN_EAGAIN)
            } else {
                r as u64
            };
            if guestmem::write(dom, at, &e).is_err() {
                return err(XEN_EFAULT);
            }
            if next != Next::Continue {
                return (0, next);
            }
            continue;
        }
        if guestmem::write(dom, at, &e).is_err() {
            return err(XEN_EFAULT);
        }
    }
    ok(0)
}

fn copy_str_out(dom: &Domain, va: u64, s: &str, size: usize) -> Outcome {
    let mut buf = [0u8; 1024];
    let n = s.len().min(size - 1).min(buf.len() - 1);
    buf[..n].copy_from_slice(&s.as_bytes()[..n]);
    match guestmem::write_bytes(dom, va, &buf[..size.min(buf.len())]) {
        Ok(()) => ok(0),
        Err(_) => err(XEN_EFAULT),
    }
}

/// Xen's extraversion for Xenith.
const EXTRAVERSION: &str = ".0-xenith";

fn xen_version(dom: &Domain, _v: &Vcpu, a: &mut [u64; 5]) -> Outcome {
    let (cmd, arg) = (a[0] as u32, a[1]);
    match cmd {
        XENVER_version => ok(i64::from((XEN_MAJOR << 16) | XEN_MINOR)),
        XENVER_extraversion => copy_str_out(dom, arg, EXTRAVERSION, XEN_EXTRAVERSION_LEN),
        XENVER_capabilities => copy_str_out(
            dom,
            arg,
            "xen-3.0-aarch64 xen-3.0-armv7l ",
            XEN_CAPABILITIES_INFO_LEN,
        ),
        XENVER_changeset => copy_str_out(dom, arg, crate::VERSION, XEN_CHANGESET_INFO_LEN),
        XENVER_commandline => {
            let line = if dom.id == 0 {
                crate::boot::xen_cmdline()
            } else {
                "<denied>"
            };
            copy_str_out(dom, arg, line, 1024)
        }
        XENVER_compile_info => {
            let mut ci = xen_version_compile_info();
            ci.compiler[..5].copy_from_slice(b"rustc");
            match guestmem::write(dom, arg, &ci) {
                Ok(()) => ok(0),
                Err(_) => err(XEN_EFAULT),
            }
        }
        XENVER_platform_parameters => {
            let p = xen_platform_parameters { virt_start: 0 };
            match guestmem::write(dom, arg, &p) {
                Ok(()) => ok(0),
                Err(_) => err(XEN_EFAULT),
            }
        }
        XENVER_get_features => {
            let Ok(mut fi) = guestmem::read::<xen_feature_info>(dom, arg) else {
                return err(XEN_EFAULT);
            };
            if fi.submap_idx != 0 {
                return err(XEN_EINVAL);
            }
            // As Xen 4.17 (common/kernel.c) answers an Arm domain: auto-translated, SMCCC,
            // direct-mapped for dom0, and XENFEAT_dom0 for the hardware domain.
            let mut m = (1 << XENFEAT_memory_op_vnode_supported)
                | (1 << XENFEAT_writable_page_tables)
                | (1 << XENFEAT_auto_translated_physmap)
                | (1 << XENFEAT_ARM_SMCCC_supported);
            if dom.id == 0 {
                m |= (1 << XENFEAT_dom0) | (1 << XENFEAT_direct_mapped);
            } else {
                m |= 1 << XENFEAT_not_direct_mapped;
            }
            fi.submap = m;
            match guestmem::write(dom, arg, &fi) {
                Ok(()) => ok(0),
                Err(_) => err(XEN_EFAULT),
            }
        }
        XENVER_pagesize => {
            if arg != 0 {
                err(XEN_EINVAL)
            } else {
                ok(PAGE_SIZE as i64)
            }
        }
        XENVER_guest_handle => match guestmem::write(dom, arg, &[0u8; 16]) {
            Ok(()) => ok(0),
            Err(_) => err(XEN_EFAULT),
        },
        _ => err(XEN_ENOSYS),
    }
}

fn xen_version_compile_info() -> xen_compile_info {
    xen_compile_info {
        compiler: [0; 64],
        compile_by: [0; 16],
        compile_domain: [0; 32],
        compile_date: [0; 32],
    }
}

/// `console_io(cmd, count, buffer)`: dom0 writes straight to the serial line and reads the
/// serial input ring (Xen's drivers/char/console.c).
fn console_io(dom: &Domain, _v: &Vcpu, a: &mut [u64; 5]) -> Outcome {
    let (cmd, count, buf) = (a[0] as u32, a[1] as u32, a[2]);
    if dom.id != 0 {
        return err(XEN_EPERM);
    }
    match cmd {
        xen_abi::xen::CONSOLEIO_write => {
            let mut chunk = [0u8; 128];
            let mut done = 0u32;
            let mut chunks = 0;
            while done < count {
                if chunks == BATCH {
                    // Continue with the rest (Xen's guest_console_write continuation).
                    a[1] = u64::from(count - done);
                    a[2] = buf.wrapping_add(u64::from(done));
                    return (RESTART, Next::Continue);
                }
                chunks += 1;
                let n = (count - done).min(chunk.len() as u32) as usize;
                let Some(at) = buf.checked_add(u64::from(done)) else {
                    return err(XEN_EFAULT);
                };
                if guestmem::read_bytes(dom, at, &mut chunk[..n]).is_err() {
                    return err(XEN_EFAULT);
                }
                crate::console::guest_write(&chunk[..n]);
                done += n as u32;
            }
            ok(0)
        }
        xen_abi::xen::CONSOLEIO_read => {
            if count > i32::MAX as u32 {
                return err(XEN_E2BIG);
            }
            let mut chunk = [0u8; 128];
            let mut done = 0u32;
            while done < count {
                let want = (count - done).min(chunk.len() as u32) as usize;
                let n = crate::console::input_take(&mut chunk[..want]);
                if n == 0 {
                    break;
                }
                let Some(at) = buf.checked_add(u64::from(done)) else {
                    return err(XEN_EFAULT);
                };
                if guestmem::write_bytes(dom, at, &chunk[..n]).is_err() {
                    return err(XEN_EFAULT);
                }
                done += n as u32;
            }
            if crate::console::release_rx() {
                crate::irq::console_input();
            }
            ok(i64::from(done))
        }
        _ => err(XEN_ENOSYS),
    }
}

/// Bits of `memory_op`'s command that are the command (xen/include/public/memory.h).
const MEMOP_CMD_MASK: u64 = 0x3f;
/// `MEMOP_EXTENT_SHIFT` (memory.h): a continuation's progress rides above the command.
const MEMOP_EXTENT_SHIFT: u32 = 6;

/// The domain a memory op names (`rcu_lock_domain_by_any_id` + Xen's `XSM_TARGET`): the caller
/// (DOMID_SELF or its id), or for the control domain any other; -ESRCH when there is none,
/// -EPERM for another domain's call on it.
fn target_domain(dom: &Domain, domid: u16) -> Result<alloc::sync::Arc<Domain>, u32> {
    let id = if domid == DOMID_SELF { dom.id } else { domid };
    let t = crate::domain::get(id).ok_or(XEN_ESRCH)?;
    if t.id != dom.id && dom.id != 0 {
        return Err(XEN_EPERM);
    }
    Ok(t)
}

fn memory_op(dom: &Domain, _v: &Vcpu, a: &mut [u64; 5]) -> Outcome {
    let (cmd, arg) = ((a[0] & MEMOP_CMD_MASK) as u32, a[1]);
    let Some(x) = dom.xen.as_ref() else {
        return err(XEN_ENOSYS);
    };
    match cmd {
        XENMEM_add_to_physmap => {
            if a[0] >> MEMOP_EXTENT_SHIFT > u64::from(u16::MAX) {
                return err(XEN_EDOM);
            }
            let Ok(xatp) = guestmem::read::<xen_add_to_physmap>(dom, arg) else {
                return err(XEN_EFAULT);
            };
            // Foreign mapping is only possible via add_to_physmap_batch.
            if xatp.space == XENMAPSPACE_gmfn_foreign {
                return err(XEN_ENOSYS);
            }
            let t = match target_domain(dom, xatp.domid) {
                Ok(t) => t,
                Err(e) => return err(e),
            };
            let Some(tx) = t.xen.as_ref() else {
                return err(XEN_ESRCH);
            };
            add_to_physmap(&t, tx, xatp.space, xatp.idx, xatp.gpfn)
        }
        XENMEM_add_to_physmap_batch => {
            if a[0] >> MEMOP_EXTENT_SHIFT > u64::from(u16::MAX) {
                return err(XEN_EDOM);
            }
            let Ok(b) = guestmem::read::<xen_add_to_physmap_batch>(dom, arg) else {
                return err(XEN_EFAULT);
            };
            if u32::from(b.space) == XENMAPSPACE_gmfn_range {
                return err(XEN_EOPNOTSUPP);
            }
            let t = match target_domain(dom, b.domid) {
                Ok(t) => t,
                Err(e) => return err(e),
            };
            let Some(tx) = t.xen.as_ref() else {
                return err(XEN_ESRCH);
            };
            // The continuation's next entry rides above MEMOP_EXTENT_SHIFT (Xen's).
            let first = a[0] >> MEMOP_EXTENT_SHIFT;
            let size = u64::from(b.size);
            if size < first || (size == first && first != 0) {
                return err(XEN_EILSEQ);
            }
            let mut i = first;
            while i < size {
                if i - first == BATCH {
                    a[0] = (a[0] & MEMOP_CMD_MASK) | (i << MEMOP_EXTENT_SHIFT);
                    return (RESTART, Next::Continue);
                }
                let (Ok(idx), Ok(gpfn)) = (
                    guestmem::read::<u64>(dom, b.idxs.wrapping_add(8 * i)),
                    guestmem::read::<u64>(dom, b.gpfns.wrapping_add(8 * i)),
                ) else {
                    return err(XEN_EFAULT);
                };
                if gpfn == u64::MAX {
                    return err(XEN_EINVAL);
                }
                let r = if u32::from(b.space) == XENMAPSPACE_gmfn_foreign {
                    super::p2m::map_gmfn_foreign(&t, tx, b.u, idx, gpfn)
                } else {
                    add_to_physmap(&t, tx, u32::from(b.space), idx, gpfn).0
                };
                if guestmem::write(dom, b.errs.wrapping_add(4 * i), &(r as i32)).is_err() {
                    return err(XEN_EFAULT);
                }
                i += 1;
            }
            ok(0)
        }
        XENMEM_remove_from_physmap => {
            if a[0] >> MEMOP_EXTENT_SHIFT != 0 {
                return err(XEN_EINVAL);
            }
            let Ok(r) = guestmem::read::<xen_remove_from_physmap>(dom, arg) else {
                return err(XEN_EFAULT);
            };
            let t = match target_domain(dom, r.domid) {
                Ok(t) => t,
                Err(e) => return err(e),
            };
            let Some(tx) = t.xen.as_ref() else {
                return err(XEN_ESRCH);
            };
            match unmap_gfn(&t, tx, r.gpfn) {
                Ok(()) => ok(0),
                Err(_) => err(XEN_ENOENT),
            }
        }
        XENMEM_acquire_resource => acquire_resource(dom, x, a),
        XENMEM_decrease_reservation => super::p2m::decrease_reservation(dom, x, a),
        XENMEM_populate_physmap => super::p2m::populate_physmap(dom, x, a),
        XENMEM_maximum_ram_page => ok(crate::mm::max_ram_page() as i64),
        XENMEM_current_reservation | XENMEM_maximum_reservation => {
            let Ok(domid) = guestmem::read::<u16>(dom, arg) else {
                return err(XEN_EFAULT);
            };
            if domid != DOMID_SELF && domid != dom.id && dom.id != 0 {
                return err(XEN_EPERM);
            }
            let target = if domid == DOMID_SELF { dom.id } else { domid };
            match crate::domain::get(target) {
                Some(d) if cmd == XENMEM_current_reservation => ok(d.tot_pages() as i64),
                Some(d) => ok(d.mem.lock().max_pages as i64),
                None => err(XEN_ESRCH),
            }
        }
        XENMEM_get_sharing_freed_pages | XENMEM_get_sharing_shared_pages => ok(0),
        _ => err(XEN_ENOSYS),
    }
}

/// `XENMEM_acquire_resource` (common/memory.c), for the toolstack's grant-table seeding
/// (`xenforeignmemory_map_resource`): the control domain maps frames of another domain's
/// shared grant table (`XENMEM_resource_grant_table`, id shared; the table grows to cover
/// them) at the guest frames of `frame_list`, as foreign mappings that keep the domain alive.
/// A NULL `frame_list` with `nr_frames` 0 asks for the resource's size. Other resources
/// -EOPNOTSUPP, as Xen 4.17 answers an unknown type.
fn acquire_resource(dom: &Domain, x: &XenState, a: &mut [u64; 5]) -> Outcome {
    let arg = a[1];
    let Ok(mut r) = guestmem::read::<xen_mem_acquire_resource>(dom, arg) else {
        return err(XEN_EFAULT);
    };
    if r.pad != 0 || r.frame >> 32 != 0 || (r.frame + u64::from(r.nr_frames)) >> 32 != 0 {
        return err(XEN_EINVAL);
    }
    // rcu_lock_remote_domain_by_id: not the caller itself, then XSM_DM_PRIV.
    let t = match crate::domain::get(r.domid) {
        Some(t) if t.id == dom.id => return err(XEN_EPERM),
        Some(t) => t,
        None => return err(XEN_ESRCH),
    };
    if dom.id != 0 {
        return err(XEN_EPERM);
    }
    let max = match (r.r#type, r.id) {
        (XENMEM_resource_grant_table, XENMEM_resource_grant_table_id_shared) => {
            super::GNTTAB_MAX_FRAMES as u64
        }
        _ => return err(XEN_EOPNOTSUPP),
    };
    if r.frame_list == 0 {
        if r.nr_frames != 0 || a[0] >> MEMOP_EXTENT_SHIFT != 0 {
            return err(XEN_EINVAL);
        }
        r.nr_frames = max as u32;
        return match guestmem::write(dom, arg, &r) {
            Ok(()) => ok(0),
            Err(_) => err(XEN_EFAULT),
        };
    }
    if r.frame + u64::from(r.nr_frames) > max {
        return err(XEN_EINVAL);
    }
    let Some(tx) = t.xen.as_ref() else {
        return err(XEN_EINVAL);
    };
    for i in 0..u64::from(r.nr_frames) {
        let Some(frame) = super::gnttab::frame(tx, r.frame + i) else {
            return err(if i == 0 { XEN_ENOMEM } else { XEN_EIO });
        };
        let Ok(gfn) = guestmem::read::<u64>(dom, r.frame_list.wrapping_add(8 * i)) else {
            return err(XEN_EFAULT);
        };
        let at = gfn
            .checked_mul(PAGE_SIZE)
            .filter(|&ipa| ipa < (1u64 << stage2::IPA_BITS));
        let mapped =
            at.is_some_and(|ipa| super::p2m::map_foreign(dom, x, Ipa(ipa), frame, true).is_ok());
        if !mapped {
            return err(if i == 0 { XEN_EINVAL } else { XEN_EIO });
        }
        x.foreign_maps.lock().insert(gfn, (t.clone(), frame));
    }
    ok(0)
}

fn add_to_physmap(dom: &Domain, x: &XenState, space: u32, idx: u64, gpfn: u64) -> Outcome {
    let page = match space {
        XENMAPSPACE_shared_info => {
            if idx != 0 {
                return err(XEN_EINVAL);
            }
            x.shared_info
        }
        XENMAPSPACE_grant_table => {
            if idx & XENMAPIDX_grant_table_status != 0 {
                return err(XEN_EINVAL);
            }
            match super::gnttab::frame(x, idx) {
                Some(pa) => pa,
                None => return err(XEN_EINVAL),
            }
        }
        _ => return err(XEN_ENOSYS),
    };
    let ipa_ok = gpfn
        .checked_mul(PAGE_SIZE)
        .is_some_and(|a| a < (1u64 << 40));
    if !ipa_ok {
        return err(XEN_EINVAL);
    }
    match map_xenheap_page(dom, x, gpfn, page) {
        Ok(()) => ok(0),
        Err(MapError::Busy) => err(XEN_EBUSY),
        Err(MapError::Failed) => err(XEN_ENOMEM),
    }
}

fn vcpu_op(dom: &Domain, v: &Vcpu, a: &mut [u64; 5]) -> Outcome {
    let (cmd, vcpuid, arg) = (a[0] as u32, a[1] as u32, a[2]);
    let Some(target) = dom.vcpus.get(vcpuid as usize) else {
        return err(XEN_ENOENT);
    };
    let Some(x) = dom.xen.as_ref() else {
        return err(XEN_ENOSYS);
    };
    match cmd {
        VCPUOP_register_vcpu_info => {
            let Ok(info) = guestmem::read::<vcpu_register_vcpu_info>(dom, arg) else {
                return err(XEN_EFAULT);
            };
            let size = core::mem::size_of::<vcpu_info>() as u64;
            if u64::from(info.offset) > PAGE_SIZE - size || info.offset % 8 != 0 {
                return err(XEN_ENXIO);
            }
            let slot = &x.vcpu_info_registered[vcpuid as usize];
            if slot.load(Ordering::Acquire) {
                return err(XEN_EINVAL);
            }
            let self_or_off =
                core::ptr::eq(target, v) || *target.power.lock() == xenith_core::vpsci::Power::Off;
            if !self_or_off {
                return err(XEN_EINVAL);
            }
            let Some(page) = info
                .mfn
                .checked_mul(PAGE_SIZE)
                .and_then(|ipa| guestmem::ipa_to_pa(dom, Ipa(ipa), true))
            else {
                return err(XEN_EINVAL);
            };
            let new = page.0 + u64::from(info.offset);
            let old = x.vcpu_info[vcpuid as usize].load(Ordering::Acquire);
            // SAFETY: `new` is inside a RAM page of this domain (checked above) with room for a
            // vcpu_info; `old` is 0 or the vcpu_info it used so far (shared_info or RAM).
            unsafe {
                if old != 0 {
                    core::ptr::copy(old as *const u8, new as *mut u8, size as usize);
                } else {
                    core::ptr::write_bytes(new as *mut u8, 0, size as usize);
                }
            }
            x.vcpu_info[vcpuid as usize].store(new, Ordering::Release);
            slot.store(true, Ordering::Release);
            // Everything pending, so nothing is lost in the move (Xen's map_vcpu_info).
            XenState::u64_at(new + VCPU_INFO_EVTCHN_PENDING_SEL_OFFSET as u64)
                .store(u64::MAX, Ordering::Release);
            XenState::u8_at(new).store(1, Ordering::Release);
            raise_upcall(dom, vcpuid);
            ok(0)
        }
        VCPUOP_register_runstate_memory_area => {
            let Ok(area) = guestmem::read::<vcpu_register_runstate_memory_area>(dom, arg) else {
                return err(XEN_EFAULT);
            };
            x.runstate[vcpuid as usize].store(area.addr, Ordering::Release);
            let now = crate::arch::time_ns();
            let rs = vcpu_runstate_info {
                state: RUNSTATE_running,
                _pad0: 0,
                state_entry_time: now,
                time: [now, 0, 0, 0],
            };
            // Xen ignores a bad address here: the area is just not updated.
            let _ = guestmem::write(dom, area.addr, &rs);
            ok(0)
        }
        _ => err(XEN_EINVAL),
    }
}

fn sched_op(dom: &Domain, v: &Vcpu, a: &mut [u64; 5]) -> Outcome {
    let (cmd, arg) = (a[0] as u32, a[1]);
    match cmd {
        SCHEDOP_yield => (0, Next::Yield),
        SCHEDOP_block => (0, Next::Block),
        SCHEDOP_poll => {
            let Ok(p) = guestmem::read::<sched_poll>(dom, arg) else {
                return err(XEN_EFAULT);
            };
            if p.nr_ports > 128 {
                return err(XEN_EINVAL);
            }
            // Returns at once when a polled port is pending, or when a timeout is given (Xenith
            // has no timed block yet: an early return is a spurious wake-up, which callers
            // handle); without a timeout the vCPU blocks until an event or interrupt arrives.
            let Some(x) = dom.xen.as_ref() else {
                return err(XEN_ENOSYS);
            };
            for i in 0..u64::from(p.nr_ports) {
                let Ok(port) = guestmem::read::<u32>(dom, p.ports.wrapping_add(4 * i)) else {
                    return err(XEN_EFAULT);
                };
                if x.evtchn
                    .lock()
                    .is_pending(&super::Words(x), port)
                    .unwrap_or(false)
                {
                    return ok(0);
                }
            }
            if p.timeout != 0 {
                return ok(0);
            }
            (0, Next::Block)
        }
        SCHEDOP_shutdown => {
            let Ok(s) = guestmem::read::<sched_shutdown>(dom, arg) else {
                return err(XEN_EFAULT);
            };
            crate::info!("d{}v{}: SCHEDOP_shutdown reason {}", dom.id, v.id, s.reason);
            // Xen passes the reason as a u8 and checks nothing else.
            super::lifecycle::domain_shutdown(dom, s.reason & 0xff);
            ok(0)
        }
        SCHEDOP_shutdown_code => {
            let Ok(s) = guestmem::read::<sched_shutdown>(dom, arg) else {
                return err(XEN_EFAULT);
            };
            let _ = dom.life.shutdown_code.compare_exchange(
                crate::domain::SHUTDOWN_CODE_INVALID,
                s.reason & 0xff,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            ok(0)
        }
        SCHEDOP_remote_shutdown => {
            let Ok(s) = guestmem::read::<sched_remote_shutdown>(dom, arg) else {
                return err(XEN_EFAULT);
            };
            // Xen: rcu_lock_domain_by_id (DOMID_SELF is no id: -ESRCH), then XSM_DM_PRIV.
            let Some(t) = crate::domain::get(s.domain_id) else {
                return err(XEN_ESRCH);
            };
            if dom.id != 0 {
                return err(XEN_EPERM);
            }
            super::lifecycle::domain_shutdown(&t, s.reason & 0xff);
            ok(0)
        }
        _ => err(XEN_ENOSYS),
    }
}

/// Xen on Arm implements no physdev operation (xen/arch/arm/physdev.c).
fn physdev_op(_dom: &Domain, _v: &Vcpu, _a: &mut [u64; 5]) -> Outcome {
    err(XEN_ENOSYS)
}

fn vm_assist(_dom: &Domain, _v: &Vcpu, a: &mut [u64; 5]) -> Outcome {
    let (cmd, ty) = (a[0] as u32, a[1] as u32);
    match (cmd, ty) {
        (VMASST_CMD_enable | VMASST_CMD_disable, VMASST_TYPE_runstate_update_flag) => ok(0),
        (VMASST_CMD_enable | VMASST_CMD_disable, _) => err(XEN_EINVAL),
        _ => err(XEN_ENOSYS),
    }
}
