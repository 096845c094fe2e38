//! Host tests of the vGIC model.

use crate::regs::*;
use crate::*;
use alloc::vec;
use alloc::vec::Vec;

fn gic(version: GicVersion, nr_vcpus: usize, nr_spis: u32) -> Vgic {
    Vgic::new(&VgicConfig::linear(version, nr_vcpus, nr_spis)).unwrap()
}

fn rd(g: &mut Vgic, vcpu: usize, off: u64, size: u8) -> u64 {
    let mut fx = Effects::new();
    let v = g
        .dist_access(vcpu, off, Access::read(size), &mut fx)
        .unwrap();
    assert!(fx.is_empty(), "a read has no effect");
    v
}

fn wr(g: &mut Vgic, vcpu: usize, off: u64, size: u8, val: u64) -> Effects {
    let mut fx = Effects::new();
    assert_eq!(
        g.dist_access(vcpu, off, Access::write(size, val), &mut fx),
        Ok(0)
    );
    fx
}

fn rrd(g: &mut Vgic, vcpu: usize, off: u64, size: u8) -> u64 {
    let mut fx = Effects::new();
    g.redist_access(vcpu, off, Access::read(size), &mut fx)
        .unwrap()
}

fn rwr(g: &mut Vgic, vcpu: usize, off: u64, size: u8, val: u64) -> Effects {
    let mut fx = Effects::new();
    assert_eq!(
        g.redist_access(vcpu, off, Access::write(size, val), &mut fx),
        Ok(0)
    );
    fx
}

/// Word offset and bit of `intid` in a one-bit-per-interrupt register array.
fn bit_reg(base: u64, intid: u32) -> (u64, u64) {
    (base + u64::from(intid / 32) * 4, 1 << (intid % 32))
}

fn enable(g: &mut Vgic, vcpu: usize, intid: u32) -> Effects {
    if g.version() == GicVersion::V3 && intid < 32 {
        let (o, b) = bit_reg(GICD_ISENABLER, intid);
        rwr(
            g,
            vcpu,
            vcpu as u64 * GICR_FRAME_SIZE + GICR_RD_BASE_SIZE + o,
            4,
            b,
        )
    } else {
        let (o, b) = bit_reg(GICD_ISENABLER, intid);
        wr(g, vcpu, o, 4, b)
    }
}

fn enable_dist(g: &mut Vgic) {
    let v = if g.version() == GicVersion::V3 {
        0x13
    } else {
        0x3
    };
    wr(g, 0, GICD_CTLR, 4, v);
}

fn lrs_of(n: usize) -> Vec<Lr> {
    vec![Lr::INVALID; n]
}

// ------------------------------------------------------------------ configuration

#[test]
fn config_validation() {
    assert!(Vgic::new(&VgicConfig::linear(GicVersion::V2, 9, 32)).is_err());
    assert!(Vgic::new(&VgicConfig::linear(GicVersion::V2, 0, 32)).is_err());
    assert!(Vgic::new(&VgicConfig::linear(GicVersion::V3, 129, 32)).is_err());
    assert!(Vgic::new(&VgicConfig::linear(GicVersion::V3, 4, 33)).is_err());
    assert!(Vgic::new(&VgicConfig::linear(GicVersion::V3, 4, 992)).is_err());
    assert!(Vgic::new(&VgicConfig::linear(GicVersion::V3, 128, 960)).is_ok());
    let mut c = VgicConfig::linear(GicVersion::V3, 2, 32);
    c.vcpu_mpidr[1] = 0;
    assert_eq!(Vgic::new(&c).unwrap_err(), VgicError::InvalidConfig);
    c.vcpu_mpidr.pop();
    assert!(Vgic::new(&c).is_err());
}

#[test]
fn affinity_helpers() {
    let g = gic(GicVersion::V3, 20, 32);
    assert_eq!(g.vcpu_mpidr(17), Some(0x0101));
    assert_eq!(g.vcpu_for_affinity(0x0101), Some(17));
    assert_eq!(g.vcpu_for_affinity(0x8000_0101), Some(17)); // MPIDR.U/MT etc. ignored
    assert_eq!(g.vcpu_for_affinity(0x0201), None);
    assert_eq!(g.vcpu_mpidr(20), None);
    assert_eq!(g.redist_size(), 20 * 0x20000);
}

// ------------------------------------------------------------------ GICv2 registers

#[test]
fn v2_id_and_type_registers() {
    let mut g = gic(GicVersion::V2, 4, 64);
    assert_eq!(g.dist_size(), 0x1000);
    // ITLinesNumber = 96/32 - 1 = 2, CPUNumber = 3.
    assert_eq!(rd(&mut g, 0, GICD_TYPER, 4), 0x62);
    let mut g1 = gic(GicVersion::V2, 1, 0);
    assert_eq!(rd(&mut g1, 0, GICD_TYPER, 4), 0x0);
    let mut g8 = gic(GicVersion::V2, 8, 960);
    assert_eq!(rd(&mut g8, 0, GICD_TYPER, 4), 0xE0 | 30);
    assert_eq!(rd(&mut g, 0, GICD_IIDR, 4), 0x5800_043B);
    assert_eq!(rd(&mut g, 0, GICD_V2_PIDR2, 4), 0x2B);
    assert_eq!(rd(&mut g, 0, 0xFF0, 4), 0x0D); // CIDR0
    assert_eq!(rd(&mut g, 0, 0xFFC, 4), 0xB1); // CIDR3
                                               // Reserved: RAZ/WI at any size.
    assert_eq!(rd(&mut g, 0, 0x10, 4), 0);
    assert!(wr(&mut g, 0, 0x10, 4, 0xFFFF_FFFF).is_empty());
    assert_eq!(rd(&mut g, 0, 0xE00, 4), 0); // NSACR
}

#[test]
fn v2_ctlr() {
    let mut g = gic(GicVersion::V2, 2, 32);
    assert_eq!(rd(&mut g, 0, GICD_CTLR, 4), 0);
    wr(&mut g, 0, GICD_CTLR, 4, 0xFFFF_FFFF);
    assert_eq!(rd(&mut g, 1, GICD_CTLR, 4), 3);
    wr(&mut g, 0, GICD_CTLR, 4, 1);
    assert_eq!(rd(&mut g, 0, GICD_CTLR, 4), 1);
    assert_eq!(g.group_enabled(), [true, false]);
}

#[test]
fn v2_bitmap_registers() {
    let mut g = gic(GicVersion::V2, 2, 64);
    // Enable: set/clear, read back through both.
    wr(&mut g, 0, GICD_ISENABLER + 4, 4, 0x8000_0001);
    assert_eq!(rd(&mut g, 0, GICD_ISENABLER + 4, 4), 0x8000_0001);
    assert_eq!(rd(&mut g, 1, GICD_ICENABLER + 4, 4), 0x8000_0001);
    wr(&mut g, 1, GICD_ICENABLER + 4, 4, 1);
    assert_eq!(rd(&mut g, 0, GICD_ISENABLER + 4, 4), 0x8000_0000);
    // Past nr_irqs (96): RAZ/WI.
    wr(&mut g, 0, GICD_ISENABLER + 12, 4, 0xFFFF_FFFF);
    assert_eq!(rd(&mut g, 0, GICD_ISENABLER + 12, 4), 0);
    // SGI/PPI enables are banked.
    wr(&mut g, 0, GICD_ISENABLER, 4, 0x0800_0002);
    assert_eq!(rd(&mut g, 0, GICD_ISENABLER, 4), 0x0800_0002);
    assert_eq!(rd(&mut g, 1, GICD_ISENABLER, 4), 0);
    // Group.
    wr(&mut g, 0, GICD_IGROUPR + 4, 4, 0xF0);
    assert_eq!(rd(&mut g, 0, GICD_IGROUPR + 4, 4), 0xF0);
    wr(&mut g, 0, GICD_IGROUPR + 4, 4, 0x10);
    assert_eq!(rd(&mut g, 0, GICD_IGROUPR + 4, 4), 0x10);
    // Pending on SPIs.
    wr(&mut g, 0, GICD_ISPENDR + 4, 4, 0x6);
    assert_eq!(rd(&mut g, 0, GICD_ISPENDR + 4, 4), 0x6);
    wr(&mut g, 0, GICD_ICPENDR + 4, 4, 0x2);
    assert_eq!(rd(&mut g, 0, GICD_ICPENDR + 4, 4), 0x4);
    // v2 SGI pending bits are not writable through ISPENDR (use SPENDSGIR).
    wr(&mut g, 0, GICD_ISPENDR, 4, 0x1);
    assert_eq!(rd(&mut g, 0, GICD_ISPENDR, 4), 0);
    // PPI pending is.
    wr(&mut g, 0, GICD_ISPENDR, 4, 1 << 20);
    assert_eq!(rd(&mut g, 0, GICD_ISPENDR, 4), 1 << 20);
    assert_eq!(rd(&mut g, 1, GICD_ISPENDR, 4), 0);
    // Active.
    wr(&mut g, 0, GICD_ISACTIVER + 8, 4, 0x8000_0000);
    assert_eq!(rd(&mut g, 0, GICD_ISACTIVER + 8, 4), 0x8000_0000);
    wr(&mut g, 0, GICD_ICACTIVER + 8, 4, 0x8000_0000);
    assert_eq!(rd(&mut g, 0, GICD_ICACTIVER + 8, 4), 0);
}

