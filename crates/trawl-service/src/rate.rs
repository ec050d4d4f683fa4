//! Per-client rate limits: a token bucket (GCRA, from `governor`) per
//! client address and budget, answered `429` with `Retry-After` when spent.
//!
//! Three budgets: **pages** (requests for HTML, including any path the
//! page routes would take as a query), **API** (`/api/…`, `/v1/…`, the
//! suggestions a page asks for as people type, `/autocomplete`, and
//! SearXNG's API on `/search`: a `POST`, or `format=json|csv|rss`) and
//! **index** (`/v1/index/…`: the index's commits, which search replicas
//! pull; whole files, so a budget of their own). The health endpoints,
//! the OpenAPI document and static assets spend nothing.
//! A client is its address as [`crate::client`] decided it (behind trusted
//! proxies, the forwarded one); IPv6 clients are counted by their /64,
//! which one subscriber usually holds whole. What protects engines' paid
//! quotas from all clients together is the per-engine cap in the search
//! service; these limits keep one client from taking everyone's share.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use ipnet::IpNet;

use crate::ApiError;
use crate::client::Client;

/// One budget: a sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Requests a minute, sustained; `0` turns the budget off.
    pub per_minute: u32,
    /// Requests that may come at once after a quiet spell.
    pub burst: u32,
}

/// The limits of [`layer`].
#[derive(Debug, Clone, PartialEq)]
pub struct RateSettings {
    /// The pages' budget.
    pub pages: Budget,
    /// The API's budget.
    pub api: Budget,
    /// The index files' budget.
    pub index: Budget,
    /// Clients never limited (monitoring, the owner's own scripts).
    pub exempt: Vec<IpNet>,
    /// Clients tracked at once; beyond it, new clients share one bucket
    /// until idle ones are forgotten (which keeps the limiter's memory
    /// bounded whatever addresses arrive).
    pub max_clients: usize,
}

impl Default for RateSettings {
    fn default() -> Self {
        Self {
            pages: Budget {
                per_minute: 60,
                burst: 30,
            },
            api: Budget {
                per_minute: 600,
                burst: 60,
            },
            // A replica polls the manifest every 2 s (30 a minute) and
            // fetches the files of each commit it lacks.
            index: Budget {
                per_minute: 240,
                burst: 120,
            },
            exempt: Vec::new(),
            max_clients: 100_000,
        }
    }
}

/// Which budget a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The HTML pages.
    Pages,
    /// The JSON API.
    Api,
    /// The index's commits.
    Index,
}

impl Kind {
    /// The budget of a request, `None` for what is free. `/search` is a
    /// page, except when a program asks SearXNG's API of it: a `POST`, or
    /// `format=json|csv|rss`.
    pub fn of(method: &axum::http::Method, uri: &axum::http::Uri) -> Option<Self> {
        let path = uri.path();
        if path == "/search" {
            let searx_format = uri.query().is_some_and(|query| {
                query.contains("format")
                    && trawl_api::params::parse_query_string(query).is_ok_and(|pairs| {
                        pairs.iter().any(|(name, value)| {
                            name == "format" && matches!(value.as_str(), "json" | "csv" | "rss")
                        })
                    })
            });
            return Some(if searx_format || method == axum::http::Method::POST {
                Self::Api
            } else {
                Self::Pages
            });
        }
        let free = matches!(
            path,
            "/livez" | "/readyz" | "/openapi.json" | "/favicon.ico" | "/robots.txt"
        ) || path.starts_with("/static/");
        if free {
            None
        } else if path.starts_with("/v1/index/") {
            Some(Self::Index)
        } else if path.starts_with("/api/") || path.starts_with("/v1/") || path == "/autocomplete" {
            Some(Self::Api)
        } else {
            Some(Self::Pages)
        }
    }

    /// Its name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pages => "pages",
            Self::Api => "API",
            Self::Index => "index",
        }
    }
}

type Keyed =
    RateLimiter<IpAddr, governor::state::keyed::DefaultKeyedStateStore<IpAddr>, DefaultClock>;

/// The limiters of one server.
pub struct RateLimits {
    settings: RateSettings,
    pages: Option<Keyed>,
    api: Option<Keyed>,
    index: Option<Keyed>,
    checks: AtomicU64,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Where clients beyond `max_clients` are counted together.
const OVERFLOW: IpAddr = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);

impl RateLimits {
    /// Budgets as `settings` say.
    pub fn new(settings: RateSettings) -> Self {
        let bucket = |budget: Budget| -> Option<Keyed> {
            let per_minute = NonZeroU32::new(budget.per_minute)?;
            let burst = NonZeroU32::new(budget.burst.max(1)).expect("at least one");
            Some(RateLimiter::keyed(
                Quota::per_minute(per_minute).allow_burst(burst),
            ))
        };
        Self {
            pages: bucket(settings.pages),
            api: bucket(settings.api),
            index: bucket(settings.index),
            settings,
            checks: AtomicU64::new(0),
            clock: DefaultClock::default(),
        }
    }

