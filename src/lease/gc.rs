//! Garbage collection of released L2-announcement leases (Cilium's `l2-announcer-lease-gc`).
//!
//! Cilium lists the Leases in its namespace every minute and deletes those whose name starts
//! with `cilium-l2announce` and whose `holderIdentity` is absent or empty, i.e. leases released
//! by `ReleaseOnCancel` when a Service stopped being selected. A 403 on the list is ignored.

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams, ListParams, Preconditions};

use crate::lease::decide::holder_of;
use crate::lease::elector::LeaseError;

/// The leases Cilium's GC would delete: name starts with `prefix`, no holder.
pub(crate) fn select_for_gc<'a>(leases: &'a [Lease], prefix: &str) -> Vec<&'a Lease> {
    leases
        .iter()
        .filter(|l| {
            l.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with(prefix))
                && holder_of(l).is_none()
        })
        .collect()
}

/// What one GC pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GcReport {
    /// Names deleted.
    pub deleted: Vec<String>,
    /// Names that changed (acquired again) or vanished between list and delete.
    pub skipped: Vec<String>,
    /// Names whose delete failed for another reason (logged).
    pub failed: Vec<String>,
    /// The list was forbidden (missing RBAC); Cilium ignores this silently.
    pub list_forbidden: bool,
}

/// One GC pass over `api`'s namespace.
///
/// Unlike Cilium, each delete carries the listed `resourceVersion` as a precondition: a node
/// that acquires a released lease between our list and our delete would otherwise lose its fresh
/// lease (and see 404 on its next renew).
pub(crate) async fn gc_once(api: &Api<Lease>, prefix: &str) -> Result<GcReport, LeaseError> {
    let mut report = GcReport::default();
    let list = match api.list(&ListParams::default()).await {
        Ok(list) => list,
        Err(kube::Error::Api(s)) if s.is_forbidden() => {
            report.list_forbidden = true;
            return Ok(report);
        }
        Err(source) => {
            return Err(LeaseError::Kube {
                lease: format!("{prefix}*"),
                source,
            })
        }
    };
    for lease in select_for_gc(&list.items, prefix) {
        let Some(name) = lease.metadata.name.clone() else {
            continue;
        };
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: lease.metadata.resource_version.clone(),
                uid: lease.metadata.uid.clone(),
            }),
            ..DeleteParams::default()
        };
        match api.delete(&name, &dp).await {
            Ok(_) => report.deleted.push(name),
            Err(kube::Error::Api(s)) if s.is_conflict() || s.is_not_found() => {
                report.skipped.push(name)
            }
            Err(e) => {
                tracing::warn!(lease = %name, error = %e, "lease GC: delete failed");
                report.failed.push(name);
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn lease(name: Option<&str>, holder: Option<&str>) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: name.map(str::to_string),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                ..LeaseSpec::default()
            }),
        }
    }

    #[test]
    fn selects_holderless_leases_with_the_prefix() {
        let leases = vec![
            lease(Some("cilium-l2announce-default-a"), None),
            lease(Some("cilium-l2announce-default-b"), Some("")),
            lease(Some("cilium-l2announce-default-c"), Some("node-1")),
            lease(Some("other-lease"), None),
            lease(Some("cilium-l2announc"), None),
            lease(None, None),
            Lease {
                metadata: ObjectMeta {
                    name: Some("cilium-l2announce-kube-system-dns".into()),
                    ..ObjectMeta::default()
                },
                spec: None,
            },
        ];
        let names: Vec<_> = select_for_gc(&leases, "cilium-l2announce")
            .iter()
            .filter_map(|l| l.metadata.name.as_deref())
            .collect();
        assert_eq!(
            names,
            [
                "cilium-l2announce-default-a",
                "cilium-l2announce-default-b",
                "cilium-l2announce-kube-system-dns"
            ]
        );
    }
}
