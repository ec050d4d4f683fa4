//! No engine key in any text trawl makes: every engine kind whose key
//! travels in a URL, a header or a configured template, failing every way
//! an upstream can (unreachable, silent, 500, garbage, a redirect to a
//! refused address or to another port of its own name, TLS spoken to a
//! plain server), and every place text goes (the JSON of v1 and v2 and
//! SearXNG's format, the page, CSV, RSS, the engines' list, readiness,
//! logs at trace level, `/metrics` and the exported spans).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::helpers::*;
use crate::processes::Trawl;

/// What the loopback upstream saw: each request's path and query and
/// headers, as text.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn any(&self, needle: &str) -> bool {
        self.0.lock().unwrap().iter().any(|r| r.contains(needle))
    }
}

/// The upstream's misbehaviours, by the first segment of the path:
/// `e500` echoes the request in a 500, `garbage` in a 200 that is not
/// JSON, `redirect` sends it to a metadata address with the request's
/// query, `port` to another port of its own host name.
async fn misbehave(
    State((seen, other_port)): State<(Seen, u16)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let shown = format!("{uri} {headers:?}");
    seen.0.lock().unwrap().push(shown.clone());
    let query = uri.query().unwrap_or_default();
    match uri.path().split('/').nth(1).unwrap_or_default() {
        "e500" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed: {shown}"),
        )
            .into_response(),
        "garbage" => (
            [(header::CONTENT_TYPE, "text/html")],
            format!("<html>{shown}"),
        )
            .into_response(),
        "redirect" => (
            StatusCode::FOUND,
            [(
                header::LOCATION,
                format!("http://169.254.169.254/latest/?{query}"),
            )],
        )
            .into_response(),
        "port" => (
            StatusCode::FOUND,
            [(
                header::LOCATION,
                format!("http://localhost:{other_port}/stolen?{query}"),
            )],
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A TCP listener that accepts and never answers.
async fn silent() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{address}")
}

/// An OTLP receiver keeping every export's bytes.
async fn raw_otlp() -> (String, Arc<Mutex<Vec<u8>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(bodies): State<Arc<Mutex<Vec<u8>>>>, body: Bytes| async move {
                    bodies.lock().unwrap().extend_from_slice(&body);
                    (
                        [(header::CONTENT_TYPE, "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                },
            ),
        )
        .with_state(bodies.clone());
    (upstream(app).await, bodies)
}

/// The engine kinds whose keys trawl holds, and how each is configured
/// (`{base}`: its address; `{env}`: the variable holding its key).
const KINDS: &[(&str, &str)] = &[
    (
        "google",
        "type = \"google\"\ncx = \"cx1\"\nkey_env = \"{env}\"\nbase_url = \"{base}\"",
    ),
    (
        "mojeek",
        "type = \"mojeek\"\nkey_env = \"{env}\"\nbase_url = \"{base}\"",
    ),
    (
        "pubmed",
        "type = \"pubmed\"\nkey_env = \"{env}\"\nbase_url = \"{base}\"",
    ),
    (
        "stackexchange",
        "type = \"stackexchange\"\nsite = \"stackoverflow\"\nkey_env = \"{env}\"\nbase_url = \"{base}\"",
    ),
    (
        "brave",
        "type = \"brave\"\nkey_env = \"{env}\"\nbase_url = \"{base}\"",
    ),
    (
        "marginalia",
        "type = \"marginalia\"\nkey_env = \"{env}\"\nbase_url = \"{base}\"",
    ),
    // A key written into the template, and another sent in a header.
    (
        "json",
        "type = \"json\"\nurl_template = \"{base}?q={query}&api_key={literal}\"\nresults_pointer = \"/r\"\ntitle_pointer = \"/t\"\nurl_pointer = \"/u\"\nkey_env = \"{env}\"\nkey_header = \"x-api-key\"",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_engine_key_reaches_an_answer_a_page_a_feed_a_log_a_metric_or_a_span() {
    let seen = Seen::default();
    // The port a redirect to another port of the same name leads to.
    let stolen = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stolen_port = stolen.local_addr().unwrap().port();
    let stolen_hits = Arc::new(Mutex::new(0u32));
    {
        let hits = stolen_hits.clone();
        tokio::spawn(async move {
            while let Ok((_socket, _)) = stolen.accept().await {
                *hits.lock().unwrap() += 1;
            }
        });
    }
    let double = upstream(
        Router::new()
            .fallback(misbehave)
            .with_state((seen.clone(), stolen_port)),
    )
    .await;
    let double_port = double.rsplit(':').next().unwrap().to_owned();
    let silent = silent().await;
    let closed = format!("http://{}", closed_address());
    let tls = double.replace("http://", "https://");
    let modes: Vec<(&str, String)> = vec![
        ("unreachable", format!("{closed}/")),
        ("silent", format!("{silent}/")),
        ("e500", format!("{double}/e500/")),
        ("garbage", format!("{double}/garbage/")),
        ("redirect", format!("{double}/redirect/")),
        ("port", format!("http://localhost:{double_port}/port/")),
        ("tls", format!("{tls}/tls/")),
    ];
    let mut toml = String::from("demo = false\n\n");
    let mut env: Vec<(String, String)> = Vec::new();
    let mut secrets: Vec<String> = Vec::new();
    for (kind, spec) in KINDS {
        for (mode, base) in &modes {
            let name = format!("{kind}-{mode}");
            let var = format!(
                "TRAWL_TEST_KEY_{}_{}",
                kind.to_uppercase(),
                mode.to_uppercase()
            );
            let key = format!("S3cr3t{kind}{mode}Key+/=9");
            let literal = format!("L1teral{kind}{mode}Key");
            let spec = spec
                .replace("{env}", &var)
                .replace("{base}", base)
                .replace("{literal}", &literal);
            toml.push_str(&format!(
                "[[engines]]\nname = \"{name}\"\ntimeout_ms = 600\ncalls_per_minute = 0\n{spec}\n\n"
            ));
            env.push((var, key.clone()));
            secrets.push(key);
            if *kind == "json" {
                secrets.push(literal);
            }
        }
    }
    let (receiver, exported) = raw_otlp().await;
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("trawl.toml");
    std::fs::write(&config, &toml).unwrap();
    let config = config.display().to_string();
    let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    vars.extend([
        ("TRAWL_CONFIG", config.as_str()),
        ("TRAWL_LOG", "trace"),
        ("TRAWL_RATE_LIMIT_EXEMPT", "127.0.0.0/8"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.as_str()),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    let trawl = Trawl::start(data.path(), &[], &vars);
    let client = reqwest::Client::new();
    let mut texts: HashMap<String, String> = HashMap::new();
    let v2: serde_json::Value = client
        .get(trawl.url("/api/v2/search?q=rust+gather"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Each engine was asked and failed: the keys were in play.
    let engines = v2["engines"].as_array().expect("engines reported");
    assert_eq!(engines.len(), KINDS.len() * modes.len(), "{v2}");
    for report in engines {
        assert_ne!(report["status"], "ok", "{report}");
        assert!(
            report["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{report}"
        );
    }
    for (kind, _) in KINDS {
        for mode in ["e500", "garbage", "redirect", "port"] {
            let key = &env
                .iter()
                .find(|(k, _)| {
                    k.ends_with(&format!("{}_{}", kind.to_uppercase(), mode.to_uppercase()))
                })
                .unwrap()
                .1;
            let encoded: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
            assert!(
                seen.any(key)
                    || seen.any(&encoded)
                    || seen.any(
                        &key.replace('+', "%2B")
                            .replace('/', "%2F")
                            .replace('=', "%3D")
                    ),
                "the {kind} double in mode {mode} never saw its key"
            );
        }
    }
    assert_eq!(
        *stolen_hits.lock().unwrap(),
        0,
        "a redirect to another port of a configured name was followed"
    );
    texts.insert("v2".into(), v2.to_string());
    for path in [
        "/api/v1/search?q=rust+gather",
        "/api/v2/search?q=rust+gather&format=csv",
        "/api/v2/search?q=rust+gather&format=rss",
        "/search?q=rust+gather&format=json",
        "/search?q=rust+gather&format=csv",
        "/search?q=rust+gather&format=rss",
        "/search?q=rust+gather",
        "/rust",
        "/v1/engines",
        "/readyz",
        "/metrics",
    ] {
        let response = client.get(trawl.url(path)).send().await.unwrap();
        texts.insert(path.into(), response.text().await.unwrap());
    }
    // The spans of those searches reach the receiver within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    texts.insert(
        "exported spans".into(),
        String::from_utf8_lossy(&exported.lock().unwrap()).into_owned(),
    );
    assert!(
        texts["exported spans"].contains("engine"),
        "spans were exported"
    );
    drop(trawl.url("/"));
    let logs = trawl.logs();
    assert!(
        logs.contains("\"level\":\"TRACE\""),
        "logged at trace level"
    );
    texts.insert("logs".into(), logs);
    for secret in &secrets {
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let escaped = secret
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        for (place, text) in &texts {
            for form in [secret, &encoded, &escaped] {
                assert!(
                    !text.contains(form.as_str()),
                    "{form} (a key) is in {place}: …{}…",
                    around(text, form)
                );
            }
        }
    }
}

/// The text around `needle`, for the failure's message.
fn around(text: &str, needle: &str) -> String {
    let at = text.find(needle).unwrap_or(0);
    let start = text.floor_char_boundary(at.saturating_sub(200));
    let end = text.ceil_char_boundary((at + needle.len() + 200).min(text.len()));
    text[start..end].to_owned()
}
