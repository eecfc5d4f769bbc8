//! `/metrics`, `/healthz` and `/readyz`.
//!
//! `/metrics` encodes one `prometheus_client` registry in the Prometheus text format (0.0.4: the
//! `# TYPE` lines name counters with their `_total`, as the hand-written writer did); the crate
//! writes the names, types and escaped label values.
//! Each engine registers its own families when it starts: the IPAM loop through
//! [`Shared::register_ipam`], the L2 announcer through [`Shared::attach_l2`], which hands the
//! registry to [`Running::register`]. A process that does not run an engine shows none of its
//! series.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use axum::http::StatusCode;
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::ipam::controller::Gauges;
use crate::l2::runtime::Running;
use crate::model::names;

/// What the HTTP endpoints show, and the registry the engines put their series in.
#[derive(Debug)]
pub struct Shared {
    /// The IPAM controller's counts after its latest pass (also shown by `lbctl debug ipam`).
    pub gauges: Arc<Mutex<Gauges>>,
    pub leader: Arc<AtomicBool>,
    pub ready: AtomicBool,
    /// The API server did not answer the last check: not ready, whatever else holds.
    pub api_down: AtomicBool,
    pub service_writes: Counter,
    pub pool_writes: Counter,
    pub write_errors: Counter,
    /// One pass of the IPAM loop as leader: reconcile plus the status writes it calls for.
    pub reconcile_duration: Histogram,
    /// The L2 announcer, when this process runs it (see [`Shared::attach_l2`]).
    pub l2: OnceLock<Running>,
    registry: RwLock<Registry>,
    ipam_registered: AtomicBool,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            gauges: Arc::default(),
            leader: Arc::default(),
            ready: AtomicBool::default(),
            api_down: AtomicBool::default(),
            service_writes: Counter::default(),
            pool_writes: Counter::default(),
            write_errors: Counter::default(),
            reconcile_duration: duration_histogram(),
            l2: OnceLock::new(),
            registry: RwLock::default(),
            ipam_registered: AtomicBool::default(),
        }
    }
}

/// Buckets from 1 ms to 33 s: an idle pass takes microseconds, the first pass over 10,000
/// Services writes for seconds.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Shared {
    /// The IPAM loop's families, under Cilium's `lbipam` names with lbctl's prefix. Called by
    /// the loop when it starts; a second call (a loop restarted on the same `Shared`) adds
    /// nothing.
    pub(crate) fn register_ipam(&self) {
        if self.ipam_registered.swap(true, Ordering::Relaxed) {
            return;
        }
        let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
        let r = registry.sub_registry_with_prefix(names::METRICS_PREFIX);
        r.register_collector(Box::new(IpamGauges {
            gauges: self.gauges.clone(),
            leader: self.leader.clone(),
        }));
        r.register(
            "service_status_writes",
            "Service status patches sent",
            self.service_writes.clone(),
        );
        r.register(
            "pool_status_writes",
            "Pool status patches sent",
            self.pool_writes.clone(),
        );
        r.register(
            "status_write_errors",
            "Status patches that failed (retried)",
            self.write_errors.clone(),
        );
        r.register_with_unit(
            "reconcile_duration",
            "One pass of the IPAM loop as leader: reconcile and the status writes it calls for",
            Unit::Seconds,
            self.reconcile_duration.clone(),
        );
    }

    /// Keeps the running announcer for `/readyz` and `lbctl debug`, and lets it register its
    /// families. Only the first announcer counts.
    pub(crate) fn attach_l2(&self, l2: Running) {
        if self.l2.set(l2.clone()).is_ok() {
            l2.register(&mut self.registry.write().unwrap_or_else(|p| p.into_inner()));
        }
    }
}

/// The IPAM gauges, read from the controller's latest counts at each scrape (a pool deleted
/// since is gone from the output, with no series left behind).
#[derive(Debug)]
struct IpamGauges {
    gauges: Arc<Mutex<Gauges>>,
    leader: Arc<AtomicBool>,
}

