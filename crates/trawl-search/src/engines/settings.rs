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

/// `url` as a directory (its path ending in `/`), so that relative paths
/// join beneath it.
pub(crate) fn directory(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    url
}

/// `base` with `segments` appended to its path, each percent-encoded as one
/// segment (an index named `a/b` stays one segment).
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.path_segments_mut()
        .expect("an http(s) URL has a path")
        .pop_if_empty()
        .extend(segments);
    url
}

/// `Authorization: Basic …` for `user` and the password in the
/// environment variable `password_env` (empty when unset).
pub(crate) fn basic_auth(user: &str, password_env: Option<&str>, engine: &str) -> String {
    use base64::Engine as _;
    let password = ApiKey::optional(password_env, engine).unwrap_or_default();
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {pair}")
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
        match &key {
            // Kept out of every answer, page and log line from now on.
            Some(key) => trawl_service::redact::register(key),
            None => tracing::warn!(engine, key_env = var, "API key not set"),
        }
        Self::new(key, var)
    }

    /// A key an engine can do without: read from `var` when one is
    /// configured.
    pub fn optional(var: Option<&str>, engine: &str) -> Option<String> {
        var.and_then(|var| Self::from_env(var, engine).into_value())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_directories() {
        let base = directory(url("http://es:9200/proxy"));
        assert_eq!(base.as_str(), "http://es:9200/proxy/");
        assert_eq!(
            endpoint(&base, &["logs-*,docs", "_search"]).as_str(),
            "http://es:9200/proxy/logs-*,docs/_search"
        );
        assert_eq!(
            endpoint(&base, &["a/b?c", "select"]).as_str(),
            "http://es:9200/proxy/a%2Fb%3Fc/select",
            "an index is one segment"
        );
    }
}
