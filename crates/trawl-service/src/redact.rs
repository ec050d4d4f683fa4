//! Secrets kept out of text: the one place a URL or a message is made safe
//! to show, log or export.
//!
//! Keys travel in URLs (Google's `key=`, Mojeek's `api_key=`, a JSON
//! engine's template), in user-info (`https://user:password@host`), and
//! sometimes come back in an upstream's error text. Two tools, used together:
//!
//! - [`url()`] shows a URL with its user-info and the values of key-bearing
//!   query parameters ([`SECRET_PARAMS`], plus a caller's own names)
//!   replaced by [`REDACTED`];
//! - [`text`] replaces every registered secret value ([`register`]: each
//!   engine's key, the store's and the broker's passwords, a replica's
//!   key) wherever it appears in free text, raw or percent-encoded. The log
//!   writer ([`Writer`]) passes every line through it, so a secret that
//!   reaches a log line by a path nobody foresaw is still not written.
//!
//! Values shorter than [`MIN_SECRET_CHARS`] are not registered: scrubbing
//! them from every line would mangle ordinary words, and no provider issues
//! keys that short.

use std::borrow::Cow;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use memchr::memmem::Finder;

/// What a secret is replaced with.
pub const REDACTED: &str = "REDACTED";

/// Query parameters whose values are secrets whatever the API (compared
/// without regard to case, `-` and `_` alike).
pub const SECRET_PARAMS: &[&str] = &[
    "key",
    "api_key",
    "apikey",
    "access_key",
    "access_token",
    "auth",
    "auth_token",
    "authorization",
    "client_secret",
    "code",
    "credential",
    "credentials",
    "id_token",
    "pass",
    "passwd",
    "password",
    "private_key",
    "pwd",
    "refresh_token",
    "secret",
    "session",
    "sessionid",
    "sig",
    "signature",
    "subscription_key",
    "token",
    "x_api_key",
    "x_amz_credential",
    "x_amz_signature",
    "x_goog_signature",
];

/// Shortest value [`register`] accepts.
pub const MIN_SECRET_CHARS: usize = 6;

/// Secrets registered so far, each with its finder.
static SECRETS: RwLock<Vec<Finder<'static>>> = RwLock::new(Vec::new());
/// Whether any is: the common case (none) costs one load per line.
static ANY: AtomicBool = AtomicBool::new(false);

/// Whether `name` is a key-bearing parameter: in [`SECRET_PARAMS`] or in
/// `extra` (an engine's own key parameter).
pub fn is_secret_param(name: &str, extra: &[&str]) -> bool {
    let normal = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let name = normal(name);
    SECRET_PARAMS.contains(&name.as_str()) || extra.iter().any(|e| normal(e) == name)
}

/// Keeps `secret` out of every text [`text`] cleans from now on, in the
/// forms it travels in (as it is, and percent-encoded as a query value).
/// Values shorter than [`MIN_SECRET_CHARS`] are ignored.
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.chars().count() < MIN_SECRET_CHARS {
        return;
    }
    // A value with a scheme before it (`Bearer …`, `Basic …`): the token
    // alone travels too.
    for part in secret.split_whitespace().filter(|p| *p != secret) {
        register(part);
    }
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let escaped: String =
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let mut secrets = SECRETS
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // As a JSON log line or answer writes it (quotes and backslashes
    // escaped).
    let json = serde_json::to_string(secret)
        .map(|quoted| quoted[1..quoted.len() - 1].to_owned())
        .unwrap_or_default();
    for form in [secret.to_owned(), encoded, escaped, json] {
        if form.is_empty() {
            continue;
        }
        if secrets.iter().any(|f| f.needle() == form.as_bytes()) {
            continue;
        }
        secrets.push(Finder::new(form.as_bytes()).into_owned());
    }
    // Longest first: a secret that contains another is replaced whole.
    secrets.sort_by_key(|f| std::cmp::Reverse(f.needle().len()));
    ANY.store(true, Ordering::Release);
}

/// `text` with every registered secret replaced by [`REDACTED`].
pub fn text(text: &str) -> Cow<'_, str> {
    match bytes(text.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        // Whole UTF-8 sequences were replaced by ASCII: still UTF-8.
        Cow::Owned(cleaned) => Cow::Owned(
            String::from_utf8(cleaned)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        ),
    }
}

/// [`text`] over bytes.
pub fn bytes(input: &[u8]) -> Cow<'_, [u8]> {
    if !ANY.load(Ordering::Acquire) {
        return Cow::Borrowed(input);
    }
    let secrets = SECRETS
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut out: Option<Vec<u8>> = None;
    for finder in secrets.iter() {
        let current: &[u8] = out.as_deref().unwrap_or(input);
        if finder.find(current).is_none() {
            continue;
        }
        let mut cleaned = Vec::with_capacity(current.len());
        let mut rest = current;
        while let Some(at) = finder.find(rest) {
            cleaned.extend_from_slice(&rest[..at]);
            cleaned.extend_from_slice(REDACTED.as_bytes());
            rest = &rest[at + finder.needle().len()..];
        }
        cleaned.extend_from_slice(rest);
        out = Some(cleaned);
    }
    match out {
        Some(cleaned) => Cow::Owned(cleaned),
        None => Cow::Borrowed(input),
    }
}

