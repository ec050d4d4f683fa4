//! Preferences: kept in one cookie, never on the server.
//!
//! The cookie holds a query string (`lang=de&per_page=20&off=wiki&…`) so
//! that the same text is the export URL's query. Reading is lenient: a
//! value this version does not accept (an old cookie, an engine since
//! removed) is ignored, never an error. Saving is strict: the form's
//! values are checked and a bad one is named.

use trawl_api::params::{SearchParams, encode_component, parse_query_string};
use trawl_api::{InvalidRequest, Keyword, Lang, Safe, TimeRange};

/// The cookie's name.
pub(crate) const COOKIE: &str = "trawl_prefs";
/// How long the cookie lives: a year.
const MAX_AGE_SECONDS: u64 = 365 * 24 * 60 * 60;
/// Longest cookie value read; a longer one is ignored.
const MAX_COOKIE_BYTES: usize = 2048;
/// Results a page the form offers.
pub(crate) const PER_PAGE_CHOICES: &[u32] = &[10, 20, 30, 50, 100];

/// How the page looks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Theme {
    /// As the system says (`prefers-color-scheme`).
    #[default]
    Auto,
    Light,
    Dark,
}

impl Theme {
    pub(crate) const CHOICES: &[(&str, &str)] = &[
        ("auto", "As the system is (light or dark)"),
        ("light", "Light"),
        ("dark", "Dark"),
    ];

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "auto" | "" => Some(Self::Auto),
            "light" => Some(Self::Light),
            "dark" => Some(Self::Dark),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Light => "light",
            Self::Dark => "dark",
        }
    }

    /// The page's `data-theme`, when not automatic.
    pub(crate) fn attribute(self) -> Option<&'static str> {
        (self != Self::Auto).then(|| self.as_str())
    }
}

/// One browser's preferences; the default is what a first visit gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Prefs {
    /// Engines turned off (engines added later are on).
    pub off: Vec<String>,
    pub lang: Option<Lang>,
    pub safe: Option<Safe>,
    pub time_range: Option<TimeRange>,
    /// `None`: the default page size.
    pub per_page: Option<u32>,
    pub theme: Theme,
    pub new_tab: bool,
}

