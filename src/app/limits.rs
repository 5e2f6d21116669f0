//! Write rate limits shared by every transport: per user and per client address, over REST
//! writes (WHIP/WHEP included) and WebSocket messages alike, so that opening more connections
//! or alternating transports buys no extra rate (governor's keyed GCRA limiters).

use std::net::IpAddr;
use std::time::Duration;

use uuid::Uuid;

use super::AppError;
use crate::auth::KeyedRate;

/// Counts writes per user and per address; refuses past the configured rates.
pub struct WriteLimiter {
    by_user: KeyedRate<Uuid>,
    by_address: KeyedRate<IpAddr>,
}

impl WriteLimiter {
    /// Allows `per_user` writes per minute for each user and `per_address` for each client
    /// address (bursts up to that many); 0 turns that limit off.
    pub fn new(per_user: u32, per_address: u32) -> WriteLimiter {
        WriteLimiter {
            by_user: KeyedRate::per_minute(per_user),
            by_address: KeyedRate::per_minute(per_address),
        }
    }

    /// Counts one write by `user` (when known) from `address` (when known); `rate_limited`
    /// with the seconds to wait when over either limit.
    pub fn check(&self, user: Option<Uuid>, address: Option<IpAddr>) -> Result<(), AppError> {
        let refused = |wait: Duration, whom: &str| {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut error = AppError::new(
                super::ErrorKind::RateLimited,
                "rate_limited",
                format!("too many writes from this {whom}; wait before trying again"),
            );
            error.retry_after = Some(secs.max(1));
            error
        };
        if let Some(address) = address {
            self.by_address
                .check(&address)
                .map_err(|wait| refused(wait, "address"))?;
        }
        if let Some(user) = user {
            self.by_user
                .check(&user)
                .map_err(|wait| refused(wait, "user"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_past_the_rate_is_refused_at_every_address() {
        let limiter = WriteLimiter::new(2, 100);
        let user = Uuid::now_v7();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert!(limiter.check(Some(user), Some(a)).is_ok());
        assert!(limiter.check(Some(user), Some(b)).is_ok());
        let refused = limiter.check(Some(user), Some(b)).unwrap_err();
        assert_eq!(refused.code, "rate_limited");
        assert!(refused.retry_after.is_some_and(|s| s >= 1));
        assert!(limiter.check(Some(Uuid::now_v7()), Some(b)).is_ok());
    }

    #[test]
    fn an_address_past_the_rate_is_refused_for_every_user() {
        let limiter = WriteLimiter::new(100, 1);
        let a: IpAddr = [10, 0, 0, 1].into();
        assert!(limiter.check(Some(Uuid::now_v7()), Some(a)).is_ok());
        assert!(limiter.check(Some(Uuid::now_v7()), Some(a)).is_err());
        assert!(limiter.check(None, Some([10, 0, 0, 2].into())).is_ok());
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        let limiter = WriteLimiter::new(0, 0);
        let user = Some(Uuid::now_v7());
        for _ in 0..1000 {
            assert!(limiter.check(user, Some([10, 0, 0, 1].into())).is_ok());
        }
    }
}
