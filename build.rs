//! Build script: records the commit the binary is built from, for the
//! `zkppd_build_info` metric. `ZKPPD_BUILD_COMMIT` wins (packagers building
//! from a tarball); else `git rev-parse` when this is a git checkout with
//! git installed; else `unknown`. Never fails the build.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=ZKPPD_BUILD_COMMIT");
    let given = std::env::var("ZKPPD_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty());
    let commit = given.or_else(|| {
        // Rebuild when HEAD moves: HEAD itself (a checkout) and the branch
        // it names (a commit); only files that exist, as a missing one
        // would rerun this on every build.
        let mut watch = vec![git(&["rev-parse", "--git-path", "HEAD"])];
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch.push(git(&["rev-parse", "--git-path", &branch]));
        }
        for path in watch.into_iter().flatten() {
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
        let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some();
        git(&["rev-parse", "--short=12", "HEAD"])
            .map(|c| if dirty { format!("{c}-dirty") } else { c })
    });
    let commit = commit.unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ZKPPD_COMMIT={commit}");
}
