//! What an engine is: the trait, its results and its errors.

use async_trait::async_trait;
use trawl_api::{Check, SearchRequest};

/// A source of results: the local index now, upstream search APIs later.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// Unique among the configured engines; appears in every response.
    fn name(&self) -> &str;
    /// What kind of engine this is, e.g. `local`.
    fn kind(&self) -> &'static str;
    /// One page of results for `request`.
    async fn search(&self, request: &SearchRequest) -> Result<EngineResults, EngineError>;
    /// Documents the engine holds, when it knows.
    async fn documents(&self) -> Option<u64> {
        None
    }
    /// Completions of `text`, whole queries, best first, at most `limit`;
    /// none from engines that offer none.
    async fn suggest(&self, _text: &str, _limit: usize) -> Vec<String> {
        Vec::new()
    }
    /// Whether it is suspended now (not asked until its cooldown passes).
    fn suspended(&self) -> bool {
        false
    }
    /// Whether it can answer now, and why.
    async fn readiness(&self) -> Check;
}

/// What an engine found for one page.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EngineResults {
    /// This page's hits, best first.
    pub hits: Vec<EngineHit>,
    /// Matches in all, when the engine knows.
    pub total: Option<u64>,
}

/// A score for APIs that give ranks, not scores: the first of `count`
/// hits scores `count`, the last 1, keeping the API's order.
pub(crate) fn positional_score(position: usize, count: usize) -> f32 {
    (count - position) as f32
}

/// One result as an engine gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineHit {
    /// The title, plain text.
    pub title: String,
    /// Where the result is.
    pub url: String,
    /// An excerpt, plain text.
    pub snippet: String,
    /// `[start, end)` character offsets of matches in `snippet`.
    pub highlights: Vec<[usize; 2]>,
    /// The engine's own score: comparable only within one engine.
    pub score: f32,
    /// When it was published, in any form [`trawl_api::dates::normalize`]
    /// reads (the searcher normalizes it, and drops what it cannot read).
    pub published: Option<String>,
}

/// Why an engine gave no results. Each kind has a stable name
/// ([`kind`](Self::kind)) for reports.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// Any other failure.
    #[error("{0}")]
    Failed(String),
    /// Not asked: it failed repeatedly or asked to be left alone, and its
    /// cooldown has not passed.
    #[error("suspended for another {} s", retry_after.as_secs().max(1))]
    Suspended {
        /// How long it stays suspended.
        retry_after: std::time::Duration,
    },
    /// It could not be reached.
    #[error("cannot be reached: {0}")]
    Unreachable(String),
    /// It did not answer in time.
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(std::time::Duration),
    /// It refused the credentials (missing, wrong, or not allowed).
    #[error("refused the credentials: {0}")]
    Auth(String),
    /// It says the quota or rate limit is spent.
    #[error("quota or rate limit reached: {0}")]
    RateLimited(String),
    /// It answered with an error of another kind.
    #[error("answered {status}: {message}")]
    Http {
        /// The HTTP status.
        status: u16,
        /// The API's own message.
        message: String,
    },
    /// Its answer could not be read.
    #[error("unreadable answer: {0}")]
    Parse(String),
    /// Its answer was larger than the limit (after decompression) and was
    /// not read further.
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
}

impl EngineError {
    /// Its stable name in reports (`error_kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Failed(_) => "failed",
            Self::Suspended { .. } => "suspended",
            Self::Unreachable(_) => "unreachable",
            Self::Timeout(_) => "timeout",
            Self::Auth(_) => "auth",
            Self::RateLimited(_) => "rate_limited",
            Self::Http { .. } => "http",
            Self::Parse(_) => "parse",
            Self::TooLarge(_) => "too_large",
        }
    }
}
