//! Nothing acknowledged is lost: the real binary killed in the middle of
//! a job, and its broker or database taken away, through real processes.
//! The PostgreSQL and RabbitMQ cases need those servers (this machine's, or
//! `TRAWL_TEST_DATABASE_URL` / `TRAWL_TEST_AMQP_URL`); they skip loudly
//! without them unless `TRAWL_REQUIRE_SERVICES=1`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use trawl_queue::testing::fresh_rabbitmq;
use trawl_store::testing::{PostgresSchema, fresh_postgres};

use crate::faults::{Fault, FaultProxy};
use crate::processes::{Trawl, Writer, create_key, documents, documents_in};

const JOB: usize = 100_000;

/// Waits until the search service at `base` holds `n` documents.
async fn holds(base: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = documents_in(base).await;
        if now == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{base} holds {now} documents, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Submits `JOB` documents, waits until the job runs, kills the process
/// that runs it, starts it again with `restart`, and checks the job ran
/// again to success, once.
async fn kill_in_the_middle(
    server: &mut Trawl,
    key: &str,
    restart: impl FnOnce() -> Trawl,
) -> (Trawl, Value) {
    let writer = Writer::new(&server.address, key);
    let (status, job) = writer.submit(documents("kill", JOB, "killdeer")).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_i64().unwrap();
    writer
        .wait_for(id, Duration::from_secs(60), |j| j["state"] == "running")
        .await;
    server.kill();
    let restarted = restart();
    let writer = Writer::new(&restarted.address, key);
    let done = writer.succeeded(id).await;
    assert_eq!(
        done["attempts"],
        2,
        "the first run was cut short and the second finished: {done}\n{}",
        restarted.logs()
    );
    let counts = &done["counts"];
    assert_eq!(
        counts["added"].as_u64().unwrap() + counts["replaced"].as_u64().unwrap(),
        JOB as u64,
        "{done}"
    );
    (restarted, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_a_job_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let start = || Trawl::start(dir.path(), &["--no-demo"], &[]);
    let mut server = start();
    let key = create_key(dir.path(), &[]);
    let (server, _) = kill_in_the_middle(&mut server, &key, start).await;
    assert_eq!(documents_in(&server.address).await, JOB as u64);
    let found: Value = reqwest::get(server.url("/v1/search?q=killdeer+99999"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["results"][0]["url"], "https://kill.example.org/99999");
}

/// A configuration file naming this test's own queue.
fn queue_config(dir: &Path, queue: &str) -> String {
    let path = dir.join("trawl.toml");
    std::fs::write(&path, format!("[queue]\nname = \"{queue}\"\n")).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_with_an_indexer_two_search_replicas_postgresql_and_rabbitmq() {
    let Some(schema) = fresh_postgres("kill_distributed").await else {
        return;
    };
    let Some((queue, amqp)) = fresh_rabbitmq("kill_distributed").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = queue_config(dir.path(), &amqp.name);
    let env = [
        ("TRAWL_DATABASE_URL", schema.url.as_str()),
        ("TRAWL_AMQP_URL", amqp.url.as_str()),
    ];
    let indexer = || {
        Trawl::start(
            dir.path(),
            &["--role", "indexer", "--no-demo", "--config", &config],
            &env,
        )
    };
    let mut server = indexer();
    let replicas = [
        Trawl::start(dir.path(), &["--role", "search"], &[]),
        Trawl::start(dir.path(), &["--role", "search"], &[]),
    ];
    let key = create_key(dir.path(), &env[..1]);
    let (_indexer, _) = kill_in_the_middle(&mut server, &key, indexer).await;
    for replica in &replicas {
        holds(&replica.address, JOB as u64).await;
    }
    queue.delete_all().await.unwrap();
    drop(schema);
}

/// A PostgreSQL schema and a RabbitMQ queue for one test, or `None`.
async fn servers(
    test: &str,
) -> Option<(
    PostgresSchema,
    trawl_queue::AmqpQueue,
    trawl_queue::AmqpSettings,
)> {
    let schema = fresh_postgres(test).await?;
    let (queue, settings) = fresh_rabbitmq(test).await?;
    Some((schema, queue, settings))
}

/// An indexer on `database_url` and `amqp_url` (its queue `queue`), a
/// search replica beside it and a key: 10 documents written, and seen.
async fn deploy(
    dir: &Path,
    database_url: &str,
    amqp_url: &str,
    queue: &str,
    word: &str,
) -> (Trawl, Trawl, Writer) {
    let config = queue_config(dir, queue);
    let env = [
        ("TRAWL_DATABASE_URL", database_url),
        ("TRAWL_AMQP_URL", amqp_url),
    ];
    let indexer = Trawl::start(
        dir,
        &["--role", "indexer", "--no-demo", "--config", &config],
        &env,
    );
    let replica = Trawl::start(dir, &["--role", "search"], &[]);
    let writer = Writer::new(&indexer.address, &create_key(dir, &env[..1]));
    let (_, job) = writer.submit(documents("before", 10, word)).await;
    writer.succeeded(job["id"].as_i64().unwrap()).await;
    holds(&replica.address, 10).await;
    (indexer, replica, writer)
}

fn address_of(url: &str) -> SocketAddr {
    let url = url::Url::parse(url).unwrap();
    let host = url.host_str().unwrap();
    format!("{host}:{}", url.port().unwrap())
        .parse()
        .expect("the test servers are at IP addresses")
}

/// `url` with its host and port replaced by `proxy`'s.
fn through(url: &str, proxy: SocketAddr) -> String {
    let mut url = url::Url::parse(url).unwrap();
    url.set_ip_host(proxy.ip()).unwrap();
    url.set_port(Some(proxy.port())).unwrap();
    url.to_string()
}

async fn readiness(base: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{base}/readyz")).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn check<'a>(readiness: &'a Value, name: &str) -> &'a Value {
    readiness["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {readiness}"))
}

/// Submits until the indexer takes the batch (a dependency coming back
/// takes a moment), with one idempotency key: one job however many tries.
async fn submit_until_taken(writer: &Writer, ndjson: &str, key: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = writer
            .post("/v1/documents")
            .header("content-type", "application/x-ndjson")
            .header("idempotency-key", key)
            .body(ndjson.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        if status == 202 {
            return body["id"].as_i64().unwrap();
        }
        assert_eq!(
            (status, body["code"].as_str()),
            (503, Some("dependency_unavailable"))
        );
        assert!(Instant::now() < deadline, "never taken: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A write refused because a dependency is down: a prompt 503 that names
/// it, with `Retry-After`.
async fn refused(writer: &Writer, naming: &str) {
    let response = writer
        .post("/v1/documents")
        .header("content-type", "application/x-ndjson")
        .body(documents("refused", 3, "refused"))
        .send()
        .await
        .expect("an answer, not a hang");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "dependency_unavailable");
    assert!(
        problem["detail"].as_str().unwrap().contains(naming),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rabbitmq_gone_writes_answer_503_search_goes_on_and_queued_work_completes() {
    let Some((schema, queue, amqp)) = servers("rabbitmq_down").await else {
        return;
    };
    let proxy = FaultProxy::start(address_of(&amqp.url)).await;
    let dir = tempfile::tempdir().unwrap();
    let amqp_url = through(&amqp.url, proxy.addr);
    let (indexer, replica, writer) =
        deploy(dir.path(), &schema.url, &amqp_url, &amqp.name, "wallaby").await;

    // Work in the queue when the broker goes: held back by another writer
    // of the index, the first job runs, the second waits in RabbitMQ.
    let index = trawl_index::LocalIndex::open_or_create(&dir.path().join("index")).unwrap();
    // (Once the indexer, idle, lets its writer go.)
    let deadline = Instant::now() + Duration::from_secs(30);
    let held = loop {
        match index.writer() {
            Ok(writer) => break writer,
            Err(e) => assert!(Instant::now() < deadline, "{e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (_, first) = writer.submit(documents("first", 10, "wallaby")).await;
    let (_, second) = writer.submit(documents("second", 10, "wallaby")).await;
    let (first, second) = (
        first["id"].as_i64().unwrap(),
        second["id"].as_i64().unwrap(),
    );
    writer
        .wait_for(first, Duration::from_secs(30), |j| j["state"] == "running")
        .await;

    proxy.set(Fault::Reset).await;
    refused(&writer, "the job queue (rabbitmq)").await;
    let (status, ready) = readiness(&indexer.address).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(check(&ready, "queue")["ok"], false, "{ready}");
    assert_eq!(check(&ready, "store")["ok"], true, "{ready}");
    // Search is not the indexer's: it answers as before.
    let (status, _) = readiness(&replica.address).await;
    assert_eq!(status, 200);
    let found: Value = reqwest::get(replica.url("/v1/search?q=wallaby"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["engines"][0]["total"], 10);
    drop(held);

    proxy.set(Fault::Pass).await;
    let after = submit_until_taken(&writer, &documents("after", 10, "wallaby"), "after-1").await;
    for id in [first, second, after] {
        writer.succeeded(id).await;
    }
    holds(&replica.address, 40).await;
    let (status, ready) = readiness(&indexer.address).await;
    assert_eq!(status, 200, "{ready}");
    queue.delete_all().await.unwrap();
    drop(schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgresql_gone_writes_answer_503_search_goes_on_and_writes_resume() {
    let Some((schema, queue, amqp)) = servers("postgres_down").await else {
        return;
    };
    let proxy = FaultProxy::start(address_of(&schema.url)).await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = through(&schema.url, proxy.addr);
    let (indexer, replica, writer) =
        deploy(dir.path(), &database_url, &amqp.url, &amqp.name, "quoll").await;

    proxy.set(Fault::Reset).await;
    refused(&writer, "the job store (postgresql)").await;
    let listing = writer.get("/v1/jobs").send().await.unwrap();
    assert_eq!(listing.status(), 503);
    let (status, ready) = readiness(&indexer.address).await;
    assert_eq!(status, 503);
    assert_eq!(check(&ready, "store")["ok"], false, "{ready}");
    let (status, _) = readiness(&replica.address).await;
    assert_eq!(status, 200);

    proxy.set(Fault::Pass).await;
    let after = submit_until_taken(&writer, &documents("after", 10, "quoll"), "after-1").await;
    writer.succeeded(after).await;
    holds(&replica.address, 20).await;
    assert_eq!(readiness(&indexer.address).await.0, 200);
    queue.delete_all().await.unwrap();
    drop(schema);
}
