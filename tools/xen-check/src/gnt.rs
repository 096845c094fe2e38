//! Grant tables through Linux's `/dev/xen/gntalloc` and `/dev/xen/gntdev`, dom0 granting to
//! itself (the only domain there is): the loopback that exercises Xen's
//! `GNTTABOP_map_grant_ref`, `unmap_grant_ref` and `copy` end to end.
//!
//! - `grant-map`: gntalloc grants a page to domain 0 and it is filled; gntdev maps that grant
//!   (the `map_grant_ref` happens at `mmap`, dom0 being auto-translated), reads the pattern,
//!   writes through the mapping and the gntalloc page sees it; unmapped, deallocated, and the
//!   stale reference no longer maps (Xen cleared `GTF_reading`/`GTF_writing` at the unmap, so
//!   Linux could end the grant).
//! - `grant-readonly`: a grant without `GNTALLOC_FLAG_WRITABLE` refuses a writable mapping
//!   (Xen: `GNTST_general_error`, gntdev: `EINVAL`) and gives a read-only one.
//! - `grant-copy`: `IOCTL_GNTDEV_GRANT_COPY` from the grant to a local buffer and back, and the
//!   `GNTST_*` of a bad reference, a read-only destination and a missing domain.
//! - `grant-bench`: wall time of a gntdev map+mmap+touch+munmap+unmap, and of a 4 KiB copy.
//!
//! Linux uapi: `include/uapi/xen/gntalloc.h`, `include/uapi/xen/gntdev.h`; drivers
//! `drivers/xen/gntalloc.c`, `drivers/xen/gntdev.c`. This module has its own small unsafe part
//! (ioctl and mmap), each block with its reason.
#![allow(non_upper_case_globals, non_camel_case_types)]

use super::Report;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::time::Instant;

const GNTALLOC: &str = "/dev/xen/gntalloc";
const GNTDEV: &str = "/dev/xen/gntdev";
const PAGE: usize = 4096;
const DOM0: u16 = 0;
/// No such domain (below `DOMID_FIRST_RESERVED`).
const NO_DOMAIN: u16 = 0x7000;
/// Beyond any grant table (64 frames × 512 entries at most).
const BAD_GREF: u32 = 1 << 20;
/// Iterations timed by `grant-bench`.
const BENCH_ROUNDS: u32 = 200;

/// `GNTST_*` (xen/include/public/grant_table.h).
const GNTST_okay: i16 = 0;
const GNTST_general_error: i16 = -1;
const GNTST_bad_domain: i16 = -2;
const GNTST_bad_gntref: i16 = -3;
/// `GNTCOPY_*` (grant_table.h).
const GNTCOPY_source_gref: u16 = 1;
const GNTCOPY_dest_gref: u16 = 2;
/// `GNTALLOC_FLAG_WRITABLE` (gntalloc.h).
const GNTALLOC_FLAG_WRITABLE: u16 = 1;

/// `_IOC(_IOC_NONE, 'G', nr, size)` (asm-generic/ioctl.h: dir 0, type at bit 8, size at 16).
const fn ioc_g(nr: u32, size: usize) -> u32 {
    ((b'G' as u32) << 8) | nr | ((size as u32) << 16)
}

/// `struct ioctl_gntalloc_alloc_gref` with room for one reference (gntalloc.h).
#[repr(C)]
#[derive(Default)]
struct ioctl_gntalloc_alloc_gref {
    domid: u16,
    flags: u16,
    count: u32,
    index: u64,
    gref_ids: [u32; 1],
}
/// `struct ioctl_gntalloc_dealloc_gref` (gntalloc.h).
#[repr(C)]
struct ioctl_gntalloc_dealloc_gref {
    index: u64,
    count: u32,
}
/// `struct ioctl_gntdev_map_grant_ref` with one `ioctl_gntdev_grant_ref` (gntdev.h).
#[repr(C)]
#[derive(Default)]
struct ioctl_gntdev_map_grant_ref {
    count: u32,
    pad: u32,
    index: u64,
    domid: u32,
    gref: u32,
}
/// `struct ioctl_gntdev_unmap_grant_ref` (gntdev.h).
#[repr(C)]
struct ioctl_gntdev_unmap_grant_ref {
    index: u64,
    count: u32,
    pad: u32,
}
/// `struct gntdev_grant_copy_segment` (gntdev.h): each of `source`/`dest` is a user pointer or
/// `{ grant_ref_t ref; u16 offset; domid_t domid; }`, 8 bytes either way.
#[repr(C)]
#[derive(Clone, Copy)]
struct gntdev_grant_copy_segment {
    source: u64,
    dest: u64,
    len: u16,
    flags: u16,
    status: i16,
}
/// `struct ioctl_gntdev_grant_copy` (gntdev.h).
#[repr(C)]
struct ioctl_gntdev_grant_copy {
    count: u32,
    segments: *mut gntdev_grant_copy_segment,
}

