//! Synchronous exits from a guest: decoded once by `arm_trap::decode`, then handled by value.
//! Anything Xenith does not emulate becomes an exception injected into the guest, logged, never
//! a hypervisor panic.

use crate::arch::sysreg;
use crate::domain::{Domain, MmioDev, Vcpu, VcpuArch};
use crate::vcpu::{apply_effects, Next};
use crate::vpsci;
use arm_trap::abort::{fsc, DataAbort};
use arm_trap::inject;
use arm_trap::sysreg::{SysReg, SysRegTrap};
use arm_trap::Trap;
use vgic::{Access, Effects};

use xen_abi::hypercall::XEN_HYPERCALL_TAG;

/// Handles one synchronous exit of vCPU `v`.
pub fn handle(dom: &Domain, v: &Vcpu, a: &mut VcpuArch) -> Next {
    use crate::stats::{count, Exit};
    let esr = a.regs.esr;
    let trap = arm_trap::decode(esr);
    count(match trap {
        Trap::Hvc64 { imm: 0 } | Trap::Smc64 { .. } => Exit::Smccc,
        Trap::Hvc64 {
            imm: XEN_HYPERCALL_TAG,
        } => Exit::Hypercall,
        Trap::Wfx { .. } => Exit::Wfi,
        Trap::DataAbortLower(_) => Exit::Mmio,
        Trap::SysReg(_) => Exit::SysReg,
        _ => Exit::Other,
    });
    match trap {
        Trap::Hvc64 { imm: 0 } => vpsci::smccc(dom, v, &mut a.regs),
        Trap::Hvc64 {
            imm: XEN_HYPERCALL_TAG,
        } => crate::xen::hypercall::dispatch(dom, v, &mut a.regs),
        Trap::Smc64 { .. } => {
            a.regs.pc = a.regs.pc.wrapping_add(arm_trap::instr_len(esr));
            vpsci::smccc(dom, v, &mut a.regs)
        }
        Trap::Wfx { wfe } => {
            a.regs.pc = a.regs.pc.wrapping_add(arm_trap::instr_len(esr));
            if wfe {
                Next::Yield
            } else {
                Next::Block
            }
        }
        Trap::DataAbortLower(da) => data_abort(dom, v, a, &da),
        Trap::SysReg(s) => sysreg_trap(dom, v, a, &s),
        Trap::InstrAbortLower(ia) => {
            let ipa = arm_trap::fault_ipa(a.regs.hpfar, a.regs.far);
            if ia.status().is_translation()
                && dom
                    .stage2
                    .lock()
                    .translate(&crate::mm::TableMemory, ipa)
                    .is_some()
            {
                // Raced with a stage-2 update (break-before-make): retry.
                return Next::Continue;
            }
            log_unhandled(dom, v, a, "instruction abort");
            let same = inject::from_same_el(a.regs.pstate);
            inject_sync(
                a,
                inject::esr_instr_abort(same, fsc::EXTERNAL),
                Some(a.regs.far),
            );
            Next::Continue
        }
        _ => {
            log_unhandled(dom, v, a, "unhandled trap");
            inject_undef(a);
            Next::Continue
        }
    }
}

fn log_unhandled(dom: &Domain, v: &Vcpu, a: &VcpuArch, what: &str) {
    crate::gprintk!(
        "d{}v{}: {what}: ESR {:#x} PC {:#x} FAR {:#x}; injecting an exception",
        dom.id,
        v.id,
        a.regs.esr,
        a.regs.pc,
        a.regs.far
    );
}

/// Takes a synchronous exception to the guest's EL1 with `esr` (and `far` when it has one).
fn inject_sync(a: &mut VcpuArch, esr: u64, far: Option<u64>) {
    let vbar = sysreg::read!(vbar_el1);
    let sctlr = sysreg::read!(sctlr_el1);
    let e = inject::el1_entry(
        inject::VectorKind::Sync,
        a.regs.pc,
        a.regs.pstate,
        vbar,
        sctlr,
    );
    sysreg::write!(elr_el1, e.elr_el1);
    sysreg::write!(spsr_el1, e.spsr_el1);
    sysreg::write!(esr_el1, esr);
    if let Some(far) = far {
        sysreg::write!(far_el1, far);
    }
    a.regs.pc = e.pc;
    a.regs.pstate = e.pstate;
}

/// Injects an undefined-instruction exception for the trapped instruction.
pub fn inject_undef(a: &mut VcpuArch) {
    let il32 = a.regs.esr & (1 << 25) != 0;
    inject_sync(a, inject::esr_undefined(il32), None);
}

