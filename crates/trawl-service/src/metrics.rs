//! Prometheus metrics: the one catalogue of what trawl measures, the
//! recorder behind the `metrics` facade, and `GET /metrics`.
//!
//! Libraries record through the `metrics` macros with the names in
//! [`Metric`]; without an installed recorder (metrics turned off, or a
//! library used on its own) those calls do nothing. Labels are bounded by
//! construction: route templates (never paths), configured engine names,
//! destinations named in code, outcomes from fixed lists. Gauges that are
//! read rather than counted (index size, queue depth, process figures) are
//! filled in when `/metrics` is scraped, by [`collect_on_scrape`]
//! collectors.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::ApiError;
use crate::client::Client;

/// Buckets of every latency histogram, in seconds: half a millisecond (an
/// index search) to ten seconds (the longest request timeout).
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Buckets of job durations, in seconds: a batch of documents takes
/// milliseconds, a crawl of a site minutes.
pub const JOB_BUCKETS: [f64; 12] = [
    0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
];

/// The kind of a metric, as Prometheus types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets.
    Histogram,
}

impl Kind {
    /// Its name in the exposition format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

macro_rules! catalogue {
    ($($(#[$doc:meta])* $variant:ident => ($name:literal, $kind:ident, [$($label:literal),*], $help:literal);)*) => {
        /// Every metric trawl records: its name, kind, labels and meaning.
        /// docs/observability.md's table is this list (a test holds it to it).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Metric {
            $($(#[$doc])* $variant,)*
        }

        impl Metric {
            /// Every metric.
            pub const ALL: &'static [Metric] = &[$(Metric::$variant,)*];

            /// Its name in the exposition.
            pub const fn name(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// Its kind.
            pub const fn kind(self) -> Kind {
                match self { $(Self::$variant => Kind::$kind,)* }
            }

            /// Its labels.
            pub const fn labels(self) -> &'static [&'static str] {
                match self { $(Self::$variant => &[$($label),*],)* }
            }

            /// What it means: its `# HELP` line.
            pub const fn help(self) -> &'static str {
                match self { $(Self::$variant => $help,)* }
            }
        }
    };
}

catalogue! {
    /// Requests answered.
    HttpRequests => ("trawl_http_requests_total", Counter, ["route", "method", "status"],
        "HTTP requests answered, by route template, method and status class (2xx, 4xx, ...).");
    /// Request latency.
    HttpDuration => ("trawl_http_request_duration_seconds", Histogram, ["route", "method"],
        "Time from a request's arrival to its response's head, by route template and method.");
    /// Requests in flight.
    HttpInFlight => ("trawl_http_requests_in_flight", Gauge, [],
        "Requests being served now.");
    /// Readiness.
    Ready => ("trawl_ready", Gauge, [],
        "1 when the service's /readyz says it can serve, else 0; evaluated at each scrape.");
    /// Requests shed.
    HttpShed => ("trawl_http_requests_shed_total", Counter, [],
        "Requests refused with 503 because server.max_in_flight were already being served.");
    /// Requests refused by a rate limit.
    HttpRateLimited => ("trawl_http_requests_rate_limited_total", Counter, ["budget"],
        "Requests refused with 429 because their client spent its budget (pages or api).");
    /// Engine calls.
    EngineCalls => ("trawl_engine_calls_total", Counter, ["engine", "outcome"],
        "Engine searches, by configured engine name and outcome: ok, error, timeout, suspended, rate_limited.");
    /// Engine latency.
    EngineDuration => ("trawl_engine_call_duration_seconds", Histogram, ["engine"],
        "Time an engine took to answer or fail, by engine.");
    /// Engine results.
    EngineResults => ("trawl_engine_results_total", Counter, ["engine"],
        "Results engines returned, by engine.");
    /// Calls between services and to engines' APIs.
    OutboundCalls => ("trawl_outbound_calls_total", Counter, ["destination", "outcome"],
        "Outbound HTTP attempts through trawl's client stack, by destination and outcome: ok, failed (an answer the destination's classifier calls a failure), timeout, error, refused (breaker open), busy (bulkhead full).");
    /// Retries.
    OutboundRetries => ("trawl_outbound_retries_total", Counter, ["destination"],
        "Retries of failed outbound calls, by destination.");
    /// Retries the budget refused.
    OutboundRetryBudgetExhausted => ("trawl_outbound_retry_budget_exhausted_total", Counter, ["destination"],
        "Retries not made because the destination's retry budget was spent.");
    /// Breaker states.
    BreakerState => ("trawl_breaker_state", Gauge, ["destination"],
        "A destination's circuit breaker: 0 closed, 1 half-open, 2 open.");
    /// Breaker transitions.
    BreakerTransitions => ("trawl_breaker_transitions_total", Counter, ["destination", "to"],
        "Times a destination's breaker moved, by the state it moved to (open, closed).");
    /// Documents in the index.
    IndexDocuments => ("trawl_index_documents", Gauge, [],
        "Documents in the local index, as its searcher last saw it.");
    /// Segments of the index.
    IndexSegments => ("trawl_index_segments", Gauge, [],
        "Segments of the local index (many means merges are behind).");
    /// Age of the last commit.
    IndexCommitAge => ("trawl_index_last_commit_age_seconds", Gauge, [],
        "Seconds since the index's last commit (by the writer, as its meta.json shows).");
    /// Jobs waiting.
    QueueDepth => ("trawl_queue_depth", Gauge, [],
        "Jobs accepted and not finished: queued or running.");
    /// The oldest job's age.
    QueueOldestAge => ("trawl_queue_oldest_job_age_seconds", Gauge, [],
        "Seconds since the oldest unfinished job was accepted (0 when none).");
    /// Jobs finished.
    Jobs => ("trawl_jobs_total", Counter, ["outcome"],
        "Jobs the indexer's worker finished, by outcome: succeeded, failed, retried.");
    /// Job durations.
    JobDuration => ("trawl_job_duration_seconds", Histogram, ["outcome"],
        "Time a job ran, by outcome.");
    /// Crawled pages.
    CrawlPages => ("trawl_crawl_pages_total", Counter, ["outcome"],
        "Pages crawls went through, by what became of them: added, changed, unchanged, removed, skipped, failed.");
    /// Build.
    BuildInfo => ("trawl_build_info", Gauge, ["version", "commit"],
        "Always 1; its labels name the running build.");
    /// CPU time.
    ProcessCpu => ("process_cpu_seconds_total", Counter, [],
        "CPU time the process has used, user and system, in seconds.");
    /// Resident memory.
    ProcessResident => ("process_resident_memory_bytes", Gauge, [],
        "Resident memory of the process.");
    /// Virtual memory.
    ProcessVirtual => ("process_virtual_memory_bytes", Gauge, [],
        "Virtual memory of the process.");
    /// Open files.
    ProcessOpenFds => ("process_open_fds", Gauge, [],
        "File descriptors the process has open.");
    /// File limit.
    ProcessMaxFds => ("process_max_fds", Gauge, [],
        "The process's limit of open file descriptors.");
    /// Start time.
    ProcessStart => ("process_start_time_seconds", Gauge, [],
        "When the process started, in seconds since the Unix epoch.");
}

/// Who may read `/metrics`, and whether it is served at all.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSettings {
    /// Serve `/metrics` and record (off: no recorder, nothing counted).
    pub enabled: bool,
    /// Client networks that may read it; others get `404`, as for any
    /// path that is not there. Checked against the client address the
    /// server resolved (behind trusted proxies, the forwarded one).
    pub allow: Vec<IpNet>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            allow: default_allow(),
        }
    }
}