#[test]
fn v2_priority_targets_config() {
    let mut g = gic(GicVersion::V2, 3, 32);
    // Byte access, 5 implemented bits.
    wr(&mut g, 0, GICD_IPRIORITYR + 33, 1, 0xA7);
    assert_eq!(rd(&mut g, 0, GICD_IPRIORITYR + 33, 1), 0xA0);
    assert_eq!(rd(&mut g, 0, GICD_IPRIORITYR + 32, 4), 0xA000);
    wr(&mut g, 0, GICD_IPRIORITYR + 32, 4, 0x1122_3344);
    assert_eq!(rd(&mut g, 0, GICD_IPRIORITYR + 32, 4), 0x1020_3040);
    // Banked for private IRQs.
    wr(&mut g, 1, GICD_IPRIORITYR + 27, 1, 0xF0);
    assert_eq!(rd(&mut g, 1, GICD_IPRIORITYR + 24, 4), 0xF000_0000);
    assert_eq!(rd(&mut g, 0, GICD_IPRIORITYR + 24, 4), 0);
    // Halfword access is not allowed.
    let mut fx = Effects::new();
    assert_eq!(
        g.dist_access(0, GICD_IPRIORITYR + 32, Access::read(2), &mut fx),
        Err(VgicError::BadAccessSize)
    );
    // ITARGETSR for SGIs/PPIs: RO, the reader's own bit.
    for v in 0..3 {
        let own = 1u64 << v;
        assert_eq!(rd(&mut g, v, GICD_ITARGETSR, 4), own * 0x0101_0101);
        assert_eq!(rd(&mut g, v, GICD_ITARGETSR + 31, 1), own);
    }
    wr(&mut g, 0, GICD_ITARGETSR, 4, 0xFFFF_FFFF);
    assert_eq!(rd(&mut g, 2, GICD_ITARGETSR + 28, 4), 0x0404_0404);
    // SPIs: reset to CPU 0, writable, masked to existing CPUs.
    assert_eq!(rd(&mut g, 0, GICD_ITARGETSR + 32, 4), 0x0101_0101);
    wr(&mut g, 0, GICD_ITARGETSR + 33, 1, 0xFE);
    assert_eq!(rd(&mut g, 1, GICD_ITARGETSR + 32, 4), 0x0101_0601);
    // ICFGR: SGIs RO edge, PPIs/SPIs programmable, level at reset.
    assert_eq!(rd(&mut g, 0, GICD_ICFGR, 4), 0xAAAA_AAAA);
    wr(&mut g, 0, GICD_ICFGR, 4, 0);
    assert_eq!(rd(&mut g, 0, GICD_ICFGR, 4), 0xAAAA_AAAA);
    assert_eq!(rd(&mut g, 0, GICD_ICFGR + 4, 4), 0);
    wr(&mut g, 0, GICD_ICFGR + 8, 4, 0xFFFF_FFFF);
    assert_eq!(rd(&mut g, 0, GICD_ICFGR + 8, 4), 0xAAAA_AAAA);
    assert!(g.irq_info(0, 32).unwrap().edge);
}

#[test]
fn v2_sgi_pending_registers() {
    let mut g = gic(GicVersion::V2, 4, 32);
    wr(&mut g, 1, GICD_SPENDSGIR + 2, 1, 0xFF);
    // Masked to the 4 existing CPUs, banked per reader.
    assert_eq!(rd(&mut g, 1, GICD_SPENDSGIR, 4), 0x000F_0000);
    assert_eq!(rd(&mut g, 1, GICD_CPENDSGIR, 4), 0x000F_0000);
    assert_eq!(rd(&mut g, 0, GICD_SPENDSGIR, 4), 0);
    assert_eq!(rd(&mut g, 1, GICD_ISPENDR, 4), 1 << 2);
    wr(&mut g, 1, GICD_CPENDSGIR, 4, 0x0005_0000);
    assert_eq!(rd(&mut g, 1, GICD_SPENDSGIR + 2, 1), 0x0A);
    assert_eq!(g.irq_info(1, 2).unwrap().sgi_sources, 0x0A);
}

#[test]
fn access_errors() {
    for ver in [GicVersion::V2, GicVersion::V3] {
        let mut g = gic(ver, 2, 32);
        let mut fx = Effects::new();
        let mut a = |vcpu, off, acc| g.dist_access(vcpu, off, acc, &mut fx);
        assert_eq!(
            a(0, GICD_CTLR + 2, Access::read(4)),
            Err(VgicError::Misaligned)
        );
        assert_eq!(
            a(0, GICD_CTLR, Access::read(3)),
            Err(VgicError::BadAccessSize)
        );
        assert_eq!(
            a(0, GICD_CTLR, Access::read(8)),
            Err(VgicError::BadAccessSize)
        );
        assert_eq!(
            a(0, GICD_CTLR, Access::read(1)),
            Err(VgicError::BadAccessSize)
        );
        assert_eq!(
            a(0, GICD_ISENABLER + 1, Access::read(1)),
            Err(VgicError::BadAccessSize)
        );
        assert_eq!(a(2, GICD_CTLR, Access::read(4)), Err(VgicError::OutOfRange));
        assert_eq!(a(0, 0x10000, Access::read(4)), Err(VgicError::OutOfRange));
        assert_eq!(
            a(0, u64::MAX - 3, Access::read(4)),
            Err(VgicError::OutOfRange)
        );
    }
}

// ------------------------------------------------------------------ GICv3 registers

#[test]
fn v3_distributor_registers() {
    let mut g = gic(GicVersion::V3, 4, 64);
    assert_eq!(g.dist_size(), 0x10000);
    // Lines 2, CPUs 3, IDbits 9, A3V, RSS.
    assert_eq!(rd(&mut g, 0, GICD_TYPER, 4), 0x0548_0062);
    let mut big = gic(GicVersion::V3, 100, 960);
    assert_eq!(rd(&mut big, 0, GICD_TYPER, 4) & 0xFF, 0xE0 | 30);
    assert_eq!(rd(&mut g, 0, GICD_IIDR, 4), 0x5800_043B);
    assert_eq!(rd(&mut g, 0, GICV3_PIDR2, 4), 0x3B);
    assert_eq!(rd(&mut g, 0, GICV3_PIDR2, 4) & 0xF0, 0x30);
    // CTLR: ARE and DS RAO/WI, RWP 0, both group enables.
    assert_eq!(rd(&mut g, 0, GICD_CTLR, 4), 0x50);
    wr(&mut g, 0, GICD_CTLR, 4, 0x13);
    assert_eq!(rd(&mut g, 0, GICD_CTLR, 4), 0x53);
    wr(&mut g, 0, GICD_CTLR, 4, 0);
    assert_eq!(rd(&mut g, 0, GICD_CTLR, 4), 0x50);
    assert_eq!(rd(&mut g, 0, GICD_TYPER2, 4), 0);
    // SGI/PPI words are RAZ/WI with ARE = 1.
    wr(&mut g, 0, GICD_ISENABLER, 4, 0xFFFF_FFFF);
    assert_eq!(rd(&mut g, 0, GICD_ISENABLER, 4), 0);
    wr(&mut g, 0, GICD_IPRIORITYR, 4, 0xFFFF_FFFF);
    assert_eq!(rd(&mut g, 0, GICD_IPRIORITYR, 4), 0);
    assert_eq!(rd(&mut g, 0, GICD_ICFGR, 4), 0);
    // ... SPIs work; default group 1.
    assert_eq!(rd(&mut g, 0, GICD_IGROUPR + 4, 4), 0xFFFF_FFFF);
    assert_eq!(rd(&mut g, 0, GICD_IGROUPR, 4), 0);
    wr(&mut g, 0, GICD_ISENABLER + 4, 4, 0x3);
    assert_eq!(rd(&mut g, 0, GICD_ISENABLER + 4, 4), 0x3);
    wr(&mut g, 0, GICD_IPRIORITYR + 40, 1, 0xA0);
    assert_eq!(rd(&mut g, 0, GICD_IPRIORITYR + 40, 4), 0xA0);
    wr(&mut g, 0, GICD_ICFGR + 8, 4, 0x2);
    assert_eq!(rd(&mut g, 0, GICD_ICFGR + 8, 4), 0x2);
    // ITARGETSR and SGIR are RAZ/WI.
    wr(&mut g, 0, GICD_ITARGETSR + 32, 4, 0xFFFF_FFFF);
    assert_eq!(rd(&mut g, 0, GICD_ITARGETSR + 32, 4), 0);
    assert!(wr(&mut g, 0, GICD_SGIR, 4, 0x0001_0001).is_empty());
}

#[test]
fn v3_irouter() {
    let mut g = gic(GicVersion::V3, 20, 64);
    let r = |i: u64| GICD_IROUTER + 8 * i;
    // Reset: vCPU 0's affinity.
    assert_eq!(rd(&mut g, 0, r(32), 8), 0);
    wr(&mut g, 0, r(40), 8, 0xFFFF_FFFF_FFFF_FFFF);
    assert_eq!(rd(&mut g, 0, r(40), 8), GICD_IROUTER_MASK);
    wr(&mut g, 0, r(40), 8, 0x0101);
    assert_eq!(rd(&mut g, 0, r(40), 8), 0x0101);
    assert_eq!(g.irq_info(0, 40).unwrap().target, Some(17));
    // 32-bit halves.
    wr(&mut g, 0, r(41) + 4, 4, 0x7);
    wr(&mut g, 0, r(41), 4, 0x0003);
    assert_eq!(rd(&mut g, 0, r(41), 8), 0x7_0000_0003);
    assert_eq!(rd(&mut g, 0, r(41) + 4, 4), 0x7);
    assert_eq!(rd(&mut g, 0, r(41), 4), 0x3);
    assert_eq!(g.irq_info(0, 41).unwrap().target, None);
    // IRM = 1: vCPU 0.
    wr(&mut g, 0, r(42), 8, GICD_IROUTER_IRM | 0x0101);
    assert_eq!(g.irq_info(0, 42).unwrap().target, Some(0));
    // SGI/PPI and beyond-nr_irqs routers are RAZ/WI; byte access is an error.
    wr(&mut g, 0, r(3), 8, 0x1);
    assert_eq!(rd(&mut g, 0, r(3), 8), 0);
    wr(&mut g, 0, r(96), 8, 0x1);
    assert_eq!(rd(&mut g, 0, r(96), 8), 0);
    let mut fx = Effects::new();
    assert_eq!(
        g.dist_access(0, r(40), Access::read(1), &mut fx),
        Err(VgicError::BadAccessSize)
    );
}

