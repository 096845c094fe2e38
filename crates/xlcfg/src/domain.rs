//! The typed domain configuration `xl create` builds from a [`Config`], following
//! `parse_config_data()` in Xen's `tools/xl/xl_parse.c` and `docs/man/xl.cfg.5.pod.in`,
//! restricted to what an Arm PVH guest uses.
//!
//! Defaults are xl's and libxl's: `type = "pvh"`, `vcpus = 1`, `maxvcpus = vcpus`,
//! `memory = maxmem` or 32 MiB, `maxmem = memory`, `on_poweroff`/`on_crash`/`on_watchdog` =
//! `destroy`, `on_reboot = restart`, `on_soft_reset = soft-reset`. The command line is `cmdline`,
//! else `root=<root> <extra>`. Keys this crate does not model are kept and reported as warnings.

use crate::disk::Disk;
use crate::syntax::{number, Config, Entry, Op, Value};
use crate::vif::Vif;
use addr::{Ipa, Pa, Region, PAGE_SHIFT};
use alloc::borrow::ToOwned;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Default `memory`/`maxmem` when neither is given (libxl's `LIBXL_MEMKB_DEFAULT` becomes 32 MiB).
pub const DEFAULT_MEMORY_MIB: u64 = 32;

/// Largest `memory`/`maxmem` whose size in bytes fits in a `u64`.
pub const MAX_MEMORY_MIB: u64 = u64::MAX >> 20;

/// Guest type. Only PVH exists on Arm (xl.cfg: "This is the default on Arm").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestType {
    Pvh,
}

/// What to do when the guest powers off, reboots, crashes, ... (`libxl_action_on_shutdown`,
/// with xl's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Destroy,
    Restart,
    RenameRestart,
    Preserve,
    CoredumpDestroy,
    CoredumpRestart,
    SoftReset,
}

impl Action {
    /// Every action with its xl.cfg name.
    pub const NAMES: [(&'static str, Action); 7] = [
        ("destroy", Action::Destroy),
        ("restart", Action::Restart),
        ("rename-restart", Action::RenameRestart),
        ("preserve", Action::Preserve),
        ("coredump-destroy", Action::CoredumpDestroy),
        ("coredump-restart", Action::CoredumpRestart),
        ("soft-reset", Action::SoftReset),
    ];

    /// The action named `s` in xl.cfg.
    pub fn from_name(s: &str) -> Option<Action> {
        Self::NAMES.iter().find(|(n, _)| *n == s).map(|&(_, a)| a)
    }

    /// The xl.cfg name.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("destroy", |(n, _)| n)
    }
}

/// `vuart=`: the emulated UART given to the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vuart {
    /// `"sbsa_uart"`: an SBSA (PL011 subset) UART emulated by the hypervisor.
    SbsaUart,
}

/// A domain UUID.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex, either case), as `libxl_uuid_from_string`.
    pub fn parse(s: &str) -> Option<Uuid> {
        let groups: Vec<&str> = s.split('-').collect();
        let lens = [8, 4, 4, 4, 12];
        if groups.len() != lens.len() || groups.iter().zip(lens).any(|(g, l)| g.len() != l) {
            return None;
        }
        let hex: String = groups.concat();
        let mut out = [0u8; 16];
        for (i, b) in out.iter_mut().enumerate() {
            let pair = hex.get(i * 2..i * 2 + 2)?;
            if !pair.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            *b = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Uuid(out))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

/// One `iomem = [ "START,NUM_PAGES[@GFN]" ]` entry: host pages mapped into the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iomem {
    /// Host physical range (`START` and `NUM_PAGES` are page frame numbers/counts).
    pub host: Region<Pa>,
    /// Where the range appears in the guest (`GFN`, default: `START`, i.e. 1:1).
    pub guest: Ipa,
}

