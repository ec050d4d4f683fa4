//! Bad input gets a 4xx problem document naming the problem, from every
//! service, in both shapes; never a 5xx.

use std::io::{Read, Write};

use serde_json::{Value, json};

use crate::helpers::*;

/// (query string, status, code, param)
fn bad_query_strings() -> Vec<(String, u16, &'static str, Option<&'static str>)> {
    vec![
        (String::new(), 400, "missing_parameter", Some("q")),
        ("page=2".into(), 400, "missing_parameter", Some("q")),
        ("q=".into(), 400, "invalid_parameter", Some("q")),
        ("q=%20%20".into(), 400, "invalid_parameter", Some("q")),
        (
            format!("q={}", "a".repeat(10_000)),
            400,
            "invalid_parameter",
            Some("q"),
        ),
        ("q=x&page=0".into(), 400, "invalid_parameter", Some("page")),
        ("q=x&page=-1".into(), 400, "invalid_parameter", Some("page")),
        (
            "q=x&page=99999999999999999999".into(),
            400,
            "invalid_parameter",
            Some("page"),
        ),
        (
            "q=x&per_page=100000".into(),
            400,
            "invalid_parameter",
            Some("per_page"),
        ),
        ("q=x&q=y".into(), 400, "duplicate_parameter", Some("q")),
        ("q=%zz".into(), 400, "malformed_query_string", None),
        ("q=abc%".into(), 400, "malformed_query_string", None),
        ("q=%FF%FE".into(), 400, "malformed_query_string", None),
        ("q=%C3%28".into(), 400, "malformed_query_string", None),
        ("q=x&safe=1".into(), 400, "invalid_parameter", Some("safe")),
        (
            "q=x&time_range=decade".into(),
            400,
            "invalid_parameter",
            Some("time_range"),
        ),
        ("q=x&lang=EN".into(), 400, "invalid_parameter", Some("lang")),
        (
            "q=x&lang=en&lang=de".into(),
            400,
            "duplicate_parameter",
            Some("lang"),
        ),
        (
            "q=x&engines=Local".into(),
            400,
            "invalid_parameter",
            Some("engines"),
        ),
        (
            "q=x&engines=nosuch".into(),
            400,
            "invalid_parameter",
            Some("engines"),
        ),
        (
            "q=x&format=xml".into(),
            400,
            "invalid_parameter",
            Some("format"),
        ),
    ]
}

