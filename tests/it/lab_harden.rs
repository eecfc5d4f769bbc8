//! The lab as a real API server behaves where it is inconvenient: server-side apply ownership,
//! malformed requests answered with a Status (never a dropped connection), bounded memory.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::Api;
use lbctl::lab::limits::Limits;
use lbctl::model::pool::v2::CiliumLoadBalancerIPPool;
use serde_json::{json, Value};

use crate::support;

/// One HTTP/1.1 request on its own connection: (status, body as JSON). A dropped connection
/// (what a panicking handler used to cause) is a panic here.
fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: lab\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut out = vec![];
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP response to {method} {path}: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let body = serde_json::from_str(body.trim()).unwrap_or(Value::String(body.to_string()));
    (status, body)
}

fn cm(name: &str, data: &[(&str, &str)]) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
        "data": data.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()})
}

fn api_error(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.message),
        other => panic!("expected a Status, got {other:?}"),
    }
}

#[tokio::test]
async fn kube_apply_records_owners_conflicts_and_force_takes_over() {
    let lab = support::lab(&["demo"]);
    let client = lab.client().unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let a = cms
        .patch(
            "owned",
            &PatchParams::apply("x"),
            &Patch::Apply(cm("owned", &[("k", "1"), ("only-x", "y")])),
        )
        .await
        .unwrap();
    let mf = a.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf.len(), 1, "{mf:?}");
    assert_eq!(
        (mf[0].manager.as_deref(), mf[0].operation.as_deref()),
        (Some("x"), Some("Apply"))
    );
    assert_eq!(mf[0].fields_type.as_deref(), Some("FieldsV1"));
    assert_eq!(
        mf[0].fields_v1.as_ref().unwrap().0,
        json!({"f:data": {"f:k": {}, "f:only-x": {}}})
    );
    assert!(mf[0].time.is_some());

    let err = cms
        .patch(
            "owned",
            &PatchParams::apply("z"),
            &Patch::Apply(cm("owned", &[("k", "2")])),
        )
        .await
        .unwrap_err();
    assert_eq!(
        api_error(err),
        (
            409,
            "Apply failed with 1 conflict: conflict with \"x\": .data.k".to_string()
        )
    );
    let forced = cms
        .patch(
            "owned",
            &PatchParams::apply("z").force(),
            &Patch::Apply(cm("owned", &[("k", "2")])),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["k"], "2");
    let owners: Vec<(String, Value)> = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|e| (e.manager.unwrap(), e.fields_v1.unwrap().0))
        .collect();
    assert!(
        owners.contains(&("x".into(), json!({"f:data": {"f:only-x": {}}}))),
        "{owners:?}"
    );
    assert!(
        owners.contains(&("z".into(), json!({"f:data": {"f:k": {}}}))),
        "{owners:?}"
    );

    // x re-applies without its own key: it goes; z's stays.
    let again = cms
        .patch(
            "owned",
            &PatchParams::apply("x"),
            &Patch::Apply(cm("owned", &[])),
        )
        .await
        .unwrap();
    assert_eq!(again.data.unwrap().into_keys().collect::<Vec<_>>(), ["k"]);

    // A merge patch by another client is an Update entry named after its field manager.
    let patched = cms
        .patch(
            "owned",
            &PatchParams {
                field_manager: Some("editor".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"e": "1"}})),
        )
        .await
        .unwrap();
    let editor = patched
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|e| e.manager.as_deref() == Some("editor"))
        .unwrap();
    assert_eq!(editor.operation.as_deref(), Some("Update"));
    assert_eq!(editor.api_version.as_deref(), Some("v1"));
    assert_eq!(editor.fields_v1.unwrap().0, json!({"f:data": {"f:e": {}}}));

    // Two appliers on one pool's blocks (a CRD's atomic list).
    let pools: Api<CiliumLoadBalancerIPPool> = Api::all(client);
    let pool = |cidr: &str| {
        json!({"apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool",
            "metadata": {"name": "kube-ssa"}, "spec": {"blocks": [{"cidr": cidr}]}})
    };
    pools
        .patch(
            "kube-ssa",
            &PatchParams::apply("bar-a"),
            &Patch::Apply(pool("10.1.0.0/24")),
        )
        .await
        .unwrap();
    let err = pools
        .patch(
            "kube-ssa",
            &PatchParams::apply("bar-b"),
            &Patch::Apply(pool("10.2.0.0/24")),
        )
        .await
        .unwrap_err();
    assert_eq!(
        api_error(err),
        (
            409,
            "Apply failed with 1 conflict: conflict with \"bar-a\": .spec.blocks".to_string()
        )
    );
}

