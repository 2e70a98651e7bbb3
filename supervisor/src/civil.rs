//! Civil time for the clock-set log lines: [`utc_string`] turns seconds since the epoch into an RFC 3339 UTC
//! string (no calendar crate needed), [`utc_now_string`] does it for now.

/// `2012-04-19T22:00:00.000000000Z` from seconds since the epoch (proleptic Gregorian calendar, UTC).
pub fn utc_string(sec: i64, nsec: i64) -> String {
    let (days, secs) = (sec.div_euclid(86_400), sec.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nsec:09}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Howard Hinnant's `civil_from_days`: (year, month, day) of a day count since 1970-01-01. Wide arithmetic, so
/// that any `i64` second count works.
fn civil_from_days(days: i64) -> (i128, i128, i128) {
    let z = i128::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i128::from(month <= 2), month, day)
}

/// The current time to the second, e.g. `2026-11-23T08:00:00Z`, for comments and logs.
pub fn utc_now_string() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    utc_string(now.as_secs() as i64, 0).replace(".000000000", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_strings_are_civil_dates() {
        let table = [
            (0, 0, "1970-01-01T00:00:00.000000000Z"),
            (1_334_872_800, 5, "2012-04-19T22:00:00.000000005Z"),
            (951_782_400, 0, "2000-02-29T00:00:00.000000000Z"),
            (-1, 0, "1969-12-31T23:59:59.000000000Z"),
            (4_102_444_799, 0, "2099-12-31T23:59:59.000000000Z"),
            (253_402_300_800, 0, "10000-01-01T00:00:00.000000000Z"),
        ];
        for (sec, nsec, want) in table {
            assert_eq!(utc_string(sec, nsec), want);
        }
        // No overflow at the extremes.
        assert!(utc_string(i64::MAX, 0).ends_with('Z'));
        assert!(utc_string(i64::MIN, 0).ends_with('Z'));
        let now = utc_now_string();
        assert!(now.len() == 20 && now.ends_with('Z') && &now[10..11] == "T", "{now}");
    }
}
