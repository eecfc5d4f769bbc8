//! Rung 4: does exactly the lease holder answer ARP/NDP for the VIP? The probe itself runs in
//! [`crate::doctor::probe`] (when this host shares the VIP's segment); this judges its outcome.

use super::super::eval::Cluster;
use super::super::{Finding, Verdict};
use crate::model::names as n;

use Verdict::{Fail, Pass, Skip};

impl Cluster<'_> {
    /// `arp-probe` for the Service's `vips`, expecting the MAC of lease `holder`.
    pub(super) fn arp_probe(&self, vips: &[String], holder: Option<&str>) -> Finding {
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
}
