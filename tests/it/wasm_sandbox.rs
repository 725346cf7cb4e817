//! The wasm sandbox, driven through `WasmRuntime` with hostile guests.
//!
//! Every guest lives in `tests/guests/` (hand-written WAT) or `handlers/`
//! (committed example handlers). Each hostile test asserts the exact
//! status, then checks that the same runtime still serves a normal guest.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use sandbot::config::Access;
use sandbot::handler::policy::DirCapability;
use sandbot::handler::wasm::{HandlerKind, WasmError, WasmHandler, WasmRuntime};
use sandbot::handler::{Capabilities, Invocation, Limits, Outcome, RunUser, Status};

/// One runtime for the whole test binary, as in the server.
static RUNTIME: LazyLock<WasmRuntime> =
    LazyLock::new(|| WasmRuntime::new().expect("wasm runtime starts"));

fn guest_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/guests")
        .join(name)
}

fn handler_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("handlers")
        .join(name)
}

fn load(path: &Path) -> WasmHandler {
    RUNTIME
        .load(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn guest(name: &str) -> WasmHandler {
    load(&guest_path(name))
}

fn invocation(input: &str) -> Invocation {
    Invocation {
        command: "test-command".into(),
        input: input.into(),
        user: RunUser {
            address: "terminal:ada".into(),
            channel: "terminal".into(),
            id: Some("ada".into()),
            name: "Ada".into(),
        },
        state: "Testing".into(),
        limits: Limits {
            timeout: Duration::from_secs(5),
            ..Limits::default()
        },
        capabilities: Capabilities::default(),
        scratch: None,
    }
}

async fn run(handler: &WasmHandler, inv: &Invocation) -> Outcome {
    RUNTIME.run(handler, inv).await
}

/// Runs the well-behaved echo guest and checks its reply.
async fn assert_still_serves() {
    let outcome = run(&guest("echo.wat"), &invocation("still here")).await;
    assert_eq!(outcome.status, Status::Success);
    assert_eq!(outcome.output, "echo: still here");
}

fn with_dir(mut inv: Invocation, host: &Path, guest: &str, access: Access) -> Invocation {
    inv.capabilities.dirs.push(DirCapability {
        host: host.to_path_buf(),
        guest: guest.into(),
        access,
    });
    inv
}

/// A normal guest gets its input on stdin and replies on stdout.
#[tokio::test]
async fn a_normal_guest_echoes_its_input() {
    let outcome = run(&guest("echo.wat"), &invocation("hello")).await;
    assert_eq!(outcome.status, Status::Success);
    assert_eq!(outcome.output, "echo: hello");
    assert!(!outcome.truncated);
    assert!(outcome.fuel_used.unwrap() > 0);
    assert_eq!(outcome.peak_memory, Some(64 * 1024));
    assert_eq!(guest("echo.wat").kind(), HandlerKind::Preview1Module);
}

/// The import list names each WASI function a module uses.
#[test]
fn a_modules_imports_are_listed_by_module_and_name() {
    let imports = guest("echo.wat").imports();
    assert!(imports.contains(&"wasi_snapshot_preview1::fd_write".to_string()));
    assert!(imports.contains(&"wasi_snapshot_preview1::fd_read".to_string()));
}

/// A guest that spins forever is stopped by its fuel budget.
#[tokio::test]
async fn an_infinite_loop_runs_out_of_fuel() {
    let mut inv = invocation("");
    inv.limits.fuel = 5_000_000;
    let outcome = run(&guest("infinite_loop.wat"), &inv).await;
    assert_eq!(outcome.status, Status::OutOfFuel);
    assert_eq!(outcome.fuel_used, Some(5_000_000));
    assert_still_serves().await;
}

/// With fuel to spare, the same loop is stopped at the deadline.
#[tokio::test]
async fn an_infinite_loop_with_ample_fuel_times_out() {
    let mut inv = invocation("");
    inv.limits.fuel = u64::MAX / 2;
    inv.limits.timeout = Duration::from_millis(200);
    let outcome = run(&guest("infinite_loop.wat"), &inv).await;
    assert_eq!(outcome.status, Status::TimedOut);
    assert!(
        outcome.duration < Duration::from_secs(2),
        "{:?}",
        outcome.duration
    );
    assert_still_serves().await;
}

/// A guest blocked in a host call (a long sleep) is ended too.
#[tokio::test]
async fn a_guest_sleeping_past_the_deadline_times_out() {
    let mut inv = invocation("");
    inv.limits.timeout = Duration::from_millis(200);
    let outcome = run(&guest("sleep.wat"), &inv).await;
    assert_eq!(outcome.status, Status::TimedOut);
    assert!(
        outcome.duration < Duration::from_secs(2),
        "{:?}",
        outcome.duration
    );
    assert_still_serves().await;
}

/// Growing memory page by page ends at the ceiling, as out-of-memory.
#[tokio::test]
async fn a_memory_grow_bomb_is_out_of_memory() {
    let mut inv = invocation("");
    inv.limits.memory = 4 * 1024 * 1024;
    let outcome = run(&guest("grow_bomb.wat"), &inv).await;
    assert_eq!(outcome.status, Status::OutOfMemory);
    assert_eq!(outcome.peak_memory, Some(4 * 1024 * 1024));
    assert_still_serves().await;
}

/// A module declaring a huge initial memory never starts.
#[tokio::test]
async fn a_huge_initial_memory_is_out_of_memory() {
    let outcome = run(&guest("huge_memory.wat"), &invocation("")).await;
    assert_eq!(outcome.status, Status::OutOfMemory);
    assert_still_serves().await;
}

/// Flooding stdout keeps the first bytes, marks the cut, and does not
/// stop the guest.
#[tokio::test]
async fn a_stdout_flood_is_cut_and_marked_without_failing_the_guest() {
    let mut inv = invocation("");
    inv.limits.output = 1024;
    let outcome = run(&guest("stdout_flood.wat"), &inv).await;
    assert_eq!(outcome.status, Status::Success);
    assert!(outcome.truncated);
    assert!(outcome.output.starts_with(&"x".repeat(255)));
    assert!(outcome.output.contains("truncated"), "{}", outcome.output);
    assert!(outcome.output.len() < 1024 + 200);
    assert_still_serves().await;
}

/// `proc_exit(n)` is an exit status, with the output kept.
#[tokio::test]
async fn proc_exit_becomes_the_exit_status() {
    let outcome = run(&guest("exit_code.wat"), &invocation("")).await;
    assert_eq!(outcome.status, Status::Exit(3));
    assert_eq!(outcome.output, "failing\n");
}

/// A trap is reported as a trap, with wasmtime's reason.
#[tokio::test]
async fn a_division_by_zero_is_a_trap() {
    let outcome = run(&guest("trap.wat"), &invocation("")).await;
    let Status::Trap(message) = &outcome.status else {
        panic!("expected a trap, got {:?}", outcome.status);
    };
    assert!(message.contains("divide by zero"), "{message}");
    assert_still_serves().await;
}

/// A sandbox folder with a file inside and a secret beside it.
struct Folders {
    _root: tempfile::TempDir,
    granted: PathBuf,
}

fn folders() -> Folders {
    let root = tempfile::tempdir().unwrap();
    let granted = root.path().join("granted");
    std::fs::create_dir(&granted).unwrap();
    std::fs::write(granted.join("inside.txt"), "inside text").unwrap();
    std::fs::write(root.path().join("secret.txt"), "secret text").unwrap();
    std::os::unix::fs::symlink(root.path().join("secret.txt"), granted.join("link")).unwrap();
    Folders {
        _root: root,
        granted,
    }
}

async fn read_in(folders: &Folders, path: &str) -> Outcome {
    let inv = with_dir(
        invocation(path),
        &folders.granted,
        "/data",
        Access::ReadOnly,
    );
    run(&guest("read_file.wat"), &inv).await
}

/// A granted folder can be read.
#[tokio::test]
async fn a_file_inside_a_preopen_can_be_read() {
    let folders = folders();
    let outcome = read_in(&folders, "inside.txt").await;
    assert_eq!(outcome.status, Status::Success);
    assert_eq!(outcome.output, "inside text");
}

/// `..` does not leave the preopen.
#[tokio::test]
async fn reading_with_dot_dot_is_denied() {
    let outcome = read_in(&folders(), "../secret.txt").await;
    assert_eq!(outcome.status, Status::Exit(1));
    assert_eq!(outcome.output, "denied\n");
    assert_still_serves().await;
}

/// An absolute host path is not reachable.
#[tokio::test]
async fn reading_an_absolute_path_is_denied() {
    let folders = folders();
    let secret = folders.granted.parent().unwrap().join("secret.txt");
    let outcome = read_in(&folders, secret.to_str().unwrap()).await;
    assert_eq!(outcome.status, Status::Exit(1));
    assert_eq!(outcome.output, "denied\n");
}

/// A symlink inside the preopen pointing out of it is not followed out.
#[tokio::test]
async fn a_symlink_pointing_out_of_the_preopen_is_denied() {
    let outcome = read_in(&folders(), "link").await;
    assert_eq!(outcome.status, Status::Exit(1));
    assert_eq!(outcome.output, "denied\n");
    assert_still_serves().await;
}

/// A read-only grant refuses writes and leaves the folder unchanged.
#[tokio::test]
async fn writing_into_a_read_only_dir_is_denied() {
    let folders = folders();
    let inv = with_dir(
        invocation("new.txt"),
        &folders.granted,
        "/data",
        Access::ReadOnly,
    );
    let outcome = run(&guest("write_file.wat"), &inv).await;
    assert_eq!(outcome.status, Status::Exit(1));
    assert_eq!(outcome.output, "denied\n");
    assert!(!folders.granted.join("new.txt").exists());
}

/// A read-write grant allows creating a file.
#[tokio::test]
async fn writing_into_a_read_write_dir_creates_the_file() {
    let folders = folders();
    let inv = with_dir(
        invocation("new.txt"),
        &folders.granted,
        "/data",
        Access::ReadWrite,
    );
    let outcome = run(&guest("write_file.wat"), &inv).await;
    assert_eq!(outcome.status, Status::Success);
    let written = std::fs::read_to_string(folders.granted.join("new.txt")).unwrap();
    assert_eq!(written, "written\n");
}

/// A guest sees exactly the contract's variables and the granted ones.
#[tokio::test]
async fn the_environment_is_exactly_the_contract_and_the_grants() {
    let mut inv = invocation("some input");
    inv.capabilities
        .env
        .push(("API_TOKEN".into(), "t0ken".into()));
    let outcome = run(&guest("env_dump.wat"), &inv).await;
    assert_eq!(outcome.status, Status::Success);
    let expected = "line=some input\nSANDBOT_USER_ID=ada\nSANDBOT_USER_NAME=Ada\n\
        SANDBOT_CHANNEL=terminal\nSANDBOT_STATE=Testing\n\
        SANDBOT_COMMAND=test-command\nAPI_TOKEN=t0ken\n";
    assert_eq!(outcome.output, expected);
}

/// Without grants a guest has no directories at all.
#[tokio::test]
async fn without_grants_there_are_no_preopens() {
    let outcome = run(&guest("list_preopens.wat"), &invocation("")).await;
    assert_eq!(outcome.status, Status::Success);
    assert_eq!(outcome.output, "");
}

/// Each granted directory appears under its guest path, and only those.
#[tokio::test]
async fn granted_dirs_are_the_only_preopens() {
    let folders = folders();
    let inv = with_dir(invocation(""), &folders.granted, "/data", Access::ReadOnly);
    let inv = with_dir(inv, &folders.granted, "/scratch", Access::ReadWrite);
    let outcome = run(&guest("list_preopens.wat"), &inv).await;
    assert_eq!(outcome.output, "/data\n/scratch\n");
}

/// A granted folder that does not exist fails the run, naming it.
#[tokio::test]
async fn a_missing_granted_dir_fails_the_run_by_name() {
    let inv = with_dir(
        invocation(""),
        Path::new("/no/such/dir"),
        "/data",
        Access::ReadOnly,
    );
    let outcome = run(&guest("echo.wat"), &inv).await;
    let Status::Error(message) = &outcome.status else {
        panic!("expected an error, got {:?}", outcome.status);
    };
    assert!(message.contains("/no/such/dir"), "{message}");
}

/// Loading a missing file is an error naming the path.
#[test]
fn loading_a_missing_file_names_the_path() {
    let error = RUNTIME
        .load(Path::new("/no/such/handler.wasm"))
        .unwrap_err();
    assert!(matches!(error, WasmError::Read { .. }));
    assert!(error.to_string().contains("/no/such/handler.wasm"));
}

/// Broken text, or a module importing what the sandbox lacks, fails at
/// load time.
#[test]
fn broken_or_unlinkable_modules_fail_to_load() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.wat");
    std::fs::write(&broken, "(module (func $oops").unwrap();
    assert!(matches!(
        RUNTIME.load(&broken),
        Err(WasmError::Parse { .. })
    ));

    let foreign = dir.path().join("foreign.wat");
    let text = r#"(module (import "env" "launch" (func)) (func (export "_start")))"#;
    std::fs::write(&foreign, text).unwrap();
    let error = RUNTIME.load(&foreign).unwrap_err();
    assert!(matches!(error, WasmError::Link { .. }), "{error}");
    assert!(error.to_string().contains("foreign.wat"));
}

/// Many hostile and normal runs at once all end as they should.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_stay_independent() {
    let mut tasks = Vec::new();
    for i in 0..16 {
        tasks.push(tokio::spawn(async move {
            let mut inv = invocation(&format!("run {i}"));
            inv.limits.fuel = 2_000_000;
            let name = if i % 2 == 0 {
                "echo.wat"
            } else {
                "infinite_loop.wat"
            };
            (i, run(&guest(name), &inv).await)
        }));
    }
    for task in tasks {
        let (i, outcome) = task.await.unwrap();
        if i % 2 == 0 {
            assert_eq!(outcome.output, format!("echo: run {i}"));
        } else {
            assert_eq!(outcome.status, Status::OutOfFuel);
        }
    }
}