impl Iomem {
    /// Parses `START,NUM_PAGES[@GFN]`, hexadecimal (an optional `0x` is accepted), as xl's
    /// `sscanf("%"SCNx64",%"SCNx64"@%"SCNx64)`.
    pub fn parse(s: &str) -> Option<Iomem> {
        fn hex(t: &str) -> Option<u64> {
            let t = t.trim_start();
            let t = t
                .strip_prefix("0x")
                .or_else(|| t.strip_prefix("0X"))
                .unwrap_or(t);
            if t.is_empty() || !t.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            u64::from_str_radix(t, 16).ok()
        }
        fn bytes(frames: u64) -> Option<u64> {
            frames.checked_mul(1u64 << PAGE_SHIFT)
        }
        let (start, rest) = s.split_once(',')?;
        let (num, gfn) = match rest.split_once('@') {
            Some((n, g)) => (n, Some(g)),
            None => (rest, None),
        };
        let start = hex(start)?;
        let pages = hex(num)?;
        if pages == 0 {
            return None;
        }
        let gfn = match gfn {
            Some(g) => hex(g)?,
            None => start,
        };
        let size = bytes(pages)?;
        let host = Region::new(Pa(bytes(start)?), size);
        host.end()?;
        let guest = Ipa(bytes(gfn)?);
        guest.checked_add(size)?;
        Some(Iomem { host, guest })
    }
}

/// The domain configuration `xl create` needs, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainConfig {
    /// `name` (mandatory).
    pub name: String,
    /// `type` (only `"pvh"` on Arm).
    pub guest_type: GuestType,
    /// `uuid`; `None`: the toolstack generates one.
    pub uuid: Option<Uuid>,
    /// `memory`, MiB.
    pub memory_mib: u64,
    /// `maxmem`, MiB (>= `memory_mib`).
    pub maxmem_mib: u64,
    /// `vcpus`: vCPUs online at boot.
    pub vcpus: u32,
    /// `maxvcpus` (>= `vcpus`).
    pub maxvcpus: u32,
    /// `kernel` (mandatory: direct kernel boot).
    pub kernel: String,
    /// `ramdisk`.
    pub ramdisk: Option<String>,
    /// The kernel command line: `cmdline`, else from `root` and `extra`.
    pub cmdline: Option<String>,
    /// `device_tree`: a partial device tree to merge into the guest's.
    pub device_tree: Option<String>,
    /// `dtdev`: host DT paths of devices passed through.
    pub dtdev: Vec<String>,
    /// `iomem`.
    pub iomem: Vec<Iomem>,
    /// `irqs`: host interrupts routed to the guest.
    pub irqs: Vec<u32>,
    /// `vuart`.
    pub vuart: Option<Vuart>,
    pub on_poweroff: Action,
    pub on_reboot: Action,
    pub on_watchdog: Action,
    pub on_crash: Action,
    pub on_soft_reset: Action,
    /// `disk`, in order (the index is the device's position).
    pub disks: Vec<Disk>,
    /// `vif`, in order (the index is the `DEVID` unless `devid=` says otherwise).
    pub vifs: Vec<Vif>,
    /// Statements with keys this crate does not model, verbatim (each reported as a warning).
    pub unknown: Vec<Entry>,
}

/// A problem that does not stop `xl create`: an ignored key or argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Line of the statement concerned.
    pub line: u32,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: warning: {}", self.line, self.message)
    }
}

/// A key whose value is missing, of the wrong type or invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Line of the offending statement; `None` for a missing mandatory key.
    pub line: Option<u32>,
    /// The key concerned.
    pub key: String,
    /// What is wrong, starting with the key (e.g. "memory must be a positive number of MiB").
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl core::error::Error for ConfigError {}

/// Keys [`DomainConfig::from_config`] reads.
pub const KNOWN_KEYS: &[&str] = &[
    "name",
    "type",
    "uuid",
    "memory",
    "maxmem",
    "vcpus",
    "maxvcpus",
    "kernel",
    "ramdisk",
    "cmdline",
    "root",
    "extra",
    "device_tree",
    "dtdev",
    "iomem",
    "irqs",
    "vuart",
    "on_poweroff",
    "on_reboot",
    "on_watchdog",
    "on_crash",
    "on_soft_reset",
    "disk",
    "vif",
];

struct Reader<'a> {
    cfg: &'a Config,
}

fn error(e: &Entry, message: String) -> ConfigError {
    ConfigError {
        line: Some(e.line),
        key: e.key.clone(),
        message,
    }
}

