//! Hypercall fuzzer: N pseudo-random Xen hypercalls (`hvc #0xea1`, default 200_000, seeded
//! xorshift) and SMCCC calls (`hvc #0`) with random sub-ops and arguments, then checks that the
//! hypervisor still answers correctly (xen_version is 4.17, SMCCC_VERSION 1.1, an event-channel
//! self-send still raises the upcall, vCPU 1 is still off, this image's code is unchanged).
//!
//! Arguments mix small integers, boundary values, huge values and pointers of every kind: into a
//! scratch buffer of random bytes (aligned or not), unmapped VAs, guest-physical holes (mapped by
//! our stage 1, not by the hypervisor's stage 2), device memory, a read-only alias of this image
//! (a TTBR1 mapping set up here), and buffers that cross from writable into unmapped or
//! read-only pages. Structures are built with random fields. What is kept out, because a correct
//! hypervisor would carry it out and break the fuzzer's own world (not to hide bugs):
//! - every guest frame number handed over for mapping, unmapping, freeing, moving, copying into
//!   or registering is a page of [`PHYSMAP`] (never touched by the guest), a frame where the
//!   domain has no RAM, a small frame (flash) or one past any IPA size, with extent orders and
//!   counts that stay inside that class; gfn lists are only built by us, with counts no larger;
//! - CONSOLEIO_write only reads from unreadable pointers, count 0, or a lone newline;
//! - SCHEDOP_shutdown / remote_shutdown / shutdown_code and watchdog id 0 are never issued; a
//!   SCHEDOP_block / SCHEDOP_poll is bounded by a virtual-timer interrupt armed 2 ms ahead;
//! - VCPUOP_initialise / up / down only target nonexistent vCPUs; vCPU 0's vcpu_info is
//!   registered before the run (so re-registering it must fail);
//! - HVMOP_set_param never sets HVM_PARAM_CALLBACK_IRQ; EVTCHNOP_init_control / expand_array
//!   only name frames past RAM and devices (no switch to the FIFO ABI); sysctl / domctl never
//!   see their interface version; PSCI CPU_ON / CPU_OFF / CPU_SUSPEND / SYSTEM_* (and every other PSCI function
//!   below 0x20 but VERSION, AFFINITY_INFO, MIGRATE_INFO_*, FEATURES, NODE_HW_STATE, STAT_*)
//!   are skipped, whatever bits 31/30/23:16 say, and so are function ids 0-3, Xen's legacy
//!   PSCI 0.1 calls (x0 = 1 is CPU_OFF on Xen 4.17, x0 = 2 CPU_ON).
//!
//! `/chosen/bootargs` options: `hcfuzz.seed=S` (default 0x5eed), `hcfuzz.calls=N`,
//! `hcfuzz.trace=K` (print every call from number K on: the reproducer of a hang or crash),
//! `hcfuzz.smccc=FID` (one SMCCC call with x0 = FID before anything else).
//! The errno histogram is printed as `# info` lines (they differ between hypervisors that
//! implement different sub-ops; the checks do not depend on it).
#![no_std]
#![no_main]
#![allow(non_upper_case_globals)]

use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::SeqCst};

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    Readable, Writeable, CNTV_CTL_EL0, CNTV_CVAL_EL0, DAIF, TCR_EL1, TTBR1_EL1,
};
use test_guests::xen::{
    __HYPERVISOR_console_io, __HYPERVISOR_event_channel_op, __HYPERVISOR_grant_table_op,
    __HYPERVISOR_hvm_op, __HYPERVISOR_memory_op, __HYPERVISOR_sched_op, __HYPERVISOR_vcpu_op,
    __HYPERVISOR_xen_version, hypercall, smccc_hvc, EVTCHNOP_bind_ipi, EVTCHNOP_close,
    EVTCHNOP_send, EVTCHNOP_unmask, VCPUOP_register_vcpu_info, XENVER_extraversion, XENVER_version,
    ARM_SMCCC_VERSION_1_1, ARM_SMCCC_VERSION_FID, DOMID_SELF,
};
use test_guests::{
    catch_fault, check, gic, image_base, info, irq_enable, now, psci, set_irq_handler, skip,
    ticks_us, wait_for, Board,
};

test_guests::entry!(main);

// Hypercall numbers test_guests::xen does not name (xen.h).
const __HYPERVISOR_platform_op: u64 = 7;
const __HYPERVISOR_multicall: u64 = 13;
const __HYPERVISOR_vm_assist: u64 = 21;
const __HYPERVISOR_physdev_op: u64 = 33;
const __HYPERVISOR_sysctl: u64 = 35;
const __HYPERVISOR_domctl: u64 = 36;
/// `EVTCHNOP_reset` (event_channel.h).
const EVTCHNOP_reset: u64 = 10;
/// `XENPF_INTERFACE_VERSION` (platform.h).
const XENPF_INTERFACE_VERSION: u64 = 0x0300_0001;
/// `XENPF_settime64` (platform.h).
const XENPF_settime64: u64 = 62;
/// `MEMOP_CMD_MASK` / `MEMOP_EXTENT_SHIFT` (memory.h): memory_op's command and the
/// continuation's start extent above it.
const MEMOP_CMD_MASK: u64 = 0x3f;
const MEMOP_EXTENT_SHIFT: u64 = 6;
/// `GNTTABOP_CMD_MASK` (grant_table.h).
const GNTTABOP_CMD_MASK: u64 = 0xfff;

/// Calls by default: about 12 s of TCG per machine on this project's 2-core host (50_000 take
/// 3 s of virtual time under either hypervisor), well inside the xtask's 60 s per guest.
const DEFAULT_CALLS: u64 = 200_000;
const DEFAULT_SEED: u64 = 0x5eed;
/// One iteration in this many is an SMCCC call instead of a hypercall.
const SMCCC_ONE_IN: u64 = 10;
/// The safety timer that bounds SCHEDOP_block / SCHEDOP_poll.
const SAFETY_TIMER_US: u64 = 2_000;
/// [`call`] result when the `hvc` raised an exception.
const FAULTED: i64 = i64::MIN;

/// Where the domain has no RAM and no device on QEMU virt: guest-physical 64 GiB (frames past it
/// are holes in every stage 2 this guest meets; its own stage 1 maps them as Normal memory).
/// The fuzzer maps things over frames from here on (at most 256 MiB of them).
const NONRAM_GFN: u64 = 0x100_0000;
/// Guest-physical addresses never mapped by anything: 128 GiB + up to 16 MiB.
const HOLE_IPA: u64 = 0x20_0000_0000;
/// Start of the TTBR1 window of VAs set up by [`setup_ttbr1`].
const WINDOW: u64 = 0xffff_ff80_0000_0000;
/// Window pages: read-only alias of the image from page 0; then the crossings.
const W_RW_TO_HOLE: u64 = 300; // 300: scratch page 15 RW, 301: unmapped
const W_RO_TO_RW: u64 = 302; // 302: scratch page 14 RO, 303: scratch page 15 RW
const W_RW_TO_RO: u64 = 310; // 310: scratch page 13 RW, 311: scratch page 12 RO
/// Most image pages aliased read-only.
const MAX_RO_PAGES: u64 = 256;

/// Page-aligned memory the hypervisor reads and writes behind the compiler's back: accessed only
/// through raw pointers at its address.
#[repr(C, align(4096))]
struct Pages<const N: usize>(UnsafeCell<[[u8; 4096]; N]>);
// SAFETY: only accessed through raw pointers (volatile/unaligned reads and writes).
unsafe impl<const N: usize> Sync for Pages<N> {}
impl<const N: usize> Pages<N> {
    const fn new() -> Self {
        Pages(UnsafeCell::new([[0; 4096]; N]))
    }
    fn addr(&self) -> u64 {
        self.0.get() as u64
    }
    const LEN: u64 = N as u64 * 4096;
}

/// 16 pages aligned to 64 KiB, so an extent of order 4 at its first frame covers exactly it.
#[repr(C, align(65536))]
struct Physmap(Pages<16>);

