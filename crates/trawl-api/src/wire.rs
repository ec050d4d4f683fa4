//! Response bodies of API v1, exactly as they travel as JSON.
//!
//! Fields are only ever added within v1; readers ignore fields they do not
//! know, so a newer service can talk to an older one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `[start, end)` pairs of character offsets.
fn highlights_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ArrayBuilder::new()
                .items(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                )
                .min_items(Some(2))
                .max_items(Some(2)),
        )
        .build()
}

/// `GET /v1/search`: raw results of every engine asked, with per-engine status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchResponse {
    /// The query, as the engines were asked it.
    #[schema(schema_with = crate::openapi::query_schema)]
    pub query: String,
    /// The page asked for.
    #[schema(minimum = 1, maximum = 50)]
    pub page: u32,
    /// Results a page asked for.
    #[schema(minimum = 1, maximum = 100)]
    pub per_page: u32,
    /// Every engine's hits, in the engines' order.
    pub results: Vec<SearchHit>,
    /// How each engine asked fared.
    pub engines: Vec<EngineReport>,
    /// The categories of the enabled engines, each a choice for
    /// `categories=` (the page's tabs); empty when they would all ask the
    /// same engines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

/// One result as an engine returned it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    /// The title, plain text.
    pub title: String,
    /// Where the result is.
    pub url: String,
    /// Plain text (not HTML): an excerpt of the document.
    pub snippet: String,
    /// Name of the engine that returned it.
    pub engine: String,
    /// 1-based position among all results of the query (not of the page).
    pub rank: u32,
    /// The engine's own relevance score; comparable only within one engine.
    /// A finite 32-bit float: a JSON number that rounds to one (anything
    /// short of halfway past the largest, ±3.4028235e38).
    #[schema(
        exclusive_minimum = -3.4028235677973366e38,
        exclusive_maximum = 3.4028235677973366e38
    )]
    pub score: f32,
    /// Where the engine matched the query in `snippet`: `[start, end)` offsets
    /// counted in Unicode characters. Optional; consumers validate them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = highlights_schema)]
    pub highlights: Vec<[usize; 2]>,
    /// When it was published, RFC 3339 in UTC (`2024-04-28T10:26:40Z`),
    /// when the engine says. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub published: Option<String>,
}

/// How one engine fared for one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EngineReport {
    /// The engine's configured name.
    pub name: String,
    /// How it fared.
    pub status: EngineStatus,
    /// Wall-clock time the engine took, in milliseconds.
    pub latency_ms: f64,
    /// Results it returned for this page.
    pub results: u32,
    /// Results it has for the query in all, when it knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// What went wrong, when `status` is not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The kind of error, when `status` is not `ok`: `timeout`,
    /// `suspended`, `unreachable`, `auth`, `rate_limited` (by the API, or
    /// by trawl's own cap on calls to it), `http`, `parse`, `too_large`
    /// (an answer over the size limit) or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// Results of this engine the results service did not show: without a
    /// URL, or with one longer than its limit (docs/results.md). Absent
    /// when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u32,
    /// The engine's weight in ranking, from configuration (1 when absent):
    /// the results service multiplies its share of a result's score by it.
    #[serde(default = "unit_weight")]
    #[schema(exclusive_minimum = 0.0, default = 1.0)]
    pub weight: f64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn unit_weight() -> f64 {
    1.0
}

/// How an engine fared with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EngineStatus {
    /// It answered.
    Ok,
    /// It failed; `error_kind` says how.
    Error,
    /// It did not answer in time.
    Timeout,
    /// Not asked: it is in a cooldown after repeated failures or a 429.
    Suspended,
}

fn one() -> f64 {
    1.0
}

/// `GET /v1/engines`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnginesResponse {
    /// Every configured engine, in the configured order.
    pub engines: Vec<EngineInfo>,
}

/// `GET /v1/suggest` (search and results services): completions of what
/// was typed, from the words the engines know, best first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Suggestions {
    /// What was typed, as it was completed (trimmed).
    pub query: String,
    /// Whole queries: what was typed with its last word completed; at most
    /// [`MAX_SUGGESTIONS`](crate::params::MAX_SUGGESTIONS).
    pub suggestions: Vec<String>,
}

