//! Desired status to the exact objects written, and the "did anything change" test that keeps
//! writes at zero on a restart. Pure: the clock is a parameter.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, ServiceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{json, Value};

use crate::ipam::controller::{DesiredPool, DesiredService};
use crate::model::names;

/// `observedGeneration` for an object of `generation`: none when the object has none (a Service
/// never does; it reads as 0). The server drops a written 0 anyway (`omitempty`), so writing it
/// would make every later comparison see a difference that no write can remove.
pub fn observed(generation: i64) -> Option<i64> {
    (generation > 0).then_some(generation)
}

/// `now` as a `metav1.Time` can hold it (whole seconds), so what we compare is what we write.
fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// A condition as the server gives it back: a zero `observedGeneration` gone, the time in whole
/// seconds. Comparisons go through this, so a field the server normalizes never looks changed.
fn as_stored(c: &Condition) -> Condition {
    Condition {
        observed_generation: c.observed_generation.filter(|g| *g != 0),
        last_transition_time: Time(whole_seconds(c.last_transition_time.0)),
        ..c.clone()
    }
}

/// Whether two condition lists differ in anything the server keeps.
pub(crate) fn conditions_differ(a: &[Condition], b: &[Condition]) -> bool {
    a.len() != b.len() || a.iter().zip(b).any(|(x, y)| as_stored(x) != as_stored(y))
}

/// Sets condition `new` in `list` the way `meta.SetStatusCondition` does: one entry per type,
/// `lastTransitionTime` kept unless the status flips. The first entry of the type keeps its
/// position (duplicates left by Cilium < 1.15 are dropped).
fn set_condition(list: &mut Vec<Condition>, mut new: Condition) {
    let newest = list
        .iter()
        .filter(|c| c.type_ == new.type_)
        .max_by_key(|c| c.last_transition_time.0)
        .cloned();
    if let Some(old) = &newest {
        if old.status == new.status {
            new.last_transition_time = old.last_transition_time.clone();
        }
    }
    match list.iter().position(|c| c.type_ == new.type_) {
        Some(i) => {
            list[i] = new;
            let ty = list[i].type_.clone();
            let mut seen = false;
            list.retain(|c| {
                if c.type_ != ty {
                    return true;
                }
                let keep = !seen;
                seen = true;
                keep
            });
        }
        None => list.push(new),
    }
}

/// The Service status to write for `desired`, built on top of `current` (other conditions and
/// the extra fields of kept ingress entries survive).
pub(crate) fn service_status(
    current: Option<&ServiceStatus>,
    desired: &DesiredService,
    now: Timestamp,
) -> ServiceStatus {
    let now = whole_seconds(now);
    let old_ingress: &[LoadBalancerIngress] = current
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_deref())
        .unwrap_or(&[]);
    let ingress: Vec<LoadBalancerIngress> = desired
        .ingress
        .iter()
        .map(|ip| {
            let text = ip.to_string();
            old_ingress
                .iter()
                .find(|i| i.ip.as_deref().and_then(|s| s.parse().ok()) == Some(*ip))
                .map(|i| LoadBalancerIngress {
                    ip: Some(text.clone()),
                    ..i.clone()
                })
                .unwrap_or(LoadBalancerIngress {
                    ip: Some(text),
                    ..LoadBalancerIngress::default()
                })
        })
        .collect();
    let mut conditions = current
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    match &desired.condition {
        Some(c) => set_condition(
            &mut conditions,
            Condition {
                type_: names::SVC_SATISFIED_CONDITION.to_owned(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                observed_generation: observed(c.observed_generation),
                last_transition_time: Time(now),
            },
        ),
        None => conditions.retain(|c| c.type_ != names::SVC_SATISFIED_CONDITION),
    }
    ServiceStatus {
        load_balancer: Some(LoadBalancerStatus {
            ingress: (!ingress.is_empty()).then_some(ingress),
        }),
        conditions: (!conditions.is_empty()).then_some(conditions),
    }
}

