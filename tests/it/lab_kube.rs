//! The lab against the kube crate: watches, concurrency, status subresource, generation, selectors.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use kube::Api;
use lbctl::lab::Fault;
use lbctl::model::pool::v2::CiliumLoadBalancerIPPool;
use serde_json::json;

use crate::support;

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()},
        "data": {"k": "v"},
    }))
    .unwrap()
}

#[tokio::test]
async fn raw_watch_sees_added_modified_deleted_in_order() {
    let lab = support::lab(&[]);
    let api: Api<ConfigMap> = Api::namespaced(lab.client().unwrap(), "default");
    let list = api.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut stream = api
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "w"}})),
    )
    .await
    .unwrap();
    api.delete("a", &Default::default()).await.unwrap();
    let mut seen = vec![];
    while seen.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next()).await {
            Ok(Ok(Some(WatchEvent::Added(o)))) => {
                seen.push(("ADDED", o.data.unwrap()["k"].clone()))
            }
            Ok(Ok(Some(WatchEvent::Modified(o)))) => {
                seen.push(("MODIFIED", o.data.unwrap()["k"].clone()))
            }
            Ok(Ok(Some(WatchEvent::Deleted(o)))) => {
                seen.push(("DELETED", o.data.unwrap()["k"].clone()))
            }
            Ok(Ok(Some(_))) => {}
            other => panic!("watch ended early: {other:?}"),
        }
    }
    assert_eq!(
        seen,
        vec![
            ("ADDED", "v".to_string()),
            ("MODIFIED", "w".to_string()),
            ("DELETED", "w".to_string())
        ]
    );
}

#[tokio::test]
async fn stale_update_conflicts_and_create_twice_already_exists() {
    let lab = support::lab(&[]);
    let api: Api<ConfigMap> = Api::namespaced(lab.client().unwrap(), "default");
    let created = api
        .create(&PostParams::default(), &cm("c", &[]))
        .await
        .unwrap();
    let mut fresh = created.clone();
    fresh.data = Some([("k".to_string(), "new".to_string())].into());
    api.replace("c", &PostParams::default(), &fresh)
        .await
        .unwrap();
    // `created` still carries the old resourceVersion.
    let err = api
        .replace("c", &PostParams::default(), &created)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
            assert!(
                s.message.contains("the object has been modified"),
                "{}",
                s.message
            );
        }
        other => panic!("{other:?}"),
    }
    let err = api
        .create(&PostParams::default(), &cm("c", &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err:?}"
    );
    let err = api.get("missing").await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404 && s.message == "configmaps \"missing\" not found"),
        "{err:?}"
    );
}

