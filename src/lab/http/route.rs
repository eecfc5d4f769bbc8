//! From a request to what serves it: authentication and authorization first, then health,
//! discovery and OpenAPI, the auth endpoints, and last the resource paths, checked against the
//! served types and turned into a [`Req`].

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, Response};
use axum::response::IntoResponse;

use super::{
    add_warning, apply, body, bytes_resp, json_resp, read, watch, write, ApiError, Out, Params,
    Req, Resp, Verb,
};
use crate::lab::registry::ResourceType;
use crate::lab::{auth, discovery, protobuf, rbac, ssa, LabState};

pub(super) async fn route(state: &Arc<LabState>, req: Request<Body>) -> Resp {
    let path = req.uri().path().to_string();
    // Authentication, impersonation, then authorization, before anything else is looked at.
    let user = match auth::authenticate(state, req.headers())
        .and_then(|u| auth::impersonate(state, u, req.headers()))
    {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let attrs = rbac::Attributes::from_request(
        req.method().as_str(),
        &path,
        req.uri().query().unwrap_or_default(),
    );
    if let Err(e) = auth::authorize(state, &user, &attrs) {
        return e.into_response();
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    if !protobuf::json_acceptable(accept) {
        return ApiError::NotAcceptable.into_response();
    }
    if let Some(ep) = auth::endpoint(&path) {
        return auth_endpoint(state, &user, ep, req).await;
    }
    let types = state.types();
    let found = |doc: Option<serde_json::Value>| match doc {
        Some(doc) => json_resp(200, &doc),
        None => ApiError::NoSuchPath.into_response(),
    };
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
        return match gv
            .trim_matches('/')
            .split('/')
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["api", v] => found(discovery::openapi_gv(&types, "", v)),
            ["apis", g, v] => found(discovery::openapi_gv(&types, g, v)),
            _ => ApiError::NoSuchPath.into_response(),
        };
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["api", v] => return found(discovery::resource_list(&types, "", v)),
        ["apis", g] => return found(discovery::api_group(&types, g)),
        ["apis", g, v] => return found(discovery::resource_list(&types, g, v)),
        _ => {}
    }
    let Some(t) = parse_target(&path) else {
        return ApiError::NoSuchPath.into_response();
    };
    let Some(rt) = types
        .iter()
        .find(|r| r.group == t.group && r.version == t.version && r.plural == t.plural)
        .cloned()
    else {
        return ApiError::NoSuchPath.into_response();
    };
    // A namespaced type is also listed (and watched) across namespaces.
    if rt.namespaced != t.namespace.is_some()
        && !(rt.namespaced && t.name.is_none() && req.method() == Method::GET)
    {
        return ApiError::NoSuchPath.into_response();
    }
    if let Some(sub) = &t.sub {
        if !(sub == "status" && rt.status_subresource) {
            return ApiError::NoSuchPath.into_response();
        }
    }
    // Every request to a deprecated version carries the CRD's deprecation warning.
    let deprecation = rt.deprecation_warning.clone();
    let mut resp = resource(state, req, t, rt).await;
    if let Some(w) = deprecation {
        add_warning(&mut resp, &w);
    }
    resp
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
    let (plural, tail) = match rest {
        [] => return None,
        // `namespaces/x/status` and `namespaces/x/finalize` are subresources of a namespace.
        ["namespaces", ns, plural, tail @ ..]
            if !(tail.is_empty() && ["status", "finalize"].contains(plural)) =>
        {
            t.namespace = Some(ns.to_string());
            (plural, tail)
        }
        [plural, tail @ ..] => (plural, tail),
    };
    if tail.len() > 2 {
        return None;
    }
    t.plural = plural.to_string();
    t.name = tail.first().map(|s| s.to_string());
    t.sub = tail.get(1).map(|s| s.to_string());
    Some(t)
}

fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').next().unwrap_or_default().contains("as=Table"))
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string()
}

