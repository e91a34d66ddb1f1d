//! Who is on call: a rota's turn at an instant, unless an override covers it.
//!
//! Turns are whole periods (a day or a week) counted from the rota's first handover, in UTC
//! milliseconds, so the answer never depends on the server's time zone; the latest override
//! covering the instant wins, so a swap made today replaces last month's.

use ward_model::escalation::{OnCall, Rota, RotaOverride};

/// Who is on call on `rota` at `at`; `None` for a rota with no members.
pub fn on_call_at(rota: &Rota, overrides: &[RotaOverride], at: i64) -> Option<OnCall> {
    if let Some(o) = overrides
        .iter()
        .filter(|o| o.rota_id == rota.id && o.starts_at <= at && at < o.ends_at)
        .max_by_key(|o| (o.created_at, o.id))
    {
        return Some(OnCall {
            rota_id: rota.id,
            contact_id: o.contact_id,
            from: o.starts_at,
            until: o.ends_at,
            override_id: Some(o.id),
        });
    }
    if rota.members.is_empty() {
        return None;
    }
    let period = rota.period.millis();
    let turn = (at - rota.starts_at).div_euclid(period);
    let idx = turn.rem_euclid(rota.members.len() as i64) as usize;
    let from = rota.starts_at + turn * period;
    Some(OnCall {
        rota_id: rota.id,
        contact_id: rota.members[idx],
        from,
        until: from + period,
        override_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_model::escalation::RotaPeriod;

    const DAY: i64 = 86_400_000;

    fn rota(period: RotaPeriod) -> Rota {
        Rota {
            id: 1,
            org_code: "RJ1".parse().unwrap(),
            name: "security".into(),
            period,
            starts_at: 10 * DAY,
            members: vec![11, 12, 13],
            created_at: 0,
        }
    }

    #[test]
    fn weekly_turns_rotate_and_wrap() {
        let r = rota(RotaPeriod::Weekly);
        let at = |d: i64| on_call_at(&r, &[], 10 * DAY + d * DAY).unwrap();
        assert_eq!(at(0).contact_id, 11);
        assert_eq!(at(6).contact_id, 11);
        assert_eq!(at(7).contact_id, 12);
        assert_eq!(at(14).contact_id, 13);
        assert_eq!(at(21).contact_id, 11, "wraps after the last member");
        assert_eq!(at(7).from, 17 * DAY);
        assert_eq!(at(7).until, 24 * DAY);
        // Before the first handover the rota runs backwards, rather than leaving no one.
        assert_eq!(at(-1).contact_id, 13);
    }

    #[test]
    fn daily_turns() {
        let r = rota(RotaPeriod::Daily);
        let who = |d: i64| {
            on_call_at(&r, &[], 10 * DAY + d * DAY + 5)
                .unwrap()
                .contact_id
        };
        assert_eq!((who(0), who(1), who(2), who(3)), (11, 12, 13, 11));
    }

    #[test]
    fn the_latest_override_covering_the_instant_wins() {
        let r = rota(RotaPeriod::Weekly);
        let o = |id: i64, contact: i64, from: i64, to: i64, created: i64| RotaOverride {
            id,
            rota_id: 1,
            contact_id: contact,
            starts_at: from,
            ends_at: to,
            reason: "swap".into(),
            created_at: created,
        };
        let overrides = [
            o(1, 12, 10 * DAY, 12 * DAY, 1),
            o(2, 13, 11 * DAY, 12 * DAY, 2),
        ];
        let who = |t: i64| on_call_at(&r, &overrides, t).unwrap();
        assert_eq!(who(10 * DAY).contact_id, 12);
        assert_eq!(who(10 * DAY).override_id, Some(1));
        assert_eq!(who(11 * DAY).contact_id, 13, "newer override");
        assert_eq!(
            who(12 * DAY).contact_id,
            11,
            "override over, back to the turn"
        );
        assert_eq!(who(12 * DAY).override_id, None);
    }
}
