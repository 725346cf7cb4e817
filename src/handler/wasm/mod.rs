//! WebAssembly handlers run in wasmtime, with hard limits and only the
//! capabilities a run was granted.
//!
//! One [`WasmRuntime`] per server owns the engine. [`WasmRuntime::load`]
//! compiles a `.wasm` or `.wat` file when the config is loaded, so a
//! broken module is reported then, and caches the result per file;
//! [`WasmRuntime::run`] builds a fresh store and WASI context for every
//! run and turns however the guest ended into an [`Outcome`].
//!
//! Three kinds of code are accepted (see [`HandlerKind`]):
//! - a WASI preview 1 module exporting `_start`;
//! - a `wasi:cli` command component;
//! - a component of our own world, `wit/handler.wit`, which returns a
//!   structured reply instead of printing.
//!
//! The first two follow the shell contract: input on stdin and in `line`,
//! `SANDBOT_*` variables describe the run, the reply is stdout, exit code
//! 0 is success.
//!
//! Limits, and how each one ends a run:
//! - fuel: metered by wasmtime; running out is [`Status::OutOfFuel`];
//! - memory: one ceiling over all of a run's memories, held by a resource
//!   limiter that also records the peak; asking for more (or declaring a
//!   larger initial memory) is [`Status::OutOfMemory`];
//! - time: the epoch advances every 10 ms and the guest yields to the
//!   executor at each tick, so a busy guest is stopped at its deadline; an
//!   outer timer also ends a guest blocked in a host call such as a sleep.
//!   Both are [`Status::TimedOut`];
//! - output: stdout keeps `limits.output` bytes and drops the rest, never
//!   refusing a write.
//!
//! Known gaps: outgoing `wasi:http` is not offered (a component that
//! imports it fails to load; plain sockets are offered when granted);
//! stderr is dropped; and the pooling allocator is sized for 64 runs at
//! once, beyond which a run fails to start rather than wait.

mod context;
mod engine;
mod host;
mod stdout;
mod world;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use tracing::Instrument;
use wasmtime::component::{Component, Linker as ComponentLinker};
use wasmtime::{Engine, InstancePre, Linker, Module, Store, Trap, UpdateDeadline};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p2::bindings::CommandPre;

use self::host::{Limited, MemoryCeiling, MemoryLimiter, P1Host, P2Host};
use self::stdout::CappedStdout;
use super::{Invocation, Outcome, Status};

/// Bytes in one WebAssembly page.
const PAGE: u64 = 64 * 1024;

/// What kind of code a handler is; decides how it is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerKind {
    /// A WASI preview 1 core module with a `_start` export.
    Preview1Module,
    /// A component exporting `wasi:cli/run`.
    CliCommand,
    /// A component of the `sandbot:handler` world.
    SandbotComponent,
}

/// Why a wasm file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    /// The file could not be read.
    #[error("failed to read wasm file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A `.wat` file is not valid WebAssembly text.
    #[error("failed to parse wasm text {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The binary is not valid, or could not be compiled.
    #[error("failed to compile wasm file {}: {message}", path.display())]
    Compile {
        /// The file.
        path: PathBuf,
        /// The compiler's message.
        message: String,
    },
    /// The code imports something the sandbox does not offer, or lacks
    /// the export it must have.
    #[error("wasm file {} cannot be linked: {message}", path.display())]
    Link {
        /// The file.
        path: PathBuf,
        /// What is missing or unsupported.
        message: String,
    },
}

/// Compiled code, ready to instantiate; cheap to clone.
#[derive(Clone)]
pub struct WasmHandler {
    inner: Arc<Compiled>,
}

/// Everything [`WasmRuntime::load`] works out once per file.
struct Compiled {
    path: PathBuf,
    code: Code,
    imports: Vec<String>,
    /// The largest initial memory any of its memories declares, in bytes.
    initial_memory: u64,
}

/// The pre-linked code of each kind.
enum Code {
    Module(InstancePre<P1Host>),
    Command(CommandPre<P2Host>),
    World(world::HandlerPre<P2Host>),
}

impl WasmHandler {
    /// What kind of code this is.
    pub fn kind(&self) -> HandlerKind {
        match self.inner.code {
            Code::Module(_) => HandlerKind::Preview1Module,
            Code::Command(_) => HandlerKind::CliCommand,
            Code::World(_) => HandlerKind::SandbotComponent,
        }
    }

