//! Deadlines: every request has one, and it travels with the work.
//!
//! A request's deadline is the sooner of the service's own request timeout,
//! the budget its caller sent in the [`BUDGET_HEADER`] (milliseconds left,
//! relative, so clocks need not agree), and the `timeout_ms` query
//! parameter by which any client may ask for less. [`enforce`] sets it for the
//! handler's task ([`remaining`] reads it), answers `504 deadline_exceeded`
//! when it passes, and refuses at once a request whose budget is already
//! spent. Work started inside a request gets [`for_work`]: what is left
//! less a [`margin`] for what must follow. Outbound calls (`outbound`) wait
//! that long and send the callee that less another margin, so the callee's
//! deadline fires first and its answer still arrives; they do not start
//! when nothing is left. The search service bounds its engines by it.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use crate::ApiError;

/// Request header carrying the caller's remaining budget, in milliseconds.
pub const BUDGET_HEADER: &str = "trawl-budget-ms";

/// What work started with `left` of the budget remaining keeps back for
/// what follows it: reading the answer and rendering its own, or (for the
/// budget sent to a callee) the callee's answer travelling back. A tenth of
/// what is left, between [`MIN_MARGIN`] and [`MAX_MARGIN`]: a fixed 20 ms
/// was eaten by scheduling alone on a loaded 2-core machine, so that the
/// caller's timeout fired before the callee's, and the answer named the
/// wrong service.
pub fn margin(left: Duration) -> Duration {
    (left / 10).clamp(MIN_MARGIN, MAX_MARGIN)
}

/// The least [`margin`].
pub const MIN_MARGIN: Duration = Duration::from_millis(20);
/// The most [`margin`].
pub const MAX_MARGIN: Duration = Duration::from_millis(250);

/// How long work started now may take so that its outcome is still used:
/// the time left less its [`margin`]; `None` outside a request.
pub fn for_work() -> Option<Duration> {
    remaining().map(|left| left.saturating_sub(margin(left)))
}

tokio::task_local! {
    static DEADLINE: Instant;
}

/// The current request's deadline, if this task serves one.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Time left before the current request's deadline (zero once it passed);
/// `None` outside a request.
pub fn remaining() -> Option<Duration> {
    current().map(|deadline| deadline.saturating_duration_since(Instant::now()))
}

/// Runs `future` with `deadline` as the current deadline.
pub async fn scope<F: Future>(deadline: Instant, future: F) -> F::Output {
    DEADLINE.scope(deadline, future).await
}

/// The budget a caller sent, if any; an unusable value is an error.
fn budget(headers: &HeaderMap) -> Result<Option<Duration>, InvalidBudget> {
    let Some(value) = headers.get(BUDGET_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .filter(|v| !v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u64>().ok())
        .map(|ms| Some(Duration::from_millis(ms)))
        .ok_or(InvalidBudget)
}

#[derive(Debug)]
struct InvalidBudget;

/// Middleware (`axum::middleware::from_fn_with_state`, with the service's
/// request timeout as state) that gives each request its deadline and
/// holds the handler to it.
pub async fn enforce(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let budget = match budget(request.headers()) {
        Ok(budget) => budget,
        Err(InvalidBudget) => {
            return ApiError::InvalidHeader {
                name: BUDGET_HEADER,
                reason: "must be a whole number of milliseconds".to_owned(),
            }
            .into_response();
        }
    };
    // A request may ask for less than the service allows, by parameter.
    let asked = match trawl_api::params::timeout_param(request.uri().query()) {
        Ok(asked) => asked,
        Err(invalid) => return ApiError::from(invalid).into_response(),
    };
    let allowed = [budget, asked]
        .into_iter()
        .flatten()
        .fold(timeout, Duration::min);
    if allowed.is_zero() {
        return ApiError::DeadlineExceeded { budget: allowed }.into_response();
    }
    let deadline = started + allowed;
    match tokio::time::timeout_at(deadline, scope(deadline, next.run(request))).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                budget_ms = allowed.as_millis() as u64,
                "request abandoned at its deadline"
            );
            ApiError::DeadlineExceeded { budget: allowed }.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn budgets_are_whole_milliseconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(budget(&headers).unwrap(), None);
        headers.insert(BUDGET_HEADER, HeaderValue::from_static("250"));
        assert_eq!(budget(&headers).unwrap(), Some(Duration::from_millis(250)));
        for bad in ["", "-1", "1.5", "1e3", " 5", "99999999999"] {
            headers.insert(BUDGET_HEADER, HeaderValue::from_static(bad));
            assert!(budget(&headers).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_margin_is_a_tenth_of_what_is_left_within_bounds() {
        let ms = Duration::from_millis;
        assert_eq!(margin(ms(0)), MIN_MARGIN);
        assert_eq!(margin(ms(100)), MIN_MARGIN);
        assert_eq!(margin(ms(400)), ms(40));
        assert_eq!(margin(ms(10_000)), MAX_MARGIN);
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_counts_down_inside_a_scope_only() {
        assert_eq!(remaining(), None);
        let deadline = Instant::now() + Duration::from_millis(100);
        scope(deadline, async {
            assert_eq!(remaining(), Some(Duration::from_millis(100)));
            assert_eq!(for_work(), Some(Duration::from_millis(80)));
            tokio::time::advance(Duration::from_millis(150)).await;
            assert_eq!(remaining(), Some(Duration::ZERO));
        })
        .await;
    }
}
