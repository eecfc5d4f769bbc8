//! `lbctl lab up` and `lbctl lab scenarios`: the lab with lbctl's engine running in it. It lives
//! with the demo, above both the lab and serve, because it puts the two together.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::LabUpArgs;
use crate::lab::{limits, Lab, LabError, Scenario};
use crate::output::{CodedError, Exit};

/// `lab scenarios`: each embedded scenario with the first comment lines that describe it.
pub fn scenarios(printer: &crate::output::Printer) -> anyhow::Result<Exit> {
    printer.emit(&crate::lab::scenario::catalogue())?;
    Ok(Exit::Ok)
}

/// `lab up`: serves the lab until SIGINT or SIGTERM, with its kubeconfig written for kubectl.
pub fn up(args: LabUpArgs) -> anyhow::Result<Exit> {
    let scenarios = args
        .scenarios
        .iter()
        .map(|s| Scenario::load(s).map_err(|e| CodedError::usage(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let lab = Lab::start(args.listen, &scenarios).map_err(|e| match e {
        LabError::Bind(..) | LabError::Runtime(_) => CodedError::unreachable(e.to_string()),
        other => CodedError::usage(other.to_string()),
    })?;
    for f in &args.faults {
        lab.inject(crate::lab::Fault::from(f));
    }
    if args.request_log.is_none() {
        // Nobody reads the log: keep none, or a long-running lab grows with every request.
        lab.set_limits(limits::Limits {
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
    let engine = (!args.no_engine).then(|| engine_plan(&path)).transpose()?;
    // The engine runs as a task beside the request log, so the runtime needs its threads.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        // Handlers first: whoever reads the address below may signal us at once.
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        println!("lab API server listening on {}", lab.url());
        println!("export KUBECONFIG={}", path.display());
        std::io::stdout().flush()?;
        let mut engine = match engine {
            Some(plan) => {
                let (up_tx, up_rx) = tokio::sync::oneshot::channel();
                let mut stop = stop_rx.clone();
                let task = tokio::spawn(crate::serve::run(
                    plan,
                    async move {
                        let _ = stop.wait_for(|s| *s).await;
                    },
                    move |_| {
                        let _ = up_tx.send(());
                    },
                ));
                // Said only once it runs, so a reader of this line may rely on it.
                if up_rx.await.is_ok() {
                    say(&format!(
                        "engine: LB IPAM (lbctl serve --ipam) runs in this process, as cilium-operator would; \
no L2 announcer (that needs a LAN: `{}`). --no-engine runs without",
                        sudo_demo()
                    ));
                }
                Some(task)
            }
            None => {
                say(&format!(
                    "engine: none (--no-engine): Services stay <pending> until one runs, e.g. \
`lbctl serve --ipam --kubeconfig {}`",
                    path.display()
                ));
                None
            }
        };
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
                // IPAM ends on its own only when it cannot go on; the lab itself still serves.
                r = async { engine.as_mut().expect("guarded").await }, if engine.is_some() => {
                    engine = None;
                    match r {
                        Ok(Err(e)) => eprintln!("warning: the engine stopped: {e}"),
                        Err(e) => eprintln!("warning: the engine stopped: {e}"),
                        Ok(Ok(())) => {}
                    }
                }
            }
        }
        append_requests(&lab, log.as_mut(), written)?;
        // The engine releases its lease while the lab still answers.
        let _ = stop_tx.send(true);
        if let Some(task) = engine {
            let _ = task.await;
        }
        anyhow::Ok(())
    })?;
    // Leftover watch tasks go before the lab they watch.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    drop(lab);
    Ok(Exit::Ok)
}

/// The command that runs the demo on its LAN as root, with this binary's absolute path: sudo
/// resets PATH, so `sudo lbctl` finds no lbctl installed in ~/.cargo/bin or built in ./target.
pub fn sudo_demo() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(String::from))
        .filter(|p| !p.contains(char::is_whitespace))
        .unwrap_or_else(|| "./target/release/lbctl".into());
    format!("sudo {exe} lab demo")
}

/// A line after the kubeconfig's: a reader that took only what it needed and closed the pipe
/// must not end the lab.
fn say(line: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// The lab's engine: LB IPAM only, through the kubeconfig just written, with its metrics and
/// debug socket where they collide with nothing (a real `lbctl serve` on this host keeps its).
fn engine_plan(kubeconfig: &Path) -> anyhow::Result<crate::serve::plan::ServePlan> {
    use clap::Parser;
    let debug = std::env::temp_dir().join(format!("lbctl-lab-{}.sock", std::process::id()));
    // The serve command's own parse, so the engine gets every default `lbctl serve` has.
    let cli = crate::cli::Cli::try_parse_from([
        "lbctl".as_ref(),
        "serve".as_ref(),
        "--ipam".as_ref(),
        "--node-name=lbctl-lab".as_ref(),
        "--metrics-addr=127.0.0.1:0".as_ref(),
        "--debug-socket".as_ref(),
        debug.as_os_str(),
        "--kubeconfig".as_ref(),
        kubeconfig.as_os_str(),
    ] as [&std::ffi::OsStr; 9])?;
    let crate::cli::Command::Serve(args) = &cli.command else {
        unreachable!("parsed as serve")
    };
    let host = crate::serve::plan::HostDefaults {
        hostname: "lbctl-lab".into(),
        debug_socket: debug,
    };
    Ok(crate::serve::plan::ServePlan::from_args(
        args,
        &cli.global,
        host,
    )?)
}

/// Appends the requests logged since `from` as JSON lines; returns the new count.
fn append_requests(
    lab: &Lab,
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

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes a new file of mode 0600 at `path` in a shared directory: never through a planted
/// link (O_EXCL|O_NOFOLLOW), and replacing only a regular file of ours (a crashed earlier run).
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_never_follow_a_planted_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kc");
        write_private(&path, b"one").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A file of ours left by a crashed run is replaced.
        write_private(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let target = dir.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(write_private(&link, b"evil").is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }
}
