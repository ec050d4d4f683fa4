//! trawl against a hostile network (docs/security.md): slow and idle
//! connections, oversized heads, decompression bombs and huge bodies from
//! engines, amplification through long URLs, overflowing totals, redirects
//! into the private network, spoofed hosts, rate-limit exhaustion, scanner
//! probes and invisible formatting. Through real sockets; the tests that
//! measure the process (descriptors, peak memory) run the real binary.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use trawl::Config;
use trawl::config::EngineConfig;

use crate::helpers::*;
use crate::processes::Trawl;

/// An answer of the json engines' API.
fn answer(total: u64, hits: &[(&str, &str, &str)]) -> Response {
    let hits: Vec<Value> = hits
        .iter()
        .map(|(t, u, s)| json!({"t": t, "u": u, "s": s}))
        .collect();
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({"total": total, "hits": hits}).to_string(),
    )
        .into_response()
}

/// A handler that counts its calls and answers `body`.
fn counted(
    calls: &Arc<AtomicUsize>,
    body: impl Fn() -> Response + Clone + Send + Sync + 'static,
) -> axum::routing::MethodRouter {
    let calls = calls.clone();
    get(move || {
        calls.fetch_add(1, Ordering::SeqCst);
        let body = body.clone();
        async move { body() }
    })
}

fn config_with(data: &std::path::Path, engines: Vec<EngineConfig>) -> Config {
    let mut config = test_config(data);
    config.engines = std::iter::once(EngineConfig::local())
        .chain(engines)
        .collect();
    config
}

fn engine<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["engines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("engine {name} in {body}"))
}

