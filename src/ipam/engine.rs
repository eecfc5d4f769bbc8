//! Service-side decisions of LB-IPAM (architecture.md, from "Which Services LB IPAM handles" to "IP sharing"): which Services are ours, which families
//! and IPs they ask for, the labels pools select on, sharing compatibility, and the range
//! lookups behind every `IPAMRequestSatisfied` reason.
//!
//! These are the building blocks of the reconcile loop; the loop itself (sharing groups,
//! import of existing ingress, status writing) lives with its state in `serve`.

use std::collections::BTreeMap;
use std::net::IpAddr;

#[cfg(test)]
use crate::ipam::alloc::AllocError;
use crate::ipam::alloc::Family;
use crate::ipam::pool::PoolStore;

// Cilium's strings live in `model/names.rs`; the engine keeps its own names for them.
use crate::model::names;
pub(crate) use crate::model::names::{
    INCOMPATIBLE_ETP, INCOMPATIBLE_ETP_LOCAL_SELECTOR as INCOMPATIBLE_LOCAL_SELECTOR,
    INCOMPATIBLE_NAMESPACE, INCOMPATIBLE_PORT, INCOMPATIBLE_PORT_PROTOCOL,
    INCOMPATIBLE_SHARING_KEY, LABEL_SVC_NAME as LABEL_SERVICE_NAME,
    LABEL_SVC_NAMESPACE as LABEL_SERVICE_NAMESPACE, LB_CLASS_BGP as CLASS_BGP,
    LB_CLASS_L2 as CLASS_L2, MSG_NO_POOL_GENERIC as MSG_NO_POOL, MSG_OUT_OF_IPS,
    REASON_ALREADY_ALLOCATED, REASON_ALREADY_ALLOCATED_INCOMPATIBLE, REASON_NO_POOL,
    REASON_OUT_OF_IPS, REASON_POOL_SELECTOR_MISMATCH, REASON_SATISFIED,
    SHARING_ANY_NAMESPACE as SHARING_CROSS_NAMESPACE_ALL,
};

/// The operator settings that shape decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// The cluster has IPv4 (`option.Config.IPv4Enabled()`).
    pub ipv4: bool,
    /// The cluster has IPv6.
    pub ipv6: bool,
    /// `default-lb-service-ipam == "lbipam"`: class-less Services are ours.
    pub default_lbipam: bool,
    /// Classes served; see [`EngineConfig::classes_for`].
    pub classes: Vec<String>,
    /// Port clashes need the same protocol too (PR #34691; reason `same port and protocol`).
    /// Without it any shared port number clashes (reason `same port`). Which releases do
    /// which is UNCONFIRMED in the reference; a Cilium 1.19 cluster reports the former.
    pub protocol_differentiation: bool,
}

impl EngineConfig {
    /// The classes Cilium's operator serves given its own flags.
    pub(crate) fn classes_for(
        enable_bgp_control_plane: bool,
        enable_l2_announcements: bool,
    ) -> Vec<String> {
        let mut classes = Vec::new();
        if enable_bgp_control_plane {
            classes.push(CLASS_BGP.to_owned());
        }
        if enable_l2_announcements {
            classes.push(CLASS_L2.to_owned());
        }
        classes
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            ipv4: true,
            ipv6: false,
            default_lbipam: true,
            classes: Vec::new(),
            protocol_differentiation: true,
        }
    }
}

/// `spec.ipFamilyPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamilyPolicy {
    SingleStack,
    PreferDualStack,
    RequireDualStack,
}

/// `spec.externalTrafficPolicy` (unset is `Cluster`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrafficPolicy {
    #[default]
    Cluster,
    Local,
}

/// A Service port as far as sharing cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortView {
    pub port: u16,
    /// `TCP`, `UDP`, `SCTP` as written in the spec (unset means `TCP`).
    pub protocol: String,
}

/// The Service as LB-IPAM sees it; the lead fills it from `core/v1` Service and its
/// annotations (both prefixes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceView {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `spec.type == LoadBalancer`.
    pub is_load_balancer: bool,
    pub load_balancer_class: Option<String>,
    pub ip_family_policy: Option<IpFamilyPolicy>,
    pub ip_families: Vec<Family>,
    /// Parsed from `spec.loadBalancerIP` and the `ips` annotation by [`requested_ips`].
    pub requested_ips: Vec<IpAddr>,
    /// The `sharing-key` annotation (empty string when unset, as Cilium compares it).
    pub sharing_key: String,
    /// The `sharing-cross-namespace` annotation split on commas and trimmed.
    pub sharing_cross_namespace: Vec<String>,
    pub ports: Vec<PortView>,
    pub external_traffic_policy: TrafficPolicy,
    /// `spec.selector`.
    pub selector: BTreeMap<String, String>,
    /// IPs in `status.loadBalancer.ingress[].ip` (hostname-only entries dropped).
    pub ingress_ips: Vec<IpAddr>,
}

