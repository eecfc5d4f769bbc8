//! Pure leader-election decisions over a `coordination.k8s.io/v1` Lease.
//!
//! Nothing here performs I/O or reads a clock: the caller passes the observed Lease and the
//! current time, and gets back what to write (or how long to wait). The async loop in
//! `crate::lease::elector` only translates these decisions into API calls, which keeps the
//! safety argument (no two valid leaders) checkable with plain unit and property tests.
//!
//! # Expiry is judged on the local clock
//!
//! Like client-go's `leaderelection`, a lease held by someone else is considered expired when
//! `leaseDurationSeconds` have passed on *our monotonic clock* since we last saw its record
//! *change*, not when the remote `renewTime` plus the duration lies in the past. Remote
//! timestamps come from another node's wall clock, which may be skewed by minutes; trusting them
//! would let a node with a fast clock steal a healthy lease (or a slow one never take over a
//! dead one). The price is that a freshly started candidate always waits one full lease duration
//! before taking over an existing, non-released lease, which is exactly client-go's behaviour.
//!
//! We go one step further than client-go in what counts as a change: besides the record fields
//! we compare `resourceVersion`, so any write by the holder resets our timer even if its clock
//! produced an identical `renewTime`. Treating more writes as "alive" can only delay a takeover,
//! never make it early.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use tokio::time::Instant;

/// client-go's `leaderelection.JitterFactor`: followers wait `retry * (1 + rand * 1.2)` and
/// Cilium refuses a renew deadline that is not larger than `1.2 * retry`.
pub(crate) const JITTER_FACTOR: f64 = 1.2;

/// Cilium's agent flag names, used in the sanitiser's warnings so operators can map them to
/// their configuration.
use crate::model::names::{
    CFG_L2_LEASE_DURATION as FLAG_LEASE_DURATION, CFG_L2_RENEW_DEADLINE as FLAG_RENEW_DEADLINE,
    CFG_L2_RETRY_PERIOD as FLAG_RETRY_PERIOD,
};

/// Lease timings with client-go's meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    /// How long a non-holder waits after the last observed change before taking over.
    pub lease_duration: Duration,
    /// How long the holder may go without a successful renew before it must stop acting.
    pub renew_deadline: Duration,
    /// Interval between attempts (renews while leading; jittered polls while following).
    pub retry_period: Duration,
}

impl Timings {
    /// Cilium's defaults (`15s` / `5s` / `2s`).
    pub(crate) const CILIUM_DEFAULT: Timings = Timings {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(5),
        retry_period: Duration::from_secs(2),
    };

    /// The value written to `spec.leaseDurationSeconds`.
    ///
    /// client-go truncates to whole seconds; we round *up* instead. With a sub-second remainder
    /// truncation can publish a duration shorter than our renew deadline (1.9s/1.5s would publish
    /// 1s), letting another node take over while we still consider ourselves leader. Rounding up
    /// only makes others wait longer, and whole-second settings (all of Cilium's) are unchanged.
    pub fn lease_duration_seconds(&self) -> i32 {
        let secs =
            self.lease_duration.as_secs() + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(secs.max(1)).unwrap_or(i32::MAX)
    }

    /// Checks the relations the fencing argument depends on. `sanitize_timings` always produces
    /// timings that pass.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.retry_period.is_zero() {
            return Err("retry period must be greater than zero".into());
        }
        if self.renew_deadline.is_zero() {
            return Err("renew deadline must be greater than zero".into());
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(format!(
                "lease duration ({:?}) must be greater than renew deadline ({:?})",
                self.lease_duration, self.renew_deadline
            ));
        }
        Ok(())
    }
}

impl Default for Timings {
    fn default() -> Self {
        Timings::CILIUM_DEFAULT
    }
}

