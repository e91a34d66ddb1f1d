//! Timestamps: nanoseconds since the Unix epoch, UTC, with the small calendar
//! arithmetic the parsers need (no time-zone database: log formats carry
//! numeric offsets or nothing).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, nanoseconds since 1970-01-01T00:00:00Z.
///
/// Serialised as RFC 3339 in UTC (`2024-05-01T10:00:00.123Z`), with as many
/// fractional digits as the value needs (0, 3, 6 or 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// Why a timestamp did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp at byte {offset}: {what}")]
pub struct TimeError {
    /// Byte offset in the timestamp text where parsing failed.
    pub offset: usize,
    /// What was expected there.
    pub what: &'static str,
}

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a count of days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Month number (1-12) of an English three-letter month abbreviation.
pub fn month_from_abbrev(m: &[u8]) -> Option<u32> {
    let m = [
        m.first()?.to_ascii_lowercase(),
        m.get(1)?.to_ascii_lowercase(),
        m.get(2)?.to_ascii_lowercase(),
    ];
    Some(match &m {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

/// A tiny cursor over ASCII digits used by the timestamp parsers.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn err(&self, what: &'static str) -> TimeError {
        TimeError {
            offset: self.i,
            what,
        }
    }
    fn digits(&mut self, n: usize, what: &'static str) -> Result<u32, TimeError> {
        let mut v = 0u32;
        for _ in 0..n {
            match self.b.get(self.i) {
                Some(c) if c.is_ascii_digit() => {
                    v = v * 10 + u32::from(c - b'0');
                    self.i += 1;
                }
                _ => return Err(self.err(what)),
            }
        }
        Ok(v)
    }
    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), TimeError> {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    /// Optional `.fraction`, returned as nanoseconds (extra digits truncated).
    fn fraction(&mut self) -> Result<i64, TimeError> {
        if !matches!(self.peek(), Some(b'.') | Some(b',')) {
            return Ok(0);
        }
        self.i += 1;
        let start = self.i;
        let mut nanos = 0i64;
        let mut n = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            if n < 9 {
                nanos = nanos * 10 + i64::from(c - b'0');
                n += 1;
            }
            self.i += 1;
        }
        if self.i == start {
            return Err(self.err("digits after the decimal point"));
        }
        for _ in n..9 {
            nanos *= 10;
        }
        Ok(nanos)
    }
    /// Optional numeric offset `Z`, `+hh:mm`, `+hhmm` or `+hh`; seconds east of UTC.
    fn offset(&mut self, required: bool) -> Result<i64, TimeError> {
        match self.peek() {
            Some(b'Z') | Some(b'z') => {
                self.i += 1;
                Ok(0)
            }
            Some(sign @ (b'+' | b'-')) => {
                self.i += 1;
                let h = self.digits(2, "two-digit offset hours")?;
                if self.peek() == Some(b':') {
                    self.i += 1;
                }
                let m = if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.digits(2, "two-digit offset minutes")?
                } else {
                    0
                };
                if h > 23 || m > 59 {
                    return Err(self.err("offset within ±23:59"));
                }
                let secs = i64::from(h * 3600 + m * 60);
                Ok(if sign == b'-' { -secs } else { secs })
            }
            _ if required => Err(self.err("time-zone offset (Z or ±hh:mm)")),
            _ => Ok(0),
        }
    }
}

