//! One `disk = [ '<diskspec>', ... ]` entry, per Xen's `docs/misc/xl-disk-configuration.txt`
//! and its scanner `tools/libs/util/libxlu_disk_l.l` / `libxlu_disk.c`.
//!
//! A diskspec is comma-separated `key=value` pairs, flags and positional parameters
//! (`target, format, vdev, access`, in that order), plus the deprecated xend syntax
//! `[<format>:][<target>],<vdev>[:<devtype>],<access>` with prefixes such as `phy:` and
//! `file:` (ignored), `raw:`/`qcow:`/`qcow2:`/`vhd:` (a format), `iscsi:`/`nbd:`/`enbd:`/`drbd:`
//! (a `block-*` script). `target=` swallows the rest of the spec, commas included.
//! Where flex picks the longest match, so does this scanner.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Image format (`libxl_disk_format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskFormat {
    Raw,
    Qcow,
    Qcow2,
    Vhd,
    Qed,
    /// An empty (cdrom) drive.
    Empty,
}

/// How the guest may use the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// `devtype=` (`cdrom` implies read-only and removable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevType {
    Disk,
    Cdrom,
}

/// `backendtype=` (`libxl_disk_backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendType {
    Phy,
    Tap,
    Qdisk,
    Standalone,
}

/// `specification=` (`libxl_disk_specification`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Specification {
    Xen,
    Virtio,
}

/// A parsed diskspec, defaults applied as `xlu_disk_parse` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    /// Block device or image path (`pdev_path`); `None` only for an empty cdrom.
    pub target: Option<String>,
    pub format: DiskFormat,
    /// Virtual device as the guest sees it (`xvda`, `hdc`, ...).
    pub vdev: String,
    pub access: Access,
    pub devtype: DevType,
    /// `backend=`: the backend domain's name (default: dom0).
    pub backend: Option<String>,
    pub backendtype: Option<BackendType>,
    /// `script=` (or `block-<x>` from a deprecated `<x>:` prefix).
    pub script: Option<String>,
    pub specification: Option<Specification>,
    pub direct_io_safe: bool,
    /// `discard` / `no-discard`.
    pub discard: Option<bool>,
    /// `trusted` / `untrusted`.
    pub trusted: Option<bool>,
    /// `grant_usage=0|1`.
    pub grant_usage: Option<bool>,
    /// COLO parameters (`colo`, `no-colo`, `colo-host=`, ...), kept verbatim: unstable in Xen.
    pub colo: Vec<String>,
}

