//! The seams between services. Each has an in-process implementation (the
//! service's own crate) and an HTTP client (`trawl-service::clients`); callers
//! hold an `Arc<dyn …>` and cannot tell which.

use std::time::Duration;

use async_trait::async_trait;

use crate::jobs::{Accepted, Batch, DocumentError, IdempotencyKey, Job, JobsPage, JobsQuery};
use crate::params::{InvalidRequest, SearchRequest};
use crate::sources::{IfMatch, Source, SourceIn, SourcesPage, SourcesQuery};
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

/// API clients → indexer: the write API. The in-process implementation
/// (trawl-indexer) is what the indexer's handlers call; the HTTP client
/// (trawl-service) is what `trawl index add --remote` uses. The handlers
/// authenticate the caller; `submitter` is the key they found (the HTTP
/// client sends its key instead, and the server finds it).
#[async_trait]
pub trait IndexerService: Send + Sync + 'static {
    /// Checks a batch and queues a job for its documents; nothing of a
    /// refused batch is queued.
    async fn submit(&self, batch: Batch, submitter: Option<i64>) -> Result<Accepted, ServiceError>;
    /// Queues a job that removes the document with this id.
    async fn delete(
        &self,
        id: &str,
        idempotency_key: Option<IdempotencyKey>,
        submitter: Option<i64>,
    ) -> Result<Accepted, ServiceError>;
    async fn job(&self, id: i64) -> Result<Job, ServiceError>;
    async fn jobs(&self, query: &JobsQuery) -> Result<JobsPage, ServiceError>;
    /// Cancels a queued job; [`ServiceError::Conflict`] once it runs.
    async fn cancel(&self, id: i64) -> Result<Job, ServiceError>;
    async fn readiness(&self) -> Readiness;
}

/// API clients → indexer: sources, crawled on a schedule. The in-process
/// implementation is trawl-indexer's; the HTTP client (trawl-service) is
/// what `trawl sources` uses.
#[async_trait]
pub trait SourcesService: Send + Sync + 'static {
    async fn create(&self, source: SourceIn) -> Result<Source, ServiceError>;
    async fn sources(&self, query: &SourcesQuery) -> Result<SourcesPage, ServiceError>;
    async fn source(&self, id: i64) -> Result<Source, ServiceError>;
    /// Replaces a source, if it is still at a version `if_match` names
    /// ([`ServiceError::PreconditionFailed`] when it is not).
    async fn replace(
        &self,
        id: i64,
        source: SourceIn,
        if_match: &IfMatch,
    ) -> Result<Source, ServiceError>;
    /// Merges an RFC 7396 merge patch into a source, likewise.
    async fn patch(
        &self,
        id: i64,
        patch: serde_json::Value,
        if_match: &IfMatch,
    ) -> Result<Source, ServiceError>;
    /// Removes a source; the job that removes its documents from the index,
    /// when it had any.
    async fn remove(&self, id: i64) -> Result<Option<Job>, ServiceError>;
    /// Crawls it now: a new crawl job, or (`replayed`) the one already
    /// queued or running.
    async fn crawl(&self, id: i64) -> Result<Accepted, ServiceError>;
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
        /// Boxed: a problem document is large, and errors travel often.
        problem: Box<Problem>,
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
    /// Something the service depends on (its store, its queue) cannot be
    /// reached; the request did nothing.
    #[error("{dependency} is unavailable: {reason}")]
    Dependency {
        dependency: String,
        reason: String,
        retry_after: Option<Duration>,
    },
    /// A batch whose body cannot be read as the format it claims: nothing of
    /// it was taken.
    #[error("the batch is not valid {format}: {reason}")]
    MalformedBatch {
        format: &'static str,
        line: u64,
        column: u64,
        reason: String,
    },
    /// Documents that cannot be indexed (the first [`MAX_LISTED_ERRORS`]
    /// listed; `total` counts all): nothing of the batch was taken.
    ///
    /// [`MAX_LISTED_ERRORS`]: crate::jobs::MAX_LISTED_ERRORS
    #[error("{total} documents of the batch cannot be indexed")]
    InvalidDocuments {
        errors: Vec<DocumentError>,
        total: u64,
    },
    /// A batch with no documents in it.
    #[error("the batch holds no documents")]
    EmptyBatch,
    /// A batch with more documents than one job may hold.
    #[error("the batch holds more than {limit} documents; split it")]
    TooManyDocuments { limit: usize },
    /// An idempotency key used before, for a different request.
    #[error(
        "the Idempotency-Key was used for a different request; use a new key for a new request"
    )]
    IdempotencyKeyReused,
    /// No such thing: `what` names it.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the thing's state.
    #[error("{0}")]
    Conflict(String),
    /// The request's `If-Match` names a version that is no longer current:
    /// someone changed the thing since the client read it.
    #[error("{0}")]
    PreconditionFailed(String),
    /// A failure inside the service itself.
    #[error("internal error: {0}")]
    Internal(String),
}
