//! The fetcher against a site on loopback that records what it is asked:
//! robots.txt (rules and `Crawl-delay`), the per-host limits, redirects,
//! and the size limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use trawl_crawl::{Conditional, CrawlSettings, FetchError, Fetcher};
use url::Url;

#[derive(Clone, Default)]
struct Seen {
    starts: Arc<Mutex<Vec<(String, Instant)>>>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
    /// Bodies being sent, and the most at once.
    bodies: Arc<AtomicUsize>,
    most_bodies: Arc<AtomicUsize>,
}

async fn serve(State(seen): State<Seen>, uri: axum::http::Uri) -> Response {
    let path = uri.path().to_owned();
    seen.starts
        .lock()
        .unwrap()
        .push((path.clone(), Instant::now()));
    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    seen.most_in_flight.fetch_max(now, Ordering::SeqCst);
    let response = match path.as_str() {
        "/robots.txt" => "User-agent: *\nDisallow: /private/\nCrawl-delay: 0.2\n".into_response(),
        p if p.starts_with("/hop/") => {
            let n: u32 = p[5..].parse().unwrap();
            (
                StatusCode::FOUND,
                [(header::LOCATION, format!("/hop/{}", n + 1))],
            )
                .into_response()
        }
        "/to-private" => (StatusCode::FOUND, [(header::LOCATION, "/private/x")]).into_response(),
        "/big" => "x".repeat(10_000).into_response(),
        p if p.starts_with("/slow-body/") => {
            // Headers at once, the body over 150 ms: counted while it is
            // being sent.
            let bodies = seen.bodies.clone();
            let most = seen.most_bodies.clone();
            let pieces = futures_util::stream::unfold(0, move |i| {
                let bodies = bodies.clone();
                let most = most.clone();
                async move {
                    match i {
                        0 => {
                            let now = bodies.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                        }
                        4 => {
                            bodies.fetch_sub(1, Ordering::SeqCst);
                            return None;
                        }
                        _ => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                    Some((
                        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"<p>x</p>")),
                        i + 1,
                    ))
                }
            });
            axum::body::Body::from_stream(pieces).into_response()
        }
        _ => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            "<html><title>ok</title></html>".into_response()
        }
    };
    seen.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

async fn site() -> (Url, Seen) {
    let seen = Seen::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let router = axum::Router::new().fallback(serve).with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, seen)
}

