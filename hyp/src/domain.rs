//! Domains and vCPUs as data. dom0 is domain 0 of many: nothing here assumes there is only one.

use crate::arch::context::{El1Regs, FpRegs, PSTATE_EL1H_DAIF};
use crate::arch::GuestRegs;
use crate::drivers::gic::VcpuIfState;
use addr::{Ipa, Pa, Region};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use spin::Mutex;
use stage2::Stage2;
use vgic::Vgic;
use xenith_core::console_switch::GuestOutput;
use xenith_core::vpl011::Vpl011;
use xenith_core::vpsci::{Power, StartInfo};

/// A domain id (`domid_t` in Xen's public headers).
pub type DomId = u16;

/// An emulated device behind a trapped guest-physical region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmioDev {
    /// Virtual GIC distributor.
    Gicd,
    /// Virtual GICv3 redistributors (one 128 KiB frame per vCPU).
    Gicr,
    /// Emulated SBSA UART (vpl011).
    Vuart,
}

/// The emulated UART and its interrupt.
pub struct Vuart {
    /// The model.
    pub uart: Mutex<Vpl011>,
    /// Its SPI (INTID) in the domain's vGIC.
    pub spi: u32,
    /// Its output on Xenith's serial line (`(dN) ` lines; see `console::vuart_output`).
    pub out: Mutex<GuestOutput>,
}

/// One domain.
pub struct Domain {
    /// Domain id.
    pub id: DomId,
    /// Stage-2 VMID.
    pub vmid: u16,
    /// VTTBR_EL2 value (root table and VMID).
    pub vttbr: u64,
    /// Stage-2 translation (its tables are freed when the domain is dropped).
    pub stage2: Mutex<Stage2Slot>,
    /// Virtual GIC.
    pub vgic: Mutex<Vgic>,
    /// Emulated console UART, if the domain has one.
    pub vuart: Option<Vuart>,
    /// Trapped regions and their device models (a table, CONVENTIONS.md §9).
    pub mmio: Vec<(Region<Ipa>, MmioDev)>,
    /// The domain's vCPUs.
    pub vcpus: Vec<Vcpu>,
    /// CNTVOFF_EL2: the domain's virtual counter starts near 0 at creation.
    pub cntvoff: u64,
    /// RAM the domain was given, in bytes.
    pub ram_bytes: u64,
    /// The Xen guest interface (shared_info, event channels, grant table), if offered.
    pub xen: Option<crate::xen::XenState>,
    /// Pause requests of the control domain (Xen's `controller_pause_count`; 255 at most). A
    /// domain created by XEN_DOMCTL_createdomain starts with 1: its vCPUs run only once it is
    /// unpaused.
    pub controller_pause_count: AtomicU32,
    /// XEN_DOMCTL_destroydomain started: the vCPUs never run again.
    pub dying: AtomicBool,
    /// The vCPUs are brought up (XEN_DOMCTL_max_vcpus, or at boot for dom0): before that
    /// getdomaininfo reports none, as Xen.
    pub vcpus_created: AtomicBool,
    /// Memory the domain owns and its limit.
    pub mem: Mutex<DomMem>,
    /// `xen_domain_handle_t` the toolstack gave at creation.
    pub handle: [u8; 16],
}

/// A domain's memory accounting: the frames it owns (freed with the domain) and its limit.
#[derive(Debug, Default)]
pub struct DomMem {
    /// Extents of frames from the frame allocator the domain owns (its RAM): (start, frames).
    pub extents: Vec<(Pa, usize)>,
    /// XEN_DOMCTL_max_mem's limit in pages (Xen's `max_pages`).
    pub max_pages: u64,
}

impl DomMem {
    /// Pages the domain owns (Xen's `tot_pages`).
    pub fn tot_pages(&self) -> u64 {
        self.extents.iter().map(|&(_, n)| n as u64).sum()
    }
}

/// A domain's stage 2. Only [`Domain`]'s `Drop` takes the tables away, when nothing can reach
/// the domain any more, so the deref below always finds them.
pub struct Stage2Slot(Option<Stage2>);

impl Stage2Slot {
    /// Wraps the tables.
    pub fn new(s2: Stage2) -> Self {
        Self(Some(s2))
    }
}

impl core::ops::Deref for Stage2Slot {
    type Target = Stage2;
    fn deref(&self) -> &Stage2 {
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("stage 2 is taken only when the domain is dropped"))
    }
}

impl core::ops::DerefMut for Stage2Slot {
    fn deref_mut(&mut self) -> &mut Stage2 {
        self.0
            .as_mut()
            .unwrap_or_else(|| unreachable!("stage 2 is taken only when the domain is dropped"))
    }
}

