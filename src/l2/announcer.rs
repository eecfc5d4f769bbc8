//! The announcer's control loop: watches policies, Services, this node's labels and the lease
//! namespace; contends for one Lease per selected Service; and publishes the table of
//! (IP, interface) entries this node leads, which the responder answers for.
//!
//! The table changes only on leadership transitions. Fencing does not depend on the table being
//! republished: every entry carries the lease's state receiver, and the responder checks
//! `is_leading_at(now)` before each answer, so an entry goes silent the instant its renew deadline
//! passes even if this loop is stuck.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Patch, PatchParams};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::l2::consistency::{self, Health, Mismatch, Serving};
use crate::l2::policy::{self, Announcement, Device, EndpointInfo, PolicyCondition, ServiceInfo};
use crate::l2::sharing;
use crate::lease::{LeaderState, LeaseConfig, LeaseHandle, Timings};
use crate::model::ciliumnode::CiliumNode;
use crate::model::names;
use crate::model::policy::CiliumL2AnnouncementPolicy;

/// The label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

#[derive(Clone, Debug)]
pub struct AnnouncerConfig {
    pub node_name: String,
    pub lease_namespace: String,
    pub lease_prefix: String,
    pub timings: Timings,
    pub field_manager: String,
}

/// One (IP, interface) this node answers for while it leads the Service's lease.
#[derive(Clone, Debug)]
pub struct Entry {
    pub ip: IpAddr,
    pub interface: String,
    pub service: (String, String),
    pub since: Instant,
    pub leader: watch::Receiver<LeaderState>,
}

impl Entry {
    /// Whether this node may answer for the entry now (the fencing check).
    pub fn is_valid(&self) -> bool {
        self.leader.borrow().is_leading_at(Instant::now())
    }
}

pub type Table = BTreeMap<(IpAddr, String), Entry>;

/// Lease name for a Service: `<prefix>-<ns>-<name>`, Cilium's scheme with a configurable prefix.
pub(crate) fn lease_name(prefix: &str, ns: &str, name: &str) -> String {
    if prefix == names::L2_LEASE_PREFIX {
        names::l2_lease_name(ns, name)
    } else {
        format!("{prefix}-{ns}-{name}")
    }
}

/// Reads a Service into what the policy code needs; unparsable IPs are skipped.
pub(crate) fn service_info(svc: &Service) -> ServiceInfo {
    let spec = svc.spec.as_ref();
    ServiceInfo {
        namespace: svc.namespace().unwrap_or_default(),
        name: svc.name_any(),
        labels: svc.labels().clone(),
        load_balancer_class: spec.and_then(|s| s.load_balancer_class.clone()),
        ingress_ips: svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|i| i.ip.as_deref().and_then(|ip| ip.parse().ok()))
            .collect(),
        external_ips: spec
            .and_then(|s| s.external_ips.as_ref())
            .map(|v| v.iter().filter_map(|ip| ip.parse().ok()).collect()),
        traffic_local: spec.and_then(|s| s.external_traffic_policy.as_deref()) == Some("Local"),
    }
}

/// Services with a ready endpoint on `node`, from the EndpointSlice cache.
fn local_endpoints(slices: &[Arc<EndpointSlice>], node: &str) -> BTreeSet<(String, String)> {
    let infos: Vec<(String, Option<String>, Vec<EndpointInfo>)> = slices
        .iter()
        .map(|s| {
            (
                s.namespace().unwrap_or_default(),
                s.labels().get(SERVICE_NAME_LABEL).cloned(),
                s.endpoints
                    .iter()
                    .flatten()
                    .map(|e| EndpointInfo {
                        node_name: e.node_name.clone(),
                        ready: e.conditions.as_ref().and_then(|c| c.ready),
                    })
                    .collect(),
            )
        })
        .collect();
    policy::services_with_local_endpoints(
        infos
            .iter()
            .map(|(ns, svc, eps)| (ns.as_str(), svc.as_deref(), eps.as_slice())),
        node,
    )
}

struct Held {
    handle: LeaseHandle,
    announcement: Announcement,
}

/// Shared, read-only view for introspection (`lbctl debug`).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub selected: BTreeMap<(String, String), Announcement>,
    pub devices: Vec<Device>,
}

