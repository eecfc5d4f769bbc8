//! Starts the announcer and the responder together and exposes what they do for `lbctl debug`
//! and `/metrics`.

use std::fmt::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::watch;

use crate::l2::announcer::{self, AnnouncerConfig, Snapshot, Table};
use crate::l2::devices;
use crate::l2::responder::{self, Stats};

/// A running announcer: read-only views for introspection.
#[derive(Clone, Debug)]
pub struct Running {
    table: watch::Receiver<Table>,
    snapshot: watch::Receiver<Snapshot>,
    stats: Stats,
    sys_class_net: PathBuf,
}

/// Starts both loops; they stop when `shutdown` turns true (leases are released on the way out).
pub fn start(
    client: kube::Client,
    cfg: AnnouncerConfig,
    sys_class_net: PathBuf,
    shutdown: watch::Receiver<bool>,
) -> (Running, tokio::task::JoinHandle<()>) {
    let (table_tx, table_rx) = watch::channel(Table::new());
    let (snap_tx, snap_rx) = watch::channel(Snapshot::default());
    let stats: Stats = Arc::default();
    let root = sys_class_net.clone();
    let devices = Arc::new(move || devices::as_devices(&devices::scan(&root)));
    let announcer = tokio::spawn(announcer::run(
        client,
        cfg,
        devices,
        table_tx,
        snap_tx,
        shutdown.clone(),
    ));
    let responder = tokio::spawn(responder::run(table_rx.clone(), stats.clone(), shutdown));
    let joined = tokio::spawn(async move {
        let _ = announcer.await;
        let _ = responder.await;
    });
    (
        Running {
            table: table_rx,
            snapshot: snap_rx,
            stats,
            sys_class_net,
        },
        joined,
    )
}

impl Running {
    /// `lbctl debug l2-announce`: what this node answers for right now.
    pub fn l2_announce(&self) -> serde_json::Value {
        let now = tokio::time::Instant::now();
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let rows: Vec<_> = self
            .table
            .borrow()
            .values()
            .map(|e| {
                let c = stats
                    .get(&(e.ip, e.interface.clone()))
                    .copied()
                    .unwrap_or_default();
                json!({
                    "ip": e.ip.to_string(), "interface": e.interface,
                    "service": format!("{}/{}", e.service.0, e.service.1),
                    "leading_for_s": now.saturating_duration_since(e.since).as_secs_f64(),
                    "valid": e.is_valid(),
                    "requests_seen": c.requests_seen, "answered": c.answered, "fenced": c.fenced,
                    "gratuitous_sent": c.gratuitous_sent,
                })
            })
            .collect();
        json!(rows)
    }

    /// `lbctl debug devices`: every device, whether it can announce and why not.
    pub fn devices(&self) -> serde_json::Value {
        json!(devices::scan(&self.sys_class_net))
    }

    /// Selected Services and the leases contended for (for `/metrics`).
    pub fn selected_count(&self) -> usize {
        self.snapshot.borrow().selected.len()
    }

    /// Prometheus text for the announcer's series.
    pub fn metrics(&self) -> String {
        let mut out = String::new();
        let table = self.table.borrow();
        let leading: std::collections::BTreeSet<_> = table
            .values()
            .filter(|e| e.is_valid())
            .map(|e| e.service.clone())
            .collect();
        let _ = writeln!(out, "# HELP lbctl_l2_services_selected Services this node contends for.\n# TYPE lbctl_l2_services_selected gauge\nlbctl_l2_services_selected {}", self.selected_count());
        let _ = writeln!(out, "# HELP lbctl_l2_leases_held Service leases this node holds.\n# TYPE lbctl_l2_leases_held gauge\nlbctl_l2_leases_held {}", leading.len());
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        for (name, help, get) in [
            (
                "lbctl_l2_requests_seen_total",
                "ARP requests and neighbor solicitations seen for our VIPs.",
                (|c: &responder::Counters| c.requests_seen) as fn(&responder::Counters) -> u64,
            ),
            (
                "lbctl_l2_responses_sent_total",
                "ARP replies and neighbor advertisements sent.",
                |c| c.answered,
            ),
            (
                "lbctl_l2_fenced_total",
                "Requests left unanswered because leadership could not be proven.",
                |c| c.fenced,
            ),
            (
                "lbctl_l2_gratuitous_sent_total",
                "Gratuitous ARPs and unsolicited NAs sent on takeover.",
                |c| c.gratuitous_sent,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((ip, iface), c) in stats.iter() {
                let _ = writeln!(
                    out,
                    "{name}{{ip=\"{ip}\",interface=\"{iface}\"}} {}",
                    get(c)
                );
            }
        }
        out
    }
}
