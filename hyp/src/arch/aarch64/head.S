/*
 * Xenith entry: the arm64 Image header, EL2 checks, BSS, the boot identity map, the EL2 MMU,
 * per-CPU stacks, then Rust. Everything here runs with the MMU and caches off.
 *
 * Boot protocol (Linux Documentation/arch/arm64/booting.rst, as Xen uses it): entered at EL2,
 * MMU off, x0 = physical address of the host Device Tree. Secondary pCPUs enter at
 * `secondary_entry` through PSCI CPU_ON with x0 = their logical CPU index (the PSCI context id).
 */
.equ CURRENTEL_EL2,        (2 << 2)
.equ MAX_PCPUS,            8
.equ STACK_SHIFT,          16          /* 64 KiB of stack per pCPU */

/* MAIR_EL2: index 0 = Device-nGnRnE (0x00), index 1 = Normal inner/outer WB RA WA (0xff). */
.equ MAIR_VALUE,           0xff00
/* Stage-1 block descriptor bits (ARM ARM D8.3.2). */
.equ PTE_BLOCK,            0x1
.equ PTE_ATTR_DEVICE,      (0 << 2)
.equ PTE_ATTR_NORMAL,      (1 << 2)
.equ PTE_SH_INNER,         (3 << 8)
.equ PTE_AF,               (1 << 10)
.equ PTE_XN,               (1 << 54)
.equ PTE_NORMAL,           (PTE_BLOCK | PTE_ATTR_NORMAL | PTE_SH_INNER | PTE_AF)
.equ PTE_DEVICE,           (PTE_BLOCK | PTE_ATTR_DEVICE | PTE_AF | PTE_XN)
/* TCR_EL2: T0SZ = 25 (39-bit VA, start at level 1), inner/outer WBWA, inner shareable, 4K. */
.equ TCR_T0SZ,             25
.equ TCR_IRGN0_WBWA,       (1 << 8)
.equ TCR_ORGN0_WBWA,       (1 << 10)
.equ TCR_SH0_INNER,        (3 << 12)
.equ TCR_RES1,             ((1 << 31) | (1 << 23))
.equ TCR_PS_SHIFT,         16
.equ TCR_VALUE,            (TCR_T0SZ | TCR_IRGN0_WBWA | TCR_ORGN0_WBWA | TCR_SH0_INNER | TCR_RES1)
/* SCTLR_EL2 (non-VHE): RES1 bits, M, C, SA, I. */
.equ SCTLR_RES1,           0x30c50830
.equ SCTLR_M,              (1 << 0)
.equ SCTLR_C,              (1 << 2)
.equ SCTLR_SA,             (1 << 3)
.equ SCTLR_I,              (1 << 12)
.equ SCTLR_VALUE,          (SCTLR_RES1 | SCTLR_M | SCTLR_C | SCTLR_SA | SCTLR_I)
/* Level-1 entries [1, 256) are RAM (QEMU virt: 1 GiB .. 256 GiB), the rest devices. */
.equ L1_RAM_FIRST,         1
.equ L1_RAM_END,           256

.section .text.head, "ax"
.global _start
_start:
    /* arm64 Image header (booting.rst "Call the kernel image"). */
    b       primary_entry               /* code0 */
    .long   0                           /* code1 */
    .quad   TEXT_OFFSET                 /* text_offset */
    .quad   _image_size                 /* image_size, BSS included */
    .quad   0x2                         /* flags: little endian, 4K pages, near DRAM base */
    .quad   0, 0, 0                     /* res2..res4 */
    .ascii  "ARM\x64"                   /* magic */
    .long   0                           /* res5 */

primary_entry:
    mov     x20, x0                     /* host DTB */
    mrs     x1, CurrentEL
    cmp     x1, #CURRENTEL_EL2
    b.ne    park
    adr     x1, _start
    ldr     x2, =_start
    cmp     x1, x2
    b.ne    wrong_address
    /* Zero BSS. */
    ldr     x1, =_bss_start
    ldr     x2, =_bss_end
1:  cmp     x1, x2
    b.hs    2f
    stp     xzr, xzr, [x1], #16
    b       1b
2:  /* Build the boot identity map: one level-1 table of 1 GiB blocks. */
    ldr     x1, =boot_l1_table
    mov     x2, #0
3:  lsl     x3, x2, #30
    cmp     x2, #L1_RAM_FIRST
    b.lo    4f
    cmp     x2, #L1_RAM_END
    b.hs    4f
    ldr     x4, =PTE_NORMAL
    b       5f
4:  ldr     x4, =PTE_DEVICE
5:  orr     x3, x3, x4
    str     x3, [x1, x2, lsl #3]
    add     x2, x2, #1
    cmp     x2, #512
    b.lo    3b
    dsb     sy
    mov     x19, #0
    b       common_entry

.global secondary_entry
secondary_entry:
    mov     x19, x0                     /* logical CPU index */
    mov     x20, #0
    mrs     x1, CurrentEL
    cmp     x1, #CURRENTEL_EL2
    b.ne    park

common_entry:
    cmp     x19, #MAX_PCPUS
    b.hs    park
    /* EL2 MMU on with the boot identity map. */
    ldr     x1, =MAIR_VALUE
    msr     mair_el2, x1
    mrs     x1, id_aa64mmfr0_el1
    and     x1, x1, #0x7                /* PARange */
    cmp     x1, #5
    mov     x3, #5
    csel    x1, x1, x3, ls              /* TCR_EL2.PS is 3 bits: cap at 48 bits */
    ldr     x2, =TCR_VALUE
    orr     x2, x2, x1, lsl #TCR_PS_SHIFT
    msr     tcr_el2, x2
    ldr     x1, =boot_l1_table
    msr     ttbr0_el2, x1
    isb
    tlbi    alle2
    dsb     ish
    isb
    ldr     x1, =SCTLR_VALUE
    msr     sctlr_el2, x1
    isb
    /* Stack: top of this CPU's slot. */
    ldr     x1, =pcpu_stacks
    add     x2, x19, #1
    add     x1, x1, x2, lsl #STACK_SHIFT
    mov     sp, x1
    ldr     x1, =hyp_vectors
    msr     vbar_el2, x1
    isb
    mov     x0, x19
    mov     x1, x20
    bl      rust_entry
park:
    wfe
    b       park

wrong_address:
    /* Loaded somewhere we were not linked for: say so on QEMU virt's PL011 and stop. */
    mov     x1, #0x09000000
    adr     x2, wrong_address_msg
6:  ldrb    w3, [x2], #1
    cbz     w3, park
    str     w3, [x1]
    b       6b
wrong_address_msg:
    .asciz  "Xenith: loaded at the wrong address; load xenith.bin at RAM base + 2 MiB\r\n"
    .balign 4

.section .bss
.balign 4096
.global boot_l1_table
boot_l1_table:
    .space  4096
.balign 16
.global pcpu_stacks
pcpu_stacks:
    .space  (MAX_PCPUS << STACK_SHIFT)
