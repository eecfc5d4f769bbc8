//! GET and LIST: selectors, paging, and the table form kubectl asks for.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{with_gvk, ApiError, Out, Params, Req};
use crate::lab::registry::ResourceType;
use crate::lab::store::Store;
use crate::lab::{paging, query, table, LabState};

pub(super) fn get(state: &Arc<LabState>, req: &Req, name: &str) -> Result<Out, ApiError> {
    let rt = &req.rt;
    let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    let obj = store
        .get(&rt.store_key(), req.ns(), name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(rt, name))?;
    let rv = store.resource_version().to_string();
    drop(store);
    let obj = with_gvk(rt, obj);
    if req.table {
        let t = table::to_table(rt, &[obj], &rv, req.params.include_object());
        return Ok((t, vec![]));
    }
    Ok((obj, vec![]))
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
fn select_page<'a>(store: &'a Store, req: &'a Req) -> Result<(paging::Page<'a>, String), ApiError> {
    let lq = label_query(&req.params)?;
    let fq = field_query(&req.rt, &req.params)?;
    let (limit, from) = list_chunking(&req.params)?;
    check_continue(from.as_ref(), store.compacted_rv())?;
    let page = paging::page(
        store
            .list(&req.rt.store_key(), req.namespace.as_deref())
            .filter(|o| lq.matches(o) && fq.matches(o)),
        limit,
        from.as_ref(),
        store.resource_version(),
    );
    let rv = from.map_or(store.resource_version(), |c| c.rv).to_string();
    Ok((page, rv))
}

/// `limit` and `continue` of a LIST.
fn list_chunking(ps: &Params) -> Result<(Option<usize>, Option<paging::Continue>), ApiError> {
    let limit = match ps.get("limit") {
        None | Some("") => None,
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        ),
    };
    let from = match ps.get("continue") {
        None | Some("") => None,
        Some(t) => Some(paging::Continue::decode(t).ok_or_else(|| {
            ApiError::bad_request("continue key is not valid: malformed continue token")
        })?),
    };
    Ok((limit, from))
}

/// A continue token from before the retained history cannot be honoured (etcd compacted it).
fn check_continue(from: Option<&paging::Continue>, compacted: u64) -> Result<(), ApiError> {
    match from {
        Some(c) if c.rv < compacted => Err(ApiError::Expired(
            "The provided continue parameter is too old to display a consistent list result. \
You can start a new list without the continue parameter."
                .into(),
        )),
        _ => Ok(()),
    }
}

/// A plain (non-table) LIST, serialized straight from the store: a 10,000-Service list once spent
/// most of its time deep-copying every object before writing it out.
pub(super) fn list_json(state: &Arc<LabState>, req: &Req) -> Result<Vec<u8>, ApiError> {
    let rt = &req.rt;
    let api_version = rt.api_version();
    let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    let (page, rv) = select_page(&store, req)?;
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
    serde_json::to_vec(&doc).map_err(|e| ApiError::Internal(format!("encoding the list: {e}")))
}

/// The `labelSelector` of a request.
pub(super) fn label_query(ps: &Params) -> Result<query::LabelQuery, ApiError> {
    query::LabelQuery::parse(ps.get("labelSelector").unwrap_or_default())
        .map_err(ApiError::BadRequest)
}

/// The `fieldSelector` of a request: well-formed, and naming only fields the kind indexes.
pub(super) fn field_query(rt: &ResourceType, ps: &Params) -> Result<query::FieldQuery, ApiError> {
    query::FieldQuery::parse(ps.get("fieldSelector").unwrap_or_default())
        .and_then(|q| q.check(&rt.field_selectors()))
        .map_err(ApiError::BadRequest)
}

/// A LIST as kubectl's table (`Accept: …;as=Table`); plain LISTs go through [`list_json`].
pub(super) fn list_table(state: &Arc<LabState>, req: &Req) -> Result<Out, ApiError> {
    let rt = &req.rt;
    let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    let (page, rv) = select_page(&store, req)?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|o| with_gvk(rt, (*o).clone()))
        .collect();
    let (next, remaining) = (page.next, page.remaining);
    drop(store);
    let mut t = table::to_table(rt, &items, &rv, req.params.include_object());
    if let Some(next) = &next {
        t["metadata"]["continue"] = json!(next.encode());
        t["metadata"]["remainingItemCount"] = json!(remaining);
    }
    Ok((t, vec![]))
}
