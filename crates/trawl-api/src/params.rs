//! Request parameters: parsed once, at the boundary, into types that cannot
//! hold invalid values.
//!
//! Query strings are decoded strictly: a `%` that does not start two hex
//! digits, or bytes that do not form UTF-8, make the whole request invalid
//! rather than being silently replaced. Parameters a request does not know are
//! ignored (so links carrying tracking or UI parameters keep working); a known
//! parameter given twice is an error, since either choice would be a guess.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::options::{Format, Keyword, Lang, Safe, TimeRange, parse_categories, parse_engines};

/// Longest accepted query, in characters, after trimming.
pub const MAX_QUERY_CHARS: usize = 512;
/// Highest page a client may ask for.
pub const MAX_PAGE: u32 = 50;
/// Largest page size a client may ask for.
pub const MAX_PER_PAGE: u32 = 100;
/// Page size when the client does not choose one.
pub const DEFAULT_PER_PAGE: u32 = 10;

/// Why a request was refused. Each variant has a stable [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequest {
    /// Bad percent-encoding, or bytes that are not UTF-8.
    #[error("the query string is malformed: {reason}")]
    MalformedQueryString {
        /// What is wrong, for people.
        reason: String,
    },
    /// A required parameter is absent.
    #[error("parameter `{param}` is required")]
    MissingParameter {
        /// The parameter at fault.
        param: &'static str,
    },
    /// A parameter appears twice.
    #[error("parameter `{param}` is given more than once")]
    DuplicateParameter {
        /// The parameter at fault.
        param: &'static str,
    },
    /// A parameter's value is out of range or malformed.
    #[error("parameter `{param}` {reason}")]
    InvalidParameter {
        /// The parameter at fault.
        param: &'static str,
        /// What is wrong, for people.
        reason: String,
    },
    /// A v2 cursor that cannot be honoured.
    #[error("parameter `cursor` is not valid: {reason}")]
    InvalidCursor {
        /// What is wrong, for people.
        reason: String,
    },
    /// The `Accept` header admits none of the formats produced.
    #[error("the Accept header admits none of the formats this endpoint answers in: {produced}")]
    NotAcceptable {
        /// The formats the endpoint answers in.
        produced: String,
    },
}

impl InvalidRequest {
    /// A stable, machine-readable name for this kind of error.
    pub fn code(&self) -> &'static str {
        self.problem_code().as_str()
    }

    /// Its problem code (whose status is 400, or 406 for `not_acceptable`).
    pub fn problem_code(&self) -> crate::Code {
        use crate::Code;
        match self {
            Self::MalformedQueryString { .. } => Code::MalformedQueryString,
            Self::MissingParameter { .. } => Code::MissingParameter,
            Self::DuplicateParameter { .. } => Code::DuplicateParameter,
            Self::InvalidParameter { .. } => Code::InvalidParameter,
            Self::InvalidCursor { .. } => Code::InvalidCursor,
            Self::NotAcceptable { .. } => Code::NotAcceptable,
        }
    }

    /// The parameter at fault, when there is one.
    pub fn param(&self) -> Option<&'static str> {
        match self {
            Self::MalformedQueryString { .. } | Self::NotAcceptable { .. } => None,
            Self::InvalidCursor { .. } => Some("cursor"),
            Self::MissingParameter { param }
            | Self::DuplicateParameter { param }
            | Self::InvalidParameter { param, .. } => Some(param),
        }
    }
}

/// Most suggestions one `suggest` call answers with.
pub const MAX_SUGGESTIONS: usize = 10;

