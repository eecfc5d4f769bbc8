//! What doctor knows about the cluster, as the API server returned it.
//!
//! Services are typed: the API server validates them, and doctor must see them exactly as the
//! engine's own conversion ([`crate::ipam::service`]) does. The Cilium objects stay
//! `serde_json::Value`: their CRD schemas let through what Cilium later rejects (a block with a
//! number where a string belongs, an unknown selector operator), and such an object must become
//! a finding instead of a decode error.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Everything the ladder reads. `None` means "not served" (CRD missing) or "not fetched".
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The clock the lease checks compare against (kept here so evaluation stays pure).
    pub now: i64,
    /// Namespace of the Cilium agent (where `cilium-config` and the L2 leases live).
    pub agent_namespace: String,
    /// Services: for one Service every LoadBalancer Service of the cluster (sharing and
    /// capacity need them); for `--all` the listed ones.
    pub services: Vec<Service>,
    /// `cilium-config` data, if the ConfigMap exists.
    pub cilium_config: Option<BTreeMap<String, String>>,
    /// Pools and the API version they were served as; `None`: the CRD is not installed.
    pub pools: Option<Vec<Value>>,
    pub pool_version: Option<String>,
    /// L2 policies; `None`: the CRD is not installed.
    pub policies: Option<Vec<Value>>,
    pub nodes: Vec<Value>,
    /// CiliumNodes; `None`: the CRD is not installed.
    pub cilium_nodes: Option<Vec<Value>>,
    /// Leases in the agent namespace.
    pub leases: Vec<Value>,
    /// The agent's ServiceAccount name, from its pods (`cilium` when no pod says).
    pub agent_service_account: String,
    /// The API server's answers to SubjectAccessReviews for that ServiceAccount on leases in
    /// the agent namespace: `None` when not asked, `Err` with the server's words when it refused
    /// the review (doctor then reads the RBAC bindings below instead).
    pub lease_reviews: Option<Result<Vec<AccessReview>, String>>,
    /// RBAC objects, read only when the reviews were refused: cluster-wide ClusterRoles and
    /// bindings, and Roles and RoleBindings of the agent namespace.
    pub cluster_roles: Vec<Value>,
    pub cluster_role_bindings: Vec<Value>,
    pub roles: Vec<Value>,
    pub role_bindings: Vec<Value>,
    /// EndpointSlices of the Service(s) under examination.
    pub endpoint_slices: Vec<Value>,
    /// Pods in the agent namespace (which engine runs, other LB controllers); `None` when not
    /// fetched (one-Service doctor keeps within its request budget without them).
    pub pods: Option<Vec<Value>>,
    /// Rung 4's evidence: the outcome of the ARP/NDP probe `doctor` runs when this host shares
    /// the VIP's segment (`None`: not run, e.g. `--no-probe` or `--all`).
    pub probe: Option<ProbeOutcome>,
    /// Optional reads the server refused (403): the checks that need them say so instead of
    /// judging from an empty list.
    pub unread: Vec<Unread>,
}

/// One SubjectAccessReview's answer: may the agent `verb` leases?
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessReview {
    pub verb: String,
    pub allowed: bool,
    /// The authorizer's reason (`RBAC: allowed by ...`), or its evaluation error.
    pub reason: String,
}

/// What doctor and the listings read, so a refused read can be named and its checks skipped.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    Services,
    CiliumConfig,
    Pools,
    Policies,
    Nodes,
    CiliumNodes,
    Leases,
    ClusterRoles,
    ClusterRoleBindings,
    Roles,
    RoleBindings,
    EndpointSlices,
    Pods,
}

impl Source {
    /// `resource.group` as RBAC rules and `kubectl auth can-i` name it.
    pub fn resource(self) -> &'static str {
        match self {
            Source::Services => "services",
            Source::CiliumConfig => "configmaps",
            Source::Pools => "ciliumloadbalancerippools.cilium.io",
            Source::Policies => "ciliuml2announcementpolicies.cilium.io",
            Source::Nodes => "nodes",
            Source::CiliumNodes => "ciliumnodes.cilium.io",
            Source::Leases => "leases.coordination.k8s.io",
            Source::ClusterRoles => "clusterroles.rbac.authorization.k8s.io",
            Source::ClusterRoleBindings => "clusterrolebindings.rbac.authorization.k8s.io",
            Source::Roles => "roles.rbac.authorization.k8s.io",
            Source::RoleBindings => "rolebindings.rbac.authorization.k8s.io",
            Source::EndpointSlices => "endpointslices.discovery.k8s.io",
            Source::Pods => "pods",
        }
    }
}

/// An optional read the API server refused.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Unread {
    #[serde(skip)]
    pub source: Option<Source>,
    /// `list` or `get`.
    pub verb: String,
    /// `resource.group`, e.g. `clusterrolebindings.rbac.authorization.k8s.io`.
    pub resource: String,
    /// The object, for a GET (`cilium-config`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `None`: cluster-wide (or all namespaces).
    pub namespace: Option<String>,
    /// `forbidden`.
    pub reason: String,
    /// The server's message.
    pub message: String,
}

impl Unread {
    /// `could not read X (forbidden): the server's words`.
    pub fn note(&self) -> String {
        let what = match (&self.name, &self.namespace) {
            (Some(n), Some(ns)) => format!("{} {ns}/{n}", self.resource),
            (Some(n), None) => format!("{} {n}", self.resource),
            (None, Some(ns)) => format!("{} in {ns}", self.resource),
            (None, None) => self.resource.clone(),
        };
        format!("could not read {what} ({}): {}", self.reason, self.message)
    }

