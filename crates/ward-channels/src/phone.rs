//! UK mobile number validation and normalisation to E.164 (`+447xxxxxxxxx`).
//!
//! Accepts the forms people actually type: `07700 900123`, `+44 (0)7700-900123`,
//! `0044 7700 900123`, `447700900123`. The checks and messages follow GOV.UK Notify's own
//! (`Must not contain letters or symbols`, `Not a UK mobile number`, `Too many digits`,
//! `Not enough digits`), so a number ward accepts is one Notify accepts.

/// Why a phone number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("PH001 phone number is empty")]
    Empty,
    #[error("PH002 Must not contain letters or symbols (found {found:?} at offset {offset})")]
    LettersOrSymbols { found: char, offset: usize },
    #[error("PH003 Not a UK mobile number")]
    NotUkMobile,
    #[error("PH004 Too many digits")]
    TooManyDigits,
    #[error("PH005 Not enough digits")]
    NotEnoughDigits,
}

impl PhoneError {
    /// The message Notify itself uses for this fault.
    pub fn notify_message(&self) -> &'static str {
        match self {
            PhoneError::Empty | PhoneError::NotEnoughDigits => "Not enough digits",
            PhoneError::LettersOrSymbols { .. } => "Must not contain letters or symbols",
            PhoneError::NotUkMobile => "Not a UK mobile number",
            PhoneError::TooManyDigits => "Too many digits",
        }
    }
}

/// Validates a UK mobile number and returns it in E.164 form, `+447…` (13 characters).
///
/// ```
/// use ward_channels::phone::normalise_uk_mobile;
/// assert_eq!(normalise_uk_mobile("07700 900123").unwrap(), "+447700900123");
/// assert_eq!(normalise_uk_mobile("+44 (0)7700-900123").unwrap(), "+447700900123");
/// assert!(normalise_uk_mobile("020 7946 0000").is_err()); // a landline cannot take SMS
/// ```
pub fn normalise_uk_mobile(input: &str) -> Result<String, PhoneError> {
    let mut digits = String::with_capacity(input.len());
    for (offset, c) in input.char_indices() {
        match c {
            '0'..='9' => digits.push(c),
            // Separators people type; '+' only counts as an international prefix marker.
            ' ' | '\t' | '-' | '(' | ')' | '.' | '+' | '\u{a0}' => {}
            found => return Err(PhoneError::LettersOrSymbols { found, offset }),
        }
    }
    if digits.is_empty() {
        return Err(PhoneError::Empty);
    }
    // Strip the international prefix (00 44 or 44), then a trunk zero, which also handles
    // the "+44 (0)7700" form.
    let mut national: &str = &digits;
    if let Some(rest) = national.strip_prefix("0044") {
        national = rest;
    } else if let Some(rest) = national.strip_prefix("44") {
        national = rest;
    }
    let national = national.strip_prefix('0').unwrap_or(national);
    if !national.starts_with('7') {
        return Err(PhoneError::NotUkMobile);
    }
    match national.len() {
        10 => Ok(format!("+44{national}")),
        n if n > 10 => Err(PhoneError::TooManyDigits),
        _ => Err(PhoneError::NotEnoughDigits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_forms() {
        for s in [
            "07700900123",
            "07700 900 123",
            "+447700900123",
            "447700900123",
            "0044 7700 900123",
            "+44 (0)7700-900123",
            "(07700) 900.123",
            " 07700900123 ",
        ] {
            assert_eq!(normalise_uk_mobile(s).unwrap(), "+447700900123", "{s}");
        }
    }

    #[test]
    fn refuses_with_notify_reasons() {
        assert_eq!(normalise_uk_mobile(""), Err(PhoneError::Empty));
        assert_eq!(
            normalise_uk_mobile("0770090012x"),
            Err(PhoneError::LettersOrSymbols {
                found: 'x',
                offset: 10
            })
        );
        assert_eq!(
            normalise_uk_mobile("02079460000"),
            Err(PhoneError::NotUkMobile)
        );
        assert_eq!(
            normalise_uk_mobile("+33612345678"),
            Err(PhoneError::NotUkMobile)
        );
        assert_eq!(
            normalise_uk_mobile("077009001234"),
            Err(PhoneError::TooManyDigits)
        );
        assert_eq!(
            normalise_uk_mobile("0770090012"),
            Err(PhoneError::NotEnoughDigits)
        );
        assert_eq!(
            PhoneError::NotUkMobile.notify_message(),
            "Not a UK mobile number"
        );
    }
}