/// The `q` of a suggestion request (`/autocomplete`, `/v1/suggest`): what
/// was typed so far, trimmed, invisible formatting dropped, tabs and
/// newlines as spaces. Missing or blank is the empty text (nothing to
/// complete, not an error); longer than [`MAX_QUERY_CHARS`] or holding
/// control characters is invalid, as in a search.
pub fn suggest_text(raw: Option<&str>) -> Result<String, InvalidRequest> {
    let mut q = None;
    for (name, value) in parse_query_string(raw.unwrap_or(""))? {
        if name == "q" && q.replace(value).is_some() {
            return Err(InvalidRequest::DuplicateParameter { param: "q" });
        }
    }
    let q = q.unwrap_or_default();
    let visible = crate::text::without(&q, crate::text::is_invisible);
    if visible.trim().is_empty() {
        return Ok(String::new());
    }
    Query::parse(&q).map(|query| query.0)
}

/// A search query: at most [`MAX_QUERY_CHARS`] characters as sent; trimmed,
/// non-empty and free of control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query(String);

impl Query {
    /// Checks a query: trimmed, not empty, not too long, no control characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidRequest> {
        let invalid = |reason: &str| InvalidRequest::InvalidParameter {
            param: "q",
            reason: reason.to_owned(),
        };
        // Invisible formatting (bidirectional overrides, zero-width spaces)
        // means nothing to a search and would be echoed into the page's
        // title and the feeds: it is dropped.
        let visible = crate::text::without(raw, crate::text::is_invisible);
        let trimmed = visible.trim();
        if trimmed.is_empty() {
            return Err(invalid("must not be empty"));
        }
        // Counted as sent (what the OpenAPI documents' `maxLength` counts),
        // spaces and invisible characters included.
        let chars = raw.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(invalid(&format!(
                "must be at most {MAX_QUERY_CHARS} characters, got {chars}"
            )));
        }
        // Tabs and newlines are harmless whitespace; other control characters
        // are never part of a real query and confuse logs and terminals.
        let cleaned: String = trimmed
            .chars()
            .map(|c| {
                if c == '\t' || c == '\n' || c == '\r' {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        if cleaned.chars().any(char::is_control) {
            return Err(invalid("must not contain control characters"));
        }
        Ok(Self(cleaned))
    }

    /// The query as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated search request, shared by `/v1/search`, `/v1/results` and the
/// web service's pages and API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    /// What to search for.
    pub query: Query,
    /// 1-based, at most [`MAX_PAGE`].
    pub page: u32,
    /// 1 to [`MAX_PER_PAGE`].
    pub per_page: u32,
    /// How strictly engines filter explicit content.
    pub safe: Safe,
    /// Any time when `None`.
    pub time_range: Option<TimeRange>,
    /// Any language when `None`.
    pub lang: Option<Lang>,
    /// The engines to ask, by name, each valid and listed once; every
    /// enabled engine when empty (and no category is named).
    pub engines: Vec<String>,
    /// The categories whose enabled engines are asked (besides any named
    /// in `engines`), each valid and listed once.
    pub categories: Vec<String>,
}

impl SearchRequest {
    /// The first page of `query`, with every option at its default.
    pub fn new(query: Query) -> Self {
        Self {
            query,
            page: 1,
            per_page: DEFAULT_PER_PAGE,
            safe: Safe::default(),
            time_range: None,
            lang: None,
            engines: Vec::new(),
            categories: Vec::new(),
        }
    }

    /// Parses a raw (still percent-encoded) query string such as
    /// `q=create+index&page=2`.
    pub fn from_query_string(raw: Option<&str>) -> Result<Self, InvalidRequest> {
        let params = SearchParams::from_query_string(raw)?;
        Self::from_params(&params)
    }

    /// Validates already-decoded parameters.
    pub fn from_params(params: &SearchParams) -> Result<Self, InvalidRequest> {
        let query = match &params.q {
            None => return Err(InvalidRequest::MissingParameter { param: "q" }),
            Some(q) => Query::parse(q)?,
        };
        let page = parse_bounded("page", params.page.as_deref(), 1, MAX_PAGE, 1)?;
        let per_page = parse_bounded(
            "per_page",
            params.per_page.as_deref(),
            1,
            MAX_PER_PAGE,
            DEFAULT_PER_PAGE,
        )?;
        Ok(Self {
            query,
            page,
            per_page,
            safe: Safe::parse_param(params.safe.as_deref())?.unwrap_or_default(),
            time_range: TimeRange::parse_param(params.time_range.as_deref())?,
            lang: Lang::parse_param(params.lang.as_deref())?,
            engines: parse_engines(params.engines.as_deref())?,
            categories: parse_categories(params.categories.as_deref())?,
        })
    }

    /// Index of the first result of this page among all results.
    pub fn offset(&self) -> usize {
        (self.page as usize - 1) * self.per_page as usize
    }

    /// The request as a query string, the inverse of [`Self::from_query_string`].
    /// Options at their defaults are left out.
    pub fn to_query_string(&self) -> String {
        format!(
            "q={}&page={}&per_page={}{}",
            encode_component(self.query.as_str()),
            self.page,
            self.per_page,
            self.options_query_string()
        )
    }

    /// `&safe=…&time_range=…&lang=…&engines=…&categories=…` for the options that are not
    /// at their defaults; empty when none is.
    pub fn options_query_string(&self) -> String {
        let mut qs = String::new();
        if self.safe != Safe::default() {
            qs.push_str("&safe=");
            qs.push_str(self.safe.as_str());
        }
        if let Some(range) = self.time_range {
            qs.push_str("&time_range=");
            qs.push_str(range.as_str());
        }
        if let Some(lang) = self.lang {
            qs.push_str("&lang=");
            qs.push_str(lang.as_str());
        }
        if !self.engines.is_empty() {
            qs.push_str("&engines=");
            qs.push_str(&self.engines.join(","));
        }
        if !self.categories.is_empty() {
            qs.push_str("&categories=");
            qs.push_str(&self.categories.join(","));
        }
        qs
    }

    /// The same request for another page.
    pub fn with_page(&self, page: u32) -> Self {
        Self {
            page,
            ..self.clone()
        }
    }
}

/// Parses a v2 query string: `q`, `per_page` and the options for a first
/// page, or the `cursor` from a previous answer (with which any of them that
/// is given must agree). v2 has no `page` parameter. Also negotiates the
/// answer's format among `produced` (see [`Format::negotiate`]).
pub fn search_request_v2(
    raw: Option<&str>,
    accept: Option<&str>,
    produced: &[Format],
    cursors: &crate::cursor::CursorKey,
) -> Result<(SearchRequest, Format), InvalidRequest> {
    let params = SearchParams {
        page: None,
        ..SearchParams::from_query_string(raw)?
    };
    let format = params.format(accept, produced)?;
    let Some(cursor) = params.cursor.as_deref().filter(|c| !c.is_empty()) else {
        return Ok((SearchRequest::from_params(&params)?, format));
    };
    let request = cursors.decode(cursor)?;
    // Parameters given beside a cursor must be valid, and agree with it.
    let given = |raw: &Option<String>| raw.as_deref().is_some_and(|v| !v.is_empty());
    if let Some(q) = params.q.as_deref().filter(|q| !q.is_empty())
        && Query::parse(q)? != request.query
    {
        return Err(InvalidRequest::InvalidCursor {
            reason: "it belongs to another query than `q`".to_owned(),
        });
    }
    let disagrees = |param: &str| InvalidRequest::InvalidCursor {
        reason: format!("it was issued for another `{param}`"),
    };
    if given(&params.per_page)
        && parse_bounded(
            "per_page",
            params.per_page.as_deref(),
            1,
            MAX_PER_PAGE,
            DEFAULT_PER_PAGE,
        )? != request.per_page
    {
        return Err(disagrees("per_page"));
    }
    if given(&params.safe) && Safe::parse_param(params.safe.as_deref())? != Some(request.safe) {
        return Err(disagrees("safe"));
    }
    if given(&params.time_range)
        && TimeRange::parse_param(params.time_range.as_deref())? != request.time_range
    {
        return Err(disagrees("time_range"));
    }
    if given(&params.lang) && Lang::parse_param(params.lang.as_deref())? != request.lang {
        return Err(disagrees("lang"));
    }
    if given(&params.engines) && parse_engines(params.engines.as_deref())? != request.engines {
        return Err(disagrees("engines"));
    }
    if given(&params.categories)
        && parse_categories(params.categories.as_deref())? != request.categories
    {
        return Err(disagrees("categories"));
    }
    Ok((request, format))
}

/// The search parameters as decoded from a query string, before validation.
/// Pages use it to pre-fill the form even when the request is invalid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchParams {
    /// The query, `q`.
    pub q: Option<String>,
    /// v1 only.
    pub page: Option<String>,
    /// Results a page.
    pub per_page: Option<String>,
    /// v2 only.
    pub cursor: Option<String>,
    /// The answer's format, when given.
    pub format: Option<String>,
    /// Safe search: `off`, `moderate` or `strict`.
    pub safe: Option<String>,
    /// `day`, `week`, `month` or `year`.
    pub time_range: Option<String>,
    /// An ISO 639-1 code, or `all`.
    pub lang: Option<String>,
    /// Engine names, comma-separated.
    pub engines: Option<String>,
    /// Category names, comma-separated.
    pub categories: Option<String>,
}

