//! Marginalia Search, the independent web's small sites:
//! `GET /{key}/search/{query}`.
//!
//! <https://about.marginalia-search.com/article/api/>. The key is in the
//! path: `public` (the shared key, the default) or one's own (`key_env`).
//! `count` results (at most 100), no paging: page N asks for N pages' worth
//! and keeps the last. `index` picks the index (0, the default, is the
//! general one). A spent limit on the shared key is a 503; errors are plain
//! text. The snippet is the description. Language, safe search and time
//! range are not mapped.

use std::sync::Arc;

use async_trait::async_trait;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use trawl_api::SearchRequest;
use url::Url;

use super::http::{Api, ApiEngine, ApiKey, Call, by_status};
use super::settings::{Build, BuildError, EngineSettings, directory, http_url, non_empty_opt, url};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// `[[engines]]` with `type = "marginalia"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The API's root.
    #[serde(default = "default_base", deserialize_with = "http_url")]
    pub base_url: Url,
    /// The environment variable holding one's own key; the shared `public`
    /// key without it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty_opt"
    )]
    pub key_env: Option<String>,
    /// Which index to search (0: the general one).
    #[serde(default)]
    pub index: u32,
}

fn default_base() -> Url {
    url("https://api.marginalia.nu/")
}

impl EngineSettings for Settings {
    const KIND: &'static str = "marginalia";
    const CATEGORIES: &'static [&'static str] = &["general"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let base = directory(self.base_url);
        let key = ApiKey::optional(self.key_env.as_deref(), &build.http.name)
            .unwrap_or_else(|| "public".to_owned());
        let api = Marginalia {
            base: base.clone(),
            key,
            index: self.index,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &base, api)?))
    }
}

/// Marginalia's side of the engine.
pub struct Marginalia {
    base: Url,
    key: String,
    index: u32,
}

const MAX_COUNT: u32 = 100;

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    results: Vec<Found>,
}

#[derive(Deserialize)]
struct Found {
    url: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
}

#[async_trait]
impl Api for Marginalia {
    const KIND: &'static str = "marginalia";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        // The shared key's limit is spent: 503.
        (answer.status.as_u16() == 503).then(|| {
            let EngineError::Http { message, .. } = by_status(answer) else {
                unreachable!("a 503 is an http error");
            };
            EngineError::RateLimited(message)
        })
    }

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let wanted = request.page * request.per_page;
        if wanted > MAX_COUNT {
            return Ok(EngineResults::default());
        }
        let path = format!(
            "{}/search/{}",
            utf8_percent_encode(&self.key, NON_ALPHANUMERIC),
            utf8_percent_encode(request.query.as_str(), NON_ALPHANUMERIC)
        );
        let mut url = self
            .base
            .join(&path)
            .map_err(|e| EngineError::Failed(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("count", &wanted.to_string())
            .append_pair("index", &self.index.to_string());
        let response: Response = call.get_json(url, &[]).await?;
        let page: Vec<Found> = response
            .results
            .into_iter()
            .skip(request.offset())
            .collect();
        let count = page.len();
        let hits = page
            .into_iter()
            .enumerate()
            .map(|(i, found)| EngineHit {
                title: if found.title.is_empty() {
                    found.url.clone()
                } else {
                    found.title
                },
                url: found.url,
                snippet: found.description,
                highlights: Vec::new(),
                score: positional_score(i, count),
                published: None,
            })
            .collect();
        Ok(EngineResults { hits, total: None })
    }
}

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    const SEARCH: &str = r#"{"license":"CC-BY-NC-SA 4.0","query":"rust search","results":[{"url":"https://www.example.com/one","title":"One","description":"first page's first","quality":-2.1,"format":"HTML5","details":""},{"url":"https://www.example.com/two","title":"Two","description":"","quality":-3.0},{"url":"https://www.example.com/3","title":"Three","description":""},{"url":"https://www.example.com/4","title":"Four","description":""},{"url":"https://www.example.com/5","title":"Five","description":""},{"url":"https://blog.example.net/rust-search","title":"Writing a search engine in Rust","description":"Notes from building a small full-text search engine with tantivy.","quality":-1.7,"format":"HTML5","details":""},{"url":"https://www.example.com/7","title":"Seven","description":""}]}"#;
    Case {
        kind: "marginalia",
        answers: vec![("/marginalia/public/search/", vec![Canned::json(SEARCH)])],
        spec: |root| serde_json::json!({"base_url": root.join("marginalia/").unwrap()}),
        first: (
            "Writing a search engine in Rust",
            "https://blog.example.net/rust-search",
        ),
        total: None,
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.path, "/marginalia/public/search/rust%20search");
            assert_eq!(asked.param("count"), Some("10"));
            assert_eq!(asked.param("index"), Some("0"));
        },
        errors: vec![(
            "/marginalia/public/search/",
            Canned::with(400, "text/plain", "Bad request"),
            "http",
        )],
        rate_limited: (
            "/marginalia/public/search/",
            Canned::with(503, "text/plain", "Slow down"),
        ),
    }
}
