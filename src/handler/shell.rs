//! Shell handlers: `/bin/sh -c` with the input in the environment and on
//! stdin, never in the script text.
//!
//! A run gets the configured script verbatim. The user's input reaches it
//! only as data: in the `line` variable and on stdin (followed by a
//! newline, so `read` sees a whole line). The environment is emptied and
//! rebuilt from a short list: `PATH`, a scratch `HOME` that is also the
//! working folder, `line`, the `SANDBOT_*` description of the run, and the
//! granted variables. A grant may override `PATH`; it cannot override
//! `HOME`, `line` or the `SANDBOT_*` variables, which are set last.
//!
//! The script starts its own process group. When the time limit passes,
//! and also after a normal exit, the whole group is killed, so background
//! children neither outlive the run nor keep it waiting on their open
//! output. stdout is kept up to the output limit; stderr is kept up to the
//! same limit and only logged, at debug.
//!
//! Known gaps: a process that leaves the group (`setsid`) escapes the kill,
//! though not the run's deadline, since output reading stops shortly after
//! the group is gone. After a normal exit the group is killed once the
//! leader has been reaped, so in principle its id could by then belong to
//! a new group; the window is a few microseconds and needs pid reuse.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::task::JoinHandle;

use super::output::CappedOutput;
use super::{Invocation, Outcome, Status};

/// `PATH` for the script when the server has none.
const FALLBACK_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// How long to keep reading output after the process group is killed,
/// for pipes held open by a process that escaped the group.
const READ_GRACE: Duration = Duration::from_millis(500);

/// Run a shell script for one invocation.
pub async fn run(script: &str, inv: &Invocation) -> Outcome {
    let scratch = match Scratch::create(inv.scratch.as_deref()) {
        Ok(scratch) => scratch,
        Err(e) => return start_failure(inv, format!("failed to create scratch folder: {e}")),
    };
    let started = Instant::now();
    let child = match command(script, inv, scratch.path()).spawn() {
        Ok(child) => child,
        Err(e) => return start_failure(inv, format!("failed to start /bin/sh: {e}")),
    };
    let status = supervise(child, inv).await;
    let duration = started.elapsed();
    drop(scratch);

    let (output, truncated) = status.stdout;
    tracing::debug!(
        command = %inv.command,
        outcome = status.status.label(),
        duration_ms = duration.as_millis() as u64,
        truncated,
        "shell handler finished"
    );
    Outcome {
        status: status.status,
        output,
        truncated,
        duration,
        fuel_used: None,
        peak_memory: None,
        event: None,
    }
}

/// How a supervised process ended and what it printed.
struct Finished {
    status: Status,
    stdout: (String, bool),
}

/// Feed input, read output and wait, all within the time limit; then
/// kill what is left of the group.
async fn supervise(mut child: Child, inv: &Invocation) -> Finished {
    let mut group = GroupKill::new(&child);
    let feeder = child
        .stdin
        .take()
        .map(|stdin| feed(stdin, inv.input.clone()));
    let stdout = Drain::start(child.stdout.take(), inv.limits.output);
    let stderr = Drain::start(child.stderr.take(), inv.limits.output);

    let status = wait(&mut child, &mut group, inv.limits.timeout).await;
    // Kill leftovers first: they may hold stdout open.
    group.kill();
    if let Some(feeder) = feeder {
        feeder.abort();
    }
    let stdout = stdout.finish().await;
    log_stderr(inv, stderr.finish().await);
    Finished { status, stdout }
}

/// Wait for the script within `timeout`, killing the group if it runs
/// over.
async fn wait(child: &mut Child, group: &mut GroupKill, timeout: Duration) -> Status {
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(exit)) => status_of(exit),
        Ok(Err(e)) => Status::Error(format!("failed to wait for /bin/sh: {e}")),
        Err(_) => {
            // Kill before reaping, while the group id is surely ours.
            group.kill();
            let _ = child.wait().await;
            Status::TimedOut
        }
    }
}

/// The command line and environment for one run.
fn command(script: &str, inv: &Invocation, home: &Path) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(script);
    cmd.env_clear();
    cmd.env(
        "PATH",
        std::env::var_os("PATH").unwrap_or(FALLBACK_PATH.into()),
    );
    cmd.envs(inv.capabilities.env.iter().map(|(k, v)| (k, v)));
    cmd.envs(run_env(inv));
    cmd.env("HOME", home);
    cmd.current_dir(home);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.process_group(0);
    // A last resort if this future is dropped mid-run; the group kill
    // below is what normally cleans up.
    cmd.kill_on_drop(true);
    cmd
}

