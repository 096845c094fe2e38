//! Building dom0 from the boot modules, as Xen does on Arm: RAM mapped 1:1 (its pass-through
//! devices DMA with physical addresses), the kernel, initrd and a Device Tree derived from the
//! host's, every device Xenith does not keep passed through, a vGIC of the host's version and an
//! emulated UART as its console.

use crate::domain::{self, Domain, MmioDev, Vcpu, Vuart};
use crate::hw;
use crate::mm::{self, TableMemory};
use crate::xen::XenState;
use addr::{Ipa, Pa, Region, PAGE_SIZE};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32};
use spin::Mutex;
use stage2::{MemType, Perm, Stage2};
use vgic::{GicVersion, Vgic, VgicConfig};
use xen_dt::dom0::{build_dom0, Dom0Config, VuartConfig, XenNode};
use xen_dt::host::{CmdLine, GicInfo, HostInfo};
use xen_dt::tree::Tree;
use xenith_core::vpl011::Vpl011;
use xenith_core::vpsci::{self, Power, StartInfo};

/// dom0's memory when the command line has no `dom0_mem=`.
const DOM0_MEM_DEFAULT: u64 = 512 << 20;
/// arm64 Image header: magic "ARM\x64" at 0x38, text_offset at 0x08, image_size at 0x10
/// (Linux Documentation/arch/arm64/booting.rst).
const IMAGE_MAGIC: u32 = 0x644d_5241;
const SZ_2M: u64 = 2 << 20;
/// Bytes of one GICv3 redistributor (RD_base + SGI_base).
const GICR_FRAME: u64 = 0x20000;

