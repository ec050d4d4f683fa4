//! Crawling: a generated site on loopback (served by this process, which
//! counts requests and bytes) crawled from its sitemap by the trawl binary
//! with politeness off for loopback (no delay between requests) — pages a
//! second to the crawl's end and to searchable, the trawl process's peak
//! memory, and what re-crawling the unchanged site costs (requests, bytes).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::process::Server;

/// Requests to one host at once: the crawler's limit per host (politeness
/// off means no delay; the slots stay as configured here).
const PER_HOST: usize = 4;

pub(crate) struct Crawl {
    pub pages: usize,
    pub page_bytes: usize,
    /// From `POST /v1/sources/{id}/crawl` to the crawl job's end.
    pub crawl_s: f64,
    /// ... and to a search service holding every page.
    pub searchable_s: f64,
    pub first_requests: u64,
    pub first_bytes: u64,
    pub recrawl_s: f64,
    pub recrawl_requests: u64,
    pub recrawl_bytes: u64,
    pub recrawl_unchanged: u64,
    /// The trawl process's peak resident memory (`VmHWM`), KiB.
    pub peak_kib: u64,
}

#[derive(Clone)]
struct Site {
    pages: usize,
    base: String,
    requests: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

fn body(i: usize) -> String {
    let mut text = format!(
        "<!doctype html><html><head><title>Page {i} of the benchmark site</title></head><body><main><h1>Page {i}</h1>"
    );
    for p in 0..8 {
        text.push_str(&format!(
            "<p>Paragraph {p} of page {i}: the crawler fetches this page, reads its text, hashes it \
             and hands it to the index; word{i}x{p} marks it. <a href=\"/p/{}.html\">next</a></p>",
            (i + p + 1) % 100_000
        ));
    }
    text.push_str("</main></body></html>");
    text
}

async fn serve(State(site): State<Site>, uri: axum::http::Uri, headers: HeaderMap) -> Response {
    site.requests.fetch_add(1, Ordering::Relaxed);
    let path = uri.path();
    let (status, content_type, text, etag) = if path == "/robots.txt" {
        (
            StatusCode::OK,
            "text/plain",
            "User-agent: *\nDisallow: /private/\n".to_owned(),
            None,
        )
    } else if path == "/sitemap.xml" {
        let mut xml = String::from(
            "<?xml version=\"1.0\"?><urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">",
        );
        for i in 0..site.pages {
            xml.push_str(&format!("<url><loc>{}/p/{i}.html</loc></url>", site.base));
        }
        xml.push_str("</urlset>");
        (StatusCode::OK, "application/xml", xml, None)
    } else if let Some(i) = path
        .strip_prefix("/p/")
        .and_then(|p| p.strip_suffix(".html"))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|i| *i < site.pages)
    {
        let etag = format!("\"p{i}\"");
        if headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == etag.as_bytes())
        {
            return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
        }
        (StatusCode::OK, "text/html", body(i), Some(etag))
    } else {
        (StatusCode::NOT_FOUND, "text/plain", String::new(), None)
    };
    site.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
    let mut response = (status, [(header::CONTENT_TYPE, content_type)], text).into_response();
    if let Some(etag) = etag.and_then(|e| e.parse().ok()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

pub(crate) async fn run(trawl: &Path, pages: usize) -> anyhow::Result<Crawl> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let site = Site {
        pages,
        base: format!("http://{}", listener.local_addr()?),
        requests: Arc::new(AtomicU64::new(0)),
        bytes: Arc::new(AtomicU64::new(0)),
    };
    let router = axum::Router::new().fallback(serve).with_state(site.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let dir = tempfile::tempdir()?;
    let config = dir.path().join("trawl.toml");
    std::fs::write(
        &config,
        format!(
            "[crawl]\nallow_networks = [\"127.0.0.0/8\"]\ndelay_ms = 0\nper_host_concurrency = {PER_HOST}\n"
        ),
    )?;
    let config = config.to_string_lossy().into_owned();
    let env = [("TRAWL_CONFIG", config.as_str())];
    let data = dir.path().join("data");
    let (server, _) = Server::start_with(trawl, &data, &[], &env)?;
    let key = crate::feeding::make_key(trawl, &data, &env)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let base = server.url();
    let created: Value = client
        .post(format!("{base}/v1/sources"))
        .bearer_auth(&key)
        .json(&json!({"kind": "sitemap", "url": format!("{}/sitemap.xml", site.base), "max_pages": pages}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created["id"].as_i64().context("a source id")?;

    let started = Instant::now();
    let first = crawl_once(&client, &base, &key, id).await?;
    let crawl_s = started.elapsed().as_secs_f64();
    loop {
        if indexed(&client, &base).await? >= pages as u64 {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the crawled pages never all became searchable");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let searchable_s = started.elapsed().as_secs_f64();
    if first["pages"]["added"].as_u64() != Some(pages as u64) {
        bail!(
            "the first crawl added {} pages, not {pages}",
            first["pages"]["added"]
        );
    }
    let first_requests = site.requests.swap(0, Ordering::Relaxed);
    let first_bytes = site.bytes.swap(0, Ordering::Relaxed);

    let started = Instant::now();
    let second = crawl_once(&client, &base, &key, id).await?;
    let recrawl_s = started.elapsed().as_secs_f64();
    let peak_kib = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let result = Crawl {
        pages,
        page_bytes: body(0).len(),
        crawl_s,
        searchable_s,
        first_requests,
        first_bytes,
        recrawl_s,
        recrawl_requests: site.requests.load(Ordering::Relaxed),
        recrawl_bytes: site.bytes.load(Ordering::Relaxed),
        recrawl_unchanged: second["pages"]["unchanged"].as_u64().unwrap_or(0),
        peak_kib,
    };
    server.stop()?;
    Ok(result)
}

/// Crawls the source now; its run when the crawl has ended.
async fn crawl_once(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    id: i64,
) -> anyhow::Result<Value> {
    let job: Value = client
        .post(format!("{base}/v1/sources/{id}/crawl"))
        .bearer_auth(key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let job = job["id"].as_i64().context("a job id")?;
    loop {
        let now: Value = client
            .get(format!("{base}/v1/jobs/{job}"))
            .bearer_auth(key)
            .send()
            .await?
            .json()
            .await?;
        match now["state"].as_str() {
            Some("succeeded") => break,
            Some("failed" | "cancelled") => bail!("the crawl ended {now}"),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    let source: Value = client
        .get(format!("{base}/v1/sources/{id}"))
        .bearer_auth(key)
        .send()
        .await?
        .json()
        .await?;
    Ok(source["runs"][0].clone())
}

async fn indexed(client: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let engines: Value = client
        .get(format!("{base}/v1/engines"))
        .send()
        .await?
        .json()
        .await?;
    Ok(engines["engines"][0]["documents"].as_u64().unwrap_or(0))
}

pub(crate) fn print(c: &Crawl) {
    println!(
        "\n### Crawling (a generated site on loopback, {} pages of {} bytes, from its sitemap; no delay, {PER_HOST} requests at once)\n",
        c.pages, c.page_bytes
    );
    println!("| crawl | time | pages/s | requests | bytes received |\n|---|---:|---:|---:|---:|");
    println!(
        "| first (every page new) | {:.2} s to its end, {:.2} s to searchable | {:.0} | {} | {} |",
        c.crawl_s,
        c.searchable_s,
        c.pages as f64 / c.crawl_s,
        c.first_requests,
        c.first_bytes
    );
    println!(
        "| again, nothing changed ({} unchanged) | {:.2} s | {:.0} | {} | {} |",
        c.recrawl_unchanged,
        c.recrawl_s,
        c.pages as f64 / c.recrawl_s,
        c.recrawl_requests,
        c.recrawl_bytes
    );
    println!(
        "\nPeak resident memory of the trawl process (VmHWM): {:.1} MiB.",
        c.peak_kib as f64 / 1024.0
    );
}

/// What a smoke run checks.
pub(crate) fn check(c: &Crawl) -> anyhow::Result<()> {
    if c.recrawl_unchanged != c.pages as u64 {
        bail!(
            "the re-crawl found {} of {} pages unchanged",
            c.recrawl_unchanged,
            c.pages
        );
    }
    if c.recrawl_bytes * 5 > c.first_bytes {
        bail!(
            "the re-crawl of an unchanged site received {} bytes, the first {}: conditional requests are not working",
            c.recrawl_bytes,
            c.first_bytes
        );
    }
    Ok(())
}