/// `check` is the responder's served view and where the self-check reports; without it (no
/// responder) there is nothing to check.
///
/// Runs until `shutdown` fires, then releases every lease it holds (so another node takes over
/// at once) and returns.
pub async fn run(
    client: Client,
    cfg: AnnouncerConfig,
    devices: Arc<dyn Fn() -> Vec<Device> + Send + Sync>,
    table_tx: watch::Sender<Table>,
    snapshot_tx: watch::Sender<Snapshot>,
    check: Option<(Serving, Arc<Health>)>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (svc_store, svc_writer) = reflector::store::<Service>();
    let (pol_store, pol_writer) = reflector::store::<CiliumL2AnnouncementPolicy>();
    let (node_store, node_writer) = reflector::store::<Node>();
    let (cn_store, cn_writer) = reflector::store::<CiliumNode>();
    let (eps_store, eps_writer) = reflector::store::<EndpointSlice>();
    let (dirty_tx, mut dirty_rx) = mpsc::channel::<()>(1);

    let mut watchers = Vec::new();
    let by_name = watcher::Config::default().fields(&format!("metadata.name={}", cfg.node_name));
    watchers.push(spawn_reflector(
        reflector(
            svc_writer,
            watcher(Api::<Service>::all(client.clone()), Default::default()),
        ),
        dirty_tx.clone(),
    ));
    watchers.push(spawn_reflector(
        reflector(
            pol_writer,
            watcher(
                Api::<CiliumL2AnnouncementPolicy>::all(client.clone()),
                Default::default(),
            ),
        ),
        dirty_tx.clone(),
    ));
    // For externalTrafficPolicy: Local, candidacy follows where the endpoints are.
    watchers.push(spawn_reflector(
        reflector(
            eps_writer,
            watcher(
                Api::<EndpointSlice>::all(client.clone()),
                Default::default(),
            ),
        ),
        dirty_tx.clone(),
    ));
    watchers.push(spawn_reflector(
        reflector(
            node_writer,
            watcher(Api::<Node>::all(client.clone()), by_name.clone()),
        ),
        dirty_tx.clone(),
    ));
    if crd_served(&client, "cilium.io", "v2", "ciliumnodes").await {
        watchers.push(spawn_reflector(
            reflector(
                cn_writer,
                watcher(Api::<CiliumNode>::all(client.clone()), by_name),
            ),
            dirty_tx.clone(),
        ));
    }

    // Released leases (holder cleared) are taken at once rather than after a retry period.
    let (released_tx, mut released_rx) = mpsc::channel::<String>(1024);
    {
        let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.lease_namespace);
        let prefix = format!("{}-", cfg.lease_prefix);
        watchers.push(tokio::spawn(async move {
            // With backoff: a refused or failing LIST must not become a tight retry loop.
            let mut s = watcher(api, Default::default())
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Some(ev) = s.next().await {
                if let Err(e) = &ev {
                    tracing::warn!(error = %e, "lease watch failed, retrying");
                }
                if let Ok(lease) = ev {
                    let free = lease
                        .spec
                        .as_ref()
                        .and_then(|s| s.holder_identity.as_deref())
                        .is_none_or(str::is_empty);
                    if free
                        && lease.name_any().starts_with(&prefix)
                        && released_tx.send(lease.name_any()).await.is_err()
                    {
                        return;
                    }
                }
            }
        }));
    }

    let gc_api: Api<Lease> = Api::namespaced(client.clone(), &cfg.lease_namespace);
    let mut gc_tick = tokio::time::interval(Duration::from_secs(names::L2_LEASE_GC_INTERVAL_SECS));
    let mut held: HashMap<(String, String), Held> = HashMap::new();
    let (leader_tx, mut leader_rx) = mpsc::channel::<()>(1);
    let mut written_conditions: HashMap<String, Vec<PolicyCondition>> = HashMap::new();
    // Interfaces come and go and lose carrier without any API event; look once a second.
    let mut dev_tick = tokio::time::interval(Duration::from_secs(1));
    dev_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_devs: Vec<policy::Device> = Vec::new();
    // The self-check: what we lead against what the responder serves (see `consistency`).
    let mut check_tick = tokio::time::interval(Duration::from_secs(1));
    check_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut suspects: BTreeSet<Mismatch> = BTreeSet::new();
    let mut regexes = policy::RegexCache::default();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = check_tick.tick(), if check.is_some() => {
                let Some((serving, health)) = &check else { continue };
                let led = led_keys(&held);
                let now = consistency::diff(&led, &consistency::served_keys(serving));
                let found = consistency::confirmed(&suspects, &now);
                if !found.is_empty() {
                    // One line per look, not per VIP: a thousand at once must not flood the log.
                    let first: Vec<String> = found
                        .iter()
                        .take(5)
                        .map(|m| format!("{:?} {} on {}", m.kind, m.ip, m.interface))
                        .collect();
                    tracing::warn!(mismatches = found.len(), first = ?first,
                        "the responder's table disagrees with the leases held; repairing");
                }
                health.record(&found);
                if !found.is_empty() {
                    // Republish unconditionally: the responder reapplies every table it gets
                    // and restarts interface tasks that have ended.
                    table_tx.send_replace(build_table(&held));
                    suspects.clear();
                } else {
                    suspects = now;
                }
                continue;
            }
            _ = dev_tick.tick() => {
                if devices() == last_devs {
                    continue;
                }
            }
            Some(()) = dirty_rx.recv() => {
                // Let a burst of events settle before recomputing.
                tokio::time::sleep(Duration::from_millis(20)).await;
                while dirty_rx.try_recv().is_ok() {}
            }
            Some(()) = leader_rx.recv() => {
                // One rebuild for a burst of transitions (a thousand leases won at once).
                while leader_rx.try_recv().is_ok() {}
                publish(&held, &table_tx);
                continue;
            }
            Some(name) = released_rx.recv() => {
                if let Some(h) = held.values().find(|h| h.handle.key().ends_with(&format!("/{name}"))) {
                    h.handle.nudge();
                }
                continue;
            }
            _ = gc_tick.tick() => {
                if let Err(e) = crate::lease::gc_once(&gc_api, &cfg.lease_prefix).await {
                    tracing::debug!(error = %e, "lease GC failed");
                }
                continue;
            }
        }
        let started = std::time::Instant::now();
        let node_labels = cn_store
            .get(&reflector::ObjectRef::new(&cfg.node_name))
            .map(|n| n.labels().clone())
            .or_else(|| {
                node_store
                    .get(&reflector::ObjectRef::new(&cfg.node_name))
                    .map(|n| n.labels().clone())
            })
            .unwrap_or_default();
        let devs = devices();
        last_devs.clone_from(&devs);
        let policies: Vec<_> = pol_store.state();
        let evaluated: Vec<policy::EvaluatedPolicy> = policies
            .iter()
            .map(|p| {
                policy::evaluate_cached(&mut regexes, &p.name_any(), &p.spec, &node_labels, &devs)
            })
            .collect();
        regexes.retain_used();
        for (p, e) in policies.iter().zip(&evaluated) {
            write_policy_status(&client, &cfg, p, &e.errors, &mut written_conditions).await;
        }
        let services: Vec<ServiceInfo> =
            svc_store.state().iter().map(|s| service_info(s)).collect();
        let mut selected = policy::select_services(&evaluated, &services);
        // Reading every EndpointSlice is only worth it when some Service needs it.
        if services.iter().any(|s| s.traffic_local) {
            policy::keep_local_traffic_serviceable(
                &mut selected,
                &services,
                &local_endpoints(&eps_store.state(), &cfg.node_name),
            );
        }
        selected.retain(|k, a| {
            let ok = a.can_contend();
            if !ok && held.contains_key(k) {
                tracing::info!(service = ?k, interfaces = ?a.interfaces_down,
                    "every announcing interface lost its link; giving the lease up");
            }
            ok
        });

        // Stop contending for what is no longer selected: release so another node can take it.
        let gone: Vec<_> = held
            .keys()
            .filter(|k| !selected.contains_key(*k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(h) = held.remove(&k) {
                tokio::spawn(async move {
                    if let Err(e) = h.handle.release().await {
                        tracing::warn!(error = %e, "releasing lease");
                    }
                });
            }
        }
        for (k, a) in &selected {
            match held.get_mut(k) {
                Some(h) => h.announcement = a.clone(),
                None => {
                    let lease = LeaseConfig::new(
                        &cfg.lease_namespace,
                        lease_name(&cfg.lease_prefix, &k.0, &k.1),
                        &cfg.node_name,
                        cfg.timings,
                    );
                    match LeaseHandle::spawn(client.clone(), lease) {
                        Ok(handle) => {
                            forward_transitions(handle.subscribe(), leader_tx.clone());
                            held.insert(
                                k.clone(),
                                Held {
                                    handle,
                                    announcement: a.clone(),
                                },
                            );
                        }
                        Err(e) => {
                            tracing::error!(error = %e, service = ?k, "cannot contend for lease")
                        }
                    }
                }
            }
        }
        publish(&held, &table_tx);
        snapshot_tx.send_replace(Snapshot {
            selected,
            devices: devs,
        });
        if let Some((_, health)) = &check {
            health
                .recompute_duration
                .observe(started.elapsed().as_secs_f64());
        }
    }
    for w in &watchers {
        w.abort();
    }
    // Stop answering first, then give the leases back so another node takes over at once.
    table_tx.send_replace(Table::new());
    let releases: Vec<_> = held.into_values().map(|h| h.handle.release()).collect();
    for r in futures::future::join_all(releases).await {
        if let Err(e) = r {
            tracing::warn!(error = %e, "releasing lease on shutdown");
        }
    }
}

