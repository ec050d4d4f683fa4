//! The write API in OpenAPI: its error responses, and the bearer key every
//! operation needs.

use std::collections::BTreeMap;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, Modify};

fn problems(list: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new()
                .description(*description)
                .content(
                    trawl_service::error::PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

/// `400`, `413`, `415`, `422`: a batch refused at the door. Nothing of it
/// was queued.
pub struct SubmitErrorResponses;

impl IntoResponses for SubmitErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[
            (
                "400",
                "The body is not the format its `Content-Type` says, naming the line and column \
                 (`malformed_body`); or a parameter or header is invalid (`invalid_parameter`, \
                 `invalid_header`).",
            ),
            (
                "413",
                "The body is larger than the limit (`payload_too_large`, 32 MiB by default), or \
                 holds more than 100,000 documents (`too_many_documents`).",
            ),
            (
                "415",
                "The body is neither `application/json` nor `application/x-ndjson` \
                 (`unsupported_media_type`).",
            ),
            (
                "422",
                "Documents cannot be indexed (`invalid_documents`: `errors` names each by \
                 position and line; `skip_bad=true` queues the others), the batch holds none \
                 (`empty_batch`), or the `Idempotency-Key` was used for another request \
                 (`idempotency_key_reused`).",
            ),
        ])
    }
}

/// `401`, `403`: no key, or a key that is not valid.
pub struct KeyResponses;

impl IntoResponses for KeyResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[
            (
                "401",
                "No API key (`unauthorized`): send `Authorization: Bearer <key>`. \
                 `WWW-Authenticate` says so too.",
            ),
            ("403", "The key is unknown or revoked (`forbidden`)."),
        ])
    }
}

/// `503`: the store or the queue cannot be reached.
pub struct DependencyResponse;

impl IntoResponses for DependencyResponse {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[(
            "503",
            "The job store or the job queue cannot be reached (`dependency_unavailable`, \
             naming it): nothing was done. `Retry-After` says when to try again.",
        )])
    }
}

/// `400`, `404`: a job id that is not one, or no such job.
pub struct JobErrorResponses;

impl IntoResponses for JobErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[
            (
                "400",
                "The id is not a positive integer (`invalid_parameter`).",
            ),
            ("404", "There is no such job (`not_found`)."),
        ])
    }
}

/// Declares the bearer key the operations ask for (`security`).
pub(crate) struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key made with `trawl keys create --name NAME`, sent as \
                         `Authorization: Bearer <key>`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// `400`, `404`, `422`: a source id that is not one, no such source, or a
/// body that is not a valid source.
pub struct SourceErrorResponses;

impl IntoResponses for SourceErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[
            (
                "400",
                "The id is not a positive integer, a field of the source is invalid \
                 (`invalid_parameter`, naming it), the body is not JSON (`malformed_body`), or \
                 `If-Match` cannot be read (`invalid_header`).",
            ),
            ("404", "There is no such source (`not_found`)."),
            ("415", "The body is not JSON (`unsupported_media_type`)."),
            (
                "422",
                "The body is JSON but not a source: an unknown field, a wrong type \
                 (`invalid_body`).",
            ),
        ])
    }
}

/// `412`, `428`: a change without `If-Match`, or from a stale version.
pub struct PreconditionResponses;

impl IntoResponses for PreconditionResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[
            (
                "412",
                "The source changed since the `ETag` in `If-Match` was read \
                 (`precondition_failed`): read it again and reapply the change.",
            ),
            (
                "428",
                "No `If-Match`: a change must name the version it changes \
                 (`precondition_required`).",
            ),
        ])
    }
}
