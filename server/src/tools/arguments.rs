//! The built-in tools' argument schemas (spec §7.6). Checking them needs neither the filesystem
//! nor the network, so `POST /tasks` can refuse a bad plan step with 422 before anything runs,
//! and the prepare stage can deny a bad proposed call with `invalid_arguments`.

use certior::tools::BuiltinTool;
use serde_json::{Map, Value};

/// Largest `file_write` content and largest file `file_read` returns: 1 MiB.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Longest `db_query` statement, in characters.
pub const MAX_SQL_CHARS: usize = 10_000;

/// A call's arguments once they match the tool's schema. Optional arguments have their defaults.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolArgs {
    FileRead {
        path: String,
    },
    FileWrite {
        path: String,
        content: String,
        append: bool,
    },
    FileList {
        path: String,
    },
    HttpGet {
        url: String,
    },
    DbQuery {
        sql: String,
        params: Vec<Value>,
    },
}

/// Why a call's arguments were refused; the two map to different denial codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgumentError {
    UnknownTool(String),
    Invalid(String),
}

impl ArgumentError {
    pub fn message(&self) -> &str {
        match self {
            Self::UnknownTool(message) | Self::Invalid(message) => message,
        }
    }
}

impl ToolArgs {
    /// Parses `args` (a JSON object; `null` counts as `{}`) against the schema of `tool`. Unknown
    /// argument names are refused so a misspelt option is not silently ignored; `null` stands
    /// for "not given" in optional arguments.
    pub fn parse(tool: &str, args: &Value) -> Result<(BuiltinTool, ToolArgs), ArgumentError> {
        let builtin = BuiltinTool::parse(tool).ok_or_else(|| {
            ArgumentError::UnknownTool(format!(
                "unknown tool '{tool}'; the built-in tools are file_read, file_write, file_list, \
                 http_get (alias web_fetch) and db_query"
            ))
        })?;
        let empty = Map::new();
        let object = match args {
            Value::Object(object) => object,
            Value::Null => &empty,
            other => {
                return Err(invalid(
                    builtin,
                    format!("arguments must be a JSON object, not {}", kind(other)),
                ))
            }
        };
        let fields = Fields { tool: builtin, object };
        fields.only(allowed(builtin))?;
        let parsed = match builtin {
            BuiltinTool::FileRead => ToolArgs::FileRead {
                path: fields.string("path")?,
            },
            BuiltinTool::FileWrite => {
                let content = fields.string("content")?;
                if content.len() > MAX_FILE_BYTES {
                    return Err(invalid(
                        builtin,
                        format!(
                            "content is {} bytes; the limit is 1 MiB ({MAX_FILE_BYTES} bytes)",
                            content.len()
                        ),
                    ));
                }
                ToolArgs::FileWrite {
                    path: fields.string("path")?,
                    content,
                    append: fields.optional_bool("append")?.unwrap_or(false),
                }
            }
            BuiltinTool::FileList => ToolArgs::FileList {
                path: fields.optional_string("path")?.unwrap_or_else(|| ".".to_owned()),
            },
            BuiltinTool::HttpGet => ToolArgs::HttpGet {
                url: fields.string("url")?,
            },
            BuiltinTool::DbQuery => {
                let sql = fields.string("sql")?;
                let chars = sql.chars().count();
                if chars > MAX_SQL_CHARS {
                    return Err(invalid(
                        builtin,
                        format!("sql is {chars} characters; the limit is {MAX_SQL_CHARS}"),
                    ));
                }
                ToolArgs::DbQuery {
                    sql,
                    params: fields.params()?,
                }
            }
        };
        Ok((builtin, parsed))
    }
}

fn allowed(tool: BuiltinTool) -> &'static [&'static str] {
    match tool {
        BuiltinTool::FileRead | BuiltinTool::FileList => &["path"],
        BuiltinTool::FileWrite => &["path", "content", "append"],
        BuiltinTool::HttpGet => &["url"],
        BuiltinTool::DbQuery => &["sql", "params"],
    }
}

