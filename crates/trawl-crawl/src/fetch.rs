//! [`Fetcher`]: the HTTP of one crawl — guarded, polite, bounded.
//!
//! Per origin it keeps robots.txt (fetched once per crawl; a `4xx` means
//! everything is allowed, a `5xx` or no answer that nothing is, as Google
//! reads them; its first 500 KiB are read, the rest ignored, as Google
//! does), a limit on requests at once and the least time between their
//! starts (the configured delay, or robots.txt's `Crawl-delay` when
//! longer). Redirects are followed here, not by reqwest, so that every hop
//! is checked by the guard and by robots.txt, at most
//! [`trawl_service::net::MAX_REDIRECTS`] of them.
//!
//! A page's timeout counts from its request, not from when it began to
//! wait for its host's turn: a slow host makes the crawl slow, not its
//! waiting pages fail. [`Fetcher::open`] gives the answer with its body
//! still to read ([`Opened`]), for what is read as it streams in
//! (sitemaps, feeds, dumps).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{self, HeaderMap, HeaderValue};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use url::Url;

use crate::CrawlSettings;
use crate::guard::{Guard, Refused};
use trawl_service::net::MAX_REDIRECTS;

/// The part of a robots.txt read; the rest is ignored (Google reads
/// 500 KiB).
pub const MAX_ROBOTS_BYTES: usize = 500 * 1024;

/// What the store remembers of a page, to ask for it only if it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditional {
    /// The `ETag` of the copy held.
    pub etag: Option<String>,
    /// The `Last-Modified` of the copy held.
    pub last_modified: Option<String>,
}

/// An answer: any status (`304`, `404` and `410` mean something to a
/// crawl), from the URL at the end of the redirects.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL that answered, after redirects.
    pub url: Url,
    /// Its status: 200, or 304 for an unchanged page.
    pub status: u16,
    /// Its `ETag`, for the next conditional request.
    pub etag: Option<String>,
    /// Its `Last-Modified`, for the next conditional request.
    pub last_modified: Option<String>,
    /// The media type, lower case, without parameters.
    pub content_type: Option<String>,
    /// Its `X-Robots-Tag` header.
    pub x_robots_tag: Option<String>,
    /// The body, decompressed (empty for a 304).
    pub body: Bytes,
}

/// Why a URL gave no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// The guard refused it (or a redirect from it).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// robots.txt disallows it (or a redirect from it).
    #[error("{0}: disallowed by robots.txt")]
    Disallowed(String),
    /// robots.txt could not be read: nothing of the site is fetched.
    #[error("{0}: nothing of the site is fetched while its robots.txt cannot be read")]
    RobotsUnavailable(String),
    /// No answer within the page timeout.
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The body is larger than the limit, in bytes.
    #[error("larger than the {0} bytes read from one URL")]
    TooLarge(usize),
    /// More than 5 redirects.
    #[error("more than {MAX_REDIRECTS} redirects")]
    Redirects,
    /// A redirect without a usable `Location`.
    #[error("a redirect without a usable Location")]
    BadRedirect,
    /// The connection failed.
    #[error("{0}")]
    Network(String),
}

impl FetchError {
    /// The kind a crawl's run counts it under.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Refused(_) => "refused",
            Self::Disallowed(_) => "disallowed",
            Self::RobotsUnavailable(_) => "robots_unavailable",
            Self::Timeout(_) => "timeout",
            Self::TooLarge(_) => "too_large",
            Self::Redirects | Self::BadRedirect => "redirects",
            Self::Network(_) => "network",
        }
    }
}

/// What robots.txt says for one origin.
enum Robots {
    /// No robots.txt (a 4xx): everything.
    All,
    /// It could not be read (a 5xx, no answer): nothing, this crawl.
    Nothing(String),
    /// The guard refused the origin: nothing, and that is why.
    Refused(Refused),
    Rules(Box<texting_robots::Robot>),
}