/// One configured engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EngineInfo {
    /// Its configured name, what `engines=` calls it.
    pub name: String,
    /// What kind of engine it is, e.g. `local`.
    pub kind: String,
    /// Asked when a request names no engines.
    pub enabled: bool,
    /// In a cooldown after repeated failures or a 429: not asked now.
    #[serde(default)]
    pub suspended: bool,
    /// How much its results count when results are merged.
    #[serde(default = "one")]
    pub weight: f64,
    /// Longest it is waited for.
    #[serde(default)]
    pub timeout_ms: u64,
    /// Documents it holds, for engines that know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<u64>,
    /// The categories it is in (`categories=` picks engines by them).
    #[serde(default)]
    pub categories: Vec<String>,
}

/// `GET /v1/results`, `POST /v1/results` and the web service's
/// `GET /api/v1/search`: the manipulated result list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResultsResponse {
    /// The query, as the engines were asked it.
    #[schema(schema_with = crate::openapi::query_schema)]
    pub query: String,
    /// The page asked for.
    #[schema(minimum = 1, maximum = 50)]
    pub page: u32,
    /// Results a page asked for.
    #[schema(minimum = 1, maximum = 100)]
    pub per_page: u32,
    /// This page's results, best first.
    pub results: Vec<ResultHit>,
    /// How each engine asked fared.
    pub engines: Vec<EngineReport>,
    /// The categories of the enabled engines, each a choice for
    /// `categories=` (the page's tabs); empty when they would all ask the
    /// same engines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// The next page's number, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page: Option<u32>,
}

/// One result after cleaning, merging and ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResultHit {
    /// Plain text, whitespace cleaned.
    pub title: String,
    /// Where the result is (cleaned of tracking parameters).
    pub url: String,
    /// Plain text, whitespace cleaned.
    pub snippet: String,
    /// `snippet` HTML-escaped, with the query terms in `<mark>` elements: safe
    /// to insert into a page as it is.
    pub snippet_html: String,
    /// The same marks as `[start, end)` offsets into `snippet`, counted in
    /// Unicode characters, for clients that render text themselves.
    #[schema(schema_with = highlights_schema)]
    pub highlights: Vec<[usize; 2]>,
    /// Every engine that returned this result.
    pub engines: Vec<String>,
    /// Where each engine of `engines` placed it (1-based, among all its
    /// results for the query), in the same order. Absent from answers of
    /// services older than this field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub positions: Vec<u32>,
    /// When it was published, RFC 3339 in UTC, when an engine that returned
    /// it says. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub published: Option<String>,
    /// 1-based position among all results of the query.
    #[schema(minimum = 1)]
    pub rank: u32,
    /// The merged score results are ordered by: `n × Σ weight / position`
    /// over the `n` engines that returned it, times its hostname rules'
    /// factors (docs/results.md). Not the engines' own scores.
    pub score: f32,
}

/// `GET /v2/search`: as v1, paged by cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchResponseV2 {
    /// The query, as the engines were asked it.
    #[schema(schema_with = crate::openapi::query_schema)]
    pub query: String,
    /// Results a page asked for.
    #[schema(minimum = 1, maximum = 100)]
    pub per_page: u32,
    /// Every engine's hits, in the engines' order.
    pub results: Vec<SearchHit>,
    /// How each engine asked fared.
    pub engines: Vec<EngineReport>,
    /// The categories of the enabled engines, each a choice for
    /// `categories=` (the page's tabs); empty when they would all ask the
    /// same engines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `GET /api/v2/search`: as v1, paged by cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResultsResponseV2 {
    /// The query, as the engines were asked it.
    #[schema(schema_with = crate::openapi::query_schema)]
    pub query: String,
    /// Results a page asked for.
    #[schema(minimum = 1, maximum = 100)]
    pub per_page: u32,
    /// This page's results, best first.
    pub results: Vec<ResultHit>,
    /// How each engine asked fared.
    pub engines: Vec<EngineReport>,
    /// The categories of the enabled engines, each a choice for
    /// `categories=` (the page's tabs); empty when they would all ask the
    /// same engines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl SearchResponseV2 {
    /// The v2 answer for a v1 one, with the cursor of the next page when there is one.
    pub fn from_v1(
        response: SearchResponse,
        request: &crate::SearchRequest,
        cursors: &crate::CursorKey,
    ) -> Self {
        let more = more_pages(
            &response.engines,
            request.page,
            request.per_page,
            response.results.len(),
        );
        Self {
            next_cursor: more.then(|| cursors.encode(&request.with_page(request.page + 1))),
            query: response.query,
            per_page: response.per_page,
            results: response.results,
            engines: response.engines,
            categories: response.categories,
        }
    }
}

