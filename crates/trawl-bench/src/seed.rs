//! trawl against the seed system, side by side in one run: the guides'
//! Flask application under gunicorn (`../shared/peers/flask-seed`) and
//! trawl (one binary, and three processes) with its Google engine, both
//! pointed at the same loopback mock of the Custom Search API
//! (`../shared/peers/mock`, nginx). Same work for both: one upstream call,
//! clean, de-duplicate, highlight, answer JSON.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::load::{self, Run};
use crate::process::Server;

/// One system's figures.
pub(crate) struct Peer {
    pub name: &'static str,
    pub run: Run,
    /// Proportional set size of all its processes, idle and after load, MiB.
    pub idle_pss_mib: f64,
    pub loaded_pss_mib: f64,
}

pub(crate) struct SeedFigures {
    pub connections: usize,
    pub seconds: u64,
    /// The seed first, then trawl.
    pub peers: Vec<Peer>,
    /// What this machine allows, measured the same way: the mock alone,
    /// and a pass-through that forwards to it without doing anything.
    pub floors: Vec<Peer>,
}

/// The tools the comparison needs, or why they are missing.
fn tools(workspace: &Path) -> Result<PathBuf, String> {
    let gunicorn = workspace.join(".tools/flask-venv/bin/gunicorn");
    let nginx = Command::new("nginx").arg("-v").output();
    if nginx.is_err() || !gunicorn.exists() {
        return Err("needs nginx and the seed's virtualenv: run `bash bench/seed-setup.sh`".into());
    }
    Ok(gunicorn)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for(address: SocketAddr, within: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nothing listens on {address} after {within:?}")
}

/// The mock (nginx), stopped when dropped.
struct Mock {
    run_dir: tempfile::TempDir,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let dir = self.run_dir.path();
        let _ = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-s", "quit"])
            .output();
    }
}

/// A process killed (with its process group) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// PSS of `pid` and of its children, KiB.
fn pss_tree(pid: u32) -> u64 {
    let pss = |pid: u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Pss:"))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
            })
            .unwrap_or(0)
    };
    let children: Vec<u32> = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|child| {
                    std::fs::read_to_string(format!("/proc/{child}/stat"))
                        .ok()
                        .and_then(|stat| {
                            let after = stat.rsplit_once(')')?.1;
                            after.split_whitespace().nth(1)?.parse::<u32>().ok()
                        })
                        == Some(pid)
                })
                .collect()
        })
        .unwrap_or_default();
    pss(pid) + children.into_iter().map(pss_tree).sum::<u64>()
}

async fn measure(
    name: &'static str,
    base: &str,
    paths: &[String],
    pids: &[u32],
    connections: usize,
    duration: Duration,
) -> Peer {
    let pss = || pids.iter().map(|p| pss_tree(*p)).sum::<u64>() as f64 / 1024.0;
    load::saturate(base, paths, 4, Duration::from_millis(500)).await;
    let idle_pss_mib = pss();
    let run = load::saturate(base, paths, connections, duration).await;
    Peer {
        name,
        run,
        idle_pss_mib,
        loaded_pss_mib: pss(),
    }
}