impl Verb {
    /// The verb of a request on a resource path; `None` is a method the path does not allow.
    fn of(method: &Method, named: bool, params: &Params) -> Option<Verb> {
        Some(match (method, named) {
            (&Method::GET, false) if matches!(params.get("watch"), Some("true" | "1")) => {
                Verb::Watch
            }
            (&Method::GET, false) => Verb::List,
            (&Method::GET, true) => Verb::Get,
            (&Method::POST, false) => Verb::Create,
            (&Method::PUT, true) => Verb::Update,
            (&Method::PATCH, true) => Verb::Patch,
            (&Method::DELETE, true) => Verb::Delete,
            (&Method::DELETE, false) => Verb::DeleteCollection,
            _ => return None,
        })
    }
}

/// A request for objects of one resource type, its path already checked.
async fn resource(state: &Arc<LabState>, req: Request<Body>, t: Target, rt: ResourceType) -> Resp {
    let mut params = Params::parse(req.uri().query().unwrap_or_default());
    let table = wants_table(req.headers());
    let method = req.method().clone();
    let content_type = content_type(req.headers());
    // Writes other than apply are owned by the fieldManager, else by the User-Agent's product.
    if !content_type.starts_with("application/apply-patch") && params.field_manager().is_none() {
        let ua = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        params.push("fieldManager", ssa::manager_from_user_agent(ua));
    }
    let body = match body::read(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let Some(verb) = Verb::of(&method, t.name.is_some(), &params) else {
        return ApiError::MethodNotAllowed.into_response();
    };
    let req = Req {
        verb,
        rt,
        namespace: t.namespace,
        name: t.name,
        sub: t.sub,
        params,
        content_type,
        table,
    };
    serve(state, &req, &body)
}

/// Serves a verb on objects.
fn serve(state: &Arc<LabState>, req: &Req, body: &[u8]) -> Resp {
    let name = req.name.as_deref().unwrap_or_default();
    let result: Result<(u16, Out), ApiError> = match req.verb {
        Verb::Watch => return watch::watch(state, req),
        Verb::List if !req.table => {
            return match read::list_json(state, req) {
                Ok(body) => bytes_resp(200, body),
                Err(e) => e.into_response(),
            }
        }
        Verb::List => read::list_table(state, req).map(|o| (200, o)),
        Verb::Get => read::get(state, req, name).map(|o| (200, o)),
        Verb::Create => body::parse(body, &req.content_type)
            .and_then(|obj| write::create(state, req, obj, None))
            .map(|o| (201, o)),
        Verb::Update => body::parse(body, &req.content_type)
            .and_then(|obj| write::replace(state, req, name, obj, None))
            .map(|o| (200, o)),
        Verb::Patch => apply::patch(state, req, name, body),
        Verb::Delete => {
            write::delete(state, &req.rt, req.ns(), name, req.params.dry_run()).map(|o| (200, o))
        }
        Verb::DeleteCollection => write::delete_collection(state, req).map(|o| (200, o)),
    };
    match result {
        Ok((code, (body, warnings))) => {
            let mut r = json_resp(code, &body);
            for w in warnings {
                add_warning(&mut r, &w);
            }
            r
        }
        Err(e) => e.into_response(),
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
        return ApiError::MethodNotAllowed.into_response();
    }
    let content_type = content_type(req.headers());
    let result = match axum::body::to_bytes(req.into_body(), 1 << 20).await {
        Ok(b) => body::parse(&b, &content_type).and_then(|obj| auth::serve(state, user, ep, obj)),
        Err(e) => Err(body::unreadable(e)),
    };
    match result {
        Ok((code, v)) => json_resp(code, &v),
        Err(e) => e.into_response(),
    }
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
        assert!(parse_target("/api/v1/namespaces/demo/services/web/status/x").is_none());
    }

    #[test]
    fn verbs_follow_method_name_and_watch() {
        let none = Params::default();
        let watch = Params::parse("watch=1");
        assert_eq!(Verb::of(&Method::GET, false, &watch), Some(Verb::Watch));
        assert_eq!(Verb::of(&Method::GET, true, &watch), Some(Verb::Get));
        assert_eq!(Verb::of(&Method::GET, false, &none), Some(Verb::List));
        assert_eq!(Verb::of(&Method::POST, false, &none), Some(Verb::Create));
        assert_eq!(Verb::of(&Method::POST, true, &none), None);
        assert_eq!(Verb::of(&Method::PUT, false, &none), None);
        assert_eq!(
            Verb::of(&Method::DELETE, false, &none),
            Some(Verb::DeleteCollection)
        );
    }
}
