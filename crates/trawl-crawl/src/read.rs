//! Reading what a crawl fetched: sitemaps and sitemap indexes (gzip too),
//! RSS and Atom feeds, and pages (their text through trawl-index's
//! extraction, their links, `<link rel=canonical>`, and robots
//! directives).
//!
//! Sitemaps, feeds and dumps are read as they stream in ([`sitemap_each`],
//! [`feed_each`], [`lines_each`] over [`body`]): each thing found is handed
//! to the caller, which keeps what it can still take and stops the reading
//! when it has enough. What a reader holds is bounded whatever the
//! document: one XML event (at most [`MAX_EVENT_BYTES`] read for it), or
//! one line.

use std::io::{BufRead, Read};

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

/// Most bytes read for one XML event (a tag, a text, a comment, a CDATA
/// section): what bounds the memory of the reader, whatever the document.
/// A sitemap's `<loc>` holds at most 2,048 characters.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// What a sitemap lists, one at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// A page (`<urlset><url><loc>`).
    Page(Url),
    /// A sitemap (`<sitemapindex><sitemap><loc>`).
    Sitemap(Url),
}

/// A body as it is, or gunzipped when it is gzip (by its magic bytes),
/// at most `limit` bytes once opened: a reader for [`sitemap_each`],
/// [`feed_each`] and [`lines_each`].
pub fn body(mut reader: impl Read + Send + 'static, limit: usize) -> Box<dyn BufRead + Send> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Box::new(std::io::BufReader::new(Failing(Some(e))));
            }
        }
    }
    let whole = std::io::Cursor::new(head[..got].to_vec()).chain(reader);
    if head[..got] == [0x1f, 0x8b] {
        let opened = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(whole));
        Box::new(std::io::BufReader::new(Limited::new(opened, limit)))
    } else {
        Box::new(std::io::BufReader::new(Limited::new(whole, limit)))
    }
}

/// A reader that fails once with its error.
struct Failing(Option<std::io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}

/// What [`Limited`] fails with past its limit.
#[derive(Debug)]
struct OverLimit(usize);

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "larger than {} bytes once decompressed", self.0)
    }
}

impl std::error::Error for OverLimit {}

/// At most `limit` bytes of `inner`; then an error.
struct Limited<R> {
    inner: R,
    read: usize,
    limit: usize,
}

impl<R> Limited<R> {
    fn new(inner: R, limit: usize) -> Self {
        Self {
            inner,
            read: 0,
            limit,
        }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read = self.read.saturating_add(n);
        if self.read > self.limit {
            return Err(std::io::Error::other(OverLimit(self.limit)));
        }
        Ok(n)
    }
}

/// Fails when more than [`MAX_EVENT_BYTES`] are read since the parser last
/// finished an event (the parser sets the shared count back to 0 after
/// each one).
struct EventBudget<R> {
    inner: R,
    read: std::rc::Rc<std::cell::Cell<usize>>,
}

impl<R> EventBudget<R> {
    fn new(inner: R) -> (Self, std::rc::Rc<std::cell::Cell<usize>>) {
        let read = std::rc::Rc::new(std::cell::Cell::new(0));
        (
            Self {
                inner,
                read: read.clone(),
            },
            read,
        )
    }
}

impl<R: Read> Read for EventBudget<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = self.read.get().saturating_add(n);
        self.read.set(read);
        if read > MAX_EVENT_BYTES {
            return Err(std::io::Error::other(format!(
                "an XML element, text or comment of more than {MAX_EVENT_BYTES} bytes"
            )));
        }
        Ok(n)
    }
}

/// An I/O error of a reader as a [`ReadError`] (`what` makes the others).
fn io_error(error: &quick_xml::Error, what: fn(String) -> ReadError) -> ReadError {
    if let quick_xml::Error::Io(io) = error {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(io.as_ref());
        while let Some(e) = source {
            if let Some(OverLimit(limit)) = e.downcast_ref::<OverLimit>() {
                return ReadError::TooLarge(*limit);
            }
            source = e.source();
        }
    }
    what(error.to_string())
}

