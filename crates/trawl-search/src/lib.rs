//! The search service: asks its engines and reports what each returned.
//!
//! [`Searcher`] is the in-process [`SearchService`]: it runs every engine
//! concurrently, each under its own timeout, and answers with their hits and
//! a report per engine (status, latency, counts). It does not merge or rank
//! across engines; that is the results service's job. [`routes`] exposes it
//! as `GET /v1/search` (deprecated), `GET /v2/search` and `GET /v1/engines`.
//!
//! [`SearchService`]: trawl_api::SearchService

mod engine;
mod local;
mod searcher;

pub use engine::{Engine, EngineError, EngineHit, EngineResults};
pub use local::LocalEngine;
pub use searcher::Searcher;

use std::sync::Arc;

use axum::extract::{FromRef, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router, middleware};
use trawl_api::params::search_request_v2;
use trawl_api::{CursorKey, EnginesResponse, SearchResponse, SearchResponseV2, SearchService};
use trawl_service::ApiError;
use trawl_service::extract::ValidSearch;
use trawl_service::versioning::deprecated_v1;

#[derive(Clone)]
struct SearchState {
    service: Arc<dyn SearchService>,
    cursors: CursorKey,
}

impl FromRef<SearchState> for Arc<dyn SearchService> {
    fn from_ref(state: &SearchState) -> Self {
        state.service.clone()
    }
}

/// `GET /v1/search`, `GET /v2/search` and `GET /v1/engines` over any
/// [`SearchService`]; v2's cursors are signed with `cursors`.
pub fn routes(service: Arc<dyn SearchService>, cursors: CursorKey) -> Router {
    let deprecated = middleware::map_response(|r| deprecated_v1("/v2/search", r));
    Router::new()
        .route("/v1/search", get(search).layer(deprecated))
        .route("/v2/search", get(search_v2))
        .route("/v1/engines", get(engines))
        .with_state(SearchState { service, cursors })
}

async fn search(
    State(service): State<Arc<dyn SearchService>>,
    ValidSearch(request): ValidSearch,
) -> Result<Json<SearchResponse>, ApiError> {
    Ok(Json(service.search(&request).await?))
}

async fn search_v2(
    State(state): State<SearchState>,
    RawQuery(query): RawQuery,
) -> Result<Json<SearchResponseV2>, ApiError> {
    let request = search_request_v2(query.as_deref(), &state.cursors)?;
    let response = state.service.search(&request).await?;
    Ok(Json(SearchResponseV2::from_v1(
        response,
        &request,
        &state.cursors,
    )))
}

async fn engines(
    State(service): State<Arc<dyn SearchService>>,
) -> Result<Json<EnginesResponse>, ApiError> {
    Ok(Json(service.engines().await?))
}
