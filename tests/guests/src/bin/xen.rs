//! Xen guest-interface conformance: the `/hypervisor` DT node, the Xen SMCCC service,
//! `xen_version`, `console_io`, `memory_op` (shared_info, grant-table frames, reservations),
//! `vcpu_op` (vcpu_info, runstate area), 2-level event channels end to end (IPI port, upcall
//! PPI, masking, unmask delivery, status, close, bad ports), `sched_op`, `grant_table_op`,
//! `hvm_op` params and unknown hypercall numbers and sub-ops.
//!
//! Written against Debian's Xen 4.17 (`cargo xtask conformance --against xen`): every asserted
//! value is what real Xen answers as dom0 on QEMU virt (see docs/conformance.md); values that
//! depend on the build or the platform (extraversion, changeset, Spectre workarounds, memory
//! sizes) are printed as `# info` lines only. Every hypercall goes through [`call`], which turns
//! an exception (a hypervisor that UNDEFs `hvc #0xea1`) into [`FAULTED`] so the run goes on.
#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::SeqCst};

use test_guests::xen::*;
use test_guests::{
    catch_fault, check, delay_us, gic, info, irq_disable, irq_enable, set_irq_handler, skip,
    wait_for, Board,
};

test_guests::entry!(main);

/// [`call`]'s result when the `hvc` raised an exception instead of returning.
const FAULTED: i64 = i64::MIN;
/// A guest virtual address outside the 39-bit VA range this runtime maps (TCR_EL1.T0SZ = 25):
/// every stage-1 translation of it faults.
const BAD_VA: u64 = 0xff_dead_0000;
/// A hypercall sub-op no header defines.
const UNKNOWN_SUBOP: u64 = 0x7fff;
/// How long an event may take to arrive.
const UPCALL_WAIT_MS: u64 = 200;

/// A page shared with the hypervisor (it writes it behind the compiler's back).
#[repr(transparent)]
struct Shared(UnsafeCell<Page>);
// SAFETY: the page is only accessed through raw volatile/atomic accesses at its address.
unsafe impl Sync for Shared {}
impl Shared {
    const fn new() -> Shared {
        Shared(UnsafeCell::new(Page::zeroed()))
    }
    fn addr(&self) -> u64 {
        self.0.get() as u64
    }
    fn fill(&self, byte: u8) {
        // SAFETY: a page-sized static; no reference to its contents exists.
        unsafe { core::ptr::write_bytes(self.0.get() as *mut u8, byte, 4096) };
    }
}

/// The RAM page whose frame becomes shared_info (XENMEM_add_to_physmap), as Linux does.
static SHINFO_PAGE: Shared = Shared::new();
/// The page holding our vcpu_info (VCPUOP_register_vcpu_info) and runstate area.
static VCPU_PAGE: Shared = Shared::new();
/// Offset of vcpu_info in [`VCPU_PAGE`] (8-byte aligned, away from the page start).
const VCPU_INFO_OFF: u64 = 0x40;
/// Offset of the runstate area in [`VCPU_PAGE`].
const RUNSTATE_OFF: u64 = 0x200;

/// shared_info address once mapped (0 = not mapped).
static SHINFO: AtomicU64 = AtomicU64::new(0);
/// vcpu_info address in use (0 = none known).
static VCPU_INFO: AtomicU64 = AtomicU64::new(0);
/// Upcalls taken, and what the handler saw.
static UPCALLS: AtomicU32 = AtomicU32::new(0);
static SAW_UPCALL_PENDING: AtomicU8 = AtomicU8::new(0);
static SAW_SEL: AtomicU64 = AtomicU64::new(0);
static SAW_PORTS: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

/// A hypercall that survives an exception: returns [`FAULTED`] (and says so) if `hvc` traps.
fn call(nr: u64, a0: u64, a1: u64, a2: u64) -> i64 {
    let mut r = FAULTED;
    let f = catch_fault(|| r = hypercall(nr, a0, a1, a2, 0, 0));
    if let Some(f) = f {
        info!("hypercall {nr} ({a0:#x}, ...) raised an exception: {f}");
        return FAULTED;
    }
    r
}

/// `call(nr, cmd, &mut arg)`.
fn callp<T>(nr: u64, cmd: u64, arg: &mut T) -> i64 {
    call(nr, cmd, arg as *mut T as u64, 0)
}

/// Formats a result with its errno name.
struct R(i64);
impl core::fmt::Display for R {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0 == FAULTED {
            f.write_str("exception")
        } else {
            match errname(self.0) {
                "" => write!(f, "{}", self.0),
                e => write!(f, "{} ({e})", self.0),
            }
        }
    }
}

/// What the `/hypervisor` node says.
#[derive(Default)]
struct HypNode {
    /// First `reg` region: the grant-table frames.
    gnttab: Option<(u64, u64)>,
    /// Event-channel upcall INTID.
    evtchn_intid: Option<u32>,
}

fn main(b: &'static Board) {
    let hyp = dt_hypervisor(b);
    smccc();
    xen_version();
    console_io();
    memory_op();
    vcpu_op();
    event_channels(&hyp);
    sched_op();
    grant_table(&hyp);
    hvm_op(&hyp);
    let r = call(UNDEFINED_HYPERCALL, 0, 0, 0);
    check!(r == -ENOSYS, "unknown hypercall {UNDEFINED_HYPERCALL} is -ENOSYS"; "returned {}", R(r));
    let r = call(1000, 0, 0, 0);
    check!(r == -ENOSYS, "hypercall number 1000 (past the table) is -ENOSYS"; "returned {}", R(r));
    evtchn_fifo_last();
}