    /// What the code imports: `module::name` for core modules (e.g.
    /// `wasi_snapshot_preview1::fd_write`), interface names for components
    /// (e.g. `wasi:cli/environment@0.2.6`).
    pub fn imports(&self) -> Vec<String> {
        self.inner.imports.clone()
    }

    /// The file this was loaded from.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

impl std::fmt::Debug for WasmHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmHandler")
            .field("path", &self.inner.path)
            .field("kind", &self.kind())
            .finish()
    }
}

/// A loaded file and the file state it was loaded from.
struct Cached {
    stamp: (u64, Option<SystemTime>),
    handler: WasmHandler,
}

/// The server's wasm engine, linkers and compiled-code cache.
pub struct WasmRuntime {
    engine: Engine,
    modules: Linker<P1Host>,
    components: ComponentLinker<P2Host>,
    cache: Mutex<HashMap<PathBuf, Cached>>,
}

impl WasmRuntime {
    /// Creates the engine (pooling allocator if possible), the WASI
    /// linkers and the epoch ticker.
    pub fn new() -> anyhow::Result<WasmRuntime> {
        let engine = engine::build()?;
        engine::start_ticker(&engine)?;
        let mut modules = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut modules, |host: &mut P1Host| &mut host.wasi)?;
        let mut components = ComponentLinker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut components)?;
        Ok(WasmRuntime {
            engine,
            modules,
            components,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Compiles a `.wasm` or `.wat` file (module or component) now, so a
    /// broken or missing module fails at config load. A file loaded
    /// before and unchanged since comes from the cache.
    pub fn load(&self, path: &Path) -> Result<WasmHandler, WasmError> {
        let read_error = |source| WasmError::Read {
            path: path.to_path_buf(),
            source,
        };
        let stamp = stamp(path).map_err(read_error)?;
        if let Some(handler) = self.cached(path, stamp) {
            return Ok(handler);
        }
        let bytes = std::fs::read(path).map_err(read_error)?;
        let handler = self.compile(path, &bytes)?;
        tracing::info!(path = %path.display(), kind = ?handler.kind(), "wasm handler loaded");
        let cached = Cached {
            stamp,
            handler: handler.clone(),
        };
        self.lock_cache().insert(path.to_path_buf(), cached);
        Ok(handler)
    }

    /// The cached handler for `path`, if the file has not changed.
    fn cached(&self, path: &Path, stamp: (u64, Option<SystemTime>)) -> Option<WasmHandler> {
        let cache = self.lock_cache();
        let hit = cache.get(path).filter(|cached| cached.stamp == stamp)?;
        Some(hit.handler.clone())
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Cached>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Compiles and pre-links one file's bytes.
    fn compile(&self, path: &Path, bytes: &[u8]) -> Result<WasmHandler, WasmError> {
        let binary = to_binary(path, bytes)?;
        let compiled = if is_component(&binary) {
            self.compile_component(path, &binary)?
        } else {
            self.compile_module(path, &binary)?
        };
        Ok(WasmHandler {
            inner: Arc::new(compiled),
        })
    }

    /// A preview 1 module: must link against WASI and export `_start`.
    fn compile_module(&self, path: &Path, binary: &[u8]) -> Result<Compiled, WasmError> {
        let module = Module::new(&self.engine, binary).map_err(compile_error(path))?;
        if module.get_export("_start").is_none() {
            let message = "it exports no _start function".to_string();
            return Err(link_error(path)(message));
        }
        let imports = module
            .imports()
            .map(|i| format!("{}::{}", i.module(), i.name()))
            .collect();
        let resources = module.resources_required();
        let pre = self.modules.instantiate_pre(&module);
        let pre = pre.map_err(|e| link_error(path)(format!("{e:#}")))?;
        Ok(Compiled {
            path: path.to_path_buf(),
            code: Code::Module(pre),
            imports,
            initial_memory: resources.max_initial_memory_size.unwrap_or(0) * PAGE,
        })
    }

    /// A component: a `wasi:cli` command or a `sandbot:handler` world.
    fn compile_component(&self, path: &Path, binary: &[u8]) -> Result<Compiled, WasmError> {
        let component = Component::new(&self.engine, binary).map_err(compile_error(path))?;
        let ty = component.component_type();
        let imports = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        let exports_handle = ty.exports(&self.engine).any(|(name, _)| name == "handle");
        let pre = self.components.instantiate_pre(&component);
        let pre = pre.map_err(|e| link_error(path)(format!("{e:#}")))?;
        let code = if exports_handle {
            world::HandlerPre::new(pre).map(Code::World)
        } else {
            CommandPre::new(pre).map(Code::Command)
        };
        let code = code.map_err(|e| link_error(path)(format!("{e:#}")))?;
        let resources = component.resources_required();
        let initial = resources
            .and_then(|r| r.max_initial_memory_size)
            .unwrap_or(0);
        Ok(Compiled {
            path: path.to_path_buf(),
            code,
            imports,
            initial_memory: initial * PAGE,
        })
    }

    /// Runs one invocation with its limits and capabilities. Never panics
    /// and never lets a guest take the server down: whatever happens
    /// becomes the outcome's status.
    pub async fn run(&self, handler: &WasmHandler, inv: &Invocation) -> Outcome {
        let span = tracing::info_span!(
            "wasm.run",
            command = %inv.command,
            kind = ?handler.kind(),
        );
        let started = Instant::now();
        let task = tokio::spawn(run_isolated(
            self.engine.clone(),
            handler.clone(),
            inv.clone(),
        ));
        let mut outcome = match task.instrument(span.clone()).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::failed_to_start(format!("wasm run failed: {error}")),
        };
        outcome.duration = started.elapsed();
        span.in_scope(|| log_outcome(&outcome));
        outcome
    }
}

/// Logs how a run ended, without its output.
fn log_outcome(outcome: &Outcome) {
    tracing::debug!(
        status = outcome.status.label(),
        duration_us = outcome.duration.as_micros() as u64,
        fuel_used = outcome.fuel_used,
        peak_memory = outcome.peak_memory,
        truncated = outcome.truncated,
        "wasm run finished"
    );
}

/// The file's length and modification time, to tell whether a cached
/// compile is stale.
fn stamp(path: &Path) -> std::io::Result<(u64, Option<SystemTime>)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.len(), meta.modified().ok()))
}

