//! The lock that keeps `restore` from replacing a SQLite database under a running server (a
//! trial restored while `linli serve` ran: "restored", and every later write of the server went
//! into the replaced file and was lost).
//!
//! `serve` and `demo` hold it shared for as long as they run, so several may share a database;
//! `restore` takes it exclusively and waits for nobody: it refuses. It is flock(2) on `DB.lock`
//! beside the database, a file of its own: SQLite's own locks on the database are of another
//! kind (fcntl) and are held only while a statement runs, and a restore renames a new file over
//! the database, which a lock on the old one would not follow. The kernel lets go of it when
//! the process ends, however it ends. PostgreSQL has nothing alike across hosts: there the
//! operator stops every instance (docs/operations.md).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Held until dropped.
#[derive(Debug)]
pub struct DbLock {
    _file: File,
}

fn lock_file(db: &Path) -> anyhow::Result<(File, PathBuf)> {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let path = PathBuf::from(name);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::fsperm::private_dir(parent)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let file = opts.open(&path).with_context(|| format!("opening {}", path.display()))?;
    Ok((file, path))
}

/// For a server on the database `db`: refused while a restore replaces it.
pub fn running(db: &Path) -> anyhow::Result<DbLock> {
    let (file, path) = lock_file(db)?;
    if !try_flock(&file, false).with_context(|| format!("locking {}", path.display()))? {
        bail!(
            "{} is being restored (`linli restore` holds {}); start again when it has finished",
            db.display(),
            path.display()
        );
    }
    Ok(DbLock { _file: file })
}

/// For replacing the database `db`: refused while a server runs on it.
pub fn replacing(db: &Path) -> anyhow::Result<DbLock> {
    let (file, path) = lock_file(db)?;
    if !try_flock(&file, true).with_context(|| format!("locking {}", path.display()))? {
        bail!(
            "{} is in use by a running `linli serve` or `linli demo` (it holds {}): stop it first, then run this again",
            db.display(),
            path.display()
        );
    }
    Ok(DbLock { _file: file })
}

/// flock(2) without waiting: false when another holds a lock that excludes this one.
fn try_flock(file: &File, exclusive: bool) -> std::io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let op = if exclusive { libc::LOCK_EX } else { libc::LOCK_SH } | libc::LOCK_NB;
        // SAFETY: flock only places a lock on a descriptor this function borrows; the lock
        // lasts as long as the descriptor, which `DbLock` owns.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock { Ok(false) } else { Err(e) }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, exclusive);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_share_the_lock_and_a_restore_excludes_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("linli.db");
        let one = running(&db).unwrap();
        let two = running(&db).unwrap();
        assert!(replacing(&db).unwrap_err().to_string().contains("in use by a running `linli serve`"));
        drop((one, two));
        let restore = replacing(&db).unwrap();
        assert!(running(&db).unwrap_err().to_string().contains("is being restored"));
        drop(restore);
        running(&db).unwrap();
    }
}
