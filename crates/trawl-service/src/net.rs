//! The guard on where trawl's outbound HTTP may go when a stranger picks
//! the address: an upstream's redirect now, a crawled link later.
//!
//! The owner's configured addresses are trusted (an engine on
//! `127.0.0.1:8888` is a SearXNG the owner runs); where an upstream sends
//! trawl on from there is not. A redirect is followed only to `http` or
//! `https`, to the same origin or to a public address: an IP literal is
//! checked here, a host name when it is resolved ([`PublicResolver`]), so a
//! name that resolves to a private address is refused too. A configured
//! name is trusted at its configured origin (scheme, host and port) only —
//! and at `https` on the default port when it was configured as `http` on
//! the default port, the usual upgrade: a redirect to another port of the
//! same name is refused, as it is for an address literal.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::{Attempt, Policy};
use url::{Host, Url};

/// Redirects followed at most in one call.
pub const MAX_REDIRECTS: usize = 5;

/// Whether `ip` is an address on the public internet: not loopback,
/// private, link-local, shared (carrier-grade NAT), unspecified, multicast,
/// broadcast, documentation, benchmarking or reserved, in IPv4 or IPv6
/// (including IPv4 addresses mapped or translated into IPv6).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let segments = v6.segments();
            // 64:ff9b::/96, NAT64: the IPv4 address it carries decides.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = segments[6].to_be_bytes();
                let [c, d] = segments[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local
                || (segments[0] & 0xfe00) == 0xfc00
                || (segments[0] & 0xffc0) == 0xfe80
                // fec0::/10 site-local (deprecated, still routed privately)
                || (segments[0] & 0xffc0) == 0xfec0
                // 2001:db8::/32 documentation
                || (segments[0] == 0x2001 && segments[1] == 0x0db8)
                // ::/96 IPv4-compatible (deprecated)
                || segments[..6] == [0; 6]
                // 100::/64 discard
                || segments[..4] == [0x100, 0, 0, 0])
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        // 0.0.0.0/8 "this network"
        || a == 0
        // 100.64.0.0/10 shared address space
        || (a == 100 && (b & 0xc0) == 64)
        // 192.0.0.0/24 protocol assignments
        || (a == 192 && b == 0 && c == 0)
        // 198.18.0.0/15 benchmarking
        || (a == 198 && (b & 0xfe) == 18)
        // 240.0.0.0/4 reserved
        || a >= 240)
}

/// Why a redirect was not followed.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Not http or https.
    #[error("redirect to {0} refused: only http and https are followed")]
    Scheme(String),
    /// An address that is not public.
    #[error("redirect to {0} refused: not a public address")]
    NotPublic(String),
    /// A configured name, at an origin that was not configured.
    #[error(
        "redirect to {0} refused: a configured host is trusted only at the origin (scheme, host and port) it was configured with"
    )]
    OtherOrigin(String),
    /// More redirects than allowed.
    #[error("more than {0} redirects")]
    TooMany(usize),
}

/// The addresses the owner configured (an engine's): their names resolve
/// to whatever they resolve to ([`PublicResolver`]), and a redirect may
/// lead to their origins ([`redirect_policy`]).
#[derive(Debug, Clone, Default)]
pub struct Trusted {
    names: Arc<HashSet<String>>,
    /// Scheme, host (as [`normal_name`] makes it) and port.
    origins: Arc<Vec<(String, String, u16)>>,
}

/// `url`'s origin, its host's spelling made one.
fn origin_of(url: &Url) -> Option<(String, String, u16)> {
    Some((
        url.scheme().to_owned(),
        normal_name(url.host_str()?),
        url.port_or_known_default()?,
    ))
}

impl Trusted {
    /// Trusts the hosts of `urls`, each at its origin.
    pub fn of<'a>(urls: impl IntoIterator<Item = &'a Url>) -> Self {
        let urls: Vec<&Url> = urls.into_iter().collect();
        Self {
            names: Arc::new(
                urls.iter()
                    .filter_map(|url| url.host_str())
                    .map(normal_name)
                    .collect(),
            ),
            origins: Arc::new(urls.iter().filter_map(|url| origin_of(url)).collect()),
        }
    }

    /// Whether `target`, whose host is a configured name, is at a
    /// configured origin (or its upgrade from `http` to `https` on the
    /// default ports).
    fn admits(&self, target: &Url) -> bool {
        let Some((scheme, host, port)) = origin_of(target) else {
            return false;
        };
        self.origins.iter().any(|(s, h, p)| {
            *h == host
                && ((*s == scheme && *p == port)
                // The upgrade from http on its default port to https on
                // its default port.
                || (s == "http" && *p == 80 && scheme == "https" && port == 443))
        })
    }

    fn names(&self, host: &str) -> bool {
        self.names.contains(&normal_name(host))
    }
}

fn normal_name(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// A redirect policy that follows at most `max` redirects, only to http(s)
/// on the same origin as the hop before, to a configured origin
/// (`trusted`), or to a host that is neither a non-public IP literal nor a
/// configured name (names are checked when resolved: [`PublicResolver`]).
pub fn redirect_policy(max: usize, trusted: &Trusted) -> Policy {
    let trusted = trusted.clone();
    Policy::custom(move |attempt: Attempt<'_>| {
        if attempt.previous().len() > max {
            return attempt.error(Refused::TooMany(max));
        }
        match judge(attempt.url(), attempt.previous().last(), &trusted) {
            Ok(()) => attempt.follow(),
            Err(refused) => attempt.error(refused),
        }
    })
}

