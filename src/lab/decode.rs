//! What a real API server's decoding into Go types rejects: a body that is not an object, and
//! fields of the wrong JSON type in the built-in kinds the lab serves. The lab stores JSON, so
//! without this a Service with `status.loadBalancer.ingress: "notalist"` would be stored and then
//! break every typed client that lists Services.
//!
//! Messages follow Go's `encoding/json` (`json: cannot unmarshal string into Go struct field
//! LoadBalancerStatus.status.loadBalancer.ingress of type []v1.LoadBalancerIngress`).

use serde_json::Value;

/// A Go type, as far as JSON decoding tells them apart.
enum T {
    Str,
    Int(&'static str),
    Bool,
    IntOrStr,
    /// Quantities and other string-or-number scalars.
    Quantity,
    Map(Box<T>),
    List(Box<T>),
    /// A Go struct: its type name (`v1.ServiceSpec`) and the fields the lab knows; others pass.
    Struct(&'static str, Vec<(&'static str, T)>),
}

use T::*;

fn list(t: T) -> T {
    List(Box::new(t))
}
fn strs() -> T {
    list(Str)
}
fn str_map() -> T {
    Map(Box::new(Str))
}

fn object_meta() -> T {
    Struct(
        "v1.ObjectMeta",
        vec![
            ("name", Str),
            ("generateName", Str),
            ("namespace", Str),
            ("uid", Str),
            ("resourceVersion", Str),
            ("generation", Int("int64")),
            ("labels", str_map()),
            ("annotations", str_map()),
            ("finalizers", strs()),
            (
                "ownerReferences",
                list(Struct(
                    "v1.OwnerReference",
                    vec![
                        ("apiVersion", Str),
                        ("kind", Str),
                        ("name", Str),
                        ("uid", Str),
                        ("controller", Bool),
                        ("blockOwnerDeletion", Bool),
                    ],
                )),
            ),
            (
                "managedFields",
                list(Struct(
                    "v1.ManagedFieldsEntry",
                    vec![
                        ("manager", Str),
                        ("operation", Str),
                        ("apiVersion", Str),
                        ("fieldsType", Str),
                        ("subresource", Str),
                    ],
                )),
            ),
        ],
    )
}

fn condition() -> T {
    Struct(
        "v1.Condition",
        vec![
            ("type", Str),
            ("status", Str),
            ("observedGeneration", Int("int64")),
            ("reason", Str),
            ("message", Str),
        ],
    )
}

fn service() -> T {
    let port = Struct(
        "v1.ServicePort",
        vec![
            ("name", Str),
            ("protocol", Str),
            ("appProtocol", Str),
            ("port", Int("int32")),
            ("targetPort", IntOrStr),
            ("nodePort", Int("int32")),
        ],
    );
    let spec = Struct(
        "v1.ServiceSpec",
        vec![
            ("ports", list(port)),
            ("selector", str_map()),
            ("clusterIP", Str),
            ("clusterIPs", strs()),
            ("type", Str),
            ("externalIPs", strs()),
            ("sessionAffinity", Str),
            ("loadBalancerIP", Str),
            ("loadBalancerSourceRanges", strs()),
            ("externalName", Str),
            ("externalTrafficPolicy", Str),
            ("healthCheckNodePort", Int("int32")),
            ("publishNotReadyAddresses", Bool),
            ("ipFamilies", strs()),
            ("ipFamilyPolicy", Str),
            ("allocateLoadBalancerNodePorts", Bool),
            ("loadBalancerClass", Str),
            ("internalTrafficPolicy", Str),
        ],
    );
    let port_status = Struct(
        "v1.PortStatus",
        vec![("port", Int("int32")), ("protocol", Str), ("error", Str)],
    );
    let ingress = Struct(
        "v1.LoadBalancerIngress",
        vec![
            ("ip", Str),
            ("hostname", Str),
            ("ipMode", Str),
            ("ports", list(port_status)),
        ],
    );
    let status = Struct(
        "v1.ServiceStatus",
        vec![
            (
                "loadBalancer",
                Struct("v1.LoadBalancerStatus", vec![("ingress", list(ingress))]),
            ),
            ("conditions", list(condition())),
        ],
    );
    Struct(
        "v1.Service",
        vec![
            ("metadata", object_meta()),
            ("spec", spec),
            ("status", status),
        ],
    )
}

