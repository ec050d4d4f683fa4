//! API v2 beside v1: cursors page through results and cannot be forged; v1
//! keeps answering and says it is deprecated.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn v1_announces_its_deprecation_and_successor() {
    let data = fixture_data_dir();
    let one = spawn_one_process(data.path()).await;
    for (path, successor) in [
        (
            "/v1/search?q=index",
            "</v2/search>; rel=\"successor-version\"",
        ),
        (
            "/api/v1/search?q=index",
            "</api/v2/search>; rel=\"successor-version\"",
        ),
        ("/v1/search?q=", "</v2/search>; rel=\"successor-version\""),
    ] {
        let response = one.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["deprecation"], "@1795305600", "{path}");
        assert_eq!(headers["sunset"], "Sat, 22 May 2027 00:00:00 GMT", "{path}");
        assert_eq!(headers["link"], successor, "{path}");
    }
    for path in [
        "/v2/search?q=index",
        "/api/v2/search?q=index",
        "/v1/results?q=index",
        "/search?q=index",
    ] {
        assert!(
            one.get(path).await.headers().get("deprecation").is_none(),
            "{path}"
        );
    }
}

/// Follows `next_cursor` from `first` to the end; returns every URL seen.
async fn page_through(app: &TestApp, endpoint: &str, first: &str) -> Vec<String> {
    let mut urls = Vec::new();
    let mut path = format!("{endpoint}?{first}");
    for _ in 0..10 {
        let body = app.get_json(&path, 200).await;
        urls.extend(result_urls(&body));
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("{endpoint}?cursor={cursor}"),
            None => return urls,
        }
    }
    panic!("more than 10 pages");
}

#[tokio::test]
async fn cursors_page_through_the_same_results_as_v1_pages() {
    let data = fixture_data_dir();
    let one = spawn_one_process(data.path()).await;
    let three = spawn_three(data.path()).await;
    let mut v1 = Vec::new();
    for page in 1..=3 {
        v1.extend(result_urls(
            &one.get_json(
                &format!("/api/v1/search?q=zebrafill&per_page=10&page={page}"),
                200,
            )
            .await,
        ));
    }
    assert_eq!(v1.len(), 23);
    assert_eq!(
        page_through(&one, "/api/v2/search", "q=zebrafill&per_page=10").await,
        v1
    );
    assert_eq!(
        page_through(&three.web, "/api/v2/search", "q=zebrafill&per_page=10").await,
        v1
    );
    assert_eq!(
        page_through(&three.search, "/v2/search", "q=zebrafill&per_page=10").await,
        v1
    );

    // The same cursor gives the same page in both shapes.
    let first: Value = one
        .get_json("/api/v2/search?q=zebrafill&per_page=10", 200)
        .await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let a = without_timings(
        one.get_json(&format!("/api/v2/search?cursor={cursor}"), 200)
            .await,
    );
    let b = without_timings(
        three
            .web
            .get_json(
                &format!("/api/v2/search?cursor={cursor}&q=zebrafill&per_page=10"),
                200,
            )
            .await,
    );
    assert_eq!(a, b);
    assert_eq!(a["per_page"], 10);
    assert!(
        a.get("page").is_none() && a.get("next_page").is_none(),
        "v2 pages by cursor only: {a}"
    );
}

#[tokio::test]
async fn tampered_foreign_and_mismatched_cursors_are_refused() {
    let data = fixture_data_dir();
    let one = spawn_one_process(data.path()).await;
    let first = one
        .get_json("/api/v2/search?q=zebrafill&per_page=5", 200)
        .await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (payload, tag) = cursor.split_once('.').unwrap();
    let flipped = |s: &str| {
        let mut chars: Vec<char> = s.chars().collect();
        chars[2] = if chars[2] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    let mut config = test_config(data.path());
    config.cursor_secret = Some("another deployment".to_owned());
    let other = spawn(&config, trawl::Role::All).await;
    let foreign = other
        .get_json("/api/v2/search?q=zebrafill&per_page=5", 200)
        .await["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        format!("cursor={}.{tag}", flipped(payload)),
        format!("cursor={payload}.{}", flipped(tag)),
        "cursor=garbage".to_owned(),
        format!("cursor={foreign}"),
        format!("cursor={cursor}&q=something+else"),
        format!("cursor={cursor}&per_page=7"),
    ];
    for query in cases {
        for endpoint in ["/api/v2/search", "/v2/search"] {
            let response = one.get(&format!("{endpoint}?{query}")).await;
            assert_eq!(response.status(), 400, "{endpoint}?{query}");
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            let problem: Value = response.json().await.unwrap();
            assert_eq!(
                (problem["code"].as_str(), problem["param"].as_str()),
                (Some("invalid_cursor"), Some("cursor")),
                "{query}"
            );
        }
    }
    // Without a cursor, v2 validates like v1.
    let problem = one.get_json("/api/v2/search?q=", 400).await;
    assert_eq!(problem["code"], "invalid_parameter");
}
