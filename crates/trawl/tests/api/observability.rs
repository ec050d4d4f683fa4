//! Seeing inside (docs/observability.md): each role's `/metrics` as
//! Prometheus reads it (checked by `promtool`), counters that move when a
//! request meets a hung engine, a full server or an open breaker, and one
//! search through three processes as one OpenTelemetry trace, received by
//! a loopback OTLP receiver that decodes what the exporter sends.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::Value;
use trawl::Role;
use trawl::config::EngineConfig;

use crate::helpers::*;
use crate::processes::Trawl;

/// The value of the sample `series` (name and labels exactly as rendered)
/// in an exposition; `None` when it is not there.
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

async fn scrape(base: &str) -> String {
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200, "{base}/metrics");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// Where promtool is: `TRAWL_PROMTOOL`, else on the PATH (Debian's
/// `prometheus` package, which `scripts/install-test-tools.sh` installs).
fn promtool() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TRAWL_PROMTOOL") {
        return Some(path.into());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("promtool"))
            .find(|path| path.is_file())
    })
}

/// promtool, or a loud skip (a failure under `TRAWL_REQUIRE_SERVICES=1`).
fn promtool_or_skip(what: &str) -> Option<PathBuf> {
    let found = promtool();
    if found.is_none() {
        let message = format!(
            "promtool is not installed: run `bash scripts/install-test-tools.sh` ({what} did NOT run)"
        );
        skip_loudly(&message);
    }
    found
}