#[tokio::test]
async fn status_subresource_is_separate_and_services_have_no_generation() {
    let lab = support::lab(&["demo"]);
    let api: Api<Service> = Api::namespaced(lab.client().unwrap(), "demo");
    let svc = api.get("demo-web").await.unwrap();
    // A Service's strategy never sets metadata.generation (only some kinds' do).
    assert_eq!(svc.metadata.generation, None);
    let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.168.111.200"}]}}});
    // A status write through the main resource is ignored…
    let after = api
        .patch(
            "demo-web",
            &PatchParams::default(),
            &Patch::Merge(status.clone()),
        )
        .await
        .unwrap();
    assert!(after
        .status
        .unwrap()
        .load_balancer
        .unwrap()
        .ingress
        .is_none());
    // …and through the subresource it lands without touching generation.
    let after = api
        .patch_status("demo-web", &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
    assert_eq!(
        after
            .status
            .as_ref()
            .unwrap()
            .load_balancer
            .as_ref()
            .unwrap()
            .ingress
            .as_ref()
            .unwrap()[0]
            .ip
            .as_deref(),
        Some("192.168.111.200")
    );
    assert_eq!(after.metadata.generation, None);
    // Spec changes through the status subresource are ignored.
    let after = api
        .patch_status(
            "demo-web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"sessionAffinity": "ClientIP"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        after.spec.as_ref().unwrap().session_affinity.as_deref(),
        Some("None")
    );
    // Neither labels nor spec give a Service a generation; the main write keeps status.
    let after = api
        .patch(
            "demo-web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(after.metadata.generation, None);
    let after = api
        .patch(
            "demo-web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"externalTrafficPolicy": "Local"}})),
        )
        .await
        .unwrap();
    assert_eq!(after.metadata.generation, None);
    assert!(after
        .status
        .unwrap()
        .load_balancer
        .unwrap()
        .ingress
        .is_some());
}

#[tokio::test]
async fn custom_resources_bump_generation_outside_metadata_and_status() {
    let lab = support::lab(&["demo"]);
    let client = lab.client().unwrap();
    let pools: Api<CiliumLoadBalancerIPPool> = Api::all(client.clone());
    let pool: CiliumLoadBalancerIPPool = serde_json::from_value(json!({
        "apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool",
        "metadata": {"name": "gen"},
        "spec": {"blocks": [{"cidr": "10.9.0.0/24"}]},
    }))
    .unwrap();
    let p = pools.create(&PostParams::default(), &pool).await.unwrap();
    assert_eq!(p.metadata.generation, Some(1));
    let pp = PatchParams::default();
    let p = pools
        .patch(
            "gen",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(p.metadata.generation, Some(1), "metadata does not count");
    let p = pools
        .patch_status(
            "gen",
            &pp,
            &Patch::Merge(
                json!({"status": {"conditions": [{"type": "x", "status": "True",
                "reason": "r", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z",
                "observedGeneration": 0}]}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(p.metadata.generation, Some(1), "status does not count");
    // A custom resource is stored as sent: its zero observedGeneration stays.
    assert_eq!(
        p.status.unwrap().conditions.unwrap()[0].observed_generation,
        Some(0)
    );
    let p = pools
        .patch(
            "gen",
            &pp,
            &Patch::Merge(json!({"spec": {"disabled": true}})),
        )
        .await
        .unwrap();
    assert_eq!(p.metadata.generation, Some(2));
    // Kinds whose strategy sets no generation never get one.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let c = cms
        .create(&PostParams::default(), &cm("nogen", &[]))
        .await
        .unwrap();
    assert_eq!(c.metadata.generation, None);
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client, "default");
    let l = leases
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "nogen"},
                "spec": {"holderIdentity": "a", "renewTime": "2026-01-01T00:00:00.123456789Z"}}))
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(l.metadata.generation, None);
}

#[tokio::test]
async fn a_service_condition_reads_back_as_the_server_encodes_it() {
    let lab = support::lab(&["demo"]);
    let api: Api<Service> = Api::namespaced(lab.client().unwrap(), "demo");
    let body = json!({"status": {"conditions": [{"type": "example.com/Ready", "status": "True",
        "reason": "Ok", "message": "", "observedGeneration": 0,
        "lastTransitionTime": "2026-01-02T03:04:05.678Z"}],
        "loadBalancer": {"ingress": [{"ip": "192.168.111.200"}]}}});
    let raw = lab.url() + "/api/v1/namespaces/demo/services/demo-web/status";
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-X",
            "PATCH",
            "-H",
            "Content-Type: application/merge-patch+json",
        ])
        .args(["--data", &body.to_string(), &raw])
        .output()
        .unwrap();
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &got["status"]["conditions"][0];
    // observedGeneration is omitempty in Go: a 0 is not kept; metav1.Time keeps whole seconds.
    assert!(c.get("observedGeneration").is_none(), "{c}");
    assert_eq!(c["lastTransitionTime"], "2026-01-02T03:04:05Z");
    // A LoadBalancer's ingress IP is defaulted to ipMode VIP.
    assert_eq!(
        got["status"]["loadBalancer"]["ingress"],
        json!([{"ip": "192.168.111.200", "ipMode": "VIP"}])
    );
    let svc = api.get("demo-web").await.unwrap();
    let c = &svc.status.unwrap().conditions.unwrap()[0];
    assert_eq!(c.observed_generation, None);
}

#[tokio::test]
async fn watcher_relists_after_410_and_recovers() {
    let lab = support::lab(&[]);
    let client = lab.client().unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("before", &[]))
        .await
        .unwrap();
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut saw_init_done = 0;
    // Wait for the first full list.
    while saw_init_done == 0 {
        if let Some(Ok(watcher::Event::InitDone)) = events.next().await {
            saw_init_done += 1;
        }
    }
    // Make sure the watch is live before its resourceVersion is expired under it.
    api.create(&PostParams::default(), &cm("mid", &[]))
        .await
        .unwrap();
    loop {
        if let Some(Ok(watcher::Event::Apply(o))) = events.next().await {
            if o.metadata.name.as_deref() == Some("mid") {
                break;
            }
        }
    }
    let lists_before = lab
        .requests()
        .iter()
        .filter(|r| r.verb() == "get" && r.path.ends_with("/configmaps"))
        .count();
    lab.expire_resource_versions();
    lab.cut_watches();
    api.create(&PostParams::default(), &cm("after", &[]))
        .await
        .unwrap();
    let found = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(ev) = events.next().await {
            match ev {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o))
                    if o.metadata.name.as_deref() == Some("after") =>
                {
                    return true
                }
                _ => {}
            }
        }
        false
    })
    .await
    .expect("watcher recovered within 15 s");
    assert!(found);
    let lists_after = lab
        .requests()
        .iter()
        .filter(|r| r.verb() == "get" && r.path.ends_with("/configmaps"))
        .count();
    assert!(
        lists_after > lists_before,
        "the watcher relisted ({lists_before} -> {lists_after})"
    );
    assert!(
        lab.requests().iter().any(|r| r.verb() == "watch"),
        "it watched"
    );
}