impl Prefs {
    /// From the request's `Cookie` headers; defaults for anything missing
    /// or not understood.
    pub(crate) fn from_headers(headers: &axum::http::HeaderMap) -> Self {
        headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)
            .filter(|(_, value)| value.len() <= MAX_COOKIE_BYTES)
            .map(|(_, value)| Self::lenient(value))
            .unwrap_or_default()
    }

    /// Whatever of `raw` (a query string) is valid.
    pub(crate) fn lenient(raw: &str) -> Self {
        let Ok(pairs) = parse_query_string(raw) else {
            return Self::default();
        };
        let mut prefs = Self::default();
        for (name, value) in pairs {
            prefs.set(&name, &value).ok();
        }
        prefs
    }

    /// The form's values (a form body or an export URL's query string),
    /// checked: the first bad one is the error. `engine` lists the engines
    /// kept on; `known` are the configured engines (the rest are off).
    pub(crate) fn from_form(raw: &str, known: &[String]) -> Result<Self, InvalidRequest> {
        let mut prefs = Self::default();
        let mut on: Option<Vec<String>> = None;
        let mut off_given = false;
        for (name, value) in parse_query_string(raw)? {
            if name == "engine" {
                on.get_or_insert_with(Vec::new).push(value);
            } else {
                off_given |= name == "off";
                prefs.set(&name, &value)?;
            }
        }
        // The form's ticked boxes name the engines kept on, and with none
        // ticked it sends no `engine`; an export address names the engines
        // turned off (`off`) instead.
        if on.is_none() && !off_given {
            on = Some(Vec::new());
        }
        if !known.is_empty() {
            if let Some(on) = on {
                prefs.off = known.iter().filter(|k| !on.contains(k)).cloned().collect();
            }
            if known.iter().all(|k| prefs.off.contains(k)) {
                return Err(InvalidRequest::InvalidParameter {
                    param: "engine",
                    reason: "must keep at least one engine on".to_owned(),
                });
            }
        }
        Ok(prefs)
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), InvalidRequest> {
        let invalid = |param: &'static str, reason: &str| InvalidRequest::InvalidParameter {
            param,
            reason: reason.to_owned(),
        };
        match name {
            "off" => self.off = trawl_api::options::parse_engines(Some(value))?,
            "lang" => self.lang = Lang::parse_param(Some(value))?,
            "safe" => self.safe = Safe::parse_param(Some(value))?,
            "time_range" => self.time_range = TimeRange::parse_param(Some(value))?,
            "per_page" => {
                self.per_page = match value {
                    "" => None,
                    v => Some(
                        v.parse::<u32>()
                            .ok()
                            .filter(|n| (1..=trawl_api::params::MAX_PER_PAGE).contains(n))
                            .ok_or_else(|| {
                                invalid("per_page", "must be a whole number from 1 to 100")
                            })?,
                    ),
                }
            }
            "theme" => {
                self.theme = Theme::parse(value)
                    .ok_or_else(|| invalid("theme", "must be `auto`, `light` or `dark`"))?;
            }
            "new_tab" => self.new_tab = matches!(value, "1" | "on" | "true"),
            _ => {}
        }
        Ok(())
    }

    /// As a query string: the cookie's value and the export URL's query.
    pub(crate) fn to_query_string(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if !self.off.is_empty() {
            parts.push(format!("off={}", encode_component(&self.off.join(","))));
        }
        if let Some(lang) = self.lang {
            parts.push(format!("lang={lang}"));
        }
        if let Some(safe) = self.safe {
            parts.push(format!("safe={}", safe.as_str()));
        }
        if let Some(range) = self.time_range {
            parts.push(format!("time_range={}", range.as_str()));
        }
        if let Some(n) = self.per_page {
            parts.push(format!("per_page={n}"));
        }
        if self.theme != Theme::Auto {
            parts.push(format!("theme={}", self.theme.as_str()));
        }
        if self.new_tab {
            parts.push("new_tab=1".to_owned());
        }
        parts.join("&")
    }

    /// The `Set-Cookie` value that keeps these preferences: `HttpOnly`
    /// (the page's script never reads them), `SameSite=Lax`, `Secure`
    /// when the page was served over https.
    pub(crate) fn set_cookie(&self, secure: bool) -> String {
        // The query string's `&` and `=` are valid in a cookie value.
        let mut cookie = format!(
            "{COOKIE}={}; Path=/; Max-Age={MAX_AGE_SECONDS}; HttpOnly; SameSite=Lax",
            self.to_query_string()
        );
        if secure {
            cookie.push_str("; Secure");
        }
        cookie
    }

    /// Fills what a search's own parameters leave unset.
    pub(crate) fn fill(&self, params: &mut SearchParams) {
        let unset = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        if unset(&params.lang) {
            params.lang = self.lang.map(|l| l.as_str().to_owned());
        }
        if unset(&params.safe) {
            params.safe = self.safe.map(|s| s.as_str().to_owned());
        }
        // An empty `time_range` is the form's "Any time": a choice, kept.
        if params.time_range.is_none() {
            params.time_range = self.time_range.map(|t| t.as_str().to_owned());
        }
        if unset(&params.per_page) {
            params.per_page = self.per_page.map(|n| n.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_round_trips_and_bad_values_are_ignored() {
        let prefs = Prefs {
            off: vec!["wiki".into(), "hn".into()],
            lang: Lang::parse_param(Some("de")).unwrap(),
            safe: Safe::parse_param(Some("strict")).unwrap(),
            time_range: TimeRange::parse_param(Some("week")).unwrap(),
            per_page: Some(20),
            theme: Theme::Dark,
            new_tab: true,
        };
        let cookie = prefs.to_query_string();
        assert_eq!(Prefs::lenient(&cookie), prefs);
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            format!("other=1; {COOKIE}={cookie}").parse().unwrap(),
        );
        assert_eq!(Prefs::from_headers(&headers), prefs);
        let lenient = Prefs::lenient("lang=xx&per_page=1000&theme=pink&per_page=20&bogus=1");
        assert_eq!(lenient.per_page, Some(20));
        assert_eq!((lenient.lang, lenient.theme), (None, Theme::Auto));
        assert_eq!(Prefs::lenient("%zz"), Prefs::default());
        // A cookie longer than is read is ignored whole.
        let long = format!("{COOKIE}=theme=dark&pad={}", "a".repeat(MAX_COOKIE_BYTES));
        headers.insert(axum::http::header::COOKIE, long.parse().unwrap());
        assert_eq!(Prefs::from_headers(&headers), Prefs::default());
        assert!(
            prefs
                .set_cookie(true)
                .ends_with("HttpOnly; SameSite=Lax; Secure")
        );
    }

    #[test]
    fn the_form_is_checked_and_keeps_one_engine_on() {
        let known = vec!["local".to_owned(), "wiki".to_owned()];
        let prefs =
            Prefs::from_form("engine=local&lang=fr&per_page=50&theme=light", &known).unwrap();
        assert_eq!(prefs.off, ["wiki"]);
        assert_eq!(prefs.per_page, Some(50));
        let none = Prefs::from_form("lang=fr", &known).unwrap_err();
        assert_eq!(none.param(), Some("engine"));
        assert_eq!(
            Prefs::from_form("engine=local&per_page=0", &known)
                .unwrap_err()
                .param(),
            Some("per_page")
        );
        assert_eq!(
            Prefs::from_form("engine=local&lang=xx", &known)
                .unwrap_err()
                .param(),
            Some("lang")
        );
        // An export URL names the engines turned off.
        let exported = Prefs::from_form("off=wiki&safe=off", &known).unwrap();
        assert_eq!(exported.off, ["wiki"]);
    }
}
