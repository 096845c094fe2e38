//! ARM-specific definitions of `xen/include/public/arch-arm.h`: the guest memory map Xen's
//! toolstack uses for domUs, guest interrupts, initial PSRs, and the ARM ABI types.
//!
//! The `GUEST_*` map is what `libxl` gives a domU on ARM (dom0 mirrors the host's map instead).

/// `xen_pfn_t`: a guest frame number, 64-bit on ARM (arch-arm.h).
pub type xen_pfn_t = u64;
/// `xen_ulong_t`: 64-bit on both ARM ABIs (arch-arm.h).
pub type xen_ulong_t = u64;
/// `xen_callback_t` (arch-arm.h).
pub type xen_callback_t = u64;
/// `XEN_GUEST_HANDLE(type)` on ARM: a 64-bit guest virtual address, 8-aligned even on AArch32
/// (arch-arm.h `__guest_handle_64_*`).
pub type GuestHandle = u64;

/// `XEN_LEGACY_MAX_VCPUS`: `vcpu_info`s embedded in `shared_info` (arch-arm.h).
pub const XEN_LEGACY_MAX_VCPUS: usize = 1;
/// `GUEST_MAX_VCPUS` (arch-arm.h).
pub const GUEST_MAX_VCPUS: u32 = 128;

abi! {
    /// `struct arch_vcpu_info`: empty on ARM (arch-arm.h).
    pub struct arch_vcpu_info {}
}
abi! {
    /// `struct arch_shared_info`: empty on ARM (arch-arm.h).
    pub struct arch_shared_info {}
}
layout!(layout_arch_vcpu_info, arch_vcpu_info, 0);
layout!(layout_arch_shared_info, arch_shared_info, 0);

/// `PSR_THUMB` (arch-arm.h).
pub const PSR_THUMB: u32 = 1 << 5;
/// `PSR_FIQ_MASK` (arch-arm.h).
pub const PSR_FIQ_MASK: u32 = 1 << 6;
/// `PSR_IRQ_MASK` (arch-arm.h).
pub const PSR_IRQ_MASK: u32 = 1 << 7;
/// `PSR_ABT_MASK` (arch-arm.h).
pub const PSR_ABT_MASK: u32 = 1 << 8;
/// `PSR_BIG_ENDIAN`, arm32 (arch-arm.h).
pub const PSR_BIG_ENDIAN: u32 = 1 << 9;
/// `PSR_DBG_MASK`, arm64 (arch-arm.h).
pub const PSR_DBG_MASK: u32 = 1 << 9;
/// `PSR_IT_MASK` (arch-arm.h).
pub const PSR_IT_MASK: u32 = 0x0600_fc00;
/// `PSR_JAZELLE` (arch-arm.h).
pub const PSR_JAZELLE: u32 = 1 << 24;
/// `PSR_Z` (arch-arm.h).
pub const PSR_Z: u32 = 1 << 30;
/// `PSR_MODE_USR` (arch-arm.h).
pub const PSR_MODE_USR: u32 = 0x10;
/// `PSR_MODE_FIQ` (arch-arm.h).
pub const PSR_MODE_FIQ: u32 = 0x11;
/// `PSR_MODE_IRQ` (arch-arm.h).
pub const PSR_MODE_IRQ: u32 = 0x12;
/// `PSR_MODE_SVC` (arch-arm.h).
pub const PSR_MODE_SVC: u32 = 0x13;
/// `PSR_MODE_MON` (arch-arm.h).
pub const PSR_MODE_MON: u32 = 0x16;
/// `PSR_MODE_ABT` (arch-arm.h).
pub const PSR_MODE_ABT: u32 = 0x17;
/// `PSR_MODE_HYP` (arch-arm.h).
pub const PSR_MODE_HYP: u32 = 0x1a;
/// `PSR_MODE_UND` (arch-arm.h).
pub const PSR_MODE_UND: u32 = 0x1b;
/// `PSR_MODE_SYS` (arch-arm.h).
pub const PSR_MODE_SYS: u32 = 0x1f;
/// `PSR_MODE_BIT`: set iff AArch32 (arch-arm.h).
pub const PSR_MODE_BIT: u32 = 0x10;
/// `PSR_MODE_EL3h` (arch-arm.h).
pub const PSR_MODE_EL3h: u32 = 0x0d;
/// `PSR_MODE_EL3t` (arch-arm.h).
pub const PSR_MODE_EL3t: u32 = 0x0c;
/// `PSR_MODE_EL2h` (arch-arm.h).
pub const PSR_MODE_EL2h: u32 = 0x09;
/// `PSR_MODE_EL2t` (arch-arm.h).
pub const PSR_MODE_EL2t: u32 = 0x08;
/// `PSR_MODE_EL1h` (arch-arm.h).
pub const PSR_MODE_EL1h: u32 = 0x05;
/// `PSR_MODE_EL1t` (arch-arm.h).
pub const PSR_MODE_EL1t: u32 = 0x04;
/// `PSR_MODE_EL0t` (arch-arm.h).
pub const PSR_MODE_EL0t: u32 = 0x00;
/// `PSR_GUEST32_INIT` (arch-arm.h).
pub const PSR_GUEST32_INIT: u32 = PSR_Z | PSR_ABT_MASK | PSR_FIQ_MASK | PSR_IRQ_MASK | PSR_MODE_SVC;
/// `PSR_GUEST64_INIT` (arch-arm.h).
pub const PSR_GUEST64_INIT: u32 = PSR_ABT_MASK | PSR_FIQ_MASK | PSR_IRQ_MASK | PSR_MODE_EL1h;
/// `SCTLR_GUEST_INIT` (arch-arm.h).
pub const SCTLR_GUEST_INIT: u64 = 0x00c5_0078;

