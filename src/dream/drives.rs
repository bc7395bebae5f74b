//! The four drives: levels in 0..1 computed from the backlog, each with a
//! threshold over which it acts. Acting changes the backlog, so the level
//! relaxes on its own when the next reading is taken.

use serde::Serialize;

use super::backlog::Backlog;
use crate::config::DreamConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Drive {
    Continuity,
    Coherence,
    Curiosity,
    Stability,
}

impl Drive {
    pub const ALL: [Drive; 4] = [
        Drive::Continuity,
        Drive::Coherence,
        Drive::Curiosity,
        Drive::Stability,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Drive::Continuity => "continuity",
            Drive::Coherence => "coherence",
            Drive::Curiosity => "curiosity",
            Drive::Stability => "stability",
        }
    }

    pub fn parse(s: &str) -> Option<Drive> {
        Drive::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// One reading of the drives, with what moved each.
#[derive(Debug, Clone, Serialize)]
pub struct Levels {
    pub continuity: f64,
    pub coherence: f64,
    pub curiosity: f64,
    pub stability: f64,
    pub why: Vec<String>,
}

impl Levels {
    pub fn level(&self, d: Drive) -> f64 {
        match d {
            Drive::Continuity => self.continuity,
            Drive::Coherence => self.coherence,
            Drive::Curiosity => self.curiosity,
            Drive::Stability => self.stability,
        }
    }

    /// Drives over their thresholds (stability is a readout, never "over").
    pub fn urgent(&self, cfg: &DreamConfig) -> Vec<Drive> {
        let mut v = Vec::new();
        if self.continuity >= cfg.continuity_threshold && self.continuity > 0.0 {
            v.push(Drive::Continuity);
        }
        if self.coherence >= cfg.coherence_threshold && self.coherence > 0.0 {
            v.push(Drive::Coherence);
        }
        if self.curiosity >= cfg.curiosity_threshold && self.curiosity > 0.0 {
            v.push(Drive::Curiosity);
        }
        v
    }
}

/// 1 - 2^-x: 0 at nothing, 0.5 at one unit of pressure, towards 1 after.
fn saturate(x: f64) -> f64 {
    if x <= 0.0 { 0.0 } else { 1.0 - 0.5f64.powf(x) }
}

pub fn levels(b: &Backlog) -> Levels {
    let mut why = Vec::new();
    let unripe_dirty = b.dirty.saturating_sub(b.ripe.len());
    // A session waiting only for its facts (its gist is current) presses
    // like a ripe one; one waiting for both counts once.
    let facts_only = b.facts_due.iter().filter(|s| !b.ripe.contains(s)).count();
    let continuity = saturate(b.ripe.len() as f64 + facts_only as f64 + 0.15 * unripe_dirty as f64);
    if !b.ripe.is_empty() || unripe_dirty > 0 || facts_only > 0 {
        why.push(format!(
            "continuity: {} ripe and {} other dirty session(s), {} unsummarised turn(s), {} session(s) waiting for fact extraction",
            b.ripe.len(),
            unripe_dirty,
            b.unsummarised_total,
            b.facts_due.len()
        ));
    }
    let stale = b.eras_due.len() + usize::from(b.profile_due) + usize::from(b.narrative_due);
    let coherence = saturate(
        b.new_gists_since_coherence as f64 / 2.0
            + if stale > 0 && b.new_gists_since_coherence == 0 {
                1.0
            } else {
                0.0
            },
    );
    if b.new_gists_since_coherence > 0 || stale > 0 {
        why.push(format!(
            "coherence: {} gist(s) newer than the profile/narrative, {} era(s) due, profile due: {}, narrative due: {}",
            b.new_gists_since_coherence,
            b.eras_due.len(),
            b.profile_due,
            b.narrative_due
        ));
    }
    let curiosity = saturate(
        b.new_gists_since_reflection as f64 / 3.0
            + b.new_entities as f64 / 5.0
            + b.new_facts_since_reflection as f64 / 10.0,
    );
    if b.new_gists_since_reflection > 0 || b.new_facts_since_reflection > 0 {
        why.push(format!(
            "curiosity: {} gist(s), {} new name(s) and {} new or superseded fact(s) since the last reflection",
            b.new_gists_since_reflection, b.new_entities, b.new_facts_since_reflection
        ));
    }
    let stability = if b.turns == 0 {
        1.0
    } else {
        1.0 - b.unsummarised_total as f64 / b.turns as f64
    };
    Levels {
        continuity: round(continuity),
        coherence: round(coherence),
        curiosity: round(curiosity),
        stability: round(stability.clamp(0.0, 1.0)),
        why,
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_backlog() {
        let cfg = DreamConfig::default();
        let mut b = Backlog::default();
        let l = levels(&b);
        assert_eq!(
            (l.continuity, l.coherence, l.curiosity, l.stability),
            (0.0, 0.0, 0.0, 1.0)
        );
        assert!(l.urgent(&cfg).is_empty());
        b.turns = 100;
        b.unsummarised_total = 40;
        b.dirty = 3;
        b.ripe = vec!["a".into()];
        let l = levels(&b);
        assert_eq!(l.continuity, round(saturate(1.3)));
        assert_eq!(l.stability, 0.6);
        assert_eq!(l.urgent(&cfg), vec![Drive::Continuity]);
        // Dirty but unripe sessions alone stay under the default threshold.
        b.ripe.clear();
        assert!(levels(&b).continuity < cfg.continuity_threshold);
        // A stale profile alone is enough for coherence.
        b.profile_due = true;
        assert!(levels(&b).coherence >= cfg.coherence_threshold);
        b.new_gists_since_reflection = 3;
        assert_eq!(levels(&b).curiosity, 0.5);
    }
}
