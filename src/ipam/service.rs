//! A `core/v1` Service as LB-IPAM sees it: the one conversion that `serve`'s engine and
//! `doctor` share, so doctor's recomputation starts from exactly the facts the engine would use.
//!
//! Total: a field the engine cannot use is dropped (unparsable requested IPs are kept aside
//! for the caller to report), never a reason to panic.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::ipam::alloc::Family;
use crate::ipam::controller::{CondSpec, ServiceKey};
use crate::ipam::engine::{
    requested_ips, sharing_cross_namespace, IpFamilyPolicy, PortView, ServiceView, TrafficPolicy,
};
use crate::model::names;

/// The Service's IPAM facts plus where each annotation-borne fact came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceFacts {
    pub view: ServiceView,
    pub generation: i64,
    /// The condition the engine compares its decision against (see [`satisfied_condition`]).
    pub condition: Option<CondSpec>,
    /// Requested-IP entries that are not IP addresses (Cilium only logs them).
    pub invalid_ips: Vec<String>,
    /// `spec.loadBalancerIP` when set (deprecated, still honoured).
    pub spec_lb_ip: Option<String>,
    /// Which key carried the requested IPs: the current name or its legacy alias.
    pub ips_key: Option<&'static str>,
    /// Which key carried the sharing key.
    pub sharing_key_name: Option<&'static str>,
}

impl ServiceFacts {
    pub fn key(&self) -> ServiceKey {
        ServiceKey::new(self.view.namespace.clone(), self.view.name.clone())
    }
}

/// The first annotation key present among `keys` (current name first, then the legacy alias,
/// as Cilium reads them) and its value.
fn annotation<'a>(svc: &'a Service, keys: &[&'static str]) -> Option<(&'static str, &'a str)> {
    let a = svc.metadata.annotations.as_ref()?;
    keys.iter()
        .find_map(|k| a.get(*k).map(|v| (*k, v.as_str())))
}

/// The newest `cilium.io/IPAMRequestSatisfied` condition. Only the current type counts: it is
/// the only one Cilium's operator (1.15+, `operator/pkg/lbipam`) reads and writes, so a Service
/// carrying just the legacy `io.cilium/lb-ipam-request-satisfied` gets a fresh condition
/// written. Duplicates of one type exist from Cilium < 1.15 (it appended them); the newest by
/// `lastTransitionTime` wins, the later entry on a tie.
pub(crate) fn satisfied_condition(conditions: &[Condition]) -> Option<&Condition> {
    conditions
        .iter()
        .filter(|c| c.type_ == names::SVC_SATISFIED_CONDITION)
        .max_by_key(|c| c.last_transition_time.0)
}

