//! Meilisearch: `POST /indexes/{index}/search`.
//!
//! <https://www.meilisearch.com/docs/reference/api/search>. `q`, `offset`
//! and `limit`, the snippet field cropped and highlighted with `<em>`
//! (`_formatted`); the total is `estimatedTotalHits`. A key (`key_env`)
//! goes in `Authorization: Bearer …`. Errors are `{"message", "code",
//! "type", "link"}`; Meilisearch Cloud answers 429 to too many calls.
//! Language, safe search and time range are not mapped.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trawl_api::SearchRequest;
use url::Url;

use super::document::{Fields, field};
use super::http::{Api, ApiEngine, ApiKey, Call};
use super::json::text;
use super::settings::{Build, BuildError, EngineSettings, directory, endpoint, http_url, non_empty, non_empty_opt};
use crate::engine::{Engine, EngineError, EngineResults};

/// `[[engines]]` with `type = "meilisearch"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The instance's root, e.g. `http://localhost:7700/`.
    #[serde(deserialize_with = "http_url")]
    pub base_url: Url,
    /// The index searched.
    #[serde(deserialize_with = "non_empty")]
    pub index: String,
    /// Which fields are the title, URL and snippet.
    #[serde(default)]
    pub fields: Fields,
    /// The environment variable holding a search key.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty_opt"
    )]
    pub key_env: Option<String>,
}

impl EngineSettings for Settings {
    const KIND: &'static str = "meilisearch";
    const CATEGORIES: &'static [&'static str] = &["general", "local"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let key = ApiKey::optional(self.key_env.as_deref(), &build.http.name);
        let base = directory(self.base_url);
        let search = endpoint(&base, &["indexes", &self.index, "search"]);
        let api = Meilisearch {
            search,
            fields: self.fields,
            key,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &base, api)?))
    }
}

/// An instance's side of the engine.
pub struct Meilisearch {
    search: Url,
    fields: Fields,
    key: Option<String>,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    hits: Vec<Value>,
    #[serde(rename = "estimatedTotalHits", default)]
    estimated: Option<u64>,
    #[serde(rename = "totalHits", default)]
    exact: Option<u64>,
}

/// `{"message", "code", "type", "link"}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    message: String,
    code: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[async_trait]
impl Api for Meilisearch {
    const KIND: &'static str = "meilisearch";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        let error: ErrorEnvelope = serde_json::from_slice(&answer.body).ok()?;
        let message = format!("{} ({})", error.message, error.code);
        Some(match (answer.status.as_u16(), error.kind.as_str()) {
            (429, _) => EngineError::RateLimited(message),
            (401 | 403, _) | (_, "auth") => EngineError::Auth(message),
            (status, _) => EngineError::Http { status, message },
        })
    }

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let body = json!({
            "q": request.query.as_str(),
            "offset": request.offset(),
            "limit": request.per_page,
            "attributesToHighlight": [&self.fields.snippet, &self.fields.title],
            "attributesToCrop": [&self.fields.snippet],
            "cropLength": 40,
            "highlightPreTag": "<em>",
            "highlightPostTag": "</em>",
        });
        let headers: Vec<(&'static str, String)> = self
            .key
            .iter()
            .map(|key| ("authorization", format!("Bearer {key}")))
            .collect();
        let response: Response = call.post_json(self.search.clone(), &headers, &body).await?;
        let count = response.hits.len();
        let hits = response
            .hits
            .iter()
            .enumerate()
            .filter_map(|(i, hit)| {
                let highlighted = hit
                    .get("_formatted")
                    .and_then(|f| text(field(f, &self.fields.snippet)));
                self.fields.hit(hit, highlighted, i, count)
            })
            .collect();
        Ok(EngineResults {
            hits,
            total: response.exact.or(response.estimated),
        })
    }
}

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    const SEARCH: &str = r#"{"hits":[{"id":1,"title":"Searching with Rust","url":"https://docs.example.org/rust-search","content":"How the search service is written in Rust, and why.","_formatted":{"id":"1","title":"Searching with <em>Rust</em>","url":"https://docs.example.org/rust-search","content":"…the <em>search</em> service is written in <em>Rust</em>…"}}],"query":"rust search","processingTimeMs":1,"limit":5,"offset":5,"estimatedTotalHits":12}"#;
    Case {
        kind: "meilisearch",
        answers: vec![("/meili/indexes/docs/search", vec![Canned::json(SEARCH)])],
        spec: |root| {
            serde_json::json!({
                "base_url": root.join("meili/").unwrap(),
                "index": "docs",
                "key_env": "PATH",
            })
        },
        first: ("Searching with Rust", "https://docs.example.org/rust-search"),
        total: Some(12),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.method, "POST");
            assert!(asked.header("authorization").is_some_and(|a| a.starts_with("Bearer ")));
            let body = asked.json();
            assert_eq!(body["q"], "rust search");
            assert_eq!(body["offset"], 5);
            assert_eq!(body["limit"], 5);
        },
        errors: vec![
            (
                "/meili/indexes/docs/search",
                Canned::with(
                    404,
                    "application/json",
                    r#"{"message":"Index `docs` not found.","code":"index_not_found","type":"invalid_request","link":"https://docs.meilisearch.com/errors#index_not_found"}"#,
                ),
                "http",
            ),
            (
                "/meili/indexes/docs/search",
                Canned::with(
                    403,
                    "application/json",
                    r#"{"message":"The provided API key is invalid.","code":"invalid_api_key","type":"auth","link":"https://docs.meilisearch.com/errors#invalid_api_key"}"#,
                ),
                "auth",
            ),
        ],
        rate_limited: (
            "/meili/indexes/docs/search",
            Canned::with(
                429,
                "application/json",
                r#"{"message":"Too many requests.","code":"too_many_search_requests","type":"system","link":"https://docs.meilisearch.com/errors#too_many_search_requests"}"#,
            )
            .header("retry-after", "5"),
        ),
    }
}
