//! A generic JSON engine: any HTTP search API that answers a GET with JSON,
//! described by a URL template and JSON pointers (RFC 6901). Enough for
//! Meilisearch, Elasticsearch/OpenSearch `_search` (with `q=`), Typesense,
//! or a home-grown API.
//!
//! The template's placeholders are replaced by percent-encoded values:
//! `{query}`, `{page}` (1-based), `{page0}` (0-based), `{offset}`,
//! `{per_page}` and `{lang}` (empty for any). Within each element of the
//! results array, `title`, `url` and `snippet` pointers pick the fields
//! (the snippet may be HTML: it is reduced to text, `<em>`/`<mark>`/`<b>`
//! becoming highlights); `total` points at the count in the whole answer.

use async_trait::async_trait;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use trawl_api::{Check, SearchRequest};
use url::Url;

use super::http::{HttpSettings, Upstream};
use super::markup::text_with_marks;
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// How to read an answer.
#[derive(Debug, Clone)]
pub struct Pointers {
    pub results: String,
    pub title: String,
    pub url: String,
    pub snippet: Option<String>,
    pub total: Option<String>,
}

/// Why a template or pointer cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JsonEngineError {
    #[error("`url_template` must contain {{query}}")]
    NoQuery,
    #[error("`url_template` does not make an http(s) URL: {0}")]
    BadTemplate(String),
    #[error("JSON pointer {0:?} must be empty or start with `/`")]
    BadPointer(String),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

pub struct JsonEngine {
    name: String,
    template: String,
    pointers: Pointers,
    /// Header name and value carrying the key, when there is one.
    key: Option<(&'static str, String)>,
    upstream: Upstream,
}

impl JsonEngine {
    pub fn new(
        settings: &HttpSettings,
        template: String,
        pointers: Pointers,
        key: Option<(String, String)>,
    ) -> Result<Self, JsonEngineError> {
        if !template.contains("{query}") {
            return Err(JsonEngineError::NoQuery);
        }
        let probe = fill(&template, "q", 1, 10, "");
        let home = match Url::parse(&probe) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            Ok(url) => return Err(JsonEngineError::BadTemplate(url.scheme().to_owned())),
            Err(e) => return Err(JsonEngineError::BadTemplate(e.to_string())),
        };
        for pointer in [&pointers.results, &pointers.title, &pointers.url]
            .into_iter()
            .chain(pointers.snippet.as_ref())
            .chain(pointers.total.as_ref())
        {
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(JsonEngineError::BadPointer(pointer.clone()));
            }
        }
        let key = key.map(|(header, value)| {
            let header: &'static str = Box::leak(header.to_ascii_lowercase().into_boxed_str());
            (header, value)
        });
        Ok(Self {
            name: settings.name.clone(),
            template,
            pointers,
            key,
            upstream: Upstream::new(settings, &home)?,
        })
    }
}

fn fill(template: &str, query: &str, page: u32, per_page: u32, lang: &str) -> String {
    let encode = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    template
        .replace("{query}", &encode(query))
        .replace("{page0}", &(page - 1).to_string())
        .replace("{page}", &page.to_string())
        .replace("{offset}", &((page - 1) * per_page).to_string())
        .replace("{per_page}", &per_page.to_string())
        .replace("{lang}", &encode(lang))
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        // A highlighter may answer an array of fragments.
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" … "),
        ),
        other => Some(other.to_string()),
    }
}

