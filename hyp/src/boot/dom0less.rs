//! dom0less: the domains Xen builds at boot beside dom0 from the host DT's `/chosen` nodes with
//! compatible `xen,domain` (Xen 4.17 `docs/misc/arm/device-tree/booting.txt`, "Creating
//! Multiple Domains directly from Xen"; `xen/arch/arm/domain_build.c`: `create_domUs`,
//! `construct_domU`, `prepare_dtb_domU`).
//!
//! Each domain gets the next id after dom0 (1, 2, ... in DT order) and is created the way
//! XEN_DOMCTL_createdomain creates one (`xen::domctl::sanitise` + `build`: stage 2, a vGIC of the
//! host's version at the `GUEST_*` addresses, the Xen state, its vCPUs). Then:
//! - RAM: `memory` KiB from the frame allocator, contiguous, mapped at `GUEST_RAM0_BASE` and owned
//!   by the domain's `DomMem` (freed if it is ever destroyed). One bank (up to 3 GiB).
//! - The kernel (an arm64 `Image`) at the bank's start + `text_offset`; the DT
//!   (`xen_dt::domu`, dom0less flavour) and the initrd placed as Xen's `place_modules` does.
//! - `vpl011`: an emulated SBSA UART at `GUEST_PL011_BASE`, SPI `GUEST_VPL011_SPI`; its output
//!   goes to Xenith's serial line in `(dN) ` lines and it joins the CTRL-a serial input cycle.
//! - vCPU 0 starts at the kernel with x0 = the DT's address; the domain is unpaused (Xen
//!   unpauses its boot domains at the end of boot).
//!
//! `xen,enhanced` domains (the Xen PV interfaces, xenstore) are refused with a message: Xenith
//! does not set up xenstore or the grant-table region for boot-time domains yet. So are static
//! memory, direct mapping, cpupools and partial device trees.

use crate::domain::{self, DomId, DomMem, MmioDev, Vcpu, Vuart};
use crate::mm::{self, TableMemory};
use crate::xen::domctl;
use addr::{Ipa, Pa, Region, PAGE_SIZE};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use spin::Mutex;
use stage2::{MemType, Perm};
use vgic::GicVersion;
use xen_abi::arch_arm::{
    GUEST_PL011_BASE, GUEST_PL011_SIZE, GUEST_RAM0_BASE, GUEST_RAM0_SIZE, GUEST_VPL011_SPI,
};
use xen_abi::domctl::*;
use xen_dt::domu::{build_domu, DomUConfig, Flavour, GuestGic};
use xen_dt::host::{Dom0lessDomain, Enhanced, HostInfo};
use xen_dt::image::{place_modules, Arm64Image, ARM64_IMAGE_HEADER_SIZE};
use xen_dt::tree::Tree;
use xenith_core::console_switch::GuestOutput;
use xenith_core::vpl011::Vpl011;
use xenith_core::vpsci::{self, Power, StartInfo};

const SZ_2M: u64 = 2 << 20;
/// Event channels a boot domain may use (Xen's `create_domUs`: 1023, as libxl's default).
const MAX_EVTCHN_PORT: u32 = 1023;
/// SPIs of a boot domain without `nr_spis` (enough for the vpl011's SPI 32).
const DEFAULT_NR_SPIS: u32 = 32;

/// Builds every dom0less domain of the host DT, after dom0. A domain that cannot be built is
/// reported and skipped (Xen panics instead); the others still boot.
pub fn build_all(tree: &Tree, info: &HostInfo, npcpus: usize) {
    let mut id: DomId = 1;
    for spec in &info.dom0less {
        match build(tree, spec, id, npcpus) {
            Ok(()) => id += 1,
            Err(e) => crate::info!("dom0less domain {}: not built: {e}", spec.name),
        }
    }
}

/// The host's first CPU node's `compatible` and `clock-frequency` (Xen copies them into a
/// dom0less domU's `/cpus`).
fn host_cpu(tree: &Tree) -> (Option<Vec<u8>>, Option<u32>) {
    let cpu = tree.node("/cpus").and_then(|c| {
        c.children
            .iter()
            .find(|n| n.prop_str("device_type") == Some("cpu"))
    });
    (
        cpu.and_then(|c| c.prop("compatible")).map(<[u8]>::to_vec),
        cpu.and_then(|c| c.prop_u32("clock-frequency")),
    )
}

