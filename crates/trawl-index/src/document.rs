//! A document as the index holds it, and the checks it passes before it
//! is indexed.

use serde::{Deserialize, Serialize};
use tantivy::time::OffsetDateTime;
use tantivy::time::format_description::well_known::Rfc3339;
use url::Url;

/// Longest id, in bytes: an id is one term of the index, and a term has a
/// limit.
pub const MAX_ID_BYTES: usize = 1024;

/// How large one document may be: what one write, one search that
/// matches it, and one snippet made of it cost is bounded by these
/// (docs/indexing.md#limits). The write API refuses a document over them
/// (`422`, naming it); crawls and folders of files cut the text to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentLimits {
    /// Longest body, in bytes (UTF-8).
    pub max_body_bytes: usize,
    /// Longest title, in bytes.
    pub max_title_bytes: usize,
    /// Longest URL, in bytes.
    pub max_url_bytes: usize,
    /// Most fields one JSON record may have (unknown ones included).
    pub max_fields: usize,
}

impl Default for DocumentLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 2 * 1024 * 1024,
            max_title_bytes: 4 * 1024,
            max_url_bytes: 8 * 1024,
            max_fields: 64,
        }
    }
}

impl DocumentLimits {
    /// No limit: for what was checked when it came in (a job's payload).
    pub const NONE: Self = Self {
        max_body_bytes: usize::MAX,
        max_title_bytes: usize::MAX,
        max_url_bytes: usize::MAX,
        max_fields: usize::MAX,
    };
}

/// A document as the index stores it. Its `id` is unique in the index: adding
/// a document with an existing id replaces the old one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Unique in the index: a document with the same id replaces it.
    pub id: String,
    /// The title, plain text.
    pub title: String,
    /// Where the document is.
    pub url: String,
    /// Its text, searched and shown in snippets.
    pub body: String,
    /// When it was published, as RFC 3339 in UTC.
    pub published: Option<String>,
}

/// Why a record cannot become a [`Document`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDocument {
    /// The id is empty.
    #[error("`id` must not be empty")]
    EmptyId,
    /// The id is longer than the limit.
    #[error("`id` is longer than {MAX_ID_BYTES} bytes")]
    LongId,
    /// The URL does not parse.
    #[error("`url` {0:?} is not an absolute URL")]
    BadUrl(String),
    /// The URL's scheme is not one a browser may follow.
    #[error("`url` {0:?} must use http, https or file")]
    UnsafeUrlScheme(String),
    /// `published` is not an RFC 3339 date.
    #[error("`published` {0:?} is neither RFC 3339 nor YYYY-MM-DD")]
    BadDate(String),
    /// A field is longer than its limit.
    #[error("`{field}` is {size} bytes, over the limit of {limit}")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// Schemes a result link may use. Anything else (`javascript:`, `data:` …)
/// would turn a result link into a script.
pub(crate) const ALLOWED_SCHEMES: &[&str] = &["http", "https", "file"];

impl Document {
    /// Builds a document, checking what the index relies on.
    pub fn new(
        id: String,
        title: String,
        url: String,
        body: String,
        published: Option<&str>,
    ) -> Result<Self, InvalidDocument> {
        if id.trim().is_empty() {
            return Err(InvalidDocument::EmptyId);
        }
        if id.len() > MAX_ID_BYTES {
            return Err(InvalidDocument::LongId);
        }
        let parsed = Url::parse(&url).map_err(|_| InvalidDocument::BadUrl(url.clone()))?;
        if !ALLOWED_SCHEMES.contains(&parsed.scheme()) {
            return Err(InvalidDocument::UnsafeUrlScheme(url));
        }
        let published = published.map(parse_date).transpose()?;
        Ok(Self {
            id,
            title,
            url,
            body,
            published,
        })
    }

    /// Reads one document in trawl's JSON format, as a line of a JSONL file
    /// or an element of a batch holds it: `{"id", "title", "url", "body",
    /// "published"?}` (`id` a string or an integer; other fields ignored).
    /// The error names what is wrong, and where in `json` when it is
    /// syntax.
    pub fn from_json(json: &str) -> Result<Self, String> {
        Self::from_json_within(json, &DocumentLimits::NONE)
    }

