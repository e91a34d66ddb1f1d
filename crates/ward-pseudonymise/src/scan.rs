//! Hand-written detectors over bytes. Each returns matches with the span and
//! a normalised form (what the token is computed from, so that `943 476 5919`
//! and `9434765919` give the same token).

use crate::Kind;

/// One identifier found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// What it is. `None` marks a configured extra pattern, named by `custom`.
    pub kind: Option<Kind>,
    /// Index of the extra pattern when `kind` is `None`.
    pub custom: usize,
    /// Normalised value the token is derived from.
    pub normalised: String,
}

#[inline]
fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// A token may start at `i` when the byte before is not part of a word (and
/// not a `.`, so `10.0.1234567890` or `v1.07700900123` are not split).
#[inline]
fn boundary_before(b: &[u8], i: usize) -> bool {
    i == 0 || !(is_word(b[i - 1]) || b[i - 1] == b'.')
}

#[inline]
fn boundary_after(b: &[u8], i: usize) -> bool {
    match b.get(i) {
        None => true,
        Some(&c) if is_word(c) => false,
        // `1234567890.5` is a number with a fraction, not an identifier end.
        Some(b'.') => !b.get(i + 1).is_some_and(u8::is_ascii_digit),
        Some(_) => true,
    }
}

/// NHS number check digit (Modulus 11): weights 10..2 over the first nine
/// digits; 11 - (sum mod 11), where 11 means 0 and 10 means invalid.
pub fn nhs_valid(d: &[u8; 10]) -> bool {
    let sum: u32 = d[..9]
        .iter()
        .enumerate()
        .map(|(i, &x)| u32::from(x) * (10 - i as u32))
        .sum();
    let check = match 11 - (sum % 11) {
        11 => 0,
        10 => return false,
        c => c,
    };
    check == u32::from(d[9])
}

/// NHS numbers: ten digits, contiguous or grouped 3-3-4 with one space or
/// hyphen, bounded by non-word characters, and valid under Modulus 11.
pub fn nhs_numbers(b: &[u8], out: &mut Vec<Match>) {
    let mut i = 0;
    while i < b.len() {
        let Some(off) = b[i..].iter().position(u8::is_ascii_digit) else {
            return;
        };
        i += off;
        let run_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let run = i - run_start;
        if !boundary_before(b, run_start) {
            continue;
        }
        let mut d = [0u8; 10];
        if run == 10 && boundary_after(b, i) {
            for (k, x) in b[run_start..i].iter().enumerate() {
                d[k] = x - b'0';
            }
            if nhs_valid(&d) {
                out.push(nhs_match(run_start, i, &d));
            }
            continue;
        }
        // 3-3-4 grouping with a single space or hyphen, the same twice.
        if run == 3 && i + 9 <= b.len() {
            let sep = b[i];
            if (sep == b' ' || sep == b'-')
                && b[i + 1..i + 4].iter().all(u8::is_ascii_digit)
                && b[i + 4] == sep
                && b[i + 5..i + 9].iter().all(u8::is_ascii_digit)
                && boundary_after(b, i + 9)
                && !b.get(i + 9).is_some_and(u8::is_ascii_digit)
            {
                let digits = b[run_start..i]
                    .iter()
                    .chain(&b[i + 1..i + 4])
                    .chain(&b[i + 5..i + 9]);
                for (k, x) in digits.enumerate() {
                    d[k] = x - b'0';
                }
                if nhs_valid(&d) {
                    out.push(nhs_match(run_start, i + 9, &d));
                    i += 9;
                }
            }
        }
    }
}

fn nhs_match(start: usize, end: usize, d: &[u8; 10]) -> Match {
    Match {
        start,
        end,
        kind: Some(Kind::Nhs),
        custom: 0,
        normalised: d.iter().map(|x| char::from(b'0' + x)).collect(),
    }
}

