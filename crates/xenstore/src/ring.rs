//! `struct xenstore_domain_interface` (xs_wire.h, `docs/misc/xenstore-ring.txt`): the page a
//! domain shares with xenstored, two 1024-byte byte rings with free-running 32-bit
//! consumer/producer indices, as pure index math over a [`RingPage`].
//!
//! The guest writes the page concurrently, so every index is read once per operation, checked
//! (`prod - cons` must not exceed [`XENSTORE_RING_SIZE`], else the ring is broken:
//! [`RingError::RingIdx`], Xen's `XENSTORE_ERROR_RINGIDX`), and the data copied before the
//! index is published. The driver's [`RingPage`] implementation provides the accesses and the
//! barriers ([`RingPage::fence`]) between data and index updates.

/// `XENSTORE_RING_SIZE`.
pub const XENSTORE_RING_SIZE: u32 = 1024;

/// Offset of `req[]` (requests to the daemon).
pub const REQ_OFFSET: usize = 0;
/// Offset of `rsp[]` (replies and watch events).
pub const RSP_OFFSET: usize = 1024;
/// Offset of `req_cons`.
pub const REQ_CONS_OFFSET: usize = 2048;
/// Offset of `req_prod`.
pub const REQ_PROD_OFFSET: usize = 2052;
/// Offset of `rsp_cons`.
pub const RSP_CONS_OFFSET: usize = 2056;
/// Offset of `rsp_prod`.
pub const RSP_PROD_OFFSET: usize = 2060;
/// Offset of `server_features`.
pub const SERVER_FEATURES_OFFSET: usize = 2064;
/// Offset of `connection`.
pub const CONNECTION_OFFSET: usize = 2068;
/// Offset of `error`.
pub const ERROR_OFFSET: usize = 2072;
/// Offset of `evtchn_port`.
pub const EVTCHN_PORT_OFFSET: usize = 2076;
/// `sizeof(struct xenstore_domain_interface)`.
pub const INTERFACE_SIZE: usize = 2080;

/// `XENSTORE_SERVER_FEATURE_RECONNECTION`.
pub const XENSTORE_SERVER_FEATURE_RECONNECTION: u32 = 1;
/// `XENSTORE_SERVER_FEATURE_ERROR`.
pub const XENSTORE_SERVER_FEATURE_ERROR: u32 = 2;
/// `XENSTORE_SERVER_FEATURE_WATCHDEPTH`.
pub const XENSTORE_SERVER_FEATURE_WATCHDEPTH: u32 = 4;
/// `XENSTORE_SERVER_FEATURE_DOMID_ANY`.
pub const XENSTORE_SERVER_FEATURE_DOMID_ANY: u32 = 8;
/// `XENSTORE_CONNECTED`.
pub const XENSTORE_CONNECTED: u32 = 0;
/// `XENSTORE_RECONNECT`.
pub const XENSTORE_RECONNECT: u32 = 1;
/// `XENSTORE_ERROR_NONE`.
pub const XENSTORE_ERROR_NONE: u32 = 0;
/// `XENSTORE_ERROR_COMM`.
pub const XENSTORE_ERROR_COMM: u32 = 1;
/// `XENSTORE_ERROR_RINGIDX`.
pub const XENSTORE_ERROR_RINGIDX: u32 = 2;
/// `XENSTORE_ERROR_PROTO`.
pub const XENSTORE_ERROR_PROTO: u32 = 3;

/// `MASK_XENSTORE_IDX`.
pub const fn mask_xenstore_idx(idx: u32) -> u32 {
    idx & (XENSTORE_RING_SIZE - 1)
}

/// A broken ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// `prod - cons > XENSTORE_RING_SIZE`: the indices are inconsistent
    /// (`XENSTORE_ERROR_RINGIDX`).
    RingIdx,
}

impl RingError {
    /// The value for the page's `error` field.
    pub const fn code(self) -> u32 {
        match self {
            RingError::RingIdx => XENSTORE_ERROR_RINGIDX,
        }
    }
}

/// Bytes readable by the consumer: `prod - cons` (mod 2^32), checked against the ring size.
pub fn avail_to_read(cons: u32, prod: u32) -> Result<u32, RingError> {
    let n = prod.wrapping_sub(cons);
    if n > XENSTORE_RING_SIZE {
        Err(RingError::RingIdx)
    } else {
        Ok(n)
    }
}

/// Bytes writable by the producer: `RING_SIZE - (prod - cons)`, checked.
pub fn space_to_write(cons: u32, prod: u32) -> Result<u32, RingError> {
    Ok(XENSTORE_RING_SIZE - avail_to_read(cons, prod)?)
}

/// The contiguous stretch at stream index `idx` of at most `len` bytes: `(offset within the
/// ring, length)`; the length never crosses the ring's end.
pub fn contiguous(idx: u32, len: u32) -> (usize, usize) {
    let off = mask_xenstore_idx(idx);
    let n = core::cmp::min(len, XENSTORE_RING_SIZE - off);
    (off as usize, n as usize)
}

