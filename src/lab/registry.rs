//! The resource types the lab serves: built-in kinds plus every kind defined by a stored CRD.

use serde_json::Value;

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
    /// Objects of this kind carry `metadata.generation`, bumped on spec changes.
    pub has_spec: bool,
    /// `openAPIV3Schema` of a CRD version, used for validation and OpenAPI.
    pub schema: Option<Value>,
    /// `additionalPrinterColumns` of a CRD version.
    pub printer_columns: Vec<Value>,
    pub storage_version: String,
    /// Every version served for this group/kind, preferred first.
    pub versions: Vec<String>,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    pub fn group_version(&self) -> String {
        self.api_version()
    }
    /// Key under which objects are stored: versions of one kind share their objects.
    pub fn store_key(&self) -> (String, String) {
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
    has_spec: bool,
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
        has_spec,
        schema: None,
        printer_columns: vec![],
        storage_version: version.into(),
        versions: vec![version.into()],
    }
}

/// The built-in kinds the lab serves.
pub fn builtins() -> Vec<ResourceType> {
    vec![
        builtin(
            "",
            "v1",
            "Namespace",
            "namespaces",
            &["ns"],
            false,
            true,
            true,
        ),
        builtin("", "v1", "Service", "services", &["svc"], true, true, true),
        builtin("", "v1", "Node", "nodes", &["no"], false, true, true),
        builtin("", "v1", "Pod", "pods", &["po"], true, true, true),
        builtin(
            "",
            "v1",
            "ConfigMap",
            "configmaps",
            &["cm"],
            true,
            false,
            false,
        ),
        builtin(
            "",
            "v1",
            "Endpoints",
            "endpoints",
            &["ep"],
            true,
            false,
            false,
        ),
        builtin("", "v1", "Event", "events", &["ev"], true, false, false),
        builtin("", "v1", "Secret", "secrets", &[], true, false, false),
        builtin(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            &["sa"],
            true,
            false,
            false,
        ),
        builtin(
            "discovery.k8s.io",
            "v1",
            "EndpointSlice",
            "endpointslices",
            &[],
            true,
            false,
            false,
        ),
        builtin(
            "coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            &[],
            true,
            false,
            true,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            &[],
            false,
            false,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            &[],
            false,
            false,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "Role",
            "roles",
            &[],
            true,
            false,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            &[],
            true,
            false,
            false,
        ),
        builtin(
            "apps",
            "v1",
            "DaemonSet",
            "daemonsets",
            &["ds"],
            true,
            true,
            true,
        ),
        builtin(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            &["deploy"],
            true,
            true,
            true,
        ),
        builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            &["crd", "crds"],
            false,
            true,
            true,
        ),
    ]
}

/// What apiextensions' validation says about a CRD's name and group (`create`: the approval rule
/// for protected groups applies to new CRDs only). A CRD cannot define a core kind: its group
/// must be a domain.
pub fn crd_name_errors(crd: &Value, create: bool) -> Vec<String> {
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
pub fn from_crd(crd: &Value) -> Vec<ResourceType> {
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
                has_spec: true,
                schema: v["schema"]["openAPIV3Schema"]
                    .as_object()
                    .map(|o| Value::Object(o.clone())),
                printer_columns: v["additionalPrinterColumns"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
                storage_version: storage.clone(),
                versions: names.clone(),
            })
        })
        .collect()
}
