//! A fault-injecting TCP proxy for the tests: it sits between two services
//! on loopback and, on command, passes traffic, delays it, resets
//! connections, swallows them (black hole), or cuts every open connection
//! (the downstream "killed"). It can be pointed at another downstream (the
//! downstream "restarted").

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Forward both ways.
    Pass,
    /// Forward, holding every chunk of the answer back this long.
    Delay(Duration),
    /// Accept, then reset the connection (RST).
    Reset,
    /// Accept, then neither read nor answer.
    Blackhole,
}

struct Shared {
    target: Mutex<SocketAddr>,
    fault: Mutex<Fault>,
    /// Bumped to close every open connection.
    generation: watch::Sender<u64>,
    accepted: AtomicU64,
    /// Connections being forwarded now.
    open: AtomicU64,
}

pub(crate) struct FaultProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    pub(crate) async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            target: Mutex::new(target),
            fault: Mutex::new(Fault::Pass),
            generation: watch::channel(0).0,
            accepted: AtomicU64::new(0),
            open: AtomicU64::new(0),
        });
        let accepting = shared.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                accepting.accepted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(client, accepting.clone()));
            }
        });
        Self {
            addr,
            shared,
            accept,
        }
    }

    pub(crate) fn url(&self) -> Url {
        Url::parse(&format!("http://{}", self.addr)).unwrap()
    }

    /// From now on. `Reset` and `Blackhole` also cut the connections open
    /// now (and wait until they are closed), so that pooled keep-alive
    /// connections meet the fault too.
    pub(crate) async fn set(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap() = fault;
        if matches!(fault, Fault::Reset | Fault::Blackhole) {
            self.cut_all().await;
        }
    }

    /// Closes every connection being forwarded, and waits until they are.
    pub(crate) async fn cut_all(&self) {
        self.shared.generation.send_modify(|g| *g += 1);
        tokio::time::timeout(Duration::from_secs(5), async {
            while self.shared.open.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await
        .expect("cut connections close");
    }

    /// Sends new connections to another downstream.
    pub(crate) fn retarget(&self, target: SocketAddr) {
        *self.shared.target.lock().unwrap() = target;
    }

    /// Connections accepted so far.
    pub(crate) fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.shared.generation.send_modify(|g| *g += 1);
    }
}

async fn serve(client: TcpStream, shared: Arc<Shared>) {
    let mut cut = shared.generation.subscribe();
    let fault = *shared.fault.lock().unwrap();
    match fault {
        Fault::Reset => {
            let _ = client.set_zero_linger();
        }
        Fault::Blackhole => {
            let _ = cut.changed().await;
        }
        Fault::Pass | Fault::Delay(_) => {
            let target = *shared.target.lock().unwrap();
            let Ok(upstream) = TcpStream::connect(target).await else {
                // The downstream is gone: the caller sees a reset, as it
                // would talking to a dead host's port.
                let _ = client.set_zero_linger();
                return;
            };
            shared.open.fetch_add(1, Ordering::SeqCst);
            let (mut client_read, mut client_write) = client.into_split();
            let (mut upstream_read, mut upstream_write) = upstream.into_split();
            let requests = async {
                let _ = tokio::io::copy(&mut client_read, &mut upstream_write).await;
                let _ = upstream_write.shutdown().await;
            };
            let answers = async {
                let mut buffer = vec![0u8; 16 * 1024];
                loop {
                    let n = match upstream_read.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let delay = match *shared.fault.lock().unwrap() {
                        Fault::Delay(delay) => Some(delay),
                        _ => None,
                    };
                    if let Some(delay) = delay {
                        tokio::time::sleep(delay).await;
                    }
                    if client_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = client_write.shutdown().await;
            };
            tokio::select! {
                _ = async { tokio::join!(requests, answers) } => {}
                _ = cut.changed() => {}
            }
            shared.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Open file descriptors of this process.
pub(crate) fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, std::iter::Iterator::count)
}
