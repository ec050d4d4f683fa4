//! SearXNG's search API, answered by trawl: `GET` or `POST /search` with
//! `format=json|csv|rss`, so that programs written for a SearXNG instance
//! (LangChain's `SearxSearchWrapper`, Open WebUI, Perplexica, scripts)
//! work against trawl by changing one URL.
//!
//! The shapes follow SearXNG's own code (`searx/webapp.py`'s `search()`,
//! `searx/webutils.py`, `searx/result_types/`, the `simple` theme's
//! `opensearch_response_rss.xml`) at 2026.8.22+9fea41204; a captured answer
//! of that version is the tests' golden fixture. docs/searxng-compat.md
//! maps every field and parameter, and says where trawl differs.

use std::time::Duration;

use serde::Serialize;
use trawl_api::params::{MAX_PAGE, MAX_PER_PAGE, parse_query_string};
use trawl_api::{
    EngineInfo, EngineReport, EngineStatus, InvalidRequest, Keyword, Lang, Problem, Query,
    ResultsResponse, Safe, SearchRequest, TimeRange,
};
use trawl_results::formats::xml_escape;
use utoipa::ToSchema;

use crate::bangs;

/// Results a page holds when the client does not say (`per_page`, a
/// trawl extension): SearXNG's pages hold what its engines' first pages
/// hold, typically 20 or more.
pub const DEFAULT_PER_PAGE: u32 = 20;

/// Longest form body `POST /search` takes (a query is at most 512
/// characters; the rest are short options).
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// The formats SearXNG's API answers in besides its HTML page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `text/csv`: title, url, content, host, engine, score, type.
    Csv,
    /// `text/xml`: RSS 2.0 with OpenSearch elements.
    Rss,
}

impl Format {
    /// The format `format=` asks for; `None` for the HTML page (`html`,
    /// absent, or a value SearXNG does not know, which it answers with the
    /// page too).
    pub fn of(value: Option<&str>) -> Option<Self> {
        match value? {
            "json" => Some(Self::Json),
            "csv" => Some(Self::Csv),
            "rss" => Some(Self::Rss),
            _ => None,
        }
    }

    /// The format a request asks for, read leniently (a form that will be
    /// refused is refused in the format it asked for): the body's
    /// `format`, else the query string's.
    pub fn asked(query: Option<&str>, body: Option<&str>) -> Option<Self> {
        let of = |raw: Option<&str>| -> Option<Option<Self>> {
            raw.unwrap_or("")
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| *name == "format")
                .map(|(_, value)| {
                    let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
                    Self::of(Some(&value))
                })
        };
        of(body).or_else(|| of(query)).flatten()
    }
}

/// SearXNG's form, as sent (in the query string, or a form body whose
/// values win over the query string's, as in SearXNG), before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    /// `q`: the query, bangs and all.
    pub q: Option<String>,
    /// `format`: `json`, `csv`, `rss`, else the HTML page.
    pub format: Option<String>,
    /// `pageno`: 1-based.
    pub pageno: Option<String>,
    /// `categories`: comma-separated.
    pub categories: Option<String>,
    /// `category_<name>=on|off`, in the order given.
    pub category_switches: Vec<(String, bool)>,
    /// `engines`: comma-separated.
    pub engines: Option<String>,
    /// `language`: `auto`, `all` or a code such as `en` or `en-US`.
    pub language: Option<String>,
    /// `safesearch`: `0`, `1` or `2`.
    pub safesearch: Option<String>,
    /// `time_range`: `day`, `week`, `month`, `year`.
    pub time_range: Option<String>,
    /// `timeout_limit`: seconds, a decimal.
    pub timeout_limit: Option<String>,
    /// `per_page` (trawl's, not SearXNG's): results a page.
    pub per_page: Option<String>,
    /// trawl's `page`, `safe` and `lang`, which `/search` takes in every
    /// format: checked as trawl checks them, used when SearXNG's
    /// `pageno`, `safesearch` or `language` is not given.
    pub trawl: TrawlNames,
}

/// trawl's names for what SearXNG calls `pageno`, `safesearch` and
/// `language`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrawlNames {
    /// `page`.
    pub page: Option<String>,
    /// `safe`: `off`, `moderate`, `strict`.
    pub safe: Option<String>,
    /// `lang`: ISO 639-1 or `all`.
    pub lang: Option<String>,
}

impl Form {
    /// Decodes the query string and, for a `POST`, the form body (whose
    /// parameters win). A parameter given twice in one of them is refused,
    /// as everywhere in trawl (SearXNG would take the first).
    pub fn parse(query: Option<&str>, body: Option<&str>) -> Result<Self, InvalidRequest> {
        let mut form = Self::default();
        if let Some(body) = body {
            form.read(body)?;
        }
        let mut from_query = Self::default();
        from_query.read(query.unwrap_or(""))?;
        form.fill_from(from_query);
        Ok(form)
    }

