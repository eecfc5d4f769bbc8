//! IP pools: ranges built from blocks, first/last reservation, capacity counts and conflict
//! settling (architecture.md, "Pools" and "Pool conflicts").
//!
//! Plain input structs only; the lead maps `CiliumLoadBalancerIPPool` onto [`PoolSpec`].

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::ipam::alloc::{AllocError, IpCount, RangeAllocator, RangeError};
use crate::ipam::block::{
    parse_blocks, reserves_first_last, AllowFirstLast, BlockError, BlockErrorKind, BlockRange,
    BlockSpec,
};

/// How a range is printed in conflict messages (`ipNetStr`): `<from> - <to>`.
pub(crate) const RANGE_SEPARATOR: &str = " - ";

/// The pool input, independent of the Kubernetes types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    pub name: String,
    /// `metadata.creationTimestamp`, in any unit that orders correctly (Unix seconds do;
    /// Kubernetes stores whole seconds). Only the order matters: the newer pool loses a
    /// conflict.
    pub creation: i64,
    pub blocks: Vec<BlockSpec>,
    pub allow_first_last: Option<AllowFirstLast>,
    pub disabled: bool,
}

impl PoolSpec {
    /// Whether first/last addresses of CIDR blocks are reserved: only for an explicit `No`
    /// (unset means allowed since Cilium 1.16).
    pub(crate) fn reserves_first_last(&self) -> bool {
        self.allow_first_last == Some(AllowFirstLast::No)
    }
}

/// What an address in a pool range is held by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Slot<T> {
    /// A first/last address reserved by `allowFirstLastIPs: No` (Cilium's nil owner). It counts
    /// as used.
    Reserved,
    /// Allocated to an owner (a Service, a sharing group, ...).
    Owner(T),
}

impl<T> Slot<T> {
    /// The owner, unless reserved.
    pub fn owner(&self) -> Option<&T> {
        match self {
            Slot::Reserved => None,
            Slot::Owner(t) => Some(t),
        }
    }
}

/// One range of a pool (one block).
#[derive(Debug, Clone)]
pub struct LbRange<T> {
    alloc: RangeAllocator<Slot<T>>,
    from_cidr: bool,
}

impl<T> LbRange<T> {
    fn new(block: &BlockRange, reserve: bool) -> Result<LbRange<T>, RangeError> {
        let mut range = LbRange {
            alloc: RangeAllocator::new(block.from, block.to)?,
            from_cidr: block.from_cidr,
        };
        if reserve && block.from_cidr {
            range.reserve_first_last();
        }
        Ok(range)
    }

    /// First address.
    pub fn from(&self) -> IpAddr {
        self.alloc.from()
    }

    /// Last address (inclusive).
    pub fn to(&self) -> IpAddr {
        self.alloc.to()
    }

    /// Whether the range came from a `cidr` (only those reserve first/last).
    #[cfg(test)]
    #[allow(clippy::wrong_self_convention)] // Cilium's `fromCidr` flag, not a conversion
    pub(crate) fn from_cidr(&self) -> bool {
        self.from_cidr
    }

    /// `<from> - <to>`, as Cilium prints ranges.
    pub fn display(&self) -> String {
        format!("{}{}{}", self.from(), RANGE_SEPARATOR, self.to())
    }

    /// The allocator (read-only).
    pub fn allocator(&self) -> &RangeAllocator<Slot<T>> {
        &self.alloc
    }

    /// Allocates any address to `owner` (first address of the smallest free block).
    pub fn alloc_any(&mut self, owner: T) -> Result<IpAddr, AllocError> {
        self.alloc.alloc_any(Slot::Owner(owner))
    }

    /// Allocates `ip` to `owner`; a reserved address is `InUse`, as in Cilium.
    pub fn alloc(&mut self, ip: IpAddr, owner: T) -> Result<(), AllocError> {
        self.alloc.alloc(ip, Slot::Owner(owner))
    }

