//! A full disk, and room made again, without a restart: the real binary on
//! small tmpfs mounts of its own (a mount namespace made with `unshare`,
//! which needs root; the test says loudly when it cannot, and fails under
//! `TRAWL_REQUIRE_SERVICES=1`). The data directory (the store) is one
//! mount, the index another, so that each can be filled alone.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::skip_loudly;
use crate::processes::{Trawl, Writer, documents};

/// Fills the filesystem under `dir` with a file of zeros until it is full;
/// the file's path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        if file.write_all(&block).is_err() || file.sync_all().is_err() {
            break;
        }
    }
    // Whatever part of a block still fits, so that nothing does.
    for _ in 0..4096 {
        if file.write_all(&[0u8; 16]).is_err() {
            break;
        }
    }
    let _ = file.sync_all();
    path
}

/// Whether another process, in the server's mount namespace (the
/// process `pid`'s), can take the store's write lock (SQLite's `BEGIN
/// IMMEDIATE`), through Python's sqlite3.
fn lock_is_free(pid: u32, database: &Path) -> bool {
    std::process::Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "python3"])
        .args([
            "-c",
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1], timeout=1, isolation_level=None)\n\
             c.execute('BEGIN IMMEDIATE'); c.execute('ROLLBACK')",
        ])
        .arg(database)
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_a_503_and_writes_work_again_once_there_is_room() {
    let outside = tempfile::tempdir().unwrap();
    let data = outside.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let config = outside.path().join("trawl.toml");
    std::fs::write(
        &config,
        "demo = false\n[indexer]\nretry_backoff_ms = 100\nretry_backoff_max_ms = 300\nmax_attempts = 2\n",
    )
    .unwrap();
    let probe = std::process::Command::new("unshare")
        .args(["-m", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        skip_loudly("the full-disk test needs unshare -m (root) for tmpfs mounts of its own");
        return;
    }
    let data_text = data.display().to_string();
    let config_text = config.display().to_string();
    let mounts = "mount -t tmpfs -o size=24m tmpfs \"$0\" && mkdir \"$0/index\" \
                  && mount -t tmpfs -o size=6m tmpfs \"$0/index\" && exec \"$@\"";
    let server = Trawl::start_under(
        &[
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            mounts,
            &data_text,
        ],
        &data,
        &[],
        &[("TRAWL_CONFIG", config_text.as_str())],
    );
    // The mounts as the server sees them (files are reached through its
    // root; programs that resolve paths run in its namespace).
    let pid = server.pid().to_string();
    let root = PathBuf::from(format!("/proc/{pid}/root{}", data.display()));
    let made = std::process::Command::new("nsenter")
        .args([
            "-t",
            &pid,
            "-m",
            env!("CARGO_BIN_EXE_trawl"),
            "--data-dir",
            &data_text,
        ])
        .args(["keys", "create", "--name", "t"])
        .env("TRAWL_CONFIG", &config_text)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let key = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    let writer = Writer::new(&server.address, &key);
    let (status, job) = writer.submit(documents("before", 50, "wombat")).await;
    assert_eq!(status, 202, "{job}");
    writer.succeeded(job["id"].as_i64().unwrap()).await;
    let client = reqwest::Client::new();

    // The store's disk fills: writes are 503 storage_full with
    // Retry-After, readiness says so, and nothing is left half done.
    let filler = fill(&root);
    for _ in 0..3 {
        let (status, problem) = writer.submit(documents("full", 200, "numbat")).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (503, Some("storage_full")),
            "{problem}"
        );
    }
    let refused = writer
        .post("/v1/documents")
        .header("content-type", "application/x-ndjson")
        .body(documents("full", 200, "numbat"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(
        writer.get("/v1/jobs/999999").send().await.unwrap().status(),
        404
    );
    // (In one process, searches decide readiness; the store's check says
    // what it is.)
    let store = check(&client, &server, "store").await;
    assert_eq!(store["ok"], false, "{store}");
    assert!(
        store["detail"].as_str().unwrap().contains("disk is full"),
        "{store}"
    );

    // Room again: writes work at once, the write lock is free, readiness
    // comes back; no restart.
    std::fs::remove_file(&filler).unwrap();
    assert!(
        lock_is_free(server.pid(), &data.join("trawl.db")),
        "the store's write lock is free"
    );
    let mut accepted = Vec::new();
    for i in 0..10 {
        let (status, job) = writer
            .submit(documents(&format!("after{i}"), 5, "quokka"))
            .await;
        assert_eq!(status, 202, "write {i} after room was made: {job}");
        accepted.push(job["id"].as_i64().unwrap());
    }
    for id in accepted {
        writer.succeeded(id).await;
    }
    let store = check(&client, &server, "store").await;
    assert_eq!(store["ok"], true, "{store}");

    // The index's disk fills: what was accepted waits for room, its
    // attempts not spent (it would fail for good after two), and is
    // indexed once there is room.
    let index_filler = fill(&root.join("index"));
    let (status, job) = writer.submit(documents("waits", 300, "bilby")).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_i64().unwrap();
    let waiting = writer
        .wait_for(id, Duration::from_secs(30), |j| {
            j["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("disk is full"))
        })
        .await;
    assert_eq!(waiting["state"], "queued", "{waiting}");
    // Several rounds of waiting (each 300 ms at most).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let worker = check(&client, &server, "worker").await;
    assert_eq!(worker["ok"], false, "{worker}");
    assert!(
        worker["detail"].as_str().unwrap().contains("disk is full"),
        "{worker}"
    );
    std::fs::remove_file(&index_filler).unwrap();
    let done: Value = writer.succeeded(id).await;
    assert_eq!(done["counts"]["added"], 300, "{done}");
    let found: Value = client
        .get(server.url("/api/v1/search?q=bilby"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["engines"][0]["total"], 300, "{found}");
    let all: Value = client
        .get(server.url("/v1/engines"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        all["engines"][0]["documents"],
        50 + 50 + 300,
        "nothing acknowledged was lost: {all}"
    );
}

/// The readiness check named `name`.
async fn check(client: &reqwest::Client, server: &Trawl, name: &str) -> Value {
    let readiness: Value = client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    readiness["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check: {readiness}"))
        .clone()
}
