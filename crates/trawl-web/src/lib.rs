//! The web service: what people and programs see.
//!
//! HTML pages rendered on the server (they work without JavaScript) and the
//! public JSON API, both over a [`ResultsService`]. Templates auto-escape
//! every value; no upstream string is ever marked safe. Highlights are
//! rendered from character ranges into escaped text, not from HTML.

mod bangs;
mod prefs;
pub mod searxng;
mod view;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRef, OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use futures_util::StreamExt;
use trawl_api::openapi::{ApiQueryV1, ApiQueryV2, HomeQuery, SearchPageQuery, TextPageQuery};
use trawl_api::params::{SearchParams, search_request_v2};
use trawl_api::{
    CursorKey, EngineInfo, Format, InvalidRequest, Keyword, Problem, Readiness, ResultsResponse,
    ResultsResponseV2, ResultsService, SearchRequest, ServiceError, Suggestions,
};
use trawl_results::formats::{self, FeedLinks};
use trawl_service::ApiError;
use trawl_service::client::Origin;
use trawl_service::extract::{RawSearch, accept};
use trawl_service::openapi::{
    InternalErrorResponse, InvalidRequestResponse, NotAcceptableResponse, OrPage,
    RateLimitedResponse, UpstreamErrorResponses,
};
use trawl_service::versioning::{deprecated_v1, document_deprecated_v1};

use crate::prefs::{PER_PAGE_CHOICES, Prefs, Theme};
use crate::view::{AboutView, Bottom, ErrorView, Full, Page, ProgressView, ResultsView, Tab, Top};

#[derive(Clone)]
struct WebState {
    results: Arc<dyn ResultsService>,
    cursors: CursorKey,
    engines: Arc<EngineList>,
}

/// How long the engines' list is reused before it is asked for again.
const ENGINES_FRESH_FOR: Duration = Duration::from_secs(10);

/// The engines, as the results service last listed them: for the progress
/// list, the home page, preferences and bangs. A failed refresh keeps the
/// last list (or none: pages then do without it).
#[derive(Default)]
struct EngineList {
    held: Mutex<Option<(Instant, Arc<Vec<EngineInfo>>)>>,
}

impl EngineList {
    async fn get(&self, results: &dyn ResultsService) -> Arc<Vec<EngineInfo>> {
        let held = self.held.lock().expect("not poisoned").clone();
        if let Some((at, engines)) = &held
            && at.elapsed() < ENGINES_FRESH_FOR
        {
            return engines.clone();
        }
        match results.engines().await {
            Ok(listed) => {
                let engines = Arc::new(listed.engines);
                *self.held.lock().expect("not poisoned") = Some((Instant::now(), engines.clone()));
                engines
            }
            Err(error) => {
                tracing::warn!(%error, "the engines could not be listed");
                held.map(|(_, engines)| engines).unwrap_or_default()
            }
        }
    }
}

impl FromRef<WebState> for Arc<dyn ResultsService> {
    fn from_ref(state: &WebState) -> Self {
        state.results.clone()
    }
}

/// The web service's routes, as OpenAPI.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(api_search_v2, api_search, home, search_page, search_form, text_page, preferences,
        save_preferences, opensearch, autocomplete, css, script, favicon, robots),
    tags(
        (name = "api", description = "The public JSON API."),
        (name = "pages", description = "HTML pages for people; they work without JavaScript."),
    ),
)]
struct Api;

/// The OpenAPI description of [`routes`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = <Api as utoipa::OpenApi>::openapi();
    document_deprecated_v1(&mut doc, "/api/v1/search", "/api/v2/search");
    doc
}

/// The pages, the public API and the static assets over any
/// [`ResultsService`]; `/api/v2` cursors are signed with `cursors`.
pub fn routes(results: Arc<dyn ResultsService>, cursors: CursorKey) -> Router {
    let deprecated = middleware::map_response(|r| deprecated_v1("/api/v2/search", r));
    Router::new()
        .route("/", get(home))
        .route("/search", get(search_page).post(search_form))
        .route("/preferences", get(preferences).post(save_preferences))
        .route("/opensearch.xml", get(opensearch))
        .route("/autocomplete", get(autocomplete))
        .route("/api/v1/search", get(api_search).layer(deprecated))
        .route("/api/v2/search", get(api_search_v2))
        .route("/static/trawl.css", get(css))
        .route("/static/trawl.js", get(script))
        .route("/static/favicon.svg", get(favicon))
        .route("/favicon.ico", get(|| async { ApiError::NotFound }))
        .route("/robots.txt", get(robots))
        .route("/{text}", get(text_page))
        .layer(middleware::map_response(page_policy))
        .with_state(WebState {
            results,
            cursors,
            engines: Arc::default(),
        })
}

/// Pages may run their own script (`/static/trawl.js`) and ask
/// `/autocomplete`; nothing else, and nothing from elsewhere. Other
/// answers keep the strict policy every role sends.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; \
    frame-ancestors 'none'";

async fn page_policy(mut response: Response) -> Response {
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
    }
    response
}

/// The web service is ready when the results service is: its checks, as
/// it reports them (over HTTP: the results service's own and the breaker's
/// on the way to it).
pub async fn readiness(results: &dyn ResultsService) -> Readiness {
    results.readiness().await
}

/// The home page: the search form, and what it searches. With a query,
/// on to `/search`, as SearXNG's `/` does: clients configured with an
/// instance's root URL (LangChain's `SearxSearchWrapper`) ask `/?q=…`.
#[utoipa::path(get, path = "/", tag = "pages", operation_id = "home",
    params(HomeQuery),
    responses(
        (status = 200, description = "The search form.", content_type = "text/html", body = String),
        (status = 308, description = "A query was given: to `/search` with the same query string."),
        (status = 400, description = "A query that cannot be one (over 512 characters, control \
            characters, a malformed query string): the form and what is wrong.",
            content_type = "text/html", body = String),
        (status = 429, description = "The form and a message: this client sent more requests than \
            its budget allows; `Retry-After` says when to try again.", content_type = "text/html", body = String),
    ))]
