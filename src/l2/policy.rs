//! Which Services this node announces, on which interfaces, per `CiliumL2AnnouncementPolicy`
//! (architecture.md, "L2 announcement policies"). Pure: no I/O, no clock.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use regex::Regex;

use crate::model::names;
use crate::model::policy::CiliumL2AnnouncementPolicySpec;
use crate::model::selector::{service_labels_with_meta, CompiledSelector};

/// A network device of this node, as the announcer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    /// Only selected devices can announce (Cilium's `Selected`; for lbctl: up, not loopback).
    pub selected: bool,
    /// Eligible but without link (admin down, or no carrier): not selected now, and a Service
    /// whose matching interfaces are all like this must not be contended for (Cilium #35507:
    /// the lease renews over another network while the announcing NIC is dead).
    pub link_down: bool,
    /// Would be selected, but this process cannot answer there (no ARP socket): treated like a
    /// link that is down, so a Service announceable only here is left to other nodes.
    pub unanswerable: bool,
}

/// What the announcer needs to know of a Service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServiceInfo {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub load_balancer_class: Option<String>,
    /// `status.loadBalancer.ingress[].ip` that parse.
    pub ingress_ips: Vec<IpAddr>,
    /// `spec.externalIPs` that parse; `None` when the field is absent.
    pub external_ips: Option<Vec<IpAddr>>,
    /// `spec.externalTrafficPolicy: Local`: only nodes with a ready endpoint can serve it.
    pub traffic_local: bool,
}

impl ServiceInfo {
    pub fn key(&self) -> (String, String) {
        (self.namespace.clone(), self.name.clone())
    }
}

/// Why a policy could not be evaluated on this node; each maps to one `bad-*` condition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyErrors {
    pub node_selector: Option<String>,
    pub interface_regex: Option<String>,
    pub service_selector: Option<String>,
}

