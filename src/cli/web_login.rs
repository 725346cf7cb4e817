//! `sandbot web-login --user ID`: print a one-time link that signs a
//! browser in to the web chat as a configured user.
//!
//! The link works once, for ten minutes, against the store the server
//! uses (`--store`, the server's default unless told otherwise).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::channel::web;

/// Arguments of `sandbot web-login`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configured user the browser will act as.
    #[arg(long, env = "SANDBOT_WEB_USER")]
    pub user: String,
    /// The config file, to check the user exists.
    #[arg(short, long, env = "CONFIG", default_value = "config/example.yaml")]
    pub config: PathBuf,
    /// The server's store: `sqlite://PATH`.
    #[arg(long, env = "SANDBOT_STORE", default_value = "sqlite://sandbot.db")]
    pub store: String,
    /// Where the server is reached from the browser.
    #[arg(
        long,
        env = "SANDBOT_BASE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub base_url: String,
}

/// Make the token and print the link.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = match super::load_config(&args.config) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    if !loaded.config.users.contains_key(&args.user) {
        eprintln!(
            "error: user {:?} is not in {}",
            args.user,
            args.config.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    let store = super::chat::open_store(&args.store)?;
    let token = web::create_login_token(store.as_ref(), &args.user)?;
    tracing::info!(user = %args.user, "web login link made");
    println!("{}/login/{token}", args.base_url.trim_end_matches('/'));
    eprintln!(
        "The link works once, within {} minutes.",
        web::LOGIN_TTL.as_secs() / 60
    );
    Ok(ExitCode::SUCCESS)
}
