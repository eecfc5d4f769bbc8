//! `lbctl pools`, `lbctl policies`, `lbctl leases`: the objects behind the ladder, with what
//! lbctl recomputes about them.

use serde::Serialize;
use serde_json::Value;

use super::eval::{service_facts, Cluster};
use super::fetch::{fetch, Plan, Scope};
use super::snapshot::{parse_time, str_at, Source};
use crate::cli::ListArgs;
use crate::cluster::Connection;
use crate::model::names as n;
use crate::output::{human_duration, CodedError, OutputFormat, Printer, Render, Style};

/// What a column shows when the read behind it was refused.
const UNKNOWN: &str = "<unknown>";

fn age(now: i64, v: &Value) -> String {
    str_at(v, &["metadata", "creationTimestamp"])
        .and_then(parse_time)
        .map_or("<unknown>".into(), |t| human_duration(now - t))
}

/// Reads what one listing shows; each optional read the server refused is said on stderr
/// (stdout stays the listing, parseable as before) and its columns read `<unknown>`.
async fn snapshot(
    conn: &Connection,
    args: &ListArgs,
    plan: &Plan,
) -> Result<super::Snapshot, CodedError> {
    let snap = fetch(
        conn,
        &Scope::All { namespace: None },
        &args.cilium_namespace,
        plan,
    )
    .await?
    .0;
    for u in &snap.unread {
        eprintln!("warning: {} ({})", u.note(), u.permission());
    }
    Ok(snap)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PoolRow {
    name: String,
    disabled: bool,
    conflicting: Option<String>,
    /// `None` when Services could not be read (what is used is then unknown).
    ips_available: Option<String>,
    ips_used: Option<String>,
    ips_total: String,
    blocks: Vec<String>,
    services: Option<Vec<String>>,
    errors: Vec<String>,
    age: String,
}

/// `-o json|yaml`: the rows as an array.
#[derive(Serialize)]
#[serde(transparent)]
struct Pools(Vec<PoolRow>);

impl Render for Pools {
    fn human(&self, wide: bool, style: Style) -> String {
        let mut t = style.plain_table();
        let mut h = vec!["NAME", "DISABLED", "CONFLICTING", "IPS AVAILABLE", "AGE"];
        if wide {
            h.extend(["USED/TOTAL", "BLOCKS", "SERVICES", "ERRORS"]);
        }
        t.set_header(h);
        for r in &self.0 {
            let mut row = vec![
                r.name.clone(),
                r.disabled.to_string(),
                if r.conflicting.is_some() {
                    "True".into()
                } else {
                    "False".into()
                },
                if r.errors.is_empty() {
                    r.ips_available.clone().unwrap_or_else(|| UNKNOWN.into())
                } else {
                    "<invalid>".into()
                },
                r.age.clone(),
            ];
            if wide {
                row.extend([
                    format!(
                        "{}/{}",
                        r.ips_used.as_deref().unwrap_or(UNKNOWN),
                        r.ips_total
                    ),
                    r.blocks.join(","),
                    match &r.services {
                        None => UNKNOWN.into(),
                        Some(s) if s.is_empty() => "<none>".into(),
                        Some(s) => s.join(","),
                    },
                    r.errors
                        .iter()
                        .chain(r.conflicting.iter())
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; "),
                ]);
            }
            t.add_row(row);
        }
        format!("{t}\n")
    }
}

/// `lbctl pools [NAME]`.
pub async fn pools(conn: &Connection, args: &ListArgs, printer: &Printer) -> anyhow::Result<()> {
    let snap = snapshot(conn, args, &Plan::POOLS).await?;
    let services_known = snap.unread(Source::Services).is_none();
    if snap.pools.is_none() {
        return Err(CodedError {
            code: crate::output::Exit::Problem,
            message: "Cilium CRDs not installed: ciliumloadbalancerippools.cilium.io is not served"
                .into(),
        }
        .into());
    }
    let cluster = Cluster::new(&snap);
    let raw: Vec<&Value> = snap.pools.iter().flatten().collect();
    let rows: Vec<PoolRow> = cluster
        .pools
        .iter()
        .zip(raw)
        .filter(|(p, _)| args.name.as_deref().is_none_or(|nm| nm == p.name))
        .map(|(p, v)| {
            let services: Vec<String> = snap
                .services
                .iter()
                .filter(|s| {
                    service_facts(s)
                        .view
                        .ingress_ips
                        .iter()
                        .any(|ip| p.ranges.iter().any(|r| r.contains(*ip)))
                })
                .map(|s| {
                    let (ns, name) = super::snapshot::svc_key(s);
                    format!("{ns}/{name}")
                })
                .collect();
            let c = p.counts.unwrap_or_default();
            PoolRow {
                name: p.name.clone(),
                disabled: p.disabled,
                conflicting: p.conflicting(),
                ips_available: services_known.then(|| c.available.to_string()),
                ips_used: services_known.then(|| c.used.to_string()),
                ips_total: c.total.to_string(),
                blocks: p
                    .blocks
                    .iter()
                    .map(|b| match (&b.cidr, &b.start, &b.stop) {
                        (Some(c), _, _) => c.clone(),
                        (None, Some(s), Some(e)) => format!("{s}-{e}"),
                        (None, Some(s), None) => s.clone(),
                        _ => "<empty>".into(),
                    })
                    .collect(),
                services: services_known.then_some(services),
                errors: p
                    .errors
                    .iter()
                    .cloned()
                    .chain(p.selector.as_ref().err().cloned())
                    .collect(),
                age: age(snap.now, v),
            }
        })
        .collect();
    if rows.is_empty() {
        if let Some(nm) = &args.name {
            return Err(CodedError {
                code: crate::output::Exit::Problem,
                message: format!("pool {nm:?} not found"),
            }
            .into());
        }
        // The table form says so instead of printing an empty table; programs get `[]`.
        if matches!(printer.format, OutputFormat::Table | OutputFormat::Wide) {
            return crate::output::write_stdout(
                "No CiliumLoadBalancerIPPool found: Services get no IP until one exists (`lbctl doctor svc/NAME` proposes one).\n",
            );
        }
    }
    printer.emit(&Pools(rows))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyRow {
    name: String,
    service_selector: String,
    node_selector: String,
    load_balancer_ips: bool,
    external_ips: bool,
    interfaces: Vec<String>,
    bad_conditions: Vec<String>,
    /// `None` when Services (or, for nodes, Nodes) could not be read.
    services: Option<Vec<String>>,
    nodes: Option<Vec<String>>,
    age: String,
}

/// `-o json|yaml`: the rows as an array.
#[derive(Serialize)]
#[serde(transparent)]
struct Policies(Vec<PolicyRow>);

impl Render for Policies {
    fn human(&self, wide: bool, style: Style) -> String {
        let mut t = style.plain_table();
        let mut h = vec![
            "NAME",
            "LB IPS",
            "EXTERNAL IPS",
            "INTERFACES",
            "SERVICES",
            "PROBLEMS",
            "AGE",
        ];
        if wide {
            h.extend(["SERVICE SELECTOR", "NODE SELECTOR", "NODES"]);
        }
        t.set_header(h);
        for r in &self.0 {
            let mut row = vec![
                r.name.clone(),
                r.load_balancer_ips.to_string(),
                r.external_ips.to_string(),
                if r.interfaces.is_empty() {
                    "<all>".into()
                } else {
                    r.interfaces.join(",")
                },
                match &r.services {
                    None => UNKNOWN.into(),
                    Some(s) if wide => s.join(","),
                    Some(s) => s.len().to_string(),
                },
                if r.bad_conditions.is_empty() {
                    "<none>".into()
                } else {
                    r.bad_conditions.join("; ")
                },
                r.age.clone(),
            ];
            if wide {
                row.extend([
                    r.service_selector.clone(),
                    r.node_selector.clone(),
                    r.nodes.as_ref().map_or(UNKNOWN.into(), |n| n.join(",")),
                ]);
            }
            t.add_row(row);
        }
        format!("{t}\n")
    }
}

/// `lbctl policies [NAME]`.
pub async fn policies(conn: &Connection, args: &ListArgs, printer: &Printer) -> anyhow::Result<()> {
    let snap = snapshot(conn, args, &Plan::POLICIES).await?;
    let services_known = snap.unread(Source::Services).is_none();
    let nodes_known = snap.unread(Source::Nodes).is_none();
    if snap.policies.is_none() {
        return Err(CodedError {
            code: crate::output::Exit::Problem,
            message:
                "Cilium CRDs not installed: ciliuml2announcementpolicies.cilium.io is not served"
                    .into(),
        }
        .into());
    }
    let cluster = Cluster::new(&snap);
    let raw: Vec<&Value> = snap.policies.iter().flatten().collect();
    let lbs: Vec<_> = snap
        .services
        .iter()
        .filter(|s| super::snapshot::is_load_balancer(s))
        .map(service_facts)
        .collect();
    let rows: Vec<PolicyRow> = cluster
        .policies
        .iter()
        .zip(raw)
        .filter(|(p, _)| args.name.as_deref().is_none_or(|nm| nm == p.name))
        .map(|(p, v)| {
            let services: Vec<String> = lbs
                .iter()
                .filter(|f| {
                    p.service_selector
                        .as_ref()
                        .is_ok_and(|s| s.matches(&f.labels))
                })
                .filter(|f| {
                    matches!(
                        f.view.load_balancer_class.as_deref(),
                        None | Some(n::LB_CLASS_L2)
                    )
                })
                .filter(|f| {
                    (p.load_balancer_ips && !f.view.ingress_ips.is_empty())
                        || (p.external_ips && !f.external_ips.is_empty())
                })
                .map(|f| format!("{}/{}", f.view.namespace, f.view.name))
                .collect();
            let nodes: Vec<String> = cluster
                .nodes
                .iter()
                .filter(|nd| {
                    p.node_selector
                        .as_ref()
                        .is_ok_and(|s| s.matches(&nd.labels))
                })
                .map(|nd| nd.name.clone())
                .collect();
            let mut bad: Vec<String> = p
                .bad
                .iter()
                .map(|c| format!("{}: {}", c.type_, c.message))
                .collect();
            bad.extend(p.regex_errors.iter().map(|e| format!("interfaces: {e}")));
            if let Err(e) = &p.service_selector {
                bad.push(format!("serviceSelector: {e}"));
            }
            if let Err(e) = &p.node_selector {
                bad.push(format!("nodeSelector: {e}"));
            }
            PolicyRow {
                name: p.name.clone(),
                service_selector: p.service_selector_text.clone(),
                node_selector: p.node_selector_text.clone(),
                load_balancer_ips: p.load_balancer_ips,
                external_ips: p.external_ips,
                interfaces: p.interfaces.clone(),
                bad_conditions: bad,
                services: services_known.then_some(services),
                nodes: nodes_known.then_some(nodes),
                age: age(snap.now, v),
            }
        })
        .collect();
    printer.emit(&Policies(rows))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LeaseRow {
    name: String,
    namespace: String,
    service: Option<String>,
    holder: String,
    renewed_seconds_ago: Option<i64>,
    lease_duration_seconds: Option<i64>,
    transitions: i64,
    state: String,
    holder_ready: Option<bool>,
}

/// `-o json|yaml`: the rows as an array.
#[derive(Serialize)]
#[serde(transparent)]
struct Leases(Vec<LeaseRow>);

impl Render for Leases {
    fn human(&self, wide: bool, style: Style) -> String {
        let mut t = style.plain_table();
        let mut h = vec![
            "SERVICE",
            "HOLDER",
            "RENEWED",
            "DURATION",
            "TRANSITIONS",
            "STATE",
            "HOLDER READY",
        ];
        if wide {
            h.push("LEASE");
        }
        t.set_header(h);
        for r in &self.0 {
            let mut row = vec![
                r.service.clone().unwrap_or_else(|| "<none>".into()),
                if r.holder.is_empty() {
                    "<none>".into()
                } else {
                    r.holder.clone()
                },
                r.renewed_seconds_ago
                    .map_or("never".into(), |a| format!("{} ago", human_duration(a))),
                r.lease_duration_seconds
                    .map_or("<unset>".into(), |d| format!("{d}s")),
                r.transitions.to_string(),
                r.state.clone(),
                r.holder_ready.map_or("<unknown>".into(), |b| b.to_string()),
            ];
            if wide {
                row.push(format!("{}/{}", r.namespace, r.name));
            }
            t.add_row(row);
        }
        format!("{t}\n")
    }
}

/// `lbctl leases [svc/NAME]`.
pub async fn leases(
    conn: &Connection,
    args: &ListArgs,
    default_ns: &str,
    printer: &Printer,
) -> anyhow::Result<()> {
    let snap = snapshot(conn, args, &Plan::LEASES).await?;
    let services_known = snap.unread(Source::Services).is_none();
    let nodes_known = snap.unread(Source::Nodes).is_none();
    let cluster = Cluster::new(&snap);
    let want = match &args.name {
        Some(a) => {
            let (ns, name) = super::cmd::parse_target(a, default_ns)?;
            Some(n::l2_lease_name(&ns, &name))
        }
        None => None,
    };
    let by_lease: std::collections::HashMap<String, String> = snap
        .services
        .iter()
        .map(|s| {
            let (ns, name) = super::snapshot::svc_key(s);
            (n::l2_lease_name(ns, name), format!("{ns}/{name}"))
        })
        .collect();
    let prefix = format!("{}-", n::L2_LEASE_PREFIX);
    let mut names: Vec<&String> = cluster
        .leases
        .keys()
        .filter(|k| k.starts_with(&prefix))
        .collect();
    names.sort();
    let rows: Vec<LeaseRow> = names
        .into_iter()
        .filter(|k| want.as_deref().is_none_or(|w| w == k.as_str()))
        .filter_map(|k| cluster.leases.get(k))
        .map(|l| {
            let service = by_lease.get(&l.name).cloned();
            let node = cluster
                .nodes
                .iter()
                .find(|nd| nd.name == l.holder && nd.is_node);
            // Without Services a lease cannot be called orphaned, without Nodes its holder
            // cannot be called gone: those states are only claimed on evidence.
            let state = if service.is_none() && services_known {
                "orphaned"
            } else if l.holder.is_empty() {
                "released"
            } else if l.expired(snap.now) {
                "expired"
            } else if node.is_none() && nodes_known {
                "holder-gone"
            } else {
                "held"
            };
            LeaseRow {
                name: l.name.clone(),
                namespace: snap.agent_namespace.clone(),
                service,
                holder: l.holder.clone(),
                renewed_seconds_ago: l.age(snap.now),
                lease_duration_seconds: l.duration,
                transitions: l.transitions,
                state: state.into(),
                holder_ready: node.and_then(|nd| nd.ready),
            }
        })
        .collect();
    if rows.is_empty() {
        if let Some(w) = want {
            return Err(CodedError {
                code: crate::output::Exit::Problem,
                message: format!("no lease {}/{w}", snap.agent_namespace),
            }
            .into());
        }
    }
    printer.emit(&Leases(rows))
}
