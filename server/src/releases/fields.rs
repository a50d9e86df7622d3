//! Reading repo keys, commits and digests out of requests, with the 422 shape of the API: a bad
//! value names its field, type `value_error`.

use super::{repo_key, sha};
use crate::validate::Fields;

/// A required repo field, normalised (§1.1).
pub fn repo(fields: &mut Fields<'_>, name: &str) -> Option<String> {
    let value = fields.required::<String>(name)?;
    match repo_key::normalise(&value) {
        Ok(key) => Some(key),
        Err(err) => {
            fields.error(Some(name), "value_error", err.to_string());
            None
        }
    }
}

/// An optional commit: `Some(None)` for absent, empty or `HEAD`; `None` after an error.
pub fn commit(fields: &mut Fields<'_>, name: &str) -> Option<Option<String>> {
    if !fields.has(name) {
        return Some(None);
    }
    let value = fields.optional::<String>(name)?;
    match sha::commit(&value) {
        Ok(commit) => Some(commit),
        Err(err) => {
            fields.error(Some(name), "value_error", err.to_string());
            None
        }
    }
}

/// A digest field that must be valid when given (`None` inside for absent or empty when
/// `empty_is_absent`); `None` after an error.
pub fn digest(fields: &mut Fields<'_>, name: &str, empty_is_absent: bool) -> Option<Option<String>> {
    if !fields.has(name) {
        return Some(None);
    }
    let value = fields.optional::<String>(name)?;
    if empty_is_absent && value.is_empty() {
        return Some(None);
    }
    match sha::digest(&value) {
        Ok(digest) => Some(Some(digest)),
        Err(err) => {
            fields.error(Some(name), "value_error", err.to_string());
            None
        }
    }
}

/// A string field of `min..=max` characters.
pub fn bounded(fields: &mut Fields<'_>, name: &str, required: bool, min: usize, max: usize) -> Option<String> {
    let value = if required {
        fields.required::<String>(name)
    } else {
        fields.optional::<String>(name)
    };
    fields.length(name, value.as_deref(), min, max);
    value
}

/// A time field (`completed_at`, `observed_at`): a finite number ≥ 0, `default` when absent.
pub fn time(fields: &mut Fields<'_>, name: &str, default: f64) -> f64 {
    match fields.raw(name) {
        None => default,
        Some(value) => match value.as_f64() {
            Some(t) if t.is_finite() && t >= 0.0 => t,
            Some(_) => {
                fields.error(
                    Some(name),
                    "greater_than_equal",
                    "must be a finite number greater than or equal to 0",
                );
                default
            }
            None => {
                fields.error(Some(name), "float_type", "Input should be a valid number");
                default
            }
        },
    }
}