    fn read(&mut self, raw: &str) -> Result<(), InvalidRequest> {
        for (name, value) in parse_query_string(raw)? {
            let (slot, param) = match name.as_str() {
                "q" => (&mut self.q, "q"),
                "format" => (&mut self.format, "format"),
                "pageno" => (&mut self.pageno, "pageno"),
                "categories" => (&mut self.categories, "categories"),
                "engines" => (&mut self.engines, "engines"),
                "language" => (&mut self.language, "language"),
                "safesearch" => (&mut self.safesearch, "safesearch"),
                "time_range" => (&mut self.time_range, "time_range"),
                "timeout_limit" => (&mut self.timeout_limit, "timeout_limit"),
                "per_page" => (&mut self.per_page, "per_page"),
                "page" => (&mut self.trawl.page, "page"),
                "safe" => (&mut self.trawl.safe, "safe"),
                "lang" => (&mut self.trawl.lang, "lang"),
                _ => {
                    if let Some(category) = name.strip_prefix("category_") {
                        self.category_switches
                            .push((category.to_owned(), value != "off"));
                    }
                    continue;
                }
            };
            if slot.replace(value).is_some() {
                return Err(InvalidRequest::DuplicateParameter { param });
            }
        }
        Ok(())
    }

    /// Takes what `other` has and `self` has not.
    fn fill_from(&mut self, other: Self) {
        let pairs = [
            (&mut self.q, other.q),
            (&mut self.format, other.format),
            (&mut self.pageno, other.pageno),
            (&mut self.categories, other.categories),
            (&mut self.engines, other.engines),
            (&mut self.language, other.language),
            (&mut self.safesearch, other.safesearch),
            (&mut self.time_range, other.time_range),
            (&mut self.timeout_limit, other.timeout_limit),
            (&mut self.per_page, other.per_page),
            (&mut self.trawl.page, other.trawl.page),
            (&mut self.trawl.safe, other.trawl.safe),
            (&mut self.trawl.lang, other.trawl.lang),
        ];
        for (mine, theirs) in pairs {
            if mine.is_none() {
                *mine = theirs;
            }
        }
        if self.category_switches.is_empty() {
            self.category_switches = other.category_switches;
        }
    }
}

/// A request SearXNG's way refused: SearXNG's own message (`error`) and
/// trawl's reason, which says more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// What SearXNG says in this case: `No query`, `Invalid value 0 for
    /// parameter pageno`, `Empty pageno parameter`.
    pub error: String,
    /// trawl's reason, with its problem code.
    pub invalid: InvalidRequest,
}

impl Refused {
    fn searx(param: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self {
            error: if value.is_empty() {
                format!("Empty {param} parameter")
            } else {
                format!("Invalid value {value} for parameter {param}")
            },
            invalid: InvalidRequest::InvalidParameter {
                param,
                reason: reason.into(),
            },
        }
    }
}

impl From<InvalidRequest> for Refused {
    fn from(invalid: InvalidRequest) -> Self {
        Self {
            error: invalid.to_string(),
            invalid,
        }
    }
}

/// What a SearXNG request asks of trawl.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    /// The search, in trawl's terms.
    pub request: SearchRequest,
    /// A page past trawl's last (`pageno` above 50): answered with no
    /// results and no engine asked, as SearXNG answers a page its engines
    /// have nothing on.
    pub past_last_page: bool,
    /// `timeout_limit`, when given: the search's deadline, if sooner than
    /// the service's own.
    pub timeout: Option<Duration>,
}

