//! Calendar dates from Unix time, as the API and productmd write them: a
//! leaf module both the store (timestamps) and the compose engine (compose
//! ids) use, so neither imports the other for it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Today's date as `YYYYMMDD` (UTC), from the days since 1970 (Howard Hinnant's
/// civil-from-days).
pub fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}{m:02}{d:02}")
}

/// (year, month, day) of a day counted from 1970-01-01 (Howard Hinnant's
/// civil-from-days).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The day counted from 1970-01-01 of a (year, month, day): the inverse of
/// [`civil_from_days`] (Howard Hinnant's days-from-civil).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the Unix epoch of `YYYY-MM-DD` (the start of that day,
/// UTC) or of `YYYY-MM-DDTHH:MM:SSZ` (the API's format); `None` for
/// anything else, a day the month does not have included.
pub fn parse_instant(s: &str) -> Option<i64> {
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z')?)),
        None => (s, None),
    };
    let num = |t: &str, len: usize| -> Option<i64> {
        (t.len() == len && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let mut parts = date.split('-');
    let (y, m, d) = (
        num(parts.next()?, 4)?,
        num(parts.next()?, 2)?,
        num(parts.next()?, 2)?,
    );
    if parts.next().is_some() || !(1..=12).contains(&m) || d < 1 {
        return None;
    }
    let (m, d) = (m as u32, d as u32);
    let days = days_from_civil(y, m, d);
    // a day past the month's end comes back as another date
    if civil_from_days(days) != (y, m, d) {
        return None;
    }
    let seconds = match time {
        None => 0,
        Some(t) => {
            let mut hms = t.split(':');
            let (h, mi, se) = (
                num(hms.next()?, 2)?,
                num(hms.next()?, 2)?,
                num(hms.next()?, 2)?,
            );
            if hms.next().is_some() || h > 23 || mi > 59 || se > 59 {
                return None;
            }
            h * 3600 + mi * 60 + se
        }
    };
    Some(days * 86_400 + seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_from_civil_inverts_civil_from_days() {
        for days in (-800_000..800_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn instants_parse_as_the_api_writes_them() {
        assert_eq!(parse_instant("1970-01-01"), Some(0));
        assert_eq!(parse_instant("2026-11-30"), Some(1_795_996_800));
        assert_eq!(
            parse_instant("2026-11-30T01:02:03Z"),
            Some(1_795_996_800 + 3723)
        );
        assert_eq!(parse_instant("2024-02-29"), Some(1_709_164_800));
        for bad in [
            "",
            "2026",
            "2026-11",
            "2026-13-01",
            "2026-02-29",
            "2026-11-31",
            "2026-11-30T",
            "2026-11-30T24:00:00Z",
            "2026-11-30T01:02:03",
            "26-11-30",
            "2026-1-30",
            "2026-11-30 01:02:03Z",
            "+026-11-30",
            "2026-11-30T01:02:03Z ",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad:?}");
        }
    }
}
