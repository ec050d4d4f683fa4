//! The pages in a real browser: Debian's chromium, driven from Node by
//! playwright-core (`crates/trawl/tests/browser/pages.mjs`), against trawl
//! serving the demo corpus and a `slowweb` engine that takes 3 s. What it
//! checks is listed in that script; screenshots of every page at 1280 and
//! 390 px, light and dark, land in `target/screenshots/`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;
use trawl_search::EngineConfig;

use crate::helpers::*;

/// How long the slow engine takes.
const SLOW: Duration = Duration::from_secs(3);
/// Longest the whole browser run may take.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// The browser, node and the script's packages, or a loud skip (a failure
/// under `TRAWL_REQUIRE_SERVICES=1`).
fn browser_or_skip() -> Option<(PathBuf, PathBuf)> {
    let chromium =
        PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()));
    let scripts = workspace_root().join("crates/trawl/tests/browser");
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let missing = if !chromium.is_file() {
        Some(format!("{} is not installed", chromium.display()))
    } else if !node {
        Some("node is not installed".to_owned())
    } else if !scripts.join("node_modules/playwright-core").is_dir()
        || !scripts.join("node_modules/axe-core").is_dir()
    {
        Some("playwright-core and axe-core are not installed".to_owned())
    } else {
        None
    };
    if let Some(missing) = missing {
        let message = format!(
            "{missing}: run `bash scripts/install-test-tools.sh` (the browser tests did NOT run)"
        );
        skip_loudly(&message);
        return None;
    }
    Some((chromium, scripts.join("pages.mjs")))
}

/// A web search API that answers after [`SLOW`], in the `json` engine's
/// shape.
async fn slow_engine() -> String {
    let app = Router::new().route(
        "/s",
        get(|| async {
            tokio::time::sleep(SLOW).await;
            (
                [(header::CONTENT_TYPE, "application/json")],
                json!({"total": 2, "hits": [
                    {"t": "VACUUM in depth", "u": "https://web.example.org/vacuum", "s": "How vacuum reclaims space, and when analyze runs."},
                    {"t": "Autovacuum tuning", "u": "https://web.example.org/autovacuum", "s": "Settings that make vacuum keep up."},
                ]})
                .to_string(),
            )
                .into_response()
        }),
    );
    upstream(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_work_in_a_real_browser() {
    let Some((chromium, script)) = browser_or_skip() else {
        return;
    };
    let slow = slow_engine().await;
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    // The bundled demo corpus, as people first see trawl.
    config.demo = true;
    config.server.request_timeout_ms = 10_000;
    let mut slowweb = json_engine("slowweb", &slow, "/s");
    slowweb.timeout_ms = Some(6_000);
    config.engines = vec![EngineConfig::local(), slowweb];
    let app = spawn(&config, trawl::Role::All).await;

    let shots = workspace_root().join("target/screenshots");
    let mut child = tokio::process::Command::new("node")
        .arg(&script)
        .env("TRAWL_URL", &app.address)
        .env("CHROMIUM", &chromium)
        .env("SHOTS", &shots)
        .env("SLOW_MS", SLOW.as_millis().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let read = |mut pipe: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
        tokio::spawn(async move {
            let mut text = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut pipe, &mut text)
                .await
                .ok();
            text
        })
    };
    let (out, err) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let status = tokio::time::timeout(RUN_LIMIT, child.wait())
        .await
        .expect("the browser checks finish within their limit")
        .unwrap();
    let (out, err) = (out.await.unwrap(), err.await.unwrap());
    println!("{out}");
    eprintln!("{err}");
    assert!(status.success(), "the browser checks failed:\n{out}\n{err}");
    assert!(out.contains("every check passed"), "{out}");
    for name in [
        "home",
        "results",
        "preferences",
        "error",
        "empty",
        "progress",
    ] {
        for variant in ["1280-light", "1280-dark", "390-light", "390-dark"] {
            let shot = shots.join(format!("{name}-{variant}.png"));
            assert!(
                std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000),
                "{}",
                shot.display()
            );
        }
    }
}
