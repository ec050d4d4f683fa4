//! The SSRF guard: a crawl reaches the public internet, and the networks
//! the owner opened (`[crawl] allow_networks`), nothing else.
//!
//! A source's URLs come from whoever holds a key, and the pages they lead
//! to from anyone on the web: without this guard a sitemap listing
//! `http://169.254.169.254/latest/meta-data/` would have trawl fetch a
//! cloud's credentials and index them. Two checks, one rule
//! ([`Guard::admits`]):
//!
//! - a host name is checked when it is resolved, by the resolver the
//!   connection then uses ([`GuardedResolver`]): the address checked is
//!   the address connected to, so a name that resolves to a public address
//!   once and a private one the next time gains nothing;
//! - a URL's scheme, and an IP literal (which no resolver sees), are
//!   checked before every request and every redirect hop
//!   ([`Guard::check_url`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use trawl_service::net::is_public;

/// Where crawls may connect.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allow: Arc<Vec<IpNet>>,
}

/// Why a URL may not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not http or https.
    #[error("{url}: only http and https URLs are crawled")]
    Scheme {
        /// The URL.
        url: String,
    },
    /// An address literal that is not public.
    #[error(
        "{address} is not a public address (loopback, private, link-local, shared, multicast or reserved): \
         refused; open its network with `allow_networks` in the configuration's [crawl] section to crawl it on purpose"
    )]
    Address {
        /// The address.
        address: IpAddr,
    },
    /// A name that resolves to an address that is not public.
    #[error(
        "{host} resolves to {address}, which is not a public address: refused; open its network with \
             `allow_networks` in the configuration's [crawl] section to crawl it on purpose"
    )]
    Resolved {
        /// The host name.
        host: String,
        /// The address.
        address: IpAddr,
    },
}

impl Guard {
    /// The public internet, and `allow`.
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self {
            allow: Arc::new(allow),
        }
    }

    /// Whether a crawl may connect to `ip`.
    pub fn admits(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        is_public(ip) || self.allow.iter().any(|net| net.contains(&ip))
    }

    /// Checks a URL's scheme and, when its host is an IP literal, the
    /// address. Host names are checked when resolved.
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme { url: shown(url) });
        }
        let address = match url.host() {
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(Host::Domain(_)) => return Ok(()),
            None => {
                return Err(Refused::Scheme { url: shown(url) });
            }
        };
        if self.admits(address) {
            Ok(())
        } else {
            Err(Refused::Address { address })
        }
    }

    /// The resolver a crawl's client connects through.
    pub fn resolver(&self) -> GuardedResolver {
        GuardedResolver {
            guard: self.clone(),
        }
    }
}

/// A URL as an error may show it: scheme and host (the path may hold
/// anything), at most 200 characters.
fn shown(url: &Url) -> String {
    let shown = match url.host_str() {
        Some(host) => format!("{}://{host}", url.scheme()),
        None => format!("{}:", url.scheme()),
    };
    shown.chars().take(200).collect()
}

/// Resolves with the system's resolver and keeps only the addresses the
/// guard admits; when none is left, the error names the first refused.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    guard: Guard,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = name.as_str().trim_end_matches('.').to_owned();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (admitted, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                addresses.into_iter().partition(|a| guard.admits(a.ip()));
            match (admitted.is_empty(), refused.first()) {
                (false, _) => Ok(Box::new(admitted.into_iter()) as Addrs),
                (true, Some(first)) => Err(Box::new(Refused::Resolved {
                    host,
                    address: first.ip(),
                })
                    as Box<dyn std::error::Error + Send + Sync>),
                (true, None) => Err(format!("{host} resolves to no address").into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_refused_unless_their_network_is_opened() {
        let closed = Guard::default();
        for url in [
            "http://127.0.0.1:8080/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.1.2.3/",
            "http://100.64.0.1/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
            "http://224.0.0.1/",
        ] {
            let refused = closed.check_url(&url.parse().unwrap()).unwrap_err();
            assert!(matches!(refused, Refused::Address { .. }), "{url}");
        }
        assert!(matches!(
            closed.check_url(&"file:///etc/passwd".parse().unwrap()),
            Err(Refused::Scheme { .. })
        ));
        assert!(
            closed
                .check_url(&"https://93.184.216.34/".parse().unwrap())
                .is_ok()
        );
        let open = Guard::new(vec![
            "10.1.0.0/16".parse().unwrap(),
            "127.0.0.0/8".parse().unwrap(),
        ]);
        assert!(open.check_url(&"http://10.1.2.3/".parse().unwrap()).is_ok());
        assert!(
            open.check_url(&"http://127.0.0.1:1/".parse().unwrap())
                .is_ok()
        );
        assert!(
            open.check_url(&"http://[::ffff:127.0.0.1]/".parse().unwrap())
                .is_ok()
        );
        assert!(
            open.check_url(&"http://10.2.0.1/".parse().unwrap())
                .is_err()
        );
        assert!(
            open.check_url(&"http://169.254.169.254/".parse().unwrap())
                .is_err()
        );
        let message = closed
            .check_url(&"http://127.0.0.1/".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("127.0.0.1 is not a public address"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn names_are_checked_where_they_resolve() {
        let refused = match Guard::default()
            .resolver()
            .resolve("localhost".parse().unwrap())
            .await
        {
            Ok(_) => panic!("localhost must be refused"),
            Err(e) => e.to_string(),
        };
        assert!(refused.contains("localhost resolves to"), "{refused}");
        let open = Guard::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ]);
        let addresses: Vec<SocketAddr> = open
            .resolver()
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!addresses.is_empty());
    }
}