#[test]
fn v3_redistributor_registers() {
    let cfg = VgicConfig {
        version: GicVersion::V3,
        nr_vcpus: 3,
        nr_spis: 32,
        vcpu_mpidr: vec![0x0, 0x1, 0x01_0000_0102],
    };
    let mut g = Vgic::new(&cfg).unwrap();
    let f = |i: u64| i * GICR_FRAME_SIZE;
    assert_eq!(rrd(&mut g, 0, f(0) + GICR_TYPER, 8), 0);
    assert_eq!(rrd(&mut g, 0, f(1) + GICR_TYPER, 8), (1 << 32) | (1 << 8));
    let t2 = (1u64 << 56) | (1 << 40) | (2 << 32) | (2 << 8) | GICR_TYPER_LAST;
    assert_eq!(rrd(&mut g, 1, f(2) + GICR_TYPER, 8), t2);
    assert_eq!(rrd(&mut g, 1, f(2) + GICR_TYPER, 4), t2 & 0xFFFF_FFFF);
    assert_eq!(rrd(&mut g, 1, f(2) + GICR_TYPER + 4, 4), t2 >> 32);
    for i in 0..3 {
        assert_eq!(rrd(&mut g, 0, f(i) + GICV3_PIDR2, 4), 0x3B);
        assert_eq!(rrd(&mut g, 0, f(i) + GICR_IIDR, 4), 0x5800_043B);
        assert_eq!(rrd(&mut g, 0, f(i) + GICR_CTLR, 4), 0);
    }
    // Absent frames: RAZ/WI.
    assert_eq!(rrd(&mut g, 0, f(3) + GICV3_PIDR2, 4), 0);
    assert!(rwr(&mut g, 0, f(7) + GICR_WAKER, 4, 0).is_empty());
    // GICR_TYPER is not byte accessible, GICR_CTLR not 64-bit.
    let mut fx = Effects::new();
    assert_eq!(
        g.redist_access(0, GICR_TYPER, Access::read(1), &mut fx),
        Err(VgicError::BadAccessSize)
    );
    assert_eq!(
        g.redist_access(0, GICR_CTLR, Access::read(8), &mut fx),
        Err(VgicError::BadAccessSize)
    );
    assert_eq!(
        g.redist_access(0, GICR_WAKER, Access::read(4), &mut fx),
        Ok(u64::from(
            GICR_WAKER_PROCESSOR_SLEEP | GICR_WAKER_CHILDREN_ASLEEP
        ))
    );
}

#[test]
fn v3_waker_handshake() {
    let mut g = gic(GicVersion::V3, 2, 32);
    let w1 = GICR_FRAME_SIZE + GICR_WAKER;
    assert_eq!(rrd(&mut g, 1, w1, 4), 0x6);
    // Linux: clear ProcessorSleep, poll until ChildrenAsleep clears.
    let v = rrd(&mut g, 1, w1, 4);
    rwr(&mut g, 1, w1, 4, v & !u64::from(GICR_WAKER_PROCESSOR_SLEEP));
    assert_eq!(
        rrd(&mut g, 1, w1, 4) & u64::from(GICR_WAKER_CHILDREN_ASLEEP),
        0
    );
    assert_eq!(rrd(&mut g, 0, GICR_WAKER, 4), 0x6, "frame 0 untouched");
    rwr(&mut g, 1, w1, 4, 0x2);
    assert_eq!(rrd(&mut g, 1, w1, 4), 0x6);
}

#[test]
fn v3_sgi_base_registers() {
    let mut g = gic(GicVersion::V3, 2, 32);
    let sgi = |i: u64| i * GICR_FRAME_SIZE + GICR_RD_BASE_SIZE;
    rwr(&mut g, 0, sgi(1) + GICD_ISENABLER, 4, 0x0800_0001);
    assert_eq!(rrd(&mut g, 0, sgi(1) + GICD_ISENABLER, 4), 0x0800_0001);
    assert_eq!(rrd(&mut g, 0, sgi(0) + GICD_ISENABLER, 4), 0);
    assert!(g.irq_info(1, 27).unwrap().enabled);
    rwr(&mut g, 1, sgi(1) + GICD_ICENABLER, 4, 0x1);
    assert_eq!(rrd(&mut g, 1, sgi(1) + GICD_ICENABLER, 4), 0x0800_0000);
    // GICv3 SGIs accept ISPENDR.
    rwr(&mut g, 1, sgi(1) + GICD_ISPENDR, 4, 0x2);
    assert_eq!(rrd(&mut g, 1, sgi(1) + GICD_ISPENDR, 4), 0x2);
    rwr(&mut g, 1, sgi(1) + GICD_ICPENDR, 4, 0x2);
    assert_eq!(rrd(&mut g, 1, sgi(1) + GICD_ISPENDR, 4), 0);
    rwr(&mut g, 1, sgi(1) + GICD_ISACTIVER, 4, 1 << 20);
    assert_eq!(rrd(&mut g, 1, sgi(1) + GICD_ICACTIVER, 4), 1 << 20);
    rwr(&mut g, 1, sgi(1) + GICD_IGROUPR, 4, 0);
    assert_eq!(rrd(&mut g, 1, sgi(1) + GICD_IGROUPR, 4), 0);
    assert_eq!(rrd(&mut g, 1, sgi(0) + GICD_IGROUPR, 4), 0xFFFF_FFFF);
    rwr(&mut g, 1, sgi(1) + GICD_IPRIORITYR + 27, 1, 0xA0);
    assert_eq!(
        rrd(&mut g, 1, sgi(1) + GICD_IPRIORITYR + 24, 4),
        0xA000_0000
    );
    assert_eq!(rrd(&mut g, 1, sgi(1) + GICD_ICFGR, 4), 0xAAAA_AAAA);
    rwr(&mut g, 1, sgi(1) + GICD_ICFGR + 4, 4, 0x2 << 22);
    assert_eq!(rrd(&mut g, 1, sgi(1) + GICD_ICFGR + 4, 4), 0x2 << 22);
    assert_eq!(rrd(&mut g, 1, sgi(1) + GICD_IGRPMODR, 4), 0);
    // Beyond INTID 31 nothing exists in SGI_base.
    rwr(&mut g, 1, sgi(1) + GICD_ISENABLER + 4, 4, 0xFFFF_FFFF);
    assert_eq!(rrd(&mut g, 1, sgi(1) + GICD_ISENABLER + 4, 4), 0);
    assert!(!g.irq_info(0, 32).unwrap().enabled);
}

// ------------------------------------------------------------------ hardware-mapped effects

#[test]
fn hw_enable_disable_effects() {
    for ver in [GicVersion::V2, GicVersion::V3] {
        let mut g = gic(ver, 2, 64);
        g.map_hw(None, 40, 72).unwrap();
        let (o, b) = bit_reg(GICD_ISENABLER, 40);
        let fx = wr(&mut g, 0, o, 4, b | (1 << 9)); // 41 is not mapped
        assert_eq!(fx.hw_effects(), &[Effect::HwEnable { pintid: 72 }]);
        assert!(
            wr(&mut g, 0, o, 4, b).hw_effects().is_empty(),
            "already enabled"
        );
        let (o, b) = bit_reg(GICD_ICENABLER, 40);
        assert_eq!(
            wr(&mut g, 0, o, 4, b).hw_effects(),
            &[Effect::HwDisable { pintid: 72 }]
        );
        assert!(wr(&mut g, 0, o, 4, b).hw_effects().is_empty());
        // Timer PPI mapped on every vCPU.
        g.map_hw(None, 27, 27).unwrap();
        let fx = enable(&mut g, 1, 27);
        assert_eq!(fx.hw_effects(), &[Effect::HwEnable { pintid: 27 }]);
    }
    let mut g = gic(GicVersion::V2, 2, 32);
    assert_eq!(g.map_hw(None, 3, 3), Err(VgicError::OutOfRange));
    assert_eq!(g.map_hw(None, 64, 64), Err(VgicError::OutOfRange));
    assert_eq!(g.map_hw(Some(5), 27, 27), Err(VgicError::OutOfRange));
    assert_eq!(g.map_hw(None, 40, 1020), Err(VgicError::OutOfRange));
}

#[test]
fn v2_itargetsr_routes_and_moves_delivery() {
    let mut g = gic(GicVersion::V2, 4, 32);
    enable_dist(&mut g);
    g.map_hw(None, 40, 72).unwrap();
    enable(&mut g, 0, 40);
    let mut fx = Effects::new();
    g.inject_hw(0, 40, &mut fx).unwrap();
    assert!(fx.kicked(0));
    assert!(g.has_deliverable(0));
    let fx = wr(&mut g, 0, GICD_ITARGETSR + 40, 1, 0x0C);
    assert_eq!(
        fx.hw_effects(),
        &[Effect::HwRoute {
            pintid: 72,
            vcpu: 2
        }]
    );
    assert!(fx.kicked(2));
    assert!(!g.has_deliverable(0));
    assert!(g.has_deliverable(2));
    let mut lrs = lrs_of(4);
    assert_eq!(g.flush(0, &mut lrs).used, 0);
    let info = g.flush(2, &mut lrs);
    assert_eq!(info.used, 1);
    assert_eq!(lrs[0].intid, 40);
    assert_eq!(lrs[0].hw, Some(72));
    // Same target again: no new route.
    let mut fx = Effects::new();
    g.fold(2, &lrs[..1], &mut fx);
    assert!(wr(&mut g, 0, GICD_ITARGETSR + 40, 1, 0x04)
        .hw_effects()
        .is_empty());
    // Target mask 0: not delivered anywhere.
    wr(&mut g, 0, GICD_ITARGETSR + 40, 1, 0x00);
    assert!((0..4).all(|v| !g.has_deliverable(v)));
}