/// `GUEST_VIRTIO_MMIO_BASE` (arch-arm.h).
pub const GUEST_VIRTIO_MMIO_BASE: u64 = 0x0200_0000;
/// `GUEST_VIRTIO_MMIO_SIZE` (arch-arm.h).
pub const GUEST_VIRTIO_MMIO_SIZE: u64 = 0x0010_0000;
/// `GUEST_GICD_BASE`: GICv2 distributor (arch-arm.h).
pub const GUEST_GICD_BASE: u64 = 0x0300_1000;
/// `GUEST_GICD_SIZE` (arch-arm.h).
pub const GUEST_GICD_SIZE: u64 = 0x0000_1000;
/// `GUEST_GICC_BASE`: GICv2 CPU interface (arch-arm.h).
pub const GUEST_GICC_BASE: u64 = 0x0300_2000;
/// `GUEST_GICC_SIZE` (arch-arm.h).
pub const GUEST_GICC_SIZE: u64 = 0x0000_2000;
/// `GUEST_GICV3_GICD_BASE` (arch-arm.h).
pub const GUEST_GICV3_GICD_BASE: u64 = 0x0300_1000;
/// `GUEST_GICV3_GICD_SIZE` (arch-arm.h).
pub const GUEST_GICV3_GICD_SIZE: u64 = 0x0001_0000;
/// `GUEST_GICV3_RDIST_REGIONS` (arch-arm.h).
pub const GUEST_GICV3_RDIST_REGIONS: u32 = 1;
/// `GUEST_GICV3_GICR0_BASE`: redistributors of vCPU0..127 (arch-arm.h).
pub const GUEST_GICV3_GICR0_BASE: u64 = 0x0302_0000;
/// `GUEST_GICV3_GICR0_SIZE` (arch-arm.h).
pub const GUEST_GICV3_GICR0_SIZE: u64 = 0x0100_0000;
/// `GUEST_VPCI_ECAM_BASE` (arch-arm.h).
pub const GUEST_VPCI_ECAM_BASE: u64 = 0x1000_0000;
/// `GUEST_VPCI_ECAM_SIZE` (arch-arm.h).
pub const GUEST_VPCI_ECAM_SIZE: u64 = 0x1000_0000;
/// `GUEST_ACPI_BASE` (arch-arm.h).
pub const GUEST_ACPI_BASE: u64 = 0x2000_0000;
/// `GUEST_ACPI_SIZE` (arch-arm.h).
pub const GUEST_ACPI_SIZE: u64 = 0x0200_0000;
/// `GUEST_PL011_BASE`: emulated PL011 (vpl011) (arch-arm.h).
pub const GUEST_PL011_BASE: u64 = 0x2200_0000;
/// `GUEST_PL011_SIZE` (arch-arm.h).
pub const GUEST_PL011_SIZE: u64 = 0x0000_1000;
/// `GUEST_VPCI_ADDR_TYPE_MEM` (arch-arm.h).
pub const GUEST_VPCI_ADDR_TYPE_MEM: u64 = 0x0200_0000;
/// `GUEST_VPCI_MEM_ADDR` (arch-arm.h).
pub const GUEST_VPCI_MEM_ADDR: u64 = 0x2300_0000;
/// `GUEST_VPCI_MEM_SIZE` (arch-arm.h).
pub const GUEST_VPCI_MEM_SIZE: u64 = 0x1000_0000;
/// `GUEST_GNTTAB_BASE`: where a guest maps its grant table frames (arch-arm.h).
pub const GUEST_GNTTAB_BASE: u64 = 0x3800_0000;
/// `GUEST_GNTTAB_SIZE` (arch-arm.h).
pub const GUEST_GNTTAB_SIZE: u64 = 0x0100_0000;
/// `GUEST_MAGIC_BASE`: console, xenstore and other magic pages (arch-arm.h).
pub const GUEST_MAGIC_BASE: u64 = 0x3900_0000;
/// `GUEST_MAGIC_SIZE` (arch-arm.h).
pub const GUEST_MAGIC_SIZE: u64 = 0x0100_0000;
/// `GUEST_RAM_BANKS` (arch-arm.h).
pub const GUEST_RAM_BANKS: usize = 2;
/// `GUEST_RAM0_BASE`: 3 GiB of low RAM at 1 GiB (arch-arm.h).
pub const GUEST_RAM0_BASE: u64 = 0x4000_0000;
/// `GUEST_RAM0_SIZE` (arch-arm.h).
pub const GUEST_RAM0_SIZE: u64 = 0xc000_0000;
/// `GUEST_VPCI_ADDR_TYPE_PREFETCH_MEM` (arch-arm.h).
pub const GUEST_VPCI_ADDR_TYPE_PREFETCH_MEM: u64 = 0x4200_0000;
/// `GUEST_VPCI_PREFETCH_MEM_ADDR` (arch-arm.h).
pub const GUEST_VPCI_PREFETCH_MEM_ADDR: u64 = 0x1_0000_0000;
/// `GUEST_VPCI_PREFETCH_MEM_SIZE` (arch-arm.h).
pub const GUEST_VPCI_PREFETCH_MEM_SIZE: u64 = 0x1_0000_0000;
/// `GUEST_RAM1_BASE`: 1016 GiB of RAM at 8 GiB (arch-arm.h).
pub const GUEST_RAM1_BASE: u64 = 0x02_0000_0000;
/// `GUEST_RAM1_SIZE` (arch-arm.h).
pub const GUEST_RAM1_SIZE: u64 = 0xfe_0000_0000;
/// `GUEST_RAM_BASE`: lowest RAM address (arch-arm.h).
pub const GUEST_RAM_BASE: u64 = GUEST_RAM0_BASE;
/// `GUEST_RAM_MAX` (arch-arm.h).
pub const GUEST_RAM_MAX: u64 = GUEST_RAM0_SIZE + GUEST_RAM1_SIZE;
/// `GUEST_RAM_BANK_BASES` (arch-arm.h).
pub const GUEST_RAM_BANK_BASES: [u64; GUEST_RAM_BANKS] = [GUEST_RAM0_BASE, GUEST_RAM1_BASE];
/// `GUEST_RAM_BANK_SIZES` (arch-arm.h).
pub const GUEST_RAM_BANK_SIZES: [u64; GUEST_RAM_BANKS] = [GUEST_RAM0_SIZE, GUEST_RAM1_SIZE];

