//! Request validation with the 422 shape of spec §1.5: every failure is collected with its
//! location, type and message, and `detail` names the first one.
//!
//! Bodies and queries are read field by field rather than through serde derive, because clients
//! rely on the exact error `type` (`string_type`, `int_parsing`, …) and on every failure being
//! listed at once.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// One step of an error location: a field name or a list index.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Loc {
    Field(String),
    Index(usize),
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Loc::Field(name) => f.write_str(name),
            Loc::Index(i) => write!(f, "{i}"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldError {
    pub loc: Vec<Loc>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The readable `detail` sentence: the first error, plus how many more there are.
pub fn summary(errors: &[FieldError]) -> String {
    let Some(first) = errors.first() else {
        return "Invalid request.".into();
    };
    let more = match errors.len() - 1 {
        0 => String::new(),
        n => format!(" ({n} more error(s))"),
    };
    if first.kind == "json_invalid" {
        return format!(
            "Request body is not valid JSON: {}{more}.",
            first.msg.trim_end_matches('.')
        );
    }
    if first.kind == "preset_invalid" {
        // `loc` is `["body", "<file>", …]` (spec §4.6.3).
        let file = first.loc.get(1).map(Loc::to_string).unwrap_or_default();
        return format!("Preset rejected: {file}: {}{more}.", first.msg.trim_end_matches('.'));
    }
    let path: Vec<String> = first.loc.iter().skip(1).map(Loc::to_string).collect();
    let field = if path.is_empty() {
        "body".to_string()
    } else {
        path.join(".")
    };
    if first.kind == "missing" {
        format!("Missing required field '{field}'{more}.")
    } else {
        format!(
            "Invalid value for '{field}': {}{more}.",
            first.msg.trim_end_matches('.')
        )
    }
}

/// Where the values come from: JSON keeps types; query strings are parsed from text.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    Body,
    Query,
}

impl Source {
    fn root(self) -> &'static str {
        match self {
            Source::Body => "body",
            Source::Query => "query",
        }
    }
}

/// A value that can be read out of one field.
pub trait FieldValue: Sized {
    fn read(value: &Value, from_text: bool) -> Result<Self, (&'static str, &'static str)>;
}

impl FieldValue for String {
    fn read(value: &Value, _: bool) -> Result<Self, (&'static str, &'static str)> {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or(("string_type", "Input should be a valid string"))
    }
}

impl FieldValue for Map<String, Value> {
    fn read(value: &Value, _: bool) -> Result<Self, (&'static str, &'static str)> {
        value
            .as_object()
            .cloned()
            .ok_or(("dict_type", "Input should be a valid dictionary or object"))
    }
}

impl FieldValue for bool {
    fn read(value: &Value, from_text: bool) -> Result<Self, (&'static str, &'static str)> {
        const ERR: (&str, &str) = ("bool_type", "Input should be a valid boolean");
        match value {
            Value::Bool(b) => Ok(*b),
            Value::String(text) if from_text => match text.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(ERR),
            },
            _ => Err(ERR),
        }
    }
}

impl FieldValue for i64 {
    fn read(value: &Value, from_text: bool) -> Result<Self, (&'static str, &'static str)> {
        const ERR: (&str, &str) = ("int_parsing", "Input should be a valid integer");
        match value {
            Value::Number(n) => n.as_i64().ok_or(ERR),
            Value::String(text) if from_text => text.trim().parse().map_err(|_| ERR),
            _ => Err(ERR),
        }
    }
}

