//! Faults between the services, injected by a TCP proxy on loopback: every
//! answer arrives by its deadline, the circuit breaker opens, fails fast and
//! closes after a probe, a killed and restarted search service degrades the
//! pages and then recovers, and nothing leaks. Bounded in requests and time.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::Value;
use url::Url;

use crate::faults::{Fault, FaultProxy, open_fds};
use crate::helpers::*;

/// results → proxy → search, and web → results.
struct Chain {
    proxy: FaultProxy,
    search: Option<TestApp>,
    results: TestApp,
    web: TestApp,
}

/// Search behind the fault proxy, results and web; `configure` sets up
/// each role's configuration.
async fn chain(
    data: &std::path::Path,
    configure: impl Fn(&mut trawl::Config, trawl::Role),
) -> Chain {
    let base = test_config(data);
    let config = |role| {
        let mut config = base.clone();
        configure(&mut config, role);
        config
    };
    let search = spawn(&config(trawl::Role::Search), trawl::Role::Search).await;
    let proxy = FaultProxy::start(address_of(&search)).await;
    let mut results_config = config(trawl::Role::Results);
    results_config.services.search_url = proxy.url();
    let results = spawn(&results_config, trawl::Role::Results).await;
    let mut web_config = config(trawl::Role::Web);
    web_config.services.results_url = Url::parse(&results.address).unwrap();
    let web = spawn(&web_config, trawl::Role::Web).await;
    Chain {
        proxy,
        search: Some(search),
        results,
        web,
    }
}

/// GETs `paths` on `app` all at once: path, status, headers and body of
/// each answer, in the order they came.
async fn burst(
    app: &TestApp,
    paths: &[&'static str],
) -> Vec<(&'static str, u16, HeaderMap, String)> {
    let mut requests = tokio::task::JoinSet::new();
    for &path in paths {
        let (client, url) = (app.client.clone(), app.url(path));
        requests.spawn(async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            (path, status, headers, response.text().await.unwrap())
        });
    }
    requests.join_all().await
}

fn address_of(app: &TestApp) -> std::net::SocketAddr {
    app.address.trim_start_matches("http://").parse().unwrap()
}

/// A check of `/readyz` by name.
async fn check(app: &TestApp, name: &str) -> Value {
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no check {name} in {ready}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_search_slow_or_silent_every_answer_arrives_by_its_deadline() {
    let data = fixture_data_dir();
    // The breaker would turn timeouts into fast refusals: not this test's
    // subject.
    let chain = chain(data.path(), |config, _| {
        config.services.breaker.fail_max = 1_000;
        config.services.breaker.min_calls = 1_000;
    })
    .await;
    let budget = Duration::from_millis(400);
    // How late an answer may be: scheduling on a loaded 2-core machine.
    let slack = Duration::from_millis(350);
    for fault in [Fault::Delay(Duration::from_secs(3)), Fault::Blackhole] {
        chain.proxy.set(fault).await;
        let mut requests = tokio::task::JoinSet::new();
        for i in 0..16 {
            let (client, url) = (
                chain.web.client.clone(),
                chain.web.url(if i % 2 == 0 {
                    "/api/v2/search?q=index"
                } else {
                    "/search?q=index"
                }),
            );
            requests.spawn(async move {
                let started = Instant::now();
                let response = client
                    .get(url)
                    .header("trawl-budget-ms", budget.as_millis().to_string())
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body = response.text().await.unwrap();
                (started.elapsed(), status, body)
            });
        }
        while let Some(joined) = requests.join_next().await {
            let (elapsed, status, body) = joined.unwrap();
            assert!(
                elapsed <= budget + slack,
                "{fault:?}: answered after {elapsed:?}, budget {budget:?}"
            );
            assert_eq!(status, 504, "{fault:?}: {body}");
            assert!(
                body.contains("the search service did not answer within"),
                "{fault:?}: the answer names the slow service: {body}"
            );
        }
    }

    // Without a budget from the client, the service's own request timeout
    // is the deadline; a spent budget is refused before any work.
    chain.proxy.set(Fault::Pass).await;
    let response = chain
        .web
        .client
        .get(chain.web.url("/api/v2/search?q=index"))
        .header("trawl-budget-ms", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "deadline_exceeded");
    let response = chain
        .web
        .client
        .get(chain.web.url("/api/v2/search?q=index"))
        .header("trawl-budget-ms", "soon")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["code"].as_str(), body["param"].as_str()),
        (Some("invalid_header"), Some("trawl-budget-ms"))
    );
    chain.web.get_json("/api/v2/search?q=index", 200).await;
}

