//! Fills a [`Snapshot`] with GET and LIST requests only (doctor never writes).
//!
//! One Service costs 13 requests (14 on Cilium before 1.18): the Service, cilium-config, pools
//! (plus one retry as v2alpha1 on older Cilium), policies, nodes, CiliumNodes, leases, the
//! Service's EndpointSlices, the cluster's Services (sharing and capacity need every holder of
//! an IP), the pods of the agent namespace (which engine actually runs), and three
//! SubjectAccessReviews (may the agent get, create, update leases). Only when the server refuses
//! the reviews does doctor read the RBAC objects to judge for itself: four more LISTs
//! (ClusterRoles, ClusterRoleBindings, Roles and RoleBindings of the agent namespace). The
//! listings read only what they show.
//!
//! A SubjectAccessReview is a POST, but it writes nothing: the API server answers it and keeps
//! no object (it is how `kubectl auth can-i --as` asks), so doctor stays read-only.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::snapshot::{str_map, AccessReview, Snapshot, Source, Unread};
use crate::cluster::Connection;
use crate::model::names as n;
use crate::output::CodedError;

/// What to fetch.
#[derive(Clone, Debug)]
pub enum Scope {
    /// One Service: targeted requests.
    Service { namespace: String, name: String },
    /// Every LoadBalancer Service in one namespace (`None`: all namespaces).
    All { namespace: Option<String> },
}

/// Which reads a command makes, and which of them it cannot do without. A refused (403) read
/// that is not required becomes a note ([`Unread`]) and the checks that need it say so; a
/// refused required read, or any other failure, is exit 3.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub fetch: &'static [Source],
    pub required: &'static [Source],
}

const EVERYTHING: &[Source] = &[
    Source::Services,
    Source::CiliumConfig,
    Source::Pools,
    Source::Policies,
    Source::Nodes,
    Source::CiliumNodes,
    Source::Leases,
    Source::ClusterRoles,
    Source::ClusterRoleBindings,
    Source::Roles,
    Source::RoleBindings,
    Source::EndpointSlices,
    Source::Pods,
];

impl Plan {
    /// The ladder: pools are its spine; everything else only feeds some checks.
    pub const DOCTOR: Plan = Plan {
        fetch: EVERYTHING,
        required: &[Source::Pools],
    };
    /// `doctor --all`: the Services are the listing itself.
    pub const DOCTOR_ALL: Plan = Plan {
        fetch: EVERYTHING,
        required: &[Source::Pools, Source::Services],
    };
    pub const POOLS: Plan = Plan {
        fetch: &[Source::Pools, Source::Services],
        required: &[Source::Pools],
    };
    pub const POLICIES: Plan = Plan {
        fetch: &[
            Source::Policies,
            Source::Services,
            Source::Nodes,
            Source::CiliumNodes,
        ],
        required: &[Source::Policies],
    };
    pub const LEASES: Plan = Plan {
        fetch: &[Source::Leases, Source::Services, Source::Nodes],
        required: &[Source::Leases],
    };

    fn wants(&self, s: Source) -> bool {
        self.fetch.contains(&s)
    }
}

/// One read: what it is for the messages, and whether a 403 may be noted instead of failing.
struct Read<'a> {
    source: Source,
    verb: &'static str,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    what: String,
}

/// A GET or LIST that may legitimately find nothing (404 → `None`).
async fn get<T: DeserializeOwned>(
    conn: &Connection,
    path: &str,
    what: &str,
) -> Result<Option<T>, CodedError> {
    let req = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| CodedError::usage(format!("bad request path {path}: {e}")))?;
    match conn.client.request::<T>(req).await {
        Ok(v) => Ok(Some(v)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(conn.explain(what, e)),
    }
}