/// Least `timeout_limit` honoured (a shorter one is raised to it): time
/// for the services to pass the request along and answer.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(100);
/// Largest `timeout_limit` accepted (the service's own request timeout
/// bounds every request anyway).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// The search a SearXNG form asks for, with `engines` the configured ones
/// (names and categories are looked up in them) and `accept_language` the
/// request's header (for `language=auto`).
pub fn asked(
    form: &Form,
    engines: &[EngineInfo],
    accept_language: Option<&str>,
) -> Result<Asked, Refused> {
    let Some(typed) = form.q.as_deref().filter(|q| !q.is_empty()) else {
        return Err(Refused {
            error: "No query".to_owned(),
            invalid: InvalidRequest::MissingParameter { param: "q" },
        });
    };
    let options = Options::of(form, accept_language)?;
    let (page, past_last_page) = match options.pageno {
        Some(pageno) => pageno,
        None => (options.page.unwrap_or(1), false),
    };
    let per_page = match form.per_page.as_deref().filter(|p| !p.is_empty()) {
        None => DEFAULT_PER_PAGE,
        Some(raw) => match raw.parse::<u32>() {
            Ok(n) if raw.bytes().all(|b| b.is_ascii_digit()) && (1..=MAX_PER_PAGE).contains(&n) => {
                n
            }
            _ => {
                return Err(Refused::searx(
                    "per_page",
                    raw,
                    format!("must be an integer from 1 to {MAX_PER_PAGE}"),
                ));
            }
        },
    };
    let safe = options.safe.unwrap_or_default();
    let time_range = options.time_range;
    let lang = options.lang;
    let timeout = options.timeout;

    // Bangs, as on trawl's page (SearXNG's `!engine` and `!category`).
    let banged = bangs::take(typed, engines);
    let query = Query::parse(&banged.query)?;

    // Names that are not configured are left out, as SearXNG does; what
    // is left decides, else the categories, else the default engines.
    let mut named: Vec<String> = Vec::new();
    for name in comma_list(form.engines.as_deref()) {
        if engines.iter().any(|e| e.name == name) && !named.iter().any(|n| n == name) {
            named.push(name.to_owned());
        }
    }
    let known_category = |name: &str| {
        engines
            .iter()
            .any(|e| e.categories.iter().any(|c| c == name))
    };
    let mut categories: Vec<String> = Vec::new();
    for name in comma_list(form.categories.as_deref()) {
        if known_category(name) && !categories.iter().any(|c| c == name) {
            categories.push(name.to_owned());
        }
    }
    for (name, on) in &form.category_switches {
        if !known_category(name) {
            continue;
        }
        if *on {
            if !categories.contains(name) {
                categories.push(name.clone());
            }
        } else {
            categories.retain(|c| c != name);
        }
    }
    if !banged.engines.is_empty() {
        // Bangs say which engines, as in SearXNG, whatever else the form says.
        named = banged.engines;
        categories.clear();
    }
    Ok(Asked {
        request: SearchRequest {
            query,
            page,
            per_page,
            safe,
            time_range,
            lang,
            engines: named,
            categories,
        },
        past_last_page,
        timeout,
    })
}

/// The options `/search` takes under both names, checked: SearXNG's
/// (`pageno`, `safesearch`, `language`, `time_range`, `timeout_limit`)
/// and trawl's (`page`, `safe`, `lang`), SearXNG's winning when both are
/// given. The HTML page takes them too, so that a SearXNG link or form
/// works there (see [`Options::onto_page`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// `pageno`: the page, and whether it is past trawl's last.
    pub pageno: Option<(u32, bool)>,
    /// `page`.
    pub page: Option<u32>,
    /// `safesearch`, else `safe`.
    pub safe: Option<Safe>,
    /// `language`, else `lang`; `None` for any language.
    pub lang: Option<Lang>,
    /// Whether a language was given under either name.
    pub lang_given: bool,
    /// `time_range` (`None` and empty mean any time).
    pub time_range: Option<TimeRange>,
    /// `timeout_limit`.
    pub timeout: Option<Duration>,
}

impl Options {
    /// Checks every option of `form`.
    pub fn of(form: &Form, accept_language: Option<&str>) -> Result<Self, Refused> {
        let pageno = form.pageno.as_deref().map(pageno).transpose()?;
        let page = match form.trawl.page.as_deref() {
            None => None,
            Some(raw) => Some(trawl_page(raw)?),
        };
        let trawl_safe = Safe::parse_param(form.trawl.safe.as_deref())?;
        let safe = match form.safesearch.as_deref() {
            Some(raw) => Some(safesearch(raw)?),
            None => trawl_safe,
        };
        // In the order trawl's own parameters are checked in.
        let time_range = time_range(form.time_range.as_deref())?;
        let trawl_lang = Lang::parse_param(form.trawl.lang.as_deref())?;
        let lang = match form.language.as_deref() {
            Some(raw) => language(raw, accept_language)?,
            None => trawl_lang,
        };
        Ok(Self {
            pageno,
            page,
            safe,
            lang,
            lang_given: form.language.is_some() || form.trawl.lang.is_some(),
            time_range,
            timeout: timeout_limit(form.timeout_limit.as_deref())?,
        })
    }