impl Collector for IpamGauges {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
        let g = self
            .gauges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut gauge = |name: &str, help: &str, v: usize| {
            let m = ConstGauge::new(v);
            m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)
        };
        gauge(
            names::METRIC_CONFLICTING_POOLS,
            "Number of conflicting pools",
            g.conflicting_pools,
        )?;
        gauge(
            names::METRIC_SERVICES_MATCHING,
            "Number of Services LB-IPAM is responsible for",
            g.services_matching,
        )?;
        gauge(
            names::METRIC_SERVICES_UNSATISFIED,
            "Number of Services whose IPAM request is not satisfied",
            g.services_unsatisfied,
        )?;
        gauge(
            "invalid_pools",
            "Pools that cannot be applied (bad blocks or selector; Cilium sets no condition)",
            g.invalid_pools,
        )?;
        gauge(
            "leader",
            "1 while this process holds the IPAM lease",
            usize::from(self.leader.load(Ordering::Relaxed)),
        )?;
        // Address counts are floats as Prometheus has only floats: exact up to 2^53, rounded
        // above (a `::/0` pool reports 2^128 ≈ 3.4e38).
        type Count = fn(&crate::ipam::pool::PoolCounts) -> crate::ipam::alloc::IpCount;
        let per_pool: [(&str, &str, Count); 2] = [
            (
                names::METRIC_IPS_AVAILABLE,
                "Number of IPs available per pool",
                |c| c.available,
            ),
            (names::METRIC_IPS_USED, "Number of IPs used per pool", |c| {
                c.used
            }),
        ];
        for (name, help, count) in per_pool {
            let mut family = enc.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (pool, c) in &g.pools {
                ConstGauge::new(count(c).to_f64())
                    .encode(family.encode_family(&[("pool", pool.as_str())])?)?;
            }
        }
        Ok(())
    }
}

/// Renders the exposition text of every registered family.
pub(crate) fn render(shared: &Shared) -> String {
    let mut out = String::new();
    let registry = shared.registry.read().unwrap_or_else(|p| p.into_inner());
    // Writing into a String cannot fail, and no collector returns an error of its own.
    let _ = prometheus_text::encode(&mut out, &registry);
    out
}

/// Connections the HTTP endpoints hold at once; a newcomer beyond it closes the oldest.
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// A connection that moves no byte for this long is closed (probes and scrapes take
/// milliseconds; Prometheus reconnects when its keep-alive connection was closed).
pub(crate) const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Binds `addr` and serves until the runtime ends. Returns the bound address (port 0 allowed).
pub async fn serve(addr: SocketAddr, shared: Arc<Shared>) -> std::io::Result<SocketAddr> {
    serve_with(addr, shared, MAX_CONNECTIONS, IDLE_TIMEOUT).await
}