fn read_u64(pa: Pa) -> u64 {
    // SAFETY: reads 8 bytes of a boot module the host DT declared, in RAM and reserved.
    let b = unsafe { mm::slice(pa, 8) };
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Grant-table frames dom0 may map (Xen's default `gnttab_max_frames`).
const GNTTAB_REGION_SIZE: u64 = crate::xen::GNTTAB_MAX_FRAMES as u64 * PAGE_SIZE;
/// Extended regions smaller than this are not worth advertising (Xen's 64 MiB minimum).
const EXT_REGION_MIN: u64 = 64 << 20;

/// The `/hypervisor` node for dom0, as Xen 4.17 builds it for a direct-mapped dom0: the grant
/// table over Xenith's own image (guest-physical space dom0 does not have), extended regions
/// over the host RAM dom0 was not given, and the first PPI the hardware does not use for the
/// event-channel upcall.
fn xen_node(info: &HostInfo, dom0_ram: Region<Pa>, xenith_base: Pa) -> XenNode {
    let gnttab = Region::new(xenith_base, GNTTAB_REGION_SIZE);
    let reserved = Region::new(
        Pa(xenith_base.0 & !(SZ_2M - 1)),
        (xenith_base.0 & (SZ_2M - 1)) + GNTTAB_REGION_SIZE,
    );
    let mut extended = Vec::new();
    for bank in &info.memory {
        let mut pieces = alloc::vec![*bank];
        for hole in [dom0_ram, reserved] {
            pieces = pieces.into_iter().flat_map(|p| subtract(p, hole)).collect();
        }
        for p in pieces {
            let start = p.start.align_up(SZ_2M).unwrap_or(p.start);
            let end = p.end().map_or(start, |e| e.align_down(SZ_2M));
            if let Some(len) = end.offset_from(start) {
                if len >= EXT_REGION_MIN {
                    extended.push(Region::new(start, len));
                }
            }
        }
    }
    let used: Vec<u32> = info
        .timer
        .irqs
        .iter()
        .flatten()
        .copied()
        .chain([info.gic.maint_irq()])
        .collect();
    let evtchn_ppi = (16..32).find(|p| !used.contains(p)).unwrap_or(31);
    XenNode {
        version: String::from("4.17"),
        gnttab,
        extended,
        evtchn_ppi,
    }
}

/// `a` without the part covered by `b` (zero, one or two pieces).
fn subtract(a: Region<Pa>, b: Region<Pa>) -> Vec<Region<Pa>> {
    let (a0, a1) = (a.start.0, a.start.0.saturating_add(a.size));
    let (b0, b1) = (b.start.0, b.start.0.saturating_add(b.size));
    if b1 <= a0 || b0 >= a1 {
        return alloc::vec![a];
    }
    let mut v = Vec::new();
    if b0 > a0 {
        v.push(Region::new(Pa(a0), b0 - a0));
    }
    if b1 < a1 {
        v.push(Region::new(Pa(b1), a1 - b1));
    }
    v
}

/// Builds dom0 and makes its vCPU 0 runnable.
pub fn build(
    tree: &Tree,
    info: &HostInfo,
    cmd: &CmdLine,
    npcpus: usize,
    xenith_base: Pa,
) -> Result<(), String> {
    let kernel = info.kernel().ok_or(
        "no dom0 kernel: the host DT needs a /chosen/module@... node with compatible \
         \"multiboot,kernel\", \"multiboot,module\"",
    )?;
    if kernel.region.size < 0x40
        || (read_u64(Pa(kernel.region.start.0 + 0x38)) & 0xffff_ffff) as u32 != IMAGE_MAGIC
    {
        return Err("the dom0 kernel module is not an arm64 Image (no ARM\\x64 magic)".into());
    }
    let text_offset = read_u64(Pa(kernel.region.start.0 + 0x08));
    let image_size = match read_u64(Pa(kernel.region.start.0 + 0x10)) {
        0 => kernel.region.size,
        n => n,
    };
    let mem = cmd.dom0_mem.unwrap_or(DOM0_MEM_DEFAULT);
    let mem = mem.checked_add(SZ_2M - 1).ok_or("dom0_mem too large")? & !(SZ_2M - 1);
    // More vCPUs than pCPUs share pCPUs (time slices), unless the CPU has state Xenith does not
    // switch between vCPUs yet (SVE/SME vectors, pointer-authentication keys).
    let most = if super::full_state_switch() {
        match info.gic {
            GicInfo::V2 { .. } => 8,
            GicInfo::V3 { .. } => 128,
        }
    } else {
        npcpus as u32
    };
    let nr_vcpus = cmd.dom0_max_vcpus.unwrap_or(npcpus as u32).clamp(1, most);
    if cmd.dom0_max_vcpus.is_some_and(|n| n > most) {
        crate::info!(
            "dom0_max_vcpus capped to {most} (this CPU's SVE/SME/pointer-authentication state is \
             not switched between vCPUs sharing a pCPU yet)"
        );
    }

    let pages = usize::try_from(mem / PAGE_SIZE).map_err(|_| "dom0_mem too large")?;
    let base = mm::FRAMES
        .lock()
        .as_mut()
        .ok_or("no frame allocator")?
        .alloc(pages, (SZ_2M / PAGE_SIZE) as usize, true)
        .map_err(|_| format!("not enough free RAM for dom0_mem={}M", mem >> 20))?;
    let ram = Region::new(base, mem);
    let end = base.0 + mem;

    // Kernel at the 2 MiB-aligned base + text_offset; DT in the last 2 MiB; initrd below it.
    let kernel_at = Pa(base.0 + text_offset);
    let kernel_end = kernel_at
        .0
        .checked_add(image_size)
        .ok_or("bad kernel image_size")?;
    let dtb_at = Pa(end - SZ_2M);
    let initrd = match info.ramdisk() {
        Some(r) => {
            let at = (dtb_at.0 - r.region.size) & !(PAGE_SIZE - 1);
            if at < kernel_end {
                return Err(format!(
                    "dom0_mem={}M is too small for the kernel and initrd",
                    mem >> 20
                ));
            }
            Some((Pa(at), r))
        }
        None => None,
    };
    if kernel_end > dtb_at.0 {
        return Err(format!(
            "dom0_mem={}M is too small for the kernel",
            mem >> 20
        ));
    }
    mm::zero(base, mem);
    // SAFETY: copies boot modules (reserved RAM) into dom0's freshly allocated RAM; the ranges
    // were checked to lie inside it and the two never overlap (dom0's RAM was free).
    unsafe {
        mm::copy(kernel_at, kernel.region.start, kernel.region.size);
        if let Some((at, r)) = &initrd {
            mm::copy(*at, r.region.start, r.region.size);
        }
    }

    // The device tree.
    // dom0 runs on the Xen interface (hvc0 through console_io), as on Xen: no emulated UART.
    let xen_node = xen_node(info, ram, xenith_base);
    let vuart_cfg: Option<VuartConfig> = None;
    let (redist_region, version) = match &info.gic {
        GicInfo::V2 { .. } => (None, GicVersion::V2),
        GicInfo::V3 { redist, .. } => {
            let first = redist
                .first()
                .ok_or("GICv3 without a redistributor region")?;
            (
                Some(Region::new(first.start, GICR_FRAME * u64::from(nr_vcpus))),
                GicVersion::V3,
            )
        }
    };
    let cfg = Dom0Config {
        memory: alloc::vec![ram],
        nr_vcpus,
        bootargs: String::from(info.dom0_cmdline()),
        initrd: initrd
            .as_ref()
            .map(|(at, r)| Region::new(*at, r.region.size)),
        vuart: vuart_cfg,
        gic_v3_redist: redist_region,
        xen: Some(xen_node.clone()),
    };
    let dt = build_dom0(tree, info, &cfg).map_err(|e| format!("dom0 device tree: {e:?}"))?;
    if dt.dtb.len() as u64 > SZ_2M {
        return Err("dom0 device tree larger than 2 MiB".into());
    }
    // SAFETY: the last 2 MiB of dom0's RAM, checked above not to overlap kernel or initrd.
    unsafe {
        core::ptr::copy_nonoverlapping(dt.dtb.as_ptr(), dtb_at.0 as *mut u8, dt.dtb.len());
    }
    mm::clean_dcache(base, mem);

    // Stage 2: RAM 1:1, pass-through devices 1:1, the GICv2 virtual CPU interface at GICC.
    let mut tm = TableMemory;
    let mut s2 = Stage2::new(&mut tm).map_err(|e| format!("stage-2 root: {e:?}"))?;
    s2.map(&mut tm, Ipa(base.0), base, mem, MemType::Normal, Perm::RWX)
        .map_err(|e| format!("mapping dom0 RAM: {e:?}"))?;
    for r in &dt.passthrough.mmio {
        s2.map(
            &mut tm,
            Ipa(r.start.0),
            r.start,
            r.size,
            MemType::Device,
            Perm::RW,
        )
        .map_err(|e| format!("mapping device {:?}: {e:?}", r))?;
    }
    let mut mmio: Vec<(Region<Ipa>, MmioDev)> = Vec::new();
    let gic = hw::gic();
    let nr_spis = (gic.nr_spis() / 32 * 32).min(vgic::MAX_SPIS / 32 * 32);
    let vgic_cfg = VgicConfig::linear(version, nr_vcpus as usize, nr_spis);
    let mut vgic = Vgic::new(&vgic_cfg).map_err(|e| format!("vGIC: {e:?}"))?;
    match &info.gic {
        GicInfo::V2 {
            dist, cpu, vcpu, ..
        } => {
            s2.map(
                &mut tm,
                Ipa(cpu.start.0),
                vcpu.start,
                vcpu.size.min(cpu.size),
                MemType::Device,
                Perm::RW,
            )
            .map_err(|e| format!("mapping GICV: {e:?}"))?;
            hw::GICV.call_once(|| Region::new(vcpu.start, vcpu.size));
            mmio.push((
                Region::new(Ipa(dist.start.0), vgic.dist_size()),
                MmioDev::Gicd,
            ));
        }
        GicInfo::V3 { dist, .. } => {
            mmio.push((
                Region::new(Ipa(dist.start.0), vgic.dist_size()),
                MmioDev::Gicd,
            ));
            if let Some(r) = redist_region {
                mmio.push((Region::new(Ipa(r.start.0), r.size), MmioDev::Gicr));
            }
        }
    }
    let irqs = hw::irqs();
    for &spi in &dt.passthrough.spis {
        if Some(spi) != irqs.uart && spi < 32 + nr_spis {
            vgic.map_hw(None, spi, spi)
                .map_err(|e| format!("vGIC SPI {spi}: {e:?}"))?;
        }
    }
    for v in 0..nr_vcpus as usize {
        vgic.map_hw(Some(v), irqs.vtimer, irqs.vtimer)
            .map_err(|e| format!("vGIC vtimer: {e:?}"))?;
    }
    let vuart = vuart_cfg.map(|c| {
        mmio.push((Region::new(Ipa(c.base.0), c.size), MmioDev::Vuart));
        Vuart {
            uart: Mutex::new(Vpl011::new()),
            spi: c.spi,
            out: Mutex::new(xenith_core::console_switch::GuestOutput::new()),
        }
    });

    let vcpus: Vec<Vcpu> = (0..nr_vcpus)
        .map(|id| Vcpu::new(id, vpsci::vcpu_mpidr(id), id as usize % npcpus))
        .collect();
    *vcpus[0].power.lock() = Power::OnPending(StartInfo {
        entry: kernel_at.0,
        context: dtb_at.0,
        aarch64: true,
    });
    let vmid = domain::alloc_vmid().ok_or("no VMID for dom0")?;
    let dom = Domain {
        id: 0,
        vmid,
        vttbr: s2.vttbr(vmid),
        stage2: Mutex::new(domain::Stage2Slot::new(s2)),
        vgic: Mutex::new(vgic),
        vuart,
        mmio,
        vcpus,
        cntvoff: crate::arch::sysreg::read!(cntpct_el0),
        ram_bytes: mem,
        xen: Some(
            XenState::new(nr_vcpus as usize, xen_node.evtchn_ppi, 0)
                .ok_or("out of memory for dom0's shared_info")?,
        ),
        controller_pause_count: AtomicU32::new(0),
        dying: AtomicBool::new(false),
        vcpus_created: AtomicBool::new(true),
        mem: Mutex::new(domain::DomMem::new(mem / PAGE_SIZE)),
        handle: [0; 16],
        life: {
            let l = domain::Lifecycle::new();
            l.is_64bit
                .store(true, core::sync::atomic::Ordering::Relaxed);
            l
        },
    };
    crate::info!(
        "dom0: {} MiB RAM at {base}, {nr_vcpus} vCPUs, kernel at {kernel_at}, initrd {}, DT at {dtb_at} ({} bytes), {} pass-through regions, {} SPIs",
        mem >> 20,
        initrd.as_ref().map_or(String::from("none"), |(at, r)| format!("at {at} ({} KiB)", r.region.size >> 10)),
        dt.dtb.len(),
        dt.passthrough.mmio.len(),
        dt.passthrough.spis.len(),
    );
    crate::info!("dom0 command line: {}", info.dom0_cmdline());
    domain::insert(Arc::new(dom));
    Ok(())
}
