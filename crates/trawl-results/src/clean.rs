//! URL cleaning: redirect wrappers unwrapped, tracking parameters removed,
//! and a normalised key for de-duplication.
//!
//! The lists are ours, kept in this file and documented in
//! `docs/results.md`: the ClearURLs rules are the reference, but the crate
//! that ships them (`clearurls`) has not been released since 2024, and it
//! matches every URL against each of its ~200 provider regexes, which would
//! cost more than the rest of a request. Here a URL costs one parse, one
//! table lookup per query parameter and a few host comparisons.

use url::Url;

/// Query parameters removed from every URL, by exact name (compared
/// case-insensitively, after percent-decoding).
pub const TRACKING_PARAMETERS: &[&str] = &[
    // Google Ads, Analytics and friends
    "gclid",
    "gclsrc",
    "dclid",
    "gbraid",
    "wbraid",
    "gad_source",
    "_ga",
    "_gl",
    // Microsoft Advertising, Facebook, Instagram, TikTok, Twitter/X
    "msclkid",
    "fbclid",
    "igshid",
    "igsh",
    "ttclid",
    "twclid",
    "ref_src",
    "ref_url",
    // Mailchimp, HubSpot, Marketo, Vero, Oracle, Adobe
    "mc_eid",
    "mc_cid",
    "_hsenc",
    "_hsmi",
    "__hssc",
    "__hstc",
    "__hsfp",
    "hsctatracking",
    "mkt_tok",
    "vero_conv",
    "vero_id",
    "oly_anon_id",
    "oly_enc_id",
    "s_cid",
    "icid",
    // Yandex, Openstat, Wicked Reports, Rakuten, Matomo/Piwik campaigns
    "yclid",
    "ysclid",
    "_openstat",
    "wickedid",
    "rb_clickid",
    "srsltid",
    "mtm_campaign",
    "mtm_source",
    "mtm_medium",
    "mtm_content",
    "mtm_keyword",
    "pk_campaign",
    "pk_kwd",
    "pk_source",
    "pk_medium",
];

/// Query parameters removed from every URL by prefix: `utm_source`,
/// `utm_medium`, … and Google Analytics' `ga_*` campaign fields.
pub const TRACKING_PREFIXES: &[&str] = &["utm_", "ga_", "hmb_", "stm_"];

/// Query parameters removed on one site only (and its subdomains), where
/// the name is too common to remove everywhere.
pub const SITE_TRACKING_PARAMETERS: &[(&str, &[&str])] = &[
    (
        "amazon.com",
        &[
            "ref", "ref_", "pf_rd_p", "pf_rd_r", "pd_rd_r", "pd_rd_w", "pd_rd_wg", "qid", "sr",
            "crid", "sprefix", "linkcode", "tag",
        ],
    ),
    ("youtube.com", &["feature", "si", "pp"]),
    ("youtu.be", &["feature", "si"]),
    ("twitter.com", &["s", "t"]),
    ("x.com", &["s", "t"]),
    ("reddit.com", &["share_id", "rdt"]),
    ("linkedin.com", &["trk", "trackingid", "lipi"]),
    ("spotify.com", &["si", "context"]),
    (
        "aliexpress.com",
        &["spm", "scm", "algo_pvid", "algo_exp_id"],
    ),
    ("medium.com", &["source"]),
];

/// Redirect wrappers: (host, path, parameter holding the target). The host
/// matches itself and its subdomains; `google.` matches every Google
/// country domain.
pub const REDIRECTS: &[(&str, &str, &[&str])] = &[
    ("google.", "/url", &["q", "url"]),
    ("duckduckgo.com", "/l/", &["uddg"]),
    ("l.facebook.com", "/l.php", &["u"]),
    ("lm.facebook.com", "/l.php", &["u"]),
    ("l.instagram.com", "/", &["u"]),
    ("out.reddit.com", "/", &["url"]),
    ("youtube.com", "/redirect", &["q"]),
    ("linkedin.com", "/redir/redirect", &["url"]),
    ("steamcommunity.com", "/linkfilter/", &["url", "u"]),
    ("t.umblr.com", "/redirect", &["z"]),
    ("vk.com", "/away.php", &["to"]),
    ("slack-redir.net", "/link", &["url"]),
];

/// How many wrappers deep a redirect is followed.
const MAX_UNWRAP: usize = 4;

