//! Builds a run's WASI context from its invocation, deny by default.
//!
//! What the guest gets, and nothing more:
//! - stdin: the user's input; stdout: a [`CappedStdout`]; stderr: nowhere;
//! - arguments: the command id alone;
//! - environment: `line`, the `SANDBOT_*` variables and the granted pairs;
//! - directories: the granted preopens, read-only or read-write, confined
//!   by wasmtime-wasi's capability-based filesystem;
//! - network: nothing unless the run has rules; then TCP and UDP to the
//!   resolved addresses only, and name lookup.

use std::sync::Arc;

use wasmtime_wasi::p2::pipe::{MemoryInputPipe, SinkOutputStream};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::stdout::CappedStdout;
use crate::config::Access;
use crate::handler::Invocation;
use crate::handler::network::AllowedSet;
use crate::handler::policy::DirCapability;

/// A granted directory that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("failed to open granted directory {host} for guest path {guest}: {reason}")]
pub(super) struct DirError {
    /// Host path.
    pub host: String,
    /// Guest path.
    pub guest: String,
    /// What went wrong.
    pub reason: String,
}

/// Builds the WASI context builder for one run; the caller picks the
/// preview 1 or component flavour with `build_p1` or `build`. Without a
/// `stdout`, what the guest prints goes nowhere (world components reply
/// by return value instead).
pub(super) async fn builder(
    inv: &Invocation,
    stdout: Option<&CappedStdout>,
) -> Result<WasiCtxBuilder, DirError> {
    let mut builder = WasiCtxBuilder::new();
    match stdout {
        Some(stdout) => builder.stdout(stdout.clone()),
        None => builder.stdout(SinkOutputStream),
    };
    builder
        .stdin(MemoryInputPipe::new(inv.input.clone()))
        .stderr(SinkOutputStream)
        .arg(&inv.command)
        .envs(&environment(inv));
    for dir in &inv.capabilities.dirs {
        preopen(&mut builder, dir)?;
    }
    network(&mut builder, &inv.capabilities.network).await;
    Ok(builder)
}

/// The guest's whole environment: the contract's variables, then the
/// granted pairs.
pub(super) fn environment(inv: &Invocation) -> Vec<(String, String)> {
    let user = &inv.user;
    let mut env = vec![
        ("line".to_string(), inv.input.clone()),
        (
            "SANDBOT_USER_ID".into(),
            user.id.clone().unwrap_or_default(),
        ),
        ("SANDBOT_USER_NAME".into(), user.name.clone()),
        ("SANDBOT_CHANNEL".into(), user.channel.clone()),
        ("SANDBOT_STATE".into(), inv.state.clone()),
        ("SANDBOT_COMMAND".into(), inv.command.clone()),
    ];
    env.extend(inv.capabilities.env.iter().cloned());
    env
}

/// Adds one granted directory as a preopen.
fn preopen(builder: &mut WasiCtxBuilder, dir: &DirCapability) -> Result<(), DirError> {
    let perms = match dir.access {
        Access::ReadOnly => FsPerms::ReadOnly,
        Access::ReadWrite => FsPerms::ReadWrite,
    };
    match builder.preopened_dir(&dir.host, &dir.guest, perms) {
        Ok(_) => Ok(()),
        Err(error) => Err(DirError {
            host: dir.host.display().to_string(),
            guest: dir.guest.clone(),
            reason: format!("{error:#}"),
        }),
    }
}

/// Opens the network to exactly the run's rules, or closes it.
async fn network(builder: &mut WasiCtxBuilder, rules: &[String]) {
    if rules.is_empty() {
        builder
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        return;
    }
    let allowed = Arc::new(AllowedSet::resolve(rules).await);
    builder
        .allow_tcp(true)
        .allow_udp(true)
        .allow_ip_name_lookup(true)
        .socket_addr_check(move |addr, usage| {
            let permitted = allowed.permits(addr, usage);
            if !permitted {
                tracing::warn!(%addr, ?usage, "guest network use refused");
            }
            Box::pin(async move { permitted })
        });
}
