//! Helpers shared by the integration tests.
// Helpers are shared by test modules that land on different branches; not all use every one.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use lbctl::lab::{Lab, Scenario};

/// Starts a lab on 127.0.0.1:0 with the given embedded scenarios or scenario files.
pub fn lab(scenarios: &[&str]) -> Lab {
    let s: Vec<Scenario> = scenarios
        .iter()
        .map(|n| Scenario::load(n).expect("scenario loads"))
        .collect();
    Lab::start("127.0.0.1:0".parse().unwrap(), &s).expect("lab starts")
}

/// A lab plus a kubeconfig file for it, removed on drop (for tests that run the lbctl binary).
pub struct LabWithConfig {
    pub lab: Lab,
    pub dir: tempfile::TempDir,
}

impl LabWithConfig {
    pub fn new(scenarios: &[&str]) -> Self {
        let lab = lab(scenarios);
        let dir = tempfile::tempdir().unwrap();
        lab.write_kubeconfig(&dir.path().join("kubeconfig"))
            .unwrap();
        LabWithConfig { lab, dir }
    }
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }
}

/// Runs the lbctl binary with a kubeconfig.
pub fn lbctl(kubeconfig: Option<&std::path::Path>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lbctl"));
    if let Some(k) = kubeconfig {
        c.arg("--kubeconfig").arg(k);
    }
    c.args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("lbctl runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// The skip helper lives in its own file, loaded by netlan.rs, so the benches (which include
// netlan.rs) share it.
#[allow(unused_imports)]
pub use crate::netlan::skip_helper::{in_ci, skip};

/// `lbctl lab up` inside a namespace of a test LAN, listening on that host's LAN address;
/// killed on drop.
pub struct LabInNetns {
    child: std::process::Child,
    pub kubeconfig: PathBuf,
}

impl LabInNetns {
    pub fn start(
        lan: &crate::netlan::Lan,
        host: &str,
        dir: &std::path::Path,
        scenario: &str,
        extra: &[&str],
    ) -> Self {
        use std::io::{BufRead, BufReader};
        let kubeconfig = dir.join(format!("{host}.kubeconfig"));
        let listen = format!("{}:0", lan.host(host).ipv4);
        let mut args = vec![
            "lab",
            "up",
            "--listen",
            &listen,
            "--scenario",
            scenario,
            "--kubeconfig-out",
            kubeconfig.to_str().unwrap(),
            // The tests run their own `serve`; an engine inside the lab would race it.
            "--no-engine",
        ];
        args.extend_from_slice(extra);
        let mut child = lan
            .command(host, env!("CARGO_BIN_EXE_lbctl"), &args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("lab up starts");
        // Read both lines lab up prints: closing the pipe earlier would end it with SIGPIPE.
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        assert!(first.contains("listening on http://10.77.0."), "{first}");
        let second = lines.next().and_then(Result::ok).unwrap_or_default();
        assert!(second.starts_with("export KUBECONFIG="), "{second}");
        LabInNetns { child, kubeconfig }
    }

    /// SIGTERM and wait: lab up flushes its request log on the way out.
    pub fn stop(mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Drop for LabInNetns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn skip_probe() {
    // Only when skips_show_in_cargo_test_output runs us.
    if std::env::var_os("LBCTL_SKIP_PROBE").is_some() {
        skip("skip_probe", "a tool is missing");
    }
}

#[test]
fn skips_show_in_cargo_test_output() {
    let run = |ci: Option<&str>| {
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.args(["--exact", "support::skip_probe", "--test-threads", "1"])
            .env("LBCTL_SKIP_PROBE", "1")
            .env_remove("CI");
        if let Some(v) = ci {
            c.env("CI", v);
        }
        c.output().unwrap()
    };
    let out = run(None);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("SKIP skip_probe: a tool is missing"),
        "the skip is visible without --nocapture:\n{all}"
    );
    let out = run(Some("1"));
    assert!(!out.status.success(), "a skip fails in CI");
}
