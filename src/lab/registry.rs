//! The resource types the lab serves: built-in kinds plus every kind defined by a stored CRD.

use serde_json::Value;

/// How a kind's registry strategy treats `metadata.generation`. Only kinds whose strategy sets it
/// have one; a Service, Lease or Node never does, and clients must cope with its absence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// Never set by the server (a client-sent value is stored as sent, as with a real server).
    None,
    /// 1 on create, bumped when `spec` changes (Pods, Deployments, DaemonSets, CRDs).
    Spec,
    /// Custom resources: 1 on create, bumped on any change outside `metadata` (and outside
    /// `status` when the status subresource is enabled).
    NonMetadata,
}

/// One served resource at one group/version.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub status_subresource: bool,
    /// Whether and when the server stamps and bumps `metadata.generation`.
    pub generation: Generation,
    /// `openAPIV3Schema` of a CRD version, used for validation and OpenAPI.
    pub schema: Option<Value>,
    /// `additionalPrinterColumns` of a CRD version.
    pub printer_columns: Vec<Value>,
    pub storage_version: String,
    /// Every version served for this group/kind, preferred first.
    pub versions: Vec<String>,
    /// The warning every request to this version gets when its CRD marks it deprecated.
    pub deprecation_warning: Option<String>,
    /// A CRD version's `selectableFields` (as field paths without the leading dot).
    pub selectable_fields: Vec<String>,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    /// The fields a field selector may name for this kind: each kind's field-label conversion in
    /// kube-apiserver (`metadata.name` and `metadata.namespace` unless the kind says otherwise;
    /// a CRD adds its `selectableFields`).
    pub(crate) fn field_selectors(&self) -> Vec<String> {
        let own: &[&str] = match (self.group.as_str(), self.plural.as_str()) {
            ("", "services") => &[
                "metadata.name",
                "metadata.namespace",
                "spec.clusterIP",
                "spec.type",
            ],
            ("", "pods") => &[
                "metadata.name",
                "metadata.namespace",
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.podIPs",
                "status.nominatedNodeName",
            ],
            ("", "nodes") => &["metadata.name", "spec.unschedulable"],
            ("", "namespaces") => &["metadata.name", "status.phase"],
            ("", "secrets") => &["metadata.name", "metadata.namespace", "type"],
            ("", "events") => &[
                "metadata.name",
                "metadata.namespace",
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
            _ => &["metadata.name", "metadata.namespace"],
        };
        own.iter()
            .map(|f| f.to_string())
            .chain(self.selectable_fields.iter().cloned())
            .collect()
    }

    /// Key under which objects are stored: versions of one kind share their objects.
    pub(crate) fn store_key(&self) -> (String, String) {
        (self.group.clone(), self.plural.clone())
    }
}

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    short: &[&str],
    namespaced: bool,
    status: bool,
    generation: Generation,
) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: if ["services", "pods"].contains(&plural) {
            vec!["all".into()]
        } else {
            vec![]
        },
        namespaced,
        status_subresource: status,
        generation,
        schema: None,
        printer_columns: vec![],
        storage_version: version.into(),
        versions: vec![version.into()],
        deprecation_warning: None,
        selectable_fields: vec![],
    }
}

/// group, kind, plural, short names, namespaced, status subresource, generation
type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    bool,
    bool,
    Generation,
);

