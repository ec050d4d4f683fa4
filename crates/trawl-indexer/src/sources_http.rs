//! The sources API's routes: thin handlers over a [`SourcesService`],
//! every one behind an API key. A source's version travels as its `ETag`;
//! `PUT` and `PATCH` must send it back in `If-Match`.

use std::sync::Arc;

use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use trawl_api::SourcesService;
use trawl_api::jobs::Job;
use trawl_api::sources::{IfMatch, Source, SourceIn, SourcesPage, SourcesParams, SourcesQuery};
use trawl_service::ApiError;
use trawl_service::extract::JsonBody;
use trawl_service::openapi::InternalErrorResponse;

use crate::keys::{Keys, require_key};
use crate::openapi::{
    DependencyResponse, KeyResponses, PreconditionResponses, SourceErrorResponses,
};

type Service = Arc<dyn SourcesService>;

/// `/v1/sources` and `/v1/sources/{id}` (and its `crawl`) over any
/// [`SourcesService`], each needing a key that `keys` accepts.
pub fn sources_routes(service: Service, keys: Arc<Keys>) -> Router {
    Router::new()
        .route("/v1/sources", post(create).get(list))
        .route(
            "/v1/sources/{id}",
            get(show).put(replace).patch(patch).delete(remove),
        )
        .route("/v1/sources/{id}/crawl", post(crawl))
        .route_layer(middleware::from_fn_with_state(keys, require_key))
        .with_state(service)
}

fn with_etag(source: Source, status: StatusCode) -> Response {
    let etag = HeaderValue::from_str(&source.etag()).ok();
    let location = HeaderValue::from_str(&format!("/v1/sources/{}", source.id)).ok();
    let mut response = (status, Json(source)).into_response();
    if let Some(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    if status == StatusCode::CREATED
        && let Some(location) = location
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Adds a source. With `refresh`, its first crawl is due at once.
#[utoipa::path(post, path = "/v1/sources", tag = "sources", operation_id = "create_source",
    request_body(content = SourceIn, description = "The source: its `kind` and where to start."),
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Added. `ETag` is its version; `Location` its URL.", body = Source,
            headers(("ETag" = String), ("Location" = String))),
        SourceErrorResponses,
        (status = 413, description = "The body is larger than the server's 2 MiB body limit (`payload_too_large`).",
            body = trawl_api::Problem, content_type = "application/problem+json"),
        KeyResponses,
        DependencyResponse,
        InternalErrorResponse,
    ))]
async fn create(
    State(service): State<Service>,
    JsonBody(source): JsonBody<SourceIn>,
) -> Result<Response, ApiError> {
    Ok(with_etag(
        service.create(source).await?,
        StatusCode::CREATED,
    ))
}

/// Sources, oldest first, a page at a time.
#[utoipa::path(get, path = "/v1/sources", tag = "sources", operation_id = "list_sources",
    params(SourcesParams),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A page of sources, and the cursor of the next.", body = SourcesPage),
        (status = 400, description = "A parameter is invalid (`invalid_parameter`, \
            `invalid_cursor`, `duplicate_parameter`, `malformed_query_string`).",
            body = trawl_api::Problem, content_type = "application/problem+json"),
        KeyResponses,
        DependencyResponse,
        InternalErrorResponse,
    ))]
async fn list(
    State(service): State<Service>,
    RawQuery(query): RawQuery,
) -> Result<Json<SourcesPage>, ApiError> {
    let query = SourcesQuery::from_query_string(query.as_deref())?;
    Ok(Json(service.sources(&query).await?))
}

/// A source, its crawl in progress and its last runs.
#[utoipa::path(get, path = "/v1/sources/{id}", tag = "sources", operation_id = "get_source",
    params(("id" = i64, Path, minimum = 1, description = "The source's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The source; `ETag` is its version.", body = Source,
            headers(("ETag" = String))),
        SourceErrorResponses,
        KeyResponses,
        DependencyResponse,
        InternalErrorResponse,
    ))]
async fn show(
    State(service): State<Service>,
    SourceId(id): SourceId,
) -> Result<Response, ApiError> {
    Ok(with_etag(service.source(id).await?, StatusCode::OK))
}

/// Replaces a source, if it is still at the version `If-Match` names.
#[utoipa::path(put, path = "/v1/sources/{id}", tag = "sources", operation_id = "replace_source",
    params(("id" = i64, Path, minimum = 1, description = "The source's id"),
        ("If-Match" = Option<String>, Header, nullable = false,
            description = "The `ETag` the change was made from (or `*`). Required: without it \
                the change is refused with `428`")),
    request_body(content = SourceIn, description = "The whole source, as for `POST`."),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Changed; `ETag` is its new version.", body = Source,
            headers(("ETag" = String))),
        SourceErrorResponses,
        PreconditionResponses,
        KeyResponses,
        DependencyResponse,
        InternalErrorResponse,
    ))]
