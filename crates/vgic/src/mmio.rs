//! Trapped MMIO accesses to the distributor (v2, v3) and redistributors (v3).
//!
//! Access rules (IHI 0048B §4.1.4, IHI 0069 §12.1.3): every register is 32-bit accessible;
//! GICD_IPRIORITYR, GICD_ITARGETSR and GICD_[CS]PENDSGIR are also byte accessible; the 64-bit
//! GICD_IROUTER and GICR_TYPER are 64-bit or 32-bit (either half) accessible. Reserved space is
//! RAZ/WI at any aligned size. Anything else is an error (the hypervisor injects an abort).

use crate::regs::*;
use crate::{
    for_each_bit, Effect, Effects, GicVersion, Vgic, VgicError, FOLD_CLEAR_ACTIVE,
    FOLD_CLEAR_PENDING, FOLD_SET_ACTIVE, FOLD_SET_PENDING, MAX_V2_VCPUS, NO_VCPU, NR_PRIVATE_IRQS,
    NR_SGIS, PRIORITY_MASK,
};

/// One trapped access: `size` bytes (1, 2, 4 or 8), a read if `write` is `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Bytes accessed.
    pub size: u8,
    /// The value written (low `size` bytes used), or `None` for a read.
    pub write: Option<u64>,
}

impl Access {
    /// A read of `size` bytes.
    pub const fn read(size: u8) -> Self {
        Self { size, write: None }
    }
    /// A write of `size` bytes.
    pub const fn write(size: u8, value: u64) -> Self {
        Self {
            size,
            write: Some(value),
        }
    }
}

/// Which of the one-bit-per-interrupt registers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BitReg {
    Group,
    SetEnable,
    ClearEnable,
    SetPending,
    ClearPending,
    SetActive,
    ClearActive,
}

/// Identification registers PIDR4..PIDR7, PIDR0..PIDR3, CIDR0..CIDR3, each 32-bit.
fn id_reg(idx: u64, pidr0: u32, arch_rev: u32) -> u32 {
    match idx {
        0 => 0x04,                   // PIDR4: 4 KiB count, JEP106 continuation 4 (ARM)
        4 => pidr0,                  // PIDR0: part number [7:0]
        5 => 0xB4,                   // PIDR1: part number [11:8], JEP106 id [3:0]
        6 => (arch_rev << 4) | 0x0B, // PIDR2: ArchRev [7:4], JEDEC, JEP106 id [6:4]
        8 => 0x0D,                   // CIDR0..3: component preamble
        9 => 0xF0,
        10 => 0x05,
        11 => 0xB1,
        _ => 0,
    }
}

fn size_ok(size: u8, allowed: &[u8]) -> Result<(), VgicError> {
    if allowed.contains(&size) {
        Ok(())
    } else {
        Err(VgicError::BadAccessSize)
    }
}

/// Validates size and alignment; returns the write value truncated to the access size.
fn check(offset: u64, access: Access) -> Result<Option<u64>, VgicError> {
    let mask = match access.size {
        1 => 0xFF,
        2 => 0xFFFF,
        4 => 0xFFFF_FFFF,
        8 => u64::MAX,
        _ => return Err(VgicError::BadAccessSize),
    };
    if !offset.is_multiple_of(u64::from(access.size)) {
        return Err(VgicError::Misaligned);
    }
    Ok(access.write.map(|v| v & mask))
}

/// Reads or writes a 64-bit register through a 64-bit or 32-bit (half) access at `off` from
/// its start. Returns the value read and, for a write, the register's new value.
fn reg64(off: u64, size: u8, cur: u64, w: Option<u64>) -> Result<(u64, Option<u64>), VgicError> {
    match size {
        8 => Ok((cur, w)),
        4 => {
            let shift = (off & 4) * 8;
            let read = (cur >> shift) & 0xFFFF_FFFF;
            let new = w.map(|v| (cur & !(0xFFFF_FFFF << shift)) | (v << shift));
            Ok((read, new))
        }
        _ => Err(VgicError::BadAccessSize),
    }
}

