//! What fanning out costs beyond waiting: trawl (one binary) with three
//! JSON engines on loopback doubles that answer after 10 ms and 100 ms, and
//! one that never answers. With an engine timeout of 300 ms, an answer
//! should come at the deadline (300 ms); without the silent engine, when the
//! slowest answers (100 ms). The overhead is the rest: PRODUCT.md's budget
//! is 2 ms.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::process::Server;

const ANSWER: &str = r#"{"hits":[{"title":"A result","url":"https://example.org/a","body":"some text about the query"},{"title":"Another","url":"https://example.org/b","body":"more text"}],"total":2}"#;

/// A loopback JSON API answering every request after `delay` (never, when
/// `None`). Minimal HTTP/1.1 with keep-alive.
async fn double(delay: Option<Duration>) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 8192];
                let mut pending = Vec::new();
                loop {
                    let n = match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buffer[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        match delay {
                            Some(delay) => tokio::time::sleep(delay).await,
                            None => std::future::pending::<()>().await,
                        }
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{ANSWER}",
                            ANSWER.len()
                        );
                        if socket.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    Ok(address)
}

pub(crate) struct Fanout {
    /// (case, expected wait, p50 and p90 of latency less that wait, in ms)
    pub cases: Vec<(&'static str, Duration, f64, f64)>,
}

fn engine(name: &str, address: SocketAddr) -> String {
    format!(
        "[[engines]]\nname = \"{name}\"\ntype = \"json\"\nurl_template = \"http://{address}/search?q={{query}}\"\nresults_pointer = \"/hits\"\ntitle_pointer = \"/title\"\nurl_pointer = \"/url\"\nsnippet_pointer = \"/body\"\ntotal_pointer = \"/total\"\n"
    )
}

pub(crate) async fn run(trawl: &Path, requests: usize) -> anyhow::Result<Fanout> {
    let fast = double(Some(Duration::from_millis(10))).await?;
    let slow = double(Some(Duration::from_millis(100))).await?;
    let silent = double(None).await?;
    let work = tempfile::tempdir()?;
    // What the slowest double really takes (timers have their own slop):
    // the median of direct requests.
    let direct = reqwest::Client::new();
    let mut slowest = Vec::new();
    for _ in 0..requests.min(20) {
        let started = Instant::now();
        direct
            .get(format!("http://{slow}/search?q=x"))
            .send()
            .await?
            .bytes()
            .await?;
        slowest.push(started.elapsed());
    }
    slowest.sort();
    let slowest = slowest[slowest.len() / 2];
    let mut cases = Vec::new();
    for (case, engines, wait) in [
        (
            "10 ms + 100 ms engines: at the slowest",
            vec![engine("fast", fast), engine("slow", slow)],
            slowest,
        ),
        (
            "10 ms + 100 ms + silent engines: at the 300 ms deadline",
            vec![
                engine("fast", fast),
                engine("slow", slow),
                engine("silent", silent),
            ],
            Duration::from_millis(300),
        ),
    ] {
        let config = work.path().join("fanout.toml");
        std::fs::write(
            &config,
            format!(
                // Never suspended: each request must wait for the silent one.
                "[search]\nengine_timeout_ms = 300\nsuspend_after = 1000000\nengine_calls_per_minute = 0\n\n{}",
                engines.join("\n")
            ),
        )?;
        let config = config.to_string_lossy().into_owned();
        let (server, _) = Server::start(trawl, &work.path().join("data"), &["--config", &config])?;
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/search?q=fan+out", server.url());
        client.get(&url).send().await?.bytes().await?;
        let mut overheads = Vec::with_capacity(requests);
        for _ in 0..requests {
            let started = Instant::now();
            let response = client.get(&url).send().await?;
            anyhow::ensure!(
                response.status() == 200,
                "fan-out answered {}",
                response.status()
            );
            response.bytes().await?;
            overheads.push(started.elapsed().saturating_sub(wait).as_secs_f64() * 1000.0);
        }
        server.stop()?;
        overheads.sort_by(f64::total_cmp);
        let at = |q: f64| {
            overheads[((q * overheads.len() as f64).ceil() as usize).clamp(1, overheads.len()) - 1]
        };
        cases.push((case, wait, at(0.5), at(0.9)));
    }
    Ok(Fanout { cases })
}

pub(crate) fn print(f: &Fanout) {
    println!(
        "\n### Fan-out (one binary, JSON engines on loopback doubles, engine timeout 300 ms, sequential requests)\n"
    );
    println!("| case | expected wait | overhead p50 | overhead p90 |\n|---|---:|---:|---:|");
    for (case, wait, p50, p90) in &f.cases {
        println!(
            "| {case} | {:.1} ms | {p50:.2} ms | {p90:.2} ms |",
            wait.as_secs_f64() * 1000.0
        );
    }
}
