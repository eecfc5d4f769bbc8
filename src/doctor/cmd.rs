//! The doctor command: fetch, evaluate, render, pick the exit code.

use super::fetch::{fetch, Plan, Scope};
use super::render::{self, ReportView, SummaryDoc, SummaryRow};
use super::snapshot::Unread;
use super::{Cluster, Report, Verdict};
use crate::cli::{DoctorArgs, GlobalArgs, ListArgs};
use crate::cluster::Connection;
use crate::output::{CodedError, Exit, Printer};

/// The forms kubectl takes for a Service, as the errors list them.
const SERVICE_FORMS: &str = "svc/NAME, service/NAME, services/NAME, NAME, NS/NAME or NS/svc/NAME";

/// kubectl's names for a Service.
fn is_service_kind(kind: &str) -> bool {
    matches!(kind, "svc" | "service" | "services")
}

/// kubectl's names (short, singular, plural, with their group) of the kinds people point at
/// when they mean "the thing behind the Service": `deploy/web` is a typo for a kind, not the
/// namespace `deploy`, so it is refused rather than looked up in a namespace that is not there.
fn is_other_kind(kind: &str) -> bool {
    let base = kind.split('.').next().unwrap_or(kind);
    matches!(
        base,
        "deploy"
            | "deployment"
            | "deployments"
            | "po"
            | "pod"
            | "pods"
            | "ing"
            | "ingress"
            | "ingresses"
            | "ds"
            | "daemonset"
            | "daemonsets"
            | "sts"
            | "statefulset"
            | "statefulsets"
            | "rs"
            | "replicaset"
            | "replicasets"
            | "job"
            | "jobs"
            | "cronjob"
            | "cronjobs"
            | "no"
            | "node"
            | "nodes"
            | "ep"
            | "endpoints"
            | "endpointslice"
            | "endpointslices"
            | "cm"
            | "configmap"
            | "configmaps"
            | "secret"
            | "secrets"
            | "gateway"
            | "gateways"
            | "httproute"
            | "httproutes"
    ) || (kind.contains('.') && !is_service_kind(base))
}

/// `svc/NAME`, `service/NAME`, `services/NAME`, `NAME`, `NS/NAME` or `NS/svc/NAME` →
/// (namespace, name). `X/NAME` means namespace X unless X is a kind kubectl knows, so a
/// namespace that happens to be called like a kind must be given with `-n`.
pub fn parse_target(arg: &str, default_ns: &str) -> Result<(String, String), CodedError> {
    let bad = || CodedError::usage(format!("cannot read Service {arg:?}: use {SERVICE_FORMS}"));
    let parts: Vec<&str> = arg.split('/').collect();
    let (ns, name) = match parts.as_slice() {
        [name] => (default_ns, *name),
        [kind, name] if is_service_kind(kind) => (default_ns, *name),
        [kind, _] | [_, kind, _] if is_other_kind(kind) => {
            return Err(CodedError::usage(format!(
                "{arg:?} names a {kind}, not a Service: doctor walks the ladder for a LoadBalancer \
Service ({SERVICE_FORMS}); `kubectl get svc` lists them"
            )))
        }
        [ns, name] => (*ns, *name),
        [ns, kind, name] if is_service_kind(kind) => (*ns, *name),
        _ => return Err(bad()),
    };
    if ns.is_empty() || name.is_empty() {
        return Err(bad());
    }
    Ok((ns.to_owned(), name.to_owned()))
}

fn exit_for(result: Verdict) -> Exit {
    if result == Verdict::Fail {
        Exit::Problem
    } else {
        Exit::Ok
    }
}

/// Walks the ladder for one Service.
pub async fn doctor_one(
    conn: &Connection,
    namespace: &str,
    name: &str,
    agent_ns: &str,
    probe: bool,
) -> Result<Report, CodedError> {
    Ok(walk(conn, namespace, name, agent_ns, probe).await?.0)
}