/// Random bytes: the target of random pointers and of runstate areas.
static SCRATCH: Pages<16> = Pages::new();
/// Structures and lists built for the current call (zeroed after it).
static ARGS: Pages<4> = Pages::new();
/// Frames the fuzzer maps things over, unmaps, frees: never touched by the guest.
static PHYSMAP: Physmap = Physmap(Pages::new());
/// vCPU 0's vcpu_info (page 0, registered before the run); vCPU 1's may land in page 1.
static VCPU_PAGES: Pages<2> = Pages::new();
/// TTBR1 level 1, 2, 3 tables.
static PT: Pages<3> = Pages::new();
/// Offset of vCPU 0's vcpu_info in its page.
const VCPU_INFO_OFF: u64 = 0x40;
/// `vcpu_info.evtchn_pending_sel`.
const EVTCHN_PENDING_SEL: u64 = 8;
/// A line the fuzzer may print with CONSOLEIO_write.
static NEWLINE: [u8; 1] = *b"\n";

/// A byte in .rodata and a pointer to it (relocated at boot, so in .rodata or .data.rel.ro, after
/// .text): the image below that pointer's page is code (and some read-only data).
static RO_MARK: u8 = 0x5a;
static RO_END: &u8 = &RO_MARK;

static UPCALLS: AtomicU32 = AtomicU32::new(0);
static SAW_PENDING: AtomicU8 = AtomicU8::new(0);
static SAW_SEL: AtomicU64 = AtomicU64::new(0);
static TIMER_FIRED: AtomicU32 = AtomicU32::new(0);
static TIMER_ARMED: AtomicBool = AtomicBool::new(false);

fn wr<T>(addr: u64, v: T) {
    // SAFETY: every caller passes an address inside ARGS, SCRATCH, VCPU_PAGES or PT (statics of
    // this file only reached through raw pointers), with room for a T.
    unsafe { core::ptr::write_unaligned(addr as usize as *mut T, v) }
}

fn rd<T: Copy>(addr: u64) -> T {
    // SAFETY: callers pass addresses inside this image or its statics.
    unsafe { core::ptr::read_unaligned(addr as usize as *const T) }
}

/// The event-channel upcall: acknowledges it in our vcpu_info (pending bits stay in shared_info,
/// which this guest never maps; a new port's first event still raises the upcall).
fn upcall(_intid: u32) {
    UPCALLS.fetch_add(1, SeqCst);
    let vi = VCPU_PAGES.addr() + VCPU_INFO_OFF;
    // SAFETY: vcpu_info is registered there (8-byte aligned); Xen updates it atomically too.
    let (p, s) = unsafe {
        (
            &*(vi as *const AtomicU8),
            &*((vi + EVTCHN_PENDING_SEL) as *const AtomicU64),
        )
    };
    SAW_PENDING.fetch_or(p.swap(0, SeqCst), SeqCst);
    SAW_SEL.fetch_or(s.swap(0, SeqCst), SeqCst);
}

/// The safety timer fired: re-arm it, so a block entered after it fired (the call was slow to
/// start) is still woken; the caller disables it when the call returns.
fn timer_handler(_intid: u32) {
    TIMER_FIRED.fetch_add(1, SeqCst);
    if TIMER_ARMED.load(SeqCst) {
        arm_timer();
    } else {
        CNTV_CTL_EL0.set(0);
    }
}

fn arm_timer() {
    CNTV_CVAL_EL0.set(now().wrapping_add(ticks_us(SAFETY_TIMER_US)));
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// xorshift64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn pct(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
    fn pick<T: Copy>(&mut self, s: &[T]) -> T {
        s[self.below(s.len() as u64) as usize]
    }
}

/// What a pointer argument points at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ptr {
    Null,
    Scratch,
    ScratchOdd,
    Unmapped,
    WindowHole,
    RoImage,
    RwToHole,
    RoToRw,
    RwToRo,
    IpaHole,
    Device,
    Random,
}

impl Ptr {
    /// The hypervisor may write up to 16 KiB there.
    fn writable(self) -> bool {
        matches!(self, Ptr::Scratch | Ptr::ScratchOdd)
    }
}

#[derive(Clone, Copy, Default)]
struct Call {
    nr: u64,
    a: [u64; 5],
}

struct Fuzz {
    rng: Rng,
    /// Bytes of ARGS used by the current call.
    bump: u64,
    /// Read-only image pages in the window.
    ro_pages: u64,
    /// The current call is SCHEDOP_block or SCHEDOP_poll: arm the safety timer.
    wants_timer: bool,
}

/// Xen errno names (errno.h).
fn errno_name(e: u64) -> &'static str {
    match e {
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        4 => "EINTR",
        5 => "EIO",
        6 => "ENXIO",
        7 => "E2BIG",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        16 => "EBUSY",
        17 => "EEXIST",
        19 => "ENODEV",
        22 => "EINVAL",
        28 => "ENOSPC",
        34 => "ERANGE",
        38 => "ENOSYS",
        39 => "ENOTEMPTY",
        61 => "ENODATA",
        75 => "EOVERFLOW",
        95 => "EOPNOTSUPP",
        105 => "ENOBUFS",
        _ => "?",
    }
}

impl Fuzz {
    fn int(&mut self) -> u64 {
        match self.rng.below(10) {
            0..=3 => self.rng.below(16),
            4 => self.rng.below(256),
            5 => self.rng.pick(&[
                0,
                1,
                0x7fff_ffff,
                0x8000_0000,
                0xffff_ffff,
                0x1_0000_0000,
                i64::MAX as u64,
                1 << 63,
                u64::MAX,
                u64::MAX - 1,
                4095,
                4096,
                DOMID_SELF as u64,
            ]),
            6 | 7 => self.rng.next() & 0xffff_ffff,
            _ => self.rng.next(),
        }
    }

    fn domid(&mut self) -> u64 {
        match self.rng.below(10) {
            0..=3 => u64::from(DOMID_SELF),
            4 | 5 => 0,
            6 => 1 + self.rng.below(8),
            7 => self.rng.pick(&[0x7ff1, 0x7ff2, 0x7ff3, 0x7ff4, 0x7fff]),
            _ => self.rng.next() & 0xffff,
        }
    }

    fn vcpu(&mut self) -> u64 {
        match self.rng.below(10) {
            0..=3 => 0,
            4..=6 => 1,
            7 => 2 + self.rng.below(6),
            _ => self.int(),
        }
    }

    fn port(&mut self) -> u64 {
        match self.rng.below(10) {
            0..=6 => self.rng.below(64),
            7 => self.rng.below(4096),
            _ => self.int(),
        }
    }

    fn ptr(&mut self) -> (u64, Ptr) {
        let w = WINDOW;
        let r = self.rng.below(100);
        match r {
            0..=7 => (0, Ptr::Null),
            8..=37 => (
                SCRATCH.addr() + (self.rng.below(48 * 1024) & !7),
                Ptr::Scratch,
            ),
            38..=45 => (SCRATCH.addr() + self.rng.below(48 * 1024), Ptr::ScratchOdd),
            46..=55 => (self.bad_va(), Ptr::Unmapped),
            56..=59 => (
                w + (400 + self.rng.below(100)) * 4096 + self.rng.below(4096),
                Ptr::WindowHole,
            ),
            60..=69 => (
                w + (self.rng.below(self.ro_pages * 4096) & !3),
                Ptr::RoImage,
            ),
            70..=76 => (
                w + (W_RW_TO_HOLE + 1) * 4096 - 1 - self.rng.below(64),
                Ptr::RwToHole,
            ),
            77..=80 => (
                w + (W_RO_TO_RW + 1) * 4096 - 1 - self.rng.below(64),
                Ptr::RoToRw,
            ),
            81..=84 => (
                w + (W_RW_TO_RO + 1) * 4096 - 1 - self.rng.below(64),
                Ptr::RwToRo,
            ),
            85..=90 => (HOLE_IPA + self.rng.below(1 << 24), Ptr::IpaHole),
            91..=93 => (
                self.rng.pick(&[0x0a00_0000u64, 0x0a00_3e00, 0x1000]) + (self.rng.below(64) & !7),
                Ptr::Device,
            ),
            _ => (self.rng.next(), Ptr::Random),
        }
    }

    /// A VA no stage 1 of ours maps.
    fn bad_va(&mut self) -> u64 {
        match self.rng.below(6) {
            0 => 0xff_dead_0000,
            1 => (1 << 39) + (self.rng.below(1 << 30) & !7),
            2 => 0x0000_ffff_ffff_f000 + self.rng.below(4096),
            3 => 0xffff_0000_0000_0000 + self.rng.below(1 << 30),
            4 => u64::MAX - self.rng.below(64),
            _ => 0x8000_0000_0000_0000 | self.rng.next() >> 1,
        }
    }

