//! The commands doctor proposes, built in one place so every fix names objects the same way and
//! can be pasted as is. A `kref` is `-n NS svc/NAME`.

use std::collections::BTreeMap;

use crate::model::names as n;

/// `deployment/<operator>`: what to restart after an operator-side config change.
pub(crate) fn operator() -> String {
    format!("deployment/{}", n::OPERATOR_DEPLOYMENT)
}

/// `daemonset/<agent> deployment/<operator>`: what to restart after a change both read.
pub(crate) fn agent_and_operator() -> String {
    format!(
        "daemonset/{} deployment/{}",
        n::AGENT_DAEMONSET,
        n::OPERATOR_DEPLOYMENT
    )
}

/// Set one `cilium-config` key and restart what reads it.
pub(crate) fn patch_config(ns: &str, key: &str, value: &str, restart: &str) -> String {
    format!(
        "kubectl -n {ns} patch configmap {cm} --type merge -p '{{\"data\":{{\"{key}\":\"{value}\"}}}}'\nkubectl -n {ns} rollout restart {restart}",
        cm = n::CILIUM_CONFIG_MAP
    )
}

/// `spec.loadBalancerClass` is immutable: the only way to drop it.
pub(crate) fn recreate_without_class(kref: &str) -> String {
    format!(
        "# spec.loadBalancerClass is immutable: recreate the Service without it\nkubectl get {kref} -o yaml > svc.yaml   # delete the spec.loadBalancerClass line\nkubectl replace --force -f svc.yaml"
    )
}

/// `kubectl annotate` one key on the Service.
pub(crate) fn annotate(kref: &str, key: &str, value: &str) -> String {
    format!("kubectl annotate {kref} {key}={value} --overwrite")
}

/// A merge patch of the Service's spec with `spec` (a JSON object's inside, e.g.
/// `"type":"LoadBalancer"`).
pub(crate) fn patch_service_spec(kref: &str, spec: &str) -> String {
    format!("kubectl patch {kref} -p '{{\"spec\":{{{spec}}}}}'")
}

/// A JSON merge patch of an object's spec (`kind` as kubectl names it, e.g. `ippool`; or a
/// `kref` with an empty `name`).
pub(crate) fn patch_spec(kind: &str, name: &str, spec: &str) -> String {
    let target = if name.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} {name}")
    };
    format!("kubectl patch {target} --type merge -p '{{\"spec\":{{{spec}}}}}'")
}

/// `kubectl edit` with what to change as a comment.
pub(crate) fn edit(kind: &str, name: &str, what: &str) -> String {
    format!("kubectl edit {kind} {name}   # {what}")
}

/// `kubectl label` for the matchLabels a Service lacks (the synthetic name/namespace labels
/// cannot be set, so they are left out); `None` when nothing is missing.
pub(crate) fn label(
    kref: &str,
    want: &BTreeMap<String, String>,
    have: &BTreeMap<String, String>,
) -> Option<String> {
    let missing: Vec<String> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .filter(|(k, _)| k.as_str() != n::LABEL_SVC_NAME && k.as_str() != n::LABEL_SVC_NAMESPACE)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    (!missing.is_empty()).then(|| format!("kubectl label {kref} {} --overwrite", missing.join(" ")))
}

/// The agent's logs filtered for L2 announcements and leases.
pub(crate) fn agent_lease_logs(ns: &str) -> String {
    format!(
        "kubectl -n {ns} logs daemonset/{} | grep -iE 'l2|lease'",
        n::AGENT_DAEMONSET
    )
}

/// A Helm upgrade of Cilium keeping its values, with `sets` (`key=value`).
pub(crate) fn helm_set(ns: &str, sets: &[String]) -> String {
    let sets: String = sets.iter().map(|s| format!(" --set {s}")).collect();
    format!("helm upgrade cilium cilium/cilium -n {ns} --reuse-values{sets}")
}

/// `kubectl apply` of a manifest given inline.
pub(crate) fn apply(manifest: &str) -> String {
    format!("kubectl apply -f - <<'EOF'\n{manifest}\nEOF")
}

/// A Role and RoleBinding in the agent namespace that let ServiceAccount `sa` use leases with
/// `verbs`: works whatever ClusterRoles exist, and touches nothing Helm owns.
pub fn lease_role(namespace: &str, sa: &str, verbs: &[&str]) -> String {
    format!(
        "kubectl -n {namespace} create role cilium-l2-leases --verb={} --resource=leases.coordination.k8s.io\nkubectl -n {namespace} create rolebinding cilium-l2-leases --role=cilium-l2-leases --serviceaccount={namespace}:{sa}",
        verbs.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_only_what_is_missing_and_settable() {
        let want: BTreeMap<String, String> = [
            ("pool".into(), "a".into()),
            ("tier".into(), "web".into()),
            (n::LABEL_SVC_NAMESPACE.into(), "ns".into()),
        ]
        .into();
        let have: BTreeMap<String, String> = [("tier".into(), "web".into())].into();
        assert_eq!(
            label("-n ns svc/x", &want, &have).as_deref(),
            Some("kubectl label -n ns svc/x pool=a --overwrite")
        );
        assert_eq!(label("-n ns svc/x", &have, &have), None);
    }

    #[test]
    fn patches_are_valid_json() {
        let p = patch_spec("ippool", "p", "\"disabled\":false");
        let body = p.split('\'').nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["spec"]["disabled"], false);
        let s = patch_service_spec("-n a svc/b", "\"externalTrafficPolicy\":\"Cluster\"");
        let body = s.split('\'').nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["spec"]["externalTrafficPolicy"], "Cluster");
    }
}
