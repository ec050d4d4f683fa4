//! The search service's settings, as the configuration file's `[search]`
//! section and `[[engines]]` tables hold them, and the HTTP settings each
//! engine is built with.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use trawl_service::breaker::BreakerSettings;

use crate::engines::{DEFAULT_CALLS_PER_MINUTE, EngineSpec, HttpSettings};

/// How engines are asked, and where a search replica's index comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Limit on each engine's answer, unless the engine sets its own.
    pub engine_timeout_ms: u64,
    /// Consecutive failures after which an upstream engine is suspended.
    pub suspend_after: u32,
    /// First suspension, in seconds; each failed probe doubles it...
    pub suspend_s: u64,
    /// ...up to this.
    pub suspend_max_s: u64,
    /// Largest answer read from an engine, after decompression, unless the
    /// engine sets its own; larger is that engine's error.
    pub max_answer_bytes: usize,
    /// Calls a minute to each upstream engine at most, from this process,
    /// unless the engine sets its own (0: no cap).
    pub engine_calls_per_minute: u32,
    /// A search replica's index: pulled from this indexer's snapshots
    /// (`GET /v1/index/manifest`) into the data directory's `index`. Unset:
    /// the replica reads the index directory the indexer writes (one
    /// machine, or a shared disk).
    pub index_from: Option<url::Url>,
    /// The key the index's commits are pulled with: sent by a replica to
    /// `index_from`, and accepted by the indexer for them (besides its API
    /// keys). Without it an indexer serves them only to API keys, unless
    /// `indexer.public_index`.
    pub index_key: Option<String>,
    /// How often a replica asks `index_from` for a newer commit.
    pub index_sync_ms: u64,
    /// The largest index a replica copies, in bytes.
    pub index_max_bytes: u64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            engine_timeout_ms: 3_000,
            suspend_after: 5,
            suspend_s: 60,
            suspend_max_s: 3_600,
            max_answer_bytes: trawl_service::outbound::MAX_BODY_BYTES,
            engine_calls_per_minute: DEFAULT_CALLS_PER_MINUTE,
            index_from: None,
            index_key: None,
            index_sync_ms: 2_000,
            index_max_bytes: 64 * 1024 * 1024 * 1024,
        }
    }
}

/// One engine, as declared by `[[engines]]`: the keys every engine has,
/// and its `type` with that type's own keys ([`EngineSpec`],
/// whose reading checks them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Unique; what `engines=` and every report call it.
    pub name: String,
    /// Asked when a request names no engines (a disabled one only when
    /// named).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How much its results count when results are merged.
    #[serde(default = "one")]
    pub weight: f64,
    /// Its own limit, instead of `search.engine_timeout_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Its own limit on an answer's size, instead of
    /// `search.max_answer_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_answer_bytes: Option<usize>,
    /// Its own cap on calls a minute, instead of
    /// `search.engine_calls_per_minute` (0: no cap). Set it from the API's
    /// quota: Google's free tier allows 100 queries a day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls_per_minute: Option<u32>,
    /// The categories it is in, instead of its type's (e.g. `science` for
    /// arXiv); `categories=` on the API and the page's tabs pick engines
    /// by them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// The engine's `type` and that type's keys.
    #[serde(flatten)]
    pub spec: EngineSpec,
}

fn yes() -> bool {
    true
}

fn one() -> f64 {
    1.0
}

impl EngineConfig {
    /// The local index, named `local`.
    pub fn local() -> Self {
        Self::new("local", EngineSpec::Local(Default::default()))
    }

    /// An engine with the defaults for every common key.
    pub fn new(name: impl Into<String>, spec: EngineSpec) -> Self {
        Self {
            name: name.into(),
            enabled: true,
            weight: 1.0,
            timeout_ms: None,
            max_answer_bytes: None,
            calls_per_minute: None,
            categories: None,
            spec,
        }
    }

    /// The categories it is in: configured, else its type's.
    pub fn categories(&self) -> Vec<String> {
        match &self.categories {
            Some(categories) => categories.clone(),
            None => self
                .spec
                .categories()
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
        }
    }
}

