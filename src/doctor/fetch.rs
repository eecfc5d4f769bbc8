//! Fills a [`Snapshot`] with GET and LIST requests only (doctor never writes).
//!
//! One Service costs 11 requests (12 on Cilium before 1.18): the Service, cilium-config, pools (plus one retry as
//! v2alpha1 on older Cilium), policies, nodes, CiliumNodes, leases, ClusterRoles,
//! ClusterRoleBindings, the Service's EndpointSlices and the cluster's Services (sharing and capacity need every holder of an IP).

use std::collections::BTreeMap;

use serde_json::Value;

use super::snapshot::{str_map, Snapshot};
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

/// A GET or LIST that may legitimately find nothing (404 → `None`).
async fn get(conn: &Connection, path: &str, what: &str) -> Result<Option<Value>, CodedError> {
    let req = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| CodedError::usage(format!("bad request path {path}: {e}")))?;
    match conn.client.request::<Value>(req).await {
        Ok(v) => Ok(Some(v)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(conn.explain(what, e)),
    }
}

async fn list(conn: &Connection, path: &str, what: &str) -> Result<Option<Vec<Value>>, CodedError> {
    Ok(get(conn, path, what)
        .await?
        .map(|mut v| match v.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        }))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Fetches what the ladder needs. `Ok(None)` for a one-Service scope whose Service is missing.
pub async fn fetch(
    conn: &Connection,
    scope: &Scope,
    agent_namespace: &str,
) -> Result<(Snapshot, Option<Value>), CodedError> {
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
    let services_path = match scope {
        Scope::All {
            namespace: Some(ns),
        } => format!("/api/v1/namespaces/{ns}/services"),
        _ => "/api/v1/services".to_owned(),
    };
    let eps_path = match scope {
        Scope::Service { namespace, name } => format!(
            "/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices?labelSelector={}",
            enc(&format!("kubernetes.io/service-name={name}"))
        ),
        Scope::All {
            namespace: Some(ns),
        } => format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"),
        Scope::All { namespace: None } => "/apis/discovery.k8s.io/v1/endpointslices".to_owned(),
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
    let cm_what = format!("get configmap {ans}/{}", n::CILIUM_CONFIG_MAP);
    let leases_what = format!("list leases in {ans}");
    let pods_what = format!("list pods in {ans}");
    let (services, cm, pools, policies, nodes, cnodes, leases, roles, bindings, eps, pods) = futures::try_join!(
        list(conn, &services_path, "list services"),
        get(conn, &cm_path, &cm_what),
        list(conn, &pools_v2, "list ciliumloadbalancerippools.cilium.io"),
        list(
            conn,
            &policies_path,
            "list ciliuml2announcementpolicies.cilium.io"
        ),
        list(conn, "/api/v1/nodes", "list nodes"),
        list(conn, &cn_path, "list ciliumnodes.cilium.io"),
        list(conn, &leases_path, &leases_what),
        list(
            conn,
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            "list clusterroles"
        ),
        list(
            conn,
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            "list clusterrolebindings"
        ),
        list(conn, &eps_path, "list endpointslices"),
        async {
            match scope {
                Scope::All { .. } => list(conn, &pods_path, &pods_what).await,
                Scope::Service { .. } => Ok(None),
            }
        },
    )?;
    snap.services = services.unwrap_or_default();
    if let Some(t) = &target {
        // The targeted GET is fresher than the list; keep one copy.
        let key = |v: &Value| {
            (
                v["metadata"]["namespace"].clone(),
                v["metadata"]["name"].clone(),
            )
        };
        snap.services.retain(|s| key(s) != key(t));
        snap.services.push(t.clone());
    }
    snap.cilium_config = cm
        .map(|c| str_map(&c, &["data"]))
        .map(|m: BTreeMap<_, _>| m);
    snap.pools = pools;
    snap.pool_version = snap.pools.as_ref().map(|_| n::V2.to_owned());
    if snap.pools.is_none() {
        // Older Cilium serves pools only as v2alpha1.
        let a1 = format!(
            "/apis/{}/{}/{}",
            n::CILIUM_GROUP,
            n::V2ALPHA1,
            n::POOL_PLURAL
        );
        snap.pools = list(conn, &a1, "list ciliumloadbalancerippools.cilium.io").await?;
        snap.pool_version = snap.pools.as_ref().map(|_| n::V2ALPHA1.to_owned());
    }
    snap.policies = policies;
    snap.nodes = nodes.unwrap_or_default();
    snap.cilium_nodes = cnodes;
    snap.leases = leases.unwrap_or_default();
    snap.cluster_roles = roles.unwrap_or_default();
    snap.cluster_role_bindings = bindings.unwrap_or_default();
    snap.endpoint_slices = eps.unwrap_or_default();
    snap.pods = pods;
    Ok((snap, target))
}
