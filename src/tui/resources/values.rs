//! Reading a submitted form's values into the service's inputs, with errors named after their
//! field. (The `/` filter's terms are read by the service's one parser, `service::query`.)

use std::path::PathBuf;

use crate::errors::{ServiceError, ServiceResult};

/// A submitted form's values by field name.
pub type Values = Vec<(&'static str, String)>;

/// A validation error on `field`.
pub fn invalid(field: &str, reason: impl Into<String>) -> ServiceError {
    ServiceError::invalid(field, reason.into())
}

/// The trimmed value of a field ("" when absent).
pub fn get<'a>(v: &'a Values, name: &str) -> &'a str {
    v.iter().find(|(k, _)| *k == name).map(|(_, v)| v.trim()).unwrap_or("")
}

/// The value of a field, None when empty.
pub fn opt_s(v: &Values, name: &str) -> Option<String> {
    Some(get(v, name).to_string()).filter(|s| !s.is_empty())
}

/// The field's value when the form has the field (empty included: it clears a setting).
pub fn present(v: &Values, name: &str) -> Option<String> {
    v.iter().find(|(k, _)| *k == name).map(|(_, v)| v.trim().to_string())
}

/// A whole number, None when empty.
pub fn num(v: &Values, name: &str) -> ServiceResult<Option<i64>> {
    let s = get(v, name);
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<i64>()
        .map(Some)
        .map_err(|_| invalid(name, format!("'{s}' is not a whole number")))
}

/// A required whole number.
pub fn req_num(v: &Values, name: &str) -> ServiceResult<i64> {
    num(v, name)?.ok_or_else(|| invalid(name, "is required"))
}

/// A value parsed by its `FromStr` (domain enums), None when empty.
pub fn parse_enum<T: std::str::FromStr>(v: &Values, name: &str) -> ServiceResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    let s = get(v, name);
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<T>().map(Some).map_err(|e| invalid(name, e.to_string()))
}

/// A yes/no picker.
pub fn yes(v: &Values, name: &str) -> bool {
    get(v, name) == "yes"
}

/// Reads a file named in a field (`~/` expanded).
pub fn read_file(field: &str, path: &str) -> ServiceResult<Vec<u8>> {
    let p = shellexpand_home(path);
    std::fs::read(&p).map_err(|e| invalid(field, format!("cannot read {}: {e}", p.display())))
}

/// Expands a leading `~/` to the home directory.
pub fn shellexpand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// Parses `key=value; key=value` into a JSON object (values that read as numbers or booleans
/// become those).
pub fn parse_pairs(field: &str, text: &str) -> Result<serde_json::Map<String, serde_json::Value>, (String, String)> {
    let mut m = serde_json::Map::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err((field.to_string(), format!("'{part}' is not key=value")));
        };
        let v = v.trim();
        let value = if let Ok(n) = v.parse::<i64>() {
            serde_json::Value::from(n)
        } else if v == "true" || v == "false" {
            serde_json::Value::Bool(v == "true")
        } else {
            serde_json::Value::String(v.to_string())
        };
        m.insert(k.trim().to_string(), value);
    }
    Ok(m)
}
