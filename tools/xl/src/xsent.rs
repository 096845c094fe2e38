//! The xenstore entries Xen's libxl writes for a new domain, with their permissions:
//! `libxl__domain_make` (the skeleton: `/local/domain/N`, `/vm/<uuid>`, `/libxl/N`),
//! `libxl__build_post` (memory, store, vCPUs) and `libxl__device_console_add` through
//! `libxl__device_generic_add` (the primary console's frontend and backend).
//!
//! Permissions are xenstore's: the first entry names the owner and what everyone else may do,
//! the following ones grant a domain more (`docs/misc/xenstore.txt`).

use std::fmt;

/// One permission entry: `n`one, `r`ead, `w`rite or `b`oth, for `dom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perm {
    pub access: char,
    pub dom: u16,
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.access, self.dom)
    }
}

/// A store operation; all of one list run in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XsOp {
    Rm(String),
    /// `libxl__xs_mknod`: write "" then set the permissions.
    Mknod(String, Vec<Perm>),
    /// A write whose node inherits its parent's permissions (new) or keeps its own.
    Write(String, String),
    SetPerms(String, Vec<Perm>),
}

impl fmt::Display for XsOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let perms = |p: &[Perm]| p.iter().map(Perm::to_string).collect::<Vec<_>>().join(",");
        match self {
            XsOp::Rm(p) => write!(f, "rm {p}"),
            XsOp::Mknod(p, perms_) => write!(f, "mknod {p} [{}]", perms(perms_)),
            XsOp::Write(p, v) => write!(f, "write {p} = \"{v}\""),
            XsOp::SetPerms(p, perms_) => write!(f, "setperms {p} [{}]", perms(perms_)),
        }
    }
}

/// A UUID as libxl prints it.
pub fn uuid_string(u: &[u8; 16]) -> String {
    let h: Vec<String> = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    )
}

pub fn dom_path(domid: u16) -> String {
    format!("/local/domain/{domid}")
}
pub fn vm_path(uuid: &[u8; 16]) -> String {
    format!("/vm/{}", uuid_string(uuid))
}
pub fn libxl_path(domid: u16) -> String {
    format!("/libxl/{domid}")
}

fn p(access: char, dom: u16) -> Perm {
    Perm { access, dom }
}

/// `libxl__domain_make`'s transaction for `domid` named `name`.
pub fn domain_make(domid: u16, name: &str, uuid: &[u8; 16]) -> Vec<XsOp> {
    let dom = dom_path(domid);
    let vm = vm_path(uuid);
    let lx = libxl_path(domid);
    let noperm = vec![p('n', 0)];
    let roperm = vec![p('n', 0), p('r', domid)];
    let rwperm = vec![p('n', domid)];
    let mut v = vec![
        XsOp::Rm(dom.clone()),
        XsOp::Mknod(dom.clone(), roperm.clone()),
        XsOp::Rm(vm.clone()),
        XsOp::Mknod(vm.clone(), roperm.clone()),
        XsOp::Rm(lx.clone()),
        XsOp::Mknod(lx.clone(), noperm.clone()),
        XsOp::Mknod(format!("{lx}/device"), noperm),
        XsOp::Write(format!("{dom}/vm"), vm.clone()),
        // libxl__domain_rename
        XsOp::Write(format!("{dom}/name"), name.into()),
    ];
    for d in ["cpu", "memory", "device"] {
        v.push(XsOp::Mknod(format!("{dom}/{d}"), roperm.clone()));
    }
    v.push(XsOp::Mknod(
        format!("{dom}/device/suspend/event-channel"),
        rwperm.clone(),
    ));
    v.push(XsOp::Mknod(format!("{dom}/control"), roperm));
    for c in [
        "shutdown",
        "feature-poweroff",
        "feature-reboot",
        "feature-suspend",
        "sysrq",
    ] {
        v.push(XsOp::Mknod(format!("{dom}/control/{c}"), rwperm.clone()));
    }
    for d in ["data", "drivers", "feature", "attr", "error"] {
        v.push(XsOp::Mknod(format!("{dom}/{d}"), rwperm.clone()));
    }
    v.push(XsOp::Write(format!("{vm}/uuid"), uuid_string(uuid)));
    v.push(XsOp::Write(format!("{vm}/name"), name.into()));
    v.push(XsOp::Write(
        format!("{dom}/control/platform-feature-multiprocessor-suspend"),
        "1".into(),
    ));
    v.push(XsOp::Write(
        format!("{dom}/control/platform-feature-xs_reset_watches"),
        "1".into(),
    ));
    v.push(XsOp::Write(format!("{lx}/type"), "pvh".into()));
    v
}

/// What `libxl__build_post` writes (then it introduces the domain to xenstored).
#[derive(Debug, Clone)]
pub struct BuildPost {
    pub domid: u16,
    pub max_memkb: u64,
    pub target_memkb: u64,
    pub vcpus: u32,
    pub max_vcpus: u32,
    pub store_port: u32,
    pub store_gfn: u64,
    pub vm_path: String,
    /// `start_time` under `/vm/<uuid>` (seconds.centiseconds).
    pub start_time: String,
}

