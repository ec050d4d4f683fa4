//! The closed vocabularies of a search request: output format, safe search,
//! time range, language and engine names. Each parses from exactly the
//! spellings listed in `docs/api.md` (lowercase, no synonyms) and refuses
//! anything else with the list of what it accepts.

use std::fmt;
use std::time::Duration;

use crate::params::InvalidRequest;

/// A parameter whose values are a fixed set of keywords.
pub trait Keyword: Copy + Eq + 'static {
    /// The query-string parameter it is read from.
    const PARAM: &'static str;
    /// Every accepted spelling, with its value.
    const VALUES: &'static [(&'static str, Self)];

    /// The value's spelling in a query string.
    fn as_str(self) -> &'static str {
        Self::VALUES
            .iter()
            .find(|(_, v)| *v == self)
            .map(|(name, _)| *name)
            .expect("every value has a spelling")
    }

    /// `None` for an absent or empty value (an untouched form field).
    fn parse_param(raw: Option<&str>) -> Result<Option<Self>, InvalidRequest> {
        let Some(raw) = raw.filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        Self::VALUES
            .iter()
            .find(|(name, _)| *name == raw)
            .map(|(_, value)| Some(*value))
            .ok_or_else(|| InvalidRequest::InvalidParameter {
                param: Self::PARAM,
                reason: format!(
                    "must be one of {}, got `{}`",
                    Self::VALUES
                        .iter()
                        .map(|(name, _)| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    crate::params::truncate(raw, 32)
                ),
            })
    }
}

/// What an answer is rendered as. Each endpoint accepts the formats it can
/// produce (the first being its default), asked for by the `format`
/// parameter or, without one, by the `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JSON (`application/json`).
    Json,
    /// CSV (`text/csv`).
    Csv,
    /// RSS 2.0 (`application/rss+xml`).
    Rss,
    /// The HTML page.
    Html,
}

impl Keyword for Format {
    const PARAM: &'static str = "format";
    const VALUES: &'static [(&'static str, Self)] = &[
        ("json", Self::Json),
        ("csv", Self::Csv),
        ("rss", Self::Rss),
        ("html", Self::Html),
    ];
}

impl Format {
    /// What the results service and the public API answer in: JSON (the
    /// default), CSV and RSS 2.0.
    pub const DATA: &'static [Format] = &[Format::Json, Format::Csv, Format::Rss];

    /// The media type answers in this format carry.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8; header=present",
            Self::Rss => "application/rss+xml; charset=utf-8",
            Self::Html => "text/html; charset=utf-8",
        }
    }

    /// The media types an `Accept` header may name it by.
    fn media_types(self) -> &'static [&'static str] {
        match self {
            Self::Json => &["application/json"],
            Self::Csv => &["text/csv"],
            Self::Rss => &["application/rss+xml"],
            Self::Html => &["text/html", "application/xhtml+xml"],
        }
    }

    /// The format to answer in: the `format` parameter if given (it must
    /// be one this endpoint produces), else the produced format the
    /// `Accept` header prefers (by quality; equal qualities and wildcards
    /// go to the earlier in `produced`), else `produced[0]`. An `Accept`
    /// header that admits none of them is `not_acceptable`.
    pub fn negotiate(
        raw: Option<&str>,
        accept: Option<&str>,
        produced: &[Format],
    ) -> Result<Format, InvalidRequest> {
        let Some(format) = Self::parse_param(raw)? else {
            return match accept.map(str::trim).filter(|a| !a.is_empty()) {
                Some(accept) => Self::from_accept(accept, produced),
                None => Ok(produced[0]),
            };
        };
        if produced.contains(&format) {
            return Ok(format);
        }
        let names: Vec<String> = produced
            .iter()
            .map(|f| format!("`{}`", f.as_str()))
            .collect();
        Err(InvalidRequest::InvalidParameter {
            param: "format",
            reason: format!(
                "`{}` is not produced here; this endpoint answers in {}",
                format.as_str(),
                names.join(", ")
            ),
        })
    }
}

