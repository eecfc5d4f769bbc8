use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use proptest::prelude::*;

use crate::ipam::alloc::{
    ip_to_u128, u128_to_ip, AllocError, Family, IpCount, RangeAllocator, RangeError,
};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test literal")
}

fn range(from: &str, to: &str) -> RangeAllocator<u32> {
    RangeAllocator::new(ip(from), ip(to)).expect("valid test range")
}

#[test]
fn error_messages_are_ciliums() {
    assert_eq!(
        AllocError::Full.to_string(),
        "cannot allocate IP, no more IPs available"
    );
    assert_eq!(
        AllocError::InUse.to_string(),
        "the requested IP is already allocated"
    );
    assert_eq!(
        AllocError::OutOfRange.to_string(),
        "the requested IP is out of the allocators range"
    );
    assert_eq!(
        AllocError::NotFound.to_string(),
        "the requested IP cannot be found"
    );
    assert_eq!(
        RangeError::FamilyMismatch.to_string(),
        "'start' must be the same address family as 'stop'"
    );
    assert_eq!(
        RangeError::StartAfterStop.to_string(),
        "'start' must be less then or equal to 'stop'"
    );
}

#[test]
fn construction_errors() {
    assert_eq!(
        RangeAllocator::<()>::new(ip("10.0.0.1"), ip("::1")).err(),
        Some(RangeError::FamilyMismatch)
    );
    // IPv4-mapped IPv6 is IPv6, as in Go's netip.
    assert_eq!(
        RangeAllocator::<()>::new(ip("10.0.0.1"), ip("::ffff:10.0.0.2")).err(),
        Some(RangeError::FamilyMismatch)
    );
    assert_eq!(
        RangeAllocator::<()>::new(ip("10.0.0.2"), ip("10.0.0.1")).err(),
        Some(RangeError::StartAfterStop)
    );
    // Family is checked before order, like NewHashAllocator.
    assert_eq!(
        RangeAllocator::<()>::new(ip("::2"), ip("10.0.0.1")).err(),
        Some(RangeError::FamilyMismatch)
    );
    assert!(RangeAllocator::<()>::new(ip("10.0.0.1"), ip("10.0.0.1")).is_ok());
}

#[test]
fn fresh_range_allocates_from_the_lowest_address_up() {
    let mut r = range("10.0.0.10", "10.0.0.12");
    assert_eq!(r.alloc_any(1), Ok(ip("10.0.0.10")));
    assert_eq!(r.alloc_any(2), Ok(ip("10.0.0.11")));
    assert_eq!(r.alloc_any(3), Ok(ip("10.0.0.12")));
    assert_eq!(r.alloc_any(4), Err(AllocError::Full));
    assert!(r.is_full());
    assert_eq!(r.get(ip("10.0.0.11")), Some(&2));
}

#[test]
fn alloc_any_fills_the_smallest_gap_first() {
    let mut r = range("10.0.0.0", "10.0.0.255");
    for i in 0..10u32 {
        r.alloc_any(i).expect("room");
    }
    // Free .2 (gap of 1) and .5..=.6 (gap of 2); the big tail block .10-.255 is largest.
    r.free(ip("10.0.0.5")).expect("allocated");
    r.free(ip("10.0.0.6")).expect("allocated");
    r.free(ip("10.0.0.2")).expect("allocated");
    assert_eq!(r.alloc_any(100), Ok(ip("10.0.0.2")));
    assert_eq!(r.alloc_any(101), Ok(ip("10.0.0.5")));
    assert_eq!(r.alloc_any(102), Ok(ip("10.0.0.6")));
    assert_eq!(r.alloc_any(103), Ok(ip("10.0.0.10")));
}

#[test]
fn ties_between_equal_blocks_go_to_the_lowest_address() {
    let mut r = range("10.0.0.0", "10.0.0.9");
    for i in 0..10u32 {
        r.alloc_any(i).expect("room");
    }
    // Three single-address gaps, freed in reverse order.
    for last in ["10.0.0.7", "10.0.0.4", "10.0.0.1"] {
        r.free(ip(last)).expect("allocated");
    }
    assert_eq!(r.alloc_any(0), Ok(ip("10.0.0.1")));
    assert_eq!(r.alloc_any(0), Ok(ip("10.0.0.4")));
    assert_eq!(r.alloc_any(0), Ok(ip("10.0.0.7")));
}