async fn home(
    State(state): State<WebState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(raw) = query.as_deref() {
        let prefs = Prefs::from_headers(&headers);
        let q = match trawl_api::params::parse_query_string(raw) {
            Ok(pairs) => pairs
                .into_iter()
                .find(|(name, _)| name == "q")
                .map(|(_, q)| q),
            Err(invalid) => {
                return error_page(&SearchParams::default(), &ApiError::from(invalid), &prefs);
            }
        };
        let given = q.as_deref().is_some_and(|q| {
            !trawl_api::text::without(q, trawl_api::text::is_invisible)
                .trim()
                .is_empty()
        });
        if let Some(q) = q.filter(|_| given) {
            if let Err(invalid) = trawl_api::Query::parse(&q) {
                let form = SearchParams {
                    q: Some(q),
                    ..SearchParams::default()
                };
                return error_page(&form, &ApiError::from(invalid), &prefs);
            }
            if let Ok(location) = HeaderValue::from_str(&format!("/search?{raw}")) {
                return (
                    StatusCode::PERMANENT_REDIRECT,
                    [(header::LOCATION, location)],
                )
                    .into_response();
            }
        }
    }
    let prefs = Prefs::from_headers(&headers);
    let mut form = SearchParams::default();
    prefs.fill(&mut form);
    let engines = state.engines.get(state.results.as_ref()).await;
    let mut page = Page::new("home", String::new(), &form).with_prefs(&prefs);
    page.about = AboutView::new(&engines);
    render(StatusCode::OK, &page)
}

/// `GET /search?q=…&page=…`: the results page with the form pre-filled;
/// with `format=json|csv|rss`, SearXNG's search API
/// (docs/searxng-compat.md).
#[utoipa::path(get, path = "/search", tag = "pages", operation_id = "search_page",
    params(SearchPageQuery),
    responses(
        (status = 200, description = "Without `format` (or `html`): the results, under the form. \
            When the engines take longer than 100 ms, the page is streamed: its head, the form and \
            the engines being asked first, the results (or what went wrong) when every engine has \
            answered or the deadline has passed. With `format=json`, `csv` or `rss`: SearXNG's \
            answer in that format.", content(
            (String = "text/html"),
            (searxng::SearxResponse = "application/json"),
            (String = "text/csv"),
            (String = "text/xml"),
        )),
        (status = 303, description = "No query (`q` missing or blank) on the page: to the home page."),
        (status = 400, description = "The page: the form, pre-filled, and what is wrong with the \
            request. SearXNG's formats: `{\"error\": …}` (JSON, with trawl's problem members), an \
            `Error` item (RSS), a problem document (CSV, or a bad `timeout_ms`).", content(
            (String = "text/html"),
            (searxng::SearxError = "application/json"),
            (String = "text/xml"),
            (trawl_api::Problem = "application/problem+json"),
        )),
        (status = 429, description = "This client sent more requests than its budget allows (the \
            page's, or the API's for SearXNG's formats); `Retry-After` says when to try again.",
            content(
            (String = "text/html"),
            (trawl_api::Problem = "application/problem+json"),
        )),
        (status = "5XX", description = "A service behind this one failed (502, 503, 504) or this \
            one did (500): the page with a readable message, or SearXNG's error in its format.",
            content(
            (String = "text/html"),
            (searxng::SearxError = "application/json"),
            (String = "text/xml"),
            (trawl_api::Problem = "application/problem+json"),
        )),
    ))]
async fn search_page(
    State(state): State<WebState>,
    Origin(origin): Origin,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    search(&state, &origin, &headers, query.as_deref(), None).await
}