    /// The permission that would make the read work, as a command to check it.
    pub fn permission(&self) -> String {
        let scope = match &self.namespace {
            Some(ns) => format!(" -n {ns}"),
            None => String::new(),
        };
        let obj = self
            .name
            .as_ref()
            .map_or(String::new(), |n| format!("/{n}"));
        let where_ = if self.namespace.is_some() {
            " in that namespace"
        } else {
            " (cluster-wide)"
        };
        format!(
            "needs RBAC {} on {}{where_}; check with: kubectl auth can-i {} {}{obj}{scope}",
            self.verb, self.resource, self.verb, self.resource
        )
    }
}

impl Snapshot {
    /// Why `source` could not be read, if it could not.
    pub fn unread(&self, source: Source) -> Option<&Unread> {
        self.unread.iter().find(|u| u.source == Some(source))
    }
}

/// What the ARP/NDP probe for the VIP saw (filled by [`crate::doctor::probe`]).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub vip: String,
    /// Why the probe could not run (not on the VIP's segment, no CAP_NET_RAW, ...).
    pub skipped: Option<String>,
    pub responders: Vec<Responder>,
    /// MAC of the lease holder's node, found by probing its InternalIP.
    pub holder_mac: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Responder {
    pub mac: String,
    pub rtt_us: u64,
}

/// `v[a][b]...` as a string, if it is one.
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

/// `v[a][b]...`.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(*k))
}

/// `v[a][b]...` as an array (empty when missing or not an array).
pub fn arr<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// A string map (labels, annotations, ConfigMap data); non-string values are skipped.
pub fn str_map(v: &Value, path: &[&str]) -> BTreeMap<String, String> {
    at(v, path)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// A Service's `(namespace, name)`.
pub fn svc_key(s: &Service) -> (&str, &str) {
    (
        s.metadata.namespace.as_deref().unwrap_or_default(),
        s.metadata.name.as_deref().unwrap_or_default(),
    )
}

pub fn is_load_balancer(s: &Service) -> bool {
    s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
}

/// The IPs in `status.loadBalancer.ingress` (hostname-only entries dropped).
pub fn ingress_ips(s: &Service) -> impl Iterator<Item = std::net::IpAddr> + '_ {
    s.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
}

/// A Service's conditions whose type is one of `types`, in list order, in the shape doctor
/// judges every object's conditions in.
pub fn svc_conditions(s: &Service, types: &[&str]) -> Vec<Condition> {
    s.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| types.contains(&c.type_.as_str()))
        .map(|c| Condition {
            type_: c.type_.clone(),
            status: c.status.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
            last_transition: Some(c.last_transition_time.0.as_second()),
        })
        .collect()
}

pub fn name_of(v: &Value) -> &str {
    str_at(v, &["metadata", "name"]).unwrap_or_default()
}

pub fn namespace_of(v: &Value) -> &str {
    str_at(v, &["metadata", "namespace"]).unwrap_or_default()
}

/// An RFC 3339 time as Unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// A condition as read from any status, whichever generation wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_transition: Option<i64>,
}

/// Every condition of `obj` whose type is one of `types`, in list order.
pub fn conditions(obj: &Value, types: &[&str]) -> Vec<Condition> {
    arr(obj, &["status", "conditions"])
        .iter()
        .filter_map(|c| {
            let t = c.get("type")?.as_str()?;
            types.contains(&t).then(|| Condition {
                type_: t.to_owned(),
                status: c
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                reason: c
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                message: c
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                last_transition: c
                    .get("lastTransitionTime")
                    .and_then(Value::as_str)
                    .and_then(parse_time),
            })
        })
        .collect()
}

/// The newest entry by `lastTransitionTime` (legacy Cilium appended duplicates); on a tie the
/// later entry in the list wins.
pub fn newest(conds: &[Condition]) -> Option<&Condition> {
    conds
        .iter()
        .enumerate()
        .max_by_key(|(i, c)| (c.last_transition.unwrap_or(i64::MIN), *i))
        .map(|(_, c)| c)
}

/// A Go `time.Duration` string (`15s`, `1m30s`, `500ms`) in milliseconds.
pub fn parse_go_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 60e3,
            "h" => 3600e3,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_end..];
    }
    Some(total as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn newest_condition_wins_regardless_of_order() {
        let svc = json!({"status": {"conditions": [
            {"type": "io.cilium/lb-ipam-request-satisfied", "status": "True", "reason": "satisfied", "lastTransitionTime": "2024-05-01T00:00:00Z"},
            {"type": "io.cilium/lb-ipam-request-satisfied", "status": "False", "reason": "no_pool", "lastTransitionTime": "2024-01-01T00:00:00Z"},
            {"type": "other", "status": "False", "reason": "x", "lastTransitionTime": "2025-01-01T00:00:00Z"},
        ]}});
        let c = conditions(&svc, crate::model::names::SVC_SATISFIED_CONDITION_TYPES);
        assert_eq!(c.len(), 2);
        assert_eq!(newest(&c).unwrap().reason, "satisfied");
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("15s"), Some(15_000));
        assert_eq!(parse_go_duration("1m30s"), Some(90_000));
        assert_eq!(parse_go_duration("500ms"), Some(500));
        assert_eq!(parse_go_duration("abc"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}
