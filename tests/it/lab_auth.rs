//! The lab authenticates and authorizes as a kube-apiserver does: service-account tokens from
//! TokenRequest, RBAC, impersonation, access reviews; and it takes protobuf request bodies.

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Node, Service, ServiceAccount};
use kube::api::{ListParams, PostParams};
use kube::Api;
use prost::Message;
use serde_json::{json, Value};

use crate::support;

async fn admin_create(client: &kube::Client, objs: &[Value]) {
    for o in objs {
        let body = serde_json::to_vec(o).unwrap();
        let av = o["apiVersion"].as_str().unwrap();
        let plural = format!("{}s", o["kind"].as_str().unwrap().to_lowercase());
        let prefix = if av == "v1" {
            "/api/v1".to_string()
        } else {
            format!("/apis/{av}")
        };
        let path = match o["metadata"]["namespace"].as_str() {
            Some(ns) => format!("{prefix}/namespaces/{ns}/{plural}"),
            None => format!("{prefix}/{plural}"),
        };
        let req = http::Request::post(path)
            .header("content-type", "application/json")
            .body(body)
            .unwrap();
        let _: Value = client.request(req).await.unwrap();
    }
}

/// A kube client that presents `token` (the lab's URL, no other credentials).
async fn client_with_token(lab: &lbctl::lab::Lab, token: &str) -> kube::Client {
    let yaml = lab
        .kubeconfig_yaml()
        .replace("  user: {}\n", &format!("  user:\n    token: {token}\n"));
    let kc = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

fn api_error(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.message),
        other => panic!("not an API error: {other:?}"),
    }
}

async fn token(client: &kube::Client, ns: &str, sa: &str, seconds: Option<i64>) -> TokenRequest {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let tr: TokenRequest = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": seconds},
    }))
    .unwrap();
    api.create_token_request(sa, &PostParams::default(), &tr)
        .await
        .unwrap()
}

#[tokio::test]
async fn service_account_tokens_are_authenticated_and_authorized_by_rbac() {
    let lab = support::lab(&[]);
    let admin = lab.client().unwrap();
    admin_create(
        &admin,
        &[
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "demo"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "svc", "namespace": "demo"},
                "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["list"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "svc", "namespace": "demo"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "svc"},
                "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "demo"}]}),
        ],
    )
    .await;

    let before = jiff::Timestamp::now().as_second();
    let tr = token(&admin, "demo", "sa", Some(1200)).await;
    let status = tr.status.unwrap();
    let tok = status.token.clone().unwrap();
    let expires = status.expiration_timestamp.unwrap().0.as_second();
    assert!(
        (before + 1200..=before + 1205).contains(&expires),
        "expirationTimestamp {expires} is not now ({before}) + 1200 s"
    );
    assert_eq!(tr.spec.unwrap().expiration_seconds, Some(1200));
    assert_eq!(tok.split('.').count(), 3, "JWT-shaped");

    let sa = client_with_token(&lab, &tok).await;
    let svcs: Api<Service> = Api::namespaced(sa.clone(), "demo");
    svcs.list(&ListParams::default()).await.unwrap();
    let (code, msg) = api_error(
        Api::<Service>::namespaced(sa.clone(), "default")
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 403);
    assert_eq!(
        msg,
        "services is forbidden: User \"system:serviceaccount:demo:sa\" cannot list resource \"services\" in API group \"\" in the namespace \"default\""
    );
    let (code, msg) = api_error(Api::<Node>::all(sa.clone()).get("n1").await.unwrap_err());
    assert_eq!(code, 403);
    assert_eq!(
        msg,
        "nodes \"n1\" is forbidden: User \"system:serviceaccount:demo:sa\" cannot get resource \"nodes\" in API group \"\" at the cluster scope"
    );
    // Discovery is open to every authenticated user (system:discovery).
    sa.apiserver_version().await.unwrap();

    // A token this lab did not sign, and one whose ServiceAccount is gone: 401.
    let forged = client_with_token(&lab, "eyJhbGciOiJIUzI1NiJ9.e30.c2ln").await;
    let (code, _) = api_error(forged.apiserver_version().await.unwrap_err());
    assert_eq!(code, 401);
    Api::<ServiceAccount>::namespaced(admin.clone(), "demo")
        .delete("sa", &Default::default())
        .await
        .unwrap();
    let (code, _) = api_error(svcs.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(code, 401);
    // The admin (no credentials) is unaffected by RBAC.
    Api::<Node>::all(admin)
        .list(&ListParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn token_requests_are_validated() {
    let lab = support::lab(&[]);
    let admin = lab.client().unwrap();
    let api: Api<ServiceAccount> = Api::namespaced(admin.clone(), "default");
    let short: TokenRequest = serde_json::from_value(
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 60}}),
    )
    .unwrap();
    admin_create(
        &admin,
        &[json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x", "namespace": "default"}})],
    )
    .await;
    let (code, msg) = api_error(
        api.create_token_request("x", &PostParams::default(), &short)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422, "{msg}");
    assert!(
        msg.contains("may not specify a duration less than 10 minutes"),
        "{msg}"
    );
    let (code, _) = api_error(
        api.create_token_request("nobody", &PostParams::default(), &short)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 404);
    // The default lifetime is an hour.
    let tr = token(&admin, "default", "x", None).await;
    assert_eq!(tr.spec.unwrap().expiration_seconds, Some(3600));
}

/// A raw HTTP/1.1 request, for bodies and headers typed clients do not produce.
async fn raw(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
    let mut out = b"k8s\0".to_vec();
    Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    }
    .encode(&mut out)
    .unwrap();
    out
}

