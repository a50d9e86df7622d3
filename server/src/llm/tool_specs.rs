//! The built-in tools as a model sees them: name, description and the JSON schema of their
//! arguments exactly as spec §7.6 defines them, and which of them a run offers (§7.6, last
//! paragraph). The schemas guide the model; the gate's prepare stage still checks every call.

use certior::capability::entry_covers;
use certior::tools::BuiltinTool;
use serde_json::{json, Value};

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// JSON schema of the argument object.
    pub parameters: Value,
}

/// The tools whose base capability the token could cover for at least one call, in table order.
/// `filesystem:read` and `network:http:read` are capabilities of their own; `filesystem:write:`
/// and `database:read:` are families (`filesystem:write:<area>`, `database:read:<tag>`) that any
/// member or matching wildcard makes usable.
pub fn offered_tools<S: AsRef<str>>(permissions: &[S]) -> Vec<BuiltinTool> {
    BuiltinTool::ALL
        .into_iter()
        .filter(|tool| {
            let base = tool.base_capability();
            permissions.iter().any(|entry| could_cover(entry.as_ref(), base))
        })
        .collect()
}

/// Whether `entry` covers `base`, or, when `base` ends with `:`, some `base<name>`.
fn could_cover(entry: &str, base: &str) -> bool {
    if !base.ends_with(':') {
        return entry_covers(entry, base);
    }
    match entry.strip_suffix('*') {
        Some(prefix) => prefix.starts_with(base) || base.starts_with(prefix),
        None => entry.len() > base.len() && entry.starts_with(base),
    }
}

/// The model-facing description of `tool`.
pub fn tool_spec(tool: BuiltinTool) -> ToolSpec {
    let (description, parameters) = match tool {
        BuiltinTool::FileRead => (
            "Read a UTF-8 text file (at most 1 MiB) from the workspace.",
            object(
                json!({"path": {"type": "string", "description": "File path relative to the workspace root"}}),
                &["path"],
            ),
        ),
        BuiltinTool::FileWrite => (
            "Write a text file in the workspace, creating parent directories. Replaces the file \
             unless append is true.",
            object(
                json!({
                    "path": {"type": "string", "description": "File path relative to the workspace root"},
                    "content": {"type": "string", "description": "Text to write (at most 1 MiB)"},
                    "append": {"type": "boolean", "default": false,
                               "description": "Append to the file instead of replacing it"},
                }),
                &["path", "content"],
            ),
        ),
        BuiltinTool::FileList => (
            "List one workspace directory, sorted; directories end with '/'.",
            object(
                json!({"path": {"type": "string", "default": ".",
                                "description": "Directory path relative to the workspace root"}}),
                &[],
            ),
        ),
        BuiltinTool::HttpGet => (
            "Fetch a URL with HTTP GET (allowed hosts only) and return the body as text.",
            object(
                json!({"url": {"type": "string", "description": "An http:// or https:// URL"}}),
                &["url"],
            ),
        ),
        BuiltinTool::DbQuery => (
            "Run one read-only SQL SELECT statement on the configured database; returns JSON \
             {columns, rows, truncated} with at most 1000 rows.",
            object(
                json!({
                    "sql": {"type": "string", "maxLength": 10000,
                            "description": "One SELECT statement (WITH ... SELECT allowed); use ? placeholders"},
                    "params": {"type": "array", "default": [],
                               "items": {"type": ["string", "number", "boolean", "null"]},
                               "description": "Values for the ? placeholders, in order"},
                }),
                &["sql"],
            ),
        ),
    };
    ToolSpec {
        name: tool.name(),
        description,
        parameters,
    }
}

/// An object schema that refuses unknown arguments, as the prepare stage does.
fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_is_offered_when_some_call_could_be_covered() {
        assert_eq!(offered_tools::<&str>(&[]), vec![]);
        assert_eq!(offered_tools(&["*"]), BuiltinTool::ALL.to_vec());
        assert_eq!(
            offered_tools(&["filesystem:read"]),
            vec![BuiltinTool::FileRead, BuiltinTool::FileList]
        );
        assert_eq!(
            offered_tools(&["filesystem:*"]),
            vec![BuiltinTool::FileRead, BuiltinTool::FileWrite, BuiltinTool::FileList]
        );
        assert_eq!(
            offered_tools(&["filesystem:write:reports"]),
            vec![BuiltinTool::FileWrite]
        );
        assert_eq!(offered_tools(&["filesystem:write:rep*"]), vec![BuiltinTool::FileWrite]);
        // `filesystem:write` (no area) and `filesystem:write:` (empty area) cover no call.
        assert_eq!(offered_tools(&["filesystem:write", "filesystem:write:"]), vec![]);
        assert_eq!(
            offered_tools(&["database:read:patient_data", "network:http:read"]),
            vec![BuiltinTool::HttpGet, BuiltinTool::DbQuery]
        );
        assert_eq!(offered_tools(&["database:read:*"]), vec![BuiltinTool::DbQuery]);
        assert_eq!(offered_tools(&["network:http:read:extra", "database:write:x"]), vec![]);
    }

    #[test]
    fn schemas_follow_the_argument_table() {
        let write = tool_spec(BuiltinTool::FileWrite);
        assert_eq!(write.name, "file_write");
        assert_eq!(write.parameters["required"], json!(["path", "content"]));
        assert_eq!(write.parameters["properties"]["append"]["default"], json!(false));
        assert_eq!(write.parameters["additionalProperties"], json!(false));
        let list = tool_spec(BuiltinTool::FileList);
        assert_eq!(list.parameters["required"], json!([]));
        assert_eq!(list.parameters["properties"]["path"]["default"], json!("."));
        let query = tool_spec(BuiltinTool::DbQuery);
        assert_eq!(query.parameters["properties"]["sql"]["maxLength"], json!(10000));
        assert_eq!(query.parameters["properties"]["params"]["default"], json!([]));
        assert_eq!(tool_spec(BuiltinTool::HttpGet).parameters["required"], json!(["url"]));
        assert_eq!(tool_spec(BuiltinTool::FileRead).parameters["required"], json!(["path"]));
    }
}
