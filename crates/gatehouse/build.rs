//! Puts the git revision (the commit built) in `gatehouse --version` (`GATEHOUSE_GIT_REV`): from git when the
//! sources are a checkout, else from `GATEHOUSE_GIT_REV` in the build's environment (a source
//! archive or a Docker build without `.git`), else "unknown".
use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
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