// ---------------------------------------------------------------- amplification

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_with_huge_urls_are_dropped_and_counted_so_no_answer_balloons() {
    // The issue's case: a page of 50 results, 49 with 1 MB URLs (the
    // engine's answer limit raised so that they reach the pipeline at all).
    let huge: Arc<Vec<String>> = Arc::new(
        (0..49)
            .map(|i| format!("https://example.org/{i}/{}", "a".repeat(1 << 20)))
            .collect(),
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let base = upstream(Router::new().route(
        "/s",
        counted(&calls, move || {
            let mut hits = vec![("index fine", "https://example.org/fine", "index")];
            hits.extend(huge.iter().map(|u| ("index huge", u.as_str(), "index")));
            answer(50, &hits)
        }),
    ))
    .await;
    let data = fixture_data_dir();
    let mut big = json_engine("big", &base, "/s");
    big.max_answer_bytes = Some(64 << 20);
    let config = config_with(data.path(), vec![big]);
    let one = spawn(&config, trawl::Role::All).await;
    let three = spawn_three_with(&config).await;
    for app in [&one, &three.web] {
        let body = app
            .get_json("/api/v2/search?q=index&per_page=50&engines=big", 200)
            .await;
        let urls = result_urls(&body);
        assert_eq!(urls, ["https://example.org/fine"]);
        assert_eq!(engine(&body, "big")["results"], 50);
        assert_eq!(engine(&body, "big")["dropped"], 49);
        for path in [
            "/api/v2/search?q=index&per_page=50&engines=big",
            "/api/v2/search?q=index&per_page=50&engines=big&format=rss",
            "/api/v2/search?q=index&per_page=50&engines=big&format=csv",
            "/search?q=index&per_page=50&engines=big",
        ] {
            let response = app.get(path).await;
            assert_eq!(response.status(), 200, "{path}");
            let bytes = response.bytes().await.unwrap();
            assert!(bytes.len() < 64 * 1024, "{path}: {} bytes", bytes.len());
        }
    }
    // The search service's own answer is bounded too.
    let raw = three
        .search
        .get("/v1/search?q=index&per_page=50&engines=big")
        .await
        .bytes()
        .await
        .unwrap();
    assert!(raw.len() < 64 * 1024, "{} bytes", raw.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_that_would_overflow_saturate_and_are_called_approximate() {
    // Debug builds check overflow: a plain sum panics here.
    let base = upstream(Router::new().route(
        "/s",
        get(|| async {
            answer(
                1 << 63,
                &[("Index one", "https://example.org/1", "an index")],
            )
        }),
    ))
    .await;
    let data = fixture_data_dir();
    let config = config_with(
        data.path(),
        vec![json_engine("a", &base, "/s"), json_engine("b", &base, "/s")],
    );
    let app = spawn(&config, trawl::Role::All).await;
    let (status, html) = app.get_html("/search?q=index&engines=a,b").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("the engines estimate about 18,446,744,073,709,551,615 matches"),
        "{html}"
    );
    let body = app
        .get_json("/api/v2/search?q=index&engines=a,b", 200)
        .await;
    assert_eq!(engine(&body, "a")["total"], 1u64 << 63);
}

// ---------------------------------------------------------------- redirects

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_is_not_redirected_into_the_private_network() {
    let internal_calls = Arc::new(AtomicUsize::new(0));
    let internal = upstream(Router::new().route(
        "/secret",
        counted(&internal_calls, || {
            answer(1, &[("Internal", "https://internal.example/", "secret")])
        }),
    ))
    .await;
    let target = format!("{internal}/secret");
    let base = upstream(
        Router::new()
            .route(
                "/away",
                get(move || {
                    let target = target.clone();
                    async move { (axum::http::StatusCode::FOUND, [(header::LOCATION, target)]) }
                }),
            )
            .route(
                "/moved",
                get(|| async {
                    (
                        axum::http::StatusCode::MOVED_PERMANENTLY,
                        [(header::LOCATION, "/here?q=index")],
                    )
                }),
            )
            .route(
                "/here",
                get(|| async { answer(1, &[("Here", "https://example.org/here", "index")]) }),
            ),
    )
    .await;
    let data = fixture_data_dir();
    let config = config_with(
        data.path(),
        vec![
            json_engine("away", &base, "/away"),
            json_engine("moved", &base, "/moved"),
        ],
    );
    let app = spawn(&config, trawl::Role::All).await;
    let body = app
        .get_json("/v1/search?q=index&engines=away,moved", 200)
        .await;
    let away = engine(&body, "away");
    assert_eq!(away["status"], "error", "{away}");
    let error = away["error"].as_str().unwrap();
    assert!(
        error.contains("redirect to") && error.contains("127.0.0.1") && error.contains("refused"),
        "{error}"
    );
    assert_eq!(internal_calls.load(Ordering::SeqCst), 0, "never reached");
    // A redirect within the engine's own origin is followed.
    assert_eq!(engine(&body, "moved")["status"], "ok");
    assert_eq!(engine(&body, "moved")["results"], 1);
}

// ---------------------------------------------------------------- spoofed hosts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_links_never_come_from_an_unchecked_host() {
    let data = fixture_data_dir();
    let rss = |app: &TestApp| {
        let request = app
            .client
            .get(app.url("/api/v2/search?q=index&format=rss"))
            .header("host", "evil.example")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .header("forwarded", "host=evil.example;proto=https");
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            let feed = feed_rs::parser::parse(&response.bytes().await.unwrap()[..]).unwrap();
            feed.links
                .iter()
                .map(|l| l.href.clone())
                .collect::<Vec<_>>()
        }
    };

    // No proxy trusted: the address the client connected to.
    let app = spawn(&test_config(data.path()), trawl::Role::All).await;
    let links = rss(&app).await;
    assert!(!links.is_empty());
    for link in &links {
        assert!(link.starts_with(&app.address), "{link}");
        assert!(!link.contains("evil"), "{link}");
    }

    // Loopback is a trusted proxy: what it forwards is believed.
    let mut config = test_config(data.path());
    config.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let app = spawn(&config, trawl::Role::All).await;
    for link in rss(&app).await {
        assert!(link.starts_with("https://evil.example/"), "{link}");
    }

    // A public URL is used whatever anyone says.
    let mut config = test_config(data.path());
    config.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    config.server.public_url = Some("https://search.example.org/".parse().unwrap());
    let app = spawn(&config, trawl::Role::All).await;
    for link in rss(&app).await {
        assert!(link.starts_with("https://search.example.org/"), "{link}");
    }
}