    /// SearXNG's names written onto the page's trawl parameters (`page`,
    /// `safe`, `lang`, `time_range`), where trawl's own are not given. A
    /// `pageno` past trawl's last page is refused there, as `page` is.
    pub fn onto_page(&self, params: &mut trawl_api::params::SearchParams) -> Result<(), Refused> {
        if let Some((page, past)) = self.pageno {
            if past {
                return Err(Refused::from(InvalidRequest::InvalidParameter {
                    param: "pageno",
                    reason: format!("must be at most {MAX_PAGE} on the page"),
                }));
            }
            params.page.get_or_insert_with(|| page.to_string());
        }
        if let Some(safe) = self.safe {
            params.safe.get_or_insert_with(|| safe.as_str().to_owned());
        }
        if self.lang_given {
            params.lang.get_or_insert_with(|| {
                self.lang
                    .map_or_else(|| "all".to_owned(), |l| l.as_str().to_owned())
            });
        }
        if params.time_range.as_deref() == Some("None") {
            params.time_range = Some(String::new());
        }
        Ok(())
    }
}

/// trawl's `page`: 1 to 50, empty for 1.
fn trawl_page(raw: &str) -> Result<u32, Refused> {
    if raw.is_empty() {
        return Ok(1);
    }
    match raw.parse::<u32>() {
        Ok(n) if raw.bytes().all(|b| b.is_ascii_digit()) && (1..=MAX_PAGE).contains(&n) => Ok(n),
        _ => Err(Refused::from(InvalidRequest::InvalidParameter {
            param: "page",
            reason: format!("must be an integer from 1 to {MAX_PAGE}"),
        })),
    }
}

fn comma_list(raw: Option<&str>) -> impl Iterator<Item = &str> {
    raw.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `pageno`: digits, at least 1. Pages past trawl's last are answered
/// empty, not refused.
fn pageno(raw: &str) -> Result<(u32, bool), Refused> {
    let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
    let reason = "must be a whole number from 1";
    if !digits {
        return Err(Refused::searx("pageno", raw, reason));
    }
    match raw.parse::<u64>() {
        Ok(0) => Err(Refused::searx("pageno", raw, reason)),
        Ok(n) if n <= u64::from(MAX_PAGE) => Ok((n as u32, false)),
        // Past the last page, or more digits than a u64 holds.
        _ => Ok((MAX_PAGE, true)),
    }
}

/// `safesearch`: `0` off, `1` moderate, `2` strict.
fn safesearch(raw: &str) -> Result<Safe, Refused> {
    match raw {
        "0" => Ok(Safe::Off),
        "1" => Ok(Safe::Moderate),
        "2" => Ok(Safe::Strict),
        other => Err(Refused::searx("safesearch", other, "must be 0, 1 or 2")),
    }
}

/// `time_range`: empty or `None` for any time.
fn time_range(raw: Option<&str>) -> Result<Option<TimeRange>, Refused> {
    match raw {
        None | Some("" | "None") => Ok(None),
        Some(value) => TimeRange::parse_param(Some(value)).map_err(|invalid| Refused {
            error: format!("Invalid value {value} for parameter time_range"),
            invalid,
        }),
    }
}

/// `language`: SearXNG's codes are `[a-z]{2,3}` with an optional region
/// (`en-US`), `all` or `auto` (the browser's `Accept-Language`). trawl's
/// engines take ISO 639-1 languages: a region is dropped, and a language
/// trawl does not know searches all languages.
fn language(raw: &str, accept_language: Option<&str>) -> Result<Option<Lang>, Refused> {
    if raw == "auto" {
        // The first of the browser's languages trawl knows.
        let preferred = accept_language.unwrap_or("").split(',').find_map(|part| {
            let tag = part.split(';').next().unwrap_or("").trim();
            let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
            Lang::parse_param(Some(&primary)).ok().flatten()
        });
        return Ok(preferred);
    }
    let (primary, region) = match raw.split_once('-') {
        Some((primary, region)) => (primary, Some(region)),
        None => (raw, None),
    };
    let valid = (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_alphabetic()));
    if !valid {
        return Err(Refused::searx(
            "language",
            raw,
            "must be auto, all, or a language code such as en or en-US",
        ));
    }
    Ok(Lang::parse_param(Some(primary)).ok().flatten())
}

/// `timeout_limit`: seconds; empty or `None` for none.
fn timeout_limit(raw: Option<&str>) -> Result<Option<Duration>, Refused> {
    match raw {
        None | Some("" | "None") => Ok(None),
        Some(value) => match value.trim().parse::<f64>() {
            Ok(seconds) if seconds > 0.0 && seconds <= MAX_TIMEOUT.as_secs_f64() => {
                Ok(Some(Duration::from_secs_f64(seconds).max(MIN_TIMEOUT)))
            }
            _ => Err(Refused::searx(
                "timeout_limit",
                value,
                "must be a number of seconds above 0, at most 3600",
            )),
        },
    }
}

