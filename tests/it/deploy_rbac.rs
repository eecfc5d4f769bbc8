//! `deploy/rbac.yaml` grants exactly what `lbctl serve --ipam --announce` uses. serve runs with
//! the ServiceAccount's own token against the lab, which enforces RBAC: with deploy/'s objects it
//! converges without a single 403, every granted verb is used, and without any one of its rules
//! it is refused (403) what that rule granted.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

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

/// The documents of deploy/rbac.yaml.
fn deploy_rbac() -> Vec<Value> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml")).unwrap();
    text.split("\n---\n")
        .map(|doc| serde_saphyr::from_str(doc).unwrap())
        .collect()
}

/// Every (group, resource, verb) a rule grants.
fn rule_grants(rule: &Value) -> BTreeSet<Grant> {
    let list = |k: &str| -> Vec<String> {
        rule[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    };
    let mut out = BTreeSet::new();
    for g in list("apiGroups") {
        for r in list("resources") {
            for verb in list("verbs") {
                out.insert((g.clone(), r.clone(), verb));
            }
        }
    }
    out
}

fn granted(docs: &[Value]) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for v in docs {
        if v["kind"] != "ClusterRole" {
            continue;
        }
        for rule in v["rules"].as_array().unwrap() {
            out.extend(rule_grants(rule));
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

const SCENARIO: &str = "apiVersion: lab.lbctl.io/v1\nkind: Include\nmetadata: {name: cilium-crds}\n---\n\
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
spec: {type: LoadBalancer, ports: [{port: 80}]}\n";

/// The User-Agent of the test's own (admin) requests, which the checks leave out.
const TEST_AGENT: &str = "deploy-rbac-test";

/// POSTs JSON to the lab without credentials (as its admin), from inside `host`'s namespace.
fn post_json(lan: &Lan, host: &str, server: &str, path: &str, body: &Value) -> (u16, Value) {
    use std::io::{Read, Write};
    let addr = server.trim_start_matches("http://").to_string();
    let body = serde_json::to_vec(body).unwrap();
    let path = path.to_string();
    let raw = lan.in_netns(host, move || {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: {TEST_AGENT}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&body).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    });
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// What one run of serve did: the lab's log of serve's requests, whether it announced the VIP,
/// and serve's stderr.
struct Run {
    requests: Vec<Value>,
    announced: bool,
    stderr: String,
}

/// Starts a lab holding `rbac` (plus the scenario), asks it for the ServiceAccount's token, and
/// runs serve with that token until it announced (or, with `until_forbidden`, until the lab
/// refused it something).
fn run_serve(lan: &Lan, rbac: &[Value], until_forbidden: bool) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("rbac.yaml");
    let mut text = SCENARIO.to_string();
    for doc in rbac {
        text.push_str("---\n");
        text.push_str(&serde_json::to_string(doc).unwrap());
        text.push('\n');
    }
    std::fs::write(&scenario, text).unwrap();
    let log = dir.path().join("requests.jsonl");
    let lab = support::LabInNetns::start(
        lan,
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
    let admin = std::fs::read_to_string(&lab.kubeconfig).unwrap();
    let server = admin
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap()
        .to_string();
    let (code, tr) = post_json(
        lan,
        "api",
        &server,
        "/api/v1/namespaces/kube-system/serviceaccounts/lbctl/token",
        &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}),
    );
    assert_eq!(code, 201, "TokenRequest: {tr}");
    let token = tr["status"]["token"].as_str().unwrap();
    let with_token = admin.replace("  user: {}\n", &format!("  user:\n    token: {token}\n"));
    assert_ne!(
        with_token, admin,
        "the lab's kubeconfig changed shape: {admin}"
    );
    let kc = dir.path().join("lbctl-sa.kubeconfig");
    std::fs::write(&kc, with_token).unwrap();

    let sock = dir.path().join("n1.sock");
    let stderr_path = dir.path().join("serve.stderr");
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
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let forbidden_seen = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains("\"status\":403"))
    };
    let start = Instant::now();
    let mut announced = false;
    while start.elapsed() < Duration::from_secs(15) {
        if until_forbidden && forbidden_seen() {
            break;
        }
        if !announced && !lan.l2_announce_rows("n1", LBCTL, &sock).is_empty() {
            announced = true;
            if !until_forbidden {
                // A few renewals, then the release path.
                std::thread::sleep(Duration::from_millis(1500));
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGTERM: the release path (lease update) is part of what RBAC must allow.
    // SAFETY: signalling our own children.
    unsafe { libc::kill(serve.id() as libc::pid_t, libc::SIGTERM) };
    let _ = serve.wait();
    lab.stop();
    let requests = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["user_agent"] != TEST_AGENT)
        .collect();
    Run {
        requests,
        announced,
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    }
}

fn grant_of_record(v: &Value) -> Option<Grant> {
    grant_of(
        v["method"].as_str().unwrap(),
        v["path"].as_str().unwrap(),
        v["query"].as_str().unwrap(),
    )
}

fn lan_for(test: &str) -> Option<Lan> {
    let lan = Lan::try_new(test, &["api", "n1"])?;
    // A kind-style node: its veth eth0 holds the default route, so serve selects it.
    lan.ip("n1", &["route", "add", "default", "dev", "eth0"]);
    Some(lan)
}

#[test]
fn deploy_rbac_is_exact() {
    let Some(lan) = lan_for("deploy_rbac_is_exact") else {
        return;
    };
    let docs = deploy_rbac();
    let run = run_serve(&lan, &docs, false);
    assert!(run.announced, "serve never announced:\n{}", run.stderr);
    let refused: Vec<&Value> = run
        .requests
        .iter()
        .filter(|v| matches!(v["status"].as_u64(), Some(401 | 403)))
        .collect();
    assert!(
        refused.is_empty(),
        "the lab refused serve (with deploy/rbac.yaml) {refused:?}\n{}",
        run.stderr
    );
    let used: BTreeSet<Grant> = run.requests.iter().filter_map(grant_of_record).collect();
    let granted = granted(&docs);
    let missing: Vec<_> = used.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&used).collect();
    assert!(
        missing.is_empty(),
        "the lab let serve do what deploy/rbac.yaml does not grant: {missing:?}"
    );
    assert!(
        unused.is_empty(),
        "deploy/rbac.yaml grants what serve never uses: {unused:?}"
    );
}

#[test]
fn every_deploy_rbac_rule_is_needed() {
    let Some(lan) = lan_for("every_deploy_rbac_rule_is_needed") else {
        return;
    };
    let docs = deploy_rbac();
    let role = docs
        .iter()
        .position(|d| d["kind"] == "ClusterRole")
        .unwrap();
    let rules = docs[role]["rules"].as_array().unwrap().clone();
    for (i, rule) in rules.iter().enumerate() {
        let mut fewer = docs.clone();
        fewer[role]["rules"].as_array_mut().unwrap().remove(i);
        let run = run_serve(&lan, &fewer, true);
        let refused: BTreeSet<Grant> = run
            .requests
            .iter()
            .filter(|v| v["status"] == 403)
            .filter_map(grant_of_record)
            .collect();
        assert!(
            run.stderr.contains("is forbidden: User")
                && run
                    .stderr
                    .contains("system:serviceaccount:kube-system:lbctl"),
            "serve does not report the 403 without rule {rule}:\n{}",
            run.stderr
        );
        let lost = rule_grants(rule);
        assert!(
            !refused.is_empty() && refused.is_subset(&lost),
            "without rule {rule} serve was refused {refused:?} (expected only grants of that rule)\n{}",
            run.stderr
        );
    }
}
