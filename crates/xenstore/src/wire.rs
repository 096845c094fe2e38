//! The xenstore wire protocol (`xen/include/public/io/xs_wire.h`, `docs/misc/xenstore.txt`):
//! the `xsd_sockmsg` header, the `XS_*` message types, the error strings, and an incremental
//! [`Decoder`] for the byte stream of a socket or a shared ring.

use alloc::vec::Vec;
use core::fmt;

/// `XS_CONTROL` (formerly `XS_DEBUG`) (xs_wire.h `enum xsd_sockmsg_type`).
pub const XS_CONTROL: u32 = 0;
/// `XS_DEBUG`: deprecated alias of `XS_CONTROL`.
pub const XS_DEBUG: u32 = 0;
/// `XS_DIRECTORY`.
pub const XS_DIRECTORY: u32 = 1;
/// `XS_READ`.
pub const XS_READ: u32 = 2;
/// `XS_GET_PERMS`.
pub const XS_GET_PERMS: u32 = 3;
/// `XS_WATCH`.
pub const XS_WATCH: u32 = 4;
/// `XS_UNWATCH`.
pub const XS_UNWATCH: u32 = 5;
/// `XS_TRANSACTION_START`.
pub const XS_TRANSACTION_START: u32 = 6;
/// `XS_TRANSACTION_END`.
pub const XS_TRANSACTION_END: u32 = 7;
/// `XS_INTRODUCE`.
pub const XS_INTRODUCE: u32 = 8;
/// `XS_RELEASE`.
pub const XS_RELEASE: u32 = 9;
/// `XS_GET_DOMAIN_PATH`.
pub const XS_GET_DOMAIN_PATH: u32 = 10;
/// `XS_WRITE`.
pub const XS_WRITE: u32 = 11;
/// `XS_MKDIR`.
pub const XS_MKDIR: u32 = 12;
/// `XS_RM`.
pub const XS_RM: u32 = 13;
/// `XS_SET_PERMS`.
pub const XS_SET_PERMS: u32 = 14;
/// `XS_WATCH_EVENT`: only sent by the daemon.
pub const XS_WATCH_EVENT: u32 = 15;
/// `XS_ERROR`: only sent by the daemon.
pub const XS_ERROR: u32 = 16;
/// `XS_IS_DOMAIN_INTRODUCED`.
pub const XS_IS_DOMAIN_INTRODUCED: u32 = 17;
/// `XS_RESUME`.
pub const XS_RESUME: u32 = 18;
/// `XS_SET_TARGET`.
pub const XS_SET_TARGET: u32 = 19;
/// `XS_RESTRICT`: removed; the value 20 is invalid.
pub const XS_RESTRICT: u32 = 20;
/// `XS_RESET_WATCHES` (= `XS_SET_TARGET + 2`).
pub const XS_RESET_WATCHES: u32 = 21;
/// `XS_DIRECTORY_PART`.
pub const XS_DIRECTORY_PART: u32 = 22;
/// `XS_GET_FEATURE`.
pub const XS_GET_FEATURE: u32 = 23;
/// `XS_SET_FEATURE`.
pub const XS_SET_FEATURE: u32 = 24;
/// `XS_GET_QUOTA`.
pub const XS_GET_QUOTA: u32 = 25;
/// `XS_SET_QUOTA`.
pub const XS_SET_QUOTA: u32 = 26;
/// `XS_TYPE_COUNT`: number of valid types.
pub const XS_TYPE_COUNT: u32 = 27;
/// `XS_INVALID`: guaranteed to remain an invalid type.
pub const XS_INVALID: u32 = 0xffff;

/// `XENSTORE_PAYLOAD_MAX`: payload limit in both directions.
pub const XENSTORE_PAYLOAD_MAX: usize = 4096;
/// `XENSTORE_ABS_PATH_MAX`.
pub const XENSTORE_ABS_PATH_MAX: usize = 3072;
/// `XENSTORE_REL_PATH_MAX`.
pub const XENSTORE_REL_PATH_MAX: usize = 2048;

/// `sizeof(struct xsd_sockmsg)`.
pub const XSD_SOCKMSG_LEN: usize = 16;