/// Why a diskspec was rejected: `message`, near the text `near`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskError {
    pub message: &'static str,
    pub near: Option<String>,
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)?;
        if let Some(n) = &self.near {
            write!(f, " near '{n}'")?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct State {
    target: Option<String>,
    format: Option<DiskFormat>,
    vdev: Option<String>,
    access: Option<Access>,
    access_set: bool,
    cdrom: Option<bool>,
    backend: Option<String>,
    backendtype: Option<BackendType>,
    script: Option<String>,
    specification: Option<Specification>,
    direct_io_safe: bool,
    discard: Option<bool>,
    trusted: Option<bool>,
    grant_usage: Option<bool>,
    colo: Vec<String>,
    had_depr_prefix: bool,
}

fn err(message: &'static str, near: &str) -> DiskError {
    DiskError {
        message,
        near: Some(near.to_owned()),
    }
}

/// `savestring`: a string may be given once (re-setting an empty one is allowed).
fn save(slot: &mut Option<String>, value: &str, what: &'static str) -> Result<(), DiskError> {
    if let Some(old) = slot {
        if !old.is_empty() {
            return Err(err(what, value));
        }
    }
    *slot = Some(value.to_owned());
    Ok(())
}

fn set_format(st: &mut State, s: &str) -> Result<(), DiskError> {
    let f = match s {
        "" | "raw" => DiskFormat::Raw,
        "qcow" => DiskFormat::Qcow,
        "qcow2" => DiskFormat::Qcow2,
        "vhd" => DiskFormat::Vhd,
        "empty" => DiskFormat::Empty,
        "qed" => DiskFormat::Qed,
        _ => return Err(err("unknown value for format", s)),
    };
    match st.format {
        Some(old) if old != f => Err(err("format respecified", s)),
        _ => {
            st.format = Some(f);
            Ok(())
        }
    }
}

fn set_access(st: &mut State, s: &str) -> Result<(), DiskError> {
    st.access = Some(match s {
        "r" | "ro" => Access::ReadOnly,
        "" | "w" | "rw" => Access::ReadWrite,
        _ => return Err(err("unknown value for access", s)),
    });
    Ok(())
}

/// `<vdev>:<devtype>` (deprecated); `Ok(false)` if `s` has no colon.
fn vdev_and_devtype(st: &mut State, s: &str) -> Result<bool, DiskError> {
    let Some((vdev, ty)) = s.rsplit_once(':') else {
        return Ok(false);
    };
    save(&mut st.vdev, vdev, "vdev respecified")?;
    st.cdrom = Some(match ty {
        "cdrom" => true,
        "disk" => false,
        _ => return Err(err("unknown deprecated type", ty)),
    });
    Ok(true)
}

fn positional(st: &mut State, s: &str) -> Result<(), DiskError> {
    if st.target.is_none() {
        save(&mut st.target, s, "target respecified")
    } else if !st.had_depr_prefix && st.format.is_none() {
        if st.target.as_deref() == Some("") && vdev_and_devtype(st, s)? {
            st.format = Some(DiskFormat::Empty);
            Ok(())
        } else {
            set_format(st, s)
        }
    } else if st.vdev.is_none() {
        if !vdev_and_devtype(st, s)? {
            save(&mut st.vdev, s, "vdev respecified")?;
        }
        Ok(())
    } else if !st.access_set {
        st.access_set = true;
        set_access(st, s)
    } else {
        Err(err("too many positional parameters", s))
    }
}

/// Flags: a bare word followed by `,` or the end of the spec.
const FLAGS: &[&str] = &[
    "cdrom",
    "direct-io-safe",
    "discard",
    "no-discard",
    "colo",
    "no-colo",
    "trusted",
    "untrusted",
];

/// `key=value` parameters whose value runs to the next `,`.
const KEYS: &[&str] = &[
    "format",
    "devtype",
    "access",
    "backend",
    "backendtype",
    "specification",
    "vdev",
    "script",
    "colo-host",
    "colo-port",
    "colo-export",
    "active-disk",
    "hidden-disk",
    "grant_usage",
];

fn flag(st: &mut State, f: &str) {
    match f {
        "cdrom" => st.cdrom = Some(true),
        "direct-io-safe" => st.direct_io_safe = true,
        "discard" => st.discard = Some(true),
        "no-discard" => st.discard = Some(false),
        "trusted" => st.trusted = Some(true),
        "untrusted" => st.trusted = Some(false),
        other => st.colo.push(other.to_owned()),
    }
}

fn keyword(st: &mut State, key: &str, v: &str) -> Result<(), DiskError> {
    match key {
        "format" => set_format(st, v),
        "devtype" => {
            st.cdrom = Some(match v {
                "cdrom" => true,
                "disk" => false,
                _ => return Err(err("unknown value for type", v)),
            });
            Ok(())
        }
        "access" => set_access(st, v),
        "backend" => save(&mut st.backend, v, "backend respecified"),
        "backendtype" => {
            let b = match v {
                "phy" => BackendType::Phy,
                "tap" => BackendType::Tap,
                "qdisk" => BackendType::Qdisk,
                "standalone" => BackendType::Standalone,
                _ => return Err(err("unknown value for backendtype", v)),
            };
            match st.backendtype {
                Some(old) if old != b => Err(err("backendtype respecified", v)),
                _ => {
                    st.backendtype = Some(b);
                    Ok(())
                }
            }
        }
        "specification" => {
            let s = match v {
                "xen" => Specification::Xen,
                "virtio" => Specification::Virtio,
                _ => return Err(err("unknown value for specification", v)),
            };
            match st.specification {
                Some(old) if old != s => Err(err("specification respecified", v)),
                _ => {
                    st.specification = Some(s);
                    Ok(())
                }
            }
        }
        "vdev" => save(&mut st.vdev, v, "vdev respecified"),
        "script" => save(&mut st.script, v, "script respecified"),
        "grant_usage" => {
            st.grant_usage = Some(match v {
                "1" => true,
                "0" => false,
                _ => return Err(err("bad disk syntax", v)),
            });
            Ok(())
        }
        "colo-port" if !matches!(v.parse::<u16>(), Ok(p) if p != 0) => {
            Err(err("unknown value for colo_port", v))
        }
        _ => {
            st.colo.push(format!("{key}={v}"));
            Ok(())
        }
    }
}

/// Deprecated `<prefix>:` handling; `None` if `rest` does not start with a known prefix.
fn deprecated_prefix(st: &mut State, rest: &str) -> Option<Result<usize, DiskError>> {
    let (word, _) = rest.split_once(':')?;
    let len = word.len() + 1;
    match word {
        "raw" | "qcow" | "qcow2" | "vhd" => {
            st.had_depr_prefix = true;
            Some(set_format(st, word).map(|()| len))
        }
        "iscsi" | "nbd" | "enbd" | "drbd" => {
            st.had_depr_prefix = true;
            let script = format!("block-{word}");
            Some(save(&mut st.script, &script, "script respecified").map(|()| len))
        }
        "tapdisk" | "tap" | "tap2" | "aio" | "ioemu" | "file" | "phy" => {
            st.had_depr_prefix = true;
            Some(Ok(len))
        }
        _ => {
            // `[a-z][a-z0-9]*:` not followed by `[a-z0-9]` is an unknown prefix;
            // `hdc:cdrom` and `/dev/x:y` are positional parameters.
            let wordlike = word.starts_with(|c: char| c.is_ascii_lowercase())
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            let next = rest[len..].chars().next();
            let next_ok = next.is_none_or(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit()));
            if wordlike && next_ok {
                Some(Err(err("unknown deprecated disk prefix", &rest[..len])))
            } else {
                None
            }
        }
    }
}

