//! `HYPERVISOR_domctl` and `HYPERVISOR_sysctl` (Xen 4.17's `common/domctl.c`, `common/sysctl.c`,
//! `arch/arm/domain.c`): the control domain (dom0) creates, pauses, inspects and destroys
//! domains, and reads the host's memory figures.
//!
//! As Xen: the structure is copied in, a wrong `interface_version` answers -EACCES, a missing
//! target -ESRCH, then any caller but dom0 gets -EPERM (Xen's dummy XSM policy). A created domain
//! has an empty stage 2, a vGIC of the host's version at the `GUEST_*` addresses of
//! `arch-arm.h`, the Xen interface (shared_info, event channels, grant table) and its vCPUs
//! powered off; it starts paused (`controller_pause_count` 1). Its vCPUs count for
//! getdomaininfo once XEN_DOMCTL_max_vcpus brought them up, as in Xen.
//!
//! Destroying a domain marks it dying, kicks its vCPUs off their pCPUs and removes it from
//! [`crate::domain::DOMAINS`]; while a pCPU still runs it the hypercall is restarted (Xen's
//! `-ERESTART` continuation: the guest executes the `HVC` again, it never sees the error). Its
//! frames (stage-2 tables, shared_info, grant frames, RAM) and its VMID are freed when the last
//! reference goes ([`crate::domain::Domain`]'s `Drop`), which is before the hypercall returns
//! unless a pCPU is looking at the domain list at that moment.

use super::hypercall::{Outcome, RESTART};
use super::XenState;
use crate::domain::{self, DomId, DomMem, Domain, MmioDev, Stage2Slot, Vcpu};
use crate::mm::TableMemory;
use crate::vcpu::Next;
use crate::{guestmem, hw, percpu};
use addr::{Ipa, Region, PAGE_SIZE};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use spin::Mutex;
use stage2::{MemType, Perm, Stage2};
use vgic::{GicVersion, Vgic, VgicConfig};
use xen_abi::arch_arm::*;
use xen_abi::domctl::*;
use xen_abi::errno::*;
use xen_abi::sysctl::*;
use xen_abi::xen::DOMID_FIRST_RESERVED;
use xenith_core::vpsci::{self, Power};

fn err(e: u32) -> Outcome {
    (-(i64::from(e)), Next::Continue)
}

fn ok(v: i64) -> Outcome {
    (v, Next::Continue)
}

/// The event-channel upcall PPI of a domU (`GUEST_EVTCHN_PPI`, arch-arm.h).
const GUEST_EVTCHN_PPI: u32 = 31;
/// vCPUs of a domain with a GICv2 (Xen's `vgic_max_vcpus`: 8 targets in GICD_ITARGETSR).
const GICV2_MAX_VCPUS: u32 = 8;
/// The toolstack's pause count limit (Xen's arbitrary 255).
const MAX_PAUSE_COUNT: u32 = 255;
/// Xen's default `gnttab_max_frames`.
const GNTTAB_MAX_FRAMES: i32 = super::GNTTAB_MAX_FRAMES as i32;
/// Xen's default `gnttab_max_maptrack_frames`.
const MAX_MAPTRACK_FRAMES: i32 = 1024;
/// Bits of guest-physical address space a domain has (Xenith's stage 2: 40).
const GPADDR_BITS: u8 = stage2::IPA_BITS as u8;

/// Serialises domctls (Xen's `domctl_lock`): creation picks a free id and inserts atomically.
static DOMCTL_LOCK: Mutex<()> = Mutex::new(());
/// Where the search for a free domain id starts (Xen's `rover`): ids are handed out round robin.
static ROVER: Mutex<DomId> = Mutex::new(0);

