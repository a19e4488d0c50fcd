//! Turning SQLite errors into plugin errors.
//!
//! Busy and locked databases, I/O failures and a full disk are `Unavailable` (the host may
//! retry); constraint violations are `Conflict`; oversized values are `InvalidInput`; a
//! corrupt database and everything else (bugs) are `Internal`.

use conclave_plugin_api::PluginError;
use rusqlite::ErrorCode;

/// Maps a rusqlite error to a plugin error; `what` says which operation failed.
pub fn map(what: &str, e: rusqlite::Error) -> PluginError {
    let message = format!("sqlite {what}: {e}");
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            PluginError::unavailable(format!("{message} (the database is busy, retry later)"))
        }
        Some(
            ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::ReadOnly
            | ErrorCode::FileLockingProtocolFailed
            | ErrorCode::OutOfMemory
            | ErrorCode::OperationInterrupted,
        ) => PluginError::unavailable(message),
        Some(ErrorCode::ConstraintViolation) => PluginError::conflict(message),
        Some(ErrorCode::TooBig) => PluginError::invalid(message),
        _ => PluginError::internal(message),
    }
}

/// Adds the operation's name to rusqlite errors: `.map_err(ctx("take_prekey"))`.
pub fn ctx(what: &'static str) -> impl Fn(rusqlite::Error) -> PluginError {
    move |e| map(what, e)
}

/// A value read back from the database that this plugin never writes.
pub fn corrupt(what: &str, detail: impl std::fmt::Display) -> PluginError {
    PluginError::internal(format!("sqlite {what}: unexpected stored value: {detail}"))
}

/// Whether the error is a constraint violation (a duplicate key, most often).
pub fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_plugin_api::ErrorKind;
    use rusqlite::ffi;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    #[test]
    fn kinds() {
        assert_eq!(
            map("x", failure(ffi::SQLITE_BUSY)).kind,
            ErrorKind::Unavailable
        );
        assert_eq!(
            map("x", failure(ffi::SQLITE_LOCKED)).kind,
            ErrorKind::Unavailable
        );
        assert_eq!(
            map("x", failure(ffi::SQLITE_IOERR)).kind,
            ErrorKind::Unavailable
        );
        assert_eq!(
            map("x", failure(ffi::SQLITE_FULL)).kind,
            ErrorKind::Unavailable
        );
        assert_eq!(
            map("x", failure(ffi::SQLITE_CONSTRAINT_PRIMARYKEY)).kind,
            ErrorKind::Conflict
        );
        assert_eq!(
            map("x", failure(ffi::SQLITE_TOOBIG)).kind,
            ErrorKind::InvalidInput
        );
        assert_eq!(
            map("x", failure(ffi::SQLITE_CORRUPT)).kind,
            ErrorKind::Internal
        );
        assert_eq!(
            map("x", rusqlite::Error::QueryReturnedNoRows).kind,
            ErrorKind::Internal
        );
        let e = map("take_prekey", failure(ffi::SQLITE_BUSY));
        assert!(e.message.starts_with("sqlite take_prekey: "), "{e}");
    }
}