fn ingress_of(s: Option<&ServiceStatus>) -> &[LoadBalancerIngress] {
    s.and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_deref())
        .unwrap_or(&[])
}

fn conditions_of(s: Option<&ServiceStatus>) -> &[Condition] {
    s.and_then(|s| s.conditions.as_deref()).unwrap_or(&[])
}

/// An ingress entry as the server keeps it: an IP without `ipMode` is defaulted to `VIP` (on a
/// LoadBalancer, since 1.30), so the two mean the same.
fn ingress_as_stored(i: &LoadBalancerIngress) -> LoadBalancerIngress {
    let mut i = i.clone();
    if i.ip_mode.is_none() && i.ip.as_deref().is_some_and(|ip| !ip.is_empty()) {
        i.ip_mode = Some("VIP".to_owned());
    }
    i
}

/// Whether writing `new` over `current` would change anything the server keeps (absent and
/// empty are equal, and so is whatever the server defaults or normalizes).
pub(crate) fn service_status_differs(current: Option<&ServiceStatus>, new: &ServiceStatus) -> bool {
    let (a, b) = (ingress_of(current), ingress_of(Some(new)));
    a.len() != b.len()
        || a.iter()
            .zip(b)
            .any(|(x, y)| ingress_as_stored(x) != ingress_as_stored(y))
        || conditions_differ(conditions_of(current), conditions_of(Some(new)))
}

/// Merge-patch body for the status subresource; `resource_version` makes it fail with 409
/// instead of overwriting a status we have not seen.
pub(crate) fn service_patch(status: &ServiceStatus, resource_version: &str) -> Value {
    let ingress = ingress_of(Some(status));
    let conditions = conditions_of(Some(status));
    json!({
        "metadata": {"resourceVersion": resource_version},
        "status": {
            "loadBalancer": {"ingress": if ingress.is_empty() { Value::Null } else { json!(ingress) }},
            "conditions": if conditions.is_empty() { Value::Null } else { json!(conditions) },
        }
    })
}

/// The pool conditions to write on top of `current`, as Cilium's operator writes them
/// (operator/pkg/lbipam): the three counts as `Unknown` conditions carrying the number in the
/// message, and `PoolConflict` true with the overlap or false once resolved. Other
/// controllers' conditions are kept.
pub(crate) fn pool_conditions(
    current: &[Condition],
    d: &DesiredPool,
    now: Timestamp,
) -> Vec<Condition> {
    let now = whole_seconds(now);
    let mut list = current.to_vec();
    let count = |ty: &str, n: String| Condition {
        type_: ty.to_owned(),
        status: "Unknown".to_owned(),
        reason: names::POOL_COUNT_REASON.to_owned(),
        message: n,
        observed_generation: observed(d.generation),
        last_transition_time: Time(now),
    };
    set_condition(
        &mut list,
        count(names::POOL_IPS_TOTAL, d.counts.total.to_string()),
    );
    set_condition(
        &mut list,
        count(names::POOL_IPS_AVAILABLE, d.counts.available.to_string()),
    );
    set_condition(
        &mut list,
        count(names::POOL_IPS_USED, d.counts.used.to_string()),
    );
    let conflict = match &d.conflict {
        Some(msg) => ("True", names::POOL_CONFLICT_REASON, msg.clone()),
        None => ("False", names::POOL_CONFLICT_RESOLVED_REASON, String::new()),
    };
    set_condition(
        &mut list,
        Condition {
            type_: names::POOL_CONFLICT.to_owned(),
            status: conflict.0.to_owned(),
            reason: conflict.1.to_owned(),
            message: conflict.2,
            observed_generation: observed(d.generation),
            last_transition_time: Time(now),
        },
    );
    list
}

pub(crate) fn pool_patch(conditions: &[Condition], resource_version: &str) -> Value {
    json!({
        "metadata": {"resourceVersion": resource_version},
        "status": {"conditions": conditions},
    })
}

