//! arXiv's API: `GET /api/query`, answering Atom.
//!
//! <https://info.arxiv.org/help/api/user-manual.html>. `search_query`
//! (each word as `all:word`, joined by `AND`), the 0-based `start` and
//! `max_results`, by relevance; the total is `opensearch:totalResults`. A
//! bad query is a 400 whose feed holds one entry titled `Error`; a client
//! that asks too often gets a 503 `Rate exceeded.` (arXiv asks for one call
//! every three seconds: the engine's default cap is 20 a minute). The snippet
//! is the authors, the year and the abstract. Language, safe search and
//! time range are not mapped.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trawl_api::SearchRequest;
use url::Url;

use super::markup::facts;
use super::http::{Api, ApiEngine, Call, by_status};
use super::settings::{Build, BuildError, EngineSettings, http_url, url};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// `[[engines]]` with `type = "arxiv"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The query URL.
    #[serde(default = "default_base", deserialize_with = "http_url")]
    pub base_url: Url,
}

fn default_base() -> Url {
    url("https://export.arxiv.org/api/query")
}

impl EngineSettings for Settings {
    const KIND: &'static str = "arxiv";
    const CATEGORIES: &'static [&'static str] = &["science"];
    /// arXiv asks for one call every three seconds.
    const POLITE_CALLS_PER_MINUTE: Option<u32> = Some(20);

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let home = self.base_url.clone();
        let api = Arxiv {
            base: self.base_url,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &home, api)?))
    }
}

/// arXiv's side of the engine.
pub struct Arxiv {
    base: Url,
}

/// Results arXiv serves in one call, at most.
const MAX_RESULTS: u32 = 2000;

#[async_trait]
impl Api for Arxiv {
    const KIND: &'static str = "arxiv";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        if answer.status.as_u16() == 503 && answer.body.starts_with(b"Rate exceeded") {
            return Some(EngineError::RateLimited("Rate exceeded.".to_owned()));
        }
        // `<entry><title>Error</title><summary>why</summary>`.
        let feed = feed_rs::parser::parse(&answer.body[..]).ok()?;
        let entry = feed
            .entries
            .iter()
            .find(|e| e.title.as_ref().is_some_and(|t| t.content == "Error"))?;
        let why = entry.summary.as_ref().map(|s| s.content.trim().to_owned());
        Some(EngineError::Http {
            status: answer.status.as_u16(),
            message: why.unwrap_or_else(|| by_status(answer).to_string()),
        })
    }

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let query: Vec<String> = request
            .query
            .as_str()
            .split_whitespace()
            .map(|word| format!("all:{}", word.replace(['"', '(', ')'], "")))
            .collect();
        let mut url = self.base.clone();
        url.query_pairs_mut()
            .append_pair("search_query", &query.join(" AND "))
            .append_pair("start", &request.offset().to_string())
            .append_pair(
                "max_results",
                &request.per_page.min(MAX_RESULTS).to_string(),
            )
            .append_pair("sortBy", "relevance");
        let body = call.get(url, &[], "application/atom+xml").await?;
        let feed = feed_rs::parser::parse(&body[..])
            .map_err(|e| EngineError::Parse(format!("not an Atom feed: {e}")))?;
        let count = feed.entries.len();
        let hits = feed
            .entries
            .into_iter()
            .enumerate()
            .filter_map(|(i, entry)| {
                let link = entry
                    .links
                    .iter()
                    .find(|l| l.rel.as_deref() == Some("alternate"))
                    .map(|l| l.href.clone())
                    .unwrap_or(entry.id);
                let authors: Vec<String> = entry.authors.into_iter().map(|a| a.name).collect();
                let year = entry.published.map(|d| d.format("%Y").to_string());
                let published = entry
                    .published
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string());
                let summary = entry
                    .summary
                    .map(|s| s.content.split_whitespace().collect::<Vec<_>>().join(" "))
                    .unwrap_or_default();
                let snippet = facts([authors.join(", "), year.unwrap_or_default(), summary]);
                Some(EngineHit {
                    title: entry
                        .title?
                        .content
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                    url: link,
                    snippet,
                    highlights: Vec::new(),
                    score: positional_score(i, count),
                    published,
                })
            })
            .collect();
        Ok(EngineResults {
            hits,
            total: total(&body),
        })
    }
}