// The sizes the request numbers encode (gntalloc.h / gntdev.h on a 64-bit kernel).
const _: () = assert!(size_of::<ioctl_gntalloc_alloc_gref>() == 24);
const _: () = assert!(size_of::<ioctl_gntalloc_dealloc_gref>() == 16);
const _: () = assert!(size_of::<ioctl_gntdev_map_grant_ref>() == 24);
const _: () = assert!(size_of::<ioctl_gntdev_unmap_grant_ref>() == 16);
const _: () = assert!(size_of::<gntdev_grant_copy_segment>() == 24);
const _: () = assert!(size_of::<ioctl_gntdev_grant_copy>() == 16);

const IOCTL_GNTALLOC_ALLOC_GREF: u32 = ioc_g(5, 24);
const IOCTL_GNTALLOC_DEALLOC_GREF: u32 = ioc_g(6, 16);
const IOCTL_GNTDEV_MAP_GRANT_REF: u32 = ioc_g(0, 24);
const IOCTL_GNTDEV_UNMAP_GRANT_REF: u32 = ioc_g(1, 16);
const IOCTL_GNTDEV_GRANT_COPY: u32 = ioc_g(8, 16);

/// The `foreign` form of a copy segment side.
const fn foreign(gref: u32, offset: u16, domid: u16) -> u64 {
    gref as u64 | ((offset as u64) << 32) | ((domid as u64) << 48)
}

/// `ioctl(fd, req, arg)`.
///
/// # Safety
/// `arg` must point to a live, writable `T` of the layout `req` expects, and any pointer in it
/// must be valid for what the driver does with it.
unsafe fn ioctl<T>(f: &File, req: u32, arg: *mut T) -> io::Result<i32> {
    // SAFETY: the caller's contract; `f` is open. The request number is reinterpreted for the
    // libc flavour (`c_int` on musl).
    let r = unsafe { libc::ioctl(f.as_raw_fd(), req as libc::Ioctl, arg) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A shared mapping of one page of a device, unmapped on drop.
struct Page {
    ptr: *mut u8,
}

impl Page {
    fn map(f: &File, index: u64, write: bool) -> io::Result<Self> {
        let prot = libc::PROT_READ | if write { libc::PROT_WRITE } else { 0 };
        let off =
            libc::off_t::try_from(index).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: a fresh shared mapping chosen by the kernel; nothing else is at that address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                prot,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                off,
            )
        };
        if p == libc::MAP_FAILED {
            Err(io::Error::last_os_error())
        } else {
            Ok(Self { ptr: p.cast() })
        }
    }
    fn read(&self, off: usize, out: &mut [u8]) {
        assert!(off + out.len() <= PAGE);
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: inside the mapped page (checked above); volatile, as another mapping of
            // the same frame changes it.
            *b = unsafe { self.ptr.add(off + i).read_volatile() };
        }
    }
    fn write(&self, off: usize, data: &[u8]) {
        assert!(off + data.len() <= PAGE);
        for (i, b) in data.iter().enumerate() {
            // SAFETY: as in `read`, on a writable mapping (callers only write those).
            unsafe { self.ptr.add(off + i).write_volatile(*b) };
        }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // SAFETY: `ptr` is a live mapping of `PAGE` bytes made by `map`, dropped once.
        unsafe { libc::munmap(self.ptr.cast(), PAGE) };
    }
}