/// `url` as it may be shown: user-info replaced, and the values of
/// key-bearing query parameters ([`is_secret_param`] with `extra`)
/// replaced by [`REDACTED`]; registered secrets anywhere else (a key in
/// the path) too.
pub fn url_with(url: &url::Url, extra: &[&str]) -> String {
    let mut shown = url.clone();
    if !shown.username().is_empty() {
        let _ = shown.set_username(REDACTED);
    }
    if shown.password().is_some() {
        let _ = shown.set_password(None);
    }
    if shown.query().is_some() {
        let pairs: Vec<(String, String)> = shown
            .query_pairs()
            .map(|(name, value)| {
                let value = if is_secret_param(&name, extra) {
                    REDACTED.to_owned()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    // OAuth's implicit flow puts tokens in the fragment: `#access_token=…`.
    if let Some(fragment) = shown.fragment().map(str::to_owned) {
        let pairs: Vec<String> = fragment
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if is_secret_param(name, extra) => format!("{name}={REDACTED}"),
                _ => pair.to_owned(),
            })
            .collect();
        shown.set_fragment(Some(&pairs.join("&")));
    }
    text(shown.as_str()).into_owned()
}

/// [`url_with`] and only the common parameter names.
pub fn url(url: &url::Url) -> String {
    url_with(url, &[])
}

/// A URL given as text: [`url()`] when it parses; else the text with every
/// `name=value` pair of a secret name cut, and registered secrets replaced.
pub fn url_text(raw: &str) -> String {
    if let Ok(parsed) = url::Url::parse(raw) {
        return url(&parsed);
    }
    let (head, query) = raw.split_once('?').unwrap_or((raw, ""));
    let head = match head.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) if !host.contains('/') || rest.find('@') < rest.find('/') => {
                format!("{scheme}://{REDACTED}@{host}")
            }
            _ => head.to_owned(),
        },
        None => head.to_owned(),
    };
    let mut shown = head;
    if !query.is_empty() || raw.contains('?') {
        shown.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if is_secret_param(name, &[]) => format!("{name}={REDACTED}"),
                _ => pair.to_owned(),
            })
            .collect();
        shown.push_str(&pairs.join("&"));
    }
    text(&shown).into_owned()
}

/// Registers the secrets a configured URL carries: its password, and the
/// values of its key-bearing query parameters (with `extra` names).
pub fn register_url(url: &url::Url, extra: &[&str]) {
    if let Some(password) = url.password() {
        let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy();
        register(&decoded);
    }
    for (name, value) in url.query_pairs() {
        if is_secret_param(&name, extra) {
            register(&value);
        }
    }
}

/// A log writer that cleans each write with [`bytes()`] (tracing's formatter
/// writes a whole line at once).
#[derive(Debug, Clone, Copy, Default)]
pub struct Writer;

/// What [`Writer`] makes for each line: standard error, cleaned.
#[derive(Debug)]
pub struct Stderr(std::io::Stderr);

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match bytes(buf) {
            Cow::Borrowed(_) => self.0.write(buf),
            Cow::Owned(cleaned) => {
                self.0.write_all(&cleaned)?;
                // The caller's bytes were all taken, if not as they were.
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Writer {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Stderr {
        Stderr(std::io::stderr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_user_info_and_key_values() {
        let url = url::Url::parse(
            "https://user:pa55word@api.example.com/search?q=rust&key=AIzaSECRET&API-KEY=x&cx=abc",
        )
        .unwrap();
        let shown = super::url(&url);
        assert_eq!(
            shown,
            "https://REDACTED@api.example.com/search?q=rust&key=REDACTED&API-KEY=REDACTED&cx=abc"
        );
        let fragment = url::Url::parse("https://x.example/cb#access_token=tok123&state=s").unwrap();
        assert_eq!(
            super::url(&fragment),
            "https://x.example/cb#access_token=REDACTED&state=s"
        );
        let own = url::Url::parse("https://x.example/?q=a&appid=zzz").unwrap();
        assert!(!url_with(&own, &["appid"]).contains("zzz"));
        assert!(super::url(&own).contains("zzz"), "not a common name");
    }

    #[test]
    fn unparsable_urls_are_cut_by_name() {
        let shown = url_text("http://u:p@[bad/x?token=abc&q=1");
        assert!(!shown.contains("token=abc"), "{shown}");
        assert!(shown.contains("q=1"), "{shown}");
    }

    #[test]
    fn registered_secrets_leave_every_text_in_every_form() {
        register("s3cr3t+key/value");
        register("short"); // too short: never registered
        let line = "error for url (https://x/?k=s3cr3t%2Bkey%2Fvalue) s3cr3t+key/value short";
        let cleaned = text(line);
        assert!(!cleaned.contains("s3cr3t"), "{cleaned}");
        assert!(cleaned.contains("short"), "{cleaned}");
        assert_eq!(cleaned.matches(REDACTED).count(), 2, "{cleaned}");
        // A scheme and its token; a value JSON escapes.
        register("Bearer t0k3nvalue");
        assert_eq!(text("Authorization: t0k3nvalue"), "Authorization: REDACTED");
        register("quo\"te\\key9");
        assert_eq!(text(r#"{"k":"quo\"te\\key9"}"#), r#"{"k":"REDACTED"}"#);
        // Nothing registered in it: the same text, not a copy.
        assert!(matches!(text("nothing here"), Cow::Borrowed(_)));
        let mut written = Vec::new();
        std::io::Write::write_all(&mut written, &bytes(b"x s3cr3t+key/value y")).unwrap();
        assert_eq!(written, b"x REDACTED y");
    }
}
