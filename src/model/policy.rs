//! `CiliumL2AnnouncementPolicy` (`cilium.io/v2alpha1` only; architecture.md, "L2 announcement policies").

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::selector::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "cilium.io",
    version = "v2alpha1",
    kind = "CiliumL2AnnouncementPolicy",
    plural = "ciliuml2announcementpolicies",
    singular = "ciliuml2announcementpolicy",
    shortname = "l2announcement",
    category = "cilium",
    status = "L2AnnouncementPolicyStatus",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CiliumL2AnnouncementPolicySpec {
    /// Matched against the local CiliumNode's labels; unset means every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    /// Matched against Service labels plus the two synthetic meta labels; unset means every Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_selector: Option<LabelSelector>,
    #[serde(
        default,
        rename = "loadBalancerIPs",
        skip_serializing_if = "Option::is_none"
    )]
    pub load_balancer_ips: Option<bool>,
    #[serde(
        default,
        rename = "externalIPs",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_ips: Option<bool>,
    /// Go regular expressions, OR-ed, unanchored; empty means every selected device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interfaces: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct L2AnnouncementPolicyStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Option<Vec<Condition>>,
}

/// The CRD as Cilium ships it.
pub fn crd(
) -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    super::with_list_kind(<CiliumL2AnnouncementPolicy as kube::CustomResourceExt>::crd())
}
