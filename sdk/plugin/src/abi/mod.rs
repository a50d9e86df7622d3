//! Plugin ABI v1, the part [`export_plugin!`](crate::export_plugin) wires up.
//!
//! [`State`] holds the plugin between `certior_init` and `certior_evaluate` and turns JSON bytes
//! into JSON bytes; it is target-independent so it can be tested natively. The `wasm` module
//! adds what only exists inside a module: linear-memory hand-over and the host imports.

mod state;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use state::State;

/// The ABI version `certior_abi_version` returns and inputs must carry.
pub const ABI_VERSION: i32 = 1;

/// The `certior_evaluate` result: `(out_ptr << 32) | out_len`, two 32-bit halves of an `i64`.
pub fn pack(ptr: u32, len: u32) -> i64 {
    ((u64::from(ptr) << 32) | u64::from(len)) as i64
}

#[cfg(test)]
mod tests {
    use super::pack;

    #[test]
    fn packs_pointer_high_and_length_low() {
        assert_eq!(pack(0x10, 0x20), 0x0000_0010_0000_0020);
        let packed = pack(0xFFFF_FFF0, 7) as u64;
        assert_eq!((packed >> 32, packed & 0xFFFF_FFFF), (0xFFFF_FFF0, 7));
    }
}
