//! The Brave Search API: `GET /res/v1/web/search`.
//!
//! <https://api-dashboard.search.brave.com/app/documentation/web-search/query>.
//! The key goes in the `X-Subscription-Token` header. `count` results a
//! page (at most 20) and `offset` pages of `count` to skip (at most 9), so
//! at most 200 results a query. Language maps to `search_lang`, safe search
//! to `safesearch=off|moderate|strict`, the time range to
//! `freshness=pd|pw|pm|py`. Descriptions mark matches with `<strong>`.
//! The API gives no total.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trawl_api::{Safe, SearchRequest, TimeRange};
use url::Url;

use super::http::{Api, ApiEngine, ApiKey, Call, by_status};
use super::markup::text_with_marks;
use super::settings::{Build, BuildError, EngineSettings, http_url, non_empty, url};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

const MAX_COUNT: u32 = 20;
const MAX_OFFSET: u32 = 9;

/// `[[engines]]` with `type = "brave"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The API's search URL.
    #[serde(default = "default_base", deserialize_with = "http_url")]
    pub base_url: Url,
    /// The environment variable holding the subscription token.
    #[serde(deserialize_with = "non_empty")]
    pub key_env: String,
}

fn default_base() -> Url {
    url("https://api.search.brave.com/res/v1/web/search")
}

impl EngineSettings for Settings {
    const KIND: &'static str = "brave";
    const CATEGORIES: &'static [&'static str] = &["general"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let key = ApiKey::from_env(&self.key_env, &build.http.name);
        let home = self.base_url.clone();
        Ok(Arc::new(ApiEngine::new(
            &build.http,
            &home,
            Brave {
                base: self.base_url,
                key,
            },
        )?))
    }
}

/// The Brave Search API's side of the engine.
pub struct Brave {
    base: Url,
    key: ApiKey,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    web: Option<Web>,
}

#[derive(Deserialize)]
struct Web {
    #[serde(default)]
    results: Vec<WebResult>,
}

#[derive(Deserialize)]
struct WebResult {
    title: String,
    url: String,
    #[serde(default)]
    description: String,
}

/// `{"type": "ErrorResponse", "error": {"code", "detail", "status"}}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    detail: String,
}

#[async_trait]
impl Api for Brave {
    const KIND: &'static str = "brave";

    fn required_key(&self) -> Option<&ApiKey> {
        Some(&self.key)
    }

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        let ErrorEnvelope { error } = serde_json::from_slice(&answer.body).ok()?;
        let message = format!("{} ({})", error.detail, error.code);
        Some(match (answer.status.as_u16(), error.code.as_str()) {
            (429, _) | (_, "RATE_LIMITED") => EngineError::RateLimited(message),
            (401 | 403, _) | (_, "SUBSCRIPTION_TOKEN_INVALID") => EngineError::Auth(message),
            _ => by_status(answer),
        })
    }

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let key = self.key.get()?;
        let count = request.per_page.min(MAX_COUNT);
        // Pages of `count`: the request's offset, rounded down.
        let offset = request.offset() as u32 / count;
        if offset > MAX_OFFSET {
            return Ok(EngineResults::default());
        }
        let mut url = self.base.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("q", request.query.as_str())
                .append_pair("count", &count.to_string())
                .append_pair("offset", &offset.to_string())
                .append_pair(
                    "safesearch",
                    match request.safe {
                        Safe::Off => "off",
                        Safe::Moderate => "moderate",
                        Safe::Strict => "strict",
                    },
                );
            if let Some(lang) = request.lang {
                query.append_pair("search_lang", lang.as_str());
            }
            if let Some(range) = request.time_range {
                query.append_pair(
                    "freshness",
                    match range {
                        TimeRange::Day => "pd",
                        TimeRange::Week => "pw",
                        TimeRange::Month => "pm",
                        TimeRange::Year => "py",
                    },
                );
            }
        }
        let response: Response = call
            .get_json(url, &[("x-subscription-token", key.to_owned())])
            .await?;
        let results = response.web.map(|w| w.results).unwrap_or_default();
        let count = results.len();
        let hits = results
            .into_iter()
            .enumerate()
            .map(|(i, result)| {
                let (snippet, highlights) =
                    text_with_marks(&result.description, |tag| tag == "strong");
                EngineHit {
                    title: text_with_marks(&result.title, |_| false).0,
                    url: result.url,
                    snippet,
                    highlights,
                    score: positional_score(i, count),
                    published: None,
                }
            })
            .collect();
        Ok(EngineResults { hits, total: None })
    }
}

/// Shaped like a real `/res/v1/web/search` answer, trimmed.
#[cfg(any(test, feature = "doubles"))]
const RESULTS: &str = r#"{"type":"search","query":{"original":"rust async","more_results_available":true},"mixed":{"type":"mixed","main":[{"type":"web","index":0,"all":false}]},"web":{"type":"search","results":[{"title":"Asynchronous Programming in <strong>Rust</strong>","url":"https://rust-lang.github.io/async-book/","is_source_local":false,"description":"This book aims to be a thorough guide to <strong>asynchronous</strong> programming in <strong>Rust</strong>, from beginner to advanced.","age":"March 3, 2024","language":"en","family_friendly":true},{"title":"Tokio – an async runtime","url":"https://tokio.rs/","description":"Tokio is an <strong>asynchronous</strong> runtime for the <strong>Rust</strong> programming language &amp; more."}],"family_friendly":true}}"#;

