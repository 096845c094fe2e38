//! `xen/include/public/device_tree_defs.h`: the phandles and root cell counts Xen's toolstack
//! and dom0less builder use in a domU's Device Tree, and the interrupt-type flags of the GIC
//! interrupt specifier.

/// `GUEST_PHANDLE_GIC`: the phandle of a domU's GIC node.
pub const GUEST_PHANDLE_GIC: u32 = 65000;
/// `GUEST_PHANDLE_IOMMU`: the phandle of a domU's `xen,grant-dma` node.
pub const GUEST_PHANDLE_IOMMU: u32 = GUEST_PHANDLE_GIC + 1;
/// `GUEST_ROOT_ADDRESS_CELLS`: `#address-cells` of a domU's root node.
pub const GUEST_ROOT_ADDRESS_CELLS: u32 = 2;
/// `GUEST_ROOT_SIZE_CELLS`: `#size-cells` of a domU's root node.
pub const GUEST_ROOT_SIZE_CELLS: u32 = 2;

/// `DT_IRQ_TYPE_NONE`.
pub const DT_IRQ_TYPE_NONE: u32 = 0x0000_0000;
/// `DT_IRQ_TYPE_EDGE_RISING`.
pub const DT_IRQ_TYPE_EDGE_RISING: u32 = 0x0000_0001;
/// `DT_IRQ_TYPE_EDGE_FALLING`.
pub const DT_IRQ_TYPE_EDGE_FALLING: u32 = 0x0000_0002;
/// `DT_IRQ_TYPE_EDGE_BOTH`.
pub const DT_IRQ_TYPE_EDGE_BOTH: u32 = DT_IRQ_TYPE_EDGE_FALLING | DT_IRQ_TYPE_EDGE_RISING;
/// `DT_IRQ_TYPE_LEVEL_HIGH`.
pub const DT_IRQ_TYPE_LEVEL_HIGH: u32 = 0x0000_0004;
/// `DT_IRQ_TYPE_LEVEL_LOW`.
pub const DT_IRQ_TYPE_LEVEL_LOW: u32 = 0x0000_0008;
