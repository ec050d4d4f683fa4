//! Hacker News, through Algolia's search API: `GET /api/v1/search`.
//!
//! <https://hn.algolia.com/api>. `query`, the 0-based `page` and
//! `hitsPerPage` (stories only: `tags=story`); the total is `nbHits`. The
//! time range maps to `numericFilters=created_at_i>…`; there is no language
//! or safe-search filter. The title is read from `_highlightResult` (HTML,
//! reduced to text) when present; the snippet is the story's points,
//! comments, author and discussion link. A story without a URL (Ask HN)
//! links to its discussion.

use std::time::{SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trawl_api::{SearchRequest};
use url::Url;

use super::http::{Api, ApiEngine, Call};
use super::markup::text_with_marks;
use super::settings::{Build, BuildError, EngineSettings, http_url, url};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// `[[engines]]` with `type = "hackernews"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Algolia's search URL.
    #[serde(default = "default_base", deserialize_with = "http_url")]
    pub base_url: Url,
}

fn default_base() -> Url {
    url("https://hn.algolia.com/api/v1/search")
}

impl EngineSettings for Settings {
    const KIND: &'static str = "hackernews";
    const CATEGORIES: &'static [&'static str] = &["news", "code"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let home = self.base_url.clone();
        let api = HackerNews {
            base: self.base_url,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &home, api)?))
    }
}

/// Algolia's Hacker News search, the engine's side.
pub struct HackerNews {
    base: Url,
}


#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    hits: Vec<Hit>,
    #[serde(rename = "nbHits")]
    nb_hits: Option<u64>,
}

#[derive(Deserialize)]
struct Hit {
    #[serde(rename = "objectID")]
    object_id: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    points: Option<i64>,
    #[serde(default)]
    num_comments: Option<i64>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    created_at_i: Option<i64>,
    #[serde(default, rename = "_highlightResult")]
    highlight: Option<Highlight>,
}

#[derive(Deserialize)]
struct Highlight {
    title: Option<HighlightValue>,
}

#[derive(Deserialize)]
struct HighlightValue {
    value: String,
}

#[async_trait]
impl Api for HackerNews {
    const KIND: &'static str = "hackernews";

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let mut url = self.base.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("query", request.query.as_str())
                .append_pair("tags", "story")
                .append_pair("page", &(request.page - 1).to_string())
                .append_pair("hitsPerPage", &request.per_page.to_string());
            if let Some(range) = request.time_range {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let since = now.saturating_sub(range.duration()).as_secs();
                query.append_pair("numericFilters", &format!("created_at_i>{since}"));
            }
        }
        let response: Response = call.get_json(url, &[]).await?;
        let count = response.hits.len();
        let hits = response
            .hits
            .into_iter()
            .enumerate()
            .map(|(i, hit)| {
                // The highlighted title is HTML; the plain one is text.
                let title = match hit.highlight.and_then(|h| h.title) {
                    Some(marked) => text_with_marks(&marked.value, |_| false).0,
                    None => hit.title.clone().unwrap_or_default(),
                };
                let discussion = format!("https://news.ycombinator.com/item?id={}", hit.object_id);
                let published = hit.created_at_i.and_then(trawl_api::dates::from_unix);
                let snippet = format!(
                    "{} points · {} comments · by {} · {}",
                    hit.points.unwrap_or(0),
                    hit.num_comments.unwrap_or(0),
                    hit.author.as_deref().unwrap_or("?"),
                    discussion
                );
                EngineHit {
                    url: hit.url.filter(|u| !u.is_empty()).unwrap_or(discussion),
                    title,
                    snippet,
                    highlights: Vec::new(),
                    score: positional_score(i, count),
                    published,
                }
            })
            .collect();
        Ok(EngineResults {
            hits,
            total: response.nb_hits,
        })
    }

}

