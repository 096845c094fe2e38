//! The build plan of an Arm domU, as pure arithmetic: what `XEN_DOMCTL_createdomain` asks
//! (libxl's `libxl__domain_make` + `libxl__arch_domain_prepare_config`), which extents
//! populate the RAM banks (`populate_guest_memory` of `xg_dom_arm.c`), where the kernel,
//! ramdisk and DT go (`meminit`, the zImage64 loader), the magic pages (`alloc_magic_pages`)
//! and vCPU 0's first context (`vcpu_arm64`).

use crate::image::Kernel;
use std::fmt;
use xen_abi::arch_arm::*;
use xen_abi::domctl::*;
use xen_abi::FromZeros;

pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// libxl's default `max_event_channels` (`libxl__domain_build_info_setdefault`).
pub const DEFAULT_EVENT_CHANNELS: u32 = 1023;
/// `LIBXL_MAXMEM_CONSTANT` (KiB): slack above the target that `XEN_DOMCTL_max_mem` allows,
/// which covers the magic pages (`libxl__arch_extra_memory` on Arm).
pub const LIBXL_MAXMEM_CONSTANT: u64 = 1024;

/// `EXTRA_DEFAULT_PAGING_MEM_MB` on Arm (libxl_arch.h): stage-2 tables for the extended regions.
pub const EXTRA_DEFAULT_PAGING_MEM_MB: u64 = 128;

/// libxl's default paging pool (`libxl__get_required_paging_memory` for a HAP guest), in KiB:
/// 1 MiB per vCPU, one page per MiB of RAM, one page per MiB of the extra regions.
pub fn paging_mempool_kb(maxmem_mib: u64, max_vcpus: u32) -> u64 {
    4 * (256 * u64::from(max_vcpus) + maxmem_mib + EXTRA_DEFAULT_PAGING_MEM_MB)
}

/// `NR_MAGIC_PAGES` and their offsets from `GUEST_MAGIC_BASE` (xg_dom_arm.c; the fourth,
/// `VUART_PFN_OFFSET`, is populated and cleared but unused: no vpl011 yet).
pub const NR_MAGIC_PAGES: u64 = 4;
pub const CONSOLE_PFN_OFFSET: u64 = 0;
pub const XENSTORE_PFN_OFFSET: u64 = 1;
pub const MEMACCESS_PFN_OFFSET: u64 = 2;

/// The first magic page's frame.
pub const MAGIC_BASE_PFN: u64 = GUEST_MAGIC_BASE >> PAGE_SHIFT;
pub const CONSOLE_PFN: u64 = MAGIC_BASE_PFN + CONSOLE_PFN_OFFSET;
pub const XENSTORE_PFN: u64 = MAGIC_BASE_PFN + XENSTORE_PFN_OFFSET;
pub const MEMACCESS_PFN: u64 = MAGIC_BASE_PFN + MEMACCESS_PFN_OFFSET;

const MIB: u64 = 1 << 20;

/// Why a configuration cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    NoMemory,
    TooMuchMemory(u64),
    /// The kernel, DT and ramdisk do not fit in the first RAM bank.
    DoesNotFit {
        need: u64,
        have: u64,
    },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::NoMemory => write!(f, "memory is 0"),
            PlanError::TooMuchMemory(m) => write!(
                f,
                "memory = {m} MiB is more than the guest address space holds ({} MiB)",
                GUEST_RAM_MAX / MIB
            ),
            PlanError::DoesNotFit { need, have } => write!(
                f,
                "kernel + ramdisk + device tree need {} MiB of the first RAM bank, which has {} MiB: raise memory",
                need.div_ceil(MIB),
                have / MIB
            ),
        }
    }
}

/// The RAM banks for `mem` bytes: bank 0 up to 3 GiB at `GUEST_RAM0_BASE`, the rest at
/// `GUEST_RAM1_BASE` (`meminit`). (base, size) in bytes.
pub fn ram_banks(mem: u64) -> Result<Vec<(u64, u64)>, PlanError> {
    if mem == 0 {
        return Err(PlanError::NoMemory);
    }
    if mem > GUEST_RAM_MAX {
        return Err(PlanError::TooMuchMemory(mem / MIB));
    }
    let mut left = mem & !(PAGE_SIZE - 1);
    let mut v = Vec::new();
    for i in 0..GUEST_RAM_BANKS {
        if left == 0 {
            break;
        }
        let sz = left.min(GUEST_RAM_BANK_SIZES[i]);
        v.push((GUEST_RAM_BANK_BASES[i], sz));
        left -= sz;
    }
    Ok(v)
}

/// One `XENMEM_populate_physmap` call: extents of `2^order` pages at `gfns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extents {
    pub order: u32,
    pub gfns: Vec<u64>,
}

