//! Reading what a crawl fetched: sitemaps and sitemap indexes (gzip too),
//! RSS and Atom feeds, and pages (their text through trawl-index's
//! extraction, their links, `<link rel=canonical>`, and robots
//! directives).

use std::io::Read;

use quick_xml::events::Event;
use scraper::{Html, Selector};
use sha2::{Digest, Sha256};
use url::Url;

/// What a sitemap lists: pages, or (an index) more sitemaps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sitemap {
    /// The pages a sitemap lists.
    pub pages: Vec<Url>,
    /// The sitemaps a sitemap index lists.
    pub sitemaps: Vec<Url>,
}

/// Why a sitemap, feed or dump cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The sitemap cannot be read.
    #[error("not a sitemap: {0}")]
    Sitemap(String),
    /// The feed cannot be read.
    #[error("not an RSS or Atom feed: {0}")]
    Feed(String),
    /// The gzip stream is corrupt.
    #[error("cannot decompress: {0}")]
    Gzip(String),
    /// Larger than the limit, in bytes, once decompressed.
    #[error("larger than {0} bytes once decompressed")]
    TooLarge(usize),
}

/// The body as it is, or decompressed when it is gzip (by its magic
/// bytes: a `.gz` sitemap is served as `application/gzip`, or as
/// `application/octet-stream`), at most `limit` bytes.
pub fn maybe_gunzip(body: &[u8], limit: usize) -> Result<std::borrow::Cow<'_, [u8]>, ReadError> {
    if !body.starts_with(&[0x1f, 0x8b]) {
        return Ok(std::borrow::Cow::Borrowed(body));
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ReadError::Gzip(e.to_string()))?;
    if out.len() > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Reads a sitemap (`<urlset>`) or a sitemap index (`<sitemapindex>`);
