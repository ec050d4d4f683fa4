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
use super::settings::{Build, BuildError, EngineSettings, http_url};
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
        let mut base = self.base_url;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
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
            })
            .collect();
        // SearXNG reports 0 when its engines did not say.
        let total =
            (response.number_of_results >= 1.0).then_some(response.number_of_results as u64);
        Ok(EngineResults { hits, total })
    }

}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::Query as Params;
    use axum::http::StatusCode;
    use axum::routing::get;
    use trawl_api::{Lang, Query, TimeRange};

    use super::*;
    use crate::doubles::{serve, settings};

    /// Shaped like a SearXNG 2024.x `format=json` answer, trimmed.
    const ANSWER: &str = r#"{"query":"tantivy","number_of_results":0,"results":[{"url":"https://github.com/quickwit-oss/tantivy","title":"GitHub - quickwit-oss/tantivy","content":"Tantivy is a full-text search engine library inspired by Apache Lucene &amp; written in Rust","engine":"duckduckgo","parsed_url":["https","github.com","/quickwit-oss/tantivy","","",""],"template":"default.html","engines":["duckduckgo","brave"],"positions":[1,2],"score":4.0,"category":"general"},{"url":"https://docs.rs/tantivy","title":"tantivy - Rust <docs>","content":"","engine":"brave","score":1.0}],"answers":[],"corrections":[],"infoboxes":[],"suggestions":[],"unresponsive_engines":[["google","timeout"]]}"#;

    async fn instance(
        status: u16,
        body: &'static str,
    ) -> (Url, Arc<Mutex<Vec<HashMap<String, String>>>>) {
        let seen: Arc<Mutex<Vec<HashMap<String, String>>>> = Arc::default();
        let log = seen.clone();
        let app = Router::new().route(
            "/searx/search",
            get(move |Params(params): Params<HashMap<String, String>>| {
                log.lock().unwrap().push(params);
                async move {
                    (
                        StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json")],
                        body,
                    )
                }
            }),
        );
        let base: Url = serve(app, "/searx").await;
        (base, seen)
    }

    fn engine(base: Url) -> Arc<dyn Engine> {
        let mut build = Build {
            http: settings("searx"),
            local: None,
        };
        Settings { base_url: base }.build(&mut build).unwrap()
    }

    #[tokio::test]
    async fn federates_with_an_instance_mapping_every_option() {
        let (base, seen) = instance(200, ANSWER).await;
        let mut request = SearchRequest {
            page: 3,
            ..SearchRequest::new(Query::parse("tantivy").unwrap())
        };
        request.safe = Safe::Strict;
        request.lang = Lang::parse_param(Some("fr")).unwrap();
        request.time_range = TimeRange::parse_param(Some("month")).unwrap();
        let found = engine(base).search(&request).await.unwrap();
        let params = seen.lock().unwrap()[0].clone();
        for (name, value) in [
            ("q", "tantivy"),
            ("format", "json"),
            ("pageno", "3"),
            ("safesearch", "2"),
            ("language", "fr"),
            ("time_range", "month"),
        ] {
            assert_eq!(params[name], value, "{name}");
        }
        assert_eq!(found.total, None, "0 means unknown");
        assert_eq!(found.hits.len(), 2);
        assert_eq!(
            found.hits[0].snippet,
            "Tantivy is a full-text search engine library inspired by Apache Lucene & written in Rust"
        );
        assert_eq!(found.hits[1].title, "tantivy - Rust");
    }

    #[tokio::test]
    async fn an_empty_answer_and_a_broken_one() {
        let (base, _) = instance(
            200,
            r#"{"query":"zzqx","number_of_results":0,"results":[],"answers":[],"unresponsive_engines":[]}"#,
        )
        .await;
        let found = engine(base)
            .search(&SearchRequest::new(Query::parse("zzqx").unwrap()))
            .await
            .unwrap();
        assert!(found.hits.is_empty());
        let (base, _) = instance(200, "<!DOCTYPE html><html>…</html>").await;
        let err = engine(base)
            .search(&SearchRequest::new(Query::parse("x").unwrap()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "parse");
    }

    #[tokio::test]
    async fn an_instance_without_json_says_so() {
        let (base, _) = instance(403, "<html>403 Forbidden</html>").await;
        let err = engine(base)
            .search(&SearchRequest::new(Query::parse("x").unwrap()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "auth");
        assert!(err.to_string().contains("format=json"), "{err}");
    }
}
