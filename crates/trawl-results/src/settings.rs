//! The results service's settings, as the configuration file's `[results]`
//! section holds them, and the pipeline they make (hostname rules compiled
//! and checked).

use serde::{Deserialize, Serialize};

use crate::{Action, HostnameRule, HostnameRules, MAX_URL_BYTES, Pipeline, SNIPPET_CHARS};

/// What the results service does to results (docs/results.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResultsConfig {
    /// Longest snippet, in characters; longer ones are cut at a word.
    pub snippet_chars: usize,
    /// Longest result URL kept, in bytes after cleaning; results with
    /// longer ones are dropped (and counted in the engine's report).
    pub max_url_bytes: usize,
    /// Hostname rules, applied in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<HostnameRuleConfig>,
}

impl Default for ResultsConfig {
    fn default() -> Self {
        Self {
            snippet_chars: SNIPPET_CHARS,
            max_url_bytes: MAX_URL_BYTES,
            hostnames: Vec::new(),
        }
    }
}

/// One `[[results.hostnames]]` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostnameRuleConfig {
    /// Regular expression (Rust `regex` syntax) over the lower-cased host.
    #[serde(rename = "match")]
    pub pattern: String,
    /// What it does to matching hosts.
    pub action: HostnameAction,
    /// For `rewrite`: the new host; `$1`… refer to the pattern's groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// For `boost` (default 2, must be > 1) and `demote` (default 0.5,
    /// between 0 and 1): what the score is multiplied by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
}

/// What a hostname rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostnameAction {
    /// Drops the result.
    Remove,
    /// Replaces the host with `replacement`.
    Rewrite,
    /// Multiplies the score by `factor` (default 2).
    Boost,
    /// Multiplies the score by `factor` (default 0.5).
    Demote,
}

/// A hostname rule that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("results.hostnames rule {number} (`{pattern}`): {message}")]
pub struct RuleError {
    /// 1-based position of the rule.
    pub number: usize,
    /// Its pattern.
    pub pattern: String,
    /// What is wrong with it.
    pub message: String,
}

impl ResultsConfig {
    /// The pipeline these settings describe, hostname rules compiled.
    pub fn pipeline(&self) -> Result<Pipeline, RuleError> {
        let mut rules = Vec::with_capacity(self.hostnames.len());
        for (i, rule) in self.hostnames.iter().enumerate() {
            let invalid = |message: String| RuleError {
                number: i + 1,
                pattern: rule.pattern.clone(),
                message,
            };
            let pattern = regex::RegexBuilder::new(&rule.pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| invalid(format!("not a valid regular expression: {e}")))?;
            let action = match (rule.action, &rule.replacement, rule.factor) {
                (HostnameAction::Rewrite, Some(replacement), None) => {
                    Action::Rewrite(replacement.clone())
                }
                (HostnameAction::Rewrite, None, _) => {
                    return Err(invalid("`rewrite` needs a `replacement`".into()));
                }
                (HostnameAction::Remove, None, None) => Action::Remove,
                (HostnameAction::Boost, None, factor) => {
                    let factor = factor.unwrap_or(2.0);
                    if !(factor.is_finite() && factor > 1.0) {
                        return Err(invalid("a `boost` factor must be greater than 1".into()));
                    }
                    Action::Scale(factor)
                }
                (HostnameAction::Demote, None, factor) => {
                    let factor = factor.unwrap_or(0.5);
                    if !(factor > 0.0 && factor < 1.0) {
                        return Err(invalid(
                            "a `demote` factor must be between 0 and 1 (exclusive)".into(),
                        ));
                    }
                    Action::Scale(factor)
                }
                (_, Some(_), _) => {
                    return Err(invalid("only `rewrite` takes a `replacement`".into()));
                }
                (_, None, Some(_)) => {
                    return Err(invalid("only `boost` and `demote` take a `factor`".into()));
                }
            };
            rules.push(HostnameRule { pattern, action });
        }
        Ok(Pipeline::new(HostnameRules::new(rules), self.snippet_chars)
            .with_max_url_bytes(self.max_url_bytes))
    }
}
