//! The query parameters of the search endpoints, described for OpenAPI from
//! the same constants and vocabularies that [`params`](crate::params) and
//! [`options`](crate::options) parse with, so the document cannot drift from
//! the parser. Each schema admits exactly what the parser accepts, including
//! the empty value an untouched form field sends (which means "not given").

use serde_json::Value;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, Required};

use crate::options::{Format, Keyword, LANGUAGES, MAX_ENGINE_NAME, MAX_ENGINES, Safe, TimeRange};
use crate::params::{
    DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE, MAX_QUERY_CHARS, MAX_TIMEOUT_MS, MIN_TIMEOUT_MS,
    TIMEOUT_PARAM,
};

/// Characters a query may not contain: control characters other than tab,
/// line feed and carriage return (which count as spaces).
const FORBIDDEN: &str = r"\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F";

/// The query parameters of a v1 search endpoint (`q`, `page`, …).
pub struct SearchQueryV1;
/// The query parameters of a v2 search endpoint (`q` or `cursor`, …).
pub struct SearchQueryV2;
/// The query parameters of `GET /v1/results`: v1's, answered in JSON, CSV
/// or RSS.
pub struct ResultsQuery;
/// The query parameters of the public API's v1: v1's, answered in JSON,
/// CSV, RSS or as the HTML page.
pub struct ApiQueryV1;
/// The query parameters of the public API's v2, answered in JSON, CSV or
/// RSS.
pub struct ApiQueryV2;
/// Only `format`, among JSON, CSV and RSS.
pub struct FormatQuery;
/// The query parameters of `/search`: the HTML results page's, and
/// SearXNG's (`pageno`, `safesearch`, `language`, `timeout_limit`,
/// `format=json|csv|rss`), which it also answers.
pub struct SearchPageQuery;
/// The query parameters of `/{text}`, whose query is the path.
pub struct TextPageQuery;
/// The query parameter of `/`: a query sends the client on to `/search`,
/// as SearXNG's `/` does.
pub struct HomeQuery;

impl IntoParams for HomeQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![param(
            "q",
            false,
            "A query: `308` to `/search` with the same query string (as SearXNG answers it), \
             where the rest of it is checked. Missing or blank: the home page.",
            AnyOfBuilder::new()
                .item(query_schema())
                .item(
                    // Blank, of any length: the home page.
                    string().pattern(Some(r"^\s*$")),
                )
                .into(),
        )]
    }
}

impl IntoParams for SearchQueryV1 {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        search_parameters(Shape::V1, &[Format::Json])
    }
}

impl IntoParams for SearchQueryV2 {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        search_parameters(Shape::V2, &[Format::Json])
    }
}

impl IntoParams for ResultsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        search_parameters(Shape::V1, Format::DATA)
    }
}

impl IntoParams for ApiQueryV1 {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        search_parameters(
            Shape::V1,
            &[Format::Json, Format::Csv, Format::Rss, Format::Html],
        )
    }
}

impl IntoParams for ApiQueryV2 {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        search_parameters(Shape::V2, Format::DATA)
    }
}

impl IntoParams for FormatQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![format_parameter(Format::DATA)]
    }
}

impl IntoParams for SearchPageQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        search_parameters(
            Shape::Searx,
            &[Format::Html, Format::Json, Format::Csv, Format::Rss],
        )
    }
}

impl IntoParams for TextPageQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = search_parameters(Shape::Page, &[Format::Html]);
        params.retain(|p| p.name != "q");
        params
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    V1,
    V2,
    Page,
    /// `/search`: the page's and SearXNG's parameters.
    Searx,
}

