//! `lbctl serve` composed: the engines a [`ServePlan`] asks for, their metrics and debug
//! endpoints, and the shutdown order that lets other nodes take over at once. [`run`] is the
//! whole of it as a future (tests and benches run it in-process); [`cmd`] is the command, with
//! its own runtime and signal handling.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::cli::{GlobalArgs, ServeArgs};
use crate::cluster::ClientOptions;
use crate::output::{CodedError, Exit};

use super::plan::{HostDefaults, ServePlan};
use super::{metrics, DebugTopics};

/// Where a started serve answers, and what it runs: printed by the command, read by tests.
#[derive(Clone, Debug)]
pub struct Started {
    pub identity: String,
    pub namespace: String,
    pub ipam: bool,
    pub l2: bool,
    /// The bound metrics address (the real port when the plan asked for port 0).
    pub metrics: SocketAddr,
    pub debug_socket: PathBuf,
}

impl std::fmt::Display for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let on = |b: bool| if b { "on" } else { "off" };
        writeln!(
            f,
            "lbctl serve: node {}, IPAM {}, L2 announcer {}, leases in {}",
            self.identity,
            on(self.ipam),
            on(self.l2),
            self.namespace
        )?;
        writeln!(f, "metrics on http://{}/metrics", self.metrics)?;
        writeln!(f, "debug socket {}", self.debug_socket.display())
    }
}

/// `lbctl serve`: resolves the flags, runs until SIGTERM or SIGINT (or until IPAM cannot go
/// on), and exits once every engine has released its leases.
pub fn cmd(args: &ServeArgs, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let plan = ServePlan::from_args(args, global, HostDefaults::detect())?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    // Two malloc arenas instead of eight per core: the IPAM loop is one task, and fewer arenas
    // keep RSS close to the live heap at 10,000 Services.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ran = rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        // Handlers before anything else: a supervisor may signal as soon as we exist.
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        };
        run(plan, shutdown, |s| {
            use std::io::Write;
            print!("{s}");
            let _ = std::io::stdout().flush();
        })
        .await?;
        anyhow::Ok(Exit::Ok)
    });
    // Every engine has stopped and released its leases by now; a task still running (a watch
    // mid-request) must not keep the process from exiting on SIGTERM.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    ran
}

/// Runs the plan's engines until `shutdown` resolves, then stops them and releases every
/// lease. `started` is called once everything listens. Must run on a multi-threaded runtime:
/// the engines are tasks beside each other.
pub async fn run(
    plan: ServePlan,
    shutdown: impl Future<Output = ()>,
    started: impl FnOnce(&Started),
) -> Result<(), CodedError> {
    let ServePlan {
        identity,
        namespace,
        target,
        max_in_flight,
        metrics_addr,
        debug_socket,
        ipam,
        l2,
        warnings: _,
    } = plan;
    let conn = target.connect_limited(Some(max_in_flight)).await?;
    let shared = Arc::new(metrics::Shared::default());
    let bound = metrics::serve(metrics_addr, shared.clone())
        .await
        .map_err(|e| CodedError::usage(format!("cannot listen on {metrics_addr}: {e}")))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let announcing = l2.is_some();
    let l2 = match l2 {
        Some(cfg) => {
            // Its own connections and bound: IPAM's write bursts in the same process must not
            // queue the announcer's lease renewals (a late renewal silences a VIP).
            // Its watchers keep kube-rs' long server-side timeout, so its read timeout is longer.
            let l2_conn = target
                .connect_with(ClientOptions {
                    max_in_flight: Some(max_in_flight),
                    long_watches: true,
                })
                .await?;
            let (running, join) = crate::l2::runtime::start(
                l2_conn.client,
                cfg,
                "/sys/class/net".into(),
                stop_rx.clone(),
            );
            shared.attach_l2(running.clone());
            Some((running, join))
        }
        None => None,
    };
    let provider = Arc::new(DebugTopics {
        l2: l2.as_ref().map(|(r, _)| r.clone()),
        shared: ipam.is_some().then(|| shared.clone()),
    });
    let debug = {
        let path = debug_socket.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::debug::serve(&path, provider, stop).await {
                tracing::warn!(path = %path.display(), error = %e, "debug socket unavailable");
            }
        })
    };
    started(&Started {
        identity,
        namespace,
        ipam: ipam.is_some(),
        l2: announcing,
        metrics: bound,
        debug_socket,
    });
    let mut ipam = match ipam {
        Some((cfg, lease)) => {
            let (handle, gate) = super::leader::elect(conn.client.clone(), lease)
                .map_err(|e| CodedError::usage(e.to_string()))?;
            let mut stop = stop_rx.clone();
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            let client = conn.client.clone();
            let shared = shared.clone();
            Some(tokio::spawn(async move {
                let res = super::run_ipam(client, cfg, gate, shared, shutdown).await;
                // Step down first so a standby takes over at once.
                if let Err(e) = handle.release().await {
                    tracing::warn!(error = %e, "releasing the IPAM lease");
                }
                res
            }))
        }
        None => {
            shared.ready.store(true, Ordering::Relaxed);
            None
        }
    };
    // IPAM ends on its own only when it cannot go on (e.g. the pool CRD is not served).
    let early = {
        let ipam_ended = async {
            match ipam.as_mut() {
                Some(h) => h.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown => None,
            r = ipam_ended => Some(r),
        }
    };
    // Stop answering and release every lease so other nodes take over at once.
    let _ = stop_tx.send(true);
    if let Some((_, join)) = l2 {
        let _ = join.await;
    }
    let _ = debug.await;
    let result = match (early, ipam) {
        (Some(r), _) => r,
        (None, Some(h)) => h.await,
        (None, None) => Ok(Ok(())),
    };
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(CodedError::unreachable(e.to_string())),
        Err(e) => Err(CodedError::usage(format!("IPAM task failed: {e}"))),
    }
}