/// Applies the Cilium agent's `leaseTimings()` corrections, in the same order, and returns the
/// warnings it would log.
///
/// Rules: lease duration < 1s becomes 1s; a zero renew deadline becomes 1s; a zero retry period
/// becomes 200ms; lease duration <= renew deadline sets renew deadline = lease duration / 2;
/// renew deadline <= 1.2 x retry period sets retry period = renew deadline / 2.
pub(crate) fn sanitize_timings(
    lease_duration: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
) -> (Timings, Vec<String>) {
    let mut t = Timings {
        lease_duration,
        renew_deadline,
        retry_period,
    };
    let mut warnings = Vec::new();

    if t.lease_duration < Duration::from_secs(1) {
        warnings.push(format!(
            "--{FLAG_LEASE_DURATION} must be greater than 1s, defaulting to 1s (was {:?})",
            t.lease_duration
        ));
        t.lease_duration = Duration::from_secs(1);
    }
    // Go checks `< 1` (one nanosecond); std Durations cannot be negative, so that is zero.
    if t.renew_deadline.is_zero() {
        warnings.push(format!(
            "--{FLAG_RENEW_DEADLINE} must be greater than 1ns, defaulting to 1s"
        ));
        t.renew_deadline = Duration::from_secs(1);
    }
    if t.retry_period.is_zero() {
        warnings.push(format!(
            "--{FLAG_RETRY_PERIOD} must be greater than 1ns, defaulting to 200ms"
        ));
        t.retry_period = Duration::from_millis(200);
    }
    if t.lease_duration <= t.renew_deadline {
        let fixed = t.lease_duration / 2;
        warnings.push(format!(
            "--{FLAG_LEASE_DURATION} ({:?}) must be greater than --{FLAG_RENEW_DEADLINE} ({:?}), \
             defaulting to a 2/1 ratio (renew deadline {:?})",
            t.lease_duration, t.renew_deadline, fixed
        ));
        t.renew_deadline = fixed;
    }
    if t.renew_deadline <= jittered_max(t.retry_period) {
        let fixed = t.renew_deadline / 2;
        // Cilium's message says "defaulting to --retry-period / 2" but the code sets the retry
        // period to renew deadline / 2; we describe what actually happens.
        warnings.push(format!(
            "--{FLAG_RENEW_DEADLINE} ({:?}) must be greater than --{FLAG_RETRY_PERIOD} ({:?}) * \
             {JITTER_FACTOR:.2}, defaulting retry period to renew deadline / 2 ({:?})",
            t.renew_deadline, t.retry_period, fixed
        ));
        t.retry_period = fixed;
    }
    (t, warnings)
}

/// `time.Duration(JitterFactor * float64(d))` in Go: the float product truncated to nanoseconds.
fn jittered_max(d: Duration) -> Duration {
    let nanos = JITTER_FACTOR * d.as_nanos() as f64;
    // `as` saturates for out-of-range floats, matching the intent for absurd inputs.
    Duration::from_nanos(nanos as u64)
}

/// Fencing: may the holder still act? `last_successful_renew` must be the instant the
/// successful write was *sent* (not when its response arrived): the server may have applied it
/// at any moment in between, and others start their lease-duration countdown no earlier than
/// that. The holder stops the moment the renew deadline has passed.
#[cfg(test)]
pub(crate) fn is_leader_valid(
    now: Instant,
    last_successful_renew: Instant,
    renew_deadline: Duration,
) -> bool {
    now.saturating_duration_since(last_successful_renew) < renew_deadline
}

/// What one elector is configured to contend for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// Written to `holderIdentity`; Cilium uses the node name.
    pub identity: String,
    pub timings: Timings,
}

impl LeaseConfig {
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
        timings: Timings,
    ) -> Self {
        LeaseConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            timings,
        }
    }

    /// Rejects configurations that would break the protocol rather than merely be slow.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.namespace.is_empty() {
            return Err("lease namespace is empty".into());
        }
        if self.name.is_empty() {
            return Err("lease name is empty".into());
        }
        // An empty holderIdentity means "released": we could never hold the lease visibly.
        if self.identity.is_empty() {
            return Err("holder identity is empty".into());
        }
        self.timings.validate()
    }

    /// `namespace/name`, for logs and errors.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The current time as both clocks: monotonic for expiry arithmetic, wall for the timestamps
/// written into the Lease (which humans and other tools read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Now {
    pub mono: Instant,
    pub wall: Timestamp,
}

impl Now {
    /// Reads both clocks; the only clock access in this module, for the async edge to call.
    pub fn read() -> Self {
        Now {
            mono: Instant::now(),
            wall: Timestamp::now(),
        }
    }
}

