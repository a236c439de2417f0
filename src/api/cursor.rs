//! Keyset pagination over HTTP: `?limit=&cursor=` in, `{items, next_cursor}` out. The cursor is
//! opaque to clients (base64url of a small JSON value naming the list it belongs to and the
//! last key seen); a cursor that does not decode, or belongs to another list, is a 400 problem.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::problem::Problem;
use crate::service::query::Page;

/// The largest page a client may ask for.
pub const MAX_LIMIT: i64 = 500;
/// The page size when none is given.
pub const DEFAULT_LIMIT: i64 = 50;

/// A page of rows and the cursor of the next page (`null` on the last page).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Paged<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent or `null` when this is the last page.
    pub next_cursor: Option<String>,
}

/// What a cursor holds: the list it belongs to and the key of the last row seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Key {
    /// The list (route) the cursor belongs to.
    pub list: String,
    /// Rows with ids below this one.
    pub before_id: i64,
    /// For lists ordered by expiry: rows after this time (with `before_id` as the tie-break id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_time: Option<DateTime<Utc>>,
}

/// Encodes a cursor.
pub fn encode(key: &Key) -> String {
    let json = serde_json::to_vec(key).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a cursor of `list`.
pub fn decode(list: &str, cursor: &str) -> Result<Key, Problem> {
    let bad = || {
        Problem::bad_request("the cursor is not one this list gave out: pass `next_cursor` back unchanged")
            .with_field("cursor")
    };
    if cursor.len() > 512 {
        return Err(bad());
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| bad())?;
    let key: Key = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if key.list != list || key.before_id <= 0 {
        return Err(bad());
    }
    Ok(key)
}

/// The paging query parameters every list takes.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
pub struct PageQuery {
    /// Rows per page, 1 to 500 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The service page for list `list` (the id part of the cursor) and the decoded key.
    pub fn page(&self, list: &str) -> Result<(Page, Option<Key>), Problem> {
        let limit = match self.limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(n) => {
                return Err(Problem::invalid(
                    "limit",
                    format!("limit {n} is out of range: give 1 to {MAX_LIMIT}"),
                ))
            }
        };
        let key = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => Some(decode(list, c)?),
            None => None,
        };
        Ok((
            Page {
                before_id: key.as_ref().map(|k| k.before_id),
                limit,
            },
            key,
        ))
    }
}

/// A page of `rows` (in list order, newest id first) with the cursor after the last one when the
/// page is full.
pub fn paged<T>(list: &str, page: &Page, rows: Vec<T>, id: impl Fn(&T) -> i64) -> Paged<T> {
    let next_cursor = if rows.len() as i64 >= page.size() {
        rows.last().map(|r| {
            encode(&Key {
                list: list.to_string(),
                before_id: id(r),
                after_time: None,
            })
        })
    } else {
        None
    };
    Paged {
        items: rows,
        next_cursor,
    }
}

/// Like [`paged`] for lists ordered by a time then id (expiry order).
pub fn paged_by_time<T>(
    list: &str,
    page: &Page,
    rows: Vec<T>,
    key: impl Fn(&T) -> (Option<DateTime<Utc>>, i64),
) -> Paged<T> {
    let next_cursor = if rows.len() as i64 >= page.size() {
        rows.last().map(|r| {
            let (t, id) = key(r);
            encode(&Key {
                list: list.to_string(),
                before_id: id,
                after_time: t,
            })
        })
    } else {
        None
    };
    Paged {
        items: rows,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_lists_and_garbage() {
        let k = Key {
            list: "certificates".into(),
            before_id: 42,
            after_time: None,
        };
        let c = encode(&k);
        assert_eq!(decode("certificates", &c).unwrap(), k);
        assert_eq!(decode("servers", &c).unwrap_err().status, 400);
        assert_eq!(
            decode("certificates", "!!!").unwrap_err().field.as_deref(),
            Some("cursor")
        );
        assert_eq!(decode("certificates", "e30").unwrap_err().status, 400);
    }

    #[test]
    fn limits_are_checked_and_a_full_page_has_a_next_cursor() {
        let q = PageQuery {
            limit: Some(0),
            cursor: None,
        };
        assert_eq!(q.page("x").unwrap_err().field.as_deref(), Some("limit"));
        let q = PageQuery {
            limit: Some(2),
            cursor: None,
        };
        let (page, _) = q.page("x").unwrap();
        let full = paged("x", &page, vec![9_i64, 7], |r| *r);
        let next = decode("x", full.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(next.before_id, 7);
        assert!(paged("x", &page, vec![9_i64], |r| *r).next_cursor.is_none());
    }
}