/// Loopback and private networks: where Prometheus scrapes from in a
/// cluster or a Compose network; never the public Internet.
pub fn default_allow() -> Vec<IpNet> {
    [
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
    ]
    .iter()
    .map(|n| n.parse().expect("a valid network"))
    .collect()
}

/// Something that sets gauges just before a scrape renders them.
pub type Collector = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

fn collectors() -> &'static Mutex<Vec<Collector>> {
    static COLLECTORS: OnceLock<Mutex<Vec<Collector>>> = OnceLock::new();
    COLLECTORS.get_or_init(Mutex::default)
}

/// Registers `collector` to run before each scrape (index, queue).
pub fn collect_on_scrape(collector: Collector) {
    collectors()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(collector);
}

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static COMMIT: OnceLock<&'static str> = OnceLock::new();

/// Names the commit the binary was built from, for `trawl_build_info`:
/// call it before [`install`] (the binary does; a library alone reports
/// `unknown`).
pub fn set_commit(commit: &'static str) {
    let _ = COMMIT.set(commit);
}

/// Installs the process's recorder, once (later calls return the first
/// one's handle); `None` when another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE.get_or_init(recorder).as_ref()
}

/// Installs the recorder and records what is known at start.
fn recorder() -> Option<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(Metric::JobDuration.name().into()),
                &JOB_BUCKETS,
            )
        })
        .ok()?
        .install_recorder()
        .ok()?;
    for metric in Metric::ALL
        .iter()
        .filter(|m| !m.name().starts_with("process_"))
    {
        let (name, help) = (metric.name(), metric.help());
        match metric.kind() {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Gauge => metrics::describe_gauge!(name, help),
            Kind::Histogram => metrics::describe_histogram!(name, help),
        }
    }
    metrics::gauge!(
        Metric::BuildInfo.name(),
        "version" => env!("CARGO_PKG_VERSION"),
        "commit" => COMMIT.get().copied().unwrap_or("unknown"),
    )
    .set(1.0);
    metrics::gauge!(Metric::HttpInFlight.name()).set(0.0);
    process::started();
    metrics::counter!(Metric::HttpShed.name()).absolute(0);
    // Histograms keep raw samples until rendered: drained every few
    // seconds whether or not anyone scrapes.
    let upkeep = handle.clone();
    let _ = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        });
    Some(handle)
}

