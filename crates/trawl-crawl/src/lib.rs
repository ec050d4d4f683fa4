//! trawl's crawler: fetching pages from the web on a source's behalf,
//! safely and politely, and reading what comes back.
//!
//! - [`guard`]: where a crawl may go. Only http and https, and only to
//!   public addresses (unless the owner opens a network on purpose):
//!   checked after DNS resolution, by the resolver the connection uses (no
//!   second lookup an attacker could rebind), and for IP literals before
//!   every hop of a redirect.
//! - [`Fetcher`]: one crawl's HTTP: robots.txt per origin (with
//!   `Crawl-delay`), a limit on concurrent requests and a delay between
//!   them per host, conditional GETs, at most five redirects, a size limit
//!   and a timeout per page.
//! - [`read`]: sitemaps (and their indexes, gzip too), RSS and Atom feeds,
//!   and pages (text, links, `<link rel=canonical>`, `noindex`);
//!   [`mod@stream`]: sitemaps, feeds and dumps read as they stream in, the
//!   reader stopped once the caller has what it can take.
//!
//! What to crawl, and what the store and the index make of it, is the
//! indexer's business (`trawl-indexer::crawl`); this crate does HTTP and
//! parsing only.

pub mod fetch;
pub mod guard;
pub mod read;
pub mod stream;

pub use fetch::{Conditional, FetchError, Fetched, Fetcher, Opened};
pub use guard::Guard;
pub use stream::{StreamError, Streamed, stream};

use std::time::Duration;

/// How a crawl behaves: the `[crawl]` section of the configuration.
#[derive(Debug, Clone)]
pub struct CrawlSettings {
    /// Sent with every request: names trawl and where to learn about the
    /// crawl (a contact URL).
    pub user_agent: String,
    /// The token robots.txt groups are matched against (`trawl`).
    pub robots_token: String,
    /// Requests to one host at once, at most.
    pub per_host_concurrency: usize,
    /// Least time between the starts of two requests to one host; a
    /// robots.txt `Crawl-delay` makes it longer (up to `max_crawl_delay`).
    pub delay: Duration,
    /// The longest `Crawl-delay` honoured; a longer one is cut to this.
    pub max_crawl_delay: Duration,
    /// Longest wait for one page (every redirect and the whole body).
    pub page_timeout: Duration,
    /// Largest page, after decompression.
    pub max_page_bytes: usize,
    /// Largest sitemap, feed or JSONL dump, after decompression.
    pub max_document_bytes: usize,
    /// Networks opened to crawls on purpose (an intranet), besides the
    /// public internet.
    pub allow_networks: Vec<ipnet::IpNet>,
}

/// `trawl/VERSION`, with the instance's URL as the contact when it has
/// one: `trawl/0.1.0 (+https://search.example.org)`.
pub fn default_user_agent(contact: Option<&str>) -> String {
    let version = env!("CARGO_PKG_VERSION");
    match contact {
        Some(url) => format!("trawl/{version} (+{url})"),
        None => format!("trawl/{version}"),
    }
}

impl Default for CrawlSettings {
    fn default() -> Self {
        Self {
            user_agent: default_user_agent(None),
            robots_token: "trawl".to_owned(),
            per_host_concurrency: 2,
            delay: Duration::from_millis(500),
            max_crawl_delay: Duration::from_secs(30),
            page_timeout: Duration::from_secs(30),
            max_page_bytes: 5 * 1024 * 1024,
            max_document_bytes: 256 * 1024 * 1024,
            allow_networks: Vec::new(),
        }
    }
}
