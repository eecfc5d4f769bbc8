//! Rung 2: the pools as they stand and as LB IPAM would see them.

use super::super::eval::{labels_text, sample_block, Cluster, PoolInfo, SvcFacts};
use super::super::fix;
use super::super::{Finding, Verdict};
use crate::ipam::alloc::ip_offset;
use crate::model::names as n;

use Verdict::{Fail, Pass, Warn};

impl Cluster<'_> {
    /// `pools-exist`: LB IPAM is dormant until the first pool exists.
    pub(super) fn pools_exist(&self, f: &SvcFacts<'_>) -> Finding {
        let (ns, name) = (&f.view.namespace, &f.view.name);
        if !self.pools.is_empty() {
            return Finding::new(2, "pools-exist", Pass)
                .observed(format!("{} pool(s)", self.pools.len()));
        }
        let (start, stop) = sample_block(self);
        Finding::new(2, "pools-exist", Fail)
            .observed("no CiliumLoadBalancerIPPool exists: LB IPAM stays dormant and assigns nothing")
            .expected(format!("a pool whose serviceSelector selects {ns}/{name}"))
            .fix(fix::apply(&format!(
                "apiVersion: {}\nkind: {}\nmetadata:\n  name: {ns}-pool\nspec:\n  blocks:\n  - start: {start}   # free addresses on the nodes' L2 segment\n    stop: {stop}\n  serviceSelector:\n    matchLabels:\n      {}: {ns}",
                self.pool_kind(),
                n::POOL_KIND,
                n::LABEL_SVC_NAMESPACE
            )))
    }

    /// `pool-selection`: which pools select the Service (`selecting`).
    pub(super) fn pool_selection(&self, f: &SvcFacts<'_>, selecting: &[&PoolInfo]) -> Finding {
        let (ns, name) = (&f.view.namespace, &f.view.name);
        if !selecting.is_empty() {
            let names: Vec<&str> = selecting.iter().map(|p| p.name.as_str()).collect();
            return Finding::new(2, "pool-selection", Pass)
                .observed(format!("selected by pool {}", names.join(", ")));
        }
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
        let fix = match self.pools.iter().find(|p| p.selector.is_err()) {
            Some(p) => fix::edit("ippool", &p.name, "fix spec.serviceSelector"),
            None => {
                let p = &self.pools[0];
                match fix::label(&f.kref, &p.match_labels, &f.labels) {
                    Some(l) => format!(
                        "{l}\n# or widen the selector of pool {}: kubectl edit ippool {}",
                        p.name, p.name
                    ),
                    None => fix::edit(
                        "ippool",
                        &p.name,
                        "make spec.serviceSelector match the labels above",
                    ),
                }
            }
        };
        Finding::new(2, "pool-selection", Fail)
            .observed(format!(
                "no pool selects {ns}/{name}:\n{}",
                lines.join("\n")
            ))
            .expected("a pool whose serviceSelector matches the Service's labels")
            .fix(fix)
    }

    /// `pool-validation`: Cilium rejects a pool with a bad block and retries silently, with no
    /// status; a `fail` when the pool could matter to this Service.
    pub(super) fn pool_validation(&self, f: &SvcFacts<'_>) -> Finding {
        let bad: Vec<_> = self
            .pools
            .iter()
            .filter(|p| !p.errors.is_empty() || p.selector.is_err())
            .collect();
        if bad.is_empty() {
            return Finding::new(2, "pool-validation", Pass)
                .observed("every pool's blocks and selector are valid");
        }
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
            .map(|p| fix::edit("ippool", &p.name, "e.g. blocks: [{cidr: 192.0.2.0/28}] or [{start: 192.0.2.10, stop: 192.0.2.20}]"))
            .collect();
        Finding::new(2, "pool-validation", if relevant { Fail } else { Warn })
            .observed(format!("{}\nCilium rejects such a pool as a whole and retries silently, with no status condition", lines.join("\n")))
            .expected("each block has a cidr, or a start (and optional stop) of one family with start <= stop; selector operators In/NotIn with values, Exists/DoesNotExist without")
            .fix(fixes.join("\n"))
    }

    /// `pool-state`: disabled or conflicting pools among the valid selecting ones
    /// (`candidates`, not empty).
    pub(super) fn pool_state(&self, candidates: &[&PoolInfo]) -> Finding {
        let mut lines = Vec::new();
        let mut fixes = Vec::new();
        for p in candidates.iter().filter(|p| !p.usable()) {
            if p.disabled {
                lines.push(format!("pool {}: disabled", p.name));
                fixes.push(fix::patch_spec("ippool", &p.name, "\"disabled\":false"));
            }
            if let Some(c) = p.conflicting() {
                lines.push(format!("pool {}: conflicting: {c}", p.name));
                fixes.push(fix::edit(
                    "ippool",
                    &p.name,
                    "change spec.blocks so they no longer overlap the other pool's range",
                ));
            }
        }
        if lines.is_empty() {
            return Finding::new(2, "pool-state", Pass)
                .observed("every selecting pool is enabled and conflict-free");
        }
        let none_usable = !candidates.iter().any(|p| p.usable());
        Finding::new(2, "pool-state", if none_usable { Fail } else { Warn })
            .observed(lines.join("\n"))
            .expected("at least one selecting pool neither disabled nor conflicting")
            .fix(fixes.join("\n"))
    }

    /// `capacity` over the usable selecting pools (`usable`, not empty): a `fail` only when
    /// the Service still waits for an IP the engine would pick itself and every pool is full.
    pub(super) fn capacity(&self, f: &SvcFacts<'_>, usable: &[&PoolInfo]) -> Finding {
        let mut lines = Vec::new();
        let mut free = false;
        for p in usable {
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
        if free || !pending || !f.view.requested_ips.is_empty() {
            return Finding::new(2, "capacity", Pass).observed(lines.join("\n"));
        }
        let p = usable[0];
        // Ten addresses right after the pool's last range, if the address space goes on.
        let after = p
            .ranges
            .last()
            .and_then(|r| Some((ip_offset(r.to, 1)?, ip_offset(r.to, 10)?)));
        let fix = match after {
            Some((a, b)) => format!("kubectl patch ippool {} --type json -p '[{{\"op\":\"add\",\"path\":\"/spec/blocks/-\",\"value\":{{\"start\":\"{a}\",\"stop\":\"{b}\"}}}}]'   # check these addresses are free", p.name),
            None => fix::edit("ippool", &p.name, "add a block"),
        };
        Finding::new(2, "capacity", Fail)
            .observed(format!(
                "{}\nevery usable selecting pool is full (condition out_of_ips)",
                lines.join("\n")
            ))
            .expected("a free address in a selecting pool")
            .fix(fix)
    }
}