/// Like [`get`], but a 403 on a read the plan does not require is returned as an [`Unread`].
/// A read the plan does not make at all is `Ok(Ok(None))`.
async fn read<T: DeserializeOwned>(
    conn: &Connection,
    plan: &Plan,
    path: &str,
    r: Read<'_>,
) -> Result<Result<Option<T>, Unread>, CodedError> {
    if !plan.wants(r.source) {
        return Ok(Ok(None));
    }
    let req = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| CodedError::usage(format!("bad request path {path}: {e}")))?;
    match conn.client.request::<T>(req).await {
        Ok(v) => Ok(Ok(Some(v))),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Ok(None)),
        Err(kube::Error::Api(s)) if s.code == 403 && !plan.required.contains(&r.source) => {
            Ok(Err(Unread {
                source: Some(r.source),
                verb: r.verb.to_owned(),
                resource: r.source.resource().to_owned(),
                name: r.name.map(str::to_owned),
                namespace: r.namespace.map(str::to_owned),
                reason: "forbidden".to_owned(),
                message: s.message,
            }))
        }
        Err(e) => Err(conn.explain(&r.what, e)),
    }
}

/// A LIST response decoded straight into its items (no buffering of the other fields, which
/// a flattened `TypeMeta` would cost at 10,000 Services).
#[derive(Deserialize)]
struct List<T> {
    items: Option<Vec<T>>,
}

fn items(v: Option<Value>) -> Option<Vec<Value>> {
    v.map(|mut v| match v.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    })
}

