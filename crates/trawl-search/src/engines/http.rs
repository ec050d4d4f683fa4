//! What every engine that calls an upstream HTTP API shares: a client with
//! a descriptive User-Agent and compressed responses, and the outbound
//! stack of `trawl-service` (deadline, bulkhead, budgeted retries, and a
//! circuit breaker that is the engine's suspension), with a classifier for
//! third-party APIs.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::Quota;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use tower::ServiceExt;
use trawl_api::Check;
use trawl_service::breaker::{BreakerSettings, CircuitBreaker, State};
use trawl_service::net;
use trawl_service::outbound::{
    Answer, Classifier, FetchError, MAX_BODY_BYTES, Outbound, Outcome, RetrySettings,
    StackSettings, StackStatus, stack,
};
use url::Url;

use crate::engine::EngineError;

/// Sent to every upstream API, which may want to know who is asking.
pub const USER_AGENT: &str = concat!(
    "trawl/",
    env!("CARGO_PKG_VERSION"),
    " (self-hosted metasearch; +https://github.com/trawl-search/trawl)"
);

/// Third-party APIs fail on 5xx and on 429 (which also suspends the
/// engine); only a gateway's 502/503/504 is worth an immediate retry.
pub const UPSTREAM_API: Classifier = Classifier {
    failed: |answer| answer.status.is_server_error() || answer.status.as_u16() == 429,
    retryable: |answer| matches!(answer.status.as_u16(), 502..=504),
};

/// How an HTTP engine calls its API.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The engine's name, for logs.
    pub name: String,
    pub timeout: Duration,
    pub suspension: BreakerSettings,
    /// Largest answer read, after decompression; a larger one is the
    /// engine's error.
    pub max_body_bytes: usize,
    /// Calls a minute to the API from this process at most, whoever asks
    /// (protecting a paid quota); `None` for no cap.
    pub calls_per_minute: Option<NonZeroU32>,
}

impl HttpSettings {
    /// Settings with the defaults for everything but the name and timeout.
    pub fn new(name: impl Into<String>, timeout: Duration) -> Self {
        Self {
            name: name.into(),
            timeout,
            suspension: BreakerSettings::default(),
            max_body_bytes: MAX_BODY_BYTES,
            calls_per_minute: NonZeroU32::new(DEFAULT_CALLS_PER_MINUTE),
        }
    }
}

/// The default cap on calls a minute to one engine.
pub const DEFAULT_CALLS_PER_MINUTE: u32 = 600;

type Cap = governor::DefaultDirectRateLimiter;

/// An upstream API behind the outbound stack.
#[derive(Debug, Clone)]
pub struct Upstream {
    outbound: Outbound,
    status: StackStatus,
    cap: Option<(Arc<Cap>, u32)>,
}

