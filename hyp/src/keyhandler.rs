//! Xenith's debug keys, reached by typing CTRL-a three times on the serial console (as Xen's
//! key handlers are), or from dom0 with `XEN_SYSCTL_debug_keys` (`xl debug-keys`): information
//! about domains, memory and exits, and a reset.

use crate::{domain, mm, percpu, smp, stats};
use core::sync::atomic::Ordering;
use xenith_core::vpsci::Power;

/// Handles one key typed while serial input goes to Xenith.
pub fn handle(key: u8) {
    match key {
        b'h' => {
            info!("'h' this help");
            info!("'q' domains and their vCPUs");
            info!("'m' memory: free frames and heap");
            info!("'e' guest exits per pCPU, by kind");
            info!("'R' reset the machine");
        }
        b'q' => {
            for d in domain::DOMAINS.lock().iter() {
                info!(
                    "d{}: {} MiB RAM, {} vCPUs, VMID {}",
                    d.id,
                    d.ram_bytes >> 20,
                    d.vcpus.len(),
                    d.vmid
                );
                for v in &d.vcpus {
                    let p = match *v.power.lock() {
                        Power::On => "on",
                        Power::Off => "off",
                        Power::OnPending(_) => "starting",
                    };
                    info!(
                        "  d{}v{}: {p}, pCPU {}, MPIDR {:#x}",
                        d.id, v.id, v.pcpu, v.mpidr
                    );
                }
            }
        }
        b'm' => info!(
            "free frames: {} ({} MiB); heap in use: {} KiB ({} bytes)",
            mm::free_frame_count(),
            (mm::free_frame_count() as u64 * addr::PAGE_SIZE) >> 20,
            mm::heap_used() >> 10,
            mm::heap_used()
        ),
        b'e' => {
            for cpu in 0..percpu::MAX_PCPUS {
                let online = percpu::get(cpu).is_some_and(|p| p.online.load(Ordering::Relaxed));
                if !online {
                    continue;
                }
                let c = stats::of(cpu);
                let total: u64 = c.iter().sum();
                let mut line = alloc::string::String::new();
                for (n, v) in stats::NAMES.iter().zip(c) {
                    line.push_str(&alloc::format!(" {n}={v}"));
                }
                info!("pCPU {cpu}: {total} exits:{line}");
            }
        }
        b'R' => {
            info!("reset requested from the console");
            smp::system_reset()
        }
        _ => info!("key '{}' has no handler ('h' for help)", key.escape_ascii()),
    }
}