fn judge(target: &Url, from: Option<&Url>, trusted: &Trusted) -> Result<(), Refused> {
    let shown = || shown_url(target);
    if !matches!(target.scheme(), "http" | "https") {
        return Err(Refused::Scheme(shown()));
    }
    if from.is_some_and(|from| from.origin() == target.origin()) {
        return Ok(());
    }
    // The resolver lets a configured name reach a private address: only
    // where the owner pointed trawl.
    if let Some(Host::Domain(name)) = target.host()
        && trusted.names(name)
    {
        return if trusted.admits(target) {
            Ok(())
        } else {
            Err(Refused::OtherOrigin(shown()))
        };
    }
    match target.host() {
        Some(Host::Ipv4(ip)) if !is_public_v4(ip) => Err(Refused::NotPublic(shown())),
        Some(Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => Err(Refused::NotPublic(shown())),
        Some(Host::Domain(name)) if is_local_name(name) => Err(Refused::NotPublic(shown())),
        None => Err(Refused::NotPublic(shown())),
        _ => Ok(()),
    }
}

/// `localhost` and names under it always mean this machine (RFC 6761).
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// A URL as an error message may show it: scheme, host and port only (the
/// path and query may carry anything), at most 200 characters.
fn shown_url(url: &Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.chars().take(200).collect()
}

/// Resolves names with the system resolver, keeping only public addresses
/// except for the names the owner configured (`trusted`): a redirect to a
/// name that resolves to a private address finds nothing to connect to.
#[derive(Debug, Clone, Default)]
pub struct PublicResolver {
    trusted: Trusted,
}

impl PublicResolver {
    /// Trusts the hosts of `urls` (the configured ones) whatever they
    /// resolve to.
    pub fn trusting<'a>(urls: impl IntoIterator<Item = &'a Url>) -> Self {
        Self {
            trusted: Trusted::of(urls),
        }
    }

    /// Trusts `trusted`'s names whatever they resolve to.
    pub fn new(trusted: &Trusted) -> Self {
        Self {
            trusted: trusted.clone(),
        }
    }
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let trusted = self.trusted.clone();
        Box::pin(async move {
            let host = normal_name(name.as_str());
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if trusted.names(&host) {
                return Ok(Box::new(addresses.into_iter()) as Addrs);
            }
            let public: Vec<SocketAddr> = addresses
                .into_iter()
                .filter(|address| is_public(address.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_not() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} is not public");
        }
        for ip in [
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn a_configured_name_is_trusted_at_its_origin_only() {
        let home: Url = "http://search.internal:8888/search".parse().unwrap();
        let trusted = Trusted::of([&home]);
        let ok = |to: &str| judge(&to.parse().unwrap(), Some(&home), &trusted).is_ok();
        assert!(ok("http://search.internal:8888/other"), "its origin");
        assert!(
            ok("http://SEARCH.internal.:8888/"),
            "its origin, spelt otherwise"
        );
        assert!(
            !ok("http://search.internal:8889/"),
            "another port of the name"
        );
        assert!(
            !ok("https://search.internal:8888/"),
            "another scheme on its port"
        );
        let plain: Url = "http://api.example.org/w/api.php".parse().unwrap();
        let upgrades = Trusted::of([&plain]);
        let judged = |to: &str| judge(&to.parse().unwrap(), Some(&plain), &upgrades);
        assert!(
            judged("https://api.example.org/w/api.php").is_ok(),
            "the upgrade"
        );
        assert!(judged("https://api.example.org:8443/").is_err());
        let refused = judged("http://api.example.org:8080/").unwrap_err();
        assert!(refused.to_string().contains("configured"), "{refused}");
        // A name nobody configured is for the resolver to judge.
        assert!(judged("http://other.example.org:8080/").is_ok());
    }

    #[test]
    fn redirects_are_judged() {
        let from: Url = "http://127.0.0.1:9000/search".parse().unwrap();
        let trusted = Trusted::of([&from]);
        let ok = |to: &str| judge(&to.parse().unwrap(), Some(&from), &trusted).is_ok();
        assert!(ok("http://127.0.0.1:9000/search/"), "same origin");
        assert!(!ok("http://127.0.0.1:9001/"), "another port on loopback");
        assert!(!ok("http://169.254.169.254/latest/meta-data/"));
        assert!(!ok("http://[::1]:9000/"));
        assert!(!ok("http://localhost:9000/"));
        assert!(!ok("http://api.localhost/"));
        assert!(!ok("file:///etc/passwd"));
        assert!(!ok("ftp://example.org/"));
        assert!(ok("https://example.org/"));
        assert!(ok("https://93.184.216.34/"));
    }

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused_unless_configured() {
        let resolver = PublicResolver::default();
        let refused = resolver.resolve("localhost".parse().unwrap()).await;
        assert!(refused.is_err());
        let trusted = PublicResolver::trusting([&"http://localhost:8888/".parse().unwrap()]);
        let addresses: Vec<_> = trusted
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!addresses.is_empty());
    }
}
