//! The embedded SQLite store (the default), with schema migrations.
//!
//! One connection sits behind a `Mutex`: every call is a short local
//! statement, so a pool would buy nothing but lock contention inside
//! SQLite. The database runs in WAL mode with a busy timeout, so a second
//! process (`sandbot approvals` next to a running server) can read and
//! write alongside without failing at once on a locked file.
//!
//! The schema is an ordered list of SQL scripts, [`MIGRATIONS`]. The
//! number already applied is kept in `PRAGMA user_version`; opening a
//! database applies the rest, each in its own transaction. A later version
//! adds a step by appending a script, never by editing an old one.
//!
//! Seen message ids older than seven days are pruned when the store opens
//! and every few hundred new ids after that; a channel that redelivers a
//! message after a week would see it handled twice.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::*;

/// The schema, one script per version, applied in order.
const MIGRATIONS: &[&str] = &[
    // Version 1: everything the first release stores.
    "
    CREATE TABLE conversations (
        address    TEXT PRIMARY KEY,
        state      TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE seen_messages (
        id      TEXT PRIMARY KEY,
        seen_at INTEGER NOT NULL
    );
    CREATE INDEX seen_messages_by_time ON seen_messages (seen_at);
    CREATE TABLE approvals (
        id             TEXT PRIMARY KEY,
        command        TEXT NOT NULL,
        requester      TEXT NOT NULL,
        requester_name TEXT NOT NULL,
        state          TEXT NOT NULL,
        input          TEXT NOT NULL,
        created_at     INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL,
        status         TEXT NOT NULL,
        decided_by     TEXT,
        decided_at     INTEGER
    );
    CREATE INDEX approvals_by_status ON approvals (status, expires_at);
    CREATE TABLE audit (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at          INTEGER NOT NULL,
        user        TEXT NOT NULL,
        command     TEXT NOT NULL,
        approver    TEXT,
        approval    TEXT,
        input       TEXT NOT NULL,
        outcome     TEXT NOT NULL,
        exit_code   INTEGER,
        duration_ms INTEGER NOT NULL,
        fuel_used   INTEGER,
        peak_memory INTEGER
    );
    CREATE TABLE login_tokens (
        token      TEXT PRIMARY KEY,
        user       TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE bindings (
        address  TEXT PRIMARY KEY,
        user     TEXT NOT NULL,
        bound_at INTEGER NOT NULL
    );
    CREATE INDEX bindings_by_user ON bindings (user);
    CREATE TABLE outbox (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        address    TEXT NOT NULL,
        reply      TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    ",
];

/// How long seen message ids are kept: 7 days.
const SEEN_RETENTION: Timestamp = 7 * 24 * 60 * 60;

/// Prune seen message ids after this many new ones.
const PRUNE_EVERY: u32 = 500;

/// How long a statement waits on a database another process has locked.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The approval columns, in the order [`approval_from_row`] reads them.
const APPROVAL_COLUMNS: &str = "id, command, requester, requester_name, state, \
     input, created_at, expires_at, status, decided_by, decided_at";

/// A SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    inner: Mutex<Inner>,
}

/// The connection and the bookkeeping that goes with it.
#[derive(Debug)]
struct Inner {
    conn: Connection,
    /// New seen ids since the last prune.
    seen_since_prune: u32,
}

impl SqliteStore {
    /// Open (creating and migrating) the database at `path`.
    pub fn open(path: &str) -> Result<SqliteStore> {
        create_parent(Path::new(path))?;
        let mut conn = Connection::open(path).context("failed to open database")?;
        configure(&conn)?;
        migrate(&mut conn)?;
        prune_seen(&conn, now())?;
        tracing::debug!(path, "sqlite store open");
        let inner = Inner {
            conn,
            seen_since_prune: 0,
        };
        Ok(SqliteStore {
            inner: Mutex::new(inner),
        })
    }

    /// Lock the connection. A poisoned lock only means another thread
    /// panicked mid-call; SQLite rolled back whatever it had left open.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Create the folder the database file goes in, if missing.
fn create_parent(path: &Path) -> Result<()> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    std::fs::create_dir_all(dir).map_err(|e| {
        StoreError::Database(format!("failed to create folder {}: {e}", dir.display()))
    })
}

/// WAL mode and a busy timeout, so two processes can share the file.
fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .context("failed to set busy timeout")?;
    // `journal_mode` answers with the mode now in force; an in-memory
    // database stays `memory`, which is fine.
    let _mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .context("failed to enable write-ahead logging")?;
    Ok(())
}

/// Apply every migration the database has not seen yet.
fn migrate(conn: &mut Connection) -> Result<()> {
    let applied = schema_version(conn)?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Database(format!(
            "database schema version {applied} is newer than this sandbot \
             understands ({})",
            MIGRATIONS.len()
        )));
    }
    for (index, script) in MIGRATIONS.iter().enumerate().skip(applied) {
        apply_migration(conn, index + 1, script)?;
    }
    Ok(())
}

