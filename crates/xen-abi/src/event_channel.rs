//! Event-channel operations of `xen/include/public/event_channel.h`
//! (`HYPERVISOR_event_channel_op(cmd, arg)`).

use crate::xen::{domid_t, xen_ulong_t};

/// `evtchn_port_t` (event_channel.h).
pub type evtchn_port_t = u32;

/// `EVTCHNOP_bind_interdomain` (event_channel.h).
pub const EVTCHNOP_bind_interdomain: u32 = 0;
/// `EVTCHNOP_bind_virq` (event_channel.h).
pub const EVTCHNOP_bind_virq: u32 = 1;
/// `EVTCHNOP_bind_pirq` (event_channel.h).
pub const EVTCHNOP_bind_pirq: u32 = 2;
/// `EVTCHNOP_close` (event_channel.h).
pub const EVTCHNOP_close: u32 = 3;
/// `EVTCHNOP_send` (event_channel.h).
pub const EVTCHNOP_send: u32 = 4;
/// `EVTCHNOP_status` (event_channel.h).
pub const EVTCHNOP_status: u32 = 5;
/// `EVTCHNOP_alloc_unbound` (event_channel.h).
pub const EVTCHNOP_alloc_unbound: u32 = 6;
/// `EVTCHNOP_bind_ipi` (event_channel.h).
pub const EVTCHNOP_bind_ipi: u32 = 7;
/// `EVTCHNOP_bind_vcpu` (event_channel.h).
pub const EVTCHNOP_bind_vcpu: u32 = 8;
/// `EVTCHNOP_unmask` (event_channel.h).
pub const EVTCHNOP_unmask: u32 = 9;
/// `EVTCHNOP_reset` (event_channel.h).
pub const EVTCHNOP_reset: u32 = 10;
/// `EVTCHNOP_init_control`: FIFO ABI (event_channel.h).
pub const EVTCHNOP_init_control: u32 = 11;
/// `EVTCHNOP_expand_array`: FIFO ABI (event_channel.h).
pub const EVTCHNOP_expand_array: u32 = 12;
/// `EVTCHNOP_set_priority`: FIFO ABI (event_channel.h).
pub const EVTCHNOP_set_priority: u32 = 13;

/// `EVTCHNSTAT_closed` (event_channel.h).
pub const EVTCHNSTAT_closed: u32 = 0;
/// `EVTCHNSTAT_unbound` (event_channel.h).
pub const EVTCHNSTAT_unbound: u32 = 1;
/// `EVTCHNSTAT_interdomain` (event_channel.h).
pub const EVTCHNSTAT_interdomain: u32 = 2;
/// `EVTCHNSTAT_pirq` (event_channel.h).
pub const EVTCHNSTAT_pirq: u32 = 3;
/// `EVTCHNSTAT_virq` (event_channel.h).
pub const EVTCHNSTAT_virq: u32 = 4;
/// `EVTCHNSTAT_ipi` (event_channel.h).
pub const EVTCHNSTAT_ipi: u32 = 5;

/// `BIND_PIRQ__WILL_SHARE` (event_channel.h).
pub const BIND_PIRQ__WILL_SHARE: u32 = 1;

/// `EVTCHN_2L_NR_CHANNELS`: ports of the 2-level ABI with a 64-bit `xen_ulong_t`
/// (event_channel.h).
pub const EVTCHN_2L_NR_CHANNELS: u32 =
    (core::mem::size_of::<xen_ulong_t>() * core::mem::size_of::<xen_ulong_t>() * 64) as u32;
/// `NR_EVENT_CHANNELS` (xen.h, interface < 4.4): the 2-level limit, 4096 on ARM.
pub const NR_EVENT_CHANNELS: u32 = EVTCHN_2L_NR_CHANNELS;

