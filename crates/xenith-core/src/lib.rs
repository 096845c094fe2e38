//! Device models and domain logic of Xenith that need no hardware, tested on the host.
//!
//! - [`console_switch`]: CTRL-a x3 moves serial input between dom0 and the hypervisor.
//! - [`vpl011`]: the SBSA generic UART (ARM DEN0094 "Arm Base System Architecture", appendix B;
//!   register layout of the PL011, ARM DDI 0183) that Xen calls vpl011 and gives guests as their
//!   console when they have no PV console.
//! - [`vpsci`]: the per-vCPU power state machine behind PSCI CPU_ON / CPU_OFF / AFFINITY_INFO
//!   (ARM DEN0022 PSCI 1.1, 5.1.4-5.1.5).
#![no_std]
#![forbid(unsafe_code)]

pub mod console_switch;
pub mod vpl011;
pub mod vpsci;
