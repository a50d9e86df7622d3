//! The raw ABI inside a wasm32 module: buffers in linear memory, the packed answer, and the two
//! host imports that deliver the configuration during pre-initialization (spec/API.md §16.2).

use std::sync::Mutex;

use crate::abi::{pack, State};
use crate::Plugin;

/// The last answer. It must outlive `certior_evaluate` so the host can read it; keeping it here
/// (rather than leaking) frees the previous answer should an instance ever be reused.
static ANSWER: Mutex<Vec<u8>> = Mutex::new(Vec::new());

#[link(wasm_import_module = "certior")]
extern "C" {
    /// Length in bytes of the plugin's configuration JSON.
    fn config_len() -> i32;
    /// Copies the configuration JSON to `ptr`, which has room for `config_len()` bytes.
    fn config_read(ptr: i32);
}

/// `certior_alloc`: a buffer of exactly `len` bytes for the host to write the input into, or
/// 0 for a negative length. Ownership passes to `certior_evaluate`.
pub fn alloc(len: i32) -> i32 {
    if len < 0 {
        return 0;
    }
    let buffer = vec![0u8; len as usize].into_boxed_slice();
    Box::into_raw(buffer) as *mut u8 as i32
}

/// `certior_evaluate`: read the input, answer, and return where the answer lies.
///
/// # Safety
/// `ptr` and `len` must come from one `certior_alloc(len)` call, not yet consumed.
pub unsafe fn evaluate<P: Plugin>(state: &State<P>, ptr: i32, len: i32) -> i64 {
    let input: Box<[u8]> = if len <= 0 {
        Box::new([])
    } else {
        Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr as *mut u8, len as usize))
    };
    let answer = state.evaluate(&input);
    drop(input);
    let mut slot = ANSWER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *slot = answer;
    pack(slot.as_ptr() as u32, slot.len() as u32)
}

/// `certior_init`: fetch the configuration from the host and build the plugin, so that the
/// pre-initialization snapshot contains it ready to use.
pub fn init<P: Plugin>(state: &State<P>) {
    // SAFETY: the host provides both imports during pre-initialization, and `config_read`
    // writes exactly `config_len()` bytes into the buffer sized for it.
    let config = unsafe {
        let len = config_len().max(0) as usize;
        let mut buffer = vec![0u8; len];
        config_read(buffer.as_mut_ptr() as i32);
        buffer
    };
    state.init(&config);
}
