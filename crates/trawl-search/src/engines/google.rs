//! Google's Custom Search JSON API: `GET /customsearch/v1`.
//!
//! <https://developers.google.com/custom-search/v1/reference/rest/v1/cse/list>.
//! Needs an API key and a search engine id (`cx`). At most 10 results a
//! call (`num`), from the 1-based `start`, and never past the 100th result
//! (`start + num ≤ 101`). Language maps to `lr=lang_xx`, safe search to
//! `safe=active|off`, the time range to `dateRestrict=d1|w1|m1|y1`.
//!
//! Google closed this API to new customers, and ends it for existing ones
//! on 1 January 2027.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trawl_api::{Safe, SearchRequest, TimeRange};
use url::Url;

use super::http::{Api, ApiEngine, ApiKey, Call, by_status};
use super::markup::text_with_marks;
use super::settings::{Build, BuildError, EngineSettings, http_url, non_empty, url};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// Results Google serves for one query, at most.
const MAX_RESULTS: usize = 100;
/// Results in one call, at most.
const MAX_NUM: usize = 10;

/// `[[engines]]` with `type = "google"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The API's URL.
    #[serde(default = "default_base", deserialize_with = "http_url")]
    pub base_url: Url,
    /// The environment variable holding the API key.
    #[serde(deserialize_with = "non_empty")]
    pub key_env: String,
    /// The programmable search engine's id.
    #[serde(deserialize_with = "non_empty")]
    pub cx: String,
}

fn default_base() -> Url {
    url("https://www.googleapis.com/customsearch/v1")
}

impl EngineSettings for Settings {
    const KIND: &'static str = "google";
    const CATEGORIES: &'static [&'static str] = &["general"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let key = ApiKey::from_env(&self.key_env, &build.http.name);
        let home = self.base_url.clone();
        let api = Google {
            base: self.base_url,
            key,
            cx: self.cx,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &home, api)?))
    }
}

/// Google's side of the engine.
pub struct Google {
    base: Url,
    /// `None`: the configured environment variable is not set.
    key: ApiKey,
    cx: String,
}


#[derive(Deserialize)]
struct Response {
    #[serde(rename = "searchInformation")]
    search_information: Option<SearchInformation>,
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct SearchInformation {
    /// A decimal string.
    #[serde(rename = "totalResults")]
    total_results: String,
}

#[derive(Deserialize)]
struct Item {
    title: String,
    link: String,
    /// Plain text.
    #[serde(default)]
    snippet: String,
    /// The snippet as HTML, matches in `<b>`.
    #[serde(default, rename = "htmlSnippet")]
    html_snippet: Option<String>,
}

/// `{"error": {"code", "message", "status"}}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: u16,
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
}

fn error_of(answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
    let ErrorEnvelope { error } = serde_json::from_slice(&answer.body).ok()?;
    let message = format!("{} ({})", error.message, error.status);
    Some(match (error.code, error.status.as_str()) {
        (429, _) | (_, "RESOURCE_EXHAUSTED") => EngineError::RateLimited(message),
        (400, "INVALID_ARGUMENT") if error.message.contains("API key") => {
            EngineError::Auth(message)
        }
        (401 | 403, _) | (_, "PERMISSION_DENIED") => EngineError::Auth(message),
        _ => by_status(answer),
    })
}

#[async_trait]
impl Api for Google {
    const KIND: &'static str = "google";