    /// Frees an address held by an owner and returns the owner. Reserved addresses are not
    /// freed this way (`NotFound`): only an `allowFirstLastIPs` change releases them.
    pub fn free(&mut self, ip: IpAddr) -> Result<T, AllocError> {
        match self.alloc.get(ip) {
            Some(Slot::Owner(_)) => match self.alloc.free(ip)? {
                Slot::Owner(t) => Ok(t),
                // Checked just above; keep the reservation if the impossible happens.
                Slot::Reserved => {
                    let _ = self.alloc.alloc(ip, Slot::Reserved);
                    Err(AllocError::NotFound)
                }
            },
            _ => Err(AllocError::NotFound),
        }
    }

    /// The owner of `ip`, if allocated to one.
    pub fn owner(&self, ip: IpAddr) -> Option<&T> {
        self.alloc.get(ip).and_then(Slot::owner)
    }

    /// Whether `ip` is a reserved first/last address.
    pub(crate) fn is_reserved(&self, ip: IpAddr) -> bool {
        matches!(self.alloc.get(ip), Some(Slot::Reserved))
    }

    /// Whether `ip` lies in this range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.alloc.contains(ip)
    }

    /// Whether the two ranges share an address (`from1 <= to2 && from2 <= to1`).
    pub(crate) fn intersects<U>(&self, other: &LbRange<U>) -> bool {
        self.alloc.intersects(&other.alloc)
    }

    fn bounds_eq(&self, block: &BlockRange) -> bool {
        self.from() == block.from && self.to() == block.to
    }

    /// Reserves first and last if the range is large enough and they are free; an address
    /// already held by an owner is left alone ("will not revoke IPs").
    fn reserve_first_last(&mut self) {
        let (from, to) = (self.from(), self.to());
        if reserves_first_last(from, to) {
            let _ = self.alloc.alloc(from, Slot::Reserved);
            let _ = self.alloc.alloc(to, Slot::Reserved);
        }
    }

    /// Frees first and last, but only where they are reserved. Cilium frees them whatever
    /// holds them, which silently drops a Service's allocation of the first or last address;
    /// lbctl does not reproduce that bug.
    fn release_first_last(&mut self) {
        let (from, to) = (self.from(), self.to());
        if reserves_first_last(from, to) {
            for ip in [from, to] {
                if self.is_reserved(ip) {
                    let _ = self.alloc.free(ip);
                }
            }
        }
    }
}

/// Why a pool is conflicting: its range that overlaps `other_range` of `other_pool` (the pool
/// itself for an internal overlap).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Conflict {
    pub range: (IpAddr, IpAddr),
    pub other_range: (IpAddr, IpAddr),
    pub other_pool: String,
}

impl Conflict {
    /// The exact `PoolConflict` condition message.
    pub fn message(&self) -> String {
        crate::model::names::msg_pool_conflict(
            &self.range.0.to_string(),
            &self.range.1.to_string(),
            &self.other_range.0.to_string(),
            &self.other_range.1.to_string(),
            &self.other_pool,
        )
    }
}

/// Capacity of a pool as written to `IPsTotal`/`IPsAvailable`/`IPsUsed` (architecture.md, "Pools").
/// Reserved addresses count as used; disabled and conflicting pools still count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolCounts {
    pub total: IpCount,
    pub available: IpCount,
    pub used: IpCount,
}

/// A pool and its ranges, in block order.
#[derive(Debug, Clone)]
pub struct Pool<T> {
    spec: PoolSpec,
    ranges: Vec<LbRange<T>>,
    conflict: Option<Conflict>,
}

impl<T> Pool<T> {
    /// Name of the pool.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The spec last upserted.
    pub fn spec(&self) -> &PoolSpec {
        &self.spec
    }

    /// `spec.disabled`: no new allocations, existing ones stay.
    pub fn disabled(&self) -> bool {
        self.spec.disabled
    }