impl PolicyErrors {
    /// `(condition type, error)` pairs, in Cilium's evaluation order.
    pub(crate) fn by_condition(&self) -> [(&'static str, Option<&str>); 3] {
        [
            (
                names::POLICY_BAD_NODE_SELECTOR,
                self.node_selector.as_deref(),
            ),
            (
                names::POLICY_BAD_INTERFACE_REGEX,
                self.interface_regex.as_deref(),
            ),
            (
                names::POLICY_BAD_SERVICE_SELECTOR,
                self.service_selector.as_deref(),
            ),
        ]
    }
}

/// A policy as evaluated on this node.
#[derive(Clone, Debug)]
pub struct EvaluatedPolicy {
    pub name: String,
    pub errors: PolicyErrors,
    /// Set only when the policy applies here: node matches and nothing is malformed.
    pub active: Option<ActivePolicy>,
}

#[derive(Clone, Debug)]
pub struct ActivePolicy {
    pub service_selector: CompiledSelector,
    /// Selected devices whose name one of the regexes matches (all selected devices if none).
    pub devices: BTreeSet<String>,
    /// Devices the regexes match that are eligible but have no link right now.
    pub devices_down: BTreeSet<String>,
    pub load_balancer_ips: bool,
    pub external_ips: bool,
}

/// Compiled size bound for an interface regex. Interface names have at most 15 bytes, so any
/// useful pattern is tiny; a huge one (a 100,000-character alternation cost 40 ms per compile)
/// is reported as a bad regex instead of being compiled and matched on every recompute.
pub(crate) const INTERFACE_REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Source length bound for an interface regex, for the same reason (a long literal alternation
/// compiles small but still costs its length in parsing).
pub(crate) const INTERFACE_REGEX_MAX_LEN: usize = 4096;

/// Interface regexes compiled once per pattern (policies are re-evaluated on every Service,
/// node or device change, their patterns almost never change). Patterns no policy uses any
/// more are dropped by [`RegexCache::retain_used`].
#[derive(Debug, Default)]
pub(crate) struct RegexCache {
    compiled: std::collections::HashMap<String, Result<Regex, String>>,
    used: BTreeSet<String>,
    compiles: u64,
}

impl RegexCache {
    fn get(&mut self, pattern: &str) -> Result<Regex, String> {
        self.used.insert(pattern.to_string());
        if let Some(r) = self.compiled.get(pattern) {
            return r.clone();
        }
        self.compiles += 1;
        if pattern.len() > INTERFACE_REGEX_MAX_LEN {
            let r = Err(format!(
                "error parsing regexp: pattern of {} bytes is longer than the {INTERFACE_REGEX_MAX_LEN}-byte limit",
                pattern.len()
            ));
            self.compiled.insert(pattern.to_string(), r.clone());
            return r;
        }
        let r = regex::RegexBuilder::new(pattern)
            .size_limit(INTERFACE_REGEX_SIZE_LIMIT)
            .dfa_size_limit(INTERFACE_REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| match e {
                regex::Error::CompiledTooBig(limit) => format!(
                    "error parsing regexp: pattern of {} bytes compiles beyond the {limit}-byte limit",
                    pattern.len()
                ),
                e => format!("error parsing regexp {pattern:?}: {e}"),
            });
        self.compiled.insert(pattern.to_string(), r.clone());
        r
    }

    /// Forgets the patterns not asked for since the last call.
    pub(crate) fn retain_used(&mut self) {
        let used = std::mem::take(&mut self.used);
        self.compiled.retain(|p, _| used.contains(p));
    }

    /// How many patterns were compiled (cache misses) so far.
    #[cfg(test)]
    pub(crate) fn compiles(&self) -> u64 {
        self.compiles
    }
}

/// [`evaluate_cached`] with a cache of its own (every regex compiled afresh).
pub fn evaluate(
    name: &str,
    spec: &CiliumL2AnnouncementPolicySpec,
    node_labels: &BTreeMap<String, String>,
    devices: &[Device],
) -> EvaluatedPolicy {
    evaluate_cached(&mut RegexCache::default(), name, spec, node_labels, devices)
}

/// Evaluates one policy for this node in Cilium's order: nodeSelector first (a non-matching node
/// drops the policy without looking further), then interface regexes, then serviceSelector.
pub(crate) fn evaluate_cached(
    regexes_cache: &mut RegexCache,
    name: &str,
    spec: &CiliumL2AnnouncementPolicySpec,
    node_labels: &BTreeMap<String, String>,
    devices: &[Device],
) -> EvaluatedPolicy {
    let mut errors = PolicyErrors::default();
    let node_sel = match CompiledSelector::compile(spec.node_selector.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            errors.node_selector = Some(e.to_string());
            return EvaluatedPolicy {
                name: name.into(),
                errors,
                active: None,
            };
        }
    };
    if !node_sel.matches(node_labels) {
        return EvaluatedPolicy {
            name: name.into(),
            errors,
            active: None,
        };
    }
    let patterns = spec.interfaces.as_deref().unwrap_or_default();
    let mut regexes = Vec::with_capacity(patterns.len());
    for p in patterns {
        match regexes_cache.get(p) {
            Ok(r) => regexes.push(r),
            Err(e) => {
                errors.interface_regex = Some(e);
                return EvaluatedPolicy {
                    name: name.into(),
                    errors,
                    active: None,
                };
            }
        }
    }
    let service_selector = match CompiledSelector::compile(spec.service_selector.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            errors.service_selector = Some(e.to_string());
            return EvaluatedPolicy {
                name: name.into(),
                errors,
                active: None,
            };
        }
    };
    // Unanchored, like Go's MatchString: `eth0` also matches `veth0abc`.
    let matching = |d: &&Device| regexes.is_empty() || regexes.iter().any(|r| r.is_match(&d.name));
    let names_where = |f: fn(&Device) -> bool| -> BTreeSet<String> {
        devices
            .iter()
            .filter(|d| f(d))
            .filter(matching)
            .map(|d| d.name.clone())
            .collect()
    };
    let devices_down = names_where(|d| d.link_down || d.unanswerable);
    let devices = names_where(|d| d.selected);
    EvaluatedPolicy {
        name: name.into(),
        errors,
        active: Some(ActivePolicy {
            service_selector,
            devices,
            devices_down,
            load_balancer_ips: spec.load_balancer_ips.unwrap_or(false),
            external_ips: spec.external_ips.unwrap_or(false),
        }),
    }
}

