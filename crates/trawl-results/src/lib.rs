//! The results service: the guides' `manipulate_result()`.
//!
//! [`manipulate`] is a pure function from a search response to a results
//! response: de-duplication by normalised URL, whitespace clean-up and
//! HTML-safe highlighting of the query terms. [`Results`] is the in-process
//! [`ResultsService`]: it asks a [`SearchService`] (in-process or over HTTP)
//! and manipulates the answer. [`routes`] exposes both paths:
//! `GET /v1/results` (calls search) and `POST /v1/results` (manipulates the
//! body it is given and calls nothing).

mod pipeline;

pub use pipeline::{escape_html, manipulate, normalize_url};

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use trawl_api::openapi::SearchQueryV1;
use trawl_api::params::{MAX_PAGE, MAX_PER_PAGE};
use trawl_api::{
    InvalidRequest, Query, Readiness, ResultsResponse, ResultsService, SearchRequest,
    SearchResponse, SearchService, ServiceError,
};
use trawl_service::ApiError;
use trawl_service::extract::{JsonBody, ValidSearch};
use trawl_service::openapi::{
    BodyErrorResponses, InternalErrorResponse, InvalidRequestResponse, UpstreamErrorResponses,
};

/// The in-process results service.
pub struct Results {
    search: Arc<dyn SearchService>,
}

impl Results {
    pub fn new(search: Arc<dyn SearchService>) -> Self {
        Self { search }
    }
}

#[async_trait]
impl ResultsService for Results {
    async fn results(&self, request: &SearchRequest) -> Result<ResultsResponse, ServiceError> {
        let response = self.search.search(request).await?;
        Ok(manipulate(response))
    }

    /// Ready when search is: its checks, as it reports them (over HTTP:
    /// the search service's own and the breaker's on the way to it).
    async fn readiness(&self) -> Readiness {
        self.search.readiness().await
    }
}

/// The results service's routes, as OpenAPI.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(results, manipulate_body),
    tags((name = "results", description = "The results service: search's hits, manipulated.")),
)]
struct Api;

/// The OpenAPI description of [`routes`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    <Api as utoipa::OpenApi>::openapi()
}

/// `GET /v1/results` over any [`ResultsService`], and `POST /v1/results`.
pub fn routes(service: Arc<dyn ResultsService>) -> Router {
    Router::new()
        .route("/v1/results", get(results).post(manipulate_body))
        .with_state(service)
}

/// Searches, then cleans, de-duplicates and highlights the hits.
#[utoipa::path(get, path = "/v1/results", tag = "results", operation_id = "results",
    params(SearchQueryV1),
    responses(
        (status = 200, description = "The manipulated results.", body = ResultsResponse),
        InvalidRequestResponse,
        InternalErrorResponse,
        UpstreamErrorResponses,
    ))]
async fn results(
    State(service): State<Arc<dyn ResultsService>>,
    ValidSearch(request): ValidSearch,
) -> Result<Json<ResultsResponse>, ApiError> {
    Ok(Json(service.results(&request).await?))
}

/// Cleans, de-duplicates and highlights the hits of the search response it
/// is given; calls nothing. The query string is not read.
#[utoipa::path(post, path = "/v1/results", tag = "results", operation_id = "manipulate",
    request_body(content = SearchResponse, content_type = "application/json",
        description = "A search response, as `GET /v1/search` answers; at most 2 MiB."),
    responses(
        (status = 200, description = "The manipulated results.", body = ResultsResponse),
        BodyErrorResponses,
        InternalErrorResponse,
    ))]
async fn manipulate_body(
    JsonBody(body): JsonBody<SearchResponse>,
) -> Result<Json<ResultsResponse>, ApiError> {
    validate(&body)?;
    Ok(Json(manipulate(body)))
}

/// The body of `POST /v1/results` obeys the same limits as a query string.
fn validate(body: &SearchResponse) -> Result<(), InvalidRequest> {
    Query::parse(&body.query).map_err(|e| match e {
        InvalidRequest::InvalidParameter { reason, .. } => InvalidRequest::InvalidParameter {
            param: "query",
            reason,
        },
        other => other,
    })?;
    let bounded = |param, value: u32, max: u32| {
        if (1..=max).contains(&value) {
            Ok(())
        } else {
            Err(InvalidRequest::InvalidParameter {
                param,
                reason: format!("must be an integer from 1 to {max}, got `{value}`"),
            })
        }
    };
    bounded("page", body.page, MAX_PAGE)?;
    bounded("per_page", body.per_page, MAX_PER_PAGE)?;
    // JSON numbers beyond f32's range arrive as infinity, which JSON cannot
    // carry back out.
    if let Some(hit) = body.results.iter().find(|h| !h.score.is_finite()) {
        return Err(InvalidRequest::InvalidParameter {
            param: "score",
            reason: format!(
                "must be a finite number within ±3.4e38 (a 32-bit float); the hit for `{}` has another",
                hit.url.chars().take(100).collect::<String>()
            ),
        });
    }
    Ok(())
}