/// UK postcode areas (the letters before the first digit). Checking the area
/// keeps `AB12CD`-shaped fragments of other identifiers from matching.
const AREAS: &[&str] = &[
    "AB", "AL", "B", "BA", "BB", "BD", "BF", "BH", "BL", "BN", "BR", "BS", "BT", "BX", "CA", "CB",
    "CF", "CH", "CM", "CO", "CR", "CT", "CV", "CW", "DA", "DD", "DE", "DG", "DH", "DL", "DN", "DT",
    "DY", "E", "EC", "EH", "EN", "EX", "FK", "FY", "G", "GL", "GU", "GY", "HA", "HD", "HG", "HP",
    "HR", "HS", "HU", "HX", "IG", "IM", "IP", "IV", "JE", "KA", "KT", "KW", "KY", "L", "LA", "LD",
    "LE", "LL", "LN", "LS", "LU", "M", "ME", "MK", "ML", "N", "NE", "NG", "NN", "NP", "NR", "NW",
    "OL", "OX", "PA", "PE", "PH", "PL", "PO", "PR", "RG", "RH", "RM", "S", "SA", "SE", "SG", "SK",
    "SL", "SM", "SN", "SO", "SP", "SR", "SS", "ST", "SW", "SY", "TA", "TD", "TF", "TN", "TQ", "TR",
    "TS", "TW", "UB", "W", "WA", "WC", "WD", "WF", "WN", "WR", "WS", "WV", "YO", "ZE",
];

/// `AREAS` as a bitmap indexed by [`area_index`], built at compile time, so
/// the check per candidate is one load.
const AREA_MAP: [bool; 26 * 27] = {
    let mut m = [false; 26 * 27];
    let mut i = 0;
    while i < AREAS.len() {
        let a = AREAS[i].as_bytes();
        let second = if a.len() == 2 {
            (a[1] - b'A') as usize
        } else {
            26
        };
        m[(a[0] - b'A') as usize * 27 + second] = true;
        i += 1;
    }
    m
};

fn area_index(a: &[u8]) -> Option<usize> {
    let first = usize::from(a.first()?.to_ascii_uppercase().checked_sub(b'A')?);
    let second = match a.get(1) {
        Some(c) => usize::from(c.to_ascii_uppercase().checked_sub(b'A')?),
        None => 26,
    };
    (first < 26 && second <= 26).then_some(first * 27 + second)
}

fn is_area(a: &[u8]) -> bool {
    area_index(a).is_some_and(|i| AREA_MAP[i])
}

/// Letters allowed in the last two places of a postcode (not C I K M O V).
fn inward_letter(c: u8) -> bool {
    matches!(
        c.to_ascii_uppercase(),
        b'A' | b'B'
            | b'D'
            | b'E'
            | b'F'
            | b'G'
            | b'H'
            | b'J'
            | b'L'
            | b'N'
            | b'P'
            | b'Q'
            | b'R'
            | b'S'
            | b'T'
            | b'U'
            | b'W'
            | b'X'
            | b'Y'
            | b'Z'
    )
}

/// Try to read a postcode at `i`; returns its end.
fn postcode_at(b: &[u8], i: usize) -> Option<usize> {
    let mut a = i;
    while a < b.len() && a - i < 2 && b[a].is_ascii_alphabetic() {
        a += 1;
    }
    if a == i || !b.get(a).is_some_and(u8::is_ascii_digit) || !is_area(&b[i..a]) {
        return None;
    }
    // District: digit, then optionally a digit or letter. Try the longer
    // district first, then the shorter (`SW1A 1AA` vs `M1 1AE`).
    for district_len in [2usize, 1] {
        let d_end = a + district_len;
        if d_end > b.len() {
            continue;
        }
        if district_len == 2 && !b[a + 1].is_ascii_alphanumeric() {
            continue;
        }
        let (spaced, in_start) = if b.get(d_end) == Some(&b' ') {
            (true, d_end + 1)
        } else {
            (false, d_end)
        };
        let in_end = in_start + 3;
        if in_end > b.len() {
            continue;
        }
        let inward = &b[in_start..in_end];
        if !(inward[0].is_ascii_digit() && inward_letter(inward[1]) && inward_letter(inward[2])) {
            continue;
        }
        if !boundary_after(b, in_end) {
            continue;
        }
        let span = &b[i..in_end];
        let upper = span.iter().all(|c| !c.is_ascii_lowercase());
        let lower = span.iter().all(|c| !c.is_ascii_uppercase());
        // Without the space only the upper-case form counts: lower-case
        // `ab12cd` is far likelier an identifier fragment than a postcode.
        if upper || (spaced && lower) {
            return Some(in_end);
        }
    }
    None
}

