use std::process::Command;

// `sqlx::migrate!` embeds migrations/ at compile time; without this, a new migration file does
// not rebuild the crate and an incremental build silently ships the old set.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    git_sha();
}

/// The commit being built, for `linli_build_info` and `linli --version`'s neighbours in logs:
/// `LINLI_GIT_SHA` when set (a build from a source tarball or a Docker context without .git),
/// else what git says, else `unknown`.
fn git_sha() {
    println!("cargo:rerun-if-env-changed=LINLI_GIT_SHA");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let sha = std::env::var("LINLI_GIT_SHA")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    // A new commit changes HEAD (detached) or the branch it names; watch both, where git keeps
    // them (a worktree keeps HEAD apart from the shared refs).
    for path in [git(&["rev-parse", "--git-path", "HEAD"]), git(&["rev-parse", "--git-path", "packed-refs"])]
        .into_iter()
        .flatten()
        .filter(|p| std::path::Path::new(p).exists())
    {
        println!("cargo:rerun-if-changed={path}");
    }
    // (A path that does not exist would rerun this script on every build.)
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git(&["rev-parse", "--git-path", &branch])
        && std::path::Path::new(&path).exists()
    {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rustc-env=LINLI_GIT_SHA={sha}");
}
