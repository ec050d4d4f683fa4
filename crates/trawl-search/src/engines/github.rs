//! GitHub's search: `GET /search/repositories` or `GET /search/issues`.
//!
//! <https://docs.github.com/en/rest/search/search>. `q`, the 1-based `page`
//! and `per_page` (at most 100), and never past the 1,000th result; the
//! total is `total_count`. `search = "repositories"` (the default) or
//! `"issues"` (issues and pull requests). A token (`key_env`, optional)
//! raises the limit from 10 to 30 searches a minute. A spent limit is a 403
//! or 429 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (epoch
//! seconds), or a secondary limit with `retry-after`; errors are
//! `{"message", "documentation_url"}`. The time range maps to
//! `pushed:>=…` (repositories) or `created:>=…` (issues).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trawl_api::SearchRequest;
use url::Url;

use super::markup::facts;
use super::http::{Api, ApiEngine, ApiKey, Call};
use super::settings::{Build, BuildError, EngineSettings, directory, first_day, http_url, non_empty_opt, url};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// What is searched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Searched {
    /// Repositories, by name, description and topics.
    #[default]
    Repositories,
    /// Issues and pull requests.
    Issues,
}

/// `[[engines]]` with `type = "github"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The API's root.
    #[serde(default = "default_base", deserialize_with = "http_url")]
    pub base_url: Url,
    /// `repositories` or `issues`.
    #[serde(default)]
    pub search: Searched,
    /// The environment variable holding a token (optional).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty_opt"
    )]
    pub key_env: Option<String>,
}

fn default_base() -> Url {
    url("https://api.github.com/")
}

impl EngineSettings for Settings {
    const KIND: &'static str = "github";
    const CATEGORIES: &'static [&'static str] = &["code"];
    /// GitHub allows 10 searches a minute without a token (30 with one: set `calls_per_minute`).
    const POLITE_CALLS_PER_MINUTE: Option<u32> = Some(10);

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let base = directory(self.base_url);
        let path = match self.search {
            Searched::Repositories => "search/repositories",
            Searched::Issues => "search/issues",
        };
        let token = ApiKey::optional(self.key_env.as_deref(), &build.http.name);
        let api = GitHub {
            search: base.join(path).expect("a relative path joins"),
            searched: self.search,
            token,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &base, api)?))
    }
}

/// GitHub's side of the engine.
pub struct GitHub {
    search: Url,
    searched: Searched,
    token: Option<String>,
}

const MAX_PER_PAGE: u32 = 100;
const MAX_RESULTS: usize = 1000;

#[derive(Deserialize)]
struct Response {
    total_count: Option<u64>,
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    html_url: String,
    // Repositories.
    #[serde(default)]
    full_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    stargazers_count: Option<u64>,
    #[serde(default)]
    language: Option<String>,
    // Issues.
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    comments: Option<u64>,
    #[serde(default)]
    body: Option<String>,
}

/// `{"message", "documentation_url"}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    message: String,
}