/// `domctl(op)`.
pub fn domctl(dom: &Domain, _v: &Vcpu, a: &mut [u64; 5]) -> Outcome {
    let at = a[0];
    let Ok(mut op) = guestmem::read::<xen_domctl>(dom, at) else {
        return err(XEN_EFAULT);
    };
    if op.interface_version != XEN_DOMCTL_INTERFACE_VERSION {
        return err(XEN_EACCES);
    }
    let target = match op.cmd {
        XEN_DOMCTL_createdomain => None,
        _ => {
            let t = domain::get(op.domain);
            if t.is_none() && op.cmd != XEN_DOMCTL_getdomaininfo {
                return err(XEN_ESRCH);
            }
            t
        }
    };
    if dom.id != 0 {
        return err(XEN_EPERM);
    }
    let _serial = DOMCTL_LOCK.lock();
    let r = match (op.cmd, target) {
        (XEN_DOMCTL_createdomain, _) => create(&mut op),
        (XEN_DOMCTL_getdomaininfo, t) => getdomaininfo(&mut op, t),
        (_, None) => Err(XEN_ESRCH),
        (XEN_DOMCTL_destroydomain, Some(t)) => return destroy(dom, &t),
        (XEN_DOMCTL_pausedomain, Some(t)) => pause(dom, &t).map(|()| false),
        (XEN_DOMCTL_unpausedomain, Some(t)) => unpause(&t).map(|()| false),
        (XEN_DOMCTL_max_mem, Some(t)) => {
            let m = op.get::<xen_domctl_max_mem>();
            t.mem.lock().max_pages = m.max_memkb >> (addr::PAGE_SHIFT - 10);
            Ok(false)
        }
        (XEN_DOMCTL_setvcpucontext, Some(t)) => match setvcpucontext(dom, &t, &op) {
            Err(SetCtx::Retry) => return (RESTART, Next::Continue),
            Err(SetCtx::Errno(e)) => Err(e),
            Ok(()) => Ok(false),
        },
        (XEN_DOMCTL_getvcpucontext, Some(t)) => getvcpucontext(dom, &t, &op),
        (XEN_DOMCTL_set_address_size, Some(t)) => {
            // Arm64 (`switch_mode`): 64-bit is what every domain is; 32-bit guests are not
            // supported by Xenith (Xen: only where EL1 has AArch32). Only before the domain has
            // memory.
            match op.get::<xen_domctl_address_size>().size {
                64 if t.life.is_64bit.load(Ordering::Acquire) => Ok(false),
                64 if t.tot_pages() != 0 => Err(XEN_EBUSY),
                64 => {
                    t.life.is_64bit.store(true, Ordering::Release);
                    Ok(false)
                }
                _ => Err(XEN_EINVAL),
            }
        }
        (XEN_DOMCTL_cacheflush, Some(t)) => return cacheflush(dom, &t, at, &mut op),
        (XEN_DOMCTL_getvcpuinfo, Some(t)) => {
            let mut g = op.get::<xen_domctl_getvcpuinfo>();
            match t.vcpus.get(g.vcpu as usize) {
                None => Err(XEN_EINVAL),
                // Xen: the vCPU is not created yet (before XEN_DOMCTL_max_vcpus).
                Some(_) if !t.vcpus_created.load(Ordering::Acquire) => Err(XEN_ESRCH),
                Some(v) => {
                    let on = *v.power.lock() != Power::Off;
                    g.online = u8::from(on);
                    g.blocked = u8::from(on && v.blocked.load(Ordering::Acquire));
                    g.running = u8::from(crate::vcpu::is_running(t.id, v.id));
                    g.cpu_time = v.cpu_ns.load(Ordering::Relaxed);
                    g.cpu = v.pcpu as u32;
                    op.set(&g);
                    Ok(true)
                }
            }
        }
        // Arm keeps the offset for nothing a guest sees (its RTC is the toolstack's).
        (XEN_DOMCTL_settimeoffset, Some(_)) => Ok(false),
        // Xen reserves this many bytes for the domain's stage-2 tables up front (libxl sets it
        // from `shadow_memory`); Xenith takes table frames from the frame allocator as a
        // mapping needs them, so there is no pool to size: checked as Xen checks it, then
        // accepted.
        (XEN_DOMCTL_set_paging_mempool_size, Some(_)) => {
            let size = op.get::<xen_domctl_paging_mempool>().size;
            if size % addr::PAGE_SIZE != 0 {
                Err(XEN_EINVAL)
            } else {
                Ok(false)
            }
        }
        (XEN_DOMCTL_max_vcpus, Some(t)) => {
            let m = op.get::<xen_domctl_max_vcpus>();
            if core::ptr::eq(Arc::as_ptr(&t), dom) || m.max as usize != t.vcpus.len() {
                Err(XEN_EINVAL)
            } else {
                t.vcpus_created.store(true, Ordering::Release);
                Ok(false)
            }
        }
        _ => Err(XEN_ENOSYS),
    };
    match r {
        Ok(false) => ok(0),
        Ok(true) => match guestmem::write(dom, at, &op) {
            Ok(()) => ok(0),
            Err(_) => err(XEN_EFAULT),
        },
        Err(e) => err(e),
    }
}

