extern crate std;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use std::format;

use crate::ring::*;
use crate::store::*;
use crate::wire::*;
use crate::*;

/// Header bytes written out independently of `Header::to_bytes`.
fn raw(ty: u32, req: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [ty, req, tx, payload.len() as u32] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v.extend_from_slice(payload);
    v
}

struct H {
    xs: Xenstored,
}

impl H {
    fn new() -> H {
        let mut xs = Xenstored::default();
        let _ = xs.dom0_layout();
        H { xs }
    }

    /// Sends raw bytes through a decoder; returns every output.
    fn bytes(&mut self, c: ConnId, bytes: &[u8]) -> Vec<Output> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for item in d.push_all(bytes) {
            out.extend(self.xs.handle_decoded(c, &item));
        }
        out
    }

    fn req(&mut self, c: ConnId, ty: u32, tx: u32, payload: &[u8]) -> Vec<Output> {
        self.xs.handle(c, &Message::new(ty, 7, tx, payload))
    }

    /// The single reply to `c` (events filtered out).
    fn reply(&mut self, c: ConnId, ty: u32, tx: u32, payload: &[u8]) -> Message {
        let out = self.req(c, ty, tx, payload);
        let r: Vec<Message> = sends(&out, c)
            .into_iter()
            .filter(|m| m.ty != XS_WATCH_EVENT)
            .collect();
        assert_eq!(r.len(), 1, "{out:?}");
        r.into_iter().next().unwrap()
    }

    fn ok(&mut self, c: ConnId, ty: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
        let m = self.reply(c, ty, tx, payload);
        assert_eq!(
            m.ty,
            ty,
            "{:?} -> {:?}",
            payload,
            String::from_utf8_lossy(&m.payload)
        );
        m.payload
    }

    fn err(&mut self, c: ConnId, ty: u32, tx: u32, payload: &[u8]) -> XsError {
        let m = self.reply(c, ty, tx, payload);
        assert_eq!(m.ty, XS_ERROR, "{:?} -> {:?}", payload, m);
        XsError::from_name(&m.payload[..m.payload.len() - 1]).unwrap()
    }

    fn write(&mut self, c: ConnId, path: &str, val: &str) {
        let p = [path.as_bytes(), b"\0", val.as_bytes()].concat();
        assert_eq!(self.ok(c, XS_WRITE, 0, &p), b"OK\0");
    }

    fn read(&mut self, c: ConnId, path: &str) -> Result<Vec<u8>, XsError> {
        let m = self.reply(c, XS_READ, 0, &z(path));
        if m.ty == XS_ERROR {
            Err(XsError::from_name(&m.payload[..m.payload.len() - 1]).unwrap())
        } else {
            Ok(m.payload)
        }
    }

    fn introduce(&mut self, dom: u16) -> ConnId {
        let s = self.xs.add_socket();
        let out = self.req(
            s,
            XS_INTRODUCE,
            0,
            format!("{dom}\0{}\0{}\0", 0x1000, 3).as_bytes(),
        );
        let c = out
            .iter()
            .find_map(|o| match o {
                Output::Introduce { conn, .. } => Some(*conn),
                _ => None,
            })
            .unwrap();
        // The toolstack's layout for a domU: its home, readable and writable by it.
        self.write(s, &format!("/local/domain/{dom}"), "");
        let p = format!("/local/domain/{dom}\0n0\0b{dom}\0");
        self.ok(s, XS_SET_PERMS, 0, p.as_bytes());
        self.xs.close(s);
        c
    }
}

fn z(s: &str) -> Vec<u8> {
    [s.as_bytes(), b"\0"].concat()
}

fn sends(out: &[Output], c: ConnId) -> Vec<Message> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(id, m) if *id == c => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn events(out: &[Output], c: ConnId) -> Vec<(String, String)> {
    sends(out, c)
        .into_iter()
        .filter(|m| m.ty == XS_WATCH_EVENT)
        .map(|m| {
            let v = daemon::split_strings(&m.payload, 2);
            (
                String::from_utf8(v[0].to_vec()).unwrap(),
                String::from_utf8(v[1].to_vec()).unwrap(),
            )
        })
        .collect()
}

fn ev(p: &str, t: &str) -> (String, String) {
    (String::from(p), String::from(t))
}

// ---------------------------------------------------------------- wire

#[test]
fn header_roundtrip_and_numbers() {
    let h = Header {
        ty: XS_WRITE,
        req_id: 0x01020304,
        tx_id: 5,
        len: 9,
    };
    assert_eq!(
        h.to_bytes().to_vec(),
        raw(11, 0x01020304, 5, b"")[..12]
            .iter()
            .chain(&9u32.to_le_bytes())
            .copied()
            .collect::<Vec<_>>()
    );
    assert_eq!(Header::from_bytes(&h.to_bytes()), h);
    assert_eq!(
        (
            XS_CONTROL,
            XS_DIRECTORY,
            XS_TRANSACTION_END,
            XS_WATCH_EVENT,
            XS_ERROR
        ),
        (0, 1, 7, 15, 16)
    );
    assert_eq!(
        (XS_SET_TARGET, XS_RESET_WATCHES, XS_DIRECTORY_PART),
        (19, 21, 22)
    );
    assert_eq!(XsError::ALL.len(), 16);
    assert_eq!(XsError::ALL[15].as_str(), "EPERM");
    for e in XsError::ALL {
        assert_eq!(XsError::from_name(e.as_str().as_bytes()), Some(e));
    }
}

#[test]
fn decoder_byte_by_byte_and_oversized() {
    let mut stream = raw(XS_READ, 1, 0, b"/a\0");
    stream.extend(raw(XS_WRITE, 2, 0, &[0xAB; 5000]));
    stream.extend(raw(XS_READ, 3, 0, b""));
    let mut d = Decoder::new();
    let mut items = Vec::new();
    for b in &stream {
        let (n, item) = d.push(core::slice::from_ref(b));
        assert_eq!(n, 1);
        items.extend(item);
    }
    assert!(d.is_idle());
    assert_eq!(items.len(), 3);
    assert_eq!(
        items[0],
        Decoded::Message(Message::new(XS_READ, 1, 0, b"/a\0"))
    );
    assert!(matches!(
        items[1],
        Decoded::Oversized(Header {
            req_id: 2,
            len: 5000,
            ..
        })
    ));
    assert_eq!(items[2], Decoded::Message(Message::new(XS_READ, 3, 0, b"")));
    // All at once gives the same.
    assert_eq!(Decoder::new().push_all(&stream), items);
    // A maximal payload is accepted.
    let m = Message::new(XS_WRITE, 4, 0, &[1; XENSTORE_PAYLOAD_MAX]);
    assert_eq!(
        Decoder::new().push_all(&m.encode()),
        vec![Decoded::Message(m)]
    );
}

