//! PubMed, through NCBI's E-utilities: `esearch` for the ids, then
//! `esummary` for their titles.
//!
//! <https://www.ncbi.nlm.nih.gov/books/NBK25500/>. `esearch.fcgi?db=pubmed`
//! with `term`, the 0-based `retstart` and `retmax`, by relevance, in JSON
//! (`esearchresult.count` is the total), then `esummary.fcgi` with the ids.
//! Without a key NCBI allows 3 calls a second, with one (`key_env`) 10;
//! more is a 429 `{"error": "API rate limit exceeded", …}`. A query it
//! cannot read is a 200 with `esearchresult.ERROR`. `tool=trawl` and
//! `email` (if set) say who is calling, as NCBI asks. The snippet is the
//! authors, the journal and the date. The time range maps to
//! `datetype=pdat&reldate=<days>`.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trawl_api::SearchRequest;
use url::Url;

use super::markup::facts;
use super::http::{Api, ApiEngine, ApiKey, Call};
use super::settings::{Build, BuildError, EngineSettings, directory, http_url, non_empty_opt, url};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// `[[engines]]` with `type = "pubmed"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The E-utilities' root, ending in `/`.
    #[serde(default = "default_base", deserialize_with = "http_url")]
    pub base_url: Url,
    /// The environment variable holding an NCBI API key (optional).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty_opt"
    )]
    pub key_env: Option<String>,
    /// The operator's address, sent as NCBI asks.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty_opt"
    )]
    pub email: Option<String>,
}

fn default_base() -> Url {
    url("https://eutils.ncbi.nlm.nih.gov/entrez/eutils/")
}

impl EngineSettings for Settings {
    const KIND: &'static str = "pubmed";
    const CATEGORIES: &'static [&'static str] = &["science"];
    /// NCBI allows 3 calls a second without a key (10 with one: set `calls_per_minute`).
    const POLITE_CALLS_PER_MINUTE: Option<u32> = Some(180);

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let base = directory(self.base_url);
        let key = ApiKey::optional(self.key_env.as_deref(), &build.http.name);
        let api = PubMed {
            search: base.join("esearch.fcgi").expect("a relative path joins"),
            summary: base.join("esummary.fcgi").expect("a relative path joins"),
            key,
            email: self.email,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &base, api)?))
    }
}

