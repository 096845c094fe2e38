//! Serial input switching, as Xen's console does it (`xen/drivers/char/console.c`,
//! `__serial_rx` and `switch_serial_input`): typing CTRL-a three times moves the serial input
//! to the next of dom0, the domains built at boot (dom0less domUs, in domain-id order) and the
//! hypervisor's own key handlers, then round again. CTRL-a characters are held back while they
//! might be the start of the switch sequence and passed on if something else follows.
//!
//! [`GuestOutput`] is the other direction: a console-owning domU's output on the shared serial
//! line, each line prefixed with `(dN) ` so the lines of several domains stay apart.

/// The switch character, CTRL-a.
pub const SWITCH_CODE: u8 = 0x01;
/// CTRL-a presses that switch.
const SWITCH_COUNT: u8 = 3;

/// Who receives serial input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    /// The hypervisor's key handlers.
    Hypervisor,
    /// Domain `id`'s console.
    Domain(u16),
}

/// Where a typed byte goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routed {
    /// Input for domain `.0`'s console.
    Guest(u16, u8),
    /// A key for the hypervisor's key handlers.
    Hypervisor(u8),
    /// The input just switched.
    Switched(Focus),
}

/// The switch state machine.
#[derive(Clone, Debug)]
pub struct InputSwitch {
    held: u8,
    focus: Focus,
}

impl Default for InputSwitch {
    fn default() -> Self {
        Self::new()
    }
}

impl InputSwitch {
    /// Input starts with dom0 (Xen switches to dom0 at the end of its boot).
    pub const fn new() -> Self {
        Self {
            held: 0,
            focus: Focus::Domain(0),
        }
    }

    /// Who receives input now.
    pub fn focus(&self) -> Focus {
        self.focus
    }

    /// Whether input currently goes to the hypervisor.
    pub fn to_hypervisor(&self) -> bool {
        self.focus == Focus::Hypervisor
    }

    fn route(&self, b: u8) -> Routed {
        match self.focus {
            Focus::Hypervisor => Routed::Hypervisor(b),
            Focus::Domain(d) => Routed::Guest(d, b),
        }
    }

    /// The focus after `self.focus` in the cycle dom0, `domus` (ascending ids, 0 excluded),
    /// hypervisor, dom0, ...
    fn next(&self, domus: &[u16]) -> Focus {
        match self.focus {
            Focus::Hypervisor => Focus::Domain(0),
            Focus::Domain(cur) => domus
                .iter()
                .copied()
                .filter(|&d| d > cur)
                .min()
                .map_or(Focus::Hypervisor, Focus::Domain),
        }
    }

    /// Feeds one typed byte; `out` receives what it means, in order. `domus` lists the domains
    /// besides dom0 that can take input now (the cycle skips the others).
    pub fn feed(&mut self, b: u8, domus: &[u16], mut out: impl FnMut(Routed)) {
        if b == SWITCH_CODE {
            self.held += 1;
            if self.held == SWITCH_COUNT {
                self.held = 0;
                self.focus = self.next(domus);
                out(Routed::Switched(self.focus));
            }
            return;
        }
        for _ in 0..core::mem::take(&mut self.held) {
            out(self.route(SWITCH_CODE));
        }
        out(self.route(b));
    }

    /// Moves the input back to dom0 if it is with domain `id` (which is going away).
    pub fn forget(&mut self, id: u16) -> bool {
        if self.focus == Focus::Domain(id) && id != 0 {
            self.focus = Focus::Domain(0);
            return true;
        }
        false
    }
}

/// Bytes of a domain's output line held back while it does not have the input (Xen's
/// `SBSA_UART_OUT_BUF_SIZE`): a longer line is broken.
pub const OUT_LINE: usize = 128;

/// One domain's console output on the shared serial line, as Xen's `vpl011_write_data_xen`:
/// while the domain has the serial input its bytes go out at once (a shell prompt shows before
/// its line ends); otherwise whole lines go out, so they never mix with other output. Every line
/// starts with `(dN) `; `\r` is dropped (`\r\n` is written at each line end).
#[derive(Clone, Debug)]
pub struct GuestOutput {
    mid_line: bool,
    buf: [u8; OUT_LINE],
    len: usize,
}

impl Default for GuestOutput {
    fn default() -> Self {
        Self::new()
    }
}

impl GuestOutput {
    /// Starts at the beginning of a line.
    pub const fn new() -> Self {
        Self {
            mid_line: false,
            buf: [0; OUT_LINE],
            len: 0,
        }
    }

    fn start(&mut self, id: u16, out: &mut impl FnMut(&[u8])) {
        if !self.mid_line {
            let mut p = [0u8; 10];
            out(prefix(id, &mut p));
            self.mid_line = true;
        }
    }

    fn end_line(&mut self, id: u16, out: &mut impl FnMut(&[u8])) {
        self.start(id, out);
        out(&self.buf[..self.len]);
        out(b"\r\n");
        self.len = 0;
        self.mid_line = false;
    }

