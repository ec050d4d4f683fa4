//! The results service: the guides' `manipulate_result()`.
//!
//! [`Pipeline::manipulate`] is a pure function from a search response to a results
//! response: de-duplication by normalised URL, whitespace clean-up and
//! HTML-safe highlighting of the query terms. [`Results`] is the in-process
//! [`ResultsService`]: it asks a [`SearchService`] (in-process or over HTTP)
//! and manipulates the answer. [`routes`] exposes both paths:
//! `GET /v1/results` (calls search) and `POST /v1/results` (manipulates the
//! body it is given and calls nothing).

mod clean;
pub mod formats;
mod pipeline;
mod rules;
mod settings;
mod text;

pub use clean::{
    REDIRECTS, SITE_TRACKING_PARAMETERS, TRACKING_PARAMETERS, TRACKING_PREFIXES, clean_url,
    dedup_key,
};
pub use pipeline::{MAX_URL_BYTES, Pipeline, SNIPPET_CHARS, TITLE_CHARS, escape_html};
pub use rules::{Action, HostnameRule, HostnameRules};
pub use settings::{HostnameAction, HostnameRuleConfig, ResultsConfig, RuleError};

use std::sync::Arc;

use async_trait::async_trait;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::{OriginalUri, RawQuery};
use axum::response::Response;
use axum::routing::get;
use formats::FeedLinks;
use trawl_api::openapi::{FormatQuery, ResultsQuery};
use trawl_api::params::{MAX_PAGE, MAX_PER_PAGE};
use trawl_api::{
    EnginesResponse, InvalidRequest, Query, Readiness, ResultsResponse, ResultsService,
    SearchRequest, SearchResponse, SearchService, ServiceError, Suggestions,
};
use trawl_service::ApiError;
use trawl_service::client::Origin;
use trawl_service::extract::{JsonBody, ValidSearchAs, WantedFormat};
use trawl_service::openapi::{
    BodyErrorResponses, InternalErrorResponse, InvalidRequestResponse, NotAcceptableResponse,
    UpstreamErrorResponses,
};

/// The in-process results service.
pub struct Results {
    search: Arc<dyn SearchService>,
    pipeline: Arc<Pipeline>,
}

impl Results {
    /// The service over `search`, manipulating with `pipeline`.
    pub fn new(search: Arc<dyn SearchService>, pipeline: Arc<Pipeline>) -> Self {
        Self { search, pipeline }
    }
}

#[async_trait]
impl ResultsService for Results {
    async fn results(&self, request: &SearchRequest) -> Result<ResultsResponse, ServiceError> {
        let response = self.search.search(request).await?;
        Ok(self.pipeline.manipulate(response))
    }

    async fn engines(&self) -> Result<EnginesResponse, ServiceError> {
        self.search.engines().await
    }

    async fn suggest(&self, text: &str) -> Result<Suggestions, ServiceError> {
        self.search.suggest(text).await
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
    paths(results, manipulate_body, engines, suggest),
    tags((name = "results", description = "The results service: search's hits, manipulated.")),
)]
struct Api;

/// The OpenAPI description of [`routes`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    <Api as utoipa::OpenApi>::openapi()
}

#[derive(Clone)]
struct ResultsState {
    service: Arc<dyn ResultsService>,
    pipeline: Arc<Pipeline>,
}

/// `GET /v1/results` over any [`ResultsService`], and `POST /v1/results`
/// through `pipeline` (the same one the service uses).
///
/// `GET /v1/engines` and `GET /v1/suggest` pass the search service's
/// answers on (the web service asks only this one).
pub fn routes(service: Arc<dyn ResultsService>, pipeline: Arc<Pipeline>) -> Router {
    routes_beside_search(service.clone(), pipeline.clone()).merge(
        Router::new()
            .route("/v1/engines", get(engines))
            .route("/v1/suggest", get(suggest))
            .with_state(ResultsState { service, pipeline }),
    )
}

/// [`routes`] without the two the search service's own routes answer
/// alike, for a process that serves both.
pub fn routes_beside_search(service: Arc<dyn ResultsService>, pipeline: Arc<Pipeline>) -> Router {
    Router::new()
        .route("/v1/results", get(results).post(manipulate_body))
        .with_state(ResultsState { service, pipeline })
}