impl Drop for Domain {
    /// The last reference is gone (the domain was destroyed and no pCPU holds it): every frame
    /// it owned goes back to the allocator. Its VMID's TLB entries are invalidated first.
    fn drop(&mut self) {
        crate::arch::tlb::flush_vmid(self.vttbr);
        if let Some(s2) = self.stage2.get_mut().0.take() {
            s2.destroy(&mut crate::mm::TableMemory);
        }
        if let Some(x) = self.xen.as_mut() {
            crate::mm::free_frames(x.shared_info, 1);
            for f in x.gnttab.get_mut().frames.drain(..) {
                crate::mm::free_frames(f, 1);
            }
        }
        for (pa, n) in self.mem.get_mut().extents.drain(..) {
            crate::mm::free_frames(pa, n);
        }
        free_vmid(self.vmid);
    }
}

/// VMIDs in use (8-bit VMIDs: VTCR_EL2.VS is 0); VMID 0 is never given out.
static VMIDS: Mutex<[u64; 4]> = Mutex::new([1, 0, 0, 0]);

/// A free VMID, if any.
pub fn alloc_vmid() -> Option<u16> {
    let mut m = VMIDS.lock();
    let id = (1..256usize).find(|&i| m[i / 64] & (1 << (i % 64)) == 0)?;
    m[id / 64] |= 1 << (id % 64);
    Some(id as u16)
}

/// Returns `vmid` (its TLB entries already invalidated).
pub fn free_vmid(vmid: u16) {
    let i = usize::from(vmid);
    if (1..256).contains(&i) {
        VMIDS.lock()[i / 64] &= !(1 << (i % 64));
    }
}

impl Domain {
    /// Whether the domain's vCPUs may not run now (paused by the control domain, or dying).
    pub fn stopped(&self) -> bool {
        self.controller_pause_count.load(Ordering::Acquire) > 0
            || self.dying.load(Ordering::Acquire)
    }

    /// The device model behind `ipa`, with the offset into its region.
    pub fn mmio_at(&self, ipa: Ipa) -> Option<(MmioDev, u64)> {
        self.mmio
            .iter()
            .find(|(r, _)| r.contains(ipa))
            .and_then(|(r, d)| Some((*d, ipa.offset_from(r.start)?)))
    }
}

/// The parts of a vCPU only the pCPU running it touches.
pub struct VcpuArch {
    /// General registers, PC and PSTATE.
    pub regs: GuestRegs,
    /// EL1 system registers and the virtual timer (live in hardware while loaded).
    pub el1: El1Regs,
    /// FP/SIMD registers (live in hardware while loaded).
    pub fp: FpRegs,
    /// Virtual GIC CPU-interface state (live in hardware while loaded).
    pub vif: VcpuIfState,
    /// The virtual-timer PPI was active (injected, not yet completed) when the vCPU was switched
    /// out: it is parked inactive and made active again when the vCPU is loaded.
    pub vtimer_active: bool,
}

/// One vCPU.
pub struct Vcpu {
    /// vCPU id inside its domain.
    pub id: u32,
    /// Its MPIDR (VMPIDR_EL2).
    pub mpidr: u64,
    /// The pCPU it runs on.
    pub pcpu: usize,
    /// PSCI power state.
    pub power: Mutex<Power>,
    /// Register state.
    pub arch: Mutex<VcpuArch>,
    /// Set by another pCPU (or an interrupt) when the vCPU has something new to look at.
    pub kicked: AtomicBool,
    /// Blocked (WFI) and switched out: runnable again when it has an interrupt, is kicked, or
    /// its virtual timer deadline `wake_at` (physical counter) passes.
    pub blocked: AtomicBool,
    /// Physical-counter deadline of the switched-out vCPU's virtual timer (u64::MAX: none).
    pub wake_at: AtomicU64,
}

impl Vcpu {
    /// A powered-off vCPU.
    pub fn new(id: u32, mpidr: u64, pcpu: usize) -> Self {
        Self {
            id,
            mpidr,
            pcpu,
            power: Mutex::new(Power::Off),
            arch: Mutex::new(VcpuArch {
                regs: GuestRegs::default(),
                el1: El1Regs::reset(),
                fp: FpRegs::default(),
                vif: VcpuIfState::default(),
                vtimer_active: false,
            }),
            kicked: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            wake_at: AtomicU64::new(u64::MAX),
        }
    }

    /// Resets the register state for a start at `s` (boot or PSCI CPU_ON).
    pub fn reset(arch: &mut VcpuArch, s: &StartInfo) {
        arch.regs = GuestRegs::default();
        arch.regs.pc = s.entry;
        arch.regs.pstate = PSTATE_EL1H_DAIF;
        arch.regs.x[0] = s.context;
        arch.el1 = El1Regs::reset();
        arch.fp = FpRegs::default();
        arch.vif = VcpuIfState::default();
        arch.vtimer_active = false;
    }

    /// Marks the vCPU as having news.
    pub fn kick(&self) {
        self.kicked.store(true, Ordering::Release);
    }
}

/// All domains.
pub static DOMAINS: Mutex<Vec<Arc<Domain>>> = Mutex::new(Vec::new());

/// Domain `id`, if it exists.
pub fn get(id: DomId) -> Option<Arc<Domain>> {
    DOMAINS.lock().iter().find(|d| d.id == id).cloned()
}
