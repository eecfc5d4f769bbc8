//! The cluster's prerequisites: rung 0 (is the Service a LoadBalancer, are the CRDs served,
//! which engine runs and does it handle this Service) and rung 3's L2 prerequisites (the
//! `cilium-config` keys and the agent's lease RBAC).

use super::super::eval::{yaml_list, Cluster, Engine, SvcFacts};
use super::super::fix;
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

    /// `lease-rbac`: may the agent's service account use leases?
    pub(super) fn lease_rbac(&self, f: &SvcFacts<'_>) -> Finding {
        let agent_ns = self.agent_ns();
        let (ns, name) = (&f.view.namespace, &f.view.name);
        if self.rbac.missing.is_empty() {
            return Finding::new(3, "lease-rbac", Pass).observed(format!(
                "ServiceAccount {agent_ns}/{} may {} leases (ClusterRole {})",
                n::AGENT_SERVICE_ACCOUNT,
                n::LEASE_RBAC_VERBS.join(", "),
                self.rbac.roles.join(", ")
            ));
        }
        let rule = format!(
            "- apiGroups: [{}]\n  resources: [{}]\n  verbs: {}",
            n::LEASE_API_GROUP,
            n::LEASE_RESOURCE,
            yaml_list(n::LEASE_RBAC_VERBS)
        );
        let role = self
            .rbac
            .roles
            .first()
            .cloned()
            .unwrap_or_else(|| n::AGENT_CLUSTER_ROLE.to_owned());
        let verbs_json = n::LEASE_RBAC_VERBS
            .iter()
            .map(|v| format!("\"{v}\""))
            .collect::<Vec<_>>()
            .join(",");
        let observed = if self.rbac.roles.is_empty() {
            format!(
                "ServiceAccount {agent_ns}/{} is bound to no ClusterRole",
                n::AGENT_SERVICE_ACCOUNT
            )
        } else {
            format!(
                "ClusterRole {} (bound to ServiceAccount {agent_ns}/{}) grants on {}.{}: [{}]; missing: {}",
                self.rbac.roles.join(", "),
                n::AGENT_SERVICE_ACCOUNT,
                n::LEASE_RESOURCE,
                n::LEASE_API_GROUP,
                self.rbac.verbs.iter().cloned().collect::<Vec<_>>().join(", "),
                self.rbac.missing.join(", ")
            )
        };
        Finding::new(3, "lease-rbac", Fail)
            .observed(format!("{observed}\nthe agent logs: leases.coordination.k8s.io \"{}\" is forbidden", n::l2_lease_name(ns, name)))
            .expected(format!("the agent's ClusterRole holds this rule (Helm renders it with {}=true):\n{rule}", n::HELM_L2_ANNOUNCEMENTS_ENABLED))
            .fix(format!(
                "kubectl patch clusterrole {role} --type json -p '[{{\"op\":\"add\",\"path\":\"/rules/-\",\"value\":{{\"apiGroups\":[\"{}\"],\"resources\":[\"{}\"],\"verbs\":[{verbs_json}]}}}}]'",
                n::LEASE_API_GROUP,
                n::LEASE_RESOURCE
            ))
    }

    /// `l2-prerequisites`: stands for the three Cilium-config checks when lbctl serve runs.
    pub(super) fn l2_prerequisites_skip() -> Finding {
        Finding::new(3, "l2-prerequisites", Skip)
            .observed("engine is lbctl serve: Cilium's config keys do not apply")
    }
}