pub fn build_post(b: &BuildPost) -> Vec<XsOp> {
    let dom = dom_path(b.domid);
    let mut v = vec![
        XsOp::Write(format!("{dom}/memory/static-max"), b.max_memkb.to_string()),
        XsOp::Write(format!("{dom}/memory/target"), b.target_memkb.to_string()),
        XsOp::Write(format!("{dom}/memory/videoram"), "0".into()),
        XsOp::Write(format!("{dom}/domid"), b.domid.to_string()),
        XsOp::Write(format!("{dom}/store/port"), b.store_port.to_string()),
        XsOp::Write(format!("{dom}/store/ring-ref"), b.store_gfn.to_string()),
    ];
    for i in 0..b.max_vcpus {
        let a = if i < b.vcpus { "online" } else { "offline" };
        v.push(XsOp::Write(format!("{dom}/cpu/{i}/availability"), a.into()));
    }
    v.push(XsOp::Write(
        format!("{}/start_time", b.vm_path),
        b.start_time.clone(),
    ));
    v
}

/// `LIBXL_XENCONSOLE_LIMIT`.
pub const LIBXL_XENCONSOLE_LIMIT: u32 = 1_048_576;
/// `LIBXL_XENCONSOLE_PROTOCOL`.
pub const LIBXL_XENCONSOLE_PROTOCOL: &str = "vt100";
/// `XenbusStateInitialising`.
pub const XENBUS_STATE_INITIALISING: u32 = 1;

/// The primary console (devid 0, backend dom0, xenconsoled, pty output) as
/// `libxl__device_console_add` + `libxl__device_generic_add` write it.
pub fn console(domid: u16, port: u32, ring_gfn: u64) -> Vec<XsOp> {
    let front = format!("{}/console", dom_path(domid));
    let back = format!("/local/domain/0/backend/console/{domid}/0");
    let front_perms = vec![p('n', domid), p('r', 0)];
    let ro_perms = vec![p('n', 0), p('r', domid)];
    let mut v = vec![
        XsOp::Rm(front.clone()),
        XsOp::Mknod(front.clone(), front_perms),
        XsOp::Write(format!("{front}/backend"), back.clone()),
        XsOp::Write(format!("{front}/backend-id"), "0".into()),
    ];
    for (k, val) in [
        ("limit", LIBXL_XENCONSOLE_LIMIT.to_string()),
        ("type", "xenconsoled".into()),
        ("output", "pty".into()),
        ("tty", String::new()),
        ("port", port.to_string()),
        ("ring-ref", ring_gfn.to_string()),
    ] {
        let path = format!("{front}/{k}");
        v.push(XsOp::Write(path.clone(), val));
        v.push(XsOp::SetPerms(path, ro_perms.clone()));
    }
    v.extend([
        XsOp::Rm(back.clone()),
        XsOp::Mknod(back.clone(), ro_perms),
        XsOp::Write(format!("{back}/frontend"), front),
        XsOp::Write(format!("{back}/frontend-id"), domid.to_string()),
        XsOp::Write(format!("{back}/online"), "1".into()),
        XsOp::Write(
            format!("{back}/state"),
            XENBUS_STATE_INITIALISING.to_string(),
        ),
        XsOp::Write(format!("{back}/protocol"), LIBXL_XENCONSOLE_PROTOCOL.into()),
    ]);
    v
}

/// What `xl destroy` / the reaper remove once the domain is gone (`libxl__destroy_domid`,
/// `devices_destroy`: the domain's paths and its backends in dom0).
pub fn cleanup(domid: u16, vm_path: Option<&str>) -> Vec<XsOp> {
    let mut v = vec![
        XsOp::Rm(format!("/local/domain/0/backend/console/{domid}")),
        XsOp::Rm(dom_path(domid)),
        XsOp::Rm(libxl_path(domid)),
    ];
    if let Some(vm) = vm_path.filter(|p| p.starts_with("/vm/")) {
        v.push(XsOp::Rm(vm.to_string()));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ops: &[XsOp]) -> String {
        ops.iter().map(|o| format!("{o}\n")).collect()
    }

    /// The whole transcript of a domain's creation, compared with a golden file.
    #[test]
    fn golden_transcript() {
        let uuid = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ];
        let mut ops = domain_make(3, "guest", &uuid);
        ops.extend(build_post(&BuildPost {
            domid: 3,
            max_memkb: 262144,
            target_memkb: 262144,
            vcpus: 1,
            max_vcpus: 2,
            store_port: 2,
            store_gfn: 0x39001,
            vm_path: vm_path(&uuid),
            start_time: "1700000000.00".into(),
        }));
        ops.extend(console(3, 1, 0x39000));
        let got = text(&ops);
        let golden = include_str!("../tests/data/xenstore-create.txt");
        if got != golden {
            let out = std::env::temp_dir().join("xenstore-create.txt");
            std::fs::write(&out, &got).unwrap();
            panic!(
                "transcript differs from the golden file; got {}",
                out.display()
            );
        }
    }

    #[test]
    fn uuid_format() {
        assert_eq!(
            uuid_string(&[0xff; 16]),
            "ffffffff-ffff-ffff-ffff-ffffffffffff"
        );
    }

    #[test]
    fn cleanup_paths() {
        let c = cleanup(4, Some("/vm/abc"));
        assert!(c.contains(&XsOp::Rm("/local/domain/4".into())));
        assert!(c.contains(&XsOp::Rm("/vm/abc".into())));
        assert_eq!(cleanup(4, Some("/local/domain/0")).len(), 3);
    }
}
