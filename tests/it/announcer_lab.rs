//! The L2 announcer's control loop against the lab: one leader per Service across nodes, handover
//! on shutdown, release on deselection, policy status conditions.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use lbctl::l2::announcer::{self, AnnouncerConfig, Snapshot, Table};
use lbctl::l2::consistency::{Health, Kind, Serving};
use lbctl::l2::policy::Device;
use lbctl::lease::Timings;
use lbctl::model::policy::CiliumL2AnnouncementPolicy;
use serde_json::json;
use tokio::sync::watch;

use crate::support;

struct Node {
    table: watch::Receiver<Table>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn start(client: kube::Client, node: &str) -> Node {
    start_checked(client, node, None)
}

fn start_checked(client: kube::Client, node: &str, check: Option<(Serving, Arc<Health>)>) -> Node {
    let cfg = AnnouncerConfig {
        node_name: node.into(),
        lease_namespace: "kube-system".into(),
        lease_prefix: "cilium-l2announce".into(),
        timings: Timings {
            // Short enough to keep tests quick, long enough that a loaded CI machine (every
            // test runs in parallel on two cores) does not miss renew deadlines.
            lease_duration: Duration::from_secs(4),
            renew_deadline: Duration::from_secs(2),
            retry_period: Duration::from_millis(200),
        },
        field_manager: "lbctl-test".into(),
    };
    let (table_tx, table) = watch::channel(Table::new());
    let (snap_tx, _snap) = watch::channel(Snapshot::default());
    let (stop, stop_rx) = watch::channel(false);
    let devices = Arc::new(|| {
        vec![
            Device {
                name: "eth0".into(),
                selected: true,
                link_down: false,
                unanswerable: false,
            },
            Device {
                name: "eth1".into(),
                selected: true,
                link_down: false,
                unanswerable: false,
            },
        ]
    });
    let task = tokio::spawn(announcer::run(
        client, cfg, devices, table_tx, snap_tx, check, stop_rx,
    ));
    Node { table, stop, task }
}

async fn until<F: FnMut() -> bool>(within: Duration, mut f: F) -> bool {
    let end = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    f()
}

/// Waits (up to 3 s) until the lease is gone or has no holder.
async fn lease_released(client: &kube::Client, name: &str) -> bool {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    for _ in 0..60 {
        match leases.get(name).await {
            Ok(l)
                if l.spec
                    .as_ref()
                    .and_then(|s| s.holder_identity.as_deref())
                    .unwrap_or("")
                    .is_empty() =>
            {
                return true
            }
            Err(_) => return true,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn leads(n: &Node) -> bool {
    n.table.borrow().values().any(|e| e.is_valid())
}

async fn setup(lab: &lbctl::lab::Lab, interfaces: &[&str]) {
    let client = lab.client().unwrap();
    let svcs: Api<Service> = Api::namespaced(client.clone(), "demo");
    svcs.patch_status(
        "demo-web",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.168.111.200"}]}}}),
        ),
    )
    .await
    .unwrap();
    let pol: CiliumL2AnnouncementPolicy = serde_json::from_value(json!({
        "apiVersion": "cilium.io/v2alpha1", "kind": "CiliumL2AnnouncementPolicy",
        "metadata": {"name": "lan"},
        "spec": {"loadBalancerIPs": true, "interfaces": interfaces},
    }))
    .unwrap();
    Api::<CiliumL2AnnouncementPolicy>::all(client)
        .create(&PostParams::default(), &pol)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_announces_and_hands_over_on_shutdown() {
    let lab = support::lab(&["demo"]);
    setup(&lab, &["^eth0$"]).await;
    let a = start(lab.client().unwrap(), "cp-1");
    let b = start(lab.client().unwrap(), "worker-1");
    assert!(
        until(Duration::from_secs(15), || leads(&a) || leads(&b)).await,
        "someone leads"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(leads(&a) ^ leads(&b), "exactly one node announces");
    let (leader, follower) = if leads(&a) { (a, b) } else { (b, a) };
    {
        let t = leader.table.borrow();
        let keys: Vec<_> = t.keys().map(|(ip, i)| format!("{ip}@{i}")).collect();
        assert_eq!(
            keys,
            ["192.168.111.200@eth0"],
            "the VIP on the interface the regex selects"
        );
    }
    let lease = Api::<Lease>::namespaced(lab.client().unwrap(), "kube-system")
        .get("cilium-l2announce-demo-demo-web")
        .await
        .unwrap();
    assert_eq!(lease.spec.unwrap().lease_duration_seconds, Some(4));
    // Graceful shutdown releases the lease: the other node takes over well within a second,
    // not after the 2 s lease duration.
    let started = tokio::time::Instant::now();
    leader.stop.send(true).unwrap();
    leader.task.await.unwrap();
    assert!(
        until(Duration::from_secs(10), || leads(&follower)).await,
        "follower took over"
    );
    assert!(
        // Released, not expired: far below the 4 s lease duration (typically ~100 ms).
        started.elapsed() < Duration::from_millis(1500),
        "handover took {:?}",
        started.elapsed()
    );
    follower.stop.send(true).unwrap();
    follower.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deselected_service_releases_and_bad_regex_is_reported() {
    let lab = support::lab(&["demo"]);
    setup(&lab, &["(eth"]).await;
    let client = lab.client().unwrap();
    let a = start(client.clone(), "cp-1");
    let pols: Api<CiliumL2AnnouncementPolicy> = Api::all(client.clone());
    let mut reported = false;
    for _ in 0..100 {
        let p = pols.get("lan").await.unwrap();
        if let Some(c) = p.status.and_then(|s| s.conditions).and_then(|cs| {
            cs.into_iter()
                .find(|c| c.type_ == "io.cilium/bad-interface-regex")
        }) {
            assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "error"));
            assert!(c.message.contains("(eth"), "{}", c.message);
            reported = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reported, "bad-interface-regex condition written");
    assert!(!leads(&a), "a broken policy announces nothing");
    // Fix the regex: the node announces; the condition is cleared Cilium's way.
    pols.patch(
        "lan",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"interfaces": ["^eth1$"]}})),
    )
    .await
    .unwrap();
    assert!(until(Duration::from_secs(15), || leads(&a)).await);
    let c = pols
        .get("lan")
        .await
        .unwrap()
        .status
        .unwrap()
        .conditions
        .unwrap();
    let c = c
        .iter()
        .find(|c| c.type_ == "io.cilium/bad-interface-regex")
        .unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
        ("False", "error", "")
    );
    // Deleting the policy deselects the Service: stop answering and clear the lease holder.
    pols.delete("lan", &Default::default()).await.unwrap();
    assert!(until(Duration::from_secs(10), || !leads(&a)).await);
    assert!(
        lease_released(&client, "cilium-l2announce-demo-demo-web").await,
        "lease released on deselection"
    );
    a.stop.send(true).unwrap();
    a.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_selector_moves_the_announcement_and_service_deletion_releases() {
    let lab = support::lab(&["demo"]);
    setup(&lab, &["^eth0$"]).await;
    let client = lab.client().unwrap();
    let pols: Api<CiliumL2AnnouncementPolicy> = Api::all(client.clone());
    // Only the control-plane node may announce.
    let only = |host: &str| json!({"spec": {"nodeSelector": {"matchLabels": {"kubernetes.io/hostname": host}}}});
    pols.patch("lan", &PatchParams::default(), &Patch::Merge(only("cp-1")))
        .await
        .unwrap();
    let cp = start(client.clone(), "cp-1");
    let worker = start(client.clone(), "worker-1");
    assert!(
        until(Duration::from_secs(15), || leads(&cp)).await,
        "cp-1 announces"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!leads(&worker), "worker-1 is not selected");
    // Move the policy to worker-1: cp-1 stops and releases, worker-1 takes over promptly.
    pols.patch(
        "lan",
        &PatchParams::default(),
        &Patch::Merge(only("worker-1")),
    )
    .await
    .unwrap();
    assert!(
        until(Duration::from_secs(10), || leads(&worker) && !leads(&cp)).await,
        "announcement moved"
    );
    // Deleting the Service stops the announcement and clears the lease holder.
    Api::<Service>::namespaced(client.clone(), "demo")
        .delete("demo-web", &Default::default())
        .await
        .unwrap();
    assert!(
        until(Duration::from_secs(10), || !leads(&worker)).await,
        "no announcement without the Service"
    );
    assert!(
        lease_released(&client, "cilium-l2announce-demo-demo-web").await,
        "lease released after the Service was deleted"
    );
    for n in [cp, worker] {
        n.stop.send(true).unwrap();
        n.task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_traffic_is_announced_only_where_its_endpoints_run() {
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let lab = support::lab(&["demo"]);
    setup(&lab, &["^eth0$"]).await;
    let client = lab.client().unwrap();
    Api::<Service>::namespaced(client.clone(), "demo")
        .patch(
            "demo-web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"externalTrafficPolicy": "Local"}})),
        )
        .await
        .unwrap();
    let slice = |node: &str, ready: bool| -> EndpointSlice {
        serde_json::from_value(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "demo-web-abc", "namespace": "demo",
                         "labels": {"kubernetes.io/service-name": "demo-web"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.1.5"], "nodeName": node,
                           "conditions": {"ready": ready}}],
        }))
        .unwrap()
    };
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "demo");
    // The demo scenario's own slice puts an endpoint on worker-1; this test moves its own.
    for s in slices.list(&Default::default()).await.unwrap() {
        let name = s.metadata.name.unwrap_or_default();
        slices.delete(&name, &Default::default()).await.unwrap();
    }
    slices
        .create(&PostParams::default(), &slice("worker-1", true))
        .await
        .unwrap();
    let cp = start(client.clone(), "cp-1");
    let worker = start(client.clone(), "worker-1");
    assert!(
        until(Duration::from_secs(15), || leads(&worker)).await,
        "worker-1, where the endpoint runs, announces"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!leads(&cp), "cp-1 has no endpoint and does not contend");
    let move_to = |node: &'static str, ready: bool| {
        let slices = slices.clone();
        async move {
            let mut s = slice(node, ready);
            s.metadata.resource_version = slices
                .get("demo-web-abc")
                .await
                .unwrap()
                .metadata
                .resource_version;
            slices
                .replace("demo-web-abc", &PostParams::default(), &s)
                .await
                .unwrap();
        }
    };
    // The pod moves to cp-1: the announcement follows it.
    move_to("cp-1", true).await;
    assert!(
        until(Duration::from_secs(10), || leads(&cp) && !leads(&worker)).await,
        "announcement moved with the endpoint"
    );
    // No ready endpoint anywhere: nobody announces a VIP that would drop every packet.
    move_to("cp-1", false).await;
    assert!(
        until(Duration::from_secs(10), || !leads(&cp) && !leads(&worker)).await,
        "no announcement without a ready endpoint"
    );
    assert!(
        lease_released(&client, "cilium-l2announce-demo-demo-web").await,
        "lease released"
    );
    for n in [cp, worker] {
        n.stop.send(true).unwrap();
        n.task.await.unwrap();
    }
}