/// The report, and whether an LB IPAM engine holds its leader lease.
async fn walk(
    conn: &Connection,
    namespace: &str,
    name: &str,
    agent_ns: &str,
    probe: bool,
) -> Result<(Report, bool), CodedError> {
    let scope = Scope::Service {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    };
    let (mut snap, target) = fetch(conn, &scope, agent_ns, &Plan::DOCTOR).await?;
    let report = match target {
        None => Cluster::missing_service(namespace, name),
        Some(svc) => {
            if probe {
                snap.probe = crate::doctor::probe::probe_service(&snap, &svc).await;
            }
            Cluster::new(&snap).diagnose(&svc)
        }
    };
    let evidence = super::engine::Evidence::gather(&snap);
    let engine_runs = [&evidence.lbctl_lease, &evidence.operator_lease]
        .iter()
        .any(|l| l.as_ref().is_some_and(|l| l.fresh));
    Ok((report, engine_runs))
}

/// The lab answers `/version` with a commit of all zeros, which no built Kubernetes has: the
/// one mark of it doctor can see without depending on the lab.
async fn is_lab(conn: &Connection) -> bool {
    conn.client
        .apiserver_version()
        .await
        .is_ok_and(|v| !v.git_commit.is_empty() && v.git_commit.bytes().all(|b| b == b'0'))
}

/// A finding that LB IPAM has not processed the Service, whose fix inspects cilium-operator.
fn asks_operator(f: &super::Finding) -> bool {
    f.check == "condition" && f.verdict == Verdict::Fail && f.fix.contains("cilium-operator")
}

/// In the lab the Cilium pods are scenery: when no engine holds its lease and LB IPAM has not
/// processed the Service, the commands that inspect cilium-operator find nothing, and what
/// helps is starting lbctl's engine. Fixes of settings (cilium-config) stay as on a cluster.
fn advise_lab_engine(report: &mut Report) {
    for f in &mut report.findings {
        if asks_operator(f) {
            f.fix = "# this is lbctl's lab: its Cilium pods are scenery and no LB IPAM engine runs in it \
(no fresh IPAM lease). Start one beside it:\n\
lbctl serve --ipam --kubeconfig \"$KUBECONFIG\"\n\
# or restart `lbctl lab up` without --no-engine (it runs LB IPAM by default)"
                .to_owned();
        }
    }
}

/// `doctor svc/NAME`: prints the report, returns the exit code.
pub async fn run_one(
    conn: &Connection,
    namespace: &str,
    name: &str,
    agent_ns: &str,
    probe: bool,
    printer: &Printer,
) -> anyhow::Result<Exit> {
    let (mut report, engine_runs) = walk(conn, namespace, name, agent_ns, probe).await?;
    // Asked only when there is an operator command to replace: one request more, not always.
    if !engine_runs && report.findings.iter().any(asks_operator) && is_lab(conn).await {
        advise_lab_engine(&mut report);
    }
    printer.emit(&ReportView {
        report: &report,
        context: &conn.context,
    })?;
    Ok(exit_for(report.result()))
}

/// Every LoadBalancer Service, one row each, from one round of LISTs.
pub async fn summarize_all(
    conn: &Connection,
    namespace: Option<String>,
    agent_ns: &str,
) -> Result<Vec<SummaryRow>, CodedError> {
    Ok(summarize(conn, namespace, agent_ns).await?.0)
}

/// The rows and the optional reads the server refused.
async fn summarize(
    conn: &Connection,
    namespace: Option<String>,
    agent_ns: &str,
) -> Result<(Vec<SummaryRow>, Vec<Unread>), CodedError> {
    let (snap, _) = fetch(conn, &Scope::All { namespace }, agent_ns, &Plan::DOCTOR_ALL).await?;
    let cluster = Cluster::new(&snap);
    let mut rows: Vec<SummaryRow> = snap
        .services
        .iter()
        .filter(|s| super::snapshot::is_load_balancer(s))
        .map(|s| SummaryRow::from(&cluster.diagnose(s)))
        .collect();
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok((rows, snap.unread.clone()))
}

