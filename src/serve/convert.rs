//! Kubernetes objects to the controller's plain inputs. Everything here is total: a field the
//! controller cannot use is dropped (and logged by the caller), never a reason to panic.

use k8s_openapi::api::core::v1::Service;

use crate::ipam::block::{AllowFirstLast, BlockSpec};
use crate::ipam::controller::{PoolInput, ServiceInput, ServiceKey};
use crate::ipam::pool::PoolSpec;
use crate::model::pool::{AllowFirstLastIps, IpBlock, PoolView};

/// A converted Service plus what the writer needs.
#[derive(Debug, Clone)]
pub(crate) struct SvcObs {
    pub key: ServiceKey,
    pub input: ServiceInput,
    /// Annotation entries that are not IP addresses (Cilium only logs them).
    pub invalid_ips: Vec<String>,
}

pub(crate) use crate::ipam::service::satisfied_condition;

/// The Service through the IPAM view doctor uses too ([`crate::ipam::service::facts`]).
pub fn service(svc: &Service) -> SvcObs {
    let f = crate::ipam::service::facts(svc);
    SvcObs {
        key: f.key(),
        input: ServiceInput {
            view: f.view,
            generation: f.generation,
            condition: f.condition,
        },
        invalid_ips: f.invalid_ips,
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
pub(crate) fn creation_nanos(
    t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
) -> Option<i64> {
    t.map(|t| i64::try_from(t.0.as_nanosecond()).unwrap_or(i64::MAX))
}
