//! Property test of the election protocol: two electors driven by `decide` over an in-memory
//! lease store with optimistic concurrency, a shared fake monotonic clock, per-node skewed wall
//! clocks, slow/lost/late-applied writes, crashes, releases and Cilium-style GC. The invariant:
//! the two electors' validity intervals never overlap.
//!
//! The electors mirror `crate::lease::elector`'s rules: validity runs from the response of a
//! successful write until the write's *send* time plus the renew deadline; a read showing
//! someone else (or no lease) ends the term; release stops acting before writing.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use proptest::prelude::*;
use tokio::time::Instant;

use crate::lease::decide::{
    decide, holder_of, is_leader_valid, sanitize_timings, Action, Intent, LeaseConfig, Now,
    Observed, Timings,
};
use crate::lease::gc::select_for_gc;

const PREFIX: &str = "cilium-l2announce";
const NAME: &str = "cilium-l2announce-default-web";

#[derive(Clone, Copy, Debug)]
enum Fate {
    /// Applied and answered.
    Ok,
    /// Applied, but the response is lost (the client sees a timeout).
    Lost,
    /// Not applied yet: the client times out and the request may land later (a ghost).
    Late,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Step(usize, Fate),
    Release(usize),
    Restart(usize),
    Crash(usize),
    /// Apply the oldest late write.
    Ghost,
    /// Advance Cilium's lease GC (list, then a delete with a resourceVersion precondition).
    Gc,
}

#[derive(Clone, Copy, Debug, Default)]
struct Faults {
    /// The store ignores resourceVersion on replace.
    no_optimistic_concurrency: bool,
    /// Holders keep acting past the renew deadline.
    no_fencing: bool,
}

#[derive(Clone, Debug)]
enum Write {
    Create(Lease),
    Replace(Lease),
}

struct Store {
    lease: Option<Lease>,
    rv: u64,
    faults: Faults,
    gc_candidate: Option<String>,
}

impl Store {
    fn commit(&mut self, mut l: Lease) -> Lease {
        self.rv += 1;
        l.metadata.resource_version = Some(self.rv.to_string());
        self.lease = Some(l.clone());
        l
    }

    fn apply(&mut self, w: &Write) -> Result<Lease, ()> {
        match w {
            Write::Create(l) => match self.lease {
                Some(_) => Err(()),
                None => Ok(self.commit(l.clone())),
            },
            Write::Replace(l) => {
                let current = self.lease.as_ref().ok_or(())?;
                if !self.faults.no_optimistic_concurrency
                    && current.metadata.resource_version != l.metadata.resource_version
                {
                    return Err(());
                }
                Ok(self.commit(l.clone()))
            }
        }
    }

    fn gc_step(&mut self) {
        match self.gc_candidate.take() {
            Some(rv) => {
                let current = self
                    .lease
                    .as_ref()
                    .and_then(|l| l.metadata.resource_version.clone());
                if current.as_deref() == Some(rv.as_str()) {
                    self.lease = None;
                }
            }
            None => {
                let listed: Vec<Lease> = self.lease.iter().cloned().collect();
                self.gc_candidate = select_for_gc(&listed, PREFIX)
                    .first()
                    .and_then(|l| l.metadata.resource_version.clone());
            }
        }
    }
}

#[derive(Debug)]
enum Phase {
    Idle,
    Reading {
        release: bool,
    },
    Read {
        lease: Option<Lease>,
        release: bool,
    },
    Writing {
        sent: Instant,
        write: Write,
        release: bool,
    },
    Responded {
        sent: Instant,
        result: Result<Lease, ()>,
        release: bool,
    },
    Stopped,
}

struct Elector {
    cfg: LeaseConfig,
    wall_skew: jiff::SignedDuration,
    observed: Observed,
    cached: Option<Lease>,
    phase: Phase,
    /// `valid_until` while leading.
    lead: Option<Instant>,
    intervals: Vec<(Instant, Instant)>,
    no_fencing: bool,
}

