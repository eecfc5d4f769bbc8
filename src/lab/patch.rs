//! Patch semantics: JSON merge patch, JSON patch and the strategic merge patch kubectl's client-side
//! apply sends for built-in kinds (server-side apply is in `ssa`).

use serde_json::Value;

/// Merge keys of the lists that strategic merge patch merges element-wise rather than replacing.
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "ports" => "port",
        "containers" | "initContainers" | "env" | "volumes" | "imagePullSecrets" => "name",
        "conditions" => "type",
        "volumeMounts" => "mountPath",
        "addresses" => "address",
        _ => return None,
    })
}

pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// Why a JSON patch was not applied.
#[derive(Debug, PartialEq, Eq)]
pub enum JsonPatchError {
    /// The body is not a JSON patch (the server answers 400).
    Decode(String),
    /// An operation failed (422); the text is what the server's patch library says.
    Apply(String),
}

pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), JsonPatchError> {
    let p: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| JsonPatchError::Decode(e.to_string()))?;
    json_patch::patch(target, &p).map_err(|e| {
        JsonPatchError::Apply(match e.kind {
            // evanphx/json-patch's wording, which is what a real server reports.
            json_patch::PatchErrorKind::TestFailed => {
                format!("testing value {} failed: test failed", e.path)
            }
            _ => e.to_string(),
        })
    })
}

/// Strategic merge patch, with the directives kubectl emits (`$patch`, `$setElementOrder/…`,
/// `$retainKeys`, `$deleteFromPrimitiveList/…`). Lists with a merge key are merged element-wise
/// and ordered as apimachinery's strategicpatch orders them (see [`merge_list`]).
pub(crate) fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    let Some(pmap) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if pmap.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = patch.clone();
        if let Some(m) = p.as_object_mut() {
            m.remove("$patch");
        }
        *target = p;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    // `$setElementOrder/<list>` and its list are merged first, together; the list is then done.
    let mut ordered: Vec<&str> = vec![];
    for (k, order) in pmap {
        let Some(field) = k.strip_prefix("$setElementOrder/") else {
            continue;
        };
        let (Some(key), Some(order)) = (merge_key(field), order.as_array()) else {
            continue;
        };
        let Some(tmap) = target.as_object_mut() else {
            return;
        };
        let original: Option<Vec<Value>> = tmap.get(field).and_then(Value::as_array).cloned();
        let patch_list = pmap.get(field).and_then(Value::as_array);
        let merged = match (&original, patch_list) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => p.iter().map(fresh).collect(),
            (Some(o), Some(p)) => merge_list(o.clone(), p, key),
            (None, None) => continue,
        };
        let (in_order, server_only) = partition(merged, order, key);
        let server_order = original.unwrap_or_default();
        let list = normalize_element_order(in_order, server_only, order, &server_order, key);
        tmap.insert(field.to_string(), Value::Array(list));
        ordered.push(field);
    }
    for (k, v) in pmap {
        if k.starts_with("$setElementOrder/")
            || k == "$retainKeys"
            || k == "$patch"
            || ordered.contains(&k.as_str())
        {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(list), Some(del)) = (
                target.get_mut(field).and_then(Value::as_array_mut),
                v.as_array(),
            ) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        let Some(tmap) = target.as_object_mut() else {
            return;
        };
        match v {
            Value::Null => {
                tmap.remove(k);
            }
            Value::Object(_) if tmap.get(k).is_some_and(Value::is_object) => {
                if v.get("$patch").and_then(Value::as_str) == Some("delete") {
                    tmap.remove(k);
                } else if let Some(t) = tmap.get_mut(k) {
                    strategic_merge_patch(t, v);
                }
            }
            Value::Array(items) => {
                match (merge_key(k), tmap.get_mut(k).and_then(Value::as_array_mut)) {
                    (Some(key), Some(existing)) if items.iter().all(Value::is_object) => {
                        let merged = merge_list(std::mem::take(existing), items, key);
                        *existing = merged;
                    }
                    _ => {
                        tmap.insert(k.clone(), v.clone());
                    }
                }
            }
            _ => {
                tmap.insert(k.clone(), fresh(v));
            }
        }
    }
}

/// A patch value as a new element: its directives applied to nothing.
fn fresh(v: &Value) -> Value {
    if v.is_object() {
        let mut out = Value::Object(Default::default());
        strategic_merge_patch(&mut out, v);
        out
    } else {
        v.clone()
    }
}

