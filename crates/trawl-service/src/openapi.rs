//! OpenAPI 3.1 documents, generated from the handlers (`#[utoipa::path]`)
//! and the wire types (`ToSchema`). Each service crate describes its own
//! routes; this module adds what every service shares (health, the document
//! itself, the error responses) and assembles a service's document.
//!
//! Error responses are described here, next to [`ApiError`](crate::ApiError)'s
//! mapping, so the statuses a document lists are the ones the mapping makes.

use std::collections::BTreeMap;

use utoipa::openapi::{
    ContentBuilder, InfoBuilder, LicenseBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder,
};
use utoipa::{IntoResponses, OpenApi as _};

use trawl_api::Code;

use crate::error::PROBLEM_JSON;

/// A response carrying a problem document.
fn problem(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}

/// Error responses, each `(what the endpoint says, the codes it may carry)`:
/// the status is the codes' own (one status per entry), the description the
/// endpoint's words followed by each code and when it is sent, from the one
/// table of codes ([`Code`]).
pub fn problem_responses(list: &[(&str, &[Code])]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(context, codes)| {
            let status = codes[0].status();
            assert!(
                codes.iter().all(|c| c.status() == status),
                "one response, one status: {codes:?}"
            );
            (status.to_string(), problem(&Code::describe(context, codes)))
        })
        .collect()
}

/// `400`: a parameter is missing, malformed or out of range.
pub struct InvalidRequestResponse;

impl IntoResponses for InvalidRequestResponse {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[(
            "The request is invalid: `code` says how and `param` names the parameter at fault.",
            &[
                Code::MissingParameter,
                Code::InvalidParameter,
                Code::DuplicateParameter,
                Code::MalformedQueryString,
                Code::InvalidCursor,
            ],
        )])
    }
}

/// `R`'s error responses, for an endpoint that can also answer with the
/// HTML page (`format=html`): then its errors are the page too, with the
/// same statuses.
pub struct OrPage<R>(std::marker::PhantomData<R>);

impl<R: IntoResponses> IntoResponses for OrPage<R> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        R::responses()
            .into_iter()
            .map(|(status, response)| {
                let response = match response {
                    RefOr::T(mut response) => {
                        response.content.insert(
                            "text/html".to_owned(),
                            ContentBuilder::new()
                                .schema(Some(
                                    utoipa::openapi::ObjectBuilder::new()
                                        .schema_type(utoipa::openapi::schema::Type::String),
                                ))
                                .build()
                                .into(),
                        );
                        RefOr::T(response)
                    }
                    other => other,
                };
                (status, response)
            })
            .collect()
    }
}

/// `406`: the `Accept` header admits none of the endpoint's formats.
pub struct NotAcceptableResponse;

impl IntoResponses for NotAcceptableResponse {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[(
            "Without a `format` parameter, the `Accept` header admits none of the formats this \
             endpoint answers in; the detail lists them.",
            &[Code::NotAcceptable],
        )])
    }
}

/// `429`: the client spent its budget of requests.
pub struct RateLimitedResponse;

impl IntoResponses for RateLimitedResponse {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[(
            "This client sent more requests than its budget allows; `Retry-After` says when to \
             try again (docs/security.md).",
            &[Code::RateLimited],
        )])
    }
}

/// `500`: a failure inside the service.
pub struct InternalErrorResponse;

impl IntoResponses for InternalErrorResponse {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[(
            "A failure inside the service; the cause is logged, not sent.",
            &[Code::Internal],
        )])
    }
}

/// `502`, `503`, `504`: a service this one calls failed.
pub struct UpstreamErrorResponses;

impl IntoResponses for UpstreamErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[
            (
                "The service called answered with something that is not a valid response.",
                &[Code::BadGateway],
            ),
            (
                "The service called cannot be reached.",
                &[Code::UpstreamUnavailable],
            ),
            (
                "The service called did not answer in time.",
                &[Code::UpstreamTimeout],
            ),
        ])
    }
}

/// `400`, `413`, `415`, `422`: a JSON request body that cannot be used.
pub struct BodyErrorResponses;

impl IntoResponses for BodyErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[
            (
                "The body is not valid JSON, or it holds an invalid value (naming the field).",
                &[Code::MalformedBody, Code::InvalidParameter],
            ),
            ("The body is larger than 2 MiB.", &[Code::PayloadTooLarge]),
            (
                "The body is not sent as `application/json`.",
                &[Code::UnsupportedMediaType],
            ),
            ("The body is JSON of the wrong shape.", &[Code::InvalidBody]),
        ])
    }
}