#[test]
fn specific_alloc_errors() {
    let mut r = range("10.0.0.10", "10.0.0.20");
    assert_eq!(r.alloc(ip("10.0.0.9"), 1), Err(AllocError::OutOfRange));
    assert_eq!(r.alloc(ip("10.0.0.21"), 1), Err(AllocError::OutOfRange));
    assert_eq!(r.alloc(ip("::1"), 1), Err(AllocError::OutOfRange));
    assert_eq!(
        r.alloc(ip("::ffff:10.0.0.15"), 1),
        Err(AllocError::OutOfRange)
    );
    assert_eq!(r.alloc(ip("10.0.0.15"), 1), Ok(()));
    assert_eq!(r.alloc(ip("10.0.0.15"), 2), Err(AllocError::InUse));
    assert_eq!(r.get(ip("10.0.0.15")), Some(&1), "value not overwritten");
    assert_eq!(r.len(), 1);
}

#[test]
fn free_update_get_errors() {
    let mut r = range("10.0.0.10", "10.0.0.20");
    assert_eq!(r.free(ip("10.0.0.10")), Err(AllocError::NotFound));
    assert_eq!(r.free(ip("1.1.1.1")), Err(AllocError::NotFound));
    assert_eq!(r.update(ip("10.0.0.10"), 5), Err(AllocError::NotFound));
    assert_eq!(r.get(ip("1.1.1.1")), None);
    r.alloc(ip("10.0.0.10"), 1).expect("free");
    assert_eq!(r.update(ip("10.0.0.10"), 5), Ok(1));
    assert_eq!(r.get(ip("10.0.0.10")), Some(&5));
    if let Some(v) = r.get_mut(ip("10.0.0.10")) {
        *v = 6;
    }
    assert_eq!(r.free(ip("10.0.0.10")), Ok(6));
    assert_eq!(r.free(ip("10.0.0.10")), Err(AllocError::NotFound));
}

#[test]
fn free_merges_neighbouring_blocks() {
    let mut r = range("10.0.0.0", "10.0.0.9");
    for i in 0..10u32 {
        r.alloc_any(i).expect("room");
    }
    for a in ["10.0.0.3", "10.0.0.5", "10.0.0.4"] {
        r.free(ip(a)).expect("allocated");
    }
    let blocks: Vec<_> = r.free_blocks().collect();
    assert_eq!(blocks, vec![(ip("10.0.0.3"), ip("10.0.0.5"))]);
    for a in ["10.0.0.0", "10.0.0.9", "10.0.0.1", "10.0.0.2", "10.0.0.6"] {
        r.free(ip(a)).expect("allocated");
    }
    let blocks: Vec<_> = r.free_blocks().collect();
    assert_eq!(
        blocks,
        vec![
            (ip("10.0.0.0"), ip("10.0.0.6")),
            (ip("10.0.0.9"), ip("10.0.0.9"))
        ]
    );
}

