use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;
use trawl::{Application, Config, Role};
use trawl_index::LocalIndex;
use trawl_index::ingest::{IngestOptions, ingest};
use url::Url;

/// Title and body of the hostile document.
pub(crate) const XSS_TITLE: &str =
    "Hostile <script>alert(1)</script> \"><img src=x onerror=alert(1)>";
pub(crate) const XSS_BODY: &str = "A hostile page: <script>alert(1)</script> and then \"><img src=x onerror=alert(1)> in the body.";

/// The fixture corpus: a few documents with known answers, the hostile
/// page, two URLs that are one page, and enough filler to need paging. Filler
/// `i` was published `i` days and 12 hours ago; the rest carry no date.
pub(crate) fn fixture_jsonl() -> String {
    use trawl_index::time::{
        Duration as Span, OffsetDateTime, format_description::well_known::Rfc3339,
    };
    let now = OffsetDateTime::now_utc();
    let published = |i: i64| (now - Span::hours(i * 24 + 12)).format(&Rfc3339).unwrap();
    let mut docs = vec![
        serde_json::json!({"id": "pg-create-index", "title": "CREATE INDEX", "url": "https://docs.example.org/pg/sql-createindex.html",
            "body": "CREATE INDEX constructs an index on the specified column(s) of the specified relation. When CONCURRENTLY is used, PostgreSQL builds the index without taking any locks that prevent concurrent inserts, updates, or deletes on the table."}),
        serde_json::json!({"id": "pg-drop-index", "title": "DROP INDEX", "url": "https://docs.example.org/pg/sql-dropindex.html",
            "body": "DROP INDEX drops an existing index from the database system. With CONCURRENTLY, the index is dropped without locking out concurrent selects."}),
        serde_json::json!({"id": "pg-create-table", "title": "CREATE TABLE", "url": "https://docs.example.org/pg/sql-createtable.html",
            "body": "CREATE TABLE will create a new, initially empty table in the current database. A primary key creates a unique index."}),
        serde_json::json!({"id": "py-asyncio-task", "title": "Coroutines and Tasks", "url": "https://docs.example.org/py/asyncio-task.html",
            "body": "asyncio.gather(*aws, return_exceptions=False) runs awaitable objects in the aws sequence concurrently. If all awaitables are completed successfully, gather returns an aggregate list of returned values."}),
        serde_json::json!({"id": "py-asyncio", "title": "asyncio — Asynchronous I/O", "url": "https://docs.example.org/py/asyncio.html",
            "body": "asyncio is a library to write concurrent code using the async/await syntax. asyncio is used as a foundation for multiple Python asynchronous frameworks."}),
        serde_json::json!({"id": "xss", "title": XSS_TITLE, "url": "https://evil.example.org/page", "body": XSS_BODY}),
        serde_json::json!({"id": "dup-1", "title": "Mirror one", "url": "https://Mirror.Example.org:443/same/", "body": "mirrored twinpage content"}),
        serde_json::json!({"id": "dup-2", "title": "Mirror two", "url": "https://mirror.example.org/same#section", "body": "mirrored twinpage content again"}),
        serde_json::json!({"id": "js-link", "title": "Script link", "url": "https://docs.example.org/ok", "body": "an innocuous page"}),
    ];
    for i in 0..23 {
        docs.push(serde_json::json!({"id": format!("filler-{i:02}"), "title": format!("Filler {i}"),
            "url": format!("https://filler.example.org/{i}"), "body": format!("zebrafill filler {}", "word ".repeat(i + 1)),
            "published": published(i as i64)}));
    }
    docs.iter().map(|d| format!("{d}\n")).collect()
}

/// A data directory whose index holds the fixture corpus.
pub(crate) fn fixture_data_dir() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("fixture.jsonl");
    std::fs::write(&jsonl, fixture_jsonl()).unwrap();
    let index = LocalIndex::open_or_create(&dir.path().join("index")).unwrap();
    let mut writer = index.writer().unwrap();
    ingest(&mut writer, &[jsonl], &IngestOptions::default(), &()).unwrap();
    writer.commit().unwrap();
    dir
}

