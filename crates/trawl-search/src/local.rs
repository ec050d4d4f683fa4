use std::sync::Arc;

use async_trait::async_trait;
use trawl_api::{Check, SearchRequest};
use trawl_index::time::OffsetDateTime;
use trawl_index::{Filter, LocalIndex};

use crate::engine::{Engine, EngineError, EngineHit, EngineResults};

/// The local tantivy index as an engine. Searches run on the blocking pool:
/// they are CPU work that must not stall the async workers.
///
/// `time_range` keeps documents published within the range before now
/// (undated documents never match one). Documents carry no language and no
/// rating, so `lang` and `safe` do not apply.
pub struct LocalEngine {
    name: String,
    index: Arc<LocalIndex>,
}

impl LocalEngine {
    pub fn new(name: impl Into<String>, index: Arc<LocalIndex>) -> Self {
        Self {
            name: name.into(),
            index,
        }
    }
}

#[async_trait]
impl Engine for LocalEngine {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "local"
    }

    async fn search(&self, request: &SearchRequest) -> Result<EngineResults, EngineError> {
        let index = self.index.clone();
        let query = request.query.as_str().to_owned();
        let (offset, limit) = (request.offset(), request.per_page as usize);
        let filter = Filter {
            published_since: request
                .time_range
                .map(|range| OffsetDateTime::now_utc() - range.duration()),
        };
        let page = tokio::task::spawn_blocking(move || {
            index.search_filtered(&query, &filter, offset, limit)
        })
        .await
        .map_err(|e| EngineError::Failed(format!("search task failed: {e}")))?
        .map_err(|e| EngineError::Failed(e.to_string()))?;
        Ok(EngineResults {
            total: Some(page.total),
            hits: page
                .hits
                .into_iter()
                .map(|hit| EngineHit {
                    title: hit.title,
                    url: hit.url,
                    snippet: hit.snippet,
                    highlights: hit.highlights,
                    score: hit.score,
                })
                .collect(),
        })
    }

    async fn documents(&self) -> Option<u64> {
        Some(self.index.num_docs())
    }

    async fn readiness(&self) -> Check {
        // Opening the index is what can fail; a LocalEngine only exists once
        // it is open, so what is left to report is what it holds.
        Check::new(
            &self.name,
            true,
            format!(
                "index open at {}, {} documents",
                self.index.path().display(),
                self.index.num_docs()
            ),
        )
    }
}
