//! What `lbctl debug` can ask a running `serve`: the announcer's table and devices, and the
//! IPAM's pools and counts.

use std::sync::Arc;

use serde_json::json;

use crate::l2::runtime::Running;
use crate::serve::metrics::Shared;

pub(crate) struct DebugTopics {
    pub l2: Option<Running>,
    /// Set when IPAM runs in this process.
    pub shared: Option<Arc<Shared>>,
}

impl crate::debug::Provider for DebugTopics {
    fn topic(&self, name: &str) -> Option<serde_json::Value> {
        match name {
            "l2-announce" => self.l2.as_ref().map(Running::l2_announce),
            "devices" => self.l2.as_ref().map(Running::devices),
            "ipam" => self.shared.as_ref().map(|s| {
                let g = s.gauges.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let leader = s.leader.load(std::sync::atomic::Ordering::Relaxed);
                json!({
                    "leader": leader,
                    "conflicting_pools": g.conflicting_pools,
                    "invalid_pools": g.invalid_pools,
                    "services_matching": g.services_matching,
                    "services_unsatisfied": g.services_unsatisfied,
                    "pools": g.pools.iter().map(|(name, c)| json!({
                        "name": name, "total": c.total.to_string(),
                        "available": c.available.to_string(), "used": c.used.to_string(),
                    })).collect::<Vec<_>>(),
                })
            }),
            _ => None,
        }
    }
}
