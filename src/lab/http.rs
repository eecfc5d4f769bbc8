//! The HTTP front of the lab: routing, verbs, Status errors, watches.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method, Request, Response, StatusCode};
use futures::SinkExt;
use serde_json::{json, Value};

use super::registry::{Generation, ResourceType};
use super::store::{Event, EventType, Store};
use super::{
    auth, decode, defaults, discovery, paging, patch, protobuf, query, rbac, schema, ssa, table,
    LabState, RequestRecord,
};

type Resp = Response<Body>;

/// An API error rendered as a `Status` object.
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: Value::Null,
        }
    }
    /// A 422 Invalid with one cause per field error, which kubectl prints line by line.
    fn invalid(rt: &ResourceType, name: &str, field_errors: &[String]) -> Self {
        let qualified_kind = if rt.group.is_empty() {
            rt.kind.clone()
        } else {
            format!("{}.{}", rt.kind, rt.group)
        };
        let causes: Vec<Value> = field_errors
            .iter()
            .map(|e| {
                let (field, msg) = e.split_once(": ").unwrap_or(("", e));
                let reason = if msg.starts_with("Unsupported value") {
                    "FieldValueNotSupported"
                } else if msg.starts_with("Required value") {
                    "FieldValueRequired"
                } else if msg.starts_with("Forbidden") {
                    "FieldValueForbidden"
                } else {
                    "FieldValueInvalid"
                };
                json!({"reason": reason, "message": msg, "field": field})
            })
            .collect();
        let mut details = json!({"name": name, "kind": rt.kind, "causes": causes});
        if !rt.group.is_empty() {
            details["group"] = json!(rt.group);
        }
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!(
                "{qualified_kind} {name:?} is invalid: {}",
                field_errors.join(", ")
            ),
            details,
        }
    }

    fn with(mut self, rt: &ResourceType, name: &str) -> Self {
        let mut d = json!({"name": name, "kind": rt.plural});
        if !rt.group.is_empty() {
            d["group"] = json!(rt.group);
        }
        self.details = d;
        self
    }
    pub fn status(&self) -> Value {
        let mut s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code});
        if !self.details.is_null() {
            s["details"] = self.details.clone();
        }
        s
    }
}

fn qualified(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.plural.clone()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    }
}

fn not_found(rt: &ResourceType, name: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!("{} \"{name}\" not found", qualified(rt)),
    )
    .with(rt, name)
}

fn json_resp(code: u16, v: &Value) -> Resp {
    let body = serde_json::to_vec(v).unwrap_or_default();
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

fn bytes_resp(code: u16, body: Vec<u8>) -> Resp {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

fn err_resp(e: ApiError) -> Resp {
    json_resp(e.code, &e.status())
}

/// A parsed resource request path.
#[derive(Debug, Default)]
struct Target {
    group: String,
    version: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    sub: Option<String>,
}

fn parse_target(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return None,
    };
    let mut t = Target {
        group,
        version,
        ..Default::default()
    };
    match rest {
        [] => return None,
        ["namespaces", ns, plural, tail @ ..]
            if !(tail.is_empty() && ["status", "finalize"].contains(plural)) =>
        {
            t.namespace = Some(ns.to_string());
            t.plural = plural.to_string();
            t.name = tail.first().map(|s| s.to_string());
            t.sub = tail.get(1).map(|s| s.to_string());
            if tail.len() > 2 {
                return None;
            }
        }
        [plural, tail @ ..] => {
            t.plural = plural.to_string();
            t.name = tail.first().map(|s| s.to_string());
            t.sub = tail.get(1).map(|s| s.to_string());
            if tail.len() > 2 {
                return None;
            }
        }
    }
    Some(t)
}

fn params(q: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(ps: &'a [(String, String)], k: &str) -> Option<&'a str> {
    ps.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.as_str())
}

fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').next().unwrap_or_default().contains("as=Table"))
}

/// [`handle`], with a panic turned into a 500 rather than a dropped connection: the last line
/// of defence, as the API server's panic recovery is; every known cause is fixed where it arises.
pub async fn handle_catching_panics(state: Arc<LabState>, req: Request<Body>) -> Resp {
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
            err_resp(ApiError::new(
                500,
                "InternalError",
                "This request caused apiserver to panic. Look in the logs for details.",
            ))
        }
    }
}

pub async fn handle(state: Arc<LabState>, req: Request<Body>) -> Resp {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query_s = req.uri().query().unwrap_or_default().to_string();
    let ua = req
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
                Some(code) => err_resp(ApiError::new(
                    code,
                    reason_for(code),
                    format!("injected fault: {code}"),
                )),
                None => route(&state, req).await,
            }
        }
        None => route(&state, req).await,
    };
    state.log(RequestRecord {
        method: method.to_string(),
        path,
        query: query_s,
        status: resp.status().as_u16(),
        user_agent: ua,
    });
    resp
}

fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

