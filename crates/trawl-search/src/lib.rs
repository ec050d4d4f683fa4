//! The search service: asks its engines and reports what each returned.
//!
//! [`Searcher`] is the in-process [`SearchService`]: it runs every engine
//! concurrently, each under its own timeout, and answers with their hits and
//! a report per engine (status, latency, counts). It does not merge or rank
//! across engines; that is the results service's job. [`routes`] exposes it
//! as `GET /v1/search` and `GET /v1/engines`.
//!
//! [`SearchService`]: trawl_api::SearchService

mod engine;
mod local;
mod searcher;

pub use engine::{Engine, EngineError, EngineHit, EngineResults};
pub use local::LocalEngine;
pub use searcher::Searcher;

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use trawl_api::{EnginesResponse, SearchResponse, SearchService};
use trawl_service::ApiError;
use trawl_service::extract::ValidSearch;

/// `GET /v1/search` and `GET /v1/engines` over any [`SearchService`].
pub fn routes(service: Arc<dyn SearchService>) -> Router {
    Router::new()
        .route("/v1/search", get(search))
        .route("/v1/engines", get(engines))
        .with_state(service)
}

async fn search(
    State(service): State<Arc<dyn SearchService>>,
    ValidSearch(request): ValidSearch,
) -> Result<Json<SearchResponse>, ApiError> {
    Ok(Json(service.search(&request).await?))
}

async fn engines(
    State(service): State<Arc<dyn SearchService>>,
) -> Result<Json<EnginesResponse>, ApiError> {
    Ok(Json(service.engines().await?))
}
