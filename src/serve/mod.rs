//! `lbctl serve`: the engines a node runs (composed in [`compose`] from a [`ServePlan`]) and
//! the IPAM loop, the wiring around the pure IPAM controller. Watchers feed a local cache;
//! while this process leads, every batch of events goes through [`Controller::reconcile`] and
//! only statuses that differ from the cluster are patched.
//!
//! The shape follows kube-rs' controller-rs: the reconcile step is a plain async function over
//! the state and a context; HTTP endpoints and leader election sit apart.

pub(crate) mod compose;
pub(crate) mod convert;
pub mod debug;
pub mod leader;
pub mod metrics;
pub mod plan;
pub mod status;

pub use compose::{cmd, run};
pub(crate) use debug::DebugTopics;
pub use plan::{HostDefaults, ServePlan};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Service, ServiceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::ipam::controller::{Changes, Controller, ServiceKey};
use crate::ipam::engine::EngineConfig;
use crate::model::pool::{v2, v2alpha1, PoolView};

/// Settings of the IPAM loop.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub engine: EngineConfig,
    pub field_manager: String,
    /// Status patches in flight at once.
    pub write_concurrency: usize,
    /// `timeoutSeconds` of the watches: shorter than the client's read timeout, so a quiet
    /// watch is ended by the server, and one that goes silent longer is a dead connection
    /// (see [`crate::cluster::watch_timeout_secs`]). `None` keeps kube-rs' default.
    pub watch_timeout_secs: Option<u32>,
    /// How often the API server is asked whether it answers (`/readyz` turns 503 when not).
    pub api_check_period: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            engine: EngineConfig::default(),
            field_manager: crate::model::names::FIELD_MANAGER_LBCTL.to_owned(),
            write_concurrency: 32,
            watch_timeout_secs: None,
            api_check_period: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot list CiliumLoadBalancerIPPools (cilium.io/v2 nor v2alpha1): {0}")]
    NoPoolApi(kube::Error),
    #[error("watch channel closed")]
    Closed,
}

/// Which pool API version the cluster serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolVersion {
    V2,
    V2alpha1,
}

/// `cilium.io/v2` when served, else `v2alpha1`: Cilium before 1.18 serves the pool CRD only
/// as `v2alpha1`, which later releases keep as a deprecated version.
pub(crate) async fn detect_pool_version(client: &Client) -> Result<PoolVersion, ServeError> {
    let lp = ListParams::default().limit(1);
    match Api::<v2::CiliumLoadBalancerIPPool>::all(client.clone())
        .list_metadata(&lp)
        .await
    {
        Ok(_) => return Ok(PoolVersion::V2),
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(ServeError::NoPoolApi(e)),
    }
    Api::<v2alpha1::CiliumLoadBalancerIPPool>::all(client.clone())
        .list_metadata(&lp)
        .await
        .map(|_| PoolVersion::V2alpha1)
        .map_err(ServeError::NoPoolApi)
}

/// A pool of either version, reduced to what the loop needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PoolObj {
    pub name: String,
    pub resource_version: String,
    pub creation: Option<i64>,
    pub generation: Option<i64>,
    pub view: PoolView,
    pub conditions: Vec<Condition>,
}

impl PoolObj {
    fn from_v2(p: v2::CiliumLoadBalancerIPPool) -> PoolObj {
        PoolObj {
            name: p.metadata.name.clone().unwrap_or_default(),
            resource_version: p.metadata.resource_version.clone().unwrap_or_default(),
            creation: convert::creation_nanos(p.metadata.creation_timestamp.as_ref()),
            generation: p.metadata.generation,
            view: PoolView::from(&p.spec),
            conditions: p.status.and_then(|s| s.conditions).unwrap_or_default(),
        }
    }