/// A LIST of `source`, cluster-wide or in `namespace`.
fn list_of<'a>(source: Source, namespace: Option<&'a str>) -> Read<'a> {
    Read {
        source,
        verb: "list",
        namespace,
        name: None,
        what: match namespace {
            Some(ns) => format!("list {} in {ns}", source.resource()),
            None => format!("list {}", source.resource()),
        },
    }
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Fetches what `plan` asks for. `Ok(None)` for a one-Service scope whose Service is missing.
pub async fn fetch(
    conn: &Connection,
    scope: &Scope,
    agent_namespace: &str,
    plan: &Plan,
) -> Result<(Snapshot, Option<Service>), CodedError> {
    let ans = agent_namespace;
    let mut snap = Snapshot {
        now: jiff::Timestamp::now().as_second(),
        agent_namespace: ans.to_owned(),
        ..Snapshot::default()
    };
    let target = match scope {
        Scope::Service { namespace, name } => {
            let path = format!("/api/v1/namespaces/{namespace}/services/{name}");
            match get(conn, &path, &format!("get service {namespace}/{name}")).await? {
                Some(s) => Some(s),
                None => return Ok((snap, None)),
            }
        }
        Scope::All { .. } => None,
    };

    // Independent requests run concurrently: a round trip each would otherwise add up.
    let (services_path, services_ns) = match scope {
        Scope::All {
            namespace: Some(ns),
        } => (
            format!("/api/v1/namespaces/{ns}/services"),
            Some(ns.as_str()),
        ),
        _ => ("/api/v1/services".to_owned(), None),
    };
    let (eps_path, eps_ns) = match scope {
        Scope::Service { namespace, name } => (
            format!(
                "/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices?labelSelector={}",
                enc(&format!("kubernetes.io/service-name={name}"))
            ),
            Some(namespace.as_str()),
        ),
        Scope::All {
            namespace: Some(ns),
        } => (
            format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"),
            Some(ns.as_str()),
        ),
        Scope::All { namespace: None } => {
            ("/apis/discovery.k8s.io/v1/endpointslices".to_owned(), None)
        }
    };
    let cm_path = format!(
        "/api/v1/namespaces/{ans}/configmaps/{}",
        n::CILIUM_CONFIG_MAP
    );
    let pools_v2 = format!("/apis/{}/{}/{}", n::CILIUM_GROUP, n::V2, n::POOL_PLURAL);
    let policies_path = format!(
        "/apis/{}/{}/{}",
        n::CILIUM_GROUP,
        n::V2ALPHA1,
        n::POLICY_PLURAL
    );
    let cn_path = format!(
        "/apis/{}/{}/{}",
        n::CILIUM_GROUP,
        n::V2,
        n::CILIUM_NODE_PLURAL
    );
    let leases_path = format!("/apis/coordination.k8s.io/v1/namespaces/{ans}/leases");
    let pods_path = format!("/api/v1/namespaces/{ans}/pods");
    let cm_read = Read {
        source: Source::CiliumConfig,
        verb: "get",
        namespace: Some(ans),
        name: Some(n::CILIUM_CONFIG_MAP),
        what: format!("get configmap {ans}/{}", n::CILIUM_CONFIG_MAP),
    };
    let (services, cm, pools, policies, nodes, cnodes, leases, eps, pods) = futures::try_join!(
        read::<List<Service>>(
            conn,
            plan,
            &services_path,
            list_of(Source::Services, services_ns)
        ),
        read(conn, plan, &cm_path, cm_read),
        read(conn, plan, &pools_v2, list_of(Source::Pools, None)),
        read(conn, plan, &policies_path, list_of(Source::Policies, None)),
        read(conn, plan, "/api/v1/nodes", list_of(Source::Nodes, None)),
        read(conn, plan, &cn_path, list_of(Source::CiliumNodes, None)),
        read(conn, plan, &leases_path, list_of(Source::Leases, Some(ans))),
        read(
            conn,
            plan,
            &eps_path,
            list_of(Source::EndpointSlices, eps_ns)
        ),
        read(conn, plan, &pods_path, list_of(Source::Pods, Some(ans))),
    )?;
    let services = match services {
        Ok(v) => v.map(|l| l.items.unwrap_or_default()),
        Err(u) => {
            snap.unread.push(u);
            None
        }
    };
    let mut keep = |r: Result<Option<Value>, Unread>| match r {
        Ok(v) => v,
        Err(u) => {
            snap.unread.push(u);
            None
        }
    };
    let cm = keep(cm);
    let pools = items(keep(pools));
    let policies = items(keep(policies));
    let nodes = items(keep(nodes));
    let cnodes = items(keep(cnodes));
    let leases = items(keep(leases));
    let eps = items(keep(eps));
    let pods = items(keep(pods));
    snap.services = services.unwrap_or_default();
    if let Some(t) = &target {
        // The targeted GET is fresher than the list; keep one copy.
        let key = |s: &Service| (s.metadata.namespace.clone(), s.metadata.name.clone());
        snap.services.retain(|s| key(s) != key(t));
        snap.services.push(t.clone());
    }
    snap.cilium_config = cm
        .map(|c| str_map(&c, &["data"]))
        .map(|m: BTreeMap<_, _>| m);
    snap.pools = pools;
    snap.pool_version = snap.pools.as_ref().map(|_| n::V2.to_owned());
    if snap.pools.is_none() && plan.wants(Source::Pools) && snap.unread(Source::Pools).is_none() {
        // Older Cilium serves pools only as v2alpha1.
        let a1 = format!(
            "/apis/{}/{}/{}",
            n::CILIUM_GROUP,
            n::V2ALPHA1,
            n::POOL_PLURAL
        );
        match read(conn, plan, &a1, list_of(Source::Pools, None)).await? {
            Ok(v) => snap.pools = items(v),
            Err(u) => snap.unread.push(u),
        }
        snap.pool_version = snap.pools.as_ref().map(|_| n::V2ALPHA1.to_owned());
    }
    snap.policies = policies;
    snap.nodes = nodes.unwrap_or_default();
    snap.cilium_nodes = cnodes;
    snap.leases = leases.unwrap_or_default();
    snap.endpoint_slices = eps.unwrap_or_default();
    snap.pods = pods;
    snap.agent_service_account = agent_service_account(snap.pods.as_deref());
    if plan.wants(Source::ClusterRoles) {
        lease_permissions(conn, plan, &mut snap).await?;
    }
    Ok((snap, target))
}

