//! Rung 2: the pools as they stand and as LB IPAM would see them.

use std::collections::BTreeMap;

use super::super::eval::{labels_text, Cluster, PoolInfo, SvcFacts};
use super::super::fix;
use super::super::suggest::generator;
use super::super::{Finding, Verdict};
use crate::ipam::engine::requested_families;
use crate::ipam::IpCount;
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
        let (blocks, note) = match self.new_addresses(f, 10) {
            Some(a) => (
                format!("  - start: \"{}\"\n    stop: \"{}\"", a.start, a.stop),
                a.note(),
            ),
            None => (
                "  - start: \"<START>\"   # free addresses on the announcing nodes' L2 segment\n    stop: \"<STOP>\"".to_owned(),
                "# the nodes show no IPv4 InternalIP (or their segment is full): choose free addresses on the LAN the announcing nodes are on".to_owned(),
            ),
        };
        Finding::new(2, "pools-exist", Fail)
            .observed("no CiliumLoadBalancerIPPool exists: LB IPAM stays dormant and assigns nothing")
            .expected(format!("a pool whose serviceSelector selects {ns}/{name}"))
            .fix(format!("{note}\n{}", fix::apply(&format!(
                "apiVersion: {}\nkind: {}\nmetadata:\n  name: {ns}-pool\nspec:\n  blocks:\n{blocks}\n  serviceSelector:\n    matchLabels:\n      {}: {ns}",
                self.pool_kind(),
                n::POOL_KIND,
                n::LABEL_SVC_NAMESPACE
            ))))
    }

    /// How to make the selector of `kind`/`name` (with `want` matchLabels) select the Service:
    /// label the Service, or, when a controller generates it (it would undo that label), label
    /// its source object; or change the selector.
    pub(super) fn selector_fix(
        &self,
        f: &SvcFacts<'_>,
        kind: &str,
        name: &str,
        want: &BTreeMap<String, String>,
    ) -> String {
        let edit = || {
            fix::edit(
                kind,
                name,
                &format!("make spec.serviceSelector match {}", labels_text(&f.labels)),
            )
        };
        let missing = fix::missing_labels(want, &f.labels);
        let owners: Vec<(String, String)> = f
            .raw
            .metadata
            .owner_references
            .iter()
            .flatten()
            .map(|o| (o.kind.clone(), o.name.clone()))
            .collect();
        match generator(&owners, &f.view.labels) {
            Some(g) if !missing.is_empty() => format!(
                "# {}/{} is generated ({}): its controller undoes a label put on the Service,\n# so put {} on the source{}:\n{}\n# or change the selector: {}",
                f.view.namespace,
                f.view.name,
                g.evidence,
                missing.join(" "),
                if g.name.is_empty() {
                    String::new()
                } else {
                    format!(" {} {}", g.kind, g.name)
                },
                fix::label_source(&f.view.namespace, &g, &missing),
                edit()
            ),
            Some(g) => format!(
                "# {}/{} is generated ({}): a label on the Service would be undone; change the selector:\n{}",
                f.view.namespace,
                f.view.name,
                g.evidence,
                edit()
            ),
            None => match fix::label(&f.kref, want, &f.labels) {
                Some(l) => format!("{l}\n# or change the selector: kubectl edit {kind} {name}"),
                None => edit(),
            },
        }
    }

    /// `pool-selection`: which pools select the Service (`selecting`).
    pub(super) fn pool_selection(&self, f: &SvcFacts<'_>, selecting: &[&PoolInfo]) -> Finding {
        let (ns, name) = (&f.view.namespace, &f.view.name);
        if !selecting.is_empty() {
            return self.several_pools(f, selecting);
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
                // The pools needing the fewest new labels; when several tie, the user chooses
                // (Cilium would take any of them), so each is offered.
                let cost = |p: &PoolInfo| fix::missing_labels(&p.match_labels, &f.labels).len();
                let best = self.pools.iter().map(cost).min().unwrap_or(0);
                let closest: Vec<&PoolInfo> =
                    self.pools.iter().filter(|p| cost(p) == best).collect();
                let fixes: Vec<String> = closest
                    .iter()
                    .map(|p| self.selector_fix(f, "ippool", &p.name, &p.match_labels))
                    .collect();
                if fixes.len() == 1 {
                    fixes.join("")
                } else {
                    let names: Vec<&str> = closest.iter().map(|p| p.name.as_str()).collect();
                    format!(
                        "# pools {} come equally close: choose the one this Service should draw from\n{}",
                        names.join(", "),
                        fixes.join("\n")
                    )
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

    /// `pool-selection` when pools select the Service: with several it can draw from, says which
    /// and why, since Cilium tries them in random order (it ranges over a Go map of pools in
    /// operator/pkg/lbipam), so no pool is "the first".
    fn several_pools(&self, f: &SvcFacts<'_>, selecting: &[&PoolInfo]) -> Finding {
        let names: Vec<&str> = selecting.iter().map(|p| p.name.as_str()).collect();
        if selecting.len() == 1 {
            return Finding::new(2, "pool-selection", Pass)
                .observed(format!("selected by pool {}", names[0]));
        }
        let fam = requested_families(&f.view, &self.engine_cfg);
        let mut lines = Vec::new();
        let mut viable: Vec<&str> = Vec::new();
        for p in selecting {
            let v4 = p.ranges.iter().any(|r| r.from.is_ipv4());
            let v6 = p.ranges.iter().any(|r| r.from.is_ipv6());
            let family = match (v4, v6) {
                (true, true) => "IPv4 and IPv6",
                (true, false) => "IPv4",
                (false, true) => "IPv6",
                (false, false) => "no addresses",
            };
            let mut why = vec![
                format!("serviceSelector {} matches", p.selector_text),
                family.to_owned(),
            ];
            let mut ok = p.usable();
            if !p.errors.is_empty() {
                why.push("invalid blocks".into());
            }
            if p.disabled {
                why.push("disabled".into());
            }
            if p.conflicting().is_some() {
                why.push("conflicting".into());
            }
            if !((fam.v4 && v4) || (fam.v6 && v6)) {
                why.push("not the Service's family".into());
                ok = false;
            }
            if let Some(c) = p.counts {
                why.push(format!("{} of {} available", c.available, c.total));
                ok &= c.available != IpCount::ZERO;
            }
            if ok {
                viable.push(&p.name);
            }
            lines.push(format!(
                "pool {}: {} -> {}",
                p.name,
                why.join(", "),
                if ok {
                    "can serve it"
                } else {
                    "cannot serve it"
                }
            ));
        }
        for ip in &f.view.ingress_ips {
            if let Some((p, _)) = self.pool_of_ip(*ip) {
                lines.push(format!("it holds {ip}, from pool {}", p.name));
            }
        }
        let observed = format!(
            "selected by pools {}:\n{}",
            names.join(", "),
            lines.join("\n")
        );
        if viable.len() < 2 || !f.view.requested_ips.is_empty() {
            return Finding::new(2, "pool-selection", Pass).observed(observed);
        }
        let pins: Vec<String> = viable
            .iter()
            .map(|p| {
                let others: Vec<&str> = viable.iter().copied().filter(|o| o != p).collect();
                let narrow: Vec<String> = others
                    .iter()
                    .map(|o| fix::edit("ippool", o, "narrow spec.serviceSelector"))
                    .collect();
                let range = selecting
                    .iter()
                    .find(|x| x.name == *p)
                    .map(|x| x.range_text())
                    .unwrap_or_default();
                format!(
                    "# to draw only from {p}: narrow the serviceSelector of {}, or request an address of {p} ({range})\n{}\n{}",
                    others.join(", "),
                    narrow.join("\n"),
                    fix::annotate(&f.kref, n::ANNOTATION_IPS, "<IP>")
                )
            })
            .collect();
        Finding::new(2, "pool-selection", Warn)
            .observed(format!(
                "{observed}\n{} pools can serve it and Cilium tries them in random order: which one gives the IP is not predictable",
                viable.len()
            ))
            .expected("one pool that can serve the Service, or a requested IP that pins one")
            .fix(format!(
                "# Cilium's LB IPAM iterates the matching pools in random order, so it may take {}; choose one:\n{}",
                viable.join(" or "),
                pins.join("\n")
            ))
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
        let names: Vec<&str> = usable.iter().map(|p| p.name.as_str()).collect();
        let fix = match self.new_addresses(f, 10) {
            Some(a) => {
                // Extend the pool the free block follows, else say the choice is the user's:
                // Cilium tries the selecting pools in random order, so any of them works.
                let pool = a
                    .follows
                    .clone()
                    .filter(|p| names.contains(&p.as_str()));
                let (start, stop) = (a.start.to_string(), a.stop.to_string());
                match pool {
                    Some(p) => format!("{}\n{}", a.note(), fix::add_block(&p, &start, &stop)),
                    None if names.len() == 1 => {
                        format!("{}\n{}", a.note(), fix::add_block(names[0], &start, &stop))
                    }
                    None => format!(
                        "{}\n# pools {} all select this Service (Cilium tries them in random order): add the block to the one you choose\n{}",
                        a.note(),
                        names.join(", "),
                        fix::add_block("<POOL>", &start, &stop)
                    ),
                }
            }
            None => format!(
                "# no free IPv4 address found on the announcing nodes' segment: add a block of free LAN addresses to {}\n{}",
                names.join(" or "),
                fix::edit("ippool", names[0], "add a block")
            ),
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
