//! Puts the git revision (the commit built) in `gatehouse --version` (`GATEHOUSE_GIT_REV`): from git when the
//! sources are a checkout, else from `GATEHOUSE_GIT_REV` in the build's environment (a source
//! archive or a Docker build without `.git`), else "unknown".
//!
//! And links the binary with packed relative relocations (`DT_RELR`) where the C library
//! loads them: its 34,000 relative relocations then take 10 KB instead of 800 KB, which the
//! loader no longer reads at every start (docs/performance.md, "the loader's relocations").
use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// Whether the binary may use packed relative relocations: a native build against glibc 2.36
/// or later (the first that loads them; an older one refuses such a binary, and `lld` does not
/// check).
fn packed_relocations() -> bool {
    let var = |name| std::env::var(name).unwrap_or_default();
    if var("TARGET") != var("HOST") || !var("TARGET").ends_with("-linux-gnu") {
        return false;
    }
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else { return false };
    // "glibc 2.36"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text.trim().trim_start_matches("glibc ").split('.').map(|n| n.parse::<u32>().ok());
    matches!((version.next(), version.next()), (Some(Some(major)), Some(Some(minor))) if (major, minor) >= (2, 36))
}

fn main() {
    if packed_relocations() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-env-changed=GATEHOUSE_GIT_REV");
    println!("cargo:rerun-if-changed=build.rs");
    let from_env = std::env::var("GATEHOUSE_GIT_REV").ok().filter(|v| !v.is_empty());
    let rev = from_env.or_else(|| {
        let rev = git(&["rev-parse", "--short=12", "HEAD"])?;
        // Rebuilt when HEAD moves: the files git reads for it (only those that exist, so that
        // a missing one does not rerun this script on every build).
        if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
            let dir = Path::new(&dir);
            let head = std::fs::read_to_string(dir.join("HEAD")).unwrap_or_default();
            let mut watched = vec![dir.join("HEAD"), dir.join("packed-refs")];
            if let Some(branch) = head.trim().strip_prefix("ref: ") {
                watched.push(dir.join(branch));
            }
            for path in watched.iter().filter(|p| p.exists()) {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        Some(rev)
    });
    println!("cargo:rustc-env=GATEHOUSE_GIT_REV={}", rev.unwrap_or_else(|| "unknown".into()));
}
