//! Kernel images `xl create` loads: an arm64 Linux `Image` (Linux's
//! `Documentation/arm64/booting.rst` header), or that Image gzip'd as Debian ships
//! `/boot/vmlinuz` on some releases (RFC 1952), as libxenguest's `xg_dom_armzimageloader.c`
//! (64-bit zImage loader) and its decompressor `xg_dom_bzimageloader.c` accept them.

use std::fmt;

/// `ARM\x64` at offset 0x38 of an arm64 Image.
pub const ARM64_MAGIC: [u8; 4] = *b"ARM\x64";
/// The text offset of Images older than Linux 3.17, whose header leaves `image_size` 0.
pub const LEGACY_TEXT_OFFSET: u64 = 0x80000;
/// The largest kernel accepted after decompression.
pub const MAX_KERNEL: usize = 256 << 20;

/// A kernel ready to be copied into guest RAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    /// The Image's bytes (decompressed).
    pub bytes: Vec<u8>,
    /// Offset of the load address from a 2 MiB-aligned RAM base.
    pub text_offset: u64,
    /// Bytes the kernel occupies once running (file + BSS); at least `bytes.len()`.
    pub image_size: u64,
    /// Whether the file was gzip'd.
    pub was_gzip: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// Not an arm64 Image (nor gzip of one).
    NotArm64,
    /// Shorter than the 64-byte header.
    Truncated,
    /// A gzip stream that does not decode.
    BadGzip(String),
    TooLarge,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::NotArm64 => write!(
                f,
                "not an arm64 Linux Image (no ARM\\x64 magic at 0x38) nor a gzip'd one"
            ),
            ImageError::Truncated => write!(f, "shorter than an arm64 Image header (64 bytes)"),
            ImageError::BadGzip(e) => write!(f, "gzip data does not decompress: {e}"),
            ImageError::TooLarge => write!(f, "larger than {} MiB", MAX_KERNEL >> 20),
        }
    }
}

fn le64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// Parses (and if needed decompresses) a kernel file.
pub fn load_kernel(file: &[u8]) -> Result<Kernel, ImageError> {
    let (bytes, was_gzip) = if is_gzip(file) {
        (gunzip(file)?, true)
    } else {
        (file.to_vec(), false)
    };
    if bytes.len() < 64 {
        return Err(ImageError::Truncated);
    }
    if bytes[0x38..0x3c] != ARM64_MAGIC {
        return Err(ImageError::NotArm64);
    }
    let (text_offset, image_size) = match le64(&bytes, 16) {
        0 => (LEGACY_TEXT_OFFSET, 0),
        n => (le64(&bytes, 8), n),
    };
    let image_size = image_size.max(bytes.len() as u64);
    Ok(Kernel {
        bytes,
        text_offset,
        image_size,
        was_gzip,
    })
}

pub fn is_gzip(b: &[u8]) -> bool {
    b.len() >= 18 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8
}

const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;

/// Decompresses one gzip member (RFC 1952): header, raw deflate, CRC-32 and size checked.
pub fn gunzip(b: &[u8]) -> Result<Vec<u8>, ImageError> {
    let bad = |m: &str| ImageError::BadGzip(m.to_string());
    if !is_gzip(b) {
        return Err(bad("no gzip header"));
    }
    let flags = b[3];
    let mut p = 10usize;
    if flags & FEXTRA != 0 {
        let n = b.get(p..p + 2).ok_or_else(|| bad("truncated FEXTRA"))?;
        p += 2 + usize::from(u16::from_le_bytes([n[0], n[1]]));
    }
    for f in [FNAME, FCOMMENT] {
        if flags & f != 0 {
            let end = b
                .get(p..)
                .and_then(|r| r.iter().position(|&c| c == 0))
                .ok_or_else(|| bad("unterminated name or comment"))?;
            p += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        p += 2;
    }
    if p + 8 > b.len() {
        return Err(bad("truncated"));
    }
    let out = miniz_oxide::inflate::decompress_to_vec_with_limit(&b[p..b.len() - 8], MAX_KERNEL)
        .map_err(|e| match e.status {
            miniz_oxide::inflate::TINFLStatus::HasMoreOutput => ImageError::TooLarge,
            s => ImageError::BadGzip(format!("{s:?}")),
        })?;
    let t = &b[b.len() - 8..];
    let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
    let isize = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
    if isize != out.len() as u32 {
        return Err(bad("length in the trailer does not match"));
    }
    if crc != crc32(&out) {
        return Err(bad("CRC-32 mismatch"));
    }
    Ok(out)
}

/// CRC-32 (IEEE 802.3, reflected, as gzip).
pub fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, e) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *e = c;
    }
    let mut c = !0u32;
    for &x in data {
        c = table[((c ^ u32::from(x)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal arm64 Image header + body.
    pub fn fake_image(text_offset: u64, image_size: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len.max(64)];
        v[8..16].copy_from_slice(&text_offset.to_le_bytes());
        v[16..24].copy_from_slice(&image_size.to_le_bytes());
        v[0x38..0x3c].copy_from_slice(&ARM64_MAGIC);
        for (i, b) in v.iter_mut().enumerate().skip(64) {
            *b = (i * 31) as u8;
        }
        v
    }

    /// gzip with stored (uncompressed) deflate blocks and a file name, built by hand.
    pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
        let mut g = vec![0x1f, 0x8b, 8, FNAME, 0, 0, 0, 0, 0, 3];
        g.extend_from_slice(b"Image\0");
        let chunks: Vec<&[u8]> = data.chunks(65535).collect();
        for (i, c) in chunks.iter().enumerate() {
            g.push(u8::from(i + 1 == chunks.len()));
            let n = c.len() as u16;
            g.extend_from_slice(&n.to_le_bytes());
            g.extend_from_slice(&(!n).to_le_bytes());
            g.extend_from_slice(c);
        }
        g.extend_from_slice(&crc32(data).to_le_bytes());
        g.extend_from_slice(&(data.len() as u32).to_le_bytes());
        g
    }

    #[test]
    fn plain_image() {
        let k = load_kernel(&fake_image(0, 0x200_0000, 4096)).unwrap();
        assert_eq!(k.text_offset, 0);
        assert_eq!(k.image_size, 0x200_0000);
        assert!(!k.was_gzip);
        // image_size 0: a pre-3.17 kernel at 0x80000.
        let k = load_kernel(&fake_image(0x1234, 0, 4096)).unwrap();
        assert_eq!((k.text_offset, k.image_size), (LEGACY_TEXT_OFFSET, 4096));
    }

    #[test]
    fn gzip_image() {
        let img = fake_image(0, 0x10_0000, 200_000);
        let k = load_kernel(&gzip_stored(&img)).unwrap();
        assert!(k.was_gzip);
        assert_eq!(k.bytes, img);
        let mut bad = gzip_stored(&img);
        let n = bad.len();
        bad[n - 5] ^= 1; // CRC
        assert!(matches!(load_kernel(&bad), Err(ImageError::BadGzip(_))));
    }

    #[test]
    fn rejects() {
        assert_eq!(load_kernel(b"hello"), Err(ImageError::Truncated));
        assert_eq!(load_kernel(&[0u8; 100]), Err(ImageError::NotArm64));
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
