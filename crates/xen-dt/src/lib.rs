//! Device Tree logic for Xenith, modelled on Xen on ARM's DT handling.
//!
//! - [`tree`]: an owned, editable flattened device tree ([`Tree`]): parse a DTB (Devicetree
//!   Specification v0.4, chapter 5 "Flattened Devicetree (DTB) Format"), edit nodes and
//!   properties, serialize again (with `vm-fdt`), and [`dump`] it as `.dts`-like text for golden
//!   tests.
//! - [`host`]: what Xenith learns from the host DT it boots with, following Xen's boot protocol
//!   (`docs/misc/arm/device-tree/booting.txt`: `/chosen` `xen,xen-bootargs`, `xen,dom0-bootargs`,
//!   `multiboot,kernel` / `multiboot,ramdisk` modules) and the GIC, timer, PSCI and UART bindings
//!   (Linux `Documentation/devicetree/bindings/interrupt-controller/arm,gic*.yaml`,
//!   `timer/arm,arch_timer.yaml`, `arm/psci.yaml`); Xen's command line parser for the options
//!   Xenith honours.
//! - [`dom0`]: dom0's DT built from the host's the way Xen 4.17's
//!   `xen/arch/arm/domain_build.c` (`handle_node`, `make_gic_node`, `make_timer_node`,
//!   `make_psci_node`, `make_cpus_node`, `make_memory_node`) does, plus the list of MMIO regions
//!   and SPIs to pass through.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod dom0;
pub mod domu;
pub mod host;
pub mod image;
pub mod nodes;
pub mod tree;

mod bindings;

mod error;

pub use error::Error;
pub use tree::{decode_reg, dump, encode_reg, Node, Prop, Tree};