#[test]
fn oversized_gets_e2big_and_stream_continues() {
    let mut h = H::new();
    let s = h.xs.add_socket();
    let mut stream = raw(XS_WRITE, 1, 0, &[b'x'; 4097]);
    stream.extend(raw(XS_WRITE, 2, 0, b"/a\0v"));
    stream.extend(raw(XS_READ, 3, 0, b"/a\0"));
    let out = h.bytes(s, &stream);
    let mut got = Vec::new();
    for m in sends(&out, s) {
        m.encode_into(&mut got);
    }
    let mut want = raw(XS_ERROR, 1, 0, b"E2BIG\0");
    want.extend(raw(XS_WRITE, 2, 0, b"OK\0"));
    want.extend(raw(XS_READ, 3, 0, b"v"));
    assert_eq!(got, want);
}

// ---------------------------------------------------------------- ring

#[test]
fn ring_wraps_and_rejects_bad_indices() {
    let mut page = vec![0u8; 4096];
    // Start near the 2^32 wrap and near the end of the ring.
    let start = u32::MAX - 10;
    page.store_u32(REQ_CONS_OFFSET, start);
    page.store_u32(REQ_PROD_OFFSET, start);
    let msg: Vec<u8> = (0..700u32).map(|i| i as u8).collect();
    let mut got = Vec::new();
    for _ in 0..4 {
        assert_eq!(write_requests(&mut page[..], &msg).unwrap(), 700);
        let mut buf = [0u8; 300];
        loop {
            let n = read_requests(&mut page[..], &mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert_eq!(got.len(), 2800);
    assert!(got.chunks(700).all(|c| c == &msg[..]));
    // Full ring: only 1024 fit.
    assert_eq!(write_responses(&mut page[..], &[1; 2000]).unwrap(), 1024);
    assert_eq!(write_responses(&mut page[..], &[1; 10]).unwrap(), 0);
    let mut buf = [0u8; 2000];
    assert_eq!(read_responses(&mut page[..], &mut buf).unwrap(), 1024);
    // A guest claiming more than a ring's worth.
    let cons = page.load_u32(REQ_CONS_OFFSET);
    page.store_u32(REQ_PROD_OFFSET, cons.wrapping_add(1025));
    assert_eq!(
        read_requests(&mut page[..], &mut buf),
        Err(RingError::RingIdx)
    );
    assert_eq!(RingError::RingIdx.code(), XENSTORE_ERROR_RINGIDX);
    assert_eq!(contiguous(1020, 10), (1020, 4));
    assert_eq!(avail_to_read(u32::MAX, 3), Ok(4));
}

#[test]
fn ring_and_decoder_together() {
    let mut page = vec![0u8; 4096];
    let mut xs = Xenstored::default();
    let c = xs.add_priv_domain();
    let mut d = Decoder::new();
    let mut outq: Vec<u8> = Vec::new();
    let mut req = Vec::new();
    for i in 0..50u32 {
        req.extend(raw(
            XS_WRITE,
            i,
            0,
            format!("/k{i}\0{}", "v".repeat(i as usize * 7)).as_bytes(),
        ));
    }
    let mut sent = 0;
    let mut replies = Decoder::new();
    let mut n_replies = 0;
    while n_replies < 50 {
        sent += write_requests(&mut page[..], &req[sent..]).unwrap();
        let mut buf = [0u8; 1024];
        let n = read_requests(&mut page[..], &mut buf).unwrap();
        for item in d.push_all(&buf[..n]) {
            for o in xs.handle_decoded(c, &item) {
                if let Output::Send(_, m) = o {
                    m.encode_into(&mut outq);
                }
            }
        }
        let w = write_responses(&mut page[..], &outq).unwrap();
        outq.drain(..w);
        let n = read_responses(&mut page[..], &mut buf).unwrap();
        for item in replies.push_all(&buf[..n]) {
            let Decoded::Message(m) = item else { panic!() };
            assert_eq!(
                (m.ty, m.req_id, &m.payload[..]),
                (XS_WRITE, n_replies, &b"OK\0"[..])
            );
            n_replies += 1;
        }
    }
    assert_eq!(xs.store().get("/k49").unwrap().value.len(), 49 * 7);
}

// ---------------------------------------------------------------- golden transcripts

/// One exchange on a fresh daemon: dom0 socket `s`, introduced domain 1 `d`, both watching
/// nothing. Each line: (who, type, tx, payload) -> list of (who, type, req_id, tx, payload).
#[test]
fn golden_transcripts() {
    let mut h = H::new();
    let s = h.xs.add_socket();
    let d = h.introduce(1);
    h.write(s, "/local/domain/1/x", "hi");
    h.write(s, "/secret", "s");
    type Line<'a> = (
        ConnId,
        u32,
        u32,
        &'a [u8],
        Vec<(ConnId, u32, u32, &'a [u8])>,
    );
    let lines: Vec<Line> = vec![
        (
            s,
            XS_READ,
            0,
            b"/local/domain/1/x\0",
            vec![(s, XS_READ, 0, b"hi")],
        ),
        (d, XS_READ, 0, b"x\0", vec![(d, XS_READ, 0, b"hi")]),
        (
            s,
            XS_READ,
            0,
            b"/nope\0",
            vec![(s, XS_ERROR, 0, b"ENOENT\0")],
        ),
        (
            d,
            XS_READ,
            0,
            b"/secret\0",
            vec![(d, XS_ERROR, 0, b"EACCES\0")],
        ),
        (
            d,
            XS_READ,
            0,
            b"/nope\0",
            vec![(d, XS_ERROR, 0, b"EACCES\0")],
        ),
        (
            d,
            XS_READ,
            0,
            b"nope\0",
            vec![(d, XS_ERROR, 0, b"ENOENT\0")],
        ),
        (
            s,
            XS_READ,
            0,
            b"/bad//path\0",
            vec![(s, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (
            s,
            XS_READ,
            0,
            b"/trailing/\0",
            vec![(s, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (
            s,
            XS_READ,
            0,
            b"/sp ace\0",
            vec![(s, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (
            s,
            XS_READ,
            0,
            b"@introduceDomain\0",
            vec![(s, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (
            s,
            XS_READ,
            0,
            b"/a\0b\0",
            vec![(s, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (s, XS_READ, 0, b"/a", vec![(s, XS_ERROR, 0, b"EINVAL\0")]),
        (
            s,
            XS_WRITE,
            0,
            b"/w/x\0val\0ue",
            vec![(s, XS_WRITE, 0, b"OK\0")],
        ),
        (s, XS_READ, 0, b"/w/x\0", vec![(s, XS_READ, 0, b"val\0ue")]),
        (s, XS_WRITE, 0, b"/w/x", vec![(s, XS_ERROR, 0, b"EINVAL\0")]),
        (d, XS_WRITE, 0, b"y/z\0v", vec![(d, XS_WRITE, 0, b"OK\0")]),
        (
            d,
            XS_WRITE,
            0,
            b"/w/y\0v",
            vec![(d, XS_ERROR, 0, b"EACCES\0")],
        ),
        (s, XS_MKDIR, 0, b"/m/n\0", vec![(s, XS_MKDIR, 0, b"OK\0")]),
        (s, XS_MKDIR, 0, b"/m/n\0", vec![(s, XS_MKDIR, 0, b"OK\0")]),
        (
            s,
            XS_DIRECTORY,
            0,
            b"/m\0",
            vec![(s, XS_DIRECTORY, 0, b"n\0")],
        ),
        (
            s,
            XS_DIRECTORY,
            0,
            b"/\0",
            vec![(s, XS_DIRECTORY, 0, b"tool\0local\0vm\0secret\0w\0m\0")],
        ),
        (
            s,
            XS_DIRECTORY,
            0,
            b"/m/n\0",
            vec![(s, XS_DIRECTORY, 0, b"")],
        ),
        (
            d,
            XS_DIRECTORY,
            0,
            b"\0",
            vec![(d, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (
            d,
            XS_DIRECTORY,
            0,
            b"/local/domain/1\0",
            vec![(d, XS_DIRECTORY, 0, b"x\0y\0")],
        ),
        (s, XS_RM, 0, b"/m/none\0", vec![(s, XS_RM, 0, b"OK\0")]),
        (
            s,
            XS_RM,
            0,
            b"/m/none/deeper\0",
            vec![(s, XS_ERROR, 0, b"ENOENT\0")],
        ),
        (s, XS_RM, 0, b"/m\0", vec![(s, XS_RM, 0, b"OK\0")]),
        (s, XS_RM, 0, b"/\0", vec![(s, XS_ERROR, 0, b"EINVAL\0")]),
        (d, XS_RM, 0, b"/w\0", vec![(d, XS_ERROR, 0, b"EACCES\0")]),
        (
            s,
            XS_GET_PERMS,
            0,
            b"/local/domain/1\0",
            vec![(s, XS_GET_PERMS, 0, b"n0\0b1\0")],
        ),
        (
            d,
            XS_GET_PERMS,
            0,
            b"y/z\0",
            vec![(d, XS_GET_PERMS, 0, b"n1\0b1\0")],
        ),
        (
            s,
            XS_GET_PERMS,
            0,
            b"@releaseDomain\0",
            vec![(s, XS_GET_PERMS, 0, b"n0\0")],
        ),
        (
            d,
            XS_SET_PERMS,
            0,
            b"y/z\0n1\0r0\0",
            vec![(d, XS_SET_PERMS, 0, b"OK\0")],
        ),
        (
            d,
            XS_SET_PERMS,
            0,
            b"y/z\0n2\0",
            vec![(d, XS_ERROR, 0, b"EPERM\0")],
        ),
        (
            d,
            XS_SET_PERMS,
            0,
            b"y/z\0x1\0",
            vec![(d, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (
            d,
            XS_SET_PERMS,
            0,
            b"y/z\0",
            vec![(d, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (
            d,
            XS_SET_PERMS,
            0,
            b"x\0b1\0",
            vec![(d, XS_ERROR, 0, b"EACCES\0")],
        ),
        (
            s,
            XS_SET_PERMS,
            0,
            b"/local/domain/1/x\0b1\0",
            vec![(s, XS_SET_PERMS, 0, b"OK\0")],
        ),
        (
            s,
            XS_GET_DOMAIN_PATH,
            0,
            b"5\0",
            vec![(s, XS_GET_DOMAIN_PATH, 0, b"/local/domain/5\0")],
        ),
        (
            d,
            XS_GET_DOMAIN_PATH,
            0,
            b"x\0",
            vec![(d, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (
            s,
            XS_IS_DOMAIN_INTRODUCED,
            0,
            b"1\0",
            vec![(s, XS_IS_DOMAIN_INTRODUCED, 0, b"T\0")],
        ),
        (
            s,
            XS_IS_DOMAIN_INTRODUCED,
            0,
            b"2\0",
            vec![(s, XS_IS_DOMAIN_INTRODUCED, 0, b"F\0")],
        ),
        (
            d,
            XS_IS_DOMAIN_INTRODUCED,
            0,
            b"1\0",
            vec![(d, XS_ERROR, 0, b"EACCES\0")],
        ),
        (
            d,
            XS_INTRODUCE,
            0,
            b"2\0 0\0 3\0",
            vec![(d, XS_ERROR, 0, b"EACCES\0")],
        ),
        (
            s,
            XS_INTRODUCE,
            0,
            b"2\0 0\0",
            vec![(s, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (
            s,
            XS_INTRODUCE,
            0,
            b"2\0 0\0 0\0",
            vec![(s, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (
            s,
            XS_INTRODUCE,
            0,
            b"70000\0 0\0 3\0",
            vec![(s, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (
            s,
            XS_RELEASE,
            0,
            b"9\0",
            vec![(s, XS_ERROR, 0, b"ENOENT\0")],
        ),
        (
            s,
            XS_RELEASE,
            0,
            b"0\0",
            vec![(s, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (s, XS_RESUME, 0, b"1\0", vec![(s, XS_RESUME, 0, b"OK\0")]),
        (
            s,
            XS_SET_TARGET,
            0,
            b"1\0",
            vec![(s, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (
            s,
            XS_SET_TARGET,
            0,
            b"1\0 9\0",
            vec![(s, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (
            s,
            XS_SET_TARGET,
            0,
            b"1\x009\0",
            vec![(s, XS_ERROR, 0, b"ENOENT\0")],
        ),
        (
            s,
            XS_TRANSACTION_START,
            0,
            b"\0",
            vec![(s, XS_TRANSACTION_START, 0, b"1\0")],
        ),
        (
            s,
            XS_TRANSACTION_START,
            1,
            b"\0",
            vec![(s, XS_ERROR, 1, b"EBUSY\0")],
        ),
        (
            s,
            XS_TRANSACTION_END,
            1,
            b"X\0",
            vec![(s, XS_ERROR, 1, b"EINVAL\0")],
        ),
        (
            s,
            XS_TRANSACTION_END,
            1,
            b"F\0",
            vec![(s, XS_TRANSACTION_END, 1, b"OK\0")],
        ),
        (
            s,
            XS_TRANSACTION_END,
            1,
            b"T\0",
            vec![(s, XS_ERROR, 1, b"ENOENT\0")],
        ),
        (
            s,
            XS_TRANSACTION_END,
            0,
            b"T\0",
            vec![(s, XS_ERROR, 0, b"ENOENT\0")],
        ),
        (
            s,
            XS_READ,
            42,
            b"/w/x\0",
            vec![(s, XS_ERROR, 42, b"ENOENT\0")],
        ),
        (
            s,
            XS_WATCH,
            0,
            b"/w\0tok\0",
            vec![
                (s, XS_WATCH, 0, b"OK\0"),
                (s, XS_WATCH_EVENT, 0, b"/w\0tok\0"),
            ],
        ),
        (
            s,
            XS_WATCH,
            0,
            b"/w\0tok\0",
            vec![(s, XS_ERROR, 0, b"EEXIST\0")],
        ),
        (s, XS_WATCH, 0, b"/w\0", vec![(s, XS_ERROR, 0, b"EINVAL\0")]),
        (
            s,
            XS_WRITE,
            0,
            b"/w/x\0new",
            vec![
                (s, XS_WATCH_EVENT, 0, b"/w/x\0tok\0"),
                (s, XS_WRITE, 0, b"OK\0"),
            ],
        ),
        (
            s,
            XS_UNWATCH,
            0,
            b"/w\0tok\0",
            vec![(s, XS_UNWATCH, 0, b"OK\0")],
        ),
        (
            s,
            XS_UNWATCH,
            0,
            b"/w\0tok\0",
            vec![(s, XS_ERROR, 0, b"ENOENT\0")],
        ),
        (
            d,
            XS_WATCH,
            0,
            b"x\0t\0",
            vec![(d, XS_WATCH, 0, b"OK\0"), (d, XS_WATCH_EVENT, 0, b"x\0t\0")],
        ),
        (
            d,
            XS_RESET_WATCHES,
            0,
            b"",
            vec![(d, XS_RESET_WATCHES, 0, b"OK\0")],
        ),
        (
            s,
            XS_DIRECTORY_PART,
            0,
            b"/w\0",
            vec![(s, XS_ERROR, 0, b"EINVAL\0")],
        ),
        (
            s,
            XS_WATCH_EVENT,
            0,
            b"",
            vec![(s, XS_ERROR, 0, b"ENOSYS\0")],
        ),
        (s, XS_ERROR, 0, b"", vec![(s, XS_ERROR, 0, b"ENOSYS\0")]),
        (
            s,
            XS_RESTRICT,
            0,
            b"1\0",
            vec![(s, XS_ERROR, 0, b"ENOSYS\0")],
        ),
        (s, XS_INVALID, 0, b"", vec![(s, XS_ERROR, 0, b"ENOSYS\0")]),
        (s, 0xdead_beef, 0, b"", vec![(s, XS_ERROR, 0, b"ENOSYS\0")]),
        (
            d,
            XS_SET_QUOTA,
            0,
            b"nodes\x005\0",
            vec![(d, XS_ERROR, 0, b"EACCES\0")],
        ),
        (
            s,
            XS_GET_QUOTA,
            0,
            b"nodes\0",
            vec![(s, XS_GET_QUOTA, 0, b"1000\0")],
        ),
    ];
    for (i, (who, ty, tx, payload, want)) in lines.into_iter().enumerate() {
        let out = h.bytes(who, &raw(ty, 100 + i as u32, tx, payload));
        let mut got = Vec::new();
        for o in &out {
            if let Output::Send(c, m) = o {
                assert!(*c == s || *c == d);
                got.extend(
                    raw(m.ty, m.req_id, m.tx_id, &m.payload)
                        .into_iter()
                        .map(|b| (*c, b)),
                );
            }
        }
        let mut exp = Vec::new();
        for (c, ty, tx, p) in want {
            let id = if ty == XS_WATCH_EVENT {
                0
            } else {
                100 + i as u32
            };
            exp.extend(raw(ty, id, tx, p).into_iter().map(|b| (c, b)));
        }
        assert!(
            got == exp,
            "line {i}: got {:?}",
            sends(&out, who)
                .iter()
                .map(|m| (m.ty, String::from_utf8_lossy(&m.payload).into_owned()))
                .collect::<Vec<_>>()
        );
        h.xs.store().check().unwrap();
    }
}

#[test]
fn directory_part_pages_through_long_lists() {
    let mut h = H::new();
    let s = h.xs.add_socket();
    let mut names = Vec::new();
    for i in 0..600 {
        let n = format!("child-number-{i:04}");
        h.ok(s, XS_MKDIR, 0, &z(&format!("/big/{n}")));
        names.push(n);
    }
    assert_eq!(h.err(s, XS_DIRECTORY, 0, b"/big\0"), XsError::E2BIG);
    let mut off = 0usize;
    let mut got: Vec<String> = Vec::new();
    let gen0 = h.xs.store().get("/big").unwrap().generation;
    loop {
        let p = h.ok(s, XS_DIRECTORY_PART, 0, format!("/big\0{off}\0").as_bytes());
        assert!(p.len() <= XENSTORE_PAYLOAD_MAX);
        let parts: Vec<&[u8]> = p.split(|&b| b == 0).collect();
        assert_eq!(parts[0], format!("{gen0}").as_bytes());
        let body = &p[parts[0].len() + 1..];
        if body == b"\0" || body.is_empty() {
            break;
        }
        let done = body.ends_with(b"\0\0");
        let list = if done { &body[..body.len() - 1] } else { body };
        off += list.len();
        got.extend(
            list.split(|&b| b == 0)
                .filter(|x| !x.is_empty())
                .map(|x| String::from_utf8(x.to_vec()).unwrap()),
        );
        if done {
            break;
        }
    }
    assert_eq!(got, names);
}

// ---------------------------------------------------------------- permissions

#[test]
fn permission_matrix() {
    // Node owned by 1, default none, 2 may read, 3 may write, 4 both; 5 targets 1.
    let perms = [
        Perm::new(1, Access::None),
        Perm::new(2, Access::Read),
        Perm::new(3, Access::Write),
        Perm::new(4, Access::Both),
    ];
    let all = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
    let cases: [(Caller, u8); 7] = [
        (Caller::privileged(DomId(0)), all),
        (Caller::domain(DomId(1)), all),
        (Caller::domain(DomId(2)), XS_PERM_READ),
        (Caller::domain(DomId(3)), XS_PERM_WRITE),
        (Caller::domain(DomId(4)), XS_PERM_READ | XS_PERM_WRITE),
        (Caller::domain(DomId(6)), 0),
        (
            Caller {
                dom: DomId(5),
                privileged: false,
                target: Some(DomId(1)),
            },
            all,
        ),
    ];
    for (c, want) in cases {
        assert_eq!(perm_for(&c, &perms), want, "{c:?}");
    }
    // The default (first entry's access) applies to everyone else.
    let open = [Perm::new(0, Access::Read)];
    assert_eq!(perm_for(&Caller::domain(DomId(9)), &open), XS_PERM_READ);
    let any = [
        Perm::new(0, Access::None),
        Perm::new(DOMID_ANY, Access::Both),
    ];
    assert_eq!(
        perm_for(&Caller::domain(DomId(9)), &any),
        XS_PERM_READ | XS_PERM_WRITE
    );
}

#[test]
fn permissions_end_to_end() {
    let mut h = H::new();
    let s = h.xs.add_socket();
    let d1 = h.introduce(1);
    let d2 = h.introduce(2);
    // dom1 creates a node: owned by it, inheriting its parent's other entries.
    h.write(d1, "shared", "1");
    assert_eq!(
        h.ok(s, XS_GET_PERMS, 0, b"/local/domain/1/shared\0"),
        b"n1\0b1\0"
    );
    assert_eq!(h.read(d2, "/local/domain/1/shared"), Err(XsError::EACCES));
    // Grant dom2 read: it can read, but not write.
    h.ok(d1, XS_SET_PERMS, 0, b"shared\0n1\0r2\0");
    assert_eq!(h.read(d2, "/local/domain/1/shared").unwrap(), b"1");
    assert_eq!(
        h.err(d2, XS_WRITE, 0, b"/local/domain/1/shared\0x"),
        XsError::EACCES
    );
    // Write-only: can write, cannot read.
    h.ok(d1, XS_SET_PERMS, 0, b"shared\0n1\0w2\0");
    h.write(d2, "/local/domain/1/shared", "2");
    assert_eq!(h.read(d2, "/local/domain/1/shared"), Err(XsError::EACCES));
    // dom2 may not create below a node it cannot write, nor learn whether things exist.
    assert_eq!(
        h.err(d2, XS_WRITE, 0, b"/local/domain/1/new\0x"),
        XsError::EACCES
    );
    assert_eq!(h.read(d2, "/local/domain/1/none"), Err(XsError::EACCES));
    // A writable node lets dom2 create children, owned by dom2.
    h.write(d2, "/local/domain/1/shared/sub", "s");
    assert_eq!(
        h.ok(s, XS_GET_PERMS, 0, b"/local/domain/1/shared/sub\0"),
        b"n2\0w2\0"
    );
    // Nodes dom0 creates keep the parent's owner.
    h.write(s, "/local/domain/1/fromdom0", "");
    assert_eq!(
        h.ok(s, XS_GET_PERMS, 0, b"/local/domain/1/fromdom0\0"),
        b"n0\0b1\0"
    );
    // Only the owner (or dom0) sets permissions; dom0 may change the owner.
    assert_eq!(
        h.err(d2, XS_SET_PERMS, 0, b"/local/domain/1/shared\0n2\0"),
        XsError::EACCES
    );
    h.ok(s, XS_SET_PERMS, 0, b"/local/domain/1/shared\0n2\0");
    assert_eq!(h.xs.store().nodes_owned(DomId(2)), 2);
    // SET_TARGET: dom2 acts for dom1.
    h.ok(s, XS_SET_TARGET, 0, b"2\x001\0");
    assert_eq!(h.read(d2, "/local/domain/1/fromdom0").unwrap(), b"");
    h.write(d2, "/local/domain/1/bytarget", "t");
    h.xs.store().check().unwrap();
}

// ---------------------------------------------------------------- transactions

fn tx_start(h: &mut H, c: ConnId) -> u32 {
    let p = h.ok(c, XS_TRANSACTION_START, 0, b"\0");
    core::str::from_utf8(&p[..p.len() - 1])
        .unwrap()
        .parse()
        .unwrap()
}

fn tx_write(h: &mut H, c: ConnId, tx: u32, path: &str, v: &str) {
    let p = [path.as_bytes(), b"\0", v.as_bytes()].concat();
    assert_eq!(h.ok(c, XS_WRITE, tx, &p), b"OK\0");
}

#[test]
fn transaction_sees_own_writes_and_commits() {
    let mut h = H::new();
    let s = h.xs.add_socket();
    let w = h.xs.add_socket();
    h.ok(w, XS_WATCH, 0, b"/t\0tok\0");
    let t = tx_start(&mut h, s);
    tx_write(&mut h, s, t, "/t/a", "1");
    assert_eq!(h.ok(s, XS_READ, t, b"/t/a\0"), b"1");
    assert_eq!(h.ok(s, XS_DIRECTORY, t, b"/t\0"), b"a\0");
    // Not visible outside, and no events yet.
    assert_eq!(h.read(s, "/t/a"), Err(XsError::ENOENT));
    let out = h.req(s, XS_TRANSACTION_END, t, b"T\0");
    assert_eq!(sends(&out, s).last().unwrap().payload, b"OK\0");
    assert_eq!(events(&out, w), vec![ev("/t/a", "tok")]);
    assert_eq!(h.read(s, "/t/a").unwrap(), b"1");
    // Abort discards.
    let t = tx_start(&mut h, s);
    h.ok(s, XS_RM, t, b"/t\0");
    assert_eq!(h.err(s, XS_READ, t, b"/t/a\0"), XsError::ENOENT);
    let out = h.req(s, XS_TRANSACTION_END, t, b"F\0");
    assert!(events(&out, w).is_empty());
    assert_eq!(h.read(s, "/t/a").unwrap(), b"1");
    h.xs.store().check().unwrap();
}

#[test]
fn transaction_conflicts() {
    let mut h = H::new();
    let a = h.xs.add_socket();
    let b = h.xs.add_socket();
    h.write(a, "/c/x", "0");
    h.write(a, "/c/y", "0");

    // Read then someone else writes it: EAGAIN, nothing applied.
    let t = tx_start(&mut h, a);
    h.ok(a, XS_READ, t, b"/c/x\0");
    tx_write(&mut h, a, t, "/c/y", "from-tx");
    h.write(b, "/c/x", "1");
    assert_eq!(h.err(a, XS_TRANSACTION_END, t, b"T\0"), XsError::EAGAIN);
    assert_eq!(h.read(a, "/c/y").unwrap(), b"0");
    assert_eq!(h.xs.transaction_count(a), 0);

    // Two racing transactions (Xen's example 4): the second to commit loses.
    let t1 = tx_start(&mut h, a);
    let t2 = tx_start(&mut h, b);
    h.ok(a, XS_READ, t1, b"/c/x\0");
    h.ok(b, XS_READ, t2, b"/c/y\0");
    tx_write(&mut h, a, t1, "/c/y", "t1");
    tx_write(&mut h, b, t2, "/c/x", "t2");
    assert_eq!(h.ok(a, XS_TRANSACTION_END, t1, b"T\0"), b"OK\0");
    assert_eq!(h.err(b, XS_TRANSACTION_END, t2, b"T\0"), XsError::EAGAIN);
    assert_eq!(h.read(a, "/c/x").unwrap(), b"1");
    assert_eq!(h.read(a, "/c/y").unwrap(), b"t1");

    // Disjoint transactions both commit.
    let t1 = tx_start(&mut h, a);
    let t2 = tx_start(&mut h, b);
    tx_write(&mut h, a, t1, "/c/x", "p");
    tx_write(&mut h, b, t2, "/c/y", "q");
    assert_eq!(h.ok(b, XS_TRANSACTION_END, t2, b"T\0"), b"OK\0");
    assert_eq!(h.ok(a, XS_TRANSACTION_END, t1, b"T\0"), b"OK\0");
    assert_eq!(h.read(a, "/c/x").unwrap(), b"p");

    // A node read as absent and created meanwhile conflicts; so does a deleted one.
    let t = tx_start(&mut h, a);
    assert_eq!(h.err(a, XS_READ, t, b"/c/new\0"), XsError::ENOENT);
    h.write(b, "/c/new", "1");
    assert_eq!(h.err(a, XS_TRANSACTION_END, t, b"T\0"), XsError::EAGAIN);
    let t = tx_start(&mut h, a);
    h.ok(a, XS_READ, t, b"/c/new\0");
    h.ok(b, XS_RM, 0, b"/c/new\0");
    assert_eq!(h.err(a, XS_TRANSACTION_END, t, b"T\0"), XsError::EAGAIN);

    // Creating a child conflicts with a concurrent creation under the same parent.
    let t = tx_start(&mut h, a);
    tx_write(&mut h, a, t, "/c/k1", "");
    h.write(b, "/c/k2", "");
    assert_eq!(h.err(a, XS_TRANSACTION_END, t, b"T\0"), XsError::EAGAIN);

    // Transaction ids are per connection, and a foreign id is unknown.
    let t = tx_start(&mut h, a);
    assert_eq!(h.err(b, XS_READ, t + 100, b"/c\0"), XsError::ENOENT);
    h.ok(a, XS_TRANSACTION_END, t, b"F\0");
    h.xs.store().check().unwrap();
}

// ---------------------------------------------------------------- watches

#[test]
fn watch_rules() {
    let mut h = H::new();
    let s = h.xs.add_socket();
    let d1 = h.introduce(1);
    let d2 = h.introduce(2);
    let w = h.xs.add_socket();
    h.ok(w, XS_WATCH, 0, b"/a\0sub\0");
    h.ok(w, XS_WATCH, 0, b"/a/b/c\0exact\0");
    h.ok(w, XS_WATCH, 0, b"/\0root\0");
    h.ok(w, XS_WATCH, 0, b"/a\0d1\x001\0");
    // Write below: the subtree watches fire, depth 1 only for direct children.
    let out = h.req(s, XS_WRITE, 0, b"/a/b\0v");
    assert_eq!(
        events(&out, w),
        vec![ev("/a/b", "sub"), ev("/a/b", "root"), ev("/a/b", "d1")]
    );
    let out = h.req(s, XS_WRITE, 0, b"/a/b/c\0v");
    assert_eq!(
        events(&out, w),
        vec![
            ev("/a/b/c", "sub"),
            ev("/a/b/c", "exact"),
            ev("/a/b/c", "root")
        ]
    );
    // Siblings with a common prefix do not match.
    let out = h.req(s, XS_WRITE, 0, b"/ab\0v");
    assert_eq!(events(&out, w), vec![ev("/ab", "root")]);
    // RM of /a: exact events for descendants, one subtree event for /a.
    let out = h.req(s, XS_RM, 0, b"/a\0");
    assert_eq!(
        events(&out, w),
        vec![
            ev("/a/b/c", "exact"),
            ev("/a", "sub"),
            ev("/a", "root"),
            ev("/a", "d1")
        ]
    );
    // Relative watch of a domain reports relative paths.
    h.ok(d1, XS_WATCH, 0, b"dev\0rel\0");
    let out = h.req(s, XS_WRITE, 0, b"/local/domain/1/dev/vif\0x");
    assert_eq!(events(&out, d1), vec![ev("dev/vif", "rel")]);
    // A domain only hears about nodes it can read (or whose parent it can read).
    h.ok(d2, XS_WATCH, 0, b"/local/domain/1\0spy\0");
    let out = h.req(s, XS_WRITE, 0, b"/local/domain/1/dev/vif\0y");
    assert!(events(&out, d2).is_empty());
    h.ok(s, XS_SET_PERMS, 0, b"/local/domain/1/dev\0n1\0r2\0");
    let out = h.req(s, XS_WRITE, 0, b"/local/domain/1/dev/vif\0z");
    // Created before the grant, /dev/vif keeps n1/b1 but its parent is readable.
    assert_eq!(events(&out, d2), vec![ev("/local/domain/1/dev/vif", "spy")]);
    // Losing access through SET_PERMS still gets that one event.
    let out = h.req(s, XS_SET_PERMS, 0, b"/local/domain/1/dev\0n1\0");
    assert_eq!(events(&out, d2), vec![ev("/local/domain/1/dev", "spy")]);
    // UNWATCH stops events.
    h.ok(d1, XS_UNWATCH, 0, b"dev\0rel\0");
    let out = h.req(s, XS_WRITE, 0, b"/local/domain/1/dev/vif\0w");
    assert!(events(&out, d1).is_empty());
    // Special watches: privileged watchers hear introductions and releases; domains only
    // with permission on the special node.
    h.ok(w, XS_WATCH, 0, b"@introduceDomain\0intro\0");
    h.ok(w, XS_WATCH, 0, b"@releaseDomain\0rel\0");
    h.ok(w, XS_WATCH, 0, b"@releaseDomain\0reldom\x001\0");
    h.ok(d1, XS_WATCH, 0, b"@releaseDomain\0rel1\0");
    let out = h.req(s, XS_INTRODUCE, 0, b"3\x005\x007\0");
    assert_eq!(events(&out, w), vec![ev("@introduceDomain", "intro")]);
    let out = h.req(s, XS_RELEASE, 0, b"3\0");
    assert_eq!(
        events(&out, w),
        vec![
            ev("@releaseDomain", "rel"),
            ev("@releaseDomain/3", "reldom")
        ]
    );
    assert!(events(&out, d1).is_empty());
    h.ok(s, XS_SET_PERMS, 0, b"@releaseDomain\0n0\0r1\0");
    let out = h.xs.domain_shutdown(DomId(2));
    assert_eq!(events(&out, d1), vec![ev("@releaseDomain", "rel1")]);
    assert!(
        h.xs.domain_shutdown(DomId(2)).is_empty(),
        "once until RESUME"
    );
    h.ok(s, XS_RESUME, 0, b"2\0");
    assert_eq!(h.xs.domain_shutdown(DomId(2)).len(), 3);
    // Nothing sent to connections that did not ask.
    assert!(events(&h.req(s, XS_WRITE, 0, b"/zz\0"), s).is_empty());
}

#[test]
fn release_removes_domain_nodes_and_watches() {
    let mut h = H::new();
    let s = h.xs.add_socket();
    let d = h.introduce(4);
    h.write(d, "data/x", "1");
    h.write(s, "/shared", "");
    h.ok(s, XS_SET_PERMS, 0, b"/shared\0n0\0r4\0b5\0");
    h.ok(d, XS_WATCH, 0, b"data\0t\0");
    h.write(d, "/local/domain/4/data2", "");
    let w = h.xs.add_socket();
    h.ok(w, XS_WATCH, 0, b"/local/domain/4/data/x\0gone\0");
    assert!(h.xs.store().nodes_owned(DomId(4)) >= 3);
    let out = h.req(s, XS_RELEASE, 0, b"4\0");
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Release { domid: DomId(4), conn } if *conn == d)));
    assert_eq!(events(&out, w), vec![ev("/local/domain/4/data/x", "gone")]);
    assert_eq!(h.xs.store().nodes_owned(DomId(4)), 0);
    assert!(h.xs.store().get("/local/domain/4/data").is_none());
    // dom0-owned /local/domain/4 stays, without dom4's entry.
    assert_eq!(h.ok(s, XS_GET_PERMS, 0, b"/local/domain/4\0"), b"n0\0");
    assert_eq!(h.ok(s, XS_GET_PERMS, 0, b"/shared\0"), b"n0\0b5\0");
    assert!(h
        .xs
        .handle(d, &Message::new(XS_READ, 1, 0, b"x\0"))
        .is_empty());
    assert_eq!(h.ok(s, XS_IS_DOMAIN_INTRODUCED, 0, b"4\0"), b"F\0");
    h.xs.store().check().unwrap();
}

#[test]
fn introduce_again_rebinds() {
    let mut h = H::new();
    let s = h.xs.add_socket();
    let out = h.req(s, XS_INTRODUCE, 0, b"7\0-5\x009\0");
    let first = out.iter().find_map(|o| match o {
        Output::Introduce {
            conn, gfn, evtchn, ..
        } => Some((*conn, *gfn, *evtchn)),
        _ => None,
    });
    let (c, gfn, ev) = first.unwrap();
    assert_eq!((gfn, ev), (-5, 9));
    let out = h.req(s, XS_INTRODUCE, 0, b"7\0 0\x0011\0");
    assert!(out.contains(&Output::Introduce {
        domid: DomId(7),
        conn: c,
        gfn: 0,
        evtchn: 11
    }));
    assert_eq!(h.xs.conn_kind(c), Some(ConnKind::Domain(DomId(7))));
}

// ---------------------------------------------------------------- quotas

#[test]
fn quotas() {
    let mut xs = Xenstored::new(Config {
        quotas: Quotas {
            nodes: 10,
            watches: 2,
            transactions: 2,
            transaction_nodes: 20,
            permissions: 3,
            path_max: 40,
            node_size: 200,
        },
        ..Config::default()
    });
    let _ = xs.dom0_layout();
    let mut h = H { xs };
    let s = h.xs.add_socket();
    let d = h.introduce(1);
    // Nodes: dom1 owns none yet ("/local/domain/1" is dom0's).
    for i in 0..10 {
        h.write(d, &format!("n{i}"), "");
    }
    assert_eq!(h.err(d, XS_WRITE, 0, b"n10\0"), XsError::ENOSPC);
    assert_eq!(h.err(d, XS_MKDIR, 0, b"deep/er\0"), XsError::ENOSPC);
    h.ok(d, XS_RM, 0, b"n9\0");
    h.write(d, "n9", "");
    // dom0 is not limited.
    for i in 0..20 {
        h.write(s, &format!("/local/domain/1/z{i}"), "");
    }
    // Node size.
    let big = [&b"n0\0"[..], &[b'x'; 300]].concat();
    assert_eq!(h.err(d, XS_WRITE, 0, &big), XsError::ENOSPC);
    // Path length below the domain's home.
    let long = format!("{}\0", "p".repeat(41));
    assert_eq!(h.err(d, XS_READ, 0, long.as_bytes()), XsError::EINVAL);
    // Watches.
    h.ok(d, XS_WATCH, 0, b"a\0t\0");
    h.ok(d, XS_WATCH, 0, b"b\0t\0");
    assert_eq!(h.err(d, XS_WATCH, 0, b"c\0t\0"), XsError::ENOSPC);
    // Permissions per node.
    assert_eq!(
        h.err(d, XS_SET_PERMS, 0, b"n0\0n1\0r2\0r3\0r4\0"),
        XsError::ENOSPC
    );
    h.ok(d, XS_SET_PERMS, 0, b"n0\0n1\0r2\0r3\0");
    // Transactions.
    let t1 = tx_start(&mut h, d);
    let _t2 = tx_start(&mut h, d);
    assert_eq!(h.err(d, XS_TRANSACTION_START, 0, b"\0"), XsError::ENOSPC);
    // Nodes created inside a transaction count too.
    assert_eq!(h.err(d, XS_WRITE, t1, b"n9/x\0"), XsError::ENOSPC);
    h.ok(d, XS_TRANSACTION_END, t1, b"F\0");
    h.ok(d, XS_RM, 0, b"n9\0");
    let t1 = tx_start(&mut h, d);
    tx_write(&mut h, d, t1, "n9", "in-tx");
    h.write(d, "other", "");
    assert_eq!(h.err(d, XS_TRANSACTION_END, t1, b"T\0"), XsError::ENOSPC);
    assert_eq!(h.xs.store().nodes_owned(DomId(1)), 10);
    // Accessed nodes per transaction.
    let t3 = tx_start(&mut h, d);
    let mut failed = false;
    for i in 0..30 {
        if h.reply(d, XS_READ, t3, format!("/local/domain/1/z{i}\0").as_bytes())
            .ty
            == XS_ERROR
        {
            failed = true;
            break;
        }
    }
    assert!(failed);
    assert_eq!(h.err(d, XS_TRANSACTION_END, t3, b"T\0"), XsError::ENOMEM);
    // GET/SET_QUOTA change the global values.
    h.ok(s, XS_SET_QUOTA, 0, b"nodes\x0020\0");
    assert_eq!(h.ok(s, XS_GET_QUOTA, 0, b"nodes\0"), b"20\0");
    h.write(d, "more", "");
    h.xs.store().check().unwrap();
}

// ---------------------------------------------------------------- hostile input

#[test]
fn reply_never_exceeds_payload_max() {
    let mut h = H::new();
    let s = h.xs.add_socket();
    let v = [&b"/big\0"[..], &[b'v'; XENSTORE_PAYLOAD_MAX - 5]].concat();
    h.ok(s, XS_WRITE, 0, &v);
    assert_eq!(h.read(s, "/big").unwrap().len(), XENSTORE_PAYLOAD_MAX - 5);
}

fn arb_path(r: &mut impl FnMut() -> u32) -> Vec<u8> {
    const SEG: [&str; 6] = ["a", "b", "local", "domain", "1", "@x"];
    let mut p = Vec::new();
    if !r().is_multiple_of(4) {
        p.push(b'/');
    }
    for i in 0..(r() % 4) {
        if i > 0 {
            p.push(b'/');
        }
        p.extend_from_slice(SEG[(r() % 6) as usize].as_bytes());
    }
    if r().is_multiple_of(20) {
        p.push(b'/');
    }
    if r().is_multiple_of(25) {
        p.push(b' ');
    }
    p
}

fn random_run(seed: u64, steps: usize) {
    let mut state = seed | 1;
    let mut r = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 32) as u32
    };
    let mut h = H::new();
    let conns = [h.xs.add_socket(), h.introduce(1), h.introduce(2)];
    let mut txs: Vec<u32> = vec![0];
    for _ in 0..steps {
        let c = conns[(r() % 3) as usize];
        let ty = match r() % 30 {
            n @ 0..=26 => n,
            27 => XS_INVALID,
            _ => r(),
        };
        let tx = if r() % 3 == 0 {
            txs[(r() as usize) % txs.len()]
        } else {
            0
        };
        let mut payload = Vec::new();
        let nargs = r() % 4;
        for i in 0..nargs {
            match (ty, i) {
                (XS_SET_PERMS, 1..) => {
                    let l = [b'n', b'r', b'w', b'b', b'x'][(r() % 5) as usize];
                    payload.push(l);
                    payload.extend_from_slice(format!("{}", r() % 4).as_bytes());
                }
                (XS_INTRODUCE | XS_RELEASE | XS_SET_TARGET | XS_GET_DOMAIN_PATH, _) => {
                    payload.extend_from_slice(format!("{}", r() % 6).as_bytes())
                }
                (XS_TRANSACTION_END, _) => payload.push([b'T', b'F'][(r() % 2) as usize]),
                _ => payload.extend(arb_path(&mut r)),
            }
            if r() % 10 != 0 {
                payload.push(0);
            }
        }
        if r() % 10 == 0 {
            let n = (r() % 64) as usize;
            payload.extend((0..n).map(|_| r() as u8));
        }
        let out = h.xs.handle(c, &Message::new(ty, r(), tx, &payload));
        for o in &out {
            if let Output::Send(_, m) = o {
                assert!(m.payload.len() <= XENSTORE_PAYLOAD_MAX);
                if m.ty == XS_TRANSACTION_START {
                    let id = core::str::from_utf8(&m.payload[..m.payload.len() - 1]).unwrap();
                    txs.push(id.parse().unwrap());
                }
            }
        }
        // Each request gets exactly one reply (unless its connection is gone).
        if h.xs.conn_kind(c).is_some() {
            let replies = sends(&out, c)
                .into_iter()
                .filter(|m| m.ty != XS_WATCH_EVENT)
                .count();
            assert_eq!(replies, 1, "{ty} {payload:?} {out:?}");
        }
        h.xs.store().check().unwrap();
    }
}

#[test]
fn random_messages_keep_tree_consistent() {
    for seed in 1..40u64 {
        random_run(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 1500);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
        let mut xs = Xenstored::default();
        let c = xs.add_socket();
        let mut d = Decoder::new();
        for item in d.push_all(&bytes) {
            let _ = xs.handle_decoded(c, &item);
        }
        xs.store().check().unwrap();
    }

    #[test]
    fn decoder_split_anywhere(split in 0usize..200) {
        let mut s = raw(XS_WRITE, 1, 0, b"/a\0b");
        s.extend(raw(XS_READ, 2, 0, &[7; 100]));
        s.extend(raw(XS_RM, 3, 4, b"/a\0"));
        let split = split.min(s.len());
        let mut d = Decoder::new();
        let mut items = d.push_all(&s[..split]);
        items.extend(d.push_all(&s[split..]));
        proptest::prop_assert_eq!(items.len(), 3);
    }
}

#[test]
fn socket_acting_as_a_domain_is_unprivileged() {
    let mut h = H::new();
    let s = h.xs.add_socket();
    let t = h.xs.add_socket();
    h.write(s, "/secret", "x");
    assert!(h.xs.set_conn_domain(t, DomId(5)));
    assert_eq!(h.xs.conn_domain(t), Some(DomId(5)));
    assert_eq!(h.read(t, "/secret"), Err(XsError::EACCES));
    assert_eq!(h.err(t, XS_WRITE, 0, b"/secret\0y"), XsError::EACCES);
    assert_eq!(h.err(t, XS_INTRODUCE, 0, b"6\x001\x002\0"), XsError::EACCES);
    h.ok(s, XS_SET_PERMS, 0, b"/secret\0n0\0r5\0");
    assert_eq!(h.read(t, "/secret").unwrap(), b"x");
    assert_eq!(h.err(t, XS_WRITE, 0, b"/secret\0y"), XsError::EACCES);
    // Relative paths are the domain's home.
    assert_eq!(h.ok(t, XS_GET_DOMAIN_PATH, 0, b"5\0"), b"/local/domain/5\0");
    // Back to dom0: privileged again; ring connections cannot change.
    assert!(h.xs.set_conn_domain(t, DomId(0)));
    h.write(t, "/secret", "z");
    let d = h.introduce(3);
    assert!(!h.xs.set_conn_domain(d, DomId(0)));
}
