//! The seams between services. Each has an in-process implementation (the
//! service's own crate) and an HTTP client (`trawl-service::clients`); callers
//! hold an `Arc<dyn …>` and cannot tell which.

use std::time::Duration;

use async_trait::async_trait;

use crate::params::{InvalidRequest, SearchRequest};
use crate::wire::{EnginesResponse, Problem, Readiness, ResultsResponse, SearchResponse};

/// results → search.
#[async_trait]
pub trait SearchService: Send + Sync + 'static {
    async fn search(&self, request: &SearchRequest) -> Result<SearchResponse, ServiceError>;
    async fn engines(&self) -> Result<EnginesResponse, ServiceError>;
    async fn readiness(&self) -> Readiness;
}

/// web → results.
#[async_trait]
pub trait ResultsService: Send + Sync + 'static {
    async fn results(&self, request: &SearchRequest) -> Result<ResultsResponse, ServiceError>;
    async fn readiness(&self) -> Readiness;
}

/// Why a call across a seam failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServiceError {
    /// The request is valid on its own but not here, e.g. it names an engine
    /// this search service does not have.
    #[error(transparent)]
    Invalid(#[from] InvalidRequest),
    /// The callee answered with a problem document (a 4xx it refused the
    /// request with, or a 5xx of its own); it is passed on unchanged.
    #[error("{service} answered {}: {}", problem.status, problem.detail)]
    Upstream {
        service: &'static str,
        problem: Problem,
        /// The callee's `Retry-After`, passed on with its problem.
        retry_after: Option<Duration>,
    },
    /// The callee could not be reached, said it cannot serve, or is not
    /// being called for a while (its circuit breaker is open).
    #[error("{service} is unavailable: {reason}")]
    Unavailable {
        service: &'static str,
        reason: String,
        /// When it is worth trying again, when known.
        retry_after: Option<Duration>,
    },
    /// The callee did not answer in time.
    #[error("{service} did not answer within {} ms", timeout.as_millis())]
    Timeout {
        service: &'static str,
        timeout: Duration,
    },
    /// The callee answered with something that is not a valid response.
    #[error("{service} answered badly: {reason}")]
    BadGateway {
        service: &'static str,
        reason: String,
    },
    /// A failure inside the service itself.
    #[error("internal error: {0}")]
    Internal(String),
}
