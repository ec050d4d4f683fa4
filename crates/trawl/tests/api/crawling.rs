//! Sources and crawls, end to end: a generated site served on loopback by
//! the test (it counts every request), trawl crawling it through its
//! sources API, and what search finds after.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use trawl::{Config, Role};

use crate::helpers::*;
use crate::processes::Writer;

/// Pages of the generated site's `/docs/`.
const PAGES: usize = 2000;

/// One page of the site.
#[derive(Clone)]
struct Page {
    status: u16,
    content_type: &'static str,
    body: String,
    /// Listed in the sitemap.
    listed: bool,
}

#[derive(Default)]
struct SiteState {
    pages: BTreeMap<String, Page>,
    /// robots.txt's status and body, when not the default.
    robots: Option<(u16, String)>,
    /// Requests by path, and by path and answer status.
    requests: HashMap<String, u64>,
    statuses: HashMap<u16, u64>,
}

/// A site on loopback: a sitemap index (one plain sitemap, one gzip), an
/// Atom feed, robots.txt disallowing `/private/`, redirects (one to
/// 169.254.169.254), 404s, a slow page, an oversized page, duplicate and
/// canonical pages, a `noindex` page, an image; ETags and 304s.
#[derive(Clone)]
struct Site {
    base: String,
    state: Arc<Mutex<SiteState>>,
}

fn html(title: &str, body: &str, head: &str) -> String {
    format!(
        "<!doctype html><html><head><title>{title}</title>{head}</head>\
         <body><main><h1>{title}</h1><p>{body}</p></main></body></html>"
    )
}

fn page_body(i: usize, word: &str) -> String {
    html(
        &format!("Page {i}"),
        &format!("This is page {i} of the loopback site: {word}{i} and wombat."),
        "",
    )
}