fn spawn_reflector<K, S>(stream: S, dirty: mpsc::Sender<()>) -> tokio::task::JoinHandle<()>
where
    K: Send + 'static,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut s = stream.default_backoff().boxed();
        while let Some(ev) = s.next().await {
            // The kube stack's own logs are off without -v, so a refused or failing watch must
            // be said here (a 403 means the RBAC is short; backoff bounds the rate).
            if let Err(e) = &ev {
                tracing::warn!(error = %e, "watch failed, retrying");
            }
            // A full channel already means "recompute soon".
            let _ = dirty.try_send(());
        }
    })
}

/// The leadership term a state stands for: `Some(since)` while leading. Lost and retaken between
/// two looks is a new term too (its VIPs are announced again).
fn term(state: &LeaderState) -> Option<Instant> {
    match state {
        LeaderState::Leading { since, .. } => Some(*since),
        LeaderState::Following { .. } => None,
    }
}

/// Forwards every change of term to the announcer loop, which then republishes the table.
///
/// The receiver is marked seen here, synchronously, before the task exists: the state read now
/// is the one the caller's next `publish` also sees (it runs after this), and every later change
/// wakes `changed()`. Reading it only when the task first ran (the old code) swallowed a lease
/// won in between, and the holder stayed silent until something else caused a recompute.
fn forward_transitions(mut rx: watch::Receiver<LeaderState>, tx: mpsc::Sender<()>) {
    let mut was = term(&rx.borrow_and_update());
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let now = term(&rx.borrow_and_update());
            if now != was {
                was = now;
                if tx.send(()).await.is_err() {
                    return;
                }
            }
        }
    });
}

