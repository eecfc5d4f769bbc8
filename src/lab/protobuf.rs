//! Request bodies in `application/vnd.kubernetes.protobuf`, decoded into the JSON the store keeps.
//!
//! kubectl >= 1.32 sends built-in kinds as protobuf (`kubectl create namespace|configmap|secret|
//! token`, `kubectl auth can-i`). The wire form is apimachinery's: the 4-byte magic `k8s\0`, then a
//! `runtime.Unknown` whose `raw` is the object's own message and whose `typeMeta` names its kind.
//! The messages come from k8s-pb; the conversion to JSON is per kind and destructures every
//! message whole, so a field the lab would drop fails to compile instead of vanishing.

use std::collections::BTreeMap;

use base64::Engine;
use k8s_pb::api::authentication::v1 as authn;
use k8s_pb::api::authorization::v1 as authz;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::rbac::v1 as rbac;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{json, Map, Value};

pub(crate) const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProtoError {
    #[error("the body does not start with the protobuf magic k8s\\0")]
    NoMagic,
    #[error("the protobuf envelope (runtime.Unknown) does not decode: {0}")]
    Envelope(String),
    #[error("the protobuf envelope carries contentEncoding {0:?}, which is not supported")]
    Encoding(String),
    #[error("the protobuf envelope names no kind")]
    NoKind,
    #[error(
        "the lab decodes no protobuf for {kind} in {api_version}; send it as application/json"
    )]
    UnsupportedKind { api_version: String, kind: String },
    #[error("{kind} does not decode from protobuf: {message}")]
    Message { kind: String, message: String },
}

/// Whether a Content-Type header names protobuf.
pub(crate) fn is_protobuf(content_type: &str) -> bool {
    content_type.split(';').next().unwrap_or_default().trim() == CONTENT_TYPE
}

/// Whether a client's Accept header lets the lab answer in JSON, the only encoding it writes: not
/// when protobuf is all the client takes (a real server would answer in protobuf then).
pub(crate) fn json_acceptable(accept: Option<&str>) -> bool {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return true;
    };
    accept.split(',').any(|m| !is_protobuf(m))
}

/// Decodes an enveloped protobuf body into the object's JSON form (apiVersion and kind set).
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let inner = body.strip_prefix(MAGIC).ok_or(ProtoError::NoMagic)?;
    let env = Unknown::decode(inner).map_err(|e| ProtoError::Envelope(e.to_string()))?;
    if let Some(enc) = env.content_encoding.filter(|e| !e.is_empty()) {
        return Err(ProtoError::Encoding(enc));
    }
    let tm = env.type_meta.unwrap_or_default();
    let api_version = tm.api_version.unwrap_or_default();
    let kind = tm
        .kind
        .filter(|k| !k.is_empty())
        .ok_or(ProtoError::NoKind)?;
    let raw = env.raw.unwrap_or_default();
    let mut obj = convert(&api_version, &kind, &raw)?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

fn msg<M: Message + Default>(kind: &str, raw: &[u8]) -> Result<M, ProtoError> {
    M::decode(raw).map_err(|e| ProtoError::Message {
        kind: kind.to_string(),
        message: e.to_string(),
    })
}

