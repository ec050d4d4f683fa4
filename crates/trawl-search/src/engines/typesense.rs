//! Typesense: `GET /collections/{collection}/documents/search`.
//!
//! <https://typesense.org/docs/latest/api/search.html>. `q`, `query_by`
//! (the title and snippet fields by default), the 1-based `page` and
//! `per_page` (at most 250), the snippet field highlighted with `<mark>`;
//! the total is `found`. The key (`key_env`) goes in
//! `X-TYPESENSE-API-KEY`. Errors are `{"message"}`; Typesense Cloud answers
//! 429 to too many calls. Language, safe search and time range are not
//! mapped.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trawl_api::SearchRequest;
use url::Url;

use super::document::Fields;
use super::http::{Api, ApiEngine, ApiKey, Call};
use super::settings::{Build, BuildError, EngineSettings, directory, endpoint, http_url, non_empty, non_empty_opt};
use crate::engine::{Engine, EngineError, EngineResults};

/// `[[engines]]` with `type = "typesense"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The node's root, e.g. `http://localhost:8108/`.
    #[serde(deserialize_with = "http_url")]
    pub base_url: Url,
    /// The collection searched.
    #[serde(deserialize_with = "non_empty")]
    pub index: String,
    /// Which fields are the title, URL and snippet.
    #[serde(default)]
    pub fields: Fields,
    /// The fields searched (`query_by`); by default the title's and the
    /// snippet's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search_fields: Vec<String>,
    /// The environment variable holding a search-only key.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty_opt"
    )]
    pub key_env: Option<String>,
}

impl EngineSettings for Settings {
    const KIND: &'static str = "typesense";
    const CATEGORIES: &'static [&'static str] = &["general", "local"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let key = ApiKey::optional(self.key_env.as_deref(), &build.http.name);
        let base = directory(self.base_url);
        let search = endpoint(&base, &["collections", &self.index, "documents", "search"]);
        let query_by = if self.search_fields.is_empty() {
            vec![self.fields.title.clone(), self.fields.snippet.clone()]
        } else {
            self.search_fields
        };
        let api = Typesense {
            search,
            fields: self.fields,
            query_by: query_by.join(","),
            key,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &base, api)?))
    }
}

/// A node's side of the engine.
pub struct Typesense {
    search: Url,
    fields: Fields,
    query_by: String,
    key: Option<String>,
}

const MAX_PER_PAGE: u32 = 250;

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    found: Option<u64>,
    #[serde(default)]
    hits: Vec<Hit>,
}

#[derive(Deserialize)]
struct Hit {
    document: Value,
    #[serde(default)]
    highlights: Vec<Highlight>,
}

#[derive(Deserialize)]
struct Highlight {
    field: String,
    #[serde(default)]
    snippet: Option<String>,
}

/// `{"message": "..."}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    message: String,
}

#[async_trait]
impl Api for Typesense {
    const KIND: &'static str = "typesense";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        let ErrorEnvelope { message } = serde_json::from_slice(&answer.body).ok()?;
        Some(match answer.status.as_u16() {
            429 => EngineError::RateLimited(message),
            401 | 403 => EngineError::Auth(message),
            status => EngineError::Http { status, message },
        })
    }

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let mut url = self.search.clone();
        url.query_pairs_mut()
            .append_pair("q", request.query.as_str())
            .append_pair("query_by", &self.query_by)
            .append_pair("page", &request.page.to_string())
            .append_pair("per_page", &request.per_page.min(MAX_PER_PAGE).to_string())
            .append_pair("highlight_fields", &self.fields.snippet)
            .append_pair("highlight_start_tag", "<mark>")
            .append_pair("highlight_end_tag", "</mark>");
        let headers: Vec<(&'static str, String)> = self
            .key
            .iter()
            .map(|key| ("x-typesense-api-key", key.clone()))
            .collect();
        let response: Response = call.get_json(url, &headers).await?;
        let count = response.hits.len();
        let hits = response
            .hits
            .into_iter()
            .enumerate()
            .filter_map(|(i, hit)| {
                let highlighted = hit
                    .highlights
                    .into_iter()
                    .find(|h| h.field == self.fields.snippet)
                    .and_then(|h| h.snippet);
                self.fields.hit(&hit.document, highlighted, i, count)
            })
            .collect();
        Ok(EngineResults {
            hits,
            total: response.found,
        })
    }
}

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    const SEARCH: &str = r#"{"facet_counts":[],"found":9,"hits":[{"document":{"id":"1","title":"Searching with Rust","url":"https://docs.example.org/rust-search","content":"How the search service is written in Rust, and why."},"highlight":{"content":{"matched_tokens":["search","Rust"],"snippet":"How the <mark>search</mark> service is written in <mark>Rust</mark>, and why."}},"highlights":[{"field":"content","matched_tokens":["search","Rust"],"snippet":"How the <mark>search</mark> service is written in <mark>Rust</mark>, and why."}],"text_match":578730123365187705,"text_match_info":{"best_field_score":"1108091339008","best_field_weight":15,"fields_matched":1,"score":"578730123365187705","tokens_matched":2}}],"out_of":120,"page":2,"request_params":{"collection_name":"docs","per_page":5,"q":"rust search"},"search_cutoff":false,"search_time_ms":1}"#;
    Case {
        kind: "typesense",
        answers: vec![(
            "/typesense/collections/docs/documents/search",
            vec![Canned::json(SEARCH)],
        )],
        spec: |root| {
            serde_json::json!({
                "base_url": root.join("typesense/").unwrap(),
                "index": "docs",
                "key_env": "PATH",
            })
        },
        first: ("Searching with Rust", "https://docs.example.org/rust-search"),
        total: Some(9),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("q"), Some("rust search"));
            assert_eq!(asked.param("query_by"), Some("title,content"));
            assert_eq!(asked.param("page"), Some("2"));
            assert_eq!(asked.param("per_page"), Some("5"));
            assert!(asked.header("x-typesense-api-key").is_some());
        },
        errors: vec![
            (
                "/typesense/collections/docs/documents/search",
                Canned::with(404, "application/json", r#"{"message": "Not found."}"#),
                "http",
            ),
            (
                "/typesense/collections/docs/documents/search",
                Canned::with(
                    401,
                    "application/json",
                    r#"{"message": "Forbidden - a valid `x-typesense-api-key` header must be sent."}"#,
                ),
                "auth",
            ),
        ],
        rate_limited: (
            "/typesense/collections/docs/documents/search",
            Canned::with(429, "application/json", r#"{"message": "Rate limit exceeded or blocked"}"#),
        ),
    }
}