/// The parts of a Lease whose change proves its holder (or someone) is alive.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fingerprint {
    resource_version: Option<String>,
    holder: Option<String>,
    acquire_time: Option<Timestamp>,
    renew_time: Option<Timestamp>,
    lease_duration_seconds: Option<i32>,
    lease_transitions: Option<i32>,
}

impl Fingerprint {
    fn of(lease: &Lease) -> Self {
        let spec = lease.spec.as_ref();
        Fingerprint {
            resource_version: lease.metadata.resource_version.clone(),
            holder: spec.and_then(|s| s.holder_identity.clone()),
            acquire_time: spec.and_then(|s| s.acquire_time.as_ref()).map(|t| t.0),
            renew_time: spec.and_then(|s| s.renew_time.as_ref()).map(|t| t.0),
            lease_duration_seconds: spec.and_then(|s| s.lease_duration_seconds),
            lease_transitions: spec.and_then(|s| s.lease_transitions),
        }
    }
}

/// Local bookkeeping of what we last saw of the lease and when it last changed
/// (client-go's `observedRecord` / `observedTime`).
#[derive(Clone, Debug, Default)]
pub struct Observed {
    seen: Option<Fingerprint>,
    changed_at: Option<Instant>,
}

impl Observed {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an observation at `now` and returns the instant the lease's current record was
    /// first seen, from which its expiry is counted.
    pub fn observe(&mut self, lease: Option<&Lease>, now: Instant) -> Instant {
        let fp = lease.map(Fingerprint::of);
        match self.changed_at {
            Some(at) if self.seen == fp => at,
            _ => {
                self.seen = fp;
                self.changed_at = Some(now);
                now
            }
        }
    }
}

/// Whether we want the lease or want to give it up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Intent {
    Lead,
    Release,
}

/// The outcome of one decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The lease does not exist: create it naming us.
    Create(Lease),
    /// Write this lease (acquire or renew). It carries the observed `resourceVersion`, so the
    /// server rejects it with 409 if anyone wrote in between.
    Update(Lease),
    /// Someone else holds a lease that has not expired on our clock.
    Wait {
        until: Instant,
        holder: Option<String>,
    },
    /// Write this lease to give up leadership (holder cleared, transitions kept).
    Release(Lease),
    /// Asked to release a lease we do not hold: nothing to write.
    Nothing,
}

/// The holder named by a lease; an absent or empty `holderIdentity` means nobody.
pub(crate) fn holder_of(lease: &Lease) -> Option<&str> {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        .filter(|h| !h.is_empty())
}

/// Decides the next step for `cfg.identity` given the lease as observed (`None` = not found).
///
/// Always records the observation in `observed` first, so callers cannot forget to.
pub(crate) fn decide(
    cfg: &LeaseConfig,
    lease: Option<&Lease>,
    observed: &mut Observed,
    intent: Intent,
    now: Now,
) -> Action {
    let changed_at = observed.observe(lease, now.mono);
    let Some(lease) = lease else {
        return match intent {
            Intent::Lead => Action::Create(new_lease(cfg, now.wall)),
            Intent::Release => Action::Nothing,
        };
    };
    let holder = holder_of(lease);
    let ours = holder == Some(cfg.identity.as_str());

    if intent == Intent::Release {
        return if ours {
            Action::Release(released(lease, now.wall))
        } else {
            Action::Nothing
        };
    }

    match holder {
        // Our own lease: renew. This also covers a restart of the same identity, which reclaims
        // its lease without a transition, as client-go does.
        Some(_) if ours => Action::Update(renewed(cfg, lease, now.wall)),
        Some(other) => {
            let duration = lease
                .spec
                .as_ref()
                .and_then(|s| s.lease_duration_seconds)
                .filter(|d| *d > 0)
                // client-go reads a missing duration as 0 (expired at once); we fall back to our
                // own setting so a malformed record is not stolen instantly.
                .map_or(cfg.timings.lease_duration, |d| {
                    Duration::from_secs(d.unsigned_abs().into())
                });
            let until = changed_at
                .checked_add(duration)
                .unwrap_or(now.mono + cfg.timings.lease_duration);
            if now.mono < until {
                Action::Wait {
                    until,
                    holder: Some(other.to_string()),
                }
            } else {
                Action::Update(acquired(cfg, lease, now.wall))
            }
        }
        // Released (or never held): acquirable at once.
        None => Action::Update(acquired(cfg, lease, now.wall)),
    }
}

