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
use trawl_api::Readiness;

/// How a service finds out whether it is ready.
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Readiness> + Send>> + Send + Sync>;

pub fn routes(check: ReadinessCheck) -> Router {
    Router::new()
        .route(
            "/livez",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
        .with_state(check)
}

async fn readyz(State(check): State<ReadinessCheck>) -> impl IntoResponse {
    let readiness = check().await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}
