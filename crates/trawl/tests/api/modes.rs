//! One process and three processes are the same system.

use serde_json::Value;

use crate::helpers::*;

const QUERIES: &[&str] = &[
    "q=create+index+concurrently",
    "q=asyncio+gather",
    "q=zebrafill&page=2&per_page=5",
    "q=twinpage",
    "q=hostile",
    "q=%22initially+empty%22",
    "q=nothingmatchesthisword",
];

#[tokio::test]
async fn one_process_and_three_processes_answer_identically() {
    let data = fixture_data_dir();
    let one = spawn_one_process(data.path()).await;
    let three = spawn_three(data.path()).await;
    for query in QUERIES {
        let pairs = [
            (&one, &three.web, format!("/api/v1/search?{query}")),
            (&one, &three.results, format!("/v1/results?{query}")),
            (&one, &three.search, format!("/v1/search?{query}")),
        ];
        for (single, split, path) in pairs {
            let a = without_timings(single.get_json(&path, 200).await);
            let b = without_timings(split.get_json(&path, 200).await);
            assert_eq!(a, b, "{path}");
        }
    }
    let engines = one.get_json("/v1/engines", 200).await;
    assert_eq!(engines, three.search.get_json("/v1/engines", 200).await);
    assert_eq!(engines["engines"][0]["name"], "local");
    assert_eq!(engines["engines"][0]["documents"], 32);
}

#[tokio::test]
async fn known_queries_find_known_documents_first() {
    let data = fixture_data_dir();
    let three = spawn_three(data.path()).await;
    for (query, expected) in [
        (
            "create+index+concurrently",
            "https://docs.example.org/pg/sql-createindex.html",
        ),
        (
            "asyncio+gather",
            "https://docs.example.org/py/asyncio-task.html",
        ),
        (
            "primary+key+table",
            "https://docs.example.org/pg/sql-createtable.html",
        ),
    ] {
        let body = three
            .web
            .get_json(&format!("/api/v1/search?q={query}"), 200)
            .await;
        assert_eq!(result_urls(&body)[0], expected, "{query}");
        let first = &body["results"][0];
        assert_eq!(first["rank"], 1);
        assert_eq!(first["engines"], serde_json::json!(["local"]));
        let engine = &body["engines"][0];
        assert_eq!(
            (engine["name"].as_str(), engine["status"].as_str()),
            (Some("local"), Some("ok"))
        );
        assert!(engine["latency_ms"].as_f64().unwrap() >= 0.0);
    }
}

#[tokio::test]
async fn search_reports_raw_hits_and_results_folds_duplicates() {
    let data = fixture_data_dir();
    let app = spawn_one_process(data.path()).await;
    let raw = app.get_json("/v1/search?q=twinpage", 200).await;
    assert_eq!(result_urls(&raw).len(), 2, "search returns both copies");
    let hit = &raw["results"][0];
    for field in ["title", "url", "snippet", "engine", "rank", "score"] {
        assert!(!hit[field].is_null(), "search hit has {field}");
    }
    let merged = app.get_json("/v1/results?q=twinpage", 200).await;
    assert_eq!(
        result_urls(&merged).len(),
        1,
        "results folds them: {merged}"
    );
    let marked = merged["results"][0]["snippet_html"].as_str().unwrap();
    assert!(marked.contains("<mark>twinpage</mark>"), "{marked}");
}

