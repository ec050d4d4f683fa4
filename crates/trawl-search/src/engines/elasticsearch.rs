//! Elasticsearch and OpenSearch: `POST /{index}/_search`.
//!
//! <https://www.elastic.co/guide/en/elasticsearch/reference/current/search-search.html>.
//! A `multi_match` over `search_fields` (by default the title, weighted
//! twice, and the snippet field), `from` and `size`, the snippet field
//! highlighted with `<em>`; the total is `hits.total.value`. Credentials:
//! an API key (`key_env`, sent as `Authorization: ApiKey …`) or basic auth
//! (`username` and `password_env`). Errors are `{"error": {"type",
//! "reason"}, "status"}`; an overloaded cluster answers 429
//! (`es_rejected_execution_exception`). The time range maps to a `range`
//! filter on `date_field`, when one is named.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trawl_api::SearchRequest;
use url::Url;

use super::document::Fields;
use super::http::{Api, ApiEngine, ApiKey, Call};
use super::settings::{Build, BuildError, EngineSettings, basic_auth, directory, endpoint, http_url, non_empty, non_empty_opt};
use crate::engine::{Engine, EngineError, EngineResults};

/// `[[engines]]` with `type = "elasticsearch"` (OpenSearch too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The cluster's root, e.g. `http://localhost:9200/`.
    #[serde(deserialize_with = "http_url")]
    pub base_url: Url,
    /// The index (or alias, or pattern) searched.
    #[serde(deserialize_with = "non_empty")]
    pub index: String,
    /// Which fields are the title, URL and snippet.
    #[serde(default)]
    pub fields: Fields,
    /// The fields the query is matched against (`name^boost` allowed); by
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
    /// The environment variable holding an API key (base64 `id:key`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty_opt"
    )]
    pub key_env: Option<String>,
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
    const KIND: &'static str = "elasticsearch";
    const CATEGORIES: &'static [&'static str] = &["general", "local"];

    fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
        let name = &build.http.name;
        let authorization = match (&self.key_env, &self.username, &self.password_env) {
            (Some(_), Some(_), _) => {
                return Err(BuildError::Invalid(
                    "set `key_env` or `username`, not both".to_owned(),
                ));
            }
            (None, None, Some(_)) => {
                return Err(BuildError::Invalid(
                    "`password_env` needs `username`".to_owned(),
                ));
            }
            (Some(var), None, _) => {
                ApiKey::optional(Some(var), name).map(|key| format!("ApiKey {key}"))
            }
            (None, Some(user), password) => Some(basic_auth(user, password.as_deref(), name)),
            (None, None, None) => None,
        };
        let base = directory(self.base_url);
        let search = endpoint(&base, &[&self.index, "_search"]);
        let searched = if self.search_fields.is_empty() {
            self.fields.searched()
        } else {
            self.search_fields
        };
        let api = Elasticsearch {
            search,
            fields: self.fields,
            searched,
            date_field: self.date_field,
            authorization,
        };
        Ok(Arc::new(ApiEngine::new(&build.http, &base, api)?))
    }
}

/// A cluster's side of the engine.
pub struct Elasticsearch {
    search: Url,
    fields: Fields,
    searched: Vec<String>,
    date_field: Option<String>,
    authorization: Option<String>,
}

#[derive(Deserialize)]
struct Response {
    hits: Hits,
}

#[derive(Deserialize)]
struct Hits {
    #[serde(default)]
    total: Option<Total>,
    #[serde(default)]
    hits: Vec<Hit>,
}

/// `{"value", "relation"}` since 7.0, a number before.
#[derive(Deserialize)]
#[serde(untagged)]
enum Total {
    Object { value: u64 },
    Number(u64),
}

#[derive(Deserialize)]
struct Hit {
    #[serde(rename = "_source", default)]
    source: Value,
    #[serde(default)]
    highlight: Option<serde_json::Map<String, Value>>,
}

/// `{"error": {"type", "reason", "root_cause"}, "status"}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorBody {
    Object {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        reason: String,
    },
    Text(String),
}

