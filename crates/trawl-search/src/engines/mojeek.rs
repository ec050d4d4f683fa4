//! Mojeek, an independent web index: `GET /search`.
//!
//! <https://www.mojeek.com/support/api/search/request_parameters.html>.
//! `q`, `api_key`, `fmt=json`, the 1-based start `s` and the count `t` (at
//! most 100); the total is `response.head.results`. Language maps to `lb`
//! (a boost, in capitals), safe search to `safe=1`, the time range to
//! `since=YYYYMMDD`. The API answers errors in its own envelope —
//! `{"response": {"status": "ERROR: …"}}` — a spent quota among them, which
//! suspends the engine for a minute.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trawl_api::{Safe, SearchRequest};
use url::Url;

use super::http::{Api, ApiEngine, ApiKey, Call};
use super::settings::{Build, BuildError, EngineSettings, first_day, http_url, non_empty, url};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// `[[engines]]` with `type = "mojeek"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The search URL.
    #[serde(default = "default_base", deserialize_with = "http_url")]
    pub base_url: Url,
    /// The environment variable holding the API key.
    #[serde(deserialize_with = "non_empty")]
    pub key_env: String,
}

fn default_base() -> Url {
    url("https://api.mojeek.com/search")
}

impl EngineSettings for Settings {
    const KIND: &'static str = "mojeek";
    const CATEGORIES: &'static [&'static str] = &["general"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let key = ApiKey::from_env(&self.key_env, &build.http.name);
        let home = self.base_url.clone();
        let api = Mojeek {
            base: self.base_url,
            key,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &home, api)?))
    }
}

/// Mojeek's side of the engine.
pub struct Mojeek {
    base: Url,
    key: ApiKey,
}

const MAX_T: u32 = 100;

#[derive(Deserialize)]
struct Answer {
    response: Response,
}

#[derive(Deserialize)]
struct Response {
    status: String,
    #[serde(default)]
    head: Option<Head>,
    #[serde(default)]
    results: Vec<Found>,
}

#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    results: Option<u64>,
}

#[derive(Deserialize)]
struct Found {
    url: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    desc: String,
}

/// An `ERROR: …` status, from an answer of HTTP status `http`, read into
/// its kind.
fn status_error(status: &str, http: u16) -> EngineError {
    let lower = status.to_ascii_lowercase();
    if lower.contains("key") {
        EngineError::Auth(status.to_owned())
    } else if lower.contains("limit") || lower.contains("quota") {
        EngineError::RateLimited(status.to_owned())
    } else {
        EngineError::Http {
            status: http,
            message: status.to_owned(),
        }
    }
}

#[async_trait]
impl Api for Mojeek {
    const KIND: &'static str = "mojeek";

    fn required_key(&self) -> Option<&ApiKey> {
        Some(&self.key)
    }

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        let Answer { response } = serde_json::from_slice(&answer.body).ok()?;
        Some(status_error(&response.status, answer.status.as_u16()))
    }

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let key = self.key.get()?;
        let mut url = self.base.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("q", request.query.as_str())
                .append_pair("api_key", key)
                .append_pair("fmt", "json")
                .append_pair("s", &(request.offset() + 1).to_string())
                .append_pair("t", &request.per_page.min(MAX_T).to_string());
            if let Some(lang) = request.lang {
                query.append_pair("lb", &lang.as_str().to_ascii_uppercase());
            }
            if request.safe != Safe::Off {
                query.append_pair("safe", "1");
            }
            if let Some(range) = request.time_range {
                query.append_pair("since", &first_day(range).replace('-', ""));
            }
        }
        let Answer { response } = call.get_json(url, &[]).await?;
        if response.status != "OK" {
            let error = status_error(&response.status, 200);
            if matches!(error, EngineError::RateLimited(_)) {
                call.suspend(Duration::from_secs(60));
            }
            return Err(error);
        }
        let count = response.results.len();
        let hits = response
            .results
            .into_iter()
            .enumerate()
            .map(|(i, found)| EngineHit {
                title: if found.title.is_empty() {
                    found.url.clone()
                } else {
                    found.title
                },
                url: found.url,
                snippet: found.desc,
                highlights: Vec::new(),
                score: positional_score(i, count),
                published: None,
            })
            .collect();
        Ok(EngineResults {
            hits,
            total: response.head.and_then(|h| h.results),
        })
    }
}

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    const SEARCH: &str = r#"{"response":{"status":"OK","head":{"query":"rust search","start":6,"return":5,"results":21870,"timer":0.084,"date":"Mon, 01 May 2024 12:00:00 GMT"},"results":[{"url":"https://www.rust-lang.org/","title":"Rust Programming Language","desc":"A language empowering everyone to build reliable and efficient software.","date":1714564800,"cdatetimestamp":1714564800}]}}"#;
    Case {
        kind: "mojeek",
        answers: vec![("/mojeek/search", vec![Canned::json(SEARCH)])],
        // `PATH` is set in every process and its value does not matter to
        // the double: it stands in for a key.
        spec: |root| {
            serde_json::json!({
                "base_url": root.join("mojeek/search").unwrap(),
                "key_env": "PATH",
            })
        },
        first: ("Rust Programming Language", "https://www.rust-lang.org/"),
        total: Some(21870),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("q"), Some("rust search"));
            assert_eq!(asked.param("fmt"), Some("json"));
            assert_eq!(asked.param("s"), Some("6"));
            assert_eq!(asked.param("t"), Some("5"));
            assert!(asked.param("api_key").is_some_and(|k| !k.is_empty()));
        },
        errors: vec![(
            "/mojeek/search",
            Canned::json(r#"{"response":{"status":"ERROR: Invalid API key"}}"#),
            "auth",
        )],
        rate_limited: (
            "/mojeek/search",
            Canned::json(r#"{"response":{"status":"ERROR: Daily query limit exceeded"}}"#),
        ),
    }
}