impl Elector {
    fn new(identity: &str, timings: Timings, wall_skew_s: i64, faults: Faults) -> Self {
        Elector {
            cfg: LeaseConfig::new("kube-system", NAME, identity, timings),
            wall_skew: jiff::SignedDuration::from_secs(wall_skew_s),
            observed: Observed::new(),
            cached: None,
            phase: Phase::Idle,
            lead: None,
            intervals: Vec::new(),
            no_fencing: faults.no_fencing,
        }
    }

    fn now(&self, mono: Instant, wall0: Timestamp) -> Now {
        Now {
            mono,
            wall: wall0 + self.wall_skew,
        }
    }

    fn ours(&self, l: &Lease) -> bool {
        holder_of(l) == Some(self.cfg.identity.as_str())
    }

    /// Stop acting now (before the renew deadline, if still valid).
    fn step_down(&mut self, now: Instant) {
        if let Some(until) = self.lead.take() {
            if now < until {
                if let Some(last) = self.intervals.last_mut() {
                    last.1 = last.1.min(now);
                }
            }
        }
    }

    /// Abandons the current attempt; a write not yet applied may still land later.
    fn abandon(&mut self, ghosts: &mut Vec<Write>) {
        if let Phase::Writing { write, .. } = std::mem::replace(&mut self.phase, Phase::Idle) {
            ghosts.push(write);
        }
    }

    fn step(&mut self, now: Now, fate: Fate, store: &mut Store, ghosts: &mut Vec<Write>) {
        if let Some(until) = self.lead {
            if now.mono >= until {
                self.lead = None;
            }
        }
        let phase = std::mem::replace(&mut self.phase, Phase::Idle);
        self.phase = match phase {
            Phase::Stopped => Phase::Stopped,
            Phase::Idle => match self.cached.take() {
                // The fast path: renew from our copy.
                Some(l) if self.ours(&l) => self.decided(Some(l), now, false),
                _ => Phase::Reading { release: false },
            },
            Phase::Reading { release } => Phase::Read {
                lease: store.lease.clone(),
                release,
            },
            Phase::Read { lease, release } => {
                if !release && !lease.as_ref().is_some_and(|l| self.ours(l)) {
                    self.step_down(now.mono);
                }
                self.decided(lease, now, release)
            }
            Phase::Writing {
                sent,
                write,
                release,
            } => {
                let result = match fate {
                    Fate::Ok => store.apply(&write),
                    Fate::Lost => store.apply(&write).and(Err(())),
                    Fate::Late => {
                        ghosts.push(write);
                        Err(())
                    }
                };
                Phase::Responded {
                    sent,
                    result,
                    release,
                }
            }
            Phase::Responded {
                sent,
                result,
                release,
            } => match result {
                Ok(l) => {
                    self.observed.observe(Some(&l), now.mono);
                    self.cached = Some(l);
                    if release {
                        Phase::Stopped
                    } else {
                        let deadline = if self.no_fencing {
                            Duration::from_secs(1_000_000)
                        } else {
                            self.cfg.timings.renew_deadline
                        };
                        if is_leader_valid(now.mono, sent, deadline) {
                            let until = sent + deadline;
                            self.lead = Some(until);
                            self.intervals.push((now.mono, until));
                        }
                        Phase::Idle
                    }
                }
                Err(()) => {
                    self.cached = None;
                    if release {
                        Phase::Reading { release: true }
                    } else {
                        Phase::Idle
                    }
                }
            },
        };
    }

    fn decided(&mut self, lease: Option<Lease>, now: Now, release: bool) -> Phase {
        let intent = if release {
            Intent::Release
        } else {
            Intent::Lead
        };
        match decide(&self.cfg, lease.as_ref(), &mut self.observed, intent, now) {
            Action::Create(l) => Phase::Writing {
                sent: now.mono,
                write: Write::Create(l),
                release,
            },
            Action::Update(l) | Action::Release(l) => Phase::Writing {
                sent: now.mono,
                write: Write::Replace(l),
                release,
            },
            Action::Wait { .. } => {
                self.step_down(now.mono);
                self.cached = lease;
                Phase::Idle
            }
            Action::Nothing => Phase::Stopped,
        }
    }

