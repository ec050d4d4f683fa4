//! The search options (`time_range`, `engines`, `safe`, `lang`, `format`)
//! travel from every entry point to the engines, in both shapes, survive
//! paging, and are refused clearly when wrong.

use serde_json::Value;

use crate::helpers::*;

fn total(body: &Value) -> u64 {
    body["engines"][0]["total"].as_u64().expect("a total")
}

#[tokio::test]
async fn time_range_keeps_recent_documents_in_both_shapes() {
    let data = fixture_data_dir();
    let one = spawn_one_process(data.path()).await;
    let three = spawn_three(data.path()).await;
    // Filler i was published i days and 12 hours ago; 23 fillers in all.
    let expected = [
        ("", 23),
        ("day", 1),
        ("week", 7),
        ("month", 23),
        ("year", 23),
    ];
    for (app, path) in [
        (&one, "/v1/search"),
        (&one, "/v1/results"),
        (&one, "/api/v1/search"),
        (&three.search, "/v1/search"),
        (&three.results, "/v1/results"),
        (&three.web, "/api/v1/search"),
    ] {
        for (range, count) in expected {
            let body = app
                .get_json(&format!("{path}?q=zebrafill&time_range={range}"), 200)
                .await;
            assert_eq!(total(&body), count, "{} {path} {range}", app.address);
        }
    }
    // Undated documents never fall in a range.
    let body = one
        .get_json("/api/v1/search?q=index&time_range=year", 200)
        .await;
    assert_eq!(total(&body), 0, "{body}");
    let body = one.get_json("/api/v1/search?q=index", 200).await;
    assert!(total(&body) > 0);
}

#[tokio::test]
async fn v2_cursors_carry_the_options_and_refuse_others() {
    let data = fixture_data_dir();
    let one = spawn_one_process(data.path()).await;
    let first = one
        .get_json(
            "/api/v2/search?q=zebrafill&per_page=3&time_range=week&safe=strict&lang=en&engines=local",
            200,
        )
        .await;
    let mut urls = result_urls(&first);
    let mut cursor = first["next_cursor"].as_str().unwrap().to_owned();
    loop {
        let body = one
            .get_json(&format!("/api/v2/search?cursor={cursor}"), 200)
            .await;
        urls.extend(result_urls(&body));
        match body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    urls.sort();
    let expected: Vec<String> = (0..7)
        .map(|i| format!("https://filler.example.org/{i}"))
        .collect();
    assert_eq!(urls, expected, "a week's fillers, each once, over 3 pages");

    let cursor = first["next_cursor"].as_str().unwrap();
    for (agreeing, ok) in [
        ("time_range=week", true),
        ("safe=strict&lang=en&engines=local", true),
        ("time_range=", true),
        ("time_range=day", false),
        ("safe=off", false),
        ("lang=de", false),
        ("engines=local,other", false),
    ] {
        let response = one
            .get(&format!("/api/v2/search?cursor={cursor}&{agreeing}"))
            .await;
        if ok {
            assert_eq!(response.status(), 200, "{agreeing}");
        } else {
            assert_eq!(response.status(), 400, "{agreeing}");
            let body: Value = response.json().await.unwrap();
            assert!(
                body["code"] == "invalid_cursor" || body["param"] == "engines",
                "{agreeing}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn engines_are_checked_against_the_configured_ones_by_every_service() {
    let data = fixture_data_dir();
    let one = spawn_one_process(data.path()).await;
    let three = spawn_three(data.path()).await;
    for (app, path) in [
        (&one, "/v1/search"),
        (&one, "/v1/results"),
        (&one, "/api/v2/search"),
        (&three.search, "/v2/search"),
        (&three.results, "/v1/results"),
        (&three.web, "/api/v1/search"),
    ] {
        let context = format!("{} {path}", app.address);
        let body = app
            .get_json(&format!("{path}?q=index&engines=local"), 200)
            .await;
        assert_eq!(body["engines"][0]["name"], "local", "{context}");
        let response = app.get(&format!("{path}?q=index&engines=local,web")).await;
        assert_eq!(response.status(), 400, "{context}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "invalid_parameter", "{context}");
        assert_eq!(body["param"], "engines", "{context}");
        assert_eq!(
            body["detail"],
            "parameter `engines` names `web`, which is not a configured engine; the engines are `local`",
            "{context}"
        );
    }
}

#[tokio::test]
async fn the_page_keeps_the_options_in_its_form_and_links() {
    let data = fixture_data_dir();
    let app = spawn_one_process(data.path()).await;
    let (status, html) = app
        .get_html("/search?q=zebrafill&per_page=2&time_range=week&lang=en&safe=off")
        .await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"<option value="week" selected>Past week</option>"#),
        "{html}"
    );
    for hidden in [
        r#"<input type="hidden" name="per_page" value="2">"#,
        r#"<input type="hidden" name="safe" value="off">"#,
        r#"<input type="hidden" name="lang" value="en">"#,
    ] {
        assert!(html.contains(hidden), "{hidden}");
    }
    assert!(
        html.contains(
            r#"href="/search?q=zebrafill&#38;page=2&#38;per_page=2&#38;safe=off&#38;time_range=week&#38;lang=en""#
        ),
        "{html}"
    );
    assert!(
        html.contains("the engines estimate about 7 matches"),
        "{html}"
    );

    // `json`, `csv` and `rss` are SearXNG's API (searxng.rs); a format
    // nobody answers in is refused on the page.
    let (status, html) = app.get_html("/search?q=x&format=xml").await;
    assert_eq!(status, 400);
    assert!(
        html.contains("parameter `format` must be one of `json`, `csv`, `rss`, `html`, got `xml`"),
        "{html}"
    );
    let (status, html) = app
        .get_html("/search?q=x&time_range=fortnight&lang=xx")
        .await;
    assert_eq!(status, 400);
    assert!(
        html.contains("parameter `time_range` must be one of"),
        "{html}"
    );
}
