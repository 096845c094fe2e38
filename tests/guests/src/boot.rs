//! Boot code: the arm64 `Image` header (Documentation/arch/arm64/booting.rst), the primary and
//! secondary entry points, the identity map turned on before any Rust code runs, and the EL1
//! exception vectors (ARM ARM D1.10.2, "Exception vectors").
//!
//! Position independence: the image is a static PIE linked at 0 (`build.rs`, `link.ld`); the
//! header says text_offset 0, flags bit 3 ("anywhere") and image_size including .bss. The primary
//! entry takes its base from `adr _start`, requires it 4 KiB aligned, turns the MMU on, then
//! applies `.rela.dyn` (`*(base + r_offset) = base + r_addend`, `R_AARCH64_RELATIVE` only; any
//! other entry prints `not ok` on the fallback PL011 and powers off) and checks that a pointer in
//! `.data` now holds `base`, all before the first use of the stack or of a pointer in a static.
//! Code reaches everything else PC-relatively (adr/adrp), so stacks and .bss follow the image.
//!
//! Why the MMU is on: with SCTLR_EL1.M clear every data access is Device-nGnRnE, where unaligned
//! accesses fault and exclusives are not guaranteed; Rust code needs Normal memory. The table is a
//! constant (no runtime writes, so secondaries entering with caches off read exactly what the
//! loader wrote): one level-1 table, T0SZ = 25 (39-bit VA), 1 GiB blocks, identity:
//! - 0..1 GiB: Device-nGnRnE, execute-never (all of QEMU virt's MMIO: GIC, UART, ...);
//! - 1..512 GiB: Normal write-back, inner shareable (RAM from 1 GiB on; the rest is never touched
//!   except by the deliberate faults of the `traps` guest, which must reach stage 2).

use crate::{Frame, MAX_CPUS, STACK_SIZE};
use core::arch::global_asm;

/// MAIR_EL1: Attr0 = Device-nGnRnE (0x00), Attr1 = Normal inner/outer WB RW-allocate (0xff).
const MAIR: u64 = 0xff << 8;
/// TCR_EL1: T0SZ=25, IRGN0=ORGN0=WB-WA, SH0=inner, TG0=4K, EPD1 (no TTBR1 walks), IPS=40 bits.
const TCR: u64 = 25 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23) | (2 << 32);
/// SCTLR_EL1: RES1 bits (29,28,23,22,20,11) + M (MMU), C (D-cache), SA, SA0, I (I-cache).
const SCTLR: u64 = 0x30d0_0800 | 1 | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 12);
/// CPACR_EL1.FPEN = 0b11: FP/SIMD does not trap (rustc's aarch64-unknown-none uses NEON).
const CPACR_FPEN: u64 = 3 << 20;

/// ELF relocation type R_AARCH64_RELATIVE (AAELF64, "Dynamic relocations").
const R_AARCH64_RELATIVE: u64 = 1027;

const BLOCK: u64 = 0b01;
const AF: u64 = 1 << 10;
const SH_INNER: u64 = 3 << 8;
const ATTR_NORMAL: u64 = 1 << 2;
const PXN_UXN: u64 = (1 << 53) | (1 << 54);

#[repr(C, align(4096))]
struct Table([u64; 512]);

const fn identity_table() -> Table {
    let mut t = [0u64; 512];
    t[0] = BLOCK | AF | PXN_UXN; // Attr0: Device-nGnRnE
    let mut i = 1;
    while i < 512 {
        t[i] = ((i as u64) << 30) | BLOCK | AF | SH_INNER | ATTR_NORMAL;
        i += 1;
    }
    Table(t)
}

static IDMAP: Table = identity_table();

#[repr(C, align(16))]
struct Stacks([[u8; STACK_SIZE]; MAX_CPUS + 1]);

/// One stack per CPU index, plus a spare for a secondary whose context id is out of range.
#[no_mangle]
static mut STACKS: Stacks = Stacks([[0; STACK_SIZE]; MAX_CPUS + 1]);