/// Reads a sitemap (`<urlset>`) or a sitemap index (`<sitemapindex>`);
/// `<loc>`s that are not http(s) URLs are left out.
pub fn sitemap(body: &[u8]) -> Result<Sitemap, ReadError> {
    let mut found = Sitemap::default();
    sitemap_each(body, &mut |listed| {
        match listed {
            Listed::Page(url) => found.pages.push(url),
            Listed::Sitemap(url) => found.sitemaps.push(url),
        }
        true
    })?;
    Ok(found)
}

/// Reads a sitemap or sitemap index as it comes, handing each `<loc>` to
/// `each`, which returns whether to go on.
pub fn sitemap_each(
    body: impl BufRead,
    each: &mut dyn FnMut(Listed) -> bool,
) -> Result<(), ReadError> {
    let (budget, spent) = EventBudget::new(body);
    let mut reader = quick_xml::Reader::from_reader(std::io::BufReader::new(budget));
    let mut buf = Vec::new();
    let mut root: Option<String> = None;
    let mut in_loc = false;
    let mut parent_is_sitemap = false;
    let mut loc = String::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| io_error(&e, ReadError::Sitemap))?;
        spent.set(0);
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
                    let go_on = each(if parent_is_sitemap {
                        Listed::Sitemap(url)
                    } else {
                        Listed::Page(url)
                    });
                    if !go_on {
                        return Ok(());
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
        // A `<loc>` is a URL, not a book.
        if loc.len() > MAX_LOC_BYTES {
            return Err(ReadError::Sitemap(format!(
                "a <loc> longer than {MAX_LOC_BYTES} bytes"
            )));
        }
    }
    if root.is_none() {
        return Err(ReadError::Sitemap("no XML element in it".to_owned()));
    }
    Ok(())
}

/// Longest `<loc>` read (the protocol allows 2,048 characters).
const MAX_LOC_BYTES: usize = 8 * 1024;

/// The pages an RSS or Atom feed's entries link to, in the feed's order.
pub fn feed(body: &[u8], base: &Url) -> Result<Vec<Url>, ReadError> {
    let mut links = Vec::new();
    feed_each(body, base, &mut |url| {
        links.push(url);
        true
    })?;
    Ok(links)
}