/// Whether LB-IPAM handles the Service (architecture.md, "Which Services LB IPAM handles"); a Service it does not handle gets no
/// condition at all.
pub(crate) fn is_responsible(svc: &ServiceView, cfg: &EngineConfig) -> bool {
    if !svc.is_load_balancer {
        return false;
    }
    match &svc.load_balancer_class {
        None => cfg.default_lbipam,
        Some(class) => cfg.classes.iter().any(|c| c == class),
    }
}

/// Families requested by the Service when it asks for no specific IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Families {
    pub v4: bool,
    pub v6: bool,
}

/// Cilium's `serviceIPFamilyRequest` (architecture.md, "Requested IPs and families").
pub(crate) fn requested_families(svc: &ServiceView, cfg: &EngineConfig) -> Families {
    let first = svc.ip_families.first().copied();
    let single = |first: Option<Family>| match first {
        Some(Family::V4) => Families {
            v4: true,
            v6: false,
        },
        Some(Family::V6) => Families {
            v4: false,
            v6: true,
        },
        // Nothing listed: IPv4 if the cluster has it, else IPv6.
        None => Families {
            v4: cfg.ipv4,
            v6: !cfg.ipv4 && cfg.ipv6,
        },
    };
    match svc.ip_family_policy {
        None | Some(IpFamilyPolicy::SingleStack) => single(first),
        Some(IpFamilyPolicy::PreferDualStack) if !svc.ip_families.is_empty() => Families {
            v4: cfg.ipv4 && svc.ip_families.contains(&Family::V4),
            v6: cfg.ipv6 && svc.ip_families.contains(&Family::V6),
        },
        Some(IpFamilyPolicy::PreferDualStack) | Some(IpFamilyPolicy::RequireDualStack) => {
            Families {
                v4: cfg.ipv4,
                v6: cfg.ipv6,
            }
        }
    }
}

/// The labels pool and policy selectors see: the Service's own plus the two synthetic ones
/// (which win over a user label of the same key, as in Cilium).
pub(crate) fn service_labels(svc: &ServiceView) -> BTreeMap<String, String> {
    let mut labels = svc.labels.clone();
    labels.insert(LABEL_SERVICE_NAME.to_owned(), svc.name.clone());
    labels.insert(LABEL_SERVICE_NAMESPACE.to_owned(), svc.namespace.clone());
    labels
}

/// Requested IPs and the entries that did not parse (Cilium only logs those; lbctl shows
/// them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestedIps {
    pub ips: Vec<IpAddr>,
    pub invalid: Vec<String>,
}

/// Cilium's `getSVCRequestedIPs` (architecture.md, "Requested IPs and families"): `spec.loadBalancerIP` (as is) plus the
/// comma-separated annotation (each entry trimmed); unparsable entries dropped; only
/// **adjacent** duplicates removed (`slices.CompactFunc`), so `a,b,a` keeps both `a`.
pub fn requested_ips(load_balancer_ip: Option<&str>, annotation: Option<&str>) -> RequestedIps {
    let mut out = RequestedIps::default();
    let from_spec = load_balancer_ip.filter(|s| !s.is_empty()).into_iter();
    let from_annotation = annotation
        .filter(|s| !s.is_empty())
        .into_iter()
        .flat_map(|a| a.split(','))
        .map(str::trim);
    for entry in from_spec.chain(from_annotation) {
        match entry.parse::<IpAddr>() {
            Ok(ip) => {
                if out.ips.last() != Some(&ip) {
                    out.ips.push(ip);
                }
            }
            Err(_) => out.invalid.push(entry.to_owned()),
        }
    }
    out
}

