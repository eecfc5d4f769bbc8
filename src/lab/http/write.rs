//! CREATE, UPDATE and DELETE: decoding checks, validation and defaulting, optimistic
//! concurrency, the status subresource split and `metadata.generation`.

use std::sync::Arc;

use serde_json::{json, Value};

use super::apply::{record_update, set_managed_fields};
use super::read::label_query;
use super::{now_rfc3339, with_gvk, ApiError, Out, Params, Req, Verb};
use crate::lab::registry::{self, Generation, ResourceType};
use crate::lab::{decode, defaults, schema, ssa, LabState};

/// Creates `obj` as a client's POST would, for the lab's own loading of scenarios.
pub(in crate::lab) fn create_value(
    state: &Arc<LabState>,
    rt: &ResourceType,
    ns: &str,
    obj: Value,
) -> Result<Out, ApiError> {
    let req = Req {
        verb: Verb::Create,
        rt: rt.clone(),
        namespace: Some(ns.to_string()),
        name: None,
        sub: None,
        params: Params::default(),
        content_type: "application/json".into(),
        table: false,
    };
    create(state, &req, obj, None)
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
pub(super) fn check_body(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        let summary: String = serde_json::to_string(obj)
            .unwrap_or_default()
            .chars()
            .take(30)
            .collect();
        return Err(ApiError::bad_request(format!(
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
        return Err(ApiError::bad_request(format!("{kind} in version {version:?} cannot be handled as a {}: converting ({version}.{kind}) to ({internal}.{}): unknown conversion", rt.kind, rt.kind)));
    }
    if let Err(e) = decode::check(&rt.group, &rt.kind, obj) {
        return Err(ApiError::bad_request(format!(
            "{} in version {:?} cannot be handled as a {}: {e}",
            rt.kind, rt.version, rt.kind
        )));
    }
    if !av.is_empty() && av != rt.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    Ok(())
}

/// Validation, defaulting and the kind-specific rules shared by create and update.
fn admit(
    state: &Arc<LabState>,
    req: &Req,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<Vec<String>, ApiError> {
    let rt = &req.rt;
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !obj.is_object() || !obj["metadata"].is_object() {
        return Err(ApiError::bad_request(
            "the object provided is unrecognized: missing metadata",
        ));
    }
    let mut warnings = vec![];
    if let Some(s) = &rt.schema {
        let out = schema::validate(s, obj);
        let validation = req.params.get("fieldValidation");
        if !out.unknown.is_empty() {
            if validation == Some("Strict") {
                let list = out
                    .unknown
                    .iter()
                    .map(|u| format!("unknown field {u:?}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ApiError::bad_request(format!(
                    "{} in version {:?} cannot be handled as a {}: strict decoding error: {list}",
                    rt.kind, rt.version, rt.kind
                )));
            }
            if validation != Some("Ignore") {
                warnings.extend(out.unknown.iter().map(|u| format!("unknown field {u:?}")));
            }
        }
        if !out.errors.is_empty() {
            return Err(ApiError::invalid(rt, &name, out.errors));
        }
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "services") => {
            let mut st = state.allocators.lock().unwrap_or_else(|p| p.into_inner());
            defaults::service(&mut st, obj, old)
                .map_err(|errs| ApiError::invalid(rt, &name, errs))?;
        }
        ("", "namespaces") => defaults::namespace(obj),
        ("", "secrets") => defaults::secret(obj),
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let errs = registry::crd_name_errors(obj, old.is_none());
            if !errs.is_empty() {
                return Err(ApiError::invalid(rt, &name, errs));
            }
            if registry::from_crd(obj).is_empty() {
                return Err(ApiError::invalid(
                    rt,
                    &name,
                    vec!["spec: Required value: group, names.kind, names.plural and a served version are required".into()],
                ));
            }
            obj["status"]["acceptedNames"] = obj["spec"]["names"].clone();
            obj["status"]["conditions"] = json!([{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now_rfc3339()}]);
        }
        _ => {}
    }
    Ok(warnings)
}

/// A create, with the ownership an apply computed (`applied`) or that of an update.
pub(super) fn create(
    state: &Arc<LabState>,
    req: &Req,
    mut obj: Value,
    applied: Option<Vec<ssa::Entry>>,
) -> Result<Out, ApiError> {
    let (rt, ns) = (&req.rt, req.ns());
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
        return Err(ApiError::invalid(
            rt,
            "",
            vec!["metadata.name: Required value: name or generateName is required".into()],
        ));
    }
    // RBAC objects are named as path segments (`system:discovery`), everything else as DNS.
    let rbac_name_ok = rt.group == "rbac.authorization.k8s.io"
        && !name.contains(['/', '%'])
        && name != "."
        && name != "..";
    if !rbac_name_ok && !is_dns_subdomain(&name) {
        return Err(ApiError::invalid(
            rt,
            &name,
            vec![format!("metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")],
        ));
    }
    if rt.namespaced {
        match obj["metadata"]["namespace"].as_str() {
            Some(bns) if bns != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => obj["metadata"]["namespace"] = json!(ns),
        }
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    obj["metadata"]["name"] = json!(name);
    let entries = match applied {
        Some(e) => e,
        None => record_update(req, None, &json!({}), &mut obj)?,
    };
    let warnings = admit(state, req, &mut obj, None)?;
    round_trip(rt, &mut obj)?;
    let mut store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    if rt.namespaced
        && store
            .get(&("".into(), "namespaces".into()), "", ns)
            .is_none()
    {
        return Err(ApiError::NotFound {
            resource: super::GroupResource::core("namespaces"),
            name: ns.to_string(),
        });
    }
    if store.get(&rt.store_key(), ns, &name).is_some() {
        return Err(ApiError::already_exists(rt, &name));
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
    if req.params.dry_run() {
        return Ok((obj, warnings));
    }
    let stored = store.put(&rt.store_key(), ns, &name, obj);
    Ok((stored, warnings))
}

/// The typed decode/encode a real server puts every built-in object through.
fn round_trip(rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    defaults::round_trip(&rt.group, &rt.plural, obj).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version {:?} cannot be handled as a {}: {e}",
            rt.kind, rt.version, rt.kind
        ))
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
pub(super) fn replace(
    state: &Arc<LabState>,
    req: &Req,
    name: &str,
    mut new: Value,
    applied: Option<Vec<ssa::Entry>>,
) -> Result<Out, ApiError> {
    let (rt, ns, sub) = (&req.rt, req.ns(), req.sub());
    let old = {
        let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
        store
            .get(&rt.store_key(), ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?
    };
    check_body(rt, &new)?;
    if let Some(n) = new["metadata"]["name"].as_str() {
        if n != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    if let Some(rv) = new["metadata"]["resourceVersion"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        if Some(rv) != old["metadata"]["resourceVersion"].as_str() {
            return Err(ApiError::conflict(rt, name));
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
        None => record_update(req, sub, &old, &mut new)?,
    };
    let warnings = if sub == Some("status") {
        vec![]
    } else {
        admit(state, req, &mut new, Some(&old))?
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
    if cmp_new == with_gvk(rt, old.clone()) || req.params.dry_run() {
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
        return Err(ApiError::conflict(rt, name));
    }
    Ok((store.put(&rt.store_key(), ns, name, new), warnings))
}

pub(super) fn delete(
    state: &Arc<LabState>,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    dry_run: bool,
) -> Result<Out, ApiError> {
    // The types come from the store (CRDs): read them before taking its lock, which is not
    // reentrant — a namespace delete once locked it twice and hung the lab for good.
    let types = if rt.group.is_empty() && rt.plural == "namespaces" {
        state.types()
    } else {
        vec![]
    };
    let mut store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    if dry_run {
        let o = store
            .get(&rt.store_key(), ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        return Ok((with_gvk(rt, o), vec![]));
    }
    let obj = store
        .delete(&rt.store_key(), ns, name)
        .ok_or_else(|| ApiError::not_found(rt, name))?;
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
    Ok((with_gvk(rt, obj), vec![]))
}

pub(super) fn delete_collection(state: &Arc<LabState>, req: &Req) -> Result<Out, ApiError> {
    let rt = &req.rt;
    let lq = label_query(&req.params)?;
    let victims: Vec<(String, String)> = {
        let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
        store
            .list(&rt.store_key(), req.namespace.as_deref())
            .filter(|o| lq.matches(o))
            .map(|o| {
                let meta = |k: &str| o["metadata"][k].as_str().unwrap_or_default().to_string();
                (meta("namespace"), meta("name"))
            })
            .collect()
    };
    for (ns, name) in &victims {
        delete(state, rt, ns, name, req.params.dry_run())?;
    }
    Ok((
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
        vec![],
    ))
}
