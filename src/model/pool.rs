//! `CiliumLoadBalancerIPPool`, served as `cilium.io/v2` (storage) and `v2alpha1` (deprecated).
//!
//! Field names, enums and printer columns follow Cilium's generated CRD (architecture.md, "Names and versions"); the
//! lab's OpenAPI, its validation and `deploy/` CRDs are all generated from these types.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::selector::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `allowFirstLastIPs`: whether the network and broadcast addresses of a CIDR block may be handed out.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AllowFirstLastIps {
    Yes,
    No,
}

/// A plain string enum, as in Cilium's CRD (an optional Rust enum would add `null` to it).
fn allow_first_last_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "AllowFirstLastIPs, if set to `Yes` or undefined, allows the first and last IPs of a CIDR block to be allocated; `No` reserves them.",
        "type": "string",
        "enum": ["Yes", "No"],
    })
}

/// One block of a pool: a CIDR, or a `start`[-`stop`] range (a lone `start` is a single IP).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct IpBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "cidr"))]
    pub cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
}

/// Status written by the IPAM controller: counts and conflict conditions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PoolStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Option<Vec<Condition>>,
}

pub mod v2 {
    use super::*;

    #[derive(
        CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema,
    )]
    #[kube(
        group = "cilium.io",
        version = "v2",
        kind = "CiliumLoadBalancerIPPool",
        plural = "ciliumloadbalancerippools",
        singular = "ciliumloadbalancerippool",
        shortname = "ippools",
        shortname = "ippool",
        shortname = "lbippool",
        shortname = "lbippools",
        category = "cilium",
        status = "PoolStatus",
        printcolumn = r#"{"name":"Disabled","type":"boolean","jsonPath":".spec.disabled"}"#,
        printcolumn = r#"{"name":"Conflicting","type":"string","jsonPath":".status.conditions[?(@.type==\"cilium.io/PoolConflict\")].status"}"#,
        printcolumn = r#"{"name":"IPs Available","type":"string","jsonPath":".status.conditions[?(@.type==\"cilium.io/IPsAvailable\")].message"}"#,
        printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
        storage = true,
        served = true
    )]
    #[serde(rename_all = "camelCase")]
    pub struct CiliumLoadBalancerIPPoolSpec {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub service_selector: Option<LabelSelector>,
        #[serde(
            default,
            rename = "allowFirstLastIPs",
            skip_serializing_if = "Option::is_none"
        )]
        #[schemars(schema_with = "super::allow_first_last_schema")]
        pub allow_first_last_ips: Option<AllowFirstLastIps>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub blocks: Option<Vec<IpBlock>>,
        #[serde(default)]
        pub disabled: bool,
    }
}

pub mod v2alpha1 {
    use super::*;

    #[derive(
        CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema,
    )]
    #[kube(
        group = "cilium.io",
        version = "v2alpha1",
        kind = "CiliumLoadBalancerIPPool",
        plural = "ciliumloadbalancerippools",
        singular = "ciliumloadbalancerippool",
        shortname = "ippools",
        shortname = "ippool",
        shortname = "lbippool",
        shortname = "lbippools",
        category = "cilium",
        status = "PoolStatus",
        printcolumn = r#"{"name":"Disabled","type":"boolean","jsonPath":".spec.disabled"}"#,
        printcolumn = r#"{"name":"Conflicting","type":"string","jsonPath":".status.conditions[?(@.type==\"cilium.io/PoolConflict\")].status"}"#,
        printcolumn = r#"{"name":"IPs Available","type":"string","jsonPath":".status.conditions[?(@.type==\"cilium.io/IPsAvailable\")].message"}"#,
        printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
        storage = false,
        served = true,
        deprecated
    )]
    #[serde(rename_all = "camelCase")]
    pub struct CiliumLoadBalancerIPPoolSpec {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub service_selector: Option<LabelSelector>,
        #[serde(
            default,
            rename = "allowFirstLastIPs",
            skip_serializing_if = "Option::is_none"
        )]
        #[schemars(schema_with = "super::allow_first_last_schema")]
        pub allow_first_last_ips: Option<AllowFirstLastIps>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub blocks: Option<Vec<IpBlock>>,
        /// Deprecated since Cilium 1.15 in favour of `blocks`; still read because older clusters use it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cidrs: Option<Vec<IpBlock>>,
        #[serde(default)]
        pub disabled: bool,
    }
}

/// The version-independent view of a pool spec that the rest of lbctl works with.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PoolView {
    pub service_selector: Option<LabelSelector>,
    pub allow_first_last_ips: Option<AllowFirstLastIps>,
    /// `blocks` followed by the deprecated `cidrs`, in that order.
    pub blocks: Vec<IpBlock>,
    pub disabled: bool,
}

impl From<&v2::CiliumLoadBalancerIPPoolSpec> for PoolView {
    fn from(s: &v2::CiliumLoadBalancerIPPoolSpec) -> Self {
        PoolView {
            service_selector: s.service_selector.clone(),
            allow_first_last_ips: s.allow_first_last_ips,
            blocks: s.blocks.clone().unwrap_or_default(),
            disabled: s.disabled,
        }
    }
}

impl From<&v2alpha1::CiliumLoadBalancerIPPoolSpec> for PoolView {
    fn from(s: &v2alpha1::CiliumLoadBalancerIPPoolSpec) -> Self {
        let mut blocks = s.blocks.clone().unwrap_or_default();
        blocks.extend(s.cidrs.clone().unwrap_or_default());
        PoolView {
            service_selector: s.service_selector.clone(),
            allow_first_last_ips: s.allow_first_last_ips,
            blocks,
            disabled: s.disabled,
        }
    }
}

/// The pool CRD with both versions, v2 stored, as Cilium ships it.
pub fn crd(
) -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    use kube::CustomResourceExt;
    let merged = kube::core::crd::merge_crds(
        vec![
            v2::CiliumLoadBalancerIPPool::crd(),
            v2alpha1::CiliumLoadBalancerIPPool::crd(),
        ],
        "v2",
    )
    .expect("both pool versions share group, kind and scope");
    super::with_list_kind(merged)
}