/// The VIPs each led Service answers for: shared VIPs only under their primary Service (see
/// [`sharing`]). The table and the self-check both go through this, so the check never
/// "repairs" a non-primary sharer's VIP back into the table.
fn served_vips(
    held: &HashMap<(String, String), Held>,
) -> BTreeMap<(String, String), BTreeSet<IpAddr>> {
    sharing::vips_to_serve(held.iter().map(|(k, h)| {
        (
            k,
            &h.announcement.ips,
            matches!(h.handle.state(), LeaderState::Leading { .. }),
        )
    }))
}

/// The (IP, interface) keys of [`build_table`], without building entries.
fn led_keys(held: &HashMap<(String, String), Held>) -> BTreeSet<consistency::Key> {
    served_vips(held)
        .into_iter()
        .flat_map(|(k, ips)| {
            let ifaces = &held[&k].announcement.interfaces;
            ips.into_iter()
                .flat_map(move |ip| ifaces.iter().map(move |iface| (ip, iface.clone())))
        })
        .collect()
}

/// The table this node's leases call for: every (IP, interface) it answers for.
fn build_table(held: &HashMap<(String, String), Held>) -> Table {
    let mut table = Table::new();
    for (k, ips) in served_vips(held) {
        let h = &held[&k];
        // Read again rather than trusting `served_vips`: the state may have moved since.
        let LeaderState::Leading { since, .. } = h.handle.state() else {
            continue;
        };
        for ip in &ips {
            for iface in &h.announcement.interfaces {
                table.insert(
                    (*ip, iface.clone()),
                    Entry {
                        ip: *ip,
                        interface: iface.clone(),
                        service: k.clone(),
                        since,
                        leader: h.handle.subscribe(),
                    },
                );
            }
        }
    }
    table
}

fn publish(held: &HashMap<(String, String), Held>, table_tx: &watch::Sender<Table>) {
    let table = build_table(held);
    let changed = {
        let old = table_tx.borrow();
        old.len() != table.len()
            || old
                .iter()
                .zip(&table)
                .any(|((a, x), (b, y))| a != b || x.since != y.since || x.service != y.service)
    };
    if changed {
        table_tx.send_replace(table);
    }
}

