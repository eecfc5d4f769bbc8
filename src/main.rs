//! The lbctl binary: parse, run, map errors to exit codes. Each command is one call into its
//! module; nothing is composed here.

use std::process::ExitCode;

use anyhow::Context;
use lbctl::cli::{Cli, Command, LabCommand};
use lbctl::doctor::cmd::Listing;
use lbctl::output::{write_stdout, CodedError, Exit, Printer, StdoutClosed};

fn main() -> ExitCode {
    // SIGPIPE stays ignored (Rust's default): a peer resetting a TLS or API connection is an
    // error to handle, never a silent death with exit 141. Only a closed stdout (`lbctl … | head`)
    // ends the process, quietly: `print` reports it as `StdoutClosed`, and `println!`'s panic on
    // it is caught below (after unwinding, so namespaces and leases are still cleaned up).
    // The shell calling back for completions gets them before anything else runs.
    lbctl::completion::answer_if_asked();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !stdout_closed(info.payload()) {
            default_hook(info);
        }
    }));
    let cli = match lbctl::cli::parse_from(std::env::args_os()) {
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
    let ran = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli))) {
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

/// Whether a panic is `println!`'s on a closed stdout.
fn stdout_closed(payload: &(dyn std::any::Any + Send)) -> bool {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe")
}

/// Runs a client command on a single-threaded runtime (one request at a time suffices).
fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    // The colour is decided here, once, for everything that prints.
    let printer = Printer::new(cli.global.output, cli.global.color.enabled());
    let g = cli.global;
    let list = |what: Listing, args: lbctl::cli::ListArgs| {
        block_on(lbctl::doctor::cmd::list(what, &args, &g, &printer))
    };
    match cli.command {
        Command::ArpProbe(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let code = rt.block_on(lbctl::net::cmd::run(&args, &printer))?;
            Ok([Exit::Ok, Exit::Problem, Exit::Usage]
                .get(usize::from(code))
                .copied()
                .unwrap_or(Exit::Unreachable))
        }
        Command::Doctor(args) => block_on(lbctl::doctor::cmd::cmd(&args, &g, &printer)),
        Command::Pools(args) => list(Listing::Pools, args),
        Command::Policies(args) => list(Listing::Policies, args),
        Command::Leases(args) => list(Listing::Leases, args),
        Command::Debug(args) => block_on(lbctl::debug::cmd(&args, &printer)),
        Command::Crds => write_stdout(&lbctl::cli::crds_yaml()?).map(|()| Exit::Ok),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            lbctl::completion::write_completion(shell, &mut out)?;
            write_stdout(&String::from_utf8_lossy(&out)).map(|()| Exit::Ok)
        }
        Command::Man { out } => {
            lbctl::cli::write_man_pages(&out)
                .with_context(|| format!("writing man pages to {}", out.display()))?;
            println!("man pages written to {}", out.display());
            Ok(Exit::Ok)
        }
        Command::Serve(args) => lbctl::serve::cmd(&args, &g),
        Command::Lab(lab) => match lab.command {
            LabCommand::Up(args) => lbctl::demo::up::up(args),
            LabCommand::Scenarios => lbctl::demo::up::scenarios(&printer),
            LabCommand::Demo(args) => lbctl::demo::run(args.unattended, args.no_lan, printer.style),
        },
    }
}
