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
                }
            })
            .collect();
        Ok(EngineResults { hits, total: None })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::Router;
    use axum::extract::Query as Params;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    use trawl_api::{Lang, Query};

    use super::*;
    use crate::doubles::{serve, settings};

    /// Shaped like a real `/res/v1/web/search` answer, trimmed.
    const RESULTS: &str = r#"{"type":"search","query":{"original":"rust async","more_results_available":true},"mixed":{"type":"mixed","main":[{"type":"web","index":0,"all":false}]},"web":{"type":"search","results":[{"title":"Asynchronous Programming in <strong>Rust</strong>","url":"https://rust-lang.github.io/async-book/","is_source_local":false,"description":"This book aims to be a thorough guide to <strong>asynchronous</strong> programming in <strong>Rust</strong>, from beginner to advanced.","age":"March 3, 2024","language":"en","family_friendly":true},{"title":"Tokio – an async runtime","url":"https://tokio.rs/","description":"Tokio is an <strong>asynchronous</strong> runtime for the <strong>Rust</strong> programming language &amp; more."}],"family_friendly":true}}"#;
    const NO_WEB: &str =
        r#"{"type":"search","query":{"original":"zzqx","more_results_available":false}}"#;
    const BAD_TOKEN: &str = r#"{"type":"ErrorResponse","error":{"id":"1e5a5ab6-7b1b-4b5c-8d1f-0c2f7f0e9a4b","status":422,"code":"SUBSCRIPTION_TOKEN_INVALID","detail":"The provided subscription token is invalid.","meta":{"component":"authentication"}},"time":1732000000}"#;
    const LIMITED: &str = r#"{"type":"ErrorResponse","error":{"id":"f2c1d7e0-1234-4c6a-9c2e-6a1b2c3d4e5f","status":429,"code":"RATE_LIMITED","detail":"Request rate limit exceeded for plan.","meta":{"plan":"Free","rate_limit":1,"rate_current":2,"quota_limit":2000,"quota_current":12}},"time":1732000000}"#;

    type Seen = Arc<Mutex<Vec<(HashMap<String, String>, Option<String>)>>>;

    async fn brave(answers: Vec<(u16, &'static str, Option<&'static str>)>) -> (Url, Seen) {
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let app = Router::new().route(
            "/res/v1/web/search",
            get(
                move |Params(params): Params<HashMap<String, String>>, headers: HeaderMap| {
                    let mut log = log.lock().unwrap();
                    let token = headers
                        .get("x-subscription-token")
                        .map(|v| v.to_str().unwrap().to_owned());
                    log.push((params, token));
                    let (status, body, retry_after) =
                        answers[(log.len() - 1).min(answers.len() - 1)];
                    async move {
                        let mut headers = vec![("content-type", "application/json")];
                        if let Some(after) = retry_after {
                            headers.push(("retry-after", after));
                        }
                        let mut response = axum::response::IntoResponse::into_response((
                            StatusCode::from_u16(status).unwrap(),
                            body,
                        ));
                        for (name, value) in headers {
                            response.headers_mut().insert(name, value.parse().unwrap());
                        }
                        response
                    }
                },
            ),
        );
        let url: Url = serve(app, "/res/v1/web/search").await;
        (url, seen)
    }

    fn engine(base: Url, key: Option<&str>) -> ApiEngine<Brave> {
        let key = ApiKey::new(key.map(str::to_owned), "TRAWL_BRAVE_TOKEN");
        ApiEngine::new(&settings("brave"), &base.clone(), Brave { base, key }).unwrap()
    }

    #[tokio::test]
    async fn sends_the_token_maps_the_options_and_reads_results() {
        let (base, seen) = brave(vec![(200, RESULTS, None), (200, NO_WEB, None)]).await;
        let brave = engine(base, Some("BSA-test"));
        let mut request = SearchRequest {
            page: 3,
            per_page: 10,
            ..SearchRequest::new(Query::parse("rust async").unwrap())
        };
        request.safe = Safe::Off;
        request.lang = Lang::parse_param(Some("en")).unwrap();
        request.time_range = Some(TimeRange::Month);
        let found = brave.search(&request).await.unwrap();
        let (params, token) = seen.lock().unwrap()[0].clone();
        assert_eq!(token.as_deref(), Some("BSA-test"));
        for (name, value) in [
            ("q", "rust async"),
            ("count", "10"),
            ("offset", "2"),
            ("safesearch", "off"),
            ("search_lang", "en"),
            ("freshness", "pm"),
        ] {
            assert_eq!(params[name], value, "{name}");
        }
        assert_eq!(found.total, None);
        assert_eq!(found.hits[0].title, "Asynchronous Programming in Rust");
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
        let (base, seen) = brave(vec![(200, RESULTS, None)]).await;
        let brave = engine(base, Some("k"));
        let request = SearchRequest {
            page: 11,
            per_page: 20,
            ..SearchRequest::new(Query::parse("x").unwrap())
        };
        assert!(brave.search(&request).await.unwrap().hits.is_empty());
        assert!(seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn errors_map_to_their_kinds_and_429_suspends_for_retry_after() {
        let (base, _) = brave(vec![(422, BAD_TOKEN, None), (429, LIMITED, Some("30"))]).await;
        let brave = engine(base, Some("bad"));
        let q = SearchRequest::new(Query::parse("x").unwrap());
        assert_eq!(brave.search(&q).await.unwrap_err().kind(), "auth");
        assert_eq!(brave.search(&q).await.unwrap_err().kind(), "rate_limited");
        let EngineError::Suspended { retry_after } = brave.search(&q).await.unwrap_err() else {
            panic!("not suspended");
        };
        assert!(retry_after > Duration::from_secs(25) && retry_after <= Duration::from_secs(30));
    }
}
