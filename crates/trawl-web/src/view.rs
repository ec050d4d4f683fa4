//! What the page template shows, derived from the wire types. Everything
//! here is plain text; the template escapes it.

use askama::Template;
use trawl_api::params::{SearchParams, encode_component};
use trawl_api::{EngineStatus, Problem, ResultHit, ResultsResponse, SearchRequest};

/// Everything a page shows. Rendered whole ([`Full`]) or, for a results
/// page streamed while the engines work, as [`Top`] (head, form, progress)
/// then [`Bottom`] (results, footer).
pub(crate) struct Page {
    /// `home`, `results`, `error` or `preferences`: the body's class.
    pub kind: &'static str,
    pub query: String,
    pub query_encoded: String,
    pub title: String,
    /// Links to this search as JSON, CSV and RSS (only for a valid query).
    pub feeds: bool,
    /// The preferred theme, when not the system's.
    pub theme: Option<&'static str>,
    /// Result links open a new tab.
    pub new_tab: bool,
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
    /// Said above everything else: unknown bangs, a saved preference.
    pub notices: Vec<String>,
    /// The engines being asked, while they are (a streamed page's top).
    pub progress: Option<Vec<ProgressView>>,
    pub error: Option<ErrorView>,
    /// The home page's account of what is searched.
    pub about: Option<AboutView>,
    pub prefs: Option<crate::PrefsView>,
    pub results: Option<ResultsView>,
}

#[derive(Template)]
#[template(path = "page.html")]
pub(crate) struct Full<'a> {
    pub p: &'a Page,
}

#[derive(Template)]
#[template(path = "top.html")]
pub(crate) struct Top<'a> {
    pub p: &'a Page,
}

#[derive(Template)]
#[template(path = "bottom.html")]
pub(crate) struct Bottom<'a> {
    pub p: &'a Page,
}

/// An engine being asked.
pub(crate) struct ProgressView {
    pub name: String,
    /// How long it may take, e.g. `3.0 s`.
    pub timeout: String,
}

/// What the home page says is searched.
pub(crate) struct AboutView {
    pub summary: String,
    pub engines: Vec<String>,
}

