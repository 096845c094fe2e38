//! What `xl list` and `xl info` print, formatted as Xen 4.17's `tools/xl/xl_info.c`
//! (`list_domains`, `output_physinfo`, `output_xeninfo`), and domain-name resolution.

use libxen::ctrl::{DomainInfo, PhysInfo, XenVersion};
use xen_abi::domctl::*;
use xen_abi::sysctl::*;

/// `xl list`'s header line.
pub const LIST_HEADER: &str =
    "Name                                        ID   Mem VCPUs\tState\tTime(s)";

/// One `xl list` line (`%-40s %5d %5lu %5d     %c%c%c%c%c%c  %8.1f`).
pub fn list_line(name: &str, d: &DomainInfo) -> String {
    const LETTERS: &[u8] = b"-rscwS";
    let f = d.flags;
    let shutdown = f & XEN_DOMINF_shutdown != 0;
    let reason = if shutdown {
        (f >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask
    } else {
        0
    };
    let flag = |b: u32, c: char| if f & b != 0 { c } else { '-' };
    let mem_mib = (d.tot_pages * 4 + d.outstanding_pages * 4) / 1024;
    format!(
        "{:<40} {:>5} {:>5} {:>5}     {}{}{}{}{}{}  {:>8.1}",
        name,
        d.domain,
        mem_mib,
        d.nr_online_vcpus,
        flag(XEN_DOMINF_running, 'r'),
        flag(XEN_DOMINF_blocked, 'b'),
        flag(XEN_DOMINF_paused, 'p'),
        flag(XEN_DOMINF_shutdown, 's'),
        LETTERS.get(reason as usize).map_or('?', |&c| c as char),
        flag(XEN_DOMINF_dying, 'd'),
        d.cpu_time as f64 / 1e9
    )
}

/// The uname fields `xl info` starts with.
#[derive(Debug, Clone, Default)]
pub struct Uname {
    pub host: String,
    pub release: String,
    pub version: String,
    pub machine: String,
}

/// `xl info`: node, physinfo and Xen's version as `main_info` prints them.
pub fn info(u: &Uname, p: &PhysInfo, v: &XenVersion, free_cpus: u32) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("{k:<23}: {v}\n"));
    line("host", u.host.clone());
    line("release", u.release.clone());
    line("version", u.version.clone());
    line("machine", u.machine.clone());
    line("nr_cpus", p.nr_cpus.to_string());
    line("max_cpu_id", p.max_cpu_id.to_string());
    line("nr_nodes", p.nr_nodes.to_string());
    line("cores_per_socket", p.cores_per_socket.to_string());
    line("threads_per_core", p.threads_per_core.to_string());
    line(
        "cpu_mhz",
        format!("{}.{:03}", p.cpu_khz / 1000, p.cpu_khz % 1000),
    );
    line(
        "hw_caps",
        p.hw_cap
            .iter()
            .map(|c| format!("{c:08x}"))
            .collect::<Vec<_>>()
            .join(":"),
    );
    let c = p.capabilities;
    let has = |b: u32| c & b != 0;
    let mut caps = String::new();
    for (ok, n) in [
        (has(XEN_SYSCTL_PHYSCAP_pv), " pv"),
        (has(XEN_SYSCTL_PHYSCAP_hvm), " hvm"),
        (
            has(XEN_SYSCTL_PHYSCAP_hvm) && has(XEN_SYSCTL_PHYSCAP_directio),
            " hvm_directio",
        ),
        (
            has(XEN_SYSCTL_PHYSCAP_pv) && has(XEN_SYSCTL_PHYSCAP_directio),
            " pv_directio",
        ),
        (has(XEN_SYSCTL_PHYSCAP_hap), " hap"),
        (has(XEN_SYSCTL_PHYSCAP_shadow), " shadow"),
        (
            has(XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share),
            " iommu_hap_pt_share",
        ),
        (has(XEN_SYSCTL_PHYSCAP_vmtrace), " vmtrace"),
        (has(XEN_SYSCTL_PHYSCAP_vpmu), " vpmu"),
        (has(XEN_SYSCTL_PHYSCAP_gnttab_v1), " gnttab-v1"),
        (has(XEN_SYSCTL_PHYSCAP_gnttab_v2), " gnttab-v2"),
    ] {
        if ok {
            caps.push_str(n);
        }
    }
    s.push_str(&format!("{:<23}:{caps}\n", "virt_caps"));
    let mut line = |k: &str, v: String| s.push_str(&format!("{k:<23}: {v}\n"));
    let per_mib = u64::from((1u32 << 20) / v.pagesize.max(1));
    line("total_memory", (p.total_pages / per_mib).to_string());
    line(
        "free_memory",
        (p.free_pages.saturating_sub(p.outstanding_pages) / per_mib).to_string(),
    );
    line("sharing_freed_memory", "0".into());
    line("sharing_used_memory", "0".into());
    line(
        "outstanding_claims",
        (p.outstanding_pages / per_mib).to_string(),
    );
    line("free_cpus", free_cpus.to_string());
    line("xen_major", v.major.to_string());
    line("xen_minor", v.minor.to_string());
    line("xen_extra", v.extra.clone());
    line("xen_version", format!("{}.{}{}", v.major, v.minor, v.extra));
    line("xen_caps", v.capabilities.clone());
    line("xen_scheduler", "credit2".into());
    line("xen_pagesize", v.pagesize.to_string());
    line("platform_params", "virt_start=0x0".into());
    line("xen_changeset", String::new());
    line("xen_commandline", String::new());
    line("cc_compiler", String::new());
    line("cc_compile_by", String::new());
    line("cc_compile_domain", String::new());
    line("cc_compile_date", String::new());
    line("build_id", String::new());
    line("xend_config_format", "4".into());
    s
}

