//! Replies waiting for web visitors.
//!
//! The bot's replies to `web:<id>` addresses land in a [`WebInbox`]: a short
//! list of numbered messages per address, kept in memory. A browser asks
//! for the messages after the last number it saw and, when there are none,
//! waits for the next one (a long poll).
//!
//! Numbers grow across all addresses and start from the clock when the
//! process starts, so a page left open across a server restart never asks
//! for numbers the new process has already handed out. The lists are not
//! persisted: replies that arrive while a page is closed are shown only as
//! the current state when it is opened again.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

use crate::channel::{Outbox, Reply};

/// Messages kept per address; older ones are dropped first.
const PER_ADDRESS: usize = 50;

/// Addresses kept at once; the one idle longest is dropped first.
const ADDRESSES: usize = 10_000;

/// One numbered reply for a visitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// Its number; later messages have larger numbers.
    pub seq: u64,
    /// The reply.
    pub reply: Reply,
}

/// The messages of one address and the signal that wakes its waiters.
struct Mailbox {
    messages: VecDeque<Message>,
    signal: watch::Sender<u64>,
    touched: Instant,
}

impl Mailbox {
    fn new() -> Mailbox {
        Mailbox {
            messages: VecDeque::new(),
            signal: watch::Sender::new(0),
            touched: Instant::now(),
        }
    }

    fn after(&self, after: u64) -> Vec<Message> {
        self.messages
            .iter()
            .filter(|m| m.seq > after)
            .cloned()
            .collect()
    }
}

/// Everything behind the lock.
struct Inner {
    next_seq: u64,
    boxes: HashMap<String, Mailbox>,
}

/// Bounded, in-memory mailboxes for web visitors; an [`Outbox`] for the
/// `web` channel.
pub struct WebInbox {
    inner: Mutex<Inner>,
    /// Set once by [`WebInbox::close`]; ends every wait.
    closed: watch::Sender<bool>,
}

impl Default for WebInbox {
    fn default() -> WebInbox {
        WebInbox::new()
    }
}

impl WebInbox {
    /// An empty inbox.
    pub fn new() -> WebInbox {
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let inner = Inner {
            next_seq: start,
            boxes: HashMap::new(),
        };
        WebInbox {
            inner: Mutex::new(inner),
            closed: watch::Sender::new(false),
        }
    }

    /// Add a reply for an address and wake its waiters; returns its number.
    pub fn push(&self, address: &str, reply: Reply) -> u64 {
        let mut inner = self.lock();
        inner.next_seq += 1;
        let seq = inner.next_seq;
        let mailbox = mailbox(&mut inner, address);
        mailbox.messages.push_back(Message { seq, reply });
        if mailbox.messages.len() > PER_ADDRESS {
            mailbox.messages.pop_front();
        }
        mailbox.touched = Instant::now();
        mailbox.signal.send_replace(seq);
        seq
    }

    /// The number a page should wait after to see only new messages.
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq
    }

    /// The messages for an address numbered after `after`, oldest first.
    pub fn after(&self, address: &str, after: u64) -> Vec<Message> {
        let inner = self.lock();
        inner
            .boxes
            .get(address)
            .map(|b| b.after(after))
            .unwrap_or_default()
    }

    /// End every wait now and from now on, so open long polls do not hold
    /// up a graceful shutdown.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Like [`WebInbox::after`], but when there are none yet, wait up to
    /// `timeout` (or until [`WebInbox::close`]) for the next one.
    pub async fn wait(&self, address: &str, after: u64, timeout: Duration) -> Vec<Message> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut signal = {
            let mut inner = self.lock();
            let mailbox = mailbox(&mut inner, address);
            let found = mailbox.after(after);
            if !found.is_empty() {
                return found;
            }
            // Subscribing under the lock means no push can slip between
            // the check above and the wait below.
            mailbox.signal.subscribe()
        };
        let mut closed = self.closed.subscribe();
        loop {
            if *closed.borrow_and_update() {
                return Vec::new();
            }
            let woken = tokio::select! {
                changed = tokio::time::timeout_at(deadline, signal.changed()) => {
                    matches!(changed, Ok(Ok(())))
                }
                _ = closed.changed() => false,
            };
            if !woken {
                return Vec::new();
            }
            let found = self.after(address, after);
            if !found.is_empty() {
                return found;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only whole messages behind.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The mailbox of an address, made (and the idlest one dropped if there
/// are too many) when missing.
fn mailbox<'a>(inner: &'a mut Inner, address: &str) -> &'a mut Mailbox {
    if !inner.boxes.contains_key(address) && inner.boxes.len() >= ADDRESSES {
        let idlest = inner
            .boxes
            .iter()
            .min_by_key(|(_, b)| b.touched)
            .map(|(a, _)| a.clone());
        if let Some(idlest) = idlest {
            inner.boxes.remove(&idlest);
        }
    }
    inner
        .boxes
        .entry(address.to_string())
        .or_insert_with(Mailbox::new)
}

#[async_trait::async_trait]
impl Outbox for WebInbox {
    async fn deliver(&self, to: &str, reply: &Reply) {
        let seq = self.push(to, reply.clone());
        tracing::debug!(to, seq, "web reply queued");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn messages_are_numbered_in_order_per_address() {
        let inbox = WebInbox::new();
        let start = inbox.last_seq();
        let a = inbox.push("web:a", Reply::text("one"));
        inbox.push("web:b", Reply::text("other"));
        let c = inbox.push("web:a", Reply::text("two"));

        let seen = inbox.after("web:a", start);
        assert_eq!(seen.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![a, c]);
        assert_eq!(inbox.after("web:a", a)[0].reply.text, "two");
    }

    #[test]
    fn old_messages_are_dropped_past_the_limit() {
        let inbox = WebInbox::new();
        for i in 0..PER_ADDRESS + 5 {
            inbox.push("web:a", Reply::text(i.to_string()));
        }
        let kept = inbox.after("web:a", 0);
        assert_eq!(kept.len(), PER_ADDRESS);
        assert_eq!(kept[0].reply.text, "5");
    }

    #[tokio::test]
    async fn a_waiting_poll_wakes_on_a_new_message() {
        let inbox = Arc::new(WebInbox::new());
        let after = inbox.last_seq();
        let waiter = {
            let inbox = inbox.clone();
            tokio::spawn(async move { inbox.wait("web:a", after, Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        inbox.push("web:a", Reply::text("hello"));

        let got = tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got[0].reply.text, "hello");
    }

    #[tokio::test]
    async fn closing_the_inbox_ends_waiting_polls_at_once() {
        let inbox = Arc::new(WebInbox::new());
        let waiter = {
            let inbox = inbox.clone();
            tokio::spawn(async move { inbox.wait("web:a", 0, Duration::from_secs(60)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        inbox.close();

        let got = tokio::time::timeout(Duration::from_secs(2), waiter).await;
        assert!(got.expect("the wait ended").unwrap().is_empty());
        let later = inbox.wait("web:a", 0, Duration::from_secs(60));
        let later = tokio::time::timeout(Duration::from_secs(2), later).await;
        assert!(later.expect("a later wait ends too").is_empty());
    }

    #[tokio::test]
    async fn a_waiting_poll_ignores_other_addresses_and_times_out() {
        let inbox = WebInbox::new();
        let after = inbox.last_seq();
        inbox.push("web:b", Reply::text("not yours"));
        let got = inbox.wait("web:a", after, Duration::from_millis(50)).await;
        assert!(got.is_empty());
    }
}