    /// A pointer the hypervisor can neither read nor write (NULL included: on QEMU virt it is
    /// flash, which Xen 4.17 lets dom0 hypercalls read).
    fn bad_ptr(&mut self) -> u64 {
        if self.rng.pct(25) {
            0
        } else {
            self.unreadable_ptr()
        }
    }

    /// A pointer to nothing at all: unmapped by our stage 1 or by every stage 2.
    fn unreadable_ptr(&mut self) -> u64 {
        match self.rng.below(3) {
            0 => self.bad_va(),
            1 => WINDOW + (400 + self.rng.below(100)) * 4096,
            _ => HOLE_IPA + self.rng.below(1 << 24),
        }
    }

    /// A guest frame that may be mapped over, unmapped, freed or written, and how many frames
    /// from it stay in the same class.
    fn gfn_room(&mut self) -> (u64, u64) {
        let base = PHYSMAP.0.addr() >> 12;
        match self.rng.below(10) {
            0..=1 => (base, 16),
            2..=3 => {
                let k = self.rng.below(16);
                (base + k, 16 - k)
            }
            4..=6 => (NONRAM_GFN + self.rng.below(16) * 37, 1 << 20),
            7 => (self.rng.below(16), 4096),
            8 => (
                self.rng.pick(&[u64::MAX, 1 << 52, 1 << 40, (1 << 40) - 1]),
                1 << 12,
            ),
            _ => ((1 << 40) | (self.rng.next() & ((1 << 61) - 1)), 1 << 12),
        }
    }

    fn gfn(&mut self) -> u64 {
        self.gfn_room().0
    }

    /// A frame that is neither RAM nor a device (init_control, expand_array: no FIFO switch;
    /// Xen 4.17 and Xenith both accept a dom0 flash frame such as 0xb as the control block).
    fn nonram_gfn(&mut self) -> u64 {
        match self.rng.below(2) {
            0 => NONRAM_GFN + self.rng.below(64),
            _ => (1 << 40) | self.rng.next() >> 4,
        }
    }

    /// `size` bytes of ARGS, 8-aligned (sometimes misaligned by 1..7).
    fn alloc(&mut self, size: u64) -> u64 {
        let mis = if self.rng.pct(5) {
            1 + self.rng.below(7)
        } else {
            0
        };
        let at = (self.bump + 7) & !7;
        let end = at + size + mis;
        assert!(end <= Pages::<4>::LEN, "ARGS overflow");
        self.bump = end;
        ARGS.addr() + at + mis
    }

    /// A list of `n` u64 values from `f`.
    fn list(&mut self, n: u64, mut f: impl FnMut(&mut Fuzz) -> u64) -> u64 {
        let l = self.alloc(8 * n.max(1));
        for i in 0..n {
            let v = f(self);
            wr(l + 8 * i, v);
        }
        l
    }

    /// A struct argument: built by `build` in ARGS, or (pct `raw`) any pointer.
    fn arg(&mut self, raw: u64, size: u64, build: impl FnOnce(&mut Fuzz, u64)) -> u64 {
        if self.rng.pct(raw) {
            return self.ptr().0;
        }
        let p = self.alloc(size);
        build(self, p);
        p
    }

    fn gen(&mut self, depth: u32) -> Call {
        const HOT: &[(u64, u64)] = &[
            (__HYPERVISOR_xen_version, 9),
            (__HYPERVISOR_console_io, 5),
            (__HYPERVISOR_memory_op, 12),
            (__HYPERVISOR_vcpu_op, 8),
            (__HYPERVISOR_sched_op, 6),
            (__HYPERVISOR_event_channel_op, 14),
            (__HYPERVISOR_grant_table_op, 10),
            (__HYPERVISOR_hvm_op, 6),
            (__HYPERVISOR_multicall, 5),
            (__HYPERVISOR_physdev_op, 3),
            (__HYPERVISOR_platform_op, 4),
            (__HYPERVISOR_vm_assist, 3),
        ];
        let mut r = self.rng.below(100);
        let mut nr = None;
        for &(n, w) in HOT {
            if r < w {
                nr = Some(n);
                break;
            }
            r -= w;
        }
        let (nr, high) = match (nr, r) {
            (Some(n), _) => (n, 0),
            // 0..64, any of them.
            (None, 0..=11) => (self.rng.below(64), 0),
            // Bits above 32 (a hypervisor truncating x16 would run the low number: its
            // arguments are built for it).
            (None, 12) => {
                let (n, _) = HOT[self.rng.below(HOT.len() as u64) as usize];
                (n, (1 + self.rng.below(0xffff_ffff)) << 32)
            }
            (None, _) => (self.rng.pick(&[64, 65, 100, 1000, u64::MAX]), 0),
        };
        let a = match nr {
            __HYPERVISOR_xen_version => self.xen_version(),
            __HYPERVISOR_console_io => self.console_io(),
            __HYPERVISOR_memory_op => self.memory_op(),
            __HYPERVISOR_vcpu_op => self.vcpu_op(),
            __HYPERVISOR_sched_op => self.sched_op(depth),
            __HYPERVISOR_event_channel_op => self.event_channel_op(),
            __HYPERVISOR_grant_table_op => self.grant_table_op(),
            __HYPERVISOR_hvm_op => self.hvm_op(),
            __HYPERVISOR_multicall => self.multicall(depth),
            __HYPERVISOR_platform_op => self.platform_op(),
            __HYPERVISOR_vm_assist => [
                self.rng.pick(&[0, 1, 2, 0xffff_ffff]),
                self.rng.below(8),
                0,
                0,
                0,
            ],
            __HYPERVISOR_sysctl | __HYPERVISOR_domctl => self.xctl(),
            _ => self.generic(),
        };
        Call { nr: nr | high, a }
    }

    fn generic(&mut self) -> [u64; 5] {
        let mut a = [0; 5];
        for x in &mut a {
            *x = if self.rng.pct(50) {
                self.int()
            } else {
                self.ptr().0
            };
        }
        a
    }

    /// sysctl / domctl(u_xctl): never a structure with the interface version (0x15 in 4.17).
    fn xctl(&mut self) -> [u64; 5] {
        let p = if self.rng.pct(50) {
            self.bad_ptr()
        } else {
            let p = SCRATCH.addr() + (self.rng.below(48 * 1024) & !7);
            if rd::<u32>(p + 4) < 0x100 {
                wr::<u32>(p + 4, 0xdead_beef);
            }
            p
        };
        [p, self.int(), self.int(), 0, 0]
    }

    fn xen_version(&mut self) -> [u64; 5] {
        let cmd = match self.rng.below(10) {
            0..=6 => self.rng.below(11),
            7 | 8 => self.rng.below(64),
            _ => self.int(),
        };
        [cmd, self.ptr().0, self.int(), 0, 0]
    }

    fn console_io(&mut self) -> [u64; 5] {
        let cmd = match self.rng.below(10) {
            0..=4 => 0,
            5..=8 => 1,
            _ => self.int(),
        };
        match cmd as u32 {
            // CONSOLEIO_write: nothing reaches the console but newlines.
            0 => match self.rng.below(20) {
                0..=5 => [cmd, 0, self.ptr().0, 0, 0],
                6 => [cmd, 1, NEWLINE.as_ptr() as u64, 0, 0],
                _ => [cmd, self.int(), self.unreadable_ptr(), 0, 0],
            },
            _ => {
                let (p, k) = self.ptr();
                let count = if k.writable() {
                    self.rng.below(8192)
                } else {
                    self.int()
                };
                [cmd, count, p, 0, 0]
            }
        }
    }

