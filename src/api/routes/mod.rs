//! One module per resource. Each has a `routes(&mut Api)` that registers its operations (see
//! [`super::openapi::Op`]); handlers take the [`Caller`](super::Caller), parse the request with the
//! extractors of [`super::problem`], make one service call and return JSON.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::Deserialize;

use super::cursor::{Key, PageQuery};
use super::openapi::Api;
use super::problem::{ApiResult, Problem};
use crate::service::query::{ListFilter, Page, Terms};

pub mod certificates;
pub mod deploy;
pub mod deployments;
pub mod groups;
pub mod health;
pub mod metrics;
pub mod servers;
pub mod session;

/// Every route of the API.
pub fn all() -> Api {
    let mut api = Api::new();
    health::routes(&mut api);
    session::routes(&mut api);
    certificates::routes(&mut api);
    servers::routes(&mut api);
    groups::routes(&mut api);
    deployments::routes(&mut api);
    deploy::routes(&mut api);
    metrics::routes(&mut api);
    api
}

/// The query parameters every list takes (documented once; filter terms are added per list).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListParams {
    /// Filter terms as one line, the console's grammar: `status:issued expires_within:30`.
    pub q: Option<String>,
    /// Rows per page, 1 to 500 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A parsed list request: the page, the cursor key, and the filter terms (from `q` and from
/// the query parameters named after terms).
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// The service page.
    pub page: Page,
    /// The decoded cursor, when one was given.
    pub key: Option<Key>,
    /// The filter terms.
    pub terms: Terms,
}

impl ListQuery {
    /// Reads the raw query string map of list `list`; `extra` are non-term parameters the
    /// route reads itself (e.g. `order`).
    pub fn parse(list: &str, mut raw: BTreeMap<String, String>, extra: &[&str]) -> ApiResult<ListQuery> {
        let pq = PageQuery {
            limit: match raw.remove("limit") {
                Some(v) => Some(
                    v.trim()
                        .parse::<i64>()
                        .map_err(|_| Problem::invalid("limit", format!("limit `{v}` is not a number")))?,
                ),
                None => None,
            },
            cursor: raw.remove("cursor"),
        };
        let (page, key) = pq.page(list)?;
        let mut terms: Terms = match raw.remove("q") {
            Some(q) => q.parse().unwrap_or_default(),
            None => Terms::default(),
        };
        if terms.text().is_some() {
            return Err(Problem::invalid(
                "q",
                "free text is not a filter of the API: use `key:value` terms (the keys are the list's query parameters)",
            ));
        }
        for (k, v) in raw {
            if extra.contains(&k.as_str()) {
                continue;
            }
            terms = terms.with(&k, Some(v));
        }
        Ok(ListQuery { page, key, terms })
    }

    /// The filter of a list, from the terms; a bad term is a problem naming it.
    pub fn filter<F: ListFilter>(&self) -> ApiResult<F> {
        Ok(F::from_terms(&self.terms, Utc::now())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::query::CertFilter;

    #[test]
    fn every_route_is_documented_once_and_the_table_builds() {
        let api = all();
        let mut seen = std::collections::HashSet::new();
        for (method, path, id) in api.ops() {
            assert!(seen.insert(id), "operation id {id} used twice");
            assert!(path.starts_with("/api/v1/") || path == "/metrics", "{method} {path}");
        }
        let doc = api.document();
        assert_eq!(doc["openapi"], "3.1.0");
        let _router = api.into_router();
    }

    #[test]
    fn list_queries_take_terms_from_q_and_from_parameters() {
        let raw: BTreeMap<String, String> = [("q", "status:issued"), ("expires_within", "30"), ("limit", "5")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let q = ListQuery::parse("certificates", raw, &[]).unwrap();
        assert_eq!(q.page.limit, 5);
        let f: CertFilter = q.filter().unwrap();
        assert!(f.status.is_some() && f.expires_to.is_some());
        let bad: BTreeMap<String, String> = [("colour".to_string(), "red".to_string())].into_iter().collect();
        let q = ListQuery::parse("certificates", bad, &[]).unwrap();
        assert_eq!(q.filter::<CertFilter>().unwrap_err().status, 422);
        let text: BTreeMap<String, String> = [("q".to_string(), "example".to_string())].into_iter().collect();
        assert_eq!(
            ListQuery::parse("certificates", text, &[])
                .unwrap_err()
                .field
                .as_deref(),
            Some("q")
        );
    }
}
