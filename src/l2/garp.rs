//! When to send the gratuitous announcements that follow a takeover: `count` per IP, `spacing`
//! apart, for every IP of one interface. Pure (the caller supplies the clock), so one interface
//! loop can announce thousands of VIPs from the socket it already has, instead of a task and a
//! socket per VIP: closing an AF_PACKET socket waits for an RCU grace period in the kernel, and
//! a thousand of those blocked the runtime long enough for every lease to miss its renewal.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct GarpSchedule {
    count: usize,
    spacing: Duration,
    /// (due, ip): ordered by due time, so the next wake-up is the first element.
    due: BTreeSet<(Instant, IpAddr)>,
    /// ip -> (its key in `due`, sends still owed including the due one).
    owed: HashMap<IpAddr, (Instant, usize)>,
}

impl GarpSchedule {
    pub fn new(count: usize, spacing: Duration) -> Self {
        GarpSchedule {
            count,
            spacing,
            due: BTreeSet::new(),
            owed: HashMap::new(),
        }
    }

    /// A new term for `ip`: the first announcement is due at `now`. Restarts the series if one
    /// was still running, since a takeover after a loss must be announced afresh.
    pub fn start(&mut self, ip: IpAddr, now: Instant) {
        self.stop(ip);
        if self.count > 0 {
            self.due.insert((now, ip));
            self.owed.insert(ip, (now, self.count));
        }
    }

    /// Forgets `ip` (no longer ours): nothing more is sent for it.
    pub fn stop(&mut self, ip: IpAddr) {
        if let Some((at, _)) = self.owed.remove(&ip) {
            self.due.remove(&(at, ip));
        }
    }

    /// When the next announcement is due, if any.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.due.first().map(|(at, _)| *at)
    }

    /// The IPs to announce now; each is rescheduled `spacing` later until its count is spent.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<IpAddr> {
        let mut out = Vec::new();
        while let Some(&(at, ip)) = self.due.first() {
            if at > now {
                break;
            }
            self.due.pop_first();
            out.push(ip);
            match self.owed.get_mut(&ip) {
                Some((key, left)) if *left > 1 => {
                    *left -= 1;
                    // From `at`, so a slightly late wake-up does not stretch the series; but
                    // never closer than a spacing after a send that was late by more than one,
                    // so the sends of one IP stay apart.
                    let next = at + self.spacing;
                    *key = if next > now { next } else { now + self.spacing };
                    self.due.insert((*key, ip));
                }
                _ => {
                    self.owed.remove(&ip);
                }
            }
        }
        out
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.owed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn three_sends_spaced_out() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = GarpSchedule::new(3, ms(500));
        s.start(ip(1), t0);
        assert_eq!(s.next_due(), Some(t0));
        assert_eq!(s.take_due(t0), vec![ip(1)]);
        assert_eq!(s.take_due(t0 + ms(499)), Vec::<IpAddr>::new());
        assert_eq!(s.next_due(), Some(t0 + ms(500)));
        assert_eq!(s.take_due(t0 + ms(500)), vec![ip(1)]);
        assert_eq!(s.take_due(t0 + ms(1000)), vec![ip(1)]);
        assert!(s.is_empty());
        assert_eq!(s.next_due(), None);
        assert_eq!(s.take_due(t0 + ms(5000)), Vec::<IpAddr>::new());
    }

    #[test]
    fn stop_cancels_and_restart_begins_again() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = GarpSchedule::new(3, ms(500));
        s.start(ip(1), t0);
        s.start(ip(2), t0);
        assert_eq!(s.take_due(t0).len(), 2);
        s.stop(ip(1));
        assert_eq!(s.take_due(t0 + ms(500)), vec![ip(2)]);
        // A second takeover of ip 2 restarts its series of three.
        s.start(ip(2), t0 + ms(600));
        assert_eq!(s.take_due(t0 + ms(600)), vec![ip(2)]);
        assert_eq!(s.take_due(t0 + ms(1100)), vec![ip(2)]);
        assert_eq!(s.take_due(t0 + ms(1600)), vec![ip(2)]);
        assert!(s.is_empty());
    }

    #[test]
    fn a_late_wake_up_keeps_the_sends_apart() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = GarpSchedule::new(3, ms(500));
        s.start(ip(1), t0);
        assert_eq!(s.take_due(t0 + ms(100)), vec![ip(1)]);
        // Slightly late: the next keeps the original rhythm.
        assert_eq!(s.next_due(), Some(t0 + ms(500)));
        // Woken 2 s late: one send, and the last one a full spacing after it.
        assert_eq!(s.take_due(t0 + ms(2500)), vec![ip(1)]);
        assert_eq!(s.take_due(t0 + ms(2500)), Vec::<IpAddr>::new());
        assert_eq!(s.next_due(), Some(t0 + ms(3000)));
        assert_eq!(s.take_due(t0 + ms(3000)), vec![ip(1)]);
        assert!(s.is_empty());
    }

    proptest! {
        /// Whatever the order of starts, stops and wake-ups: every started IP that is not
        /// stopped gets exactly `count` sends, never two in one call, and stopped IPs get none
        /// after their stop.
        #[test]
        fn every_ip_gets_exactly_count(
            ops in proptest::collection::vec((0u8..3, 0u8..8, 0u64..800), 1..80),
            count in 1usize..5,
        ) {
            let t0 = Instant::now();
            let mut s = GarpSchedule::new(count, Duration::from_millis(500));
            let mut now = t0;
            let mut sent: HashMap<IpAddr, usize> = HashMap::new();
            let mut live: HashMap<IpAddr, bool> = HashMap::new();
            for (op, n, step) in ops {
                now += Duration::from_millis(step);
                match op {
                    0 => { s.start(ip(n), now); sent.insert(ip(n), 0); live.insert(ip(n), true); }
                    1 => { s.stop(ip(n)); live.insert(ip(n), false); }
                    _ => {}
                }
                let out = s.take_due(now);
                let uniq: BTreeSet<_> = out.iter().collect();
                prop_assert_eq!(uniq.len(), out.len());
                for i in out {
                    prop_assert!(live[&i]);
                    *sent.get_mut(&i).unwrap() += 1;
                }
            }
            // Drain.
            for _ in 0..count {
                now += Duration::from_secs(1);
                for i in s.take_due(now) {
                    *sent.get_mut(&i).unwrap() += 1;
                }
            }
            prop_assert!(s.is_empty());
            for (i, alive) in live {
                if alive {
                    prop_assert_eq!(sent[&i], count);
                } else {
                    prop_assert!(sent.get(&i).copied().unwrap_or(0) <= count);
                }
            }
        }
    }
}