#[test]
fn v3_irouter_routes_and_moves_delivery() {
    let mut g = gic(GicVersion::V3, 4, 32);
    enable_dist(&mut g);
    g.map_hw(None, 50, 90).unwrap();
    enable(&mut g, 0, 50);
    let mut fx = Effects::new();
    g.inject_edge(0, 50, &mut fx).unwrap();
    assert!(fx.kicked(0));
    let aff3 = g.vcpu_mpidr(3).unwrap();
    let fx = wr(&mut g, 0, GICD_IROUTER + 8 * 50, 8, aff3);
    assert_eq!(
        fx.hw_effects(),
        &[Effect::HwRoute {
            pintid: 90,
            vcpu: 3
        }]
    );
    assert!(fx.kicked(3));
    assert!(!g.has_deliverable(0) && g.has_deliverable(3));
    // An affinity that names no vCPU: nowhere.
    let fx = wr(&mut g, 0, GICD_IROUTER + 8 * 50, 8, 0x0F0F);
    assert!(fx.hw_effects().is_empty());
    assert!((0..4).all(|v| !g.has_deliverable(v)));
    // IRM: vCPU 0.
    let fx = wr(&mut g, 0, GICD_IROUTER + 8 * 50, 8, GICD_IROUTER_IRM);
    assert_eq!(
        fx.hw_effects(),
        &[Effect::HwRoute {
            pintid: 90,
            vcpu: 0
        }]
    );
    assert!(g.has_deliverable(0));
}

// ------------------------------------------------------------------ SGIs

fn sgi_pending(g: &Vgic, vcpu: usize, sgi: u32) -> bool {
    g.irq_info(vcpu, sgi).unwrap().pending
}

#[test]
fn v2_sgir_filters() {
    let mut g = gic(GicVersion::V2, 4, 32);
    // Filter 0: the list.
    let fx = wr(&mut g, 0, GICD_SGIR, 4, (0b1010 << 16) | 5);
    assert_eq!(fx.kicks().count(), 0, "not enabled yet: no kicks");
    assert_eq!(
        (0..4).map(|v| sgi_pending(&g, v, 5)).collect::<Vec<_>>(),
        [false, true, false, true]
    );
    assert_eq!(g.irq_info(1, 5).unwrap().sgi_sources, 0b1);
    // Filter 1: all but self, from CPU 2.
    wr(&mut g, 2, GICD_SGIR, 4, (1 << 24) | (0xFF << 16) | 6);
    assert_eq!(
        (0..4).map(|v| sgi_pending(&g, v, 6)).collect::<Vec<_>>(),
        [true, true, false, true]
    );
    assert_eq!(g.irq_info(3, 6).unwrap().sgi_sources, 0b100);
    // Filter 2: self only.
    wr(&mut g, 3, GICD_SGIR, 4, (2 << 24) | (0x1 << 16) | 7);
    assert_eq!(
        (0..4).map(|v| sgi_pending(&g, v, 7)).collect::<Vec<_>>(),
        [false, false, false, true]
    );
    // Filter 3: reserved, nothing.
    wr(&mut g, 0, GICD_SGIR, 4, (3 << 24) | (0xF << 16) | 8);
    assert!((0..4).all(|v| !sgi_pending(&g, v, 8)));
    // Targets beyond nr_vcpus are dropped; several sources accumulate.
    wr(&mut g, 1, GICD_SGIR, 4, (0xF2 << 16) | 5);
    assert_eq!(g.irq_info(1, 5).unwrap().sgi_sources, 0b11);
    // Read of SGIR: RAZ.
    assert_eq!(rd(&mut g, 0, GICD_SGIR, 4), 0);
    // Once enabled, sending kicks the targets.
    enable_dist(&mut g);
    for v in 0..4 {
        enable(&mut g, v, 9);
    }
    let fx = wr(&mut g, 0, GICD_SGIR, 4, (1 << 24) | 9);
    assert_eq!(fx.kicks().collect::<Vec<_>>(), [1, 2, 3]);
}

#[test]
fn v3_sgi1r_targets() {
    let mut g = gic(GicVersion::V3, 20, 32);
    enable_dist(&mut g);
    for v in 0..20 {
        enable(&mut g, v, 1);
        enable(&mut g, v, 2);
        enable(&mut g, v, 3);
    }
    // Aff1 = 1, TargetList bits 0 and 3: vCPUs 16 and 19.
    let mut fx = Effects::new();
    g.write_sgi1r(0, (1 << 24) | (1 << 16) | 0b1001, &mut fx);
    let got: Vec<_> = (0..20).filter(|&v| sgi_pending(&g, v, 1)).collect();
    assert_eq!(got, [16, 19]);
    assert_eq!(fx.kicks().collect::<Vec<_>>(), [16, 19]);
    // IRM: everyone but the sender.
    let mut fx = Effects::new();
    g.write_sgi1r(5, (1 << 40) | (2 << 24) | 0xFFFF, &mut fx);
    let got: Vec<_> = (0..20).filter(|&v| sgi_pending(&g, v, 2)).collect();
    assert_eq!(got, (0..20).filter(|&v| v != 5).collect::<Vec<_>>());
    assert_eq!(fx.kicks().count(), 19);
    // Aff2/Aff3 that match nobody.
    g.write_sgi1r(0, (1 << 32) | (3 << 24) | 0x1, &mut Effects::new());
    g.write_sgi1r(0, (1 << 48) | (3 << 24) | 0x1, &mut Effects::new());
    assert!((0..20).all(|v| !sgi_pending(&g, v, 3)));
    // A v3 SGI configured Group 0 at the target is not forwarded by SGI1R, but by SGI0R.
    let sgi = |i: u64| i * GICR_FRAME_SIZE + GICR_RD_BASE_SIZE;
    rwr(
        &mut g,
        0,
        sgi(4) + GICD_IGROUPR,
        4,
        !(1u64 << 4) & 0xFFFF_FFFF,
    );
    g.write_sgi1r(0, (4 << 24) | (1 << 4), &mut Effects::new());
    assert!(!sgi_pending(&g, 4, 4));
    g.write_sgi0r(0, (4 << 24) | (1 << 4), &mut Effects::new());
    assert!(sgi_pending(&g, 4, 4));
}

#[test]
fn v3_sgi1r_range_selector() {
    let cfg = VgicConfig {
        version: GicVersion::V3,
        nr_vcpus: 3,
        nr_spis: 0,
        vcpu_mpidr: vec![0x0, 0x11, 0x01_0002_03F0],
    };
    let mut g = Vgic::new(&cfg).unwrap();
    // Aff0 = 17 = RS 1, bit 1.
    g.write_sgi1r(0, (1 << 44) | (7 << 24) | (1 << 1), &mut Effects::new());
    assert!(sgi_pending(&g, 1, 7));
    assert!(!sgi_pending(&g, 0, 7));
    // Aff3 1, Aff2 2, Aff1 3, Aff0 0xF0 = RS 15, bit 0.
    g.write_sgi1r(
        0,
        (1 << 48) | (2 << 32) | (15 << 44) | (3 << 16) | (8 << 24) | 1,
        &mut Effects::new(),
    );
    assert!(sgi_pending(&g, 2, 8));
    // A v2 vGIC ignores SGI1R writes.
    let mut g2 = gic(GicVersion::V2, 2, 32);
    g2.write_sgi1r(0, (1 << 40) | (1 << 24), &mut Effects::new());
    assert!(!sgi_pending(&g2, 1, 1));
}

// ------------------------------------------------------------------ flush / fold

/// vCPU 0 of a v3 vGIC with SPIs 32.. enabled, given priorities, pending.
fn v3_with_pending(prios: &[(u32, u8)]) -> Vgic {
    let mut g = gic(GicVersion::V3, 2, 64);
    enable_dist(&mut g);
    for &(intid, p) in prios {
        enable(&mut g, 0, intid);
        wr(
            &mut g,
            0,
            GICD_IPRIORITYR + u64::from(intid),
            1,
            u64::from(p),
        );
        let (o, b) = bit_reg(GICD_ISPENDR, intid);
        wr(&mut g, 0, o, 4, b);
    }
    g
}

#[test]
fn flush_orders_by_priority_and_flags_underflow() {
    let prios = [
        (32, 0xA0),
        (33, 0x20),
        (34, 0x80),
        (35, 0x20),
        (36, 0xF0),
        (37, 0x00),
    ];
    let mut g = v3_with_pending(&prios);
    let mut lrs = lrs_of(4);
    let info = g.flush(0, &mut lrs);
    assert_eq!(
        info,
        FlushInfo {
            used: 4,
            underflow: true
        }
    );
    let got: Vec<_> = lrs.iter().map(|l| (l.intid, l.priority)).collect();
    assert_eq!(got, [(37, 0x00), (33, 0x20), (35, 0x20), (34, 0x80)]);
    assert!(lrs
        .iter()
        .all(|l| l.state == LrState::Pending && l.group1 && l.eoi_maint));
    // Not flushed to vCPU 1, and a second vCPU does not take IRQs held in vCPU 0's LRs.
    let mut other = lrs_of(4);
    assert_eq!(g.flush(1, &mut other).used, 0);
    // Everything acknowledged and EOIed; the level latch is consumed.
    for l in lrs.iter_mut() {
        l.state = LrState::Invalid;
    }
    g.fold(0, &lrs, &mut Effects::new());
    let info = g.flush(0, &mut lrs);
    assert_eq!(
        info,
        FlushInfo {
            used: 2,
            underflow: false
        }
    );
    assert_eq!((lrs[0].intid, lrs[1].intid), (32, 36));
    assert_eq!(lrs[2], Lr::INVALID);
    // Fewer LRs than candidates with zero LRs: underflow.
    let mut none: [Lr; 0] = [];
    let mut g2 = v3_with_pending(&prios);
    assert_eq!(
        g2.flush(0, &mut none),
        FlushInfo {
            used: 0,
            underflow: true
        }
    );
}

