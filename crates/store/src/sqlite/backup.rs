//! Backup and restore of the embedded store. A backup is one consistent snapshot of a live store, taken with
//! `VACUUM INTO` on a read-only connection: in WAL mode it neither stops nor blocks the server's writers, and every
//! write committed before the backup began is in it. Restore installs a backup as the store of a data directory
//! whose server is stopped.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{backend, schema};
use crate::DATABASE_FILE;
use idplane_core::error::StoreError;

/// Writes a consistent copy of the store in `data_dir` to the new file `to`.
pub fn backup(data_dir: &Path, to: &Path) -> Result<(), StoreError> {
    let source = data_dir.join(DATABASE_FILE);
    if !source.exists() {
        return Err(StoreError::Backend(format!("there is no store in {}", data_dir.display())));
    }
    if to.exists() {
        return Err(StoreError::Backend(format!("{} exists already: back up to a new file", to.display())));
    }
    let conn = Connection::open_with_flags(&source, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(backend("open the store for a backup"))?;
    conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(backend("set busy timeout"))?;
    let target = to.to_str().ok_or_else(|| StoreError::Backend("the backup path must be valid UTF-8".into()))?;
    conn.execute("VACUUM INTO ?1", [target]).map_err(backend("write the backup"))?;
    Ok(())
}

/// Installs the backup `from` as the store of `data_dir`, whose server must be stopped. The backup is checked first:
/// it must be an idplane store of a schema this binary knows. An existing store is kept as `idplane.db.before-restore`.
pub fn restore(from: &Path, data_dir: &Path) -> Result<(), StoreError> {
    {
        let conn =
            Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(backend("open the backup"))?;
        let version: i64 = conn
            .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| r.get(0))
            .map_err(|_| StoreError::Backend(format!("{} is not an idplane backup", from.display())))?;
        if version > crate::schema::latest_version(schema::MIGRATIONS) {
            return Err(StoreError::Backend(format!(
                "the backup has schema version {version}, newer than this idplane knows ({}): restore it with a newer \
                 idplane",
                crate::schema::latest_version(schema::MIGRATIONS)
            )));
        }
        let ok: String =
            conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(backend("check the backup"))?;
        if ok != "ok" {
            return Err(StoreError::Backend(format!("the backup is damaged: {ok}")));
        }
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| StoreError::Backend(format!("create data directory {}: {e}", data_dir.display())))?;
    let target = data_dir.join(DATABASE_FILE);
    let io = |what: &'static str| move |e: std::io::Error| StoreError::Backend(format!("{what}: {e}"));
    if target.exists() {
        std::fs::rename(&target, data_dir.join(format!("{DATABASE_FILE}.before-restore")))
            .map_err(io("keep the existing store"))?;
    }
    // The old store's write-ahead log and shared memory belong to the old file; they must not replay onto the new.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data_dir.join(format!("{DATABASE_FILE}{suffix}")));
    }
    let staged = data_dir.join(format!("{DATABASE_FILE}.restoring"));
    std::fs::copy(from, &staged).map_err(io("copy the backup"))?;
    std::fs::rename(&staged, &target).map_err(io("install the backup"))?;
    Ok(())
}
