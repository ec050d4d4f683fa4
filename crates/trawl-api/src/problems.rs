//! Every problem code trawl answers with, declared once: its HTTP status,
//! its problem document's title and when it is sent. The error mapping
//! (`trawl-service::error`), the classifier of trawl's own answers
//! (`trawl-service::clients`), the OpenAPI descriptions and the table in
//! `docs/api.md` all read [`Code`].

use crate::wire::Problem;

/// Declares [`Code`] from one table.
macro_rules! problem_codes {
    ($( $variant:ident = $status:literal, $code:literal, $title:literal, $when:literal; )*) => {
        /// A problem's `code`: what went wrong, for programs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $(
                #[doc = $when]
                $variant,
            )*
        }

        impl Code {
            /// Every code, in the order of the documented table.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The HTTP status it is sent with.
            pub fn status(self) -> u16 {
                match self { $(Code::$variant => $status,)* }
            }

            /// Its name in problem documents, e.g. `invalid_parameter`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The problem document's fixed title.
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }

            /// When it is sent, for people (Markdown).
            pub fn when(self) -> &'static str {
                match self { $(Code::$variant => $when,)* }
            }

            /// The code named `name`, if trawl has it.
            pub fn parse(name: &str) -> Option<Code> {
                match name { $($code => Some(Code::$variant),)* _ => None }
            }
        }
    };
}

problem_codes! {
    MissingParameter = 400, "missing_parameter", "Invalid request",
        "`q` is absent";
    InvalidParameter = 400, "invalid_parameter", "Invalid request",
        "a value is out of range or malformed (`param` names it)";
    DuplicateParameter = 400, "duplicate_parameter", "Invalid request",
        "a known parameter appears twice";
    MalformedQueryString = 400, "malformed_query_string", "Invalid request",
        "bad percent-encoding, or bytes that are not UTF-8";
    InvalidCursor = 400, "invalid_cursor", "Invalid request",
        "a v2 cursor that was altered, is foreign, or disagrees with `q`/`per_page` or an option";
    InvalidHeader = 400, "invalid_header", "Invalid header",
        "a `trawl-budget-ms` header that is not whole milliseconds (`param` names the header)";
    MalformedBody = 400, "malformed_body", "Malformed request body",
        "the body is not JSON (a batch: not valid JSON Lines, with the line and column)";
    InvalidBody = 422, "invalid_body", "Invalid request body",
        "the body is JSON of the wrong shape";
    UnsupportedMediaType = 415, "unsupported_media_type", "Unsupported media type",
        "a body without `Content-Type: application/json` (a batch: also `application/x-ndjson`)";
    PayloadTooLarge = 413, "payload_too_large", "Request body too large",
        "a body over 2 MiB (a batch of documents: over `indexer.max_body_bytes`, 32 MiB)";
    NotAcceptable = 406, "not_acceptable", "Not acceptable",
        "no `format` given, and the `Accept` header admits none of the endpoint's formats";
    NotFound = 404, "not_found", "Not found",
        "no such route, job or source; also a `/{text}` that is a probe for a file (`/.env`, `/wp-login.php`, `/metrics`, `*.xml`…), which asks no engine ([security](security.md#scanner-probes))";
    MethodNotAllowed = 405, "method_not_allowed", "Method not allowed",
        "the route exists, the method does not";
    RateLimited = 429, "rate_limited", "Too many requests",
        "this client spent a budget: of page, API or index-file requests, or of requests with a missing or wrong key (with `Retry-After`; pages get the page) ([security](security.md#rate-limits))";
    Unauthorized = 401, "unauthorized", "Unauthorized",
        "the write API (or, configured so, any route) without `Authorization: Bearer <key>` (with `WWW-Authenticate`)";
    Forbidden = 403, "forbidden", "Forbidden",
        "a key that is malformed, unknown or revoked";
    Conflict = 409, "conflict", "Conflict",
        "cancelling a job that runs or has finished; removing a source while it is crawled";
    PreconditionFailed = 412, "precondition_failed", "Precondition failed",
        "a change to a source whose `If-Match` names a version that is no longer current";
    PreconditionRequired = 428, "precondition_required", "Precondition required",
        "a change to a source without `If-Match`";
    TooManyDocuments = 413, "too_many_documents", "Too many documents",
        "a batch of more than 100,000 documents";
    InvalidDocuments = 422, "invalid_documents", "Invalid documents",
        "documents of a batch that cannot be indexed (`errors` names each by position and line)";
    EmptyBatch = 422, "empty_batch", "Empty batch",
        "a batch with no documents";
    IdempotencyKeyReused = 422, "idempotency_key_reused", "Idempotency key reused",
        "an `Idempotency-Key` used before for a different request";
    BadGateway = 502, "bad_gateway", "Bad gateway",
        "a downstream service answered with something that is not a response";
    UpstreamUnavailable = 503, "upstream_unavailable", "Service unavailable",
        "a downstream service cannot be reached, or its circuit breaker is open (with `Retry-After`)";
    Overloaded = 503, "overloaded", "Overloaded",
        "too many requests in flight: this one was shed at once (with `Retry-After`)";
    DependencyUnavailable = 503, "dependency_unavailable", "Dependency unavailable",
        "the indexer's store or queue cannot be reached; nothing was done (with `Retry-After`)";
    StorageFull = 503, "storage_full", "Storage full",
        "the indexer's store or index has no room left on its disk; nothing was done, and the same request succeeds once there is room (with `Retry-After`)";
    UpstreamTimeout = 504, "upstream_timeout", "Service timed out",
        "a downstream service did not answer in time";
    DeadlineExceeded = 504, "deadline_exceeded", "Deadline exceeded",
        "the request's deadline passed (the service's request timeout, or the `trawl-budget-ms` the caller sent)";
    Internal = 500, "internal", "Internal error",
        "a bug; the cause is in the server's log";
}

