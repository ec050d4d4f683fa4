//! The write API's routes: thin handlers over an [`IndexerService`], every
//! one behind an API key.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router, middleware};
use tokio::sync::Semaphore;
use trawl_api::jobs::{
    Batch, BatchFormat, IdempotencyKey, Job, JobsPage, JobsParams, JobsQuery, SubmitParams,
    skip_bad_from_query_string,
};
use trawl_api::{IndexerService, InvalidRequest};
use trawl_service::ApiError;
use trawl_service::openapi::InternalErrorResponse;

use crate::keys::{Caller, Keys, require_key};
use crate::openapi::{DependencyResponse, JobErrorResponses, KeyResponses, SubmitErrorResponses};
use crate::service::IndexerSettings;

/// Bodies are counted against the in-flight limit in units of this many
/// bytes.
const UNIT: usize = 1024;

/// Bytes in [`UNIT`]s, rounded up (at least one: an empty body still holds
/// a place).
fn units(bytes: usize) -> usize {
    bytes.div_ceil(UNIT).max(1)
}

#[derive(Clone)]
struct IndexerState {
    service: Arc<dyn IndexerService>,
    settings: IndexerSettings,
    /// Room for bodies being read and checked.
    room: Arc<Room>,
}

/// Room for the bytes of bodies received and not yet checked, in
/// [`UNIT`]s: for every request together, and for each key's. A request
/// takes room as its bytes arrive (a body announced and not sent holds
/// nothing), and gives it back when its answer is made.
struct Room {
    all: Arc<Semaphore>,
    per_key: u32,
    keys: std::sync::Mutex<std::collections::HashMap<i64, Arc<Semaphore>>>,
}

/// How long a request that already holds room waits for more before it
/// gives up what it holds (so that bodies half-read cannot wait on each
/// other until their deadlines).
const MORE_ROOM_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl Room {
    fn new(settings: &IndexerSettings) -> Self {
        let all = units(
            settings
                .max_body_bytes_in_flight
                .max(settings.max_body_bytes),
        );
        Self {
            all: Arc::new(Semaphore::new(all)),
            per_key: u32::try_from(units(settings.max_body_bytes_in_flight_per_key))
                .unwrap_or(u32::MAX),
            keys: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn of_key(&self, key: i64) -> Arc<Semaphore> {
        self.keys
            .lock()
            .expect("not poisoned")
            .entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_key as usize)))
            .clone()
    }
}

/// Room a request holds: its key's and everyone's.
#[derive(Default)]
struct Held {
    key: Option<tokio::sync::OwnedSemaphorePermit>,
    all: Option<tokio::sync::OwnedSemaphorePermit>,
    units: u32,
}

impl Held {
    /// Takes room for `units` more: waits while it holds nothing (within
    /// the request's deadline), at most [`MORE_ROOM_WAIT`] when it holds
    /// some.
    async fn grow(
        &mut self,
        units: u32,
        key: &Arc<Semaphore>,
        all: &Arc<Semaphore>,
        per_key: u32,
    ) -> Result<(), ApiError> {
        if units == 0 {
            return Ok(());
        }
        if self.units.saturating_add(units) > per_key {
            // More than one key may hold: this body cannot fit at all.
            return Err(ApiError::Overloaded);
        }
        let holding = self.units > 0;
        let take = async {
            let k = key.clone().acquire_many_owned(units).await;
            let a = all.clone().acquire_many_owned(units).await;
            (k, a)
        };
        let (k, a) = if holding {
            tokio::time::timeout(MORE_ROOM_WAIT, take)
                .await
                .map_err(|_| ApiError::Overloaded)?
        } else {
            take.await
        };
        let (k, a) = (
            k.map_err(|_| ApiError::Overloaded)?,
            a.map_err(|_| ApiError::Overloaded)?,
        );
        match &mut self.key {
            Some(held) => held.merge(k),
            None => self.key = Some(k),
        }
        match &mut self.all {
            Some(held) => held.merge(a),
            None => self.all = Some(a),
        }
        self.units += units;
        Ok(())
    }
}

/// `POST /v1/documents`, `DELETE /v1/documents/{id}`, `GET /v1/jobs`,
/// `GET /v1/jobs/{id}` and `DELETE /v1/jobs/{id}` over any
/// [`IndexerService`], each needing a key that `keys` accepts.
pub fn routes(
    service: Arc<dyn IndexerService>,
    settings: IndexerSettings,
    keys: Arc<Keys>,
) -> Router {
    let state = IndexerState {
        service,
        settings,
        room: Arc::new(Room::new(&settings)),
    };
    Router::new()
        .route(
            "/v1/documents",
            post(submit).layer(DefaultBodyLimit::max(settings.max_body_bytes)),
        )
        .route("/v1/documents/{id}", delete(delete_document))
        .route("/v1/jobs", get(jobs))
        .route("/v1/jobs/{id}", get(job).delete(cancel))
        .route_layer(middleware::from_fn_with_state(keys, require_key))
        .layer(middleware::from_fn(close_after_refusal))
        .with_state(state)
}