impl SearchParams {
    /// Decodes a raw (still percent-encoded) query string; unknown parameters are ignored.
    pub fn from_query_string(raw: Option<&str>) -> Result<Self, InvalidRequest> {
        let mut params = Self::default();
        for (name, value) in parse_query_string(raw.unwrap_or(""))? {
            let (slot, param) = match name.as_str() {
                "q" => (&mut params.q, "q"),
                "page" => (&mut params.page, "page"),
                "per_page" => (&mut params.per_page, "per_page"),
                "cursor" => (&mut params.cursor, "cursor"),
                "format" => (&mut params.format, "format"),
                "safe" => (&mut params.safe, "safe"),
                "time_range" => (&mut params.time_range, "time_range"),
                "lang" => (&mut params.lang, "lang"),
                "engines" => (&mut params.engines, "engines"),
                "categories" => (&mut params.categories, "categories"),
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(InvalidRequest::DuplicateParameter { param });
            }
        }
        Ok(params)
    }

    /// The format asked for (by `format`, else by the `Accept` header),
    /// checked against those the endpoint produces.
    pub fn format(
        &self,
        accept: Option<&str>,
        produced: &[Format],
    ) -> Result<Format, InvalidRequest> {
        Format::negotiate(self.format.as_deref(), accept, produced)
    }
}