impl AboutView {
    pub(crate) fn new(engines: &[trawl_api::EngineInfo]) -> Option<Self> {
        let on: Vec<&trawl_api::EngineInfo> = engines.iter().filter(|e| e.enabled).collect();
        if on.is_empty() {
            return None;
        }
        let documents: u64 = on.iter().filter_map(|e| e.documents).sum();
        let local = on.iter().filter(|e| e.documents.is_some()).count();
        let upstream = on.len() - local;
        let mut parts = Vec::new();
        if local > 0 {
            parts.push(format!(
                "{} {} in the local index",
                thousands(documents),
                if documents == 1 {
                    "document"
                } else {
                    "documents"
                }
            ));
        }
        if upstream > 0 {
            parts.push(format!(
                "{upstream} web {}",
                if upstream == 1 { "engine" } else { "engines" }
            ));
        }
        Some(Self {
            summary: format!("Searches {}:", parts.join(" and ")),
            engines: on
                .iter()
                .map(|e| match e.documents {
                    Some(n) => format!("{} · {}", e.name, thousands(n)),
                    None => e.name.clone(),
                })
                .collect(),
        })
    }
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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

pub(crate) const TIME_RANGES: &[(&str, &str)] = &[
    ("", "Any time"),
    ("day", "Past day"),
    ("week", "Past week"),
    ("month", "Past month"),
    ("year", "Past year"),
];

/// Longest query shown in a page's title.
const TITLE_QUERY_CHARS: usize = 80;

impl Page {
    /// `form` holds the parameters the form is pre-filled with (besides
    /// the query, which the caller may have cleaned).
    pub(crate) fn new(kind: &'static str, query: String, form: &SearchParams) -> Self {
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
            // A value too long to be valid is not carried along.
            (!value.is_empty() && value.len() <= 512).then(|| (name, value.to_owned()))
        })
        .collect();
        let title = if kind == "preferences" {
            "Preferences – trawl".to_owned()
        } else if query.is_empty() {
            "trawl".to_owned()
        } else {
            match query.char_indices().nth(TITLE_QUERY_CHARS) {
                Some((cut, _)) => format!("{}… – trawl", &query[..cut]),
                None => format!("{query} – trawl"),
            }
        };
        Self {
            kind,
            query_encoded: encode_component(&query),
            query,
            title,
            feeds: false,
            theme: None,
            new_tab: false,
            version: env!("CARGO_PKG_VERSION"),
            time_ranges: TIME_RANGES,
            time_range: form.time_range.clone().unwrap_or_default(),
            hidden,
            tabs: Vec::new(),
            notices: Vec::new(),
            progress: None,
            error: None,
            about: None,
            prefs: None,
            results: None,
        }
    }

    pub(crate) fn with_prefs(mut self, prefs: &crate::prefs::Prefs) -> Self {
        self.theme = prefs.theme.attribute();
        self.new_tab = prefs.new_tab;
        self
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
    /// Which results these are: `Results 11–20`.
    pub summary: String,
    /// The engines' own totals, added up: an estimate, said to be one.
    pub estimate: Option<String>,
    /// How the engines fared, in a line: `3 engines answered in 212 ms`.
    pub engines_summary: String,
    /// Engines that failed or timed out.
    pub failed: usize,
    pub engines: Vec<EngineView>,
    pub hits: Vec<HitView>,
    pub first_rank: u32,
    pub page: u32,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
    pub first_href: String,
    /// Numbered links around this page, `(number, href)`.
    pub pages: Vec<(u32, String)>,
    /// Said when a time range is chosen: undated documents cannot match.
    pub time_note: Option<String>,
    /// The same search at any time.
    pub any_time_href: String,
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

/// Numbered page links shown before the current page.
const PAGES_BEFORE: u32 = 4;

impl ResultsView {
    pub(crate) fn new(request: &SearchRequest, response: ResultsResponse) -> Self {
        let href = |page: u32, time_range: bool| {
            let mut href = format!("/search?q={}", encode_component(request.query.as_str()));
            if page > 1 {
                href.push_str(&format!("&page={page}"));
            }
            if request.per_page != trawl_api::params::DEFAULT_PER_PAGE {
                href.push_str(&format!("&per_page={}", request.per_page));
            }
            let request = SearchRequest {
                time_range: if time_range { request.time_range } else { None },
                ..request.clone()
            };
            let mut options = request.options_query_string();
            if !time_range {
                // The form's "Any time", so that a preference does not
                // put the range back.
                options.push_str("&time_range=");
            }
            href.push_str(&options);
            href
        };
        let page_href = |page: u32| href(page, true);
        // Engines' totals overlap (one page is found by several) and are
        // estimates themselves: added up (without overflowing), they are
        // only an order of magnitude, and said to be.
        let totals: Vec<u64> = response.engines.iter().filter_map(|e| e.total).collect();
        let total = totals.iter().fold(0u64, |sum, t| sum.saturating_add(*t));
        let first_rank = response.results.first().map_or(1, |h| h.rank);
        let shown = response.results.len() as u32;
        let summary = match shown {
            0 => String::new(),
            1 => format!("Result {first_rank}"),
            n => format!("Results {first_rank}–{}", first_rank + n - 1),
        };
        let estimate = (!totals.is_empty() && shown > 0).then(|| match total {
            1 => "the engines report 1 match".to_owned(),
            n => format!("the engines estimate about {} matches", thousands(n)),
        });
        let failed = response
            .engines
            .iter()
            .filter(|e| matches!(e.status, EngineStatus::Error | EngineStatus::Timeout))
            .count();
        let answered = response
            .engines
            .iter()
            .filter(|e| e.status == EngineStatus::Ok)
            .count();
        let slowest = response
            .engines
            .iter()
            .filter(|e| e.status == EngineStatus::Ok)
            .map(|e| e.latency_ms)
            .fold(0.0f64, f64::max);
        let asked = response.engines.len();
        let engines_summary = if answered == asked {
            format!(
                "{asked} {} answered in {}",
                if asked == 1 { "engine" } else { "engines" },
                millis(slowest)
            )
        } else {
            format!(
                "{answered} of {asked} engines answered; {} did not",
                asked - answered
            )
        };
        let words = query_words(request.query.as_str());
        let pages = (response.page.saturating_sub(PAGES_BEFORE).max(1)..=response.page)
            .chain(response.next_page)
            .map(|n| (n, page_href(n)))
            .collect::<Vec<_>>();
        Self {
            summary,
            estimate,
            engines_summary,
            failed,
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
                    latency: millis(e.latency_ms),
                    name: e.name,
                    results: e.results,
                    error: e.error,
                })
                .collect(),
            first_rank,
            hits: response
                .results
                .into_iter()
                .map(|hit| HitView::new(hit, &words))
                .collect(),
            page: response.page,
            prev_href: (response.page > 1).then(|| page_href(response.page - 1)),
            next_href: response.next_page.map(page_href),
            first_href: page_href(1),
            pages: if pages.len() > 1 { pages } else { Vec::new() },
            time_note: request.time_range.map(|_| {
                "A time range keeps only documents that carry a date: undated ones \
                 (many pages of the local index) are left out."
                    .to_owned()
            }),
            any_time_href: href(1, false),
        }
    }
}

