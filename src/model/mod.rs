//! Cilium CRD types, Service views, label selectors and the names of every Cilium string.

pub mod ciliumnode;
pub mod names;
pub mod policy;
pub mod pool;
pub mod selector;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// Every CRD lbctl serves in the lab and ships in `deploy/`.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    use kube::CustomResourceExt;
    vec![
        pool::crd(),
        policy::CiliumL2AnnouncementPolicy::crd(),
        ciliumnode::CiliumNode::crd(),
    ]
}
