//! A small connection pool: one writer connection and a few reader connections.
//!
//! Writes run on the writer in `BEGIN IMMEDIATE` transactions: the in-process writer mutex
//! queues this plugin's writers cheaply, and the IMMEDIATE lock (waited for up to the busy
//! timeout) serialises them with other connections and processes using the same file, so
//! a read-then-modify transaction never sees data change under it. Reads run on the
//! readers in deferred transactions (a consistent snapshot; WAL lets them run while a
//! write is in progress). An in-memory database has only the writer, which also reads.

use std::cell::Cell;
use std::fs;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use conclave_plugin_api::PluginError;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::config::{Config, Location};
use crate::error::map;
use crate::schema;

/// Cached prepared statements per connection (there are fewer statements than this).
const STATEMENT_CACHE: usize = 64;

/// The connections of one plugin instance.
pub struct Pool {
    busy_timeout: Duration,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    reader_returned: Condvar,
    reader_count: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a connection was checked out leaves it usable: its transaction was
    // rolled back when the `Transaction` was dropped during unwinding.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

thread_local! {
    /// Until when the current call of this thread may wait for a lock.
    static BUSY_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `f` with a lock-wait deadline of `timeout` from now for this thread.
fn with_deadline<T>(timeout: Duration, f: impl FnOnce() -> T) -> T {
    struct Reset(Option<Instant>);
    impl Drop for Reset {
        fn drop(&mut self) {
            BUSY_DEADLINE.with(|d| d.set(self.0));
        }
    }
    let _reset = Reset(BUSY_DEADLINE.with(|d| d.replace(Some(Instant::now() + timeout))));
    f()
}

/// SQLite's busy handler: called while another connection (or process) holds a lock.
///
/// SQLite's own busy timeout sleeps 1, 2, 5, ... up to 100 ms between attempts, which
/// starves a process competing with a busy one (it keeps waking up to a lock taken again).
/// This one retries after short, growing, jittered sleeps (50 µs to about 2 ms) until the
/// deadline of the current call (`busy_timeout_ms`), then gives up: `Unavailable`.
fn busy_handler(attempt: i32) -> bool {
    let Some(deadline) = BUSY_DEADLINE.with(Cell::get) else {
        return false;
    };
    let now = Instant::now();
    if now >= deadline {
        return false;
    }
    let base_us = 50u64 << attempt.clamp(0, 5);
    let jitter_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or_default()
        % base_us;
    thread::sleep(Duration::from_micros(base_us + jitter_us).min(deadline - now));
    true
}

/// Errors while opening are about the configured file: say which, and make the ones an
/// operator must fix `InvalidInput`.
fn open_error(db: &str, e: rusqlite::Error) -> PluginError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            PluginError::invalid(format!("database {db} is not an SQLite database file"))
        }
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            PluginError::invalid(format!("cannot open database {db}: {e}"))
        }
        _ => map(&format!("open {db}"), e),
    }
}

/// Settings every connection gets.
fn configure(conn: &Connection, busy_timeout: Duration, file: bool) -> rusqlite::Result<()> {
    conn.busy_handler(Some(busy_handler))?;
    with_deadline(busy_timeout, || configure_pragmas(conn, file))
}

fn configure_pragmas(conn: &Connection, file: bool) -> rusqlite::Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if file {
        // Write-ahead logging: readers never block the writer nor the other way round,
        // and a commit appends to the log instead of rewriting pages in place.
        let mode = journal_mode_wal(conn)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!(
                    "the database cannot use write-ahead logging (journal mode stays {mode})"
                )),
            ));
        }
        // synchronous=NORMAL: in WAL mode a commit is written to the log but not fsynced;
        // the log is synced at checkpoints. A crash of the relay process loses nothing
        // and the database is never corrupted; only an OS crash or power loss can roll
        // back the last commits. FULL would fsync every commit and cap writes at the
        // disk's fsync rate (hundreds per second on many disks) where prekey takes and
        // container acknowledgements need thousands. A prekey handed out again after such
        // a rollback fails safe: its owner deletes the private half on first use, so the
        // second container cannot be opened rather than being less secret.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
    }
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

