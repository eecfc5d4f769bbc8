//! The ladder as a pure function of a [`Snapshot`]: no client, no clock, no sockets.
//!
//! [`Cluster::new`] does the per-cluster work once (pool parsing, conflict settling, capacity,
//! who holds which IP, policy compilation) so that `doctor --all` over thousands of Services
//! costs one evaluation per Service, not one cluster scan per Service.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use serde_json::Value;

use super::snapshot::{
    arr, at, conditions, name_of, namespace_of, newest, parse_time, str_at, str_map, svc_key,
    Condition, Snapshot, Source,
};
use super::{Finding, Report, Verdict};
use crate::ipam::block::{parse_blocks, AllowFirstLast, BlockRange, BlockSpec};
use crate::ipam::engine::{service_labels, EngineConfig, ServiceView};
use crate::ipam::pool::{PoolCounts, PoolSpec, PoolStore};
use crate::model::names as n;
use crate::model::selector::{CompiledSelector, LabelSelector};

const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `cilium-config` with Cilium's defaults for absent keys.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub data: BTreeMap<String, String>,
    pub present: bool,
}

impl Config {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(String::as_str)
    }
    pub fn bool(&self, key: &str, default: bool) -> bool {
        match self.get(key).map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            _ => default,
        }
    }
    pub fn string(&self, key: &str, default: &str) -> String {
        self.get(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or(default)
            .to_owned()
    }
    /// `key: "value"`, or `key unset (default value)` so the user sees where a value came from.
    pub fn describe(&self, key: &str, default: &str) -> String {
        match self.get(key) {
            Some(v) => format!("{key}: {v:?}"),
            None if self.present => format!("{key} unset (default {default:?})"),
            None => format!(
                "no {} ConfigMap (default {key}: {default:?})",
                n::CILIUM_CONFIG_MAP
            ),
        }
    }
}

/// Which engine serves LoadBalancer IPs here, so prerequisites are judged for that engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Engine {
    Cilium,
    Lbctl,
    None,
}

/// A pool as read, valid or not.
#[derive(Clone, Debug)]
pub struct PoolInfo {
    pub name: String,
    pub creation: i64,
    pub selector_text: String,
    /// `Err` holds why the selector is unusable (decode or validation error).
    pub selector: Result<CompiledSelector, String>,
    pub has_selector: bool,
    pub match_labels: BTreeMap<String, String>,
    pub blocks: Vec<BlockSpec>,
    pub allow_first_last: Option<AllowFirstLast>,
    pub disabled: bool,
    /// Block validation errors: Cilium retries such a pool silently and never loads it.
    pub errors: Vec<String>,
    pub ranges: Vec<BlockRange>,
    /// Newest `PoolConflict` condition of either generation.
    pub status_conflict: Option<Condition>,
    pub status_available: Option<String>,
    /// Recomputed by lbctl (`settleConflicts`).
    pub conflict: Option<String>,
    pub counts: Option<PoolCounts>,
}

impl PoolInfo {
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.selector.as_ref().is_ok_and(|s| s.matches(labels))
    }
    pub fn conflicting(&self) -> Option<String> {
        self.conflict.clone().or_else(|| {
            self.status_conflict
                .as_ref()
                .filter(|c| c.status == "True")
                .map(|c| c.message.clone())
        })
    }
    pub fn usable(&self) -> bool {
        self.errors.is_empty() && !self.disabled && self.conflicting().is_none()
    }
    pub fn range_text(&self) -> String {
        self.ranges
            .iter()
            .map(|r| format!("{} - {}", r.from, r.to))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// An L2 announcement policy as read.
#[derive(Clone, Debug)]
pub struct PolicyInfo {
    pub name: String,
    pub service_selector: Result<CompiledSelector, String>,
    pub service_selector_text: String,
    pub service_match_labels: BTreeMap<String, String>,
    pub node_selector: Result<CompiledSelector, String>,
    pub node_selector_text: String,
    pub node_match_labels: BTreeMap<String, String>,
    pub load_balancer_ips: bool,
    pub external_ips: bool,
    pub interfaces: Vec<String>,
    pub regex_errors: Vec<String>,
    /// `bad-*` conditions with status True.
    pub bad: Vec<Condition>,
}

/// A node as the policies' nodeSelector sees it.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// "CiliumNode" when its labels were used, else "Node".
    pub labels_from: &'static str,
    /// `None` when only a CiliumNode exists.
    pub ready: Option<bool>,
    pub is_node: bool,
}

