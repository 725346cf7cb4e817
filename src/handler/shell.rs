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
//! Because the input travels in the environment, it is bound by the
//! system's limit on one variable (128 KiB on Linux); a longer input fails
//! to start, with `Status::Error`. Commands should set `input.maxLength`.
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
        if let Some(mut task) = self.task
            && tokio::time::timeout(READ_GRACE, &mut task).await.is_err()
        {
            task.abort();
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
        if let Scratch::Given(dir) = self
            && let Err(e) = std::fs::remove_dir_all(&*dir)
        {
            let path = dir.display();
            tracing::warn!(%path, error = %e, "failed to remove scratch folder");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use tempfile::TempDir;

    use super::*;
    use crate::handler::{Capabilities, Limits, RunUser};

    /// An invocation of `cmd` with `input`, from a known user.
    fn invocation(input: &str) -> Invocation {
        Invocation {
            command: "cmd".to_string(),
            input: input.to_string(),
            user: RunUser {
                address: "messenger:42".to_string(),
                channel: "messenger".to_string(),
                id: Some("alice".to_string()),
                name: "Alice".to_string(),
            },
            state: "AskName".to_string(),
            limits: Limits {
                timeout: Duration::from_secs(10),
                ..Limits::default()
            },
            capabilities: Capabilities::default(),
            scratch: None,
        }
    }

    /// True if `pid` is gone or a zombie nobody has reaped yet.
    fn is_dead(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z'),
        }
    }

    #[tokio::test]
    async fn the_input_reaches_the_line_variable_and_stdin() {
        let script = r#"printf '%s|' "$line"; read -r from_stdin; printf '%s' "$from_stdin""#;
        let outcome = run(script, &invocation("hello world")).await;
        assert_eq!(outcome.status, Status::Success);
        assert_eq!(outcome.output, "hello world|hello world");
    }

    #[tokio::test]
    async fn injection_attempts_in_the_input_run_nothing() {
        let dir = TempDir::new().unwrap();
        let target = dir.path().join("F");
        let f = target.display();
        let inputs = [
            format!("'; touch {f}; '"),
            format!("$(touch {f})"),
            format!("`touch {f}`"),
        ];
        for script in ["echo $line", "echo \"$line\""] {
            for input in &inputs {
                let outcome = run(script, &invocation(input)).await;
                assert_eq!(outcome.status, Status::Success, "{script} with {input}");
                assert!(!target.exists(), "{script} with {input} created a file");
            }
        }
        let quoted = run("echo \"$line\"", &invocation(&inputs[1])).await;
        assert_eq!(quoted.output, format!("{}\n", inputs[1]));
    }

    #[tokio::test]
    async fn the_environment_holds_only_what_the_run_is_given() {
        // Cargo sets this for the test process; the script must not see it.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        let script = "printf '%s\\n' \"${CARGO_MANIFEST_DIR-unset}\"; env";
        let outcome = run(script, &invocation("x")).await;

        let mut lines = outcome.output.lines();
        assert_eq!(lines.next(), Some("unset"));
        let names: BTreeSet<&str> = lines
            .filter_map(|l| l.split_once('=').map(|(name, _)| name))
            .collect();
        let allowed = [
            "PATH",
            "HOME",
            "line",
            "SANDBOT_USER_ID",
            "SANDBOT_USER_NAME",
            "SANDBOT_USER_ADDRESS",
            "SANDBOT_CHANNEL",
            "SANDBOT_STATE",
            "SANDBOT_COMMAND",
            // Set by the shell itself.
            "PWD",
            "OLDPWD",
            "SHLVL",
            "_",
        ];
        let unexpected: Vec<_> = names.iter().filter(|n| !allowed.contains(n)).collect();
        assert!(unexpected.is_empty(), "unexpected variables {unexpected:?}");
        assert!(names.contains("SANDBOT_USER_ADDRESS"));
    }

    #[tokio::test]
    async fn the_run_is_described_in_sandbot_variables() {
        let script = "echo \"$SANDBOT_USER_ID $SANDBOT_USER_NAME $SANDBOT_USER_ADDRESS \
                      $SANDBOT_CHANNEL $SANDBOT_STATE $SANDBOT_COMMAND\"";
        let outcome = run(script, &invocation("x")).await;
        assert_eq!(
            outcome.output,
            "alice Alice messenger:42 messenger AskName cmd\n"
        );
    }

    #[tokio::test]
    async fn granted_variables_are_present_but_cannot_replace_line() {
        let mut inv = invocation("input");
        inv.capabilities.env = vec![
            ("WG_ENDPOINT".to_string(), "vpn.example.org".to_string()),
            ("line".to_string(), "forged".to_string()),
        ];
        let outcome = run("echo \"$WG_ENDPOINT $line\"", &inv).await;
        assert_eq!(outcome.output, "vpn.example.org input\n");
    }

    #[tokio::test]
    async fn home_and_the_working_folder_are_a_scratch_folder_removed_afterwards() {
        let outcome = run("pwd; echo \"$HOME\"; touch here", &invocation("x")).await;
        let lines: Vec<&str> = outcome.output.lines().collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0], lines[1]);
        assert!(
            !Path::new(lines[0]).exists(),
            "scratch folder {} remains",
            lines[0]
        );
    }

    #[tokio::test]
    async fn a_timeout_kills_the_script_and_its_background_children() {
        let mut inv = invocation("x");
        inv.limits.timeout = Duration::from_millis(500);
        let script = "sleep 30 & echo $!; sleep 30 & echo $!; wait";

        let outcome = run(script, &inv).await;

        assert_eq!(outcome.status, Status::TimedOut);
        assert!(
            outcome.duration < Duration::from_secs(5),
            "{:?}",
            outcome.duration
        );
        let pids: Vec<&str> = outcome.output.lines().collect();
        assert_eq!(pids.len(), 2, "{pids:?}");
        let deadline = Instant::now() + Duration::from_secs(2);
        while !pids.iter().all(|pid| is_dead(pid)) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            pids.iter().all(|pid| is_dead(pid)),
            "children {pids:?} survived"
        );
    }

    #[tokio::test]
    async fn a_background_child_holding_stdout_does_not_hold_up_the_run() {
        let outcome = run("sleep 30 & echo started", &invocation("x")).await;
        assert_eq!(outcome.status, Status::Success);
        assert_eq!(outcome.output, "started\n");
        assert!(
            outcome.duration < Duration::from_secs(5),
            "{:?}",
            outcome.duration
        );
    }

    #[tokio::test]
    async fn a_flood_of_output_is_capped_and_marked() {
        let mut inv = invocation("x");
        inv.limits.output = 1000;
        let outcome = run("yes | head -c 10000000; echo oops >&2", &inv).await;
        assert_eq!(outcome.status, Status::Success);
        assert!(outcome.truncated);
        assert!(outcome.output.starts_with("y\ny\n"));
        assert!(
            outcome
                .output
                .ends_with("[output truncated: kept 1000 of 10000000 bytes]")
        );
    }

    #[tokio::test]
    async fn a_non_zero_exit_code_is_reported() {
        let outcome = run("echo partial; exit 3", &invocation("x")).await;
        assert_eq!(outcome.status, Status::Exit(3));
        assert_eq!(outcome.output, "partial\n");
    }

    #[tokio::test]
    async fn death_by_signal_is_reported_as_128_plus_the_signal() {
        let outcome = run("kill -TERM $$", &invocation("x")).await;
        assert_eq!(outcome.status, Status::Exit(128 + 15));
    }

    #[tokio::test]
    async fn a_script_that_ignores_its_stdin_still_succeeds() {
        // More than a pipe holds, less than Linux allows in one variable.
        let input = "x".repeat(100 * 1024);
        let outcome = run("exit 0", &invocation(&input)).await;
        assert_eq!(outcome.status, Status::Success);
    }

    #[tokio::test]
    async fn a_given_scratch_folder_is_created_and_removed() {
        let dir = TempDir::new().unwrap();
        let scratch = dir.path().join("run-1");
        let mut inv = invocation("x");
        inv.scratch = Some(scratch.clone());
        let outcome = run("pwd", &inv).await;
        assert_eq!(outcome.output.trim_end(), scratch.display().to_string());
        assert!(!scratch.exists());
    }
}