fn data_abort(dom: &Domain, v: &Vcpu, a: &mut VcpuArch, da: &DataAbort) -> Next {
    let ipa = arm_trap::fault_ipa(a.regs.hpfar, a.regs.far);
    let target = if da.s1ptw { None } else { dom.mmio_at(ipa) };
    if target.is_none()
        && da.status().is_translation()
        && dom
            .stage2
            .lock()
            .translate(&crate::mm::TableMemory, ipa)
            .is_some()
    {
        // The page is mapped now: the fault raced with a stage-2 update (break-before-make
        // while Xenith remapped part of a block). Retry the access.
        return Next::Continue;
    }
    let (Some((dev, off)), Some(acc)) = (target, da.mmio()) else {
        crate::gprintk!(
            "d{}v{}: {} of unmapped IPA {ipa} at PC {:#x}; injecting a data abort",
            dom.id,
            v.id,
            if da.write { "write" } else { "read" },
            a.regs.pc
        );
        let same = inject::from_same_el(a.regs.pstate);
        inject_sync(
            a,
            inject::esr_data_abort(same, da.write, fsc::EXTERNAL),
            Some(a.regs.far),
        );
        return Next::Continue;
    };
    let size = acc.size() as u8;
    let wval = acc.write.then(|| acc.mask_write_value(a.regs.reg(acc.reg)));
    let vid = v.id as usize;
    let mut fx = Effects::new();
    let result: Result<u64, ()> = match dev {
        MmioDev::Gicd | MmioDev::Gicr => {
            let access = match wval {
                Some(w) => Access::write(size, w),
                None => Access::read(size),
            };
            let mut vgic = dom.vgic.lock();
            let r = if dev == MmioDev::Gicd {
                vgic.dist_access(vid, off, access, &mut fx)
            } else {
                vgic.redist_access(vid, off, access, &mut fx)
            };
            r.map_err(|_| ())
        }
        MmioDev::Vuart => vuart_access(dom, off, size, wval, &mut fx),
    };
    apply_effects(dom, &fx);
    match result {
        Ok(val) => {
            if !acc.write {
                a.regs.set_reg(acc.reg, acc.extend_read_value(val));
            }
            a.regs.pc = a.regs.pc.wrapping_add(arm_trap::instr_len(a.regs.esr));
        }
        Err(()) => {
            crate::gprintk!(
                "d{}v{}: bad {size}-byte access to {dev:?}+{off:#x}; injecting a data abort",
                dom.id,
                v.id
            );
            let same = inject::from_same_el(a.regs.pstate);
            inject_sync(
                a,
                inject::esr_data_abort(same, acc.write, fsc::EXTERNAL),
                Some(a.regs.far),
            );
        }
    }
    Next::Continue
}

fn vuart_access(
    dom: &Domain,
    off: u64,
    size: u8,
    w: Option<u64>,
    fx: &mut Effects,
) -> Result<u64, ()> {
    let Some(vu) = dom.vuart.as_ref() else {
        return Err(());
    };
    let (val, level, room, byte) = {
        let mut u = vu.uart.lock();
        let (val, byte) = match w {
            Some(w) => (0, u.write(off, size, w as u32).map_err(|_| ())?),
            None => (u64::from(u.read(off, size).map_err(|_| ())?), None),
        };
        (val, u.irq_level(), u.rx_space() > 0, byte)
    };
    if let Some(b) = byte {
        crate::console::vuart_output(dom.id, &vu.out, b);
    }
    let _ = dom.vgic.lock().set_level(0, vu.spi, level, fx);
    if room && crate::console::release_rx() {
        crate::irq::console_input();
    }
    Ok(val)
}

fn sysreg_trap(dom: &Domain, v: &Vcpu, a: &mut VcpuArch, s: &SysRegTrap) -> Next {
    let skip = arm_trap::instr_len(a.regs.esr);
    if s.reg == SysReg::ICC_SGI1R_EL1 && !s.is_read {
        let mut fx = Effects::new();
        dom.vgic
            .lock()
            .write_sgi1r(v.id as usize, a.regs.reg(s.rt), &mut fx);
        apply_effects(dom, &fx);
        a.regs.pc = a.regs.pc.wrapping_add(skip);
        return Next::Continue;
    }
    if s.reg == SysReg::ICC_SGI0R_EL1 && !s.is_read {
        let mut fx = Effects::new();
        dom.vgic
            .lock()
            .write_sgi0r(v.id as usize, a.regs.reg(s.rt), &mut fx);
        apply_effects(dom, &fx);
        a.regs.pc = a.regs.pc.wrapping_add(skip);
        return Next::Continue;
    }
    crate::gprintk!(
        "d{}v{}: {} {} at PC {:#x} not emulated; injecting undefined instruction",
        dom.id,
        v.id,
        if s.is_read { "read of" } else { "write to" },
        s.reg,
        a.regs.pc
    );
    inject_undef(a);
    Next::Continue
}