    /// The conflict this pool is marked with, if any.
    pub fn conflict(&self) -> Option<&Conflict> {
        self.conflict.as_ref()
    }

    /// Whether new allocations may come from this pool (neither disabled nor conflicting).
    pub(crate) fn allocatable(&self) -> bool {
        !self.spec.disabled && self.conflict.is_none()
    }

    /// Ranges in allocation order.
    pub fn ranges(&self) -> &[LbRange<T>] {
        &self.ranges
    }

    /// Ranges, to allocate from.
    pub fn ranges_mut(&mut self) -> &mut [LbRange<T>] {
        &mut self.ranges
    }

    /// Index of the range holding `ip`.
    pub fn range_of(&self, ip: IpAddr) -> Option<usize> {
        self.ranges.iter().position(|r| r.contains(ip))
    }

    /// Sum over ranges: `used = allocations`, `available = size - used`, `total = size`.
    pub fn counts(&self) -> PoolCounts {
        let mut counts = PoolCounts::default();
        for range in &self.ranges {
            let stats = range.alloc.stats();
            counts.total += stats.total;
            counts.available += stats.available;
            counts.used += stats.used;
        }
        counts
    }

    /// Two of the pool's own ranges overlapping: the first such pair in block order.
    fn internal_conflict(&self) -> Option<(usize, usize)> {
        for (i, a) in self.ranges.iter().enumerate() {
            for (j, b) in self.ranges.iter().enumerate() {
                if i != j && a.intersects(b) {
                    return Some((i, j));
                }
            }
        }
        None
    }

    /// First pair (own range, other's range) that overlaps, in block order.
    fn conflict_with(&self, other: &Pool<T>) -> Option<(usize, usize)> {
        for (i, a) in self.ranges.iter().enumerate() {
            for (j, b) in other.ranges.iter().enumerate() {
                if a.intersects(b) {
                    return Some((i, j));
                }
            }
        }
        None
    }

    fn bounds(&self, i: usize) -> (IpAddr, IpAddr) {
        self.ranges
            .get(i)
            .map(|r| (r.from(), r.to()))
            .unwrap_or((IpAddr::from([0, 0, 0, 0]), IpAddr::from([0, 0, 0, 0])))
    }
}

/// The result of [`PoolStore::upsert`].
#[derive(Debug)]
pub struct Upserted<T> {
    /// The pool was new: Cilium immediately writes `PoolConflict=False/resolved` for it so
    /// the kubectl column is never blank.
    pub created: bool,
    /// Ranges whose block disappeared, with every allocation they held; the owners must
    /// lose these addresses.
    pub removed: Vec<LbRange<T>>,
}

/// A change of a pool's `PoolConflict` state made by [`PoolStore::settle_conflicts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConflictChange {
    /// Write `PoolConflict=True`, reason `cidr_overlap`, message [`Conflict::message`].
    Marked { pool: String, conflict: Conflict },
    /// Write `PoolConflict=False`, reason `resolved`, empty message.
    Resolved { pool: String },
}

/// Every pool by name.
#[derive(Debug, Clone)]
pub struct PoolStore<T> {
    pools: BTreeMap<String, Pool<T>>,
}

impl<T> Default for PoolStore<T> {
    fn default() -> Self {
        PoolStore {
            pools: BTreeMap::new(),
        }
    }
}

impl<T> PoolStore<T> {
    /// No pools.
    pub fn new() -> PoolStore<T> {
        PoolStore::default()
    }