    fn required_key(&self) -> Option<&ApiKey> {
        Some(&self.key)
    }

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        error_of(answer)
    }

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let key = self.key.get()?;
        let offset = request.offset();
        if offset >= MAX_RESULTS {
            return Ok(EngineResults::default());
        }
        let num = (request.per_page as usize)
            .min(MAX_NUM)
            .min(MAX_RESULTS - offset);
        let mut url = self.base.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("key", key)
                .append_pair("cx", &self.cx)
                .append_pair("q", request.query.as_str())
                .append_pair("num", &num.to_string())
                .append_pair("start", &(offset + 1).to_string())
                .append_pair(
                    "safe",
                    match request.safe {
                        Safe::Off => "off",
                        Safe::Moderate | Safe::Strict => "active",
                    },
                );
            if let Some(lang) = request.lang {
                query.append_pair("lr", &format!("lang_{lang}"));
            }
            if let Some(range) = request.time_range {
                query.append_pair(
                    "dateRestrict",
                    match range {
                        TimeRange::Day => "d1",
                        TimeRange::Week => "w1",
                        TimeRange::Month => "m1",
                        TimeRange::Year => "y1",
                    },
                );
            }
        }
        let response: Response = call.get_json(url, &[]).await?;
        let count = response.items.len();
        let hits = response
            .items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let (snippet, highlights) = match &item.html_snippet {
                    Some(html) => text_with_marks(html, |tag| tag == "b"),
                    None => (item.snippet, Vec::new()),
                };
                EngineHit {
                    // Plain text (`htmlTitle` is the marked-up one).
                    title: item.title,
                    url: item.link,
                    snippet,
                    highlights,
                    score: positional_score(i, count),
                    published: None,
                }
            })
            .collect();
        Ok(EngineResults {
            hits,
            total: response
                .search_information
                .and_then(|info| info.total_results.parse().ok()),
        })
    }

}

/// Shaped like a real `customsearch/v1` answer (fields trimmed to those
/// read, plus a few that are not).
#[cfg(any(test, feature = "doubles"))]
const RESULTS: &str = r#"{
      "kind": "customsearch#search",
      "queries": {"request": [{"totalResults": "2340000", "count": 2, "startIndex": 11}]},
      "searchInformation": {"searchTime": 0.31, "formattedTotalResults": "2,340,000", "totalResults": "2340000"},
      "items": [
        {"kind": "customsearch#result", "title": "CREATE INDEX - PostgreSQL Documentation",
         "htmlTitle": "<b>CREATE INDEX</b> - PostgreSQL Documentation",
         "link": "https://www.postgresql.org/docs/current/sql-createindex.html",
         "snippet": "CREATE INDEX constructs an index on the specified column(s)...",
         "htmlSnippet": "<b>CREATE INDEX</b> constructs an <b>index</b> on the specified column(s)&nbsp;..."},
        {"kind": "customsearch#result", "title": "Ünïcode & <tricks>",
         "link": "https://example.org/ü",
         "snippet": "plain only"}
      ]
    }"#;

#[cfg(any(test, feature = "doubles"))]
const BAD_KEY: &str = r#"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "errors": [{"message": "API key not valid. Please pass a valid API key.", "domain": "global", "reason": "badRequest"}], "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}"#;

#[cfg(any(test, feature = "doubles"))]
const FORBIDDEN: &str = r#"{"error": {"code": 403, "message": "This project does not have the access to Custom Search JSON API.", "errors": [{"message": "This project does not have the access to Custom Search JSON API.", "domain": "global", "reason": "forbidden"}], "status": "PERMISSION_DENIED"}}"#;

#[cfg(any(test, feature = "doubles"))]
const QUOTA: &str = r#"{"error": {"code": 429, "message": "Quota exceeded for quota metric 'Queries' and limit 'Queries per day' of service 'customsearch.googleapis.com' for consumer 'project_number:123'.", "errors": [{"message": "Quota exceeded", "domain": "global", "reason": "rateLimitExceeded"}], "status": "RESOURCE_EXHAUSTED"}}"#;

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    let json = |status, body| Canned::with(status, "application/json; charset=UTF-8", body);
    Case {
        kind: "google",
        answers: vec![("/customsearch/v1", vec![json(200, RESULTS)])],
        // `PATH` is set in every process and its value does not matter to
        // the double: it stands in for a key.
        spec: |root| {
            serde_json::json!({
                "base_url": root.join("customsearch/v1").unwrap(),
                "key_env": "PATH",
                "cx": "0123456789abcdef0",
            })
        },
        first: (
            "CREATE INDEX - PostgreSQL Documentation",
            "https://www.postgresql.org/docs/current/sql-createindex.html",
        ),
        total: Some(2_340_000),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("cx"), Some("0123456789abcdef0"));
            assert_eq!(asked.param("q"), Some("rust search"));
            assert_eq!(asked.param("num"), Some("5"));
            assert_eq!(asked.param("start"), Some("6"));
            assert!(asked.param("key").is_some_and(|k| !k.is_empty()));
        },
        errors: vec![
            ("/customsearch/v1", json(400, BAD_KEY), "auth"),
            ("/customsearch/v1", json(403, FORBIDDEN), "auth"),
        ],
        rate_limited: ("/customsearch/v1", json(429, QUOTA)),
    }
}

