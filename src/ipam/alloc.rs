//! Sparse allocator over one inclusive IP range, the counterpart of Cilium's
//! `ipalloc.HashAllocator`.
//!
//! Memory grows with the number of allocations and with fragmentation, never with the size
//! of the range: an empty IPv6 /64 (or the whole IPv6 space) is one free block.
//!
//! Free space is kept twice: by start address (to split and merge blocks in O(log n)) and
//! by (size, start) (to find the smallest block in O(log n)). Cilium walks a heap/linked
//! list for `Alloc`/`Free` (O(free blocks)); the outcome is the same, only faster.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::{Add, AddAssign};

// Cilium's `pkg/ipalloc` wording, typos included (see model::names).
use crate::model::names::{
    MSG_FAMILY_MISMATCH, MSG_FULL, MSG_IN_USE, MSG_NOT_FOUND, MSG_OUT_OF_RANGE,
    MSG_START_AFTER_STOP,
};

/// Errors of the allocation operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// No free address is left in the range.
    #[error("{}", MSG_FULL)]
    Full,
    /// The address lies outside `[from, to]` or is of the other family.
    #[error("{}", MSG_OUT_OF_RANGE)]
    OutOfRange,
    /// The address is already allocated.
    #[error("{}", MSG_IN_USE)]
    InUse,
    /// The address is not allocated (free, update).
    #[error("{}", MSG_NOT_FOUND)]
    NotFound,
}

/// Errors of [`RangeAllocator::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// One bound is IPv4 and the other IPv6 (IPv4-mapped IPv6 counts as IPv6, as in Go).
    #[error("{}", MSG_FAMILY_MISMATCH)]
    FamilyMismatch,
    /// `start > stop`.
    #[error("{}", MSG_START_AFTER_STOP)]
    StartAfterStop,
}

/// Address family of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// Family of `ip`. `::ffff:a.b.c.d` is IPv6, as Go's `netip` sees it.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Number of bits of an address of this family.
    pub(crate) fn bits(self) -> u32 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// Largest address of this family as an integer.
    pub(crate) fn max_value(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }
}

/// `ip` as an integer (IPv4 in the low 32 bits).
pub(crate) fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Inverse of [`ip_to_u128`]; an IPv4 value above `u32::MAX` keeps its low 32 bits, which
/// cannot happen for values taken from a range of that family.
pub(crate) fn u128_to_ip(family: Family, value: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(value as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(value)),
    }
}

/// `ip` moved by `delta` addresses, `None` past either end of its family's space.
pub(crate) fn ip_offset(ip: IpAddr, delta: i128) -> Option<IpAddr> {
    let family = Family::of(ip);
    let v = i128::try_from(ip_to_u128(ip)).ok();
    // IPv6 values above i128::MAX go through unsigned arithmetic.
    let moved = match v {
        Some(v) => u128::try_from(v.checked_add(delta)?).ok()?,
        None if delta >= 0 => ip_to_u128(ip).checked_add(delta.unsigned_abs())?,
        None => ip_to_u128(ip).checked_sub(delta.unsigned_abs())?,
    };
    (moved <= family.max_value()).then(|| u128_to_ip(family, moved))
}

/// A number of addresses that cannot overflow.
///
/// A single range may hold 2^128 addresses (`::/0`) and a pool may hold several such ranges,
/// so neither `u128` nor `u128 + 1` is enough. The value is `hi * 2^128 + lo`; `hi` saturates,
/// which would take 2^128 ranges to reach. `Display` prints the plain decimal, as Cilium's
/// `big.Int` does in the `IPsTotal`/`IPsAvailable`/`IPsUsed` condition messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpCount {
    // Field order matters: the derived `Ord` compares `hi` first.
    hi: u128,
    lo: u128,
}

impl IpCount {
    /// Zero addresses.
    pub const ZERO: IpCount = IpCount { hi: 0, lo: 0 };

    /// The size of an inclusive range given `to - from`, i.e. `span + 1` without overflow.
    pub(crate) fn from_span(span: u128) -> IpCount {
        match span.checked_add(1) {
            Some(lo) => IpCount { hi: 0, lo },
            None => IpCount { hi: 1, lo: 0 },
        }
    }

    /// The value if it fits in a `u128`.
    #[cfg(test)]
    pub(crate) fn to_u128(self) -> Option<u128> {
        (self.hi == 0).then_some(self.lo)
    }

    /// The count as the nearest float (Prometheus has only floats): exact up to 2^53, then
    /// rounded; an IPv6 `::/0` is 2^128 ≈ 3.4e38, not a saturated `f64::MAX`.
    pub(crate) fn to_f64(self) -> f64 {
        const TWO_128: f64 = 340_282_366_920_938_463_463_374_607_431_768_211_456.0;
        self.hi as f64 * TWO_128 + self.lo as f64
    }