/// Splits the `sharing-cross-namespace` annotation.
pub fn sharing_cross_namespace(annotation: Option<&str>) -> Vec<String> {
    annotation
        .map(|a| {
            a.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the Service has everything it asked for (`isSatisfied`): every requested IP in
/// its ingress, or else one ingress IP per requested family.
pub(crate) fn is_satisfied(svc: &ServiceView, families: Families) -> bool {
    if !svc.requested_ips.is_empty() {
        return svc
            .requested_ips
            .iter()
            .all(|ip| svc.ingress_ips.contains(ip));
    }
    // Cilium classifies ingress with `To4() == nil`, so an IPv4-mapped IPv6 address counts
    // as IPv4 here (unlike everywhere else).
    let is_v4 = |ip: &IpAddr| match ip {
        IpAddr::V4(_) => true,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some(),
    };
    let has_v4 = svc.ingress_ips.iter().any(is_v4);
    let has_v6 = svc.ingress_ips.iter().any(|ip| !is_v4(ip));
    (!families.v4 || has_v4) && (!families.v6 || has_v6)
}

/// Why two Services cannot share an IP; `reason()` is the text of the condition message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incompatible {
    SharingKey,
    Namespace,
    Port,
    PortProtocol,
    TrafficPolicy,
    LocalSelector,
}

impl Incompatible {
    /// Cilium's reason string.
    pub fn reason(self) -> &'static str {
        match self {
            Incompatible::SharingKey => INCOMPATIBLE_SHARING_KEY,
            Incompatible::Namespace => INCOMPATIBLE_NAMESPACE,
            Incompatible::Port => INCOMPATIBLE_PORT,
            Incompatible::PortProtocol => INCOMPATIBLE_PORT_PROTOCOL,
            Incompatible::TrafficPolicy => INCOMPATIBLE_ETP,
            Incompatible::LocalSelector => INCOMPATIBLE_LOCAL_SELECTOR,
        }
    }
}

fn permits(list: &[String], namespace: &str) -> bool {
    list.iter()
        .any(|n| n == namespace || n == SHARING_CROSS_NAMESPACE_ALL)
}

fn protocol(p: &PortView) -> &str {
    if p.protocol.is_empty() {
        "TCP"
    } else {
        &p.protocol
    }
}

/// Cilium's `isCompatible` (architecture.md, "IP sharing"): the rules in order, first failure wins.
pub(crate) fn is_compatible(
    a: &ServiceView,
    b: &ServiceView,
    cfg: &EngineConfig,
) -> Result<(), Incompatible> {
    if a.sharing_key != b.sharing_key {
        return Err(Incompatible::SharingKey);
    }
    if a.namespace != b.namespace
        && !(permits(&a.sharing_cross_namespace, &b.namespace)
            && permits(&b.sharing_cross_namespace, &a.namespace))
    {
        return Err(Incompatible::Namespace);
    }
    for pa in &a.ports {
        for pb in &b.ports {
            if pa.port != pb.port {
                continue;
            }
            if !cfg.protocol_differentiation {
                return Err(Incompatible::Port);
            }
            if protocol(pa).eq_ignore_ascii_case(protocol(pb)) {
                return Err(Incompatible::PortProtocol);
            }
        }
    }
    if a.external_traffic_policy != b.external_traffic_policy {
        return Err(Incompatible::TrafficPolicy);
    }
    if a.external_traffic_policy == TrafficPolicy::Local
        && (a.selector.is_empty() || b.selector.is_empty() || a.selector != b.selector)
    {
        return Err(Incompatible::LocalSelector);
    }
    Ok(())
}

/// The `IPAMRequestSatisfied` condition to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SvcCondition {
    Satisfied,
    NoPoolForIp(IpAddr),
    PoolSelectorMismatch(IpAddr),
    AlreadyAllocated(IpAddr),
    AlreadyAllocatedIncompatible(IpAddr, Incompatible),
    NoPool,
    OutOfIps,
}

impl SvcCondition {
    /// `"True"` or `"False"`.
    pub fn status(&self) -> &'static str {
        match self {
            SvcCondition::Satisfied => "True",
            _ => "False",
        }
    }

    /// The reason string.
    pub fn reason(&self) -> &'static str {
        match self {
            SvcCondition::Satisfied => REASON_SATISFIED,
            SvcCondition::NoPoolForIp(_) | SvcCondition::NoPool => REASON_NO_POOL,
            SvcCondition::PoolSelectorMismatch(_) => REASON_POOL_SELECTOR_MISMATCH,
            SvcCondition::AlreadyAllocated(_) => REASON_ALREADY_ALLOCATED,
            SvcCondition::AlreadyAllocatedIncompatible(..) => REASON_ALREADY_ALLOCATED_INCOMPATIBLE,
            SvcCondition::OutOfIps => REASON_OUT_OF_IPS,
        }
    }

    /// The exact message.
    pub fn message(&self) -> String {
        match self {
            SvcCondition::Satisfied => String::new(),
            SvcCondition::NoPoolForIp(ip) => names::msg_no_pool_for_ip(&ip.to_string()),
            SvcCondition::PoolSelectorMismatch(ip) => {
                names::msg_pool_selector_mismatch(&ip.to_string())
            }
            SvcCondition::AlreadyAllocated(ip) => names::msg_already_allocated(&ip.to_string()),
            SvcCondition::AlreadyAllocatedIncompatible(ip, why) => {
                names::msg_already_allocated_incompatible(&ip.to_string(), why.reason())
            }
            SvcCondition::NoPool => MSG_NO_POOL.to_owned(),
            SvcCondition::OutOfIps => MSG_OUT_OF_IPS.to_owned(),
        }
    }
}

/// Pool selector callback: does pool `name` select a Service with these labels (already
/// including the synthetic ones)? A pool without a selector selects everything.
pub(crate) type Selects<'a> = &'a dyn Fn(&str, &BTreeMap<String, String>) -> bool;

