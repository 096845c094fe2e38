//! Per-vCPU power state for virtual PSCI (ARM DEN0022 PSCI 1.1).
//!
//! A vCPU is `Off` until another vCPU of its domain calls CPU_ON; it is then `OnPending` with the
//! entry point and context id until its pCPU picks it up and resets it, then `On`. CPU_OFF moves
//! it back to `Off`. AFFINITY_INFO reports the three states as PSCI defines (ON 0, OFF 1,
//! ON_PENDING 2).

/// PSCI return codes used by the power state machine (PSCI 1.1 table 5).
pub const PSCI_SUCCESS: i64 = 0;
/// The target is already on.
pub const PSCI_ALREADY_ON: i64 = -4;
/// A CPU_ON for the target is in progress.
pub const PSCI_ON_PENDING: i64 = -5;

/// Where a vCPU starts when powered on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartInfo {
    /// Entry point (physical: the MMU is off).
    pub entry: u64,
    /// Context id, delivered in x0 (r0).
    pub context: u64,
    /// Whether the caller used the 64-bit function id (the vCPU starts in AArch64).
    pub aarch64: bool,
}

/// A vCPU's power state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Power {
    /// Not running, not requested.
    Off,
    /// CPU_ON accepted, its pCPU has not started it yet.
    OnPending(StartInfo),
    /// Running (or blocked, which is still on).
    On,
}

impl Power {
    /// CPU_ON: the new state, or the PSCI error.
    pub fn cpu_on(self, start: StartInfo) -> Result<Power, i64> {
        match self {
            Power::Off => Ok(Power::OnPending(start)),
            Power::OnPending(_) => Err(PSCI_ON_PENDING),
            Power::On => Err(PSCI_ALREADY_ON),
        }
    }

    /// AFFINITY_INFO's answer for this vCPU.
    pub fn affinity_info(self) -> i64 {
        match self {
            Power::On => 0,
            Power::Off => 1,
            Power::OnPending(_) => 2,
        }
    }
}

/// The MPIDR Xenith gives vCPU `id` (Xen's vcpuid_to_vaffinity: 16 vCPUs per Aff1 cluster on
/// GICv3, as GICv3 SGIs target at most 16 Aff0 values; bit 31 is RES1).
pub fn vcpu_mpidr(id: u32) -> u64 {
    let aff0 = u64::from(id & 0xf);
    let aff1 = u64::from((id >> 4) & 0xff);
    let aff2 = u64::from((id >> 12) & 0xff);
    (1 << 31) | aff2 << 16 | aff1 << 8 | aff0
}

/// The vCPU id whose MPIDR is `mpidr`, among `nr_vcpus` (affinity fields only; other bits of the
/// caller's value must be zero, as PSCI requires).
pub fn vcpu_from_mpidr(mpidr: u64, nr_vcpus: u32) -> Option<u32> {
    if mpidr & !0xff_00ff_ffff != 0 {
        return None;
    }
    let aff0 = (mpidr & 0xff) as u32;
    let aff1 = ((mpidr >> 8) & 0xff) as u32;
    let aff2 = ((mpidr >> 16) & 0xff) as u32;
    if aff0 > 0xf || mpidr >> 32 != 0 {
        return None;
    }
    let id = aff2 << 12 | aff1 << 4 | aff0;
    (id < nr_vcpus && vcpu_mpidr(id) & 0xff_ffff == mpidr & 0xff_ffff).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: StartInfo = StartInfo {
        entry: 0x4008_0000,
        context: 7,
        aarch64: true,
    };

    #[test]
    fn power_transitions() {
        let p = Power::Off.cpu_on(S).unwrap();
        assert_eq!(p, Power::OnPending(S));
        assert_eq!(p.cpu_on(S), Err(PSCI_ON_PENDING));
        assert_eq!(Power::On.cpu_on(S), Err(PSCI_ALREADY_ON));
        assert_eq!(Power::On.affinity_info(), 0);
        assert_eq!(Power::Off.affinity_info(), 1);
        assert_eq!(p.affinity_info(), 2);
    }

    #[test]
    fn mpidr_round_trip() {
        for id in 0..64 {
            assert_eq!(vcpu_from_mpidr(vcpu_mpidr(id) & 0xff_ffff, 64), Some(id));
        }
        assert_eq!(vcpu_mpidr(0), 0x8000_0000);
        assert_eq!(vcpu_mpidr(17), 0x8000_0101);
        assert_eq!(vcpu_from_mpidr(4, 4), None);
        assert_eq!(vcpu_from_mpidr(0x10, 64), None);
        assert_eq!(vcpu_from_mpidr(1 << 40, 64), None);
        assert_eq!(vcpu_from_mpidr(u64::MAX, 64), None);
    }
}