fn parse_bounded(
    param: &'static str,
    raw: Option<&str>,
    min: u32,
    max: u32,
    default: u32,
) -> Result<u32, InvalidRequest> {
    // An empty value is what an HTML form sends for an untouched field.
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(default);
    };
    // Digits only: no sign, no spaces (which `u32::from_str` would take).
    let digits = raw.len() <= 10 && raw.bytes().all(|b| b.is_ascii_digit());
    match raw.parse::<u32>() {
        Ok(n) if digits && (min..=max).contains(&n) => Ok(n),
        _ => Err(InvalidRequest::InvalidParameter {
            param,
            reason: format!(
                "must be an integer from {min} to {max}, got `{}`",
                truncate(raw, 32)
            ),
        }),
    }
}

pub(crate) fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Query parameter by which any request may ask for a shorter deadline
/// than the service's own request timeout, in whole milliseconds.
pub const TIMEOUT_PARAM: &str = "timeout_ms";
/// Least `timeout_ms` accepted: time for three services to pass the
/// request along and answer, with whatever engines managed, without a
/// deadline of their own running out first.
pub const MIN_TIMEOUT_MS: u32 = 100;
/// Largest `timeout_ms` accepted (an hour; the service's own request
/// timeout bounds every request anyway).
pub const MAX_TIMEOUT_MS: u32 = 3_600_000;