    /// Creates or updates a pool. All blocks are validated first; on any error nothing
    /// changes (Cilium also keeps its previous state and retries) and every bad block is
    /// reported.
    ///
    /// On update (Cilium's `handlePoolModified`): a range whose bounds are unchanged keeps
    /// its allocations, in its old position; other old ranges are removed and returned; new
    /// ranges are appended in block order. A change of `allowFirstLastIPs` between `No` and
    /// not-`No` frees the reserved first/last addresses of kept CIDR ranges, or reserves
    /// them where they are free. Two identical blocks always give two ranges (an internal
    /// conflict); Cilium collapses them when they appear by an update but not on creation.
    ///
    /// Conflicts are not settled here; call [`PoolStore::settle_conflicts`] afterwards.
    pub fn upsert(&mut self, spec: PoolSpec) -> Result<Upserted<T>, Vec<BlockError>> {
        let blocks = parse_blocks(&spec.blocks)?;
        let reserve = spec.reserves_first_last();
        // parse_block already rejected mixed families and start > stop, which are the only
        // ways a range can fail to build; keep the check total anyway.
        let build = |index: usize, b: &BlockRange| {
            LbRange::new(b, reserve).map_err(|e| {
                let (start, stop) = (b.from.to_string(), b.to.to_string());
                let kind = match e {
                    RangeError::FamilyMismatch => BlockErrorKind::MixedFamilies { start, stop },
                    RangeError::StartAfterStop => BlockErrorKind::StartAfterStop { start, stop },
                };
                vec![BlockError { index, kind }]
            })
        };

        let Some(pool) = self.pools.get_mut(&spec.name) else {
            let mut ranges = Vec::with_capacity(blocks.len());
            for (index, b) in blocks.iter().enumerate() {
                ranges.push(build(index, b)?);
            }
            self.pools.insert(
                spec.name.clone(),
                Pool {
                    spec,
                    ranges,
                    conflict: None,
                },
            );
            return Ok(Upserted {
                created: true,
                removed: Vec::new(),
            });
        };

        // Build new ranges before touching the pool so an error leaves it as it was.
        let mut claimed = vec![false; blocks.len()];
        let mut keep = Vec::with_capacity(pool.ranges.len());
        for range in &pool.ranges {
            let hit = blocks
                .iter()
                .enumerate()
                .position(|(i, b)| !claimed[i] && range.bounds_eq(b));
            if let Some(i) = hit {
                claimed[i] = true;
            }
            keep.push(hit);
        }
        let mut added = Vec::new();
        for (index, b) in blocks.iter().enumerate() {
            if !claimed[index] {
                added.push(build(index, b)?);
            }
        }

        let flip = pool.spec.reserves_first_last() != reserve;
        let mut removed = Vec::new();
        let mut kept = Vec::with_capacity(blocks.len());
        for (range, hit) in std::mem::take(&mut pool.ranges).into_iter().zip(keep) {
            match hit.and_then(|i| blocks.get(i)) {
                Some(b) => {
                    let mut range = range;
                    range.from_cidr = b.from_cidr;
                    if flip && range.from_cidr {
                        if reserve {
                            range.reserve_first_last();
                        } else {
                            range.release_first_last();
                        }
                    }
                    kept.push(range);
                }
                None => removed.push(range),
            }
        }
        kept.extend(added);
        pool.ranges = kept;
        pool.spec = spec;
        Ok(Upserted {
            created: false,
            removed,
        })
    }

    /// Removes a pool; its ranges come back with every allocation so owners can be updated.
    pub fn remove(&mut self, name: &str) -> Option<Pool<T>> {
        self.pools.remove(name)
    }

    /// A pool by name.
    pub fn get(&self, name: &str) -> Option<&Pool<T>> {
        self.pools.get(name)
    }