/// Typed access to one call's argument object; errors name the tool and the argument.
struct Fields<'a> {
    tool: BuiltinTool,
    object: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn only(&self, names: &[&str]) -> Result<(), ArgumentError> {
        match self.object.keys().find(|key| !names.contains(&key.as_str())) {
            Some(key) => Err(invalid(
                self.tool,
                format!("unknown argument '{key}' (expected: {})", names.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn given(&self, name: &str) -> Option<&Value> {
        self.object.get(name).filter(|value| !value.is_null())
    }

    fn string(&self, name: &str) -> Result<String, ArgumentError> {
        self.optional_string(name)?
            .ok_or_else(|| invalid(self.tool, format!("argument '{name}' (a string) is required")))
    }

    fn optional_string(&self, name: &str) -> Result<Option<String>, ArgumentError> {
        match self.given(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(self.wrong_type(name, "a string", other)),
        }
    }

    fn optional_bool(&self, name: &str) -> Result<Option<bool>, ArgumentError> {
        match self.given(name) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(other) => Err(self.wrong_type(name, "a boolean", other)),
        }
    }

    /// `params`: positional values, each a string, number, boolean or null.
    fn params(&self) -> Result<Vec<Value>, ArgumentError> {
        let values = match self.given("params") {
            None => return Ok(Vec::new()),
            Some(Value::Array(values)) => values,
            Some(other) => return Err(self.wrong_type("params", "an array", other)),
        };
        for (index, value) in values.iter().enumerate() {
            if matches!(value, Value::Array(_) | Value::Object(_)) {
                return Err(invalid(
                    self.tool,
                    format!(
                        "params[{index}] must be a string, number, boolean or null, not {}",
                        kind(value)
                    ),
                ));
            }
        }
        Ok(values.clone())
    }

    fn wrong_type(&self, name: &str, expected: &str, found: &Value) -> ArgumentError {
        invalid(
            self.tool,
            format!("argument '{name}' must be {expected}, not {}", kind(found)),
        )
    }
}

fn invalid(tool: BuiltinTool, message: String) -> ArgumentError {
    ArgumentError::Invalid(format!("{}: {message}", tool.name()))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn error(tool: &str, args: Value) -> String {
        ToolArgs::parse(tool, &args).unwrap_err().message().to_owned()
    }

    #[test]
    fn defaults_and_alias() {
        let (tool, args) = ToolArgs::parse("file_list", &Value::Null).unwrap();
        assert_eq!(tool, BuiltinTool::FileList);
        assert_eq!(args, ToolArgs::FileList { path: ".".into() });
        let (_, args) = ToolArgs::parse("file_write", &json!({"path": "a", "content": "x", "append": null})).unwrap();
        assert_eq!(
            args,
            ToolArgs::FileWrite {
                path: "a".into(),
                content: "x".into(),
                append: false
            }
        );
        let (tool, _) = ToolArgs::parse("web_fetch", &json!({"url": "https://x"})).unwrap();
        assert_eq!(tool, BuiltinTool::HttpGet);
        let (_, args) = ToolArgs::parse("db_query", &json!({"sql": "SELECT 1"})).unwrap();
        assert_eq!(
            args,
            ToolArgs::DbQuery {
                sql: "SELECT 1".into(),
                params: vec![]
            }
        );
    }

    #[test]
    fn unknown_tool_is_its_own_error() {
        assert!(matches!(
            ToolArgs::parse("shell", &json!({})),
            Err(ArgumentError::UnknownTool(message)) if message.starts_with("unknown tool 'shell'")
        ));
    }

    #[test]
    fn schema_mismatches_name_the_argument() {
        assert_eq!(
            error("file_read", json!({})),
            "file_read: argument 'path' (a string) is required"
        );
        assert_eq!(
            error("file_read", json!({"path": 3})),
            "file_read: argument 'path' must be a string, not a number"
        );
        assert_eq!(
            error("file_write", json!({"path": "a", "content": "x", "append": "yes"})),
            "file_write: argument 'append' must be a boolean, not a string"
        );
        assert_eq!(
            error("http_get", json!({"url": "https://x", "method": "POST"})),
            "http_get: unknown argument 'method' (expected: url)"
        );
        assert_eq!(
            error("db_query", json!([1])),
            "db_query: arguments must be a JSON object, not an array"
        );
        assert_eq!(
            error(
                "db_query",
                json!({"sql": "SELECT ?", "params": [1, "a", true, null, [2]]})
            ),
            "db_query: params[4] must be a string, number, boolean or null, not an array"
        );
        assert_eq!(
            error("db_query", json!({"sql": "SELECT ?", "params": {"a": 1}})),
            "db_query: argument 'params' must be an array, not an object"
        );
    }

    #[test]
    fn size_limits_are_inclusive() {
        let at_limit = "x".repeat(MAX_FILE_BYTES);
        assert!(ToolArgs::parse("file_write", &json!({"path": "a", "content": at_limit})).is_ok());
        assert_eq!(
            error(
                "file_write",
                json!({"path": "a", "content": "é".repeat(MAX_FILE_BYTES / 2 + 1)})
            ),
            "file_write: content is 1048578 bytes; the limit is 1 MiB (1048576 bytes)"
        );
        assert!(ToolArgs::parse("db_query", &json!({"sql": "é".repeat(MAX_SQL_CHARS)})).is_ok());
        assert_eq!(
            error("db_query", json!({"sql": "x".repeat(MAX_SQL_CHARS + 1)})),
            "db_query: sql is 10001 characters; the limit is 10000"
        );
    }
}
