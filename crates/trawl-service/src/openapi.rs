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

fn responses(list: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, description)| (status.to_string(), problem(description)))
        .collect()
}

/// `400`: a parameter is missing, malformed or out of range.
pub struct InvalidRequestResponse;

impl IntoResponses for InvalidRequestResponse {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[(
            "400",
            "The request is invalid: `code` says how (`missing_parameter`, `invalid_parameter`, \
             `duplicate_parameter`, `malformed_query_string`, `invalid_cursor`) and `param` names \
             the parameter at fault.",
        )])
    }
}

/// `500`: a failure inside the service.
pub struct InternalErrorResponse;

impl IntoResponses for InternalErrorResponse {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[(
            "500",
            "A failure inside the service (`internal`); the cause is logged, not sent.",
        )])
    }
}

/// `502`, `503`, `504`: a service this one calls failed.
pub struct UpstreamErrorResponses;

impl IntoResponses for UpstreamErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (
                "502",
                "The service called answered with something that is not a valid response \
                 (`bad_gateway`).",
            ),
            (
                "503",
                "The service called cannot be reached (`upstream_unavailable`).",
            ),
            (
                "504",
                "The service called did not answer in time (`upstream_timeout`).",
            ),
        ])
    }
}

/// `400`, `413`, `415`, `422`: a JSON request body that cannot be used.
pub struct BodyErrorResponses;

impl IntoResponses for BodyErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (
                "400",
                "The body is not valid JSON (`malformed_body`), or it holds an invalid value \
                 (`invalid_parameter`, naming the field).",
            ),
            (
                "413",
                "The body is larger than 2 MiB (`payload_too_large`).",
            ),
            (
                "415",
                "The body is not sent as `application/json` (`unsupported_media_type`).",
            ),
            (
                "422",
                "The body is JSON of the wrong shape (`invalid_body`).",
            ),
        ])
    }
}

/// The routes every service has: health and this document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(crate::health::livez, crate::health::readyz, crate::server::openapi_json),
    components(schemas(trawl_api::Problem, trawl_api::Readiness, trawl_api::Check)),
    tags(
        (name = "health", description = "Whether the process runs and can serve."),
        (name = "meta", description = "This document."),
    )
)]
struct Common;

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
        doc.merge(part);
    }
    doc.info = InfoBuilder::new()
        .title(title)
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(description))
        .license(Some(
            LicenseBuilder::new()
                .name("Apache-2.0")
                .identifier(Some("Apache-2.0"))
                .build(),
        ))
        .build();
    doc
}
