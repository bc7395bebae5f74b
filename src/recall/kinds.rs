//! Light weighting of facts by kind: standing facts about the user count
//! a little more than the rest (`[recall]` `fact_weight_*`).

use crate::config::RecallConfig;
use crate::store::FactKind;

/// Multipliers of a fact's fused score, by kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KindWeights {
    by_kind: [f64; 6],
    /// Lift of a fact holding the slot the question asks about.
    pub slot_boost: f64,
}

impl KindWeights {
    pub fn from_config(cfg: &RecallConfig) -> Self {
        let mut by_kind = [1.0; 6];
        for (i, kind) in FactKind::ALL.iter().enumerate() {
            by_kind[i] = match kind {
                FactKind::UserProfile => cfg.fact_weight_user_profile,
                FactKind::Preference => cfg.fact_weight_preference,
                FactKind::Env => cfg.fact_weight_env,
                FactKind::Project => cfg.fact_weight_project,
                FactKind::Event => cfg.fact_weight_event,
                FactKind::Other => cfg.fact_weight_other,
            };
        }
        Self {
            by_kind,
            slot_boost: cfg.fact_slot_boost,
        }
    }

    pub fn weight(&self, kind: FactKind) -> f64 {
        let i = FactKind::ALL.iter().position(|k| *k == kind).unwrap_or(5);
        self.by_kind[i]
    }
}

impl Default for KindWeights {
    fn default() -> Self {
        Self::from_config(&RecallConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_favour_the_user_then_preferences_then_the_environment() {
        let w = KindWeights::default();
        assert_eq!(w.weight(FactKind::UserProfile), 1.3);
        assert_eq!(w.weight(FactKind::Preference), 1.2);
        assert_eq!(w.weight(FactKind::Env), 1.1);
        for k in [FactKind::Project, FactKind::Event, FactKind::Other] {
            assert_eq!(w.weight(k), 1.0, "{k:?}");
        }
    }

    #[test]
    fn weights_follow_the_configuration() {
        let cfg = RecallConfig {
            fact_weight_event: 2.0,
            fact_weight_user_profile: 0.5,
            ..RecallConfig::default()
        };
        let w = KindWeights::from_config(&cfg);
        assert_eq!(w.weight(FactKind::Event), 2.0);
        assert_eq!(w.weight(FactKind::UserProfile), 0.5);
        assert_eq!(w.weight(FactKind::Preference), 1.2);
    }
}