#[test]
fn flush_puts_active_first() {
    let mut g = v3_with_pending(&[(32, 0x10), (33, 0x20), (34, 0x30)]);
    // 40: lowest priority, active (acknowledged earlier), must never be dropped.
    wr(&mut g, 0, GICD_IPRIORITYR + 40, 1, 0xF8);
    let (o, b) = bit_reg(GICD_ISACTIVER, 40);
    wr(&mut g, 0, o, 4, b);
    let mut lrs = lrs_of(2);
    let info = g.flush(0, &mut lrs);
    assert!(info.underflow);
    assert_eq!((lrs[0].intid, lrs[0].state), (40, LrState::Active));
    assert_eq!((lrs[1].intid, lrs[1].state), (32, LrState::Pending));
}

#[test]
fn flush_skips_disabled_and_group_disabled() {
    let mut g = v3_with_pending(&[(32, 0x10), (33, 0x20)]);
    let (o, b) = bit_reg(GICD_ICENABLER, 32);
    wr(&mut g, 0, o, 4, b);
    let mut lrs = lrs_of(4);
    assert_eq!(g.flush(0, &mut lrs).used, 1);
    g.fold(0, &lrs[..1], &mut Effects::new());
    wr(&mut g, 0, GICD_CTLR, 4, 0x1); // Group 1 off
    assert!(!g.has_deliverable(0));
    assert_eq!(g.flush(0, &mut lrs).used, 0);
    let fx = wr(&mut g, 0, GICD_CTLR, 4, 0x3);
    assert!(fx.kicked(0));
    assert!(g.has_deliverable(0));
}

#[test]
fn fold_completes_edge_irq() {
    let mut g = gic(GicVersion::V3, 2, 32);
    enable_dist(&mut g);
    wr(&mut g, 0, GICD_ICFGR + 8, 4, 0x2); // SPI 32 edge
    enable(&mut g, 0, 32);
    let mut fx = Effects::new();
    g.inject_edge(0, 32, &mut fx).unwrap();
    assert_eq!(fx.kicks().collect::<Vec<_>>(), [0]);
    let mut lrs = lrs_of(4);
    assert_eq!(g.flush(0, &mut lrs).used, 1);
    assert_eq!(lrs[0].state, LrState::Pending);
    assert!(!lrs[0].eoi_maint, "edge: no EOI maintenance");
    assert_eq!(g.in_lr(0, 32), Some(0));
    // Guest acknowledged; a second edge arrives meanwhile.
    lrs[0].state = LrState::Active;
    let mut fx = Effects::new();
    g.inject_edge(1, 32, &mut fx).unwrap();
    assert!(fx.kicked(0), "the vCPU holding it resyncs");
    g.fold(0, &lrs[..1], &mut Effects::new());
    assert_eq!(g.in_lr(0, 32), None);
    let i = g.irq_info(0, 32).unwrap();
    assert!(i.active && i.pending);
    assert_eq!(g.flush(0, &mut lrs).used, 1);
    assert_eq!(lrs[0].state, LrState::PendingActive);
    // EOI of the first, acknowledge of the second.
    lrs[0].state = LrState::Active;
    g.fold(0, &lrs[..1], &mut Effects::new());
    assert!(!g.irq_info(0, 32).unwrap().pending);
    g.flush(0, &mut lrs);
    assert_eq!(lrs[0].state, LrState::Active);
    lrs[0].state = LrState::Invalid;
    g.fold(0, &lrs[..1], &mut Effects::new());
    let i = g.irq_info(0, 32).unwrap();
    assert!(!i.active && !i.pending);
    assert_eq!(g.flush(0, &mut lrs).used, 0);
}

#[test]
fn fold_completes_level_irq() {
    let mut g = gic(GicVersion::V2, 2, 32);
    enable_dist(&mut g);
    enable(&mut g, 0, 33);
    let mut fx = Effects::new();
    g.set_level(0, 33, true, &mut fx).unwrap();
    assert!(fx.kicked(0));
    let mut lrs = lrs_of(4);
    g.flush(0, &mut lrs);
    assert_eq!(
        (lrs[0].intid, lrs[0].state, lrs[0].eoi_maint),
        (33, LrState::Pending, true)
    );
    // Acknowledged: active, line still high, but never pending+active for level IRQs.
    lrs[0].state = LrState::Active;
    g.fold(0, &lrs[..1], &mut Effects::new());
    g.flush(0, &mut lrs);
    assert_eq!(lrs[0].state, LrState::Active);
    // EOI with the line still high: pending again.
    lrs[0].state = LrState::Invalid;
    g.fold(0, &lrs[..1], &mut Effects::new());
    assert!(g.irq_info(0, 33).unwrap().pending);
    assert_eq!(g.flush(0, &mut lrs).used, 1);
    assert_eq!(lrs[0].state, LrState::Pending);
    // The device lowers the line while it sits in the LR: the vCPU is kicked, and after the
    // fold nothing is pending.
    let mut fx = Effects::new();
    g.set_level(0, 33, false, &mut fx).unwrap();
    assert!(fx.kicked(0));
    g.fold(0, &lrs[..1], &mut Effects::new());
    assert!(!g.irq_info(0, 33).unwrap().pending);
    assert_eq!(g.flush(0, &mut lrs).used, 0);
    // A software-pended level IRQ is consumed by its acknowledge.
    let (o, b) = bit_reg(GICD_ISPENDR, 33);
    wr(&mut g, 0, o, 4, b);
    g.flush(0, &mut lrs);
    lrs[0].state = LrState::Invalid;
    g.fold(0, &lrs[..1], &mut Effects::new());
    assert!(!g.irq_info(0, 33).unwrap().pending);
}

/// The event-channel upcall line as the hypervisor drives it (`hyp/src/xen/mod.rs`): raised by
/// an event from another pCPU, resynced to `evtchn_upcall_pending` before each entry. A raise of
/// a line that is still high changes nothing and kicks nobody, so the resync must read the flag
/// and set the line in one critical section with the raise. Replayed on the model: the stale
/// order (flag read 0, raise, then lower) leaves nothing deliverable and nobody kicked although
/// an event is pending; the serialised orders end with the line high, deliverable, and a kick.
#[test]
fn upcall_line_raise_racing_a_resync() {
    const UPCALL: u32 = 31;
    let fresh = || {
        let mut g = gic(GicVersion::V3, 2, 32);
        enable_dist(&mut g);
        enable(&mut g, 1, UPCALL);
        // The previous upcall: line high, taken and completed by the guest.
        g.set_level(1, UPCALL, true, &mut Effects::new()).unwrap();
        let mut lrs = lrs_of(4);
        g.flush(1, &mut lrs);
        lrs[0].state = LrState::Invalid;
        g.fold(1, &lrs[..1], &mut Effects::new());
        g
    };
    // Stale: vCPU 1's pCPU read the flag (0) before the raise, lowers after it.
    let mut g = fresh();
    let mut raise = Effects::new();
    g.set_level(1, UPCALL, true, &mut raise).unwrap();
    assert!(
        !raise.kicked(1),
        "raising a high line is no change: no kick"
    );
    g.set_level(1, UPCALL, false, &mut Effects::new()).unwrap();
    assert!(
        !g.has_deliverable(1),
        "the event is pending, but nothing wakes vCPU 1"
    );
    // Serialised, the resync first (flag 0): the raise then changes the line and kicks.
    let mut g = fresh();
    g.set_level(1, UPCALL, false, &mut Effects::new()).unwrap();
    let mut raise = Effects::new();
    g.set_level(1, UPCALL, true, &mut raise).unwrap();
    assert!(raise.kicked(1) && g.has_deliverable(1));
    // Serialised, the raise first: the resync reads the flag (1) and keeps the line high.
    let mut g = fresh();
    g.set_level(1, UPCALL, true, &mut Effects::new()).unwrap();
    g.set_level(1, UPCALL, true, &mut Effects::new()).unwrap();
    assert!(g.has_deliverable(1));
}

#[test]
fn set_level_on_edge_configured_line_latches_rising_edges() {
    let mut g = gic(GicVersion::V3, 1, 32);
    enable_dist(&mut g);
    enable(&mut g, 0, 32);
    wr(&mut g, 0, GICD_ICFGR + 8, 4, 0x2);
    g.set_level(0, 32, true, &mut Effects::new()).unwrap();
    let mut lrs = lrs_of(2);
    g.flush(0, &mut lrs);
    assert!(!lrs[0].eoi_maint);
    lrs[0].state = LrState::Invalid;
    g.fold(0, &lrs[..1], &mut Effects::new());
    // Still high, but no new edge: nothing pending.
    assert!(!g.irq_info(0, 32).unwrap().pending);
    g.set_level(0, 32, false, &mut Effects::new()).unwrap();
    g.set_level(0, 32, true, &mut Effects::new()).unwrap();
    assert!(g.irq_info(0, 32).unwrap().pending);
}

#[test]
fn fold_kicks_new_target_of_released_irq() {
    let mut g = gic(GicVersion::V3, 2, 32);
    enable_dist(&mut g);
    enable(&mut g, 0, 32);
    g.set_level(0, 32, true, &mut Effects::new()).unwrap();
    let mut lrs = lrs_of(2);
    g.flush(0, &mut lrs);
    // Retargeted to vCPU 1 while in vCPU 0's LRs: vCPU 1 must not take it yet.
    wr(&mut g, 0, GICD_IROUTER + 8 * 32, 8, 1);
    let mut l1 = lrs_of(2);
    assert_eq!(g.flush(1, &mut l1).used, 0);
    assert!(!g.has_deliverable(1));
    // vCPU 0 exits without having taken it; the fold hands it to vCPU 1.
    let mut fx = Effects::new();
    g.fold(0, &lrs[..1], &mut fx);
    assert!(fx.kicked(1));
    assert_eq!(g.flush(1, &mut l1).used, 1);
}

