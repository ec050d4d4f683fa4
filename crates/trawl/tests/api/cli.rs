//! The real binary: indexing commands, configuration, and serving until a
//! signal.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn trawl(data_dir: &Path, args: &[&str]) -> Output {
    crate::processes::trawl(data_dir, args, &[])
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn documents(data_dir: &Path) -> u64 {
    let output = trawl(data_dir, &["index", "stats"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let line = text.lines().find(|l| l.starts_with("documents")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_malformed_line_stops_the_batch_and_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docs.jsonl");
    std::fs::write(
        &file,
        "{\"id\":\"a\",\"title\":\"A\",\"url\":\"https://x.org/a\",\"body\":\"alpha\"}\n{\"id\":\"b\",\"title\":\"B\"\n{\"id\":\"c\",\"title\":\"C\",\"url\":\"https://x.org/c\",\"body\":\"gamma\"}\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let output = trawl(&data, &["index", "add", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("{}:2: ", file.display())),
        "{message}"
    );
    assert!(message.contains("nothing was added"), "{message}");
    assert_eq!(documents(&data), 0);

    let output = trawl(
        &data,
        &["index", "add", "--skip-bad", file.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("{}:2: skipped: ", file.display())),
        "{message}"
    );
    assert!(
        message
            .contains("added 2 documents (2 distinct ids) from 1 files, skipped 1 malformed lines"),
        "{message}"
    );
    assert_eq!(documents(&data), 2);
}

#[test]
fn folders_replace_remove_and_export_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir_all(site.join("guide")).unwrap();
    std::fs::write(
        site.join("index.html"),
        "<title>Home</title><nav>menu</nav><p>welcome</p>",
    )
    .unwrap();
    std::fs::write(site.join("guide/setup.md"), "# Setup\nInstall it.").unwrap();
    std::fs::write(site.join("notes.txt"), "Notes\nplain text").unwrap();
    let data = dir.path().join("data");
    let add = |extra: &[&str]| {
        let mut args = vec![
            "index",
            "add",
            site.to_str().unwrap(),
            "--base-url",
            "https://docs.example.org/",
        ];
        args.extend_from_slice(extra);
        let output = trawl(&data, &args);
        assert!(output.status.success(), "{}", stderr(&output));
    };
    add(&[]);
    assert_eq!(documents(&data), 3);
    add(&[]);
    assert_eq!(documents(&data), 3, "re-adding replaces by id");

    let output = trawl(
        &data,
        &[
            "index",
            "remove",
            "https://docs.example.org/notes.txt",
            "no-such-id",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "a missing id is reported");
    assert!(stderr(&output).contains("no document with id \"no-such-id\""));
    assert_eq!(documents(&data), 2);

    let export = dir.path().join("export.jsonl.gz");
    let output = trawl(&data, &["index", "export", export.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let copy = dir.path().join("copy");
    let output = trawl(&copy, &["index", "add", export.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(documents(&copy), 2);
    let again = dir.path().join("again.jsonl");
    assert!(
        trawl(&copy, &["index", "export", again.to_str().unwrap()])
            .status
            .success()
    );
    let text = std::fs::read_to_string(&again).unwrap();
    assert_eq!(
        text.lines()
            .map(
                |l| serde_json::from_str::<serde_json::Value>(l).unwrap()["url"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            )
            .collect::<Vec<_>>(),
        [
            "https://docs.example.org/guide/setup.md",
            "https://docs.example.org/index.html"
        ]
    );
    assert!(!text.contains("menu"), "navigation left out");
}

#[test]
fn config_show_layers_and_masks() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trawl.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:1111\"\n[services]\nsearch_url = \"http://file.internal:1/\"\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["config", "show", "--config"])
        .arg(&file)
        .env("TRAWL_SEARCH_URL", "https://svc:s3cret@search.internal/")
        .env("TRAWL_DATA_DIR", "/srv/trawl")
        .env_remove("TRAWL_LISTEN")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = stdout(&output);
    assert!(shown.contains("listen = \"127.0.0.1:1111\""), "{shown}");
    assert!(shown.contains("data_dir = \"/srv/trawl\""), "{shown}");
    assert!(
        shown.contains("search_url = \"https://svc:****@search.internal/\""),
        "{shown}"
    );
    assert!(!shown.contains("s3cret"));

    let output = Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["config", "show"])
        .env("TRAWL_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("TRAWL_LISTEN=\"not-an-address\""),
        "{}",
        stderr(&output)
    );
}

fn http_get(address: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// `trawl serve` holds no writer: `trawl index add` in another process can
/// write, and the server sees the batch once it commits.
#[test]
fn serve_sees_batches_committed_by_another_process_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args([
            "serve",
            "--no-demo",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("TRAWL_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            let event: serde_json::Value = serde_json::from_str(&line).ok()?;
            (event["message"] == "listening").then(|| event["address"].as_str().unwrap().to_owned())
        })
        .expect("a listening line");
    std::thread::spawn(move || lines.for_each(drop));

    assert!(http_get(&address, "/livez").starts_with("HTTP/1.1 200"));
    assert!(http_get(&address, "/api/v1/search?q=quokka").contains("\"results\":[]"));

    let file = dir.path().join("new.jsonl");
    std::fs::write(
        &file,
        "{\"id\":\"q\",\"title\":\"Quokka\",\"url\":\"https://x.org/q\",\"body\":\"a small marsupial\"}\n",
    )
    .unwrap();
    let added = trawl(dir.path(), &["index", "add", file.to_str().unwrap()]);
    assert!(added.status.success(), "{}", stderr(&added));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !http_get(&address, "/api/v1/search?q=quokka").contains("https://x.org/q") {
        assert!(
            Instant::now() < deadline,
            "the server never saw the committed batch"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "trawl did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    assert!(
        std::net::TcpStream::connect(&address).is_err(),
        "no longer listening"
    );
}

#[test]
fn config_init_writes_the_documented_file_with_or_without_the_public_engines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trawl.toml");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_trawl"))
            .args(args)
            // A broken configuration does not stop `init`.
            .env("TRAWL_LISTEN", "not-an-address")
            .output()
            .unwrap()
    };
    let path = file.to_str().unwrap();
    let output = run(&["config", "init", "--with-public-engines", path]);
    assert!(output.status.success(), "{}", stderr(&output));
    let again = run(&["config", "init", path]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("pass --force"),
        "{}",
        stderr(&again)
    );
    let shown = Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["config", "show", "--config", path])
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", stderr(&shown));
    for kind in [
        "mediawiki",
        "arxiv",
        "github",
        "crates",
        "openlibrary",
        "marginalia",
    ] {
        assert!(
            stdout(&shown).contains(&format!("type = \"{kind}\"")),
            "{kind}: {}",
            stdout(&shown)
        );
    }
    let forced = run(&["config", "init", "--force", path]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    let shown = Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["config", "show", "--config", path])
        .output()
        .unwrap();
    assert!(
        !stdout(&shown).contains("type = \"arxiv\""),
        "{}",
        stdout(&shown)
    );
    let printed = run(&["config", "init"]);
    assert_eq!(stdout(&printed), std::fs::read_to_string(&file).unwrap());
}
