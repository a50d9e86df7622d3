//! The export macro.

/// Generate the Plugin ABI v1 exports for a type implementing [`Plugin`](crate::Plugin):
/// `certior_abi_version`, `certior_alloc`, `certior_evaluate` and `certior_init`.
///
/// Use it once, at the root of a `cdylib` crate. On targets other than wasm32 it only checks
/// that the type implements `Plugin`, so the crate still builds and tests natively.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            static STATE: $crate::abi::State<$plugin> = $crate::abi::State::new();

            #[no_mangle]
            pub extern "C" fn certior_abi_version() -> i32 {
                $crate::abi::ABI_VERSION
            }

            #[no_mangle]
            pub extern "C" fn certior_alloc(len: i32) -> i32 {
                $crate::abi::wasm::alloc(len)
            }

            #[no_mangle]
            pub extern "C" fn certior_evaluate(ptr: i32, len: i32) -> i64 {
                // SAFETY: per the ABI the host passes a buffer from `certior_alloc(len)`.
                unsafe { $crate::abi::wasm::evaluate(&STATE, ptr, len) }
            }

            #[no_mangle]
            pub extern "C" fn certior_init() {
                $crate::abi::wasm::init(&STATE)
            }
        };

        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            fn implements_plugin<P: $crate::Plugin>() {}
            let _ = implements_plugin::<$plugin>;
        };
    };
}