    fn from_v2alpha1(p: v2alpha1::CiliumLoadBalancerIPPool) -> PoolObj {
        PoolObj {
            name: p.metadata.name.clone().unwrap_or_default(),
            resource_version: p.metadata.resource_version.clone().unwrap_or_default(),
            creation: convert::creation_nanos(p.metadata.creation_timestamp.as_ref()),
            generation: p.metadata.generation,
            view: PoolView::from(&p.spec),
            conditions: p.status.and_then(|s| s.conditions).unwrap_or_default(),
        }
    }

    fn same_spec(&self, other: &PoolObj) -> bool {
        self.view == other.view
            && self.generation == other.generation
            && self.creation == other.creation
    }
}

/// Watch events, version-independent.
#[derive(Debug)]
enum WEv<T> {
    Apply(T),
    Delete(T),
    Init,
    InitApply(T),
    InitDone,
}

impl<T> WEv<T> {
    fn map<K>(e: watcher::Event<K>, f: impl Fn(K) -> T) -> WEv<T> {
        match e {
            watcher::Event::Apply(k) => WEv::Apply(f(k)),
            watcher::Event::Delete(k) => WEv::Delete(f(k)),
            watcher::Event::Init => WEv::Init,
            watcher::Event::InitApply(k) => WEv::InitApply(f(k)),
            watcher::Event::InitDone => WEv::InitDone,
        }
    }
}

/// A Service reduced to what the loop keeps: converted in the watcher task so the full object
/// (managed fields, spec details) is dropped at once.
#[derive(Debug)]
struct SvcMsg {
    resource_version: String,
    status: Option<ServiceStatus>,
    obs: convert::SvcObs,
}

impl SvcMsg {
    fn from(svc: Service) -> SvcMsg {
        let obs = convert::service(&svc);
        SvcMsg {
            resource_version: svc.metadata.resource_version.unwrap_or_default(),
            status: svc.status,
            obs,
        }
    }
}

#[derive(Debug)]
enum Ev {
    Pool(WEv<PoolObj>),
    Svc(WEv<Box<SvcMsg>>),
}

/// Whether `new` is a later resourceVersion than `old`. They are opaque strings in the API;
/// every server in practice uses integers, and when one does not we accept any change.
fn newer(old: &str, new: &str) -> bool {
    match (old.parse::<u64>(), new.parse::<u64>()) {
        (Ok(a), Ok(b)) => b > a,
        _ => old != new,
    }
}