// ---------------------------------------------------------------------
// Answers

/// `format=json`: SearXNG's answer (`webutils.get_json_response`), with
/// `number_of_results` as SearXNG before 2025 sent it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SearxResponse {
    /// The query as searched: without its bangs.
    pub query: String,
    /// The engines' own totals added up (an estimate); 0 when none says.
    pub number_of_results: u64,
    /// This page's results, best first.
    pub results: Vec<SearxResult>,
    /// Always empty: trawl has no instant answers.
    #[schema(value_type = Vec<Object>)]
    pub answers: Vec<serde_json::Value>,
    /// Always empty: trawl does not correct spelling.
    pub corrections: Vec<String>,
    /// Always empty: trawl has no infoboxes.
    #[schema(value_type = Vec<Object>)]
    pub infoboxes: Vec<serde_json::Value>,
    /// Always empty: trawl's suggestions complete what is typed
    /// (`/autocomplete`); they are not related searches.
    pub suggestions: Vec<String>,
    /// `[name, reason]` for each engine that failed, timed out or is
    /// suspended, by name.
    #[schema(value_type = Vec<Vec<String>>)]
    pub unresponsive_engines: Vec<(String, String)>,
}

/// One result, as SearXNG's `MainResult.as_dict()` has it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SearxResult {
    /// Where it is.
    pub url: String,
    /// Plain text.
    pub title: String,
    /// Plain text: the snippet.
    pub content: String,
    /// The first engine that returned it.
    pub engine: String,
    /// Always `default.html`.
    pub template: &'static str,
    /// Python's `urllib.parse.urlparse(url)`: scheme, netloc, path,
    /// params, query, fragment.
    #[schema(value_type = Vec<String>, min_items = 6, max_items = 6)]
    pub parsed_url: [String; 6],
    /// Always empty.
    pub img_src: &'static str,
    /// Always empty.
    pub thumbnail: &'static str,
    /// Always empty.
    pub priority: &'static str,
    /// Every engine that returned it.
    pub engines: Vec<String>,
    /// Where each engine placed it (1-based), in `engines`' order.
    pub positions: Vec<u32>,
    /// trawl's merged score (not SearXNG's formula; the order is the same
    /// idea: more engines and better positions score higher).
    pub score: f64,
    /// The category the first engine was asked in.
    pub category: String,
    /// ISO 8601 in UTC, or `null` when no engine dates it.
    #[serde(rename = "publishedDate")]
    #[schema(format = DateTime)]
    pub published_date: Option<String>,
}

/// The body of `POST /search`: form fields, as the query string's.
#[derive(Debug, Clone, ToSchema)]
pub struct FormBody(pub std::collections::HashMap<String, String>);

/// `{"error": …}` as SearXNG sends it, beside trawl's problem document's
/// members (`type`, `title`, `status`, `detail`, `code`, `param`,
/// `trace_id`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SearxError {
    /// SearXNG's message: `No query`, `Invalid value 0 for parameter
    /// pageno`, `search error` …
    pub error: String,
    /// trawl's account of the same error.
    #[serde(flatten)]
    pub problem: Problem,
}

/// The JSON answer for `response`, the answer to `request`; `engines`
/// gives each result's category.
pub fn json(
    request: &SearchRequest,
    response: &ResultsResponse,
    engines: &[EngineInfo],
) -> SearxResponse {
    let results = response
        .results
        .iter()
        .map(|hit| {
            let engine = hit.engines.first().cloned().unwrap_or_default();
            let mut positions = hit.positions.clone();
            if positions.len() != hit.engines.len() {
                // From a service older than positions: the merged rank.
                positions = vec![hit.rank; hit.engines.len()];
            }
            SearxResult {
                url: hit.url.clone(),
                title: hit.title.clone(),
                content: hit.snippet.clone(),
                category: category(&engine, request, engines),
                engine,
                template: "default.html",
                parsed_url: parsed_url(&hit.url),
                img_src: "",
                thumbnail: "",
                priority: "",
                engines: hit.engines.clone(),
                positions,
                score: python_float(hit.score),
                published_date: hit.published.clone(),
            }
        })
        .collect();
    SearxResponse {
        query: request.query.to_string(),
        number_of_results: response
            .engines
            .iter()
            .filter_map(|e| e.total)
            .fold(0u64, u64::saturating_add),
        results,
        answers: Vec::new(),
        corrections: Vec::new(),
        infoboxes: Vec::new(),
        suggestions: Vec::new(),
        unresponsive_engines: unresponsive(&response.engines),
    }
}

