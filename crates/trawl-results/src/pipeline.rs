use std::collections::HashMap;

use trawl_api::{ResultHit, ResultsResponse, SearchHit, SearchResponse};
use url::Url;

/// Query terms shorter than this are not highlighted on their own.
const MIN_TERM_CHARS: usize = 2;
/// How many trailing characters may differ between a query term and a word
/// for the word still to count as a form of the term (`index`/`indexes`).
const MAX_SUFFIX_CHARS: usize = 3;

/// Cleans, de-duplicates and highlights a search response.
///
/// Results keep the order they arrived in; a result whose normalised URL was
/// already seen is folded into the first one (its engine added to the list,
/// its `https` URL preferred). Ranks are renumbered from the page's offset.
pub fn manipulate(response: SearchResponse) -> ResultsResponse {
    let terms = query_terms(&response.query);
    let first_rank = (response.page.max(1) - 1) * response.per_page + 1;
    let mut hits: Vec<ResultHit> = Vec::with_capacity(response.results.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for hit in response.results {
        let key = normalize_url(&hit.url).unwrap_or_else(|| hit.url.trim().to_owned());
        if let Some(&existing) = seen.get(&key) {
            let kept = &mut hits[existing];
            if !kept.engines.contains(&hit.engine) {
                kept.engines.push(hit.engine);
            }
            if kept.url.starts_with("http://") && hit.url.starts_with("https://") {
                kept.url = hit.url;
            }
            continue;
        }
        seen.insert(key, hits.len());
        hits.push(clean_hit(hit, &terms));
    }
    for (hit, rank) in hits.iter_mut().zip(first_rank..) {
        hit.rank = rank;
    }
    let next_page = trawl_api::wire::more_pages(
        &response.engines,
        response.page,
        response.per_page,
        hits.len(),
    )
    .then_some(response.page + 1);
    ResultsResponse {
        query: response.query,
        page: response.page,
        per_page: response.per_page,
        results: hits,
        engines: response.engines,
        next_page,
    }
}

fn clean_hit(hit: SearchHit, terms: &[String]) -> ResultHit {
    let (snippet, marks) = clean_marked(&hit.snippet, &hit.highlights);
    let marks = mark_terms(&snippet, marks, terms);
    let highlights = ranges(&marks);
    ResultHit {
        title: clean_marked(&hit.title, &[]).0,
        url: hit.url.trim().to_owned(),
        snippet_html: marked_html(&snippet, &highlights),
        snippet,
        highlights,
        engines: vec![hit.engine],
        rank: hit.rank,
        score: hit.score,
    }
}

/// Normalises a URL for de-duplication: scheme and host lower-cased (the
/// `url` crate does this), default port dropped, fragment dropped, trailing
/// slash of the path dropped, and `http`/`https` treated alike. `None` for
/// text that is not an absolute URL.
pub fn normalize_url(raw: &str) -> Option<String> {
    let mut url = Url::parse(raw.trim()).ok()?;
    url.set_fragment(None);
    if url.scheme() == "http" {
        // The same page over http and https is one result.
        let _ = url.set_scheme("https");
        if url.port() == Some(443) {
            let _ = url.set_port(None);
        }
    }
    if url.path().len() > 1 && url.path().ends_with('/') {
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    Some(url.to_string())
}

/// Lower-cased words of the query, each once, longest first so a longer
/// term wins where two overlap.
fn query_terms(query: &str) -> Vec<String> {
    let mut terms: Vec<String> = words(query)
        .map(|(_, word)| word.to_lowercase())
        .filter(|word| word.chars().count() >= MIN_TERM_CHARS)
        .collect();
    terms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    terms.dedup();
    terms
}

/// Maximal runs of alphanumeric characters, with their char offset.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (char offset, byte offset)
    for (chars, (byte, c)) in text.char_indices().enumerate() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some((chars, byte)),
            (false, Some((offset, begin))) => {
                out.push((offset, &text[begin..byte]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some((offset, begin)) = start {
        out.push((offset, &text[begin..]));
    }
    out.into_iter()
}

fn is_form_of(word: &str, term: &str) -> bool {
    if word == term {
        return true;
    }
    let (short, long) = if word.len() < term.len() {
        (word, term)
    } else {
        (term, word)
    };
    short.chars().count() >= 3
        && long.starts_with(short)
        && long.chars().count() - short.chars().count() <= MAX_SUFFIX_CHARS
}

/// Collapses whitespace runs to one space, trims, and drops control
/// characters, carrying a per-character mark through the change.
fn clean_marked(text: &str, highlights: &[[usize; 2]]) -> (String, Vec<bool>) {
    let chars: Vec<char> = text.chars().collect();
    let mut marked = vec![false; chars.len()];
    for &[start, end] in highlights {
        if start < end && end <= chars.len() {
            marked[start..end].iter_mut().for_each(|m| *m = true);
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut marks = Vec::with_capacity(chars.len());
    let mut pending_space = false;
    for (c, mark) in chars.into_iter().zip(marked) {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if c.is_control() {
            continue;
        }
        if pending_space {
            out.push(' ');
            // A space between two marked characters stays inside the mark.
            marks.push(mark && marks.last() == Some(&true));
            pending_space = false;
        }
        out.push(c);
        marks.push(mark);
    }
    (out, marks)
}

fn mark_terms(text: &str, mut marks: Vec<bool>, terms: &[String]) -> Vec<bool> {
    if terms.is_empty() {
        return marks;
    }
    for (offset, word) in words(text) {
        let lower = word.to_lowercase();
        if terms.iter().any(|term| is_form_of(&lower, term)) {
            let len = word.chars().count();
            marks[offset..offset + len]
                .iter_mut()
                .for_each(|m| *m = true);
        }
    }
    marks
}

fn ranges(marks: &[bool]) -> Vec<[usize; 2]> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &mark) in marks.iter().chain(std::iter::once(&false)).enumerate() {
        match (mark, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push([s, i]);
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn marked_html(text: &str, highlights: &[[usize; 2]]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut html = String::with_capacity(text.len() + highlights.len() * 13);
    let mut at = 0;
    for &[start, end] in highlights {
        html.push_str(&escape_html(&chars[at..start].iter().collect::<String>()));
        html.push_str("<mark>");
        html.push_str(&escape_html(&chars[start..end].iter().collect::<String>()));
        html.push_str("</mark>");
        at = end;
    }
    html.push_str(&escape_html(&chars[at..].iter().collect::<String>()));
    html
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use trawl_api::{EngineReport, EngineStatus};

    use super::*;

    fn hit(url: &str, engine: &str, snippet: &str) -> SearchHit {
        SearchHit {
            title: format!("  Title\n of {url} "),
            url: url.into(),
            snippet: snippet.into(),
            engine: engine.into(),
            rank: 0,
            score: 1.0,
            highlights: vec![],
        }
    }

    fn response(query: &str, results: Vec<SearchHit>) -> SearchResponse {
        SearchResponse {
            query: query.into(),
            page: 2,
            per_page: 10,
            results,
            engines: vec![EngineReport {
                name: "local".into(),
                status: EngineStatus::Ok,
                latency_ms: 1.0,
                results: 3,
                total: Some(25),
                error: None,
                error_kind: None,
            }],
        }
    }

    #[test]
    fn normalisation() {
        let same = [
            "https://Example.ORG/a/b",
            "https://example.org:443/a/b/",
            "http://example.org/a/b#frag",
            "HTTP://EXAMPLE.org:80/a/b?",
        ];
        for url in same {
            assert_eq!(
                normalize_url(url).as_deref(),
                Some("https://example.org/a/b"),
                "{url}"
            );
        }
        assert_ne!(
            normalize_url("https://example.org/a?x=1"),
            normalize_url("https://example.org/a?x=2")
        );
        assert_ne!(
            normalize_url("https://example.org:8443/a"),
            normalize_url("https://example.org/a")
        );
        assert_eq!(
            normalize_url("https://example.org/").as_deref(),
            Some("https://example.org/")
        );
        assert_eq!(normalize_url("not a url"), None);
    }

    #[test]
    fn duplicates_fold_into_the_first_and_ranks_follow_the_page() {
        let out = manipulate(response(
            "x",
            vec![
                hit("http://example.org/a/", "local", ""),
                hit("https://other.org/", "local", ""),
                hit("https://EXAMPLE.org/a#top", "web", ""),
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
                ("https://EXAMPLE.org/a#top", 11, "local,web".into()),
                ("https://other.org/", 12, "local".into())
            ]
        );
        assert_eq!(out.results[0].title, "Title of http://example.org/a/");
        assert_eq!(out.next_page, Some(3));
    }

    #[test]
    fn highlighting_escapes_first_and_marks_forms_of_terms() {
        let mut with_marks = hit(
            "https://a.org/",
            "local",
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
    fn hostile_highlights_are_ignored() {
        let mut h = hit("https://a.org/", "local", "short");
        h.highlights = vec![[3, 1], [0, 99], [usize::MAX, usize::MAX]];
        let out = manipulate(response("zzz", vec![h]));
        assert!(out.results[0].highlights.is_empty());
        assert_eq!(out.results[0].snippet_html, "short");
    }

    #[test]
    fn no_more_pages_past_the_total() {
        let mut r = response("x", vec![hit("https://a.org/", "local", "")]);
        r.engines[0].total = Some(20);
        assert_eq!(manipulate(r).next_page, None);
    }
}
