//! `xl create`'s domain builder: the steps of libxl's `domcreate` chain for an Arm PVH guest
//! (`libxl__domain_make`, `libxl__build_pre`, libxenguest's `xc_dom_*` with the Arm hooks,
//! `libxl__build_post`, the console device, unpause), over two interfaces — [`Hyp`] for the
//! hypervisor and foreign memory, [`Store`] for xenstore — so the whole sequence runs on the
//! host against fakes. On any failure the half-built domain is destroyed and its xenstore
//! entries removed, and the error names the step.

use crate::image::Kernel;
use crate::plan::{self, Layout};
use crate::xsent::{self, XsOp};
use std::fmt;
use std::io;
use xen_abi::arch_arm::{vcpu_guest_context, xen_pfn_t};
use xen_abi::domctl::xen_domctl_createdomain;
use xen_abi::hvm::*;

/// The hypervisor operations the builder needs (libxenctrl + libxenforeignmemory).
pub trait Hyp {
    fn createdomain(
        &mut self,
        cfg: &xen_domctl_createdomain,
    ) -> io::Result<(u16, xen_domctl_createdomain)>;
    fn max_vcpus(&mut self, domid: u16, n: u32) -> io::Result<()>;
    fn max_mem(&mut self, domid: u16, kb: u64) -> io::Result<()>;
    fn set_paging_mempool_size(&mut self, domid: u16, bytes: u64) -> io::Result<()>;
    fn set_address_size(&mut self, domid: u16, bits: u32) -> io::Result<()>;
    fn populate_physmap(&mut self, domid: u16, order: u32, gfns: &[xen_pfn_t])
        -> io::Result<usize>;
    fn evtchn_alloc_unbound(&mut self, domid: u16, remote: u16) -> io::Result<u32>;
    fn hvm_set_param(&mut self, domid: u16, index: u32, value: u64) -> io::Result<()>;
    fn setvcpucontext(&mut self, domid: u16, vcpu: u32, c: &vcpu_guest_context) -> io::Result<()>;
    /// Copies `data` to guest-physical `addr` of `domid` (foreign mappings of its frames);
    /// `data` empty with `zero_len` > 0 clears that many bytes.
    fn write_guest(&mut self, domid: u16, addr: u64, data: &[u8], zero_len: u64) -> io::Result<()>;
    fn unpause(&mut self, domid: u16) -> io::Result<()>;
    fn destroy(&mut self, domid: u16) -> io::Result<()>;
}

/// The xenstore operations the builder needs (libxenstore).
pub trait Store {
    /// Runs `ops` in one transaction (retried on EAGAIN).
    fn apply(&mut self, ops: &[XsOp]) -> io::Result<()>;
    fn introduce(&mut self, domid: u16, gfn: u64, port: u32) -> io::Result<()>;
}

/// What to build.
pub struct Request<'a> {
    pub name: &'a str,
    pub uuid: [u8; 16],
    pub memory_mib: u64,
    pub maxmem_mib: u64,
    pub vcpus: u32,
    pub max_vcpus: u32,
    pub kernel: &'a Kernel,
    pub ramdisk: Option<&'a [u8]>,
    pub cmdline: Option<&'a str>,
    /// `start_time` for `/vm/<uuid>`.
    pub start_time: String,
    /// Leave the domain paused (`xl create -p`).
    pub paused: bool,
}

/// What the DT builder gets (xen_dt::domu's inputs that depend on the build).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtInputs {
    /// `XEN_DOMCTL_CONFIG_GIC_V2` or `_V3`, as createdomain chose.
    pub gic_version: u8,
    pub vcpus: u32,
    pub mem_bytes: u64,
    pub bootargs: Option<String>,
    pub initrd: Option<(u64, u64)>,
    /// createdomain's `clock_frequency` (0: none).
    pub clock_frequency: u32,
}

/// A built domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub domid: u16,
    pub layout: Layout,
    pub store_port: u32,
    pub console_port: u32,
    pub gic_version: u8,
}

/// A failed step: what failed and why.
#[derive(Debug)]
pub struct BuildError {
    pub step: String,
    pub err: io::Error,
    /// The domain that was destroyed again, if one had been created.
    pub domid: Option<u16>,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.err)?;
        if let Some(d) = self.domid {
            write!(f, " (domain {d} destroyed)")?;
        }
        Ok(())
    }
}

fn step<T>(what: &str, r: io::Result<T>) -> Result<T, (String, io::Error)> {
    r.map_err(|e| (what.to_string(), e))
}

