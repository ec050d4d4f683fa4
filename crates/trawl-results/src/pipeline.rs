//! The manipulation of a search response: clean, de-duplicate, merge,
//! rank, cut and highlight.

use std::collections::HashMap;

use trawl_api::{EngineReport, ResultHit, ResultsResponse, SearchResponse};

use crate::clean;
use crate::rules::{HostnameRules, Verdict};
use crate::text::{self, Term};

/// Longest snippet kept, in characters; longer ones are cut at a word
/// boundary and end with `…`.
pub const SNIPPET_CHARS: usize = 300;
/// Longest title kept, in characters, cut the same way.
pub const TITLE_CHARS: usize = 200;
/// Longest result URL kept, in bytes after cleaning: longer ones are
/// dropped (browsers and servers balk beyond a few kilobytes, and one
/// megabyte URL would make every format of the answer a megabyte larger).
pub const MAX_URL_BYTES: usize = 2048;

/// The results pipeline, configured: hostname rules and snippet length.
/// See `docs/results.md` for what each step does and the ranking formula.
#[derive(Debug, Clone)]
pub struct Pipeline {
    rules: HostnameRules,
    snippet_chars: usize,
    max_url_bytes: usize,
}

impl Default for Pipeline {
    fn default() -> Self {
        Self::new(HostnameRules::default(), SNIPPET_CHARS)
    }
}

/// One engine's hit for a result, before merging.
struct Occurrence {
    engine: String,
    weight: f64,
    position: u32,
    url: String,
    title: String,
    snippet: String,
    highlights: Vec<[usize; 2]>,
    published: Option<String>,
}

impl Occurrence {
    /// What this occurrence adds to its result's score.
    fn contribution(&self) -> f64 {
        self.weight / f64::from(self.position)
    }
}

/// Occurrences of one normalised URL.
struct Group {
    key: String,
    factor: f64,
    occurrences: Vec<Occurrence>,
}

/// The weight an engine's report gives it (1 when it has none).
fn weight_of(engines: &[EngineReport], engine: &str) -> f64 {
    engines
        .iter()
        .find(|e| e.name == engine)
        .map_or(1.0, |e| e.weight)
}

/// Counts one dropped hit in its engine's report.
fn count_dropped(engines: &mut [EngineReport], engine: &str) {
    if let Some(report) = engines.iter_mut().find(|e| e.name == engine) {
        report.dropped = report.dropped.saturating_add(1);
    }
}

impl Pipeline {
    /// A pipeline applying `rules`, cutting snippets to `snippet_chars`.
    pub fn new(rules: HostnameRules, snippet_chars: usize) -> Self {
        Self {
            rules,
            snippet_chars: snippet_chars.max(1),
            max_url_bytes: MAX_URL_BYTES,
        }
    }

    /// Drops results whose URL is longer than `bytes` after cleaning.
    #[must_use]
    pub fn with_max_url_bytes(mut self, bytes: usize) -> Self {
        self.max_url_bytes = bytes.max(1);
        self
    }

