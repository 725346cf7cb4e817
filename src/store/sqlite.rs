//! The embedded SQLite store (the default), with schema migrations.

use super::*;

/// A SQLite database file.
#[derive(Debug, Default)]
pub struct SqliteStore {}

impl SqliteStore {
    /// Open (creating and migrating) the database at `path`.
    pub fn open(_path: &str) -> Result<SqliteStore> { todo!() }
}

impl Store for SqliteStore {
    fn conversation_state(&self, _address: &str) -> Result<Option<String>> { todo!() }
    fn set_conversation_state(&self, _address: &str, _state: &str) -> Result<()> { todo!() }
    fn mark_message_seen(&self, _message_id: &str) -> Result<bool> { todo!() }
    fn insert_approval(&self, _approval: &Approval) -> Result<()> { todo!() }
    fn approval(&self, _id: &str) -> Result<Option<Approval>> { todo!() }
    fn decide_approval(&self, _id: &str, _d: Decision, _by: &str, _now: Timestamp) -> Result<DecideOutcome> { todo!() }
    fn pending_approvals(&self, _now: Timestamp) -> Result<Vec<Approval>> { todo!() }
    fn record_audit(&self, _record: &AuditRecord) -> Result<()> { todo!() }
    fn recent_audit(&self, _limit: usize) -> Result<Vec<AuditRecord>> { todo!() }
    fn insert_login_token(&self, _token: &str, _user: &str, _expires_at: Timestamp) -> Result<()> { todo!() }
    fn take_login_token(&self, _token: &str, _now: Timestamp) -> Result<Option<String>> { todo!() }
    fn bind_address(&self, _address: &str, _user: &str) -> Result<()> { todo!() }
    fn bound_user(&self, _address: &str) -> Result<Option<String>> { todo!() }
    fn bound_addresses(&self, _user: &str) -> Result<Vec<String>> { todo!() }
    fn push_outbox(&self, _to: &str, _reply_json: &str) -> Result<()> { todo!() }
    fn take_outbox(&self, _limit: usize) -> Result<Vec<(String, String)>> { todo!() }
}
