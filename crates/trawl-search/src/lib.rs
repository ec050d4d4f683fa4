//! The search service: asks its engines and reports what each returned.
//!
//! [`Searcher`] is the in-process [`SearchService`]: it runs every engine
//! concurrently, each under its own timeout, and answers with their hits and
//! a report per engine (status, latency, counts). It does not merge or rank
//! across engines; that is the results service's job. [`routes`] exposes it
//! as `GET /v1/search` (deprecated), `GET /v2/search` and `GET /v1/engines`.
//!
//! [`SearchService`]: trawl_api::SearchService

#[cfg(any(test, feature = "doubles"))]
pub mod doubles;
mod engine;
pub mod engines;
mod local;
pub mod replica;
mod searcher;
mod settings;

pub use engine::{Engine, EngineError, EngineHit, EngineResults};
pub use engines::{Build, BuildError, EngineSettings, EngineSpec};
pub use local::{LocalEngine, LocalSource};
pub use searcher::{MAX_HIT_SNIPPET_BYTES, MAX_HIT_TITLE_BYTES, MAX_HIT_URL_BYTES, Searcher, Slot};
pub use settings::{EngineConfig, SearchConfig};

use std::sync::Arc;

use axum::extract::{FromRef, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router, middleware};
use trawl_api::openapi::{SearchQueryV1, SearchQueryV2};
use trawl_api::params::search_request_v2;
use trawl_api::{
    CursorKey, EnginesResponse, SearchResponse, SearchResponseV2, SearchService, Suggestions,
};
use trawl_service::ApiError;
use trawl_service::extract::ValidSearch;
use trawl_service::openapi::{InternalErrorResponse, InvalidRequestResponse};
use trawl_service::versioning::{deprecated_v1, document_deprecated_v1};

/// The search service's routes, as OpenAPI.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(search_v2, search, engines, suggest),
    tags((name = "search", description = "The search service: every engine's raw hits.")),
)]
struct Api;

/// The OpenAPI description of [`routes`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = <Api as utoipa::OpenApi>::openapi();
    document_deprecated_v1(&mut doc, "/v1/search", "/v2/search");
    doc
}

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
        .route("/v1/suggest", get(suggest))
        .with_state(SearchState { service, cursors })
}

/// The raw hits of every engine asked, with a report per engine. Deprecated:
/// use `GET /v2/search`.
#[utoipa::path(get, path = "/v1/search", tag = "search", operation_id = "search_v1",
    params(SearchQueryV1),
    responses(
        (status = 200, description = "The hits of every engine asked, and how each fared.",
            body = SearchResponse),
        InvalidRequestResponse,
        InternalErrorResponse,
    ))]
async fn search(
    State(service): State<Arc<dyn SearchService>>,
    ValidSearch(request): ValidSearch,
) -> Result<Json<SearchResponse>, ApiError> {
    Ok(Json(service.search(&request).await?))
}

/// The raw hits of every engine asked, with a report per engine, paged by
/// cursor.
#[utoipa::path(get, path = "/v2/search", tag = "search", operation_id = "search_v2",
    params(SearchQueryV2),
    responses(
        (status = 200, description = "The hits of every engine asked, how each fared, and the \
            cursor of the next page when there is one.", body = SearchResponseV2),
        InvalidRequestResponse,
        InternalErrorResponse,
    ))]
async fn search_v2(
    State(state): State<SearchState>,
    RawQuery(query): RawQuery,
    headers: axum::http::HeaderMap,
) -> Result<Json<SearchResponseV2>, ApiError> {
    let (request, _) = search_request_v2(
        query.as_deref(),
        trawl_service::extract::accept(&headers),
        &[trawl_api::Format::Json],
        &state.cursors,
    )?;
    let response = state.service.search(&request).await?;
    Ok(Json(SearchResponseV2::from_v1(
        response,
        &request,
        &state.cursors,
    )))
}

/// The configured engines.
#[utoipa::path(get, path = "/v1/engines", tag = "search", operation_id = "engines",
    responses(
        (status = 200, description = "Every configured engine.", body = EnginesResponse),
        InternalErrorResponse,
    ))]
async fn engines(
    State(service): State<Arc<dyn SearchService>>,
) -> Result<Json<EnginesResponse>, ApiError> {
    Ok(Json(service.engines().await?))
}

/// Completions of what was typed, from the enabled engines that offer
/// them (the local index: its title words).
#[utoipa::path(get, path = "/v1/suggest", tag = "search", operation_id = "suggest",
    params(("q" = Option<String>, Query, description = "What was typed so far; the last word \
        is completed. Blank or missing: no suggestions. At most 512 characters.")),
    responses(
        (status = 200, description = "Whole queries, best first; at most 10.", body = Suggestions),
        InvalidRequestResponse,
        InternalErrorResponse,
    ))]
async fn suggest(
    State(service): State<Arc<dyn SearchService>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Suggestions>, ApiError> {
    let text = trawl_api::params::suggest_text(query.as_deref())?;
    Ok(Json(service.suggest(&text).await?))
}
