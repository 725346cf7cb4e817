//! The HTTP server: the axum router, the per-address dispatcher and
//! graceful shutdown.
//!
//! Webhooks answer at once and hand their messages to the [`Dispatcher`],
//! which keeps one queue per address: one person's messages are handled
//! in the order they arrived, while different people are served
//! concurrently, so a slow handler delays only the person who started it.
//! On shutdown the server stops accepting requests and gives queued work
//! a grace period to finish.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::bot::Bot;
use crate::channel::{Dispatch, Inbound, Router};

/// How long an idle address keeps its queue task.
const IDLE: Duration = Duration::from_secs(60);
/// How long shutdown waits for queued messages to be handled.
const GRACE: Duration = Duration::from_secs(30);

/// Hands messages to the bot, one ordered queue per address.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

/// The dispatcher's shared parts.
struct Inner {
    /// The bot.
    bot: Bot,
    /// Where replies go.
    router: Router,
    /// Open queues by address.
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<Inbound>>>,
    /// Every queue task, for shutdown.
    tasks: TaskTracker,
}

impl Dispatcher {
    /// A dispatcher that handles messages with `bot` and delivers the
    /// replies through `router`.
    pub fn new(bot: Bot, router: Router) -> Dispatcher {
        let inner = Inner {
            bot,
            router,
            queues: Mutex::default(),
            tasks: TaskTracker::new(),
        };
        Dispatcher {
            inner: Arc::new(inner),
        }
    }

    /// The reply router.
    pub fn router(&self) -> &Router {
        &self.inner.router
    }

    /// Stop taking new queue tasks and wait (up to the grace period) for
    /// the running ones to finish.
    pub async fn drain(&self) {
        // Dropping the senders lets each queue task finish what it holds
        // and stop, instead of idling out.
        self.inner
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.inner.tasks.close();
        if tokio::time::timeout(GRACE, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace period over; unfinished messages were dropped");
        }
    }
}

impl Dispatch for Dispatcher {
    fn dispatch(&self, inbound: Inbound) {
        let mut queues = self.inner.queues.lock().unwrap_or_else(|e| e.into_inner());
        let inbound = match queues.get(&inbound.address) {
            Some(tx) => match tx.send(inbound) {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => back,
            },
            None => inbound,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let address = inbound.address.clone();
        let _ = tx.send(inbound);
        queues.insert(address.clone(), tx);
        self.inner
            .tasks
            .spawn(work(self.inner.clone(), address, rx));
    }
}

/// Handle one address's messages in order until it goes idle.
async fn work(inner: Arc<Inner>, address: String, mut rx: mpsc::UnboundedReceiver<Inbound>) {
    while let Some(inbound) = next_message(&inner, &address, &mut rx).await {
        let deliveries = inner.bot.handle(inbound).await;
        inner.router.deliver_all(&deliveries).await;
    }
}

/// The next message, or `None` once the queue has been idle for a while
/// (the queue is then removed, under the lock senders use, so nothing is
/// lost between the check and the removal).
async fn next_message(
    inner: &Inner,
    address: &str,
    rx: &mut mpsc::UnboundedReceiver<Inbound>,
) -> Option<Inbound> {
    if let Ok(next) = tokio::time::timeout(IDLE, rx.recv()).await {
        return next;
    }
    let mut queues = inner.queues.lock().unwrap_or_else(|e| e.into_inner());
    match rx.try_recv() {
        Ok(next) => Some(next),
        Err(_) => {
            queues.remove(address);
            None
        }
    }
}

/// The routes every server has.
pub fn base_routes() -> axum::Router {
    axum::Router::new().route("/healthz", get(|| async { "ok" }))
}

/// Serve `app` on `listen` until `shutdown` resolves, then drain the
/// dispatcher.
pub async fn run(
    app: axum::Router,
    listen: SocketAddr,
    dispatcher: Dispatcher,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("failed to listen on {listen}: {e}"))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, "listening");
    let app = app.layer(tower_http::trace::TraceLayer::new_for_http());
    // Peer addresses let the web chat limit clients, not just cookies.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("shutting down");
    dispatcher.drain().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