// ---------------------------------------------------------------- rate limits

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_spends_its_budget_gets_429_and_recovers() {
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    config.rate_limits.exempt = Vec::new();
    config.rate_limits.pages_per_minute = 120; // one every 0.5 s
    config.rate_limits.pages_burst = 3;
    config.rate_limits.api_per_minute = 60;
    config.rate_limits.api_burst = 2;
    let app = spawn(&config, trawl::Role::All).await;

    for _ in 0..3 {
        assert_eq!(app.get("/search?q=index").await.status(), 200);
    }
    let refused = app.get("/search?q=index").await;
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "Retry-After: {wait}");
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("<form") && page.contains("too many pages requests"),
        "a page for a page request: {page}"
    );
    // Health and assets cost nothing; the API is a budget of its own.
    assert_eq!(app.get("/livez").await.status(), 200);
    assert_eq!(app.get("/static/trawl.css").await.status(), 200);
    for _ in 0..2 {
        assert_eq!(app.get("/api/v2/search?q=index").await.status(), 200);
    }
    let problem = app.get_json("/api/v2/search?q=index", 429).await;
    assert_eq!(problem["code"], "rate_limited");

    // The bucket refills: half a second a page.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(app.get("/search?q=index").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engines_call_cap_protects_its_quota_whoever_asks() {
    let calls = Arc::new(AtomicUsize::new(0));
    let base = upstream(Router::new().route(
        "/s",
        counted(&calls, || {
            answer(1, &[("Paid", "https://example.org/paid", "index")])
        }),
    ))
    .await;
    let data = fixture_data_dir();
    let mut paid = json_engine("paid", &base, "/s");
    paid.calls_per_minute = Some(2);
    let app = spawn(&config_with(data.path(), vec![paid]), trawl::Role::All).await;
    for _ in 0..2 {
        let body = app.get_json("/v1/search?q=index", 200).await;
        assert_eq!(engine(&body, "paid")["status"], "ok");
    }
    let body = app.get_json("/v1/search?q=index", 200).await;
    let paid = engine(&body, "paid");
    assert_eq!(paid["error_kind"], "rate_limited", "{paid}");
    assert!(paid["error"].as_str().unwrap().contains("2 calls a minute"));
    assert_eq!(engine(&body, "local")["status"], "ok", "the others serve");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the third was not sent");
}

