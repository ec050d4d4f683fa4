//! Every error a handler can return, and the single place where each becomes
//! an HTTP status and a problem document.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use trawl_api::{Code, InvalidRequest, Problem, ServiceError};

/// The media type of problem documents (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Every error a handler can return; [`ApiError::problem`] is the one mapping to HTTP.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter or the query string is wrong.
    #[error(transparent)]
    InvalidRequest(#[from] InvalidRequest),
    /// The body is not syntactically valid JSON.
    #[error("the request body is not valid JSON: {0}")]
    MalformedBody(String),
    /// The body is JSON of the wrong shape.
    #[error("the request body does not have the expected shape: {0}")]
    InvalidBody(String),
    /// The body's `Content-Type` is not one the endpoint reads; `expected`
    /// says which are.
    #[error("the request body must be sent with `Content-Type: {expected}`")]
    UnsupportedMediaType {
        /// The media types the endpoint reads.
        expected: &'static str,
    },
    /// The limit, in bytes.
    #[error("the request body is larger than the {limit} bytes accepted")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// No such route or resource.
    #[error("no such resource")]
    NotFound,
    /// The route has no such method.
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    /// A request header the service reads has a value it cannot use.
    #[error("header `{name}` {reason}")]
    InvalidHeader {
        /// The header's name.
        name: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// The request's deadline passed before an answer was ready.
    #[error("no answer could be made within the request's {} ms", budget.as_millis())]
    DeadlineExceeded {
        /// The budget that passed.
        budget: std::time::Duration,
    },
    /// Too many requests in flight: this one was shed rather than queued.
    #[error("the service is at its limit of requests in flight; try again shortly")]
    Overloaded,
    /// The client spent its budget of requests.
    #[error("too many {budget} requests from this client (bursts of {burst} at most); try again in {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// Which budget: pages or API.
        budget: &'static str,
        /// Requests a burst may hold.
        burst: u32,
        /// When the next request will be allowed.
        retry_after: std::time::Duration,
    },
    /// No API key, or not as `Authorization: Bearer <key>`.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// An API key that is not (or no longer) valid.
    #[error("the API key is not valid: it is unknown or was revoked")]
    Forbidden,
    /// A change that must name the version it changes (`If-Match`) and
    /// did not.
    #[error("this change must name the version it changes: send `If-Match` with the ETag you read")]
    PreconditionRequired,
    /// A service this one called, or its own work, failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl ApiError {
    /// The problem document sent to the client. Internal causes stay in the
    /// logs: what a client reads never depends on them.
    pub fn problem(&self) -> Problem {
        let detail = self.to_string();
        match self {
            Self::InvalidRequest(e) => invalid_request(e),
            Self::MalformedBody(_) => Code::MalformedBody.problem(detail),
            Self::InvalidBody(_) => Code::InvalidBody.problem(detail),
            Self::UnsupportedMediaType { .. } => Code::UnsupportedMediaType.problem(detail),
            Self::PayloadTooLarge { .. } => Code::PayloadTooLarge.problem(detail),
            Self::NotFound => Code::NotFound.problem(detail),
            Self::MethodNotAllowed => Code::MethodNotAllowed.problem(detail),
            Self::InvalidHeader { name, .. } => {
                Code::InvalidHeader.problem(detail).with_param(Some(name))
            }
            Self::DeadlineExceeded { .. } => Code::DeadlineExceeded.problem(detail),
            Self::Overloaded => Code::Overloaded.problem(detail),
            Self::RateLimited { .. } => Code::RateLimited.problem(detail),
            Self::Unauthorized(_) => Code::Unauthorized.problem(detail),
            Self::Forbidden => Code::Forbidden.problem(detail),
            Self::PreconditionRequired => Code::PreconditionRequired.problem(detail),
            Self::Service(e) => service_problem(e),
        }
    }

    /// How long a client should wait before trying again, for errors that
    /// pass: sent as `Retry-After`.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Overloaded => Some(std::time::Duration::from_secs(1)),
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::Service(
                ServiceError::Unavailable { retry_after, .. }
                | ServiceError::Upstream { retry_after, .. },
            ) => *retry_after,
            // A store or broker coming back takes seconds, not milliseconds.
            Self::Service(ServiceError::Dependency { retry_after, .. }) => {
                Some(retry_after.unwrap_or(std::time::Duration::from_secs(2)))
            }
            // Room is made by people, not in seconds.
            Self::Service(ServiceError::StorageFull { .. }) => {
                Some(std::time::Duration::from_secs(30))
            }
            _ => None,
        }
    }
}

fn invalid_request(error: &InvalidRequest) -> Problem {
    error
        .problem_code()
        .problem(error.to_string())
        .with_param(error.param())
}