#[cfg(test)]
mod tests {
    use trawl_api::{Lang, Query};

    use super::*;
    use crate::doubles::{Double, settings};

    async fn engine(key: Option<&str>) -> (Double, ApiEngine<Google>) {
        let double = Double::start(case().answers).await;
        let base = double.at("/customsearch/v1");
        let api = Google {
            base: base.clone(),
            key: ApiKey::new(key.map(str::to_owned), "TRAWL_GOOGLE_KEY"),
            cx: "0123456789abcdef0".into(),
        };
        (double, ApiEngine::new(&settings("google"), &base, api).unwrap())
    }

    #[tokio::test]
    async fn maps_paging_language_safety_and_time_and_reads_results() {
        let (double, google) = engine(Some("AIza-test")).await;
        let mut request = SearchRequest {
            page: 2,
            per_page: 25,
            ..SearchRequest::new(Query::parse("create index").unwrap())
        };
        request.safe = Safe::Strict;
        request.lang = Lang::parse_param(Some("de")).unwrap();
        request.time_range = Some(TimeRange::Week);
        let found = google.search(&request).await.unwrap();
        let asked = &double.seen()[0];
        for (name, value) in [
            ("key", "AIza-test"),
            ("num", "10"),
            ("start", "26"),
            ("safe", "active"),
            ("lr", "lang_de"),
            ("dateRestrict", "w1"),
        ] {
            assert_eq!(asked.param(name), Some(value), "{name}");
        }
        let first = &found.hits[0];
        assert_eq!(
            first.snippet,
            "CREATE INDEX constructs an index on the specified column(s) ..."
        );
        let marked: Vec<String> = first
            .highlights
            .iter()
            .map(|[s, e]| first.snippet.chars().skip(*s).take(e - s).collect())
            .collect();
        assert_eq!(marked, ["CREATE INDEX", "index"]);
        assert_eq!(found.hits[1].title, "Ünïcode & <tricks>");
        assert_eq!(found.hits[1].snippet, "plain only");
    }

    #[tokio::test]
    async fn never_asks_past_the_hundredth_result() {
        let (double, google) = engine(Some("k")).await;
        let request = |page, per_page| SearchRequest {
            page,
            per_page,
            ..SearchRequest::new(Query::parse("x").unwrap())
        };
        google.search(&request(10, 10)).await.unwrap();
        let asked = &double.seen()[0];
        assert_eq!(
            (asked.param("start"), asked.param("num")),
            (Some("91"), Some("10"))
        );
        let beyond = google.search(&request(11, 10)).await.unwrap();
        assert!(beyond.hits.is_empty());
        assert_eq!(double.seen().len(), 1, "page 11 is not asked for");
    }

    #[tokio::test]
    async fn a_missing_key_is_said_without_calling() {
        let (double, keyless) = engine(None).await;
        let q = SearchRequest::new(Query::parse("x").unwrap());
        let err = keyless.search(&q).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "refused the credentials: environment variable TRAWL_GOOGLE_KEY is not set"
        );
        assert!(double.seen().is_empty());
        assert!(!keyless.readiness().await.ok);
    }
}