/// What this node should announce for one Service if it wins the Service's lease.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Announcement {
    pub ips: BTreeSet<IpAddr>,
    pub interfaces: BTreeSet<String>,
    /// Interfaces the policies match that have no link right now.
    pub interfaces_down: BTreeSet<String>,
    pub policies: BTreeSet<String>,
}

impl Announcement {
    /// Whether this node may contend for the Service's lease. Not when every interface the
    /// policies match has lost its link: another node can answer, this one cannot. A policy
    /// that matches no interface at all still contends, as in Cilium.
    pub(crate) fn can_contend(&self) -> bool {
        !self.interfaces.is_empty() || self.interfaces_down.is_empty()
    }
}

/// Services this node contends for (architecture.md, "L2 announcement policies"), keyed by (namespace, name). A Service with
/// no announceable IP gets no entry (and so no lease), which fixed Cilium's lease-per-Service load.
pub(crate) fn select_services(
    policies: &[EvaluatedPolicy],
    services: &[ServiceInfo],
) -> BTreeMap<(String, String), Announcement> {
    let mut out: BTreeMap<(String, String), Announcement> = BTreeMap::new();
    for svc in services {
        let has_ext = svc.external_ips.is_some();
        let has_lb = !svc.ingress_ips.is_empty();
        if !has_ext && !has_lb {
            continue;
        }
        match svc.load_balancer_class.as_deref() {
            None | Some(names::LB_CLASS_L2) => {}
            Some(_) => continue,
        }
        let labels = service_labels_with_meta(Some(&svc.labels), &svc.namespace, &svc.name);
        for p in policies {
            let Some(a) = &p.active else { continue };
            if !a.service_selector.matches(&labels) {
                continue;
            }
            if !((a.external_ips && has_ext) || (a.load_balancer_ips && has_lb)) {
                continue;
            }
            let e = out.entry(svc.key()).or_default();
            if a.load_balancer_ips {
                e.ips.extend(svc.ingress_ips.iter().copied());
            }
            if a.external_ips {
                e.ips.extend(svc.external_ips.iter().flatten().copied());
            }
            e.interfaces.extend(a.devices.iter().cloned());
            e.interfaces_down.extend(a.devices_down.iter().cloned());
            e.policies.insert(p.name.clone());
        }
    }
    // A selected Service whose policies select no device still contends (as Cilium), but an
    // empty IP set (e.g. only externalIPs: [] ) has nothing to answer for.
    out.retain(|_, a| !a.ips.is_empty());
    out
}

/// Drops the `externalTrafficPolicy: Local` Services this node has no ready endpoint for:
/// kube-proxy (or Cilium's replacement) drops their traffic on such a node, so a lease won here
/// would make the VIP answer ARP and then black-hole it (Cilium #27800, which ignores endpoints;
/// MetalLB restricts candidates the same way). With no ready endpoint anywhere, nobody announces.
pub(crate) fn keep_local_traffic_serviceable(
    selected: &mut BTreeMap<(String, String), Announcement>,
    services: &[ServiceInfo],
    with_local_endpoint: &BTreeSet<(String, String)>,
) {
    let local_only: BTreeSet<(String, String)> = services
        .iter()
        .filter(|s| s.traffic_local)
        .map(ServiceInfo::key)
        .collect();
    selected.retain(|k, _| !local_only.contains(k) || with_local_endpoint.contains(k));
}

/// One endpoint of an EndpointSlice, as far as candidacy cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EndpointInfo {
    pub node_name: Option<String>,
    /// `conditions.ready`; unset means ready, as the API says consumers should assume.
    pub ready: Option<bool>,
}

