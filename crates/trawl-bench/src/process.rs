//! trawl processes under measurement: spawning, memory from /proc, peak
//! memory and wall time of a finished command.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Resident memory of a process, in KiB, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    /// All resident pages.
    pub rss: u64,
    /// Anonymous pages: heap and stacks — the process's own memory.
    pub anon: u64,
    /// File-backed pages: the binary and the memory-mapped index (page cache).
    pub file: u64,
}

impl Memory {
    pub(crate) fn of(pid: u32) -> anyhow::Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        Ok(Self {
            rss: field("VmRSS:"),
            anon: field("RssAnon:") + field("RssShmem:"),
            file: field("RssFile:"),
        })
    }

    /// Resident KiB of mappings of files under `dir` (the index): page
    /// cache that the budgets set aside.
    pub(crate) fn mapped_under(pid: u32, dir: &Path) -> anyhow::Result<u64> {
        let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps"))?;
        let dir = dir.to_string_lossy();
        let mut inside = false;
        let mut total = 0;
        for line in smaps.lines() {
            if let Some(kib) = line.strip_prefix("Rss:") {
                if inside {
                    total += kib
                        .trim()
                        .trim_end_matches(" kB")
                        .trim()
                        .parse::<u64>()
                        .unwrap_or(0);
                }
            } else if line.split_whitespace().next().is_some_and(|f| {
                f.contains('-') && f.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
            }) {
                inside = line
                    .split_whitespace()
                    .nth(5)
                    .is_some_and(|path| path.starts_with(dir.as_ref()));
            }
        }
        Ok(total)
    }

    pub(crate) fn max(self, other: Self) -> Self {
        Self {
            rss: self.rss.max(other.rss),
            anon: self.anon.max(other.anon),
            file: self.file.max(other.file),
        }
    }
}

/// A `trawl serve` process.
pub(crate) struct Server {
    child: Child,
    pub address: SocketAddr,
}

impl Server {
    /// Starts `trawl serve ARGS…` on a free port and waits until it listens.
    pub(crate) fn start(
        trawl: &Path,
        data_dir: &Path,
        args: &[&str],
    ) -> anyhow::Result<(Self, Duration)> {
        Self::start_with(trawl, data_dir, args, &[])
    }

    /// [`start`](Self::start) with extra environment variables.
    pub(crate) fn start_with(
        trawl: &Path,
        data_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<(Self, Duration)> {
        let started = Instant::now();
        let mut child = Command::new(trawl)
            .envs(env.iter().copied())
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--no-demo", "--listen", "127.0.0.1:0"])
            .args(args)
            // The load comes from one client on loopback: not limited.
            .env("TRAWL_RATE_LIMIT_EXEMPT", "127.0.0.0/8,::1/128")
            .env("TRAWL_LOG_FORMAT", "json")
            .env("TRAWL_LOG", "warn,trawl=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", trawl.display()))?;
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let address = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                let event: serde_json::Value = serde_json::from_str(&line).ok()?;
                (event["message"] == "listening")
                    .then(|| event["address"].as_str()?.parse().ok())?
            })
            .context("trawl exited before listening")?;
        // Keep draining stderr so the process never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok((Self { child, address }, started.elapsed()))
    }

    /// search, results and web, each pointed at the one before, with
    /// `env`: `[search, results, web]`.
    pub(crate) fn three(
        trawl: &Path,
        data_dir: &Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<[Self; 3]> {
        let (search, _) = Self::start_with(trawl, data_dir, &["--role", "search"], env)?;
        let (results, _) = Self::start_with(
            trawl,
            data_dir,
            &["--role", "results", "--search-url", &search.url()],
            env,
        )?;
        let (web, _) = Self::start_with(
            trawl,
            data_dir,
            &["--role", "web", "--results-url", &results.url()],
            env,
        )?;
        Ok([search, results, web])
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// SIGTERM, then wait for a clean exit.
    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait()?;
        if !status.success() {
            bail!("trawl exited with {status} on SIGTERM");
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command to completion: its wall time and peak resident memory
/// (KiB, from the kernel's accounting via `wait4`).
pub(crate) fn run_measured(command: &mut Command) -> anyhow::Result<(Duration, u64)> {
    let started = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.expect("piped");
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // std's Child has not reaped the process; wait4 does, and reports usage.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    let stderr = drain.join().unwrap_or_default();
    if reaped != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{command:?} failed: {stderr}");
    }
    Ok((elapsed, usage.ru_maxrss as u64))
}

/// Exec to the first `200` from `/readyz`.
pub(crate) fn time_to_ready(
    trawl: &Path,
    data_dir: &Path,
    args: &[&str],
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let (server, _) = Server::start(trawl, data_dir, args)?;
    loop {
        if probe_ready(&server.address) {
            let elapsed = started.elapsed();
            server.stop()?;
            return Ok(elapsed);
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("not ready after 30 s");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Whether `/readyz` answers `200`, with a plain blocking socket: a
/// start-up measurement should not wait on an async runtime of its own.
fn probe_ready(address: &SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return false;
    };
    if stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && &head[9..12] == b"200"
}
