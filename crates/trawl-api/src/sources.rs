//! The sources API's contract: a source is a site, sitemap, feed or JSONL
//! dump the indexer crawls on a schedule; what a client sends to make or
//! change one, what it gets back, and the checks that make a source valid.
//!
//! A source is validated here, once: [`SourceIn::validate`] is the only way
//! to a [`SourceSpec`], and a `SourceSpec` always holds http(s) URLs,
//! globs that compile, limits within bounds and a refresh interval trawl
//! accepts.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::jobs::JobState;
use crate::params::{InvalidRequest, parse_query_string};

/// Longest URL a source may name, in bytes.
pub const MAX_SOURCE_URL_BYTES: usize = 2048;
/// Most start URLs, scope prefixes, include or exclude globs.
pub const MAX_SOURCE_LIST: usize = 100;
/// Deepest a site crawl may go, and the default.
pub const MAX_DEPTH: u32 = 50;
/// How many links deep a `site` crawl goes unless told.
pub const DEFAULT_MAX_DEPTH: u32 = 5;
/// Most pages one crawl of a source may fetch, and the default.
pub const MAX_PAGES: u32 = 1_000_000;
/// Pages a crawl takes at most unless told.
pub const DEFAULT_MAX_PAGES: u32 = 10_000;
/// Shortest and longest refresh interval.
pub const MIN_REFRESH: Duration = Duration::from_secs(60);
/// The longest `refresh` interval.
pub const MAX_REFRESH: Duration = Duration::from_secs(366 * 24 * 3600);
/// Sources on one page of `GET /v1/sources` by default, and at most.
pub const DEFAULT_SOURCES_PER_PAGE: u32 = 50;
/// Most sources `GET /v1/sources` answers in one page.
pub const MAX_SOURCES_PER_PAGE: u32 = 500;
/// Runs a source shows.
pub const RUNS_SHOWN: usize = 5;
/// Longest name of a source, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// What a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A `sitemap.xml` (or a sitemap index; gzip too): its pages are crawled.
    Sitemap,
    /// An RSS 2.0 or Atom feed: the pages its entries link to are crawled.
    Feed,
    /// A site crawled by its links from start URLs, within a scope.
    Site,
    /// A JSONL (or JSONL.gz) dump of documents in trawl's format.
    Jsonl,
}

impl SourceKind {
    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sitemap => "sitemap",
            Self::Feed => "feed",
            Self::Site => "site",
            Self::Jsonl => "jsonl",
        }
    }

    /// The kind named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Sitemap, Self::Feed, Self::Site, Self::Jsonl]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// A source as a client writes it (`POST /v1/sources`, `PUT`), and as
/// `PATCH` merges into (RFC 7396). `url` is for `sitemap`, `feed` and
/// `jsonl`; `start_urls`, `scope`, `include`, `exclude`, `max_depth` for
/// `site`; `max_pages` and `refresh` for every kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceIn {
    /// What the source is.
    pub kind: SourceKind,
    /// A name for people; the URL when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// The sitemap's, feed's or dump's URL (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// Where a site crawl starts (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_urls: Option<Vec<String>>,
    /// URL prefixes a site crawl stays within; by default each start URL's
    /// directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    /// Globs over the URL's path (`*` within a segment, `**` across
    /// segments, `?` one character; without a `/`, over the last segment):
    /// when given, only matching pages are indexed (links are still
    /// followed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// Globs over the URL's path: matching pages are neither fetched nor
    /// indexed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
    /// Links followed from a start URL at most (site).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 50)]
    pub max_depth: Option<u32>,
    /// Pages one crawl fetches at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_pages: Option<u32>,
    /// How often it is crawled: a number and a unit (`s`, `m`, `h`, `d`),
    /// 1 minute to 366 days, e.g. `6h`. Without it, only on request
    /// (`POST /v1/sources/{id}/crawl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9]+[smhd]$")]
    pub refresh: Option<String>,
}