#[test]
fn active_spi_stays_on_its_vcpu() {
    let mut g = gic(GicVersion::V3, 2, 32);
    enable_dist(&mut g);
    enable(&mut g, 0, 32);
    g.set_level(0, 32, true, &mut Effects::new()).unwrap();
    let mut lrs = lrs_of(2);
    g.flush(0, &mut lrs);
    lrs[0].state = LrState::Active;
    g.fold(0, &lrs[..1], &mut Effects::new());
    wr(&mut g, 0, GICD_IROUTER + 8 * 32, 8, 1);
    // Still active on vCPU 0: its LR goes back there so the EOI finds it.
    let mut l1 = lrs_of(2);
    assert_eq!(g.flush(1, &mut l1).used, 0);
    assert_eq!(g.flush(0, &mut lrs).used, 1);
    lrs[0].state = LrState::Invalid;
    let mut fx = Effects::new();
    g.fold(0, &lrs[..1], &mut fx);
    assert!(fx.kicked(1), "line still high: now for vCPU 1");
    assert_eq!(g.flush(1, &mut l1).used, 1);
}

#[test]
fn v2_sgi_one_lr_per_source() {
    let mut g = gic(GicVersion::V2, 4, 32);
    enable_dist(&mut g);
    enable(&mut g, 3, 2);
    for src in [0usize, 1, 2] {
        wr(&mut g, src, GICD_SGIR, 4, (0b1000 << 16) | 2);
    }
    let mut lrs = lrs_of(4);
    let info = g.flush(3, &mut lrs);
    assert_eq!(
        info,
        FlushInfo {
            used: 3,
            underflow: false
        }
    );
    let srcs: Vec<_> = lrs[..3]
        .iter()
        .map(|l| (l.intid, l.source, l.state))
        .collect();
    assert_eq!(
        srcs,
        [
            (2, 0, LrState::Pending),
            (2, 1, LrState::Pending),
            (2, 2, LrState::Pending)
        ]
    );
    assert_eq!(g.irq_info(3, 2).unwrap().sgi_sources, 0);
    // The guest takes the one from CPU 1 and leaves the others pending.
    lrs[1].state = LrState::Active;
    g.fold(3, &lrs[..3], &mut Effects::new());
    assert_eq!(g.irq_info(3, 2).unwrap().sgi_sources, 0b101);
    assert!(g.irq_info(3, 2).unwrap().active);
    let mut two = lrs_of(2);
    let info = g.flush(3, &mut two);
    assert_eq!(
        info,
        FlushInfo {
            used: 2,
            underflow: true
        }
    );
    assert_eq!((two[0].source, two[0].state), (1, LrState::Active));
    assert_eq!((two[1].source, two[1].state), (0, LrState::Pending));
    two[0].state = LrState::Invalid;
    g.fold(3, &two, &mut Effects::new());
    assert!(!g.irq_info(3, 2).unwrap().active);
    assert_eq!(g.irq_info(3, 2).unwrap().sgi_sources, 0b101);
}

#[test]
fn hw_mapped_irq_in_lrs() {
    let mut g = gic(GicVersion::V3, 2, 32);
    enable_dist(&mut g);
    g.map_hw(None, 27, 27).unwrap();
    enable(&mut g, 1, 27);
    let mut fx = Effects::new();
    g.inject_hw(1, 27, &mut fx).unwrap();
    assert!(fx.kicked(1));
    let mut lrs = lrs_of(4);
    assert_eq!(g.flush(1, &mut lrs).used, 1);
    let lr = lrs[0];
    assert_eq!(
        (lr.intid, lr.hw, lr.state, lr.eoi_maint),
        (27, Some(27), LrState::Pending, false)
    );
    let word = lr.to_ich_lr();
    assert_eq!(word & (1 << 61), 1 << 61);
    assert_eq!((word >> 32) & 0x3FF, 27);
    // Acknowledged: goes back as active, with the HW bit still set.
    lrs[0].state = LrState::Active;
    g.fold(1, &lrs[..1], &mut Effects::new());
    g.flush(1, &mut lrs);
    assert_eq!((lrs[0].state, lrs[0].hw), (LrState::Active, Some(27)));
    // Deactivated by the guest (and so physically): nothing left to do.
    lrs[0].state = LrState::Invalid;
    let mut fx = Effects::new();
    g.fold(1, &lrs[..1], &mut fx);
    assert!(fx.hw_effects().is_empty(), "the LR deactivated it");
    assert!(!g.irq_info(1, 27).unwrap().pending);
    assert_eq!(g.flush(1, &mut lrs).used, 0);
    // It fires again.
    g.inject_hw(1, 27, &mut Effects::new()).unwrap();
    assert_eq!(g.flush(1, &mut lrs).used, 1);
    assert_eq!((lrs[0].state, lrs[0].hw), (LrState::Pending, Some(27)));
    lrs[0].state = LrState::Invalid;
    g.fold(1, &lrs[..1], &mut Effects::new());
    // A software-pended HW-mapped IRQ goes out without the HW bit (nothing to deactivate).
    let sgi1 = GICR_FRAME_SIZE + GICR_RD_BASE_SIZE;
    rwr(&mut g, 1, sgi1 + GICD_ISPENDR, 4, 1 << 27);
    g.flush(1, &mut lrs);
    assert_eq!((lrs[0].intid, lrs[0].hw), (27, None));
}

#[test]
fn hw_pending_cleared_by_guest_deactivates_physical() {
    let mut g = gic(GicVersion::V2, 2, 32);
    enable_dist(&mut g);
    g.map_hw(None, 40, 72).unwrap();
    enable(&mut g, 0, 40);
    g.inject_hw(0, 40, &mut Effects::new()).unwrap();
    // Not in an LR: cleared at once.
    let (o, b) = bit_reg(GICD_ICPENDR, 40);
    let fx = wr(&mut g, 0, o, 4, b);
    assert_eq!(fx.hw_effects(), &[Effect::HwDeactivate { pintid: 72 }]);
    // In an LR of a running vCPU: recorded, the vCPU kicked, applied at fold.
    g.inject_hw(0, 40, &mut Effects::new()).unwrap();
    let mut lrs = lrs_of(2);
    g.flush(0, &mut lrs);
    let fx = wr(&mut g, 1, o, 4, b);
    assert!(fx.hw_effects().is_empty());
    assert!(fx.kicked(0));
    let mut fx = Effects::new();
    g.fold(0, &lrs[..1], &mut fx);
    assert_eq!(fx.hw_effects(), &[Effect::HwDeactivate { pintid: 72 }]);
    assert!(!g.irq_info(0, 40).unwrap().pending);
    assert_eq!(g.flush(0, &mut lrs).used, 0);
}

#[test]
fn has_deliverable_rules() {
    let mut g = gic(GicVersion::V2, 2, 32);
    g.inject_edge(0, 40, &mut Effects::new()).unwrap();
    assert!(!g.has_deliverable(0), "disabled, distributor off");
    enable(&mut g, 0, 40);
    assert!(!g.has_deliverable(0), "distributor off");
    enable_dist(&mut g);
    assert!(g.has_deliverable(0));
    assert!(!g.has_deliverable(1));
    assert!(!g.has_deliverable(7));
    assert_eq!(
        g.inject_edge(0, 64, &mut Effects::new()),
        Err(VgicError::OutOfRange)
    );
    assert_eq!(
        g.set_level(2, 20, true, &mut Effects::new()),
        Err(VgicError::OutOfRange)
    );
}

// ------------------------------------------------------------------ LR encodings

#[test]
fn gich_lr_encodings() {
    let hw = Lr {
        intid: 27,
        state: LrState::Pending,
        priority: 0xA0,
        group1: true,
        hw: Some(27),
        source: 0,
        eoi_maint: false,
    };
    assert_eq!(hw.to_gich_lr(), 0xDA00_6C1B);
    assert_eq!(Lr::from_gich_lr(0xDA00_6C1B), hw);
    let sgi = Lr {
        intid: 3,
        state: LrState::PendingActive,
        priority: 0x80,
        group1: false,
        hw: None,
        source: 5,
        eoi_maint: true,
    };
    assert_eq!(sgi.to_gich_lr(), 0x3808_1403);
    assert_eq!(Lr::from_gich_lr(0x3808_1403), sgi);
    let spi = Lr {
        intid: 1019,
        state: LrState::Active,
        priority: 0xF8,
        group1: true,
        hw: Some(1019),
        source: 0,
        eoi_maint: false,
    };
    // 0x3FB | 0x3FB << 10 | 31 << 23 | 2 << 28 | G1 | HW
    assert_eq!(
        spi.to_gich_lr(),
        0x3FB | (0x3FB << 10) | (31 << 23) | (2 << 28) | (3 << 30)
    );
    assert_eq!(Lr::from_gich_lr(spi.to_gich_lr()), spi);
    assert_eq!(Lr::INVALID.to_gich_lr(), 0);
    assert_eq!(Lr::from_gich_lr(0), Lr::INVALID);
}

#[test]
fn ich_lr_encodings() {
    let hw = Lr {
        intid: 40,
        state: LrState::Active,
        priority: 0xA0,
        group1: true,
        hw: Some(72),
        source: 0,
        eoi_maint: false,
    };
    assert_eq!(hw.to_ich_lr(), 0xB0A0_0048_0000_0028);
    assert_eq!(Lr::from_ich_lr(0xB0A0_0048_0000_0028), hw);
    let level = Lr {
        intid: 33,
        state: LrState::Pending,
        priority: 0x08,
        group1: true,
        hw: None,
        source: 0,
        eoi_maint: true,
    };
    assert_eq!(level.to_ich_lr(), 0x5008_0200_0000_0021);
    assert_eq!(Lr::from_ich_lr(0x5008_0200_0000_0021), level);
    let pa = Lr {
        intid: 8191,
        state: LrState::PendingActive,
        priority: 0xFF,
        group1: false,
        hw: None,
        source: 0,
        eoi_maint: false,
    };
    assert_eq!(pa.to_ich_lr(), 0xC0FF_0000_0000_1FFF);
    assert_eq!(Lr::from_ich_lr(pa.to_ich_lr()), pa);
    assert_eq!(Lr::INVALID.to_ich_lr(), 0);
}

