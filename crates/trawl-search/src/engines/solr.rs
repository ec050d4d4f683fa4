//! Apache Solr: `GET /{core}/select` with the edismax parser.
//!
//! <https://solr.apache.org/guide/solr/latest/query-guide/edismax-query-parser.html>.
//! `q`, `defType=edismax`, `qf` (the title, boosted twice, and the snippet
//! field by default), `start` and `rows`, the snippet field highlighted
//! (`hl.fl`) with `<em>`; the total is `response.numFound`. `base_url` is
//! the Solr root (`…/solr/`), `index` the core or collection. Basic auth:
//! `username` and `password_env`. Errors are `{"error": {"msg", "code"}}`;
//! a 429 is Solr's rate limiter. The time range maps to a `fq` on
//! `date_field`, when one is named.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trawl_api::SearchRequest;
use url::Url;

use super::document::Fields;
use super::http::{Api, ApiEngine, Call};
use super::json::text;
use super::settings::{Build, BuildError, EngineSettings, basic_auth, directory, endpoint, http_url, non_empty, non_empty_opt};
use crate::engine::{Engine, EngineError, EngineResults};

/// `[[engines]]` with `type = "solr"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Solr's root, e.g. `http://localhost:8983/solr/`.
    #[serde(deserialize_with = "http_url")]
    pub base_url: Url,
    /// The core or collection searched.
    #[serde(deserialize_with = "non_empty")]
    pub index: String,
    /// Which fields are the title, URL and snippet.
    #[serde(default)]
    pub fields: Fields,
    /// The fields the query is matched against (`qf`, `name^boost`); by
    /// default the title's (twice) and the snippet's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search_fields: Vec<String>,
    /// A date field for the time range, when there is one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty_opt"
    )]
    pub date_field: Option<String>,
    /// A user for basic auth, with `password_env`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty_opt"
    )]
    pub username: Option<String>,
    /// The environment variable holding the basic-auth password.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty_opt"
    )]
    pub password_env: Option<String>,
}

impl EngineSettings for Settings {
    const KIND: &'static str = "solr";
    const CATEGORIES: &'static [&'static str] = &["general", "local"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let authorization = match (&self.username, &self.password_env) {
            (None, Some(_)) => {
                return Err(BuildError::Invalid(
                    "`password_env` needs `username`".to_owned(),
                ));
            }
            (Some(user), password) => Some(basic_auth(
                user,
                password.as_deref(),
                &build.http.name,
            )),
            (None, None) => None,
        };
        let base = directory(self.base_url);
        let select = endpoint(&base, &[&self.index, "select"]);
        let qf = if self.search_fields.is_empty() {
            self.fields.searched()
        } else {
            self.search_fields
        };
        let api = Solr {
            select,
            fields: self.fields,
            qf: qf.join(" "),
            date_field: self.date_field,
            authorization,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &base, api)?))
    }
}

/// A Solr core's side of the engine.
pub struct Solr {
    select: Url,
    fields: Fields,
    qf: String,
    date_field: Option<String>,
    authorization: Option<String>,
}

#[derive(Deserialize)]
struct Answer {
    response: Found,
    #[serde(default)]
    highlighting: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct Found {
    #[serde(rename = "numFound")]
    found: Option<u64>,
    #[serde(default)]
    docs: Vec<Value>,
}

/// `{"responseHeader": …, "error": {"metadata", "msg", "code"}}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    msg: String,
}

#[async_trait]
impl Api for Solr {
    const KIND: &'static str = "solr";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        let ErrorEnvelope { error } = serde_json::from_slice(&answer.body).ok()?;
        Some(match answer.status.as_u16() {
            429 => EngineError::RateLimited(error.msg),
            401 | 403 => EngineError::Auth(error.msg),
            status => EngineError::Http {
                status,
                message: error.msg,
            },
        })
    }

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let mut url = self.select.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("q", request.query.as_str())
                .append_pair("defType", "edismax")
                .append_pair("qf", &self.qf)
                .append_pair("start", &request.offset().to_string())
                .append_pair("rows", &request.per_page.to_string())
                .append_pair("wt", "json")
                .append_pair("hl", "true")
                .append_pair("hl.fl", &self.fields.snippet)
                .append_pair("hl.simple.pre", "<em>")
                .append_pair("hl.simple.post", "</em>");
            if let (Some(field), Some(range)) = (&self.date_field, request.time_range) {
                let days = range.duration().as_secs() / 86_400;
                query.append_pair("fq", &format!("{field}:[NOW-{days}DAYS TO *]"));
            }
        }
        let headers: Vec<(&'static str, String)> = self
            .authorization
            .iter()
            .map(|value| ("authorization", value.clone()))
            .collect();
        let answer: Answer = call.get_json(url, &headers).await?;
        let count = answer.response.docs.len();
        let hits = answer
            .response
            .docs
            .iter()
            .enumerate()
            .filter_map(|(i, doc)| {
                let highlighted = doc
                    .get("id")
                    .and_then(|id| text(Some(id)))
                    .and_then(|id| answer.highlighting.get(&id))
                    .and_then(|h| text(h.get(&self.fields.snippet)));
                self.fields.hit(doc, highlighted, i, count)
            })
            .collect();
        Ok(EngineResults {
            hits,
            total: answer.response.found,
        })
    }
}

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    const SELECT: &str = r#"{"responseHeader":{"status":0,"QTime":2,"params":{"q":"rust search","defType":"edismax","qf":"title^2 content","start":"5","rows":"5","wt":"json","hl":"true"}},"response":{"numFound":23,"start":5,"numFoundExact":true,"docs":[{"id":"doc-1","title":["Searching with Rust"],"url":"https://docs.example.org/rust-search","content":["How the search service is written in Rust, and why."],"_version_":1797000000000000000}]},"highlighting":{"doc-1":{"content":["How the <em>search</em> service is written in <em>Rust</em>, and why."]}}}"#;
    Case {
        kind: "solr",
        answers: vec![("/solr/docs/select", vec![Canned::json(SELECT)])],
        spec: |root| serde_json::json!({"base_url": root.join("solr/").unwrap(), "index": "docs"}),
        first: ("Searching with Rust", "https://docs.example.org/rust-search"),
        total: Some(23),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("q"), Some("rust search"));
            assert_eq!(asked.param("defType"), Some("edismax"));
            assert_eq!(asked.param("qf"), Some("title^2 content"));
            assert_eq!(asked.param("start"), Some("5"));
            assert_eq!(asked.param("rows"), Some("5"));
        },
        errors: vec![(
            "/solr/docs/select",
            Canned::with(
                400,
                "application/json",
                r#"{"responseHeader":{"status":400,"QTime":1,"params":{"q":"rust search","qf":"nope"}},"error":{"metadata":["error-class","org.apache.solr.common.SolrException","root-error-class","org.apache.solr.common.SolrException"],"msg":"undefined field nope","code":400}}"#,
            ),
            "http",
        )],
        rate_limited: (
            "/solr/docs/select",
            Canned::with(
                429,
                "application/json",
                r#"{"responseHeader":{"status":429,"QTime":0},"error":{"metadata":["error-class","org.apache.solr.common.SolrException"],"msg":"Too many requests for this request type. Please try after some time or increase the quota for this request type","code":429}}"#,
            ),
        ),
    }
}
