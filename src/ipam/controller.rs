//! The stateful LB-IPAM reconciler as a pure state machine (Cilium's `operator/pkg/lbipam`
//! loop without the informers): pool and Service upserts and deletes go in, the desired
//! Service status (ingress + the one `IPAMRequestSatisfied` condition) and the desired pool
//! status come out. `serve` feeds it from watchers and writes what differs from the cluster.
//!
//! Order of work inside [`Controller::reconcile`], which is what makes a restart a fixed point
//! (architecture.md, "Adoption of existing ingress and restart": Cilium's reshuffle bugs): release what is no longer valid, then import
//! every valid existing ingress IP of every pending Service (Services whose condition says
//! `satisfied` first, sharing groups rebuilt on the way), and only then allocate for whatever is
//! still unsatisfied.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use crate::ipam::alloc::Family;
use crate::ipam::block::BlockError;
use crate::ipam::engine::{
    find_range_of_ip, is_compatible, is_responsible, is_satisfied, requested_families,
    service_labels, EngineConfig, Families, IpLookup, ServiceView, SvcCondition,
};
use crate::ipam::pool::{PoolCounts, PoolSpec, PoolStore};
use crate::model::selector::{CompiledSelector, LabelSelector, SelectorError};

/// A Service's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    pub namespace: String,
    pub name: String,
}

impl ServiceKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> ServiceKey {
        ServiceKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The `IPAMRequestSatisfied` condition without its timestamp (the writer owns the clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondSpec {
    /// `"True"` / `"False"`.
    pub status: String,
    pub reason: String,
    pub message: String,
    pub observed_generation: i64,
}

impl CondSpec {
    pub(crate) fn from_condition(c: &SvcCondition, generation: i64) -> CondSpec {
        CondSpec {
            status: c.status().to_owned(),
            reason: c.reason().to_owned(),
            message: c.message(),
            observed_generation: generation,
        }
    }
}

/// A Service as observed in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInput {
    /// Spec, annotations and the observed ingress IPs (`view.ingress_ips`, in status order).
    pub view: ServiceView,
    pub generation: i64,
    /// The observed `cilium.io/IPAMRequestSatisfied` condition (newest if duplicated).
    pub condition: Option<CondSpec>,
}

/// A pool as observed in the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolInput {
    pub spec: PoolSpec,
    pub selector: Option<LabelSelector>,
    pub generation: i64,
}

/// Why a pool was not applied. Cilium retries these silently and sets no condition; lbctl
/// keeps the previous valid version (if any) and reports the error in logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolInputError {
    #[error("invalid blocks: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Blocks(Vec<BlockError>),
    #[error("invalid serviceSelector: {0}")]
    Selector(SelectorError),
}

/// What the Service's status should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredService {
    /// `status.loadBalancer.ingress[].ip`, in order.
    pub ingress: Vec<IpAddr>,
    /// `None`: remove our condition (the Service is no longer ours).
    pub condition: Option<CondSpec>,
}

/// What a pool's status should be (architecture.md, "Pools").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredPool {
    pub generation: i64,
    pub counts: PoolCounts,
    /// `Some(message)`: `PoolConflict=True/cidr_overlap`; `None`: `False/resolved`.
    pub conflict: Option<String>,
}

/// The output of one reconcile pass: the desired status of everything that may have changed.
/// The writer compares it with the cluster and writes only differences.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    pub services: Vec<(ServiceKey, DesiredService)>,
    pub pools: Vec<(String, DesiredPool)>,
}

/// Gauges for `/metrics` (Cilium's `lbipam_*`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Gauges {
    pub conflicting_pools: usize,
    /// Per pool: (available, used).
    pub pools: Vec<(String, PoolCounts)>,
    pub services_matching: usize,
    pub services_unsatisfied: usize,
    pub invalid_pools: usize,
}

#[derive(Debug, Clone)]
struct IpEntry {
    /// The pool whose range holds the address.
    pool: String,
    /// The sharing key every sharer has (empty: no sharing, one sharer).
    key: String,
    sharers: Sharers,
}

/// A sharing key's addresses, in the order they joined it (no duplicates; a handful at most).
#[derive(Debug, Clone, Default)]
struct KeyIps(Vec<IpAddr>);

