//! OpenAlex's works: `GET /works`.
//!
//! <https://docs.openalex.org/api-entities/works/search-works>. `search`,
//! the 1-based `page` and `per-page` (at most 200); the total is
//! `meta.count`. With `mailto` (an address to reach the operator) calls go
//! to the "polite pool", which is faster and steadier. Errors are
//! `{"error", "message"}`; too many calls a 429. The snippet is the
//! abstract, rebuilt from OpenAlex's inverted index, after the authors and
//! year. The time range maps to `filter=from_publication_date:…`.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trawl_api::SearchRequest;
use url::Url;

use super::markup::facts;
use super::http::{Api, ApiEngine, Call};
use super::settings::{
    Build, BuildError, EngineSettings, first_day, http_url, non_empty_opt, url,
};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// `[[engines]]` with `type = "openalex"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The works URL.
    #[serde(default = "default_base", deserialize_with = "http_url")]
    pub base_url: Url,
    /// An address OpenAlex may write to about this instance's calls: they
    /// go to the polite pool.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty_opt"
    )]
    pub mailto: Option<String>,
}

fn default_base() -> Url {
    url("https://api.openalex.org/works")
}

impl EngineSettings for Settings {
    const KIND: &'static str = "openalex";
    const CATEGORIES: &'static [&'static str] = &["science"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let home = self.base_url.clone();
        let api = OpenAlex {
            base: self.base_url,
            mailto: self.mailto,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &home, api)?))
    }
}

/// OpenAlex's side of the engine.
pub struct OpenAlex {
    base: Url,
    mailto: Option<String>,
}

const MAX_PER_PAGE: u32 = 200;

#[derive(Deserialize)]
struct Response {
    meta: Meta,
    #[serde(default)]
    results: Vec<Work>,
}

#[derive(Deserialize)]
struct Meta {
    count: Option<u64>,
}

#[derive(Deserialize)]
struct Work {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    doi: Option<String>,
    #[serde(default)]
    publication_year: Option<i32>,
    #[serde(default)]
    authorships: Vec<Authorship>,
    #[serde(default)]
    abstract_inverted_index: Option<std::collections::HashMap<String, Vec<usize>>>,
}

#[derive(Deserialize)]
struct Authorship {
    author: Author,
}

#[derive(Deserialize)]
struct Author {
    #[serde(default)]
    display_name: Option<String>,
}

/// `{"error": "...", "message": "..."}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: String,
    #[serde(default)]
    message: String,
}

/// An abstract from OpenAlex's word → positions index.
fn rebuild(index: &std::collections::HashMap<String, Vec<usize>>) -> String {
    let mut words: Vec<(usize, &str)> = index
        .iter()
        .flat_map(|(word, at)| at.iter().map(move |&i| (i, word.as_str())))
        .collect();
    words.sort_unstable();
    words.into_iter().map(|(_, w)| w).collect::<Vec<_>>().join(" ")
}

#[async_trait]
impl Api for OpenAlex {
    const KIND: &'static str = "openalex";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        let envelope: ErrorEnvelope = serde_json::from_slice(&answer.body).ok()?;
        let message = format!("{} {}", envelope.error, envelope.message);
        Some(match answer.status.as_u16() {
            429 => EngineError::RateLimited(message),
            403 => EngineError::Auth(message),
            status => EngineError::Http { status, message },
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
                .append_pair("search", request.query.as_str())
                .append_pair("page", &request.page.to_string())
                .append_pair("per-page", &request.per_page.min(MAX_PER_PAGE).to_string());
            if let Some(range) = request.time_range {
                query.append_pair("filter", &format!("from_publication_date:{}", first_day(range)));
            }
            if let Some(mailto) = &self.mailto {
                query.append_pair("mailto", mailto);
            }
        }
        let response: Response = call.get_json(url, &[]).await?;
        let count = response.results.len();
        let hits = response
            .results
            .into_iter()
            .enumerate()
            .map(|(i, work)| {
                let authors: Vec<String> = work
                    .authorships
                    .into_iter()
                    .filter_map(|a| a.author.display_name)
                    .take(5)
                    .collect();
                let summary = work
                    .abstract_inverted_index
                    .as_ref()
                    .map(rebuild)
                    .unwrap_or_default();
                let snippet = facts([
                    authors.join(", "),
                    work.publication_year.map(|y| y.to_string()).unwrap_or_default(),
                    summary,
                ]);
                EngineHit {
                    title: work.display_name.unwrap_or_else(|| work.id.clone()),
                    url: work.doi.unwrap_or(work.id),
                    snippet,
                    highlights: Vec::new(),
                    score: positional_score(i, count),
                    published: None,
                }
            })
            .collect();
        Ok(EngineResults {
            hits,
            total: response.meta.count,
        })
    }
}

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    const WORKS: &str = r#"{"meta":{"count":1204,"db_response_time_ms":31,"page":2,"per_page":5,"groups_count":null},"results":[{"id":"https://openalex.org/W4285719527","doi":"https://doi.org/10.1145/3510003.3510164","title":"Learning and programming challenges of Rust","display_name":"Learning and programming challenges of Rust","relevance_score":512.3,"publication_year":2022,"publication_date":"2022-05-21","type":"article","primary_location":{"is_oa":false,"landing_page_url":"https://doi.org/10.1145/3510003.3510164"},"authorships":[{"author_position":"first","author":{"id":"https://openalex.org/A5012345678","display_name":"Shuofei Zhu","orcid":null},"institutions":[]},{"author_position":"last","author":{"id":"https://openalex.org/A5087654321","display_name":"Ziyi Zhang","orcid":null},"institutions":[]}],"cited_by_count":57,"abstract_inverted_index":{"Rust":[0],"is":[1],"a":[2],"young":[3],"systems":[4],"language.":[5]}},{"id":"https://openalex.org/W2000000001","doi":null,"display_name":"A work without a DOI","publication_year":null,"authorships":[],"abstract_inverted_index":null}]}"#;
    Case {
        kind: "openalex",
        answers: vec![("/openalex/works", vec![Canned::json(WORKS)])],
        spec: |root| {
            serde_json::json!({
                "base_url": root.join("openalex/works").unwrap(),
                "mailto": "ops@example.org",
            })
        },
        first: (
            "Learning and programming challenges of Rust",
            "https://doi.org/10.1145/3510003.3510164",
        ),
        total: Some(1204),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("search"), Some("rust search"));
            assert_eq!(asked.param("page"), Some("2"));
            assert_eq!(asked.param("per-page"), Some("5"));
            assert_eq!(asked.param("mailto"), Some("ops@example.org"));
        },
        errors: vec![(
            "/openalex/works",
            Canned::with(
                400,
                "application/json",
                r#"{"error":"Invalid query parameters error.","message":"per-page is not a valid parameter. Valid parameters are: page, per-page, search, filter, sort, sample, seed, select, group-by, cursor, mailto, api_key."}"#,
            ),
            "http",
        )],
        rate_limited: (
            "/openalex/works",
            Canned::with(
                429,
                "application/json",
                r#"{"error":"Rate limit exceeded","message":"You have exceeded the rate limit of 10 requests per second. Please slow down."}"#,
            ),
        ),
    }
}
