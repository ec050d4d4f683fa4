//! A SearXNG instance, so trawl can federate with existing installations:
//! `GET /search?format=json`.
//!
//! <https://docs.searxng.org/dev/search_api.html>. The instance must allow
//! the JSON format (`search.formats` in its settings). `pageno` is 1-based;
//! the page size is the instance's. `language`, `safesearch=0|1|2` and
//! `time_range=day|week|month|year` map directly.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trawl_api::{Keyword, Safe, SearchRequest};
use url::Url;

use super::http::{Api, ApiEngine, Call};
use super::markup::text_with_marks;
use super::settings::{Build, BuildError, EngineSettings, directory, http_url};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// `[[engines]]` with `type = "searxng"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The instance's root, e.g. `https://searx.example.org/`.
    #[serde(deserialize_with = "http_url")]
    pub base_url: Url,
}

impl EngineSettings for Settings {
    const KIND: &'static str = "searxng";
    const CATEGORIES: &'static [&'static str] = &["general"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let base = directory(self.base_url);
        let api = Searxng {
            search: base.join("search").expect("a relative path joins"),
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &base, api)?))
    }
}

/// A SearXNG instance, the engine's side.
pub struct Searxng {
    search: Url,
}


#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    results: Vec<Result_>,
    #[serde(default)]
    number_of_results: f64,
}

#[derive(Deserialize)]
struct Result_ {
    url: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    content: String,
    /// ISO 8601, often without an offset; `null` when unknown.
    #[serde(default, rename = "publishedDate")]
    published_date: Option<String>,
}

#[async_trait]
impl Api for Searxng {
    const KIND: &'static str = "searxng";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        // An instance without the JSON format answers 403 with HTML.
        (answer.status.as_u16() == 403).then(|| {
            EngineError::Auth("the instance does not serve format=json (search.formats)".to_owned())
        })
    }

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let mut url = self.search.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("q", request.query.as_str())
                .append_pair("format", "json")
                .append_pair("pageno", &request.page.to_string())
                .append_pair(
                    "safesearch",
                    match request.safe {
                        Safe::Off => "0",
                        Safe::Moderate => "1",
                        Safe::Strict => "2",
                    },
                );
            if let Some(lang) = request.lang {
                query.append_pair("language", lang.as_str());
            }
            if let Some(range) = request.time_range {
                query.append_pair("time_range", range.as_str());
            }
        }
        let response: Response = call.get_json(url, &[]).await?;
        let count = response.results.len();
        let hits = response
            .results
            .into_iter()
            .take(request.per_page as usize)
            .enumerate()
            .map(|(i, result)| EngineHit {
                title: text_with_marks(&result.title, |_| false).0,
                url: result.url,
                snippet: text_with_marks(&result.content, |_| false).0,
                highlights: Vec::new(),
                score: positional_score(i, count),
                published: result.published_date,
            })
            .collect();
        // SearXNG reports 0 when its engines did not say.
        let total =
            (response.number_of_results >= 1.0).then_some(response.number_of_results as u64);
        Ok(EngineResults { hits, total })
    }

}

/// A real SearXNG's `format=json` answer (2026.8.22+9fea41204, captured
/// for trawl's own SearXNG-compatible API: see that directory's README).
#[cfg(any(test, feature = "doubles"))]
const ANSWER: &str = include_str!("../../../trawl/tests/searxng/captured/search.json");

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    Case {
        kind: "searxng",
        answers: vec![("/searx/search", vec![Canned::json(ANSWER)])],
        spec: |root| serde_json::json!({"base_url": root.join("searx").unwrap()}),
        first: (
            "Tantivy 0.22: faster indexing",
            "https://news.ycombinator.com/item?id=40000001",
        ),
        total: None,
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("q"), Some("rust search"));
            assert_eq!(asked.param("format"), Some("json"));
            assert_eq!(asked.param("pageno"), Some("2"));
            assert_eq!(asked.param("safesearch"), Some("1"));
        },
        errors: vec![
            (
                "/searx/search",
                Canned::with(403, "text/html", "<html>403 Forbidden</html>"),
                "auth",
            ),
            (
                "/searx/search",
                Canned::with(200, "text/html", "<!DOCTYPE html><html>…</html>"),
                "parse",
            ),
        ],
        rate_limited: (
            "/searx/search",
            Canned::with(429, "text/plain", "Too Many Requests"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use trawl_api::{Lang, Query, TimeRange};

    use super::*;
    use crate::doubles::{Canned, Double, settings};

    async fn instance(answer: Canned) -> (Double, Arc<dyn Engine>) {
        let double = Double::start(vec![("/searx/search", vec![answer])]).await;
        let mut build = Build {
            http: settings("searx"),
            local: None,
        };
        let engine = Settings {
            base_url: double.at("/searx"),
        }
        .build(&mut build)
        .unwrap();
        (double, engine)
    }

    #[tokio::test]
    async fn maps_every_option_and_reads_text() {
        let (double, engine) = instance(Canned::json(ANSWER)).await;
        let mut request = SearchRequest {
            page: 3,
            ..SearchRequest::new(Query::parse("tantivy").unwrap())
        };
        request.safe = Safe::Strict;
        request.lang = Lang::parse_param(Some("fr")).unwrap();
        request.time_range = TimeRange::parse_param(Some("month")).unwrap();
        let found = engine.search(&request).await.unwrap();
        let asked = &double.seen()[0];
        for (name, value) in [
            ("pageno", "3"),
            ("safesearch", "2"),
            ("language", "fr"),
            ("time_range", "month"),
        ] {
            assert_eq!(asked.param(name), Some(value), "{name}");
        }
        assert_eq!(found.total, None, "0 means unknown");
        assert_eq!(found.hits[0].snippet, "https://quickwit.io/blog/tantivy-0.22");
        assert_eq!(found.hits[1].title, "Show HN: a search portal in Rust");
        assert_eq!(found.hits[3].title, "tantivy - Rust");
        // `publishedDate`: a date without a zone (read as UTC), or `null`.
        assert_eq!(
            found.hits[0].published.as_deref().and_then(trawl_api::dates::normalize).as_deref(),
            Some("2024-04-28T10:26:40Z")
        );
        assert_eq!(found.hits[2].published, None);
    }

    #[tokio::test]
    async fn an_instance_without_json_says_so() {
        let (_, engine) = instance(Canned::with(403, "text/html", "<html>403</html>")).await;
        let err = engine
            .search(&SearchRequest::new(Query::parse("x").unwrap()))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("format=json"), "{err}");
    }
}