/// `POST /search` with a form body, as SearXNG takes it (its own form
/// posts): the same as `GET /search` with the body's parameters, which win
/// over the query string's.
#[utoipa::path(post, path = "/search", tag = "pages", operation_id = "search_form",
    params(SearchPageQuery),
    request_body(content = Option<searxng::FormBody>, content_type = "application/x-www-form-urlencoded",
        description = "Any of the query string's parameters (`q`, `format`, `pageno`, …), and \
            SearXNG's `category_<name>=on|off`. At most 16 KiB."),
    responses(
        (status = 200, description = "As `GET /search`: the page, or SearXNG's answer in the \
            format asked for.", content(
            (String = "text/html"),
            (searxng::SearxResponse = "application/json"),
            (String = "text/csv"),
            (String = "text/xml"),
        )),
        (status = 400, description = "As `GET /search`.", content(
            (String = "text/html"),
            (searxng::SearxError = "application/json"),
            (String = "text/xml"),
            (trawl_api::Problem = "application/problem+json"),
        )),
        (status = 303, description = "No query, and the page asked for: to the home page."),
        (status = 413, description = "The form is larger than 16 KiB.",
            content_type = "application/problem+json", body = trawl_api::Problem),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded`.",
            content_type = "application/problem+json", body = trawl_api::Problem),
        (status = 429, description = "This client sent more requests than its API budget \
            allows; `Retry-After` says when to try again.", content(
            (String = "text/html"),
            (trawl_api::Problem = "application/problem+json"),
        )),
        (status = "5XX", description = "A service behind this one failed (502, 503, 504) or \
            this one did (500).", content(
            (String = "text/html"),
            (searxng::SearxError = "application/json"),
            (String = "text/xml"),
            (trawl_api::Problem = "application/problem+json"),
        )),
    ))]
async fn search_form(
    State(state): State<WebState>,
    Origin(origin): Origin,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if body.len() > searxng::MAX_FORM_BYTES {
        return ApiError::PayloadTooLarge {
            limit: searxng::MAX_FORM_BYTES,
        }
        .into_response();
    }
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type && !body.is_empty() {
        return ApiError::UnsupportedMediaType {
            expected: "application/x-www-form-urlencoded",
        }
        .into_response();
    }
    let Ok(body) = std::str::from_utf8(&body) else {
        let invalid = InvalidRequest::MalformedQueryString {
            reason: "the form body is not UTF-8".to_owned(),
        };
        return ApiError::from(invalid).into_response();
    };
    // A form is `name=value` pairs; a browser never sends anything else.
    if body
        .split('&')
        .any(|pair| !pair.is_empty() && !pair.contains('='))
    {
        let invalid = InvalidRequest::MalformedQueryString {
            reason: "the form body is not `name=value` pairs joined by `&`".to_owned(),
        };
        return ApiError::from(invalid).into_response();
    }
    search(&state, &origin, &headers, query.as_deref(), Some(body)).await
}

/// `/search` by `GET` or `POST`: SearXNG's API when `format` is `json`,
/// `csv` or `rss`, else the page (which takes SearXNG's parameter names
/// too).
async fn search(
    state: &WebState,
    origin: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Option<&str>,
) -> Response {
    let prefs = Prefs::from_headers(headers);
    let accept_language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let form = searxng::Form::parse(query, body);
    match (&form, searxng::Format::asked(query, body)) {
        (Ok(form), Some(format)) => {
            let client_deadline = sets_timeout_ms(query);
            return searx_answer(
                state,
                origin,
                form,
                format,
                accept_language,
                client_deadline,
            )
            .await;
        }
        (Err(invalid), Some(format)) => {
            let refused = searxng::Refused::from(invalid.clone());
            return searx_refused(format, "", origin, &refused.error, invalid.clone().into());
        }
        _ => {}
    }
    let params = page_params(query, body).and_then(|params| Ok((params, form?)));
    let (mut params, form) = match params {
        Ok(both) => both,
        Err(invalid) => {
            return error_page(&SearchParams::default(), &ApiError::from(invalid), &prefs);
        }
    };
    let options = match searxng::Options::of(&form, accept_language) {
        Ok(options) => options,
        Err(refused) => return error_page(&params, &ApiError::from(refused.invalid), &prefs),
    };
    if let Err(refused) = options.onto_page(&mut params) {
        return error_page(&params, &ApiError::from(refused.invalid), &prefs);
    }
    let client_deadline = options.timeout.is_some() || sets_timeout_ms(query);
    within(
        options.timeout,
        results_page(state, params, &prefs, client_deadline),
    )
    .await
}

/// The page's parameters from the query string and, for a `POST`, the
/// form body (whose values win).
fn page_params(query: Option<&str>, body: Option<&str>) -> Result<SearchParams, InvalidRequest> {
    let from_query = SearchParams::from_query_string(query)?;
    let Some(body) = body else {
        return Ok(from_query);
    };
    let mut params = SearchParams::from_query_string(Some(body))?;
    let pairs = [
        (&mut params.q, from_query.q),
        (&mut params.page, from_query.page),
        (&mut params.per_page, from_query.per_page),
        (&mut params.cursor, from_query.cursor),
        (&mut params.format, from_query.format),
        (&mut params.safe, from_query.safe),
        (&mut params.time_range, from_query.time_range),
        (&mut params.lang, from_query.lang),
        (&mut params.engines, from_query.engines),
        (&mut params.categories, from_query.categories),
    ];
    for (mine, theirs) in pairs {
        if mine.is_none() {
            *mine = theirs;
        }
    }
    Ok(params)
}

/// Runs `work` with its deadline brought forward to `timeout` from now
/// (SearXNG's `timeout_limit`), when that is sooner than the request's.
async fn within<F: Future>(timeout: Option<Duration>, work: F) -> F::Output {
    let Some(timeout) = timeout else {
        return work.await;
    };
    let limit = tokio::time::Instant::now() + timeout;
    let deadline = trawl_service::deadline::current().map_or(limit, |d| d.min(limit));
    trawl_service::deadline::scope(deadline, work).await
}

/// SearXNG's answer to `form` in `format`.
async fn searx_answer(
    state: &WebState,
    origin: &str,
    form: &searxng::Form,
    format: searxng::Format,
    accept_language: Option<&str>,
    client_deadline: bool,
) -> Response {
    let typed = form.q.clone().unwrap_or_default();
    let engines = state.engines.get(state.results.as_ref()).await;
    let asked = match searxng::asked(form, &engines, accept_language) {
        Ok(asked) => asked,
        Err(refused) => {
            return searx_refused(
                format,
                &typed,
                origin,
                &refused.error,
                refused.invalid.into(),
            );
        }
    };
    let request = &asked.request;
    let response = if asked.past_last_page {
        Ok(ResultsResponse {
            query: request.query.to_string(),
            page: request.page,
            per_page: request.per_page,
            results: Vec::new(),
            engines: Vec::new(),
            categories: Vec::new(),
            next_page: None,
        })
    } else {
        let client_deadline = client_deadline || asked.timeout.is_some();
        within(
            asked.timeout,
            results_in_time(state, request, client_deadline),
        )
        .await
    };
    let response = match response {
        Ok(response) => response,
        Err(error) => {
            // SearXNG says `search error` for whatever went wrong behind it.
            return searx_refused(format, &typed, origin, "search error", error);
        }
    };
    let answer = searxng::json(request, &response, &engines);
    match format {
        searxng::Format::Json => Json(answer).into_response(),
        searxng::Format::Csv => {
            let disposition = format!(
                "attachment; filename=\"{}\"",
                searxng::csv_file_name(request.query.as_str())
            );
            let mut response = (
                [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
                searxng::csv(&answer),
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        searxng::Format::Rss => (
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            searxng::rss(&answer.query, Some(&answer), origin, None),
        )
            .into_response(),
    }
}

/// A SearXNG request that failed, as SearXNG answers it: JSON
/// `{"error": …}` (with trawl's problem members beside it), RSS with an
/// `Error` item; CSV (which SearXNG answers empty) as a problem document.
fn searx_refused(
    format: searxng::Format,
    q: &str,
    origin: &str,
    message: &str,
    error: ApiError,
) -> Response {
    if format == searxng::Format::Csv {
        return error.into_response();
    }
    let mut problem = error.problem();
    if problem.status >= 500 {
        tracing::error!(%error, "search failed");
    }
    if problem.trace_id.is_none() {
        problem.trace_id = trawl_service::trace::current_trace_id();
    }
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = if format == searxng::Format::Rss {
        (
            status,
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            searxng::rss(q, None, origin, Some(message)),
        )
            .into_response()
    } else {
        (
            status,
            Json(searxng::SearxError {
                error: message.to_owned(),
                problem,
            }),
        )
            .into_response()
    };
    error.add_retry_after(&mut response);
    response
}

/// `GET /{text}`: the same page as `/search?q={text}`; `page` and
/// `per_page` may still come from the query string.
#[utoipa::path(get, path = "/{text}", tag = "pages", operation_id = "text_page",
    params(
        ("text" = String, Path, description = "The query, as one path segment: `/postgres%20vacuum`. \
            A `q` in the query string is ignored. A segment that looks like a probe for a file \
            (a dot-file, an extension such as `.php` or `.xml`, `wp-…`, `metrics`, `.well-known`) \
            is not a search: `404`, and no engine is asked."),
        TextPageQuery,
    ),
    responses(
        (status = 200, description = "The results, under the form.", content_type = "text/html", body = String),
        (status = 404, description = "Not a search: a probe for a file (`not_found`).",
            content_type = "application/problem+json", body = trawl_api::Problem),
        (status = 400, description = "The form, pre-filled, and what is wrong with the request.",
            content_type = "text/html", body = String),
        (status = 429, description = "The form and a message: this client sent more requests than \
            its budget allows; `Retry-After` says when to try again.", content_type = "text/html", body = String),
        (status = "5XX", description = "The form and a readable message: a service behind this one \
            failed (502, 503, 504) or this one did (500).", content_type = "text/html", body = String),
    ))]
async fn text_page(
    State(state): State<WebState>,
    headers: HeaderMap,
    text: Result<Path<String>, PathRejection>,
    RawSearch(params): RawSearch,
) -> Response {
    let prefs = Prefs::from_headers(&headers);
    if let Ok(Path(text)) = &text
        && !looks_like_search(text)
    {
        // A scanner's probe, not a search: no engine is asked.
        return ApiError::NotFound.into_response();
    }
    let Ok(Path(text)) = text else {
        let invalid = InvalidRequest::MalformedQueryString {
            reason: "the path is not valid percent-encoded UTF-8".to_owned(),
        };
        return error_page(&SearchParams::default(), &ApiError::from(invalid), &prefs);
    };
    let params = match params {
        Ok(params) => SearchParams {
            q: Some(text),
            ..params
        },
        Err(invalid) => {
            let form = SearchParams {
                q: Some(text),
                ..SearchParams::default()
            };
            return error_page(&form, &ApiError::from(invalid), &prefs);
        }
    };
    results_page(&state, params, &prefs, false).await
}

/// Extensions that make a path a probe for a file, not a search: scripts,
/// configuration, backups, markup and images. (Not `js`, `py` or `md`:
/// `/node.js` is a fair query.)
const PROBE_EXTENSIONS: &[&str] = &[
    "php", "php3", "php4", "php5", "php7", "phtml", "asp", "aspx", "ashx", "jsp", "jspx", "cgi",
    "pl", "env", "ini", "conf", "cfg", "config", "bak", "old", "orig", "save", "swp", "sql", "db",
    "sqlite", "log", "xml", "json", "yml", "yaml", "toml", "txt", "html", "htm", "shtml", "action",
    "do", "dll", "exe", "sh", "bat", "cmd", "git", "svn", "zip", "tar", "gz", "tgz", "rar", "7z",
    "ico", "png", "jpg", "jpeg", "gif", "svg", "webp", "map", "woff", "woff2",
];

/// First segments that are never searches: well-known paths, admin
/// consoles and the software scanners look for.
const PROBE_NAMES: &[&str] = &[
    ".well-known",
    "metrics",
    "cgi-bin",
    "admin",
    "administrator",
    "phpmyadmin",
    "pma",
    "actuator",
    "server-status",
    "server-info",
    "owa",
    "autodiscover",
    "telescope",
    "boaform",
    "hnap1",
    "api",
    "v1",
    "v2",
    "static",
    "livez",
    "readyz",
    "healthz",
    "xmlrpc",
];

/// Whether `/{text}` reads as a search rather than a probe for a file: no
/// dot-file, no extension of `PROBE_EXTENSIONS`, no first word of
/// `PROBE_NAMES` and nothing starting `wp-` (WordPress). The rest is
/// a `404` without asking any engine (docs/security.md).
pub fn looks_like_search(text: &str) -> bool {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    if lower.is_empty() {
        // Not a probe: the query's own check says what is wrong.
        return true;
    }
    if lower.starts_with('.') || lower.starts_with("wp-") {
        return false;
    }
    if PROBE_NAMES.contains(&lower.as_str()) {
        return false;
    }
    lower
        .rsplit_once('.')
        .is_none_or(|(_, extension)| !PROBE_EXTENSIONS.contains(&extension.trim()))
}

/// How long a results page waits for the results before it starts
/// streaming: quicker answers are sent whole (with their true status),
/// slower ones get the head, the form and the progress list at once.
const STREAM_AFTER: Duration = Duration::from_millis(100);

async fn results_page(
    state: &WebState,
    mut params: SearchParams,
    prefs: &Prefs,
    client_deadline: bool,
) -> Response {
    // Pages are HTML whatever the Accept header says.
    if let Err(invalid) = params.format(None, &[Format::Html]) {
        return error_page(&params, &ApiError::from(invalid), prefs);
    }
    let typed = params.q.clone().unwrap_or_default();
    let typed = typed.as_str();
    if trawl_api::text::without(typed, trawl_api::text::is_invisible)
        .trim()
        .is_empty()
    {
        // Nothing to search for: the home page, not an error — once the
        // other parameters are known to be valid.
        let others = SearchParams {
            q: Some("-".to_owned()),
            ..params.clone()
        };
        if let Err(invalid) = SearchRequest::from_params(&others) {
            return error_page(&params, &ApiError::from(invalid), prefs);
        }
        return Redirect::to("/").into_response();
    }
    prefs.fill(&mut params);
    let engines = state.engines.get(state.results.as_ref()).await;
    let banged = bangs::take(typed, &engines);
    let mut notices = Vec::new();
    if !banged.unknown.is_empty() {
        notices.push(format!(
            "No engine answers to {}: searched without {}. See the list of bangs in Preferences.",
            banged.unknown.join(", "),
            if banged.unknown.len() == 1 {
                "it"
            } else {
                "them"
            },
        ));
    }
    let asked_for = SearchParams {
        q: Some(banged.query.clone()),
        ..params.clone()
    };
    let mut request = match SearchRequest::from_params(&asked_for) {
        Ok(request) => request,
        Err(invalid) => return error_page(&params, &ApiError::from(invalid), prefs),
    };
    for engine in &banged.engines {
        if !request.engines.contains(engine) {
            request.engines.push(engine.clone());
        }
    }
    if request.engines.is_empty() && request.categories.is_empty() && !prefs.off.is_empty() {
        request.engines = engines
            .iter()
            .filter(|e| e.enabled && !prefs.off.contains(&e.name))
            .map(|e| e.name.clone())
            .collect();
        if request.engines.is_empty() {
            let invalid = InvalidRequest::InvalidParameter {
                param: "engines",
                reason: "names no engine: every engine is turned off in your preferences"
                    .to_owned(),
            };
            return error_page(&params, &ApiError::from(invalid), prefs);
        }
    }
    // The form shows the query as typed, bangs included, cleaned as the
    // query itself is.
    let shown =
        trawl_api::Query::parse(typed).map_or_else(|_| typed.trim().to_owned(), |q| q.to_string());
    let form = SearchParams {
        q: Some(shown.clone()),
        ..params
    };
    let mut page = Page::new("results", shown, &form).with_prefs(prefs);
    page.notices = notices;
    page.feeds = true;

    // The results are worked out on their own task, under this request's
    // deadline and span, so that the page can be sent while they are.
    let deadline = trawl_service::deadline::current();
    let state_for_work = state.clone();
    let asked = request.clone();
    let work = tracing::Instrument::instrument(
        async move {
            let answer = results_in_time(&state_for_work, &asked, client_deadline);
            match deadline {
                Some(deadline) => trawl_service::deadline::scope(deadline, answer).await,
                None => answer.await,
            }
        },
        tracing::Span::current(),
    );
    let mut work = AbortOnDrop(tokio::spawn(work));
    if let Ok(answer) = tokio::time::timeout(STREAM_AFTER, &mut work).await {
        return match answer {
            Ok(response) => {
                fill_results(&mut page, &request, response);
                render(StatusCode::OK, &page)
            }
            Err(error) => {
                let status = error.problem().status;
                fill_error(&mut page, &error);
                let mut response = render(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    &page,
                );
                error.add_retry_after(&mut response);
                response
            }
        };
    }
    // Streamed: what can be said now, then the rest.
    page.progress = Some(
        asked_engines(&request, &engines)
            .map(|e| ProgressView {
                name: e.name.clone(),
                timeout: format!("{:.1} s", e.timeout_ms as f64 / 1000.0),
            })
            .collect(),
    );
    let top = match (Top { p: &page }).render() {
        Ok(top) => top,
        Err(error) => return render_failed(&error),
    };
    let rest = async move {
        let mut page = page;
        match work.await {
            Ok(response) => fill_results(&mut page, &request, response),
            Err(error) => fill_error(&mut page, &error),
        }
        let bottom = (Bottom { p: &page }).render().unwrap_or_else(|error| {
            tracing::error!(%error, "template failed to render");
            "<p>The page could not be rendered.</p></main></body></html>".to_owned()
        });
        Ok::<_, std::convert::Infallible>(Bytes::from(bottom))
    };
    let body = futures_util::stream::once(std::future::ready(Ok(Bytes::from(top))))
        .chain(futures_util::stream::once(rest));
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// The answer when nothing came back before a deadline the client chose:
/// no results, every engine asked reported as timed out.
fn timed_out(request: &SearchRequest, engines: &[EngineInfo]) -> ResultsResponse {
    ResultsResponse {
        query: request.query.to_string(),
        page: request.page,
        per_page: request.per_page,
        results: Vec::new(),
        engines: asked_engines(request, engines)
            .map(|e| trawl_api::EngineReport {
                name: e.name.clone(),
                status: trawl_api::EngineStatus::Timeout,
                latency_ms: 0.0,
                results: 0,
                total: None,
                error: Some("did not answer within the time the request allowed".to_owned()),
                error_kind: Some("timeout".to_owned()),
                dropped: 0,
                weight: e.weight,
            })
            .collect(),
        categories: Vec::new(),
        next_page: None,
    }
}

/// A [`margin`](trawl_service::deadline::margin) before `deadline`: when a
/// handler stops waiting, so that its own answer beats the deadline
/// middleware's `504`.
fn before(deadline: tokio::time::Instant) -> tokio::time::Instant {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    deadline
        .checked_sub(trawl_service::deadline::margin(left))
        .unwrap_or(deadline)
}

/// The results for `request`, waited for until a margin before the
/// request's deadline. When the client chose that deadline
/// (`client_deadline`: `timeout_ms`, SearXNG's `timeout_limit`) and
/// nothing came back by then, the answer is what the engines found in
/// time — nothing, every engine asked reported as timed out — as
/// `timeout_ms` promises, not a `504`.
async fn results_in_time(
    state: &WebState,
    request: &SearchRequest,
    client_deadline: bool,
) -> Result<ResultsResponse, ApiError> {
    let begun = tokio::time::Instant::now();
    let call = state.results.results(request);
    let answer = match trawl_service::deadline::current() {
        Some(deadline) => match tokio::time::timeout_at(before(deadline), call).await {
            Ok(answer) => answer.map_err(ApiError::from),
            Err(_) => Err(ApiError::DeadlineExceeded {
                budget: deadline.saturating_duration_since(begun),
            }),
        },
        None => call.await.map_err(ApiError::from),
    };
    match answer {
        Err(error) if client_deadline && error.problem().status == 504 => {
            let engines = state.engines.get(state.results.as_ref()).await;
            Ok(timed_out(request, &engines))
        }
        answer => answer,
    }
}

/// Whether a raw query string sets `timeout_ms` (the client's deadline).
fn sets_timeout_ms(query: Option<&str>) -> bool {
    trawl_api::params::timeout_param(query).is_ok_and(|t| t.is_some())
}

/// The engines a request asks, as far as the list says.
fn asked_engines<'a>(
    request: &'a SearchRequest,
    engines: &'a [EngineInfo],
) -> impl Iterator<Item = &'a EngineInfo> {
    engines.iter().filter(move |e| {
        if request.engines.is_empty() && request.categories.is_empty() {
            e.enabled && !e.suspended
        } else {
            request.engines.contains(&e.name)
                || (e.enabled && e.categories.iter().any(|c| request.categories.contains(c)))
        }
    })
}

fn fill_results(page: &mut Page, request: &SearchRequest, response: ResultsResponse) {
    page.tabs = Tab::for_request(request, &response.categories);
    page.results = Some(ResultsView::new(request, response));
}

fn fill_error(page: &mut Page, error: &ApiError) {
    let problem = error.problem();
    if problem.status >= 500 {
        tracing::error!(%error, "page failed");
    }
    page.kind = "error";
    page.feeds = false;
    page.error = Some(ErrorView::from(problem));
}

/// A task that is cancelled when nobody waits for it any more (the
/// browser went away mid-page).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<Result<T, ApiError>> {
    type Output = Result<T, ApiError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.unwrap_or_else(|error| {
                Err(ApiError::Service(ServiceError::Internal(format!(
                    "the results task failed: {error}"
                ))))
            })
        })
    }
}

/// The page with the form pre-filled from `form` and the error above it.
fn error_page(form: &SearchParams, error: &ApiError, prefs: &Prefs) -> Response {
    let problem = error.problem();
    if problem.status >= 500 {
        tracing::error!(%error, "page failed");
    }
    let mut page = problem_page_with(form, problem, prefs);
    error.add_retry_after(&mut page);
    page
}

fn problem_page_with(form: &SearchParams, problem: Problem, prefs: &Prefs) -> Response {
    let prefill = form.q.clone().unwrap_or_default();
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut page = Page::new("error", prefill, form).with_prefs(prefs);
    page.error = Some(ErrorView::from(problem));
    render(status, &page)
}

/// The page for a problem the server's own layers answered a page request
/// with (shed, out of time, a bad `timeout_ms`): the form, pre-filled from
/// the request as far as it can be read, and the message; `None` for
/// requests that are not for a page. See [`trawl_service::server::ProblemPage`].
pub fn problem_page(method: &Method, uri: &Uri, problem: &Problem) -> Option<Response> {
    let path = uri.path();
    let segment = path.strip_prefix('/').filter(|rest| !rest.contains('/'))?;
    // `/`, `/search` and `/{text}`, which take any other single segment.
    let not_pages = [
        "autocomplete",
        "opensearch.xml",
        "livez",
        "readyz",
        "openapi.json",
        "favicon.ico",
        "robots.txt",
    ];
    let is_page = *method == Method::GET
        && !(segment == "search" && searxng::Format::asked(uri.query(), None).is_some())
        && !not_pages.contains(&segment)
        && (segment.is_empty() || segment == "search" || looks_like_search(segment));
    if !is_page {
        return None;
    }
    let mut form = SearchParams::from_query_string(uri.query()).unwrap_or_default();
    if !segment.is_empty() && segment != "search" {
        form.q = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .ok()
            .map(std::borrow::Cow::into_owned);
    }
    Some(problem_page_with(&form, problem.clone(), &Prefs::default()))
}

fn render(status: StatusCode, page: &Page) -> Response {
    match (Full { p: page }).render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => render_failed(&error),
    }
}

fn render_failed(error: &askama::Error) -> Response {
    tracing::error!(%error, "template failed to render");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "the page could not be rendered",
    )
        .into_response()
}

/// What the preferences form shows.
pub(crate) struct PrefsView {
    pub engines: Vec<EngineChoice>,
    pub languages: Vec<(&'static str, &'static str)>,
    pub lang: String,
    pub safe_choices: &'static [(&'static str, &'static str)],
    pub safe: String,
    pub time_range: String,
    pub per_page_choices: &'static [u32],
    pub per_page: u32,
    pub themes: &'static [(&'static str, &'static str)],
    pub theme: &'static str,
    pub new_tab: bool,
    /// This page's address with these preferences: opened elsewhere, it
    /// fills the form there.
    pub export_url: String,
    /// `(bang, what it asks)`.
    pub bangs: Vec<(String, String)>,
}

/// An engine, on or off.
pub(crate) struct EngineChoice {
    pub name: String,
    pub detail: String,
    pub on: bool,
}

/// Languages the form lists by name (any other valid code a preference
/// holds is listed too).
const LANGUAGES: &[(&str, &str)] = &[
    ("", "Any language"),
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("it", "Italiano"),
    ("nl", "Nederlands"),
    ("pt", "Português"),
    ("pl", "Polski"),
    ("sv", "Svenska"),
    ("ru", "Русский"),
    ("uk", "Українська"),
    ("ja", "日本語"),
    ("zh", "中文"),
];

const SAFE_CHOICES: &[(&str, &str)] = &[
    ("", "As each engine does by default"),
    ("off", "Off"),
    ("moderate", "Moderate"),
    ("strict", "Strict"),
];

impl PrefsView {
    fn new(prefs: &Prefs, engines: &[EngineInfo], origin: &str) -> Self {
        let mut languages = LANGUAGES.to_vec();
        if let Some(lang) = prefs.lang
            && !languages.iter().any(|(code, _)| *code == lang.as_str())
        {
            languages.push((lang.as_str(), lang.as_str()));
        }
        let query = prefs.to_query_string();
        Self {
            engines: engines
                .iter()
                .filter(|e| e.enabled)
                .map(|e| EngineChoice {
                    name: e.name.clone(),
                    detail: match e.documents {
                        Some(n) => format!("{}, {} documents", e.kind, view::thousands(n)),
                        None => format!("{}, {}", e.kind, e.categories.join(", ")),
                    },
                    on: !prefs.off.contains(&e.name),
                })
                .collect(),
            languages,
            lang: prefs
                .lang
                .map(|l| l.as_str().to_owned())
                .unwrap_or_default(),
            safe_choices: SAFE_CHOICES,
            safe: prefs
                .safe
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            time_range: prefs
                .time_range
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            per_page_choices: PER_PAGE_CHOICES,
            per_page: prefs
                .per_page
                .unwrap_or(trawl_api::params::DEFAULT_PER_PAGE),
            themes: Theme::CHOICES,
            theme: prefs.theme.as_str(),
            new_tab: prefs.new_tab,
            export_url: if query.is_empty() {
                format!("{origin}/preferences?theme=auto")
            } else {
                format!("{origin}/preferences?{query}")
            },
            bangs: bangs::table(engines),
        }
    }
}

/// `GET /preferences`: the form. With preferences in the query string (an
/// exported address) the form shows those, to be saved here.
#[utoipa::path(get, path = "/preferences", tag = "pages", operation_id = "preferences",
    params(("saved" = Option<String>, Query, description = "Set after saving: says so."),
        ("theme" = Option<String>, Query, description = "With the other preferences \
        (`off`, `lang`, `safe`, `time_range`, `per_page`, `new_tab`): an exported address, \
        whose values fill the form (nothing is saved until Save is pressed).")),
    responses((status = 200, description = "The preferences form, the export address and the bangs.",
        content_type = "text/html", body = String)))]
async fn preferences(
    State(state): State<WebState>,
    Origin(origin): Origin,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let saved = Prefs::from_headers(&headers);
    let query = query.unwrap_or_default();
    let engines = state.engines.get(state.results.as_ref()).await;
    let mut notices = Vec::new();
    let shown = if query == "saved=1" {
        notices.push("Preferences saved.".to_owned());
        saved.clone()
    } else if query.is_empty() {
        saved.clone()
    } else {
        notices.push(
            "These preferences come from a link: press Save to keep them in this browser."
                .to_owned(),
        );
        Prefs::lenient(&query)
    };
    let mut page =
        Page::new("preferences", String::new(), &SearchParams::default()).with_prefs(&saved);
    page.notices = notices;
    page.prefs = Some(PrefsView::new(&shown, &engines, &origin));
    render(StatusCode::OK, &page)
}

/// Longest preferences form accepted.
const MAX_PREFERENCES_BYTES: usize = 16 * 1024;

/// `POST /preferences`: saves the form in a cookie and goes back to it.
#[utoipa::path(post, path = "/preferences", tag = "pages", operation_id = "save_preferences",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "The form: `engine` once per engine kept on, `lang`, `safe`, `time_range`, \
            `per_page`, `theme` (`auto`, `light`, `dark`), `new_tab`. At most 16 KiB."),
    responses(
        (status = 303, description = "Saved (`Set-Cookie: trawl_prefs=…`): to `/preferences?saved=1`."),
        (status = 400, description = "The form with what is wrong.", content_type = "text/html", body = String),
        (status = 403, description = "The form was sent from another site.", content_type = "text/html", body = String),
        (status = 413, description = "The form is larger than 16 KiB.", content_type = "application/problem+json",
            body = trawl_api::Problem),
    ))]
async fn save_preferences(
    State(state): State<WebState>,
    Origin(origin): Origin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let prefs = Prefs::from_headers(&headers);
    // Another site's form may not change this browser's preferences.
    // Browsers say where a post comes from in `Sec-Fetch-Site`; without
    // it, an `Origin` other than this one (not `null`, which a
    // `no-referrer` page's own posts carry) is another site.
    let cross_site = match headers.get("sec-fetch-site") {
        Some(site) => !matches!(site.as_bytes(), b"same-origin" | b"none"),
        None => headers
            .get(header::ORIGIN)
            .is_some_and(|sent| sent != "null" && sent.as_bytes() != origin.as_bytes()),
    };
    if cross_site {
        let problem = trawl_api::Code::Forbidden
            .problem("the preferences form was sent from another site".to_owned());
        return problem_page_with(&SearchParams::default(), problem, &prefs);
    }
    if body.len() > MAX_PREFERENCES_BYTES {
        return ApiError::PayloadTooLarge {
            limit: MAX_PREFERENCES_BYTES,
        }
        .into_response();
    }
    let engines = state.engines.get(state.results.as_ref()).await;
    let known: Vec<String> = engines
        .iter()
        .filter(|e| e.enabled)
        .map(|e| e.name.clone())
        .collect();
    let form = String::from_utf8_lossy(&body);
    match Prefs::from_form(&form, &known) {
        Ok(new) => {
            let cookie = new.set_cookie(origin.starts_with("https://"));
            let mut response = Redirect::to("/preferences?saved=1").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(invalid) => {
            let problem = ApiError::from(invalid).problem();
            let mut page = Page::new("preferences", String::new(), &SearchParams::default())
                .with_prefs(&prefs);
            page.error = Some(ErrorView::from(problem));
            page.prefs = Some(PrefsView::new(&Prefs::lenient(&form), &engines, &origin));
            render(StatusCode::BAD_REQUEST, &page)
        }
    }
}

/// `GET /opensearch.xml`: lets a browser add trawl as a search engine.
#[utoipa::path(get, path = "/opensearch.xml", tag = "pages", operation_id = "opensearch",
    responses((status = 200, description = "An OpenSearch 1.1 description: the search page and \
        the suggestions, as absolute URLs on this server's origin.",
        content_type = "application/opensearchdescription+xml", body = String)))]
async fn opensearch(Origin(origin): Origin) -> Response {
    let origin = formats::xml_escape(&origin);
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<OpenSearchDescription xmlns="http://a9.com/-/spec/opensearch/1.1/" xmlns:moz="http://www.mozilla.org/2006/browser/search/">
  <ShortName>trawl</ShortName>
  <Description>Search with trawl: the local index and the web, in one list.</Description>
  <InputEncoding>UTF-8</InputEncoding>
  <OutputEncoding>UTF-8</OutputEncoding>
  <Image width="16" height="16" type="image/svg+xml">{origin}/static/favicon.svg</Image>
  <Url type="text/html" method="get" template="{origin}/search?q={{searchTerms}}"/>
  <Url type="application/x-suggestions+json" method="get" template="{origin}/autocomplete?q={{searchTerms}}"/>
  <Url type="application/opensearchdescription+xml" rel="self" template="{origin}/opensearch.xml"/>
  <moz:SearchForm>{origin}/</moz:SearchForm>
</OpenSearchDescription>
"#
    );
    (
        [
            (
                header::CONTENT_TYPE,
                "application/opensearchdescription+xml; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

/// `GET /autocomplete?q=…`: suggestions in the OpenSearch suggestions
/// format, `["what was typed", ["completion", …]]`, from the local index's
/// title words (the last word completed). Spends the API budget.
#[utoipa::path(get, path = "/autocomplete", tag = "pages", operation_id = "autocomplete",
    params(("q" = Option<String>, Query, description = "What was typed so far. Blank or missing: \
        no suggestions. At most 512 characters.")),
    responses(
        (status = 200, description = "`[query, [suggestion, …]]`, at most 10 suggestions.",
            content_type = "application/x-suggestions+json", body = Vec<serde_json::Value>),
        InvalidRequestResponse,
        RateLimitedResponse,
        InternalErrorResponse,
        UpstreamErrorResponses,
    ))]
async fn autocomplete(
    State(state): State<WebState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let text = trawl_api::params::suggest_text(query.as_deref())?;
    let suggestions = if text.is_empty() {
        Suggestions::default()
    } else {
        state.results.suggest(&text).await?
    };
    let body = serde_json::json!([text, suggestions.suggestions]).to_string();
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-suggestions+json"),
            (header::CACHE_CONTROL, "private, max-age=60"),
        ],
        body,
    )
        .into_response())
}

/// The formats of the public API's v1: the data formats and the page.
const API_V1_FORMATS: &[Format] = &[Format::Json, Format::Csv, Format::Rss, Format::Html];

/// `GET /api/v1/search`: the results as the results service's
/// `GET /v1/results` makes them, in JSON, CSV or RSS, or as the HTML page
/// (`format`, else `Accept`). Deprecated: use `GET /api/v2/search`.
#[utoipa::path(get, path = "/api/v1/search", tag = "api", operation_id = "api_search_v1",
    params(ApiQueryV1),
    responses(
        (status = 200, description = "The results, as the results service made them.", content(
            (ResultsResponse = "application/json"),
            (String = "text/csv"),
            (String = "application/rss+xml"),
            (String = "text/html"),
        )),
        OrPage<InvalidRequestResponse>,
        OrPage<RateLimitedResponse>,
        NotAcceptableResponse,
        OrPage<InternalErrorResponse>,
        OrPage<UpstreamErrorResponses>,
    ))]
async fn api_search(
    State(state): State<WebState>,
    OriginalUri(uri): OriginalUri,
    Origin(origin): Origin,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = SearchParams::from_query_string(query.as_deref())?;
    let format = params.format(accept(&headers), API_V1_FORMATS)?;
    if format == Format::Html {
        let params = SearchParams {
            format: None,
            ..params
        };
        return Ok(results_page(&state, params, &Prefs::default(), false).await);
    }
    let request = SearchRequest::from_params(&params)?;
    let response = results_in_time(&state, &request, sets_timeout_ms(query.as_deref())).await?;
    Ok(formats::respond(format, &response, || {
        FeedLinks::new(&origin, &uri.to_string(), &request)
    }))
}

/// `GET /api/v2/search`: the same results, paged by cursor, in JSON, CSV
/// or RSS (`format`, else `Accept`). In CSV and RSS the next page is in a
/// `Link: <…>; rel="next"` header.
#[utoipa::path(get, path = "/api/v2/search", tag = "api", operation_id = "api_search_v2",
    params(ApiQueryV2),
    responses(
        (status = 200, description = "The results, and the cursor of the next page when there is one.",
            content(
                (ResultsResponseV2 = "application/json"),
                (String = "text/csv"),
                (String = "application/rss+xml"),
            )),
        InvalidRequestResponse,
        RateLimitedResponse,
        NotAcceptableResponse,
        InternalErrorResponse,
        UpstreamErrorResponses,
    ))]
async fn api_search_v2(
    State(state): State<WebState>,
    OriginalUri(uri): OriginalUri,
    Origin(origin): Origin,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (request, format) = search_request_v2(
        query.as_deref(),
        accept(&headers),
        Format::DATA,
        &state.cursors,
    )?;
    let response = results_in_time(&state, &request, sets_timeout_ms(query.as_deref())).await?;
    if format == Format::Json {
        return Ok(Json(ResultsResponseV2::from_v1(
            response,
            &request,
            &state.cursors,
        ))
        .into_response());
    }
    let mut answer = formats::respond(format, &response, || {
        FeedLinks::new(&origin, &uri.to_string(), &request)
    });
    let next = ResultsResponseV2::from_v1(response, &request, &state.cursors).next_cursor;
    if let Some(cursor) = next {
        let link = format!(
            "</api/v2/search?cursor={cursor}&format={}>; rel=\"next\"",
            format.as_str()
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            answer.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(answer)
}

/// The pages' style sheet.
#[utoipa::path(get, path = "/static/trawl.css", tag = "pages", operation_id = "css",
    responses((status = 200, description = "CSS.", content_type = "text/css", body = String)))]
async fn css() -> impl IntoResponse {
    static_asset(
        "text/css; charset=utf-8",
        include_str!("../static/trawl.css"),
    )
}

/// The pages' script: suggestions while typing and `/` to search. The
/// pages work without it.
#[utoipa::path(get, path = "/static/trawl.js", tag = "pages", operation_id = "script",
    responses((status = 200, description = "JavaScript.", content_type = "text/javascript", body = String)))]
async fn script() -> impl IntoResponse {
    static_asset(
        "text/javascript; charset=utf-8",
        include_str!("../static/trawl.js"),
    )
}

/// The site icon.
#[utoipa::path(get, path = "/static/favicon.svg", tag = "pages", operation_id = "favicon",
    responses((status = 200, description = "SVG.", content_type = "image/svg+xml", body = String)))]
async fn favicon() -> impl IntoResponse {
    static_asset("image/svg+xml", include_str!("../static/favicon.svg"))
}

fn static_asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
}

/// Result pages are not for crawlers.
#[utoipa::path(get, path = "/robots.txt", tag = "pages", operation_id = "robots",
    responses((status = 200, description = "Crawling rules.", content_type = "text/plain", body = String)))]
async fn robots() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "User-agent: *\nDisallow: /search\nDisallow: /api/\nAllow: /$\n",
    )
}

#[cfg(test)]
mod tests {
    use super::looks_like_search;

    #[test]
    fn scanner_probes_are_not_searches() {
        for probe in [
            ".env",
            ".git",
            "wp-login.php",
            "wp-admin",
            "metrics",
            "opensearch.xml",
            "sitemap.xml",
            "index.html",
            "config.json",
            "backup.sql",
            "admin",
            ".well-known",
            "apple-touch-icon.png",
            "xmlrpc.php",
            "shell.PHP",
        ] {
            assert!(!looks_like_search(probe), "{probe}");
        }
        for search in [
            "postgres vacuum",
            "node.js",
            "rust 1.89",
            "main.py",
            "what is a .env file",
            "3.14",
        ] {
            assert!(looks_like_search(search), "{search}");
        }
    }
}