/// The `line` and `SANDBOT_*` variables describing a run.
fn run_env(inv: &Invocation) -> [(&'static str, &str); 7] {
    let user = &inv.user;
    [
        ("line", inv.input.as_str()),
        ("SANDBOT_USER_ID", user.id.as_deref().unwrap_or("")),
        ("SANDBOT_USER_NAME", user.name.as_str()),
        ("SANDBOT_USER_ADDRESS", user.address.as_str()),
        ("SANDBOT_CHANNEL", user.channel.as_str()),
        ("SANDBOT_STATE", inv.state.as_str()),
        ("SANDBOT_COMMAND", inv.command.as_str()),
    ]
}

/// Write the input and a newline to stdin, then close it. A script that
/// never reads stdin closes the pipe early; that is not an error.
fn feed(mut stdin: ChildStdin, input: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        let written = async {
            stdin.write_all(input.as_bytes()).await?;
            stdin.write_all(b"\n").await?;
            stdin.shutdown().await
        };
        match written.await {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                tracing::debug!(error = %e, "failed to write handler stdin");
            }
            _ => {}
        }
    })
}

/// The exit status as a [`Status`]: a signal counts as exit `128 + sig`,
/// as shells report it.
fn status_of(exit: ExitStatus) -> Status {
    match (exit.code(), exit.signal()) {
        (Some(0), _) => Status::Success,
        (Some(code), _) => Status::Exit(code),
        (None, Some(signal)) => Status::Exit(128 + signal),
        (None, None) => Status::Error(format!("unexpected exit status {exit}")),
    }
}

/// Log what the script wrote to stderr; users never see it.
fn log_stderr(inv: &Invocation, (stderr, truncated): (String, bool)) {
    if !stderr.is_empty() {
        tracing::debug!(command = %inv.command, truncated, %stderr, "shell handler stderr");
    }
}

/// An outcome for a run that never started, logged.
fn start_failure(inv: &Invocation, message: String) -> Outcome {
    tracing::warn!(command = %inv.command, error = %message, "shell handler did not start");
    Outcome::failed_to_start(message)
}

/// Reads one pipe to the end into a [`CappedOutput`] in the background.
struct Drain {
    sink: Arc<Mutex<CappedOutput>>,
    task: Option<JoinHandle<()>>,
}

impl Drain {
    /// Start reading `pipe`, keeping up to `limit` bytes.
    fn start(pipe: Option<impl AsyncRead + Unpin + Send + 'static>, limit: u64) -> Drain {
        let sink = Arc::new(Mutex::new(CappedOutput::new(limit)));
        let task = pipe.map(|pipe| tokio::spawn(read_into(pipe, sink.clone())));
        Drain { sink, task }
    }

    /// What was read: everything up to end of file, or what arrived
    /// within [`READ_GRACE`] if the pipe stays open.
    async fn finish(self) -> (String, bool) {
        if let Some(mut task) = self.task {
            if tokio::time::timeout(READ_GRACE, &mut task).await.is_err() {
                task.abort();
            }
        }
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *sink).finish()
    }
}

/// Copy `pipe` into `sink` until end of file or a read error.
async fn read_into(mut pipe: impl AsyncRead + Unpin, sink: Arc<Mutex<CappedOutput>>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => sink
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(&buf[..n]),
        }
    }
}

/// Kills a run's process group; also when dropped, so an abandoned run
/// leaves nothing behind.
struct GroupKill {
    group: Option<Pid>,
}

impl GroupKill {
    /// The group led by `child` (it was started with `process_group(0)`).
    fn new(child: &Child) -> GroupKill {
        let group = child.id().and_then(|id| i32::try_from(id).ok());
        GroupKill {
            group: group.map(Pid::from_raw),
        }
    }

    /// Send SIGKILL to every process in the group, once: a second kill
    /// could reach a new group that reused the id. An empty group is
    /// already the goal, so its error is ignored.
    fn kill(&mut self) {
        if let Some(group) = self.group.take() {
            let _ = killpg(group, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The scratch folder that is a run's `HOME`, removed afterwards.
enum Scratch {
    /// A fresh temporary folder.
    Temp(tempfile::TempDir),
    /// The folder the invocation named.
    Given(PathBuf),
}

impl Scratch {
    /// Use `given` (creating it if missing), or make a temporary folder.
    fn create(given: Option<&Path>) -> io::Result<Scratch> {
        match given {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                Ok(Scratch::Given(dir.to_path_buf()))
            }
            None => tempfile::Builder::new()
                .prefix("sandbot-run-")
                .tempdir()
                .map(Scratch::Temp),
        }
    }

    fn path(&self) -> &Path {
        match self {
            Scratch::Temp(dir) => dir.path(),
            Scratch::Given(dir) => dir,
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Scratch::Given(dir) = self {
            if let Err(e) = std::fs::remove_dir_all(&*dir) {
                tracing::warn!(path = %dir.display(), error = %e, "failed to remove scratch folder");
            }
        }
    }
}
