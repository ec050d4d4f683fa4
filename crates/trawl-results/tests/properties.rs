//! Properties of the pipeline over generated input: cleaning is
//! idempotent, merging does not depend on the order engines answered in,
//! nothing from the input reaches HTML or RSS as markup, and CSV and RSS
//! read back with real readers.

use proptest::prelude::*;
use trawl_api::{EngineReport, EngineStatus, ResultsResponse, SearchHit, SearchResponse};
use trawl_results::formats::{self, FeedLinks};
use trawl_results::{Pipeline, clean_url, dedup_key};

/// URL-ish text: mostly web URLs built from parts that exercise cleaning
/// (tracking names, redirect hosts, encodings, ports, slashes, fragments),
/// sometimes anything at all.
fn url() -> impl Strategy<Value = String> {
    let scheme = prop_oneof!["http", "https", "HTTP", "ftp"];
    let host = prop_oneof![
        "example.org",
        "Example.ORG",
        "www.google.com",
        "google.co.uk",
        "duckduckgo.com",
        "www.amazon.com",
        "www.youtube.com",
        "xn--bcher-kva.example",
        "[::1]",
        "127.0.0.1",
    ];
    let port = prop_oneof![
        Just(String::new()),
        Just(":80".into()),
        Just(":443".into()),
        Just(":8080".into())
    ];
    let segment = prop_oneof![
        "a",
        "b c",
        "%41",
        "..",
        ".",
        "",
        "caf\u{e9}",
        "x%2Fy",
        "l",
        "url"
    ];
    let name = prop_oneof![
        "q",
        "url",
        "uddg",
        "utm_source",
        "UTM_Medium",
        "fbclid",
        "gclid",
        "ref",
        "si",
        "v",
        "a b",
        "%75tm_x",
        "x",
        ""
    ];
    let value = prop_oneof![
        "1",
        "",
        "https%3A%2F%2Fexample.org%2Fp%3Futm_source%3Dz%26k%3D1",
        "https://example.org/a?b=c",
        "javascript:alert(1)",
        "%zz",
        "a+b",
        "\u{1F980}",
    ];
    let pair = (name, prop::option::of(value)).prop_map(|(n, v)| match v {
        Some(v) => format!("{n}={v}"),
        None => n.clone(),
    });
    let fragment = prop_oneof![
        Just(String::new()),
        Just("#top".to_owned()),
        Just("#:~:text=x".to_owned()),
        Just("#a:~:text=y".to_owned()),
        Just("#".to_owned())
    ];
    let built = (
        scheme,
        host,
        port,
        prop::collection::vec(segment, 0..4),
        prop::option::of(prop::collection::vec(pair, 0..5)),
        fragment,
    )
        .prop_map(|(scheme, host, port, segments, query, fragment)| {
            let mut url = format!("{scheme}://{host}{port}/{}", segments.join("/"));
            if let Some(pairs) = query {
                url.push('?');
                url.push_str(&pairs.join("&"));
            }
            url + &fragment
        });
    prop_oneof![8 => built, 1 => any::<String>(), 1 => "[ -~]{0,40}"]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z <>&\"'/=]{0,60}",
        Just("<script>alert(1)</script>".to_owned()),
        Just("a <b>bold</b> & \"quoted\" rust".to_owned()),
        any::<String>(),
    ]
}

fn hit() -> impl Strategy<Value = SearchHit> {
    (
        url(),
        prop_oneof!["a", "b", "c"],
        1u32..6,
        text(),
        text(),
        prop::collection::vec((0usize..80, 0usize..80), 0..3),
    )
        .prop_map(
            |(url, engine, rank, title, snippet, highlights)| SearchHit {
                title,
                url,
                snippet,
                engine: engine.clone(),
                rank,
                score: 1.0,
                highlights: highlights.into_iter().map(|(a, b)| [a, b]).collect(),
                published: None,
            },
        )
}