pub(crate) async fn run(
    trawl: &Path,
    workspace: &Path,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Result<SeedFigures, String>> {
    let gunicorn = match tools(workspace) {
        Ok(g) => g,
        Err(why) => return Ok(Err(why)),
    };
    let peers = workspace.join("../shared/peers");
    let peers = peers
        .canonicalize()
        .with_context(|| format!("no peers at {}", peers.display()))?;

    let mock_port = free_port()?;
    let mock = Mock {
        run_dir: tempfile::tempdir()?,
    };
    let started = Command::new("bash")
        .arg(peers.join("mock/start-mock.sh"))
        .arg(mock_port.to_string())
        .arg(mock.run_dir.path())
        .output()?;
    if !started.status.success() {
        bail!(
            "the mock did not start: {}",
            String::from_utf8_lossy(&started.stderr)
        );
    }
    let mock_url = format!("http://127.0.0.1:{mock_port}/customsearch/v1");
    wait_for(([127, 0, 0, 1], mock_port).into(), Duration::from_secs(5))?;

    // 50 varied queries, as the peers' README measured.
    let words = [
        "rust",
        "metasearch",
        "flask",
        "tokio",
        "search engine",
        "privacy",
        "index",
        "python",
        "gunicorn",
        "nginx",
        "json api",
        "ranking",
        "tantivy",
        "lucene",
        "bm25",
        "crawler",
        "searxng",
        "duckduckgo",
        "query",
        "latency",
    ];
    let paths: Vec<String> = (0..50)
        .map(|i| {
            let q = format!(
                "{} {}",
                words[i % words.len()],
                words[(i * 7 + 3) % words.len()]
            );
            format!("/api/v1/search?q={}", q.replace(' ', "+"))
        })
        .collect();

    let mut figures = Vec::new();

    // The seed, as the guides run it.
    let flask_port = free_port()?;
    let flask = Guard(
        Command::new(&gunicorn)
            .args([
                "-w",
                "4",
                "-b",
                &format!("127.0.0.1:{flask_port}"),
                "app:app",
            ])
            .current_dir(peers.join("flask-seed"))
            .env("GOOGLE_API_URL", &mock_url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("cannot start gunicorn")?,
    );
    wait_for(([127, 0, 0, 1], flask_port).into(), Duration::from_secs(15))?;
    std::thread::sleep(Duration::from_millis(500));
    figures.push(
        measure(
            "flask-seed (gunicorn -w 4)",
            &format!("http://127.0.0.1:{flask_port}"),
            &paths,
            &[flask.0.id()],
            connections,
            duration,
        )
        .await,
    );
    drop(flask);

    // trawl, with its Google engine on the same mock.
    let work = tempfile::tempdir()?;
    let config = work.path().join("trawl.toml");
    std::fs::write(
        &config,
        format!(
            // No cap on calls: the benchmark is the fan-out itself.
            "[search]\nengine_calls_per_minute = 0\n\n[[engines]]\nname = \"google\"\ntype = \"google\"\nkey_env = \"TRAWL_BENCH_GOOGLE_KEY\"\ncx = \"mock-cx\"\nbase_url = \"{mock_url}\"\n"
        ),
    )?;
    let config = config.to_str().context("a UTF-8 path")?.to_owned();
    let env = [("TRAWL_BENCH_GOOGLE_KEY", "mock-key")];
    let data = work.path().join("data");
    let (one, _) = Server::start_with(trawl, &data, &["--config", &config], &env)?;
    figures.push(
        measure(
            "trawl, one binary",
            &one.url(),
            &paths,
            &[one.pid()],
            connections,
            duration,
        )
        .await,
    );
    one.stop()?;

    let (search, _) = Server::start_with(
        trawl,
        &data,
        &["--config", &config, "--role", "search"],
        &env,
    )?;
    let (results, _) = Server::start_with(
        trawl,
        &data,
        &[
            "--config",
            &config,
            "--role",
            "results",
            "--search-url",
            &search.url(),
        ],
        &env,
    )?;
    let (web, _) = Server::start_with(
        trawl,
        &data,
        &[
            "--config",
            &config,
            "--role",
            "web",
            "--results-url",
            &results.url(),
        ],
        &env,
    )?;
    figures.push(
        measure(
            "trawl, three processes",
            &web.url(),
            &paths,
            &[search.pid(), results.pid(), web.pid()],
            connections,
            duration,
        )
        .await,
    );
    web.stop()?;
    results.stop()?;
    search.stop()?;

    // The floors: the same load on the mock itself, and through a server
    // of trawl's parts that forwards without doing anything.
    let mut floors = Vec::new();
    let mock_paths: Vec<String> = paths
        .iter()
        .map(|p| p.replace("/api/v1/search?", "/customsearch/v1?"))
        .collect();
    floors.push(
        measure(
            "the mock alone (nginx)",
            &format!("http://127.0.0.1:{mock_port}"),
            &mock_paths,
            &[],
            connections,
            duration,
        )
        .await,
    );
    let (passthrough, address) = start_passthrough(&mock_url)?;
    floors.push(
        measure(
            "pass-through (axum + reqwest, no work)",
            &format!("http://{address}"),
            &paths,
            &[passthrough.0.id()],
            connections,
            duration,
        )
        .await,
    );
    drop(passthrough);
    drop(mock);
    Ok(Ok(SeedFigures {
        connections,
        seconds: duration.as_secs(),
        peers: figures,
        floors,
    }))
}

/// This binary's pass-through floor, forwarding to `upstream`.
fn start_passthrough(upstream: &str) -> anyhow::Result<(Guard, SocketAddr)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--passthrough", upstream])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .context("cannot start the pass-through")?;
    let stdout = child.stdout.take().expect("piped");
    let guard = Guard(child);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)?;
    let address = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|a| a.parse().ok())
        .with_context(|| format!("the pass-through said {line:?}"))?;
    Ok((guard, address))
}

/// `name | req/s | p50 | p99 | errors`, the first cells of a row.
fn load_cells(p: &Peer) -> String {
    format!(
        "{} | {:.0} | {:.2} ms | {:.2} ms | {}",
        p.name,
        p.run.throughput(),
        p.run.quantile_ms(0.5),
        p.run.quantile_ms(0.99),
        p.run.errors + p.run.shed
    )
}

pub(crate) fn print(result: &Result<SeedFigures, String>) {
    println!(
        "\n### Against the seed system (`../shared/peers`: Flask seed under gunicorn, Google CSE mock on nginx)\n"
    );
    let f = match result {
        Ok(f) => f,
        Err(why) => {
            println!("Not measured: {why}.");
            return;
        }
    };
    println!(
        "Closed loop, {} connections, {} s each, 50 varied queries, `GET /api/v1/search?q=`, all on the same 2 cores.\n",
        f.connections, f.seconds
    );
    println!(
        "| system | req/s | p50 | p99 | errors | PSS idle | PSS loaded |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for p in &f.peers {
        println!(
            "| {} | {:.1} MiB | {:.1} MiB |",
            load_cells(p),
            p.idle_pss_mib,
            p.loaded_pss_mib
        );
    }
    let seed = &f.peers[0];
    println!(
        "\nWhat this machine allows, the same load in the same run: the mock by itself, and a server of trawl's parts (tokio, hyper via axum, reqwest) that forwards to it and returns its body untouched.\n"
    );
    println!(
        "| floor | req/s | p50 | p99 | errors | vs seed: throughput | p99 |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for p in &f.floors {
        println!(
            "| {} | {:.1}× | {:.3}× |",
            load_cells(p),
            p.run.throughput() / seed.run.throughput(),
            p.run.quantile_ms(0.99) / seed.run.quantile_ms(0.99),
        );
    }
    println!("\n| trawl vs seed | throughput | p99 | memory (PSS loaded) |\n|---|---:|---:|---:|");
    for p in &f.peers[1..] {
        println!(
            "| {} | {:.1}× | {:.3}× | {:.3}× |",
            p.name,
            p.run.throughput() / seed.run.throughput(),
            p.run.quantile_ms(0.99) / seed.run.quantile_ms(0.99),
            p.loaded_pss_mib / seed.loaded_pss_mib
        );
    }
}
