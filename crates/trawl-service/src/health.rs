//! `/livez` (the process runs) and `/readyz` (it can serve: its resources are
//! open and the services it calls answer).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, response::IntoResponse};
use serde::Serialize;
use trawl_api::Readiness;
use utoipa::ToSchema;

/// How a service finds out whether it is ready.
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Readiness> + Send>> + Send + Sync>;

/// `GET /livez` and `GET /readyz`, the latter answering `check`.
pub fn routes(check: ReadinessCheck) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .with_state(check)
}

/// `GET /livez`: always `{"status": "ok"}`.
#[derive(Serialize, ToSchema)]
pub struct Liveness {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
}

/// The process runs.
#[utoipa::path(get, path = "/livez", tag = "health", operation_id = "livez",
    responses((status = 200, description = "The process runs.", body = Liveness)))]
pub(crate) async fn livez() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

/// The service can serve: its resources are open and the services it calls
/// are ready.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "readyz",
    responses(
        (status = 200, description = "Ready; every check passed.", body = Readiness),
        (status = 503, description = "Not ready; the failing checks say why.", body = Readiness),
    ))]
pub(crate) async fn readyz(State(check): State<ReadinessCheck>) -> impl IntoResponse {
    let readiness = check().await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}