fn service_problem(error: &ServiceError) -> Problem {
    match error {
        ServiceError::Upstream { problem, .. } => problem.as_ref().clone(),
        ServiceError::Invalid(e) => invalid_request(e),
        ServiceError::Unavailable { service, .. } => Code::UpstreamUnavailable.problem(format!(
            "the {service} service cannot be reached; try again shortly"
        )),
        ServiceError::Timeout { service, timeout } => Code::UpstreamTimeout.problem(format!(
            "the {service} service did not answer within {} ms",
            timeout.as_millis()
        )),
        ServiceError::BadGateway { service, .. } => Code::BadGateway.problem(format!(
            "the {service} service answered with something that is not a valid response"
        )),
        ServiceError::Dependency { dependency, .. } => Code::DependencyUnavailable.problem(
            format!("{dependency} cannot be reached; nothing was done, try again shortly"),
        ),
        ServiceError::StorageFull { dependency, .. } => Code::StorageFull.problem(format!(
            "{dependency} has no room left on its disk; nothing was done, try again once there is room"
        )),
        ServiceError::MalformedBatch {
            format,
            line,
            column,
            reason,
        } => Code::MalformedBody.problem(format!(
            "the body is not valid {format}: line {line}, column {column}: {reason}; nothing was queued"
        )),
        ServiceError::InvalidDocuments { errors, total } => {
            let first = errors
                .first()
                .map(|e| format!(": line {}: {}", e.line, e.reason))
                .unwrap_or_default();
            let mut problem = Code::InvalidDocuments.problem(format!(
                "{total} documents cannot be indexed{first}; nothing was queued \
                 (`skip_bad=true` queues the others)"
            ));
            problem.errors = Some(errors.clone());
            problem
        }
        ServiceError::EmptyBatch => Code::EmptyBatch.problem(error.to_string()),
        ServiceError::TooManyDocuments { .. } => Code::TooManyDocuments.problem(error.to_string()),
        ServiceError::IdempotencyKeyReused => {
            Code::IdempotencyKeyReused.problem(error.to_string())
        }
        ServiceError::NotFound(what) => Code::NotFound.problem(what.clone()),
        ServiceError::Conflict(why) => Code::Conflict.problem(why.clone()),
        ServiceError::PreconditionFailed(why) => Code::PreconditionFailed.problem(why.clone()),
        ServiceError::Internal(_) => {
            Code::Internal.problem("an internal error occurred; it has been logged")
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self, code = %problem.code, "request failed");
        } else {
            tracing::debug!(error = %self, code = %problem.code, "request refused");
        }
        let mut response = problem_response(status, &problem);
        self.add_retry_after(&mut response);
        match &self {
            // RFC 6750: how to authenticate; and, for a key that was
            // refused, that it was the key.
            Self::Unauthorized(_) => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"trawl\""),
                );
            }
            Self::Forbidden => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"trawl\", error=\"invalid_token\""),
                );
            }
            _ => {}
        }
        response
    }
}

impl ApiError {
    /// Adds `Retry-After` to an answer to this error (a problem document or
    /// a page), when it is one that passes.
    pub fn add_retry_after(&self, response: &mut Response) {
        if let Some(after) = self.retry_after() {
            // Whole seconds, rounded up: `Retry-After: 0` would invite a storm.
            let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
    }
}

/// A problem document as a response. The [`Problem`] also rides along as
/// a response extension, so that a role whose clients read pages can show
/// it as one (see [`server::ProblemPage`](crate::server::ProblemPage)).
///
/// The document carries the trace id of the current span (the request's),
/// unless it already names one (a problem passed on from another trawl
/// service, of the same trace): a user's error report leads to the trace.
pub fn problem_response(status: StatusCode, problem: &Problem) -> Response {
    let mut problem = problem.clone();
    if problem.trace_id.is_none() {
        problem.trace_id = crate::trace::current_trace_id();
    }
    let problem = &problem;
    let body = serde_json::to_vec(problem).expect("a problem document always serialises");
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response.extensions_mut().insert(problem.clone());
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn statuses_and_codes() {
        let cases = [
            (
                ApiError::from(InvalidRequest::MissingParameter { param: "q" }),
                400,
                "missing_parameter",
            ),
            (ApiError::MalformedBody("x".into()), 400, "malformed_body"),
            (ApiError::InvalidBody("x".into()), 422, "invalid_body"),
            (
                ApiError::UnsupportedMediaType {
                    expected: "application/json",
                },
                415,
                "unsupported_media_type",
            ),
            (
                ApiError::PayloadTooLarge { limit: 1 },
                413,
                "payload_too_large",
            ),
            (ApiError::NotFound, 404, "not_found"),
            (
                ServiceError::Invalid(InvalidRequest::InvalidParameter {
                    param: "engines",
                    reason: "names no configured engine".into(),
                })
                .into(),
                400,
                "invalid_parameter",
            ),
            (ApiError::MethodNotAllowed, 405, "method_not_allowed"),
            (
                ServiceError::Unavailable {
                    service: "search",
                    reason: "refused".into(),
                    retry_after: None,
                }
                .into(),
                503,
                "upstream_unavailable",
            ),
            (
                ServiceError::Timeout {
                    service: "search",
                    timeout: Duration::from_secs(1),
                }
                .into(),
                504,
                "upstream_timeout",
            ),
            (
                ServiceError::BadGateway {
                    service: "search",
                    reason: "x".into(),
                }
                .into(),
                502,
                "bad_gateway",
            ),
            (
                ServiceError::Internal("disk on fire".into()).into(),
                500,
                "internal",
            ),
        ];
        for (error, status, code) in cases {
            let problem = error.problem();
            assert_eq!(
                (problem.status, problem.code.as_str()),
                (status, code),
                "{error}"
            );
            assert_eq!(problem.kind, format!("urn:trawl:problem:{code}"));
        }
    }

    #[test]
    fn internal_causes_are_not_sent() {
        let problem = ApiError::from(ServiceError::Internal("disk on fire".into())).problem();
        assert!(!problem.detail.contains("disk"));
        let problem = ApiError::from(ServiceError::Unavailable {
            service: "search",
            reason: "connection refused (os error 111) to 10.0.0.3".into(),
            retry_after: None,
        })
        .problem();
        assert!(!problem.detail.contains("10.0.0.3"));
    }
}
