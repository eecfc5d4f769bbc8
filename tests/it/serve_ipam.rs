//! `lbctl serve --ipam` as a child process against the lab: the article's flow, restart without
//! writes, two replicas, bad input, watch restarts and write faults.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams, PostParams};
use lbctl::lab::{Fault, Lab, Scenario};
use lbctl::model::names;
use lbctl::model::pool::{v2, v2alpha1, IpBlock};
use serde_json::json;

use crate::support::LabWithConfig;

/// A running `lbctl serve`, killed on drop.
struct Serve {
    child: Child,
    metrics: String,
    /// Holds this serve's debug socket: never the default path another serve may be using.
    _dir: tempfile::TempDir,
}

impl Serve {
    fn start(kubeconfig: &Path, node: &str, extra: &[&str]) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lbctl"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args([
                "serve",
                "--no-announce",
                "--node-name",
                node,
                "--metrics-addr",
                "127.0.0.1:0",
                "--lease-duration",
                "2s",
                "--renew-deadline",
                "1500ms",
                "--retry-period",
                "200ms",
            ])
            .arg("--debug-socket")
            .arg(dir.path().join("debug.sock"))
            .args(extra)
            .env("NO_COLOR", "1")
            .env("LBCTL_LOG", "lbctl=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("lbctl serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut metrics = String::new();
        for line in lines.by_ref() {
            let line = line.expect("stdout line");
            if let Some(url) = line.strip_prefix("metrics on ") {
                metrics = url.trim().to_owned();
                break;
            }
        }
        assert!(!metrics.is_empty(), "serve printed its metrics address");
        // Keep draining so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Serve {
            child,
            metrics,
            _dir: dir,
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        let url = self.metrics.replace("/metrics", path);
        let out = Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}", &url])
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }

    fn wait_ready(&self, within: Duration) -> Duration {
        let t0 = Instant::now();
        while t0.elapsed() < within {
            if self.get("/readyz").0 == 200 {
                return t0.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("serve not ready within {within:?}");
    }

    fn metric(&self, name: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Polls `f` until it returns `Some`, or panics with `what`.
async fn eventually<T, F, Fut>(what: &str, within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let t0 = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if t0.elapsed() > within {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn ingress(s: &Service) -> Vec<String> {
    s.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_ref())
        .map(|i| i.iter().filter_map(|i| i.ip.clone()).collect())
        .unwrap_or_default()
}

/// (status, reason, message, observedGeneration) of our condition; panics on duplicates.
fn condition(s: &Service) -> Option<(String, String, String, Option<i64>)> {
    let conds: Vec<_> = s
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.type_ == names::SVC_SATISFIED_CONDITION)
        .collect();
    assert!(conds.len() <= 1, "one condition per type: {conds:?}");
    conds.first().map(|c| {
        (
            c.status.clone(),
            c.reason.clone(),
            c.message.clone(),
            c.observed_generation,
        )
    })
}

fn block(start: &str, stop: Option<&str>) -> IpBlock {
    IpBlock {
        cidr: None,
        start: Some(start.into()),
        stop: stop.map(Into::into),
    }
}

fn cidr(c: &str) -> IpBlock {
    IpBlock {
        cidr: Some(c.into()),
        ..IpBlock::default()
    }
}

async fn create_pool(client: &kube::Client, name: &str, blocks: Vec<IpBlock>) {
    let api: Api<v2::CiliumLoadBalancerIPPool> = Api::all(client.clone());
    let pool = v2::CiliumLoadBalancerIPPool::new(
        name,
        v2::CiliumLoadBalancerIPPoolSpec {
            blocks: Some(blocks),
            ..Default::default()
        },
    );
    api.create(&PostParams::default(), &pool)
        .await
        .expect("pool created");
}

fn lb_service(ns: &str, name: &str, port: i32) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "LoadBalancer", "selector": {"app": name},
                 "ports": [{"port": port, "protocol": "TCP"}]},
    }))
    .unwrap()
}

/// Status writes seen by the lab (lease traffic excluded).
fn status_writes(lab: &Lab) -> Vec<lbctl::lab::RequestRecord> {
    lab.requests()
        .into_iter()
        .filter(|r| r.is_write() && !r.path.contains("/leases"))
        .collect()
}