/// A stand-in responder that serves every table it receives, except that it loses the first one
/// with entries (`lose_first`): the mismatch the announcer's self-check must find and repair.
fn fake_responder(mut table: watch::Receiver<Table>, serving: Serving, mut lose_first: bool) {
    tokio::spawn(async move {
        loop {
            let t = table.borrow_and_update().clone();
            if lose_first && !t.is_empty() {
                lose_first = false;
            } else {
                let mut by_iface: std::collections::BTreeMap<String, (u64, _)> = Default::default();
                for (ip, iface) in t.keys() {
                    by_iface
                        .entry(iface.clone())
                        .or_insert_with(|| (0, std::collections::BTreeSet::new()))
                        .1
                        .insert(*ip);
                }
                *serving.lock().unwrap() = by_iface;
            }
            if table.changed().await.is_err() {
                return;
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_responder_update_is_found_counted_and_repaired() {
    let lab = support::lab(&["demo"]);
    setup(&lab, &["^eth0$"]).await;
    let serving: Serving = Arc::default();
    let health: Arc<Health> = Arc::default();
    let a = start_checked(
        lab.client().unwrap(),
        "cp-1",
        Some((serving.clone(), health.clone())),
    );
    fake_responder(a.table.clone(), serving.clone(), true);
    assert!(
        until(Duration::from_secs(15), || leads(&a)).await,
        "the only node leads"
    );
    // Leading, in the table, but not served: confirmed at the second look, then repaired.
    let vip = ("192.168.111.200".parse().unwrap(), "eth0".to_string());
    assert!(
        until(Duration::from_secs(6), || {
            serving
                .lock()
                .unwrap()
                .get("eth0")
                .is_some_and(|(_, ips)| ips.contains(&vip.0))
        })
        .await,
        "the lost update was never repaired: serving {:?}",
        serving.lock().unwrap()
    );
    assert_eq!(health.mismatches_total(), 1, "exactly the one injected");
    // Nothing else is ever reported: a healthy table stays quiet.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(health.mismatches_total(), 1);
    assert!(health.current().is_empty());

    // The reverse: something served that this node does not lead.
    serving
        .lock()
        .unwrap()
        .entry("eth0".into())
        .or_default()
        .1
        .insert("192.168.111.250".parse().unwrap());
    assert!(
        until(Duration::from_secs(6), || health.mismatches_total() == 2).await,
        "the extra entry was not found"
    );
    let found = health.current();
    assert!(
        found.is_empty()
            || found
                .iter()
                .all(|m| m.kind == Kind::Extra && m.ip.to_string() == "192.168.111.250"),
        "{found:?}"
    );
    // Repaired: the republished table replaced what was served.
    assert!(
        until(Duration::from_secs(3), || {
            serving
                .lock()
                .unwrap()
                .get("eth0")
                .is_some_and(|(_, ips)| ips.len() == 1)
        })
        .await
    );
    a.stop.send(true).unwrap();
    a.task.await.unwrap();
}
