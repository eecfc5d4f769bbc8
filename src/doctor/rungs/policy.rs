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

    /// `policy-interfaces`: every policy's interface patterns, judged at once so the user learns
    /// everything about a policy in one place. A pattern must be a valid Go (RE2) regexp; when
    /// `cilium-config` names the `devices` Cilium manages, Cilium answers ARP/NDP only on those,
    /// so a policy none of whose patterns matches one of them announces nowhere (`fail`), and a
    /// pattern that matches none beside others that do is dead (`warn`). Go's `MatchString`
    /// matches anywhere in the name, so a pattern that can match a longer name than meant
    /// (`eth0` also matches `veth0abc`) is a `warn` naming such a name, with the anchored
    /// pattern as fix. Policies that do not select the Service are listed with why they do
    /// not; their problems do not fail this Service.
    pub(super) fn policy_interfaces(&self, f: &SvcFacts<'_>, matched: &[&PolicyInfo]) -> Finding {
        let devices = self
            .config
            .get(n::CFG_DEVICES)
            .map(parse_devices)
            .filter(|d| !d.is_empty());
        let mut fails = Vec::new();
        let mut warns = Vec::new();
        let mut notes = Vec::new();
        let mut fixes = Vec::new();
        for p in &self.policies {
            let selects = matched.iter().any(|m| m.name == p.name);
            let fixes_before = fixes.len();
            let mut problems = Vec::new();
            let mut fail = false;
            for e in &p.regex_errors {
                problems.push(format!("interfaces: {e}"));
                fail = true;
            }
            let valid: Vec<(&String, regex::Regex)> = p
                .interfaces
                .iter()
                .filter_map(|re| regex::Regex::new(re).ok().map(|r| (re, r)))
                .collect();
            let mut anchored_fix = false;
            if let Some(devs) = &devices {
                let shown = devs.iter().map(Device::text).collect::<Vec<_>>().join(", ");
                let dead: Vec<&String> = valid
                    .iter()
                    .filter(|(src, re)| !devs.iter().any(|d| d.matched_by(src, re)))
                    .map(|(src, _)| *src)
                    .collect();
                if !valid.is_empty() && dead.len() == valid.len() {
                    problems.push(format!("interfaces {} match none of the devices Cilium manages ({}: {shown}): the agent would answer ARP/NDP on no interface", quoted(&dead), n::CFG_DEVICES));
                    fail = true;
                    fixes.push(fix::edit(n::POLICY_SINGULAR, &p.name, &format!("make spec.interfaces match one of {shown} (or add the device to {} in {})", n::CFG_DEVICES, n::CILIUM_CONFIG_MAP)));
                } else if !dead.is_empty() {
                    problems.push(format!(
                        "interfaces {} match none of the devices Cilium manages ({}: {shown})",
                        quoted(&dead),
                        n::CFG_DEVICES
                    ));
                }
            }
            let known: Vec<String> = devices
                .iter()
                .flatten()
                .filter_map(|d| match d {
                    Device::Name(n) => Some(n.clone()),
                    Device::Prefix(_) => None,
                })
                .collect();
            for (src, re) in &valid {
                if let Some((extra, fixed)) = over_match(src, re, &known) {
                    problems.push(format!("{src:?} also matches {extra:?} (Go's MatchString matches anywhere in the name); anchored: {fixed:?}"));
                    anchored_fix = true;
                }
            }
            if anchored_fix {
                let all: Vec<String> = p
                    .interfaces
                    .iter()
                    .map(|re| {
                        let re_ok = regex::Regex::new(re).ok();
                        match re_ok.and_then(|r| over_match(re, &r, &known)) {
                            Some((_, fixed)) => fixed,
                            None => re.clone(),
                        }
                    })
                    .map(|re| serde_json::to_string(&re).unwrap_or_default())
                    .collect();
                fixes.push(fix::patch_spec(
                    n::POLICY_SINGULAR,
                    &p.name,
                    &format!("\"interfaces\":[{}]", all.join(",")),
                ));
            }
            if problems.is_empty() {
                continue;
            }
            let mut line = format!("policy {}: {}", p.name, problems.join("; "));
            if !selects {
                if fixes.len() > fixes_before {
                    fixes.insert(
                        fixes_before,
                        format!(
                            "# policy {} does not select this Service; for its own Services:",
                            p.name
                        ),
                    );
                }
                let why = self
                    .exclusion(p, f)
                    .unwrap_or_else(|| "does not select the Service".to_owned());
                line.push_str(&format!(" (also excluded for this Service: {why})"));
                notes.push(line);
            } else if fail {
                fails.push(line);
            } else {
                warns.push(line);
            }
        }
        let observed = fails
            .iter()
            .chain(&warns)
            .chain(&notes)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        if !fails.is_empty() {
            let edits: Vec<String> = matched
                .iter()
                .filter(|p| !p.regex_errors.is_empty())
                .map(|p| fix::edit(n::POLICY_SINGULAR, &p.name, "fix spec.interfaces"))
                .chain(fixes)
                .collect();
            return Finding::new(3, "policy-interfaces", Fail)
                .observed(observed)
                .expected(
                    "valid Go (RE2) regular expressions, each matching a device Cilium manages",
                )
                .fix(edits.join("\n"));
        }
        if !warns.is_empty() || !notes.is_empty() {
            return Finding::new(3, "policy-interfaces", Warn)
                .observed(observed)
                .expected("patterns anchored to whole device names (^eth0$), each matching a device Cilium manages")
                .fix(fixes.join("\n"));
        }
        let all: Vec<String> = matched.iter().flat_map(|p| p.interfaces.clone()).collect();
        let devs = match &devices {
            Some(d) => format!(
                " ({}: {})",
                n::CFG_DEVICES,
                d.iter().map(Device::text).collect::<Vec<_>>().join(", ")
            ),
            None => String::new(),
        };
        Finding::new(3, "policy-interfaces", Pass).observed(if all.is_empty() {
            format!("no interfaces listed: every device the agent selected{devs}")
        } else {
            format!("interfaces {}{devs}", all.join(", "))
        })
    }

    /// Why policy `p` does not take the Service, as the agent decides (service selector, then
    /// the kinds of IP it announces).
    fn exclusion(&self, p: &PolicyInfo, f: &SvcFacts<'_>) -> Option<String> {
        match &p.service_selector {
            Err(e) => Some(format!("serviceSelector invalid: {e}")),
            Ok(s) if !s.matches(&f.labels) => Some(format!(
                "serviceSelector {} does not match",
                p.service_selector_text
            )),
            Ok(_) if !p.load_balancer_ips && !p.external_ips => {
                Some("loadBalancerIPs and externalIPs are both false".to_owned())
            }
            Ok(_) if !p.load_balancer_ips && f.external_ips.is_empty() => {
                Some("announces only externalIPs and the Service has none".to_owned())
            }
            Ok(_) => None,
        }
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

/// One entry of `cilium-config`'s `devices`: a name, or a prefix written `eth+`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Device {
    Name(String),
    Prefix(String),
}

