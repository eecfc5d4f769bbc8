//! The async edge of leader election: one lightweight Tokio task per Lease.
//!
//! The task reads and writes the Lease through `kube::Api<Lease>` and leaves every decision to
//! `crate::lease::decide`. It is built for thousands of leases per process (the L2 announcer
//! contends for one per Service): no threads, one small state machine per task, and a leader
//! renews straight from its cached copy (client-go's "fast path") so a healthy leader costs one
//! request per retry period instead of two.
//!
//! Leadership is published on a `watch` channel as [`LeaderState`]. `Leading` carries
//! `valid_until`, the instant the holder must stop acting unless a renew succeeds first;
//! consumers that act on leadership (answering ARP) should check it themselves with
//! [`LeaderState::is_leading_at`] rather than rely on the task being scheduled in time.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use kube::Client;
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::lease::decide::{
    decide, holder_of, Action, Intent, LeaseConfig, Now, Observed, JITTER_FACTOR,
};

/// Errors of the lease elector and lease GC.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("invalid lease elector configuration: {0}")]
    Config(String),
    #[error("lease {lease}: {source}")]
    Kube {
        lease: String,
        #[source]
        source: kube::Error,
    },
    #[error("lease {lease}: request timed out after {after:?}")]
    Timeout { lease: String, after: Duration },
    #[error("the lease elector must be started inside a Tokio runtime")]
    NoRuntime,
    #[error("lease {lease}: elector task ended abnormally: {reason}")]
    Task { lease: String, reason: String },
}

impl LeaseError {
    /// 409 (stale resourceVersion / already exists) or 404: the lease changed under us and must
    /// be re-observed rather than reported.
    fn is_race(&self) -> bool {
        matches!(self, LeaseError::Kube { source: kube::Error::Api(s), .. }
            if s.is_conflict() || s.is_already_exists() || s.is_not_found())
    }
}

/// Leadership as seen by one elector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaderState {
    /// We hold the lease. `since` is when this term began; `valid_until` is renew-attempt time
    /// plus the renew deadline, after which we must stop acting.
    Leading {
        since: Instant,
        valid_until: Instant,
    },
    /// Someone else (or nobody, `None`) holds the lease, or we can no longer prove we do: after
    /// a missed renew deadline `holder` may still name us until the lease is re-read.
    Following { holder: Option<String> },
}

impl LeaderState {
    /// Whether we may act as leader at `now` (fencing: false once `valid_until` has passed even
    /// if the task has not yet published the step-down).
    pub(crate) fn is_leading_at(&self, now: Instant) -> bool {
        matches!(self, LeaderState::Leading { valid_until, .. } if now < *valid_until)
    }
}

/// Owner's handle on one elector task.
///
/// Dropping the handle stops the task, which releases the lease in the background (client-go's
/// `ReleaseOnCancel`); call [`LeaseHandle::release`] to wait for that to finish.
#[derive(Debug)]
pub struct LeaseHandle {
    key: String,
    state: watch::Receiver<LeaderState>,
    nudge: Arc<Notify>,
    // Held only to be dropped or fired: either way the task sees it and releases.
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), LeaseError>>>,
}

impl LeaseHandle {
    /// Starts contending for `cfg`'s lease. Must be called inside a Tokio runtime.
    pub fn spawn(client: Client, cfg: LeaseConfig) -> Result<LeaseHandle, LeaseError> {
        cfg.validate().map_err(LeaseError::Config)?;
        let rt = tokio::runtime::Handle::try_current().map_err(|_| LeaseError::NoRuntime)?;
        let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
        let (state_tx, state_rx) = watch::channel(LeaderState::Following { holder: None });
        let (stop_tx, stop_rx) = oneshot::channel();
        let nudge = Arc::new(Notify::new());
        let key = cfg.key();
        let task = Task::new(api, cfg, state_tx);
        let join = rt.spawn(task.run(nudge.clone(), stop_rx));
        Ok(LeaseHandle {
            key,
            state: state_rx,
            nudge,
            stop: Some(stop_tx),
            task: Some(join),
        })
    }

    /// `namespace/name` of the lease.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// A receiver for leadership changes (also every renew, which moves `valid_until`).
    pub fn subscribe(&self) -> watch::Receiver<LeaderState> {
        self.state.clone()
    }

    /// The last published state.
    pub fn state(&self) -> LeaderState {
        self.state.borrow().clone()
    }

