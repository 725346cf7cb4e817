//! `sandbot approvals list|approve ID|deny ID`: decide approvals from the
//! shell.
//!
//! Works on the server's store (`--store`, default `sqlite://sandbot.db`)
//! and decides as the address `cli:<USER>`, with the same checks as a tap
//! in chat. An approved handler runs here, in this process, on the
//! approver's authority. This process cannot reach the server's channels,
//! so replies for other people (the requester's result) are queued in the
//! store, and a running `sandbot serve` delivers them within a second.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::bot::Bot;
use crate::channel::{Delivery, outbox};
use crate::store::{self, Approval, ApprovalStatus, Decision, Store};

/// Arguments of `sandbot approvals`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
    /// The config file.
    #[arg(
        short,
        long,
        global = true,
        env = "CONFIG",
        default_value = "config/example.yaml"
    )]
    pub config: PathBuf,
    /// The configured user deciding; needed to approve or deny.
    #[arg(long = "as", global = true, env = "SANDBOT_AS")]
    pub user: Option<String>,
    /// The server's store.
    #[arg(
        long,
        global = true,
        env = "SANDBOT_STORE",
        default_value = "sqlite://sandbot.db"
    )]
    pub store: String,
}

/// What `sandbot approvals` does.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Action {
    /// List pending approvals.
    List,
    /// Approve a request: its command runs, the requester gets the result.
    Approve {
        /// The approval id, as listed.
        id: String,
    },
    /// Deny a request.
    Deny {
        /// The approval id, as listed.
        id: String,
    },
}

/// List or decide.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (config, runner) = match super::chat::prepare(&args.config) {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    if let Some(user) = &args.user
        && !config.users.contains_key(user)
    {
        eprintln!("error: user {user:?} is not in {}", args.config.display());
        return Ok(ExitCode::FAILURE);
    }
    let store = super::chat::open_store(&args.store)?;
    let bot = Bot::new(config, store.clone(), runner);
    let (id, decision) = match args.action {
        Action::List => return list(&bot, store.as_ref()),
        Action::Approve { id } => (id, Decision::Approve),
        Action::Deny { id } => (id, Decision::Deny),
    };
    let Some(user) = args.user else {
        eprintln!("error: say who decides with --as USER");
        return Ok(ExitCode::FAILURE);
    };
    decide(&bot, store.as_ref(), &user, &id, decision).await
}

/// Print the pending approvals, oldest first.
fn list(bot: &Bot, store: &dyn Store) -> anyhow::Result<ExitCode> {
    let now = store::now();
    let pending = store.pending_approvals(now)?;
    if pending.is_empty() {
        println!("No pending approvals.");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<32} {:<24} {:<28} {:<24} AGE",
        "ID", "COMMAND", "REQUESTER", "INPUT"
    );
    for approval in &pending {
        println!("{}", row(bot, approval, now));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of the list.
fn row(bot: &Bot, approval: &Approval, now: store::Timestamp) -> String {
    let command = bot.config().commands.get(&approval.command);
    let command = command
        .map(|c| c.pretty_name.as_str())
        .unwrap_or(&approval.command);
    let requester = format!("{} ({})", approval.requester_name, approval.requester);
    let input = clip(&format!("{:?}", approval.input), 24);
    let age = Duration::from_secs((now - approval.created_at).max(0) as u64);
    let age = humantime::format_duration(age);
    format!(
        "{:<32} {:<24} {:<28} {:<24} {age}",
        approval.id, command, requester, input
    )
}

/// At most `max` characters, marked when cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if text.chars().count() > max => format!("{}…", &text[..cut]),
        _ => text.to_string(),
    }
}

/// Decide as `cli:<user>`, print what happened, queue the rest.
async fn decide(
    bot: &Bot,
    store: &dyn Store,
    user: &str,
    id: &str,
    decision: Decision,
) -> anyhow::Result<ExitCode> {
    let address = format!("cli:{user}");
    let deliveries = bot.decide(&address, id, decision).await;
    let (mine, others): (Vec<Delivery>, Vec<Delivery>) =
        deliveries.into_iter().partition(|d| d.to == address);
    for d in &mine {
        println!("{}", d.reply.plain_text());
    }
    outbox::queue(store, &others)?;
    for d in &others {
        let text = d.reply.plain_text();
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default();
        println!("→ queued for {}: {first}", d.to);
    }
    Ok(if decided_by(store, id, user)? {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Whether `user` is the one who decided approval `id`.
fn decided_by(store: &dyn Store, id: &str, user: &str) -> anyhow::Result<bool> {
    let status = store.approval(id)?.map(|a| a.status);
    Ok(match status {
        Some(ApprovalStatus::Approved { by, .. } | ApprovalStatus::Denied { by, .. }) => by == user,
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_clipped_and_marked() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abcd", 4), "abcd");
        assert_eq!(clip("ééééé", 3), "éé…");
    }
}