/// UK postcodes, e.g. `SW1A 1AA`, `LS1 4AP`, `M11AE`.
///
/// Driven by digit runs: a postcode's first digit comes one or two letters
/// after its start, so only the bytes just before each digit run are looked
/// at (most text has few digits, and the rest is skipped quickly).
pub fn postcodes(b: &[u8], out: &mut Vec<Match>) {
    let mut i = 0;
    let mut done = 0; // bytes before this are covered by a match
    while i < b.len() {
        let Some(off) = b[i..].iter().position(u8::is_ascii_digit) else {
            return;
        };
        let d = i + off;
        let mut run_end = d;
        while run_end < b.len() && b[run_end].is_ascii_digit() {
            run_end += 1;
        }
        i = run_end;
        // District digits are at most two: a longer run is not a postcode.
        if run_end - d > 2 {
            continue;
        }
        let mut found = None;
        for back in [2usize, 1] {
            let Some(start) = d.checked_sub(back) else {
                continue;
            };
            if start < done
                || !b[start..d].iter().all(u8::is_ascii_alphabetic)
                || !boundary_before(b, start)
            {
                continue;
            }
            if let Some(end) = postcode_at(b, start) {
                found = Some((start, end));
                break;
            }
        }
        if let Some((start, end)) = found {
            let mut norm: String = b[start..end]
                .iter()
                .filter(|c| **c != b' ')
                .map(|c| char::from(c.to_ascii_uppercase()))
                .collect();
            norm.insert(norm.len() - 3, ' ');
            out.push(Match {
                start,
                end,
                kind: Some(Kind::Postcode),
                custom: 0,
                normalised: norm,
            });
            done = end;
            i = end;
        }
    }
}

fn email_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn email_domain(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-')
}

/// E-mail addresses `local@domain.tld`.
pub fn emails(b: &[u8], out: &mut Vec<Match>) {
    let mut last_end = 0;
    for at in memchr::memchr_iter(b'@', b) {
        if at < last_end {
            continue;
        }
        let mut s = at;
        while s > last_end && email_local(b[s - 1]) {
            s -= 1;
        }
        while s < at && b[s] == b'.' {
            s += 1;
        }
        let mut e = at + 1;
        while e < b.len() && email_domain(b[e]) {
            e += 1;
        }
        while e > at + 1 && matches!(b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        if s == at || e <= at + 1 {
            continue;
        }
        let domain = &b[at + 1..e];
        let Some(dot) = domain.iter().rposition(|c| *c == b'.') else {
            continue;
        };
        let tld = &domain[dot + 1..];
        if tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) {
            continue;
        }
        out.push(Match {
            start: s,
            end: e,
            kind: Some(Kind::Email),
            custom: 0,
            normalised: String::from_utf8_lossy(&b[s..e]).to_ascii_lowercase(),
        });
        last_end = e;
    }
}

/// UK phone numbers: `+44` / `0044` followed by 9–10 digits, or a national
/// number of exactly 11 digits starting `01`–`09`; single spaces, hyphens and
/// brackets may separate digit groups. Ten-digit national numbers are not
/// matched so that ten-digit order numbers (and invalid NHS numbers) stay.
pub fn phones(b: &[u8], out: &mut Vec<Match>) {
    // Driven by digit runs: a number starts at a run, or at the `+`/`(`
    // just before it.
    let mut i = 0;
    while i < b.len() {
        let Some(off) = b[i..].iter().position(u8::is_ascii_digit) else {
            return;
        };
        let d = i + off;
        let start = match d.checked_sub(1).map(|p| b[p]) {
            Some(b'+') | Some(b'(') => d - 1,
            _ => d,
        };
        let mut run_end = d;
        while run_end < b.len() && b[run_end].is_ascii_digit() {
            run_end += 1;
        }
        match phone_at(b, start) {
            Some((end, national)) => {
                out.push(Match {
                    start,
                    end,
                    kind: Some(Kind::Phone),
                    custom: 0,
                    normalised: national,
                });
                i = end;
            }
            None => i = run_end,
        }
    }
}