    /// `xen_memory_reservation` with a gfn list of its own.
    fn reservation(&mut self, at: u64, list_ok: bool) -> u64 {
        let n = self.rng.below(5);
        let order = if self.rng.pct(70) {
            0
        } else {
            self.rng.below(13)
        };
        let list = self.list(n, |f| {
            for _ in 0..8 {
                let (g, room) = f.gfn_room();
                if room >= 1 << order {
                    return g;
                }
            }
            (1 << 40) | f.rng.next() >> 4
        });
        let (list, nr) = if list_ok && self.rng.pct(85) {
            (
                list,
                if self.rng.pct(90) {
                    n
                } else {
                    self.rng.below(n + 1)
                },
            )
        } else {
            (self.bad_ptr(), self.int())
        };
        wr(at, list);
        wr(at + 8, nr);
        wr::<u32>(at + 16, order as u32);
        wr::<u32>(
            at + 20,
            if self.rng.pct(70) {
                0
            } else {
                self.int() as u32
            },
        );
        wr::<u16>(at + 24, self.domid() as u16);
        if list < ARGS.addr() || list >= ARGS.addr() + Pages::<4>::LEN {
            u64::MAX
        } else {
            nr
        }
    }

    fn memory_op(&mut self) -> [u64; 5] {
        const KNOWN: &[u64] = &[
            0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 21, 23, 24, 26, 27, 28, 29,
        ];
        let op = match self.rng.below(10) {
            0..=6 => self.rng.pick(KNOWN),
            7 | 8 => self.rng.below(64),
            _ => self.int() & MEMOP_CMD_MASK,
        };
        let mut cmd = op;
        let arg = match op & MEMOP_CMD_MASK {
            // increase_reservation, decrease_reservation, populate_physmap.
            0 | 1 | 6 => {
                let p = self.alloc(32);
                let nr = self.reservation(p, true);
                let start = if nr == u64::MAX {
                    self.int() & ((1 << 57) - 1)
                } else if self.rng.pct(90) {
                    0
                } else {
                    self.rng.below(nr + 1)
                };
                cmd |= start << MEMOP_EXTENT_SHIFT;
                p
            }
            // add_to_physmap.
            7 => self.arg(0, 24, |f, p| {
                let space = f.rng.pick(&[0u64, 0, 1, 1, 1, 2, 3, 4, 5, 6, 0xffff_ffff]);
                let (idx, iroom) = match f.rng.below(10) {
                    0..=4 => (f.rng.below(64), 16),
                    5 => (1 << 31 | f.rng.below(4), 1),
                    _ => f.gfn_room(),
                };
                let (gpfn, groom) = f.gfn_room();
                let size = f.rng.below(iroom.min(groom).min(0x1_0000) + 1);
                wr::<u16>(p, f.domid() as u16);
                wr::<u16>(p + 2, size as u16);
                wr::<u32>(p + 4, space as u32);
                wr(p + 8, idx);
                wr(p + 16, gpfn);
            }),
            // exchange.
            11 => {
                let p = self.alloc(72);
                let ni = self.reservation(p, true);
                let _ = self.reservation(p + 32, true);
                wr::<u32>(p + 16, 0);
                wr::<u32>(p + 48, 0);
                let done = if ni == u64::MAX || self.rng.pct(20) {
                    self.rng.next() | 1 << 32
                } else {
                    self.rng.below(ni + 1)
                };
                wr(p + 64, done);
                p
            }
            // remove_from_physmap.
            15 => self.arg(0, 16, |f, p| {
                wr::<u16>(p, f.domid() as u16);
                wr(p + 8, f.gfn());
            }),
            // access_op.
            21 => self.arg(0, 40, |f, p| {
                let (pfn, room) = f.gfn_room();
                let n = f.rng.below(4);
                let list = f.list(n, Fuzz::gfn);
                wr::<u8>(p, f.rng.below(8) as u8);
                wr::<u8>(p + 1, f.rng.below(16) as u8);
                wr::<u16>(p + 2, f.domid() as u16);
                let (nr, list) = if f.rng.pct(50) {
                    (f.rng.below(room.min(64) + 1), list)
                } else {
                    (n, list)
                };
                wr::<u32>(p + 4, nr as u32);
                wr(p + 8, pfn);
                wr(p + 16, list);
                wr(p + 24, f.alloc(64));
            }),
            // add_to_physmap_batch.
            23 => self.arg(0, 32, |f, p| {
                let n = f.rng.below(7);
                let idxs = f.list(n, |f| match f.rng.below(3) {
                    0 => f.rng.below(64),
                    _ => f.gfn(),
                });
                let gpfns = f.list(n, Fuzz::gfn);
                let errs = if f.rng.pct(70) {
                    f.alloc(4 * n.max(1))
                } else {
                    f.ptr().0
                };
                let (idxs, gpfns, size) = if f.rng.pct(85) {
                    (idxs, gpfns, f.rng.below(n + 1))
                } else {
                    (f.bad_ptr(), f.bad_ptr(), f.int())
                };
                wr::<u16>(p, f.domid() as u16);
                wr::<u16>(p + 2, f.rng.pick(&[0u16, 1, 2, 3, 4, 5, 0xffff]));
                wr::<u16>(p + 4, size as u16);
                wr::<u16>(p + 6, f.domid() as u16);
                wr(p + 8, idxs);
                wr(p + 16, gpfns);
                wr(p + 24, errs);
            }),
            // claim_pages: no extent list.
            24 => self.arg(0, 32, |f, p| {
                wr(p + 8, f.int());
                wr::<u16>(p + 24, f.domid() as u16);
            }),
            // acquire_resource: frames mapped at the gfns of frame_list.
            28 => self.arg(0, 32, |f, p| {
                let n = f.rng.below(5);
                let list = f.list(n, Fuzz::gfn);
                let (list, nr) = match f.rng.below(10) {
                    0..=6 => (list, f.rng.below(n + 1)),
                    7 | 8 => (0, 0),
                    _ => (f.bad_ptr(), f.int()),
                };
                wr::<u16>(p, f.domid() as u16);
                wr::<u16>(p + 2, f.rng.pick(&[0u16, 1, 1, 2, 3, 0xffff]));
                wr::<u32>(p + 4, f.rng.pick(&[0u32, 0, 1, 2, 0xffff_ffff]));
                wr::<u32>(p + 8, nr as u32);
                wr::<u32>(p + 12, f.int() as u32);
                wr(p + 16, f.rng.pick(&[0, 0, 1, 2, 63, 64, u64::MAX]));
                wr(p + 24, list);
            }),
            // Calls taking a domid_t.
            3 | 4 | 14 => self.arg(25, 2, |f, p| wr::<u16>(p, f.domid() as u16)),
            _ => self.ptr().0,
        };
        [cmd, arg, self.int(), 0, 0]
    }

    fn vcpu_op(&mut self) -> [u64; 5] {
        let cmd = match self.rng.below(10) {
            0..=3 => VCPUOP_register_vcpu_info,
            4..=6 => 5, // VCPUOP_register_runstate_memory_area
            7 | 8 => self.rng.below(16),
            _ => self.int(),
        };
        let mut vcpu = self.vcpu();
        // VCPUOP_initialise / up / down: only for vCPUs that do not exist.
        if matches!(cmd as u32, 0..=2) {
            vcpu = 64 + self.rng.below(1 << 20);
        }
        let arg = match cmd as u32 {
            // Built here only: a random structure could name a frame of ours (values the
            // hypervisor wrote into scratch, e.g. runstate times, look like addresses).
            10 => self.arg(0, 16, |f, p| {
                let mfn = match f.rng.below(10) {
                    0..=3 => (VCPU_PAGES.addr() >> 12) + 1,
                    4..=6 => f.gfn(),
                    7 => (SCRATCH.addr() >> 12) + f.rng.below(16),
                    _ => (1 << 40) | f.rng.next() >> 4,
                };
                let off = match f.rng.below(4) {
                    0 => f.rng.below(512) * 8,
                    1 => f.rng.below(4096),
                    2 => 4096 - 48 + f.rng.below(64),
                    _ => f.int() & 0xffff_ffff,
                };
                wr(p, mfn);
                wr::<u32>(p + 8, off as u32);
                wr::<u32>(p + 12, if f.rng.pct(80) { 0 } else { f.int() as u32 });
            }),
            5 => self.arg(0, 8, |f, p| {
                let (a, _) = f.ptr();
                wr(p, a);
            }),
            _ => self.ptr().0,
        };
        [cmd, vcpu, arg, 0, 0]
    }