fn convert(api_version: &str, kind: &str, raw: &[u8]) -> Result<Map<String, Value>, ProtoError> {
    Ok(match (api_version, kind) {
        ("v1", "Namespace") => namespace(msg(kind, raw)?),
        ("v1", "ConfigMap") => config_map(msg(kind, raw)?),
        ("v1", "Secret") => secret(msg(kind, raw)?),
        ("v1", "ServiceAccount") => service_account(msg(kind, raw)?),
        ("v1", "Service") => service(msg(kind, raw)?),
        ("authentication.k8s.io/v1", "TokenRequest") => token_request(msg(kind, raw)?),
        ("authentication.k8s.io/v1", "SelfSubjectReview") => {
            let authn::SelfSubjectReview { metadata, status } = msg(kind, raw)?;
            let mut o = Obj::default();
            o.meta(metadata);
            o.val(
                "status",
                status.map(|s| {
                    let authn::SelfSubjectReviewStatus { user_info } = s;
                    let mut o = Obj::default();
                    o.val("userInfo", user_info.map(user_info_json));
                    o.done()
                }),
            );
            o.0
        }
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => {
            let authz::SelfSubjectAccessReview {
                metadata,
                spec,
                status,
            } = msg(kind, raw)?;
            let mut o = Obj::default();
            o.meta(metadata);
            let spec = spec.unwrap_or_default();
            let authz::SelfSubjectAccessReviewSpec {
                resource_attributes,
                non_resource_attributes,
            } = spec;
            let mut s = Obj::default();
            s.val(
                "resourceAttributes",
                resource_attributes.map(resource_attrs),
            );
            s.val(
                "nonResourceAttributes",
                non_resource_attributes.map(non_resource_attrs),
            );
            o.0.insert("spec".into(), s.done());
            o.val("status", status.map(sar_status));
            o.0
        }
        ("authorization.k8s.io/v1", "SubjectAccessReview") => {
            let authz::SubjectAccessReview {
                metadata,
                spec,
                status,
            } = msg(kind, raw)?;
            let mut o = Obj::default();
            o.meta(metadata);
            let authz::SubjectAccessReviewSpec {
                resource_attributes,
                non_resource_attributes,
                user,
                groups,
                extra,
                uid,
            } = spec.unwrap_or_default();
            let mut s = Obj::default();
            s.val(
                "resourceAttributes",
                resource_attributes.map(resource_attrs),
            );
            s.val(
                "nonResourceAttributes",
                non_resource_attributes.map(non_resource_attrs),
            );
            s.str("user", user);
            s.strs("groups", groups);
            s.extra(extra.into_iter().map(|(k, v)| (k, v.items)).collect());
            s.str("uid", uid);
            o.0.insert("spec".into(), s.done());
            o.val("status", status.map(sar_status));
            o.0
        }
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => {
            let authz::SelfSubjectRulesReview {
                metadata,
                spec,
                status,
            } = msg(kind, raw)?;
            let mut o = Obj::default();
            o.meta(metadata);
            let authz::SelfSubjectRulesReviewSpec { namespace } = spec.unwrap_or_default();
            let mut s = Obj::default();
            s.str("namespace", namespace);
            o.0.insert("spec".into(), s.done());
            o.val("status", status.map(rules_status));
            o.0
        }
        ("rbac.authorization.k8s.io/v1", "Role") => {
            let rbac::Role { metadata, rules } = msg(kind, raw)?;
            let mut o = Obj::default();
            o.meta(metadata);
            o.list("rules", rules.into_iter().map(policy_rule).collect());
            o.0
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
            let rbac::ClusterRole {
                metadata,
                rules,
                aggregation_rule,
            } = msg(kind, raw)?;
            let mut o = Obj::default();
            o.meta(metadata);
            o.list("rules", rules.into_iter().map(policy_rule).collect());
            o.val(
                "aggregationRule",
                aggregation_rule.map(|a| {
                    let rbac::AggregationRule {
                        cluster_role_selectors,
                    } = a;
                    let mut o = Obj::default();
                    o.list(
                        "clusterRoleSelectors",
                        cluster_role_selectors
                            .into_iter()
                            .map(label_selector)
                            .collect(),
                    );
                    o.done()
                }),
            );
            o.0
        }
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
            let rbac::RoleBinding {
                metadata,
                subjects,
                role_ref,
            } = msg(kind, raw)?;
            binding(metadata, subjects, role_ref)
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            let rbac::ClusterRoleBinding {
                metadata,
                subjects,
                role_ref,
            } = msg(kind, raw)?;
            binding(metadata, subjects, role_ref)
        }
        _ => {
            return Err(ProtoError::UnsupportedKind {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            })
        }
    })
}

/// A JSON object built from optional protobuf fields, leaving out what Go's `omitempty` would.
#[derive(Default)]
struct Obj(Map<String, Value>);

