//! Structural-schema validation of custom resources, as the API server does it for CRDs: type
//! errors are rejected, unknown fields are pruned (or rejected with `fieldValidation=Strict`), and
//! defaults are applied.

use serde_json::{Map, Value};

#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Field errors in the API server's wording (`spec.x: Invalid value: ...`).
    pub errors: Vec<String>,
    /// Paths of unknown fields that were pruned.
    pub unknown: Vec<String>,
}

/// Validates and normalises `obj` in place against a CRD's `openAPIV3Schema`.
pub(crate) fn validate(schema: &Value, obj: &mut Value) -> Outcome {
    let mut out = Outcome::default();
    let Some(map) = obj.as_object_mut() else {
        out.errors
            .push("<root>: Invalid value: the object must be a JSON object".into());
        return out;
    };
    let props = &schema["properties"];
    for (k, v) in map.iter_mut() {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match props.get(k) {
            Some(s) => walk(s, v, k, &mut out),
            None => out.unknown.push(k.clone()),
        }
    }
    let unknown_top: Vec<String> = out
        .unknown
        .iter()
        .filter(|p| !p.contains('.'))
        .cloned()
        .collect();
    for k in unknown_top {
        map.remove(&k);
    }
    apply_defaults_and_required(schema, map, "", &mut out);
    out
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn apply_defaults_and_required(
    schema: &Value,
    map: &mut Map<String, Value>,
    path: &str,
    out: &mut Outcome,
) {
    if let Some(props) = schema["properties"].as_object() {
        for (k, s) in props {
            if !map.contains_key(k) {
                if let Some(d) = s.get("default") {
                    map.insert(k.clone(), d.clone());
                }
            }
        }
    }
    if let Some(req) = schema["required"].as_array() {
        for r in req.iter().filter_map(Value::as_str) {
            // metadata is always present on a stored object; the API server fills it.
            if path.is_empty() && r == "metadata" {
                continue;
            }
            if !map.contains_key(r) {
                let p = if path.is_empty() {
                    r.to_string()
                } else {
                    format!("{path}.{r}")
                };
                out.errors.push(format!("{p}: Required value"));
            }
        }
    }
}

fn walk(schema: &Value, v: &mut Value, path: &str, out: &mut Outcome) {
    if v.is_null() && schema["nullable"].as_bool() == Some(true) {
        return;
    }
    if schema["x-kubernetes-int-or-string"].as_bool() == Some(true) {
        if !(v.is_string() || v.is_i64() || v.is_u64()) {
            out.errors.push(format!(
                "{path}: Invalid value: {}: {path} in body must be of type integer,string: {:?}",
                show(v),
                type_name(v)
            ));
        }
        return;
    }
    if let Some(want) = schema["type"].as_str() {
        let got = type_name(v);
        let ok = got == want || (want == "number" && got == "integer");
        if !ok {
            // kube-openapi's InvalidType shows the value's type twice, never the value.
            out.errors.push(format!(
                "{path}: Invalid value: {got:?}: {path} in body must be of type {want}: {got:?}"
            ));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(v) {
            let list = allowed.iter().map(show).collect::<Vec<_>>().join(", ");
            out.errors.push(format!(
                "{path}: Unsupported value: {}: supported values: {list}",
                show(v)
            ));
        }
    }
    match v {
        Value::String(s) => {
            if let Some(max) = schema["maxLength"].as_u64() {
                if s.chars().count() as u64 > max {
                    out.errors.push(format!(
                        "{path}: Too long: may not be more than {max} bytes"
                    ));
                }
            }
            if schema["format"].as_str() == Some("cidr") && !is_cidr(s) {
                out.errors.push(format!(
                    "{path}: Invalid value: {}: {path} in body must be of type cidr: {}",
                    show(&Value::String(s.clone())),
                    show(&Value::String(s.clone()))
                ));
            }
        }
        Value::Array(items) => {
            if let Some(is) = schema.get("items") {
                for (i, it) in items.iter_mut().enumerate() {
                    walk(is, it, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(map) => {
            let preserve = schema["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true);
            let props = schema["properties"].as_object();
            let addl = schema.get("additionalProperties").filter(|a| a.is_object());
            let mut prune = vec![];
            for (k, child) in map.iter_mut() {
                let cpath = format!("{path}.{k}");
                match (props.and_then(|p| p.get(k)), addl) {
                    (Some(s), _) => walk(s, child, &cpath, out),
                    (None, Some(a)) => walk(a, child, &cpath, out),
                    (None, None) if preserve || props.is_none() && schema["type"].is_null() => {}
                    (None, None) => {
                        out.unknown.push(cpath);
                        prune.push(k.clone());
                    }
                }
            }
            for k in prune {
                map.remove(&k);
            }
            apply_defaults_and_required(schema, map, path, out);
        }
        _ => {}
    }
}

/// Go's `net.ParseCIDR` acceptance: an address, a slash, a prefix length within the family.
fn is_cidr(s: &str) -> bool {
    s.parse::<ipnet::IpNet>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool_schema() -> Value {
        let crd = serde_json::to_value(crate::model::pool::crd()).unwrap();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    }

    #[test]
    fn valid_pool_passes_and_gets_defaults() {
        let mut o = json!({"apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool", "metadata": {"name": "p"},
            "spec": {"blocks": [{"start": "10.0.0.1", "stop": "10.0.0.9"}]}});
        let out = validate(&pool_schema(), &mut o);
        assert!(out.errors.is_empty() && out.unknown.is_empty(), "{out:?}");
        assert_eq!(o["spec"]["disabled"], json!(false));
    }

    #[test]
    fn unknown_fields_are_pruned_and_reported() {
        let mut o = json!({"metadata": {"name": "p"}, "spec": {"blocks": [{"cidr": "10.0.0.0/24", "bogus": 1}], "colour": "red"}});
        let out = validate(&pool_schema(), &mut o);
        assert_eq!(out.unknown, vec!["spec.blocks[0].bogus", "spec.colour"]);
        assert!(o["spec"].get("colour").is_none());
    }

    #[test]
    fn type_enum_and_format_errors() {
        let mut o = json!({"metadata": {"name": "p"}, "spec": {"disabled": "yes", "allowFirstLastIPs": "Maybe", "blocks": [{"cidr": "10.0.0.300/24"}]}});
        let out = validate(&pool_schema(), &mut o);
        assert_eq!(out.errors.len(), 3, "{:?}", out.errors);
        assert!(out
            .errors
            .iter()
            .any(|e| e.contains("spec.allowFirstLastIPs: Unsupported value: \"Maybe\"")));
        assert!(out.errors.iter().any(|e| e
            == "spec.disabled: Invalid value: \"string\": spec.disabled in body must be of type boolean: \"string\""));
        assert!(out
            .errors
            .iter()
            .any(|e| e.contains("must be of type cidr")));
    }
}