async fn route(state: &Arc<LabState>, req: Request<Body>) -> Resp {
    let path = req.uri().path().to_string();
    // Authentication, impersonation, then authorization, before anything else is looked at.
    let user = match auth::authenticate(state, req.headers())
        .and_then(|u| auth::impersonate(state, u, req.headers()))
    {
        Ok(u) => u,
        Err(e) => return err_resp(e),
    };
    let attrs = rbac::Attributes::from_request(
        req.method().as_str(),
        &path,
        req.uri().query().unwrap_or_default(),
    );
    if let Err(e) = auth::authorize(state, &user, &attrs) {
        return err_resp(e);
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    if !protobuf::json_acceptable(accept) {
        return err_resp(ApiError::new(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json",
        ));
    }
    if let Some(ep) = auth::endpoint(&path) {
        return auth_endpoint(state, &user, ep, req).await;
    }
    let types = state.types();
    match path.trim_end_matches('/') {
        "/version" => return json_resp(200, &discovery::version()),
        "/healthz" | "/livez" | "/readyz" => {
            return Response::builder()
                .body(Body::from("ok"))
                .unwrap_or_default();
        }
        "/api" => return json_resp(200, &discovery::api_versions(&state.addr.to_string())),
        "/apis" => return json_resp(200, &discovery::api_group_list(&types)),
        "/openapi/v3" => {
            return json_resp(200, &discovery::openapi_root(&types, &state.openapi_hash()))
        }
        _ => {}
    }
    if let Some(gv) = path.strip_prefix("/openapi/v3/") {
        let (g, v) = match gv
            .trim_matches('/')
            .split('/')
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["api", v] => (String::new(), v.to_string()),
            ["apis", g, v] => (g.to_string(), v.to_string()),
            _ => {
                return err_resp(ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ))
            }
        };
        return match discovery::openapi_gv(&types, &g, &v) {
            Some(doc) => json_resp(200, &doc),
            None => err_resp(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )),
        };
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["api", v] => {
            return discovery::resource_list(&types, "", v)
                .map(|d| json_resp(200, &d))
                .unwrap_or_else(|| {
                    err_resp(ApiError::new(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    ))
                })
        }
        ["apis", g] => {
            return discovery::api_group(&types, g)
                .map(|d| json_resp(200, &d))
                .unwrap_or_else(|| {
                    err_resp(ApiError::new(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    ))
                })
        }
        ["apis", g, v] => {
            return discovery::resource_list(&types, g, v)
                .map(|d| json_resp(200, &d))
                .unwrap_or_else(|| {
                    err_resp(ApiError::new(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    ))
                })
        }
        _ => {}
    }
    let Some(t) = parse_target(&path) else {
        return err_resp(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    };
    let Some(rt) = types
        .iter()
        .find(|r| r.group == t.group && r.version == t.version && r.plural == t.plural)
        .cloned()
    else {
        return err_resp(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    };
    if rt.namespaced != (t.namespace.is_some())
        && !(rt.namespaced && t.name.is_none() && req.method() == Method::GET)
    {
        return err_resp(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    if let Some(sub) = &t.sub {
        if !(sub == "status" && rt.status_subresource) {
            return err_resp(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
    }
    // Every request to a deprecated version carries the CRD's deprecation warning.
    let deprecation = rt.deprecation_warning.clone();
    let mut resp = resource(state, req, &t, rt).await;
    if let Some(w) = deprecation {
        add_warning(&mut resp, &w);
    }
    resp
}

/// A `Warning: 299 - "text"` header, as the server's warning recorder writes it.
fn add_warning(resp: &mut Resp, text: &str) {
    if let Ok(h) = format!("299 - {text:?}").parse() {
        resp.headers_mut().append(header::WARNING, h);
    }
}

/// A request for objects of one resource type, its path already checked.
async fn resource(state: &Arc<LabState>, req: Request<Body>, t: &Target, rt: ResourceType) -> Resp {
    let mut ps = params(req.uri().query());
    let table = wants_table(req.headers());
    let method = req.method().clone();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    // Writes other than apply are owned by the fieldManager, else by the User-Agent's product.
    if !content_type.starts_with("application/apply-patch")
        && param(&ps, "fieldManager").is_none_or(str::is_empty)
    {
        let ua = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        ps.push(("fieldManager".into(), ssa::manager_from_user_agent(ua)));
    }
    let too_large = || {
        err_resp(ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!(
                "Request entity too large: limit is {}",
                super::limits::MAX_BODY_BYTES
            ),
        ))
    };
    let body = match read_body(req.into_body()).await {
        Ok(Some(b)) => b,
        Ok(None) => return too_large(),
        Err(e) => {
            return err_resp(ApiError::new(
                400,
                "BadRequest",
                format!("reading request body: {e}"),
            ))
        }
    };
    let ns = t.namespace.clone().unwrap_or_default();
    let result = match (&method, &t.name) {
        (&Method::GET, None) if matches!(param(&ps, "watch"), Some("true" | "1")) => {
            return watch(state, &rt, t.namespace.clone(), &ps, table)
        }
        (&Method::GET, None) if !table => {
            return match list_json(state, &rt, t.namespace.as_deref(), &ps) {
                Ok(body) => bytes_resp(200, body),
                Err(e) => err_resp(e),
            }
        }
        (&Method::GET, None) => list_table(state, &rt, t.namespace.as_deref(), &ps),
        (&Method::GET, Some(name)) => get(state, &rt, &ns, name, table, &ps),
        (&Method::POST, None) => {
            create(state, &rt, &ns, &body, &content_type, &ps).map(|v| (201, v))
        }
        (&Method::PUT, Some(name)) => update(
            state,
            &rt,
            &ns,
            name,
            t.sub.as_deref(),
            &body,
            &content_type,
            &ps,
        ),
        (&Method::PATCH, Some(name)) => patch_obj(
            state,
            &rt,
            &ns,
            name,
            t.sub.as_deref(),
            &body,
            &content_type,
            &ps,
        ),
        (&Method::DELETE, Some(name)) => delete(state, &rt, &ns, name, &ps),
        (&Method::DELETE, None) => delete_collection(state, &rt, t.namespace.as_deref(), &ps),
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )),
    };
    match result {
        Ok((code, v)) => {
            let mut r = json_resp(code, &v.0);
            for w in v.1 {
                add_warning(&mut r, &w);
            }
            r
        }
        Err(e) => err_resp(e),
    }
}

/// TokenRequest and the access reviews: create-only, computed, never stored.
async fn auth_endpoint(
    state: &Arc<LabState>,
    user: &rbac::User,
    ep: auth::Endpoint,
    req: Request<Body>,
) -> Resp {
    if req.method() != Method::POST {
        return err_resp(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let result = match axum::body::to_bytes(req.into_body(), 1 << 20).await {
        Ok(body) => {
            parse_body(&body, &content_type).and_then(|obj| auth::serve(state, user, ep, obj))
        }
        Err(e) => Err(ApiError::new(
            400,
            "BadRequest",
            format!("reading request body: {e}"),
        )),
    };
    match result {
        Ok((code, v)) => json_resp(code, &v),
        Err(e) => err_resp(e),
    }
}

/// A request body up to the API server's limit; `None` when it is larger. The rest of a large
/// body is still read (up to a bound) so that the client, still sending, gets the 413 rather
/// than a reset connection.
async fn read_body(body: Body) -> Result<Option<Bytes>, axum::Error> {
    use futures::StreamExt;
    const DRAIN: usize = 64 << 20;
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        seen += chunk.len();
        if seen <= super::limits::MAX_BODY_BYTES {
            buf.extend_from_slice(&chunk);
        } else {
            buf = Vec::new();
            if seen > DRAIN {
                break;
            }
        }
    }
    Ok((seen <= super::limits::MAX_BODY_BYTES).then(|| Bytes::from(buf)))
}

/// A response body plus API warnings.
type Out = (Value, Vec<String>);

fn with_gvk(rt: &ResourceType, mut obj: Value) -> Value {
    obj["apiVersion"] = json!(rt.api_version());
    obj["kind"] = json!(rt.kind);
    obj
}

/// A stored object serialized as the requested version's kind, without copying it.
struct WithGvk<'a> {
    obj: &'a Value,
    api_version: &'a str,
    kind: &'a str,
}

impl serde::Serialize for WithGvk<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(fields) = self.obj.as_object() else {
            return self.obj.serialize(s);
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("apiVersion", self.api_version)?;
        m.serialize_entry("kind", self.kind)?;
        for (k, v) in fields {
            if k != "apiVersion" && k != "kind" {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

#[derive(serde::Serialize)]
struct ListDoc<'a> {
    kind: &'a str,
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    metadata: ListMeta<'a>,
    items: Vec<WithGvk<'a>>,
}

#[derive(serde::Serialize)]
struct ListMeta<'a> {
    #[serde(rename = "resourceVersion")]
    resource_version: &'a str,
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    continue_: Option<String>,
    #[serde(rename = "remainingItemCount", skip_serializing_if = "Option::is_none")]
    remaining_item_count: Option<usize>,
}

/// The objects a LIST asks for (selectors, then the page), and the resourceVersion it reports.
fn select_page<'a>(
    store: &'a Store,
    rt: &ResourceType,
    ns: Option<&'a str>,
    ps: &[(String, String)],
) -> Result<(paging::Page<'a>, String), ApiError> {
    let (lq, fq) = list_queries(rt, ps)?;
    let (limit, from) = list_chunking(ps)?;
    check_continue(from.as_ref(), store.compacted_rv())?;
    let page = paging::page(
        store
            .list(&rt.store_key(), ns)
            .filter(|o| lq.matches(o) && fq.matches(o)),
        limit,
        from.as_ref(),
        store.resource_version(),
    );
    let rv = from.map_or(store.resource_version(), |c| c.rv).to_string();
    Ok((page, rv))
}

/// `limit` and `continue` of a LIST.
fn list_chunking(
    ps: &[(String, String)],
) -> Result<(Option<usize>, Option<paging::Continue>), ApiError> {
    let limit = match param(ps, "limit") {
        None | Some("") => None,
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::new(400, "BadRequest", format!("invalid limit {l:?}")))?,
        ),
    };
    let from = match param(ps, "continue") {
        None | Some("") => None,
        Some(t) => Some(paging::Continue::decode(t).ok_or_else(|| {
            ApiError::new(
                400,
                "BadRequest",
                "continue key is not valid: malformed continue token",
            )
        })?),
    };
    Ok((limit, from))
}