impl ResultsResponseV2 {
    /// The v2 answer for a v1 one, with the cursor of the next page when there is one.
    pub fn from_v1(
        response: ResultsResponse,
        request: &crate::SearchRequest,
        cursors: &crate::CursorKey,
    ) -> Self {
        Self {
            next_cursor: response
                .next_page
                .map(|page| cursors.encode(&request.with_page(page))),
            query: response.query,
            per_page: response.per_page,
            results: response.results,
            engines: response.engines,
            categories: response.categories,
        }
    }
}

/// Whether a page after `page` can hold results: some engine has more than
/// the pages so far hold (or, not knowing its total, filled this page), and
/// the limit on pages is not reached.
pub fn more_pages(engines: &[EngineReport], page: u32, per_page: u32, on_page: usize) -> bool {
    if page >= crate::params::MAX_PAGE || on_page == 0 {
        return false;
    }
    let seen = u64::from(page) * u64::from(per_page);
    engines.iter().any(|e| match e.total {
        Some(total) => total > seen,
        None => e.results >= per_page,
    })
}

/// An error, as an RFC 9457 `application/problem+json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of error: `urn:trawl:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, fixed summary of the kind of error.
    pub title: String,
    /// The HTTP status it is sent with.
    pub status: u16,
    /// What exactly went wrong with this request.
    pub detail: String,
    /// The same name as the last segment of `type`, e.g. `invalid_parameter`.
    pub code: String,
    /// The request parameter at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// For a refused batch of documents: each bad document and why (at
    /// most 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<crate::jobs::DocumentError>>,
    /// The trace this request was part of (32 hex digits, W3C trace
    /// context): quote it when reporting the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

impl Problem {
    /// A problem of `code`, sent with `status`.
    pub fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:trawl:problem:{code}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            code: code.to_owned(),
            param: None,
            errors: None,
            trace_id: None,
        }
    }

    /// Names the parameter at fault.
    pub fn with_param(mut self, param: Option<&str>) -> Self {
        self.param = param.map(str::to_owned);
        self
    }
}

/// `GET /readyz`: whether this service, and those it calls, can serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// Whether every check passes.
    pub ready: bool,
    /// Each thing the service needs, and how it is.
    pub checks: Vec<Check>,
}

/// One thing a service needs, and how it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Check {
    /// What is checked, e.g. `index` or an engine's name.
    pub name: String,
    /// Whether it can serve.
    pub ok: bool,
    /// Why, for people.
    pub detail: String,
}

impl Readiness {
    /// Ready when every check is.
    pub fn from_checks(checks: Vec<Check>) -> Self {
        Self {
            ready: checks.iter().all(|c| c.ok),
            checks,
        }
    }
}

impl Readiness {
    /// One line: `ready`, or what is not.
    pub fn summary(&self) -> String {
        let failing: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        if failing.is_empty() {
            "ready".to_owned()
        } else {
            format!("not ready ({})", failing.join("; "))
        }
    }
}

impl Check {
    /// A check of `name`.
    pub fn new(name: &str, ok: bool, detail: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            ok,
            detail: detail.into(),
        }
    }
}
