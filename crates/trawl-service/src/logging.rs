//! Structured logs to stderr: human-readable by default, JSON lines for log
//! collectors. The filter follows `RUST_LOG` syntax (`TRAWL_LOG` in the CLI).
//! The same subscriber carries traces ([`crate::trace`]): a request's log
//! lines carry its `trace_id`.

use tracing::Metadata;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::trace::{TraceError, Tracing};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people.
    #[default]
    Text,
    /// One JSON object a line, for collectors.
    Json,
}

/// trawl's own spans, at `info` and above: what traces are made of,
/// whatever the log filter lets through.
fn trawl_span(metadata: &Metadata<'_>) -> bool {
    metadata.is_span()
        && metadata.target().starts_with("trawl")
        && *metadata.level() <= tracing::Level::INFO
}

/// Installs the global subscriber: logs, filtered by `filter`, and traces
/// of `service` ([`crate::trace`]), which see trawl's spans whatever the
/// log filter says (and so do the logs, for the fields those spans carry,
/// such as `trace_id`, without printing the events the filter drops).
/// Calling it twice keeps the first subscriber. Keep the returned
/// [`Tracing`] and [shut it down](Tracing::shutdown) on exit, so that the
/// last spans are exported. Call it outside an async runtime.
pub fn init(format: LogFormat, filter: &str, service: &str) -> Result<Tracing, TraceError> {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let logged = filter.or(filter_fn(trawl_span));
    let tracing = Tracing::new(service)?;
    let (otel, ids) = tracing.layers();
    // Exported spans carry trawl's warnings and errors too (an engine's
    // failure, a refused call); not the `info` events, such as each
    // request's "served", which the span itself says (they cost a twentieth
    // of the search path's CPU time at full sampling: docs/BENCHMARKS.md).
    let exported = |m: &Metadata<'_>| {
        trawl_span(m)
            || (m.is_event()
                && m.target().starts_with("trawl")
                && *m.level() <= tracing::Level::WARN)
    };
    let registry = tracing_subscriber::registry()
        .with(otel.with_filter(filter_fn(exported)))
        .with(ids.with_filter(filter_fn(trawl_span)));
    // Every line passes the secret filter: a key that reaches a message by
    // a path nobody foresaw is still not written (`crate::redact`).
    let fmt = tracing_subscriber::fmt::layer().with_writer(crate::redact::Writer);
    let _ = match format {
        LogFormat::Text => registry.with(fmt.with_filter(logged)).try_init(),
        LogFormat::Json => registry
            .with(fmt.json().flatten_event(true).with_filter(logged))
            .try_init(),
    };
    Ok(tracing)
}