impl Site {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(SiteState::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let site = Site { base, state };
        {
            let mut s = site.state.lock().unwrap();
            let ok = |body: String| Page {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body,
                listed: true,
            };
            for i in 0..PAGES {
                s.pages
                    .insert(format!("/docs/page-{i}.html"), ok(page_body(i, "zebra")));
            }
            for i in 0..5 {
                s.pages.insert(
                    format!("/private/secret-{i}.html"),
                    ok(html("Secret", "classified", "")),
                );
                s.pages.insert(
                    format!("/missing-{i}.html"),
                    Page {
                        status: 404,
                        ..ok("gone".into())
                    },
                );
            }
            s.pages.insert(
                "/dup-a.html".into(),
                ok(html("Twins", "identical twin text", "")),
            );
            s.pages.insert(
                "/dup-b.html".into(),
                ok(html("Twins", "identical twin text", "")),
            );
            s.pages.insert(
                "/canon.html".into(),
                ok(html(
                    "Canon",
                    "a copy of page 0",
                    "<link rel=\"canonical\" href=\"/docs/page-0.html\">",
                )),
            );
            s.pages.insert(
                "/noindex.html".into(),
                ok(html(
                    "Hidden",
                    "noindexedword",
                    "<meta name=\"robots\" content=\"noindex\">",
                )),
            );
            s.pages.insert(
                "/image.png".into(),
                Page {
                    content_type: "image/png",
                    ..ok("\u{89}PNG".into())
                },
            );
            s.pages.insert(
                "/big.html".into(),
                ok(html("Big", &"x".repeat(6 * 1024 * 1024), "")),
            );
            for path in ["/slow.html", "/redirect-3", "/to-metadata"] {
                s.pages.insert(path.into(), ok(String::new()));
            }
        }
        let router = axum::Router::new().fallback(serve).with_state(site.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        site
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn requests_under(&self, prefix: &str) -> u64 {
        let s = self.state.lock().unwrap();
        s.requests
            .iter()
            .filter(|(p, _)| p.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }

    fn statuses(&self) -> HashMap<u16, u64> {
        self.state.lock().unwrap().statuses.clone()
    }

    fn reset_counts(&self) {
        let mut s = self.state.lock().unwrap();
        s.requests.clear();
        s.statuses.clear();
    }

    fn edit(&self, path: &str, change: impl FnOnce(&mut Page)) {
        change(self.state.lock().unwrap().pages.get_mut(path).unwrap());
    }

    /// robots.txt answers `status` with `body` (`None`: as at first).
    fn robots(&self, robots: Option<(u16, String)>) {
        self.state.lock().unwrap().robots = robots;
    }
}

fn etag_of(body: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    format!("\"{:x}\"", hasher.finish())
}

fn sitemap(urls: impl Iterator<Item = String>) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for url in urls {
        xml.push_str(&format!("<url><loc>{url}</loc></url>\n"));
    }
    xml.push_str("</urlset>\n");
    xml
}

async fn serve(State(site): State<Site>, uri: axum::http::Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_owned();
    let response = answer(&site, &path, &headers).await;
    let mut s = site.state.lock().unwrap();
    *s.requests.entry(path).or_default() += 1;
    *s.statuses.entry(response.status().as_u16()).or_default() += 1;
    response
}

async fn answer(site: &Site, path: &str, headers: &HeaderMap) -> Response {
    let xml = |body: String| ([(header::CONTENT_TYPE, "application/xml")], body).into_response();
    match path {
        "/robots.txt" if site.state.lock().unwrap().robots.is_some() => {
            let (status, body) = site.state.lock().unwrap().robots.clone().unwrap();
            return (StatusCode::from_u16(status).unwrap(), body).into_response();
        }
        "/sitemap-slowish.xml" => {
            return xml(sitemap(
                (0..6).map(|i| site.url(&format!("/slowish-{i}.html"))),
            ));
        }
        slowish if slowish.starts_with("/slowish-") => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            return html("Slowish", &format!("a slowish page {slowish}"), "").into_response();
        }
        "/sitemap-small.xml" => {
            return xml(sitemap(
                (0..5).map(|i| site.url(&format!("/docs/page-{i}.html"))),
            ));
        }
        "/robots.txt" => {
            return format!(
                "User-agent: *\nDisallow: /private/\n\nSitemap: {}\n",
                site.url("/sitemap.xml")
            )
            .into_response();
        }
        "/sitemap.xml" => {
            return xml(format!(
                "<?xml version=\"1.0\"?><sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
                 <sitemap><loc>{}</loc></sitemap><sitemap><loc>{}</loc></sitemap></sitemapindex>",
                site.url("/sitemap-1.xml"),
                site.url("/sitemap-2.xml.gz")
            ));
        }
        "/sitemap-1.xml" | "/sitemap-2.xml.gz" => {
            let listed: Vec<String> = {
                let s = site.state.lock().unwrap();
                s.pages
                    .iter()
                    .filter(|(_, p)| p.listed)
                    .map(|(path, _)| site.url(path))
                    .collect()
            };
            let half = listed.len() / 2;
            if path == "/sitemap-1.xml" {
                return xml(sitemap(listed[..half].iter().cloned()));
            }
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(sitemap(listed[half..].iter().cloned()).as_bytes())
                .unwrap();
            return (
                [(header::CONTENT_TYPE, "application/gzip")],
                gz.finish().unwrap(),
            )
                .into_response();
        }
        "/feed.atom" => {
            let entries: String = (0..10)
                .map(|i| {
                    format!(
                        "<entry><title>Page {i}</title><id>urn:page:{i}</id>\
                         <updated>2026-11-01T00:00:00Z</updated>\
                         <link rel=\"alternate\" href=\"/docs/page-{i}.html\"/></entry>"
                    )
                })
                .collect();
            return (
                [(header::CONTENT_TYPE, "application/atom+xml")],
                format!(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
                     <feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Loopback</title>\
                     <id>urn:loopback</id><updated>2026-11-01T00:00:00Z</updated>{entries}</feed>"
                ),
            )
                .into_response();
        }
        "/dump.jsonl.gz" => {
            use std::io::Write;
            let lines: String = (0..30)
                .map(|i| {
                    format!(
                        "{}\n",
                        json!({"id": format!("d{i}"), "title": format!("Dump {i}"),
                               "url": format!("https://dump.example.org/{i}"),
                               "body": format!("platypus{i} from the dump")})
                    )
                })
                .collect();
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(format!("{lines}not json\n").as_bytes())
                .unwrap();
            return (
                [(header::CONTENT_TYPE, "application/gzip")],
                gz.finish().unwrap(),
            )
                .into_response();
        }
        "/slow.html" => {
            tokio::time::sleep(Duration::from_secs(4)).await;
            return html("Slow", "too slow", "").into_response();
        }
        "/redirect-3" => {
            return (
                StatusCode::MOVED_PERMANENTLY,
                [(header::LOCATION, "/docs/page-3.html")],
            )
                .into_response();
        }
        "/to-metadata" => {
            return (
                StatusCode::FOUND,
                [(header::LOCATION, "http://169.254.169.254/latest/meta-data/")],
            )
                .into_response();
        }
        _ => {}
    }
    let page = site.state.lock().unwrap().pages.get(path).cloned();
    let Some(page) = page else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if page.status != 200 {
        return StatusCode::from_u16(page.status).unwrap().into_response();
    }
    let etag = etag_of(&page.body);
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.to_str().unwrap_or_default() == etag)
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, page.content_type.to_owned()),
            (header::ETAG, etag),
        ],
        page.body,
    )
        .into_response()
}

/// trawl in one process, allowed to crawl loopback, politeness off.
async fn crawling_trawl(open_loopback: bool) -> (tempfile::TempDir, Config, TestApp, Writer) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    if open_loopback {
        config.crawl.allow_networks = vec!["127.0.0.0/8".parse().unwrap()];
    }
    config.crawl.delay_ms = 0;
    config.crawl.page_timeout_ms = 1_500;
    config.crawl.schedule_every_s = 1;
    let app = spawn(&config, Role::All).await;
    let key = make_key(&config, "crawler tests").await;
    let writer = Writer::new(&app.address, &key);
    (dir, config, app, writer)
}

