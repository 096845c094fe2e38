//! Domains and vCPUs as data. dom0 is domain 0 of many: nothing here assumes there is only one.

use crate::arch::context::{El1Regs, FpRegs, PSTATE_EL1H_DAIF};
use crate::arch::GuestRegs;
use crate::drivers::gic::VcpuIfState;
use addr::PAGE_SIZE;
use addr::{Ipa, Pa, Region};
use alloc::collections::BTreeMap;
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
    /// Shutdown state and the hypervisor's own pause requests.
    pub life: Lifecycle,
}

/// Xen's `SHUTDOWN_CODE_INVALID`: no shutdown code yet.
pub const SHUTDOWN_CODE_INVALID: u32 = !0;

/// A domain's shutdown state (Xen's `is_shutting_down`, `is_shut_down`, `shutdown_code`) and
/// the hypervisor's own pauses (Xen's `pause_count`, e.g. while a toolstack sets a vCPU's
/// registers).
pub struct Lifecycle {
    /// SCHEDOP_shutdown (or a crash) started: the vCPUs stop.
    pub is_shutting_down: AtomicBool,
    /// Every vCPU has stopped for the shutdown (XEN_DOMINF_shutdown).
    pub is_shut_down: AtomicBool,
    /// `SHUTDOWN_*`, or [`SHUTDOWN_CODE_INVALID`].
    pub shutdown_code: AtomicU32,
    /// Pauses by the hypervisor itself (not the toolstack's `controller_pause_count`).
    pub pause_count: AtomicU32,
    /// An AArch64 domain (XEN_DOMCTL_set_address_size 64; Xen's `DOMAIN_64BIT`). A domain the
    /// toolstack creates starts as Xen's zero value, 32-bit, which Xenith cannot run.
    pub is_64bit: AtomicBool,
}

impl Lifecycle {
    /// Running, no shutdown code.
    pub const fn new() -> Self {
        Self {
            is_shutting_down: AtomicBool::new(false),
            is_shut_down: AtomicBool::new(false),
            shutdown_code: AtomicU32::new(SHUTDOWN_CODE_INVALID),
            pause_count: AtomicU32::new(0),
            is_64bit: AtomicBool::new(false),
        }
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

/// A domain's memory accounting: the frames it owns (freed with the domain) and its limit.
#[derive(Debug, Default)]
pub struct DomMem {
    /// Runs of frames from the frame allocator the domain owns (its populated RAM): start
    /// address -> frames. Disjoint.
    chunks: BTreeMap<u64, usize>,
    /// Frames in `chunks`.
    pages: u64,
    /// XEN_DOMCTL_max_mem's limit in pages (Xen's `max_pages`).
    pub max_pages: u64,
}

impl DomMem {
    /// No frames, a limit of `max_pages`.
    pub fn new(max_pages: u64) -> Self {
        Self {
            chunks: BTreeMap::new(),
            pages: 0,
            max_pages,
        }
    }

    /// Pages the domain owns from the allocator (Xen's `tot_pages`, without dom0's boot RAM).
    pub fn tot_pages(&self) -> u64 {
        self.pages
    }

    /// Records `n` frames at `pa` (fresh from the allocator) as the domain's.
    pub fn add(&mut self, pa: Pa, n: usize) {
        self.chunks.insert(pa.0, n);
        self.pages += n as u64;
    }

    /// Whether the frame at `pa` is one the domain owns.
    pub fn owns(&self, pa: Pa) -> bool {
        let f = pa.0 & !(PAGE_SIZE - 1);
        self.chunks
            .range(..=f)
            .next_back()
            .is_some_and(|(&s, &n)| f < s + n as u64 * PAGE_SIZE)
    }

    /// Takes the frame at `pa` out of the domain's memory (the caller frees it); false if the
    /// domain does not own it.
    pub fn take_page(&mut self, pa: Pa) -> bool {
        let f = pa.0 & !(PAGE_SIZE - 1);
        let Some((&s, &n)) = self.chunks.range(..=f).next_back() else {
            return false;
        };
        let end = s + n as u64 * PAGE_SIZE;
        if f >= end {
            return false;
        }
        self.chunks.remove(&s);
        if f > s {
            self.chunks.insert(s, ((f - s) / PAGE_SIZE) as usize);
        }
        if f + PAGE_SIZE < end {
            self.chunks
                .insert(f + PAGE_SIZE, ((end - f - PAGE_SIZE) / PAGE_SIZE) as usize);
        }
        self.pages -= 1;
        true
    }

    /// Takes every run of frames (the domain is being freed).
    pub fn drain(&mut self) -> impl Iterator<Item = (Pa, usize)> {
        self.pages = 0;
        core::mem::take(&mut self.chunks)
            .into_iter()
            .map(|(s, n)| (Pa(s), n))
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
        for (pa, n) in self.mem.get_mut().drain() {
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
            || self.life.is_shutting_down.load(Ordering::Acquire)
            || self.life.pause_count.load(Ordering::Acquire) > 0
    }

    /// Whether guest frames are host frames (dom0: its RAM is mapped 1:1).
    pub fn is_direct_mapped(&self) -> bool {
        self.id == 0
    }

    /// Pages the domain owns (Xen's `tot_pages`): dom0's boot RAM and populated frames.
    pub fn tot_pages(&self) -> u64 {
        self.mem.lock().tot_pages() + self.ram_bytes / PAGE_SIZE
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
    /// Nanoseconds the vCPU has run (in the guest or in Xenith on its behalf).
    pub cpu_ns: AtomicU64,
    /// Its registers were set (booted, PSCI CPU_ON, XEN_DOMCTL_setvcpucontext): Xen's
    /// `is_initialised`.
    pub initialised: AtomicBool,
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
            cpu_ns: AtomicU64::new(0),
            initialised: AtomicBool::new(false),
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

/// Bumped whenever a domain is added to or removed from [`DOMAINS`]: a pCPU running a vCPU
/// alone re-checks whether it now shares the pCPU (and needs time slices).
pub static DOMAINS_GEN: AtomicU64 = AtomicU64::new(0);

/// Adds a domain.
pub fn insert(d: Arc<Domain>) {
    DOMAINS.lock().push(d);
    DOMAINS_GEN.fetch_add(1, Ordering::AcqRel);
}

/// Removes domain `id`.
pub fn remove(id: DomId) {
    DOMAINS.lock().retain(|d| d.id != id);
    DOMAINS_GEN.fetch_add(1, Ordering::AcqRel);
}

/// Domain `id`, if it exists.
pub fn get(id: DomId) -> Option<Arc<Domain>> {
    DOMAINS.lock().iter().find(|d| d.id == id).cloned()
}
