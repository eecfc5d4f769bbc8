//! Rung 4's I/O: probes the VIP (and the lease holder's InternalIP, for its MAC) when this host
//! shares the VIP's L2 segment; otherwise says why not. The verdict stays in the pure ladder.

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;

use crate::doctor::snapshot::{
    arr, ingress_ips, str_at, svc_key, ProbeOutcome, Responder, Snapshot,
};
use crate::model::names;
use crate::net::{self, ProbeError, ProbeOptions};

/// Short timings: doctor wants an answer, not a survey.
fn options() -> ProbeOptions {
    ProbeOptions {
        count: 2,
        interval: Duration::from_millis(50),
        timeout: Duration::from_millis(600),
        dup_window: Duration::from_millis(300),
    }
}

/// The lease holder of the Service, from the snapshot's leases.
fn holder<'a>(snap: &'a Snapshot, ns: &str, name: &str) -> Option<&'a str> {
    let lease = names::l2_lease_name(ns, name);
    snap.leases
        .iter()
        .find(|l| str_at(l, &["metadata", "name"]) == Some(lease.as_str()))
        .and_then(|l| str_at(l, &["spec", "holderIdentity"]))
        .filter(|h| !h.is_empty())
}

fn internal_ip(snap: &Snapshot, node: &str, family_v4: bool) -> Option<IpAddr> {
    let n = snap
        .nodes
        .iter()
        .find(|n| str_at(n, &["metadata", "name"]) == Some(node))?;
    arr(n, &["status", "addresses"])
        .iter()
        .filter(|a| str_at(a, &["type"]) == Some("InternalIP"))
        .filter_map(|a| str_at(a, &["address"]).and_then(|s| s.parse::<IpAddr>().ok()))
        .find(|ip| ip.is_ipv4() == family_v4)
}

/// Whether this host is on `ip`'s segment; `Err` explains why the probe cannot see the owner.
async fn on_segment(ip: IpAddr) -> Result<(), String> {
    match net::link::egress(ip, None).await {
        Ok(e) if e.on_subnet && e.gateway.is_none() => Ok(()),
        Ok(e) => Err(format!(
            "this host is not on {ip}'s L2 segment (the kernel routes it via {}{})",
            e.link.name,
            e.gateway
                .map(|g| format!(" and gateway {g}"))
                .unwrap_or_default()
        )),
        Err(e) => Err(format!("cannot tell how this host reaches {ip}: {e}")),
    }
}

fn skipped(vip: IpAddr, why: String) -> ProbeOutcome {
    ProbeOutcome {
        vip: vip.to_string(),
        skipped: Some(why),
        responders: vec![],
        holder_mac: None,
    }
}

fn why_failed(e: &ProbeError) -> String {
    if e.is_permission_denied() {
        "no CAP_NET_RAW to send ARP/NDP: run doctor with sudo, or `sudo setcap cap_net_raw+ep $(which lbctl)`".into()
    } else {
        format!("probe failed: {e}")
    }
}

/// Probes the Service's first VIP. `None` when the Service has no VIP yet (the ladder says so).
pub async fn probe_service(snap: &Snapshot, svc: &Service) -> Option<ProbeOutcome> {
    let vip = ingress_ips(svc).next()?;
    if let Err(why) = on_segment(vip).await {
        return Some(skipped(vip, why));
    }
    let report = match net::probe(vip, None, options()).await {
        Ok(r) => r,
        Err(e) => return Some(skipped(vip, why_failed(&e))),
    };
    let responders = report
        .responders
        .iter()
        .map(|r| Responder {
            mac: r.mac.to_string(),
            rtt_us: r.rtt_min.as_micros() as u64,
        })
        .collect();
    let (ns, name) = svc_key(svc);
    let holder_mac = match holder(snap, ns, name).and_then(|h| internal_ip(snap, h, vip.is_ipv4()))
    {
        Some(ip) if on_segment(ip).await.is_ok() => match net::probe(ip, None, options()).await {
            Ok(r) if r.responders.len() == 1 => Some(r.responders[0].mac.to_string()),
            _ => None,
        },
        _ => None,
    };
    Some(ProbeOutcome {
        vip: vip.to_string(),
        skipped: None,
        responders,
        holder_mac,
    })
}
