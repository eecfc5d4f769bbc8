//! doctor's checks that must read the cluster correctly (issue #10, §2): lease RBAC from every
//! source, policy interfaces against the devices Cilium manages, lease load by kind of lease,
//! summaries that keep the cause, and scenario time relative to loading.

use serde_json::Value;

use crate::doctor::{
    fails_at, finding, forbid, forbid_access_reviews, is_access_review, passes, Doc,
};
use crate::support::{stderr, stdout};

fn text<'a>(f: &'a Value, field: &str) -> &'a str {
    f[field].as_str().unwrap_or_default()
}

/// Loaded "now" (as `lab up` loads it), the healthy scenario's lease is fresh: no test helper
/// rewrites its renewTime.
#[test]
fn healthy_scenario_passes_when_loaded_now() {
    let v = passes("doctor-healthy", None);
    let lease = finding(&v, "lease");
    assert_eq!(lease["verdict"], "pass", "{lease:#}");
    assert!(
        text(lease, "observed").contains("holder \"worker-1\""),
        "{lease:#}"
    );
    // And the expired one stays expired, however late it is loaded.
    let v = fails_at(
        "doctor-lease-expired",
        5,
        "lease",
        &["cilium-l2announce-demo-demo-web"],
    );
    let obs = text(finding(&v, "lease"), "observed");
    assert!(
        obs.contains("renewed 60s ago") || obs.contains("renewed 61s ago"),
        "{obs}"
    );
}

#[test]
fn lease_load_names_leases_of_services_not_announced() {
    let v = passes("doctor-lease-load-non-lb", None);
    let f = finding(&v, "lease-load");
    assert_eq!(f["verdict"], "pass", "{f:#}");
    let obs = text(f, "observed");
    assert!(
        obs.starts_with("3 cilium-l2announce lease(s), 0 without a Service, 1 of a Service that is not a LoadBalancer, 1 of a LoadBalancer without an IP"),
        "{obs}"
    );
    assert!(
        obs.contains(
            "of a Service that is not type LoadBalancer: cilium-l2announce-demo-demo-internal"
        ),
        "{obs}"
    );
    assert!(
        obs.contains("of a LoadBalancer Service without an IP: cilium-l2announce-demo-demo-other"),
        "{obs}"
    );
}

/// The summary line and `--all`'s table used to end at "no pool selects demo/demo-web:".
#[test]
fn summaries_keep_the_cause() {
    let d = Doc::new("doctor-summary-cause");
    let (v, code) = d.doctor();
    assert_eq!(code, 1);
    let summary = text(&v, "summary");
    assert!(
        summary.contains("no pool selects demo/demo-web: pool demo-pool: serviceSelector"),
        "{summary}"
    );
    let o = d.run(&["doctor", "--all", "-n", "demo", "-o", "json"]);
    let all: Value =
        serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    let row = text(&all["items"][0], "summary");
    assert!(
        row.starts_with("no pool selects demo/demo-web: pool demo-pool: serviceSelector"),
        "{row}"
    );
    let o = d.run(&["doctor", "--all", "-n", "demo"]);
    let table = stdout(&o);
    assert!(table.contains("pool demo-pool"), "{table}");
}

/// The lease rule is in a Role of the agent namespace with get, create and update only: the
/// API server's SubjectAccessReview says so, and doctor reads no RBAC object.
#[test]
fn lease_rbac_asks_the_api_server() {
    let d = Doc::new("doctor-lease-rbac-role");
    let (v, code) = d.doctor();
    assert_eq!(code, 0, "{v:#}");
    let f = finding(&v, "lease-rbac");
    assert_eq!(f["verdict"], "pass", "{f:#}");
    let obs = text(f, "observed");
    assert!(
        obs.starts_with("SubjectAccessReview: system:serviceaccount:kube-system:cilium may get, create, update leases in kube-system"),
        "{obs}"
    );
    assert!(obs.contains("cilium-l2announcement"), "{obs}");
    let reqs = d.lab.requests();
    assert_eq!(reqs.iter().filter(|r| is_access_review(r)).count(), 3);
    assert!(
        !reqs
            .iter()
            .any(|r| r.path.contains("rbac.authorization.k8s.io")),
        "{reqs:#?}"
    );
}

/// Reviews refused: doctor evaluates the bindings itself, RoleBindings included.
#[test]
fn lease_rbac_falls_back_to_the_bindings() {
    let d = Doc::new("doctor-lease-rbac-role");
    forbid_access_reviews(&d);
    let (v, code) = d.doctor();
    assert_eq!(code, 0, "{v:#}");
    let f = finding(&v, "lease-rbac");
    assert_eq!(f["verdict"], "pass", "{f:#}");
    let obs = text(f, "observed");
    assert!(obs.starts_with("SubjectAccessReview refused ("), "{obs}");
    assert!(
        obs.contains("RBAC bindings: Role kube-system/cilium-l2announcement via RoleBinding kube-system/cilium-l2announcement grant [create, get, update] on leases"),
        "{obs}"
    );
    assert!(v["unread"].as_array().unwrap().is_empty(), "{v:#}");

    // And without the Roles either, the fresh lease proves the agent can.
    let d = Doc::new("doctor-lease-rbac-role");
    forbid_access_reviews(&d);
    forbid(&d, "/namespaces/kube-system/roles");
    let (v, _) = d.doctor();
    let f = finding(&v, "lease-rbac");
    assert_eq!(f["verdict"], "pass", "{f:#}");
    let obs = text(f, "observed");
    assert!(
        obs.starts_with(
            "Lease kube-system/cilium-l2announce-demo-demo-web held by worker-1 was renewed"
        ),
        "{obs}"
    );
    assert_eq!(
        v["unread"][0]["resource"],
        "roles.rbac.authorization.k8s.io"
    );
}

