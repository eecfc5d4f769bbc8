//! PATCH in its four content types (merge, JSON, strategic merge, server-side apply) and the
//! field ownership (`metadata.managedFields`) every write records.

use std::sync::Arc;

use serde_json::{json, Value};

use super::write::{create, replace};
use super::{body, now_rfc3339, ApiError, GroupKind, Out, Req};
use crate::lab::registry::ResourceType;
use crate::lab::{decode, patch, ssa, LabState};

const APPLY: &str = "application/apply-patch+yaml";

/// What the 415 for a patch type lists; kinds without strategic merge (custom resources) omit it.
const PATCH_TYPES: &str = "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

pub(super) fn patch(
    state: &Arc<LabState>,
    req: &Req,
    name: &str,
    body: &[u8],
) -> Result<(u16, Out), ApiError> {
    let rt = &req.rt;
    let ct = req
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let is_apply = ct == APPLY;
    let p = body::parse(body, if is_apply { "yaml" } else { "json" })?;
    if is_apply {
        check_apply_config(req, name, &p)?;
    }
    let current = {
        let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
        store.get(&rt.store_key(), req.ns(), name).cloned()
    };
    let Some(mut obj) = current else {
        if is_apply {
            let (mut created, entries) = server_side_apply(req, name, &json!({}), &p)?;
            created["metadata"]["name"] = json!(name);
            return create(state, req, created, Some(entries)).map(|o| (201, o));
        }
        return Err(ApiError::not_found(rt, name));
    };
    let mut applied = None;
    match ct {
        "application/merge-patch+json" => patch::merge_patch(&mut obj, &p),
        "application/json-patch+json" => {
            patch::json_patch(&mut obj, &p).map_err(json_patch_error)?
        }
        "application/strategic-merge-patch+json" => {
            if rt.schema.is_some() {
                return Err(ApiError::UnsupportedMediaType(PATCH_TYPES.into()));
            }
            if !p.is_object() {
                return Err(ApiError::bad_request(format!(
                    "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    decode::json_kind(&p)
                )));
            }
            patch::strategic_merge_patch(&mut obj, &p)
        }
        APPLY => {
            let (merged, entries) = server_side_apply(req, name, &obj, &p)?;
            obj = merged;
            applied = Some(entries);
        }
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "{PATCH_TYPES} (got {other})"
            )))
        }
    }
    // What the patch made must still decode as the kind, or it is the patch that is invalid.
    if let Err(e) = decode::check(&rt.group, &rt.kind, &obj) {
        let shown = serde_json::to_string(&obj).unwrap_or_default();
        return Err(ApiError::Invalid {
            kind: GroupKind::default(),
            name: String::new(),
            errors: vec![format!("patch: Invalid value: {shown:?}: {e}")],
        });
    }
    // A patch applies to the version it was read at unless it carries its own precondition.
    if p["metadata"]["resourceVersion"].is_null() {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
    }
    replace(state, req, name, obj, applied).map(|o| (200, o))
}

/// What a real server refuses in an apply configuration before merging it.
fn check_apply_config(req: &Req, name: &str, p: &Value) -> Result<(), ApiError> {
    let (rt, ns) = (&req.rt, req.ns());
    if req.params.field_manager().is_none() {
        return Err(ApiError::Invalid {
            kind: GroupKind::new("meta.k8s.io", "PatchOptions"),
            name: String::new(),
            errors: vec!["fieldManager: Required value: is required for apply patch".into()],
        });
    }
    let bad = |m: String| Err(ApiError::BadRequest(m));
    if !p.is_object() {
        return bad(format!("error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}", decode::json_kind(p)));
    }
    if !p["metadata"]["managedFields"].is_null() {
        return bad("metadata.managedFields must be nil".into());
    }
    let av = p["apiVersion"].as_str().unwrap_or_default();
    if av != rt.api_version() {
        return bad(format!("Incorrect version specified in apply patch. Specified patch version: {av}, expected: {}", rt.api_version()));
    }
    let kind = p["kind"].as_str().unwrap_or_default();
    if kind != rt.kind {
        return bad(format!(
            "Incorrect kind specified in apply patch. Specified patch kind: {kind}, expected: {}",
            rt.kind
        ));
    }
    let pname = p["metadata"]["name"].as_str().unwrap_or_default();
    if pname != name {
        return bad(format!(
            "the name of the object ({pname}) does not match the name on the URL ({name})"
        ));
    }
    if let Some(pns) = p["metadata"]["namespace"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        if rt.namespaced && pns != ns {
            return bad(format!("the namespace of the object ({pns}) does not match the namespace on the request ({ns})"));
        }
    }
    Ok(())
}