global_asm!(
    r##"
.section .text.head, "ax"
.global _start
_start:
    b       1f                      // code0
    .long   0                       // code1
    .quad   0                       // text_offset
    .quad   _image_size             // image_size
    .quad   0xa                     // flags: LE, 4K pages, anywhere
    .quad   0, 0, 0                 // res2..res4
    .byte   0x41, 0x52, 0x4d, 0x64  // magic "ARM\x64"
    .long   0                       // res5
1:  mov     x19, x0
    // Position independence (the image is a static PIE linked at 0, see link.ld): x20 = where
    // the image runs. adrp-based addressing needs it 4 KiB aligned (booting.rst asks for 2 MiB).
    adr     x20, _start
    adr     x1, 20f
    tst     x20, #0xfff
    b.ne    __early_fail
    // MMU and caches on first: __cpu_setup uses no stack and no pointer-holding data (IDMAP is
    // plain numbers, reached through adrp), and patching with caches on leaves no stale lines
    // for the relocated words (writes with the MMU off would bypass the cache). Uses x1 only.
    bl      __cpu_setup
    // Apply .rela.dyn: only R_AARCH64_RELATIVE, *(base + r_offset) = base + r_addend. Each
    // entry is Elf64_Rela (r_offset, r_info, r_addend); the type is the low 32 bits of r_info.
    adrp    x1, __rela_start
    add     x1, x1, :lo12:__rela_start
    adrp    x2, __rela_end
    add     x2, x2, :lo12:__rela_end
    movz    x5, #{r_relative}
    ldr     x7, =_image_size
2:  cmp     x1, x2
    b.hs    3f
    ldp     x3, x4, [x1], #16
    ldr     x6, [x1], #8
    cmp     x4, x5                  // r_info: symbol 0 (none), type RELATIVE
    b.ne    4f
    add     x8, x3, #8
    cmp     x8, x7                  // the patched word lies inside the image
    b.hi    4f
    add     x6, x6, x20
    add     x3, x3, x20
    str     x6, [x3]
    dc      cvau, x3                // in case it patches code: make it visible to fetches
    b       2b
3:  dsb     ish
    ic      iallu
    dsb     ish
    isb
    // Check that they were applied: a pointer in .data must hold the running address of _start.
    adrp    x1, __self_ptr
    ldr     x2, [x1, :lo12:__self_ptr]
    adr     x1, 21f
    cmp     x2, x20
    b.ne    __early_fail
    adrp    x1, _bss_start
    add     x1, x1, :lo12:_bss_start
    adrp    x2, _bss_end
    add     x2, x2, :lo12:_bss_end
5:  cmp     x1, x2
    b.hs    6f
    stp     xzr, xzr, [x1], #16
    b       5b
6:  adrp    x1, STACKS
    add     x1, x1, :lo12:STACKS
    add     sp, x1, #{stack_size}
    mov     x0, x19
    bl      {primary}
    b       .
4:  adr     x1, 22f
    // Prints the NUL-terminated message at x1 on the fallback PL011 (QEMU virt's, identity
    // mapped as Device or with the MMU off) and powers off with PSCI SYSTEM_OFF over HVC (the
    // conduit of both Xenith and QEMU's EL1 PSCI). No stack, no relocated data.
__early_fail:
    mov     x2, #0x9000000
7:  ldrb    w3, [x1], #1
    cbz     w3, 9f
8:  ldr     w4, [x2, #0x18]
    tbnz    w4, #5, 8b
    str     w3, [x2]
    b       7b
9:  ldr     x0, =0x84000008
    hvc     #0
    wfe
    b       9b
20: .ascii  "\nnot ok 1 - image loaded 4 KiB aligned # it was not\n"
    .asciz  "# xenith-test: passed=0 failed=1\n"
21: .ascii  "\nnot ok 1 - relocations applied # a static pointer does not point to the image\n"
    .asciz  "# xenith-test: passed=0 failed=1\n"
22: .ascii  "\nnot ok 1 - relocations applied # .rela.dyn entry not R_AARCH64_RELATIVE in the image\n"
    .asciz  "# xenith-test: passed=0 failed=1\n"
    .balign 4
    .ltorg

// Relocated at boot to the running address of _start (checked above).
.section .data.__self_ptr, "aw"
    .balign 8
__self_ptr:
    .quad   _start

.section .text
.global __secondary_entry
__secondary_entry:
    mov     x19, x0
    bl      __cpu_setup
    // Stack from the context id (CTX_MAGIC << 32 | tag << 8 | index, index 1..MAX_CPUS-1);
    // anything else gets the spare stack, so a wrong x0 cannot run on another CPU's stack.
    mov     x2, #{max_cpus}
    lsr     x1, x19, #32
    ldr     x3, ={magic}
    cmp     x1, x3
    b.ne    9f
    and     x1, x19, #0xff
    cbz     x1, 9f
    cmp     x1, x2
    b.lo    10f
9:  mov     x1, x2
10: add     x1, x1, #1
    adrp    x2, STACKS
    add     x2, x2, :lo12:STACKS
    mov     x3, #{stack_size}
    madd    x2, x1, x3, x2
    mov     sp, x2
    mov     x0, x19
    bl      {secondary}
    b       .

// Enables FP/SIMD, the identity map and the caches, installs VBAR_EL1. Uses x1 only.
__cpu_setup:
    msr     daifset, #0xf
    ldr     x1, ={cpacr}
    msr     cpacr_el1, x1
    ldr     x1, ={mair}
    msr     mair_el1, x1
    ldr     x1, ={tcr}
    msr     tcr_el1, x1
    adrp    x1, {idmap}
    msr     ttbr0_el1, x1
    isb
    tlbi    vmalle1
    ic      iallu
    dsb     nsh
    isb
    ldr     x1, ={sctlr}
    msr     sctlr_el1, x1
    isb
    adrp    x1, __vectors
    add     x1, x1, :lo12:__vectors
    msr     vbar_el1, x1
    isb
    ret
    .ltorg

.macro VENTRY kind
    .balign 128
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp]
    mov     x0, #\kind
    b       __exc_common
.endm

    .balign 2048
__vectors:
    VENTRY 0
    VENTRY 1
    VENTRY 2
    VENTRY 3
    VENTRY 4
    VENTRY 5
    VENTRY 6
    VENTRY 7
    VENTRY 8
    VENTRY 9
    VENTRY 10
    VENTRY 11
    VENTRY 12
    VENTRY 13
    VENTRY 14
    VENTRY 15

__exc_common:
    .irp    n, 2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29
    str     x\n, [sp, #(\n * 8)]
    .endr
    mrs     x2, elr_el1
    mrs     x3, spsr_el1
    stp     x30, x2, [sp, #240]
    str     x3, [sp, #256]
    add     x2, sp, #272
    .irp    n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    str     q\n, [x2, #(\n * 16)]
    .endr
    mrs     x3, fpcr
    mrs     x4, fpsr
    add     x5, x2, #512
    stp     x3, x4, [x5]
    mov     x1, sp
    bl      {handler}
    add     x2, sp, #272
    add     x5, x2, #512
    ldp     x3, x4, [x5]
    msr     fpcr, x3
    msr     fpsr, x4
    .irp    n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    ldr     q\n, [x2, #(\n * 16)]
    .endr
    ldp     x30, x2, [sp, #240]
    ldr     x3, [sp, #256]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    .irp    n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29
    ldr     x\n, [sp, #(\n * 8)]
    .endr
    add     sp, sp, #{frame}
    eret
"##,
    stack_size = const STACK_SIZE,
    r_relative = const R_AARCH64_RELATIVE,
    max_cpus = const MAX_CPUS,
    magic = const crate::smp::CTX_MAGIC >> 32,
    frame = const core::mem::size_of::<Frame>(),
    cpacr = const CPACR_FPEN,
    mair = const MAIR,
    tcr = const TCR,
    sctlr = const SCTLR,
    idmap = sym IDMAP,
    primary = sym crate::primary_main,
    secondary = sym crate::secondary_main,
    handler = sym crate::exception,
);

extern "C" {
    fn __secondary_entry();
    fn _start();
}

/// Where the image runs (its header, `_start`): the image is position-independent.
pub fn image_base() -> u64 {
    _start as *const () as u64
}

/// Physical (= running, identity-mapped) address of the secondary entry point for PSCI CPU_ON.
pub fn secondary_entry() -> u64 {
    __secondary_entry as *const () as u64
}
