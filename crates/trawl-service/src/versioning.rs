//! API versions side by side. v1 is deprecated in favour of v2 and keeps
//! working unchanged until its sunset; its answers say so with standard
//! headers. The policy is in docs/api.md.

use axum::http::HeaderValue;
use axum::response::Response;

/// When v1 was deprecated, as RFC 9745's `Deprecation` value (`@` and Unix
/// time): 2026-11-22T00:00:00Z.
pub const V1_DEPRECATION: &str = "@1795305600";
/// The date after which v1 may stop answering (RFC 8594 `Sunset`): six
/// months after its deprecation.
pub const V1_SUNSET: &str = "Sat, 22 May 2027 00:00:00 GMT";

/// Marks a v1 answer as deprecated and links the endpoint that succeeds it.
/// For `axum::middleware::map_response` on each v1 route.
pub async fn deprecated_v1(successor: &'static str, mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert("deprecation", HeaderValue::from_static(V1_DEPRECATION));
    headers.insert("sunset", HeaderValue::from_static(V1_SUNSET));
    let link = format!("<{successor}>; rel=\"successor-version\"");
    headers.append(
        axum::http::header::LINK,
        HeaderValue::from_str(&link).expect("a static path makes a valid header"),
    );
    response
}
