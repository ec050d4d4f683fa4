//! The one outbound client stack: every call from one trawl service to
//! another goes through it (and so will every engine's call to an upstream
//! API). It is a tower service built from layers, outermost first:
//!
//! | layer | from | what it does |
//! |---|---|---|
//! | [`RetryPolicy`] | `tower::retry` with its `TpsBudget` | retries what the classifier calls retryable, with jittered exponential backoff, never past the deadline, and only while retries stay within the budget (a fifth of the calls by default) |
//! | [`DeadlineLayer`] | trawl | gives each attempt the sooner of the configured timeout and the request's deadline less a [margin](deadline::margin), sends trawl's own services that less another margin in `trawl-budget-ms` (so the callee gives up first and its answer still arrives; not to third-party APIs), and makes no attempt once nothing is left |
//! | bulkhead | `tower::load_shed` over `tower::limit::ConcurrencyLimit` | at most `max_in_flight` calls to the destination; one more fails at once |
//! | [`BreakerLayer`] | trawl ([`crate::breaker`]) | refuses calls at once while the destination's breaker is open; records each outcome the classifier judges |
//! | [`Fetch`] | reqwest | the HTTP exchange, with the body read in full up to a size limit counted after decompression |
//!
//! tower has no circuit breaker and no deadline propagation; the maintained
//! breaker crates count failures but do not give a single half-open probe
//! nor let the caller judge an answer by its body, so those two are here.
//! Which answers are failures is the [`Classifier`]'s call: for trawl's
//! services, a problem document about a service further on is a correct,
//! prompt answer, not a failure of the one that sent it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use reqwest::header::HeaderValue;
use reqwest::{Request, StatusCode};
use tower::limit::ConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::retry::budget::{Budget, TpsBudget};
use tower::retry::{Policy, RetryLayer};
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Layer, Service, ServiceBuilder};

use crate::breaker::{CircuitBreaker, Refused, State};
use crate::deadline::{self, BUDGET_HEADER};
use crate::metrics::Metric;
use tracing::Instrument;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The outbound stack, ready to call.
pub type Outbound = BoxCloneSyncService<Request, Answer, BoxError>;

/// A whole HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its body, read within the limit.
    pub body: Bytes,
    /// The `Retry-After` header, in its delay-seconds form.
    pub retry_after: Option<Duration>,
    /// Every header of the answer.
    pub headers: reqwest::header::HeaderMap,
}

/// Why no answer came.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// Nothing came back in time (`Duration::ZERO`: no time was left to ask).
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The connection could not be made: nothing was sent.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The connection failed after the request was (perhaps) sent.
    #[error("{0}")]
    Transport(String),
    /// The bulkhead is full.
    #[error("{0} calls already in flight")]
    Busy(usize),
    /// The answer's body (decompressed) is larger than the limit; the rest
    /// was not read.
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
}

/// How the stack judges an outcome.
#[derive(Debug, Clone, Copy)]
pub struct Classifier {
    /// Whether an answer means the destination is failing (counts against
    /// its breaker).
    pub failed: fn(&Answer) -> bool,
    /// Whether an answer is worth asking for again.
    pub retryable: fn(&Answer) -> bool,
}

/// An error and its sources, `: `-separated, with registered secrets
/// replaced ([`crate::redact::text`]). Give it a `reqwest::Error` only
/// [without its URL](reqwest::Error::without_url): keys travel in URLs.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    crate::redact::text(&text).into_owned()
}

/// The innermost service: one HTTP exchange, its body read as it streams
/// in and refused beyond `max_body_bytes` (counted after decompression, so
/// a small compressed answer cannot become a large one in memory).
#[derive(Debug, Clone)]
pub struct Fetch {
    http: reqwest::Client,
    max_body_bytes: usize,
}