impl Obj {
    fn str(&mut self, k: &str, v: Option<String>) {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            self.0.insert(k.into(), json!(v));
        }
    }
    fn int(&mut self, k: &str, v: Option<i64>) {
        if let Some(v) = v {
            self.0.insert(k.into(), json!(v));
        }
    }
    fn bool(&mut self, k: &str, v: Option<bool>) {
        if let Some(v) = v {
            self.0.insert(k.into(), json!(v));
        }
    }
    fn strs(&mut self, k: &str, v: Vec<String>) {
        if !v.is_empty() {
            self.0.insert(k.into(), json!(v));
        }
    }
    fn map(&mut self, k: &str, v: BTreeMap<String, String>) {
        if !v.is_empty() {
            self.0.insert(k.into(), json!(v));
        }
    }
    fn list(&mut self, k: &str, v: Vec<Value>) {
        if !v.is_empty() {
            self.0.insert(k.into(), Value::Array(v));
        }
    }
    fn val(&mut self, k: &str, v: Option<Value>) {
        if let Some(v) = v {
            self.0.insert(k.into(), v);
        }
    }
    fn time(&mut self, k: &str, t: Option<meta::Time>) {
        self.val(k, t.and_then(time));
    }
    fn extra(&mut self, v: BTreeMap<String, Vec<String>>) {
        if !v.is_empty() {
            self.0.insert("extra".into(), json!(v));
        }
    }
    fn meta(&mut self, m: Option<meta::ObjectMeta>) {
        self.0
            .insert("metadata".into(), object_meta(m.unwrap_or_default()).done());
    }
    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

