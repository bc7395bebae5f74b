//! Ownership and permission checks for the files that hold memory.
//!
//! Memory is private to the uid that runs the daemon. A data directory that
//! another uid owns or can write could have files planted or swapped under
//! the daemon, so it is refused; one that others can merely read (0755, a
//! common umask) is tightened to 0700 with a warning, and files inside it
//! that others can read are tightened to 0600.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The effective uid of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[derive(Debug, thiserror::Error)]
pub enum PermError {
    #[error(
        "data directory {dir} belongs to uid {owner}, not to this daemon's uid {me}; \
         memd keeps memory only in a directory it owns (chown it, or set data_dir)"
    )]
    Foreign { dir: PathBuf, owner: u32, me: u32 },
    #[error(
        "data directory {0} is writable by other users; fix it with `chmod 0700 {0}` \
         (another user could plant or replace the database)"
    )]
    Writable(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PermError + '_ {
    move |source| PermError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Refuses a data directory another uid owns or can write; tightens one
/// others can read, and every file or directory in it (two levels deep:
/// the database, its WAL and SHM, snapshots) that others can read. Returns
/// how many modes were tightened.
pub fn secure_data_dir(dir: &Path) -> Result<usize, PermError> {
    let meta = fs::metadata(dir).map_err(io_err(dir))?;
    let me = euid();
    if meta.uid() != me {
        return Err(PermError::Foreign {
            dir: dir.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    if meta.mode() & 0o022 != 0 {
        return Err(PermError::Writable(dir.to_owned()));
    }
    let mut tightened = 0;
    tighten(dir, &meta, 0o700, &mut tightened)?;
    walk(dir, 2, &mut tightened)?;
    Ok(tightened)
}

fn walk(dir: &Path, depth: usize, tightened: &mut usize) -> Result<(), PermError> {
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        // Not followed: a link's target is not ours to change.
        let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
        if meta.uid() != euid() {
            continue;
        }
        if meta.is_dir() {
            tighten(&path, &meta, 0o700, tightened)?;
            if depth > 1 {
                walk(&path, depth - 1, tightened)?;
            }
        } else if meta.is_file() {
            tighten(&path, &meta, 0o600, tightened)?;
        }
    }
    Ok(())
}

fn tighten(
    path: &Path,
    meta: &fs::Metadata,
    mode: u32,
    tightened: &mut usize,
) -> Result<(), PermError> {
    if meta.mode() & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            from = format!("{:o}", meta.mode() & 0o7777),
            to = format!("{mode:o}"),
            "other users could read memory here; tightened its permissions"
        );
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(path))?;
        *tightened += 1;
    }
    Ok(())
}

/// Creates (or truncates) `path` readable and writable by its owner only,
/// whatever the process umask.
pub fn create_private(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // An existing file keeps its mode through open(): set it.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_world_readable_data_dir_and_its_files_are_tightened() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let db = dir.join("memd.db");
        fs::write(&db, b"x").unwrap();
        fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
        let snaps = dir.join("snapshots");
        fs::create_dir(&snaps).unwrap();
        fs::set_permissions(&snaps, fs::Permissions::from_mode(0o755)).unwrap();
        let snap = snaps.join("s.db");
        fs::write(&snap, b"x").unwrap();
        fs::set_permissions(&snap, fs::Permissions::from_mode(0o640)).unwrap();

        assert_eq!(secure_data_dir(&dir).unwrap(), 4);
        for (p, m) in [(&dir, 0o700), (&db, 0o600), (&snaps, 0o700), (&snap, 0o600)] {
            assert_eq!(
                fs::metadata(p).unwrap().mode() & 0o777,
                m,
                "{}",
                p.display()
            );
        }
        assert_eq!(secure_data_dir(&dir).unwrap(), 0);
    }

    #[test]
    fn a_data_dir_others_can_write_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(secure_data_dir(&dir), Err(PermError::Writable(_))));
    }

    #[test]
    fn private_files_are_0600_even_when_they_existed() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("export.ndjson");
        fs::write(&p, b"old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        drop(create_private(&p).unwrap());
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
    }
}
