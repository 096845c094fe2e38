//! Test-only reference implementations: the full-scan `flush`, `has_deliverable` and in-LR test
//! that the candidate-bitmap versions replace, kept to check them against (equivalence test in
//! `tests.rs`) and to measure the difference (`bench_idle_flush_fold`).

use crate::lr::{cand_key, TopN};
use crate::{FlushInfo, GicVersion, Lr, Vgic, MAX_LRS, NO_VCPU, NR_PRIVATE_IRQS, NR_SGIS};

impl Vgic {
    /// The original [`Vgic::flush`]: scans every interrupt.
    pub(crate) fn flush_ref(&mut self, vcpu: usize, lrs: &mut [Lr]) -> FlushInfo {
        for lr in lrs.iter_mut() {
            *lr = Lr::INVALID;
        }
        if vcpu >= self.nr_vcpus {
            return FlushInfo::default();
        }
        let v16 = vcpu as u16;
        let mut top = TopN {
            keys: [0; MAX_LRS],
            len: 0,
            cap: lrs.len().min(MAX_LRS),
            total: 0,
        };
        let v2 = self.version == GicVersion::V2;
        for intid in 0..NR_PRIVATE_IRQS {
            let Some(irq) = self.irq_mut(vcpu, intid) else {
                continue;
            };
            if irq.in_lr == v16 {
                // Stale mark from a flush that was never folded: forget it.
                irq.in_lr = NO_VCPU;
            }
            let irq = *irq;
            let irq = &irq;
            if v2 && intid < NR_SGIS {
                let deliver = irq.enabled && self.grp_enabled[usize::from(irq.group1)];
                if irq.active {
                    top.offer(cand_key(true, irq.priority, intid, irq.sgi_active_src));
                }
                for s in 0..8u8 {
                    if irq.sgi_pending_src & (1 << s) == 0
                        || !deliver
                        || (irq.active && s == irq.sgi_active_src)
                    {
                        continue;
                    }
                    top.offer(cand_key(false, irq.priority, intid, s));
                }
            } else if irq.active || self.deliverable(irq, intid) {
                top.offer(cand_key(irq.active, irq.priority, intid, 0));
            }
        }
        for (i, intid) in (NR_PRIVATE_IRQS..self.nr_irqs()).enumerate() {
            let Some(irq) = self.spis.get(i) else {
                break;
            };
            if irq.in_lr == v16 {
                // Stale mark from a flush that was never folded: forget it.
                if let Some(irq) = self.spis.get_mut(i) {
                    irq.in_lr = NO_VCPU;
                }
            } else if irq.in_lr != NO_VCPU {
                continue;
            }
            let Some(irq) = self.spis.get(i) else {
                break;
            };
            if (irq.active || self.deliverable(irq, intid))
                && self.dest(vcpu, intid, irq) == Some(vcpu)
            {
                top.offer(cand_key(irq.active, irq.priority, intid, 0));
            }
        }
        let used = top.len.min(lrs.len());
        for (lr, &key) in lrs.iter_mut().zip(top.keys.iter()).take(used) {
            let active_cand = key & (1 << 31) == 0;
            let intid = (key >> 3) & 0x3FF;
            let src = (key & 7) as u8;
            *lr = self.take_into_lr(vcpu, intid, src, active_cand);
        }
        // Not in the original; keeps a reference-driven vGIC usable by `fold`.
        self.lr_busy[vcpu] = used > 0;
        FlushInfo {
            used,
            underflow: top.total > used,
        }
    }

    /// The original [`Vgic::has_deliverable`]: scans every interrupt.
    pub(crate) fn has_deliverable_ref(&self, vcpu: usize) -> bool {
        let Some(bank) = self.private.get(vcpu) else {
            return false;
        };
        if bank
            .iter()
            .zip(0u32..)
            .any(|(irq, intid)| self.deliverable(irq, intid))
        {
            return true;
        }
        self.spis.iter().zip(NR_PRIVATE_IRQS..).any(|(irq, intid)| {
            self.deliverable(irq, intid)
                && (irq.in_lr == NO_VCPU || irq.in_lr as usize == vcpu)
                && self.dest(vcpu, intid, irq) == Some(vcpu)
        })
    }

    /// The original in-LR test behind the GICD_CTLR kick: scans every interrupt.
    pub(crate) fn vcpu_has_lrs_ref(&self, vcpu: usize) -> bool {
        let v = vcpu as u16;
        self.private
            .get(vcpu)
            .is_some_and(|b| b.iter().any(|i| i.in_lr == v))
            || self.spis.iter().any(|i| i.in_lr == v)
    }

    /// Checks the candidate-bitmap invariant: every interrupt pending, active or held in an LR
    /// has its bit set; a vCPU not `lr_busy` holds nothing. Returns the first offender.
    pub(crate) fn check_candidates(&self) -> Result<(), (usize, u32)> {
        for (v, bank) in self.private.iter().enumerate() {
            let pc = self.priv_cand[v];
            for (n, irq) in bank.iter().enumerate() {
                let live =
                    irq.active || irq.pending(self.is_v2_sgi(n as u32)) || irq.in_lr != NO_VCPU;
                if live && pc & (1 << n) == 0 {
                    return Err((v, n as u32));
                }
                if irq.in_lr != NO_VCPU && !self.lr_busy[usize::from(irq.in_lr)] {
                    return Err((v, n as u32));
                }
            }
        }
        for (i, irq) in self.spis.iter().enumerate() {
            let live = irq.active || irq.pending(false) || irq.in_lr != NO_VCPU;
            if live && self.spi_cand[i / 64] & (1 << (i % 64)) == 0 {
                return Err((0, NR_PRIVATE_IRQS + i as u32));
            }
            if irq.in_lr != NO_VCPU && !self.lr_busy[usize::from(irq.in_lr)] {
                return Err((0, NR_PRIVATE_IRQS + i as u32));
            }
        }
        Ok(())
    }
}
