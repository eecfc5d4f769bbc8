//! The Lease elector against the lab API server: one leader, release hands over, API loss fences.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use lbctl::lab::Fault;
use lbctl::lease::{LeaderState, LeaseConfig, LeaseHandle, Timings};

use crate::support;

fn cfg(name: &str, who: &str) -> LeaseConfig {
    LeaseConfig::new(
        "kube-system",
        name,
        who,
        Timings {
            // Long enough that a loaded CI machine does not miss renew deadlines by accident.
            lease_duration: Duration::from_secs(4),
            renew_deadline: Duration::from_secs(2),
            retry_period: Duration::from_millis(200),
        },
    )
}

async fn wait_for(h: &LeaseHandle, leading: bool, within: Duration) -> bool {
    let mut rx = h.subscribe();
    tokio::time::timeout(within, async {
        loop {
            if matches!(*rx.borrow_and_update(), LeaderState::Leading { .. }) == leading {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn one_leader_then_release_hands_over() {
    let lab = support::lab(&[]);
    let client = lab.client().unwrap();
    let a =
        LeaseHandle::spawn(client.clone(), cfg("cilium-l2announce-demo-web", "node-a")).unwrap();
    assert!(wait_for(&a, true, Duration::from_secs(15)).await, "a leads");
    let b =
        LeaseHandle::spawn(client.clone(), cfg("cilium-l2announce-demo-web", "node-b")).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(a.is_leading() && !b.is_leading(), "never two leaders");
    let lease = Api::<Lease>::namespaced(client.clone(), "kube-system")
        .get("cilium-l2announce-demo-web")
        .await
        .unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("node-a"));
    assert_eq!(spec.lease_duration_seconds, Some(4));
    a.release().await.unwrap();
    b.nudge();
    assert!(
        wait_for(&b, true, Duration::from_secs(3)).await,
        "b takes over after a release"
    );
    let lease = Api::<Lease>::namespaced(client, "kube-system")
        .get("cilium-l2announce-demo-web")
        .await
        .unwrap();
    assert_eq!(
        lease.spec.unwrap().holder_identity.as_deref(),
        Some("node-b")
    );
    // Writes went through optimistic concurrency: replaces, never blind patches.
    assert!(lab
        .requests()
        .iter()
        .filter(|r| r.is_write())
        .all(|r| r.method == "PUT" || r.method == "POST"));
}

#[tokio::test]
async fn leader_stops_by_its_renew_deadline_when_the_api_fails() {
    let lab = support::lab(&[]);
    let a = LeaseHandle::spawn(lab.client().unwrap(), cfg("fenced", "node-a")).unwrap();
    assert!(wait_for(&a, true, Duration::from_secs(15)).await);
    lab.inject(Fault {
        path_contains: "/leases/fenced".into(),
        status: Some(500),
        count: 1000,
        ..Default::default()
    });
    let started = tokio::time::Instant::now();
    assert!(
        wait_for(&a, false, Duration::from_secs(5)).await,
        "stepped down"
    );
    assert!(
        // The renew deadline is 2 s; allow one retry period and scheduling slack, never the
        // 4 s lease duration.
        started.elapsed() <= Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
}