/// The C example greets the person by name from the contract's variables.
#[tokio::test]
async fn the_c_handler_greets_the_user() {
    let handler = load(&handler_path("greet-c.wasm"));
    let outcome = run(&handler, &invocation("hi there")).await;
    assert_eq!(outcome.status, Status::Success);
    assert_eq!(outcome.output, "Hello, Ada! You said: hi there\n");
    let empty = run(&handler, &invocation("")).await;
    assert_eq!(empty.status, Status::Exit(2));
}

/// The Zig example shouts its stdin.
#[tokio::test]
async fn the_zig_handler_shouts_its_input() {
    let handler = load(&handler_path("shout-zig.wasm"));
    let outcome = run(&handler, &invocation("hello there")).await;
    assert_eq!(outcome.status, Status::Success);
    assert_eq!(outcome.output, "HELLO THERE!\n");
}

/// The AssemblyScript example reverses `line`.
#[tokio::test]
async fn the_assemblyscript_handler_reverses_its_input() {
    let handler = load(&handler_path("reverse-as.wasm"));
    let outcome = run(&handler, &invocation("stressed")).await;
    assert_eq!(outcome.status, Status::Success);
    assert_eq!(outcome.output, "desserts\n");
}

/// A component of our world replies with text and an event.
#[tokio::test]
async fn the_world_component_replies_with_text_and_an_event() {
    let handler = load(&handler_path("vpn-name-component.wasm"));
    assert_eq!(handler.kind(), HandlerKind::SandbotComponent);
    let outcome = run(&handler, &invocation(" My Laptop ")).await;
    assert_eq!(outcome.status, Status::Success);
    assert_eq!(outcome.output, "Ada, the name \"my-laptop\" is free.");
    assert_eq!(outcome.event.as_deref(), Some("NameAccepted"));
}

