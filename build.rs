//! Build script: for the `dist` profile on x86-64 Linux with Rust's own linker (LLD, the
//! default since Rust 1.90), lay the binary's code out so that the functions a serving session
//! runs sit together at the front of `.text` (`dist/hot-symbols.txt`, recorded by
//! `scripts/hot_symbols.py`).
//!
//! Why: the kernel maps a program's code 64 KiB at a time around each page it touches, so code
//! scattered over the whole binary keeps most of it resident. Packed together, a session maps a
//! few megabytes instead of most of `.text` (resident memory and start-up page faults; see
//! docs/benchmarks.md). The list only orders code: a name it does not find (another compiler,
//! another lock file) is skipped silently, and every other build is left untouched.

use std::path::{Path, PathBuf};

const LIST: &str = "dist/hot-symbols.txt";

fn main() {
    println!("cargo::rerun-if-changed={LIST}");
    println!("cargo::rerun-if-changed=build.rs");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let list = manifest.join(LIST);
    if orders_code() && list.is_file() {
        println!(
            "cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// True for a `dist` build for x86-64 Linux (glibc) linked by LLD.
fn orders_code() -> bool {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_ARCH") != "x86_64"
        || var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
    {
        return false;
    }
    // A linker of one's own (`target.<triple>.linker`, `-C linker=…`, or opting out of the
    // bundled LLD) may not know the option.
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    if std::env::var_os("RUSTC_LINKER").is_some()
        || flags.contains("linker")
        || flags.contains("link-self-contained")
    {
        return false;
    }
    let out = PathBuf::from(var("OUT_DIR"));
    // OUT_DIR is <target>/[<triple>/]<profile>/build/<pkg>-<hash>/out.
    let profile = out.ancestors().nth(3).and_then(Path::file_name);
    profile.is_some_and(|p| p == "dist") && rustc_links_with_lld(&var("RUSTC"))
}

/// Rust links x86-64 Linux programs with its bundled LLD from 1.90 on.
fn rustc_links_with_lld(rustc: &str) -> bool {
    let Ok(out) = std::process::Command::new(rustc).arg("--version").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let mut parts = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .split('.')
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}
