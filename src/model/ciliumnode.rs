//! `CiliumNode`: only its labels matter to lbctl (L2 policies' nodeSelector is matched against them).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Cilium's CiliumNode spec is large; lbctl keeps whatever is there without interpreting it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "cilium.io",
    version = "v2",
    kind = "CiliumNode",
    plural = "ciliumnodes",
    singular = "ciliumnode",
    shortname = "cn",
    shortname = "ciliumn",
    category = "cilium"
)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub(crate) struct CiliumNodeSpec {
    #[serde(flatten)]
    #[schemars(skip)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// The CRD as Cilium ships it.
pub fn crd(
) -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    super::with_list_kind(<CiliumNode as kube::CustomResourceExt>::crd())
}