fn micro(t: Timestamp) -> Option<MicroTime> {
    Some(MicroTime(t))
}

fn new_lease(cfg: &LeaseConfig, wall: Timestamp) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(cfg.name.clone()),
            namespace: Some(cfg.namespace.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(cfg.identity.clone()),
            acquire_time: micro(wall),
            renew_time: micro(wall),
            lease_duration_seconds: Some(cfg.timings.lease_duration_seconds()),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        }),
    }
}

/// Starts from the observed object so `resourceVersion` (optimistic concurrency), labels and
/// fields we do not manage survive the write.
fn base(lease: &Lease) -> (Lease, LeaseSpec) {
    let mut out = lease.clone();
    // Omitting managedFields tells the server to keep its own; sending them back is just bytes.
    out.metadata.managed_fields = None;
    let spec = out.spec.take().unwrap_or_default();
    (out, spec)
}

fn renewed(cfg: &LeaseConfig, lease: &Lease, wall: Timestamp) -> Lease {
    let (mut out, mut spec) = base(lease);
    spec.holder_identity = Some(cfg.identity.clone());
    if spec.acquire_time.is_none() {
        spec.acquire_time = micro(wall);
    }
    spec.renew_time = micro(wall);
    spec.lease_duration_seconds = Some(cfg.timings.lease_duration_seconds());
    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0));
    out.spec = Some(spec);
    out
}

fn acquired(cfg: &LeaseConfig, lease: &Lease, wall: Timestamp) -> Lease {
    let (mut out, mut spec) = base(lease);
    spec.holder_identity = Some(cfg.identity.clone());
    spec.acquire_time = micro(wall);
    spec.renew_time = micro(wall);
    spec.lease_duration_seconds = Some(cfg.timings.lease_duration_seconds());
    // client-go counts every acquisition by a non-holder, including after a release.
    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
    out.spec = Some(spec);
    out
}

