//! Consistent copies and integrity checks of the database file.
//!
//! A snapshot is taken with SQLite's online backup API from a dedicated
//! connection that holds one read transaction for the whole copy: in WAL
//! mode that pins a consistent view without blocking the writer, and the
//! backup never restarts because the source connection sees no changes.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::StoreError;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Runs `PRAGMA quick_check` (or `integrity_check` when `full`) and returns
/// the problems found; empty means the database is sound.
pub fn check(conn: &Connection, full: bool) -> Result<Vec<String>, StoreError> {
    let pragma = if full {
        "integrity_check"
    } else {
        "quick_check"
    };
    let mut stmt = conn.prepare(&format!("PRAGMA {pragma}"))?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(if rows.len() == 1 && rows[0] == "ok" {
        Vec::new()
    } else {
        rows
    })
}

/// Opens `path` read-only and checks it. Errors opening or reading the file
/// (not a database, unreadable) are reported as problems too.
pub fn check_file(path: &Path, full: bool) -> Result<Vec<String>, StoreError> {
    if !path.is_file() {
        return Err(io(path)(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file",
        )));
    }
    let conn = match Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(c) => c,
        Err(e) => return Ok(vec![e.to_string()]),
    };
    match check(&conn, full) {
        Ok(problems) => Ok(problems),
        Err(StoreError::Sqlite(e)) => Ok(vec![e.to_string()]),
        Err(other) => Err(other),
    }
}

/// The schema version stored in a database file.
pub fn schema_version(path: &Path) -> Result<u32, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Copies the live database at `db_path` into a new file `dest` (which must
/// not exist), switches the copy to rollback-journal mode so it is one
/// self-contained file, verifies it with `quick_check`, and syncs it.
pub fn snapshot(
    db_path: &Path,
    dest: &Path,
    pages_per_step: u32,
    busy_timeout: Duration,
) -> Result<(), StoreError> {
    let src = Connection::open_with_flags(
        db_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    src.busy_timeout(busy_timeout)?;
    src.execute_batch("PRAGMA query_only = ON; BEGIN; SELECT count(*) FROM sqlite_master;")?;
    let result = (|| {
        let mut dst = Connection::open(dest)?;
        {
            let backup = Backup::new(&src, &mut dst)?;
            loop {
                match backup.step(pages_per_step as std::os::raw::c_int)? {
                    StepResult::Done => break,
                    StepResult::More => {}
                    StepResult::Busy | StepResult::Locked => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    _ => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }
        let mode: String =
            dst.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(StoreError::Corrupt(format!(
                "snapshot stayed in {mode} mode"
            )));
        }
        let problems = check(&dst, false)?;
        if !problems.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "snapshot {} failed quick_check: {}",
                dest.display(),
                problems.join("; ")
            )));
        }
        drop(dst);
        File::open(dest)
            .and_then(|f| f.sync_all())
            .map_err(io(dest))?;
        Ok(())
    })();
    let _ = src.execute_batch("COMMIT;");
    if result.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    result
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

/// `<db>-wal` and `<db>-shm` beside a database path.
pub fn sidecars(db: &Path) -> [PathBuf; 2] {
    let with = |suffix: &str| {
        let mut s = db.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    [with("-wal"), with("-shm")]
}
