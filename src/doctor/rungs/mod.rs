//! The checks of each rung. Every fix names this Service's objects so it can be pasted as is.

use std::net::IpAddr;

use super::eval::{labels_text, sample_block, service_facts, yaml_list, Cluster, Engine, SvcFacts};
use super::snapshot::{name_of, newest, parse_go_duration, svc_conditions, svc_key};
use super::{Finding, Verdict};
use crate::ipam::block::reserves_first_last;
use crate::ipam::engine::{is_compatible, Incompatible, TrafficPolicy};
use crate::ipam::AllowFirstLast;
use crate::model::names as n;

use Verdict::{Fail, Pass, Skip, Warn};

fn patch_config(ns: &str, key: &str, value: &str, restart: &str) -> String {
    format!(
        "kubectl -n {ns} patch configmap {cm} --type merge -p '{{\"data\":{{\"{key}\":\"{value}\"}}}}'\nkubectl -n {ns} rollout restart {restart}",
        cm = n::CILIUM_CONFIG_MAP
    )
}

fn recreate_without_class(kref: &str) -> String {
    format!(
        "# spec.loadBalancerClass is immutable: recreate the Service without it\nkubectl get {kref} -o yaml > svc.yaml   # delete the spec.loadBalancerClass line\nkubectl replace --force -f svc.yaml"
    )
}

/// `kubectl label` for the matchLabels a Service lacks.
fn label_fix(
    kref: &str,
    want: &std::collections::BTreeMap<String, String>,
    have: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    let missing: Vec<String> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .filter(|(k, _)| k.as_str() != n::LABEL_SVC_NAME && k.as_str() != n::LABEL_SVC_NAMESPACE)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    (!missing.is_empty()).then(|| format!("kubectl label {kref} {} --overwrite", missing.join(" ")))
}

fn next_ip(ip: IpAddr, by: u128) -> IpAddr {
    match ip {
        IpAddr::V4(a) => IpAddr::from(std::net::Ipv4Addr::from(
            u32::from(a).saturating_add(by as u32),
        )),
        IpAddr::V6(a) => IpAddr::from(std::net::Ipv6Addr::from(u128::from(a).saturating_add(by))),
    }
}

fn prev_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(a) => IpAddr::from(std::net::Ipv4Addr::from(u32::from(a).saturating_sub(1))),
        IpAddr::V6(a) => IpAddr::from(std::net::Ipv6Addr::from(u128::from(a).saturating_sub(1))),
    }
}