/// `timeout_ms` promises an answer with what the engines found in time:
/// with the search service silent, the web role's searches answer `200`,
/// no results, every engine `timeout`, within the time asked — while the
/// same budget sent by a caller (`trawl-budget-ms`) is a `504` naming the
/// late service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_the_client_chose_is_answered_in_time_even_when_nothing_came() {
    let data = fixture_data_dir();
    let chain = chain(data.path(), |config, _| {
        config.services.breaker.fail_max = 1_000;
        config.services.breaker.min_calls = 1_000;
    })
    .await;
    // The web role learns the engines' names while search still answers
    // (it keeps the last list it had when asking again fails).
    let (status, _) = chain.web.get_html("/").await;
    assert_eq!(status, 200);
    chain.proxy.set(Fault::Blackhole).await;
    let slack = Duration::from_millis(350);
    for path in [
        "/api/v2/search?q=index&timeout_ms=400",
        "/api/v1/search?q=index&timeout_ms=400",
        "/search?q=index&format=json&timeout_ms=400",
        "/search?q=index&format=json&timeout_limit=0.4",
    ] {
        let started = Instant::now();
        let body = chain.web.get_json(path, 200).await;
        assert!(
            started.elapsed() <= Duration::from_millis(400) + slack,
            "{path}"
        );
        assert_eq!(body["results"], serde_json::json!([]), "{path}");
        let timed_out = if path.contains("format=json") {
            body["unresponsive_engines"] == serde_json::json!([["local", "timeout"]])
        } else {
            body["engines"][0]["status"] == "timeout" && body["engines"][0]["name"] == "local"
        };
        assert!(timed_out, "{path}: {body:#}");
    }
    let (status, page) = chain.web.get_html("/search?q=index&timeout_ms=400").await;
    assert_eq!(status, 200, "{page}");
    let refused = chain
        .web
        .client
        .get(chain.web.url("/api/v2/search?q=index"))
        .header("trawl-budget-ms", "400")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 504);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_after_fail_max_fails_fast_and_closes_after_a_probe() {
    let data = fixture_data_dir();
    let chain = chain(data.path(), |config, _| {
        config.services.breaker.fail_max = 3;
        config.services.breaker.reset_timeout_s = 1;
    })
    .await;
    chain.web.get_json("/api/v2/search?q=index", 200).await;
    chain.proxy.set(Fault::Reset).await;
    for i in 0..3 {
        let body = chain.results.get_json("/v1/results?q=index", 503).await;
        assert_eq!(body["code"], "upstream_unavailable", "call {i}");
    }
    let search_breaker = check(&chain.results, "search breaker").await;
    assert_eq!(search_breaker["ok"], false);
    assert!(
        search_breaker["detail"]
            .as_str()
            .unwrap()
            .starts_with("breaker open (probe in"),
        "{search_breaker}"
    );

    // Open: refused at once, without a connection to search.
    let connections = chain.proxy.accepted();
    let started = Instant::now();
    for _ in 0..5 {
        let response = chain.results.get("/v1/results?q=index").await;
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
    }
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "fails fast: {:?}",
        started.elapsed()
    );
    assert_eq!(chain.proxy.accepted(), connections, "search was not called");
    let (status, html) = chain.web.get_html("/search?q=index").await;
    assert_eq!(status, 503);
    assert!(html.contains("the search service cannot be reached"));
    assert_eq!(chain.results.get_json("/readyz", 503).await["ready"], false);

    // Search is back; after reset_timeout one probe closes the breaker.
    chain.proxy.set(Fault::Pass).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    chain.results.get_json("/v1/results?q=index", 200).await;
    let search_breaker = check(&chain.results, "search breaker").await;
    assert_eq!(search_breaker["ok"], true);
    assert!(
        search_breaker["detail"]
            .as_str()
            .unwrap()
            .starts_with("breaker closed, 0 consecutive failures, opened 1 times"),
        "{search_breaker}"
    );
    chain.web.get_json("/api/v2/search?q=index", 200).await;
}

