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
//!   destination is not called for a while, and callers learn so at once;
//! - retries of these idempotent GETs on connection errors and on 502/503/504
//!   that the destination itself gives (`overloaded`, or a proxy's), with
//!   jittered exponential backoff, within the deadline, and within a retry
//!   budget (tower's `TpsBudget`) so that retries add at most a fifth to the
//!   load. A 502/503/504 about a service further on is passed on untouched:
//!   it was retried where it happened.
//!
//! Failures become [`ServiceError`]s that say which service failed and how;
//! a problem document the callee sent is passed on unchanged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::retry::budget::{Budget, TpsBudget};
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
    pub retry: RetrySettings,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("base URL {0} must be http:// or https://")]
    Scheme(Url),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A failed attempt: whether another may be made, and whether it says the
/// destination itself is failing (which counts against its breaker).
struct Failure {
    error: ServiceError,
    retryable: bool,
    destination_failed: bool,
}

impl Failure {
    /// The destination failed; trying again will not help.
    fn final_(error: ServiceError) -> Self {
        Self {
            error,
            retryable: false,
            destination_failed: true,
        }
    }
}

/// Up to `delay`, uniformly at random ("full jitter"): retries from many
/// callers spread out instead of arriving together.
fn jittered(delay: Duration) -> Duration {
    let nanos = delay.as_nanos().min(u128::from(u64::MAX)) as u64;
    if nanos == 0 {
        return delay;
    }
    let random = getrandom::u64().unwrap_or(nanos / 2);
    Duration::from_nanos(random % nanos + 1)
}

/// When and how often a failed call is tried again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrySettings {
    /// Retries after the first attempt, at most.
    pub retries: u32,
    /// The first backoff; each retry doubles it (before jitter).
    pub backoff: Duration,
    /// Retries may add this share of load, from 0 to 1 (a retry budget
    /// over 10 s, with a floor of 10 retries a second).
    pub budget_ratio: f32,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            retries: 2,
            backoff: Duration::from_millis(25),
            budget_ratio: 0.2,
        }
    }
}

#[derive(Debug, Default)]
struct Stats {
    retries: AtomicU64,
    budget_refused: AtomicU64,
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
    retry: RetrySettings,
    retry_budget: Arc<TpsBudget>,
    stats: Arc<Stats>,
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
            retry: settings.retry,
            retry_budget: Arc::new(TpsBudget::new(
                Duration::from_secs(10),
                10,
                settings.retry.budget_ratio,
            )),
            stats: Arc::default(),
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