impl Vgic {
    /// A guest access from `vcpu` to the distributor at `offset` from its base. Returns the value
    /// read (0 for writes).
    pub fn dist_access(
        &mut self,
        vcpu: usize,
        offset: u64,
        access: Access,
        fx: &mut Effects,
    ) -> Result<u64, VgicError> {
        if vcpu >= self.nr_vcpus {
            return Err(VgicError::OutOfRange);
        }
        let w = check(offset, access)?;
        if offset >= self.dist_size() {
            return Err(VgicError::OutOfRange);
        }
        let r = match self.version {
            GicVersion::V2 => self.dist_v2(vcpu, offset, access.size, w, fx)?,
            GicVersion::V3 => self.dist_v3(offset, access.size, w, fx)?,
        };
        Ok(if w.is_some() { 0 } else { r })
    }

    /// A guest access from `vcpu` to the redistributor region (v3) at `offset` from its base;
    /// frame `i` ([`GICR_FRAME_SIZE`] bytes: `RD_base` then `SGI_base`) belongs to vCPU `i`.
    /// Frames past the last vCPU are RAZ/WI. Returns the value read (0 for writes).
    pub fn redist_access(
        &mut self,
        vcpu: usize,
        offset: u64,
        access: Access,
        fx: &mut Effects,
    ) -> Result<u64, VgicError> {
        if vcpu >= self.nr_vcpus || self.version != GicVersion::V3 {
            return Err(VgicError::OutOfRange);
        }
        let w = check(offset, access)?;
        let frame = offset / GICR_FRAME_SIZE;
        let off = offset % GICR_FRAME_SIZE;
        let Some(frame) = usize::try_from(frame).ok().filter(|&f| f < self.nr_vcpus) else {
            return Ok(0);
        };
        let r = if off < GICR_RD_BASE_SIZE {
            self.rd_base(frame, off, access.size, w)?
        } else {
            let off = off - GICR_RD_BASE_SIZE;
            match off {
                GICD_IGRPMODR..=0xFFFF => 0,
                _ => self.irq_block(frame, off, access.size, w, 0, NR_PRIVATE_IRQS, fx)?,
            }
        };
        Ok(if w.is_some() { 0 } else { r })
    }

    fn ctlr_read(&self) -> u32 {
        let mut v = (u32::from(self.grp_enabled[0]) * GICD_CTLR_ENABLE_G0)
            | (u32::from(self.grp_enabled[1]) * GICD_CTLR_ENABLE_G1);
        if self.version == GicVersion::V3 {
            v |= GICD_CTLR_ARE_NS | GICD_CTLR_DS;
        }
        v
    }

    fn ctlr_write(&mut self, v: u64, fx: &mut Effects) {
        let old = self.grp_enabled;
        self.grp_enabled = [
            v & u64::from(GICD_CTLR_ENABLE_G0) != 0,
            v & u64::from(GICD_CTLR_ENABLE_G1) != 0,
        ];
        if self.grp_enabled != old {
            // Newly enabled: wake whoever has something; newly disabled: make vCPUs with LRs
            // in use resync (their pending LRs are withdrawn at the next flush).
            for v in 0..self.nr_vcpus {
                if self.has_deliverable(v) || self.vcpu_has_lrs(v) {
                    fx.push(Effect::Kick { vcpu: v });
                }
            }
        }
    }

    /// Whether some interrupt is held in `vcpu`'s list registers (such an interrupt always has
    /// its candidate bit set).
    pub(crate) fn vcpu_has_lrs(&self, vcpu: usize) -> bool {
        if !self.lr_busy.get(vcpu).copied().unwrap_or(false) {
            return false;
        }
        let v = vcpu as u16;
        let mut found = false;
        if let (Some(bank), Some(&pc)) = (self.private.get(vcpu), self.priv_cand.get(vcpu)) {
            for_each_bit(u64::from(pc), |n| {
                found |= bank.get(n).is_some_and(|i| i.in_lr == v);
            });
        }
        for (w, &word) in self.spi_cand.iter().enumerate() {
            for_each_bit(word, |b| {
                found |= self.spis.get(w * 64 + b).is_some_and(|i| i.in_lr == v);
            });
        }
        found
    }

