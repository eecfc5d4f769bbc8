//! The checks of each rung, one function per check id of `docs/doctor-json.md`, grouped by what
//! they judge: [`prereq`] (rung 0, and rung 3's cluster prerequisites), [`service`] (rung 1),
//! [`pool`] (rung 2), [`policy`] (rung 3's policies), [`probe`] (rung 4) and [`lease`] (rung 5).
//! This module orders them and decides when a rung stops the ladder. Every fix is built by
//! [`super::fix`] and names this Service's objects, so it can be pasted as is.

mod lease;
mod policy;
mod pool;
mod prereq;
mod probe;
mod service;

pub(crate) use lease::LeaseStats;
pub(crate) use prereq::{lease_grants, LeaseGrants};

use super::eval::{Cluster, Engine, SvcFacts};
use super::{Finding, Verdict};
use crate::model::names as n;

use Verdict::{Fail, Skip};

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

    /// Rung 0. `None`: stop (nothing further can be judged); `Some(responsible)`: whether LB
    /// IPAM handles the Service (enabled, and serving its class).
    pub(crate) fn rung0(&self, f: &SvcFacts<'_>, out: &mut Vec<Finding>) -> Option<bool> {
        for check in [self.service_type(f), self.cilium_crds()] {
            let stop = check.verdict == Fail;
            out.push(check);
            if stop {
                return None;
            }
        }
        out.push(self.engine_check());
        let enabled = self.lb_ipam_enabled();
        let class = self.lb_class(f);
        let responsible = enabled.verdict != Fail && class.verdict != Fail;
        out.push(enabled);
        out.push(class);
        out.push(self.other_lb_controller(f));
        Some(responsible)
    }

    /// Rung 1, after rung 2 (`pools`) so the condition can name the checks that explain it.
    /// Order: condition, ingress, then the Service's own requests.
    pub(crate) fn rung1(
        &self,
        f: &SvcFacts<'_>,
        responsible: bool,
        pools: &[Finding],
        out: &mut Vec<Finding>,
    ) {
        let mut specific = Vec::new();
        specific.extend(self.deprecated_loadbalancerip(f));
        specific.push(self.requested_ips(f));
        specific.push(self.ip_sharing(f));
        let explained: Vec<&str> = specific
            .iter()
            .chain(pools.iter())
            .filter(|x| x.verdict == Fail)
            .map(|x| x.check.as_str())
            .collect();
        out.push(self.condition(f, responsible, &explained));
        out.push(self.ingress(f));
        out.extend(specific);
    }

    /// Rung 2. Stops at the first check that leaves nothing to judge (no pool, no valid
    /// selecting pool, no usable one), with the rest as `skip`.
    pub(crate) fn rung2(&self, f: &SvcFacts<'_>) -> Vec<Finding> {
        let exist = self.pools_exist(f);
        if exist.verdict == Fail {
            return vec![exist];
        }
        let selecting: Vec<_> = self.pools.iter().filter(|p| p.selects(&f.labels)).collect();
        let mut out = vec![
            exist,
            self.pool_selection(f, &selecting),
            self.pool_validation(f),
        ];
        let candidates: Vec<_> = selecting
            .into_iter()
            .filter(|p| p.errors.is_empty())
            .collect();
        if candidates.is_empty() {
            let why = "no valid pool selects the Service";
            out.push(Finding::new(2, "pool-state", Skip).observed(why));
            out.push(Finding::new(2, "capacity", Skip).observed(why));
            return out;
        }
        out.push(self.pool_state(&candidates));
        let usable: Vec<_> = candidates.into_iter().filter(|p| p.usable()).collect();
        out.push(if usable.is_empty() {
            Finding::new(2, "capacity", Skip).observed("no usable pool")
        } else {
            self.capacity(f, &usable)
        });
        out
    }

    /// Rungs 3 to 5: the L2 announcement path.
    pub(crate) fn rung3_to_5(&self, f: &SvcFacts<'_>, out: &mut Vec<Finding>) {
        let (ns, name) = (&f.view.namespace, &f.view.name);
        let not_l2 = match f.view.load_balancer_class.as_deref() {
            // Only a class something serves is "announced over BGP"; with BGP off nothing
            // announces it (rung 0 says how to move it to L2).
            Some(c) if c == n::LB_CLASS_BGP && self.engine_cfg.classes.iter().any(|x| x == c) => {
                Some(format!(
                    "loadBalancerClass {c}: announced over BGP, not by L2 announcements"
                ))
            }
            Some(c) if c == n::LB_CLASS_BGP => Some(format!(
                "loadBalancerClass {c}: nothing here serves it (BGP control plane off), so neither BGP nor L2 announcements announce this Service; see rung 0 check lb-class"
            )),
            Some(c) if c != n::LB_CLASS_L2 => Some(format!(
                "loadBalancerClass {c}: Cilium's L2 announcer only announces class-less and {} Services",
                n::LB_CLASS_L2
            )),
            _ => None,
        };
        if let Some(why) = not_l2 {
            for (rung, check) in [(3, "l2-policy"), (4, "arp-probe"), (5, "lease")] {
                out.push(Finding::new(rung, check, Skip).observed(why.clone()));
            }
            return;
        }

        // Rung 3.
        let start = out.len();
        if self.engine != Engine::Lbctl {
            out.push(self.l2_announcements());
            out.push(self.kube_proxy_replacement());
            out.push(self.lease_rbac(f));
        } else {
            out.push(Self::l2_prerequisites_skip());
        }
        let candidates = self.rung3_policies(f, out);
        let lease = self.leases.get(&n::l2_lease_name(ns, name));
        let holder = lease.map(|l| l.holder.as_str()).filter(|h| !h.is_empty());
        out.push(self.external_traffic_policy(f, holder));
        let rung3_failed = out[start..].iter().any(|x| x.verdict == Fail);

        // Rung 4.
        let vips: Vec<String> = f
            .view
            .ingress_ips
            .iter()
            .map(ToString::to_string)
            .chain(f.external_ips.iter().cloned())
            .collect();
        out.push(self.arp_probe(&vips, holder));

        // Rung 5.
        if vips.is_empty() {
            out.push(Finding::new(5, "lease", Skip).observed("no lease until the Service has an IP (Cilium creates leases only for Services with IPs)"));
            return;
        }
        out.push(self.lease(ns, name, rung3_failed));
        if let Some(l) = lease.filter(|l| !l.holder.is_empty()) {
            out.push(self.lease_holder(l, &candidates));
        }
        out.push(self.lease_load());
    }

    /// Rung 3's policy checks, in order, each only while the previous leaves something to
    /// match; returns the candidate nodes.
    fn rung3_policies(&self, f: &SvcFacts<'_>, out: &mut Vec<Finding>) -> Vec<String> {
        let (policies, go_on) = self.l2_policies(f);
        out.push(policies);
        if !go_on {
            return Vec::new();
        }
        let (matching, matched) = self.policy_match(f);
        out.push(matching);
        if matched.is_empty() {
            // Still say what is wrong with each policy's interfaces, so a user who fixes the
            // selector is not sent back for the next problem of the same policy.
            let interfaces = self.policy_interfaces(f, &matched);
            if interfaces.verdict != Verdict::Pass {
                out.push(interfaces);
            }
            return Vec::new();
        }
        let (nodes, candidates) = self.policy_nodes(&matched);
        out.push(nodes);
        out.push(self.policy_interfaces(f, &matched));
        candidates
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Snapshot, Verdict};
    use super::*;
    use k8s_openapi::api::core::v1::Service;
    use serde_json::json;

    fn svc(name: &str, ingress: Option<&str>) -> Service {
        let status = match ingress {
            Some(ip) => json!({"loadBalancer": {"ingress": [{"ip": ip}]}}),
            None => json!({}),
        };
        serde_json::from_value(json!({"metadata": {"namespace": "ns", "name": name},
            "spec": {"type": "LoadBalancer"}, "status": status}))
        .unwrap()
    }

    /// A full pool at the very top of the IPv4 space has no addresses after it: the fix must
    /// not propose a block inside the pool itself (it used to saturate to 255.255.255.255).
    #[test]
    fn capacity_fix_never_proposes_addresses_past_the_family_end() {
        let pending = svc("pending", None);
        let snap = Snapshot {
            pools: Some(vec![json!({"metadata": {"name": "top"},
                "spec": {"blocks": [{"cidr": "255.255.255.255/32"}]}})]),
            services: vec![svc("holder", Some("255.255.255.255")), pending.clone()],
            ..Snapshot::default()
        };
        let report = Cluster::new(&snap).diagnose(&pending);
        let cap = report
            .findings
            .iter()
            .find(|f| f.check == "capacity")
            .unwrap();
        assert_eq!(cap.verdict, Verdict::Fail);
        assert!(
            cap.fix.ends_with("kubectl edit ippool top   # add a block"),
            "{}",
            cap.fix
        );
        assert!(!cap.fix.contains("\"start\""), "{}", cap.fix);
    }

    /// With the nodes on 10.0.0.0/24, the fix proposes ten free addresses on that segment right
    /// after the full pool, skipping a node's address.
    #[test]
    fn capacity_fix_proposes_ten_free_addresses_after_the_pool_on_the_nodes_segment() {
        let pending = svc("pending", None);
        let node = |name: &str, ip: &str| {
            json!({"metadata": {"name": name},
                "status": {"addresses": [{"type": "InternalIP", "address": ip}]}})
        };
        let snap = Snapshot {
            pools: Some(vec![json!({"metadata": {"name": "p"},
                "spec": {"blocks": [{"start": "10.0.0.100"}]}})]),
            services: vec![svc("holder", Some("10.0.0.100")), pending.clone()],
            nodes: vec![node("a", "10.0.0.5"), node("b", "10.0.0.103")],
            ..Snapshot::default()
        };
        let report = Cluster::new(&snap).diagnose(&pending);
        let cap = report
            .findings
            .iter()
            .find(|f| f.check == "capacity")
            .unwrap();
        assert_eq!(cap.verdict, Verdict::Fail);
        assert!(
            cap.fix
                .contains("\"start\":\"10.0.0.104\",\"stop\":\"10.0.0.113\""),
            "{}",
            cap.fix
        );
        assert!(cap.fix.contains("kubectl patch ippool p "), "{}", cap.fix);
    }
}
