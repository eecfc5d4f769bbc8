//! The single home of every Cilium string lbctl reads or writes.
//!
//! Values come from Cilium's Go sources (see docs/architecture.md); both generations of names are kept
//! because clusters in the field run both (the rename most likely shipped in Cilium 1.15).

/// API group of every Cilium CRD.
pub(crate) const CILIUM_GROUP: &str = "cilium.io";
pub(crate) const V2: &str = "v2";
pub(crate) const V2ALPHA1: &str = "v2alpha1";

pub(crate) const POOL_KIND: &str = "CiliumLoadBalancerIPPool";
pub(crate) const POOL_PLURAL: &str = "ciliumloadbalancerippools";

pub(crate) const POLICY_KIND: &str = "CiliumL2AnnouncementPolicy";
pub(crate) const POLICY_PLURAL: &str = "ciliuml2announcementpolicies";
pub(crate) const POLICY_SINGULAR: &str = "ciliuml2announcementpolicy";

pub(crate) const CILIUM_NODE_PLURAL: &str = "ciliumnodes";

// --- Service condition (architecture.md, "The Service condition") ---------------------------------------------------------

/// Current condition type on Services.
pub const SVC_SATISFIED_CONDITION: &str = "cilium.io/IPAMRequestSatisfied";
/// Legacy (v1.13-era) condition type; still shown in the docs and many guides.
pub(crate) const SVC_SATISFIED_CONDITION_LEGACY: &str = "io.cilium/lb-ipam-request-satisfied";
pub(crate) const SVC_SATISFIED_CONDITION_TYPES: &[&str] =
    &[SVC_SATISFIED_CONDITION, SVC_SATISFIED_CONDITION_LEGACY];

pub(crate) const REASON_SATISFIED: &str = "satisfied";
pub(crate) const REASON_NO_POOL: &str = "no_pool";
pub(crate) const REASON_POOL_SELECTOR_MISMATCH: &str = "pool_selector_mismatch";
pub(crate) const REASON_ALREADY_ALLOCATED: &str = "already_allocated";
pub(crate) const REASON_ALREADY_ALLOCATED_INCOMPATIBLE: &str =
    "already_allocated_incompatible_service";
pub(crate) const REASON_OUT_OF_IPS: &str = "out_of_ips";

/// `no_pool` for a specific requested IP.
pub(crate) fn msg_no_pool_for_ip(ip: &str) -> String {
    format!("No pool exists with a CIDR containing '{ip}'")
}
/// `pool_selector_mismatch` for a specific requested IP.
pub(crate) fn msg_pool_selector_mismatch(ip: &str) -> String {
    format!("The pool with the CIDR containing '{ip}', doesn't select this service")
}
pub(crate) fn msg_already_allocated(ip: &str) -> String {
    format!("The IP '{ip}' is already allocated to another service")
}
pub(crate) fn msg_already_allocated_incompatible(ip: &str, reason: &str) -> String {
    format!("The IP '{ip}' is already allocated to an incompatible service. Reason: {reason}")
}
/// `no_pool` for a generic (any IP) request.
pub(crate) const MSG_NO_POOL_GENERIC: &str =
    "There are no enabled CiliumLoadBalancerIPPools that match this service";
pub(crate) const MSG_OUT_OF_IPS: &str =
    "All enabled CiliumLoadBalancerIPPools that match this service ran out of allocatable IPs";

/// Sub-reasons of `already_allocated_incompatible_service` (the order of Cilium's `isCompatible`; architecture.md, "IP sharing").
pub(crate) const INCOMPATIBLE_SHARING_KEY: &str = "different sharing key";
pub(crate) const INCOMPATIBLE_NAMESPACE: &str = "different and not permitted namespace";
pub(crate) const INCOMPATIBLE_PORT: &str = "same port";
pub(crate) const INCOMPATIBLE_PORT_PROTOCOL: &str = "same port and protocol";
pub(crate) const INCOMPATIBLE_ETP: &str = "different ExternalTrafficPolicy";
pub(crate) const INCOMPATIBLE_ETP_LOCAL_SELECTOR: &str =
    "compatible ExternalTrafficPolicy local but selecting different set of pods";

// --- Pool conditions (architecture.md, "Pools") -----------------------------------------------------------