/// Read a phone number starting at `start`; returns its end and national form.
fn phone_at(b: &[u8], start: usize) -> Option<(usize, String)> {
    let c = b[start];
    let candidate = match c {
        b'+' => b.get(start + 1..start + 3) == Some(b"44"),
        b'(' => b.get(start + 1) == Some(&b'0'),
        b'0' => b.get(start + 1).is_some_and(|d| d.is_ascii_digit()),
        _ => false,
    };
    if !candidate || !boundary_before(b, start) {
        return None;
    }
    let mut buf = [0u8; 16];
    let mut n = 0usize;
    let mut j = start;
    let mut end = start;
    // (digits so far, end offset) at the end of each digit group: the number
    // may stop at any group, and the longest valid one wins. Judging only
    // the greedy whole would make the result depend on what follows.
    let mut group_ends: Vec<(usize, usize)> = Vec::with_capacity(6);
    if b[j] == b'+' || b[j] == b'(' {
        j += 1;
    }
    while j < b.len() && n < 16 {
        let x = b[j];
        if x.is_ascii_digit() {
            buf[n] = x;
            n += 1;
            j += 1;
            end = j;
            if b.get(j) == Some(&b')') {
                j += 1;
                end = j;
            }
        } else if matches!(x, b' ' | b'-' | b'(') && n > 0 {
            // One or two separators (`-`, ` `, ` (`) between digit groups.
            let sep = if b.get(j + 1) == Some(&b'(') { 2 } else { 1 };
            if !b.get(j + sep).is_some_and(u8::is_ascii_digit) {
                break;
            }
            group_ends.push((n, end));
            j += sep;
        } else {
            break;
        }
    }
    group_ends.push((n, end));
    group_ends
        .iter()
        .rev()
        .filter(|(_, e)| boundary_after(b, *e))
        .find_map(|&(n, e)| national_number(c, &buf[..n]).map(|v| (e, v)))
}

/// The national form of a candidate's digits, if they make a UK number.
fn national_number(first: u8, digits: &[u8]) -> Option<String> {
    let international = first == b'+' || digits.starts_with(b"0044");
    let national: Option<Vec<u8>> = if international {
        let rest: &[u8] = match (first == b'+', digits) {
            (true, d) if d.len() >= 2 => &d[2..],
            (false, d) if d.len() >= 4 => &d[4..],
            _ => return None,
        };
        // `+44 (0)20 …`: the trunk zero in brackets is not dialled.
        let rest = if rest.first() == Some(&b'0') && rest.len() == 11 {
            &rest[1..]
        } else {
            rest
        };
        (matches!(rest.len(), 9 | 10) && rest[0] != b'0').then(|| {
            let mut v = vec![b'0'];
            v.extend_from_slice(rest);
            v
        })
    } else {
        (digits.len() == 11 && digits[0] == b'0' && digits[1] != b'0').then(|| digits.to_vec())
    };
    national.map(|v| String::from_utf8_lossy(&v).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(f: fn(&[u8], &mut Vec<Match>), s: &str) -> Vec<String> {
        let mut v = Vec::new();
        f(s.as_bytes(), &mut v);
        v.into_iter()
            .map(|m| s[m.start..m.end].to_string())
            .collect()
    }

    #[test]
    fn nhs() {
        assert!(nhs_valid(&[9, 4, 3, 4, 7, 6, 5, 9, 1, 9]));
        assert!(!nhs_valid(&[9, 4, 3, 4, 7, 6, 5, 9, 1, 8]));
        assert_eq!(
            spans(
                nhs_numbers,
                "a 943 476 5919, 9434765919; 943-476-5919 x9434765919 9434765918"
            ),
            vec!["943 476 5919", "9434765919", "943-476-5919"]
        );
        assert!(spans(nhs_numbers, "94347659190 1.9434765919 943 476 59190").is_empty());
    }

    #[test]
    fn postcode() {
        assert_eq!(
            spans(postcodes, "at SW1A 1AA, LS1 4AP; M11AE ec1a 1bb. B33 8TH"),
            vec!["SW1A 1AA", "LS1 4AP", "M11AE", "ec1a 1bb", "B33 8TH"]
        );
        assert!(spans(postcodes, "QQ1 1AA AB12CDX sw1a1aa 0xAB12CD SW1A 1AC").is_empty());
    }

    #[test]
    fn email() {
        assert_eq!(
            spans(emails, "mail j.smith@nhs.net, <a@b.c> x@y.uk."),
            vec!["j.smith@nhs.net", "x@y.uk"]
        );
    }

    #[test]
    fn phone() {
        assert_eq!(
            spans(
                phones,
                "tel 07700 900123 or +44 20 7946 0958, (01632) 960001 +44 (0)113 496 0000"
            ),
            vec![
                "07700 900123",
                "+44 20 7946 0958",
                "(01632) 960001",
                "+44 (0)113 496 0000"
            ]
        );
        // Ten-digit numbers, IPs, dates, hex and time zones are not phones.
        assert!(spans(
            phones,
            "0123456789 10.0.01234567890 -0700 0x0123456789a 2024-05-01"
        )
        .is_empty());
    }
}
