//! RBAC, as the kube-apiserver's authorizer evaluates it: pure functions over the Role,
//! ClusterRole, RoleBinding and ClusterRoleBinding objects (as JSON), no I/O.

use std::collections::BTreeMap;

use serde_json::Value;

/// The group whose members the real server lets through before RBAC runs.
pub(crate) const PRIVILEGED_GROUP: &str = "system:masters";

/// An authenticated (or impersonated) user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// What a request asks to do, as the real server's RequestInfo derives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Attributes {
    Resource {
        verb: String,
        namespace: String,
        group: String,
        resource: String,
        subresource: String,
        name: String,
    },
    NonResource {
        verb: String,
        path: String,
    },
}

impl Attributes {
    /// The attributes of an HTTP request (method, path, raw query).
    pub(crate) fn from_request(method: &str, path: &str, query: &str) -> Attributes {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let non_resource = || Attributes::NonResource {
            verb: method.to_ascii_lowercase(),
            path: path.to_string(),
        };
        let (group, mut rest) = match parts.as_slice() {
            ["api", _v, rest @ ..] if !rest.is_empty() => ("", rest),
            ["apis", g, _v, rest @ ..] if !rest.is_empty() => (*g, rest),
            _ => return non_resource(),
        };
        let mut verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .to_string();
        let mut namespace = String::new();
        if rest[0] == "namespaces" && rest.len() > 1 {
            namespace = rest[1].to_string();
            // `namespaces/NAME/status|finalize` are the namespace's own subresources.
            if rest.len() > 2 && !["status", "finalize"].contains(&rest[2]) {
                rest = &rest[2..];
            }
        }
        let resource = rest[0].to_string();
        let mut name = rest.get(1).map(|s| s.to_string()).unwrap_or_default();
        let subresource = rest.get(2).map(|s| s.to_string()).unwrap_or_default();
        if name.is_empty() && verb == "get" {
            let mut watch = false;
            for (k, v) in form_urlencoded::parse(query.as_bytes()) {
                match &*k {
                    "watch" => watch = matches!(&*v, "true" | "1" | "t" | "T" | "TRUE" | "True"),
                    // A list or watch of one object by name is authorized as that object.
                    "fieldSelector" => {
                        if let Some(n) = exact_name(&v) {
                            name = n;
                        }
                    }
                    _ => {}
                }
            }
            verb = if watch { "watch" } else { "list" }.into();
        }
        if name.is_empty() && verb == "delete" {
            verb = "deletecollection".into();
        }
        Attributes::Resource {
            verb,
            namespace,
            group: group.to_string(),
            resource,
            subresource,
            name,
        }
    }
}

/// `metadata.name=x` (or `==`) as the only term of a field selector.
fn exact_name(selector: &str) -> Option<String> {
    let terms: Vec<&str> = selector.split(',').filter(|t| !t.is_empty()).collect();
    let [term] = terms.as_slice() else {
        return None;
    };
    let (k, v) = term.split_once("==").or_else(|| term.split_once('='))?;
    (k.trim() == "metadata.name" && !v.is_empty() && !v.contains('/') && v != "." && v != "..")
        .then(|| v.trim().to_string())
}

/// The RBAC objects of the cluster.
#[derive(Default)]
pub(crate) struct Policy<'a> {
    pub roles: Vec<&'a Value>,
    pub cluster_roles: Vec<&'a Value>,
    pub role_bindings: Vec<&'a Value>,
    pub cluster_role_bindings: Vec<&'a Value>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Allowed, and by what (empty for the privileged group).
    Allow(String),
    /// Denied; the reason names broken role references, as the real authorizer's does.
    Deny(String),
}

fn str_of<'v>(v: &'v Value, k: &str) -> &'v str {
    v[k].as_str().unwrap_or_default()
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

fn has(list: &Value, want: &str) -> bool {
    strings(list).any(|s| s == want)
}

/// Whether a binding subject names this user (a ServiceAccount without a namespace is in the
/// binding's).
fn subject_matches(s: &Value, user: &User, binding_ns: &str) -> bool {
    match str_of(s, "kind") {
        "User" => str_of(s, "name") == user.name,
        "Group" => user.groups.iter().any(|g| g == str_of(s, "name")),
        "ServiceAccount" => {
            let ns = match str_of(s, "namespace") {
                "" => binding_ns,
                ns => ns,
            };
            user.name == format!("system:serviceaccount:{ns}:{}", str_of(s, "name"))
        }
        _ => false,
    }
}