// ---------------------------------------------------------------- scanners

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanner_probes_are_404_and_ask_no_engine() {
    let calls = Arc::new(AtomicUsize::new(0));
    let base = upstream(Router::new().route("/s", counted(&calls, || answer(0, &[])))).await;
    let data = fixture_data_dir();
    let mut config = config_with(data.path(), vec![json_engine("paid", &base, "/s")]);
    // `/metrics` is for the networks allowed to read it: to anyone else it
    // is one more probe.
    config.metrics.allow = Vec::new();
    let app = spawn(&config, trawl::Role::All).await;
    for probe in [
        "/.env",
        "/.git",
        "/wp-login.php",
        "/wp-admin",
        "/metrics",
        "/sitemap.xml",
        "/xmlrpc.php",
        "/admin",
        "/.well-known",
    ] {
        let response = app.get(probe).await;
        assert_eq!(response.status(), 404, "{probe}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{probe}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no engine was asked");
    // A search by path still is one.
    assert_eq!(app.get("/node.js").await.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------- display

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_formatting_and_user_info_do_not_reach_the_page() {
    let base = upstream(Router::new().route(
        "/s",
        get(|| async {
            answer(
                2,
                &[
                    (
                        "RTL \u{202e}gnp.exe",
                        "https://trusted.example@evil.example/x",
                        "isolate \u{2066}index\u{2069} and \u{200b}zero width",
                    ),
                    ("No link", "javascript:alert(1)", "index"),
                ],
            )
        }),
    ))
    .await;
    let data = fixture_data_dir();
    let app = spawn(
        &config_with(data.path(), vec![json_engine("odd", &base, "/s")]),
        trawl::Role::All,
    )
    .await;
    let (status, html) = app
        .get_html("/search?q=index%E2%80%AE%E2%81%A6&engines=odd")
        .await;
    assert_eq!(status, 200);
    for hidden in ['\u{202e}', '\u{2066}', '\u{2069}', '\u{200b}'] {
        assert!(!html.contains(hidden), "{hidden:?} in the page");
    }
    assert!(html.contains("<title>index – trawl</title>"), "{html}");
    assert!(html.contains("RTL gnp.exe"));
    assert!(html.contains(r#"href="https://evil.example/x""#), "{html}");
    assert!(!html.contains("trusted.example"));
    assert!(!html.contains(r#"href="javascript"#));

    let body = app
        .get_json("/api/v2/search?q=index&engines=odd", 200)
        .await;
    let titles: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"RTL gnp.exe"), "{titles:?}");
}

// ---------------------------------------------------------------- headers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_of_every_role_carries_the_security_headers_and_readyz_no_paths() {
    let data = fixture_data_dir();
    let three = spawn_three(data.path()).await;
    let one = spawn_one_process(data.path()).await;
    let checks = [
        (&three.search, "/v1/search?q=index"),
        (&three.search, "/readyz"),
        (&three.search, "/nope"),
        (&three.results, "/v1/results?q=index"),
        (&three.results, "/openapi.json"),
        (&three.web, "/api/v2/search?q=index"),
        (&three.web, "/search?q=index"),
        (&three.web, "/readyz"),
        (&one, "/v1/engines"),
        (&one, "/v1/search?page=0"),
        (&one, "/nope/nope"),
    ];
    for (app, path) in checks {
        let response = app.get(path).await;
        let headers = response.headers();
        for name in [
            "x-content-type-options",
            "content-security-policy",
            "referrer-policy",
            "x-frame-options",
        ] {
            assert!(headers.contains_key(name), "{name} missing on {path}");
        }
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    let data_dir = data.path().to_str().unwrap();
    for app in [&three.search, &one] {
        let readiness = app.get("/readyz").await.text().await.unwrap();
        assert!(readiness.contains("documents"), "{readiness}");
        assert!(!readiness.contains(data_dir), "{readiness}");
        assert!(!readiness.contains("/index"), "{readiness}");
    }
}

// ---------------------------------------------------------------- connections

/// Open file descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, std::iter::Iterator::count)
}

/// A connection that sends half a request head and then nothing.
fn half_open(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(b"GET /search?q=slow HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    stream
}

/// Whether the server closed `stream` within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            // A 408 or the like before the close.
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
        if started.elapsed() > within {
            return false;
        }
    }
}

#[test]
fn slow_and_idle_connections_are_cut_and_their_number_is_capped() {
    let data = fixture_data_dir();
    let config_file = data.path().join("trawl.toml");
    std::fs::write(
        &config_file,
        "[server]\nmax_connections = 100\nheader_read_timeout_ms = 1500\nidle_timeout_ms = 1000\n",
    )
    .unwrap();
    let trawl = Trawl::start(
        data.path(),
        &["--no-demo"],
        &[("TRAWL_CONFIG", config_file.to_str().unwrap())],
    );
    let address = trawl.address.trim_start_matches("http://").to_owned();
    let pid = trawl.pid();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let timed = |path: &str| {
        let started = Instant::now();
        let status = client.get(trawl.url(path)).send().unwrap().status();
        (status.as_u16(), started.elapsed())
    };
    assert_eq!(timed("/livez").0, 200);
    let baseline = open_fds(pid);

    // A flood below the cap: the service answers as if it were not there.
    let mut slow: Vec<TcpStream> = (0..60).map(|_| half_open(&address)).collect();
    std::thread::sleep(Duration::from_millis(200));
    for path in ["/livez", "/search?q=index", "/api/v2/search?q=index"] {
        let (status, took) = timed(path);
        assert_eq!(status, 200, "{path}");
        assert!(took < Duration::from_secs(1), "{path} took {took:?}");
    }

    // Beyond the cap: accepting pauses, so the process holds no more than
    // its cap whatever arrives.
    slow.extend((0..150).map(|_| half_open(&address)));
    std::thread::sleep(Duration::from_millis(300));
    let held = open_fds(pid);
    assert!(
        held <= baseline + 100 + 4,
        "{held} descriptors open (baseline {baseline}, cap 100)"
    );

    // The slow ones are cut at the header-read timeout, and the rest get
    // their turn; the service answers again.
    let started = Instant::now();
    let (status, _) = timed("/livez");
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "answered after {:?}",
        started.elapsed()
    );
    assert!(
        closed_within(&mut slow[0], Duration::from_secs(5)),
        "a connection that never finished its head was closed"
    );
    drop(slow);

    // An idle keep-alive connection is closed after the idle timeout.
    let mut idle = TcpStream::connect(&address).unwrap();
    idle.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let waited = Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(5)));
    assert!(
        waited.elapsed() >= Duration::from_millis(800),
        "not before the idle timeout: {:?}",
        waited.elapsed()
    );

    // Heads over the limits: 431.
    let big_header = "x".repeat(40 * 1024);
    let response = client
        .get(trawl.url("/livez"))
        .header("x-big", &big_header)
        .send()
        .unwrap();
    assert_eq!(response.status(), 431);
    let mut many = reqwest::header::HeaderMap::new();
    for i in 0..100 {
        many.insert(
            reqwest::header::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
            "1".parse().unwrap(),
        );
    }
    let response = client
        .get(trawl.url("/livez"))
        .headers(many)
        .send()
        .unwrap();
    assert_eq!(response.status(), 431);
    let long_uri = format!("/search?q={}", "a".repeat(40 * 1024));
    let status = client.get(trawl.url(&long_uri)).send().unwrap().status();
    assert!(matches!(status.as_u16(), 414 | 431), "{status}");
    assert_eq!(timed("/livez").0, 200, "still serving");
}