/// Reads a body whole, up to `limit` bytes.
async fn read_body(response: &mut reqwest::Response, limit: usize) -> Result<Bytes, FetchOrHttp> {
    // A declared length over the limit is refused before reading any of it
    // (it is the compressed length when the body is compressed: a lower
    // bound of what it would take in memory).
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(FetchOrHttp::Fetch(FetchError::TooLarge(limit)));
    }
    // One chunk is kept as it is (most answers come in one); more are
    // joined.
    let mut first: Option<Bytes> = None;
    let mut joined = bytes::BytesMut::new();
    let mut read = 0usize;
    while let Some(chunk) = response.chunk().await.map_err(FetchOrHttp::Http)? {
        read = read.saturating_add(chunk.len());
        if read > limit {
            return Err(FetchOrHttp::Fetch(FetchError::TooLarge(limit)));
        }
        match first.take() {
            None if joined.is_empty() => first = Some(chunk),
            Some(earlier) => {
                joined.extend_from_slice(&earlier);
                joined.extend_from_slice(&chunk);
            }
            None => joined.extend_from_slice(&chunk),
        }
    }
    Ok(first.unwrap_or_else(|| joined.freeze()))
}

enum FetchOrHttp {
    Fetch(FetchError),
    Http(reqwest::Error),
}

impl Service<Request> for Fetch {
    type Response = Answer;
    type Error = BoxError;
    type Future = BoxFuture<Result<Answer, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let http = self.http.clone();
        let max_body_bytes = self.max_body_bytes;
        let timeout = request.timeout().copied().unwrap_or_default();
        Box::pin(async move {
            let failed = |e: reqwest::Error| -> BoxError {
                // The URL may carry a key: never in an error's text.
                let e = e.without_url();
                Box::new(if e.is_timeout() {
                    FetchError::Timeout(timeout)
                } else if e.is_connect() {
                    FetchError::Connect(error_chain(&e))
                } else {
                    FetchError::Transport(error_chain(&e))
                })
            };
            let mut response = http.execute(request).await.map_err(failed)?;
            let status = response.status();
            let headers = std::mem::take(response.headers_mut());
            let retry_after = headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = match read_body(&mut response, max_body_bytes).await {
                Ok(body) => body,
                Err(FetchOrHttp::Http(e)) => return Err(failed(e)),
                Err(FetchOrHttp::Fetch(e)) => return Err(Box::new(e)),
            };
            Ok(Answer {
                status,
                body,
                retry_after,
                headers,
            })
        })
    }
}

/// See the [module](self) table.
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    /// The whole call's limit.
    pub timeout: Duration,
    /// Sends the budget in `trawl-budget-ms` and the trace context in
    /// `traceparent`: for trawl's own services only.
    pub propagate: bool,
    /// Names the destination in spans.
    pub destination: &'static str,
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;
    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            timeout: self.timeout,
            propagate: self.propagate,
            destination: self.destination,
        }
    }
}

/// Bounds each call by the sooner of its timeout and the request's deadline.
#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    timeout: Duration,
    propagate: bool,
    destination: &'static str,
}

impl<S> Service<Request> for Deadline<S>
where
    S: Service<Request, Response = Answer, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = Answer;
    type Error = BoxError;
    type Future = BoxFuture<Result<Answer, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let window = deadline::for_work().map_or(self.timeout, |w| w.min(self.timeout));
        // The callee's deadline comes a margin before ours, so that its
        // answer (a timeout naming whoever it waited for, or its partial
        // results) reaches us before we give up on it.
        let budget = window.saturating_sub(deadline::margin(window));
        if budget.as_millis() == 0 {
            // Whatever it answered would come too late to be used.
            return Box::pin(async { Err(FetchError::Timeout(Duration::ZERO).into()) });
        }
        *request.timeout_mut() = Some(window);
        if !self.propagate {
            return Box::pin(self.inner.call(request));
        }
        request.headers_mut().insert(
            BUDGET_HEADER,
            HeaderValue::from(budget.as_millis().min(u128::from(u64::MAX)) as u64),
        );
        // Each attempt is a hop of the trace: its span is the callee's
        // request span's parent.
        let span = tracing::info_span!(
            "call",
            destination = self.destination,
            otel.name = %format_args!("call {}", self.destination),
            otel.kind = "client",
        );
        crate::trace::inject(&span, request.headers_mut());
        Box::pin(self.inner.call(request).instrument(span))
    }
}

/// See the [module](self) table.
#[derive(Debug, Clone)]
pub struct BreakerLayer {
    /// The destination's breaker.
    pub breaker: Arc<CircuitBreaker>,
    /// Which answers are failures.
    pub classifier: Classifier,
    /// Names the destination in logs.
    pub destination: &'static str,
}

