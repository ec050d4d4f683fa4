use tantivy::time::OffsetDateTime;
use tantivy::time::format_description::well_known::Rfc3339;
use url::Url;

/// A document as the index stores it. Its `id` is unique in the index: adding
/// a document with an existing id replaces the old one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: String,
    pub title: String,
    pub url: String,
    pub body: String,
    /// When it was published, as RFC 3339 in UTC.
    pub published: Option<String>,
}

/// Why a record cannot become a [`Document`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDocument {
    #[error("`id` must not be empty")]
    EmptyId,
    #[error("`url` {0:?} is not an absolute URL")]
    BadUrl(String),
    #[error("`url` {0:?} must use http, https or file")]
    UnsafeUrlScheme(String),
    #[error("`published` {0:?} is neither RFC 3339 nor YYYY-MM-DD")]
    BadDate(String),
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

    pub(crate) fn published_datetime(&self) -> Option<OffsetDateTime> {
        self.published
            .as_deref()
            .and_then(|p| OffsetDateTime::parse(p, &Rfc3339).ok())
    }
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
    }
}