/// Bytes of `s` up to (not including) the first of `stops`, or all of it.
fn until(s: &str, stops: &[char]) -> usize {
    s.find(stops).unwrap_or(s.len())
}

impl Disk {
    /// Parses one diskspec.
    pub fn parse(spec: &str) -> Result<Disk, DiskError> {
        let mut st = State::default();
        let mut rest = spec;
        while !rest.is_empty() {
            // Whitespace before parameters is ignored.
            let ws = rest.len() - rest.trim_start_matches([' ', '\t', '\n']).len();
            if ws > 0 {
                rest = &rest[ws..];
                continue;
            }
            // `target=` eats the rest of the spec, except one trailing comma.
            if let Some(t) = rest.strip_prefix("target=") {
                let t = t.strip_suffix(',').unwrap_or(t);
                save(&mut st.target, t, "target respecified")?;
                break;
            }
            if let Some(r) = deprecated_prefix(&mut st, rest) {
                rest = &rest[r?..];
                continue;
            }
            let word_len = until(rest, &[',', '=']);
            let word = &rest[..word_len];
            let after = &rest[word_len..];
            if let Some(v) = after.strip_prefix('=') {
                let vlen = until(v, &[',']);
                let value = &v[..vlen];
                let consumed = word_len + 1 + vlen + usize::from(v[vlen..].starts_with(','));
                if KEYS.contains(&word) {
                    keyword(&mut st, word, value)?;
                } else if !word.is_empty()
                    && word.starts_with(|c: char| c.is_ascii_lowercase())
                    && word
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !value.is_empty()
                {
                    return Err(err("unknown parameter", &rest[..word_len + 1 + vlen]));
                } else {
                    return Err(err("bad disk syntax", rest));
                }
                rest = &rest[consumed..];
                continue;
            }
            let consumed = word_len + usize::from(after.starts_with(','));
            if FLAGS.contains(&word) {
                flag(&mut st, word);
            } else {
                positional(&mut st, word)?;
            }
            rest = &rest[consumed..];
        }
        st.finish()
    }
}