#[tokio::test]
async fn protobuf_bodies_are_decoded_and_answered_in_json() {
    use k8s_pb::api::core::v1 as core;
    use k8s_pb::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    let lab = support::lab(&[]);
    let pb = [
        ("Content-Type", "application/vnd.kubernetes.protobuf"),
        (
            "Accept",
            "application/vnd.kubernetes.protobuf, application/json",
        ),
    ];
    let cm = core::ConfigMap {
        metadata: Some(ObjectMeta {
            name: Some("from-pb".into()),
            labels: [("a".to_string(), "b".to_string())].into(),
            ..Default::default()
        }),
        data: [("k".to_string(), "v".to_string())].into(),
        ..Default::default()
    };
    let (code, body) = raw(
        &lab.url(),
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &pb,
        &envelope("v1", "ConfigMap", cm.encode_to_vec()),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["data"], json!({"k": "v"}));
    assert_eq!(body["metadata"]["labels"], json!({"a": "b"}));
    let stored: Value =
        Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(lab.client().unwrap(), "default")
            .get("from-pb")
            .await
            .map(|c| serde_json::to_value(c).unwrap())
            .unwrap();
    assert_eq!(stored["data"], json!({"k": "v"}));

    // Garbage after the magic, and no magic at all: 400 with a Status.
    for junk in [&b"k8s\0\xff\xff\xff"[..], b"not protobuf"] {
        let (code, body) = raw(
            &lab.url(),
            "POST",
            "/api/v1/namespaces/default/configmaps",
            &pb,
            junk,
        )
        .await;
        assert_eq!(
            (code, body["kind"].as_str()),
            (400, Some("Status")),
            "{body}"
        );
    }
    // A kind the lab has no protobuf decoding for: 415, naming it.
    let (code, body) = raw(
        &lab.url(),
        "POST",
        "/apis/apps/v1/namespaces/default/deployments",
        &pb,
        &envelope("apps/v1", "Deployment", vec![]),
    )
    .await;
    assert_eq!(code, 415, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("Deployment"),
        "{body}"
    );
}

#[tokio::test]
async fn access_reviews_and_impersonation() {
    let lab = support::lab(&[]);
    let admin = lab.client().unwrap();
    admin_create(
        &admin,
        &[
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ro", "namespace": "default"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "status-writer", "labels": {"agg": "lb"}},
                "rules": [{"apiGroups": [""], "resources": ["services/status"], "verbs": ["patch"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "lb"}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": "lb"}}]}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "lb"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "lb"},
                "subjects": [{"kind": "ServiceAccount", "name": "ro", "namespace": "default"}]}),
        ],
    )
    .await;
    let sa = "system:serviceaccount:default:ro";
    let ssar = |verb: &str, sub: &str| {
        serde_json::to_vec(&json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": "x", "verb": verb, "resource": "services", "subresource": sub}}}))
        .unwrap()
    };
    let imp = [
        ("Content-Type", "application/json"),
        ("Impersonate-User", sa),
    ];
    let path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let (code, body) = raw(&lab.url(), "POST", path, &imp, &ssar("patch", "status")).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["status"]["allowed"], true, "{body}");
    assert_eq!(
        body["status"]["reason"],
        "RBAC: allowed by ClusterRoleBinding \"lb\" of ClusterRole \"lb\" to ServiceAccount \"ro/default\""
    );
    let (_, body) = raw(&lab.url(), "POST", path, &imp, &ssar("patch", "")).await;
    assert_eq!(body["status"]["allowed"], false, "{body}");
    // The same question as a SubjectAccessReview, by the admin about the ServiceAccount.
    let sar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": sa, "groups": ["system:serviceaccounts"], "resourceAttributes": {"verb": "patch", "resource": "services", "subresource": "status", "namespace": "x"}}});
    let (code, body) = raw(
        &lab.url(),
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        &[("Content-Type", "application/json")],
        &serde_json::to_vec(&sar).unwrap(),
    )
    .await;
    assert_eq!(
        (code, &body["status"]["allowed"]),
        (201, &json!(true)),
        "{body}"
    );

    // An impersonated ServiceAccount may not impersonate in turn, nor create SARs.
    let token = token(&admin, "default", "ro", None)
        .await
        .status
        .unwrap()
        .token
        .unwrap();
    let bearer = format!("Bearer {token}");
    let (code, body) = raw(
        &lab.url(),
        "GET",
        "/api/v1/nodes",
        &[
            ("Authorization", &bearer),
            ("Impersonate-User", "lab-admin"),
        ],
        b"",
    )
    .await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        body["message"],
        "users \"lab-admin\" is forbidden: User \"system:serviceaccount:default:ro\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
    );
    let (code, _) = raw(
        &lab.url(),
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        &serde_json::to_vec(&sar).unwrap(),
    )
    .await;
    assert_eq!(code, 403);
    // Who am I, as the token and impersonated.
    let ssr = br#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#;
    let path = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
    let (_, body) = raw(&lab.url(), "POST", path, &[("Authorization", &bearer)], ssr).await;
    assert_eq!(
        body["status"]["userInfo"]["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:default",
            "system:authenticated"
        ])
    );
    let (_, body) = raw(
        &lab.url(),
        "POST",
        path,
        &[("Impersonate-User", "jane"), ("Impersonate-Group", "devs")],
        ssr,
    )
    .await;
    assert_eq!(
        body["status"]["userInfo"],
        json!({"username": "jane", "groups": ["devs", "system:authenticated"]})
    );
    // Bad credentials are 401 everywhere, discovery included.
    let (code, body) = raw(
        &lab.url(),
        "GET",
        "/version",
        &[("Authorization", "Bearer nope")],
        b"",
    )
    .await;
    assert_eq!((code, &body["reason"]), (401, &json!("Unauthorized")));
}