/// `doctor --all`: prints the summary, returns the exit code.
pub async fn run_all(
    conn: &Connection,
    namespace: Option<String>,
    agent_ns: &str,
    printer: &Printer,
) -> anyhow::Result<Exit> {
    let (rows, unread) = summarize(conn, namespace.clone(), agent_ns).await?;
    if let (true, Some(ns)) = (rows.is_empty(), &namespace) {
        // On stderr: the document on stdout stays what scripts parse.
        eprintln!("no LoadBalancer Service in namespace {ns:?}; -A looks in every namespace");
    }
    let doc = SummaryDoc {
        api_version: render::API_VERSION,
        kind: "DoctorSummary",
        context: &conn.context,
        items: &rows,
        unread: unread.iter().map(render::UnreadDoc::from).collect(),
    };
    printer.emit(&doc)?;
    let fail = rows.iter().any(|r| r.result == Verdict::Fail);
    Ok(if fail { Exit::Problem } else { Exit::Ok })
}

/// `lbctl doctor`: connects as the global flags say, walks the ladder for one Service (or
/// summarises all with `--all`); the rendered output and the exit code.
pub async fn cmd(args: &DoctorArgs, g: &GlobalArgs, printer: &Printer) -> anyhow::Result<Exit> {
    // A target doctor cannot read is a usage error whether or not a cluster answers.
    if let Some(arg) = &args.service {
        parse_target(arg, "default")?;
    }
    let conn = crate::cluster::Target::from_args(g).connect().await?;
    let ns = g
        .namespace
        .clone()
        .unwrap_or(conn.default_namespace.clone());
    if args.all {
        let scope = (!g.all_namespaces).then_some(ns);
        return run_all(&conn, scope, &args.cilium_namespace, printer).await;
    }
    let arg = args.service.as_deref().unwrap_or_default();
    let (ns, name) = parse_target(arg, &ns)?;
    let probe = !args.no_probe;
    run_one(&conn, &ns, &name, &args.cilium_namespace, probe, printer).await
}

/// The listing commands.
#[derive(Clone, Copy, Debug)]
pub enum Listing {
    Pools,
    Policies,
    Leases,
}

/// `lbctl pools|policies|leases`: connects as the global flags say and prints the listing.
pub async fn list(
    what: Listing,
    args: &ListArgs,
    g: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<Exit> {
    let conn = crate::cluster::Target::from_args(g).connect().await?;
    match what {
        Listing::Pools => super::listings::pools(&conn, args, printer).await?,
        Listing::Policies => super::listings::policies(&conn, args, printer).await?,
        Listing::Leases => {
            let ns = g
                .namespace
                .clone()
                .unwrap_or(conn.default_namespace.clone());
            super::listings::leases(&conn, args, &ns, printer).await?
        }
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = |s| parse_target(s, "dflt").map_err(|e| e.message);
        assert_eq!(t("svc/web").unwrap(), ("dflt".into(), "web".into()));
        assert_eq!(t("service/web").unwrap(), ("dflt".into(), "web".into()));
        assert_eq!(t("web").unwrap(), ("dflt".into(), "web".into()));
        assert_eq!(t("demo/web").unwrap(), ("demo".into(), "web".into()));
        assert_eq!(t("services/web").unwrap(), ("dflt".into(), "web".into()));
        assert_eq!(t("demo/svc/web").unwrap(), ("demo".into(), "web".into()));
        assert!(t("a/b/c/d").is_err());
        assert!(t("svc/").is_err());
        for other in [
            "deploy/web",
            "deployment/web",
            "deployments.apps/web",
            "pod/web",
            "ingress/web",
            "demo/deploy/web",
        ] {
            let e = t(other).unwrap_err();
            assert!(e.contains("not a Service"), "{other}: {e}");
            assert!(e.contains("svc/NAME, service/NAME, services/NAME"), "{e}");
        }
    }
}