/// Merges an apply configuration into `live`, with ownership; conflicts are the apply's 409.
fn server_side_apply(
    req: &Req,
    name: &str,
    live: &Value,
    config: &Value,
) -> Result<(Value, Vec<ssa::Entry>), ApiError> {
    let rt = &req.rt;
    let entries = ssa::decode(&live["metadata"]["managedFields"])
        .map_err(|e| ApiError::Internal(format!("failed to decode managed fields: {e}")))?;
    let mut live = live.clone();
    if let Some(m) = live["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    let (now, api_version) = (now_rfc3339(), rt.api_version());
    let w = ssa_write(rt, &api_version, req.sub(), &now);
    let manager = req.params.field_manager().unwrap_or_default();
    let force = req.params.get("force") == Some("true");
    match ssa::apply(&w, entries, &live, config, manager, force) {
        Ok(out) => Ok(out),
        Err(ssa::ApplyError::Conflicts(c)) => Err(ApiError::ApplyConflict {
            message: ssa::conflict_message(&c),
            conflicts: c
                .iter()
                .map(|c| (c.manager.clone(), c.path.clone()))
                .collect(),
        }),
        Err(ssa::ApplyError::Invalid(m)) => {
            let gvk = format!("{}/{}, Kind={}", rt.group, rt.version, rt.kind);
            Err(ApiError::Internal(format!(
                "failed to create typed patch object ({gvk} {}/{name}): {m}",
                req.ns()
            )))
        }
    }
}

/// A JSON patch that does not decode is a 400; one whose operation fails is the 422 the server
/// builds with `NewGenericServerResponse`: a fixed message, the library's text as the only cause.
fn json_patch_error(e: patch::JsonPatchError) -> ApiError {
    match e {
        patch::JsonPatchError::Decode(m) => ApiError::BadRequest(m),
        patch::JsonPatchError::Apply(cause) => ApiError::Rejected { cause },
    }
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

/// Ownership after a non-apply write by the request's manager, onto `new`'s metadata.
pub(super) fn record_update(
    req: &Req,
    sub: Option<&str>,
    old: &Value,
    new: &mut Value,
) -> Result<Vec<ssa::Entry>, ApiError> {
    let rt = &req.rt;
    let sent = new["metadata"]
        .as_object_mut()
        .and_then(|m| m.remove("managedFields"))
        .unwrap_or(Value::Null);
    let base = ssa::base_entries(&sent, &old["metadata"]["managedFields"], sub.is_some())
        .map_err(|e| ApiError::bad_request(format!("invalid managedFields: {e}")))?;
    let mut old = old.clone();
    if let Some(m) = old["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    let (now, api_version) = (now_rfc3339(), rt.api_version());
    let w = ssa_write(rt, &api_version, sub, &now);
    let manager = req.params.get("fieldManager").unwrap_or("lbctl-lab");
    Ok(ssa::update(&w, base, &old, new, manager))
}

pub(super) fn set_managed_fields(obj: &mut Value, entries: &[ssa::Entry]) {
    let encoded = ssa::encode(entries);
    if let Some(m) = obj["metadata"].as_object_mut() {
        if encoded.as_array().is_some_and(|a| !a.is_empty()) {
            m.insert("managedFields".into(), encoded);
        } else {
            m.remove("managedFields");
        }
    }
}