#[tokio::test]
async fn label_and_field_selectors() {
    let lab = support::lab(&[]);
    let api: Api<ConfigMap> = Api::namespaced(lab.client().unwrap(), "default");
    for (n, l) in [("a", "x"), ("b", "y"), ("c", "x")] {
        api.create(&PostParams::default(), &cm(n, &[("team", l)]))
            .await
            .unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        l.items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .collect()
    };
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("team=x"))
                .await
                .unwrap()
        ),
        ["a", "c"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("team in (y),team!=x"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=c"))
                .await
                .unwrap()
        ),
        ["c"]
    );
    assert_eq!(
        names(
            api.list(
                &ListParams::default()
                    .fields("metadata.name!=c")
                    .labels("team=x")
            )
            .await
            .unwrap()
        ),
        ["a"]
    );
    let all: Api<ConfigMap> = Api::all(lab.client().unwrap());
    assert_eq!(
        names(
            all.list(&ListParams::default().fields("metadata.namespace=default"))
                .await
                .unwrap()
        )
        .len(),
        3
    );
    let err = api
        .list(&ListParams::default().fields("metadata.name"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 400),
        "{err:?}"
    );
}

#[tokio::test]
async fn field_selectors_name_only_what_each_kind_indexes() {
    let lab = support::lab(&["demo"]);
    let client = lab.client().unwrap();
    let svcs: Api<Service> = Api::all(client.clone());
    let list = |api: Api<Service>, f: &'static str| async move {
        api.list(&ListParams::default().fields(f)).await
    };
    let lb = list(svcs.clone(), "spec.type=LoadBalancer").await.unwrap();
    assert_eq!(lb.items.len(), 1);
    let err = list(svcs.clone(), "spec.externalTrafficPolicy=Local")
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"));
            assert_eq!(
                s.message,
                "\"spec.externalTrafficPolicy\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\", \"spec.clusterIP\", \"spec.type\""
            );
        }
        other => panic!("{other:?}"),
    }
    // Watches are held to the same rule.
    let err = svcs
        .watch(&WatchParams::default().fields("status.loadBalancer=x"), "0")
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 400),
        "{err:?}"
    );
    // Syntax errors are 400s too.
    for bad in ["metadata.name", "metadata.name=a=b", "metadata.name=a\\x"] {
        let err = list(svcs.clone(), bad).await.unwrap_err();
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 400),
            "{bad}: {err:?}"
        );
    }
    // Nodes index metadata.name and spec.unschedulable (a missing boolean reads "false").
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let schedulable = nodes
        .list(&ListParams::default().fields("spec.unschedulable=false"))
        .await
        .unwrap();
    assert_eq!(schedulable.items.len(), 2);
    let err = nodes
        .list(&ListParams::default().fields("metadata.namespace=x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.message == "\"metadata.namespace\" is not a known field selector: only \"metadata.name\", \"spec.unschedulable\""),
        "{err:?}"
    );
    // Custom resources: name and namespace only (no selectableFields in Cilium's CRDs).
    let pools: Api<CiliumLoadBalancerIPPool> = Api::all(client);
    let err = pools
        .list(&ListParams::default().fields("spec.disabled=false"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.message == "\"spec.disabled\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_failed_json_patch_test_is_the_servers_fixed_422() {
    let lab = support::lab(&["demo"]);
    let svcs: Api<Service> = Api::namespaced(lab.client().unwrap(), "demo");
    let p: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/type", "value": "ClusterIP"}]))
            .unwrap();
    let err = svcs
        .patch("demo-web", &PatchParams::default(), &Patch::Json::<()>(p))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
            assert_eq!(
                s.message,
                "the server rejected our request due to an error in our request"
            );
        }
        other => panic!("{other:?}"),
    }
    // The test passing lets the rest apply.
    let p: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/type", "value": "LoadBalancer"},
        {"op": "add", "path": "/metadata/labels/t", "value": "ok"}]))
    .unwrap();
    let s = svcs
        .patch("demo-web", &PatchParams::default(), &Patch::Json::<()>(p))
        .await
        .unwrap();
    assert_eq!(s.metadata.labels.unwrap()["t"], "ok");
}