    fn sched_op(&mut self, depth: u32) -> [u64; 5] {
        let mut cmd = match self.rng.below(20) {
            0..=6 => 0,
            7 | 8 => 1,
            9..=11 => 3,
            12 => 6,
            13 => 7,
            14..=16 => self.rng.below(64),
            _ => self.int(),
        };
        // Never shut down; block and poll only outside multicalls (bounded by the timer).
        if matches!(cmd as u32, 2 | 4 | 5) || (depth > 0 && matches!(cmd as u32, 1 | 3)) {
            cmd = 0;
        }
        let arg = match cmd as u32 {
            1 => {
                self.wants_timer = true;
                self.ptr().0
            }
            3 => {
                self.wants_timer = true;
                self.arg(10, 24, |f, p| {
                    let n = f.rng.below(8);
                    let ports = f.alloc(4 * n.max(1));
                    for i in 0..n {
                        let v = f.port() as u32;
                        wr(ports + 4 * i, v);
                    }
                    let (ports, nr) = match f.rng.below(10) {
                        0..=6 => (ports, f.rng.below(n + 1)),
                        7 => (f.ptr().0, f.rng.below(130)),
                        _ => (f.ptr().0, f.int()),
                    };
                    wr(p, ports);
                    wr::<u32>(p + 8, nr as u32);
                    let timeout = match f.rng.below(10) {
                        0..=6 => 1 + f.rng.below(1_000_000),
                        7 => 0,
                        _ => f.int(),
                    };
                    wr(p + 16, timeout);
                })
            }
            // SCHEDOP_watchdog: never id 0 (a new watchdog that would fire).
            6 => self.arg(0, 8, |f, p| {
                let (id, timeout) = if f.rng.pct(50) {
                    (3 + f.rng.below(1000), f.int())
                } else {
                    (1 + f.rng.below(2), 0)
                };
                wr::<u32>(p, id as u32);
                wr::<u32>(p + 4, timeout as u32);
            }),
            7 => self.arg(10, 4, |f, p| {
                let cpu = f.rng.pick(&[-1i32, 0, 1, 2, 64, i32::MIN]);
                wr(p, cpu);
            }),
            _ => self.ptr().0,
        };
        [cmd, arg, 0, 0, 0]
    }

    fn event_channel_op(&mut self) -> [u64; 5] {
        let cmd = match self.rng.below(20) {
            0..=14 => self.rng.below(15),
            15..=17 => self.rng.below(64),
            _ => self.int(),
        };
        let c = cmd as u32;
        let raw = if matches!(c, 11 | 12) { 0 } else { 20 };
        let arg = self.arg(raw, 24, |f, p| match c {
            0 => {
                wr::<u16>(p, f.domid() as u16);
                wr::<u32>(p + 4, f.port() as u32);
            }
            1 => {
                let virq = if f.rng.pct(80) {
                    f.rng.below(24)
                } else {
                    f.int()
                };
                wr::<u32>(p, virq as u32);
                wr::<u32>(p + 4, f.vcpu() as u32);
            }
            2 => {
                wr::<u32>(p, f.int() as u32);
                wr::<u32>(p + 4, f.int() as u32);
            }
            5 => {
                wr::<u16>(p, f.domid() as u16);
                wr::<u32>(p + 4, f.port() as u32);
            }
            6 => {
                wr::<u16>(p, f.domid() as u16);
                wr::<u16>(p + 2, f.domid() as u16);
            }
            7 => wr::<u32>(p, f.vcpu() as u32),
            8 | 13 => {
                wr::<u32>(p, f.port() as u32);
                wr::<u32>(p + 4, f.vcpu() as u32);
            }
            10 | 14 => wr::<u16>(p, f.domid() as u16),
            11 => {
                wr(p, f.nonram_gfn());
                wr::<u32>(p + 8, f.rng.pick(&[0u32, 0, 8, 4, 4088, 4096, 0xffff_fff8]));
                wr::<u32>(p + 12, f.vcpu() as u32);
                wr::<u8>(p + 16, f.int() as u8);
            }
            12 => wr(p, f.nonram_gfn()),
            _ => wr::<u32>(p, f.port() as u32),
        });
        [cmd, arg, self.int(), 0, 0]
    }

    /// One grant-table operation structure for `cmd` at `p`, frames and addresses sanitized.
    fn gnttab_op(&mut self, cmd: u64, p: u64) {
        let scratch_gfn = |f: &mut Fuzz| (SCRATCH.addr() >> 12) + f.rng.below(16);
        match cmd {
            // map_grant_ref: host_addr is where the grant would be mapped.
            0 => {
                let a = (self.gfn() << 12) | (self.rng.below(4096) & self.rng.pick(&[0, 0xfff]));
                wr(p, a);
                wr::<u32>(p + 8, self.int() as u32);
                wr::<u32>(p + 12, self.port() as u32);
                wr::<u16>(p + 16, self.domid() as u16);
                wr(p + 24, self.gfn() << 12);
            }
            // unmap_grant_ref / unmap_and_replace.
            1 | 7 => {
                wr(p, self.gfn() << 12);
                wr(p + 8, self.gfn() << 12);
                wr::<u32>(p + 16, self.int() as u32);
            }
            // setup_table / get_status_frames: frame lists written to a pointer.
            2 | 9 => {
                let (list, k) = self.ptr();
                let n = if k.writable() {
                    self.rng.below(65)
                } else {
                    self.int()
                };
                if cmd == 2 {
                    wr::<u16>(p, self.domid() as u16);
                    wr::<u32>(p + 4, n as u32);
                    wr(p + 16, list);
                } else {
                    wr::<u32>(p, n as u32);
                    wr::<u16>(p + 4, self.domid() as u16);
                    wr(p + 8, list);
                }
            }
            // transfer: our frame `mfn` would go to another domain.
            4 => {
                wr(p, self.gfn());
                wr::<u16>(p + 8, self.domid() as u16);
                wr::<u32>(p + 12, self.port() as u32);
            }
            // copy: source may be anything readable; the destination only scratch or
            // PHYSMAP-class frames (or a ref).
            5 => {
                let src = match self.rng.below(3) {
                    0 => (image_base() >> 12) + self.rng.below(8),
                    1 => scratch_gfn(self),
                    _ => self.gfn(),
                };
                let dst = if self.rng.pct(50) {
                    scratch_gfn(self)
                } else {
                    self.gfn()
                };
                wr(p, src);
                wr::<u16>(p + 8, self.domid() as u16);
                wr::<u16>(p + 10, self.int() as u16);
                wr(p + 16, dst);
                wr::<u16>(p + 24, self.domid() as u16);
                wr::<u16>(p + 26, self.int() as u16);
                wr::<u16>(p + 32, self.int() as u16);
                wr::<u16>(p + 34, self.rng.pick(&[0u16, 1, 2, 3, 4, 0xffff]));
            }
            // cache_flush: an address of ours that may be cleaned/invalidated.
            12 => {
                let a = match self.rng.below(3) {
                    0 => scratch_gfn(self) << 12,
                    1 => self.gfn() << 12,
                    _ => self.port(),
                };
                wr(p, a);
                wr::<u16>(p + 8, self.int() as u16);
                wr::<u16>(p + 10, self.int() as u16);
                wr::<u32>(
                    p + 12,
                    self.rng.pick(&[0u32, 1, 2, 3, 1 << 31 | 1, 0xffff_ffff]),
                );
            }
            3 | 6 | 10 => {
                wr::<u16>(p, self.domid() as u16);
                wr::<u32>(p + 4, self.int() as u32);
            }
            8 => wr::<u32>(p, self.rng.pick(&[0u32, 1, 1, 2, 3, 0xffff_ffff])),
            _ => {
                wr::<u32>(p, self.port() as u32);
                wr::<u32>(p + 4, self.port() as u32);
            }
        }
    }

    fn grant_table_op(&mut self) -> [u64; 5] {
        let mut cmd = match self.rng.below(20) {
            0..=15 => self.rng.below(13),
            16 | 17 => self.rng.below(64),
            _ => self.int() & 0xffff_ffff,
        };
        let c = cmd & GNTTABOP_CMD_MASK;
        // Sizes of the operation structures.
        let size = match c {
            0 | 1 | 2 | 4 | 7 => 32,
            5 => 40,
            _ => 16,
        };
        let n = 1 + self.rng.below(4);
        let (uop, count) = match self.rng.below(10) {
            // Random bytes only for the operations with nothing to sanitize.
            0 if matches!(c, 3 | 6 | 8 | 10 | 11 | 13..) => (self.ptr().0, self.rng.below(5)),
            1 => (self.bad_ptr(), self.int()),
            _ => {
                let p = self.alloc(size * n);
                for i in 0..n {
                    self.gnttab_op(c, p + size * i);
                }
                let count = if self.rng.pct(85) {
                    n
                } else {
                    self.rng.below(n + 1)
                };
                if c == 12 && self.rng.pct(20) {
                    cmd |= self.rng.below(count + 1) << 12;
                }
                (p, count)
            }
        };
        [cmd, uop, count, 0, 0]
    }