/// As [`serve`], with the connection bound and idle timeout given.
pub(crate) async fn serve_with(
    addr: SocketAddr,
    shared: Arc<Shared>,
    max_connections: usize,
    idle: std::time::Duration,
) -> std::io::Result<SocketAddr> {
    let listener = guard::Guarded::new(
        tokio::net::TcpListener::bind(addr).await?,
        max_connections,
        idle,
    );
    let bound = axum::serve::Listener::local_addr(&listener)?;
    let m = shared.clone();
    let r = shared.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = m.clone();
                async move {
                    (
                        [("content-type", prometheus_text::CONTENT_TYPE)],
                        render(&m),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let r = r.clone();
                async move {
                    // A node that cannot answer where it would announce is not ready, even
                    // though it runs (it leaves those Services to other nodes).
                    if r.api_down.load(Ordering::Relaxed) {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "API server unreachable".to_string(),
                        )
                    } else if let Some(why) = r.l2.get().and_then(|l2| l2.not_ready()) {
                        (StatusCode::SERVICE_UNAVAILABLE, why)
                    } else if r.ready.load(Ordering::Relaxed) {
                        (StatusCode::OK, "ok".to_string())
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not synced".to_string())
                    }
                }
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(bound)
}

/// Bounds what the HTTP port can cost: at most `max` connections (so file descriptors), the
/// oldest closed when a new one arrives at the bound (a probe always gets through a flood of
/// idle connections), and every connection closed after `idle` without a byte moving.
mod guard {
    use std::collections::VecDeque;
    use std::future::Future;
    use std::io;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Weak};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use futures::task::AtomicWaker;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::time::{Instant, Sleep};

    #[derive(Default)]
    struct Ctl {
        evicted: AtomicBool,
        waker: AtomicWaker,
    }

    pub(crate) struct Guarded {
        inner: TcpListener,
        max: usize,
        idle: Duration,
        live: VecDeque<Weak<Ctl>>,
    }

    impl Guarded {
        pub fn new(inner: TcpListener, max: usize, idle: Duration) -> Guarded {
            Guarded {
                inner,
                max: max.max(1),
                idle,
                live: VecDeque::new(),
            }
        }
    }

    impl axum::serve::Listener for Guarded {
        type Io = Conn;
        type Addr = std::net::SocketAddr;

        async fn accept(&mut self) -> (Conn, std::net::SocketAddr) {
            loop {
                match self.inner.accept().await {
                    Ok((stream, addr)) => {
                        self.live.retain(|w| w.strong_count() > 0);
                        while self.live.len() >= self.max {
                            if let Some(old) = self.live.pop_front().and_then(|w| w.upgrade()) {
                                old.evicted.store(true, Ordering::Release);
                                old.waker.wake();
                            }
                        }
                        let ctl = Arc::new(Ctl::default());
                        self.live.push_back(Arc::downgrade(&ctl));
                        let _ = stream.set_nodelay(true);
                        return (Conn::new(stream, ctl, self.idle), addr);
                    }
                    // Out of descriptors or a connection reset before accept: wait a little,
                    // as axum's own listener does, instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }

        fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
            self.inner.local_addr()
        }
    }

    pub(crate) struct Conn {
        stream: TcpStream,
        ctl: Arc<Ctl>,
        idle: Duration,
        deadline: Pin<Box<Sleep>>,
    }

    impl Conn {
        fn new(stream: TcpStream, ctl: Arc<Ctl>, idle: Duration) -> Conn {
            Conn {
                stream,
                ctl,
                idle,
                deadline: Box::pin(tokio::time::sleep(idle)),
            }
        }

        /// Closed (an error to hyper) when evicted or idle too long; registers for both.
        fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
            self.ctl.waker.register(cx.waker());
            if self.ctl.evicted.load(Ordering::Acquire) {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "closed for a newer connection",
                ));
            }
            if self.deadline.as_mut().poll(cx).is_ready() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "idle connection"));
            }
            Ok(())
        }

        fn progressed(&mut self) {
            let next = Instant::now() + self.idle;
            self.deadline.as_mut().reset(next);
        }
    }

    impl AsyncRead for Conn {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let before = buf.filled().len();
            match Pin::new(&mut self.stream).poll_read(cx, buf) {
                Poll::Ready(Ok(())) => {
                    if buf.filled().len() > before {
                        self.progressed();
                    }
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => match self.check(cx) {
                    Ok(()) => Poll::Pending,
                    Err(e) => Poll::Ready(Err(e)),
                },
            }
        }
    }

    impl AsyncWrite for Conn {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            match Pin::new(&mut self.stream).poll_write(cx, buf) {
                Poll::Ready(Ok(n)) => {
                    self.progressed();
                    Poll::Ready(Ok(n))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => match self.check(cx) {
                    Ok(()) => Poll::Pending,
                    Err(e) => Poll::Ready(Err(e)),
                },
            }
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.stream).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.stream).poll_shutdown(cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Reads until EOF or error; true when the server closed within `within`.
    async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
        let mut buf = [0u8; 256];
        tokio::time::timeout(within, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }

    #[test]
    fn an_all_of_ipv6_pool_counts_2_to_the_128() {
        use crate::ipam::alloc::IpCount;
        use crate::ipam::pool::PoolCounts;
        let shared = Shared::default();
        let all = IpCount::from_span(u128::MAX);
        shared.register_ipam();
        shared.gauges.lock().unwrap().pools = vec![(
            "v6-all".into(),
            PoolCounts {
                total: all,
                available: all,
                used: IpCount::ZERO,
            },
        )];
        let text = render(&shared);
        let line = text
            .lines()
            .find(|l| l.contains("ips_available_total{pool=\"v6-all\"}"))
            .unwrap();
        let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(v, 2f64.powi(128), "{line}");
    }

    fn names_and_types(text: &str) -> Vec<(String, String)> {
        crate::exposition::parse(text)
            .unwrap()
            .types
            .into_iter()
            .collect()
    }

    #[test]
    fn ipam_series_keep_their_names_and_types() {
        let shared = Shared::default();
        assert_eq!(render(&shared), "", "no engine, no series");
        shared.register_ipam();
        // A loop restarted on the same `Shared` must not declare its families twice.
        shared.register_ipam();
        let p = names::METRICS_PREFIX;
        let mut want: Vec<(String, String)> = [
            ("conflicting_pools_total", "gauge"),
            ("ips_available_total", "gauge"),
            ("ips_used_total", "gauge"),
            ("services_matching_total", "gauge"),
            ("services_unsatisfied_total", "gauge"),
            ("invalid_pools", "gauge"),
            ("leader", "gauge"),
            ("service_status_writes_total", "counter"),
            ("pool_status_writes_total", "counter"),
            ("status_write_errors_total", "counter"),
            ("reconcile_duration_seconds", "histogram"),
        ]
        .iter()
        .map(|(n, t)| (format!("{p}_{n}"), (*t).to_owned()))
        .collect();
        want.sort();
        assert_eq!(names_and_types(&render(&shared)), want);
    }

    #[test]
    fn ipam_values_are_what_the_loop_recorded() {
        let shared = Shared::default();
        shared.register_ipam();
        shared.gauges.lock().unwrap().services_unsatisfied = 3;
        shared.leader.store(true, Ordering::Relaxed);
        shared.write_errors.inc();
        shared.write_errors.inc();
        shared.reconcile_duration.observe(0.0015);
        let e = crate::exposition::parse(&render(&shared)).unwrap();
        let p = names::METRICS_PREFIX;
        let v = |n: &str, l: &[(&str, &str)]| e.value(&format!("{p}_{n}"), l);
        assert_eq!(v("services_unsatisfied_total", &[]), Some(3.0));
        assert_eq!(v("leader", &[]), Some(1.0));
        assert_eq!(v("status_write_errors_total", &[]), Some(2.0));
        assert_eq!(v("service_status_writes_total", &[]), Some(0.0));
        assert_eq!(v("reconcile_duration_seconds_count", &[]), Some(1.0));
        assert_eq!(
            v("reconcile_duration_seconds_bucket", &[("le", "0.001")]),
            Some(0.0)
        );
        assert_eq!(
            v("reconcile_duration_seconds_bucket", &[("le", "0.002")]),
            Some(1.0)
        );
        assert_eq!(
            v("reconcile_duration_seconds_bucket", &[("le", "+Inf")]),
            Some(1.0)
        );
    }

    #[test]
    fn label_values_are_escaped() {
        use crate::ipam::pool::PoolCounts;
        let shared = Shared::default();
        shared.register_ipam();
        let nasty = "a\"b\\c\nd";
        shared.gauges.lock().unwrap().pools = vec![(nasty.into(), PoolCounts::default())];
        let text = render(&shared);
        assert!(
            text.contains(r#"{pool="a\"b\\c\nd"}"#),
            "quote, backslash and newline escaped: {text}"
        );
        let e = crate::exposition::parse(&text).unwrap();
        let name = format!("{}_ips_used_total", names::METRICS_PREFIX);
        assert_eq!(e.value(&name, &[("pool", nasty)]), Some(0.0));
    }

    #[test]
    fn the_test_parser_rejects_what_prometheus_would() {
        let ok = "# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"q\\\"\"} 1\n";
        assert!(crate::exposition::parse(ok).is_ok(), "{ok}");
        for bad in [
            "x_total 1\n",
            "# TYPE x gauge\nx{a=\"unterminated} 1\n",
            "# TYPE x gauge\nx{a=\"bad\\q\"} 1\n",
            "# TYPE x gauge\nx{a=\"v\"} one\n",
            "# TYPE x gauge\n# TYPE x gauge\n",
        ] {
            assert!(crate::exposition::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn idle_connections_are_closed() {
        let shared = Arc::new(Shared::default());
        let addr = serve_with(
            "127.0.0.1:0".parse().unwrap(),
            shared,
            8,
            Duration::from_millis(300),
        )
        .await
        .unwrap();
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut partial = TcpStream::connect(addr).await.unwrap();
        partial.write_all(b"GET /heal").await.unwrap();
        assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
        assert!(closed_within(&mut partial, Duration::from_secs(3)).await);
    }

    #[tokio::test]
    async fn a_new_connection_at_the_bound_closes_the_oldest() {
        let shared = Arc::new(Shared::default());
        let addr = serve_with(
            "127.0.0.1:0".parse().unwrap(),
            shared,
            2,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        let mut oldest = TcpStream::connect(addr).await.unwrap();
        let _second = TcpStream::connect(addr).await.unwrap();
        let mut third = TcpStream::connect(addr).await.unwrap();
        assert!(closed_within(&mut oldest, Duration::from_secs(3)).await);
        third
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        third.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok"), "{answer}");
    }
}