impl Device {
    fn text(&self) -> String {
        match self {
            Device::Name(n) => n.clone(),
            Device::Prefix(p) => format!("{p}+"),
        }
    }

    /// Whether pattern `re` (source `src`) matches this device, or some device this prefix
    /// stands for. A prefix stands for infinitely many names; the names tried are the prefix
    /// followed by a digit, and the pattern's own leading literal when it extends the prefix
    /// (`^eth1$` against `eth+` tries `eth1`).
    fn matched_by(&self, src: &str, re: &regex::Regex) -> bool {
        match self {
            Device::Name(n) => re.is_match(n),
            Device::Prefix(p) => {
                let lit = literal_prefix(src);
                let mut names = vec![p.clone(), format!("{p}0"), format!("{p}1")];
                if lit.starts_with(p.as_str()) {
                    names.extend([lit.clone(), format!("{lit}0"), format!("{lit}1")]);
                }
                names.iter().any(|n| re.is_match(n))
            }
        }
    }
}

/// `devices` as Cilium reads it: names separated by spaces or commas, `+` at the end a
/// wildcard; `!`-prefixed exclusions select nothing and are skipped.
fn parse_devices(v: &str) -> Vec<Device> {
    v.split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.starts_with('!'))
        .map(|d| match d.strip_suffix('+') {
            Some(p) => Device::Prefix(p.to_owned()),
            None => Device::Name(d.to_owned()),
        })
        .collect()
}

/// The literal characters a pattern starts with (after `^`), escapes resolved: `^eth[0-9]+`
/// gives `eth`.
fn literal_prefix(src: &str) -> String {
    let mut out = String::new();
    let mut chars = src.strip_prefix('^').unwrap_or(src).chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => out.push(e),
                _ => break,
            },
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => {
                // A quantifier after the last literal makes it optional.
                if matches!(chars.peek(), Some('?' | '*' | '{')) {
                    break;
                }
                out.push(c);
            }
            _ => break,
        }
    }
    out
}

/// Interface names found on Cilium nodes besides the uplinks: what an unanchored pattern
/// could catch by accident.
const NODE_INTERFACES: &[&str] = &[
    "cilium_host",
    "cilium_net",
    "cilium_vxlan",
    "cilium_geneve",
    "lxc_health",
    "lxc0a1b2c3d",
    "docker0",
    "cni0",
    "flannel.1",
    "kube-ipvs0",
    "lo",
    "eth0",
    "eth1",
    "ens3",
    "enp0s3",
    "bond0",
    "br0",
];

/// What an unanchored pattern was meant to match, as a pattern: the whole name (`^eth0$`) when
/// it ends in `$` or in a digit (`eth0` names one device), else names starting with it (`ens`
/// names the `ens*` family: `^ens`). When the devices Cilium manages are known and the
/// whole-name form would lose one the pattern matches, the prefix form is meant.
fn meant(src: &str, re: &regex::Regex, known: &[String]) -> String {
    let c = core(src);
    let whole_intent = src.ends_with('$') || c.ends_with(|ch: char| ch.is_ascii_digit());
    let whole = anchor(src);
    if whole_intent {
        if let Ok(w) = regex::Regex::new(&whole) {
            if known.iter().all(|d| !re.is_match(d) || w.is_match(d)) {
                return whole;
            }
        }
    }
    if top_level_alternation(c) {
        format!("^(?:{c})")
    } else {
        format!("^{c}")
    }
}

