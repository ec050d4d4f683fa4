//! MediaWiki's search API, on any wiki: `action=query&list=search`.
//!
//! <https://www.mediawiki.org/wiki/API:Search>. Paging by `sroffset` and
//! `srlimit` (at most 500); the total is `query.searchinfo.totalhits`.
//! Snippets mark matches with `<span class="searchmatch">`, which become
//! highlights; the rest of their markup is dropped. The API has no language,
//! safe-search or date filter (each wiki is in one language), so those
//! options do not apply.

use std::sync::Arc;

use async_trait::async_trait;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use trawl_api::SearchRequest;
use url::Url;

use super::http::{Api, ApiEngine, Call};
use super::markup::text_with_marks;
use super::settings::{Build, BuildError, EngineSettings, http_url};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// Largest page the API serves to ordinary clients.
const MAX_LIMIT: usize = 500;

/// Characters escaped in a page title in a URL path (MediaWiki's own
/// `wfUrlencode` leaves `/`, `:` and a few more alone).
const TITLE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'&')
    .add(b'+');

/// `[[engines]]` with `type = "mediawiki"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The wiki's `api.php`.
    #[serde(deserialize_with = "http_url")]
    pub base_url: Url,
    /// Page URLs, `{title}` standing for the title: by default the wiki's
    /// `/wiki/{title}` beside a `/w/api.php`, else `index.php?title={title}`
    /// beside `api.php`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article_url: Option<String>,
}

impl EngineSettings for Settings {
    const KIND: &'static str = "mediawiki";
    const CATEGORIES: &'static [&'static str] = &["general"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let api = self.base_url;
        let article = self.article_url.unwrap_or_else(|| {
            let base = api.as_str();
            match base.strip_suffix("/w/api.php") {
                Some(root) => format!("{root}/wiki/{{title}}"),
                None => format!(
                    "{}index.php?title={{title}}",
                    base.trim_end_matches("api.php")
                ),
            }
        });
        let home = api.clone();
        Ok(Arc::new(ApiEngine::new(
            &build.http,
            &home,
            MediaWiki { api, article },
        )?))
    }
}

/// A wiki's search API, the engine's side.
pub struct MediaWiki {
    api: Url,
    /// `{title}` is replaced by the page title.
    article: String,
}

impl MediaWiki {
    fn page_url(&self, title: &str) -> String {
        let title = title.replace(' ', "_");
        self.article
            .replace("{title}", &utf8_percent_encode(&title, TITLE).to_string())
    }
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    query: Option<Query>,
    #[serde(default)]
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct Query {
    #[serde(default)]
    searchinfo: Option<SearchInfo>,
    #[serde(default)]
    search: Vec<Page>,
}

#[derive(Deserialize)]
struct SearchInfo {
    totalhits: u64,
}

#[derive(Deserialize)]
struct Page {
    title: String,
    #[serde(default)]
    snippet: String,
}

/// MediaWiki answers errors with 200 and `{"error": {"code", "info"}}`.
#[derive(Deserialize)]
struct ApiError {
    code: String,
    #[serde(default)]
    info: String,
}

#[async_trait]
impl Api for MediaWiki {
    const KIND: &'static str = "mediawiki";

    fn describe(&self) -> Option<String> {
        Some(trawl_service::redact::url(&self.api))
    }

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let limit = (request.per_page as usize).min(MAX_LIMIT);
        let mut url = self.api.clone();
        url.query_pairs_mut()
            .append_pair("action", "query")
            .append_pair("list", "search")
            .append_pair("srsearch", request.query.as_str())
            .append_pair("srlimit", &limit.to_string())
            .append_pair("sroffset", &request.offset().to_string())
            .append_pair("srprop", "snippet")
            .append_pair("format", "json")
            .append_pair("formatversion", "2");
        let response: Response = call.get_json(url, &[]).await?;
        if let Some(error) = response.error {
            return Err(match error.code.as_str() {
                "ratelimited" => EngineError::RateLimited(error.info),
                "readapidenied" | "permissiondenied" => EngineError::Auth(error.info),
                _ => EngineError::Http {
                    status: 200,
                    message: format!("{}: {}", error.code, error.info),
                },
            });
        }
        let query = response
            .query
            .ok_or_else(|| EngineError::Parse("no `query` in the answer".to_owned()))?;
        let count = query.search.len();
        let hits = query
            .search
            .into_iter()
            .enumerate()
            .map(|(i, page)| {
                let (snippet, highlights) =
                    text_with_marks(&page.snippet, |tag| tag.contains("searchmatch"));
                EngineHit {
                    url: self.page_url(&page.title),
                    title: page.title,
                    snippet,
                    highlights,
                    // The API gives ranks, not scores.
                    score: positional_score(i, count),
                    published: None,
                }
            })
            .collect();
        Ok(EngineResults {
            hits,
            total: query.searchinfo.map(|info| info.totalhits),
        })
    }
}

