//! The route table: [`Api::add`] registers an operation in the axum router and describes it in
//! the OpenAPI 3.1 document at once, from the same [`Op`], so the served routes and the document
//! cannot drift apart. Schemas come from the Rust types (schemars, JSON Schema 2020-12, which
//! is OpenAPI 3.1's dialect); the committed copy is `assets/openapi.json`, checked in CI.

use std::collections::BTreeMap;

use axum::handler::Handler;
use axum::routing::{on, MethodFilter};
use axum::Router;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::problem::Problem;
use super::state::ApiState;

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// The HTTP method of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Method {
    fn filter(self) -> MethodFilter {
        match self {
            Method::Get => MethodFilter::GET,
            Method::Post => MethodFilter::POST,
            Method::Put => MethodFilter::PUT,
            Method::Patch => MethodFilter::PATCH,
            Method::Delete => MethodFilter::DELETE,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Put => "put",
            Method::Patch => "patch",
            Method::Delete => "delete",
        }
    }
}

/// A success response of an operation.
#[derive(Clone)]
enum Success {
    Json(u16, &'static str, SchemaFn),
    Text(u16, &'static str, &'static str),
    Empty(u16, &'static str),
}

/// One operation: method, path, and what the OpenAPI document says of it.
#[derive(Clone)]
pub struct Op {
    method: Method,
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    description: Option<&'static str>,
    query: Vec<SchemaFn>,
    filter_keys: &'static [&'static str],
    body: Option<SchemaFn>,
    success: Vec<Success>,
    public: bool,
    body_limit: Option<usize>,
}

impl Op {
    fn new(method: Method, path: &'static str, id: &'static str) -> Op {
        Op {
            method,
            path,
            id,
            tag: "",
            summary: "",
            description: None,
            query: Vec::new(),
            filter_keys: &[],
            body: None,
            success: Vec::new(),
            public: false,
            body_limit: None,
        }
    }

    /// `GET path`, operation id `id`.
    pub fn get(path: &'static str, id: &'static str) -> Op {
        Op::new(Method::Get, path, id)
    }

    /// `POST path`.
    pub fn post(path: &'static str, id: &'static str) -> Op {
        Op::new(Method::Post, path, id)
    }

    /// `PUT path`.
    pub fn put(path: &'static str, id: &'static str) -> Op {
        Op::new(Method::Put, path, id)
    }

    /// `PATCH path`.
    pub fn patch(path: &'static str, id: &'static str) -> Op {
        Op::new(Method::Patch, path, id)
    }

    /// `DELETE path`.
    pub fn delete(path: &'static str, id: &'static str) -> Op {
        Op::new(Method::Delete, path, id)
    }

    /// The tag (resource) it is listed under.
    pub fn tag(mut self, tag: &'static str) -> Op {
        self.tag = tag;
        self
    }

    /// A one-line summary.
    pub fn summary(mut self, s: &'static str) -> Op {
        self.summary = s;
        self
    }

    /// A longer description (markdown).
    pub fn describe(mut self, d: &'static str) -> Op {
        self.description = Some(d);
        self
    }

    /// Query parameters: the properties of `Q` (may be given more than once).
    pub fn query<Q: JsonSchema>(mut self) -> Op {
        self.query.push(schema_of::<Q>);
        self
    }

    /// Filter terms a list accepts (each also a query parameter; `q` takes them as one line).
    pub fn filter(mut self, keys: &'static [&'static str]) -> Op {
        self.filter_keys = keys;
        self
    }

    /// A JSON request body of type `T`.
    pub fn body<T: JsonSchema>(mut self) -> Op {
        self.body = Some(schema_of::<T>);
        self
    }

    /// A JSON response of type `T` with `status`.
    pub fn ok<T: JsonSchema>(mut self, status: u16, description: &'static str) -> Op {
        self.success.push(Success::Json(status, description, schema_of::<T>));
        self
    }

    /// A non-JSON response (PEM, Prometheus text, an event stream).
    pub fn ok_text(mut self, status: u16, content_type: &'static str, description: &'static str) -> Op {
        self.success.push(Success::Text(status, content_type, description));
        self
    }

    /// A response with no body.
    pub fn empty(mut self, status: u16, description: &'static str) -> Op {
        self.success.push(Success::Empty(status, description));
        self
    }

    /// Needs no credential.
    pub fn public(mut self) -> Op {
        self.public = true;
        self
    }

    /// A larger body limit than the server's `--api-max-body` for this route (an agent's
    /// discovery report carries config files).
    pub fn body_limit(mut self, bytes: usize) -> Op {
        self.body_limit = Some(bytes);
        self
    }
}

/// The route table under construction.
pub struct Api {
    router: Router<ApiState>,
    ops: Vec<Op>,
}

impl Default for Api {
    fn default() -> Self {
        Api::new()
    }
}

impl Api {
    /// An empty table.
    pub fn new() -> Api {
        Api {
            router: Router::new(),
            ops: Vec::new(),
        }
    }