fn describe_subject(s: &Value, binding_ns: &str) -> String {
    let kind = str_of(s, "kind");
    let name = str_of(s, "name");
    if kind == "ServiceAccount" {
        let ns = match str_of(s, "namespace") {
            "" => binding_ns,
            ns => ns,
        };
        return format!("{kind} \"{name}/{ns}\"");
    }
    format!("{kind} {name:?}")
}

/// A Kubernetes LabelSelector (matchLabels and matchExpressions) against an object's labels.
pub(crate) fn selector_matches(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels[k].as_str();
    let labels_ok = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let exprs_ok = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let key = str_of(e, "key");
            let in_values = |v: &str| has(&e["values"], v);
            match str_of(e, "operator") {
                "In" => label(key).is_some_and(in_values),
                "NotIn" => !label(key).is_some_and(in_values),
                "Exists" => label(key).is_some(),
                "DoesNotExist" => label(key).is_none(),
                // An unknown operator matches nothing, as an invalid selector would.
                _ => false,
            }
        });
    // An empty selector (no terms) selects nothing in an aggregation rule.
    let empty = selector["matchLabels"]
        .as_object()
        .is_none_or(|m| m.is_empty())
        && selector["matchExpressions"]
            .as_array()
            .is_none_or(|a| a.is_empty());
    !empty && labels_ok && exprs_ok
}

impl<'a> Policy<'a> {
    fn cluster_role(&self, name: &str) -> Option<&'a Value> {
        self.cluster_roles
            .iter()
            .find(|r| str_of(&r["metadata"], "name") == name)
            .copied()
    }

    /// A ClusterRole's rules; one with an aggregationRule has the rules of every ClusterRole its
    /// selectors pick (as the aggregation controller would have written them).
    pub(crate) fn cluster_role_rules(&self, role: &'a Value) -> Vec<&'a Value> {
        let mut out = vec![];
        let mut seen = vec![];
        self.collect_rules(role, &mut out, &mut seen);
        out
    }

    fn collect_rules(&self, role: &'a Value, out: &mut Vec<&'a Value>, seen: &mut Vec<&'a str>) {
        let name = str_of(&role["metadata"], "name");
        if seen.contains(&name) {
            return;
        }
        seen.push(name);
        let Some(selectors) = role["aggregationRule"]["clusterRoleSelectors"].as_array() else {
            out.extend(role["rules"].as_array().into_iter().flatten());
            return;
        };
        for other in &self.cluster_roles {
            if str_of(&other["metadata"], "name") != name
                && selectors
                    .iter()
                    .any(|s| selector_matches(s, &other["metadata"]["labels"]))
            {
                self.collect_rules(other, out, seen);
            }
        }
    }

    /// The rules a roleRef points at, or the error the real authorizer reports for it.
    fn role_rules(&self, role_ref: &Value, binding_ns: &str) -> Result<Vec<&'a Value>, String> {
        let name = str_of(role_ref, "name");
        match str_of(role_ref, "kind") {
            "ClusterRole" => self
                .cluster_role(name)
                .map(|r| self.cluster_role_rules(r))
                .ok_or_else(|| format!("clusterrole.rbac.authorization.k8s.io {name:?} not found")),
            "Role" if !binding_ns.is_empty() => self
                .roles
                .iter()
                .find(|r| {
                    str_of(&r["metadata"], "name") == name
                        && str_of(&r["metadata"], "namespace") == binding_ns
                })
                .map(|r| r["rules"].as_array().into_iter().flatten().collect())
                .ok_or_else(|| format!("role.rbac.authorization.k8s.io {name:?} not found")),
            k => Err(format!("unsupported role reference kind: {k:?}")),
        }
    }
}

fn verb_matches(rule: &Value, verb: &str) -> bool {
    strings(&rule["verbs"]).any(|v| v == "*" || v == verb)
}

/// Whether one PolicyRule allows the request.
pub(crate) fn rule_allows(rule: &Value, attrs: &Attributes) -> bool {
    match attrs {
        Attributes::Resource {
            verb,
            group,
            resource,
            subresource,
            name,
            ..
        } => {
            let combined = if subresource.is_empty() {
                resource.clone()
            } else {
                format!("{resource}/{subresource}")
            };
            let resource_ok = strings(&rule["resources"]).any(|r| {
                r == "*"
                    || r == combined
                    || (!subresource.is_empty()
                        && r.strip_prefix("*/") == Some(subresource.as_str()))
            });
            let names = &rule["resourceNames"];
            let name_ok = names.as_array().is_none_or(|a| a.is_empty()) || has(names, name);
            verb_matches(rule, verb)
                && strings(&rule["apiGroups"]).any(|g| g == "*" || g == group)
                && resource_ok
                && name_ok
        }
        Attributes::NonResource { verb, path } => {
            verb_matches(rule, verb)
                && strings(&rule["nonResourceURLs"]).any(|u| {
                    u == "*"
                        || u == path
                        || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
                })
        }
    }
}