#[tokio::test]
async fn kube_deletes_a_namespace_with_objects_and_the_lab_keeps_answering() {
    let lab = support::lab(&[]);
    let client = lab.client().unwrap();
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "scratch-kube"}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "scratch-kube");
    let c: ConfigMap = serde_json::from_value(cm("inside", &[("a", "b")])).unwrap();
    cms.create(&PostParams::default(), &c).await.unwrap();
    let step = Duration::from_secs(10);
    tokio::time::timeout(step, nss.delete("scratch-kube", &Default::default()))
        .await
        .expect("namespace delete answers")
        .unwrap();
    let left = tokio::time::timeout(step, cms.list(&Default::default()))
        .await
        .expect("the lab still answers after a namespace delete")
        .unwrap();
    assert!(left.items.is_empty());
}

#[test]
fn malformed_patches_and_watch_parameters_get_a_status() {
    let lab = support::lab(&[]);
    let addr = lab.addr();
    let (code, _) = raw(
        addr,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        cm("p", &[("a", "b")]).to_string().as_bytes(),
    );
    assert_eq!(code, 201);
    let path = "/api/v1/namespaces/default/configmaps/p";
    let merge = "application/merge-patch+json";
    let jsonp = "application/json-patch+json";
    for (ct, body, want) in [
        (merge, r#"[1,2,3]"#, 422),
        (merge, r#""hello""#, 422),
        (merge, r#"{"metadata":5}"#, 422),
        (
            jsonp,
            r#"[{"op":"replace","path":"/metadata","value":"x"}]"#,
            422,
        ),
        (jsonp, r#"[{"op":"replace","path":"","value":[1]}]"#, 422),
        ("application/apply-patch+yaml", "[1, 2]", 400),
        ("application/apply-patch+yaml", "hello", 400),
        ("application/strategic-merge-patch+json", "[1]", 400),
    ] {
        let (code, st) = raw(
            addr,
            "PATCH",
            &format!("{path}?fieldManager=t"),
            ct,
            body.as_bytes(),
        );
        assert_eq!(code, want, "{ct} {body}: {st}");
        assert_eq!(st["kind"], "Status", "{ct} {body}: {st}");
    }
    let (_, st) = raw(addr, "PATCH", path, merge, b"[1,2,3]");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("couldn't get version/kind; json parse error"),
        "{st}"
    );
    let (_, st) = raw(addr, "PATCH", path, merge, br#"{"metadata":5}"#);
    assert!(
        st["message"].as_str().unwrap().contains("json: cannot unmarshal number into Go struct field ConfigMap.metadata of type v1.ObjectMeta"),
        "{st}"
    );
    let (code, st) = raw(
        addr,
        "GET",
        "/api/v1/configmaps?watch=true&timeoutSeconds=18446744073709551615",
        "application/json",
        b"",
    );
    assert_eq!(
        (code, st["message"].as_str()),
        (
            400,
            Some("strconv.ParseInt: parsing \"18446744073709551615\": value out of range")
        )
    );
    let (code, st) = raw(
        addr,
        "GET",
        "/api/v1/configmaps?watch=true&timeoutSeconds=abc",
        "application/json",
        b"",
    );
    assert_eq!(
        (code, st["message"].as_str()),
        (
            400,
            Some("strconv.ParseInt: parsing \"abc\": invalid syntax")
        )
    );
    // A negative timeout ends the watch at once (Go's negative duration), not never.
    let started = std::time::Instant::now();
    let (code, _) = raw(
        addr,
        "GET",
        "/api/v1/configmaps?watch=true&timeoutSeconds=-1",
        "application/json",
        b"",
    );
    assert_eq!(code, 200);
    assert!(started.elapsed() < Duration::from_secs(10));
    // The object is untouched by all of it, and the lab still serves.
    let (code, got) = raw(addr, "GET", path, "application/json", b"");
    assert_eq!((code, &got["data"]), (200, &json!({"a": "b"})));
}

#[test]
fn bodies_that_do_not_fit_the_kind_are_rejected_as_on_a_real_server() {
    let lab = support::lab(&["demo"]);
    let addr = lab.addr();
    // A ConfigMap sent to the Services endpoint: named after the conversion, not the version.
    let (code, st) = raw(
        addr,
        "POST",
        "/api/v1/namespaces/default/services",
        "application/json",
        cm("wrong", &[]).to_string().as_bytes(),
    );
    assert_eq!(code, 400);
    assert_eq!(
        st["message"],
        "ConfigMap in version \"v1\" cannot be handled as a Service: converting (v1.ConfigMap) to (core.Service): unknown conversion"
    );
    // A status that would break every typed reader is refused, not stored.
    let svc_path = "/api/v1/namespaces/demo/services/demo-web";
    let (_, mut svc) = raw(addr, "GET", svc_path, "application/json", b"");
    svc["status"] = json!({"loadBalancer": {"ingress": "notalist"}});
    let (code, st) = raw(
        addr,
        "PUT",
        &format!("{svc_path}/status"),
        "application/json",
        svc.to_string().as_bytes(),
    );
    assert_eq!(code, 400, "{st}");
    assert_eq!(
        st["message"],
        "Service in version \"v1\" cannot be handled as a Service: json: cannot unmarshal string into Go struct field LoadBalancerStatus.status.loadBalancer.ingress of type []v1.LoadBalancerIngress"
    );
    // An apply whose body names another object.
    let other =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}).to_string();
    let (code, st) = raw(
        addr,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/a?fieldManager=t",
        "application/apply-patch+yaml",
        other.as_bytes(),
    );
    assert_eq!(
        (code, st["message"].as_str()),
        (
            400,
            Some("the name of the object (b) does not match the name on the URL (a)")
        )
    );
    let other = json!({"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
        .to_string();
    let (code, st) = raw(
        addr,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/a?fieldManager=t",
        "application/apply-patch+yaml",
        other.as_bytes(),
    );
    assert_eq!(
        (code, st["message"].as_str()),
        (400, Some("Incorrect version specified in apply patch. Specified patch version: apps/v1, expected: v1"))
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let svcs: Api<Service> = Api::all(lab.client().unwrap());
        assert!(!svcs
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty());
    });
}

#[tokio::test]
async fn oversized_bodies_are_413_and_history_is_bounded() {
    let lab = support::lab(&[]);
    let limit = 1 << 20;
    lab.set_limits(Limits {
        history_bytes: limit,
        ..Default::default()
    });
    let cms: Api<ConfigMap> = Api::namespaced(lab.client().unwrap(), "default");
    let big = "x".repeat(4 << 20);
    let c: ConfigMap = serde_json::from_value(cm("big", &[("k", &big)])).unwrap();
    assert_eq!(
        api_error(cms.create(&PostParams::default(), &c).await.unwrap_err()),
        (
            413,
            "Request entity too large: limit is 3145728".to_string()
        )
    );

    let first = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(cm("grows", &[])).unwrap(),
        )
        .await
        .unwrap();
    let first_rv = first.metadata.resource_version.unwrap();
    let chunk = "y".repeat(400 << 10);
    for i in 0..6 {
        cms.patch(
            "grows",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": format!("{i}{chunk}")}})),
        )
        .await
        .unwrap();
        let u = lab.usage();
        assert!(
            u.history_bytes <= limit,
            "history {} bytes > {limit}",
            u.history_bytes
        );
    }
    cms.delete("grows", &Default::default()).await.unwrap();
    assert!(lab.usage().history_bytes <= limit);
    // What was compacted away is gone for watches too: 410, as after an etcd compaction.
    let mut w = cms
        .watch(&WatchParams::default().timeout(5), &first_rv)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(10), w.try_next()).await {
        Ok(Ok(Some(WatchEvent::Error(e)))) => assert_eq!(e.code, 410),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
}

#[test]
fn the_request_log_is_bounded() {
    let lab = support::lab(&[]);
    lab.set_limits(Limits {
        request_log: 5,
        ..Default::default()
    });
    for _ in 0..20 {
        raw(
            lab.addr(),
            "GET",
            "/api/v1/namespaces",
            "application/json",
            b"",
        );
    }
    assert_eq!(lab.usage().request_log, 5);
    assert_eq!(lab.requests().len(), 5);
    assert!(lab.request_count() >= 20);
    let (recent, next) = lab.requests_since(0);
    assert_eq!((recent.len(), next), (5, lab.request_count()));
    lab.set_limits(Limits {
        request_log: 0,
        ..Default::default()
    });
    raw(
        lab.addr(),
        "GET",
        "/api/v1/namespaces",
        "application/json",
        b"",
    );
    assert_eq!(lab.usage().request_log, 0);
}

#[tokio::test]
async fn invalid_label_selectors_are_a_400_with_the_apiservers_message() {
    let lab = support::lab(&[]);
    let cms: Api<ConfigMap> = Api::namespaced(lab.client().unwrap(), "default");
    for (sel, msg) in [
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("==", "found '==', expected: !, identifier, or 'end of string'"),
        (
            "a>b",
            "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        ("a=b c=d", "found 'c', expected: ',' or 'end of string'"),
    ] {
        let err = cms.list(&kube::api::ListParams::default().labels(sel)).await.unwrap_err();
        assert_eq!(api_error(err), (400, msg.to_string()), "{sel}");
    }
    // Set-based and numeric selectors work.
    let mut c: ConfigMap = serde_json::from_value(cm("sel", &[])).unwrap();
    c.metadata.labels = Some([("n".to_string(), "7".to_string())].into());
    cms.create(&PostParams::default(), &c).await.unwrap();
    let got = cms
        .list(&kube::api::ListParams::default().labels("n>5,n in (7,8)"))
        .await
        .unwrap();
    assert_eq!(got.items.len(), 1);
    let got = cms
        .list(&kube::api::ListParams::default().labels("n<5"))
        .await
        .unwrap();
    assert!(got.items.is_empty());
}

#[test]
fn crds_cannot_claim_the_core_group_or_shadow_built_ins() {
    let lab = support::lab(&[]);
    let addr = lab.addr();
    let crd = |name: &str, group: &str, plural: &str| {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"group": group, "scope": "Namespaced",
                "names": {"plural": plural, "kind": "Thing", "singular": "thing", "listKind": "ThingList"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})
        .to_string()
    };
    let path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let (code, st) = raw(
        addr,
        "POST",
        path,
        "application/json",
        crd("services", "", "services").as_bytes(),
    );
    assert_eq!(code, 422, "{st}");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("spec.group: Required value"),
        "{st}"
    );
    let (code, st) = raw(
        addr,
        "POST",
        path,
        "application/json",
        crd("things.local", "local", "things").as_bytes(),
    );
    assert_eq!(code, 422, "{st}");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("should be a domain with at least one dot"),
        "{st}"
    );
    let (code, st) = raw(
        addr,
        "POST",
        path,
        "application/json",
        crd("x.example.com", "example.com", "things").as_bytes(),
    );
    assert_eq!(code, 422, "{st}");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("must be spec.names.plural+\".\"+spec.group"),
        "{st}"
    );
    // An approved CRD in a built-in's group and plural does not shadow it: listed once.
    let mut shadow: Value = serde_json::from_str(&crd(
        "endpointslices.discovery.k8s.io",
        "discovery.k8s.io",
        "endpointslices",
    ))
    .unwrap();
    shadow["metadata"]["annotations"] = json!({"api-approved.kubernetes.io": "unapproved"});
    shadow["spec"]["versions"][0]["name"] = json!("v1");
    let (code, st) = raw(
        addr,
        "POST",
        path,
        "application/json",
        shadow.to_string().as_bytes(),
    );
    assert_eq!(code, 201, "{st}");
    let (_, list) = raw(
        addr,
        "GET",
        "/apis/discovery.k8s.io/v1",
        "application/json",
        b"",
    );
    let n = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == "endpointslices")
        .count();
    assert_eq!(n, 1, "{list}");
    assert_eq!(
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "endpointslices")
            .unwrap()["kind"],
        "EndpointSlice"
    );
}

