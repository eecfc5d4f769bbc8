//! What a real API server does to objects on write: defaulting, immutable fields and the
//! Service allocator rules of a dual-stack cluster (ClusterIPs, node ports).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{json, Value};

/// Service IP and node-port allocations held by the lab.
#[derive(Debug, Default)]
pub struct Allocators {
    next_v4: u32,
    next_v6: u128,
    node_ports: BTreeSet<i64>,
    next_node_port: i64,
}

const V4_BASE: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 0);
const V6_BASE: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x96, 0, 0, 0, 0, 0);

impl Allocators {
    fn cluster_ip(&mut self, family: &str) -> String {
        if family == "IPv6" {
            // fd00:10:96::/112; ::1 is the kubernetes Service's, as on a real cluster.
            self.next_v6 = (self.next_v6 + 1).max(10) % 0xffff;
            Ipv6Addr::from(u128::from(V6_BASE) + self.next_v6).to_string()
        } else {
            // 10.96.0.0/12
            self.next_v4 = (self.next_v4 + 1).max(10) % (1 << 20);
            Ipv4Addr::from(u32::from(V4_BASE) + self.next_v4).to_string()
        }
    }

    fn node_port(&mut self) -> Option<i64> {
        for _ in 0..2768 {
            self.next_node_port = if (30000..32767).contains(&self.next_node_port) {
                self.next_node_port + 1
            } else {
                30000
            };
            if self.node_ports.insert(self.next_node_port) {
                return Some(self.next_node_port);
            }
        }
        None
    }

    pub fn release_service(&mut self, svc: &Value) {
        for p in svc["spec"]["ports"].as_array().into_iter().flatten() {
            if let Some(np) = p["nodePort"].as_i64() {
                self.node_ports.remove(&np);
            }
        }
    }
}

