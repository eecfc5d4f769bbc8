//! SIGPIPE: a closed stdout ends lbctl quietly, and nothing else can kill it with SIGPIPE (the
//! signal stays ignored, so a peer resetting a socket is an error, not exit 141).

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, LabWithConfig};

const LBCTL: &str = env!("CARGO_BIN_EXE_lbctl");

/// Runs lbctl with stdout a pipe whose reader is already gone.
fn run_into_closed_pipe(args: &[&str]) -> std::process::Output {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe() fills two fds we then own; the read end is closed at once.
    let write = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0, "pipe");
        drop(OwnedFd::from_raw_fd(fds[0]));
        OwnedFd::from_raw_fd(fds[1])
    };
    Command::new(LBCTL)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(write)
        .stderr(Stdio::piped())
        .output()
        .expect("lbctl runs")
}

#[test]
fn a_closed_stdout_ends_lbctl_quietly() {
    let lab = LabWithConfig::new(&["demo"]);
    let kc = lab.kubeconfig();
    let kc = kc.to_str().unwrap();
    for args in [
        vec!["crds"],
        vec!["lab", "scenarios"],
        vec!["--kubeconfig", kc, "doctor", "demo/demo-web", "--no-probe"],
        vec!["--kubeconfig", kc, "pools"],
    ] {
        let out = run_into_closed_pipe(&args);
        assert_eq!(
            (out.status.signal(), out.status.code()),
            (None, Some(0)),
            "lbctl {args:?}: {}",
            support::stderr(&out)
        );
        assert!(
            out.stderr.is_empty(),
            "lbctl {args:?} complained: {}",
            support::stderr(&out)
        );
    }
}

/// Whether `pid` ignores SIGPIPE, from its /proc status.
fn ignores_sigpipe(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .unwrap_or(0);
    mask & (1 << (libc::SIGPIPE - 1)) != 0
}

/// Waits until `pid` has set up its signal handling (serve and lab up print once they have).
fn wait_line(child: &mut std::process::Child) {
    use std::io::{BufRead, BufReader};
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let first = lines.next();
    assert!(first.is_some(), "the process printed nothing");
    std::thread::spawn(move || for _ in lines {});
}

#[test]
fn long_running_commands_keep_sigpipe_ignored() {
    // A write to a socket the peer has reset must surface as EPIPE (handled, logged), not kill
    // serve or lab up silently with exit 141 as it did while SIGPIPE had its default action.
    let lab = LabWithConfig::new(&["demo"]);
    let mut serve = Command::new(LBCTL)
        .arg("--kubeconfig")
        .arg(lab.kubeconfig())
        .args([
            "serve",
            "--no-announce",
            "--node-name",
            "sigpipe",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lab_up = Command::new(LBCTL)
        .args(["lab", "up", "--listen", "127.0.0.1:0", "--scenario", "demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_line(&mut serve);
    wait_line(&mut lab_up);
    let start = Instant::now();
    for child in [&mut serve, &mut lab_up] {
        assert!(
            ignores_sigpipe(child.id()),
            "pid {} has SIGPIPE at its default action",
            child.id()
        );
        // And a SIGPIPE (as a reset peer would raise) does not end it.
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGPIPE) };
    }
    std::thread::sleep(Duration::from_millis(300).saturating_sub(start.elapsed()));
    for child in [&mut serve, &mut lab_up] {
        assert!(
            matches!(child.try_wait(), Ok(None)),
            "pid {} died of SIGPIPE",
            child.id()
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}
