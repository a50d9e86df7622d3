//! `CERTIOR_DB_QUERY_TABLES` (spec §7.6): `table=tag[:label]`, comma-separated. The tag names the
//! capability a read needs (`database:read:<tag>`); the label is carried by the rows read.

use std::collections::HashMap;

/// How one table is classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableClass {
    pub tag: String,
    pub label: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TableMap {
    /// Keyed by lower-cased table name: SQLite table names are case-insensitive.
    classes: HashMap<String, TableClass>,
}

impl TableMap {
    /// Parses the variable's value; the error names the entry and the expected form.
    pub fn parse(spec: &str) -> Result<TableMap, String> {
        let mut classes = HashMap::new();
        for entry in spec.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let refuse = || format!("'{entry}' is not table=tag or table=tag:label (e.g. patients=patient_data:PHI)");
            let (table, class) = entry.split_once('=').ok_or_else(refuse)?;
            let (tag, label) = match class.split_once(':') {
                Some((tag, label)) => (tag.trim(), Some(label.trim())),
                None => (class.trim(), None),
            };
            let table = table.trim();
            let word = |text: &str| !text.is_empty() && !text.contains(|c: char| c.is_whitespace() || "=:".contains(c));
            if !word(table) || !word(tag) || !label.is_none_or(word) {
                return Err(refuse());
            }
            let class = TableClass {
                tag: tag.to_owned(),
                label: label.map(str::to_owned),
            };
            if classes.insert(table.to_lowercase(), class).is_some() {
                return Err(format!("table '{table}' is listed twice"));
            }
        }
        Ok(TableMap { classes })
    }

    /// The table's class; an unmapped table is tagged with its own name and has no label.
    pub fn classify(&self, table: &str) -> TableClass {
        self.classes
            .get(&table.to_lowercase())
            .cloned()
            .unwrap_or_else(|| TableClass {
                tag: table.to_owned(),
                label: None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_tags_and_labels_case_insensitively() {
        let map = TableMap::parse(" patients=patient_data:PHI , Ledger=financial_data:MNPI,notes=notes_tag").unwrap();
        assert_eq!(
            map.classify("PATIENTS"),
            TableClass {
                tag: "patient_data".into(),
                label: Some("PHI".into())
            }
        );
        assert_eq!(map.classify("ledger").label.as_deref(), Some("MNPI"));
        assert_eq!(
            map.classify("notes"),
            TableClass {
                tag: "notes_tag".into(),
                label: None
            }
        );
        assert_eq!(
            map.classify("Visits"),
            TableClass {
                tag: "Visits".into(),
                label: None
            }
        );
        assert!(TableMap::parse("").is_ok());
    }

    #[test]
    fn malformed_entries_are_named() {
        for bad in [
            "patients",
            "=tag",
            "patients=",
            "patients=tag:",
            "patients=a b",
            "a=b:c:d",
        ] {
            let error = TableMap::parse(bad).unwrap_err();
            assert!(
                error.starts_with(&format!("'{bad}' is not table=tag")),
                "{bad}: {error}"
            );
        }
        assert_eq!(TableMap::parse("a=x,A=y").unwrap_err(), "table 'A' is listed twice");
    }
}