struct Origin {
    permits: Arc<Semaphore>,
    next_start: tokio::sync::Mutex<Instant>,
    robots: OnceCell<Robots>,
    /// robots.txt's `Crawl-delay`, capped.
    crawl_delay: Mutex<Duration>,
}

/// One crawl's fetching: share it between the crawl's tasks.
pub struct Fetcher {
    client: reqwest::Client,
    settings: Arc<CrawlSettings>,
    guard: Guard,
    origins: Mutex<HashMap<String, Arc<Origin>>>,
    requests: AtomicU64,
    bytes: Arc<AtomicU64>,
}

/// An answer whose body is still to be read: at most `limit` bytes, by
/// the page's deadline, each counted in the crawl's bytes.
pub struct Opened {
    /// The URL that answered, after redirects.
    pub url: Url,
    /// Its status.
    pub status: u16,
    /// Its `ETag`.
    pub etag: Option<String>,
    /// Its `Last-Modified`.
    pub last_modified: Option<String>,
    /// The media type, lower case, without parameters.
    pub content_type: Option<String>,
    /// Its `X-Robots-Tag` header.
    pub x_robots_tag: Option<String>,
    response: reqwest::Response,
    limit: usize,
    read: usize,
    deadline: Instant,
    timeout: Duration,
    /// Read as a stream: `timeout` between pieces, `deadline` for the whole.
    per_read: bool,
    bytes: Arc<AtomicU64>,
    /// The host's slot, held while the body is read.
    _turn: OwnedSemaphorePermit,
}

/// The longest a sitemap, feed or dump read as it streams in may take in
/// all (each piece within the page timeout of the one before): what a
/// source that trickles its bytes can hold a crawl for.
pub const MAX_STREAM_TIME: Duration = Duration::from_secs(30 * 60);

impl Opened {
    /// The answer read as a stream, by a reader that may take its time
    /// between pieces: each piece must come within the page timeout of
    /// the one before, the whole within [`MAX_STREAM_TIME`].
    pub fn streaming(mut self) -> Self {
        self.per_read = true;
        self.deadline = Instant::now() + MAX_STREAM_TIME;
        self
    }

    /// The next piece of the body; `None` at its end. Past the limit or
    /// the deadline, an error.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, FetchError> {
        let deadline = if self.per_read {
            self.deadline.min(Instant::now() + self.timeout)
        } else {
            self.deadline
        };
        let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
            .await
            .map_err(|_| FetchError::Timeout(self.timeout))?
            .map_err(network)?;
        let Some(chunk) = chunk else {
            return Ok(None);
        };
        self.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        self.read = self.read.saturating_add(chunk.len());
        if self.read > self.limit {
            return Err(FetchError::TooLarge(self.limit));
        }
        Ok(Some(chunk))
    }

    /// The whole answer, its body read.
    pub async fn read_all(mut self) -> Result<Fetched, FetchError> {
        let mut body = BytesMut::new();
        while let Some(chunk) = self.chunk().await? {
            body.extend_from_slice(&chunk);
        }
        Ok(self.into_fetched(body.freeze()))
    }

    /// The answer with the first `limit` bytes of its body (the rest is
    /// not read).
    async fn read_prefix(mut self, limit: usize) -> Result<Fetched, FetchError> {
        self.limit = usize::MAX;
        let mut body = BytesMut::new();
        while body.len() < limit {
            let Some(chunk) = self.chunk().await? else {
                break;
            };
            let room = limit - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        Ok(self.into_fetched(body.freeze()))
    }

    fn into_fetched(self, body: Bytes) -> Fetched {
        Fetched {
            url: self.url,
            status: self.status,
            etag: self.etag,
            last_modified: self.last_modified,
            content_type: self.content_type,
            x_robots_tag: self.x_robots_tag,
            body,
        }
    }
}