/// `<loc>`s that are not http(s) URLs are left out.
pub fn sitemap(body: &[u8]) -> Result<Sitemap, ReadError> {
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut buf = Vec::new();
    let mut found = Sitemap::default();
    let mut root: Option<String> = None;
    let mut in_loc = false;
    let mut parent_is_sitemap = false;
    let mut loc = String::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| ReadError::Sitemap(e.to_string()))?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if root.is_none() {
                    if name != "urlset" && name != "sitemapindex" {
                        return Err(ReadError::Sitemap(format!(
                            "its root element is <{name}>, not <urlset> or <sitemapindex>"
                        )));
                    }
                    root = Some(name.clone());
                }
                match name.as_str() {
                    "sitemap" => parent_is_sitemap = true,
                    "url" => parent_is_sitemap = false,
                    "loc" => {
                        in_loc = true;
                        loc.clear();
                    }
                    _ => {}
                }
            }
            Event::Text(t) if in_loc => {
                let raw = t.decode().map_err(|e| ReadError::Sitemap(e.to_string()))?;
                let text = quick_xml::escape::unescape(&raw)
                    .map_err(|e| ReadError::Sitemap(e.to_string()))?;
                loc.push_str(&text);
            }
            Event::CData(t) if in_loc => loc.push_str(&String::from_utf8_lossy(&t)),
            Event::GeneralRef(r) if in_loc => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    loc.push(c);
                } else {
                    let name = String::from_utf8_lossy(&r);
                    loc.push_str(match name.as_ref() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        _ => "",
                    });
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"loc" => {
                in_loc = false;
                if let Ok(url) = Url::parse(loc.trim())
                    && matches!(url.scheme(), "http" | "https")
                {
                    if parent_is_sitemap {
                        found.sitemaps.push(url);
                    } else {
                        found.pages.push(url);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if root.is_none() {
        return Err(ReadError::Sitemap("no XML element in it".to_owned()));
    }
    Ok(found)
}

/// The pages an RSS or Atom feed's entries link to, in the feed's order.
pub fn feed(body: &[u8], base: &Url) -> Result<Vec<Url>, ReadError> {
    let parsed = feed_rs::parser::Builder::new()
        .base_uri(Some(base.as_str()))
        .build()
        .parse(body)
        .map_err(|e| ReadError::Feed(e.to_string()))?;
    Ok(parsed
        .entries
        .iter()
        .filter_map(|entry| {
            let link = entry
                .links
                .iter()
                .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
                .or_else(|| entry.links.first())?;
            let url = base.join(&link.href).ok()?;
            matches!(url.scheme(), "http" | "https").then_some(url)
        })
        .collect())
}

/// What a crawl needs of an HTML page besides its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageMeta {
    /// `<link rel=canonical>`, resolved.
    pub canonical: Option<Url>,
    /// `<meta name=robots content=noindex>` (or `none`).
    pub noindex: bool,
    /// `<meta name=robots content=nofollow>` (or `none`).
    pub nofollow: bool,
    /// `<a href>`s, resolved, without fragments, http(s) only, not
    /// `rel=nofollow`; empty when the page says `nofollow`.
    pub links: Vec<Url>,
}

/// Reads an HTML page's canonical URL, robots directives and links
/// (`<base href>` honoured).
pub fn page_meta(html: &str, url: &Url, robots_token: &str) -> PageMeta {
    let document = Html::parse_document(html);
    let selector = |s: &str| Selector::parse(s).expect("a valid selector");
    let base = document
        .select(&selector("base[href]"))
        .next()
        .and_then(|b| b.value().attr("href"))
        .and_then(|href| url.join(href).ok())
        .unwrap_or_else(|| url.clone());
    let mut meta = PageMeta::default();
    for element in document.select(&selector("meta[name][content]")) {
        let name = element
            .value()
            .attr("name")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if name != "robots" && name != robots_token.to_ascii_lowercase() {
            continue;
        }
        let (noindex, nofollow) = directives(element.value().attr("content").unwrap_or_default());
        meta.noindex |= noindex;
        meta.nofollow |= nofollow;
    }
    meta.canonical = document
        .select(&selector("link[rel][href]"))
        .find(|l| {
            l.value().attr("rel").is_some_and(|rel| {
                rel.split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("canonical"))
            })
        })
        .and_then(|l| base.join(l.value().attr("href")?.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(without_fragment);
    if !meta.nofollow {
        for a in document.select(&selector("a[href]")) {
            let nofollow = a.value().attr("rel").is_some_and(|rel| {
                rel.split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("nofollow"))
            });
            if nofollow {
                continue;
            }
            if let Some(link) = a
                .value()
                .attr("href")
                .and_then(|href| base.join(href.trim()).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https"))
            {
                meta.links.push(without_fragment(link));
            }
        }
    }
    meta
}

/// Reads `X-Robots-Tag` for trawl: `noindex`, `nofollow`, `none`, each
/// bare or after `trawl:` (directives for other crawlers are ignored).
pub fn x_robots_tag(value: &str, robots_token: &str) -> (bool, bool) {
    let mut agent_applies = true;
    let (mut noindex, mut nofollow) = (false, false);
    for part in value.split(',') {
        let mut part = part.trim();
        if let Some((agent, rest)) = part.split_once(':')
            && !agent.contains(' ')
            && ![
                "unavailable_after",
                "max-snippet",
                "max-image-preview",
                "max-video-preview",
            ]
            .contains(&agent.trim().to_ascii_lowercase().as_str())
        {
            agent_applies = agent.trim().eq_ignore_ascii_case(robots_token);
            part = rest.trim();
        }
        if agent_applies {
            let (i, f) = directives(part);
            noindex |= i;
            nofollow |= f;
        }
    }
    (noindex, nofollow)
}

fn directives(content: &str) -> (bool, bool) {
    let (mut noindex, mut nofollow) = (false, false);
    for word in content.split([',', ' ']).map(str::trim) {
        match word.to_ascii_lowercase().as_str() {
            "noindex" => noindex = true,
            "nofollow" => nofollow = true,
            "none" => (noindex, nofollow) = (true, true),
            _ => {}
        }
    }
    (noindex, nofollow)
}

/// `url` without its `#fragment`.
pub fn without_fragment(mut url: Url) -> Url {
    url.set_fragment(None);
    url
}

/// A page's kind of text, by its media type: the kinds trawl indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// HTML: text from the markup.
    Html,
    /// Markdown: rendered, then text.
    Markdown,
    /// Plain text as it is.
    Plain,
}

impl TextKind {
    /// `None` for what trawl does not index (images, PDFs, …). Without a
    /// `Content-Type`, the URL's extension decides, else HTML.
    pub fn of(content_type: Option<&str>, url: &Url) -> Option<Self> {
        match content_type {
            Some("text/html" | "application/xhtml+xml") => Some(Self::Html),
            Some("text/markdown" | "text/x-markdown") => Some(Self::Markdown),
            Some("text/plain") => {
                let path = url.path().to_ascii_lowercase();
                Some(if path.ends_with(".md") || path.ends_with(".markdown") {
                    Self::Markdown
                } else {
                    Self::Plain
                })
            }
            Some(_) => None,
            None => {
                let path = url.path().to_ascii_lowercase();
                Some(if path.ends_with(".md") || path.ends_with(".markdown") {
                    Self::Markdown
                } else if path.ends_with(".txt") {
                    Self::Plain
                } else {
                    Self::Html
                })
            }
        }
    }
}

/// The hash that tells a page's changed text from the same text fetched
/// again.
pub fn text_hash(title: &str, body: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update((title.len() as u64).to_le_bytes());
    hasher.update(title.as_bytes());
    hasher.update(body.as_bytes());
    hasher.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sitemaps_and_their_indexes_are_read() {
        let urlset = br#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://example.org/a?x=1&amp;y=2</loc><lastmod>2026-01-01</lastmod></url>
  <url><loc> https://example.org/b </loc></url>
  <url><loc>javascript:alert(1)</loc></url>
</urlset>"#;
        let read = sitemap(urlset).unwrap();
        let pages: Vec<&str> = read.pages.iter().map(Url::as_str).collect();
        assert_eq!(
            pages,
            ["https://example.org/a?x=1&y=2", "https://example.org/b"]
        );
        let index = br#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://example.org/s1.xml.gz</loc></sitemap></sitemapindex>"#;
        let read = sitemap(index).unwrap();
        assert_eq!(read.sitemaps.len(), 1);
        assert!(read.pages.is_empty());
        assert!(sitemap(b"<html><body>no</body></html>").is_err());
        assert!(sitemap(b"").is_err());
    }

    #[test]
    fn gzip_is_opened_within_its_limit() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&vec![b'a'; 10_000]).unwrap();
        let packed = gz.finish().unwrap();
        assert_eq!(maybe_gunzip(&packed, 10_000).unwrap().len(), 10_000);
        assert_eq!(
            maybe_gunzip(&packed, 9_999).unwrap_err(),
            ReadError::TooLarge(9_999)
        );
        assert_eq!(maybe_gunzip(b"plain", 1).unwrap().as_ref(), b"plain");
    }

    #[test]
    fn feeds_give_their_entries_links() {
        let base: Url = "https://example.org/feed.xml".parse().unwrap();
        let atom = br#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x</id><updated>2026-01-01T00:00:00Z</updated>
<entry><title>One</title><id>urn:1</id><updated>2026-01-01T00:00:00Z</updated><link href="/posts/1.html"/></entry>
<entry><title>Two</title><id>urn:2</id><updated>2026-01-01T00:00:00Z</updated><link rel="alternate" href="https://example.org/posts/2.html"/></entry>
</feed>"#;
        let links: Vec<String> = feed(atom, &base)
            .unwrap()
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        assert_eq!(
            links,
            [
                "https://example.org/posts/1.html",
                "https://example.org/posts/2.html"
            ]
        );
        let rss = br#"<rss version="2.0"><channel><title>t</title><link>https://example.org/</link><description>d</description>
<item><title>A</title><link>https://example.org/a</link></item></channel></rss>"#;
        assert_eq!(feed(rss, &base).unwrap().len(), 1);
        assert!(feed(b"{}", &base).is_err());
    }

    #[test]
    fn pages_give_canonical_robots_and_links() {
        let url: Url = "https://example.org/docs/a.html".parse().unwrap();
        let html = r#"<html><head><link rel="canonical" href="/docs/b.html#top">
<meta name="ROBOTS" content="NOINDEX"></head><body>
<a href="c.html#x">c</a><a href="mailto:x@y">m</a><a rel="nofollow" href="/secret">s</a>
<a href="https://other.org/">o</a></body></html>"#;
        let meta = page_meta(html, &url, "trawl");
        assert_eq!(
            meta.canonical.unwrap().as_str(),
            "https://example.org/docs/b.html"
        );
        assert!(meta.noindex && !meta.nofollow);
        let links: Vec<&str> = meta.links.iter().map(Url::as_str).collect();
        assert_eq!(
            links,
            ["https://example.org/docs/c.html", "https://other.org/"]
        );
        let none = page_meta(
            r#"<meta name="trawl" content="none"><a href="/x">x</a>"#,
            &url,
            "trawl",
        );
        assert!(none.noindex && none.nofollow && none.links.is_empty());
    }

    #[test]
    fn x_robots_tag_applies_bare_and_to_trawl_only() {
        assert_eq!(x_robots_tag("noindex", "trawl"), (true, false));
        assert_eq!(x_robots_tag("googlebot: noindex", "trawl"), (false, false));
        assert_eq!(x_robots_tag("trawl: none", "trawl"), (true, true));
        assert_eq!(
            x_robots_tag("max-snippet: 20, noindex", "trawl"),
            (true, false)
        );
    }
}