fn open(path: &str) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("open {path}: {e}"))
}

/// One page granted by dom0 to dom0 through gntalloc, mapped; deallocated on drop.
struct Grant<'a> {
    dev: &'a File,
    gref: u32,
    index: u64,
    page: Option<Page>,
}

impl<'a> Grant<'a> {
    fn alloc(dev: &'a File, writable: bool) -> Result<Self, String> {
        let mut a = ioctl_gntalloc_alloc_gref {
            domid: DOM0,
            flags: if writable { GNTALLOC_FLAG_WRITABLE } else { 0 },
            count: 1,
            ..Default::default()
        };
        // SAFETY: `a` is the request's struct with room for `count` = 1 reference.
        unsafe { ioctl(dev, IOCTL_GNTALLOC_ALLOC_GREF, &mut a) }
            .map_err(|e| format!("IOCTL_GNTALLOC_ALLOC_GREF: {e}"))?;
        let mut g = Self {
            dev,
            gref: a.gref_ids[0],
            index: a.index,
            page: None,
        };
        g.page = Some(Page::map(dev, a.index, true).map_err(|e| format!("mmap gntalloc: {e}"))?);
        Ok(g)
    }
    fn page(&self) -> &Page {
        self.page.as_ref().expect("mapped at alloc")
    }
}

impl Drop for Grant<'_> {
    fn drop(&mut self) {
        self.page = None;
        let mut d = ioctl_gntalloc_dealloc_gref {
            index: self.index,
            count: 1,
        };
        // SAFETY: `d` is the request's struct.
        let _ = unsafe { ioctl(self.dev, IOCTL_GNTALLOC_DEALLOC_GREF, &mut d) };
    }
}

/// A gntdev entry for one dom0 grant; removed on drop (after its mappings are gone).
struct DevMap<'a> {
    dev: &'a File,
    index: u64,
}

impl<'a> DevMap<'a> {
    fn new(dev: &'a File, gref: u32) -> io::Result<Self> {
        let mut m = ioctl_gntdev_map_grant_ref {
            count: 1,
            domid: u32::from(DOM0),
            gref,
            ..Default::default()
        };
        // SAFETY: `m` is the request's struct with one grant reference.
        unsafe { ioctl(dev, IOCTL_GNTDEV_MAP_GRANT_REF, &mut m) }?;
        Ok(Self {
            dev,
            index: m.index,
        })
    }
    /// `mmap`: where gntdev asks Xen to map the grant.
    fn mmap(&self, write: bool) -> io::Result<Page> {
        Page::map(self.dev, self.index, write)
    }
}

impl Drop for DevMap<'_> {
    fn drop(&mut self) {
        let mut u = ioctl_gntdev_unmap_grant_ref {
            index: self.index,
            count: 1,
            pad: 0,
        };
        // SAFETY: `u` is the request's struct.
        let _ = unsafe { ioctl(self.dev, IOCTL_GNTDEV_UNMAP_GRANT_REF, &mut u) };
    }
}

