//! `lbctl doctor` against every doctor scenario: first failing rung, the check, the fix naming
//! the right object, read-only request logs, request budget, and exit codes.

use lbctl::lab::{Fault, Lab, Scenario};
use serde_json::Value;

use crate::support::{lbctl, stderr, stdout};

/// A lab with the scenario loaded as `lab up` loads it: its timestamps moved to the present
/// (`Scenario::load`), so a lease renewed "now" in the file is fresh, with no help from here.
pub(crate) struct Doc {
    pub(crate) lab: Lab,
    dir: tempfile::TempDir,
}

impl Doc {
    pub(crate) fn new(name: &str) -> Doc {
        let s = Scenario::load(name).expect("scenario loads");
        let lab = Lab::start("127.0.0.1:0".parse().unwrap(), &[s]).expect("lab starts");
        let dir = tempfile::tempdir().unwrap();
        lab.write_kubeconfig(&dir.path().join("kubeconfig"))
            .unwrap();
        Doc { lab, dir }
    }
    pub(crate) fn run(&self, args: &[&str]) -> std::process::Output {
        lbctl(Some(&self.dir.path().join("kubeconfig")), args)
    }
    pub(crate) fn doctor(&self) -> (Value, i32) {
        self.lab.clear_requests();
        let o = self.run(&["doctor", "-n", "demo", "svc/demo-web", "-o", "json"]);
        let v: Value = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("json: {e}\n{}\n{}", stdout(&o), stderr(&o)));
        let reqs = self.lab.requests();
        assert!(
            reqs.iter().all(|r| !r.is_write() || is_access_review(r)),
            "doctor wrote: {reqs:?}"
        );
        // 13 requests, 14 on Cilium before 1.18 (the v2alpha1 retry); 4 more when the server
        // refuses SubjectAccessReviews: see src/doctor/fetch.rs.
        let refused = reqs.iter().any(|r| is_access_review(r) && r.status == 403);
        let budget = if refused { 18 } else { 14 };
        assert!(reqs.len() <= budget, "{} requests: {reqs:?}", reqs.len());
        (v, o.status.code().unwrap_or(-1))
    }
}

/// A SubjectAccessReview: a POST that the API server answers without storing anything (what
/// `kubectl auth can-i --as` sends), the one create doctor makes to ask whether the agent may
/// use leases. Allowed explicitly so that any other write still fails the read-only tests.
pub(crate) fn is_access_review(r: &lbctl::lab::RequestRecord) -> bool {
    r.method == "POST" && r.path == "/apis/authorization.k8s.io/v1/subjectaccessreviews"
}

pub(crate) fn finding<'a>(v: &'a Value, check: &str) -> &'a Value {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no finding {check}: {v:#}"))
}

/// Asserts the first failing rung and check, and that the fix mentions every `names`.
pub(crate) fn fails_at(scenario: &str, rung: u64, check: &str, names: &[&str]) -> Value {
    let d = Doc::new(scenario);
    let (v, code) = d.doctor();
    assert_eq!(code, 1, "{scenario}: exit code; {v:#}");
    assert_eq!(v["result"], "fail", "{scenario}");
    assert_eq!(v["firstFailingRung"], rung, "{scenario}: {v:#}");
    assert_eq!(v["firstFailingCheck"], check, "{scenario}: {v:#}");
    let f = finding(&v, check);
    let fix = f["fix"].as_str().unwrap();
    for n in names {
        assert!(
            fix.contains(n),
            "{scenario}: fix does not name {n:?}: {fix}"
        );
    }
    v
}

pub(crate) fn passes(scenario: &str, warn: Option<&str>) -> Value {
    let d = Doc::new(scenario);
    let (v, code) = d.doctor();
    assert_eq!(code, 0, "{scenario}: {v:#}");
    assert!(v["firstFailingRung"].is_null(), "{scenario}: {v:#}");
    match warn {
        Some(check) => {
            assert_eq!(v["result"], "warn", "{scenario}: {v:#}");
            assert_eq!(finding(&v, check)["verdict"], "warn", "{scenario}");
        }
        None => assert_eq!(v["result"], "pass", "{scenario}: {v:#}"),
    }
    v
}