/// The populate calls for `nr` pages at `base_pfn`, largest superpages first (1 GiB, 2 MiB,
/// 4 KiB), realigning at each level as `populate_one_size` does, at most 1Mi extents a call.
pub fn ram_extents(base_pfn: u64, nr: u64) -> Vec<Extents> {
    const LPAE_SHIFT: u32 = 9;
    let mut out = Vec::new();
    let mut pfn = 0u64;
    while pfn < nr {
        let want = (nr - pfn).min(1 << 20);
        let base = base_pfn + pfn;
        let mut done = 0;
        for shift in [2 * LPAE_SHIFT, LPAE_SHIFT, 0] {
            let mask = (1u64 << shift) - 1;
            if base & mask != 0 {
                continue;
            }
            let next_mask = (1u64 << (shift + LPAE_SHIFT)) - 1;
            let next_boundary = (base + (1u64 << (shift + LPAE_SHIFT))) & !next_mask;
            let mut end = base + want;
            if base & next_mask != 0 && end > next_boundary {
                end = next_boundary;
            }
            let count = (end - base) >> shift;
            if count == 0 {
                continue;
            }
            out.push(Extents {
                order: shift,
                gfns: (0..count).map(|i| base + (i << shift)).collect(),
            });
            done = count << shift;
            break;
        }
        pfn += done.max(1);
    }
    out
}

/// Where everything goes in guest RAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub banks: Vec<(u64, u64)>,
    /// Load address = entry point (`GUEST_RAM0_BASE + text_offset`).
    pub kernel: u64,
    pub kernel_end: u64,
    /// (address, size) of the ramdisk.
    pub ramdisk: Option<(u64, u64)>,
    /// (address, size) of the DT.
    pub dtb: (u64, u64),
}

fn round_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// Places kernel, ramdisk and DT as `meminit`: modules (ramdisk, then DT) at RAM + 128 MiB when
/// they fit there above the kernel, else at the end of bank 0, else below the kernel.
/// Unlike libxenguest the kernel's end counts its BSS (`image_size`), not only the file.
pub fn layout(
    mem: u64,
    kernel: &Kernel,
    ramdisk_len: Option<u64>,
    dtb_len: u64,
) -> Result<Layout, PlanError> {
    let banks = ram_banks(mem)?;
    let bank0 = banks[0];
    let kbase = bank0.0 + kernel.text_offset;
    let kend = kbase + kernel.image_size;
    let kernend = round_up(kend, 2 * MIB);
    let dtb_size = round_up(dtb_len, PAGE_SIZE);
    let rd_size = ramdisk_len.map_or(0, |l| round_up(l, PAGE_SIZE));
    let modsize = dtb_size + rd_size;
    let ram128 = bank0.0 + 128 * MIB;
    let bank0end = bank0.0 + bank0.1;
    let need = kernend - bank0.0 + modsize;
    let err = PlanError::DoesNotFit {
        need,
        have: bank0.1,
    };
    if need > bank0.1 {
        return Err(err);
    }
    let modbase = if bank0end >= ram128 + modsize && kernend < ram128 {
        ram128
    } else if bank0end - modsize > kernend {
        bank0end - modsize
    } else if kbase - bank0.0 > modsize {
        kbase - modsize
    } else {
        return Err(err);
    };
    let ramdisk = ramdisk_len.map(|l| (modbase, l));
    Ok(Layout {
        banks,
        kernel: kbase,
        kernel_end: kend,
        ramdisk,
        dtb: (modbase + rd_size, dtb_len),
    })
}

/// `XEN_DOMCTL_createdomain`'s input for an Arm PVH guest as libxl fills it: HVM + HAP,
/// no IOMMU, the GIC of the host (`NATIVE`), no TEE, no SPIs (no vpl011, no passthrough),
/// the hypervisor's default grant/maptrack frames, grant table v1.
pub fn createdomain(vcpus: u32, uuid: [u8; 16]) -> xen_domctl_createdomain {
    let mut c = xen_domctl_createdomain::new_zeroed();
    c.handle = uuid;
    c.flags = XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap;
    c.max_vcpus = vcpus;
    c.max_evtchn_port = DEFAULT_EVENT_CHANNELS;
    c.max_grant_frames = -1;
    c.max_maptrack_frames = -1;
    c.grant_opts = XEN_DOMCTL_GRANT_version(1);
    c.arch.gic_version = XEN_DOMCTL_CONFIG_GIC_NATIVE;
    c.arch.tee_type = XEN_DOMCTL_CONFIG_TEE_NONE;
    c.arch.nr_spis = 0;
    c
}