/// `GET /metrics`: the Prometheus text exposition, for clients in
/// [`MetricsSettings::allow`]; `404` for anyone else.
#[utoipa::path(get, path = "/metrics", tag = "meta", operation_id = "metrics",
    description = "Prometheus metrics (text exposition format 0.0.4): every metric is in docs/observability.md. \
        Served to the networks in `metrics.allow` (loopback and private networks by default); \
        anyone else, or any client when `metrics.enabled` is false, gets 404.",
    responses(
        (status = 200, description = "The metrics.", content_type = "text/plain", body = String),
        (status = 404, description = "Metrics are off, or this client may not read them.",
            content_type = "application/problem+json", body = trawl_api::Problem),
    ))]
pub(crate) async fn scrape(
    State(settings): State<Arc<MetricsSettings>>,
    client: Option<axum::Extension<Client>>,
) -> Result<Response, ApiError> {
    let allowed = client
        .and_then(|axum::Extension(c)| c.ip)
        .is_some_and(|ip| allowed(&settings.allow, ip));
    let Some(handle) = HANDLE.get().and_then(Option::as_ref).filter(|_| allowed) else {
        return Err(ApiError::NotFound);
    };
    let pending: Vec<Collector> = collectors()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for collect in pending {
        collect().await;
    }
    let mut text = handle.render();
    process::render(&mut text);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

fn allowed(allow: &[IpNet], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    };
    allow.iter().any(|net| net.contains(&ip))
}

/// Counts every request by its route template, method and status class,
/// times it, and keeps the in-flight gauge.
pub(crate) async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = method_label(request.method());
    let started = Instant::now();
    let in_flight = InFlight::start();
    let response = next.run(request).await;
    drop(in_flight);
    let class = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::histogram!(Metric::HttpDuration.name(), "route" => route.clone(), "method" => method)
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(Metric::HttpRequests.name(), "route" => route, "method" => method, "status" => class)
        .increment(1);
    response
}

/// One request in the in-flight gauge, until dropped: also when the
/// request is (its client gone, its connection closed), so the gauge
/// cannot drift upwards.
struct InFlight(metrics::Gauge);

