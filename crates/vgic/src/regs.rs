//! Register offsets and field encodings of the GIC distributor and redistributor, named as in the
//! GIC architecture specifications (ARM IHI 0048B for GICv2, ARM IHI 0069 for GICv3) and in
//! Linux's `include/linux/irqchip/arm-gic{,-v3}.h`.

/// Size of the GICv2 distributor register frame (IHI 0048B §4.1.2, 4 KiB).
pub const GICD_V2_SIZE: u64 = 0x1000;
/// Size of the GICv3 distributor register frame (IHI 0069 §12.8, 64 KiB).
pub const GICD_V3_SIZE: u64 = 0x1_0000;
/// Size of a GICv3 redistributor's `RD_base` frame.
pub const GICR_RD_BASE_SIZE: u64 = 0x1_0000;
/// Size of a GICv3 redistributor's `SGI_base` frame.
pub const GICR_SGI_BASE_SIZE: u64 = 0x1_0000;
/// Bytes of redistributor region per vCPU (`RD_base` + `SGI_base`, 128 KiB; no GICv4 vLPI frames).
pub const GICR_FRAME_SIZE: u64 = GICR_RD_BASE_SIZE + GICR_SGI_BASE_SIZE;

// ---- Distributor (common layout) ----
/// Distributor Control Register.
pub const GICD_CTLR: u64 = 0x0000;
/// Interrupt Controller Type Register.
pub const GICD_TYPER: u64 = 0x0004;
/// Distributor Implementer Identification Register.
pub const GICD_IIDR: u64 = 0x0008;
/// GICv3 Interrupt Controller Type Register 2.
pub const GICD_TYPER2: u64 = 0x000C;
/// GICv3 Error Reporting Status Register.
pub const GICD_STATUSR: u64 = 0x0010;
/// Interrupt Group Registers.
pub const GICD_IGROUPR: u64 = 0x0080;
/// Interrupt Set-Enable Registers.
pub const GICD_ISENABLER: u64 = 0x0100;
/// Interrupt Clear-Enable Registers.
pub const GICD_ICENABLER: u64 = 0x0180;
/// Interrupt Set-Pending Registers.
pub const GICD_ISPENDR: u64 = 0x0200;
/// Interrupt Clear-Pending Registers.
pub const GICD_ICPENDR: u64 = 0x0280;
/// Interrupt Set-Active Registers.
pub const GICD_ISACTIVER: u64 = 0x0300;
/// Interrupt Clear-Active Registers.
pub const GICD_ICACTIVER: u64 = 0x0380;
/// Interrupt Priority Registers (byte-accessible).
pub const GICD_IPRIORITYR: u64 = 0x0400;
/// Interrupt Processor Targets Registers (GICv2, byte-accessible).
pub const GICD_ITARGETSR: u64 = 0x0800;
/// Interrupt Configuration Registers.
pub const GICD_ICFGR: u64 = 0x0C00;
/// GICv3 Interrupt Group Modifier Registers.
pub const GICD_IGRPMODR: u64 = 0x0D00;
/// Non-secure Access Control Registers.
pub const GICD_NSACR: u64 = 0x0E00;
/// GICv2 Software Generated Interrupt Register.
pub const GICD_SGIR: u64 = 0x0F00;
/// GICv2 SGI Clear-Pending Registers.
pub const GICD_CPENDSGIR: u64 = 0x0F10;
/// GICv2 SGI Set-Pending Registers.
pub const GICD_SPENDSGIR: u64 = 0x0F20;
/// GICv3 Interrupt Routing Registers (64-bit, `0x6000 + 8 * INTID`).
pub const GICD_IROUTER: u64 = 0x6000;
/// End (exclusive) of the GICD_IROUTER array (INTID 1019 is the last SPI).
pub const GICD_IROUTER_END: u64 = 0x7FE0;
/// First identification register of a GICv2 distributor (GICD_PIDR4).
pub const GICD_V2_ID_BASE: u64 = 0x0FD0;
/// First identification register of a GICv3 distributor/redistributor (PIDR4).
pub const GICV3_ID_BASE: u64 = 0xFFD0;
/// Offset of PIDR2 inside the ID block (`ID_BASE + 0x18`: 0xFE8 on v2, 0xFFE8 on v3).
pub const PIDR2_IN_ID_BLOCK: u64 = 0x18;
/// GICv2 GICD_PIDR2 offset.
pub const GICD_V2_PIDR2: u64 = GICD_V2_ID_BASE + PIDR2_IN_ID_BLOCK;
/// GICv3 GICD_PIDR2 / GICR_PIDR2 offset.
pub const GICV3_PIDR2: u64 = GICV3_ID_BASE + PIDR2_IN_ID_BLOCK;

/// GICv2 GICD_CTLR.EnableGrp0 (named `Enable` without Security Extensions).
pub const GICD_CTLR_ENABLE_G0: u32 = 1 << 0;
/// GICD_CTLR.EnableGrp1.
pub const GICD_CTLR_ENABLE_G1: u32 = 1 << 1;
/// GICv3 GICD_CTLR.ARE (ARE_NS in Linux's naming), RAO/WI here.
pub const GICD_CTLR_ARE_NS: u32 = 1 << 4;
/// GICv3 GICD_CTLR.DS (single security state), RAO/WI here.
pub const GICD_CTLR_DS: u32 = 1 << 6;
/// GICv3 GICD_CTLR.RWP (register write pending), always 0 here.
pub const GICD_CTLR_RWP: u32 = 1 << 31;