/// Resolves `xl`'s domain argument: a number is a domid, anything else a name, looked up
/// among `(domid, name)` (as `libxl_name_to_domid`).
pub fn resolve(arg: &str, names: &[(u16, String)]) -> Result<u16, String> {
    if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_digit()) {
        return arg
            .parse::<u16>()
            .map_err(|_| format!("{arg} is not a valid domain id"));
    }
    names
        .iter()
        .find(|(_, n)| n == arg)
        .map(|(d, _)| *d)
        .ok_or_else(|| format!("{arg} is an invalid domain identifier (rc=-6)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use xen_abi::FromZeros;

    #[test]
    fn list_format_matches_xl() {
        let mut d = DomainInfo::new_zeroed();
        d.domain = 0;
        d.tot_pages = 131072;
        d.nr_online_vcpus = 2;
        d.flags = XEN_DOMINF_running;
        d.cpu_time = 12_345_000_000;
        assert_eq!(
            list_line("Domain-0", &d),
            "Domain-0                                     0   512     2     r-----      12.3"
        );
        assert_eq!(LIST_HEADER.find("ID"), Some(44));
        d.domain = 3;
        d.flags = XEN_DOMINF_shutdown | (3 << XEN_DOMINF_shutdownshift) | XEN_DOMINF_dying;
        assert!(list_line("g", &d).contains("---scd"));
    }

    #[test]
    fn info_has_xl_keys() {
        let mut p = PhysInfo::new_zeroed();
        p.nr_cpus = 2;
        p.total_pages = 2 << 18;
        p.free_pages = 1 << 18;
        p.capabilities =
            XEN_SYSCTL_PHYSCAP_hvm | XEN_SYSCTL_PHYSCAP_hap | XEN_SYSCTL_PHYSCAP_gnttab_v1;
        let v = XenVersion {
            major: 4,
            minor: 17,
            extra: ".0".into(),
            capabilities: "xen-3.0-aarch64 xen-3.0-armv7l ".into(),
            pagesize: 4096,
        };
        let s = info(&Uname::default(), &p, &v, 2);
        assert!(s.contains("\ntotal_memory           : 2048\n"), "{s}");
        assert!(s.contains("\nfree_memory            : 1024\n"), "{s}");
        assert!(
            s.contains("\nvirt_caps              : hvm hap gnttab-v1\n"),
            "{s}"
        );
        assert!(s.contains("\nxen_version            : 4.17.0\n"), "{s}");
    }

    #[test]
    fn resolve_names() {
        let n = vec![(0, "Domain-0".to_string()), (4, "guest".to_string())];
        assert_eq!(resolve("guest", &n), Ok(4));
        assert_eq!(resolve("7", &n), Ok(7));
        assert!(resolve("nope", &n).is_err());
    }
}
