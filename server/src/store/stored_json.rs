//! A JSON column as stored: its text, checked to be JSON when the row is read, turned into a
//! [`Value`] only where it is used. An execution row carries several JSON documents; most reads
//! need one or none of them (the execution view passes two through as they are), and building
//! a `Value` tree for each of them cost more than the row's SQL.

use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;

use super::{decode_error, StoreResult};

#[derive(Debug, Clone)]
pub struct StoredJson {
    /// The column it came from, for errors.
    column: &'static str,
    text: Box<RawValue>,
    value: OnceLock<Value>,
}

impl StoredJson {
    /// Checks that `text`, read from `column`, is one JSON document (without building it).
    pub fn from_text(column: &'static str, text: String) -> StoreResult<Self> {
        Ok(StoredJson {
            column,
            text: RawValue::from_string(text).map_err(|err| decode_error(column, err))?,
            value: OnceLock::new(),
        })
    }

    /// Decodes the document straight into `T`, without the [`Value`] in between.
    pub fn decode<T: DeserializeOwned>(&self) -> StoreResult<T> {
        serde_json::from_str(self.text.get()).map_err(|err| decode_error(self.column, err))
    }

    /// The document as a [`Value`], built on first use and kept. It can fail where the check on
    /// reading passed: a number out of `f64`'s range, or nesting deeper than serde_json builds.
    pub fn value(&self) -> StoreResult<&Value> {
        if let Some(value) = self.value.get() {
            return Ok(value);
        }
        let value = self.decode()?;
        Ok(self.value.get_or_init(|| value))
    }

    /// [`Self::value`] of an optional column.
    pub fn optional_value(column: &Option<StoredJson>) -> StoreResult<Option<&Value>> {
        column.as_ref().map(StoredJson::value).transpose()
    }

    /// The document as it was stored, for a response that passes it on unchanged.
    pub fn into_raw(self) -> Box<RawValue> {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_not_one_json_document_is_refused() {
        assert!(StoredJson::from_text("run_spec", "{\"a\": ".into()).is_err());
        assert!(StoredJson::from_text("run_spec", "1 2".into()).is_err());
    }

    #[test]
    fn the_document_reads_as_a_value_a_type_and_its_stored_text() {
        let stored = StoredJson::from_text("run_spec", r#"{"plan": [1, 2], "webhook_url": null}"#.into()).unwrap();
        assert_eq!(stored.value().unwrap()["plan"][1], 2);
        assert!(stored.value().unwrap()["webhook_url"].is_null());
        #[derive(serde::Deserialize)]
        struct Spec {
            plan: Vec<u8>,
        }
        assert_eq!(stored.decode::<Spec>().unwrap().plan, [1, 2]);
        assert_eq!(stored.into_raw().get(), r#"{"plan": [1, 2], "webhook_url": null}"#);
    }

    #[test]
    fn a_document_that_cannot_become_a_value_is_an_error_naming_its_column() {
        let stored = StoredJson::from_text("final_scan", "[1e400]".into()).unwrap();
        let err = stored.value().unwrap_err().to_string();
        assert!(err.contains("final_scan"), "{err}");
    }
}