/// Reads fields out of a JSON object or a query string, collecting every failure.
pub struct Fields<'a> {
    source: Source,
    /// Where `object` sits inside the body (empty at the top level).
    prefix: Vec<Loc>,
    object: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    fn new(source: Source, object: &'a Map<String, Value>) -> Self {
        Self {
            source,
            prefix: Vec::new(),
            object,
            errors: Vec::new(),
        }
    }

    pub fn error(&mut self, field: Option<&str>, kind: &'static str, msg: impl Into<String>) {
        self.error_at(field.map(|f| Loc::Field(f.into())).into_iter().collect(), kind, msg);
    }

    /// An error at `path` below this object (e.g. `[field, index]`).
    pub fn error_at(&mut self, path: Vec<Loc>, kind: &'static str, msg: impl Into<String>) {
        let mut loc = vec![Loc::Field(self.source.root().into())];
        loc.extend(self.prefix.iter().cloned());
        loc.extend(path);
        self.errors.push(FieldError {
            loc,
            msg: msg.into(),
            kind,
        });
    }

    /// Reads a nested object at `path` with its own fields; its errors join this object's,
    /// located under `path`.
    pub fn within<R>(
        &mut self,
        path: Vec<Loc>,
        object: &Map<String, Value>,
        read: impl FnOnce(&mut Fields<'_>) -> R,
    ) -> R {
        let mut prefix = self.prefix.clone();
        prefix.extend(path);
        let mut nested = Fields {
            source: self.source,
            prefix,
            object,
            errors: Vec::new(),
        };
        let out = read(&mut nested);
        self.errors.append(&mut nested.errors);
        out
    }

    /// The raw value of a present, non-null field.
    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.object.get(name).filter(|v| !v.is_null())
    }

    /// A present list of `min..=max` objects, each read by `read` with its errors located under
    /// `name.<index>`; `None` (after recording why) unless every item was read.
    pub fn object_list<T>(
        &mut self,
        name: &str,
        min: usize,
        max: usize,
        mut read: impl FnMut(&mut Fields<'_>) -> Option<T>,
    ) -> Option<Vec<T>> {
        let value = self.raw(name)?;
        let Some(items) = value.as_array() else {
            self.error(Some(name), "list_type", "Input should be a valid list");
            return None;
        };
        if items.len() < min {
            let msg = format!(
                "List should have at least {min} item after validation, not {}",
                items.len()
            );
            self.error(Some(name), "too_short", msg);
            return None;
        }
        if items.len() > max {
            let msg = format!(
                "List should have at most {max} items after validation, not {}",
                items.len()
            );
            self.error(Some(name), "too_long", msg);
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = vec![Loc::Field(name.into()), Loc::Index(i)];
            let Some(object) = item.as_object() else {
                self.error_at(at, "dict_type", "Input should be a valid dictionary or object");
                continue;
            };
            if let Some(parsed) = self.within(at, object, &mut read) {
                out.push(parsed);
            }
        }
        (out.len() == items.len()).then_some(out)
    }

    /// A list of strings, each checked by `check` (which returns a `(type, message)` failure);
    /// the errors name the failing index.
    pub fn string_list(
        &mut self,
        name: &str,
        check: impl Fn(&str) -> Result<(), (&'static str, String)>,
    ) -> Option<Vec<String>> {
        let value = self.raw(name)?;
        let Some(items) = value.as_array() else {
            self.error(Some(name), "list_type", "Input should be a valid list");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let at = vec![Loc::Field(name.into()), Loc::Index(i)];
            match item.as_str() {
                None => {
                    self.error_at(at, "string_type", "Input should be a valid string");
                    ok = false;
                }
                Some(text) => match check(text) {
                    Ok(()) => out.push(text.to_owned()),
                    Err((kind, msg)) => {
                        self.error_at(at, kind, msg);
                        ok = false;
                    }
                },
            }
        }
        ok.then_some(out)
    }

    /// The object's member names, in body order.
    pub fn keys(&self) -> impl Iterator<Item = &'a str> {
        self.object.keys().map(String::as_str)
    }

    /// Whether any error has been recorded so far.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Whether the field is present with a non-null value.
    pub fn has(&self, name: &str) -> bool {
        self.object.get(name).is_some_and(|v| !v.is_null())
    }

    /// A field that must be present and non-null.
    pub fn required<T: FieldValue>(&mut self, name: &str) -> Option<T> {
        match self.object.get(name) {
            None | Some(Value::Null) => {
                self.error(Some(name), "missing", "Field required");
                None
            }
            Some(_) => self.optional(name),
        }
    }

    /// A field that may be absent or null.
    pub fn optional<T: FieldValue>(&mut self, name: &str) -> Option<T> {
        let value = self.object.get(name).filter(|v| !v.is_null())?;
        match T::read(value, self.source == Source::Query) {
            Ok(v) => Some(v),
            Err((kind, msg)) => {
                self.error(Some(name), kind, msg);
                None
            }
        }
    }

    /// Length bounds in characters, reported as `string_too_short` / `string_too_long`.
    pub fn length(&mut self, name: &str, value: Option<&str>, min: usize, max: usize) {
        let Some(len) = value.map(|v| v.chars().count()) else {
            return;
        };
        if len < min {
            self.error(
                Some(name),
                "string_too_short",
                format!("String should have at least {min} characters"),
            );
        } else if len > max {
            self.error(
                Some(name),
                "string_too_long",
                format!("String should have at most {max} characters"),
            );
        }
    }

    /// Integer bounds, reported as `greater_than_equal` / `less_than_equal`.
    pub fn range(&mut self, name: &str, value: Option<i64>, min: i64, max: Option<i64>) {
        let Some(value) = value else { return };
        if value < min {
            self.error(
                Some(name),
                "greater_than_equal",
                format!("must be greater than or equal to {min}"),
            );
        } else if let Some(max) = max.filter(|max| value > *max) {
            self.error(
                Some(name),
                "less_than_equal",
                format!("must be less than or equal to {max}"),
            );
        }
    }

    /// One of a fixed set of words, reported as `enum`.
    pub fn one_of<T>(
        &mut self,
        name: &str,
        value: Option<String>,
        parse: impl Fn(&str) -> Option<T>,
        words: &[&str],
    ) -> Option<T> {
        let value = value?;
        let parsed = parse(&value);
        if parsed.is_none() {
            let choices: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
            self.error(Some(name), "enum", format!("Input should be {}", choices.join(", ")));
        }
        parsed
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(value) if self.errors.is_empty() => Ok(value),
            _ if self.errors.is_empty() => Err(ApiError::Internal(anyhow::anyhow!(
                "validator returned nothing without an error"
            ))),
            _ => Err(ApiError::Validation(self.errors)),
        }
    }
}

