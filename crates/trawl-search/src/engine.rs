use async_trait::async_trait;
use trawl_api::{Check, SearchRequest};

/// A source of results: the local index now, upstream search APIs later.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// Unique among the configured engines; appears in every response.
    fn name(&self) -> &str;
    /// What kind of engine this is, e.g. `local`.
    fn kind(&self) -> &'static str;
    async fn search(&self, request: &SearchRequest) -> Result<EngineResults, EngineError>;
    /// Documents the engine holds, when it knows.
    async fn documents(&self) -> Option<u64> {
        None
    }
    /// Whether it is suspended now (not asked until its cooldown passes).
    fn suspended(&self) -> bool {
        false
    }
    async fn readiness(&self) -> Check;
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct EngineResults {
    /// This page's hits, best first.
    pub hits: Vec<EngineHit>,
    /// Matches in all, when the engine knows.
    pub total: Option<u64>,
}

/// A score for APIs that give ranks, not scores: the first of `count`
/// hits scores `count`, the last 1, keeping the API's order.
pub fn positional_score(position: usize, count: usize) -> f32 {
    (count - position) as f32
}

#[derive(Debug, Clone, PartialEq)]
pub struct EngineHit {
    pub title: String,
    pub url: String,
    pub snippet: String,
    /// `[start, end)` character offsets of matches in `snippet`.
    pub highlights: Vec<[usize; 2]>,
    pub score: f32,
}

/// Why an engine gave no results. Each kind has a stable name
/// ([`kind`](Self::kind)) for reports.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Failed(String),
    /// Not asked: it failed repeatedly or asked to be left alone, and its
    /// cooldown has not passed.
    #[error("suspended for another {} s", retry_after.as_secs().max(1))]
    Suspended { retry_after: std::time::Duration },
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
    Http { status: u16, message: String },
    /// Its answer could not be read.
    #[error("unreadable answer: {0}")]
    Parse(String),
    /// Its answer was larger than the limit (after decompression) and was
    /// not read further.
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
}

impl EngineError {
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