/// A continue token from before the retained history cannot be honoured (etcd compacted it).
fn check_continue(from: Option<&paging::Continue>, compacted: u64) -> Result<(), ApiError> {
    match from {
        Some(c) if c.rv < compacted => Err(ApiError::new(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result. \
You can start a new list without the continue parameter.",
        )),
        _ => Ok(()),
    }
}

/// A plain (non-table) LIST, serialized straight from the store: a 10,000-Service list once spent
/// most of its time deep-copying every object before writing it out.
fn list_json(
    state: &Arc<LabState>,
    rt: &ResourceType,
    ns: Option<&str>,
    ps: &[(String, String)],
) -> Result<Vec<u8>, ApiError> {
    let api_version = rt.api_version();
    let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    let (page, rv) = select_page(&store, rt, ns, ps)?;
    let doc = ListDoc {
        kind: &rt.list_kind,
        api_version: &api_version,
        metadata: ListMeta {
            resource_version: &rv,
            continue_: page.next.as_ref().map(paging::Continue::encode),
            remaining_item_count: page.remaining,
        },
        items: page
            .items
            .into_iter()
            .map(|obj| WithGvk {
                obj,
                api_version: &api_version,
                kind: &rt.kind,
            })
            .collect(),
    };
    serde_json::to_vec(&doc)
        .map_err(|e| ApiError::new(500, "InternalError", format!("encoding the list: {e}")))
}

/// The `fieldSelector` of a request: well-formed, and naming only fields the kind indexes.
fn field_query(rt: &ResourceType, ps: &[(String, String)]) -> Result<query::FieldQuery, ApiError> {
    query::FieldQuery::parse(param(ps, "fieldSelector").unwrap_or_default())
        .and_then(|q| q.check(&rt.field_selectors()))
        .map_err(|e| ApiError::new(400, "BadRequest", e))
}

fn list_queries(
    rt: &ResourceType,
    ps: &[(String, String)],
) -> Result<(query::LabelQuery, query::FieldQuery), ApiError> {
    let lq = query::LabelQuery::parse(param(ps, "labelSelector").unwrap_or_default())
        .map_err(|e| ApiError::new(400, "BadRequest", e))?;
    let fq = field_query(rt, ps)?;
    Ok((lq, fq))
}

/// A LIST as kubectl's table (`Accept: …;as=Table`); plain LISTs go through [`list_json`].
fn list_table(
    state: &Arc<LabState>,
    rt: &ResourceType,
    ns: Option<&str>,
    ps: &[(String, String)],
) -> Result<(u16, Out), ApiError> {
    let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    let (page, rv) = select_page(&store, rt, ns, ps)?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|o| with_gvk(rt, (*o).clone()))
        .collect();
    let (next, remaining) = (page.next, page.remaining);
    drop(store);
    let mut t = table::to_table(
        rt,
        &items,
        &rv,
        param(ps, "includeObject").unwrap_or("Metadata"),
    );
    if let Some(next) = &next {
        t["metadata"]["continue"] = json!(next.encode());
        t["metadata"]["remainingItemCount"] = json!(remaining);
    }
    Ok((200, (t, vec![])))
}

