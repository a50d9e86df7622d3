//! The Plugin ABI v1 contract a module must meet to load (spec/API.md §5.6 item 4, §16.2).

use wasmtime::wasmparser::{Parser, Payload};
use wasmtime::{ExternType, FuncType, Module, ValType};

use super::error::PluginLoadCause;

pub(crate) const MEMORY: &str = "memory";
pub(crate) const ABI_VERSION: &str = "certior_abi_version";
pub(crate) const ALLOC: &str = "certior_alloc";
pub(crate) const EVALUATE: &str = "certior_evaluate";
pub(crate) const INIT: &str = "certior_init";
/// The module the two configuration imports come from.
pub(crate) const IMPORT_MODULE: &str = "certior";
pub(crate) const CONFIG_LEN: &str = "config_len";
pub(crate) const CONFIG_READ: &str = "config_read";

/// The required function exports and their signatures, as `(params, results)`.
const FUNCTIONS: [(&str, &str, &str); 3] = [
    (ABI_VERSION, "", "i32"),
    (ALLOC, "i32", "i32"),
    (EVALUATE, "i32 i32", "i64"),
];

/// The only imports allowed, with their signatures.
const IMPORTS: [(&str, &str, &str); 2] = [(CONFIG_LEN, "", "i32"), (CONFIG_READ, "i32", "")];

/// Check imports and exports against the ABI. Extra exports are allowed (the Rust toolchain
/// adds `__data_end` and `__heap_base`); extra imports are not, because a module must not be
/// able to reach the host at evaluation time.
pub(crate) fn check(module: &Module) -> Result<(), PluginLoadCause> {
    for import in module.imports() {
        let allowed = IMPORTS
            .iter()
            .find(|(name, _, _)| import.module() == IMPORT_MODULE && import.name() == *name);
        let matches = match (allowed, import.ty()) {
            (Some((_, params, results)), ExternType::Func(ty)) => {
                signature(&ty) == (params.to_string(), results.to_string())
            }
            _ => false,
        };
        if !matches {
            return Err(PluginLoadCause::ForbiddenImport {
                module: import.module().to_string(),
                name: import.name().to_string(),
            });
        }
    }
    match module.get_export(MEMORY) {
        Some(ExternType::Memory(_)) => {}
        Some(_) => {
            return Err(PluginLoadCause::ExportType {
                export: MEMORY,
                expected: "a memory".into(),
            })
        }
        None => return Err(PluginLoadCause::MissingExport(MEMORY)),
    }
    for (name, params, results) in FUNCTIONS {
        match module.get_export(name) {
            Some(ExternType::Func(ty)) if signature(&ty) == (params.to_string(), results.to_string()) => {}
            Some(_) => {
                return Err(PluginLoadCause::ExportType {
                    export: name,
                    expected: format!("func ({params}) -> ({results})"),
                })
            }
            None => return Err(PluginLoadCause::MissingExport(name)),
        }
    }
    Ok(())
}

/// Whether the module exports `certior_init`, read from the binary without compiling it.
pub(crate) fn exports_init(wasm: &[u8]) -> Result<bool, PluginLoadCause> {
    let invalid = |e: wasmtime::wasmparser::BinaryReaderError| PluginLoadCause::Compile(e.to_string());
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::ExportSection(exports) = payload.map_err(invalid)? {
            for export in exports {
                if export.map_err(invalid)?.name == INIT {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// A function type as space-separated parameter and result type names, e.g. `("i32 i32", "i64")`.
fn signature(ty: &FuncType) -> (String, String) {
    let names = |types: &mut dyn Iterator<Item = ValType>| {
        types
            .map(|t| match t {
                ValType::I32 => "i32",
                ValType::I64 => "i64",
                ValType::F32 => "f32",
                ValType::F64 => "f64",
                ValType::V128 => "v128",
                ValType::Ref(_) => "ref",
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    (names(&mut ty.params()), names(&mut ty.results()))
}