impl KeyIps {
    fn insert(&mut self, ip: IpAddr) {
        if !self.0.contains(&ip) {
            self.0.push(ip);
        }
    }
    fn remove(&mut self, ip: IpAddr) {
        self.0.retain(|x| *x != ip);
    }
}

/// The Services sharing one address, sorted. Almost always one: a `Vec` costs 48 bytes where
/// a `BTreeSet` node costs over 500, which matters at 10,000 Services.
#[derive(Debug, Clone, Default)]
struct Sharers(Vec<ServiceKey>);

impl Sharers {
    fn insert(&mut self, key: ServiceKey) {
        if let Err(i) = self.0.binary_search(&key) {
            self.0.insert(i, key);
        }
    }
    fn remove(&mut self, key: &ServiceKey) {
        if let Ok(i) = self.0.binary_search(key) {
            self.0.remove(i);
        }
    }
    #[cfg(test)]
    fn contains(&self, key: &ServiceKey) -> bool {
        self.0.binary_search(key).is_ok()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn iter(&self) -> std::slice::Iter<'_, ServiceKey> {
        self.0.iter()
    }
}

impl IntoIterator for Sharers {
    type Item = ServiceKey;
    type IntoIter = std::vec::IntoIter<ServiceKey>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[derive(Debug, Clone)]
struct SvcState {
    input: ServiceInput,
    /// Addresses held, in ingress order.
    held: Vec<IpAddr>,
    condition: Option<SvcCondition>,
    /// We wrote (or imported) status for it, so a move away from us must clean up.
    tracked: bool,
}

/// The LB-IPAM state machine.
#[derive(Debug)]
pub struct Controller {
    cfg: EngineConfig,
    pools: PoolStore<()>,
    selectors: BTreeMap<String, CompiledSelector>,
    generations: BTreeMap<String, i64>,
    invalid_pools: BTreeMap<String, PoolInputError>,
    services: BTreeMap<ServiceKey, SvcState>,
    ips: HashMap<IpAddr, IpEntry>,
    /// Addresses a range handed out that another pool's range already holds (possible only
    /// when a conflicting pool overlaps an allocatable one); kept allocated so the range never
    /// offers them again, freed with the real holder.
    shadows: BTreeSet<(IpAddr, String)>,
    /// Per sharing key, its addresses in the order they joined the key: a Service joining the
    /// group takes the first compatible one, as Cilium walks its per-key list (so after a member
    /// was recreated on a new address, newcomers still join the group's earlier address).
    by_key: HashMap<String, KeyIps>,
    dirty: BTreeSet<ServiceKey>,
    dirty_pools: BTreeSet<String>,
    unsatisfied: BTreeSet<ServiceKey>,
}

impl Controller {
    pub fn new(cfg: EngineConfig) -> Controller {
        Controller {
            cfg,
            pools: PoolStore::new(),
            selectors: BTreeMap::new(),
            generations: BTreeMap::new(),
            invalid_pools: BTreeMap::new(),
            services: BTreeMap::new(),
            ips: HashMap::new(),
            shadows: BTreeSet::new(),
            by_key: HashMap::new(),
            dirty: BTreeSet::new(),
            dirty_pools: BTreeSet::new(),
            unsatisfied: BTreeSet::new(),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Whether at least one pool exists (LB-IPAM is dormant otherwise: architecture.md, "LB IPAM lifecycle").
    pub(crate) fn is_awake(&self) -> bool {
        !self.pools.is_empty()
    }

    /// The pools (read-only), for introspection.
    pub fn pools(&self) -> &PoolStore<()> {
        &self.pools
    }

    /// Who holds `ip`.
    pub fn holders(&self, ip: IpAddr) -> Vec<ServiceKey> {
        self.ips
            .get(&ip)
            .map(|e| e.sharers.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Addresses held by a Service.
    pub fn held(&self, key: &ServiceKey) -> &[IpAddr] {
        self.services.get(key).map_or(&[], |s| &s.held)
    }

    /// The last observed input of a Service.
    pub fn service(&self, key: &ServiceKey) -> Option<&ServiceInput> {
        self.services.get(key).map(|s| &s.input)
    }

    /// Every Service key known.
    #[cfg(test)]
    pub(crate) fn service_keys(&self) -> impl Iterator<Item = &ServiceKey> + '_ {
        self.services.keys()
    }

    /// Creates or updates a pool. An invalid pool changes nothing (a previous valid version
    /// stays in force) and is reported.
    pub fn upsert_pool(&mut self, input: PoolInput) -> Result<(), PoolInputError> {
        let name = input.spec.name.clone();
        let selector = match CompiledSelector::compile(input.selector.as_ref()) {
            Ok(s) => s,
            Err(e) => {
                let err = PoolInputError::Selector(e);
                self.invalid_pools.insert(name, err.clone());
                return Err(err);
            }
        };
        let upserted = match self.pools.upsert(input.spec) {
            Ok(u) => u,
            Err(errs) => {
                let err = PoolInputError::Blocks(errs);
                self.invalid_pools.insert(name, err.clone());
                return Err(err);
            }
        };
        self.invalid_pools.remove(&name);
        self.selectors.insert(name.clone(), selector);
        self.generations.insert(name.clone(), input.generation);
        if !upserted.removed.is_empty() {
            self.drop_lost_entries(&name);
        }
        self.after_pool_change(&name);
        Ok(())
    }

    /// Deletes a pool: its addresses are released and their Services re-evaluated.
    pub(crate) fn delete_pool(&mut self, name: &str) {
        self.invalid_pools.remove(name);
        if self.pools.remove(name).is_none() {
            return;
        }
        self.selectors.remove(name);
        self.generations.remove(name);
        self.drop_lost_entries(name);
        self.dirty_pools.remove(name);
        self.after_pool_change(name);
    }

    /// Drops holdings of `pool` that its current ranges no longer contain (the ranges and
    /// their allocations are already gone).
    fn drop_lost_entries(&mut self, pool: &str) {
        let lost: Vec<IpAddr> = self
            .ips
            .iter()
            .filter(|(ip, e)| e.pool == pool && !self.range_holds(pool, **ip))
            .map(|(ip, _)| *ip)
            .collect();
        for ip in lost {
            if let Some(entry) = self.ips.remove(&ip) {
                self.unindex(&entry.key, ip);
                for key in entry.sharers {
                    if let Some(s) = self.services.get_mut(&key) {
                        s.held.retain(|h| *h != ip);
                    }
                    self.dirty.insert(key);
                }
                self.free_shadows(ip);
            }
        }
        let stale: Vec<(IpAddr, String)> = self
            .shadows
            .iter()
            .filter(|(ip, p)| p == pool && !self.range_holds_ip(p, *ip))
            .cloned()
            .collect();
        for s in stale {
            self.shadows.remove(&s);
        }
    }

    fn range_holds(&self, pool: &str, ip: IpAddr) -> bool {
        self.range_holds_ip(pool, ip)
    }

    fn range_holds_ip(&self, pool: &str, ip: IpAddr) -> bool {
        self.pools
            .get(pool)
            .and_then(|p| p.range_of(ip).map(|i| (p, i)))
            .is_some_and(|(p, i)| p.ranges()[i].allocator().is_allocated(ip))
    }

    fn after_pool_change(&mut self, name: &str) {
        for change in self.pools.settle_conflicts() {
            let pool = match change {
                crate::ipam::pool::ConflictChange::Marked { pool, .. }
                | crate::ipam::pool::ConflictChange::Resolved { pool } => pool,
            };
            self.dirty_pools.insert(pool);
        }
        if self.pools.get(name).is_some() {
            self.dirty_pools.insert(name.to_owned());
        }
        if self.pools.is_empty() {
            // Dormant again (Cilium's `restart()`): forget every allocation; the next pool
            // re-imports from the Services' status, so nothing is reshuffled.
            self.ips.clear();
            self.shadows.clear();
            self.by_key.clear();
            for s in self.services.values_mut() {
                s.held.clear();
            }
        }
        // A pool change can make any Service's holdings invalid or its request satisfiable.
        self.dirty.extend(self.services.keys().cloned());
    }

    /// Creates or updates a Service.
    pub fn upsert_service(&mut self, key: ServiceKey, input: ServiceInput) {
        match self.services.get_mut(&key) {
            Some(s) => s.input = input,
            None => {
                self.services.insert(
                    key.clone(),
                    SvcState {
                        input,
                        held: Vec::new(),
                        condition: None,
                        tracked: false,
                    },
                );
            }
        }
        self.dirty.insert(key);
    }

    /// Deletes a Service; its addresses are freed when it was their last sharer.
    pub(crate) fn delete_service(&mut self, key: &ServiceKey) {
        if let Some(state) = self.services.remove(key) {
            for ip in state.held {
                self.leave(key, ip);
            }
        }
        self.dirty.remove(key);
        self.unsatisfied.remove(key);
    }

    /// Removes `key` from the sharers of `ip`; frees the address with its last sharer.
    fn leave(&mut self, key: &ServiceKey, ip: IpAddr) {
        let Some(entry) = self.ips.get_mut(&ip) else {
            return;
        };
        entry.sharers.remove(key);
        if !entry.sharers.is_empty() {
            return;
        }
        let Some(entry) = self.ips.remove(&ip) else {
            return;
        };
        self.unindex(&entry.key, ip);
        if let Some(pool) = self.pools.get_mut(&entry.pool) {
            if let Some(i) = pool.range_of(ip) {
                let _ = pool.ranges_mut()[i].free(ip);
            }
        }
        self.free_shadows(ip);
        self.dirty_pools.insert(entry.pool);
        // Freed space may satisfy someone waiting (Cilium retries unsatisfied Services).
        self.dirty.extend(self.unsatisfied.iter().cloned());
    }

    fn free_shadows(&mut self, ip: IpAddr) {
        let pools: Vec<String> = self
            .shadows
            .range((ip, String::new())..)
            .take_while(|(i, _)| *i == ip)
            .map(|(_, p)| p.clone())
            .collect();
        for p in pools {
            self.shadows.remove(&(ip, p.clone()));
            if let Some(pool) = self.pools.get_mut(&p) {
                if let Some(i) = pool.range_of(ip) {
                    let _ = pool.ranges_mut()[i].free(ip);
                }
            }
            self.dirty_pools.insert(p);
        }
    }

    fn unindex(&mut self, key: &str, ip: IpAddr) {
        if key.is_empty() {
            return;
        }
        if let Some(set) = self.by_key.get_mut(key) {
            set.remove(ip);
            if set.0.is_empty() {
                self.by_key.remove(key);
            }
        }
    }

    fn join(&mut self, key: &ServiceKey, ip: IpAddr) {
        if let Some(entry) = self.ips.get_mut(&ip) {
            entry.sharers.insert(key.clone());
        }
        if let Some(s) = self.services.get_mut(key) {
            if !s.held.contains(&ip) {
                s.held.push(ip);
            }
        }
    }

    fn insert_entry(&mut self, key: &ServiceKey, ip: IpAddr, pool: String, sharing_key: &str) {
        self.dirty_pools.insert(pool.clone());
        self.ips.insert(
            ip,
            IpEntry {
                pool,
                key: sharing_key.to_owned(),
                sharers: Sharers::default(),
            },
        );
        if !sharing_key.is_empty() {
            self.by_key
                .entry(sharing_key.to_owned())
                .or_default()
                .insert(ip);
        }
        self.join(key, ip);
    }

    fn selects(&self, pool: &str, labels: &BTreeMap<String, String>) -> bool {
        self.selectors.get(pool).is_some_and(|s| s.matches(labels))
    }

    /// Whether pool `pool` selects a Service with these labels (synthetic ones included).
    #[cfg(test)]
    pub(crate) fn pool_selects(&self, pool: &str, labels: &BTreeMap<String, String>) -> bool {
        self.selects(pool, labels)
    }

    /// `svc` may join the sharers of `ip`: the first incompatible sharer's rule otherwise.
    fn compatible_with_sharers(
        &self,
        key: &ServiceKey,
        view: &ServiceView,
        ip: IpAddr,
    ) -> Result<(), crate::ipam::engine::Incompatible> {
        let Some(entry) = self.ips.get(&ip) else {
            return Ok(());
        };
        for other in entry.sharers.iter().filter(|k| *k != key) {
            if let Some(o) = self.services.get(other) {
                is_compatible(view, &o.input.view, &self.cfg)?;
            }
        }
        Ok(())
    }

    /// Runs one pass over everything that changed since the last one.
    pub fn reconcile(&mut self) -> Changes {
        if self.pools.is_empty() {
            // Dormant: gather Services, touch nothing.
            self.dirty_pools.clear();
            return Changes::default();
        }
        let dirty: Vec<ServiceKey> = std::mem::take(&mut self.dirty).into_iter().collect();

        // 1. Release what is no longer valid (and everything of Services that are not ours).
        for key in &dirty {
            self.strip(key);
        }
        // 2. Import existing ingress, Services claiming to be satisfied first, so an address
        //    two Services both show goes to the one Cilium (or we) last confirmed.
        let mut order: Vec<&ServiceKey> = dirty.iter().collect();
        order.sort_by_key(|k| {
            let claims = self
                .services
                .get(*k)
                .and_then(|s| s.input.condition.as_ref())
                .is_some_and(|c| c.status == "True");
            !claims
        });
        for key in order {
            self.import(key);
        }
        // 3. Allocate for whoever is still unsatisfied.
        for key in &dirty {
            self.allocate(key);
        }
        // Freeing during the pass may have re-dirtied waiting Services; they are handled now
        // if still unsatisfied, in a second allocation round.
        let first: BTreeSet<&ServiceKey> = dirty.iter().collect();
        let again: Vec<ServiceKey> = std::mem::take(&mut self.dirty)
            .into_iter()
            .filter(|k| !first.contains(k))
            .collect();
        for key in &again {
            self.allocate(key);
        }

        let mut changes = Changes::default();
        for key in dirty.iter().chain(again.iter()) {
            if let Some(d) = self.desired(key) {
                changes.services.push((key.clone(), d));
            }
        }
        for name in std::mem::take(&mut self.dirty_pools) {
            if let Some(d) = self.desired_pool(&name) {
                changes.pools.push((name, d));
            }
        }
        changes
    }

    fn strip(&mut self, key: &ServiceKey) {
        let Some(state) = self.services.get(key) else {
            return;
        };
        let view = state.input.view.clone();
        let responsible = is_responsible(&view, &self.cfg);
        let families = requested_families(&view, &self.cfg);
        let labels = service_labels(&view);
        let mut drop = Vec::new();
        let mut seen_families = BTreeSet::new();
        for &ip in &state.held {
            let keep = responsible
                && self.ips.get(&ip).is_some_and(|e| {
                    self.pools.get(&e.pool).is_some() && self.selects(&e.pool, &labels)
                })
                && if view.requested_ips.is_empty() {
                    family_wanted(families, ip) && seen_families.insert(Family::of(ip))
                } else {
                    view.requested_ips.contains(&ip)
                }
                && self.compatible_with_sharers(key, &view, ip).is_ok();
            if !keep {
                drop.push(ip);
            }
        }
        for ip in drop {
            if let Some(s) = self.services.get_mut(key) {
                s.held.retain(|h| *h != ip);
            }
            self.leave(key, ip);
        }
        // A lone holder whose sharing key changed takes its address along to the new key.
        let held = self.held(key).to_vec();
        for ip in held {
            let rekey = self
                .ips
                .get(&ip)
                .filter(|e| e.key != view.sharing_key && e.sharers.len() == 1)
                .map(|e| e.key.clone());
            if let Some(old) = rekey {
                self.unindex(&old, ip);
                if let Some(e) = self.ips.get_mut(&ip) {
                    e.key = view.sharing_key.clone();
                }
                if !view.sharing_key.is_empty() {
                    self.by_key
                        .entry(view.sharing_key.clone())
                        .or_default()
                        .insert(ip);
                }
            }
        }
    }

    /// Cilium's `stripOrImportIngresses`: adopt each valid observed ingress IP not yet held.
    fn import(&mut self, key: &ServiceKey) {
        let Some(state) = self.services.get(key) else {
            return;
        };
        let view = state.input.view.clone();
        if !is_responsible(&view, &self.cfg) {
            return;
        }
        let families = requested_families(&view, &self.cfg);
        let labels = service_labels(&view);
        for ip in view.ingress_ips.iter().copied() {
            let held = self.held(key);
            if held.contains(&ip) {
                continue;
            }
            if view.requested_ips.is_empty() {
                let fam = Family::of(ip);
                if !family_wanted(families, ip) || held.iter().any(|h| Family::of(*h) == fam) {
                    continue;
                }
            } else if !view.requested_ips.contains(&ip) {
                continue;
            }
            if let Some(entry) = self.ips.get(&ip) {
                // The holder's pool must select this Service too: overlapping pools (one of
                // them conflicting) may hold the address for a different audience.
                if !view.sharing_key.is_empty()
                    && entry.key == view.sharing_key
                    && self.selects(&entry.pool, &labels)
                    && self.compatible_with_sharers(key, &view, ip).is_ok()
                {
                    self.join(key, ip);
                }
                continue;
            }
            // Unlike Cilium, an address inside a disabled or conflicting pool that selects the
            // Service is kept too: disabling a pool "doesn't remove existing allocations", and
            // a restart must not do it behind the user's back (architecture.md, "Pool conflicts").
            let Some(pool) = self.import_pool(ip, &labels) else {
                continue;
            };
            let ok = self
                .pools
                .get_mut(&pool)
                .and_then(|p| {
                    let i = p.range_of(ip)?;
                    p.ranges_mut()[i].alloc(ip, ()).ok()
                })
                .is_some();
            if ok {
                self.insert_entry(key, ip, pool, &view.sharing_key);
            }
        }
    }

    /// A pool that selects the Service and has a range holding `ip`; allocatable ones first.
    fn import_pool(&self, ip: IpAddr, labels: &BTreeMap<String, String>) -> Option<String> {
        let mut fallback = None;
        for pool in self.pools.iter() {
            if pool.range_of(ip).is_none() || !self.selects(pool.name(), labels) {
                continue;
            }
            if pool.allocatable() {
                return Some(pool.name().to_owned());
            }
            fallback.get_or_insert_with(|| pool.name().to_owned());
        }
        fallback
    }

    fn allocate(&mut self, key: &ServiceKey) {
        let Some(state) = self.services.get(key) else {
            return;
        };
        let view = state.input.view.clone();
        if !is_responsible(&view, &self.cfg) {
            self.unsatisfied.remove(key);
            return;
        }
        let families = requested_families(&view, &self.cfg);
        let mut failure: Option<SvcCondition> = None;
        if !view.requested_ips.is_empty() {
            for &ip in &view.requested_ips {
                if self.held(key).contains(&ip) {
                    continue;
                }
                if let Err(c) = self.allocate_requested(key, &view, ip) {
                    // Last failure wins, as in Cilium.
                    failure = Some(c);
                }
            }
        } else {
            for (wanted, fam) in [(families.v4, Family::V4), (families.v6, Family::V6)] {
                if !wanted || self.held(key).iter().any(|h| Family::of(*h) == fam) {
                    continue;
                }
                if let Err(c) = self.allocate_generic(key, &view, fam) {
                    failure = Some(c);
                }
            }
        }
        let mut current = view.clone();
        current.ingress_ips = self.held(key).to_vec();
        let satisfied = is_satisfied(&current, families);
        let condition = if satisfied {
            SvcCondition::Satisfied
        } else {
            failure
                .or_else(|| self.services.get(key).and_then(|s| s.condition.clone()))
                .unwrap_or(SvcCondition::NoPool)
        };
        if satisfied {
            self.unsatisfied.remove(key);
        } else {
            self.unsatisfied.insert(key.clone());
        }
        if let Some(s) = self.services.get_mut(key) {
            s.condition = Some(condition);
        }
    }

    fn allocate_requested(
        &mut self,
        key: &ServiceKey,
        view: &ServiceView,
        ip: IpAddr,
    ) -> Result<(), SvcCondition> {
        let labels = service_labels(view);
        let pools = &self.pools;
        let selectors = &self.selectors;
        let selects =
            |p: &str, l: &BTreeMap<String, String>| selectors.get(p).is_some_and(|s| s.matches(l));
        let range = match find_range_of_ip(pools, &labels, ip, &selects) {
            IpLookup::Found(r) => r,
            IpLookup::NotSelected => return Err(SvcCondition::PoolSelectorMismatch(ip)),
            IpLookup::NoPool => return Err(SvcCondition::NoPoolForIp(ip)),
        };
        if let Some(entry) = self.ips.get(&ip) {
            if view.sharing_key.is_empty() {
                return Err(SvcCondition::AlreadyAllocated(ip));
            }
            if !self.selects(&entry.pool, &labels) {
                // Held through an overlapping pool that does not select this Service.
                return Err(SvcCondition::PoolSelectorMismatch(ip));
            }
            let entry_key = self.ips.get(&ip).map(|e| e.key.clone()).unwrap_or_default();
            if entry_key != view.sharing_key {
                return Err(SvcCondition::AlreadyAllocatedIncompatible(
                    ip,
                    crate::ipam::engine::Incompatible::SharingKey,
                ));
            }
            self.compatible_with_sharers(key, view, ip)
                .map_err(|why| SvcCondition::AlreadyAllocatedIncompatible(ip, why))?;
            self.join(key, ip);
            return Ok(());
        }
        let ok = self
            .pools
            .get_mut(&range.pool)
            .and_then(|p| p.ranges_mut().get_mut(range.index))
            .map(|r| r.alloc(ip, ()).is_ok())
            .unwrap_or(false);
        if !ok {
            // A reserved first/last address: no sharers, so plain `already_allocated`.
            return Err(SvcCondition::AlreadyAllocated(ip));
        }
        self.insert_entry(key, ip, range.pool, &view.sharing_key);
        Ok(())
    }

    fn allocate_generic(
        &mut self,
        key: &ServiceKey,
        view: &ServiceView,
        family: Family,
    ) -> Result<(), SvcCondition> {
        let labels = service_labels(view);
        if !view.sharing_key.is_empty() {
            let candidates: Vec<IpAddr> = self
                .by_key
                .get(&view.sharing_key)
                .map(|s| s.0.clone())
                .unwrap_or_default();
            for ip in candidates {
                if Family::of(ip) != family {
                    continue;
                }
                let pool_ok = self.ips.get(&ip).is_some_and(|e| {
                    self.pools.get(&e.pool).is_some_and(|p| p.allocatable())
                        && self.selects(&e.pool, &labels)
                });
                if pool_ok && self.compatible_with_sharers(key, view, ip).is_ok() {
                    self.join(key, ip);
                    return Ok(());
                }
            }
        }
        let mut full = false;
        let names: Vec<String> = self
            .pools
            .iter()
            .filter(|p| p.allocatable())
            .map(|p| p.name().to_owned())
            .filter(|n| self.selects(n, &labels))
            .collect();
        for name in names {
            let Some(pool) = self.pools.get_mut(&name) else {
                continue;
            };
            let mut got = None;
            let mut shadows = Vec::new();
            for range in pool.ranges_mut() {
                if range.allocator().family() != family {
                    continue;
                }
                loop {
                    match range.alloc_any(()) {
                        Ok(ip) if self.ips.contains_key(&ip) => shadows.push(ip),
                        Ok(ip) => {
                            got = Some(ip);
                            break;
                        }
                        Err(crate::ipam::alloc::AllocError::Full) => {
                            full = true;
                            break;
                        }
                        Err(_) => break,
                    }
                }
                if got.is_some() {
                    break;
                }
            }
            for ip in shadows {
                self.shadows.insert((ip, name.clone()));
            }
            if let Some(ip) = got {
                self.insert_entry(key, ip, name, &view.sharing_key);
                return Ok(());
            }
        }
        Err(if full {
            SvcCondition::OutOfIps
        } else {
            SvcCondition::NoPool
        })
    }

    fn desired(&mut self, key: &ServiceKey) -> Option<DesiredService> {
        let s = self.services.get_mut(key)?;
        if !is_responsible(&s.input.view, &self.cfg) {
            // Cilium cleans up a Service it tracked "for reuse by another controller". After a
            // restart it no longer knows; our own condition on the object tells us instead.
            let ours = s.tracked || s.input.condition.is_some();
            s.tracked = false;
            s.condition = None;
            return ours.then(|| DesiredService {
                ingress: Vec::new(),
                condition: None,
            });
        }
        s.tracked = true;
        let condition = s.condition.clone().unwrap_or(SvcCondition::NoPool);
        Some(DesiredService {
            ingress: s.held.clone(),
            condition: Some(CondSpec::from_condition(&condition, s.input.generation)),
        })
    }

    fn desired_pool(&self, name: &str) -> Option<DesiredPool> {
        let pool = self.pools.get(name)?;
        Some(DesiredPool {
            generation: self.generations.get(name).copied().unwrap_or(0),
            counts: pool.counts(),
            conflict: pool.conflict().map(|c| c.message()),
        })
    }

    /// Gives back every Service input (to rebuild a controller without copying them).
    pub(crate) fn into_service_inputs(self) -> impl Iterator<Item = (ServiceKey, ServiceInput)> {
        self.services.into_iter().map(|(k, s)| (k, s.input))
    }

    /// Re-evaluates one Service at the next pass (a failed write to retry).
    pub(crate) fn touch_service(&mut self, key: &ServiceKey) {
        if self.services.contains_key(key) {
            self.dirty.insert(key.clone());
        }
    }

    /// Re-emits one pool's status at the next pass.
    pub(crate) fn touch_pool(&mut self, name: &str) {
        if self.pools.get(name).is_some() {
            self.dirty_pools.insert(name.to_owned());
        }
    }

    /// Marks everything for re-evaluation (after a relist).
    pub(crate) fn mark_all_dirty(&mut self) {
        self.dirty.extend(self.services.keys().cloned());
        let names: Vec<String> = self.pools.iter().map(|p| p.name().to_owned()).collect();
        self.dirty_pools.extend(names);
    }

    /// The current `IPAMRequestSatisfied` condition of a Service.
    pub fn condition(&self, key: &ServiceKey) -> Option<&SvcCondition> {
        self.services.get(key).and_then(|s| s.condition.as_ref())
    }

    /// Gauges for `/metrics`.
    pub(crate) fn gauges(&self) -> Gauges {
        let matching = self
            .services
            .values()
            .filter(|s| is_responsible(&s.input.view, &self.cfg))
            .count();
        Gauges {
            conflicting_pools: self.pools.conflicting(),
            pools: self
                .pools
                .iter()
                .map(|p| (p.name().to_owned(), p.counts()))
                .collect(),
            services_matching: if self.is_awake() { matching } else { 0 },
            services_unsatisfied: self.unsatisfied.len(),
            invalid_pools: self.invalid_pools.len(),
        }
    }

    /// Checks the internal indexes against each other; used by tests, cheap enough for debug
    /// assertions. Returns the first inconsistency found.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        for (ip, e) in &self.ips {
            if e.sharers.is_empty() {
                return Err(format!("{ip} has no sharers"));
            }
            if !self.range_holds(&e.pool, *ip) {
                return Err(format!("{ip} not allocated in pool {}", e.pool));
            }
            let views: Vec<&SvcState> = e
                .sharers
                .iter()
                .filter_map(|k| self.services.get(k))
                .collect();
            if views.len() != e.sharers.len() {
                return Err(format!("{ip} held by a deleted Service"));
            }
            for (i, a) in views.iter().enumerate() {
                if !a.held.contains(ip) {
                    return Err(format!("{ip}: sharer does not list it"));
                }
                for b in views.iter().skip(i + 1) {
                    if let Err(why) = is_compatible(&a.input.view, &b.input.view, &self.cfg) {
                        return Err(format!(
                            "{ip} shared by incompatible Services ({})",
                            why.reason()
                        ));
                    }
                }
            }
        }
        for (k, s) in &self.services {
            for ip in &s.held {
                if !self.ips.get(ip).is_some_and(|e| e.sharers.contains(k)) {
                    return Err(format!("{k} lists {ip} it does not hold"));
                }
            }
        }
        Ok(())
    }
}

fn family_wanted(families: Families, ip: IpAddr) -> bool {
    match Family::of(ip) {
        Family::V4 => families.v4,
        Family::V6 => families.v6,
    }
}

#[cfg(test)]
mod tests;
