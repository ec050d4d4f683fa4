//! The Internet Archive's advanced search: `GET /advancedsearch.php`.
//!
//! <https://archive.org/advancedsearch.php> (Solr underneath). `q`, the
//! fields to return (`fl[]`), `rows`, the 1-based `page` and
//! `output=json`; the total is `response.numFound`. A query Solr cannot
//! parse answers `{"error": "..."}` (with a 200 or a 400); too many calls
//! a 429. The URL is the item's `/details/` page; the snippet its media
//! type, date and description. The time range maps to
//! `publicdate:[… TO NOW]`; language and safe search are not mapped.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trawl_api::SearchRequest;
use url::Url;

use super::http::{Api, ApiEngine, Call};
use super::markup::{facts, text_with_marks};
use super::settings::{Build, BuildError, EngineSettings, first_day, http_url, url};
use super::json::text;
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// `[[engines]]` with `type = "archive"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The advanced search URL.
    #[serde(default = "default_base", deserialize_with = "http_url")]
    pub base_url: Url,
}

fn default_base() -> Url {
    url("https://archive.org/advancedsearch.php")
}

impl EngineSettings for Settings {
    const KIND: &'static str = "archive";
    const CATEGORIES: &'static [&'static str] = &["books"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let home = self.base_url.clone();
        let mut site = self.base_url.clone();
        site.set_path("/details/");
        site.set_query(None);
        let api = Archive {
            base: self.base_url,
            details: site,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &home, api)?))
    }
}

/// The Internet Archive's side of the engine.
pub struct Archive {
    base: Url,
    /// Items' pages: the identifier goes after it.
    details: Url,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    response: Option<Found>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Found {
    #[serde(rename = "numFound")]
    found: Option<u64>,
    #[serde(default)]
    docs: Vec<serde_json::Map<String, Value>>,
}

#[async_trait]
impl Api for Archive {
    const KIND: &'static str = "archive";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        let error = serde_json::from_slice::<Answer>(&answer.body).ok()?.error?;
        Some(match answer.status.as_u16() {
            429 => EngineError::RateLimited(error),
            status => EngineError::Http {
                status,
                message: error,
            },
        })
    }

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let mut q = request.query.as_str().to_owned();
        if let Some(range) = request.time_range {
            q = format!("({q}) AND publicdate:[{}T00:00:00Z TO NOW]", first_day(range));
        }
        let mut url = self.base.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("q", &q);
            for field in ["identifier", "title", "description", "mediatype", "date"] {
                query.append_pair("fl[]", field);
            }
            query
                .append_pair("rows", &request.per_page.to_string())
                .append_pair("page", &request.page.to_string())
                .append_pair("output", "json");
        }
        let answer: Answer = call.get_json(url, &[]).await?;
        if let Some(error) = answer.error {
            return Err(EngineError::Http {
                status: 200,
                message: error,
            });
        }
        let found = answer
            .response
            .ok_or_else(|| EngineError::Parse("no `response` in the answer".to_owned()))?;
        let count = found.docs.len();
        let hits = found
            .docs
            .into_iter()
            .enumerate()
            .filter_map(|(i, doc)| {
                let id = text(doc.get("identifier"))?;
                let description = text(doc.get("description"))
                    .map(|html| text_with_marks(&html, |_| false).0)
                    .unwrap_or_default();
                let snippet = facts([
                    text(doc.get("mediatype")).unwrap_or_default(),
                    text(doc.get("date"))
                        .map(|d| d.chars().take(10).collect())
                        .unwrap_or_default(),
                    description,
                ]);
                Some(EngineHit {
                    url: self.details.join(&id).ok()?.to_string(),
                    title: text(doc.get("title")).unwrap_or_else(|| id.clone()),
                    snippet,
                    highlights: Vec::new(),
                    score: positional_score(i, count),
                    published: None,
                })
            })
            .collect();
        Ok(EngineResults {
            hits,
            total: found.found,
        })
    }
}

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    const SEARCH: &str = r#"{"responseHeader":{"status":0,"QTime":41,"params":{"query":"rust search","qin":"rust search","fields":"identifier,title,description,mediatype,date","wt":"json","rows":"5","start":5}},"response":{"numFound":733,"start":5,"docs":[{"date":"1992-01-01T00:00:00Z","description":["A scanned manual.","<p>Second part</p>"],"identifier":"rustprevention00unit","mediatype":"texts","title":"Rust prevention and search for corrosion"},{"identifier":"no-title-item","mediatype":"audio"}]}}"#;
    Case {
        kind: "archive",
        answers: vec![("/archive/advancedsearch.php", vec![Canned::json(SEARCH)])],
        spec: |root| serde_json::json!({"base_url": root.join("archive/advancedsearch.php").unwrap()}),
        first: (
            "Rust prevention and search for corrosion",
            "DOUBLE/details/rustprevention00unit",
        ),
        total: Some(733),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("q"), Some("rust search"));
            assert_eq!(asked.param("rows"), Some("5"));
            assert_eq!(asked.param("page"), Some("2"));
            assert_eq!(asked.param("output"), Some("json"));
            assert_eq!(asked.param("fl[]"), Some("identifier"));
        },
        errors: vec![(
            "/archive/advancedsearch.php",
            Canned::with(
                400,
                "application/json",
                r#"{"error":"Query syntax error: unbalanced parentheses","forensics":{}}"#,
            ),
            "http",
        )],
        rate_limited: (
            "/archive/advancedsearch.php",
            Canned::with(429, "text/html", "<html><head><title>429 Too Many Requests</title></head></html>")
                .header("retry-after", "30"),
        ),
    }
}