    /// A pool by name, to allocate from.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Pool<T>> {
        self.pools.get_mut(name)
    }

    /// Pools in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Pool<T>> + '_ {
        self.pools.values()
    }

    /// Pools in name order, mutable.
    #[cfg(test)]
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Pool<T>> + '_ {
        self.pools.values_mut()
    }

    /// Number of pools.
    pub fn len(&self) -> usize {
        self.pools.len()
    }

    /// Whether there are no pools (LB-IPAM is dormant then).
    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
    }

    /// Cilium's `settleConflicts` (architecture.md, "Pool conflicts"), returning the status changes to write.
    ///
    /// Marking pass, for each pool not yet conflicting: an overlap between two of its own
    /// ranges marks it against itself; otherwise it is compared with every other
    /// non-conflicting pool and on the first overlap the newer pool (later `creation`) is
    /// marked. Unmark pass: a conflicting pool that overlaps neither itself nor any other pool
    /// (conflicting ones included) is resolved. Marks are sticky in between, as in Cilium.
    ///
    /// Determinism, where Cilium depends on Go map order: pools are visited oldest first
    /// (then by name), and with equal timestamps the pool whose name sorts later loses.
    /// Visiting the oldest first means an older pool claims its ranges before a newer one is
    /// compared, which marks the fewest pools in overlap chains.
    pub fn settle_conflicts(&mut self) -> Vec<ConflictChange> {
        let mut order: Vec<&str> = self.pools.keys().map(String::as_str).collect();
        order.sort_by(|a, b| {
            let ca = self.pools.get(*a).map(|p| p.spec.creation);
            let cb = self.pools.get(*b).map(|p| p.spec.creation);
            ca.cmp(&cb).then(a.cmp(b))
        });
        let order: Vec<String> = order.into_iter().map(str::to_owned).collect();
        let mut changes = Vec::new();

        for outer_name in &order {
            let Some(outer) = self.pools.get(outer_name) else {
                continue;
            };
            if outer.conflict.is_some() {
                continue;
            }
            if let Some((i, j)) = outer.internal_conflict() {
                let conflict = Conflict {
                    range: outer.bounds(i),
                    other_range: outer.bounds(j),
                    other_pool: outer_name.clone(),
                };
                self.mark(outer_name, conflict, &mut changes);
                continue;
            }
            for inner_name in &order {
                if inner_name == outer_name {
                    continue;
                }
                let (Some(outer), Some(inner)) =
                    (self.pools.get(outer_name), self.pools.get(inner_name))
                else {
                    continue;
                };
                if inner.conflict.is_some() {
                    continue;
                }
                let Some((oi, ii)) = outer.conflict_with(inner) else {
                    continue;
                };
                let outer_older = (outer.spec.creation, outer_name.as_str())
                    < (inner.spec.creation, inner_name.as_str());
                if outer_older {
                    let conflict = Conflict {
                        range: inner.bounds(ii),
                        other_range: outer.bounds(oi),
                        other_pool: outer_name.clone(),
                    };
                    self.mark(inner_name, conflict, &mut changes);
                } else {
                    let conflict = Conflict {
                        range: outer.bounds(oi),
                        other_range: inner.bounds(ii),
                        other_pool: inner_name.clone(),
                    };
                    self.mark(outer_name, conflict, &mut changes);
                }
                break;
            }
        }

        for name in &order {
            let Some(pool) = self.pools.get(name) else {
                continue;
            };
            if pool.conflict.is_none() || pool.internal_conflict().is_some() {
                continue;
            }
            let overlaps_any = self.pools.iter().any(|(other_name, other)| {
                other_name != name && pool.conflict_with(other).is_some()
            });
            if !overlaps_any {
                if let Some(pool) = self.pools.get_mut(name) {
                    pool.conflict = None;
                }
                changes.push(ConflictChange::Resolved { pool: name.clone() });
            }
        }
        changes
    }

    fn mark(&mut self, name: &str, conflict: Conflict, changes: &mut Vec<ConflictChange>) {
        if let Some(pool) = self.pools.get_mut(name) {
            if pool.conflict.is_none() {
                pool.conflict = Some(conflict.clone());
                changes.push(ConflictChange::Marked {
                    pool: name.to_owned(),
                    conflict,
                });
            }
        }
    }

    /// Number of conflicting pools (`lbipam_conflicting_pools_total`).
    pub fn conflicting(&self) -> usize {
        self.pools.values().filter(|p| p.conflict.is_some()).count()
    }
}

#[cfg(test)]
mod tests;