pub const POOL_IPS_TOTAL: &str = "cilium.io/IPsTotal";
pub const POOL_IPS_AVAILABLE: &str = "cilium.io/IPsAvailable";
pub const POOL_IPS_USED: &str = "cilium.io/IPsUsed";
pub const POOL_CONFLICT: &str = "cilium.io/PoolConflict";
pub(crate) const POOL_IPS_AVAILABLE_LEGACY: &str = "io.cilium/ips-available";
pub(crate) const POOL_CONFLICT_LEGACY: &str = "io.cilium/conflict";
pub(crate) const POOL_COUNT_REASON: &str = "noreason";
pub(crate) const POOL_CONFLICT_REASON: &str = "cidr_overlap";
pub(crate) const POOL_CONFLICT_RESOLVED_REASON: &str = "resolved";

pub(crate) fn msg_pool_conflict(
    from: &str,
    to: &str,
    other_from: &str,
    other_to: &str,
    other: &str,
) -> String {
    format!(
        "Pool conflicts since range '{from} - {to}' overlaps range '{other_from} - {other_to}' from IP Pool '{other}'"
    )
}

pub(crate) const FIELD_MANAGER_L2: &str = "cilium-agent-l2-announcer";
/// lbctl's own field manager when it does not impersonate Cilium.
pub(crate) const FIELD_MANAGER_LBCTL: &str = "lbctl";

// --- Annotations (architecture.md, "Names and versions") -----------------------------------------------------

pub const ANNOTATION_IPS: &str = "lbipam.cilium.io/ips";
pub const ANNOTATION_IPS_LEGACY: &str = "io.cilium/lb-ipam-ips";
pub const ANNOTATION_SHARING_KEY: &str = "lbipam.cilium.io/sharing-key";
pub const ANNOTATION_SHARING_KEY_LEGACY: &str = "io.cilium/lb-ipam-sharing-key";
pub const ANNOTATION_SHARING_CROSS_NS: &str = "lbipam.cilium.io/sharing-cross-namespace";
pub(crate) const ANNOTATION_SHARING_CROSS_NS_LEGACY: &str =
    "io.cilium/lb-ipam-sharing-cross-namespace";
/// Value of the cross-namespace annotation that permits every namespace.
pub(crate) const SHARING_ANY_NAMESPACE: &str = "*";

/// Synthetic labels added to a Service's labels before pool and policy selectors are evaluated.
pub(crate) const LABEL_SVC_NAMESPACE: &str = "io.kubernetes.service.namespace";
pub(crate) const LABEL_SVC_NAME: &str = "io.kubernetes.service.name";

// --- Load-balancer classes (architecture.md, "Which Services LB IPAM handles") -----------------------------------------------------

pub(crate) const LB_CLASS_L2: &str = "io.cilium/l2-announcer";
pub(crate) const LB_CLASS_BGP: &str = "io.cilium/bgp-control-plane";

// --- L2 announcement policy (architecture.md, "L2 announcement policies") ------------------------------------------------------

pub(crate) const POLICY_BAD_NODE_SELECTOR: &str = "io.cilium/bad-node-selector";
pub(crate) const POLICY_BAD_INTERFACE_REGEX: &str = "io.cilium/bad-interface-regex";
pub(crate) const POLICY_BAD_SERVICE_SELECTOR: &str = "io.cilium/bad-service-selector";
pub(crate) const POLICY_BAD_CONDITIONS: &[&str] = &[
    POLICY_BAD_NODE_SELECTOR,
    POLICY_BAD_INTERFACE_REGEX,
    POLICY_BAD_SERVICE_SELECTOR,
];
/// The reason stays `error` even when the condition is cleared (status False).
pub(crate) const POLICY_CONDITION_REASON: &str = "error";

// --- Leases (architecture.md, "Leases and timings") --------------------------------------------------------------------

pub(crate) const L2_LEASE_PREFIX: &str = "cilium-l2announce";
/// `cilium-l2announce-<ns>-<name>`; Cilium neither truncates nor hashes it.
pub(crate) fn l2_lease_name(svc_namespace: &str, svc_name: &str) -> String {
    format!("{L2_LEASE_PREFIX}-{svc_namespace}-{svc_name}")
}
pub(crate) const DEFAULT_AGENT_NAMESPACE: &str = "kube-system";
pub(crate) const L2_LEASE_GC_INTERVAL_SECS: u64 = 60;
/// lbctl's own IPAM leader-election lease.
pub const LBCTL_IPAM_LEASE: &str = "lbctl-lb-ipam";

