//! `as=Table` responses for `kubectl get`, with the columns a real cluster prints.

use serde_json::{json, Value};

use super::registry::ResourceType;
use crate::output::human_duration;

fn age(obj: &Value, now: jiff::Timestamp) -> String {
    match obj["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
    {
        Some(t) => human_duration(now.as_second() - t.as_second()),
        None => "<unknown>".into(),
    }
}

fn col(name: &str, ty: &str, format: &str, priority: i32) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": "", "priority": priority})
}

/// Minimal JSONPath for printer columns: `.a.b`, and `.a[?(@.k=="v")].b`.
pub(crate) fn eval_jsonpath(obj: &Value, path: &str) -> Option<Value> {
    let mut cur = vec![obj.clone()];
    let mut rest = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('.');
    while !rest.is_empty() {
        let (seg, tail) = match rest.find(['.', '[']) {
            Some(0) if rest.starts_with('[') => {
                let end = rest.find(']')?;
                (&rest[..=end], &rest[end + 1..])
            }
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        rest = tail.trim_start_matches('.');
        if let Some(filter) = seg.strip_prefix("[?(@.").and_then(|s| s.strip_suffix(")]")) {
            let (k, v) = filter.split_once("==")?;
            let v = v.trim().trim_matches('"').trim_matches('\'');
            cur = cur
                .iter()
                .flat_map(|c| c.as_array().cloned().unwrap_or_default())
                .filter(|e| e[k.trim()].as_str() == Some(v))
                .collect();
        } else if seg == "[*]" {
            cur = cur
                .iter()
                .flat_map(|c| c.as_array().cloned().unwrap_or_default())
                .collect();
        } else if !seg.is_empty() {
            cur = cur.iter().filter_map(|c| c.get(seg).cloned()).collect();
        }
    }
    match cur.len() {
        0 => None,
        1 => cur.pop(),
        _ => Some(Value::Array(cur)),
    }
}

fn service_row(obj: &Value) -> Vec<Value> {
    let spec = &obj["spec"];
    let ty = spec["type"].as_str().unwrap_or("ClusterIP");
    let cluster_ip = spec["clusterIPs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|s| !s.is_empty())
        .or_else(|| spec["clusterIP"].as_str().map(String::from))
        .unwrap_or_else(|| "<none>".into());
    let mut ext: Vec<String> = obj["status"]["loadBalancer"]["ingress"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| {
                    i["ip"]
                        .as_str()
                        .or_else(|| i["hostname"].as_str())
                        .map(String::from)
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(e) = spec["externalIPs"].as_array() {
        ext.extend(e.iter().filter_map(Value::as_str).map(String::from));
    }
    let external = if !ext.is_empty() {
        ext.join(",")
    } else if ty == "LoadBalancer" {
        "<pending>".into()
    } else if ty == "ExternalName" {
        spec["externalName"].as_str().unwrap_or("<none>").into()
    } else {
        "<none>".into()
    };
    let ports = spec["ports"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let proto = p["protocol"].as_str().unwrap_or("TCP");
                    match p["nodePort"].as_i64() {
                        Some(np) if np != 0 => format!("{}:{}/{}", p["port"], np, proto),
                        _ => format!("{}/{}", p["port"], proto),
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "<none>".into());
    let selector = spec["selector"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "<none>".into());
    vec![
        json!(ty),
        json!(cluster_ip),
        json!(external),
        json!(ports),
        json!(selector),
    ]
}

fn node_row(obj: &Value) -> Vec<Value> {
    let ready = obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .map(|c| {
            if c["status"] == "True" {
                "Ready"
            } else {
                "NotReady"
            }
        })
        .unwrap_or("Unknown");
    let roles: Vec<String> = obj["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/").map(String::from))
                .collect()
        })
        .unwrap_or_default();
    vec![
        json!(ready),
        json!(if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        }),
        json!(obj["status"]["nodeInfo"]["kubeletVersion"]
            .as_str()
            .unwrap_or("")),
    ]
}

/// Builds a `meta.k8s.io/v1` Table. `include_object` is the `includeObject` query parameter.
pub(crate) fn to_table(
    rt: &ResourceType,
    objects: &[Value],
    rv: &str,
    include_object: &str,
) -> Value {
    let now = jiff::Timestamp::now();
    let name_col = json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0});
    let (columns, rows): (Vec<Value>, Vec<Vec<Value>>) = match (
        rt.group.as_str(),
        rt.plural.as_str(),
    ) {
        ("", "services") => (
            vec![
                name_col,
                col("Type", "string", "", 0),
                col("Cluster-IP", "string", "", 0),
                col("External-IP", "string", "", 0),
                col("Port(s)", "string", "", 0),
                col("Age", "string", "", 0),
                col("Selector", "string", "", 1),
            ],
            objects
                .iter()
                .map(|o| {
                    let mut r = service_row(o);
                    let sel = r.pop().unwrap_or(Value::Null);
                    let mut row = vec![o["metadata"]["name"].clone()];
                    row.extend(r);
                    row.push(json!(age(o, now)));
                    row.push(sel);
                    row
                })
                .collect(),
        ),
        ("", "nodes") => (
            vec![
                name_col,
                col("Status", "string", "", 0),
                col("Roles", "string", "", 0),
                col("Age", "string", "", 0),
                col("Version", "string", "", 0),
            ],
            objects
                .iter()
                .map(|o| {
                    let r = node_row(o);
                    vec![
                        o["metadata"]["name"].clone(),
                        r[0].clone(),
                        r[1].clone(),
                        json!(age(o, now)),
                        r[2].clone(),
                    ]
                })
                .collect(),
        ),
        ("coordination.k8s.io", "leases") => (
            vec![
                name_col,
                col("Holder", "string", "", 0),
                col("Age", "string", "", 0),
            ],
            objects
                .iter()
                .map(|o| {
                    vec![
                        o["metadata"]["name"].clone(),
                        json!(o["spec"]["holderIdentity"].as_str().unwrap_or("")),
                        json!(age(o, now)),
                    ]
                })
                .collect(),
        ),
        _ if !rt.printer_columns.is_empty() => {
            let mut cols = vec![name_col];
            for pc in &rt.printer_columns {
                cols.push(json!({
                    "name": pc["name"], "type": if pc["type"] == "date" { json!("date") } else { pc["type"].clone() },
                    "format": pc.get("format").cloned().unwrap_or(json!("")),
                    "description": pc.get("description").cloned().unwrap_or(json!("")),
                    "priority": pc.get("priority").cloned().unwrap_or(json!(0)),
                }));
            }
            let rows = objects
                .iter()
                .map(|o| {
                    let mut row = vec![o["metadata"]["name"].clone()];
                    for pc in &rt.printer_columns {
                        let v = eval_jsonpath(o, pc["jsonPath"].as_str().unwrap_or_default());
                        let cell = match (pc["type"].as_str(), v) {
                            (Some("date"), Some(Value::String(s))) => {
                                match s.parse::<jiff::Timestamp>() {
                                    Ok(t) => json!(human_duration(now.as_second() - t.as_second())),
                                    Err(_) => json!(s),
                                }
                            }
                            (_, Some(Value::Array(a))) => json!(a
                                .iter()
                                .map(|x| x
                                    .as_str()
                                    .map(String::from)
                                    .unwrap_or_else(|| x.to_string()))
                                .collect::<Vec<_>>()
                                .join(",")),
                            (_, Some(v)) => v,
                            (_, None) => Value::Null,
                        };
                        row.push(cell);
                    }
                    row
                })
                .collect();
            (cols, rows)
        }
        _ => (
            vec![name_col, col("Age", "string", "", 0)],
            objects
                .iter()
                .map(|o| vec![o["metadata"]["name"].clone(), json!(age(o, now))])
                .collect(),
        ),
    };
    let rows: Vec<Value> = objects
        .iter()
        .zip(rows)
        .map(|(o, cells)| {
            let object = match include_object {
                "None" => Value::Null,
                "Object" => o.clone(),
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}),
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonpath_filters() {
        let o = json!({"status": {"conditions": [{"type": "a", "status": "False"}, {"type": "cilium.io/PoolConflict", "status": "True"}]}, "spec": {"disabled": false}});
        assert_eq!(
            eval_jsonpath(
                &o,
                r#".status.conditions[?(@.type=="cilium.io/PoolConflict")].status"#
            ),
            Some(json!("True"))
        );
        assert_eq!(eval_jsonpath(&o, ".spec.disabled"), Some(json!(false)));
        assert_eq!(eval_jsonpath(&o, ".spec.missing"), None);
    }
}