/// Shaped like `hn.algolia.com/api/v1/search?query=rust&tags=story`, trimmed.
#[cfg(any(test, feature = "doubles"))]
const STORIES: &str = r#"{"exhaustive":{"nbHits":false,"typo":false},"exhaustiveNbHits":false,"hits":[{"_highlightResult":{"author":{"matchLevel":"none","matchedWords":[],"value":"steveklabnik"},"title":{"fullyHighlighted":false,"matchLevel":"full","matchedWords":["rust"],"value":"Announcing <em>Rust</em> 1.0 &amp; more"},"url":{"matchLevel":"none","matchedWords":[],"value":"http://blog.rust-lang.org/2015/05/15/Rust-1.0.html"}},"_tags":["story","author_steveklabnik","story_9551937"],"author":"steveklabnik","created_at":"2015-05-15T19:09:53Z","created_at_i":1431716993,"num_comments":557,"objectID":"9551937","points":1757,"story_id":9551937,"title":"Announcing Rust 1.0 & more","updated_at":"2024-09-20T10:40:11Z","url":"http://blog.rust-lang.org/2015/05/15/Rust-1.0.html"},{"author":"pg","created_at_i":1,"num_comments":3,"objectID":"121003","points":25,"title":"Ask HN: Is Rust <good>?","url":null}],"hitsPerPage":2,"nbHits":93041,"nbPages":500,"page":1,"params":"query=rust","processingTimeMS":3,"query":"rust"}"#;

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    Case {
        kind: "hackernews",
        answers: vec![("/hn/api/v1/search", vec![Canned::json(STORIES)])],
        spec: |root| serde_json::json!({"base_url": root.join("hn/api/v1/search").unwrap()}),
        first: (
            "Announcing Rust 1.0 & more",
            "http://blog.rust-lang.org/2015/05/15/Rust-1.0.html",
        ),
        total: Some(93_041),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("query"), Some("rust search"));
            assert_eq!(asked.param("tags"), Some("story"));
            assert_eq!(asked.param("page"), Some("1"), "0-based");
            assert_eq!(asked.param("hitsPerPage"), Some("5"));
        },
        errors: vec![(
            "/hn/api/v1/search",
            Canned::with(
                400,
                "application/json",
                r#"{"message":"Invalid value for `hitsPerPage`","status":400}"#,
            ),
            "http",
        )],
        rate_limited: (
            "/hn/api/v1/search",
            Canned::with(
                429,
                "application/json",
                r#"{"message":"Too many requests","status":429}"#,
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use trawl_api::{Query, TimeRange};

    use super::*;
    use crate::doubles::{Canned, Double, settings};

    #[tokio::test]
    async fn maps_the_time_range_and_links_discussions_when_there_is_no_url() {
        let double = Double::start(vec![("/api/v1/search", vec![Canned::json(STORIES)])]).await;
        let base = double.at("/api/v1/search");
        let hn = ApiEngine::new(&settings("hn"), &base.clone(), HackerNews { base }).unwrap();
        let mut request = SearchRequest::new(Query::parse("rust").unwrap());
        request.time_range = Some(TimeRange::Year);
        let found = hn.search(&request).await.unwrap();
        let since: u64 = double.seen()[0]
            .param("numericFilters")
            .unwrap()
            .strip_prefix("created_at_i>")
            .unwrap()
            .parse()
            .unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!((now - since).abs_diff(365 * 86_400) < 60);
        assert!(
            found.hits[0]
                .snippet
                .starts_with("1757 points · 557 comments · by steveklabnik")
        );
        assert_eq!(
            found.hits[1].title, "Ask HN: Is Rust <good>?",
            "plain text, kept as text"
        );
        assert_eq!(
            found.hits[1].url,
            "https://news.ycombinator.com/item?id=121003"
        );
        assert_eq!(
            found.hits[0].published.as_deref(),
            Some("2015-05-15T19:09:53Z"),
            "created_at_i"
        );
    }

    #[tokio::test]
    async fn an_empty_answer_is_no_error() {
        let empty = r#"{"hits":[],"nbHits":0,"page":0,"nbPages":0,"hitsPerPage":20,"query":"zzqx"}"#;
        let double = Double::start(vec![("/api/v1/search", vec![Canned::json(empty)])]).await;
        let base = double.at("/api/v1/search");
        let hn = ApiEngine::new(&settings("hn"), &base.clone(), HackerNews { base }).unwrap();
        let found = hn
            .search(&SearchRequest::new(Query::parse("zzqx").unwrap()))
            .await
            .unwrap();
        assert!(found.hits.is_empty());
        assert_eq!(found.total, Some(0));
    }
}
