//! Which engine serves LoadBalancer IPs, decided from what runs rather than from what is
//! configured: a `cilium-config` ConfigMap outlives the Cilium it configured, and lbctl can serve
//! a cluster that has one. Pure: the evidence comes from the snapshot.

use serde_json::Value;

use super::eval::Engine;
use super::snapshot::{name_of, parse_time, str_at, Snapshot, Source};
use super::Verdict;
use crate::model::names as n;

/// Pods of one kind in the agent namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PodCount {
    pub running: usize,
    pub total: usize,
}

impl PodCount {
    fn text(self, what: &str) -> String {
        format!("{what}: {} running of {}", self.running, self.total)
    }
}

/// The pods that tell who runs, when the pod list could be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pods {
    pub agent: PodCount,
    pub operator: PodCount,
    pub lbctl_ipam: PodCount,
    pub lbctl_announcer: PodCount,
}

/// A leader lease as seen: who holds it and whether it is within its duration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseSeen {
    pub holder: String,
    /// Seconds since renewTime (`None`: never renewed).
    pub age: Option<i64>,
    pub fresh: bool,
}

impl LeaseSeen {
    fn from(v: &Value, now: i64) -> LeaseSeen {
        let holder = str_at(v, &["spec", "holderIdentity"])
            .unwrap_or_default()
            .to_owned();
        let age = str_at(v, &["spec", "renewTime"])
            .and_then(parse_time)
            .map(|t| now - t);
        let duration = v
            .pointer("/spec/leaseDurationSeconds")
            .and_then(Value::as_i64);
        let fresh = !holder.is_empty() && matches!((age, duration), (Some(a), Some(d)) if a <= d);
        LeaseSeen { holder, age, fresh }
    }

    fn text(&self, ns: &str, name: &str) -> String {
        let age = self
            .age
            .map_or("never renewed".to_owned(), |a| format!("renewed {a}s ago"));
        match (self.holder.is_empty(), self.fresh) {
            (true, _) => format!("lease {ns}/{name}: released (no holder), {age}"),
            (false, true) => format!("lease {ns}/{name}: held by {:?}, {age}", self.holder),
            (false, false) => format!(
                "lease {ns}/{name}: held by {:?} but stale ({age}, past its duration)",
                self.holder
            ),
        }
    }
}

/// Everything the engine decision looks at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    pub namespace: String,
    pub config: bool,
    /// `None`: the pod list was not read (refused, or not fetched).
    pub pods: Option<Pods>,
    /// `false`: leases could not be read.
    pub leases_read: bool,
    pub operator_lease: Option<LeaseSeen>,
    pub lbctl_lease: Option<LeaseSeen>,
    /// L2 announcement leases held and fresh, and by whom (Cilium agents and lbctl announcers
    /// write the same leases).
    pub l2_fresh: usize,
    pub l2_holders: Vec<String>,
}

fn running(p: &Value) -> bool {
    str_at(p, &["status", "phase"]) == Some("Running")
        && str_at(p, &["metadata", "deletionTimestamp"]).is_none()
}

fn count<'a>(pods: impl Iterator<Item = &'a Value>) -> PodCount {
    let mut c = PodCount::default();
    for p in pods {
        c.total += 1;
        c.running += usize::from(running(p));
    }
    c
}