/// A lease as read.
#[derive(Clone, Debug)]
pub struct LeaseInfo {
    pub name: String,
    pub holder: String,
    pub renew: Option<i64>,
    pub duration: Option<i64>,
    pub transitions: i64,
}

impl LeaseInfo {
    fn from(v: &Value) -> LeaseInfo {
        LeaseInfo {
            name: name_of(v).to_owned(),
            holder: str_at(v, &["spec", "holderIdentity"])
                .unwrap_or_default()
                .to_owned(),
            renew: str_at(v, &["spec", "renewTime"]).and_then(parse_time),
            duration: at(v, &["spec", "leaseDurationSeconds"]).and_then(Value::as_i64),
            transitions: at(v, &["spec", "leaseTransitions"])
                .and_then(Value::as_i64)
                .unwrap_or(0),
        }
    }
    pub fn age(&self, now: i64) -> Option<i64> {
        self.renew.map(|r| now - r)
    }
    pub fn expired(&self, now: i64) -> bool {
        match (self.age(now), self.duration) {
            (Some(age), Some(d)) => age > d,
            (None, _) => true,
            _ => false,
        }
    }
}

/// Everything derived from the snapshot once.
pub struct Cluster<'a> {
    pub snap: &'a Snapshot,
    pub config: Config,
    pub engine: Engine,
    /// What the engine was decided from, and how it came out.
    pub evidence: super::engine::Evidence,
    pub decision: super::engine::Decision,
    pub engine_cfg: EngineConfig,
    pub pools: Vec<PoolInfo>,
    pub policies: Vec<PolicyInfo>,
    pub nodes: Vec<NodeInfo>,
    pub leases: HashMap<String, LeaseInfo>,
    /// What the RBAC objects grant the agent on leases (read only when the API server
    /// refused the SubjectAccessReviews).
    pub rbac: super::rungs::LeaseGrants,
    /// Service index by IP in `status.loadBalancer.ingress`.
    pub(crate) holders: HashMap<IpAddr, Vec<usize>>,
    pub(crate) services: HashMap<(String, String), usize>,
    /// Ready endpoint nodes per (namespace, service).
    pub(crate) endpoints: HashMap<(String, String), BTreeSet<String>>,
    pub(crate) lease_stats: std::sync::OnceLock<super::rungs::LeaseStats>,
}

/// A label selector from raw JSON: `Ok(None)` when absent.
fn selector_from(
    v: Option<&Value>,
) -> (
    Result<CompiledSelector, String>,
    String,
    BTreeMap<String, String>,
    bool,
) {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return (
            CompiledSelector::compile(None).map_err(|e| e.to_string()),
            "(none: selects everything)".into(),
            BTreeMap::new(),
            false,
        );
    };
    let text = compact_selector(v);
    match serde_json::from_value::<LabelSelector>(v.clone()) {
        Ok(sel) => {
            let ml = sel.match_labels.clone().unwrap_or_default();
            (
                CompiledSelector::compile(Some(&sel)).map_err(|e| e.to_string()),
                text,
                ml,
                true,
            )
        }
        Err(e) => (
            Err(format!("cannot read selector: {e}")),
            text,
            BTreeMap::new(),
            true,
        ),
    }
}

/// `{matchLabels: {a: b}}` on one line, for tables.
pub fn compact_selector(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub(crate) fn labels_text(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "{}".into();
    }
    let inner = labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{{{inner}}}")
}

fn block_spec(v: &Value, index: usize, field: &str, errors: &mut Vec<String>) -> Option<BlockSpec> {
    let Some(obj) = v.as_object() else {
        errors.push(format!("spec.{field}[{index}]: not an object: {v}"));
        return None;
    };
    let mut get = |k: &str| match obj.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            errors.push(format!("spec.{field}[{index}].{k}: not a string: {other}"));
            None
        }
    };
    Some(BlockSpec {
        cidr: get("cidr"),
        start: get("start"),
        stop: get("stop"),
    })
}

