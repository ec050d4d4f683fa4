//! Open Library's search: `GET /search.json`.
//!
//! <https://openlibrary.org/dev/docs/api/search>. `q`, the 1-based `page`
//! and `limit`, with `fields` naming what is read; the total is `numFound`.
//! Errors are `{"error": "..."}`; Open Library asks clients to identify
//! themselves (trawl's User-Agent does) and answers 429 to too many calls.
//! The snippet is the authors, the first publication year and the editions.
//! Language maps to `lang` (a two-letter code preferring that language's
//! editions); safe search and time range are not mapped.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trawl_api::SearchRequest;
use url::Url;

use super::markup::facts;
use super::http::{Api, ApiEngine, Call};
use super::settings::{Build, BuildError, EngineSettings, http_url, url};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// `[[engines]]` with `type = "openlibrary"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The search URL.
    #[serde(default = "default_base", deserialize_with = "http_url")]
    pub base_url: Url,
}

fn default_base() -> Url {
    url("https://openlibrary.org/search.json")
}

impl EngineSettings for Settings {
    const KIND: &'static str = "openlibrary";
    const CATEGORIES: &'static [&'static str] = &["books"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let home = self.base_url.clone();
        let mut site = self.base_url.clone();
        site.set_path("/");
        site.set_query(None);
        let api = OpenLibrary {
            base: self.base_url,
            site,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &home, api)?))
    }
}

/// Open Library's side of the engine.
pub struct OpenLibrary {
    base: Url,
    /// Where the works' pages are (`key` is a path on it).
    site: Url,
}

const FIELDS: &str = "key,title,author_name,first_publish_year,edition_count";

#[derive(Deserialize)]
struct Response {
    #[serde(rename = "numFound")]
    found: Option<u64>,
    #[serde(default)]
    docs: Vec<Doc>,
}

#[derive(Deserialize)]
struct Doc {
    key: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    author_name: Vec<String>,
    #[serde(default)]
    first_publish_year: Option<i32>,
    #[serde(default)]
    edition_count: Option<u64>,
}

/// `{"error": "..."}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: String,
}

#[async_trait]
impl Api for OpenLibrary {
    const KIND: &'static str = "openlibrary";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        let ErrorEnvelope { error } = serde_json::from_slice(&answer.body).ok()?;
        Some(match answer.status.as_u16() {
            429 => EngineError::RateLimited(error),
            status => EngineError::Http {
                status,
                message: error,
            },
        })
    }

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let mut url = self.base.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("q", request.query.as_str())
                .append_pair("page", &request.page.to_string())
                .append_pair("limit", &request.per_page.to_string())
                .append_pair("fields", FIELDS);
            if let Some(lang) = request.lang {
                query.append_pair("lang", lang.as_str());
            }
        }
        let response: Response = call.get_json(url, &[]).await?;
        let count = response.docs.len();
        let hits = response
            .docs
            .into_iter()
            .enumerate()
            .filter_map(|(i, doc)| {
                let snippet = facts([
                    doc.author_name.join(", "),
                    doc.first_publish_year
                        .map(|y| format!("first published {y}"))
                        .unwrap_or_default(),
                    doc.edition_count
                        .map(|e| format!("{e} editions"))
                        .unwrap_or_default(),
                ]);
                Some(EngineHit {
                    url: self.site.join(&doc.key).ok()?.to_string(),
                    title: doc.title.unwrap_or_else(|| doc.key.clone()),
                    snippet,
                    highlights: Vec::new(),
                    score: positional_score(i, count),
                    published: None,
                })
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
    const SEARCH: &str = r#"{"numFound":57,"start":5,"numFoundExact":true,"docs":[{"key":"/works/OL27448W","title":"The Lord of the Rings","author_name":["J.R.R. Tolkien"],"first_publish_year":1954,"edition_count":257},{"key":"/works/OL82563W","title":"Rust in Action","author_name":["Tim McNamara"],"first_publish_year":2021}],"num_found":57,"q":"rust search","offset":null}"#;
    Case {
        kind: "openlibrary",
        answers: vec![("/openlibrary/search.json", vec![Canned::json(SEARCH)])],
        spec: |root| serde_json::json!({"base_url": root.join("openlibrary/search.json").unwrap()}),
        first: ("The Lord of the Rings", "DOUBLE/works/OL27448W"),
        total: Some(57),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("q"), Some("rust search"));
            assert_eq!(asked.param("page"), Some("2"));
            assert_eq!(asked.param("limit"), Some("5"));
            assert_eq!(asked.param("fields"), Some(FIELDS));
        },
        errors: vec![(
            "/openlibrary/search.json",
            Canned::with(
                500,
                "application/json",
                r#"{"error": "org.apache.solr.search.SyntaxError: Cannot parse 'title:(': Encountered \"<EOF>\""}"#,
            ),
            "http",
        )],
        rate_limited: (
            "/openlibrary/search.json",
            Canned::with(429, "text/html", "<html><body><h1>429 Too Many Requests</h1></body></html>"),
        ),
    }
}
