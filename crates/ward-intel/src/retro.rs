//! Retro-hunt: when new indicators are published, search the recent past (30 days by
//! default) of stored events for them. The store streams its events in; hits before
//! the publication time are marked "seen before publication".

use crate::index::{Hit, IndicatorIndex};
use crate::observable::Observable;

/// Default look-back.
pub const DEFAULT_WINDOW_SECS: i64 = 30 * 86_400;

/// One stored event, as the store hands it over.
#[derive(Debug, Clone, Copy)]
pub struct PastEvent<'a> {
    pub event_id: &'a str,
    pub org: &'a str,
    /// Unix seconds.
    pub time: i64,
    pub observables: &'a [Observable],
}

/// A retro-hunt match.
#[derive(Debug, Clone, PartialEq)]
pub struct RetroHit {
    pub event_id: String,
    pub org: String,
    pub event_time: i64,
    pub observable: Observable,
    pub hit: Hit,
    /// The event happened before the indicator was published: an incident that was
    /// already under way.
    pub seen_before_publication: bool,
}

/// Checks events within `window_secs` before `published_at` (and up to it) against the
/// newly published indicators in `new`. Events outside the window are skipped, so the
/// store may stream a superset.
pub fn retro_hunt<'a>(
    new: &IndicatorIndex,
    published_at: i64,
    window_secs: i64,
    events: impl IntoIterator<Item = PastEvent<'a>>,
) -> Vec<RetroHit> {
    let from = published_at.saturating_sub(window_secs);
    let mut out = Vec::new();
    for ev in events {
        if ev.time < from || ev.time > published_at {
            continue;
        }
        for o in ev.observables {
            // Validity is judged at publication: the indicator's valid_from is usually the
            // publication time, after the events we are looking back at.
            if let Some(hit) = new.check(o, published_at) {
                out.push(RetroHit {
                    event_id: ev.event_id.to_string(),
                    org: ev.org.to_string(),
                    event_time: ev.time,
                    observable: o.clone(),
                    hit,
                    seen_before_publication: ev.time < published_at,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{IndexEntry, IndicatorMeta};

    #[test]
    fn finds_past_sightings_within_window() {
        let published = 1_780_000_000;
        let ix = IndicatorIndex::build([IndexEntry {
            observable: Observable::domain("iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea.com")
                .unwrap(),
            meta: IndicatorMeta::new(uuid::Uuid::from_u128(7), published),
        }]);
        let dns =
            [Observable::domain("www.iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea.com").unwrap()];
        let other = [Observable::domain("nhs.uk").unwrap()];
        let events = [
            PastEvent {
                event_id: "e1",
                org: "RXA",
                time: published - 3 * 86_400,
                observables: &dns,
            },
            PastEvent {
                event_id: "e2",
                org: "RXB",
                time: published - 40 * 86_400,
                observables: &dns,
            },
            PastEvent {
                event_id: "e3",
                org: "RXC",
                time: published - 60,
                observables: &other,
            },
            PastEvent {
                event_id: "e4",
                org: "RXD",
                time: published,
                observables: &dns,
            },
        ];
        let hits = retro_hunt(&ix, published, DEFAULT_WINDOW_SECS, events);
        let ids: Vec<(&str, bool)> = hits
            .iter()
            .map(|h| (h.event_id.as_str(), h.seen_before_publication))
            .collect();
        assert_eq!(ids, [("e1", true), ("e4", false)]);
        assert_eq!(hits[0].hit.meta.indicator.as_u128(), 7);
    }
}