/// `12.3 ms`, or `1.2 s` from a second on.
fn millis(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

/// The query's words, lower-cased, for marking: operators and bangs are
/// not words.
fn query_words(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether a marked stretch of a snippet is one of the query's words as
/// typed (any case), or its plural: the engines mark every stemmed form
/// ("created", "concurrency" for "create … concurrently"), which reads as
/// noise.
fn is_query_word(marked: &str, words: &[String]) -> bool {
    let marked = marked.to_lowercase();
    words.iter().any(|w| {
        marked == *w
            || marked.strip_suffix('s').is_some_and(|m| m == w)
            || marked.strip_suffix("es").is_some_and(|m| m == w)
            || w.strip_suffix('s').is_some_and(|w| w == marked)
    })
}

/// A marked stretch (a word, or a phrase the engine marked whole) split
/// into its words, each marked only if it is one of the query's.
fn marked_words(text: &str, words: &[String]) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut push = |text: &str, mark: bool| match out.last_mut() {
        Some(last) if last.mark == mark && !mark => last.text.push_str(text),
        _ => out.push(Segment {
            text: text.to_owned(),
            mark,
        }),
    };
    let mut rest = text;
    while !rest.is_empty() {
        let word_len = rest
            .find(|c: char| !c.is_alphanumeric())
            .unwrap_or(rest.len());
        if word_len > 0 {
            let word = &rest[..word_len];
            push(word, is_query_word(word, words));
            rest = &rest[word_len..];
        } else {
            let gap = rest.find(char::is_alphanumeric).unwrap_or(rest.len());
            push(&rest[..gap], false);
            rest = &rest[gap..];
        }
    }
    out
}

impl HitView {
    fn new(hit: ResultHit, words: &[String]) -> Self {
        // Only what parses as an absolute http(s) URL with a host is a link.
        let followable = url::Url::parse(&hit.url)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some());
        let snippet = segments(&hit.snippet, &hit.highlights)
            .into_iter()
            .flat_map(|segment| {
                if segment.mark {
                    marked_words(&segment.text, words)
                } else {
                    vec![segment]
                }
            })
            .collect();
        Self {
            display_url: display_url(&hit.url),
            href: followable.then(|| hit.url.clone()),
            snippet,
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
    fn only_the_query_words_are_marked() {
        let words = query_words("Create index concurrently");
        let hit = ResultHit {
            title: "t".into(),
            url: "https://example.org/".into(),
            snippet: "created indexes concurrently; concurrency CREATE INDEX".into(),
            snippet_html: String::new(),
            highlights: vec![[0, 7], [8, 15], [16, 28], [30, 41], [42, 54]],
            engines: vec![],
            positions: vec![],
            published: None,
            rank: 1,
            score: 0.0,
        };
        let marked: Vec<String> = HitView::new(hit, &words)
            .snippet
            .into_iter()
            .filter(|s| s.mark)
            .map(|s| s.text)
            .collect();
        assert_eq!(marked, ["indexes", "concurrently", "CREATE", "INDEX"]);
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
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
            positions: vec![],
            published: None,
            rank: 1,
            score: 0.0,
        };
        assert!(
            HitView::new(hit("https://example.org/"), &[])
                .href
                .is_some()
        );
        assert!(HitView::new(hit("javascript:alert(1)"), &[]).href.is_none());
        assert!(HitView::new(hit("file:///etc/passwd"), &[]).href.is_none());
        assert!(HitView::new(hit("https://"), &[]).href.is_none());
        assert!(
            HitView::new(hit("https://exa mple.org/"), &[])
                .href
                .is_none()
        );
        assert_eq!(
            HitView::new(hit("https://www.example.org/a"), &[]).display_url,
            "example.org/a"
        );
    }
}