/// The number of migrations already applied.
fn schema_version(conn: &Connection) -> Result<usize> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .context("failed to read schema version")?;
    Ok(usize::try_from(version).unwrap_or(0))
}

/// Run one migration script and record its version, all or nothing.
fn apply_migration(conn: &mut Connection, version: usize, script: &str) -> Result<()> {
    let tx = conn.transaction().context("failed to begin migration")?;
    tx.execute_batch(script)
        .context("failed to migrate schema")?;
    tx.pragma_update(None, "user_version", version as i64)
        .context("failed to record schema version")?;
    tx.commit().context("failed to commit migration")?;
    tracing::info!(version, "database schema migrated");
    Ok(())
}

/// Forget seen message ids older than [`SEEN_RETENTION`].
fn prune_seen(conn: &Connection, now: Timestamp) -> Result<()> {
    let cutoff = now - SEEN_RETENTION;
    let pruned = conn
        .execute("DELETE FROM seen_messages WHERE seen_at < ?1", [cutoff])
        .context("failed to prune seen message ids")?;
    tracing::debug!(pruned, "pruned seen message ids");
    Ok(())
}

impl Store for SqliteStore {
    fn conversation_state(&self, address: &str) -> Result<Option<String>> {
        let inner = self.lock();
        let sql = "SELECT state FROM conversations WHERE address = ?1";
        inner
            .conn
            .query_row(sql, [address], |row| row.get(0))
            .optional()
            .context("failed to read conversation state")
    }

    fn set_conversation_state(&self, address: &str, state: &str) -> Result<()> {
        let sql = "INSERT INTO conversations (address, state, updated_at)
                   VALUES (?1, ?2, ?3)
                   ON CONFLICT (address) DO UPDATE
                   SET state = excluded.state, updated_at = excluded.updated_at";
        let inner = self.lock();
        inner
            .conn
            .execute(sql, params![address, state, now()])
            .context("failed to write conversation state")?;
        Ok(())
    }

    fn mark_message_seen(&self, message_id: &str) -> Result<bool> {
        let sql = "INSERT OR IGNORE INTO seen_messages (id, seen_at) VALUES (?1, ?2)";
        let mut inner = self.lock();
        let now = now();
        let inserted = inner
            .conn
            .execute(sql, params![message_id, now])
            .context("failed to record message id")?;
        if inserted == 0 {
            return Ok(false);
        }
        inner.seen_since_prune += 1;
        if inner.seen_since_prune >= PRUNE_EVERY {
            inner.seen_since_prune = 0;
            prune_seen(&inner.conn, now)?;
        }
        Ok(true)
    }