// --- LB-IPAM metrics (Cilium operator's `lbipam_*` families) ---------------------------------------------------------

/// Cilium's gauges are `<namespace>_lbipam_*` with an UNCONFIRMED namespace; lbctl exports the
/// same names under its own prefix rather than pretend to be the operator.
pub(crate) const METRICS_PREFIX: &str = "lbctl_lbipam";
pub(crate) const METRIC_CONFLICTING_POOLS: &str = "conflicting_pools_total";
pub(crate) const METRIC_IPS_AVAILABLE: &str = "ips_available_total";
pub(crate) const METRIC_IPS_USED: &str = "ips_used_total";
pub(crate) const METRIC_SERVICES_MATCHING: &str = "services_matching_total";
pub(crate) const METRIC_SERVICES_UNSATISFIED: &str = "services_unsatisfied_total";

// --- cilium-config keys and defaults (architecture.md, "LB IPAM lifecycle", "Leases and timings") -------------------------------------

pub(crate) const CILIUM_CONFIG_MAP: &str = "cilium-config";
pub(crate) const CFG_ENABLE_LB_IPAM: &str = "enable-lb-ipam";
pub(crate) const CFG_ENABLE_LB_IPAM_DEFAULT: bool = true;
pub(crate) const CFG_DEFAULT_LB_SERVICE_IPAM: &str = "default-lb-service-ipam";
pub(crate) const DEFAULT_LB_SERVICE_IPAM_LBIPAM: &str = "lbipam";
pub(crate) const DEFAULT_LB_SERVICE_IPAM_NONE: &str = "none";
pub(crate) const CFG_DEFAULT_LB_SERVICE_IPAM_DEFAULT: &str = DEFAULT_LB_SERVICE_IPAM_LBIPAM;
pub(crate) const CFG_ENABLE_L2_ANNOUNCEMENTS: &str = "enable-l2-announcements";
pub(crate) const CFG_ENABLE_L2_ANNOUNCEMENTS_DEFAULT: bool = false;
pub(crate) const CFG_ENABLE_BGP_CONTROL_PLANE: &str = "enable-bgp-control-plane";
pub(crate) const CFG_ENABLE_BGP_CONTROL_PLANE_DEFAULT: bool = false;
pub(crate) const CFG_KUBE_PROXY_REPLACEMENT: &str = "kube-proxy-replacement";
pub(crate) const CFG_L2_LEASE_DURATION: &str = "l2-announcements-lease-duration";
pub(crate) const CFG_L2_RENEW_DEADLINE: &str = "l2-announcements-renew-deadline";
pub(crate) const CFG_L2_RENEW_DEADLINE_DEFAULT: &str = "5s";
pub(crate) const CFG_L2_RETRY_PERIOD: &str = "l2-announcements-retry-period";
pub(crate) const CFG_DEVICES: &str = "devices";
pub(crate) const CFG_K8S_CLIENT_QPS: &str = "k8s-client-qps";
pub(crate) const CFG_K8S_CLIENT_QPS_DEFAULT: f64 = 5.0;

/// Cilium's default when the key is absent (L2 announcements need it on).
pub(crate) const CFG_KUBE_PROXY_REPLACEMENT_DEFAULT: &str = "false";
/// Values that mean kube-proxy replacement is on (`strict` is the pre-1.14 spelling).
pub(crate) const KUBE_PROXY_REPLACEMENT_ON: &[&str] = &["true", "strict"];

/// Helm values behind the config keys above, for fixes that go through `helm upgrade`.
pub(crate) const HELM_L2_ANNOUNCEMENTS_ENABLED: &str = "l2announcements.enabled";
pub(crate) const HELM_KUBE_PROXY_REPLACEMENT: &str = "kubeProxyReplacement";

