//! Legacy discovery documents and OpenAPI v3, generated from the registry.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::registry::ResourceType;

pub(crate) const SERVER_MAJOR: &str = "1";
pub(crate) const SERVER_MINOR: &str = "33";
pub(crate) const SERVER_GIT_VERSION: &str = "v1.33.1";

pub fn version() -> Value {
    json!({
        "major": SERVER_MAJOR, "minor": SERVER_MINOR, "gitVersion": SERVER_GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2025-05-15T00:00:00Z", "goVersion": "go1.24.2", "compiler": "gc",
        "platform": "linux/amd64", "emulationMajor": SERVER_MAJOR, "emulationMinor": SERVER_MINOR,
    })
}

pub(crate) fn api_versions(addr: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]})
}

fn group_doc(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

/// Groups with their versions, preferred (storage) first, in a stable order.
pub fn groups(types: &[ResourceType]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in types.iter().filter(|t| !t.group.is_empty()) {
        let e = out.entry(t.group.clone()).or_default();
        if !e.contains(&t.version) {
            e.push(t.version.clone());
        }
    }
    for (_, vs) in out.iter_mut() {
        vs.sort_by_key(|v| {
            (
                v.contains("alpha") || v.contains("beta"),
                std::cmp::Reverse(v.clone()),
            )
        });
    }
    out
}

/// Create-only kinds computed per request and never stored (group, version, plural, kind).
const REVIEWS: &[(&str, &str, &str, &str)] = &[
    (
        "authentication.k8s.io",
        "v1",
        "selfsubjectreviews",
        "SelfSubjectReview",
    ),
    (
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
    ),
    (
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
    ),
    (
        "authorization.k8s.io",
        "v1",
        "subjectaccessreviews",
        "SubjectAccessReview",
    ),
];

/// [`groups`] plus the groups of the review kinds.
fn served_groups(types: &[ResourceType]) -> BTreeMap<String, Vec<String>> {
    let mut out = groups(types);
    for (g, v, _, _) in REVIEWS {
        let e = out.entry(g.to_string()).or_default();
        if !e.iter().any(|x| x == v) {
            e.push(v.to_string());
        }
    }
    out
}

pub(crate) fn api_group_list(types: &[ResourceType]) -> Value {
    let gs: Vec<Value> = served_groups(types)
        .iter()
        .map(|(g, vs)| group_doc(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": gs})
}

pub(crate) fn api_group(types: &[ResourceType], group: &str) -> Option<Value> {
    let gs = served_groups(types);
    let vs = gs.get(group)?;
    let mut d = group_doc(group, vs);
    d["kind"] = json!("APIGroup");
    d["apiVersion"] = json!("v1");
    Some(d)
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub(crate) fn resource_list(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let mut resources = vec![];
    for t in types
        .iter()
        .filter(|t| t.group == group && t.version == version)
    {
        resources.push(json!({
            "name": t.plural, "singularName": t.singular, "namespaced": t.namespaced, "kind": t.kind,
            "verbs": VERBS, "shortNames": t.short_names, "categories": t.categories,
        }));
        if t.status_subresource {
            resources.push(
                json!({"name": format!("{}/status", t.plural), "singularName": "",
                "namespaced": t.namespaced, "kind": t.kind, "verbs": ["get", "patch", "update"]}),
            );
        }
    }
    if group.is_empty() && version == "v1" {
        resources.push(json!({"name": "serviceaccounts/token", "singularName": "", "namespaced": true,
            "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]}));
    }
    for (g, v, plural, kind) in REVIEWS.iter().filter(|r| r.0 == group && r.1 == version) {
        resources.push(
            json!({"name": plural, "singularName": kind.to_lowercase(), "namespaced": false,
            "group": g, "version": v, "kind": kind, "verbs": ["create"]}),
        );
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// `/openapi/v3`: one entry per group/version.
pub(crate) fn openapi_root(types: &[ResourceType], hash: &str) -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert(
        "api/v1".into(),
        json!({"serverRelativeURL": format!("/openapi/v3/api/v1?hash={hash}")}),
    );
    for (g, vs) in groups(types) {
        for v in vs {
            paths.insert(
                format!("apis/{g}/{v}"),
                json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/{v}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

fn schema_name(t: &ResourceType) -> String {
    // Reverse-DNS like the real server: cilium.io/v2 CiliumNode -> io.cilium.v2.CiliumNode.
    let g: Vec<&str> = if t.group.is_empty() {
        vec!["core"]
    } else {
        t.group.split('.').rev().collect()
    };
    format!("{}.{}.{}", g.join("."), t.version, t.kind)
}

fn builtin_schemas(kind: &str) -> Option<(Value, serde_json::Map<String, Value>)> {
    use k8s_openapi::api;
    use schemars::generate::SchemaSettings;
    let mut gen = SchemaSettings::openapi3().into_generator();
    let root = match kind {
        "Service" => gen.subschema_for::<api::core::v1::Service>(),
        "Namespace" => gen.subschema_for::<api::core::v1::Namespace>(),
        "ConfigMap" => gen.subschema_for::<api::core::v1::ConfigMap>(),
        "Node" => gen.subschema_for::<api::core::v1::Node>(),
        "Lease" => gen.subschema_for::<api::coordination::v1::Lease>(),
        _ => return None,
    };
    let defs = gen.take_definitions(true);
    Some((root.to_value(), defs))
}

fn operation(t: &ResourceType, action: &str, schema_ref: &str, extra_params: &[&str]) -> Value {
    let mut params: Vec<Value> = extra_params
        .iter()
        .map(|p| json!({"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": true}}))
        .collect();
    params.push(
        json!({"name": "pretty", "in": "query", "schema": {"type": "string", "uniqueItems": true}}),
    );
    json!({
        "operationId": format!("{action}{}", t.kind),
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": schema_ref}}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": t.group, "version": t.version, "kind": t.kind},
    })
}

/// The OpenAPI v3 document of one group/version, with the `fieldValidation` parameter kubectl
/// looks for before it relies on server-side validation.
pub(crate) fn openapi_gv(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let mine: Vec<&ResourceType> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    let prefix = if group.is_empty() {
        "/api/v1".to_string()
    } else {
        format!("/apis/{group}/{version}")
    };
    for t in mine {
        let name = schema_name(t);
        let gvk = json!([{"group": t.group, "version": t.version, "kind": t.kind}]);
        let mut schema = if let Some(s) = &t.schema {
            s.clone()
        } else if let Some((root, defs)) = builtin_schemas(&t.kind) {
            schemas.extend(defs);
            // The root is a $ref into the definitions; resolve it so the GVK extension sits on it.
            match root["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .and_then(|n| schemas.remove(n))
            {
                Some(s) => s,
                None => root,
            }
        } else {
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
        };
        schema["x-kubernetes-group-version-kind"] = gvk;
        schemas.insert(name.clone(), schema);
        let r = format!("#/components/schemas/{name}");
        let coll = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", t.plural)
        } else {
            format!("{prefix}/{}", t.plural)
        };
        let write = ["dryRun", "fieldManager", "fieldValidation"];
        paths.insert(
            coll.clone(),
            json!({"get": operation(t, "list", &r, &["labelSelector", "fieldSelector", "watch"]),
                   "post": operation(t, "post", &r, &write)}),
        );
        paths.insert(
            format!("{coll}/{{name}}"),
            json!({"get": operation(t, "get", &r, &[]), "put": operation(t, "put", &r, &write),
                   "patch": operation(t, "patch", &r, &["dryRun", "fieldManager", "fieldValidation", "force"]),
                   "delete": operation(t, "delete", &r, &["dryRun"])}),
        );
        if t.status_subresource {
            paths.insert(
                format!("{coll}/{{name}}/status"),
                json!({"get": operation(t, "get", &r, &[]), "put": operation(t, "put", &r, &write),
                       "patch": operation(t, "patch", &r, &["dryRun", "fieldManager", "fieldValidation", "force"])}),
            );
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": SERVER_GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}