    fn insert_approval(&self, approval: &Approval) -> Result<()> {
        let (status, by, at) = status_columns(&approval.status);
        let sql = format!(
            "INSERT INTO approvals ({APPROVAL_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        );
        let values = params![
            approval.id,
            approval.command,
            approval.requester,
            approval.requester_name,
            approval.state,
            approval.input,
            approval.created_at,
            approval.expires_at,
            status,
            by,
            at,
        ];
        let inner = self.lock();
        inner
            .conn
            .execute(&sql, values)
            .context("failed to insert approval")?;
        Ok(())
    }

    fn approval(&self, id: &str) -> Result<Option<Approval>> {
        read_approval(&self.lock().conn, id)
    }

    fn decide_approval(
        &self,
        id: &str,
        decision: Decision,
        by: &str,
        now: Timestamp,
    ) -> Result<DecideOutcome> {
        let mut inner = self.lock();
        let tx = inner
            .conn
            .transaction()
            .context("failed to begin decision")?;
        let recorded = record_decision(&tx, id, decision, by, now)?;
        let current = read_approval(&tx, id)?;
        tx.commit().context("failed to commit decision")?;
        Ok(match current {
            None => DecideOutcome::NotFound,
            Some(approval) if recorded => DecideOutcome::Recorded(approval),
            Some(approval) if approval.status != ApprovalStatus::Pending => {
                DecideOutcome::AlreadyDecided(approval)
            }
            Some(approval) => DecideOutcome::Expired(approval),
        })
    }

    fn pending_approvals(&self, now: Timestamp) -> Result<Vec<Approval>> {
        let sql = format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals
             WHERE status = 'pending' AND expires_at > ?1
             ORDER BY created_at, id"
        );
        let inner = self.lock();
        let mut stmt = inner
            .conn
            .prepare_cached(&sql)
            .context("failed to list approvals")?;
        let rows = stmt.query_map([now], approval_from_row);
        collect(rows, "failed to list approvals")
    }

    fn record_audit(&self, record: &AuditRecord) -> Result<()> {
        let sql = "INSERT INTO audit (at, user, command, approver, approval, input,
                       outcome, exit_code, duration_ms, fuel_used, peak_memory)
                   VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
        let values = params![
            record.at,
            record.user,
            record.command,
            record.approver,
            record.approval,
            record.input,
            record.outcome,
            record.exit_code,
            record.duration_ms,
            record.fuel_used.map(to_sql_u64),
            record.peak_memory.map(to_sql_u64),
        ];
        let inner = self.lock();
        inner
            .conn
            .execute(sql, values)
            .context("failed to record audit row")?;
        Ok(())
    }

    fn recent_audit(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        let sql = "SELECT at, user, command, approver, approval, input, outcome,
                       exit_code, duration_ms, fuel_used, peak_memory
                   FROM audit ORDER BY id DESC LIMIT ?1";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let inner = self.lock();
        let mut stmt = inner
            .conn
            .prepare_cached(sql)
            .context("failed to read audit")?;
        let rows = stmt.query_map([limit], audit_from_row);
        collect(rows, "failed to read audit")
    }

    fn insert_login_token(&self, token: &str, user: &str, expires_at: Timestamp) -> Result<()> {
        let sql = "INSERT OR REPLACE INTO login_tokens (token, user, expires_at)
                   VALUES (?1, ?2, ?3)";
        let inner = self.lock();
        inner
            .conn
            .execute(sql, params![token, user, expires_at])
            .context("failed to store login token")?;
        Ok(())
    }

    fn take_login_token(&self, token: &str, now: Timestamp) -> Result<Option<String>> {
        // Deleting and reading in one statement makes the token single use
        // even against a second process taking it at the same moment.
        let sql = "DELETE FROM login_tokens WHERE token = ?1
                   RETURNING user, expires_at";
        let inner = self.lock();
        let taken: Option<(String, Timestamp)> = inner
            .conn
            .query_row(sql, [token], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .context("failed to take login token")?;
        Ok(taken
            .filter(|(_, expires_at)| *expires_at > now)
            .map(|(user, _)| user))
    }

    fn bind_address(&self, address: &str, user: &str) -> Result<()> {
        let sql = "INSERT INTO bindings (address, user, bound_at) VALUES (?1, ?2, ?3)
                   ON CONFLICT (address) DO UPDATE SET user = excluded.user";
        let inner = self.lock();
        inner
            .conn
            .execute(sql, params![address, user, now()])
            .context("failed to bind address")?;
        Ok(())
    }

    fn bound_user(&self, address: &str) -> Result<Option<String>> {
        let sql = "SELECT user FROM bindings WHERE address = ?1";
        let inner = self.lock();
        inner
            .conn
            .query_row(sql, [address], |row| row.get(0))
            .optional()
            .context("failed to read address binding")
    }

    fn bound_addresses(&self, user: &str) -> Result<Vec<String>> {
        let sql = "SELECT address FROM bindings WHERE user = ?1
                   ORDER BY bound_at, rowid";
        let inner = self.lock();
        let mut stmt = inner
            .conn
            .prepare_cached(sql)
            .context("failed to read bindings")?;
        let rows = stmt.query_map([user], |row| row.get(0));
        collect(rows, "failed to read bindings")
    }

    fn push_outbox(&self, to: &str, reply_json: &str) -> Result<()> {
        let sql = "INSERT INTO outbox (address, reply, created_at) VALUES (?1, ?2, ?3)";
        let inner = self.lock();
        inner
            .conn
            .execute(sql, params![to, reply_json, now()])
            .context("failed to queue reply")?;
        Ok(())
    }

    fn take_outbox(&self, limit: usize) -> Result<Vec<(String, String)>> {
        let mut inner = self.lock();
        let tx = inner
            .conn
            .transaction()
            .context("failed to begin outbox take")?;
        let taken = take_oldest(&tx, limit)?;
        tx.commit().context("failed to commit outbox take")?;
        Ok(taken)
    }
}