    fn release(&mut self, now: Instant, ghosts: &mut Vec<Write>) {
        if matches!(self.phase, Phase::Stopped) {
            return;
        }
        self.step_down(now);
        self.abandon(ghosts);
        self.phase = match self.cached.take() {
            Some(l) if self.ours(&l) => Phase::Read {
                lease: Some(l),
                release: true,
            },
            _ => Phase::Reading { release: true },
        };
    }

    fn crash(&mut self, now: Instant, ghosts: &mut Vec<Write>) {
        self.step_down(now);
        self.abandon(ghosts);
        self.observed = Observed::new();
        self.cached = None;
        self.phase = Phase::Idle;
    }
}

struct Outcome {
    intervals: [Vec<(Instant, Instant)>; 2],
    overlap: Option<((Instant, Instant), (Instant, Instant))>,
}

fn simulate(timings: [Timings; 2], skews: [i64; 2], ops: &[(Op, u32)], faults: Faults) -> Outcome {
    let mono0 = Instant::now();
    let wall0 = Timestamp::from_second(1_700_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
    let mut store = Store {
        lease: None,
        rv: 0,
        faults,
        gc_candidate: None,
    };
    let mut ghosts: Vec<Write> = Vec::new();
    let mut els = [
        Elector::new("node-a", timings[0], skews[0], faults),
        Elector::new("node-b", timings[1], skews[1], faults),
    ];
    let mut elapsed = Duration::ZERO;
    for &(op, dt_ms) in ops {
        elapsed += Duration::from_millis(dt_ms.into());
        let mono = mono0 + elapsed;
        let wall = wall0 + elapsed;
        match op {
            Op::Step(i, fate) => {
                let now = els[i].now(mono, wall);
                els[i].step(now, fate, &mut store, &mut ghosts);
            }
            Op::Release(i) => els[i].release(mono, &mut ghosts),
            Op::Restart(i) => {
                if matches!(els[i].phase, Phase::Stopped) {
                    els[i].phase = Phase::Idle;
                }
            }
            Op::Crash(i) => els[i].crash(mono, &mut ghosts),
            Op::Ghost => {
                if !ghosts.is_empty() {
                    let w = ghosts.remove(0);
                    let _ = store.apply(&w);
                }
            }
            Op::Gc => store.gc_step(),
        }
    }
    let [a, b] = els.map(|e| e.intervals);
    let overlap = a
        .iter()
        .find_map(|x| b.iter().find(|y| x.0 < y.1 && y.0 < x.1).map(|y| (*x, *y)));
    Outcome {
        intervals: [a, b],
        overlap,
    }
}

fn timings() -> impl Strategy<Value = Timings> {
    (0u64..20_000, 0u64..20_000, 0u64..6_000).prop_map(|(ld, rd, rp)| {
        sanitize_timings(
            Duration::from_millis(ld),
            Duration::from_millis(rd),
            Duration::from_millis(rp),
        )
        .0
    })
}

fn op() -> impl Strategy<Value = (Op, u32)> {
    let fate = prop_oneof![
        8 => Just(Fate::Ok),
        1 => Just(Fate::Lost),
        1 => Just(Fate::Late),
    ];
    let op = prop_oneof![
        24 => (0..2usize, fate).prop_map(|(i, f)| Op::Step(i, f)),
        1 => (0..2usize).prop_map(Op::Release),
        2 => (0..2usize).prop_map(Op::Restart),
        1 => (0..2usize).prop_map(Op::Crash),
        2 => Just(Op::Ghost),
        2 => Just(Op::Gc),
    ];
    let dt = prop_oneof![4 => 0u32..300, 3 => 0u32..3_000, 1 => 0u32..25_000];
    (op, dt)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_two_valid_leaders(
        t in [timings(), timings()],
        skews in [-7200i64..7200, -7200i64..7200],
        ops in proptest::collection::vec(op(), 1..400),
    ) {
        let out = simulate(t, skews, &ops, Faults::default());
        prop_assert!(out.overlap.is_none(), "overlapping terms: {:?}", out.overlap);
    }
}

/// A tiny deterministic generator for the checker self-tests below.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }

    fn ops(&mut self, len: usize) -> Vec<(Op, u32)> {
        (0..len)
            .map(|_| {
                let i = self.below(2) as usize;
                let fate = match self.below(10) {
                    0 => Fate::Lost,
                    1 => Fate::Late,
                    _ => Fate::Ok,
                };
                let op = match self.below(30) {
                    0 => Op::Release(i),
                    1 | 2 => Op::Restart(i),
                    3 => Op::Crash(i),
                    4 | 5 => Op::Ghost,
                    6 | 7 => Op::Gc,
                    _ => Op::Step(i, fate),
                };
                // Mostly quick steps, sometimes a pause longer than a lease.
                let dt = if self.below(5) == 0 {
                    self.below(8_000)
                } else {
                    self.below(200)
                };
                (op, dt as u32)
            })
            .collect()
    }
}

