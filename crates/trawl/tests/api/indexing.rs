//! Feeding trawl over the network: the write API, keys, jobs, and what
//! search replicas see — the services on port 0, a real store and queue.

use std::time::Duration;

use serde_json::{Value, json};
use trawl::{Config, Role};
use trawl_store::Store;

use crate::helpers::*;
use crate::processes::{Writer, documents, documents_in};

/// A one-process trawl on an empty data directory, and a key for it.
async fn one_process() -> (tempfile::TempDir, Config, TestApp, Writer) {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let app = spawn(&config, Role::All).await;
    let key = make_key(&config, "tests").await;
    let writer = Writer::new(&app.address, &key);
    (dir, config, app, writer)
}

fn problem_code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_documents_become_searchable_and_a_retry_with_its_key_is_the_same_job() {
    let (_dir, config, app, writer) = one_process().await;
    let docs: Vec<Value> = (0..1000)
        .map(|i| {
            json!({"id": format!("n{i}"), "title": format!("Numbat {i}"),
                   "url": format!("https://numbat.example.org/{i}"),
                   "body": format!("the numbat eats termites, note {i}")})
        })
        .collect();
    let body = serde_json::to_vec(&docs).unwrap();
    let send = |key: &'static str, body: Vec<u8>| {
        writer
            .post("/v1/documents")
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(body)
            .send()
    };
    let response = send("batch-1", body.clone()).await.unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(response.headers().get("idempotent-replayed").is_none());
    let job: Value = response.json().await.unwrap();
    let id = job["id"].as_i64().unwrap();
    assert_eq!(location, format!("/v1/jobs/{id}"));
    assert_eq!(job["state"], "queued");
    assert_eq!(job["progress"], json!({"done": 0, "total": 1000}));

    let done = writer.succeeded(id).await;
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["progress"], json!({"done": 1000, "total": 1000}));
    assert_eq!(
        done["counts"],
        json!({"added": 1000, "replaced": 0, "skipped": 0, "deleted": 0, "kept": 0})
    );
    for time in ["created_at", "started_at", "finished_at"] {
        assert!(done[time].as_str().unwrap().ends_with('Z'), "{done}");
    }
    let found = app
        .get_json("/api/v1/search?q=numbat+termites&per_page=3", 200)
        .await;
    assert_eq!(found["results"].as_array().unwrap().len(), 3);
    assert_eq!(documents_in(&app.address).await, 1000);

    // The same request again: the same job, nothing queued twice.
    let again = send("batch-1", body.clone()).await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap()["id"], id);
    // The key for another request: refused.
    let mut other = body.clone();
    other.truncate(other.len() - 1);
    other.extend_from_slice(
        b",{\"id\":\"x\",\"title\":\"x\",\"url\":\"https://x.org/\",\"body\":\"x\"}]",
    );
    let reused = send("batch-1", other).await.unwrap();
    assert_eq!(reused.status(), 422);
    assert_eq!(
        problem_code(&reused.json().await.unwrap()),
        "idempotency_key_reused"
    );
    let jobs: Value = writer
        .get("/v1/jobs")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1, "{jobs}");

    // The same documents again, as a new job: replaced, not added.
    let (status, job) = writer.submit(documents("n", 0, "")).await;
    assert_eq!((status, problem_code(&job)), (422, "empty_batch"));
    let ndjson: String = docs.iter().map(|d| format!("{d}\n")).collect();
    let (status, job) = writer.submit(ndjson).await;
    assert_eq!(status, 202);
    let replaced = writer.succeeded(job["id"].as_i64().unwrap()).await;
    assert_eq!(
        replaced["counts"],
        json!({"added": 0, "replaced": 1000, "skipped": 0, "deleted": 0, "kept": 0})
    );

    // Removing one: a job too.
    let response = writer.delete("/v1/documents/n%37").send().await.unwrap();
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    assert_eq!(
        (job["kind"].as_str(), job["progress"]["total"].as_u64()),
        (Some("delete"), Some(1))
    );
    let deleted = writer.succeeded(job["id"].as_i64().unwrap()).await;
    assert_eq!(deleted["counts"]["deleted"], 1);
    assert_eq!(documents_in(&app.address).await, 999);
    let response = writer.delete("/v1/documents/n7").send().await.unwrap();
    let again = writer
        .succeeded(
            response.json::<Value>().await.unwrap()["id"]
                .as_i64()
                .unwrap(),
        )
        .await;
    assert_eq!(
        again["counts"]["deleted"], 0,
        "removing it twice removes nothing"
    );
    drop(config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_a_valid_key_and_reads_do_not() {
    let (_dir, config, app, writer) = one_process().await;
    let no_key = app
        .client
        .post(app.url("/v1/documents"))
        .header("content-type", "application/x-ndjson")
        .body(documents("k", 1, "key"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    assert_eq!(
        no_key.headers()["www-authenticate"],
        "Bearer realm=\"trawl\""
    );
    assert_eq!(no_key.headers()["content-type"], "application/problem+json");
    assert_eq!(problem_code(&no_key.json().await.unwrap()), "unauthorized");
    for (header, status) in [
        ("Basic dXNlcjpwYXNz", 401),
        ("Bearer", 401),
        ("Bearer not-a-key", 403),
        (
            "Bearer trawl_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            403,
        ),
    ] {
        let response = app
            .client
            .get(app.url("/v1/jobs"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{header}");
        let code = if status == 401 {
            "unauthorized"
        } else {
            "forbidden"
        };
        assert_eq!(problem_code(&response.json().await.unwrap()), code);
    }
    // A real key with one character changed is not it.
    let mut forged = writer.key.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let response = app
        .client
        .get(app.url("/v1/jobs"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(writer.get("/v1/jobs").send().await.unwrap().status(), 200);

    // Revoked: refused from then on.
    let store = trawl::open_store(&config).await.unwrap();
    let prefix = writer.key.split('_').nth(1).unwrap().to_owned();
    store.revoke_key(&prefix, 1).await.unwrap().unwrap();
    store.close().await;
    assert_eq!(writer.get("/v1/jobs").send().await.unwrap().status(), 403);

    // Reads stay open.
    app.get_json("/api/v1/search?q=anything", 200).await;
    assert_eq!(app.get("/").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_can_require_a_key_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.auth.require_key_for_reads = true;
    let app = spawn(&config, Role::All).await;
    let key = make_key(&config, "reader").await;
    for path in ["/api/v1/search?q=x", "/v1/search?q=x", "/v1/results?q=x"] {
        assert_eq!(app.get(path).await.status(), 401, "{path}");
        let with_key = app
            .client
            .get(app.url(path))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(with_key.status(), 200, "{path}");
    }
    for open in ["/livez", "/openapi.json"] {
        assert_eq!(app.get(open).await.status(), 200, "{open}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_batch_is_refused_whole_naming_each_bad_document_and_nothing_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.indexer.max_body_bytes = 64 * 1024;
    config.indexer.max_body_bytes_in_flight = 128 * 1024;
    config.indexer.max_body_bytes_in_flight_per_key = 64 * 1024;
    config.indexer.max_documents = 50;
    let app = spawn(&config, Role::All).await;
    let writer = Writer::new(&app.address, &make_key(&config, "t").await);
    let post = |content_type: Option<&'static str>, query: &'static str, body: String| {
        let mut request = writer.post(&format!("/v1/documents{query}")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let ndjson = Some("application/x-ndjson");
    let mixed = format!(
        "{}not json\n\n{{\"id\":\"b\",\"title\":\"t\",\"body\":\"no url\"}}\n{}{{\"id\":\"s\",\"title\":\"t\",\"url\":\"javascript:alert(1)\",\"body\":\"\"}}\n",
        documents("good", 1, "wombat"),
        documents("more", 2, "wombat")
    );
    let (status, problem) = post(ndjson, "", mixed.clone()).await;
    assert_eq!((status, problem_code(&problem)), (422, "invalid_documents"));
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("3 documents cannot be indexed: line 2: "),
        "{problem}"
    );
    let named: Vec<(u64, u64, Option<&str>)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["position"].as_u64().unwrap(),
                e["line"].as_u64().unwrap(),
                e["id"].as_str(),
            )
        })
        .collect();
    assert_eq!(named, [(2, 2, None), (3, 4, Some("b")), (6, 7, Some("s"))]);

    for (content_type, query, body, status, code) in [
        (
            Some("application/json"),
            "",
            "[{\"id\": 1,\n  \"title\" \"x\"}]".to_owned(),
            400,
            "malformed_body",
        ),
        (
            Some("application/json"),
            "",
            "{\"id\": 1}".to_owned(),
            400,
            "malformed_body",
        ),
        (
            Some("application/json"),
            "",
            "[]".to_owned(),
            422,
            "empty_batch",
        ),
        (
            Some("text/plain"),
            "",
            documents("a", 1, "x"),
            415,
            "unsupported_media_type",
        ),
        (
            None,
            "",
            documents("a", 1, "x"),
            415,
            "unsupported_media_type",
        ),
        (
            ndjson,
            "?skip_bad=maybe",
            documents("a", 1, "x"),
            400,
            "invalid_parameter",
        ),
        (
            ndjson,
            "",
            documents("big", 51, "x"),
            413,
            "too_many_documents",
        ),
    ] {
        let (got, problem) = post(content_type, query, body).await;
        assert_eq!((got, problem_code(&problem)), (status, code), "{problem}");
    }
    let (_, problem) = post(
        Some("application/json"),
        "",
        "[{\"id\": 1,\n  \"title\" \"x\"}]".to_owned(),
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("line 2, column 11"),
        "{problem}"
    );
    // An invalid Idempotency-Key.
    let response = writer
        .post("/v1/documents")
        .header("content-type", "application/x-ndjson")
        .header("idempotency-key", "has a space")
        .body(documents("a", 1, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        (problem_code(&problem), problem["param"].as_str()),
        ("invalid_header", Some("Idempotency-Key"))
    );
    // Bodies over the limit: refused as soon as the declared length shows
    // it, or once the limit is read. The server answers 413 and closes,
    // which a client still sending may see as the connection closing first
    // (`Expect: 100-continue` lets it learn before it sends).
    let huge = documents("huge", 700, "x");
    assert!(huge.len() > 64 * 1024);
    let chunks = futures_util::stream::iter(
        (0..100).map(|_| Ok::<_, std::io::Error>(documents("c", 10, "chunked"))),
    );
    for body in [
        reqwest::Body::from(huge),
        reqwest::Body::wrap_stream(chunks),
    ] {
        let sent = writer
            .post("/v1/documents")
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await;
        if let Ok(response) = sent {
            assert_eq!(response.status(), 413);
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem_code(&problem), "payload_too_large");
        }
    }
    let expecting = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut read, mut write) = expecting.into_split();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    write
        .write_all(
            format!(
                "POST /v1/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/x-ndjson\r\nContent-Length: 10000000\r\n\
                 Expect: 100-continue\r\n\r\n",
                writer.key
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = read.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");

    let jobs: Value = writer
        .get("/v1/jobs")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jobs["jobs"], json!([]), "nothing was queued");

    // With skip_bad the good ones go, the bad ones are reported.
    let (status, job) = post(ndjson, "?skip_bad=true", mixed).await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(
        (
            job["errors_total"].as_u64(),
            job["counts"]["skipped"].as_u64()
        ),
        (Some(3), Some(3))
    );
    assert_eq!(
        job["errors"][2]["reason"].as_str().unwrap(),
        "`url` \"javascript:alert(1)\" must use http, https or file"
    );
    let done = writer.succeeded(job["id"].as_i64().unwrap()).await;
    assert_eq!(
        done["counts"],
        json!({"added": 3, "replaced": 0, "skipped": 3, "deleted": 0, "kept": 0})
    );
    assert_eq!(documents_in(&app.address).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_page_by_cursor_and_only_a_queued_job_can_be_cancelled() {
    let (_dir, config, app, writer) = one_process().await;
    // Another writer holds the index (as `trawl index add` would): the
    // first job runs and waits, the others stay queued.
    let index = trawl_index::LocalIndex::open_or_create(&config.index_dir()).unwrap();
    let held = index.writer().unwrap();
    let mut ids = Vec::new();
    for n in 0..5 {
        let (status, job) = writer
            .submit(documents(&format!("p{n}"), 3, "platypus"))
            .await;
        assert_eq!(status, 202);
        ids.push(job["id"].as_i64().unwrap());
    }
    writer
        .wait_for(ids[0], Duration::from_secs(30), |j| j["state"] == "running")
        .await;
    let page = |query: String| {
        let request = writer.get(&format!("/v1/jobs{query}")).send();
        async move {
            let page: Value = request.await.unwrap().json().await.unwrap();
            let ids: Vec<i64> = page["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["id"].as_i64().unwrap())
                .collect();
            (ids, page["next_cursor"].as_str().map(str::to_owned))
        }
    };
    let (first, cursor) = page("?limit=2".to_owned()).await;
    assert_eq!(first, [ids[4], ids[3]], "newest first");
    let (second, cursor) = page(format!("?limit=2&cursor={}", cursor.unwrap())).await;
    assert_eq!(second, [ids[2], ids[1]]);
    let (third, cursor) = page(format!("?limit=2&cursor={}", cursor.unwrap())).await;
    assert_eq!((third, cursor), (vec![ids[0]], None));
    assert_eq!(page("?state=running".to_owned()).await.0, [ids[0]]);
    assert_eq!(page("?state=queued".to_owned()).await.0.len(), 4);
    for (query, code) in [
        ("?state=done", "invalid_parameter"),
        ("?cursor=zz", "invalid_cursor"),
        ("?limit=0", "invalid_parameter"),
    ] {
        let response = writer
            .get(&format!("/v1/jobs{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(problem_code(&response.json().await.unwrap()), code);
    }

    let cancel = |id: String| {
        let request = writer.delete(&format!("/v1/jobs/{id}")).send();
        async move {
            let response = request.await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, cancelled) = cancel(ids[2].to_string()).await;
    assert_eq!(
        (status, cancelled["state"].as_str()),
        (200, Some("cancelled"))
    );
    assert!(cancelled["finished_at"].is_string());
    let (status, problem) = cancel(ids[2].to_string()).await;
    assert_eq!((status, problem_code(&problem)), (409, "conflict"));
    let (status, problem) = cancel(ids[0].to_string()).await;
    assert_eq!((status, problem_code(&problem)), (409, "conflict"));
    assert!(
        problem["detail"].as_str().unwrap().contains("is running"),
        "{problem}"
    );
    assert_eq!(cancel("999999".to_owned()).await.0, 404);
    let long_id = writer
        .delete(&format!("/v1/documents/{}", "i".repeat(2_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(long_id.status(), 400, "an id longer than 1,024 bytes");
    assert_eq!(cancel("abc".to_owned()).await.0, 400);
    assert_eq!(writer.get("/v1/jobs/0").send().await.unwrap().status(), 400);
    assert_eq!(
        writer.get("/v1/jobs/424242").send().await.unwrap().status(),
        404
    );

    drop(held);
    for (n, id) in ids.iter().enumerate() {
        if n == 2 {
            continue;
        }
        writer.succeeded(*id).await;
    }
    assert_eq!(writer.job(ids[2]).await["state"], "cancelled");
    assert_eq!(
        documents_in(&app.address).await,
        12,
        "the cancelled job's documents never came"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_replica_never_writes_and_sees_each_commit_of_the_indexer() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let replicas = [
        spawn(&config, Role::Search).await,
        spawn(&config, Role::Search).await,
    ];
    let waiting = replicas[0].get("/readyz").await;
    assert_eq!(waiting.status(), 503);
    let readiness: Value = waiting.json().await.unwrap();
    assert!(
        readiness["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("there is no index"),
        "{readiness}"
    );
    assert!(
        !config.index_dir().exists(),
        "a search replica created nothing"
    );
    let refused = replicas[0]
        .client
        .post(replicas[0].url("/v1/documents"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404, "search has no write API");

    let indexer = spawn(&config, Role::Indexer).await;
    let writer = Writer::new(&indexer.address, &make_key(&config, "t").await);
    let (_, job) = writer.submit(documents("r", 25, "echidna")).await;
    writer.succeeded(job["id"].as_i64().unwrap()).await;
    for replica in &replicas {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while documents_in(&replica.address).await != 25 {
            assert!(
                std::time::Instant::now() < deadline,
                "the replica never saw the commit"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(replica.get("/readyz").await.status(), 200);
        let found = replica.get_json("/v1/search?q=echidna", 200).await;
        assert_eq!(found["engines"][0]["total"], 25);
    }
    // A second batch is seen as well.
    let (_, job) = writer.submit(documents("s", 5, "echidna")).await;
    writer.succeeded(job["id"].as_i64().unwrap()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while documents_in(&replicas[1].address).await != 30 {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready: Value = indexer.get_json("/readyz", 200).await;
    let names: Vec<&str> = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["store", "queue", "worker", "load"]);
}

/// What one submitted batch was.
#[derive(Debug, Clone)]
struct Sent {
    job: i64,
    ids: Vec<String>,
    tag: String,
}

/// 16 clients × 50 batches with overlapping ids, and cancels racing them:
/// every answer is a 202 (or, for a cancel, 200 or 409); once the queue has
/// drained, the index holds exactly the ids of the jobs that succeeded,
/// each document as one of them wrote it, and no job is left unfinished.
async fn many_writers_at_once(writer: Writer, index_dir: std::path::PathBuf) {
    const CLIENTS: usize = 16;
    const BATCHES: usize = 50;
    const POOL: usize = 200;
    let writer = std::sync::Arc::new(writer);
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<Sent>();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (writer, sent_tx) = (writer.clone(), sent_tx.clone());
            tokio::spawn(async move {
                for batch in 0..BATCHES {
                    let tag = format!("c{client}b{batch}");
                    let ids: Vec<String> = (0..10)
                        .map(|k| format!("id-{}", (client * 7 + batch * 13 + k * 17) % POOL))
                        .collect();
                    let ndjson: String = ids
                        .iter()
                        .map(|id| {
                            format!(
                                "{}\n",
                                json!({"id": id, "title": id, "url": format!("https://c.example.org/{id}"),
                                       "body": format!("concurrent {tag}")})
                            )
                        })
                        .collect();
                    let (status, job) = writer.submit(ndjson).await;
                    assert_eq!(status, 202, "{job}");
                    let job = job["id"].as_i64().unwrap();
                    sent_tx.send(Sent { job, ids, tag }).unwrap();
                }
            })
        })
        .collect();
    drop(sent_tx);
    // Cancels every fifth job as it appears, racing the worker.
    let mut sent = Vec::new();
    let mut cancelled = std::collections::HashSet::new();
    let mut too_late = std::collections::HashSet::new();
    while let Some(batch) = sent_rx.recv().await {
        if batch.job % 5 == 0 {
            let response = writer
                .delete(&format!("/v1/jobs/{}", batch.job))
                .send()
                .await
                .unwrap();
            match response.status().as_u16() {
                200 => cancelled.insert(batch.job),
                409 => too_late.insert(batch.job),
                other => panic!("cancelling job {}: {other}", batch.job),
            };
        }
        sent.push(batch);
    }
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!(sent.len(), CLIENTS * BATCHES);
    assert!(!cancelled.is_empty(), "no cancel raced a queued job");

    // Drained: every job finished, as its cancel said.
    let mut succeeded = Vec::new();
    let mut added = 0;
    for batch in &sent {
        let job = writer
            .wait_for(batch.job, Duration::from_secs(120), |j| {
                j["state"] != "queued" && j["state"] != "running"
            })
            .await;
        let state = job["state"].as_str().unwrap();
        if cancelled.contains(&batch.job) {
            assert_eq!(state, "cancelled", "{job}");
        } else {
            assert_eq!(state, "succeeded", "{job}");
            added += job["counts"]["added"].as_u64().unwrap();
            assert_eq!(
                job["counts"]["added"].as_u64().unwrap()
                    + job["counts"]["replaced"].as_u64().unwrap(),
                10
            );
            succeeded.push(batch.clone());
        }
    }
    let page: Value = writer
        .get("/v1/jobs?state=running")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["jobs"], json!([]), "no job is left running");

    let index = trawl_index::LocalIndex::open_read_only(&index_dir).unwrap();
    let docs = index.documents().unwrap();
    let held: std::collections::BTreeSet<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    let expected: std::collections::BTreeSet<&str> = succeeded
        .iter()
        .flat_map(|b| b.ids.iter().map(String::as_str))
        .collect();
    assert_eq!(held, expected, "exactly the ids of the jobs that succeeded");
    assert_eq!(
        added,
        expected.len() as u64,
        "each id added once, then replaced"
    );
    for doc in &docs {
        let tag = doc.body.strip_prefix("concurrent ").unwrap();
        assert!(
            succeeded
                .iter()
                .any(|b| b.tag == tag && b.ids.contains(&doc.id)),
            "{} holds {tag}, which no succeeded job wrote to it",
            doc.id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_at_once_on_the_embedded_store_and_queue() {
    let (dir, config, _app, writer) = one_process().await;
    many_writers_at_once(writer, config.index_dir()).await;
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_at_once_on_postgresql_and_rabbitmq() {
    let Some(schema) = trawl_store::testing::fresh_postgres("many_writers").await else {
        return;
    };
    let Some((queue, amqp)) = trawl_queue::testing::fresh_rabbitmq("many_writers").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.store.database_url = Some(schema.url.clone());
    config.queue.amqp_url = Some(amqp.url.clone());
    config.queue.name = amqp.name.clone();
    let app = spawn(&config, Role::Indexer).await;
    let writer = Writer::new(&app.address, &make_key(&config, "t").await);
    many_writers_at_once(writer, config.index_dir()).await;
    queue.delete_all().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_shown_once_stored_as_hashes_listed_and_revoked() {
    use crate::processes::trawl;
    let dir = tempfile::tempdir().unwrap();
    let made = trawl(dir.path(), &["keys", "create", "--name", "ci"], &[]);
    assert!(made.status.success());
    let key = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("trawl_") && key.len() == 62, "{key}");
    let told = String::from_utf8_lossy(&made.stderr).into_owned();
    assert!(told.contains("shown this once"), "{told}");
    // `trawl_<hex prefix>_<secret>`: the secret is base64url, which may
    // itself hold `_` (taking the text after the last `_` made this test
    // fail now and then, on a tail of a byte or two found in the file).
    let secret = key.splitn(3, '_').nth(2).unwrap();
    assert_eq!(secret.len(), 43, "{key}");
    let stored = std::fs::read(dir.path().join("trawl.db")).unwrap();
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the store holds the key itself"
    );
    let again = trawl(dir.path(), &["keys", "create", "--name", "ci"], &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let listed = trawl(dir.path(), &["keys", "list"], &[]);
    let listing = String::from_utf8(listed.stdout).unwrap();
    let prefix = key.split('_').nth(1).unwrap();
    assert!(
        listing.starts_with(&format!("{prefix}\tci\tcreated ")),
        "{listing}"
    );
    assert!(listing.contains("never used") && listing.contains("active"));
    assert!(!listing.contains(secret));

    let server = crate::processes::Trawl::start(dir.path(), &["--no-demo"], &[]);
    let writer = Writer::new(&server.address, &key);
    assert_eq!(writer.get("/v1/jobs").send().await.unwrap().status(), 200);
    let revoked = trawl(dir.path(), &["keys", "revoke", "ci"], &[]);
    assert!(revoked.status.success());
    assert_eq!(writer.get("/v1/jobs").send().await.unwrap().status(), 403);
    let listing = String::from_utf8(trawl(dir.path(), &["keys", "list"], &[]).stdout).unwrap();
    assert!(
        listing.contains("last used") && listing.contains("revoked"),
        "{listing}"
    );
    let unknown = trawl(dir.path(), &["keys", "revoke", "nobody"], &[]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(!server.logs().contains(secret), "a key reached the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_add_remote_sends_batches_waits_for_the_jobs_and_fails_when_refused() {
    use crate::processes::{Trawl, create_key, trawl};
    let dir = tempfile::tempdir().unwrap();
    let server = Trawl::start(dir.path(), &["--no-demo"], &[]);
    let key = create_key(dir.path(), &[]);
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("docs.jsonl");
    std::fs::write(&file, documents("remote", 12_345, "bilby")).unwrap();
    let file = file.to_str().unwrap();
    let url = server.address.clone();
    let sent = trawl(
        files.path(),
        &[
            "index",
            "add",
            file,
            "--remote",
            &url,
            "--batch-size",
            "5000",
        ],
        &[("TRAWL_API_KEY", key.as_str())],
    );
    let told = String::from_utf8_lossy(&sent.stderr).into_owned();
    assert!(sent.status.success(), "{told}");
    assert!(
        told.contains("sent 12345 documents from 1 files in 3 jobs: 12345 added, 0 replaced"),
        "{told}"
    );
    assert_eq!(documents_in(&server.address).await, 12_345);
    assert!(
        !files.path().join("index").exists(),
        "--remote writes no local index"
    );

    // A folder, the key by flag.
    let site = files.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(
        site.join("page.html"),
        "<title>Bilby page</title><p>a bilby burrows</p>",
    )
    .unwrap();
    let sent = trawl(
        files.path(),
        &[
            "index",
            "add",
            site.to_str().unwrap(),
            "--base-url",
            "https://site.example.org/",
            "--remote",
            &url,
            "--key",
            &key,
        ],
        &[],
    );
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert_eq!(documents_in(&server.address).await, 12_346);

    // A malformed line: nothing is sent.
    let bad = files.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        format!("{}{{\"id\": \"x\"\n", documents("more", 3, "bilby")),
    )
    .unwrap();
    let refused = trawl(
        files.path(),
        &[
            "index",
            "add",
            bad.to_str().unwrap(),
            "--remote",
            &url,
            "--key",
            &key,
        ],
        &[],
    );
    let told = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(1), "{told}");
    assert!(
        told.contains("bad.jsonl:4: ") && told.contains("nothing was queued"),
        "{told}"
    );
    // No key, or a bad one: refused, said so.
    let no_key = trawl(files.path(), &["index", "add", file, "--remote", &url], &[]);
    assert_eq!(no_key.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_key.stderr).contains("needs an API key"));
    let jobs: Value = Writer::new(&server.address, &key)
        .get("/v1/jobs?limit=500")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jobs["jobs"].as_array().unwrap().len(),
        4,
        "3 batches and the folder"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_migrated_by_a_newer_trawl_stops_the_start_with_a_clear_message() {
    use crate::processes::trawl;
    let dir = tempfile::tempdir().unwrap();
    let made = trawl(dir.path(), &["keys", "create", "--name", "x"], &[]);
    assert!(made.status.success());
    sqlx_newer_schema(&dir.path().join("trawl.db")).await;
    let started = trawl(
        dir.path(),
        &["serve", "--no-demo", "--listen", "127.0.0.1:0"],
        &[],
    );
    assert_eq!(started.status.code(), Some(1));
    let told = String::from_utf8_lossy(&started.stderr);
    assert!(
        told.contains("cannot start the all role")
            && told.contains(&format!(
                "the database's schema is version {}, newer than the version {} this trawl knows; upgrade trawl",
                trawl_store::SCHEMA_VERSION + 1,
                trawl_store::SCHEMA_VERSION
            )),
        "{told}"
    );
}

/// Marks the SQLite store at `path` as migrated by a future trawl.
async fn sqlx_newer_schema(path: &std::path::Path) {
    let store = trawl_store::SqlStore::open(&trawl_store::StoreSettings::sqlite(path))
        .await
        .unwrap();
    store
        .execute_for_tests(&format!(
            "INSERT INTO trawl_schema (version, applied_at) VALUES ({}, 0)",
            trawl_store::SCHEMA_VERSION + 1
        ))
        .await;
    store.close().await;
}

/// The write API's HTTP client (what `--remote` uses) against the real
/// service: every operation, and the service's refusals passed on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_client_speaks_the_whole_write_api() {
    use trawl_api::IndexerService;
    use trawl_api::jobs::{Batch, BatchFormat, IdempotencyKey, JobState, JobsQuery};
    let (_dir, _config, app, writer) = one_process().await;
    let client = trawl_service::clients::HttpIndexerClient::new(
        url::Url::parse(&app.address).unwrap(),
        Some(&writer.key),
        test_config(std::path::Path::new("/nowhere"))
            .services
            .results_client(),
    )
    .unwrap();
    let batch = |format, body: &str, key: Option<&str>| Batch {
        body: body.to_owned().into(),
        format,
        skip_bad: false,
        idempotency_key: key.map(|k| IdempotencyKey::parse(k).unwrap()),
    };
    let ndjson = documents("h", 4, "dunnart");
    let first = client
        .submit(batch(BatchFormat::Ndjson, &ndjson, Some("h-1")), None)
        .await
        .unwrap();
    assert!(!first.replayed);
    let again = client
        .submit(batch(BatchFormat::Ndjson, &ndjson, Some("h-1")), None)
        .await
        .unwrap();
    assert_eq!((again.replayed, again.job.id), (true, first.job.id));
    let json = format!(
        "[{}]",
        documents("j", 2, "dunnart").trim_end().replace('\n', ",")
    );
    let second = client
        .submit(batch(BatchFormat::Json, &json, None), None)
        .await
        .unwrap();
    writer.succeeded(second.job.id).await;
    let job = client.job(first.job.id).await.unwrap();
    assert_eq!((job.state, job.counts.added), (JobState::Succeeded, 4));
    let page = client
        .jobs(&JobsQuery {
            state: Some(JobState::Succeeded),
            before: None,
            limit: 1,
        })
        .await
        .unwrap();
    assert_eq!(page.jobs[0].id, second.job.id);
    let rest = client
        .jobs(&JobsQuery {
            state: None,
            before: trawl_api::jobs::parse_jobs_cursor(page.next_cursor.as_deref().unwrap()),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(
        rest.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        [first.job.id]
    );
    let deleted = client.delete("h 0/odd", None, None).await.unwrap();
    assert_eq!(
        writer.succeeded(deleted.job.id).await["counts"]["deleted"],
        0
    );
    let deleted = client.delete("h-0", None, None).await.unwrap();
    assert_eq!(
        writer.succeeded(deleted.job.id).await["counts"]["deleted"],
        1
    );

    // Refusals come back as the service's problem documents.
    let problem = |error: trawl_api::ServiceError| match error {
        trawl_api::ServiceError::Upstream { problem, .. } => problem,
        other => panic!("{other:?}"),
    };
    let refused = problem(
        client
            .submit(batch(BatchFormat::Ndjson, "not json\n", None), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (refused.status, refused.code.as_str()),
        (422, "invalid_documents")
    );
    assert_eq!(refused.errors.unwrap()[0].line, 1);
    let late = problem(client.cancel(first.job.id).await.unwrap_err());
    assert_eq!((late.status, late.code.as_str()), (409, "conflict"));
    assert_eq!(problem(client.job(99_999).await.unwrap_err()).status, 404);
    let anonymous = trawl_service::clients::HttpIndexerClient::new(
        url::Url::parse(&app.address).unwrap(),
        None,
        test_config(std::path::Path::new("/nowhere"))
            .services
            .results_client(),
    )
    .unwrap();
    assert_eq!(
        problem(anonymous.job(first.job.id).await.unwrap_err()).status,
        401
    );
    assert!(client.readiness().await.ready);
}

/// Two indexers on one data directory: one works, the other waits on
/// standby (serving the write API) and takes over when the first stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_indexer_stands_by_and_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let first = spawn(&config, Role::Indexer).await;
    let second = spawn(&config, Role::Indexer).await;
    let key = make_key(&config, "t").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let standby = loop {
        let ready: Value = second.get_json("/readyz", 200).await;
        let worker = ready["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "worker")
            .unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_owned();
        if worker.starts_with("standby") {
            break worker;
        }
        assert!(std::time::Instant::now() < deadline, "{worker}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        standby.contains("another indexer holds the index") && !standby.contains('/'),
        "no filesystem path on /readyz: {standby}"
    );
    // Written through the one on standby, run by the one at work.
    let through_second = Writer::new(&second.address, &key);
    let (_, job) = through_second.submit(documents("a", 3, "kowari")).await;
    through_second.succeeded(job["id"].as_i64().unwrap()).await;
    drop(first);
    let (_, job) = through_second.submit(documents("b", 3, "kowari")).await;
    through_second.succeeded(job["id"].as_i64().unwrap()).await;
    let index = trawl_index::LocalIndex::open_read_only(&config.index_dir()).unwrap();
    assert_eq!(index.num_docs(), 6);
}

/// `trawl index add` on the machine waits while a running indexer holds
/// the index, then writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_index_add_waits_for_the_writer_to_be_free() {
    use crate::processes::trawl;
    let dir = tempfile::tempdir().unwrap();
    let index = trawl_index::LocalIndex::open_or_create(&dir.path().join("index")).unwrap();
    let held = index.writer().unwrap();
    let file = dir.path().join("docs.jsonl");
    std::fs::write(&file, documents("w", 5, "wambenger")).unwrap();
    let path = dir.path().to_owned();
    let adding =
        std::thread::spawn(move || trawl(&path, &["index", "add", file.to_str().unwrap()], &[]));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!adding.is_finished(), "it waits for the writer");
    drop(held);
    let output = adding.join().unwrap();
    let told = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{told}");
    assert!(
        told.contains("another process is writing the index"),
        "{told}"
    );
    assert!(told.contains("added 5 documents"), "{told}");
}

/// Bodies held at once are bounded by the bytes received: while one
/// request's body (as large as the limit allows) is nearly all sent,
/// another waits its turn, and goes once the first is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_held_at_once_are_bounded_and_a_request_waits_its_turn() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.indexer.max_body_bytes = 64 * 1024;
    config.indexer.max_body_bytes_in_flight = 64 * 1024;
    config.indexer.max_body_bytes_in_flight_per_key = 64 * 1024;
    let app = spawn(&config, Role::All).await;
    let writer = Writer::new(&app.address, &make_key(&config, "t").await);
    // A slow client: a body as large as the limit — the whole room for
    // bodies — half sent.
    let mut body = documents("slow", 300, "slowly");
    let filler = 64 * 1024
        - body.len()
        - r#"{"id":"pad","title":"p","url":"https://p.org/","body":""}"#.len()
        - 1;
    body.push_str(&format!(
        "{{\"id\":\"pad\",\"title\":\"p\",\"url\":\"https://p.org/\",\"body\":\"{}\"}}\n",
        "x".repeat(filler)
    ));
    assert_eq!(body.len(), 64 * 1024);
    let mut slow = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    slow.write_all(
        format!(
            "POST /v1/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
            writer.key,
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // All but its last bytes: it holds the whole room.
    let (first, rest) = body.as_bytes().split_at(body.len() - 10);
    slow.write_all(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let waiting = tokio::spawn({
        let writer = Writer::new(&writer.base, &writer.key);
        async move { writer.submit(documents("quick", 2, "quickly")).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "it waits while the room is taken");
    slow.write_all(rest).await.unwrap();
    let (status, job) = waiting.await.unwrap();
    assert_eq!(status, 202, "{job}");
    writer.succeeded(job["id"].as_i64().unwrap()).await;
}

/// Waits until the search service at `base` holds `n` documents.
async fn until_documents(base: &str, n: u64, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = documents_in(base).await;
        if now == n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {now} documents, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_replica_on_a_disk_of_its_own_pulls_each_commit_from_the_indexer() {
    let (indexer_dir, replica_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut config = test_config(indexer_dir.path());
    // Reads need a key here, so the index's commits do too.
    config.auth.require_key_for_reads = true;
    let indexer = spawn(&config, Role::Indexer).await;
    let key = make_key(&config, "replicas").await;
    let writer = Writer::new(&indexer.address, &key);

    // The routes a replica pulls from: a key, then only a commit's files.
    assert_eq!(indexer.get("/v1/index/manifest").await.status(), 401);
    let manifest = writer.get_json("/v1/index/manifest").await;
    assert_eq!(manifest["documents"], 0, "{manifest}");
    for name in [
        "meta.json",
        ".managed.json",
        "..%2Fmeta.json",
        "0123456789abcdef0123456789abcdef.idx",
    ] {
        let refused = writer
            .get(&format!("/v1/index/files/{name}"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 404, "{name}");
    }

    let mut replica_config = test_config(replica_dir.path());
    replica_config.search.index_from = Some(indexer.address.parse().unwrap());
    replica_config.search.index_sync_ms = 200;
    let keyless_dir = tempfile::tempdir().unwrap();
    let keyless = spawn(
        &Config {
            data_dir: Some(keyless_dir.path().to_owned()),
            ..replica_config.clone()
        },
        Role::Search,
    )
    .await;
    replica_config.search.index_key = Some(key.clone());
    let replica = spawn(&replica_config, Role::Search).await;

    let (_, job) = writer.submit(documents("p", 25, "quokka")).await;
    writer.succeeded(job["id"].as_i64().unwrap()).await;
    until_documents(&replica.address, 25, "the replica pulled the first batch").await;
    assert_eq!(replica.get("/readyz").await.status(), 200);
    let found = replica.get_json("/v1/search?q=quokka", 200).await;
    assert_eq!(found["engines"][0]["total"], 25);

    // A removal and another batch: each commit arrives whole.
    let removed = writer.delete("/v1/documents/p-3").send().await.unwrap();
    assert_eq!(removed.status(), 202);
    let removal: Value = removed.json().await.unwrap();
    writer.succeeded(removal["id"].as_i64().unwrap()).await;
    let (_, job) = writer.submit(documents("q", 5, "quokka")).await;
    writer.succeeded(job["id"].as_i64().unwrap()).await;
    until_documents(&replica.address, 29, "the replica pulled the later commits").await;
    let gone = replica
        .get_json("/v1/search?q=%22quokka+number+3%22", 200)
        .await;
    assert!(
        gone["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["url"] != "https://p.example.org/3"),
        "{gone}"
    );

    // The copy is the indexer's latest commit, file for file, and nothing
    // else: older commits' files were removed.
    let manifest = writer.get_json("/v1/index/manifest").await;
    let copy = replica_config.index_dir();
    assert_eq!(
        std::fs::read_to_string(copy.join("meta.json")).unwrap(),
        manifest["meta"].as_str().unwrap()
    );
    let mut named: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    named.push("meta.json");
    named.sort_unstable();
    let mut held: Vec<String> = std::fs::read_dir(&copy)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        // tantivy's lock files are the replica's own.
        .filter(|n| !n.starts_with(".tantivy-"))
        .collect();
    held.sort();
    assert_eq!(held, named);
    for file in manifest["files"].as_array().unwrap() {
        let name = file["name"].as_str().unwrap();
        let served = writer
            .get(&format!("/v1/index/files/{name}"))
            .send()
            .await
            .unwrap();
        assert_eq!(served.status(), 200);
        assert_eq!(
            served.bytes().await.unwrap(),
            std::fs::read(copy.join(name)).unwrap(),
            "{name}"
        );
    }

    // Without the key the replica copies nothing and is not ready.
    assert_eq!(documents_in(&keyless.address).await, 0);
    let not_ready = keyless.get("/readyz").await;
    assert_eq!(not_ready.status(), 503);
    // It says why: the indexer refused it, and which setting to look at.
    let readiness = not_ready.text().await.unwrap();
    assert!(
        readiness.contains("answered 401") && readiness.contains("TRAWL_INDEX_KEY"),
        "{readiness}"
    );

    // The indexer going away leaves the replica serving the copy it has,
    // and saying that it cannot pull.
    drop(indexer);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let ready = replica.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let readiness = ready.text().await.unwrap();
    assert!(
        readiness.contains("the last pull from the indexer failed"),
        "{readiness}"
    );
    let found = replica.get_json("/v1/search?q=quokka", 200).await;
    assert_eq!(found["engines"][0]["total"], 29);
}
