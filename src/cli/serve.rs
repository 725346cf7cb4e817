//! `sandbot serve`: run the webhook server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::bot::Bot;
use crate::channel::{Router, messenger, outbox, web};
use crate::handler::Runner;
use crate::server::{self, Dispatcher};
use crate::store;

/// Arguments of `sandbot serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(short, long, env = "CONFIG", default_value = "config/example.yaml")]
    pub config: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "SANDBOT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where state is kept: `sqlite://PATH` or `memory`.
    #[arg(long, env = "SANDBOT_STORE", default_value = "sqlite://sandbot.db")]
    pub store: String,
    /// Messenger app secret; without it the Messenger channel is off.
    #[arg(long, env = "FB_APP_SECRET", hide_env_values = true)]
    pub fb_app_secret: Option<String>,
    /// Token Facebook echoes when verifying the webhook.
    #[arg(long, env = "FB_VERIFY_TOKEN", hide_env_values = true)]
    pub fb_verify_token: Option<String>,
    /// Page access token for the Send API.
    #[arg(long, env = "FB_PAGE_TOKEN", hide_env_values = true)]
    pub fb_page_token: Option<String>,
    /// Do not serve the web chat at `/`.
    #[arg(long, env = "SANDBOT_NO_WEB")]
    pub no_web: bool,
    /// Graph API base URL.
    #[arg(long, env = "FB_GRAPH_URL", default_value = messenger::DEFAULT_GRAPH_URL)]
    pub fb_graph_url: String,
}

/// Run the server until Ctrl-C or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = match super::load_config(&args.config) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    for w in &loaded.warnings {
        tracing::warn!("{}", w.render(&args.config));
    }
    let config = Arc::new(loaded.config);
    tracing::info!(path = %args.config.display(), states = config.states.len(), "config loaded");
    let runner = Runner::prepare(&config).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!("failed to prepare handlers:\n{}", lines.join("\n"))
    })?;
    let store =
        store::open(&args.store).with_context(|| format!("failed to open store {}", args.store))?;
    tracing::info!(store = %args.store, "store opened");
    let bot = Bot::new(config.clone(), store.clone(), Arc::new(runner));

    let mut router = Router::default();
    let inbox = Arc::new(web::WebInbox::new());
    router.add("web", inbox.clone());
    let send_api = messenger_outbox(&args);
    if let Some(api) = &send_api {
        router.add("messenger", api.clone());
    }
    tokio::spawn(outbox::drain_outbox(store.clone(), router.clone()));
    let dispatcher = Dispatcher::new(bot.clone(), router);
    let mut app = server::base_routes();
    app = app.merge(messenger_routes(&args, &dispatcher));
    if args.no_web {
        tracing::info!("web chat off (--no-web)");
    } else {
        let key = web::WebKey::from_env()?;
        let dispatch = Arc::new(dispatcher.clone());
        let web_state = web::WebState::new(bot, store, dispatch, inbox.clone(), key);
        app = app.merge(web::routes(web_state));
        tracing::info!(url = %format!("http://{}/", args.listen), "web chat on /");
    }
    if let Some(api) = send_api {
        let payload = config.get_started_event.clone();
        tokio::spawn(async move {
            if let Err(e) = api.set_get_started(&payload).await {
                tracing::warn!(error = %e, "failed to set the Get Started button");
            }
        });
    }
    let shutdown = async move {
        server::shutdown_signal().await;
        inbox.close();
    };
    server::run(app, args.listen, dispatcher, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// The Send API client, when a page token is set.
fn messenger_outbox(args: &Args) -> Option<Arc<messenger::SendApi>> {
    let token = args.fb_page_token.clone()?;
    Some(Arc::new(messenger::SendApi::new(
        args.fb_graph_url.clone(),
        token,
    )))
}

/// The webhook routes, when an app secret is set.
fn messenger_routes(args: &Args, dispatcher: &Dispatcher) -> axum::Router {
    let Some(secret) = &args.fb_app_secret else {
        tracing::warn!("FB_APP_SECRET is not set: the Messenger channel is off");
        return axum::Router::new();
    };
    if args.fb_page_token.is_none() {
        tracing::warn!(
            "FB_PAGE_TOKEN is not set: Messenger messages are received but not answered"
        );
    }
    let state = messenger::MessengerState {
        app_secret: secret.as_bytes().to_vec(),
        verify_token: args.fb_verify_token.clone(),
        dispatch: Arc::new(dispatcher.clone()),
    };
    tracing::info!("Messenger channel on /webhooks/messenger and /fb/webhook");
    messenger::routes(state)
}