fn search_parameters(shape: Shape, formats: &[Format]) -> Vec<Parameter> {
    let q_description = match shape {
        Shape::V1 => "The query: at most 512 characters as sent, not blank, no control characters.",
        Shape::V2 => {
            "The query: at most 512 characters as sent, not blank, no control characters. Required \
             unless `cursor` is given; with a cursor, it must be the cursor's query."
        }
        Shape::Page => {
            "The query: at most 512 characters as sent, not blank, no control characters. Missing or \
             blank: `303` to the home page (when the other parameters are valid)."
        }
        Shape::Searx => {
            "The query: at most 512 characters as sent, not blank, no control characters; bangs \
             (`!name`) choose engines. Missing or blank: the page answers `303` to the home page \
             (when the other parameters are valid), SearXNG's formats `400` (`No query`)."
        }
    };
    let pages = matches!(shape, Shape::Page | Shape::Searx);
    let searx = shape == Shape::Searx;
    let q_schema = if pages {
        AnyOfBuilder::new()
            .item(query_schema())
            .item(
                // Blank, of any length: the home page.
                string().pattern(Some(r"^\s*$")),
            )
            .into()
    } else {
        query_schema()
    };
    let mut params = vec![param("q", shape == Shape::V1, q_description, q_schema)];
    if shape != Shape::V2 {
        params.push(param(
            "page",
            false,
            "1-based page number. Empty means 1.",
            integer_or_empty(1, MAX_PAGE, 1),
        ));
    }
    params.push(param(
        "per_page",
        false,
        "Results per page. Empty means the default.",
        integer_or_empty(1, MAX_PER_PAGE, DEFAULT_PER_PAGE),
    ));
    if shape == Shape::V2 {
        params.push(param(
            "cursor",
            false,
            "The `next_cursor` of a previous answer: the next page of the same search. Opaque; \
             altered or foreign cursors are refused with `invalid_cursor`.",
            string()
                .pattern(Some(r"^[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*)?$"))
                .into(),
        ));
    }
    if searx {
        params.push(param(
            "pageno",
            false,
            "SearXNG's name for `page` (it wins when both are given). Past page 50, SearXNG's \
             formats answer no results; the page refuses it.",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .into(),
        ));
    }
    params.push(param(
        "time_range",
        false,
        if searx {
            "Only documents published this recently (a month is 31 days, a year 365). Undated \
             documents never match. Empty or `None` means any time."
        } else {
            "Only documents published this recently (a month is 31 days, a year 365). Undated \
             documents never match. Empty means any time."
        },
        // SearXNG's forms send `None` for any time.
        keyword_and::<TimeRange>(if searx { &["None"] } else { &[] }),
    ));
    params.push(param(
        "safe",
        false,
        "How strictly engines that can filter explicit content do. Empty means `moderate`.",
        keyword::<Safe>(),
    ));
    let mut languages: Vec<Value> = vec!["".into(), "all".into()];
    languages.extend(LANGUAGES.iter().map(|code| Value::from(*code)));
    params.push(param(
        "lang",
        false,
        "Language of the results, as an ISO 639-1 code; `all` or empty for any.",
        string().enum_values(Some(languages)).into(),
    ));
    if searx {
        params.push(param(
            "safesearch",
            false,
            "SearXNG's name for `safe`: `0` off, `1` moderate, `2` strict (it wins when both are \
             given).",
            string().enum_values(Some(["0", "1", "2"])).into(),
        ));
        params.push(param(
            "language",
            false,
            "SearXNG's name for `lang` (it wins when both are given): `auto` (the \
             `Accept-Language` header's first language trawl knows), `all`, or a code such as \
             `en` or `en-US` (the region is dropped; a language trawl does not know searches \
             all languages).",
            string()
                .pattern(Some(r"^(auto|all|[a-z]{2,3}(-[a-zA-Z]{2})?)$"))
                .into(),
        ));
        params.push(param(
            "timeout_limit",
            false,
            "SearXNG's: answer within this many seconds (at least 0.1), with whatever the \
             engines found by then. Empty or `None` means the service's own timeout.",
            AnyOfBuilder::new()
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::Number)
                        .exclusive_minimum(Some(0.0))
                        .maximum(Some(3600.0)),
                )
                .item(string().enum_values(Some(["", "None"])))
                .into(),
        ));
    }
    let name = format!("[a-z0-9][a-z0-9_-]{{0,{}}}", MAX_ENGINE_NAME - 1);
    if searx {
        params.push(param(
            "engines",
            false,
            &format!(
                "Engines to ask, by name as `GET /v1/engines` lists them, separated by commas (at \
                 most {MAX_ENGINES}). Empty means every enabled engine. The page refuses a name \
                 that is not configured; SearXNG's formats leave it out, as SearXNG does."
            ),
            string().into(),
        ));
        params.push(param(
            "categories",
            false,
            "Categories whose enabled engines to ask (besides any named in `engines`), \
             separated by commas. The page refuses a category no engine is in; SearXNG's \
             formats leave it out. SearXNG's `category_<name>=on|off` are taken too.",
            string().into(),
        ));
    }
    if !searx {
        params.push(param(
            "engines",
            false,
            &format!(
                "Engines to ask, by name as `GET /v1/engines` lists them, separated by commas (at \
                 most {MAX_ENGINES}). Empty means every enabled engine. A name that is not configured \
                 is refused."
            ),
            string()
                .pattern(Some(format!("^({name}(,{name})*)?$")))
                .into(),
        ));
        params.push(param(
            "categories",
            false,
            &format!(
                "Categories whose enabled engines to ask (besides any named in `engines`), as \
                 `GET /v1/engines` lists them, separated by commas (at most {MAX_ENGINES}), e.g. \
                 `science,code`. A category no engine is in is refused."
            ),
            string()
                .pattern(Some(format!("^({name}(,{name})*)?$")))
                .into(),
        ));
    }
    params.push(param(
        TIMEOUT_PARAM,
        false,
        "Answer within this many milliseconds, with whatever the engines found by then (those \
         that had not answered are reported as `timeout`). Shortens the service's own request \
         timeout, never lengthens it; at least 100 (time for the services to pass the request \
         along and answer). Empty means the service's.",
        AnyOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(MIN_TIMEOUT_MS))
                    .maximum(Some(MAX_TIMEOUT_MS)),
            )
            .item(string().max_length(Some(0)))
            .into(),
    ));
    params.push(format_parameter(formats));
    params
}

