//! The one-shot commands against an API server that does not answer, or answers 5xx: each
//! exits 3 (unreachable) within its request timeout instead of hanging or blaming the Service.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lbctl::lab::Fault;

use crate::stall::{write_kubeconfig, Silent};
use crate::support::{stderr, LabWithConfig};

/// Runs lbctl; kills it and panics when it is still running after `limit`.
fn run_within(limit: Duration, args: &[&str]) -> (std::process::Output, Duration) {
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lbctl"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            return (child.wait_with_output().unwrap(), t0.elapsed());
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "lbctl {args:?} still running after {limit:?}; stderr: {}",
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const COMMANDS: &[&[&str]] = &[
    &["doctor", "svc/web", "-n", "demo", "--no-probe"],
    &["doctor", "--all", "-A"],
    &["pools"],
    &["policies"],
    &["leases", "-A"],
];

#[test]
fn a_silent_api_server_exits_3_within_the_request_timeout() {
    let silent = Silent::start();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    write_kubeconfig(&kc, silent.addr);
    for cmd in COMMANDS {
        let mut args = vec![
            "--kubeconfig",
            kc.to_str().unwrap(),
            "--request-timeout",
            "1s",
        ];
        args.extend_from_slice(cmd);
        let (out, took) = run_within(Duration::from_secs(20), &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{cmd:?}: {err}");
        assert!(
            err.contains("cannot reach the API server"),
            "{cmd:?}: {err}"
        );
        // One request at a time, each given up after 1 s (kube-rs retries none of them).
        assert!(took < Duration::from_secs(10), "{cmd:?} took {took:?}");
    }
    assert!(
        silent.accepted() >= COMMANDS.len(),
        "every command connected"
    );
}

#[test]
fn api_server_errors_exit_3() {
    let env = LabWithConfig::new(&["demo"]);
    env.lab.inject(Fault {
        method: Some("GET".into()),
        path_contains: "/".into(),
        status: Some(500),
        count: 1000,
        ..Fault::default()
    });
    let kc = env.kubeconfig();
    for cmd in COMMANDS {
        let mut args = vec!["--kubeconfig", kc.to_str().unwrap()];
        args.extend_from_slice(cmd);
        let (out, _) = run_within(Duration::from_secs(20), &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{cmd:?}: {err}");
        assert!(err.contains("(500)"), "{cmd:?}: {err}");
    }
}
