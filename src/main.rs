//! The lbctl binary: parse, run, map errors to exit codes.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use lbctl::cli::{Cli, Command, LabCommand};
use lbctl::output::{write_stdout, CodedError, Exit, Printer, StdoutClosed};

fn main() -> ExitCode {
    // SIGPIPE stays ignored (Rust's default): a peer resetting a TLS or API connection is an
    // error to handle, never a silent death with exit 141. Only a closed stdout (`lbctl … | head`)
    // ends the process, quietly: `print` reports it as `StdoutClosed`, and `println!`'s panic on
    // it is caught below (after unwinding, so namespaces and leases are still cleaned up).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !stdout_closed(info.payload()) {
            default_hook(info);
        }
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { Exit::Usage as u8 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_tracing(
        cli.global.verbose,
        cli.global.color.enabled_for(&std::io::stderr()),
    );
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli)));
    let ran = match ran {
        Ok(r) => r,
        Err(p) if stdout_closed(&*p) => return ExitCode::SUCCESS,
        Err(p) => std::panic::resume_unwind(p),
    };
    match ran {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) if e.is::<StdoutClosed>() => ExitCode::SUCCESS,
        Err(e) => {
            let code = e
                .downcast_ref::<CodedError>()
                .map_or(Exit::Usage, |c| c.code);
            eprintln!("error: {e:#}");
            ExitCode::from(code as u8)
        }
    }
}

fn init_tracing(verbose: u8, ansi: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LBCTL_LOG")
        .unwrap_or_else(|_| lbctl::output::log_filter(verbose).into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn target(g: &lbctl::cli::GlobalArgs) -> lbctl::cluster::Target {
    lbctl::cluster::Target {
        kubeconfig: g.kubeconfig.clone(),
        context: g.context.clone(),
        request_timeout: (!g.request_timeout.is_zero()).then_some(g.request_timeout),
    }
}

/// Whether a panic is `println!`'s on a closed stdout.
fn stdout_closed(payload: &(dyn std::any::Any + Send)) -> bool {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe")
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    // The colour is decided here, once, for everything that prints.
    let printer = Printer::new(cli.global.output, cli.global.color.enabled());
    let g = cli.global;
    match cli.command {
        Command::ArpProbe(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let code = rt.block_on(lbctl::net::cmd::run(&args, &printer))?;
            Ok(match code {
                0 => Exit::Ok,
                1 => Exit::Problem,
                2 => Exit::Usage,
                _ => Exit::Unreachable,
            })
        }
        Command::Doctor(args) => runtime()?.block_on(async {
            let conn = target(&g).connect().await?;
            let ns = g
                .namespace
                .clone()
                .unwrap_or(conn.default_namespace.clone());
            if args.all {
                let scope = (!g.all_namespaces).then_some(ns);
                lbctl::doctor::cmd::run_all(&conn, scope, &args.cilium_namespace, &printer).await
            } else {
                let arg = args.service.as_deref().unwrap_or_default();
                let (ns, name) = lbctl::doctor::cmd::parse_target(arg, &ns)?;
                lbctl::doctor::cmd::run_one(
                    &conn,
                    &ns,
                    &name,
                    &args.cilium_namespace,
                    !args.no_probe,
                    &printer,
                )
                .await
            }
        }),
        Command::Pools(args) => runtime()?.block_on(async {
            let conn = target(&g).connect().await?;
            lbctl::doctor::listings::pools(&conn, &args, &printer).await?;
            Ok(Exit::Ok)
        }),
        Command::Policies(args) => runtime()?.block_on(async {
            let conn = target(&g).connect().await?;
            lbctl::doctor::listings::policies(&conn, &args, &printer).await?;
            Ok(Exit::Ok)
        }),
        Command::Leases(args) => runtime()?.block_on(async {
            let conn = target(&g).connect().await?;
            let ns = g
                .namespace
                .clone()
                .unwrap_or(conn.default_namespace.clone());
            lbctl::doctor::listings::leases(&conn, &args, &ns, &printer).await?;
            Ok(Exit::Ok)
        }),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            lbctl::cli::write_completion(shell, &mut out);
            write_stdout(&String::from_utf8_lossy(&out))?;
            Ok(Exit::Ok)
        }
        Command::Debug(args) => {
            let path = args
                .socket
                .clone()
                .unwrap_or_else(lbctl::debug::default_socket);
            let v = runtime()?
                .block_on(lbctl::debug::query(&path, args.topic.name()))
                .map_err(|e| match e {
                    lbctl::debug::DebugError::Remote(m) => CodedError {
                        code: Exit::Problem,
                        message: m,
                    },
                    other => CodedError::unreachable(other.to_string()),
                })?;
            printer.emit(&lbctl::debug::Answer {
                topic: args.topic.name(),
                value: &v,
            })?;
            Ok(Exit::Ok)
        }
        Command::Crds => {
            write_stdout(&lbctl::cli::crds_yaml()?)?;
            Ok(Exit::Ok)
        }
        Command::Man { out } => {
            lbctl::cli::write_man_pages(&out)
                .with_context(|| format!("writing man pages to {}", out.display()))?;
            println!("man pages written to {}", out.display());
            Ok(Exit::Ok)
        }
        Command::Serve(args) => serve(args, g),
        Command::Lab(lab) => match lab.command {
            LabCommand::Scenarios => {
                printer.emit(&lbctl::lab::scenario::catalogue())?;
                Ok(Exit::Ok)
            }
            LabCommand::Up(args) => lab_up(args),
            LabCommand::Demo(args) => {
                lbctl::doctor::demo::run(args.unattended, args.no_lan, printer.style)
            }
        },
    }
}

/// Appends the requests logged since `from` as JSON lines; returns the new count.
fn append_requests(
    lab: &lbctl::lab::Lab,
    file: Option<&mut std::fs::File>,
    from: usize,
) -> anyhow::Result<usize> {
    let Some(file) = file else { return Ok(from) };
    let (new, next) = lab.requests_since(from);
    for r in &new {
        let line = serde_json::json!({"method": r.method, "path": r.path, "query": r.query,
            "status": r.status, "user_agent": r.user_agent});
        writeln!(file, "{line}")?;
    }
    Ok(next)
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes a new file of mode 0600 at `path` in a shared directory: never through a planted
/// link (O_EXCL|O_NOFOLLOW), and replacing only a regular file of ours (a crashed earlier run).
fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let open = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
    };
    let mut file = match open() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = std::fs::symlink_metadata(path)?;
            // SAFETY: geteuid cannot fail.
            if !meta.file_type().is_file() || meta.uid() != unsafe { libc::geteuid() } {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists and is not a file of ours: refusing to write through it (pass --kubeconfig-out FILE)",
                ));
            }
            std::fs::remove_file(path)?;
            open()?
        }
        r => r?,
    };
    file.write_all(data)
}

