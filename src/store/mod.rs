//! Durable state: conversations, approvals, processed message ids, web
//! bindings and the audit record of every handler run.
//!
//! One [`Store`] trait with two backends: [`sqlite`] (the default, embedded,
//! with schema migrations) and [`memory`] (throwaway runs and tests). A
//! `postgres://` backend for several replicas is not implemented yet.
//!
//! The trait is synchronous. Every call is a short, local operation (a
//! single-row read or write on an embedded database), so callers on the
//! async runtime call it directly rather than hopping threads.

#[cfg(test)]
mod contract_tests;
pub mod memory;
pub mod sqlite;

use std::sync::Arc;

use thiserror::Error;

/// Seconds since the Unix epoch, the store's only notion of time.
pub type Timestamp = i64;

/// The current time as a [`Timestamp`].
pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// An error from a store backend.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The `--store` URL could not be understood.
    #[error("unsupported store url {0:?}: use sqlite://PATH or memory")]
    BadUrl(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
}

/// Shorthand for store results.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Where an approval stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalStatus {
    /// Waiting for a decision.
    Pending,
    /// Approved by the named user id.
    Approved {
        /// Config user id of the approver.
        by: String,
        /// When.
        at: Timestamp,
    },
    /// Denied by the named user id.
    Denied {
        /// Config user id of the approver.
        by: String,
        /// When.
        at: Timestamp,
    },
}

/// A request to run a command for someone who lacks its permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Unguessable id, also the secret part of the Approve/Deny payloads.
    pub id: String,
    /// The command to run.
    pub command: String,
    /// Address of the requester (`channel:id`).
    pub requester: String,
    /// Display name of the requester.
    pub requester_name: String,
    /// The state the requester was in.
    pub state: String,
    /// The requester's input.
    pub input: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops being decidable.
    pub expires_at: Timestamp,
    /// Where it stands.
    pub status: ApprovalStatus,
}

/// A decision on an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run the command.
    Approve,
    /// Do not run it.
    Deny,
}

/// What happened when a decision was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecideOutcome {
    /// This decision was the first and is now recorded.
    Recorded(Approval),
    /// Someone decided first; the approval as it stands.
    AlreadyDecided(Approval),
    /// The approval expired before the decision.
    Expired(Approval),
    /// No approval has that id.
    NotFound,
}

/// One row of the audit record: a handler run or an approval decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditRecord {
    /// When the run started.
    pub at: Timestamp,
    /// Address of the user the run was for.
    pub user: String,
    /// Command id.
    pub command: String,
    /// The approver's user id, for approved runs.
    pub approver: Option<String>,
    /// The approval id, if any.
    pub approval: Option<String>,
    /// The input the handler received.
    pub input: String,
    /// Outcome label: `success`, `exit`, `trap`, `out-of-fuel`,
    /// `out-of-memory`, `timeout`, `error`, `denied`.
    pub outcome: String,
    /// Exit code where there was one.
    pub exit_code: Option<i32>,
    /// Run time in milliseconds.
    pub duration_ms: i64,
    /// Fuel consumed (wasm only).
    pub fuel_used: Option<u64>,
    /// Peak linear memory in bytes (wasm only).
    pub peak_memory: Option<u64>,
}

/// Everything sandbot persists.
pub trait Store: Send + Sync {
    /// The state a conversation is in, if it has started.
    fn conversation_state(&self, address: &str) -> Result<Option<String>>;
    /// Record the state a conversation is in.
    fn set_conversation_state(&self, address: &str, state: &str) -> Result<()>;

    /// Record a channel message id; true if it was not seen before.
    fn mark_message_seen(&self, message_id: &str) -> Result<bool>;

    /// Store a new approval.
    fn insert_approval(&self, approval: &Approval) -> Result<()>;
    /// An approval by id.
    fn approval(&self, id: &str) -> Result<Option<Approval>>;
    /// Record a decision atomically: only the first decision on a pending,
    /// unexpired approval is kept.
    fn decide_approval(
        &self,
        id: &str,
        decision: Decision,
        by: &str,
        now: Timestamp,
    ) -> Result<DecideOutcome>;
    /// Approvals still pending and not expired at `now`, oldest first.
    fn pending_approvals(&self, now: Timestamp) -> Result<Vec<Approval>>;

    /// Append an audit row.
    fn record_audit(&self, record: &AuditRecord) -> Result<()>;
    /// The newest audit rows, newest first.
    fn recent_audit(&self, limit: usize) -> Result<Vec<AuditRecord>>;

    /// Store a one-time login token that binds a browser to a user.
    fn insert_login_token(&self, token: &str, user: &str, expires_at: Timestamp) -> Result<()>;
    /// Consume a login token: the user it names, if it exists and has not
    /// expired. A token works once.
    fn take_login_token(&self, token: &str, now: Timestamp) -> Result<Option<String>>;
    /// Bind a channel address to a configured user id.
    fn bind_address(&self, address: &str, user: &str) -> Result<()>;
    /// The configured user an address is bound to, if any.
    fn bound_user(&self, address: &str) -> Result<Option<String>>;
    /// Every address bound to a configured user, oldest first.
    fn bound_addresses(&self, user: &str) -> Result<Vec<String>>;

    /// Queue a reply for a running server to deliver. Used by processes
    /// that cannot reach a channel themselves (`sandbot approvals`); the
    /// reply is stored as JSON.
    fn push_outbox(&self, to: &str, reply_json: &str) -> Result<()>;
    /// Take up to `limit` queued replies, oldest first, removing them.
    fn take_outbox(&self, limit: usize) -> Result<Vec<(String, String)>>;
}

/// Open a store from a `--store` URL: `sqlite://PATH` or `memory`.
pub fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url == "memory" || url == "memory://" {
        return Ok(Arc::new(memory::MemoryStore::default()));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        return Ok(Arc::new(sqlite::SqliteStore::open(path)?));
    }
    Err(StoreError::BadUrl(url.to_string()))
}