#[tokio::test]
async fn posting_a_search_response_manipulates_it_without_calling_search() {
    let data = fixture_data_dir();
    let three = spawn_three(data.path()).await;
    let raw: Value = three.search.get_json("/v1/search?q=twinpage", 200).await;
    // A results service whose search is unreachable still manipulates what
    // it is given: the standalone path calls nothing.
    let mut config = test_config(data.path());
    config.services.search_url = url::Url::parse(&format!("http://{}", closed_address())).unwrap();
    let isolated = spawn(&config, trawl::Role::Results).await;
    let response = isolated
        .client
        .post(isolated.url("/v1/results"))
        .json(&raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let posted: Value = response.json().await.unwrap();
    let fetched = three.results.get_json("/v1/results?q=twinpage", 200).await;
    assert_eq!(without_timings(posted), without_timings(fetched));
}

#[tokio::test]
async fn pages_partition_the_results() {
    let data = fixture_data_dir();
    let app = spawn_one_process(data.path()).await;
    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let body = app
            .get_json(
                &format!("/api/v1/search?q=zebrafill&per_page=10&page={page}"),
                200,
            )
            .await;
        let urls = result_urls(&body);
        let ranks: Vec<u64> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["rank"].as_u64().unwrap())
            .collect();
        assert_eq!(
            ranks,
            ((page - 1) * 10 + 1..=(page - 1) * 10 + urls.len() as u64).collect::<Vec<_>>()
        );
        seen.extend(urls);
        match body["next_page"].as_u64() {
            Some(next) => page = next,
            None => break,
        }
    }
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!((seen.len(), distinct.len(), page), (23, 23, 3));

    let (status, html) = app.get_html("/search?q=zebrafill&page=2").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"<a rel="prev" href="/search?q=zebrafill">"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<a rel="next" href="/search?q=zebrafill&#38;page=3">"#),
        "{html}"
    );
    assert!(html.contains(r#"<ol class="results" start="11">"#));
}

#[tokio::test]
async fn the_page_shows_the_form_prefilled_results_and_engine_timings() {
    let data = fixture_data_dir();
    let three = spawn_three(data.path()).await;
    let (status, home) = three.web.get_html("/").await;
    assert_eq!(status, 200);
    assert!(home.contains(r#"<form class="search" action="/search" method="get""#));

    let (status, html) = three
        .web
        .get_html("/search?q=create+index+concurrently")
        .await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"name="q" value="create index concurrently""#),
        "form pre-filled"
    );
    assert!(html.contains(r#"<a href="https://docs.example.org/pg/sql-createindex.html" rel="noopener noreferrer">CREATE INDEX</a>"#));
    assert!(html.contains("<mark>CONCURRENTLY</mark>"), "terms marked");
    assert!(
        html.contains(r#"<span class="name">local</span> <span class="status">ok</span> · "#)
            && html.contains(" ms · "),
        "engine timing shown"
    );
    let first = html.find("sql-createindex.html").unwrap();
    let second = html.find("sql-dropindex.html").unwrap();
    assert!(first < second, "best result first");
}

#[tokio::test]
async fn a_path_renders_like_the_search_page() {
    let data = fixture_data_dir();
    let app = spawn_one_process(data.path()).await;
    let strip_timings = |html: String| {
        let start = html.find("<details class=\"engines-report\"").unwrap();
        let end = html[start..].find("</ul>").unwrap() + start;
        format!("{}{}", &html[..start], &html[end..])
    };
    let (status_a, by_path) = app.get_html("/create%20index%20concurrently").await;
    let (status_b, by_query) = app.get_html("/search?q=create+index+concurrently").await;
    assert_eq!((status_a, status_b), (200, 200));
    assert_eq!(strip_timings(by_path), strip_timings(by_query));
    let (status, html) = app.get_html("/zebrafill?page=2").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"start="11""#), "page from the query string");
}

#[tokio::test]
async fn health_endpoints_of_every_role() {
    let data = fixture_data_dir();
    let one = spawn_one_process(data.path()).await;
    let three = spawn_three(data.path()).await;
    for app in [&one, &three.search, &three.results, &three.web] {
        assert_eq!(app.get_json("/livez", 200).await["status"], "ok");
        let ready = app.get_json("/readyz", 200).await;
        assert_eq!(ready["ready"], true, "{ready}");
    }
    let ready = three.search.get_json("/readyz", 200).await;
    assert!(
        ready["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("32 documents"),
        "{ready}"
    );
}
