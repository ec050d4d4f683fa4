//! Upstream text never reaches a page unescaped.

use crate::helpers::*;

const RAW_MARKUP: &[&str] = &[
    "<script>alert(1)",
    "<img src=x",
    "\"><img",
    "onerror=alert(1)>",
];

#[tokio::test]
async fn hostile_titles_and_bodies_are_escaped_on_the_page() {
    let data = fixture_data_dir();
    let three = spawn_three(data.path()).await;
    for path in ["/search?q=hostile", "/hostile", "/search?q=alert"] {
        let (status, html) = three.web.get_html(path).await;
        assert_eq!(status, 200);
        assert!(
            html.contains("Hostile &#60;script&#62;alert(1)&#60;/script&#62;")
                || html.contains("Hostile &lt;script&gt;alert(1)&lt;/script&gt;"),
            "title shown escaped on {path}: {html}"
        );
        for raw in RAW_MARKUP {
            assert!(!html.contains(raw), "{raw:?} unescaped on {path}");
        }
    }
}

#[tokio::test]
async fn snippet_html_in_json_is_escaped() {
    let data = fixture_data_dir();
    let app = spawn_one_process(data.path()).await;
    let body = app.get_json("/api/v1/search?q=hostile", 200).await;
    let hit = &body["results"][0];
    assert_eq!(hit["url"], "https://evil.example.org/page");
    assert_eq!(hit["title"], XSS_TITLE, "JSON carries the plain text");
    let html = hit["snippet_html"].as_str().unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    assert!(html.contains("<mark>hostile</mark>"), "{html}");
    for raw in RAW_MARKUP {
        assert!(!html.contains(raw), "{raw:?} in {html}");
    }
}

#[tokio::test]
async fn the_query_itself_is_escaped_where_it_is_echoed() {
    let data = fixture_data_dir();
    let app = spawn_one_process(data.path()).await;
    let query = "%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    for path in [format!("/search?q={query}"), format!("/{query}")] {
        let (status, html) = app.get_html(&path).await;
        assert_eq!(status, 200);
        assert!(!html.contains("<script>"), "{path}: {html}");
        assert!(!html.contains("\"><script"), "{path}");
    }
}

#[tokio::test]
async fn pages_forbid_scripts_framing_and_referrers() {
    let data = fixture_data_dir();
    let app = spawn_one_process(data.path()).await;
    let response = app.get("/search?q=hostile").await;
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    // Pages run their own script and ask their own server, nothing else.
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self';")
            && csp.contains("connect-src 'self';")
            && !csp.contains("unsafe")
            && !csp.contains("http"),
        "{csp}"
    );
    // What is not a page may run nothing.
    let api = app.get("/api/v2/search?q=hostile").await;
    let csp = api.headers()["content-security-policy"].to_str().unwrap();
    assert!(!csp.contains("script-src"), "{csp}");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let css = app.get("/static/trawl.css").await;
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}
