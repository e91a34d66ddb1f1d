//! Timestamp parts for the `minute`, `hour`, `day`, `week`, `month` and
//! `year` modifiers. Accepts RFC 3339 / ISO 8601 text
//! (`2025-11-26T05:11:27.9Z`, `2025-11-26 05:11:27.908`) and Unix epoch
//! seconds or milliseconds. Times are read as UTC (an explicit offset is
//! applied).

use crate::pattern::TimePart;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parse a timestamp into Unix milliseconds.
pub fn parse_epoch_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = s.parse().ok()?;
        // Heuristic: 13+ digits are milliseconds.
        return Some(if s.len() >= 13 { n } else { n * 1000 });
    }
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let (mut h, mut mi, mut sec, mut ms) = (0, 0, 0, 0);
    let mut rest = &s[10..];
    if rest.len() >= 6 && matches!(rest.as_bytes()[0], b'T' | b't' | b' ') {
        h = num(11..13)?;
        mi = num(14..16)?;
        rest = &s[16..];
        if rest.starts_with(':') {
            sec = num(17..19)?;
            rest = &s[19..];
            if let Some(frac) = rest.strip_prefix(['.', ',']) {
                let digits: String = frac.chars().take_while(|c| c.is_ascii_digit()).collect();
                rest = &frac[digits.len()..];
                let mut f = digits.chars().take(3).collect::<String>();
                while f.len() < 3 {
                    f.push('0');
                }
                ms = f.parse().ok()?;
            }
        }
    }
    let mut offset_min = 0i64;
    let rest = rest.trim();
    if let Some(sign) = rest.chars().next().filter(|c| *c == '+' || *c == '-') {
        let t: String = rest[1..].chars().filter(|c| c.is_ascii_digit()).collect();
        if t.len() == 4 {
            let hh: i64 = t[..2].parse().ok()?;
            let mm: i64 = t[2..].parse().ok()?;
            offset_min = (hh * 60 + mm) * if sign == '+' { 1 } else { -1 };
        }
    }
    let days = days_from_civil(y, mo, d);
    Some((((days * 24 + h) * 60 + mi - offset_min) * 60 + sec) * 1000 + ms)
}

/// Extract one part of a timestamp given as text.
pub fn extract(s: &str, part: TimePart) -> Option<i64> {
    let ms = parse_epoch_ms(s)?;
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    Some(match part {
        TimePart::Minute => (sod / 60) % 60,
        TimePart::Hour => sod / 3600,
        TimePart::Day => d,
        TimePart::Month => m,
        TimePart::Year => y,
        TimePart::Week => {
            // ISO 8601 week number.
            let weekday = (days + 3).rem_euclid(7) + 1; // Monday = 1
            let ordinal = days - days_from_civil(y, 1, 1) + 1;
            let w = (ordinal - weekday + 10) / 7;
            if w < 1 {
                iso_weeks_in_year(y - 1)
            } else if w > iso_weeks_in_year(y) {
                1
            } else {
                w
            }
        }
    })
}

fn iso_weeks_in_year(y: i64) -> i64 {
    let p = |y: i64| (y + y / 4 - y / 100 + y / 400).rem_euclid(7);
    if p(y) == 4 || p(y - 1) == 3 {
        53
    } else {
        52
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let t = "2025-11-26T05:11:27.927693Z";
        assert_eq!(extract(t, TimePart::Year), Some(2025));
        assert_eq!(extract(t, TimePart::Month), Some(11));
        assert_eq!(extract(t, TimePart::Day), Some(26));
        assert_eq!(extract(t, TimePart::Hour), Some(5));
        assert_eq!(extract(t, TimePart::Minute), Some(11));
        assert_eq!(extract(t, TimePart::Week), Some(48));
        assert_eq!(extract("2021-01-03 10:00:00", TimePart::Week), Some(53));
        assert_eq!(
            extract("2026-11-28T23:30:00+01:00", TimePart::Hour),
            Some(22)
        );
        assert_eq!(parse_epoch_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_epoch_ms("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_epoch_ms("nonsense"), None);
    }
}
