//! Shell completion that asks the cluster: Service names after `doctor svc/` (or `doctor NS/`),
//! namespaces after `-n`, contexts after `--context`, the embedded scenarios after
//! `--scenario`. The shell calls lbctl back at each TAB (`COMPLETE=SHELL lbctl -- WORDS`,
//! clap_complete's protocol); `lbctl completions SHELL` prints the script that does.
//!
//! A completer sees only the word being completed, not the other flags: the cluster is the one
//! `$KUBECONFIG` (else `~/.kube/config`) selects, and `svc/` lists the context's namespace.
//! Whatever fails (no cluster, a slow one) completes nothing rather than hanging the shell.

use std::ffi::OsStr;
use std::time::Duration;

use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use serde_json::Value;

/// How long a TAB may wait for the cluster.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(2);

/// The variable clap_complete's protocol uses.
pub const VAR: &str = "COMPLETE";

/// Answers a completion request and exits when lbctl was called back by the shell; returns
/// otherwise. Must run before anything is printed.
pub fn answer_if_asked() {
    clap_complete::CompleteEnv::with_factory(command)
        .var(VAR)
        .complete();
}

/// The command line of `cli` with the completers attached. They are attached here rather than
/// in `cli`'s definitions so that the argument layer stays below the cluster and the lab that
/// the completers ask.
pub fn command() -> clap::Command {
    crate::cli::command()
        .mut_arg("context", |a| a.add(ArgValueCompleter::new(contexts)))
        .mut_arg("namespace", |a| a.add(ArgValueCompleter::new(namespaces)))
        .mut_subcommand("doctor", |c| {
            c.mut_arg("service", |a| a.add(ArgValueCompleter::new(services)))
        })
        .mut_subcommand("lab", |c| {
            c.mut_subcommand("up", |u| {
                u.mut_arg("scenarios", |a| a.add(ArgValueCompleter::new(scenarios)))
            })
        })
}

/// Writes the script `shell` sources to complete lbctl: it calls lbctl back at each TAB, so
/// Services, namespaces and contexts complete from the cluster.
pub fn write_completion(shell: clap_complete::Shell, out: &mut Vec<u8>) -> std::io::Result<()> {
    let name = shell.to_string();
    let shells = clap_complete::env::Shells::builtins();
    let Some(env) = shells.completer(&name) else {
        return Err(std::io::Error::other(format!("no completion for {name}")));
    };
    env.write_registration(VAR, "lbctl", "lbctl", "lbctl", out)
}

/// Runs `f` against the cluster, bounded by [`CLUSTER_TIMEOUT`]; `None` on any failure.
fn ask_cluster<T>(f: impl AsyncFnOnce(crate::cluster::Connection) -> Option<T>) -> Option<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let target = crate::cluster::Target {
            request_timeout: Some(CLUSTER_TIMEOUT),
            ..Default::default()
        };
        tokio::time::timeout(CLUSTER_TIMEOUT, async {
            let conn = target.connect().await.ok()?;
            f(conn).await
        })
        .await
        .ok()
        .flatten()
    })
}

async fn names(conn: &crate::cluster::Connection, path: &str) -> Option<Vec<Value>> {
    let list: Value = conn
        .client
        .request(http::Request::get(path).body(Vec::new()).ok()?)
        .await
        .ok()?;
    Some(list["items"].as_array()?.clone())
}

fn name(item: &Value) -> Option<&str> {
    item["metadata"]["name"].as_str()
}

/// `-n`: the cluster's namespaces.
pub fn namespaces(current: &OsStr) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    ask_cluster(async |conn| names(&conn, "/api/v1/namespaces").await)
        .unwrap_or_default()
        .iter()
        .filter_map(name)
        .filter(|n| n.starts_with(&*prefix))
        .map(CompletionCandidate::new)
        .collect()
}

/// `doctor`'s Service: `svc/`, `service/` and `services/` complete with the LoadBalancer
/// Services of the context's namespace, `NS/` with those of NS, a bare word with `svc/` or
/// a namespace.
pub fn services(current: &OsStr) -> Vec<CompletionCandidate> {
    let word = current.to_string_lossy();
    let Some((head, rest)) = word.split_once('/') else {
        // A kind or a namespace comes first.
        let mut heads: Vec<String> = vec!["svc/".into(), "service/".into()];
        heads.extend(
            ask_cluster(async |conn| names(&conn, "/api/v1/namespaces").await)
                .unwrap_or_default()
                .iter()
                .filter_map(name)
                .map(|n| format!("{n}/")),
        );
        return heads
            .into_iter()
            .filter(|c| c.starts_with(&*word))
            .map(CompletionCandidate::new)
            .collect();
    };
    let head = head.to_owned();
    let rest = rest.to_owned();
    let kind = matches!(head.as_str(), "svc" | "service" | "services");
    ask_cluster(async |conn| {
        let ns = if kind {
            conn.default_namespace.clone()
        } else {
            head.clone()
        };
        let items = names(&conn, &format!("/api/v1/namespaces/{ns}/services")).await?;
        Some(
            items
                .iter()
                .filter(|s| s["spec"]["type"].as_str() == Some("LoadBalancer"))
                .filter_map(name)
                .filter(|n| n.starts_with(&rest))
                .map(|n| CompletionCandidate::new(format!("{head}/{n}")))
                .collect(),
        )
    })
    .unwrap_or_default()
}

/// `--context`: the contexts of the kubeconfig (read locally, no cluster asked).
pub fn contexts(current: &OsStr) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    kube::config::Kubeconfig::read()
        .map(|kc| kc.contexts)
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.name)
        .filter(|n| n.starts_with(&*prefix))
        .map(CompletionCandidate::new)
        .collect()
}

/// `--scenario`: the embedded scenarios (a file path is completed by the shell as usual).
pub fn scenarios(current: &OsStr) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    crate::lab::scenario::EMBEDDED
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| n.starts_with(&*prefix))
        .map(CompletionCandidate::new)
        .collect()
}