/// Checks a createdomain configuration as Xen's `sanitise_domain_config` and
/// `arch_sanitise_domain_config` do, filling in the GIC version; returns it. (Also the first
/// step of building a dom0less domain at boot, `crate::boot::dom0less`.)
pub(crate) fn sanitise(c: &mut xen_domctl_createdomain) -> Result<GicVersion, u32> {
    let host = if hw::gic().version() == 2 {
        GicVersion::V2
    } else {
        GicVersion::V3
    };
    if c.flags & !((XEN_DOMCTL_CDF_MAX << 1) - 1) != 0
        || c.grant_opts & !XEN_DOMCTL_GRANT_version_mask != 0
        || c.max_vcpus < 1
    {
        return Err(XEN_EINVAL);
    }
    // Arm: HVM with hardware paging, optionally an IOMMU or the vPMU.
    let optional = XEN_DOMCTL_CDF_iommu | XEN_DOMCTL_CDF_vpmu;
    if c.flags & !optional != XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap {
        return Err(XEN_EINVAL);
    }
    // No IOMMU, no vPMU, no vmtrace on Xenith.
    if c.flags & optional != 0 || c.iommu_opts != 0 || c.vmtrace_size != 0 {
        return Err(XEN_EINVAL);
    }
    let version = match c.arch.gic_version {
        XEN_DOMCTL_CONFIG_GIC_NATIVE => host,
        XEN_DOMCTL_CONFIG_GIC_V2 if host == GicVersion::V2 => GicVersion::V2,
        XEN_DOMCTL_CONFIG_GIC_V3 if host == GicVersion::V3 => GicVersion::V3,
        _ => return Err(XEN_EINVAL),
    };
    c.arch.gic_version = match version {
        GicVersion::V2 => XEN_DOMCTL_CONFIG_GIC_V2,
        GicVersion::V3 => XEN_DOMCTL_CONFIG_GIC_V3,
    };
    let max_vcpus = match version {
        GicVersion::V2 => GICV2_MAX_VCPUS,
        GicVersion::V3 => GUEST_MAX_VCPUS.min(vgic::MAX_VCPUS as u32),
    };
    if c.max_vcpus > max_vcpus || c.arch.tee_type != XEN_DOMCTL_CONFIG_TEE_NONE {
        return Err(XEN_EINVAL);
    }
    // Xen's grant_table_init: a maximum version of 1 (Arm's `gnttab_max_version`), between 1
    // and `gnttab_max_frames` grant frames and at most `gnttab_max_maptrack_frames` (< 0: the
    // defaults).
    let frames = if c.max_grant_frames < 0 {
        GNTTAB_MAX_FRAMES
    } else {
        c.max_grant_frames
    };
    if c.grant_opts & XEN_DOMCTL_GRANT_version_mask != 1
        || !(1..=GNTTAB_MAX_FRAMES).contains(&frames)
        || c.max_maptrack_frames > MAX_MAPTRACK_FRAMES
    {
        return Err(XEN_EINVAL);
    }
    // SPIs in multiples of 32 up to what the vGIC models (Xen: 988).
    if c.arch.nr_spis > vgic::MAX_SPIS / 32 * 32 {
        return Err(XEN_EINVAL);
    }
    Ok(version)
}

/// XEN_DOMCTL_createdomain: the id in `op.domain` (0 or reserved: the next free one).
fn create(op: &mut xen_domctl) -> Result<bool, u32> {
    let mut c = op.get::<xen_domctl_createdomain>();
    let version = sanitise(&mut c)?;
    let free = |id: DomId| domain::get(id).is_none();
    let id = if op.domain > 0 && op.domain < DOMID_FIRST_RESERVED {
        if !free(op.domain) {
            return Err(XEN_EEXIST);
        }
        op.domain
    } else {
        let mut rover = ROVER.lock();
        let next = |id: DomId| {
            if id + 1 >= DOMID_FIRST_RESERVED {
                1
            } else {
                id + 1
            }
        };
        let mut id = next(*rover);
        let mut tries = 1;
        while !free(id) {
            id = next(id);
            tries += 1;
            if tries >= DOMID_FIRST_RESERVED {
                return Err(XEN_ENOMEM);
            }
        }
        *rover = id;
        id
    };
    let d = build(id, &c, version).ok_or(XEN_ENOMEM)?;
    domain::insert(Arc::new(d));
    op.domain = id;
    op.set(&c);
    Ok(true)
}