#[test]
fn healthy_all_pass() {
    let v = passes("doctor-healthy", None);
    assert_eq!(v["externalIps"][0], "192.168.111.240");
    assert_eq!(finding(&v, "arp-probe")["verdict"], "skip");
    assert!(finding(&v, "arp-probe")["fix"]
        .as_str()
        .unwrap()
        .contains("lbctl arp-probe 192.168.111.240"));
}

#[test]
fn old_cilium_serving_pools_as_v2alpha1() {
    let v = passes("doctor-old-cilium-v2alpha1", None);
    assert!(finding(&v, "cilium-crds")["observed"]
        .as_str()
        .unwrap()
        .contains("v2alpha1"));
}

#[test]
fn no_pool() {
    fails_at(
        "doctor-no-pool",
        2,
        "pools-exist",
        &["CiliumLoadBalancerIPPool", "demo"],
    );
}

#[test]
fn demo_scenario_fails_at_the_pool_rung() {
    fails_at("demo", 2, "pools-exist", &["CiliumLoadBalancerIPPool"]);
}

#[test]
fn pool_selector_mismatch_shows_meta_labels() {
    let v = fails_at(
        "doctor-pool-selector-mismatch",
        2,
        "pool-selection",
        &["kubectl label -n demo svc/demo-web color=blue"],
    );
    let obs = finding(&v, "pool-selection")["observed"].as_str().unwrap();
    assert!(obs.contains("io.kubernetes.service.name=demo-web"), "{obs}");
    assert!(
        obs.contains("io.kubernetes.service.namespace=demo"),
        "{obs}"
    );
    assert_eq!(finding(&v, "condition")["verdict"], "warn");
}

#[test]
fn ip_outside_every_pool() {
    fails_at(
        "doctor-ip-outside-pools",
        1,
        "requested-ips",
        &["demo-pool", "lbipam.cilium.io/ips"],
    );
}

#[test]
fn ip_in_disabled_pool() {
    fails_at(
        "doctor-ip-in-disabled-pool",
        1,
        "requested-ips",
        &["ippool demo-pool", "\"disabled\":false"],
    );
}

#[test]
fn ip_in_conflicting_pool() {
    let v = fails_at(
        "doctor-ip-in-conflicting-pool",
        1,
        "requested-ips",
        &["ippool demo-pool-overlap"],
    );
    assert!(finding(&v, "requested-ips")["observed"]
        .as_str()
        .unwrap()
        .contains("conflicting"));
}

#[test]
fn ip_first_or_last_of_cidr() {
    fails_at(
        "doctor-ip-first-last",
        1,
        "requested-ips",
        &["ippool demo-pool", "allowFirstLastIPs"],
    );
}

#[test]
fn unparsable_requested_ip() {
    fails_at(
        "doctor-ip-unparsable",
        1,
        "requested-ips",
        &["lbipam.cilium.io/ips=192.168.111.245"],
    );
}

#[test]
fn deprecated_load_balancer_ip_warns() {
    passes(
        "doctor-deprecated-loadbalancerip",
        Some("deprecated-loadbalancerip"),
    );
}

#[test]
fn out_of_ips() {
    fails_at("doctor-out-of-ips", 2, "capacity", &["ippool demo-pool"]);
}

#[test]
fn ip_already_allocated_names_holder() {
    let v = fails_at(
        "doctor-ip-already-allocated",
        1,
        "ip-sharing",
        &["svc/demo-web", "sharing-key"],
    );
    assert!(finding(&v, "ip-sharing")["observed"]
        .as_str()
        .unwrap()
        .contains("demo/demo-other"));
}

#[test]
fn sharing_port_clash_names_rule_and_other() {
    let v = fails_at("doctor-sharing-port-clash", 1, "ip-sharing", &["80/TCP"]);
    let obs = finding(&v, "ip-sharing")["observed"].as_str().unwrap();
    assert!(
        obs.contains("demo/demo-other") && obs.contains("same port"),
        "{obs}"
    );
}

#[test]
fn foreign_class() {
    fails_at(
        "doctor-foreign-class",
        0,
        "lb-class",
        &["svc/demo-web", "replace --force"],
    );
}

#[test]
fn default_ipam_none() {
    fails_at(
        "doctor-default-ipam-none",
        0,
        "lb-class",
        &["default-lb-service-ipam", "cilium-config"],
    );
}

#[test]
fn l2_announcements_off() {
    fails_at(
        "doctor-l2-disabled",
        3,
        "l2-announcements",
        &["enable-l2-announcements", "rollout restart"],
    );
}