/// The errors of `xsd_errors[]`, in its order; sent by name (`"ENOENT\0"`).
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum XsError {
    EINVAL,
    EACCES,
    EEXIST,
    EISDIR,
    ENOENT,
    ENOMEM,
    ENOSPC,
    EIO,
    ENOTEMPTY,
    ENOSYS,
    EROFS,
    EBUSY,
    EAGAIN,
    EISCONN,
    E2BIG,
    EPERM,
}

impl XsError {
    /// Every error, in `xsd_errors[]` order.
    pub const ALL: [XsError; 16] = [
        XsError::EINVAL,
        XsError::EACCES,
        XsError::EEXIST,
        XsError::EISDIR,
        XsError::ENOENT,
        XsError::ENOMEM,
        XsError::ENOSPC,
        XsError::EIO,
        XsError::ENOTEMPTY,
        XsError::ENOSYS,
        XsError::EROFS,
        XsError::EBUSY,
        XsError::EAGAIN,
        XsError::EISCONN,
        XsError::E2BIG,
        XsError::EPERM,
    ];

    /// The name sent on the wire (without the nul).
    pub const fn as_str(self) -> &'static str {
        match self {
            XsError::EINVAL => "EINVAL",
            XsError::EACCES => "EACCES",
            XsError::EEXIST => "EEXIST",
            XsError::EISDIR => "EISDIR",
            XsError::ENOENT => "ENOENT",
            XsError::ENOMEM => "ENOMEM",
            XsError::ENOSPC => "ENOSPC",
            XsError::EIO => "EIO",
            XsError::ENOTEMPTY => "ENOTEMPTY",
            XsError::ENOSYS => "ENOSYS",
            XsError::EROFS => "EROFS",
            XsError::EBUSY => "EBUSY",
            XsError::EAGAIN => "EAGAIN",
            XsError::EISCONN => "EISCONN",
            XsError::E2BIG => "E2BIG",
            XsError::EPERM => "EPERM",
        }
    }

    /// Parses an error name (as a client library would).
    pub fn from_name(name: &[u8]) -> Option<XsError> {
        XsError::ALL
            .iter()
            .copied()
            .find(|e| e.as_str().as_bytes() == name)
    }
}

impl fmt::Display for XsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `struct xsd_sockmsg`: all fields little-endian `uint32_t` (the ABI is native-endian; every
/// Xen-on-ARM guest is little-endian).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// `type`: `XS_*`.
    pub ty: u32,
    /// `req_id`: echoed in the reply.
    pub req_id: u32,
    /// `tx_id`: transaction id, 0 outside a transaction.
    pub tx_id: u32,
    /// `len`: payload length.
    pub len: u32,
}

impl Header {
    /// Decodes the 16 header bytes.
    pub fn from_bytes(b: &[u8; XSD_SOCKMSG_LEN]) -> Header {
        let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Header {
            ty: w(0),
            req_id: w(4),
            tx_id: w(8),
            len: w(12),
        }
    }

    /// Encodes the 16 header bytes.
    pub fn to_bytes(&self) -> [u8; XSD_SOCKMSG_LEN] {
        let mut b = [0u8; XSD_SOCKMSG_LEN];
        b[0..4].copy_from_slice(&self.ty.to_le_bytes());
        b[4..8].copy_from_slice(&self.req_id.to_le_bytes());
        b[8..12].copy_from_slice(&self.tx_id.to_le_bytes());
        b[12..16].copy_from_slice(&self.len.to_le_bytes());
        b
    }
}

/// One whole message: header fields and payload (`len` is the payload's length).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `XS_*` type.
    pub ty: u32,
    /// Request id.
    pub req_id: u32,
    /// Transaction id.
    pub tx_id: u32,
    /// Payload bytes (at most [`XENSTORE_PAYLOAD_MAX`] in anything the daemon sends).
    pub payload: Vec<u8>,
}

impl Message {
    /// A message with the given fields.
    pub fn new(ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) -> Message {
        Message {
            ty,
            req_id,
            tx_id,
            payload: payload.to_vec(),
        }
    }

    /// The header describing this message. A payload longer than `u32::MAX` cannot be built
    /// by the daemon; its length saturates.
    pub fn header(&self) -> Header {
        Header {
            ty: self.ty,
            req_id: self.req_id,
            tx_id: self.tx_id,
            len: u32::try_from(self.payload.len()).unwrap_or(u32::MAX),
        }
    }

