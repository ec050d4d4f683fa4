//! Upstream engines from configuration, asked in parallel: the answer comes
//! by the deadline with what the fast engines found, each engine's status
//! reported. The upstream APIs are loopback doubles answering exactly as the
//! real ones do.

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::Value;
use trawl::config::EngineConfig;
use trawl_search::EngineSpec;
use trawl_search::engines::mediawiki;
use url::Url;

use crate::helpers::*;

/// Shaped like en.wikipedia.org's `action=query&list=search` answer.
const WIKI: &str = r#"{"batchcomplete":true,"continue":{"sroffset":1,"continue":"-||"},"query":{"searchinfo":{"totalhits":1532},"search":[{"ns":0,"title":"Database index","pageid":1016736,"snippet":"A <span class=\"searchmatch\">database</span> <span class=\"searchmatch\">index</span> is a data structure that improves the speed of data retrieval &lt;script&gt;"}]}}"#;

/// Wikis under `/fast`, `/slow` (2 s), `/hung` (never) and `/broken` (500).
async fn wikis() -> Url {
    let app = Router::new()
        .route(
            "/fast/w/api.php",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                ([("content-type", "application/json")], WIKI)
            }),
        )
        .route(
            "/slow/w/api.php",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                ([("content-type", "application/json")], WIKI)
            }),
        )
        .route("/hung/w/api.php", get(std::future::pending::<&'static str>))
        .route(
            "/broken/w/api.php",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url.parse().unwrap()
}

fn wiki(name: &str, base: &Url, enabled: bool) -> EngineConfig {
    wiki_at(
        name,
        base.join(&format!("{name}/w/api.php")).unwrap(),
        enabled,
    )
}

fn wiki_at(name: &str, api: Url, enabled: bool) -> EngineConfig {
    let spec = EngineSpec::Mediawiki(mediawiki::Settings {
        base_url: api,
        article_url: None,
    });
    EngineConfig {
        enabled,
        ..EngineConfig::new(name, spec)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engines_answer_in_parallel_by_the_deadline_with_each_ones_status() {
    let base = wikis().await;
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    config.search.engine_timeout_ms = 400;
    config.engines = vec![
        EngineConfig::local(),
        wiki("fast", &base, true),
        wiki("slow", &base, true),
        wiki("hung", &base, true),
        wiki("broken", &base, true),
        wiki_at("spare", base.join("fast/w/api.php").unwrap(), false),
    ];
    let one = spawn(&config, trawl::Role::All).await;

    let started = Instant::now();
    let body = one.get_json("/v1/search?q=database+index", 200).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_millis(900),
        "by the engines' deadline, not the slowest engine: {elapsed:?}"
    );
    let statuses: Vec<(&str, &str, Option<&str>)> = body["engines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e["status"].as_str().unwrap(),
                e["error_kind"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("local", "ok", None),
            ("fast", "ok", None),
            ("slow", "timeout", Some("timeout")),
            ("hung", "timeout", Some("timeout")),
            ("broken", "error", Some("http")),
        ],
        "disabled engines are not asked"
    );
    let from = |engine: &str| -> Vec<Value> {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["engine"] == engine)
            .cloned()
            .collect()
    };
    assert!(!from("local").is_empty());
    let fast = from("fast");
    assert_eq!(fast[0]["title"], "Database index");
    assert_eq!(
        fast[0]["url"],
        base.join("fast/wiki/Database_index").unwrap().as_str()
    );
    assert_eq!(
        fast[0]["snippet"].as_str().unwrap(),
        "A database index is a data structure that improves the speed of data retrieval <script>"
    );

    // The web page escapes what the upstream sent.
    let (_, html) = one.get_html("/search?q=database+index&engines=fast").await;
    assert!(
        html.contains("&#60;script&#62;") && !html.contains("<script>"),
        "{html}"
    );

    // Named, a disabled engine is asked; /v1/engines lists every one.
    let body = one
        .get_json("/v1/search?q=database+index&engines=spare", 200)
        .await;
    assert_eq!(body["engines"][0]["status"], "ok");
    let engines = one.get_json("/v1/engines", 200).await;
    let listed: Vec<(&str, &str, bool)> = engines["engines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
                e["enabled"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("local", "local", true),
            ("fast", "mediawiki", true),
            ("slow", "mediawiki", true),
            ("hung", "mediawiki", true),
            ("broken", "mediawiki", true),
            ("spare", "mediawiki", false),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_may_ask_for_less_time_than_the_engines_get() {
    let base = wikis().await;
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    // The engines may take 3 s (the default); this client will not wait.
    config.engines = vec![wiki("fast", &base, true), wiki("hung", &base, true)];
    let three = spawn_three_with(&config).await;

    for path in [
        "/api/v1/search?q=database+index&timeout_ms=600",
        "/api/v2/search?timeout_ms=600&q=database+index",
    ] {
        let started = Instant::now();
        let body = three.web.get_json(path, 200).await;
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_millis(600),
            "{path}: answered by the 600 ms asked for, through three processes: {elapsed:?}"
        );
        let statuses: Vec<(&str, &str)> = body["engines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["name"].as_str().unwrap(), e["status"].as_str().unwrap()))
            .collect();
        assert_eq!(statuses, [("fast", "ok"), ("hung", "timeout")], "{path}");
        assert_eq!(body["results"][0]["title"], "Database index", "{path}");
    }
    // A page says so in the page, with the form filled in.
    let (status, html) = three
        .web
        .get_html("/search?q=rust+book&timeout_ms=99")
        .await;
    assert_eq!(status, 400);
    assert!(
        html.contains("timeout_ms") && html.contains(r#"value="rust book""#),
        "{html}"
    );
    // The least a client may ask for still gets an answer, if an empty one.
    let body = three
        .web
        .get_json("/api/v1/search?q=database+index&timeout_ms=100", 200)
        .await;
    assert_eq!(
        (&body["engines"][1]["name"], &body["engines"][1]["status"]),
        (&"hung".into(), &"timeout".into()),
        "{body}"
    );
    // Each service takes the parameter, and refuses what it cannot use.
    let body = three
        .search
        .get_json("/v1/search?q=database+index&timeout_ms=300", 200)
        .await;
    assert_eq!(body["engines"][1]["status"], "timeout");
    for (app, path) in [
        (&three.web, "/api/v1/search?q=a&timeout_ms=0"),
        (&three.results, "/v1/results?q=a&timeout_ms=1.5"),
        (&three.search, "/v1/search?q=a&timeout_ms=soon"),
    ] {
        let problem = app.get_json(path, 400).await;
        assert_eq!(
            (&problem["code"], &problem["param"]),
            (&"invalid_parameter".into(), &"timeout_ms".into()),
            "{path}: {problem}"
        );
    }
}

#[tokio::test]
async fn a_failing_engine_is_suspended_and_reported_not_waited_on() {
    let base = wikis().await;
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    config.search.suspend_after = 2;
    config.engines = vec![EngineConfig::local(), wiki("broken", &base, true)];
    let one = spawn(&config, trawl::Role::All).await;
    for _ in 0..2 {
        let body = one.get_json("/v1/search?q=index", 200).await;
        assert_eq!(body["engines"][1]["status"], "error");
    }
    let body = one.get_json("/v1/search?q=index", 200).await;
    assert_eq!(body["engines"][1]["status"], "suspended");
    assert_eq!(body["engines"][1]["error_kind"], "suspended");
    assert!(body["engines"][1]["latency_ms"].as_f64().unwrap() < 50.0);
    assert_eq!(
        body["engines"][0]["status"], "ok",
        "the others still answer"
    );
    let engines = one.get_json("/v1/engines", 200).await;
    assert_eq!(engines["engines"][1]["suspended"], true);
    // Partial answers are normal: search stays ready.
    assert_eq!(one.get_json("/readyz", 200).await["ready"], true);
}

#[tokio::test]
async fn a_suspended_engine_is_probed_after_its_cooldown_and_serves_again() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let healthy = Arc::new(AtomicBool::new(false));
    let state = healthy.clone();
    let app = Router::new().route(
        "/flaky/w/api.php",
        get(move || {
            let ok = state.load(Ordering::SeqCst);
            async move {
                if ok {
                    (StatusCode::OK, WIKI)
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "maintenance")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base: Url = format!("http://{}/", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    config.search.suspend_after = 2;
    config.search.suspend_s = 1;
    config.engines = vec![wiki("flaky", &base, true)];
    let one = spawn(&config, trawl::Role::All).await;
    let status = |body: &Value| body["engines"][0]["status"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let body = one.get_json("/v1/search?q=index", 200).await;
        assert_eq!(status(&body), "error");
    }
    let body = one.get_json("/v1/search?q=index", 200).await;
    assert_eq!(status(&body), "suspended");
    // The engine is back; after the cooldown one request probes it.
    healthy.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let body = one.get_json("/v1/search?q=index", 200).await;
    assert_eq!(status(&body), "ok", "{body}");
    assert_eq!(body["results"][0]["title"], "Database index");
    let engines = one.get_json("/v1/engines", 200).await;
    assert_eq!(engines["engines"][0]["suspended"], false);
}
