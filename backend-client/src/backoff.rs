//! Retry delays: exponential with full jitter, honouring `Retry-After`.
//!
//! ```text
//! ceiling(attempt) = min(max, base * 2^attempt)
//! delay            = max(uniform[0, ceiling], min(retry_after, 1 h))
//! ```
//! Full jitter spreads the retries of many counters after an outage; the
//! server's `Retry-After` is a floor, capped so a bad header cannot park the
//! outbox for days.

use std::time::Duration;

use rand::Rng;

use crate::error::RETRY_AFTER_CAP;

/// Backoff policy. The agent uses `base` 1 s and `max` 5 min.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling of the first retry's window; doubles with every attempt.
    pub base: Duration,
    /// The window never grows past this, so a counter that was offline for
    /// hours still retries within minutes of the backend coming back.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The upper bound of the jitter window for `attempt` (0 for the first
    /// retry): `min(max, base * 2^attempt)`, without overflow.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.checked_pow(attempt.min(31)).unwrap_or(u32::MAX);
        self.base
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max)
    }

    /// The delay before retry number `attempt`: a uniform draw in
    /// `[0, ceiling(attempt)]`, never shorter than `retry_after` (itself
    /// capped at [`RETRY_AFTER_CAP`]).
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Duration {
        let ceiling = self.ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let jittered = Duration::from_nanos(rng.gen_range(0..=nanos));
        match retry_after {
            Some(ra) => jittered.max(ra.min(RETRY_AFTER_CAP)),
            None => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn ceiling_grows_then_caps() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(0), Duration::from_secs(1));
        assert_eq!(b.ceiling(3), Duration::from_secs(8));
        assert_eq!(b.ceiling(9), Duration::from_secs(300));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn jitter_varies() {
        let b = Backoff::default();
        let mut rng = StdRng::seed_from_u64(1);
        let draws: Vec<_> = (0..20).map(|_| b.delay(10, None, &mut rng)).collect();
        assert!(draws.iter().any(|d| *d != draws[0]));
    }

    #[test]
    fn retry_after_is_a_floor_and_capped() {
        let b = Backoff::default();
        let mut rng = StdRng::seed_from_u64(2);
        assert!(b.delay(0, Some(Duration::from_secs(30)), &mut rng) >= Duration::from_secs(30));
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(86_400)), &mut rng),
            RETRY_AFTER_CAP
        );
    }

    proptest! {
        #[test]
        fn delay_bounds(
            base_ms in 0u64..100_000,
            max_ms in 0u64..1_000_000,
            attempt in any::<u32>(),
            ra in proptest::option::of(0u64..1_000_000),
            seed in any::<u64>(),
        ) {
            let b = Backoff { base: Duration::from_millis(base_ms), max: Duration::from_millis(max_ms) };
            let ra = ra.map(Duration::from_secs);
            let ra_capped = ra.map(|r| r.min(RETRY_AFTER_CAP)).unwrap_or(Duration::ZERO);
            let d = b.delay(attempt, ra, &mut StdRng::seed_from_u64(seed));
            prop_assert!(d <= b.max.max(ra_capped));
            prop_assert!(d >= ra_capped);
            prop_assert!(d <= b.ceiling(attempt).max(ra_capped));
        }
    }
}
