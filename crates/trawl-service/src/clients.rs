//! The HTTP implementations of the service seams: what `--role results` uses
//! to reach search, and `--role web` to reach results.
//!
//! One pooled keep-alive client per destination, and every call through
//! the outbound stack ([`crate::outbound`]): deadline, bulkhead, circuit
//! breaker, budgeted retries. What counts as the destination failing is
//! decided here ([`TRAWL_SERVICE`]): no connection, no answer in time, an
//! answer that is not a trawl service's, or a problem document in which the
//! destination reports its own failure (`internal`) or sheds load
//! (`overloaded`, the one answer worth retrying). A 4xx, or a 502/503/504
//! about a service further on, is a correct, prompt answer: passed on,
//! neither retried (its own caller did) nor held against the destination.
//!
//! Failures become [`ServiceError`]s that say which service failed and how;
//! a problem document the callee sent is passed on unchanged.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tower::ServiceExt;
use trawl_api::jobs::{Accepted, Batch, BatchFormat, IdempotencyKey, Job, JobsPage, JobsQuery};
use trawl_api::{
    Check, Code, EnginesResponse, IndexerService, Problem, Readiness, ResultsResponse,
    ResultsService, SearchRequest, SearchResponse, SearchService, ServiceError, Suggestions,
};
use url::Url;

use crate::breaker::{BreakerSettings, CircuitBreaker, State};
pub use crate::outbound::RetrySettings;
use crate::outbound::{
    Answer, Classifier, FetchError, Outbound, Outcome, StackSettings, StackStatus, error_chain,
    stack,
};

/// How long a readiness probe of a downstream service may take.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

/// How a client calls one of trawl's services.
#[derive(Debug, Clone, Copy)]
pub struct ClientSettings {
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// Whole-call limit: connecting, sending, waiting and reading the body.
    pub timeout: Duration,
    /// Calls to the destination at once; more are refused.
    pub max_in_flight: usize,
    /// When the destination is left alone.
    pub breaker: BreakerSettings,
    /// Which failed calls are tried again.
    pub retry: RetrySettings,
}

/// Why a client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    /// The base URL is not http or https.
    #[error("base URL {} must be http:// or https://", crate::redact::url(.0))]
    Scheme(Url),
    /// reqwest could not build the client.
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The key cannot be a header value.
    #[error("the API key holds characters a header cannot carry")]
    Key,
}

/// How trawl's own services' answers are judged (see the module docs).
pub const TRAWL_SERVICE: Classifier = Classifier {
    failed: |answer| match problem_code(answer) {
        Some(code) => matches!(Code::parse(&code), Some(Code::Internal | Code::Overloaded)),
        None => !answer.status.is_success() && answer.status.is_server_error(),
    },
    retryable: |answer| match problem_code(answer) {
        Some(code) => Code::parse(&code) == Some(Code::Overloaded),
        None => matches!(answer.status.as_u16(), 502..=504),
    },
};

/// The `code` of a problem document, when the answer is one.
fn problem_code(answer: &Answer) -> Option<String> {
    if answer.status.is_success() {
        return None;
    }
    serde_json::from_slice::<Problem>(&answer.body)
        .ok()
        .map(|p| p.code)
}

/// A keep-alive client for one downstream service.
#[derive(Debug, Clone)]
struct ServiceClient {
    service: &'static str,
    base: Url,
    /// For readiness probes, which go past the stack.
    http: reqwest::Client,
    outbound: Outbound,
    status: StackStatus,
}