impl InFlight {
    fn start() -> Self {
        let gauge = metrics::gauge!(Metric::HttpInFlight.name());
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Methods as labels: the standard ones by name, anything else as `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The process's own figures, read from `/proc` on Linux (elsewhere only
/// the start time is known), written straight into the exposition: CPU
/// seconds are fractional, which the facade's integer counters are not.
mod process {
    use std::fmt::Write;
    use std::sync::OnceLock;

    use super::Metric;

    /// Seconds since the epoch when this process started (when its first
    /// scrape or server asked).
    fn start_time() -> f64 {
        static START: OnceLock<f64> = OnceLock::new();
        *START.get_or_init(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        })
    }

    /// Records the start time now: called when metrics are installed.
    pub(super) fn started() {
        start_time();
    }

    fn write(out: &mut String, metric: Metric, value: f64) {
        let name = metric.name();
        let _ = write!(
            out,
            "# HELP {name} {}\n# TYPE {name} {}\n{name} {value}\n\n",
            metric.help(),
            metric.kind().as_str()
        );
    }

    pub(super) fn render(out: &mut String) {
        write(out, Metric::ProcessStart, start_time());
        #[cfg(target_os = "linux")]
        linux(out);
    }

    #[cfg(target_os = "linux")]
    fn linux(out: &mut String) {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        // SAFETY: as above.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // The fields after the command name, which is in parentheses
            // and may hold spaces: utime and stime are the 12th and 13th
            // of them, vsize the 21st, rss the 22nd.
            if let Some((_, rest)) = stat.rsplit_once(')') {
                let fields: Vec<&str> = rest.split_whitespace().collect();
                let field = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
                if let (Some(user), Some(system)) = (field(11), field(12))
                    && ticks > 0.0
                {
                    write(out, Metric::ProcessCpu, (user + system) / ticks);
                }
                if let Some(vsize) = field(20) {
                    write(out, Metric::ProcessVirtual, vsize);
                }
                if let Some(rss) = field(21) {
                    write(out, Metric::ProcessResident, rss * page);
                }
            }
        }
        if let Ok(open) = std::fs::read_dir("/proc/self/fd") {
            write(out, Metric::ProcessOpenFds, open.count() as f64);
        }
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid rlimit to write into.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            write(out, Metric::ProcessMaxFds, limit.rlim_cur as f64);
        }
    }
}

/// The table of docs/observability.md: every metric, its kind, labels and
/// meaning.
pub fn markdown_table() -> String {
    let mut out = String::from("| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n");
    for metric in Metric::ALL {
        let labels = metric
            .labels()
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            metric.name(),
            metric.kind().as_str(),
            if labels.is_empty() { "—" } else { &labels },
            metric.help()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_the_conventions() {
        let mut names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a name used twice");
        for metric in Metric::ALL {
            let name = metric.name();
            assert!(
                name.starts_with("trawl_") || name.starts_with("process_"),
                "{name}"
            );
            match metric.kind() {
                Kind::Counter => assert!(name.ends_with("_total"), "{name}"),
                Kind::Histogram => assert!(name.ends_with("_seconds"), "{name}"),
                Kind::Gauge => assert!(!name.ends_with("_total"), "{name}"),
            }
        }
    }

    /// A request given up on (its future dropped before it answered)
    /// leaves the in-flight gauge where it was.
    #[tokio::test]
    async fn a_dropped_request_leaves_the_in_flight_gauge() {
        use axum::Router;
        use axum::routing::get;
        use tower::ServiceExt;

        let handle = install().expect("the recorder installs");
        let in_flight = || {
            handle
                .render()
                .lines()
                .find_map(|l| l.strip_prefix("trawl_http_requests_in_flight "))
                .map(|v| v.trim().parse::<f64>().unwrap())
        };
        let app = Router::new()
            .route("/hang", get(std::future::pending::<&'static str>))
            .layer(axum::middleware::from_fn(record));
        let before = in_flight();
        let request = axum::http::Request::get("/hang")
            .body(axum::body::Body::empty())
            .unwrap();
        let mut call = Box::pin(app.clone().oneshot(request));
        let waited = tokio::time::timeout(Duration::from_millis(50), &mut call).await;
        assert!(waited.is_err(), "the handler never answers");
        assert_eq!(
            in_flight(),
            before.map(|v| v + 1.0),
            "counted while in flight"
        );
        drop(call);
        assert_eq!(in_flight(), before, "and uncounted when dropped");
    }

    #[test]
    fn only_allowed_networks_may_read() {
        let allow = default_allow();
        assert!(allowed(&allow, "127.0.0.1".parse().unwrap()));
        assert!(allowed(&allow, "::ffff:10.1.2.3".parse().unwrap()));
        assert!(allowed(&allow, "fd00::1".parse().unwrap()));
        assert!(!allowed(&allow, "8.8.8.8".parse().unwrap()));
        assert!(!allowed(&allow, "2001:db8::1".parse().unwrap()));
        assert!(!allowed(&[], "127.0.0.1".parse().unwrap()));
    }
}