/// The ServiceAccount the agent's pods run as (Helm lets users rename it).
fn agent_service_account(pods: Option<&[Value]>) -> String {
    pods.into_iter()
        .flatten()
        .filter(|p| {
            super::snapshot::str_at(p, &["metadata", "labels", n::AGENT_POD_LABEL.0])
                == Some(n::AGENT_POD_LABEL.1)
        })
        .find_map(|p| super::snapshot::str_at(p, &["spec", "serviceAccountName"]))
        .unwrap_or(n::AGENT_SERVICE_ACCOUNT)
        .to_owned()
}

/// May the agent use leases? Asks the API server (one SubjectAccessReview per verb the agent
/// needs, concurrently), and reads the RBAC objects only when it refuses to answer.
async fn lease_permissions(
    conn: &Connection,
    plan: &Plan,
    snap: &mut Snapshot,
) -> Result<(), CodedError> {
    let ans = snap.agent_namespace.clone();
    let user = n::service_account_user(&ans, &snap.agent_service_account);
    let reviews = futures::future::join_all(
        n::LEASE_RBAC_VERBS
            .iter()
            .map(|verb| review(conn, &user, &ans, verb)),
    )
    .await;
    let mut answers = Vec::new();
    let mut refused = None;
    for r in reviews {
        match r? {
            Ok(a) => answers.push(a),
            Err(why) => refused = Some(why),
        }
    }
    snap.lease_reviews = Some(match refused {
        None => Ok(answers),
        Some(why) => Err(why),
    });
    if matches!(snap.lease_reviews, Some(Ok(_))) {
        return Ok(());
    }
    let roles_path = format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ans}/roles");
    let rb_path = format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ans}/rolebindings");
    let (cr, crb, r, rb) = futures::try_join!(
        read(
            conn,
            plan,
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            list_of(Source::ClusterRoles, None)
        ),
        read(
            conn,
            plan,
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            list_of(Source::ClusterRoleBindings, None)
        ),
        read(conn, plan, &roles_path, list_of(Source::Roles, Some(&ans))),
        read(
            conn,
            plan,
            &rb_path,
            list_of(Source::RoleBindings, Some(&ans))
        ),
    )?;
    let mut keep = |r: Result<Option<Value>, Unread>| match r {
        Ok(v) => items(v).unwrap_or_default(),
        Err(u) => {
            snap.unread.push(u);
            Vec::new()
        }
    };
    snap.cluster_roles = keep(cr);
    snap.cluster_role_bindings = keep(crb);
    snap.roles = keep(r);
    snap.role_bindings = keep(rb);
    Ok(())
}

/// One SubjectAccessReview: `Ok(Err(why))` when the server refuses to answer (403, or a
/// server without the API: 404), which is not an error for doctor.
async fn review(
    conn: &Connection,
    user: &str,
    namespace: &str,
    verb: &str,
) -> Result<Result<AccessReview, String>, CodedError> {
    let groups = n::service_account_groups(namespace);
    let body = serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "groups": groups,
            "resourceAttributes": {
                "namespace": namespace,
                "verb": verb,
                "group": n::LEASE_API_GROUP,
                "resource": n::LEASE_RESOURCE,
            },
        },
    });
    let path = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    let req = http::Request::post(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body).unwrap_or_default())
        .map_err(|e| CodedError::usage(format!("bad request path {path}: {e}")))?;
    match conn.client.request::<Value>(req).await {
        Ok(v) => {
            let status = v.get("status").cloned().unwrap_or(Value::Null);
            let text = |k: &str| status.get(k).and_then(Value::as_str).unwrap_or_default();
            let reason = if text("reason").is_empty() {
                text("evaluationError").to_owned()
            } else {
                text("reason").to_owned()
            };
            Ok(Ok(AccessReview {
                verb: verb.to_owned(),
                allowed: status.get("allowed").and_then(Value::as_bool) == Some(true),
                reason,
            }))
        }
        Err(kube::Error::Api(s)) if matches!(s.code, 403 | 404) => {
            Ok(Err(format!("{} ({})", s.message, s.reason)))
        }
        Err(e) => Err(conn.explain(&format!("create subjectaccessreview ({verb} leases)"), e)),
    }
}