impl Writer {
    fn json(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    async fn add_source(&self, body: Value) -> Value {
        let response = self
            .json(reqwest::Method::POST, "/v1/sources")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// Crawls a source now and waits for the crawl, then for the index
    /// jobs it queued; the source after.
    async fn crawl(&self, source: i64) -> Value {
        let response = self
            .post(&format!("/v1/sources/{source}/crawl"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let job: Value = response.json().await.unwrap();
        assert_eq!(job["kind"], "crawl");
        let id = job["id"].as_i64().unwrap();
        self.wait_for(id, Duration::from_secs(120), |j| {
            j["state"] != "queued" && j["state"] != "running"
        })
        .await;
        self.settled().await;
        let response = self
            .get(&format!("/v1/sources/{source}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Waits until no job is queued or running.
    async fn settled(&self) {
        for _ in 0..1200 {
            let mut busy = false;
            for state in ["queued", "running"] {
                let page: Value = self
                    .get(&format!("/v1/jobs?state={state}"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                busy |= !page["jobs"].as_array().unwrap().is_empty();
            }
            if !busy {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("jobs never settled");
    }
}

async fn found(app: &TestApp, query: &str) -> Vec<String> {
    let body = app
        .get_json(&format!("/api/v1/search?q={query}&per_page=10"), 200)
        .await;
    result_urls(&body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sitemap_is_crawled_politely_then_recrawled_with_only_the_changes() {
    let site = Site::start().await;
    let (_dir, _config, app, writer) = crawling_trawl(true).await;
    let source = writer
        .add_source(json!({"kind": "sitemap", "url": site.url("/sitemap.xml"), "refresh": "6h"}))
        .await;
    let id = source["id"].as_i64().unwrap();
    assert_eq!(source["refresh"], "6h");

    let first = writer.crawl(id).await;
    let run = &first["runs"][0];
    assert_eq!(run["state"], "succeeded", "{first}");
    // Every /docs/ page, and dup-a (its twin and the canonical copy are
    // duplicates); nothing disallowed, missing, slow, big, hidden, or not
    // text.
    let expected = PAGES as u64 + 1;
    assert_eq!(run["pages"]["added"], expected, "{run}");
    assert_eq!(first["pages"], expected);
    assert_eq!(
        site.requests_under("/private/"),
        0,
        "robots.txt disallows /private/: never requested"
    );
    let errors = &run["errors"];
    assert_eq!(errors["timeout"], 1, "{run}");
    assert_eq!(errors["too_large"], 1, "{run}");
    assert_eq!(
        errors["refused"], 1,
        "the redirect to 169.254.169.254: {run}"
    );
    assert_eq!(errors["type"], 1, "the image: {run}");
    assert_eq!(documents_in_index(&app).await, expected);
    let page17 = site.url("/docs/page-17.html");
    assert_eq!(found(&app, "zebra17").await, std::slice::from_ref(&page17));
    assert!(found(&app, "noindexedword").await.is_empty());
    assert!(found(&app, "classified").await.is_empty());
    assert_eq!(found(&app, "identical+twin").await.len(), 1);

    // Edits: one page changes, one goes (404), one leaves the sitemap.
    site.edit("/docs/page-5.html", |p| p.body = page_body(5, "giraffe"));
    site.edit("/docs/page-6.html", |p| p.status = 404);
    site.edit("/docs/page-7.html", |p| p.listed = false);
    site.reset_counts();
    let second = writer.crawl(id).await;
    let run = &second["runs"][0];
    assert_eq!(run["state"], "succeeded", "{second}");
    assert_eq!(run["pages"]["added"], 0, "{run}");
    assert_eq!(run["pages"]["changed"], 1, "{run}\nthe first: {first}");
    assert_eq!(run["pages"]["removed"], 2, "{run}");
    let statuses = site.statuses();
    // Every indexed page was asked for conditionally, and the unchanged
    // answered 304: the /docs/ pages but the three edited, and dup-a.
    // (Pages fetched but not indexed — dup-b, the canonical copy, the
    // noindex page — are fetched whole: whether they are still
    // duplicates, or still hidden, depends on more than their bytes.)
    let unchanged = PAGES as u64 - 3 + 1;
    assert_eq!(
        statuses.get(&304).copied().unwrap_or(0),
        unchanged,
        "{statuses:?}"
    );
    assert_eq!(
        site.requests_under("/docs/"),
        PAGES as u64,
        "each listed page once (page-7 left the sitemap; /redirect-3 leads to page-3 again)"
    );
    assert_eq!(
        statuses.get(&404).copied().unwrap_or(0),
        5 + 1,
        "{statuses:?}"
    );
    assert_eq!(run["pages"]["unchanged"], unchanged, "{run}");
    assert_eq!(site.requests_under("/private/"), 0);
    assert_eq!(documents_in_index(&app).await, expected - 2);
    assert_eq!(
        found(&app, "giraffe5").await,
        [site.url("/docs/page-5.html")]
    );
    assert!(found(&app, "zebra5").await.is_empty());
    assert!(found(&app, "zebra6").await.is_empty());
    assert!(found(&app, "zebra7").await.is_empty());
    assert_eq!(found(&app, "zebra17").await, [page17]);
    assert_eq!(second["runs"].as_array().unwrap().len(), 2);
    assert_eq!(second["runs"][1]["job"], first["runs"][0]["job"]);

    // Removing the source removes its documents, as a job.
    let response = writer
        .delete(&format!("/v1/sources/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["kind"], "remove");
    writer.succeeded(job["id"].as_i64().unwrap()).await;
    assert_eq!(documents_in_index(&app).await, 0);
    let gone = writer
        .get(&format!("/v1/sources/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}

async fn documents_in_index(app: &TestApp) -> u64 {
    crate::processes::documents_in(&app.address).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_and_sites_are_crawled_within_their_scope() {
    let site = Site::start().await;
    let (_dir, _config, app, writer) = crawling_trawl(true).await;
    let feed = writer
        .add_source(json!({"kind": "feed", "url": site.url("/feed.atom")}))
        .await;
    let crawled = writer.crawl(feed["id"].as_i64().unwrap()).await;
    assert_eq!(crawled["runs"][0]["pages"]["added"], 10, "{crawled}");
    // A crawl fetches at most its source's max_pages.
    let capped = writer
        .add_source(json!({"kind": "feed", "url": site.url("/feed.atom"), "max_pages": 3}))
        .await;
    site.reset_counts();
    let crawled = writer.crawl(capped["id"].as_i64().unwrap()).await;
    assert_eq!(crawled["runs"][0]["pages"]["added"], 3, "{crawled}");
    assert_eq!(site.requests_under("/docs/"), 3);
    // A site from one page: its links, within /docs/, to depth 0 only.
    site.edit("/docs/page-100.html", |p| {
        p.body = html(
            "Hub",
            "<a href=\"page-101.html\">a</a> <a href=\"/private/secret-1.html\">s</a> \
             <a href=\"/dup-a.html\">out of scope</a> <a href=\"page-102.html#x\">b</a>",
            "",
        );
    });
    let source = writer
        .add_source(
            json!({"kind": "site", "start_urls": [site.url("/docs/page-100.html")],
                           "max_depth": 1, "exclude": ["*-102.html"]}),
        )
        .await;
    assert_eq!(source["scope"], json!([site.url("/docs/")]));
    site.reset_counts();
    let crawled = writer.crawl(source["id"].as_i64().unwrap()).await;
    let run = &crawled["runs"][0];
    assert_eq!(run["pages"]["added"], 2, "page-100 and page-101: {run}");
    assert_eq!(site.requests_under("/docs/page-102"), 0, "excluded");
    assert_eq!(site.requests_under("/dup-a"), 0, "out of scope");
    assert_eq!(site.requests_under("/private/"), 0, "disallowed");
    assert_eq!(
        found(&app, "zebra101").await,
        [site.url("/docs/page-101.html")]
    );

    // A JSONL dump, gzip: its documents as they are; a bad line counted.
    let dump = writer
        .add_source(json!({"kind": "jsonl", "url": site.url("/dump.jsonl.gz")}))
        .await;
    let id = dump["id"].as_i64().unwrap();
    let crawled = writer.crawl(id).await;
    let run = &crawled["runs"][0];
    assert_eq!(run["pages"]["added"], 30, "{run}");
    assert_eq!(run["errors"]["invalid"], 1, "{run}");
    assert_eq!(
        found(&app, "platypus7").await,
        ["https://dump.example.org/7"]
    );
    let again = writer.crawl(id).await;
    assert_eq!(again["runs"][0]["pages"]["unchanged"], 30, "{again}");
    assert_eq!(again["runs"][0]["pages"]["added"], 0, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_crawl_of_a_private_address_fails_naming_it() {
    let site = Site::start().await;
    let (_dir, _config, _app, writer) = crawling_trawl(false).await;
    let source = writer
        .add_source(json!({"kind": "sitemap", "url": site.url("/sitemap.xml")}))
        .await;
    let crawled = writer.crawl(source["id"].as_i64().unwrap()).await;
    let run = &crawled["runs"][0];
    assert_eq!(run["state"], "failed", "{crawled}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("127.0.0.1 is not a public address"),
        "{error}"
    );
    assert!(error.contains("allow_networks"), "{error}");
    assert_eq!(run["pages"]["fetched"], 0, "no request was sent: {run}");
    let job = writer.job(run["job"].as_i64().unwrap()).await;
    assert_eq!(job["state"], "failed");
    assert!(
        job["last_error"].as_str().unwrap().contains("127.0.0.1"),
        "{job}"
    );
    assert_eq!(site.requests_under("/"), 0, "nothing was sent to it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_need_the_version_they_were_made_from() {
    let (_dir, _config, _app, writer) = crawling_trawl(true).await;
    let created = writer
        .json(reqwest::Method::POST, "/v1/sources")
        .json(&json!({"kind": "feed", "url": "https://example.org/feed.xml", "name": "Blog"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, "\"v1\"");
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let patch = |etag: Option<&str>, body: Value| {
        let mut request = writer
            .json(reqwest::Method::PATCH, &location)
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string());
        if let Some(etag) = etag {
            request = request.header("if-match", etag);
        }
        request.send()
    };
    let missing = patch(None, json!({"name": "x"})).await.unwrap();
    assert_eq!(missing.status(), 428);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["code"],
        "precondition_required"
    );
    // Two editors, one version: one change lands, the other is told.
    let (a, b) = tokio::join!(
        patch(Some(&etag), json!({"name": "Alice's"})),
        patch(Some(&etag), json!({"refresh": "1h"})),
    );
    let mut statuses = [a.unwrap(), b.unwrap()]
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect::<Vec<_>>();
    statuses.sort();
    assert_eq!(statuses, [200, 412]);
    let now = writer.get(&location).send().await.unwrap();
    assert_eq!(now.headers()["etag"], "\"v2\"");
    let stale = patch(Some(&etag), json!({"name": "late"})).await.unwrap();
    assert_eq!(stale.status(), 412);
    assert_eq!(
        stale.json::<Value>().await.unwrap()["code"],
        "precondition_failed"
    );
    let bad = patch(Some("\"v2\""), json!({"refresh": "5s"}))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["param"], "refresh");
    let put = writer
        .json(reqwest::Method::PUT, &location)
        .header("if-match", "\"v2\"")
        .json(&json!({"kind": "site", "start_urls": ["https://example.org/docs/"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(put.headers()["etag"], "\"v3\"");
    let put: Value = put.json().await.unwrap();
    assert_eq!(put["kind"], "site");
    assert!(put.get("url").is_none(), "{put}");
    let unknown = writer
        .json(reqwest::Method::POST, "/v1/sources")
        .json(&json!({"kind": "feed", "url": "https://example.org/", "colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 422);
    // What a stranger with a key could send: too many URLs, too long a
    // URL, too large a body.
    let many: Vec<String> = (0..101)
        .map(|i| format!("https://example.org/{i}"))
        .collect();
    let refused = writer
        .json(reqwest::Method::POST, "/v1/sources")
        .json(&json!({"kind": "site", "start_urls": many}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["param"],
        "start_urls"
    );
    let long = format!("https://example.org/{}", "a".repeat(2048));
    let refused = writer
        .json(reqwest::Method::POST, "/v1/sources")
        .json(&json!({"kind": "feed", "url": long}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let huge = writer
        .json(reqwest::Method::POST, "/v1/sources")
        .header("content-type", "application/json")
        .body(format!(
            "{{\"kind\": \"feed\", \"name\": \"{}\"}}",
            "x".repeat(3 << 20)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    let keyless = reqwest::Client::new()
        .get(format!("{}/v1/sources", writer.base))
        .send()
        .await
        .unwrap();
    assert_eq!(keyless.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_indexers_schedule_a_due_source_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.crawl.schedule_every_s = 1;
    let first = spawn(&config, Role::Indexer).await;
    let second = spawn(&config, Role::Indexer).await;
    let key = make_key(&config, "scheduler").await;
    let writer = Writer::new(&first.address, &key);
    // Refused by the guard: the crawl fails at once, which is all this
    // test needs (its job exists, once).
    let source = writer
        .add_source(json!({"kind": "feed", "url": "http://127.0.0.1:9/feed.xml", "refresh": "1h"}))
        .await;
    let id = source["id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let other = Writer::new(&second.address, &key);
    let jobs: Value = other
        .get("/v1/jobs")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let crawls: Vec<&Value> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == "crawl")
        .collect();
    assert_eq!(crawls.len(), 1, "{jobs}");
    let shown: Value = other
        .get(&format!("/v1/sources/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(shown["next_crawl_at"].is_string(), "{shown}");
    assert_eq!(shown["runs"].as_array().unwrap().len(), 1, "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_killed_with_sigkill_runs_again_to_the_same_index() {
    use crate::processes::{Trawl, create_key, documents_in};
    let site = Site::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trawl.toml");
    // Slow enough to be killed halfway; leases short, so the crawl's
    // message comes back soon after.
    std::fs::write(
        &config,
        "[queue]\nlease_s = 3\n\n[crawl]\nallow_networks = [\"127.0.0.0/8\"]\ndelay_ms = 6\n\
         page_timeout_ms = 1500\nbatch_documents = 100\n",
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let env = [("TRAWL_CONFIG", config.as_str())];
    let mut trawl = Trawl::start(dir.path(), &["--no-demo"], &env);
    let key = create_key(dir.path(), &env);
    let writer = Writer::new(&trawl.address, &key);
    let source = writer
        .add_source(json!({"kind": "sitemap", "url": site.url("/sitemap.xml")}))
        .await;
    let id = source["id"].as_i64().unwrap();
    let crawl: Value = writer
        .post(&format!("/v1/sources/{id}/crawl"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job = crawl["id"].as_i64().unwrap();
    let halfway = writer
        .wait_for(job, Duration::from_secs(60), |j| {
            j["progress"]["done"].as_u64().unwrap_or(0) >= 600
                || (j["state"] != "queued" && j["state"] != "running")
        })
        .await;
    assert_eq!(halfway["state"], "running", "{halfway}");
    trawl.kill();
    let indexed_before = site.requests_under("/docs/");
    assert!(indexed_before < PAGES as u64, "killed before the end");

    let trawl = Trawl::start(dir.path(), &["--no-demo"], &env);
    let writer = Writer::new(&trawl.address, &key);
    let done = writer
        .wait_for(job, Duration::from_secs(120), |j| {
            j["state"] != "queued" && j["state"] != "running"
        })
        .await;
    assert_eq!(done["state"], "succeeded", "{done}\n{}", trawl.logs());
    assert_eq!(done["attempts"], 2, "{done}");
    assert!(
        done["progress"]["done"].as_u64().unwrap() >= PAGES as u64,
        "a finished crawl keeps its count of pages: {done}"
    );
    writer.settled().await;
    // Every page once: nothing lost to the kill, nothing twice.
    assert_eq!(documents_in(&trawl.address).await, PAGES as u64 + 1);
    let shown: Value = writer
        .get(&format!("/v1/sources/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["pages"], PAGES as u64 + 1, "{shown}");
    let found: Value = reqwest::get(trawl.url("/api/v1/search?q=zebra1999"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(result_urls(&found), [site.url("/docs/page-1999.html")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawls_run_the_same_on_postgresql_and_rabbitmq() {
    let Some(schema) = trawl_store::testing::fresh_postgres("crawl_distributed").await else {
        return;
    };
    let Some((queue, amqp)) = trawl_queue::testing::fresh_rabbitmq("crawl_distributed").await
    else {
        return;
    };
    let crawls = trawl_queue::AmqpQueue::new(trawl_queue::AmqpSettings {
        name: format!("{}.crawl", amqp.name),
        ..amqp.clone()
    })
    .unwrap();
    let site = Site::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.store.database_url = Some(schema.url.clone());
    config.queue.amqp_url = Some(amqp.url.clone());
    config.queue.name = amqp.name.clone();
    config.crawl.allow_networks = vec!["127.0.0.0/8".parse().unwrap()];
    config.crawl.delay_ms = 0;
    config.crawl.page_timeout_ms = 1_500;
    let app = spawn(&config, Role::All).await;
    let writer = Writer::new(&app.address, &make_key(&config, "crawler").await);
    let source = writer
        .add_source(json!({"kind": "sitemap", "url": site.url("/sitemap.xml")}))
        .await;
    let id = source["id"].as_i64().unwrap();
    let first = writer.crawl(id).await;
    assert_eq!(
        first["runs"][0]["pages"]["added"],
        PAGES as u64 + 1,
        "{first}"
    );
    assert_eq!(site.requests_under("/private/"), 0);
    let second = writer.crawl(id).await;
    assert_eq!(
        second["runs"][0]["pages"]["unchanged"],
        PAGES as u64 + 1,
        "{second}"
    );
    assert_eq!(documents_in_index(&app).await, PAGES as u64 + 1);
    queue.delete_all().await.unwrap();
    crawls.delete_all().await.unwrap();
}

/// A site crawl's run: its state, whether it read the whole site, and what
/// it removed.
async fn crawled(writer: &Writer, source: i64) -> Value {
    writer.crawl(source).await["runs"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_removes_only_what_it_has_proof_of() {
    let site = Site::start().await;
    let (_dir, _config, app, writer) = crawling_trawl(true).await;
    // A hub linking five pages, one of which links a sixth.
    let hub = "/docs/page-100.html";
    let links = |pages: &[usize]| -> String {
        pages
            .iter()
            .map(|i| format!("<a href=\"page-{i}.html\">{i}</a> "))
            .collect()
    };
    site.edit(hub, |p| {
        p.body = html("Hub", &links(&[101, 102, 103, 104, 105]), "");
    });
    site.edit("/docs/page-101.html", |p| {
        p.body = html("Page 101", &format!("zebra101 {}", links(&[106])), "");
    });
    let source = writer
        .add_source(json!({"kind": "site", "start_urls": [site.url(hub)], "max_depth": 2}))
        .await;
    let id = source["id"].as_i64().unwrap();
    let run = crawled(&writer, id).await;
    assert_eq!(run["pages"]["added"], 7, "{run}");
    assert_eq!(run["complete"], true, "{run}");
    assert_eq!(documents_in_index(&app).await, 7);

    // Unchanged: every page answers 304, and the crawl still follows the
    // links each had, so it still reads the whole site.
    site.reset_counts();
    let run = crawled(&writer, id).await;
    assert_eq!(
        (
            &run["state"],
            &run["complete"],
            &run["pages"]["unchanged"],
            &run["pages"]["removed"]
        ),
        (&json!("succeeded"), &json!(true), &json!(7), &json!(0)),
        "{run}"
    );
    assert_eq!(
        site.statuses().get(&304).copied(),
        Some(7),
        "{:?}",
        site.statuses()
    );
    assert_eq!(documents_in_index(&app).await, 7);

    // The start page fails: the crawl fails, and nothing leaves.
    site.edit(hub, |p| p.status = 503);
    let run = crawled(&writer, id).await;
    assert_eq!(run["state"], "failed", "{run}");
    assert!(run["error"].as_str().unwrap().contains("http_503"), "{run}");
    assert_eq!(run["pages"]["removed"], 0, "{run}");
    assert_eq!(documents_in_index(&app).await, 7);
    // Gone (a deploy serving 404 for a moment): no proof of what the site
    // holds either.
    site.edit(hub, |p| p.status = 404);
    let run = crawled(&writer, id).await;
    assert_eq!(run["state"], "failed", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("no start page"),
        "{run}"
    );
    assert_eq!(documents_in_index(&app).await, 7);
    site.edit(hub, |p| p.status = 200);

    // robots.txt cannot be read: nothing of the site is fetched, the
    // crawl fails, and nothing leaves.
    site.robots(Some((503, String::new())));
    let run = crawled(&writer, id).await;
    assert_eq!(run["state"], "failed", "{run}");
    assert!(run["error"].as_str().unwrap().contains("robots"), "{run}");
    assert_eq!(documents_in_index(&app).await, 7);

    // A robots.txt over 500 KiB: its first 500 KiB are its rules (as
    // Google reads it), not a reason to fetch nothing.
    let padding = "# a comment that pads the file out\n".repeat(20_000);
    site.robots(Some((
        200,
        format!("User-agent: *\nDisallow: /private/\n{padding}User-agent: *\nDisallow: /docs/\n"),
    )));
    let run = crawled(&writer, id).await;
    assert_eq!(
        (&run["state"], &run["complete"]),
        (&json!("succeeded"), &json!(true)),
        "{run}"
    );
    assert_eq!(run["pages"]["removed"], 0, "{run}");
    site.robots(None);

    // A page whose links are followed fails: what only it links to stays,
    // and the run says why it could not tell.
    site.edit("/docs/page-101.html", |p| p.status = 500);
    let run = crawled(&writer, id).await;
    assert_eq!(
        (&run["state"], &run["complete"]),
        (&json!("succeeded"), &json!(false)),
        "{run}"
    );
    assert!(
        run["incomplete"].as_str().unwrap().contains("page-101"),
        "{run}"
    );
    assert_eq!(run["pages"]["removed"], 0, "{run}");
    assert_eq!(found(&app, "zebra106").await.len(), 1);
    site.edit("/docs/page-101.html", |p| p.status = 200);

    // The hub no longer links a page: a crawl that read the whole site
    // removes it.
    site.edit(hub, |p| {
        p.body = html("Hub", &links(&[101, 102, 103, 104]), "");
    });
    let run = crawled(&writer, id).await;
    assert_eq!(
        (&run["complete"], &run["pages"]["removed"]),
        (&json!(true), &json!(1)),
        "{run}"
    );
    assert!(found(&app, "zebra105").await.is_empty());
    assert_eq!(documents_in_index(&app).await, 6);

    // A start URL that may not be fetched: the crawl fails, naming why.
    let refused = writer
        .add_source(json!({"kind": "site", "start_urls": ["http://169.254.169.254/latest/"]}))
        .await;
    let run = crawled(&writer, refused["id"].as_i64().unwrap()).await;
    assert_eq!(run["state"], "failed", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("no start page"),
        "{run}"
    );
    assert_eq!(documents_in_index(&app).await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_two_owners_hold_stays_until_the_last_lets_go() {
    let site = Site::start().await;
    let (_dir, config, app, writer) = crawling_trawl(true).await;
    // The sitemap lists pages 0-4; the site source holds 0 and 1; the
    // write API holds page 2 under the same id.
    let sitemap = writer
        .add_source(json!({"kind": "sitemap", "url": site.url("/sitemap-small.xml")}))
        .await;
    let run = crawled(&writer, sitemap["id"].as_i64().unwrap()).await;
    assert_eq!(run["pages"]["added"], 5, "{run}");
    let pages = writer
        .add_source(json!({"kind": "site", "max_depth": 0,
            "start_urls": [site.url("/docs/page-0.html"), site.url("/docs/page-1.html")]}))
        .await;
    let pages_id = pages["id"].as_i64().unwrap();
    let run = crawled(&writer, pages_id).await;
    // New to this source; the same two documents in the index, by id.
    assert_eq!(run["pages"]["added"], 2, "{run}");
    assert_eq!(documents_in_index(&app).await, 5);
    let page2 = site.url("/docs/page-2.html");
    let (status, job) = writer
        .submit(json!({"id": page2, "title": "Page 2", "url": page2, "body": "written through the API: okapi2"}).to_string())
        .await;
    assert_eq!(status, 202, "{job}");
    writer.succeeded(job["id"].as_i64().unwrap()).await;

    // The sitemap source goes: pages 3 and 4 with it; 0, 1 and 2 stay.
    let response = writer
        .delete(&format!("/v1/sources/{}", sitemap["id"]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    let done = writer.succeeded(job["id"].as_i64().unwrap()).await;
    assert_eq!(
        (&done["counts"]["deleted"], &done["counts"]["kept"]),
        (&json!(2), &json!(3)),
        "{done}"
    );
    assert_eq!(documents_in_index(&app).await, 3);
    assert_eq!(found(&app, "zebra0").await.len(), 1);
    assert_eq!(found(&app, "okapi2").await, std::slice::from_ref(&page2));
    assert!(found(&app, "zebra3").await.is_empty());

    // The site source goes: 0 and 1 leave; the API's page 2 stays.
    let response = writer
        .delete(&format!("/v1/sources/{pages_id}"))
        .send()
        .await
        .unwrap();
    let job: Value = response.json().await.unwrap();
    writer.succeeded(job["id"].as_i64().unwrap()).await;
    assert_eq!(documents_in_index(&app).await, 1);
    assert_eq!(found(&app, "okapi2").await, [page2]);

    // Repair: a document lost before owners were kept (its owner row gone,
    // then removed by id) comes back with its source's next crawl.
    let again = writer
        .add_source(
            json!({"kind": "site", "max_depth": 0, "start_urls": [site.url("/docs/page-0.html")]}),
        )
        .await;
    let again_id = again["id"].as_i64().unwrap();
    crawled(&writer, again_id).await;
    let store = trawl_store::SqlStore::open(&config.store_settings())
        .await
        .unwrap();
    store
        .execute_for_tests(
            "DELETE FROM trawl_document_owners WHERE doc_id LIKE '%/docs/page-0.html'",
        )
        .await;
    let response = writer
        .delete(&format!(
            "/v1/documents/{}",
            urlencode(&site.url("/docs/page-0.html"))
        ))
        .send()
        .await
        .unwrap();
    let job: Value = response.json().await.unwrap();
    writer.succeeded(job["id"].as_i64().unwrap()).await;
    assert!(found(&app, "zebra0").await.is_empty(), "lost");
    let run = crawled(&writer, again_id).await;
    assert_eq!(run["pages"]["restored"], 1, "{run}");
    assert_eq!(found(&app, "zebra0").await.len(), 1, "restored");
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Sites that list far more than a crawl may take: pages of ~5 MB of
/// unique links, a sitemap index of 40 × 200,000 URLs, a feed of 1,000,000
/// entries — each made as it is sent, and counting what was sent.
#[derive(Clone, Default)]
struct Traps {
    base: String,
    listed: Arc<std::sync::atomic::AtomicU64>,
}

const TRAP_LINKS: usize = 100_000;
const TRAP_SITEMAPS: usize = 40;
const TRAP_SITEMAP_URLS: usize = 200_000;
const TRAP_FEED_ITEMS: usize = 1_000_000;

async fn trap(State(traps): State<Traps>, uri: axum::http::Uri) -> Response {
    use std::sync::atomic::Ordering;
    let path = uri.path().to_owned();
    let xml = |stream: futures_util::stream::BoxStream<'static, Result<String, std::io::Error>>| {
        (
            [(header::CONTENT_TYPE, "application/xml")],
            axum::body::Body::from_stream(stream),
        )
            .into_response()
    };
    // `count` pieces of `each` lines, made one piece at a time.
    let made = traps.listed.clone();
    let lazily = move |count: usize,
                       piece: Box<dyn Fn(usize) -> String + Send + Sync>,
                       head: String,
                       tail: &'static str| {
        use futures_util::StreamExt;
        let listed = made.clone();
        let body = futures_util::stream::iter(0..count).map(move |i| {
            listed.fetch_add(1, Ordering::Relaxed);
            Ok::<_, std::io::Error>(piece(i))
        });
        futures_util::stream::once(async move { Ok(head) })
            .chain(body)
            .chain(futures_util::stream::once(
                async move { Ok(tail.to_owned()) },
            ))
            .boxed()
    };
    if let Some(n) = path.strip_prefix("/site/") {
        let n = n.to_owned();
        let links: String = (0..TRAP_LINKS)
            .map(|i| format!("<a href=\"/site/{n}-{i}\"></a>\n"))
            .collect();
        return (
            [(header::CONTENT_TYPE, "text/html")],
            html(&format!("Hub {n}"), &links, ""),
        )
            .into_response();
    }
    if path == "/index.xml" {
        let maps: String = (0..TRAP_SITEMAPS)
            .map(|k| format!("<sitemap><loc>{}/map/{k}.xml</loc></sitemap>", traps.base))
            .collect();
        return ([(header::CONTENT_TYPE, "application/xml")], format!("<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">{maps}</sitemapindex>")).into_response();
    }
    if let Some(k) = path.strip_prefix("/map/") {
        let k = k.trim_end_matches(".xml").to_owned();
        let base = traps.base.clone();
        return xml(lazily(
            TRAP_SITEMAP_URLS / 1000,
            Box::new(move |i| {
                (0..1000)
                    .map(|j| format!("<url><loc>{base}/p/{k}-{i}-{j}</loc></url>\n"))
                    .collect()
            }),
            "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n".to_owned(),
            "</urlset>\n",
        ));
    }
    if path == "/feed.xml" {
        return xml(lazily(
            TRAP_FEED_ITEMS / 1000,
            Box::new(|i| {
                (0..1000)
                    .map(|j| format!("<item><title>{i}-{j}</title><link>/p/feed-{i}-{j}</link></item>\n"))
                    .collect()
            }),
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title><link>/</link><description>d</description>\n".to_owned(),
            "</channel></rss>\n",
        ));
    }
    if path.starts_with("/p/") {
        return html("A page", &format!("the page at {path}"), "").into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}

/// The process's peak resident memory, in MiB.
fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    kib / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_crawl_holds_is_bounded_by_its_settings_not_by_what_a_site_lists() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let traps = Traps {
        base: base.clone(),
        ..Traps::default()
    };
    let router = axum::Router::new().fallback(trap).with_state(traps.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trawl.toml");
    std::fs::write(
        &config,
        "demo = false\n[crawl]\nallow_networks = [\"127.0.0.0/8\"]\ndelay_ms = 0\nschedule_every_s = 1\n",
    )
    .unwrap();
    let config = config.display().to_string();
    let env = [("TRAWL_CONFIG", config.as_str())];
    let key = crate::processes::create_key(dir.path(), &env);
    let server = crate::processes::Trawl::start(dir.path(), &[], &env);
    let writer = Writer::new(&server.address, &key);
    let before = peak_mib(server.pid());

    let site = writer
        .add_source(
            json!({"kind": "site", "start_urls": [format!("{base}/site/0")],
            "max_depth": 3, "max_pages": 30}),
        )
        .await;
    let run = crawled(&writer, site["id"].as_i64().unwrap()).await;
    assert_eq!(
        (&run["state"], &run["complete"]),
        (&json!("succeeded"), &json!(false)),
        "{run}"
    );
    assert!(run["pages"]["added"].as_u64().unwrap() <= 30, "{run}");

    let sitemap = writer
        .add_source(json!({"kind": "sitemap", "url": format!("{base}/index.xml"), "max_pages": 10}))
        .await;
    let run = crawled(&writer, sitemap["id"].as_i64().unwrap()).await;
    assert_eq!(
        (&run["pages"]["added"], &run["complete"]),
        (&json!(10), &json!(false)),
        "{run}"
    );

    let feed = writer
        .add_source(json!({"kind": "feed", "url": format!("{base}/feed.xml"), "max_pages": 10}))
        .await;
    let run = crawled(&writer, feed["id"].as_i64().unwrap()).await;
    assert_eq!(
        (&run["pages"]["added"], &run["complete"]),
        (&json!(10), &json!(false)),
        "{run}"
    );

    // The rest of the sitemap and the feed was never asked for.
    let listed = traps.listed.load(std::sync::atomic::Ordering::Relaxed) * 1000;
    assert!(
        listed < (TRAP_SITEMAP_URLS + TRAP_FEED_ITEMS) as u64 / 10,
        "{listed} entries were made to be read"
    );
    let peak = peak_mib(server.pid());
    eprintln!("peak resident memory {peak} MiB (it started at {before} MiB)");
    assert!(
        peak < 200,
        "peak resident memory {peak} MiB (it started at {before} MiB)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pages_time_counts_from_its_request_not_from_its_wait_for_the_host() {
    let site = Site::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.crawl.allow_networks = vec!["127.0.0.0/8".parse().unwrap()];
    config.crawl.delay_ms = 0;
    // One request at a time to the host, each answered in 300 ms: the
    // sixth page waits 1.5 s for its turn, three times its own limit.
    config.crawl.per_host_concurrency = 1;
    config.crawl.page_timeout_ms = 500;
    let app = spawn(&config, Role::All).await;
    let writer = Writer::new(&app.address, &make_key(&config, "t").await);
    let source = writer
        .add_source(json!({"kind": "sitemap", "url": site.url("/sitemap-slowish.xml")}))
        .await;
    let run = crawled(&writer, source["id"].as_i64().unwrap()).await;
    assert_eq!(run["pages"]["added"], 6, "{run}");
    assert_eq!(run["errors"], json!({}), "{run}");
}
