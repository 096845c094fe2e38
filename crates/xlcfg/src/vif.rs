//! One `vif = [ '<vifspec>', ... ]` entry, per Xen's
//! `docs/misc/xl-network-configuration.markdown` and `parse_nic_config()` in
//! `tools/xl/xl_parse.c`: comma-separated `key=value` pairs, all optional (`''` is a valid vif).
//!
//! Unrecognised arguments are warnings, as in xl; a malformed `mac`, `type`, `devid` or `mtu`
//! is an error (xl prints a message and goes on with a half-set NIC).

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl Mac {
    /// Six groups of one or two hex digits separated by `:` (or `-`).
    pub fn parse(s: &str) -> Option<Mac> {
        let mut out = [0u8; 6];
        let mut groups = s.split([':', '-']);
        for byte in &mut out {
            let g = groups.next()?;
            if g.is_empty() || g.len() > 2 || !g.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            *byte = u8::from_str_radix(g, 16).ok()?;
        }
        groups.next().is_none().then_some(Mac(out))
    }
}

/// `type=` (`libxl_nic_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NicType {
    /// `vif`: paravirtualised only.
    Vif,
    /// `ioemu`: emulated and PV (HVM only; meaningless on Arm).
    Ioemu,
}

/// A parsed vifspec. `None` means "the toolstack default" (e.g. bridge `xenbr0`, a random
/// `00:16:3e` MAC, the `vif-bridge` script, backend dom0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vif {
    pub mac: Option<Mac>,
    pub bridge: Option<String>,
    pub ip: Option<String>,
    pub model: Option<String>,
    pub script: Option<String>,
    /// `type=`.
    pub nictype: Option<NicType>,
    pub vifname: Option<String>,
    /// `backend=`: the backend domain's name.
    pub backend: Option<String>,
    /// `gatewaydev=` (or the deprecated `netdev=`).
    pub gatewaydev: Option<String>,
    /// `rate=`, verbatim (e.g. `10Mb/s@20ms`).
    pub rate: Option<String>,
    pub mtu: Option<u32>,
    pub devid: Option<u32>,
    /// Arguments xl knows but this crate does not model (`colo_*`, `forwarddev`, `accel`).
    pub other: Vec<(String, String)>,
}

/// Why a vifspec was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VifError {
    /// The offending `key=value` argument.
    pub arg: String,
    pub message: &'static str,
}

impl fmt::Display for VifError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in '{}'", self.message, self.arg)
    }
}

fn set(slot: &mut Option<String>, v: &str) {
    *slot = Some(v.to_owned());
}

impl Vif {
    /// Parses one vifspec; messages about ignored arguments are pushed to `warnings`.
    pub fn parse(spec: &str, warnings: &mut Vec<String>) -> Result<Vif, VifError> {
        let mut vif = Vif::default();
        for arg in spec.split(',') {
            let arg = arg.trim_start_matches([' ', '\t']);
            if arg.is_empty() {
                continue;
            }
            let bad = |message| VifError {
                arg: arg.to_owned(),
                message,
            };
            let Some((key, v)) = arg.split_once('=') else {
                warnings.push(format!("unrecognized vif argument '{arg}' (ignored)"));
                continue;
            };
            match key {
                "mac" => {
                    vif.mac = Some(
                        Mac::parse(v).ok_or_else(|| bad("invalid mac (want xx:xx:xx:xx:xx:xx)"))?,
                    )
                }
                "bridge" => set(&mut vif.bridge, v),
                "ip" => set(&mut vif.ip, v),
                "model" => set(&mut vif.model, v),
                "script" => set(&mut vif.script, v),
                "vifname" => set(&mut vif.vifname, v),
                "backend" => set(&mut vif.backend, v),
                "gatewaydev" => set(&mut vif.gatewaydev, v),
                "netdev" => {
                    warnings.push(
                        "the netdev parameter is deprecated, please use gatewaydev instead"
                            .to_owned(),
                    );
                    set(&mut vif.gatewaydev, v)
                }
                "rate" => set(&mut vif.rate, v),
                "type" => {
                    vif.nictype = Some(match v {
                        "vif" => NicType::Vif,
                        "ioemu" => NicType::Ioemu,
                        _ => return Err(bad("invalid type (want vif or ioemu)")),
                    })
                }
                "devid" => vif.devid = Some(v.parse().map_err(|_| bad("invalid devid"))?),
                "mtu" => vif.mtu = Some(v.parse().map_err(|_| bad("invalid mtu"))?),
                "accel" => {
                    warnings.push("the accel parameter is currently not supported".to_owned());
                    vif.other.push((key.to_owned(), v.to_owned()))
                }
                "forwarddev" => vif.other.push((key.to_owned(), v.to_owned())),
                k if k.starts_with("colo_") => vif.other.push((key.to_owned(), v.to_owned())),
                _ => warnings.push(format!("unrecognized vif argument '{arg}' (ignored)")),
            }
        }
        Ok(vif)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn documented_examples() {
        let mut w = Vec::new();
        let v = Vif::parse("mac=00:16:3E:74:3d:76,model=rtl8139,bridge=xenbr0", &mut w).unwrap();
        assert_eq!(v.mac, Some(Mac([0x00, 0x16, 0x3e, 0x74, 0x3d, 0x76])));
        assert_eq!(v.model.as_deref(), Some("rtl8139"));
        assert_eq!(v.bridge.as_deref(), Some("xenbr0"));
        assert_eq!(Vif::parse("", &mut w).unwrap(), Vif::default());
        let v = Vif::parse(
            " ip=10.0.0.2 , script=vif-route,vifname=g0,backend=net,type=vif,devid=3,mtu=9000",
            &mut w,
        )
        .unwrap();
        assert_eq!(v.ip.as_deref(), Some("10.0.0.2 "));
        assert_eq!(v.script.as_deref(), Some("vif-route"));
        assert_eq!(v.vifname.as_deref(), Some("g0"));
        assert_eq!(v.backend.as_deref(), Some("net"));
        assert_eq!(
            (v.nictype, v.devid, v.mtu),
            (Some(NicType::Vif), Some(3), Some(9000))
        );
        assert!(w.is_empty());
        assert_eq!(
            Mac([0, 0x16, 0x3e, 1, 2, 0xab]).to_string(),
            "00:16:3e:01:02:ab"
        );
    }

    #[test]
    fn warnings_and_errors() {
        let mut w = Vec::new();
        let v = Vif::parse("bridge=br0,bogus=1,flag,netdev=eth0", &mut w).unwrap();
        assert_eq!(v.gatewaydev.as_deref(), Some("eth0"));
        assert_eq!(w.len(), 3);
        assert!(w[0].contains("'bogus=1'"));
        let e = |s: &str| Vif::parse(s, &mut vec![]).unwrap_err().to_string();
        assert_eq!(
            e("mac=00:16:3e:00:00"),
            "invalid mac (want xx:xx:xx:xx:xx:xx) in 'mac=00:16:3e:00:00'"
        );
        assert!(e("mac=00:16:3e:00:00:100").starts_with("invalid mac"));
        assert!(e("mac=zz:16:3e:00:00:01").starts_with("invalid mac"));
        assert!(e("type=e1000").starts_with("invalid type"));
        assert!(e("devid=-1").starts_with("invalid devid"));
    }
}
