//! The HTTP front of the lab. [`route`] turns a request into a [`Req`] (or answers discovery,
//! health and the auth endpoints itself); [`read`], [`write`] and [`apply`] serve the verbs on
//! objects, [`watch`] the watches; every failure is an [`ApiError`] rendered as a `Status`.

mod apply;
mod body;
mod error;
mod read;
mod route;
mod watch;
mod write;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};

pub(crate) use error::{ApiError, GroupKind, GroupResource};
pub(super) use write::create_value;

use super::registry::ResourceType;
use super::{LabState, RequestRecord};

type Resp = Response<Body>;

/// A response body plus the API warnings that go with it.
type Out = (Value, Vec<String>);

/// What a request on objects of one resource type does, from its method, path and query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

/// The query parameters of a request, in the order sent; the first of a repeated key counts,
/// as with Go's `url.Values.Get`.
#[derive(Debug, Default, Clone)]
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Self {
        Params(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// Whether the request is a dry run (any `dryRun` value: the only one a server accepts is `All`).
    fn dry_run(&self) -> bool {
        self.get("dryRun").is_some()
    }
    /// The `fieldManager`, if the request names a non-empty one.
    fn field_manager(&self) -> Option<&str> {
        self.get("fieldManager").filter(|m| !m.is_empty())
    }
    /// Adds a parameter after those sent (so one the client sent still wins).
    fn push(&mut self, key: &str, value: String) {
        self.0.push((key.to_string(), value));
    }
    fn include_object(&self) -> &str {
        self.get("includeObject").unwrap_or("Metadata")
    }
}

/// One request on objects of one resource type, its path checked against what the type serves.
struct Req {
    verb: Verb,
    rt: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    /// The subresource (only `status` gets this far).
    sub: Option<String>,
    params: Params,
    content_type: String,
    /// Whether the client asked for kubectl's table (`Accept: …;as=Table`).
    table: bool,
}

impl Req {
    /// The namespace, or `""` for a cluster-scoped type or an all-namespaces request.
    fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }
    fn sub(&self) -> Option<&str> {
        self.sub.as_deref()
    }
}

fn json_resp(code: u16, v: &Value) -> Resp {
    bytes_resp(code, serde_json::to_vec(v).unwrap_or_default())
}

fn bytes_resp(code: u16, body: Vec<u8>) -> Resp {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

/// A `Warning: 299 - "text"` header, as the server's warning recorder writes it.
fn add_warning(resp: &mut Resp, text: &str) {
    if let Ok(h) = format!("299 - {text:?}").parse() {
        resp.headers_mut().append(header::WARNING, h);
    }
}

/// An object stamped with the `apiVersion` and `kind` of the version it is served at.
fn with_gvk(rt: &ResourceType, mut obj: Value) -> Value {
    obj["apiVersion"] = json!(rt.api_version());
    obj["kind"] = json!(rt.kind);
    obj
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// [`handle`], with a panic turned into a 500 rather than a dropped connection: the last line
/// of defence, as the API server's panic recovery is; every known cause is fixed where it arises.
pub(crate) async fn handle_catching_panics(state: Arc<LabState>, req: Request<Body>) -> Resp {
    use futures::FutureExt;
    let what = format!("{} {}", req.method(), req.uri());
    match std::panic::AssertUnwindSafe(handle(state, req))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(p) => {
            let why = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(request = %what, panic = %why, "lab request panicked");
            ApiError::Internal(
                "This request caused apiserver to panic. Look in the logs for details.".into(),
            )
            .into_response()
        }
    }
}

/// Serves one request (after any fault a test injected for it) and records it in the log.
pub async fn handle(state: Arc<LabState>, req: Request<Body>) -> Resp {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let resp = match state.take_fault(&method, &path) {
        Some(f) => {
            if let Some(d) = f.delay {
                tokio::time::sleep(d).await;
            }
            match f.status {
                Some(code) => ApiError::Injected { code }.into_response(),
                None => route::route(&state, req).await,
            }
        }
        None => route::route(&state, req).await,
    };
    state.log(RequestRecord {
        method: method.to_string(),
        path,
        query,
        status: resp.status().as_u16(),
        user_agent,
    });
    resp
}