#[test]
fn article_flow_pool_annotation_conflict_and_type_change() {
    let env = LabWithConfig::new(&["demo"]);
    let _serve = Serve::start(&env.kubeconfig(), "node-a", &[]);
    let rt = rt();
    let client = rt.block_on(async { env.lab.client().unwrap() });
    rt.block_on(async {
        let svcs: Api<Service> = Api::namespaced(client.clone(), "demo");
        // Dormant without a pool: no condition, no IP.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let s = svcs.get("demo-web").await.unwrap();
        assert!(ingress(&s).is_empty() && condition(&s).is_none());

        create_pool(
            &client,
            "lan-vips",
            vec![block("192.168.111.200", Some("192.168.111.250"))],
        )
        .await;
        let s = eventually("demo-web gets an IP", Duration::from_secs(20), || async {
            let s = svcs.get("demo-web").await.ok()?;
            (!ingress(&s).is_empty()).then_some(s)
        })
        .await;
        assert_eq!(ingress(&s), vec!["192.168.111.200"]);
        // A Service has no metadata.generation, so the condition carries no observedGeneration.
        assert_eq!(s.metadata.generation, None);
        assert_eq!(
            condition(&s),
            Some(("True".into(), "satisfied".into(), String::new(), None))
        );
        let pools: Api<v2::CiliumLoadBalancerIPPool> = Api::all(client.clone());
        let counts = eventually("pool counts", Duration::from_secs(10), || async {
            let p = pools.get("lan-vips").await.ok()?;
            let conds = p.status?.conditions?;
            let get = |t: &str| {
                conds
                    .iter()
                    .find(|c| c.type_ == t)
                    .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
            };
            let used = get(names::POOL_IPS_USED)?;
            (used.2 == "1").then(|| {
                (
                    get(names::POOL_IPS_TOTAL),
                    get(names::POOL_IPS_AVAILABLE),
                    used,
                    get(names::POOL_CONFLICT),
                )
            })
        })
        .await;
        assert_eq!(
            counts,
            (
                Some(("Unknown".into(), "noreason".into(), "51".into())),
                Some(("Unknown".into(), "noreason".into(), "50".into())),
                ("Unknown".into(), "noreason".into(), "1".into()),
                Some(("False".into(), "resolved".into(), String::new())),
            )
        );

        // Pin 192.168.111.11: outside every pool → no_pool with Cilium's message.
        let pp = PatchParams::default();
        svcs.patch(
            "demo-web",
            &pp,
            &Patch::Merge(json!({"metadata": {"annotations": {names::ANNOTATION_IPS: "192.168.111.11"}}})),
        )
        .await
        .unwrap();
        let s = eventually("no_pool", Duration::from_secs(10), || async {
            let s = svcs.get("demo-web").await.ok()?;
            (condition(&s)?.1 == "no_pool").then_some(s)
        })
        .await;
        assert_eq!(
            condition(&s).unwrap().2,
            "No pool exists with a CIDR containing '192.168.111.11'"
        );
        assert!(ingress(&s).is_empty(), "the old IP is released");

        create_pool(
            &client,
            "lan-low",
            vec![block("192.168.111.10", Some("192.168.111.19"))],
        )
        .await;
        let s = eventually("pinned IP", Duration::from_secs(10), || async {
            let s = svcs.get("demo-web").await.ok()?;
            (ingress(&s) == vec!["192.168.111.11"]).then_some(s)
        })
        .await;
        assert_eq!(condition(&s).unwrap().1, "satisfied");

        // An overlapping pool: marked conflicting with Cilium's message.
        tokio::time::sleep(Duration::from_millis(1100)).await; // a strictly newer timestamp
        create_pool(&client, "overlap", vec![cidr("192.168.111.192/27")]).await;
        let conflict = eventually("conflict", Duration::from_secs(10), || async {
            let p = pools.get("overlap").await.ok()?;
            let c = p
                .status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == names::POOL_CONFLICT)?;
            (c.status == "True").then_some(c)
        })
        .await;
        assert_eq!(conflict.reason, "cidr_overlap");
        assert_eq!(
            conflict.message,
            "Pool conflicts since range '192.168.111.192 - 192.168.111.223' overlaps range '192.168.111.200 - 192.168.111.250' from IP Pool 'lan-vips'"
        );

        // Type change away from LoadBalancer: IP released, condition removed.
        svcs.patch(
            "demo-web",
            &pp,
            &Patch::Merge(json!({"spec": {"type": "NodePort"}})),
        )
        .await
        .unwrap();
        let s = eventually("cleanup", Duration::from_secs(10), || async {
            let s = svcs.get("demo-web").await.ok()?;
            (condition(&s).is_none()).then_some(s)
        })
        .await;
        assert!(ingress(&s).is_empty());
        // The freed address is handed out again.
        svcs.create(&PostParams::default(), &{
            let mut s = lb_service("demo", "again", 80);
            s.metadata.annotations = Some(BTreeMap::from([(
                names::ANNOTATION_IPS.to_owned(),
                "192.168.111.11".to_owned(),
            )]));
            s
        })
        .await
        .unwrap();
        eventually("freed IP reused", Duration::from_secs(10), || async {
            let s = svcs.get("again").await.ok()?;
            (ingress(&s) == vec!["192.168.111.11"]).then_some(())
        })
        .await;
    });
    // serve writes only through the status subresource, always with its field manager (the
    // test's own edits carry no field manager).
    let writes = status_writes(&env.lab);
    let ours: Vec<_> = writes
        .iter()
        .filter(|r| r.query.contains("fieldManager=lbctl"))
        .collect();
    assert!(ours.len() >= 6, "{ours:?}");
    for r in &ours {
        assert!(r.path.ends_with("/status") && r.verb() == "patch", "{r:?}");
    }
    for r in writes.iter().filter(|r| r.path.ends_with("/status")) {
        assert!(r.query.contains("fieldManager=lbctl"), "{r:?}");
    }
}

