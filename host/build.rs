//! Sets `cfg(ipvs_host)` for the host build of the core: the accessors and helpers that only
//! the host tests use are compiled under it, so the kernel build (which passes only
//! `--cfg MODULE`) leaves them out and warns about any other code nothing uses.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(ipvs_host)");
    println!("cargo::rustc-cfg=ipvs_host");
}