/// A valid source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    /// What the source is.
    pub kind: SourceKind,
    /// A name for people.
    pub name: Option<String>,
    /// For `sitemap`, `feed` and `jsonl`.
    pub url: Option<String>,
    /// Where the crawl starts.
    pub start_urls: Vec<String>,
    /// URL prefixes a page must be under (by default the start URLs' origins).
    pub scope: Vec<String>,
    /// Globs over URL paths (matched by the crawler).
    pub include: Vec<String>,
    /// Globs of paths never taken.
    pub exclude: Vec<String>,
    /// Links deep a `site` crawl goes.
    pub max_depth: u32,
    /// Pages one crawl takes at most.
    pub max_pages: u32,
    /// How often it is crawled again; only on request when `None`.
    pub refresh: Option<Duration>,
}

fn invalid(param: &'static str, reason: impl Into<String>) -> InvalidRequest {
    InvalidRequest::InvalidParameter {
        param,
        reason: reason.into(),
    }
}

impl SourceIn {
    /// Checks every field; the first problem is named by its field.
    pub fn validate(&self) -> Result<SourceSpec, InvalidRequest> {
        let for_site = self.kind == SourceKind::Site;
        let name = match &self.name {
            Some(name) if name.trim().is_empty() || name.len() > MAX_NAME_BYTES => {
                return Err(invalid(
                    "name",
                    format!("must be 1 to {MAX_NAME_BYTES} bytes, not blank"),
                ));
            }
            Some(name) => Some(name.trim().to_owned()),
            None => None,
        };
        let url = match (&self.url, for_site) {
            (Some(_), true) => {
                return Err(invalid(
                    "url",
                    "is not for a site source: give `start_urls`",
                ));
            }
            (None, false) => {
                return Err(invalid(
                    "url",
                    format!("is required for a {} source", self.kind.as_str()),
                ));
            }
            (Some(url), false) => Some(check_url("url", url)?),
            (None, true) => None,
        };
        if !for_site {
            for (field, given) in [
                ("start_urls", self.start_urls.is_some()),
                ("scope", self.scope.is_some()),
                ("max_depth", self.max_depth.is_some()),
            ] {
                if given {
                    return Err(invalid(
                        field,
                        format!("is only for a site source, not a {}", self.kind.as_str()),
                    ));
                }
            }
        }
        let start_urls = if for_site {
            let urls = self.start_urls.as_deref().unwrap_or_default();
            if urls.is_empty() {
                return Err(invalid(
                    "start_urls",
                    "is required for a site source: at least one URL",
                ));
            }
            check_list("start_urls", urls)?;
            urls.iter()
                .map(|u| check_url("start_urls", u))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        let scope = match &self.scope {
            Some(prefixes) => {
                check_list("scope", prefixes)?;
                prefixes
                    .iter()
                    .map(|u| check_url("scope", u))
                    .collect::<Result<Vec<_>, _>>()?
            }
            None => start_urls.iter().map(|u| directory_of(u)).collect(),
        };
        let globs = |param: &'static str, list: &Option<Vec<String>>| {
            let list = list.as_deref().unwrap_or_default();
            check_list(param, list)?;
            list.iter()
                .map(|g| check_glob(g).map_err(|reason| invalid(param, reason)))
                .collect::<Result<Vec<_>, _>>()
        };
        let include = globs("include", &self.include)?;
        let exclude = globs("exclude", &self.exclude)?;
        let max_depth = self.max_depth.unwrap_or(DEFAULT_MAX_DEPTH);
        if max_depth > MAX_DEPTH {
            return Err(invalid("max_depth", format!("must be 0 to {MAX_DEPTH}")));
        }
        let max_pages = self.max_pages.unwrap_or(DEFAULT_MAX_PAGES);
        if !(1..=MAX_PAGES).contains(&max_pages) {
            return Err(invalid("max_pages", format!("must be 1 to {MAX_PAGES}")));
        }
        let refresh = self
            .refresh
            .as_deref()
            .map(|text| parse_interval(text).map_err(|reason| invalid("refresh", reason)))
            .transpose()?;
        Ok(SourceSpec {
            kind: self.kind,
            name,
            url,
            start_urls,
            scope,
            include,
            exclude,
            max_depth,
            max_pages,
            refresh,
        })
    }
}

