//! The `sandbot` binary: parse the command line, start tracing, dispatch.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sandbot::cli;

/// A self-hosted chatbot whose conversation, permissions and sandboxed
/// handlers live in one YAML file.
#[derive(Debug, Parser)]
#[command(name = "sandbot", version, about)]
struct Cli {
    /// Log filter, e.g. `info` or `sandbot=debug`. Default: `info` for
    /// `serve`, `warn` for the other subcommands, whose own output would
    /// otherwise be mixed with log lines.
    #[arg(long, global = true, env = "SANDBOT_LOG")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the webhook server.
    Serve(cli::serve::Args),
    /// Load and validate a config without serving.
    Check(cli::check::Args),
    /// Print the conversation as a graph.
    Graph(cli::graph::Args),
    /// Answer whether a user may run a command, and why.
    CanI(cli::can_i::Args),
    /// Talk to the bot in the terminal.
    Chat(cli::chat::Args),
    /// List, approve or deny approval requests.
    Approvals(cli::approvals::Args),
    /// Run scripted conversation tests against a config.
    Test(cli::test::Args),
    /// Print a one-time link that signs a browser in to the web chat.
    WebLogin(cli::web_login::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    start_tracing(cli.log.as_deref().unwrap_or(quiet));
    match cli.command {
        Command::Serve(args) => block_on(cli::serve::run(args)),
        Command::Check(args) => cli::check::run(args),
        Command::Graph(args) => cli::graph::run(args),
        Command::CanI(args) => cli::can_i::run(args),
        Command::Chat(args) => block_on(cli::chat::run(args)),
        Command::Approvals(args) => block_on(cli::approvals::run(args)),
        Command::Test(args) => block_on(cli::test::run(args)),
        Command::WebLogin(args) => report(cli::web_login::run(args)),
    }
}

/// Report a synchronous subcommand's error.
fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}

/// Log to stderr with the given filter.
fn start_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

/// Run an async subcommand on a fresh runtime, reporting its error.
fn block_on(task: impl std::future::Future<Output = anyhow::Result<ExitCode>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(task) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
