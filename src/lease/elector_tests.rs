//! Tests of the async elector against a minimal in-process HTTP/1.1 Lease API (GET, POST, PUT
//! with resourceVersion checks, injectable 500s). The lab API server will cover the same ground
//! end to end; this keeps the loop testable without it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use kube::Client;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::lease::decide::{holder_of, LeaseConfig, Timings};
use crate::lease::elector::{LeaderState, LeaseHandle};
use crate::lease::gc::gc_once;

const NS: &str = "kube-system";
const NAME: &str = "cilium-l2announce-default-web";
const BASE: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";

/// Short but valid timings (renew deadline > 1.2 x retry) to keep the tests fast.
const FAST: Timings = Timings {
    lease_duration: Duration::from_millis(1_000),
    renew_deadline: Duration::from_millis(400),
    retry_period: Duration::from_millis(100),
};

#[derive(Default)]
struct ApiState {
    leases: BTreeMap<String, Lease>,
    rv: u64,
    /// Answer every request with 500 while set.
    fail: bool,
    requests: Vec<String>,
}

#[derive(Clone, Default)]
struct FakeApi(Arc<Mutex<ApiState>>);

impl FakeApi {
    fn lock(&self) -> MutexGuard<'_, ApiState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lease(&self, name: &str) -> Option<Lease> {
        self.lock().leases.get(name).cloned()
    }

    fn set_fail(&self, fail: bool) {
        self.lock().fail = fail;
    }

    /// Writes as a third party would, bumping the resourceVersion.
    fn put(&self, mut lease: Lease) {
        let mut st = self.lock();
        st.rv += 1;
        lease.metadata.resource_version = Some(st.rv.to_string());
        if let Some(name) = lease.metadata.name.clone() {
            st.leases.insert(name, lease);
        }
    }

    fn handle(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let mut st = self.lock();
        st.requests.push(format!("{method} {path}"));
        if st.fail {
            return status(500, "InternalError", "injected failure");
        }
        let name = path
            .strip_prefix(BASE)
            .unwrap_or("")
            .trim_start_matches('/');
        match (method, name) {
            ("GET", "") => {
                let items: Vec<_> = st.leases.values().cloned().collect();
                let list = serde_json::json!({
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "LeaseList",
                    "metadata": {"resourceVersion": st.rv.to_string()},
                    "items": items,
                });
                (200, list.to_string())
            }
            ("GET", name) => match st.leases.get(name) {
                Some(l) => (200, to_json(l)),
                None => status(404, "NotFound", "not found"),
            },
            ("POST", "") => {
                let Ok(mut l) = serde_json::from_slice::<Lease>(body) else {
                    return status(400, "BadRequest", "bad body");
                };
                let Some(name) = l.metadata.name.clone() else {
                    return status(422, "Invalid", "no name");
                };
                if st.leases.contains_key(&name) {
                    return status(409, "AlreadyExists", "already exists");
                }
                st.rv += 1;
                l.metadata.resource_version = Some(st.rv.to_string());
                st.leases.insert(name, l.clone());
                (201, to_json(&l))
            }
            ("PUT", name) => {
                let Ok(mut l) = serde_json::from_slice::<Lease>(body) else {
                    return status(400, "BadRequest", "bad body");
                };
                let Some(current) = st.leases.get(name) else {
                    return status(404, "NotFound", "not found");
                };
                if l.metadata.resource_version != current.metadata.resource_version {
                    return status(409, "Conflict", "the object has been modified");
                }
                st.rv += 1;
                l.metadata.resource_version = Some(st.rv.to_string());
                st.leases.insert(name.to_string(), l.clone());
                (200, to_json(&l))
            }
            ("DELETE", name) => {
                let want = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| {
                        v["preconditions"]["resourceVersion"]
                            .as_str()
                            .map(String::from)
                    });
                let Some(current) = st.leases.get(name) else {
                    return status(404, "NotFound", "not found");
                };
                if want.is_some() && want != current.metadata.resource_version {
                    return status(409, "Conflict", "precondition failed");
                }
                let gone = st.leases.remove(name);
                (200, gone.map(|l| to_json(&l)).unwrap_or_default())
            }
            _ => status(405, "MethodNotAllowed", "unsupported"),
        }
    }

    async fn start(&self) -> Client {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let api = self.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(api.clone().connection(sock));
            }
        });
        let url = format!("http://{addr}").parse().expect("url");
        Client::try_from(kube::Config::new(url)).expect("client")
    }

    /// A keep-alive HTTP/1.1 connection with Content-Length bodies, which is all kube sends.
    async fn connection(self, sock: TcpStream) {
        let (r, mut w) = sock.into_split();
        let mut r = BufReader::new(r);
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let target = parts.next().unwrap_or("").to_string();
            let path = target.split('?').next().unwrap_or("").to_string();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).await.unwrap_or(0) == 0 {
                    return;
                }
                if h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; len];
            if r.read_exact(&mut body).await.is_err() {
                return;
            }
            let (code, json) = self.handle(&method, &path, &body);
            let resp = format!(
                "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{json}",
                json.len()
            );
            if w.write_all(resp.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

fn to_json(l: &Lease) -> String {
    let mut v = serde_json::to_value(l).unwrap_or_default();
    v["apiVersion"] = "coordination.k8s.io/v1".into();
    v["kind"] = "Lease".into();
    v.to_string()
}

fn status(code: u16, reason: &str, message: &str) -> (u16, String) {
    let s = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure",
        "code": code, "reason": reason, "message": message,
    });
    (code, s.to_string())
}