/// `<opensearch:totalResults …>N</opensearch:totalResults>`.
fn total(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<opensearch:totalResults")?;
    let rest = &text[start..];
    let value = &rest[rest.find('>')? + 1..];
    value[..value.find('<')?].trim().parse().ok()
}

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    const FEED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3Dall%3Arust%20AND%20all%3Asearch%26id_list%3D%26start%3D5%26max_results%3D5" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=all:rust AND all:search&amp;id_list=&amp;start=5&amp;max_results=5</title>
  <id>http://arxiv.org/api/cHxbiOdZaP56ODnBPIenZhzg5f8</id>
  <updated>2024-05-01T00:00:00-04:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">42</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">5</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">5</opensearch:itemsPerPage>
  <entry>
    <id>http://arxiv.org/abs/2206.05503v2</id>
    <updated>2022-06-14T09:12:11Z</updated>
    <published>2022-06-11T11:00:00Z</published>
    <title>Learning and Programming Challenges of Rust: A Mixed-Methods
  Study</title>
    <summary>  Rust is a young systems programming language designed to provide both the
safety guarantees of high-level languages and the execution performance of
low-level languages.
</summary>
    <author>
      <name>Shuofei Zhu</name>
    </author>
    <author>
      <name>Ziyi Zhang</name>
    </author>
    <arxiv:doi xmlns:arxiv="http://arxiv.org/schemas/atom">10.1145/3510003.3510164</arxiv:doi>
    <link title="doi" href="http://dx.doi.org/10.1145/3510003.3510164" rel="related"/>
    <link href="http://arxiv.org/abs/2206.05503v2" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/2206.05503v2" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.SE" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.SE" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/2302.00001v1</id>
    <updated>2023-02-01T00:00:00Z</updated>
    <published>2023-02-01T00:00:00Z</published>
    <title>Searching Rust crates</title>
    <summary>A second entry.</summary>
    <author><name>A. Author</name></author>
    <link href="http://arxiv.org/abs/2302.00001v1" rel="alternate" type="text/html"/>
  </entry>
</feed>
"#;
    const ERROR: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3D%26id_list%3D1234.12345%26start%3D0%26max_results%3D10" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=&amp;id_list=1234.12345&amp;start=0&amp;max_results=10</title>
  <id>http://arxiv.org/api/kvuntZ8c9a4Eq5CF7KY03nMug+Q</id>
  <updated>2024-05-01T00:00:00-04:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1</opensearch:totalResults>
  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345</id>
    <title>Error</title>
    <summary>incorrect id format for 1234.12345</summary>
    <updated>2024-05-01T00:00:00-04:00</updated>
    <link href="http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345" rel="alternate" type="text/html"/>
    <author><name>arXiv api core</name></author>
  </entry>
</feed>
"#;
    Case {
        kind: "arxiv",
        answers: vec![(
            "/arxiv/api/query",
            vec![Canned::with(200, "application/atom+xml; charset=utf-8", FEED)],
        )],
        spec: |root| serde_json::json!({"base_url": root.join("arxiv/api/query").unwrap()}),
        first: (
            "Learning and Programming Challenges of Rust: A Mixed-Methods Study",
            "http://arxiv.org/abs/2206.05503v2",
        ),
        total: Some(42),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("search_query"), Some("all:rust AND all:search"));
            assert_eq!(asked.param("start"), Some("5"));
            assert_eq!(asked.param("max_results"), Some("5"));
        },
        errors: vec![(
            "/arxiv/api/query",
            Canned::with(400, "application/atom+xml; charset=utf-8", ERROR),
            "http",
        )],
        rate_limited: (
            "/arxiv/api/query",
            Canned::with(503, "text/plain", "Rate exceeded.").header("retry-after", "3"),
        ),
    }
}
