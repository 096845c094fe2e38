//! `HYPERVISOR_physdev_op(cmd, arg)` operation numbers (`xen/include/public/physdev.h`).
//! Linux on ARM issues only a few of these (e.g. `PHYSDEVOP_pci_device_add`); Xen on ARM
//! answers most with `-ENOSYS`.

/// `PHYSDEVOP_irq_status_query` (physdev.h).
pub const PHYSDEVOP_irq_status_query: u32 = 5;
/// `PHYSDEVOP_set_iopl` (physdev.h).
pub const PHYSDEVOP_set_iopl: u32 = 6;
/// `PHYSDEVOP_set_iobitmap` (physdev.h).
pub const PHYSDEVOP_set_iobitmap: u32 = 7;
/// `PHYSDEVOP_apic_read` (physdev.h).
pub const PHYSDEVOP_apic_read: u32 = 8;
/// `PHYSDEVOP_apic_write` (physdev.h).
pub const PHYSDEVOP_apic_write: u32 = 9;
/// `PHYSDEVOP_alloc_irq_vector` (physdev.h).
pub const PHYSDEVOP_alloc_irq_vector: u32 = 10;
/// `PHYSDEVOP_free_irq_vector` (physdev.h).
pub const PHYSDEVOP_free_irq_vector: u32 = 11;
/// `PHYSDEVOP_eoi` (physdev.h).
pub const PHYSDEVOP_eoi: u32 = 12;
/// `PHYSDEVOP_map_pirq` (physdev.h).
pub const PHYSDEVOP_map_pirq: u32 = 13;
/// `PHYSDEVOP_unmap_pirq` (physdev.h).
pub const PHYSDEVOP_unmap_pirq: u32 = 14;
/// `PHYSDEVOP_manage_pci_add` (physdev.h).
pub const PHYSDEVOP_manage_pci_add: u32 = 15;
/// `PHYSDEVOP_manage_pci_remove` (physdev.h).
pub const PHYSDEVOP_manage_pci_remove: u32 = 16;
/// `PHYSDEVOP_pirq_eoi_gmfn_v1` (physdev.h).
pub const PHYSDEVOP_pirq_eoi_gmfn_v1: u32 = 17;
/// `PHYSDEVOP_restore_msi` (physdev.h).
pub const PHYSDEVOP_restore_msi: u32 = 19;
/// `PHYSDEVOP_manage_pci_add_ext` (physdev.h).
pub const PHYSDEVOP_manage_pci_add_ext: u32 = 20;
/// `PHYSDEVOP_setup_gsi` (physdev.h).
pub const PHYSDEVOP_setup_gsi: u32 = 21;
/// `PHYSDEVOP_get_free_pirq` (physdev.h).
pub const PHYSDEVOP_get_free_pirq: u32 = 23;
/// `PHYSDEVOP_pci_mmcfg_reserved` (physdev.h).
pub const PHYSDEVOP_pci_mmcfg_reserved: u32 = 24;
/// `PHYSDEVOP_pci_device_add` (physdev.h).
pub const PHYSDEVOP_pci_device_add: u32 = 25;
/// `PHYSDEVOP_pci_device_remove` (physdev.h).
pub const PHYSDEVOP_pci_device_remove: u32 = 26;
/// `PHYSDEVOP_restore_msi_ext` (physdev.h).
pub const PHYSDEVOP_restore_msi_ext: u32 = 27;
/// `PHYSDEVOP_pirq_eoi_gmfn_v2` (physdev.h).
pub const PHYSDEVOP_pirq_eoi_gmfn_v2: u32 = 28;
/// `PHYSDEVOP_dbgp_op` (physdev.h).
pub const PHYSDEVOP_dbgp_op: u32 = 29;
/// `PHYSDEVOP_prepare_msix` (physdev.h).
pub const PHYSDEVOP_prepare_msix: u32 = 30;
/// `PHYSDEVOP_release_msix` (physdev.h).
pub const PHYSDEVOP_release_msix: u32 = 31;