fn fetcher(delay: Duration) -> Fetcher {
    Fetcher::new(Arc::new(CrawlSettings {
        allow_networks: vec!["127.0.0.0/8".parse().unwrap()],
        delay,
        per_host_concurrency: 2,
        ..CrawlSettings::default()
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_txt_its_crawl_delay_and_the_host_limit_are_kept() {
    let (base, seen) = site().await;
    let fetcher = fetcher(Duration::ZERO);
    let pages: Vec<Url> = (0..6)
        .map(|i| base.join(&format!("/p{i}")).unwrap())
        .collect();
    let none = Conditional::default();
    let fetches = pages.iter().map(|url| fetcher.fetch(url, &none, 1 << 20));
    for fetched in futures_util::future::join_all(fetches).await {
        assert_eq!(fetched.unwrap().status, 200);
    }
    let private = fetcher
        .fetch(
            &base.join("/private/a").unwrap(),
            &Conditional::default(),
            1 << 20,
        )
        .await;
    assert!(
        matches!(private, Err(FetchError::Disallowed(_))),
        "{private:?}"
    );
    let through = fetcher
        .fetch(
            &base.join("/to-private").unwrap(),
            &Conditional::default(),
            1 << 20,
        )
        .await;
    assert!(
        matches!(through, Err(FetchError::Disallowed(_))),
        "a redirect hop is checked too"
    );
    let starts = seen.starts.lock().unwrap().clone();
    assert_eq!(starts[0].0, "/robots.txt", "robots.txt first");
    assert_eq!(
        starts.iter().filter(|(p, _)| p == "/robots.txt").count(),
        1,
        "robots.txt once per crawl"
    );
    assert!(starts.iter().all(|(p, _)| !p.starts_with("/private/")));
    // Crawl-delay: 0.2 s between the starts of two requests to the host.
    let pages: Vec<Instant> = starts
        .iter()
        .filter(|(p, _)| p.starts_with("/p"))
        .map(|(_, t)| *t)
        .collect();
    for pair in pages.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(195),
            "requests {:?} apart",
            pair[1] - pair[0]
        );
    }
    assert!(seen.most_in_flight.load(Ordering::SeqCst) <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosts_slot_is_held_until_the_body_is_read() {
    let (base, seen) = site().await;
    let fetcher = Fetcher::new(Arc::new(CrawlSettings {
        allow_networks: vec!["127.0.0.0/8".parse().unwrap()],
        delay: Duration::ZERO,
        per_host_concurrency: 1,
        ..CrawlSettings::default()
    }))
    .unwrap();
    let pages: Vec<Url> = (0..3)
        .map(|i| base.join(&format!("/slow-body/{i}")).unwrap())
        .collect();
    let none = Conditional::default();
    let fetches = pages.iter().map(|url| fetcher.fetch(url, &none, 1 << 20));
    for fetched in futures_util::future::join_all(fetches).await {
        assert_eq!(fetched.unwrap().body.len(), 4 * 8);
    }
    assert_eq!(
        seen.most_bodies.load(Ordering::SeqCst),
        1,
        "one body at a time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_bounded_and_bodies_too() {
    let (base, _seen) = site().await;
    let fetcher = fetcher(Duration::ZERO);
    let hops = fetcher
        .fetch(
            &base.join("/hop/0").unwrap(),
            &Conditional::default(),
            1 << 20,
        )
        .await;
    assert!(matches!(hops, Err(FetchError::Redirects)), "{hops:?}");
    let big = fetcher
        .fetch(&base.join("/big").unwrap(), &Conditional::default(), 9_999)
        .await;
    assert!(matches!(big, Err(FetchError::TooLarge(9_999))), "{big:?}");
    let fits = fetcher
        .fetch(&base.join("/big").unwrap(), &Conditional::default(), 10_000)
        .await
        .unwrap();
    assert_eq!(fits.body.len(), 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_loopback_is_refused_before_any_request() {
    let (base, seen) = site().await;
    let closed = Fetcher::new(Arc::new(CrawlSettings::default())).unwrap();
    let refused = closed
        .fetch(&base.join("/p1").unwrap(), &Conditional::default(), 1 << 20)
        .await;
    let Err(FetchError::Refused(why)) = refused else {
        panic!("{refused:?}")
    };
    assert!(
        why.to_string()
            .starts_with("127.0.0.1 is not a public address"),
        "{why}"
    );
    let by_name = closed
        .fetch(
            &Url::parse(&format!("http://localhost:{}/p1", base.port().unwrap())).unwrap(),
            &Conditional::default(),
            1 << 20,
        )
        .await;
    assert!(
        matches!(&by_name, Err(FetchError::Refused(why)) if why.to_string().contains("localhost resolves to")),
        "{by_name:?}"
    );
    assert!(
        seen.starts.lock().unwrap().is_empty(),
        "nothing reached the site"
    );
}

/// Crawls speak TLS: an `https` page is fetched over TLS (here from a plain
/// HTTP server, so the handshake fails), not refused for its scheme.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_pages_are_fetched_over_tls() {
    let (base, seen) = site().await;
    let mut https = base.join("/p1").unwrap();
    https.set_scheme("https").unwrap();
    let fetched = fetcher(Duration::ZERO)
        .fetch(&https, &Conditional::default(), 1 << 20)
        .await;
    let error = format!("{fetched:?}");
    assert!(fetched.is_err(), "{error}");
    // rustls's words for a server that answered the handshake in clear.
    assert!(error.contains("corrupt message"), "{error}");
    assert!(
        seen.starts.lock().unwrap().is_empty(),
        "no HTTP request was read"
    );
}
