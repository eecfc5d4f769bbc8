//! WATCH: the initial state or the retained history from a resourceVersion, then live events,
//! bookmarks and the end at `timeoutSeconds`, each event one JSON line.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, Response};
use axum::response::IntoResponse;
use futures::SinkExt;
use serde_json::{json, Value};

use super::read::{field_query, label_query};
use super::{with_gvk, ApiError, Req, Resp};
use crate::lab::store::Event;
use crate::lab::{table, LabState};

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
        ApiError::bad_request(format!("strconv.ParseInt: parsing {v:?}: {why}"))
    })?;
    let nanos = secs.wrapping_mul(1_000_000_000);
    Ok(match nanos {
        0 => None,
        n if n < 0 => Some(Duration::ZERO),
        n => Some(Duration::from_nanos(n.unsigned_abs())),
    })
}

/// One line of a watch stream.
fn event_line(kind: &str, obj: Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": obj})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

pub(super) fn watch(state: &Arc<LabState>, req: &Req) -> Resp {
    match start(state, req) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn start(state: &Arc<LabState>, req: &Req) -> Result<Resp, ApiError> {
    let ps = &req.params;
    let lq = label_query(ps)?;
    let fq = field_query(&req.rt, ps)?;
    let bookmarks = ps.get("allowWatchBookmarks") == Some("true");
    let send_initial = ps.get("sendInitialEvents") == Some("true");
    let timeout = watch_timeout(ps.get("timeoutSeconds"))?;
    let rv_param = ps.get("resourceVersion").unwrap_or_default();
    let include_object = ps.include_object().to_string();
    let (rt, ns, table) = (req.rt.clone(), req.namespace.clone(), req.table);
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
    let matches = move |e: &Event| -> bool {
        e.key == key
            && ns.as_deref().is_none_or(|n| n == e.namespace)
            && lq.matches(&e.object)
            && fq.matches(&e.object)
    };
    let render = move |kind: &str, obj: Value| -> Bytes {
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
        event_line(kind, obj)
    };
    tokio::spawn(async move {
        let mut tx = tx;
        if let Some((asked, oldest)) = gone {
            let st = ApiError::Expired(format!("too old resource version: {asked} ({oldest})"));
            let _ = tx.send(Ok(event_line("ERROR", st.status()))).await;
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
    Ok(Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(Body::from_stream(rx))
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_go_durations() {
        assert_eq!(watch_timeout(None), Ok(None));
        assert_eq!(watch_timeout(Some("0")), Ok(None));
        assert_eq!(watch_timeout(Some("5")), Ok(Some(Duration::from_secs(5))));
        assert_eq!(watch_timeout(Some("-1")), Ok(Some(Duration::ZERO)));
        assert_eq!(
            watch_timeout(Some("x")),
            Err(ApiError::bad_request(
                "strconv.ParseInt: parsing \"x\": invalid syntax"
            ))
        );
        assert_eq!(
            watch_timeout(Some("99999999999999999999")),
            Err(ApiError::bad_request(
                "strconv.ParseInt: parsing \"99999999999999999999\": value out of range"
            ))
        );
    }
}