/// A request refused before its body was read whole (no key, a wrong
/// `Content-Type`, a body over the limit…) leaves the rest of the body
/// on the connection: the answer says `Connection: close`, so that the
/// client sends its next request on a new connection instead of one the
/// server is closing.
async fn close_after_refusal(request: axum::extract::Request, next: middleware::Next) -> Response {
    let has_body = request.headers().contains_key(header::CONTENT_LENGTH)
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    let mut response = next.run(request).await;
    if has_body && !response.status().is_success() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Queues a batch of documents: each is added, or replaces the document
/// with the same id. The batch is checked first: a malformed one is
/// refused whole and nothing of it is queued (unless `skip_bad=true`, which
/// queues the good documents and reports the bad). `Idempotency-Key` makes
/// a retried request return the job of the first instead of a second job.
#[utoipa::path(post, path = "/v1/documents", tag = "indexer", operation_id = "submit_documents",
    params(SubmitParams,
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
            description = "1 to 255 visible ASCII characters naming this request: a retry with \
                the same key (and body) gets the same job")),
    request_body(description = "The documents: a JSON array (`application/json`), or one JSON \
        document per line (`application/x-ndjson`). At most 32 MiB (configurable) and 100,000 \
        documents.",
        content(
            (Vec<trawl_api::jobs::DocumentIn> = "application/json"),
            (String = "application/x-ndjson"),
        )),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Queued: the job that will index the documents. \
            `Location` is the job's URL; `Idempotent-Replayed: true` marks the job of an earlier \
            request with the same `Idempotency-Key`.", body = Job,
            headers(("Location" = String, description = "/v1/jobs/{id}"))),
        SubmitErrorResponses,
        KeyResponses,
        DependencyResponse,
        InternalErrorResponse,
    ))]
async fn submit(
    State(state): State<IndexerState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let skip_bad = skip_bad_from_query_string(query.as_deref())?;
    let format = batch_format(&headers)?;
    let idempotency_key = idempotency_key(&headers)?;
    let limit = state.settings.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    // Bodies held at once are bounded, for all and for each key, by the
    // bytes received: a request waits for room as its bytes come.
    let (body, _room) = read_body(body, limit, &state.room, caller.0).await?;
    let accepted = state
        .service
        .submit(
            Batch {
                body,
                format,
                skip_bad,
                idempotency_key,
            },
            Some(caller.0),
        )
        .await?;
    Ok(accepted_response(accepted))
}

/// Queues a job that removes the document with this id (percent-encoded in
/// the path). Removing an id the index does not hold succeeds, counting
/// nothing deleted.
#[utoipa::path(delete, path = "/v1/documents/{id}", tag = "indexer", operation_id = "delete_document",
    params(("id" = String, Path, description = "The document's id, percent-encoded"),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
            description = "As for `POST /v1/documents`")),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Queued: the job that will remove it.", body = Job,
            headers(("Location" = String, description = "/v1/jobs/{id}"))),
        (status = 400, description = "The id or a header is invalid (`invalid_parameter`, \
            `invalid_header`).", body = trawl_api::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The `Idempotency-Key` was used for another request \
            (`idempotency_key_reused`).", body = trawl_api::Problem,
            content_type = "application/problem+json"),
        KeyResponses,
        DependencyResponse,
        InternalErrorResponse,
    ))]
async fn delete_document(
    State(state): State<IndexerState>,
    Extension(caller): Extension<Caller>,
    DocumentId(id): DocumentId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let idempotency_key = idempotency_key(&headers)?;
    let accepted = state
        .service
        .delete(&id, idempotency_key, Some(caller.0))
        .await?;
    Ok(accepted_response(accepted))
}

/// Jobs, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/jobs", tag = "indexer", operation_id = "list_jobs",
    params(JobsParams),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A page of jobs, and the cursor of the next.", body = JobsPage),
        (status = 400, description = "A parameter is invalid (`invalid_parameter`, \
            `invalid_cursor`, `duplicate_parameter`, `malformed_query_string`).",
            body = trawl_api::Problem, content_type = "application/problem+json"),
        KeyResponses,
        DependencyResponse,
        InternalErrorResponse,
    ))]
