//! RFC 5322 dates (section 3.3), the form of Segment's `X-RateLimit-Reset`:
//! `Wed, 20 Sep 2023 10:00:07 GMT` or `… +0000`, the day name optional,
//! seconds optional, any numeric zone or the obsolete names (`GMT`, `UT`,
//! `Z`, `EST`…). Hand-written: HTTP-date parsers accept `GMT` only.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// The time `text` names, or `None` when it is not an RFC 5322 date.
pub(crate) fn parse(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    // The day name is optional and says nothing the date does not.
    let text = match text.split_once(',') {
        Some((day, rest)) if day.trim().chars().all(|c| c.is_ascii_alphabetic()) => rest,
        Some(_) => return None,
        None => text,
    };
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [day, month, year, time, zone] = fields.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? as u32 + 1;
    let year: i64 = match (year.len(), year.parse::<i64>().ok()?) {
        // Obsolete two- and three-digit years (RFC 5322 section 4.3).
        (2, y) if y < 50 => 2000 + y,
        (2 | 3, y) => 1900 + y,
        (4.., y) => y,
        _ => return None,
    };
    let mut clock = time.split(':');
    let hour: i64 = clock.next()?.parse().ok().filter(|h| *h < 24)?;
    let minute: i64 = clock.next()?.parse().ok().filter(|m| *m < 60)?;
    let second: i64 = match clock.next() {
        Some(second) => second.parse().ok().filter(|s| *s <= 60)?,
        None => 0,
    };
    if clock.next().is_some() {
        return None;
    }
    let offset = zone_minutes(zone)?;
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset * 60;
    let seconds = u64::try_from(seconds).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// The zone's offset from UTC in minutes.
fn zone_minutes(zone: &str) -> Option<i64> {
    if let Some(sign) = zone.strip_prefix(['+', '-']) {
        if sign.len() != 4 || !sign.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let hours: i64 = sign[..2].parse().ok()?;
        let minutes: i64 = sign[2..].parse().ok()?;
        let offset = hours * 60 + minutes;
        return Some(if zone.starts_with('-') {
            -offset
        } else {
            offset
        });
    }
    let hours = match zone.to_ascii_uppercase().as_str() {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        _ => return None,
    };
    Some(hours * 60)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> SystemTime {
        humantime::parse_rfc3339(rfc3339).unwrap()
    }

    #[test]
    fn segment_reset_headers_parse_in_every_zone_spelling() {
        let expected = at("2023-09-20T10:00:07Z");
        for text in [
            "Wed, 20 Sep 2023 10:00:07 GMT",
            "Wed, 20 Sep 2023 10:00:07 +0000",
            "Wed, 20 Sep 2023 10:00:07 -0000",
            "20 Sep 2023 10:00:07 UT",
            "  wed,  20 sep 2023 10:00:07 Z ",
            "Wed, 20 Sep 2023 12:00:07 +0200",
            "Wed, 20 Sep 2023 03:00:07 PDT",
            "Wed, 20 Sep 2023 04:30:07 -0530",
            "Wed, 20 Sep 23 10:00:07 GMT",
        ] {
            assert_eq!(parse(text), Some(expected), "{text}");
        }
        assert_eq!(
            parse("Thu, 1 Jan 1970 00:00 GMT"),
            Some(UNIX_EPOCH),
            "seconds are optional"
        );
        assert_eq!(
            parse("Tue, 29 Feb 2028 23:59:59 GMT"),
            Some(at("2028-02-29T23:59:59Z"))
        );
    }

    #[test]
    fn what_is_not_a_date_is_none() {
        for text in [
            "",
            "1695204007",
            "57647",
            "2023-09-20T10:00:07Z",
            "Wed, 20 Sep 2023 10:00:07",
            "Wed, 20 Foo 2023 10:00:07 GMT",
            "Wed, 32 Sep 2023 10:00:07 GMT",
            "Wed, 20 Sep 2023 25:00:07 GMT",
            "Wed, 20 Sep 2023 10:00:07 +00",
            "Wed, 20 Sep 2023 10:00:07 CET",
            "1, 20 Sep 2023 10:00:07 GMT",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }
}
