//! What a stranger, or a key holder, can make the indexer spend: room for
//! bodies by the bytes received (silent uploads hold nothing; one key
//! cannot take every writer's room), refused keys throttled per client,
//! the index's files behind a key and a budget of their own, and one
//! document's size.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use trawl::Role;

use crate::helpers::*;
use crate::processes::{Writer, documents};

/// Opens a connection and sends a POST's head announcing `length` bytes,
/// and `sent` of them.
async fn upload(address: &str, key: &str, length: usize, sent: &[u8]) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(
            format!(
                "POST /v1/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
                 Content-Type: application/x-ndjson\r\nContent-Length: {length}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    stream.write_all(sent).await.unwrap();
    stream
}

/// A body of `size` bytes exactly: one document padded out.
fn body_of(size: usize) -> String {
    let head = r#"{"id":"pad","title":"p","url":"https://p.org/","body":""}"#.len() + 1;
    format!(
        "{{\"id\":\"pad\",\"title\":\"p\",\"url\":\"https://p.org/\",\"body\":\"{}\"}}\n",
        "x".repeat(size - head)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_hold_room_for_the_bytes_they_sent_and_one_key_cannot_take_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.indexer.max_body_bytes = 64 * 1024;
    config.indexer.max_body_bytes_in_flight = 128 * 1024;
    config.indexer.max_body_bytes_in_flight_per_key = 64 * 1024;
    let app = spawn(&config, Role::All).await;
    let a = Writer::new(&app.address, &make_key(&config, "a").await);
    let b = Writer::new(&app.address, &make_key(&config, "b").await);
    // Five uploads that announce the largest body and send nothing: they
    // hold no room, so writers are not held up by them.
    let mut silent = Vec::new();
    for _ in 0..5 {
        silent.push(upload(&app.address, &a.key, 64 * 1024, b"").await);
    }
    let within = Duration::from_secs(10);
    for writer in [&a, &b] {
        let (status, job) = tokio::time::timeout(within, writer.submit(documents("w", 2, "x")))
            .await
            .expect("not held up by silent uploads");
        assert_eq!(status, 202, "{job}");
    }
    // Key a sends nearly its whole room's worth and stalls: its next
    // request waits, key b's does not.
    let body = body_of(64 * 1024);
    let (sent, rest) = body.as_bytes().split_at(body.len() - 10);
    let mut stalled = upload(&app.address, &a.key, body.len(), sent).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = tokio::spawn({
        let a = Writer::new(&a.base, &a.key);
        async move { a.submit(documents("a", 2, "waits")).await }
    });
    let (status, _) = tokio::time::timeout(within, b.submit(documents("b", 2, "goes")))
        .await
        .expect("another key's request is not held up");
    assert_eq!(status, 202);
    assert!(
        !waiting.is_finished(),
        "a's second request waits for a's room"
    );
    stalled.write_all(rest).await.unwrap();
    let (status, job) = tokio::time::timeout(within, waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 202, "{job}");
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_wrong_keys_is_throttled_before_its_keys_are_looked_at() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    config.auth.failures_per_minute = 6;
    config.auth.failures_burst = 3;
    let app = spawn(&config, Role::All).await;
    let key = make_key(&config, "good").await;
    let client = reqwest::Client::new();
    let jobs = |from: &'static str, key: &str| {
        client
            .get(app.url("/v1/jobs"))
            .header("x-forwarded-for", from)
            .bearer_auth(key)
            .send()
    };
    let wrong = format!("trawl_0123456789ab_{}", "A".repeat(43));
    for _ in 0..3 {
        assert_eq!(jobs("198.51.100.7", &wrong).await.unwrap().status(), 403);
    }
    let refused = jobs("198.51.100.7", &wrong).await.unwrap();
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&wait), "{wait}");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited", "{problem}");
    // Refused without a look at the key, even a good one, while it lasts.
    assert_eq!(jobs("198.51.100.7", &key).await.unwrap().status(), 429);
    // Others are not.
    assert_eq!(jobs("198.51.100.8", &key).await.unwrap().status(), 200);
    assert_eq!(jobs("198.51.100.8", &wrong).await.unwrap().status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_files_need_a_key_by_default_and_have_a_budget_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.search.index_key = Some("replica-secret-0123456789".into());
    config.rate_limits.exempt = Vec::new();
    config.rate_limits.index_per_minute = 60;
    config.rate_limits.index_burst = 5;
    let app = spawn(&config, Role::All).await;
    let api_key = make_key(&config, "api").await;
    let writer = Writer::new(&app.address, &api_key);
    let (status, job) = writer.submit(documents("d", 3, "x")).await;
    assert_eq!(status, 202, "{job}");
    writer.succeeded(job["id"].as_i64().unwrap()).await;
    let client = reqwest::Client::new();
    let manifest = |key: Option<&str>| {
        let mut request = client.get(app.url("/v1/index/manifest"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    assert_eq!(manifest(None).await.unwrap().status(), 401);
    assert_eq!(
        manifest(Some("replica-secret-wrong"))
            .await
            .unwrap()
            .status(),
        403
    );
    let listed: Value = manifest(Some("replica-secret-0123456789"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let file = listed["files"][0]["name"]
        .as_str()
        .expect("a file")
        .to_owned();
    assert_eq!(manifest(Some(&api_key)).await.unwrap().status(), 200);
    let got = client
        .get(app.url(&format!("/v1/index/files/{file}")))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 401, "a file needs a key too");
    // The budget: 5 at once, then 429, whatever the key.
    let statuses: Vec<u16> = {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(
                manifest(Some("replica-secret-0123456789"))
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        statuses
    };
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Opened on purpose.
    let open_dir = tempfile::tempdir().unwrap();
    let mut open = test_config(open_dir.path());
    open.indexer.public_index = true;
    let opened = spawn(&open, Role::All).await;
    assert_eq!(
        client
            .get(opened.url("/v1/index/manifest"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_over_a_limit_is_refused_by_name_and_the_rest_go_with_skip_bad() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.indexer.max_document_body_bytes = 1024;
    let app = spawn(&config, Role::All).await;
    let writer = Writer::new(&app.address, &make_key(&config, "t").await);
    let long =
        json!({"id": "long", "title": "t", "url": "https://x.org/long", "body": "y".repeat(2000)});
    let batch = format!("{}{long}\n", documents("fine", 2, "x"));
    let (status, problem) = writer.submit(batch.clone()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_documents")),
        "{problem}"
    );
    let error = &problem["errors"][0];
    assert_eq!(
        (error["line"].as_u64(), error["id"].as_str()),
        (Some(3), Some("long")),
        "{problem}"
    );
    assert!(
        error["reason"]
            .as_str()
            .unwrap()
            .contains("`body` is 2000 bytes, over the limit of 1024"),
        "{problem}"
    );
    let response = writer
        .post("/v1/documents?skip_bad=true")
        .header("content-type", "application/x-ndjson")
        .body(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    let done = writer.succeeded(job["id"].as_i64().unwrap()).await;
    assert_eq!(
        (&done["counts"]["added"], &done["counts"]["skipped"]),
        (&json!(2), &json!(1)),
        "{done}"
    );
}