impl Format {
    fn from_accept(accept: &str, produced: &[Format]) -> Result<Format, InvalidRequest> {
        let mut best: Option<(Format, f32)> = None;
        for &format in produced {
            // The most specific range that matches decides (RFC 9110,
            // 12.5.1): `text/csv;q=0, */*` refuses CSV.
            let quality = accept
                .split(',')
                .filter_map(|range| {
                    let mut parts = range.split(';');
                    let media = parts.next()?.trim().to_ascii_lowercase();
                    let quality = parts
                        .filter_map(|p| p.trim().strip_prefix("q="))
                        .find_map(|q| q.trim().parse::<f32>().ok())
                        .filter(|q| q.is_finite())
                        .unwrap_or(1.0)
                        .clamp(0.0, 1.0);
                    let (kind, _) = media.split_once('/')?;
                    let specificity = if media == "*/*" {
                        1
                    } else if media.ends_with("/*")
                        && format
                            .media_types()
                            .iter()
                            .any(|m| m.split_once('/').is_some_and(|(k, _)| k == kind))
                    {
                        2
                    } else if format.media_types().contains(&media.as_str()) {
                        3
                    } else {
                        return None;
                    };
                    Some((specificity, quality))
                })
                .fold(None, |best: Option<(u8, f32)>, (s, q)| match best {
                    Some((bs, bq)) if bs > s || (bs == s && bq >= q) => Some((bs, bq)),
                    _ => Some((s, q)),
                })
                .map(|(_, q)| q);
            if let Some(quality) = quality.filter(|q| *q > 0.0)
                && best.is_none_or(|(_, b)| quality > b)
            {
                best = Some((format, quality));
            }
        }
        best.map(|(format, _)| format)
            .ok_or_else(|| InvalidRequest::NotAcceptable {
                produced: produced
                    .iter()
                    .map(|f| f.media_types()[0])
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// How strictly engines filter explicit content. Engines without such a
/// filter (the local index) ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Safe {
    /// No filtering.
    Off,
    /// Engines' default filtering.
    #[default]
    Moderate,
    /// The strictest filtering engines offer.
    Strict,
}

impl Keyword for Safe {
    const PARAM: &'static str = "safe";
    const VALUES: &'static [(&'static str, Self)] = &[
        ("off", Self::Off),
        ("moderate", Self::Moderate),
        ("strict", Self::Strict),
    ];
}

/// Only documents published within this long before now. Documents without
/// a publication date do not match a time range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeRange {
    /// The past 24 hours.
    Day,
    /// The past 7 days.
    Week,
    /// The past 31 days.
    Month,
    /// The past 365 days.
    Year,
}

impl Keyword for TimeRange {
    const PARAM: &'static str = "time_range";
    const VALUES: &'static [(&'static str, Self)] = &[
        ("day", Self::Day),
        ("week", Self::Week),
        ("month", Self::Month),
        ("year", Self::Year),
    ];
}

impl TimeRange {
    /// The span it covers: a month is 31 days, a year 365.
    pub fn duration(self) -> Duration {
        let days = match self {
            Self::Day => 1,
            Self::Week => 7,
            Self::Month => 31,
            Self::Year => 365,
        };
        Duration::from_secs(days * 24 * 60 * 60)
    }
}

/// ISO 639-1: every two-letter language code.
pub const LANGUAGES: &[&str] = &[
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bi",
    "bm", "bn", "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da", "de",
    "dv", "dz", "ee", "el", "en", "eo", "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr", "fy",
    "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi", "ho", "hr", "ht", "hu", "hy", "hz", "ia",
    "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv", "ka", "kg", "ki", "kj", "kk",
    "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln", "lo",
    "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb", "nd",
    "ne", "ng", "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi", "pl",
    "ps", "pt", "qu", "rm", "rn", "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk", "sl",
    "sm", "sn", "so", "sq", "sr", "ss", "st", "su", "sv", "sw", "ta", "te", "tg", "th", "ti", "tk",
    "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur", "uz", "ve", "vi", "vo", "wa",
    "wo", "xh", "yi", "yo", "za", "zh", "zu",
];

