//! Kubernetes objects to the controller's plain inputs. Everything here is total: a field the
//! controller cannot use is dropped (and logged by the caller), never a reason to panic.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::ipam::alloc::Family;
use crate::ipam::block::{AllowFirstLast, BlockSpec};
use crate::ipam::controller::{CondSpec, PoolInput, ServiceInput, ServiceKey};
use crate::ipam::engine::{
    requested_ips, sharing_cross_namespace, IpFamilyPolicy, PortView, ServiceView, TrafficPolicy,
};
use crate::ipam::pool::PoolSpec;
use crate::model::names;
use crate::model::pool::{AllowFirstLastIps, IpBlock, PoolView};

/// A converted Service plus what the writer needs.
#[derive(Debug, Clone)]
pub struct SvcObs {
    pub key: ServiceKey,
    pub input: ServiceInput,
    /// Annotation entries that are not IP addresses (Cilium only logs them).
    pub invalid_ips: Vec<String>,
}

/// The first annotation present among `keys` (current name first, then the legacy alias).
fn annotation<'a>(svc: &'a Service, keys: &[&str]) -> Option<&'a str> {
    let a = svc.metadata.annotations.as_ref()?;
    keys.iter().find_map(|k| a.get(*k).map(String::as_str))
}

pub fn service_key(svc: &Service) -> ServiceKey {
    ServiceKey::new(
        svc.metadata.namespace.clone().unwrap_or_default(),
        svc.metadata.name.clone().unwrap_or_default(),
    )
}

/// The newest `IPAMRequestSatisfied` condition (duplicates exist from Cilium < 1.15).
pub fn satisfied_condition(conditions: &[Condition]) -> Option<&Condition> {
    conditions
        .iter()
        .filter(|c| c.type_ == names::SVC_SATISFIED_CONDITION)
        .max_by_key(|c| c.last_transition_time.0)
}

pub fn service(svc: &Service) -> SvcObs {
    let key = service_key(svc);
    let spec = svc.spec.clone().unwrap_or_default();
    let requested = requested_ips(
        spec.load_balancer_ip.as_deref(),
        annotation(svc, &[names::ANNOTATION_IPS, names::ANNOTATION_IPS_LEGACY]),
    );
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
    let view = ServiceView {
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        labels: svc.metadata.labels.clone().unwrap_or_default(),
        is_load_balancer: spec.type_.as_deref() == Some("LoadBalancer"),
        load_balancer_class: spec.load_balancer_class.clone(),
        ip_family_policy: match spec.ip_family_policy.as_deref() {
            Some("SingleStack") => Some(IpFamilyPolicy::SingleStack),
            Some("PreferDualStack") => Some(IpFamilyPolicy::PreferDualStack),
            Some("RequireDualStack") => Some(IpFamilyPolicy::RequireDualStack),
            _ => None,
        },
        ip_families: spec
            .ip_families
            .iter()
            .flatten()
            .filter_map(|f| match f.as_str() {
                "IPv4" => Some(Family::V4),
                "IPv6" => Some(Family::V6),
                _ => None,
            })
            .collect(),
        requested_ips: requested.ips,
        sharing_key: annotation(
            svc,
            &[
                names::ANNOTATION_SHARING_KEY,
                names::ANNOTATION_SHARING_KEY_LEGACY,
            ],
        )
        .unwrap_or_default()
        .to_owned(),
        sharing_cross_namespace: sharing_cross_namespace(annotation(
            svc,
            &[
                names::ANNOTATION_SHARING_CROSS_NS,
                names::ANNOTATION_SHARING_CROSS_NS_LEGACY,
            ],
        )),
        ports: spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(PortView {
                    port: u16::try_from(p.port).ok()?,
                    protocol: p.protocol.clone().unwrap_or_default(),
                })
            })
            .collect(),
        external_traffic_policy: if spec.external_traffic_policy.as_deref() == Some("Local") {
            TrafficPolicy::Local
        } else {
            TrafficPolicy::Cluster
        },
        // The pod selector only matters for sharing between two `Local` Services (reference
        // §2.6 rule 5); not keeping it otherwise saves a map per Service at 10,000 Services.
        selector: if spec.external_traffic_policy.as_deref() == Some("Local") {
            spec.selector.clone().unwrap_or_default()
        } else {
            BTreeMap::new()
        },
        ingress_ips,
    };
    SvcObs {
        key,
        input: ServiceInput {
            view,
            generation: svc.metadata.generation.unwrap_or(0),
            condition,
        },
        invalid_ips: requested.invalid,
    }
}

/// A pool of either API version.
pub fn pool(
    name: &str,
    creation: Option<i64>,
    generation: Option<i64>,
    view: &PoolView,
) -> PoolInput {
    let blocks = view
        .blocks
        .iter()
        .map(|b: &IpBlock| BlockSpec {
            cidr: b.cidr.clone(),
            start: b.start.clone(),
            stop: b.stop.clone(),
        })
        .collect();
    PoolInput {
        spec: PoolSpec {
            name: name.to_owned(),
            creation: creation.unwrap_or(0),
            blocks,
            allow_first_last: view.allow_first_last_ips.map(|a| match a {
                AllowFirstLastIps::Yes => AllowFirstLast::Yes,
                AllowFirstLastIps::No => AllowFirstLast::No,
            }),
            disabled: view.disabled,
        },
        selector: view.service_selector.clone(),
        generation: generation.unwrap_or(0),
    }
}

/// `metadata.creationTimestamp` in nanoseconds: conflicts go against the newer pool.
pub fn creation_nanos(
    t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
) -> Option<i64> {
    t.map(|t| i64::try_from(t.0.as_nanosecond()).unwrap_or(i64::MAX))
}