#[cfg(test)]
const NO_WEB: &str = r#"{"type":"search","query":{"original":"zzqx","more_results_available":false}}"#;

#[cfg(any(test, feature = "doubles"))]
const BAD_TOKEN: &str = r#"{"type":"ErrorResponse","error":{"id":"1e5a5ab6-7b1b-4b5c-8d1f-0c2f7f0e9a4b","status":422,"code":"SUBSCRIPTION_TOKEN_INVALID","detail":"The provided subscription token is invalid.","meta":{"component":"authentication"}},"time":1732000000}"#;

#[cfg(any(test, feature = "doubles"))]
const LIMITED: &str = r#"{"type":"ErrorResponse","error":{"id":"f2c1d7e0-1234-4c6a-9c2e-6a1b2c3d4e5f","status":429,"code":"RATE_LIMITED","detail":"Request rate limit exceeded for plan.","meta":{"plan":"Free","rate_limit":1,"rate_current":2,"quota_limit":2000,"quota_current":12}},"time":1732000000}"#;

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    let json = |status, body| Canned::with(status, "application/json", body);
    Case {
        kind: "brave",
        answers: vec![("/res/v1/web/search", vec![json(200, RESULTS)])],
        // `PATH` stands in for a token (see `google::case`).
        spec: |root| {
            serde_json::json!({
                "base_url": root.join("res/v1/web/search").unwrap(),
                "key_env": "PATH",
            })
        },
        first: (
            "Asynchronous Programming in Rust",
            "https://rust-lang.github.io/async-book/",
        ),
        total: None,
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("q"), Some("rust search"));
            assert_eq!(asked.param("count"), Some("5"));
            assert_eq!(asked.param("offset"), Some("1"), "in pages of `count`");
            assert!(asked.header("x-subscription-token").is_some());
        },
        errors: vec![("/res/v1/web/search", json(422, BAD_TOKEN), "auth")],
        rate_limited: (
            "/res/v1/web/search",
            json(429, LIMITED).header("retry-after", "30"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use trawl_api::{Lang, Query};

    use super::*;
    use crate::doubles::{Canned, Double, settings};

    async fn engine(answers: Vec<Canned>, key: Option<&str>) -> (Double, ApiEngine<Brave>) {
        let double = Double::start(vec![("/res/v1/web/search", answers)]).await;
        let base = double.at("/res/v1/web/search");
        let key = ApiKey::new(key.map(str::to_owned), "TRAWL_BRAVE_TOKEN");
        let api = Brave {
            base: base.clone(),
            key,
        };
        (double, ApiEngine::new(&settings("brave"), &base, api).unwrap())
    }

    #[tokio::test]
    async fn sends_the_token_maps_the_options_and_reads_results() {
        let (double, brave) =
            engine(vec![Canned::json(RESULTS), Canned::json(NO_WEB)], Some("BSA-test")).await;
        let mut request = SearchRequest {
            page: 3,
            per_page: 10,
            ..SearchRequest::new(Query::parse("rust async").unwrap())
        };
        request.safe = Safe::Off;
        request.lang = Lang::parse_param(Some("en")).unwrap();
        request.time_range = Some(TimeRange::Month);
        let found = brave.search(&request).await.unwrap();
        let asked = &double.seen()[0];
        assert_eq!(asked.header("x-subscription-token"), Some("BSA-test"));
        for (name, value) in [
            ("count", "10"),
            ("offset", "2"),
            ("safesearch", "off"),
            ("search_lang", "en"),
            ("freshness", "pm"),
        ] {
            assert_eq!(asked.param(name), Some(value), "{name}");
        }
        let hit = &found.hits[1];
        assert_eq!(
            hit.snippet,
            "Tokio is an asynchronous runtime for the Rust programming language & more."
        );
        let marked: Vec<String> = hit
            .highlights
            .iter()
            .map(|[s, e]| hit.snippet.chars().skip(*s).take(e - s).collect())
            .collect();
        assert_eq!(marked, ["asynchronous", "Rust"]);
        assert!(brave.search(&request).await.unwrap().hits.is_empty());
    }

    #[tokio::test]
    async fn past_the_tenth_page_nothing_is_asked() {
        let (double, brave) = engine(vec![Canned::json(RESULTS)], Some("k")).await;
        let request = SearchRequest {
            page: 11,
            per_page: 20,
            ..SearchRequest::new(Query::parse("x").unwrap())
        };
        assert!(brave.search(&request).await.unwrap().hits.is_empty());
        assert!(double.seen().is_empty());
    }

    #[tokio::test]
    async fn a_429_suspends_for_its_retry_after() {
        let limited = Canned::with(429, "application/json", LIMITED).header("retry-after", "30");
        let (_, brave) = engine(vec![limited], Some("k")).await;
        let q = SearchRequest::new(Query::parse("x").unwrap());
        assert_eq!(brave.search(&q).await.unwrap_err().kind(), "rate_limited");
        let EngineError::Suspended { retry_after } = brave.search(&q).await.unwrap_err() else {
            panic!("not suspended");
        };
        assert!(retry_after > Duration::from_secs(25) && retry_after <= Duration::from_secs(30));
    }
}
