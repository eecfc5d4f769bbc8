//! Starts the announcer and the responder together and exposes what they do for `lbctl debug`
//! and `/metrics`.

use std::fmt::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::watch;

use crate::l2::announcer::{self, AnnouncerConfig, Snapshot, Table};
use crate::l2::consistency::{self, Health, Serving};
use crate::l2::devices::{self, DeviceInfo};
use crate::l2::responder::{self, Faults, Reporting, Stats, Unanswerable};

/// A running announcer: read-only views for introspection.
#[derive(Clone, Debug)]
pub struct Running {
    table: watch::Receiver<Table>,
    snapshot: watch::Receiver<Snapshot>,
    stats: Stats,
    sys_class_net: PathBuf,
    serving: Serving,
    health: Arc<Health>,
    unanswerable: Unanswerable,
}

/// Marks the devices this process cannot answer on (probing each selectable device once per
/// (name, ifindex) by opening the ARP socket the responder would use; the responder's own
/// failures are in `unanswerable` too): they are not selected, with the reason.
fn with_answerability(mut infos: Vec<DeviceInfo>, known: &Unanswerable) -> Vec<DeviceInfo> {
    let mut known = known.lock().unwrap_or_else(|p| p.into_inner());
    for d in infos.iter_mut().filter(|d| d.selected || d.link_down) {
        let key = (d.name.clone(), d.index);
        let probed = known.entry(key).or_insert_with(|| {
            responder::probe_arp_socket(d.index).map_err(|e| {
                tracing::error!(interface = %d.name, error = %e,
                    "cannot open an ARP socket (needs CAP_NET_RAW); not contending for Services announced only here");
                format!("cannot open ARP socket: {e}")
            })
        });
        if let Err(why) = probed {
            d.selected = false;
            d.link_down = false;
            d.unanswerable = true;
            d.reason = Some(why.clone());
        }
    }
    infos
}

/// Runs the responder on a thread and runtime of its own. On the shared workers an ARP request
/// waited behind lease renewals and watch decoding: on an overloaded node (load 17-20 on two
/// cores, 40 leases renewed every 200 ms) answers took 0.5-0.95 s, longer than clients wait. A
/// thread that sleeps in the kernel until a frame arrives is woken and scheduled on its own.
/// Falls back to the shared runtime if the thread cannot be started.
fn spawn_responder<F>(run: F) -> tokio::task::JoinHandle<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    // Shared so that the future is still ours to run here if the thread cannot be started.
    let slot = Arc::new(std::sync::Mutex::new(Some(run)));
    let theirs = slot.clone();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let started = std::thread::Builder::new()
        .name("l2-responder".into())
        .spawn(move || {
            let run = theirs.lock().unwrap_or_else(|p| p.into_inner()).take();
            let Some(run) = run else { return };
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(run),
                Err(e) => tracing::error!(error = %e, "cannot start the responder's runtime"),
            }
            let _ = done_tx.send(());
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "no thread of its own for the responder; it shares the runtime");
        if let Some(run) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return tokio::spawn(run);
        }
    }
    tokio::spawn(async move {
        let _ = done_rx.await;
    })
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
    let serving: Serving = Arc::default();
    let health: Arc<Health> = Arc::default();
    let unanswerable: Unanswerable = Arc::default();
    let root = sys_class_net.clone();
    let unans = unanswerable.clone();
    let devices =
        Arc::new(move || devices::as_devices(&with_answerability(devices::scan(&root), &unans)));
    let announcer = tokio::spawn(announcer::run(
        client,
        cfg,
        devices,
        table_tx,
        snap_tx,
        Some((serving.clone(), health.clone())),
        shutdown.clone(),
    ));
    let responder = spawn_responder(responder::run(
        table_rx.clone(),
        stats.clone(),
        Reporting {
            serving: serving.clone(),
            unanswerable: unanswerable.clone(),
        },
        Faults::from_env(),
        shutdown,
    ));
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
            serving,
            health,
            unanswerable,
        },
        joined,
    )
}

impl Running {
    /// `lbctl debug l2-announce`: what this node answers for right now.
    pub fn l2_announce(&self) -> serde_json::Value {
        let now = tokio::time::Instant::now();
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let served = consistency::served_keys(&self.serving);
        let mismatches = self.health.current();
        let mut rows: Vec<_> = self
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
                    "served": served.contains(&(e.ip, e.interface.clone())),
                    "mismatch": mismatches.iter()
                        .find(|m| m.ip == e.ip && m.interface == e.interface)
                        .map(|m| m.kind),
                })
            })
            .collect();
        // A confirmed mismatch whose key is not in the table (served without leading, or led
        // but missing from the table itself) gets a row of its own.
        let table = self.table.borrow();
        for m in &mismatches {
            if !table.contains_key(&(m.ip, m.interface.clone())) {
                rows.push(json!({
                    "ip": m.ip.to_string(), "interface": m.interface, "service": null,
                    "leading_for_s": null, "valid": null,
                    "served": served.contains(&(m.ip, m.interface.clone())),
                    "mismatch": m.kind,
                }));
            }
        }
        json!(rows)
    }

    /// `lbctl debug devices`: every device, whether it can announce and why not.
    pub fn devices(&self) -> serde_json::Value {
        json!(with_answerability(
            devices::scan(&self.sys_class_net),
            &self.unanswerable
        ))
    }

    /// Why this node is not ready to announce, if it is not: an interface it would announce on
    /// where it cannot answer (e.g. no CAP_NET_RAW), so Services there go to other nodes.
    pub fn not_ready(&self) -> Option<String> {
        let known = self.unanswerable.lock().unwrap_or_else(|p| p.into_inner());
        let why: Vec<String> = known
            .iter()
            .filter_map(|((name, _), r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
            .collect();
        (!why.is_empty()).then(|| format!("cannot answer on {}", why.join("; ")))
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
        let _ = writeln!(out, "# HELP lbctl_l2_responder_mismatches_total (VIP, interface) pairs found led but not served, or served but not led, by the self-check (each was repaired).\n# TYPE lbctl_l2_responder_mismatches_total counter\nlbctl_l2_responder_mismatches_total {}", self.health.mismatches_total());
        let _ = writeln!(out, "# HELP lbctl_l2_unanswerable_interfaces Interfaces this process cannot answer on (e.g. no CAP_NET_RAW).\n# TYPE lbctl_l2_unanswerable_interfaces gauge\nlbctl_l2_unanswerable_interfaces {}", self.unanswerable.lock().unwrap_or_else(|p| p.into_inner()).values().filter(|r| r.is_err()).count());
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
