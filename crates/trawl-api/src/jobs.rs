//! The write API's contract: what a batch of documents is, the job it
//! becomes, and how jobs are listed.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::params::{InvalidRequest, parse_query_string};

/// Longest document id, in bytes (a longer one is a bad document).
pub const MAX_ID_BYTES: usize = 1024;
/// Most documents a batch may hold.
pub const MAX_BATCH_DOCUMENTS: usize = 100_000;
/// Most bad documents a problem document or a job lists; the rest are only
/// counted.
pub const MAX_LISTED_ERRORS: usize = 100;
/// Longest `Idempotency-Key`, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;
/// Jobs on one page of `GET /v1/jobs` by default, and at most.
pub const DEFAULT_JOBS_PER_PAGE: u32 = 50;
/// Most jobs `GET /v1/jobs` answers in one page.
pub const MAX_JOBS_PER_PAGE: u32 = 500;

/// How a batch's body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    /// A JSON array of documents (`application/json`).
    Json,
    /// One document per line (`application/x-ndjson`).
    Ndjson,
}

/// A batch of documents as submitted: the body unparsed (the indexer
/// parses it, and refuses it whole or reports each bad document), and how
/// it was sent.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The documents, as sent.
    pub body: bytes::Bytes,
    /// How `body` is encoded.
    pub format: BatchFormat,
    /// Queue the good documents and report the bad ones, instead of
    /// refusing the batch.
    pub skip_bad: bool,
    /// Makes a retried submission answer with the job the first one made.
    pub idempotency_key: Option<IdempotencyKey>,
}

/// An `Idempotency-Key`: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks a client's `Idempotency-Key`: printable ASCII, 1 to 255 characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > MAX_IDEMPOTENCY_KEY_BYTES {
            return Err(format!(
                "must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} characters"
            ));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be visible ASCII characters (no spaces)".to_owned());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key as the client sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A document as submitted: the format of `trawl index add`'s JSONL files
/// (fields not listed here are ignored). Described for OpenAPI; parsed by
/// the indexer.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DocumentIn {
    /// Unique in the index: a document with an id the index holds replaces
    /// it. A string of 1 to 1024 bytes, or an integer.
    #[schema(schema_with = document_id_schema)]
    pub id: serde_json::Value,
    /// The document's title, when the line had one.
    pub title: String,
    /// An absolute `http`, `https` or `file` URL.
    pub url: String,
    /// Plain text.
    pub body: String,
    /// When it was published: RFC 3339, or `YYYY-MM-DD`.
    #[serde(default)]
    pub published: Option<String>,
}

fn document_id_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(MAX_ID_BYTES)),
        )
        .item(ObjectBuilder::new().schema_type(Type::Integer))
        .build()
        .into()
}

/// What a write did: the job that will do it, and whether it is one made
/// for an earlier request with the same idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The job the batch made (or, replayed, the one made before).
    pub job: Job,
    /// Whether this answers a retried request with an earlier job.
    pub replayed: bool,
}

/// A job: work the indexer was given, and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Job {
    /// The job's id, for `GET /v1/jobs/{id}`.
    #[schema(minimum = 1)]
    pub id: i64,
    /// What the job does.
    pub kind: JobKind,
    /// Where the job is in its life.
    pub state: JobState,
    /// Runs started so far (a run cut short by a crash counts).
    pub attempts: u32,
    /// Runs it may take before it fails for good.
    pub max_attempts: u32,
    /// How much of the job is done.
    pub progress: JobProgress,
    /// What the job did to the index so far.
    pub counts: JobCounts,
    /// Documents refused when the batch was submitted (with
    /// `skip_bad=true`), at most 100 of them; `errors_total` counts all.
    pub errors: Vec<DocumentError>,
    /// Documents that failed, including those not listed in `errors`.
    pub errors_total: u64,
    /// Why the last run failed, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// When the last run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it succeeded, failed or was cancelled (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Adds or replaces documents (`POST /v1/documents`).
    Documents,
    /// Removes a document (`DELETE /v1/documents/{id}`).
    Delete,
    /// Removes the documents a crawl found gone, or a deleted source's.
    Remove,
    /// Crawls a source (`POST /v1/sources/{id}/crawl`, or its schedule).
    Crawl,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker is running it.
    Running,
    /// Done; its changes are committed.
    Succeeded,
    /// Gave up after its attempts; `last_error` says why.
    Failed,
    /// Cancelled before it ran.
    Cancelled,
}

impl JobState {
    /// Every state, in the order of a job's life.
    pub const ALL: [Self; 5] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The state named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the job is over: succeeded, failed or cancelled.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// How much of a job is done, in documents (pages, for a crawl).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobProgress {
    /// Documents (or ids) the current run has handled.
    pub done: u64,
    /// Documents (or ids) the job holds.
    pub total: u64,
}

/// What a job did to the index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobCounts {
    /// Documents whose id the index did not hold.
    pub added: u64,
    /// Documents that replaced one with the same id.
    pub replaced: u64,
    /// Documents refused at submission (`skip_bad=true`).
    pub skipped: u64,
    /// Documents removed.
    pub deleted: u64,
    /// Documents this job would have removed that stay, because another
    /// owner still holds them (a source that crawled the same page, or
    /// the write API): a document leaves the index when its last owner
    /// lets go.
    #[serde(default)]
    pub kept: u64,
}

/// A document that was refused, and where it was in the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DocumentError {
    /// 1-based: the document's place in the batch.
    #[schema(minimum = 1)]
    pub position: u64,
    /// 1-based: the line of the body it starts on.
    #[schema(minimum = 1)]
    pub line: u64,
    /// Its id, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why the document cannot be indexed.
    pub reason: String,
}

