//! Distributed traces: W3C trace context in and out of every service, and
//! OpenTelemetry spans exported over OTLP when the standard variables ask
//! for it.
//!
//! Every span trawl opens through `tracing` is an OpenTelemetry span as
//! well (the layer [`layer`] makes), so each request has a trace id even
//! when nothing is exported: log lines carry it (the `request` span's
//! `trace_id` field), problem documents carry it, and it crosses trawl's
//! own services in `traceparent` ([`inject`]), so the three services' logs
//! of one search share it. Without an exporter no span is sampled, and
//! the cost is building a non-recording span per `tracing` span.
//!
//! Exported when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, over OTLP/HTTP with
//! protobuf bodies; the sampler is the SDK's, from `OTEL_TRACES_SAMPLER`
//! and `OTEL_TRACES_SAMPLER_ARG` (default: parent-based, always on), the
//! service name `OTEL_SERVICE_NAME`, else `trawl-<role>`. Never sent to
//! third-party engines: only calls to trawl's own services carry context.

use axum::http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::registry::LookupSpan;

/// The variables that turn exporting on.
pub const ENDPOINT_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// Whether the environment asks for traces to be exported: an OTLP
/// endpoint is set, and neither `OTEL_SDK_DISABLED=true` nor
/// `OTEL_TRACES_EXPORTER=none` says otherwise.
pub fn exporting() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let is = |name: &str, value: &str| {
        std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value))
    };
    ENDPOINT_VARIABLES.iter().any(|name| set(name))
        && !is("OTEL_SDK_DISABLED", "true")
        && !is("OTEL_TRACES_EXPORTER", "none")
}

/// Why traces cannot be exported as the environment asks.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// Only OTLP over HTTP with protobuf is built in.
    #[error(
        "OTEL_EXPORTER_OTLP_PROTOCOL=`{0}` is not supported: trawl exports traces over http/protobuf"
    )]
    Protocol(String),
    /// The exporter could not be made (a bad endpoint, say).
    #[error("the OTLP trace exporter cannot be set up: {0}")]
    Exporter(String),
}

/// The tracer provider: flushes and stops the exporter when shut down.
#[derive(Debug)]
pub struct Tracing {
    provider: SdkTracerProvider,
    exporting: bool,
}

impl Tracing {
    /// Sets up the provider for `service` (its default `service.name`):
    /// exporting over OTLP when [`exporting`], else sampling nothing.
    /// Call it outside an async runtime: the exporter's blocking HTTP
    /// client has a runtime of its own.
    pub fn new(service: &str) -> Result<Self, TraceError> {
        let exporting = exporting();
        let mut resource = opentelemetry_sdk::Resource::builder();
        if std::env::var("OTEL_SERVICE_NAME").is_err() {
            resource = resource.with_service_name(service.to_owned());
        }
        let builder = SdkTracerProvider::builder().with_resource(resource.build());
        let provider = if exporting {
            for name in [
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ] {
                if let Ok(protocol) = std::env::var(name)
                    && protocol.trim() != "http/protobuf"
                {
                    return Err(TraceError::Protocol(protocol));
                }
            }
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .build()
                .map_err(|e| TraceError::Exporter(e.to_string()))?;
            builder.with_batch_exporter(exporter).build()
        } else {
            // Ids for logs and problem documents, no recording.
            builder.with_sampler(Sampler::AlwaysOff).build()
        };
        Ok(Self {
            provider,
            exporting,
        })
    }

    /// Whether spans are exported.
    pub fn is_exporting(&self) -> bool {
        self.exporting
    }

    /// The `tracing` layer that makes each span an OpenTelemetry span.
    pub fn layer<S>(
        &self,
    ) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        let layer = tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("trawl"))
            .with_level(true);
        if self.exporting {
            layer
        } else {
            // Nothing is recorded: no need to time or locate spans.
            layer
                .with_tracked_inactivity(false)
                .with_location(false)
                .with_threads(false)
        }
    }

    /// Exports what is buffered and stops the exporter.
    pub fn shutdown(&self) {
        if self.exporting
            && let Err(error) = self.provider.shutdown()
        {
            eprintln!("trawl: traces not all exported at shutdown: {error}");
        }
    }
}

/// The trace context a request arrived with (`traceparent`,
/// `tracestate`), made the parent of `span`. A missing or malformed
/// header leaves `span` the root of a new trace.
pub fn continue_from(span: &Span, headers: &HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// Writes `span`'s trace context into `headers`, for a call to another
/// trawl service.
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(headers));
}

/// `span`'s trace context as a `traceparent` value, for messages that
/// carry it outside HTTP (jobs); `None` when spans are not traced.
pub fn traceparent(span: &Span) -> Option<String> {
    let mut headers = HeaderMap::new();
    inject(span, &mut headers);
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Makes the trace context in `traceparent` (as [`traceparent`] wrote
/// it) the parent of `span`.
pub fn continue_from_traceparent(span: &Span, traceparent: &str) {
    let mut headers = HeaderMap::new();
    if let Ok(value) = traceparent.parse() {
        headers.insert("traceparent", value);
        continue_from(span, &headers);
    }
}

/// The trace id of `span`, as 32 hex digits; `None` when tracing is not
/// set up.
pub fn trace_id(span: &Span) -> Option<String> {
    let context = span.context();
    let span = context.span();
    let ids = span.span_context();
    ids.is_valid().then(|| ids.trace_id().to_string())
}

/// The trace id of the current span.
pub fn current_trace_id() -> Option<String> {
    trace_id(&Span::current())
}