/// Frees what `build` allocated before it failed.
struct Partial {
    vmid: Option<u16>,
    s2: Option<Stage2>,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(s2) = self.s2.take() {
            s2.destroy(&mut TableMemory);
        }
        if let Some(v) = self.vmid.take() {
            domain::free_vmid(v);
        }
    }
}

/// A new paused domain `id` without memory: stage 2, vGIC, Xen state, powered-off vCPUs. The
/// dom0less builder (`crate::boot::dom0less`) creates its domains with it too.
pub(crate) fn build(id: DomId, c: &xen_domctl_createdomain, version: GicVersion) -> Option<Domain> {
    let nr = c.max_vcpus as usize;
    let mut p = Partial {
        vmid: Some(domain::alloc_vmid()?),
        s2: Some(Stage2::new(&mut TableMemory).ok()?),
    };
    let nr_spis = c.arch.nr_spis.div_ceil(32).checked_mul(32)?;
    let vgic = Vgic::new(&VgicConfig::linear(version, nr, nr_spis)).ok()?;
    let mut mmio: Vec<(Region<Ipa>, MmioDev)> = Vec::new();
    match version {
        GicVersion::V2 => {
            let gicv = hw::GICV.get()?;
            p.s2.as_mut()?
                .map(
                    &mut TableMemory,
                    Ipa(GUEST_GICC_BASE),
                    gicv.start,
                    GUEST_GICC_SIZE.min(gicv.size),
                    MemType::Device,
                    Perm::RW,
                )
                .ok()?;
            mmio.push((
                Region::new(Ipa(GUEST_GICD_BASE), vgic.dist_size()),
                MmioDev::Gicd,
            ));
        }
        GicVersion::V3 => {
            mmio.push((
                Region::new(Ipa(GUEST_GICV3_GICD_BASE), vgic.dist_size()),
                MmioDev::Gicd,
            ));
            mmio.push((
                Region::new(Ipa(GUEST_GICV3_GICR0_BASE), vgic.redist_size()),
                MmioDev::Gicr,
            ));
        }
    }
    let mut vgic = vgic;
    let vtimer = hw::irqs().vtimer;
    for v in 0..nr {
        vgic.map_hw(Some(v), vtimer, vtimer).ok()?;
    }
    let npcpus = (0..percpu::MAX_PCPUS)
        .filter(|&i| percpu::get(i).is_some_and(|c| c.online.load(Ordering::Relaxed)))
        .count()
        .max(1);
    let vcpus: Vec<Vcpu> = (0..nr as u32)
        .map(|i| Vcpu::new(i, vpsci::vcpu_mpidr(i), i as usize % npcpus))
        .collect();
    debug_assert!(vcpus.iter().all(|v| *v.power.lock() == Power::Off));
    let xen = XenState::new(nr, GUEST_EVTCHN_PPI, id)?;
    let s2 = p.s2.take()?;
    let vmid = p.vmid.take()?;
    Some(Domain {
        id,
        vmid,
        vttbr: s2.vttbr(vmid),
        stage2: Mutex::new(Stage2Slot::new(s2)),
        vgic: Mutex::new(vgic),
        vuart: None,
        mmio,
        vcpus,
        cntvoff: crate::arch::sysreg::read!(cntpct_el0),
        ram_bytes: 0,
        xen: Some(xen),
        controller_pause_count: AtomicU32::new(1),
        dying: AtomicBool::new(false),
        vcpus_created: AtomicBool::new(false),
        mem: Mutex::new(DomMem::default()),
        handle: c.handle,
        life: domain::Lifecycle::new(),
    })
}

