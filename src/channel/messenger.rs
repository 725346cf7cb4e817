//! Facebook Messenger: webhook verification, signed event intake and the
//! Send API.

use std::sync::Arc;

use super::{Dispatch, Outbox, Reply};

/// The Graph API base used when `FB_GRAPH_URL` is not set.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com/v23.0";

/// What the webhook routes need.
#[derive(Clone)]
pub struct MessengerState {
    /// The app secret signatures are checked with.
    pub app_secret: Vec<u8>,
    /// The token Facebook echoes when verifying the webhook.
    pub verify_token: Option<String>,
    /// Where inbound messages go.
    pub dispatch: Arc<dyn Dispatch>,
}

/// The webhook routes.
pub fn routes(_state: MessengerState) -> axum::Router {
    axum::Router::new()
}

/// The Send API client.
pub struct SendApi {}

impl SendApi {
    /// A client for `graph_url` with a page token.
    pub fn new(_graph_url: String, _page_token: String) -> SendApi {
        SendApi {}
    }

    /// Set the Get Started button's payload.
    pub async fn set_get_started(&self, _payload: &str) -> anyhow::Result<()> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl Outbox for SendApi {
    async fn deliver(&self, _to: &str, _reply: &Reply) {}
}