fn endpoint_slice() -> T {
    let conditions = Struct(
        "v1.EndpointConditions",
        vec![("ready", Bool), ("serving", Bool), ("terminating", Bool)],
    );
    let endpoint = Struct(
        "v1.Endpoint",
        vec![
            ("addresses", strs()),
            ("conditions", conditions),
            ("hostname", Str),
            ("nodeName", Str),
            ("zone", Str),
        ],
    );
    let port = Struct(
        "v1.EndpointPort",
        vec![
            ("name", Str),
            ("protocol", Str),
            ("port", Int("int32")),
            ("appProtocol", Str),
        ],
    );
    Struct(
        "v1.EndpointSlice",
        vec![
            ("metadata", object_meta()),
            ("addressType", Str),
            ("endpoints", list(endpoint)),
            ("ports", list(port)),
        ],
    )
}

fn lease() -> T {
    let spec = Struct(
        "v1.LeaseSpec",
        vec![
            ("holderIdentity", Str),
            ("leaseDurationSeconds", Int("int32")),
            ("acquireTime", Str),
            ("renewTime", Str),
            ("leaseTransitions", Int("int32")),
            ("strategy", Str),
            ("preferredHolder", Str),
        ],
    );
    Struct(
        "v1.Lease",
        vec![("metadata", object_meta()), ("spec", spec)],
    )
}

fn node() -> T {
    let taint = Struct(
        "v1.Taint",
        vec![("key", Str), ("value", Str), ("effect", Str)],
    );
    let spec = Struct(
        "v1.NodeSpec",
        vec![
            ("podCIDR", Str),
            ("podCIDRs", strs()),
            ("providerID", Str),
            ("unschedulable", Bool),
            ("taints", list(taint)),
        ],
    );
    let address = Struct("v1.NodeAddress", vec![("type", Str), ("address", Str)]);
    let cond = Struct(
        "v1.NodeCondition",
        vec![
            ("type", Str),
            ("status", Str),
            ("reason", Str),
            ("message", Str),
        ],
    );
    let status = Struct(
        "v1.NodeStatus",
        vec![
            ("addresses", list(address)),
            ("conditions", list(cond)),
            ("capacity", Map(Box::new(Quantity))),
            ("allocatable", Map(Box::new(Quantity))),
        ],
    );
    Struct(
        "v1.Node",
        vec![
            ("metadata", object_meta()),
            ("spec", spec),
            ("status", status),
        ],
    )
}

fn config_map() -> T {
    Struct(
        "v1.ConfigMap",
        vec![
            ("metadata", object_meta()),
            ("immutable", Bool),
            ("data", str_map()),
            ("binaryData", str_map()),
        ],
    )
}

fn namespace() -> T {
    Struct(
        "v1.Namespace",
        vec![
            ("metadata", object_meta()),
            (
                "spec",
                Struct("v1.NamespaceSpec", vec![("finalizers", strs())]),
            ),
            ("status", Struct("v1.NamespaceStatus", vec![("phase", Str)])),
        ],
    )
}

/// The Go type of a kind the lab models; others are checked only as objects with metadata.
fn kind_type(group: &str, kind: &str) -> T {
    match (group, kind) {
        ("", "Service") => service(),
        ("", "Node") => node(),
        ("", "ConfigMap") => config_map(),
        ("", "Namespace") => namespace(),
        ("discovery.k8s.io", "EndpointSlice") => endpoint_slice(),
        ("coordination.k8s.io", "Lease") => lease(),
        _ => Struct("", vec![("metadata", object_meta())]),
    }
}

pub(crate) fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(n) if n.is_i64() || n.is_u64() => "number".into(),
        Value::Number(n) => format!("number {n}"),
        Value::String(_) => "string".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
    }
}

fn go_name(t: &T) -> String {
    match t {
        Str => "string".into(),
        Int(n) => (*n).into(),
        Bool => "bool".into(),
        IntOrStr => "intstr.IntOrString".into(),
        Quantity => "resource.Quantity".into(),
        Map(v) => format!("map[string]{}", go_name(v)),
        List(v) => format!("[]{}", go_name(v)),
        Struct(n, _) => (*n).into(),
    }
}

fn int_fits(n: &serde_json::Number, ty: &str) -> bool {
    match (n.as_i64(), ty) {
        (Some(i), "int32") => i32::try_from(i).is_ok(),
        (Some(_), _) => true,
        _ => false,
    }
}

