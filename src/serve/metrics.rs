//! `/metrics` (Prometheus text format, hand-written: a handful of gauges does not need a
//! crate), `/healthz` and `/readyz`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::routing::get;

use crate::ipam::controller::Gauges;
use crate::model::names;

/// What the HTTP endpoints show; updated by the IPAM loop.
#[derive(Debug, Default)]
pub struct Shared {
    pub gauges: Mutex<Gauges>,
    pub leader: AtomicBool,
    pub ready: AtomicBool,
    /// The API server did not answer the last check: not ready, whatever else holds.
    pub api_down: AtomicBool,
    pub service_writes: AtomicU64,
    pub pool_writes: AtomicU64,
    pub write_errors: AtomicU64,
    /// The L2 announcer, when this process runs it: its series are appended.
    pub l2: std::sync::OnceLock<crate::l2::runtime::Running>,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders the exposition text. Counts that do not fit a float are clamped (a /64 has more
/// addresses than an f64 holds exactly; Prometheus only has floats anyway).
pub fn render(shared: &Shared) -> String {
    let g = shared
        .gauges
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let p = names::METRICS_PREFIX;
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {p}_{name} {help}");
        let _ = writeln!(out, "# TYPE {p}_{name} gauge");
        for (labels, v) in samples {
            let _ = writeln!(out, "{p}_{name}{labels} {v}");
        }
    };
    let num = |c: crate::ipam::alloc::IpCount| c.to_u128().map_or(f64::MAX, |v| v as f64);
    gauge(
        names::METRIC_CONFLICTING_POOLS,
        "Number of conflicting pools",
        vec![(String::new(), g.conflicting_pools as f64)],
    );
    gauge(
        names::METRIC_IPS_AVAILABLE,
        "Number of IPs available per pool",
        g.pools
            .iter()
            .map(|(n, c)| (format!("{{pool=\"{}\"}}", escape(n)), num(c.available)))
            .collect(),
    );
    gauge(
        names::METRIC_IPS_USED,
        "Number of IPs used per pool",
        g.pools
            .iter()
            .map(|(n, c)| (format!("{{pool=\"{}\"}}", escape(n)), num(c.used)))
            .collect(),
    );
    gauge(
        names::METRIC_SERVICES_MATCHING,
        "Number of Services LB-IPAM is responsible for",
        vec![(String::new(), g.services_matching as f64)],
    );
    gauge(
        names::METRIC_SERVICES_UNSATISFIED,
        "Number of Services whose IPAM request is not satisfied",
        vec![(String::new(), g.services_unsatisfied as f64)],
    );
    gauge(
        "invalid_pools",
        "Pools that cannot be applied (bad blocks or selector; Cilium sets no condition)",
        vec![(String::new(), g.invalid_pools as f64)],
    );
    gauge(
        "leader",
        "1 while this process holds the IPAM lease",
        vec![(
            String::new(),
            f64::from(u8::from(shared.leader.load(Ordering::Relaxed))),
        )],
    );
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(out, "# HELP {p}_{name} {help}");
        let _ = writeln!(out, "# TYPE {p}_{name} counter");
        let _ = writeln!(out, "{p}_{name} {v}");
    };
    counter(
        "service_status_writes_total",
        "Service status patches sent",
        shared.service_writes.load(Ordering::Relaxed),
    );
    counter(
        "pool_status_writes_total",
        "Pool status patches sent",
        shared.pool_writes.load(Ordering::Relaxed),
    );
    counter(
        "status_write_errors_total",
        "Status patches that failed (retried)",
        shared.write_errors.load(Ordering::Relaxed),
    );
    if let Some(l2) = shared.l2.get() {
        out.push_str(&l2.metrics());
    }
    out
}

/// Binds `addr` and serves until the runtime ends. Returns the bound address (port 0 allowed).
pub async fn serve(addr: SocketAddr, shared: Arc<Shared>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let m = shared.clone();
    let r = shared.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = m.clone();
                async move { ([("content-type", "text/plain; version=0.0.4")], render(&m)) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let r = r.clone();
                async move {
                    if r.api_down.load(Ordering::Relaxed) {
                        (StatusCode::SERVICE_UNAVAILABLE, "API server unreachable")
                    } else if r.ready.load(Ordering::Relaxed) {
                        (StatusCode::OK, "ok")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not synced")
                    }
                }
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(bound)
}