fn get(
    state: &Arc<LabState>,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    table: bool,
    ps: &[(String, String)],
) -> Result<(u16, Out), ApiError> {
    let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    let obj = store
        .get(&rt.store_key(), ns, name)
        .cloned()
        .ok_or_else(|| not_found(rt, name))?;
    let rv = store.resource_version().to_string();
    drop(store);
    let obj = with_gvk(rt, obj);
    if table {
        return Ok((
            200,
            (
                table::to_table(
                    rt,
                    &[obj],
                    &rv,
                    param(ps, "includeObject").unwrap_or("Metadata"),
                ),
                vec![],
            ),
        ));
    }
    Ok((200, (obj, vec![])))
}

fn parse_body(body: &Bytes, content_type: &str) -> Result<Value, ApiError> {
    if protobuf::is_protobuf(content_type) {
        return protobuf::decode(body).map_err(|e| match e {
            protobuf::ProtoError::UnsupportedKind { .. } => {
                ApiError::new(415, "UnsupportedMediaType", e.to_string())
            }
            e => ApiError::new(
                400,
                "BadRequest",
                format!("the object provided is unrecognized ({e})"),
            ),
        });
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::new(400, "BadRequest", format!("body is not UTF-8: {e}")))?;
    if content_type.contains("yaml") {
        serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::new(400, "BadRequest", format!("error decoding YAML: {e}")))
    } else {
        serde_json::from_str::<Value>(text).map_err(|e| {
            ApiError::new(
                400,
                "BadRequest",
                format!("the object provided is unrecognized (JSON decode error: {e})"),
            )
        })
    }
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// What decoding a create or update body into the kind's type rejects (400, before validation).
fn check_body(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let bad = |m: String| ApiError::new(400, "BadRequest", m);
    if !obj.is_object() {
        let summary: String = serde_json::to_string(obj)
            .unwrap_or_default()
            .chars()
            .take(30)
            .collect();
        return Err(bad(format!(
            "the object provided is unrecognized (decoding {summary}): {}",
            decode::check(&rt.group, &rt.kind, obj)
                .err()
                .unwrap_or_default()
        )));
    }
    let kind = obj["kind"].as_str().unwrap_or(&rt.kind);
    let av = obj["apiVersion"].as_str().unwrap_or_default();
    let version = av.rsplit('/').next().unwrap_or_default();
    if kind != rt.kind {
        // The body decodes as its own kind, which does not convert to the endpoint's.
        let internal = rt
            .group
            .split('.')
            .next()
            .filter(|g| !g.is_empty())
            .unwrap_or("core");
        return Err(bad(format!("{kind} in version {version:?} cannot be handled as a {}: converting ({version}.{kind}) to ({internal}.{}): unknown conversion", rt.kind, rt.kind)));
    }
    if let Err(e) = decode::check(&rt.group, &rt.kind, obj) {
        return Err(bad(format!(
            "{} in version {:?} cannot be handled as a {}: {e}",
            rt.kind, rt.version, rt.kind
        )));
    }
    if !av.is_empty() && av != rt.api_version() {
        return Err(bad(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    Ok(())
}

/// Validation, defaulting and the kind-specific rules shared by create and update.
fn admit(
    state: &Arc<LabState>,
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
    ps: &[(String, String)],
) -> Result<Vec<String>, ApiError> {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !obj.is_object() || !obj["metadata"].is_object() {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "the object provided is unrecognized: missing metadata",
        ));
    }
    let mut warnings = vec![];
    if let Some(s) = &rt.schema {
        let out = schema::validate(s, obj);
        let strict = param(ps, "fieldValidation") == Some("Strict");
        if !out.unknown.is_empty() {
            if strict {
                let list = out
                    .unknown
                    .iter()
                    .map(|u| format!("unknown field {u:?}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ApiError::new(
                    400,
                    "BadRequest",
                    format!("{} in version {:?} cannot be handled as a {}: strict decoding error: {list}", rt.kind, rt.version, rt.kind),
                ));
            }
            if param(ps, "fieldValidation") != Some("Ignore") {
                warnings.extend(out.unknown.iter().map(|u| format!("unknown field {u:?}")));
            }
        }
        if !out.errors.is_empty() {
            return Err(ApiError::invalid(rt, &name, &out.errors));
        }
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "services") => {
            let mut st = state.allocators.lock().unwrap_or_else(|p| p.into_inner());
            defaults::service(&mut st, obj, old)
                .map_err(|errs| ApiError::invalid(rt, &name, &errs))?;
        }
        ("", "namespaces") => defaults::namespace(obj),
        ("", "secrets") => defaults::secret(obj),
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let errs = super::registry::crd_name_errors(obj, old.is_none());
            if !errs.is_empty() {
                return Err(ApiError::invalid(rt, &name, &errs));
            }
            if super::registry::from_crd(obj).is_empty() {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    format!("CustomResourceDefinition.apiextensions.k8s.io {name:?} is invalid: spec: Required value: group, names.kind, names.plural and a served version are required"),
                ));
            }
            obj["status"]["acceptedNames"] = obj["spec"]["names"].clone();
            obj["status"]["conditions"] = json!([{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now_rfc3339()}]);
        }
        _ => {}
    }
    Ok(warnings)
}

fn create(
    state: &Arc<LabState>,
    rt: &ResourceType,
    ns: &str,
    body: &Bytes,
    content_type: &str,
    ps: &[(String, String)],
) -> Result<Out, ApiError> {
    let obj = parse_body(body, content_type)?;
    create_value(state, rt, ns, obj, ps)
}

pub(super) fn create_value(
    state: &Arc<LabState>,
    rt: &ResourceType,
    ns: &str,
    obj: Value,
    ps: &[(String, String)],
) -> Result<Out, ApiError> {
    create_with(state, rt, ns, obj, ps, None)
}