    fn typer(&self) -> u32 {
        let lines = self.nr_irqs() / 32 - 1;
        let cpus = (self.nr_vcpus.min(MAX_V2_VCPUS) as u32).saturating_sub(1);
        let mut v = lines | (cpus << GICD_TYPER_CPUS_SHIFT);
        if self.version == GicVersion::V3 {
            v |= ((GICV3_INTID_BITS - 1) << GICD_TYPER_ID_BITS_SHIFT)
                | GICD_TYPER_A3V
                | GICD_TYPER_RSS;
        }
        v
    }

    fn dist_v2(
        &mut self,
        vcpu: usize,
        off: u64,
        size: u8,
        w: Option<u64>,
        fx: &mut Effects,
    ) -> Result<u64, VgicError> {
        let nr_irqs = self.nr_irqs();
        match off {
            GICD_CTLR => {
                size_ok(size, &[4])?;
                match w {
                    Some(v) => self.ctlr_write(v, fx),
                    None => return Ok(u64::from(self.ctlr_read())),
                }
            }
            GICD_TYPER => {
                size_ok(size, &[4])?;
                return Ok(u64::from(self.typer()));
            }
            GICD_IIDR => {
                size_ok(size, &[4])?;
                return Ok(u64::from(GICD_IIDR_VAL));
            }
            GICD_ITARGETSR..GICD_ICFGR => {
                size_ok(size, &[1, 4])?;
                let first = (off - GICD_ITARGETSR) as u32;
                let mut out = 0u64;
                for i in 0..u32::from(size) {
                    let intid = first + i;
                    let byte = if intid >= nr_irqs {
                        0
                    } else if intid < NR_PRIVATE_IRQS {
                        // RO: each CPU interface reads its own bit (IHI 0048B §4.3.12).
                        1u8 << (vcpu % 8)
                    } else {
                        if let Some(v) = w {
                            let mask = ((1u32 << self.nr_vcpus.min(8)) - 1) as u8;
                            let t = ((v >> (8 * i)) as u8) & mask;
                            if let Some(irq) = self.irq_mut(vcpu, intid) {
                                irq.targets = t;
                            }
                            self.retarget(intid, fx);
                        }
                        self.irq(vcpu, intid).map_or(0, |irq| irq.targets)
                    };
                    out |= u64::from(byte) << (8 * i);
                }
                return Ok(out);
            }
            GICD_SGIR => {
                size_ok(size, &[4])?;
                if let Some(v) = w {
                    let v = v as u32;
                    let intid = v & GICD_SGIR_INTID_MASK;
                    let targets = match (v >> GICD_SGIR_FILTER_SHIFT) & 3 {
                        GICD_SGI_TARGET_LIST => (v >> GICD_SGIR_TARGETS_SHIFT) as u8,
                        GICD_SGI_TARGET_OTHERS => !(1u8 << (vcpu % 8)),
                        GICD_SGI_TARGET_SELF => 1u8 << (vcpu % 8),
                        _ => 0,
                    };
                    self.send_sgi_v2(vcpu, intid, targets, fx);
                }
            }
            GICD_CPENDSGIR..GICD_V2_ID_BASE if off < GICD_SPENDSGIR + 16 => {
                size_ok(size, &[1, 4])?;
                let set = off >= GICD_SPENDSGIR;
                let first = (off - if set { GICD_SPENDSGIR } else { GICD_CPENDSGIR }) as u32;
                let cpus = ((1u32 << self.nr_vcpus.min(8)) - 1) as u8;
                let mut out = 0u64;
                for i in 0..u32::from(size) {
                    let intid = first + i;
                    let Some(irq) = self.irq_mut(vcpu, intid) else {
                        continue;
                    };
                    if let Some(v) = w {
                        let bits = ((v >> (8 * i)) as u8) & cpus;
                        if set {
                            irq.sgi_pending_src |= bits;
                        } else {
                            irq.sgi_pending_src &= !bits;
                        }
                    }
                    out |= u64::from(irq.sgi_pending_src) << (8 * i);
                    if w.is_some() {
                        if irq.sgi_pending_src != 0 {
                            self.mark(vcpu, intid);
                        }
                        self.notify(vcpu, intid, fx);
                    }
                }
                return Ok(out);
            }
            GICD_V2_ID_BASE..GICD_V2_SIZE => {
                size_ok(size, &[4])?;
                return Ok(u64::from(id_reg((off - GICD_V2_ID_BASE) / 4, 0x90, 2)));
            }
            GICD_IGROUPR..GICD_ITARGETSR | GICD_ICFGR..GICD_IGRPMODR => {
                return self.irq_block(vcpu, off, size, w, 0, nr_irqs, fx);
            }
            _ => {}
        }
        Ok(0)
    }

