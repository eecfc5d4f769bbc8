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

pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let p: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| e.to_string())?;
    json_patch::patch(target, &p).map_err(|e| e.to_string())
}

/// Strategic merge patch, with the directives kubectl emits (`$patch`, `$setElementOrder/…`,
/// `$retainKeys`, `$deleteFromPrimitiveList/…`).
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
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
    for (k, v) in pmap {
        if k.starts_with("$setElementOrder/") || k == "$retainKeys" || k == "$patch" {
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
                        for item in items {
                            let id = item.get(key);
                            let pos = existing
                                .iter()
                                .position(|e| id.is_some() && e.get(key) == id);
                            let delete =
                                item.get("$patch").and_then(Value::as_str) == Some("delete");
                            match (pos, delete) {
                                (Some(i), true) => {
                                    existing.remove(i);
                                }
                                (Some(i), false) => strategic_merge_patch(&mut existing[i], item),
                                (None, false) => {
                                    let mut fresh = Value::Object(Default::default());
                                    strategic_merge_patch(&mut fresh, item);
                                    existing.push(fresh);
                                }
                                (None, true) => {}
                            }
                        }
                    }
                    _ => {
                        tmap.insert(k.clone(), v.clone());
                    }
                }
            }
            _ => {
                let mut fresh = Value::Null;
                if v.is_object() {
                    fresh = Value::Object(Default::default());
                    strategic_merge_patch(&mut fresh, v);
                } else {
                    fresh.clone_from(v);
                }
                tmap.insert(k.clone(), fresh);
            }
        }
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
        assert!(json_patch(&mut t, &json!([{"op": "remove", "path": "/nope"}])).is_err());
        assert!(json_patch(&mut t, &json!({"not": "a patch"})).is_err());
    }
}