fn format_parameter(formats: &[Format]) -> Parameter {
    let names: Vec<String> = formats
        .iter()
        .map(|f| format!("`{}`", f.as_str()))
        .collect();
    let description = match formats {
        [only] => format!(
            "The answer's format; this endpoint answers in `{}` only.",
            only.as_str()
        ),
        _ => format!(
            "The answer's format: {} (the first is the default). Without it (or empty), the \
             `Accept` header chooses among the same; one that admits none of them is answered \
             `406 not_acceptable`.",
            names.join(", ")
        ),
    };
    let mut values: Vec<Value> = vec!["".into()];
    values.extend(formats.iter().map(|f| Value::from(f.as_str())));
    param(
        "format",
        false,
        &description,
        string().enum_values(Some(values)).into(),
    )
}

fn param(name: &str, required: bool, description: &str, schema: Schema) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(RefOr::T(schema)))
        .build()
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// Non-empty after trimming, at most [`MAX_QUERY_CHARS`] characters, no
/// forbidden control characters.
pub(crate) fn query_schema() -> Schema {
    let allowed = format!("[^{FORBIDDEN}]");
    let visible = format!(r"[^\s{FORBIDDEN}]");
    string()
        .min_length(Some(1))
        .max_length(Some(MAX_QUERY_CHARS))
        .pattern(Some(format!("^{allowed}*{visible}{allowed}*$")))
        .into()
}

fn integer_or_empty(min: u32, max: u32, default: u32) -> Schema {
    AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(min))
                .maximum(Some(max)),
        )
        .item(string().max_length(Some(0)))
        .default(Some(default.into()))
        .into()
}

fn keyword<K: Keyword>() -> Schema {
    keyword_and::<K>(&[])
}

/// A keyword's values, the empty value, and `more`.
fn keyword_and<K: Keyword>(more: &[&str]) -> Schema {
    let mut values: Vec<Value> = vec!["".into()];
    values.extend(K::VALUES.iter().map(|(name, _)| Value::from(*name)));
    values.extend(more.iter().map(|v| Value::from(*v)));
    string().enum_values(Some(values)).into()
}
