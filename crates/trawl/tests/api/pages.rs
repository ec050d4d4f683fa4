//! The page's own routes over HTTP: suggestions (through three processes),
//! OpenSearch, preferences in a cookie, bangs and the streamed page.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn suggestions_come_from_the_index_through_results_and_search() {
    let data = fixture_data_dir();
    let three = spawn_three(data.path()).await;
    // What the web service answers, in the OpenSearch suggestions format.
    let response = three.web.get("/autocomplete?q=create%20index%20conc").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-suggestions+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body[0], "create index conc");
    // No title holds a word starting "conc": nothing to offer.
    assert_eq!(body[1], serde_json::json!([]));
    let body: Value = three
        .web
        .get("/autocomplete?q=Asyn")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        serde_json::json!(["Asyn", ["asynchronous", "asyncio"]])
    );
    let body: Value = three
        .web
        .get("/autocomplete?q=drop%20%20ind")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body, serde_json::json!(["drop  ind", ["drop index"]]));
    // The seams' own routes: results passes search's answer on.
    let from_results = three.results.get_json("/v1/suggest?q=tab", 200).await;
    let from_search = three.search.get_json("/v1/suggest?q=tab", 200).await;
    assert_eq!(from_results, from_search);
    assert_eq!(from_search["suggestions"], serde_json::json!(["table"]));
    let engines = three.results.get_json("/v1/engines", 200).await;
    assert_eq!(engines["engines"][0]["name"], "local");
    // Nothing typed is no error; too much is.
    for path in ["/autocomplete", "/autocomplete?q=", "/autocomplete?q=%20"] {
        let body: Value = three.web.get(path).await.json().await.unwrap();
        assert_eq!(body[1], serde_json::json!([]), "{path}");
    }
    let long = three
        .web
        .get(&format!("/autocomplete?q={}", "a".repeat(600)))
        .await;
    assert_eq!(long.status(), 400);
    let problem: Value = long.json().await.unwrap();
    assert_eq!(problem["code"], "invalid_parameter");
    assert_eq!(three.web.get("/autocomplete?q=%zz").await.status(), 400);
    assert_eq!(three.web.get("/autocomplete?q=a&q=b").await.status(), 400);
}