impl<S> Layer<S> for BreakerLayer {
    type Service = Breaker<S>;
    fn layer(&self, inner: S) -> Breaker<S> {
        Breaker {
            inner,
            layer: self.clone(),
        }
    }
}

/// Refuses calls while the destination's breaker is open.
#[derive(Debug, Clone)]
pub struct Breaker<S> {
    inner: S,
    layer: BreakerLayer,
}

impl<S> Service<Request> for Breaker<S>
where
    S: Service<Request, Response = Answer, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = Answer;
    type Error = BoxError;
    type Future = BoxFuture<Result<Answer, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let BreakerLayer {
            breaker,
            classifier,
            destination,
        } = self.layer.clone();
        let permit = match breaker.try_acquire() {
            Ok(permit) => permit,
            Err(refused) => {
                tracing::debug!(destination, %refused, "call refused");
                ::metrics::counter!(Metric::OutboundCalls.name(), "destination" => destination, "outcome" => "refused")
                    .increment(1);
                return Box::pin(async move { Err(refused.into()) });
            }
        };
        let call = self.inner.call(request);
        Box::pin(async move {
            let outcome = call.await;
            // (A call the deadline left no time for never gets here: the
            // deadline layer, outside this one, refuses it.)
            let failed = match &outcome {
                Ok(answer) => (classifier.failed)(answer),
                Err(_) => true,
            };
            let label = match &outcome {
                Ok(_) if failed => "failed",
                Ok(_) => "ok",
                Err(e)
                    if matches!(e.downcast_ref::<FetchError>(), Some(FetchError::Timeout(_))) =>
                {
                    "timeout"
                }
                Err(_) => "error",
            };
            ::metrics::counter!(Metric::OutboundCalls.name(), "destination" => destination, "outcome" => label)
                .increment(1);
            let moved = if failed {
                permit.failure()
            } else {
                permit.success()
            };
            match moved {
                Some(State::Open) => {
                    tracing::warn!(destination, breaker = %breaker.snapshot(), "circuit opened");
                }
                Some(_) => {
                    tracing::info!(destination, breaker = %breaker.snapshot(), "circuit closed");
                }
                None => {}
            }
            if let Some(to) = moved {
                ::metrics::counter!(Metric::BreakerTransitions.name(), "destination" => destination, "to" => to.as_str())
                    .increment(1);
            }
            record_state(destination, breaker.snapshot().state);
            outcome
        })
    }
}

/// Sets the breaker-state gauge of `destination`.
fn record_state(destination: &'static str, state: State) {
    let value = match state {
        State::Closed => 0.0,
        State::HalfOpen => 1.0,
        State::Open => 2.0,
    };
    ::metrics::gauge!(Metric::BreakerState.name(), "destination" => destination).set(value);
}

/// Retries and their budget, as counted for `/readyz`.
#[derive(Debug, Default)]
pub struct RetryStats {
    /// Retries made.
    pub retries: AtomicU64,
    /// Retries the budget refused.
    pub budget_refused: AtomicU64,
}

/// When and how often a failed call is tried again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrySettings {
    /// Retries after the first attempt, at most.
    pub retries: u32,
    /// The first backoff; each retry doubles it (before jitter).
    pub backoff: Duration,
    /// Retries may add this share of load, from 0 to 1 (a retry budget
    /// over 10 s, with a floor of 10 retries a second).
    pub budget_ratio: f32,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            retries: 2,
            backoff: Duration::from_millis(25),
            budget_ratio: 0.2,
        }
    }
}

/// See the [module](self) table. One clone per call: `attempts` is that
/// call's.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    settings: RetrySettings,
    budget: Arc<TpsBudget>,
    stats: Arc<RetryStats>,
    classifier: Classifier,
    destination: &'static str,
    attempts: u32,
}

impl RetryPolicy {
    fn retryable(&self, result: &Result<Answer, BoxError>) -> bool {
        match result {
            Ok(answer) => (self.classifier.retryable)(answer),
            // Only when nothing was sent: the request cannot have acted.
            Err(e) => matches!(e.downcast_ref::<FetchError>(), Some(FetchError::Connect(_))),
        }
    }
}

