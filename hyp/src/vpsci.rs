//! SMCCC calls from guests (HVC #0 or a trapped SMC): PSCI 1.1 for vCPU power, the SMCCC
//! architecture calls. The power state machine is `xenith_core::vpsci`; this is the register shim.

use crate::arch::GuestRegs;
use crate::domain::{Domain, Vcpu};
use crate::vcpu::{self, Next};
use arm_trap::smccc::{self, PsciCall, SmcccCall};
use xenith_core::vpsci::{self, StartInfo};

/// PSCI version Xenith implements for guests: 1.1.
const PSCI_VERSION_1_1: u64 = 0x1_0001;
/// SMCCC version Xenith implements: 1.1.
const SMCCC_VERSION_1_1: u64 = 0x1_0001;

fn ret(regs: &mut GuestRegs, code: i32) {
    regs.x[0] = smccc::ret(code);
}

/// Handles the SMCCC call in the guest's x0-x3.
pub fn smccc(dom: &Domain, v: &Vcpu, regs: &mut GuestRegs) -> Next {
    let aarch64 = !arm_trap::inject::is_aarch32(regs.pstate);
    let call = smccc::decode_smccc([regs.x[0], regs.x[1], regs.x[2], regs.x[3]], aarch64);
    match call {
        SmcccCall::Version => regs.x[0] = SMCCC_VERSION_1_1,
        SmcccCall::ArchFeatures { fid } => {
            // Xen's answers (xen/arch/arm/vsmc.c handle_arch): WORKAROUND_1 where the CPU needs
            // branch-predictor hardening, so the guest hardens through it as on Xen.
            // WORKAROUND_2 (SSBD) needs the firmware's cooperation Xenith does not use yet, and
            // WORKAROUND_3 belongs to CPUs Xenith does not mitigate: not supported.
            let r = match fid {
                smccc::SMCCC_ARCH_WORKAROUND_1 if needs_bp_hardening() => smccc::SMCCC_RET_SUCCESS,
                _ => smccc::SMCCC_RET_NOT_SUPPORTED,
            };
            ret(regs, r);
        }
        // No return value, as on Xen: these are barriers, and a TCG/virtual CPU has nothing
        // more to flush than the exit itself did.
        SmcccCall::ArchWorkaround1 | SmcccCall::ArchWorkaround3 => {}
        SmcccCall::Psci(p) => return psci(dom, v, regs, p, aarch64),
        // Xen's hypervisor service calls (xen/arch/arm/vsmc.c): guests identify Xen by its UID.
        SmcccCall::HypCallUid => {
            for (r, w) in regs.x.iter_mut().zip(smccc::XEN_SMCCC_UID) {
                *r = u64::from(w);
            }
        }
        SmcccCall::HypCallCount => regs.x[0] = u64::from(smccc::XEN_SMCCC_FUNCTION_COUNT),
        SmcccCall::HypRevision => {
            regs.x[0] = u64::from(smccc::XEN_SMCCC_MAJOR_REVISION);
            regs.x[1] = u64::from(smccc::XEN_SMCCC_MINOR_REVISION);
        }
        _ => ret(regs, smccc::SMCCC_RET_NOT_SUPPORTED),
    }
    Next::Continue
}

/// Whether this CPU is one Xen hardens against Spectre v2 by invalidating the branch predictor
/// (Xen's `ARM_HARDEN_BRANCH_PREDICTOR` list: Cortex-A57, A72, A73, A75 and Arm's A15/A17).
fn needs_bp_hardening() -> bool {
    use aarch64_cpu::registers::{Readable, MIDR_EL1};
    const ARM_IMPLEMENTER: u64 = 0x41;
    const PARTS: [u64; 6] = [0xd07, 0xd08, 0xd09, 0xd0a, 0xc0f, 0xc0e];
    let midr = MIDR_EL1.get();
    (midr >> 24) & 0xff == ARM_IMPLEMENTER && PARTS.contains(&((midr >> 4) & 0xfff))
}

fn psci(dom: &Domain, v: &Vcpu, regs: &mut GuestRegs, call: PsciCall, aarch64: bool) -> Next {
    match call {
        PsciCall::Version => regs.x[0] = PSCI_VERSION_1_1,
        PsciCall::Features { fid } => {
            let supported = matches!(
                fid,
                smccc::PSCI_VERSION
                    | smccc::PSCI_CPU_OFF
                    | smccc::PSCI_CPU_ON_32
                    | smccc::PSCI_CPU_ON_64
                    | smccc::PSCI_CPU_SUSPEND_32
                    | smccc::PSCI_CPU_SUSPEND_64
                    | smccc::PSCI_AFFINITY_INFO_32
                    | smccc::PSCI_AFFINITY_INFO_64
                    | smccc::PSCI_MIGRATE_INFO_TYPE
                    | smccc::PSCI_SYSTEM_OFF
                    | smccc::PSCI_SYSTEM_RESET
                    | smccc::PSCI_FEATURES
                    | smccc::SMCCC_VERSION
            );
            ret(
                regs,
                if supported {
                    smccc::PSCI_SUCCESS
                } else {
                    smccc::PSCI_NOT_SUPPORTED
                },
            );
        }
        PsciCall::CpuOn {
            target_mpidr,
            entry,
            context,
        } => {
            let nr = dom.vcpus.len() as u32;
            let Some(target) =
                vpsci::vcpu_from_mpidr(target_mpidr, nr).and_then(|id| dom.vcpus.get(id as usize))
            else {
                ret(regs, smccc::PSCI_INVALID_PARAMETERS);
                return Next::Continue;
            };
            let start = StartInfo {
                entry,
                context,
                aarch64,
            };
            let result = {
                let mut p = target.power.lock();
                p.cpu_on(start).map(|new| *p = new)
            };
            match result {
                Ok(()) => {
                    vcpu::kick(target);
                    ret(regs, smccc::PSCI_SUCCESS);
                }
                Err(code) => regs.x[0] = code as u64,
            }
        }
        PsciCall::CpuOff => return Next::Off,
        PsciCall::CpuSuspend { .. } => {
            // Standby and power-down states both resume at the next instruction with x0 = 0
            // (PSCI 1.1 5.4.2 allows a power-down request to return as if it were standby).
            ret(regs, smccc::PSCI_SUCCESS);
            return Next::Block;
        }
        PsciCall::AffinityInfo {
            target,
            lowest_level,
        } => {
            let nr = dom.vcpus.len() as u32;
            match vpsci::vcpu_from_mpidr(target, nr).and_then(|id| dom.vcpus.get(id as usize)) {
                Some(t) if lowest_level == 0 => regs.x[0] = t.power.lock().affinity_info() as u64,
                _ => ret(regs, smccc::PSCI_INVALID_PARAMETERS),
            }
        }
        PsciCall::MigrateInfoType => ret(regs, smccc::PSCI_TOS_NOT_PRESENT_MP),
        PsciCall::SystemOff => {
            crate::info!("d{}v{}: PSCI SYSTEM_OFF", dom.id, v.id);
            // Xen's vpsci: domain_shutdown (the machine only for dom0).
            crate::xen::lifecycle::domain_shutdown(dom, xen_abi::sched::SHUTDOWN_poweroff);
        }
        PsciCall::SystemReset => {
            crate::info!("d{}v{}: PSCI SYSTEM_RESET", dom.id, v.id);
            crate::xen::lifecycle::domain_shutdown(dom, xen_abi::sched::SHUTDOWN_reboot);
        }
        _ => ret(regs, smccc::PSCI_NOT_SUPPORTED),
    }
    Next::Continue
}