    /// Cleans, merges, ranks and highlights a search response.
    ///
    /// Each hit's URL is cleaned (redirects unwrapped, tracking parameters
    /// removed) and put through the hostname rules; hits with the same
    /// normalised URL merge into one result listing every engine. A result
    /// scores `n × Σ weight(e) / position(e) × factor` over the `n`
    /// engines that returned it (each at its best position), `factor`
    /// being the product of the matching boost/demote rules; results are
    /// ordered by score, then best position, then normalised URL, so the
    /// order engines answered in does not matter. Ranks are renumbered
    /// from the page's offset.
    pub fn manipulate(&self, response: SearchResponse) -> ResultsResponse {
        let _span = tracing::info_span!("pipeline", results = response.results.len()).entered();
        let terms = text::query_terms(&response.query);
        let first_rank = (response.page.max(1) - 1) * response.per_page + 1;
        let mut engines = response.engines;
        let mut groups: Vec<Group> = Vec::with_capacity(response.results.len());
        let mut seen: HashMap<String, usize> = HashMap::with_capacity(response.results.len());
        for hit in response.results {
            // No URL, or one too long to show: not a result (the engine's
            // report counts it).
            let raw = hit.url.trim();
            if raw.is_empty() || raw.len() > self.max_url_bytes.saturating_mul(4) {
                count_dropped(&mut engines, &hit.engine);
                continue;
            }
            let (key, url, factor) = match clean::parse_web(raw) {
                Some(url) => {
                    let mut url = clean::clean(url);
                    let factor = match self.rules.apply(&mut url) {
                        Verdict::Remove => continue,
                        Verdict::Keep { factor } => factor,
                    };
                    (clean::key_of(&url), String::from(url), factor)
                }
                None => {
                    let text = raw.to_owned();
                    (format!("\0{text}"), text, 1.0)
                }
            };
            if url.len() > self.max_url_bytes {
                count_dropped(&mut engines, &hit.engine);
                continue;
            }
            let occurrence = Occurrence {
                weight: weight_of(&engines, &hit.engine),
                engine: hit.engine,
                position: hit.rank.max(1),
                url,
                title: hit.title,
                snippet: hit.snippet,
                highlights: hit.highlights,
                published: hit.published,
            };
            match seen.get(&key) {
                Some(&at) => groups[at].occurrences.push(occurrence),
                None => {
                    seen.insert(key.clone(), groups.len());
                    groups.push(Group {
                        key,
                        factor,
                        occurrences: vec![occurrence],
                    });
                }
            }
        }

        let mut ranked: Vec<(f64, u32, ResultHit, String)> = groups
            .into_iter()
            .map(|group| self.merge(group, &terms))
            .collect();
        ranked.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then_with(|| a.1.cmp(&b.1))
                .then_with(|| a.3.cmp(&b.3))
        });
        let hits: Vec<ResultHit> = ranked
            .into_iter()
            .zip(first_rank..)
            .map(|((_, _, mut hit, _), rank)| {
                hit.rank = rank;
                hit
            })
            .collect();
        let next_page =
            trawl_api::wire::more_pages(&engines, response.page, response.per_page, hits.len())
                .then_some(response.page + 1);
        ResultsResponse {
            query: response.query,
            page: response.page,
            per_page: response.per_page,
            results: hits,
            engines,
            categories: response.categories,
            next_page,
        }
    }

    /// One result from a group: (score, best position, hit, key).
    fn merge(&self, mut group: Group, terms: &[Term]) -> (f64, u32, ResultHit, String) {
        // The order everything below picks in: best contribution first,
        // then by name and position, then content, so that it never
        // depends on the order hits arrived in.
        group.occurrences.sort_by(|a, b| {
            b.contribution()
                .total_cmp(&a.contribution())
                .then_with(|| a.engine.cmp(&b.engine))
                .then_with(|| a.position.cmp(&b.position))
                .then_with(|| a.url.cmp(&b.url))
                .then_with(|| a.title.cmp(&b.title))
                .then_with(|| a.snippet.cmp(&b.snippet))
        });
        let occurrences = &group.occurrences;
        let mut engines: Vec<String> = Vec::with_capacity(occurrences.len());
        let mut positions: Vec<u32> = Vec::with_capacity(occurrences.len());
        let mut sum = 0.0;
        for occurrence in occurrences {
            // Each engine counts once, at its best position (the first).
            if !engines.contains(&occurrence.engine) {
                engines.push(occurrence.engine.clone());
                positions.push(occurrence.position);
                sum += occurrence.contribution();
            }
        }
        // The first engine (in the order above) that dates it.
        let published = occurrences.iter().find_map(|o| o.published.clone());
        let score = engines.len() as f64 * sum * group.factor;
        let best_position = occurrences.iter().map(|o| o.position).min().unwrap_or(1);
        let url = occurrences
            .iter()
            .find(|o| o.url.starts_with("https://"))
            .unwrap_or(&occurrences[0])
            .url
            .clone();
        let title = occurrences
            .iter()
            .map(|o| text::clean(&o.title, &[]))
            .find(|t| t.chars > 0)
            .unwrap_or_default();
        let title = text::truncate(title, TITLE_CHARS).text;
        // The longest snippet says the most; the first of equals.
        let snippet = occurrences
            .iter()
            .map(|o| text::clean(&o.snippet, &o.highlights))
            .reduce(|best, next| if next.chars > best.chars { next } else { best })
            .unwrap_or_default();
        let mut snippet = text::truncate(snippet, self.snippet_chars);
        text::mark_terms(&mut snippet, terms);
        let highlights = snippet.ranges();
        let hit = ResultHit {
            title,
            url,
            snippet_html: text::marked_html(&snippet.text, &highlights),
            snippet: snippet.text,
            highlights,
            engines,
            positions,
            published,
            rank: 0,
            score: score as f32,
        };
        (score, best_position, hit, group.key)
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    text::escape_into(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use regex::Regex;
    use trawl_api::{EngineReport, EngineStatus, SearchHit};

    use super::*;
    use crate::rules::{Action, HostnameRule};

    fn hit(url: &str, engine: &str, rank: u32, snippet: &str) -> SearchHit {
        SearchHit {
            title: format!("  Title\n of {url} "),
            url: url.into(),
            snippet: snippet.into(),
            engine: engine.into(),
            rank,
            score: 1.0,
            highlights: vec![],
            published: None,
        }
    }

    fn report(name: &str, weight: f64) -> EngineReport {
        EngineReport {
            name: name.into(),
            status: EngineStatus::Ok,
            latency_ms: 1.0,
            results: 3,
            total: Some(25),
            error: None,
            error_kind: None,
            weight,
            dropped: 0,
        }
    }

    fn response(query: &str, results: Vec<SearchHit>) -> SearchResponse {
        SearchResponse {
            query: query.into(),
            page: 2,
            per_page: 10,
            results,
            engines: vec![report("local", 1.0), report("web", 1.0)],
            categories: Vec::new(),
        }
    }

    fn manipulate(response: SearchResponse) -> ResultsResponse {
        Pipeline::default().manipulate(response)
    }

    #[test]
    fn results_without_a_url_or_with_a_huge_one_are_dropped_and_counted() {
        let huge = format!("https://example.org/{}", "a".repeat(MAX_URL_BYTES));
        let wrapped_huge = format!("https://example.org/{}", "b".repeat(MAX_URL_BYTES * 8));
        let out = manipulate(response(
            "x",
            vec![
                hit("https://example.org/kept", "local", 11, ""),
                hit("   ", "local", 12, ""),
                hit(&huge, "web", 11, ""),
                hit(&wrapped_huge, "web", 12, ""),
                hit("file:///srv/docs/a.txt", "web", 13, ""),
            ],
        ));
        let urls: Vec<&str> = out.results.iter().map(|h| h.url.as_str()).collect();
        assert_eq!(urls, ["https://example.org/kept", "file:///srv/docs/a.txt"]);
        let dropped: Vec<u32> = out.engines.iter().map(|e| e.dropped).collect();
        assert_eq!(dropped, [1, 2]);
        // Exactly at the limit is kept.
        let at_limit = format!("https://e.org/{}", "a".repeat(MAX_URL_BYTES - 14));
        assert_eq!(at_limit.len(), MAX_URL_BYTES);
        let out = manipulate(response("x", vec![hit(&at_limit, "local", 11, "")]));
        assert_eq!(out.results.len(), 1);
    }

    #[test]
    fn a_merged_result_keeps_each_engines_position_and_the_first_date() {
        let mut dated = hit("http://example.org/a", "web", 14, "");
        dated.published = Some("2024-04-28T10:26:40Z".into());
        let out = manipulate(response(
            "x",
            vec![
                hit("https://example.org/a", "local", 11, ""),
                dated,
                hit("https://example.org/b", "web", 12, ""),
            ],
        ));
        let merged = out
            .results
            .iter()
            .find(|h| h.url == "https://example.org/a")
            .unwrap();
        assert_eq!(merged.engines, ["local", "web"]);
        assert_eq!(merged.positions, [11, 14], "in engines' order");
        assert_eq!(merged.published.as_deref(), Some("2024-04-28T10:26:40Z"));
        let alone = out
            .results
            .iter()
            .find(|h| h.url == "https://example.org/b")
            .unwrap();
        assert_eq!(
            (alone.positions.as_slice(), alone.published.as_deref()),
            (&[12][..], None)
        );
    }

    #[test]
    fn invisible_formatting_leaves_titles_and_snippets() {
        let mut h = hit(
            "https://example.org/",
            "local",
            11,
            "RTL \u{202e}gnp.exe and \u{2066}x\u{2069} z\u{200b}w",
        );
        h.title = "Invoice \u{202e}fdp.exe".into();
        let out = manipulate(response("x", vec![h]));
        assert_eq!(out.results[0].title, "Invoice fdp.exe");
        assert_eq!(out.results[0].snippet, "RTL gnp.exe and x zw");
    }

    #[test]
    fn duplicates_merge_listing_every_engine_and_prefer_https() {
        let out = manipulate(response(
            "x",
            vec![
                hit("http://example.org/a/?utm_source=x", "local", 11, ""),
                hit("https://other.org/", "local", 12, ""),
                hit("https://EXAMPLE.org/a#top", "web", 11, ""),
            ],
        ));
        let urls: Vec<_> = out
            .results
            .iter()
            .map(|h| (h.url.as_str(), h.rank, h.engines.join(",")))
            .collect();
        assert_eq!(
            urls,
            [
                ("https://example.org/a#top", 11, "local,web".into()),
                ("https://other.org/", 12, "local".into())
            ]
        );
        assert_eq!(
            out.results[0].title,
            "Title of http://example.org/a/?utm_source=x"
        );
        // 2 engines × (1/11 + 1/11)
        assert!((out.results[0].score - 4.0 / 11.0).abs() < 1e-6);
        assert_eq!(out.next_page, Some(3));
    }

    #[test]
    fn agreement_and_position_and_weight_decide_the_order() {
        let mut r = response(
            "x",
            vec![
                hit("https://solo-first.org/", "local", 1, ""),
                hit("https://both.org/", "local", 3, ""),
                hit("https://both.org/", "web", 3, ""),
                hit("https://heavy.org/", "web", 1, ""),
            ],
        );
        // both: 2 × (1/3 + 1/3) = 1.33; solo-first: 1; heavy: 1 × 3/1 = 3.
        r.engines[1].weight = 3.0;
        r.results[2].rank = 3;
        let order: Vec<_> = manipulate(r.clone())
            .results
            .into_iter()
            .map(|h| h.url)
            .collect();
        // both with web at weight 3: 2 × (1/3 + 3/3) = 2.67 < heavy 3.
        assert_eq!(
            order,
            [
                "https://heavy.org/",
                "https://both.org/",
                "https://solo-first.org/"
            ]
        );
        r.engines[1].weight = 1.0;
        let order: Vec<_> = manipulate(r).results.into_iter().map(|h| h.url).collect();
        assert_eq!(
            order,
            [
                "https://both.org/",
                "https://heavy.org/",
                "https://solo-first.org/"
            ],
            "ties (heavy and solo-first, 1.0 each) by best position, then URL"
        );
    }

    #[test]
    fn hostname_rules_remove_rewrite_and_scale() {
        let rule = |pattern: &str, action| HostnameRule {
            pattern: Regex::new(pattern).unwrap(),
            action,
        };
        let pipeline = Pipeline::new(
            HostnameRules::new(vec![
                rule(
                    r"^(www\.)?reddit\.com$",
                    Action::Rewrite("old.reddit.com".into()),
                ),
                rule(r"(^|\.)pinterest\.com$", Action::Remove),
                rule(r"(^|\.)w3schools\.com$", Action::Scale(0.1)),
                rule(r"(^|\.)wikipedia\.org$", Action::Scale(10.0)),
            ]),
            SNIPPET_CHARS,
        );
        let out = pipeline.manipulate(response(
            "x",
            vec![
                hit("https://www.w3schools.com/a", "local", 1, ""),
                hit("https://www.pinterest.com/pin", "local", 2, ""),
                hit("https://www.reddit.com/r/rust", "local", 3, ""),
                hit("https://old.reddit.com/r/rust/", "web", 4, ""),
                hit("https://en.wikipedia.org/wiki/Rust", "web", 5, ""),
            ],
        ));
        let order: Vec<_> = out
            .results
            .iter()
            .map(|h| (h.url.as_str(), h.engines.len()))
            .collect();
        assert_eq!(
            order,
            [
                ("https://en.wikipedia.org/wiki/Rust", 1),
                ("https://old.reddit.com/r/rust", 2),
                ("https://www.w3schools.com/a", 1),
            ]
        );
    }

    #[test]
    fn highlighting_escapes_first_and_marks_forms_of_terms() {
        let mut with_marks = hit(
            "https://a.org/",
            "local",
            1,
            "Creating  an\n<b>INDEX</b> & \"indexes\" concurrently in idx",
        );
        with_marks.highlights = vec![[0, 8]];
        let out = manipulate(response("create index", vec![with_marks]));
        let result = &out.results[0];
        assert_eq!(
            result.snippet,
            "Creating an <b>INDEX</b> & \"indexes\" concurrently in idx"
        );
        assert_eq!(
            result.snippet_html,
            "<mark>Creating</mark> an &lt;b&gt;<mark>INDEX</mark>&lt;/b&gt; &amp; &quot;<mark>indexes</mark>&quot; concurrently in idx"
        );
        let marked: Vec<String> = result
            .highlights
            .iter()
            .map(|[s, e]| result.snippet.chars().skip(*s).take(e - s).collect())
            .collect();
        assert_eq!(marked, ["Creating", "INDEX", "indexes"]);
    }

    #[test]
    fn the_longest_snippet_is_kept_and_cut_at_a_word_boundary() {
        let long = "Rust is a language. ".repeat(30);
        let pipeline = Pipeline::new(HostnameRules::default(), 50);
        let out = pipeline.manipulate(response(
            "rust",
            vec![
                hit("https://a.org/", "local", 1, "Rust, short"),
                hit("https://a.org/", "web", 1, &long),
            ],
        ));
        let result = &out.results[0];
        assert_eq!(
            result.snippet,
            "Rust is a language. Rust is a language. Rust is a…"
        );
        assert!(result.snippet.chars().count() <= 50);
        assert_eq!(result.highlights, [[0, 4], [20, 24], [40, 44]]);
        assert!(result.snippet_html.ends_with("is a…"));
    }

    #[test]
    fn hostile_highlights_are_ignored() {
        let mut h = hit("https://a.org/", "local", 1, "short");
        h.highlights = vec![[3, 1], [0, 99], [usize::MAX, usize::MAX]];
        let out = manipulate(response("zzz", vec![h]));
        assert!(out.results[0].highlights.is_empty());
        assert_eq!(out.results[0].snippet_html, "short");
    }

    #[test]
    fn no_more_pages_past_the_total() {
        let mut r = response("x", vec![hit("https://a.org/", "local", 1, "")]);
        r.engines[0].total = Some(20);
        r.engines[1].total = Some(20);
        assert_eq!(manipulate(r).next_page, None);
    }
}
