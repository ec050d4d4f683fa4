//! Feeding trawl over the network: documents per second from the first
//! `POST /v1/documents` to the moment a search service holds them all, and
//! how long a 100-document job takes from its `POST` to `succeeded` — on
//! the embedded store and queue (one binary), and on PostgreSQL and
//! RabbitMQ (an indexer and a search replica).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::process::Server;

/// Documents per `POST`, and `POST`s in flight at once.
const BATCH: usize = 5_000;
const SUBMITTERS: usize = 2;
/// Documents per job in the latency runs.
const SMALL_BATCH: usize = 100;

pub(crate) struct Feeding {
    pub cases: Vec<Case>,
    /// Why the distributed case did not run, when it did not.
    pub skipped: Option<String>,
}

pub(crate) struct Case {
    pub name: &'static str,
    pub documents: usize,
    pub batches: usize,
    /// From the first `POST` to the last `202`.
    pub accepted_s: f64,
    /// From the first `POST` to a search service holding every document.
    pub searchable_s: f64,
    /// `POST` to `succeeded` of 100-document jobs, one at a time.
    pub latency_ms: Vec<f64>,
}

impl Case {
    pub(crate) fn rate(&self) -> f64 {
        self.documents as f64 / self.searchable_s
    }

    pub(crate) fn latency(&self, q: f64) -> f64 {
        let mut v = self.latency_ms.clone();
        v.sort_by(f64::total_cmp);
        v[((q * v.len() as f64) as usize).min(v.len() - 1)]
    }
}

pub(crate) async fn run(trawl: &Path, jsonl: &Path, jobs: usize) -> anyhow::Result<Feeding> {
    let lines: Vec<String> = std::fs::read_to_string(jsonl)?
        .lines()
        .map(str::to_owned)
        .collect();
    let mut cases = Vec::new();

    let dir = tempfile::tempdir()?;
    let (one, _) = Server::start(trawl, dir.path(), &[])?;
    let key = make_key(trawl, dir.path(), &[])?;
    cases.push(
        measure(
            "embedded (one binary, SQLite)",
            &one,
            &one,
            &key,
            &lines,
            jobs,
        )
        .await?,
    );
    one.stop()?;

    let mut skipped = None;
    match distributed_servers().await {
        Ok((schema, queue, amqp)) => {
            let dir = tempfile::tempdir()?;
            let config = dir.path().join("trawl.toml");
            std::fs::write(&config, format!("[queue]\nname = \"{}\"\n", amqp.name))?;
            let config = config.to_str().context("a UTF-8 path")?;
            let env = [
                ("TRAWL_DATABASE_URL", schema.url.as_str()),
                ("TRAWL_AMQP_URL", amqp.url.as_str()),
            ];
            let (indexer, _) = Server::start_with(
                trawl,
                dir.path(),
                &["--role", "indexer", "--config", config],
                &env,
            )?;
            let (search, _) = Server::start(trawl, dir.path(), &["--role", "search"])?;
            let key = make_key(trawl, dir.path(), &env[..1])?;
            cases.push(
                measure(
                    "PostgreSQL + RabbitMQ (indexer and a search replica)",
                    &indexer,
                    &search,
                    &key,
                    &lines,
                    jobs,
                )
                .await?,
            );
            search.stop()?;
            indexer.stop()?;
            let _ = queue.delete_all().await;
            drop(schema);
        }
        Err(why) => skipped = Some(why),
    }
    Ok(Feeding { cases, skipped })
}

type Servers = (
    trawl_store::testing::PostgresSchema,
    trawl_queue::AmqpQueue,
    trawl_queue::AmqpSettings,
);

/// A PostgreSQL schema and RabbitMQ queues of the run's own, or why not.
async fn distributed_servers() -> Result<Servers, String> {
    let schema = trawl_store::testing::fresh_postgres("bench")
        .await
        .ok_or("PostgreSQL is not reachable")?;
    let (queue, settings) = trawl_queue::testing::fresh_rabbitmq("bench")
        .await
        .ok_or("RabbitMQ is not reachable")?;
    Ok((schema, queue, settings))
}

