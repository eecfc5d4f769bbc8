//! The lbctl binary: parse, run, map errors to exit codes.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use lbctl::cli::{Cli, Command, LabCommand};
use lbctl::output::{CodedError, Exit};

fn main() -> ExitCode {
    // `lbctl … | head` must end quietly, not with a panic on EPIPE.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { Exit::Usage as u8 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_tracing(cli.global.verbose);
    owo_colors::set_override(cli.global.color.enabled());
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            let code = e
                .downcast_ref::<CodedError>()
                .map_or(Exit::Usage, |c| c.code);
            eprintln!("error: {e:#}");
            ExitCode::from(code as u8)
        }
    }
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("LBCTL_LOG").unwrap_or_else(|_| level.into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Completions { shell } => {
            let mut out = Vec::new();
            lbctl::cli::write_completion(shell, &mut out);
            std::io::stdout().write_all(&out)?;
            Ok(Exit::Ok)
        }
        Command::Man { out } => {
            lbctl::cli::write_man_pages(&out)
                .with_context(|| format!("writing man pages to {}", out.display()))?;
            println!("man pages written to {}", out.display());
            Ok(Exit::Ok)
        }
        Command::Serve(args) => serve(args, cli.global),
        Command::Lab(lab) => match lab.command {
            LabCommand::Scenarios => {
                for (name, text) in lbctl::lab::scenario::EMBEDDED {
                    let about = text
                        .lines()
                        .take_while(|l| l.starts_with('#'))
                        .map(|l| l.trim_start_matches('#').trim())
                        .collect::<Vec<_>>()
                        .join(" ");
                    println!("{name:<12} {about}");
                }
                Ok(Exit::Ok)
            }
            LabCommand::Up(args) => lab_up(args),
        },
    }
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
    let path = args.kubeconfig_out.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("lbctl-lab-{}.kubeconfig", lab.addr().port()))
    });
    lab.write_kubeconfig(&path)
        .with_context(|| format!("writing kubeconfig to {}", path.display()))?;
    println!("lab API server listening on {}", lab.url());
    println!("export KUBECONFIG={}", path.display());
    std::io::stdout().flush()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        anyhow::Ok(())
    })?;
    drop(lab);
    Ok(Exit::Ok)
}

fn serve(args: lbctl::cli::ServeArgs, global: lbctl::cli::GlobalArgs) -> anyhow::Result<Exit> {
    use lbctl::model::names;
    if args.announce_enabled() {
        return Err(CodedError::usage(
            "the L2 announcer is not implemented yet (issue 6); run `lbctl serve --no-announce`",
        )
        .into());
    }
    if !args.ipam_enabled() {
        return Err(CodedError::usage("nothing to serve: --no-ipam and no announcer").into());
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
    let timings = lbctl::lease::Timings {
        lease_duration: args.lease_duration,
        renew_deadline: args.renew_deadline,
        retry_period: args.retry_period,
    };
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
        ..lbctl::serve::ServeConfig::default()
    };
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
    rt.block_on(async move {
        let target = lbctl::cluster::Target {
            kubeconfig: global.kubeconfig.clone(),
            context: global.context.clone(),
        };
        let conn = target.connect().await?;
        let shared = std::sync::Arc::new(lbctl::serve::metrics::Shared::default());
        let bound = lbctl::serve::metrics::serve(args.metrics_addr, shared.clone())
            .await
            .map_err(|e| {
                CodedError::usage(format!("cannot listen on {}: {e}", args.metrics_addr))
            })?;
        println!(
            "lbctl serve: node {identity}, IPAM lease {namespace}/{}",
            names::LBCTL_IPAM_LEASE
        );
        println!("metrics on http://{bound}/metrics");
        std::io::stdout().flush()?;
        let lease = lbctl::lease::LeaseConfig::new(
            namespace.clone(),
            names::LBCTL_IPAM_LEASE,
            identity.clone(),
            timings,
        );
        let (handle, gate) = lbctl::serve::leader::elect(conn.client.clone(), lease)
            .map_err(|e| CodedError::usage(e.to_string()))?;
        let shutdown = async {
            let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
            match term {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        let res = lbctl::serve::run_ipam(conn.client.clone(), cfg, gate, shared, shutdown).await;
        // Step down first so a standby takes over at once.
        if let Err(e) = handle.release().await {
            tracing::warn!(error = %e, "releasing the IPAM lease");
        }
        res.map_err(|e| match e {
            lbctl::serve::ServeError::NoPoolApi(_) => CodedError::unreachable(e.to_string()),
            other => CodedError::unreachable(other.to_string()),
        })?;
        anyhow::Ok(Exit::Ok)
    })
}