/// Serves `app` on a loopback port; its base URL (`http://127.0.0.1:P`).
pub(crate) async fn upstream(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// A `json` engine asking `{base}{path}?q=…`, reading `{"total": n,
/// "hits": [{"t": title, "u": url, "s": snippet}]}`.
pub(crate) fn json_engine(name: &str, base: &str, path: &str) -> trawl::config::EngineConfig {
    let spec = trawl_search::EngineSpec::Json(trawl_search::engines::json::Settings {
        url_template: format!("{base}{path}?q={{query}}"),
        results_pointer: "/hits".into(),
        title_pointer: "/t".into(),
        url_pointer: "/u".into(),
        snippet_pointer: Some("/s".into()),
        total_pointer: Some("/total".into()),
        key_env: None,
        key_header: None,
    });
    trawl::config::EngineConfig::new(name, spec)
}

/// The repository's root.
/// A test that cannot run for want of an outside tool says so loudly, or
/// fails under `TRAWL_REQUIRE_SERVICES=1` (CI), where nothing may skip.
pub(crate) fn skip_loudly(message: &str) {
    if std::env::var("TRAWL_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        panic!("{message}; TRAWL_REQUIRE_SERVICES=1 forbids skipping it");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
}

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn test_config(data_dir: &Path) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: Some(data_dir.to_owned()),
        demo: false,
        // Shared, so that the three processes accept each other's cursors.
        cursor_secret: Some("test secret".to_owned()),
        ..Config::default()
    };
    config.services.search_timeout_ms = 2_000;
    config.services.results_timeout_ms = 3_000;
    // The tests are one client sending many requests; the rate limits'
    // own tests (security.rs) take this exemption away.
    config.rate_limits.exempt = vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
    config
}

/// A running service. Dropping it stops the server.
pub(crate) struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request completes")
    }

    /// GETs and decodes JSON, asserting the status.
    pub(crate) async fn get_json(&self, path: &str, status: u16) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status().as_u16(), status, "GET {path}");
        response.json().await.expect("a JSON body")
    }

    pub(crate) async fn get_html(&self, path: &str) -> (u16, String) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/html"),
            "GET {path}: {content_type}"
        );
        (status, response.text().await.unwrap())
    }
}

pub(crate) async fn spawn(config: &Config, role: Role) -> TestApp {
    let app = Application::build(config, role, Box::new(()))
        .await
        .expect("the app starts");
    let address = format!("http://{}", app.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    // Redirects are asserted, not followed.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        address,
        client,
        _stop: stop,
    }
}

/// trawl in one process: every route on one port.
pub(crate) async fn spawn_one_process(data_dir: &Path) -> TestApp {
    spawn(&test_config(data_dir), Role::All).await
}

/// trawl as three servers calling each other over HTTP.
pub(crate) struct ThreeApps {
    pub search: TestApp,
    pub results: TestApp,
    pub web: TestApp,
}

pub(crate) async fn spawn_three(data_dir: &Path) -> ThreeApps {
    spawn_three_with(&test_config(data_dir)).await
}

/// Three servers from one configuration, each pointed at the next.
pub(crate) async fn spawn_three_with(config: &Config) -> ThreeApps {
    let config = config.clone();
    let search = spawn(&config, Role::Search).await;
    let mut results_config = config.clone();
    results_config.services.search_url = Url::parse(&search.address).unwrap();
    let results = spawn(&results_config, Role::Results).await;
    let mut web_config = config.clone();
    web_config.services.results_url = Url::parse(&results.address).unwrap();
    let web = spawn(&web_config, Role::Web).await;
    ThreeApps {
        search,
        results,
        web,
    }
}

/// A new API key in the store `config` names (a key the running services
/// accept).
pub(crate) async fn make_key(config: &Config, name: &str) -> String {
    let store = trawl::open_store(config).await.expect("the store opens");
    let made = trawl_indexer::keys::create(store.as_ref(), name)
        .await
        .expect("a key is made");
    store.close().await;
    made.key
}

/// An address nothing listens on.
pub(crate) fn closed_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Removes what legitimately differs between two runs: timings.
pub(crate) fn without_timings(mut value: Value) -> Value {
    if let Some(engines) = value.get_mut("engines").and_then(Value::as_array_mut) {
        for engine in engines {
            engine.as_object_mut().unwrap().remove("latency_ms");
        }
    }
    value
}

pub(crate) fn result_urls(value: &Value) -> Vec<String> {
    value["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["url"].as_str().unwrap().to_owned())
        .collect()
}