#[test]
fn restart_with_1000_satisfied_services_writes_nothing() {
    let env = LabWithConfig::new(&["demo"]);
    let rt = rt();
    let client = rt.block_on(async { env.lab.client().unwrap() });
    let n = 1000;
    let mut first = Serve::start(&env.kubeconfig(), "node-a", &[]);
    let deleted = 100;
    let before = rt.block_on(async {
        create_pool(&client, "big", vec![cidr("10.20.0.0/20")]).await;
        let svcs: Api<Service> = Api::namespaced(client.clone(), "demo");
        // Created in a scrambled order while serve runs, then every tenth deleted: the
        // allocation history cannot be replayed by allocating in name order, so only a real
        // import keeps the IPs.
        for i in 0..n {
            let j = (i * 7919) % n;
            svcs.create(
                &PostParams::default(),
                &lb_service("demo", &format!("s{j}"), 80),
            )
            .await
            .unwrap();
        }
        for j in (0..n).step_by(10) {
            svcs.delete(&format!("s{j}"), &Default::default())
                .await
                .unwrap();
        }
        // A sharing group and a pinned address must survive the restart as well.
        for (name, port, ann) in [
            ("shared-a", 81, (names::ANNOTATION_SHARING_KEY, "k")),
            ("shared-b", 82, (names::ANNOTATION_SHARING_KEY_LEGACY, "k")),
            ("pinned", 83, (names::ANNOTATION_IPS, "10.20.15.250")),
        ] {
            let mut s = lb_service("demo", name, port);
            s.metadata.annotations = Some(BTreeMap::from([(ann.0.to_owned(), ann.1.to_owned())]));
            svcs.create(&PostParams::default(), &s).await.unwrap();
        }
        eventually("all satisfied", Duration::from_secs(60), || async {
            let list = svcs.list(&Default::default()).await.ok()?;
            let m: BTreeMap<String, Vec<String>> = list
                .items
                .iter()
                .map(|s| (s.metadata.name.clone().unwrap(), ingress(s)))
                .collect();
            let done = list
                .items
                .iter()
                .filter(|s| condition(s).is_some_and(|c| c.1 == "satisfied"))
                .count();
            (done == n + 4 - deleted).then_some(m)
        })
        .await
    });
    let n = n - deleted;
    let distinct: std::collections::BTreeSet<&Vec<String>> = before.values().collect();
    assert_eq!(
        distinct.len(),
        n + 3,
        "one IP per Service, except the shared pair"
    );
    assert_eq!(before["shared-a"], before["shared-b"]);
    assert_eq!(before["pinned"], vec!["10.20.15.250"]);
    // One status write per allocation, no more: every surviving Service exactly one, a deleted one
    // at most one (serve may not have reached it before the test deleted it).
    let mut per_service: BTreeMap<String, usize> = BTreeMap::new();
    for r in status_writes(&env.lab) {
        if let Some(name) = r
            .path
            .strip_suffix("/status")
            .and_then(|p| p.rsplit_once("/services/"))
            .map(|(_, name)| name.to_owned())
        {
            *per_service.entry(name).or_default() += 1;
        }
    }
    for name in before.keys() {
        assert_eq!(per_service.get(name), Some(&1), "status writes for {name}");
    }
    assert!(
        per_service.values().all(|c| *c == 1),
        "a Service written twice: {:?}",
        per_service
            .iter()
            .filter(|(_, c)| **c > 1)
            .collect::<Vec<_>>()
    );
    assert!(first.alive());
    // SIGKILL: no chance to release the lease or write anything on the way out.
    drop(first);
    env.lab.clear_requests();

    let t0 = Instant::now();
    let second = Serve::start(&env.kubeconfig(), "node-a", &[]);
    second.wait_ready(Duration::from_secs(30));
    while second.metric("lbctl_lbipam_leader") != Some(1.0) {
        assert!(t0.elapsed() < Duration::from_secs(30), "never led");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ready = t0.elapsed();
    // Anything a leader would write is sent within its first pass; give stragglers time.
    std::thread::sleep(Duration::from_millis(500));
    let writes = status_writes(&env.lab);
    assert!(
        writes.is_empty(),
        "restart wrote: {:?}",
        &writes[..writes.len().min(5)]
    );
    let after = rt.block_on(async {
        let svcs: Api<Service> = Api::namespaced(client.clone(), "demo");
        let list = svcs.list(&Default::default()).await.unwrap();
        list.items
            .iter()
            .map(|s| (s.metadata.name.clone().unwrap(), ingress(s)))
            .collect::<BTreeMap<_, _>>()
    });
    assert_eq!(before, after, "no IP changed");
    eprintln!("restart with {n} satisfied Services: ready in {ready:?}");
}

/// Each allocation is one status write: what serve wrote must read back as equal, although the
/// server drops a zero `observedGeneration` and keeps whole seconds of `lastTransitionTime`.
#[test]
fn one_status_write_per_allocation() {
    let env = LabWithConfig::new(&["demo"]);
    let _serve = Serve::start(&env.kubeconfig(), "node-a", &[]);
    let rt = rt();
    let client = rt.block_on(async { env.lab.client().unwrap() });
    let n = 5;
    rt.block_on(async {
        create_pool(&client, "few", vec![cidr("10.30.0.0/24")]).await;
        let svcs: Api<Service> = Api::namespaced(client.clone(), "demo");
        for i in 0..n {
            svcs.create(
                &PostParams::default(),
                &lb_service("demo", &format!("once-{i}"), 80),
            )
            .await
            .unwrap();
        }
        let list = eventually("all satisfied", Duration::from_secs(20), || async {
            let list = svcs.list(&Default::default()).await.ok()?;
            let done: Vec<Service> = list
                .items
                .into_iter()
                .filter(|s| {
                    s.metadata
                        .name
                        .as_deref()
                        .unwrap_or("")
                        .starts_with("once-")
                })
                .filter(|s| condition(s).is_some_and(|c| c.1 == "satisfied"))
                .collect();
            (done.len() == n).then_some(done)
        })
        .await;
        for s in &list {
            assert_eq!(s.metadata.generation, None);
            assert_eq!(condition(s).unwrap().3, None, "no observedGeneration");
        }
    });
    // A second write would follow the echo of the first within one reconcile pass.
    std::thread::sleep(Duration::from_millis(1500));
    let writes = status_writes(&env.lab);
    for i in 0..n {
        let path = format!("/services/once-{i}/status");
        let count = writes.iter().filter(|r| r.path.ends_with(&path)).count();
        assert_eq!(count, 1, "status writes for once-{i}");
    }
}

#[test]
fn two_replicas_only_the_leader_writes() {
    let env = LabWithConfig::new(&["demo"]);
    let rt = rt();
    let client = rt.block_on(async { env.lab.client().unwrap() });
    let mut a = Serve::start(
        &env.kubeconfig(),
        "node-a",
        &["--field-manager", "fm-node-a"],
    );
    let mut b = Serve::start(
        &env.kubeconfig(),
        "node-b",
        &["--field-manager", "fm-node-b"],
    );
    rt.block_on(async {
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
        let holder = eventually("a lease holder", Duration::from_secs(10), || async {
            leases
                .get(names::LBCTL_IPAM_LEASE)
                .await
                .ok()?
                .spec?
                .holder_identity
        })
        .await;
        create_pool(&client, "lan-vips", vec![cidr("10.30.0.0/24")]).await;
        let svcs: Api<Service> = Api::namespaced(client.clone(), "demo");
        for i in 0..20 {
            svcs.create(
                &PostParams::default(),
                &lb_service("demo", &format!("r{i}"), 80),
            )
            .await
            .unwrap();
        }
        eventually("all satisfied", Duration::from_secs(20), || async {
            let list = svcs.list(&Default::default()).await.ok()?;
            list.items
                .iter()
                .all(|s| condition(s).is_some_and(|c| c.1 == "satisfied"))
                .then_some(())
        })
        .await;
        let writes = status_writes(&env.lab);
        let status: Vec<_> = writes
            .iter()
            .filter(|r| r.path.ends_with("/status"))
            .collect();
        assert!(!status.is_empty());
        let fm = format!("fieldManager=fm-{holder}");
        for w in &status {
            assert!(
                w.query.contains(&fm),
                "a non-leader wrote: {w:?} (leader {holder})"
            );
        }
        // The leader steps down on SIGTERM; the standby takes over and serves new Services.
        let (leader, standby) = if holder == "node-a" {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        leader.terminate();
        let other = if holder == "node-a" {
            "node-b"
        } else {
            "node-a"
        };
        eventually("standby leads", Duration::from_secs(10), || async {
            let h = leases
                .get(names::LBCTL_IPAM_LEASE)
                .await
                .ok()?
                .spec?
                .holder_identity?;
            (h == other).then_some(())
        })
        .await;
        svcs.create(&PostParams::default(), &lb_service("demo", "late", 80))
            .await
            .unwrap();
        let s = eventually("standby serves", Duration::from_secs(10), || async {
            let s = svcs.get("late").await.ok()?;
            (!ingress(&s).is_empty()).then_some(s)
        })
        .await;
        let all: std::collections::BTreeSet<Vec<String>> = svcs
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(ingress)
            .collect();
        assert_eq!(all.len(), 21 + 1, "no duplicate IP after failover");
        assert!(standby.alive());
        let _ = s;
    });
}

#[test]
fn bad_input_keeps_serving_valid_pools() {
    let env = LabWithConfig::new(&["demo"]);
    let rt = rt();
    let client = rt.block_on(async { env.lab.client().unwrap() });
    let mut serve = Serve::start(&env.kubeconfig(), "node-a", &[]);
    rt.block_on(async {
        // What the API server's schema lets through; bad CIDR syntax and unknown selector
        // operators are refused by the schema itself (and covered by unit tests).
        let bad_blocks: Vec<Vec<IpBlock>> = vec![
            vec![block("10.0.0.9", Some("10.0.0.1"))],
            vec![block("10.0.0.1", Some("fd00::1"))],
            vec![block("not-an-ip", None)],
            vec![block("10.0.0.1", Some("10.0.0.300"))],
            vec![IpBlock::default()],
            vec![block("", Some("10.0.0.5"))],
        ];
        for (i, b) in bad_blocks.into_iter().enumerate() {
            create_pool(&client, &format!("bad-{i}"), b).await;
        }
        let api: Api<v2::CiliumLoadBalancerIPPool> = Api::all(client.clone());
        let bad_selectors = [
            json!({"matchExpressions": [{"key": "k", "operator": "In"}]}),
            json!({"matchExpressions": [{"key": "k", "operator": "Exists", "values": ["v"]}]}),
            json!({"matchLabels": {"bad key!": "v"}}),
            json!({"matchLabels": {"k": "bad value!"}}),
        ];
        for (i, sel) in bad_selectors.into_iter().enumerate() {
            let pool: v2::CiliumLoadBalancerIPPool = serde_json::from_value(json!({
                "apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool",
                "metadata": {"name": format!("badsel-{i}")},
                "spec": {"serviceSelector": sel, "blocks": [{"cidr": format!("10.99.{i}.0/24")}]},
            }))
            .unwrap();
            api.create(&PostParams::default(), &pool).await.unwrap();
        }
        create_pool(&client, "good", vec![cidr("10.40.0.0/28")]).await;
        let svcs: Api<Service> = Api::namespaced(client.clone(), "demo");
        let weird = [
            ("ann-garbage", json!({names::ANNOTATION_IPS: "not-an-ip, 10.40.0.300,,"})),
            ("ann-legacy", json!({names::ANNOTATION_IPS_LEGACY: "10.40.0.5"})),
            ("share-junk", json!({names::ANNOTATION_SHARING_KEY: "", names::ANNOTATION_SHARING_CROSS_NS: ",,*,"})),
        ];
        for (name, ann) in weird {
            let mut s = lb_service("demo", name, 80);
            s.metadata.annotations = serde_json::from_value(ann).unwrap();
            svcs.create(&PostParams::default(), &s).await.unwrap();
        }
        let mut s = lb_service("demo", "lbip-garbage", 80);
        s.spec.as_mut().unwrap().load_balancer_ip = Some("garbage".into());
        svcs.create(&PostParams::default(), &s).await.unwrap();

        for (name, want) in [
            ("demo-web", None),
            ("ann-garbage", None),
            ("ann-legacy", Some("10.40.0.5")),
            ("share-junk", None),
            ("lbip-garbage", None),
        ] {
            let s = eventually(name, Duration::from_secs(20), || async {
                let s = svcs.get(name).await.ok()?;
                (condition(&s)?.1 == "satisfied").then_some(s)
            })
            .await;
            let ips = ingress(&s);
            assert_eq!(ips.len(), 1, "{name}: {ips:?}");
            assert!(ips[0].starts_with("10.40.0."), "{name} from the good pool: {ips:?}");
            if let Some(w) = want {
                assert_eq!(ips[0], w);
            }
        }
        // Invalid pools get no status (as in Cilium) and are counted.
        for i in 0..6 {
            let p = api.get(&format!("bad-{i}")).await.unwrap();
            assert!(p.status.and_then(|s| s.conditions).is_none());
        }
    });
    assert!(serve.alive(), "serve survived bad input");
    assert_eq!(serve.metric("lbctl_lbipam_invalid_pools"), Some(10.0));
}

#[test]
fn survives_410_cut_watches_and_write_faults() {
    let env = LabWithConfig::new(&["demo"]);
    let rt = rt();
    let client = rt.block_on(async { env.lab.client().unwrap() });
    let mut serve = Serve::start(&env.kubeconfig(), "node-a", &[]);
    rt.block_on(async {
        create_pool(&client, "lan-vips", vec![cidr("10.50.0.0/24")]).await;
        let svcs: Api<Service> = Api::namespaced(client.clone(), "demo");
        eventually("demo-web", Duration::from_secs(20), || async {
            (!ingress(&svcs.get("demo-web").await.ok()?).is_empty()).then_some(())
        })
        .await;
        env.lab.expire_resource_versions();
        env.lab.cut_watches();
        // The next two status writes fail: a 500 then a 409.
        env.lab.inject(Fault {
            method: Some("PATCH".into()),
            path_contains: "/services/after-cut/status".into(),
            status: Some(500),
            count: 1,
            ..Fault::default()
        });
        env.lab.inject(Fault {
            method: Some("PATCH".into()),
            path_contains: "/services/after-cut/status".into(),
            status: Some(409),
            count: 1,
            ..Fault::default()
        });
        svcs.create(&PostParams::default(), &lb_service("demo", "after-cut", 81))
            .await
            .unwrap();
        let s = eventually("after-cut", Duration::from_secs(20), || async {
            let s = svcs.get("after-cut").await.ok()?;
            (!ingress(&s).is_empty()).then_some(s)
        })
        .await;
        assert_eq!(ingress(&s), vec!["10.50.0.1"]);
        // A Service deleted around a watch restart (event or relist, whichever comes): its
        // IP is free again.
        env.lab.cut_watches();
        svcs.delete("demo-web", &Default::default()).await.unwrap();
        env.lab.expire_resource_versions();
        svcs.create(&PostParams::default(), &lb_service("demo", "reuse", 82))
            .await
            .unwrap();
        let s = eventually("reuse", Duration::from_secs(20), || async {
            let s = svcs.get("reuse").await.ok()?;
            (!ingress(&s).is_empty()).then_some(s)
        })
        .await;
        assert_eq!(ingress(&s), vec!["10.50.0.0"]);
    });
    assert!(serve.alive());
    assert!(
        serve
            .metric("lbctl_lbipam_status_write_errors_total")
            .unwrap_or(0.0)
            >= 2.0
    );
}

#[test]
fn falls_back_to_v2alpha1_pools() {
    let text = "apiVersion: lab.lbctl.io/v1\nkind: Include\nmetadata:\n  name: cilium-crds-v2alpha1\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: old\n";
    let lab = Lab::start(
        "127.0.0.1:0".parse().unwrap(),
        &[Scenario::parse("old", text).unwrap()],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    lab.write_kubeconfig(&kc).unwrap();
    let _serve = Serve::start(&kc, "node-a", &[]);
    let rt = rt();
    let client = rt.block_on(async { lab.client().unwrap() });
    rt.block_on(async {
        let api: Api<v2alpha1::CiliumLoadBalancerIPPool> = Api::all(client.clone());
        let pool = v2alpha1::CiliumLoadBalancerIPPool::new(
            "legacy",
            v2alpha1::CiliumLoadBalancerIPPoolSpec {
                cidrs: Some(vec![cidr("10.60.0.0/30")]),
                allow_first_last_ips: Some(lbctl::model::pool::AllowFirstLastIps::No),
                ..Default::default()
            },
        );
        api.create(&PostParams::default(), &pool).await.unwrap();
        let svcs: Api<Service> = Api::namespaced(client.clone(), "old");
        svcs.create(&PostParams::default(), &lb_service("old", "svc", 80))
            .await
            .unwrap();
        let s = eventually("v2alpha1 pool serves", Duration::from_secs(20), || async {
            let s = svcs.get("svc").await.ok()?;
            (!ingress(&s).is_empty()).then_some(s)
        })
        .await;
        // allowFirstLastIPs: No reserves .0 and .3 of the /30.
        assert_eq!(ingress(&s), vec!["10.60.0.1"]);
        let p = eventually("pool status", Duration::from_secs(10), || async {
            let p = api.get("legacy").await.ok()?;
            let used = p
                .status
                .clone()?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == names::POOL_IPS_USED)?;
            (used.message == "3").then_some(p)
        })
        .await;
        assert!(p.status.is_some());
    });
}

#[test]
fn unusable_flag_combinations_exit_2() {
    use crate::support::{lbctl, stderr, stdout};
    for (args, needle) in [
        (&["serve", "--no-ipam"][..], "nothing to serve"),
        (
            &["serve", "--no-ipam", "--no-announce"][..],
            "nothing to serve",
        ),
        (&["serve", "--lease-duration", "soon"][..], "not a duration"),
        // Cilium's sanitising: a renew deadline not below the duration is halved, with a warning
        // (the missing kubeconfig then makes it a usage error).
        (
            &[
                "serve",
                "--kubeconfig",
                "/nonexistent/kubeconfig",
                "--lease-duration",
                "1s",
                "--renew-deadline",
                "2s",
            ][..],
            "warning: ",
        ),
    ] {
        let out = lbctl(None, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
    }
}

/// Waits until `/readyz` answers `code` (polled every 50 ms), or panics.
fn wait_readyz(serve: &Serve, code: u16, within: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let (got, body) = serve.get("/readyz");
        if got == code {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < within,
            "/readyz still {got} {body:?} after {within:?}, want {code}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn recovers_after_the_api_connection_hangs() {
    use crate::stall::{write_kubeconfig, Proxy};
    let lab = crate::support::lab(&["demo"]);
    let proxy = Proxy::start(lab.addr());
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    write_kubeconfig(&kc, proxy.addr);
    let mut serve = Serve::start(&kc, "node-a", &["--request-timeout", "2s"]);
    let rt = rt();
    let client = rt.block_on(async { lab.client().unwrap() });
    let svcs: Api<Service> = Api::namespaced(client.clone(), "demo");
    rt.block_on(async {
        create_pool(&client, "lan-vips", vec![cidr("10.50.0.0/24")]).await;
        eventually("demo-web", Duration::from_secs(20), || async {
            (!ingress(&svcs.get("demo-web").await.ok()?).is_empty()).then_some(())
        })
        .await;
    });
    serve.wait_ready(Duration::from_secs(10));
    assert_eq!(serve.metric("lbctl_lbipam_leader"), Some(1.0));

    // Every connection through the proxy goes silent, and stays so for good.
    proxy.freeze();
    rt.block_on(async {
        svcs.create(
            &PostParams::default(),
            &lb_service("demo", "during-hang", 81),
        )
        .await
        .unwrap();
    });
    let noticed = wait_readyz(&serve, 503, Duration::from_secs(15));
    // The lease cannot be renewed through a silent proxy: the gauge must say so.
    let t0 = Instant::now();
    while serve.metric("lbctl_lbipam_leader") != Some(0.0) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "leader gauge still 1 while the API is unreachable"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, body) = serve.get("/readyz");
    assert!(body.contains("unreachable"), "{body}");
    std::thread::sleep(Duration::from_secs(3));
    proxy.thaw();

    // New connections work; the hung ones must be given up and the watches re-established.
    let t0 = Instant::now();
    rt.block_on(async {
        let s = eventually("during-hang", Duration::from_secs(30), || async {
            let s = svcs.get("during-hang").await.ok()?;
            (!ingress(&s).is_empty()).then_some(s)
        })
        .await;
        assert_eq!(ingress(&s), vec!["10.50.0.1"]);
    });
    let recovered = t0.elapsed();
    wait_readyz(&serve, 200, Duration::from_secs(15));
    assert!(serve.alive());
    eprintln!("hang noticed by /readyz in {noticed:?}; served {recovered:?} after the thaw");
}

#[test]
fn waits_for_an_api_server_that_is_not_listening_yet() {
    // A free port now; the lab binds it a little later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    crate::stall::write_kubeconfig(&kc, addr);
    let mut serve = Serve::start(&kc, "node-a", &["--request-timeout", "2s"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(serve.alive(), "serve gave up on an API server not up yet");
    assert_eq!(serve.get("/readyz").0, 503);
    let lab = Lab::start(addr, &[Scenario::load("demo").unwrap()]).expect("lab binds the port");
    let rt = rt();
    let client = rt.block_on(async { lab.client().unwrap() });
    rt.block_on(async {
        create_pool(&client, "lan-vips", vec![cidr("10.50.0.0/24")]).await;
        let svcs: Api<Service> = Api::namespaced(client.clone(), "demo");
        eventually("demo-web", Duration::from_secs(30), || async {
            (!ingress(&svcs.get("demo-web").await.ok()?).is_empty()).then_some(())
        })
        .await;
    });
    wait_readyz(&serve, 200, Duration::from_secs(10));
    assert!(serve.alive());
}

#[test]
fn retries_a_500_on_the_first_list() {
    let env = LabWithConfig::new(&["demo"]);
    env.lab.inject(Fault {
        method: Some("GET".into()),
        path_contains: "ciliumloadbalancerippools".into(),
        status: Some(500),
        count: 3,
        ..Fault::default()
    });
    let mut serve = Serve::start(&env.kubeconfig(), "node-a", &[]);
    let rt = rt();
    let client = rt.block_on(async { env.lab.client().unwrap() });
    rt.block_on(async {
        create_pool(&client, "lan-vips", vec![cidr("10.50.0.0/24")]).await;
        let svcs: Api<Service> = Api::namespaced(client.clone(), "demo");
        eventually("demo-web", Duration::from_secs(30), || async {
            (!ingress(&svcs.get("demo-web").await.ok()?).is_empty()).then_some(())
        })
        .await;
    });
    assert!(serve.alive(), "serve exited on a transient 500");
    let failed = env
        .lab
        .requests()
        .iter()
        .filter(|r| r.path.contains("ciliumloadbalancerippools") && r.status == 500)
        .count();
    assert_eq!(failed, 3, "the three faults were served");
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn idle_connections_to_the_metrics_port_cannot_starve_it() {
    let env = LabWithConfig::new(&["demo"]);
    let mut serve = Serve::start(&env.kubeconfig(), "node-a", &[]);
    serve.wait_ready(Duration::from_secs(10));
    let pid = serve.child.id();
    let before = open_fds(pid);
    let addr: std::net::SocketAddr = serve
        .metrics
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .parse()
        .unwrap();
    // Half-open clients: connect, send nothing (or half a request line), never read.
    let mut idle = Vec::new();
    for i in 0..1100 {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        if i % 2 == 0 {
            use std::io::Write;
            let _ = s.write_all(b"GET /metr");
        }
        idle.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    let (code, body) = serve.get("/healthz");
    let took = t0.elapsed();
    assert_eq!(
        (code, body.as_str()),
        (200, "ok"),
        "healthz during the flood"
    );
    assert!(took < Duration::from_secs(3), "healthz took {took:?}");
    let during = open_fds(pid);
    assert!(
        during <= before + 64 + 8,
        "serve holds {during} descriptors (was {before}) with 1100 idle clients"
    );
    // And the engine keeps working.
    let rt = rt();
    let client = rt.block_on(async { env.lab.client().unwrap() });
    rt.block_on(async {
        create_pool(&client, "lan-vips", vec![cidr("10.50.0.0/24")]).await;
        let svcs: Api<Service> = Api::namespaced(client.clone(), "demo");
        eventually("demo-web", Duration::from_secs(20), || async {
            (!ingress(&svcs.get("demo-web").await.ok()?).is_empty()).then_some(())
        })
        .await;
    });
    assert!(serve.alive());
    drop(idle);
    eprintln!("descriptors: {before} before, {during} with 1100 idle clients; healthz in {took:?}");
}

/// Series names written in `docs/serve-*.md`: every `lbctl_lbipam_…` and `lbctl_l2_…` token.
fn documented_series() -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for doc in ["docs/serve-ipam.md", "docs/serve-announce.md"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(doc);
        let text = std::fs::read_to_string(path).unwrap();
        out.extend(
            text.split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .filter(|t| t.starts_with("lbctl_lbipam_") || t.starts_with("lbctl_l2_"))
                .map(str::to_owned),
        );
    }
    out
}

#[test]
fn metrics_match_the_documented_series_both_ways() {
    let env = LabWithConfig::new(&["demo"]);
    // Both engines, so both register their families (no policy: the announcer selects nothing).
    let serve = Serve::start(&env.kubeconfig(), "node-a", &["--announce"]);
    let t0 = Instant::now();
    while serve.metric("lbctl_lbipam_leader") != Some(1.0) {
        assert!(t0.elapsed() < Duration::from_secs(30), "never led");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, body) = serve.get("/metrics");
    assert_eq!(code, 200);
    let served: std::collections::BTreeSet<String> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .map(str::to_owned)
        .collect();
    assert_eq!(
        documented_series(),
        served,
        "docs/serve-ipam.md and docs/serve-announce.md against /metrics"
    );
    // The leader's passes so far are in the histogram, and so are the announcer's recomputes
    // (its watches' first lists make it compute once, selecting nothing).
    assert!(serve.metric("lbctl_lbipam_reconcile_duration_seconds_count") >= Some(1.0));
    while serve.metric("lbctl_l2_recompute_duration_seconds_count") < Some(1.0) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the announcer never recomputed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `serve::run` in-process (as tests and benches call it, no binary): it reports where it
/// listens, serves, and on shutdown returns after stepping down from the IPAM lease.
#[test]
fn serve_runs_in_process_and_steps_down_on_shutdown() {
    use clap::Parser;
    let env = LabWithConfig::new(&["demo"]);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("debug.sock");
    let kc = env.kubeconfig();
    let cli = lbctl::cli::Cli::try_parse_from([
        "lbctl",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "serve",
        "--node-name",
        "in-process",
        "--metrics-addr",
        "127.0.0.1:0",
        "--debug-socket",
        sock.to_str().unwrap(),
        "--lease-duration",
        "2s",
        "--renew-deadline",
        "1500ms",
        "--retry-period",
        "200ms",
    ])
    .unwrap();
    let lbctl::cli::Command::Serve(args) = cli.command else {
        unreachable!("parsed as serve")
    };
    let host = lbctl::serve::HostDefaults::detect();
    let plan = lbctl::serve::ServePlan::from_args(&args, &cli.global, host).unwrap();
    let rt = rt();
    let client = rt.block_on(async { env.lab.client().unwrap() });
    rt.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let serve = tokio::spawn(lbctl::serve::run(
            plan,
            async {
                let _ = stop_rx.await;
            },
            move |s| {
                let _ = started_tx.send(s.clone());
            },
        ));
        let started = started_rx.await.expect("serve started");
        assert_eq!(started.identity, "in-process");
        assert!(started.ipam && !started.l2);
        assert_ne!(
            started.metrics.port(),
            0,
            "the bound port, not the asked one"
        );
        assert_eq!(started.debug_socket, sock);
        assert!(started
            .to_string()
            .contains(&format!("metrics on http://{}/metrics", started.metrics)));
        create_pool(&client, "lan-vips", vec![cidr("192.168.111.0/24")]).await;
        let svcs: Api<Service> = Api::namespaced(client.clone(), "demo");
        eventually("demo-web gets an IP", Duration::from_secs(20), || async {
            let s = svcs.get("demo-web").await.ok()?;
            (!ingress(&s).is_empty()).then_some(())
        })
        .await;
        stop_tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), serve)
            .await
            .expect("run returns after shutdown")
            .unwrap()
            .expect("a clean stop");
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
        let holder = leases
            .get(names::LBCTL_IPAM_LEASE)
            .await
            .unwrap()
            .spec
            .and_then(|s| s.holder_identity)
            .unwrap_or_default();
        assert_ne!(holder, "in-process", "the lease was released");
        assert!(!sock.exists(), "the debug socket was removed");
    });
}
