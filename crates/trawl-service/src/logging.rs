//! Structured logs to stderr: human-readable by default, JSON lines for log
//! collectors. The filter follows `RUST_LOG` syntax (`TRAWL_LOG` in the CLI).
//! The same subscriber makes spans OpenTelemetry spans ([`crate::trace`]):
//! a request's log lines carry its `trace_id`.

use tracing_subscriber::EnvFilter;
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

/// Installs the global subscriber: logs, and spans as OpenTelemetry spans
/// of `service` (exported when the environment asks, [`crate::trace`]).
/// Calling it twice keeps the first subscriber. Keep the returned
/// [`Tracing`] and [shut it down](Tracing::shutdown) on exit, so that the
/// last spans are exported. Call it outside an async runtime.
pub fn init(format: LogFormat, filter: &str, service: &str) -> Result<Tracing, TraceError> {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let tracing = Tracing::new(service)?;
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(tracing.layer());
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => registry.with(fmt).try_init(),
        LogFormat::Json => registry.with(fmt.json().flatten_event(true)).try_init(),
    };
    Ok(tracing)
}