    /// [`from_json`](Self::from_json), refusing a record over `limits`.
    pub fn from_json_within(json: &str, limits: &DocumentLimits) -> Result<Self, String> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let record = serde::de::DeserializeSeed::deserialize(
            Fields {
                max: limits.max_fields,
            },
            &mut deserializer,
        )
        .and_then(|record| deserializer.end().map(|()| record))
        .map_err(|e| {
            // serde_json's message ends with " at line L column C": for a
            // one-line record only the column is news.
            let message = e.to_string();
            match message.rsplit_once(" at line 1 column ") {
                Some((what, column)) => format!("{what} (column {column})"),
                None => message,
            }
        })?;
        let id = match record.id {
            RecordId::Text(id) => id,
            RecordId::Number(n) => n.to_string(),
        };
        let document = Self::new(
            id,
            record.title,
            record.url,
            record.body,
            record.published.as_deref(),
        )
        .map_err(|e| e.to_string())?;
        document.check(limits).map_err(|e| e.to_string())?;
        Ok(document)
    }

    /// Whether it is within `limits`.
    pub fn check(&self, limits: &DocumentLimits) -> Result<(), InvalidDocument> {
        for (field, size, limit) in [
            ("body", self.body.len(), limits.max_body_bytes),
            ("title", self.title.len(), limits.max_title_bytes),
            ("url", self.url.len(), limits.max_url_bytes),
        ] {
            if size > limit {
                return Err(InvalidDocument::TooLong { field, size, limit });
            }
        }
        Ok(())
    }

    /// Cut to fit `limits`: the body and title end at the last whole
    /// character within their limits (a page too long to index whole is
    /// indexed by its start, as search engines do). `None` when its URL is
    /// too long: a URL cut is another URL.
    pub fn fit(mut self, limits: &DocumentLimits) -> Option<Self> {
        if self.url.len() > limits.max_url_bytes {
            return None;
        }
        cut_at(&mut self.body, limits.max_body_bytes);
        cut_at(&mut self.title, limits.max_title_bytes);
        Some(self)
    }

    /// The document in the same format, on one line (no line break):
    /// [`from_json`](Self::from_json) reads it back as it is.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            id: &'a str,
            title: &'a str,
            url: &'a str,
            body: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            published: Option<&'a str>,
        }
        serde_json::to_string(&Line {
            id: &self.id,
            title: &self.title,
            url: &self.url,
            body: &self.body,
            published: self.published.as_deref(),
        })
        .expect("strings always serialise")
    }

    pub(crate) fn published_datetime(&self) -> Option<OffsetDateTime> {
        self.published
            .as_deref()
            .and_then(|p| OffsetDateTime::parse(p, &Rfc3339).ok())
    }
}