async fn jobs(
    State(state): State<IndexerState>,
    RawQuery(query): RawQuery,
) -> Result<Json<JobsPage>, ApiError> {
    let query = JobsQuery::from_query_string(query.as_deref())?;
    Ok(Json(state.service.jobs(&query).await?))
}

/// A job: its state, attempts, progress, counts and refused documents.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "indexer", operation_id = "get_job",
    params(("id" = i64, Path, minimum = 1, description = "The job's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The job.", body = Job),
        JobErrorResponses,
        KeyResponses,
        DependencyResponse,
        InternalErrorResponse,
    ))]
async fn job(State(state): State<IndexerState>, JobId(id): JobId) -> Result<Json<Job>, ApiError> {
    Ok(Json(state.service.job(id).await?))
}

/// Cancels a queued job. A job that runs or has finished cannot be
/// cancelled (`409`).
#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "indexer", operation_id = "cancel_job",
    params(("id" = i64, Path, minimum = 1, description = "The job's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Cancelled: the job as it is now.", body = Job),
        (status = 409, description = "It is running or finished (`conflict`).",
            body = trawl_api::Problem, content_type = "application/problem+json"),
        JobErrorResponses,
        KeyResponses,
        DependencyResponse,
        InternalErrorResponse,
    ))]
async fn cancel(
    State(state): State<IndexerState>,
    JobId(id): JobId,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(state.service.cancel(id).await?))
}

fn accepted_response(accepted: trawl_api::jobs::Accepted) -> Response {
    let location = format!("/v1/jobs/{}", accepted.job.id);
    let mut response = (StatusCode::ACCEPTED, Json(accepted.job)).into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, location);
    }
    if accepted.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// The accepted `Content-Type`s of a batch.
pub const BATCH_TYPES: &str =
    "application/json (an array of documents) or application/x-ndjson (a document per line)";

fn batch_format(headers: &HeaderMap) -> Result<BatchFormat, ApiError> {
    let unsupported = ApiError::UnsupportedMediaType {
        expected: BATCH_TYPES,
    };
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or(unsupported)?;
    let media = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/json" => Ok(BatchFormat::Json),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines"
        | "application/jsonlines" => Ok(BatchFormat::Ndjson),
        _ => Err(ApiError::UnsupportedMediaType {
            expected: BATCH_TYPES,
        }),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = |reason: String| ApiError::InvalidHeader {
        name: "Idempotency-Key",
        reason,
    };
    let text = value
        .to_str()
        .map_err(|_| invalid("must be visible ASCII characters".to_owned()))?;
    IdempotencyKey::parse(text).map(Some).map_err(invalid)
}

/// Reads a body of at most `limit` bytes, taking room for its bytes as
/// they arrive; the room is held until the returned [`Held`] is dropped.
async fn read_body(
    body: Body,
    limit: usize,
    room: &Room,
    key: i64,
) -> Result<(axum::body::Bytes, Held), ApiError> {
    use futures_util::StreamExt;
    let of_key = room.of_key(key);
    let mut held = Held::default();
    let mut read = bytes::BytesMut::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            if too_large(&e) {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::MalformedBody(format!("the body could not be read: {e}"))
            }
        })?;
        let size = read.len() + chunk.len();
        if size > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        let needed = u32::try_from(units(size)).unwrap_or(u32::MAX);
        held.grow(
            needed.saturating_sub(held.units),
            &of_key,
            &room.all,
            room.per_key,
        )
        .await?;
        read.extend_from_slice(&chunk);
    }
    Ok((read.freeze(), held))
}

/// Whether reading a body failed for its size.
fn too_large(error: &axum::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        if e.to_string().contains("length limit exceeded") {
            return true;
        }
        source = e.source();
    }
    false
}

/// A positive integer id from the path; `what` names it in the refusal.
pub(crate) async fn path_id<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    what: &str,
) -> Result<i64, ApiError> {
    let invalid = || {
        ApiError::from(InvalidRequest::InvalidParameter {
            param: "id",
            reason: format!("must be a {what} id, a positive integer"),
        })
    };
    let Path(raw) = Path::<String>::from_request_parts(parts, state)
        .await
        .map_err(|_| invalid())?;
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(invalid)
}

/// A job id from the path: a positive integer.
struct JobId(i64);

impl<S: Send + Sync> FromRequestParts<S> for JobId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        path_id(parts, state, "job").await.map(JobId)
    }
}

/// A document id from the path, percent-decoded.
struct DocumentId(String);

impl<S: Send + Sync> FromRequestParts<S> for DocumentId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                ApiError::from(InvalidRequest::InvalidParameter {
                    param: "id",
                    reason: "is not valid percent-encoded UTF-8".to_owned(),
                })
            })?;
        Ok(DocumentId(raw))
    }
}