/// Text is parsed as WAT; binaries pass through.
fn to_binary(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, WasmError> {
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes.to_vec());
    }
    wat::parse_bytes(bytes)
        .map(|b| b.into_owned())
        .map_err(|e| WasmError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// True for the component binary format: its header's layer field is 1,
/// where a core module's is 0.
fn is_component(binary: &[u8]) -> bool {
    binary.get(6..8) == Some(&[1, 0])
}

fn compile_error(path: &Path) -> impl Fn(wasmtime::Error) -> WasmError + '_ {
    move |e| WasmError::Compile {
        path: path.to_path_buf(),
        message: format!("{e:#}"),
    }
}

fn link_error(path: &Path) -> impl Fn(String) -> WasmError + '_ {
    move |message| WasmError::Link {
        path: path.to_path_buf(),
        message,
    }
}

/// The error the epoch callback raises once the deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("wall-clock deadline reached")]
struct DeadlineReached;

/// How guest code finished, short of failing.
enum Ended {
    /// A module or command returned or called exit.
    Exited(i32),
    /// A world component returned.
    Replied(Result<world::Reply, String>),
}

/// Runs one invocation on its own task, so a panic stays there.
async fn run_isolated(engine: Engine, handler: WasmHandler, inv: Invocation) -> Outcome {
    let limits = inv.limits;
    if handler.inner.initial_memory > limits.memory {
        return early_out_of_memory(handler.inner.initial_memory);
    }
    let world = matches!(handler.inner.code, Code::World(_));
    let stdout = CappedStdout::new(limits.output);
    let guest_stdout = (!world).then_some(&stdout);
    let mut builder = match context::builder(&inv, guest_stdout).await {
        Ok(builder) => builder,
        Err(error) => return Outcome::failed_to_start(error.to_string()),
    };
    let limiter = MemoryLimiter::new(limits.memory);
    match &handler.inner.code {
        Code::Module(pre) => {
            let host = P1Host {
                wasi: builder.build_p1(),
                limiter,
            };
            let run = async |store: &mut Store<P1Host>| run_module(pre, store).await;
            drive(&engine, host, &inv, &stdout, run).await
        }
        Code::Command(pre) => {
            let host = p2_host(builder.build(), limiter);
            let run = async |store: &mut Store<P2Host>| run_command(pre, store).await;
            drive(&engine, host, &inv, &stdout, run).await
        }
        Code::World(pre) => {
            let host = p2_host(builder.build(), limiter);
            let request = world::request(&inv);
            let run = async |store: &mut Store<P2Host>| run_world(pre, store, &request).await;
            drive(&engine, host, &inv, &stdout, run).await
        }
    }
}