fn response(results: Vec<SearchHit>, query: String) -> SearchResponse {
    let report = |name: &str, weight: f64| EngineReport {
        name: name.into(),
        status: EngineStatus::Ok,
        latency_ms: 1.0,
        results: 5,
        total: None,
        error: None,
        error_kind: None,
        weight,
        dropped: 0,
    };
    SearchResponse {
        query,
        page: 1,
        per_page: 10,
        results,
        engines: vec![report("a", 1.0), report("b", 2.0), report("c", 0.5)],
        categories: Vec::new(),
    }
}

/// HTML with our own `<mark>` elements taken out.
fn without_marks(html: &str) -> String {
    html.replace("<mark>", "").replace("</mark>", "")
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof!["rust", "a b", "<script>", "caf\u{e9} bold"]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn cleaning_is_idempotent(raw in url()) {
        let once = clean_url(&raw);
        prop_assert_eq!(clean_url(&once), once.clone(), "from {:?}", raw);
        // And the key of a cleaned URL is the key of the original.
        prop_assert_eq!(dedup_key(&once), dedup_key(&raw));
    }

    #[test]
    fn merging_does_not_depend_on_the_order_engines_answered_in(
        hits in prop::collection::vec(hit(), 0..12),
        query in query(),
        seed in any::<u64>(),
    ) {
        let pipeline = Pipeline::default();
        let mut shuffled = hits.clone();
        // A deterministic shuffle from the seed (Fisher–Yates, xorshift).
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let a = pipeline.manipulate(response(hits, query.clone()));
        let b = pipeline.manipulate(response(shuffled, query));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn nothing_from_the_input_reaches_html_or_rss_as_markup(
        hits in prop::collection::vec(hit(), 0..8),
        query in query(),
    ) {
        let out = Pipeline::default().manipulate(response(hits, query));
        for result in &out.results {
            prop_assert!(!without_marks(&result.snippet_html).contains('<'), "{}", result.snippet_html);
            prop_assert!(!result.snippet_html.contains('>') || result.snippet_html.contains("mark>"));
        }
        let rss = formats::rss(&out, &links());
        // Every `<` in the feed is one of its own elements.
        let own = ["<?xml", "<rss", "</rss", "<channel", "</channel", "<item", "</item", "<title", "</title",
            "<link", "</link", "<description", "</description", "<guid", "</guid", "<category", "</category",
            "<atom:link", "<generator", "</generator", "<docs", "</docs"];
        for (at, _) in rss.match_indices('<') {
            prop_assert!(own.iter().any(|tag| rss[at..].starts_with(tag)), "markup at {}: {}", at, &rss[at..]);
        }
    }

    #[test]
    fn csv_and_rss_read_back_with_real_readers(
        hits in prop::collection::vec(hit(), 0..8),
        query in query(),
    ) {
        let out = Pipeline::default().manipulate(response(hits, query));
        check_csv(&out)?;
        let feed = feed_rs::parser::parse(formats::rss(&out, &links()).as_bytes());
        prop_assert!(feed.is_ok(), "{:?}", feed.err());
        prop_assert_eq!(feed.unwrap().entries.len(), out.results.len());
    }
}

fn links() -> FeedLinks {
    FeedLinks {
        page: "http://localhost/search?q=x".into(),
        feed: "http://localhost/v1/results?q=x&format=rss".into(),
    }
}

fn check_csv(out: &ResultsResponse) -> Result<(), TestCaseError> {
    let body = formats::csv(out);
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().unwrap();
    prop_assert_eq!(rows.len(), out.results.len());
    for (row, hit) in rows.iter().zip(&out.results) {
        let field = |i: usize, original: &str| {
            // A formula-looking field comes back with the `'` that defuses it.
            let read = &row[i];
            read == original || read.strip_prefix('\'') == Some(original)
        };
        prop_assert!(field(1, &hit.title), "{:?} vs {:?}", &row[1], hit.title);
        prop_assert!(field(2, &hit.url));
        prop_assert!(field(3, &hit.snippet));
        prop_assert_eq!(&row[4], hit.engines.join(" "));
        prop_assert!(
            !row[1].starts_with(['=', '+', '-', '@'])
                || row[1].starts_with('\'')
                || row[1].parse::<f64>().is_ok()
        );
    }
    Ok(())
}
