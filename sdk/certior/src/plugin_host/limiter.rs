//! The per-instance memory cap.

use std::fmt;

use wasmtime::ResourceLimiter;

/// Raised (as a trap) when a module asks for more memory than the cap. Failing the growth
/// outright, rather than returning -1, makes exhaustion recognisable whatever the guest does
/// with a failed `memory.grow`.
#[derive(Debug)]
pub(crate) struct MemoryCapReached;

impl fmt::Display for MemoryCapReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("memory cap reached")
    }
}

impl std::error::Error for MemoryCapReached {}

/// Tables are tiny in plugin modules; this only stops a module from growing one without end.
const MAX_TABLE_ELEMENTS: usize = 100_000;

pub(crate) struct Limiter {
    memory_bytes: usize,
}

impl Limiter {
    pub(crate) fn new(memory_bytes: usize) -> Limiter {
        Limiter { memory_bytes }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(wasmtime::Error::new(MemoryCapReached));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
