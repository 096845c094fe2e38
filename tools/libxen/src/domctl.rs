//! Domain control (`__HYPERVISOR_domctl`, `xen/include/public/domctl.h`) for the daemons: what
//! a domain's state is (`XEN_DOMCTL_getdomaininfo`), as Xen's xenstored asks it when
//! `VIRQ_DOM_EXC` fires.

use crate::sys::Privcmd;
use std::io;
use xen_abi::domctl::*;
use xen_abi::FromZeros;

/// What getdomaininfo says of one domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainInfo {
    pub domid: u16,
    /// `XEN_DOMINF_*`.
    pub flags: u32,
    pub tot_pages: u64,
    pub max_pages: u64,
    pub nr_online_vcpus: u32,
    pub max_vcpu_id: u32,
    pub cpu_time: u64,
}

impl DomainInfo {
    /// `XEN_DOMINF_dying`: being destroyed.
    pub fn dying(&self) -> bool {
        self.flags & XEN_DOMINF_dying != 0
    }
    /// `XEN_DOMINF_shutdown`: shut down (see [`DomainInfo::shutdown_code`]).
    pub fn shutdown(&self) -> bool {
        self.flags & XEN_DOMINF_shutdown != 0
    }
    /// `SHUTDOWN_*` reason when [`DomainInfo::shutdown`].
    pub fn shutdown_code(&self) -> u32 {
        (self.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask
    }
    /// `XEN_DOMINF_paused`.
    pub fn paused(&self) -> bool {
        self.flags & XEN_DOMINF_paused != 0
    }
}

/// `XEN_DOMCTL_getdomaininfo` for exactly `domid`: `Ok(None)` if no such domain exists (Xen
/// answers with the next domain above it, or `ESRCH`).
pub fn getdomaininfo(privcmd: &Privcmd, domid: u16) -> io::Result<Option<DomainInfo>> {
    let mut op = xen_domctl::new_zeroed();
    op.cmd = XEN_DOMCTL_getdomaininfo;
    op.domain = domid;
    match privcmd.domctl(&mut op) {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(None),
        Err(e) => return Err(e),
    }
    let i: xen_domctl_getdomaininfo = op.get();
    if i.domain != domid {
        return Ok(None);
    }
    Ok(Some(DomainInfo {
        domid: i.domain,
        flags: i.flags,
        tot_pages: i.tot_pages,
        max_pages: i.max_pages,
        nr_online_vcpus: i.nr_online_vcpus,
        max_vcpu_id: i.max_vcpu_id,
        cpu_time: i.cpu_time,
    }))
}