/// A world component's error string is a handler error.
#[tokio::test]
async fn the_world_components_error_is_a_handler_error() {
    let handler = load(&handler_path("vpn-name-component.wasm"));
    let outcome = run(&handler, &invocation("no/slashes")).await;
    let expected = "a client name is 1 to 32 letters, digits, spaces or dashes";
    assert_eq!(outcome.status, Status::HandlerError(expected.into()));
    assert_eq!(outcome.event, None);
}

/// A listener on loopback that reports what the first client sent.
async fn listener() -> (u16, tokio::task::JoinHandle<Vec<u8>>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let _ = stream.read_to_end(&mut received).await;
        received
    });
    (port, accepted)
}

async fn connect(target: String, rules: &[String]) -> Outcome {
    let handler = guest("connect.wasm");
    let mut inv = invocation(&target);
    inv.capabilities.network = rules.to_vec();
    run(&handler, &inv).await
}

/// Without a network grant the socket guest cannot connect anywhere.
#[tokio::test]
async fn a_connect_without_a_grant_is_refused() {
    let (port, _accepted) = listener().await;
    let outcome = connect(format!("127.0.0.1:{port}"), &[]).await;
    assert_eq!(outcome.status, Status::Exit(1));
    assert!(outcome.output.starts_with("refused"), "{}", outcome.output);
    assert_still_serves().await;
}

