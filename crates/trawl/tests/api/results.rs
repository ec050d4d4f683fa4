//! The results pipeline end to end: three upstream engines (loopback doubles
//! shaped like Meilisearch, SearXNG and Hacker News' Algolia API) return an
//! overlapping result set with tracking parameters, redirect wrappers, an
//! `http` twin and hostile markup; trawl, as three processes, answers it
//! cleaned, merged and ranked as docs/results.md says, in every format.

use axum::Router;
use axum::routing::get;
use serde_json::Value;
use trawl::Role;
use trawl::config::Config;
use url::Url;

use crate::helpers::*;

/// Meilisearch's `/indexes/{uid}/search` answer, highlighted (`_formatted`).
const MEILI: &str = r#"{"hits":[{"id":1,"title":"The Rust Programming Language","url":"https://doc.rust-lang.org/book/?utm_source=docs&utm_medium=search","_formatted":{"id":"1","title":"The Rust Programming Language","content":"The <em>Rust</em> book: &lt;script&gt;alert('x')&lt;/script&gt; teaches <em>Rust</em> from the ground up, with projects."}},{"id":2,"title":"r/rust","url":"https://www.reddit.com/r/rust/?share_id=zz9","_formatted":{"id":"2","title":"r/rust","content":"A place for all things related to the <em>Rust</em> programming language."}},{"id":3,"title":"Rust pins","url":"https://www.pinterest.com/pin/1234/","_formatted":{"id":"3","title":"Rust pins","content":"Pins about <em>rust</em>"}}],"query":"rust","processingTimeMs":1,"limit":10,"offset":0,"estimatedTotalHits":3}"#;

/// A SearXNG instance's `/search?format=json` answer.
const SEARXNG: &str = r#"{"query":"rust","number_of_results":0,"results":[{"url":"https://www.google.com/url?q=https%3A%2F%2Fen.wikipedia.org%2Fwiki%2FRust_(programming_language)&sa=U&usg=AOvVaw1","title":"Rust (programming language) - Wikipedia","content":"Rust is a general-purpose programming language emphasizing performance, type safety, and concurrency.","engine":"google","parsed_url":["https","www.google.com","/url","","q=…",""],"engines":["google"],"positions":[1],"score":1.0,"category":"general"},{"url":"http://doc.rust-lang.org/book","title":"The Rust Programming Language - The Rust Programming Language","content":"by Steve Klabnik &amp; Carol Nichols","engine":"duckduckgo","engines":["duckduckgo"],"positions":[2],"score":0.5,"category":"general"},{"url":"https://old.reddit.com/r/rust#comments","title":"The Rust Programming Language","content":"","engine":"bing","engines":["bing"],"positions":[3],"score":0.33,"category":"general"}],"answers":[],"corrections":[],"infoboxes":[],"suggestions":[],"unresponsive_engines":[]}"#;

/// Algolia's Hacker News `/api/v1/search` answer.
const HN: &str = r#"{"exhaustive":{"nbHits":false,"typo":false},"exhaustiveNbHits":false,"hits":[{"_highlightResult":{"title":{"matchLevel":"full","matchedWords":["rust"],"value":"<em>Rust</em> (programming language)"}},"author":"dhruvkar","created_at_i":1431716993,"num_comments":12,"objectID":"1","points":50,"title":"Rust (programming language)","url":"https://en.wikipedia.org/wiki/Rust_(programming_language)?fbclid=IwAR0x"},{"_highlightResult":{"title":{"matchLevel":"full","matchedWords":["rust"],"value":"Announcing <em>Rust</em> 1.0"}},"author":"steveklabnik","created_at_i":1431716993,"num_comments":557,"objectID":"2","points":1757,"title":"Announcing Rust 1.0","url":"https://duckduckgo.com/l/?uddg=https%3A%2F%2Fblog.rust-lang.org%2F2015%2F05%2F15%2FRust-1.0.html&rut=abc"}],"hitsPerPage":10,"nbHits":2,"nbPages":1,"page":0,"params":"query=rust","processingTimeMS":2,"query":"rust"}"#;

async fn upstreams() -> Url {
    let json = |body: &'static str| {
        get(move || async move { ([("content-type", "application/json")], body) })
    };
    let app = Router::new()
        .route("/indexes/docs/search", json(MEILI))
        .route("/searx/search", json(SEARXNG))
        .route("/api/v1/search", json(HN));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url.parse().unwrap()
}