impl<'a> Reader<'a> {
    fn entry(&self, key: &str) -> Option<&'a Entry> {
        self.cfg.get(key)
    }

    /// A string key.
    fn string(&self, key: &str) -> Result<Option<(&'a str, &'a Entry)>, ConfigError> {
        let Some(e) = self.entry(key) else {
            return Ok(None);
        };
        match &e.value {
            Value::Str(s) => Ok(Some((s, e))),
            v => Err(error(
                e,
                format!("{key} must be a \"string\", not a {}", v.kind()),
            )),
        }
    }

    /// A number key (a quoted number is accepted, as xl does); `what` completes
    /// "<key> must be ...".
    fn number(&self, key: &str, what: &str) -> Result<Option<(u64, &'a Entry)>, ConfigError> {
        let Some(e) = self.entry(key) else {
            return Ok(None);
        };
        let n = match &e.value {
            Value::Int(n) => Some(*n),
            Value::Str(s) => number(s).ok(),
            Value::List(_) => None,
        };
        match n {
            Some(n) => Ok(Some((n, e))),
            None => Err(error(e, format!("{key} must be {what}"))),
        }
    }

    /// A list key.
    fn list(&self, key: &str) -> Result<Option<(&'a [Value], &'a Entry)>, ConfigError> {
        let Some(e) = self.entry(key) else {
            return Ok(None);
        };
        match &e.value {
            Value::List(l) => Ok(Some((l, e))),
            v => Err(error(
                e,
                format!("{key} must be a [list], not a {}", v.kind()),
            )),
        }
    }

    /// A list of strings.
    fn strings(&self, key: &str) -> Result<Vec<(&'a str, &'a Entry)>, ConfigError> {
        let Some((items, e)) = self.list(key)? else {
            return Ok(Vec::new());
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Str(s) => Ok((s.as_str(), e)),
                v => Err(error(
                    e,
                    format!("{key}[{i}] must be a \"string\", not a {}", v.kind()),
                )),
            })
            .collect()
    }

    fn action(&self, key: &str, default: Action) -> Result<Action, ConfigError> {
        let Some((s, e)) = self.string(key)? else {
            return Ok(default);
        };
        Action::from_name(s).ok_or_else(|| {
            let names: Vec<&str> = Action::NAMES.iter().map(|(n, _)| *n).collect();
            error(
                e,
                format!(
                    "{key}: unknown action \"{s}\" (expected one of {})",
                    names.join(", ")
                ),
            )
        })
    }
}

impl DomainConfig {
    /// Builds and validates the domain configuration; ignored keys and arguments are
    /// appended to `warnings`.
    pub fn from_config(
        cfg: &Config,
        warnings: &mut Vec<Warning>,
    ) -> Result<DomainConfig, ConfigError> {
        let r = Reader { cfg };

        // Unknown keys and keys set twice: each entry is compared with the next entry
        // of the same key.
        let entries = cfg.entries();
        let mut next_same: Vec<Option<usize>> = alloc::vec![None; entries.len()];
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, e) in entries.iter().enumerate().rev() {
            next_same[i] = seen.insert(e.key.as_str(), i);
        }
        let mut unknown = Vec::new();
        for (e, next) in entries.iter().zip(next_same) {
            let later = next.and_then(|n| entries.get(n));
            if !KNOWN_KEYS.contains(&e.key.as_str()) {
                unknown.push(e.clone());
                if later.is_none() {
                    warnings.push(Warning {
                        line: e.line,
                        message: format!("unknown or unsupported key '{}' (ignored)", e.key),
                    });
                }
            } else if let Some(l) = later {
                if l.op == Op::Assign {
                    warnings.push(Warning {
                        line: e.line,
                        message: format!(
                            "'{}' is set again on line {}; the last setting wins",
                            e.key, l.line
                        ),
                    });
                }
            }
        }

        let name = match r.string("name")? {
            Some((n, _)) if !n.is_empty() => n.to_owned(),
            Some((_, e)) => return Err(error(e, "name must not be empty".to_owned())),
            None => {
                return Err(ConfigError {
                    line: None,
                    key: "name".to_owned(),
                    message: "name must be specified (name = \"NAME\")".to_owned(),
                })
            }
        };

        let guest_type = match r.string("type")? {
            None | Some(("pvh", _)) => GuestType::Pvh,
            Some((t @ ("pv" | "hvm"), e)) => {
                return Err(error(
                    e,
                    format!("type \"{t}\" is not supported on Arm (only \"pvh\")"),
                ))
            }
            Some((t, e)) => return Err(error(e, format!("type must be \"pvh\", not \"{t}\""))),
        };

