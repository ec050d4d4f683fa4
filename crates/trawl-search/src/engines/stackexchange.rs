//! Stack Exchange sites (Stack Overflow, Super User, …):
//! `GET /2.3/search/advanced`.
//!
//! <https://api.stackexchange.com/docs/advanced-search>. `site`, `q`, the
//! 1-based `page` and `pagesize` (at most 100), by relevance. An optional
//! key (`key_env`) raises the daily quota. Answers say `backoff` (seconds)
//! when the client must wait before calling the same method again: the
//! engine is then suspended that long. Titles arrive HTML-escaped; the
//! snippet is the question's tags, score and answer count. No language,
//! safe-search or date filter is mapped (`fromdate` could be; later).

use std::time::Duration;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trawl_api::{SearchRequest};
use url::Url;

use super::http::{Api, ApiEngine, ApiKey, Call};
use super::markup::text_with_marks;
use super::settings::{Build, BuildError, EngineSettings, http_url, non_empty, non_empty_opt, url};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

const MAX_PAGESIZE: u32 = 100;

/// `[[engines]]` with `type = "stackexchange"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The API's advanced-search URL.
    #[serde(default = "default_base", deserialize_with = "http_url")]
    pub base_url: Url,
    /// Which site, e.g. `stackoverflow`, `superuser`.
    #[serde(deserialize_with = "non_empty")]
    pub site: String,
    /// The environment variable holding a key, which raises the daily quota.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty_opt"
    )]
    pub key_env: Option<String>,
}

fn default_base() -> Url {
    url("https://api.stackexchange.com/2.3/search/advanced")
}

impl EngineSettings for Settings {
    const KIND: &'static str = "stackexchange";
    const CATEGORIES: &'static [&'static str] = &["code"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let key = ApiKey::optional(self.key_env.as_deref(), &build.http.name);
        let home = self.base_url.clone();
        let api = StackExchange {
            base: self.base_url,
            site: self.site,
            key,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &home, api)?))
    }
}

/// A Stack Exchange site, the engine's side.
pub struct StackExchange {
    base: Url,
    site: String,
    key: Option<String>,
}


#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    items: Vec<Question>,
    #[serde(default)]
    backoff: Option<u64>,
    #[serde(default)]
    total: Option<u64>,
}

#[derive(Deserialize)]
struct Question {
    title: String,
    link: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    score: i64,
    #[serde(default)]
    answer_count: u64,
    #[serde(default)]
    is_answered: bool,
    #[serde(default)]
    creation_date: Option<i64>,
}

/// `{"error_id", "error_message", "error_name"}`, with a 400.
#[derive(Deserialize)]
struct ApiError {
    error_id: u32,
    #[serde(default)]
    error_message: String,
    #[serde(default)]
    error_name: String,
}

#[async_trait]
impl Api for StackExchange {
    const KIND: &'static str = "stackexchange";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        let error: ApiError = serde_json::from_slice(&answer.body).ok()?;
        let message = format!("{} ({})", error.error_message, error.error_name);
        Some(match error.error_id {
            // throttle_violation: "more requests available in N seconds"
            502 => EngineError::RateLimited(message),
            401..=403 => EngineError::Auth(message),
            _ => EngineError::Http {
                status: answer.status.as_u16(),
                message,
            },
        })
    }

    fn wait_of(&self, answer: &trawl_service::outbound::Answer) -> Option<Duration> {
        let error: ApiError = serde_json::from_slice(&answer.body).ok()?;
        let wait = error
            .error_message
            .split_whitespace()
            .find_map(|w| w.parse::<u64>().ok())
            .unwrap_or(60);
        Some(Duration::from_secs(wait))
    }

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let pagesize = request.per_page.min(MAX_PAGESIZE);
        let mut url = self.base.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("site", &self.site)
                .append_pair("q", request.query.as_str())
                .append_pair("page", &request.page.to_string())
                .append_pair("pagesize", &pagesize.to_string())
                .append_pair("order", "desc")
                .append_pair("sort", "relevance");
            if let Some(key) = &self.key {
                query.append_pair("key", key);
            }
        }
        let response: Response = call.get_json(url, &[]).await?;
        if let Some(backoff) = response.backoff {
            call.suspend(Duration::from_secs(backoff));
        }
        let count = response.items.len();
        let hits = response
            .items
            .into_iter()
            .enumerate()
            .map(|(i, q)| EngineHit {
                title: text_with_marks(&q.title, |_| false).0,
                url: q.link,
                snippet: format!(
                    "{} · score {} · {} answers{}",
                    q.tags.join(", "),
                    q.score,
                    q.answer_count,
                    if q.is_answered { " · answered" } else { "" }
                ),
                highlights: Vec::new(),
                score: positional_score(i, count),
                published: q.creation_date.and_then(trawl_api::dates::from_unix),
            })
            .collect();
        Ok(EngineResults {
            hits,
            total: response.total,
        })
    }

}

