//! Rung 3's policies: which L2 announcement policies exist, select the Service, pick nodes and
//! interfaces, and whether the traffic policy lets the announcing node serve.

use super::super::eval::{labels_text, Cluster, PolicyInfo, SvcFacts};
use super::super::fix;
use super::super::suggest::near_misses;
use super::super::{Finding, Verdict};
use crate::ipam::engine::TrafficPolicy;
use crate::model::names as n;

use Verdict::{Fail, Pass, Warn};

impl Cluster<'_> {
    /// `l2-policies`: the CRD is served, a policy exists, and none that could select the Service
    /// is broken. The flag is `false` when there is no policy to match against.
    pub(super) fn l2_policies(&self, f: &SvcFacts<'_>) -> (Finding, bool) {
        let (ns, name) = (&f.view.namespace, &f.view.name);
        if self.snap.policies.is_none() {
            return (Finding::new(3, "l2-policies", Fail)
                    .observed(format!("{} CRD not installed (Cilium before 1.14?)", n::POLICY_KIND))
                    .expected(format!("{}.{} served as v2alpha1", n::POLICY_PLURAL, n::CILIUM_GROUP))
                    .fix("helm upgrade cilium cilium/cilium -n kube-system --reuse-values   # Cilium 1.14+ ships the CRD"), false);
        }
        if self.policies.is_empty() {
            return (Finding::new(3, "l2-policies", Fail)
                    .observed("no CiliumL2AnnouncementPolicy exists: no node announces the VIP")
                    .expected(format!("a policy whose serviceSelector selects {ns}/{name}, with loadBalancerIPs: true"))
                    .fix(fix::apply(&format!(
                        "apiVersion: {}/{}\nkind: {}\nmetadata:\n  name: {ns}-l2\nspec:\n  serviceSelector:\n    matchLabels:\n      {}: {ns}\n  loadBalancerIPs: true",
                        n::CILIUM_GROUP,
                        n::V2ALPHA1,
                        n::POLICY_KIND,
                        n::LABEL_SVC_NAMESPACE
                    ))), false);
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
            let reported = |ty: &str| p.bad.iter().any(|c| c.type_ == ty);
            if let Err(e) = &p.service_selector {
                if !reported(n::POLICY_BAD_SERVICE_SELECTOR) {
                    why.push(format!("serviceSelector invalid: {e}"));
                }
            }
            if let Err(e) = &p.node_selector {
                if !reported(n::POLICY_BAD_NODE_SELECTOR) {
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
                fixes.push(fix::edit(
                    n::POLICY_SINGULAR,
                    &p.name,
                    "fix the selector or regex named above; the agent drops the whole policy",
                ));
            } else {
                warns.push(line);
            }
        }
        let finding = if !fails.is_empty() {
            Finding::new(3, "l2-policies", Fail)
                .observed(fails.iter().chain(warns.iter()).cloned().collect::<Vec<_>>().join("\n"))
                .expected("no io.cilium/bad-* condition and valid selectors on the policies that could select the Service")
                .fix(fixes.join("\n"))
        } else if !warns.is_empty() {
            Finding::new(3, "l2-policies", Warn)
                .observed(warns.join("\n"))
                .expected("no io.cilium/bad-* condition")
        } else {
            Finding::new(3, "l2-policies", Pass)
                .observed(format!("{} policy(ies), none broken", self.policies.len()))
        };
        (finding, true)
    }

    /// `policy-match`: the policies that select the Service and announce its kind of IP, as
    /// Cilium's agent matches them (service selector, then `loadBalancerIPs`/`externalIPs`).
    pub(super) fn policy_match(&self, f: &SvcFacts<'_>) -> (Finding, Vec<&PolicyInfo>) {
        let (ns, name) = (&f.view.namespace, &f.view.name);
        let mut matched = Vec::new();
        let mut lines = Vec::new();
        let mut fix = String::new();
        let announce_lb = |p: &PolicyInfo| {
            fix::patch_spec(n::POLICY_SINGULAR, &p.name, "\"loadBalancerIPs\":true")
        };
        for p in &self.policies {
            let reason = match &p.service_selector {
                Err(_) => Some("serviceSelector invalid (dropped by the agent)".to_owned()),
                Ok(s) if !s.matches(&f.labels) => {
                    if fix.is_empty() {
                        fix = self.selector_fix(
                            f,
                            n::POLICY_SINGULAR,
                            &p.name,
                            &p.service_match_labels,
                        );
                    }
                    Some(format!(
                        "serviceSelector {} does not match",
                        p.service_selector_text
                    ))
                }
                Ok(_) if !p.load_balancer_ips && !p.external_ips => {
                    if fix.is_empty() {
                        fix = announce_lb(p);
                    }
                    Some(
                        "loadBalancerIPs and externalIPs are both false: it announces nothing"
                            .to_owned(),
                    )
                }
                Ok(_) if !p.load_balancer_ips && f.external_ips.is_empty() => {
                    if fix.is_empty() {
                        fix = announce_lb(p);
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
            let finding = Finding::new(3, "policy-match", Fail)
                .observed(format!(
                    "no policy selects {ns}/{name}:\n{}",
                    lines.join("\n")
                ))
                .expected(
                    "a policy whose serviceSelector matches and that announces loadBalancerIPs",
                )
                .fix(fix);
            return (finding, matched);
        }
        let names: Vec<&str> = matched.iter().map(|p| p.name.as_str()).collect();
        let finding = Finding::new(3, "policy-match", Pass)
            .observed(format!("selected by policy {}", names.join(", ")));
        (finding, matched)
    }

    /// `policy-nodes`: the candidate nodes of the matching policies (`matched`, not empty);
    /// returns them with the finding.
    pub(super) fn policy_nodes(&self, matched: &[&PolicyInfo]) -> (Finding, Vec<String>) {
        let mut nodes: Vec<String> = Vec::new();
        let mut lines = Vec::new();
        for p in matched {
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
                if !nodes.iter().any(|x| x == h) {
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
        let ready = nodes.iter().any(|nm| {
            self.nodes
                .iter()
                .any(|nd| &nd.name == nm && nd.ready == Some(true))
        });
        let finding = if nodes.is_empty() {
            let (near, fix) = self.node_selector_fix(matched);
            let mut observed =
                format!("{}\nnode labels read from {from} objects", lines.join("\n"));
            if !near.is_empty() {
                observed.push_str(&format!("\nclosest node labels: {}", near.join("; ")));
            }
            Finding::new(3, "policy-nodes", Fail)
                .observed(observed)
                .expected("at least one Ready node matching a selecting policy's nodeSelector")
                .fix(fix)
        } else if !ready {
            Finding::new(3, "policy-nodes", Fail)
                .observed(format!(
                    "candidate nodes {} are not Ready",
                    nodes.join(", ")
                ))
                .expected("a Ready candidate node")
                .fix(format!("kubectl describe node {}", nodes[0]))
        } else {
            Finding::new(3, "policy-nodes", Pass).observed(format!(
                "candidate nodes: {} (labels from {from})",
                nodes.join(", ")
            ))
        };
        (finding, nodes)
    }

    /// For policies whose nodeSelector matches no node: the node labels that come closest
    /// (as `label on nodes` lines), and the fix: change the selector to the label that exists,
    /// or label the nodes that carry it. Without a near miss the user must choose the nodes:
    /// doctor never picks one (the first by name is often a control-plane node).
    fn node_selector_fix(&self, matched: &[&PolicyInfo]) -> (Vec<String>, String) {
        let nodes: Vec<(String, std::collections::BTreeMap<String, String>)> = self
            .nodes
            .iter()
            .map(|nd| (nd.name.clone(), nd.labels.clone()))
            .collect();
        let mut near = Vec::new();
        let mut fixes = Vec::new();
        for p in matched {
            let edit = format!("kubectl edit {} {}", n::POLICY_SINGULAR, p.name);
            if p.node_match_labels.is_empty() {
                fixes.push(format!(
                    "{edit}   # spec.nodeSelector's matchExpressions match no node: compare with kubectl get nodes --show-labels"
                ));
                continue;
            }
            let misses = near_misses(&p.node_match_labels, &nodes);
            // The closest few: a long list would hide the one that matters.
            for m in misses.iter().take(5) {
                near.push(format!(
                    "{} on {} (policy {} wants {})",
                    m.have_text(),
                    m.nodes.join(", "),
                    p.name,
                    m.want_text()
                ));
            }
            let want = p
                .node_match_labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            // Only a selector of one pair can be swapped for the near miss without guessing
            // how the other pairs should change.
            match misses.first() {
                Some(m) => {
                    let mut alt = vec![format!(
                        "# policy {} wants {want}; nodes {} carry {} instead. Either label the nodes that should announce:",
                        p.name,
                        m.nodes.join(", "),
                        m.have_text()
                    )];
                    alt.push(format!(
                        "{}   # Cilium copies Node labels to the CiliumNode",
                        fix::label_nodes(&m.nodes, &want)
                    ));
                    alt.push("# or select the label those nodes already carry:".to_owned());
                    alt.push(if p.node_match_labels.len() == 1 {
                        fix::policy_node_selector(&p.name, &m.have.0, &m.have.1)
                    } else {
                        format!(
                            "{edit}   # replace {} with {} in spec.nodeSelector",
                            m.want_text(),
                            m.have_text()
                        )
                    });
                    fixes.push(alt.join("\n"));
                }
                None => fixes.push(format!(
                    "# no node carries a label close to {want}: choose the nodes that should announce (on the VIP's L2 segment) and label them:\nkubectl label node <NODE>... {want}   # Cilium copies Node labels to the CiliumNode\n# or change spec.nodeSelector to labels those nodes carry (kubectl get nodes --show-labels): {edit}"
                )),
            }
        }
        (near, fixes.join("\n"))
    }

    /// `policy-interfaces`: the matching policies' interface patterns are valid Go regexps,
    /// and anchored (Go's `MatchString` matches anywhere in the name).
    pub(super) fn policy_interfaces(&self, matched: &[&PolicyInfo]) -> Finding {
        let mut errs = Vec::new();
        let mut loose = Vec::new();
        let mut fixes = Vec::new();
        for p in matched {
            for e in &p.regex_errors {
                errs.push(format!("policy {}: interfaces: {e}", p.name));
            }
            if p.unanchored.is_empty() {
                continue;
            }
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
            fixes.push(fix::patch_spec(
                n::POLICY_SINGULAR,
                &p.name,
                &format!("\"interfaces\":[{}]", anchored.join(",")),
            ));
        }
        if !errs.is_empty() {
            let fixes: Vec<String> = matched
                .iter()
                .filter(|p| !p.regex_errors.is_empty())
                .map(|p| fix::edit(n::POLICY_SINGULAR, &p.name, "fix spec.interfaces"))
                .collect();
            return Finding::new(3, "policy-interfaces", Fail)
                .observed(errs.join("\n"))
                .expected("valid Go (RE2) regular expressions")
                .fix(fixes.join("\n"));
        }
        if !loose.is_empty() {
            return Finding::new(3, "policy-interfaces", Warn)
                .observed(loose.join("\n"))
                .expected("anchored patterns such as ^eth0$")
                .fix(fixes.join("\n"));
        }
        let all: Vec<String> = matched.iter().flat_map(|p| p.interfaces.clone()).collect();
        Finding::new(3, "policy-interfaces", Pass).observed(if all.is_empty() {
            "no interfaces listed: every device the agent selected".to_owned()
        } else {
            format!("interfaces {}", all.join(", "))
        })
    }

    /// `external-traffic-policy`: with `Local`, the announcing node (the lease `holder`) must
    /// run a ready endpoint, since Cilium's L2 announcer ignores endpoints.
    pub(super) fn external_traffic_policy(
        &self,
        f: &SvcFacts<'_>,
        holder: Option<&str>,
    ) -> Finding {
        if f.view.external_traffic_policy != TrafficPolicy::Local {
            return Finding::new(3, "external-traffic-policy", Pass)
                .observed("externalTrafficPolicy: Cluster");
        }
        let (ns, name) = (&f.view.namespace, &f.view.name);
        let on: Vec<String> = self
            .endpoint_nodes(ns, name)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let on_text = if on.is_empty() {
            "none".to_owned()
        } else {
            on.join(", ")
        };
        let fix = format!(
            "{}   # Cilium's L2 announcer ignores endpoints (cilium/cilium#27800)",
            fix::patch_service_spec(&f.kref, "\"externalTrafficPolicy\":\"Cluster\"")
        );
        match holder {
            Some(h) if !on.iter().any(|x| x == h) => Finding::new(3, "external-traffic-policy", Fail)
                .observed(format!("externalTrafficPolicy: Local and lease holder {h} has no ready endpoint (endpoints on: {on_text}): traffic to the VIP is dropped"))
                .expected("the announcing node runs a ready endpoint, or externalTrafficPolicy: Cluster")
                .fix(fix),
            _ => Finding::new(3, "external-traffic-policy", Warn)
                .observed(format!("externalTrafficPolicy: Local: works only while the lease holder runs a ready endpoint (endpoints on: {on_text})"))
                .expected("externalTrafficPolicy: Cluster with L2 announcements")
                .fix(fix),
        }
    }
}