        let uuid = match r.string("uuid")? {
            None => None,
            Some((s, e)) => Some(Uuid::parse(s).ok_or_else(|| {
                error(
                    e,
                    format!("uuid \"{s}\" must look like xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"),
                )
            })?),
        };

        let mib = |key: &str| -> Result<Option<(u64, &Entry)>, ConfigError> {
            let what = "a positive number of MiB";
            match r.number(key, what)? {
                Some((n, e)) if n == 0 || n > MAX_MEMORY_MIB => {
                    Err(error(e, format!("{key} must be {what}")))
                }
                other => Ok(other),
            }
        };
        let memory = mib("memory")?;
        let maxmem = mib("maxmem")?;
        let memory_mib = memory.or(maxmem).map_or(DEFAULT_MEMORY_MIB, |(n, _)| n);
        let maxmem_mib = maxmem.map_or(memory_mib, |(n, _)| n);
        if let Some((_, e)) = maxmem {
            if maxmem_mib < memory_mib {
                return Err(error(
                    e,
                    format!("maxmem ({maxmem_mib} MiB) must be >= memory ({memory_mib} MiB)"),
                ));
            }
        }

        let count = |key: &str| -> Result<Option<(u32, &Entry)>, ConfigError> {
            let what = "a positive number";
            match r.number(key, what)? {
                Some((n, e)) => match u32::try_from(n) {
                    Ok(n) if n > 0 => Ok(Some((n, e))),
                    _ => Err(error(e, format!("{key} must be {what}"))),
                },
                None => Ok(None),
            }
        };
        let vcpus = count("vcpus")?.map_or(1, |(n, _)| n);
        let maxvcpus = match count("maxvcpus")? {
            Some((m, e)) if m < vcpus => {
                return Err(error(
                    e,
                    format!("maxvcpus ({m}) must be >= vcpus ({vcpus})"),
                ))
            }
            Some((m, _)) => m,
            None => vcpus,
        };

        let kernel = match r.string("kernel")? {
            Some((k, _)) if !k.is_empty() => k.to_owned(),
            Some((_, e)) => return Err(error(e, "kernel must not be empty".to_owned())),
            None => {
                return Err(ConfigError {
                    line: None,
                    key: "kernel".to_owned(),
                    message: "kernel must be specified (kernel = \"/path/to/Image\"): Arm guests boot a kernel directly".to_owned(),
                })
            }
        };
        let ramdisk = r.string("ramdisk")?.map(|(s, _)| s.to_owned());
        let device_tree = r.string("device_tree")?.map(|(s, _)| s.to_owned());

        let root = r.string("root")?;
        let extra = r.string("extra")?;
        let cmdline = match r.string("cmdline")? {
            Some((c, e)) => {
                if root.is_some() || extra.is_some() {
                    warnings.push(Warning {
                        line: e.line,
                        message: "ignoring root= and extra= in favour of cmdline=".to_owned(),
                    });
                }
                Some(c.to_owned())
            }
            None => match (root, extra) {
                (Some((r, _)), Some((x, _))) => Some(format!("root={r} {x}")),
                (Some((r, _)), None) => Some(format!("root={r}")),
                (None, Some((x, _))) => Some(x.to_owned()),
                (None, None) => None,
            },
        };

        let vuart = match r.string("vuart")? {
            None => None,
            Some(("sbsa_uart", _)) => Some(Vuart::SbsaUart),
            Some((v, e)) => {
                return Err(error(
                    e,
                    format!("vuart must be \"sbsa_uart\", not \"{v}\""),
                ))
            }
        };

        let dtdev = r
            .strings("dtdev")?
            .into_iter()
            .map(|(s, _)| s.to_owned())
            .collect();

        let mut iomem = Vec::new();
        for (i, (s, e)) in r.strings("iomem")?.into_iter().enumerate() {
            iomem.push(Iomem::parse(s).ok_or_else(|| {
                error(
                    e,
                    format!("iomem[{i}] \"{s}\" must be \"START,NUM_PAGES[@GFN]\" in hexadecimal page numbers, with NUM_PAGES > 0 and no overflow"),
                )
            })?);
        }