impl Evidence {
    pub fn gather(snap: &Snapshot) -> Evidence {
        let label =
            |p: &Value, (k, v): (&str, &str)| str_at(p, &["metadata", "labels", k]) == Some(v);
        let lbctl = |p: &Value, component: &str| {
            label(p, n::LBCTL_POD_LABEL) && label(p, (n::LBCTL_COMPONENT_LABEL, component))
        };
        let pods = snap.pods.as_ref().map(|pods| Pods {
            agent: count(pods.iter().filter(|p| label(p, n::AGENT_POD_LABEL))),
            operator: count(pods.iter().filter(|p| label(p, n::OPERATOR_POD_LABEL))),
            lbctl_ipam: count(pods.iter().filter(|p| lbctl(p, "ipam"))),
            lbctl_announcer: count(pods.iter().filter(|p| lbctl(p, "announcer"))),
        });
        let lease = |name: &str| {
            snap.leases
                .iter()
                .find(|l| name_of(l) == name)
                .map(|l| LeaseSeen::from(l, snap.now))
        };
        let prefix = format!("{}-", n::L2_LEASE_PREFIX);
        let mut l2_holders = Vec::new();
        let mut l2_fresh = 0;
        for l in snap
            .leases
            .iter()
            .filter(|l| name_of(l).starts_with(&prefix))
        {
            let seen = LeaseSeen::from(l, snap.now);
            if seen.fresh {
                l2_fresh += 1;
                if !l2_holders.contains(&seen.holder) {
                    l2_holders.push(seen.holder);
                }
            }
        }
        l2_holders.sort();
        Evidence {
            namespace: snap.agent_namespace.clone(),
            config: snap.cilium_config.is_some(),
            pods,
            leases_read: snap.unread(Source::Leases).is_none(),
            operator_lease: lease(n::OPERATOR_LEADER_LEASE),
            lbctl_lease: lease(n::LBCTL_IPAM_LEASE),
            l2_fresh,
            l2_holders,
        }
    }

    fn operator_runs(&self) -> bool {
        self.pods.is_some_and(|p| p.operator.running > 0)
            || self.operator_lease.as_ref().is_some_and(|l| l.fresh)
    }

    fn cilium_runs(&self) -> bool {
        self.operator_runs() || self.pods.is_some_and(|p| p.agent.running > 0)
    }

    /// Nothing was read that could show Cilium running or not.
    fn cilium_unknown(&self) -> bool {
        self.pods.is_none() && self.operator_lease.is_none()
    }

    fn lbctl_leads(&self) -> bool {
        self.lbctl_lease.as_ref().is_some_and(|l| l.fresh)
    }

    /// One line per fact looked at, in the order the decision uses them.
    pub fn lines(&self) -> Vec<String> {
        let ns = &self.namespace;
        let mut out = vec![if self.config {
            format!("ConfigMap {ns}/{} exists", n::CILIUM_CONFIG_MAP)
        } else {
            format!("no ConfigMap {ns}/{}", n::CILIUM_CONFIG_MAP)
        }];
        match &self.pods {
            Some(p) => {
                out.push(format!(
                    "pods in {ns}: {}; {}; {}; {}",
                    p.agent.text(&format!(
                        "Cilium agent ({}={})",
                        n::AGENT_POD_LABEL.0,
                        n::AGENT_POD_LABEL.1
                    )),
                    p.operator.text(&format!(
                        "Cilium operator ({}={})",
                        n::OPERATOR_POD_LABEL.0,
                        n::OPERATOR_POD_LABEL.1
                    )),
                    p.lbctl_ipam.text("lbctl ipam"),
                    p.lbctl_announcer.text("lbctl announcer"),
                ));
            }
            None => out.push(format!("pods in {ns}: not read")),
        }
        if !self.leases_read {
            out.push(format!("leases in {ns}: not read"));
            return out;
        }
        for (name, l) in [
            (n::OPERATOR_LEADER_LEASE, &self.operator_lease),
            (n::LBCTL_IPAM_LEASE, &self.lbctl_lease),
        ] {
            out.push(match l {
                Some(l) => l.text(ns, name),
                None => format!("no lease {ns}/{name}"),
            });
        }
        out.push(if self.l2_fresh == 0 {
            format!("no fresh {}-* lease", n::L2_LEASE_PREFIX)
        } else {
            format!(
                "{} fresh {}-* lease(s), held by {}",
                self.l2_fresh,
                n::L2_LEASE_PREFIX,
                self.l2_holders.join(", ")
            )
        });
        out
    }
}

/// The engine and how sure doctor is of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub engine: Engine,
    pub verdict: Verdict,
    pub summary: String,
    pub expected: String,
    pub fix: String,
}