    /// A GET within the deadline: through the bulkhead and the breaker, and
    /// retried (it is idempotent) on connection errors and 502/503/504, with
    /// jittered exponential backoff, while the retry budget and the time
    /// left allow.
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: Option<&str>,
    ) -> Result<T, ServiceError> {
        let window = match deadline::remaining() {
            Some(left) => left.saturating_sub(MARGIN).min(self.timeout),
            None => self.timeout,
        };
        if window.is_zero() {
            // Whatever it answered would come too late to be used.
            return Err(ServiceError::Timeout {
                service: self.service,
                timeout: window,
            });
        }
        let until = Instant::now() + window;
        self.retry_budget.deposit();
        let mut retries = 0;
        loop {
            let left = match retries {
                0 => window,
                _ => until.saturating_duration_since(Instant::now()),
            };
            let failure = match self.attempt(path, query, left).await {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            if !failure.retryable || retries >= self.retry.retries {
                return Err(failure.error);
            }
            let backoff = jittered(self.retry.backoff * 2u32.pow(retries));
            if Instant::now() + backoff >= until {
                return Err(failure.error);
            }
            if !self.retry_budget.withdraw() {
                self.stats.budget_refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(service = self.service, "retry budget spent: not retrying");
                return Err(failure.error);
            }
            retries += 1;
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                service = self.service,
                retry = retries,
                backoff_ms = backoff.as_millis() as u64,
                error = %failure.error,
                "retrying"
            );
            tokio::time::sleep(backoff).await;
        }
    }

    /// One call through the bulkhead and the breaker.
    async fn attempt<T: DeserializeOwned>(
        &self,
        path: &str,
        query: Option<&str>,
        timeout: Duration,
    ) -> Result<T, Failure> {
        if timeout.is_zero() {
            return Err(Failure::final_(ServiceError::Timeout {
                service: self.service,
                timeout,
            }));
        }
        let Ok(_slot) = self.in_flight.try_acquire() else {
            tracing::warn!(
                service = self.service,
                limit = self.max_in_flight,
                "bulkhead full: call refused"
            );
            return Err(Failure::final_(ServiceError::Unavailable {
                service: self.service,
                reason: format!("{} calls already in flight", self.max_in_flight),
                retry_after: Some(Duration::from_secs(1)),
            }));
        };
        let permit = match self.breaker.try_acquire() {
            Ok(permit) => permit,
            Err(refused) => {
                tracing::debug!(service = self.service, %refused, "call refused");
                return Err(Failure::final_(ServiceError::Unavailable {
                    service: self.service,
                    reason: refused.to_string(),
                    retry_after: Some(refused.retry_after),
                }));
            }
        };
        let probe = permit.is_probe();
        let outcome = self.call(path, query, timeout).await;
        let failed = outcome.as_ref().is_err_and(|f| f.destination_failed);
        let before = self.breaker.snapshot().state;
        if failed {
            permit.failure();
        } else {
            permit.success();
        }
        let after = self.breaker.snapshot();
        if after.state != before || probe {
            if after.state == State::Open {
                tracing::warn!(service = self.service, breaker = %after, "circuit opened");
            } else {
                tracing::info!(service = self.service, breaker = %after, "circuit closed");
            }
        }
        outcome
    }

    async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        query: Option<&str>,
        timeout: Duration,
    ) -> Result<T, Failure> {
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                Failure::final_(ServiceError::Timeout {
                    service: self.service,
                    timeout,
                })
            } else {
                // Nothing was sent when connecting failed: safe to retry.
                Failure {
                    retryable: e.is_connect(),
                    error: self.transport_error(&e),
                    destination_failed: true,
                }
            }
        };
        let response = self
            .http
            .get(self.url(path, query))
            .header(reqwest::header::ACCEPT, "application/json")
            .header(BUDGET_HEADER, timeout.as_millis().to_string())
            .timeout(timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                Failure::final_(ServiceError::BadGateway {
                    service: self.service,
                    reason: format!("undecodable {status} response: {e}"),
                })
            });
        }
        match serde_json::from_slice::<Problem>(&bytes) {
            // The destination answered for itself. It is failing only if it
            // says so (`internal`) or sheds load (`overloaded`, which is also
            // the one answer worth retrying). A 4xx, or a 502/503/504 about a
            // service further on, is a prompt, correct answer: passed on, not
            // retried (that service's caller already did), not held against
            // the destination.
            Ok(problem) => {
                let overloaded = problem.code == "overloaded";
                Err(Failure {
                    retryable: overloaded,
                    destination_failed: overloaded || problem.code == "internal",
                    error: ServiceError::Upstream {
                        service: self.service,
                        problem,
                    },
                })
            }
            // Not a trawl service answering: a proxy or load balancer in
            // between, or something else on that port.
            Err(_) => Err(Failure {
                retryable: matches!(status.as_u16(), 502..=504),
                destination_failed: true,
                error: if status == StatusCode::SERVICE_UNAVAILABLE {
                    ServiceError::Unavailable {
                        service: self.service,
                        reason: "503 without a problem document".to_owned(),
                        retry_after: None,
                    }
                } else {
                    ServiceError::BadGateway {
                        service: self.service,
                        reason: format!("{status} without a problem document"),
                    }
                },
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
                format!(
                    "{breaker}; {} retries, {} refused by the retry budget",
                    self.stats.retries.load(Ordering::Relaxed),
                    self.stats.budget_refused.load(Ordering::Relaxed)
                ),
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
