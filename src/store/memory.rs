//! An in-memory store for throwaway runs and tests.
//!
//! Everything sits in plain collections behind one `Mutex`, so every trait
//! call is atomic with respect to the others, just as a single SQLite
//! connection is. Nothing is pruned: seen message ids grow for the life of
//! the process, which is fine for the short runs this backend is meant for.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use super::*;

/// Keeps everything in memory; gone when the process ends.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

/// The collections behind the lock.
#[derive(Debug, Default)]
struct Inner {
    states: HashMap<String, String>,
    seen: HashSet<String>,
    approvals: HashMap<String, Approval>,
    /// Oldest first; read back in reverse.
    audit: Vec<AuditRecord>,
    /// Token → (user, expires_at).
    tokens: HashMap<String, (String, Timestamp)>,
    /// Address → user, in binding order so `bound_addresses` is oldest
    /// first.
    bindings: Vec<(String, String)>,
    outbox: VecDeque<(String, String)>,
}

impl MemoryStore {
    /// Lock the collections. A poisoned lock only means another thread
    /// panicked mid-call; the maps themselves are still usable.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for MemoryStore {
    fn conversation_state(&self, address: &str) -> Result<Option<String>> {
        Ok(self.lock().states.get(address).cloned())
    }

    fn set_conversation_state(&self, address: &str, state: &str) -> Result<()> {
        let mut inner = self.lock();
        inner.states.insert(address.to_string(), state.to_string());
        Ok(())
    }

    fn mark_message_seen(&self, message_id: &str) -> Result<bool> {
        Ok(self.lock().seen.insert(message_id.to_string()))
    }

    fn insert_approval(&self, approval: &Approval) -> Result<()> {
        let mut inner = self.lock();
        inner
            .approvals
            .insert(approval.id.clone(), approval.clone());
        Ok(())
    }

    fn approval(&self, id: &str) -> Result<Option<Approval>> {
        Ok(self.lock().approvals.get(id).cloned())
    }

    fn decide_approval(
        &self,
        id: &str,
        decision: Decision,
        by: &str,
        now: Timestamp,
    ) -> Result<DecideOutcome> {
        let mut inner = self.lock();
        let Some(approval) = inner.approvals.get_mut(id) else {
            return Ok(DecideOutcome::NotFound);
        };
        if approval.status != ApprovalStatus::Pending {
            return Ok(DecideOutcome::AlreadyDecided(approval.clone()));
        }
        if approval.expires_at <= now {
            return Ok(DecideOutcome::Expired(approval.clone()));
        }
        approval.status = decided(decision, by, now);
        Ok(DecideOutcome::Recorded(approval.clone()))
    }

    fn pending_approvals(&self, now: Timestamp) -> Result<Vec<Approval>> {
        let inner = self.lock();
        let mut pending: Vec<Approval> = inner
            .approvals
            .values()
            .filter(|a| a.status == ApprovalStatus::Pending && a.expires_at > now)
            .cloned()
            .collect();
        pending.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(pending)
    }

    fn record_audit(&self, record: &AuditRecord) -> Result<()> {
        self.lock().audit.push(record.clone());
        Ok(())
    }

    fn recent_audit(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        let inner = self.lock();
        Ok(inner.audit.iter().rev().take(limit).cloned().collect())
    }

    fn insert_login_token(&self, token: &str, user: &str, expires_at: Timestamp) -> Result<()> {
        let mut inner = self.lock();
        let entry = (user.to_string(), expires_at);
        inner.tokens.insert(token.to_string(), entry);
        Ok(())
    }

    fn take_login_token(&self, token: &str, now: Timestamp) -> Result<Option<String>> {
        let taken = self.lock().tokens.remove(token);
        Ok(taken
            .filter(|(_, expires_at)| *expires_at > now)
            .map(|(user, _)| user))
    }

    fn bind_address(&self, address: &str, user: &str) -> Result<()> {
        let mut inner = self.lock();
        match inner.bindings.iter_mut().find(|(a, _)| a == address) {
            Some(binding) => binding.1 = user.to_string(),
            None => inner.bindings.push((address.to_string(), user.to_string())),
        }
        Ok(())
    }

    fn bound_user(&self, address: &str) -> Result<Option<String>> {
        let inner = self.lock();
        let found = inner.bindings.iter().find(|(a, _)| a == address);
        Ok(found.map(|(_, user)| user.clone()))
    }

    fn bound_addresses(&self, user: &str) -> Result<Vec<String>> {
        let inner = self.lock();
        let bound = inner.bindings.iter().filter(|(_, u)| u == user);
        Ok(bound.map(|(address, _)| address.clone()).collect())
    }

    fn push_outbox(&self, to: &str, reply_json: &str) -> Result<()> {
        let entry = (to.to_string(), reply_json.to_string());
        self.lock().outbox.push_back(entry);
        Ok(())
    }

    fn take_outbox(&self, limit: usize) -> Result<Vec<(String, String)>> {
        let mut inner = self.lock();
        let n = limit.min(inner.outbox.len());
        Ok(inner.outbox.drain(..n).collect())
    }
}

/// The status a decision leaves an approval in.
pub(super) fn decided(decision: Decision, by: &str, at: Timestamp) -> ApprovalStatus {
    let by = by.to_string();
    match decision {
        Decision::Approve => ApprovalStatus::Approved { by, at },
        Decision::Deny => ApprovalStatus::Denied { by, at },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::store::contract_tests::store_contract!(Box::new(MemoryStore::default()));
}