impl Policy<Request, Answer, BoxError> for RetryPolicy {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _: &mut Request,
        result: &mut Result<Answer, BoxError>,
    ) -> Option<Self::Future> {
        if self.attempts == 0 {
            self.budget.deposit();
        }
        if !self.retryable(result) || self.attempts >= self.settings.retries {
            return None;
        }
        let backoff = jittered(self.settings.backoff * 2u32.saturating_pow(self.attempts));
        if deadline::remaining().is_some_and(|left| left <= backoff + deadline::margin(left)) {
            return None;
        }
        if !self.budget.withdraw() {
            self.stats.budget_refused.fetch_add(1, Ordering::Relaxed);
            ::metrics::counter!(Metric::OutboundRetryBudgetExhausted.name(), "destination" => self.destination)
                .increment(1);
            tracing::debug!(
                destination = self.destination,
                "retry budget spent: not retrying"
            );
            return None;
        }
        self.attempts += 1;
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        ::metrics::counter!(Metric::OutboundRetries.name(), "destination" => self.destination)
            .increment(1);
        tracing::info!(
            destination = self.destination,
            retry = self.attempts,
            backoff_ms = backoff.as_millis() as u64,
            "retrying"
        );
        Some(tokio::time::sleep(backoff))
    }

    fn clone_request(&mut self, request: &Request) -> Option<Request> {
        request.try_clone()
    }
}

/// Up to `delay`, uniformly at random ("full jitter"): retries from many
/// callers spread out instead of arriving together.
fn jittered(delay: Duration) -> Duration {
    let nanos = delay.as_nanos().min(u128::from(u64::MAX)) as u64;
    if nanos == 0 {
        return delay;
    }
    let random = getrandom::u64().unwrap_or(nanos / 2);
    Duration::from_nanos(random % nanos + 1)
}

/// Everything a destination's stack is built from.
#[derive(Debug, Clone)]
pub struct StackSettings {
    /// The destination's name, for logs.
    pub destination: &'static str,
    /// Each attempt's limit (the deadline may shorten it).
    pub timeout: Duration,
    /// Calls at once, at most (bulkhead).
    pub max_in_flight: usize,
    /// Which failed calls are retried, and the budget for it.
    pub retry: RetrySettings,
    /// Which answers are failures and which may be retried.
    pub classifier: Classifier,
    /// Whether to send the budget in `trawl-budget-ms`: for trawl's own
    /// services; a third-party API is not told about our deadlines.
    pub propagate_deadline: bool,
    /// Largest answer body read, after decompression; a larger one fails
    /// the call with [`FetchError::TooLarge`].
    pub max_body_bytes: usize,
}

/// The default for [`StackSettings::max_body_bytes`] of an engine: a page
/// of results from any API is far smaller.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// What one trawl service reads from another at most: a search response
/// holds up to 100 hits from each engine, each within the search
/// service's field bounds (`trawl_search::MAX_HIT_*`), so a dozen engines'
/// worth fits.
pub const MAX_SERVICE_BODY_BYTES: usize = 64 * 1024 * 1024;

/// What a destination's stack reports.
#[derive(Debug, Clone)]
pub struct StackStatus {
    /// The destination's breaker.
    pub breaker: Arc<CircuitBreaker>,
    /// Retries made and refused.
    pub retries: Arc<RetryStats>,
}

impl StackStatus {
    /// One line for `/readyz` and logs.
    pub fn describe(&self) -> String {
        format!(
            "{}; {} retries, {} refused by the retry budget",
            self.breaker.snapshot(),
            self.retries.retries.load(Ordering::Relaxed),
            self.retries.budget_refused.load(Ordering::Relaxed)
        )
    }
}