/// The routes every service has: health and this document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(crate::health::livez, crate::health::readyz, crate::server::openapi_json, crate::metrics::scrape),
    components(schemas(trawl_api::Problem, trawl_api::Readiness, trawl_api::Check)),
    tags(
        (name = "health", description = "Whether the process runs and can serve."),
        (name = "meta", description = "This document, and the service's metrics."),
    )
)]
struct Common;

/// Merges `part` into `doc`, first adding to each of its operations the
/// answers [`server::app`](crate::server::app) adds to every route but
/// health: those of the deadline, the load shedder and a bad budget header
/// (problem documents, beside whatever the operation answers with the same
/// status).
///
/// The `trawl-budget-ms` header itself is how trawl's services pass a
/// deadline to each other; it is described in the document's description
/// rather than as a parameter of each operation, since a spent budget must
/// be answered with a 5xx, which no generated test should count against the
/// service.
fn protect(doc: &mut OpenApi, mut part: OpenApi) {
    let extra = [
        (
            "400",
            "`invalid_header`: the `trawl-budget-ms` header is not a whole number of milliseconds.",
        ),
        (
            "503",
            "`overloaded`: too many requests in flight; this one was shed at once. \
             `Retry-After` says when to try again.",
        ),
        (
            "504",
            "`deadline_exceeded`: no answer could be made within the request's deadline.",
        ),
    ];
    for item in part.paths.paths.values_mut() {
        for operation in [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            let responses = &mut operation.responses.responses;
            // An explicit status hides a range: carry the range's content.
            let range = match responses.get("5XX") {
                Some(RefOr::T(range)) => Some(range.clone()),
                _ => None,
            };
            for (status, description) in extra {
                let entry = responses.entry(status.to_owned()).or_insert_with(|| {
                    let response = range
                        .clone()
                        .filter(|_| status.starts_with('5'))
                        .unwrap_or_else(|| ResponseBuilder::new().build());
                    RefOr::T(response)
                });
                if let RefOr::T(response) = entry {
                    if response.description.is_empty() {
                        response.description = description.to_owned();
                    } else {
                        response.description.push_str(" Or ");
                        response.description.push_str(description);
                    }
                    response
                        .content
                        .entry(PROBLEM_JSON.to_owned())
                        .or_insert_with(|| {
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("Problem")))
                                .build()
                                .into()
                        });
                }
            }
        }
    }
    doc.merge(part);
}

/// The document as JSON, pretty-printed: what `/openapi.json` serves and
/// `docs/openapi/` holds.
///
/// Unsigned integers are described by their exact range rather than by
/// utoipa's formats for them (`u-int32`, `u-int64`), which no OpenAPI tool
/// knows: `{"type": "integer", "minimum": 0, "maximum": 4294967295}`.
pub fn render(doc: &OpenApi) -> String {
    fn exact_unsigned(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                let max = match map.get("format").and_then(|f| f.as_str()) {
                    Some("u-int32") => Some(serde_json::Value::from(u32::MAX)),
                    Some("u-int64") => Some(serde_json::Value::from(u64::MAX)),
                    _ => None,
                };
                if let Some(max) = max {
                    map.remove("format");
                    map.entry("minimum").or_insert(0.into());
                    map.entry("maximum").or_insert(max);
                }
                map.values_mut().for_each(exact_unsigned);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(exact_unsigned),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(doc).expect("an OpenAPI document serialises");
    exact_unsigned(&mut value);
    let mut json = serde_json::to_string_pretty(&value).expect("JSON serialises");
    json.push('\n');
    json
}

/// A service's whole document: its own routes' `parts` and the common ones,
/// titled `title`.
pub fn document(title: &str, description: &str, parts: Vec<OpenApi>) -> OpenApi {
    let mut doc = Common::openapi();
    for part in parts {
        protect(&mut doc, part);
    }
    doc.info = InfoBuilder::new()
        .title(title)
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(format!(
            "{description}\n\nEvery operation but health answers within a deadline: the \
             service's request timeout, or sooner if the request carries a `trawl-budget-ms` \
             header (the caller's remaining budget in whole milliseconds, which trawl's services \
             send each other). Past it the answer is `504 deadline_exceeded`; a spent budget is \
             refused at once; a malformed one is `400 invalid_header`. Under more concurrent \
             requests than it serves, a service sheds the excess at once with `503 overloaded` \
             and `Retry-After`."
        )))
        .license(Some(
            LicenseBuilder::new()
                .name("Apache-2.0")
                .identifier(Some("Apache-2.0"))
                .build(),
        ))
        .build();
    doc
}
