//! PSCI and SMCCC conformance: versions, features, CPU_ON / CPU_OFF / AFFINITY_INFO of every DT
//! CPU, error codes, unknown function ids over the conduit (and over `smc #0` under a hypervisor).
#![no_std]
#![no_main]

use core::sync::atomic::Ordering::SeqCst;
use test_guests::board::Conduit;
use test_guests::psci::*;
use test_guests::{catch_fault, check, skip, smp, wait_for, Board, MaybeFault};

test_guests::entry!(main);

/// A function id in no SMCCC range that any implementation must reject.
const UNKNOWN_IDS: [u32; 3] = [0x8400_00ff, 0xc200_0000, 0x1234];

fn main(b: &'static Board) {
    let v = call(PSCI_VERSION, 0, 0, 0);
    test_guests::info!("PSCI_VERSION={v:#x}");
    check!(v >> 16 == 1, "PSCI_VERSION is 1.x"; "version={v:#x}");
    let f = call(PSCI_FEATURES, CPU_ON_64.into(), 0, 0);
    check!(f == SUCCESS, "PSCI_FEATURES(CPU_ON) is SUCCESS"; "returned {f}");
    let f = call(PSCI_FEATURES, 0x8400_00ff, 0, 0);
    check!(f == NOT_SUPPORTED, "PSCI_FEATURES(0x840000ff) is NOT_SUPPORTED"; "returned {f}");
    // SMCCC 1.1+ is discovered through PSCI_FEATURES (DEN 0028 §7.2.1); without it the caller must
    // assume SMCCC 1.0. A hypervisor (Xen, Xenith) must implement it; QEMU 7.2's PSCI does not.
    let f = call(PSCI_FEATURES, SMCCC_VERSION.into(), 0, 0);
    if f == SUCCESS || b.hyp_checks {
        check!(f == SUCCESS, "PSCI_FEATURES(SMCCC_VERSION) is SUCCESS"; "returned {f}");
        let s = call(SMCCC_VERSION, 0, 0, 0);
        test_guests::info!("SMCCC_VERSION={s:#x}");
        check!(s >= 0x1_0001, "SMCCC_VERSION is at least 1.1"; "version={s:#x}");
    } else {
        skip(
            "SMCCC_VERSION is at least 1.1",
            "SMCCC_VERSION not advertised: SMCCC 1.0 platform",
        );
    }

    unknown_ids(b.conduit, &b.conduit);
    if b.hyp_checks && b.conduit == Conduit::Hvc {
        let mut r = 0;
        let fault = catch_fault(|| r = call_via(Conduit::Smc, PSCI_VERSION, 0, 0, 0));
        check!(fault.is_none() && r == v, "PSCI_VERSION over smc #0 (trapped by the hypervisor)";
            "returned {r:#x}, expected {v:#x}, {}", MaybeFault(fault));
        unknown_ids(Conduit::Smc, &"smc #0");
    } else {
        skip(
            "unknown function ids over smc #0 return NOT_SUPPORTED",
            "needs a hypervisor (bootargs xenith)",
        );
    }

    check!(b.ncpus >= 1, "the DT lists CPUs"; "found none");
    let a = affinity_info(b.mpidr[0]);
    check!(a == AFF_ON, "AFFINITY_INFO(boot cpu) is ON"; "returned {a}");
    for cpu in 1..b.ncpus {
        let a = affinity_info(b.mpidr[cpu]);
        check!(a == AFF_OFF, "AFFINITY_INFO(cpu{cpu}) is OFF before CPU_ON"; "returned {a}");
        bring_up(b, cpu);
        let a = affinity_info(b.mpidr[cpu]);
        check!(a == AFF_ON, "AFFINITY_INFO(cpu{cpu}) is ON after CPU_ON"; "returned {a}");
    }

    let entry = test_guests::secondary_entry();
    if b.ncpus > 1 {
        let r = cpu_on(b.mpidr[1], entry, smp::CTX_MAGIC | 1);
        check!(r == ALREADY_ON || r == ON_PENDING, "CPU_ON of a running cpu is ALREADY_ON"; "returned {r}");
    }
    let r = cpu_on(b.mpidr[0], entry, smp::CTX_MAGIC);
    check!(r == ALREADY_ON, "CPU_ON of the calling cpu is ALREADY_ON"; "returned {r}");
    let bogus = 0x00ff_ff00;
    if b.cpu_of_mpidr(bogus).is_none() {
        let r = cpu_on(bogus, entry, smp::CTX_MAGIC | 1);
        check!(r == INVALID_PARAMETERS, "CPU_ON of a bogus MPIDR is INVALID_PARAMETERS"; "returned {r}");
    }

    for cpu in 1..b.ncpus {
        off_and_check(b, cpu);
    }
    if b.ncpus > 1 {
        bring_up(b, 1);
        off_and_check(b, 1);
    }
    let bad = smp::BAD_CTX.load(SeqCst);
    check!(bad == 0, "no secondary entered with a foreign context id"; "x0={:#x}", bad & !1);
}

fn unknown_ids(conduit: Conduit, how: &dyn core::fmt::Display) {
    for fid in UNKNOWN_IDS {
        let mut r = 0;
        let fault = catch_fault(|| r = call_via(conduit, fid, 0, 0, 0));
        check!(fault.is_none() && r == NOT_SUPPORTED, "unknown function {fid:#x} over {how} is NOT_SUPPORTED";
            "returned {r}, {}", MaybeFault(fault));
    }
}

fn bring_up(b: &Board, cpu: usize) {
    let s = &smp::STARTED[cpu];
    let before = s.count.load(SeqCst);
    let (r, ctx) = smp::start(cpu);
    check!(r == SUCCESS, "CPU_ON cpu{cpu} (MPIDR {:#x}) is SUCCESS", b.mpidr[cpu]; "returned {r}");
    let up = wait_for(2000, || s.count.load(SeqCst) != before);
    check!(up, "cpu{cpu} runs the entry point"; "no sign of life within 2 s");
    let seen = s.ctx.load(SeqCst);
    check!(up && seen == ctx, "cpu{cpu} gets the context id in x0"; "x0={seen:#x}, expected {ctx:#x}");
    let m = s.mpidr.load(SeqCst);
    check!(up && m == b.mpidr[cpu], "cpu{cpu} MPIDR_EL1 matches its DT reg";
        "MPIDR={m:#x}, DT reg={:#x}", b.mpidr[cpu]);
}

fn off_and_check(b: &Board, cpu: usize) {
    smp::request_off(cpu);
    let mut a = 0;
    let off = wait_for(2000, || {
        a = affinity_info(b.mpidr[cpu]);
        a == AFF_OFF
    });
    let r = smp::OFF_RESULT[cpu].swap(smp::OFF_NEVER_RETURNED, SeqCst);
    let returned = r != smp::OFF_NEVER_RETURNED;
    check!(off && !returned, "cpu{cpu} calls CPU_OFF, then AFFINITY_INFO is OFF";
        "AFFINITY_INFO={a}, CPU_OFF returned: {returned} ({r})");
}