/// Runs `workers` loops of page requests for `duration`; returns each
/// answer's status, latency and whether its page explains a failure.
async fn load(web: &TestApp, workers: usize, duration: Duration) -> Vec<(u16, Duration, bool)> {
    let until = Instant::now() + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (client, url) = (web.client.clone(), web.url("/search?q=index"));
        tasks.spawn(async move {
            let mut seen = Vec::new();
            while Instant::now() < until && seen.len() < 500 {
                let started = Instant::now();
                let response = client.get(&url).send().await.unwrap();
                let status = response.status().as_u16();
                let html = response.text().await.unwrap();
                seen.push((
                    status,
                    started.elapsed(),
                    html.contains("the search service cannot be reached"),
                ));
            }
            seen
        });
    }
    let mut all = Vec::new();
    while let Some(seen) = tasks.join_next().await {
        all.extend(seen.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_killed_under_load_degrades_the_pages_then_everything_recovers_without_leaks() {
    let data = fixture_data_dir();
    let mut chain = chain(data.path(), |config, _| {
        config.services.breaker.reset_timeout_s = 1;
    })
    .await;
    let tasks = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };

    // Warm up (connection pools fill), then take the baseline.
    let warm = load(&chain.web, 4, Duration::from_millis(300)).await;
    assert!(warm.iter().all(|(status, ..)| *status == 200));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (fds_before, tasks_before) = (open_fds(), tasks());

    // Kill search: its server stops and every connection to it is cut.
    drop(chain.search.take());
    chain.proxy.cut_all().await;
    let outage = load(&chain.web, 4, Duration::from_millis(1_500)).await;
    let failed: Vec<_> = outage
        .iter()
        .filter(|(status, ..)| *status != 200)
        .collect();
    assert!(!failed.is_empty());
    for (status, latency, explained) in &failed {
        assert_eq!(*status, 503);
        assert!(*explained, "the page says which service is down");
        assert!(*latency < Duration::from_secs(1), "fails fast: {latency:?}");
    }
    let breaker = check(&chain.results, "search breaker").await;
    assert_eq!(breaker["ok"], false, "open after the failures: {breaker}");

    // Restart search (a new process would get a new port: so does this
    // one); within reset_timeout plus a probe, pages are whole again.
    let restarted = spawn(&test_config(data.path()), trawl::Role::Search).await;
    chain.proxy.retarget(address_of(&restarted));
    let back = Instant::now();
    let recovered = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if chain.web.get("/search?q=index").await.status() == 200 {
                return back.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("serves again within 5 s of the restart");
    assert!(recovered < Duration::from_millis(2_500), "{recovered:?}");
    let after = load(&chain.web, 4, Duration::from_millis(300)).await;
    assert!(after.iter().all(|(status, ..)| *status == 200));
    assert_eq!(check(&chain.results, "search breaker").await["ok"], true);

    // Nothing left behind by the outage: no sockets, no tasks beyond a
    // few pooled connections being replaced.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (fds_after, tasks_after) = (open_fds(), tasks());
    assert!(
        fds_after <= fds_before + 8,
        "file descriptors {fds_before} → {fds_after}"
    );
    assert!(
        tasks_after <= tasks_before + 8,
        "tasks {tasks_before} → {tasks_after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_limit_a_service_sheds_requests_at_once_and_health_still_answers() {
    let data = fixture_data_dir();
    let chain = chain(data.path(), |config, _| {
        config.server.max_in_flight = 2;
    })
    .await;
    chain
        .proxy
        .set(Fault::Delay(Duration::from_millis(600)))
        .await;
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, url) = (
            chain.results.client.clone(),
            chain.results.url("/v1/results?q=index"),
        );
        requests.spawn(async move {
            let started = Instant::now();
            let response = client.get(url).send().await.unwrap();
            let retry_after = response.headers().get("retry-after").cloned();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, started.elapsed(), retry_after, body)
        });
    }
    // While two are held up, health answers at once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    chain.results.get_json("/livez", 200).await;
    assert!(started.elapsed() < Duration::from_millis(300));
    let load = check(&chain.results, "load").await;

    let (mut served, mut shed) = (0, 0);
    while let Some(joined) = requests.join_next().await {
        let (status, elapsed, retry_after, body) = joined.unwrap();
        match status {
            200 => served += 1,
            503 => {
                shed += 1;
                assert_eq!(body["code"], "overloaded", "{body}");
                assert_eq!(retry_after.unwrap(), "1");
                assert!(
                    elapsed < Duration::from_millis(300),
                    "shed at once: {elapsed:?}"
                );
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(served + shed, 8);
    assert!(served >= 2 && shed >= 1, "served {served}, shed {shed}");
    assert!(
        load["detail"]
            .as_str()
            .unwrap()
            .starts_with("at most 2 requests in flight;"),
        "{load}"
    );
    let load = check(&chain.results, "load").await;
    assert_eq!(
        load["detail"],
        format!("at most 2 requests in flight; {shed} shed since start")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_web_service_sheds_page_requests_with_a_page() {
    let data = fixture_data_dir();
    let chain = chain(data.path(), |config, _| {
        config.server.max_in_flight = 2;
    })
    .await;
    chain
        .proxy
        .set(Fault::Delay(Duration::from_millis(600)))
        .await;
    let answers = burst(
        &chain.web,
        &["/search?q=index", "/create%20index"].repeat(4),
    )
    .await;
    let (mut shed, mut served) = (0, 0);
    for (path, status, headers, body) in answers {
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}: {status} {body}"
        );
        assert!(headers.contains_key("content-security-policy"), "{path}");
        if status == 503 {
            shed += 1;
            assert_eq!(headers["retry-after"], "1", "{path}");
            assert!(body.contains("limit of requests in flight"), "{body}");
            let prefilled = if path.starts_with("/search") {
                "index"
            } else {
                "create index"
            };
            assert!(body.contains(&format!(r#"value="{prefilled}""#)), "{body}");
        } else {
            assert_eq!(status, 200, "{path}: {body}");
            served += 1;
        }
    }
    // One limit for the service, whichever pages are asked for.
    assert_eq!((served, shed), (2, 6));
    // The API keeps answering with problem documents.
    let problem = chain
        .web
        .get_json("/api/v1/search?q=a&timeout_ms=0", 400)
        .await;
    assert_eq!(problem["param"], "timeout_ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_service_further_in_passes_on_when_to_come_back() {
    let data = fixture_data_dir();
    let chain = chain(data.path(), |config, role| match role {
        trawl::Role::Results => config.server.max_in_flight = 1,
        trawl::Role::Web => config.services.retries = 0,
        _ => {}
    })
    .await;
    chain
        .proxy
        .set(Fault::Delay(Duration::from_millis(600)))
        .await;

    let paths = ["/api/v1/search?q=index", "/search?q=index"].repeat(2);
    let mut served = 0;
    for (path, status, headers, body) in burst(&chain.web, &paths).await {
        if status == 200 {
            served += 1;
            continue;
        }
        // Refused by results, the one busy service: web passes its problem
        // on, and its Retry-After with it, on the API and on the page.
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(
            headers.get("retry-after").map(|v| v.to_str().unwrap()),
            Some("1"),
            "{path}: {headers:?}"
        );
        assert!(
            body.contains("limit of requests in flight"),
            "{path}: {body}"
        );
        let html = headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html");
        assert_eq!(html, path.starts_with("/search"), "{path}");
    }
    assert_eq!(served, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_index_searches_starts_no_threads() {
    let data = fixture_data_dir();
    let one = spawn(&test_config(data.path()), trawl::Role::All).await;
    one.get_json("/v1/search?q=index", 200).await;
    let threads = || -> usize {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let before = threads();
    let words = [
        "index", "vacuum", "table", "python", "lock", "join", "query", "page",
    ];
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..96 {
        let path = format!(
            "/v1/search?q={}+{}",
            words[i % words.len()],
            words[(i * 3 + 1) % words.len()]
        );
        let (client, url) = (one.client.clone(), one.url(&path));
        requests.spawn(async move { client.get(url).send().await.unwrap().status().as_u16() });
    }
    while let Some(status) = requests.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    // The index has its own search threads from the start: a burst of
    // searches queues for them instead of starting threads (tokio's
    // blocking pool started 28 to 70 here, one per search in flight).
    let started = threads().saturating_sub(before);
    assert_eq!(started, 0, "threads started for 96 searches at once");
}
