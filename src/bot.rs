//! The bot: one inbound message in, every reply it causes out.
//!
//! Ties the pure [`engine`](crate::engine) to the store, the approval
//! lifecycle and the handler runners. Channels call [`Bot::handle`] and
//! deliver what it returns; nothing here knows about HTTP.

use std::sync::Arc;

use crate::channel::{Delivery, Inbound, Reply};
use crate::config::Config;
use crate::handler::Runner;
use crate::store::{Decision, Store};

/// The conversation service shared by every channel.
#[derive(Clone)]
pub struct Bot {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    runner: Arc<Runner>,
}

impl Bot {
    /// A bot over a loaded config, a store and prepared handlers.
    pub fn new(config: Arc<Config>, store: Arc<dyn Store>, runner: Arc<Runner>) -> Bot {
        Bot { config, store, runner }
    }

    /// Handle one inbound message; returns every reply it causes, to the
    /// sender and to anyone else (approvers, requesters).
    pub async fn handle(&self, _inbound: Inbound) -> Vec<Delivery> {
        todo!()
    }

    /// What the bot shows an address now: its current state's message and
    /// buttons (the start state for a new conversation).
    pub fn current_reply(&self, _address: &str) -> Reply {
        todo!()
    }

    /// The state an address is in now.
    pub fn current_state(&self, _address: &str) -> String {
        todo!()
    }

    /// Send an address back to the start state; returns the start reply.
    pub fn reset(&self, _address: &str) -> Reply {
        todo!()
    }

    /// Decide an approval as the configured user `user` acting from
    /// `address`, with the same checks as a tap in chat.
    pub async fn decide(
        &self,
        _address: &str,
        _approval: &str,
        _decision: Decision,
    ) -> Vec<Delivery> {
        todo!()
    }
}
