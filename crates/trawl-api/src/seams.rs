//! The seams between services. Each has an in-process implementation (the
//! service's own crate) and an HTTP client (`trawl-service::clients`); callers
//! hold an `Arc<dyn …>` and cannot tell which.

use std::time::Duration;

use async_trait::async_trait;

use crate::jobs::{Accepted, Batch, DocumentError, IdempotencyKey, Job, JobsPage, JobsQuery};
use crate::params::{InvalidRequest, SearchRequest};
use crate::sources::{IfMatch, Source, SourceIn, SourcesPage, SourcesQuery};
use crate::wire::{
    EnginesResponse, Problem, Readiness, ResultsResponse, SearchResponse, Suggestions,
};

/// results → search.
#[async_trait]
pub trait SearchService: Send + Sync + 'static {
    /// Asks the selected engines; their hits and a report per engine.
    async fn search(&self, request: &SearchRequest) -> Result<SearchResponse, ServiceError>;
    /// The configured engines and their state.
    async fn engines(&self) -> Result<EnginesResponse, ServiceError>;
    /// Completions of `text` (see [`crate::params::suggest_text`]) from
    /// the enabled engines that offer them.
    async fn suggest(&self, text: &str) -> Result<Suggestions, ServiceError>;
    /// Whether it can serve, with its checks.
    async fn readiness(&self) -> Readiness;
}

/// web → results.
#[async_trait]
pub trait ResultsService: Send + Sync + 'static {
    /// Searches, then cleans, merges and ranks the hits.
    async fn results(&self, request: &SearchRequest) -> Result<ResultsResponse, ServiceError>;
    /// The search service's engines, as it reports them.
    async fn engines(&self) -> Result<EnginesResponse, ServiceError>;
    /// The search service's completions of `text`.
    async fn suggest(&self, text: &str) -> Result<Suggestions, ServiceError>;
    /// Whether it can serve, with its checks (and the search service's).
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
    /// The job with this id.
    async fn job(&self, id: i64) -> Result<Job, ServiceError>;
    /// A page of jobs, newest first.
    async fn jobs(&self, query: &JobsQuery) -> Result<JobsPage, ServiceError>;
    /// Cancels a queued job; [`ServiceError::Conflict`] once it runs.
    async fn cancel(&self, id: i64) -> Result<Job, ServiceError>;
    /// Whether it can accept and run jobs, with its checks.
    async fn readiness(&self) -> Readiness;
}

/// API clients → indexer: sources, crawled on a schedule. The in-process
/// implementation is trawl-indexer's; the HTTP client (trawl-service) is
/// what `trawl sources` uses.
#[async_trait]
pub trait SourcesService: Send + Sync + 'static {
    /// Adds a source; its first crawl is due at once.
    async fn create(&self, source: SourceIn) -> Result<Source, ServiceError>;
    /// A page of sources.
    async fn sources(&self, query: &SourcesQuery) -> Result<SourcesPage, ServiceError>;
    /// The source with this id.
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
        /// Which service.
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
        /// Which service.
        service: &'static str,
        /// What happened, for logs.
        reason: String,
        /// When it is worth trying again, when known.
        retry_after: Option<Duration>,
    },
    /// The callee did not answer in time.
    #[error("{service} did not answer within {} ms", timeout.as_millis())]
    Timeout {
        /// Which service.
        service: &'static str,
        /// The limit that passed.
        timeout: Duration,
    },
    /// The callee answered with something that is not a valid response.
    #[error("{service} answered badly: {reason}")]
    BadGateway {
        /// Which service.
        service: &'static str,
        /// What was wrong with the answer, for logs.
        reason: String,
    },
    /// Something the service depends on (its store, its queue) cannot be
    /// reached; the request did nothing.
    #[error("{dependency} is unavailable: {reason}")]
    Dependency {
        /// What cannot be reached: the job store or the job queue.
        dependency: String,
        /// What happened, for logs.
        reason: String,
        /// When to try again, when known.
        retry_after: Option<Duration>,
    },
    /// Something the service writes to (its store, its index) has no room
    /// left on its disk; the request did nothing, and the same request
    /// succeeds once there is room.
    #[error("{dependency} has no room left: {reason}")]
    StorageFull {
        /// What is full: the job store, or the index.
        dependency: String,
        /// What happened, for logs.
        reason: String,
    },
    /// A batch whose body cannot be read as the format it claims: nothing of
    /// it was taken.
    #[error("the batch is not valid {format}: {reason}")]
    MalformedBatch {
        /// `JSON` or `JSON Lines`.
        format: &'static str,
        /// 1-based line of the first error.
        line: u64,
        /// 1-based column of the first error.
        column: u64,
        /// What the parser said.
        reason: String,
    },
    /// Documents that cannot be indexed (the first [`MAX_LISTED_ERRORS`]
    /// listed; `total` counts all): nothing of the batch was taken.
    ///
    /// [`MAX_LISTED_ERRORS`]: crate::jobs::MAX_LISTED_ERRORS
    #[error("{total} documents of the batch cannot be indexed")]
    InvalidDocuments {
        /// The first bad documents (at most 100).
        errors: Vec<DocumentError>,
        /// How many documents are bad in all.
        total: u64,
    },
    /// A batch with no documents in it.
    #[error("the batch holds no documents")]
    EmptyBatch,
    /// A batch with more documents than one job may hold.
    #[error("the batch holds more than {limit} documents; split it")]
    TooManyDocuments {
        /// The most documents a batch may hold.
        limit: usize,
    },
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
