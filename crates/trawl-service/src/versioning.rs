//! API versions side by side. v1 is deprecated in favour of v2 and keeps
//! working unchanged until its sunset; its answers say so with standard
//! headers. The policy is in docs/api.md.

use axum::http::HeaderValue;
use axum::response::Response;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{Deprecated, OpenApi, RefOr};

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

/// Marks the v1 operation `GET path` of `doc` deprecated, and documents the
/// headers [`deprecated_v1`] adds to each of its responses.
///
/// # Panics
/// If `doc` has no `GET path`: a wrong path here is a programming error.
pub fn document_deprecated_v1(doc: &mut OpenApi, path: &str, successor: &str) {
    let operation = doc
        .paths
        .paths
        .get_mut(path)
        .and_then(|item| item.get.as_mut())
        .unwrap_or_else(|| panic!("no GET {path} to mark deprecated"));
    operation.deprecated = Some(Deprecated::True);
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let one = |value: String| -> Schema { string().enum_values(Some([value])).into() };
    let headers = [
        (
            "Deprecation",
            "When this version was deprecated (RFC 9745).",
            one(V1_DEPRECATION.to_owned()),
        ),
        (
            "Sunset",
            "After this date the endpoint may stop answering (RFC 8594).",
            one(V1_SUNSET.to_owned()),
        ),
        (
            "Link",
            "The endpoint that succeeds this one, as `rel=\"successor-version\"`.",
            one(format!("<{successor}>; rel=\"successor-version\"")),
        ),
    ];
    for response in operation.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            for (name, description, schema) in &headers {
                let header = HeaderBuilder::new()
                    .schema(Some(schema.clone()))
                    .description(Some(*description))
                    .build();
                response
                    .headers
                    .insert((*name).to_owned(), RefOr::T(header));
            }
        }
    }
}