/// `promtool check metrics` on an exposition: what it complains of.
fn promtool_check(promtool: &PathBuf, exposition: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// search, results and web as processes of the real binary, each pointed
/// at the one before, with `env`.
fn three_processes(dir: &std::path::Path, env: &[(&str, &str)]) -> (Trawl, Trawl, Trawl) {
    let search = Trawl::start(dir, &["--role", "search"], env);
    let results = Trawl::start(
        dir,
        &["--role", "results", "--search-url", &search.url("/")],
        env,
    );
    let web = Trawl::start(
        dir,
        &["--role", "web", "--results-url", &results.url("/")],
        env,
    );
    (search, results, web)
}

// ---------------------------------------------------------------- metrics

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_serves_metrics_that_promtool_accepts() {
    let Some(promtool) = promtool_or_skip("the /metrics format check") else {
        return;
    };
    let data = fixture_data_dir();
    let dir = data.path();
    let exempt = [("TRAWL_RATE_LIMIT_EXEMPT", "127.0.0.0/8")];
    let (search, results, web) = three_processes(dir, &exempt);
    let scratch = tempfile::tempdir().unwrap();
    let indexer = Trawl::start(scratch.path(), &["--role", "indexer", "--no-demo"], &exempt);
    let all = Trawl::start(dir, &["--no-demo"], &exempt);
    for path in ["/search?q=index", "/api/v2/search?q=index", "/nowhere/x"] {
        reqwest::get(web.url(path)).await.unwrap();
    }
    reqwest::get(all.url("/api/v2/search?q=index"))
        .await
        .unwrap();

    let mut seen = Vec::new();
    for (role, server) in [
        ("search", &search),
        ("results", &results),
        ("web", &web),
        ("indexer", &indexer),
        ("all", &all),
    ] {
        let exposition = scrape(&server.address).await;
        let (ok, complaints) = promtool_check(&promtool, &exposition);
        assert!(
            ok && complaints.trim().is_empty(),
            "{role}: promtool check metrics:\n{complaints}\n{exposition}"
        );
        let build = exposition
            .lines()
            .find(|line| line.starts_with("trawl_build_info{"))
            .unwrap_or_else(|| panic!("{role}: no build info"));
        assert!(
            build.starts_with(&format!(
                "trawl_build_info{{version=\"{}\",commit=\"",
                env!("CARGO_PKG_VERSION")
            )) && build.ends_with("\"} 1")
                && !build.contains("commit=\"unknown\""),
            "{role}: {build}"
        );
        assert!(
            sample(&exposition, "process_resident_memory_bytes").is_some_and(|v| v > 1e6),
            "{role}: process figures"
        );
        seen.push((role, exposition));
    }
    let of = |role: &str| &seen.iter().find(|(r, _)| *r == role).unwrap().1;
    // Route templates, never paths: a made-up path is `unmatched` or the
    // template that caught it.
    let web_metrics = of("web");
    assert_eq!(
        sample(
            web_metrics,
            "trawl_http_requests_total{route=\"/search\",method=\"GET\",status=\"2xx\"}"
        ),
        Some(1.0),
        "{web_metrics}"
    );
    assert!(!web_metrics.contains("/nowhere"), "{web_metrics}");
    assert_eq!(
        sample(
            web_metrics,
            "trawl_outbound_calls_total{destination=\"results\",outcome=\"ok\"}"
        ),
        // The page's and the API's results, and the engines' list the
        // page asked for once.
        Some(3.0),
        "{web_metrics}"
    );
    assert_eq!(
        sample(web_metrics, "trawl_breaker_state{destination=\"results\"}"),
        Some(0.0)
    );
    let results_metrics = of("results");
    assert_eq!(
        sample(
            results_metrics,
            "trawl_outbound_calls_total{destination=\"search\",outcome=\"ok\"}"
        ),
        // Two results, and the engines' list passed on.
        Some(3.0),
        "{results_metrics}"
    );
    let search_metrics = of("search");
    assert_eq!(
        sample(
            search_metrics,
            "trawl_engine_calls_total{engine=\"local\",outcome=\"ok\"}"
        ),
        Some(2.0),
        "{search_metrics}"
    );
    assert!(
        sample(search_metrics, "trawl_index_documents").is_some_and(|n| n > 10.0),
        "{search_metrics}"
    );
    assert_eq!(
        sample(
            search_metrics,
            "trawl_engine_call_duration_seconds_count{engine=\"local\"}"
        ),
        Some(2.0)
    );
    for (role, exposition) in &seen {
        assert_eq!(
            sample(exposition, "trawl_ready"),
            Some(1.0),
            "{role} is ready"
        );
    }
    let indexer_metrics = of("indexer");
    assert_eq!(sample(indexer_metrics, "trawl_queue_depth"), Some(0.0));
    assert_eq!(
        sample(indexer_metrics, "trawl_queue_oldest_job_age_seconds"),
        Some(0.0)
    );
}

/// docs/observability.md's table is the catalogue, and every metric the
/// catalogue names is one a role can render (its `# HELP` is registered).
#[test]
fn the_documented_metrics_are_the_catalogue() {
    let path = workspace_root().join("docs/observability.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let table = trawl_service::metrics::markdown_table();
    if std::env::var("TRAWL_UPDATE_DOCS").is_ok_and(|v| v == "1") {
        let start = doc
            .find("| Metric |")
            .expect("the table is in the document");
        let end = doc[start..]
            .find("\n\n")
            .map_or(doc.len(), |end| start + end + 1);
        let updated = format!("{}{}{}", &doc[..start], table, &doc[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        doc.contains(&table),
        "docs/observability.md's table of metrics is not the catalogue: \
         TRAWL_UPDATE_DOCS=1 cargo nextest run -p trawl the_documented_metrics rewrites it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_engine_counts_a_timeout_and_a_full_server_counts_a_shed_request() {
    let hung = upstream(Router::new().route(
        "/s",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "{}"
        }),
    ))
    .await;
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    let mut engine = json_engine("hung", &hung, "/s");
    engine.timeout_ms = Some(300);
    config.engines = vec![EngineConfig::local(), engine];
    config.server.max_in_flight = 1;
    let app = spawn(&config, Role::All).await;

    let before = scrape(&app.address).await;
    assert_eq!(
        sample(
            &before,
            "trawl_engine_calls_total{engine=\"hung\",outcome=\"timeout\"}"
        ),
        None,
        "nothing counted before the first search"
    );
    assert_eq!(sample(&before, "trawl_http_requests_shed_total"), Some(0.0));

    // One search waits for the hung engine; one more meanwhile finds the
    // server full.
    let first = tokio::spawn(app.client.get(app.url("/v1/search?q=index")).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let shed = app.get("/v1/search?q=index").await;
    assert_eq!(shed.status(), 503);
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), 200);
    let body: Value = first.json().await.unwrap();
    assert_eq!(
        body["engines"][1]["status"], "timeout",
        "the engine was given up on"
    );

    let after = scrape(&app.address).await;
    assert_eq!(
        sample(
            &after,
            "trawl_engine_calls_total{engine=\"hung\",outcome=\"timeout\"}"
        ),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            "trawl_engine_calls_total{engine=\"local\",outcome=\"ok\"}"
        ),
        Some(1.0)
    );
    assert_eq!(sample(&after, "trawl_http_requests_shed_total"), Some(1.0));
    assert_eq!(
        sample(
            &after,
            "trawl_http_requests_total{route=\"/v1/search\",method=\"GET\",status=\"5xx\"}"
        ),
        Some(1.0),
        "the shed request is a 503 of its route"
    );
    // The hung engine's latency is its timeout, at least.
    assert_eq!(
        sample(
            &after,
            "trawl_engine_call_duration_seconds_bucket{engine=\"hung\",le=\"0.25\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &after,
            "trawl_engine_call_duration_seconds_bucket{engine=\"hung\",le=\"0.5\"}"
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_shows_in_its_gauge() {
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    config.services.search_url = url::Url::parse(&format!("http://{}/", closed_address())).unwrap();
    config.services.breaker.fail_max = 2;
    let results = spawn(&config, Role::Results).await;
    let gauge = "trawl_breaker_state{destination=\"search\"}";
    assert_eq!(
        sample(&scrape(&results.address).await, gauge),
        Some(0.0),
        "closed at start"
    );
    for _ in 0..3 {
        let status = results.get("/v1/results?q=index").await.status();
        assert!(status.is_server_error(), "{status}");
    }
    let after = scrape(&results.address).await;
    assert_eq!(sample(&after, gauge), Some(2.0), "{after}");
    assert_eq!(
        sample(
            &after,
            "trawl_breaker_transitions_total{destination=\"search\",to=\"open\"}"
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &after,
            "trawl_outbound_calls_total{destination=\"search\",outcome=\"refused\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_only_to_the_allowed_networks_and_not_at_all_when_off() {
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    config.metrics.allow = vec!["10.0.0.0/8".parse().unwrap()];
    let refused = spawn(&config, Role::Search).await;
    let response = refused.get("/metrics").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    config.metrics.allow = vec!["127.0.0.0/8".parse().unwrap()];
    config.metrics.enabled = false;
    let off = spawn(&config, Role::Search).await;
    assert_eq!(off.get("/metrics").await.status(), 404);
}

// ---------------------------------------------------------------- traces

/// What the loopback OTLP receiver was sent: every span, with its
/// service's name.
#[derive(Default)]
struct Received {
    spans: Vec<Span>,
}

#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    kind: i32,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP trace receiver on a loopback port: decodes each
/// `ExportTraceServiceRequest` as the collector would.
async fn otlp_receiver() -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(received): State<Arc<Mutex<Received>>>, body: Bytes| async move {
                    let request = ExportTraceServiceRequest::decode(body)
                        .expect("the exporter sends OTLP protobuf");
                    let mut received = received.lock().unwrap();
                    for resource in request.resource_spans {
                        let service = resource
                            .resource
                            .iter()
                            .flat_map(|r| r.attributes.iter())
                            .find(|kv| kv.key == "service.name")
                            .and_then(|kv| kv.value.as_ref())
                            .and_then(|v| match &v.value {
                                Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => Some(s.clone()),
                                _ => None,
                            })
                            .unwrap_or_default();
                        for scope in resource.scope_spans {
                            for span in scope.spans {
                                received.spans.push(Span {
                                    service: service.clone(),
                                    name: span.name,
                                    trace_id: hex(&span.trace_id),
                                    span_id: hex(&span.span_id),
                                    parent: hex(&span.parent_span_id),
                                    kind: span.kind,
                                });
                            }
                        }
                    }
                    ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
                },
            ),
        )
        .with_state(received.clone());
    (upstream(app).await, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_search_is_one_trace_across_web_results_and_search() {
    let (receiver, received) = otlp_receiver().await;
    let data = fixture_data_dir();
    let dir = data.path();
    let env = [
        ("TRAWL_RATE_LIMIT_EXEMPT", "127.0.0.0/8"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.as_str()),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        // Exported within 100 ms rather than 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let (_search, _results, web) = three_processes(dir, &env);

    // The caller's own trace: trawl's spans join it.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let client = reqwest::Client::new();
    let response = client
        .get(web.url("/api/v2/search?q=index"))
        .header("traceparent", &traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Wait for the three services' spans (bounded).
    let deadline = Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans: Vec<Span> = received
            .lock()
            .unwrap()
            .spans
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect();
        let services: HashSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
        let engine_seen = spans.iter().any(|s| s.name == "engine local");
        if services.len() == 3 && engine_seen {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "spans of the trace did not all arrive: {spans:#?}\nweb:\n{}",
            web.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let services: HashSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(
        services,
        HashSet::from(["trawl-web", "trawl-results", "trawl-search"])
    );
    let server_span = |service: &str| -> &Span {
        spans
            .iter()
            .find(|s| s.service == service && s.kind == 2)
            .unwrap_or_else(|| panic!("a server span of {service}: {spans:#?}"))
    };
    let call_span = |service: &str, to: &str| -> &Span {
        spans
            .iter()
            .find(|s| s.service == service && s.name == format!("call {to}") && s.kind == 3)
            .unwrap_or_else(|| panic!("{service}'s call to {to}: {spans:#?}"))
    };
    let (web_request, results_request, search_request) = (
        server_span("trawl-web"),
        server_span("trawl-results"),
        server_span("trawl-search"),
    );
    assert_eq!(web_request.name, "GET /api/v2/search");
    assert_eq!(
        web_request.parent, caller_span,
        "web's request continues the caller's trace"
    );
    let to_results = call_span("trawl-web", "results");
    assert_eq!(to_results.parent, web_request.span_id);
    assert_eq!(results_request.parent, to_results.span_id);
    let to_search = call_span("trawl-results", "search");
    assert_eq!(to_search.parent, results_request.span_id);
    assert_eq!(search_request.parent, to_search.span_id);
    // Within search, the engine and the index; within results, the
    // pipeline: each a descendant of its service's request span.
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let descends = |span: &Span, ancestor: &Span| {
        let mut at = span;
        for _ in 0..16 {
            if at.parent == ancestor.span_id {
                return true;
            }
            match by_id.get(at.parent.as_str()) {
                Some(parent) => at = parent,
                None => return false,
            }
        }
        false
    };
    let named = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("a `{name}` span: {spans:#?}"))
    };
    assert!(descends(named("engine local"), search_request));
    assert!(descends(named("index.search"), search_request));
    assert!(descends(named("pipeline"), results_request));
    // Every span of the trace hangs from the caller's.
    for span in &spans {
        assert!(
            span.parent == caller_span || by_id.contains_key(span.parent.as_str()),
            "{span:?} has a parent outside the trace"
        );
    }

    // A refused request's problem document names the trace, and so do
    // the request's log lines.
    let refused = client
        .get(web.url("/api/v2/search?q="))
        .header("traceparent", &traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["trace_id"], trace_id, "{problem}");
    // A page says it too, for the user to quote.
    let page = client
        .get(web.url("/search?q=index&page=0"))
        .header("traceparent", &traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("Reference: <code>{trace_id}</code>")),
        "{html}"
    );
    let logged = web
        .logged(|event| event["span"]["trace_id"] == trace_id && event["message"] == "served")
        .await;
    assert!(
        logged,
        "web's log lines carry the trace id:\n{}",
        web.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_exporter_requests_still_have_trace_ids_and_pass_them_on() {
    let data = fixture_data_dir();
    let dir = data.path();
    let exempt = [("TRAWL_RATE_LIMIT_EXEMPT", "127.0.0.0/8")];
    let search = Trawl::start(dir, &["--role", "search"], &exempt);
    let results = Trawl::start(
        dir,
        &["--role", "results", "--search-url", &search.url("/")],
        &exempt,
    );
    // A problem made in search reaches the client through results with
    // the client's trace id: an unknown engine is refused by search.
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let response = reqwest::Client::new()
        .get(results.url("/v1/results?q=index&engines=nope"))
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["trace_id"], trace_id, "{problem}");
    let in_search = search
        .logged(|event| event["span"]["trace_id"] == trace_id)
        .await;
    assert!(
        in_search,
        "search's log lines carry the caller's trace id:\n{}",
        search.logs()
    );
    // No traceparent, or one that is not W3C trace context (garbage, an
    // all-zero trace id, an unknown version's malformed fields): a fresh
    // id, never the header's text.
    for header in [
        None,
        Some("00-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-b7ad6b7169203331-01"),
        Some("00-00000000000000000000000000000000-b7ad6b7169203331-01"),
        Some("<script>alert(1)</script>"),
    ] {
        let mut request = reqwest::Client::new().get(results.url("/v1/results?q="));
        if let Some(header) = header {
            request = request.header("traceparent", header);
        }
        let fresh: Value = request.send().await.unwrap().json().await.unwrap();
        let id = fresh["trace_id"].as_str().expect("a trace id");
        assert_eq!(id.len(), 32, "{header:?}: {id}");
        assert!(
            id.chars().all(|c| c.is_ascii_hexdigit()) && id != "0".repeat(32),
            "{header:?}: {id}"
        );
    }
}

// ---------------------------------------------------------------- deploy/observability

/// The metric names an expression refers to (histogram series by their
/// metric's name).
fn metrics_named(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts = expr[i..].starts_with("trawl_") || expr[i..].starts_with("process_");
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts && boundary {
            let end = expr[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(expr.len(), |n| i + n);
            let name = &expr[i..end];
            let name = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| base.ends_with("_seconds"))
                .unwrap_or(name);
            names.push(name.to_owned());
            i = end;
        } else {
            i += 1;
        }
    }
    names
}

fn run_promtool(promtool: &PathBuf, args: &[&str]) {
    let out = std::process::Command::new(promtool)
        .args(args)
        .current_dir(workspace_root().join("deploy/observability"))
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The scrape configurations and alert rules are valid, two alerts fire
/// (and stay quiet) as their unit tests say, and the dashboard's every
/// query parses as PromQL and uses only metrics trawl has — all of them.
#[test]
fn the_scrape_configs_alerts_and_dashboard_hold_together() {
    let Some(promtool) = promtool_or_skip("the alert rules and dashboard checks") else {
        return;
    };
    run_promtool(&promtool, &["check", "config", "prometheus.yml"]);
    run_promtool(&promtool, &["check", "config", "prometheus-one-binary.yml"]);
    run_promtool(&promtool, &["check", "rules", "alerts.yml"]);
    run_promtool(&promtool, &["test", "rules", "alerts.test.yml"]);

    let catalogue: HashSet<&str> = trawl_service::metrics::Metric::ALL
        .iter()
        .map(|m| m.name())
        .collect();
    let dir = workspace_root().join("deploy/observability");
    let alerts = std::fs::read_to_string(dir.join("alerts.yml")).unwrap();
    for name in metrics_named(&alerts) {
        assert!(
            catalogue.contains(name.as_str()),
            "alerts.yml names `{name}`, which trawl does not have"
        );
    }
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("grafana-dashboard.json")).unwrap())
            .expect("the dashboard is JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().cloned().unwrap_or_default())
        .map(|target| target["expr"].as_str().unwrap().to_owned())
        .collect();
    assert!(exprs.len() > 20, "{} queries", exprs.len());
    let mut used = HashSet::new();
    for expr in &exprs {
        for name in metrics_named(expr) {
            assert!(
                catalogue.contains(name.as_str()),
                "the dashboard names `{name}`, which trawl does not have"
            );
            used.insert(name);
        }
    }
    let unused: Vec<&&str> = catalogue.iter().filter(|m| !used.contains(**m)).collect();
    assert!(
        unused.is_empty(),
        "metrics the dashboard does not show: {unused:?}"
    );

    // Each query as a recording rule, Grafana's variables given values:
    // promtool parses them all.
    let rules = serde_json::json!({
        "groups": [{
            "name": "dashboard",
            "rules": exprs.iter().enumerate().map(|(i, expr)| serde_json::json!({
                "record": format!("dashboard:query_{i}"),
                "expr": expr.replace("$__rate_interval", "5m").replace("$job", ".*"),
            })).collect::<Vec<_>>(),
        }]
    });
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("dashboard-queries.yml");
    std::fs::write(&file, rules.to_string()).unwrap();
    run_promtool(&promtool, &["check", "rules", file.to_str().unwrap()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_joins_the_trace_of_the_request_that_made_it_and_is_counted() {
    use crate::processes::{Writer, create_key, documents};
    let (receiver, received) = otlp_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let key = create_key(dir.path(), &[]);
    let indexer = Trawl::start(dir.path(), &["--role", "indexer", "--no-demo"], &env);
    let writer = Writer::new(&indexer.address, &key);

    let trace_id = "5b8efff798038103d269b633813fc60c";
    let response = writer
        .post("/v1/documents")
        .header("content-type", "application/x-ndjson")
        .header("traceparent", format!("00-{trace_id}-eee19b7ec3c1b174-01"))
        .body(documents("traced", 3, "observability"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let id = accepted["id"].as_i64().unwrap();
    writer.succeeded(id).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    let (request, job) = loop {
        let spans: Vec<Span> = received.lock().unwrap().spans.clone();
        let request = spans
            .iter()
            .find(|s| s.trace_id == trace_id && s.name == "POST /v1/documents")
            .cloned();
        let job = spans
            .iter()
            .find(|s| s.trace_id == trace_id && s.name == "job documents")
            .cloned();
        if let (Some(request), Some(job)) = (request, job) {
            break (request, job);
        }
        assert!(
            Instant::now() < deadline,
            "the job's span did not arrive in the request's trace: {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(job.service, "trawl-indexer");
    assert_eq!(job.kind, 5, "a consumer span");
    assert!(
        job.parent == request.span_id
            || received
                .lock()
                .unwrap()
                .spans
                .iter()
                .any(|s| s.span_id == job.parent && s.trace_id == trace_id),
        "the job hangs from the request's trace: {job:?} {request:?}"
    );

    let exposition = scrape(&indexer.address).await;
    assert_eq!(
        sample(&exposition, "trawl_jobs_total{outcome=\"succeeded\"}"),
        Some(1.0),
        "{exposition}"
    );
    assert_eq!(
        sample(
            &exposition,
            "trawl_job_duration_seconds_count{outcome=\"succeeded\"}"
        ),
        Some(1.0)
    );
    assert_eq!(sample(&exposition, "trawl_queue_depth"), Some(0.0));
}
