//! Distributed traces: W3C trace context in and out of every service, and
//! OpenTelemetry spans exported over OTLP when the standard variables ask
//! for it.
//!
//! Every request has a trace id, exported or not: log lines carry it (the
//! `request` span's `trace_id` field), problem documents carry it, and it
//! crosses trawl's own services in `traceparent` ([`inject`]), so the three
//! services' logs of one search share it. How depends on the [`Mode`]:
//!
//! - exporting (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` set): every `tracing` span is an
//!   OpenTelemetry span, exported over OTLP/HTTP with protobuf bodies; the
//!   sampler is the SDK's, from `OTEL_TRACES_SAMPLER` and
//!   `OTEL_TRACES_SAMPLER_ARG` (default: parent-based, always on), the
//!   service name `OTEL_SERVICE_NAME`, else `trawl-<role>`;
//! - ids only (the default): a small layer ([`TraceIds`]) gives each span
//!   a trace id (its parent's, or the caller's, or a new one) and a span
//!   id, and nothing else — building OpenTelemetry spans nobody exports
//!   cost a tenth of the search path's CPU time (docs/BENCHMARKS.md);
//! - disabled (`OTEL_SDK_DISABLED=true`): no ids at all.
//!
//! Never sent to third-party engines: only calls to trawl's own services
//! carry context.

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};

use axum::http::{HeaderMap, HeaderValue};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing::span::{Attributes, Id};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// How this process traces, as [`Tracing::new`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No ids: `OTEL_SDK_DISABLED=true`, or no [`Tracing`] set up (a
    /// library used on its own, or a test's in-process server).
    Disabled,
    /// Trace and span ids only ([`TraceIds`]).
    Ids,
    /// OpenTelemetry spans, exported.
    Exporting,
}

static MODE: AtomicU8 = AtomicU8::new(0);

/// The process's mode.
pub fn mode() -> Mode {
    match MODE.load(Ordering::Relaxed) {
        1 => Mode::Ids,
        2 => Mode::Exporting,
        _ => Mode::Disabled,
    }
}

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
    ENDPOINT_VARIABLES.iter().any(|name| set(name))
        && !disabled()
        && !is("OTEL_TRACES_EXPORTER", "none")
}

fn is(name: &str, value: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value))
}

/// `OTEL_SDK_DISABLED=true`: no OpenTelemetry at all — no spans, no trace
/// ids in logs or problem documents, no context passed on.
pub fn disabled() -> bool {
    is("OTEL_SDK_DISABLED", "true")
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

/// The process's tracing: the exporter's provider, when exporting, which
/// flushes and stops when shut down.
#[derive(Debug)]
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
    mode: Mode,
}

impl Tracing {
    /// Decides the process's [`Mode`] from the environment and, when
    /// exporting, sets up the provider for `service` (its default
    /// `service.name`). Call it outside an async runtime: the exporter's
    /// blocking HTTP client has a runtime of its own.
    pub fn new(service: &str) -> Result<Self, TraceError> {
        let mode = if disabled() {
            Mode::Disabled
        } else if exporting() {
            Mode::Exporting
        } else {
            Mode::Ids
        };
        let provider = if mode == Mode::Exporting {
            let mut resource = opentelemetry_sdk::Resource::builder();
            if std::env::var("OTEL_SERVICE_NAME").is_err() {
                resource = resource.with_service_name(service.to_owned());
            }
            let builder = SdkTracerProvider::builder().with_resource(resource.build());
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
            Some(builder.with_batch_exporter(Redacting(exporter)).build())
        } else {
            None
        };
        MODE.store(
            match mode {
                Mode::Disabled => 0,
                Mode::Ids => 1,
                Mode::Exporting => 2,
            },
            Ordering::Relaxed,
        );
        Ok(Self { provider, mode })
    }

    /// How spans are traced.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The `tracing` layers of the mode: OpenTelemetry's when exporting,
    /// [`TraceIds`] for ids only, neither when disabled.
    #[allow(clippy::type_complexity)]
    pub fn layers<S>(
        &self,
    ) -> (
        Option<tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>>,
        Option<TraceIds>,
    )
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        // Spans carry their fields and events; not the busy and idle time
        // of each (a clock read at every poll of every instrumented
        // future), the thread, or the source location.
        let otel = self.provider.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("trawl"))
                .with_tracked_inactivity(false)
                .with_threads(false)
                .with_location(false)
                .with_context_activation(false)
        });
        (otel, (self.mode == Mode::Ids).then_some(TraceIds))
    }

    /// Exports what is buffered and stops the exporter.
    pub fn shutdown(&self) {
        if let Some(provider) = &self.provider
            && let Err(error) = provider.shutdown()
        {
            eprintln!("trawl: traces not all exported at shutdown: {error}");
        }
    }
}

/// A span's ids in [`Mode::Ids`]: kept in the span's extensions.
#[derive(Debug, Clone, Copy)]
struct Ids {
    trace: u128,
    span: u64,
    sampled: bool,
}

/// The `tracing` layer of [`Mode::Ids`]: each new span takes its parent's
/// trace id (a root, a new one) and a span id of its own.
#[derive(Debug, Clone, Copy)]
pub struct TraceIds;

impl<S> tracing_subscriber::Layer<S> for TraceIds
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    fn on_new_span(&self, _: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let parent = span
            .parent()
            .and_then(|parent| parent.extensions().get::<Ids>().copied());
        let ids = Ids {
            trace: parent.map_or_else(
                || nonzero(|| u128::from(random()) << 64 | u128::from(random())),
                |p| p.trace,
            ),
            span: nonzero(random),
            sampled: parent.is_some_and(|p| p.sampled),
        };
        span.extensions_mut().insert(ids);
    }
}

