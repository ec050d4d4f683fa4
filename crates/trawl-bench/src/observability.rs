//! What seeing inside costs: the three-process search path (web → results
//! → search over the local index) at saturation with metrics on (the
//! default), with metrics off, and with every trace sampled and exported
//! to an OTLP receiver on loopback — three sets of processes started
//! together and loaded in turn, round after round, so that the machine's
//! drift falls on all three alike.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::load::{self, Run};
use crate::process::Server;

/// One way of running trawl, measured.
pub(crate) struct Variant {
    pub name: &'static str,
    /// Each round's run.
    pub rounds: Vec<Run>,
    /// CPU time its three processes used during the rounds, in seconds.
    pub cpu_seconds: f64,
}

impl Variant {
    /// CPU time the three processes spent per answered request, in µs:
    /// steadier than throughput on a shared machine, and what throughput
    /// on a busy machine follows.
    pub(crate) fn cpu_us_per_request(&self) -> f64 {
        let answered: u64 = self.rounds.iter().map(Run::ok).sum();
        self.cpu_seconds * 1e6 / answered.max(1) as f64
    }

    /// The median round's throughput.
    pub(crate) fn throughput(&self) -> f64 {
        let mut all: Vec<f64> = self.rounds.iter().map(Run::throughput).collect();
        all.sort_by(f64::total_cmp);
        all.get(all.len() / 2).copied().unwrap_or(f64::NAN)
    }

    /// Every round's latencies together.
    pub(crate) fn merged(&self) -> Run {
        let seconds = self.rounds.iter().map(|r| r.seconds).sum();
        Run::merge(self.rounds.clone(), seconds)
    }
}

/// The run's figures.
pub(crate) struct Overhead {
    pub connections: usize,
    pub seconds_per_round: u64,
    pub variants: Vec<Variant>,
    /// Spans the loopback receiver decoded, and the requests they came in.
    pub spans: u64,
    pub exports: u64,
}

impl Overhead {
    fn variant(&self, name: &str) -> &Variant {
        self.variants
            .iter()
            .find(|v| v.name == name)
            .expect("measured")
    }

    /// What `name` costs over `against`, as a fraction of `against`'s CPU
    /// time per request.
    pub(crate) fn cost(&self, name: &str, against: &str) -> f64 {
        self.variant(name).cpu_us_per_request() / self.variant(against).cpu_us_per_request() - 1.0
    }
}

#[derive(Default)]
struct Received {
    spans: AtomicU64,
    exports: AtomicU64,
}

/// An OTLP/HTTP receiver that decodes each export and counts its spans.
async fn receiver() -> anyhow::Result<(String, Arc<Received>)> {
    let received = Arc::new(Received::default());
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(received): State<Arc<Received>>, body: Bytes| async move {
                    if let Ok(request) = ExportTraceServiceRequest::decode(body) {
                        let spans: usize = request
                            .resource_spans
                            .iter()
                            .flat_map(|r| r.scope_spans.iter())
                            .map(|s| s.spans.len())
                            .sum();
                        received.spans.fetch_add(spans as u64, Ordering::Relaxed);
                        received.exports.fetch_add(1, Ordering::Relaxed);
                    }
                    (
                        [("content-type", "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((base, received))
}

/// CPU seconds (user and system) a process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / per_second.max(1.0)
}

pub(crate) async fn run(
    trawl: &Path,
    data_dir: &Path,
    queries: &[String],
    connections: usize,
    rounds: usize,
    seconds_per_round: u64,
) -> anyhow::Result<Overhead> {
    let (otlp, received) = receiver().await?;
    let traced_env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()),
        ("OTEL_TRACES_SAMPLER", "always_on"),
    ];
    let setups: [(&'static str, Vec<(&str, &str)>); 4] = [
        ("metrics on (default)", vec![]),
        ("metrics off", vec![("TRAWL_METRICS", "false")]),
        (
            "metrics on, no trace ids (OTEL_SDK_DISABLED)",
            vec![("OTEL_SDK_DISABLED", "true")],
        ),
        ("metrics on, every trace exported", traced_env.to_vec()),
    ];
    let mut servers = Vec::new();
    for (_, env) in &setups {
        servers.push(Server::three(trawl, data_dir, env)?);
    }
    let webs: Vec<String> = servers.iter().map(|s| s[2].url()).collect();
    // Warm every set up: caches, connections, the index's pages.
    for web in &webs {
        load::saturate(web, queries, connections, Duration::from_secs(1)).await;
    }
    let mut variants: Vec<Variant> = setups
        .iter()
        .map(|(name, _)| Variant {
            name,
            rounds: Vec::new(),
            cpu_seconds: 0.0,
        })
        .collect();
    let duration = Duration::from_secs(seconds_per_round);
    for _ in 0..rounds {
        for ((variant, web), set) in variants.iter_mut().zip(&webs).zip(&servers) {
            let used = || set.iter().map(|s| cpu_seconds(s.pid())).sum::<f64>();
            let before = used();
            variant
                .rounds
                .push(load::saturate(web, queries, connections, duration).await);
            variant.cpu_seconds += used() - before;
        }
    }
    for set in servers {
        for server in set.into_iter().rev() {
            server.stop()?;
        }
    }
    Ok(Overhead {
        connections,
        seconds_per_round,
        variants,
        spans: received.spans.load(Ordering::Relaxed),
        exports: received.exports.load(Ordering::Relaxed),
    })
}

pub(crate) fn print(figures: &Overhead) {
    println!("\n### Observability overhead (three processes, web → results → search)\n");
    println!(
        "{} connections at saturation, {} rounds of {} s per variant, interleaved; throughput is \
         the median round's, p50/p99 over all rounds.\n",
        figures.connections,
        figures.variants.first().map_or(0, |v| v.rounds.len()),
        figures.seconds_per_round
    );
    println!(
        "| variant | req/s | vs metrics on | p50 ms | p99 ms | CPU µs per request (3 processes) | vs metrics on | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let baseline = &figures.variants[0];
    for variant in &figures.variants {
        let merged = variant.merged();
        println!(
            "| {} | {:.0} | {:+.1}% | {:.2} | {:.2} | {:.0} | {:+.1}% | {} |",
            variant.name,
            variant.throughput(),
            (variant.throughput() / baseline.throughput() - 1.0) * 100.0,
            merged.quantile_ms(0.5),
            merged.quantile_ms(0.99),
            variant.cpu_us_per_request(),
            (variant.cpu_us_per_request() / baseline.cpu_us_per_request() - 1.0) * 100.0,
            merged.errors + merged.shed,
        );
    }
    println!(
        "\nBy CPU time per request: metrics cost {:.1}% (goal ≤ 3%); trace ids without an exporter \
         {:.1}%; exporting every trace {:.1}% more than the default (goal ≤ 10%). The receiver \
         decoded {} spans in {} exports.",
        figures.cost("metrics on (default)", "metrics off") * 100.0,
        figures.cost(
            "metrics on (default)",
            "metrics on, no trace ids (OTEL_SDK_DISABLED)"
        ) * 100.0,
        figures.cost("metrics on, every trace exported", "metrics on (default)") * 100.0,
        figures.spans,
        figures.exports
    );
}
