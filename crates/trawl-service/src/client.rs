//! Who a request is from and which address it was sent to, decided once
//! per request from the connection and, only when the connection comes
//! from a trusted proxy, from `Forwarded` / `X-Forwarded-*`.
//!
//! The client's address keys the rate limits ([`crate::rate`]); the origin
//! is what absolute links (RSS `<link>`, `atom:link`) are built on. A
//! header a client sends directly is never believed: links use the
//! configured public URL, else the address the client actually connected
//! to, never an unchecked `Host`.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use url::Url;

use crate::connections::Connection;

/// Which peers are proxies whose forwarding headers are believed, and the
/// public URL, if one is configured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProxySettings {
    /// Networks of the reverse proxies in front of this server.
    pub trusted: Vec<IpNet>,
    /// The URL people reach this server at (`https://search.example.org`,
    /// perhaps with a path prefix): absolute links are built on it.
    pub public_url: Option<Url>,
}

/// Who sent a request; every request the server reads carries one (see
/// [`resolve`]). The origin links are built on is worked out only where a
/// handler asks for it ([`Origin`]): most requests need no link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The client's address: the peer's, or, behind trusted proxies, the
    /// nearest untrusted address they forwarded. `None` when the request
    /// did not come through trawl's own server (tests calling a router).
    pub ip: Option<IpAddr>,
}

impl ProxySettings {
    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// What trusted proxies forwarded on `connection`; nothing when its
    /// peer is not one of them.
    fn forwarded(&self, connection: &Connection, headers: &HeaderMap) -> Forwarded {
        if self.trusts(connection.peer.ip()) {
            Forwarded::read(headers)
        } else {
            Forwarded::default()
        }
    }

    /// The address of the client that sent a request on `connection`.
    pub fn client_ip(&self, connection: &Connection, headers: &HeaderMap) -> IpAddr {
        let forwarded = self.forwarded(connection, headers);
        // Right to left: each proxy appends the address it received from;
        // the first one not of our proxies is the client (the ones further
        // left were written by the client and prove nothing).
        let mut ip = canonical(connection.peer.ip());
        for hop in forwarded.chain.iter().rev() {
            if !self.trusts(ip) {
                break;
            }
            ip = *hop;
        }
        canonical(ip)
    }

    /// Scheme, host and optional path prefix absolute links start with,
    /// without a trailing slash: the public URL, else what a trusted proxy
    /// forwarded, else the address the client connected to.
    pub fn origin(&self, connection: Option<&Connection>, headers: &HeaderMap) -> String {
        if let Some(url) = &self.public_url {
            return url.as_str().trim_end_matches('/').to_owned();
        }
        let Some(connection) = connection else {
            return "http://localhost".to_owned();
        };
        let forwarded = self.forwarded(connection, headers);
        match forwarded.host {
            Some(host) => format!("{}://{host}", forwarded.proto.unwrap_or("http")),
            None => format!("http://{}", authority(connection.local)),
        }
    }
}

/// `host:port`, IPv6 bracketed.
fn authority(address: SocketAddr) -> String {
    match address.ip() {
        IpAddr::V4(ip) => format!("{ip}:{}", address.port()),
        IpAddr::V6(ip) => format!("[{ip}]:{}", address.port()),
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// What trusted proxies said: `Forwarded` (RFC 7239) when present, else
/// `X-Forwarded-For`, `-Host` and `-Proto`.
#[derive(Debug, Default)]
struct Forwarded {
    chain: Vec<IpAddr>,
    host: Option<String>,
    proto: Option<&'static str>,
}

impl Forwarded {
    fn read(headers: &HeaderMap) -> Self {
        let values = |name: &str| -> Vec<&str> {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .collect()
        };
        let standard = values("forwarded");
        if !standard.is_empty() {
            let mut out = Self::default();
            for element in standard {
                for pair in element.split(';') {
                    let Some((key, value)) = pair.split_once('=') else {
                        continue;
                    };
                    let value = value.trim().trim_matches('"');
                    match key.trim().to_ascii_lowercase().as_str() {
                        "for" => {
                            if let Some(ip) = node_ip(value) {
                                out.chain.push(ip);
                            }
                        }
                        // The last proxy's word on host and scheme counts.
                        "host" => out.host = valid_host(value).or(out.host.take()),
                        "proto" => out.proto = proto(value).or(out.proto),
                        _ => {}
                    }
                }
            }
            return out;
        }
        Self {
            chain: values("x-forwarded-for")
                .into_iter()
                .filter_map(node_ip)
                .collect(),
            host: values("x-forwarded-host")
                .last()
                .and_then(|host| valid_host(host)),
            proto: values("x-forwarded-proto")
                .last()
                .and_then(|value| proto(value)),
        }
    }
}

/// An address from `X-Forwarded-For` or `for=`: `1.2.3.4`, `1.2.3.4:80`,
/// `[::1]:80` or `::1`.
fn node_ip(value: &str) -> Option<IpAddr> {
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(address) = value.parse::<SocketAddr>() {
        return Some(address.ip());
    }
    value
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(ip, _)| ip.parse().ok())
}

/// A host (and port) as a URL would take it, else `None`.
fn valid_host(value: &str) -> Option<String> {
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    {
        return None;
    }
    let url = Url::parse(&format!("http://{value}/")).ok()?;
    url.host_str()?;
    Some(value.to_ascii_lowercase())
}

fn proto(value: &str) -> Option<&'static str> {
    match value.to_ascii_lowercase().as_str() {
        "https" => Some("https"),
        "http" => Some("http"),
        _ => None,
    }
}

