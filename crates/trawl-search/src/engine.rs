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
    async fn documents(&self) -> Option<u64>;
    async fn readiness(&self) -> Check;
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct EngineResults {
    /// This page's hits, best first.
    pub hits: Vec<EngineHit>,
    /// Matches in all, when the engine knows.
    pub total: Option<u64>,
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

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Failed(String),
}
