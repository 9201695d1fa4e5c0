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

pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Local time of the counter for printing. Counters run in Italy; without a
/// time-zone database we print UTC offset by the machine's offset when it can
/// be determined, else UTC.
pub fn local(t: OffsetDateTime) -> OffsetDateTime {
    match UtcOffset::current_local_offset() {
        Ok(off) => t.to_offset(off),
        Err(_) => t,
    }
}

/// `22/11/2026 11:16`.
pub fn receipt_datetime(t: OffsetDateTime) -> String {
    let t = local(t);
    format!(
        "{:02}/{:02}/{} {:02}:{:02}",
        t.day(),
        u8::from(t.month()),
        t.year(),
        t.hour(),
        t.minute()
    )
}