    /// Appends header and payload to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.header().to_bytes());
        out.extend_from_slice(&self.payload);
    }

    /// Header and payload as bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(XSD_SOCKMSG_LEN + self.payload.len());
        self.encode_into(&mut v);
        v
    }

    /// The `XS_ERROR` reply to a request with header fields `req_id`/`tx_id`.
    pub fn error(req_id: u32, tx_id: u32, err: XsError) -> Message {
        let mut p = Vec::from(err.as_str().as_bytes());
        p.push(0);
        Message {
            ty: XS_ERROR,
            req_id,
            tx_id,
            payload: p,
        }
    }
}

/// What the [`Decoder`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole message.
    Message(Message),
    /// A header announcing more than [`XENSTORE_PAYLOAD_MAX`] bytes. The decoder skips (without
    /// storing) the announced payload so the stream stays framed; the daemon answers `E2BIG`
    /// ([`crate::Xenstored::handle_oversized`]). Xen's C daemon instead drops the connection
    /// and sets `XENSTORE_ERROR_PROTO` in the ring; a driver may still choose to do that.
    Oversized(Header),
}

/// Incremental decoder of one direction of a xenstore byte stream. Holds at most one header
/// and one payload of at most [`XENSTORE_PAYLOAD_MAX`] bytes.
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    hdr: [u8; XSD_SOCKMSG_LEN],
    hdr_used: usize,
    /// The parsed header of the message whose payload is being collected.
    current: Option<Header>,
    payload: Vec<u8>,
    /// Bytes still to skip of an oversized message's payload.
    skip: u64,
}

impl Decoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// True if no partial message is buffered (a ring may be reconnected here).
    pub fn is_idle(&self) -> bool {
        self.hdr_used == 0 && self.current.is_none() && self.skip == 0
    }

    /// Feeds bytes; returns how many were consumed and at most one decoded item. Call again
    /// with the rest of the input while the count is short of it or an item was returned.
    pub fn push(&mut self, input: &[u8]) -> (usize, Option<Decoded>) {
        let mut used = 0usize;
        loop {
            let rest = &input[used..];
            if self.skip > 0 {
                let n = core::cmp::min(self.skip, rest.len() as u64) as usize;
                self.skip -= n as u64;
                used += n;
                if self.skip > 0 || rest.len() == n {
                    return (used, None);
                }
                continue;
            }
            match self.current {
                None => {
                    let want = XSD_SOCKMSG_LEN - self.hdr_used;
                    let n = core::cmp::min(want, rest.len());
                    self.hdr[self.hdr_used..self.hdr_used + n].copy_from_slice(&rest[..n]);
                    self.hdr_used += n;
                    used += n;
                    if self.hdr_used < XSD_SOCKMSG_LEN {
                        return (used, None);
                    }
                    self.hdr_used = 0;
                    let h = Header::from_bytes(&self.hdr);
                    if h.len as usize > XENSTORE_PAYLOAD_MAX {
                        self.skip = u64::from(h.len);
                        return (used, Some(Decoded::Oversized(h)));
                    }
                    self.current = Some(h);
                    self.payload.clear();
                }
                Some(h) => {
                    let want = h.len as usize - self.payload.len();
                    let n = core::cmp::min(want, rest.len());
                    self.payload.extend_from_slice(&rest[..n]);
                    used += n;
                    if self.payload.len() < h.len as usize {
                        return (used, None);
                    }
                    self.current = None;
                    let payload = core::mem::take(&mut self.payload);
                    return (
                        used,
                        Some(Decoded::Message(Message {
                            ty: h.ty,
                            req_id: h.req_id,
                            tx_id: h.tx_id,
                            payload,
                        })),
                    );
                }
            }
        }
    }

    /// Feeds all of `input`, collecting every item decoded from it.
    pub fn push_all(&mut self, mut input: &[u8]) -> Vec<Decoded> {
        let mut out = Vec::new();
        loop {
            let (n, item) = self.push(input);
            input = &input[n..];
            match item {
                Some(d) => out.push(d),
                None if input.is_empty() => return out,
                None => {}
            }
        }
    }
}