    /// Feeds one byte domain `id` wrote, `focused` if it has the serial input; `out` receives
    /// what to print.
    pub fn feed(&mut self, id: u16, b: u8, focused: bool, mut out: impl FnMut(&[u8])) {
        if b == b'\r' {
            return;
        }
        if focused {
            if b == b'\n' {
                self.end_line(id, &mut out);
            } else {
                self.start(id, &mut out);
                if self.len > 0 {
                    out(&self.buf[..self.len]);
                    self.len = 0;
                }
                out(&[b]);
            }
            return;
        }
        if b == b'\n' {
            self.end_line(id, &mut out);
            return;
        }
        self.buf[self.len] = b;
        self.len += 1;
        if self.len == OUT_LINE {
            self.end_line(id, &mut out);
        }
    }

    /// Whether a line is open on the serial line.
    pub fn mid_line(&self) -> bool {
        self.mid_line
    }
}

/// `(dN) ` for domain `id`, in `buf`.
fn prefix(id: u16, buf: &mut [u8; 10]) -> &[u8] {
    let mut digits = [0u8; 5];
    let mut n = id;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf[0] = b'(';
    buf[1] = b'd';
    for i in 0..len {
        buf[2 + i] = digits[len - 1 - i];
    }
    buf[2 + len] = b')';
    buf[3 + len] = b' ';
    &buf[..4 + len]
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    fn run(s: &mut InputSwitch, domus: &[u16], bytes: &[u8]) -> Vec<Routed> {
        let mut v = Vec::new();
        for &b in bytes {
            s.feed(b, domus, |r| v.push(r));
        }
        v
    }

    #[test]
    fn plain_input_goes_to_dom0() {
        let mut s = InputSwitch::new();
        assert_eq!(
            run(&mut s, &[], b"ls"),
            [Routed::Guest(0, b'l'), Routed::Guest(0, b's')]
        );
    }

    #[test]
    fn three_ctrl_a_switch_both_ways_without_domus() {
        let mut s = InputSwitch::new();
        assert_eq!(
            run(&mut s, &[], &[1, 1, 1]),
            [Routed::Switched(Focus::Hypervisor)]
        );
        assert!(s.to_hypervisor());
        assert_eq!(run(&mut s, &[], b"h"), [Routed::Hypervisor(b'h')]);
        assert_eq!(
            run(&mut s, &[], &[1, 1, 1, b'x']),
            [Routed::Switched(Focus::Domain(0)), Routed::Guest(0, b'x')]
        );
    }

    #[test]
    fn cycle_through_domus_as_xen() {
        let mut s = InputSwitch::new();
        let domus = [2, 1];
        let mut seen = Vec::new();
        for _ in 0..4 {
            run(&mut s, &domus, &[1, 1, 1]);
            seen.push(s.focus());
        }
        assert_eq!(
            seen,
            [
                Focus::Domain(1),
                Focus::Domain(2),
                Focus::Hypervisor,
                Focus::Domain(0)
            ]
        );
        run(&mut s, &domus, &[1, 1, 1]);
        assert_eq!(run(&mut s, &domus, b"a"), [Routed::Guest(1, b'a')]);
        // Domain 1 went away: the next switch skips it, and forget() moves input back to dom0.
        assert!(s.forget(1));
        assert_eq!(s.focus(), Focus::Domain(0));
        assert!(!s.forget(0));
        run(&mut s, &[2], &[1, 1, 1]);
        assert_eq!(s.focus(), Focus::Domain(2));
    }

    #[test]
    fn held_ctrl_a_pass_through_when_interrupted() {
        let mut s = InputSwitch::new();
        // CTRL-a CTRL-a x: both CTRL-a reach the guest (e.g. for a nested terminal program).
        assert_eq!(
            run(&mut s, &[1], &[1, 1, b'x']),
            [
                Routed::Guest(0, 1),
                Routed::Guest(0, 1),
                Routed::Guest(0, b'x')
            ]
        );
        assert_eq!(s.focus(), Focus::Domain(0));
    }

    #[test]
    fn output_lines_are_prefixed() {
        let feed = |o: &mut GuestOutput, id, bytes: &[u8], focused| {
            let mut v = Vec::new();
            for &b in bytes {
                o.feed(id, b, focused, |s| v.extend_from_slice(s));
            }
            v
        };
        // Without the input: whole lines only.
        let mut o = GuestOutput::new();
        assert_eq!(
            feed(&mut o, 12, b"hi\r\n\r\n/ # ", false),
            b"(d12) hi\r\n(d12) \r\n"
        );
        // Given the input: the held prompt, then each byte at once.
        assert_eq!(feed(&mut o, 12, b"l", true), b"(d12) / # l");
        assert!(o.mid_line());
        assert_eq!(feed(&mut o, 12, b"s\r\n", true), b"s\r\n");
        assert!(!o.mid_line());
        // A line longer than the buffer is broken.
        let long = [b'x'; OUT_LINE + 1];
        let v = feed(&mut o, 1, &long, false);
        assert_eq!(v.len(), 5 + OUT_LINE + 2);
        assert!(v.ends_with(b"x\r\n"));
        let mut buf = [0; 10];
        assert_eq!(prefix(65535, &mut buf), b"(d65535) ");
        assert_eq!(prefix(0, &mut buf), b"(d0) ");
    }
}