/// The language results should be in: an ISO 639-1 code. Engines that can
/// filter or bias by language do; the local index, whose documents carry no
/// language, ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lang(&'static str);

impl Lang {
    /// `None` for an absent or empty value or `all`.
    pub fn parse_param(raw: Option<&str>) -> Result<Option<Self>, InvalidRequest> {
        let Some(raw) = raw.filter(|s| !s.is_empty() && *s != "all") else {
            return Ok(None);
        };
        match LANGUAGES.iter().find(|code| **code == raw) {
            Some(code) => Ok(Some(Self(code))),
            None => Err(InvalidRequest::InvalidParameter {
                param: "lang",
                reason: format!(
                    "must be `all` or a lowercase two-letter ISO 639-1 code such as `en`, got `{}`",
                    crate::params::truncate(raw, 32)
                ),
            }),
        }
    }

    /// The code, e.g. `de`.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Most engines one request may name.
pub const MAX_ENGINES: usize = 32;
/// Longest engine name.
pub const MAX_ENGINE_NAME: usize = 32;

/// Whether `name` is a valid engine name: 1 to [`MAX_ENGINE_NAME`] of
/// `a-z`, `0-9`, `-` and `_`, starting with a letter or digit. Configured
/// engines obey the same rule.
pub fn is_engine_name(name: &str) -> bool {
    (1..=MAX_ENGINE_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !name.starts_with(['-', '_'])
}

/// Parses `engines=a,b`: engine names separated by single commas, with no
/// spaces; duplicates dropped, order kept. Empty means every enabled engine.
/// Whether the names are configured is for the search service to say.
pub fn parse_engines(raw: Option<&str>) -> Result<Vec<String>, InvalidRequest> {
    parse_names("engines", "engine names", raw)
}

/// Parses `categories=a,b`: category names (spelled as engine names are),
/// each kept once.
pub fn parse_categories(raw: Option<&str>) -> Result<Vec<String>, InvalidRequest> {
    parse_names("categories", "category names", raw)
}

fn parse_names(
    param: &'static str,
    what: &str,
    raw: Option<&str>,
) -> Result<Vec<String>, InvalidRequest> {
    let mut names: Vec<String> = Vec::new();
    let raw = raw.unwrap_or("");
    if raw.is_empty() {
        return Ok(names);
    }
    for name in raw.split(',') {
        if !is_engine_name(name) {
            return Err(InvalidRequest::InvalidParameter {
                param,
                reason: format!(
                    "must be {what} (lowercase letters, digits, `-` and `_`) separated by commas, got `{}`",
                    crate::params::truncate(name, 32)
                ),
            });
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
        if names.len() > MAX_ENGINES {
            return Err(InvalidRequest::InvalidParameter {
                param,
                reason: format!("names more than {MAX_ENGINES} {what}"),
            });
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_and_categories_are_bounded_and_kept_once() {
        let names = |n: usize| {
            (0..n)
                .map(|i| format!("c{i}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(
            parse_categories(Some(&names(MAX_ENGINES))).unwrap().len(),
            MAX_ENGINES
        );
        for parse in [parse_engines, parse_categories] {
            let error = parse(Some(&names(MAX_ENGINES + 1))).unwrap_err();
            assert!(error.to_string().contains("names more than 32"), "{error}");
        }
        assert_eq!(
            parse_categories(Some("science,code,science")).unwrap(),
            ["science", "code"]
        );
        let long = "x".repeat(MAX_ENGINE_NAME + 1);
        assert_eq!(
            parse_categories(Some(&long)).unwrap_err().param(),
            Some("categories")
        );
    }

    #[test]
    fn keywords_parse_exactly_their_spellings() {
        assert_eq!(
            Safe::parse_param(Some("strict")).unwrap(),
            Some(Safe::Strict)
        );
        assert_eq!(Safe::parse_param(Some("")).unwrap(), None);
        assert_eq!(Safe::parse_param(None).unwrap(), None);
        assert_eq!(
            TimeRange::parse_param(Some("week")).unwrap(),
            Some(TimeRange::Week)
        );
        for bad in ["STRICT", "1", "none", "strict,off", " strict"] {
            let err = Safe::parse_param(Some(bad)).unwrap_err();
            assert_eq!(err.param(), Some("safe"));
            assert!(
                err.to_string()
                    .contains("one of `off`, `moderate`, `strict`"),
                "{err}"
            );
        }
        for (name, value) in Safe::VALUES {
            assert_eq!(value.as_str(), *name);
        }
    }

    #[test]
    fn formats_are_checked_against_what_the_endpoint_produces() {
        let json = [Format::Json];
        assert_eq!(Format::negotiate(None, None, &json).unwrap(), Format::Json);
        assert_eq!(
            Format::negotiate(Some("json"), None, &json).unwrap(),
            Format::Json
        );
        let err = Format::negotiate(Some("html"), None, &json).unwrap_err();
        assert!(err.to_string().contains("answers in `json`"), "{err}");
        let err = Format::negotiate(Some("xml"), None, &json).unwrap_err();
        assert_eq!(err.param(), Some("format"));
        // The parameter wins over the header.
        assert_eq!(
            Format::negotiate(Some("csv"), Some("application/rss+xml"), Format::DATA).unwrap(),
            Format::Csv
        );
    }

    #[test]
    fn without_a_format_the_accept_header_chooses() {
        let web = [Format::Json, Format::Csv, Format::Rss, Format::Html];
        let pick =
            |accept: &str, produced: &[Format]| Format::negotiate(None, Some(accept), produced);
        assert_eq!(pick("text/csv", &web).unwrap(), Format::Csv);
        assert_eq!(pick("application/rss+xml", &web).unwrap(), Format::Rss);
        assert_eq!(pick("*/*", &web).unwrap(), Format::Json, "the default");
        assert_eq!(pick("", &web).unwrap(), Format::Json);
        assert_eq!(
            pick("text/csv;q=0.5, application/rss+xml;q=0.9", &web).unwrap(),
            Format::Rss
        );
        assert_eq!(
            pick("text/*", &web).unwrap(),
            Format::Csv,
            "the first text/ format"
        );
        // A browser: HTML where the endpoint makes it, else the default.
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(pick(browser, &web).unwrap(), Format::Html);
        assert_eq!(pick(browser, Format::DATA).unwrap(), Format::Json);
        assert_eq!(
            pick("application/json;q=0, */*", Format::DATA).unwrap(),
            Format::Csv
        );
        let err = pick("image/png", Format::DATA).unwrap_err();
        assert_eq!(err.code(), "not_acceptable");
        assert!(
            err.to_string()
                .contains("application/json, text/csv, application/rss+xml"),
            "{err}"
        );
        assert_eq!(
            pick("text/csv;q=0", Format::DATA).unwrap_err().code(),
            "not_acceptable"
        );
    }

    #[test]
    fn languages() {
        assert_eq!(LANGUAGES.len(), 183);
        assert!(LANGUAGES.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
        assert_eq!(
            Lang::parse_param(Some("de")).unwrap().unwrap().as_str(),
            "de"
        );
        assert_eq!(Lang::parse_param(Some("all")).unwrap(), None);
        for bad in ["EN", "en-US", "eng", "qq", "e", "en "] {
            assert_eq!(
                Lang::parse_param(Some(bad)).unwrap_err().param(),
                Some("lang"),
                "{bad}"
            );
        }
    }

    #[test]
    fn engine_lists() {
        assert_eq!(
            parse_engines(Some("local,wiki,local")).unwrap(),
            ["local", "wiki"]
        );
        assert!(parse_engines(Some("")).unwrap().is_empty());
        for bad in [
            "Local",
            "a b",
            " local",
            "local,",
            "a,,b",
            "-x",
            "x/y",
            &"a".repeat(33),
        ] {
            assert_eq!(
                parse_engines(Some(bad)).unwrap_err().param(),
                Some("engines"),
                "{bad}"
            );
        }
        let many: Vec<String> = (0..33).map(|i| format!("e{i}")).collect();
        assert!(parse_engines(Some(&many.join(","))).is_err());
    }
}
