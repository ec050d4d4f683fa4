//! The index's latest commit, served to search replicas that pull it
//! (`trawl_search::replica`): `GET /v1/index/manifest` names the commit's
//! files and `GET /v1/index/files/{name}` sends one. Segment files never
//! change, so a replica downloads only the ones it lacks.

use std::io::Read;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use trawl_api::ServiceError;
use trawl_index::LocalIndex;
use trawl_index::snapshot::Manifest;
use trawl_service::ApiError;
use trawl_service::openapi::InternalErrorResponse;

use crate::keys::{Keys, require_key};
use crate::openapi::{DependencyResponse, KeyResponses};

/// Bytes read from a file at a time: what one download holds in memory
/// (the connection cap bounds the downloads).
const CHUNK: usize = 64 * 1024;

/// `GET /v1/index/manifest` and `GET /v1/index/files/{name}` over the index
/// this process writes, open to anyone: see [`guarded`] for the default.
pub fn snapshot_routes(index: Arc<LocalIndex>) -> Router {
    Router::new()
        .route("/v1/index/manifest", get(manifest))
        .route("/v1/index/files/{name}", get(file))
        .with_state(index)
}

/// `routes` (the index's commits: the whole index, file by file) for
/// holders of an API key `keys` accepts, or of `replica_key`, the secret
/// search replicas are given (`search.index_key`), compared in constant
/// time.
pub fn guarded(routes: Router, keys: Arc<Keys>, replica_key: Option<String>) -> Router {
    let guard = Arc::new(Guard { keys, replica_key });
    routes.route_layer(axum::middleware::from_fn_with_state(guard, require_replica))
}

struct Guard {
    keys: Arc<Keys>,
    replica_key: Option<String>,
}

async fn require_replica(
    State(guard): State<Arc<Guard>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use subtle::ConstantTimeEq;
    if let Some(expected) = guard.replica_key.as_deref()
        && let Some(sent) = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
        && bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
    {
        return next.run(request).await;
    }
    require_key(State(guard.keys.clone()), request, next).await
}

fn internal(error: &trawl_index::IndexError) -> ApiError {
    tracing::error!(%error, "the index's commit cannot be served");
    ApiError::Service(ServiceError::Internal(error.public_message().to_owned()))
}

/// The index's latest commit: its `meta.json` and the files it is made of.
#[utoipa::path(get, path = "/v1/index/manifest", tag = "replicas", operation_id = "index_manifest",
    description = "Needs the replicas' key (`TRAWL_INDEX_KEY`) or an API key, unless \
        `indexer.public_index` opens the index files to anyone.",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The latest commit. A search replica downloads the files it \
            lacks, then writes `meta` as its `meta.json` (docs/deploy.md).", body = Manifest,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        KeyResponses,
        DependencyResponse,
        InternalErrorResponse,
    ))]
pub(crate) async fn manifest(State(index): State<Arc<LocalIndex>>) -> Result<Response, ApiError> {
    let made = tokio::task::spawn_blocking(move || index.manifest())
        .await
        .map_err(|e| ApiError::Service(ServiceError::Internal(e.to_string())))?;
    let manifest = made.map_err(|e| internal(&e))?;
    let mut response = Json(manifest).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// One file of the latest commit.
#[utoipa::path(get, path = "/v1/index/files/{name}", tag = "replicas", operation_id = "index_file",
    description = "Needs the replicas' key (`TRAWL_INDEX_KEY`) or an API key, unless \
        `indexer.public_index` opens the index files to anyone.",
    security(("api_key" = [])),
    params(("name" = String, Path, description = "A file the manifest names")),
    responses(
        (status = 200, description = "The file's bytes.", content_type = "application/octet-stream",
            body = Vec<u8>),
        (status = 404, description = "The latest commit has no such file (a newer commit may have \
            retired it: read the manifest again) (`not_found`).", body = trawl_api::Problem,
            content_type = "application/problem+json"),
        KeyResponses,
        DependencyResponse,
        InternalErrorResponse,
    ))]
pub(crate) async fn file(
    State(index): State<Arc<LocalIndex>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let opened = tokio::task::spawn_blocking(move || index.snapshot_file(&name))
        .await
        .map_err(|e| ApiError::Service(ServiceError::Internal(e.to_string())))?;
    let Some((file, bytes)) = opened.map_err(|e| internal(&e))? else {
        return Err(ApiError::NotFound);
    };
    // Read on the blocking pool a chunk at a time, never more than the
    // length it had when opened (segment files do not grow).
    let chunks = futures_util::stream::unfold((Some(file), bytes), |(file, left)| async move {
        let mut file = file.filter(|_| left > 0)?;
        let read = tokio::task::spawn_blocking(move || {
            let want = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
            let mut buffer = vec![0; want];
            let n = file.read(&mut buffer)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file ended early",
                ));
            }
            buffer.truncate(n);
            Ok((file, buffer))
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|read| read);
        Some(match read {
            Ok((file, buffer)) => {
                let left = left - buffer.len() as u64;
                (Ok(Bytes::from(buffer)), (Some(file), left))
            }
            // The body ends with an error: the client sees a short body.
            Err(e) => (Err(e), (None, 0)),
        })
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes));
    Ok(response)
}