impl Upstream {
    /// `home` is the API's configured address: redirects from it are
    /// followed only to public addresses (`trawl_service::net`).
    pub fn new(settings: &HttpSettings, home: &Url) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(2).min(settings.timeout))
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(net::redirect_policy(net::MAX_REDIRECTS))
            .dns_resolver(net::PublicResolver::trusting([home]))
            .build()?;
        // Leaked once per configured engine, for the stack's log fields.
        let destination: &'static str = Box::leak(settings.name.clone().into_boxed_str());
        let (outbound, status) = stack(
            http,
            &StackSettings {
                destination,
                timeout: settings.timeout,
                max_in_flight: 64,
                // Not retried: a call may spend quota, and a failure counts
                // once towards suspension, per request, as in SearXNG.
                retry: RetrySettings {
                    retries: 0,
                    ..RetrySettings::default()
                },
                classifier: UPSTREAM_API,
                // Our deadlines are nobody else's business.
                propagate_deadline: false,
                max_body_bytes: settings.max_body_bytes,
            },
            Arc::new(CircuitBreaker::new(settings.suspension)),
        );
        let cap = settings.calls_per_minute.map(|per_minute| {
            (
                Arc::new(governor::RateLimiter::direct(Quota::per_minute(per_minute))),
                per_minute.get(),
            )
        });
        Ok(Self {
            outbound,
            status,
            cap,
        })
    }

    /// Takes one call from the cap, or says the cap is reached.
    fn spend(&self) -> Result<(), EngineError> {
        match &self.cap {
            Some((cap, per_minute)) if cap.check().is_err() => {
                tracing::warn!(per_minute, "engine call cap reached: not calling");
                Err(EngineError::RateLimited(format!(
                    "trawl's cap of {per_minute} calls a minute to this engine is reached"
                )))
            }
            _ => Ok(()),
        }
    }

    /// The suspension state and counters, for `/v1/engines` and `/readyz`.
    pub fn status(&self) -> &StackStatus {
        &self.status
    }

    pub fn suspended(&self) -> bool {
        self.status.breaker.snapshot().state == State::Open
    }

    /// The engine's readiness: ready unless suspended or without the key it
    /// needs.
    pub fn check(&self, name: &str, key: Option<&ApiKey>) -> Check {
        match key.and_then(|key| key.get().err()) {
            Some(missing) => Check::new(name, false, missing.to_string()),
            None => Check::new(name, !self.suspended(), self.status.describe()),
        }
    }

    /// Not asked again for `wait`: the API said so in its own words.
    pub fn suspend(&self, wait: Duration) {
        self.status.breaker.open_for(wait);
        tracing::warn!(
            wait_s = wait.as_secs(),
            "engine suspended at its API's request"
        );
    }

    /// GETs `url` and decodes a JSON body; any other answer becomes an
    /// [`EngineError`] through `error_of` (which reads the API's own error
    /// envelope), else by status.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        url: Url,
        headers: &[(&'static str, String)],
        error_of: impl Fn(&Answer) -> Option<EngineError>,
    ) -> Result<T, EngineError> {
        let mut request = reqwest::Request::new(reqwest::Method::GET, url);
        let map: &mut HeaderMap = request.headers_mut();
        map.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in headers {
            let value = HeaderValue::from_str(value)
                .map_err(|_| EngineError::Failed(format!("header {name} has an invalid value")))?;
            map.insert(HeaderName::from_static(name), value);
        }
        self.spend()?;
        let answer =
            self.outbound
                .clone()
                .oneshot(request)
                .await
                .map_err(|e| match Outcome::from(e) {
                    Outcome::Refused(refused) => EngineError::Suspended {
                        retry_after: refused.retry_after,
                    },
                    Outcome::Fetch(FetchError::Timeout(t)) => EngineError::Timeout(t),
                    Outcome::Fetch(FetchError::Connect(m) | FetchError::Transport(m)) => {
                        EngineError::Unreachable(m)
                    }
                    Outcome::Fetch(busy @ FetchError::Busy(_)) => {
                        EngineError::Failed(busy.to_string())
                    }
                    Outcome::Fetch(FetchError::TooLarge(limit)) => EngineError::TooLarge(limit),
                    Outcome::Other(e) => EngineError::Failed(e.to_string()),
                })?;
        if answer.status.as_u16() == 429 {
            // Asked to wait: not asked again before then (a minute when it
            // does not say how long).
            let wait = answer.retry_after.unwrap_or(Duration::from_secs(60));
            self.status.breaker.open_for(wait);
            tracing::warn!(wait_s = wait.as_secs(), "rate limited: engine suspended");
        }
        if !answer.status.is_success() {
            return Err(error_of(&answer).unwrap_or_else(|| by_status(&answer)));
        }
        serde_json::from_slice(&answer.body).map_err(|e| EngineError::Parse(e.to_string()))
    }
}

/// An error from the status alone, with the start of the body as message.
pub fn by_status(answer: &Answer) -> EngineError {
    let message: String = String::from_utf8_lossy(&answer.body)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    match answer.status.as_u16() {
        401 | 403 => EngineError::Auth(message),
        429 => EngineError::RateLimited(message),
        status => EngineError::Http { status, message },
    }
}

/// An API key, read from its environment variable at start; `None` when the
/// variable was not set.
#[derive(Debug, Clone)]
pub struct ApiKey {
    value: Option<String>,
    env: String,
}

impl ApiKey {
    pub fn new(value: Option<String>, env: impl Into<String>) -> Self {
        Self {
            value,
            env: env.into(),
        }
    }

    /// The key, or the `auth` error an engine that needs it reports
    /// without calling.
    pub fn get(&self) -> Result<&str, EngineError> {
        self.value.as_deref().ok_or_else(|| {
            EngineError::Auth(format!("environment variable {} is not set", self.env))
        })
    }

    /// The key, for engines to which it is optional.
    pub fn into_value(self) -> Option<String> {
        self.value
    }
}