impl Cluster<'_> {
    fn agent_ns(&self) -> &str {
        &self.snap.agent_namespace
    }

    fn pool_kind(&self) -> String {
        format!(
            "{}/{}",
            n::CILIUM_GROUP,
            self.snap.pool_version.as_deref().unwrap_or(n::V2)
        )
    }

    /// Rung 0. `None`: stop (nothing further can be judged); `Some(responsible)`.
    pub(crate) fn rung0(&self, f: &SvcFacts<'_>, out: &mut Vec<Finding>) -> Option<bool> {
        let kref = &f.kref;
        let ty = f
            .raw
            .spec
            .as_ref()
            .and_then(|s| s.type_.as_deref())
            .unwrap_or("ClusterIP");
        if !f.view.is_load_balancer {
            out.push(
                Finding::new(0, "service-type", Fail)
                    .observed(format!("type: {ty}"))
                    .expected("type: LoadBalancer")
                    .fix(format!(
                        "kubectl patch {kref} -p '{{\"spec\":{{\"type\":\"LoadBalancer\"}}}}'"
                    )),
            );
            return None;
        }
        out.push(Finding::new(0, "service-type", Pass).observed("type: LoadBalancer"));

        if self.snap.pools.is_none() {
            out.push(
                Finding::new(0, "cilium-crds", Fail)
                    .observed(format!(
                        "Cilium CRDs not installed: {}.{} is not served",
                        n::POOL_PLURAL,
                        n::CILIUM_GROUP
                    ))
                    .expected("CiliumLoadBalancerIPPool (cilium.io/v2 or v2alpha1) and CiliumL2AnnouncementPolicy (cilium.io/v2alpha1) served")
                    .fix("helm upgrade --install cilium cilium/cilium -n kube-system --reuse-values   # the operator registers the CRDs at start-up\nkubectl get crd ciliumloadbalancerippools.cilium.io ciliuml2announcementpolicies.cilium.io"),
            );
            return None;
        }
        let mut crd_note = match self.snap.pool_version.as_deref() {
            Some(n::V2ALPHA1) => {
                "pools served only as cilium.io/v2alpha1 (Cilium before 1.18)".to_owned()
            }
            Some(v) => format!("pools served as cilium.io/{v}"),
            None => "pools served".to_owned(),
        };
        if self.snap.policies.is_none() {
            crd_note.push_str("; CiliumL2AnnouncementPolicy not served (see rung 3)");
        }
        out.push(Finding::new(0, "cilium-crds", Pass).observed(crd_note));

        let d = &self.decision;
        let evidence = self.evidence.lines();
        out.push(
            Finding::new(0, "engine", d.verdict)
                .observed(format!(
                    "{}\nevidence:\n  {}",
                    d.summary,
                    evidence.join("\n  ")
                ))
                .expected(d.expected.clone())
                .fix(d.fix.clone())
                .evidence(evidence),
        );

        let mut responsible = true;
        if self.engine == Engine::Lbctl {
            // serve --ipam takes its settings from its flags, not from cilium-config.
            out.push(Finding::new(0, "lb-ipam-enabled", Pass).observed(format!(
                "lbctl serve --ipam leads; {}'s {} does not apply to it",
                n::CILIUM_CONFIG_MAP,
                n::CFG_ENABLE_LB_IPAM
            )));
            out.push(match f.view.load_balancer_class.as_deref() {
                None => Finding::new(0, "lb-class", Pass).observed(
                    "no loadBalancerClass: lbctl serve serves class-less Services (unless started with --default-lb-service-ipam none)",
                ),
                Some(c) => Finding::new(0, "lb-class", Skip).observed(format!(
                    "loadBalancerClass {c}: lbctl serve serves the classes given by its --lb-class flags, which doctor cannot see"
                )),
            });
        } else if self.engine == Engine::Cilium
            && !self
                .config
                .bool(n::CFG_ENABLE_LB_IPAM, n::CFG_ENABLE_LB_IPAM_DEFAULT)
        {
            responsible = false;
            out.push(
                Finding::new(0, "lb-ipam-enabled", Fail)
                    .observed(self.config.describe(n::CFG_ENABLE_LB_IPAM, "true"))
                    .expected(format!("{}: \"true\"", n::CFG_ENABLE_LB_IPAM))
                    .fix(patch_config(
                        self.agent_ns(),
                        n::CFG_ENABLE_LB_IPAM,
                        "true",
                        &format!("deployment/{}", n::OPERATOR_DEPLOYMENT),
                    )),
            );
        } else {
            out.push(
                Finding::new(0, "lb-ipam-enabled", Pass)
                    .observed(self.config.describe(n::CFG_ENABLE_LB_IPAM, "true")),
            );
        }

        if self.engine == Engine::Lbctl {
            self.other_controllers(f, out);
            return Some(responsible);
        }
        let dflt = self.config.describe(
            n::CFG_DEFAULT_LB_SERVICE_IPAM,
            n::CFG_DEFAULT_LB_SERVICE_IPAM_DEFAULT,
        );
        let class_finding = match f.view.load_balancer_class.as_deref() {
            None if self.engine_cfg.default_lbipam => Finding::new(0, "lb-class", Pass)
                .observed(format!("no loadBalancerClass; {dflt}: LB IPAM serves class-less Services")),
            None => Finding::new(0, "lb-class", Fail)
                .observed(format!("no loadBalancerClass and {dflt}: LB IPAM ignores this Service and writes no condition"))
                .expected(format!("{}: lbipam, or loadBalancerClass {}", n::CFG_DEFAULT_LB_SERVICE_IPAM, n::LB_CLASS_L2))
                .fix(format!(
                    "# either let LB IPAM serve class-less Services:\n{}\n# or give this Service the L2 class (immutable once set, so recreate it):\nkubectl get {kref} -o yaml > svc.yaml   # add spec.loadBalancerClass: {}\nkubectl replace --force -f svc.yaml",
                    patch_config(self.agent_ns(), n::CFG_DEFAULT_LB_SERVICE_IPAM, n::DEFAULT_LB_SERVICE_IPAM_LBIPAM, &format!("deployment/{}", n::OPERATOR_DEPLOYMENT)),
                    n::LB_CLASS_L2
                )),
            Some(c) if self.engine_cfg.classes.iter().any(|x| x == c) => Finding::new(0, "lb-class", Pass)
                .observed(format!("loadBalancerClass {c}, served by LB IPAM")),
            Some(c) if c == n::LB_CLASS_L2 || c == n::LB_CLASS_BGP => {
                let (key, restart) = if c == n::LB_CLASS_L2 {
                    (n::CFG_ENABLE_L2_ANNOUNCEMENTS, format!("daemonset/{} deployment/{}", n::AGENT_DAEMONSET, n::OPERATOR_DEPLOYMENT))
                } else {
                    (n::CFG_ENABLE_BGP_CONTROL_PLANE, format!("daemonset/{} deployment/{}", n::AGENT_DAEMONSET, n::OPERATOR_DEPLOYMENT))
                };
                Finding::new(0, "lb-class", Fail)
                    .observed(format!("loadBalancerClass {c} but {}: the operator serves this class only with it on, so the Service gets no condition", self.config.describe(key, "false")))
                    .expected(format!("{key}: \"true\""))
                    .fix(patch_config(self.agent_ns(), key, "true", &restart))
            }
            Some(c) => Finding::new(0, "lb-class", Fail)
                .observed(format!("loadBalancerClass {c} is not served by Cilium LB IPAM (it serves none, {}, {}); the Service waits for the controller of {c} and gets no condition", n::LB_CLASS_L2, n::LB_CLASS_BGP))
                .expected(format!("no loadBalancerClass or {}", n::LB_CLASS_L2))
                .fix(format!("{}\n# or run the controller that serves {c}", recreate_without_class(kref))),
        };
        if class_finding.verdict == Fail {
            responsible = false;
        }
        out.push(class_finding);
        self.other_controllers(f, out);
        Some(responsible)
    }

    fn other_controllers(&self, f: &SvcFacts<'_>, out: &mut Vec<Finding>) {
        // Another controller: its pods beside Cilium's, or an ingress IP no pool contains.
        let mut others: Vec<String> = self
            .snap
            .pods
            .iter()
            .flatten()
            .map(name_of)
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
            out.push(
                Finding::new(0, "other-lb-controller", Pass)
                    .observed("no other LoadBalancer controller seen"),
            );
        } else {
            out.push(
                Finding::new(0, "other-lb-controller", Warn)
                    .observed(others.join("\n"))
                    .expected("one controller per Service: class-less Services are served by every controller that defaults to them")
                    .fix(format!("give Services explicit classes and stop the others defaulting, e.g.\n{}", patch_config(self.agent_ns(), n::CFG_DEFAULT_LB_SERVICE_IPAM, n::DEFAULT_LB_SERVICE_IPAM_NONE, &format!("deployment/{}", n::OPERATOR_DEPLOYMENT)))),
            );
        }
    }

    /// Rung 1: the Service's own request and what LB IPAM answered.
    pub(crate) fn rung1(
        &self,
        f: &SvcFacts<'_>,
        responsible: bool,
        pools: &[Finding],
        out: &mut Vec<Finding>,
    ) {
        let kref = &f.kref;
        let mut specific = Vec::new();

        // Requested IPs.
        let key = f.ips_key.unwrap_or(n::ANNOTATION_IPS);
        if f.spec_lb_ip.is_none() && f.ips_key.is_none() {
            specific
                .push(Finding::new(1, "requested-ips", Pass).observed("no specific IP requested"));
        } else {
            let mut fails = Vec::new();
            let mut fixes = Vec::new();
            let mut notes = Vec::new();
            if !f.invalid_ips.is_empty() {
                let entries: Vec<String> = f.invalid_ips.iter().map(|e| format!("{e:?}")).collect();
                fails.push(format!(
                    "{key}: unparsable entries {} (Cilium drops them silently)",
                    entries.join(", ")
                ));
                let valid: Vec<String> = f
                    .view
                    .requested_ips
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                let list = if valid.is_empty() {
                    "<IP>".to_owned()
                } else {
                    valid.join(",")
                };
                fixes.push(format!("kubectl annotate {kref} {key}={list} --overwrite"));
            }
            if f.ips_key == Some(n::ANNOTATION_IPS_LEGACY) {
                notes.push(format!(
                    "requested through the legacy alias {}",
                    n::ANNOTATION_IPS_LEGACY
                ));
            }
            for ip in &f.view.requested_ips {
                match self.pool_of_ip(*ip) {
                    None => {
                        fails.push(format!("{ip}: in no pool's range (condition no_pool)"));
                        let sel: Vec<String> = self
                            .pools
                            .iter()
                            .filter(|p| p.selects(&f.labels) && !p.ranges.is_empty())
                            .map(|p| format!("pool {} ({})", p.name, p.range_text()))
                            .collect();
                        if sel.is_empty() {
                            fixes.push(format!("# add a pool containing {ip} (see rung 2), or request another IP:\nkubectl annotate {kref} {key}=<IP> --overwrite"));
                        } else {
                            fixes.push(format!("# request an IP inside {}:\nkubectl annotate {kref} {key}=<IP> --overwrite", sel.join(" or ")));
                        }
                    }
                    Some((p, r)) => {
                        if !p.selects(&f.labels) {
                            fails.push(format!("{ip}: in pool {}, whose serviceSelector {} does not select this Service (condition pool_selector_mismatch)", p.name, p.selector_text));
                            fixes.push(label_fix(kref, &p.match_labels, &f.labels).unwrap_or_else(|| format!("kubectl edit ippool {}   # make spec.serviceSelector match {}", p.name, labels_text(&f.labels))));
                        } else if p.disabled {
                            fails.push(format!(
                                "{ip}: in pool {}, which is disabled (Cilium reports no_pool)",
                                p.name
                            ));
                            fixes.push(format!("kubectl patch ippool {} --type merge -p '{{\"spec\":{{\"disabled\":false}}}}'", p.name));
                        } else if let Some(c) = p.conflicting() {
                            fails.push(format!("{ip}: in pool {}, which is conflicting: {c} (Cilium reports no_pool)", p.name));
                            fixes.push(format!("kubectl edit ippool {}   # change spec.blocks so they no longer overlap; or request an IP from another pool", p.name));
                        } else if r.from_cidr
                            && p.allow_first_last == Some(AllowFirstLast::No)
                            && reserves_first_last(r.from, r.to)
                            && (*ip == r.from || *ip == r.to)
                        {
                            let alt = if *ip == r.from {
                                next_ip(r.from, 1)
                            } else {
                                prev_ip(r.to)
                            };
                            fails.push(format!("{ip}: the {} address of CIDR block {} - {} in pool {}, reserved by allowFirstLastIPs: No (condition already_allocated)", if *ip == r.from { "first" } else { "last" }, r.from, r.to, p.name));
                            fixes.push(format!("kubectl annotate {kref} {key}={alt} --overwrite\n# or allow the first/last addresses:\nkubectl patch ippool {} --type merge -p '{{\"spec\":{{\"allowFirstLastIPs\":\"Yes\"}}}}'", p.name));
                        } else {
                            notes.push(format!("{ip}: in pool {} ({} - {})", p.name, r.from, r.to));
                        }
                    }
                }
            }
            if let Some(ip) = &f.spec_lb_ip {
                let finding = Finding::new(1, "deprecated-loadbalancerip", Warn)
                    .observed(format!("spec.loadBalancerIP: {ip} (deprecated since Kubernetes 1.24; Cilium still honours it)"))
                    .expected(format!("the {} annotation", n::ANNOTATION_IPS))
                    .fix(format!("kubectl annotate {kref} {}={ip} --overwrite\nkubectl patch {kref} --type merge -p '{{\"spec\":{{\"loadBalancerIP\":null}}}}'", n::ANNOTATION_IPS));
                specific.push(finding);
            }
            let observed = fails
                .iter()
                .chain(notes.iter())
                .cloned()
                .collect::<Vec<_>>()
                .join("\n");
            specific.push(if fails.is_empty() {
                Finding::new(1, "requested-ips", Pass).observed(observed)
            } else {
                Finding::new(1, "requested-ips", Fail)
                    .observed(observed)
                    .expected("every requested IP parses and lies in an enabled, non-conflicting pool that selects the Service, off reserved first/last addresses")
                    .fix(fixes.join("\n"))
            });
        }

        // Sharing: any IP this Service asks for or holds that another Service holds too.
        let mut ips: Vec<IpAddr> = f.view.requested_ips.clone();
        for ip in &f.view.ingress_ips {
            if !ips.contains(ip) {
                ips.push(*ip);
            }
        }
        let mut fails = Vec::new();
        let mut fixes = Vec::new();
        let mut notes = Vec::new();
        for ip in &ips {
            for other in self.holders_of(*ip, f) {
                let of = service_facts(other);
                let oref = format!("{}/{}", of.view.namespace, of.view.name);
                let skey = f.sharing_key_name.unwrap_or(n::ANNOTATION_SHARING_KEY);
                if f.view.sharing_key.is_empty() {
                    fails.push(format!("{ip} is already allocated to {oref} and this Service has no sharing key (condition already_allocated)"));
                    let k = if of.view.sharing_key.is_empty() {
                        "shared".to_owned()
                    } else {
                        of.view.sharing_key.clone()
                    };
                    let mut fx = format!("# request another IP, or share {ip} with {oref} (same key on both):\nkubectl annotate {kref} {skey}={k} --overwrite");
                    if of.view.sharing_key.is_empty() {
                        fx.push_str(&format!(
                            "\nkubectl annotate {} {skey}={k} --overwrite",
                            of.kref
                        ));
                    }
                    fixes.push(fx);
                    continue;
                }
                match is_compatible(&f.view, &of.view, &self.engine_cfg) {
                    Ok(()) => notes.push(format!(
                        "{ip} shared with {oref} (sharing key {:?})",
                        f.view.sharing_key
                    )),
                    Err(why) => {
                        fails.push(format!("{ip} is held by {oref}, which cannot share it: {} (condition already_allocated_incompatible_service)", why.reason()));
                        fixes.push(match why {
                            Incompatible::SharingKey => format!("kubectl annotate {kref} {skey}={} --overwrite   # the key {oref} uses", of.view.sharing_key),
                            Incompatible::Namespace => format!("kubectl annotate {kref} {}={} --overwrite\nkubectl annotate {} {}={} --overwrite", n::ANNOTATION_SHARING_CROSS_NS, of.view.namespace, of.kref, n::ANNOTATION_SHARING_CROSS_NS, f.view.namespace),
                            Incompatible::Port | Incompatible::PortProtocol => {
                                let clash: Vec<String> = f.view.ports.iter().filter(|p| of.view.ports.iter().any(|q| q.port == p.port)).map(|p| format!("{}/{}", p.port, p.protocol)).collect();
                                format!("# both Services use port {}: change the port of one (kubectl edit {kref}) or request another IP", clash.join(", "))
                            }
                            Incompatible::TrafficPolicy => {
                                let want = if of.view.external_traffic_policy == TrafficPolicy::Local { "Local" } else { "Cluster" };
                                format!("kubectl patch {kref} -p '{{\"spec\":{{\"externalTrafficPolicy\":\"{want}\"}}}}'   # as {oref}")
                            }
                            Incompatible::LocalSelector => format!("# with externalTrafficPolicy: Local both Services need the same non-empty spec.selector as {oref}: kubectl edit {kref}"),
                        });
                    }
                }
            }
        }
        specific.push(if !fails.is_empty() {
            Finding::new(1, "ip-sharing", Fail)
                .observed(fails.join("\n"))
                .expected("a requested IP is free, or held only by Services it may share with (same sharing key, permitted namespace, no port clash, same externalTrafficPolicy)")
                .fix(fixes.join("\n"))
        } else if notes.is_empty() {
            Finding::new(1, "ip-sharing", Pass).observed("no IP shared with another Service")
        } else {
            Finding::new(1, "ip-sharing", Pass).observed(notes.join("\n"))
        });

        // The condition, judged last so it can point at the check that explains it.
        let conds = svc_conditions(f.raw, n::SVC_SATISFIED_CONDITION_TYPES);
        let explained: Vec<&str> = specific
            .iter()
            .chain(pools.iter())
            .filter(|x| x.verdict == Fail)
            .map(|x| x.check.as_str())
            .collect();
        let because = |what: String| {
            if explained.is_empty() {
                None
            } else {
                Some(format!(
                    "{what}; explained by check {}",
                    explained.join(", ")
                ))
            }
        };
        let cond = match newest(&conds) {
            _ if !responsible => Finding::new(1, "condition", Skip).observed(
                "LB IPAM does not handle this Service (rung 0), so it writes no condition",
            ),
            None => {
                let what = "no IPAMRequestSatisfied condition".to_owned();
                if self.pools.is_empty() {
                    Finding::new(1, "condition", Warn).observed(format!(
                        "{what}: LB IPAM is dormant until the first pool exists (rung 2)"
                    ))
                } else if let Some(b) = because(what.clone()) {
                    Finding::new(1, "condition", Warn).observed(b)
                } else {
                    let fix = match self.engine {
                        Engine::Lbctl => format!("kubectl -n {} get lease {}   # is lbctl serve --ipam running and leading?", self.agent_ns(), n::LBCTL_IPAM_LEASE),
                        _ => format!("kubectl -n {ns} get pods -l {}={}\nkubectl -n {ns} logs deployment/{} | grep -i lbipam", n::OPERATOR_POD_LABEL.0, n::OPERATOR_POD_LABEL.1, n::OPERATOR_DEPLOYMENT, ns = self.agent_ns()),
                    };
                    Finding::new(1, "condition", Fail)
                        .observed(format!("{what} although a usable pool selects this Service: the LB IPAM controller has not processed it"))
                        .expected(format!("{} (or legacy {})", n::SVC_SATISFIED_CONDITION, n::SVC_SATISFIED_CONDITION_LEGACY))
                        .fix(fix)
                }
            }
            Some(c) => {
                let same = conds.iter().filter(|x| x.type_ == c.type_).count();
                let mut text = format!("{}: {}/{}", c.type_, c.status, c.reason);
                if !c.message.is_empty() {
                    text.push_str(&format!(": {}", c.message));
                }
                if same > 1 {
                    text.push_str(&format!("\n{same} entries of this type (legacy Cilium appended them; the newest by lastTransitionTime wins); duplicates break server-side apply (cilium/cilium#24945)"));
                }
                if c.status == "True" {
                    if f.view.ingress_ips.is_empty() {
                        Finding::new(1, "condition", Fail)
                            .observed(format!("{text}\nbut status.loadBalancer.ingress is empty"))
                            .expected("an ingress IP once satisfied")
                            .fix(format!("kubectl get {kref} -o yaml   # another controller may have cleared the status; see other-lb-controller"))
                    } else if same > 1 {
                        Finding::new(1, "condition", Warn)
                            .observed(text)
                            .expected("one condition per type")
                            .fix(format!("# upgrade Cilium (1.15+ keeps one entry per type); to clean up now:\nkubectl get {kref} -o json | jq '.status.conditions |= (group_by(.type) | map(max_by(.lastTransitionTime)))' | kubectl replace --subresource status -f -"))
                    } else {
                        Finding::new(1, "condition", Pass).observed(text)
                    }
                } else if let Some(b) = because(text.clone()) {
                    Finding::new(1, "condition", Warn).observed(b)
                } else {
                    let hint = match c.reason.as_str() {
                        n::REASON_NO_POOL | n::REASON_OUT_OF_IPS | n::REASON_POOL_SELECTOR_MISMATCH => "lbctl's own recomputation finds a pool that would serve it now: the condition is stale until the next Service or pool event",
                        _ => "the IP it names is no longer contested: the condition is stale until the next Service or pool event",
                    };
                    Finding::new(1, "condition", Fail)
                        .observed(format!("{text}\n{hint}"))
                        .expected("True/satisfied")
                        .fix(format!("kubectl annotate {kref} lbctl.io/nudge=\"$(date +%s)\" --overwrite   # any change makes LB IPAM re-evaluate"))
                }
            }
        };
        out.push(cond);
        out.push(if f.view.ingress_ips.is_empty() {
            Finding::new(1, "ingress", Warn)
                .observed("EXTERNAL-IP <pending>: status.loadBalancer.ingress is empty")
                .expected("an IP in status.loadBalancer.ingress")
        } else {
            let ips: Vec<String> = f.view.ingress_ips.iter().map(ToString::to_string).collect();
            Finding::new(1, "ingress", Pass).observed(format!("ingress: {}", ips.join(", ")))
        });
        out.extend(specific);
    }

    /// Rung 2: the pools as they stand and as LB IPAM would see them.
    pub(crate) fn rung2(&self, f: &SvcFacts<'_>) -> Vec<Finding> {
        let kref = &f.kref;
        let (ns, name) = (&f.view.namespace, &f.view.name);
        let mut out = Vec::new();
        if self.pools.is_empty() {
            let (start, stop) = sample_block(self);
            out.push(
                Finding::new(2, "pools-exist", Fail)
                    .observed("no CiliumLoadBalancerIPPool exists: LB IPAM stays dormant and assigns nothing")
                    .expected(format!("a pool whose serviceSelector selects {ns}/{name}"))
                    .fix(format!(
                        "kubectl apply -f - <<'EOF'\napiVersion: {}\nkind: {}\nmetadata:\n  name: {ns}-pool\nspec:\n  blocks:\n  - start: {start}   # free addresses on the nodes' L2 segment\n    stop: {stop}\n  serviceSelector:\n    matchLabels:\n      {}: {ns}\nEOF",
                        self.pool_kind(),
                        n::POOL_KIND,
                        n::LABEL_SVC_NAMESPACE
                    )),
            );
            return out;
        }
        out.push(
            Finding::new(2, "pools-exist", Pass).observed(format!("{} pool(s)", self.pools.len())),
        );

        let selecting: Vec<_> = self.pools.iter().filter(|p| p.selects(&f.labels)).collect();
        let invalid_sel: Vec<_> = self.pools.iter().filter(|p| p.selector.is_err()).collect();
        if selecting.is_empty() {
            let mut lines: Vec<String> = self
                .pools
                .iter()
                .map(|p| match &p.selector {
                    Err(e) => format!("pool {}: serviceSelector invalid: {e}", p.name),
                    Ok(_) => format!("pool {}: serviceSelector {}", p.name, p.selector_text),
                })
                .collect();
            lines.push(format!(
                "Service labels (with Cilium's meta labels): {}",
                labels_text(&f.labels)
            ));
            let fix = if let Some(p) = invalid_sel.first() {
                format!(
                    "kubectl edit ippool {}   # fix spec.serviceSelector",
                    p.name
                )
            } else {
                let p = &self.pools[0];
                match label_fix(kref, &p.match_labels, &f.labels) {
                    Some(l) => format!("{l}\n# or widen the selector of pool {}: kubectl edit ippool {}", p.name, p.name),
                    None => format!("kubectl edit ippool {}   # make spec.serviceSelector match the labels above", p.name),
                }
            };
            out.push(
                Finding::new(2, "pool-selection", Fail)
                    .observed(format!(
                        "no pool selects {ns}/{name}:\n{}",
                        lines.join("\n")
                    ))
                    .expected("a pool whose serviceSelector matches the Service's labels")
                    .fix(fix),
            );
        } else {
            let names: Vec<&str> = selecting.iter().map(|p| p.name.as_str()).collect();
            out.push(
                Finding::new(2, "pool-selection", Pass)
                    .observed(format!("selected by pool {}", names.join(", "))),
            );
        }

        // Validation: Cilium rejects a pool with a bad block and retries silently, no status.
        let bad: Vec<_> = self
            .pools
            .iter()
            .filter(|p| !p.errors.is_empty() || p.selector.is_err())
            .collect();
        if bad.is_empty() {
            out.push(
                Finding::new(2, "pool-validation", Pass)
                    .observed("every pool's blocks and selector are valid"),
            );
        } else {
            let relevant = bad
                .iter()
                .any(|p| p.selector.is_err() || p.selects(&f.labels));
            let lines: Vec<String> = bad
                .iter()
                .flat_map(|p| {
                    let mut v: Vec<String> = p
                        .errors
                        .iter()
                        .map(|e| format!("pool {}: {e}", p.name))
                        .collect();
                    if let Err(e) = &p.selector {
                        v.push(format!("pool {}: serviceSelector: {e}", p.name));
                    }
                    v
                })
                .collect();
            let fixes: Vec<String> = bad
                .iter()
                .map(|p| format!("kubectl edit ippool {}   # e.g. blocks: [{{cidr: 192.0.2.0/28}}] or [{{start: 192.0.2.10, stop: 192.0.2.20}}]", p.name))
                .collect();
            out.push(
                Finding::new(2, "pool-validation", if relevant { Fail } else { Warn })
                    .observed(format!("{}\nCilium rejects such a pool as a whole and retries silently, with no status condition", lines.join("\n")))
                    .expected("each block has a cidr, or a start (and optional stop) of one family with start <= stop; selector operators In/NotIn with values, Exists/DoesNotExist without")
                    .fix(fixes.join("\n")),
            );
        }

        // Disabled or conflicting pools among those that select the Service.
        let candidates: Vec<_> = selecting.iter().filter(|p| p.errors.is_empty()).collect();
        if candidates.is_empty() {
            out.push(
                Finding::new(2, "pool-state", Skip).observed("no valid pool selects the Service"),
            );
            out.push(
                Finding::new(2, "capacity", Skip).observed("no valid pool selects the Service"),
            );
            return out;
        }
        let mut lines = Vec::new();
        let mut fixes = Vec::new();
        for p in candidates.iter().filter(|p| !p.usable()) {
            if p.disabled {
                lines.push(format!("pool {}: disabled", p.name));
                fixes.push(format!(
                    "kubectl patch ippool {} --type merge -p '{{\"spec\":{{\"disabled\":false}}}}'",
                    p.name
                ));
            }
            if let Some(c) = p.conflicting() {
                lines.push(format!("pool {}: conflicting: {c}", p.name));
                fixes.push(format!("kubectl edit ippool {}   # change spec.blocks so they no longer overlap the other pool's range", p.name));
            }
        }
        let usable: Vec<_> = candidates.iter().filter(|p| p.usable()).collect();
        out.push(if lines.is_empty() {
            Finding::new(2, "pool-state", Pass)
                .observed("every selecting pool is enabled and conflict-free")
        } else {
            Finding::new(2, "pool-state", if usable.is_empty() { Fail } else { Warn })
                .observed(lines.join("\n"))
                .expected("at least one selecting pool neither disabled nor conflicting")
                .fix(fixes.join("\n"))
        });

        if usable.is_empty() {
            out.push(Finding::new(2, "capacity", Skip).observed("no usable pool"));
            return out;
        }
        let mut lines = Vec::new();
        let mut free = false;
        for p in &usable {
            if let Some(c) = p.counts {
                if c.available != crate::ipam::IpCount::ZERO {
                    free = true;
                }
                let status = p
                    .status_available
                    .as_deref()
                    .map(|s| format!(", status says {s} available"))
                    .unwrap_or_default();
                lines.push(format!("pool {}: {} of {} available, {} used (reserved first/last addresses count as used){status}", p.name, c.available, c.total, c.used));
            }
        }
        let pending = f.view.ingress_ips.is_empty();
        out.push(if !free && pending && f.view.requested_ips.is_empty() {
            let p = usable[0];
            let after = p.ranges.last().map(|r| (next_ip(r.to, 1), next_ip(r.to, 10)));
            let fix = match after {
                Some((a, b)) => format!("kubectl patch ippool {} --type json -p '[{{\"op\":\"add\",\"path\":\"/spec/blocks/-\",\"value\":{{\"start\":\"{a}\",\"stop\":\"{b}\"}}}}]'   # check these addresses are free", p.name),
                None => format!("kubectl edit ippool {}   # add a block", p.name),
            };
            Finding::new(2, "capacity", Fail)
                .observed(format!("{}\nevery usable selecting pool is full (condition out_of_ips)", lines.join("\n")))
                .expected("a free address in a selecting pool")
                .fix(fix)
        } else {
            Finding::new(2, "capacity", Pass).observed(lines.join("\n"))
        });
        out
    }

    /// Rungs 3 to 5: the L2 announcement path.
    pub(crate) fn rung3_to_5(&self, f: &SvcFacts<'_>, out: &mut Vec<Finding>) {
        let kref = &f.kref;
        let (ns, name) = (&f.view.namespace, &f.view.name);
        let agent_ns = self.agent_ns();
        let skip_all = |out: &mut Vec<Finding>, why: String| {
            for (rung, check) in [(3, "l2-policy"), (4, "arp-probe"), (5, "lease")] {
                out.push(Finding::new(rung, check, Skip).observed(why.clone()));
            }
        };
        match f.view.load_balancer_class.as_deref() {
            Some(c) if c == n::LB_CLASS_BGP => {
                return skip_all(
                    out,
                    format!("loadBalancerClass {c}: announced over BGP, not by L2 announcements"),
                );
            }
            Some(c) if c != n::LB_CLASS_L2 => {
                return skip_all(out, format!("loadBalancerClass {c}: Cilium's L2 announcer only announces class-less and {} Services", n::LB_CLASS_L2));
            }
            _ => {}
        }
        let start = out.len();
        let cilium = self.engine != Engine::Lbctl;

        if cilium {
            let on = self.config.bool(
                n::CFG_ENABLE_L2_ANNOUNCEMENTS,
                n::CFG_ENABLE_L2_ANNOUNCEMENTS_DEFAULT,
            );
            let obs = self
                .config
                .describe(n::CFG_ENABLE_L2_ANNOUNCEMENTS, "false");
            out.push(if on {
                Finding::new(3, "l2-announcements", Pass).observed(obs)
            } else {
                Finding::new(3, "l2-announcements", Fail)
                    .observed(obs)
                    .expected(format!("{}: \"true\"", n::CFG_ENABLE_L2_ANNOUNCEMENTS))
                    .fix(format!(
                        "{}\n# with Helm: helm upgrade cilium cilium/cilium -n {agent_ns} --reuse-values --set {}=true",
                        patch_config(agent_ns, n::CFG_ENABLE_L2_ANNOUNCEMENTS, "true", &format!("daemonset/{} deployment/{}", n::AGENT_DAEMONSET, n::OPERATOR_DEPLOYMENT)),
                        n::HELM_L2_ANNOUNCEMENTS_ENABLED
                    ))
            });
            let kpr = self.config.string(
                n::CFG_KUBE_PROXY_REPLACEMENT,
                n::CFG_KUBE_PROXY_REPLACEMENT_DEFAULT,
            );
            let obs = self.config.describe(
                n::CFG_KUBE_PROXY_REPLACEMENT,
                n::CFG_KUBE_PROXY_REPLACEMENT_DEFAULT,
            );
            out.push(if n::KUBE_PROXY_REPLACEMENT_ON.contains(&kpr.as_str()) {
                Finding::new(3, "kube-proxy-replacement", Pass).observed(obs)
            } else {
                Finding::new(3, "kube-proxy-replacement", Fail)
                    .observed(format!("{obs}: L2 announcements require kube-proxy replacement"))
                    .expected(format!("{}: \"true\"", n::CFG_KUBE_PROXY_REPLACEMENT))
                    .fix(format!("helm upgrade cilium cilium/cilium -n {agent_ns} --reuse-values --set {}=true --set k8sServiceHost=<API server host> --set k8sServicePort=<port>\nkubectl -n {agent_ns} rollout restart daemonset/{}", n::HELM_KUBE_PROXY_REPLACEMENT, n::AGENT_DAEMONSET))
            });
            let rule = format!(
                "- apiGroups: [{}]\n  resources: [{}]\n  verbs: {}",
                n::LEASE_API_GROUP,
                n::LEASE_RESOURCE,
                yaml_list(n::LEASE_RBAC_VERBS)
            );
            out.push(if self.rbac.missing.is_empty() {
                Finding::new(3, "lease-rbac", Pass).observed(format!(
                    "ServiceAccount {agent_ns}/{} may {} leases (ClusterRole {})",
                    n::AGENT_SERVICE_ACCOUNT,
                    n::LEASE_RBAC_VERBS.join(", "),
                    self.rbac.roles.join(", ")
                ))
            } else {
                let role = self.rbac.roles.first().cloned().unwrap_or_else(|| n::AGENT_CLUSTER_ROLE.to_owned());
                let verbs_json = n::LEASE_RBAC_VERBS.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(",");
                let observed = if self.rbac.roles.is_empty() {
                    format!("ServiceAccount {agent_ns}/{} is bound to no ClusterRole", n::AGENT_SERVICE_ACCOUNT)
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
                    .observed(format!("{observed}\nthe agent logs: leases.coordination.k8s.io \"cilium-l2announce-{ns}-{name}\" is forbidden"))
                    .expected(format!("the agent's ClusterRole holds this rule (Helm renders it with {}=true):\n{rule}", n::HELM_L2_ANNOUNCEMENTS_ENABLED))
                    .fix(format!(
                        "kubectl patch clusterrole {role} --type json -p '[{{\"op\":\"add\",\"path\":\"/rules/-\",\"value\":{{\"apiGroups\":[\"{}\"],\"resources\":[\"{}\"],\"verbs\":[{verbs_json}]}}}}]'",
                        n::LEASE_API_GROUP,
                        n::LEASE_RESOURCE
                    ))
            });
        } else {
            out.push(
                Finding::new(3, "l2-prerequisites", Skip)
                    .observed("engine is lbctl serve: Cilium's config keys do not apply"),
            );
        }

        // Policies.
        let matched = self.rung3_policies(f, out);
        let holder = self
            .leases
            .get(&n::l2_lease_name(ns, name))
            .map(|l| l.holder.clone())
            .filter(|h| !h.is_empty());
        if f.view.external_traffic_policy == TrafficPolicy::Local {
            let eps = self.endpoint_nodes(ns, name);
            let on: Vec<String> = eps.into_iter().flatten().cloned().collect();
            let fix = format!("kubectl patch {kref} -p '{{\"spec\":{{\"externalTrafficPolicy\":\"Cluster\"}}}}'   # Cilium's L2 announcer ignores endpoints (cilium/cilium#27800)");
            out.push(match &holder {
                Some(h) if !on.contains(h) => Finding::new(3, "external-traffic-policy", Fail)
                    .observed(format!("externalTrafficPolicy: Local and lease holder {h} has no ready endpoint (endpoints on: {}): traffic to the VIP is dropped", if on.is_empty() { "none".to_owned() } else { on.join(", ") }))
                    .expected("the announcing node runs a ready endpoint, or externalTrafficPolicy: Cluster")
                    .fix(fix),
                _ => Finding::new(3, "external-traffic-policy", Warn)
                    .observed(format!("externalTrafficPolicy: Local: works only while the lease holder runs a ready endpoint (endpoints on: {})", if on.is_empty() { "none".to_owned() } else { on.join(", ") }))
                    .expected("externalTrafficPolicy: Cluster with L2 announcements")
                    .fix(fix),
            });
        } else {
            out.push(
                Finding::new(3, "external-traffic-policy", Pass)
                    .observed("externalTrafficPolicy: Cluster"),
            );
        }
        let rung3_failed = out[start..].iter().any(|x| x.verdict == Fail);

        // Rung 4: the probe plugs in here.
        let vips: Vec<String> = f
            .view
            .ingress_ips
            .iter()
            .map(ToString::to_string)
            .chain(f.external_ips.iter().cloned())
            .collect();
        out.push(self.rung4(&vips, holder.as_deref()));

        // Rung 5: the lease.
        if vips.is_empty() {
            out.push(Finding::new(5, "lease", Skip).observed("no lease until the Service has an IP (Cilium creates leases only for Services with IPs)"));
            return;
        }
        let lease_name = n::l2_lease_name(ns, name);
        let now = self.snap.now;
        match self.leases.get(&lease_name) {
            None => {
                let f5 = Finding::new(5, "lease", if rung3_failed { Warn } else { Fail })
                    .observed(format!(
                        "no Lease {agent_ns}/{lease_name}{}",
                        if rung3_failed {
                            ": expected while rung 3 fails"
                        } else {
                            ": no agent contends for this Service"
                        }
                    ))
                    .expected(format!(
                        "Lease {agent_ns}/{lease_name} held by a candidate node"
                    ));
                out.push(if rung3_failed {
                    f5
                } else {
                    f5.fix(format!(
                        "kubectl -n {agent_ns} logs daemonset/{} | grep -iE 'l2|lease'",
                        n::AGENT_DAEMONSET
                    ))
                });
            }
            Some(l) => {
                let age = l
                    .age(now)
                    .map_or("never".to_owned(), |a| format!("{a}s ago"));
                let dur = l.duration.map_or("unset".to_owned(), |d| format!("{d}s"));
                let text = format!("Lease {agent_ns}/{lease_name}: holder {:?}, renewed {age}, leaseDurationSeconds {dur}, transitions {}", l.holder, l.transitions);
                out.push(if l.holder.is_empty() {
                    Finding::new(5, "lease", Fail)
                        .observed(format!("{text}: released, nobody holds it"))
                        .expected("a holder renewing within leaseDurationSeconds")
                        .fix(format!("kubectl -n {agent_ns} logs daemonset/{} | grep -iE 'l2|lease'   # why does no agent acquire it?", n::AGENT_DAEMONSET))
                } else if l.expired(now) {
                    Finding::new(5, "lease", Fail)
                        .observed(format!("{text}: expired (renewTime older than the duration): {} stopped renewing", l.holder))
                        .expected("renewTime within leaseDurationSeconds")
                        .fix(format!("kubectl -n {agent_ns} get pods -l {}={} --field-selector spec.nodeName={} -o name | xargs kubectl -n {agent_ns} logs | grep -iE 'lease|throttl'\nkubectl -n {agent_ns} delete lease {lease_name}   # lets another node take over", n::AGENT_POD_LABEL.0, n::AGENT_POD_LABEL.1, l.holder))
                } else {
                    Finding::new(5, "lease", Pass).observed(text)
                });
                if !l.holder.is_empty() {
                    let node = self
                        .nodes
                        .iter()
                        .find(|nd| nd.name == l.holder && nd.is_node);
                    let fix = format!("kubectl describe node {}\nkubectl -n {agent_ns} delete lease {lease_name}   # forces a new election (cilium/cilium#32148)", l.holder);
                    out.push(match node {
                        None => Finding::new(5, "lease-holder", Fail)
                            .observed(format!("holder {} is not a Node of this cluster (gone)", l.holder))
                            .expected("the holder is an existing, Ready node")
                            .fix(fix),
                        Some(nd) if nd.ready != Some(true) => Finding::new(5, "lease-holder", Fail)
                            .observed(format!("holder node {} is NotReady", l.holder))
                            .expected("the holder is an existing, Ready node")
                            .fix(fix),
                        Some(_) if !matched.is_empty() && !matched.contains(&l.holder) => Finding::new(5, "lease-holder", Warn)
                            .observed(format!("holder node {} is Ready but no matching policy's nodeSelector selects it", l.holder))
                            .expected(format!("one of: {}", matched.join(", "))),
                        Some(_) => Finding::new(5, "lease-holder", Pass).observed(format!("holder node {} exists and is Ready", l.holder)),
                    });
                }
            }
        }
        out.push(self.lease_load());
    }

    fn rung4(&self, vips: &[String], holder: Option<&str>) -> Finding {
        let Some(p) = &self.snap.probe else {
            if vips.is_empty() {
                return Finding::new(4, "arp-probe", Skip).observed("no VIP to probe yet");
            }
            let cmds: Vec<String> = vips
                .iter()
                .map(|v| format!("lbctl arp-probe {v}"))
                .collect();
            return Finding::new(4, "arp-probe", Skip)
                .observed("probe not run")
                .expected(format!(
                    "exactly one responder for the VIP, with the MAC of lease holder {}",
                    holder.unwrap_or("(unknown)")
                ))
                .fix(format!(
                    "# from a host on the VIP's LAN:\n{}",
                    cmds.join("\n")
                ));
        };
        if let Some(why) = &p.skipped {
            return Finding::new(4, "arp-probe", Skip)
                .observed(why.clone())
                .fix(format!(
                    "# from a host on the VIP's LAN:\nlbctl arp-probe {}",
                    p.vip
                ));
        }
        let macs: std::collections::BTreeSet<&str> =
            p.responders.iter().map(|r| r.mac.as_str()).collect();
        match macs.len() {
            0 => Finding::new(4, "arp-probe", Fail)
                .observed(format!("nobody answers ARP/NDP for {}", p.vip))
                .expected("one responder")
                .fix(format!("# on holder {}: is the VIP in the l2-announce table?\nkubectl -n {} exec ds/{} -- cilium-dbg shell -- db/show l2-announce", holder.unwrap_or("<holder>"), self.agent_ns(), n::AGENT_DAEMONSET)),
            1 => {
                let mac = macs.iter().next().copied().unwrap_or_default();
                match &p.holder_mac {
                    Some(h) if !h.eq_ignore_ascii_case(mac) => Finding::new(4, "arp-probe", Fail)
                        .observed(format!("{} answered by {mac}, but the lease holder's MAC is {h}", p.vip))
                        .expected("the holder answers"),
                    _ => Finding::new(4, "arp-probe", Pass).observed(format!("{} answered by {mac}", p.vip)),
                }
            }
            _ => Finding::new(4, "arp-probe", Fail)
                .observed(format!("{} answered by several MACs: {}", p.vip, macs.into_iter().collect::<Vec<_>>().join(", ")))
                .expected("exactly one responder")
                .fix("find the other owner of the IP (another controller, a static address) and remove it"),
        }
    }

    /// Policies against the Service; returns the candidate nodes.
    fn rung3_policies(&self, f: &SvcFacts<'_>, out: &mut Vec<Finding>) -> Vec<String> {
        let kref = &f.kref;
        let (ns, name) = (&f.view.namespace, &f.view.name);
        let Some(raw) = &self.snap.policies else {
            out.push(
                Finding::new(3, "l2-policies", Fail)
                    .observed(format!("{} CRD not installed (Cilium before 1.14?)", n::POLICY_KIND))
                    .expected(format!("{}.{} served as v2alpha1", n::POLICY_PLURAL, n::CILIUM_GROUP))
                    .fix("helm upgrade cilium cilium/cilium -n kube-system --reuse-values   # Cilium 1.14+ ships the CRD"),
            );
            return Vec::new();
        };
        let _ = raw;
        if self.policies.is_empty() {
            out.push(
                Finding::new(3, "l2-policies", Fail)
                    .observed("no CiliumL2AnnouncementPolicy exists: no node announces the VIP")
                    .expected(format!("a policy whose serviceSelector selects {ns}/{name}, with loadBalancerIPs: true"))
                    .fix(format!(
                        "kubectl apply -f - <<'EOF'\napiVersion: {}/{}\nkind: {}\nmetadata:\n  name: {ns}-l2\nspec:\n  serviceSelector:\n    matchLabels:\n      {}: {ns}\n  loadBalancerIPs: true\nEOF",
                        n::CILIUM_GROUP,
                        n::V2ALPHA1,
                        n::POLICY_KIND,
                        n::LABEL_SVC_NAMESPACE
                    )),
            );
            return Vec::new();
        }
        // Broken policies: a bad-* condition from an agent, or invalid as lbctl reads them.
        let mut fails = Vec::new();
        let mut warns = Vec::new();
        let mut fixes = Vec::new();
        for p in &self.policies {
            let mut why: Vec<String> = p
                .bad
                .iter()
                .map(|c| format!("{}: {}", c.type_, c.message))
                .collect();
            if let Err(e) = &p.service_selector {
                if !p
                    .bad
                    .iter()
                    .any(|c| c.type_ == n::POLICY_BAD_SERVICE_SELECTOR)
                {
                    why.push(format!("serviceSelector invalid: {e}"));
                }
            }
            if let Err(e) = &p.node_selector {
                if !p.bad.iter().any(|c| c.type_ == n::POLICY_BAD_NODE_SELECTOR) {
                    why.push(format!("nodeSelector invalid: {e}"));
                }
            }
            if why.is_empty() {
                continue;
            }
            let relevant = p
                .service_selector
                .as_ref()
                .map_or(true, |s| s.matches(&f.labels));
            let line = format!("policy {}: {}", p.name, why.join("; "));
            if relevant {
                fails.push(line);
                fixes.push(format!("kubectl edit {} {}   # fix the selector or regex named above; the agent drops the whole policy", n::POLICY_SINGULAR, p.name));
            } else {
                warns.push(line);
            }
        }
        out.push(if !fails.is_empty() {
            Finding::new(3, "l2-policies", Fail)
                .observed(fails.iter().chain(warns.iter()).cloned().collect::<Vec<_>>().join("\n"))
                .expected("no io.cilium/bad-* condition and valid selectors on the policies that could select the Service")
                .fix(fixes.join("\n"))
        } else if !warns.is_empty() {
            Finding::new(3, "l2-policies", Warn)
                .observed(warns.join("\n"))
                .expected("no io.cilium/bad-* condition")
        } else {
            Finding::new(3, "l2-policies", Pass).observed(format!("{} policy(ies), none broken", self.policies.len()))
        });

        // Which policies select the Service (reference §3.4).
        let mut matched = Vec::new();
        let mut lines = Vec::new();
        let mut fix = String::new();
        for p in &self.policies {
            let reason = match &p.service_selector {
                Err(_) => Some("serviceSelector invalid (dropped by the agent)".to_owned()),
                Ok(s) if !s.matches(&f.labels) => {
                    if fix.is_empty() {
                        fix = label_fix(kref, &p.service_match_labels, &f.labels).unwrap_or_else(
                            || {
                                format!(
                                    "kubectl edit {} {}   # make spec.serviceSelector match {}",
                                    n::POLICY_SINGULAR,
                                    p.name,
                                    labels_text(&f.labels)
                                )
                            },
                        );
                    }
                    Some(format!(
                        "serviceSelector {} does not match",
                        p.service_selector_text
                    ))
                }
                Ok(_) if !p.load_balancer_ips && !p.external_ips => {
                    if fix.is_empty() {
                        fix = format!("kubectl patch {} {} --type merge -p '{{\"spec\":{{\"loadBalancerIPs\":true}}}}'", n::POLICY_SINGULAR, p.name);
                    }
                    Some(
                        "loadBalancerIPs and externalIPs are both false: it announces nothing"
                            .to_owned(),
                    )
                }
                Ok(_) if !p.load_balancer_ips && f.external_ips.is_empty() => {
                    if fix.is_empty() {
                        fix = format!("kubectl patch {} {} --type merge -p '{{\"spec\":{{\"loadBalancerIPs\":true}}}}'", n::POLICY_SINGULAR, p.name);
                    }
                    Some("announces only externalIPs and the Service has none".to_owned())
                }
                Ok(_) => None,
            };
            match reason {
                Some(r) => lines.push(format!("policy {}: {r}", p.name)),
                None => matched.push(p),
            }
        }
        if matched.is_empty() {
            lines.push(format!(
                "Service labels (with Cilium's meta labels): {}",
                labels_text(&f.labels)
            ));
            out.push(
                Finding::new(3, "policy-match", Fail)
                    .observed(format!(
                        "no policy selects {ns}/{name}:\n{}",
                        lines.join("\n")
                    ))
                    .expected(
                        "a policy whose serviceSelector matches and that announces loadBalancerIPs",
                    )
                    .fix(fix),
            );
            return Vec::new();
        }
        let names: Vec<&str> = matched.iter().map(|p| p.name.as_str()).collect();
        out.push(
            Finding::new(3, "policy-match", Pass)
                .observed(format!("selected by policy {}", names.join(", "))),
        );

        // Nodes.
        let mut nodes = Vec::new();
        let mut lines = Vec::new();
        for p in &matched {
            let Ok(sel) = &p.node_selector else { continue };
            let hits: Vec<&str> = self
                .nodes
                .iter()
                .filter(|nd| sel.matches(&nd.labels))
                .map(|nd| nd.name.as_str())
                .collect();
            if hits.is_empty() {
                lines.push(format!(
                    "policy {}: nodeSelector {} matches no node",
                    p.name, p.node_selector_text
                ));
            }
            for h in hits {
                if !nodes.iter().any(|x: &String| x == h) {
                    nodes.push(h.to_owned());
                }
            }
        }
        let from = if self
            .snap
            .cilium_nodes
            .as_ref()
            .is_some_and(|c| !c.is_empty())
        {
            "CiliumNode"
        } else {
            "Node"
        };
        let ready: Vec<&String> = nodes
            .iter()
            .filter(|nm| {
                self.nodes
                    .iter()
                    .any(|nd| &nd.name == *nm && nd.ready == Some(true))
            })
            .collect();
        out.push(if nodes.is_empty() {
            let p = matched[0];
            let node = self.nodes.first().map_or("<node>".to_owned(), |nd| nd.name.clone());
            let want = match serde_json::from_str::<serde_json::Value>(&p.node_selector_text) {
                Ok(v) => super::snapshot::str_map(&v, &["matchLabels"]).into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
                Err(_) => String::new(),
            };
            Finding::new(3, "policy-nodes", Fail)
                .observed(format!("{}\nnode labels read from {from} objects", lines.join("\n")))
                .expected("at least one Ready node matching a selecting policy's nodeSelector")
                .fix(if want.is_empty() {
                    format!("kubectl edit {} {}   # adjust spec.nodeSelector", n::POLICY_SINGULAR, p.name)
                } else {
                    format!("kubectl label node {node} {want}   # Cilium copies Node labels to the CiliumNode\n# or: kubectl edit {} {}", n::POLICY_SINGULAR, p.name)
                })
        } else if ready.is_empty() {
            Finding::new(3, "policy-nodes", Fail)
                .observed(format!("candidate nodes {} are not Ready", nodes.join(", ")))
                .expected("a Ready candidate node")
                .fix(format!("kubectl describe node {}", nodes[0]))
        } else {
            Finding::new(3, "policy-nodes", Pass).observed(format!("candidate nodes: {} (labels from {from})", nodes.join(", ")))
        });

        // Interfaces.
        let mut errs = Vec::new();
        let mut loose = Vec::new();
        let mut fixes = Vec::new();
        for p in &matched {
            for e in &p.regex_errors {
                errs.push(format!("policy {}: interfaces: {e}", p.name));
            }
            if !p.unanchored.is_empty() {
                for re in &p.unanchored {
                    loose.push(format!("policy {}: {re:?} is unanchored (Go MatchString: \"eth0\" also matches \"veth0abc\")", p.name));
                }
                let anchored: Vec<String> = p
                    .interfaces
                    .iter()
                    .map(|re| {
                        let core = re.trim_start_matches('^').trim_end_matches('$');
                        format!("\"^{core}$\"")
                    })
                    .collect();
                fixes.push(format!(
                    "kubectl patch {} {} --type merge -p '{{\"spec\":{{\"interfaces\":[{}]}}}}'",
                    n::POLICY_SINGULAR,
                    p.name,
                    anchored.join(",")
                ));
            }
        }
        out.push(if !errs.is_empty() {
            Finding::new(3, "policy-interfaces", Fail)
                .observed(errs.join("\n"))
                .expected("valid Go (RE2) regular expressions")
                .fix(
                    matched
                        .iter()
                        .filter(|p| !p.regex_errors.is_empty())
                        .map(|p| {
                            format!(
                                "kubectl edit {} {}   # fix spec.interfaces",
                                n::POLICY_SINGULAR,
                                p.name
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                )
        } else if !loose.is_empty() {
            Finding::new(3, "policy-interfaces", Warn)
                .observed(loose.join("\n"))
                .expected("anchored patterns such as ^eth0$")
                .fix(fixes.join("\n"))
        } else {
            let all: Vec<String> = matched.iter().flat_map(|p| p.interfaces.clone()).collect();
            Finding::new(3, "policy-interfaces", Pass).observed(if all.is_empty() {
                "no interfaces listed: every device the agent selected".to_owned()
            } else {
                format!("interfaces {}", all.join(", "))
            })
        });
        nodes
    }

    /// The API load of all L2 leases and the ones nobody needs (reference §4.1, §5 #1–2).
    fn lease_load(&self) -> Finding {
        let (count, orphans) = self.lease_stats();
        let renew_ms = parse_go_duration(
            &self
                .config
                .string(n::CFG_L2_RENEW_DEADLINE, n::CFG_L2_RENEW_DEADLINE_DEFAULT),
        )
        .unwrap_or(5000)
        .max(1);
        let qps: f64 = self
            .config
            .get(n::CFG_K8S_CLIENT_QPS)
            .and_then(|q| q.trim().parse().ok())
            .unwrap_or(n::CFG_K8S_CLIENT_QPS_DEFAULT);
        let load = count as f64 * 1000.0 / renew_ms as f64;
        let text = format!("{count} {} lease(s), {orphans} without a Service; renewals ≈ {load:.1}/s per leader against {}: {qps}", n::L2_LEASE_PREFIX, n::CFG_K8S_CLIENT_QPS);
        if load >= qps {
            Finding::new(5, "lease-load", Warn)
                .observed(text)
                .expected("#leases / renew deadline well below the agent's client QPS (cilium/cilium#26586)")
                .fix(format!("helm upgrade cilium cilium/cilium -n {} --reuse-values --set k8sClientRateLimit.qps={} --set k8sClientRateLimit.burst={}", self.agent_ns(), (load * 2.0).ceil(), (load * 4.0).ceil()))
        } else if orphans > 0 {
            Finding::new(5, "lease-load", Warn)
                .observed(text)
                .expected("no lease without a Service (the agent's GC removes only released ones)")
                .fix(format!(
                    "lbctl leases -o wide   # then: kubectl -n {} delete lease <name>",
                    self.agent_ns()
                ))
        } else {
            Finding::new(5, "lease-load", Pass).observed(text)
        }
    }

    /// (L2 leases, of which orphaned) — computed once per cluster.
    pub fn lease_stats(&self) -> (usize, usize) {
        *self.lease_stats.get_or_init(|| {
            let prefix = format!("{}-", n::L2_LEASE_PREFIX);
            let expected: std::collections::HashSet<String> = self
                .snap
                .services
                .iter()
                .map(|s| {
                    let (ns, name) = svc_key(s);
                    n::l2_lease_name(ns, name)
                })
                .collect();
            let l2: Vec<&String> = self
                .leases
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .collect();
            let orphans = l2.iter().filter(|k| !expected.contains(k.as_str())).count();
            (l2.len(), orphans)
        })
    }
}
