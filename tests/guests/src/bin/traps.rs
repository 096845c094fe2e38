//! Trap conformance: loads, stores and instruction fetches at a guest-physical address backed by
//! nothing raise synchronous aborts at EL1 that the guest survives; `hvc #1` (not Xen's
//! 0xEA1) is UNDEF under a hypervisor; identification registers read sanely.
//!
//! The unbacked address: [`CANDIDATES`] lie just below 512 GiB / 256 GiB, above any RAM QEMU virt
//! gives a small guest and outside its MMIO (below 1 GiB), its high PCIe ECAM (256 GiB +
//! 256 MiB) and high PCIe MMIO (512 GiB up); all inside the 39-bit VA this runtime maps and the
//! 40-bit IPA space Xen gives a domain. The first that overlaps no `reg` or `ranges` in the DT is
//! used, so a platform with other devices there picks another or reports why it cannot.
#![no_std]
#![no_main]

use core::arch::asm;
use core::hint::black_box;

use aarch64_cpu::registers::{Readable, MIDR_EL1, MPIDR_EL1};
use fdt::Fdt;
use test_guests::board::MPIDR_AFF_MASK;
use test_guests::{catch_fault, check, ec, info, skip, Board, Fault, MaybeFault};

test_guests::entry!(main);

const CANDIDATES: [u64; 2] = [0x7f_ffff_f000, 0x3f_ffff_f000];
const PROBE_LEN: u64 = 0x1000;
/// Fault status codes accepted for an access to nothing: synchronous external abort (what Xen
/// injects) or a translation fault at level 0..3.
fn unbacked_fsc(fsc: u64) -> bool {
    fsc == 0x10 || (0x04..=0x07).contains(&fsc)
}
const ISS_WNR: u64 = 1 << 6;

fn main(b: &'static Board) {
    let midr = MIDR_EL1.get();
    info!("MIDR_EL1={midr:#x}");
    check!((midr >> 16) & 0xf == 0xf, "MIDR_EL1.Architecture reads 0xF (ID-register scheme)"; "MIDR_EL1={midr:#x}");
    let mpidr = MPIDR_EL1.get();
    check!(mpidr & MPIDR_AFF_MASK == b.mpidr[0] && mpidr & (1 << 31) != 0,
        "MPIDR_EL1 matches the boot cpu's DT reg (RES1 bit 31 set)"; "MPIDR_EL1={mpidr:#x}, DT reg={:#x}", b.mpidr[0]);

    let mut udf_elr = 0u64;
    // SAFETY: `udf` raises an UNDEF exception that `catch_fault` consumes by skipping it.
    let f = catch_fault(|| unsafe {
        asm!("adr {0}, 1f", "1: udf #0", out(reg) udf_elr, options(nostack))
    });
    check!(f.is_some_and(|f| f.ec() == ec::UNKNOWN && f.elr == udf_elr), "UDF is an UNDEF exception (EC 0x0) and is skipped";
        "{f:?}, expected ELR={udf_elr:#x}");

    let fdt = b.fdt();
    let Some(addr) = CANDIDATES
        .into_iter()
        .find(|&a| !in_dt(&fdt, a, a + PROBE_LEN))
    else {
        check!(false, "an unbacked guest-physical address exists"; "all of {CANDIDATES:x?} are in DT regs");
        return;
    };
    info!("unbacked address {addr:#x}");

    let mut after = false;
    let f = catch_fault(|| {
        // SAFETY: the load targets an address no device or memory backs; the abort it raises
        // is consumed by `catch_fault`, which skips the instruction.
        unsafe { asm!("ldr {v}, [{a}]", a = in(reg) addr, v = out(reg) _, options(nostack)) };
        after = black_box(true);
    });
    abort_checks("load", f, addr, after, false);

    let mut after = false;
    let f = catch_fault(|| {
        // SAFETY: as above, for a store: nothing backs `addr`, so no Rust-visible memory
        // changes.
        unsafe {
            asm!("str {v}, [{a}]", a = in(reg) addr, v = in(reg) 0x5a5a_u64, options(nostack))
        };
        after = black_box(true);
    });
    abort_checks("store", f, addr, after, true);

    // SAFETY: branches to an unbacked address; the instruction abort is consumed by
    // `catch_fault`, which resumes at x30 (label 1); x30 is declared clobbered.
    let f = catch_fault(|| unsafe {
        asm!("adr x30, 1f", "br {a}", "1:", a = in(reg) addr, out("x30") _, options(nostack))
    });
    let iabt = |f: Fault| f.ec() == ec::IABT_CUR && unbacked_fsc(f.fsc());
    check!(f.is_some_and(|f| iabt(f) && f.far == addr && f.elr == addr),
        "instruction fetch from an unbacked address is an instruction abort (EC 0x21) at it";
        "{}", MaybeFault(f));

    if b.hyp_checks {
        let mut at = 0u64;
        // SAFETY: `hvc #1` is no hypercall (Xen's tag is 0xEA1): the hypervisor injects UNDEF,
        // consumed by `catch_fault` (skipping lands on the `nop` or after it, both harmless).
        let f = catch_fault(|| unsafe {
            asm!("adr {0}, 1f", "1: hvc #1", "nop", out(reg) at, options(nostack))
        });
        check!(f.is_some_and(|f| f.ec() == ec::UNKNOWN && (f.elr == at || f.elr == at + 4)),
            "hvc #1 is UNDEF (EC 0x0) under the hypervisor"; "{}, hvc at {at:#x}", MaybeFault(f));
    } else {
        skip(
            "hvc #1 is UNDEF (EC 0x0) under the hypervisor",
            "needs a hypervisor (bootargs xenith)",
        );
    }
}

fn abort_checks(what: &str, f: Option<Fault>, addr: u64, after: bool, write: bool) {
    if let Some(f) = f {
        info!("{what}: {f}");
    }
    check!(f.is_some_and(|f| f.ec() == ec::DABT_CUR && unbacked_fsc(f.fsc())),
        "{what} at an unbacked address is a data abort (EC 0x25, external or translation fault)"; "{}", MaybeFault(f));
    check!(f.is_some_and(|f| f.far == addr && (f.esr & ISS_WNR != 0) == write),
        "{what} abort reports FAR and WnR"; "{}", MaybeFault(f));
    check!(after, "execution continues after the faulting {what} is skipped"; "{}", MaybeFault(f));
}

/// Whether `[lo, hi)` overlaps any `reg` or (parent side of) `ranges` entry in the DT.
fn in_dt(fdt: &Fdt<'_>, lo: u64, hi: u64) -> bool {
    let overlaps = |base: u64, size: u64| base < hi && lo < base.saturating_add(size);
    let root_ac = fdt.root().cell_sizes().address_cells;
    fdt.all_nodes().any(|n| {
        let in_reg = n
            .reg()
            .into_iter()
            .flatten()
            .any(|r| overlaps(r.starting_address as u64, r.size.unwrap_or(1) as u64));
        let cells = n.cell_sizes();
        let in_ranges = n.property("ranges").is_some_and(|p| {
            let (ca, pa, sz) = (cells.address_cells, root_ac, cells.size_cells);
            let step = (ca + pa + sz) * 4;
            step != 0
                && p.value.chunks_exact(step).any(|e| {
                    let parent = read_cells(&e[ca * 4..(ca + pa) * 4]);
                    let size = read_cells(&e[(ca + pa) * 4..]);
                    overlaps(parent, size)
                })
        });
        in_reg || in_ranges
    })
}

fn read_cells(b: &[u8]) -> u64 {
    b.chunks_exact(4).fold(0, |v, c| {
        (v << 32) | u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    })
}