    fn dist_v3(
        &mut self,
        off: u64,
        size: u8,
        w: Option<u64>,
        fx: &mut Effects,
    ) -> Result<u64, VgicError> {
        let nr_irqs = self.nr_irqs();
        match off {
            GICD_CTLR => {
                size_ok(size, &[4])?;
                match w {
                    Some(v) => self.ctlr_write(v, fx),
                    None => return Ok(u64::from(self.ctlr_read())),
                }
            }
            GICD_TYPER => {
                size_ok(size, &[4])?;
                return Ok(u64::from(self.typer()));
            }
            GICD_IIDR => {
                size_ok(size, &[4])?;
                return Ok(u64::from(GICD_IIDR_VAL));
            }
            GICD_IGROUPR..GICD_ITARGETSR | GICD_ICFGR..GICD_IGRPMODR => {
                // With ARE = 1 the SGI/PPI words (INTIDs 0..31) here are RAZ/WI.
                return self.irq_block(0, off, size, w, NR_PRIVATE_IRQS, nr_irqs, fx);
            }
            GICD_IROUTER..GICD_IROUTER_END => {
                let intid = ((off - GICD_IROUTER) / 8) as u32;
                let (read, new) = match self.irq(0, intid) {
                    Some(irq) if intid >= NR_PRIVATE_IRQS => reg64(off, size, irq.route, w)?,
                    _ => {
                        size_ok(size, &[4, 8])?;
                        return Ok(0);
                    }
                };
                if let Some(new) = new {
                    if let Some(irq) = self.irq_mut(0, intid) {
                        irq.route = new & GICD_IROUTER_MASK;
                    }
                    self.retarget(intid, fx);
                }
                return Ok(read);
            }
            GICV3_ID_BASE..GICD_V3_SIZE => {
                size_ok(size, &[4])?;
                return Ok(u64::from(id_reg((off - GICV3_ID_BASE) / 4, 0x92, 3)));
            }
            _ => {}
        }
        Ok(0)
    }