#[async_trait]
impl Engine for JsonEngine {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "json"
    }

    async fn search(&self, request: &SearchRequest) -> Result<EngineResults, EngineError> {
        let url = fill(
            &self.template,
            request.query.as_str(),
            request.page,
            request.per_page,
            request.lang.map_or("", |l| l.as_str()),
        );
        let url = Url::parse(&url).map_err(|e| EngineError::Failed(e.to_string()))?;
        let headers: Vec<(&'static str, String)> = self.key.iter().cloned().collect();
        let answer: Value = self.upstream.get_json(url, &headers, |_| None).await?;
        let results = answer
            .pointer(&self.pointers.results)
            .and_then(Value::as_array)
            .ok_or_else(|| {
                EngineError::Parse(format!("no array at {:?}", self.pointers.results))
            })?;
        let count = results.len();
        let hits = results
            .iter()
            .take(request.per_page as usize)
            .enumerate()
            .filter_map(|(i, item)| {
                let url = text(item.pointer(&self.pointers.url))?;
                let title = text(item.pointer(&self.pointers.title)).unwrap_or_else(|| url.clone());
                let (snippet, highlights) = self
                    .pointers
                    .snippet
                    .as_ref()
                    .and_then(|p| text(item.pointer(p)))
                    .map(|html| {
                        text_with_marks(&html, |tag| matches!(tag, "em" | "mark" | "b" | "strong"))
                    })
                    .unwrap_or_default();
                Some(EngineHit {
                    title: text_with_marks(&title, |_| false).0,
                    url,
                    snippet,
                    highlights,
                    score: positional_score(i, count),
                })
            })
            .collect();
        let total = self
            .pointers
            .total
            .as_ref()
            .and_then(|p| answer.pointer(p))
            .and_then(Value::as_u64);
        Ok(EngineResults { hits, total })
    }

    fn suspended(&self) -> bool {
        self.upstream.suspended()
    }

    async fn readiness(&self) -> Check {
        self.upstream.check(&self.name, None)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::Router;
    use axum::extract::Query as Params;
    use axum::http::HeaderMap;
    use axum::routing::get;
    use trawl_api::Query;

    use super::*;
    use crate::engines::testing::{serve, settings};

    /// Shaped like Meilisearch's `GET /indexes/docs/search?q=…&attributesToHighlight=*`.
    const MEILI: &str = r#"{"hits":[{"id":1,"title":"Indexing <basics>","url":"https://docs.example.org/indexing","_formatted":{"id":"1","title":"<em>Indexing</em> &lt;basics&gt;","body":"How <em>indexing</em> works, step by step"}},{"id":2,"title":"No URL here"}],"query":"indexing","processingTimeMs":1,"limit":20,"offset":20,"estimatedTotalHits":41}"#;

    #[tokio::test]
    async fn reads_any_api_by_template_and_pointers() {
        type Seen = Arc<Mutex<Vec<(HashMap<String, String>, Option<String>)>>>;
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let app = Router::new().route(
            "/indexes/docs/search",
            get(
                move |Params(params): Params<HashMap<String, String>>, headers: HeaderMap| {
                    let auth = headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_owned());
                    log.lock().unwrap().push((params, auth));
                    async { ([("content-type", "application/json")], MEILI) }
                },
            ),
        );
        let search: Url = serve(app, "/indexes/docs/search").await;
        let engine = JsonEngine::new(
            &settings("meili"),
            format!(
                "{search}?q={{query}}&offset={{offset}}&limit={{per_page}}&attributesToHighlight=*"
            ),
            Pointers {
                results: "/hits".into(),
                title: "/_formatted/title".into(),
                url: "/url".into(),
                snippet: Some("/_formatted/body".into()),
                total: Some("/estimatedTotalHits".into()),
            },
            Some(("Authorization".into(), "Bearer s3cret".into())),
        )
        .unwrap();
        let request = SearchRequest {
            page: 3,
            per_page: 10,
            ..SearchRequest::new(Query::parse("indexing & co").unwrap())
        };
        let found = engine.search(&request).await.unwrap();
        let (params, auth) = seen.lock().unwrap()[0].clone();
        assert_eq!(params["q"], "indexing & co");
        assert_eq!(params["offset"], "20");
        assert_eq!(params["limit"], "10");
        assert_eq!(auth.as_deref(), Some("Bearer s3cret"));
        assert_eq!(found.total, Some(41));
        assert_eq!(found.hits.len(), 1, "an element without a URL is skipped");
        let hit = &found.hits[0];
        assert_eq!(hit.title, "Indexing <basics>");
        assert_eq!(hit.snippet, "How indexing works, step by step");
        assert_eq!(hit.highlights, [[4, 12]]);
    }

    #[test]
    fn templates_and_pointers_are_checked() {
        let settings = HttpSettings::new("x", Duration::from_secs(1));
        let pointers = || Pointers {
            results: "/hits".into(),
            title: "/t".into(),
            url: "/u".into(),
            snippet: None,
            total: None,
        };
        let err = |template: &str, pointers: Pointers| {
            JsonEngine::new(&settings, template.into(), pointers, None)
                .err()
                .unwrap()
                .to_string()
        };
        assert!(err("https://x/search", pointers()).contains("{query}"));
        assert!(err("file:///x?q={query}", pointers()).contains("http(s)"));
        assert!(
            err(
                "https://x/?q={query}",
                Pointers {
                    title: "t".into(),
                    ..pointers()
                }
            )
            .contains("pointer")
        );
    }
}