/// Builds a destination's stack over `http`.
pub fn stack(
    http: reqwest::Client,
    settings: &StackSettings,
    breaker: Arc<CircuitBreaker>,
) -> (Outbound, StackStatus) {
    let stats = Arc::new(RetryStats::default());
    let policy = RetryPolicy {
        settings: settings.retry,
        budget: Arc::new(TpsBudget::new(
            Duration::from_secs(10),
            10,
            settings.retry.budget_ratio,
        )),
        stats: stats.clone(),
        classifier: settings.classifier,
        destination: settings.destination,
        attempts: 0,
    };
    let max_in_flight = settings.max_in_flight;
    let destination = settings.destination;
    record_state(destination, breaker.snapshot().state);
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(DeadlineLayer {
            timeout: settings.timeout,
            propagate: settings.propagate_deadline,
            destination: settings.destination,
        })
        .map_err(move |e: BoxError| -> BoxError {
            if e.is::<tower::load_shed::error::Overloaded>() {
                ::metrics::counter!(Metric::OutboundCalls.name(), "destination" => destination, "outcome" => "busy")
                    .increment(1);
                Box::new(FetchError::Busy(max_in_flight))
            } else {
                e
            }
        })
        .layer(LoadShedLayer::new())
        .layer(ConcurrencyLimitLayer::new(max_in_flight))
        .layer(BreakerLayer {
            breaker: breaker.clone(),
            classifier: settings.classifier,
            destination: settings.destination,
        })
        .service(Fetch {
            http,
            max_body_bytes: settings.max_body_bytes,
        });
    (
        BoxCloneSyncService::new(service),
        StackStatus {
            breaker,
            retries: stats,
        },
    )
}

/// The error a stack call ended with, as what it means for the caller.
pub enum Outcome {
    /// The breaker refused the call: try again after this long.
    Refused(Refused),
    /// No answer came.
    Fetch(FetchError),
    /// Anything else.
    Other(BoxError),
}