/// An explicit IP grant lets the guest reach exactly that listener.
#[tokio::test]
async fn a_connect_to_an_explicitly_granted_address_succeeds() {
    let (port, accepted) = listener().await;
    assert_eq!(guest("connect.wasm").kind(), HandlerKind::CliCommand);
    let rules = [format!("127.0.0.1:{port}")];
    let outcome = connect(format!("127.0.0.1:{port}"), &rules).await;
    assert_eq!(outcome.status, Status::Success, "{}", outcome.output);
    assert_eq!(outcome.output, "connected\n");
    let received = tokio::time::timeout(Duration::from_secs(5), accepted).await;
    assert_eq!(received.unwrap().unwrap(), b"ping");
}

/// A grant for another port does not open this one.
#[tokio::test]
async fn a_grant_for_another_port_does_not_allow_this_one() {
    let (port, _accepted) = listener().await;
    let rules = [format!("127.0.0.1:{}", port.wrapping_add(1))];
    let outcome = connect(format!("127.0.0.1:{port}"), &rules).await;
    assert_eq!(outcome.status, Status::Exit(1));
}

/// A host name that resolves to loopback reaches nothing.
#[tokio::test]
async fn a_host_name_resolving_to_loopback_is_refused() {
    let (port, _accepted) = listener().await;
    let rules = [format!("localhost:{port}")];
    let outcome = connect(format!("127.0.0.1:{port}"), &rules).await;
    assert_eq!(outcome.status, Status::Exit(1));
    assert!(outcome.output.starts_with("refused"), "{}", outcome.output);
}
