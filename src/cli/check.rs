//! `sandbot check`: load and validate a config without serving.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{Config, Diagnostic, Runnable, Severity};
use crate::handler::{Runner, policy};
use crate::rbac::Principal;

/// Arguments of `sandbot check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(env = "CONFIG")]
    pub config: PathBuf,
    /// Treat warnings as errors (exit 1 when there are any).
    #[arg(long, env = "SANDBOT_STRICT")]
    pub strict: bool,
}

/// Validate, print diagnostics and a one-screen summary. Exit 0 if valid.
pub fn run(args: Args) -> ExitCode {
    let loaded = match super::load_config(&args.config) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let config = &loaded.config;
    let mut warnings = loaded.warnings.clone();
    let runner = match Runner::prepare(config) {
        Ok(runner) => runner,
        Err(errors) => {
            for e in errors {
                let d = Diagnostic {
                    severity: Severity::Error,
                    span: e.span,
                    message: e.to_string(),
                };
                eprintln!("{}", d.render(&args.config));
            }
            eprintln!("{}: the config was not loaded", args.config.display());
            return ExitCode::FAILURE;
        }
    };
    warnings.extend(ungranted_needs(config));
    warnings.sort_by_key(|d| d.span);
    for w in &warnings {
        eprintln!("{}", w.render(&args.config));
    }
    print_summary(config, &runner);
    if args.strict && !warnings.is_empty() {
        eprintln!("{} warning(s) and --strict: failing", warnings.len());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Warn about wasm needs that no role holding the command's permissions
/// grants: such a handler would run without them.
fn ungranted_needs(config: &Config) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for command in config.commands.values() {
        let roles = roles_able_to_run(config, &command.permissions);
        let missing = policy::ungranted(&command.needs, &roles);
        if !missing.is_empty() {
            let message = format!(
                "command \"{}\" needs {} but no role holding its permissions grants it",
                command.id,
                missing.join(", ")
            );
            out.push(Diagnostic {
                severity: Severity::Warning,
                span: command.span,
                message,
            });
        }
    }
    out
}

/// Roles that hold all of `permissions`, plus (when none are required)
/// every role.
fn roles_able_to_run<'c>(
    config: &'c Config,
    permissions: &[String],
) -> Vec<&'c crate::config::Role> {
    config
        .roles
        .values()
        .filter(|r| permissions.iter().all(|p| r.permissions.contains(p)))
        .collect()
}

/// The one-screen summary.
fn print_summary(config: &Config, runner: &Runner) {
    println!("{}: ok", config.path.display());
    println!(
        "  {} states, {} events, {} transitions",
        config.states.len(),
        config.events.len(),
        config.transitions.len()
    );
    println!(
        "  {} commands, {} users, {} groups, {} roles, {} permissions",
        config.commands.len(),
        config.users.len(),
        config.groups.len(),
        config.roles.len(),
        config.permissions.len()
    );
    println!(
        "  start state \"{}\", Get Started payload \"{}\"",
        config.initial_state, config.get_started_event
    );
    let handlers: Vec<_> = config
        .states
        .values()
        .filter(|s| s.default_handler.is_some())
        .collect();
    if !handlers.is_empty() {
        println!("  handler states:");
    }
    for state in handlers {
        let id = state.default_handler.as_deref().unwrap_or_default();
        let command = &config.commands[id];
        let approval = match &command.approved_by {
            Some(role) => format!(", approved by role \"{role}\""),
            None => String::new(),
        };
        println!("    {} → {} ({}{approval})", state.id, id, kind_of(command));
    }
    print_wasm_commands(config, runner);
}

/// `shell` or `wasm`.
fn kind_of(command: &crate::config::Command) -> &'static str {
    match command.run {
        Runnable::Shell { .. } => "shell",
        Runnable::Wasm { .. } => "wasm",
    }
}

/// Per wasm command: its kind, imports, needs and the roles granting them.
fn print_wasm_commands(config: &Config, runner: &Runner) {
    for command in config.commands.values() {
        let Runnable::Wasm { module } = &command.run else {
            continue;
        };
        println!("  wasm command \"{}\": {}", command.id, module.display());
        if let Some((kind, imports)) = runner.describe_wasm(&command.id) {
            println!("    kind: {kind}");
            println!("    imports: {}", list_or_none(&imports));
        }
        let needs = &command.needs;
        let all: Vec<String> = needs
            .dirs
            .iter()
            .map(|d| format!("dir {d}"))
            .chain(needs.env.iter().map(|e| format!("env {e}")))
            .chain(needs.network.iter().map(|n| format!("network {n}")))
            .collect();
        println!("    needs: {}", list_or_none(&all));
        let granting: Vec<String> = roles_able_to_run(config, &command.permissions)
            .into_iter()
            .filter(|r| policy::ungranted(needs, &[r]).len() < all.len() || all.is_empty())
            .map(|r| r.id.clone())
            .collect();
        println!("    granted by roles: {}", list_or_none(&granting));
        let guest = Principal::guest();
        if guest.may_run(config, command) {
            println!("    guests may run it (it requires no permissions)");
        }
    }
}

/// Items joined by commas, or `none`.
fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}