/// RFC 3339 in seconds, as metav1.Time marshals; Go's zero time (or none) is absent.
fn time(t: meta::Time) -> Option<Value> {
    let meta::Time { seconds, nanos: _ } = t;
    let s = seconds?;
    // 0001-01-01T00:00:00Z, Go's zero time, which JSON renders as null.
    if s <= -62_135_596_800 {
        return None;
    }
    let ts = jiff::Timestamp::from_second(s).ok()?;
    Some(json!(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn object_meta(m: meta::ObjectMeta) -> Obj {
    let meta::ObjectMeta {
        name,
        generate_name,
        namespace,
        self_link,
        uid,
        resource_version,
        generation,
        creation_timestamp,
        deletion_timestamp,
        deletion_grace_period_seconds,
        labels,
        annotations,
        owner_references,
        finalizers,
        managed_fields,
    } = m;
    let mut o = Obj::default();
    o.str("name", name);
    o.str("generateName", generate_name);
    o.str("namespace", namespace);
    o.str("selfLink", self_link);
    o.str("uid", uid);
    o.str("resourceVersion", resource_version);
    o.int("generation", generation.filter(|g| *g != 0));
    o.time("creationTimestamp", creation_timestamp);
    o.time("deletionTimestamp", deletion_timestamp);
    o.int("deletionGracePeriodSeconds", deletion_grace_period_seconds);
    o.map("labels", labels);
    o.map("annotations", annotations);
    o.list(
        "ownerReferences",
        owner_references
            .into_iter()
            .map(|r| {
                let meta::OwnerReference {
                    api_version,
                    kind,
                    name,
                    uid,
                    controller,
                    block_owner_deletion,
                } = r;
                let mut o = Obj::default();
                o.str("apiVersion", api_version);
                o.str("kind", kind);
                o.str("name", name);
                o.str("uid", uid);
                o.bool("controller", controller);
                o.bool("blockOwnerDeletion", block_owner_deletion);
                o.done()
            })
            .collect(),
    );
    o.strs("finalizers", finalizers);
    o.list(
        "managedFields",
        managed_fields
            .into_iter()
            .map(|f| {
                let meta::ManagedFieldsEntry {
                    manager,
                    operation,
                    api_version,
                    time,
                    fields_type,
                    fields_v1,
                    subresource,
                } = f;
                let mut o = Obj::default();
                o.str("manager", manager);
                o.str("operation", operation);
                o.str("apiVersion", api_version);
                o.time("time", time);
                o.str("fieldsType", fields_type);
                o.val(
                    "fieldsV1",
                    fields_v1
                        .and_then(|f| f.raw)
                        .and_then(|raw| serde_json::from_slice(&raw).ok()),
                );
                o.str("subresource", subresource);
                o.done()
            })
            .collect(),
    );
    o
}

fn label_selector(s: meta::LabelSelector) -> Value {
    let meta::LabelSelector {
        match_labels,
        match_expressions,
    } = s;
    let mut o = Obj::default();
    o.map("matchLabels", match_labels);
    o.list(
        "matchExpressions",
        match_expressions
            .into_iter()
            .map(|r| {
                let meta::LabelSelectorRequirement {
                    key,
                    operator,
                    values,
                } = r;
                let mut o = Obj::default();
                o.str("key", key);
                o.str("operator", operator);
                o.strs("values", values);
                o.done()
            })
            .collect(),
    );
    o.done()
}

fn namespace(n: core::Namespace) -> Map<String, Value> {
    let core::Namespace {
        metadata,
        spec,
        status,
    } = n;
    let mut o = Obj::default();
    o.meta(metadata);
    o.val(
        "spec",
        spec.map(|s| {
            let core::NamespaceSpec { finalizers } = s;
            let mut o = Obj::default();
            o.strs("finalizers", finalizers);
            o.done()
        }),
    );
    o.val(
        "status",
        status.map(|s| {
            let core::NamespaceStatus { phase, conditions } = s;
            let mut o = Obj::default();
            o.str("phase", phase);
            o.list(
                "conditions",
                conditions
                    .into_iter()
                    .map(|c| {
                        let core::NamespaceCondition {
                            r#type,
                            status,
                            last_transition_time,
                            reason,
                            message,
                        } = c;
                        let mut o = Obj::default();
                        o.str("type", r#type);
                        o.str("status", status);
                        o.time("lastTransitionTime", last_transition_time);
                        o.str("reason", reason);
                        o.str("message", message);
                        o.done()
                    })
                    .collect(),
            );
            o.done()
        }),
    );
    o.0
}

fn config_map(c: core::ConfigMap) -> Map<String, Value> {
    let core::ConfigMap {
        metadata,
        immutable,
        data,
        binary_data,
    } = c;
    let mut o = Obj::default();
    o.meta(metadata);
    o.bool("immutable", immutable);
    o.map("data", data);
    o.map(
        "binaryData",
        binary_data.into_iter().map(|(k, v)| (k, b64(&v))).collect(),
    );
    o.0
}

fn secret(s: core::Secret) -> Map<String, Value> {
    let core::Secret {
        metadata,
        immutable,
        data,
        string_data,
        r#type,
    } = s;
    let mut o = Obj::default();
    o.meta(metadata);
    o.bool("immutable", immutable);
    o.map(
        "data",
        data.into_iter().map(|(k, v)| (k, b64(&v))).collect(),
    );
    o.map("stringData", string_data);
    o.str("type", r#type);
    o.0
}

fn int32(v: Option<i32>) -> Option<i64> {
    v.map(i64::from)
}

/// An int32 that Go leaves out when zero (`omitempty` on a non-pointer field).
fn nonzero(v: Option<i32>) -> Option<i64> {
    v.filter(|n| *n != 0).map(i64::from)
}

fn service(svc: core::Service) -> Map<String, Value> {
    let core::Service {
        metadata,
        spec,
        status,
    } = svc;
    let mut o = Obj::default();
    o.meta(metadata);
    o.val("spec", spec.map(service_spec));
    o.val(
        "status",
        status.map(|st| {
            let core::ServiceStatus {
                load_balancer,
                conditions,
            } = st;
            let mut o = Obj::default();
            let ingress = load_balancer.map(|lb| {
                let core::LoadBalancerStatus { ingress } = lb;
                let mut o = Obj::default();
                o.list(
                    "ingress",
                    ingress
                        .into_iter()
                        .map(|i| {
                            let core::LoadBalancerIngress {
                                ip,
                                hostname,
                                ip_mode,
                                ports,
                            } = i;
                            let mut o = Obj::default();
                            o.str("ip", ip);
                            o.str("hostname", hostname);
                            o.str("ipMode", ip_mode);
                            o.list(
                                "ports",
                                ports
                                    .into_iter()
                                    .map(|p| {
                                        let core::PortStatus {
                                            port,
                                            protocol,
                                            error,
                                        } = p;
                                        let mut o = Obj::default();
                                        o.int("port", int32(port));
                                        o.str("protocol", protocol);
                                        o.str("error", error);
                                        o.done()
                                    })
                                    .collect(),
                            );
                            o.done()
                        })
                        .collect(),
                );
                o.done()
            });
            o.val("loadBalancer", ingress);
            o.list(
                "conditions",
                conditions
                    .into_iter()
                    .map(|c| {
                        let meta::Condition {
                            r#type,
                            status,
                            observed_generation,
                            last_transition_time,
                            reason,
                            message,
                        } = c;
                        let mut o = Obj::default();
                        o.str("type", r#type);
                        o.str("status", status);
                        o.int(
                            "observedGeneration",
                            observed_generation.filter(|g| *g != 0),
                        );
                        o.time("lastTransitionTime", last_transition_time);
                        o.str("reason", reason);
                        o.str("message", message);
                        o.done()
                    })
                    .collect(),
            );
            o.done()
        }),
    );
    o.0
}

fn service_spec(spec: core::ServiceSpec) -> Value {
    let core::ServiceSpec {
        ports,
        selector,
        cluster_ip,
        cluster_ips,
        r#type,
        external_ips,
        session_affinity,
        load_balancer_ip,
        load_balancer_source_ranges,
        external_name,
        external_traffic_policy,
        health_check_node_port,
        publish_not_ready_addresses,
        session_affinity_config,
        ip_families,
        ip_family_policy,
        allocate_load_balancer_node_ports,
        load_balancer_class,
        internal_traffic_policy,
        traffic_distribution,
    } = spec;
    let mut o = Obj::default();
    o.list(
        "ports",
        ports
            .into_iter()
            .map(|p| {
                let core::ServicePort {
                    name,
                    protocol,
                    app_protocol,
                    port,
                    target_port,
                    node_port,
                } = p;
                let mut o = Obj::default();
                o.str("name", name);
                o.str("protocol", protocol);
                o.str("appProtocol", app_protocol);
                o.int("port", int32(port));
                o.val(
                    "targetPort",
                    target_port.and_then(|t| {
                        let k8s_pb::apimachinery::pkg::util::intstr::IntOrString {
                            r#type,
                            int_val,
                            str_val,
                        } = t;
                        // A zero targetPort is unset: the server defaults it to the port.
                        match r#type {
                            Some(1) => str_val.filter(|s| !s.is_empty()).map(|s| json!(s)),
                            _ => nonzero(int_val).map(|n| json!(n)),
                        }
                    }),
                );
                o.int("nodePort", nonzero(node_port));
                o.done()
            })
            .collect(),
    );
    o.map("selector", selector);
    o.str("clusterIP", cluster_ip);
    o.strs("clusterIPs", cluster_ips);
    o.str("type", r#type);
    o.strs("externalIPs", external_ips);
    o.str("sessionAffinity", session_affinity);
    o.str("loadBalancerIP", load_balancer_ip);
    o.strs("loadBalancerSourceRanges", load_balancer_source_ranges);
    o.str("externalName", external_name);
    o.str("externalTrafficPolicy", external_traffic_policy);
    o.int("healthCheckNodePort", nonzero(health_check_node_port));
    o.bool(
        "publishNotReadyAddresses",
        publish_not_ready_addresses.filter(|b| *b),
    );
    o.val(
        "sessionAffinityConfig",
        session_affinity_config.map(|c| {
            let core::SessionAffinityConfig { client_ip } = c;
            let mut o = Obj::default();
            o.val(
                "clientIP",
                client_ip.map(|c| {
                    let core::ClientIpConfig { timeout_seconds } = c;
                    let mut o = Obj::default();
                    o.int("timeoutSeconds", int32(timeout_seconds));
                    o.done()
                }),
            );
            o.done()
        }),
    );
    o.strs("ipFamilies", ip_families);
    o.str("ipFamilyPolicy", ip_family_policy);
    o.bool(
        "allocateLoadBalancerNodePorts",
        allocate_load_balancer_node_ports,
    );
    o.str("loadBalancerClass", load_balancer_class);
    o.str("internalTrafficPolicy", internal_traffic_policy);
    o.str("trafficDistribution", traffic_distribution);
    o.done()
}

fn service_account(s: core::ServiceAccount) -> Map<String, Value> {
    let core::ServiceAccount {
        metadata,
        secrets,
        image_pull_secrets,
        automount_service_account_token,
    } = s;
    let mut o = Obj::default();
    o.meta(metadata);
    o.list(
        "secrets",
        secrets
            .into_iter()
            .map(|r| {
                let core::ObjectReference {
                    kind,
                    namespace,
                    name,
                    uid,
                    api_version,
                    resource_version,
                    field_path,
                } = r;
                let mut o = Obj::default();
                o.str("kind", kind);
                o.str("namespace", namespace);
                o.str("name", name);
                o.str("uid", uid);
                o.str("apiVersion", api_version);
                o.str("resourceVersion", resource_version);
                o.str("fieldPath", field_path);
                o.done()
            })
            .collect(),
    );
    o.list(
        "imagePullSecrets",
        image_pull_secrets
            .into_iter()
            .map(|r| {
                let core::LocalObjectReference { name } = r;
                let mut o = Obj::default();
                o.str("name", name);
                o.done()
            })
            .collect(),
    );
    o.bool(
        "automountServiceAccountToken",
        automount_service_account_token,
    );
    o.0
}

fn token_request(t: authn::TokenRequest) -> Map<String, Value> {
    let authn::TokenRequest {
        metadata,
        spec,
        status,
    } = t;
    let mut o = Obj::default();
    o.meta(metadata);
    let authn::TokenRequestSpec {
        audiences,
        expiration_seconds,
        bound_object_ref,
    } = spec.unwrap_or_default();
    let mut s = Obj::default();
    s.strs("audiences", audiences);
    s.int("expirationSeconds", expiration_seconds);
    s.val(
        "boundObjectRef",
        bound_object_ref.map(|b| {
            let authn::BoundObjectReference {
                kind,
                api_version,
                name,
                u_id,
            } = b;
            let mut o = Obj::default();
            o.str("kind", kind);
            o.str("apiVersion", api_version);
            o.str("name", name);
            o.str("uid", u_id);
            o.done()
        }),
    );
    o.0.insert("spec".into(), s.done());
    o.val(
        "status",
        status.map(|s| {
            let authn::TokenRequestStatus {
                token,
                expiration_timestamp,
            } = s;
            let mut o = Obj::default();
            o.str("token", token);
            o.time("expirationTimestamp", expiration_timestamp);
            o.done()
        }),
    );
    o.0
}

fn user_info_json(u: authn::UserInfo) -> Value {
    let authn::UserInfo {
        username,
        uid,
        groups,
        extra,
    } = u;
    let mut o = Obj::default();
    o.str("username", username);
    o.str("uid", uid);
    o.strs("groups", groups);
    o.extra(extra.into_iter().map(|(k, v)| (k, v.items)).collect());
    o.done()
}

fn resource_attrs(a: authz::ResourceAttributes) -> Value {
    let authz::ResourceAttributes {
        namespace,
        verb,
        group,
        version,
        resource,
        subresource,
        name,
        field_selector,
        label_selector,
    } = a;
    let mut o = Obj::default();
    o.str("namespace", namespace);
    o.str("verb", verb);
    o.str("group", group);
    o.str("version", version);
    o.str("resource", resource);
    o.str("subresource", subresource);
    o.str("name", name);
    o.val(
        "fieldSelector",
        field_selector.map(|f| {
            let authz::FieldSelectorAttributes {
                raw_selector,
                requirements,
            } = f;
            let mut o = Obj::default();
            o.str("rawSelector", raw_selector);
            o.list(
                "requirements",
                requirements
                    .into_iter()
                    .map(|r| {
                        let meta::FieldSelectorRequirement {
                            key,
                            operator,
                            values,
                        } = r;
                        let mut o = Obj::default();
                        o.str("key", key);
                        o.str("operator", operator);
                        o.strs("values", values);
                        o.done()
                    })
                    .collect(),
            );
            o.done()
        }),
    );
    o.val(
        "labelSelector",
        label_selector.map(|l| {
            let authz::LabelSelectorAttributes {
                raw_selector,
                requirements,
            } = l;
            let mut o = Obj::default();
            o.str("rawSelector", raw_selector);
            o.list(
                "requirements",
                requirements
                    .into_iter()
                    .map(|r| {
                        let meta::LabelSelectorRequirement {
                            key,
                            operator,
                            values,
                        } = r;
                        let mut o = Obj::default();
                        o.str("key", key);
                        o.str("operator", operator);
                        o.strs("values", values);
                        o.done()
                    })
                    .collect(),
            );
            o.done()
        }),
    );
    o.done()
}

fn non_resource_attrs(a: authz::NonResourceAttributes) -> Value {
    let authz::NonResourceAttributes { path, verb } = a;
    let mut o = Obj::default();
    o.str("path", path);
    o.str("verb", verb);
    o.done()
}

fn sar_status(s: authz::SubjectAccessReviewStatus) -> Value {
    let authz::SubjectAccessReviewStatus {
        allowed,
        denied,
        reason,
        evaluation_error,
    } = s;
    let mut o = Obj::default();
    o.bool("allowed", allowed);
    o.bool("denied", denied);
    o.str("reason", reason);
    o.str("evaluationError", evaluation_error);
    o.done()
}

fn rules_status(s: authz::SubjectRulesReviewStatus) -> Value {
    let authz::SubjectRulesReviewStatus {
        resource_rules,
        non_resource_rules,
        incomplete,
        evaluation_error,
    } = s;
    let mut o = Obj::default();
    o.list(
        "resourceRules",
        resource_rules
            .into_iter()
            .map(|r| {
                let authz::ResourceRule {
                    verbs,
                    api_groups,
                    resources,
                    resource_names,
                } = r;
                let mut o = Obj::default();
                o.0.insert("verbs".into(), json!(verbs));
                o.strs("apiGroups", api_groups);
                o.strs("resources", resources);
                o.strs("resourceNames", resource_names);
                o.done()
            })
            .collect(),
    );
    o.list(
        "nonResourceRules",
        non_resource_rules
            .into_iter()
            .map(|r| {
                let authz::NonResourceRule {
                    verbs,
                    non_resource_ur_ls,
                } = r;
                let mut o = Obj::default();
                o.0.insert("verbs".into(), json!(verbs));
                o.strs("nonResourceURLs", non_resource_ur_ls);
                o.done()
            })
            .collect(),
    );
    o.bool("incomplete", incomplete);
    o.str("evaluationError", evaluation_error);
    o.done()
}

fn policy_rule(r: rbac::PolicyRule) -> Value {
    let rbac::PolicyRule {
        verbs,
        api_groups,
        resources,
        resource_names,
        non_resource_ur_ls,
    } = r;
    let mut o = Obj::default();
    // verbs is required (no omitempty); apiGroups [""] must keep its empty string.
    o.0.insert("verbs".into(), json!(verbs));
    o.strs("apiGroups", api_groups);
    o.strs("resources", resources);
    o.strs("resourceNames", resource_names);
    o.strs("nonResourceURLs", non_resource_ur_ls);
    o.done()
}

fn binding(
    metadata: Option<meta::ObjectMeta>,
    subjects: Vec<rbac::Subject>,
    role_ref: Option<rbac::RoleRef>,
) -> Map<String, Value> {
    let mut o = Obj::default();
    o.meta(metadata);
    o.list(
        "subjects",
        subjects
            .into_iter()
            .map(|s| {
                let rbac::Subject {
                    kind,
                    api_group,
                    name,
                    namespace,
                } = s;
                let mut o = Obj::default();
                o.str("kind", kind);
                o.str("apiGroup", api_group);
                o.str("name", name);
                o.str("namespace", namespace);
                o.done()
            })
            .collect(),
    );
    let rbac::RoleRef {
        api_group,
        kind,
        name,
    } = role_ref.unwrap_or_default();
    o.0.insert(
        "roleRef".into(),
        json!({"apiGroup": api_group.unwrap_or_default(), "kind": kind.unwrap_or_default(), "name": name.unwrap_or_default()}),
    );
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::apimachinery::pkg::runtime::TypeMeta;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        }
        .encode(&mut out)
        .unwrap();
        out
    }

    fn meta_named(name: &str) -> Option<meta::ObjectMeta> {
        Some(meta::ObjectMeta {
            name: Some(name.into()),
            // Go marshals every non-pointer field; empty ones must not turn into JSON values.
            generate_name: Some(String::new()),
            generation: Some(0),
            creation_timestamp: Some(meta::Time {
                seconds: Some(-62_135_596_800),
                nanos: Some(0),
            }),
            ..Default::default()
        })
    }

    #[test]
    fn namespace_decodes() {
        let ns = core::Namespace {
            metadata: meta_named("x"),
            spec: Some(core::NamespaceSpec::default()),
            status: Some(core::NamespaceStatus::default()),
        };
        let v = decode(&envelope("v1", "Namespace", ns.encode_to_vec())).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}, "spec": {}, "status": {}})
        );
    }

    #[test]
    fn secret_bytes_become_base64_and_configmaps_keep_data() {
        let s = core::Secret {
            metadata: meta_named("s"),
            data: [("k".to_string(), b"\x00\xffv".to_vec())].into(),
            r#type: Some("Opaque".into()),
            ..Default::default()
        };
        let v = decode(&envelope("v1", "Secret", s.encode_to_vec())).unwrap();
        assert_eq!(v["data"]["k"], "AP92");
        assert_eq!(v["type"], "Opaque");
        let c = core::ConfigMap {
            metadata: meta_named("c"),
            data: [("a".to_string(), String::new())].into(),
            ..Default::default()
        };
        let v = decode(&envelope("v1", "ConfigMap", c.encode_to_vec())).unwrap();
        assert_eq!(v["data"], json!({"a": ""}));
    }

    #[test]
    fn access_review_decodes() {
        let r = authz::SelfSubjectAccessReview {
            metadata: meta_named(""),
            spec: Some(authz::SelfSubjectAccessReviewSpec {
                resource_attributes: Some(authz::ResourceAttributes {
                    namespace: Some("demo".into()),
                    verb: Some("list".into()),
                    resource: Some("services".into()),
                    group: Some(String::new()),
                    ..Default::default()
                }),
                non_resource_attributes: None,
            }),
            status: Some(Default::default()),
        };
        let v = decode(&envelope(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            r.encode_to_vec(),
        ))
        .unwrap();
        assert_eq!(
            v["spec"],
            json!({"resourceAttributes": {"namespace": "demo", "verb": "list", "resource": "services"}})
        );
    }

    #[test]
    fn rules_keep_the_core_group() {
        let r = rbac::ClusterRole {
            metadata: meta_named("r"),
            rules: vec![rbac::PolicyRule {
                verbs: vec!["get".into()],
                api_groups: vec![String::new()],
                resources: vec!["services/status".into()],
                ..Default::default()
            }],
            aggregation_rule: None,
        };
        let v = decode(&envelope(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            r.encode_to_vec(),
        ))
        .unwrap();
        assert_eq!(
            v["rules"],
            json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["services/status"]}])
        );
    }

    #[test]
    fn bad_envelopes_are_errors() {
        assert_eq!(decode(b""), Err(ProtoError::NoMagic));
        assert_eq!(
            decode(b"{\"kind\":\"Namespace\"}"),
            Err(ProtoError::NoMagic)
        );
        assert!(matches!(
            decode(b"k8s\0\xff\xff\xff\xff\xff"),
            Err(ProtoError::Envelope(_))
        ));
        assert_eq!(decode(b"k8s\0"), Err(ProtoError::NoKind));
        assert_eq!(
            decode(&envelope("apps/v1", "Deployment", vec![])),
            Err(ProtoError::UnsupportedKind {
                api_version: "apps/v1".into(),
                kind: "Deployment".into()
            })
        );
        // A valid envelope around a message that is not the named kind's.
        assert!(matches!(
            decode(&envelope("v1", "Namespace", vec![0x0a, 0x05, 0x01])),
            Err(ProtoError::Message { .. })
        ));
        let mut gz = envelope("v1", "Namespace", vec![]);
        let mut u = Unknown::decode(&gz[4..]).unwrap();
        u.content_encoding = Some("gzip".into());
        gz.truncate(4);
        u.encode(&mut gz).unwrap();
        assert_eq!(decode(&gz), Err(ProtoError::Encoding("gzip".into())));
    }

    #[test]
    fn accept_headers() {
        assert!(json_acceptable(None));
        assert!(json_acceptable(Some(
            "application/vnd.kubernetes.protobuf, application/json"
        )));
        assert!(json_acceptable(Some("*/*")));
        assert!(json_acceptable(Some(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        )));
        assert!(!json_acceptable(Some(
            "application/vnd.kubernetes.protobuf"
        )));
        assert!(!json_acceptable(Some(
            "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io"
        )));
    }

    #[test]
    fn services_keep_their_ports() {
        use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
        let svc = core::Service {
            metadata: meta_named("web"),
            spec: Some(core::ServiceSpec {
                ports: vec![core::ServicePort {
                    name: Some("80-8080".into()),
                    protocol: Some("TCP".into()),
                    port: Some(80),
                    target_port: Some(IntOrString {
                        r#type: Some(0),
                        int_val: Some(8080),
                        str_val: Some(String::new()),
                    }),
                    node_port: Some(0),
                    app_protocol: None,
                }],
                selector: [("app".to_string(), "web".to_string())].into(),
                r#type: Some("LoadBalancer".into()),
                health_check_node_port: Some(0),
                ..Default::default()
            }),
            status: Some(core::ServiceStatus {
                load_balancer: Some(Default::default()),
                conditions: vec![],
            }),
        };
        let v = decode(&envelope("v1", "Service", svc.encode_to_vec())).unwrap();
        assert_eq!(
            v["spec"],
            json!({"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                "selector": {"app": "web"}, "type": "LoadBalancer"})
        );
        assert_eq!(v["status"], json!({"loadBalancer": {}}));
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let mut body = MAGIC.to_vec();
            body.extend(tail);
            let _ = decode(&body);
        }
    }
}