/// Reads an RSS (0.9x, 1.0, 2.0) or Atom feed as it comes, handing each
/// entry's link to `each` (which returns whether to go on): an Atom
/// entry's `alternate` link (else its first), an RSS item's `<link>`, else
/// its `<guid>` when that is a permalink. Relative links are resolved
/// against `base`; links that are not http(s) are left out.
pub fn feed_each(
    body: impl BufRead,
    base: &Url,
    each: &mut dyn FnMut(Url) -> bool,
) -> Result<(), ReadError> {
    let (budget, spent) = EventBudget::new(body);
    let mut reader = quick_xml::Reader::from_reader(std::io::BufReader::new(budget));
    let mut buf = Vec::new();
    let mut root: Option<Vec<u8>> = None;
    // Inside an entry or item: its best link so far (and whether it is
    // an alternate one), and the text being read, by element.
    let mut entry: Option<FeedEntry> = None;
    let mut text: Option<(Vec<u8>, String)> = None;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| io_error(&e, ReadError::Feed))?;
        spent.set(0);
        let decoder = reader.decoder();
        let started = match &event {
            Event::Start(e) => Some((e, false)),
            Event::Empty(e) => Some((e, true)),
            _ => None,
        };
        if let Some((e, empty)) = started {
            {
                let name = e.local_name().as_ref().to_ascii_lowercase();
                if root.is_none() {
                    if !matches!(name.as_slice(), b"rss" | b"feed" | b"rdf") {
                        return Err(ReadError::Feed(format!(
                            "its root element is <{}>, not <rss>, <feed> or <rdf:RDF>",
                            String::from_utf8_lossy(&name)
                        )));
                    }
                    root = Some(name.clone());
                }
                match name.as_slice() {
                    b"entry" | b"item" => entry = Some(FeedEntry::default()),
                    b"link" if entry.is_some() => {
                        let attribute = |key: &[u8]| {
                            e.attributes().flatten().find_map(|a| {
                                (a.key.local_name().as_ref() == key)
                                    .then(|| {
                                        a.decoded_and_normalized_value(
                                            quick_xml::XmlVersion::Implicit1_0,
                                            decoder,
                                        )
                                        .ok()
                                        .map(std::borrow::Cow::into_owned)
                                    })
                                    .flatten()
                            })
                        };
                        if let Some(href) = attribute(b"href") {
                            // Atom.
                            let alternate = attribute(b"rel").is_none_or(|r| r == "alternate");
                            let current = entry.as_mut().expect("inside an entry");
                            if current.link.is_none() || (alternate && !current.alternate) {
                                current.link = Some(href);
                                current.alternate = alternate;
                            }
                        } else if !empty {
                            text = Some((name, String::new()));
                        }
                    }
                    b"guid" if entry.is_some() && !empty => {
                        let permalink = e.attributes().flatten().all(|a| {
                            a.key.local_name().as_ref() != b"isPermaLink"
                                || a.value.as_ref().eq_ignore_ascii_case(b"true")
                        });
                        if permalink {
                            text = Some((name, String::new()));
                        }
                    }
                    _ => {}
                }
            }
            buf.clear();
            continue;
        }
        match event {
            Event::Text(t) => {
                if let Some((_, value)) = text.as_mut() {
                    let raw = t.decode().map_err(|e| ReadError::Feed(e.to_string()))?;
                    let unescaped = quick_xml::escape::unescape(&raw)
                        .map_err(|e| ReadError::Feed(e.to_string()))?;
                    value.push_str(&unescaped);
                }
            }
            Event::CData(t) => {
                if let Some((_, value)) = text.as_mut() {
                    value.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, value)) = text.as_mut() {
                    value.push_str(&entity(&r));
                }
            }
            Event::End(e) => {
                let name = e.local_name().as_ref().to_ascii_lowercase();
                if text.as_ref().is_some_and(|(open, _)| *open == name) {
                    let (element, value) = text.take().expect("checked");
                    if let Some(current) = entry.as_mut() {
                        let value = value.trim().to_owned();
                        if element == b"link" && !value.is_empty() {
                            current.link = Some(value);
                            current.alternate = true;
                        } else if element == b"guid" && current.guid.is_none() {
                            current.guid = Some(value);
                        }
                    }
                } else if matches!(name.as_slice(), b"entry" | b"item")
                    && let Some(done) = entry.take()
                    && let Some(url) = done
                        .link
                        .or(done.guid)
                        .and_then(|link| base.join(link.trim()).ok())
                        .filter(|u| matches!(u.scheme(), "http" | "https"))
                    && !each(url)
                {
                    return Ok(());
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
        if text.as_ref().is_some_and(|(_, v)| v.len() > MAX_LOC_BYTES) {
            return Err(ReadError::Feed(format!(
                "a link longer than {MAX_LOC_BYTES} bytes"
            )));
        }
    }
    if root.is_none() {
        return Err(ReadError::Feed("no XML element in it".to_owned()));
    }
    Ok(())
}

/// One entry or item of a feed, as read so far.
#[derive(Default)]
struct FeedEntry {
    link: Option<String>,
    alternate: bool,
    guid: Option<String>,
}

/// A character or predefined entity reference as text.
fn entity(r: &quick_xml::events::BytesRef<'_>) -> String {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return c.to_string();
    }
    match String::from_utf8_lossy(r).as_ref() {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => "",
    }
    .to_owned()
}

/// A line as [`lines_each`] gives it: `Ok` with the line (without its
/// end), or `Err` with its length when it is longer than the limit.
pub type Line<'a> = Result<&'a [u8], usize>;

/// Reads lines (a JSONL dump) as they come, handing each to `each` (which
/// returns whether to go on); what of a line is past `max_line` is skipped,
/// not held.
pub fn lines_each(
    mut body: impl BufRead,
    max_line: usize,
    each: &mut dyn FnMut(Line<'_>) -> bool,
) -> Result<(), ReadError> {
    let mut line = Vec::new();
    let mut length = 0usize;
    loop {
        let available = match body.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_read_error(&e)),
        };
        if available.is_empty() {
            if length > 0 {
                let _ = each(if length > max_line {
                    Err(length)
                } else {
                    Ok(&line)
                });
            }
            return Ok(());
        }
        let (taken, ended) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        let piece = &available[..if ended { taken - 1 } else { taken }];
        if length + piece.len() <= max_line {
            line.extend_from_slice(piece);
        }
        length += piece.len();
        body.consume(taken);
        if ended {
            let go_on = each(if length > max_line {
                Err(length)
            } else {
                Ok(&line)
            });
            line.clear();
            length = 0;
            if !go_on {
                return Ok(());
            }
        }
    }
}