/// Defaults and validates a Service. `old` is the stored object on update. Errors are field
/// errors in the API server's `field: message` form.
pub fn service(
    alloc: &mut Allocators,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), Vec<String>> {
    if !obj["spec"].is_object() {
        obj["spec"] = json!({});
    }
    let mut errs = vec![];
    let spec = &mut obj["spec"];
    let ty = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&ty.as_str()) {
        errs.push(format!(
            "spec.type: Unsupported value: \"{ty}\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
        ));
    }
    spec["type"] = json!(ty);
    if spec["sessionAffinity"].is_null() {
        spec["sessionAffinity"] = json!("None");
    }
    if spec["loadBalancerClass"].is_string() && ty != "LoadBalancer" {
        errs.push(
            "spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'"
                .into(),
        );
    }
    if let Some(old) = old {
        let (oc, nc) = (
            &old["spec"]["loadBalancerClass"],
            &spec["loadBalancerClass"],
        );
        if oc.is_string()
            && oc != nc
            && old["spec"]["type"] == "LoadBalancer"
            && ty == "LoadBalancer"
        {
            errs.push(format!(
                "spec.loadBalancerClass: Invalid value: {nc}: may not change once set"
            ));
        }
        // Allocated values survive an update that omits them (the server's patchAllocatedValues).
        for f in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if spec[f].is_null() && !old["spec"][f].is_null() {
                spec[f] = old["spec"][f].clone();
            }
        }
        let old_primary = old["spec"]["ipFamilies"][0].as_str();
        let new_primary = spec["ipFamilies"][0].as_str();
        if old_primary.is_some()
            && new_primary.is_some()
            && old_primary != new_primary
            && ty != "ExternalName"
        {
            errs.push(format!(
                "spec.ipFamilies[0]: Invalid value: \"{}\": may not change once set",
                new_primary.unwrap_or_default()
            ));
        }
    }
    let uses_node_ports = ty == "NodePort"
        || (ty == "LoadBalancer" && spec["allocateLoadBalancerNodePorts"].as_bool() != Some(false));
    if ty == "LoadBalancer" && spec["allocateLoadBalancerNodePorts"].is_null() {
        spec["allocateLoadBalancerNodePorts"] = json!(true);
    }
    if (ty == "NodePort" || ty == "LoadBalancer") && spec["externalTrafficPolicy"].is_null() {
        spec["externalTrafficPolicy"] = json!("Cluster");
    }
    if ty == "ClusterIP" {
        if let Some(m) = spec.as_object_mut() {
            m.remove("externalTrafficPolicy");
            m.remove("allocateLoadBalancerNodePorts");
        }
    }
    if ty != "ExternalName" {
        if spec["internalTrafficPolicy"].is_null() {
            spec["internalTrafficPolicy"] = json!("Cluster");
        }
        let policy = spec["ipFamilyPolicy"]
            .as_str()
            .unwrap_or("SingleStack")
            .to_string();
        let mut fams: Vec<String> = spec["ipFamilies"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        for f in &fams {
            if f != "IPv4" && f != "IPv6" {
                errs.push(format!("spec.ipFamilies: Unsupported value: \"{f}\": supported values: \"IPv4\", \"IPv6\""));
            }
        }
        match policy.as_str() {
            "SingleStack" => {
                if fams.is_empty() {
                    fams.push("IPv4".into());
                }
                fams.truncate(1);
            }
            "PreferDualStack" | "RequireDualStack" => {
                if fams.is_empty() {
                    fams.push("IPv4".into());
                }
                let other = if fams[0] == "IPv4" { "IPv6" } else { "IPv4" };
                if fams.len() < 2 {
                    fams.push(other.into());
                }
            }
            other => errs.push(format!(
                "spec.ipFamilyPolicy: Unsupported value: \"{other}\": supported values: \"PreferDualStack\", \"RequireDualStack\", \"SingleStack\""
            )),
        }
        spec["ipFamilyPolicy"] = json!(policy);
        let headless = spec["clusterIP"].as_str() == Some("None");
        if !headless {
            let mut ips: Vec<String> = spec["clusterIPs"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if ips.is_empty() {
                if let Some(ip) = spec["clusterIP"].as_str().filter(|s| !s.is_empty()) {
                    ips.push(ip.to_string());
                }
            }
            while ips.len() < fams.len() {
                let fam = fams[ips.len()].clone();
                ips.push(alloc.cluster_ip(&fam));
            }
            ips.truncate(fams.len());
            spec["clusterIP"] = json!(ips[0]);
            spec["clusterIPs"] = json!(ips);
        } else {
            spec["clusterIPs"] = json!(["None"]);
        }
        spec["ipFamilies"] = json!(fams);
    }
    let old_ports: Vec<Value> = old
        .and_then(|o| o["spec"]["ports"].as_array().cloned())
        .unwrap_or_default();
    if let Some(ports) = spec["ports"].as_array_mut() {
        for (i, p) in ports.iter_mut().enumerate() {
            let port = p["port"].as_i64().unwrap_or(0);
            if !(1..=65535).contains(&port) {
                errs.push(format!(
                    "spec.ports[{i}].port: Invalid value: {}: must be between 1 and 65535, inclusive",
                    p["port"]
                ));
            }
            if p["protocol"].is_null() {
                p["protocol"] = json!("TCP");
            }
            if p["targetPort"].is_null() {
                p["targetPort"] = json!(port);
            }
            if uses_node_ports {
                if p["nodePort"].as_i64().unwrap_or(0) == 0 {
                    let kept = old_ports
                        .iter()
                        .find(|o| o["port"] == p["port"] && o["protocol"] == p["protocol"])
                        .and_then(|o| o["nodePort"].as_i64());
                    match kept.or_else(|| alloc.node_port()) {
                        Some(np) => p["nodePort"] = json!(np),
                        None => errs.push(format!(
                            "spec.ports[{i}].nodePort: Internal error: range is full"
                        )),
                    }
                } else if let Some(np) = p["nodePort"].as_i64() {
                    alloc.node_ports.insert(np);
                }
            } else if let Some(m) = p.as_object_mut() {
                // Changing the type to ClusterIP releases node ports, as a real server does.
                if let Some(np) = m.remove("nodePort").and_then(|v| v.as_i64()) {
                    alloc.node_ports.remove(&np);
                }
            }
        }
    } else if ty != "ExternalName" && spec["clusterIP"].as_str() != Some("None") {
        errs.push("spec.ports: Required value".into());
    }
    if obj["status"].is_null()
        || (obj["status"].is_object() && obj["status"]["loadBalancer"].is_null())
    {
        obj["status"]["loadBalancer"] = json!({});
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// Namespace defaults: the metadata.name label, the kubernetes finalizer and phase Active.
pub fn namespace(obj: &mut Value) {
    let name = obj["metadata"]["name"].clone();
    obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    if obj["spec"]["finalizers"].is_null() {
        obj["spec"]["finalizers"] = json!(["kubernetes"]);
    }
    obj["status"]["phase"] = json!("Active");
}

/// A Secret's `stringData` is write-only: the server merges it into `data`, base64-encoded.
pub fn secret(obj: &mut Value) {
    use base64::Engine;
    if let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|o| o.remove("stringData")) {
        if !obj["data"].is_object() {
            obj["data"] = serde_json::json!({});
        }
        for (k, v) in sd {
            let text = v.as_str().unwrap_or_default();
            obj["data"][k] =
                serde_json::json!(base64::engine::general_purpose::STANDARD.encode(text));
        }
    }
    if obj["type"].as_str().is_none_or(str::is_empty) {
        obj["type"] = serde_json::json!("Opaque");
    }
}

/// The default ClusterRoles and bindings every cluster has that authentication relies on: admins
/// (system:masters), discovery and self-reviews for every authenticated user.
pub fn bootstrap_rbac() -> Vec<Value> {
    use serde_json::json;
    let meta = |name: &str| {
        json!({"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}})
    };
    let role = |name: &str, rules: Value| json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(name), "rules": rules});
    let binding = |name: &str, groups: &[&str]| {
        let subjects: Vec<Value> = groups
            .iter()
            .map(|g| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}))
            .collect();
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta(name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": subjects})
    };
    vec![
        role(
            "cluster-admin",
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                   {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        ),
        binding("cluster-admin", &["system:masters"]),
        role(
            "system:discovery",
            json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                "/openapi", "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        ),
        binding("system:discovery", &["system:authenticated"]),
        role(
            "system:basic-user",
            json!([{"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                   {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}]),
        ),
        binding("system:basic-user", &["system:authenticated"]),
        role(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        ),
        binding(
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(spec: Value) -> Value {
        json!({"metadata": {"name": "s", "namespace": "d"}, "spec": spec})
    }

    #[test]
    fn load_balancer_gets_cluster_ip_node_ports_and_defaults() {
        let mut a = Allocators::default();
        let mut o = svc(json!({"type": "LoadBalancer", "ports": [{"port": 80}]}));
        service(&mut a, &mut o, None).unwrap();
        assert!(o["spec"]["clusterIP"]
            .as_str()
            .unwrap()
            .starts_with("10.96."));
        assert_eq!(o["spec"]["ports"][0]["nodePort"], json!(30000));
        assert_eq!(o["spec"]["externalTrafficPolicy"], json!("Cluster"));
        assert_eq!(o["status"]["loadBalancer"], json!({}));
    }

    #[test]
    fn dual_stack_and_immutable_fields() {
        let mut a = Allocators::default();
        let mut o = svc(
            json!({"type": "LoadBalancer", "ipFamilyPolicy": "PreferDualStack", "loadBalancerClass": "x", "ports": [{"port": 80}]}),
        );
        service(&mut a, &mut o, None).unwrap();
        assert_eq!(o["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
        assert!(o["spec"]["clusterIPs"][1]
            .as_str()
            .unwrap()
            .starts_with("fd00:10:96::"));
        let old = o.clone();
        let mut changed = o.clone();
        changed["spec"]["loadBalancerClass"] = json!("y");
        let e = service(&mut a, &mut changed, Some(&old))
            .unwrap_err()
            .join(", ");
        assert!(
            e.contains("spec.loadBalancerClass: Invalid value: \"y\": may not change once set"),
            "{e}"
        );
        let mut fam = o.clone();
        fam["spec"]["ipFamilies"] = json!(["IPv6", "IPv4"]);
        assert!(service(&mut a, &mut fam, Some(&old)).unwrap_err()[0]
            .contains("may not change once set"));
    }

    #[test]
    fn type_change_to_cluster_ip_clears_node_ports() {
        let mut a = Allocators::default();
        let mut o = svc(json!({"type": "NodePort", "ports": [{"port": 80}]}));
        service(&mut a, &mut o, None).unwrap();
        let old = o.clone();
        o["spec"]["type"] = json!("ClusterIP");
        service(&mut a, &mut o, Some(&old)).unwrap();
        assert!(o["spec"]["ports"][0].get("nodePort").is_none());
    }
}
