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
    /// Log filter, e.g. `info` or `sandbot=debug`.
    #[arg(long, global = true, env = "SANDBOT_LOG", default_value = "info")]
    log: String,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    start_tracing(&cli.log);
    match cli.command {
        Command::Serve(args) => block_on(cli::serve::run(args)),
        Command::Check(args) => cli::check::run(args),
        Command::Graph(args) => cli::graph::run(args),
        Command::CanI(args) => cli::can_i::run(args),
    }
}

/// Log to stderr with the given filter.
fn start_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
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