/// `text` cut to at most `limit` bytes, at a character's boundary.
fn cut_at(text: &mut String, limit: usize) {
    if text.len() > limit {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// Reads a [`Record`], counting its fields (unknown ones are skipped, not
/// kept): more than `max` is an error.
struct Fields {
    max: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for Fields {
    type Value = Record;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Record, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Fields {
    type Value = Record;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object with id, title, url and body")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        use serde::de::Error;
        let mut id = None;
        let mut title = None;
        let mut url = None;
        let mut body = None;
        let mut published = None;
        let mut fields = 0usize;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            fields += 1;
            if fields > self.max {
                return Err(A::Error::custom(format!(
                    "more than {} fields, over the limit",
                    self.max
                )));
            }
            let once = |seen: bool, name: &'static str| {
                if seen {
                    Err(A::Error::duplicate_field(name))
                } else {
                    Ok(())
                }
            };
            match key.as_ref() {
                "id" => {
                    once(id.is_some(), "id")?;
                    id = Some(map.next_value::<RecordId>()?);
                }
                "title" => {
                    once(title.is_some(), "title")?;
                    title = Some(map.next_value::<String>()?);
                }
                "url" => {
                    once(url.is_some(), "url")?;
                    url = Some(map.next_value::<String>()?);
                }
                "body" => {
                    once(body.is_some(), "body")?;
                    body = Some(map.next_value::<String>()?);
                }
                "published" => {
                    once(published.is_some(), "published")?;
                    published = Some(map.next_value::<Option<String>>()?);
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(Record {
            id: id.ok_or_else(|| A::Error::missing_field("id"))?,
            title: title.ok_or_else(|| A::Error::missing_field("title"))?,
            url: url.ok_or_else(|| A::Error::missing_field("url"))?,
            body: body.ok_or_else(|| A::Error::missing_field("body"))?,
            published: published.flatten(),
        })
    }
}

/// A document in trawl's JSON format, before it is checked.
struct Record {
    id: RecordId,
    title: String,
    url: String,
    body: String,
    published: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RecordId {
    Text(String),
    Number(i64),
}

/// Normalises an RFC 3339 timestamp or a bare `YYYY-MM-DD` date to RFC 3339 UTC.
fn parse_date(raw: &str) -> Result<String, InvalidDocument> {
    let bad = || InvalidDocument::BadDate(raw.to_owned());
    let raw = raw.trim();
    let parsed = OffsetDateTime::parse(raw, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{raw}T00:00:00Z"), &Rfc3339))
        .map_err(|_| bad())?;
    let utc = parsed.to_offset(tantivy::time::UtcOffset::UTC);
    utc.format(&Rfc3339).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(url: &str, published: Option<&str>) -> Result<Document, InvalidDocument> {
        Document::new("1".into(), "t".into(), url.into(), "b".into(), published)
    }

    #[test]
    fn validates_urls_and_dates() {
        assert!(doc("https://example.org/a", None).is_ok());
        assert!(doc("file:///tmp/a.html", None).is_ok());
        assert_eq!(
            doc("javascript:alert(1)", None).unwrap_err(),
            InvalidDocument::UnsafeUrlScheme("javascript:alert(1)".into())
        );
        assert!(matches!(
            doc("/relative", None),
            Err(InvalidDocument::BadUrl(_))
        ));
        assert_eq!(
            doc("http://x/", Some("2024-02-29"))
                .unwrap()
                .published
                .as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
        assert_eq!(
            doc("http://x/", Some("2024-02-29T10:00:00+02:00"))
                .unwrap()
                .published
                .as_deref(),
            Some("2024-02-29T08:00:00Z")
        );
        assert!(matches!(
            doc("http://x/", Some("yesterday")),
            Err(InvalidDocument::BadDate(_))
        ));
        assert!(matches!(
            Document::new(" ".into(), "t".into(), "http://x/".into(), "b".into(), None),
            Err(InvalidDocument::EmptyId)
        ));
        assert!(matches!(
            Document::new(
                "i".repeat(1025),
                "t".into(),
                "http://x/".into(),
                "b".into(),
                None
            ),
            Err(InvalidDocument::LongId)
        ));
    }

    #[test]
    fn json_reads_back_what_it_writes() {
        let doc = Document::from_json(
            r#"{"id": 7, "title": "T \"q\"", "url": "https://x.org/a", "body": "b\nc", "published": "2024-02-29", "extra": [1]}"#,
        )
        .unwrap();
        assert_eq!((doc.id.as_str(), doc.title.as_str()), ("7", "T \"q\""));
        assert_eq!(doc.published.as_deref(), Some("2024-02-29T00:00:00Z"));
        let line = doc.to_json();
        assert!(!line.contains('\n'), "{line}");
        assert_eq!(Document::from_json(&line).unwrap(), doc);
        assert_eq!(
            Document::from_json(r#"{"id":"1","title":"t","body":"b"}"#).unwrap_err(),
            "missing field `url` (column 33)"
        );
        assert!(
            Document::from_json(r#"{"id":"1","title":"t","url":"javascript:x","body":""}"#)
                .unwrap_err()
                .contains("must use http, https or file")
        );
    }
}