/// The category a result's engine was asked in: the first of its
/// categories the request named, else its first, else `general`.
fn category(engine: &str, request: &SearchRequest, engines: &[EngineInfo]) -> String {
    let Some(info) = engines.iter().find(|e| e.name == engine) else {
        return "general".to_owned();
    };
    info.categories
        .iter()
        .find(|c| request.categories.contains(c))
        .or_else(|| info.categories.first())
        .cloned()
        .unwrap_or_else(|| "general".to_owned())
}

/// The score as the JSON number SearXNG's Python would write: the f32's
/// shortest decimal, so `0.1` rather than `0.10000000149011612`.
fn python_float(score: f32) -> f64 {
    if !score.is_finite() {
        return 0.0;
    }
    format!("{score}").parse().unwrap_or(0.0)
}

/// SearXNG's words for why an engine did not answer
/// (`webutils.exception_classname_to_text`), for trawl's error kinds.
fn reason(report: &EngineReport) -> String {
    if report.status == EngineStatus::Suspended {
        let why = report.error.as_deref().unwrap_or("temporarily");
        return format!(
            "Suspended: {}",
            why.strip_prefix("suspended ").unwrap_or(why)
        );
    }
    if report.status == EngineStatus::Timeout {
        return "timeout".to_owned();
    }
    match report.error_kind.as_deref() {
        Some("timeout") => "timeout",
        Some("unreachable") => "HTTP connection error",
        Some("auth") => "access denied",
        Some("rate_limited") => "too many requests",
        Some("http") => "HTTP error",
        Some("parse") => "parsing error",
        Some("too_large") => "server API error",
        _ => "unexpected crash",
    }
    .to_owned()
}

fn unresponsive(reports: &[EngineReport]) -> Vec<(String, String)> {
    let mut failed: Vec<(String, String)> = reports
        .iter()
        .filter(|r| r.status != EngineStatus::Ok)
        .map(|r| (r.name.clone(), reason(r)))
        .collect();
    failed.sort();
    failed
}

/// `urllib.parse.urlparse(url)` for the URLs results carry: scheme
/// (lowercased), netloc, path, params (after a `;` in the last path
/// segment), query, fragment.
pub fn parsed_url(url: &str) -> [String; 6] {
    let (scheme, rest) = match url.split_once(':') {
        Some((scheme, rest))
            if scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            (scheme.to_ascii_lowercase(), rest)
        }
        _ => (String::new(), url),
    };
    let (netloc, rest) = match rest.strip_prefix("//") {
        Some(after) => {
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            (&after[..end], &after[end..])
        }
        None => ("", rest),
    };
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let last_segment = path.rfind('/').map_or(0, |i| i + 1);
    let (path, params) = match path[last_segment..].find(';') {
        Some(at) => (&path[..last_segment + at], &path[last_segment + at + 1..]),
        None => (path, ""),
    };
    [
        scheme,
        netloc.to_owned(),
        path.to_owned(),
        params.to_owned(),
        query.to_owned(),
        fragment.to_owned(),
    ]
}

/// The CSV columns, SearXNG's (`webutils.write_csv_response`).
pub const CSV_COLUMNS: [&str; 7] = ["title", "url", "content", "host", "engine", "score", "type"];

/// `format=csv`: a header row, then a `result` row per result (trawl has
/// no answers, suggestions or corrections to add). Python's `excel`
/// dialect: quoted where needed, CRLF line ends. A cell a spreadsheet
/// would run as a formula is defused as in trawl's own CSV.
pub fn csv(answer: &SearxResponse) -> String {
    let mut out = String::with_capacity(128 + answer.results.len() * 384);
    row(&mut out, &CSV_COLUMNS);
    for result in &answer.results {
        let score = format!("{:?}", result.score);
        row(
            &mut out,
            &[
                &result.title,
                &result.url,
                &result.content,
                &result.parsed_url[1],
                &result.engine,
                &score,
                "result",
            ],
        );
    }
    out
}

fn row(out: &mut String, cells: &[&str]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let cell = trawl_results::formats::defuse(cell);
        if cell.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&cell);
        }
    }
    out.push_str("\r\n");
}

