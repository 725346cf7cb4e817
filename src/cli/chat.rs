//! `sandbot chat CONFIG [--as ID] [--store URL]`: talk to the bot in the
//! terminal, through the same engine, store and handlers as `serve`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::bot::Bot;
use crate::channel::terminal::Terminal;
use crate::config::Config;
use crate::handler::Runner;
use crate::store::{self, Store};

/// Arguments of `sandbot chat`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(env = "CONFIG")]
    pub config: PathBuf,
    /// Talk as this configured user id; `guest` talks as nobody in
    /// particular.
    #[arg(long = "as", env = "SANDBOT_AS", default_value = "guest")]
    pub user: String,
    /// Where the conversation is kept: `memory` (gone on exit) or
    /// `sqlite://PATH`.
    #[arg(long, env = "SANDBOT_STORE", default_value = "memory")]
    pub store: String,
}

/// Talk until `/quit` or end of input.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (config, runner) = match prepare(&args.config) {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    if args.user != "guest" && !config.users.contains_key(&args.user) {
        eprintln!(
            "error: user {:?} is not in {}",
            args.user,
            args.config.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    let store = open_store(&args.store)?;
    let bot = Bot::new(config, store, runner);
    // The bot knows `terminal:<id>` as the configured user `<id>`.
    let address = format!("terminal:{}", args.user);
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    Terminal::new(bot, address, std::io::stdout())
        .run(stdin)
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// Load a config and prepare its handlers, as `serve` does; errors are
/// printed and become the exit code.
pub(crate) fn prepare(path: &Path) -> Result<(Arc<Config>, Arc<Runner>), ExitCode> {
    let loaded = super::load_config(path)?;
    for warning in &loaded.warnings {
        tracing::warn!("{}", warning.render(path));
    }
    let runner = Runner::prepare(&loaded.config).map_err(|errors| {
        for error in errors {
            eprintln!("error: {error}");
        }
        ExitCode::FAILURE
    })?;
    Ok((Arc::new(loaded.config), Arc::new(runner)))
}

/// Open the store a `--store` URL names.
pub(crate) fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    store::open(url).with_context(|| format!("failed to open store {url}"))
}
