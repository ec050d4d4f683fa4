//! `trawl probe`: asks a running trawl over loopback whether it is ready,
//! for container health checks — the image has no shell and no curl.
//! One HTTP/1.1 `GET`, bounded in time and in the bytes read.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// The most bytes read of the answer: its status line is enough.
const MAX_READ: usize = 1024;

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No connection, or no answer in time.
    #[error("{addr}: {source}")]
    Io {
        /// Where.
        addr: SocketAddr,
        /// What happened.
        source: std::io::Error,
    },
    /// Something answered that is not HTTP.
    #[error("{addr} did not answer HTTP")]
    NotHttp {
        /// Where.
        addr: SocketAddr,
    },
    /// The service answered, but not with 2xx.
    #[error("{path} answered {status}")]
    Status {
        /// What was asked.
        path: String,
        /// The answer's status.
        status: u16,
    },
}

/// Where to probe a server listening on `listen`: the same port on
/// loopback when it listens on every address.
pub fn address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// `GET path` at `addr` within `timeout`; the status when it is 2xx.
///
/// # Errors
/// See [`ProbeError`].
pub fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> Result<u16, ProbeError> {
    let io = |source| ProbeError::Io { addr, source };
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: trawl-probe\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut answer = Vec::new();
    stream
        .take(MAX_READ as u64)
        .read_to_end(&mut answer)
        .map_err(io)?;
    let status = std::str::from_utf8(&answer)
        .ok()
        .and_then(|text| text.strip_prefix("HTTP/1.1 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or(ProbeError::NotHttp { addr })?;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(ProbeError::Status {
            path: path.to_owned(),
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn answering(answer: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut byte = [0; 1];
            while !request.ends_with(b"\r\n\r\n") {
                stream.read_exact(&mut byte).unwrap();
                request.push(byte[0]);
            }
            assert!(request.starts_with(b"GET /readyz HTTP/1.1\r\n"));
            stream.write_all(answer.as_bytes()).unwrap();
        });
        addr
    }

    #[test]
    fn a_probe_passes_on_2xx_only() {
        let second = Duration::from_secs(5);
        let ok = answering("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(probe(ok, "/readyz", second).unwrap(), 200);
        let busy = answering("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
        assert!(matches!(
            probe(busy, "/readyz", second),
            Err(ProbeError::Status { status: 503, .. })
        ));
        let odd = answering("SSH-2.0-OpenSSH\r\n");
        assert!(matches!(
            probe(odd, "/readyz", second),
            Err(ProbeError::NotHttp { .. })
        ));
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(matches!(
            probe(closed, "/readyz", second),
            Err(ProbeError::Io { .. })
        ));
    }

    #[test]
    fn every_address_is_probed_on_loopback() {
        assert_eq!(
            address("0.0.0.0:8080".parse().unwrap()),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            address("[::]:81".parse().unwrap()),
            "[::1]:81".parse().unwrap()
        );
        assert_eq!(
            address("10.1.2.3:82".parse().unwrap()),
            "10.1.2.3:82".parse().unwrap()
        );
    }
}
