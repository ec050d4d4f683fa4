//! The real `trawl` binary as a server process, for the tests that kill
//! one, and the write API spoken over HTTP.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A `trawl serve` process, killed when dropped.
pub(crate) struct Trawl {
    child: Child,
    pub address: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Trawl {
    /// Starts `trawl --data-dir DIR serve --listen 127.0.0.1:0 ARGS` with
    /// `env`, and waits until it listens.
    pub(crate) fn start(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_under(&[], data_dir, args, env)
    }

    /// [`start`](Self::start), the binary run by `wrapper` (a command and
    /// its arguments, the binary's path and arguments after them).
    pub(crate) fn start_under(
        wrapper: &[&str],
        data_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let binary = env!("CARGO_BIN_EXE_trawl");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        command
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("TRAWL_CONFIG")
            .env_remove("TRAWL_DATABASE_URL")
            .env_remove("TRAWL_AMQP_URL")
            .env("TRAWL_LOG_FORMAT", "json")
            .env("TRAWL_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("trawl starts");
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (found, address) = mpsc::channel();
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    if let Ok(event) = serde_json::from_str::<Value>(&line)
                        && event["message"] == "listening"
                        && let Some(address) = event["address"].as_str()
                    {
                        let _ = found.send(address.to_owned());
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let Ok(address) = address.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!(
                "trawl {args:?} did not start:\n{}",
                logs.lock().unwrap().join("\n")
            );
        };
        Self {
            child,
            address: format!("http://{address}"),
            logs,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The process id, to read its `/proc` entries.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to finish anything.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Whether a JSON log line `matches` within 5 s: the lines are read
    /// from the process's pipe by a thread of their own, so one written
    /// before an answer may still be on its way when the answer is in.
    pub(crate) async fn logged(&self, matches: impl Fn(&Value) -> bool) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let found = self
                .logs
                .lock()
                .unwrap()
                .iter()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .any(|event| matches(&event));
            if found || std::time::Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Trawl {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `trawl --data-dir DIR ARGS` to its end.
pub(crate) fn trawl(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trawl"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("TRAWL_CONFIG")
        .env_remove("TRAWL_LISTEN")
        .env_remove("TRAWL_DATABASE_URL")
        .env_remove("TRAWL_AMQP_URL")
        .env_remove("TRAWL_API_KEY");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("trawl runs")
}

/// `trawl keys create` through the binary: the key it prints.
pub(crate) fn create_key(data_dir: &Path, env: &[(&str, &str)]) -> String {
    let output = trawl(data_dir, &["keys", "create", "--name", "tests"], env);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The write API, with a key.
pub(crate) struct Writer {
    pub base: String,
    pub key: String,
    pub client: reqwest::Client,
}

impl Writer {
    pub(crate) fn new(base: &str, key: &str) -> Self {
        Self {
            base: base.to_owned(),
            key: key.to_owned(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    pub(crate) fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    pub(crate) fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    pub(crate) fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .delete(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    /// GETs with the key and decodes the JSON, asserting a 200.
    pub(crate) async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).send().await.expect("the indexer answers");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("a JSON body")
    }

    /// POSTs NDJSON documents; the answer's status and body.
    pub(crate) async fn submit(&self, ndjson: String) -> (u16, Value) {
        let response = self
            .post("/v1/documents")
            .header("content-type", "application/x-ndjson")
            .body(ndjson)
            .send()
            .await
            .expect("the indexer answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn job(&self, id: i64) -> Value {
        let response = self
            .get(&format!("/v1/jobs/{id}"))
            .send()
            .await
            .expect("the indexer answers");
        assert_eq!(response.status(), 200, "GET /v1/jobs/{id}");
        response.json().await.unwrap()
    }

    /// Polls a job until `done` says so (at most `within`).
    pub(crate) async fn wait_for(
        &self,
        id: i64,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let job = self.job(id).await;
            if done(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} never got there: {job}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn succeeded(&self, id: i64) -> Value {
        let job = self
            .wait_for(id, Duration::from_secs(120), |j| {
                j["state"] != "queued" && j["state"] != "running"
            })
            .await;
        assert_eq!(job["state"], "succeeded", "{job}");
        job
    }
}

/// `n` short documents, one JSON line each, ids `{prefix}-0`….
pub(crate) fn documents(prefix: &str, n: usize, word: &str) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"id\":\"{prefix}-{i}\",\"title\":\"{prefix} {i}\",\"url\":\"https://{prefix}.example.org/{i}\",\"body\":\"{word} number {i}\"}}\n"
            )
        })
        .collect()
}

/// Documents the search service at `base` says its local index holds.
pub(crate) async fn documents_in(base: &str) -> u64 {
    let engines: Value = reqwest::get(format!("{base}/v1/engines"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    engines["engines"][0]["documents"].as_u64().unwrap_or(0)
}