impl Code {
    /// A problem document of this code.
    pub fn problem(self, detail: impl Into<String>) -> Problem {
        Problem::new(self.status(), self.as_str(), self.title(), detail)
    }

    /// The documented table (`docs/api.md`), one row per code.
    pub fn markdown_table() -> String {
        let mut table = String::from("| status | `code` | when |\n|---|---|---|\n");
        for code in Self::ALL {
            table.push_str(&format!(
                "| {} | `{}` | {} |\n",
                code.status(),
                code.as_str(),
                code.when()
            ));
        }
        table
    }

    /// `description` followed by each of `codes` and when it is sent, for
    /// the OpenAPI documents.
    pub fn describe(description: &str, codes: &[Code]) -> String {
        let mut text = description.to_owned();
        for code in codes {
            text.push_str(&format!("\n- `{}`: {}.", code.as_str(), code.when()));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_parse_back() {
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(Code::parse(code.as_str()), Some(*code));
            assert!(
                Code::ALL[..i].iter().all(|c| c.as_str() != code.as_str()),
                "{} twice",
                code.as_str()
            );
            let problem = code.problem("x");
            assert_eq!(problem.kind, format!("urn:trawl:problem:{}", code.as_str()));
            assert_eq!(problem.status, code.status());
        }
        assert_eq!(Code::parse("nope"), None);
    }

    /// The table in docs/api.md is this one; `TRAWL_UPDATE_DOCS=1`
    /// rewrites it.
    #[test]
    fn the_documented_table_is_the_declared_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let start = doc
            .find("| status | `code` | when |")
            .expect("the table's head");
        let end = start
            + doc[start..]
                .find("\n\n")
                .expect("a blank line after the table")
            + 1;
        let table = Code::markdown_table();
        if std::env::var_os("TRAWL_UPDATE_DOCS").is_some() {
            std::fs::write(path, format!("{}{}{}", &doc[..start], table, &doc[end..])).unwrap();
            return;
        }
        assert_eq!(
            &doc[start..end],
            table,
            "docs/api.md's table of problem codes is out of date: run with TRAWL_UPDATE_DOCS=1"
        );
    }
}