/// What the writer needs besides the controller's copy of the input: the status itself only
/// when it holds more than the input describes (see [`status::compact`]).
struct SvcEntry {
    resource_version: String,
    extra: Option<Box<ServiceStatus>>,
    condition_time: Option<jiff::Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Target {
    Svc(ServiceKey),
    Pool(String),
}

enum Job {
    Svc(ServiceKey, serde_json::Value),
    Pool(String, serde_json::Value),
}

enum Written {
    Svc(Box<SvcMsg>),
    Pool(PoolObj),
}

/// Status patches are sent in chunks so the bodies and responses in memory stay bounded.
const WRITE_CHUNK: usize = 512;

/// The IPAM loop's state (the "context" of controller-rs).
struct Ipam {
    cfg: ServeConfig,
    client: Client,
    version: PoolVersion,
    shared: Arc<metrics::Shared>,
    pools: BTreeMap<String, PoolObj>,
    svcs: HashMap<ServiceKey, SvcEntry>,
    /// Fed on every replica so a standby takes over without copying anything; only the
    /// leader reconciles it.
    ctl: Controller,
    /// The controller has reconciled (and so allocated) as leader.
    leading: bool,
    pools_synced: bool,
    svcs_synced: bool,
    pool_seen: Option<HashSet<String>>,
    svc_seen: Option<HashSet<ServiceKey>>,
    retry_at: BTreeMap<Target, Instant>,
    attempts: HashMap<Target, u32>,
    invalid_logged: HashMap<String, String>,
}

/// Runs the IPAM loop until `shutdown` resolves. Writes only while `leading` is true.
pub(crate) async fn run_ipam(
    client: Client,
    cfg: ServeConfig,
    mut leading: watch::Receiver<bool>,
    shared: Arc<metrics::Shared>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    tokio::pin!(shutdown);
    shared.register_ipam();
    let checker = tokio::spawn(check_api(
        client.clone(),
        shared.clone(),
        cfg.api_check_period,
    ));
    let _checker = AbortOnDrop(checker);
    let _mirror = AbortOnDrop(tokio::spawn(clear_leader_on_loss(
        leading.clone(),
        shared.clone(),
    )));
    let mut attempt = 0;
    // The API server may not answer yet (the node boots, the control plane restarts): wait
    // for it as the watchers would later, and give up only when it answers "not served".
    let version = loop {
        match detect_pool_version(&client).await {
            Ok(v) => break v,
            Err(ServeError::NoPoolApi(e)) if transient(&e) => {
                let wait = backoff(attempt);
                attempt = attempt.saturating_add(1);
                warn!(error = %e, retry_in = ?wait, "cannot list pools yet; retrying");
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            Err(e) => return Err(e),
        }
    };
    info!(?version, "watching CiliumLoadBalancerIPPools");
    let (tx, mut rx) = mpsc::channel::<Ev>(1024);
    spawn_watchers(&client, version, cfg.watch_timeout_secs, tx);
    let mut ipam = Ipam {
        cfg: cfg.clone(),
        client,
        version,
        shared,
        pools: BTreeMap::new(),
        svcs: HashMap::new(),
        ctl: Controller::new(cfg.engine.clone()),
        leading: false,
        pools_synced: false,
        svcs_synced: false,
        pool_seen: None,
        svc_seen: None,
        retry_at: BTreeMap::new(),
        attempts: HashMap::new(),
        invalid_logged: HashMap::new(),
    };
    loop {
        let next_retry = ipam.retry_at.values().min().copied();
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            ev = rx.recv() => {
                let ev = ev.ok_or(ServeError::Closed)?;
                ipam.apply(ev);
                // Take whatever else is queued so one reconcile covers the whole burst.
                for _ in 0..100_000 {
                    match rx.try_recv() {
                        Ok(ev) => ipam.apply(ev),
                        Err(_) => break,
                    }
                }
            }
            changed = leading.changed() => {
                if changed.is_err() {
                    warn!("leader election ended; stopping writes");
                    return Ok(());
                }
            }
            _ = async {
                match next_retry {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending::<()>().await,
                }
            } => ipam.due_retries(),
        }
        let is_leader = *leading.borrow_and_update();
        ipam.step(is_leader, &leading).await;
    }
}

/// Whether an API error may pass by itself: no answer, a timeout, or a server-side failure.
/// A 4xx (not served, forbidden) stays until someone changes the cluster.
fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code >= 500 || s.code == 429 || s.code == 408,
        _ => true,
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Asks the API server for its version every `period` and publishes whether it answered in
/// time: the watchers alone cannot tell, since a quiet watch and a dead server look the same
/// until the read timeout.
async fn check_api(client: Client, shared: Arc<metrics::Shared>, period: Duration) {
    let limit = period.max(Duration::from_secs(1));
    let mut tick = tokio::time::interval(period.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let ok = matches!(
            tokio::time::timeout(limit, client.apiserver_version()).await,
            Ok(Ok(_))
        );
        let was_down = shared.api_down.swap(!ok, Ordering::Relaxed);
        if was_down == ok {
            if ok {
                info!("API server answers again");
            } else {
                warn!("API server does not answer; not ready");
            }
        }
    }
}

/// Drops the leader gauge the moment the gate closes, even while the loop is busy writing.
async fn clear_leader_on_loss(mut gate: watch::Receiver<bool>, shared: Arc<metrics::Shared>) {
    loop {
        if !*gate.borrow_and_update() {
            shared.leader.store(false, Ordering::Relaxed);
        }
        if gate.changed().await.is_err() {
            shared.leader.store(false, Ordering::Relaxed);
            return;
        }
    }
}

fn spawn_watchers(
    client: &Client,
    version: PoolVersion,
    timeout_secs: Option<u32>,
    tx: mpsc::Sender<Ev>,
) {
    let mut wc = watcher::Config::default();
    if let Some(t) = timeout_secs {
        wc = wc.timeout(t);
    }
    let ptx = tx.clone();
    match version {
        PoolVersion::V2 => {
            let api = Api::<v2::CiliumLoadBalancerIPPool>::all(client.clone());
            tokio::spawn(forward(watcher(api, wc.clone()), ptx, |e| {
                Ev::Pool(WEv::map(e, PoolObj::from_v2))
            }));
        }
        PoolVersion::V2alpha1 => {
            let api = Api::<v2alpha1::CiliumLoadBalancerIPPool>::all(client.clone());
            tokio::spawn(forward(watcher(api, wc.clone()), ptx, |e| {
                Ev::Pool(WEv::map(e, PoolObj::from_v2alpha1))
            }));
        }
    }
    let api = Api::<Service>::all(client.clone());
    tokio::spawn(forward(watcher(api, wc), tx, |e| {
        Ev::Svc(WEv::map(e, |s| Box::new(SvcMsg::from(s))))
    }));
}

/// Pumps one watcher into the channel. The watcher relists by itself after a 410 or a cut
/// stream (emitting `Init` … `InitDone` again); errors are only logged, with backoff.
async fn forward<K, S>(stream: S, tx: mpsc::Sender<Ev>, f: impl Fn(watcher::Event<K>) -> Ev)
where
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
{
    let stream = stream.default_backoff();
    futures::pin_mut!(stream);
    loop {
        match stream.try_next().await {
            Ok(Some(ev)) => {
                if tx.send(f(ev)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => warn!(error = %e, "watch failed; retrying"),
        }
    }
}

/// What we know that a relist did not show: deleted while the watch was down.
fn not_relisted<'a, K>(known: impl Iterator<Item = &'a K>, seen: &HashSet<K>) -> Vec<K>
where
    K: Eq + std::hash::Hash + Clone + 'a,
{
    known.filter(|k| !seen.contains(*k)).cloned().collect()
}

fn backoff(attempt: u32) -> Duration {
    // 250ms, 500ms, 1s, … capped at 30s, like Cilium's workqueue but with a shorter cap.
    Duration::from_millis(250u64.saturating_mul(1 << attempt.min(7))).min(Duration::from_secs(30))
}

impl Ipam {
    fn apply(&mut self, ev: Ev) {
        match ev {
            Ev::Pool(WEv::Init) => self.pool_seen = Some(HashSet::new()),
            Ev::Pool(WEv::InitApply(p)) => {
                if let Some(seen) = self.pool_seen.as_mut() {
                    seen.insert(p.name.clone());
                }
                self.apply_pool(p);
            }
            Ev::Pool(WEv::Apply(p)) => self.apply_pool(p),
            Ev::Pool(WEv::Delete(p)) => self.delete_pool(&p.name),
            Ev::Pool(WEv::InitDone) => {
                if let Some(seen) = self.pool_seen.take() {
                    for n in not_relisted(self.pools.keys(), &seen) {
                        self.delete_pool(&n);
                    }
                }
                if !self.pools_synced {
                    info!(pools = self.pools.len(), "pools synced");
                }
                self.pools_synced = true;
                // After a relist, repair anything edited behind our back.
                self.ctl.mark_all_dirty();
            }
            Ev::Svc(WEv::Init) => self.svc_seen = Some(HashSet::new()),
            Ev::Svc(WEv::InitApply(s)) => {
                if let Some(seen) = self.svc_seen.as_mut() {
                    seen.insert(s.obs.key.clone());
                }
                self.apply_svc(*s);
            }
            Ev::Svc(WEv::Apply(s)) => self.apply_svc(*s),
            Ev::Svc(WEv::Delete(s)) => self.delete_svc(&s.obs.key),
            Ev::Svc(WEv::InitDone) => {
                if let Some(seen) = self.svc_seen.take() {
                    for k in not_relisted(self.svcs.keys(), &seen) {
                        self.delete_svc(&k);
                    }
                }
                if !self.svcs_synced {
                    info!(services = self.svcs.len(), "services synced");
                }
                self.svcs_synced = true;
                self.ctl.mark_all_dirty();
            }
        }
    }

    fn apply_pool(&mut self, p: PoolObj) {
        let spec_changed = match self.pools.get(&p.name) {
            Some(old) if !newer(&old.resource_version, &p.resource_version) => return,
            Some(old) => !old.same_spec(&p),
            None => true,
        };
        if spec_changed {
            let input = convert::pool(&p.name, p.creation, p.generation, &p.view);
            if let Err(e) = self.ctl.upsert_pool(input) {
                report_invalid(&mut self.invalid_logged, &p, &e.to_string());
            } else {
                self.invalid_logged.remove(&p.name);
            }
        } else {
            // Only status moved: someone else's write (or ours echoed); check it still says
            // what it should without re-running every Service.
            self.ctl.touch_pool(&p.name);
        }
        self.pools.insert(p.name.clone(), p);
    }

    fn delete_pool(&mut self, name: &str) {
        self.pools.remove(name);
        self.invalid_logged.remove(name);
        self.ctl.delete_pool(name);
    }

    fn apply_svc(&mut self, msg: SvcMsg) {
        let key = msg.obs.key;
        if let Some(old) = self.svcs.get(&key) {
            if !newer(&old.resource_version, &msg.resource_version) {
                return;
            }
        }
        if !msg.obs.invalid_ips.is_empty() {
            // Cilium logs and drops these too; no condition records them.
            warn!(service = %key, entries = ?msg.obs.invalid_ips, "ignoring requested IPs that do not parse");
        }
        let (extra, condition_time) = status::compact(msg.status, &msg.obs.input);
        self.ctl.upsert_service(key.clone(), msg.obs.input);
        self.svcs.insert(
            key,
            SvcEntry {
                resource_version: msg.resource_version,
                extra,
                condition_time,
            },
        );
    }

    fn delete_svc(&mut self, key: &ServiceKey) {
        self.svcs.remove(key);
        self.ctl.delete_service(key);
    }

    fn due_retries(&mut self) {
        let now = Instant::now();
        let due: Vec<Target> = self
            .retry_at
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for t in due {
            self.retry_at.remove(&t);
            match &t {
                Target::Svc(k) => self.ctl.touch_service(k),
                Target::Pool(n) => self.ctl.touch_pool(n),
            }
        }
    }

    /// Forgets allocations after losing the lease: a fresh controller with the same inputs,
    /// so the next term imports from the cluster again (someone else may have written since).
    fn reset_controller(&mut self) {
        let old = std::mem::replace(&mut self.ctl, Controller::new(self.cfg.engine.clone()));
        for p in self.pools.values() {
            let input = convert::pool(&p.name, p.creation, p.generation, &p.view);
            if let Err(e) = self.ctl.upsert_pool(input) {
                report_invalid(&mut self.invalid_logged, p, &e.to_string());
            }
        }
        for (k, input) in old.into_service_inputs() {
            self.ctl.upsert_service(k, input);
        }
    }

    async fn step(&mut self, is_leader: bool, leading: &watch::Receiver<bool>) {
        if !(self.pools_synced && self.svcs_synced) {
            return;
        }
        if !is_leader {
            self.shared.leader.store(false, Ordering::Relaxed);
            if self.leading {
                warn!("lost the IPAM lease; stopped writing");
                self.leading = false;
                self.reset_controller();
            }
            // A standby is healthy and ready to take over.
            self.shared.ready.store(true, Ordering::Relaxed);
            return;
        }
        if !self.leading {
            info!(
                pools = self.pools.len(),
                services = self.svcs.len(),
                "leading: importing existing allocations"
            );
            self.leading = true;
        }
        let started = std::time::Instant::now();
        // Write until a pass produces nothing new (our own echoes settle in one more pass).
        let mut total = 0;
        for _ in 0..3 {
            let changes = self.ctl.reconcile();
            *self.shared.gauges.lock().unwrap_or_else(|p| p.into_inner()) = self.ctl.gauges();
            if !self.ctl.is_awake() {
                debug!("no pool yet: LB-IPAM dormant");
            }
            let wrote = self.write(changes, leading).await;
            total += wrote;
            if wrote == 0 {
                break;
            }
        }
        self.shared
            .reconcile_duration
            .observe(started.elapsed().as_secs_f64());
        let first = !self.shared.ready.load(Ordering::Relaxed);
        if total > 1000 || first {
            trim_heap();
        }
        // Published after the first pass, so `leader 1` means "has reconciled as leader"; and
        // only if the gate is still open (it may have closed during the writes).
        self.shared
            .leader
            .store(*leading.borrow(), Ordering::Relaxed);
        if !self.shared.ready.swap(true, Ordering::Relaxed) {
            info!("ready");
        }
    }

    /// Patches what differs from the cluster; returns how many writes succeeded.
    async fn write(&mut self, changes: Changes, leading: &watch::Receiver<bool>) -> usize {
        let mut ok = 0;
        let mut svcs = changes.services.into_iter().peekable();
        let mut pools = changes.pools.into_iter().peekable();
        while svcs.peek().is_some() || pools.peek().is_some() {
            let now = jiff::Timestamp::now();
            let mut jobs = Vec::with_capacity(WRITE_CHUNK);
            while jobs.len() < WRITE_CHUNK {
                let Some((key, d)) = svcs.next() else { break };
                let (Some(entry), Some(input)) = (self.svcs.get(&key), self.ctl.service(&key))
                else {
                    continue;
                };
                let current = match &entry.extra {
                    Some(s) => (**s).clone(),
                    None => status::rebuild(input, entry.condition_time),
                };
                let new = status::service_status(Some(&current), &d, now);
                if !status::service_status_differs(Some(&current), &new) {
                    continue;
                }
                debug!(service = %key, ingress = ?d.ingress, condition = ?d.condition, "writing service status");
                let body = status::service_patch(&new, &entry.resource_version);
                jobs.push(Job::Svc(key, body));
            }
            while jobs.len() < WRITE_CHUNK {
                let Some((name, d)) = pools.next() else { break };
                let Some(p) = self.pools.get(&name) else {
                    continue;
                };
                let new = status::pool_conditions(&p.conditions, &d, now);
                if !status::conditions_differ(&p.conditions, &new) {
                    continue;
                }
                debug!(pool = %name, conflict = ?d.conflict, "writing pool status");
                let body = status::pool_patch(&new, &p.resource_version);
                jobs.push(Job::Pool(name, body));
            }
            if jobs.is_empty() {
                continue;
            }
            // Fencing: the lease may have lapsed while we computed or wrote.
            if !*leading.borrow() {
                return ok;
            }
            ok += self.send_chunk(jobs).await;
        }
        ok
    }

    async fn send_chunk(&mut self, jobs: Vec<Job>) -> usize {
        let client = self.client.clone();
        let version = self.version;
        let pp = PatchParams {
            field_manager: Some(self.cfg.field_manager.clone()),
            ..PatchParams::default()
        };
        let mut results = futures::stream::iter(jobs)
            .map(|job| send(client.clone(), version, pp.clone(), job))
            .buffer_unordered(self.cfg.write_concurrency.max(1));
        let mut ok = 0;
        let mut failed = Vec::new();
        while let Some((target, res)) = results.next().await {
            match res {
                Ok(w) => {
                    ok += 1;
                    self.attempts.remove(&target);
                    match w {
                        Written::Svc(s) => {
                            self.shared.service_writes.inc();
                            self.apply_svc(*s);
                        }
                        Written::Pool(p) => {
                            self.shared.pool_writes.inc();
                            self.apply_pool(p);
                        }
                    }
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    debug!(?target, "gone before its status was written");
                }
                Err(e) => failed.push((target, e)),
            }
        }
        drop(results);
        for (target, e) in failed {
            self.shared.write_errors.inc();
            let conflict = matches!(&e, kube::Error::Api(s) if s.code == 409);
            if conflict {
                // Our copy is stale: read the current object, then try again.
                debug!(?target, "409 on status write; refreshing");
                self.refresh(&target).await;
            } else {
                warn!(?target, error = %e, "status write failed; will retry");
            }
            let n = self.attempts.entry(target.clone()).or_insert(0);
            let wait = if conflict {
                Duration::from_millis(50)
            } else {
                backoff(*n)
            };
            *n = n.saturating_add(1);
            self.retry_at.insert(target, Instant::now() + wait);
        }
        ok
    }

    async fn refresh(&mut self, target: &Target) {
        match target {
            Target::Svc(k) => {
                let api: Api<Service> = Api::namespaced(self.client.clone(), &k.namespace);
                if let Ok(s) = api.get(&k.name).await {
                    self.apply_svc(SvcMsg::from(s));
                }
            }
            Target::Pool(n) => {
                let got = match self.version {
                    PoolVersion::V2 => {
                        Api::<v2::CiliumLoadBalancerIPPool>::all(self.client.clone())
                            .get(n)
                            .await
                            .map(PoolObj::from_v2)
                    }
                    PoolVersion::V2alpha1 => {
                        Api::<v2alpha1::CiliumLoadBalancerIPPool>::all(self.client.clone())
                            .get(n)
                            .await
                            .map(PoolObj::from_v2alpha1)
                    }
                };
                if let Ok(p) = got {
                    self.apply_pool(p);
                }
            }
        }
    }
}

/// Hands freed heap back to the OS after a large pass (bodies, responses and the initial list
/// are transient; glibc keeps them otherwise and RSS stays at the peak).
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory held by the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn report_invalid(logged: &mut HashMap<String, String>, p: &PoolObj, err: &str) {
    // Once per version of the pool: the cache re-applies it on every rebuild.
    if logged.get(&p.name).map(String::as_str) != Some(p.resource_version.as_str()) {
        warn!(pool = %p.name, error = %err, "pool not applied (Cilium would retry silently and set no condition)");
        logged.insert(p.name.clone(), p.resource_version.clone());
    }
}

async fn send(
    client: Client,
    version: PoolVersion,
    pp: PatchParams,
    job: Job,
) -> (Target, Result<Written, kube::Error>) {
    match job {
        Job::Svc(key, body) => {
            let api: Api<Service> = Api::namespaced(client, &key.namespace);
            let res = api
                .patch_status(&key.name, &pp, &Patch::Merge(&body))
                .await
                .map(|s| Written::Svc(Box::new(SvcMsg::from(s))));
            (Target::Svc(key), res)
        }
        Job::Pool(name, body) => {
            let res = match version {
                PoolVersion::V2 => Api::<v2::CiliumLoadBalancerIPPool>::all(client)
                    .patch_status(&name, &pp, &Patch::Merge(&body))
                    .await
                    .map(|p| Written::Pool(PoolObj::from_v2(p))),
                PoolVersion::V2alpha1 => Api::<v2alpha1::CiliumLoadBalancerIPPool>::all(client)
                    .patch_status(&name, &pp, &Patch::Merge(&body))
                    .await
                    .map(|p| Written::Pool(PoolObj::from_v2alpha1(p))),
            };
            (Target::Pool(name), res)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_versions_compare_as_numbers() {
        assert!(newer("9", "10"));
        assert!(!newer("10", "10"));
        assert!(!newer("11", "10"));
        assert!(newer("abc", "abd"), "opaque versions: any change counts");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(40), Duration::from_secs(30));
    }
}