fn pool_info(v: &Value) -> PoolInfo {
    let spec = v.get("spec").cloned().unwrap_or(Value::Null);
    let (selector, selector_text, match_labels, has_selector) =
        selector_from(spec.get("serviceSelector"));
    let mut errors = Vec::new();
    let mut blocks = Vec::new();
    for field in ["blocks", "cidrs"] {
        for (i, b) in arr(&spec, &[field]).iter().enumerate() {
            if let Some(b) = block_spec(b, i, field, &mut errors) {
                blocks.push(b);
            }
        }
    }
    let allow = match spec.get("allowFirstLastIPs") {
        Some(Value::String(s)) if s == n::ALLOW_FIRST_LAST_NO => Some(AllowFirstLast::No),
        Some(Value::String(s)) if s == n::ALLOW_FIRST_LAST_YES => Some(AllowFirstLast::Yes),
        None | Some(Value::Null) => None,
        Some(other) => {
            errors.push(format!(
                "spec.allowFirstLastIPs: {other} is neither \"Yes\" nor \"No\""
            ));
            None
        }
    };
    let ranges = if errors.is_empty() {
        match parse_blocks(&blocks) {
            Ok(r) => r,
            Err(errs) => {
                errors.extend(errs.iter().map(ToString::to_string));
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let conflict_types = [n::POOL_CONFLICT, n::POOL_CONFLICT_LEGACY];
    let avail_types = [n::POOL_IPS_AVAILABLE, n::POOL_IPS_AVAILABLE_LEGACY];
    PoolInfo {
        name: name_of(v).to_owned(),
        creation: str_at(v, &["metadata", "creationTimestamp"])
            .and_then(parse_time)
            .unwrap_or(0),
        selector,
        selector_text,
        has_selector,
        match_labels,
        blocks,
        allow_first_last: allow,
        disabled: spec
            .get("disabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        errors,
        ranges,
        status_conflict: newest(&conditions(v, &conflict_types)).cloned(),
        status_available: newest(&conditions(v, &avail_types)).map(|c| c.message.clone()),
        conflict: None,
        counts: None,
    }
}

fn policy_info(v: &Value) -> PolicyInfo {
    let spec = v.get("spec").cloned().unwrap_or(Value::Null);
    let (service_selector, service_selector_text, service_match_labels, _) =
        selector_from(spec.get("serviceSelector"));
    let (node_selector, node_selector_text, node_match_labels, _) =
        selector_from(spec.get("nodeSelector"));
    let interfaces: Vec<String> = arr(&spec, &["interfaces"])
        .iter()
        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
        .collect();
    let mut regex_errors = Vec::new();
    for re in &interfaces {
        // Go's regexp is RE2; the regex crate accepts the same syntax for what interface
        // patterns use, and rejects what RE2 rejects (backreferences, lookaround).
        if let Err(e) = regex::Regex::new(re) {
            regex_errors.push(format!("{re:?}: {e}"));
        }
    }
    let bad = conditions(v, n::POLICY_BAD_CONDITIONS)
        .into_iter()
        .filter(|c| c.status == "True")
        .collect();
    PolicyInfo {
        name: name_of(v).to_owned(),
        service_selector,
        service_selector_text,
        service_match_labels,
        node_selector,
        node_selector_text,
        node_match_labels,
        load_balancer_ips: spec
            .get("loadBalancerIPs")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        external_ips: spec
            .get("externalIPs")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        interfaces,
        regex_errors,
        bad,
    }
}

fn node_ready(v: &Value) -> Option<bool> {
    arr(v, &["status", "conditions"])
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        .map(|c| c.get("status").and_then(Value::as_str) == Some("True"))
}

/// The Service as LB-IPAM sees it (the engine's own conversion), plus what doctor needs
/// beyond that.
pub struct SvcFacts<'v> {
    pub raw: &'v Service,
    pub view: ServiceView,
    /// The labels pool and policy selectors see (with the synthetic name/namespace ones).
    pub labels: BTreeMap<String, String>,
    /// Requested-IP entries that are not IP addresses.
    pub invalid_ips: Vec<String>,
    pub spec_lb_ip: Option<String>,
    /// Which annotation key carried the requested IPs (primary or legacy alias).
    pub ips_key: Option<&'static str>,
    pub sharing_key_name: Option<&'static str>,
    pub external_ips: Vec<String>,
    /// `-n NS svc/NAME`, for fixes.
    pub kref: String,
}

pub fn service_facts(svc: &Service) -> SvcFacts<'_> {
    let f = crate::ipam::service::facts(svc);
    SvcFacts {
        raw: svc,
        labels: service_labels(&f.view),
        kref: format!("-n {} svc/{}", f.view.namespace, f.view.name),
        external_ips: svc
            .spec
            .as_ref()
            .and_then(|s| s.external_ips.clone())
            .unwrap_or_default(),
        view: f.view,
        invalid_ips: f.invalid_ips,
        spec_lb_ip: f.spec_lb_ip,
        ips_key: f.ips_key,
        sharing_key_name: f.sharing_key_name,
    }
}

impl<'a> Cluster<'a> {
    pub fn new(snap: &'a Snapshot) -> Cluster<'a> {
        let config = Config {
            data: snap.cilium_config.clone().unwrap_or_default(),
            present: snap.cilium_config.is_some(),
        };
        let evidence = super::engine::Evidence::gather(snap);
        let decision = super::engine::decide(&evidence);
        let engine = decision.engine.clone();
        let engine_cfg = if engine == Engine::Lbctl {
            // serve --ipam's defaults: its flags are not visible from the cluster.
            EngineConfig::default()
        } else {
            EngineConfig {
                ipv4: config.bool(n::CFG_ENABLE_IPV4, n::CFG_ENABLE_IPV4_DEFAULT),
                ipv6: config.bool(n::CFG_ENABLE_IPV6, n::CFG_ENABLE_IPV6_DEFAULT),
                default_lbipam: config.string(
                    n::CFG_DEFAULT_LB_SERVICE_IPAM,
                    n::CFG_DEFAULT_LB_SERVICE_IPAM_DEFAULT,
                ) == n::DEFAULT_LB_SERVICE_IPAM_LBIPAM,
                classes: EngineConfig::classes_for(
                    config.bool(
                        n::CFG_ENABLE_BGP_CONTROL_PLANE,
                        n::CFG_ENABLE_BGP_CONTROL_PLANE_DEFAULT,
                    ),
                    config.bool(
                        n::CFG_ENABLE_L2_ANNOUNCEMENTS,
                        n::CFG_ENABLE_L2_ANNOUNCEMENTS_DEFAULT,
                    ),
                ),
                ..EngineConfig::default()
            }
        };

        let mut services = HashMap::with_capacity(snap.services.len());
        let mut holders: HashMap<IpAddr, Vec<usize>> = HashMap::new();
        for (i, s) in snap.services.iter().enumerate() {
            let (ns, name) = svc_key(s);
            services.insert((ns.to_owned(), name.to_owned()), i);
            for ip in super::snapshot::ingress_ips(s) {
                let h = holders.entry(ip).or_default();
                if !h.contains(&i) {
                    h.push(i);
                }
            }
        }

        // Pools: valid ones go through the same store the engine uses, so conflicts and counts
        // are Cilium's, recomputed here rather than trusted from (possibly stale) status.
        let mut pools: Vec<PoolInfo> = snap.pools.iter().flatten().map(pool_info).collect();
        let mut store: PoolStore<String> = PoolStore::new();
        for p in pools.iter().filter(|p| p.errors.is_empty()) {
            let _ = store.upsert(PoolSpec {
                name: p.name.clone(),
                creation: p.creation,
                blocks: p.blocks.clone(),
                allow_first_last: p.allow_first_last,
                disabled: p.disabled,
            });
        }
        store.settle_conflicts();
        let mut ips: Vec<(&IpAddr, &Vec<usize>)> = holders.iter().collect();
        ips.sort();
        for (ip, owners) in ips {
            let owner = owners
                .first()
                .map(|i| {
                    let (ns, name) = svc_key(&snap.services[*i]);
                    format!("{ns}/{name}")
                })
                .unwrap_or_default();
            let names: Vec<String> = store.iter().map(|p| p.name().to_owned()).collect();
            for name in names {
                if let Some(pool) = store.get_mut(&name) {
                    if let Some(r) = pool.range_of(*ip) {
                        let _ = pool.ranges_mut()[r].alloc(*ip, owner.clone());
                        break;
                    }
                }
            }
        }
        for p in &mut pools {
            if let Some(sp) = store.get(&p.name) {
                p.conflict = sp.conflict().map(|c| c.message());
                p.counts = Some(sp.counts());
            }
        }

        let policies = snap.policies.iter().flatten().map(policy_info).collect();

        let cilium_labels: HashMap<&str, BTreeMap<String, String>> = snap
            .cilium_nodes
            .iter()
            .flatten()
            .map(|c| (name_of(c), str_map(c, &["metadata", "labels"])))
            .collect();
        let mut nodes: Vec<NodeInfo> = snap
            .nodes
            .iter()
            .map(|nd| {
                let name = name_of(nd);
                let (labels, labels_from) = match cilium_labels.get(name) {
                    Some(l) => (l.clone(), "CiliumNode"),
                    None => (str_map(nd, &["metadata", "labels"]), "Node"),
                };
                NodeInfo {
                    name: name.to_owned(),
                    labels,
                    labels_from,
                    ready: node_ready(nd),
                    is_node: true,
                }
            })
            .collect();
        for (name, labels) in &cilium_labels {
            if !nodes.iter().any(|nd| nd.name == *name) {
                nodes.push(NodeInfo {
                    name: (*name).to_owned(),
                    labels: labels.clone(),
                    labels_from: "CiliumNode",
                    ready: None,
                    is_node: false,
                });
            }
        }
        nodes.sort_by(|a, b| a.name.cmp(&b.name));

        let leases = snap
            .leases
            .iter()
            .map(|l| (name_of(l).to_owned(), LeaseInfo::from(l)))
            .collect();

        let mut endpoints: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
        for es in &snap.endpoint_slices {
            let Some(svc) = str_at(es, &["metadata", "labels", SERVICE_NAME_LABEL]) else {
                continue;
            };
            let set = endpoints
                .entry((namespace_of(es).to_owned(), svc.to_owned()))
                .or_default();
            for ep in arr(es, &["endpoints"]) {
                let ready = at(ep, &["conditions", "ready"])
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                if let (true, Some(node)) = (ready, str_at(ep, &["nodeName"])) {
                    set.insert(node.to_owned());
                }
            }
        }

        Cluster {
            snap,
            rbac: super::rungs::lease_grants(snap),
            config,
            engine,
            evidence,
            decision,
            engine_cfg,
            pools,
            policies,
            nodes,
            leases,
            holders,
            services,
            endpoints,
            lease_stats: std::sync::OnceLock::new(),
        }
    }

    /// Other Services holding `ip` in their ingress.
    pub(crate) fn holders_of(&self, ip: IpAddr, me: &SvcFacts<'_>) -> Vec<&'a Service> {
        self.holders
            .get(&ip)
            .into_iter()
            .flatten()
            .map(|i| &self.snap.services[*i])
            .filter(|s| svc_key(s) != (me.view.namespace.as_str(), me.view.name.as_str()))
            .collect()
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&'a Service> {
        self.services
            .get(&(namespace.to_owned(), name.to_owned()))
            .map(|i| &self.snap.services[*i])
    }

    /// Ready endpoint nodes of a Service.
    pub fn endpoint_nodes(&self, namespace: &str, name: &str) -> Option<&BTreeSet<String>> {
        self.endpoints.get(&(namespace.to_owned(), name.to_owned()))
    }

    /// The pool (and range) holding `ip`, valid pools only.
    pub(crate) fn pool_of_ip(&self, ip: IpAddr) -> Option<(&PoolInfo, &BlockRange)> {
        self.pools
            .iter()
            .find_map(|p| p.ranges.iter().find(|r| r.contains(ip)).map(|r| (p, r)))
    }

    /// Report for a Service that does not exist.
    pub fn missing_service(namespace: &str, name: &str) -> Report {
        Report {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            external_ips: Vec::new(),
            findings: vec![Finding::new(0, "service", Verdict::Fail)
                .observed(format!("Service {namespace}/{name} not found"))
                .expected("an existing Service of type LoadBalancer")
                .fix(format!(
                    "kubectl get svc -A --field-selector metadata.name={name}   # which namespace is it in? then: lbctl doctor -n <NS> svc/{name}"
                ))],
            unread: Vec::new(),
        }
    }

    /// Walks the ladder for one Service.
    pub fn diagnose(&self, svc: &Service) -> Report {
        let f = service_facts(svc);
        let mut out = Vec::new();
        let go_on = self.rung0(&f, &mut out);
        if go_on.is_none() {
            let why = out
                .iter()
                .find(|x| x.verdict == Verdict::Fail)
                .map(|x| format!("rung 0 check {} fails", x.check))
                .unwrap_or_default();
            for (rung, check) in [
                (1, "condition"),
                (2, "pools"),
                (3, "l2-policy"),
                (4, "arp-probe"),
                (5, "lease"),
            ] {
                out.push(
                    Finding::new(rung, check, Verdict::Skip)
                        .observed(format!("not checked: {why}")),
                );
            }
        } else {
            let responsible = go_on == Some(true);
            let pool_findings = self.rung2(&f);
            self.rung1(&f, responsible, &pool_findings, &mut out);
            out.extend(pool_findings);
            self.rung3_to_5(&f, &mut out);
        }
        self.skip_unread(&mut out);
        Report {
            namespace: f.view.namespace.clone(),
            name: f.view.name.clone(),
            external_ips: f.view.ingress_ips.iter().map(ToString::to_string).collect(),
            findings: out,
            unread: self.snap.unread.clone(),
        }
    }
}

/// The reads each check judges from (beyond the Service and the pools, which are always read).
/// `true`: only a `pass` is withdrawn (a problem the check found on other evidence stands).
const CHECK_SOURCES: &[(&str, &[Source], bool)] = &[
    ("lb-ipam-enabled", &[Source::CiliumConfig], false),
    ("lb-class", &[Source::CiliumConfig], false),
    ("other-lb-controller", &[Source::Pods], true),
    ("ip-sharing", &[Source::Services], false),
    ("capacity", &[Source::Services], false),
    ("l2-announcements", &[Source::CiliumConfig], false),
    ("kube-proxy-replacement", &[Source::CiliumConfig], false),
    ("l2-policies", &[Source::Policies], false),
    ("policy-match", &[Source::Policies], false),
    (
        "policy-nodes",
        &[Source::Policies, Source::Nodes, Source::CiliumNodes],
        false,
    ),
    ("policy-interfaces", &[Source::Policies], false),
    ("external-traffic-policy", &[Source::EndpointSlices], true),
    ("lease", &[Source::Leases], false),
    ("lease-holder", &[Source::Leases, Source::Nodes], false),
    ("lease-load", &[Source::Leases], false),
];

impl Cluster<'_> {
    /// A check whose evidence the server refused is a `skip` that says what could not be read
    /// and which permission would fix it, never a verdict on an empty list.
    fn skip_unread(&self, out: &mut [Finding]) {
        if self.snap.unread.is_empty() {
            return;
        }
        for f in out.iter_mut() {
            let Some((_, sources, pass_only)) =
                CHECK_SOURCES.iter().find(|(c, _, _)| *c == f.check)
            else {
                continue;
            };
            if f.verdict == Verdict::Skip || (*pass_only && f.verdict != Verdict::Pass) {
                continue;
            }
            let unread: Vec<&super::snapshot::Unread> = sources
                .iter()
                .filter_map(|s| self.snap.unread(*s))
                .collect();
            if unread.is_empty() {
                continue;
            }
            f.verdict = Verdict::Skip;
            f.observed = unread
                .iter()
                .map(|u| u.note())
                .collect::<Vec<_>>()
                .join("\n");
            f.expected = String::new();
            f.fix = unread
                .iter()
                .map(|u| u.permission())
                .collect::<Vec<_>>()
                .join("\n");
        }
    }
}

/// Free addresses proposed for a pool, with the segment they are on and why that one.
pub(crate) struct NewAddresses {
    pub start: std::net::Ipv4Addr,
    pub stop: std::net::Ipv4Addr,
    pub segment: ipnet::Ipv4Net,
    pub why: String,
    /// The pool whose last range on the segment the block follows, if any.
    pub follows: Option<String>,
}

impl NewAddresses {
    /// The comment a fix carries: which segment, why, and what was kept clear.
    pub fn note(&self) -> String {
        format!(
            "# {} - {} are free on {}: {}\n# (none is a node's address, in a pool, or a Service's ingress, requested or external IP; check they are outside your DHCP range)",
            self.start, self.stop, self.segment, self.why
        )
    }
}

impl Cluster<'_> {
    /// Nodes that would announce the Service: the candidates of the policies selecting it, or
    /// every node when none does yet.
    fn announcing_nodes(&self, f: &SvcFacts<'_>) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .policies
            .iter()
            .filter(|p| {
                p.service_selector
                    .as_ref()
                    .is_ok_and(|s| s.matches(&f.labels))
            })
            .filter_map(|p| p.node_selector.as_ref().ok())
            .flat_map(|sel| self.nodes.iter().filter(move |nd| sel.matches(&nd.labels)))
            .map(|nd| nd.name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        if names.is_empty() {
            names = self.nodes.iter().map(|nd| nd.name.as_str()).collect();
        }
        names
    }

    /// `want` free IPv4 addresses on the announcing nodes' segment, clear of every node address,
    /// pool range and Service IP; `None` when the nodes have no IPv4 InternalIP or the segment is
    /// full.
    pub(crate) fn new_addresses(&self, f: &SvcFacts<'_>, want: u32) -> Option<NewAddresses> {
        let announcing = self.announcing_nodes(f);
        let mut internal: Vec<(String, std::net::Ipv4Addr)> = Vec::new();
        let mut taken: Vec<(IpAddr, IpAddr)> = Vec::new();
        for nd in &self.snap.nodes {
            for (ty, ip) in node_addresses(nd) {
                taken.push((ip, ip));
                if let (IpAddr::V4(v4), "InternalIP") = (ip, ty) {
                    if announcing.contains(&name_of(nd)) {
                        internal.push((name_of(nd).to_owned(), v4));
                    }
                }
            }
        }
        let (segment, why) = super::suggest::segment_of(&internal)?;
        let mut follows: Option<(std::net::Ipv4Addr, String)> = None;
        for p in &self.pools {
            for r in &p.ranges {
                taken.push((r.from, r.to));
                if let IpAddr::V4(to) = r.to {
                    if segment.contains(&to) && follows.as_ref().is_none_or(|(t, _)| to > *t) {
                        follows = Some((to, p.name.clone()));
                    }
                }
            }
        }
        for s in &self.snap.services {
            let sf = crate::ipam::service::facts(s);
            for ip in sf.view.ingress_ips.iter().chain(&sf.view.requested_ips) {
                taken.push((*ip, *ip));
            }
            let external = s.spec.as_ref().and_then(|sp| sp.external_ips.as_ref());
            for ip in external
                .into_iter()
                .flatten()
                .filter_map(|e| e.parse::<IpAddr>().ok())
            {
                taken.push((ip, ip));
            }
        }
        let (start, stop) =
            super::suggest::free_block(segment, &taken, follows.as_ref().map(|(t, _)| *t), want)?;
        let follows = follows
            .filter(|(t, _)| u32::from(*t).checked_add(1) == Some(u32::from(start)))
            .map(|(_, name)| name);
        Some(NewAddresses {
            start,
            stop,
            segment,
            why,
            follows,
        })
    }
}

/// A Node's `status.addresses` as `(type, ip)`, hostnames left out.
fn node_addresses(nd: &Value) -> Vec<(&str, IpAddr)> {
    arr(nd, &["status", "addresses"])
        .iter()
        .filter_map(|a| {
            let ip = str_at(a, &["address"])?.parse::<IpAddr>().ok()?;
            Some((str_at(a, &["type"])?, ip))
        })
        .collect()
}
