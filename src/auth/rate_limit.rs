//! Login rate limits, per username and per client address (governor's keyed GCRA limiters).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Counts login attempts; refuses past the configured rate with how long to wait.
pub struct LoginLimiter {
    by_username: DefaultKeyedRateLimiter<String>,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl LoginLimiter {
    /// Allows `per_username` attempts per minute for each username and `per_address` for each
    /// client address (bursts up to that many).
    pub fn new(per_username: u32, per_address: u32) -> LoginLimiter {
        LoginLimiter {
            by_username: RateLimiter::keyed(per_minute(per_username)),
            by_address: RateLimiter::keyed(per_minute(per_address)),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one attempt; `Err(wait)` when over either limit.
    pub fn check(&self, username: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        let now = self.clock.now();
        if let Some(address) = address
            && let Err(not_until) = self.by_address.check_key(&address)
        {
            return Err(not_until.wait_time_from(now));
        }
        self.by_username
            .check_key(&username.to_lowercase())
            .map_err(|not_until| not_until.wait_time_from(now))?;
        // Keep memory bounded: forget keys whose limits have fully recovered.
        if self.by_username.len() > 100_000 {
            self.by_username.retain_recent();
        }
        if self.by_address.len() > 100_000 {
            self.by_address.retain_recent();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attempt_past_the_limit_is_refused_with_a_wait() {
        let limiter = LoginLimiter::new(3, 100);
        for _ in 0..3 {
            assert!(limiter.check("alice", None).is_ok());
        }
        let wait = limiter.check("alice", None).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        assert!(
            limiter.check("bob", None).is_ok(),
            "limits are per username"
        );
    }
}