fn lab_up(args: lbctl::cli::LabUpArgs) -> anyhow::Result<Exit> {
    let scenarios = args
        .scenarios
        .iter()
        .map(|s| lbctl::lab::Scenario::load(s).map_err(|e| CodedError::usage(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let lab = lbctl::lab::Lab::start(args.listen, &scenarios).map_err(|e| match e {
        lbctl::lab::LabError::Bind(..) | lbctl::lab::LabError::Runtime(_) => {
            CodedError::unreachable(e.to_string())
        }
        other => CodedError::usage(other.to_string()),
    })?;
    for f in &args.faults {
        lab.inject(f.clone());
    }
    if args.request_log.is_none() {
        // Nobody reads the log: keep none, or a long-running lab grows with every request.
        lab.set_limits(lbctl::lab::limits::Limits {
            request_log: 0,
            ..Default::default()
        });
    }
    let (path, ours) = match args.kubeconfig_out.clone() {
        Some(p) => {
            lab.write_kubeconfig(&p)
                .with_context(|| format!("writing kubeconfig to {}", p.display()))?;
            (p, false)
        }
        None => {
            let p =
                std::env::temp_dir().join(format!("lbctl-lab-{}.kubeconfig", lab.addr().port()));
            write_private(&p, lab.kubeconfig_yaml().as_bytes())
                .map_err(|e| CodedError::usage(format!("{}: {e}", p.display())))?;
            (p, true)
        }
    };
    // Removed on the way out (Ctrl-C and SIGTERM included): it names a server that is gone.
    let _cleanup = ours.then(|| RemoveOnDrop(path.clone()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        // Handlers first: whoever reads the address below may signal us at once.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        println!("lab API server listening on {}", lab.url());
        println!("export KUBECONFIG={}", path.display());
        std::io::stdout().flush()?;
        let mut log = match &args.request_log {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("opening request log {}", p.display()))?,
            ),
            None => None,
        };
        let mut written = 0;
        let mut flush = tokio::time::interval(std::time::Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = int.recv() => break,
                _ = term.recv() => break,
                _ = flush.tick(), if log.is_some() => {
                    written = append_requests(&lab, log.as_mut(), written)?;
                }
            }
        }
        append_requests(&lab, log.as_mut(), written)?;
        anyhow::Ok(())
    })?;
    drop(lab);
    Ok(Exit::Ok)
}