impl State {
    fn finish(self) -> Result<Disk, DiskError> {
        let cdrom = self.cdrom == Some(true);
        let mut format = self.format.unwrap_or(DiskFormat::Raw);
        let mut access = self.access.unwrap_or(Access::ReadWrite);
        let target = self.target.filter(|t| !t.is_empty());
        if cdrom {
            access = Access::ReadOnly;
            if target.is_none() {
                format = DiskFormat::Empty;
            }
        }
        let Some(vdev) = self.vdev.filter(|v| !v.is_empty()) else {
            return Err(DiskError {
                message: "no vdev specified",
                near: None,
            });
        };
        if target.is_none() && !cdrom {
            return Err(DiskError {
                message: "no target specified (and device not removable)",
                near: None,
            });
        }
        Ok(Disk {
            target,
            format,
            vdev,
            access,
            devtype: if cdrom { DevType::Cdrom } else { DevType::Disk },
            backend: self.backend.filter(|b| !b.is_empty()),
            backendtype: self.backendtype,
            script: self.script.filter(|s| !s.is_empty()),
            specification: self.specification,
            direct_io_safe: self.direct_io_safe,
            discard: self.discard,
            trusted: self.trusted,
            grant_usage: self.grant_usage,
            colo: self.colo,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn p(s: &str) -> Disk {
        Disk::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn key(d: &Disk) -> (Option<&str>, DiskFormat, &str, Access, DevType) {
        (
            d.target.as_deref(),
            d.format,
            d.vdev.as_str(),
            d.access,
            d.devtype,
        )
    }

    #[test]
    fn documented_equivalences() {
        // xl-disk-configuration.txt: "these strings are equivalent"
        let want = (
            Some("/dev/vg/guest-volume"),
            DiskFormat::Raw,
            "hda",
            Access::ReadWrite,
            DevType::Disk,
        );
        for s in [
            "/dev/vg/guest-volume,,hda",
            "/dev/vg/guest-volume,raw,hda,rw",
            "format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume",
            "raw:/dev/vg/guest-volume,hda,w",
        ] {
            assert_eq!(key(&p(s)), want, "{s}");
        }
        let want = (
            Some("/root/image.iso"),
            DiskFormat::Raw,
            "hdc",
            Access::ReadOnly,
            DevType::Cdrom,
        );
        for s in [
            "/root/image.iso,,hdc,cdrom",
            "/root/image.iso,,hdc,,cdrom",
            "/root/image.iso,raw,hdc,devtype=cdrom",
            "format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso",
            "raw:/root/image.iso,hdc:cdrom,ro",
        ] {
            assert_eq!(key(&p(s)), want, "{s}");
        }
    }

    #[test]
    fn legacy_prefixes() {
        let d = p("phy:/dev/vg0/guest,xvda,w");
        assert_eq!(
            key(&d),
            (
                Some("/dev/vg0/guest"),
                DiskFormat::Raw,
                "xvda",
                Access::ReadWrite,
                DevType::Disk
            )
        );
        let d = p("file:/srv/guest.img,xvdb,r");
        assert_eq!(
            key(&d),
            (
                Some("/srv/guest.img"),
                DiskFormat::Raw,
                "xvdb",
                Access::ReadOnly,
                DevType::Disk
            )
        );
        let d = p("tap:aio:qcow2:/srv/g.qcow2,xvdc,w");
        assert_eq!(d.format, DiskFormat::Qcow2);
        assert_eq!(d.target.as_deref(), Some("/srv/g.qcow2"));
        let d = p("iscsi:iqn.2001-05.com.example:disk,xvdd,w");
        assert_eq!(d.script.as_deref(), Some("block-iscsi"));
        // xend's empty cdrom
        let d = p(",hdc:cdrom,r");
        assert_eq!(
            key(&d),
            (
                None,
                DiskFormat::Empty,
                "hdc",
                Access::ReadOnly,
                DevType::Cdrom
            )
        );
    }

    #[test]
    fn keywords_and_flags() {
        let d = p("vdev=xvda, backend=drv, backendtype=phy, script=block-x, discard, untrusted, direct-io-safe, specification=xen, grant_usage=1, target=/a,b c");
        assert_eq!(d.target.as_deref(), Some("/a,b c"));
        assert_eq!(d.backend.as_deref(), Some("drv"));
        assert_eq!(d.backendtype, Some(BackendType::Phy));
        assert_eq!(d.script.as_deref(), Some("block-x"));
        assert_eq!(
            (d.discard, d.trusted, d.direct_io_safe),
            (Some(true), Some(false), true)
        );
        assert_eq!(d.specification, Some(Specification::Xen));
        assert_eq!(d.grant_usage, Some(true));
        let d = p("/img,qcow2,xvda,ro,no-discard");
        assert_eq!(
            (d.format, d.access, d.discard),
            (DiskFormat::Qcow2, Access::ReadOnly, Some(false))
        );
        let d = p("/img,,xvda,colo,colo-host=h,colo-port=9000");
        assert_eq!(d.colo, ["colo", "colo-host=h", "colo-port=9000"]);
    }

    #[test]
    fn errors() {
        let e = |s: &str| Disk::parse(s).unwrap_err().to_string();
        assert_eq!(e("/img"), "no vdev specified");
        assert_eq!(
            e("vdev=xvda"),
            "no target specified (and device not removable)"
        );
        assert_eq!(
            e("/img,qcow3,xvda"),
            "unknown value for format near 'qcow3'"
        );
        assert_eq!(e("/img,,xvda,rx"), "unknown value for access near 'rx'");
        assert_eq!(
            e("/img,,xvda,rw,extra"),
            "too many positional parameters near 'extra'"
        );
        assert_eq!(e("/img,,xvda,foo=bar"), "unknown parameter near 'foo=bar'");
        assert_eq!(
            e("/img,raw,xvda,format=vhd"),
            "format respecified near 'vhd'"
        );
        assert_eq!(e("/img,,xvda,vdev=xvdb"), "vdev respecified near 'xvdb'");
        assert_eq!(
            e("bogus:/img,xvda"),
            "unknown deprecated disk prefix near 'bogus:'"
        );
        assert_eq!(
            e("/img,,hdc,devtype=floppy"),
            "unknown value for type near 'floppy'"
        );
        assert_eq!(e(",hdc:tape,r"), "unknown deprecated type near 'tape'");
        assert!(e("=x").starts_with("bad disk syntax"));
        assert!(e("").starts_with("no vdev"));
    }
}
