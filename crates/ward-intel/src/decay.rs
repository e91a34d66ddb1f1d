//! MISP's polynomial decay model: an indicator's score falls from its base score to
//! zero over its lifetime, `score(t) = base × (1 − (t / lifetime)^(1 / decay_speed))`,
//! and an indicator whose score drops below the threshold stops matching.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::observable::ObservableKind;

/// Decay parameters for one indicator type (MISP "Polynomial" model).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecayParams {
    /// τ: days until the score reaches 0.
    pub lifetime_days: f64,
    /// δ: > 1 decays fast at first, < 1 slowly at first, 1 linearly.
    pub decay_speed: f64,
    /// Below this score (0–100) the indicator is treated as expired.
    pub threshold: f64,
}

impl DecayParams {
    /// The score `age_days` after the indicator was last confirmed (created or sighted),
    /// starting from `base` (0–100).
    pub fn score(&self, base: f64, age_days: f64) -> f64 {
        if age_days <= 0.0 {
            return base;
        }
        if self.lifetime_days <= 0.0 || age_days >= self.lifetime_days {
            return 0.0;
        }
        let speed = if self.decay_speed > 0.0 {
            self.decay_speed
        } else {
            1.0
        };
        let s = base * (1.0 - (age_days / self.lifetime_days).powf(1.0 / speed));
        s.clamp(0.0, 100.0)
    }

    /// Days until the score falls below the threshold (the indicator's effective
    /// `valid_until` if it had none).
    pub fn days_until_expired(&self, base: f64) -> f64 {
        if base <= self.threshold {
            return 0.0;
        }
        let speed = if self.decay_speed > 0.0 {
            self.decay_speed
        } else {
            1.0
        };
        // Solve base × (1 − (t/τ)^(1/δ)) = threshold for t.
        self.lifetime_days * (1.0 - self.threshold / base).powf(speed)
    }
}

/// Per-type decay configuration. Defaults follow MISP's shipped model spirit: addresses
/// churn fast, domains and URLs slower, file hashes never really stop being bad.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecayConfig {
    pub default: DecayParams,
    #[serde(default)]
    pub per_kind: HashMap<ObservableKind, DecayParams>,
}

impl Default for DecayConfig {
    fn default() -> Self {
        let mut per_kind = HashMap::new();
        let ip = DecayParams {
            lifetime_days: 30.0,
            decay_speed: 2.0,
            threshold: 20.0,
        };
        per_kind.insert(ObservableKind::Ipv4, ip);
        per_kind.insert(ObservableKind::Ipv6, ip);
        let dom = DecayParams {
            lifetime_days: 180.0,
            decay_speed: 1.5,
            threshold: 20.0,
        };
        per_kind.insert(ObservableKind::Domain, dom);
        per_kind.insert(
            ObservableKind::Url,
            DecayParams {
                lifetime_days: 90.0,
                ..dom
            },
        );
        per_kind.insert(
            ObservableKind::Email,
            DecayParams {
                lifetime_days: 180.0,
                ..dom
            },
        );
        let hash = DecayParams {
            lifetime_days: 3650.0,
            decay_speed: 0.3,
            threshold: 10.0,
        };
        per_kind.insert(ObservableKind::Md5, hash);
        per_kind.insert(ObservableKind::Sha1, hash);
        per_kind.insert(ObservableKind::Sha256, hash);
        DecayConfig {
            default: DecayParams {
                lifetime_days: 90.0,
                decay_speed: 1.0,
                threshold: 20.0,
            },
            per_kind,
        }
    }
}

impl DecayConfig {
    /// Parameters for a kind.
    pub fn params(&self, kind: ObservableKind) -> DecayParams {
        self.per_kind.get(&kind).copied().unwrap_or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomial_decay_matches_misp_formula() {
        let p = DecayParams {
            lifetime_days: 30.0,
            decay_speed: 2.0,
            threshold: 20.0,
        };
        assert_eq!(p.score(80.0, 0.0), 80.0);
        // 80 × (1 − (7.5/30)^(1/2)) = 80 × 0.5 = 40
        assert!((p.score(80.0, 7.5) - 40.0).abs() < 1e-9);
        assert_eq!(p.score(80.0, 30.0), 0.0);
        let t = p.days_until_expired(80.0);
        assert!((p.score(80.0, t) - 20.0).abs() < 1e-6, "{t}");
        // Linear with speed 1.
        let lin = DecayParams {
            lifetime_days: 10.0,
            decay_speed: 1.0,
            threshold: 0.0,
        };
        assert!((lin.score(100.0, 5.0) - 50.0).abs() < 1e-9);
        let cfg = DecayConfig::default();
        assert!(
            cfg.params(ObservableKind::Sha256).lifetime_days
                > cfg.params(ObservableKind::Ipv4).lifetime_days
        );
        let json = serde_json::to_string(&cfg).unwrap();
        let back: DecayConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cfg);
    }
}
