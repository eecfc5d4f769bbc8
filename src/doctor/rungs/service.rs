//! Rung 1: the Service's own requests and status (requested IPs, sharing, the
//! `IPAMRequestSatisfied` condition, the ingress).

use std::net::IpAddr;

use super::super::eval::{service_facts, Cluster, Engine, SvcFacts};
use super::super::fix;
use super::super::snapshot::{newest, svc_conditions};
use super::super::{Finding, Verdict};
use crate::ipam::alloc::ip_offset;
use crate::ipam::block::reserves_first_last;
use crate::ipam::engine::{is_compatible, Incompatible, TrafficPolicy};
use crate::ipam::AllowFirstLast;
use crate::model::names as n;

use Verdict::{Fail, Pass, Skip, Warn};

impl Cluster<'_> {
    /// `requested-ips`: every requested IP parses and lies where Cilium would grant it.
    pub(super) fn requested_ips(&self, f: &SvcFacts<'_>) -> Finding {
        let kref = &f.kref;
        if f.spec_lb_ip.is_none() && f.ips_key.is_none() {
            return Finding::new(1, "requested-ips", Pass).observed("no specific IP requested");
        }
        let key = f.ips_key.unwrap_or(n::ANNOTATION_IPS);
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
            fixes.push(fix::annotate(kref, key, &list));
        }
        if f.ips_key == Some(n::ANNOTATION_IPS_LEGACY) {
            notes.push(format!(
                "requested through the legacy alias {}",
                n::ANNOTATION_IPS_LEGACY
            ));
        }
        for ip in &f.view.requested_ips {
            let Some((p, r)) = self.pool_of_ip(*ip) else {
                fails.push(format!("{ip}: in no pool's range (condition no_pool)"));
                let sel: Vec<String> = self
                    .pools
                    .iter()
                    .filter(|p| p.selects(&f.labels) && !p.ranges.is_empty())
                    .map(|p| format!("pool {} ({})", p.name, p.range_text()))
                    .collect();
                let other = fix::annotate(kref, key, "<IP>");
                fixes.push(if sel.is_empty() {
                    format!("# add a pool containing {ip} (see rung 2), or request another IP:\n{other}")
                } else {
                    format!("# request an IP inside {}:\n{other}", sel.join(" or "))
                });
                continue;
            };
            if !p.selects(&f.labels) {
                fails.push(format!("{ip}: in pool {}, whose serviceSelector {} does not select this Service (condition pool_selector_mismatch)", p.name, p.selector_text));
                fixes.push(self.selector_fix(f, "ippool", &p.name, &p.match_labels));
            } else if p.disabled {
                fails.push(format!(
                    "{ip}: in pool {}, which is disabled (Cilium reports no_pool)",
                    p.name
                ));
                fixes.push(fix::patch_spec("ippool", &p.name, "\"disabled\":false"));
            } else if let Some(c) = p.conflicting() {
                fails.push(format!(
                    "{ip}: in pool {}, which is conflicting: {c} (Cilium reports no_pool)",
                    p.name
                ));
                fixes.push(fix::edit("ippool", &p.name, "change spec.blocks so they no longer overlap; or request an IP from another pool"));
            } else if r.from_cidr
                && p.allow_first_last == Some(AllowFirstLast::No)
                && reserves_first_last(r.from, r.to)
                && (*ip == r.from || *ip == r.to)
            {
                let first = *ip == r.from;
                // A range reserving its first and last address has at least three, so the
                // neighbour inward exists.
                let alt = ip_offset(*ip, if first { 1 } else { -1 }).unwrap_or(*ip);
                fails.push(format!("{ip}: the {} address of CIDR block {} - {} in pool {}, reserved by allowFirstLastIPs: No (condition already_allocated)", if first { "first" } else { "last" }, r.from, r.to, p.name));
                fixes.push(format!(
                    "{}\n# or allow the first/last addresses:\n{}",
                    fix::annotate(kref, key, &alt.to_string()),
                    fix::patch_spec("ippool", &p.name, "\"allowFirstLastIPs\":\"Yes\"")
                ));
            } else {
                notes.push(format!("{ip}: in pool {} ({} - {})", p.name, r.from, r.to));
            }
        }
        let observed = fails
            .iter()
            .chain(notes.iter())
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        if fails.is_empty() {
            return Finding::new(1, "requested-ips", Pass).observed(observed);
        }
        Finding::new(1, "requested-ips", Fail)
            .observed(observed)
            .expected("every requested IP parses and lies in an enabled, non-conflicting pool that selects the Service, off reserved first/last addresses")
            .fix(fixes.join("\n"))
    }

    /// `lb-class` for Cilium's own classes when the operator does not serve them: with the L2
    /// class, L2 announcements must be on; with the BGP class on a cluster that announces over
    /// L2 instead, the Service must move to the L2 class (or none), and since the class is
    /// immutable that means recreating it.
    pub(super) fn unserved_cilium_class(&self, f: &SvcFacts<'_>, class: &str) -> Finding {
        let l2_on = self.config.bool(
            n::CFG_ENABLE_L2_ANNOUNCEMENTS,
            n::CFG_ENABLE_L2_ANNOUNCEMENTS_DEFAULT,
        );
        let key = if class == n::LB_CLASS_L2 {
            n::CFG_ENABLE_L2_ANNOUNCEMENTS
        } else {
            n::CFG_ENABLE_BGP_CONTROL_PLANE
        };
        let off = self.config.describe(key, "false");
        if class == n::LB_CLASS_BGP && l2_on {
            let (what, edit) = if self.engine_cfg.default_lbipam {
                (
                    format!("loadBalancerClass {} or none", n::LB_CLASS_L2),
                    format!(
                        "set spec.loadBalancerClass: {} or delete the line",
                        n::LB_CLASS_L2
                    ),
                )
            } else {
                (
                    format!("loadBalancerClass {}", n::LB_CLASS_L2),
                    format!("set spec.loadBalancerClass: {}", n::LB_CLASS_L2),
                )
            };
            return Finding::new(0, "lb-class", Fail)
                .observed(format!(
                    "loadBalancerClass {class} but {off}: nothing in this cluster serves that class, so the Service gets no IP and no announcement\nthe cluster announces with L2 announcements ({})",
                    self.config.describe(n::CFG_ENABLE_L2_ANNOUNCEMENTS, "false")
                ))
                .expected(what)
                .fix(fix::recreate_with_class(&f.kref, &edit));
        }
        Finding::new(0, "lb-class", Fail)
            .observed(format!("loadBalancerClass {class} but {off}: the operator serves this class only with it on, so the Service gets no condition"))
            .expected(format!("{key}: \"true\""))
            .fix(fix::patch_config(self.agent_ns(), key, "true", &fix::agent_and_operator()))
    }

    /// `deprecated-loadbalancerip`: `spec.loadBalancerIP` still works but is deprecated.
    pub(super) fn deprecated_loadbalancerip(&self, f: &SvcFacts<'_>) -> Option<Finding> {
        let ip = f.spec_lb_ip.as_ref()?;
        Some(
            Finding::new(1, "deprecated-loadbalancerip", Warn)
                .observed(format!("spec.loadBalancerIP: {ip} (deprecated since Kubernetes 1.24; Cilium still honours it)"))
                .expected(format!("the {} annotation", n::ANNOTATION_IPS))
                .fix(format!(
                    "{}\n{}",
                    fix::annotate(&f.kref, n::ANNOTATION_IPS, ip),
                    fix::patch_spec(&f.kref, "", "\"loadBalancerIP\":null")
                )),
        )
    }

    /// `ip-sharing`: any IP this Service asks for or holds that another Service holds too,
    /// judged by the engine's own sharing rules.
    pub(super) fn ip_sharing(&self, f: &SvcFacts<'_>) -> Finding {
        let kref = &f.kref;
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
                    let mut fx = format!(
                        "# request another IP, or share {ip} with {oref} (same key on both):\n{}",
                        fix::annotate(kref, skey, &k)
                    );
                    if of.view.sharing_key.is_empty() {
                        fx.push('\n');
                        fx.push_str(&fix::annotate(&of.kref, skey, &k));
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
                            Incompatible::SharingKey => format!("{}   # the key {oref} uses", fix::annotate(kref, skey, &of.view.sharing_key)),
                            Incompatible::Namespace => format!(
                                "{}\n{}",
                                fix::annotate(kref, n::ANNOTATION_SHARING_CROSS_NS, &of.view.namespace),
                                fix::annotate(&of.kref, n::ANNOTATION_SHARING_CROSS_NS, &f.view.namespace)
                            ),
                            Incompatible::Port | Incompatible::PortProtocol => {
                                let clash: Vec<String> = f.view.ports.iter().filter(|p| of.view.ports.iter().any(|q| q.port == p.port)).map(|p| format!("{}/{}", p.port, p.protocol)).collect();
                                format!("# both Services use port {}: change the port of one (kubectl edit {kref}) or request another IP", clash.join(", "))
                            }
                            Incompatible::TrafficPolicy => {
                                let want = if of.view.external_traffic_policy == TrafficPolicy::Local { "Local" } else { "Cluster" };
                                format!("{}   # as {oref}", fix::patch_service_spec(kref, &format!("\"externalTrafficPolicy\":\"{want}\"")))
                            }
                            Incompatible::LocalSelector => format!("# with externalTrafficPolicy: Local both Services need the same non-empty spec.selector as {oref}: kubectl edit {kref}"),
                        });
                    }
                }
            }
        }
        if !fails.is_empty() {
            Finding::new(1, "ip-sharing", Fail)
                .observed(fails.join("\n"))
                .expected("a requested IP is free, or held only by Services it may share with (same sharing key, permitted namespace, no port clash, same externalTrafficPolicy)")
                .fix(fixes.join("\n"))
        } else if notes.is_empty() {
            Finding::new(1, "ip-sharing", Pass).observed("no IP shared with another Service")
        } else {
            Finding::new(1, "ip-sharing", Pass).observed(notes.join("\n"))
        }
    }

    /// `condition`: the newest `IPAMRequestSatisfied` of either generation (a Cilium before
    /// 1.15 writes only the legacy type), judged last so it can point at the checks that
    /// explain it (`explained`: the failing ones).
    pub(super) fn condition(
        &self,
        f: &SvcFacts<'_>,
        responsible: bool,
        explained: &[&str],
    ) -> Finding {
        let kref = &f.kref;
        let conds = svc_conditions(f.raw, n::SVC_SATISFIED_CONDITION_TYPES);
        let because = |what: String| {
            (!explained.is_empty())
                .then(|| format!("{what}; explained by check {}", explained.join(", ")))
        };
        if !responsible {
            return Finding::new(1, "condition", Skip).observed(
                "LB IPAM does not handle this Service (rung 0), so it writes no condition",
            );
        }
        let Some(c) = newest(&conds) else {
            let what = "no IPAMRequestSatisfied condition".to_owned();
            if self.pools.is_empty() {
                return Finding::new(1, "condition", Warn).observed(format!(
                    "{what}: LB IPAM is dormant until the first pool exists (rung 2)"
                ));
            }
            if let Some(b) = because(what.clone()) {
                return Finding::new(1, "condition", Warn).observed(b);
            }
            let fix = match self.engine {
                Engine::Lbctl => format!("kubectl -n {} get lease {}   # is lbctl serve --ipam running and leading?", self.agent_ns(), n::LBCTL_IPAM_LEASE),
                _ => format!("kubectl -n {ns} get pods -l {}={}\nkubectl -n {ns} logs deployment/{} | grep -i lbipam", n::OPERATOR_POD_LABEL.0, n::OPERATOR_POD_LABEL.1, n::OPERATOR_DEPLOYMENT, ns = self.agent_ns()),
            };
            return Finding::new(1, "condition", Fail)
                .observed(format!("{what} although a usable pool selects this Service: the LB IPAM controller has not processed it"))
                .expected(format!("{} (or legacy {})", n::SVC_SATISFIED_CONDITION, n::SVC_SATISFIED_CONDITION_LEGACY))
                .fix(fix);
        };
        let same = conds.iter().filter(|x| x.type_ == c.type_).count();
        let mut text = format!("{}: {}/{}", c.type_, c.status, c.reason);
        if !c.message.is_empty() {
            text.push_str(&format!(": {}", c.message));
        }
        if same > 1 {
            text.push_str(&format!("\n{same} entries of this type (legacy Cilium appended them; the newest by lastTransitionTime wins); duplicates break server-side apply (cilium/cilium#24945)"));
        }
        if c.status == "True" {
            return if f.view.ingress_ips.is_empty() {
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
            };
        }
        if let Some(b) = because(text.clone()) {
            return Finding::new(1, "condition", Warn).observed(b);
        }
        let hint = match c.reason.as_str() {
            n::REASON_NO_POOL | n::REASON_OUT_OF_IPS | n::REASON_POOL_SELECTOR_MISMATCH => "lbctl's own recomputation finds a pool that would serve it now: the condition is stale until the next Service or pool event",
            _ => "the IP it names is no longer contested: the condition is stale until the next Service or pool event",
        };
        Finding::new(1, "condition", Fail)
            .observed(format!("{text}\n{hint}"))
            .expected("True/satisfied")
            .fix(format!(
                "{}   # any change makes LB IPAM re-evaluate",
                fix::annotate(kref, "lbctl.io/nudge", "\"$(date +%s)\"")
            ))
    }

    /// `ingress`.
    pub(super) fn ingress(&self, f: &SvcFacts<'_>) -> Finding {
        if f.view.ingress_ips.is_empty() {
            return Finding::new(1, "ingress", Warn)
                .observed("EXTERNAL-IP <pending>: status.loadBalancer.ingress is empty")
                .expected("an IP in status.loadBalancer.ingress");
        }
        let ips: Vec<String> = f.view.ingress_ips.iter().map(ToString::to_string).collect();
        Finding::new(1, "ingress", Pass).observed(format!("ingress: {}", ips.join(", ")))
    }
}
