//! What every service's router gets, and serving it until told to stop.

use std::future::Future;
use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::Response;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{BoxError, ServiceBuilder};
use tower_http::trace::TraceLayer;
use tracing::Span;
use trawl_api::{Check, Problem};
use utoipa::openapi::OpenApi;

use crate::ApiError;
use crate::client::ProxySettings;
use crate::connections::ConnectionLimits;
use crate::deadline;
use crate::health::{self, ReadinessCheck};
use crate::metrics::{Metric, MetricsSettings};

/// Largest request body any service accepts.
pub const BODY_LIMIT_BYTES: usize = 2 * 1024 * 1024;

/// Limits on what a service takes in.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Longest a request may take; a caller's `trawl-budget-ms` can only
    /// shorten it.
    pub request_timeout: Duration,
    /// Requests served at once; one more is shed with `503` and
    /// `Retry-After` instead of queued.
    pub max_in_flight: usize,
    /// Which peers' forwarding headers are believed, and the public URL.
    pub proxies: ProxySettings,
    /// Whether `/metrics` is served, and to whom.
    pub metrics: MetricsSettings,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            max_in_flight: 256,
            proxies: ProxySettings::default(),
            metrics: MetricsSettings::default(),
        }
    }
}

/// Shows a problem as a page, for the requests a role answers with pages
/// (`None` for the others, which keep the problem document). Applied to
/// the problems the service's own layers answer with before any handler
/// runs — shedding, deadlines, a bad `trawl-budget-ms` or `timeout_ms` —
/// so that a browser gets a page, not JSON, when the service is busy.
pub type ProblemPage = Arc<
    dyn Fn(&axum::http::Method, &axum::http::Uri, &Problem) -> Option<Response<axum::body::Body>>
        + Send
        + Sync,
>;

/// Adds to a service's routes: load shedding and deadlines (not on the
/// health endpoints, which must answer when the service is busiest), health
/// endpoints, the service's OpenAPI document at `/openapi.json`, `/metrics`
/// (when enabled, to allowed clients), problem documents for unknown routes
/// and methods, the body limit, request metrics, and request spans and logs.
///
/// Each request's span continues the trace of its `traceparent`, if any,
/// and records its trace id. Request logs carry method, path, status and
/// latency, never the query string: search queries are personal.
pub fn app(
    routes: Router,
    readiness: ReadinessCheck,
    openapi: &OpenApi,
    settings: &ServerSettings,
    pages: Option<ProblemPage>,
) -> Router {
    let (max_in_flight, request_timeout) = (settings.max_in_flight, settings.request_timeout);
    let document: Bytes = crate::openapi::render(openapi).into();
    let shed = Arc::new(AtomicU64::new(0));
    let counted = shed.clone();
    let protected = routes
        .layer(middleware::from_fn_with_state(
            request_timeout,
            deadline::enforce,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(move |_: BoxError| {
                    let total = counted.fetch_add(1, Ordering::Relaxed) + 1;
                    ::metrics::counter!(Metric::HttpShed.name()).increment(1);
                    async move {
                        tracing::warn!(shed_total = total, "request shed: too many in flight");
                        ApiError::Overloaded
                    }
                }))
                .load_shed()
                // One limit for the whole service: `Router::layer` gives
                // each route its own copy of a layer, and a plain
                // concurrency limit would count each route apart.
                .layer(GlobalConcurrencyLimitLayer::new(max_in_flight)),
        );

    let protected = match pages {
        None => protected,
        Some(page) => protected.layer(middleware::from_fn(move |request: Request, next: Next| {
            let page = page.clone();
            async move {
                let (method, uri) = (request.method().clone(), request.uri().clone());
                let response = next.run(request).await;
                let Some(problem) = response.extensions().get::<Problem>() else {
                    return response;
                };
                match page(&method, &uri, problem) {
                    Some(mut page) => {
                        if let Some(after) = response.headers().get(header::RETRY_AFTER) {
                            page.headers_mut()
                                .insert(header::RETRY_AFTER, after.clone());
                        }
                        page
                    }
                    None => response,
                }
            }
        })),
    };
    let readiness: ReadinessCheck = Arc::new(move || {
        let (check, shed) = (readiness.clone(), shed.clone());
        Box::pin(async move {
            let mut readiness = check().await;
            readiness.checks.push(Check::new(
                "load",
                true,
                format!(
                    "at most {} requests in flight; {} shed since start",
                    max_in_flight,
                    shed.load(Ordering::Relaxed)
                ),
            ));
            readiness
        })
    });
    // Readiness as a gauge, for alerts on a service that stops being
    // ready or flaps.
    let checked = readiness.clone();
    crate::metrics::collect_on_scrape(Arc::new(move || {
        let check = checked.clone();
        Box::pin(async move {
            let ready = check().await.ready;
            ::metrics::gauge!(Metric::Ready.name()).set(if ready { 1.0 } else { 0.0 });
        })
    }));
    let mut app = protected
        .merge(health::routes(readiness))
        .route("/openapi.json", get(move || openapi_json(document.clone())));
    if settings.metrics.enabled && crate::metrics::install().is_some() {
        app = app.route(
            "/metrics",
            get(crate::metrics::scrape).with_state(Arc::new(settings.metrics.clone())),
        );
    }
    app.fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn(crate::metrics::record))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(middleware::from_fn_with_state(
            Arc::new(settings.proxies.clone()),
            crate::client::resolve,
        ))
        .layer(middleware::map_response(|r| async { security_headers(r) }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("unmatched", MatchedPath::as_str);
                    let span = tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        trace_id = tracing::field::Empty,
                        otel.name = %format_args!("{} {route}", request.method()),
                        otel.kind = "server",
                    );
                    crate::trace::continue_from(&span, request.headers());
                    if let Some(id) = crate::trace::trace_id(&span) {
                        span.record("trace_id", id);
                    }
                    span
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
/// waits for the requests in flight to finish; see [`crate::connections`]
/// for the limits on connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::connections::serve(listener, app, limits, shutdown).await
}

/// The headers every response of every role carries: nothing is loaded
/// from elsewhere, no script runs, no page can be framed, no answer is
/// sniffed into another type, and result sites are not told what was
/// searched for. A handler's own value for one of them is kept.
pub fn security_headers(mut response: Response<axum::body::Body>) -> Response<axum::body::Body> {
    let headers = response.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in set {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
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
            app(
                routes,
                readiness,
                &openapi,
                &ServerSettings::default(),
                None,
            ),
            ConnectionLimits::default(),
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