/// The shared page as the driver maps it. Offsets are within [`INTERFACE_SIZE`].
pub trait RingPage {
    /// Reads the little-endian `u32` at `offset` (one access).
    fn load_u32(&self, offset: usize) -> u32;
    /// Writes the `u32` at `offset` (one access).
    fn store_u32(&mut self, offset: usize, val: u32);
    /// Copies `buf.len()` bytes at `offset` into `buf`.
    fn read_bytes(&self, offset: usize, buf: &mut [u8]);
    /// Copies `data` to `offset`.
    fn write_bytes(&mut self, offset: usize, data: &[u8]);
    /// A full memory barrier (`dmb ish` on the real page; nothing on the host).
    fn fence(&self) {}
}

/// A plain byte buffer as a ring page (host tests, or a copy of the page).
impl RingPage for [u8] {
    fn load_u32(&self, offset: usize) -> u32 {
        match self.get(offset..offset.saturating_add(4)) {
            Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            None => 0,
        }
    }
    fn store_u32(&mut self, offset: usize, val: u32) {
        if let Some(b) = self.get_mut(offset..offset.saturating_add(4)) {
            b.copy_from_slice(&val.to_le_bytes());
        }
    }
    fn read_bytes(&self, offset: usize, buf: &mut [u8]) {
        if let Some(b) = self.get(offset..offset.saturating_add(buf.len())) {
            buf.copy_from_slice(b);
        }
    }
    fn write_bytes(&mut self, offset: usize, data: &[u8]) {
        if let Some(b) = self.get_mut(offset..offset.saturating_add(data.len())) {
            b.copy_from_slice(data);
        }
    }
}

fn ring_read<P: RingPage + ?Sized>(
    page: &mut P,
    data_off: usize,
    cons_off: usize,
    prod_off: usize,
    buf: &mut [u8],
) -> Result<usize, RingError> {
    let cons = page.load_u32(cons_off);
    let prod = page.load_u32(prod_off);
    let avail = avail_to_read(cons, prod)?;
    // Read the data only after seeing prod.
    page.fence();
    let want = core::cmp::min(avail as usize, buf.len()) as u32;
    let mut done = 0u32;
    while done < want {
        let (off, n) = contiguous(cons.wrapping_add(done), want - done);
        let d = done as usize;
        page.read_bytes(data_off + off, &mut buf[d..d + n]);
        done += n as u32;
    }
    // Finish reading before handing the space back.
    page.fence();
    page.store_u32(cons_off, cons.wrapping_add(done));
    Ok(done as usize)
}

fn ring_write<P: RingPage + ?Sized>(
    page: &mut P,
    data_off: usize,
    cons_off: usize,
    prod_off: usize,
    data: &[u8],
) -> Result<usize, RingError> {
    let cons = page.load_u32(cons_off);
    let prod = page.load_u32(prod_off);
    let space = space_to_write(cons, prod)?;
    page.fence();
    let want = core::cmp::min(space as usize, data.len()) as u32;
    let mut done = 0u32;
    while done < want {
        let (off, n) = contiguous(prod.wrapping_add(done), want - done);
        let d = done as usize;
        page.write_bytes(data_off + off, &data[d..d + n]);
        done += n as u32;
    }
    // The data must be visible before the new producer index.
    page.fence();
    page.store_u32(prod_off, prod.wrapping_add(done));
    Ok(done as usize)
}

/// Server side: takes up to `buf.len()` request bytes from `req[]`, advancing `req_cons`.
pub fn read_requests<P: RingPage + ?Sized>(
    page: &mut P,
    buf: &mut [u8],
) -> Result<usize, RingError> {
    ring_read(page, REQ_OFFSET, REQ_CONS_OFFSET, REQ_PROD_OFFSET, buf)
}

/// Server side: puts as much of `data` as fits into `rsp[]`, advancing `rsp_prod`.
pub fn write_responses<P: RingPage + ?Sized>(
    page: &mut P,
    data: &[u8],
) -> Result<usize, RingError> {
    ring_write(page, RSP_OFFSET, RSP_CONS_OFFSET, RSP_PROD_OFFSET, data)
}

/// Client side (tests, or a xenstore client in a guest): writes requests into `req[]`.
pub fn write_requests<P: RingPage + ?Sized>(page: &mut P, data: &[u8]) -> Result<usize, RingError> {
    ring_write(page, REQ_OFFSET, REQ_CONS_OFFSET, REQ_PROD_OFFSET, data)
}

/// Client side: reads replies from `rsp[]`.
pub fn read_responses<P: RingPage + ?Sized>(
    page: &mut P,
    buf: &mut [u8],
) -> Result<usize, RingError> {
    ring_read(page, RSP_OFFSET, RSP_CONS_OFFSET, RSP_PROD_OFFSET, buf)
}
