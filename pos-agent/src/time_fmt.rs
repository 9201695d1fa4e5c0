//! Time formatting in one place: RFC 3339 in UTC, whole seconds.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// `2026-11-22T10:15:00Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// RFC 3339 with the fraction of a second, for times the agent only keeps
/// for itself (retry times: a `Retry-After: 1` must not become 0.3 s).
pub fn rfc3339_precise(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Local time of the counter (receipts, day dates, messages).
///
/// Why jiff: `time`'s own local-offset lookup refuses to work in a
/// multi-threaded process on Linux, and a counter runs for months across
/// daylight-saving changes, so the offset must come from the system's time
/// zone database (`/etc/localtime`, `TZ`) for each instant. Without a
/// database the time stays UTC.
pub fn local(t: OffsetDateTime) -> OffsetDateTime {
    local_in(t, &jiff::tz::TimeZone::system())
}

/// `t` in the time zone `tz`.
pub fn local_in(t: OffsetDateTime, tz: &jiff::tz::TimeZone) -> OffsetDateTime {
    let offset = jiff::Timestamp::from_second(t.unix_timestamp())
        .ok()
        .map(|ts| tz.to_offset(ts).seconds())
        .and_then(|secs| UtcOffset::from_whole_seconds(secs).ok());
    // Near the ends of the calendar (a date from outside, year 9999) the
    // shifted time may not exist: keep UTC rather than panic.
    offset.and_then(|off| t.checked_to_offset(off)).unwrap_or(t)
}

/// `+01:00`.
pub fn offset_text(o: time::UtcOffset) -> String {
    let (h, m, _) = o.as_hms();
    let sign = if o.is_negative() { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

/// The inverse of [`offset_text`].
pub fn parse_offset(s: &str) -> Option<time::UtcOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let h: i8 = h.parse().ok()?;
    let m: i8 = m.parse().ok()?;
    time::UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc_whole_seconds() {
        let t = OffsetDateTime::from_unix_timestamp(1_763_806_563).unwrap()
            + time::Duration::milliseconds(750);
        assert_eq!(rfc3339(t), "2025-11-22T10:16:03Z");
        assert_eq!(
            parse_rfc3339("2025-11-22T10:16:03Z")
                .unwrap()
                .unix_timestamp(),
            1_763_806_563
        );
    }

    #[test]
    fn rome_follows_daylight_saving() {
        let rome = jiff::tz::TimeZone::get("Europe/Rome").unwrap();
        let november = OffsetDateTime::from_unix_timestamp(1_763_806_563).unwrap();
        assert_eq!(local_in(november, &rome).hour(), 11, "UTC+1 in winter");
        let july = OffsetDateTime::from_unix_timestamp(1_752_142_563).unwrap();
        assert_eq!(
            local_in(july, &rome).hour(),
            (july.hour() + 2) % 24,
            "UTC+2 in summer"
        );
    }

    #[test]
    fn local_time_at_the_ends_of_the_calendar_does_not_panic() {
        let rome = jiff::tz::TimeZone::get("Europe/Rome").unwrap();
        let last = parse_rfc3339("9999-12-31T23:59:59Z").unwrap();
        assert_eq!(
            local_in(last, &rome).unix_timestamp(),
            last.unix_timestamp()
        );
        let first = parse_rfc3339("0000-01-01T00:00:00Z").unwrap();
        let new_york = jiff::tz::TimeZone::get("America/New_York").unwrap();
        assert_eq!(
            local_in(first, &new_york).unix_timestamp(),
            first.unix_timestamp()
        );
    }

    #[test]
    fn local_time_keeps_the_instant() {
        let t = OffsetDateTime::from_unix_timestamp(1_763_806_563).unwrap();
        assert_eq!(local(t).unix_timestamp(), t.unix_timestamp());
    }
}