impl SourceSpec {
    /// The source as the API shows it: every default filled in.
    pub fn to_wire(&self) -> SourceIn {
        let site = self.kind == SourceKind::Site;
        SourceIn {
            kind: self.kind,
            name: self.name.clone(),
            url: self.url.clone(),
            start_urls: site.then(|| self.start_urls.clone()),
            scope: site.then(|| self.scope.clone()),
            include: (!self.include.is_empty()).then(|| self.include.clone()),
            exclude: (!self.exclude.is_empty()).then(|| self.exclude.clone()),
            max_depth: site.then_some(self.max_depth),
            max_pages: Some(self.max_pages),
            refresh: self.refresh.map(format_interval),
        }
    }
}

/// `https://example.org/docs/intro.html` → `https://example.org/docs/`.
fn directory_of(url: &str) -> String {
    let path_start = url
        .split_once("://")
        .and_then(|(scheme, rest)| rest.find('/').map(|i| scheme.len() + 3 + i));
    match path_start {
        None => format!("{url}/"),
        Some(start) => {
            let path = &url[start..];
            let path = path.split(['?', '#']).next().unwrap_or(path);
            let end = path.rfind('/').map_or(1, |i| i + 1);
            format!("{}{}", &url[..start], &path[..end])
        }
    }
}

/// A glob is 1 to 256 bytes with at most 16 stars (what trawl-index's
/// `Glob` matches within its bounds).
fn check_glob(glob: &str) -> Result<String, String> {
    if glob.is_empty() || glob.len() > 256 {
        return Err("globs must be 1 to 256 bytes".to_owned());
    }
    if glob.chars().filter(|c| *c == '*').count() > 16 {
        return Err("a glob may hold at most 16 `*`".to_owned());
    }
    Ok(glob.to_owned())
}

fn check_list(param: &'static str, list: &[String]) -> Result<(), InvalidRequest> {
    if list.len() > MAX_SOURCE_LIST {
        return Err(invalid(
            param,
            format!("may hold at most {MAX_SOURCE_LIST} entries"),
        ));
    }
    Ok(())
}

/// An absolute http(s) URL with a host, at most [`MAX_SOURCE_URL_BYTES`],
/// normalised (its fragment dropped).
fn check_url(param: &'static str, text: &str) -> Result<String, InvalidRequest> {
    if text.len() > MAX_SOURCE_URL_BYTES {
        return Err(invalid(
            param,
            format!("must be a URL of at most {MAX_SOURCE_URL_BYTES} bytes"),
        ));
    }
    let mut url = url::Url::parse(text.trim())
        .map_err(|e| invalid(param, format!("must be an absolute http(s) URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            param,
            "must be an absolute http or https URL with a host",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(param, "must not hold a user name or password"));
    }
    url.set_fragment(None);
    Ok(url.to_string())
}

/// Reads `30s`, `15m`, `6h`, `7d`.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "must be a number and a unit (s, m, h, d) from {} to {}, like `6h`",
            format_interval(MIN_REFRESH),
            format_interval(MAX_REFRESH)
        )
    };
    let text = text.trim();
    let unit = text.chars().last().ok_or_else(bad)?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let number: u64 = text[..text.len() - 1].parse().map_err(|_| bad())?;
    let duration = Duration::from_secs(number.checked_mul(scale).ok_or_else(bad)?);
    if duration < MIN_REFRESH || duration > MAX_REFRESH {
        return Err(bad());
    }
    Ok(duration)
}

/// The shortest exact form: `90s`, `15m`, `6h`, `2d`.
pub fn format_interval(duration: Duration) -> String {
    let secs = duration.as_secs();
    for (unit, scale) in [('d', 86_400), ('h', 3600), ('m', 60)] {
        if secs > 0 && secs.is_multiple_of(scale) {
            return format!("{}{unit}", secs / scale);
        }
    }
    format!("{secs}s")
}

/// A source as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Source {
    /// The source's id.
    #[schema(minimum = 1)]
    pub id: i64,
    /// Goes up by one with every change; the `ETag` is `"v<version>"`.
    #[schema(minimum = 1)]
    pub version: i64,
    /// The source as its owner described it.
    #[serde(flatten)]
    pub spec: SourceIn,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// When the next scheduled crawl is due (with `refresh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_crawl_at: Option<String>,
    /// The crawl queued or running now, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crawl_job: Option<i64>,
    /// Pages indexed from it (after its last crawl).
    pub pages: u64,
    /// The last runs, newest first (at most five).
    pub runs: Vec<CrawlRun>,
}

