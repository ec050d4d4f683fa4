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

use std::sync::Arc;

use async_trait::async_trait;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use trawl_api::SearchRequest;
use url::Url;

use super::http::{Api, ApiEngine, ApiKey, Call};
use super::markup::text_with_marks;
use super::settings::{Build, BuildError, EngineSettings, non_empty_opt};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// `[[engines]]` with `type = "json"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The URL, with `{query}`, `{page}`, `{page0}`, `{offset}`,
    /// `{per_page}` and `{lang}` placeholders.
    #[serde(deserialize_with = "template")]
    pub url_template: String,
    /// JSON pointer to the array of results in the answer.
    #[serde(deserialize_with = "pointer")]
    pub results_pointer: String,
    /// JSON pointers into each result.
    #[serde(deserialize_with = "pointer")]
    pub title_pointer: String,
    /// JSON pointer to the URL in each result.
    #[serde(deserialize_with = "pointer")]
    pub url_pointer: String,
    /// JSON pointer to the snippet in each result.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "pointer_opt"
    )]
    pub snippet_pointer: Option<String>,
    /// JSON pointer to the total in the answer.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "pointer_opt"
    )]
    pub total_pointer: Option<String>,
    /// The environment variable holding a key, sent in `key_header`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty_opt"
    )]
    pub key_env: Option<String>,
    /// The header that carries the key (default `Authorization`; put
    /// `Bearer …` in the variable if needed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_header: Option<String>,
}

fn template<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let template = String::deserialize(deserializer)?;
    check_template(&template).map_err(serde::de::Error::custom)?;
    Ok(template)
}

fn pointer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let pointer = String::deserialize(deserializer)?;
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(pointer)
    } else {
        Err(serde::de::Error::custom(
            JsonEngineError::BadPointer(pointer).to_string(),
        ))
    }
}

fn pointer_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    pointer(deserializer).map(Some)
}

/// The API's address the template makes, or why it makes none.
fn check_template(template: &str) -> Result<Url, JsonEngineError> {
    if !template.contains("{query}") {
        return Err(JsonEngineError::NoQuery);
    }
    match Url::parse(&fill(template, "q", 1, 10, "")) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        Ok(url) => Err(JsonEngineError::BadTemplate(url.scheme().to_owned())),
        Err(e) => Err(JsonEngineError::BadTemplate(e.to_string())),
    }
}

impl EngineSettings for Settings {
    const KIND: &'static str = "json";
    const CATEGORIES: &'static [&'static str] = &["general"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let home = check_template(&self.url_template)
            .map_err(|e| BuildError::Invalid(e.to_string()))?;
        let key = ApiKey::optional(self.key_env.as_deref(), &build.http.name);
        let header = self
            .key_header
            .unwrap_or_else(|| "Authorization".to_owned())
            .to_ascii_lowercase();
        reqwest::header::HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| BuildError::Invalid(format!("`key_header` {header:?} is not a header name")))?;
        let api = JsonEngine {
            template: self.url_template,
            pointers: Pointers {
                results: self.results_pointer,
                title: self.title_pointer,
                url: self.url_pointer,
                snippet: self.snippet_pointer,
                total: self.total_pointer,
            },
            key: key.map(|key| (&*Box::leak(header.into_boxed_str()), key)),
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &home, api)?))
    }
}

/// How to read an answer.
#[derive(Debug, Clone)]
struct Pointers {
    results: String,
    title: String,
    url: String,
    snippet: Option<String>,
    total: Option<String>,
}

/// Why a template or pointer cannot be used.
#[derive(Debug, thiserror::Error)]
enum JsonEngineError {
    #[error("`url_template` must contain {{query}}")]
    NoQuery,
    #[error("`url_template` does not make an http(s) URL: {0}")]
    BadTemplate(String),
    #[error("JSON pointer {0:?} must be empty or start with `/`")]
    BadPointer(String),
}