/// Merges a list of maps by `key` the way apimachinery's `mergeSlice` does: `$patch: delete`
/// elements remove their match, `$patch: replace` replaces the list, matched elements merge in
/// place, new ones are added; then the order is enforced — the patch's elements in the patch's
/// order, the server-only elements in their live order, interleaved by the live order where both
/// are known and patch elements first where not. So a port the patch adds comes first.
fn merge_list(original: Vec<Value>, patch: &[Value], key: &str) -> Vec<Value> {
    let mut original = original;
    let mut plain: Vec<Value> = vec![];
    let mut replace = false;
    for v in patch {
        match v.get("$patch").and_then(Value::as_str) {
            None => plain.push(v.clone()),
            Some("delete") => {
                if let Some(id) = v.get(key) {
                    original.retain(|e| e.get(key) != Some(id));
                }
            }
            Some("replace") => replace = true,
            Some(_) => {}
        }
    }
    if replace {
        original = std::mem::take(&mut plain).iter().map(fresh).collect();
    }
    let server_order = original.clone();
    let mut merged = original;
    for v in &plain {
        let id = v.get(key);
        match merged.iter().position(|e| id.is_some() && e.get(key) == id) {
            Some(i) => strategic_merge_patch(&mut merged[i], v),
            None => merged.push(fresh(v)),
        }
    }
    let (patch_items, server_only) = partition(merged, &plain, key);
    normalize_element_order(patch_items, server_only, &plain, &server_order, key)
}

/// Elements whose key appears in `by`, and the rest, each in their current order.
fn partition(list: Vec<Value>, by: &[Value], key: &str) -> (Vec<Value>, Vec<Value>) {
    list.into_iter()
        .partition(|v| by.iter().any(|b| b.get(key) == v.get(key)))
}

fn index_of(list: &[Value], item: &Value, key: &str) -> Option<usize> {
    list.iter().position(|e| e.get(key) == item.get(key))
}

/// apimachinery's `normalizeElementOrder`.
fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: &str,
) -> Vec<Value> {
    let patch = normalize_slice_order(patch, patch_order, key);
    let server_only = normalize_slice_order(server_only, server_order, key);
    merge_sorted(server_only, patch, server_order, key)
}

/// apimachinery's `normalizeSliceOrder`: a stable sort by position in `order` whose comparison
/// calls an element "less" whenever either side is missing from `order`; so the exact outcome is
/// that of Go's `sort.SliceStable` algorithm, which [`go_stable_sort`] reproduces.
fn normalize_slice_order(list: Vec<Value>, order: &[Value], key: &str) -> Vec<Value> {
    let (mut keep, deleted): (Vec<Value>, Vec<Value>) = list
        .into_iter()
        .partition(|v| v.get("$patch").and_then(Value::as_str) != Some("delete"));
    go_stable_sort(
        &mut keep,
        &|a, b| match (index_of(order, a, key), index_of(order, b, key)) {
            (Some(i), Some(j)) => i < j,
            _ => true,
        },
    );
    keep.extend(deleted);
    keep
}

/// apimachinery's `mergeSortedSlice`: server-only elements (`left`) are taken before a patch
/// element (`right`) only when both are in the live list and the server-only one comes first.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    key: &str,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
    loop {
        let take_left = match (l.peek(), r.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => matches!(
                (index_of(server_order, a, key), index_of(server_order, b, key)),
                (Some(i), Some(j)) if i < j
            ),
        };
        out.extend(if take_left { l.next() } else { r.next() });
    }
    out
}

type Less<'a> = &'a dyn Fn(&Value, &Value) -> bool;

/// Go's `sort.SliceStable` (insertion sort in blocks of 20, then symmetric merges): with a
/// comparison that is not a strict order, only the same algorithm gives the same result.
fn go_stable_sort(v: &mut [Value], less: Less<'_>) {
    let n = v.len();
    let mut block = 20;
    let (mut a, mut b) = (0, block);
    while b <= n {
        insertion_sort(v, a, b, less);
        a = b;
        b += block;
    }
    insertion_sort(v, a, n, less);
    while block < n {
        let (mut a, mut b) = (0, 2 * block);
        while b <= n {
            sym_merge(v, a, a + block, b, less);
            a = b;
            b += 2 * block;
        }
        if a + block < n {
            sym_merge(v, a, a + block, n, less);
        }
        block *= 2;
    }
}

