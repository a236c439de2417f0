//! Errors as RFC 9457 problem documents (`application/problem+json`), and the request extractors
//! whose rejections (malformed JSON, wrong types, bad path or query values, bodies over the
//! limit) become problem documents too, naming the field where one can be named.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::errors::ServiceError;

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:certdeck:problem:<kind>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, and what to do.
    pub detail: String,
    /// The request field (JSON member, query or path parameter) a validation error names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait before retrying (rate limits), also sent as `Retry-After`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of `kind` with `status`.
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("urn:certdeck:problem:{kind}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            retry_after: None,
        }
    }

    /// The same problem, naming `field`.
    pub fn with_field(mut self, field: impl Into<String>) -> Problem {
        self.field = Some(field.into());
        self
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail)
    }

    /// 422: a value was refused (a validation error names its field).
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "Invalid input", detail).with_field(field)
    }

    /// 401 with the reason.
    pub fn unauthenticated(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Authentication required",
            detail,
        )
    }

    /// 403 with the reason.
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 404 for a path no route serves.
    pub fn no_route(path: &str) -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("no API route {path}; the routes are listed in /api/v1/openapi.json"),
        )
    }

    /// 429 with `Retry-After`.
    pub fn too_many(detail: impl Into<String>, retry_after_secs: u64) -> Problem {
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            detail,
        );
        p.retry_after = Some(retry_after_secs.max(1));
        p
    }

    /// The status code.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<ServiceError> for Problem {
    fn from(e: ServiceError) -> Problem {
        match &e {
            ServiceError::NotFound { .. } => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", e.to_string())
            }
            ServiceError::Forbidden(_) => Problem::forbidden(e.to_string()),
            ServiceError::Validation { field, reason } => {
                Problem::invalid(field.clone(), format!("invalid {field}: {reason}"))
            }
            ServiceError::Conflict(_) => Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", e.to_string()),
            ServiceError::Unauthenticated(m) => Problem::unauthenticated(m.clone()),
            ServiceError::PasswordChangeRequired(m) => Problem::new(
                StatusCode::FORBIDDEN,
                "password-change-required",
                "Password change required",
                m.clone(),
            ),
            ServiceError::Remote(_) => {
                Problem::new(StatusCode::BAD_GATEWAY, "remote", "A remote peer failed", e.to_string())
            }
            ServiceError::Internal(m) => {
                tracing::error!(error = %m, "internal error answered as 500");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "internal error; the details are in the server's log",
                )
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let retry = self.retry_after;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut res = (status, body).into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = retry {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                h.insert(header::RETRY_AFTER, v);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"certdeck\""),
            );
        }
        res
    }
}

/// What a handler returns: a value or a problem.
pub type ApiResult<T> = Result<T, Problem>;

/// Splits serde's "at line 1 column 9: missing field `x`" style messages for a field name.
fn field_of(msg: &str) -> Option<String> {
    for marker in ["missing field `", "unknown field `", "duplicate field `"] {
        if let Some(rest) = msg.split(marker).nth(1) {
            return rest.split('`').next().map(str::to_string);
        }
    }
    None
}

/// A JSON request body; malformed JSON, wrong types and bodies over the limit are problems.
#[derive(Debug, Clone)]
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

fn json_rejection(rej: JsonRejection) -> Problem {
    match rej {
        JsonRejection::JsonDataError(e) => {
            let msg = e.body_text();
            // axum's text is "<prefix>: <path>: <serde's message>"; the path names a wrongly typed member.
            let rest = msg.split_once(": ").map_or(msg.as_str(), |(_, r)| r);
            let path = rest
                .split_once(": ")
                .map(|(p, _)| p)
                .filter(|p| !p.is_empty() && !p.contains(' ') && *p != ".");
            let field = field_of(rest)
                .or_else(|| path.map(str::to_string))
                .unwrap_or_else(|| "body".into());
            Problem::invalid(field, format!("the body does not match: {rest}"))
        }
        JsonRejection::JsonSyntaxError(e) => {
            Problem::bad_request(format!("malformed JSON: {}", e.body_text())).with_field("body")
        }
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(e) => {
            let status = e.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(status, "too-large", "Request body too large", e.body_text())
            } else {
                Problem::bad_request(e.body_text())
            }
        }
        other => Problem::bad_request(other.body_text()),
    }
}

/// Query parameters; a wrong type or a missing parameter is a problem naming it.
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

impl<S, T> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Params(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let msg = e.body_text();
                let field = field_of(&msg).unwrap_or_else(|| "query".into());
                Err(Problem::invalid(field, msg))
            }
            Err(other) => Err(Problem::bad_request(other.body_text())),
        }
    }
}

/// A path parameter: an id that is not a positive integer is a problem naming it.
#[derive(Debug, Clone, Copy)]
pub struct Id(pub i64);

impl<S> FromRequestParts<S> for Id
where
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let raw = match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => v,
            Err(e @ PathRejection::FailedToDeserializePathParams(_)) => {
                return Err(Problem::bad_request(e.body_text()).with_field("id"));
            }
            Err(e) => return Err(Problem::bad_request(e.body_text())),
        };
        match raw.parse::<i64>() {
            Ok(n) if n > 0 => Ok(Id(n)),
            _ => Err(Problem::invalid(
                "id",
                format!("`{raw}` is not an id (a positive integer)"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_map_to_statuses_and_name_their_field() {
        let p = Problem::from(ServiceError::invalid("domain", "not a name"));
        assert_eq!(p.status, 422);
        assert_eq!(p.field.as_deref(), Some("domain"));
        assert_eq!(Problem::from(ServiceError::not_found("certificate", 7)).status, 404);
        assert_eq!(Problem::from(ServiceError::Conflict("x".into())).status, 409);
        assert_eq!(Problem::from(ServiceError::Unauthenticated("x".into())).status, 401);
        let internal = Problem::from(ServiceError::Internal("secret detail".into()));
        assert_eq!(internal.status, 500);
        assert!(!internal.detail.contains("secret detail"));
    }

    #[tokio::test]
    async fn a_wrongly_typed_member_is_named() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct B {
            port: Option<i64>,
        }
        let req = axum::http::Request::builder()
            .method("POST")
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(r#"{"port":"x"}"#))
            .unwrap();
        let p = Body::<B>::from_request(req, &()).await.unwrap_err();
        assert_eq!((p.status, p.field.as_deref()), (422, Some("port")));
    }

    #[test]
    fn serde_messages_give_the_field() {
        assert_eq!(field_of("missing field `name` at line 1").as_deref(), Some("name"));
        assert_eq!(field_of("unknown field `nme`, expected one of").as_deref(), Some("nme"));
        assert_eq!(field_of("invalid type"), None);
    }
}