fn cfg(identity: &str) -> LeaseConfig {
    LeaseConfig::new(NS, NAME, identity, FAST)
}

/// Waits (real time, bounded) until the state satisfies `pred`.
async fn wait_for(
    rx: &mut watch::Receiver<LeaderState>,
    what: &str,
    pred: impl Fn(&LeaderState) -> bool,
) {
    let ok = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|s| pred(s)))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(ok, "timed out waiting for {what}, state {:?}", *rx.borrow());
}

fn leading(s: &LeaderState) -> bool {
    matches!(s, LeaderState::Leading { .. })
}

fn spec(l: &Lease) -> LeaseSpec {
    l.spec.clone().unwrap_or_default()
}

#[tokio::test]
async fn one_leader_and_release_hands_over() {
    let api = FakeApi::default();
    let client = api.start().await;

    let a = LeaseHandle::spawn(client.clone(), cfg("node-a")).expect("spawn a");
    let mut a_rx = a.subscribe();
    wait_for(&mut a_rx, "a leading", leading).await;
    let l = api.lease(NAME).expect("lease created");
    assert_eq!(holder_of(&l), Some("node-a"));
    assert_eq!(spec(&l).lease_transitions, Some(0));
    assert_eq!(spec(&l).lease_duration_seconds, Some(1));

    // b polls only every 3-6.6s, so a quick takeover below proves the nudge worked.
    let slow = Timings {
        lease_duration: Duration::from_secs(10),
        renew_deadline: Duration::from_secs(4),
        retry_period: Duration::from_secs(3),
    };
    let b = LeaseHandle::spawn(client.clone(), LeaseConfig::new(NS, NAME, "node-b", slow))
        .expect("spawn b");
    let mut b_rx = b.subscribe();
    wait_for(&mut b_rx, "b following a", |s| {
        *s == LeaderState::Following {
            holder: Some("node-a".into()),
        }
    })
    .await;

    // Renews keep a in charge well past the lease duration.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(a.is_leading());
    assert!(!b.is_leading());
    let renewed = api.lease(NAME).expect("lease");
    assert_eq!(holder_of(&renewed), Some("node-a"));
    assert_ne!(spec(&renewed).renew_time, spec(&l).renew_time);

    a.release().await.expect("release");
    let released = api.lease(NAME).expect("lease");
    assert_eq!(holder_of(&released), None);
    assert_eq!(spec(&released).holder_identity.as_deref(), Some(""));
    assert_eq!(spec(&released).lease_transitions, Some(0));
    assert_eq!(*a_rx.borrow(), LeaderState::Following { holder: None });

    // A released lease is acquirable at once; the nudge skips b's poll interval.
    let t0 = tokio::time::Instant::now();
    b.nudge();
    wait_for(&mut b_rx, "b leading", leading).await;
    assert!(
        t0.elapsed() < Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
    let l = api.lease(NAME).expect("lease");
    assert_eq!(holder_of(&l), Some("node-b"));
    assert_eq!(spec(&l).lease_transitions, Some(1));
    b.release().await.expect("release b");
}

#[tokio::test]
async fn leader_steps_down_at_renew_deadline_and_reclaims_after_outage() {
    let api = FakeApi::default();
    let client = api.start().await;
    let a = LeaseHandle::spawn(client, cfg("node-a")).expect("spawn");
    let mut rx = a.subscribe();
    wait_for(&mut rx, "leading", leading).await;

    api.set_fail(true);
    let LeaderState::Leading { valid_until, .. } = rx.borrow().clone() else {
        panic!("not leading")
    };
    wait_for(&mut rx, "step-down", |s| !leading(s)).await;
    // Fencing: the step-down is published no earlier than the deadline and not much later.
    let late = tokio::time::Instant::now().saturating_duration_since(valid_until);
    assert!(
        late < Duration::from_millis(200),
        "stepped down {late:?} late"
    );
    assert!(!a.is_leading());

    // The lease still names us: once the API is back we reclaim it without a transition.
    api.set_fail(false);
    wait_for(&mut rx, "leading again", leading).await;
    let l = api.lease(NAME).expect("lease");
    assert_eq!(holder_of(&l), Some("node-a"));
    assert_eq!(spec(&l).lease_transitions, Some(0));
    a.release().await.expect("release");
}

#[tokio::test]
async fn a_lease_taken_by_someone_else_is_noticed_on_renew() {
    let api = FakeApi::default();
    let client = api.start().await;
    let a = LeaseHandle::spawn(client, cfg("node-a")).expect("spawn");
    let mut rx = a.subscribe();
    wait_for(&mut rx, "leading", leading).await;

    let mut stolen = api.lease(NAME).expect("lease");
    if let Some(s) = stolen.spec.as_mut() {
        s.holder_identity = Some("intruder".into());
    }
    api.put(stolen);
    wait_for(&mut rx, "following the intruder", |s| {
        *s == LeaderState::Following {
            holder: Some("intruder".into()),
        }
    })
    .await;

    // Not ours, so release writes nothing.
    a.release().await.expect("release");
    assert_eq!(
        holder_of(&api.lease(NAME).expect("lease")),
        Some("intruder")
    );
}

#[tokio::test]
async fn dropping_the_handle_releases_and_gc_deletes() {
    let api = FakeApi::default();
    let client = api.start().await;
    let a = LeaseHandle::spawn(client.clone(), cfg("node-a")).expect("spawn");
    let mut rx = a.subscribe();
    wait_for(&mut rx, "leading", leading).await;
    drop(a);
    let released = async {
        loop {
            if api.lease(NAME).is_some_and(|l| holder_of(&l).is_none()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(2), released)
        .await
        .expect("released after drop");

    // A held lease and one without the prefix survive GC.
    let mut held = api.lease(NAME).expect("lease");
    held.metadata.name = Some("cilium-l2announce-default-db".into());
    if let Some(s) = held.spec.as_mut() {
        s.holder_identity = Some("node-b".into());
    }
    api.put(held.clone());
    held.metadata.name = Some("unrelated".into());
    if let Some(s) = held.spec.as_mut() {
        s.holder_identity = None;
    }
    api.put(held);

    let leases: kube::Api<Lease> = kube::Api::namespaced(client, NS);
    let report = gc_once(&leases, "cilium-l2announce").await.expect("gc");
    assert_eq!(report.deleted, [NAME]);
    assert!(api.lease(NAME).is_none());
    assert!(api.lease("cilium-l2announce-default-db").is_some());
    assert!(api.lease("unrelated").is_some());
}

#[tokio::test]
async fn spawn_rejects_bad_config() {
    let api = FakeApi::default();
    let client = api.start().await;
    assert!(LeaseHandle::spawn(client.clone(), cfg("")).is_err());
    let mut c = cfg("node-a");
    c.timings.renew_deadline = c.timings.lease_duration;
    assert!(LeaseHandle::spawn(client, c).is_err());
    assert!(api.lock().requests.is_empty());
}
