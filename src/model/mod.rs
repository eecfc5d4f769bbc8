//! Cilium CRD types, Service views, label selectors and the names of every Cilium string.

pub(crate) mod ciliumnode;
pub mod names;
pub mod policy;
pub mod pool;
pub mod selector;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// Every CRD lbctl serves in the lab and ships in `deploy/`.
pub(crate) fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![pool::crd(), policy::crd(), ciliumnode::crd()]
}

/// kube's derive leaves `listKind` unset; the API server and Cilium's manifests spell it out.
pub(crate) fn with_list_kind(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    crd.spec.names.list_kind = Some(format!("{}List", crd.spec.names.kind));
    crd
}