/// XEN_DOMCTL_getdomaininfo: domain `op.domain`, or the first one above it (Xen's iteration
/// for toolstacks listing domains); the id found is echoed in `op.domain`.
fn getdomaininfo(op: &mut xen_domctl, t: Option<Arc<Domain>>) -> Result<bool, u32> {
    let d = match t {
        Some(d) => d,
        None => {
            if op.domain >= DOMID_FIRST_RESERVED {
                return Err(XEN_EINVAL);
            }
            let doms = domain::DOMAINS.lock();
            doms.iter()
                .filter(|d| d.id >= op.domain)
                .min_by_key(|d| d.id)
                .cloned()
                .ok_or(XEN_ESRCH)?
        }
    };
    let mut info = xen_abi::FromZeros::new_zeroed();
    fill_info(&d, &mut info);
    op.domain = info.domain;
    op.set(&info);
    Ok(true)
}

fn fill_info(d: &Domain, i: &mut xen_domctl_getdomaininfo) {
    i.domain = d.id;
    i.max_vcpu_id = XEN_INVALID_MAX_VCPU_ID;
    let mut flags = XEN_DOMINF_blocked;
    if d.vcpus_created.load(Ordering::Acquire) {
        for v in &d.vcpus {
            i.max_vcpu_id = v.id;
            if *v.power.lock() != Power::Off {
                if !v.blocked.load(Ordering::Acquire) {
                    flags &= !XEN_DOMINF_blocked;
                }
                if crate::vcpu::is_running(d.id, v.id) {
                    flags |= XEN_DOMINF_running;
                }
                i.nr_online_vcpus += 1;
            }
        }
    }
    if i.nr_online_vcpus == 0 {
        flags = 0;
    }
    if d.dying.load(Ordering::Acquire) {
        flags |= XEN_DOMINF_dying;
    }
    if d.life.is_shut_down.load(Ordering::Acquire) {
        flags |= XEN_DOMINF_shutdown;
    }
    if d.controller_pause_count.load(Ordering::Acquire) > 0 {
        flags |= XEN_DOMINF_paused;
    }
    // The shutdown code (SHUTDOWN_CODE_INVALID, ~0, before any) shifted into the flags, as Xen.
    let code = d.life.shutdown_code.load(Ordering::Acquire);
    i.flags = flags | XEN_DOMINF_hvm_guest | XEN_DOMINF_hap | (code << XEN_DOMINF_shutdownshift);
    i.tot_pages = d.tot_pages();
    i.max_pages = d.mem.lock().max_pages;
    i.cpu_time = d
        .vcpus
        .iter()
        .map(|v| v.cpu_ns.load(Ordering::Relaxed))
        .sum();
    // Arm Xen reports the machine frame (its mfn_to_gfn is the identity).
    i.shared_info_frame = d.xen.as_ref().map_or(0, |x| x.shared_info.0 / PAGE_SIZE);
    i.handle = d.handle;
    i.gpaddr_bits = GPADDR_BITS;
}

/// Why XEN_DOMCTL_setvcpucontext did not complete.
enum SetCtx {
    /// A Xen errno.
    Errno(u32),
    /// The domain's vCPUs did not leave their pCPUs yet: the hypercall is restarted.
    Retry,
}

/// Xen's `is_guest_pv64_psr`: AArch64 state, EL1h, EL1t or EL0t.
fn is_guest_pv64_psr(psr: u64) -> bool {
    psr & u64::from(PSR_MODE_BIT) == 0
        && matches!(
            (psr & 0xf) as u32,
            PSR_MODE_EL1h | PSR_MODE_EL1t | PSR_MODE_EL0t
        )
}