/// Shaped like en.wikipedia.org's answer to
/// `api.php?action=query&list=search&srsearch=rust+compiler&srlimit=2&srprop=snippet&format=json&formatversion=2`.
#[cfg(any(test, feature = "doubles"))]
const TWO_PAGES: &str = r#"{"batchcomplete":true,"continue":{"sroffset":2,"continue":"-||"},"query":{"searchinfo":{"totalhits":4811},"search":[{"ns":0,"title":"Rust (programming language)","pageid":29414838,"snippet":"<span class=\"searchmatch\">Rust</span> is a general-purpose programming language emphasizing performance, type safety, and concurrency. Its <span class=\"searchmatch\">compiler</span>, rustc"},{"ns":0,"title":"Zürich/Café \"Ω\"","pageid":1,"snippet":"Ein Caf&eacute; &amp; <span class=\"searchmatch\">rust</span>&#039;s &lt;script&gt;"}]}}"#;

#[cfg(test)]
const EMPTY: &str = r#"{"batchcomplete":true,"query":{"searchinfo":{"totalhits":0},"search":[]}}"#;

#[cfg(any(test, feature = "doubles"))]
const RATE_LIMITED: &str = r#"{"error":{"code":"ratelimited","info":"As an anti-abuse measure, you are limited from performing this action too many times in a short space of time, and you have exceeded this limit. Please try again in a few minutes.","docref":"See https://en.wikipedia.org/w/api.php for API usage."},"servedby":"mw1234"}"#;

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    let json = |status, body| Canned::with(status, "application/json; charset=utf-8", body);
    Case {
        kind: "mediawiki",
        answers: vec![("/wiki/w/api.php", vec![json(200, TWO_PAGES)])],
        spec: |root| serde_json::json!({"base_url": root.join("wiki/w/api.php").unwrap()}),
        first: (
            "Rust (programming language)",
            "DOUBLE/wiki/wiki/Rust_(programming_language)",
        ),
        total: Some(4811),
        asked: |seen| {
            let asked = &seen[0];
            for (name, value) in [
                ("action", "query"),
                ("list", "search"),
                ("srsearch", "rust search"),
                ("srlimit", "5"),
                ("sroffset", "5"),
                ("format", "json"),
                ("formatversion", "2"),
            ] {
                assert_eq!(asked.param(name), Some(value), "{name}");
            }
        },
        errors: vec![
            ("/wiki/w/api.php", json(200, RATE_LIMITED), "rate_limited"),
            (
                "/wiki/w/api.php",
                Canned::with(500, "text/html", "<html>Internal error</html>"),
                "http",
            ),
            ("/wiki/w/api.php", json(200, "{not json"), "parse"),
        ],
        rate_limited: (
            "/wiki/w/api.php",
            Canned::with(429, "text/plain", "Too Many Requests").header("retry-after", "120"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use trawl_api::Query;

    use super::*;
    use crate::doubles::{Canned, Double, settings};

    async fn wiki(answer: &str) -> (Double, Arc<dyn Engine>) {
        let double = Double::start(vec![("/w/api.php", vec![Canned::json(answer)])]).await;
        let mut build = Build {
            http: settings("wiki"),
            local: None,
        };
        let engine = Settings {
            base_url: double.at("/w/api.php"),
            article_url: None,
        }
        .build(&mut build)
        .unwrap();
        (double, engine)
    }

    #[tokio::test]
    async fn reads_page_urls_snippets_and_marks_and_sends_none_of_trawls_headers() {
        let (double, wiki) = wiki(TWO_PAGES).await;
        let request = SearchRequest {
            page: 3,
            per_page: 2,
            ..SearchRequest::new(Query::parse("rust compiler").unwrap())
        };
        let found = wiki.search(&request).await.unwrap();
        let asked = &double.seen()[0];
        assert_eq!(asked.param("sroffset"), Some("4"));
        let agent = asked.header("user-agent").unwrap();
        assert!(agent.starts_with("trawl/"), "{agent}");
        // Our own headers are not sent upstream.
        assert!(
            !asked
                .headers
                .keys()
                .any(|name| name.as_str().starts_with("trawl-")),
            "{:?}",
            asked.headers
        );
        let root = double.at("/");
        let root = root.as_str().trim_end_matches('/');
        let first = &found.hits[0];
        let marked: Vec<String> = first
            .highlights
            .iter()
            .map(|[s, e]| first.snippet.chars().skip(*s).take(e - s).collect())
            .collect();
        assert_eq!(marked, ["Rust", "compiler"]);
        let second = &found.hits[1];
        assert_eq!(
            second.url,
            format!("{root}/wiki/Z%C3%BCrich/Caf%C3%A9_%22%CE%A9%22")
        );
        assert_eq!(second.snippet, "Ein Caf&eacute; & rust's <script>");
        assert!(first.score > second.score, "the API's order is kept");
    }

    #[tokio::test]
    async fn empty_results_are_not_an_error() {
        let (_, wiki) = wiki(EMPTY).await;
        let found = wiki
            .search(&SearchRequest::new(Query::parse("xyzzy").unwrap()))
            .await
            .unwrap();
        assert!(found.hits.is_empty());
        assert_eq!(found.total, Some(0));
    }
}