/// The property must be able to fail: with either safeguard removed, the same simulation finds
/// overlapping terms.
#[test]
fn checker_catches_broken_protocols() {
    // Short leases so that the random pauses (up to 6s) often outlast them.
    let short = Timings {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_secs(1),
        retry_period: Duration::from_millis(400),
    };
    let t = [short; 2];
    for faults in [
        Faults {
            no_optimistic_concurrency: true,
            ..Faults::default()
        },
        Faults {
            no_fencing: true,
            ..Faults::default()
        },
    ] {
        let mut rng = Rng(42);
        let found = (0..2_000).any(|_| {
            let ops = rng.ops(300);
            simulate(t, [0, 0], &ops, faults).overlap.is_some()
        });
        assert!(found, "no violation found with {faults:?}");
        let mut rng = Rng(42);
        let clean = (0..200).all(|_| {
            let ops = rng.ops(300);
            simulate(t, [0, 0], &ops, Faults::default())
                .overlap
                .is_none()
        });
        assert!(clean);
    }
}

/// Liveness sanity for the model: A leads, crashes, and B takes over only after a lease
/// duration since it last saw A's record change.
#[test]
fn takeover_after_crash_waits_one_lease_duration() {
    use Fate::Ok as F;
    let t = [Timings::CILIUM_DEFAULT; 2];
    let a = |dt| (Op::Step(0, F), dt);
    let b = |dt| (Op::Step(1, F), dt);
    // Each attempt is read, response+decide, write applied, write answered.
    let ops = vec![
        a(0),
        a(0),
        a(0),
        a(0),
        a(0), // A creates the lease and leads from t=0
        b(1_000),
        b(0),
        b(0),                  // B first sees A's record at 1s: wait
        (Op::Crash(0), 1_000), // A dies at 2s
        b(13_000),
        b(0),
        b(0), // 15s: 14s since B saw the record change: wait
        b(999),
        b(0),
        b(0), // 15.999s: still waiting
        b(1),
        b(0),
        b(0),
        b(0),
        b(0), // 16s: take over
    ];
    let out = simulate(t, [0, 0], &ops, Faults::default());
    assert!(out.overlap.is_none());
    assert_eq!(out.intervals[0].len(), 1);
    assert_eq!(
        out.intervals[1].len(),
        1,
        "B should lead once: {:?}",
        out.intervals
    );
    let (a_start, a_end) = out.intervals[0][0];
    let (b_start, _) = out.intervals[1][0];
    assert_eq!(
        a_end - a_start,
        Duration::from_secs(2),
        "A's term cut at its crash"
    );
    assert_eq!(b_start - a_start, Duration::from_secs(16));
}