/// The entries of `metadata.managedFields` after a write, and the time it happened.
fn ssa_write<'a>(
    rt: &'a ResourceType,
    api_version: &'a str,
    sub: Option<&'a str>,
    now: &'a str,
) -> ssa::Write<'a> {
    let types = rt
        .schema
        .as_ref()
        .map_or(ssa::Types::builtin(), ssa::Types::crd);
    // What each endpoint resets is nobody's to own there (the strategies' reset fields).
    let ignored = match (rt.status_subresource, sub) {
        (true, Some("status")) => ssa::top_fields(&["spec"]),
        (true, _) => ssa::top_fields(&["status"]),
        _ => ssa::FieldSet::default(),
    };
    ssa::Write {
        types,
        api_version,
        subresource: sub.unwrap_or_default(),
        ignored,
        now,
    }
}

/// Ownership after a non-apply write by the request's manager, onto `obj`'s metadata.
fn record_update(
    rt: &ResourceType,
    sub: Option<&str>,
    old: &Value,
    new: &mut Value,
    ps: &[(String, String)],
) -> Result<Vec<ssa::Entry>, ApiError> {
    let sent = new["metadata"]
        .as_object_mut()
        .and_then(|m| m.remove("managedFields"))
        .unwrap_or(Value::Null);
    let base = ssa::base_entries(&sent, &old["metadata"]["managedFields"], sub.is_some())
        .map_err(|e| ApiError::new(400, "BadRequest", format!("invalid managedFields: {e}")))?;
    let mut old = old.clone();
    if let Some(m) = old["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    let (now, api_version) = (now_rfc3339(), rt.api_version());
    let w = ssa_write(rt, &api_version, sub, &now);
    let manager = param(ps, "fieldManager").unwrap_or("lbctl-lab");
    Ok(ssa::update(&w, base, &old, new, manager))
}

fn set_managed_fields(obj: &mut Value, entries: &[ssa::Entry]) {
    let encoded = ssa::encode(entries);
    if let Some(m) = obj["metadata"].as_object_mut() {
        if encoded.as_array().is_some_and(|a| !a.is_empty()) {
            m.insert("managedFields".into(), encoded);
        } else {
            m.remove("managedFields");
        }
    }
}

/// A create, with the ownership an apply computed (`applied`) or that of an update.
fn create_with(
    state: &Arc<LabState>,
    rt: &ResourceType,
    ns: &str,
    mut obj: Value,
    ps: &[(String, String)],
    applied: Option<Vec<ssa::Entry>>,
) -> Result<Out, ApiError> {
    check_body(rt, &obj)?;
    if obj["metadata"].is_null() {
        obj["metadata"] = json!({});
    }
    let mut name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if name.is_empty() {
        if let Some(g) = obj["metadata"]["generateName"].as_str() {
            let n = state
                .store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .resource_version();
            name = format!("{g}{:05x}", (n * 2654435761) % 0xfffff);
        }
    }
    if name.is_empty() {
        return Err(ApiError::new(422, "Invalid", format!("{} \"\" is invalid: metadata.name: Required value: name or generateName is required", rt.kind)));
    }
    // RBAC objects are named as path segments (`system:discovery`), everything else as DNS.
    let rbac_name_ok = rt.group == "rbac.authorization.k8s.io"
        && !name.contains(['/', '%'])
        && name != "."
        && name != "..";
    if !rbac_name_ok && !is_dns_subdomain(&name) {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!("{} {name:?} is invalid: metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character", rt.kind),
        ));
    }
    if rt.namespaced {
        match obj["metadata"]["namespace"].as_str() {
            Some(bns) if bns != ns => {
                return Err(ApiError::new(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"))
            }
            _ => obj["metadata"]["namespace"] = json!(ns),
        }
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    obj["metadata"]["name"] = json!(name);
    let entries = match applied {
        Some(e) => e,
        None => record_update(rt, None, &json!({}), &mut obj, ps)?,
    };
    let warnings = admit(state, rt, &mut obj, None, ps)?;
    round_trip(rt, &mut obj)?;
    let mut store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    if rt.namespaced
        && store
            .get(&("".into(), "namespaces".into()), "", ns)
            .is_none()
    {
        return Err(
            ApiError::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
                .with(&state.builtin("namespaces"), ns),
        );
    }
    if store.get(&rt.store_key(), ns, &name).is_some() {
        return Err(ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(rt)),
        )
        .with(rt, &name));
    }
    let uid = store.next_uid();
    let meta = &mut obj["metadata"];
    meta["uid"] = json!(uid);
    meta["creationTimestamp"] = json!(now_rfc3339());
    if let Some(m) = meta.as_object_mut() {
        m.remove("resourceVersion");
        m.remove("generateName");
    }
    set_managed_fields(&mut obj, &entries);
    if rt.generation != Generation::None {
        obj["metadata"]["generation"] = json!(1);
    }
    let obj = with_gvk(rt, obj);
    if param(ps, "dryRun").is_some() {
        return Ok((obj, warnings));
    }
    let stored = store.put(&rt.store_key(), ns, &name, obj);
    Ok((stored, warnings))
}

/// The typed decode/encode a real server puts every built-in object through.
fn round_trip(rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    defaults::round_trip(&rt.group, &rt.plural, obj).map_err(|e| {
        ApiError::new(
            400,
            "BadRequest",
            format!(
                "{} in version {:?} cannot be handled as a {}: {e}",
                rt.kind, rt.version, rt.kind
            ),
        )
    })
}

