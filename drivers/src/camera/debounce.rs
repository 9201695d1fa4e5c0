//! One report per code shown, not thirty a second.
//!
//! A phone held in front of the camera is decoded in every frame. The same
//! text is reported again only after it has been out of sight for the
//! hold-off (measured from the last frame it was seen in, so holding the
//! phone still for a minute is still one scan); a different text is
//! reported at once.

use std::time::{Duration, Instant};

/// The last text reported and when it was last seen; one per camera.
#[derive(Debug, Clone)]
pub struct Debounce {
    hold_off: Duration,
    last: Option<(String, Instant)>,
}

impl Debounce {
    /// `hold_off` is `camera.hold_off_ms`; zero reports every decode.
    pub fn new(hold_off: Duration) -> Debounce {
        Debounce {
            hold_off,
            last: None,
        }
    }

    /// `text` was decoded at `now`: should it be reported?
    pub fn accept(&mut self, text: &str, now: Instant) -> bool {
        let report = match &self.last {
            Some((last, seen)) if last == text => {
                now.checked_duration_since(*seen).unwrap_or_default() >= self.hold_off
            }
            _ => true,
        };
        self.last = Some((text.to_string(), now));
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: Duration = Duration::from_millis(3000);

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_code_held_still_is_reported_once() {
        let t0 = Instant::now();
        let mut d = Debounce::new(HOLD);
        let reports = (0..300)
            .filter(|i| d.accept("SSQR1.a.b", ms(t0, i * 33)))
            .count();
        assert_eq!(reports, 1, "ten seconds at 30 fps");
    }

    #[test]
    fn a_different_code_is_reported_at_once() {
        let t0 = Instant::now();
        let mut d = Debounce::new(HOLD);
        assert!(d.accept("A", t0));
        assert!(d.accept("B", ms(t0, 10)));
        assert!(d.accept("A", ms(t0, 20)), "back to A: it is new again");
    }

    #[test]
    fn the_same_code_after_the_hold_off_is_a_new_scan() {
        let t0 = Instant::now();
        let mut d = Debounce::new(HOLD);
        assert!(d.accept("A", t0));
        assert!(!d.accept("A", ms(t0, 2999)));
        // Seen at 2999: the hold-off counts from there.
        assert!(!d.accept("A", ms(t0, 5998)));
        assert!(d.accept("A", ms(t0, 9000)));
    }

    #[test]
    fn time_going_backwards_does_not_panic() {
        let t0 = Instant::now();
        let mut d = Debounce::new(HOLD);
        assert!(d.accept("A", ms(t0, 100)));
        assert!(!d.accept("A", t0));
    }
}