/// `EVTCHN_FIFO_PRIORITY_MAX` (event_channel.h).
pub const EVTCHN_FIFO_PRIORITY_MAX: u32 = 0;
/// `EVTCHN_FIFO_PRIORITY_DEFAULT` (event_channel.h).
pub const EVTCHN_FIFO_PRIORITY_DEFAULT: u32 = 7;
/// `EVTCHN_FIFO_PRIORITY_MIN` (event_channel.h).
pub const EVTCHN_FIFO_PRIORITY_MIN: u32 = 15;
/// `EVTCHN_FIFO_MAX_QUEUES` (event_channel.h).
pub const EVTCHN_FIFO_MAX_QUEUES: usize = EVTCHN_FIFO_PRIORITY_MIN as usize + 1;
/// `EVTCHN_FIFO_PENDING` bit of an `event_word_t` (event_channel.h).
pub const EVTCHN_FIFO_PENDING: u32 = 31;
/// `EVTCHN_FIFO_MASKED` (event_channel.h).
pub const EVTCHN_FIFO_MASKED: u32 = 30;
/// `EVTCHN_FIFO_LINKED` (event_channel.h).
pub const EVTCHN_FIFO_LINKED: u32 = 29;
/// `EVTCHN_FIFO_BUSY` (event_channel.h).
pub const EVTCHN_FIFO_BUSY: u32 = 28;
/// `EVTCHN_FIFO_LINK_BITS` (event_channel.h).
pub const EVTCHN_FIFO_LINK_BITS: u32 = 17;
/// `EVTCHN_FIFO_LINK_MASK` (event_channel.h).
pub const EVTCHN_FIFO_LINK_MASK: u32 = (1 << EVTCHN_FIFO_LINK_BITS) - 1;
/// `EVTCHN_FIFO_NR_CHANNELS` (event_channel.h).
pub const EVTCHN_FIFO_NR_CHANNELS: u32 = 1 << EVTCHN_FIFO_LINK_BITS;
/// `event_word_t` (event_channel.h).
pub type event_word_t = u32;

abi! {
    /// `struct evtchn_alloc_unbound` (event_channel.h).
    pub struct evtchn_alloc_unbound {
        pub dom: domid_t,
        pub remote_dom: domid_t,
        /// OUT.
        pub port: evtchn_port_t,
    }
}
layout!(layout_evtchn_alloc_unbound, evtchn_alloc_unbound, 8, dom @ 0, remote_dom @ 2, port @ 4);

abi! {
    /// `struct evtchn_bind_interdomain` (event_channel.h).
    pub struct evtchn_bind_interdomain {
        pub remote_dom: domid_t,
        pub _pad0: u16,
        pub remote_port: evtchn_port_t,
        /// OUT.
        pub local_port: evtchn_port_t,
    }
}
layout!(layout_evtchn_bind_interdomain, evtchn_bind_interdomain, 12, remote_dom @ 0,
    remote_port @ 4, local_port @ 8);

abi! {
    /// `struct evtchn_bind_virq` (event_channel.h).
    pub struct evtchn_bind_virq {
        pub virq: u32,
        pub vcpu: u32,
        /// OUT.
        pub port: evtchn_port_t,
    }
}
layout!(layout_evtchn_bind_virq, evtchn_bind_virq, 12, virq @ 0, vcpu @ 4, port @ 8);

abi! {
    /// `struct evtchn_bind_pirq` (event_channel.h).
    pub struct evtchn_bind_pirq {
        pub pirq: u32,
        /// `BIND_PIRQ__*`.
        pub flags: u32,
        /// OUT.
        pub port: evtchn_port_t,
    }
}
layout!(layout_evtchn_bind_pirq, evtchn_bind_pirq, 12, pirq @ 0, flags @ 4, port @ 8);

abi! {
    /// `struct evtchn_bind_ipi` (event_channel.h).
    pub struct evtchn_bind_ipi {
        pub vcpu: u32,
        /// OUT.
        pub port: evtchn_port_t,
    }
}
layout!(layout_evtchn_bind_ipi, evtchn_bind_ipi, 8, vcpu @ 0, port @ 4);

abi! {
    /// `struct evtchn_close` (event_channel.h).
    pub struct evtchn_close {
        pub port: evtchn_port_t,
    }
}
layout!(layout_evtchn_close, evtchn_close, 4, port @ 0);

abi! {
    /// `struct evtchn_send` (event_channel.h).
    pub struct evtchn_send {
        pub port: evtchn_port_t,
    }
}
layout!(layout_evtchn_send, evtchn_send, 4, port @ 0);

abi! {
    /// `struct evtchn_status` (event_channel.h). The C union `u` (`unbound.dom`,
    /// `interdomain.{dom, port}`, `pirq`, `virq`) is two little-endian 32-bit words here; use
    /// the accessors.
    pub struct evtchn_status {
        /// IN: domain to query (`DOMID_SELF` or a domain the caller controls).
        pub dom: domid_t,
        pub _pad0: u16,
        /// IN.
        pub port: evtchn_port_t,
        /// OUT: `EVTCHNSTAT_*`.
        pub status: u32,
        /// OUT: vCPU the channel notifies.
        pub vcpu: u32,
        /// OUT: the union `u`.
        pub u: [u32; 2],
    }
}
layout!(layout_evtchn_status, evtchn_status, 24, dom @ 0, port @ 4, status @ 8, vcpu @ 12,
    u @ 16);

