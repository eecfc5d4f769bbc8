//! `deploy/rbac.yaml` grants exactly what `lbctl serve --ipam --announce` uses: every request
//! the binary makes against the lab is covered, and every granted verb is used.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::netlan::Lan;
use crate::support;

const LBCTL: &str = env!("CARGO_BIN_EXE_lbctl");

type Grant = (String, String, String);

/// (apiGroup, resource[/subresource], verb) of a resource request; None for discovery and
/// other non-resource URLs (which every authenticated user may read).
fn grant_of(method: &str, path: &str, query: &str) -> Option<Grant> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segs.as_slice() {
        ["api", _v, rest @ ..] => ("", rest),
        ["apis", g, _v, rest @ ..] => (*g, rest),
        _ => return None,
    };
    let rest: Vec<&str> = match rest {
        ["namespaces", _ns, r @ ..] if !r.is_empty() => r.to_vec(),
        r => r.to_vec(),
    };
    let (resource, name, sub) = match rest.as_slice() {
        [] => return None,
        [r] => (*r, None, None),
        [r, n] => (*r, Some(*n), None),
        [r, n, s] => (*r, Some(*n), Some(*s)),
        _ => return None,
    };
    let watch = query
        .split('&')
        .any(|kv| kv == "watch=true" || kv == "watch=1");
    let verb = match (method, name.is_some(), watch) {
        ("GET", _, true) => "watch",
        ("GET", false, false) => "list",
        ("GET", true, false) => "get",
        ("POST", _, _) => "create",
        ("PUT", _, _) => "update",
        ("PATCH", _, _) => "patch",
        ("DELETE", true, _) => "delete",
        ("DELETE", false, _) => "deletecollection",
        _ => return None,
    };
    let resource = match sub {
        Some(s) => format!("{resource}/{s}"),
        None => resource.to_string(),
    };
    Some((group.to_string(), resource, verb.to_string()))
}

fn granted() -> BTreeSet<Grant> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml")).unwrap();
    let mut out = BTreeSet::new();
    for doc in text.split("\n---\n") {
        let v: serde_json::Value = serde_saphyr::from_str(doc).unwrap();
        if v["kind"] != "ClusterRole" {
            continue;
        }
        for rule in v["rules"].as_array().unwrap() {
            let list = |k: &str| -> Vec<String> {
                rule[k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .collect()
            };
            for g in list("apiGroups") {
                for r in list("resources") {
                    for verb in list("verbs") {
                        out.insert((g.clone(), r.clone(), verb));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn grant_mapping() {
    let g = |m, p, q| grant_of(m, p, q).map(|(a, b, c)| format!("{a}|{b}|{c}"));
    assert_eq!(
        g("GET", "/api/v1/services", "watch=true").as_deref(),
        Some("|services|watch")
    );
    assert_eq!(
        g("PATCH", "/api/v1/namespaces/x/services/y/status", "").as_deref(),
        Some("|services/status|patch")
    );
    assert_eq!(
        g(
            "GET",
            "/apis/coordination.k8s.io/v1/namespaces/k/leases",
            ""
        )
        .as_deref(),
        Some("coordination.k8s.io|leases|list")
    );
    assert_eq!(g("GET", "/apis/cilium.io/v2", ""), None);
    assert_eq!(g("GET", "/version", ""), None);
}

#[test]
fn deploy_rbac_is_exact() {
    let Some(lan) = Lan::try_new("deploy_rbac_is_exact", &["api", "n1"]) else {
        return;
    };
    // A kind-style node: its veth eth0 holds the default route, so serve selects it.
    lan.ip("n1", &["route", "add", "default", "dev", "eth0"]);
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("rbac.yaml");
    std::fs::write(
        &scenario,
        "apiVersion: lab.lbctl.io/v1\nkind: Include\nmetadata: {name: cilium-crds}\n---\n\
         apiVersion: v1\nkind: Namespace\nmetadata: {name: lan}\n---\n\
         apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {conditions: [{type: Ready, status: 'True'}]}\n---\n\
         apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata: {name: lan}\n\
         spec: {blocks: [{start: 10.77.0.100, stop: 10.77.0.110}]}\n---\n\
         apiVersion: cilium.io/v2alpha1\nkind: CiliumL2AnnouncementPolicy\nmetadata: {name: lan}\n\
         spec: {loadBalancerIPs: true, interfaces: ['^eth0$']}\n---\n\
         apiVersion: cilium.io/v2alpha1\nkind: CiliumL2AnnouncementPolicy\nmetadata: {name: broken}\n\
         spec: {loadBalancerIPs: true, interfaces: ['(eth']}\n---\n\
         apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: cilium-l2announce-lan-gone, namespace: kube-system}\n\
         spec: {holderIdentity: ''}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: lan}\n\
         spec: {type: LoadBalancer, ports: [{port: 80}]}\n",
    )
    .unwrap();
    let log = dir.path().join("requests.jsonl");
    let lab = support::LabInNetns::start(
        &lan,
        "api",
        dir.path(),
        scenario.to_str().unwrap(),
        &[
            "--request-log",
            log.to_str().unwrap(),
            // One conflict on each status write: serve re-reads the object (get), retries.
            "--fault",
            "PATCH:/services/web/status:409:1",
            "--fault",
            "PATCH:/ciliumloadbalancerippools/lan/status:409:1",
        ],
    );
    let kc = lab.kubeconfig.clone();
    let sock = dir.path().join("n1.sock");
    let mut serve = lan
        .command(
            "n1",
            LBCTL,
            &[
                "--kubeconfig",
                kc.to_str().unwrap(),
                "serve",
                "--ipam",
                "--announce",
                "--node-name",
                "n1",
                "--metrics-addr",
                "127.0.0.1:0",
                "--debug-socket",
                sock.to_str().unwrap(),
                "--lease-duration",
                "2s",
                "--renew-deadline",
                "1s",
                "--retry-period",
                "200ms",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Until IPAM assigned the VIP and this node announces it (a few renewals included).
    let start = Instant::now();
    loop {
        if !lan.l2_announce_rows("n1", LBCTL, &sock).is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "serve never announced"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    // SIGTERM: the release path (lease update) is part of what RBAC must allow.
    // SAFETY: signalling our own children.
    unsafe { libc::kill(serve.id() as libc::pid_t, libc::SIGTERM) };
    let _ = serve.wait();
    lab.stop();

    let text = std::fs::read_to_string(&log).unwrap();
    let mut used = BTreeSet::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(g) = grant_of(
            v["method"].as_str().unwrap(),
            v["path"].as_str().unwrap(),
            v["query"].as_str().unwrap(),
        ) {
            used.insert(g);
        }
    }
    let granted = granted();
    let missing: Vec<_> = used.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&used).collect();
    assert!(
        missing.is_empty(),
        "serve needs grants deploy/rbac.yaml lacks: {missing:?}"
    );
    assert!(
        unused.is_empty(),
        "deploy/rbac.yaml grants what serve never uses: {unused:?}"
    );
}