// ------------------------------------------------------------------ fuzz

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn fuzz(version: GicVersion, nr_vcpus: usize, nr_spis: u32, seed: u64, iters: usize) {
    let mut g = gic(version, nr_vcpus, nr_spis);
    let mut rng = Rng(seed);
    let mut fx = Effects::new();
    let mut lrs: Vec<Vec<Lr>> = vec![Vec::new(); nr_vcpus];
    let sizes = [0u8, 1, 2, 3, 4, 4, 4, 8, 8, 16];
    for _ in 0..iters {
        fx.clear();
        let vcpu = rng.below(nr_vcpus as u64 + 2) as usize;
        let size = sizes[rng.below(sizes.len() as u64) as usize];
        let value = match rng.below(4) {
            0 => 0,
            1 => u64::MAX,
            _ => rng.next(),
        };
        let write = if rng.below(2) == 0 { None } else { Some(value) };
        let acc = Access { size, write };
        match rng.below(12) {
            0..=4 => {
                // Mostly inside the frame, sometimes anywhere.
                let off = if rng.below(8) == 0 {
                    rng.next()
                } else {
                    rng.below(g.dist_size() + 0x100) & !(rng.below(2) * 3)
                };
                let _ = g.dist_access(vcpu, off, acc, &mut fx);
            }
            5..=6 => {
                let off = if rng.below(8) == 0 {
                    rng.next()
                } else {
                    rng.below(g.redist_size() + 2 * GICR_FRAME_SIZE) & !3
                };
                let _ = g.redist_access(vcpu, off, acc, &mut fx);
            }
            7 => g.write_sgi1r(vcpu, value, &mut fx),
            8 => {
                let intid = rng.below(u64::from(g.nr_irqs()) + 8) as u32;
                let _ = match rng.below(4) {
                    0 => g.set_level(vcpu, intid, value & 1 != 0, &mut fx),
                    1 => g.inject_edge(vcpu, intid, &mut fx),
                    2 => g.inject_hw(vcpu, intid, &mut fx),
                    _ => g.map_hw(Some(vcpu), intid, (value % 1100) as u32),
                };
            }
            _ => {
                // An entry/exit cycle with a random guest outcome per LR.
                let v = rng.below(nr_vcpus as u64) as usize;
                let n = rng.below(8) as usize;
                let mut buf = lrs_of(n);
                let info = g.flush(v, &mut buf);
                assert!(info.used <= n);
                for lr in buf.iter_mut().take(info.used) {
                    assert_ne!(lr.state, LrState::Invalid);
                    assert!(lr.intid < g.nr_irqs());
                    // Round trip of everything flush produces.
                    match version {
                        GicVersion::V2 => assert_eq!(Lr::from_gich_lr(lr.to_gich_lr()), *lr),
                        GicVersion::V3 => assert_eq!(Lr::from_ich_lr(lr.to_ich_lr()), *lr),
                    }
                    lr.state = match rng.below(4) {
                        0 => LrState::Invalid,
                        1 => LrState::Pending,
                        2 => LrState::Active,
                        _ => lr.state,
                    };
                }
                buf.truncate(info.used);
                // Sometimes the vCPU exits only later (other operations in between).
                if rng.below(3) == 0 {
                    if let Some(old) = lrs.get_mut(v) {
                        let old = core::mem::replace(old, buf);
                        g.fold(v, &old, &mut fx);
                    }
                } else {
                    g.fold(v, &buf, &mut fx);
                }
                let _ = g.has_deliverable(v);
            }
        }
        assert!(!fx.overflowed());
        assert!(fx.kicks().all(|k| k < nr_vcpus));
        for e in fx.hw_effects() {
            if let Effect::HwRoute { vcpu, .. } = e {
                assert!(*vcpu < nr_vcpus);
            }
        }
    }
    // Drain: after folding everything, no interrupt is left marked as in an LR.
    for (v, old) in lrs.iter().enumerate() {
        g.fold(v, old, &mut fx);
    }
    for v in 0..nr_vcpus {
        for intid in 0..g.nr_irqs() {
            let _ = g.irq_info(v, intid).unwrap();
        }
    }
}

#[test]
fn fuzz_mmio_never_panics_v2() {
    for seed in 1..=4 {
        fuzz(
            GicVersion::V2,
            1 + seed as usize,
            64,
            seed * 0x9E37_79B9,
            50_000,
        );
    }
}

#[test]
fn fuzz_mmio_never_panics_v3() {
    for seed in 1..=4 {
        fuzz(
            GicVersion::V3,
            3 * seed as usize,
            96,
            seed * 0x1234_5678_9ABC,
            50_000,
        );
    }
}

// ------------------------------------------------------------------ fast paths vs reference

/// One operation of the equivalence test, applied alike to two vGICs.
#[derive(Clone, Debug)]
enum Op {
    Dist(usize, u64, Access),
    Redist(usize, u64, Access),
    Sgi(usize, u64, bool),
    Level(usize, u32, bool),
    Edge(usize, u32),
    Hw(usize, u32),
    Map(Option<usize>, u32, Option<u32>),
    /// Entry/exit of a vCPU: LR count, new guest state per LR, fold later (keep the LRs).
    Cycle(usize, usize, Vec<u8>, bool),
}

fn gen_op(g: &Vgic, rng: &mut Rng) -> Op {
    let nv = g.nr_vcpus();
    let nirq = g.nr_irqs();
    let v2 = g.version() == GicVersion::V2;
    let vcpu = rng.below(nv as u64) as usize;
    let intid = rng.below(u64::from(nirq)) as u32;
    let sparse = |rng: &mut Rng| match rng.below(3) {
        0 => 1u64 << rng.below(32),
        1 => rng.next() & rng.next() & rng.next() & 0xFFFF_FFFF,
        _ => rng.next() & 0xFFFF_FFFF,
    };
    // A write to the register of `intid` at `off` in the GICD_IGROUPR..GICD_ICFGR block: in
    // some redistributor's SGI_base for a v3 SGI/PPI, else in the distributor.
    let block = |rng: &mut Rng, off: u64, size: u8, value: u64| {
        if !v2 && intid < NR_PRIVATE_IRQS {
            let frame = rng.below(nv as u64);
            let off = frame * GICR_FRAME_SIZE + GICR_RD_BASE_SIZE + off;
            Op::Redist(vcpu, off, Access::write(size, value))
        } else {
            Op::Dist(vcpu, off, Access::write(size, value))
        }
    };
    match rng.below(24) {
        0..=5 => {
            let bases = [
                GICD_IGROUPR,
                GICD_ISENABLER,
                GICD_ISENABLER,
                GICD_ICENABLER,
                GICD_ISPENDR,
                GICD_ISPENDR,
                GICD_ICPENDR,
                GICD_ISACTIVER,
                GICD_ICACTIVER,
            ];
            let base = bases[rng.below(bases.len() as u64) as usize];
            let value = sparse(rng);
            block(rng, base + u64::from(intid / 32) * 4, 4, value)
        }
        6 => {
            let value = rng.next() & 0xFFFF_FFFF;
            block(rng, GICD_ICFGR + u64::from(intid / 16) * 4, 4, value)
        }
        7 => {
            let prios = [0x00u64, 0x40, 0xA0, 0xA0, 0xF8];
            let p = prios[rng.below(prios.len() as u64) as usize];
            block(rng, GICD_IPRIORITYR + u64::from(intid), 1, p)
        }
        8 => {
            if v2 {
                let t = match rng.below(3) {
                    0 => rng.next() & 0xFF,
                    _ => 1 << rng.below(nv as u64),
                };
                Op::Dist(vcpu, GICD_ITARGETSR + u64::from(intid), Access::write(1, t))
            } else {
                let r = match rng.below(4) {
                    0 => GICD_IROUTER_IRM,
                    1 => rng.next(),
                    _ => g.vcpu_mpidr(rng.below(nv as u64) as usize).unwrap(),
                };
                let off = GICD_IROUTER + 8 * u64::from(intid);
                Op::Dist(vcpu, off, Access::write(8, r))
            }
        }
        9 => {
            let v = if rng.below(4) == 0 { rng.below(4) } else { 3 } | if v2 { 0 } else { 0x10 };
            Op::Dist(vcpu, GICD_CTLR, Access::write(4, v))
        }
        10..=11 => {
            let sgi = rng.below(16);
            if v2 {
                match rng.below(3) {
                    0 => {
                        let set = rng.below(3) != 0;
                        let base = if set { GICD_SPENDSGIR } else { GICD_CPENDSGIR };
                        let off = base + sgi;
                        Op::Dist(vcpu, off, Access::write(1, rng.next() & 0xFF))
                    }
                    _ => {
                        let filter = rng.below(4);
                        let targets = rng.next() & 0xFF;
                        let v = filter << GICD_SGIR_FILTER_SHIFT
                            | targets << GICD_SGIR_TARGETS_SHIFT
                            | sgi;
                        Op::Dist(vcpu, GICD_SGIR, Access::write(4, v))
                    }
                }
            } else {
                let irm = u64::from(rng.below(5) == 0) << ICC_SGI1R_IRQ_ROUTING_MODE_BIT;
                let aff1 = rng.below(2) << ICC_SGI1R_AFFINITY_1_SHIFT;
                let list = sparse(rng) & ICC_SGI1R_TARGET_LIST_MASK;
                let v = sgi << ICC_SGI1R_SGI_ID_SHIFT | irm | aff1 | list;
                Op::Sgi(vcpu, v, rng.below(4) != 0)
            }
        }
        12..=13 => match rng.below(6) {
            0..=1 => Op::Level(vcpu, intid, rng.below(2) == 0),
            2..=3 => Op::Edge(vcpu, intid),
            4 => Op::Hw(vcpu, intid),
            _ => {
                let bank = (rng.below(3) != 0).then_some(vcpu);
                let p = (rng.below(3) != 0).then(|| 16 + rng.below(1004) as u32);
                Op::Map(bank, intid, p)
            }
        },
        14 => {
            // Anything, including bad sizes and offsets.
            let sizes = [0u8, 1, 2, 4, 4, 8];
            let size = sizes[rng.below(sizes.len() as u64) as usize];
            let w = (rng.below(2) == 0).then(|| rng.next());
            let acc = Access { size, write: w };
            let vcpu = rng.below(nv as u64 + 1) as usize;
            if rng.below(2) == 0 {
                Op::Dist(vcpu, rng.below(g.dist_size() + 0x40) & !3, acc)
            } else {
                Op::Redist(vcpu, rng.below(g.redist_size() + 0x40) & !3, acc)
            }
        }
        _ => {
            let counts = [0usize, 1, 1, 2, 4, 4, 4, 8, 16, 64, 70];
            let n = counts[rng.below(counts.len() as u64) as usize];
            let outcomes = (0..n).map(|_| rng.below(6) as u8).collect();
            Op::Cycle(vcpu, n, outcomes, rng.below(4) == 0)
        }
    }
}

