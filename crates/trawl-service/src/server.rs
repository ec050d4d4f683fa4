//! What every service's router gets, and serving it until told to stop.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Response;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use tracing::Span;
use utoipa::openapi::OpenApi;

use crate::ApiError;
use crate::health::{self, ReadinessCheck};

/// Largest request body any service accepts.
pub const BODY_LIMIT_BYTES: usize = 2 * 1024 * 1024;

/// Adds health endpoints, the service's OpenAPI document at
/// `/openapi.json`, problem documents for unknown routes and methods, the
/// body limit and request logging to a service's routes.
///
/// Request logs carry method, path, status and latency, never the query
/// string: search queries are personal.
pub fn app(routes: Router, readiness: ReadinessCheck, openapi: &OpenApi) -> Router {
    let document: Bytes = crate::openapi::render(openapi).into();
    routes
        .merge(health::routes(readiness))
        .route("/openapi.json", get(move || openapi_json(document.clone())))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                    )
                })
                .on_request(())
                .on_response(|response: &Response<_>, latency: Duration, _: &Span| {
                    tracing::info!(
                        status = response.status().as_u16(),
                        latency_ms = latency.as_secs_f64() * 1000.0,
                        "served"
                    );
                })
                .on_failure(()),
        )
}

/// This service's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", operation_id = "openapi",
    responses((status = 200, description = "This document.", content_type = "application/json",
        body = inline(Object))))]
pub(crate) async fn openapi_json(document: Bytes) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document)
}

/// Serves until `shutdown` completes, then stops accepting connections and
/// waits for the requests in flight to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use axum::routing::get;
    use tokio::sync::Notify;
    use trawl_api::Readiness;

    use super::*;

    #[tokio::test]
    async fn shutdown_finishes_requests_in_flight_and_refuses_new_ones() {
        let entered = Arc::new(Notify::new());
        let in_handler = entered.clone();
        let routes = Router::new().route(
            "/slow",
            get(move || {
                let in_handler = in_handler.clone();
                async move {
                    in_handler.notify_one();
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "done"
                }
            }),
        );
        let readiness: ReadinessCheck =
            Arc::new(|| Box::pin(async { Readiness::from_checks(vec![]) }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let stop = Arc::new(Notify::new());
        let stopped = stop.clone();
        let openapi = utoipa::openapi::OpenApi::default();
        let server = tokio::spawn(serve(
            listener,
            app(routes, readiness, &openapi),
            async move {
                stopped.notified().await;
            },
        ));

        let client = reqwest::Client::new();
        let request = tokio::spawn(client.get(format!("http://{address}/slow")).send());
        entered.notified().await;
        stop.notify_one();

        let response = request
            .await
            .unwrap()
            .expect("the request in flight completes");
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "done");
        server.await.unwrap().expect("serve returns cleanly");
        assert!(
            reqwest::get(format!("http://{address}/livez"))
                .await
                .is_err(),
            "no new connections"
        );
    }
}