/// `IOCTL_GNTDEV_GRANT_COPY` of `segs`; the per-segment statuses.
fn grant_copy(dev: &File, segs: &mut [gntdev_grant_copy_segment]) -> io::Result<Vec<i16>> {
    let mut c = ioctl_gntdev_grant_copy {
        count: u32::try_from(segs.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
        segments: segs.as_mut_ptr(),
    };
    // SAFETY: `c` points at `segs`, live and writable for the call; the local buffers named in
    // them are live buffers of the caller (see the callers).
    unsafe { ioctl(dev, IOCTL_GNTDEV_GRANT_COPY, &mut c) }?;
    Ok(segs.iter().map(|s| s.status).collect())
}

fn pattern(seed: u8) -> Vec<u8> {
    (0..PAGE)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Runs the grant checks into `r`.
pub(crate) fn checks(r: &mut Report) {
    let (alloc, dev) = match (open(GNTALLOC), open(GNTDEV)) {
        (Ok(a), Ok(d)) => (a, d),
        (Err(e), _) | (_, Err(e)) => {
            r.check("grant-map", Err(e));
            return;
        }
    };
    r.check("grant-map", check_map(&alloc, &dev));
    r.check("grant-readonly", check_readonly(&alloc, &dev));
    r.check("grant-copy", check_copy(&alloc, &dev));
    r.check("grant-bench", bench(&alloc, &dev));
}

fn check_map(alloc: &File, dev: &File) -> Result<String, String> {
    let gref;
    {
        let g = Grant::alloc(alloc, true)?;
        gref = g.gref;
        let p1 = pattern(1);
        g.page().write(0, &p1);
        let m = DevMap::new(dev, g.gref).map_err(|e| format!("IOCTL_GNTDEV_MAP_GRANT_REF: {e}"))?;
        let b = m
            .mmap(true)
            .map_err(|e| format!("mmap gntdev (map_grant_ref): {e}"))?;
        let mut got = vec![0; PAGE];
        b.read(0, &mut got);
        if got != p1 {
            return Err(format!(
                "gref {gref}: the gntdev mapping does not show the granted page"
            ));
        }
        let p2 = pattern(2);
        b.write(0, &p2);
        g.page().read(0, &mut got);
        if got != p2 {
            return Err(format!(
                "gref {gref}: a write through gntdev is not in the granted page"
            ));
        }
        drop(b);
        drop(m);
        // Still the granter's page, with what was written through the mapping.
        g.page().read(0, &mut got);
        if got != p2 {
            return Err(format!(
                "gref {gref}: the granted page changed at the unmap"
            ));
        }
    }
    // Deallocated: with the status bits cleared at the unmap, Linux ended the grant, so the
    // reference no longer maps.
    let m = DevMap::new(dev, gref).map_err(|e| format!("IOCTL_GNTDEV_MAP_GRANT_REF: {e}"))?;
    match m.mmap(false) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
        Err(e) => return Err(format!("stale gref {gref}: mmap gave {e}, want EINVAL")),
        Ok(_) => {
            return Err(format!(
                "stale gref {gref} still maps after gntalloc freed it"
            ))
        }
    }
    Ok(format!(
        "gref={gref}: pattern read through gntdev, write seen by gntalloc, stale gref refused"
    ))
}

fn check_readonly(alloc: &File, dev: &File) -> Result<String, String> {
    let g = Grant::alloc(alloc, false)?;
    let p = pattern(3);
    g.page().write(0, &p);
    {
        let m = DevMap::new(dev, g.gref).map_err(|e| format!("IOCTL_GNTDEV_MAP_GRANT_REF: {e}"))?;
        match m.mmap(true) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => {
                return Err(format!(
                    "writable mmap of a read-only grant: {e}, want EINVAL"
                ))
            }
            Ok(_) => return Err("a read-only grant mapped writable".into()),
        }
    }
    let m = DevMap::new(dev, g.gref).map_err(|e| format!("IOCTL_GNTDEV_MAP_GRANT_REF: {e}"))?;
    let b = m
        .mmap(false)
        .map_err(|e| format!("read-only mmap of a read-only grant: {e}"))?;
    let mut got = vec![0; PAGE];
    b.read(0, &mut got);
    if got != p {
        return Err("the read-only mapping does not show the granted page".into());
    }
    Ok(format!(
        "gref={}: writable map EINVAL, read-only map reads the page",
        g.gref
    ))
}

