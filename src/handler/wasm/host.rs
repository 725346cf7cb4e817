//! Per-run host state: the WASI context and the memory limiter.
//!
//! Every run gets a fresh [`Store`] holding one of these. Preview 1
//! modules use [`P1Host`]; components (commands and our own world) use
//! [`P2Host`]. Both carry a [`MemoryLimiter`] so the memory ceiling holds
//! over every memory of the run, whatever kind of code it is.

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Most table elements one run may hold over all its tables.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The error a guest traps with when it asks for memory past the ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("memory ceiling of {limit} bytes reached (asked for {asked} in total)")]
pub(super) struct MemoryCeiling {
    /// The ceiling.
    pub limit: u64,
    /// The total the guest asked for.
    pub asked: u64,
}

/// Holds all of a run's linear memories under one ceiling and records the
/// peak.
///
/// wasmtime asks the limiter about each memory separately (including the
/// initial size when a memory is created), so the limiter keeps the
/// running total itself. Growth past the ceiling traps with
/// [`MemoryCeiling`] rather than returning -1 from `memory.grow`: the run
/// then ends as out-of-memory, whatever the guest would have done with
/// the failure.
#[derive(Debug)]
pub(super) struct MemoryLimiter {
    limit: u64,
    total: u64,
    peak: u64,
    tables: usize,
}

impl MemoryLimiter {
    /// A limiter with `limit` bytes over all memories.
    pub fn new(limit: u64) -> MemoryLimiter {
        MemoryLimiter {
            limit,
            total: 0,
            peak: 0,
            tables: 0,
        }
    }

    /// The most memory the run held at once, in bytes.
    pub fn peak(&self) -> u64 {
        self.peak
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current) as u64;
        let asked = self.total.saturating_add(growth);
        if asked > self.limit {
            let limit = self.limit;
            return Err(wasmtime::Error::new(MemoryCeiling { limit, asked }));
        }
        self.total = asked;
        self.peak = self.peak.max(asked);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let wanted = self.tables + desired.saturating_sub(current);
        if wanted > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.tables = wanted;
        Ok(true)
    }
}

/// Anything a run's store holds that has a memory limiter.
pub(super) trait Limited: Send + 'static {
    /// The run's limiter.
    fn limiter(&mut self) -> &mut MemoryLimiter;
}

/// Store data for a preview 1 module.
pub(super) struct P1Host {
    /// The preview 1 WASI context.
    pub wasi: WasiP1Ctx,
    /// The memory limiter.
    pub limiter: MemoryLimiter,
}

impl Limited for P1Host {
    fn limiter(&mut self) -> &mut MemoryLimiter {
        &mut self.limiter
    }
}

/// Store data for a component.
pub(super) struct P2Host {
    /// The WASI context.
    pub wasi: WasiCtx,
    /// The component's resources (streams, sockets, files).
    pub table: ResourceTable,
    /// The memory limiter.
    pub limiter: MemoryLimiter,
}

impl Limited for P2Host {
    fn limiter(&mut self) -> &mut MemoryLimiter {
        &mut self.limiter
    }
}

impl WasiView for P2Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Applies a run's fuel budget and memory limiter to a new store.
///
/// The wall-clock deadline is set separately, by the caller that also
/// holds the outer timeout.
pub(super) fn limit_store<T: Limited>(store: &mut Store<T>, fuel: u64) -> wasmtime::Result<()> {
    store.set_fuel(fuel)?;
    store.limiter(|host| host.limiter());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_within_the_ceiling_is_allowed_and_counted() {
        let mut limiter = MemoryLimiter::new(1000);
        assert!(limiter.memory_growing(0, 600, None).unwrap());
        assert!(limiter.memory_growing(600, 700, None).unwrap());
        assert_eq!(limiter.peak(), 700);
    }

    #[test]
    fn the_ceiling_holds_over_all_memories_together() {
        let mut limiter = MemoryLimiter::new(1000);
        assert!(limiter.memory_growing(0, 600, None).unwrap());
        let error = limiter.memory_growing(0, 600, None).unwrap_err();
        let ceiling = error.downcast_ref::<MemoryCeiling>().unwrap();
        assert_eq!(ceiling.asked, 1200);
        assert_eq!(limiter.peak(), 600);
    }

    #[test]
    fn table_growth_past_the_element_cap_is_refused() {
        let mut limiter = MemoryLimiter::new(0);
        assert!(
            !limiter
                .table_growing(0, MAX_TABLE_ELEMENTS + 1, None)
                .unwrap()
        );
        assert!(limiter.table_growing(0, 10, None).unwrap());
    }
}