/// GICD_TYPER.CPUNumber shift (3 bits).
pub const GICD_TYPER_CPUS_SHIFT: u32 = 5;
/// GICv3 GICD_TYPER.IDbits shift (5 bits, value = bits - 1).
pub const GICD_TYPER_ID_BITS_SHIFT: u32 = 19;
/// GICv3 GICD_TYPER.A3V: Aff3 supported.
pub const GICD_TYPER_A3V: u32 = 1 << 24;
/// GICv3 GICD_TYPER.RSS: range selector (Aff0 0..255) supported for SGIs.
pub const GICD_TYPER_RSS: u32 = 1 << 26;
/// INTID bits reported without LPIs (INTIDs 0..1023).
pub const GICV3_INTID_BITS: u32 = 10;

/// GICD_IIDR / GICR_IIDR value: implementer ARM (JEP106 0x43B), ProductID 0x58 ('X'enith),
/// revision 0. Chosen to match none of Linux's irq-gic-v3 erratum IIDRs.
pub const GICD_IIDR_VAL: u32 = (0x58 << 24) | 0x43B;

/// GICD_SGIR.TargetListFilter shift (2 bits).
pub const GICD_SGIR_FILTER_SHIFT: u32 = 24;
/// GICD_SGIR.CPUTargetList shift (8 bits).
pub const GICD_SGIR_TARGETS_SHIFT: u32 = 16;
/// GICD_SGIR.SGIINTID mask.
pub const GICD_SGIR_INTID_MASK: u32 = 0xF;
/// TargetListFilter: forward to the CPUs in CPUTargetList.
pub const GICD_SGI_TARGET_LIST: u32 = 0;
/// TargetListFilter: forward to all CPUs but the requester.
pub const GICD_SGI_TARGET_OTHERS: u32 = 1;
/// TargetListFilter: forward to the requester only.
pub const GICD_SGI_TARGET_SELF: u32 = 2;

/// GICD_IROUTER.Interrupt_Routing_Mode (1 = any participating PE).
pub const GICD_IROUTER_IRM: u64 = 1 << 31;
/// Writable bits of GICD_IROUTER: Aff3 [39:32], IRM [31], Aff2..Aff0 [23:0].
pub const GICD_IROUTER_MASK: u64 = 0xFF_0000_0000 | GICD_IROUTER_IRM | 0xFF_FFFF;
/// Affinity fields of an MPIDR / IROUTER: Aff3 [39:32], Aff2 [23:16], Aff1 [15:8], Aff0 [7:0].
pub const MPIDR_AFFINITY_MASK: u64 = 0xFF_00FF_FFFF;

// ---- Redistributor RD_base ----
/// Redistributor Control Register.
pub const GICR_CTLR: u64 = 0x0000;
/// Redistributor Implementer Identification Register.
pub const GICR_IIDR: u64 = 0x0004;
/// Redistributor Type Register (64-bit).
pub const GICR_TYPER: u64 = 0x0008;
/// Error Reporting Status Register.
pub const GICR_STATUSR: u64 = 0x0010;
/// Redistributor Wake Register.
pub const GICR_WAKER: u64 = 0x0014;
/// GICR_TYPER.Last: this is the last redistributor of the region.
pub const GICR_TYPER_LAST: u64 = 1 << 4;
/// GICR_TYPER.Processor_Number shift (16 bits).
pub const GICR_TYPER_PROC_NUM_SHIFT: u32 = 8;
/// GICR_TYPER.Affinity_Value shift (Aff3.Aff2.Aff1.Aff0 in [63:32]).
pub const GICR_TYPER_AFF_SHIFT: u32 = 32;
/// GICR_WAKER.ProcessorSleep.
pub const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
/// GICR_WAKER.ChildrenAsleep.
pub const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;

// ---- ICC_SGI1R_EL1 / ICC_SGI0R_EL1 (IHI 0069 §12.2.21) ----
/// TargetList mask ([15:0]).
pub const ICC_SGI1R_TARGET_LIST_MASK: u64 = 0xFFFF;
/// Aff1 shift.
pub const ICC_SGI1R_AFFINITY_1_SHIFT: u32 = 16;
/// INTID shift (4 bits).
pub const ICC_SGI1R_SGI_ID_SHIFT: u32 = 24;
/// Aff2 shift.
pub const ICC_SGI1R_AFFINITY_2_SHIFT: u32 = 32;
/// IRM bit: route to all PEs but self.
pub const ICC_SGI1R_IRQ_ROUTING_MODE_BIT: u32 = 40;
/// RS (range selector) shift (4 bits).
pub const ICC_SGI1R_RS_SHIFT: u32 = 44;
/// Aff3 shift.
pub const ICC_SGI1R_AFFINITY_3_SHIFT: u32 = 48;
