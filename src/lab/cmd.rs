//! `lbctl lab up` and `lbctl lab scenarios`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{limits, Lab, LabError, Scenario};
use crate::cli::LabUpArgs;
use crate::output::{CodedError, Exit};

/// `lab scenarios`: each embedded scenario with the first comment lines that describe it.
pub fn scenarios(printer: &crate::output::Printer) -> anyhow::Result<Exit> {
    printer.emit(&super::scenario::catalogue())?;
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
        lab.inject(super::Fault::from(f));
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        // Handlers first: whoever reads the address below may signal us at once.
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
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