/// Switches to write-ahead logging. On a new file several connections opening at once race
/// for the exclusive lock this takes, and SQLite answers `SQLITE_BUSY` at once, without its
/// busy handler, to the losers: they retry with the busy handler's backoff until the
/// deadline of the call.
fn journal_mode_wal(conn: &Connection) -> rusqlite::Result<String> {
    let mut attempt = 0;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)) {
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                if !busy_handler(attempt) {
                    return Err(e);
                }
                attempt = attempt.saturating_add(1);
            }
            other => return other,
        }
    }
}

fn open_file(path: &Path, db: &str, busy_timeout: Duration) -> Result<Connection, PluginError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(db, e))?;
    configure(&conn, busy_timeout, true).map_err(|e| open_error(db, e))?;
    Ok(conn)
}

impl Pool {
    /// Opens the database, applies migrations and opens the readers.
    pub fn open(config: &Config) -> Result<Pool, PluginError> {
        let (mut writer, readers) = match &config.location {
            Location::Memory => {
                let conn = Connection::open_in_memory().map_err(|e| open_error(":memory:", e))?;
                configure(&conn, config.busy_timeout, false)
                    .map_err(|e| open_error(":memory:", e))?;
                (conn, 0)
            }
            Location::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    fs::create_dir_all(dir).map_err(|e| {
                        PluginError::invalid(format!(
                            "cannot create the database directory {}: {e}",
                            dir.display()
                        ))
                    })?;
                }
                let db = path.display().to_string();
                (
                    open_file(path, &db, config.busy_timeout)?,
                    config.pool_size - 1,
                )
            }
        };
        let db = match &config.location {
            Location::Memory => ":memory:".to_string(),
            Location::File(path) => path.display().to_string(),
        };
        with_deadline(config.busy_timeout, || schema::migrate(&mut writer, &db))?;
        let mut reader_conns = Vec::with_capacity(readers);
        if let Location::File(path) = &config.location {
            for _ in 0..readers {
                let conn = open_file(path, &db, config.busy_timeout)?;
                with_deadline(config.busy_timeout, || {
                    conn.pragma_update(None, "query_only", true)
                })
                .map_err(|e| open_error(&db, e))?;
                reader_conns.push(conn);
            }
        }
        Ok(Pool {
            busy_timeout: config.busy_timeout,
            writer: Mutex::new(writer),
            readers: Mutex::new(reader_conns),
            reader_returned: Condvar::new(),
            reader_count: readers,
        })
    }

    /// Runs `f` in an `IMMEDIATE` transaction on the writer and commits if it succeeds
    /// (an error rolls everything back). `what` names the operation in errors.
    pub fn write<T>(
        &self,
        what: &'static str,
        f: impl FnOnce(&Connection) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        let mut conn = lock(&self.writer);
        with_deadline(self.busy_timeout, || {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| map(what, e))?;
            let value = f(&tx)?;
            tx.commit().map_err(|e| map(what, e))?;
            Ok(value)
        })
    }

    /// Runs `f` in a read transaction on a reader (the writer when there is none).
    pub fn read<T>(
        &self,
        what: &'static str,
        f: impl FnOnce(&Connection) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        if self.reader_count == 0 {
            let mut conn = lock(&self.writer);
            return Self::in_read_tx(&mut conn, what, f);
        }
        let mut reader = self.checkout();
        match reader.conn.as_mut() {
            Some(conn) => Self::in_read_tx(conn, what, f),
            None => Err(PluginError::internal(
                "sqlite pool: reader already returned",
            )),
        }
    }

    fn in_read_tx<T>(
        conn: &mut Connection,
        what: &'static str,
        f: impl FnOnce(&Connection) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(|e| map(what, e))?;
        let value = f(&tx)?;
        // Ending a read transaction cannot lose anything; a failure to end it means the
        // snapshot may not have been consistent, so report it.
        tx.commit().map_err(|e| map(what, e))?;
        Ok(value)
    }

    /// Takes a reader, waiting for one to be returned if all are in use.
    fn checkout(&self) -> Reader<'_> {
        let mut readers = lock(&self.readers);
        loop {
            if let Some(conn) = readers.pop() {
                return Reader {
                    pool: self,
                    conn: Some(conn),
                };
            }
            readers = self
                .reader_returned
                .wait(readers)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A checked-out reader; it goes back to the pool when dropped, also during a panic.
struct Reader<'a> {
    pool: &'a Pool,
    /// `Some` until dropped.
    conn: Option<Connection>,
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            lock(&self.pool.readers).push(conn);
            self.pool.reader_returned.notify_one();
        }
    }
}
