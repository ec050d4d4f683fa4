//! What every engine's settings share: how they build their engine, and the
//! checks serde makes while reading them.

use std::sync::Arc;

use serde::{Deserialize, Deserializer};
use url::Url;

use super::http::{ApiKey, HttpSettings};
use crate::engine::Engine;
use crate::local::LocalSource;

/// An engine type's settings: the keys of its `[[engines]]` table other
/// than the ones every engine has.
pub trait EngineSettings {
    /// Its `type`.
    const KIND: &'static str;
    /// The categories it is in unless configured otherwise.
    const CATEGORIES: &'static [&'static str];
    /// The most calls a minute its API asks clients for, when it says: the
    /// engine's cap unless its configuration sets one (and never above
    /// `search.engine_calls_per_minute`).
    const POLITE_CALLS_PER_MINUTE: Option<u32> = None;
    /// Builds the engine.
    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError>;
}

/// What building an engine takes besides its own settings.
pub struct Build {
    /// How it calls its API (upstream engines).
    pub http: HttpSettings,
    /// The local index (the `local` engine takes it).
    pub local: Option<LocalSource>,
}

/// Why an engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Its HTTP client could not be made.
    #[error("its HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// A `local` engine without an index to search.
    #[error("there is no local index to search here")]
    NoLocalIndex,
    /// A setting that serde's checks cannot see.
    #[error("{0}")]
    Invalid(String),
}

/// Reads an engine's `base_url`: an http(s) URL.
pub(crate) fn http_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Url, D::Error> {
    let url = Url::deserialize(deserializer)?;
    if matches!(url.scheme(), "http" | "https") {
        Ok(url)
    } else {
        Err(serde::de::Error::custom(format!(
            "`base_url` must be http:// or https://, not `{url}`"
        )))
    }
}

/// Reads a string that may not be empty.
pub(crate) fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = String::deserialize(deserializer)?;
    if value.trim().is_empty() {
        Err(serde::de::Error::custom("must not be empty"))
    } else {
        Ok(value)
    }
}

/// Reads an optional string that may not be empty when given.
pub(crate) fn non_empty_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    non_empty(deserializer).map(Some)
}

/// A URL that is known to parse.
pub(crate) fn url(static_url: &str) -> Url {
    Url::parse(static_url).expect("a static URL")
}

impl ApiKey {
    /// The key in the environment variable `var`, read now. A missing key
    /// is not fatal: the engine reports `auth` errors (or calls without
    /// one, when it is optional), and the others serve.
    pub fn from_env(var: &str, engine: &str) -> Self {
        let key = std::env::var(var).ok().filter(|k| !k.is_empty());
        if key.is_none() {
            tracing::warn!(engine, key_env = var, "API key not set");
        }
        Self::new(key, var)
    }
}

/// The first day a time range covers, as `YYYY-MM-DD` (UTC).
pub(crate) fn first_day(range: trawl_api::TimeRange) -> String {
    let since = trawl_index::time::OffsetDateTime::now_utc() - range.duration();
    format!(
        "{:04}-{:02}-{:02}",
        since.year(),
        u8::from(since.month()),
        since.day()
    )
}