/// vCPU 0's context (`vcpu_arm64`): PC at the kernel, x0 = the DT, EL1h with interrupts
/// masked, the MMU off (`SCTLR_GUEST_INIT`), online.
pub fn vcpu0_context(entry: u64, dtb: u64) -> vcpu_guest_context {
    let mut c = vcpu_guest_context::new_zeroed();
    c.user_regs.pc64 = entry;
    c.user_regs.x[0] = dtb;
    c.user_regs.cpsr = u64::from(PSR_GUEST64_INIT);
    c.sctlr = SCTLR_GUEST_INIT;
    c.flags = VGCF_online;
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::load_kernel;
    use crate::image::tests::fake_image;

    #[test]
    fn banks() {
        assert_eq!(
            ram_banks(256 * MIB).unwrap(),
            vec![(GUEST_RAM0_BASE, 256 * MIB)]
        );
        assert_eq!(
            ram_banks(4 << 30).unwrap(),
            vec![(GUEST_RAM0_BASE, 3 << 30), (GUEST_RAM1_BASE, 1 << 30)]
        );
        assert_eq!(ram_banks(0), Err(PlanError::NoMemory));
        assert!(matches!(
            ram_banks(GUEST_RAM_MAX + MIB),
            Err(PlanError::TooMuchMemory(_))
        ));
    }

    #[test]
    fn extents_use_superpages() {
        // 256 MiB at 1 GiB: 128 x 2 MiB.
        let e = ram_extents(GUEST_RAM0_BASE >> 12, 65536);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].order, e[0].gfns.len()), (9, 128));
        assert_eq!(e[0].gfns[1], (GUEST_RAM0_BASE >> 12) + 512);
        // 2 GiB + 6 MiB + 8 KiB: 2 x 1 GiB, 3 x 2 MiB, 2 x 4 KiB, everything covered once.
        let nr = (2 << 18) + 3 * 512 + 2;
        let e = ram_extents(GUEST_RAM0_BASE >> 12, nr);
        let orders: Vec<(u32, usize)> = e.iter().map(|x| (x.order, x.gfns.len())).collect();
        assert_eq!(orders, vec![(18, 2), (9, 3), (0, 2)]);
        let total: u64 = e.iter().map(|x| (x.gfns.len() as u64) << x.order).sum();
        assert_eq!(total, nr);
        // A misaligned start realigns to the next 2 MiB first.
        let e = ram_extents(1, 1023);
        let orders: Vec<(u32, usize)> = e.iter().map(|x| (x.order, x.gfns.len())).collect();
        assert_eq!(orders, vec![(0, 511), (9, 1)]);
    }

    #[test]
    fn modules_at_128m() {
        let k = load_kernel(&fake_image(0, 40 * MIB, 4096)).unwrap();
        let l = layout(256 * MIB, &k, Some(5 * MIB + 3), 0x1800).unwrap();
        assert_eq!(l.kernel, GUEST_RAM0_BASE);
        assert_eq!(l.ramdisk, Some((GUEST_RAM0_BASE + 128 * MIB, 5 * MIB + 3)));
        assert_eq!(
            l.dtb,
            (GUEST_RAM0_BASE + 128 * MIB + 5 * MIB + 4096, 0x1800)
        );
    }

    #[test]
    fn modules_high_when_small_ram() {
        let k = load_kernel(&fake_image(0, 40 * MIB, 4096)).unwrap();
        let l = layout(64 * MIB, &k, Some(4 * MIB), 8192).unwrap();
        // 64 MiB end - (4 MiB + 8 KiB).
        assert_eq!(l.ramdisk.unwrap().0, GUEST_RAM0_BASE + 60 * MIB - 8192);
        assert_eq!(l.dtb.0, GUEST_RAM0_BASE + 64 * MIB - 8192);
        assert!(matches!(
            layout(42 * MIB, &k, Some(4 * MIB), 8192),
            Err(PlanError::DoesNotFit { .. })
        ));
    }

    #[test]
    fn createdomain_as_libxl() {
        let c = createdomain(2, [7; 16]);
        assert_eq!(c.flags, 3);
        assert_eq!(c.max_evtchn_port, 1023);
        assert_eq!(c.grant_opts, 1);
        assert_eq!(c.max_grant_frames, -1);
        let v = vcpu0_context(0x4000_0000, 0x4800_0000);
        assert_eq!(v.user_regs.cpsr, 0x1c5);
        assert_eq!(v.user_regs.x[0], 0x4800_0000);
        assert_eq!(v.flags, 1);
        assert_eq!(CONSOLE_PFN, 0x39000);
        assert_eq!(XENSTORE_PFN, 0x39001);
    }
}
