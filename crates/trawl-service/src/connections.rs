//! Accepting connections, with a limit on each thing a client can make the
//! server hold: how many connections are open, how long one may take to
//! send a request's headers, how long one may sit idle, and how large a
//! request's head may be (docs/security.md).
//!
//! `axum::serve` has none of these knobs, so this is the accept loop every
//! role runs: hyper's HTTP/1.1 connection (HTTP/2 is not served) with its
//! header-read timer, a semaphore of connection slots taken *before*
//! `accept` (so that beyond the limit the kernel's backlog holds new
//! connections and nothing more is spent on them), an idle timer per
//! connection, backoff on accept errors, and a graceful drain.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// Where a request came from and where it arrived: set on every request
/// the server reads, for the client-address rules ([`crate::client`]) and
/// for absolute links when no public URL is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The peer: the client, or the proxy in front of it.
    pub peer: SocketAddr,
    /// The address the peer connected to (this server's, as the client
    /// reached it: never taken from a header).
    pub local: SocketAddr,
}

/// Limits on connections. See docs/security.md for each default's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once; beyond it, accepting pauses. Lowered at
    /// start to what the process's file-descriptor limit leaves room for.
    pub max_connections: usize,
    /// From a connection opening (or its previous response) to the end of
    /// the next request's headers; a client slower than this is
    /// disconnected.
    pub header_read_timeout: Duration,
    /// A connection on which no byte moves either way for this long is
    /// closed (after answering a request in flight, if any).
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers), in bytes; larger
    /// ones are answered `431` (a longer request line: `414`).
    pub max_header_bytes: usize,
    /// Most header fields in one request; more are answered `431`.
    pub max_headers: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 32 * 1024,
            max_headers: 64,
        }
    }
}

/// File descriptors kept back from connections for everything else a
/// process opens: the index's files, the store's and outbound connections,
/// logs.
const RESERVED_FDS: u64 = 256;

/// The smallest head limit applied (hyper's smallest buffer).
const MIN_HEADER_BYTES: usize = 8 * 1024;

impl ConnectionLimits {
    /// The connection limit this process can honour: the configured one,
    /// or less when the file-descriptor limit (raised first to its hard
    /// limit) would be reached before it.
    pub fn effective_max_connections(&self) -> usize {
        match raise_fd_limit() {
            Some(fds) => {
                let room = fds.saturating_sub(RESERVED_FDS.max(fds / 4)).max(16);
                let allowed = usize::try_from(room).unwrap_or(usize::MAX);
                if allowed < self.max_connections {
                    tracing::warn!(
                        configured = self.max_connections,
                        allowed,
                        fd_limit = fds,
                        "server.max_connections lowered to fit the file-descriptor limit (raise `ulimit -n` to allow more)"
                    );
                }
                allowed.min(self.max_connections)
            }
            None => self.max_connections,
        }
    }
}

/// Raises the soft limit on open files to the hard one; returns the limit
/// in force.
fn raise_fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: getrlimit and setrlimit only read and write the struct
        // passed to them.
        unsafe {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    ..limit
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
            if limit.rlim_cur == libc::RLIM_INFINITY {
                return None;
            }
            Some(limit.rlim_cur)
        }
    }
    #[cfg(not(unix))]
    None
}

