//! Serial input switching, as Xen's console does it (`xen/drivers/char/console.c`,
//! `__serial_rx`): typing CTRL-a three times moves the serial input between the guest (dom0)
//! and the hypervisor's own key handlers. CTRL-a characters are held back while they might be
//! the start of the switch sequence and passed on if something else follows.

/// The switch character, CTRL-a.
pub const SWITCH_CODE: u8 = 0x01;
/// CTRL-a presses that switch.
const SWITCH_COUNT: u8 = 3;

/// Where a typed byte goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routed {
    /// Input for the guest owning the console.
    Guest(u8),
    /// A key for the hypervisor's key handlers.
    Hypervisor(u8),
    /// The input just switched to the hypervisor.
    SwitchedToHypervisor,
    /// The input just switched back to the guest.
    SwitchedToGuest,
}

/// The switch state machine.
#[derive(Clone, Debug, Default)]
pub struct InputSwitch {
    held: u8,
    to_hypervisor: bool,
}

impl InputSwitch {
    /// Input starts with the guest.
    pub const fn new() -> Self {
        Self {
            held: 0,
            to_hypervisor: false,
        }
    }

    /// Whether input currently goes to the hypervisor.
    pub fn to_hypervisor(&self) -> bool {
        self.to_hypervisor
    }

    fn route(&self, b: u8) -> Routed {
        if self.to_hypervisor {
            Routed::Hypervisor(b)
        } else {
            Routed::Guest(b)
        }
    }

    /// Feeds one typed byte; `out` receives what it means, in order.
    pub fn feed(&mut self, b: u8, mut out: impl FnMut(Routed)) {
        if b == SWITCH_CODE {
            self.held += 1;
            if self.held == SWITCH_COUNT {
                self.held = 0;
                self.to_hypervisor = !self.to_hypervisor;
                out(if self.to_hypervisor {
                    Routed::SwitchedToHypervisor
                } else {
                    Routed::SwitchedToGuest
                });
            }
            return;
        }
        for _ in 0..core::mem::take(&mut self.held) {
            out(self.route(SWITCH_CODE));
        }
        out(self.route(b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    fn run(s: &mut InputSwitch, bytes: &[u8]) -> Vec<Routed> {
        let mut v = Vec::new();
        for &b in bytes {
            s.feed(b, |r| v.push(r));
        }
        v
    }

    #[test]
    fn plain_input_goes_to_the_guest() {
        let mut s = InputSwitch::new();
        assert_eq!(
            run(&mut s, b"ls"),
            [Routed::Guest(b'l'), Routed::Guest(b's')]
        );
    }

    #[test]
    fn three_ctrl_a_switch_both_ways() {
        let mut s = InputSwitch::new();
        assert_eq!(run(&mut s, &[1, 1, 1]), [Routed::SwitchedToHypervisor]);
        assert!(s.to_hypervisor());
        assert_eq!(run(&mut s, b"h"), [Routed::Hypervisor(b'h')]);
        assert_eq!(
            run(&mut s, &[1, 1, 1, b'x']),
            [Routed::SwitchedToGuest, Routed::Guest(b'x')]
        );
    }

    #[test]
    fn held_ctrl_a_pass_through_when_interrupted() {
        let mut s = InputSwitch::new();
        // CTRL-a CTRL-a x: both CTRL-a reach the guest (e.g. for a nested terminal program).
        assert_eq!(
            run(&mut s, &[1, 1, b'x']),
            [Routed::Guest(1), Routed::Guest(1), Routed::Guest(b'x')]
        );
        assert!(!s.to_hypervisor());
    }
}
