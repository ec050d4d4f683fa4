//! The HTTP implementations of the service seams: what `--role results` uses
//! to reach search, and `--role web` to reach results.
//!
//! One pooled keep-alive client per destination, and around every call:
//!
//! - a connect timeout, and a call timeout that is the sooner of the
//!   configured one and the current request's deadline (less a margin); the
//!   budget left travels in the `trawl-budget-ms` header, and a call whose
//!   deadline has passed is not made ([`crate::deadline`]);
//! - a bulkhead: at most `max_in_flight` calls to the destination at once;
//!   one more is refused at once rather than queued;
//! - a circuit breaker ([`crate::breaker`]): after repeated failures the
//!   destination is not called for a while, and callers learn so at once.
//!
//! Failures become [`ServiceError`]s that say which service failed and how;
//! a problem document the callee sent is passed on unchanged.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use trawl_api::{
    Check, EnginesResponse, Problem, Readiness, ResultsResponse, ResultsService, SearchRequest,
    SearchResponse, SearchService, ServiceError,
};
use url::Url;

use crate::breaker::{BreakerSettings, CircuitBreaker, State};
use crate::deadline::{self, BUDGET_HEADER, MARGIN};

/// How long a readiness probe of a downstream service may take.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    /// Whole-call limit: connecting, sending, waiting and reading the body.
    pub timeout: Duration,
    /// Calls to the destination at once; more are refused.
    pub max_in_flight: usize,
    pub breaker: BreakerSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("base URL {0} must be http:// or https://")]
    Scheme(Url),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A keep-alive client for one downstream service.
#[derive(Debug, Clone)]
struct ServiceClient {
    service: &'static str,
    base: Url,
    http: reqwest::Client,
    timeout: Duration,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    breaker: Arc<CircuitBreaker>,
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
            .user_agent(concat!("trawl/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            service,
            base,
            http,
            timeout: settings.timeout,
            in_flight: Arc::new(Semaphore::new(settings.max_in_flight)),
            max_in_flight: settings.max_in_flight,
            breaker: Arc::new(CircuitBreaker::new(settings.breaker)),
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

    /// A GET through the bulkhead and the breaker, within the deadline.
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: Option<&str>,
    ) -> Result<T, ServiceError> {
        let timeout = match deadline::remaining() {
            Some(left) => left.saturating_sub(MARGIN).min(self.timeout),
            None => self.timeout,
        };
        if timeout.is_zero() {
            // Whatever it answered would come too late to be used.
            return Err(ServiceError::Timeout {
                service: self.service,
                timeout,
            });
        }
        let Ok(_slot) = self.in_flight.try_acquire() else {
            tracing::warn!(
                service = self.service,
                limit = self.max_in_flight,
                "bulkhead full: call refused"
            );
            return Err(ServiceError::Unavailable {
                service: self.service,
                reason: format!("{} calls already in flight", self.max_in_flight),
                retry_after: Some(Duration::from_secs(1)),
            });
        };
        let permit = match self.breaker.try_acquire() {
            Ok(permit) => permit,
            Err(refused) => {
                tracing::debug!(service = self.service, %refused, "call refused");
                return Err(ServiceError::Unavailable {
                    service: self.service,
                    reason: refused.to_string(),
                    retry_after: Some(refused.retry_after),
                });
            }
        };
        let probe = permit.is_probe();
        let outcome = self.call(path, query, timeout).await;
        let failed = match &outcome {
            Ok(_) => false,
            Err(ServiceError::Upstream { problem, .. }) => problem.status >= 500,
            Err(_) => true,
        };
        let before = self.breaker.snapshot().state;
        if failed {
            permit.failure();
        } else {
            permit.success();
        }
        let after = self.breaker.snapshot();
        if after.state != before || probe {
            let log = |message: &str| match after.state {
                State::Open => {
                    tracing::warn!(service = self.service, breaker = %after, "{message}")
                }
                _ => tracing::info!(service = self.service, breaker = %after, "{message}"),
            };
            log(if after.state == State::Closed {
                "circuit closed"
            } else {
                "circuit opened"
            });
        }
        outcome
    }

    async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        query: Option<&str>,
        timeout: Duration,
    ) -> Result<T, ServiceError> {
        let timed_out = || ServiceError::Timeout {
            service: self.service,
            timeout,
        };
        let response = self
            .http
            .get(self.url(path, query))
            .header(reqwest::header::ACCEPT, "application/json")
            .header(BUDGET_HEADER, timeout.as_millis().to_string())
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    timed_out()
                } else {
                    self.transport_error(&e)
                }
            })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            if e.is_timeout() {
                timed_out()
            } else {
                self.transport_error(&e)
            }
        })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ServiceError::BadGateway {
                service: self.service,
                reason: format!("undecodable {status} response: {e}"),
            });
        }
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) => Err(ServiceError::Upstream {
                service: self.service,
                problem,
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

    /// Connection refused or reset, DNS failure, truncated body: the
    /// service cannot be talked to right now.
    fn transport_error(&self, error: &reqwest::Error) -> ServiceError {
        ServiceError::Unavailable {
            service: self.service,
            reason: error_chain(error),
            retry_after: None,
        }
    }

    /// The downstream service's readiness in one check, and the breaker's
    /// state in another (not ready while it is open).
    async fn readiness(&self) -> Readiness {
        let downstream = self.downstream_readiness().await;
        let breaker = self.breaker.snapshot();
        Readiness::from_checks(vec![
            Check::new(self.service, downstream.ready, downstream.summary()),
            Check::new(
                &format!("{} breaker", self.service),
                breaker.state != State::Open,
                breaker.to_string(),
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
                Err(e) => unreachable(format!("undecodable readiness: {}", error_chain(&e))),
            },
            Err(e) => unreachable(format!("cannot reach {}: {}", self.base, error_chain(&e))),
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// The search service over HTTP.
#[derive(Debug, Clone)]
pub struct HttpSearchClient(ServiceClient);

impl HttpSearchClient {
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

    async fn readiness(&self) -> Readiness {
        self.0.readiness().await
    }
}

/// The results service over HTTP.
#[derive(Debug, Clone)]
pub struct HttpResultsClient(ServiceClient);

impl HttpResultsClient {
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

    async fn readiness(&self) -> Readiness {
        self.0.readiness().await
    }
}
