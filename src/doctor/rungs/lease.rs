//! Rung 5: the Service's L2 lease, its holder, and the API load of all L2 leases.

use super::super::eval::{Cluster, LeaseInfo};
use super::super::fix;
use super::super::snapshot::{ingress_ips, is_load_balancer, parse_go_duration, svc_key};
use super::super::{Finding, Verdict};
use crate::model::names as n;
use k8s_openapi::api::core::v1::Service;

use Verdict::{Fail, Pass, Warn};

impl Cluster<'_> {
    /// `lease` of Service `ns/name` (which has an IP). Without one, a `warn` when rung 3
    /// already explains why no agent contends (`rung3_failed`), else a `fail`.
    pub(super) fn lease(&self, ns: &str, name: &str, rung3_failed: bool) -> Finding {
        let agent_ns = self.agent_ns();
        let lease_name = n::l2_lease_name(ns, name);
        let now = self.snap.now;
        let Some(l) = self.leases.get(&lease_name) else {
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
            return if rung3_failed {
                f5
            } else {
                f5.fix(fix::agent_lease_logs(agent_ns))
            };
        };
        let age = l
            .age(now)
            .map_or("never".to_owned(), |a| format!("{a}s ago"));
        let dur = l.duration.map_or("unset".to_owned(), |d| format!("{d}s"));
        let text = format!("Lease {agent_ns}/{lease_name}: holder {:?}, renewed {age}, leaseDurationSeconds {dur}, transitions {}", l.holder, l.transitions);
        if l.holder.is_empty() {
            Finding::new(5, "lease", Fail)
                .observed(format!("{text}: released, nobody holds it"))
                .expected("a holder renewing within leaseDurationSeconds")
                .fix(format!(
                    "{}   # why does no agent acquire it?",
                    fix::agent_lease_logs(agent_ns)
                ))
        } else if l.expired(now) {
            Finding::new(5, "lease", Fail)
                .observed(format!("{text}: expired (renewTime older than the duration): {} stopped renewing", l.holder))
                .expected("renewTime within leaseDurationSeconds")
                .fix(format!("kubectl -n {agent_ns} get pods -l {}={} --field-selector spec.nodeName={} -o name | xargs kubectl -n {agent_ns} logs | grep -iE 'lease|throttl'\nkubectl -n {agent_ns} delete lease {lease_name}   # lets another node take over", n::AGENT_POD_LABEL.0, n::AGENT_POD_LABEL.1, l.holder))
        } else {
            Finding::new(5, "lease", Pass).observed(text)
        }
    }

    /// `lease-holder` of lease `l` (held): an existing, Ready node, and one of the policies'
    /// candidate nodes (`candidates`, empty when unknown).
    pub(super) fn lease_holder(&self, l: &LeaseInfo, candidates: &[String]) -> Finding {
        let node = self
            .nodes
            .iter()
            .find(|nd| nd.name == l.holder && nd.is_node);
        let fix = format!("kubectl describe node {}\nkubectl -n {} delete lease {}   # forces a new election (cilium/cilium#32148)", l.holder, self.agent_ns(), l.name);
        match node {
            None => Finding::new(5, "lease-holder", Fail)
                .observed(format!(
                    "holder {} is not a Node of this cluster (gone)",
                    l.holder
                ))
                .expected("the holder is an existing, Ready node")
                .fix(fix),
            Some(nd) if nd.ready != Some(true) => Finding::new(5, "lease-holder", Fail)
                .observed(format!("holder node {} is NotReady", l.holder))
                .expected("the holder is an existing, Ready node")
                .fix(fix),
            Some(_) if !candidates.is_empty() && !candidates.contains(&l.holder) => {
                Finding::new(5, "lease-holder", Warn)
                    .observed(format!(
                        "holder node {} is Ready but no matching policy's nodeSelector selects it",
                        l.holder
                    ))
                    .expected(format!("one of: {}", candidates.join(", ")))
            }
            Some(_) => Finding::new(5, "lease-holder", Pass)
                .observed(format!("holder node {} exists and is Ready", l.holder)),
        }
    }

    /// `lease-load`: every L2 lease is renewed once per renew deadline by its holder, against
    /// the agent's client rate limit. Leases without a Service are never collected (the agent's
    /// GC removes only released ones); leases of Services that are not LoadBalancers or have no
    /// IP (some Cilium versions create them) cost renewals for nothing: both are named.
    pub(super) fn lease_load(&self) -> Finding {
        let st = self.lease_stats();
        let count = st.count;
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
        let mut text = format!("{count} {} lease(s), {} without a Service, {} of a Service that is not a LoadBalancer, {} of a LoadBalancer without an IP; renewals ≈ {load:.1}/s per leader against {}: {qps}", n::L2_LEASE_PREFIX, st.orphans.len(), st.not_lb.len(), st.no_ip.len(), n::CFG_K8S_CLIENT_QPS);
        for (what, names) in [
            ("without a Service", &st.orphans),
            ("of a Service that is not type LoadBalancer", &st.not_lb),
            ("of a LoadBalancer Service without an IP", &st.no_ip),
        ] {
            if !names.is_empty() {
                text.push_str(&format!("\n{what}: {}", name_list(names)));
            }
        }
        // Leases of Services that exist but are not announced are not an error to fix (the
        // agent that made them keeps them while the Service exists): they are counted in the
        // load and named, so a surprising count is explained.
        if load >= qps {
            Finding::new(5, "lease-load", Warn)
                .observed(text)
                .expected("#leases / renew deadline well below the agent's client QPS (cilium/cilium#26586)")
                .fix(fix::helm_set(
                    self.agent_ns(),
                    &[
                        format!("k8sClientRateLimit.qps={}", (load * 2.0).ceil()),
                        format!("k8sClientRateLimit.burst={}", (load * 4.0).ceil()),
                    ],
                ))
        } else if !st.orphans.is_empty() {
            Finding::new(5, "lease-load", Warn)
                .observed(text)
                .expected("no lease without a Service (the agent's GC removes only released ones)")
                .fix(format!(
                    "kubectl -n {} delete lease {}   # and likewise for the others named",
                    self.agent_ns(),
                    st.orphans[0]
                ))
        } else {
            Finding::new(5, "lease-load", Pass).observed(text)
        }
    }

    /// The L2 leases by what their Service is — computed once per cluster.
    pub fn lease_stats(&self) -> &LeaseStats {
        self.lease_stats.get_or_init(|| {
            let prefix = format!("{}-", n::L2_LEASE_PREFIX);
            let by_lease: std::collections::HashMap<String, &Service> = self
                .snap
                .services
                .iter()
                .map(|s| {
                    let (ns, name) = svc_key(s);
                    (n::l2_lease_name(ns, name), s)
                })
                .collect();
            let mut st = LeaseStats::default();
            let mut names: Vec<&String> = self
                .leases
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .collect();
            names.sort();
            for k in names {
                st.count += 1;
                match by_lease.get(k.as_str()) {
                    None => st.orphans.push(k.clone()),
                    Some(s) if !is_load_balancer(s) => st.not_lb.push(k.clone()),
                    Some(s) if ingress_ips(s).next().is_none() => st.no_ip.push(k.clone()),
                    Some(_) => {}
                }
            }
            st
        })
    }
}

/// The L2 leases of the agent namespace, and those among them that serve no announced VIP
/// (names sorted).
#[derive(Clone, Debug, Default)]
pub struct LeaseStats {
    pub count: usize,
    /// No Service of that name.
    pub orphans: Vec<String>,
    /// The Service is not `type: LoadBalancer`.
    pub not_lb: Vec<String>,
    /// A LoadBalancer Service without an ingress IP.
    pub no_ip: Vec<String>,
}

/// Up to five names, then how many more.
fn name_list(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}
