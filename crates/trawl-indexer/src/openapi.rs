//! The write API in OpenAPI: its error responses, and the bearer key every
//! operation needs.

use std::collections::BTreeMap;

use trawl_api::Code;
use trawl_service::openapi::problem_responses;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Response};
use utoipa::{IntoResponses, Modify};

/// `400`, `413`, `415`, `422`: a batch refused at the door. Nothing of it
/// was queued.
pub(crate) struct SubmitErrorResponses;

impl IntoResponses for SubmitErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[
            (
                "The body is not the format its `Content-Type` says, naming the line and column; \
                 or a parameter or header is invalid.",
                &[
                    Code::MalformedBody,
                    Code::InvalidParameter,
                    Code::InvalidHeader,
                ],
            ),
            (
                "The body is larger than the limit (32 MiB by default), or holds more than \
                 100,000 documents.",
                &[Code::PayloadTooLarge, Code::TooManyDocuments],
            ),
            (
                "The body is neither `application/json` nor `application/x-ndjson`.",
                &[Code::UnsupportedMediaType],
            ),
            (
                "Documents cannot be indexed (`skip_bad=true` queues the others), the batch \
                 holds none, or the `Idempotency-Key` was used for another request.",
                &[
                    Code::InvalidDocuments,
                    Code::EmptyBatch,
                    Code::IdempotencyKeyReused,
                ],
            ),
        ])
    }
}

/// `401`, `403`, `429`: no key, a key that is not valid, or a client that
/// spent its budget.
pub(crate) struct KeyResponses;

impl IntoResponses for KeyResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[
            (
                "No API key: send `Authorization: Bearer <key>`. `WWW-Authenticate` says so too.",
                &[Code::Unauthorized],
            ),
            ("The key is unknown or revoked.", &[Code::Forbidden]),
            (
                "This client sent too many requests with a missing or wrong key \
                 (`auth.failures_per_minute`; refused before the key is looked at), or, on the \
                 index files, more than their budget (`rate_limits.index_per_minute`). \
                 `Retry-After` says when to try again (docs/security.md).",
                &[Code::RateLimited],
            ),
        ])
    }
}

/// `503`: the store or the queue cannot be reached.
pub(crate) struct DependencyResponse;

impl IntoResponses for DependencyResponse {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[(
            "The job store or the job queue cannot be reached (the detail names it): nothing \
             was done. `Retry-After` says when to try again.",
            &[Code::DependencyUnavailable],
        )])
    }
}

/// `400`, `404`: a job id that is not one, or no such job.
pub(crate) struct JobErrorResponses;

impl IntoResponses for JobErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[
            (
                "The id is not a positive integer.",
                &[Code::InvalidParameter],
            ),
            ("There is no such job.", &[Code::NotFound]),
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
pub(crate) struct SourceErrorResponses;

impl IntoResponses for SourceErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[
            (
                "The id is not a positive integer, a field of the source is invalid (naming \
                 it), the body is not JSON, or `If-Match` cannot be read.",
                &[
                    Code::InvalidParameter,
                    Code::MalformedBody,
                    Code::InvalidHeader,
                ],
            ),
            ("There is no such source.", &[Code::NotFound]),
            ("The body is not JSON.", &[Code::UnsupportedMediaType]),
            (
                "The body is JSON but not a source: an unknown field, a wrong type.",
                &[Code::InvalidBody],
            ),
        ])
    }
}

/// `412`, `428`: a change without `If-Match`, or from a stale version.
pub(crate) struct PreconditionResponses;

impl IntoResponses for PreconditionResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[
            (
                "The source changed since the `ETag` in `If-Match` was read: read it again and \
                 reapply the change.",
                &[Code::PreconditionFailed],
            ),
            (
                "No `If-Match`: a change must name the version it changes.",
                &[Code::PreconditionRequired],
            ),
        ])
    }
}
