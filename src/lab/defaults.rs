//! What a real API server does to objects on write: defaulting, immutable fields and the
//! Service allocator rules of a dual-stack cluster (ClusterIPs, node ports).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{json, Value};

/// Service IP and node-port allocations held by the lab.
#[derive(Debug, Default)]
pub(crate) struct Allocators {
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

    pub(crate) fn release_service(&mut self, svc: &Value) {
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
        // While a Service is and stays a LoadBalancer its class is fixed, set or not: unset to
        // set is a change too. Only a type change to or from LoadBalancer may set or drop it.
        let (oc, nc) = (
            old["spec"]["loadBalancerClass"].as_str(),
            spec["loadBalancerClass"].as_str(),
        );
        if oc != nc && old["spec"]["type"] == "LoadBalancer" && ty == "LoadBalancer" {
            // Go prints a nil pointer as "null".
            let shown = format!("{:?}", nc.unwrap_or("null"));
            errs.push(format!(
                "spec.loadBalancerClass: Invalid value: {shown}: may not change once set"
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

/// `metav1.Time`'s wire form: whole seconds, UTC.
const GO_TIME: &str = "%Y-%m-%dT%H:%M:%SZ";
/// `metav1.MicroTime`'s wire form: microseconds, UTC.
const GO_MICRO_TIME: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// Re-renders the time string at `v` (if present) in `format`, truncating what it cannot hold.
fn go_time(v: &mut Value, format: &str) -> Result<(), String> {
    let Some(s) = v.as_str() else {
        return Ok(());
    };
    let t: jiff::Timestamp = s.parse().map_err(|_| {
        format!("parsing time {s:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse {s:?}")
    })?;
    let micros = jiff::Timestamp::from_microsecond(t.as_microsecond()).unwrap_or(t);
    *v = json!(micros.strftime(format).to_string());
    Ok(())
}

/// What a real server's decode into its Go types (with defaulting) and encode back does to the
/// fields lbctl's clients write: a `metav1.Time` keeps whole seconds, a `MicroTime`
/// microseconds, an `omitempty` integer that is zero disappears (a Service condition's
/// `observedGeneration: 0`), and a LoadBalancer's ingress IP gets `ipMode: VIP`.
/// Custom resources are stored as sent, so this applies to built-in kinds only. The error is a
/// decode error (400).
pub(crate) fn round_trip(group: &str, plural: &str, obj: &mut Value) -> Result<(), String> {
    match (group, plural) {
        ("", "services") => {
            // SetDefaults_Service: a LoadBalancer's ingress IPs get `ipMode: VIP` (GA since 1.32).
            if obj["spec"]["type"] == "LoadBalancer" {
                let ingress = obj
                    .get_mut("status")
                    .and_then(|s| s.get_mut("loadBalancer"))
                    .and_then(|l| l.get_mut("ingress"))
                    .and_then(Value::as_array_mut);
                for i in ingress.into_iter().flatten() {
                    let has_ip = i["ip"].as_str().is_some_and(|ip| !ip.is_empty());
                    if has_ip && i.get("ipMode").is_none_or(Value::is_null) {
                        i["ipMode"] = json!("VIP");
                    }
                }
            }
            // `get_mut`, not indexing: indexing would add the fields it looks for.
            let conditions = obj
                .get_mut("status")
                .and_then(|s| s.get_mut("conditions"))
                .and_then(Value::as_array_mut);
            for c in conditions.into_iter().flatten() {
                if c["observedGeneration"].as_i64() == Some(0) {
                    if let Some(m) = c.as_object_mut() {
                        m.remove("observedGeneration");
                    }
                }
                if let Some(t) = c.get_mut("lastTransitionTime") {
                    go_time(t, GO_TIME)?;
                }
            }
        }
        ("coordination.k8s.io", "leases") => {
            for f in ["acquireTime", "renewTime"] {
                if let Some(t) = obj.get_mut("spec").and_then(|s| s.get_mut(f)) {
                    go_time(t, GO_MICRO_TIME)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
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
pub(crate) fn bootstrap_rbac() -> Vec<Value> {
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
        let mut unset = o.clone();
        unset["spec"]
            .as_object_mut()
            .unwrap()
            .remove("loadBalancerClass");
        let e = service(&mut a, &mut unset, Some(&old)).unwrap_err();
        assert_eq!(
            e,
            ["spec.loadBalancerClass: Invalid value: \"null\": may not change once set"]
        );
        // Unset to set is a change as well…
        let e = service(&mut a, &mut changed.clone(), Some(&unset)).unwrap_err();
        assert_eq!(
            e,
            ["spec.loadBalancerClass: Invalid value: \"y\": may not change once set"]
        );
        // …but a type change to LoadBalancer may bring a class along.
        let mut np = unset.clone();
        np["spec"]["type"] = json!("NodePort");
        service(&mut a, &mut changed.clone(), Some(&np)).unwrap();
        let mut fam = o.clone();
        fam["spec"]["ipFamilies"] = json!(["IPv6", "IPv4"]);
        assert!(service(&mut a, &mut fam, Some(&old)).unwrap_err()[0]
            .contains("may not change once set"));
    }

    #[test]
    fn round_trip_drops_what_go_types_cannot_hold() {
        let mut svc = json!({"status": {"conditions": [
            {"type": "a", "observedGeneration": 0, "lastTransitionTime": "2026-01-02T03:04:05.678901234Z"},
            {"type": "b", "observedGeneration": 3, "lastTransitionTime": "2026-01-02T04:04:05+01:00"}]}});
        round_trip("", "services", &mut svc).unwrap();
        let c = &svc["status"]["conditions"];
        assert!(c[0].get("observedGeneration").is_none(), "{c}");
        assert_eq!(c[0]["lastTransitionTime"], "2026-01-02T03:04:05Z");
        assert_eq!(c[1]["observedGeneration"], 3);
        assert_eq!(c[1]["lastTransitionTime"], "2026-01-02T03:04:05Z");
        let mut lease =
            json!({"spec": {"renewTime": "2026-01-02T03:04:05.123456789Z", "leaseTransitions": 0}});
        round_trip("coordination.k8s.io", "leases", &mut lease).unwrap();
        assert_eq!(lease["spec"]["renewTime"], "2026-01-02T03:04:05.123456Z");
        assert_eq!(
            lease["spec"]["leaseTransitions"], 0,
            "a pointer keeps its zero"
        );
        let mut lb = json!({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [
            {"ip": "10.0.0.1"}, {"ip": "10.0.0.2", "ipMode": "Proxy"}, {"hostname": "x"}]}}});
        round_trip("", "services", &mut lb).unwrap();
        assert_eq!(
            lb["status"]["loadBalancer"]["ingress"],
            json!([{"ip": "10.0.0.1", "ipMode": "VIP"}, {"ip": "10.0.0.2", "ipMode": "Proxy"}, {"hostname": "x"}])
        );
        let mut bare = json!({"metadata": {}});
        round_trip("", "services", &mut bare).unwrap();
        round_trip("coordination.k8s.io", "leases", &mut bare).unwrap();
        assert_eq!(bare, json!({"metadata": {}}), "adds nothing");
        let mut bad = json!({"status": {"conditions": [{"lastTransitionTime": "yesterday"}]}});
        assert!(round_trip("", "services", &mut bad).is_err());
        // Custom resources keep what they were sent.
        let mut cr = json!({"status": {"conditions": [{"observedGeneration": 0}]}});
        round_trip("cilium.io", "ciliumloadbalancerippools", &mut cr).unwrap();
        assert_eq!(cr["status"]["conditions"][0]["observedGeneration"], 0);
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
