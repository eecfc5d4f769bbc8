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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn target(g: &lbctl::cli::GlobalArgs) -> lbctl::cluster::Target {
    lbctl::cluster::Target {
        kubeconfig: g.kubeconfig.clone(),
        context: g.context.clone(),
    }
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    let json = matches!(cli.global.output, lbctl::output::OutputFormat::Json);
    let color = cli.global.color.enabled();
    let g = cli.global;
    match cli.command {
        Command::ArpProbe(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let code = rt.block_on(lbctl::net::cmd::run(&args, json, color))?;
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
            let (text, code) = if args.all {
                let scope = (!g.all_namespaces).then_some(ns);
                lbctl::doctor::cmd::run_all(&conn, scope, &args.cilium_namespace, g.output).await?
            } else {
                let arg = args.service.as_deref().unwrap_or_default();
                let (ns, name) = lbctl::doctor::cmd::parse_target(arg, &ns)?;
                lbctl::doctor::cmd::run_one(
                    &conn,
                    &ns,
                    &name,
                    &args.cilium_namespace,
                    !args.no_probe,
                    g.output,
                )
                .await?
            };
            print(&text)?;
            Ok(code)
        }),
        Command::Pools(args) => runtime()?.block_on(async {
            let conn = target(&g).connect().await?;
            let text = lbctl::doctor::listings::pools(&conn, &args, g.output).await?;
            print(&text)?;
            Ok(Exit::Ok)
        }),
        Command::Policies(args) => runtime()?.block_on(async {
            let conn = target(&g).connect().await?;
            let text = lbctl::doctor::listings::policies(&conn, &args, g.output).await?;
            print(&text)?;
            Ok(Exit::Ok)
        }),
        Command::Leases(args) => runtime()?.block_on(async {
            let conn = target(&g).connect().await?;
            let ns = g
                .namespace
                .clone()
                .unwrap_or(conn.default_namespace.clone());
            let text = lbctl::doctor::listings::leases(&conn, &args, &ns, g.output).await?;
            print(&text)?;
            Ok(Exit::Ok)
        }),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            lbctl::cli::write_completion(shell, &mut out);
            std::io::stdout().write_all(&out)?;
            Ok(Exit::Ok)
        }
        Command::Crds => {
            std::io::stdout().write_all(lbctl::cli::crds_yaml()?.as_bytes())?;
            Ok(Exit::Ok)
        }
        Command::Man { out } => {
            lbctl::cli::write_man_pages(&out)
                .with_context(|| format!("writing man pages to {}", out.display()))?;
            println!("man pages written to {}", out.display());
            Ok(Exit::Ok)
        }
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
            LabCommand::Demo(args) => lbctl::doctor::demo::run(args.unattended),
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
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        anyhow::Ok(())
    })?;
    drop(lab);
    Ok(Exit::Ok)
}
