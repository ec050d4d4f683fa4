//! What the page template shows, derived from the wire types. Everything
//! here is plain text; the template escapes it.

use askama::Template;
use trawl_api::params::{SearchParams, encode_component};
use trawl_api::{EngineStatus, Problem, ResultHit, ResultsResponse, SearchRequest};

#[derive(Template)]
#[template(path = "page.html")]
pub(crate) struct Page {
    pub query: String,
    pub query_encoded: String,
    pub title: String,
    pub results: Option<ResultsView>,
    pub error: Option<ErrorView>,
    pub version: &'static str,
    /// The form's time-range choices, `(value, label)`.
    pub time_ranges: &'static [(&'static str, &'static str)],
    /// The time range the form shows as chosen.
    pub time_range: String,
    /// Options the form has no field for, kept as they were sent.
    pub hidden: Vec<(&'static str, String)>,
    /// One tab per category of engines, and "All"; none when there is
    /// only one category.
    pub tabs: Vec<Tab>,
}

/// A category tab above the results.
pub(crate) struct Tab {
    pub label: String,
    pub href: String,
    pub current: bool,
}

impl Tab {
    /// "All" and one tab per category, each the same search in it; none
    /// when there are fewer than two categories.
    pub(crate) fn for_request(request: &SearchRequest, categories: &[String]) -> Vec<Tab> {
        if categories.len() < 2 {
            return Vec::new();
        }
        let href = |category: Option<&str>| {
            let request = SearchRequest {
                page: 1,
                engines: Vec::new(),
                categories: category.map(|c| vec![c.to_owned()]).unwrap_or_default(),
                ..request.clone()
            };
            let mut href = format!("/search?q={}", encode_component(request.query.as_str()));
            if request.per_page != trawl_api::params::DEFAULT_PER_PAGE {
                href.push_str(&format!("&per_page={}", request.per_page));
            }
            href.push_str(&request.options_query_string());
            href
        };
        let all = request.engines.is_empty() && request.categories.is_empty();
        std::iter::once(Tab {
            label: "All".to_owned(),
            href: href(None),
            current: all,
        })
        .chain(categories.iter().map(|category| {
            let mut label = category.replace(['-', '_'], " ");
            if let Some(first) = label.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            Tab {
                label,
                href: href(Some(category)),
                current: request.engines.is_empty() && request.categories == [category.clone()],
            }
        }))
        .collect()
    }
}

const TIME_RANGES: &[(&str, &str)] = &[
    ("", "Any time"),
    ("day", "Past day"),
    ("week", "Past week"),
    ("month", "Past month"),
    ("year", "Past year"),
];

impl Page {
    /// `form` holds the parameters the form is pre-filled with (besides
    /// the query, which the caller may have cleaned).
    pub(crate) fn new(
        query: String,
        form: &SearchParams,
        results: Option<ResultsView>,
        error: Option<ErrorView>,
    ) -> Self {
        let hidden = [
            ("per_page", &form.per_page),
            ("safe", &form.safe),
            ("lang", &form.lang),
            ("engines", &form.engines),
            ("categories", &form.categories),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            let value = value.as_deref().map_or("", str::trim);
            (!value.is_empty()).then(|| (name, value.to_owned()))
        })
        .collect();
        let title = if query.is_empty() {
            "trawl".to_owned()
        } else {
            format!("{query} – trawl")
        };
        Self {
            query_encoded: encode_component(&query),
            query,
            title,
            results,
            error,
            version: env!("CARGO_PKG_VERSION"),
            time_ranges: TIME_RANGES,
            time_range: form.time_range.clone().unwrap_or_default(),
            hidden,
            tabs: Vec::new(),
        }
    }
}

pub(crate) struct ErrorView {
    pub title: String,
    pub detail: String,
    /// The request's trace id, for the user to quote in a report.
    pub trace_id: Option<String>,
}

impl From<Problem> for ErrorView {
    fn from(problem: Problem) -> Self {
        Self {
            title: problem.title,
            detail: problem.detail,
            trace_id: problem
                .trace_id
                .or_else(trawl_service::trace::current_trace_id),
        }
    }
}

pub(crate) struct ResultsView {
    pub summary: String,
    pub engines: Vec<EngineView>,
    pub hits: Vec<HitView>,
    pub first_rank: u32,
    pub page: u32,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
}

pub(crate) struct EngineView {
    pub name: String,
    pub status: &'static str,
    pub latency: String,
    pub results: u32,
    pub error: Option<String>,
}

pub(crate) struct HitView {
    pub title: String,
    /// Only for schemes a browser can safely follow.
    pub href: Option<String>,
    pub display_url: String,
    pub snippet: Vec<Segment>,
    pub engines: Vec<String>,
}

