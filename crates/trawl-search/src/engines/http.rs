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

use bytes::Bytes;
use trawl_api::SearchRequest;

use crate::engine::{Engine, EngineError, EngineResults};

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
    /// How long a call may take.
    pub timeout: Duration,
    /// When and how long the engine is suspended.
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

/// The longest an API's own rate-limit signal suspends its engine: a day,
/// the longest quota period of the APIs trawl asks (Stack Exchange's).
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

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
        // A key or password written into the configured address is a
        // secret like one read from the environment.
        trawl_service::redact::register_url(home, &[]);
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(2).min(settings.timeout))
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(net::redirect_policy(
                net::MAX_REDIRECTS,
                &net::Trusted::of([home]),
            ))
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

    /// Whether the engine is suspended now.
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

    /// Sends `request` (after taking a call from the cap) and returns the
    /// answer when it is a success. A 429, or an answer `api` reads as a
    /// rate limit, suspends the engine for as long as the API says (a
    /// minute when it does not); any other failure becomes an
    /// [`EngineError`] through the API's own error envelope, else by status.
    async fn send<A: Api + ?Sized>(
        &self,
        api: &A,
        request: reqwest::Request,
    ) -> Result<Answer, EngineError> {
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
        if answer.status.is_success() {
            return Ok(answer);
        }
        let error = api.error_of(&answer).unwrap_or_else(|| by_status(&answer));
        if answer.status.as_u16() == 429 || matches!(error, EngineError::RateLimited(_)) {
            // Asked to wait: not asked again before then.
            // A minute when it does not say; never more than a day.
            let wait = api
                .wait_of(&answer)
                .or(answer.retry_after)
                .unwrap_or(Duration::from_secs(60))
                .min(MAX_WAIT);
            self.status.breaker.open_for(wait);
            tracing::warn!(wait_s = wait.as_secs(), "rate limited: engine suspended");
        }
        Err(error)
    }
}

/// One engine's side of a search API: how to ask it and how to read its
/// answers and errors. Everything else — the outbound stack, the call cap,
/// suspension, readiness, the 429 and `Retry-After` handling — is
/// [`ApiEngine`]'s, written once for every API.
#[async_trait::async_trait]
pub trait Api: Send + Sync + 'static {
    /// Its `type` in the configuration, e.g. `arxiv`.
    const KIND: &'static str;

    /// Asks the API for one page of `request`'s results through `call`.
    async fn search(
        &self,
        call: &Call<'_, Self>,
        request: &SearchRequest,
    ) -> Result<EngineResults, EngineError>;

    /// The key it cannot call without: while it is missing, searches report
    /// `auth` without calling and readiness says which variable to set.
    fn required_key(&self) -> Option<&ApiKey> {
        None
    }

    /// Reads the API's own error envelope; `None` leaves the error to the
    /// status ([`by_status`]).
    fn error_of(&self, _answer: &Answer) -> Option<EngineError> {
        None
    }

    /// How long a rate-limited answer asks to wait, when the API says so
    /// other than by `Retry-After`.
    fn wait_of(&self, _answer: &Answer) -> Option<Duration> {
        None
    }

    /// Where it is, for readiness: `None` to say nothing.
    fn describe(&self) -> Option<String> {
        None
    }
}

/// An engine's calls to its API during one search, through the engine's
/// [`Upstream`] and reading errors with its [`Api`].
pub struct Call<'a, A: ?Sized> {
    api: &'a A,
    upstream: &'a Upstream,
}

impl<A: Api + ?Sized> Call<'_, A> {
    /// GETs `url`, with `headers`; the answer's body.
    pub async fn get(
        &self,
        url: Url,
        headers: &[(&'static str, String)],
        accept: &'static str,
    ) -> Result<Bytes, EngineError> {
        let request = build(reqwest::Method::GET, url, headers, accept, None)?;
        Ok(self.upstream.send(self.api, request).await?.body)
    }

    /// GETs `url` and decodes its JSON answer.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        url: Url,
        headers: &[(&'static str, String)],
    ) -> Result<T, EngineError> {
        decode(&self.get(url, headers, "application/json").await?)
    }

    /// POSTs `body` as JSON to `url` and decodes its JSON answer.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        url: Url,
        headers: &[(&'static str, String)],
        body: &serde_json::Value,
    ) -> Result<T, EngineError> {
        let body = serde_json::to_vec(body).map_err(|e| EngineError::Failed(e.to_string()))?;
        let request = build(
            reqwest::Method::POST,
            url,
            headers,
            "application/json",
            Some(body),
        )?;
        decode(&self.upstream.send(self.api, request).await?.body)
    }

    /// Not asked again for `wait`: the API said so in its own words.
    pub fn suspend(&self, wait: Duration) {
        self.upstream.suspend(wait);
    }
}

/// A JSON body decoded, or the engine's `parse` error.
fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, EngineError> {
    serde_json::from_slice(body).map_err(|e| EngineError::Parse(e.to_string()))
}

fn build(
    method: reqwest::Method,
    url: Url,
    headers: &[(&'static str, String)],
    accept: &'static str,
    body: Option<Vec<u8>>,
) -> Result<reqwest::Request, EngineError> {
    let mut request = reqwest::Request::new(method, url);
    let map: &mut HeaderMap = request.headers_mut();
    map.insert(reqwest::header::ACCEPT, HeaderValue::from_static(accept));
    for (name, value) in headers {
        let value = HeaderValue::from_str(value)
            .map_err(|_| EngineError::Failed(format!("header {name} has an invalid value")))?;
        map.insert(HeaderName::from_static(name), value);
    }
    if let Some(body) = body {
        map.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        *request.body_mut() = Some(body.into());
    }
    Ok(request)
}

/// An engine over an HTTP search API: the API's own part ([`Api`]) behind
/// the shared plumbing ([`Upstream`]).
pub struct ApiEngine<A> {
    name: String,
    api: A,
    upstream: Upstream,
}

impl<A: Api> ApiEngine<A> {
    /// `home` is the API's configured address (see [`Upstream::new`]).
    pub fn new(settings: &HttpSettings, home: &Url, api: A) -> Result<Self, reqwest::Error> {
        Ok(Self {
            name: settings.name.clone(),
            upstream: Upstream::new(settings, home)?,
            api,
        })
    }
}

#[async_trait::async_trait]
impl<A: Api> Engine for ApiEngine<A> {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        A::KIND
    }

    async fn search(&self, request: &SearchRequest) -> Result<EngineResults, EngineError> {
        if let Some(key) = self.api.required_key() {
            key.get()?;
        }
        let call = Call {
            api: &self.api,
            upstream: &self.upstream,
        };
        self.api.search(&call, request).await
    }

    fn suspended(&self) -> bool {
        self.upstream.suspended()
    }

    async fn readiness(&self) -> Check {
        let check = self.upstream.check(&self.name, self.api.required_key());
        match self.api.describe() {
            Some(at) => Check::new(&self.name, check.ok, format!("{at}: {}", check.detail)),
            None => check,
        }
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
    /// A key read from `env` (`None`: not set).
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