fn other(e: impl fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Builds and (unless `paused`) starts the domain. `make_dtb` turns the final inputs into a DTB.
pub fn build(
    hyp: &mut dyn Hyp,
    xs: &mut dyn Store,
    r: &Request<'_>,
    make_dtb: &dyn Fn(&DtInputs) -> Result<Vec<u8>, String>,
) -> Result<Built, BuildError> {
    // libxl__domain_make: createdomain, then the xenstore skeleton.
    let cfg = plan::createdomain(r.max_vcpus, r.uuid);
    let (domid, out) = hyp.createdomain(&cfg).map_err(|err| BuildError {
        step: "creating the domain (XEN_DOMCTL_createdomain)".into(),
        err,
        domid: None,
    })?;
    match build_rest(hyp, xs, r, make_dtb, domid, &out) {
        Ok(b) => Ok(b),
        Err((step, err)) => {
            let _ = hyp.destroy(domid);
            let _ = xs.apply(&xsent::cleanup(domid, Some(&xsent::vm_path(&r.uuid))));
            Err(BuildError {
                step,
                err,
                domid: Some(domid),
            })
        }
    }
}

fn build_rest(
    hyp: &mut dyn Hyp,
    xs: &mut dyn Store,
    r: &Request<'_>,
    make_dtb: &dyn Fn(&DtInputs) -> Result<Vec<u8>, String>,
    domid: u16,
    out: &xen_domctl_createdomain,
) -> Result<Built, (String, io::Error)> {
    step(
        "writing the domain's xenstore entries",
        xs.apply(&xsent::domain_make(domid, r.name, &r.uuid)),
    )?;

    // libxl__build_pre.
    step(
        "setting the vCPU count (XEN_DOMCTL_max_vcpus)",
        hyp.max_vcpus(domid, r.max_vcpus),
    )?;
    let target_kb = r.memory_mib << 10;
    let max_kb = r.maxmem_mib.max(r.memory_mib) << 10;
    step(
        "setting the memory limit (XEN_DOMCTL_max_mem)",
        hyp.max_mem(domid, target_kb + plan::LIBXL_MAXMEM_CONSTANT),
    )?;
    let store_port = step(
        "allocating the xenstore event channel",
        hyp.evtchn_alloc_unbound(domid, 0),
    )?;
    let console_port = step(
        "allocating the console event channel",
        hyp.evtchn_alloc_unbound(domid, 0),
    )?;
    // libxl__arch_domain_create on Arm: the stage-2 table pool, libxl's default size.
    step(
        "sizing the stage-2 table pool (XEN_DOMCTL_set_paging_mempool_size)",
        hyp.set_paging_mempool_size(
            domid,
            plan::paging_mempool_kb(max_kb >> 10, r.max_vcpus) << 10,
        ),
    )?;

    // xc_dom: mode, RAM, kernel/ramdisk/DT, magic pages, vCPU 0.
    step(
        "making the domain 64-bit (XEN_DOMCTL_set_address_size)",
        hyp.set_address_size(domid, 64),
    )?;
    let mem = r.memory_mib << 20;
    let mut dt = DtInputs {
        gic_version: out.arch.gic_version,
        vcpus: r.max_vcpus,
        mem_bytes: mem,
        bootargs: r.cmdline.map(str::to_string),
        initrd: r.ramdisk.map(|d| (0, d.len() as u64)),
        clock_frequency: out.arch.clock_frequency,
    };
    // The DT's size with placeholder initrd addresses (fixed-width cells: the final DT has
    // the same size), to place the modules.
    let dtb0 = step("building the device tree", make_dtb(&dt).map_err(other))?;
    let layout = step(
        "laying out guest memory",
        plan::layout(
            mem,
            r.kernel,
            r.ramdisk.map(|d| d.len() as u64),
            dtb0.len() as u64,
        )
        .map_err(other),
    )?;
    for &(base, size) in &layout.banks {
        for e in plan::ram_extents(base >> plan::PAGE_SHIFT, size >> plan::PAGE_SHIFT) {
            let n = step(
                "populating guest RAM (XENMEM_populate_physmap)",
                hyp.populate_physmap(domid, e.order, &e.gfns),
            )?;
            if n != e.gfns.len() {
                return Err((
                    format!(
                        "populating guest RAM: Xen gave {n} of {} extents of {} KiB",
                        e.gfns.len(),
                        4u64 << e.order
                    ),
                    io::Error::from_raw_os_error(libc::ENOMEM),
                ));
            }
        }
    }
    step(
        "loading the kernel",
        hyp.write_guest(domid, layout.kernel, &r.kernel.bytes, 0),
    )?;
    if let (Some(rd), Some((addr, _))) = (r.ramdisk, layout.ramdisk) {
        step("loading the ramdisk", hyp.write_guest(domid, addr, rd, 0))?;
        dt.initrd = Some((addr, rd.len() as u64));
    }
    let dtb = step("building the device tree", make_dtb(&dt).map_err(other))?;
    if dtb.len() as u64 > layout.dtb.1.next_multiple_of(plan::PAGE_SIZE) {
        return Err((
            "building the device tree".into(),
            other("the device tree grew after placement"),
        ));
    }
    step(
        "loading the device tree",
        hyp.write_guest(domid, layout.dtb.0, &dtb, 0),
    )?;

    // alloc_magic_pages.
    let magic: Vec<u64> = (0..plan::NR_MAGIC_PAGES)
        .map(|i| plan::MAGIC_BASE_PFN + i)
        .collect();
    let n = step(
        "populating the console and xenstore pages",
        hyp.populate_physmap(domid, 0, &magic),
    )?;
    if n != magic.len() {
        return Err((
            "populating the console and xenstore pages".into(),
            io::Error::from_raw_os_error(libc::ENOMEM),
        ));
    }
    step(
        "clearing the magic pages",
        hyp.write_guest(
            domid,
            plan::MAGIC_BASE_PFN << plan::PAGE_SHIFT,
            &[],
            plan::NR_MAGIC_PAGES * plan::PAGE_SIZE,
        ),
    )?;
    for (idx, v, what) in [
        (HVM_PARAM_CONSOLE_PFN, plan::CONSOLE_PFN, "CONSOLE_PFN"),
        (HVM_PARAM_STORE_PFN, plan::XENSTORE_PFN, "STORE_PFN"),
        (
            HVM_PARAM_MONITOR_RING_PFN,
            plan::MEMACCESS_PFN,
            "MONITOR_RING_PFN",
        ),
        (
            HVM_PARAM_CONSOLE_EVTCHN,
            u64::from(console_port),
            "CONSOLE_EVTCHN",
        ),
        (
            HVM_PARAM_STORE_EVTCHN,
            u64::from(store_port),
            "STORE_EVTCHN",
        ),
    ] {
        step(
            &format!("setting HVM_PARAM_{what}"),
            hyp.hvm_set_param(domid, idx, v),
        )?;
    }
    step(
        "setting vCPU 0's registers (XEN_DOMCTL_setvcpucontext)",
        hyp.setvcpucontext(domid, 0, &plan::vcpu0_context(layout.kernel, layout.dtb.0)),
    )?;

    // libxl__build_post, then the console device.
    let post = xsent::BuildPost {
        domid,
        max_memkb: max_kb,
        target_memkb: target_kb,
        vcpus: r.vcpus,
        max_vcpus: r.max_vcpus,
        store_port,
        store_gfn: plan::XENSTORE_PFN,
        vm_path: xsent::vm_path(&r.uuid),
        start_time: r.start_time.clone(),
    };
    step(
        "writing the domain's xenstore entries",
        xs.apply(&xsent::build_post(&post)),
    )?;
    step(
        "introducing the domain to xenstored (XS_INTRODUCE)",
        xs.introduce(domid, plan::XENSTORE_PFN, store_port),
    )?;
    step(
        "adding the console device",
        xs.apply(&xsent::console(domid, console_port, plan::CONSOLE_PFN)),
    )?;
    if !r.paused {
        step("unpausing the domain", hyp.unpause(domid))?;
    }
    Ok(Built {
        domid,
        layout,
        store_port,
        console_port,
        gic_version: out.arch.gic_version,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::image::load_kernel;
    use crate::image::tests::fake_image;
    use std::collections::BTreeMap;
    use xen_abi::domctl::XEN_DOMCTL_CONFIG_GIC_V3;

    /// A hypervisor in memory: records calls, holds guest pages, fails on request.
    #[derive(Default)]
    pub struct FakeHyp {
        pub calls: Vec<String>,
        pub pages: BTreeMap<u64, Vec<u8>>,
        pub fail: Option<&'static str>,
        pub populated: u64,
        next_port: u32,
    }

    impl FakeHyp {
        fn call(&mut self, c: String) -> io::Result<()> {
            let hit = self.fail.is_some_and(|f| c.starts_with(f));
            self.calls.push(c);
            if hit {
                Err(io::Error::from_raw_os_error(libc::ENOMEM))
            } else {
                Ok(())
            }
        }
        pub fn read(&self, addr: u64, len: usize) -> Vec<u8> {
            (0..len as u64)
                .map(|i| {
                    let a = addr + i;
                    self.pages
                        .get(&(a >> 12))
                        .map_or(0xEE, |p| p[(a & 0xfff) as usize])
                })
                .collect()
        }
    }

    impl Hyp for FakeHyp {
        fn createdomain(
            &mut self,
            cfg: &xen_domctl_createdomain,
        ) -> io::Result<(u16, xen_domctl_createdomain)> {
            self.call(format!("createdomain vcpus={}", cfg.max_vcpus))?;
            let mut out = *cfg;
            out.arch.gic_version = XEN_DOMCTL_CONFIG_GIC_V3;
            Ok((5, out))
        }
        fn max_vcpus(&mut self, d: u16, n: u32) -> io::Result<()> {
            self.call(format!("max_vcpus {d} {n}"))
        }
        fn max_mem(&mut self, d: u16, kb: u64) -> io::Result<()> {
            self.call(format!("max_mem {d} {kb}"))
        }
        fn set_paging_mempool_size(&mut self, d: u16, bytes: u64) -> io::Result<()> {
            self.call(format!("paging_mempool {d} {bytes}"))
        }
        fn set_address_size(&mut self, d: u16, b: u32) -> io::Result<()> {
            self.call(format!("set_address_size {d} {b}"))
        }
        fn populate_physmap(&mut self, d: u16, order: u32, gfns: &[u64]) -> io::Result<usize> {
            self.call(format!("populate {d} order={order} n={}", gfns.len()))?;
            for g in gfns {
                for i in 0..(1u64 << order) {
                    self.pages.insert(g + i, vec![0xAA; 4096]);
                }
            }
            self.populated += (gfns.len() as u64) << order;
            Ok(gfns.len())
        }
        fn evtchn_alloc_unbound(&mut self, d: u16, remote: u16) -> io::Result<u32> {
            self.call(format!("alloc_unbound {d} {remote}"))?;
            self.next_port += 1;
            Ok(self.next_port)
        }
        fn hvm_set_param(&mut self, d: u16, i: u32, v: u64) -> io::Result<()> {
            self.call(format!("hvm_set_param {d} {i} {v:#x}"))
        }
        fn setvcpucontext(&mut self, d: u16, v: u32, c: &vcpu_guest_context) -> io::Result<()> {
            self.call(format!(
                "setvcpucontext {d} {v} pc={:#x} x0={:#x}",
                c.user_regs.pc64, c.user_regs.x[0]
            ))
        }
        fn write_guest(&mut self, d: u16, addr: u64, data: &[u8], zero: u64) -> io::Result<()> {
            self.call(format!(
                "write_guest {d} {addr:#x} len={}",
                data.len().max(zero as usize)
            ))?;
            let len = data.len().max(zero as usize) as u64;
            for i in 0..len {
                let a = addr + i;
                let page = self
                    .pages
                    .get_mut(&(a >> 12))
                    .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
                page[(a & 0xfff) as usize] = data.get(i as usize).copied().unwrap_or(0);
            }
            Ok(())
        }
        fn unpause(&mut self, d: u16) -> io::Result<()> {
            self.call(format!("unpause {d}"))
        }
        fn destroy(&mut self, d: u16) -> io::Result<()> {
            self.call(format!("destroy {d}"))
        }
    }

    /// A xenstore that records operations as text.
    #[derive(Default)]
    pub struct FakeStore {
        pub log: Vec<String>,
    }

    impl Store for FakeStore {
        fn apply(&mut self, ops: &[XsOp]) -> io::Result<()> {
            self.log.extend(ops.iter().map(|o| o.to_string()));
            Ok(())
        }
        fn introduce(&mut self, d: u16, gfn: u64, port: u32) -> io::Result<()> {
            self.log.push(format!("introduce {d} {gfn:#x} {port}"));
            Ok(())
        }
    }

    pub fn fake_dtb(i: &DtInputs) -> Result<Vec<u8>, String> {
        let mut v = format!(
            "DTB gic={} vcpus={} mem={:#x} initrd={:x?} bootargs={:?}",
            i.gic_version, i.vcpus, i.mem_bytes, i.initrd, i.bootargs
        )
        .into_bytes();
        v.resize(200, b' ');
        Ok(v)
    }

    fn request<'a>(k: &'a Kernel, rd: &'a [u8]) -> Request<'a> {
        Request {
            name: "guest",
            uuid: [1; 16],
            memory_mib: 256,
            maxmem_mib: 256,
            vcpus: 1,
            max_vcpus: 1,
            kernel: k,
            ramdisk: Some(rd),
            cmdline: Some("console=hvc0"),
            start_time: "1.00".into(),
            paused: false,
        }
    }

    #[test]
    fn builds_in_libxl_order() {
        let k = load_kernel(&fake_image(0, 0x100_0000, 10_000)).unwrap();
        let rd = vec![0x5A; 5000];
        let (mut h, mut s) = (FakeHyp::default(), FakeStore::default());
        let b = build(&mut h, &mut s, &request(&k, &rd), &fake_dtb).unwrap();
        assert_eq!(b.domid, 5);
        assert_eq!((b.store_port, b.console_port), (1, 2));
        // 256 MiB + 4 magic pages, nothing else.
        assert_eq!(h.populated, 65536 + 4);
        // The kernel, ramdisk and DT are where the layout says, the DT with the real initrd.
        assert_eq!(h.read(b.layout.kernel, 10_000), k.bytes);
        let (ra, _) = b.layout.ramdisk.unwrap();
        assert_eq!(h.read(ra, 5000), rd);
        let dtb = String::from_utf8(h.read(b.layout.dtb.0, 200)).unwrap();
        assert!(
            dtb.contains(&format!("initrd=Some(({ra:x}, 1388))")),
            "{dtb}"
        );
        assert!(dtb.contains("gic=2"), "{dtb}");
        // Magic pages cleared.
        assert_eq!(h.read(0x3900_0000, 4 * 4096), vec![0; 4 * 4096]);
        let order: Vec<&str> = h
            .calls
            .iter()
            .map(|c| c.split_whitespace().next().unwrap())
            .collect();
        let pos = |n: &str| order.iter().position(|c| *c == n).unwrap();
        assert!(pos("createdomain") < pos("max_vcpus"));
        assert!(pos("max_mem") < pos("populate"));
        assert!(pos("setvcpucontext") < pos("unpause"));
        assert!(h.calls.contains(&"max_mem 5 263168".to_string()));
        // libxl's default for 256 MiB, 1 vCPU: 4 * (256 + 256 + 128) KiB.
        assert!(h.calls.contains(&"paging_mempool 5 2621440".to_string()));
        assert!(pos("alloc_unbound") < pos("paging_mempool"));
        assert!(pos("paging_mempool") < pos("populate"));
        assert!(h.calls.contains(&format!(
            "setvcpucontext 5 0 pc=0x40000000 x0={:#x}",
            b.layout.dtb.0
        )));
        let introduce = s
            .log
            .iter()
            .position(|l| l.starts_with("introduce 5 0x39001 1"));
        let console = s.log.iter().position(|l| l.contains("console/ring-ref"));
        assert!(introduce.unwrap() < console.unwrap());
    }

    #[test]
    fn failure_destroys_and_names_the_step() {
        let k = load_kernel(&fake_image(0, 0x100_0000, 10_000)).unwrap();
        let rd = vec![0; 10];
        let (mut h, mut s) = (FakeHyp::default(), FakeStore::default());
        h.fail = Some("setvcpucontext");
        let e = build(&mut h, &mut s, &request(&k, &rd), &fake_dtb).unwrap_err();
        assert!(e.step.contains("setvcpucontext"), "{e}");
        assert_eq!(e.domid, Some(5));
        assert_eq!(h.calls.last().unwrap(), "destroy 5");
        assert!(s.log.iter().any(|l| l == "rm /local/domain/5"));
        assert!(e.to_string().ends_with("(domain 5 destroyed)"), "{e}");
        // A failed createdomain has nothing to destroy.
        let (mut h, mut s) = (FakeHyp::default(), FakeStore::default());
        h.fail = Some("createdomain");
        let e = build(&mut h, &mut s, &request(&k, &rd), &fake_dtb).unwrap_err();
        assert_eq!(e.domid, None);
        assert!(!h.calls.iter().any(|c| c.starts_with("destroy")));
    }

    #[test]
    fn too_little_memory_is_reported_before_populating() {
        let k = load_kernel(&fake_image(0, 60 << 20, 10_000)).unwrap();
        let rd = vec![0; 10 << 20];
        let (mut h, mut s) = (FakeHyp::default(), FakeStore::default());
        let mut r = request(&k, &rd);
        r.memory_mib = 64;
        let e = build(&mut h, &mut s, &r, &fake_dtb).unwrap_err();
        assert!(e.to_string().contains("raise memory"), "{e}");
        assert_eq!(h.populated, 0);
    }
}