impl Fetcher {
    /// A fetcher with its own client, robots cache and per-host slots.
    pub fn new(settings: Arc<CrawlSettings>) -> Result<Self, FetchError> {
        let guard = Guard::new(settings.allow_networks.clone());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(guard.resolver())
            .user_agent(settings.user_agent.clone())
            .connect_timeout(settings.page_timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(settings.per_host_concurrency.max(1))
            .build()
            .map_err(|e| FetchError::Network(format!("cannot make the HTTP client: {e}")))?;
        Ok(Self {
            client,
            settings,
            guard,
            origins: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            bytes: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Requests sent so far (robots.txt included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Bytes received so far (after decompression).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn origin(&self, url: &Url) -> Arc<Origin> {
        let key = url.origin().ascii_serialization();
        self.origins
            .lock()
            .expect("not poisoned")
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Origin {
                    permits: Arc::new(Semaphore::new(self.settings.per_host_concurrency.max(1))),
                    next_start: tokio::sync::Mutex::new(Instant::now()),
                    robots: OnceCell::new(),
                    crawl_delay: Mutex::new(Duration::ZERO),
                })
            })
            .clone()
    }

    /// Whether robots.txt lets trawl fetch `url`: `Disallowed`, or
    /// `RobotsUnavailable` when it cannot be read.
    pub async fn allowed(&self, url: &Url) -> Result<(), FetchError> {
        let origin = self.origin(url);
        let robots = origin
            .robots
            .get_or_init(|| async {
                let robots = self.read_robots(url, &origin).await;
                if let Robots::Rules(rules) = &robots
                    && let Some(delay) = rules.delay
                {
                    let delay = Duration::try_from_secs_f32(delay.max(0.0))
                        .unwrap_or_default()
                        .min(self.settings.max_crawl_delay);
                    *origin.crawl_delay.lock().expect("not poisoned") = delay;
                }
                robots
            })
            .await;
        match robots {
            Robots::All => Ok(()),
            Robots::Nothing(why) => Err(FetchError::RobotsUnavailable(why.clone())),
            Robots::Refused(refused) => Err(FetchError::Refused(refused.clone())),
            Robots::Rules(rules) if rules.allowed(url.as_str()) => Ok(()),
            Robots::Rules(_) => Err(FetchError::Disallowed(url.to_string())),
        }
    }

    async fn read_robots(&self, url: &Url, origin: &Origin) -> Robots {
        let Ok(robots_url) = url.join("/robots.txt") else {
            return Robots::All;
        };
        // Boxed: `follow` asks `allowed`, which comes here.
        let opened = Box::pin(self.follow(
            robots_url,
            &Conditional::default(),
            usize::MAX,
            false,
            origin,
        ))
        .await;
        let fetched = match opened {
            Ok(opened) => opened.read_prefix(MAX_ROBOTS_BYTES).await,
            Err(e) => Err(e),
        };
        let at = || trawl_service::redact::url_text(&url.origin().ascii_serialization());
        match fetched {
            Ok(answer) if (200..300).contains(&answer.status) => {
                // Cut at the last whole line when the file went on.
                let mut body: &[u8] = &answer.body;
                if body.len() == MAX_ROBOTS_BYTES
                    && let Some(end) = body.iter().rposition(|b| *b == b'\n')
                {
                    body = &body[..=end];
                }
                match texting_robots::Robot::new(&self.settings.robots_token, body) {
                    Ok(rules) => Robots::Rules(Box::new(rules)),
                    // Unreadable: as if there were none.
                    Err(_) => Robots::All,
                }
            }
            Ok(answer) if (400..500).contains(&answer.status) => Robots::All,
            Ok(answer) => {
                Robots::Nothing(format!("robots.txt of {} answered {}", at(), answer.status))
            }
            Err(FetchError::Refused(refused)) => Robots::Refused(refused),
            Err(e) => Robots::Nothing(format!("robots.txt of {}: {e}", at())),
        }
    }

    /// Fetches `url` as a page: robots.txt asked first, conditional on what
    /// was seen before, at most `limit` bytes.
    pub async fn fetch(
        &self,
        url: &Url,
        conditional: &Conditional,
        limit: usize,
    ) -> Result<Fetched, FetchError> {
        self.open(url, conditional, limit).await?.read_all().await
    }

    /// [`fetch`](Self::fetch), the body left to read ([`Opened`]).
    pub async fn open(
        &self,
        url: &Url,
        conditional: &Conditional,
        limit: usize,
    ) -> Result<Opened, FetchError> {
        self.guard.check_url(url)?;
        self.allowed(url).await?;
        let origin = self.origin(url);
        self.follow(url.clone(), conditional, limit, true, &origin)
            .await
    }

    /// Waits for a turn at the origin: a free slot (held until the answer's
    /// body is read or dropped), and the delay since the last request's
    /// start.
    async fn turn(&self, origin: &Origin) -> OwnedSemaphorePermit {
        let permit = origin
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        let delay = self
            .settings
            .delay
            .max(*origin.crawl_delay.lock().expect("not poisoned"));
        let mut next = origin.next_start.lock().await;
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep_until(*next).await;
        }
        *next = Instant::now() + delay;
        permit
    }

    /// Sends the request and its redirects, each hop checked; the page's
    /// time starts with its first request (not with the wait for its
    /// host's turn).
    async fn follow(
        &self,
        mut url: Url,
        conditional: &Conditional,
        limit: usize,
        robots: bool,
        first: &Origin,
    ) -> Result<Opened, FetchError> {
        let timeout = self.settings.page_timeout;
        let mut deadline: Option<Instant> = None;
        for hop in 0..=MAX_REDIRECTS {
            self.guard.check_url(&url)?;
            if hop > 0 && robots {
                self.allowed(&url).await?;
            }
            let origin;
            let here = if hop == 0 {
                first
            } else {
                origin = self.origin(&url);
                &origin
            };
            let turn = self.turn(here).await;
            let mut headers = HeaderMap::new();
            if let Some(etag) = conditional
                .etag
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                headers.insert(header::IF_NONE_MATCH, etag);
            }
            if let Some(date) = conditional
                .last_modified
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                headers.insert(header::IF_MODIFIED_SINCE, date);
            }
            headers.insert(
                header::ACCEPT,
                HeaderValue::from_static(
                    "text/html,application/xhtml+xml,text/plain,text/markdown,application/xml;q=0.9,*/*;q=0.5",
                ),
            );
            self.requests.fetch_add(1, Ordering::Relaxed);
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + timeout);
            let response = tokio::time::timeout_at(
                deadline,
                self.client.get(url.clone()).headers(headers).send(),
            )
            .await
            .map_err(|_| FetchError::Timeout(timeout))?
            .map_err(network)?;
            let status = response.status().as_u16();
            if (300..400).contains(&status) && status != 304 {
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| url.join(v).ok())
                    .ok_or(FetchError::BadRedirect)?;
                url = location;
                continue;
            }
            let text = |name: header::HeaderName| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let etag = text(header::ETAG);
            let last_modified = text(header::LAST_MODIFIED);
            let x_robots_tag = text(header::HeaderName::from_static("x-robots-tag"));
            let content_type = text(header::CONTENT_TYPE).map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            });
            if response.content_length().is_some_and(|n| n > limit as u64)
                && response.headers().get(header::CONTENT_ENCODING).is_none()
            {
                return Err(FetchError::TooLarge(limit));
            }
            return Ok(Opened {
                url,
                status,
                etag,
                last_modified,
                content_type,
                x_robots_tag,
                response,
                limit,
                read: 0,
                deadline,
                timeout,
                per_read: false,
                bytes: self.bytes.clone(),
                _turn: turn,
            });
        }
        Err(FetchError::Redirects)
    }
}

/// A transport failure; the guard's refusal when that is what it was (it
/// travels up from the resolver inside reqwest's error).
fn network(error: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return FetchError::Refused(refused.clone());
        }
        source = e.source();
    }
    // The URL is the caller's to show (redacted): never in the message.
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(e) = source {
        message.push_str(": ");
        message.push_str(&e.to_string());
        source = e.source();
    }
    FetchError::Network(trawl_service::redact::text(&message).into_owned())
}
