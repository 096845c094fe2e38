//! `xl`: Xenith's toolstack in dom0, used as Xen's `xl` (tools/xl of Xen 4.17).
#![forbid(unsafe_code)]

mod build;
mod image;
mod plan;
mod xsent;

fn main() {
    eprintln!("xl: not yet");
    std::process::exit(1);
}