/// The URL to show: trimmed, parsed (scheme and host lower-cased, default
/// port dropped, as the WHATWG URL standard serialises it), redirect
/// wrappers unwrapped, user-info (`user:password@`), tracking parameters
/// and text-fragment directives (`#:~:text=`) removed; other parameters keep their order and spelling.
/// Text that is not an absolute `http`/`https` URL is returned trimmed and
/// otherwise untouched. Idempotent.
pub fn clean_url(raw: &str) -> String {
    match parse_web(raw.trim()) {
        Some(url) => clean(url).into(),
        None => raw.trim().to_owned(),
    }
}

/// The key results merge on: the cleaned URL with `http` as `https`, no
/// fragment, no trailing slash on the path, and the query parameters in
/// sorted order. `None` for text that is not an absolute `http`/`https`
/// URL (it merges only with identical text).
pub fn dedup_key(raw: &str) -> Option<String> {
    let url = clean(parse_web(raw.trim())?);
    Some(key_of(&url))
}

pub(crate) fn parse_web(raw: &str) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host_str().is_some()).then_some(url)
}

/// [`clean_url`] on a parsed URL.
pub(crate) fn clean(mut url: Url) -> Url {
    let mut changed = false;
    for _ in 0..MAX_UNWRAP {
        match unwrap_redirect(&url) {
            Some(target) => {
                url = target;
                changed = true;
            }
            None => break,
        }
    }
    changed |= strip_tracking(&mut url);
    // `https://trusted.example@evil.example/` goes to evil.example: the
    // user-info is dropped so that what is shown is where the link goes
    // (and no credentials are published).
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
        changed = true;
    }
    if let Some(fragment) = url.fragment()
        && let Some(at) = fragment.find(":~:")
    {
        let kept = fragment[..at].to_owned();
        url.set_fragment((!kept.is_empty()).then_some(&kept));
        changed = true;
    }
    if !changed {
        return url;
    }
    // What the URL standard makes of its own serialisation after a change
    // can differ from the changed URL (e.g. a path that only became
    // ambiguous once a part was removed): settle it, so cleaning twice
    // changes nothing.
    match Url::parse(url.as_str()) {
        Ok(settled) => settled,
        Err(_) => url,
    }
}

pub(crate) fn key_of(url: &Url) -> String {
    let mut key = String::with_capacity(url.as_str().len());
    key.push_str("https://");
    key.push_str(url.host_str().unwrap_or_default());
    if let Some(port) = url.port()
        && !(url.scheme() == "http" && port == 443)
    {
        key.push(':');
        key.push_str(&port.to_string());
    }
    let path = url.path();
    key.push_str(if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    });
    if let Some(query) = url.query() {
        let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
        if !pairs.is_empty() {
            pairs.sort_unstable();
            key.push('?');
            key.push_str(&pairs.join("&"));
        }
    }
    key
}

fn host_matches(host: &str, domain: &str) -> bool {
    if let Some(prefix) = domain.strip_suffix('.') {
        // `google.`: google.<tld>, google.co.<tld>, www.google.<tld>
        let host = host.strip_prefix("www.").unwrap_or(host);
        return host
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|tld| !tld.is_empty() && tld.split('.').count() <= 2);
    }
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|sub| sub.ends_with('.'))
}

fn unwrap_redirect(url: &Url) -> Option<Url> {
    let host = url.host_str()?;
    let query = url.query()?;
    let (_, _, params) = REDIRECTS
        .iter()
        .find(|(domain, path, _)| host_matches(host, domain) && url.path() == *path)?;
    let target = url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| params.contains(&name.as_ref()))?
        .1;
    parse_web(target.trim())
}

fn is_tracking(name: &str, site: &[&str]) -> bool {
    let lower = name.to_ascii_lowercase();
    TRACKING_PARAMETERS.contains(&lower.as_str())
        || TRACKING_PREFIXES.iter().any(|p| lower.starts_with(p))
        || site.contains(&lower.as_str())
}