fn io_read_error(error: &std::io::Error) -> ReadError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(OverLimit(limit)) = e.downcast_ref::<OverLimit>() {
            return ReadError::TooLarge(*limit);
        }
        source = e.source();
    }
    ReadError::Gzip(error.to_string())
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
    /// `rel=nofollow`, each once, at most the number asked for; empty when
    /// the page says `nofollow`.
    pub links: Vec<Url>,
    /// Whether the page had more links than were kept.
    pub more_links: bool,
}

/// Reads an HTML page's canonical URL, robots directives and at most
/// `max_links` links (`<base href>` honoured).
pub fn page_meta(html: &str, url: &Url, robots_token: &str, max_links: usize) -> PageMeta {
    page_meta_of(&Html::parse_document(html), url, robots_token, max_links)
}

/// A page's [`PageMeta`] and its text, from one parse of it (a parsed page
/// of megabytes takes tens of MiB: once is enough).
pub fn page(
    html: &str,
    url: &Url,
    robots_token: &str,
    max_links: usize,
) -> (PageMeta, trawl_index::Extracted) {
    let document = Html::parse_document(html);
    let meta = page_meta_of(&document, url, robots_token, max_links);
    (meta, trawl_index::extract_html_document(&document))
}

fn page_meta_of(document: &Html, url: &Url, robots_token: &str, max_links: usize) -> PageMeta {
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
        let mut seen = std::collections::HashSet::new();
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
                let link = without_fragment(link);
                if seen.contains(link.as_str()) {
                    continue;
                }
                if meta.links.len() >= max_links {
                    meta.more_links = true;
                    break;
                }
                seen.insert(link.as_str().to_owned());
                meta.links.push(link);
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
    fn one_event_is_bounded_and_readers_stop_when_told() {
        // A comment of 2 MiB full of `>`: one event, refused.
        let mut huge = b"<urlset><!--".to_vec();
        huge.extend(std::iter::repeat_n(b'>', 2 * 1024 * 1024));
        huge.extend(b"--></urlset>");
        let error = sitemap_each(&huge[..], &mut |_| true).unwrap_err();
        assert!(error.to_string().contains("more than"), "{error}");
        // Many small events are fine, and the reader stops when told.
        let mut many = String::from("<urlset>");
        for i in 0..50_000 {
            many.push_str(&format!("<url><loc>https://x.org/{i}</loc></url>"));
        }
        many.push_str("</urlset>");
        let mut taken = 0;
        sitemap_each(many.as_bytes(), &mut |_| {
            taken += 1;
            taken < 10
        })
        .unwrap();
        assert_eq!(taken, 10);
        let feed = "<rss><channel><item><link>/a</link></item><item><guid>https://x.org/b</guid></item>\
                    <item><guid isPermaLink=\"false\">tag:x</guid></item></channel></rss>";
        let base: Url = "https://x.org/feed".parse().unwrap();
        let links: Vec<String> = super::feed(feed.as_bytes(), &base)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(links, ["https://x.org/a", "https://x.org/b"]);
    }

    #[test]
    fn lines_are_read_whole_or_named_too_long() {
        let body = "short\n{\"a\":1}\n".to_owned() + &"x".repeat(100) + "\nlast";
        let mut seen = Vec::new();
        lines_each(body.as_bytes(), 20, &mut |line| {
            seen.push(match line {
                Ok(line) => String::from_utf8_lossy(line).into_owned(),
                Err(length) => format!("too long: {length}"),
            });
            true
        })
        .unwrap();
        assert_eq!(seen, ["short", "{\"a\":1}", "too long: 100", "last"]);
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
        let meta = page_meta(html, &url, "trawl", 100);
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
            100,
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