impl Source {
    /// The `ETag` of this version.
    pub fn etag(&self) -> String {
        etag(self.version)
    }
}

/// The strong entity tag of a source's version.
pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// Reads an `If-Match` header: `*` (any version), or a list of entity
/// tags; a weak tag never matches (RFC 9110 §13.1.1 compares strongly).
/// `None` when the header cannot be read.
pub fn if_match(header: &str) -> Option<IfMatch> {
    let header = header.trim();
    if header == "*" {
        return Some(IfMatch::Any);
    }
    let mut versions = Vec::new();
    for tag in header.split(',') {
        let tag = tag.trim();
        if tag.starts_with("W/") {
            continue;
        }
        let inner = tag.strip_prefix('"')?.strip_suffix('"')?;
        if let Some(v) = inner.strip_prefix('v').and_then(|v| v.parse::<i64>().ok()) {
            versions.push(v);
        }
    }
    Some(IfMatch::Versions(versions))
}

/// What an `If-Match` header asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: whatever the current version.
    Any,
    /// Strong tags naming versions (other tags match nothing).
    Versions(Vec<i64>),
}

/// One crawl of a source, and what it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CrawlRun {
    /// The crawl's job (`GET /v1/jobs/{id}`).
    pub job: i64,
    /// How the crawl ended, or `running`.
    pub state: JobState,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// How long it ran.
    pub duration_ms: u64,
    /// What it did, page by page.
    pub pages: CrawlCounts,
    /// Pages that failed, by kind of failure (`timeout`, `http_500`,
    /// `too_large`, `refused`, …).
    pub errors: BTreeMap<String, u64>,
    /// Why the crawl itself failed, if it did (it then changed nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether it read the whole source, and so removed the pages no
    /// longer in it. A crawl that read part of it removes only pages with
    /// proof they went (404, 410, `noindex`, robots.txt).
    #[serde(default)]
    pub complete: bool,
    /// Why it read only part of the source (`max_pages` reached, a listed
    /// sitemap or a linking page that failed…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
}

/// What one crawl did to a source's pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CrawlCounts {
    /// Requests answered (robots.txt, sitemaps and feeds included).
    pub fetched: u64,
    /// New pages queued for the index.
    pub added: u64,
    /// Pages whose text changed, queued again.
    pub changed: u64,
    /// Pages answered `304 Not Modified`, or with the same text as before.
    pub unchanged: u64,
    /// Pages gone (404, 410, out of the sitemap or feed, `noindex`) and
    /// queued for removal.
    pub removed: u64,
    /// Pages left out: disallowed by robots.txt, of a type trawl does not
    /// index, duplicates of a canonical page, excluded or out of scope.
    pub skipped: u64,
    /// Pages indexed again because the index had lost their document
    /// (removed by id, or by another source's removal before documents
    /// had owners).
    #[serde(default)]
    pub restored: u64,
    /// Bytes received.
    pub bytes: u64,
}

/// A page of sources, oldest first, and the cursor of the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourcesPage {
    /// This page's sources, oldest first.
    pub sources: Vec<Source>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The query of `GET /v1/sources`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourcesQuery {
    /// Sources with ids above this one (from the cursor).
    pub after: Option<i64>,
    /// Sources a page, at most [`MAX_SOURCES_PER_PAGE`].
    pub limit: u32,
}

/// The query parameters of `GET /v1/sources`, for OpenAPI.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SourcesParams {
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Sources per page.
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<u32>,
}

impl SourcesQuery {
    /// Decodes `GET /v1/sources`' query string.
    pub fn from_query_string(raw: Option<&str>) -> Result<Self, InvalidRequest> {
        let mut query = Self {
            limit: DEFAULT_SOURCES_PER_PAGE,
            after: None,
        };
        let mut seen = [false; 2];
        for (name, value) in parse_query_string(raw.unwrap_or(""))? {
            let (index, param) = match name.as_str() {
                "cursor" => (0, "cursor"),
                "limit" => (1, "limit"),
                _ => continue,
            };
            if std::mem::replace(&mut seen[index], true) {
                return Err(InvalidRequest::DuplicateParameter { param });
            }
            if param == "cursor" {
                query.after = Some(parse_sources_cursor(&value).ok_or_else(|| {
                    InvalidRequest::InvalidCursor {
                        reason: "it is not one this API issued".to_owned(),
                    }
                })?);
            } else {
                query.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_SOURCES_PER_PAGE).contains(n))
                    .ok_or_else(|| {
                        invalid(
                            "limit",
                            format!("must be an integer from 1 to {MAX_SOURCES_PER_PAGE}"),
                        )
                    })?;
            }
        }
        Ok(query)
    }
}

