//! A small HTTP load generator: closed-loop for throughput at saturation,
//! open-loop at a fixed rate for latency.
//!
//! The open loop measures each request from the moment it was *scheduled*,
//! not from when it was sent, so a server that stalls is charged for the
//! queue it causes (no coordinated omission).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

#[derive(Debug, Clone, Default)]
pub(crate) struct Run {
    /// Latency of each successful request, microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// Answers that were neither a 200 nor a shed request, and failures.
    pub errors: u64,
    /// `503` answers: the service shed the request (or refused to queue it
    /// for a service behind it) because too many were in flight. Expected
    /// when the offered rate exceeds what the build can serve.
    pub shed: u64,
    pub seconds: f64,
}

/// How one request went.
enum Answer {
    Ok,
    Shed,
    Failed,
}

impl Run {
    pub(crate) fn ok(&self) -> u64 {
        self.latencies_us.len() as u64
    }

    pub(crate) fn throughput(&self) -> f64 {
        self.ok() as f64 / self.seconds
    }

    /// The `q` quantile in milliseconds (nearest rank).
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * self.latencies_us.len() as f64).ceil() as usize)
            .clamp(1, self.latencies_us.len());
        self.latencies_us[rank - 1] as f64 / 1000.0
    }

    /// Runs together: their latencies sorted as one, over `seconds`.
    pub(crate) fn merge(runs: Vec<Run>, seconds: f64) -> Run {
        let mut latencies_us: Vec<u64> = runs
            .iter()
            .flat_map(|r| r.latencies_us.iter().copied())
            .collect();
        latencies_us.sort_unstable();
        Run {
            latencies_us,
            errors: runs.iter().map(|r| r.errors).sum(),
            shed: runs.iter().map(|r| r.shed).sum(),
            seconds,
        }
    }
}

fn client(connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .build()
        .expect("a client")
}

async fn fetch(client: &reqwest::Client, url: &str) -> Answer {
    match client.get(url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            match (status, response.bytes().await.is_ok()) {
                (200, true) => Answer::Ok,
                (503, true) => Answer::Shed,
                _ => Answer::Failed,
            }
        }
        Err(_) => Answer::Failed,
    }
}

/// `connections` loops, each sending its next request as soon as the last
/// one answers, for `duration`.
pub(crate) async fn saturate(
    base: &str,
    paths: &[String],
    connections: usize,
    duration: Duration,
) -> Run {
    let client = client(connections);
    let urls: Arc<Vec<String>> = Arc::new(paths.iter().map(|p| format!("{base}{p}")).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for _ in 0..connections {
        let (client, urls, next) = (client.clone(), urls.clone(), next.clone());
        tasks.spawn(async move {
            let mut run = Run::default();
            while Instant::now() < deadline {
                let url = &urls[next.fetch_add(1, Ordering::Relaxed) % urls.len()];
                let sent = Instant::now();
                match fetch(&client, url).await {
                    Answer::Ok => run.latencies_us.push(sent.elapsed().as_micros() as u64),
                    Answer::Shed => run.shed += 1,
                    Answer::Failed => run.errors += 1,
                }
            }
            run
        });
    }
    let runs = tasks.join_all().await;
    Run::merge(runs, started.elapsed().as_secs_f64())
}

/// Requests at `rate` per second for `duration`, each measured from its
/// scheduled start.
///
/// A plain thread paces the schedule with `nanosleep`: tokio's timers tick in
/// whole milliseconds, which would send requests up to 1 ms late and charge
/// that to the server.
pub(crate) async fn fixed_rate(base: &str, paths: &[String], rate: f64, duration: Duration) -> Run {
    let client = client(64);
    let count = (rate * duration.as_secs_f64()) as usize;
    let (fire, mut fired) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let started = Instant::now();
    let pacer = std::thread::spawn(move || {
        for i in 0..count {
            let scheduled = started + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if fire.send((i, scheduled)).is_err() {
                break;
            }
        }
    });
    let mut tasks = JoinSet::new();
    while let Some((i, scheduled)) = fired.recv().await {
        let client = client.clone();
        let url = format!("{base}{}", paths[i % paths.len()]);
        tasks.spawn(async move {
            let answer = fetch(&client, &url).await;
            (answer, scheduled.elapsed().as_micros() as u64)
        });
    }
    let _ = pacer.join();
    let mut run = Run::default();
    while let Some(Ok((answer, latency))) = tasks.join_next().await {
        match answer {
            Answer::Ok => run.latencies_us.push(latency),
            Answer::Shed => run.shed += 1,
            Answer::Failed => run.errors += 1,
        }
    }
    run.latencies_us.sort_unstable();
    run.seconds = started.elapsed().as_secs_f64();
    run
}

#[cfg(test)]
mod tests {
    use super::Run;

    #[test]
    fn nearest_rank_quantiles() {
        let run = Run {
            latencies_us: (1..=100).map(|ms| ms * 1000).collect(),
            errors: 0,
            shed: 0,
            seconds: 2.0,
        };
        assert_eq!(run.quantile_ms(0.5), 50.0);
        assert_eq!(run.quantile_ms(0.99), 99.0);
        assert_eq!(run.quantile_ms(1.0), 100.0);
        assert_eq!(run.throughput(), 50.0);
    }
}
