//! The one wasmtime engine a server shares, and its epoch ticker.
//!
//! Fuel metering and epoch interruption are always on: fuel bounds the
//! work a run may do, epochs let a long-running guest yield to the async
//! executor and be stopped at its deadline. Instances come from the
//! pooling allocator when this machine lets us reserve its address space,
//! else from on-demand allocation; which one is logged at start.

use std::thread;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances. A running guest yields to the executor
/// at each tick and notices its deadline within one tick.
pub(super) const TICK: Duration = Duration::from_millis(10);

/// Runs the pool is sized for at once. Beyond this many concurrent
/// instantiations the pool refuses and the run fails with an error.
const POOL_INSTANCES: u32 = 64;

/// Memories a component may hold: its own, an adapter's, and a few more.
const MEMORIES_PER_COMPONENT: u32 = 8;

/// Builds the engine, preferring the pooling allocator.
pub(super) fn build() -> anyhow::Result<Engine> {
    match Engine::new(&config(Some(pooling()))) {
        Ok(engine) => {
            tracing::info!(allocator = "pooling", "wasm engine ready");
            Ok(engine)
        }
        Err(error) => {
            tracing::info!(
                allocator = "on-demand",
                reason = %error,
                "wasm engine ready without the pooling allocator"
            );
            Engine::new(&config(None)).map_err(anyhow::Error::from)
        }
    }
}

/// The engine settings every run relies on.
fn config(pool: Option<PoolingAllocationConfig>) -> Config {
    let mut config = Config::new();
    config.consume_fuel(true);
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    if let Some(pool) = pool {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// A pool sized for [`POOL_INSTANCES`] concurrent runs.
fn pooling() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_INSTANCES * 8)
        .total_memories(POOL_INSTANCES * MEMORIES_PER_COMPONENT)
        .total_tables(POOL_INSTANCES * 8)
        .total_stacks(POOL_INSTANCES)
        .max_memories_per_component(MEMORIES_PER_COMPONENT);
    pool
}

/// Starts the thread that advances the engine's epoch every [`TICK`]. It
/// ends by itself once the engine has been dropped.
pub(super) fn start_ticker(engine: &Engine) -> anyhow::Result<()> {
    let weak = engine.weak();
    thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                thread::sleep(TICK);
            }
        })?;
    Ok(())
}