fn p2_host(wasi: wasmtime_wasi::WasiCtx, limiter: MemoryLimiter) -> P2Host {
    P2Host {
        wasi,
        table: wasmtime::component::ResourceTable::new(),
        limiter,
    }
}

/// The outcome for code whose initial memory alone is over the ceiling.
fn early_out_of_memory(initial: u64) -> Outcome {
    Outcome {
        status: Status::OutOfMemory,
        peak_memory: Some(initial),
        ..Outcome::failed_to_start(String::new())
    }
}

/// Sets up a store with the run's limits, runs the guest under the
/// deadline and collects the outcome.
async fn drive<T: Limited>(
    engine: &Engine,
    host: T,
    inv: &Invocation,
    stdout: &CappedStdout,
    guest: impl AsyncFnOnce(&mut Store<T>) -> wasmtime::Result<Ended>,
) -> Outcome {
    let limits = inv.limits;
    let mut store = Store::new(engine, host);
    if let Err(error) = host::limit_store(&mut store, limits.fuel) {
        return Outcome::failed_to_start(format!("failed to set fuel: {error:#}"));
    }
    set_deadline(&mut store, Instant::now() + limits.timeout);

    // The epoch callback stops a busy guest; this timer also stops one
    // that is parked in a host call.
    let ended = tokio::time::timeout(limits.timeout, guest(&mut store)).await;
    let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
    let peak_memory = store.data_mut().limiter().peak();
    drop(store);

    let (status, event, reply) = match ended {
        Err(_elapsed) => (Status::TimedOut, None, None),
        Ok(ended) => classify(ended),
    };
    if let Some(text) = reply {
        stdout.append(text.as_bytes());
    }
    let (output, truncated) = stdout.finish();
    Outcome {
        status,
        output,
        truncated,
        duration: std::time::Duration::ZERO,
        fuel_used: Some(fuel_used),
        peak_memory: Some(peak_memory),
        event,
    }
}

/// Yields to the executor at every epoch tick and traps at the deadline.
fn set_deadline<T>(store: &mut Store<T>, deadline: Instant) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Err(wasmtime::Error::new(DeadlineReached))
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
}

/// Status, event and reply text from how the guest ended.
fn classify(ended: wasmtime::Result<Ended>) -> (Status, Option<String>, Option<String>) {
    match ended {
        Ok(Ended::Exited(0)) => (Status::Success, None, None),
        Ok(Ended::Exited(code)) => (Status::Exit(code), None, None),
        Ok(Ended::Replied(Ok(reply))) => (Status::Success, reply.event, Some(reply.text)),
        Ok(Ended::Replied(Err(message))) => (Status::HandlerError(message), None, None),
        Err(error) => (status_of_error(&error), None, None),
    }
}

/// Maps a failed guest call to its status.
fn status_of_error(error: &wasmtime::Error) -> Status {
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return match exit.0 {
            0 => Status::Success,
            code => Status::Exit(code),
        };
    }
    if error.downcast_ref::<MemoryCeiling>().is_some() {
        return Status::OutOfMemory;
    }
    if error.downcast_ref::<DeadlineReached>().is_some() {
        return Status::TimedOut;
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Status::OutOfFuel,
        Some(Trap::Interrupt) => Status::TimedOut,
        Some(trap) => Status::Trap(trap.to_string()),
        None => Status::Error(format!("{error:#}")),
    }
}

/// Instantiates a preview 1 module and calls `_start`.
async fn run_module(
    pre: &InstancePre<P1Host>,
    store: &mut Store<P1Host>,
) -> wasmtime::Result<Ended> {
    let instance = pre.instantiate_async(&mut *store).await?;
    let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
    start.call_async(&mut *store, ()).await?;
    Ok(Ended::Exited(0))
}

/// Instantiates a command component and calls `wasi:cli/run`.
async fn run_command(
    pre: &CommandPre<P2Host>,
    store: &mut Store<P2Host>,
) -> wasmtime::Result<Ended> {
    let command = pre.instantiate_async(&mut *store).await?;
    let result = command.wasi_cli_run().call_run(&mut *store).await?;
    Ok(Ended::Exited(if result.is_ok() { 0 } else { 1 }))
}

/// Instantiates a world component and calls `handle`.
async fn run_world(
    pre: &world::HandlerPre<P2Host>,
    store: &mut Store<P2Host>,
    request: &world::Request,
) -> wasmtime::Result<Ended> {
    let handler = pre.instantiate_async(&mut *store).await?;
    let reply = handler.call_handle(&mut *store, request).await?;
    Ok(Ended::Replied(reply))
}
