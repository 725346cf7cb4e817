//! `sandbot can-i`: may a user run a command, and why.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;
use crate::rbac::{self, Principal, Verdict};

/// Arguments of `sandbot can-i`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(env = "CONFIG")]
    pub config: PathBuf,
    /// The user id (a Messenger id in the original format); unknown ids
    /// are guests.
    #[arg(long, env = "SANDBOT_USER")]
    pub user: String,
    /// The command id.
    #[arg(long, env = "SANDBOT_COMMAND")]
    pub command: String,
}

/// Answer, printing the chain that grants or what is missing. Exit 0 for
/// yes, 1 for no, 2 when the command does not exist.
pub fn run(args: Args) -> ExitCode {
    let loaded = match super::load_config(&args.config) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let config = &loaded.config;
    let Some(command) = config.commands.get(&args.command) else {
        eprintln!(
            "error: no command \"{}\" in {}",
            args.command,
            args.config.display()
        );
        let known: Vec<&str> = config.commands.keys().map(String::as_str).collect();
        eprintln!("  commands: {}", known.join(", "));
        return ExitCode::from(2);
    };
    let who = Principal::resolve(config, Some(&args.user));
    let name = describe_user(config, &who, &args.user);
    match who.check(config, &command.permissions) {
        Verdict::Allowed { chain } => {
            println!("yes: {name} may run \"{}\"", command.id);
            chain.iter().for_each(|grant| println!("  {grant}"));
            if chain.is_empty() {
                println!("  the command requires no permissions");
            }
            ExitCode::SUCCESS
        }
        Verdict::Denied { missing } => {
            let missing: Vec<String> = missing.iter().map(|p| format!("\"{p}\"")).collect();
            println!("no: {name} may not run \"{}\"", command.id);
            println!("  missing permission {}", missing.join(", "));
            print_approvers(config, command.approved_by.as_deref());
            ExitCode::FAILURE
        }
    }
}

/// `user "ID" (Name)` or `guest "ID"`.
fn describe_user(config: &Config, who: &Principal, id: &str) -> String {
    match who.user.as_deref().and_then(|u| config.users.get(u)) {
        Some(user) => format!("user \"{id}\" ({})", user.name),
        None => format!("guest \"{id}\" (not a configured user)"),
    }
}

/// Who could approve a run instead.
fn print_approvers(config: &Config, role: Option<&str>) {
    let Some(role) = role else {
        println!("  the command has no approvers, so it cannot be requested");
        return;
    };
    let holders: Vec<String> = rbac::holders(config, role)
        .iter()
        .map(|u| format!("{} ({})", u.name, u.id))
        .collect();
    if holders.is_empty() {
        println!("  it can be approved by role \"{role}\", which nobody holds");
    } else {
        println!(
            "  it can be approved by role \"{role}\": {}",
            holders.join(", ")
        );
    }
}