    /// Whether we may act as leader right now.
    pub fn is_leading(&self) -> bool {
        self.state.borrow().is_leading_at(Instant::now())
    }

    /// Makes the task try again at once instead of waiting out its retry period, e.g. when a
    /// lease watch shows the lease was released. A nudge during an attempt is kept for after it.
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// Stops contending: we stop acting as leader first, then clear the holder if the lease is
    /// ours. Waits for the release write (bounded by the renew deadline).
    pub async fn release(mut self) -> Result<(), LeaseError> {
        if let Some(stop) = self.stop.take() {
            // An error means the task already ended; the join below reports how.
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(join) => join.await.map_err(|e| LeaseError::Task {
                lease: self.key.clone(),
                reason: e.to_string(),
            })?,
            None => Ok(()),
        }
    }
}

/// How a round ended and when the next one should start.
struct Next(Instant);

struct Task {
    api: Api<Lease>,
    cfg: LeaseConfig,
    key: String,
    observed: Observed,
    /// Our last copy of the lease (with its resourceVersion), for renews without a GET.
    cached: Option<Lease>,
    /// Whether the server's lease might name us: true from the moment we send a write until a
    /// response or a read proves otherwise. Release must check the server when this is set.
    maybe_ours: bool,
    lead: Option<Lead>,
    state: watch::Sender<LeaderState>,
    rng: SplitMix,
    /// Whether the previous round failed, so a long API outage logs once per lease, not every
    /// few seconds for each of thousands of leases.
    failing: bool,
}

#[derive(Clone, Copy, Debug)]
struct Lead {
    since: Instant,
    valid_until: Instant,
}

impl Task {
    fn new(api: Api<Lease>, cfg: LeaseConfig, state: watch::Sender<LeaderState>) -> Self {
        let key = cfg.key();
        let rng = SplitMix::seeded(&(&cfg.namespace, &cfg.name, &cfg.identity));
        Task {
            api,
            cfg,
            key,
            observed: Observed::new(),
            cached: None,
            maybe_ours: false,
            lead: None,
            state,
            rng,
            failing: false,
        }
    }