/// Set the decision on a pending, unexpired approval; true if it was.
fn record_decision(
    tx: &Transaction<'_>,
    id: &str,
    decision: Decision,
    by: &str,
    now: Timestamp,
) -> Result<bool> {
    let status = match decision {
        Decision::Approve => "approved",
        Decision::Deny => "denied",
    };
    let sql = "UPDATE approvals SET status = ?1, decided_by = ?2, decided_at = ?3
               WHERE id = ?4 AND status = 'pending' AND expires_at > ?3";
    let changed = tx
        .execute(sql, params![status, by, now, id])
        .context("failed to record decision")?;
    Ok(changed == 1)
}

/// One approval by id.
fn read_approval(conn: &Connection, id: &str) -> Result<Option<Approval>> {
    let sql = format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1");
    conn.query_row(&sql, [id], approval_from_row)
        .optional()
        .context("failed to read approval")
}

/// Read and delete up to `limit` of the oldest queued replies.
fn take_oldest(tx: &Transaction<'_>, limit: usize) -> Result<Vec<(String, String)>> {
    let sql = "SELECT id, address, reply FROM outbox ORDER BY id LIMIT ?1";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = tx.prepare(sql).context("failed to read outbox")?;
    let rows = stmt.query_map([limit], |row| {
        Ok((row.get::<_, i64>(0)?, row.get(1)?, row.get(2)?))
    });
    let rows: Vec<(i64, String, String)> = collect(rows, "failed to read outbox")?;

    let mut delete = tx
        .prepare("DELETE FROM outbox WHERE id = ?1")
        .context("failed to clear outbox")?;
    for (id, _, _) in &rows {
        delete.execute([id]).context("failed to clear outbox")?;
    }
    Ok(rows.into_iter().map(|(_, to, reply)| (to, reply)).collect())
}

/// The `status`, `decided_by` and `decided_at` columns of a status.
fn status_columns(status: &ApprovalStatus) -> (&'static str, Option<&str>, Option<Timestamp>) {
    match status {
        ApprovalStatus::Pending => ("pending", None, None),
        ApprovalStatus::Approved { by, at } => ("approved", Some(by), Some(*at)),
        ApprovalStatus::Denied { by, at } => ("denied", Some(by), Some(*at)),
    }
}

/// An approval from a row selected with [`APPROVAL_COLUMNS`].
fn approval_from_row(row: &Row<'_>) -> rusqlite::Result<Approval> {
    Ok(Approval {
        id: row.get(0)?,
        command: row.get(1)?,
        requester: row.get(2)?,
        requester_name: row.get(3)?,
        state: row.get(4)?,
        input: row.get(5)?,
        created_at: row.get(6)?,
        expires_at: row.get(7)?,
        status: status_from_row(row, 8)?,
    })
}

/// The status from its three columns, starting at `first`.
fn status_from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<ApprovalStatus> {
    let status: String = row.get(first)?;
    if status == "pending" {
        return Ok(ApprovalStatus::Pending);
    }
    let by: String = row.get(first + 1)?;
    let at: Timestamp = row.get(first + 2)?;
    match status.as_str() {
        "approved" => Ok(ApprovalStatus::Approved { by, at }),
        "denied" => Ok(ApprovalStatus::Denied { by, at }),
        other => Err(rusqlite::Error::FromSqlConversionFailure(
            first,
            Type::Text,
            format!("unknown approval status {other:?}").into(),
        )),
    }
}