/// Sets the request's [`Client`], and the settings its [`Origin`] is read
/// with.
pub async fn resolve(
    State(settings): State<Arc<ProxySettings>>,
    mut request: Request,
    next: Next,
) -> Response {
    let ip = request
        .extensions()
        .get::<Connection>()
        .map(|connection| settings.client_ip(connection, request.headers()));
    request.extensions_mut().insert(Client { ip });
    request.extensions_mut().insert(settings);
    next.run(request).await
}

/// The origin absolute links start with, as an extractor
/// ([`ProxySettings::origin`]).
#[derive(Debug, Clone)]
pub struct Origin(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let origin = match parts.extensions.get::<Arc<ProxySettings>>() {
            Some(settings) => settings.origin(parts.extensions.get::<Connection>(), &parts.headers),
            None => "http://localhost".to_owned(),
        };
        Ok(Self(origin))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn connection(peer: &str) -> Connection {
        Connection {
            peer: peer.parse().unwrap(),
            local: "192.0.2.10:8080".parse().unwrap(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    /// What the server makes of a request: the client's address and the
    /// origin of links.
    struct Seen {
        ip: IpAddr,
        origin: String,
    }

    fn seen(settings: &ProxySettings, connection: &Connection, headers: &HeaderMap) -> Seen {
        Seen {
            ip: settings.client_ip(connection, headers),
            origin: settings.origin(Some(connection), headers),
        }
    }

    fn behind(proxies: &[&str]) -> ProxySettings {
        ProxySettings {
            trusted: proxies.iter().map(|p| p.parse().unwrap()).collect(),
            public_url: None,
        }
    }

    const SPOOFED: &[(&str, &str)] = &[
        ("host", "evil.example"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-for", "203.0.113.9"),
    ];

    #[test]
    fn without_trusted_proxies_headers_are_ignored() {
        let client = seen(
            &behind(&[]),
            &connection("198.51.100.7:5000"),
            &headers(SPOOFED),
        );
        assert_eq!(client.ip, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(client.origin, "http://192.0.2.10:8080");
    }

    #[test]
    fn a_trusted_proxy_is_believed_and_the_nearest_untrusted_hop_is_the_client() {
        let settings = behind(&["10.0.0.0/8"]);
        let client = seen(
            &settings,
            &connection("10.1.2.3:4000"),
            &headers(&[
                ("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.9.9.9"),
                ("x-forwarded-host", "search.example.org"),
                ("x-forwarded-proto", "https"),
            ]),
        );
        assert_eq!(client.ip, "203.0.113.9".parse::<IpAddr>().unwrap());
        assert_eq!(client.origin, "https://search.example.org");

        let client = seen(
            &settings,
            &connection("10.1.2.3:4000"),
            &headers(&[(
                "forwarded",
                r#"for="[2001:db8::1]:443";host=search.example.org;proto=https, for=10.2.2.2"#,
            )]),
        );
        assert_eq!(client.ip, "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(client.origin, "https://search.example.org");
    }

    #[test]
    fn a_bad_forwarded_host_is_not_used_and_public_url_wins() {
        let settings = behind(&["10.0.0.0/8"]);
        let client = seen(
            &settings,
            &connection("10.1.2.3:4000"),
            &headers(&[("x-forwarded-host", "evil.example/<script>")]),
        );
        assert_eq!(client.origin, "http://192.0.2.10:8080");

        let settings = ProxySettings {
            public_url: Some("https://search.example.org/trawl/".parse().unwrap()),
            ..behind(&["10.0.0.0/8"])
        };
        let client = seen(&settings, &connection("10.1.2.3:4000"), &headers(SPOOFED));
        assert_eq!(client.origin, "https://search.example.org/trawl");
    }

    #[test]
    fn mapped_ipv4_peers_match_ipv4_networks() {
        let settings = behind(&["127.0.0.0/8"]);
        let client = seen(
            &settings,
            &connection("[::ffff:127.0.0.1]:4000"),
            &headers(&[("x-forwarded-for", "203.0.113.9")]),
        );
        assert_eq!(client.ip, "203.0.113.9".parse::<IpAddr>().unwrap());
    }
}
