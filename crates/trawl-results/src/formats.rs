//! Results as CSV and RSS 2.0 (JSON is serde's; the HTML page is the web
//! service's). Used by the results service and the web service's API alike.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use trawl_api::{Format, ResultsResponse, SearchRequest};

use crate::clean::parse_web;

/// The columns of a CSV answer, in order.
pub const CSV_COLUMNS: &[&str] = &["rank", "title", "url", "snippet", "engines", "score"];

/// RFC 4180 CSV: a header row ([`CSV_COLUMNS`]), one row per result,
/// fields quoted where needed, CRLF line ends; `engines` separated by
/// spaces. A field that a spreadsheet would run as a formula (starting
/// with `=`, `+`, `-`, `@`, tab or carriage return) is prefixed with `'`:
/// titles and snippets come from upstream and must not execute.
pub fn csv(response: &ResultsResponse) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(256 + response.results.len() * 512));
    let mut row = |fields: &[&str]| {
        let fields = fields.iter().map(|f| defuse(f).into_owned());
        // Writing into a Vec cannot fail.
        writer.write_record(fields).expect("writing to memory");
    };
    row(CSV_COLUMNS);
    for hit in &response.results {
        row(&[
            &hit.rank.to_string(),
            &hit.title,
            &hit.url,
            &hit.snippet,
            &hit.engines.join(" "),
            &format!("{:.6}", hit.score),
        ]);
    }
    let bytes = writer.into_inner().expect("writing to memory");
    String::from_utf8(bytes).expect("UTF-8 in, UTF-8 out")
}

/// `field`, prefixed with `'` when a spreadsheet would run it as a
/// formula (it starts with `=`, `+`, `-`, `@`, tab or carriage return and
/// is not a number).
pub fn defuse(field: &str) -> std::borrow::Cow<'_, str> {
    match field.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') if field.parse::<f64>().is_err() => {
            format!("'{field}").into()
        }
        _ => field.into(),
    }
}

/// Where a feed points: the HTML page of the same search, and the feed
/// itself.
#[derive(Debug, Clone)]
pub struct FeedLinks {
    /// The results page's URL.
    pub page: String,
    /// The feed's own URL.
    pub feed: String,
}

impl FeedLinks {
    /// Links on `origin` (scheme, host and any path prefix, as
    /// [`trawl_service::client`] decided it from the configured public URL,
    /// a trusted proxy's headers or the address the client connected to —
    /// never from an unchecked `Host`), the page being its `/search` with
    /// the same request and the feed `path_and_query` on it.
    pub fn new(origin: &str, path_and_query: &str, request: &SearchRequest) -> Self {
        let origin = origin.trim_end_matches('/');
        Self {
            page: format!("{origin}/search?{}", request.to_query_string()),
            feed: format!("{origin}{path_and_query}"),
        }
    }
}

/// An RSS 2.0 document: a channel for the search (its title, the page as
/// its link, the query as its description) with one item per result —
/// title, link and `guid` (the URL), description (the highlighted
/// snippet as escaped HTML), and a `category` per engine.
pub fn rss(response: &ResultsResponse, links: &FeedLinks) -> String {
    let mut out = String::with_capacity(1024 + response.results.len() * 768);
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    out.push_str("\n<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n");
    element(&mut out, "title", &format!("{} – trawl", response.query));
    element(&mut out, "link", &links.page);
    element(
        &mut out,
        "description",
        &format!(
            "Search results for “{}”, page {}",
            response.query, response.page
        ),
    );
    out.push_str("<atom:link href=\"");
    xml_escape_into(&mut out, &links.feed);
    out.push_str("\" rel=\"self\" type=\"application/rss+xml\"/>\n");
    element(
        &mut out,
        "generator",
        concat!("trawl ", env!("CARGO_PKG_VERSION")),
    );
    element(
        &mut out,
        "docs",
        "https://www.rssboard.org/rss-specification",
    );
    for hit in &response.results {
        out.push_str("<item>\n");
        element(
            &mut out,
            "title",
            if hit.title.is_empty() {
                &hit.url
            } else {
                &hit.title
            },
        );
        let is_link = parse_web(&hit.url).is_some();
        if is_link {
            element(&mut out, "link", &hit.url);
        }
        // The description is HTML, escaped once more to be XML text: the
        // snippet's own `<` arrives as `&amp;lt;`, never as markup.
        element(&mut out, "description", &hit.snippet_html);
        out.push_str(if is_link {
            "<guid isPermaLink=\"true\">"
        } else {
            "<guid isPermaLink=\"false\">"
        });
        xml_escape_into(&mut out, &hit.url);
        out.push_str("</guid>\n");
        for engine in &hit.engines {
            element(&mut out, "category", engine);
        }
        out.push_str("</item>\n");
    }
    out.push_str("</channel>\n</rss>\n");
    out
}

fn element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    xml_escape_into(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push_str(">\n");
}

/// `text` escaped for XML text and attribute values, without the
/// characters XML 1.0 cannot carry: as the RSS feed writes it, and the web
/// service's OpenSearch description too.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    xml_escape_into(&mut out, text);
    out
}

/// Escapes XML text and attribute values, dropping the characters XML 1.0
/// cannot carry at all (most C0 controls, U+FFFE, U+FFFF).
fn xml_escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

/// The answer in `format` (one of [`Format::DATA`]; HTML pages are the web
/// service's and come out as JSON here).
pub fn respond(
    format: Format,
    response: &ResultsResponse,
    links: impl FnOnce() -> FeedLinks,
) -> Response {
    let (body, content_type) = match format {
        Format::Csv => (csv(response), Format::Csv.content_type()),
        Format::Rss => (rss(response, &links()), Format::Rss.content_type()),
        Format::Json | Format::Html => return axum::Json(response).into_response(),
    };
    let mut answer = body.into_response();
    answer
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    answer
}