/// The Services (namespace, name) with at least one ready endpoint on `node`, from
/// `(namespace, kubernetes.io/service-name label, endpoints)` of each EndpointSlice.
pub(crate) fn services_with_local_endpoints<'a>(
    slices: impl IntoIterator<Item = (&'a str, Option<&'a str>, &'a [EndpointInfo])>,
    node: &str,
) -> BTreeSet<(String, String)> {
    slices
        .into_iter()
        .filter_map(|(ns, svc, eps)| {
            let svc = svc?;
            eps.iter()
                .any(|e| e.node_name.as_deref() == Some(node) && e.ready != Some(false))
                .then(|| (ns.to_string(), svc.to_string()))
        })
        .collect()
}

/// A `metav1.Condition` as the announcer writes it on a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PolicyCondition {
    pub type_: String,
    pub status: &'static str,
    pub reason: String,
    pub message: String,
    pub observed_generation: i64,
}

/// The conditions a policy's status should carry after this evaluation, Cilium's way: a
/// condition is created only when an error first appears; when the error goes away it stays with
/// status False, reason `error`, empty message. Returns `None` when nothing changes.
pub(crate) fn desired_conditions(
    existing: &[PolicyCondition],
    errors: &PolicyErrors,
    generation: i64,
) -> Option<Vec<PolicyCondition>> {
    let mut out: Vec<PolicyCondition> = existing.to_vec();
    let mut changed = false;
    for (ty, err) in errors.by_condition() {
        let want = match (err, out.iter().position(|c| c.type_ == ty)) {
            (Some(msg), _) => Some(("True", msg.to_string())),
            (None, Some(_)) => Some(("False", String::new())),
            (None, None) => None,
        };
        let Some((status, message)) = want else {
            continue;
        };
        let cond = PolicyCondition {
            type_: ty.to_string(),
            status,
            reason: names::POLICY_CONDITION_REASON.to_string(),
            message,
            observed_generation: generation,
        };
        match out.iter_mut().find(|c| c.type_ == ty) {
            Some(c) if *c == cond => {}
            Some(c) => {
                *c = cond;
                changed = true;
            }
            None => {
                out.push(cond);
                changed = true;
            }
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::selector::{LabelSelector, LabelSelectorRequirement};

    fn labels(p: &[(&str, &str)]) -> BTreeMap<String, String> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn devs() -> Vec<Device> {
        ["eth0", "eth1", "veth0abc", "lo"]
            .iter()
            .map(|n| Device {
                name: n.to_string(),
                selected: *n != "lo",
                link_down: false,
                unanswerable: false,
            })
            .collect()
    }

    fn svc(name: &str, ips: &[&str]) -> ServiceInfo {
        ServiceInfo {
            namespace: "demo".into(),
            name: name.into(),
            labels: labels(&[("app", name)]),
            ingress_ips: ips.iter().map(|i| i.parse().unwrap()).collect(),
            ..Default::default()
        }
    }

    fn spec(ifaces: &[&str], lb: bool, ext: bool) -> CiliumL2AnnouncementPolicySpec {
        CiliumL2AnnouncementPolicySpec {
            interfaces: Some(ifaces.iter().map(|s| s.to_string()).collect()),
            load_balancer_ips: Some(lb),
            external_ips: Some(ext),
            ..Default::default()
        }
    }

    #[test]
    fn regexes_compile_once_per_pattern_across_recomputes() {
        let mut cache = RegexCache::default();
        let a = spec(&["^eth0$", "^bond"], true, false);
        let b = spec(&["^eth1$"], true, false);
        for _ in 0..50 {
            // A Service, node or device change re-evaluates every policy.
            for (name, sp) in [("a", &a), ("b", &b)] {
                let e = evaluate_cached(&mut cache, name, sp, &BTreeMap::new(), &devs());
                assert!(e.active.is_some());
            }
            cache.retain_used();
        }
        assert_eq!(cache.compiles(), 3);
        // Policy b goes away: its pattern is forgotten, and compiled again if it comes back.
        evaluate_cached(&mut cache, "a", &a, &BTreeMap::new(), &devs());
        cache.retain_used();
        evaluate_cached(&mut cache, "b", &b, &BTreeMap::new(), &devs());
        assert_eq!(cache.compiles(), 4);
        // A bad pattern is remembered as bad, not recompiled every time either.
        let bad = spec(&["(eth"], true, false);
        for _ in 0..3 {
            let e = evaluate_cached(&mut cache, "bad", &bad, &BTreeMap::new(), &devs());
            assert!(e.errors.interface_regex.is_some());
        }
        assert_eq!(cache.compiles(), 5);
    }

    #[test]
    fn a_huge_interface_regex_is_a_bad_regex_not_a_cpu_sink() {
        let huge: String = (0..12_000)
            .map(|i| format!("eth{i}"))
            .collect::<Vec<_>>()
            .join("|");
        assert!(huge.len() > 90_000);
        let e = evaluate("p", &spec(&[&huge], true, false), &BTreeMap::new(), &devs());
        assert!(e.active.is_none());
        let err = e.errors.interface_regex.expect("reported");
        assert!(err.contains("limit"), "{err}");
        assert!(
            err.len() < 200,
            "the message does not quote the whole pattern"
        );
        // Short, but compiling to a huge program: the size limit catches it.
        let e = evaluate(
            "p",
            &spec(&[r"(?:\w{50}){50}"], true, false),
            &BTreeMap::new(),
            &devs(),
        );
        let err = e.errors.interface_regex.expect("reported");
        assert!(err.contains("limit"), "{err}");
        // A long but sane pattern still works.
        let many = (0..40)
            .map(|i| format!("^eth{i}$"))
            .collect::<Vec<_>>()
            .join("|");
        let e = evaluate("p", &spec(&[&many], true, false), &BTreeMap::new(), &devs());
        assert_eq!(
            e.active.unwrap().devices,
            ["eth0".to_string(), "eth1".into()].into()
        );
    }

    #[test]
    fn unanchored_regex_matches_like_go() {
        let e = evaluate(
            "p",
            &spec(&["eth0"], true, false),
            &BTreeMap::new(),
            &devs(),
        );
        let d = e.active.unwrap().devices;
        assert_eq!(
            d,
            ["eth0", "veth0abc"].iter().map(|s| s.to_string()).collect()
        );
        let e = evaluate(
            "p",
            &spec(&["^eth0$"], true, false),
            &BTreeMap::new(),
            &devs(),
        );
        assert_eq!(e.active.unwrap().devices.len(), 1);
        // No regex: every selected device, never an unselected one.
        let e = evaluate("p", &spec(&[], true, false), &BTreeMap::new(), &devs());
        assert!(!e.active.unwrap().devices.contains("lo"));
    }

    #[test]
    fn a_service_whose_interfaces_all_lost_link_is_not_contended() {
        let with = |down: &[&str]| -> Vec<Device> {
            devs()
                .into_iter()
                .map(|mut d| {
                    if down.contains(&d.name.as_str()) {
                        d.selected = false;
                        d.link_down = true;
                    }
                    d
                })
                .collect()
        };
        let announce = |ifaces: &[&str], devices: &[Device]| -> Announcement {
            let e = evaluate("p", &spec(ifaces, true, false), &BTreeMap::new(), devices);
            select_services(&[e], &[svc("web", &["10.0.0.1"])])
                .remove(&("demo".to_string(), "web".to_string()))
                .expect("selected")
        };
        // The only matching interface has no link: give the lease to a node that can answer.
        let a = announce(&["^eth1$"], &with(&["eth1"]));
        assert!(a.interfaces.is_empty());
        assert_eq!(a.interfaces_down, ["eth1".to_string()].into());
        assert!(!a.can_contend());
        // One of two matching interfaces is down: keep contending, announce on the other.
        let a = announce(&["^eth"], &with(&["eth1"]));
        assert_eq!(a.interfaces, ["eth0".to_string()].into());
        assert!(a.can_contend());
        // A regex that matches nothing at all still contends, as in Cilium.
        let a = announce(&["^bond"], &with(&[]));
        assert!(a.interfaces.is_empty() && a.interfaces_down.is_empty());
        assert!(a.can_contend());
        // Link back: contend again.
        assert!(announce(&["^eth1$"], &with(&[])).can_contend());
    }

    #[test]
    fn a_service_only_announceable_where_we_cannot_answer_is_not_contended() {
        // No ARP socket on eth1 (e.g. no CAP_NET_RAW): the same as a dead link for candidacy.
        let devices: Vec<Device> = devs()
            .into_iter()
            .map(|mut d| {
                if d.name == "eth1" {
                    d.selected = false;
                    d.unanswerable = true;
                }
                d
            })
            .collect();
        let e = evaluate(
            "p",
            &spec(&["^eth1$"], true, false),
            &BTreeMap::new(),
            &devices,
        );
        let a = select_services(&[e], &[svc("web", &["10.0.0.1"])])
            .remove(&("demo".to_string(), "web".to_string()))
            .expect("selected");
        assert!(a.interfaces.is_empty());
        assert!(!a.can_contend());
        let e = evaluate(
            "p",
            &spec(&["^eth"], true, false),
            &BTreeMap::new(),
            &devices,
        );
        let a = select_services(&[e], &[svc("web", &["10.0.0.1"])])
            .remove(&("demo".to_string(), "web".to_string()))
            .expect("selected");
        assert_eq!(a.interfaces, ["eth0".to_string()].into());
        assert!(a.can_contend());
    }

    #[test]
    fn local_traffic_services_need_a_ready_endpoint_on_this_node() {
        let ep = |node: &str, ready: Option<bool>| EndpointInfo {
            node_name: Some(node.into()),
            ready,
        };
        let a = [ep("n1", Some(true)), ep("n2", Some(false))];
        let b = [ep("n2", None)];
        let c = [ep("n1", Some(false))];
        let slices = [
            ("demo", Some("local"), &a[..]),
            ("demo", Some("elsewhere"), &b[..]),
            ("demo", Some("notready"), &c[..]),
            // A slice without the service-name label belongs to nobody.
            ("demo", None, &a[..]),
        ];
        let on_n1 = services_with_local_endpoints(slices, "n1");
        assert_eq!(on_n1, [("demo".to_string(), "local".to_string())].into());
        let on_n2 = services_with_local_endpoints(slices, "n2");
        assert_eq!(
            on_n2,
            [("demo".to_string(), "elsewhere".to_string())].into()
        );

        let e = evaluate("p", &spec(&[], true, false), &BTreeMap::new(), &devs());
        let mut services = vec![
            svc("local", &["10.0.0.1"]),
            svc("elsewhere", &["10.0.0.2"]),
            svc("notready", &["10.0.0.3"]),
            svc("cluster", &["10.0.0.4"]),
        ];
        for s in &mut services[..3] {
            s.traffic_local = true;
        }
        let mut selected = select_services(&[e], &services);
        keep_local_traffic_serviceable(&mut selected, &services, &on_n1);
        let names: Vec<&str> = selected.keys().map(|k| k.1.as_str()).collect();
        // ETP=Cluster Services are unaffected; Local ones only where they have an endpoint.
        assert_eq!(names, ["cluster", "local"]);
    }

    #[test]
    fn node_selector_gates_everything_else() {
        let mut s = spec(&["(bad"], true, false);
        s.node_selector = Some(LabelSelector {
            match_labels: Some(labels(&[("role", "edge")])),
            ..Default::default()
        });
        // Not our node: the bad regex is never looked at, as in Cilium.
        let e = evaluate("p", &s, &labels(&[("role", "core")]), &devs());
        assert!(e.active.is_none() && e.errors == PolicyErrors::default());
        let e = evaluate("p", &s, &labels(&[("role", "edge")]), &devs());
        assert!(e.errors.interface_regex.unwrap().contains("(bad"));
    }

    #[test]
    fn bad_selectors_are_reported() {
        let mut s = spec(&[], true, false);
        s.service_selector = Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "app".into(),
                operator: "In".into(),
                values: None,
            }]),
            ..Default::default()
        });
        let e = evaluate("p", &s, &BTreeMap::new(), &devs());
        assert!(e
            .errors
            .service_selector
            .unwrap()
            .contains("values set can't be empty"));
        s.node_selector = s.service_selector.clone();
        let e = evaluate("p", &s, &BTreeMap::new(), &devs());
        assert!(e.errors.node_selector.is_some() && e.errors.service_selector.is_none());
    }

    #[test]
    fn service_selection_rules() {
        let p = vec![evaluate(
            "lb",
            &spec(&["^eth0$"], true, false),
            &BTreeMap::new(),
            &devs(),
        )];
        let mut bgp = svc("bgp", &["10.0.0.2"]);
        bgp.load_balancer_class = Some(names::LB_CLASS_BGP.into());
        let mut l2 = svc("l2", &["10.0.0.3"]);
        l2.load_balancer_class = Some(names::LB_CLASS_L2.into());
        let got = select_services(
            &p,
            &[svc("web", &["10.0.0.1"]), svc("pending", &[]), bgp, l2],
        );
        let keys: Vec<String> = got.keys().map(|(_, n)| n.clone()).collect();
        assert_eq!(keys, ["l2", "web"]);
        let web = &got[&("demo".to_string(), "web".to_string())];
        assert_eq!(web.interfaces, ["eth0".to_string()].into());
        // A policy announcing only externalIPs ignores LB IPs.
        let p = vec![evaluate(
            "ext",
            &spec(&[], false, true),
            &BTreeMap::new(),
            &devs(),
        )];
        assert!(select_services(&p, &[svc("web", &["10.0.0.1"])]).is_empty());
        let mut ext = svc("ext", &[]);
        ext.external_ips = Some(vec!["10.1.0.1".parse().unwrap()]);
        assert_eq!(select_services(&p, &[ext]).len(), 1);
        // Neither kind: nothing, whatever the Service has.
        let p = vec![evaluate(
            "none",
            &spec(&[], false, false),
            &BTreeMap::new(),
            &devs(),
        )];
        assert!(select_services(&p, &[svc("web", &["10.0.0.1"])]).is_empty());
    }

    #[test]
    fn service_selector_sees_meta_labels() {
        let mut s = spec(&[], true, false);
        s.service_selector = Some(LabelSelector {
            match_labels: Some(labels(&[(names::LABEL_SVC_NAME, "web")])),
            ..Default::default()
        });
        let p = vec![evaluate("p", &s, &BTreeMap::new(), &devs())];
        let got = select_services(
            &p,
            &[svc("web", &["10.0.0.1"]), svc("other", &["10.0.0.2"])],
        );
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn conditions_follow_cilium() {
        let err = PolicyErrors {
            service_selector: Some("boom".into()),
            ..Default::default()
        };
        // Valid policy, no conditions: nothing to write.
        assert_eq!(desired_conditions(&[], &PolicyErrors::default(), 1), None);
        let c = desired_conditions(&[], &err, 1).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(
            (
                c[0].type_.as_str(),
                c[0].status,
                c[0].reason.as_str(),
                c[0].message.as_str()
            ),
            (names::POLICY_BAD_SERVICE_SELECTOR, "True", "error", "boom")
        );
        assert_eq!(desired_conditions(&c, &err, 1), None, "unchanged");
        let cleared = desired_conditions(&c, &PolicyErrors::default(), 2).unwrap();
        assert_eq!(
            (
                cleared[0].status,
                cleared[0].reason.as_str(),
                cleared[0].message.as_str(),
                cleared[0].observed_generation
            ),
            ("False", "error", "", 2)
        );
    }
}