/// Any JSON API, the engine's side.
pub struct JsonEngine {
    template: String,
    pointers: Pointers,
    /// Header name and value carrying the key, when there is one.
    key: Option<(&'static str, String)>,
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

/// A JSON value as text: a string, fragments joined, or the JSON itself.
pub(crate) fn text(value: Option<&Value>) -> Option<String> {
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
impl Api for JsonEngine {
    const KIND: &'static str = "json";

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let url = fill(
            &self.template,
            request.query.as_str(),
            request.page,
            request.per_page,
            request.lang.map_or("", |l| l.as_str()),
        );
        let url = Url::parse(&url).map_err(|e| EngineError::Failed(e.to_string()))?;
        let headers: Vec<(&'static str, String)> = self.key.iter().cloned().collect();
        let answer: Value = call.get_json(url, &headers).await?;
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
                    published: None,
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
}

/// Shaped like Meilisearch's `GET /indexes/docs/search?q=…&attributesToHighlight=*`.
#[cfg(any(test, feature = "doubles"))]
const MEILI: &str = r#"{"hits":[{"id":1,"title":"Indexing <basics>","url":"https://docs.example.org/indexing","_formatted":{"id":"1","title":"<em>Indexing</em> &lt;basics&gt;","body":"How <em>indexing</em> works, step by step"}},{"id":2,"title":"No URL here"}],"query":"indexing","processingTimeMs":1,"limit":20,"offset":20,"estimatedTotalHits":41}"#;

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    Case {
        kind: "json",
        answers: vec![("/json/indexes/docs/search", vec![Canned::json(MEILI)])],
        spec: |root| {
            serde_json::json!({
                "url_template": format!(
                    "{}?q={{query}}&offset={{offset}}&limit={{per_page}}",
                    root.join("json/indexes/docs/search").unwrap()
                ),
                "results_pointer": "/hits",
                "title_pointer": "/_formatted/title",
                "url_pointer": "/url",
                "snippet_pointer": "/_formatted/body",
                "total_pointer": "/estimatedTotalHits",
            })
        },
        first: ("Indexing <basics>", "https://docs.example.org/indexing"),
        total: Some(41),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("q"), Some("rust search"));
            assert_eq!(asked.param("offset"), Some("5"));
            assert_eq!(asked.param("limit"), Some("5"));
        },
        errors: vec![(
            "/json/indexes/docs/search",
            Canned::with(500, "text/plain", "boom"),
            "http",
        )],
        rate_limited: (
            "/json/indexes/docs/search",
            Canned::with(429, "application/json", r#"{"message":"slow down"}"#),
        ),
    }
}

#[cfg(test)]
mod tests {
    use trawl_api::Query;

    use super::*;
    use crate::doubles::{Canned, Double, settings};


    #[tokio::test]
    async fn reads_any_api_by_template_and_pointers() {
        let double =
            Double::start(vec![("/indexes/docs/search", vec![Canned::json(MEILI)])]).await;
        let search = double.at("/indexes/docs/search");
        let api = JsonEngine {
            template: format!(
                "{search}?q={{query}}&offset={{offset}}&limit={{per_page}}&attributesToHighlight=*"
            ),
            pointers: Pointers {
                results: "/hits".into(),
                title: "/_formatted/title".into(),
                url: "/url".into(),
                snippet: Some("/_formatted/body".into()),
                total: Some("/estimatedTotalHits".into()),
            },
            key: Some(("authorization", "Bearer s3cret".into())),
        };
        let engine = ApiEngine::new(&settings("meili"), &search, api).unwrap();
        let request = SearchRequest {
            page: 3,
            per_page: 10,
            ..SearchRequest::new(Query::parse("indexing & co").unwrap())
        };
        let found = engine.search(&request).await.unwrap();
        let asked = &double.seen()[0];
        assert_eq!(asked.param("q"), Some("indexing & co"));
        assert_eq!(asked.param("offset"), Some("20"));
        assert_eq!(asked.param("limit"), Some("10"));
        assert_eq!(asked.header("authorization"), Some("Bearer s3cret"));
        assert_eq!(found.total, Some(41));
        assert_eq!(found.hits.len(), 1, "an element without a URL is skipped");
        let hit = &found.hits[0];
        assert_eq!(hit.title, "Indexing <basics>");
        assert_eq!(hit.snippet, "How indexing works, step by step");
        assert_eq!(hit.highlights, [[4, 12]]);
    }

    #[test]
    fn templates_and_pointers_are_checked_as_they_are_read() {
        let err = |template: &str, title: &str| {
            serde_json::from_value::<Settings>(serde_json::json!({
                "url_template": template,
                "results_pointer": "/hits",
                "title_pointer": title,
                "url_pointer": "/u",
            }))
            .unwrap_err()
            .to_string()
        };
        assert!(err("https://x/search", "/t").contains("{query}"));
        assert!(err("file:///x?q={query}", "/t").contains("http(s)"));
        assert!(err("https://x/?q={query}", "t").contains("pointer"));
        let unknown = serde_json::from_value::<Settings>(serde_json::json!({
            "url_template": "https://x/?q={query}",
            "results_pointer": "/hits",
            "title_pointer": "/t",
            "url_pointer": "/u",
            "title_pointr": "/t",
        }))
        .unwrap_err()
        .to_string();
        assert!(unknown.contains("unknown field `title_pointr`"), "{unknown}");
    }
}
