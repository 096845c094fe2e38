//! Links the guest binaries as static position-independent executables at 0 with `link.ld`:
//! `-pie` makes the linker turn every absolute address into an `R_AARCH64_RELATIVE` entry in
//! `.rela.dyn`, which `boot.rs` applies at the address the image runs at. `-z notext` lets those
//! entries patch read-only sections too (the prebuilt `core` uses the static relocation model,
//! so its constant tables hold absolute pointers); the guest's memory is all writable.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        for arg in [
            format!("-T{dir}/link.ld"),
            "-pie".into(),
            "--no-dynamic-linker".into(),
            "-znotext".into(),
            "--hash-style=sysv".into(),
        ] {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}
