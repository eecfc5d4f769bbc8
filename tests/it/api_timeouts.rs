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

#[test]
fn log_lines_carry_no_escapes_off_a_terminal_and_the_client_stack_stays_quiet() {
    // A port nobody listens on: connection refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    write_kubeconfig(&kc, format!("127.0.0.1:{port}").parse().unwrap());
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_lbctl"))
            .arg("--kubeconfig")
            .arg(&kc)
            .args(extra)
            .arg("pools")
            .env_remove("NO_COLOR")
            .env_remove("LBCTL_LOG")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        stderr(&out)
    };
    let quiet = run(&[]);
    assert!(
        quiet.starts_with("error: ") && quiet.lines().count() == 1,
        "without -v only lbctl's own message:\n{quiet}"
    );
    for extra in [
        &["-vv", "--color", "never"][..],
        &["-vv"],
        &["-vv", "--color", "auto"],
    ] {
        let err = run(extra);
        assert!(err.contains("DEBUG"), "{extra:?} logs something:\n{err}");
        assert!(!err.contains('\u{1b}'), "{extra:?}: escapes in\n{err:?}");
    }
}