    fn rd_base(
        &mut self,
        frame: usize,
        off: u64,
        size: u8,
        w: Option<u64>,
    ) -> Result<u64, VgicError> {
        match off {
            GICR_CTLR | GICR_STATUSR => size_ok(size, &[4])?,
            GICR_IIDR => {
                size_ok(size, &[4])?;
                return Ok(u64::from(GICD_IIDR_VAL));
            }
            0x8..=0xF => {
                let aff = self.vcpu_mpidr(frame).unwrap_or(0);
                let aff32 = ((aff >> 32) & 0xFF) << 24 | (aff & 0xFF_FFFF);
                let mut typer = (aff32 << GICR_TYPER_AFF_SHIFT)
                    | ((frame as u64 & 0xFFFF) << GICR_TYPER_PROC_NUM_SHIFT);
                if frame + 1 == self.nr_vcpus {
                    typer |= GICR_TYPER_LAST;
                }
                return Ok(reg64(off, size, typer, None)?.0);
            }
            GICR_WAKER => {
                size_ok(size, &[4])?;
                let sleep = self
                    .processor_sleep
                    .get_mut(frame)
                    .ok_or(VgicError::OutOfRange)?;
                if let Some(v) = w {
                    *sleep = v & u64::from(GICR_WAKER_PROCESSOR_SLEEP) != 0;
                }
                // ChildrenAsleep follows ProcessorSleep at once (no interface to quiesce).
                return Ok(if *sleep {
                    u64::from(GICR_WAKER_PROCESSOR_SLEEP | GICR_WAKER_CHILDREN_ASLEEP)
                } else {
                    0
                });
            }
            GICV3_ID_BASE..GICR_RD_BASE_SIZE => {
                size_ok(size, &[4])?;
                return Ok(u64::from(id_reg((off - GICV3_ID_BASE) / 4, 0x93, 3)));
            }
            _ => {}
        }
        Ok(0)
    }

