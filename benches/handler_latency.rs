//! Latency of one trivial handler run, four ways.
//!
//! - warm: `WasmRuntime::run` on a cached, pre-linked module (the normal
//!   path once the config is loaded);
//! - cold: `WasmRuntime::load` of a file never seen before, then `run`
//!   (first compile after a config change);
//! - from scratch: a naive embedding that builds a linker, WASI context
//!   and instance per call from an already compiled module, with the
//!   default engine;
//! - `sh -c`: the same job as a shell handler.
//!
//! Run with `cargo bench --bench handler_latency`; the figures are
//! recorded in `docs/benchmarks.md`.

use std::path::Path;
use std::time::{Duration, Instant};

use sandbot::handler::wasm::WasmRuntime;
use sandbot::handler::{Capabilities, Invocation, Limits, RunUser};

const ECHO: &str = "tests/guests/echo.wat";

fn invocation() -> Invocation {
    Invocation {
        command: "echo".into(),
        input: "hello".into(),
        user: RunUser {
            address: "terminal:bench".into(),
            channel: "terminal".into(),
            id: Some("bench".into()),
            name: "Bench".into(),
        },
        state: "Bench".into(),
        limits: Limits::default(),
        capabilities: Capabilities::default(),
        scratch: None,
    }
}

/// p50 and p99 of some samples, and their count.
fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<28} n={:<6} p50={:>10.1?} p99={:>10.1?}",
        samples.len(),
        at(0.50),
        at(0.99)
    );
}

async fn warm(runtime: &WasmRuntime, n: usize) -> Vec<Duration> {
    let handler = runtime.load(Path::new(ECHO)).expect("echo loads");
    let inv = invocation();
    for _ in 0..100 {
        runtime.run(&handler, &inv).await;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let outcome = runtime.run(&handler, &inv).await;
        samples.push(started.elapsed());
        assert!(outcome.status.is_success());
    }
    samples
}

async fn cold(runtime: &WasmRuntime, n: usize) -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read(ECHO).expect("echo source");
    let inv = invocation();
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let path = dir.path().join(format!("echo-{i}.wat"));
        std::fs::write(&path, &text).expect("copy written");
        let started = Instant::now();
        let handler = runtime.load(&path).expect("copy loads");
        let outcome = runtime.run(&handler, &inv).await;
        samples.push(started.elapsed());
        assert!(outcome.status.is_success());
    }
    samples
}

async fn from_scratch(n: usize) -> Vec<Duration> {
    use wasmtime::{Engine, Linker, Module, Store};
    use wasmtime_wasi::WasiCtxBuilder;
    use wasmtime_wasi::p1::WasiP1Ctx;
    use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

    let engine = Engine::default();
    let module = Module::from_file(&engine, ECHO).expect("echo compiles");
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |cx| cx).expect("wasi links");
        let stdout = MemoryOutputPipe::new(64 * 1024);
        let wasi = WasiCtxBuilder::new()
            .stdin(MemoryInputPipe::new("hello"))
            .stdout(stdout.clone())
            .env("line", "hello")
            .build_p1();
        let mut store = Store::new(&engine, wasi);
        let instance = linker
            .instantiate_async(&mut store, &module)
            .await
            .expect("instantiates");
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .expect("has _start");
        start.call_async(&mut store, ()).await.expect("runs");
        samples.push(started.elapsed());
        assert_eq!(&stdout.contents()[..], b"echo: hello");
    }
    samples
}

async fn shell(n: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let output = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(r#"printf 'echo: %s' "$line""#)
            .env_clear()
            .env("line", "hello")
            .output()
            .await
            .expect("sh runs");
        samples.push(started.elapsed());
        assert_eq!(output.stdout, b"echo: hello");
    }
    samples
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let runtime = WasmRuntime::new().expect("runtime starts");
    report("wasm warm (cached)", warm(&runtime, 5000).await);
    report("wasm cold (first compile)", cold(&runtime, 50).await);
    report("wasm from scratch per call", from_scratch(1000).await);
    report("sh -c", shell(300).await);
}