async fn replace(
    State(service): State<Service>,
    SourceId(id): SourceId,
    headers: HeaderMap,
    JsonBody(source): JsonBody<SourceIn>,
) -> Result<Response, ApiError> {
    let if_match = if_match(&headers)?;
    Ok(with_etag(
        service.replace(id, source, &if_match).await?,
        StatusCode::OK,
    ))
}

/// Changes some fields of a source (an RFC 7396 merge patch: `null`
/// removes a field), if it is still at the version `If-Match` names.
#[utoipa::path(patch, path = "/v1/sources/{id}", tag = "sources", operation_id = "patch_source",
    params(("id" = i64, Path, minimum = 1, description = "The source's id"),
        ("If-Match" = Option<String>, Header, nullable = false,
            description = "The `ETag` the change was made from (or `*`). Required: without it \
                the change is refused with `428`")),
    request_body(content = Object, description = "The fields to change.",
        content_type = "application/merge-patch+json"),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Changed; `ETag` is its new version.", body = Source,
            headers(("ETag" = String))),
        SourceErrorResponses,
        PreconditionResponses,
        KeyResponses,
        DependencyResponse,
        InternalErrorResponse,
    ))]
async fn patch(
    State(service): State<Service>,
    SourceId(id): SourceId,
    headers: HeaderMap,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Response, ApiError> {
    let if_match = if_match(&headers)?;
    Ok(with_etag(
        service.patch(id, body, &if_match).await?,
        StatusCode::OK,
    ))
}

/// Removes a source. Its documents leave the index, as a job.
#[utoipa::path(delete, path = "/v1/sources/{id}", tag = "sources", operation_id = "delete_source",
    params(("id" = i64, Path, minimum = 1, description = "The source's id")),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Removed; the job removing its documents from the index.",
            body = Job, headers(("Location" = String, description = "/v1/jobs/{id}"))),
        (status = 204, description = "Removed; it had no documents in the index."),
        (status = 409, description = "It is being crawled (`conflict`): try again once the crawl ends.",
            body = trawl_api::Problem, content_type = "application/problem+json"),
        SourceErrorResponses,
        KeyResponses,
        DependencyResponse,
        InternalErrorResponse,
    ))]
async fn remove(
    State(service): State<Service>,
    SourceId(id): SourceId,
) -> Result<Response, ApiError> {
    Ok(match service.remove(id).await? {
        Some(job) => job_response(job, StatusCode::ACCEPTED),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// Crawls a source now. A crawl already queued or running is returned
/// instead of a second one (`200`).
#[utoipa::path(post, path = "/v1/sources/{id}/crawl", tag = "sources", operation_id = "crawl_source",
    params(("id" = i64, Path, minimum = 1, description = "The source's id")),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Queued: the crawl's job.", body = Job,
            headers(("Location" = String, description = "/v1/jobs/{id}"))),
        (status = 200, description = "A crawl of it is queued or running already: that job.", body = Job,
            headers(("Location" = String, description = "/v1/jobs/{id}"))),
        SourceErrorResponses,
        KeyResponses,
        DependencyResponse,
        InternalErrorResponse,
    ))]
async fn crawl(
    State(service): State<Service>,
    SourceId(id): SourceId,
) -> Result<Response, ApiError> {
    let accepted = service.crawl(id).await?;
    let status = if accepted.replayed {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok(job_response(accepted.job, status))
}

fn job_response(job: Job, status: StatusCode) -> Response {
    let location = HeaderValue::from_str(&format!("/v1/jobs/{}", job.id)).ok();
    let mut response = (status, Json(job)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `If-Match`, required.
fn if_match(headers: &HeaderMap) -> Result<IfMatch, ApiError> {
    let value = headers
        .get(header::IF_MATCH)
        .ok_or(ApiError::PreconditionRequired)?;
    value
        .to_str()
        .ok()
        .and_then(trawl_api::sources::if_match)
        .ok_or_else(|| ApiError::InvalidHeader {
            name: "If-Match",
            reason: "must be `*` or a list of entity tags such as \"v3\"".to_owned(),
        })
}

/// A source id from the path: a positive integer.
struct SourceId(i64);

impl<S: Send + Sync> FromRequestParts<S> for SourceId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        crate::http::path_id(parts, state, "source")
            .await
            .map(SourceId)
    }
}