/// A value of `make` that is not zero (W3C: all-zero ids are invalid).
fn nonzero<T: Default + PartialEq>(make: impl Fn() -> T) -> T {
    loop {
        let value = make();
        if value != T::default() {
            return value;
        }
    }
}

/// A fast random number: SplitMix64 per thread, seeded from the OS.
fn random() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(getrandom::u64().unwrap_or(0x9e37_79b9_7f4a_7c15));
    }
    STATE.with(|state| {
        let mut z = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// Runs `f` on `span`'s [`Ids`], in [`Mode::Ids`].
fn with_ids<T>(span: &Span, f: impl FnOnce(&mut Ids) -> T) -> Option<T> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let data = registry.span(id)?;
        let mut extensions = data.extensions_mut();
        extensions.get_mut::<Ids>().map(f)
    })
    .flatten()
}

/// The trace context a request arrived with (`traceparent`,
/// `tracestate`), made the parent of `span`. A missing or malformed
/// header leaves `span` the root of a new trace.
pub fn continue_from(span: &Span, headers: &HeaderMap) {
    let mode = mode();
    if mode == Mode::Disabled || !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let remote = parent.span().span_context().clone();
    if !remote.is_valid() {
        return;
    }
    match mode {
        Mode::Exporting => {
            let _ = span.set_parent(parent);
        }
        Mode::Ids => {
            with_ids(span, |ids| {
                ids.trace = u128::from_be_bytes(remote.trace_id().to_bytes());
                ids.sampled = remote.is_sampled();
            });
        }
        Mode::Disabled => {}
    }
}

/// Writes `span`'s trace context into `headers`, for a call to another
/// trawl service.
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    match mode() {
        Mode::Exporting => TraceContextPropagator::new()
            .inject_context(&span.context(), &mut HeaderInjector(headers)),
        Mode::Ids => {
            let value = with_ids(span, |ids| {
                format!(
                    "00-{:032x}-{:016x}-{:02x}",
                    ids.trace,
                    ids.span,
                    u8::from(ids.sampled)
                )
            });
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                headers.insert("traceparent", value);
            }
        }
        Mode::Disabled => {}
    }
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
    match mode() {
        Mode::Exporting => {
            let context = span.context();
            let span = context.span();
            let ids = span.span_context();
            ids.is_valid().then(|| ids.trace_id().to_string())
        }
        Mode::Ids => with_ids(span, |ids| format!("{:032x}", ids.trace)),
        Mode::Disabled => None,
    }
}

/// The trace id of the current span.
pub fn current_trace_id() -> Option<String> {
    trace_id(&Span::current())
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn ids_follow_the_caller_into_children_and_out_as_traceparent() {
        // The environment of a test sets no OTEL_* variable: ids only.
        let tracing = Tracing::new("test").unwrap();
        assert_eq!(tracing.mode(), Mode::Ids);
        let (otel, ids) = tracing.layers();
        assert!(otel.is_none() && ids.is_some());
        let subscriber = tracing_subscriber::registry().with(otel).with(ids);
        tracing::subscriber::with_default(subscriber, || {
            let fresh = tracing::info_span!("request");
            let fresh_id = trace_id(&fresh).expect("a trace id");
            assert_eq!(fresh_id.len(), 32);
            assert_ne!(fresh_id, "0".repeat(32));
            assert_ne!(
                trace_id(&tracing::info_span!("another")),
                Some(fresh_id),
                "each root its own trace"
            );

            let request = tracing::info_span!("request");
            let mut headers = HeaderMap::new();
            headers.insert(
                "traceparent",
                HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            );
            continue_from(&request, &headers);
            let child = request.in_scope(|| tracing::info_span!("call"));
            assert_eq!(
                trace_id(&child).as_deref(),
                Some("4bf92f3577b34da6a3ce929d0e0e4736")
            );
            let sent = traceparent(&child).expect("a traceparent");
            let parts: Vec<&str> = sent.split('-').collect();
            assert_eq!(parts.len(), 4, "{sent}");
            assert_eq!(parts[0], "00");
            assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_eq!(parts[2].len(), 16);
            assert_ne!(parts[2], "00f067aa0ba902b7", "the child's own span id");
            assert_eq!(parts[3], "01", "the caller's sampling decision passes on");

            // A job made under it, continued elsewhere from its row.
            let job = tracing::info_span!(parent: None, "job");
            continue_from_traceparent(&job, &sent);
            assert_eq!(trace_id(&job), trace_id(&child));
        });
    }
}

/// An exporter whose spans leave with every registered secret scrubbed
/// from their names, attributes, events and status ([`crate::redact`]): a
/// backstop, as the log writer is for log lines.
#[derive(Debug)]
struct Redacting<E>(E);

fn scrub_value(value: &mut opentelemetry::Value) {
    if let opentelemetry::Value::String(text) = value
        && let std::borrow::Cow::Owned(clean) = crate::redact::text(text.as_str())
    {
        *text = clean.into();
    }
}

fn scrub_text(text: &mut std::borrow::Cow<'static, str>) {
    if let std::borrow::Cow::Owned(clean) = crate::redact::text(text) {
        *text = clean.into();
    }
}

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for Redacting<E>
{
    fn export(
        &self,
        mut batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> impl std::future::Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send {
        for span in &mut batch {
            scrub_text(&mut span.name);
            for kv in &mut span.attributes {
                scrub_value(&mut kv.value);
            }
            for event in &mut span.events.events {
                scrub_text(&mut event.name);
                for kv in &mut event.attributes {
                    scrub_value(&mut kv.value);
                }
            }
            if let opentelemetry::trace::Status::Error { description } = &mut span.status {
                scrub_text(description);
            }
        }
        self.0.export(batch)
    }

    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.0.set_resource(resource);
    }
}