/// `trawl keys create` against the store the servers use.
pub(crate) fn make_key(
    trawl: &Path,
    data_dir: &Path,
    env: &[(&str, &str)],
) -> anyhow::Result<String> {
    let output = std::process::Command::new(trawl)
        .envs(env.iter().copied())
        .arg("--data-dir")
        .arg(data_dir)
        .args(["keys", "create", "--name", "bench"])
        .output()?;
    if !output.status.success() {
        bail!(
            "trawl keys create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

async fn measure(
    name: &'static str,
    writer: &Server,
    search: &Server,
    key: &str,
    lines: &[String],
    jobs: usize,
) -> anyhow::Result<Case> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let bodies: Vec<String> = lines
        .chunks(BATCH)
        .map(|chunk| {
            let mut body = chunk.join("\n");
            body.push('\n');
            body
        })
        .collect();
    let base = writer.url();
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let submit = || async {
        let mut ids = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(body) = bodies.get(i) else { break };
            ids.push(post(&client, &base, key, body.clone()).await?);
        }
        anyhow::Ok(ids)
    };
    let submitted = futures_util::future::try_join_all((0..SUBMITTERS).map(|_| submit())).await?;
    let accepted_s = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(600);
    while documents(&client, &search.url()).await? < lines.len() as u64 {
        if Instant::now() > deadline {
            bail!("{name}: the documents were not all searchable after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let searchable_s = started.elapsed().as_secs_f64();
    for id in submitted.into_iter().flatten() {
        let job = wait(&client, &base, key, id).await?;
        if job["state"] != "succeeded" {
            bail!("{name}: job {id} ended {}", job["state"]);
        }
    }
    let mut latency_ms = Vec::with_capacity(jobs);
    for n in 0..jobs {
        let body = (0..SMALL_BATCH)
            .map(|i| {
                format!(
                    "{{\"id\":\"latency-{n}-{i}\",\"title\":\"latency {n}\",\"url\":\"https://latency.example/{n}/{i}\",\"body\":\"a short document to time a job by\"}}\n"
                )
            })
            .collect::<String>();
        let started = Instant::now();
        let id = post(&client, &base, key, body).await?;
        let job = wait(&client, &base, key, id).await?;
        latency_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if job["state"] != "succeeded" {
            bail!("{name}: latency job {id} ended {}", job["state"]);
        }
    }
    Ok(Case {
        name,
        documents: lines.len(),
        batches: bodies.len(),
        accepted_s,
        searchable_s,
        latency_ms,
    })
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    body: String,
) -> anyhow::Result<i64> {
    let response = client
        .post(format!("{base}/v1/documents"))
        .bearer_auth(key)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let job: Value = response.json().await?;
    if status != 202 {
        bail!("POST /v1/documents answered {status}: {job}");
    }
    job["id"].as_i64().context("a job id")
}

/// Polls a job until it has finished, every millisecond.
async fn wait(client: &reqwest::Client, base: &str, key: &str, id: i64) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let job: Value = client
            .get(format!("{base}/v1/jobs/{id}"))
            .bearer_auth(key)
            .send()
            .await?
            .json()
            .await?;
        if !matches!(job["state"].as_str(), Some("queued" | "running")) {
            return Ok(job);
        }
        if Instant::now() > deadline {
            bail!("job {id} did not finish in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn documents(client: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let engines: Value = client
        .get(format!("{base}/v1/engines"))
        .send()
        .await?
        .json()
        .await?;
    Ok(engines["engines"][0]["documents"].as_u64().unwrap_or(0))
}

pub(crate) fn print(f: &Feeding, quick: bool) {
    println!(
        "\n### Feeding (`POST /v1/documents` to searchable, IMDB reviews{}, {BATCH} documents a request, {SUBMITTERS} at once)\n",
        if quick { ", first 10,000" } else { "" }
    );
    println!(
        "| store and queue | documents | requests | all accepted (202) | all searchable | documents/s | 100-document job p50 | p99 |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for c in &f.cases {
        println!(
            "| {} | {} | {} | {:.2} s | {:.2} s | {:.0} | {:.1} ms | {:.1} ms |",
            c.name,
            c.documents,
            c.batches,
            c.accepted_s,
            c.searchable_s,
            c.rate(),
            c.latency(0.5),
            c.latency(0.99)
        );
    }
    if let Some(why) = &f.skipped {
        println!("\nPostgreSQL + RabbitMQ not measured: {why}.");
    }
    if let Some(c) = f.cases.first() {
        println!(
            "\nJob latency: {} jobs of {SMALL_BATCH} documents, one after the other, each polled every millisecond from its `POST` to `succeeded`.",
            c.latency_ms.len()
        );
    }
}
