//! Guest memory behind hypercall arguments. Pointers a guest passes are guest-virtual: each page
//! is translated by the guest's own stage 1 (AT S1E1R/W, which honours its permissions), then by
//! the domain's stage 2 in software, and must land in the domain's RAM (never in a device or in
//! memory the domain does not own). Copies go through Xenith's identity map.

use crate::arch::sysreg;
use crate::domain::Domain;
use crate::mm::TableMemory;
use addr::{Ipa, Pa, PAGE_SIZE};
use stage2::MemType;
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// A guest pointer that does not lead to the guest's own RAM (the hypercall answers -EFAULT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault;

/// PAR_EL1.F: the translation failed.
const PAR_F: u64 = 1;
/// PAR_EL1.PA, bits [47:12].
const PAR_PA_MASK: u64 = 0x0000_ffff_ffff_f000;

/// The guest's stage-1 translation of `va` for a read or write, as an IPA.
fn stage1(va: u64, write: bool) -> Option<Ipa> {
    // AT writes PAR_EL1, which belongs to the guest: keep its value.
    let saved = sysreg::read!(par_el1);
    // SAFETY: address translation instructions only update PAR_EL1 (restored below); the
    // vCPU whose stage 1 is asked about is the one loaded on this pCPU.
    unsafe {
        if write {
            core::arch::asm!("at s1e1w, {}", in(reg) va, options(nostack));
        } else {
            core::arch::asm!("at s1e1r, {}", in(reg) va, options(nostack));
        }
    }
    sysreg::isb();
    let par = sysreg::read!(par_el1);
    sysreg::write!(par_el1, saved);
    (par & PAR_F == 0).then_some(Ipa((par & PAR_PA_MASK) | (va & (PAGE_SIZE - 1))))
}

/// The host address of guest-physical `ipa` if it is RAM of `dom` (normal memory).
pub fn ipa_to_pa(dom: &Domain, ipa: Ipa, write: bool) -> Option<Pa> {
    let t = dom.stage2.lock().translate(&TableMemory, ipa)?;
    (t.ty == MemType::Normal && (!write || t.perm.write) && t.perm.read).then_some(t.pa)
}

/// Calls `f(host address, offset into the buffer, length)` for each page-bounded piece of the
/// guest buffer `[va, va + len)`.
fn each_piece(
    dom: &Domain,
    va: u64,
    len: usize,
    write: bool,
    mut f: impl FnMut(Pa, usize, usize),
) -> Result<(), Fault> {
    let end = va.checked_add(len as u64).ok_or(Fault)?;
    let mut at = va;
    let mut done = 0usize;
    while at < end {
        let in_page = (PAGE_SIZE - (at & (PAGE_SIZE - 1))).min(end - at) as usize;
        let ipa = stage1(at, write).ok_or(Fault)?;
        let pa = ipa_to_pa(dom, ipa, write).ok_or(Fault)?;
        f(pa, done, in_page);
        done += in_page;
        at += in_page as u64;
    }
    Ok(())
}

/// Copies `out.len()` bytes from guest virtual address `va`.
pub fn read_bytes(dom: &Domain, va: u64, out: &mut [u8]) -> Result<(), Fault> {
    // Translate everything first so a fault leaves `out` untouched.
    each_piece(dom, va, out.len(), false, |_, _, _| {})?;
    each_piece(dom, va, out.len(), false, |pa, off, n| {
        // SAFETY: `pa..pa+n` is RAM of the calling domain inside one page (checked by
        // `each_piece`), identity-mapped at EL2; `off + n <= out.len()`. The guest may change
        // the bytes concurrently; they are copied as plain bytes without forming references.
        unsafe { core::ptr::copy_nonoverlapping(pa.0 as *const u8, out.as_mut_ptr().add(off), n) };
    })
}

/// Copies `data` to guest virtual address `va`.
pub fn write_bytes(dom: &Domain, va: u64, data: &[u8]) -> Result<(), Fault> {
    each_piece(dom, va, data.len(), true, |_, _, _| {})?;
    each_piece(dom, va, data.len(), true, |pa, off, n| {
        // SAFETY: as in `read_bytes`, for writing: the page is the domain's writable RAM.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr().add(off), pa.0 as *mut u8, n) };
    })
}

/// Reads a guest structure.
pub fn read<T: FromBytes + IntoBytes>(dom: &Domain, va: u64) -> Result<T, Fault> {
    let mut v = T::new_zeroed();
    read_bytes(dom, va, v.as_mut_bytes())?;
    Ok(v)
}

/// Writes a guest structure.
pub fn write<T: IntoBytes + Immutable>(dom: &Domain, va: u64, v: &T) -> Result<(), Fault> {
    write_bytes(dom, va, v.as_bytes())
}
