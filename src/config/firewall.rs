//! `[firewall]`: what the write firewall does with each threat class it
//! finds in a text that may later reach a prompt (exchanges, facts,
//! concepts, chunks). `config/memd.toml` gives the reasoning per default.

use serde::{Deserialize, Serialize};

use super::check::{Check, between, first};

/// What happens to a write whose text carries a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FirewallAction {
    /// Not looked at.
    Off,
    /// Stored and usable; the answer says `flagged: true`.
    Flag,
    /// Stored, kept out of recall and context packs until released.
    Quarantine,
    /// Refused with 422 `firewall_rejected`; nothing stored.
    Reject,
}

impl FirewallAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FirewallAction::Off => "off",
            FirewallAction::Flag => "flag",
            FirewallAction::Quarantine => "quarantine",
            FirewallAction::Reject => "reject",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FirewallConfig {
    /// False: no text is scanned (every class is `off`).
    pub enabled: bool,
    /// Texts longer than this (bytes) are `oversized`; the scan reads only
    /// this much of them.
    pub oversized_bytes: usize,
    pub instruction_override: FirewallAction,
    pub role_play: FirewallAction,
    pub exfiltration: FirewallAction,
    pub delimiter_injection: FirewallAction,
    pub encoding_obfuscation: FirewallAction,
    pub invisible_chars: FirewallAction,
    pub mixed_script: FirewallAction,
    pub harmful_request: FirewallAction,
    pub oversized: FirewallAction,
}

impl Default for FirewallConfig {
    fn default() -> Self {
        use FirewallAction::{Flag, Quarantine, Reject};
        Self {
            enabled: true,
            // api.max_content_bytes' default: a client's turn meets one limit.
            oversized_bytes: 256 * 1024,
            instruction_override: Quarantine,
            role_play: Quarantine,
            exfiltration: Quarantine,
            delimiter_injection: Quarantine,
            encoding_obfuscation: Quarantine,
            invisible_chars: Quarantine,
            mixed_script: Flag,
            harmful_request: Flag,
            oversized: Reject,
        }
    }
}

impl FirewallConfig {
    /// The action for a class by its name (the scanner's `as_str`);
    /// `off` for every class when the firewall is disabled, and for a name
    /// this build does not know.
    pub fn action(&self, class: &str) -> FirewallAction {
        if !self.enabled {
            return FirewallAction::Off;
        }
        match class {
            "instruction_override" => self.instruction_override,
            "role_play" => self.role_play,
            "exfiltration" => self.exfiltration,
            "delimiter_injection" => self.delimiter_injection,
            "encoding_obfuscation" => self.encoding_obfuscation,
            "invisible_chars" => self.invisible_chars,
            "mixed_script" => self.mixed_script,
            "harmful_request" => self.harmful_request,
            "oversized" => self.oversized,
            _ => FirewallAction::Off,
        }
    }

    pub(super) fn validate(&self) -> Check {
        first([between(
            "firewall.oversized_bytes",
            self.oversized_bytes,
            1024,
            64 * 1024 * 1024,
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_turns_every_class_off() {
        let mut c = FirewallConfig::default();
        assert_eq!(c.action("oversized"), FirewallAction::Reject);
        assert_eq!(c.action("mixed_script"), FirewallAction::Flag);
        assert_eq!(c.action("no_such_class"), FirewallAction::Off);
        c.enabled = false;
        assert_eq!(c.action("instruction_override"), FirewallAction::Off);
    }

    #[test]
    fn limits_are_checked() {
        let c = FirewallConfig {
            oversized_bytes: 10,
            ..FirewallConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().key, "firewall.oversized_bytes");
    }
}