    /// `self - other`, or `None` when `other > self`.
    pub(crate) fn checked_sub(self, other: IpCount) -> Option<IpCount> {
        if other > self {
            return None;
        }
        let (lo, borrow) = self.lo.overflowing_sub(other.lo);
        Some(IpCount {
            hi: self.hi - other.hi - u128::from(borrow),
            lo,
        })
    }
}

impl From<u128> for IpCount {
    fn from(lo: u128) -> IpCount {
        IpCount { hi: 0, lo }
    }
}

impl From<usize> for IpCount {
    fn from(n: usize) -> IpCount {
        IpCount {
            hi: 0,
            lo: n as u128,
        }
    }
}

impl Add for IpCount {
    type Output = IpCount;
    fn add(self, other: IpCount) -> IpCount {
        let (lo, carry) = self.lo.overflowing_add(other.lo);
        IpCount {
            hi: self
                .hi
                .saturating_add(other.hi)
                .saturating_add(u128::from(carry)),
            lo,
        }
    }
}

impl AddAssign for IpCount {
    fn add_assign(&mut self, other: IpCount) {
        *self = *self + other;
    }
}

impl fmt::Display for IpCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hi == 0 {
            return write!(f, "{}", self.lo);
        }
        // 256-bit long division by 10^19 (the largest power of ten in a u64), little-endian limbs.
        const CHUNK: u128 = 10_000_000_000_000_000_000;
        let mut limbs = [
            self.lo as u64,
            (self.lo >> 64) as u64,
            self.hi as u64,
            (self.hi >> 64) as u64,
        ];
        let mut chunks = Vec::new();
        while limbs.iter().any(|&l| l != 0) {
            let mut rem: u128 = 0;
            for limb in limbs.iter_mut().rev() {
                let cur = (rem << 64) | u128::from(*limb);
                *limb = (cur / CHUNK) as u64;
                rem = cur % CHUNK;
            }
            chunks.push(rem as u64);
        }
        let mut iter = chunks.iter().rev();
        if let Some(first) = iter.next() {
            write!(f, "{first}")?;
        }
        for chunk in iter {
            write!(f, "{chunk:019}")?;
        }
        Ok(())
    }
}

/// Usage of one range, as Cilium's `Stats()` plus the total; `used + available == total` always.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Allocated addresses (reserved first/last addresses included).
    pub used: IpCount,
    /// Addresses still free.
    pub available: IpCount,
    /// `to - from + 1`.
    pub total: IpCount,
}

/// Allocation table keyed by offset from the range start.
///
/// The narrow form halves the key for every range of at most 2^64 addresses (all of IPv4,
/// IPv6 up to a /64), which is what keeps an allocation near 32 bytes for a word-sized `T`.
/// The wide key is two `u64` rather than a `u128` so it stays 8-byte aligned (a `u128` key
/// would pad every entry to 16-byte alignment).
#[derive(Debug, Clone)]
enum Table<T> {
    Narrow(HashMap<u64, T>),
    Wide(HashMap<[u64; 2], T>),
}

fn wide_key(off: u128) -> [u64; 2] {
    [(off >> 64) as u64, off as u64]
}

fn wide_off(key: &[u64; 2]) -> u128 {
    (u128::from(key[0]) << 64) | u128::from(key[1])
}

impl<T> Table<T> {
    fn new(span: u128) -> Table<T> {
        if span <= u128::from(u64::MAX) {
            Table::Narrow(HashMap::new())
        } else {
            Table::Wide(HashMap::new())
        }
    }

    // Offsets passed in are always <= span, so the narrow cast below never truncates.
    fn len(&self) -> usize {
        match self {
            Table::Narrow(m) => m.len(),
            Table::Wide(m) => m.len(),
        }
    }

    fn get(&self, off: u128) -> Option<&T> {
        match self {
            Table::Narrow(m) => m.get(&(off as u64)),
            Table::Wide(m) => m.get(&wide_key(off)),
        }
    }

    fn get_mut(&mut self, off: u128) -> Option<&mut T> {
        match self {
            Table::Narrow(m) => m.get_mut(&(off as u64)),
            Table::Wide(m) => m.get_mut(&wide_key(off)),
        }
    }

    fn contains(&self, off: u128) -> bool {
        self.get(off).is_some()
    }