fn be32(v: &[u8], i: usize) -> Option<u32> {
    let s = v.get(i * 4..i * 4 + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

const DT_COMPAT: &str = "/hypervisor is compatible with xen,xen-4.17 and xen,xen";
const DT_REG: &str = "/hypervisor reg has a grant-table region (first, page-aligned, >= 1 page)";
const DT_INTERRUPTS: &str = "/hypervisor interrupts is one PPI (3 cells, type 1)";

/// 1. The `/hypervisor` node (Xen's docs/misc/arm/device-tree/guest.txt).
fn dt_hypervisor(b: &Board) -> HypNode {
    let fdt = b.fdt();
    let mut h = HypNode::default();
    let Some(n) = fdt.find_node("/hypervisor") else {
        for d in [DT_COMPAT, DT_REG, DT_INTERRUPTS] {
            check!(false, "{d}"; "the DT has no /hypervisor node");
        }
        return h;
    };
    let compat: [bool; 2] = n.compatible().map_or([false; 2], |c| {
        [
            c.all().any(|s| s == "xen,xen-4.17"),
            c.all().any(|s| s == "xen,xen"),
        ]
    });
    let first = n.compatible().map(|c| c.first());
    info!("/hypervisor compatible[0] = {first:?}");
    check!(compat == [true, true], "{DT_COMPAT}";
        "xen,xen-4.17: {}, xen,xen: {}", compat[0], compat[1]);
    let mut nregs = 0;
    for r in n.reg().into_iter().flatten() {
        let (base, size) = (r.starting_address as u64, r.size.unwrap_or(0) as u64);
        info!("/hypervisor reg[{nregs}] = {base:#x} + {size:#x}");
        if nregs == 0 {
            h.gnttab = Some((base, size));
        }
        nregs += 1;
    }
    check!(h.gnttab.is_some_and(|(base, size)| base % 4096 == 0 && size >= 4096),
        "{DT_REG}";
        "{nregs} regions, first {:x?}", h.gnttab);
    let ints = n.property("interrupts").map(|p| p.value).unwrap_or(&[]);
    let (ty, num, flags) = (be32(ints, 0), be32(ints, 1), be32(ints, 2));
    info!("/hypervisor interrupts = <{ty:?} {num:?} {flags:?}>");
    if let (Some(1), Some(num)) = (ty, num) {
        h.evtchn_intid = Some(16 + num);
        info!("event-channel upcall is PPI {num} (INTID {})", 16 + num);
    }
    check!(h.evtchn_intid.is_some() && ints.len() == 12,
        "{DT_INTERRUPTS}"; "{} bytes: type {ty:?} num {num:?}", ints.len());
    h
}

/// 2. The SMCCC services Xen implements (xen/arch/arm/vsmc.c).
fn smccc() {
    let expect = uid_words(XEN_SMCCC_UID);
    info!(
        "Xen's UID as w0-w3 = {:08x} {:08x} {:08x} {:08x}",
        expect[0], expect[1], expect[2], expect[3]
    );
    let r = smccc_hvc(ARM_SMCCC_CALL_UID_FID_HYPERVISOR, 0);
    let got = [r[0] as u32, r[1] as u32, r[2] as u32, r[3] as u32];
    info!(
        "hypervisor-service UID (0x8500ff01) w0-w3 = {:08x} {:08x} {:08x} {:08x}",
        got[0], got[1], got[2], got[3]
    );
    check!(got == expect, "SMCCC hypervisor-service UID (0x8500ff01) is XEN_SMCCC_UID";
        "got {got:08x?}, Xen's is {expect:08x?}");
    let r = smccc_hvc(ARM_SMCCC_CALL_COUNT_FID_HYPERVISOR, 0);
    check!(r[0] == 3, "SMCCC hypervisor-service call count (0x8500ff00) is 3"; "returned {}", r[0] as i64);
    let r = smccc_hvc(ARM_SMCCC_REVISION_FID_HYPERVISOR, 0);
    check!((r[0] as u32, r[1] as u32) == XEN_SMCCC_REVISION,
        "SMCCC hypervisor-service revision (0x8500ff03) is 0.1"; "returned {}.{}", r[0] as i64, r[1] as i64);
    let r = smccc_hvc(ARM_SMCCC_VENDOR_HYP_CALL_UID, 0)[0] as i32;
    info!("vendor-specific hypervisor UID (0x8600ff01) w0 = {r}");
    check!(r == ARM_SMCCC_NOT_SUPPORTED, "SMCCC vendor-specific hypervisor UID (0x8600ff01, KVM's) is NOT_SUPPORTED";
        "returned {r}");
    let v = smccc_hvc(ARM_SMCCC_VERSION_FID, 0)[0] as u32;
    check!(v == ARM_SMCCC_VERSION_1_1, "SMCCC_VERSION is 1.1 (0x10001)"; "returned {v:#x}");
    for (name, fid) in [
        ("ARCH_WORKAROUND_1", ARM_SMCCC_ARCH_WORKAROUND_1_FID),
        ("ARCH_WORKAROUND_2", ARM_SMCCC_ARCH_WORKAROUND_2_FID),
        ("ARCH_WORKAROUND_3", ARM_SMCCC_ARCH_WORKAROUND_3_FID),
    ] {
        let r = smccc_hvc(ARM_SMCCC_ARCH_FEATURES_FID, fid.into())[0] as i32;
        info!("SMCCC_ARCH_FEATURES({name} {fid:#x}) = {r}");
        check!((-2..=1).contains(&r), "SMCCC_ARCH_FEATURES({name}) answers SUCCESS, NOT_SUPPORTED or NOT_REQUIRED";
            "returned {r}");
    }
    let r = smccc_hvc(ARM_SMCCC_ARCH_FEATURES_FID, 0x8000_00ff)[0] as i32;
    check!(r == ARM_SMCCC_NOT_SUPPORTED, "SMCCC_ARCH_FEATURES(0x800000ff, no such function) is NOT_SUPPORTED"; "returned {r}");
}

/// 3. xen_version (xen/common/kernel.c).
fn xen_version() {
    const XV: u64 = __HYPERVISOR_xen_version;
    let v = call(XV, XENVER_version, 0, 0);
    if v >= 0 {
        info!("XENVER_version = {v:#x} ({}.{})", v >> 16, v & 0xffff);
    }
    check!(v == (4 << 16 | 17), "XENVER_version is 4.17"; "returned {}", R(v));

    let mut extra = [0u8; XEN_EXTRAVERSION_LEN];
    let r = call(XV, XENVER_extraversion, extra.as_mut_ptr() as u64, 0);
    info!("XENVER_extraversion = {:?}", cstr(&extra));
    check!(r == 0 && extra.contains(&0), "XENVER_extraversion returns 0 and a NUL-terminated string";
        "returned {}", R(r));

    let mut caps = [0u8; XEN_CAPABILITIES_INFO_LEN];
    let r = call(XV, XENVER_capabilities, caps.as_mut_ptr() as u64, 0);
    info!("XENVER_capabilities = {:?}", cstr(&caps));
    check!(r == 0 && cstr(&caps).split(' ').any(|c| c == "xen-3.0-aarch64"),
        "XENVER_capabilities lists xen-3.0-aarch64"; "returned {}, {:?}", R(r), cstr(&caps));

    let mut fi = xen_feature_info::default();
    let r = callp(XV, XENVER_get_features, &mut fi);
    info!("XENVER_get_features submap 0 = {:#x}", fi.submap);
    let has = |bit: u32| fi.submap & (1 << bit) != 0;
    check!(r == 0, "XENVER_get_features(0) returns 0"; "returned {}", R(r));
    for (bit, name) in [
        (XENFEAT_writable_page_tables, "writable_page_tables"),
        (XENFEAT_auto_translated_physmap, "auto_translated_physmap"),
        (XENFEAT_dom0, "dom0"),
        (
            XENFEAT_memory_op_vnode_supported,
            "memory_op_vnode_supported",
        ),
        (XENFEAT_ARM_SMCCC_supported, "ARM_SMCCC_supported"),
    ] {
        check!(has(bit), "XENFEAT_{name} is set"; "submap={:#x}", fi.submap);
    }
    check!(has(XENFEAT_direct_mapped) != has(XENFEAT_not_direct_mapped),
        "exactly one of XENFEAT_direct_mapped / not_direct_mapped is set"; "submap={:#x}", fi.submap);
    info!("dom0 direct-mapped: {}", has(XENFEAT_direct_mapped));
    let mut fi1 = xen_feature_info {
        submap_idx: 1,
        submap: 0,
    };
    let r = callp(XV, XENVER_get_features, &mut fi1);
    check!(r == -EINVAL, "XENVER_get_features(submap 1) is -EINVAL"; "returned {}", R(r));

    let r = call(XV, XENVER_pagesize, 0, 0);
    check!(r == 4096, "XENVER_pagesize (NULL arg) is 4096"; "returned {}", R(r));

    let mut cs = [0u8; XEN_CHANGESET_INFO_LEN];
    let r = call(XV, XENVER_changeset, cs.as_mut_ptr() as u64, 0);
    info!("XENVER_changeset = {:?}", cstr(&cs));
    check!(r == 0 && cs.contains(&0), "XENVER_changeset returns 0 and a NUL-terminated string"; "returned {}", R(r));

    let mut cl = [0xffu8; XEN_COMMANDLINE_LEN];
    let r = call(XV, XENVER_commandline, cl.as_mut_ptr() as u64, 0);
    info!("XENVER_commandline = {:?}", cstr(&cl));
    check!(r == 0 && cstr(&cl).contains("dom0_mem="), "XENVER_commandline returns Xen's command line (has dom0_mem=)";
        "returned {}, {:?}", R(r), cstr(&cl));

    let r = call(XV, UNKNOWN_SUBOP, 0, 0);
    check!(r == -ENOSYS, "xen_version unknown sub-op {UNKNOWN_SUBOP:#x} is -ENOSYS"; "returned {}", R(r));
    let r = call(XV, XENVER_extraversion, BAD_VA, 0);
    check!(r == -EFAULT, "XENVER_extraversion to an unmapped VA is -EFAULT"; "returned {}", R(r));
    let r = call(XV, XENVER_commandline, BAD_VA, 0);
    check!(r == -EFAULT, "XENVER_commandline to an unmapped VA is -EFAULT"; "returned {}", R(r));
    let r = call(XV, XENVER_get_features, BAD_VA, 0);
    check!(r == -EFAULT, "XENVER_get_features from an unmapped VA is -EFAULT"; "returned {}", R(r));
}

/// 4. console_io (xen/drivers/char/console.c).
fn console_io() {
    const LINE: &[u8] = b"# console_io: a line written with CONSOLEIO_write\n";
    let r = call(
        __HYPERVISOR_console_io,
        CONSOLEIO_write,
        LINE.len() as u64,
        LINE.as_ptr() as u64,
    );
    info!("CONSOLEIO_write of {} bytes returned {}", LINE.len(), R(r));
    check!(r == 0, "CONSOLEIO_write returns 0"; "returned {}", R(r));
    let r = call(__HYPERVISOR_console_io, CONSOLEIO_write, 0, 0);
    check!(r == 0, "CONSOLEIO_write of 0 bytes (NULL) returns 0"; "returned {}", R(r));
    let r = call(__HYPERVISOR_console_io, CONSOLEIO_write, 16, BAD_VA);
    check!(r == -EFAULT, "CONSOLEIO_write from an unmapped VA is -EFAULT"; "returned {}", R(r));
    let r = call(__HYPERVISOR_console_io, UNKNOWN_SUBOP, 0, 0);
    check!(r == -ENOSYS, "console_io unknown sub-op is -ENOSYS"; "returned {}", R(r));
}

/// 5. memory_op (xen/common/memory.c, xen/arch/arm/mm.c).
fn memory_op() {
    const MO: u64 = __HYPERVISOR_memory_op;
    let r = call(MO, XENMEM_maximum_ram_page, 0, 0);
    info!("XENMEM_maximum_ram_page = {}", R(r));
    check!(r > 0, "XENMEM_maximum_ram_page is positive"; "returned {}", R(r));
    let mut dom = DOMID_SELF;
    let cur = callp(MO, XENMEM_current_reservation, &mut dom);
    let mut dom = DOMID_SELF;
    let max = callp(MO, XENMEM_maximum_reservation, &mut dom);
    info!(
        "XENMEM_current_reservation = {} pages, maximum_reservation = {}",
        R(cur),
        R(max)
    );
    check!(cur > 0, "XENMEM_current_reservation(DOMID_SELF) is positive"; "returned {}", R(cur));
    check!(max >= cur, "XENMEM_maximum_reservation >= current_reservation"; "max {}, current {}", R(max), R(cur));
    let mut dom = 0x7ff5u16; // no such domain (DOMID_FIRST_RESERVED + 5)
    let r = callp(MO, XENMEM_current_reservation, &mut dom);
    check!(r == -ESRCH, "XENMEM_current_reservation of a nonexistent domid is -ESRCH"; "returned {}", R(r));
    let r = call(MO, UNKNOWN_SUBOP, 0, 0);
    check!(r == -ENOSYS, "memory_op unknown sub-op is -ENOSYS"; "returned {}", R(r));

    // shared_info into one of our own RAM pages, as Linux on ARM does.
    SHINFO_PAGE.fill(0xa5);
    let gpfn = SHINFO_PAGE.addr() >> 12;
    let mut x = xen_add_to_physmap {
        domid: DOMID_SELF,
        size: 0,
        space: XENMAPSPACE_shared_info,
        idx: 0,
        gpfn,
    };
    let r = callp(MO, XENMEM_add_to_physmap, &mut x);
    check!(r == 0, "XENMEM_add_to_physmap(shared_info, idx 0) at a RAM gfn is 0"; "returned {}, gpfn {gpfn:#x}", R(r));
    if r == 0 {
        let a = SHINFO_PAGE.addr();
        // SAFETY: the shared_info page is mapped at `a` (identity map, page-aligned static).
        let (ver, sec, nsec, hi, mask0) = unsafe {
            (
                peek::<u32>(a + shared_info::WC_VERSION as u64),
                peek::<u32>(a + shared_info::WC_SEC as u64),
                peek::<u32>(a + shared_info::WC_NSEC as u64),
                peek::<u32>(a + shared_info::WC_SEC_HI as u64),
                peek::<u64>(a + shared_info::EVTCHN_MASK as u64),
            )
        };
        info!("shared_info wc_version={ver} wc_sec={sec} wc_nsec={nsec} wc_sec_hi={hi} evtchn_mask[0]={mask0:#x}");
        check!(ver != 0xa5a5_a5a5 && mask0 != 0xa5a5_a5a5_a5a5_a5a5,
            "the gfn now shows shared_info (not the page's old contents)"; "wc_version={ver:#x} evtchn_mask[0]={mask0:#x}");
        check!(ver % 2 == 0, "shared_info wc_version is even (no update in progress)"; "wc_version={ver}");
        check!(nsec < 1_000_000_000, "shared_info wc_nsec < 1e9"; "wc_nsec={nsec}");
        SHINFO.store(a, SeqCst);
        VCPU_INFO.store(a + shared_info::VCPU_INFO0 as u64, SeqCst);
        let mut again = xen_add_to_physmap {
            domid: DOMID_SELF,
            size: 0,
            space: XENMAPSPACE_shared_info,
            idx: 0,
            gpfn,
        };
        let r = callp(MO, XENMEM_add_to_physmap, &mut again);
        check!(r == -EBUSY, "mapping shared_info again (still mapped) is -EBUSY"; "returned {}", R(r));
    }
    let mut bad = xen_add_to_physmap {
        domid: DOMID_SELF,
        size: 0,
        space: XENMAPSPACE_shared_info,
        idx: 1,
        gpfn,
    };
    let r = callp(MO, XENMEM_add_to_physmap, &mut bad);
    check!(r == -EINVAL, "XENMEM_add_to_physmap(shared_info, idx 1) is -EINVAL"; "returned {}", R(r));
    let mut bad = xen_add_to_physmap {
        domid: DOMID_SELF,
        size: 0,
        space: 99,
        idx: 0,
        gpfn,
    };
    let r = callp(MO, XENMEM_add_to_physmap, &mut bad);
    info!("XENMEM_add_to_physmap(space 99) = {}", R(r));
    check!(r == -ENOSYS, "XENMEM_add_to_physmap with an unknown space is -ENOSYS"; "returned {}", R(r));
    let r = call(MO, XENMEM_add_to_physmap, BAD_VA, 0);
    check!(r == -EFAULT, "XENMEM_add_to_physmap from an unmapped VA is -EFAULT"; "returned {}", R(r));
}

/// Check 6, vcpu_op (xen/arch/arm/domain.c: only register_vcpu_info and
/// register_runstate_memory_area; common/domain.c).
fn vcpu_op() {
    const VO: u64 = __HYPERVISOR_vcpu_op;
    let page = VCPU_PAGE.addr();
    let gfn = page >> 12;
    let mut x = vcpu_register_vcpu_info {
        mfn: gfn,
        offset: 4096 - 16,
        rsvd: 0,
    };
    let r = call(VO, VCPUOP_register_vcpu_info, 0, &mut x as *mut _ as u64);
    check!(r == -ENXIO, "register_vcpu_info with vcpu_info crossing the page end is -ENXIO"; "returned {}", R(r));
    x.offset = 0x44;
    let r = call(VO, VCPUOP_register_vcpu_info, 0, &mut x as *mut _ as u64);
    check!(r == -ENXIO, "register_vcpu_info at a misaligned offset is -ENXIO"; "returned {}", R(r));
    x.offset = VCPU_INFO_OFF as u32;
    let r = call(VO, VCPUOP_register_vcpu_info, 64, &mut x as *mut _ as u64);
    check!(r == -ENOENT, "register_vcpu_info for a nonexistent vcpu is -ENOENT"; "returned {}", R(r));

    VCPU_PAGE.fill(0x5a);
    let r = call(VO, VCPUOP_register_vcpu_info, 0, &mut x as *mut _ as u64);
    check!(r == 0, "register_vcpu_info(vcpu 0) at a RAM page is 0"; "returned {}, gfn {gfn:#x}", R(r));
    if r == 0 {
        let vi = page + VCPU_INFO_OFF;
        VCPU_INFO.store(vi, SeqCst);
        // SAFETY: `vi` is inside VCPU_PAGE, 8-byte aligned.
        let (pending, pad, sel) = unsafe {
            (
                peek::<u8>(vi + vcpu_info::EVTCHN_UPCALL_PENDING as u64),
                peek::<u8>(vi + vcpu_info::PAD0 as u64),
                peek::<u64>(vi + vcpu_info::EVTCHN_PENDING_SEL as u64),
            )
        };
        info!("new vcpu_info: upcall_pending={pending} pad0={pad:#x} pending_sel={sel:#x}");
        check!(pending == 1 && sel == u64::MAX,
            "register_vcpu_info marks everything pending in the new vcpu_info"; "upcall_pending={pending} pending_sel={sel:#x}");
        let r = call(VO, VCPUOP_register_vcpu_info, 0, &mut x as *mut _ as u64);
        check!(r == -EINVAL, "registering vcpu_info again for vcpu 0 is -EINVAL"; "returned {}", R(r));
    }

    let r = call(VO, VCPUOP_is_up, 0, 0);
    info!("VCPUOP_is_up(0) = {}", R(r));
    check!(r == -EINVAL, "VCPUOP_is_up(vcpu 0) is -EINVAL (ARM implements only the two register ops)"; "returned {}", R(r));
    let r = call(VO, VCPUOP_is_up, 64, 0);
    check!(r == -ENOENT, "VCPUOP_is_up(nonexistent vcpu 64) is -ENOENT"; "returned {}", R(r));
    let r = call(VO, VCPUOP_up, 1, 0);
    check!(r == -EINVAL, "VCPUOP_up(vcpu 1) is -EINVAL on ARM (PSCI CPU_ON instead)"; "returned {}", R(r));

    let area = page + RUNSTATE_OFF;
    let mut ra = vcpu_register_runstate_memory_area { addr: area };
    let r = call(
        VO,
        VCPUOP_register_runstate_memory_area,
        0,
        &mut ra as *mut _ as u64,
    );
    check!(r == 0, "register_runstate_memory_area(vcpu 0) is 0"; "returned {}", R(r));
    // SAFETY: `area` is inside VCPU_PAGE, 8-byte aligned.
    let rs: vcpu_runstate_info = unsafe { peek(area) };
    info!(
        "runstate: state={} entry={} time={:?}",
        rs.state, rs.state_entry_time, rs.time
    );
    check!(rs.state == RUNSTATE_running, "the runstate area says RUNSTATE_running"; "state={:#x}", rs.state);
    check!(rs.state_entry_time & !(1 << 63) != 0x5a5a_5a5a_5a5a_5a5a & !(1 << 63) && rs.time[0] != 0x5a5a_5a5a_5a5a_5a5a,
        "the runstate area is filled in (times written)"; "{rs:?}");
    let mut ra1 = vcpu_register_runstate_memory_area { addr: BAD_VA };
    let r = call(
        VO,
        VCPUOP_register_runstate_memory_area,
        0,
        &mut ra1 as *mut _ as u64,
    );
    info!("register_runstate_memory_area(unmapped VA) = {}", R(r));
    // Put it back: the area is written on every context switch.
    let r2 = call(
        VO,
        VCPUOP_register_runstate_memory_area,
        0,
        &mut ra as *mut _ as u64,
    );
    check!(r2 == 0, "re-registering the runstate area is 0"; "returned {}", R(r2));
}

/// The event-channel upcall: what Linux's `xen_evtchn_do_upcall` does for the 2-level ABI.
fn upcall(_intid: u32) {
    UPCALLS.fetch_add(1, SeqCst);
    let vi = VCPU_INFO.load(SeqCst);
    let sh = SHINFO.load(SeqCst);
    if vi == 0 {
        return;
    }
    // SAFETY: `vi` is the registered vcpu_info (or shared_info's), mapped and 8-byte aligned;
    // Xen updates these words with atomics, so the guest does too.
    let (pending, sel) = unsafe {
        let p = &*((vi + vcpu_info::EVTCHN_UPCALL_PENDING as u64) as *const AtomicU8);
        let s = &*((vi + vcpu_info::EVTCHN_PENDING_SEL as u64) as *const AtomicU64);
        (p.swap(0, SeqCst), s.swap(0, SeqCst))
    };
    SAW_UPCALL_PENDING.fetch_or(pending, SeqCst);
    SAW_SEL.fetch_or(sel, SeqCst);
    if sh == 0 {
        return;
    }
    for w in 0..64u64 {
        if sel & (1 << w) == 0 {
            continue;
        }
        // SAFETY: shared_info's evtchn_pending/evtchn_mask words, mapped and aligned.
        let (p, m) = unsafe {
            (
                &*((sh + shared_info::EVTCHN_PENDING as u64 + 8 * w) as *const AtomicU64),
                &*((sh + shared_info::EVTCHN_MASK as u64 + 8 * w) as *const AtomicU64),
            )
        };
        let ready = p.load(SeqCst) & !m.load(SeqCst);
        p.fetch_and(!ready, SeqCst);
        SAW_PORTS[w as usize].fetch_or(ready, SeqCst);
    }
}

fn reset_seen() {
    UPCALLS.store(0, SeqCst);
    SAW_UPCALL_PENDING.store(0, SeqCst);
    SAW_SEL.store(0, SeqCst);
    SAW_PORTS.iter().for_each(|w| w.store(0, SeqCst));
}

fn saw_port(port: u32) -> bool {
    SAW_PORTS[(port / 64) as usize % 64].load(SeqCst) & (1 << (port % 64)) != 0
}

/// The 2-level bit of `port` in shared_info's `evtchn_pending` or `evtchn_mask`.
fn shinfo_bit(array: usize, port: u32) -> Option<bool> {
    let sh = SHINFO.load(SeqCst);
    if sh == 0 || port >= EVTCHN_2L_NR_CHANNELS {
        return None;
    }
    // SAFETY: inside the mapped shared_info page, 8-byte aligned.
    let w: u64 = unsafe { peek(sh + array as u64 + 8 * u64::from(port / 64)) };
    Some(w & (1 << (port % 64)) != 0)
}

fn set_mask(port: u32, on: bool) {
    let sh = SHINFO.load(SeqCst);
    if sh == 0 || port >= EVTCHN_2L_NR_CHANNELS {
        return;
    }
    // SAFETY: inside the mapped shared_info page, 8-byte aligned; Xen uses atomics on it too.
    let m = unsafe {
        &*((sh + shared_info::EVTCHN_MASK as u64 + 8 * u64::from(port / 64)) as *const AtomicU64)
    };
    if on {
        m.fetch_or(1 << (port % 64), SeqCst);
    } else {
        m.fetch_and(!(1 << (port % 64)), SeqCst);
    }
}

fn evtchn_status(port: u32) -> (i64, evtchn_status) {
    let mut s = evtchn_status {
        dom: DOMID_SELF,
        port,
        ..Default::default()
    };
    let r = callp(__HYPERVISOR_event_channel_op, EVTCHNOP_status, &mut s);
    (r, s)
}

fn send(port: u32) -> i64 {
    let mut s = evtchn_port { port };
    callp(__HYPERVISOR_event_channel_op, EVTCHNOP_send, &mut s)
}

/// 7. event_channel_op, 2-level ABI (xen/common/event_channel.c, event_2l.c).
fn event_channels(h: &HypNode) {
    const EO: u64 = __HYPERVISOR_event_channel_op;
    let ready = match (h.evtchn_intid, gic::init_cpu()) {
        (Some(intid), Ok(())) => {
            set_irq_handler(intid, upcall);
            gic::enable(intid);
            irq_enable();
            // register_vcpu_info marked everything pending: that spurious upcall comes now.
            let spurious = wait_for(UPCALL_WAIT_MS, || UPCALLS.load(SeqCst) > 0);
            info!(
                "upcall PPI INTID {intid} enabled; spurious upcall after registration: {spurious} (sel {:#x})",
                SAW_SEL.load(SeqCst)
            );
            true
        }
        (i, g) => {
            info!("no upcall: intid {i:?}, GIC {g:?}");
            false
        }
    };

    let mut au = evtchn_alloc_unbound {
        dom: DOMID_SELF,
        remote_dom: DOMID_SELF,
        port: 0,
    };
    let r = callp(EO, EVTCHNOP_alloc_unbound, &mut au);
    info!("EVTCHNOP_alloc_unbound = {}, port {}", R(r), au.port);
    check!(r == 0 && au.port > 0, "EVTCHNOP_alloc_unbound(self, self) gives a port > 0"; "returned {}, port {}", R(r), au.port);
    let unbound = au.port;
    let (r, st) = evtchn_status(unbound);
    check!(r == 0 && st.status == EVTCHNSTAT_unbound && st.u[0] & 0xffff == 0,
        "EVTCHNOP_status of it is unbound, remote dom 0"; "returned {}, {st:?}", R(r));
    let r = send(unbound);
    check!(r == 0, "EVTCHNOP_send on an unbound port is 0 (dropped)"; "returned {}", R(r));

    let mut bi = evtchn_bind_ipi { vcpu: 0, port: 0 };
    let r = callp(EO, EVTCHNOP_bind_ipi, &mut bi);
    info!("EVTCHNOP_bind_ipi(vcpu 0) = {}, port {}", R(r), bi.port);
    check!(r == 0 && bi.port > 0 && bi.port != unbound, "EVTCHNOP_bind_ipi(vcpu 0) gives a new port"; "returned {}, port {}", R(r), bi.port);
    let ipi = bi.port;
    let (r, st) = evtchn_status(ipi);
    check!(r == 0 && st.status == EVTCHNSTAT_ipi && st.vcpu == 0, "EVTCHNOP_status of it is ipi on vcpu 0"; "returned {}, {st:?}", R(r));
    let mut bad = evtchn_bind_ipi { vcpu: 64, port: 0 };
    let r = callp(EO, EVTCHNOP_bind_ipi, &mut bad);
    check!(r == -ENOENT, "EVTCHNOP_bind_ipi to a nonexistent vcpu is -ENOENT"; "returned {}", R(r));

    info!(
        "port {ipi}: mask bit {:?}, pending bit {:?}",
        shinfo_bit(shared_info::EVTCHN_MASK, ipi),
        shinfo_bit(shared_info::EVTCHN_PENDING, ipi)
    );
    if ready && SHINFO.load(SeqCst) != 0 {
        set_mask(ipi, false);
        reset_seen();
        let r = send(ipi);
        check!(r == 0, "EVTCHNOP_send to the IPI port is 0"; "returned {}", R(r));
        let got = wait_for(UPCALL_WAIT_MS, || saw_port(ipi));
        check!(got, "the upcall PPI fires with the port pending";
            "upcalls {}, upcall_pending seen {}, sel {:#x}", UPCALLS.load(SeqCst), SAW_UPCALL_PENDING.load(SeqCst), SAW_SEL.load(SeqCst));
        check!(SAW_UPCALL_PENDING.load(SeqCst) == 1 && SAW_SEL.load(SeqCst) & (1 << (ipi / 64)) != 0,
            "evtchn_upcall_pending and the selector bit were set";
            "upcall_pending {}, sel {:#x}", SAW_UPCALL_PENDING.load(SeqCst), SAW_SEL.load(SeqCst));

        set_mask(ipi, true);
        reset_seen();
        let r = send(ipi);
        delay_us(UPCALL_WAIT_MS * 1000 / 2);
        let pend = shinfo_bit(shared_info::EVTCHN_PENDING, ipi);
        check!(r == 0 && UPCALLS.load(SeqCst) == 0 && pend == Some(true),
            "send to a masked port: no upcall, pending bit set"; "returned {}, upcalls {}, pending {pend:?}", R(r), UPCALLS.load(SeqCst));
        let mut u = evtchn_port { port: ipi };
        let r = callp(EO, EVTCHNOP_unmask, &mut u);
        let got = wait_for(UPCALL_WAIT_MS, || saw_port(ipi));
        check!(r == 0 && got, "EVTCHNOP_unmask delivers the pending event";
            "returned {}, upcalls {}, sel {:#x}", R(r), UPCALLS.load(SeqCst), SAW_SEL.load(SeqCst));
        check!(shinfo_bit(shared_info::EVTCHN_MASK, ipi) == Some(false), "EVTCHNOP_unmask clears the mask bit"; "");
    } else {
        for d in [
            "the upcall PPI fires with the port pending",
            "send to a masked port: no upcall, pending bit set",
            "EVTCHNOP_unmask delivers the pending event",
        ] {
            check!(false, "{d}"; "no shared_info or no upcall PPI");
        }
    }

    let mut bv = evtchn_bind_virq {
        virq: VIRQ_CONSOLE,
        vcpu: 0,
        port: 0,
    };
    let r = callp(EO, EVTCHNOP_bind_virq, &mut bv);
    info!(
        "EVTCHNOP_bind_virq(VIRQ_CONSOLE, vcpu 0) = {}, port {}",
        R(r),
        bv.port
    );
    check!(r == 0 && bv.port > 0, "EVTCHNOP_bind_virq(VIRQ_CONSOLE) as dom0 gives a port"; "returned {}", R(r));
    if r == 0 {
        let (r, st) = evtchn_status(bv.port);
        check!(r == 0 && st.status == EVTCHNSTAT_virq && st.u[0] == VIRQ_CONSOLE,
            "EVTCHNOP_status of it is virq VIRQ_CONSOLE"; "returned {}, {st:?}", R(r));
        let r = callp(EO, EVTCHNOP_bind_virq, &mut bv);
        check!(r == -EEXIST, "binding VIRQ_CONSOLE again is -EEXIST"; "returned {}", R(r));
        let mut c = evtchn_port { port: bv.port };
        let r = callp(EO, EVTCHNOP_close, &mut c);
        check!(r == 0, "EVTCHNOP_close of the VIRQ port is 0"; "returned {}", R(r));
    }

    for p in [unbound, ipi] {
        let mut c = evtchn_port { port: p };
        let r = callp(EO, EVTCHNOP_close, &mut c);
        check!(r == 0, "EVTCHNOP_close(port {p}) is 0"; "returned {}", R(r));
    }
    let (r, st) = evtchn_status(ipi);
    check!(r == 0 && st.status == EVTCHNSTAT_closed, "EVTCHNOP_status of a closed port is closed"; "returned {}, {st:?}", R(r));
    let r = send(ipi);
    check!(r == -EINVAL, "EVTCHNOP_send on a closed port is -EINVAL"; "returned {}", R(r));
    let mut c = evtchn_port { port: ipi };
    let r = callp(EO, EVTCHNOP_close, &mut c);
    info!("EVTCHNOP_close of a closed port = {}", R(r));
    for p in [EVTCHN_2L_NR_CHANNELS, 5000, u32::MAX] {
        let r = send(p);
        check!(r == -EINVAL, "EVTCHNOP_send on out-of-range port {p:#x} is -EINVAL"; "returned {}", R(r));
        let (r, _) = evtchn_status(p);
        check!(r == -EINVAL, "EVTCHNOP_status of out-of-range port {p:#x} is -EINVAL"; "returned {}", R(r));
        let mut u = evtchn_port { port: p };
        let r = callp(EO, EVTCHNOP_unmask, &mut u);
        check!(r == -EINVAL, "EVTCHNOP_unmask of out-of-range port {p:#x} is -EINVAL"; "returned {}", R(r));
    }
    let (r, st) = evtchn_status(0);
    info!("EVTCHNOP_status(port 0) = {}, status {}", R(r), st.status);
    let mut ic = evtchn_init_control {
        control_gfn: VCPU_PAGE.addr() >> 12,
        offset: 4,
        vcpu: 0,
        ..Default::default()
    };
    let r = callp(EO, EVTCHNOP_init_control, &mut ic);
    check!(r == -EINVAL, "EVTCHNOP_init_control with a misaligned offset is -EINVAL"; "returned {}", R(r));
    let r = call(EO, 99, 0, 0);
    check!(r == -ENOSYS, "event_channel_op unknown sub-op 99 is -ENOSYS"; "returned {}", R(r));
    let r = call(EO, EVTCHNOP_send, BAD_VA, 0);
    check!(r == -EFAULT, "EVTCHNOP_send from an unmapped VA is -EFAULT"; "returned {}", R(r));
}

/// The FIFO control block page (EVTCHNOP_init_control), used last: it switches the domain's ABI.
static FIFO_PAGE: Shared = Shared::new();

/// Last: EVTCHNOP_init_control switches the domain to the FIFO ABI for good.
fn evtchn_fifo_last() {
    irq_disable();
    let mut ic = evtchn_init_control {
        control_gfn: FIFO_PAGE.addr() >> 12,
        offset: 0,
        vcpu: 0,
        ..Default::default()
    };
    let r = callp(
        __HYPERVISOR_event_channel_op,
        EVTCHNOP_init_control,
        &mut ic,
    );
    info!(
        "EVTCHNOP_init_control (FIFO) = {}, link_bits {}",
        R(r),
        ic.link_bits
    );
    check!(r == 0 && ic.link_bits == 17, "EVTCHNOP_init_control switches to FIFO (link_bits 17)";
        "returned {}, link_bits {}", R(r), ic.link_bits);
    let r = callp(
        __HYPERVISOR_event_channel_op,
        EVTCHNOP_init_control,
        &mut ic,
    );
    check!(r == -EINVAL, "EVTCHNOP_init_control again for vcpu 0 is -EINVAL"; "returned {}", R(r));
}

/// 8. sched_op (xen/common/sched/core.c).
fn sched_op() {
    let r = call(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
    check!(r == 0, "SCHEDOP_yield is 0"; "returned {}", R(r));
    let r = call(__HYPERVISOR_sched_op, UNKNOWN_SUBOP, 0, 0);
    check!(r == -ENOSYS, "sched_op unknown sub-op is -ENOSYS"; "returned {}", R(r));
}

/// 9. grant_table_op (xen/common/grant_table.c) and the grant-table frame mapping.
fn grant_table(h: &HypNode) {
    const GO: u64 = __HYPERVISOR_grant_table_op;
    let mut q = gnttab_query_size {
        dom: DOMID_SELF,
        status: 0x7777,
        ..Default::default()
    };
    let r = call(GO, GNTTABOP_query_size, &mut q as *mut _ as u64, 1);
    info!(
        "GNTTABOP_query_size: nr_frames={} max_nr_frames={} status={}",
        q.nr_frames, q.max_nr_frames, q.status
    );
    check!(r == 0 && q.status == GNTST_okay && q.nr_frames >= 1 && q.max_nr_frames >= q.nr_frames,
        "GNTTABOP_query_size: status okay, 1 <= nr_frames <= max_nr_frames"; "returned {}, {q:?}", R(r));
    let r = call(GO, GNTTABOP_query_size, &mut q as *mut _ as u64, 2);
    check!(r == -EINVAL, "GNTTABOP_query_size with count 2 is -EINVAL"; "returned {}", R(r));
    let mut sv = gnttab_set_version { version: 1 };
    let r = call(GO, GNTTABOP_set_version, &mut sv as *mut _ as u64, 1);
    check!(r == 0 && sv.version == 1, "GNTTABOP_set_version(1) is 0"; "returned {}, version {}", R(r), sv.version);
    let mut gv = gnttab_get_version {
        dom: DOMID_SELF,
        ..Default::default()
    };
    let r = call(GO, GNTTABOP_get_version, &mut gv as *mut _ as u64, 1);
    check!(r == 0 && gv.version == 1, "GNTTABOP_get_version is 1"; "returned {}, version {}", R(r), gv.version);
    let mut sv2 = gnttab_set_version { version: 2 };
    let r = call(GO, GNTTABOP_set_version, &mut sv2 as *mut _ as u64, 1);
    info!(
        "GNTTABOP_set_version(2) = {}, version now {}",
        R(r),
        sv2.version
    );
    check!(r == -ENOSYS, "GNTTABOP_set_version(2) is -ENOSYS (v2 disabled on ARM)"; "returned {}", R(r));
    let mut sv3 = gnttab_set_version { version: 3 };
    let r = call(GO, GNTTABOP_set_version, &mut sv3 as *mut _ as u64, 1);
    check!(r == -EINVAL, "GNTTABOP_set_version(3) is -EINVAL"; "returned {}", R(r));
    let mut frames = [0u64; 1];
    let mut sf = gnttab_get_status_frames {
        nr_frames: 1,
        dom: DOMID_SELF,
        status: 0x7777,
        frame_list: frames.as_mut_ptr() as u64,
    };
    let r = call(GO, GNTTABOP_get_status_frames, &mut sf as *mut _ as u64, 1);
    info!(
        "GNTTABOP_get_status_frames(1) under v1 = {}, status {}",
        R(r),
        sf.status
    );
    check!(r == 0 && sf.status == GNTST_general_error,
        "GNTTABOP_get_status_frames under v1 is 0 with status GNTST_general_error"; "returned {}, status {}", R(r), sf.status);
    let r = call(GO, 99, 0, 1);
    check!(r == -ENOSYS, "grant_table_op unknown sub-op 99 is -ENOSYS"; "returned {}", R(r));
    let r = call(GO, UNKNOWN_SUBOP, 0, 1);
    check!(r == -EINVAL, "grant_table_op {UNKNOWN_SUBOP:#x} (bits above GNTTABOP_CMD_MASK) is -EINVAL"; "returned {}", R(r));

    let Some((base, _)) = h.gnttab else {
        skip(
            "XENMEM_add_to_physmap(grant_table, idx 0)",
            "no grant-table region in the DT",
        );
        return;
    };
    let mut x = xen_add_to_physmap {
        domid: DOMID_SELF,
        size: 0,
        space: XENMAPSPACE_grant_table,
        idx: 0,
        gpfn: base >> 12,
    };
    let r = callp(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, &mut x);
    check!(r == 0, "XENMEM_add_to_physmap(grant_table, idx 0) at the DT region is 0"; "returned {}, gpfn {:#x}", R(r), base >> 12);
    if r == 0 {
        let mut e0 = u64::MAX;
        // SAFETY: the frame was just mapped at `base` (identity map, Normal memory above 1 GiB);
        // a fault is caught.
        let f = catch_fault(|| e0 = unsafe { peek::<u64>(base + 8 * 8) });
        check!(f.is_none(), "the grant-table frame is readable at the DT region"; "{f:?}");
        info!("grant entry 8 (first unreserved) = {e0:#x}");
    }
    let mut x = xen_add_to_physmap {
        domid: DOMID_SELF,
        size: 0,
        space: XENMAPSPACE_grant_table,
        idx: q.max_nr_frames.into(),
        gpfn: (base >> 12) + 1,
    };
    let r = callp(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, &mut x);
    info!(
        "XENMEM_add_to_physmap(grant_table, idx max_nr_frames) = {}",
        R(r)
    );
    check!(r == -EINVAL, "XENMEM_add_to_physmap(grant_table, idx max_nr_frames) is -EINVAL"; "returned {}", R(r));
}

/// 10. hvm_op params (xen/arch/arm/hvm.c).
fn hvm_op(h: &HypNode) {
    for (name, idx) in [
        ("CALLBACK_IRQ", HVM_PARAM_CALLBACK_IRQ),
        ("STORE_PFN", HVM_PARAM_STORE_PFN),
        ("STORE_EVTCHN", HVM_PARAM_STORE_EVTCHN),
        ("CONSOLE_PFN", HVM_PARAM_CONSOLE_PFN),
        ("CONSOLE_EVTCHN", HVM_PARAM_CONSOLE_EVTCHN),
    ] {
        let mut p = xen_hvm_param {
            domid: DOMID_SELF,
            index: idx,
            value: 0xdead,
            ..Default::default()
        };
        let r = callp(__HYPERVISOR_hvm_op, HVMOP_get_param, &mut p);
        info!(
            "HVMOP_get_param(HVM_PARAM_{name}) = {}, value {:#x}",
            R(r),
            p.value
        );
        check!(r == 0, "HVMOP_get_param(HVM_PARAM_{name}) as dom0 is 0"; "returned {}", R(r));
        if idx == HVM_PARAM_CALLBACK_IRQ {
            let want = h.evtchn_intid.map(|i| {
                HVM_PARAM_CALLBACK_TYPE_PPI << 56
                    | HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_LOW_LEVEL << 8
                    | u64::from(i)
            });
            check!(Some(p.value) == want, "HVM_PARAM_CALLBACK_IRQ is the DT's upcall PPI (type PPI, level low)";
                "value {:#x}, expected {want:#x?}", p.value);
        } else {
            check!(p.value == 0, "HVM_PARAM_{name} is 0 for dom0 (no xenstore/console page)"; "value {:#x}", p.value);
        }
    }
    for idx in [HVM_NR_PARAMS, 1000] {
        let mut p = xen_hvm_param {
            domid: DOMID_SELF,
            index: idx,
            ..Default::default()
        };
        let r = callp(__HYPERVISOR_hvm_op, HVMOP_get_param, &mut p);
        check!(r == -EINVAL, "HVMOP_get_param(index {idx}) is -EINVAL"; "returned {}", R(r));
    }
    let mut p = xen_hvm_param {
        domid: 0x7ff5,
        index: HVM_PARAM_STORE_PFN,
        ..Default::default()
    };
    let r = callp(__HYPERVISOR_hvm_op, HVMOP_get_param, &mut p);
    check!(r == -ESRCH, "HVMOP_get_param of a nonexistent domid is -ESRCH"; "returned {}", R(r));
    let r = call(__HYPERVISOR_hvm_op, UNKNOWN_SUBOP, 0, 0);
    check!(r == -ENOSYS, "hvm_op unknown sub-op is -ENOSYS"; "returned {}", R(r));
}