impl SearchConfig {
    /// How a search replica pulls its index, when `index_from` is set.
    pub fn index_sync(&self) -> Option<crate::replica::SyncSettings> {
        self.index_from
            .as_ref()
            .map(|from| crate::replica::SyncSettings {
                from: from.clone(),
                key: self.index_key.clone(),
                every: Duration::from_millis(self.index_sync_ms.max(100)),
                timeout: Duration::from_secs(10),
                max_bytes: self.index_max_bytes,
            })
    }

    /// An engine's limit on its answer.
    pub fn timeout(&self, engine: &EngineConfig) -> Duration {
        Duration::from_millis(engine.timeout_ms.unwrap_or(self.engine_timeout_ms))
    }

    /// When an upstream engine is suspended, and for how long.
    pub fn suspension(&self) -> BreakerSettings {
        BreakerSettings {
            fail_max: self.suspend_after,
            reset_timeout: Duration::from_secs(self.suspend_s),
            max_reset_timeout: Duration::from_secs(self.suspend_max_s.max(self.suspend_s)),
            // Consecutive failures only, as SearXNG: an engine that fails
            // now and then is not suspended for its failure rate.
            min_calls: u32::MAX,
            ..BreakerSettings::default()
        }
    }

    /// An engine's cap on calls a minute (0: none): its own, else the
    /// lower of what its API asks for and `engine_calls_per_minute`.
    pub fn calls_per_minute(&self, engine: &EngineConfig) -> u32 {
        match (
            engine.calls_per_minute,
            engine.spec.polite_calls_per_minute(),
        ) {
            (Some(own), _) => own,
            (None, Some(polite)) if self.engine_calls_per_minute != 0 => {
                polite.min(self.engine_calls_per_minute)
            }
            (None, Some(polite)) => polite,
            (None, None) => self.engine_calls_per_minute,
        }
    }

    /// How an upstream engine is called.
    pub fn http(&self, engine: &EngineConfig) -> HttpSettings {
        HttpSettings {
            name: engine.name.clone(),
            timeout: self.timeout(engine),
            suspension: self.suspension(),
            max_body_bytes: engine.max_answer_bytes.unwrap_or(self.max_answer_bytes),
            calls_per_minute: std::num::NonZeroU32::new(self.calls_per_minute(engine)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(spec: serde_json::Value, own: Option<u32>) -> EngineConfig {
        EngineConfig {
            calls_per_minute: own,
            ..EngineConfig::new("e", serde_json::from_value(spec).unwrap())
        }
    }

    #[test]
    fn an_apis_own_limit_caps_its_engine_unless_configured() {
        let search = SearchConfig::default();
        let arxiv = engine(serde_json::json!({"type": "arxiv"}), None);
        assert_eq!(search.calls_per_minute(&arxiv), 20);
        assert_eq!(search.http(&arxiv).calls_per_minute.unwrap().get(), 20);
        let github = engine(serde_json::json!({"type": "github"}), None);
        assert_eq!(search.calls_per_minute(&github), 10);
        let configured = engine(serde_json::json!({"type": "github"}), Some(30));
        assert_eq!(search.calls_per_minute(&configured), 30, "its own wins");
        let npm = engine(serde_json::json!({"type": "npm"}), None);
        assert_eq!(search.calls_per_minute(&npm), DEFAULT_CALLS_PER_MINUTE);
        let stricter = SearchConfig {
            engine_calls_per_minute: 5,
            ..SearchConfig::default()
        };
        assert_eq!(
            stricter.calls_per_minute(&arxiv),
            5,
            "the global cap is lower"
        );
        let uncapped = SearchConfig {
            engine_calls_per_minute: 0,
            ..SearchConfig::default()
        };
        assert_eq!(uncapped.calls_per_minute(&arxiv), 20, "the API's ask stays");
        assert_eq!(uncapped.calls_per_minute(&npm), 0);
    }
}
