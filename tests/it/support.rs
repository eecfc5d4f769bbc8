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

/// True in CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}