        let mut irqs = Vec::new();
        if let Some((items, e)) = r.list("irqs")? {
            for (i, v) in items.iter().enumerate() {
                let n = match v {
                    Value::Int(n) => Some(*n),
                    Value::Str(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => {
                        s.parse().ok()
                    }
                    _ => None,
                };
                match n
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|&n| n != u32::MAX)
                {
                    Some(n) => irqs.push(n),
                    None => {
                        return Err(error(
                            e,
                            format!("irqs[{i}] must be an interrupt number, not {v}"),
                        ))
                    }
                }
            }
        }

        let mut disks = Vec::new();
        for (i, (s, e)) in r.strings("disk")?.into_iter().enumerate() {
            disks
                .push(Disk::parse(s).map_err(|err| error(e, format!("disk[{i}] \"{s}\": {err}")))?);
        }

        let mut vifs = Vec::new();
        for (i, (s, e)) in r.strings("vif")?.into_iter().enumerate() {
            let mut msgs = Vec::new();
            vifs.push(
                Vif::parse(s, &mut msgs)
                    .map_err(|err| error(e, format!("vif[{i}] \"{s}\": {err}")))?,
            );
            warnings.extend(msgs.into_iter().map(|m| Warning {
                line: e.line,
                message: format!("vif[{i}]: {m}"),
            }));
        }

