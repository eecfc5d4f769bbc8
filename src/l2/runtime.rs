//! Starts the announcer and the responder together and exposes what they do for `lbctl debug`
//! and `/metrics`.

use std::path::PathBuf;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
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
    pub(crate) fn l2_announce(&self) -> serde_json::Value {
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
    pub(crate) fn not_ready(&self) -> Option<String> {
        let known = self.unanswerable.lock().unwrap_or_else(|p| p.into_inner());
        let why: Vec<String> = known
            .iter()
            .filter_map(|((name, _), r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
            .collect();
        (!why.is_empty()).then(|| format!("cannot answer on {}", why.join("; ")))
    }

    /// Registers the announcer's families under `lbctl_l2`: the self-check's counters and the
    /// recompute histogram as they are, and the rest read from the live state at each scrape.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix(METRICS_PREFIX);
        r.register(
            "responder_mismatches",
            "(VIP, interface) pairs found led but not served, or served but not led, by the self-check (each was repaired)",
            self.health.mismatches.clone(),
        );
        r.register(
            "responder_repairs",
            "Republished tables that repaired self-check mismatches",
            self.health.repairs.clone(),
        );
        r.register_with_unit(
            "recompute_duration",
            "One recompute of the Services to contend for and the table to answer from",
            Unit::Seconds,
            self.health.recompute_duration.clone(),
        );
        r.register_collector(Box::new(LiveState(self.clone())));
    }
}

/// Series prefix of the announcer's families.
const METRICS_PREFIX: &str = "lbctl_l2";

/// The announcer's gauges and the responder's per-(VIP, interface) counters, read at each
/// scrape from the state `lbctl debug` shows too.
#[derive(Debug)]
struct LiveState(Running);

impl Collector for LiveState {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
        let r = &self.0;
        let leading = r
            .table
            .borrow()
            .values()
            .filter(|e| e.is_valid())
            .map(|e| e.service.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let unanswerable = r
            .unanswerable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|r| r.is_err())
            .count();
        for (name, help, v) in [
            (
                "services_selected",
                "Services this node contends for.",
                r.snapshot.borrow().selected.len(),
            ),
            ("leases_held", "Service leases this node holds.", leading),
            (
                "unanswerable_interfaces",
                "Interfaces this process cannot answer on (e.g. no CAP_NET_RAW).",
                unanswerable,
            ),
        ] {
            let g = ConstGauge::new(v);
            g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        let stats = r.stats.lock().unwrap_or_else(|p| p.into_inner());
        type Get = fn(&responder::Counters) -> u64;
        let per_vip: [(&str, &str, Get); 4] = [
            (
                "requests_seen",
                "ARP requests and neighbor solicitations seen for our VIPs.",
                |c| c.requests_seen,
            ),
            (
                "responses_sent",
                "ARP replies and neighbor advertisements sent.",
                |c| c.answered,
            ),
            (
                "fenced",
                "Requests left unanswered because leadership could not be proven.",
                |c| c.fenced,
            ),
            (
                "gratuitous_sent",
                "Gratuitous ARPs and unsolicited NAs sent on takeover.",
                |c| c.gratuitous_sent,
            ),
        ];
        for (name, help, get) in per_vip {
            let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            for ((ip, iface), c) in stats.iter() {
                let labels = [("ip", ip.to_string()), ("interface", iface.clone())];
                ConstCounter::new(get(c)).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition;

    fn idle() -> Running {
        Running {
            table: watch::channel(Table::new()).1,
            snapshot: watch::channel(Snapshot::default()).1,
            stats: Stats::default(),
            sys_class_net: PathBuf::new(),
            serving: Serving::default(),
            health: Arc::default(),
            unanswerable: Unanswerable::default(),
        }
    }

    fn render(r: &Running) -> String {
        let mut registry = Registry::default();
        r.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn announcer_series_keep_their_names_and_types() {
        let types = exposition::parse(&render(&idle())).unwrap().types;
        let got: Vec<_> = types
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("lbctl_l2_fenced_total", "counter"),
                ("lbctl_l2_gratuitous_sent_total", "counter"),
                ("lbctl_l2_leases_held", "gauge"),
                ("lbctl_l2_recompute_duration_seconds", "histogram"),
                ("lbctl_l2_requests_seen_total", "counter"),
                ("lbctl_l2_responder_mismatches_total", "counter"),
                ("lbctl_l2_responder_repairs_total", "counter"),
                ("lbctl_l2_responses_sent_total", "counter"),
                ("lbctl_l2_services_selected", "gauge"),
                ("lbctl_l2_unanswerable_interfaces", "gauge"),
            ]
        );
    }

    #[test]
    fn interface_labels_are_escaped_and_values_live() {
        // Linux refuses '/', ':' and whitespace in interface names, not quotes or backslashes.
        let r = idle();
        let nasty = "e\"t\\h\n0";
        let ip: std::net::IpAddr = "10.0.0.7".parse().unwrap();
        r.stats.lock().unwrap().insert(
            (ip, nasty.to_owned()),
            responder::Counters {
                requests_seen: 5,
                answered: 4,
                fenced: 1,
                gratuitous_sent: 3,
            },
        );
        r.unanswerable
            .lock()
            .unwrap()
            .insert(("eth9".into(), 9), Err("no CAP_NET_RAW".into()));
        r.health.record(
            &[consistency::Mismatch {
                kind: consistency::Kind::Missing,
                ip,
                interface: "eth0".into(),
            }]
            .into(),
        );
        r.health.recompute_duration.observe(0.01);
        let text = render(&r);
        assert!(
            text.contains(r#"interface="e\"t\\h\n0""#),
            "quote, backslash and newline escaped: {text}"
        );
        let e = exposition::parse(&text).unwrap();
        let labels = [("ip", "10.0.0.7"), ("interface", nasty)];
        assert_eq!(e.value("lbctl_l2_requests_seen_total", &labels), Some(5.0));
        assert_eq!(e.value("lbctl_l2_responses_sent_total", &labels), Some(4.0));
        assert_eq!(e.value("lbctl_l2_fenced_total", &labels), Some(1.0));
        assert_eq!(
            e.value("lbctl_l2_gratuitous_sent_total", &labels),
            Some(3.0)
        );
        assert_eq!(e.value("lbctl_l2_unanswerable_interfaces", &[]), Some(1.0));
        assert_eq!(
            e.value("lbctl_l2_responder_mismatches_total", &[]),
            Some(1.0)
        );
        assert_eq!(e.value("lbctl_l2_responder_repairs_total", &[]), Some(1.0));
        assert_eq!(
            e.value("lbctl_l2_recompute_duration_seconds_count", &[]),
            Some(1.0)
        );
        assert_eq!(e.value("lbctl_l2_leases_held", &[]), Some(0.0));
    }
}