pub(crate) struct Segment {
    pub text: String,
    pub mark: bool,
}

impl ResultsView {
    pub(crate) fn new(request: &SearchRequest, response: ResultsResponse) -> Self {
        let page_href = |page: u32| {
            let mut href = format!("/search?q={}", encode_component(request.query.as_str()));
            if page > 1 {
                href.push_str(&format!("&page={page}"));
            }
            if request.per_page != trawl_api::params::DEFAULT_PER_PAGE {
                href.push_str(&format!("&per_page={}", request.per_page));
            }
            href.push_str(&request.options_query_string());
            href
        };
        // Engines' totals overlap (one page is found by several) and are
        // estimates themselves: added up (without overflowing), they are
        // only an order of magnitude, and said to be.
        let totals: Vec<u64> = response.engines.iter().filter_map(|e| e.total).collect();
        let total = totals.iter().fold(0u64, |sum, t| sum.saturating_add(*t));
        let summary = match (totals.len(), total) {
            (0, _) => format!("Page {}", response.page),
            (1, 1) => format!("1 result · page {}", response.page),
            (1, n) => format!("{n} results · page {}", response.page),
            (_, n) => format!("About {n} results · page {}", response.page),
        };
        Self {
            summary,
            engines: response
                .engines
                .into_iter()
                .map(|e| EngineView {
                    status: match e.status {
                        EngineStatus::Ok => "ok",
                        EngineStatus::Error => "error",
                        EngineStatus::Timeout => "timeout",
                        EngineStatus::Suspended => "suspended",
                    },
                    latency: format!("{:.1} ms", e.latency_ms),
                    name: e.name,
                    results: e.results,
                    error: e.error,
                })
                .collect(),
            first_rank: response.results.first().map_or(1, |h| h.rank),
            hits: response.results.into_iter().map(HitView::from).collect(),
            page: response.page,
            prev_href: (response.page > 1).then(|| page_href(response.page - 1)),
            next_href: response.next_page.map(page_href),
        }
    }
}

impl From<ResultHit> for HitView {
    fn from(hit: ResultHit) -> Self {
        // Only what parses as an absolute http(s) URL with a host is a link.
        let followable = url::Url::parse(&hit.url)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some());
        Self {
            display_url: display_url(&hit.url),
            href: followable.then(|| hit.url.clone()),
            snippet: segments(&hit.snippet, &hit.highlights),
            title: hit.title,
            engines: hit.engines,
        }
    }
}

fn display_url(url: &str) -> String {
    let visible = trawl_api::text::without(url, trawl_api::text::is_hidden);
    let url = visible.as_ref();
    let bare = url.split_once("://").map_or(url, |(_, rest)| rest);
    let bare = bare.strip_prefix("www.").unwrap_or(bare);
    match bare.char_indices().nth(90) {
        Some((cut, _)) => format!("{}…", &bare[..cut]),
        None => bare.to_owned(),
    }
}

/// Splits text at the highlight ranges, ignoring any range that does not fit.
fn segments(text: &str, highlights: &[[usize; 2]]) -> Vec<Segment> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut at = 0;
    for &[start, end] in highlights {
        if start < at || start >= end || end > chars.len() {
            continue;
        }
        if start > at {
            out.push(Segment {
                text: chars[at..start].iter().collect(),
                mark: false,
            });
        }
        out.push(Segment {
            text: chars[start..end].iter().collect(),
            mark: true,
        });
        at = end;
    }
    if at < chars.len() {
        out.push(Segment {
            text: chars[at..].iter().collect(),
            mark: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_skip_bad_ranges() {
        let parts: Vec<_> = segments("abcdef", &[[1, 2], [0, 1], [3, 9], [4, 6]])
            .into_iter()
            .map(|s| (s.text, s.mark))
            .collect();
        assert_eq!(
            parts,
            [
                ("a".into(), false),
                ("b".into(), true),
                ("cd".into(), false),
                ("ef".into(), true)
            ]
        );
    }

    #[test]
    fn only_web_urls_become_links() {
        let hit = |url: &str| ResultHit {
            title: "t".into(),
            url: url.into(),
            snippet: String::new(),
            snippet_html: String::new(),
            highlights: vec![],
            engines: vec![],
            rank: 1,
            score: 0.0,
        };
        assert!(HitView::from(hit("https://example.org/")).href.is_some());
        assert!(HitView::from(hit("javascript:alert(1)")).href.is_none());
        assert!(HitView::from(hit("file:///etc/passwd")).href.is_none());
        assert!(HitView::from(hit("https://")).href.is_none());
        assert!(HitView::from(hit("https://exa mple.org/")).href.is_none());
        assert_eq!(
            HitView::from(hit("https://www.example.org/a")).display_url,
            "example.org/a"
        );
    }
}