    /// Registers `handler` for `op`.
    ///
    /// # Panics
    /// On a path axum refuses or a method registered twice for one path: a programming error,
    /// caught by the route-table unit test.
    pub fn add<H, T>(&mut self, op: Op, handler: H)
    where
        H: Handler<T, ApiState>,
        T: 'static,
    {
        let router = std::mem::take(&mut self.router);
        let mut route = on(op.method.filter(), handler);
        if let Some(n) = op.body_limit {
            route = route.layer(axum::extract::DefaultBodyLimit::max(n));
        }
        self.router = router.route(op.path, route);
        self.ops.push(op);
    }

    /// The router (handlers still need the [`ApiState`]); unknown paths answer a problem.
    pub fn into_router(self) -> Router<ApiState> {
        self.router
            .fallback(|uri: axum::http::Uri| async move { Problem::no_route(uri.path()) })
    }

    /// The operations, in registration order.
    pub fn ops(&self) -> impl Iterator<Item = (&'static str, &'static str, &'static str)> + '_ {
        self.ops.iter().map(|o| (o.method.name(), o.path, o.id))
    }

    /// The OpenAPI 3.1 document.
    pub fn document(&self) -> Value {
        let mut settings = SchemaSettings::draft2020_12();
        settings.definitions_path = "/components/schemas".into();
        settings.meta_schema = None;
        let mut g = settings.into_generator();
        let problem = g.subschema_for::<Problem>();
        let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for op in &self.ops {
            let mut o = Map::new();
            o.insert("operationId".into(), json!(op.id));
            o.insert("tags".into(), json!([op.tag]));
            o.insert("summary".into(), json!(op.summary));
            if let Some(d) = op.description {
                o.insert("description".into(), json!(d));
            }
            let mut params = Vec::new();
            for name in path_params(op.path) {
                // `{id}` is a row id; any other path parameter (a setting's `{key}`) is text.
                let schema = if name == "id" {
                    json!({"type": "integer", "format": "int64", "minimum": 1})
                } else {
                    json!({"type": "string", "minLength": 1})
                };
                params.push(json!({"name": name, "in": "path", "required": true, "schema": schema}));
            }
            for q in &op.query {
                let s = q(&mut g);
                let resolved = resolve(&g, &s);
                let required: Vec<String> = resolved
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                if let Some(props) = resolved.get("properties").and_then(Value::as_object) {
                    for (name, schema) in props {
                        let mut schema = schema.clone();
                        let description = schema.as_object_mut().and_then(|m| m.remove("description"));
                        let mut p =
                            json!({"name": name, "in": "query", "required": required.contains(name), "schema": schema});
                        if let Some(d) = description {
                            p["description"] = d;
                        }
                        params.push(p);
                    }
                }
            }
            for key in op.filter_keys {
                params.push(json!({
                    "name": key, "in": "query", "required": false,
                    "description": format!("Filter term `{key}:` (the same grammar as the CLI's flags and the console's filter line)"),
                    "schema": {"type": "string"}
                }));
            }
            if !params.is_empty() {
                o.insert("parameters".into(), Value::Array(params));
            }
            if let Some(b) = op.body {
                let s = b(&mut g);
                o.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {"application/json": {"schema": s.clone().to_value()}}}),
                );
            }
            let mut responses = Map::new();
            for s in &op.success {
                let (code, v) = match s {
                    Success::Json(code, d, f) => {
                        let schema = f(&mut g);
                        (
                            code,
                            json!({"description": d, "content": {"application/json": {"schema": schema.clone().to_value()}}}),
                        )
                    }
                    Success::Text(code, ct, d) => (
                        code,
                        json!({"description": d, "content": {*ct: {"schema": {"type": "string"}}}}),
                    ),
                    Success::Empty(code, d) => (code, json!({"description": d})),
                };
                responses.insert(code.to_string(), v);
            }
            responses.insert(
                "default".into(),
                json!({"description": "An error, as an RFC 9457 problem document", "content": {"application/problem+json": {"schema": problem.clone().to_value()}}}),
            );
            o.insert("responses".into(), Value::Object(responses));
            if op.public {
                o.insert("security".into(), json!([]));
            }
            paths
                .entry(op.path.to_string())
                .or_default()
                .insert(op.method.name().into(), Value::Object(o));
        }
        let schemas: Map<String, Value> = g.take_definitions(true).into_iter().collect();
        json!({
            "openapi": "3.1.0",
            "info": {
                "title": "certdeck API",
                "version": env!("CARGO_PKG_VERSION"),
                "description": "The whole life of TLS certificates for a fleet of web servers. Every operation is the same service call as the CLI's and the console's, with the same roles and owner checks. Errors are RFC 9457 problem documents; lists are keyset-paged with an opaque cursor.",
                "license": {"name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0"}
            },
            "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
            "servers": [{"url": "/"}],
            "security": [{"bearer": []}],
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "bearer": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "`<api_key>:<secret>` of an API key, or the access token of a session (POST /api/v1/login)"
                    }
                }
            }
        })
    }
}

/// `{name}` segments of a path.
fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

/// A schema with a top-level `$ref` followed to its definition.
fn resolve(g: &SchemaGenerator, s: &Schema) -> Value {
    let v = s.clone().to_value();
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        if let Some(name) = r.rsplit('/').next() {
            if let Some(def) = g.definitions().get(name) {
                return def.clone();
            }
        }
    }
    v
}