impl ServiceClient {
    fn new(
        service: &'static str,
        base: Url,
        settings: ClientSettings,
    ) -> Result<Self, ClientBuildError> {
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientBuildError::Scheme(base));
        }
        let mut base = base;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            // trawl's services never redirect: one that does is not one.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("trawl/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let (outbound, status) = stack(
            http.clone(),
            &StackSettings {
                destination: service,
                timeout: settings.timeout,
                max_in_flight: settings.max_in_flight,
                retry: settings.retry,
                classifier: TRAWL_SERVICE,
                propagate_deadline: true,
                max_body_bytes: crate::outbound::MAX_SERVICE_BODY_BYTES,
            },
            Arc::new(CircuitBreaker::new(settings.breaker)),
        );
        Ok(Self {
            service,
            base,
            http,
            outbound,
            status,
        })
    }

    fn url(&self, path: &str, query: Option<&str>) -> Url {
        let mut url = self
            .base
            .join(path.trim_start_matches('/'))
            .expect("relative path joins");
        url.set_query(query);
        url
    }

    /// A GET through the outbound stack, decoded; failures said in terms
    /// of the service called.
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: Option<&str>,
    ) -> Result<T, ServiceError> {
        let request = reqwest::Request::new(reqwest::Method::GET, self.url(path, query));
        let answer = self.exchange(request).await?;
        self.decode(&answer)
    }

    /// A request through the outbound stack: a success, or the failure in
    /// terms of the service called (its problem document passed on).
    async fn exchange(&self, mut request: reqwest::Request) -> Result<Answer, ServiceError> {
        request.headers_mut().insert(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        let answer = match self.outbound.clone().oneshot(request).await {
            Ok(answer) => answer,
            Err(error) => return Err(self.failure(Outcome::from(error))),
        };
        let (status, bytes, retry_after) = (answer.status, &answer.body, answer.retry_after);
        if status.is_success() {
            return Ok(answer);
        }
        match serde_json::from_slice::<Problem>(bytes) {
            Ok(problem) => Err(ServiceError::Upstream {
                service: self.service,
                problem: Box::new(problem),
                retry_after,
            }),
            Err(_) if status == StatusCode::SERVICE_UNAVAILABLE => Err(ServiceError::Unavailable {
                service: self.service,
                reason: "503 without a problem document".to_owned(),
                retry_after: None,
            }),
            Err(_) => Err(ServiceError::BadGateway {
                service: self.service,
                reason: format!("{status} without a problem document"),
            }),
        }
    }

    fn decode<T: DeserializeOwned>(&self, answer: &Answer) -> Result<T, ServiceError> {
        serde_json::from_slice(&answer.body).map_err(|e| ServiceError::BadGateway {
            service: self.service,
            reason: format!("undecodable {} response: {e}", answer.status),
        })
    }

    fn failure(&self, outcome: Outcome) -> ServiceError {
        let service = self.service;
        match outcome {
            Outcome::Refused(refused) => ServiceError::Unavailable {
                service,
                reason: refused.to_string(),
                retry_after: Some(refused.retry_after),
            },
            Outcome::Fetch(FetchError::Timeout(timeout)) => {
                ServiceError::Timeout { service, timeout }
            }
            Outcome::Fetch(FetchError::Busy(limit)) => {
                tracing::warn!(service, limit, "bulkhead full: call refused");
                ServiceError::Unavailable {
                    service,
                    reason: format!("{limit} calls already in flight"),
                    retry_after: Some(Duration::from_secs(1)),
                }
            }
            Outcome::Fetch(FetchError::Connect(reason) | FetchError::Transport(reason)) => {
                ServiceError::Unavailable {
                    service,
                    reason,
                    retry_after: None,
                }
            }
            Outcome::Fetch(too_large @ FetchError::TooLarge(_)) => ServiceError::BadGateway {
                service,
                reason: too_large.to_string(),
            },
            Outcome::Other(error) => ServiceError::Internal(format!(
                "outbound call to {service} failed: {}",
                error_chain(error.as_ref())
            )),
        }
    }

    /// The downstream service's readiness in one check, and the breaker's
    /// state in another (not ready while it is open).
    async fn readiness(&self) -> Readiness {
        let downstream = self.downstream_readiness().await;
        Readiness::from_checks(vec![
            Check::new(self.service, downstream.ready, downstream.summary()),
            Check::new(
                &format!("{} breaker", self.service),
                self.status.breaker.snapshot().state != State::Open,
                self.status.describe(),
            ),
        ])
    }

    /// The downstream service's own readiness (asked past the breaker: it
    /// is how an operator sees whether the service is back), or a failed
    /// check saying why it could not be asked.
    async fn downstream_readiness(&self) -> Readiness {
        let request = self
            .http
            .get(self.url("readyz", None))
            .timeout(READINESS_TIMEOUT)
            .send();
        let unreachable =
            |detail: String| Readiness::from_checks(vec![Check::new(self.service, false, detail)]);
        match request.await {
            Ok(response) => match response.json::<Readiness>().await {
                Ok(readiness) => readiness,
                Err(e) => unreachable(format!(
                    "undecodable readiness: {}",
                    error_chain(&e.without_url())
                )),
            },
            Err(e) => unreachable(format!(
                "cannot reach {}: {}",
                crate::redact::url(&self.base),
                error_chain(&e.without_url())
            )),
        }
    }
}