/// The built-in kinds the lab serves. Which of them carry `metadata.generation` follows each
/// kind's registry strategy in kube-apiserver 1.33 (Pods got one in 1.33).
pub(crate) fn builtins() -> Vec<ResourceType> {
    use Generation::{None as No, Spec};
    #[rustfmt::skip]
    let kinds: [Builtin; 18] = [
        // group, kind, plural, short names, namespaced, status subresource, generation
        ("", "Namespace", "namespaces", &["ns"], false, true, No),
        ("", "Service", "services", &["svc"], true, true, No),
        ("", "Node", "nodes", &["no"], false, true, No),
        ("", "Pod", "pods", &["po"], true, true, Spec),
        ("", "ConfigMap", "configmaps", &["cm"], true, false, No),
        ("", "Endpoints", "endpoints", &["ep"], true, false, No),
        ("", "Event", "events", &["ev"], true, false, No),
        ("", "Secret", "secrets", &[], true, false, No),
        ("", "ServiceAccount", "serviceaccounts", &["sa"], true, false, No),
        ("discovery.k8s.io", "EndpointSlice", "endpointslices", &[], true, false, No),
        ("coordination.k8s.io", "Lease", "leases", &[], true, false, No),
        ("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", &[], false, false, No),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", &[], false, false, No),
        ("rbac.authorization.k8s.io", "Role", "roles", &[], true, false, No),
        ("rbac.authorization.k8s.io", "RoleBinding", "rolebindings", &[], true, false, No),
        ("apps", "DaemonSet", "daemonsets", &["ds"], true, true, Spec),
        ("apps", "Deployment", "deployments", &["deploy"], true, true, Spec),
        ("apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions", &["crd", "crds"], false, true, Spec),
    ];
    kinds
        .into_iter()
        .map(
            |(group, kind, plural, short, namespaced, status, generation)| {
                builtin(
                    group, "v1", kind, plural, short, namespaced, status, generation,
                )
            },
        )
        .collect()
}

/// How Kubernetes orders API versions: GA before beta before alpha before anything else, then
/// the higher major, then the higher minor (v2 > v1 > v2beta1 > v1beta2 > v1alpha1 > foo).
fn version_priority(v: &str) -> (u8, u64, u64) {
    let parse = |s: &str| -> Option<(u8, u64, u64)> {
        let rest = s.strip_prefix('v')?;
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let major: u64 = rest[..digits].parse().ok()?;
        if major == 0 {
            return None;
        }
        let tail = &rest[digits..];
        if tail.is_empty() {
            return Some((3, major, 0));
        }
        let (level, minor) = if let Some(m) = tail.strip_prefix("beta") {
            (2, m)
        } else if let Some(m) = tail.strip_prefix("alpha") {
            (1, m)
        } else {
            return None;
        };
        if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((level, major, minor.parse().ok()?))
    };
    parse(v).unwrap_or((0, 0, 0))
}

/// apiextensions-apiserver's default text: "<group>/<version> <Kind> is deprecated", plus
/// "; use <group>/<newest> <Kind>" naming the most preferred served, non-deprecated version that
/// is newer than the deprecated one.
fn default_deprecation_warning(spec: &Value, deprecated: &str) -> String {
    let group = spec["group"].as_str().unwrap_or_default();
    let kind = spec["names"]["kind"].as_str().unwrap_or_default();
    let mut msg = format!("{group}/{deprecated} {kind} is deprecated");
    let newest = spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"].as_bool() == Some(true) && v["deprecated"].as_bool() != Some(true))
        .filter_map(|v| v["name"].as_str())
        .filter(|n| version_priority(n) > version_priority(deprecated))
        .max_by_key(|n| version_priority(n));
    if let Some(n) = newest {
        msg.push_str(&format!("; use {group}/{n} {kind}"));
    }
    msg
}

/// What apiextensions' validation says about a CRD's name and group (`create`: the approval rule
/// for protected groups applies to new CRDs only). A CRD cannot define a core kind: its group
/// must be a domain.
pub(crate) fn crd_name_errors(crd: &Value, create: bool) -> Vec<String> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    let mut errs = vec![];
    if name != format!("{plural}.{group}") {
        errs.push(format!(
            "metadata.name: Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"
        ));
    }
    if group.is_empty() {
        errs.push("spec.group: Required value".into());
    } else if !group.contains('.') {
        errs.push(format!(
            "spec.group: Invalid value: {group:?}: should be a domain with at least one dot"
        ));
    }
    let protected = ["k8s.io", "kubernetes.io"]
        .iter()
        .any(|p| group == *p || group.ends_with(&format!(".{p}")));
    let approved = crd["metadata"]["annotations"]["api-approved.kubernetes.io"].is_string();
    if create && protected && !approved {
        errs.push("metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111".into());
    }
    errs
}