/// A request body type read through [`Fields`]. Returns `None` only after recording an error.
pub trait FromBody: Sized {
    fn from_body(fields: &mut Fields<'_>) -> Option<Self>;
}

/// A query string type read through [`Fields`].
pub trait FromQuery: Sized {
    fn from_query(fields: &mut Fields<'_>) -> Option<Self>;
}

/// Extracts and validates a JSON object body, whatever the `Content-Type` (spec §1.2).
pub struct ValidJson<T>(pub T);

impl<S: Send + Sync, T: FromBody> FromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|err| ApiError::Internal(anyhow::anyhow!("reading the request body: {err}")))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|err| {
            ApiError::Validation(vec![FieldError {
                loc: vec![Loc::Field("body".into())],
                msg: err.to_string(),
                kind: "json_invalid",
            }])
        })?;
        let Value::Object(object) = value else {
            let loc = vec![Loc::Field("body".into())];
            let msg = "Input should be a valid dictionary or object".to_string();
            return Err(ApiError::Validation(vec![FieldError {
                loc,
                msg,
                kind: "dict_type",
            }]));
        };
        let mut fields = Fields::new(Source::Body, &object);
        let parsed = T::from_body(&mut fields);
        fields.finish(parsed).map(ValidJson)
    }
}

/// Extracts and validates the query string.
pub struct ValidQuery<T>(pub T);

impl<S: Send + Sync, T: FromQuery> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let pairs: HashMap<String, String> = serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map_err(|err| {
                ApiError::Validation(vec![FieldError {
                    loc: vec![Loc::Field("query".into())],
                    msg: err.to_string(),
                    kind: "value_error",
                }])
            })?;
        let object: Map<String, Value> = pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        let mut fields = Fields::new(Source::Query, &object);
        let parsed = T::from_query(&mut fields);
        fields.finish(parsed).map(ValidQuery)
    }
}

/// `limit` (1..=100, default 20) and `offset` (≥ 0, default 0) of every list (spec §1.10).
pub fn page(fields: &mut Fields<'_>) -> Option<crate::store::Page> {
    let limit = fields.optional::<i64>("limit");
    fields.range("limit", limit, 1, Some(100));
    let offset = fields.optional::<i64>("offset");
    fields.range("offset", offset, 0, None);
    Some(crate::store::Page {
        limit: limit.unwrap_or(20),
        offset: offset.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Probe;
    impl FromBody for Probe {
        fn from_body(fields: &mut Fields<'_>) -> Option<Self> {
            let email = fields.required::<String>("email");
            fields.length("email", email.as_deref(), 3, 320);
            let budget = fields.required::<i64>("budget_cents");
            fields.range("budget_cents", budget, 100, None);
            Some(Probe)
        }
    }

    fn errors(body: Value) -> Vec<FieldError> {
        let object = body.as_object().unwrap().clone();
        let mut fields = Fields::new(Source::Body, &object);
        let parsed = Probe::from_body(&mut fields);
        match fields.finish(parsed) {
            Err(ApiError::Validation(errors)) => errors,
            _ => Vec::new(),
        }
    }

    #[test]
    fn first_error_names_the_field_and_counts_the_rest() {
        let errs = errors(json!({"budget_cents": 5}));
        assert_eq!(errs.len(), 2);
        assert_eq!(summary(&errs), "Missing required field 'email' (1 more error(s)).");
        let errs = errors(json!({"email": "a@b.c", "budget_cents": 5}));
        assert_eq!(
            summary(&errs),
            "Invalid value for 'budget_cents': must be greater than or equal to 100."
        );
        assert_eq!(errs[0].kind, "greater_than_equal");
    }

    #[test]
    fn wrong_types_are_typed_errors() {
        let errs = errors(json!({"email": 7, "budget_cents": "100"}));
        let kinds: Vec<_> = errs.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["string_type", "int_parsing"]);
        assert_eq!(serde_json::to_value(&errs[0].loc).unwrap(), json!(["body", "email"]));
    }
}
