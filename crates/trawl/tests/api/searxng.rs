//! SearXNG's search API on the web role (`/search?format=json|csv|rss`,
//! and `POST /search`), checked against what a real SearXNG answered:
//! `crates/trawl/tests/searxng/captured/` holds SearXNG 2026.8.22+9fea41204's
//! own answers (see its README), and real clients — trawl's `searxng`
//! engine here, LangChain's `SearxSearchWrapper` and a plain script in
//! `crates/trawl/tests/searxng/clients.py` — are pointed at trawl.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

fn captured(name: &str) -> String {
    let path = workspace_root()
        .join("crates/trawl/tests/searxng/captured")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn captured_json(name: &str) -> Value {
    serde_json::from_str(&captured(name)).unwrap()
}

/// trawl in one process over the fixture corpus, with a second engine
/// that cannot be reached (so that `unresponsive_engines` has something
/// to say).
async fn trawl_with_a_dead_engine() -> (tempfile::TempDir, TestApp) {
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    let dead = format!("http://{}", closed_address());
    config.engines = vec![
        trawl::config::EngineConfig::local(),
        json_engine("deadweb", &dead, "/s"),
    ];
    let app = spawn(&config, trawl::Role::All).await;
    (data, app)
}

/// The JSON type of a value, as the golden comparison sees it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key SearXNG's `value` has is in trawl's, with the same JSON type
/// (`null` standing for "string or null" where SearXNG sends either).
fn same_shape(searx: &Value, trawl: &Value, at: &str, problems: &mut Vec<String>) {
    let (Some(searx), Some(trawl)) = (searx.as_object(), trawl.as_object()) else {
        problems.push(format!("{at}: not an object"));
        return;
    };
    for (key, expected) in searx {
        let here = format!("{at}.{key}");
        match trawl.get(key) {
            None => problems.push(format!("{here}: missing")),
            Some(got) => {
                let fine = kind(expected) == kind(got)
                    || (key == "publishedDate" && matches!(kind(got), "string" | "null"));
                if !fine {
                    problems.push(format!(
                        "{here}: {} in SearXNG, {} here",
                        kind(expected),
                        kind(got)
                    ));
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_answer_has_searxngs_keys_and_types() {
    let searx = captured_json("search.json");
    let (_data, app) = trawl_with_a_dead_engine().await;
    let trawl = app
        .get_json("/search?q=zebrafill+word&format=json", 200)
        .await;

    let mut problems = Vec::new();
    same_shape(&searx, &trawl, "", &mut problems);
    // The keys every SearXNG result has (engines add their own extras,
    // such as hackernews's `author`), in every result of trawl's.
    let results = searx["results"].as_array().unwrap();
    let common: BTreeSet<&String> = results
        .iter()
        .map(|r| r.as_object().unwrap().keys().collect::<BTreeSet<_>>())
        .reduce(|a, b| a.intersection(&b).copied().collect())
        .unwrap();
    let model: serde_json::Map<String, Value> = common
        .iter()
        .map(|k| ((*k).clone(), results[0][k.as_str()].clone()))
        .collect();
    assert!(common.len() >= 13, "{common:?}");
    let hits = trawl["results"].as_array().unwrap();
    assert!(hits.len() >= 10, "{trawl:#}");
    for (i, hit) in hits.iter().enumerate() {
        same_shape(
            &Value::Object(model.clone()),
            hit,
            &format!(".results[{i}]"),
            &mut problems,
        );
    }
    for pair in searx["unresponsive_engines"].as_array().unwrap() {
        assert_eq!(pair.as_array().unwrap().len(), 2);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // And what the keys hold is trawl's answer, said SearXNG's way.
    assert_eq!(trawl["query"], "zebrafill word");
    assert!(
        trawl["number_of_results"].as_u64().unwrap() >= 23,
        "{trawl:#}"
    );
    let first = &hits[0];
    let url = first["url"].as_str().unwrap();
    assert!(url.starts_with("https://filler.example.org/"), "{url}");
    assert_eq!(first["engine"], "local");
    assert_eq!(first["engines"], serde_json::json!(["local"]));
    assert_eq!(first["positions"], serde_json::json!([1]));
    assert_eq!(first["template"], "default.html");
    assert_eq!(first["category"], "general");
    let parsed: Vec<&str> = first["parsed_url"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(&parsed[..3], ["https", "filler.example.org", &url[26..]]);
    assert!(first["content"].as_str().unwrap().contains("zebrafill"));
    // The fillers are dated: RFC 3339 in UTC, as Python's
    // `datetime.fromisoformat` reads it.
    let date = first["publishedDate"].as_str().expect("a dated document");
    assert!(
        date.len() == 20 && date.ends_with('Z') && date.as_bytes()[10] == b'T',
        "{date}"
    );
    // Positions are 1-based and follow the ranking.
    let positions: Vec<u64> = hits
        .iter()
        .map(|h| h["positions"][0].as_u64().unwrap())
        .collect();
    assert_eq!(positions, (1..=hits.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        trawl["unresponsive_engines"],
        serde_json::json!([["deadweb", "HTTP connection error"]])
    );

    // An undated document: `null`, as SearXNG sends it.
    let undated = app
        .get_json("/search?q=concurrently&format=json", 200)
        .await;
    assert!(
        undated["results"][0]["publishedDate"].is_null(),
        "{undated:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_and_rss_answer_in_searxngs_columns_and_elements_and_parse_back() {
    let (_data, app) = trawl_with_a_dead_engine().await;
    let json = app
        .get_json("/search?q=zebrafill+word&format=json", 200)
        .await;
    let urls = result_urls(&json);

    // CSV: SearXNG's header, CRLF, one `result` row per result.
    let answer = app.get("/search?q=zebrafill+word&format=csv").await;
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(
        answer.headers()["content-disposition"],
        "attachment; filename=\"trawl_-_zebrafill_word.csv\""
    );
    let csv_text = answer.text().await.unwrap();
    let searx_csv = captured("search.csv");
    assert_eq!(
        csv_text.split("\r\n").next(),
        searx_csv.split("\r\n").next(),
        "the same header row"
    );
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        ["title", "url", "content", "host", "engine", "score", "type"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(
        rows.iter().map(|r| r[1].to_owned()).collect::<Vec<_>>(),
        urls
    );
    for (row, hit) in rows.iter().zip(json["results"].as_array().unwrap()) {
        assert_eq!(&row[0], hit["title"].as_str().unwrap());
        assert_eq!(&row[3], "filler.example.org");
        assert_eq!(&row[4], "local");
        assert_eq!(
            row[5].parse::<f64>().unwrap(),
            hit["score"].as_f64().unwrap()
        );
        assert_eq!(&row[6], "result");
    }

    // RSS: SearXNG's elements, parsed back by an RSS reader.
    let answer = app.get("/search?q=zebrafill+word&format=rss").await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/xml; charset=utf-8");
    let rss = answer.text().await.unwrap();
    let feed = feed_rs::parser::parse(rss.as_bytes()).expect("an RSS reader reads it");
    assert_eq!(
        feed.entries
            .iter()
            .map(|e| e.links[0].href.clone())
            .collect::<Vec<_>>(),
        urls
    );
    assert!(
        feed.entries.iter().all(|e| e.published.is_some()),
        "dated documents carry pubDate"
    );
    let (searx_channel, searx_item) = element_names(&captured("search.rss"));
    let (channel, item) = element_names(&rss);
    assert_eq!(channel, searx_channel, "the channel's elements");
    let mut expected_item = searx_item.clone();
    // SearXNG's template writes `pubDate` for dated results too.
    expected_item.insert("pubDate".to_owned());
    assert_eq!(item, expected_item, "an item's elements");
}

/// The element names under `channel` (other than `item`) and under its
/// items, with their namespace prefixes.
fn element_names(xml: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let (mut channel, mut item) = (BTreeSet::new(), BTreeSet::new());
    let mut note = |path: &[String], name: String| match path {
        [_, c] if c == "channel" && name != "item" => {
            channel.insert(name);
        }
        [_, c, i] if c == "channel" && i == "item" => {
            item.insert(name);
        }
        _ => {}
    };
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                note(&path, name.clone());
                path.push(name);
            }
            Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                note(&path, name);
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (channel, item)
}

/// Each request SearXNG refused (or took) in `captured/errors.json`,
/// sent to trawl: the same status, and for JSON the same `error` text.
/// Where trawl differs on purpose, it says so here and in
/// docs/searxng-compat.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_as_searxng_refuses_them() {
    let (_data, app) = trawl_with_a_dead_engine().await;
    let cases = captured_json("errors.json");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let request = case["request"].as_str().unwrap();
        let path = request.strip_prefix("GET ").unwrap();
        let answer = app.get(path).await;
        let status = answer.status().as_u16();
        let content_type = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = answer.text().await.unwrap();
        let searx_status = case["status"].as_u64().unwrap() as u16;
        let searx_type = case["content_type"].as_str().unwrap();
        if path.ends_with("format=xml") {
            // SearXNG shows its page for a format it does not know;
            // trawl's page refuses it (400, the form and the reason).
            assert_eq!(
                (status, content_type.starts_with("text/html")),
                (400, true),
                "{path}"
            );
            continue;
        }
        assert_eq!(status, searx_status, "{path}: {body}");
        if searx_type.starts_with("application/csv") {
            // SearXNG answers a refused CSV with an empty body; trawl with
            // a problem document saying why.
            assert_eq!(content_type, "application/problem+json", "{path}");
            let problem: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(problem["status"], status, "{path}");
            continue;
        }
        if searx_type.starts_with("text/xml") {
            assert_eq!(content_type, "text/xml; charset=utf-8", "{path}");
            let description = case["body"].as_str().unwrap();
            assert!(description.contains("<title>Error</title>"));
            assert!(
                body.contains("<title>Error</title>") && body.contains("No query"),
                "{body}"
            );
            continue;
        }
        assert_eq!(content_type, "application/json", "{path}");
        let got: Value = serde_json::from_str(&body).unwrap();
        match case.get("body") {
            Some(expected) if status != 200 => {
                assert_eq!(got["error"], expected["error"], "{path}");
                // Beside it, trawl's machine-readable account.
                assert_eq!(got["status"], status, "{path}");
                assert!(
                    got["code"].is_string() && got["detail"].is_string(),
                    "{got:#}"
                );
            }
            _ => {
                let keys: BTreeSet<&str> = got
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                for key in case["body_keys"].as_array().unwrap() {
                    assert!(keys.contains(key.as_str().unwrap()), "{path}: {key}");
                }
            }
        }
    }
    // What SearXNG does not check and trawl must: a query past trawl's
    // limits, and a parameter given twice.
    let long = "a".repeat(600);
    let refused = app
        .get_json(&format!("/search?q={long}&format=json"), 400)
        .await;
    assert_eq!(refused["param"], "q");
    let refused = app.get_json("/search?q=x&q=y&format=json", 400).await;
    assert_eq!(refused["code"], "duplicate_parameter");
    // A page past trawl's last: no results, as SearXNG answers a page its
    // engines have nothing on; no engine is asked.
    let past = app
        .get_json("/search?q=zebrafill&format=json&pageno=51", 200)
        .await;
    assert_eq!(past["results"], serde_json::json!([]));
    assert_eq!(past["unresponsive_engines"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searxngs_parameters_choose_what_is_searched() {
    let (_data, app) = trawl_with_a_dead_engine().await;
    let urls = |v: &Value| result_urls(v);
    // pageno pages as page does.
    let first = app
        .get_json("/search?q=zebrafill&format=json&per_page=5", 200)
        .await;
    let second = app
        .get_json("/search?q=zebrafill&format=json&per_page=5&pageno=2", 200)
        .await;
    assert_eq!((urls(&first).len(), urls(&second).len()), (5, 5));
    assert!(urls(&first).iter().all(|u| !urls(&second).contains(u)));
    assert_eq!(second["results"][0]["positions"], serde_json::json!([6]));
    // engines: only the local one asked; an unknown name is left out.
    let local = app
        .get_json("/search?q=zebrafill&format=json&engines=local,bing", 200)
        .await;
    assert_eq!(local["unresponsive_engines"], serde_json::json!([]));
    // time_range: only documents of the last week (fillers 0–6 are dated
    // 12 hours to 6.5 days ago).
    let week = app
        .get_json(
            "/search?q=zebrafill&format=json&time_range=week&per_page=50",
            200,
        )
        .await;
    assert_eq!(urls(&week).len(), 7, "{week:#}");
    // A bang, as in SearXNG: the engine it names, and not searched for.
    let banged = app
        .get_json("/search?q=!local+zebrafill&format=json", 200)
        .await;
    assert_eq!(banged["query"], "zebrafill");
    assert_eq!(banged["unresponsive_engines"], serde_json::json!([]));
    // The page takes SearXNG's names too: a SearXNG link works there.
    let (status, page) = app
        .get_html("/search?q=zebrafill&pageno=2&safesearch=0&language=en-US")
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Results 11–20"), "{page}");
    let (status, _) = app.get_html("/search?q=zebrafill&safesearch=7").await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_takes_a_form_as_searxng_does() {
    let (_data, app) = trawl_with_a_dead_engine().await;
    let post = |body: &'static str| {
        app.client
            .post(app.url("/search"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let got = app
        .get_json("/search?q=zebrafill&format=json&engines=local", 200)
        .await;
    let posted: Value = post("q=zebrafill&format=json&engines=local")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(result_urls(&posted), result_urls(&got));
    // The body wins over the query string, as in SearXNG.
    let answer = app
        .client
        .post(app.url("/search?q=ignored&format=csv"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("q=zebrafill&format=json")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["content-type"], "application/json");
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["query"], "zebrafill");
    // Without a format, the page.
    let page = post("q=zebrafill").await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Filler"));
    // Bounded, and only forms.
    let big = app
        .client
        .post(app.url("/search"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("format=json&q=x&pad={}", "a".repeat(20_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    let json_body = app
        .client
        .post(app.url("/search"))
        .header("content-type", "application/json")
        .body(r#"{"q": "x", "format": "json"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 415);
    let not_a_form = post("AAA").await.unwrap();
    assert_eq!(not_a_form.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searxngs_formats_spend_the_api_budget() {
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    config.rate_limits.exempt = Vec::new();
    config.rate_limits.pages_per_minute = 60;
    config.rate_limits.pages_burst = 5;
    config.rate_limits.api_per_minute = 60;
    config.rate_limits.api_burst = 2;
    let app = spawn(&config, trawl::Role::All).await;
    assert_eq!(app.get("/search?q=index&format=json").await.status(), 200);
    assert_eq!(app.get("/search?q=index&format=rss").await.status(), 200);
    let refused = app.get_json("/search?q=index&format=csv", 429).await;
    assert_eq!(refused["code"], "rate_limited");
    assert!(
        refused["detail"].as_str().unwrap().contains("API"),
        "{refused:#}"
    );
    // A POST is a program's too.
    let posted = app
        .client
        .post(app.url("/search"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("q=index&format=json")
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 429);
    // The page's own budget is untouched.
    assert_eq!(app.get("/search?q=index").await.status(), 200);
}

/// `timeout_limit` answers in time with what the engines found by then;
/// those that had not answered are unresponsive with `timeout`, as in
/// SearXNG, and the answer is a `200`, on the page too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_limit_answers_in_time_with_what_arrived() {
    use axum::routing::get;
    let slow = upstream(axum::Router::new().route(
        "/s",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            axum::Json(serde_json::json!({"total": 0, "hits": []}))
        }),
    ))
    .await;
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    let mut slowweb = json_engine("slowweb", &slow, "/s");
    slowweb.timeout_ms = Some(5_000);
    config.engines = vec![trawl::config::EngineConfig::local(), slowweb];
    let app = spawn(&config, trawl::Role::All).await;
    let started = std::time::Instant::now();
    let answer = app
        .get_json("/search?q=zebrafill&format=json&timeout_limit=0.5", 200)
        .await;
    assert!(
        started.elapsed() < Duration::from_millis(2_500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        answer["unresponsive_engines"],
        serde_json::json!([["slowweb", "timeout"]])
    );
    assert!(
        !result_urls(&answer).is_empty(),
        "the local engine's results: {answer:#}"
    );
    let (status, page) = app.get_html("/search?q=zebrafill&timeout_limit=0.5").await;
    assert_eq!(status, 200);
    assert!(page.contains("Filler"), "{page}");
}

/// trawl's own `searxng` engine, written for SearXNG instances, asks a
/// second trawl through this API: the results arrive, dates and all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trawls_searxng_engine_reads_trawl_as_a_searxng_instance() {
    let (_data, upstream_trawl) = trawl_with_a_dead_engine().await;
    let empty = tempfile::tempdir().unwrap();
    let mut config = test_config(empty.path());
    let mut searx: trawl::config::Config = toml::from_str(&format!(
        "[[engines]]\nname = \"other\"\ntype = \"searxng\"\nbase_url = \"{}/\"\n",
        upstream_trawl.address
    ))
    .unwrap();
    config.engines = std::mem::take(&mut searx.engines);
    let app = spawn(&config, trawl::Role::All).await;
    let answer = app
        .get_json("/api/v2/search?q=zebrafill+word&per_page=5", 200)
        .await;
    let engine = &answer["engines"][0];
    assert_eq!(
        (engine["name"].as_str(), engine["status"].as_str()),
        (Some("other"), Some("ok"))
    );
    let urls = result_urls(&answer);
    assert_eq!(urls.len(), 5, "{answer:#}");
    assert!(
        urls.iter()
            .all(|u| u.starts_with("https://filler.example.org/"))
    );
}

/// What `clients.py` needs: a Python with `langchain_community`, installed
/// by `scripts/install-test-tools.sh` into `.tools/langchain`.
fn python_with_langchain() -> Option<PathBuf> {
    let python = workspace_root().join(".tools/langchain/bin/python");
    let ok = std::process::Command::new(&python)
        .args(["-c", "import langchain_community.utilities.searx_search"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    let message = "langchain-community is not installed in .tools/langchain: run \
                   `bash scripts/install-test-tools.sh` (the SearXNG client tests did NOT run)";
    skip_loudly(message);
    None
}

/// LangChain's `SearxSearchWrapper` (`.run()` and `.results()`), and a
/// script reading SearXNG's keys with nothing but the standard library,
/// pointed at trawl: `crates/trawl/tests/searxng/clients.py`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searxng_clients_work_against_trawl_unchanged() {
    let Some(python) = python_with_langchain() else {
        return;
    };
    let (_data, app) = trawl_with_a_dead_engine().await;
    let script = workspace_root().join("crates/trawl/tests/searxng/clients.py");
    let run = tokio::process::Command::new(&python)
        .arg(&script)
        .env("TRAWL_URL", &app.address)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the clients finish within 120 s")
        .expect("python runs");
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    println!("{out}");
    eprintln!("{err}");
    assert!(
        output.status.success(),
        "the SearXNG clients failed:\n{out}\n{err}"
    );
    assert!(out.contains("every client check passed"), "{out}");
}