impl From<BoxError> for Outcome {
    fn from(error: BoxError) -> Self {
        let error = match error.downcast::<Refused>() {
            Ok(refused) => return Self::Refused(*refused),
            Err(error) => error,
        };
        match error.downcast::<FetchError>() {
            Ok(fetch) => Self::Fetch(*fetch),
            Err(other) => Self::Other(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use axum::Router;
    use axum::http::StatusCode as Status;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;
    use crate::breaker::BreakerSettings;
    use crate::clients::TRAWL_SERVICE;

    /// A loopback server whose `/` answers with `answers[n]` on the n-th
    /// call (the last one repeating), after `delay`; returns its URL and
    /// the call count.
    async fn server(
        answers: Vec<(u16, &'static str)>,
        delay: Duration,
    ) -> (reqwest::Url, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let app = Router::new().route(
            "/",
            get(move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                let (status, body) = answers[n.min(answers.len() - 1)];
                async move {
                    tokio::time::sleep(delay).await;
                    (Status::from_u16(status).unwrap(), body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url.parse().unwrap(), calls)
    }

    fn build(max_in_flight: usize) -> (Outbound, StackStatus) {
        stack(
            reqwest::Client::new(),
            &StackSettings {
                destination: "test",
                timeout: Duration::from_secs(5),
                max_in_flight,
                retry: RetrySettings {
                    retries: 2,
                    backoff: Duration::from_millis(1),
                    budget_ratio: 0.2,
                },
                classifier: TRAWL_SERVICE,
                propagate_deadline: true,
                max_body_bytes: MAX_BODY_BYTES,
            },
            Arc::new(CircuitBreaker::new(BreakerSettings::default())),
        )
    }

    async fn call(outbound: &Outbound, url: &reqwest::Url) -> Result<Answer, Outcome> {
        let request = Request::new(reqwest::Method::GET, url.clone());
        outbound
            .clone()
            .oneshot(request)
            .await
            .map_err(Outcome::from)
    }

    const UPSTREAM_DOWN: &str = r#"{"type":"urn:trawl:problem:upstream_unavailable","title":"Service unavailable","status":503,"detail":"the search service cannot be reached; try again shortly","code":"upstream_unavailable"}"#;
    const OVERLOADED: &str = r#"{"type":"urn:trawl:problem:overloaded","title":"Overloaded","status":503,"detail":"busy","code":"overloaded"}"#;

    #[tokio::test]
    async fn a_proxys_503_and_an_overloaded_destination_are_retried_until_it_answers() {
        let (stack, status) = build(8);
        let (url, calls) = server(
            vec![(503, "Service Unavailable"), (503, OVERLOADED), (200, "ok")],
            Duration::ZERO,
        )
        .await;
        let answer = call(&stack, &url).await.ok().unwrap();
        assert_eq!(
            (answer.status.as_u16(), &answer.body[..]),
            (200, &b"ok"[..])
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(status.retries.retries.load(Ordering::Relaxed), 2);
        assert_eq!(status.breaker.snapshot().consecutive_failures, 0);
    }

    #[tokio::test]
    async fn retries_stop_at_the_limit_and_pass_through_problems_are_not_retried() {
        let (stack, status) = build(8);
        let (url, calls) = server(vec![(502, "Bad Gateway")], Duration::ZERO).await;
        let answer = call(&stack, &url).await.ok().unwrap();
        assert_eq!(answer.status.as_u16(), 502);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "the first call and 2 retries"
        );
        assert_eq!(status.breaker.snapshot().consecutive_failures, 3);

        let (stack, status) = build(8);
        let (url, calls) = server(vec![(503, UPSTREAM_DOWN)], Duration::ZERO).await;
        let answer = call(&stack, &url).await.ok().unwrap();
        assert_eq!(answer.status.as_u16(), 503);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "retried where it happened");
        assert_eq!(
            status.breaker.snapshot().consecutive_failures,
            0,
            "the destination answered correctly"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_retried_a_timeout_is_not() {
        let (stack, status) = build(8);
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url: reqwest::Url = format!("http://{}/", closed.local_addr().unwrap())
            .parse()
            .unwrap();
        drop(closed);
        assert!(matches!(
            call(&stack, &url).await,
            Err(Outcome::Fetch(FetchError::Connect(_)))
        ));
        assert_eq!(status.retries.retries.load(Ordering::Relaxed), 2);

        let (stack, status) = build(8);
        let (url, calls) = server(vec![(200, "late")], Duration::from_millis(400)).await;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(150);
        let outcome = deadline::scope(deadline, call(&stack, &url)).await;
        assert!(
            matches!(outcome, Err(Outcome::Fetch(FetchError::Timeout(t))) if t <= Duration::from_millis(150)),
            "bounded by the deadline, less the margin"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(status.retries.retries.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn the_callee_is_sent_a_budget_that_ends_a_margin_before_the_wait() {
        let app = Router::new().route(
            "/",
            get(|headers: axum::http::HeaderMap| async move {
                headers[BUDGET_HEADER].to_str().unwrap().to_owned()
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url: reqwest::Url = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let (stack, _) = build(8);
        let budget_sent =
            |answer: Answer| -> u64 { std::str::from_utf8(&answer.body).unwrap().parse().unwrap() };

        // 400 ms left: wait 360 ms at most, send 324 ms (a tenth kept each
        // time), less what passed before the call.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(400);
        let sent = budget_sent(
            deadline::scope(deadline, call(&stack, &url))
                .await
                .ok()
                .unwrap(),
        );
        assert!((300..=324).contains(&sent), "{sent}");
        // Outside a request the configured timeout (5 s) is the wait.
        let sent = budget_sent(call(&stack, &url).await.ok().unwrap());
        assert_eq!(sent, 4_750);
        // With too little left to be worth calling, no call is made.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(25);
        assert!(matches!(
            deadline::scope(deadline, call(&stack, &url)).await,
            Err(Outcome::Fetch(FetchError::Timeout(t))) if t.is_zero()
        ));
    }

    #[tokio::test]
    async fn the_bulkhead_refuses_a_call_beyond_its_limit_at_once() {
        let (stack, _) = build(1);
        let (url, _) = server(vec![(200, "slow")], Duration::from_millis(300)).await;
        let slow = tokio::spawn({
            let (stack, url) = (stack.clone(), url.clone());
            async move { call(&stack, &url).await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        assert!(matches!(
            call(&stack, &url).await,
            Err(Outcome::Fetch(FetchError::Busy(1)))
        ));
        assert!(started.elapsed() < Duration::from_millis(100));
        assert!(slow.await.unwrap(), "the call in flight completes");
        assert!(call(&stack, &url).await.is_ok(), "the slot is free again");
    }

    #[tokio::test]
    async fn an_open_breaker_refuses_without_calling() {
        let (stack, status) = build(8);
        let (url, calls) = server(vec![(500, "{}")], Duration::ZERO).await;
        for _ in 0..5 {
            let _ = call(&stack, &url).await;
        }
        assert_eq!(status.breaker.snapshot().state, State::Open);
        let before = calls.load(Ordering::SeqCst);
        assert!(matches!(call(&stack, &url).await, Err(Outcome::Refused(_))));
        assert_eq!(calls.load(Ordering::SeqCst), before);
    }
}