/// The search service over HTTP.
#[derive(Debug, Clone)]
pub struct HttpSearchClient(ServiceClient);

impl HttpSearchClient {
    /// A client of the search service at `base`.
    pub fn new(base: Url, settings: ClientSettings) -> Result<Self, ClientBuildError> {
        ServiceClient::new("search", base, settings).map(Self)
    }
}

#[async_trait]
impl SearchService for HttpSearchClient {
    async fn search(&self, request: &SearchRequest) -> Result<SearchResponse, ServiceError> {
        self.0
            .get("v1/search", Some(&request.to_query_string()))
            .await
    }

    async fn engines(&self) -> Result<EnginesResponse, ServiceError> {
        self.0.get("v1/engines", None).await
    }

    async fn suggest(&self, text: &str) -> Result<Suggestions, ServiceError> {
        let query = format!("q={}", trawl_api::params::encode_component(text));
        self.0.get("v1/suggest", Some(&query)).await
    }

    async fn readiness(&self) -> Readiness {
        self.0.readiness().await
    }
}

/// The results service over HTTP.
#[derive(Debug, Clone)]
pub struct HttpResultsClient(ServiceClient);

impl HttpResultsClient {
    /// A client of the results service at `base`.
    pub fn new(base: Url, settings: ClientSettings) -> Result<Self, ClientBuildError> {
        ServiceClient::new("results", base, settings).map(Self)
    }
}

#[async_trait]
impl ResultsService for HttpResultsClient {
    async fn results(&self, request: &SearchRequest) -> Result<ResultsResponse, ServiceError> {
        self.0
            .get("v1/results", Some(&request.to_query_string()))
            .await
    }

    async fn engines(&self) -> Result<EnginesResponse, ServiceError> {
        self.0.get("v1/engines", None).await
    }

    async fn suggest(&self, text: &str) -> Result<Suggestions, ServiceError> {
        let query = format!("q={}", trawl_api::params::encode_component(text));
        self.0.get("v1/suggest", Some(&query)).await
    }

    async fn readiness(&self) -> Readiness {
        self.0.readiness().await
    }
}

/// The indexer's write API over HTTP, with an API key: what
/// `trawl index add --remote` uses. Submissions carry their
/// `Idempotency-Key`, so the outbound stack's retries of a call that never
/// reached the indexer cannot queue a batch twice.
#[derive(Debug, Clone)]
pub struct HttpIndexerClient {
    client: ServiceClient,
    key: Option<reqwest::header::HeaderValue>,
}