impl Timestamp {
    /// Build from calendar fields in UTC; `None` if any field is out of range.
    pub fn from_ymd_hms(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        min: u32,
        sec: u32,
        nanos: i64,
    ) -> Option<Timestamp> {
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || min > 59
            || sec > 60
            || !(0..NANOS_PER_SEC).contains(&nanos)
        {
            return None;
        }
        // A leap second is folded into the next second rather than rejected:
        // a real device sent it, the event must not be lost.
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec);
        secs.checked_mul(NANOS_PER_SEC)?
            .checked_add(nanos)
            .map(Timestamp)
    }

    /// From seconds (possibly fractional) since the epoch, as Zeek writes `ts`.
    pub fn from_epoch_secs_f64(secs: f64) -> Option<Timestamp> {
        if !secs.is_finite() || secs.abs() > 9.0e9 {
            return None;
        }
        Some(Timestamp((secs * 1e9).round() as i64))
    }

    /// From decimal seconds text such as `1494589400.110221` (Zeek `ts`,
    /// auditd `audit(…)`), exactly: no float rounding.
    pub fn from_epoch_decimal(s: &str) -> Option<Timestamp> {
        let s = s.trim();
        let (neg, s) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let secs: i64 = whole.parse().ok()?;
        let mut nanos: i64 = 0;
        for (i, b) in frac.bytes().take(9).enumerate() {
            nanos += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
        }
        let t = secs.checked_mul(NANOS_PER_SEC)?.checked_add(nanos)?;
        Some(Timestamp(if neg { -t } else { t }))
    }

    /// From whole seconds since the epoch.
    pub fn from_epoch_secs(secs: i64) -> Option<Timestamp> {
        secs.checked_mul(NANOS_PER_SEC).map(Timestamp)
    }

    /// From milliseconds since the epoch (CEF `rt`, LEEF `devTime` in ms).
    pub fn from_epoch_millis(ms: i64) -> Option<Timestamp> {
        ms.checked_mul(1_000_000).map(Timestamp)
    }

    /// Whole seconds since the epoch.
    pub fn epoch_secs(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SEC)
    }

    /// Parse RFC 3339 / ISO 8601 with a `T` or space separator, optional
    /// fraction, and an offset (`Z`, `+01:00`, `+0100`). A missing offset is
    /// read as UTC only when `offset_required` is false.
    pub fn parse_iso8601(s: &str, offset_required: bool) -> Result<Timestamp, TimeError> {
        let (t, used) = Self::parse_iso8601_prefix(s.as_bytes(), offset_required)?;
        if used != s.len() {
            return Err(TimeError {
                offset: used,
                what: "end of timestamp",
            });
        }
        Ok(t)
    }

    /// Like [`Timestamp::parse_iso8601`] but parses a prefix and returns the
    /// number of bytes used.
    pub fn parse_iso8601_prefix(
        b: &[u8],
        offset_required: bool,
    ) -> Result<(Timestamp, usize), TimeError> {
        let mut c = Cur { b, i: 0 };
        let year = c.digits(4, "four-digit year")?;
        c.expect(b'-', "'-' after year")?;
        let month = c.digits(2, "two-digit month")?;
        c.expect(b'-', "'-' after month")?;
        let day = c.digits(2, "two-digit day")?;
        match c.peek() {
            Some(b'T') | Some(b't') | Some(b' ') => c.i += 1,
            _ => return Err(c.err("'T' between date and time")),
        }
        let hour = c.digits(2, "two-digit hour")?;
        c.expect(b':', "':' after hour")?;
        let min = c.digits(2, "two-digit minute")?;
        c.expect(b':', "':' after minute")?;
        let sec = c.digits(2, "two-digit second")?;
        let nanos = c.fraction()?;
        let off = c.offset(offset_required)?;
        let t = Timestamp::from_ymd_hms(i64::from(year), month, day, hour, min, sec, nanos).ok_or(
            TimeError {
                offset: 0,
                what: "a real calendar date and time",
            },
        )?;
        Ok((Timestamp(t.0 - off * NANOS_PER_SEC), c.i))
    }

    /// Parse the Common Log Format time `10/Oct/2000:13:55:36 -0700`.
    pub fn parse_clf(s: &str) -> Result<Timestamp, TimeError> {
        let b = s.as_bytes();
        let mut c = Cur { b, i: 0 };
        let day = c.digits(2, "two-digit day")?;
        c.expect(b'/', "'/' after day")?;
        let month = b
            .get(3..6)
            .and_then(month_from_abbrev)
            .ok_or(c.err("month abbreviation"))?;
        c.i = 6;
        c.expect(b'/', "'/' after month")?;
        let year = c.digits(4, "four-digit year")?;
        c.expect(b':', "':' after year")?;
        let hour = c.digits(2, "two-digit hour")?;
        c.expect(b':', "':' after hour")?;
        let min = c.digits(2, "two-digit minute")?;
        c.expect(b':', "':' after minute")?;
        let sec = c.digits(2, "two-digit second")?;
        let nanos = c.fraction()?;
        let off = if c.peek() == Some(b' ') {
            c.i += 1;
            c.offset(true)?
        } else {
            0
        };
        if c.i != b.len() {
            return Err(c.err("end of timestamp"));
        }
        let t = Timestamp::from_ymd_hms(i64::from(year), month, day, hour, min, sec, nanos).ok_or(
            TimeError {
                offset: 0,
                what: "a real calendar date and time",
            },
        )?;
        Ok(Timestamp(t.0 - off * NANOS_PER_SEC))
    }

    /// Parse the BSD syslog time `Oct  3 12:00:01` (RFC 3164: no year, no
    /// zone). The year is the one that puts the time nearest before
    /// `reference` (a message stamped Dec 31 received on Jan 1 is last year's).
    /// Returns the timestamp and bytes used (always 15).
    pub fn parse_bsd(b: &[u8], reference: Timestamp) -> Result<(Timestamp, usize), TimeError> {
        let mut c = Cur { b, i: 0 };
        let month = b
            .get(0..3)
            .and_then(month_from_abbrev)
            .ok_or(c.err("month abbreviation"))?;
        c.i = 3;
        c.expect(b' ', "space after month")?;
        if c.peek() == Some(b' ') {
            c.i += 1;
        }
        let day = if c.b.get(c.i + 1).is_some_and(u8::is_ascii_digit) {
            c.digits(2, "day")?
        } else {
            c.digits(1, "day")?
        };
        c.expect(b' ', "space after day")?;
        let hour = c.digits(2, "two-digit hour")?;
        c.expect(b':', "':' after hour")?;
        let min = c.digits(2, "two-digit minute")?;
        c.expect(b':', "':' after minute")?;
        let sec = c.digits(2, "two-digit second")?;
        let nanos = c.fraction()?;
        let (ref_year, _, _) = civil_from_days(reference.0.div_euclid(NANOS_PER_SEC * 86_400));
        let bad = TimeError {
            offset: 0,
            what: "a real calendar date and time",
        };
        let mut t = Timestamp::from_ymd_hms(ref_year, month, day, hour, min, sec, nanos);
        // More than a day in the future means it was stamped last year.
        if t.is_none_or(|t| t.0 > reference.0 + 86_400 * NANOS_PER_SEC) {
            t = Timestamp::from_ymd_hms(ref_year - 1, month, day, hour, min, sec, nanos);
        }
        Ok((t.ok_or(bad)?, c.i))
    }

    /// The current time from the system clock.
    pub fn now() -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_nanos().min(i64::MAX as u128) as i64)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let nanos = self.0.rem_euclid(NANOS_PER_SEC);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )?;
        if nanos == 0 {
        } else if nanos % 1_000_000 == 0 {
            write!(f, ".{:03}", nanos / 1_000_000)?;
        } else if nanos % 1000 == 0 {
            write!(f, ".{:06}", nanos / 1000)?;
        } else {
            write!(f, ".{nanos:09}")?;
        }
        f.write_str("Z")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Timestamp::parse_iso8601(&s, true).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let t = Timestamp::parse_iso8601("2003-10-11T22:14:15.003Z", true).unwrap();
        assert_eq!(t.to_string(), "2003-10-11T22:14:15.003Z");
        let t = Timestamp::parse_iso8601("2003-08-24T05:14:15.000003-07:00", true).unwrap();
        assert_eq!(t.to_string(), "2003-08-24T12:14:15.000003Z");
        let t = Timestamp::parse_iso8601("2024-01-31T23:59:59.123456+0000", true).unwrap();
        assert_eq!(t.to_string(), "2024-01-31T23:59:59.123456Z");
    }

    #[test]
    fn rejects_bad_dates() {
        assert!(Timestamp::parse_iso8601("2023-02-29T00:00:00Z", true).is_err());
        let e = Timestamp::parse_iso8601("2023-02-2xT00:00:00Z", true).unwrap_err();
        assert_eq!(e.offset, 9);
        assert!(Timestamp::parse_iso8601("2023-02-20T00:00:00", true).is_err());
        assert!(Timestamp::parse_iso8601("2023-02-20T00:00:00", false).is_ok());
    }

    #[test]
    fn clf_and_bsd() {
        let t = Timestamp::parse_clf("10/Oct/2000:13:55:36 -0700").unwrap();
        assert_eq!(t.to_string(), "2000-10-10T20:55:36Z");
        let r = Timestamp::parse_iso8601("2024-01-01T00:00:10Z", true).unwrap();
        let (t, n) = Timestamp::parse_bsd(b"Dec 31 23:59:59 host", r).unwrap();
        assert_eq!(n, 15);
        assert_eq!(t.to_string(), "2023-12-31T23:59:59Z");
        let (t, _) = Timestamp::parse_bsd(b"Jan  1 00:00:05", r).unwrap();
        assert_eq!(t.to_string(), "2024-01-01T00:00:05Z");
    }

    #[test]
    fn decimal_epoch_is_exact() {
        let t = Timestamp::from_epoch_decimal("1494589400.110221").unwrap();
        assert_eq!(t.to_string(), "2017-05-12T11:43:20.110221Z");
        assert!(Timestamp::from_epoch_decimal("1.2.3").is_none());
        assert!(Timestamp::from_epoch_decimal("").is_none());
    }

    #[test]
    fn civil_round_trip() {
        for d in [-800_000i64, -1, 0, 1, 19_000, 2_932_896] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