    /// The registers shared by GICv2 GICD, GICv3 GICD and GICv3 GICR SGI_base, from
    /// GICD_IGROUPR to GICD_ICFGR. `off` is relative to the frame; INTIDs outside `lo..hi` are
    /// RAZ/WI; `bank` selects the vCPU whose SGIs/PPIs are meant.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn irq_block(
        &mut self,
        bank: usize,
        off: u64,
        size: u8,
        w: Option<u64>,
        lo: u32,
        hi: u32,
        fx: &mut Effects,
    ) -> Result<u64, VgicError> {
        let bitreg = |base: u64| ((off - base) * 8) as u32;
        let (reg, first) = match off {
            GICD_IGROUPR..GICD_ISENABLER => (BitReg::Group, bitreg(GICD_IGROUPR)),
            GICD_ISENABLER..GICD_ICENABLER => (BitReg::SetEnable, bitreg(GICD_ISENABLER)),
            GICD_ICENABLER..GICD_ISPENDR => (BitReg::ClearEnable, bitreg(GICD_ICENABLER)),
            GICD_ISPENDR..GICD_ICPENDR => (BitReg::SetPending, bitreg(GICD_ISPENDR)),
            GICD_ICPENDR..GICD_ISACTIVER => (BitReg::ClearPending, bitreg(GICD_ICPENDR)),
            GICD_ISACTIVER..GICD_ICACTIVER => (BitReg::SetActive, bitreg(GICD_ISACTIVER)),
            GICD_ICACTIVER..GICD_IPRIORITYR => (BitReg::ClearActive, bitreg(GICD_ICACTIVER)),
            GICD_IPRIORITYR..GICD_ITARGETSR => {
                size_ok(size, &[1, 4])?;
                let first = (off - GICD_IPRIORITYR) as u32;
                let mut out = 0u64;
                for i in 0..u32::from(size) {
                    let intid = first + i;
                    if intid < lo || intid >= hi {
                        continue;
                    }
                    let Some(irq) = self.irq_mut(bank, intid) else {
                        continue;
                    };
                    if let Some(v) = w {
                        irq.priority = ((v >> (8 * i)) as u8) & PRIORITY_MASK;
                    }
                    out |= u64::from(irq.priority) << (8 * i);
                }
                return Ok(out);
            }
            GICD_ICFGR..GICD_IGRPMODR => {
                size_ok(size, &[4])?;
                let first = ((off - GICD_ICFGR) * 4) as u32;
                let mut out = 0u64;
                for i in 0..16u32 {
                    let intid = first + i;
                    if intid < lo || intid >= hi {
                        continue;
                    }
                    let Some(irq) = self.irq_mut(bank, intid) else {
                        continue;
                    };
                    // SGIs are always edge (RO); PPI and SPI configuration is programmable.
                    if let Some(v) = w {
                        if intid >= NR_SGIS {
                            irq.edge = (v >> (2 * i + 1)) & 1 != 0;
                        }
                    }
                    out |= u64::from(irq.edge) << (2 * i + 1);
                    if !irq.edge && irq.level {
                        // A line held high counts as pending once configured level-sensitive.
                        self.mark(bank, intid);
                    }
                }
                return Ok(out);
            }
            _ => {
                // Reserved space inside the block (e.g. GICR SGI_base gaps): RAZ/WI.
                return Ok(0);
            }
        };
        size_ok(size, &[4])?;
        let mut out = 0u64;
        for i in 0..32u32 {
            let intid = first + i;
            if intid < lo || intid >= hi {
                continue;
            }
            if let Some(v) = w {
                let bit = (v >> i) & 1 != 0;
                if bit || reg == BitReg::Group {
                    self.bit_write(bank, intid, reg, bit, fx);
                }
            }
            let v2sgi = self.is_v2_sgi(intid);
            let Some(irq) = self.irq(bank, intid) else {
                continue;
            };
            let b = match reg {
                BitReg::Group => irq.group1,
                BitReg::SetEnable | BitReg::ClearEnable => irq.enabled,
                BitReg::SetPending | BitReg::ClearPending => irq.pending(v2sgi),
                BitReg::SetActive | BitReg::ClearActive => irq.active,
            };
            out |= u64::from(b) << i;
        }
        Ok(out)
    }

    fn bit_write(&mut self, bank: usize, intid: u32, reg: BitReg, bit: bool, fx: &mut Effects) {
        let v2sgi = self.is_v2_sgi(intid);
        let Some(irq) = self.irq_mut(bank, intid) else {
            return;
        };
        let in_lr = irq.in_lr != NO_VCPU;
        match reg {
            BitReg::Group => {
                if irq.group1 == bit {
                    return;
                }
                irq.group1 = bit;
            }
            BitReg::SetEnable => {
                if irq.enabled {
                    return;
                }
                irq.enabled = true;
                if let Some(p) = irq.hw {
                    fx.push(Effect::HwEnable { pintid: p });
                }
            }
            BitReg::ClearEnable => {
                if !irq.enabled {
                    return;
                }
                irq.enabled = false;
                if let Some(p) = irq.hw {
                    fx.push(Effect::HwDisable { pintid: p });
                }
            }
            // v2 SGIs: pending state is per source, set through GICD_[CS]PENDSGIR (WI here).
            BitReg::SetPending | BitReg::ClearPending if v2sgi => return,
            BitReg::SetPending => {
                irq.latch = true;
                if in_lr {
                    irq.fold_flags = (irq.fold_flags & !FOLD_CLEAR_PENDING) | FOLD_SET_PENDING;
                }
            }
            BitReg::ClearPending => {
                irq.latch = false;
                if in_lr {
                    irq.fold_flags = (irq.fold_flags & !FOLD_SET_PENDING) | FOLD_CLEAR_PENDING;
                }
            }
            BitReg::SetActive => {
                irq.active = true;
                if intid >= NR_PRIVATE_IRQS {
                    irq.active_on = irq.target;
                } else if v2sgi {
                    irq.sgi_active_src = (bank % 8) as u8;
                }
                if in_lr {
                    irq.fold_flags = (irq.fold_flags & !FOLD_CLEAR_ACTIVE) | FOLD_SET_ACTIVE;
                }
            }
            BitReg::ClearActive => {
                irq.active = false;
                if in_lr {
                    irq.fold_flags = (irq.fold_flags & !FOLD_SET_ACTIVE) | FOLD_CLEAR_ACTIVE;
                }
            }
        }
        if matches!(reg, BitReg::SetPending | BitReg::SetActive) {
            self.mark(bank, intid);
        }
        if matches!(reg, BitReg::ClearPending | BitReg::ClearActive) {
            self.settle_hw(bank, intid, fx);
        }
        self.notify(bank, intid, fx);
    }
}