/// Shaped like `api.stackexchange.com/2.3/search/advanced?site=stackoverflow&q=…`.
#[cfg(any(test, feature = "doubles"))]
const QUESTIONS: &str = r#"{"items":[{"tags":["rust","async-await","tokio"],"owner":{"account_id":1,"reputation":100,"user_id":1,"user_type":"registered","display_name":"a"},"is_answered":true,"view_count":51234,"accepted_answer_id":2,"answer_count":3,"score":87,"last_activity_date":1700000000,"creation_date":1600000000,"question_id":63434977,"content_license":"CC BY-SA 4.0","link":"https://stackoverflow.com/questions/63434977/how-to-use-tokio-join","title":"How can I use tokio::join! with a &quot;Vec&quot; of futures?"}],"has_more":true,"quota_max":300,"quota_remaining":297}"#;
#[cfg(any(test, feature = "doubles"))]
const THROTTLED: &str = r#"{"error_id":502,"error_message":"too many requests from this IP, more requests available in 82643 seconds","error_name":"throttle_violation"}"#;

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    Case {
        kind: "stackexchange",
        answers: vec![(
            "/se/2.3/search/advanced",
            vec![Canned::with(200, "application/json; charset=utf-8", QUESTIONS)],
        )],
        spec: |root| {
            serde_json::json!({
                "base_url": root.join("se/2.3/search/advanced").unwrap(),
                "site": "stackoverflow",
            })
        },
        first: (
            "How can I use tokio::join! with a \"Vec\" of futures?",
            "https://stackoverflow.com/questions/63434977/how-to-use-tokio-join",
        ),
        total: None,
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("site"), Some("stackoverflow"));
            assert_eq!(asked.param("q"), Some("rust search"));
            assert_eq!(asked.param("page"), Some("2"));
            assert_eq!(asked.param("pagesize"), Some("5"));
            assert_eq!(asked.param("key"), None, "no key configured");
        },
        errors: vec![(
            "/se/2.3/search/advanced",
            Canned::with(
                400,
                "application/json; charset=utf-8",
                r#"{"error_id":403,"error_message":"`key` is not valid for passed access_token, token not found.","error_name":"access_denied"}"#,
            ),
            "auth",
        )],
        rate_limited: (
            "/se/2.3/search/advanced",
            Canned::with(400, "application/json; charset=utf-8", THROTTLED),
        ),
    }
}

#[cfg(test)]
mod tests {
    use trawl_api::Query;

    use super::*;
    use crate::doubles::{Canned, Double, settings};

    async fn engine(answer: Canned, key: Option<&str>) -> (Double, ApiEngine<StackExchange>) {
        let double = Double::start(vec![("/2.3/search/advanced", vec![answer])]).await;
        let base = double.at("/2.3/search/advanced");
        let api = StackExchange {
            base: base.clone(),
            site: "stackoverflow".into(),
            key: key.map(str::to_owned),
        };
        (double, ApiEngine::new(&settings("so"), &base, api).unwrap())
    }

    #[tokio::test]
    async fn sends_the_key_caps_the_page_and_honours_backoff() {
        let with_backoff = QUESTIONS.replace(r#""quota_remaining":297}"#, r#""quota_remaining":297,"backoff":10}"#);
        let (double, so) = engine(Canned::json(with_backoff), Some("k3y")).await;
        let request = SearchRequest {
            page: 2,
            per_page: 150,
            ..SearchRequest::new(Query::parse("tokio join").unwrap())
        };
        let found = so.search(&request).await.unwrap();
        let asked = &double.seen()[0];
        assert_eq!(asked.param("pagesize"), Some("100"));
        assert_eq!(asked.param("key"), Some("k3y"));
        assert_eq!(
            found.hits[0].snippet,
            "rust, async-await, tokio · score 87 · 3 answers · answered"
        );
        // `backoff: 10`: not asked again for 10 s.
        let EngineError::Suspended { retry_after } = so.search(&request).await.unwrap_err() else {
            panic!("backoff not honoured");
        };
        assert!(retry_after <= Duration::from_secs(10) && retry_after > Duration::from_secs(8));
        assert_eq!(double.seen().len(), 1);
    }

    #[tokio::test]
    async fn a_throttle_violation_suspends_for_as_long_as_it_says() {
        let (_, so) = engine(Canned::with(400, "application/json", THROTTLED), None).await;
        let q = SearchRequest::new(Query::parse("x").unwrap());
        assert_eq!(so.search(&q).await.unwrap_err().kind(), "rate_limited");
        let EngineError::Suspended { retry_after } = so.search(&q).await.unwrap_err() else {
            panic!("not suspended");
        };
        assert!(retry_after > Duration::from_secs(82_000));
    }
}
