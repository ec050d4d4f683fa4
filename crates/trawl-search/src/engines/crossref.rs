//! Crossref's works: `GET /works`.
//!
//! <https://api.crossref.org/swagger-ui/index.html>. `query`, `rows` (at
//! most 1,000) and `offset` (at most 10,000); the total is
//! `message.total-results`. With `mailto` calls go to the "polite pool".
//! Errors are `{"status": "failed", "message-type": "...", "message": …}`;
//! too many calls a 429 (the limits are in `x-rate-limit-*` headers). The
//! snippet is the authors, the container (journal) and the year, then the
//! abstract (JATS, reduced to text). The time range maps to
//! `filter=from-pub-date:…`.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trawl_api::SearchRequest;
use url::Url;

use super::http::{Api, ApiEngine, Call};
use super::markup::{facts, text_with_marks};
use super::settings::{
    Build, BuildError, EngineSettings, first_day, http_url, non_empty_opt, url,
};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// `[[engines]]` with `type = "crossref"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The works URL.
    #[serde(default = "default_base", deserialize_with = "http_url")]
    pub base_url: Url,
    /// An address Crossref may write to: calls go to the polite pool.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty_opt"
    )]
    pub mailto: Option<String>,
}

fn default_base() -> Url {
    url("https://api.crossref.org/works")
}

impl EngineSettings for Settings {
    const KIND: &'static str = "crossref";
    const CATEGORIES: &'static [&'static str] = &["science"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let home = self.base_url.clone();
        let api = Crossref {
            base: self.base_url,
            mailto: self.mailto,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &home, api)?))
    }
}

/// Crossref's side of the engine.
pub struct Crossref {
    base: Url,
    mailto: Option<String>,
}

const MAX_ROWS: u32 = 1000;
const MAX_OFFSET: usize = 10_000;

#[derive(Deserialize)]
struct Response {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    #[serde(rename = "total-results")]
    total: Option<u64>,
    #[serde(default)]
    items: Vec<Work>,
}

#[derive(Deserialize)]
struct Work {
    #[serde(rename = "DOI")]
    doi: String,
    #[serde(rename = "URL", default)]
    url: Option<String>,
    #[serde(default)]
    title: Vec<String>,
    #[serde(default)]
    author: Vec<Author>,
    #[serde(rename = "container-title", default)]
    container: Vec<String>,
    #[serde(default)]
    published: Option<Published>,
    #[serde(rename = "abstract", default)]
    summary: Option<String>,
}

#[derive(Deserialize)]
struct Author {
    #[serde(default)]
    given: Option<String>,
    #[serde(default)]
    family: Option<String>,
}

#[derive(Deserialize)]
struct Published {
    #[serde(rename = "date-parts")]
    parts: Vec<Vec<Option<i32>>>,
}

/// `{"status": "failed", "message-type": "validation-failure", "message":
/// [{"type", "value", "message"}]}` (or `message` a string).
#[derive(Deserialize)]
struct Failure {
    status: String,
    #[serde(rename = "message-type", default)]
    kind: String,
    #[serde(default)]
    message: serde_json::Value,
}

#[async_trait]
impl Api for Crossref {
    const KIND: &'static str = "crossref";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        let failure: Failure = serde_json::from_slice(&answer.body).ok()?;
        if failure.status != "failed" {
            return None;
        }
        let detail = match &failure.message {
            serde_json::Value::Array(problems) => problems
                .iter()
                .filter_map(|p| p.get("message").and_then(|m| m.as_str()))
                .collect::<Vec<_>>()
                .join("; "),
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let message = format!("{} ({})", detail, failure.kind);
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
        let offset = request.offset();
        if offset > MAX_OFFSET {
            return Ok(EngineResults::default());
        }
        let mut url = self.base.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("query", request.query.as_str())
                .append_pair("rows", &request.per_page.min(MAX_ROWS).to_string())
                .append_pair("offset", &offset.to_string());
            if let Some(range) = request.time_range {
                query.append_pair("filter", &format!("from-pub-date:{}", first_day(range)));
            }
            if let Some(mailto) = &self.mailto {
                query.append_pair("mailto", mailto);
            }
        }
        let response: Response = call.get_json(url, &[]).await?;
        let count = response.message.items.len();
        let hits = response
            .message
            .items
            .into_iter()
            .enumerate()
            .map(|(i, work)| {
                let authors: Vec<String> = work
                    .author
                    .iter()
                    .take(5)
                    .map(|a| {
                        [a.given.as_deref(), a.family.as_deref()]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect();
                let year = work
                    .published
                    .and_then(|p| p.parts.first().and_then(|d| d.first().copied().flatten()))
                    .map(|y| y.to_string());
                let summary = work
                    .summary
                    .map(|jats| text_with_marks(&jats, |_| false).0)
                    .unwrap_or_default();
                let snippet = facts([
                    authors.join(", "),
                    work.container.first().cloned().unwrap_or_default(),
                    year.unwrap_or_default(),
                    summary,
                ]);
                EngineHit {
                    title: work.title.first().cloned().unwrap_or_else(|| work.doi.clone()),
                    url: work
                        .url
                        .unwrap_or_else(|| format!("https://doi.org/{}", work.doi)),
                    snippet,
                    highlights: Vec::new(),
                    score: positional_score(i, count),
                    published: None,
                }
            })
            .collect();
        Ok(EngineResults {
            hits,
            total: response.message.total,
        })
    }
}

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    const WORKS: &str = r#"{"status":"ok","message-type":"work-list","message-version":"1.0.0","message":{"facets":{},"total-results":88211,"items":[{"indexed":{"date-parts":[[2024,3,1]],"date-time":"2024-03-01T10:00:00Z","timestamp":1709287200000},"publisher":"ACM","DOI":"10.1145\/3510003.3510164","type":"proceedings-article","title":["Learning and programming challenges of rust"],"author":[{"given":"Shuofei","family":"Zhu","sequence":"first","affiliation":[]},{"given":"Ziyi","family":"Zhang","sequence":"additional","affiliation":[]}],"container-title":["Proceedings of the 44th International Conference on Software Engineering"],"published":{"date-parts":[[2022,5,21]]},"abstract":"<jats:p>Rust is a young systems programming language.<\/jats:p>","URL":"https:\/\/doi.org\/10.1145\/3510003.3510164","score":41.2},{"DOI":"10.1000\/no-title","type":"journal-article","title":[],"URL":"https:\/\/doi.org\/10.1000\/no-title"}],"items-per-page":5,"query":{"start-index":5,"search-terms":"rust search"}}}"#;
    const INVALID: &str = r#"{"status":"failed","message-type":"validation-failure","message":[{"type":"integer-not-valid","value":"x","message":"Integer specified as x but must be a positive integer less than or equal to 1000."}]}"#;
    Case {
        kind: "crossref",
        answers: vec![("/crossref/works", vec![Canned::json(WORKS)])],
        spec: |root| serde_json::json!({"base_url": root.join("crossref/works").unwrap()}),
        first: (
            "Learning and programming challenges of rust",
            "https://doi.org/10.1145/3510003.3510164",
        ),
        total: Some(88211),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("query"), Some("rust search"));
            assert_eq!(asked.param("rows"), Some("5"));
            assert_eq!(asked.param("offset"), Some("5"));
        },
        errors: vec![(
            "/crossref/works",
            Canned::with(400, "application/json", INVALID),
            "http",
        )],
        rate_limited: (
            "/crossref/works",
            Canned::with(429, "text/plain", "Too Many Requests")
                .header("x-rate-limit-limit", "50")
                .header("x-rate-limit-interval", "1s"),
        ),
    }
}
