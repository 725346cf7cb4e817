//! Channels: where people talk to the bot.
//!
//! A channel turns what its platform sends into [`Inbound`] messages and
//! carries the bot's [`Reply`]s back. The conversation itself is decided
//! elsewhere; a channel only does I/O.
//!
//! - [`messenger`]: Facebook Messenger webhooks and the Send API.
//! - [`web`]: the built-in web chat served by `sandbot serve`.
//! - [`terminal`]: `sandbot chat`.
//! - [`outbox`]: delivers replies that other processes queued in the
//!   store (decisions taken with `sandbot approvals`).

pub mod messenger;
pub mod outbox;
pub mod terminal;
pub mod web;

use std::collections::HashMap;
use std::sync::Arc;

/// What a person sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Free text they typed.
    Text(String),
    /// A button payload (a postback or a quick reply).
    Payload(String),
}

impl Input {
    /// The text or payload, whichever it is.
    pub fn as_str(&self) -> &str {
        match self {
            Input::Text(s) | Input::Payload(s) => s,
        }
    }
}

/// One inbound message, normalised across channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The sender's address: `channel:id`, e.g. `messenger:7000000000000042`.
    pub address: String,
    /// The channel's message id, used to handle each message once.
    pub message_id: Option<String>,
    /// What was sent. `None` for messages with nothing we can read (an image
    /// with no text): answered as not understood.
    pub input: Option<Input>,
}

/// A button under a reply.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Button {
    /// What the button shows.
    pub title: String,
    /// What tapping it sends.
    pub payload: String,
}

/// One message from the bot.
///
/// Serialised as JSON for the web chat and for replies queued in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Reply {
    /// The text.
    pub text: String,
    /// Handler output, shown as preformatted text after `text`.
    pub output: Option<String>,
    /// Buttons, in display order.
    pub buttons: Vec<Button>,
}

impl Reply {
    /// A reply with text only.
    pub fn text(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            ..Reply::default()
        }
    }

    /// The text and output joined, for channels that show plain text only.
    pub fn plain_text(&self) -> String {
        match &self.output {
            Some(out) if self.text.is_empty() => out.clone(),
            Some(out) => format!("{}\n\n{}", self.text, out),
            None => self.text.clone(),
        }
    }
}

/// A reply addressed to someone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The recipient's address.
    pub to: String,
    /// The message.
    pub reply: Reply,
}

/// The channel name of an address (`messenger` in `messenger:123`).
pub fn channel_of(address: &str) -> &str {
    address.split_once(':').map(|(c, _)| c).unwrap_or(address)
}

/// The channel-local id of an address (`123` in `messenger:123`).
pub fn local_id(address: &str) -> &str {
    address.split_once(':').map(|(_, id)| id).unwrap_or(address)
}

/// Something that delivers replies on one channel.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync {
    /// Send one reply. Errors are logged by the implementation.
    async fn deliver(&self, to: &str, reply: &Reply);
}

/// Routes each delivery to the outbox of its address's channel.
#[derive(Default, Clone)]
pub struct Router {
    outboxes: HashMap<String, Arc<dyn Outbox>>,
}

impl Router {
    /// Register the outbox for a channel name.
    pub fn add(&mut self, channel: &str, outbox: Arc<dyn Outbox>) {
        self.outboxes.insert(channel.to_string(), outbox);
    }

    /// Deliver each reply on its channel; replies for channels that are
    /// not running are dropped with a warning.
    pub async fn deliver_all(&self, deliveries: &[Delivery]) {
        for d in deliveries {
            match self.outboxes.get(channel_of(&d.to)) {
                Some(outbox) => outbox.deliver(&d.to, &d.reply).await,
                None => {
                    tracing::warn!(to = %d.to, "no channel running for recipient; reply dropped")
                }
            }
        }
    }
}

/// Hands inbound messages to the bot without waiting for it.
///
/// Webhooks answer at once and the bot works afterwards; an implementation
/// must keep each address's messages in the order they were dispatched.
pub trait Dispatch: Send + Sync {
    /// Queue one message for handling.
    fn dispatch(&self, inbound: Inbound);
}
