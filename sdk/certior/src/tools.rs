//! The built-in tools' static facts (spec §7.6): names, cost, destination, approval categories,
//! and how their required capabilities follow from normalised arguments. Argument validation and
//! sandboxing (paths, hosts, SQL) belong to the server's prepare stage.

/// A built-in tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinTool {
    FileRead,
    FileWrite,
    FileList,
    HttpGet,
    DbQuery,
}

impl BuiltinTool {
    pub const ALL: [BuiltinTool; 5] = [
        Self::FileRead,
        Self::FileWrite,
        Self::FileList,
        Self::HttpGet,
        Self::DbQuery,
    ];

    /// Finds a tool by name; `web_fetch` is an alias of `http_get`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "web_fetch" => Some(Self::HttpGet),
            _ => Self::ALL.into_iter().find(|t| t.name() == name),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::FileRead => "file_read",
            Self::FileWrite => "file_write",
            Self::FileList => "file_list",
            Self::HttpGet => "http_get",
            Self::DbQuery => "db_query",
        }
    }

    pub fn cost_cents(self) -> i64 {
        match self {
            Self::HttpGet => 2,
            _ => 1,
        }
    }

    pub fn destination(self) -> Option<&'static str> {
        match self {
            Self::FileWrite => Some("internal"),
            Self::HttpGet => Some("external"),
            _ => None,
        }
    }

    pub fn approval_categories(self) -> &'static [&'static str] {
        match self {
            Self::FileWrite => &["data_export", "document_sharing"],
            Self::HttpGet => &["external_communication", "send_external_communication"],
            _ => &[],
        }
    }

    /// The base capability an LLM tool offer is judged on (spec §7.6, last paragraph).
    pub fn base_capability(self) -> &'static str {
        match self {
            Self::FileRead | Self::FileList => "filesystem:read",
            Self::FileWrite => "filesystem:write:",
            Self::HttpGet => "network:http:read",
            Self::DbQuery => "database:read:",
        }
    }
}

/// `filesystem:write:<area>`: the first component of the normalised relative path, or
/// `workspace` for a file directly in the workspace root.
pub fn file_write_capability(normalised_path: &str) -> String {
    let mut parts = normalised_path.split('/').filter(|p| !p.is_empty() && *p != ".");
    let first = parts.next();
    let area = match (first, parts.next()) {
        (Some(dir), Some(_)) => dir,
        _ => "workspace",
    };
    format!("filesystem:write:{area}")
}

/// `database:read:<tag>` for every table tag a query reads, de-duplicated in order.
pub fn db_query_capabilities<S: AsRef<str>>(tags: &[S]) -> Vec<String> {
    let mut caps: Vec<String> = Vec::new();
    for tag in tags {
        let cap = format!("database:read:{}", tag.as_ref());
        if !caps.contains(&cap) {
            caps.push(cap);
        }
    }
    caps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_match_the_spec_table() {
        assert_eq!(BuiltinTool::parse("web_fetch"), Some(BuiltinTool::HttpGet));
        assert_eq!(BuiltinTool::parse("rm"), None);
        assert_eq!(BuiltinTool::HttpGet.cost_cents(), 2);
        assert_eq!(BuiltinTool::FileWrite.destination(), Some("internal"));
        assert_eq!(file_write_capability("reports/q3.txt"), "filesystem:write:reports");
        assert_eq!(file_write_capability("q3.txt"), "filesystem:write:workspace");
        assert_eq!(
            db_query_capabilities(&["patient_data", "patient_data"]),
            vec!["database:read:patient_data"]
        );
    }
}