fn config(data_dir: &std::path::Path, upstream: &Url) -> Config {
    let engines: Config = toml::from_str(&format!(
        r#"
[[engines]]
name = "docs"
type = "json"
weight = 2.0
url_template = "{upstream}indexes/docs/search?q={{query}}&offset={{offset}}&limit={{per_page}}"
results_pointer = "/hits"
title_pointer = "/title"
url_pointer = "/url"
snippet_pointer = "/_formatted/content"
total_pointer = "/estimatedTotalHits"

[[engines]]
name = "searx"
type = "searxng"
weight = 0.5
base_url = "{upstream}searx/"

[[engines]]
name = "hn"
type = "hackernews"
base_url = "{upstream}api/v1/search"

[[results.hostnames]]
match = '^(www\.)?reddit\.com$'
action = "rewrite"
replacement = "old.reddit.com"

[[results.hostnames]]
match = '(^|\.)pinterest\.[a-z.]+$'
action = "remove"

[[results.hostnames]]
match = '(^|\.)wikipedia\.org$'
action = "boost"
factor = 1.25
"#
    ))
    .unwrap();
    Config {
        engines: engines.engines,
        results: engines.results,
        ..test_config(data_dir)
    }
}

/// What docs/results.md's formula gives for the fixture:
/// - the book: docs at 1 (weight 2) and searx at 2 (0.5): 2 × (2 + 0.25) = 4.5
/// - Wikipedia: searx at 1 and hn at 1, boosted ×1.25: 2 × (0.5 + 1) × 1.25 = 3.75
/// - r/rust: docs at 2, searx at 3: 2 × (1 + 0.5/3) = 2.33
/// - the blog: hn at 2: 1 × 0.5 = 0.5
/// - Pinterest: removed.
const EXPECTED: &[(&str, &[&str], f64)] = &[
    ("https://doc.rust-lang.org/book/", &["docs", "searx"], 4.5),
    (
        "https://en.wikipedia.org/wiki/Rust_(programming_language)",
        &["hn", "searx"],
        3.75,
    ),
    (
        "https://old.reddit.com/r/rust/",
        &["docs", "searx"],
        7.0 / 3.0,
    ),
    (
        "https://blog.rust-lang.org/2015/05/15/Rust-1.0.html",
        &["hn"],
        0.5,
    ),
];

