//! `lbctl doctor`: the troubleshooting ladder (docs/architecture.md; the check ids and JSON schema are in docs/doctor-json.md).
//!
//! The ladder is a pure evaluation over a [`Snapshot`] of the cluster (see [`eval`]), so every
//! rule is unit-testable without I/O; [`fetch`] fills the snapshot with GET/LIST requests only,
//! and [`render`] turns findings into the table, JSON and YAML the user sees.

pub mod cmd;
pub mod engine;
pub mod eval;
pub mod fetch;
mod fix;
pub mod listings;
pub mod probe;
pub mod render;
mod rungs;
pub mod snapshot;
mod suggest;

use serde::{Deserialize, Serialize};

pub use eval::Cluster;
pub use snapshot::{ProbeOutcome, Snapshot};

/// How one check came out.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
    Skip,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
            Verdict::Skip => "skip",
        }
    }
}

/// The rungs of the ladder, in the order traffic needs them.
pub const RUNGS: &[(u8, &str)] = &[
    (0, "cluster"),
    (1, "service"),
    (2, "pools"),
    (3, "l2-policy"),
    (4, "arp-ndp"),
    (5, "lease"),
];

/// Short name of a rung, for tables and JSON.
pub fn rung_name(rung: u8) -> &'static str {
    RUNGS
        .iter()
        .find(|(n, _)| *n == rung)
        .map_or("?", |(_, name)| name)
}

/// One finding: what was checked, what was seen, what should be seen and how to get there.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rung: u8,
    pub check: String,
    pub verdict: Verdict,
    pub observed: String,
    pub expected: String,
    /// Concrete: YAML to apply or the exact command with this Service's names filled in.
    /// Empty when there is nothing to do.
    pub fix: String,
    /// The facts a verdict was decided from, one per line (the `engine` check).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

impl Finding {
    pub fn new(rung: u8, check: &str, verdict: Verdict) -> Finding {
        Finding {
            rung,
            check: check.to_owned(),
            verdict,
            observed: String::new(),
            expected: String::new(),
            fix: String::new(),
            evidence: Vec::new(),
        }
    }
    pub fn observed(mut self, s: impl Into<String>) -> Finding {
        self.observed = s.into();
        self
    }
    pub fn expected(mut self, s: impl Into<String>) -> Finding {
        self.expected = s.into();
        self
    }
    pub fn fix(mut self, s: impl Into<String>) -> Finding {
        self.fix = s.into();
        self
    }
    pub fn evidence(mut self, lines: Vec<String>) -> Finding {
        self.evidence = lines;
        self
    }
}

/// The ladder walked for one Service.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub namespace: String,
    pub name: String,
    /// `status.loadBalancer.ingress[].ip` (empty while `<pending>`).
    pub external_ips: Vec<String>,
    pub findings: Vec<Finding>,
    /// Optional reads the server refused; the checks that needed them are `skip`.
    #[serde(default)]
    pub unread: Vec<snapshot::Unread>,
}

impl Report {
    /// The first failing finding in ladder order.
    pub fn first_failure(&self) -> Option<&Finding> {
        self.findings.iter().find(|f| f.verdict == Verdict::Fail)
    }

    /// Overall verdict: fail if any check fails, warn if any warns, else pass.
    pub fn result(&self) -> Verdict {
        if self.first_failure().is_some() {
            Verdict::Fail
        } else if self.findings.iter().any(|f| f.verdict == Verdict::Warn) {
            Verdict::Warn
        } else {
            Verdict::Pass
        }
    }

    /// The one-line summary printed under the ladder.
    pub fn summary(&self) -> String {
        let count = |v| self.findings.iter().filter(|f| f.verdict == v).count();
        let (fails, warns) = (count(Verdict::Fail), count(Verdict::Warn));
        match self.first_failure() {
            Some(f) => format!(
                "{}/{}: fails at rung {} ({}), check {}: {} ({} failing, {} warning)",
                self.namespace,
                self.name,
                f.rung,
                rung_name(f.rung),
                f.check,
                render::cause(&f.observed),
                fails,
                warns
            ),
            None if warns > 0 => format!(
                "{}/{}: no failing check ({} warning{})",
                self.namespace,
                self.name,
                warns,
                if warns == 1 { "" } else { "s" }
            ),
            None => format!("{}/{}: every check passes", self.namespace, self.name),
        }
    }
}
