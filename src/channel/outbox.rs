//! Replies queued in the store by other processes, delivered by the server.
//!
//! `sandbot approvals approve` runs in its own process and cannot reach the
//! server's channels, so it queues each reply with
//! [`Store::push_outbox`]. The server runs [`drain_outbox`], which takes
//! the queue every second and hands each reply to the [`Router`]. A queued
//! reply that is not valid JSON is dropped with a warning.

use std::sync::Arc;
use std::time::Duration;

use crate::channel::{Delivery, Reply, Router};
use crate::store::Store;

/// How often the queue is checked.
const INTERVAL: Duration = Duration::from_secs(1);

/// How many queued replies one pass takes.
const BATCH: usize = 100;

/// Deliver queued replies forever, checking the store every second.
pub async fn drain_outbox(store: Arc<dyn Store>, router: Router) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        drain_once(store.as_ref(), &router).await;
    }
}

/// Deliver everything queued now; returns how many replies were delivered.
pub async fn drain_once(store: &dyn Store, router: &Router) -> usize {
    let mut delivered = 0;
    loop {
        let batch = match store.take_outbox(BATCH) {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "failed to read queued replies");
                return delivered;
            }
        };
        let full = batch.len() == BATCH;
        let deliveries = decode(batch);
        delivered += deliveries.len();
        router.deliver_all(&deliveries).await;
        if !full {
            return delivered;
        }
    }
}

/// Turn queued rows into deliveries, dropping rows that do not parse.
fn decode(rows: Vec<(String, String)>) -> Vec<Delivery> {
    rows.into_iter()
        .filter_map(|(to, json)| match serde_json::from_str::<Reply>(&json) {
            Ok(reply) => Some(Delivery { to, reply }),
            Err(error) => {
                tracing::warn!(%to, %error, "dropped a queued reply that is not valid json");
                None
            }
        })
        .collect()
}

/// Queue replies for a running server to deliver.
pub fn queue(store: &dyn Store, deliveries: &[Delivery]) -> crate::store::Result<()> {
    for d in deliveries {
        // Serialising a plain struct of strings cannot fail.
        let json = serde_json::to_string(&d.reply).unwrap_or_default();
        store.push_outbox(&d.to, &json)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::channel::{Button, Outbox};
    use crate::store::memory::MemoryStore;

    /// An outbox that remembers what it was given.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, Reply)>>);

    #[async_trait::async_trait]
    impl Outbox for Recorder {
        async fn deliver(&self, to: &str, reply: &Reply) {
            self.0.lock().unwrap().push((to.to_string(), reply.clone()));
        }
    }

    fn router_with(recorder: Arc<Recorder>) -> Router {
        let mut router = Router::default();
        router.add("web", recorder);
        router
    }

    #[tokio::test]
    async fn queued_replies_reach_their_channel_once() {
        let store = MemoryStore::default();
        let reply = Reply {
            text: "Approved".into(),
            output: Some("ok".into()),
            buttons: vec![Button {
                title: "Back".into(),
                payload: "Back".into(),
            }],
        };
        let to = "web:abc".to_string();
        queue(
            &store,
            &[Delivery {
                to: to.clone(),
                reply: reply.clone(),
            }],
        )
        .unwrap();
        let recorder = Arc::new(Recorder::default());
        let router = router_with(recorder.clone());

        assert_eq!(drain_once(&store, &router).await, 1);
        assert_eq!(drain_once(&store, &router).await, 0);
        assert_eq!(*recorder.0.lock().unwrap(), vec![(to, reply)]);
    }

    #[tokio::test]
    async fn a_queued_reply_that_is_not_json_is_dropped() {
        let store = MemoryStore::default();
        store.push_outbox("web:abc", "not json").unwrap();
        let recorder = Arc::new(Recorder::default());

        assert_eq!(drain_once(&store, &router_with(recorder.clone())).await, 0);
        assert!(recorder.0.lock().unwrap().is_empty());
    }
}