async fn assert_problem(
    response: reqwest::Response,
    status: u16,
    code: &str,
    param: Option<&str>,
    context: &str,
) -> Value {
    assert_eq!(response.status().as_u16(), status, "{context}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{context}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status, "{context}: {body}");
    assert_eq!(body["code"], code, "{context}: {body}");
    assert_eq!(
        body["type"],
        format!("urn:trawl:problem:{code}"),
        "{context}"
    );
    assert_eq!(body["param"].as_str(), param, "{context}: {body}");
    assert!(!body["detail"].as_str().unwrap().is_empty(), "{context}");
    body
}

#[tokio::test]
async fn bad_query_strings_are_refused_by_every_endpoint_in_both_shapes() {
    let data = fixture_data_dir();
    let one = spawn_one_process(data.path()).await;
    let three = spawn_three(data.path()).await;
    let endpoints = [
        (&one, "/v1/search"),
        (&one, "/v1/results"),
        (&one, "/api/v1/search"),
        (&three.search, "/v1/search"),
        (&three.results, "/v1/results"),
        (&three.web, "/api/v1/search"),
    ];
    for (app, path) in endpoints {
        for (query, status, code, param) in bad_query_strings() {
            let url = format!("{path}?{query}");
            let context = format!("{} {}", app.address, &url[..url.len().min(80)]);
            assert_problem(app.get(&url).await, status, code, param, &context).await;
        }
    }
    let body = assert_problem(
        one.get(&format!("/v1/search?q={}", "a".repeat(10_000)))
            .await,
        400,
        "invalid_parameter",
        Some("q"),
        "long",
    )
    .await;
    assert_eq!(
        body["detail"],
        "parameter `q` must be at most 512 characters, got 10000"
    );
}

#[tokio::test]
async fn bad_searches_on_pages_render_the_form_with_the_reason() {
    let data = fixture_data_dir();
    let app = spawn_one_process(data.path()).await;
    // No query is no error: the home page.
    for path in [
        "/search?q=",
        "/search",
        "/search?q=%20&time_range=week",
        "/%20%20",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(response.headers()["location"], "/", "{path}");
    }
    // ... when what else it says is valid.
    let (status, html) = app.get_html("/search?time_range=null").await;
    assert_eq!(status, 400);
    assert!(html.contains("time_range"), "{html}");
    // A query too long to search is echoed once, in the box, not in the
    // title, the feeds' links or the message.
    let long = "a".repeat(8000);
    let (status, html) = app.get_html(&format!("/search?q={long}")).await;
    assert_eq!(status, 400);
    assert_eq!(html.matches(&long).count(), 1, "{} bytes", html.len());
    assert!(html.len() < 8000 + 6000, "{} bytes", html.len());
    for (path, expected) in [
        ("/search?q=x&page=0", "must be an integer from 1 to 50"),
        ("/search?q=%zz", "malformed"),
        ("/%FF%FE", "not valid percent-encoded UTF-8"),
        ("/vacuum?page=1&page=2", "given more than once"),
        ("/vacuum?q=%zz", "malformed"),
    ] {
        let (status, html) = app.get_html(path).await;
        assert_eq!(status, 400, "{path}");
        assert!(
            html.contains(r#"<div class="error" role="alert">"#) && html.contains(expected),
            "{path}: {html}"
        );
        assert!(html.contains(r#"<form class="search""#), "{path}");
    }
}

#[tokio::test]
async fn bad_bodies_for_the_standalone_path() {
    let data = fixture_data_dir();
    let one = spawn_one_process(data.path()).await;
    let three = spawn_three(data.path()).await;
    let valid = one.get_json("/v1/search?q=index", 200).await;
    let mut empty_query = valid.clone();
    empty_query["query"] = json!("   ");
    let mut bad_page = valid.clone();
    bad_page["page"] = json!(0);
    // 1e300 fits JSON and f64, not f32: it would come back as `null`.
    let huge_score = valid.to_string().replacen(
        &format!("\"score\":{}", valid["results"][0]["score"]),
        "\"score\":1e300",
        1,
    );
    assert_ne!(huge_score, valid.to_string());
    for app in [&one, &three.results] {
        let post = |body: Vec<u8>, content_type: &'static str| {
            app.client
                .post(app.url("/v1/results"))
                .header("content-type", content_type)
                .body(body)
                .send()
        };
        // (body, content type, status, code, param)
        type Case = (
            Vec<u8>,
            &'static str,
            u16,
            &'static str,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                b"not json".to_vec(),
                "application/json",
                400,
                "malformed_body",
                None,
            ),
            (
                b"{\"query\": \"x\",".to_vec(),
                "application/json",
                400,
                "malformed_body",
                None,
            ),
            (
                b"{\"query\": 1}".to_vec(),
                "application/json",
                422,
                "invalid_body",
                None,
            ),
            (
                b"[]".to_vec(),
                "application/json",
                422,
                "invalid_body",
                None,
            ),
            (
                valid.to_string().into_bytes(),
                "text/plain",
                415,
                "unsupported_media_type",
                None,
            ),
            (
                empty_query.to_string().into_bytes(),
                "application/json",
                400,
                "invalid_parameter",
                Some("query"),
            ),
            (
                bad_page.to_string().into_bytes(),
                "application/json",
                400,
                "invalid_parameter",
                Some("page"),
            ),
            (
                huge_score.clone().into_bytes(),
                "application/json",
                400,
                "invalid_parameter",
                Some("score"),
            ),
            (
                vec![b' '; 3 * 1024 * 1024],
                "application/json",
                413,
                "payload_too_large",
                None,
            ),
        ];
        for (body, content_type, status, code, param) in cases {
            let context = format!(
                "{} POST {content_type} {}",
                app.address,
                String::from_utf8_lossy(&body[..body.len().min(40)])
            );
            assert_problem(
                post(body, content_type).await.unwrap(),
                status,
                code,
                param,
                &context,
            )
            .await;
        }
        let ok = app
            .client
            .post(app.url("/v1/results"))
            .json(&valid)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
    }
    let body = assert_problem(
        one.client
            .post(one.url("/v1/results"))
            .header("content-type", "application/json")
            .body("{\"query\": 1}")
            .send()
            .await
            .unwrap(),
        422,
        "invalid_body",
        None,
        "detail",
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("invalid type: integer `1`, expected a string"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let data = fixture_data_dir();
    let app = spawn_one_process(data.path()).await;
    assert_problem(
        app.get("/v1/nothing/here").await,
        404,
        "not_found",
        None,
        "404",
    )
    .await;
    let delete = app
        .client
        .delete(app.url("/v1/search?q=x"))
        .send()
        .await
        .unwrap();
    assert_problem(delete, 405, "method_not_allowed", None, "405").await;
}

/// Raw (not percent-encoded) bytes above 0x7F are not allowed in a
/// request-target (RFC 9112 §3.2); hyper's parser refuses them with a bare
/// 400 before any handler runs, so there is no problem document to send.
/// Percent-encoded non-UTF-8 reaches us and gets one (above).
#[tokio::test]
async fn raw_non_utf8_bytes_in_the_query_string_are_a_4xx() {
    let data = fixture_data_dir();
    let app = spawn_one_process(data.path()).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(
                b"GET /v1/search?q=\xff\xfe\xc3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        String::from_utf8_lossy(&response).into_owned()
    })
    .await
    .unwrap();
    let status: u16 = response.split(' ').nth(1).unwrap().parse().unwrap();
    assert_eq!(status, 400, "{response}");
}
