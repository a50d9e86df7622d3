//! The wasmtime engine: pooling allocator, epoch interruption, and the clock that drives it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::limits::PluginLimits;

/// Epoch length: the deadline's granularity. Short enough for a 250 ms deadline to be kept
/// within a few percent, long enough that the clock thread costs nothing.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// Memory a pool slot keeps mapped between instances instead of returning it to the kernel, so
/// that a fresh instance does not pay a page fault for every page it touches (measured here:
/// ~3 µs a fault, 45–65 faults per evaluation of a built-in plugin). With `PAGEMAP_SCAN`
/// (Linux 6.7+) only the pages an evaluation wrote are copied back from the snapshot, so the
/// budget can be large; without it the whole budget is reset with memset on every instance,
/// so it must stay small.
fn keep_resident_bytes() -> usize {
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        16 << 20
    } else {
        128 << 10
    }
}

pub(crate) fn build(limits: &PluginLimits) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(limits.max_instances)
        .total_memories(limits.max_instances)
        .total_tables(limits.max_instances)
        .max_memories_per_module(1)
        // One page above the cap, so that every growth past the cap reaches the limiter
        // (which reports it as memory exhaustion) instead of failing silently in the pool.
        .max_memory_size(limits.memory_bytes() + (64 << 10))
        .linear_memory_keep_resident(keep_resident_bytes())
        .pagemap_scan(Enabled::Auto)
        .table_keep_resident(64 << 10);
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// Epoch ticks that make up `timeout`, plus one for the tick already under way.
pub(crate) fn deadline_ticks(timeout: Duration) -> u64 {
    let tick = TICK.as_nanos();
    (timeout.as_nanos().div_ceil(tick) as u64).max(1) + 1
}

/// A thread advancing the engine's epoch every `TICK`. Shared by the host and every plugin it
/// loaded (a plugin may outlive its host), and stopped when the last of them is dropped.
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    pub(crate) fn start(engine: Engine) -> std::io::Result<Ticker> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("certior-plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })?;
        Ok(Ticker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // The thread only sleeps and ticks; it cannot have panicked in a way worth raising.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_rounds_up_and_adds_the_running_tick() {
        assert_eq!(deadline_ticks(Duration::from_millis(250)), 51);
        assert_eq!(deadline_ticks(Duration::from_millis(1)), 2);
        assert_eq!(deadline_ticks(Duration::from_millis(7)), 3);
    }
}
