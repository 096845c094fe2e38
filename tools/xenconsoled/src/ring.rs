//! `struct xencons_interface` (`xen/include/public/io/console.h`): the page a domain's PV
//! console shares with dom0, two byte rings with free-running 32-bit indices, `in` (1024
//! bytes, dom0 -> guest: keyboard input) and `out` (2048 bytes, guest -> dom0: output).
//! Index math and copying as pure code over a [`RingPage`]; the guest writes the page
//! concurrently and may be hostile, so each index is read once and checked.
//!
//! [`Bridge`] is one console's buffering between the ring and a pty, as Xen's
//! `tools/console/daemon/io.c` does it: guest output waits in a bounded buffer for the pty
//! (oldest bytes dropped when nobody reads it), pty input waits for ring space.

use xenstore::ring::RingPage;

/// `sizeof(in)`.
pub const IN_SIZE: u32 = 1024;
/// `sizeof(out)`.
pub const OUT_SIZE: u32 = 2048;
/// Offset of `in[]`.
pub const IN_OFFSET: usize = 0;
/// Offset of `out[]`.
pub const OUT_OFFSET: usize = 1024;
/// Offset of `in_cons`.
pub const IN_CONS: usize = 3072;
/// Offset of `in_prod`.
pub const IN_PROD: usize = 3076;
/// Offset of `out_cons`.
pub const OUT_CONS: usize = 3080;
/// Offset of `out_prod`.
pub const OUT_PROD: usize = 3084;

/// The guest's indices are inconsistent (`prod - cons` beyond the ring's size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Broken;

/// Takes up to `buf.len()` bytes of guest output from `out[]`, advancing `out_cons`.
pub fn read_output<P: RingPage + ?Sized>(page: &mut P, buf: &mut [u8]) -> Result<usize, Broken> {
    let cons = page.load_u32(OUT_CONS);
    let prod = page.load_u32(OUT_PROD);
    let avail = prod.wrapping_sub(cons);
    if avail > OUT_SIZE {
        return Err(Broken);
    }
    page.fence();
    let n = (avail as usize).min(buf.len());
    for (i, b) in buf[..n].iter_mut().enumerate() {
        let idx = cons.wrapping_add(i as u32) & (OUT_SIZE - 1);
        page.read_bytes(OUT_OFFSET + idx as usize, std::slice::from_mut(b));
    }
    page.fence();
    page.store_u32(OUT_CONS, cons.wrapping_add(n as u32));
    Ok(n)
}

/// Puts as much of `data` as fits into `in[]`, advancing `in_prod`.
pub fn write_input<P: RingPage + ?Sized>(page: &mut P, data: &[u8]) -> Result<usize, Broken> {
    let cons = page.load_u32(IN_CONS);
    let prod = page.load_u32(IN_PROD);
    let used = prod.wrapping_sub(cons);
    if used > IN_SIZE {
        return Err(Broken);
    }
    page.fence();
    let n = ((IN_SIZE - used) as usize).min(data.len());
    for (i, b) in data[..n].iter().enumerate() {
        let idx = prod.wrapping_add(i as u32) & (IN_SIZE - 1);
        page.write_bytes(IN_OFFSET + idx as usize, std::slice::from_ref(b));
    }
    page.fence();
    page.store_u32(IN_PROD, prod.wrapping_add(n as u32));
    Ok(n)
}

/// Guest output kept for the pty at most (Xen's `buffer-limit` default is 1 MiB; a console
/// nobody watches should not grow dom0's memory).
pub const OUTPUT_LIMIT: usize = 64 << 10;
/// Input kept for the guest at most.
pub const INPUT_LIMIT: usize = 4 << 10;

/// One console's buffers between its ring and its pty.
#[derive(Debug, Default)]
pub struct Bridge {
    /// Guest output not yet written to the pty.
    pub to_pty: Vec<u8>,
    /// pty input not yet in the ring.
    pub to_guest: Vec<u8>,
    /// Output bytes dropped because nobody read the pty.
    pub dropped: u64,
}

/// What one [`Bridge::ring_step`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moved {
    /// Bytes taken from the guest's output ring.
    pub from_guest: usize,
    /// Bytes put into the guest's input ring.
    pub to_guest: usize,
}

impl Moved {
    /// True if the guest should be notified.
    pub fn any(&self) -> bool {
        self.from_guest > 0 || self.to_guest > 0
    }
}

impl Bridge {
    /// Moves ring traffic: all guest output into `to_pty` (dropping the oldest beyond
    /// [`OUTPUT_LIMIT`]), and queued input into the ring as space allows.
    pub fn ring_step<P: RingPage + ?Sized>(&mut self, page: &mut P) -> Result<Moved, Broken> {
        let mut m = Moved::default();
        let mut buf = [0u8; OUT_SIZE as usize];
        loop {
            let n = read_output(page, &mut buf)?;
            if n == 0 {
                break;
            }
            m.from_guest += n;
            self.to_pty.extend_from_slice(&buf[..n]);
        }
        if self.to_pty.len() > OUTPUT_LIMIT {
            let cut = self.to_pty.len() - OUTPUT_LIMIT;
            self.to_pty.drain(..cut);
            self.dropped += cut as u64;
        }
        if !self.to_guest.is_empty() {
            let n = write_input(page, &self.to_guest)?;
            self.to_guest.drain(..n);
            m.to_guest = n;
        }
        Ok(m)
    }