/// No lease rule at all: a fail that says what the agent WOULD log and a fix granting exactly
/// get, create and update, in the agent namespace, to its ServiceAccount.
#[test]
fn lease_rbac_missing_says_what_the_agent_would_log() {
    for refuse_reviews in [false, true] {
        let d = Doc::new("doctor-lease-rbac-missing");
        if refuse_reviews {
            forbid_access_reviews(&d);
        }
        let (v, code) = d.doctor();
        assert_eq!(code, 1);
        assert_eq!(v["firstFailingCheck"], "lease-rbac", "{v:#}");
        let f = finding(&v, "lease-rbac");
        let obs = text(f, "observed");
        assert!(
            obs.starts_with("system:serviceaccount:kube-system:cilium may not get, create, update leases in kube-system ("),
            "{obs}"
        );
        assert!(
            obs.contains("\nthe agent would log: leases.coordination.k8s.io \"cilium-l2announce-demo-demo-web\" is forbidden: User \"system:serviceaccount:kube-system:cilium\" cannot get resource \"leases\""),
            "{obs}"
        );
        assert!(!obs.contains("the agent logs"), "{obs}");
        if refuse_reviews {
            assert!(
                obs.contains("RBAC bindings: no binding of system:serviceaccount:kube-system:cilium grants anything on leases"),
                "{obs}"
            );
        }
        assert_eq!(
            text(f, "fix"),
            "kubectl -n kube-system create role cilium-l2-leases --verb=get,create,update --resource=leases.coordination.k8s.io\nkubectl -n kube-system create rolebinding cilium-l2-leases --role=cilium-l2-leases --serviceaccount=kube-system:cilium"
        );
    }
}

/// `devices: ens+ bond0`: the selecting policy's `^eth[0-9]+$` matches none of them, a fail
/// that shows the devices; the other policy, which does not select the Service, is reported
/// with its own problems and why it is excluded.
#[test]
fn policy_interfaces_against_the_devices_cilium_manages() {
    let v = fails_at(
        "doctor-interfaces-no-device",
        3,
        "policy-interfaces",
        &[
            "kubectl edit ciliuml2announcementpolicy demo-l2",
            "ens+, bond0",
        ],
    );
    let obs = text(finding(&v, "policy-interfaces"), "observed");
    assert!(
        obs.contains("policy demo-l2: interfaces \"^eth[0-9]+$\" match none of the devices Cilium manages (devices: ens+, bond0): the agent would answer ARP/NDP on no interface"),
        "{obs}"
    );
    assert!(
        obs.contains("policy other-l2: \"ens\" also matches \"vensabc\"")
            && obs.contains("anchored: \"^ens\"")
            && obs.contains("(also excluded for this Service: serviceSelector {\"matchLabels\":{\"color\":\"blue\"}} does not match)"),
        "{obs}"
    );
    let fix = text(finding(&v, "policy-interfaces"), "fix");
    assert!(
        fix.ends_with("# policy other-l2 does not select this Service; for its own Services:\nkubectl patch ciliuml2announcementpolicy other-l2 --type merge -p '{\"spec\":{\"interfaces\":[\"^ens\"]}}'"),
        "{fix}"
    );
    // The summary keeps the cause.
    let summary = text(&v, "summary");
    assert!(summary.contains("match none of the devices"), "{summary}");
}

/// `eth0` unanchored: the warning names a name it would also match, and the fix anchors it.
#[test]
fn unanchored_interface_warns_with_an_example_and_a_real_fix() {
    let v = passes("doctor-unanchored-regex", Some("policy-interfaces"));
    let f = finding(&v, "policy-interfaces");
    let obs = text(f, "observed");
    assert!(
        obs.starts_with("policy demo-l2: \"eth0\" also matches \"eth0.100\"")
            || obs.starts_with("policy demo-l2: \"eth0\" also matches \"veth0abc\""),
        "{obs}"
    );
    assert_eq!(
        text(f, "fix"),
        "kubectl patch ciliuml2announcementpolicy demo-l2 --type merge -p '{\"spec\":{\"interfaces\":[\"^eth0$\"]}}'"
    );
    // Anchored patterns raise nothing.
    let v = passes("doctor-healthy", None);
    assert_eq!(finding(&v, "policy-interfaces")["verdict"], "pass");
}