    /// Inserts only when vacant; returns false when occupied.
    fn insert_new(&mut self, off: u128, value: T) -> bool {
        match self {
            Table::Narrow(m) => match m.entry(off as u64) {
                Entry::Occupied(_) => false,
                Entry::Vacant(v) => {
                    v.insert(value);
                    true
                }
            },
            Table::Wide(m) => match m.entry(wide_key(off)) {
                Entry::Occupied(_) => false,
                Entry::Vacant(v) => {
                    v.insert(value);
                    true
                }
            },
        }
    }

    fn remove(&mut self, off: u128) -> Option<T> {
        match self {
            Table::Narrow(m) => m.remove(&(off as u64)),
            Table::Wide(m) => m.remove(&wide_key(off)),
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = (u128, &T)> + '_> {
        match self {
            Table::Narrow(m) => Box::new(m.iter().map(|(k, v)| (u128::from(*k), v))),
            Table::Wide(m) => Box::new(m.iter().map(|(k, v)| (wide_off(k), v))),
        }
    }
}

/// A sparse allocator over the inclusive range `[from, to]` of one address family, holding
/// an owner value `T` per allocated address.
///
/// Addresses are handled internally as offsets from `from`, so all block arithmetic is on
/// `0..=span` and cannot overflow even for `::/0`.
#[derive(Debug, Clone)]
pub struct RangeAllocator<T> {
    family: Family,
    from: u128,
    /// `to - from`; the size minus one, so the full IPv6 space fits.
    span: u128,
    /// Free blocks: start offset -> end offset (inclusive).
    free: BTreeMap<u128, u128>,
    /// The same blocks as (end - start, start): the first entry is the smallest block and,
    /// among equally small ones, the lowest-addressed.
    by_size: BTreeSet<(u128, u128)>,
    allocs: Table<T>,
}

impl<T> RangeAllocator<T> {
    /// A range over `[from, to]`; both bounds are allocatable.
    ///
    /// Errors mirror Cilium's `NewHashAllocator`: mixed families, then `from > to`.
    pub fn new(from: IpAddr, to: IpAddr) -> Result<Self, RangeError> {
        let family = Family::of(from);
        if family != Family::of(to) {
            return Err(RangeError::FamilyMismatch);
        }
        let (lo, hi) = (ip_to_u128(from), ip_to_u128(to));
        if lo > hi {
            return Err(RangeError::StartAfterStop);
        }
        let span = hi - lo;
        let mut free = BTreeMap::new();
        free.insert(0, span);
        let mut by_size = BTreeSet::new();
        by_size.insert((span, 0));
        Ok(RangeAllocator {
            family,
            from: lo,
            span,
            free,
            by_size,
            allocs: Table::new(span),
        })
    }

    /// First address of the range.
    pub fn from(&self) -> IpAddr {
        u128_to_ip(self.family, self.from)
    }

    /// Last address of the range (inclusive).
    pub fn to(&self) -> IpAddr {
        u128_to_ip(self.family, self.from + self.span)
    }

    /// Address family of the range.
    pub(crate) fn family(&self) -> Family {
        self.family
    }

    /// Whether `ip` lies in `[from, to]` (an address of the other family never does).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.offset(ip).is_some()
    }

    /// Whether this range and `[from, to]` of the same family share an address.
    pub(crate) fn intersects(&self, other: &RangeAllocator<impl Sized>) -> bool {
        self.family == other.family
            && self.from <= other.from + other.span
            && other.from <= self.from + self.span
    }

    fn offset(&self, ip: IpAddr) -> Option<u128> {
        if Family::of(ip) != self.family {
            return None;
        }
        let off = ip_to_u128(ip).checked_sub(self.from)?;
        (off <= self.span).then_some(off)
    }

    fn addr(&self, off: u128) -> IpAddr {
        u128_to_ip(self.family, self.from + off)
    }

    fn insert_block(&mut self, start: u128, end: u128) {
        self.free.insert(start, end);
        self.by_size.insert((end - start, start));
    }

    fn remove_block(&mut self, start: u128, end: u128) {
        self.free.remove(&start);
        self.by_size.remove(&(end - start, start));
    }

    /// Removes `off` from the free block `[start, end]` that holds it.
    fn take(&mut self, start: u128, end: u128, off: u128) {
        self.remove_block(start, end);
        if off > start {
            self.insert_block(start, off - 1);
        }
        if off < end {
            self.insert_block(off + 1, end);
        }
    }