/// The `timeout_ms` a raw query string asks for, if any.
pub fn timeout_param(raw: Option<&str>) -> Result<Option<std::time::Duration>, InvalidRequest> {
    let Some(raw) = raw.filter(|raw| raw.contains(TIMEOUT_PARAM)) else {
        return Ok(None);
    };
    let mut given = None;
    for (name, value) in parse_query_string(raw)? {
        if name == TIMEOUT_PARAM && given.replace(value).is_some() {
            return Err(InvalidRequest::DuplicateParameter {
                param: TIMEOUT_PARAM,
            });
        }
    }
    match given.filter(|value| !value.is_empty()) {
        None => Ok(None),
        Some(value) => {
            let ms = parse_bounded(
                TIMEOUT_PARAM,
                Some(&value),
                MIN_TIMEOUT_MS,
                MAX_TIMEOUT_MS,
                0,
            )?;
            Ok(Some(std::time::Duration::from_millis(u64::from(ms))))
        }
    }
}

/// Splits and strictly decodes an `application/x-www-form-urlencoded` string.
pub fn parse_query_string(raw: &str) -> Result<Vec<(String, String)>, InvalidRequest> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode_component(name)?, decode_component(value)?))
        })
        .collect()
}

fn decode_component(raw: &str) -> Result<String, InvalidRequest> {
    let malformed = |reason: String| InvalidRequest::MalformedQueryString { reason };
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                    let h = std::str::from_utf8(h).ok()?;
                    u8::from_str_radix(h, 16).ok()
                });
                match hex {
                    Some(byte) => out.push(byte),
                    None => {
                        return Err(malformed(
                            "`%` must be followed by two hexadecimal digits".to_owned(),
                        ));
                    }
                }
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| malformed("percent-decoded bytes are not valid UTF-8".to_owned()))
}