fn check_copy(alloc: &File, dev: &File) -> Result<String, String> {
    let g = Grant::alloc(alloc, true)?;
    let ro = Grant::alloc(alloc, false)?;
    let p = pattern(4);
    g.page().write(0, &p);
    let mut local = vec![0u8; PAGE];
    let seg = |source, dest, len, flags| gntdev_grant_copy_segment {
        source,
        dest,
        len,
        flags,
        status: 1,
    };
    // Grant -> local buffer, grant offset 100, 64 bytes, to local offset 8.
    let mut s = [seg(
        foreign(g.gref, 100, DOM0),
        local.as_mut_ptr() as u64 + 8,
        64,
        GNTCOPY_source_gref,
    )];
    let st = grant_copy(dev, &mut s).map_err(|e| format!("GRANT_COPY from the grant: {e}"))?;
    if st != [GNTST_okay] || local[8..72] != p[100..164] {
        return Err(format!(
            "copy from the grant: status {st:?}, data equal {}",
            local[8..72] == p[100..164]
        ));
    }
    // Local buffer -> grant at offset 4032 (to the end of the page).
    let src: Vec<u8> = (0..64).map(|i| 0xa0 ^ i).collect();
    let mut s = [seg(
        src.as_ptr() as u64,
        foreign(g.gref, 4032, DOM0),
        64,
        GNTCOPY_dest_gref,
    )];
    let st = grant_copy(dev, &mut s).map_err(|e| format!("GRANT_COPY to the grant: {e}"))?;
    let mut got = vec![0; 64];
    g.page().read(4032, &mut got);
    if st != [GNTST_okay] || got != src {
        return Err(format!(
            "copy to the grant: status {st:?}, data equal {}",
            got == src
        ));
    }
    // Xen's statuses: bad reference, read-only grant as destination, no such domain.
    let mut s = [
        seg(
            foreign(BAD_GREF, 0, DOM0),
            local.as_mut_ptr() as u64,
            8,
            GNTCOPY_source_gref,
        ),
        seg(
            src.as_ptr() as u64,
            foreign(ro.gref, 0, DOM0),
            8,
            GNTCOPY_dest_gref,
        ),
        seg(
            foreign(g.gref, 0, NO_DOMAIN),
            local.as_mut_ptr() as u64,
            8,
            GNTCOPY_source_gref,
        ),
        seg(
            foreign(ro.gref, 0, DOM0),
            local.as_mut_ptr() as u64,
            8,
            GNTCOPY_source_gref,
        ),
    ];
    let st = grant_copy(dev, &mut s).map_err(|e| format!("GRANT_COPY errors: {e}"))?;
    let want = [
        GNTST_bad_gntref,
        GNTST_general_error,
        GNTST_bad_domain,
        GNTST_okay,
    ];
    if st != want {
        return Err(format!(
            "statuses (bad gref, ro dest, no domain, ro source) {st:?}, want {want:?}"
        ));
    }
    Ok(format!(
        "grant->local, local->grant; bad gref {}, ro dest {}, no domain {}, ro source {}",
        st[0], st[1], st[2], st[3]
    ))
}

fn bench(alloc: &File, dev: &File) -> Result<String, String> {
    let g = Grant::alloc(alloc, true)?;
    g.page().write(0, &[0x5a]);
    let round = || -> Result<(), String> {
        let m = DevMap::new(dev, g.gref).map_err(|e| format!("IOCTL_GNTDEV_MAP_GRANT_REF: {e}"))?;
        let b = m.mmap(true).map_err(|e| format!("mmap gntdev: {e}"))?;
        let mut x = [0u8];
        b.read(0, &mut x);
        if x[0] != 0x5a {
            return Err("mapping shows the wrong page".into());
        }
        Ok(())
    };
    for _ in 0..5 {
        round()?;
    }
    let t0 = Instant::now();
    for _ in 0..BENCH_ROUNDS {
        round()?;
    }
    let map_us = t0.elapsed().as_secs_f64() * 1e6 / f64::from(BENCH_ROUNDS);
    let mut local = vec![0u8; PAGE];
    let t0 = Instant::now();
    for _ in 0..BENCH_ROUNDS {
        let mut s = [gntdev_grant_copy_segment {
            source: foreign(g.gref, 0, DOM0),
            dest: local.as_mut_ptr() as u64,
            len: PAGE as u16,
            flags: GNTCOPY_source_gref,
            status: 1,
        }];
        let st = grant_copy(dev, &mut s).map_err(|e| format!("GRANT_COPY: {e}"))?;
        if st != [GNTST_okay] {
            return Err(format!("GRANT_COPY status {st:?}"));
        }
    }
    let copy_us = t0.elapsed().as_secs_f64() * 1e6 / f64::from(BENCH_ROUNDS);
    if local[0] != 0x5a {
        return Err("the copy did not bring the page".into());
    }
    Ok(format!(
        "gntdev_map_mmap_unmap_us={map_us:.1} grant_copy_4k_us={copy_us:.1} ({BENCH_ROUNDS} rounds, wall clock)"
    ))
}