/// Decides from what runs. lbctl holding a fresh `lbctl-lb-ipam` lease while no Cilium operator
/// runs is lbctl, whatever ConfigMap is left; a ConfigMap with nothing of Cilium running is
/// called out rather than trusted.
pub fn decide(e: &Evidence) -> Decision {
    let ns = &e.namespace;
    let holder = e
        .lbctl_lease
        .as_ref()
        .map(|l| l.holder.clone())
        .unwrap_or_default();
    let d = |engine, verdict, summary: String| Decision {
        engine,
        verdict,
        summary,
        expected: String::new(),
        fix: String::new(),
    };
    if e.lbctl_leads() && e.operator_runs() {
        let mut d = d(
            Engine::Cilium,
            Verdict::Warn,
            format!("two LB IPAM engines run: Cilium's operator and lbctl serve --ipam (leader {holder:?}); judging with Cilium's"),
        );
        d.expected = "one LB IPAM engine".into();
        d.fix = format!(
            "# keep one: stop lbctl's IPAM\nkubectl -n {ns} scale deployment/lbctl-ipam --replicas=0\n# or turn off Cilium's:\n{}",
            super::fix::patch_config(ns, n::CFG_ENABLE_LB_IPAM, "false", &super::fix::operator())
        );
        return d;
    }
    if e.lbctl_leads() {
        let why = if e.config {
            format!(
                "; {} is present but no Cilium operator runs, so its keys are not judged",
                n::CILIUM_CONFIG_MAP
            )
        } else {
            String::new()
        };
        return d(
            Engine::Lbctl,
            Verdict::Pass,
            format!(
                "lbctl serve: lease {ns}/{} held by {holder:?}{why}",
                n::LBCTL_IPAM_LEASE
            ),
        );
    }
    if e.config || e.cilium_runs() {
        if e.cilium_runs() || e.cilium_unknown() {
            let unsure = if e.cilium_runs() {
                ""
            } else {
                " (pods and operator lease unseen: assumed running)"
            };
            return d(
                Engine::Cilium,
                Verdict::Pass,
                format!("Cilium in {ns}{unsure}"),
            );
        }
        let stale = match &e.lbctl_lease {
            Some(l) if !l.fresh => format!("; lease {ns}/{} is stale", n::LBCTL_IPAM_LEASE),
            _ => String::new(),
        };
        let mut d = d(
            Engine::Cilium,
            Verdict::Warn,
            format!(
                "{} exists in {ns} but no Cilium agent or operator runs there{stale}: nothing serves LB IPAM (judging with Cilium's config)",
                n::CILIUM_CONFIG_MAP
            ),
        );
        d.expected = "Cilium's operator running, or lbctl serve --ipam leading".into();
        d.fix = format!(
            "kubectl -n {ns} get daemonset/{} deployment/{} lease/{}\n# Cilium in another namespace? lbctl doctor --cilium-namespace <NS> ...",
            n::AGENT_DAEMONSET,
            n::OPERATOR_DEPLOYMENT,
            n::LBCTL_IPAM_LEASE
        );
        return d;
    }
    if let Some(l) = &e.lbctl_lease {
        let mut d = d(
            Engine::Lbctl,
            Verdict::Warn,
            format!(
                "{}: no lbctl serve --ipam leads, so nothing serves LB IPAM",
                l.text(ns, n::LBCTL_IPAM_LEASE)
            ),
        );
        d.expected = format!(
            "lease {ns}/{} renewed within its duration",
            n::LBCTL_IPAM_LEASE
        );
        d.fix = format!(
            "kubectl -n {ns} get pods -l {}={},{}=ipam\nkubectl -n {ns} logs deployment/lbctl-ipam",
            n::LBCTL_POD_LABEL.0,
            n::LBCTL_POD_LABEL.1,
            n::LBCTL_COMPONENT_LABEL
        );
        return d;
    }
    let mut d = d(
        Engine::None,
        Verdict::Warn,
        format!(
            "no {} ConfigMap and no {} lease in {ns}: judging with Cilium's defaults",
            n::CILIUM_CONFIG_MAP,
            n::LBCTL_IPAM_LEASE
        ),
    );
    d.expected = "Cilium (cilium-config) or lbctl serve --ipam".into();
    d.fix = "kubectl get configmap -A --field-selector metadata.name=cilium-config   # then: lbctl doctor --cilium-namespace <NS> ...".into();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(holder: &str, fresh: bool) -> Option<LeaseSeen> {
        Some(LeaseSeen {
            holder: holder.into(),
            age: Some(if fresh { 1 } else { 100 }),
            fresh,
        })
    }

    fn ev() -> Evidence {
        Evidence {
            namespace: "kube-system".into(),
            leases_read: true,
            ..Evidence::default()
        }
    }

    fn pods(agent: usize, operator: usize) -> Option<Pods> {
        Some(Pods {
            agent: PodCount {
                running: agent,
                total: agent,
            },
            operator: PodCount {
                running: operator,
                total: operator,
            },
            ..Pods::default()
        })
    }

    #[test]
    fn leftover_config_with_lbctl_leading_is_lbctl() {
        let e = Evidence {
            config: true,
            pods: pods(0, 0),
            lbctl_lease: seen("node-a", true),
            ..ev()
        };
        let d = decide(&e);
        assert_eq!((d.engine, d.verdict), (Engine::Lbctl, Verdict::Pass));
        assert!(
            d.summary.contains("no Cilium operator runs"),
            "{}",
            d.summary
        );
        // Unread pods do not change it: the lease is evidence enough without an operator lease.
        let d = decide(&Evidence { pods: None, ..e });
        assert_eq!(d.engine, Engine::Lbctl);
    }

    #[test]
    fn running_cilium_with_config_is_cilium() {
        let e = Evidence {
            config: true,
            pods: pods(2, 1),
            ..ev()
        };
        assert_eq!(
            (decide(&e).engine, decide(&e).verdict),
            (Engine::Cilium, Verdict::Pass)
        );
        // The operator's leader lease alone is evidence too.
        let e = Evidence {
            config: true,
            pods: None,
            operator_lease: seen("op-1", true),
            ..ev()
        };
        assert_eq!(decide(&e).engine, Engine::Cilium);
    }

    #[test]
    fn both_engines_warn() {
        let e = Evidence {
            config: true,
            pods: pods(2, 1),
            lbctl_lease: seen("node-a", true),
            ..ev()
        };
        let d = decide(&e);
        assert_eq!((d.engine, d.verdict), (Engine::Cilium, Verdict::Warn));
        assert!(d.fix.contains("lbctl-ipam"));
    }

    #[test]
    fn config_with_nothing_running_warns() {
        let e = Evidence {
            config: true,
            pods: pods(0, 0),
            lbctl_lease: seen("node-a", false),
            ..ev()
        };
        let d = decide(&e);
        assert_eq!((d.engine, d.verdict), (Engine::Cilium, Verdict::Warn));
        assert!(d.summary.contains("stale"), "{}", d.summary);
        // Nothing read about pods or the operator: Cilium is assumed, and the summary says so.
        let d = decide(&Evidence {
            config: true,
            ..ev()
        });
        assert_eq!((d.engine, d.verdict), (Engine::Cilium, Verdict::Pass));
        assert!(d.summary.contains("assumed"), "{}", d.summary);
    }

    #[test]
    fn stale_lbctl_lease_alone_warns() {
        let d = decide(&Evidence {
            lbctl_lease: seen("node-a", false),
            ..ev()
        });
        assert_eq!((d.engine, d.verdict), (Engine::Lbctl, Verdict::Warn));
        assert_eq!(decide(&ev()).engine, Engine::None);
    }

    #[test]
    fn evidence_lines_name_every_fact() {
        let e = Evidence {
            config: true,
            pods: pods(0, 0),
            lbctl_lease: seen("node-a", true),
            l2_fresh: 2,
            l2_holders: vec!["node-a".into(), "node-b".into()],
            ..ev()
        };
        let text = e.lines().join("\n");
        for want in [
            "ConfigMap kube-system/cilium-config exists",
            "Cilium agent (k8s-app=cilium): 0 running of 0",
            "no lease kube-system/cilium-operator-resource-lock",
            "lease kube-system/lbctl-lb-ipam: held by \"node-a\", renewed 1s ago",
            "2 fresh cilium-l2announce-* lease(s), held by node-a, node-b",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
    }
}