/// `owner`: the innermost struct's short name; `path`: dotted JSON path from the root.
fn walk(t: &T, v: &Value, owner: &str, path: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "json: cannot unmarshal {} into Go struct field {owner}.{path} of type {}",
            json_kind(v),
            go_name(t)
        ))
    };
    // JSON null decodes to the zero value of every Go type.
    if v.is_null() {
        return Ok(());
    }
    match t {
        Str if v.is_string() => Ok(()),
        Bool if v.is_boolean() => Ok(()),
        Int(ty) => match v {
            Value::Number(n) if int_fits(n, ty) => Ok(()),
            _ => bad(),
        },
        IntOrStr | Quantity if v.is_string() || v.is_number() => Ok(()),
        Map(inner) => match v {
            Value::Object(m) => m.iter().try_for_each(|(_, c)| walk(inner, c, owner, path)),
            _ => bad(),
        },
        List(inner) => match v {
            Value::Array(items) => items.iter().try_for_each(|c| walk(inner, c, owner, path)),
            _ => bad(),
        },
        Struct(name, fields) => match v {
            Value::Object(m) => {
                let short = name.rsplit('.').next().unwrap_or(name);
                for (k, ft) in fields {
                    if let Some(c) = m.get(*k) {
                        let p = if path.is_empty() {
                            k.to_string()
                        } else {
                            format!("{path}.{k}")
                        };
                        walk(ft, c, short, &p)?;
                    }
                }
                Ok(())
            }
            _ => bad(),
        },
        _ => bad(),
    }
}

/// Checks `obj` as a real server's decoder would before anything else looks at it.
pub fn check(group: &str, kind: &str, obj: &Value) -> Result<(), String> {
    if !obj.is_object() {
        return Err(format!(
            "couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
            json_kind(obj)
        ));
    }
    for k in ["apiVersion", "kind"] {
        if !obj[k].is_null() && !obj[k].is_string() {
            return Err(format!(
                "couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go struct field .{k} of type string",
                json_kind(&obj[k])
            ));
        }
    }
    let t = kind_type(group, kind);
    // The root's fields are reported against the kind itself (`Service.metadata`).
    match &t {
        Struct(_, fields) => {
            for (k, ft) in fields {
                if let Some(c) = obj.get(*k) {
                    walk(ft, c, kind, k)?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn non_objects_are_rejected_as_the_decoder_words_it() {
        let e = check("", "Service", &json!([1, 2, 3])).unwrap_err();
        assert!(e.starts_with("couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct"), "{e}");
        assert!(check("", "Service", &json!("hello"))
            .unwrap_err()
            .contains("unmarshal string"));
    }

    #[test]
    fn wrong_types_in_built_in_kinds_name_the_struct_field() {
        assert_eq!(
            check("", "Service", &json!({"metadata": 5})).unwrap_err(),
            "json: cannot unmarshal number into Go struct field Service.metadata of type v1.ObjectMeta"
        );
        assert_eq!(
            check("", "Service", &json!({"status": {"loadBalancer": {"ingress": "notalist"}}})).unwrap_err(),
            "json: cannot unmarshal string into Go struct field LoadBalancerStatus.status.loadBalancer.ingress of type []v1.LoadBalancerIngress"
        );
        assert_eq!(
            check("", "Service", &json!({"spec": {"ports": [{"port": "80"}]}})).unwrap_err(),
            "json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32"
        );
        assert!(check("", "ConfigMap", &json!({"data": {"a": 1}}))
            .unwrap_err()
            .contains("ConfigMap.data of type string"));
        assert!(check(
            "coordination.k8s.io",
            "Lease",
            &json!({"spec": {"leaseDurationSeconds": 1.5}})
        )
        .unwrap_err()
        .contains("number 1.5"));
        assert!(check(
            "discovery.k8s.io",
            "EndpointSlice",
            &json!({"endpoints": [{"addresses": "10.0.0.1"}]})
        )
        .is_err());
        assert!(check("", "Node", &json!({"status": {"addresses": {}}})).is_err());
        check("", "Service", &json!({"metadata": {"name": "x", "labels": {"a": "b"}}, "spec": {"ports": [{"port": 80, "targetPort": "http"}], "clusterIP": null}})).unwrap();
        check(
            "cilium.io",
            "CiliumLoadBalancerIPPool",
            &json!({"spec": {"blocks": "anything"}}),
        )
        .unwrap();
    }
}