    /// Allocates an address chosen the way Cilium does: the **first address of the smallest
    /// free block**. On a fresh range that is the lowest address; after frees it fills the
    /// smallest gap first, which keeps the number of blocks low.
    ///
    /// Ties between equally small blocks go to the lowest-addressed block. Cilium's min-heap
    /// leaves ties to heap order, which depends on history; being deterministic here is a
    /// deliberate refinement.
    pub fn alloc_any(&mut self, value: T) -> Result<IpAddr, AllocError> {
        let &(size, start) = self.by_size.first().ok_or(AllocError::Full)?;
        self.take(start, start + size, start);
        // A free offset is never in the table, so this insert cannot collide.
        self.allocs.insert_new(start, value);
        Ok(self.addr(start))
    }

    /// Allocates the specific address `ip`.
    pub fn alloc(&mut self, ip: IpAddr, value: T) -> Result<(), AllocError> {
        let off = self.offset(ip).ok_or(AllocError::OutOfRange)?;
        if self.allocs.contains(off) {
            return Err(AllocError::InUse);
        }
        let (start, end) = self
            .free
            .range(..=off)
            .next_back()
            .map(|(&s, &e)| (s, e))
            .filter(|&(_, e)| e >= off)
            // Unreachable while the table and the free list agree; report what Cilium would.
            .ok_or(AllocError::InUse)?;
        self.take(start, end, off);
        self.allocs.insert_new(off, value);
        Ok(())
    }

    /// Frees `ip` and returns its value. Freeing an address that is not allocated (or out of
    /// range) is `NotFound`, as in Cilium.
    pub fn free(&mut self, ip: IpAddr) -> Result<T, AllocError> {
        let off = self.offset(ip).ok_or(AllocError::NotFound)?;
        let value = self.allocs.remove(off).ok_or(AllocError::NotFound)?;
        let mut start = off;
        let mut end = off;
        if off > 0 {
            if let Some((&ls, &le)) = self.free.range(..off).next_back() {
                if le == off - 1 {
                    self.remove_block(ls, le);
                    start = ls;
                }
            }
        }
        if off < self.span {
            if let Some(&re) = self.free.get(&(off + 1)) {
                self.remove_block(off + 1, re);
                end = re;
            }
        }
        self.insert_block(start, end);
        Ok(value)
    }

    /// The value held by `ip`, if allocated.
    pub fn get(&self, ip: IpAddr) -> Option<&T> {
        self.allocs.get(self.offset(ip)?)
    }

    /// Mutable access to the value held by `ip`, if allocated.
    pub fn get_mut(&mut self, ip: IpAddr) -> Option<&mut T> {
        let off = self.offset(ip)?;
        self.allocs.get_mut(off)
    }

    /// Replaces the value of an allocated `ip` and returns the old one.
    pub fn update(&mut self, ip: IpAddr, value: T) -> Result<T, AllocError> {
        let slot = self.get_mut(ip).ok_or(AllocError::NotFound)?;
        Ok(std::mem::replace(slot, value))
    }

    /// Whether `ip` is allocated.
    pub(crate) fn is_allocated(&self, ip: IpAddr) -> bool {
        self.get(ip).is_some()
    }

    /// Number of allocated addresses.
    pub fn len(&self) -> usize {
        self.allocs.len()
    }

    /// Whether nothing is allocated.
    pub fn is_empty(&self) -> bool {
        self.allocs.len() == 0
    }

    /// Whether every address is allocated.
    #[cfg(test)]
    pub(crate) fn is_full(&self) -> bool {
        self.free.is_empty()
    }

    /// Allocations in no particular order (like Cilium's `ForEach`).
    pub fn iter(&self) -> impl Iterator<Item = (IpAddr, &T)> + '_ {
        self.allocs.iter().map(|(off, v)| (self.addr(off), v))
    }

    /// Allocations in address order; sorts a copy, meant for display and tests.
    #[cfg(test)]
    pub(crate) fn iter_sorted(&self) -> Vec<(IpAddr, &T)> {
        let mut all: Vec<(u128, &T)> = self.allocs.iter().collect();
        all.sort_unstable_by_key(|(off, _)| *off);
        all.into_iter()
            .map(|(off, v)| (self.addr(off), v))
            .collect()
    }

    /// Free blocks in address order, as inclusive `(first, last)` pairs.
    pub fn free_blocks(&self) -> impl Iterator<Item = (IpAddr, IpAddr)> + '_ {
        self.free
            .iter()
            .map(|(&s, &e)| (self.addr(s), self.addr(e)))
    }

    /// Used, available and total addresses.
    pub(crate) fn stats(&self) -> Stats {
        let total = IpCount::from_span(self.span);
        let used = IpCount::from(self.allocs.len());
        // used <= total because every allocation is a distinct offset in 0..=span.
        let available = total.checked_sub(used).unwrap_or(IpCount::ZERO);
        Stats {
            used,
            available,
            total,
        }
    }
}

#[cfg(test)]
mod tests;
