//! The npm registry's search: `GET /-/v1/search`.
//!
//! <https://github.com/npm/registry/blob/main/docs/REGISTRY-API.md#get-v1search>.
//! `text`, `size` (at most 250) and the 0-based `from`; the total is
//! `total`. Errors are `{"error": "..."}`, too many calls a 429. The
//! snippet is the description, the version and the keywords; the URL the
//! package's page on npmjs.com. Language, safe search and time range are
//! not mapped.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trawl_api::SearchRequest;
use url::Url;

use super::markup::facts;
use super::http::{Api, ApiEngine, Call};
use super::settings::{Build, BuildError, EngineSettings, http_url, url};
use crate::engine::{Engine, EngineError, EngineHit, EngineResults, positional_score};

/// `[[engines]]` with `type = "npm"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The search URL.
    #[serde(default = "default_base", deserialize_with = "http_url")]
    pub base_url: Url,
}

fn default_base() -> Url {
    url("https://registry.npmjs.org/-/v1/search")
}

impl EngineSettings for Settings {
    const KIND: &'static str = "npm";
    const CATEGORIES: &'static [&'static str] = &["code"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let home = self.base_url.clone();
        let api = Npm {
            base: self.base_url,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &home, api)?))
    }
}

/// The npm registry's side of the engine.
pub struct Npm {
    base: Url,
}

const MAX_SIZE: u32 = 250;

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    objects: Vec<Object>,
    total: Option<u64>,
}

#[derive(Deserialize)]
struct Object {
    package: Package,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    links: Links,
}

#[derive(Deserialize, Default)]
struct Links {
    #[serde(default)]
    npm: Option<String>,
}

/// `{"error": "..."}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: String,
}

#[async_trait]
impl Api for Npm {
    const KIND: &'static str = "npm";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        let ErrorEnvelope { error } = serde_json::from_slice(&answer.body).ok()?;
        Some(match answer.status.as_u16() {
            429 => EngineError::RateLimited(error),
            401 | 403 => EngineError::Auth(error),
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
        let mut url = self.base.clone();
        url.query_pairs_mut()
            .append_pair("text", request.query.as_str())
            .append_pair("size", &request.per_page.min(MAX_SIZE).to_string())
            .append_pair("from", &request.offset().to_string());
        let response: Response = call.get_json(url, &[]).await?;
        let count = response.objects.len();
        let hits = response
            .objects
            .into_iter()
            .enumerate()
            .map(|(i, object)| {
                let package = object.package;
                let snippet = facts([
                    package.description.unwrap_or_default(),
                    package.version.unwrap_or_default(),
                    package.keywords.join(", "),
                ]);
                EngineHit {
                    url: package
                        .links
                        .npm
                        .unwrap_or_else(|| format!("https://www.npmjs.com/package/{}", package.name)),
                    title: package.name,
                    snippet,
                    highlights: Vec::new(),
                    score: positional_score(i, count),
                    published: None,
                }
            })
            .collect();
        Ok(EngineResults {
            hits,
            total: response.total,
        })
    }
}

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    const SEARCH: &str = r#"{"objects":[{"downloads":{"monthly":1234567,"weekly":301234},"dependents":812,"updated":"2024-04-30T12:00:00.000Z","searchScore":512.33,"package":{"name":"flexsearch","keywords":["search","fulltext","index"],"version":"0.7.43","description":"Next-Generation full text search library for Browser and Node.js","sanitized_name":"flexsearch","publisher":{"email":"info@nextapps.de","username":"ts-thomas"},"maintainers":[{"email":"info@nextapps.de","username":"ts-thomas"}],"license":"Apache-2.0","date":"2023-10-01T10:00:00.000Z","links":{"homepage":"https://github.com/nextapps-de/flexsearch","repository":"git+https://github.com/nextapps-de/flexsearch.git","bugs":"https://github.com/nextapps-de/flexsearch/issues","npm":"https://www.npmjs.com/package/flexsearch"}},"score":{"final":512.33,"detail":{"popularity":1,"quality":1,"maintenance":1}},"flags":{"insecure":0}}],"total":7321,"time":"2024-05-01T12:00:00.000Z"}"#;
    Case {
        kind: "npm",
        answers: vec![("/npm/-/v1/search", vec![Canned::json(SEARCH)])],
        spec: |root| serde_json::json!({"base_url": root.join("npm/-/v1/search").unwrap()}),
        first: ("flexsearch", "https://www.npmjs.com/package/flexsearch"),
        total: Some(7321),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.param("text"), Some("rust search"));
            assert_eq!(asked.param("size"), Some("5"));
            assert_eq!(asked.param("from"), Some("5"));
        },
        errors: vec![(
            "/npm/-/v1/search",
            Canned::with(
                400,
                "application/json",
                r#"{"error":"\"size\" must be less than or equal to 250"}"#,
            ),
            "http",
        )],
        rate_limited: (
            "/npm/-/v1/search",
            Canned::with(429, "application/json", r#"{"error":"Too Many Requests"}"#),
        ),
    }
}