fn serve(args: lbctl::cli::ServeArgs, global: lbctl::cli::GlobalArgs) -> anyhow::Result<Exit> {
    use lbctl::model::names;
    if !args.ipam_enabled() && !args.announce_enabled() {
        return Err(CodedError::usage("nothing to serve: --no-ipam and no --announce").into());
    }
    let identity = args
        .node_name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| format!("lbctl-{}", std::process::id()));
    let namespace = global
        .namespace
        .clone()
        .unwrap_or_else(|| names::DEFAULT_AGENT_NAMESPACE.to_owned());
    // Cilium's sanitising rules (reference §4.1), with its warnings.
    let (timings, warnings) =
        lbctl::lease::sanitize_timings(args.lease_duration, args.renew_deadline, args.retry_period);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    timings
        .validate()
        .map_err(|e| CodedError::usage(format!("lease timings: {e}")))?;
    let cfg = lbctl::serve::ServeConfig {
        engine: lbctl::ipam::EngineConfig {
            ipv4: true,
            ipv6: args.enable_ipv6,
            default_lbipam: args.default_lb_service_ipam == names::DEFAULT_LB_SERVICE_IPAM_LBIPAM,
            classes: args.lb_classes.clone(),
            ..lbctl::ipam::EngineConfig::default()
        },
        field_manager: args.field_manager.clone(),
        // Below the in-flight bound, so a burst of status writes never takes the last permits
        // from the IPAM lease's renewals.
        write_concurrency: usize::from(args.max_requests_in_flight)
            .saturating_sub(2)
            .max(1),
        watch_timeout_secs: lbctl::cluster::watch_timeout_secs(
            target(&global).read_timeout(Default::default()),
        ),
        ..Default::default()
    };
    let debug_socket = args
        .debug_socket
        .clone()
        .unwrap_or_else(lbctl::debug::default_socket);
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
        let target = target(&global);
        let conn = target
            .connect_limited(Some(args.max_requests_in_flight.into()))
            .await?;
        let shared = std::sync::Arc::new(lbctl::serve::metrics::Shared::default());
        let bound = lbctl::serve::metrics::serve(args.metrics_addr, shared.clone())
            .await
            .map_err(|e| {
                CodedError::usage(format!("cannot listen on {}: {e}", args.metrics_addr))
            })?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let l2 = if args.announce_enabled() {
            let cfg = lbctl::l2::announcer::AnnouncerConfig {
                node_name: identity.clone(),
                lease_namespace: namespace.clone(),
                lease_prefix: args.l2_lease_prefix.clone(),
                timings,
                field_manager: names::FIELD_MANAGER_L2.to_owned(),
            };
            // Its own connections and bound: IPAM's write bursts in the same process must not
            // queue the announcer's lease renewals (a late renewal silences a VIP).
            // Its watchers keep kube-rs' long server-side timeout, so its read timeout is longer.
            let l2_conn = target
                .connect_with(lbctl::cluster::ClientOptions {
                    max_in_flight: Some(args.max_requests_in_flight.into()),
                    long_watches: true,
                })
                .await?;
            let (running, join) = lbctl::l2::runtime::start(
                l2_conn.client,
                cfg,
                "/sys/class/net".into(),
                stop_rx.clone(),
            );
            shared.attach_l2(running.clone());
            Some((running, join))
        } else {
            None
        };
        let provider = std::sync::Arc::new(lbctl::serve::DebugTopics {
            l2: l2.as_ref().map(|(r, _)| r.clone()),
            shared: args.ipam_enabled().then(|| shared.clone()),
        });
        let debug = {
            let path = debug_socket.clone();
            let stop = stop_rx.clone();
            tokio::spawn(async move {
                if let Err(e) = lbctl::debug::serve(&path, provider, stop).await {
                    tracing::warn!(path = %path.display(), error = %e, "debug socket unavailable");
                }
            })
        };
        println!(
            "lbctl serve: node {identity}, IPAM {}, L2 announcer {}, leases in {namespace}",
            if args.ipam_enabled() { "on" } else { "off" },
            if args.announce_enabled() { "on" } else { "off" },
        );
        println!("metrics on http://{bound}/metrics");
        println!("debug socket {}", debug_socket.display());
        std::io::stdout().flush()?;
        let ipam = if args.ipam_enabled() {
            let lease = lbctl::lease::LeaseConfig::new(
                namespace.clone(),
                names::LBCTL_IPAM_LEASE,
                identity.clone(),
                timings,
            );
            let (handle, gate) = lbctl::serve::leader::elect(conn.client.clone(), lease)
                .map_err(|e| CodedError::usage(e.to_string()))?;
            let mut stop = stop_rx.clone();
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            let client = conn.client.clone();
            let shared = shared.clone();
            Some(tokio::spawn(async move {
                let res = lbctl::serve::run_ipam(client, cfg, gate, shared, shutdown).await;
                // Step down first so a standby takes over at once.
                if let Err(e) = handle.release().await {
                    tracing::warn!(error = %e, "releasing the IPAM lease");
                }
                res
            }))
        } else {
            shared
                .ready
                .store(true, std::sync::atomic::Ordering::Relaxed);
            None
        };
        let mut ipam = ipam;
        // IPAM ends on its own only when it cannot go on (e.g. the pool CRD is not served).
        let early = {
            let ipam_ended = async {
                match ipam.as_mut() {
                    Some(h) => h.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = term.recv() => None,
                _ = int.recv() => None,
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
            Ok(Err(e)) => Err(CodedError::unreachable(e.to_string()).into()),
            Err(e) => Err(anyhow::anyhow!("IPAM task failed: {e}")),
            Ok(Ok(())) => anyhow::Ok(Exit::Ok),
        }
    });
    // Every engine has stopped and released its leases by now; a task still running (a watch
    // mid-request) must not keep the process from exiting on SIGTERM.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    ran
}