/// `GUEST_TIMER_VIRT_PPI` (arch-arm.h).
pub const GUEST_TIMER_VIRT_PPI: u32 = 27;
/// `GUEST_TIMER_PHYS_S_PPI` (arch-arm.h).
pub const GUEST_TIMER_PHYS_S_PPI: u32 = 29;
/// `GUEST_TIMER_PHYS_NS_PPI` (arch-arm.h).
pub const GUEST_TIMER_PHYS_NS_PPI: u32 = 30;
/// `GUEST_EVTCHN_PPI`: the event-channel upcall interrupt (arch-arm.h).
pub const GUEST_EVTCHN_PPI: u32 = 31;
/// `GUEST_VPL011_SPI` (arch-arm.h).
pub const GUEST_VPL011_SPI: u32 = 32;
/// `GUEST_VIRTIO_MMIO_SPI_FIRST` (arch-arm.h).
pub const GUEST_VIRTIO_MMIO_SPI_FIRST: u32 = 33;
/// `GUEST_VIRTIO_MMIO_SPI_LAST` (arch-arm.h).
pub const GUEST_VIRTIO_MMIO_SPI_LAST: u32 = 43;

/// `PSCI_cpu_suspend`: legacy Xen PSCI 0.1 function id (arch-arm.h).
pub const PSCI_cpu_suspend: u32 = 0;
/// `PSCI_cpu_off` (arch-arm.h).
pub const PSCI_cpu_off: u32 = 1;
/// `PSCI_cpu_on` (arch-arm.h).
pub const PSCI_cpu_on: u32 = 2;
/// `PSCI_migrate` (arch-arm.h).
pub const PSCI_migrate: u32 = 3;