impl HttpIndexerClient {
    /// A client of the indexer at `base`, sending `key`.
    pub fn new(
        base: Url,
        key: Option<&str>,
        settings: ClientSettings,
    ) -> Result<Self, ClientBuildError> {
        let key = key
            .map(|key| {
                let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
                    .map_err(|_| ClientBuildError::Key)?;
                value.set_sensitive(true);
                Ok::<_, ClientBuildError>(value)
            })
            .transpose()?;
        Ok(Self {
            client: ServiceClient::new("indexer", base, settings)?,
            key,
        })
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        query: Option<&str>,
    ) -> reqwest::Request {
        let mut request = reqwest::Request::new(method, self.client.url(path, query));
        if let Some(key) = &self.key {
            request
                .headers_mut()
                .insert(reqwest::header::AUTHORIZATION, key.clone());
        }
        request
    }

    fn accepted(&self, answer: &Answer) -> Result<Accepted, ServiceError> {
        Ok(Accepted {
            job: self.client.decode(answer)?,
            replayed: answer
                .headers
                .get("idempotent-replayed")
                .is_some_and(|v| v == "true"),
        })
    }
}

fn with_idempotency_key(request: &mut reqwest::Request, key: Option<&IdempotencyKey>) {
    if let Some(value) = key.and_then(|k| reqwest::header::HeaderValue::from_str(k.as_str()).ok()) {
        request.headers_mut().insert("idempotency-key", value);
    }
}

#[async_trait]
impl IndexerService for HttpIndexerClient {
    /// `submitter` is ignored: the indexer knows the caller by its key.
    async fn submit(
        &self,
        batch: Batch,
        _submitter: Option<i64>,
    ) -> Result<Accepted, ServiceError> {
        let query = batch.skip_bad.then_some("skip_bad=true");
        let mut request = self.request(reqwest::Method::POST, "v1/documents", query);
        let content_type = match batch.format {
            BatchFormat::Json => "application/json",
            BatchFormat::Ndjson => "application/x-ndjson",
        };
        request.headers_mut().insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static(content_type),
        );
        with_idempotency_key(&mut request, batch.idempotency_key.as_ref());
        *request.body_mut() = Some(batch.body.into());
        let answer = self.client.exchange(request).await?;
        self.accepted(&answer)
    }

    async fn delete(
        &self,
        id: &str,
        idempotency_key: Option<IdempotencyKey>,
        _submitter: Option<i64>,
    ) -> Result<Accepted, ServiceError> {
        let path = format!("v1/documents/{}", trawl_api::params::encode_component(id));
        let mut request = self.request(reqwest::Method::DELETE, &path, None);
        with_idempotency_key(&mut request, idempotency_key.as_ref());
        let answer = self.client.exchange(request).await?;
        self.accepted(&answer)
    }

    async fn job(&self, id: i64) -> Result<Job, ServiceError> {
        let request = self.request(reqwest::Method::GET, &format!("v1/jobs/{id}"), None);
        let answer = self.client.exchange(request).await?;
        self.client.decode(&answer)
    }

    async fn jobs(&self, query: &JobsQuery) -> Result<JobsPage, ServiceError> {
        let mut qs = format!("limit={}", query.limit.max(1));
        if let Some(state) = query.state {
            qs.push_str("&state=");
            qs.push_str(state.as_str());
        }
        if let Some(before) = query.before {
            qs.push_str("&cursor=");
            qs.push_str(&trawl_api::jobs::jobs_cursor(before));
        }
        let request = self.request(reqwest::Method::GET, "v1/jobs", Some(&qs));
        let answer = self.client.exchange(request).await?;
        self.client.decode(&answer)
    }

    async fn cancel(&self, id: i64) -> Result<Job, ServiceError> {
        let request = self.request(reqwest::Method::DELETE, &format!("v1/jobs/{id}"), None);
        let answer = self.client.exchange(request).await?;
        self.client.decode(&answer)
    }

    async fn readiness(&self) -> Readiness {
        self.client.readiness().await
    }
}

impl HttpIndexerClient {
    fn with_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> reqwest::Request {
        let mut request = self.request(method, path, None);
        request.headers_mut().insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static(content_type),
        );
        *request.body_mut() = Some(body.into());
        request
    }
}

