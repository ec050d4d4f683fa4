//! crates.io, the Rust package registry: `GET /api/v1/crates`.
//!
//! <https://crates.io/data-access>. `q`, the 1-based `page` and `per_page`
//! (at most 100); the total is `meta.total`. crates.io asks for at most one
//! call a second and a User-Agent that says who is calling (trawl sends
//! one); errors are `{"errors": [{"detail"}]}`, too many calls a 429. The
//! snippet is the description, the newest version and the downloads.
//! Language, safe search and time range are not mapped.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trawl_api::SearchRequest;
use url::Url;

use super::markup::facts;
use super::http::{Api, ApiEngine, Call};
use super::settings::{Build, BuildError, EngineSettings, http_url, url};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// `[[engines]]` with `type = "crates"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The crates search URL.
    #[serde(default = "default_base", deserialize_with = "http_url")]
    pub base_url: Url,
}

fn default_base() -> Url {
    url("https://crates.io/api/v1/crates")
}

impl EngineSettings for Settings {
    const KIND: &'static str = "crates";
    const CATEGORIES: &'static [&'static str] = &["code"];
    /// crates.io asks for at most one call a second.
    const POLITE_CALLS_PER_MINUTE: Option<u32> = Some(60);

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let home = self.base_url.clone();
        let api = Crates {
            base: self.base_url,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &home, api)?))
    }
}

/// crates.io's side of the engine.
pub struct Crates {
    base: Url,
}

const MAX_PER_PAGE: u32 = 100;

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    crates: Vec<Crate>,
    meta: Meta,
}

#[derive(Deserialize)]
struct Meta {
    total: Option<u64>,
}

#[derive(Deserialize)]
struct Crate {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
    #[serde(default)]
    downloads: Option<u64>,
}

/// `{"errors": [{"detail": "..."}]}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    errors: Vec<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    detail: String,
}

#[async_trait]
impl Api for Crates {
    const KIND: &'static str = "crates";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        let ErrorEnvelope { errors } = serde_json::from_slice(&answer.body).ok()?;
        let message = errors
            .into_iter()
            .map(|e| e.detail)
            .collect::<Vec<_>>()
            .join("; ");
        Some(match answer.status.as_u16() {
            429 => EngineError::RateLimited(message),
            401 | 403 => EngineError::Auth(message),
            status => EngineError::Http { status, message },
        })
    }

    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError> {
        let mut url = self.base.clone();
        url.query_pairs_mut()
            .append_pair("q", request.query.as_str())
            .append_pair("page", &request.page.to_string())
            .append_pair("per_page", &request.per_page.min(MAX_PER_PAGE).to_string());
        let response: Response = call.get_json(url, &[]).await?;
        let count = response.crates.len();
        let hits = response
            .crates
            .into_iter()
            .enumerate()
            .map(|(i, krate)| {
                let snippet = facts([
                    krate.description.unwrap_or_default().trim().to_owned(),
                    krate.max_version.unwrap_or_default(),
                    krate
                        .downloads
                        .map(|d| format!("{d} downloads"))
                        .unwrap_or_default(),
                ]);
                EngineHit {
                    url: format!("https://crates.io/crates/{}", krate.name),
                    title: krate.name,
                    snippet,
                    highlights: Vec::new(),
                    score: positional_score(i, count),
                    published: None,
                }
            })
            .collect();
        Ok(EngineResults {
            hits,
            total: response.meta.total,
        })
    }
}

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    const CRATES: &str = r#"{"crates":[{"id":"tantivy","name":"tantivy","updated_at":"2024-04-30T12:00:00.000000+00:00","versions":null,"keywords":null,"categories":null,"badges":null,"created_at":"2016-01-10T10:00:00.000000+00:00","downloads":4123456,"recent_downloads":712345,"default_version":"0.22.0","num_versions":89,"yanked":false,"max_version":"0.22.0","newest_version":"0.22.0","max_stable_version":"0.22.0","description":"Search engine library","homepage":null,"documentation":"https://docs.rs/tantivy/","repository":"https://github.com/quickwit-oss/tantivy","links":{"version_downloads":"/api/v1/crates/tantivy/downloads","versions":"/api/v1/crates/tantivy/versions","owners":"/api/v1/crates/tantivy/owners","owner_team":"/api/v1/crates/tantivy/owner_team","owner_user":"/api/v1/crates/tantivy/owner_user","reverse_dependencies":"/api/v1/crates/tantivy/reverse_dependencies"},"exact_match":false}],"meta":{"total":612,"next_page":"?q=rust+search&page=3&per_page=5","prev_page":"?q=rust+search&page=1&per_page=5"}}"#;
    Case {
        kind: "crates",
        answers: vec![("/crates/api/v1/crates", vec![Canned::json(CRATES)])],
        spec: |root| serde_json::json!({"base_url": root.join("crates/api/v1/crates").unwrap()}),
        first: ("tantivy", "https://crates.io/crates/tantivy"),
        total: Some(612),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("q"), Some("rust search"));
            assert_eq!(asked.param("page"), Some("2"));
            assert_eq!(asked.param("per_page"), Some("5"));
            assert!(asked.header("user-agent").is_some_and(|ua| ua.starts_with("trawl/")));
        },
        errors: vec![(
            "/crates/api/v1/crates",
            Canned::with(
                400,
                "application/json; charset=utf-8",
                r#"{"errors":[{"detail":"invalid per_page value: must be at most 100"}]}"#,
            ),
            "http",
        )],
        rate_limited: (
            "/crates/api/v1/crates",
            Canned::with(
                429,
                "application/json; charset=utf-8",
                r#"{"errors":[{"detail":"You have made too many requests. Please try again after 2024-05-01 12:00:00 UTC or email help@crates.io to have your limit increased."}]}"#,
            )
            .header("retry-after", "60"),
        ),
    }
}