    /// pty input arrived; queues what fits under [`INPUT_LIMIT`], returns how much.
    pub fn input(&mut self, data: &[u8]) -> usize {
        let n = data
            .len()
            .min(INPUT_LIMIT - self.to_guest.len().min(INPUT_LIMIT));
        self.to_guest.extend_from_slice(&data[..n]);
        n
    }

    /// `n` bytes of `to_pty` were written to the pty.
    pub fn wrote_to_pty(&mut self, n: usize) {
        self.to_pty.drain(..n.min(self.to_pty.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guest's side of the page.
    fn guest_write(page: &mut [u8], data: &[u8]) {
        let mut prod = page.load_u32(OUT_PROD);
        for &b in data {
            page[OUT_OFFSET + (prod & (OUT_SIZE - 1)) as usize] = b;
            prod = prod.wrapping_add(1);
        }
        page.store_u32(OUT_PROD, prod);
    }

    fn guest_read(page: &mut [u8]) -> Vec<u8> {
        let mut cons = page.load_u32(IN_CONS);
        let prod = page.load_u32(IN_PROD);
        let mut v = Vec::new();
        while cons != prod {
            v.push(page[IN_OFFSET + (cons & (IN_SIZE - 1)) as usize]);
            cons = cons.wrapping_add(1);
        }
        page.store_u32(IN_CONS, cons);
        v
    }

    #[test]
    fn layout_matches_console_h() {
        // char in[1024]; char out[2048]; then four 32-bit indices.
        assert_eq!(OUT_OFFSET, IN_OFFSET + IN_SIZE as usize);
        assert_eq!(IN_CONS, OUT_OFFSET + OUT_SIZE as usize);
        assert_eq!([IN_PROD, OUT_CONS, OUT_PROD], [3076, 3080, 3084]);
    }

    #[test]
    fn output_and_input_wrap_around_the_index_space() {
        let mut page = vec![0u8; 4096];
        // Indices near 2^32: the copies wrap both the ring and the counter.
        for off in [IN_CONS, IN_PROD, OUT_CONS, OUT_PROD] {
            page.store_u32(off, u32::MAX - 5);
        }
        let mut br = Bridge::default();
        guest_write(&mut page, b"hello, dom0\r\n");
        let m = br.ring_step(&mut page[..]).unwrap();
        assert_eq!(m.from_guest, 13);
        assert_eq!(br.to_pty, b"hello, dom0\r\n");
        br.wrote_to_pty(7);
        assert_eq!(br.to_pty, b"dom0\r\n");
        assert_eq!(br.input(b"ls\r"), 3);
        let m = br.ring_step(&mut page[..]).unwrap();
        assert_eq!(m.to_guest, 3);
        assert_eq!(guest_read(&mut page), b"ls\r");
        assert!(br.to_guest.is_empty());
    }

    #[test]
    fn input_waits_for_ring_space() {
        let mut page = vec![0u8; 4096];
        let mut br = Bridge::default();
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        assert_eq!(br.input(&data), 3000);
        assert_eq!(br.ring_step(&mut page[..]).unwrap().to_guest, 1024);
        assert_eq!(
            br.ring_step(&mut page[..]).unwrap().to_guest,
            0,
            "ring full"
        );
        let mut got = guest_read(&mut page);
        while got.len() < 3000 {
            br.ring_step(&mut page[..]).unwrap();
            got.extend(guest_read(&mut page));
        }
        assert_eq!(got, data);
        // The input queue is bounded.
        let big = vec![b'x'; 10_000];
        assert_eq!(br.input(&big), INPUT_LIMIT);
        assert_eq!(br.input(b"more"), 0);
    }

    #[test]
    fn unread_output_is_bounded_oldest_dropped() {
        let mut page = vec![0u8; 4096];
        let mut br = Bridge::default();
        let mut all = Vec::new();
        for i in 0..100u32 {
            let chunk: Vec<u8> = (0..1000u32).map(|j| (i * 7 + j) as u8).collect();
            guest_write(&mut page, &chunk);
            br.ring_step(&mut page[..]).unwrap();
            all.extend(chunk);
        }
        assert_eq!(br.to_pty.len(), OUTPUT_LIMIT);
        assert_eq!(&br.to_pty[..], &all[all.len() - OUTPUT_LIMIT..]);
        assert_eq!(br.dropped, (all.len() - OUTPUT_LIMIT) as u64);
    }

    #[test]
    fn hostile_indices_are_refused() {
        let mut page = vec![0u8; 4096];
        let mut br = Bridge::default();
        page.store_u32(OUT_PROD, OUT_SIZE + 1);
        assert_eq!(br.ring_step(&mut page[..]), Err(Broken));
        let mut page = vec![0u8; 4096];
        page.store_u32(IN_PROD, IN_SIZE + 1);
        br.input(b"x");
        assert_eq!(br.ring_step(&mut page[..]), Err(Broken));
        // A full ring (exactly OUT_SIZE) is fine.
        let mut page = vec![0u8; 4096];
        page.store_u32(OUT_PROD, OUT_SIZE);
        let mut br = Bridge::default();
        assert_eq!(
            br.ring_step(&mut page[..]).unwrap().from_guest,
            OUT_SIZE as usize
        );
    }
}