/// Decides a request as the real server does: the privileged group, then RBAC (cluster-wide
/// bindings first, then the bindings of the request's namespace).
pub(crate) fn authorize(policy: &Policy, user: &User, attrs: &Attributes) -> Decision {
    if user.groups.iter().any(|g| g == PRIVILEGED_GROUP) {
        return Decision::Allow(String::new());
    }
    let mut errors = vec![];
    for b in &policy.cluster_role_bindings {
        let Some(subject) = b["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| subject_matches(s, user, ""))
        else {
            continue;
        };
        match policy.role_rules(&b["roleRef"], "") {
            Ok(rules) if rules.iter().any(|r| rule_allows(r, attrs)) => {
                return Decision::Allow(format!(
                    "RBAC: allowed by ClusterRoleBinding {:?} of ClusterRole {:?} to {}",
                    str_of(&b["metadata"], "name"),
                    str_of(&b["roleRef"], "name"),
                    describe_subject(subject, "")
                ));
            }
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
    }
    if let Attributes::Resource { namespace, .. } = attrs {
        if !namespace.is_empty() {
            for b in policy
                .role_bindings
                .iter()
                .filter(|b| str_of(&b["metadata"], "namespace") == namespace)
            {
                let Some(subject) = b["subjects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|s| subject_matches(s, user, namespace))
                else {
                    continue;
                };
                match policy.role_rules(&b["roleRef"], namespace) {
                    Ok(rules) if rules.iter().any(|r| rule_allows(r, attrs)) => {
                        return Decision::Allow(format!(
                            "RBAC: allowed by RoleBinding \"{}/{namespace}\" of {} {:?} to {}",
                            str_of(&b["metadata"], "name"),
                            str_of(&b["roleRef"], "kind"),
                            str_of(&b["roleRef"], "name"),
                            describe_subject(subject, namespace)
                        ));
                    }
                    Ok(_) => {}
                    Err(e) => errors.push(e),
                }
            }
        }
    }
    Decision::Deny(if errors.is_empty() {
        String::new()
    } else {
        format!("RBAC: [{}]", errors.join(", "))
    })
}

/// Every rule that applies to `user` in `namespace` (cluster-wide bindings, then the namespace's),
/// as a SelfSubjectRulesReview lists them, with the errors of broken role references.
pub(crate) fn rules_for<'a>(
    policy: &Policy<'a>,
    user: &User,
    namespace: &str,
) -> (Vec<&'a Value>, Vec<String>) {
    let mut rules = vec![];
    let mut errors = vec![];
    let cluster = policy.cluster_role_bindings.iter().map(|b| (*b, ""));
    let local = policy
        .role_bindings
        .iter()
        .filter(|b| !namespace.is_empty() && str_of(&b["metadata"], "namespace") == namespace)
        .map(|b| (*b, namespace));
    for (b, ns) in cluster.chain(local) {
        let applies = b["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| subject_matches(s, user, ns));
        if applies {
            match policy.role_rules(&b["roleRef"], ns) {
                Ok(r) => rules.extend(r),
                Err(e) => errors.push(e),
            }
        }
    }
    (rules, errors)
}

/// The message of the real server's 403, e.g. `services is forbidden: User "u" cannot list
/// resource "services" in API group "" in the namespace "demo"`.
pub(crate) fn forbidden_message(user: &User, attrs: &Attributes, reason: &str) -> String {
    let mut msg = match attrs {
        Attributes::NonResource { verb, path } => {
            format!("User {:?} cannot {verb} path {path:?}", user.name)
        }
        Attributes::Resource {
            verb,
            namespace,
            group,
            resource,
            subresource,
            ..
        } => {
            let r = if subresource.is_empty() {
                resource.clone()
            } else {
                format!("{resource}/{subresource}")
            };
            let scope = if namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace {namespace:?}")
            };
            format!(
                "User {:?} cannot {verb} resource {r:?} in API group {group:?} {scope}",
                user.name
            )
        }
    };
    if !reason.is_empty() {
        msg = format!("{msg}: {reason}");
    }
    match attrs {
        Attributes::NonResource { .. } => format!("forbidden: {msg}"),
        Attributes::Resource {
            group,
            resource,
            name,
            ..
        } => {
            let gr = if group.is_empty() {
                resource.clone()
            } else {
                format!("{resource}.{group}")
            };
            if name.is_empty() {
                format!("{gr} is forbidden: {msg}")
            } else {
                format!("{gr} {name:?} is forbidden: {msg}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sa(ns: &str, name: &str) -> User {
        User {
            name: format!("system:serviceaccount:{ns}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
            ..Default::default()
        }
    }

    fn res(verb: &str, ns: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes::Resource {
            verb: verb.into(),
            namespace: ns.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
        }
    }

    #[test]
    fn request_attributes() {
        let a = |m, p, q| Attributes::from_request(m, p, q);
        assert_eq!(
            a("GET", "/api/v1/namespaces/demo/services", ""),
            res("list", "demo", "", "services", "", "")
        );
        assert_eq!(
            a("GET", "/api/v1/services", "watch=true&resourceVersion=1"),
            res("watch", "", "", "services", "", "")
        );
        assert_eq!(
            a("PATCH", "/api/v1/namespaces/x/services/y/status", ""),
            res("patch", "x", "", "services", "status", "y")
        );
        // A namespace is its own namespace; its status is a subresource.
        assert_eq!(
            a("GET", "/api/v1/namespaces/x", ""),
            res("get", "x", "", "namespaces", "", "x")
        );
        assert_eq!(
            a("PUT", "/api/v1/namespaces/x/finalize", ""),
            res("update", "x", "", "namespaces", "finalize", "x")
        );
        assert_eq!(
            a(
                "DELETE",
                "/apis/coordination.k8s.io/v1/namespaces/k/leases",
                ""
            ),
            res(
                "deletecollection",
                "k",
                "coordination.k8s.io",
                "leases",
                "",
                ""
            )
        );
        assert_eq!(
            a(
                "GET",
                "/apis/coordination.k8s.io/v1/namespaces/k/leases",
                "fieldSelector=metadata.name%3Dl1&watch=1"
            ),
            res("watch", "k", "coordination.k8s.io", "leases", "", "l1")
        );
        assert_eq!(
            a("POST", "/api/v1/namespaces/n/serviceaccounts/sa/token", ""),
            res("create", "n", "", "serviceaccounts", "token", "sa")
        );
        for p in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/cilium.io",
            "/version",
            "/openapi/v3",
        ] {
            assert_eq!(
                a("GET", p, ""),
                Attributes::NonResource {
                    verb: "get".into(),
                    path: p.into()
                }
            );
        }
        assert_eq!(
            a("GET", "/apis/cilium.io/v2", ""),
            Attributes::NonResource {
                verb: "get".into(),
                path: "/apis/cilium.io/v2".into()
            }
        );
    }

    #[test]
    fn rules_match_as_kubernetes_does() {
        let rule = json!({"apiGroups": [""], "resources": ["services", "*/scale", "pods/status"], "verbs": ["get", "list"]});
        assert!(rule_allows(
            &rule,
            &res("list", "d", "", "services", "", "")
        ));
        assert!(!rule_allows(
            &rule,
            &res("watch", "d", "", "services", "", "")
        ));
        assert!(!rule_allows(
            &rule,
            &res("list", "d", "apps", "services", "", "")
        ));
        // The main resource does not grant its subresources, nor the other way round.
        assert!(!rule_allows(
            &rule,
            &res("get", "d", "", "services", "status", "x")
        ));
        assert!(!rule_allows(&rule, &res("get", "d", "", "pods", "", "x")));
        assert!(rule_allows(
            &rule,
            &res("get", "d", "", "pods", "status", "x")
        ));
        assert!(rule_allows(
            &rule,
            &res("get", "d", "", "deployments", "scale", "x")
        ));
        let star = json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]});
        assert!(rule_allows(
            &star,
            &res("patch", "", "cilium.io", "x", "status", "y")
        ));
        assert!(!rule_allows(
            &star,
            &Attributes::NonResource {
                verb: "get".into(),
                path: "/api".into()
            }
        ));
        let named = json!({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["get", "list"]});
        assert!(rule_allows(
            &named,
            &res("get", "d", "", "configmaps", "", "a")
        ));
        assert!(!rule_allows(
            &named,
            &res("get", "d", "", "configmaps", "", "b")
        ));
        // A list of everything is not a list of one name.
        assert!(!rule_allows(
            &named,
            &res("list", "d", "", "configmaps", "", "")
        ));
        let urls = json!({"nonResourceURLs": ["/healthz", "/apis/*"], "verbs": ["get"]});
        let nr = |p: &str| Attributes::NonResource {
            verb: "get".into(),
            path: p.into(),
        };
        assert!(rule_allows(&urls, &nr("/healthz")));
        assert!(rule_allows(&urls, &nr("/apis/cilium.io")));
        assert!(!rule_allows(&urls, &nr("/healthz/x")));
        assert!(!rule_allows(&urls, &nr("/apis")));
    }

    fn policy_fixture() -> (Vec<Value>, Vec<Value>, Vec<Value>, Vec<Value>) {
        let roles = vec![
            json!({"metadata": {"name": "svc-reader", "namespace": "demo"},
            "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["list"]}]}),
        ];
        let cluster_roles = vec![
            json!({"metadata": {"name": "leases"}, "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]}]}),
            json!({"metadata": {"name": "agg"}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": "yes"}}]}, "rules": []}),
            json!({"metadata": {"name": "part", "labels": {"agg": "yes"}}, "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]}),
        ];
        let role_bindings = vec![
            json!({"metadata": {"name": "rb", "namespace": "demo"}, "roleRef": {"kind": "Role", "name": "svc-reader"}, "subjects": [{"kind": "ServiceAccount", "name": "sa"}]}),
            json!({"metadata": {"name": "broken", "namespace": "demo"}, "roleRef": {"kind": "Role", "name": "missing"}, "subjects": [{"kind": "ServiceAccount", "name": "sa"}]}),
            json!({"metadata": {"name": "crb-in-ns", "namespace": "other"}, "roleRef": {"kind": "ClusterRole", "name": "leases"}, "subjects": [{"kind": "Group", "name": "system:serviceaccounts:demo"}]}),
        ];
        let crbs = vec![
            json!({"metadata": {"name": "agg-binding"}, "roleRef": {"kind": "ClusterRole", "name": "agg"}, "subjects": [{"kind": "User", "name": "system:serviceaccount:demo:sa"}]}),
        ];
        (roles, cluster_roles, role_bindings, crbs)
    }

    #[test]
    fn bindings_scope_the_grants() {
        let (r, cr, rb, crb) = policy_fixture();
        let p = Policy {
            roles: r.iter().collect(),
            cluster_roles: cr.iter().collect(),
            role_bindings: rb.iter().collect(),
            cluster_role_bindings: crb.iter().collect(),
        };
        let u = sa("demo", "sa");
        assert_eq!(
            authorize(&p, &u, &res("list", "demo", "", "services", "", "")),
            Decision::Allow(
                "RBAC: allowed by RoleBinding \"rb/demo\" of Role \"svc-reader\" to ServiceAccount \"sa/demo\"".into()
            )
        );
        // The RoleBinding grants nothing outside its namespace, nor at the cluster scope.
        assert!(matches!(
            authorize(&p, &u, &res("list", "prod", "", "services", "", "")),
            Decision::Deny(_)
        ));
        assert!(matches!(
            authorize(&p, &u, &res("list", "", "", "services", "", "")),
            Decision::Deny(_)
        ));
        // A ClusterRole bound in a namespace, to a group.
        assert!(matches!(
            authorize(
                &p,
                &u,
                &res("delete", "other", "coordination.k8s.io", "leases", "", "l")
            ),
            Decision::Allow(_)
        ));
        assert!(matches!(
            authorize(
                &p,
                &u,
                &res("delete", "demo", "coordination.k8s.io", "leases", "", "l")
            ),
            Decision::Deny(_)
        ));
        // Aggregation: "agg" has what "part" has, everywhere.
        assert!(matches!(
            authorize(&p, &u, &res("get", "", "", "nodes", "", "n")),
            Decision::Allow(_)
        ));
        assert!(matches!(
            authorize(&p, &u, &res("list", "", "", "nodes", "", "")),
            Decision::Deny(_)
        ));
        // Another service account of the namespace has none of the per-SA grants.
        assert!(matches!(
            authorize(
                &p,
                &sa("demo", "other"),
                &res("get", "", "", "nodes", "", "n")
            ),
            Decision::Deny(_)
        ));
        // A denial inside the namespace names the binding to a missing role.
        assert_eq!(
            authorize(&p, &u, &res("get", "demo", "", "secrets", "", "s")),
            Decision::Deny("RBAC: [role.rbac.authorization.k8s.io \"missing\" not found]".into())
        );
        let admin = User {
            name: "admin".into(),
            groups: vec![PRIVILEGED_GROUP.into()],
            ..Default::default()
        };
        assert_eq!(
            authorize(&p, &admin, &res("delete", "", "", "nodes", "", "n")),
            Decision::Allow(String::new())
        );
    }

    #[test]
    fn rules_for_a_namespace() {
        let (r, cr, rb, crb) = policy_fixture();
        let p = Policy {
            roles: r.iter().collect(),
            cluster_roles: cr.iter().collect(),
            role_bindings: rb.iter().collect(),
            cluster_role_bindings: crb.iter().collect(),
        };
        let (rules, errors) = rules_for(&p, &sa("demo", "sa"), "demo");
        let resources: Vec<&Value> = rules.iter().map(|r| &r["resources"]).collect();
        assert_eq!(resources, [&json!(["nodes"]), &json!(["services"])]);
        assert_eq!(
            errors,
            ["role.rbac.authorization.k8s.io \"missing\" not found"]
        );
        let (rules, _) = rules_for(&p, &sa("demo", "sa"), "other");
        assert_eq!(
            rules.len(),
            2,
            "the aggregated nodes rule and the leases one: {rules:?}"
        );
    }

    #[test]
    fn forbidden_messages_match_the_real_server() {
        let u = sa("ns", "sa");
        assert_eq!(
            forbidden_message(&u, &res("list", "demo", "", "services", "", ""), ""),
            "services is forbidden: User \"system:serviceaccount:ns:sa\" cannot list resource \"services\" in API group \"\" in the namespace \"demo\""
        );
        assert_eq!(
            forbidden_message(&u, &res("patch", "", "cilium.io", "ciliumloadbalancerippools", "status", "p"), ""),
            "ciliumloadbalancerippools.cilium.io \"p\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot patch resource \"ciliumloadbalancerippools/status\" in API group \"cilium.io\" at the cluster scope"
        );
        assert_eq!(
            forbidden_message(
                &u,
                &Attributes::NonResource {
                    verb: "get".into(),
                    path: "/metrics".into()
                },
                ""
            ),
            "forbidden: User \"system:serviceaccount:ns:sa\" cannot get path \"/metrics\""
        );
    }

    #[test]
    fn selectors() {
        let l = json!({"a": "1", "b": "2"});
        assert!(selector_matches(&json!({"matchLabels": {"a": "1"}}), &l));
        assert!(!selector_matches(&json!({"matchLabels": {"a": "2"}}), &l));
        assert!(selector_matches(
            &json!({"matchExpressions": [{"key": "b", "operator": "In", "values": ["2", "3"]}]}),
            &l
        ));
        assert!(selector_matches(
            &json!({"matchExpressions": [{"key": "c", "operator": "DoesNotExist"}]}),
            &l
        ));
        assert!(!selector_matches(
            &json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}),
            &l
        ));
        assert!(!selector_matches(&json!({}), &l));
    }

    proptest::proptest! {
        /// Adding a rule never takes a permission away, and "*" on everything grants every
        /// resource request.
        #[test]
        fn grants_are_monotonic(
            verb in "(get|list|watch|create|update|patch|delete)",
            group in "(|apps|cilium.io)",
            resource in "(services|pods|leases)",
            sub in "(|status)",
            ns in "(|demo)",
            extra_verb in "(get|list|\\*)",
        ) {
            let attrs = res(&verb, &ns, &group, &resource, &sub, "n");
            let base = json!({"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["get"]}]});
            let mut more = base.clone();
            more["rules"].as_array_mut().unwrap().push(json!({"apiGroups": [group.clone()], "resources": [resource.clone()], "verbs": [extra_verb]}));
            let star = json!({"metadata": {"name": "r"}, "rules": [{"apiGroups": ["*"], "resources": ["*", "*/*"], "verbs": ["*"]}]});
            let crb = json!({"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "r"}, "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "x"}]});
            let u = sa("x", "sa");
            let decide = |role: &Value| {
                let p = Policy { cluster_roles: vec![role], cluster_role_bindings: vec![&crb], ..Default::default() };
                matches!(authorize(&p, &u, &attrs), Decision::Allow(_))
            };
            proptest::prop_assert!(!decide(&base) || decide(&more));
            proptest::prop_assert!(decide(&star));
        }
    }
}
