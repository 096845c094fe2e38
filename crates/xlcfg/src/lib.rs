//! Xen's `xl.cfg` domain configuration files, as pure logic for the `xl create` toolstack.
//!
//! Models, for an Arm PVH guest:
//! - the generic syntax ([`Config`]): `KEY = VALUE` / `KEY += VALUE` statements separated by
//!   newlines or `;`, values that are numbers, `"strings"`/`'strings'` or `[lists]` (multi-line,
//!   nested, trailing comma allowed), `#` comments; the grammar of Xen's
//!   `tools/libs/util/libxlu_cfg_l.l` and `libxlu_cfg_y.y` (see [`syntax`]);
//! - the domain configuration ([`DomainConfig`]): the keys of `docs/man/xl.cfg.5.pod.in` that an
//!   Arm guest uses, validated and defaulted as `tools/xl/xl_parse.c` does;
//! - `disk` entries ([`Disk`]): `docs/misc/xl-disk-configuration.txt`, positional, keyword and
//!   deprecated (`phy:`, `file:`, `raw:`, ...) forms, as `tools/libs/util/libxlu_disk_l.l`;
//! - `vif` entries ([`Vif`]): `docs/misc/xl-network-configuration.markdown`.
//!
//! Every error names the line (and for syntax errors the column) and says what is wrong. No
//! input makes the parser panic (tested on random bytes).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod disk;
pub mod domain;
pub mod syntax;
pub mod vif;

pub use disk::{Access, BackendType, DevType, Disk, DiskError, DiskFormat, Specification};
pub use domain::{
    Action, ConfigError, DomainConfig, GuestType, Iomem, Uuid, Vuart, Warning, KNOWN_KEYS,
};
pub use syntax::{Config, Entry, Op, ParseError, ParseErrorKind, Value};
pub use vif::{Mac, NicType, Vif, VifError};

use alloc::vec::Vec;
use core::fmt;

/// Anything that stops `xl create` from using a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The file is not valid xl.cfg syntax.
    Parse(ParseError),
    /// A key is missing, of the wrong type or has an invalid value.
    Config(ConfigError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Parse(e) => e.fmt(f),
            Error::Config(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for Error {}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        Error::Parse(e)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

/// Parses an xl.cfg file's bytes into a validated domain configuration and its warnings.
pub fn parse_domain(src: &[u8]) -> Result<(DomainConfig, Vec<Warning>), Error> {
    let cfg = Config::parse_bytes(src)?;
    let mut warnings = Vec::new();
    let dom = DomainConfig::from_config(&cfg, &mut warnings)?;
    Ok((dom, warnings))
}