    /// Spends one request of `kind` for `ip`; `Err` holds how long until
    /// the next would be allowed.
    pub fn check(&self, kind: Kind, ip: IpAddr) -> Result<(), Duration> {
        if self.settings.exempt.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        let bucket = match kind {
            Kind::Pages => &self.pages,
            Kind::Api => &self.api,
            Kind::Index => &self.index,
        };
        let Some(limiter) = bucket else {
            return Ok(());
        };
        let mut key = client_key(ip);
        // Now and then, and whenever the table is full, forget the clients
        // whose buckets have refilled: they are as if never seen.
        let checks = self.checks.fetch_add(1, Ordering::Relaxed);
        if checks % 4096 == 4095 || limiter.len() >= self.settings.max_clients {
            limiter.retain_recent();
            limiter.shrink_to_fit();
            if limiter.len() >= self.settings.max_clients {
                key = OVERFLOW;
            }
        }
        limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// The burst of `kind`'s budget (for messages).
    fn burst(&self, kind: Kind) -> u32 {
        match kind {
            Kind::Pages => self.settings.pages.burst.max(1),
            Kind::Api => self.settings.api.burst.max(1),
            Kind::Index => self.settings.index.burst.max(1),
        }
    }
}

/// A client as the limits count it: IPv4 addresses as they are, IPv6 ones
/// by their /64 (which one subscriber usually holds whole).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

/// Limits `routes` per client (their requests must come through
/// [`crate::server::app`], which says who the client is). Apply it to the
/// routes anyone may call; routes that need an API key are accounted for
/// by their key instead.
pub fn layer(routes: axum::Router, settings: RateSettings) -> axum::Router {
    routes.layer(axum::middleware::from_fn_with_state(
        Arc::new(RateLimits::new(settings)),
        limit,
    ))
}

/// The middleware: `429 rate_limited` with `Retry-After` once a client's
/// budget is spent.
async fn limit(State(limits): State<Arc<RateLimits>>, request: Request, next: Next) -> Response {
    let ip = request.extensions().get::<Client>().and_then(|c| c.ip);
    let kind = Kind::of(request.method(), request.uri());
    if let (Some(ip), Some(kind)) = (ip, kind)
        && let Err(wait) = limits.check(kind, ip)
    {
        tracing::info!(
            client = %client_key(ip),
            budget = kind.as_str(),
            retry_after_ms = wait.as_millis() as u64,
            "rate limited"
        );
        ::metrics::counter!(crate::metrics::Metric::HttpRateLimited.name(), "budget" => kind.as_str())
            .increment(1);
        let error = ApiError::RateLimited {
            budget: kind.as_str(),
            burst: limits.burst(kind),
            retry_after: wait,
        };
        return error.into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_minute: u32, burst: u32) -> RateLimits {
        RateLimits::new(RateSettings {
            pages: Budget { per_minute, burst },
            api: Budget {
                per_minute: 0,
                burst: 0,
            },
            index: Budget {
                per_minute: 0,
                burst: 0,
            },
            exempt: vec!["192.0.2.0/24".parse().unwrap()],
            max_clients: 3,
        })
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_and_others_are_not_affected() {
        let limits = limits(60, 3);
        let a: IpAddr = "198.51.100.1".parse().unwrap();
        let b: IpAddr = "198.51.100.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.check(Kind::Pages, a).is_ok());
        }
        let wait = limits.check(Kind::Pages, a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limits.check(Kind::Pages, b).is_ok());
        // A budget turned off limits nothing.
        for _ in 0..100 {
            assert!(limits.check(Kind::Api, a).is_ok());
        }
        // Exempt networks are never limited.
        let exempt: IpAddr = "192.0.2.9".parse().unwrap();
        for _ in 0..100 {
            assert!(limits.check(Kind::Pages, exempt).is_ok());
        }
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let limits = limits(60, 2);
        let first: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limits.check(Kind::Pages, first).is_ok());
        assert!(limits.check(Kind::Pages, same_64).is_ok());
        assert!(limits.check(Kind::Pages, first).is_err());
        assert!(limits.check(Kind::Pages, other_64).is_ok());
    }

    #[test]
    fn the_table_of_clients_is_bounded() {
        let limits = limits(60, 1);
        for i in 0..50u8 {
            let _ = limits.check(Kind::Pages, IpAddr::from([198, 51, 100, i]));
        }
        let tracked = limits.pages.as_ref().unwrap().len();
        assert!(tracked <= 4, "{tracked} clients tracked");
    }

    #[test]
    fn what_costs_what() {
        let kind = |uri: &str| Kind::of(&axum::http::Method::GET, &uri.parse().unwrap());
        assert_eq!(kind("/readyz"), None);
        assert_eq!(kind("/static/trawl.css"), None);
        assert_eq!(kind("/api/v2/search"), Some(Kind::Api));
        assert_eq!(kind("/v1/documents"), Some(Kind::Api));
        assert_eq!(kind("/v1/index/files/a.idx"), Some(Kind::Index));
        assert_eq!(kind("/search"), Some(Kind::Pages));
        assert_eq!(kind("/autocomplete"), Some(Kind::Api));
        assert_eq!(kind("/preferences"), Some(Kind::Pages));
        assert_eq!(kind("/wp-login.php"), Some(Kind::Pages));
        assert_eq!(kind("/search?q=x&format=json"), Some(Kind::Api));
        assert_eq!(kind("/search?format=%72ss&q=x"), Some(Kind::Api));
        assert_eq!(kind("/search?q=x&format=html"), Some(Kind::Pages));
        assert_eq!(kind("/search?q=x&xformat=json"), Some(Kind::Pages));
        assert_eq!(
            Kind::of(&axum::http::Method::POST, &"/search".parse().unwrap()),
            Some(Kind::Api)
        );
    }
}