/// XEN_DOMCTL_setvcpucontext (common/domctl.c + arch/arm/domain.c `arch_set_info_guest`): not
/// on the caller's own domain, a vCPU the domain has, the context checked (the PSRs must be
/// AArch64 EL1/EL0 ones, of a domain made 64-bit with set_address_size), then with the domain
/// off every pCPU: the registers, SCTLR, TTBR0/1
/// and TCR are set and the vCPU is online (it runs once the domain is unpaused) with
/// VGCF_online, offline without. A NULL context resets the vCPU (offline, uninitialised).
fn setvcpucontext(caller: &Domain, t: &Domain, op: &xen_domctl) -> Result<(), SetCtx> {
    let c = op.get::<xen_domctl_vcpucontext>();
    if t.id == caller.id {
        return Err(SetCtx::Errno(XEN_EINVAL));
    }
    // Before XEN_DOMCTL_max_vcpus a domain has no vCPU structures in Xen (-EINVAL).
    let Some(v) = t
        .vcpus
        .get(c.vcpu as usize)
        .filter(|_| t.vcpus_created.load(Ordering::Acquire))
    else {
        return Err(SetCtx::Errno(XEN_EINVAL));
    };
    let ctx = if c.ctxt == 0 {
        None
    } else {
        let ctx = guestmem::read::<vcpu_guest_context>(caller, c.ctxt)
            .map_err(|_| SetCtx::Errno(XEN_EFAULT))?;
        let r = &ctx.user_regs;
        // A domain not made 64-bit is a 32-bit one to Xen (AArch32 PSRs only), which Xenith
        // does not run: -EINVAL either way.
        if !t.life.is_64bit.load(Ordering::Acquire)
            || !is_guest_pv64_psr(r.cpsr)
            || (r.spsr_el1 != 0 && !is_guest_pv64_psr(r.spsr_el1))
        {
            return Err(SetCtx::Errno(XEN_EINVAL));
        }
        Some(ctx)
    };
    if !super::lifecycle::pause_sync(t) {
        return Err(SetCtx::Retry);
    }
    {
        let mut a = v.arch.lock();
        let mut power = v.power.lock();
        match ctx {
            None => {
                Vcpu::reset(
                    &mut a,
                    &vpsci::StartInfo {
                        entry: 0,
                        context: 0,
                        aarch64: true,
                    },
                );
                *power = Power::Off;
                v.initialised.store(false, Ordering::Release);
            }
            Some(ctx) => {
                let r = &ctx.user_regs;
                a.regs.x = r.x;
                a.regs.pc = r.pc64;
                a.regs.pstate = r.cpsr;
                a.el1.sp_el0 = r.sp_el0;
                a.el1.sp_el1 = r.sp_el1;
                a.el1.elr_el1 = r.elr_el1;
                a.el1.spsr_el1 = r.spsr_el1;
                a.el1.sctlr = ctx.sctlr;
                a.el1.ttbr0 = ctx.ttbr0;
                a.el1.ttbr1 = ctx.ttbr1;
                a.el1.tcr = ctx.ttbcr;
                v.initialised.store(true, Ordering::Release);
                *power = if ctx.flags & VGCF_online != 0 {
                    Power::On
                } else {
                    Power::Off
                };
            }
        }
        v.blocked.store(false, Ordering::Release);
    }
    super::lifecycle::unpause(t);
    Ok(())
}

/// XEN_DOMCTL_getvcpucontext (`arch_get_info_guest`): the registers, SCTLR, TTBR0/1, TCR and
/// VGCF_online of a vCPU the toolstack or a start set (-ENODATA before); -EINVAL for a vCPU the
/// domain does not have and (Xenith) for the caller's own domain.
fn getvcpucontext(caller: &Domain, t: &Domain, op: &xen_domctl) -> Result<bool, u32> {
    let c = op.get::<xen_domctl_vcpucontext>();
    let v = t
        .vcpus
        .get(c.vcpu as usize)
        .filter(|_| t.vcpus_created.load(Ordering::Acquire))
        .ok_or(XEN_EINVAL)?;
    if t.id == caller.id {
        return Err(XEN_EINVAL);
    }
    if !v.initialised.load(Ordering::Acquire) {
        return Err(XEN_ENODATA);
    }
    if !super::lifecycle::pause_sync(t) {
        return Err(XEN_EBUSY);
    }
    let mut ctx: vcpu_guest_context = xen_abi::FromZeros::new_zeroed();
    {
        let a = v.arch.lock();
        let r = &mut ctx.user_regs;
        r.x = a.regs.x;
        r.pc64 = a.regs.pc;
        r.cpsr = a.regs.pstate;
        r.sp_el0 = a.el1.sp_el0;
        r.sp_el1 = a.el1.sp_el1;
        r.elr_el1 = a.el1.elr_el1;
        r.spsr_el1 = a.el1.spsr_el1;
        ctx.sctlr = a.el1.sctlr;
        ctx.ttbr0 = a.el1.ttbr0;
        ctx.ttbr1 = a.el1.ttbr1;
        ctx.ttbcr = a.el1.tcr;
        if *v.power.lock() != Power::Off {
            ctx.flags |= VGCF_online;
        }
    }
    super::lifecycle::unpause(t);
    guestmem::write(caller, c.ctxt, &ctx).map_err(|_| XEN_EFAULT)?;
    Ok(true)
}