/// The IPAM facts of a Service.
///
/// Decisions where a Service may leave a field unset:
/// - a port without `protocol` is `TCP`: the API server defaults it so, and Cilium compares the
///   defaulted value;
/// - `spec.selector` is kept only for `externalTrafficPolicy: Local`, the one case where sharing
///   compares it (Cilium's `isCompatible`); elsewhere it cannot change a decision, and not
///   keeping it saves a map per Service at 10,000 Services.
pub(crate) fn facts(svc: &Service) -> ServiceFacts {
    let namespace = svc.metadata.namespace.clone().unwrap_or_default();
    let name = svc.metadata.name.clone().unwrap_or_default();
    let spec = svc.spec.as_ref();
    let ips = annotation(svc, &[names::ANNOTATION_IPS, names::ANNOTATION_IPS_LEGACY]);
    let sharing = annotation(
        svc,
        &[
            names::ANNOTATION_SHARING_KEY,
            names::ANNOTATION_SHARING_KEY_LEGACY,
        ],
    );
    let cross = annotation(
        svc,
        &[
            names::ANNOTATION_SHARING_CROSS_NS,
            names::ANNOTATION_SHARING_CROSS_NS_LEGACY,
        ],
    );
    let spec_lb_ip = spec
        .and_then(|s| s.load_balancer_ip.as_deref())
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let requested = requested_ips(spec_lb_ip.as_deref(), ips.map(|(_, v)| v));
    let status = svc.status.as_ref();
    let ingress_ips: Vec<IpAddr> = status
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .collect();
    let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
    let condition = satisfied_condition(conditions).map(|c| CondSpec {
        status: c.status.clone(),
        reason: c.reason.clone(),
        message: c.message.clone(),
        observed_generation: c.observed_generation.unwrap_or(0),
    });
    let local = spec.and_then(|s| s.external_traffic_policy.as_deref()) == Some("Local");
    let view = ServiceView {
        namespace,
        name,
        labels: svc.metadata.labels.clone().unwrap_or_default(),
        is_load_balancer: spec.and_then(|s| s.type_.as_deref()) == Some("LoadBalancer"),
        load_balancer_class: spec.and_then(|s| s.load_balancer_class.clone()),
        ip_family_policy: match spec.and_then(|s| s.ip_family_policy.as_deref()) {
            Some("SingleStack") => Some(IpFamilyPolicy::SingleStack),
            Some("PreferDualStack") => Some(IpFamilyPolicy::PreferDualStack),
            Some("RequireDualStack") => Some(IpFamilyPolicy::RequireDualStack),
            _ => None,
        },
        ip_families: spec
            .and_then(|s| s.ip_families.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|f| match f.as_str() {
                "IPv4" => Some(Family::V4),
                "IPv6" => Some(Family::V6),
                _ => None,
            })
            .collect(),
        requested_ips: requested.ips,
        sharing_key: sharing.map(|(_, v)| v).unwrap_or_default().to_owned(),
        sharing_cross_namespace: sharing_cross_namespace(cross.map(|(_, v)| v)),
        ports: spec
            .and_then(|s| s.ports.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some(PortView {
                    port: u16::try_from(p.port).ok()?,
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
                })
            })
            .collect(),
        external_traffic_policy: if local {
            TrafficPolicy::Local
        } else {
            TrafficPolicy::Cluster
        },
        selector: if local {
            spec.and_then(|s| s.selector.clone()).unwrap_or_default()
        } else {
            BTreeMap::new()
        },
        ingress_ips,
    };
    ServiceFacts {
        view,
        generation: svc.metadata.generation.unwrap_or(0),
        condition,
        invalid_ips: requested.invalid,
        spec_lb_ip,
        ips_key: ips.map(|(k, _)| k),
        sharing_key_name: sharing.map(|(k, _)| k),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipam::engine::{is_compatible, EngineConfig, Incompatible};
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Service {
        serde_json::from_value(v).expect("a valid Service")
    }

    fn lb(name: &str, spec: serde_json::Value) -> Service {
        let mut s = json!({"metadata": {"namespace": "ns", "name": name,
                                        "annotations": {names::ANNOTATION_SHARING_KEY: "k"}},
                           "spec": {"type": "LoadBalancer"}});
        for (k, v) in spec.as_object().unwrap() {
            s["spec"][k] = v.clone();
        }
        svc(s)
    }

    /// Unset protocol is the API server's default `TCP`: it clashes with an explicit `TCP`
    /// on the same port, and the facts say `TCP` (doctor prints it in its fixes).
    #[test]
    fn unset_protocol_is_tcp() {
        let a = facts(&lb("a", json!({"ports": [{"port": 80}]})));
        let b = facts(&lb(
            "b",
            json!({"ports": [{"port": 80, "protocol": "TCP"}]}),
        ));
        let c = facts(&lb(
            "c",
            json!({"ports": [{"port": 80, "protocol": "UDP"}]}),
        ));
        assert_eq!(a.view.ports[0].protocol, "TCP");
        let cfg = EngineConfig::default();
        assert_eq!(
            is_compatible(&a.view, &b.view, &cfg),
            Err(Incompatible::PortProtocol)
        );
        assert_eq!(is_compatible(&a.view, &c.view, &cfg), Ok(()));
    }

    /// The pod selector is kept for `Local` only, and sharing between two `Cluster` Services
    /// does not depend on it while two `Local` Services need the same one.
    #[test]
    fn selector_kept_only_for_local() {
        let cluster = |n: &str, app: &str| facts(&lb(n, json!({"selector": {"app": app}})));
        let local = |n: &str, app: &str| {
            facts(&lb(
                n,
                json!({"selector": {"app": app}, "externalTrafficPolicy": "Local"}),
            ))
        };
        assert!(cluster("a", "x").view.selector.is_empty());
        assert_eq!(local("a", "x").view.selector.get("app").unwrap(), "x");
        let cfg = EngineConfig::default();
        assert_eq!(
            is_compatible(&cluster("a", "x").view, &cluster("b", "y").view, &cfg),
            Ok(())
        );
        assert_eq!(
            is_compatible(&local("a", "x").view, &local("b", "y").view, &cfg),
            Err(Incompatible::LocalSelector)
        );
        assert_eq!(
            is_compatible(&local("a", "x").view, &local("b", "x").view, &cfg),
            Ok(())
        );
    }

    fn cond(ty: &str, status: &str, at: &str) -> serde_json::Value {
        json!({"type": ty, "status": status, "reason": "r", "message": "", "lastTransitionTime": at})
    }

    /// Only the current condition type is the engine's: a legacy-only Service has none (the
    /// engine writes one), and a newer legacy entry does not shadow the current one.
    #[test]
    fn only_the_current_condition_generation_counts() {
        let with = |conds: serde_json::Value| {
            facts(&svc(json!({"metadata": {"namespace": "ns", "name": "a"},
                "spec": {"type": "LoadBalancer"}, "status": {"conditions": conds}})))
        };
        let legacy_only = with(json!([cond(
            names::SVC_SATISFIED_CONDITION_LEGACY,
            "True",
            "2025-01-01T00:00:00Z"
        )]));
        assert_eq!(legacy_only.condition, None);
        let both = with(json!([
            cond(
                names::SVC_SATISFIED_CONDITION,
                "False",
                "2024-01-01T00:00:00Z"
            ),
            cond(
                names::SVC_SATISFIED_CONDITION_LEGACY,
                "True",
                "2025-01-01T00:00:00Z"
            ),
            cond(
                names::SVC_SATISFIED_CONDITION,
                "True",
                "2024-06-01T00:00:00Z"
            ),
        ]));
        assert_eq!(both.condition.unwrap().status, "True");
    }

    #[test]
    fn annotations_prefer_the_current_name_and_say_which_was_used() {
        let f = facts(&svc(
            json!({"metadata": {"namespace": "ns", "name": "a", "annotations": {
            names::ANNOTATION_IPS_LEGACY: "10.0.0.9",
            names::ANNOTATION_SHARING_KEY_LEGACY: "old",
            names::ANNOTATION_SHARING_KEY: "new"}},
            "spec": {"type": "LoadBalancer", "loadBalancerIP": "10.0.0.1"}}),
        ));
        assert_eq!(f.ips_key, Some(names::ANNOTATION_IPS_LEGACY));
        assert_eq!(f.sharing_key_name, Some(names::ANNOTATION_SHARING_KEY));
        assert_eq!(f.view.sharing_key, "new");
        assert_eq!(f.spec_lb_ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(
            f.view.requested_ips,
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "10.0.0.9".parse().unwrap()
            ]
        );
    }
}