#[test]
fn kube_proxy_replacement_off() {
    fails_at(
        "doctor-kpr-off",
        3,
        "kube-proxy-replacement",
        &["kubeProxyReplacement=true"],
    );
}

#[test]
fn lease_rbac_missing() {
    fails_at(
        "doctor-lease-rbac-missing",
        3,
        "lease-rbac",
        &["create role cilium-l2-leases", "coordination.k8s.io"],
    );
}

#[test]
fn no_l2_policy() {
    fails_at(
        "doctor-no-l2-policy",
        3,
        "l2-policies",
        &["CiliumL2AnnouncementPolicy", "loadBalancerIPs: true"],
    );
}

#[test]
fn policy_selector_matches_nothing() {
    fails_at(
        "doctor-policy-selector-mismatch",
        3,
        "policy-match",
        &["kubectl label -n demo svc/demo-web color=blue"],
    );
}

#[test]
fn policy_announces_no_ip_kind() {
    fails_at(
        "doctor-policy-no-ip-kinds",
        3,
        "policy-match",
        &["demo-l2", "loadBalancerIPs\":true"],
    );
}

#[test]
fn policy_bad_service_selector() {
    let v = fails_at("doctor-policy-bad-selector", 3, "l2-policies", &["demo-l2"]);
    assert!(finding(&v, "l2-policies")["observed"]
        .as_str()
        .unwrap()
        .contains("io.cilium/bad-service-selector"));
}

#[test]
fn unanchored_regex_warns() {
    let v = passes("doctor-unanchored-regex", Some("policy-interfaces"));
    assert!(finding(&v, "policy-interfaces")["fix"]
        .as_str()
        .unwrap()
        .contains("^eth0$"));
}

#[test]
fn node_selector_matches_no_node() {
    fails_at(
        "doctor-node-selector-nomatch",
        3,
        "policy-nodes",
        &["kubectl label node", "lb.example.com/announce=true"],
    );
}

#[test]
fn lease_expired() {
    fails_at(
        "doctor-lease-expired",
        5,
        "lease",
        &["cilium-l2announce-demo-demo-web"],
    );
}

#[test]
fn lease_holder_not_ready() {
    fails_at(
        "doctor-lease-holder-notready",
        5,
        "lease-holder",
        &["worker-1", "delete lease cilium-l2announce-demo-demo-web"],
    );
}

#[test]
fn etp_local_holder_without_endpoints() {
    fails_at(
        "doctor-etp-local-no-endpoint",
        3,
        "external-traffic-policy",
        &["svc/demo-web", "externalTrafficPolicy"],
    );
}

#[test]
fn duplicate_legacy_conditions_newest_wins() {
    let v = passes("doctor-duplicate-legacy-conditions", Some("condition"));
    let obs = finding(&v, "condition")["observed"].as_str().unwrap();
    assert!(
        obs.starts_with("io.cilium/lb-ipam-request-satisfied: True/satisfied"),
        "{obs}"
    );
}

#[test]
fn missing_crds() {
    let v = fails_at("doctor-no-crds", 0, "cilium-crds", &["helm"]);
    assert!(finding(&v, "cilium-crds")["observed"]
        .as_str()
        .unwrap()
        .contains("Cilium CRDs not installed"));
}

#[test]
fn bad_pool_blocks_are_findings() {
    let v = fails_at(
        "doctor-bad-pool-blocks",
        2,
        "pool-validation",
        &["ippool demo-pool"],
    );
    let obs = finding(&v, "pool-validation")["observed"].as_str().unwrap();
    assert!(
        obs.contains("spec.blocks[0]") && obs.contains("spec.blocks[1]"),
        "{obs}"
    );
}