/// Workloads of a Helm install, named in `kubectl rollout restart` fixes.
pub(crate) const AGENT_DAEMONSET: &str = "cilium";
pub(crate) const OPERATOR_DEPLOYMENT: &str = "cilium-operator";
/// Pod labels of the agent and the operator (Helm chart).
pub(crate) const AGENT_POD_LABEL: (&str, &str) = ("k8s-app", "cilium");
pub(crate) const OPERATOR_POD_LABEL: (&str, &str) = ("io.cilium/app", "operator");
/// The Cilium operator's leader-election Lease in the agent namespace: held and fresh while an
/// operator runs.
pub(crate) const OPERATOR_LEADER_LEASE: &str = "cilium-operator-resource-lock";
/// lbctl's own pods (deploy/): `app.kubernetes.io/name: lbctl`, component `ipam` or `announcer`.
pub(crate) const LBCTL_POD_LABEL: (&str, &str) = ("app.kubernetes.io/name", "lbctl");
pub(crate) const LBCTL_COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// The API group and resource the lease RBAC rule is about.
pub(crate) const LEASE_API_GROUP: &str = "coordination.k8s.io";
pub(crate) const LEASE_RESOURCE: &str = "leases";

/// Families the operator allocates for (`option.Config.IPv4Enabled()` / `IPv6Enabled()`).
pub(crate) const CFG_ENABLE_IPV4: &str = "enable-ipv4";
pub(crate) const CFG_ENABLE_IPV4_DEFAULT: bool = true;
pub(crate) const CFG_ENABLE_IPV6: &str = "enable-ipv6";
pub(crate) const CFG_ENABLE_IPV6_DEFAULT: bool = false;

/// Values of `allowFirstLastIPs`.
pub(crate) const ALLOW_FIRST_LAST_YES: &str = "Yes";
pub(crate) const ALLOW_FIRST_LAST_NO: &str = "No";

/// Name of the agent's ClusterRole (Helm) whose lease rule L2 announcements need.
pub const AGENT_CLUSTER_ROLE: &str = "cilium";
pub const AGENT_SERVICE_ACCOUNT: &str = "cilium";
/// Verbs the agent needs on `coordination.k8s.io/leases` in its namespace to hold a lease:
/// client-go's lease lock gets the lease, creates it when missing and updates it to acquire and
/// renew. Cilium's chart grants list and delete as well (its lease GC), which holding does not need.
pub const LEASE_RBAC_VERBS: &[&str] = &["get", "create", "update"];

/// The user name a ServiceAccount authenticates as.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// The groups every ServiceAccount token carries, which RBAC bindings may name.
pub fn service_account_groups(namespace: &str) -> [String; 3] {
    [
        "system:serviceaccounts".to_owned(),
        format!("system:serviceaccounts:{namespace}"),
        "system:authenticated".to_owned(),
    ]
}

// --- Allocator errors (Cilium's `pkg/ipalloc`) ---------------------------------------------------
// The wording, typos included, is Cilium's, so users can search for the messages they see in
// Cilium's logs and conditions.

/// `ipalloc.ErrFull`.
pub(crate) const MSG_FULL: &str = "cannot allocate IP, no more IPs available";
/// `ipalloc.ErrOutOfRange`.
pub(crate) const MSG_OUT_OF_RANGE: &str = "the requested IP is out of the allocators range";
/// `ipalloc.ErrInUse`.
pub(crate) const MSG_IN_USE: &str = "the requested IP is already allocated";
/// `ipalloc.ErrNotFound`.
pub(crate) const MSG_NOT_FOUND: &str = "the requested IP cannot be found";
/// `NewHashAllocator` with addresses of two families.
pub(crate) const MSG_FAMILY_MISMATCH: &str = "'start' must be the same address family as 'stop'";
/// `NewHashAllocator` with `start > stop` ("then" is Cilium's spelling).
pub(crate) const MSG_START_AFTER_STOP: &str = "'start' must be less then or equal to 'stop'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_name_is_prefix_ns_name() {
        assert_eq!(
            l2_lease_name("demo", "demo-web"),
            "cilium-l2announce-demo-demo-web"
        );
    }

    #[test]
    fn messages_match_cilium_formats() {
        assert_eq!(
            msg_pool_selector_mismatch("10.0.0.1"),
            "The pool with the CIDR containing '10.0.0.1', doesn't select this service"
        );
        assert_eq!(
            msg_pool_conflict("10.0.0.0", "10.0.0.255", "10.0.0.0", "10.0.0.127", "blue"),
            "Pool conflicts since range '10.0.0.0 - 10.0.0.255' overlaps range '10.0.0.0 - 10.0.0.127' from IP Pool 'blue'"
        );
    }
}