// ---------------------------------------------------------------- engine bodies

/// 1 GiB of zeros, gzipped (about a megabyte).
fn gzip_bomb() -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.finish().unwrap()
}

/// Peak resident memory of process `pid`, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn a_decompression_bomb_and_a_300_mb_answer_are_refused_in_time_with_bounded_memory() {
    let bomb = Arc::new(gzip_bomb());
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = runtime.block_on(upstream(
        Router::new()
            .route(
                "/bomb",
                get(move || {
                    let bomb = bomb.clone();
                    async move {
                        (
                            [
                                (header::CONTENT_TYPE, "application/json"),
                                (header::CONTENT_ENCODING, "gzip"),
                            ],
                            Body::from(bomb.to_vec()),
                        )
                    }
                }),
            )
            .route(
                "/huge",
                get(|| async {
                    let chunk = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
                    // 300 MB of JSON whitespace, streamed.
                    let chunks = futures_util::stream::iter(
                        (0..4_800).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
                    );
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        Body::from_stream(chunks),
                    )
                }),
            ),
    ));
    let data = fixture_data_dir();
    let mut config = Config {
        engines: vec![
            EngineConfig::local(),
            json_engine("bomb", &base, "/bomb"),
            json_engine("huge", &base, "/huge"),
        ],
        ..Config::default()
    };
    config.search.engine_timeout_ms = 3_000;
    let config_file = data.path().join("trawl.toml");
    std::fs::write(&config_file, toml::to_string(&config).unwrap()).unwrap();
    let trawl = Trawl::start(
        data.path(),
        &["--no-demo"],
        &[("TRAWL_CONFIG", config_file.to_str().unwrap())],
    );
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    // Three at once, as in the report that took trawl past 3 GB.
    let searches: Vec<_> = (0..3)
        .map(|_| {
            let (client, url) = (client.clone(), trawl.url("/v1/search?q=index"));
            std::thread::spawn(move || {
                let started = Instant::now();
                let body: Value = client.get(url).send().unwrap().json().unwrap();
                (body, started.elapsed())
            })
        })
        .collect();
    for search in searches {
        let (body, took) = search.join().unwrap();
        for name in ["bomb", "huge"] {
            let report = engine(&body, name);
            assert_eq!(report["status"], "error", "{report}");
            assert_eq!(report["error_kind"], "too_large", "{report}");
            assert!(
                report["error"]
                    .as_str()
                    .unwrap()
                    .contains("answer larger than 4194304 bytes"),
                "{report}"
            );
            assert!(report["latency_ms"].as_f64().unwrap() < 3_000.0, "{report}");
        }
        assert_eq!(engine(&body, "local")["status"], "ok");
        assert!(took < Duration::from_secs(4), "answered in {took:?}");
    }
    let peak = peak_rss(trawl.pid());
    assert!(peak < 200 << 20, "peak RSS {} MiB", peak >> 20);
    drop(trawl);
    drop(runtime);
}