    fn hvm_op(&mut self) -> [u64; 5] {
        let op = match self.rng.below(10) {
            0..=3 => 0,
            4..=7 => 1,
            8 => self.rng.below(64),
            _ => self.int(),
        };
        let set = op & 0xff == 0;
        let raw = if set { 0 } else { 20 };
        let arg = self.arg(raw, 16, |f, p| {
            let mut index = if f.rng.pct(80) {
                f.rng.below(40)
            } else {
                f.int() & 0xffff_ffff
            };
            // Never move the event-channel upcall (HVM_PARAM_CALLBACK_IRQ).
            if set && index == 0 {
                index = 1 + f.rng.below(38);
            }
            wr::<u16>(p, f.domid() as u16);
            wr::<u32>(p + 4, index as u32);
            wr(p + 8, f.int());
        });
        [op, arg, 0, 0, 0]
    }

    fn multicall(&mut self, depth: u32) -> [u64; 5] {
        if depth >= 2 || self.rng.pct(10) {
            return [self.bad_ptr(), self.int(), 0, 0, 0];
        }
        let n = self.rng.below(7);
        let list = self.alloc(64 * n.max(1));
        for i in 0..n {
            let c = self.gen(depth + 1);
            let e = list + 64 * i;
            wr(e, c.nr);
            wr(e + 8, 0x5a5a_5a5a_5a5a_5a5au64);
            for (j, a) in c.a.iter().enumerate() {
                wr(e + 16 + 8 * j as u64, *a);
            }
            wr(e + 56, 0u64);
        }
        let nr = if self.rng.pct(90) {
            n
        } else {
            self.rng.below(n + 1)
        };
        [list, nr, 0, 0, 0]
    }

    fn platform_op(&mut self) -> [u64; 5] {
        let arg = self.arg(40, 136, |f, p| {
            let cmd = f.rng.pick(&[XENPF_settime64, XENPF_settime64, 48, 0, 63]);
            let cmd = if f.rng.pct(20) { f.int() } else { cmd };
            wr::<u32>(p, cmd as u32);
            let v = if f.rng.pct(70) {
                XENPF_INTERFACE_VERSION
            } else {
                f.int()
            };
            wr::<u32>(p + 4, v as u32);
            for i in 0..16 {
                wr(p + 8 + 8 * i, f.int());
            }
        });
        [arg, 0, 0, 0, 0]
    }

    fn smccc_fid(&mut self) -> u64 {
        const KNOWN: &[u32] = &[
            0x8000_0000, // SMCCC_VERSION
            0x8000_0001, // SMCCC_ARCH_FEATURES
            0x8000_0002, // SMCCC_ARCH_SOC_ID
            0x8000_8000, // ARCH_WORKAROUND_1
            0x8000_7fff, // ARCH_WORKAROUND_2
            0x8000_3fff, // ARCH_WORKAROUND_3
            0x8400_0000, // PSCI_VERSION
            0x8400_0004, // AFFINITY_INFO
            0xc400_0004,
            0x8400_0006, // MIGRATE_INFO_TYPE
            0x8400_000a, // PSCI_FEATURES
            0x8400_0050, // TRNG_VERSION
            0x8500_ff00, // Xen: call count, UID, revision
            0x8500_ff01,
            0x8500_ff03,
            0x8600_ff01, // KVM's vendor UID
            0x8f00_ff01,
        ];
        let fid = match self.rng.below(10) {
            0..=3 => self.rng.pick(KNOWN),
            4..=6 => {
                let fast = u32::from(self.rng.pct(85)) << 31;
                let smc64 = u32::from(self.rng.pct(50)) << 30;
                let owner = self.rng.pick(&[0, 1, 2, 3, 4, 4, 5, 5, 6, 48, 50, 63]) << 24;
                let func = match self.rng.below(3) {
                    0 => self.rng.below(0x40) as u32,
                    1 => 0xff00 + self.rng.below(4) as u32,
                    _ => self.rng.below(0x1_0000) as u32,
                };
                fast | smc64 | owner | func
            }
            _ => self.rng.next() as u32,
        };
        let owner = (fid >> 24) & 0x3f;
        let func = fid & 0xffff;
        // PSCI power calls never: only the harmless ones below 0x20; nor Xen's PSCI 0.1
        // function ids 0-3 (CPU_SUSPEND, CPU_OFF, CPU_ON, MIGRATE: Xen 4.17 takes x0 = 1 as
        // CPU_OFF of the caller).
        let fid = if fid < 4
            || (owner == 4
                && func < 0x20
                && !matches!(func, 0 | 4 | 6 | 7 | 0xa | 0xd | 0x10 | 0x11))
        {
            0x8400_0000
        } else {
            fid
        };
        let high = if self.rng.pct(10) {
            self.rng.next() << 32
        } else {
            0
        };
        high | u64::from(fid)
    }
}

/// An SMCCC call with x0..x7; returns x0.
fn smccc(x: [u64; 8]) -> u64 {
    let mut x0 = x[0];
    // SAFETY: an SMCCC call over HVC: the callee may clobber x0-x17 (declared); it does not
    // write this guest's memory.
    unsafe {
        asm!("hvc #0", inout("x0") x0, inout("x1") x[1] => _, inout("x2") x[2] => _,
            inout("x3") x[3] => _, inout("x4") x[4] => _, inout("x5") x[5] => _,
            inout("x6") x[6] => _, inout("x7") x[7] => _, out("x8") _, out("x9") _,
            out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _, options(nostack));
    }
    x0
}

/// A hypercall that survives an exception ([`FAULTED`]).
fn call(c: &Call) -> i64 {
    let mut r = FAULTED;
    let f = catch_fault(|| r = hypercall(c.nr, c.a[0], c.a[1], c.a[2], c.a[3], c.a[4]));
    if f.is_some() {
        FAULTED
    } else {
        r
    }
}

fn simple(nr: u64, a0: u64, a1: u64) -> i64 {
    call(&Call {
        nr,
        a: [a0, a1, 0, 0, 0],
    })
}

/// Results seen: index e (1..=127) for -e, 0 for 0, 128 for > 0, 129 for other negatives, 130
/// for exceptions.
struct Histogram([u32; 131]);
impl Histogram {
    fn add(&mut self, r: i64) {
        let i = match r {
            FAULTED => 130,
            0 => 0,
            1.. => 128,
            -127..=-1 => (-r) as usize,
            _ => 129,
        };
        self.0[i] += 1;
    }
}

/// FNV-1a over the words of `[start, end)`.
fn checksum(start: u64, end: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut a = start;
    while a < end {
        h = (h ^ rd::<u64>(a)).wrapping_mul(0x100_0000_01b3);
        a += 8;
    }
    h
}

/// Options from `/chosen/bootargs`: `hcfuzz.<key>=<decimal or 0x hex>`.
fn bootarg(b: &Board, key: &str) -> Option<u64> {
    let args = b.fdt().chosen().bootargs()?;
    args.split_whitespace().find_map(|w| {
        let v = w
            .strip_prefix("hcfuzz.")?
            .strip_prefix(key)?
            .strip_prefix('=')?;
        match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => v.parse().ok(),
        }
    })
}