/// An audit record from the columns [`SqliteStore::recent_audit`] selects.
fn audit_from_row(row: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        at: row.get(0)?,
        user: row.get(1)?,
        command: row.get(2)?,
        approver: row.get(3)?,
        approval: row.get(4)?,
        input: row.get(5)?,
        outcome: row.get(6)?,
        exit_code: row.get(7)?,
        duration_ms: row.get(8)?,
        fuel_used: row.get::<_, Option<i64>>(9)?.map(from_sql_u64),
        peak_memory: row.get::<_, Option<i64>>(10)?.map(from_sql_u64),
    })
}

/// SQLite integers are signed; a `u64` is stored by its bits so the whole
/// range survives the round trip.
fn to_sql_u64(value: u64) -> i64 {
    value as i64
}

/// The inverse of [`to_sql_u64`].
fn from_sql_u64(value: i64) -> u64 {
    value as u64
}

/// Collect mapped rows, naming what failed.
fn collect<T>(
    rows: rusqlite::Result<impl Iterator<Item = rusqlite::Result<T>>>,
    what: &str,
) -> Result<Vec<T>> {
    rows.and_then(|rows| rows.collect()).context(what)
}

/// Turn rusqlite errors into [`StoreError::Database`] naming the step.
trait Context<T> {
    /// Map the error, prefixing `what`.
    fn context(self, what: &str) -> Result<T>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn context(self, what: &str) -> Result<T> {
        self.map_err(|e| StoreError::Database(format!("{what}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use std::ops::Deref;

    use tempfile::TempDir;

    use super::*;

    /// A store in a fresh folder, removed when dropped.
    struct TempStore {
        store: SqliteStore,
        _dir: TempDir,
    }

    impl Deref for TempStore {
        type Target = SqliteStore;

        fn deref(&self) -> &SqliteStore {
            &self.store
        }
    }

    /// The database path inside `dir`, in a folder that does not exist yet.
    fn db_path(dir: &TempDir) -> String {
        dir.path().join("data/sandbot.db").display().to_string()
    }

    fn temp_store() -> TempStore {
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open(&db_path(&dir)).unwrap();
        TempStore { store, _dir: dir }
    }

    crate::store::contract_tests::store_contract!(temp_store());

    #[test]
    fn data_survives_closing_and_reopening_the_file() {
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open(&db_path(&dir)).unwrap();
        store.set_conversation_state("web:1", "Menu").unwrap();
        store.mark_message_seen("mid.1").unwrap();
        store.push_outbox("web:1", "{}").unwrap();
        drop(store);

        let store = SqliteStore::open(&db_path(&dir)).unwrap();

        let state = store.conversation_state("web:1").unwrap();
        assert_eq!(state.as_deref(), Some("Menu"));
        assert!(!store.mark_message_seen("mid.1").unwrap());
        assert_eq!(store.take_outbox(5).unwrap().len(), 1);
    }

    #[test]
    fn opening_records_the_latest_schema_version() {
        let store = temp_store();
        let version = schema_version(&store.lock().conn).unwrap();
        assert_eq!(version, MIGRATIONS.len());
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let dir = TempDir::new().unwrap();
        let path = db_path(&dir);
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);

        let err = SqliteStore::open(&path).unwrap_err();

        assert!(err.to_string().contains("schema version 99"), "{err}");
    }

    #[test]
    fn seen_ids_older_than_a_week_are_pruned() {
        let store = temp_store();
        let week_ago = now() - SEEN_RETENTION - 10;
        let sql = "INSERT INTO seen_messages (id, seen_at) VALUES ('old', ?1)";
        store.lock().conn.execute(sql, [week_ago]).unwrap();
        store.mark_message_seen("new").unwrap();

        prune_seen(&store.lock().conn, now()).unwrap();

        assert!(store.mark_message_seen("old").unwrap());
        assert!(!store.mark_message_seen("new").unwrap());
    }
}
