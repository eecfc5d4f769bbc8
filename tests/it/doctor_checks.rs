//! doctor's checks that must read the cluster correctly (issue #10, §2): lease RBAC from every
//! source, policy interfaces against the devices Cilium manages, lease load by kind of lease,
//! summaries that keep the cause, and scenario time relative to loading.

use serde_json::Value;

use crate::doctor::{fails_at, finding, passes, Doc};
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
    assert!(text(lease, "observed").contains("holder \"worker-1\""), "{lease:#}");
    // And the expired one stays expired, however late it is loaded.
    let v = fails_at(
        "doctor-lease-expired",
        5,
        "lease",
        &["cilium-l2announce-demo-demo-web"],
    );
    let obs = text(finding(&v, "lease"), "observed");
    assert!(obs.contains("renewed 60s ago") || obs.contains("renewed 61s ago"), "{obs}");
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
        obs.contains("of a Service that is not type LoadBalancer: cilium-l2announce-demo-demo-internal"),
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
    let all: Value = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    let row = text(&all["items"][0], "summary");
    assert!(
        row.starts_with("no pool selects demo/demo-web: pool demo-pool: serviceSelector"),
        "{row}"
    );
    let o = d.run(&["doctor", "--all", "-n", "demo"]);
    let table = stdout(&o);
    assert!(table.contains("pool demo-pool"), "{table}");
}