/// `GET /v1/jobs`: a page of jobs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobsPage {
    /// This page's jobs, newest first.
    pub jobs: Vec<Job>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The query of `GET /v1/jobs`, validated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobsQuery {
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Jobs with ids below this one (from the cursor).
    pub before: Option<i64>,
    /// Jobs a page, at most [`MAX_JOBS_PER_PAGE`].
    pub limit: u32,
}

/// The query parameters of `GET /v1/jobs`, for OpenAPI.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsParams {
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Jobs per page.
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<u32>,
}

/// The query parameters of `POST /v1/documents`, for OpenAPI.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubmitParams {
    /// Queue the good documents and report the bad ones, instead of
    /// refusing the whole batch.
    #[param(default = false)]
    pub skip_bad: Option<bool>,
}

impl JobsQuery {
    /// Parses the raw query string of `GET /v1/jobs` (`state`, `cursor`,
    /// `limit`; others ignored).
    pub fn from_query_string(raw: Option<&str>) -> Result<Self, InvalidRequest> {
        let mut query = Self {
            limit: DEFAULT_JOBS_PER_PAGE,
            ..Self::default()
        };
        let mut seen = [false; 3];
        for (name, value) in parse_query_string(raw.unwrap_or(""))? {
            let (index, param) = match name.as_str() {
                "state" => (0, "state"),
                "cursor" => (1, "cursor"),
                "limit" => (2, "limit"),
                _ => continue,
            };
            if std::mem::replace(&mut seen[index], true) {
                return Err(InvalidRequest::DuplicateParameter { param });
            }
            match param {
                "state" => {
                    query.state = Some(JobState::parse(&value).ok_or_else(|| {
                        InvalidRequest::InvalidParameter {
                            param: "state",
                            reason: "must be one of queued, running, succeeded, failed, cancelled"
                                .to_owned(),
                        }
                    })?);
                }
                "cursor" => {
                    query.before = Some(parse_jobs_cursor(&value).ok_or_else(|| {
                        InvalidRequest::InvalidCursor {
                            reason: "it is not one this API issued".to_owned(),
                        }
                    })?);
                }
                _ => {
                    query.limit = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=MAX_JOBS_PER_PAGE).contains(n))
                        .ok_or_else(|| InvalidRequest::InvalidParameter {
                            param: "limit",
                            reason: format!("must be an integer from 1 to {MAX_JOBS_PER_PAGE}"),
                        })?;
                }
            }
        }
        Ok(query)
    }
}

/// Parses the raw query string of `POST /v1/documents`: whether
/// `skip_bad` is `true` (others ignored).
pub fn skip_bad_from_query_string(raw: Option<&str>) -> Result<bool, InvalidRequest> {
    let mut skip_bad = None;
    for (name, value) in parse_query_string(raw.unwrap_or(""))? {
        if name != "skip_bad" {
            continue;
        }
        let parsed = match value.as_str() {
            "true" => true,
            "false" => false,
            _ => {
                return Err(InvalidRequest::InvalidParameter {
                    param: "skip_bad",
                    reason: "must be `true` or `false`".to_owned(),
                });
            }
        };
        if skip_bad.replace(parsed).is_some() {
            return Err(InvalidRequest::DuplicateParameter { param: "skip_bad" });
        }
    }
    Ok(skip_bad.unwrap_or(false))
}

/// A cursor of `GET /v1/jobs`: the last id of the page before, in text.
/// Not secret and not signed: it only says where to go on from.
pub fn jobs_cursor(last_id: i64) -> String {
    format!("j{last_id}")
}

/// Reads a [`jobs_cursor`].
pub fn parse_jobs_cursor(cursor: &str) -> Option<i64> {
    cursor
        .strip_prefix('j')?
        .parse()
        .ok()
        .filter(|id: &i64| *id > 0)
}

/// Unix milliseconds as RFC 3339 UTC with millisecond precision
/// (`2026-11-29T20:32:14.123Z`).
pub fn rfc3339(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let secs_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = crate::dates::civil_from_days(seconds.div_euclid(86_400));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_984_334_123), "2026-11-29T20:32:14.123Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn cursors_and_idempotency_keys() {
        assert_eq!(parse_jobs_cursor(&jobs_cursor(42)), Some(42));
        for bad in ["", "42", "j", "j-1", "j0", "jx", "j99999999999999999999"] {
            assert_eq!(parse_jobs_cursor(bad), None, "{bad}");
        }
        assert!(IdempotencyKey::parse("3f2a-11ee:batch/7").is_ok());
        let query =
            JobsQuery::from_query_string(Some("state=running&cursor=j9&limit=3&x=1")).unwrap();
        assert_eq!(
            query,
            JobsQuery {
                state: Some(JobState::Running),
                before: Some(9),
                limit: 3
            }
        );
        assert_eq!(JobsQuery::from_query_string(None).unwrap().limit, 50);
        for bad in [
            "state=done",
            "state=",
            "limit=",
            "limit=0",
            "limit=501",
            "cursor=abc",
            "state=queued&state=running",
        ] {
            assert!(JobsQuery::from_query_string(Some(bad)).is_err(), "{bad}");
        }
        assert!(skip_bad_from_query_string(Some("skip_bad=true")).unwrap());
        assert!(!skip_bad_from_query_string(None).unwrap());
        assert!(skip_bad_from_query_string(Some("skip_bad=yes")).is_err());
        assert!(skip_bad_from_query_string(Some("skip_bad=")).is_err());
        for bad in ["", "has space", "tab\t", "é", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