#[async_trait]
impl Api for GitHub {
    const KIND: &'static str = "github";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        let ErrorEnvelope { message } = serde_json::from_slice(&answer.body).ok()?;
        let spent = answer
            .headers
            .get("x-ratelimit-remaining")
            .is_some_and(|v| v == "0");
        Some(match answer.status.as_u16() {
            429 => EngineError::RateLimited(message),
            403 if spent || message.contains("rate limit") => EngineError::RateLimited(message),
            401 | 403 => EngineError::Auth(message),
            status => EngineError::Http { status, message },
        })
    }

    fn wait_of(&self, answer: &trawl_service::outbound::Answer) -> Option<Duration> {
        if answer.retry_after.is_some() {
            return answer.retry_after;
        }
        let reset: u64 = answer
            .headers
            .get("x-ratelimit-reset")?
            .to_str()
            .ok()?
            .parse()
            .ok()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
    }

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let per_page = request.per_page.min(MAX_PER_PAGE);
        if request.offset() >= MAX_RESULTS {
            return Ok(EngineResults::default());
        }
        let mut q = request.query.as_str().to_owned();
        if let Some(range) = request.time_range {
            let field = match self.searched {
                Searched::Repositories => "pushed",
                Searched::Issues => "created",
            };
            q.push_str(&format!(" {field}:>={}", first_day(range)));
        }
        let mut url = self.search.clone();
        url.query_pairs_mut()
            .append_pair("q", &q)
            .append_pair("page", &request.page.to_string())
            .append_pair("per_page", &per_page.to_string());
        let mut headers = vec![("x-github-api-version", "2022-11-28".to_owned())];
        if let Some(token) = &self.token {
            headers.push(("authorization", format!("Bearer {token}")));
        }
        let response: Response = call.get_json(url, &headers).await?;
        let count = response.items.len();
        let hits = response
            .items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let (title, snippet) = match self.searched {
                    Searched::Repositories => (
                        item.full_name.unwrap_or_else(|| item.html_url.clone()),
                        facts([
                            item.description.unwrap_or_default(),
                            item.language.unwrap_or_default(),
                            item.stargazers_count
                                .map(|s| format!("★ {s}"))
                                .unwrap_or_default(),
                        ]),
                    ),
                    Searched::Issues => (
                        item.title.unwrap_or_else(|| item.html_url.clone()),
                        facts([
                            item.state.unwrap_or_default(),
                            item.comments
                                .map(|c| format!("{c} comments"))
                                .unwrap_or_default(),
                            item.body
                                .map(|b| b.chars().take(300).collect())
                                .unwrap_or_default(),
                        ]),
                    ),
                };
                EngineHit {
                    title,
                    url: item.html_url,
                    snippet,
                    highlights: Vec::new(),
                    score: positional_score(i, count),
                    published: None,
                }
            })
            .collect();
        Ok(EngineResults {
            hits,
            total: response.total_count,
        })
    }
}

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    const REPOSITORIES: &str = r#"{"total_count":2417,"incomplete_results":false,"items":[{"id":44838949,"node_id":"MDEwOlJlcG9zaXRvcnk0NDgzODk0OQ==","name":"tantivy","full_name":"quickwit-oss/tantivy","private":false,"owner":{"login":"quickwit-oss","id":37983781,"type":"Organization"},"html_url":"https://github.com/quickwit-oss/tantivy","description":"Tantivy is a full-text search engine library inspired by Apache Lucene and written in Rust","fork":false,"url":"https://api.github.com/repos/quickwit-oss/tantivy","created_at":"2015-10-23T21:52:28Z","updated_at":"2024-05-01T08:00:00Z","pushed_at":"2024-04-30T12:00:00Z","stargazers_count":11234,"watchers_count":11234,"language":"Rust","forks_count":620,"open_issues_count":340,"topics":["search-engine","rust"],"score":1.0},{"full_name":"meilisearch/meilisearch","html_url":"https://github.com/meilisearch/meilisearch","description":null,"stargazers_count":44000,"language":"Rust","score":1.0}]}"#;
    Case {
        kind: "github",
        answers: vec![(
            "/github/search/repositories",
            vec![Canned::with(200, "application/json; charset=utf-8", REPOSITORIES)],
        )],
        spec: |root| serde_json::json!({"base_url": root.join("github/").unwrap()}),
        first: ("quickwit-oss/tantivy", "https://github.com/quickwit-oss/tantivy"),
        total: Some(2417),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("q"), Some("rust search"));
            assert_eq!(asked.param("page"), Some("2"));
            assert_eq!(asked.param("per_page"), Some("5"));
            assert_eq!(asked.header("x-github-api-version"), Some("2022-11-28"));
            assert_eq!(asked.header("authorization"), None, "no token configured");
        },
        errors: vec![
            (
                "/github/search/repositories",
                Canned::with(
                    422,
                    "application/json; charset=utf-8",
                    r#"{"message":"Validation Failed","errors":[{"resource":"Search","field":"q","code":"missing"}],"documentation_url":"https://docs.github.com/v3/search","status":"422"}"#,
                ),
                "http",
            ),
            (
                "/github/search/repositories",
                Canned::with(
                    401,
                    "application/json; charset=utf-8",
                    r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}"#,
                ),
                "auth",
            ),
        ],
        rate_limited: (
            "/github/search/repositories",
            Canned::with(
                403,
                "application/json; charset=utf-8",
                r#"{"message":"API rate limit exceeded for 203.0.113.7. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}"#,
            )
            .header("x-ratelimit-limit", "10")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", "4102444800"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use trawl_api::{Query, TimeRange};

    use super::*;
    use crate::doubles::{Canned, Double, settings};

    /// Shaped like `GET /search/issues?q=…`, trimmed.
    const ISSUES: &str = r#"{"total_count":3,"incomplete_results":false,"items":[{"url":"https://api.github.com/repos/quickwit-oss/tantivy/issues/2040","repository_url":"https://api.github.com/repos/quickwit-oss/tantivy","html_url":"https://github.com/quickwit-oss/tantivy/issues/2040","id":1,"number":2040,"title":"Phrase queries on a field without positions","user":{"login":"someone"},"state":"open","comments":4,"created_at":"2024-04-01T10:00:00Z","body":"When the field is indexed without positions, a phrase query…","score":1.0}]}"#;

    #[tokio::test]
    async fn searches_issues_with_a_token_and_a_date_qualifier() {
        let double = Double::start(vec![(
            "/api/v3/search/issues",
            vec![Canned::json(ISSUES)],
        )])
        .await;
        let mut build = Build {
            http: settings("gh"),
            local: None,
        };
        // `PATH` stands in for a token: set in every process.
        let engine = Settings {
            base_url: double.at("/api/v3"),
            search: Searched::Issues,
            key_env: Some("PATH".to_owned()),
        }
        .build(&mut build)
        .unwrap();
        let mut request = SearchRequest::new(Query::parse("phrase positions").unwrap());
        request.time_range = Some(TimeRange::Month);
        let found = engine.search(&request).await.unwrap();
        let asked = &double.seen()[0];
        let q = asked.param("q").unwrap();
        assert!(q.starts_with("phrase positions created:>="), "{q}");
        assert!(
            asked
                .header("authorization")
                .is_some_and(|a| a.starts_with("Bearer ")),
            "the token is sent"
        );
        let hit = &found.hits[0];
        assert_eq!(hit.title, "Phrase queries on a field without positions");
        assert_eq!(hit.url, "https://github.com/quickwit-oss/tantivy/issues/2040");
        assert!(hit.snippet.starts_with("open · 4 comments · When the field"), "{}", hit.snippet);
        assert_eq!(found.total, Some(3));
    }

    #[tokio::test]
    async fn never_asks_past_the_thousandth_result() {
        let double = Double::start(vec![]).await;
        let api = GitHub {
            search: double.at("/search/repositories"),
            searched: Searched::Repositories,
            token: None,
        };
        let engine = ApiEngine::new(&settings("gh"), &double.at("/"), api).unwrap();
        let request = SearchRequest {
            page: 11,
            per_page: 100,
            ..SearchRequest::new(Query::parse("x").unwrap())
        };
        assert!(engine.search(&request).await.unwrap().hits.is_empty());
        assert!(double.seen().is_empty());
    }
}