fn build(tree: &Tree, spec: &Dom0lessDomain, id: DomId, npcpus: usize) -> Result<(), String> {
    if let Some(u) = spec.unsupported.first() {
        return Err(format!("`{u}` is not supported by Xenith"));
    }
    match spec.enhanced {
        Enhanced::Disabled => {}
        Enhanced::Enabled | Enhanced::NoXenstore => {
            return Err(
                "`xen,enhanced` (Xen PV interfaces for a boot-time domain: xenstore, grant table) \
                 is not supported by Xenith yet; drop the property to boot it as a plain Arm VM \
                 (vpl011 console), or create it from dom0 with xl"
                    .into(),
            )
        }
    }
    let mem = spec
        .memory_kb
        .checked_mul(1024)
        .and_then(|b| b.checked_add(PAGE_SIZE - 1))
        .map(|b| b & !(PAGE_SIZE - 1))
        .filter(|&b| b > 0 && b <= GUEST_RAM0_SIZE)
        .ok_or_else(|| {
            format!(
                "memory = {} KiB: Xenith gives a boot domain one bank of at most {} MiB",
                spec.memory_kb,
                GUEST_RAM0_SIZE >> 20
            )
        })?;
    crate::info!(
        "*** LOADING DOMU cpus={} memory={:#x}KB ***",
        spec.cpus,
        spec.memory_kb
    );

    // The domain, as XEN_DOMCTL_createdomain makes it (Xen's create_domUs configuration).
    let mut c: xen_domctl_createdomain = xen_abi::FromZeros::new_zeroed();
    c.flags = XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap;
    c.max_vcpus = spec.cpus;
    c.max_evtchn_port = MAX_EVTCHN_PORT;
    c.max_grant_frames = -1;
    c.max_maptrack_frames = -1;
    c.grant_opts = 1;
    c.arch.gic_version = XEN_DOMCTL_CONFIG_GIC_NATIVE;
    c.arch.nr_spis = spec.nr_spis.unwrap_or(DEFAULT_NR_SPIS).max(if spec.vpl011 {
        GUEST_VPL011_SPI - 31
    } else {
        0
    });
    let version = domctl::sanitise(&mut c)
        .map_err(|e| format!("the domain configuration is refused (Xen errno {e})"))?;
    let mut d = domctl::build(id, &c, version).ok_or("out of memory creating the domain")?;

    // RAM, owned by the domain from here on (dropping `d` on an error frees it).
    let pages = usize::try_from(mem / PAGE_SIZE).map_err(|_| "memory too large")?;
    let pa = mm::FRAMES
        .lock()
        .as_mut()
        .ok_or("no frame allocator")?
        .alloc(pages, (SZ_2M / PAGE_SIZE) as usize, true)
        .map_err(|_| format!("not enough free RAM for {} MiB", mem >> 20))?;
    let mut m = DomMem::new(mem / PAGE_SIZE);
    m.add(pa, pages);
    *d.mem.get_mut() = m;
    d.stage2
        .get_mut()
        .map(
            &mut TableMemory,
            Ipa(GUEST_RAM0_BASE),
            pa,
            mem,
            MemType::Normal,
            Perm::RWX,
        )
        .map_err(|e| format!("mapping its RAM: {e:?}"))?;
    // Guest-physical (bank 0) to Xenith's physical address.
    let to_pa = |ipa: Pa| Pa(pa.0 + (ipa.0 - GUEST_RAM0_BASE));

    // The kernel.
    let k = &spec.kernel;
    // SAFETY: the kernel module's first bytes (at most its size), reserved boot-module RAM.
    let header = unsafe { mm::slice(k.region.start, k.region.size.min(64)) };
    let image = Arm64Image::parse(header, k.region.size).ok_or_else(|| {
        format!(
            "the kernel module at {} is not an arm64 Image (needs a {ARM64_IMAGE_HEADER_SIZE}-byte \
             header with the ARM\\x64 magic)",
            k.region.start
        )
    })?;
    let bank = Region::new(Pa(GUEST_RAM0_BASE), mem);
    let kernel = image.place(bank).map_err(|e| e.to_string())?;

    // The device tree: built once with a placeholder initrd to learn its size, placed, then
    // built again with the initrd's address (the same size).
    let gic = match version {
        GicVersion::V2 => GuestGic::V2,
        GicVersion::V3 => GuestGic::v3_for_vcpus(spec.cpus),
    };
    let mut cfg = DomUConfig::new(Flavour::Dom0less, spec.cpus, mem, gic)
        .map_err(|e| format!("device tree: {e}"))?;
    cfg.bootargs = Some(spec.cmdline().to_string());
    cfg.vpl011 = spec.vpl011;
    cfg.stdout_path = spec.vpl011;
    (cfg.cpu_compatible, cfg.cpu_clock_frequency) = host_cpu(tree);
    let initrd_size = spec.ramdisk.as_ref().map_or(0, |r| r.region.size);
    cfg.initrd = spec
        .ramdisk
        .as_ref()
        .map(|r| Region::new(Pa(GUEST_RAM0_BASE), r.region.size));
    let probe = build_domu(&cfg).map_err(|e| format!("device tree: {e}"))?;
    let place = place_modules(
        Flavour::Dom0less,
        bank,
        kernel,
        probe.len() as u64,
        initrd_size,
    )
    .map_err(|e| e.to_string())?;
    cfg.initrd = place.initrd.map(|at| Region::new(at, initrd_size));
    let dtb = build_domu(&cfg).map_err(|e| format!("device tree: {e}"))?;

    mm::zero(pa, mem);
    // SAFETY: the kernel and ramdisk modules are reserved boot-module RAM; the destinations lie
    // in the domain's fresh RAM (`place` and `place_modules` checked them against the bank), which
    // no one else uses before its vCPU starts, and they do not overlap each other.
    unsafe {
        mm::copy(to_pa(kernel.start), k.region.start, k.region.size);
        if let (Some(r), Some(at)) = (&spec.ramdisk, place.initrd) {
            mm::copy(to_pa(at), r.region.start, r.region.size);
        }
        core::ptr::copy_nonoverlapping(dtb.as_ptr(), to_pa(place.dtb).0 as *mut u8, dtb.len());
    }
    mm::clean_dcache(pa, mem);

    // The vpl011.
    if spec.vpl011 {
        d.vuart = Some(Vuart {
            uart: Mutex::new(Vpl011::new()),
            spi: GUEST_VPL011_SPI,
            out: Mutex::new(GuestOutput::new()),
        });
        d.mmio.push((
            Region::new(Ipa(GUEST_PL011_BASE), GUEST_PL011_SIZE),
            MmioDev::Vuart,
        ));
    }

    // vCPUs: spread over the pCPUs starting after dom0's vCPU 0; vCPU 0 starts the kernel.
    d.vcpus = (0..spec.cpus)
        .map(|i| {
            Vcpu::new(
                i,
                vpsci::vcpu_mpidr(i),
                (usize::from(id) + i as usize) % npcpus.max(1),
            )
        })
        .collect();
    *d.vcpus[0].power.get_mut() = Power::OnPending(StartInfo {
        entry: kernel.start.0,
        context: place.dtb.0,
        aarch64: true,
    });
    d.vcpus_created.store(true, Ordering::Release);
    d.controller_pause_count.store(0, Ordering::Release);

    crate::info!(
        "d{id} ({}): {} MiB RAM at {pa} (IPA {:#x}), {} vCPUs, GICv{}, kernel at {:#x}, initrd {}, DT at {:#x} ({} bytes){}",
        spec.name,
        mem >> 20,
        GUEST_RAM0_BASE,
        spec.cpus,
        match version {
            GicVersion::V2 => 2,
            GicVersion::V3 => 3,
        },
        kernel.start.0,
        place
            .initrd
            .map_or(String::from("none"), |a| format!("at {:#x} ({} KiB)", a.0, initrd_size >> 10)),
        place.dtb.0,
        dtb.len(),
        if spec.vpl011 { ", vpl011 console" } else { "" },
    );
    crate::info!("d{id} command line: {}", spec.cmdline());
    let has_console = spec.vpl011;
    let d = Arc::new(d);
    domain::DOMAINS.lock().push(d.clone());
    if has_console {
        crate::irq::add_console_domain(id);
    }
    // Its pCPU may be idle with nothing to wake it: tell it.
    crate::vcpu::kick(&d.vcpus[0]);
    Ok(())
}