#[async_trait]
impl Api for Elasticsearch {
    const KIND: &'static str = "elasticsearch";

    fn error_of(&self, answer: &trawl_service::outbound::Answer) -> Option<EngineError> {
        let ErrorEnvelope { error } = serde_json::from_slice(&answer.body).ok()?;
        let message = match error {
            ErrorBody::Object { kind, reason } => format!("{reason} ({kind})"),
            ErrorBody::Text(text) => text,
        };
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
        let matching = json!({"multi_match": {
            "query": request.query.as_str(),
            "fields": self.searched,
        }});
        let query = match (&self.date_field, request.time_range) {
            (Some(field), Some(range)) => json!({"bool": {
                "must": matching,
                "filter": {"range": {field: {"gte": format!("now-{}d", range.duration().as_secs() / 86_400)}}},
            }}),
            _ => matching,
        };
        let body = json!({
            "from": request.offset(),
            "size": request.per_page,
            "query": query,
            "highlight": {
                "pre_tags": ["<em>"],
                "post_tags": ["</em>"],
                "fields": {&self.fields.snippet: {"number_of_fragments": 1, "fragment_size": 200}},
            },
        });
        let headers: Vec<(&'static str, String)> = self
            .authorization
            .iter()
            .map(|value| ("authorization", value.clone()))
            .collect();
        let response: Response = call.post_json(self.search.clone(), &headers, &body).await?;
        let count = response.hits.hits.len();
        let hits = response
            .hits
            .hits
            .into_iter()
            .enumerate()
            .filter_map(|(i, hit)| {
                let highlighted = hit
                    .highlight
                    .as_ref()
                    .and_then(|h| super::json::text(h.get(&self.fields.snippet)));
                self.fields.hit(&hit.source, highlighted, i, count)
            })
            .collect();
        let total = response.hits.total.map(|t| match t {
            Total::Object { value } | Total::Number(value) => value,
        });
        Ok(EngineResults { hits, total })
    }
}

#[cfg(any(test, feature = "doubles"))]
pub(crate) fn case() -> crate::doubles::Case {
    use crate::doubles::{Canned, Case};
    const SEARCH: &str = r#"{"took":5,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"hits":{"total":{"value":37,"relation":"eq"},"max_score":7.12,"hits":[{"_index":"docs","_id":"b1","_score":7.12,"_source":{"title":"Searching with <Rust>","url":"https://docs.example.org/rust-search","content":"How the search service is written in Rust, and why."},"highlight":{"content":["How the <em>search</em> service is written in <em>Rust</em>, and why."]}},{"_index":"docs","_id":"b2","_score":3.4,"_source":{"title":"No URL"}}]}}"#;
    Case {
        kind: "elasticsearch",
        answers: vec![(
            "/es/docs/_search",
            vec![Canned::json(SEARCH)],
        )],
        spec: |root| {
            serde_json::json!({
                "base_url": root.join("es/").unwrap(),
                "index": "docs",
                "username": "elastic",
                "password_env": "PATH",
            })
        },
        first: ("Searching with <Rust>", "https://docs.example.org/rust-search"),
        total: Some(37),
        asked: |seen| {
            let asked = &seen[0];
            assert_eq!(asked.method, "POST");
            assert!(asked.header("authorization").is_some_and(|a| a.starts_with("Basic ")));
            let body = asked.json();
            assert_eq!(body["from"], 5);
            assert_eq!(body["size"], 5);
            assert_eq!(body["query"]["multi_match"]["query"], "rust search");
            assert_eq!(
                body["query"]["multi_match"]["fields"],
                serde_json::json!(["title^2", "content"])
            );
        },
        errors: vec![
            (
                "/es/docs/_search",
                Canned::with(
                    404,
                    "application/json",
                    r#"{"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index [docs]","resource.type":"index_or_alias","resource.id":"docs","index_uuid":"_na_","index":"docs"}],"type":"index_not_found_exception","reason":"no such index [docs]","resource.type":"index_or_alias","resource.id":"docs","index_uuid":"_na_","index":"docs"},"status":404}"#,
                ),
                "http",
            ),
            (
                "/es/docs/_search",
                Canned::with(
                    401,
                    "application/json",
                    r#"{"error":{"root_cause":[{"type":"security_exception","reason":"unable to authenticate user [elastic] for REST request [/docs/_search]","header":{"WWW-Authenticate":["Basic realm=\"security\" charset=\"UTF-8\"","ApiKey"]}}],"type":"security_exception","reason":"unable to authenticate user [elastic] for REST request [/docs/_search]","header":{"WWW-Authenticate":["Basic realm=\"security\" charset=\"UTF-8\"","ApiKey"]}},"status":401}"#,
                ),
                "auth",
            ),
        ],
        rate_limited: (
            "/es/docs/_search",
            Canned::with(
                429,
                "application/json",
                r#"{"error":{"root_cause":[{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1024, max_coordinating_and_primary_bytes=0]"}],"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"},"status":429}"#,
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use trawl_api::{Query, TimeRange};

    use super::*;
    use crate::doubles::{Canned, Double, settings};

    /// An answer of a cluster whose documents keep their fields elsewhere.
    const MAPPED: &str = r#"{"took":2,"timed_out":false,"hits":{"total":{"value":1,"relation":"eq"},"max_score":1.2,"hits":[{"_index":"kb","_id":"7","_score":1.2,"_source":{"doc":{"name":"Runbook: rotate keys"},"link":"https://kb.example.org/rotate","text":"Rotate the signing keys every quarter."}}]}}"#;

    #[tokio::test]
    async fn an_api_key_mapped_fields_and_a_date_filter() {
        let double = Double::start(vec![("/kb/_search", vec![Canned::json(MAPPED)])]).await;
        let settings_json = serde_json::json!({
            "base_url": double.at("/"),
            "index": "kb",
            "fields": {"title": "doc.name", "url": "link", "snippet": "text"},
            "search_fields": ["doc.name^3", "text"],
            "date_field": "updated",
            "key_env": "PATH",
        });
        let mut build = Build {
            http: settings("kb"),
            local: None,
        };
        let engine = serde_json::from_value::<Settings>(settings_json)
            .unwrap()
            .build(&mut build)
            .unwrap();
        let mut request = SearchRequest::new(Query::parse("rotate keys").unwrap());
        request.time_range = Some(TimeRange::Week);
        let found = engine.search(&request).await.unwrap();
        let asked = &double.seen()[0];
        assert!(
            asked
                .header("authorization")
                .is_some_and(|a| a.starts_with("ApiKey ")),
            "{:?}",
            asked.headers
        );
        let body = asked.json();
        assert_eq!(
            body["query"]["bool"]["must"]["multi_match"]["fields"],
            serde_json::json!(["doc.name^3", "text"])
        );
        assert_eq!(
            body["query"]["bool"]["filter"]["range"]["updated"]["gte"],
            "now-7d"
        );
        let hit = &found.hits[0];
        assert_eq!(hit.title, "Runbook: rotate keys");
        assert_eq!(hit.url, "https://kb.example.org/rotate");
        assert_eq!(hit.snippet, "Rotate the signing keys every quarter.");
    }

    #[test]
    fn credentials_are_one_kind_or_the_other() {
        let mut build = Build {
            http: settings("kb"),
            local: None,
        };
        let both = serde_json::from_value::<Settings>(serde_json::json!({
            "base_url": "http://127.0.0.1:9200/",
            "index": "kb",
            "key_env": "K",
            "username": "elastic",
        }))
        .unwrap();
        let error = both.build(&mut build).err().unwrap().to_string();
        assert!(error.contains("not both"), "{error}");
        let unknown = serde_json::from_value::<Settings>(serde_json::json!({
            "base_url": "http://127.0.0.1:9200/",
            "index": "kb",
            "fields": {"titel": "x"},
        }))
        .unwrap_err()
        .to_string();
        assert!(unknown.contains("unknown field `titel`"), "{unknown}");
    }
}