/// Every 422 the lab makes is `NewInvalid`'s: the kind qualified by its group in the message,
/// several errors aggregated in brackets, and details with one cause per field error (kubectl
/// prints "The <kind> <name> is invalid" from the details, and only "The request is invalid"
/// without them).
#[test]
fn invalid_objects_get_new_invalid_statuses() {
    let lab = support::lab(&[]);
    let addr = lab.addr();
    let crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let crd = |name: &str, group: &str| {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"group": group, "scope": "Namespaced",
                "names": {"plural": "things", "kind": "Thing", "singular": "thing", "listKind": "ThingList"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})
        .to_string()
    };
    // Two errors: aggregated as Go aggregates them.
    let (code, st) = raw(
        addr,
        "POST",
        crds,
        "application/json",
        crd("things", "").as_bytes(),
    );
    assert_eq!(code, 422, "{st}");
    assert_eq!(
        st["message"],
        "CustomResourceDefinition.apiextensions.k8s.io \"things\" is invalid: [metadata.name: Invalid value: \"things\": must be spec.names.plural+\".\"+spec.group, spec.group: Required value]"
    );
    assert_eq!(
        st["details"],
        json!({"name": "things", "group": "apiextensions.k8s.io", "kind": "CustomResourceDefinition",
            "causes": [
                {"reason": "FieldValueInvalid", "field": "metadata.name",
                    "message": "Invalid value: \"things\": must be spec.names.plural+\".\"+spec.group"},
                {"reason": "FieldValueRequired", "field": "spec.group", "message": "Required value"}]})
    );
    let (code, st) = raw(
        addr,
        "POST",
        crds,
        "application/json",
        crd("things.example.com", "example.com").as_bytes(),
    );
    assert_eq!(code, 201, "{st}");
    // A custom resource's name error names the kind with its group.
    let things = "/apis/example.com/v1/namespaces/default/things";
    let bad =
        json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "Bad_Name"}});
    let (code, st) = raw(
        addr,
        "POST",
        things,
        "application/json",
        bad.to_string().as_bytes(),
    );
    assert_eq!(code, 422, "{st}");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .starts_with("Thing.example.com \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"),
        "{st}"
    );
    assert_eq!(
        (
            &st["details"]["group"],
            &st["details"]["kind"],
            &st["details"]["name"]
        ),
        (&json!("example.com"), &json!("Thing"), &json!("Bad_Name")),
        "{st}"
    );
    assert_eq!(st["details"]["causes"][0]["field"], "metadata.name", "{st}");
    // No name: the name is empty, so details leave it out.
    let nameless = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
    let (code, st) = raw(
        addr,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        nameless.to_string().as_bytes(),
    );
    assert_eq!(code, 422, "{st}");
    assert_eq!(
        st["message"],
        "ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required"
    );
    assert_eq!(
        st["details"],
        json!({"kind": "ConfigMap", "causes": [{"reason": "FieldValueRequired", "field": "metadata.name",
            "message": "Required value: name or generateName is required"}]})
    );
    // An apply without a fieldManager: PatchOptions is what is invalid.
    let (code, st) = raw(
        addr,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/x",
        "application/apply-patch+yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    );
    assert_eq!(code, 422, "{st}");
    assert_eq!(
        st["details"],
        json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{"reason": "FieldValueRequired",
            "field": "fieldManager", "message": "Required value: is required for apply patch"}]})
    );
}