/// `format=rss`: the `simple` theme's `opensearch_response_rss.xml` —
/// a channel for the search with OpenSearch's `startIndex` and `Query`,
/// and per result `title`, `type`, `link`, `description` and, when
/// dated, `pubDate` (RFC 822; SearXNG writes its Python date as is).
/// `origin` is this service's public origin; `error` puts SearXNG's
/// `Error` item first.
pub fn rss(q: &str, answer: Option<&SearxResponse>, origin: &str, error: Option<&str>) -> String {
    let origin = origin.trim_end_matches('/');
    let link = format!(
        "{origin}/search?q={}",
        percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC)
    );
    let q = xml_escape(q);
    let mut out = String::with_capacity(1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(
        "<rss version=\"2.0\"\n     xmlns:opensearch=\"http://a9.com/-/spec/opensearch/1.1/\"\n     xmlns:atom=\"http://www.w3.org/2005/Atom\">\n  <channel>\n",
    );
    out.push_str(&format!("    <title>trawl search: {q}</title>\n"));
    out.push_str(&format!("    <link>{}</link>\n", xml_escape(&link)));
    out.push_str(&format!(
        "    <description>Search results for \"{q}\" - trawl</description>\n"
    ));
    out.push_str("    <opensearch:startIndex>1</opensearch:startIndex>\n");
    out.push_str(&format!(
        "    <atom:link rel=\"search\" type=\"application/opensearchdescription+xml\" href=\"{}\"/>\n",
        xml_escape(&format!("{origin}/opensearch.xml"))
    ));
    out.push_str(&format!(
        "    <opensearch:Query role=\"request\" searchTerms=\"{q}\" startPage=\"1\" />\n"
    ));
    if let Some(error) = error {
        out.push_str(&format!(
            "    <item>\n      <title>Error</title>\n      <description>{}</description>\n    </item>\n",
            xml_escape(error)
        ));
    }
    for result in answer.map(|a| a.results.as_slice()).unwrap_or_default() {
        out.push_str("    <item>\n");
        out.push_str(&format!(
            "      <title>{}</title>\n      <type>result</type>\n      <link>{}</link>\n      <description>{}</description>\n",
            xml_escape(&result.title),
            xml_escape(&result.url),
            xml_escape(&result.content)
        ));
        if let Some(date) = result
            .published_date
            .as_deref()
            .and_then(trawl_api::dates::rfc822)
        {
            out.push_str(&format!("      <pubDate>{date}</pubDate>\n"));
        }
        out.push_str("    </item>\n");
    }
    out.push_str("  </channel>\n</rss>\n");
    out
}

