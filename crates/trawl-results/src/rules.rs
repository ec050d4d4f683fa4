//! Hostname rules: what an operator says about sites, applied to every
//! result (SearXNG's `hostnames` plugin, with an order).

use regex::Regex;
use url::Url;

/// What a rule does to a result whose host matches it.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Drop the result.
    Remove,
    /// Replace the host: the pattern's match (capture groups as `$1`, …)
    /// replaced by this. A result whose new host is not a valid host keeps
    /// its old one.
    Rewrite(String),
    /// Multiply the result's score by this factor (> 1 boosts, < 1
    /// demotes).
    Scale(f64),
}

/// One rule: a regular expression over the lower-cased host name (without
/// port), and its action.
#[derive(Debug, Clone)]
pub struct HostnameRule {
    /// Which hosts it applies to.
    pub pattern: Regex,
    /// What it does to them.
    pub action: Action,
}

/// Rules in the order configured: rewrites apply in turn (each later rule
/// sees the rewritten host), then the first `remove` drops the result, and
/// every matching scale multiplies its score.
#[derive(Debug, Clone, Default)]
pub struct HostnameRules {
    rules: Vec<HostnameRule>,
}

/// What the rules decided for one URL.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    Keep { factor: f64 },
    Remove,
}

impl HostnameRules {
    /// Rules applied in order.
    pub fn new(rules: Vec<HostnameRule>) -> Self {
        Self { rules }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies the rules to `url` (rewriting its host in place).
    pub(crate) fn apply(&self, url: &mut Url) -> Verdict {
        let mut factor = 1.0;
        for rule in &self.rules {
            let Some(host) = url.host_str() else {
                break;
            };
            if !rule.pattern.is_match(host) {
                continue;
            }
            match &rule.action {
                Action::Remove => return Verdict::Remove,
                Action::Rewrite(replacement) => {
                    let new = rule
                        .pattern
                        .replace(host, replacement.as_str())
                        .into_owned();
                    let mut rewritten = url.clone();
                    if rewritten.set_host(Some(&new)).is_ok() && rewritten.host_str().is_some() {
                        *url = rewritten;
                    } else {
                        tracing::debug!(host, new, "hostname rewrite gave no valid host: skipped");
                    }
                }
                Action::Scale(by) => factor *= by,
            }
        }
        Verdict::Keep { factor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pattern: &str, action: Action) -> HostnameRule {
        HostnameRule {
            pattern: Regex::new(pattern).unwrap(),
            action,
        }
    }

    #[test]
    fn rewrites_chain_removals_win_and_scales_multiply() {
        let rules = HostnameRules::new(vec![
            rule(
                r"^(www\.)?reddit\.com$",
                Action::Rewrite("old.reddit.com".into()),
            ),
            rule(r"(^|\.)pinterest\.[a-z.]+$", Action::Remove),
            rule(r"^old\.reddit\.com$", Action::Scale(2.0)),
            rule(r"(^|\.)reddit\.com$", Action::Scale(1.5)),
            rule(r"^(.+)\.medium\.com$", Action::Rewrite("scribe.rip".into())),
            rule(r"^bad\.example$", Action::Rewrite("not a host".into())),
        ]);
        let mut url = Url::parse("https://www.reddit.com/r/rust?x=1").unwrap();
        assert_eq!(rules.apply(&mut url), Verdict::Keep { factor: 3.0 });
        assert_eq!(url.as_str(), "https://old.reddit.com/r/rust?x=1");

        let mut url = Url::parse("https://www.pinterest.co.uk/pin/1").unwrap();
        assert_eq!(rules.apply(&mut url), Verdict::Remove);

        let mut url = Url::parse("https://someone.medium.com/post").unwrap();
        assert_eq!(rules.apply(&mut url), Verdict::Keep { factor: 1.0 });
        assert_eq!(url.as_str(), "https://scribe.rip/post");

        let mut url = Url::parse("https://bad.example/").unwrap();
        assert_eq!(rules.apply(&mut url), Verdict::Keep { factor: 1.0 });
        assert_eq!(
            url.as_str(),
            "https://bad.example/",
            "an invalid host is not set"
        );
    }
}