/// Applies `op` to `g` through the optimized paths (`reference` false) or the reference ones;
/// returns the LRs flushed and the flush result, if any.
fn apply_op(
    g: &mut Vgic,
    op: &Op,
    held: &mut [Vec<Lr>],
    fx: &mut Effects,
    reference: bool,
) -> Option<(Vec<Lr>, FlushInfo)> {
    match *op {
        Op::Dist(v, off, acc) => {
            let _ = g.dist_access(v, off, acc, fx);
        }
        Op::Redist(v, off, acc) => {
            let _ = g.redist_access(v, off, acc, fx);
        }
        Op::Sgi(v, value, true) => g.write_sgi1r(v, value, fx),
        Op::Sgi(v, value, false) => g.write_sgi0r(v, value, fx),
        Op::Level(v, intid, l) => {
            let _ = g.set_level(v, intid, l, fx);
        }
        Op::Edge(v, intid) => {
            let _ = g.inject_edge(v, intid, fx);
        }
        Op::Hw(v, intid) => {
            let _ = g.inject_hw(v, intid, fx);
        }
        Op::Map(v, intid, Some(p)) => {
            let _ = g.map_hw(v, intid, p);
        }
        Op::Map(v, intid, None) => {
            let _ = g.unmap_hw(v, intid);
        }
        Op::Cycle(v, n, ref outcomes, later) => {
            let mut buf = lrs_of(n);
            let info = if reference {
                g.flush_ref(v, &mut buf)
            } else {
                g.flush(v, &mut buf)
            };
            let flushed = buf.clone();
            for (lr, &o) in buf.iter_mut().zip(outcomes).take(info.used) {
                lr.state = match o {
                    0 => LrState::Invalid,
                    1 => LrState::Pending,
                    2 => LrState::Active,
                    3 => LrState::PendingActive,
                    _ => lr.state,
                };
            }
            // As the hypervisor does: every LR read back, unused ones empty.
            let fold_lrs = |g: &mut Vgic, lrs: &[Lr], fx: &mut Effects| {
                if reference {
                    g.fold_lrs(v, lrs, fx);
                } else {
                    g.fold(v, lrs, fx);
                }
            };
            if later {
                let old = core::mem::replace(&mut held[v], buf);
                fold_lrs(g, &old, fx);
            } else {
                fold_lrs(g, &buf, fx);
            }
            return Some((flushed, info));
        }
    }
    None
}

fn equivalence(version: GicVersion, nr_vcpus: usize, nr_spis: u32, seed: u64, iters: usize) {
    let mut a = gic(version, nr_vcpus, nr_spis);
    let mut b = a.clone();
    let mut rng = Rng(seed);
    let (mut held_a, mut held_b) = (vec![Vec::new(); nr_vcpus], vec![Vec::new(); nr_vcpus]);
    let (mut fa, mut fb) = (Effects::new(), Effects::new());
    let mut busy_flushes = 0usize;
    for step in 0..iters {
        let op = gen_op(&a, &mut rng);
        fa.clear();
        fb.clear();
        let ra = apply_op(&mut a, &op, &mut held_a, &mut fa, false);
        let rb = apply_op(&mut b, &op, &mut held_b, &mut fb, true);
        let ctx = || alloc::format!("step {step}: {op:?}");
        assert_eq!(ra, rb, "{}", ctx());
        if ra.is_some_and(|(_, i)| i.used > 0) {
            busy_flushes += 1;
        }
        assert_eq!(
            fa.iter().collect::<Vec<_>>(),
            fb.iter().collect::<Vec<_>>(),
            "{}",
            ctx()
        );
        assert!(a.private == b.private && a.spis == b.spis, "{}", ctx());
        assert_eq!(a.group_enabled(), b.group_enabled());
        assert_eq!(a.check_candidates(), Ok(()), "{}", ctx());
        for v in 0..nr_vcpus {
            assert_eq!(a.has_deliverable(v), a.has_deliverable_ref(v), "{}", ctx());
            assert_eq!(a.vcpu_has_lrs(v), a.vcpu_has_lrs_ref(v), "{}", ctx());
        }
        // A flush on a copy, for one vCPU (sometimes a bad index), with a random LR count.
        let v = rng.below(nr_vcpus as u64 + 1) as usize;
        let n = [0usize, 1, 4, 16, 64, 70][rng.below(6) as usize];
        let (mut ca, mut cb) = (a.clone(), a.clone());
        let (mut la, mut lb) = (lrs_of(n), lrs_of(n));
        let ia = ca.flush(v, &mut la);
        let ib = cb.flush_ref(v, &mut lb);
        assert_eq!((ia, &la), (ib, &lb), "{} / flush {v} {n}", ctx());
        assert!(ca.private == cb.private && ca.spis == cb.spis, "{}", ctx());
        assert_eq!(ca.check_candidates(), Ok(()), "{}", ctx());
    }
    // The operations reached interesting states.
    assert!(busy_flushes > iters / 20, "{busy_flushes}");
}

#[test]
fn fast_paths_match_reference_v2() {
    equivalence(GicVersion::V2, 4, 96, 0xC0FFEE, 50_000);
    equivalence(GicVersion::V2, 8, 32, 0xBADC0DE, 50_000);
}

#[test]
fn fast_paths_match_reference_v3() {
    equivalence(GicVersion::V3, 5, 160, 0x5EED_0001, 50_000);
    equivalence(GicVersion::V3, 18, 64, 0x5EED_0002, 50_000);
}

// ------------------------------------------------------------------ micro-benchmark

/// Cost of one flush + fold of an idle vCPU (nothing pending, every interrupt enabled, 256
/// SPIs), optimized vs the original full scan. Run with
/// `cargo test -p vgic --release -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_idle_flush_fold() {
    extern crate std;
    use std::time::Instant;
    let iters = 1_000_000u32;
    let mut fx = Effects::new();
    for (version, nr_lrs) in [(GicVersion::V2, 4usize), (GicVersion::V3, 16)] {
        let mut g = gic(version, 4, 256);
        enable_dist(&mut g);
        for v in 0..4 {
            for intid in 0..32 {
                enable(&mut g, v, intid);
            }
        }
        for intid in 32..g.nr_irqs() {
            enable(&mut g, 0, intid);
        }
        let mut lrs = lrs_of(nr_lrs);
        let mut time = |g: &mut Vgic, reference: bool, pending: bool| {
            let mut fx = Effects::new();
            let t = Instant::now();
            for _ in 0..iters {
                let lrs = core::hint::black_box(&mut lrs);
                let info = if reference {
                    g.flush_ref(0, lrs)
                } else {
                    g.flush(0, lrs)
                };
                assert_eq!(info.used, usize::from(pending));
                if reference {
                    g.fold_lrs(0, lrs, &mut fx);
                } else {
                    g.fold(0, lrs, &mut fx);
                }
            }
            let flush_fold = t.elapsed().as_nanos() as f64 / f64::from(iters);
            let t = Instant::now();
            let mut any = false;
            for _ in 0..iters {
                let v = core::hint::black_box(0);
                any |= if reference {
                    g.has_deliverable_ref(v)
                } else {
                    g.has_deliverable(v)
                };
            }
            assert_eq!(any, pending);
            let hd = t.elapsed().as_nanos() as f64 / f64::from(iters);
            (flush_fold, hd)
        };
        let (rf, rh) = time(&mut g, true, false);
        let (of, oh) = time(&mut g, false, false);
        std::println!(
            "{version:?}, 256 SPIs, {nr_lrs} LRs, idle: flush+fold {rf:.1} -> {of:.1} ns, \
             has_deliverable {rh:.1} -> {oh:.1} ns"
        );
        // One level PPI held high (a pending timer the guest has not taken yet): it goes into an
        // LR at every entry and comes back pending.
        g.set_level(0, 27, true, &mut fx).unwrap();
        let (rf, rh) = time(&mut g, true, true);
        let (of, oh) = time(&mut g, false, true);
        std::println!(
            "{version:?}, 256 SPIs, {nr_lrs} LRs, 1 pending: flush+fold {rf:.1} -> {of:.1} ns, \
             has_deliverable {rh:.1} -> {oh:.1} ns"
        );
    }
}