/// PubMed's side of the engine.
pub struct PubMed {
    search: Url,
    summary: Url,
    key: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
struct SearchAnswer {
    esearchresult: SearchResult,
}

#[derive(Deserialize)]
struct SearchResult {
    #[serde(default)]
    count: Option<String>,
    #[serde(default)]
    idlist: Vec<String>,
    #[serde(rename = "ERROR", default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct SummaryAnswer {
    result: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Summary {
    #[serde(default)]
    title: String,
    #[serde(default)]
    pubdate: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    authors: Vec<Author>,
}

#[derive(Deserialize)]
struct Author {
    name: String,
}

/// `{"error": "API rate limit exceeded", "api-key": …, "count", "limit"}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: String,
}

impl PubMed {
    fn with_common(&self, url: &mut Url) {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("db", "pubmed")
            .append_pair("retmode", "json")
            .append_pair("tool", "trawl");
        if let Some(key) = &self.key {
            query.append_pair("api_key", key);
        }
        if let Some(email) = &self.email {
            query.append_pair("email", email);
        }
    }
}

#[async_trait]
impl Api for PubMed {
    const KIND: &'static str = "pubmed";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        let ErrorEnvelope { error } = serde_json::from_slice(&answer.body).ok()?;
        Some(match answer.status.as_u16() {
            429 => EngineError::RateLimited(error),
            400 if error.contains("API key") => EngineError::Auth(error),
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
        let mut url = self.search.clone();
        self.with_common(&mut url);
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("term", request.query.as_str())
                .append_pair("retstart", &request.offset().to_string())
                .append_pair("retmax", &request.per_page.to_string())
                .append_pair("sort", "relevance");
            if let Some(range) = request.time_range {
                let days = range.duration().as_secs() / 86_400;
                query
                    .append_pair("datetype", "pdat")
                    .append_pair("reldate", &days.to_string());
            }
        }
        let found: SearchAnswer = call.get_json(url, &[]).await?;
        if let Some(error) = found.esearchresult.error {
            return Err(EngineError::Http {
                status: 200,
                message: error,
            });
        }
        let total = found.esearchresult.count.and_then(|c| c.parse().ok());
        // At most a page of ids goes into the second call, whatever
        // esearch answered.
        let mut ids = found.esearchresult.idlist;
        ids.truncate(request.per_page as usize);
        if ids.is_empty() {
            return Ok(EngineResults {
                hits: Vec::new(),
                total,
            });
        }
        let mut url = self.summary.clone();
        self.with_common(&mut url);
        url.query_pairs_mut().append_pair("id", &ids.join(","));
        let summaries: SummaryAnswer = call.get_json(url, &[]).await?;
        let count = ids.len();
        let hits = ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| {
                let summary: Summary =
                    serde_json::from_value(summaries.result.get(id)?.clone()).ok()?;
                let authors: Vec<&str> =
                    summary.authors.iter().take(5).map(|a| a.name.as_str()).collect();
                let snippet = facts([authors.join(", "), summary.source, summary.pubdate]);
                Some(EngineHit {
                    title: summary.title,
                    url: format!("https://pubmed.ncbi.nlm.nih.gov/{id}/"),
                    snippet,
                    highlights: Vec::new(),
                    score: positional_score(i, count),
                    published: None,
                })
            })
            .collect();
        Ok(EngineResults { hits, total })
    }
}

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    const SEARCH: &str = r#"{"header":{"type":"esearch","version":"0.3"},"esearchresult":{"count":"318","retmax":"2","retstart":"5","idlist":["36921234","35112233"],"translationset":[],"translationstack":[{"term":"rust[All Fields]","field":"All Fields","count":"5431","explode":"N"},"GROUP","AND"],"querytranslation":"rust[All Fields] AND search[All Fields]"}}"#;
    const SUMMARY: &str = r#"{"header":{"type":"esummary","version":"0.3"},"result":{"uids":["36921234","35112233"],"36921234":{"uid":"36921234","pubdate":"2023 Mar 14","epubdate":"2023 Mar 14","source":"Bioinformatics","authors":[{"name":"Köster J","authtype":"Author","clusterid":""},{"name":"Rahmann S","authtype":"Author","clusterid":""}],"lastauthor":"Rahmann S","title":"Rust-Bio: a fast and safe bioinformatics library.","sorttitle":"rust bio a fast and safe bioinformatics library","volume":"32","issue":"3","pages":"444-6","fulljournalname":"Bioinformatics (Oxford, England)","elocationid":"doi: 10.1093/bioinformatics/btv573"},"35112233":{"uid":"35112233","pubdate":"2022 Feb","source":"J Open Source Softw","authors":[],"title":"Searching sequences in Rust."}}}"#;
    Case {
        kind: "pubmed",
        answers: vec![
            (
                "/pubmed/esearch.fcgi",
                vec![Canned::json(SEARCH)],
            ),
            (
                "/pubmed/esummary.fcgi",
                vec![Canned::json(SUMMARY)],
            ),
        ],
        spec: |root| {
            serde_json::json!({
                "base_url": root.join("pubmed/").unwrap(),
                "email": "ops@example.org",
            })
        },
        first: (
            "Rust-Bio: a fast and safe bioinformatics library.",
            "https://pubmed.ncbi.nlm.nih.gov/36921234/",
        ),
        total: Some(318),
        asked: |seen| {
            let search = &seen[0];
            assert_eq!(search.param("db"), Some("pubmed"));
            assert_eq!(search.param("term"), Some("rust search"));
            assert_eq!(search.param("retstart"), Some("5"));
            assert_eq!(search.param("retmax"), Some("5"));
            assert_eq!(search.param("email"), Some("ops@example.org"));
            assert_eq!(seen[1].param("id"), Some("36921234,35112233"));
        },
        errors: vec![(
            "/pubmed/esearch.fcgi",
            Canned::json(
                r#"{"header":{"type":"esearch","version":"0.3"},"esearchresult":{"ERROR":"Invalid query syntax"}}"#,
            ),
            "http",
        )],
        rate_limited: (
            "/pubmed/esearch.fcgi",
            Canned::with(
                429,
                "application/json",
                r#"{"error":"API rate limit exceeded","api-key":"203.0.113.7","count":"4","limit":"3"}"#,
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use trawl_api::Query;

    use super::*;
    use crate::doubles::{Canned, Double, settings};

    #[tokio::test]
    async fn a_page_of_ids_at_most_goes_into_the_summary_call() {
        let ids: Vec<String> = (1..=40).map(|i| format!("\"{i}\"")).collect();
        let search = format!(
            r#"{{"esearchresult":{{"count":"40","retmax":"40","retstart":"0","idlist":[{}]}}}}"#,
            ids.join(",")
        );
        let double = Double::start(vec![
            ("/esearch.fcgi", vec![Canned::json(search)]),
            ("/esummary.fcgi", vec![Canned::json(r#"{"result":{"uids":[]}}"#)]),
        ])
        .await;
        let mut build = Build {
            http: settings("pubmed"),
            local: None,
        };
        let engine = Settings {
            base_url: double.at("/"),
            key_env: None,
            email: None,
        }
        .build(&mut build)
        .unwrap();
        let request = SearchRequest {
            per_page: 5,
            ..SearchRequest::new(Query::parse("x").unwrap())
        };
        engine.search(&request).await.unwrap();
        assert_eq!(double.seen()[1].param("id"), Some("1,2,3,4,5"));
    }
}
