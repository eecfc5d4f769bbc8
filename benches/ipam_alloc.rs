//! IPAM allocator benchmark, against the allocator's goals: >= 1,000,000 allocations/s on one
//! core, <= 64 bytes per allocation, O(1) memory for an empty /64 (an IPv6 pool is never
//! expanded address by address).
//!
//! Run: `cargo bench --bench ipam_alloc`. Plain `main` with `Instant` and a counting global
//! allocator, so the memory figures are measured, not estimated.

#[path = "common.rs"]
mod common;

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::live;
use lbctl::ipam::{BlockSpec, PoolSpec, PoolStore, RangeAllocator};

#[global_allocator]
static GLOBAL: common::Counting = common::Counting;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("bench literal")
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Owner type for the figures: a word, like an index or an `Arc` a caller would store.
type Owner = u64;

fn alloc_any_v4_16() {
    const ROUNDS: u64 = 16;
    let mut total = Duration::ZERO;
    let mut n = 0u64;
    for _ in 0..ROUNDS {
        let mut r: RangeAllocator<Owner> =
            RangeAllocator::new(ip("10.0.0.0"), ip("10.0.255.255")).expect("valid");
        let t = Instant::now();
        let mut i = 0;
        while let Ok(a) = r.alloc_any(i) {
            black_box(a);
            i += 1;
        }
        total += t.elapsed();
        n += i;
        black_box(&r);
    }
    println!(
        "alloc_any  IPv4 /16  fill x{ROUNDS}   {:>12.0} allocs/s  ({n} allocations in {:.3} s)",
        per_sec(n, total),
        total.as_secs_f64()
    );
}

fn alloc_any_v6_64() {
    const N: u64 = 1_000_000;
    let before = live();
    let mut r: RangeAllocator<Owner> =
        RangeAllocator::new(ip("2001:db8::"), ip("2001:db8::ffff:ffff:ffff:ffff")).expect("valid");
    let t = Instant::now();
    for i in 0..N {
        black_box(r.alloc_any(i).expect("room"));
    }
    let d = t.elapsed();
    let bytes = live() - before;
    println!(
        "alloc_any  IPv6 /64  1,000,000  {:>12.0} allocs/s  ({:.3} s)",
        per_sec(N, d),
        d.as_secs_f64()
    );
    println!(
        "memory     IPv6 /64  1,000,000  {:>12.1} bytes/allocation (T = u64, {} bytes live)",
        bytes as f64 / N as f64,
        bytes
    );
    drop(r);

    // The hash table doubles, so the figure depends on where N falls; show the spread.
    for n in [500_000u64, 900_000, 2_000_000] {
        let before = live();
        let mut r: RangeAllocator<Owner> =
            RangeAllocator::new(ip("2001:db8::"), ip("2001:db8::ffff:ffff:ffff:ffff"))
                .expect("valid");
        for i in 0..n {
            r.alloc_any(i).expect("room");
        }
        let bytes = live() - before;
        println!(
            "memory     IPv6 /64  {n:>9}  {:>12.1} bytes/allocation (T = u64)",
            bytes as f64 / n as f64
        );
        black_box(&r);
    }
    let before = live();
    let mut r: RangeAllocator<Owner> =
        RangeAllocator::new(ip("2001:db8::"), ip("2001:db8:0:1::")).expect("valid");
    for i in 0..N {
        r.alloc_any(i).expect("room");
    }
    println!(
        "memory     IPv6 >2^64 1,000,000 {:>12.1} bytes/allocation (T = u64, wide keys)",
        (live() - before) as f64 / N as f64
    );
    black_box(&r);
}

/// xorshift64*: deterministic addresses without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn alloc_free_round_trips() {
    const N: u64 = 1_000_000;
    // Fragmented worst case: every other address of a /16 taken, so 32,768 free blocks.
    let mut r: RangeAllocator<Owner> =
        RangeAllocator::new(ip("10.0.0.0"), ip("10.0.255.255")).expect("valid");
    for off in (0..65_536u32).step_by(2) {
        r.alloc(IpAddr::from((0x0a00_0000 + off).to_be_bytes()), 0)
            .expect("free");
    }
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let t = Instant::now();
    for i in 0..N {
        let off = (next(&mut s) as u32 & 0xffff) | 1;
        let a = IpAddr::from((0x0a00_0000 + off).to_be_bytes());
        r.alloc(a, i).expect("odd addresses are free");
        black_box(r.free(a).expect("just allocated"));
    }
    let d = t.elapsed();
    println!(
        "alloc+free IPv4 /16  fragmented {:>12.0} round trips/s ({} blocks, {:.3} s)",
        per_sec(N, d),
        r.free_blocks().count(),
        d.as_secs_f64()
    );

    // Sparse /64 with 100,000 allocations: random addresses far from them.
    let mut r: RangeAllocator<Owner> =
        RangeAllocator::new(ip("2001:db8::"), ip("2001:db8::ffff:ffff:ffff:ffff")).expect("valid");
    for i in 0..100_000 {
        r.alloc_any(i).expect("room");
    }
    let base = u128::from(0x2001_0db8u32) << 96;
    let t = Instant::now();
    let mut done = 0u64;
    for i in 0..N {
        let off = u128::from(next(&mut s)) | (1 << 63);
        let a = IpAddr::from(std::net::Ipv6Addr::from(base + off));
        if r.alloc(a, i).is_ok() {
            black_box(r.free(a).expect("just allocated"));
            done += 1;
        }
    }
    let d = t.elapsed();
    println!(
        "alloc+free IPv6 /64  sparse     {:>12.0} round trips/s ({:.3} s)",
        per_sec(done, d),
        d.as_secs_f64()
    );
}

fn empty_pool_memory() {
    let before = live();
    let r: RangeAllocator<Owner> =
        RangeAllocator::new(ip("2001:db8::"), ip("2001:db8::ffff:ffff:ffff:ffff")).expect("valid");
    let heap = live() - before;
    println!(
        "memory     empty IPv6 /64 range: {} heap bytes + {} inline bytes",
        heap,
        std::mem::size_of_val(&r)
    );
    black_box(&r);

    let before = live();
    let mut store: PoolStore<Owner> = PoolStore::new();
    store
        .upsert(PoolSpec {
            name: "v6".into(),
            creation: 0,
            blocks: vec![BlockSpec::cidr("2001:db8::/64")],
            allow_first_last: None,
            disabled: false,
        })
        .expect("valid");
    println!(
        "memory     pool store with one empty /64 pool: {} heap bytes",
        live() - before
    );
    let before = live();
    let mut store2: PoolStore<Owner> = PoolStore::new();
    store2
        .upsert(PoolSpec {
            name: "all".into(),
            creation: 0,
            blocks: vec![BlockSpec::cidr("::/0")],
            allow_first_last: None,
            disabled: false,
        })
        .expect("valid");
    println!(
        "memory     pool store with one empty ::/0 pool: {} heap bytes",
        live() - before
    );
    black_box((&store, &store2));
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let t = Instant::now();
    println!("lbctl ipam allocator benchmark (one thread)");
    alloc_any_v4_16();
    alloc_any_v6_64();
    alloc_free_round_trips();
    empty_pool_memory();
    println!("total bench time {:.1} s", t.elapsed().as_secs_f64());
}
