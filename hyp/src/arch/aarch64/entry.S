/*
 * EL2 exception vectors and the guest entry/exit path (KVM's __guest_enter/__guest_exit model):
 * `enter_guest(regs)` saves the hypervisor's callee-saved registers, loads the guest's general
 * registers from `regs` and ERETs; any exception from the guest lands in a lower-EL vector that
 * stores the guest's registers back into the same `GuestRegs` (found through the per-CPU block
 * at TPIDR_EL2) and returns from `enter_guest` with the exit kind. So to Rust a guest exit is an
 * ordinary function return. The hypervisor runs with IRQs masked; exceptions taken from EL2 itself
 * are hypervisor bugs and go to `hyp_exception`.
 *
 * GuestRegs layout (must match context.rs): x0..x30 at 8*n, then elr, spsr, esr, far, hpfar.
 * PerCpu layout (must match percpu.rs): offset 0 = pointer to the running GuestRegs.
 */
.equ GREGS_ELR,     (31 * 8)
.equ GREGS_SPSR,    (32 * 8)
.equ GREGS_ESR,     (33 * 8)
.equ GREGS_FAR,     (34 * 8)
.equ GREGS_HPFAR,   (35 * 8)
.equ PCPU_GUEST,    0

.equ EXIT_SYNC,     0
.equ EXIT_IRQ,      1
.equ EXIT_FIQ,      2
.equ EXIT_SERROR,   3

.macro hyp_vector kind
    .balign 0x80
    sub     sp, sp, #(34 * 8)
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       hyp_exception_entry
.endm

.macro guest_vector kind
    .balign 0x80
    stp     x0, x1, [sp, #-16]!
    mov     x1, #\kind
    b       guest_exit
.endm

/*
 * The synchronous vector from an AArch64 guest, with Xen's fast path (arm64/entry.S,
 * `guest_sync`): `HVC #0` with w0 = SMCCC_ARCH_WORKAROUND_1 or _3 returns straight to the
 * guest, registers untouched. Linux calls WORKAROUND_1 on every switch of address space on CPUs
 * that need branch-predictor hardening (Cortex-A57, ...), where Xenith answers its
 * ARCH_FEATURES as Xen does (vpsci.rs); the workaround has nothing to do beyond the exception
 * itself, as in `vpsci::smccc`'s slow path. 18 instructions: fits the 0x80-byte slot (the
 * `.org` after it fails the build if it does not).
 */
.equ ESR_EC_SHIFT,  26
.equ ESR_EC_HVC64,  0x16
.equ SMCCC_ARCH_WORKAROUND_1, 0x80008000
.equ SMCCC_ARCH_WORKAROUND_3, 0x80003fff

.macro guest_sync_vector_a64
    .balign 0x80
    stp     x0, x1, [sp, #-16]!
    mrs     x1, esr_el2
    ubfx    x1, x1, #ESR_EC_SHIFT, #6
    cmp     x1, #ESR_EC_HVC64
    b.ne    1f
    mrs     x1, esr_el2
    tst     x1, #0xffff                 /* the HVC immediate: SMCCC calls use #0 */
    b.ne    1f
    eor     w1, w0, #SMCCC_ARCH_WORKAROUND_1
    cbz     w1, 2f
    eor     w1, w0, #SMCCC_ARCH_WORKAROUND_3
    cbnz    w1, 1f
2:  ldp     x0, x1, [sp], #16
    eret
    dsb     nsh
    isb
1:  mov     x1, #EXIT_SYNC
    b       guest_exit
.endm

.section .text
.balign 0x800
.global hyp_vectors
hyp_vectors:
    /* Current EL with SP_EL0 (never used by Xenith). */
    hyp_vector 0
    hyp_vector 1
    hyp_vector 2
    hyp_vector 3
    /* Current EL with SP_ELx: Xenith's own faults. */
    hyp_vector 0
    hyp_vector 1
    hyp_vector 2
    hyp_vector 3
    /* Lower EL, AArch64: the guest. */
    guest_sync_vector_a64
    .org    hyp_vectors + 0x480
    guest_vector EXIT_IRQ
    guest_vector EXIT_FIQ
    guest_vector EXIT_SERROR
    /* Lower EL, AArch32: the guest (same path; the ESR tells AArch32 traps apart). */
    guest_vector EXIT_SYNC
    guest_vector EXIT_IRQ
    guest_vector EXIT_FIQ
    guest_vector EXIT_SERROR

hyp_exception_entry:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    str     x30, [sp, #240]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [sp, #248]
    mov     x0, x1
    mov     x1, sp
    bl      hyp_exception
1:  wfe
    b       1b

/* u64 enter_guest(GuestRegs *regs) */
.global enter_guest
enter_guest:
    stp     x29, x30, [sp, #-96]!
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]
    mrs     x1, tpidr_el2
    str     x0, [x1, #PCPU_GUEST]
    ldp     x2, x3, [x0, #GREGS_ELR]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ldp     x2, x3, [x0, #16]
    ldp     x4, x5, [x0, #32]
    ldp     x6, x7, [x0, #48]
    ldp     x8, x9, [x0, #64]
    ldp     x10, x11, [x0, #80]
    ldp     x12, x13, [x0, #96]
    ldp     x14, x15, [x0, #112]
    ldp     x16, x17, [x0, #128]
    ldp     x18, x19, [x0, #144]
    ldp     x20, x21, [x0, #160]
    ldp     x22, x23, [x0, #176]
    ldp     x24, x25, [x0, #192]
    ldp     x26, x27, [x0, #208]
    ldp     x28, x29, [x0, #224]
    ldr     x30, [x0, #240]
    ldp     x0, x1, [x0, #0]
    eret
    dsb     nsh
    isb

guest_exit:
    mrs     x0, tpidr_el2
    ldr     x0, [x0, #PCPU_GUEST]
    stp     x2, x3, [x0, #16]
    stp     x4, x5, [x0, #32]
    stp     x6, x7, [x0, #48]
    stp     x8, x9, [x0, #64]
    stp     x10, x11, [x0, #80]
    stp     x12, x13, [x0, #96]
    stp     x14, x15, [x0, #112]
    stp     x16, x17, [x0, #128]
    stp     x18, x19, [x0, #144]
    stp     x20, x21, [x0, #160]
    stp     x22, x23, [x0, #176]
    stp     x24, x25, [x0, #192]
    stp     x26, x27, [x0, #208]
    stp     x28, x29, [x0, #224]
    str     x30, [x0, #240]
    ldp     x2, x3, [sp], #16           /* the guest's x0, x1 */
    stp     x2, x3, [x0, #0]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [x0, #GREGS_ELR]
    mrs     x2, esr_el2
    mrs     x3, far_el2
    stp     x2, x3, [x0, #GREGS_ESR]
    mrs     x2, hpfar_el2
    str     x2, [x0, #GREGS_HPFAR]
    mov     x0, x1                      /* exit kind */
    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x23, x24, [sp, #48]
    ldp     x25, x26, [sp, #64]
    ldp     x27, x28, [sp, #80]
    ldp     x29, x30, [sp], #96
    ret