/// Whether an update from `old` to `new` bumps `metadata.generation`, as the kind's strategy
/// decides (status has already been split off per the status subresource).
fn generation_moves(rt: &ResourceType, new: &Value, old: &Value) -> bool {
    match rt.generation {
        Generation::None => false,
        Generation::Spec => new["spec"] != old["spec"],
        Generation::NonMetadata => {
            let content = |o: &Value| -> serde_json::Map<String, Value> {
                o.as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| {
                        let skipped = matches!(k.as_str(), "metadata" | "apiVersion" | "kind")
                            || (rt.status_subresource && *k == "status");
                        !skipped
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };
            content(new) != content(old)
        }
    }
}

/// Replaces an object, honouring optimistic concurrency and the status subresource split.
/// `applied`: the ownership a server-side apply computed (else the write is an update).
#[allow(clippy::too_many_arguments)]
fn replace(
    state: &Arc<LabState>,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    sub: Option<&str>,
    mut new: Value,
    ps: &[(String, String)],
    applied: Option<Vec<ssa::Entry>>,
) -> Result<Out, ApiError> {
    let old = {
        let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
        store
            .get(&rt.store_key(), ns, name)
            .cloned()
            .ok_or_else(|| not_found(rt, name))?
    };
    check_body(rt, &new)?;
    if let Some(n) = new["metadata"]["name"].as_str() {
        if n != name {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!("the name of the object ({n}) does not match the name on the URL ({name})"),
            ));
        }
    }
    if let Some(rv) = new["metadata"]["resourceVersion"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        if Some(rv) != old["metadata"]["resourceVersion"].as_str() {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!("Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", qualified(rt)),
            )
            .with(rt, name));
        }
    }
    // Writes to the main resource leave status alone and vice versa.
    if rt.status_subresource {
        if sub == Some("status") {
            let status = new["status"].clone();
            new = old.clone();
            new["status"] = status;
        } else {
            new["status"] = old["status"].clone();
        }
    }
    // Requests cannot change these (the server's BeforeUpdate); absent stays absent.
    for f in ["uid", "creationTimestamp", "generation"] {
        match old["metadata"].get(f) {
            Some(v) => new["metadata"][f] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(f);
                }
            }
        }
    }
    new["metadata"]["name"] = json!(name);
    if rt.namespaced {
        new["metadata"]["namespace"] = json!(ns);
    }
    let entries = match applied {
        Some(e) => e,
        None => record_update(rt, sub, &old, &mut new, ps)?,
    };
    let warnings = if sub == Some("status") {
        vec![]
    } else {
        admit(state, rt, &mut new, Some(&old), ps)?
    };
    round_trip(rt, &mut new)?;
    if generation_moves(rt, &new, &old) {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
        new["metadata"]["generation"] = json!(g + 1);
    }
    new = with_gvk(rt, new);
    set_managed_fields(&mut new, &entries);
    let mut cmp_new = new.clone();
    cmp_new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
    if cmp_new == with_gvk(rt, old.clone()) || param(ps, "dryRun").is_some() {
        // A no-op write does not bump the resourceVersion, as on a real server.
        return Ok((cmp_new, warnings));
    }
    let mut store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    // Re-check under the lock: a concurrent writer may have won since we read `old`.
    if store
        .get(&rt.store_key(), ns, name)
        .map(|o| &o["metadata"]["resourceVersion"])
        != Some(&old["metadata"]["resourceVersion"])
    {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", qualified(rt)),
        )
        .with(rt, name));
    }
    Ok((store.put(&rt.store_key(), ns, name, new), warnings))
}

#[allow(clippy::too_many_arguments)]
fn update(
    state: &Arc<LabState>,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    sub: Option<&str>,
    body: &Bytes,
    content_type: &str,
    ps: &[(String, String)],
) -> Result<(u16, Out), ApiError> {
    let new = parse_body(body, content_type)?;
    replace(state, rt, ns, name, sub, new, ps, None).map(|o| (200, o))
}

#[allow(clippy::too_many_arguments)]
fn patch_obj(
    state: &Arc<LabState>,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    sub: Option<&str>,
    body: &Bytes,
    content_type: &str,
    ps: &[(String, String)],
) -> Result<(u16, Out), ApiError> {
    let ct = content_type.split(';').next().unwrap_or_default().trim();
    let is_apply = ct == "application/apply-patch+yaml";
    let p = parse_body(body, if is_apply { "yaml" } else { "json" })?;
    if is_apply {
        check_apply_config(rt, ns, name, &p, ps)?;
    }
    let current = {
        let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
        store.get(&rt.store_key(), ns, name).cloned()
    };
    let Some(mut obj) = current else {
        if is_apply {
            let (mut created, entries) = server_side_apply(rt, ns, name, sub, &json!({}), &p, ps)?;
            created["metadata"]["name"] = json!(name);
            return create_with(state, rt, ns, created, ps, Some(entries)).map(|o| (201, o));
        }
        return Err(not_found(rt, name));
    };
    let mut applied = None;
    match ct {
        "application/merge-patch+json" => patch::merge_patch(&mut obj, &p),
        "application/json-patch+json" => patch::json_patch(&mut obj, &p).map_err(json_patch_error)?,
        "application/strategic-merge-patch+json" => {
            if rt.schema.is_some() {
                return Err(ApiError::new(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"));
            }
            if !p.is_object() {
                return Err(ApiError::new(
                    400,
                    "BadRequest",
                    format!("json: cannot unmarshal {} into Go value of type map[string]interface {{}}", decode::json_kind(&p)),
                ));
            }
            patch::strategic_merge_patch(&mut obj, &p)
        }
        "application/apply-patch+yaml" => {
            let (merged, entries) = server_side_apply(rt, ns, name, sub, &obj, &p, ps)?;
            obj = merged;
            applied = Some(entries);
        }
        other => {
            return Err(ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other})")))
        }
    }
    // What the patch made must still decode as the kind, or it is the patch that is invalid.
    if let Err(e) = decode::check(&rt.group, &rt.kind, &obj) {
        let shown = serde_json::to_string(&obj).unwrap_or_default();
        let mut err = ApiError::new(
            422,
            "Invalid",
            format!(" \"\" is invalid: patch: Invalid value: {shown:?}: {e}"),
        );
        err.details = json!({"causes": [{"reason": "FieldValueInvalid", "message": format!("Invalid value: {shown:?}: {e}"), "field": "patch"}]});
        return Err(err);
    }
    // A patch applies to the version it was read at unless it carries its own precondition.
    if p["metadata"]["resourceVersion"].is_null() {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
    }
    replace(state, rt, ns, name, sub, obj, ps, applied).map(|o| (200, o))
}

/// What a real server refuses in an apply configuration before merging it.
fn check_apply_config(
    rt: &ResourceType,
    ns: &str,
    name: &str,
    p: &Value,
    ps: &[(String, String)],
) -> Result<(), ApiError> {
    if param(ps, "fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::new(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"));
    }
    let bad = |m: String| ApiError::new(400, "BadRequest", m);
    if !p.is_object() {
        return Err(bad(format!("error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}", decode::json_kind(p))));
    }
    if !p["metadata"]["managedFields"].is_null() {
        return Err(bad("metadata.managedFields must be nil".into()));
    }
    let av = p["apiVersion"].as_str().unwrap_or_default();
    if av != rt.api_version() {
        return Err(bad(format!("Incorrect version specified in apply patch. Specified patch version: {av}, expected: {}", rt.api_version())));
    }
    let kind = p["kind"].as_str().unwrap_or_default();
    if kind != rt.kind {
        return Err(bad(format!(
            "Incorrect kind specified in apply patch. Specified patch kind: {kind}, expected: {}",
            rt.kind
        )));
    }
    let pname = p["metadata"]["name"].as_str().unwrap_or_default();
    if pname != name {
        return Err(bad(format!(
            "the name of the object ({pname}) does not match the name on the URL ({name})"
        )));
    }
    if let Some(pns) = p["metadata"]["namespace"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        if rt.namespaced && pns != ns {
            return Err(bad(format!("the namespace of the object ({pns}) does not match the namespace on the request ({ns})")));
        }
    }
    Ok(())
}