#[test]
fn edges_of_the_address_space_do_not_overflow() {
    let mut r: RangeAllocator<u8> =
        RangeAllocator::new(ip("::"), ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
            .expect("valid");
    let st = r.stats();
    assert_eq!(
        st.total.to_string(),
        "340282366920938463463374607431768211456"
    );
    assert_eq!(st.available, st.total);
    assert_eq!(st.total.to_u128(), None);
    let max = ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    r.alloc(max, 1).expect("free");
    r.alloc(ip("::"), 2).expect("free");
    assert_eq!(r.alloc_any(3), Ok(ip("::1")));
    assert_eq!(
        r.stats().available.to_string(),
        "340282366920938463463374607431768211453"
    );
    r.free(max).expect("allocated");
    r.free(ip("::")).expect("allocated");
    r.free(ip("::1")).expect("allocated");
    assert_eq!(r.free_blocks().count(), 1);

    let mut v4: RangeAllocator<u8> =
        RangeAllocator::new(ip("0.0.0.0"), ip("255.255.255.255")).expect("valid");
    assert_eq!(v4.stats().total.to_u128(), Some(1 << 32));
    v4.alloc(ip("255.255.255.255"), 0).expect("free");
    v4.free(ip("255.255.255.255")).expect("allocated");
    assert_eq!(v4.alloc_any(0), Ok(ip("0.0.0.0")));
}

#[test]
fn v6_64_is_sparse() {
    let mut r = range("2001:db8::", "2001:db8::ffff:ffff:ffff:ffff");
    assert_eq!(r.stats().total.to_u128(), Some(1u128 << 64));
    assert_eq!(r.alloc_any(1), Ok(ip("2001:db8::")));
    assert_eq!(r.alloc(ip("2001:db8::ffff:ffff:ffff:ffff"), 2), Ok(()));
    assert_eq!(r.stats().used.to_u128(), Some(2));
    assert_eq!(r.free_blocks().count(), 1);
    // Bigger than 2^64: the wide table.
    let mut w = range("2001:db8::", "2001:db8::1:0:0:0:0");
    assert_eq!(w.alloc(ip("2001:db8::1:0:0:0:0"), 3), Ok(()));
    assert_eq!(w.get(ip("2001:db8::1:0:0:0:0")), Some(&3));
    assert_eq!(w.iter().count(), 1);
}

#[test]
fn iter_and_iter_sorted() {
    let mut r = range("10.0.0.0", "10.0.0.9");
    r.alloc(ip("10.0.0.7"), 7).expect("free");
    r.alloc(ip("10.0.0.2"), 2).expect("free");
    r.alloc(ip("10.0.0.5"), 5).expect("free");
    let sorted: Vec<(IpAddr, u32)> = r.iter_sorted().into_iter().map(|(a, v)| (a, *v)).collect();
    assert_eq!(
        sorted,
        vec![
            (ip("10.0.0.2"), 2),
            (ip("10.0.0.5"), 5),
            (ip("10.0.0.7"), 7)
        ]
    );
    let mut unsorted: Vec<u32> = r.iter().map(|(_, v)| *v).collect();
    unsorted.sort_unstable();
    assert_eq!(unsorted, vec![2, 5, 7]);
}

#[test]
fn range_accessors() {
    let r = range("10.0.0.1", "10.0.0.4");
    assert_eq!(r.from(), ip("10.0.0.1"));
    assert_eq!(r.to(), ip("10.0.0.4"));
    assert_eq!(r.family(), Family::V4);
    assert!(r.contains(ip("10.0.0.4")));
    assert!(!r.contains(ip("10.0.0.5")));
    assert!(r.is_empty());
    let other = range("10.0.0.4", "10.0.0.9");
    assert!(r.intersects(&other));
    let disjoint = range("10.0.0.5", "10.0.0.9");
    assert!(!r.intersects(&disjoint));
    let v6 = range("::a00:1", "::a00:4");
    assert!(!r.intersects(&v6), "families never intersect");
}

#[test]
fn ip_count_arithmetic_and_display() {
    let two_128 = IpCount::from_span(u128::MAX);
    assert_eq!(
        two_128.to_string(),
        "340282366920938463463374607431768211456"
    );
    let double = two_128 + two_128;
    assert_eq!(
        double.to_string(),
        "680564733841876926926749214863536422912"
    );
    assert_eq!(double.checked_sub(two_128), Some(two_128));
    assert_eq!(two_128.checked_sub(double), None);
    assert_eq!(IpCount::ZERO.to_string(), "0");
    assert_eq!(IpCount::from(254u128).to_string(), "254");
    let near = IpCount::from(u128::MAX) + IpCount::from(1u128);
    assert_eq!(near, two_128);
    assert_eq!(
        near.checked_sub(IpCount::from(1u128)),
        Some(IpCount::from(u128::MAX))
    );
    // Chunk boundaries: 2^128 * 10^k style values keep their zeros.
    let mut acc = IpCount::ZERO;
    for _ in 0..10 {
        acc += two_128;
    }
    assert_eq!(acc.to_string(), "3402823669209384634633746074317682114560");
}

#[test]
fn u128_conversions_round_trip() {
    for s in [
        "0.0.0.0",
        "10.1.2.3",
        "255.255.255.255",
        "::",
        "2001:db8::1",
        "::ffff:1.2.3.4",
    ] {
        let a = ip(s);
        assert_eq!(u128_to_ip(Family::of(a), ip_to_u128(a)), a);
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests against a naive model over a small range.
// ---------------------------------------------------------------------------------------------

/// The obvious, slow allocator: a set of allocated offsets over 0..size.
struct Model {
    size: u32,
    used: BTreeMap<u32, u32>,
}

impl Model {
    fn free_blocks(&self) -> Vec<(u32, u32)> {
        let mut blocks = Vec::new();
        let mut start = None;
        for off in 0..self.size {
            let free = !self.used.contains_key(&off);
            match (free, start) {
                (true, None) => start = Some(off),
                (false, Some(s)) => {
                    blocks.push((s, off - 1));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            blocks.push((s, self.size - 1));
        }
        blocks
    }

    /// First address of the smallest free block, lowest block on ties.
    fn alloc_any(&self) -> Option<u32> {
        self.free_blocks()
            .into_iter()
            .min_by_key(|&(s, e)| (e - s, s))
            .map(|(s, _)| s)
    }
}

#[derive(Debug, Clone)]
enum Op {
    AllocAny,
    Alloc(u32),
    Free(u32),
    Update(u32),
}

fn op(size: u32) -> impl Strategy<Value = Op> {
    // Offsets slightly past the end exercise OutOfRange.
    prop_oneof![
        3 => Just(Op::AllocAny),
        3 => (0..size + 2).prop_map(Op::Alloc),
        3 => (0..size + 2).prop_map(Op::Free),
        1 => (0..size + 2).prop_map(Op::Update),
    ]
}

fn check_ops(base: IpAddr, size: u32, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let family = Family::of(base);
    let from = ip_to_u128(base);
    // Wrapping: offsets past the end of the IPv6 space must land outside the range.
    let at = |off: u32| u128_to_ip(family, from.wrapping_add(u128::from(off)));
    let mut r: RangeAllocator<u32> = RangeAllocator::new(base, at(size - 1)).expect("valid");
    let mut m = Model {
        size,
        used: BTreeMap::new(),
    };
    let mut handed_out = BTreeSet::new();
    for (step, op) in ops.into_iter().enumerate() {
        let value = step as u32;
        match op {
            Op::AllocAny => {
                let got = r.alloc_any(value);
                match m.alloc_any() {
                    Some(off) => {
                        prop_assert_eq!(got, Ok(at(off)));
                        prop_assert!(handed_out.insert(off), "address handed out twice");
                        m.used.insert(off, value);
                    }
                    None => prop_assert_eq!(got, Err(AllocError::Full)),
                }
            }
            Op::Alloc(off) => {
                let got = r.alloc(at(off), value);
                if off >= size {
                    prop_assert_eq!(got, Err(AllocError::OutOfRange));
                } else {
                    match m.used.entry(off) {
                        Entry::Occupied(_) => prop_assert_eq!(got, Err(AllocError::InUse)),
                        Entry::Vacant(slot) => {
                            prop_assert_eq!(got, Ok(()));
                            prop_assert!(handed_out.insert(off), "address handed out twice");
                            slot.insert(value);
                        }
                    }
                }
            }
            Op::Free(off) => {
                let got = r.free(at(off));
                match m.used.remove(&off) {
                    Some(v) => {
                        prop_assert_eq!(got, Ok(v));
                        handed_out.remove(&off);
                    }
                    None => prop_assert_eq!(got, Err(AllocError::NotFound)),
                }
            }
            Op::Update(off) => {
                let got = r.update(at(off), value);
                match m.used.get_mut(&off) {
                    Some(v) => {
                        prop_assert_eq!(got, Ok(*v));
                        *v = value;
                    }
                    None => prop_assert_eq!(got, Err(AllocError::NotFound)),
                }
            }
        }
        // Invariants after every step.
        let st = r.stats();
        prop_assert_eq!(st.used + st.available, st.total);
        prop_assert_eq!(st.total.to_u128(), Some(u128::from(size)));
        prop_assert_eq!(st.used.to_u128(), Some(m.used.len() as u128));
        let blocks: Vec<(IpAddr, IpAddr)> = r.free_blocks().collect();
        let expect: Vec<(IpAddr, IpAddr)> = m
            .free_blocks()
            .into_iter()
            .map(|(s, e)| (at(s), at(e)))
            .collect();
        prop_assert_eq!(blocks, expect);
        prop_assert_eq!(r.is_full(), m.used.len() as u32 == size);
    }
    let mut all: Vec<(IpAddr, u32)> = r.iter().map(|(a, v)| (a, *v)).collect();
    all.sort();
    let expect: Vec<(IpAddr, u32)> = m.used.iter().map(|(o, v)| (at(*o), *v)).collect();
    prop_assert_eq!(all, expect);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_ops_match_the_model_v4(
        size in 1u32..40,
        ops in proptest::collection::vec(op(40), 0..120),
    ) {
        check_ops(ip("192.168.1.250"), size, ops)?;
    }

    #[test]
    fn random_ops_match_the_model_v6_top(
        size in 1u32..24,
        ops in proptest::collection::vec(op(24), 0..80),
    ) {
        // Ends at the very last IPv6 address, where +1 would overflow.
        let base = u128_to_ip(Family::V6, u128::MAX - u128::from(size - 1));
        check_ops(base, size, ops)?;
    }

    #[test]
    fn never_the_same_ip_twice(size in 1u32..64, frees in proptest::collection::vec(0u32..64, 0..64)) {
        let mut r: RangeAllocator<()> =
            RangeAllocator::new(ip("10.0.0.0"), u128_to_ip(Family::V4, 0x0a00_0000 + u128::from(size - 1))).expect("valid");
        let mut seen = BTreeSet::new();
        while let Ok(a) = r.alloc_any(()) {
            prop_assert!(seen.insert(a));
        }
        prop_assert_eq!(seen.len() as u32, size);
        for f in frees {
            let a = u128_to_ip(Family::V4, 0x0a00_0000 + u128::from(f));
            if r.free(a).is_ok() {
                prop_assert!(seen.remove(&a));
            }
        }
        while let Ok(a) = r.alloc_any(()) {
            prop_assert!(seen.insert(a), "re-allocated an address still held");
        }
        prop_assert_eq!(seen.len() as u32, size);
    }

    #[test]
    fn free_then_alloc_round_trips(size in 1u32..64, pick in 0u32..64, value in any::<u32>()) {
        let pick = pick % size;
        let mut r: RangeAllocator<u32> =
            RangeAllocator::new(ip("10.0.0.0"), u128_to_ip(Family::V4, 0x0a00_0000 + u128::from(size - 1))).expect("valid");
        while r.alloc_any(0).is_ok() {}
        let a = u128_to_ip(Family::V4, 0x0a00_0000 + u128::from(pick));
        prop_assert_eq!(r.free(a), Ok(0));
        // The only free address is the one just freed; both ways of allocating find it.
        prop_assert_eq!(r.alloc_any(value), Ok(a));
        prop_assert_eq!(r.free(a), Ok(value));
        prop_assert_eq!(r.alloc(a, value), Ok(()));
        prop_assert_eq!(r.get(a), Some(&value));
        prop_assert!(r.is_full());
    }
}

#[test]
fn ip_offset_stays_in_its_family() {
    use crate::ipam::alloc::ip_offset;
    assert_eq!(ip_offset(ip("10.0.0.255"), 1), Some(ip("10.0.1.0")));
    assert_eq!(ip_offset(ip("10.0.1.0"), -1), Some(ip("10.0.0.255")));
    assert_eq!(
        ip_offset(ip("255.255.255.250"), 5),
        Some(ip("255.255.255.255"))
    );
    assert_eq!(ip_offset(ip("255.255.255.250"), 6), None);
    assert_eq!(ip_offset(ip("0.0.0.0"), -1), None);
    assert_eq!(
        ip_offset(ip("ffff::1"), -2),
        Some(ip("fffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
    );
    assert_eq!(
        ip_offset(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), 1),
        Some(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
    );
    assert_eq!(
        ip_offset(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 1),
        None
    );
    assert_eq!(ip_offset(ip("::"), -1), None);
}

proptest! {
    #[test]
    fn ip_offset_is_integer_addition(v in any::<u128>(), d in -1000i128..1000) {
        let got = crate::ipam::alloc::ip_offset(u128_to_ip(Family::V6, v), d);
        let want = if d >= 0 { v.checked_add(d.unsigned_abs()) } else { v.checked_sub(d.unsigned_abs()) };
        prop_assert_eq!(got.map(ip_to_u128), want);
    }
}