fn if_match_header(if_match: &trawl_api::sources::IfMatch) -> reqwest::header::HeaderValue {
    use trawl_api::sources::{IfMatch, etag};
    let text = match if_match {
        IfMatch::Any => "*".to_owned(),
        IfMatch::Versions(versions) => versions
            .iter()
            .map(|v| etag(*v))
            .collect::<Vec<_>>()
            .join(", "),
    };
    reqwest::header::HeaderValue::from_str(&text).expect("entity tags are visible ASCII")
}

/// The sources API over HTTP: what `trawl sources` uses.
#[async_trait]
impl trawl_api::SourcesService for HttpIndexerClient {
    async fn create(
        &self,
        source: trawl_api::sources::SourceIn,
    ) -> Result<trawl_api::sources::Source, ServiceError> {
        let body = serde_json::to_vec(&source).expect("a source serialises");
        let request = self.with_json(
            reqwest::Method::POST,
            "v1/sources",
            body,
            "application/json",
        );
        let answer = self.client.exchange(request).await?;
        self.client.decode(&answer)
    }

    async fn sources(
        &self,
        query: &trawl_api::sources::SourcesQuery,
    ) -> Result<trawl_api::sources::SourcesPage, ServiceError> {
        let mut qs = format!("limit={}", query.limit.max(1));
        if let Some(after) = query.after {
            qs.push_str("&cursor=");
            qs.push_str(&trawl_api::sources::sources_cursor(after));
        }
        let request = self.request(reqwest::Method::GET, "v1/sources", Some(&qs));
        let answer = self.client.exchange(request).await?;
        self.client.decode(&answer)
    }

    async fn source(&self, id: i64) -> Result<trawl_api::sources::Source, ServiceError> {
        let request = self.request(reqwest::Method::GET, &format!("v1/sources/{id}"), None);
        let answer = self.client.exchange(request).await?;
        self.client.decode(&answer)
    }

    async fn replace(
        &self,
        id: i64,
        source: trawl_api::sources::SourceIn,
        if_match: &trawl_api::sources::IfMatch,
    ) -> Result<trawl_api::sources::Source, ServiceError> {
        let body = serde_json::to_vec(&source).expect("a source serialises");
        let mut request = self.with_json(
            reqwest::Method::PUT,
            &format!("v1/sources/{id}"),
            body,
            "application/json",
        );
        request
            .headers_mut()
            .insert(reqwest::header::IF_MATCH, if_match_header(if_match));
        let answer = self.client.exchange(request).await?;
        self.client.decode(&answer)
    }

    async fn patch(
        &self,
        id: i64,
        patch: serde_json::Value,
        if_match: &trawl_api::sources::IfMatch,
    ) -> Result<trawl_api::sources::Source, ServiceError> {
        let body = serde_json::to_vec(&patch).expect("JSON serialises");
        let mut request = self.with_json(
            reqwest::Method::PATCH,
            &format!("v1/sources/{id}"),
            body,
            "application/merge-patch+json",
        );
        request
            .headers_mut()
            .insert(reqwest::header::IF_MATCH, if_match_header(if_match));
        let answer = self.client.exchange(request).await?;
        self.client.decode(&answer)
    }

    async fn remove(&self, id: i64) -> Result<Option<Job>, ServiceError> {
        let request = self.request(reqwest::Method::DELETE, &format!("v1/sources/{id}"), None);
        let answer = self.client.exchange(request).await?;
        if answer.status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        self.client.decode(&answer).map(Some)
    }

    async fn crawl(&self, id: i64) -> Result<Accepted, ServiceError> {
        let request = self.request(
            reqwest::Method::POST,
            &format!("v1/sources/{id}/crawl"),
            None,
        );
        let answer = self.client.exchange(request).await?;
        Ok(Accepted {
            job: self.client.decode(&answer)?,
            replayed: answer.status == StatusCode::OK,
        })
    }
}
