//! Sign-in throttling. Counted per (client address, username) pair, never per username alone:
//! a per-username lock-out is one anyone can trigger against anyone (ten wrong passwords from
//! anywhere, and the owner is locked out too). Three layers:
//! - a rate per pair (governor's keyed GCRA): `per_username` attempts a minute;
//! - an exponential delay per pair after [`FREE_FAILURES`] consecutive wrong passwords
//!   (1 s, 2 s, 4 s, … up to [`MAX_DELAY`]), reset by a success;
//! - a rate per address over all usernames (password spraying).
//!
//! The rightful user at another address is never slowed by someone else's guesses.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Keys a [`KeyedRate`] remembers before it forgets those whose limit has fully recovered.
const MAX_KEYS: usize = 100_000;

/// A rate per key (governor's keyed GCRA): `n` a minute, in bursts of up to `n`. Its memory is
/// bounded: past [`MAX_KEYS`] keys, those back at their full allowance are forgotten.
pub struct KeyedRate<K: Hash + Eq + Clone> {
    /// `None`: no limit.
    limiter: Option<DefaultKeyedRateLimiter<K>>,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone> KeyedRate<K> {
    /// `n` a minute per key; 0 means no limit.
    pub fn per_minute(n: u32) -> KeyedRate<K> {
        KeyedRate {
            limiter: NonZeroU32::new(n).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one for `key`; `Err(wait)` when past the rate: how long until one more is allowed.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))?;
        if limiter.len() > MAX_KEYS {
            limiter.retain_recent();
        }
        Ok(())
    }
}

/// Wrong passwords a pair may make in a row before each further one adds a delay.
pub const FREE_FAILURES: u32 = 5;
/// The longest delay between two attempts of one pair.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Pairs whose failures are remembered at most; the oldest are forgotten past it.
const MAX_PAIRS: usize = MAX_KEYS;

type Pair = (IpAddr, String);

/// A pair has started to be delayed: what to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// Consecutive wrong passwords of the pair.
    pub failures: u32,
    /// The delay before its next attempt.
    pub delay: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    not_before: Instant,
}

/// Counts sign-in attempts; refuses past the limits with how long to wait.
pub struct LoginLimiter {
    by_pair: KeyedRate<Pair>,
    by_address: KeyedRate<IpAddr>,
    failures: Mutex<HashMap<Pair, Failures>>,
}

fn pair(username: &str, address: Option<IpAddr>) -> Pair {
    // No address (a test service, a Unix socket): all such callers share one.
    (
        address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        username.to_lowercase(),
    )
}

/// The delay after the `count`-th consecutive failure.
fn delay_after(count: u32) -> Duration {
    match count.checked_sub(FREE_FAILURES) {
        None | Some(0) => Duration::ZERO,
        Some(n) => Duration::from_secs(1u64 << (n - 1).min(20)).min(MAX_DELAY),
    }
}

impl LoginLimiter {
    /// Allows `per_username` attempts a minute for each username from one address, and
    /// `per_address` a minute from each address over all usernames (bursts up to that many).
    pub fn new(per_username: u32, per_address: u32) -> LoginLimiter {
        // Sign-in is never unlimited: 0 counts as 1 a minute.
        LoginLimiter {
            by_pair: KeyedRate::per_minute(per_username.max(1)),
            by_address: KeyedRate::per_minute(per_address.max(1)),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one attempt; `Err(wait)` when it must not be tried now.
    pub fn check(&self, username: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        let key = pair(username, address);
        if let Some(wait) = self.delayed(&key) {
            return Err(wait);
        }
        if let Some(address) = address {
            self.by_address.check(&address)?;
        }
        self.by_pair.check(&key)
    }

    fn delayed(&self, key: &Pair) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let wait = failures
            .get(key)?
            .not_before
            .checked_duration_since(Instant::now())?;
        (!wait.is_zero()).then_some(wait)
    }

    /// Records a wrong password; `Some` when the pair is now delayed.
    pub fn failed(&self, username: &str, address: Option<IpAddr>) -> Option<Throttled> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_PAIRS {
            let now = Instant::now();
            failures.retain(|_, f| f.not_before > now);
            if failures.len() >= MAX_PAIRS {
                failures.clear();
            }
        }
        let entry = failures.entry(pair(username, address)).or_insert(Failures {
            count: 0,
            not_before: Instant::now(),
        });
        entry.count = entry.count.saturating_add(1);
        let delay = delay_after(entry.count);
        entry.not_before = Instant::now() + delay;
        (!delay.is_zero()).then_some(Throttled {
            failures: entry.count,
            delay,
        })
    }

    /// Records a right password: the pair's failures are forgotten.
    pub fn succeeded(&self, username: &str, address: Option<IpAddr>) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&pair(username, address));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    const THERE: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));

    #[test]
    fn the_attempt_past_the_limit_is_refused_with_a_wait() {
        let limiter = LoginLimiter::new(3, 100);
        for _ in 0..3 {
            assert!(limiter.check("alice", HERE).is_ok());
        }
        let wait = limiter.check("alice", HERE).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        assert!(
            limiter.check("bob", HERE).is_ok(),
            "limits are per username"
        );
        assert!(
            limiter.check("alice", THERE).is_ok(),
            "and per address: the owner elsewhere is not limited"
        );
    }

    #[test]
    fn wrong_passwords_past_the_free_ones_delay_the_pair_exponentially() {
        let limiter = LoginLimiter::new(1000, 1000);
        for _ in 0..FREE_FAILURES {
            assert_eq!(limiter.failed("alice", HERE), None);
        }
        let first = limiter.failed("alice", HERE).expect("delayed");
        let second = limiter.failed("alice", HERE).expect("delayed");
        assert_eq!(first.delay, Duration::from_secs(1));
        assert_eq!(second.delay, Duration::from_secs(2));
        assert!(limiter.check("alice", HERE).is_err());
        assert!(limiter.check("alice", THERE).is_ok());
        assert_eq!(delay_after(FREE_FAILURES + 40), MAX_DELAY);
        limiter.succeeded("alice", HERE);
        assert!(limiter.check("alice", HERE).is_ok());
    }
}
