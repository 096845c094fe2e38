//! `HYPERVISOR_hvm_op` parameters of `xen/include/public/hvm/hvm_op.h` and
//! `xen/include/public/hvm/params.h`; on ARM only `HVMOP_set_param`/`HVMOP_get_param` exist.

use crate::xen::domid_t;

/// `HVMOP_set_param` (hvm/hvm_op.h).
pub const HVMOP_set_param: u32 = 0;
/// `HVMOP_get_param` (hvm/hvm_op.h).
pub const HVMOP_get_param: u32 = 1;

abi! {
    /// `struct xen_hvm_param` (hvm/hvm_op.h).
    pub struct xen_hvm_param {
        pub domid: domid_t,
        pub pad: u16,
        /// `HVM_PARAM_*`.
        pub index: u32,
        /// IN/OUT.
        pub value: u64,
    }
}
layout!(layout_xen_hvm_param, xen_hvm_param, 16, domid @ 0, pad @ 2, index @ 4, value @ 8);

/// `HVM_PARAM_CALLBACK_IRQ`: how events are delivered (hvm/params.h).
pub const HVM_PARAM_CALLBACK_IRQ: u32 = 0;
/// `HVM_PARAM_CALLBACK_IRQ_TYPE_MASK` (hvm/params.h).
pub const HVM_PARAM_CALLBACK_IRQ_TYPE_MASK: u64 = 0xFF00_0000_0000_0000;
/// `HVM_PARAM_CALLBACK_TYPE_GSI` (hvm/params.h).
pub const HVM_PARAM_CALLBACK_TYPE_GSI: u64 = 0;
/// `HVM_PARAM_CALLBACK_TYPE_PCI_INTX` (hvm/params.h).
pub const HVM_PARAM_CALLBACK_TYPE_PCI_INTX: u64 = 1;
/// `HVM_PARAM_CALLBACK_TYPE_VECTOR` (hvm/params.h).
pub const HVM_PARAM_CALLBACK_TYPE_VECTOR: u64 = 2;
/// `HVM_PARAM_CALLBACK_TYPE_PPI`: ARM, `val[7:0]` is the PPI (hvm/params.h).
pub const HVM_PARAM_CALLBACK_TYPE_PPI: u64 = 2;
/// `HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_MASK` (hvm/params.h).
pub const HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_MASK: u64 = 0xFF00;
/// `HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_LOW_LEVEL` (hvm/params.h).
pub const HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_LOW_LEVEL: u64 = 2;
/// `HVM_PARAM_STORE_PFN`: xenstore ring page (hvm/params.h).
pub const HVM_PARAM_STORE_PFN: u32 = 1;
/// `HVM_PARAM_STORE_EVTCHN`: xenstore event channel (hvm/params.h).
pub const HVM_PARAM_STORE_EVTCHN: u32 = 2;
/// `HVM_PARAM_PAE_ENABLED` (hvm/params.h).
pub const HVM_PARAM_PAE_ENABLED: u32 = 4;
/// `HVM_PARAM_IOREQ_PFN` (hvm/params.h).
pub const HVM_PARAM_IOREQ_PFN: u32 = 5;
/// `HVM_PARAM_BUFIOREQ_PFN` (hvm/params.h).
pub const HVM_PARAM_BUFIOREQ_PFN: u32 = 6;
/// `HVM_PARAM_VIRIDIAN` (hvm/params.h).
pub const HVM_PARAM_VIRIDIAN: u32 = 9;
/// `HVM_PARAM_TIMER_MODE` (hvm/params.h).
pub const HVM_PARAM_TIMER_MODE: u32 = 10;
/// `HVM_PARAM_HPET_ENABLED` (hvm/params.h).
pub const HVM_PARAM_HPET_ENABLED: u32 = 11;
/// `HVM_PARAM_IDENT_PT` (hvm/params.h).
pub const HVM_PARAM_IDENT_PT: u32 = 12;
/// `HVM_PARAM_DM_DOMAIN` (hvm/params.h).
pub const HVM_PARAM_DM_DOMAIN: u32 = 13;
/// `HVM_PARAM_ACPI_S_STATE` (hvm/params.h).
pub const HVM_PARAM_ACPI_S_STATE: u32 = 14;
/// `HVM_PARAM_VM86_TSS` (hvm/params.h).
pub const HVM_PARAM_VM86_TSS: u32 = 15;
/// `HVM_PARAM_VPT_ALIGN` (hvm/params.h).
pub const HVM_PARAM_VPT_ALIGN: u32 = 16;
/// `HVM_PARAM_CONSOLE_PFN`: PV console ring page (hvm/params.h).
pub const HVM_PARAM_CONSOLE_PFN: u32 = 17;
/// `HVM_PARAM_CONSOLE_EVTCHN`: PV console event channel (hvm/params.h).
pub const HVM_PARAM_CONSOLE_EVTCHN: u32 = 18;
/// `HVM_PARAM_ACPI_IOPORTS_LOCATION` (hvm/params.h).
pub const HVM_PARAM_ACPI_IOPORTS_LOCATION: u32 = 19;
/// `HVM_PARAM_MEMORY_EVENT_CR0` (hvm/params.h).
pub const HVM_PARAM_MEMORY_EVENT_CR0: u32 = 20;
/// `HVM_PARAM_MEMORY_EVENT_CR3` (hvm/params.h).
pub const HVM_PARAM_MEMORY_EVENT_CR3: u32 = 21;
/// `HVM_PARAM_MEMORY_EVENT_CR4` (hvm/params.h).
pub const HVM_PARAM_MEMORY_EVENT_CR4: u32 = 22;
/// `HVM_PARAM_MEMORY_EVENT_INT3` (hvm/params.h).
pub const HVM_PARAM_MEMORY_EVENT_INT3: u32 = 23;
/// `HVM_PARAM_NESTEDHVM` (hvm/params.h).
pub const HVM_PARAM_NESTEDHVM: u32 = 24;
/// `HVM_PARAM_MEMORY_EVENT_SINGLE_STEP` (hvm/params.h).
pub const HVM_PARAM_MEMORY_EVENT_SINGLE_STEP: u32 = 25;
/// `HVM_PARAM_BUFIOREQ_EVTCHN` (hvm/params.h).
pub const HVM_PARAM_BUFIOREQ_EVTCHN: u32 = 26;
/// `HVM_PARAM_PAGING_RING_PFN` (hvm/params.h).
pub const HVM_PARAM_PAGING_RING_PFN: u32 = 27;
/// `HVM_PARAM_MONITOR_RING_PFN` (hvm/params.h).
pub const HVM_PARAM_MONITOR_RING_PFN: u32 = 28;
/// `HVM_PARAM_SHARING_RING_PFN` (hvm/params.h).
pub const HVM_PARAM_SHARING_RING_PFN: u32 = 29;
/// `HVM_PARAM_MEMORY_EVENT_MSR` (hvm/params.h).
pub const HVM_PARAM_MEMORY_EVENT_MSR: u32 = 30;
/// `HVM_PARAM_TRIPLE_FAULT_REASON` (hvm/params.h).
pub const HVM_PARAM_TRIPLE_FAULT_REASON: u32 = 31;
/// `HVM_PARAM_IOREQ_SERVER_PFN` (hvm/params.h).
pub const HVM_PARAM_IOREQ_SERVER_PFN: u32 = 32;
/// `HVM_PARAM_NR_IOREQ_SERVER_PAGES` (hvm/params.h).
pub const HVM_PARAM_NR_IOREQ_SERVER_PAGES: u32 = 33;
/// `HVM_PARAM_VM_GENERATION_ID_ADDR` (hvm/params.h).
pub const HVM_PARAM_VM_GENERATION_ID_ADDR: u32 = 34;
/// `HVM_PARAM_ALTP2M` (hvm/params.h).
pub const HVM_PARAM_ALTP2M: u32 = 35;
/// `HVM_PARAM_X87_FIP_WIDTH` (hvm/params.h).
pub const HVM_PARAM_X87_FIP_WIDTH: u32 = 36;
/// `HVM_PARAM_VM86_TSS_SIZED` (hvm/params.h).
pub const HVM_PARAM_VM86_TSS_SIZED: u32 = 37;
/// `HVM_PARAM_MCA_CAP` (hvm/params.h).
pub const HVM_PARAM_MCA_CAP: u32 = 38;
/// `HVM_NR_PARAMS` (hvm/params.h).
pub const HVM_NR_PARAMS: u32 = 39;