/// Searches, then cleans, merges, ranks and highlights the hits; answers
/// in JSON, CSV or RSS (`format`, else `Accept`).
#[utoipa::path(get, path = "/v1/results", tag = "results", operation_id = "results",
    params(ResultsQuery),
    responses(
        (status = 200, description = "The manipulated results.", content(
            (ResultsResponse = "application/json"),
            (String = "text/csv"),
            (String = "application/rss+xml"),
        )),
        InvalidRequestResponse,
        NotAcceptableResponse,
        InternalErrorResponse,
        UpstreamErrorResponses,
    ))]
async fn results(
    State(state): State<ResultsState>,
    OriginalUri(uri): OriginalUri,
    Origin(origin): Origin,
    ValidSearchAs(request, format): ValidSearchAs,
) -> Result<Response, ApiError> {
    let response = state.service.results(&request).await?;
    Ok(formats::respond(format, &response, || {
        FeedLinks::new(&origin, &uri.to_string(), &request)
    }))
}

/// The search service's engines, as it reports them: what the web
/// service's pages list and let people choose.
#[utoipa::path(get, path = "/v1/engines", tag = "results", operation_id = "results_engines",
    responses(
        (status = 200, description = "Every configured engine.", body = EnginesResponse),
        InternalErrorResponse,
        UpstreamErrorResponses,
    ))]
async fn engines(State(state): State<ResultsState>) -> Result<Json<EnginesResponse>, ApiError> {
    Ok(Json(state.service.engines().await?))
}

/// The search service's completions of what was typed.
#[utoipa::path(get, path = "/v1/suggest", tag = "results", operation_id = "results_suggest",
    params(("q" = Option<String>, Query, description = "What was typed so far; the last word \
        is completed. Blank or missing: no suggestions. At most 512 characters.")),
    responses(
        (status = 200, description = "Whole queries, best first; at most 10.", body = Suggestions),
        InvalidRequestResponse,
        InternalErrorResponse,
        UpstreamErrorResponses,
    ))]
async fn suggest(
    State(state): State<ResultsState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Suggestions>, ApiError> {
    let text = trawl_api::params::suggest_text(query.as_deref())?;
    Ok(Json(state.service.suggest(&text).await?))
}

/// Cleans, merges, ranks and highlights the hits of the search response it
/// is given; calls nothing. Of the query string only `format` is read.
#[utoipa::path(post, path = "/v1/results", tag = "results", operation_id = "manipulate",
    params(FormatQuery),
    request_body(content = SearchResponse, content_type = "application/json",
        description = "A search response, as `GET /v1/search` answers; at most 2 MiB."),
    responses(
        (status = 200, description = "The manipulated results.", content(
            (ResultsResponse = "application/json"),
            (String = "text/csv"),
            (String = "application/rss+xml"),
        )),
        BodyErrorResponses,
        NotAcceptableResponse,
        InternalErrorResponse,
    ))]
async fn manipulate_body(
    State(state): State<ResultsState>,
    OriginalUri(uri): OriginalUri,
    Origin(origin): Origin,
    WantedFormat(format): WantedFormat,
    JsonBody(body): JsonBody<SearchResponse>,
) -> Result<Response, ApiError> {
    validate(&body)?;
    let response = state.pipeline.manipulate(body);
    Ok(formats::respond(format, &response, || {
        let request = SearchRequest {
            page: response.page,
            per_page: response.per_page,
            ..SearchRequest::new(Query::parse(&response.query).expect("validated above"))
        };
        FeedLinks::new(&origin, &uri.to_string(), &request)
    }))
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
    if let Some(engine) = body
        .engines
        .iter()
        .find(|e| !(e.weight.is_finite() && e.weight > 0.0))
    {
        return Err(InvalidRequest::InvalidParameter {
            param: "weight",
            reason: format!(
                "must be a positive number; engine `{}` has {}",
                engine.name.chars().take(64).collect::<String>(),
                engine.weight
            ),
        });
    }
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