/// Whether it removed anything.
fn strip_tracking(url: &mut Url) -> bool {
    let Some(query) = url.query() else {
        return false;
    };
    let host = url.host_str().unwrap_or_default();
    let site: &[&str] = SITE_TRACKING_PARAMETERS
        .iter()
        .find(|(domain, _)| host_matches(host, domain))
        .map_or(&[], |(_, names)| names);
    let mut removed = false;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            if pair.is_empty() {
                removed = true;
                return false;
            }
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
            let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
            let tracking = is_tracking(&name.replace('+', " "), site);
            removed |= tracking;
            !tracking
        })
        .collect();
    if !removed {
        return false;
    }
    let kept = kept.join("&");
    url.set_query((!kept.is_empty()).then_some(&kept));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_parameters_go_and_the_rest_keep_their_order_and_spelling() {
        for (dirty, clean) in [
            (
                "https://www.rust-lang.org/?utm_source=google&utm_medium=cpc&utm_campaign=brand",
                "https://www.rust-lang.org/",
            ),
            (
                "https://example.org/a?b=2&fbclid=IwAR0&a=x%20y&GCLID=1&q=a+b",
                "https://example.org/a?b=2&a=x%20y&q=a+b",
            ),
            (
                "https://example.org/?mc_eid=1&igshid=2&msclkid=3&utm_Content=4",
                "https://example.org/",
            ),
            // Site-only names stay elsewhere.
            (
                "https://www.amazon.com/dp/B0?ref=sr_1_1&qid=1&keywords=rust",
                "https://www.amazon.com/dp/B0?keywords=rust",
            ),
            (
                "https://example.org/?ref=home&t=5",
                "https://example.org/?ref=home&t=5",
            ),
            (
                "https://www.youtube.com/watch?v=abc&feature=share&si=x",
                "https://www.youtube.com/watch?v=abc",
            ),
            // Text fragments are dropped, anchors kept.
            (
                "https://example.org/page#:~:text=rust",
                "https://example.org/page",
            ),
            (
                "https://example.org/page#usage",
                "https://example.org/page#usage",
            ),
            ("HTTPS://Example.ORG:443/a", "https://example.org/a"),
            ("  not a url ", "not a url"),
            ("mailto:someone@example.org", "mailto:someone@example.org"),
        ] {
            assert_eq!(clean_url(dirty), clean, "{dirty}");
            assert_eq!(clean_url(clean), clean, "idempotent: {clean}");
        }
    }

    #[test]
    fn user_info_is_removed_so_the_host_shown_is_the_one_linked() {
        assert_eq!(
            clean_url("https://trusted.example@evil.example/x"),
            "https://evil.example/x"
        );
        assert_eq!(
            clean_url("https://user:secret@Example.org:443/a?b=1"),
            "https://example.org/a?b=1"
        );
    }

    #[test]
    fn redirect_wrappers_are_unwrapped_even_nested() {
        for (wrapped, target) in [
            (
                "https://www.google.com/url?sa=t&url=https%3A%2F%2Fdocs.rs%2Ftokio%3Futm_source%3Dx&usg=AOv",
                "https://docs.rs/tokio",
            ),
            (
                "https://www.google.co.uk/url?q=https://example.org/a&sa=U",
                "https://example.org/a",
            ),
            (
                "https://duckduckgo.com/l/?uddg=https%3A%2F%2Fen.wikipedia.org%2Fwiki%2FRust&rut=abc",
                "https://en.wikipedia.org/wiki/Rust",
            ),
            (
                "https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.google.com%2Furl%3Fq%3Dhttps%253A%252F%252Fexample.org%252Fdeep",
                "https://example.org/deep",
            ),
            (
                "https://www.youtube.com/redirect?event=video_description&q=https%3A%2F%2Fexample.org%2F",
                "https://example.org/",
            ),
        ] {
            assert_eq!(clean_url(wrapped), target, "{wrapped}");
        }
        // Not a wrapper: a look-alike host, another path, or a target that
        // is not a web URL.
        for kept in [
            "https://notgoogle.com/url?q=https://example.org/",
            "https://www.google.com/search?q=https://example.org/",
            "https://www.google.com/url?q=javascript:alert(1)",
            "https://google.evil.example.com/url?q=https://example.org/",
        ] {
            assert_eq!(clean_url(kept), kept);
        }
    }

    #[test]
    fn keys_ignore_scheme_case_ports_slashes_fragments_and_parameter_order() {
        let same = [
            "https://Example.ORG/a/b?x=1&y=2",
            "https://example.org:443/a/b/?y=2&x=1",
            "http://example.org/a/b?x=1&y=2#frag",
            "HTTP://EXAMPLE.org:80/a/b?utm_source=z&x=1&y=2",
            "https://www.google.com/url?q=https%3A%2F%2Fexample.org%2Fa%2Fb%3Fy%3D2%26x%3D1",
        ];
        for url in same {
            assert_eq!(
                dedup_key(url).as_deref(),
                Some("https://example.org/a/b?x=1&y=2"),
                "{url}"
            );
        }
        assert_ne!(
            dedup_key("https://example.org/a?x=1"),
            dedup_key("https://example.org/a?x=2")
        );
        assert_ne!(
            dedup_key("https://example.org:8443/a"),
            dedup_key("https://example.org/a")
        );
        assert_ne!(
            dedup_key("https://example.org/A"),
            dedup_key("https://example.org/a")
        );
        assert_eq!(
            dedup_key("https://example.org/?").as_deref(),
            Some("https://example.org/")
        );
        assert_eq!(dedup_key("not a url"), None);
    }
}