#[tokio::test]
async fn pools_are_served_as_v2_and_v2alpha1_and_validated() {
    let lab = support::lab(&["demo"]);
    let client = lab.client().unwrap();
    let v2: Api<CiliumLoadBalancerIPPool> = Api::all(client.clone());
    let pool: CiliumLoadBalancerIPPool = serde_json::from_value(json!({
        "apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool",
        "metadata": {"name": "lan-vips"},
        "spec": {"blocks": [{"start": "192.168.111.200", "stop": "192.168.111.250"}]},
    }))
    .unwrap();
    v2.create(&PostParams::default(), &pool).await.unwrap();
    let old: Api<lbctl::model::pool::v2alpha1::CiliumLoadBalancerIPPool> = Api::all(client.clone());
    let got = old.get("lan-vips").await.unwrap();
    assert_eq!(
        got.spec.blocks.unwrap()[0].start.as_deref(),
        Some("192.168.111.200")
    );
    // Type errors are refused as a real server would (422), whatever the field validation mode.
    let dynamic = kube::Api::<kube::api::DynamicObject>::all_with(
        client,
        &kube::api::ApiResource::erase::<CiliumLoadBalancerIPPool>(&()),
    );
    let bad: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool",
        "metadata": {"name": "bad"}, "spec": {"disabled": "yes", "allowFirstLastIPs": "Maybe"},
    }))
    .unwrap();
    let err = dynamic
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 422);
            // The type error names the value's type, not the value, as a real server's does.
            assert!(
                s.message.contains(
                    "spec.disabled: Invalid value: \"string\": spec.disabled in body must be of type boolean: \"string\""
                ),
                "{}",
                s.message
            );
            assert!(
                s.message
                    .contains("spec.allowFirstLastIPs: Unsupported value: \"Maybe\""),
                "{}",
                s.message
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn injected_faults_and_malformed_bodies_get_status_errors() {
    let lab = support::lab(&[]);
    let api: Api<ConfigMap> = Api::namespaced(lab.client().unwrap(), "default");
    lab.inject(Fault {
        method: Some("GET".into()),
        path_contains: "/configmaps".into(),
        status: Some(500),
        count: 1,
        ..Default::default()
    });
    let err = api.list(&ListParams::default()).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 500),
        "{err:?}"
    );
    api.list(&ListParams::default())
        .await
        .expect("only one request was faulted");
    let http = reqwest_like_post(
        &lab.url(),
        "/api/v1/namespaces/default/configmaps",
        "{not json",
    )
    .await;
    assert!(http.starts_with("HTTP/1.1 400"), "{http}");
    assert!(http.contains("\"kind\":\"Status\""), "{http}");
    let http = reqwest_like_post(
        &lab.url(),
        "/api/v1/namespaces/nope/configmaps",
        r#"{"metadata":{"name":"x"}}"#,
    )
    .await;
    assert!(
        http.starts_with("HTTP/1.1 404") && http.contains("namespaces \\\"nope\\\" not found"),
        "{http}"
    );
}

/// A raw HTTP/1.1 POST, to send bodies no typed client would produce.
async fn reqwest_like_post(base: &str, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[test]
fn bad_scenario_files_are_cli_errors_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("broken.yaml");
    std::fs::write(
        &f,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: [oops\n",
    )
    .unwrap();
    let out = support::lbctl(None, &["lab", "up", "--scenario", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", support::stderr(&out));
    let err = support::stderr(&out);
    assert!(
        err.contains("broken.yaml: document 2 (starting at line 5)"),
        "{err}"
    );
    let out = support::lbctl(None, &["lab", "up", "--scenario", "no-such-scenario"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        support::stderr(&out).contains("neither an embedded scenario (demo"),
        "{}",
        support::stderr(&out)
    );
}

#[tokio::test]
async fn lists_come_in_chunks_with_continue_tokens() {
    let lab = support::lab(&[]);
    let client = lab.client().unwrap();
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "paging"}})).unwrap(),
    )
    .await
    .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "paging");
    for i in 0..5 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), &[]))
            .await
            .unwrap();
    }
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let token = first.metadata.continue_.clone().expect("a continue token");
    let rv = first.metadata.resource_version.clone();
    let mut names: Vec<String> = first
        .items
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    let mut next = Some(token.clone());
    while let Some(t) = next {
        let page = api
            .list(&ListParams::default().limit(2).continue_token(&t))
            .await
            .unwrap();
        assert_eq!(
            page.metadata.resource_version, rv,
            "every page reports the first page's version"
        );
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        next = page.metadata.continue_.filter(|c| !c.is_empty());
    }
    assert_eq!(names, ["c0", "c1", "c2", "c3", "c4"]);
    // kube's own paging (the watcher's pages of 500) sees the same.
    let all = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), 5);
    assert!(all.metadata.continue_.is_none_or(|c| c.is_empty()));

    // A forged token is a 400; one from before the retained history is a 410, like etcd's.
    let bad = api
        .list(&ListParams::default().limit(2).continue_token("nonsense"))
        .await
        .unwrap_err();
    assert!(
        matches!(&bad, kube::Error::Api(s) if s.code == 400),
        "{bad:?}"
    );
    lab.expire_resource_versions();
    let gone = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap_err();
    assert!(
        matches!(&gone, kube::Error::Api(s) if s.code == 410 && s.reason == "Expired"),
        "{gone:?}"
    );
}