/// Merges an apply configuration into `live`, with ownership; conflicts are the apply's 409.
fn server_side_apply(
    rt: &ResourceType,
    ns: &str,
    name: &str,
    sub: Option<&str>,
    live: &Value,
    config: &Value,
    ps: &[(String, String)],
) -> Result<(Value, Vec<ssa::Entry>), ApiError> {
    let entries = ssa::decode(&live["metadata"]["managedFields"]).map_err(|e| {
        ApiError::new(
            500,
            "InternalError",
            format!("failed to decode managed fields: {e}"),
        )
    })?;
    let mut live = live.clone();
    if let Some(m) = live["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    let (now, api_version) = (now_rfc3339(), rt.api_version());
    let w = ssa_write(rt, &api_version, sub, &now);
    let manager = param(ps, "fieldManager").unwrap_or_default();
    let force = param(ps, "force") == Some("true");
    match ssa::apply(&w, entries, &live, config, manager, force) {
        Ok(out) => Ok(out),
        Err(ssa::ApplyError::Conflicts(c)) => {
            let causes: Vec<Value> = c
                .iter()
                .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", c.manager), "field": c.path}))
                .collect();
            let mut e = ApiError::new(409, "Conflict", ssa::conflict_message(&c));
            e.details = json!({"causes": causes});
            Err(e)
        }
        Err(ssa::ApplyError::Invalid(m)) => {
            let gvk = format!("{}/{}, Kind={}", rt.group, rt.version, rt.kind);
            Err(ApiError::new(
                500,
                "InternalError",
                format!("failed to create typed patch object ({gvk} {ns}/{name}): {m}"),
            ))
        }
    }
}

/// A JSON patch that does not decode is a 400; one whose operation fails is the 422 the server
/// builds with `NewGenericServerResponse`: a fixed message, the library's text as the only cause.
fn json_patch_error(e: patch::JsonPatchError) -> ApiError {
    match e {
        patch::JsonPatchError::Decode(m) => ApiError::new(400, "BadRequest", m),
        patch::JsonPatchError::Apply(m) => {
            let mut e = ApiError::new(
                422,
                "Invalid",
                "the server rejected our request due to an error in our request",
            );
            e.details = json!({"causes": [{"reason": "UnexpectedServerResponse", "message": m}]});
            e
        }
    }
}

fn delete(
    state: &Arc<LabState>,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    ps: &[(String, String)],
) -> Result<(u16, Out), ApiError> {
    // The types come from the store (CRDs): read them before taking its lock, which is not
    // reentrant — a namespace delete once locked it twice and hung the lab for good.
    let types = if rt.group.is_empty() && rt.plural == "namespaces" {
        state.types()
    } else {
        vec![]
    };
    let mut store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    if param(ps, "dryRun").is_some() {
        let o = store
            .get(&rt.store_key(), ns, name)
            .cloned()
            .ok_or_else(|| not_found(rt, name))?;
        return Ok((200, (with_gvk(rt, o), vec![])));
    }
    let obj = store
        .delete(&rt.store_key(), ns, name)
        .ok_or_else(|| not_found(rt, name))?;
    if rt.group.is_empty() && rt.plural == "namespaces" {
        // Namespace deletion takes its objects with it (immediately: the lab has no finalizers).
        for t in types.iter().filter(|t| t.namespaced) {
            let names: Vec<String> = store
                .list(&t.store_key(), Some(name))
                .filter_map(|o| o["metadata"]["name"].as_str().map(String::from))
                .collect();
            for n in names {
                if let Some(o) = store.delete(&t.store_key(), name, &n) {
                    if t.plural == "services" {
                        state
                            .allocators
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .release_service(&o);
                    }
                }
            }
        }
    }
    if rt.group.is_empty() && rt.plural == "services" {
        state
            .allocators
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .release_service(&obj);
    }
    Ok((200, (with_gvk(rt, obj), vec![])))
}

fn delete_collection(
    state: &Arc<LabState>,
    rt: &ResourceType,
    ns: Option<&str>,
    ps: &[(String, String)],
) -> Result<(u16, Out), ApiError> {
    let lq = query::LabelQuery::parse(param(ps, "labelSelector").unwrap_or_default())
        .map_err(|e| ApiError::new(400, "BadRequest", e))?;
    let victims: Vec<(String, String)> = {
        let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
        store
            .list(&rt.store_key(), ns)
            .filter(|o| lq.matches(o))
            .map(|o| {
                (
                    o["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    o["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    };
    for (n, name) in &victims {
        delete(state, rt, n, name, ps)?;
    }
    Ok((
        200,
        (
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
            vec![],
        ),
    ))
}

/// `timeoutSeconds` of a watch as a real server takes it: an int64 (else 400), multiplied into
/// a Go `time.Duration` (which wraps); 0 is the server's default, and a negative result ends the
/// watch at once.
fn watch_timeout(v: Option<&str>) -> Result<Option<Duration>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let secs: i64 = v.parse().map_err(|e: std::num::ParseIntError| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        ApiError::new(
            400,
            "BadRequest",
            format!("strconv.ParseInt: parsing {v:?}: {why}"),
        )
    })?;
    let nanos = secs.wrapping_mul(1_000_000_000);
    Ok(match nanos {
        0 => None,
        n if n < 0 => Some(Duration::ZERO),
        n => Some(Duration::from_nanos(n.unsigned_abs())),
    })
}

fn watch(
    state: &Arc<LabState>,
    rt: &ResourceType,
    ns: Option<String>,
    ps: &[(String, String)],
    table: bool,
) -> Resp {
    let lq = match query::LabelQuery::parse(param(ps, "labelSelector").unwrap_or_default()) {
        Ok(q) => q,
        Err(e) => return err_resp(ApiError::new(400, "BadRequest", e)),
    };
    let fq = match field_query(rt, ps) {
        Ok(q) => q,
        Err(e) => return err_resp(e),
    };
    let bookmarks = param(ps, "allowWatchBookmarks") == Some("true");
    let send_initial = param(ps, "sendInitialEvents") == Some("true");
    let timeout = match watch_timeout(param(ps, "timeoutSeconds")) {
        Ok(t) => t,
        Err(e) => return err_resp(e),
    };
    let rv_param = param(ps, "resourceVersion").unwrap_or_default().to_string();
    let include_object = param(ps, "includeObject").unwrap_or("Metadata").to_string();
    let key = rt.store_key();
    let (tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, Infallible>>(256);
    let (initial, past, mut live, current_rv, gone) = {
        let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
        let current = store.resource_version();
        let from: Option<u64> = rv_param.parse().ok().filter(|v| *v != 0);
        let initial: Vec<Value> = if from.is_none() || send_initial {
            store.list(&key, ns.as_deref()).cloned().collect()
        } else {
            vec![]
        };
        match store.watch_from(from.unwrap_or(current)) {
            Some((past, live)) => (initial, past, Some(live), current, None),
            None => (
                vec![],
                vec![],
                None,
                current,
                Some((from.unwrap_or(0), store.compacted_rv())),
            ),
        }
    };
    let mut cut = state.cut_watches.subscribe();
    let rt = rt.clone();
    let matches = move |e: &Event| -> bool {
        e.key == key
            && ns.as_deref().is_none_or(|n| n == e.namespace)
            && lq.matches(&e.object)
            && fq.matches(&e.object)
    };
    let render = {
        let rt = rt.clone();
        move |kind: &str, obj: Value| -> Bytes {
            let obj = with_gvk(&rt, obj);
            let obj = if table && kind != "BOOKMARK" {
                let rv = obj["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                table::to_table(&rt, &[obj], &rv, &include_object)
            } else {
                obj
            };
            let mut line =
                serde_json::to_vec(&json!({"type": kind, "object": obj})).unwrap_or_default();
            line.push(b'\n');
            Bytes::from(line)
        }
    };
    tokio::spawn(async move {
        let mut tx = tx;
        if let Some((asked, oldest)) = gone {
            let st = ApiError::new(
                410,
                "Expired",
                format!("too old resource version: {asked} ({oldest})"),
            )
            .status();
            let mut line =
                serde_json::to_vec(&json!({"type": "ERROR", "object": st})).unwrap_or_default();
            line.push(b'\n');
            let _ = tx.send(Ok(Bytes::from(line))).await;
            return;
        }
        for o in initial {
            if tx.send(Ok(render("ADDED", o))).await.is_err() {
                return;
            }
        }
        if send_initial {
            let bm = json!({"metadata": {"resourceVersion": current_rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
            if tx.send(Ok(render("BOOKMARK", bm))).await.is_err() {
                return;
            }
        }
        for e in past.iter().filter(|e| matches(e)) {
            if tx
                .send(Ok(render(e.kind.as_str(), e.object.clone())))
                .await
                .is_err()
            {
                return;
            }
        }
        let Some(live) = live.as_mut() else { return };
        let deadline = timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last_rv = current_rv;
        loop {
            let sleep_until =
                deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            // Biased, cut first: a watch cut before an event was written must not deliver it,
            // or a client could miss the 410 that a real server restart would cause.
            tokio::select! {
                biased;
                _ = cut.changed() => return,
                ev = live.recv() => match ev {
                    Ok(e) => {
                        last_rv = e.rv;
                        if e.rv > current_rv && matches(&e) && tx.send(Ok(render(e.kind.as_str(), e.object.clone()))).await.is_err() {
                            return;
                        }
                    }
                    // A watcher that falls behind is closed; the client relists, as with a real server.
                    Err(_) => return,
                },
                _ = tick.tick(), if bookmarks => {
                    let bm = json!({"metadata": {"resourceVersion": last_rv.to_string()}});
                    if tx.send(Ok(render("BOOKMARK", bm))).await.is_err() { return; }
                }
                _ = tokio::time::sleep_until(sleep_until) => return,
            }
        }
    });
    let _ = EventType::Added;
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(Body::from_stream(rx))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        let t = parse_target("/api/v1/namespaces/demo/services/web/status").unwrap();
        assert_eq!(
            (
                t.namespace.as_deref(),
                t.plural.as_str(),
                t.name.as_deref(),
                t.sub.as_deref()
            ),
            (Some("demo"), "services", Some("web"), Some("status"))
        );
        let t = parse_target("/api/v1/namespaces/demo").unwrap();
        assert_eq!(
            (t.namespace, t.plural.as_str(), t.name.as_deref()),
            (None, "namespaces", Some("demo"))
        );
        let t = parse_target("/api/v1/namespaces/demo/status").unwrap();
        assert_eq!(
            (t.plural.as_str(), t.name.as_deref(), t.sub.as_deref()),
            ("namespaces", Some("demo"), Some("status"))
        );
        let t = parse_target("/apis/cilium.io/v2/ciliumloadbalancerippools").unwrap();
        assert_eq!(
            (t.group.as_str(), t.plural.as_str(), t.name),
            ("cilium.io", "ciliumloadbalancerippools", None)
        );
        assert!(parse_target("/apis/x").is_none());
    }
}
