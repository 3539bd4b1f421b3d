//! Times are stored as Unix milliseconds (`BIGINT`) on both engines.

use time::OffsetDateTime;

pub(crate) fn to_millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(crate) fn opt_to_millis(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(to_millis)
}

pub(crate) fn opt_from_millis(ms: Option<i64>) -> Option<OffsetDateTime> {
    ms.map(from_millis)
}