fn assert_expected(body: &Value) {
    let results = body["results"].as_array().unwrap();
    let got: Vec<(String, Vec<String>, f64)> = results
        .iter()
        .map(|r| {
            (
                r["url"].as_str().unwrap().to_owned(),
                r["engines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap().to_owned())
                    .collect(),
                r["score"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), EXPECTED.len(), "{got:?}");
    for ((url, engines, score), (want_url, want_engines, want_score)) in got.iter().zip(EXPECTED) {
        assert_eq!(url, want_url);
        assert_eq!(engines, want_engines, "{url}");
        assert!(
            (score - want_score).abs() < 1e-4,
            "{url}: {score} vs {want_score}"
        );
    }
    let ranks: Vec<u64> = results
        .iter()
        .map(|r| r["rank"].as_u64().unwrap())
        .collect();
    assert_eq!(ranks, [1, 2, 3, 4]);
    // The longest snippet of the book's two, its markup reduced to text and
    // its entities decoded, then escaped once on the way out.
    let book = &results[0];
    assert_eq!(
        book["snippet"],
        "The Rust book: <script>alert('x')</script> teaches Rust from the ground up, with projects."
    );
    let html = book["snippet_html"].as_str().unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.starts_with("The <mark>Rust</mark> book"), "{html}");
    assert_eq!(book["title"], "The Rust Programming Language");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_engine_result_set_comes_back_cleaned_merged_and_ranked_in_every_format() {
    let upstream = upstreams().await;
    let data = fixture_data_dir();
    let config = config(data.path(), &upstream);
    let three = spawn_three_with(&config).await;

    // JSON, from the web API and from the results service alike.
    assert_expected(&three.web.get_json("/api/v1/search?q=rust", 200).await);
    assert_expected(&three.results.get_json("/v1/results?q=rust", 200).await);
    // POST /v1/results manipulates the search service's raw answer the same
    // way (the engine weights travel in it).
    let raw = three.search.get_json("/v1/search?q=rust", 200).await;
    assert_eq!(
        raw["results"].as_array().unwrap().len(),
        8,
        "raw: 3 + 3 + 2"
    );
    let posted = three
        .results
        .client
        .post(three.results.url("/v1/results"))
        .json(&raw)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    assert_expected(&posted.json().await.unwrap());

    // CSV, read back with a real CSV reader.
    for (path, accept) in [
        ("/api/v1/search?q=rust&format=csv", "*/*"),
        ("/api/v2/search?q=rust", "text/csv"),
        (
            "/v1/results?q=rust",
            "text/csv;q=0.9, application/json;q=0.1",
        ),
    ] {
        let app = if path.starts_with("/v1") {
            &three.results
        } else {
            &three.web
        };
        let response = app
            .client
            .get(app.url(path))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/csv; charset=utf-8; header=present",
            "{path}"
        );
        let body = response.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(body.as_bytes());
        assert_eq!(
            reader.headers().unwrap().iter().collect::<Vec<_>>(),
            ["rank", "title", "url", "snippet", "engines", "score"]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let got: Vec<(&str, &str, &str)> = rows.iter().map(|r| (&r[0], &r[2], &r[4])).collect();
        let want: Vec<(String, &str, String)> = EXPECTED
            .iter()
            .enumerate()
            .map(|(i, (url, engines, _))| ((i + 1).to_string(), *url, engines.join(" ")))
            .collect();
        let want: Vec<(&str, &str, &str)> = want
            .iter()
            .map(|(r, u, e)| (r.as_str(), *u, e.as_str()))
            .collect();
        assert_eq!(got, want, "{path}");
        assert_eq!(
            &rows[0][3],
            "The Rust book: <script>alert('x')</script> teaches Rust from the ground up, with projects.",
            "CSV carries text, quoted where needed"
        );
    }

    // RSS 2.0, read back with a real feed parser.
    for (app, path) in [
        (&three.web, "/api/v1/search?q=rust&format=rss"),
        (&three.results, "/v1/results?q=rust&format=rss"),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/rss+xml; charset=utf-8"
        );
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("<script"),
            "{path}: escaped, not markup: {body}"
        );
        let feed = feed_rs::parser::parse(body.as_bytes()).expect("a valid feed");
        assert_eq!(feed.feed_type, feed_rs::model::FeedType::RSS2);
        assert_eq!(feed.title.unwrap().content, "rust – trawl");
        let links: Vec<&str> = feed
            .entries
            .iter()
            .map(|e| e.links[0].href.as_str())
            .collect();
        let want: Vec<&str> = EXPECTED.iter().map(|(url, ..)| *url).collect();
        assert_eq!(links, want, "{path}");
        let description = feed.entries[0].summary.as_ref().unwrap().content.clone();
        assert!(
            description.contains("&lt;script&gt;") && description.contains("<mark>Rust</mark>"),
            "the description is the escaped, highlighted snippet: {description}"
        );
        let categories: Vec<&str> = feed.entries[0]
            .categories
            .iter()
            .map(|c| c.term.as_str())
            .collect();
        assert_eq!(categories, ["docs", "searx"]);
    }

    // The HTML page, from the API by `format` and from a browser's Accept.
    for (path, accept) in [
        ("/api/v1/search?q=rust&format=html", "*/*"),
        (
            "/api/v1/search?q=rust",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("/search?q=rust", "*/*"),
    ] {
        let response = three
            .web
            .client
            .get(three.web.url(path))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let page = response.text().await.unwrap();
        // The page's own script, and no other.
        assert_eq!(page.matches("<script").count(), 1, "{path}");
        assert!(page.contains(r#"<script src="/static/trawl.js" defer></script>"#));
        assert!(
            page.contains("&#60;script&#62;alert") || page.contains("&lt;script&gt;alert"),
            "{path}: the snippet's markup shown as text: {page}"
        );
        let positions: Vec<usize> = EXPECTED
            .iter()
            .map(|(url, ..)| {
                page.find(&format!("href=\"{url}\""))
                    .unwrap_or_else(|| panic!("{url} on {path}"))
            })
            .collect();
        assert!(positions.is_sorted(), "{path}: in rank order");
        assert!(!page.contains("pinterest"), "{path}");
    }

    // What cannot be produced is refused, with the formats that can.
    let response = three
        .web
        .client
        .get(three.web.url("/api/v2/search?q=rust"))
        .header("accept", "image/png")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 406);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "not_acceptable");
    let problem = three
        .results
        .get_json("/v1/results?q=rust&format=html", 400)
        .await;
    assert_eq!(problem["param"], "format");
}

#[tokio::test]
async fn bad_hostname_rules_stop_the_start_with_the_rule_named() {
    let data = fixture_data_dir();
    for (rule, message) in [
        (
            "match = '('\naction = \"remove\"",
            "rule 1 (`(`): not a valid regular expression",
        ),
        (
            "match = 'x'\naction = \"rewrite\"",
            "`rewrite` needs a `replacement`",
        ),
        (
            "match = 'x'\naction = \"boost\"\nfactor = 0.5",
            "greater than 1",
        ),
        (
            "match = 'x'\naction = \"demote\"\nfactor = 2.0",
            "between 0 and 1",
        ),
        (
            "match = 'x'\naction = \"remove\"\nfactor = 2.0",
            "only `boost` and `demote`",
        ),
    ] {
        let config: Config = toml::from_str(&format!("[[results.hostnames]]\n{rule}\n")).unwrap();
        let config = Config {
            results: config.results,
            ..test_config(data.path())
        };
        let error = trawl::Application::build(&config, Role::Results, Box::new(()))
            .await
            .err()
            .expect("refused");
        assert!(error.to_string().contains(message), "{rule}: {error}");
    }
}