#[tokio::test]
async fn opensearch_names_this_origin_and_escapes_what_it_is_told() {
    let data = fixture_data_dir();
    let app = spawn_one_process(data.path()).await;
    let response = app.get("/opensearch.xml").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/opensearchdescription+xml")
    );
    let xml = response.text().await.unwrap();
    let origin = &app.address;
    assert!(xml.contains(r#"<OpenSearchDescription xmlns="http://a9.com/-/spec/opensearch/1.1/""#));
    assert!(xml.contains(&format!(
        r#"<Url type="text/html" method="get" template="{origin}/search?q={{searchTerms}}"/>"#
    )));
    assert!(xml.contains(&format!(
        r#"<Url type="application/x-suggestions+json" method="get" template="{origin}/autocomplete?q={{searchTerms}}"/>"#
    )));
    // A hostile Host header cannot break out of the attribute.
    let hostile = app
        .client
        .get(app.url("/opensearch.xml"))
        .header("host", "evil\"><x a=\"")
        .send()
        .await
        .unwrap();
    let xml = hostile.text().await.unwrap();
    assert!(!xml.contains("evil\"><x"), "{xml}");
    // Every page says where it is.
    let (_, home) = app.get_html("/").await;
    assert!(home.contains(
        r#"<link rel="search" type="application/opensearchdescription+xml" title="trawl" href="/opensearch.xml">"#
    ));
}

/// The `trawl_prefs` cookie of a `Set-Cookie`, as a `Cookie` header.
fn cookie_of(response: &reqwest::Response) -> String {
    let set = response.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn preferences_are_saved_in_a_cookie_and_used() {
    let data = fixture_data_dir();
    let app = spawn_one_process(data.path()).await;
    let (status, form) = app.get_html("/preferences").await;
    assert_eq!(status, 200);
    assert!(
        form.contains(
            r#"<input type="checkbox" id="engine-1" name="engine" value="local" checked>"#
        )
    );
    assert!(form.contains(r#"id="bangs""#) && form.contains("<code>!local</code>"));
    let post = |body: &'static str, headers: &[(&'static str, &'static str)]| {
        let mut request = app
            .client
            .post(app.url("/preferences"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let saved = post(
        "engine=local&lang=de&safe=strict&time_range=&per_page=3&theme=dark&new_tab=1",
        &[("sec-fetch-site", "same-origin"), ("origin", "null")],
    )
    .await
    .unwrap();
    assert_eq!(saved.status(), 303);
    assert_eq!(saved.headers()["location"], "/preferences?saved=1");
    let set = saved.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("; Path=/;") && set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let cookie = cookie_of(&saved);
    let with_cookie = |path: &str| {
        app.client
            .get(app.url(path))
            .header("cookie", cookie.clone())
            .send()
    };
    let page = with_cookie("/search?q=zebrafill")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"<html lang="en" data-theme="dark">"#),
        "{page}"
    );
    assert_eq!(
        page.matches(r#"<li class="result">"#).count(),
        3,
        "3 a page"
    );
    assert!(page.contains(r#"target="_blank""#));
    assert!(page.contains(r#"<input type="hidden" name="lang" value="de">"#));
    assert!(page.contains(r#"<input type="hidden" name="safe" value="strict">"#));
    // A search's own parameters win.
    let page = with_cookie("/search?q=zebrafill&per_page=5")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page.matches(r#"<li class="result">"#).count(), 5);
    let page = with_cookie("/preferences?saved=1")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Preferences saved."));
    assert!(page.contains(r#"id="theme-dark" name="theme" value="dark" checked"#));
    assert!(
        page.contains(
            "/preferences?lang=de&#38;safe=strict&#38;per_page=3&#38;theme=dark&#38;new_tab=1"
        ),
        "the export address"
    );

    // Bad values are named; nothing is saved.
    for (body, param) in [
        ("engine=local&per_page=500", "per_page"),
        ("engine=local&theme=pink", "theme"),
        ("engine=local&lang=xx", "lang"),
        ("lang=de", "engine"),
        ("engine=local&per_page=%zz", "malformed"),
    ] {
        let refused = post(body, &[]).await.unwrap();
        assert_eq!(refused.status(), 400, "{body}");
        assert!(refused.headers().get("set-cookie").is_none());
        let html = refused.text().await.unwrap();
        assert!(
            html.contains(r#"<div class="error" role="alert">"#) && html.contains(param),
            "{body}: {html}"
        );
    }
    // Another site's form may not change them.
    for headers in [
        &[("sec-fetch-site", "cross-site")][..],
        &[("origin", "https://evil.example")][..],
    ] {
        let refused = post("engine=local&theme=light", headers).await.unwrap();
        assert_eq!(refused.status(), 403, "{headers:?}");
        assert!(refused.headers().get("set-cookie").is_none());
    }
    let huge = app
        .client
        .post(app.url("/preferences"))
        .body(format!("engine=local&x={}", "a".repeat(20_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    // A stale or forged cookie is ignored, never an error.
    let odd = app
        .client
        .get(app.url("/search?q=zebrafill"))
        .header("cookie", "trawl_prefs=per_page=9999&theme=%zz&off=nosuch")
        .send()
        .await
        .unwrap();
    assert_eq!(odd.status(), 200);
}

#[tokio::test]
async fn every_engine_off_is_said_and_bangs_pick_engines() {
    let data = fixture_data_dir();
    let app = spawn_one_process(data.path()).await;
    let off = app
        .client
        .get(app.url("/search?q=index"))
        .header("cookie", "trawl_prefs=off=local")
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 400);
    assert!(
        off.text()
            .await
            .unwrap()
            .contains("every engine is turned off in your preferences")
    );
    // A bang asks its engine, even one turned off.
    let banged = app
        .client
        .get(app.url("/search?q=index%20!local"))
        .header("cookie", "trawl_prefs=off=local")
        .send()
        .await
        .unwrap();
    assert_eq!(banged.status(), 200);
    let html = banged.text().await.unwrap();
    assert!(
        html.contains(r#"value="index !local""#),
        "the box keeps the bang"
    );
    assert!(html.contains("sql-createindex.html"));
    let (status, html) = app.get_html("/search?q=index%20!nosuch").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("No engine answers to !nosuch: searched without it."),
        "{html}"
    );
    assert!(html.contains("sql-createindex.html"));
    // A time range says what it leaves out, and links to any time.
    let (_, html) = app.get_html("/search?q=index&time_range=week").await;
    assert!(html.contains("A time range keeps only documents that carry a date"));
    assert!(
        html.contains(r#"href="/search?q=index&#38;time_range=""#),
        "{html}"
    );
    // Past the last page: said so, with the way back.
    let (status, html) = app.get_html("/search?q=index&page=40").await;
    assert_eq!(status, 200);
    assert!(html.contains("No results on page 40"), "{html}");
    assert!(html.contains(r#"<a href="/search?q=index">Back to the first page</a>"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_search_streams_the_form_and_progress_first() {
    use axum::Router;
    use axum::routing::get;
    let slow = Router::new().route(
        "/s",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            r#"{"total": 1, "hits": [{"t": "Slow", "u": "https://slow.example.org/", "s": "slow index"}]}"#
        }),
    );
    let base = upstream(slow).await;
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    config.engines = vec![
        trawl_search::EngineConfig::local(),
        json_engine("slow", &base, "/s"),
    ];
    let app = spawn(&config, trawl::Role::All).await;
    let started = Instant::now();
    let mut response = app.get("/search?q=index").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let first = response.chunk().await.unwrap().unwrap();
    let first_at = started.elapsed();
    let first = String::from_utf8(first.to_vec()).unwrap();
    assert!(
        first.contains(r#"<form class="search""#) && first.contains(r#"<section id="progress""#)
    );
    assert!(first.contains(r#"<span class="name">slow</span>"#));
    assert!(!first.contains("slow.example.org"), "no results yet");
    let mut rest = String::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let done_at = started.elapsed();
    assert!(rest.contains("https://slow.example.org/") && rest.contains("sql-createindex.html"));
    assert!(rest.trim_end().ends_with("</html>"), "{rest}");
    // The order is what is checked: the form came before the slow engine
    // had answered, the results after.
    assert!(first_at < Duration::from_millis(1500), "{first_at:?}");
    assert!(done_at >= Duration::from_millis(1500), "{done_at:?}");
    // A quick search is sent whole, with its true status.
    let (status, html) = app.get_html("/search?q=index&engines=local").await;
    assert_eq!(status, 200);
    assert!(!html.contains(r#"id="progress""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_leaves_mid_page_cancels_the_search() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::Router;
    use axum::routing::get;

    /// Set when the engine's request is dropped before it answered.
    struct Abandoned(Arc<AtomicBool>);
    impl Drop for Abandoned {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let abandoned = Arc::new(AtomicBool::new(false));
    let seen = abandoned.clone();
    let slow = Router::new().route(
        "/s",
        get(move || {
            let guard = Abandoned(seen.clone());
            async move {
                tokio::time::sleep(Duration::from_secs(20)).await;
                std::mem::forget(guard);
                r#"{"total": 0, "hits": []}"#
            }
        }),
    );
    let base = upstream(slow).await;
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    config.server.request_timeout_ms = 30_000;
    let mut engine = json_engine("never", &base, "/s");
    engine.timeout_ms = Some(25_000);
    config.engines = vec![trawl_search::EngineConfig::local(), engine];
    let app = spawn(&config, trawl::Role::All).await;
    let mut response = app.get("/search?q=index").await;
    let first = response.chunk().await.unwrap().unwrap();
    assert!(
        std::str::from_utf8(&first)
            .unwrap()
            .contains(r#"id="progress""#)
    );
    assert!(
        !abandoned.load(Ordering::SeqCst),
        "the engine is being asked"
    );
    drop(response);
    // The page's task is cancelled, and with it the call to the engine.
    let gave_up = Instant::now();
    while !abandoned.load(Ordering::SeqCst) && gave_up.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        abandoned.load(Ordering::SeqCst),
        "the engine was still being waited for 5 s after the browser left"
    );
}