/// Maps the TTBR1 window: the image's first `ro_pages` pages read-only from WINDOW, then the
/// crossings; turns TTBR1 walks on.
fn setup_ttbr1(ro_pages: u64) {
    const TABLE: u64 = 0b11;
    const PAGE: u64 = 0b11;
    const ATTR_NORMAL: u64 = 1 << 2; // AttrIndx 1 (MAIR_EL1 Attr1: Normal WB)
    const AP_RO: u64 = 1 << 7; // AP[2]
    const SH_INNER: u64 = 3 << 8;
    const AF: u64 = 1 << 10;
    const XN: u64 = (1 << 53) | (1 << 54);
    let (l1, l2, l3) = (PT.addr(), PT.addr() + 4096, PT.addr() + 8192);
    let page = |pa: u64, ro: bool| {
        pa | PAGE | ATTR_NORMAL | SH_INNER | AF | XN | if ro { AP_RO } else { 0 }
    };
    wr(l1, l2 | TABLE);
    wr(l2, l3 | TABLE);
    for i in 0..ro_pages {
        wr(l3 + 8 * i, page(image_base() + 4096 * i, true));
    }
    let s = |k: u64| SCRATCH.addr() + 4096 * k;
    for (slot, pa, ro) in [
        (W_RW_TO_HOLE, s(15), false),
        (W_RO_TO_RW, s(14), true),
        (W_RO_TO_RW + 1, s(15), false),
        (W_RW_TO_RO, s(13), false),
        (W_RW_TO_RO + 1, s(12), true),
    ] {
        wr(l3 + 8 * slot, page(pa, ro));
    }
    barrier::dsb(barrier::ISH);
    TTBR1_EL1.set(l1);
    // T1SZ = 25 (39-bit), IRGN1 = ORGN1 = WB-WA, SH1 = inner, TG1 = 4 KiB, EPD1 = 0.
    let tcr = (TCR_EL1.get() & !(1 << 23) & !(0xffff << 16))
        | (25 << 16)
        | (1 << 24)
        | (1 << 26)
        | (3 << 28)
        | (2 << 30);
    TCR_EL1.set(tcr);
    barrier::isb(barrier::SY);
    // SAFETY: invalidates this CPU's EL1 TLB entries after the translation regime changed; no
    // memory is accessed.
    unsafe { asm!("tlbi vmalle1", options(nostack)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
}

fn main(b: &'static Board) {
    let seed = bootarg(b, "seed").unwrap_or(DEFAULT_SEED);
    let calls = bootarg(b, "calls").unwrap_or(DEFAULT_CALLS);
    let trace = bootarg(b, "trace").unwrap_or(u64::MAX);
    info!("hcfuzz: seed={seed:#x} calls={calls} (one in {SMCCC_ONE_IN} is SMCCC over hvc #0)");

    // `hcfuzz.smccc=FID`: one SMCCC call with x0 = FID (x1..x7 = 0) first, to reproduce.
    if let Some(fid) = bootarg(b, "smccc") {
        info!("probe: SMCCC {fid:#x} ...");
        let mut r = 0;
        let fault = catch_fault(|| r = smccc([fid, 0, 0, 0, 0, 0, 0, 0]));
        info!("probe: SMCCC {fid:#x} = {r:#x}, {fault:?}");
    }

    // Setup: interrupts, vCPU 0's vcpu_info, the TTBR1 window.
    let evtchn_intid = b
        .fdt()
        .find_node("/hypervisor")
        .and_then(|n| n.property("interrupts"))
        .and_then(|p| {
            let v = p.value;
            (v.len() >= 8 && v[..4] == [0, 0, 0, 1])
                .then(|| 16 + u32::from_be_bytes([v[4], v[5], v[6], v[7]]))
        });
    let gic_ok = gic::init_cpu();
    let ready = match (evtchn_intid, b.vtimer_intid, gic_ok) {
        (Some(e), Some(t), Ok(())) => {
            set_irq_handler(e, upcall);
            set_irq_handler(t, timer_handler);
            gic::enable(e);
            gic::enable(t);
            true
        }
        _ => false,
    };
    check!(ready, "GIC, event-channel upcall PPI and virtual timer PPI set up";
        "upcall {evtchn_intid:?}, vtimer {:?}, GIC {gic_ok:?}", b.vtimer_intid);
    let reg = ARGS.addr();
    wr(reg, VCPU_PAGES.addr() >> 12);
    wr::<u32>(reg + 8, VCPU_INFO_OFF as u32);
    wr::<u32>(reg + 12, 0);
    let r = call(&Call {
        nr: __HYPERVISOR_vcpu_op,
        a: [VCPUOP_register_vcpu_info, 0, reg, 0, 0],
    });
    wr::<[u64; 2]>(reg, [0, 0]);
    check!(r == 0, "VCPUOP_register_vcpu_info(vcpu 0) at a dedicated page is 0"; "returned {r}");
    irq_enable();
    wait_for(50, || UPCALLS.load(SeqCst) > 0);

    let ro_end = (core::ptr::addr_of!(RO_END) as u64) & !0xfff;
    let ro_end = if ro_end > image_base() {
        ro_end
    } else {
        image_base() + 4096
    };
    let ro_pages = ((ro_end - image_base()) / 4096).min(MAX_RO_PAGES);
    let ro_end = image_base() + ro_pages * 4096;
    info!(
        "code and read-only data: {:#x}..{ro_end:#x} ({ro_pages} pages, aliased read-only at {WINDOW:#x})",
        image_base()
    );
    let sum_before = checksum(image_base(), ro_end);
    setup_ttbr1(ro_pages);
    let alias_ok = rd::<u64>(WINDOW + 0x40) == rd::<u64>(image_base() + 0x40)
        && rd::<u64>(WINDOW + (W_RO_TO_RW + 1) * 4096) == rd::<u64>(SCRATCH.addr() + 15 * 4096);
    check!(
        alias_ok,
        "the TTBR1 read-only alias of the image reads the image"
    );
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for i in 0..Pages::<16>::LEN / 8 {
        wr(SCRATCH.addr() + 8 * i, rng.next());
    }
    let probe = SCRATCH.addr() + 14 * 4096 + 64;
    let before: [u64; 2] = rd(probe);
    let r = simple(
        __HYPERVISOR_xen_version,
        XENVER_extraversion,
        WINDOW + W_RO_TO_RW * 4096 + 64,
    );
    let after: [u64; 2] = rd(probe);
    check!(r == -14 && before == after,
        "XENVER_extraversion into a read-only mapping is -EFAULT and writes nothing";
        "returned {r}, page {}", if before == after { "unchanged" } else { "written" });

    // The run.
    let mut f = Fuzz {
        rng: Rng(if seed == 0 { 1 } else { seed }),
        bump: 0,
        ro_pages,
        wants_timer: false,
    };
    let mut hist = Histogram([0; 131]);
    let mut smc_hist = [0u32; 8];
    let mut per_nr = [0u32; 65];
    let (mut blocks, mut woken_by_timer, mut block_ticks) = (0u32, 0u32, 0u64);
    let t0 = now();
    let step = (calls / 10).max(1);
    for i in 0..calls {
        if i > 0 && i % step == 0 {
            info!("hcfuzz: {i}/{calls} calls");
        }
        // Keep the scratch buffer random where the hypervisor wrote.
        let at = SCRATCH.addr() + (f.rng.below(Pages::<16>::LEN / 8 - 8) * 8);
        for k in 0..8 {
            let v = f.rng.next();
            wr(at + 8 * k, v);
        }
        if f.rng.below(SMCCC_ONE_IN) == 0 {
            let mut x = [0u64; 8];
            x[0] = f.smccc_fid();
            for v in &mut x[1..] {
                *v = f.int();
            }
            if i >= trace {
                info!("call {i}: smccc {x:x?}");
            }
            let mut r = 0;
            let fault = catch_fault(|| r = smccc(x));
            let k = match (fault, r as u32 as i32) {
                (Some(_), _) => 7,
                (None, 0) => 0,
                (None, -1) => 1,
                (None, -2) => 2,
                (None, -9..=-3) => 3,
                (None, v) if v > 0 => 4,
                _ => 5,
            };
            smc_hist[k] += 1;
            continue;
        }
        f.wants_timer = false;
        let c = f.gen(0);
        per_nr[(c.nr as usize).min(64)] += 1;
        if i >= trace {
            info!("call {i}: nr={:#x} a={:x?}", c.nr, c.a);
            if c.nr == __HYPERVISOR_multicall
                && (ARGS.addr()..ARGS.addr() + Pages::<4>::LEN).contains(&c.a[0])
            {
                for k in 0..c.a[1].min(8) {
                    let e: [u64; 8] = rd(c.a[0] + 64 * k);
                    info!("  entry {k}: nr={:#x} a={:x?}", e[0], &e[2..7]);
                }
            }
        }
        let timed = f.wants_timer;
        let fired = TIMER_FIRED.load(SeqCst);
        let start = now();
        if timed {
            TIMER_ARMED.store(true, SeqCst);
            arm_timer();
        }
        let r = call(&c);
        if timed {
            TIMER_ARMED.store(false, SeqCst);
            CNTV_CTL_EL0.set(0);
            blocks += 1;
            block_ticks += now().wrapping_sub(start);
            woken_by_timer += u32::from(TIMER_FIRED.load(SeqCst) != fired);
        }
        hist.add(r);
        if i >= trace {
            let b: [u64; 4] = rd(ARGS.addr());
            info!("  -> {r} (ARGS now {b:x?})");
        }
        // Zero what this call built.
        if f.bump > 0 {
            // SAFETY: ARGS is only reached through raw pointers; bump <= its length.
            unsafe { core::ptr::write_bytes(ARGS.addr() as usize as *mut u8, 0, f.bump as usize) };
            f.bump = 0;
        }
    }
    let dt = now().wrapping_sub(t0);
    let us = dt.saturating_mul(1_000_000) / ticks_us(1_000_000).max(1);
    info!(
        "hcfuzz: {calls} calls in {}.{:03} s of virtual time",
        us / 1_000_000,
        us / 1000 % 1000
    );

    // Report what was seen.
    let mut line = heapless_line();
    for (nr, n) in per_nr.iter().enumerate() {
        if *n > 0 {
            line.push(nr as u64, *n);
        }
    }
    info!("hcfuzz calls per hypercall number (64 = larger): {}", line);
    for (i, n) in hist.0.iter().enumerate() {
        if *n == 0 {
            continue;
        }
        match i {
            0 => info!("hcfuzz result 0: {n}"),
            128 => info!("hcfuzz result > 0: {n}"),
            129 => info!("hcfuzz result < -127: {n}"),
            130 => info!("hcfuzz result exception: {n}"),
            e => info!("hcfuzz result -{} (-{e}): {n}", errno_name(e as u64)),
        }
    }
    info!(
        "hcfuzz SMCCC results: SUCCESS {} NOT_SUPPORTED {} INVALID_PARAMETERS {} other-negative {} positive {} other {} exception {}",
        smc_hist[0], smc_hist[1], smc_hist[2], smc_hist[3], smc_hist[4], smc_hist[5], smc_hist[7]
    );
    info!(
        "hcfuzz SCHEDOP_block/poll: {blocks} calls, {woken_by_timer} returned only after the 2 ms safety timer, {} us average",
        if blocks > 0 {
            block_ticks.saturating_mul(1_000_000) / ticks_us(1_000_000).max(1) / u64::from(blocks)
        } else {
            0
        }
    );
    info!(
        "hcfuzz upcalls taken: {}, safety timer fired: {}",
        UPCALLS.load(SeqCst),
        TIMER_FIRED.load(SeqCst)
    );

    // Afterwards: the hypervisor still answers correctly.
    let exc = hist.0[130] + smc_hist[7];
    check!(exc == 0, "no hypercall or SMCCC call raised an exception"; "{exc} did");
    let v = simple(__HYPERVISOR_xen_version, XENVER_version, 0);
    check!(v == (4 << 16 | 17), "after the run, xen_version(XENVER_version) is still 4.17"; "returned {v:#x}");
    let s = smccc_hvc(ARM_SMCCC_VERSION_FID, 0)[0] as u32;
    check!(s == ARM_SMCCC_VERSION_1_1, "after the run, SMCCC_VERSION is still 1.1"; "returned {s:#x}");
    self_send();
    if b.ncpus >= 2 {
        let a = psci::affinity_info(b.mpidr[1]);
        check!(a == psci::AFF_OFF, "after the run, vCPU 1 is still off (AFFINITY_INFO)"; "returned {a}");
    } else {
        skip(
            "after the run, vCPU 1 is still off (AFFINITY_INFO)",
            "one CPU",
        );
    }
    let sum_after = checksum(image_base(), ro_end);
    check!(sum_after == sum_before, "after the run, this image's code and read-only data are unchanged";
        "checksum {sum_before:#x} -> {sum_after:#x}");
}

/// An event-channel self-send raises the upcall: bind an IPI port to vCPU 0, send, wait.
///
/// The run may legitimately have left garbage in shared_info (a vcpu_info registered for vCPU 1
/// on a frame where shared_info is mapped sets whole words of evtchn_pending / evtchn_mask; so
/// does a grant copy into it): so the port is first closed and bound again (closing clears its
/// pending bit) and unmasked with EVTCHNOP_unmask, as a guest binding a port does.
fn self_send() {
    const EO: u64 = __HYPERVISOR_event_channel_op;
    let p = ARGS.addr();
    let bind = || {
        wr::<[u32; 2]>(p, [0, 0]);
        let r = simple(EO, EVTCHNOP_bind_ipi, p);
        (r, rd::<u32>(p + 4))
    };
    let port_op = |cmd: u64, port: u32| {
        wr::<u32>(p, port);
        simple(EO, cmd, p)
    };
    let (mut r, mut port) = bind();
    if r != 0 {
        // The run may have used up the ports.
        wr::<u16>(p, DOMID_SELF);
        let rr = simple(EO, EVTCHNOP_reset, p);
        info!("EVTCHNOP_bind_ipi after the run = {r}; EVTCHNOP_reset(DOMID_SELF) = {rr}");
        (r, port) = bind();
    }
    if r == 0 {
        port_op(EVTCHNOP_close, port);
        (r, port) = bind();
    }
    let u = port_op(EVTCHNOP_unmask, port);
    UPCALLS.store(0, SeqCst);
    SAW_PENDING.store(0, SeqCst);
    SAW_SEL.store(0, SeqCst);
    let s = port_op(EVTCHNOP_send, port);
    let got = wait_for(500, || {
        SAW_PENDING.load(SeqCst) == 1 && SAW_SEL.load(SeqCst) & (1 << (port / 64 % 64)) != 0
    });
    let vi = VCPU_PAGES.addr() + VCPU_INFO_OFF;
    if !got {
        // What the hypervisor says about the port, and where shared_info is now.
        wr::<[u32; 6]>(p, [u32::from(DOMID_SELF), port, 0, 0, 0, 0]);
        let st = simple(EO, 5, p);
        let w: [u32; 6] = rd(p);
        let sh = PHYSMAP.0.addr();
        wr::<u64>(p, 0);
        let mut x = [0u64; 3];
        x[0] = u64::from(DOMID_SELF);
        x[2] = sh >> 12;
        wr::<[u64; 3]>(p, x);
        let m = simple(__HYPERVISOR_memory_op, 7, p);
        let (pend, mask) = if m == 0 {
            (
                rd::<u64>(sh + 48 + 8 * u64::from(port / 64)),
                rd::<u64>(sh + 48 + 512 + 8 * u64::from(port / 64)),
            )
        } else {
            (u64::MAX, u64::MAX)
        };
        info!("EVTCHNOP_status = {st}: {w:x?}; shared_info at PHYSMAP[0]: {m}, pending word {pend:#x}, mask word {mask:#x}");
    }
    check!(r == 0 && u == 0 && s == 0 && got,
        "after the run, an event-channel self-send (IPI port) raises the upcall";
        "bind {r}, port {port}, unmask {u}, send {s}, upcalls {}, pending {}, sel {:#x}; \
         vcpu_info now: upcall_pending {} sel {:#x}; DAIF {:#x}",
        UPCALLS.load(SeqCst), SAW_PENDING.load(SeqCst), SAW_SEL.load(SeqCst),
        rd::<u8>(vi), rd::<u64>(vi + EVTCHN_PENDING_SEL), DAIF.get());
    port_op(EVTCHNOP_close, port);
    wr::<u64>(p, 0);
}

/// `nr:count` pairs, printed space-separated.
struct Pairs {
    v: [(u64, u32); 65],
    n: usize,
}
fn heapless_line() -> Pairs {
    Pairs {
        v: [(0, 0); 65],
        n: 0,
    }
}
impl Pairs {
    fn push(&mut self, k: u64, c: u32) {
        if self.n < self.v.len() {
            self.v[self.n] = (k, c);
            self.n += 1;
        }
    }
}
impl core::fmt::Display for Pairs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, (k, c)) in self.v[..self.n].iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}:{c}")?;
        }
        Ok(())
    }
}