/// The resource types a CRD object defines (one per served version). Malformed CRDs define none.
pub(crate) fn from_crd(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let (Some(group), Some(kind), Some(plural)) = (
        spec["group"].as_str(),
        spec["names"]["kind"].as_str(),
        spec["names"]["plural"].as_str(),
    ) else {
        return vec![];
    };
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let versions: Vec<&Value> = spec["versions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|v| v["served"].as_bool().unwrap_or(false))
                .collect()
        })
        .unwrap_or_default();
    let storage = spec["versions"]
        .as_array()
        .and_then(|a| a.iter().find(|v| v["storage"].as_bool() == Some(true)))
        .and_then(|v| v["name"].as_str())
        .unwrap_or_default()
        .to_string();
    let mut names: Vec<String> = versions
        .iter()
        .filter_map(|v| v["name"].as_str().map(String::from))
        .collect();
    // The storage version is preferred, as the real server's discovery orders it first.
    names.sort_by_key(|n| (n != &storage, n.clone()));
    versions
        .iter()
        .filter_map(|v| {
            let version = v["name"].as_str()?;
            Some(ResourceType {
                group: group.into(),
                version: version.into(),
                kind: kind.into(),
                list_kind: spec["names"]["listKind"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| format!("{kind}List")),
                plural: plural.into(),
                singular: spec["names"]["singular"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| kind.to_lowercase()),
                short_names: strs(&spec["names"]["shortNames"]),
                categories: strs(&spec["names"]["categories"]),
                namespaced: spec["scope"].as_str() == Some("Namespaced"),
                status_subresource: v["subresources"]["status"].is_object(),
                generation: Generation::NonMetadata,
                schema: v["schema"]["openAPIV3Schema"]
                    .as_object()
                    .map(|o| Value::Object(o.clone())),
                printer_columns: v["additionalPrinterColumns"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
                storage_version: storage.clone(),
                versions: names.clone(),
                selectable_fields: v["selectableFields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f["jsonPath"].as_str())
                    .map(|p| p.trim_start_matches('.').to_string())
                    .collect(),
                deprecation_warning: (v["deprecated"].as_bool() == Some(true)).then(|| {
                    v["deprecationWarning"]
                        .as_str()
                        .map(String::from)
                        .unwrap_or_else(|| default_deprecation_warning(spec, version))
                }),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_order_as_kubernetes_orders_them() {
        let mut v = vec![
            "v1alpha1", "foo", "v2", "v1beta2", "v1", "v2beta1", "v1beta10",
        ];
        v.sort_by_key(|s| std::cmp::Reverse(version_priority(s)));
        assert_eq!(
            v,
            ["v2", "v1", "v2beta1", "v1beta10", "v1beta2", "v1alpha1", "foo"]
        );
    }

    #[test]
    fn deprecated_versions_carry_a_warning() {
        let crd = serde_json::to_value(crate::model::pool::crd()).unwrap();
        let types = from_crd(&crd);
        let w = |ver: &str| {
            types
                .iter()
                .find(|t| t.version == ver)
                .unwrap()
                .deprecation_warning
                .clone()
        };
        assert_eq!(
            w("v2alpha1").as_deref(),
            Some("cilium.io/v2alpha1 CiliumLoadBalancerIPPool is deprecated; use cilium.io/v2 CiliumLoadBalancerIPPool")
        );
        assert_eq!(w("v2"), None);
        let custom = json!({"spec": {"group": "g.io", "names": {"kind": "K", "plural": "ks"}, "scope": "Cluster",
            "versions": [{"name": "v1", "served": true, "storage": true, "deprecated": true, "deprecationWarning": "go away"}]}});
        assert_eq!(
            from_crd(&custom)[0].deprecation_warning.as_deref(),
            Some("go away")
        );
        let alone = json!({"spec": {"group": "g.io", "names": {"kind": "K", "plural": "ks"}, "scope": "Cluster",
            "versions": [{"name": "v1", "served": true, "storage": true, "deprecated": true}]}});
        assert_eq!(
            from_crd(&alone)[0].deprecation_warning.as_deref(),
            Some("g.io/v1 K is deprecated")
        );
    }
}
