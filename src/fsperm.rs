//! Owner-only files: the data directory, the database with its -wal and -shm, the key, stored
//! photos and backups hold a district's personal data, and another account on the same machine
//! must not read them.
//!
//! Two layers. The process umask (set first thing in `cli::run`) covers every file and directory
//! the process makes, including those made by libraries we do not steer: SQLite's journals and
//! `VACUUM INTO` copies, the object store's files and folders, pg_dump's archive. And what Linli
//! creates itself is created owner-only whatever the umask, while what an earlier version left
//! readable (644 databases, 755 folders) is tightened when it is opened.

use std::io;
use std::path::Path;

/// From now on the process creates nothing that group or others may read, write or enter.
pub fn restrict_umask() {
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Creates `dir` and any missing parents, each owner-only (0700). An existing directory is left
/// as it is: see [`tighten`].
pub fn private_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Creates `path` empty and owner-only (0600); fails if it exists. For files another program
/// then fills (SQLite, pg_dump), so they never exist with wider permissions, not even briefly.
pub fn create_private_file(path: &Path) -> io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
}

/// Takes group and other permissions off a file or directory of ours that has them (made by an
/// earlier version, or copied from elsewhere). Left alone: what does not exist, what belongs to
/// another user, and shared directories with the sticky bit (`/tmp`), which must stay open to
/// everyone. Failing to tighten is logged, not fatal: the server still runs.
pub fn tighten(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let Ok(meta) = std::fs::symlink_metadata(path) else { return };
        let mode = meta.permissions().mode();
        // SAFETY: geteuid only reads the process's effective user id.
        let euid = unsafe { libc::geteuid() };
        if mode & 0o077 == 0 || mode & 0o1000 != 0 || meta.uid() != euid || meta.file_type().is_symlink() {
            return;
        }
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700)) {
            tracing::warn!(path = %path.display(), error = %e, "could not make this readable by its owner only");
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn created_private_and_old_ones_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!((mode(&tmp.path().join("a")), mode(&dir)), (0o700, 0o700));
        let file = dir.join("f");
        create_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert!(create_private_file(&file).is_err(), "never over an existing file");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        tighten(&file);
        tighten(&dir);
        assert_eq!((mode(&file), mode(&dir)), (0o600, 0o700));
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        tighten(&shared);
        assert_eq!(mode(&shared), 0o1777, "a sticky shared directory stays open");
        tighten(&tmp.path().join("missing"));
    }
}
