//! The cluster's prerequisites: rung 0 (is the Service a LoadBalancer, are the CRDs served,
//! which engine runs and does it handle this Service) and rung 3's L2 prerequisites (the
//! `cilium-config` keys and the agent's lease RBAC).

use std::collections::BTreeSet;

use serde_json::Value;

use super::super::eval::{Cluster, Engine, SvcFacts};
use super::super::fix;
use super::super::snapshot::{arr, name_of, str_at, Snapshot, Source};
use super::super::{Finding, Verdict};
use crate::model::names as n;

use Verdict::{Fail, Pass, Skip, Warn};

impl Cluster<'_> {
    /// `service-type`.
    pub(super) fn service_type(&self, f: &SvcFacts<'_>) -> Finding {
        if f.view.is_load_balancer {
            return Finding::new(0, "service-type", Pass).observed("type: LoadBalancer");
        }
        let ty = f
            .raw
            .spec
            .as_ref()
            .and_then(|s| s.type_.as_deref())
            .unwrap_or("ClusterIP");
        Finding::new(0, "service-type", Fail)
            .observed(format!("type: {ty}"))
            .expected("type: LoadBalancer")
            .fix(fix::patch_service_spec(
                &f.kref,
                "\"type\":\"LoadBalancer\"",
            ))
    }

    /// `cilium-crds`.
    pub(super) fn cilium_crds(&self) -> Finding {
        if self.snap.pools.is_none() {
            return Finding::new(0, "cilium-crds", Fail)
                    .observed(format!(
                        "Cilium CRDs not installed: {}.{} is not served",
                        n::POOL_PLURAL,
                        n::CILIUM_GROUP
                    ))
                    .expected("CiliumLoadBalancerIPPool (cilium.io/v2 or v2alpha1) and CiliumL2AnnouncementPolicy (cilium.io/v2alpha1) served")
                    .fix("helm upgrade --install cilium cilium/cilium -n kube-system --reuse-values   # the operator registers the CRDs at start-up\nkubectl get crd ciliumloadbalancerippools.cilium.io ciliuml2announcementpolicies.cilium.io");
        }
        let mut note = match self.snap.pool_version.as_deref() {
            Some(n::V2ALPHA1) => {
                "pools served only as cilium.io/v2alpha1 (Cilium before 1.18)".to_owned()
            }
            Some(v) => format!("pools served as cilium.io/{v}"),
            None => "pools served".to_owned(),
        };
        if self.snap.policies.is_none() {
            note.push_str("; CiliumL2AnnouncementPolicy not served (see rung 3)");
        }
        Finding::new(0, "cilium-crds", Pass).observed(note)
    }

    /// `engine`: which LB IPAM engine runs, with the evidence it was decided from.
    pub(super) fn engine_check(&self) -> Finding {
        let d = &self.decision;
        let evidence = self.evidence.lines();
        Finding::new(0, "engine", d.verdict)
            .observed(format!(
                "{}\nevidence:\n  {}",
                d.summary,
                evidence.join("\n  ")
            ))
            .expected(d.expected.clone())
            .fix(d.fix.clone())
            .evidence(evidence)
    }

    /// `lb-ipam-enabled`.
    pub(super) fn lb_ipam_enabled(&self) -> Finding {
        if self.engine == Engine::Lbctl {
            // serve --ipam takes its settings from its flags, not from cilium-config.
            return Finding::new(0, "lb-ipam-enabled", Pass).observed(format!(
                "lbctl serve --ipam leads; {}'s {} does not apply to it",
                n::CILIUM_CONFIG_MAP,
                n::CFG_ENABLE_LB_IPAM
            ));
        }
        let observed = self.config.describe(n::CFG_ENABLE_LB_IPAM, "true");
        if self.engine == Engine::Cilium
            && !self
                .config
                .bool(n::CFG_ENABLE_LB_IPAM, n::CFG_ENABLE_LB_IPAM_DEFAULT)
        {
            return Finding::new(0, "lb-ipam-enabled", Fail)
                .observed(observed)
                .expected(format!("{}: \"true\"", n::CFG_ENABLE_LB_IPAM))
                .fix(fix::patch_config(
                    self.agent_ns(),
                    n::CFG_ENABLE_LB_IPAM,
                    "true",
                    &fix::operator(),
                ));
        }
        Finding::new(0, "lb-ipam-enabled", Pass).observed(observed)
    }

    /// `lb-class`: does the engine serve the Service's class (or class-less Services)?
    pub(super) fn lb_class(&self, f: &SvcFacts<'_>) -> Finding {
        let kref = &f.kref;
        if self.engine == Engine::Lbctl {
            return match f.view.load_balancer_class.as_deref() {
                None => Finding::new(0, "lb-class", Pass).observed(
                    "no loadBalancerClass: lbctl serve serves class-less Services (unless started with --default-lb-service-ipam none)",
                ),
                Some(c) => Finding::new(0, "lb-class", Skip).observed(format!(
                    "loadBalancerClass {c}: lbctl serve serves the classes given by its --lb-class flags, which doctor cannot see"
                )),
            };
        }
        let dflt = self.config.describe(
            n::CFG_DEFAULT_LB_SERVICE_IPAM,
            n::CFG_DEFAULT_LB_SERVICE_IPAM_DEFAULT,
        );
        match f.view.load_balancer_class.as_deref() {
            None if self.engine_cfg.default_lbipam => Finding::new(0, "lb-class", Pass)
                .observed(format!("no loadBalancerClass; {dflt}: LB IPAM serves class-less Services")),
            None => Finding::new(0, "lb-class", Fail)
                .observed(format!("no loadBalancerClass and {dflt}: LB IPAM ignores this Service and writes no condition"))
                .expected(format!("{}: lbipam, or loadBalancerClass {}", n::CFG_DEFAULT_LB_SERVICE_IPAM, n::LB_CLASS_L2))
                .fix(format!(
                    "# either let LB IPAM serve class-less Services:\n{}\n# or give this Service the L2 class (immutable once set, so recreate it):\nkubectl get {kref} -o yaml > svc.yaml   # add spec.loadBalancerClass: {}\nkubectl replace --force -f svc.yaml",
                    fix::patch_config(self.agent_ns(), n::CFG_DEFAULT_LB_SERVICE_IPAM, n::DEFAULT_LB_SERVICE_IPAM_LBIPAM, &fix::operator()),
                    n::LB_CLASS_L2
                )),
            Some(c) if self.engine_cfg.classes.iter().any(|x| x == c) => Finding::new(0, "lb-class", Pass)
                .observed(format!("loadBalancerClass {c}, served by LB IPAM")),
            Some(c) if c == n::LB_CLASS_L2 || c == n::LB_CLASS_BGP => {
                self.unserved_cilium_class(f, c)
            }
            Some(c) => Finding::new(0, "lb-class", Fail)
                .observed(format!("loadBalancerClass {c} is not served by Cilium LB IPAM (it serves none, {}, {}); the Service waits for the controller of {c} and gets no condition", n::LB_CLASS_L2, n::LB_CLASS_BGP))
                .expected(format!("no loadBalancerClass or {}", n::LB_CLASS_L2))
                .fix(format!("{}\n# or run the controller that serves {c}", fix::recreate_without_class(kref))),
        }
    }

    /// `other-lb-controller`: another controller's pods beside Cilium's, or an ingress IP no
    /// pool contains.
    pub(super) fn other_lb_controller(&self, f: &SvcFacts<'_>) -> Finding {
        let mut others: Vec<String> = self
            .snap
            .pods
            .iter()
            .flatten()
            .map(super::super::snapshot::name_of)
            .filter(|p| p.starts_with("kube-vip") || p.starts_with("metallb"))
            .map(|p| format!("pod {}/{p}", self.agent_ns()))
            .collect();
        if !self.pools.is_empty() {
            for ip in &f.view.ingress_ips {
                if self.pool_of_ip(*ip).is_none() {
                    others.push(format!(
                        "ingress IP {ip} lies in no CiliumLoadBalancerIPPool"
                    ));
                }
            }
        }
        if others.is_empty() {
            return Finding::new(0, "other-lb-controller", Pass)
                .observed("no other LoadBalancer controller seen");
        }
        Finding::new(0, "other-lb-controller", Warn)
            .observed(others.join("\n"))
            .expected("one controller per Service: class-less Services are served by every controller that defaults to them")
            .fix(format!("give Services explicit classes and stop the others defaulting, e.g.\n{}", fix::patch_config(self.agent_ns(), n::CFG_DEFAULT_LB_SERVICE_IPAM, n::DEFAULT_LB_SERVICE_IPAM_NONE, &fix::operator())))
    }

    /// `l2-announcements`.
    pub(super) fn l2_announcements(&self) -> Finding {
        let agent_ns = self.agent_ns();
        let on = self.config.bool(
            n::CFG_ENABLE_L2_ANNOUNCEMENTS,
            n::CFG_ENABLE_L2_ANNOUNCEMENTS_DEFAULT,
        );
        let obs = self
            .config
            .describe(n::CFG_ENABLE_L2_ANNOUNCEMENTS, "false");
        if on {
            return Finding::new(3, "l2-announcements", Pass).observed(obs);
        }
        Finding::new(3, "l2-announcements", Fail)
            .observed(obs)
            .expected(format!("{}: \"true\"", n::CFG_ENABLE_L2_ANNOUNCEMENTS))
            .fix(format!(
                "{}\n# with Helm: {}",
                fix::patch_config(
                    agent_ns,
                    n::CFG_ENABLE_L2_ANNOUNCEMENTS,
                    "true",
                    &fix::agent_and_operator()
                ),
                fix::helm_set(
                    agent_ns,
                    &[format!("{}=true", n::HELM_L2_ANNOUNCEMENTS_ENABLED)]
                )
            ))
    }

    /// `kube-proxy-replacement`: Cilium's L2 announcer runs only with it.
    pub(super) fn kube_proxy_replacement(&self) -> Finding {
        let agent_ns = self.agent_ns();
        let kpr = self.config.string(
            n::CFG_KUBE_PROXY_REPLACEMENT,
            n::CFG_KUBE_PROXY_REPLACEMENT_DEFAULT,
        );
        let obs = self.config.describe(
            n::CFG_KUBE_PROXY_REPLACEMENT,
            n::CFG_KUBE_PROXY_REPLACEMENT_DEFAULT,
        );
        if n::KUBE_PROXY_REPLACEMENT_ON.contains(&kpr.as_str()) {
            return Finding::new(3, "kube-proxy-replacement", Pass).observed(obs);
        }
        Finding::new(3, "kube-proxy-replacement", Fail)
            .observed(format!(
                "{obs}: L2 announcements require kube-proxy replacement"
            ))
            .expected(format!("{}: \"true\"", n::CFG_KUBE_PROXY_REPLACEMENT))
            .fix(format!(
                "{}\nkubectl -n {agent_ns} rollout restart daemonset/{}",
                fix::helm_set(
                    agent_ns,
                    &[
                        format!("{}=true", n::HELM_KUBE_PROXY_REPLACEMENT),
                        "k8sServiceHost=<API server host>".to_owned(),
                        "k8sServicePort=<port>".to_owned()
                    ]
                ),
                n::AGENT_DAEMONSET
            ))
    }

    /// `lease-rbac`: may the agent's ServiceAccount get, create and update leases in its
    /// namespace? The API server's SubjectAccessReview answers first; when it refuses to, doctor
    /// evaluates every ClusterRoleBinding and the agent namespace's RoleBindings itself. A lease
    /// that an agent holds and renewed within its duration proves the agent can, whatever a
    /// partial reading of the bindings says.
    pub(super) fn lease_rbac(&self, f: &SvcFacts<'_>) -> Finding {
        let ns = self.agent_ns();
        let sa = &self.snap.agent_service_account;
        let user = n::service_account_user(ns, sa);
        let need = n::LEASE_RBAC_VERBS.join(", ");
        let proof = self.fresh_lease_proof();
        let (denied, source) = match &self.snap.lease_reviews {
            Some(Ok(reviews)) => {
                let denied: Vec<&str> = reviews
                    .iter()
                    .filter(|r| !r.allowed)
                    .map(|r| r.verb.as_str())
                    .collect();
                let reasons: BTreeSet<&str> = reviews
                    .iter()
                    .map(|r| r.reason.as_str())
                    .filter(|r| !r.is_empty())
                    .collect();
                let why = if reasons.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", reasons.into_iter().collect::<Vec<_>>().join("; "))
                };
                if denied.is_empty() {
                    return Finding::new(3, "lease-rbac", Pass).observed(format!(
                        "SubjectAccessReview: {user} may {need} leases in {ns}{why}"
                    ));
                }
                if let Some(p) = &proof {
                    // The server answers for the ServiceAccount doctor assumed; a fresh lease
                    // shows the agent renews all the same, so it runs as someone else.
                    return Finding::new(3, "lease-rbac", Warn)
                        .observed(format!("SubjectAccessReview: {user} may not {} leases in {ns}{why}; yet {p}: the agent runs as another identity than {user}", denied.join(", ")))
                        .expected(format!("the ServiceAccount of the agent's pods ({user}) may {need} leases"))
                        .fix(format!("kubectl -n {ns} get daemonset {} -o jsonpath='{{.spec.template.spec.serviceAccountName}}'
kubectl auth can-i update leases.{} -n {ns} --as=system:serviceaccount:{ns}:<that account>", n::AGENT_DAEMONSET, n::LEASE_API_GROUP));
                }
                (
                    denied.into_iter().map(str::to_owned).collect::<Vec<_>>(),
                    format!("SubjectAccessReview{why}"),
                )
            }
            refused => {
                let asked = match refused {
                    Some(Err(why)) => format!("SubjectAccessReview refused ({why}); "),
                    _ => String::new(),
                };
                let g = &self.rbac;
                let missing: Vec<String> = n::LEASE_RBAC_VERBS
                    .iter()
                    .filter(|v| !g.verbs.contains(**v) && !g.verbs.contains("*"))
                    .map(|v| (*v).to_owned())
                    .collect();
                let granted = if g.via.is_empty() {
                    format!("no binding of {user} grants anything on leases")
                } else {
                    format!(
                        "{} grant [{}] on leases",
                        g.via.join(", "),
                        g.verbs.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                };
                if missing.is_empty() {
                    return Finding::new(3, "lease-rbac", Pass).observed(format!(
                        "{asked}RBAC bindings: {granted}: {user} may {need} leases in {ns}"
                    ));
                }
                if let Some(p) = &proof {
                    return Finding::new(3, "lease-rbac", Pass).observed(format!(
                        "{p}: the agent can get, create and update leases ({asked}the RBAC bindings doctor read: {granted}; the rest comes from what it could not read or another authorizer)"
                    ));
                }
                let unread: Vec<_> = [
                    Source::ClusterRoles,
                    Source::ClusterRoleBindings,
                    Source::Roles,
                    Source::RoleBindings,
                ]
                .into_iter()
                .filter_map(|s| self.snap.unread(s))
                .collect();
                if !unread.is_empty() {
                    return Finding::new(3, "lease-rbac", Skip)
                        .observed(format!(
                            "{asked}{}",
                            unread
                                .iter()
                                .map(|u| u.note())
                                .collect::<Vec<_>>()
                                .join("\n")
                        ))
                        .fix(
                            unread
                                .iter()
                                .map(|u| u.permission())
                                .collect::<Vec<_>>()
                                .join("\n"),
                        );
                }
                (missing, format!("{asked}RBAC bindings: {granted}"))
            }
        };
        let lease = n::l2_lease_name(&f.view.namespace, &f.view.name);
        Finding::new(3, "lease-rbac", Fail)
            .observed(format!(
                "{user} may not {} leases in {ns} ({source})\nthe agent would log: leases.{} \"{lease}\" is forbidden: User \"{user}\" cannot {} resource \"{}\" in API group \"{}\" in the namespace \"{ns}\"",
                denied.join(", "),
                n::LEASE_API_GROUP,
                denied[0],
                n::LEASE_RESOURCE,
                n::LEASE_API_GROUP,
            ))
            .expected(format!(
                "the agent's ServiceAccount may {need} {}.{} in {ns} (Helm renders such a Role with {}=true)",
                n::LEASE_RESOURCE,
                n::LEASE_API_GROUP,
                n::HELM_L2_ANNOUNCEMENTS_ENABLED
            ))
            .fix(fix::lease_role(ns, sa, n::LEASE_RBAC_VERBS))
    }

    /// `Lease ns/x held by node renewed Ns ago`, for the freshest L2 lease held within its
    /// duration: only an agent allowed to get and update leases can keep one fresh, and one
    /// allowed to create them made it.
    fn fresh_lease_proof(&self) -> Option<String> {
        let now = self.snap.now;
        let prefix = format!("{}-", n::L2_LEASE_PREFIX);
        self.leases
            .values()
            .filter(|l| l.name.starts_with(&prefix) && !l.holder.is_empty() && !l.expired(now))
            .max_by_key(|l| (l.renew, l.name.clone()))
            .map(|l| {
                format!(
                    "Lease {}/{} held by {} was renewed {}s ago (within its {}s)",
                    self.agent_ns(),
                    l.name,
                    l.holder,
                    l.age(now).unwrap_or_default(),
                    l.duration.unwrap_or_default()
                )
            })
    }

    /// `l2-prerequisites`: stands for the three Cilium-config checks when lbctl serve runs.
    pub(super) fn l2_prerequisites_skip() -> Finding {
        Finding::new(3, "l2-prerequisites", Skip)
            .observed("engine is lbctl serve: Cilium's config keys do not apply")
    }
}

/// What the RBAC objects doctor read grant the agent's ServiceAccount on leases in its
/// namespace, evaluated as RBAC does: every ClusterRoleBinding, and the agent namespace's
/// RoleBindings (to a Role there or a ClusterRole), whose subjects name the ServiceAccount, its
/// user name or one of its groups.
#[derive(Clone, Debug, Default)]
pub struct LeaseGrants {
    pub verbs: BTreeSet<String>,
    /// `ClusterRole x via ClusterRoleBinding y`, `Role ns/x via RoleBinding ns/y`.
    pub via: Vec<String>,
}

pub(crate) fn lease_grants(snap: &Snapshot) -> LeaseGrants {
    let ns = snap.agent_namespace.as_str();
    let sa = if snap.agent_service_account.is_empty() {
        n::AGENT_SERVICE_ACCOUNT
    } else {
        snap.agent_service_account.as_str()
    };
    let user = n::service_account_user(ns, sa);
    let groups = n::service_account_groups(ns);
    let names = |b: &Value, binding_ns: &str| {
        arr(b, &["subjects"]).iter().any(|s| {
            let name = str_at(s, &["name"]).unwrap_or_default();
            match str_at(s, &["kind"]) {
                Some("ServiceAccount") => {
                    name == sa && str_at(s, &["namespace"]).unwrap_or(binding_ns) == ns
                }
                Some("User") => name == user,
                Some("Group") => groups.iter().any(|g| g == name),
                _ => false,
            }
        })
    };
    let mut g = LeaseGrants::default();
    let grant = |role: Option<&Value>, via: String, g: &mut LeaseGrants| {
        let Some(role) = role else { return };
        let mut any = false;
        for rule in arr(role, &["rules"]) {
            let has = |field: &str, want: &str| {
                arr(rule, &[field])
                    .iter()
                    .any(|v| v.as_str() == Some(want) || v.as_str() == Some("*"))
            };
            // A rule limited to resourceNames cannot grant create (the name is not known when
            // RBAC decides), and grants get/update only on those leases: not counted.
            if has("apiGroups", n::LEASE_API_GROUP)
                && has("resources", n::LEASE_RESOURCE)
                && arr(rule, &["resourceNames"]).is_empty()
            {
                any = true;
                g.verbs.extend(
                    arr(rule, &["verbs"])
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned),
                );
            }
        }
        if any {
            g.via.push(via);
        }
    };
    let cluster_role = |name: &str| snap.cluster_roles.iter().find(|r| name_of(r) == name);
    for b in &snap.cluster_role_bindings {
        if !names(b, "") || str_at(b, &["roleRef", "kind"]) != Some("ClusterRole") {
            continue;
        }
        let role = str_at(b, &["roleRef", "name"]).unwrap_or_default();
        grant(
            cluster_role(role),
            format!("ClusterRole {role} via ClusterRoleBinding {}", name_of(b)),
            &mut g,
        );
    }
    for b in snap
        .role_bindings
        .iter()
        .filter(|b| super::super::snapshot::namespace_of(b) == ns)
    {
        if !names(b, ns) {
            continue;
        }
        let role = str_at(b, &["roleRef", "name"]).unwrap_or_default();
        match str_at(b, &["roleRef", "kind"]) {
            Some("ClusterRole") => grant(
                cluster_role(role),
                format!("ClusterRole {role} via RoleBinding {ns}/{}", name_of(b)),
                &mut g,
            ),
            Some("Role") => grant(
                snap.roles
                    .iter()
                    .find(|r| name_of(r) == role && super::super::snapshot::namespace_of(r) == ns),
                format!("Role {ns}/{role} via RoleBinding {ns}/{}", name_of(b)),
                &mut g,
            ),
            _ => {}
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::super::super::eval::service_facts;
    use super::super::super::snapshot::AccessReview;
    use super::*;
    use serde_json::json;

    fn snap(reviews: Option<Result<Vec<AccessReview>, String>>, fresh_lease: bool) -> Snapshot {
        let now = 1_000_000;
        let renew = jiff::Timestamp::from_second(if fresh_lease { now - 3 } else { now - 600 })
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%S.000000Z")
            .to_string();
        Snapshot {
            now,
            agent_namespace: "kube-system".into(),
            agent_service_account: "cilium".into(),
            lease_reviews: reviews,
            leases: vec![
                json!({"metadata": {"name": "cilium-l2announce-demo-web", "namespace": "kube-system"},
                "spec": {"holderIdentity": "worker-1", "leaseDurationSeconds": 15, "renewTime": renew}}),
            ],
            ..Snapshot::default()
        }
    }

    fn svc() -> k8s_openapi::api::core::v1::Service {
        serde_json::from_value(json!({"metadata": {"namespace": "demo", "name": "web"},
            "spec": {"type": "LoadBalancer"}}))
        .unwrap()
    }

    fn review(verb: &str, allowed: bool) -> AccessReview {
        AccessReview {
            verb: verb.into(),
            allowed,
            reason: String::new(),
        }
    }

    /// The review denies, yet an agent keeps a lease fresh: the agent is not who doctor asked
    /// about, a warning that says so rather than a false "forbidden".
    #[test]
    fn a_fresh_lease_against_a_denying_review_is_a_warning() {
        let denied = Some(Ok(vec![
            review("get", false),
            review("create", false),
            review("update", false),
        ]));
        let s = snap(denied.clone(), true);
        let svc = svc();
        let f = Cluster::new(&s).lease_rbac(&service_facts(&svc));
        assert_eq!(f.verdict, Warn, "{f:?}");
        assert!(
            f.observed
                .contains("yet Lease kube-system/cilium-l2announce-demo-web held by worker-1 was renewed 3s ago"),
            "{}",
            f.observed
        );
        // Without the lease (expired), the review's word stands.
        let s = snap(denied, false);
        let f = Cluster::new(&s).lease_rbac(&service_facts(&svc));
        assert_eq!(f.verdict, Fail, "{f:?}");
        assert!(
            f.observed.contains("the agent would log: "),
            "{}",
            f.observed
        );
    }

    /// Bindings: a Group subject through a RoleBinding to a ClusterRole counts; a rule limited
    /// to resourceNames does not.
    #[test]
    fn bindings_are_evaluated_as_rbac_does() {
        let mut s = snap(Some(Err("forbidden".into())), false);
        s.cluster_roles = vec![
            json!({"metadata": {"name": "leases"}, "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}]}),
            json!({"metadata": {"name": "named"}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "resourceNames": ["x"], "verbs": ["*"]}]}),
        ];
        s.role_bindings = vec![
            json!({"metadata": {"name": "all-sas", "namespace": "kube-system"},
                "roleRef": {"kind": "ClusterRole", "name": "leases"},
                "subjects": [{"kind": "Group", "name": "system:serviceaccounts:kube-system"}]}),
            json!({"metadata": {"name": "named", "namespace": "kube-system"},
                "roleRef": {"kind": "ClusterRole", "name": "named"},
                "subjects": [{"kind": "ServiceAccount", "name": "cilium"}]}),
        ];
        let g = lease_grants(&s);
        assert_eq!(
            g.via,
            vec!["ClusterRole leases via RoleBinding kube-system/all-sas"]
        );
        let svc = svc();
        let f = Cluster::new(&s).lease_rbac(&service_facts(&svc));
        assert_eq!(f.verdict, Pass, "{f:?}");
        assert!(
            f.observed
                .starts_with("SubjectAccessReview refused (forbidden); RBAC bindings:"),
            "{}",
            f.observed
        );
        // The same binding in another namespace grants nothing here.
        s.role_bindings[0]["metadata"]["namespace"] = json!("other");
        let f = Cluster::new(&s).lease_rbac(&service_facts(&svc));
        assert_eq!(f.verdict, Fail, "{f:?}");
    }
}