/// Where a range lives: pool name and index in [`crate::ipam::pool::Pool::ranges`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RangeRef {
    pub pool: String,
    pub index: usize,
}

/// Result of looking up the range for a requested IP (`findRangeOfIP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IpLookup {
    /// An allocatable range that holds the IP and whose pool selects the Service.
    Found(RangeRef),
    /// Allocatable ranges hold the IP but none of their pools selects the Service
    /// (`pool_selector_mismatch`).
    NotSelected,
    /// No allocatable range holds the IP (`no_pool`, also when the pool is disabled or
    /// conflicting).
    NoPool,
}

/// Finds the range for a requested IP. Pools are visited in name order (Cilium: Go map
/// order, i.e. random, which only matters when allocatable pools overlap, and conflict
/// settling prevents that).
pub(crate) fn find_range_of_ip<T>(
    pools: &PoolStore<T>,
    labels: &BTreeMap<String, String>,
    ip: IpAddr,
    selects: Selects<'_>,
) -> IpLookup {
    let mut seen = false;
    for pool in pools.iter().filter(|p| p.allocatable()) {
        for (index, range) in pool.ranges().iter().enumerate() {
            if !range.contains(ip) {
                continue;
            }
            seen = true;
            if selects(pool.name(), labels) {
                return IpLookup::Found(RangeRef {
                    pool: pool.name().to_owned(),
                    index,
                });
            }
        }
    }
    if seen {
        IpLookup::NotSelected
    } else {
        IpLookup::NoPool
    }
}

/// Allocates a fresh IP of `family` (`allocateIPAddress`): the first allocatable range of
/// that family whose pool selects the Service and is not full. Pools in name order, ranges
/// in pool order. Errors are the condition to write: `NoPool` when no range qualified,
/// `OutOfIps` when every qualifying range was full.
#[cfg(test)]
pub(crate) fn allocate_any<T>(
    pools: &mut PoolStore<T>,
    labels: &BTreeMap<String, String>,
    family: Family,
    selects: Selects<'_>,
    owner: impl Fn() -> T,
) -> Result<(RangeRef, IpAddr), SvcCondition> {
    let mut full = false;
    for pool in pools.iter_mut() {
        if !pool.allocatable() || !selects(pool.name(), labels) {
            continue;
        }
        let name = pool.name().to_owned();
        for (index, range) in pool.ranges_mut().iter_mut().enumerate() {
            if range.allocator().family() != family {
                continue;
            }
            match range.alloc_any(owner()) {
                Ok(ip) => return Ok((RangeRef { pool: name, index }, ip)),
                Err(AllocError::Full) => full = true,
                Err(_) => {}
            }
        }
    }
    Err(if full {
        SvcCondition::OutOfIps
    } else {
        SvcCondition::NoPool
    })
}

/// Allocates a requested IP for a Service, or says which condition explains why not.
///
/// `sharers` lists the Services holding an already allocated IP (its sharing group). With a
/// sharing key the Service must be compatible with every sharer, else
/// `already_allocated_incompatible_service` names the first failed rule; when compatible the
/// caller adds the Service to that group (returned as `Ok(None)`). A reserved first/last
/// address has no sharers and is `already_allocated`, as in Cilium.
#[cfg(test)]
pub(crate) fn allocate_requested<T>(
    pools: &mut PoolStore<T>,
    svc: &ServiceView,
    ip: IpAddr,
    cfg: &EngineConfig,
    selects: Selects<'_>,
    sharers: impl Fn(&T) -> Vec<ServiceView>,
    owner: T,
) -> Result<Option<RangeRef>, SvcCondition> {
    let labels = service_labels(svc);
    let range_ref = match find_range_of_ip(pools, &labels, ip, selects) {
        IpLookup::Found(r) => r,
        IpLookup::NotSelected => return Err(SvcCondition::PoolSelectorMismatch(ip)),
        IpLookup::NoPool => return Err(SvcCondition::NoPoolForIp(ip)),
    };
    let Some(range) = pools
        .get_mut(&range_ref.pool)
        .and_then(|p| p.ranges_mut().get_mut(range_ref.index))
    else {
        return Err(SvcCondition::NoPoolForIp(ip));
    };
    match range.alloc(ip, owner) {
        Ok(()) => Ok(Some(range_ref)),
        Err(_) if svc.sharing_key.is_empty() => Err(SvcCondition::AlreadyAllocated(ip)),
        Err(_) => {
            let group = range.owner(ip).map(&sharers).unwrap_or_default();
            if group.is_empty() {
                return Err(SvcCondition::AlreadyAllocated(ip));
            }
            for other in &group {
                if let Err(why) = is_compatible(svc, other, cfg) {
                    return Err(SvcCondition::AlreadyAllocatedIncompatible(ip, why));
                }
            }
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests;