/// Guest frames XEN_DOMCTL_cacheflush cleans per call before it continues itself.
const CACHEFLUSH_BATCH: u64 = 512;

/// XEN_DOMCTL_cacheflush (arch/arm/domctl.c): cleans and invalidates the data cache over the
/// target's RAM frames in `[start_pfn, start_pfn + nr_pfns)` (at most 2^18 frames; unmapped
/// frames are skipped), so a guest starting with its caches off sees what the toolstack wrote.
fn cacheflush(caller: &Domain, t: &Domain, at: u64, op: &mut xen_domctl) -> Outcome {
    let mut c = op.get::<xen_domctl_cacheflush>();
    if c.nr_pfns > 1 << 18 || c.start_pfn.checked_add(c.nr_pfns).is_none() {
        return err(XEN_EINVAL);
    }
    let n = c.nr_pfns.min(CACHEFLUSH_BATCH);
    for gfn in c.start_pfn..c.start_pfn + n {
        let Some(ipa) = gfn.checked_mul(PAGE_SIZE) else {
            break;
        };
        if let Some(pa) = guestmem::ipa_to_pa(t, Ipa(ipa), false) {
            crate::mm::clean_dcache(pa, PAGE_SIZE);
        }
    }
    if n == c.nr_pfns {
        return ok(0);
    }
    // The rest on the next round (Xen's continuation writes the progress back the same way).
    c.start_pfn += n;
    c.nr_pfns -= n;
    op.set(&c);
    match guestmem::write(caller, at, op) {
        Ok(()) => (RESTART, Next::Continue),
        Err(_) => err(XEN_EFAULT),
    }
}

/// XEN_DOMCTL_pausedomain: one more pause request (-EINVAL on itself, as Xen).
fn pause(caller: &Domain, t: &Domain) -> Result<(), u32> {
    if t.id == caller.id {
        return Err(XEN_EINVAL);
    }
    t.controller_pause_count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < MAX_PAUSE_COUNT).then_some(n + 1)
        })
        .map_err(|_| XEN_EOVERFLOW)?;
    for v in &t.vcpus {
        crate::vcpu::kick(v);
    }
    Ok(())
}

/// XEN_DOMCTL_unpausedomain: one pause request less (-EINVAL when there is none).
fn unpause(t: &Domain) -> Result<(), u32> {
    t.controller_pause_count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .map_err(|_| XEN_EINVAL)?;
    for v in &t.vcpus {
        crate::vcpu::kick(v);
    }
    Ok(())
}

/// XEN_DOMCTL_destroydomain.
fn destroy(caller: &Domain, t: &Arc<Domain>) -> Outcome {
    if t.id == caller.id || t.id == 0 {
        return err(XEN_EINVAL);
    }
    if !t.dying.swap(true, Ordering::AcqRel) {
        for v in &t.vcpus {
            crate::vcpu::kick(v);
        }
    }
    if crate::vcpu::running_anywhere(t.id) {
        // Xen's -ERESTART: the caller executes the hypercall again, by which time the kicked
        // pCPUs have left the domain.
        return (RESTART, Next::Continue);
    }
    domain::remove(t.id);
    super::lifecycle::relinquish(t);
    // Xen's domain_kill: the toolstack hears of it (DOMDYING_dead).
    super::lifecycle::send_dom_exc();
    // The last references are normally `t` and the caller's lookup: freed on return (or when
    // the last grant or foreign mapping of its pages goes).
    ok(0)
}

/// Most keys one `XEN_SYSCTL_debug_keys` runs (`xl debug-keys` passes a word).
const MAX_DEBUG_KEYS: u32 = 4096;

