//! The web service: what people and programs see.
//!
//! HTML pages rendered on the server (they work without JavaScript) and the
//! public JSON API, both over a [`ResultsService`]. Templates auto-escape
//! every value; no upstream string is ever marked safe. Highlights are
//! rendered from character ranges into escaped text, not from HTML.

mod view;

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRef, OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use trawl_api::openapi::{ApiQueryV1, ApiQueryV2, SearchPageQuery, TextPageQuery};
use trawl_api::params::{SearchParams, search_request_v2};
use trawl_api::{
    CursorKey, Format, InvalidRequest, Keyword, Problem, Readiness, ResultsResponse,
    ResultsResponseV2, ResultsService, SearchRequest,
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

use crate::view::{ErrorView, Page, ResultsView, Tab};

#[derive(Clone)]
struct WebState {
    results: Arc<dyn ResultsService>,
    cursors: CursorKey,
}

impl FromRef<WebState> for Arc<dyn ResultsService> {
    fn from_ref(state: &WebState) -> Self {
        state.results.clone()
    }
}

/// The web service's routes, as OpenAPI.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(api_search_v2, api_search, home, search_page, text_page, css, favicon, robots),
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
        .route("/search", get(search_page))
        .route("/api/v1/search", get(api_search).layer(deprecated))
        .route("/api/v2/search", get(api_search_v2))
        .route("/static/trawl.css", get(css))
        .route("/static/favicon.svg", get(favicon))
        .route("/favicon.ico", get(|| async { ApiError::NotFound }))
        .route("/robots.txt", get(robots))
        .route("/{text}", get(text_page))
        .with_state(WebState { results, cursors })
}

/// The web service is ready when the results service is: its checks, as
/// it reports them (over HTTP: the results service's own and the breaker's
/// on the way to it).
pub async fn readiness(results: &dyn ResultsService) -> Readiness {
    results.readiness().await
}

/// The home page: the search form.
#[utoipa::path(get, path = "/", tag = "pages", operation_id = "home",
    responses((status = 200, description = "The search form.", content_type = "text/html", body = String)))]
async fn home() -> Response {
    let form = SearchParams::default();
    render(StatusCode::OK, &Page::new(String::new(), &form, None, None))
}

/// `GET /search?q=…&page=…`: the results page with the form pre-filled.
#[utoipa::path(get, path = "/search", tag = "pages", operation_id = "search_page",
    params(SearchPageQuery),
    responses(
        (status = 200, description = "The results, under the form.", content_type = "text/html", body = String),
        (status = 400, description = "The form, pre-filled, and what is wrong with the request.",
            content_type = "text/html", body = String),
        (status = 429, description = "The form and a message: this client sent more requests than \
            its budget allows; `Retry-After` says when to try again.", content_type = "text/html", body = String),
        (status = "5XX", description = "The form and a readable message: a service behind this one \
            failed (502, 503, 504) or this one did (500).", content_type = "text/html", body = String),
    ))]
async fn search_page(State(state): State<WebState>, RawSearch(params): RawSearch) -> Response {
    match params {
        Ok(params) => results_page(&state, params).await,
        Err(invalid) => error_page(&SearchParams::default(), &ApiError::from(invalid)),
    }
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
    text: Result<Path<String>, PathRejection>,
    RawSearch(params): RawSearch,
) -> Response {
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
        return error_page(&SearchParams::default(), &ApiError::from(invalid));
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
            return error_page(&form, &ApiError::from(invalid));
        }
    };
    results_page(&state, params).await
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

async fn results_page(state: &WebState, params: SearchParams) -> Response {
    let results = state.results.as_ref();
    // Pages are HTML whatever the Accept header says.
    if let Err(invalid) = params.format(None, &[Format::Html]) {
        return error_page(&params, &ApiError::from(invalid));
    }
    let request = match SearchRequest::from_params(&params) {
        Ok(request) => request,
        Err(invalid) => return error_page(&params, &ApiError::from(invalid)),
    };
    let cleaned = SearchParams {
        q: Some(request.query.to_string()),
        ..params
    };
    match results.results(&request).await {
        Ok(response) => {
            let tabs = Tab::for_request(&request, &response.categories);
            let mut page = Page::new(
                request.query.to_string(),
                &cleaned,
                Some(ResultsView::new(&request, response)),
                None,
            );
            page.tabs = tabs;
            render(StatusCode::OK, &page)
        }
        Err(error) => error_page(&cleaned, &ApiError::from(error)),
    }
}

/// The page with the form pre-filled from `form` and the error above it.
fn error_page(form: &SearchParams, error: &ApiError) -> Response {
    let problem = error.problem();
    if problem.status >= 500 {
        tracing::error!(%error, "page failed");
    }
    let mut page = problem_page_with(form, problem);
    error.add_retry_after(&mut page);
    page
}

fn problem_page_with(form: &SearchParams, problem: Problem) -> Response {
    let prefill = form.q.clone().unwrap_or_default();
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    render(
        status,
        &Page::new(prefill, form, None, Some(ErrorView::from(problem))),
    )
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
        "livez",
        "readyz",
        "openapi.json",
        "favicon.ico",
        "robots.txt",
    ];
    let is_page = *method == Method::GET
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
    Some(problem_page_with(&form, problem.clone()))
}

fn render(status: StatusCode, page: &Page) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
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
        return Ok(results_page(&state, params).await);
    }
    let request = SearchRequest::from_params(&params)?;
    let response = state.results.results(&request).await?;
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
    let response = state.results.results(&request).await?;
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