/// The status as the controller's input describes it (ingress IPs and our condition), with
/// `last_transition` for the condition. Most Services' status is exactly this, so the cache
/// keeps only the timestamp for them instead of a second copy of the status.
pub(crate) fn rebuild(
    input: &crate::ipam::controller::ServiceInput,
    last_transition: Option<Timestamp>,
) -> ServiceStatus {
    let ingress: Vec<LoadBalancerIngress> = input
        .view
        .ingress_ips
        .iter()
        .map(|ip| LoadBalancerIngress {
            ip: Some(ip.to_string()),
            ..LoadBalancerIngress::default()
        })
        .collect();
    let conditions: Vec<Condition> = match (&input.condition, last_transition) {
        (Some(c), Some(t)) => vec![Condition {
            type_: names::SVC_SATISFIED_CONDITION.to_owned(),
            status: c.status.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
            observed_generation: observed(c.observed_generation),
            last_transition_time: Time(t),
        }],
        _ => Vec::new(),
    };
    ServiceStatus {
        load_balancer: Some(LoadBalancerStatus {
            ingress: (!ingress.is_empty()).then_some(ingress),
        }),
        conditions: (!conditions.is_empty()).then_some(conditions),
    }
}

/// What to cache for a Service's status: nothing but the condition time when [`rebuild`] gives
/// it back exactly, else the whole status.
pub(crate) fn compact(
    status: Option<ServiceStatus>,
    input: &crate::ipam::controller::ServiceInput,
) -> (Option<Box<ServiceStatus>>, Option<Timestamp>) {
    let time = status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .and_then(crate::serve::convert::satisfied_condition)
        .map(|c| c.last_transition_time.0);
    if service_status_differs(status.as_ref(), &rebuild(input, time)) {
        (status.map(Box::new), time)
    } else {
        (None, time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipam::controller::CondSpec;
    use crate::ipam::pool::PoolCounts;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn satisfied(gen: i64) -> DesiredService {
        DesiredService {
            ingress: vec!["10.0.0.1".parse().unwrap()],
            condition: Some(CondSpec {
                status: "True".into(),
                reason: "satisfied".into(),
                message: String::new(),
                observed_generation: gen,
            }),
        }
    }

    #[test]
    fn rewriting_the_same_status_is_a_no_op() {
        let first = service_status(None, &satisfied(1), t(100));
        let again = service_status(Some(&first), &satisfied(1), t(200));
        assert!(!service_status_differs(Some(&first), &again));
        let bumped = service_status(Some(&first), &satisfied(2), t(300));
        assert!(service_status_differs(Some(&first), &bumped));
        let c = &bumped.conditions.as_ref().unwrap()[0];
        assert_eq!(
            c.last_transition_time.0,
            t(100),
            "status unchanged keeps the time"
        );
        assert_eq!(c.observed_generation, Some(2));
    }

    #[test]
    fn a_service_without_generation_reads_back_as_written() {
        // Services have no metadata.generation: the controller sees 0.
        let now = Timestamp::from_nanosecond(100_500_000_000).unwrap();
        let written = service_status(None, &satisfied(0), now);
        let c = &written.conditions.as_ref().unwrap()[0];
        assert_eq!(c.observed_generation, None, "no observedGeneration: 0");
        assert_eq!(
            c.last_transition_time.0,
            t(100),
            "whole seconds, as written"
        );
        // What the server hands back after its omitempty/second-precision encoding.
        let mut wire = serde_json::to_value(&written).unwrap();
        if let Some(c) = wire["conditions"][0].as_object_mut() {
            c.remove("observedGeneration");
        }
        let back: ServiceStatus = serde_json::from_value(wire).unwrap();
        let again = service_status(Some(&back), &satisfied(0), t(200));
        assert!(!service_status_differs(Some(&back), &again));
        // A status some older writer left with an explicit 0 needs no rewrite either.
        let mut zero = back.clone();
        zero.conditions.as_mut().unwrap()[0].observed_generation = Some(0);
        assert!(!service_status_differs(Some(&zero), &again));
        assert_eq!(
            pool_conditions(&[], &pool(0), now)[0].observed_generation,
            None
        );
    }

    #[test]
    fn duplicates_collapse_and_foreign_conditions_survive() {
        let cond = |ty: &str, status: &str, at: i64| Condition {
            type_: ty.into(),
            status: status.into(),
            reason: "r".into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: Time(t(at)),
        };
        let current = ServiceStatus {
            load_balancer: None,
            conditions: Some(vec![
                cond(names::SVC_SATISFIED_CONDITION, "False", 1),
                cond("example.com/Other", "True", 2),
                cond(names::SVC_SATISFIED_CONDITION, "True", 3),
            ]),
        };
        let new = service_status(Some(&current), &satisfied(1), t(9));
        let list = new.conditions.unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].type_, names::SVC_SATISFIED_CONDITION);
        assert_eq!(list[0].last_transition_time.0, t(3), "newest entry decides");
        assert_eq!(list[1].type_, "example.com/Other");
    }

    #[test]
    fn cleanup_removes_ingress_and_our_condition_only() {
        let first = service_status(None, &satisfied(1), t(1));
        let gone = service_status(
            Some(&first),
            &DesiredService {
                ingress: vec![],
                condition: None,
            },
            t(2),
        );
        assert!(gone.conditions.is_none());
        let body = service_patch(&gone, "7");
        assert_eq!(body["status"]["loadBalancer"]["ingress"], Value::Null);
        assert_eq!(body["status"]["conditions"], Value::Null);
        assert_eq!(body["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn compact_keeps_only_what_cannot_be_rebuilt() {
        use crate::ipam::controller::ServiceInput;
        use crate::serve::convert;
        let plain = service_status(None, &satisfied(1), t(100));
        let svc = |status: &ServiceStatus| {
            let obj: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
                "metadata": {"name": "a", "namespace": "b", "generation": 1},
                "spec": {"type": "LoadBalancer"},
                "status": status,
            }))
            .unwrap();
            convert::service(&obj).input
        };
        let input: ServiceInput = svc(&plain);
        let (extra, time) = compact(Some(plain.clone()), &input);
        assert!(extra.is_none());
        assert_eq!(rebuild(&input, time), plain);
        let mut odd = plain.clone();
        odd.load_balancer
            .as_mut()
            .unwrap()
            .ingress
            .as_mut()
            .unwrap()[0]
            .ip_mode = Some("Proxy".into());
        let (extra, _) = compact(Some(odd.clone()), &svc(&odd));
        assert_eq!(extra.as_deref(), Some(&odd));
        // The server's default ipMode needs no copy: it comes back by itself.
        let mut vip = plain.clone();
        vip.load_balancer
            .as_mut()
            .unwrap()
            .ingress
            .as_mut()
            .unwrap()[0]
            .ip_mode = Some("VIP".into());
        let (extra, _) = compact(Some(vip.clone()), &svc(&vip));
        assert!(extra.is_none());
    }

    fn pool(generation: i64) -> DesiredPool {
        DesiredPool {
            generation,
            counts: PoolCounts {
                total: 51u128.into(),
                available: 50u128.into(),
                used: 1u128.into(),
            },
            conflict: None,
        }
    }

    #[test]
    fn pool_conditions_match_cilium() {
        let d = pool(3);
        let list = pool_conditions(&[], &d, t(5));
        let got: Vec<(&str, &str, &str, &str)> = list
            .iter()
            .map(|c| {
                (
                    c.type_.as_str(),
                    c.status.as_str(),
                    c.reason.as_str(),
                    c.message.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("cilium.io/IPsTotal", "Unknown", "noreason", "51"),
                ("cilium.io/IPsAvailable", "Unknown", "noreason", "50"),
                ("cilium.io/IPsUsed", "Unknown", "noreason", "1"),
                ("cilium.io/PoolConflict", "False", "resolved", ""),
            ]
        );
        assert!(list.iter().all(|c| c.observed_generation == Some(3)));
        assert_eq!(
            pool_conditions(&list, &d, t(99)),
            list,
            "unchanged is a no-op"
        );
    }
}