impl evtchn_status {
    /// Sets `u.unbound.dom`.
    pub fn set_unbound(&mut self, dom: domid_t) {
        self.u = [u32::from(dom), 0];
    }
    /// Sets `u.interdomain.{dom, port}`.
    pub fn set_interdomain(&mut self, dom: domid_t, port: evtchn_port_t) {
        self.u = [u32::from(dom), port];
    }
    /// Sets `u.virq`.
    pub fn set_virq(&mut self, virq: u32) {
        self.u = [virq, 0];
    }
    /// Sets `u.pirq`.
    pub fn set_pirq(&mut self, pirq: u32) {
        self.u = [pirq, 0];
    }
    /// `u.unbound.dom` / `u.interdomain.dom` (both at offset 0 of the union).
    pub fn u_dom(&self) -> domid_t {
        // Little-endian: the u16 at union offset 0 is the low half of word 0.
        (self.u[0] & 0xffff) as domid_t
    }
    /// `u.interdomain.port`.
    pub fn u_interdomain_port(&self) -> evtchn_port_t {
        self.u[1]
    }
    /// `u.virq` / `u.pirq`.
    pub fn u_word(&self) -> u32 {
        self.u[0]
    }
}

abi! {
    /// `struct evtchn_bind_vcpu` (event_channel.h).
    pub struct evtchn_bind_vcpu {
        pub port: evtchn_port_t,
        pub vcpu: u32,
    }
}
layout!(layout_evtchn_bind_vcpu, evtchn_bind_vcpu, 8, port @ 0, vcpu @ 4);

abi! {
    /// `struct evtchn_unmask` (event_channel.h).
    pub struct evtchn_unmask {
        pub port: evtchn_port_t,
    }
}
layout!(layout_evtchn_unmask, evtchn_unmask, 4, port @ 0);

abi! {
    /// `struct evtchn_reset` (event_channel.h).
    pub struct evtchn_reset {
        pub dom: domid_t,
    }
}
layout!(layout_evtchn_reset, evtchn_reset, 2, dom @ 0);

abi! {
    /// `struct evtchn_init_control` (event_channel.h), FIFO ABI.
    pub struct evtchn_init_control {
        pub control_gfn: u64,
        pub offset: u32,
        pub vcpu: u32,
        /// OUT.
        pub link_bits: u8,
        pub _pad: [u8; 7],
    }
}
layout!(layout_evtchn_init_control, evtchn_init_control, 24, control_gfn @ 0, offset @ 8,
    vcpu @ 12, link_bits @ 16);

abi! {
    /// `struct evtchn_expand_array` (event_channel.h), FIFO ABI.
    pub struct evtchn_expand_array {
        pub array_gfn: u64,
    }
}
layout!(layout_evtchn_expand_array, evtchn_expand_array, 8, array_gfn @ 0);

abi! {
    /// `struct evtchn_set_priority` (event_channel.h), FIFO ABI.
    pub struct evtchn_set_priority {
        pub port: evtchn_port_t,
        pub priority: u32,
    }
}
layout!(layout_evtchn_set_priority, evtchn_set_priority, 8, port @ 0, priority @ 4);

abi! {
    /// `struct evtchn_op` (event_channel.h): the `__HYPERVISOR_event_channel_op_compat`
    /// argument; the union `u` (largest member `evtchn_status`) is raw words.
    pub struct evtchn_op {
        pub cmd: u32,
        pub u: [u32; 6],
    }
}
layout!(layout_evtchn_op, evtchn_op, 28, cmd @ 0, u @ 4);

abi! {
    /// `struct evtchn_fifo_control_block` (event_channel.h).
    pub struct evtchn_fifo_control_block {
        pub ready: u32,
        pub _rsvd: u32,
        pub head: [u32; EVTCHN_FIFO_MAX_QUEUES],
    }
}
layout!(layout_evtchn_fifo_control_block, evtchn_fifo_control_block, 72, ready @ 0, head @ 8);

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::{FromBytes, FromZeros, IntoBytes};

    #[test]
    fn two_level_limit() {
        assert_eq!(EVTCHN_2L_NR_CHANNELS, 4096);
        assert_eq!(NR_EVENT_CHANNELS, 4096);
        assert_eq!(EVTCHN_FIFO_NR_CHANNELS, 131072);
    }

    #[test]
    fn status_union_bytes() {
        let mut s = evtchn_status::new_zeroed();
        s.set_interdomain(0x1234, 0xdead_beef);
        let b = s.as_bytes();
        assert_eq!(&b[16..18], &0x1234u16.to_le_bytes());
        assert_eq!(&b[20..24], &0xdead_beefu32.to_le_bytes());
        let back = evtchn_status::read_from_bytes(b).unwrap();
        assert_eq!(back.u_dom(), 0x1234);
        assert_eq!(back.u_interdomain_port(), 0xdead_beef);
        s.set_virq(5);
        assert_eq!(s.u_word(), 5);
    }
}