#[test]
fn missing_service_is_a_finding() {
    let d = Doc::new("doctor-healthy");
    let o = d.run(&["doctor", "-n", "demo", "svc/nope", "-o", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["firstFailingCheck"], "service");
}

/// Doctor, --all and the listings on every doctor scenario issue only GET/LIST.
#[test]
fn read_only_on_every_scenario() {
    let files = ["doctor-engine-lbctl", "doctor-engine-cilium-not-running"].map(scenario_file);
    let names = lbctl::lab::scenario::EMBEDDED
        .iter()
        .map(|(n, _)| n.to_string())
        .chain(files);
    for name in names {
        let name = name.as_str();
        let d = Doc::new(name);
        d.lab.clear_requests();
        for args in [
            &["doctor", "-n", "demo", "svc/demo-web"][..],
            &["doctor", "--all", "-A", "-o", "json"],
            &["pools", "-o", "wide"],
            &["policies", "-o", "wide"],
            &["leases", "-o", "wide"],
        ] {
            let o = d.run(args);
            assert!(
                matches!(o.status.code(), Some(0 | 1)),
                "{name} {args:?}: {}",
                stderr(&o)
            );
        }
        let reqs = d.lab.requests();
        assert!(!reqs.is_empty());
        for r in reqs {
            assert!(
                (matches!(r.verb(), "get") && r.method == "GET") || is_access_review(&r),
                "{name}: {} {} {}",
                r.method,
                r.path,
                r.query
            );
        }
    }
}

#[test]
fn all_lists_one_row_per_lb_service() {
    let d = Doc::new("doctor-out-of-ips");
    d.lab.clear_requests();
    let o = d.run(&["doctor", "--all", "-A", "-o", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{v:#}");
    let web = items.iter().find(|i| i["name"] == "demo-web").unwrap();
    assert_eq!(web["firstFailingRung"], 2);
    // LISTs, not per-Service GETs.
    let reqs = d.lab.requests();
    assert!(
        reqs.iter().all(|r| !r.path.contains("/services/")),
        "{reqs:?}"
    );
}

#[test]
fn unreachable_api_exits_3_naming_the_context() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: closed-port\n  context:\n    cluster: c\n    user: u\ncurrent-context: closed-port\nusers:\n- name: u\n  user: {{}}\n")).unwrap();
    let o = lbctl(Some(&kc), &["doctor", "-n", "demo", "svc/demo-web"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("closed-port") && e.contains("demo/demo-web"),
        "{e}"
    );
}

#[test]
fn forbidden_list_exits_3_naming_the_resource() {
    let d = Doc::new("doctor-healthy");
    d.lab.inject(Fault {
        method: Some("GET".into()),
        path_contains: "ciliumloadbalancerippools".into(),
        status: Some(403),
        count: 10,
        ..Fault::default()
    });
    let o = d.run(&["doctor", "-n", "demo", "svc/demo-web"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("lbctl-lab") && e.contains("ciliumloadbalancerippools"),
        "{e}"
    );
}

#[test]
fn table_output_highlights_first_failure_and_summarises() {
    let d = Doc::new("doctor-no-pool");
    let o = d.run(&["doctor", "-n", "demo", "svc/demo-web"]);
    let out = stdout(&o);
    assert!(out.contains("▶ 2 pools"), "{out}");
    assert!(
        out.contains("demo/demo-web: fails at rung 2 (pools), check pools-exist"),
        "{out}"
    );
    assert!(!out.contains('\u{1b}'), "NO_COLOR must disable colour");
}

#[test]
fn listings_show_recomputed_state() {
    let d = Doc::new("doctor-out-of-ips");
    let o = d.run(&["pools", "-o", "json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[0]["name"], "demo-pool");
    assert_eq!(v[0]["ipsAvailable"], "0");
    assert_eq!(v[0]["services"].as_array().unwrap().len(), 2);
    let d = Doc::new("doctor-lease-expired");
    let o = d.run(&["leases", "-n", "demo", "svc/demo-web", "-o", "json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[0]["state"], "expired", "{v:#}");
    let d = Doc::new("doctor-policy-bad-selector");
    let o = d.run(&["policies", "-o", "json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        !v[0]["badConditions"].as_array().unwrap().is_empty(),
        "{v:#}"
    );
}

/// Runs `lab demo ARGS` and checks the story common to both modes; returns stdout.
fn demo_story(args: &[&str]) -> String {
    let mut full = vec!["lab", "demo"];
    full.extend_from_slice(args);
    let o = lbctl(None, &full);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let pos = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from:\n{out}"))
    };
    // The story, in order: pending, pool rung fails, the engine assigns the range's first
    // address, the pinned address is refused with no_pool until a pool covers it, a node
    // wins the lease, and the whole ladder passes.
    let steps = [
        "demo-web   LoadBalancer   <pending>",
        "fails at rung 2 (pools), check pools-exist",
        "$ kubectl apply -f pool.yaml",
        "demo-web   LoadBalancer   192.168.111.240",
        "lbipam.cilium.io/ips=192.168.111.11",
        "fails at rung 1 (service), check requested-ips",
        "demo-web   LoadBalancer   192.168.111.11",
        "cilium-l2announce-demo-demo-web   ",
        "demo/demo-web: every check passes",
    ];
    let mut last = 0;
    for s in steps {
        let p = pos(s);
        assert!(p >= last, "{s:?} out of order in:\n{out}");
        last = p;
    }
    assert!(
        !out.contains("cilium-l2announce-demo-demo-web   <none>"),
        "a node holds the lease:\n{out}"
    );
    out
}

#[test]
fn lab_demo_runs_unattended_and_tells_the_story() {
    let out = demo_story(&["--no-lan"]);
    assert!(out.contains("probe not run"), "{out}");
    assert_eq!(
        out.matches("skipped: --no-lan was given.").count(),
        2,
        "the ARP and failover steps say why they were skipped:\n{out}"
    );
}

#[test]
fn lab_demo_on_its_lan_answers_the_vip_and_fails_over() {
    if !crate::netlan::can_run("lab_demo_on_its_lan") {
        return;
    }
    let out = demo_story(&[]);
    let ladder_pass = out
        .lines()
        .any(|l| l.contains("4 arp-ndp") && l.contains("pass") && l.contains("answered by"));
    assert!(
        ladder_pass,
        "doctor's ARP rung probes the VIP on the LAN:\n{out}"
    );
    // Two probes: the lease holder, then after its announcer stops, the other node.
    let owners: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("one owner: 192.168.111.11 is at "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert_eq!(owners.len(), 2, "{out}");
    assert_ne!(
        owners[0], owners[1],
        "the VIP moved to the other node:\n{out}"
    );
    assert!(
        out.contains("another node answers for 192.168.111.11"),
        "{out}"
    );
    // Nothing left behind of this run's namespaces (another demo may run on the machine: its
    // namespaces are not ours to judge).
    let id = out
        .split("built from network namespaces (")
        .nth(1)
        .and_then(|r| r.split("-*)").next())
        .unwrap_or_else(|| panic!("the demo names its namespaces:\n{out}"));
    assert!(id.starts_with("lbd"), "{id}");
    let mine = format!("{id}-");
    let left: Vec<_> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&mine))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}

/// Scenarios kept as files beside the embedded ones.
fn scenario_file(name: &str) -> String {
    format!("{}/scenarios/{name}.yaml", env!("CARGO_MANIFEST_DIR"))
}

fn evidence(v: &Value) -> Vec<String> {
    finding(v, "engine")["evidence"]
        .as_array()
        .unwrap_or_else(|| panic!("engine has no evidence: {v:#}"))
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect()
}

fn has_line(lines: &[String], want: &str) {
    assert!(
        lines.iter().any(|l| l.contains(want)),
        "{want:?} not in {lines:#?}"
    );
}

#[test]
fn engine_is_lbctl_where_lbctl_leads_despite_a_leftover_cilium_config() {
    let v = passes(&scenario_file("doctor-engine-lbctl"), None);
    let engine = finding(&v, "engine");
    assert_eq!(engine["verdict"], "pass", "{v:#}");
    let obs = engine["observed"].as_str().unwrap();
    assert!(
        obs.starts_with("lbctl serve: lease kube-system/lbctl-lb-ipam held by \"cp-1\"")
            && obs.contains("no Cilium operator runs"),
        "{obs}"
    );
    let ev = evidence(&v);
    has_line(&ev, "ConfigMap kube-system/cilium-config exists");
    has_line(&ev, "Cilium agent (k8s-app=cilium): 0 running of 0");
    has_line(
        &ev,
        "Cilium operator (io.cilium/app=operator): 0 running of 0",
    );
    has_line(&ev, "lbctl ipam: 1 running of 1");
    has_line(&ev, "lbctl announcer: 1 running of 1");
    has_line(&ev, "no lease kube-system/cilium-operator-resource-lock");
    has_line(
        &ev,
        "lease kube-system/lbctl-lb-ipam: held by \"cp-1\", renewed",
    );
    has_line(
        &ev,
        "1 fresh cilium-l2announce-* lease(s), held by worker-1",
    );
    // The evidence is in the text too, and no Cilium-only check judges an absent agent.
    assert!(obs.contains("evidence:\n  ConfigMap kube-system/cilium-config exists"));
    assert_eq!(finding(&v, "l2-prerequisites")["verdict"], "skip");
    for cilium_only in ["l2-announcements", "kube-proxy-replacement", "lease-rbac"] {
        assert!(
            v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["check"] != cilium_only),
            "{cilium_only} judged: {v:#}"
        );
    }
}

#[test]
fn engine_warns_when_cilium_is_configured_but_nothing_runs() {
    let v = passes(
        &scenario_file("doctor-engine-cilium-not-running"),
        Some("engine"),
    );
    let obs = finding(&v, "engine")["observed"].as_str().unwrap();
    assert!(
        obs.contains("cilium-config exists in kube-system but no Cilium agent or operator runs"),
        "{obs}"
    );
    let ev = evidence(&v);
    has_line(&ev, "Cilium agent (k8s-app=cilium): 0 running of 0");
    has_line(&ev, "no lease kube-system/lbctl-lb-ipam");
    assert!(finding(&v, "engine")["fix"]
        .as_str()
        .unwrap()
        .contains("daemonset/cilium deployment/cilium-operator"));
}

#[test]
fn engine_is_cilium_where_its_pods_run() {
    let d = Doc::new("doctor-healthy");
    let (v, code) = d.doctor();
    assert_eq!((code, &v["result"]), (0, &Value::from("pass")), "{v:#}");
    // The request budget: the pods LIST is the one request the engine evidence adds; the three
    // SubjectAccessReviews replace the two RBAC LISTs.
    assert_eq!(d.lab.requests().len(), 13, "{:#?}", d.lab.requests());
    let d = Doc::new("doctor-old-cilium-v2alpha1");
    d.doctor();
    assert_eq!(d.lab.requests().len(), 14, "{:#?}", d.lab.requests());
    let obs = finding(&v, "engine")["observed"].as_str().unwrap();
    assert!(obs.starts_with("Cilium in kube-system"), "{obs}");
    has_line(
        &evidence(&v),
        "Cilium agent (k8s-app=cilium): 1 running of 1",
    );
}

pub(crate) fn forbid(d: &Doc, path: &str) {
    d.lab.inject(Fault {
        method: Some("GET".into()),
        path_contains: path.into(),
        status: Some(403),
        count: 100,
        ..Fault::default()
    });
}

/// The server refuses SubjectAccessReviews (403), as one that does not let doctor's user create
/// them would.
pub(crate) fn forbid_access_reviews(d: &Doc) {
    d.lab.inject(Fault {
        method: Some("POST".into()),
        path_contains: "/subjectaccessreviews".into(),
        status: Some(403),
        count: 100,
        ..Fault::default()
    });
}

/// Every optional read of doctor, refused: doctor still answers (exit 0/1, never 3), names what
/// it could not read and the permission, and the checks that needed it are skips.
#[test]
fn doctor_skips_what_it_may_not_read() {
    for (path, resource, checks) in [
        (
            "/api/v1/services",
            "services",
            &["ip-sharing", "capacity"][..],
        ),
        (
            "/configmaps/cilium-config",
            "configmaps",
            &["lb-ipam-enabled", "lb-class", "l2-announcements"][..],
        ),
        (
            "/ciliuml2announcementpolicies",
            "ciliuml2announcementpolicies.cilium.io",
            &["l2-policies"][..],
        ),
        ("/api/v1/nodes", "nodes", &["lease-holder"][..]),
        ("/ciliumnodes", "ciliumnodes.cilium.io", &[][..]),
        (
            "/leases",
            "leases.coordination.k8s.io",
            // No lease read, so no holder to judge: lease-holder is not emitted at all.
            &["lease", "lease-load"][..],
        ),
        // RBAC objects are read only when SubjectAccessReviews are refused (refused below too);
        // lease-rbac then still passes on the fresh lease (tests/it/doctor_checks.rs).
        (
            "/clusterroles",
            "clusterroles.rbac.authorization.k8s.io",
            &[][..],
        ),
        (
            "/clusterrolebindings",
            "clusterrolebindings.rbac.authorization.k8s.io",
            &[][..],
        ),
        (
            "/endpointslices",
            "endpointslices.discovery.k8s.io",
            &[][..],
        ),
        ("/pods", "pods", &[][..]),
    ] {
        let d = Doc::new("doctor-healthy");
        forbid(&d, path);
        if path.starts_with("/clusterrole") {
            forbid_access_reviews(&d);
        }
        let o = d.run(&["doctor", "-n", "demo", "svc/demo-web", "-o", "json"]);
        assert_eq!(o.status.code(), Some(0), "{path}: {}", stderr(&o));
        let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
        let unread = v["unread"].as_array().unwrap();
        assert_eq!(unread.len(), 1, "{path}: {v:#}");
        assert_eq!(unread[0]["resource"], resource, "{path}");
        assert_eq!(unread[0]["reason"], "forbidden");
        let note = unread[0]["note"].as_str().unwrap();
        assert!(
            note.starts_with(&format!("could not read {resource}")) && note.contains("(forbidden)"),
            "{note}"
        );
        let perm = unread[0]["permission"].as_str().unwrap();
        assert!(perm.contains("kubectl auth can-i "), "{perm}");
        assert!(perm.contains(resource), "{perm}");
        for check in checks {
            let f = finding(&v, check);
            assert_eq!(f["verdict"], "skip", "{path}: {check}: {f:#}");
            assert!(
                f["observed"].as_str().unwrap().contains("(forbidden)")
                    && f["fix"].as_str().unwrap().contains(resource),
                "{path}: {check}: {f:#}"
            );
        }
        // --all says it too, and so does the table.
        let o = d.run(&["doctor", "--all", "-A", "-o", "json"]);
        if resource == "services" {
            // --all lists Services: refused, there is nothing to list.
            assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        } else {
            assert!(
                matches!(o.status.code(), Some(0 | 1)),
                "{path}: {}",
                stderr(&o)
            );
            let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
            assert_eq!(v["unread"][0]["resource"], resource, "{path}: {v:#}");
        }
        let o = d.run(&["doctor", "-n", "demo", "svc/demo-web"]);
        assert!(
            stdout(&o).contains(&format!("note: could not read {resource}")),
            "{path}: {}",
            stdout(&o)
        );
    }
}

#[test]
fn pools_listing_needs_only_pools() {
    // The reported case: may read pools, may not list ClusterRoleBindings (nor anything else).
    let d = Doc::new("doctor-out-of-ips");
    for p in [
        "/clusterrolebindings",
        "/clusterroles",
        "/api/v1/nodes",
        "/leases",
        "/pods",
        "/ciliumnodes",
        "/endpointslices",
        "/configmaps",
        "/ciliuml2announcementpolicies",
    ] {
        forbid(&d, p);
    }
    let o = d.run(&["pools", "-o", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[0]["ipsAvailable"], "0", "{v:#}");
    assert_eq!(stderr(&o), "", "nothing optional was refused");

    // Services refused too: the listing stands, what depends on Services is unknown.
    forbid(&d, "/api/v1/services");
    let o = d.run(&["pools", "-o", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[0]["name"], "demo-pool");
    assert!(
        v[0]["services"].is_null() && v[0]["ipsAvailable"].is_null(),
        "{v:#}"
    );
    let e = stderr(&o);
    assert!(
        e.contains("warning: could not read services (forbidden)")
            && e.contains("kubectl auth can-i list services"),
        "{e}"
    );
    let o = d.run(&["pools", "-o", "wide"]);
    assert!(stdout(&o).contains("<unknown>"), "{}", stdout(&o));

    // Pools themselves are what the listing is: refused, it is exit 3.
    forbid(&d, "ciliumloadbalancerippools");
    let o = d.run(&["pools"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

#[test]
fn policies_and_leases_listings_read_what_they_may() {
    let d = Doc::new("doctor-healthy");
    forbid(&d, "/api/v1/nodes");
    forbid(&d, "/api/v1/services");
    let o = d.run(&["policies", "-o", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[0]["name"], "demo-l2");
    assert!(
        v[0]["nodes"].is_null() && v[0]["services"].is_null(),
        "{v:#}"
    );
    assert!(stderr(&o).contains("could not read nodes (forbidden)"));

    // Without Services and Nodes a held lease is not called orphaned or holder-gone.
    let o = d.run(&["leases", "-o", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[0]["state"], "held", "{v:#}");

    forbid(&d, "/leases");
    let o = d.run(&["leases"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    forbid(&d, "/ciliuml2announcementpolicies");
    let o = d.run(&["policies"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}