/// A name that pattern `re` matches only because Go's `MatchString` matches anywhere in the
/// name, with the pattern that was meant ([`meant`]), which does not match it. The names tried
/// are the devices Cilium manages (`known`), the interfaces of a Cilium node, and names around
/// the pattern's leading literal or a known device: a veth or lxc around it, a VLAN on it
/// (`eth0.100`). `None` when the pattern already says what it means.
fn over_match(src: &str, re: &regex::Regex, known: &[String]) -> Option<(String, String)> {
    let fixed = meant(src, re, known);
    if fixed == src {
        return None;
    }
    let tight = regex::Regex::new(&fixed).ok()?;
    let lit = literal_prefix(src);
    let mut names: Vec<String> = Vec::new();
    for base in known
        .iter()
        .cloned()
        .chain((!lit.is_empty()).then_some(lit))
    {
        names.extend([
            format!("v{base}abc"),
            format!("v{base}"),
            format!("{base}.100"),
            format!("lxc{base}"),
            base,
        ]);
    }
    names.extend(NODE_INTERFACES.iter().map(|s| (*s).to_owned()));
    names
        .into_iter()
        .find(|nm| re.is_match(nm) && !tight.is_match(nm))
        .map(|nm| (nm, fixed))
}

/// The pattern without its own `^`/`$` anchors.
fn core(src: &str) -> &str {
    let s = src.strip_prefix('^').unwrap_or(src);
    if s.ends_with('$') && !s.ends_with("\\$") {
        &s[..s.len() - 1]
    } else {
        s
    }
}

/// The pattern anchored to whole names: `^eth0$`, or `^(?:eth0|eth1)$` when it has a
/// top-level alternation (`^eth0|eth1$` would anchor only each end).
fn anchor(src: &str) -> String {
    let c = core(src);
    if top_level_alternation(c) {
        format!("^(?:{c})$")
    } else {
        format!("^{c}$")
    }
}

fn top_level_alternation(c: &str) -> bool {
    let mut depth = 0i32;
    let mut escaped = false;
    for ch in c.chars() {
        match ch {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            '|' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

fn quoted(v: &[&String]) -> String {
    v.iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(s: &str) -> regex::Regex {
        regex::Regex::new(s).unwrap()
    }

    #[test]
    fn devices_parse_like_cilium() {
        assert_eq!(
            parse_devices("eth+ ens3,bond0  !docker+"),
            vec![
                Device::Prefix("eth".into()),
                Device::Name("ens3".into()),
                Device::Name("bond0".into())
            ]
        );
        let eth = Device::Prefix("eth".into());
        assert!(eth.matched_by("^eth1$", &re("^eth1$")));
        assert!(eth.matched_by("^eth[0-9]+$", &re("^eth[0-9]+$")));
        assert!(!eth.matched_by("^ens[0-9]+$", &re("^ens[0-9]+$")));
        assert!(Device::Name("ens3".into()).matched_by("ens", &re("ens")));
    }

    /// Only patterns that can really match more than a whole name are loose, and the fix
    /// anchors them without changing what they mean.
    #[test]
    fn over_match_only_where_it_can() {
        let known = vec!["eth0".to_owned()];
        let loose = |s: &str| over_match(s, &re(s), &known);
        let pair = |a: &str, b: &str| Some((a.to_owned(), b.to_owned()));
        assert_eq!(loose("eth0"), pair("veth0abc", "^eth0$"));
        assert_eq!(loose("eth[0-9]+$"), pair("veth0", "^eth[0-9]+$"));
        assert_eq!(loose("^eth0"), pair("eth0.100", "^eth0$"));
        // A family: meant as a prefix, so ens3 is no surprise, vensabc is.
        assert_eq!(loose("ens"), pair("vensabc", "^ens"));
        assert_eq!(loose("^ens"), None);
        assert_eq!(loose("^eth0$"), None);
        assert_eq!(loose("^eth[0-9]+$"), None);
        assert_eq!(loose("^(eth0|eth1)$"), None);
        // With devices known, a whole-name fix that would lose one is not proposed.
        let known = vec!["eth0".to_owned(), "eth0.100".to_owned()];
        assert_eq!(over_match("^eth0", &re("^eth0"), &known), None);
        assert_eq!(anchor("eth0"), "^eth0$");
        assert_eq!(anchor("^eth[0-9]+"), "^eth[0-9]+$");
        assert_eq!(anchor("eth0|ens3"), "^(?:eth0|ens3)$");
        assert_eq!(literal_prefix("^eth[0-9]+"), "eth");
        assert_eq!(literal_prefix("^flannel\\.1$"), "flannel.1");
    }
}