/// `sysctl(op)`.
pub fn sysctl(dom: &Domain, _v: &Vcpu, a: &mut [u64; 5]) -> Outcome {
    let at = a[0];
    let Ok(mut op) = guestmem::read::<xen_sysctl>(dom, at) else {
        return err(XEN_EFAULT);
    };
    if op.interface_version != XEN_SYSCTL_INTERFACE_VERSION {
        return err(XEN_EACCES);
    }
    if dom.id != 0 {
        return err(XEN_EPERM);
    }
    match op.cmd {
        XEN_SYSCTL_physinfo => {
            let mut p: xen_sysctl_physinfo = xen_abi::FromZeros::new_zeroed();
            let cpus = (0..percpu::MAX_PCPUS)
                .filter(|&i| percpu::get(i).is_some_and(|c| c.online.load(Ordering::Relaxed)))
                .count() as u32;
            p.threads_per_core = 1;
            p.cores_per_socket = cpus;
            p.nr_cpus = cpus;
            p.max_cpu_id = cpus.saturating_sub(1);
            p.nr_nodes = 1;
            p.max_node_id = 0;
            p.cpu_khz = (crate::arch::sysreg::read!(cntfrq_el0) / 1000) as u32;
            p.capabilities =
                XEN_SYSCTL_PHYSCAP_hvm | XEN_SYSCTL_PHYSCAP_hap | XEN_SYSCTL_PHYSCAP_gnttab_v1;
            let (total, free) = crate::mm::frame_counts();
            p.total_pages = total;
            p.free_pages = free;
            p.max_mfn = crate::mm::max_ram_page().saturating_sub(1);
            op.set(&p);
            match guestmem::write(dom, at, &op) {
                Ok(()) => ok(0),
                Err(_) => err(XEN_EFAULT),
            }
        }
        XEN_SYSCTL_getdomaininfolist => {
            // Every domain from `first_domain` on, by id, at most `max_domains`.
            let mut l = op.get::<xen_sysctl_getdomaininfolist>();
            let mut doms: Vec<Arc<Domain>> = domain::DOMAINS
                .lock()
                .iter()
                .filter(|d| d.id >= l.first_domain)
                .cloned()
                .collect();
            doms.sort_by_key(|d| d.id);
            let size = core::mem::size_of::<xen_domctl_getdomaininfo>() as u64;
            let mut n = 0u32;
            for d in doms.iter().take(l.max_domains as usize) {
                let mut info = xen_abi::FromZeros::new_zeroed();
                fill_info(d, &mut info);
                let Some(to) = u64::from(n)
                    .checked_mul(size)
                    .and_then(|o| l.buffer.checked_add(o))
                else {
                    return err(XEN_EFAULT);
                };
                if guestmem::write(dom, to, &info).is_err() {
                    return err(XEN_EFAULT);
                }
                n += 1;
            }
            l.num_domains = n;
            op.set(&l);
            match guestmem::write(dom, at, &op) {
                Ok(()) => ok(0),
                Err(_) => err(XEN_EFAULT),
            }
        }
        XEN_SYSCTL_debug_keys => {
            // Each key as if typed on the serial console with input switched to Xenith. Xen
            // preempts long strings with a continuation; Xenith bounds them instead.
            let k = op.get::<xen_sysctl_debug_keys>();
            if k.nr_keys > MAX_DEBUG_KEYS {
                return err(XEN_E2BIG);
            }
            for i in 0..u64::from(k.nr_keys) {
                let mut key = [0u8];
                let Some(from) = k.keys.checked_add(i) else {
                    return err(XEN_EFAULT);
                };
                if guestmem::read_bytes(dom, from, &mut key).is_err() {
                    return err(XEN_EFAULT);
                }
                crate::keyhandler::handle(key[0]);
            }
            ok(0)
        }
        XEN_SYSCTL_readconsole => {
            let mut r = op.get::<xen_sysctl_readconsole>();
            let mut failed = false;
            let (count, index) = crate::console::read_ring(
                r.clear != 0,
                (r.incremental != 0).then_some(r.index),
                r.count,
                |off, bytes| {
                    let ok = r
                        .buffer
                        .checked_add(u64::from(off))
                        .is_some_and(|to| guestmem::write_bytes(dom, to, bytes).is_ok());
                    failed |= !ok;
                    ok
                },
            );
            if failed {
                return err(XEN_EFAULT);
            }
            r.count = count;
            r.index = index;
            op.set(&r);
            match guestmem::write(dom, at, &op) {
                Ok(()) => ok(0),
                Err(_) => err(XEN_EFAULT),
            }
        }
        _ => err(XEN_ENOSYS),
    }
}