        Ok(DomainConfig {
            name,
            guest_type,
            uuid,
            memory_mib,
            maxmem_mib,
            vcpus,
            maxvcpus,
            kernel,
            ramdisk,
            cmdline,
            device_tree,
            dtdev,
            iomem,
            irqs,
            vuart,
            on_poweroff: r.action("on_poweroff", Action::Destroy)?,
            on_reboot: r.action("on_reboot", Action::Restart)?,
            on_watchdog: r.action("on_watchdog", Action::Destroy)?,
            on_crash: r.action("on_crash", Action::Destroy)?,
            on_soft_reset: r.action("on_soft_reset", Action::SoftReset)?,
            disks,
            vifs,
            unknown,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn dom(src: &str) -> Result<(DomainConfig, Vec<Warning>), String> {
        let cfg = Config::parse(src).map_err(|e| e.to_string())?;
        let mut w = Vec::new();
        DomainConfig::from_config(&cfg, &mut w)
            .map(|d| (d, w))
            .map_err(|e| e.to_string())
    }

    const MIN: &str = "name = \"g\"\nkernel = \"/k\"\n";

    #[test]
    fn defaults() {
        let (d, w) = dom(MIN).unwrap();
        assert!(w.is_empty());
        assert_eq!(
            (d.memory_mib, d.maxmem_mib, d.vcpus, d.maxvcpus),
            (32, 32, 1, 1)
        );
        assert_eq!(
            (
                d.on_poweroff,
                d.on_reboot,
                d.on_watchdog,
                d.on_crash,
                d.on_soft_reset
            ),
            (
                Action::Destroy,
                Action::Restart,
                Action::Destroy,
                Action::Destroy,
                Action::SoftReset
            )
        );
        let (d, _) = dom(&format!("{MIN}maxmem = 0x100")).unwrap();
        assert_eq!((d.memory_mib, d.maxmem_mib), (256, 256));
        let (d, _) = dom(&format!("{MIN}memory = \"512\"\nvcpus = 2")).unwrap();
        assert_eq!(
            (d.memory_mib, d.maxmem_mib, d.vcpus, d.maxvcpus),
            (512, 512, 2, 2)
        );
    }

    #[test]
    fn cmdline_rules() {
        let c = |s: &str| dom(&format!("{MIN}{s}")).unwrap().0.cmdline;
        assert_eq!(
            c("root = '/dev/xvda1 ro'\nextra = 'console=hvc0'"),
            Some("root=/dev/xvda1 ro console=hvc0".into())
        );
        assert_eq!(c("root = '/dev/xvda1'"), Some("root=/dev/xvda1".into()));
        assert_eq!(c("extra = 'quiet'"), Some("quiet".into()));
        let (d, w) = dom(&format!("{MIN}cmdline = 'a'\nextra = 'b'")).unwrap();
        assert_eq!(d.cmdline.as_deref(), Some("a"));
        assert_eq!(
            w[0].to_string(),
            "line 3: warning: ignoring root= and extra= in favour of cmdline="
        );
    }

    #[test]
    fn validation_errors() {
        let e = |s: &str| dom(&format!("{MIN}{s}")).unwrap_err();
        assert_eq!(
            dom("kernel = '/k'").unwrap_err(),
            "name must be specified (name = \"NAME\")"
        );
        assert!(dom("name = 'x'")
            .unwrap_err()
            .starts_with("kernel must be specified"));
        assert_eq!(
            e("memory = 0"),
            "line 3: memory must be a positive number of MiB"
        );
        assert_eq!(
            e("memory = 'lots'"),
            "line 3: memory must be a positive number of MiB"
        );
        assert_eq!(
            e("memory = 512\nmaxmem = 256"),
            "line 4: maxmem (256 MiB) must be >= memory (512 MiB)"
        );
        assert_eq!(
            e("vcpus = 4\nmaxvcpus = 2"),
            "line 4: maxvcpus (2) must be >= vcpus (4)"
        );
        assert_eq!(
            e("vcpus = 0x100000000"),
            "line 3: vcpus must be a positive number"
        );
        assert_eq!(
            e("type = 'hvm'"),
            "line 3: type \"hvm\" is not supported on Arm (only \"pvh\")"
        );
        assert_eq!(
            e("name = 5"),
            "line 3: name must be a \"string\", not a number"
        );
        assert!(
            e("on_crash = 'explode'").starts_with("line 3: on_crash: unknown action \"explode\"")
        );
        assert!(e("uuid = '1234'").starts_with("line 3: uuid \"1234\" must look like"));
        assert_eq!(
            e("vuart = 'pl011'"),
            "line 3: vuart must be \"sbsa_uart\", not \"pl011\""
        );
        assert!(e("iomem = ['1000']").starts_with("line 3: iomem[0] \"1000\" must be"));
        assert!(e("iomem = ['fffffffffffff,2']").starts_with("line 3: iomem[0]"));
        assert_eq!(
            e("irqs = [1, 'x']"),
            "line 3: irqs[1] must be an interrupt number, not \"x\""
        );
        assert_eq!(
            e("dtdev = '/a'"),
            "line 3: dtdev must be a [list], not a string"
        );
        assert_eq!(
            e("disk = ['/img']"),
            "line 3: disk[0] \"/img\": no vdev specified"
        );
        assert!(e("vif = ['mac=1']").starts_with("line 3: vif[0] \"mac=1\": invalid mac"));
    }

    #[test]
    fn passthrough_keys() {
        let (d, _) = dom(&format!(
            "{MIN}iomem = ['9000,1', '0x9010,2@80000']\nirqs = [33, '34']\ndtdev = ['/soc/eth@9000000']\nvuart = 'sbsa_uart'\nuuid = '6E8F3C2A-1B2D-4E5F-8A9B-0C1D2E3F4A5B'"
        ))
        .unwrap();
        assert_eq!(
            d.iomem[0],
            Iomem {
                host: Region::new(Pa(0x900_0000), 0x1000),
                guest: Ipa(0x900_0000)
            }
        );
        assert_eq!(
            d.iomem[1],
            Iomem {
                host: Region::new(Pa(0x901_0000), 0x2000),
                guest: Ipa(0x8000_0000)
            }
        );
        assert_eq!(d.irqs, [33, 34]);
        assert_eq!(d.dtdev, ["/soc/eth@9000000"]);
        assert_eq!(d.vuart, Some(Vuart::SbsaUart));
        assert_eq!(
            d.uuid.unwrap().to_string(),
            "6e8f3c2a-1b2d-4e5f-8a9b-0c1d2e3f4a5b"
        );
    }

    #[test]
    fn warnings() {
        let (d, w) = dom(&format!(
            "{MIN}builder = 'generic'\nmemory = 64\nmemory = 128\nvif = ['bridge=br0,foo=1']"
        ))
        .unwrap();
        assert_eq!(d.memory_mib, 128);
        assert_eq!(d.unknown.len(), 1);
        let w: Vec<String> = w.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            [
                "line 3: warning: unknown or unsupported key 'builder' (ignored)",
                "line 4: warning: 'memory' is set again on line 5; the last setting wins",
                "line 6: warning: vif[0]: unrecognized vif argument 'foo=1' (ignored)",
            ]
        );
    }
}