/// client-go's `release()`: empty holder, 1s duration, times set to now, transitions kept.
/// Cilium's lease GC later deletes such holderless leases.
fn released(lease: &Lease, wall: Timestamp) -> Lease {
    let (mut out, mut spec) = base(lease);
    spec.holder_identity = Some(String::new());
    spec.acquire_time = micro(wall);
    spec.renew_time = micro(wall);
    spec.lease_duration_seconds = Some(1);
    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0));
    out.spec = Some(spec);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;
    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// A fake clock: both clocks advance together from fixed origins.
    struct Clock {
        mono0: Instant,
        wall0: Timestamp,
    }

    impl Clock {
        fn new() -> Self {
            Clock {
                mono0: Instant::now(),
                wall0: Timestamp::from_second(1_700_000_000).expect("valid timestamp"),
            }
        }
        fn at(&self, d: Duration) -> Now {
            Now {
                mono: self.mono0 + d,
                wall: self.wall0 + d,
            }
        }
    }

    fn cfg(identity: &str) -> LeaseConfig {
        LeaseConfig::new(
            "kube-system",
            "cilium-l2announce-default-web",
            identity,
            Timings::CILIUM_DEFAULT,
        )
    }

    fn lease(holder: Option<&str>, rv: &str, transitions: i32, wall: Timestamp) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("cilium-l2announce-default-web".into()),
                namespace: Some("kube-system".into()),
                resource_version: Some(rv.into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                acquire_time: micro(wall),
                renew_time: micro(wall),
                lease_duration_seconds: Some(15),
                lease_transitions: Some(transitions),
                ..LeaseSpec::default()
            }),
        }
    }

    fn spec(l: &Lease) -> &LeaseSpec {
        l.spec.as_ref().expect("decided lease has a spec")
    }

    #[test]
    fn creates_when_absent() {
        let c = Clock::new();
        let now = c.at(S(0));
        let act = decide(
            &cfg("node-a"),
            None,
            &mut Observed::new(),
            Intent::Lead,
            now,
        );
        let Action::Create(l) = act else {
            panic!("expected Create, got {act:?}")
        };
        let s = spec(&l);
        assert_eq!(
            l.metadata.name.as_deref(),
            Some("cilium-l2announce-default-web")
        );
        assert_eq!(l.metadata.namespace.as_deref(), Some("kube-system"));
        assert_eq!(s.holder_identity.as_deref(), Some("node-a"));
        assert_eq!(s.lease_duration_seconds, Some(15));
        assert_eq!(s.lease_transitions, Some(0));
        assert_eq!(s.acquire_time, Some(MicroTime(now.wall)));
        assert_eq!(s.renew_time, Some(MicroTime(now.wall)));
    }

    #[test]
    fn waits_while_another_holds_a_fresh_lease_then_acquires_after_duration() {
        let c = Clock::new();
        let me = cfg("node-a");
        let mut obs = Observed::new();
        let l = lease(Some("node-b"), "7", 3, c.at(S(0)).wall);

        let act = decide(&me, Some(&l), &mut obs, Intent::Lead, c.at(S(1)));
        assert_eq!(
            act,
            Action::Wait {
                until: c.at(S(16)).mono,
                holder: Some("node-b".into())
            }
        );
        // Unchanged record just before expiry: still waiting, timer not reset.
        let act = decide(&me, Some(&l), &mut obs, Intent::Lead, c.at(S(16) - MS(1)));
        assert!(matches!(act, Action::Wait { until, .. } if until == c.at(S(16)).mono));

        let now = c.at(S(16));
        let Action::Update(u) = decide(&me, Some(&l), &mut obs, Intent::Lead, now) else {
            panic!("expected takeover")
        };
        let s = spec(&u);
        assert_eq!(s.holder_identity.as_deref(), Some("node-a"));
        assert_eq!(
            s.lease_transitions,
            Some(4),
            "transitions +1 on holder change"
        );
        assert_eq!(s.acquire_time, Some(MicroTime(now.wall)));
        assert_eq!(s.renew_time, Some(MicroTime(now.wall)));
        assert_eq!(u.metadata.resource_version.as_deref(), Some("7"));
    }

    #[test]
    fn a_change_of_the_record_restarts_the_countdown() {
        let c = Clock::new();
        let me = cfg("node-a");
        let mut obs = Observed::new();
        let l1 = lease(Some("node-b"), "7", 3, c.at(S(0)).wall);
        decide(&me, Some(&l1), &mut obs, Intent::Lead, c.at(S(0)));
        // The holder renewed at 10s; we see it at 12s.
        let l2 = lease(Some("node-b"), "8", 3, c.at(S(10)).wall);
        let act = decide(&me, Some(&l2), &mut obs, Intent::Lead, c.at(S(12)));
        assert!(matches!(act, Action::Wait { until, .. } if until == c.at(S(27)).mono));
        // Same record fields but a new resourceVersion also counts as a sign of life.
        let l3 = lease(Some("node-b"), "9", 3, c.at(S(10)).wall);
        let act = decide(&me, Some(&l3), &mut obs, Intent::Lead, c.at(S(20)));
        assert!(matches!(act, Action::Wait { until, .. } if until == c.at(S(35)).mono));
    }

    #[test]
    fn renews_own_lease_keeping_transitions_and_acquire_time() {
        let c = Clock::new();
        let me = cfg("node-a");
        let l = lease(Some("node-a"), "11", 5, c.at(S(0)).wall);
        let now = c.at(S(2));
        let Action::Update(u) = decide(&me, Some(&l), &mut Observed::new(), Intent::Lead, now)
        else {
            panic!("expected renew")
        };
        let s = spec(&u);
        assert_eq!(s.holder_identity.as_deref(), Some("node-a"));
        assert_eq!(s.lease_transitions, Some(5));
        assert_eq!(s.acquire_time, Some(MicroTime(c.at(S(0)).wall)));
        assert_eq!(s.renew_time, Some(MicroTime(now.wall)));
        assert_eq!(u.metadata.resource_version.as_deref(), Some("11"));
    }

    #[test]
    fn empty_or_missing_holder_is_acquirable_at_once() {
        let c = Clock::new();
        let me = cfg("node-a");
        for holder in [Some(""), None] {
            let l = lease(holder, "3", 2, c.at(S(0)).wall);
            let act = decide(
                &me,
                Some(&l),
                &mut Observed::new(),
                Intent::Lead,
                c.at(S(0)),
            );
            let Action::Update(u) = act else {
                panic!("expected acquire for holder {holder:?}, got {act:?}")
            };
            assert_eq!(spec(&u).holder_identity.as_deref(), Some("node-a"));
            assert_eq!(spec(&u).lease_transitions, Some(3));
        }
    }

    #[test]
    fn remote_renew_time_is_not_trusted() {
        let c = Clock::new();
        let me = cfg("node-a");
        for skew in [-3600_i64, 3600] {
            let remote = c.at(S(0)).wall + jiff::SignedDuration::from_secs(skew);
            let l = lease(Some("node-b"), "5", 1, remote);
            let mut obs = Observed::new();
            // First sight at 100s: a renewTime an hour in the past must not make us steal.
            let act = decide(&me, Some(&l), &mut obs, Intent::Lead, c.at(S(100)));
            assert!(
                matches!(act, Action::Wait { until, .. } if until == c.at(S(115)).mono),
                "skew {skew}: {act:?}"
            );
            // ...and one an hour in the future must not delay us past our own countdown.
            let act = decide(&me, Some(&l), &mut obs, Intent::Lead, c.at(S(115)));
            assert!(matches!(act, Action::Update(_)), "skew {skew}: {act:?}");
        }
    }

    #[test]
    fn remote_duration_is_used_and_a_missing_one_falls_back_to_ours() {
        let c = Clock::new();
        let me = cfg("node-a");
        let mut l = lease(Some("node-b"), "5", 1, c.at(S(0)).wall);
        if let Some(s) = l.spec.as_mut() {
            s.lease_duration_seconds = Some(40);
        }
        let act = decide(
            &me,
            Some(&l),
            &mut Observed::new(),
            Intent::Lead,
            c.at(S(0)),
        );
        assert!(matches!(act, Action::Wait { until, .. } if until == c.at(S(40)).mono));
        for d in [None, Some(0), Some(-5)] {
            if let Some(s) = l.spec.as_mut() {
                s.lease_duration_seconds = d;
            }
            let act = decide(
                &me,
                Some(&l),
                &mut Observed::new(),
                Intent::Lead,
                c.at(S(0)),
            );
            assert!(
                matches!(act, Action::Wait { until, .. } if until == c.at(S(15)).mono),
                "{d:?}: {act:?}"
            );
        }
    }

    #[test]
    fn release_clears_holder_and_keeps_transitions() {
        let c = Clock::new();
        let me = cfg("node-a");
        let l = lease(Some("node-a"), "21", 6, c.at(S(0)).wall);
        let now = c.at(S(3));
        let Action::Release(r) = decide(&me, Some(&l), &mut Observed::new(), Intent::Release, now)
        else {
            panic!("expected release")
        };
        let s = spec(&r);
        assert_eq!(s.holder_identity.as_deref(), Some(""));
        assert_eq!(s.lease_transitions, Some(6));
        assert_eq!(s.lease_duration_seconds, Some(1));
        assert_eq!(s.renew_time, Some(MicroTime(now.wall)));
        assert_eq!(r.metadata.resource_version.as_deref(), Some("21"));
        assert_eq!(holder_of(&r), None);

        // Not ours, or absent: nothing to write.
        let other = lease(Some("node-b"), "22", 6, c.at(S(0)).wall);
        let mut obs = Observed::new();
        assert_eq!(
            decide(&me, Some(&other), &mut obs, Intent::Release, now),
            Action::Nothing
        );
        assert_eq!(
            decide(&me, None, &mut obs, Intent::Release, now),
            Action::Nothing
        );
    }

    #[test]
    fn written_duration_rounds_up_to_whole_seconds() {
        let mk = |d| Timings {
            lease_duration: d,
            ..Timings::CILIUM_DEFAULT
        };
        assert_eq!(mk(S(15)).lease_duration_seconds(), 15);
        assert_eq!(mk(MS(1900)).lease_duration_seconds(), 2);
        assert_eq!(mk(MS(1)).lease_duration_seconds(), 1);
        assert_eq!(mk(S(u64::MAX / 4)).lease_duration_seconds(), i32::MAX);
    }

    #[test]
    fn fencing_stops_exactly_at_the_renew_deadline() {
        let c = Clock::new();
        let sent = c.at(S(10)).mono;
        assert!(is_leader_valid(c.at(S(10)).mono, sent, S(5)));
        assert!(is_leader_valid(c.at(S(15) - MS(1)).mono, sent, S(5)));
        assert!(!is_leader_valid(c.at(S(15)).mono, sent, S(5)));
        assert!(!is_leader_valid(c.at(S(60)).mono, sent, S(5)));
    }

    fn sanitized(
        ld: Duration,
        rd: Duration,
        rp: Duration,
    ) -> (Duration, Duration, Duration, usize) {
        let (t, w) = sanitize_timings(ld, rd, rp);
        (t.lease_duration, t.renew_deadline, t.retry_period, w.len())
    }

    #[test]
    fn sanitize_timings_reproduces_cilium() {
        // Defaults pass untouched.
        assert_eq!(sanitized(S(15), S(5), S(2)), (S(15), S(5), S(2), 0));
        // Lease duration below 1s becomes 1s; then 1s <= 5s halves the deadline to 500ms, and
        // 500ms <= 2.4s halves it again into the retry period.
        assert_eq!(sanitized(MS(500), S(5), S(2)), (S(1), MS(500), MS(250), 3));
        // Only the duration rule.
        assert_eq!(
            sanitized(MS(500), MS(400), MS(100)),
            (S(1), MS(400), MS(100), 1)
        );
        // Exactly 1s is allowed.
        assert_eq!(
            sanitized(S(1), MS(500), MS(100)),
            (S(1), MS(500), MS(100), 0)
        );
        // Zero renew deadline becomes 1s.
        assert_eq!(sanitized(S(15), S(0), MS(500)), (S(15), S(1), MS(500), 1));
        // Zero retry period becomes 200ms.
        assert_eq!(sanitized(S(15), S(5), S(0)), (S(15), S(5), MS(200), 1));
        // lease <= deadline (equal counts) sets deadline = lease / 2.
        assert_eq!(sanitized(S(10), S(10), S(2)), (S(10), S(5), S(2), 1));
        assert_eq!(sanitized(S(3), S(5), MS(500)), (S(3), MS(1500), MS(500), 1));
        // deadline <= 1.2 x retry sets retry = deadline / 2; the boundary is inclusive.
        assert_eq!(
            sanitized(S(15), MS(2400), S(2)),
            (S(15), MS(2400), MS(1200), 1)
        );
        assert_eq!(sanitized(S(15), MS(2401), S(2)), (S(15), MS(2401), S(2), 0));
        assert_eq!(sanitized(S(15), S(5), S(5)), (S(15), S(5), MS(2500), 1));
        // Both derived rules chain: deadline halves first, then retry follows it.
        assert_eq!(sanitized(S(4), S(4), S(2)), (S(4), S(2), S(1), 2));
        // Cilium's docs example: 3s lease (with default 5s/2s) -> 1.5s / 750ms.
        assert_eq!(sanitized(S(3), S(5), S(2)), (S(3), MS(1500), MS(750), 2));
        // Everything sanitised passes validation.
        for (ld, rd, rp) in [(0, 0, 0), (1, 1, 1), (1000, 1, 1000), (2, 3, 4)] {
            let (t, _) = sanitize_timings(MS(ld), MS(rd), MS(rp));
            assert_eq!(t.validate(), Ok(()), "{ld}/{rd}/{rp} -> {t:?}");
        }
    }

    #[test]
    fn sanitize_warnings_name_the_flags() {
        let (_, w) = sanitize_timings(MS(500), S(0), S(0));
        assert!(w[0].starts_with("--l2-announcements-lease-duration must be greater than 1s"));
        assert!(w[1].starts_with("--l2-announcements-renew-deadline must be greater than 1ns"));
        assert!(w[2].starts_with("--l2-announcements-retry-period must be greater than 1ns"));
        let (_, w) = sanitize_timings(S(15), S(2), S(2));
        assert!(w[0].contains("* 1.20"), "{w:?}");
    }

    #[test]
    fn config_validation() {
        assert_eq!(cfg("node-a").validate(), Ok(()));
        assert!(cfg("").validate().is_err());
        let mut c = cfg("node-a");
        c.timings.renew_deadline = c.timings.lease_duration;
        assert!(c.validate().is_err());
    }
}