fn insertion_sort(v: &mut [Value], a: usize, b: usize, less: Less<'_>) {
    for i in a + 1..b {
        let mut j = i;
        while j > a && less(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn sym_merge(v: &mut [Value], a: usize, m: usize, b: usize, less: Less<'_>) {
    if m - a == 1 {
        let (mut i, mut j) = (m, b);
        while i < j {
            let h = (i + j) / 2;
            if less(&v[h], &v[a]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        for k in a..i - 1 {
            v.swap(k, k + 1);
        }
        return;
    }
    if b - m == 1 {
        let (mut i, mut j) = (a, m);
        while i < j {
            let h = (i + j) / 2;
            if !less(&v[m], &v[h]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        let mut k = m;
        while k > i {
            v.swap(k, k - 1);
            k -= 1;
        }
        return;
    }
    let mid = (a + b) / 2;
    let n = mid + m;
    let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
    let p = n - 1;
    while start < r {
        let c = (start + r) / 2;
        if !less(&v[p - c], &v[c]) {
            start = c + 1;
        } else {
            r = c;
        }
    }
    let end = n - start;
    if start < m && m < end {
        v[start..end].rotate_left(m - start);
    }
    if a < start && start < mid {
        sym_merge(v, a, start, mid, less);
    }
    if mid < end && end < b {
        sym_merge(v, mid, end, b, less);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn smp_merges_ports_by_port_and_honours_directives() {
        let mut t = json!({"spec": {"ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}], "selector": {"a": "b"}}});
        let p = json!({"spec": {"$setElementOrder/ports": [{"port": 80}, {"port": 443}],
            "ports": [{"port": 80, "name": "http"}, {"port": 443}], "selector": {"a": null, "c": "d"}}});
        strategic_merge_patch(&mut t, &p);
        assert_eq!(
            t["spec"]["ports"][0],
            json!({"port": 80, "protocol": "TCP", "nodePort": 30080, "name": "http"})
        );
        assert_eq!(t["spec"]["ports"][1], json!({"port": 443}));
        assert_eq!(t["spec"]["selector"], json!({"c": "d"}));
    }

    fn ports(v: &Value) -> Vec<i64> {
        v["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["port"].as_i64().unwrap())
            .collect()
    }

    #[test]
    fn smp_orders_lists_as_apimachinery_does() {
        let live = json!({"spec": {"ports": [{"port": 80}, {"port": 8080}]}});
        let run = |p: Value| {
            let mut t = live.clone();
            strategic_merge_patch(&mut t, &p);
            ports(&t)
        };
        // An added element comes first; an edited one keeps its place.
        assert_eq!(
            run(json!({"spec": {"ports": [{"port": 443}]}})),
            [443, 80, 8080]
        );
        assert_eq!(
            run(json!({"spec": {"ports": [{"port": 8080, "name": "x"}]}})),
            [80, 8080]
        );
        assert_eq!(
            run(json!({"spec": {"ports": [{"port": 443}, {"port": 80}]}})),
            [443, 80, 8080]
        );
        // The patch's own order beats the live order for the elements it names.
        assert_eq!(
            run(json!({"spec": {"ports": [{"port": 8080}, {"port": 80}]}})),
            [8080, 80]
        );
        // $setElementOrder decides, and deletions drop out.
        assert_eq!(
            run(
                json!({"spec": {"$setElementOrder/ports": [{"port": 80}, {"port": 8080}, {"port": 443}],
                "ports": [{"port": 443}]}})
            ),
            [80, 8080, 443]
        );
        assert_eq!(
            run(json!({"spec": {"ports": [{"port": 80, "$patch": "delete"}]}})),
            [8080]
        );
        assert_eq!(
            run(json!({"spec": {"ports": [{"$patch": "replace"}, {"port": 1}]}})),
            [1]
        );
    }

    #[test]
    fn go_stable_sort_is_stable_for_a_strict_order_of_any_length() {
        for n in [0usize, 1, 5, 20, 21, 45, 100] {
            let mut v: Vec<Value> = (0..n).map(|i| json!({"k": (i * 7) % 10, "i": i})).collect();
            go_stable_sort(&mut v, &|a, b| a["k"].as_i64() < b["k"].as_i64());
            let got: Vec<(i64, i64)> = v
                .iter()
                .map(|x| (x["k"].as_i64().unwrap(), x["i"].as_i64().unwrap()))
                .collect();
            let mut want = got.clone();
            want.sort();
            assert_eq!(got, want, "n = {n}");
        }
    }

    #[test]
    fn merge_and_json_patch() {
        let mut t = json!({"metadata": {"labels": {"a": "1"}}});
        merge_patch(
            &mut t,
            &json!({"metadata": {"labels": {"a": null, "b": "2"}}}),
        );
        assert_eq!(t["metadata"]["labels"], json!({"b": "2"}));
        json_patch(
            &mut t,
            &json!([{"op": "add", "path": "/spec", "value": {"x": 1}}]),
        )
        .unwrap();
        assert_eq!(t["spec"]["x"], json!(1));
        assert!(matches!(
            json_patch(&mut t, &json!([{"op": "remove", "path": "/nope"}])),
            Err(JsonPatchError::Apply(_))
        ));
        assert_eq!(
            json_patch(
                &mut t,
                &json!([{"op": "test", "path": "/spec/x", "value": 2}])
            ),
            Err(JsonPatchError::Apply(
                "testing value /spec/x failed: test failed".into()
            ))
        );
        assert!(matches!(
            json_patch(&mut t, &json!({"not": "a patch"})),
            Err(JsonPatchError::Decode(_))
        ));
    }
}