async fn crd_served(client: &Client, group: &str, version: &str, plural: &str) -> bool {
    match client
        .list_api_group_resources(&format!("{group}/{version}"))
        .await
    {
        Ok(list) => list.resources.iter().any(|r| r.name == plural),
        Err(_) => false,
    }
}

async fn write_policy_status(
    client: &Client,
    cfg: &AnnouncerConfig,
    p: &CiliumL2AnnouncementPolicy,
    errors: &policy::PolicyErrors,
    written: &mut HashMap<String, Vec<PolicyCondition>>,
) {
    let name = p.name_any();
    let existing: Vec<PolicyCondition> = p
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .map(|c| PolicyCondition {
            type_: c.type_.clone(),
            status: match c.status.as_str() {
                "True" => "True",
                "False" => "False",
                _ => "Unknown",
            },
            reason: c.reason.clone(),
            message: c.message.clone(),
            observed_generation: c.observed_generation.unwrap_or_default(),
        })
        .collect();
    let generation = p.metadata.generation.unwrap_or_default();
    let Some(desired) = policy::desired_conditions(&existing, errors, generation) else {
        return;
    };
    if written.get(&name) == Some(&desired) {
        return;
    }
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let conditions: Vec<_> = desired
        .iter()
        .map(|c| {
            let prev = p
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|x| x.type_ == c.type_));
            let ltt = match prev {
                Some(x) if x.status == c.status => {
                    serde_json::to_value(&x.last_transition_time).unwrap_or_else(|_| json!(now))
                }
                _ => json!(now),
            };
            json!({"type": c.type_, "status": c.status, "reason": c.reason, "message": c.message,
                   "observedGeneration": c.observed_generation, "lastTransitionTime": ltt})
        })
        .collect();
    let api: Api<CiliumL2AnnouncementPolicy> = Api::all(client.clone());
    let pp = PatchParams::apply(&cfg.field_manager);
    let patch = Patch::Merge(json!({"status": {"conditions": conditions}}));
    match api
        .patch_status(&name, &PatchParams { force: false, ..pp }, &patch)
        .await
    {
        Ok(_) => {
            written.insert(name, desired);
        }
        Err(e) => tracing::warn!(policy = %name, error = %e, "writing policy status"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leading(since: Instant) -> LeaderState {
        LeaderState::Leading {
            since,
            valid_until: since + Duration::from_secs(10),
        }
    }

    /// A lease won after the subscription but before the forwarding task first runs is still
    /// forwarded (the silent holder of issue #11). A current-thread runtime makes the order
    /// exact: the task cannot run before the first await.
    #[tokio::test(flavor = "current_thread")]
    async fn a_term_won_before_the_forwarder_first_runs_is_forwarded() {
        let (state_tx, state_rx) = watch::channel(LeaderState::Following { holder: None });
        let (tx, mut rx) = mpsc::channel(4);
        forward_transitions(state_rx, tx);
        state_tx.send_replace(leading(Instant::now()));
        let got = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await;
        assert_eq!(got, Ok(Some(())), "the won term was not forwarded");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn every_term_change_is_forwarded_once() {
        let (state_tx, state_rx) = watch::channel(LeaderState::Following { holder: None });
        let (tx, mut rx) = mpsc::channel(16);
        forward_transitions(state_rx, tx);
        tokio::task::yield_now().await;
        let t0 = Instant::now();
        // A renewal (same term, later deadline) is no transition.
        for state in [
            leading(t0),
            LeaderState::Leading {
                since: t0,
                valid_until: t0 + Duration::from_secs(20),
            },
        ] {
            state_tx.send_replace(state);
            tokio::task::yield_now().await;
        }
        assert_eq!(rx.try_recv(), Ok(()));
        assert!(rx.try_recv().is_err(), "a renewal was forwarded");
        // Lost and retaken before the forwarder looked: a new term, forwarded.
        state_tx.send_replace(LeaderState::Following { holder: None });
        state_tx.send_replace(leading(t0 + Duration::from_millis(5)));
        tokio::task::yield_now().await;
        assert_eq!(rx.try_recv(), Ok(()));
        state_tx.send_replace(LeaderState::Following { holder: None });
        tokio::task::yield_now().await;
        assert_eq!(rx.try_recv(), Ok(()));
    }
}