    async fn run(
        mut self,
        nudge: Arc<Notify>,
        mut stop: oneshot::Receiver<()>,
    ) -> Result<(), LeaseError> {
        'contend: loop {
            let next = tokio::select! {
                biased;
                _ = &mut stop => break 'contend,
                next = self.attempt() => next.0,
            };
            loop {
                // Wake at the renew deadline too, so a leader that cannot renew steps down on
                // time even when its next attempt is later.
                let wake = match self.lead {
                    Some(l) if l.valid_until < next => l.valid_until,
                    _ => next,
                };
                tokio::select! {
                    biased;
                    _ = &mut stop => break 'contend,
                    _ = nudge.notified() => break,
                    _ = sleep_until(wake) => {
                        self.check_deadline();
                        if Instant::now() >= next {
                            break;
                        }
                    }
                }
            }
        }
        self.release().await
    }

    /// One acquire-or-renew round.
    async fn attempt(&mut self) -> Next {
        let retry = self.cfg.timings.retry_period;
        // Fast path: if our copy names us, write from it; a 409 sends us to the slow path.
        let mut lease = match self.cached.take() {
            Some(l) if holder_of(&l) == Some(self.cfg.identity.as_str()) => Some(l),
            _ => match self.get().await {
                Ok(l) => l,
                Err(e) => return self.failed(e),
            },
        };
        // At most one re-observation after a race, so a contended lease cannot spin the task.
        for reobserved in [false, true] {
            let now = Now::read();
            let action = decide(
                &self.cfg,
                lease.as_ref(),
                &mut self.observed,
                Intent::Lead,
                now,
            );
            let result = match action {
                Action::Create(l) => {
                    self.maybe_ours = true;
                    let pp = PostParams::default();
                    let fut = self.api.create(&pp, &l);
                    self.call(fut).await
                }
                Action::Update(l) => {
                    self.maybe_ours = true;
                    let pp = PostParams::default();
                    let fut = self.api.replace(&self.cfg.name, &pp, &l);
                    self.call(fut).await
                }
                Action::Wait { until, holder } => {
                    self.cached = lease;
                    self.maybe_ours = false;
                    self.follow(holder);
                    self.recovered();
                    return Next(until.min(now.mono + self.jitter(retry)));
                }
                // Not produced for Intent::Lead; treat as "nothing to do" rather than panic.
                Action::Release(_) | Action::Nothing => {
                    return Next(now.mono + self.jitter(retry));
                }
            };
            match result {
                Ok(written) => {
                    self.observed.observe(Some(&written), Instant::now());
                    self.cached = Some(written);
                    self.recovered();
                    // The write was sent after `now.mono`, so validity counts from there.
                    self.lead_until(now.mono + self.cfg.timings.renew_deadline);
                    return Next(Instant::now() + retry);
                }
                Err(e) if e.is_race() && !reobserved => {
                    tracing::debug!(lease = %self.key, error = %e, "lease changed under us, re-reading");
                    lease = match self.get().await {
                        Ok(l) => l,
                        Err(e) => return self.failed(e),
                    };
                }
                Err(e) => return self.failed(e),
            }
        }
        Next(Instant::now() + self.jitter(retry))
    }

    async fn get(&mut self) -> Result<Option<Lease>, LeaseError> {
        let fut = self.api.get_opt(&self.cfg.name);
        let lease = self.call(fut).await?;
        self.maybe_ours = lease
            .as_ref()
            .is_some_and(|l| holder_of(l) == Some(self.cfg.identity.as_str()));
        // A read showing the lease held by someone else, or deleted (anyone may now create it
        // and lead at once), ends our term right away: stepping down early is always safe.
        if !self.maybe_ours && self.lead.is_some() {
            self.follow(lease.as_ref().and_then(holder_of).map(str::to_string));
        }
        Ok(lease)
    }

    /// Runs one API call with a timeout: the renew deadline, or less while leading, so that a
    /// hung request cannot hold a leader past its validity.
    async fn call<T>(
        &self,
        fut: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, LeaseError> {
        let mut limit = self.cfg.timings.renew_deadline;
        if let Some(l) = self.lead {
            limit = limit.min(l.valid_until.saturating_duration_since(Instant::now()));
        }
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(source)) => Err(LeaseError::Kube {
                lease: self.key.clone(),
                source,
            }),
            Err(_) => Err(LeaseError::Timeout {
                lease: self.key.clone(),
                after: limit,
            }),
        }
    }

    fn failed(&mut self, e: LeaseError) -> Next {
        if e.is_race() {
            // Losing a write race twice in a row is contention, not an outage.
            tracing::debug!(lease = %self.key, error = %e, "lost a lease write race");
        } else if self.failing {
            tracing::debug!(lease = %self.key, error = %e, "lease attempt failed again");
        } else {
            tracing::warn!(lease = %self.key, error = %e, "lease attempt failed, will retry");
        }
        self.failing |= !e.is_race();
        self.check_deadline();
        let retry = self.cfg.timings.retry_period;
        // A leader retries at the plain period, like client-go's renew loop; followers jitter.
        let wait = if self.lead.is_some() {
            retry
        } else {
            self.jitter(retry)
        };
        Next(Instant::now() + wait)
    }

    fn recovered(&mut self) {
        if self.failing {
            tracing::info!(lease = %self.key, "lease API reachable again");
        }
        self.failing = false;
    }

    /// Enters or extends a term valid until `valid_until`.
    fn lead_until(&mut self, valid_until: Instant) {
        let now = Instant::now();
        if now >= valid_until {
            // The write succeeded too late to prove anything; act as if it had failed.
            self.check_deadline();
            return;
        }
        let since = match self.lead {
            Some(l) if now < l.valid_until => l.since,
            _ => {
                tracing::info!(lease = %self.key, identity = %self.cfg.identity, "became leader");
                now
            }
        };
        self.lead = Some(Lead { since, valid_until });
        self.state
            .send_replace(LeaderState::Leading { since, valid_until });
    }

    /// Steps down once the renew deadline has passed without a successful renew. The lease
    /// still names us, so we keep contending and reclaim it without a transition if the API
    /// comes back before anyone else takes over (client-go would clear it instead).
    fn check_deadline(&mut self) {
        if let Some(l) = self.lead {
            if Instant::now() >= l.valid_until {
                tracing::warn!(lease = %self.key, "renew deadline passed, stopped leading");
                self.follow(Some(self.cfg.identity.clone()));
            }
        }
    }

    fn follow(&mut self, holder: Option<String>) {
        if self.lead.take().is_some() {
            tracing::info!(lease = %self.key, holder = ?holder, "stopped leading");
        }
        let next = LeaderState::Following { holder };
        self.state.send_if_modified(|cur| {
            if *cur == next {
                false
            } else {
                *cur = next;
                true
            }
        });
    }

    /// client-go's `ReleaseOnCancel`: stop acting first (two nodes must never answer for the
    /// VIP at once), then clear the holder if the lease is, or may be, ours.
    async fn release(mut self) -> Result<(), LeaseError> {
        self.follow(None);
        if !self.maybe_ours {
            return Ok(());
        }
        let limit = self.cfg.timings.renew_deadline;
        let key = self.key.clone();
        let result = match tokio::time::timeout(limit, self.release_inner()).await {
            Ok(r) => r,
            Err(_) => Err(LeaseError::Timeout {
                lease: key,
                after: limit,
            }),
        };
        if let Err(e) = &result {
            // Nobody may be awaiting the result (the handle was dropped), so say it here.
            // Others take over after the lease duration anyway.
            tracing::warn!(lease = %self.key, error = %e, "could not release lease");
        }
        result
    }

    async fn release_inner(&mut self) -> Result<(), LeaseError> {
        // Our cached copy is only trustworthy if no write of ours may be in flight.
        let mut lease = self
            .cached
            .take()
            .filter(|l| holder_of(l) == Some(self.cfg.identity.as_str()));
        // A few rounds: a 409 here usually means our own last renew landed after all.
        for _ in 0..3 {
            let current = match lease.take() {
                Some(l) => Some(l),
                None => self.get_plain().await?,
            };
            let action = decide(
                &self.cfg,
                current.as_ref(),
                &mut self.observed,
                Intent::Release,
                Now::read(),
            );
            let Action::Release(l) = action else {
                return Ok(());
            };
            let pp = PostParams::default();
            let fut = self.api.replace(&self.cfg.name, &pp, &l);
            match self.call_plain(fut).await {
                Ok(_) => {
                    tracing::info!(lease = %self.key, "released lease");
                    return Ok(());
                }
                Err(e) if e.is_race() => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn get_plain(&self) -> Result<Option<Lease>, LeaseError> {
        let fut = self.api.get_opt(&self.cfg.name);
        self.call_plain(fut).await
    }

    /// An API call bounded only by the caller's overall timeout.
    async fn call_plain<T>(
        &self,
        fut: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, LeaseError> {
        fut.await.map_err(|source| LeaseError::Kube {
            lease: self.key.clone(),
            source,
        })
    }

    /// client-go's `wait.Jitter(retry, 1.2)`: uniformly in `[retry, retry * 2.2)`, which spreads
    /// thousands of followers' polls instead of letting them hit the API server together.
    fn jitter(&mut self, d: Duration) -> Duration {
        let extra = d.as_secs_f64() * self.rng.unit() * JITTER_FACTOR;
        d + Duration::try_from_secs_f64(extra).unwrap_or_default()
    }
}

/// A tiny non-cryptographic generator: jitter only needs to decorrelate tasks, and this avoids
/// a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn seeded(seed: &impl Hash) -> Self {
        // RandomState is randomly keyed per instance, so equal seeds still differ across tasks
        // and processes.
        SplitMix(RandomState::new().hash_one(seed))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_state_fencing() {
        let now = Instant::now();
        let s = LeaderState::Leading {
            since: now,
            valid_until: now + Duration::from_secs(5),
        };
        assert!(s.is_leading_at(now));
        assert!(s.is_leading_at(now + Duration::from_millis(4999)));
        assert!(!s.is_leading_at(now + Duration::from_secs(5)));
        assert!(!LeaderState::Following { holder: None }.is_leading_at(now));
    }

    #[test]
    fn jitter_stays_in_client_go_range() {
        let mut rng = SplitMix::seeded(&"x");
        let d = Duration::from_secs(2);
        let (mut lo, mut hi) = (f64::MAX, 0.0_f64);
        for _ in 0..10_000 {
            let extra = d.as_secs_f64() * rng.unit() * JITTER_FACTOR;
            let j = (d + Duration::from_secs_f64(extra)).as_secs_f64();
            lo = lo.min(j);
            hi = hi.max(j);
        }
        assert!((2.0..2.05).contains(&lo), "{lo}");
        assert!((4.35..4.4).contains(&hi), "{hi}");
    }
}