/// A file name for the CSV's `Content-Disposition`, SearXNG's
/// `searx_-_{query}.csv` made safe: letters, digits, `-` and `_` only,
/// at most 60 of them.
pub fn csv_file_name(query: &str) -> String {
    let safe: String = query
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    format!("trawl_-_{safe}.csv")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(name: &str, categories: &[&str]) -> EngineInfo {
        crate::bangs::tests::engine(name, "local", categories)
    }

    fn ask(query: &str) -> Result<Asked, Refused> {
        let engines = [
            engine("local", &["general", "it"]),
            engine("wiki", &["general"]),
        ];
        asked(
            &Form::parse(Some(query), None).unwrap(),
            &engines,
            Some("de-CH, en;q=0.8"),
        )
    }

    #[test]
    fn searxng_messages_for_what_searxng_refuses() {
        let cases = [
            ("format=json", "No query"),
            ("q=&format=json", "No query"),
            ("q=x&pageno=0", "Invalid value 0 for parameter pageno"),
            ("q=x&pageno=abc", "Invalid value abc for parameter pageno"),
            ("q=x&pageno=", "Empty pageno parameter"),
            ("q=x&pageno=-1", "Invalid value -1 for parameter pageno"),
            (
                "q=x&safesearch=5",
                "Invalid value 5 for parameter safesearch",
            ),
            ("q=x&safesearch=", "Empty safesearch parameter"),
            (
                "q=x&time_range=decade",
                "Invalid value decade for parameter time_range",
            ),
            (
                "q=x&language=english",
                "Invalid value english for parameter language",
            ),
            ("q=x&language=EN", "Invalid value EN for parameter language"),
            (
                "q=x&timeout_limit=abc",
                "Invalid value abc for parameter timeout_limit",
            ),
            (
                "q=x&timeout_limit=-1",
                "Invalid value -1 for parameter timeout_limit",
            ),
            (
                "q=x&timeout_limit=3601",
                "Invalid value 3601 for parameter timeout_limit",
            ),
            (
                "q=x&timeout_limit=inf",
                "Invalid value inf for parameter timeout_limit",
            ),
        ];
        for (query, error) in cases {
            assert_eq!(ask(query).unwrap_err().error, error, "{query}");
        }
        assert_eq!(
            Form::parse(Some("q=x&pageno=1&pageno=2"), None),
            Err(InvalidRequest::DuplicateParameter { param: "pageno" })
        );
    }

    #[test]
    fn what_searxng_accepts_maps_onto_trawl() {
        let asked = ask("q=tantivy&pageno=3&safesearch=2&time_range=week&language=fr-CA").unwrap();
        let r = &asked.request;
        assert_eq!(
            (r.query.as_str(), r.page, r.per_page),
            ("tantivy", 3, DEFAULT_PER_PAGE)
        );
        assert_eq!(
            (r.safe, r.time_range),
            (Safe::Strict, Some(TimeRange::Week))
        );
        assert_eq!(r.lang.map(Lang::as_str), Some("fr"));
        assert!(!asked.past_last_page);
        // auto: the first of the browser's languages trawl knows.
        assert_eq!(
            ask("q=x&language=auto")
                .unwrap()
                .request
                .lang
                .map(Lang::as_str),
            Some("de")
        );
        // all, a code trawl does not know, and the empty / None values.
        for query in [
            "q=x&language=all",
            "q=x&language=zz",
            "q=x&time_range=None&time_range_x=1",
        ] {
            let r = ask(query).unwrap().request;
            assert_eq!((r.lang, r.time_range), (None, None), "{query}");
        }
        // Past the last page: empty, not refused.
        assert!(ask("q=x&pageno=51").unwrap().past_last_page);
        assert!(
            ask("q=x&pageno=99999999999999999999999")
                .unwrap()
                .past_last_page
        );
        assert_eq!(
            ask("q=x&timeout_limit=0.01").unwrap().timeout,
            Some(MIN_TIMEOUT)
        );
        assert_eq!(
            ask("q=x&timeout_limit=2.5").unwrap().timeout,
            Some(Duration::from_millis(2500))
        );
    }

    #[test]
    fn engines_and_categories_unknown_ones_left_out() {
        let r = ask("q=x&engines=nope,wiki,wiki&categories=it,nope")
            .unwrap()
            .request;
        assert_eq!(
            (r.engines, r.categories),
            (vec!["wiki".to_owned()], vec!["it".to_owned()])
        );
        let r = ask("q=x&engines=nope&categories=nope").unwrap().request;
        assert!(r.engines.is_empty() && r.categories.is_empty(), "{r:?}");
        let r = ask("q=x&category_it=on&category_general=on&category_general=off").unwrap();
        assert_eq!(r.request.categories, ["it"]);
        // Bangs win, and are not searched for.
        let r = ask("q=!wiki+rust&engines=local").unwrap().request;
        assert_eq!(
            (r.query.as_str(), r.engines),
            ("rust", vec!["wiki".to_owned()])
        );
    }

    #[test]
    fn the_body_wins_over_the_query_string() {
        let form = Form::parse(Some("q=a&format=json&pageno=2"), Some("q=b&format=csv")).unwrap();
        assert_eq!(
            (
                form.q.as_deref(),
                form.format.as_deref(),
                form.pageno.as_deref()
            ),
            (Some("b"), Some("csv"), Some("2"))
        );
        assert!(Format::asked(Some("q=x&format=json"), None).is_some());
        assert!(Format::asked(Some("format=rss&q=x"), None).is_some());
        assert!(Format::asked(Some("q=x&format=html"), None).is_none());
        assert!(Format::asked(Some("q=x"), None).is_none());
        assert!(Format::asked(None, None).is_none());
    }

    #[test]
    fn urls_split_as_python_splits_them() {
        let cases = [
            (
                "https://news.ycombinator.com/item?id=40000001",
                [
                    "https",
                    "news.ycombinator.com",
                    "/item",
                    "",
                    "id=40000001",
                    "",
                ],
            ),
            (
                "https://docs.rs/tantivy",
                ["https", "docs.rs", "/tantivy", "", "", ""],
            ),
            (
                "HTTP://user@h:8080/a;b/c;d?e=f#g",
                ["http", "user@h:8080", "/a;b/c", "d", "e=f", "g"],
            ),
            (
                "mailto:a@example.org",
                ["mailto", "", "a@example.org", "", "", ""],
            ),
            ("no scheme", ["", "", "no scheme", "", "", ""]),
            ("https://h", ["https", "h", "", "", "", ""]),
        ];
        for (url, parts) in cases {
            assert_eq!(parsed_url(url), parts.map(str::to_owned), "{url}");
        }
    }

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        let mut out = String::new();
        row(
            &mut out,
            &["a,b", "say \"hi\"", "line\nbreak", "=1+1", "-3", "plain"],
        );
        assert_eq!(
            out,
            "\"a,b\",\"say \"\"hi\"\"\",\"line\nbreak\",'=1+1,-3,plain\r\n"
        );
        assert_eq!(python_float(1.0), 1.0);
        assert_eq!(format!("{:?}", python_float(0.1)), "0.1");
        assert_eq!(csv_file_name("a b/ü"), "trawl_-_a_b__.csv");
    }
}