/// The cursor after the source `last_id`.
pub fn sources_cursor(last_id: i64) -> String {
    format!("s{last_id}")
}

fn parse_sources_cursor(cursor: &str) -> Option<i64> {
    cursor
        .strip_prefix('s')?
        .parse()
        .ok()
        .filter(|id: &i64| *id > 0)
}

/// Merges an RFC 7396 JSON merge patch into `target`.
pub fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(serde_json::Map::new());
    }
    let target = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(
                target.entry(key.clone()).or_insert(serde_json::Value::Null),
                value,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(start: &[&str]) -> SourceIn {
        SourceIn {
            kind: SourceKind::Site,
            name: None,
            url: None,
            start_urls: Some(start.iter().map(std::string::ToString::to_string).collect()),
            scope: None,
            include: None,
            exclude: None,
            max_depth: None,
            max_pages: None,
            refresh: None,
        }
    }

    #[test]
    fn a_site_is_scoped_to_its_start_directories_by_default() {
        let spec = site(&["https://example.org/docs/intro.html", "https://example.org"])
            .validate()
            .unwrap();
        assert_eq!(
            spec.scope,
            ["https://example.org/docs/", "https://example.org/"]
        );
        assert_eq!(spec.max_depth, DEFAULT_MAX_DEPTH);
    }

    #[test]
    fn kinds_name_their_missing_and_misplaced_fields() {
        let mut sitemap = site(&[]);
        sitemap.kind = SourceKind::Sitemap;
        sitemap.start_urls = None;
        let e = sitemap.validate().unwrap_err();
        assert_eq!(e.param(), Some("url"));
        sitemap.url = Some("ftp://example.org/sitemap.xml".into());
        assert_eq!(sitemap.validate().unwrap_err().param(), Some("url"));
        sitemap.url = Some("https://example.org/sitemap.xml#x".into());
        assert_eq!(
            sitemap.validate().unwrap().url.as_deref(),
            Some("https://example.org/sitemap.xml")
        );
        sitemap.max_depth = Some(3);
        assert_eq!(sitemap.validate().unwrap_err().param(), Some("max_depth"));
        assert_eq!(
            site(&[]).validate().unwrap_err().param(),
            Some("start_urls")
        );
        let mut bad = site(&["https://example.org/"]);
        bad.max_pages = Some(0);
        assert_eq!(bad.validate().unwrap_err().param(), Some("max_pages"));
        bad.max_pages = None;
        bad.refresh = Some("5s".into());
        assert_eq!(bad.validate().unwrap_err().param(), Some("refresh"));
    }

    #[test]
    fn intervals_read_and_write_back() {
        assert_eq!(parse_interval("6h").unwrap(), Duration::from_secs(6 * 3600));
        assert_eq!(parse_interval("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(format_interval(Duration::from_secs(90)), "90s");
        assert_eq!(format_interval(Duration::from_secs(7200)), "2h");
        for bad in [
            "",
            "h",
            "6",
            "-1h",
            "59s",
            "367d",
            "99999999999999999999d",
            "1w",
        ] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn if_match_reads_strong_tags_and_star() {
        assert_eq!(if_match("*"), Some(IfMatch::Any));
        assert_eq!(
            if_match("\"v3\", W/\"v4\", \"x\""),
            Some(IfMatch::Versions(vec![3]))
        );
        assert_eq!(if_match("v3"), None);
        assert_eq!(etag(7), "\"v7\"");
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = serde_json::json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(
            &mut doc,
            &serde_json::json!({"a": "z", "c": {"f": null}, "n": [1]}),
        );
        assert_eq!(
            doc,
            serde_json::json!({"a": "z", "c": {"d": "e"}, "n": [1]})
        );
    }
}