/// Serves `app` on `listener` until `shutdown` completes; then stops
/// accepting, lets each connection finish the request it is serving (idle
/// ones close at once) and returns when all have closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let capacity = limits.effective_max_connections().max(1);
    let slots = Arc::new(Semaphore::new(capacity));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes.max(MIN_HEADER_BYTES))
        .max_headers(limits.max_headers);
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut accept_errors = AcceptBackoff::default();
    let mut full_since: Option<Instant> = None;
    tracing::debug!(max_connections = capacity, "accepting connections");
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if full_since.is_none() {
                    tracing::warn!(
                        max_connections = capacity,
                        "connection limit reached: not accepting until one closes"
                    );
                    full_since = Some(Instant::now());
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        if let Some(since) = full_since.take() {
            tracing::info!(
                paused_ms = since.elapsed().as_millis() as u64,
                "accepting connections again"
            );
        }
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => {
                    accept_errors.reset();
                    pair
                }
                Err(error) => {
                    drop(slot);
                    if let Some(pause) = accept_errors.next(&error) {
                        tokio::select! {
                            () = tokio::time::sleep(pause) => {}
                            () = &mut shutdown => break,
                        }
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or_else(|_| {
            listener
                .local_addr()
                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
        });
        let info = Connection { peer, local };
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let app = app.clone();
        let service = TowerToHyperService::new(tower::service_fn(
            move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(info);
                let request: Request = request.map(axum::body::Body::new);
                app.clone().oneshot(request)
            },
        ));
        let connection = http.serve_connection(io, service);
        let stopped = stopped.clone();
        let idle = limits.idle_timeout;
        tokio::spawn(async move {
            drive(connection, stopped, &activity, idle).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it ends: all of them back means
    // all have ended.
    let all = u32::try_from(capacity).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// Runs one connection until it ends, closing it gracefully when the
/// server stops or it has been idle too long.
async fn drive<C>(
    connection: C,
    mut stopped: watch::Receiver<bool>,
    activity: &Activity,
    idle: Duration,
) where
    C: Future<Output = Result<(), hyper::Error>> + GracefulConnection,
{
    let mut connection = std::pin::pin!(connection);
    let mut closing = false;
    loop {
        let quiet = activity.quiet_for();
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            _ = stopped.changed(), if !closing => {
                connection.as_mut().close_gracefully();
                closing = true;
            }
            () = tokio::time::sleep(idle.saturating_sub(quiet)), if !closing => {
                if activity.quiet_for() >= idle {
                    tracing::debug!(idle_ms = idle.as_millis() as u64, "closing an idle connection");
                    connection.as_mut().close_gracefully();
                    closing = true;
                }
            }
        }
    }
}

/// A connection that can be asked to close once it has answered the
/// request it is serving.
trait GracefulConnection {
    fn close_gracefully(self: Pin<&mut Self>);
}

impl<I, S> GracefulConnection for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Spaces out retries of `accept` after errors: running out of file
/// descriptors must not turn into a loop that spins and logs without end.
#[derive(Debug, Default)]
struct AcceptBackoff {
    pause: Duration,
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(5);
    const MOST: Duration = Duration::from_secs(1);

    fn reset(&mut self) {
        self.pause = Duration::ZERO;
    }

    /// How long to wait before accepting again; `None` for errors that
    /// concern only the connection being accepted.
    fn next(&mut self, error: &io::Error) -> Option<Duration> {
        if matches!(
            error.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionRefused
                | io::ErrorKind::Interrupted
        ) {
            return None;
        }
        self.pause = (self.pause * 2).clamp(Self::FIRST, Self::MOST);
        self.unlogged += 1;
        if self
            .last_logged
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(10))
        {
            tracing::error!(
                %error,
                errors = self.unlogged,
                pause_ms = self.pause.as_millis() as u64,
                "cannot accept connections"
            );
            self.last_logged = Some(Instant::now());
            self.unlogged = 0;
        }
        Some(self.pause)
    }
}

/// When a byte last moved on a connection.
#[derive(Debug)]
struct Activity {
    last_ms: AtomicU64,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

impl Activity {
    fn new() -> Self {
        Self {
            last_ms: AtomicU64::new(now_ms()),
        }
    }

    fn touch(&self) {
        self.last_ms.store(now_ms(), Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// A stream that notes when bytes move.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_back_off_up_to_a_second_and_a_peers_reset_does_not() {
        let mut backoff = AcceptBackoff::default();
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(backoff.next(&reset), None);
        let no_fds = io::Error::from_raw_os_error(libc::EMFILE);
        let pauses: Vec<Duration> = (0..10).map(|_| backoff.next(&no_fds).unwrap()).collect();
        assert_eq!(pauses[0], AcceptBackoff::FIRST);
        assert!(pauses.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*pauses.last().unwrap(), AcceptBackoff::MOST);
        backoff.reset();
        assert_eq!(backoff.next(&no_fds), Some(AcceptBackoff::FIRST));
    }
}