/// `VGCF_online` (arch-arm.h): `vcpu_guest_context.flags`, the vCPU runs once unpaused.
pub const VGCF_online: u32 = 1 << 0;

abi! {
    /// `struct vcpu_guest_core_regs` (arch-arm.h), AArch64 names (`__DECL_REG` unions are 64-bit).
    pub struct vcpu_guest_core_regs {
        /// x0..x30 (AArch32: r0_usr.. in their `__DECL_REG` places).
        pub x: [u64; 31],
        /// `pc64`: ELR_EL2.
        pub pc64: u64,
        /// SPSR_EL2.
        pub cpsr: u64,
        /// `spsr_el1` (AArch32: `spsr_svc`).
        pub spsr_el1: u64,
        /// AArch32 only.
        pub spsr_fiq: u32,
        pub spsr_irq: u32,
        pub spsr_und: u32,
        pub spsr_abt: u32,
        pub sp_el0: u64,
        pub sp_el1: u64,
        pub elr_el1: u64,
    }
}
layout!(layout_vcpu_guest_core_regs, vcpu_guest_core_regs, 312, pc64 @ 248, cpsr @ 256,
    spsr_el1 @ 264, spsr_fiq @ 272, sp_el0 @ 288, sp_el1 @ 296, elr_el1 @ 304);

abi! {
    /// `struct vcpu_guest_context` (arch-arm.h).
    pub struct vcpu_guest_context {
        /// `VGCF_*`.
        pub flags: u32,
        pub _pad: u32,
        pub user_regs: vcpu_guest_core_regs,
        pub sctlr: u64,
        pub ttbcr: u64,
        pub ttbr0: u64,
        pub ttbr1: u64,
    }
}
layout!(layout_vcpu_guest_context, vcpu_guest_context, 352, flags @ 0, user_regs @ 8,
    sctlr @ 320, ttbcr @ 328, ttbr0 @ 336, ttbr1 @ 344);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_map_regions_do_not_overlap() {
        let mut r = [
            (GUEST_VIRTIO_MMIO_BASE, GUEST_VIRTIO_MMIO_SIZE),
            (GUEST_GICV3_GICD_BASE, GUEST_GICV3_GICD_SIZE),
            (GUEST_GICV3_GICR0_BASE, GUEST_GICV3_GICR0_SIZE),
            (GUEST_VPCI_ECAM_BASE, GUEST_VPCI_ECAM_SIZE),
            (GUEST_ACPI_BASE, GUEST_ACPI_SIZE),
            (GUEST_PL011_BASE, GUEST_PL011_SIZE),
            (GUEST_VPCI_MEM_ADDR, GUEST_VPCI_MEM_SIZE),
            (GUEST_GNTTAB_BASE, GUEST_GNTTAB_SIZE),
            (GUEST_MAGIC_BASE, GUEST_MAGIC_SIZE),
            (GUEST_RAM0_BASE, GUEST_RAM0_SIZE),
            (GUEST_RAM1_BASE, GUEST_RAM1_SIZE),
        ];
        r.sort();
        for w in r.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "{w:x?}");
        }
        // GICv2's GICC sits inside the GICv3 distributor window: they are alternatives.
        assert_eq!(GUEST_GICC_BASE, GUEST_GICD_BASE + GUEST_GICD_SIZE);
        assert_eq!(PSR_GUEST64_INIT, 0x1c5);
        assert_eq!(PSR_GUEST32_INIT, 0x4000_01d3);
        assert_eq!(GUEST_RAM_MAX, 1019 << 30);
    }
}