/// Characters left as they are in a query-string component.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query-string component.
pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(qs: &str) -> Result<SearchRequest, InvalidRequest> {
        SearchRequest::from_query_string(Some(qs))
    }

    #[test]
    fn accepts_a_plain_request_and_round_trips_it() {
        let request = parse("q=create+index%20concurrently&page=2&per_page=5").unwrap();
        assert_eq!(request.query.as_str(), "create index concurrently");
        assert_eq!((request.page, request.per_page), (2, 5));
        assert_eq!(request.offset(), 5);
        assert_eq!(parse(&request.to_query_string()).unwrap(), request);
    }

    #[test]
    fn defaults_and_empty_values() {
        let request = parse("q=x&page=&per_page=").unwrap();
        assert_eq!((request.page, request.per_page), (1, DEFAULT_PER_PAGE));
    }

    #[test]
    fn a_request_may_ask_for_a_shorter_timeout() {
        let ms = std::time::Duration::from_millis;
        assert_eq!(timeout_param(None), Ok(None));
        assert_eq!(timeout_param(Some("q=timeout_ms")), Ok(None));
        assert_eq!(timeout_param(Some("q=a&timeout_ms=")), Ok(None));
        assert_eq!(timeout_param(Some("q=a&timeout_ms=800")), Ok(Some(ms(800))));
        assert_eq!(
            timeout_param(Some("timeout_ms=3600000")),
            Ok(Some(ms(3_600_000)))
        );
        assert_eq!(timeout_param(Some("timeout_ms=100")), Ok(Some(ms(100))));
        for bad in [
            "0",
            "99",
            "-5",
            "1.5",
            "+900",
            "3600001",
            "9999999999",
            "soon",
        ] {
            let error = timeout_param(Some(&format!("q=a&timeout_ms={bad}"))).unwrap_err();
            assert_eq!(
                (error.code(), error.param()),
                ("invalid_parameter", Some("timeout_ms")),
                "{bad}"
            );
        }
        let error = timeout_param(Some("timeout_ms=5&timeout_ms=6")).unwrap_err();
        assert_eq!(error.code(), "duplicate_parameter");
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        assert!(
            parse("q=x&utm_source=feed&lang=&foo=%zz").is_err(),
            "still decoded"
        );
        assert!(parse("q=x&utm_source=feed&lang=&Q=y&Page=0").is_ok());
    }

    #[test]
    fn options_round_trip_and_default_away() {
        let request =
            parse("q=x&safe=strict&time_range=week&lang=de&engines=local,wiki,local").unwrap();
        assert_eq!(request.safe, Safe::Strict);
        assert_eq!(request.time_range, Some(TimeRange::Week));
        assert_eq!(request.lang.map(Lang::as_str), Some("de"));
        assert_eq!(request.engines, ["local", "wiki"]);
        assert_eq!(parse(&request.to_query_string()).unwrap(), request);
        let plain = parse("q=x&safe=&time_range=&lang=all&engines=").unwrap();
        assert_eq!(plain, SearchRequest::new(Query::parse("x").unwrap()));
        assert_eq!(plain.to_query_string(), "q=x&page=1&per_page=10");
    }

    #[test]
    fn refusals_name_the_problem() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("", "missing_parameter", Some("q")),
            ("page=2", "missing_parameter", Some("q")),
            ("q=", "invalid_parameter", Some("q")),
            ("q=+++", "invalid_parameter", Some("q")),
            ("q=a%00b", "invalid_parameter", Some("q")),
            ("q=a&q=b", "duplicate_parameter", Some("q")),
            ("q=a&page=0", "invalid_parameter", Some("page")),
            ("q=a&page=-1", "invalid_parameter", Some("page")),
            ("q=a&page=51", "invalid_parameter", Some("page")),
            ("q=a&page=1e3", "invalid_parameter", Some("page")),
            ("q=a&page=%2B2", "invalid_parameter", Some("page")),
            ("q=a&page=+2", "invalid_parameter", Some("page")),
            ("q=a&per_page=100000", "invalid_parameter", Some("per_page")),
            ("q=a&per_page=0", "invalid_parameter", Some("per_page")),
            ("q=a&safe=1", "invalid_parameter", Some("safe")),
            (
                "q=a&time_range=decade",
                "invalid_parameter",
                Some("time_range"),
            ),
            ("q=a&lang=english", "invalid_parameter", Some("lang")),
            ("q=a&engines=a%20b", "invalid_parameter", Some("engines")),
            (
                "q=a&categories=Science",
                "invalid_parameter",
                Some("categories"),
            ),
            (
                "q=a&categories=a,,b",
                "invalid_parameter",
                Some("categories"),
            ),
            (
                "q=a&categories=a&categories=b",
                "duplicate_parameter",
                Some("categories"),
            ),
            ("q=a&lang=en&lang=de", "duplicate_parameter", Some("lang")),
            ("q=%zz", "malformed_query_string", None),
            ("q=%4", "malformed_query_string", None),
            ("q=%FF%FE", "malformed_query_string", None),
        ];
        for (qs, code, param) in cases {
            let err = parse(qs).expect_err(qs);
            assert_eq!(
                (err.code(), err.param()),
                (*code, *param),
                "for {qs:?}: {err}"
            );
        }
    }

    #[test]
    fn query_length_is_counted_in_characters() {
        assert!(Query::parse(&"é".repeat(MAX_QUERY_CHARS)).is_ok());
        let err = Query::parse(&"a".repeat(10_000)).unwrap_err();
        assert!(err.to_string().contains("at most 512"), "{err}");
    }

    #[test]
    fn encoding_round_trips_awkward_text() {
        let text = "a&b=c+d %25 \"é\" <x> /?#";
        let decoded = parse_query_string(&format!("q={}", encode_component(text))).unwrap();
        assert_eq!(decoded, vec![("q".to_owned(), text.to_owned())]);
    }
}
