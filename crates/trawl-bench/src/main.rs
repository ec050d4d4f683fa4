//! trawl's benchmark suite: retrieval quality, indexing, query load, memory
//! and start-up, printed as Markdown tables with the budgets of
//! `../shared/PRODUCT.md` beside the figures.
//!
//! Run it with `bash bench/run.sh [--quick]`, which builds trawl and this
//! binary in release mode first. `--quick --check` is CI's smoke test: small
//! sizes, short runs, and a failure if any figure is implausible — never a
//! speed threshold.

mod collections;
mod crawl;
mod fanout;
mod feeding;
mod load;
mod metrics;
mod observability;
mod passthrough;
mod process;
mod quality;
mod seed;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use process::{Memory, Server};
use trawl_index::Ranking;

#[derive(Debug, Parser)]
#[command(
    name = "trawl-bench",
    about = "Measure trawl: quality, indexing, load, memory, start-up"
)]
struct Args {
    /// Small corpora and short runs (under 2 minutes), for CI
    #[arg(long)]
    quick: bool,
    /// Exit non-zero unless every figure is plausible (a smoke test, not a speed test)
    #[arg(long)]
    check: bool,
    /// Only these sections (comma-separated); all by default
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Section>,
    /// Print the title-weight grid on SciFact's training queries and stop
    #[arg(long)]
    tune: bool,
    /// The trawl binary to measure [default: the one beside this binary]
    #[arg(long)]
    trawl: Option<PathBuf>,
    /// The shared data folder [default: ../shared/data beside the repository]
    #[arg(long)]
    data: Option<PathBuf>,
    /// Serve the seed comparison's pass-through floor, forwarding to this
    /// upstream URL (the seed section starts it; not for use by hand)
    #[arg(long, hide = true)]
    passthrough: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    Quality,
    Indexing,
    Load,
    Startup,
    /// trawl against the seed system (`../shared/peers`); not in `--quick`.
    Seed,
    /// What asking several engines costs beyond waiting for them.
    Fanout,
    /// Documents fed through the write API, to searchable.
    Feeding,
    /// A loopback site crawled from its sitemap, then again unchanged.
    Crawl,
    /// Metrics on and off, and every trace exported, on the search path.
    Observability,
}

/// Everything measured, for the budget table and the checks.
#[derive(Default)]
struct Figures {
    seed: Option<seed::SeedFigures>,
    fanout: Option<fanout::Fanout>,
    scifact: Option<quality::Quality>,
    quality: Vec<quality::Quality>,
    indexing: Option<Indexing>,
    feeding: Option<feeding::Feeding>,
    crawl: Option<crawl::Crawl>,
    observability: Option<observability::Overhead>,
    load: Option<LoadFigures>,
    startup: Option<Startup>,
}

struct Indexing {
    documents: usize,
    seconds: f64,
    size_mib: f64,
    peak_mib: f64,
}

struct ModeLoad {
    /// The same load on `/livez`, which does no work: what the load
    /// generator and HTTP on loopback cost by themselves.
    floor: load::Run,
    saturation: load::Run,
    fixed: load::Run,
    memory: Vec<ProcessMemory>,
}

/// One process's memory, idle and at its peak under load. `own` is resident
/// memory less the index files mapped into it (page cache, which the budgets
/// set aside), sampled together.
struct ProcessMemory {
    name: &'static str,
    idle: Memory,
    idle_own: u64,
    loaded: Memory,
    loaded_own: u64,
}

struct LoadFigures {
    queries: usize,
    connections: usize,
    rate: f64,
    one: ModeLoad,
    three: ModeLoad,
}

struct Startup {
    runs: usize,
    without_index_ms: Vec<f64>,
    with_index_ms: Vec<f64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(upstream) = args.passthrough {
        return passthrough::serve(upstream);
    }
    let data = match &args.data {
        Some(d) => d.clone(),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")),
    };
    let data = data
        .canonicalize()
        .with_context(|| format!("no data folder at {}", data.display()))?;
    if args.tune {
        return tune(&data);
    }
    let sections = if args.only.is_empty() {
        let mut all = vec![
            Section::Quality,
            Section::Indexing,
            Section::Load,
            Section::Startup,
            Section::Fanout,
            Section::Feeding,
            Section::Crawl,
            Section::Observability,
        ];
        if !args.quick {
            all.push(Section::Seed);
        }
        all
    } else {
        args.only.clone()
    };
    let trawl = match &args.trawl {
        Some(t) => t.clone(),
        None => std::env::current_exe()?.with_file_name("trawl"),
    };
    if !trawl.exists() {
        bail!(
            "no trawl binary at {}; build it first (bash bench/run.sh does)",
            trawl.display()
        );
    }

    print_machine(&args, &trawl);
    let mut figures = Figures::default();
    if sections.contains(&Section::Quality) {
        run_quality(&data, &mut figures)?;
    }
    let needs_index = sections.iter().any(|s| {
        matches!(
            s,
            Section::Indexing
                | Section::Load
                | Section::Startup
                | Section::Feeding
                | Section::Observability
        )
    });
    if needs_index {
        let work = tempfile::tempdir()?;
        let limit = if args.quick { 10_000 } else { 100_000 };
        let (docs, queries) = imdb_to_jsonl(&data, &work.path().join("imdb.jsonl"), limit)?;
        let data_dir = work.path().join("data");
        let indexing = run_indexing(&trawl, &work.path().join("imdb.jsonl"), &data_dir, docs)?;
        if sections.contains(&Section::Indexing) {
            print_indexing(&indexing, args.quick);
        }
        figures.indexing = Some(indexing);
        if sections.contains(&Section::Load) {
            print_engine_cost(&data_dir, &queries)?;
            let seconds = if args.quick { 2 } else { 10 };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let figures_load = runtime.block_on(run_load(
                &trawl,
                &data_dir,
                &queries,
                Duration::from_secs(seconds),
            ))?;
            print_load(&figures_load);
            figures.load = Some(figures_load);
        }
        if sections.contains(&Section::Observability) {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let (rounds, seconds) = if args.quick { (1, 1) } else { (7, 3) };
            let result = runtime.block_on(observability::run(
                &trawl,
                &data_dir,
                &queries,
                CONNECTIONS,
                rounds,
                seconds,
            ))?;
            observability::print(&result);
            figures.observability = Some(result);
        }
        if sections.contains(&Section::Startup) {
            let startup = run_startup(&trawl, &data_dir, if args.quick { 3 } else { 9 })?;
            print_startup(&startup);
            figures.startup = Some(startup);
        }
        if sections.contains(&Section::Feeding) {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let jobs = if args.quick { 30 } else { 200 };
            let result =
                runtime.block_on(feeding::run(&trawl, &work.path().join("imdb.jsonl"), jobs))?;
            feeding::print(&result, args.quick);
            figures.feeding = Some(result);
        }
    }
    if sections.contains(&Section::Crawl) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let result =
            runtime.block_on(crawl::run(&trawl, if args.quick { 2_000 } else { 20_000 }))?;
        crawl::print(&result);
        figures.crawl = Some(result);
    }
    if sections.contains(&Section::Fanout) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let result = runtime.block_on(fanout::run(&trawl, if args.quick { 10 } else { 50 }))?;
        fanout::print(&result);
        figures.fanout = Some(result);
    }
    if sections.contains(&Section::Seed) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let workspace = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
        let seconds = if args.quick { 3 } else { 10 };
        let result = runtime.block_on(seed::run(
            &trawl,
            &workspace,
            CONNECTIONS,
            Duration::from_secs(seconds),
        ))?;
        seed::print(&result);
        figures.seed = result.ok();
    }
    print_budgets(&figures);
    if args.check {
        check(&figures)?;
        println!("\ncheck: every figure is plausible");
    }
    Ok(())
}

fn shell(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        )
}

fn print_machine(args: &Args, trawl: &Path) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .map(|l| l.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!(
        "## trawl benchmarks{}\n",
        if args.quick { " (quick)" } else { "" }
    );
    println!("- date: {} UTC", shell("date", &["-u", "+%Y-%m-%d %H:%M"]));
    println!(
        "- commit: {}",
        shell("git", &["rev-parse", "--short", "HEAD"])
    );
    println!(
        "- machine: {} cores, {}, {}, Linux {}",
        cores,
        cpu.unwrap_or_default(),
        memory.unwrap_or_default(),
        shell("uname", &["-r"])
    );
    println!("- binary: {}", trawl.display());
    if cfg!(debug_assertions) {
        println!(
            "- **debug build**: speed and memory figures are not representative; use `bash bench/run.sh`"
        );
    }
    println!(
        "- command: trawl-bench {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
}

fn run_quality(data: &Path, figures: &mut Figures) -> anyhow::Result<()> {
    println!("\n### Retrieval quality (local engine, default ranking)\n");
    println!(
        "| collection | documents | queries | nDCG@10 | Recall@100 | MAP | published Lucene BM25 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    let mut collections = vec![collections::scifact(data, "test")?];
    for which in ["cran", "cisi", "med", "cacm"] {
        collections.push(collections::glasgow(data, which)?);
    }
    for (i, collection) in collections.iter().enumerate() {
        let dir = tempfile::tempdir()?;
        let q = quality::evaluate(collection, Ranking::default(), dir.path())?;
        let reference = if i == 0 {
            "flat 0.6789 / 0.9253"
        } else {
            "–"
        };
        println!(
            "| {} | {} | {} | {:.4} | {:.4} | {:.4} | {} |",
            q.collection, q.documents, q.queries, q.ndcg10, q.recall100, q.map, reference
        );
        std::io::stdout().flush()?;
        if i == 0 {
            figures.scifact = Some(q.clone());
        }
        figures.quality.push(q);
    }
    println!(
        "\nSciFact: tuned on the 809 train queries (`trawl-bench --tune`), reported on the 300 test queries."
    );
    Ok(())
}

fn tune(data: &Path) -> anyhow::Result<()> {
    let train = collections::scifact(data, "train")?;
    println!(
        "| stop words | title weight | nDCG@10 (train) | Recall@100 | MAP |\n|---|---:|---:|---:|---:|"
    );
    for stop_words in [false, true] {
        for title_boost in [0.0, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0] {
            let dir = tempfile::tempdir()?;
            let q = quality::evaluate(
                &train,
                Ranking {
                    title_boost,
                    stop_words,
                },
                dir.path(),
            )?;
            println!(
                "| {stop_words} | {title_boost} | {:.4} | {:.4} | {:.4} |",
                q.ndcg10, q.recall100, q.map
            );
        }
    }
    println!("\ndefault: {:?}", Ranking::default());
    Ok(())
}

/// Converts IMDB reviews to trawl's JSONL and derives a fixed, varied query
/// mix from them: one to three words of reviews spread over the corpus.
fn imdb_to_jsonl(data: &Path, out: &Path, limit: usize) -> anyhow::Result<(usize, Vec<String>)> {
    use std::io::BufRead;
    let file = std::fs::File::open(data.join("imdb/imdb_reviews.jsonl.gz"))?;
    let reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(file));
    let mut writer = std::io::BufWriter::new(std::fs::File::create(out)?);
    let mut texts = Vec::new();
    let every = (limit / 400).max(1);
    for (i, line) in reader.lines().take(limit).enumerate() {
        let review: serde_json::Value = serde_json::from_str(&line?)?;
        let id = review["id"].as_str().context("id")?;
        let text = review["text"].as_str().context("text")?;
        let title: String = text
            .split_whitespace()
            .take(8)
            .collect::<Vec<_>>()
            .join(" ");
        let doc = serde_json::json!({"id": id, "title": title, "url": format!("https://reviews.example/{id}"), "body": text});
        serde_json::to_writer(&mut writer, &doc)?;
        writer.write_all(b"\n")?;
        if i % every == 0 {
            texts.push(text.to_owned());
        }
    }
    writer.flush()?;
    let step = (texts.len() / 200).max(1);
    let queries = texts
        .iter()
        .step_by(step)
        .enumerate()
        .filter_map(|(i, text)| {
            let words: Vec<String> = text
                .split(|c: char| !c.is_alphabetic())
                .filter(|w| w.len() >= 5)
                .map(str::to_lowercase)
                .collect();
            let picked: Vec<&str> = words
                .iter()
                .skip(3)
                .step_by(4)
                .take(i % 3 + 1)
                .map(String::as_str)
                .collect();
            (!picked.is_empty()).then(|| format!("/api/v1/search?q={}", picked.join("+")))
        })
        .take(200)
        .collect();
    Ok((limit, queries))
}

fn run_indexing(
    trawl: &Path,
    jsonl: &Path,
    data_dir: &Path,
    docs: usize,
) -> anyhow::Result<Indexing> {
    let (elapsed, peak_kib) = process::run_measured(
        std::process::Command::new(trawl)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["index", "add"])
            .arg(jsonl),
    )?;
    let size: u64 = std::fs::read_dir(data_dir.join("index"))?
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    Ok(Indexing {
        documents: docs,
        seconds: elapsed.as_secs_f64(),
        size_mib: size as f64 / 1048576.0,
        peak_mib: peak_kib as f64 / 1024.0,
    })
}

fn print_indexing(i: &Indexing, quick: bool) {
    println!(
        "\n### Indexing (`trawl index add`, IMDB reviews{})\n",
        if quick { ", first 10,000" } else { "" }
    );
    println!(
        "| documents | wall time | documents/s | index size | peak RSS |\n|---:|---:|---:|---:|---:|"
    );
    println!(
        "| {} | {:.2} s | {:.0} | {:.1} MiB | {:.1} MiB |",
        i.documents,
        i.seconds,
        i.documents as f64 / i.seconds,
        i.size_mib,
        i.peak_mib
    );
}

const CONNECTIONS: usize = 32;
const RATE: f64 = 1000.0;

async fn measure_mode(
    servers: &[(&'static str, &Server)],
    entry: &Server,
    index_dir: &Path,
    queries: &[String],
    duration: Duration,
) -> anyhow::Result<ModeLoad> {
    let base = entry.url();
    let sample = |pid: u32| -> (Memory, u64) {
        let memory = Memory::of(pid).unwrap_or_default();
        let index = Memory::mapped_under(pid, index_dir).unwrap_or(0);
        (memory, memory.rss.saturating_sub(index))
    };
    let idle: Vec<(Memory, u64)> = servers.iter().map(|(_, s)| sample(s.pid())).collect();
    // Warm-up: connections, caches.
    load::saturate(&base, queries, 4, Duration::from_millis(300)).await;
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    // Only /proc/PID/status while the load runs: reading smaps takes the
    // process's memory-map lock and walks every mapping, which would slow
    // the server being measured.
    let pids: Vec<u32> = servers.iter().map(|(_, s)| s.pid()).collect();
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak = vec![Memory::default(); pids.len()];
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                for (p, pid) in peak.iter_mut().zip(&pids) {
                    *p = p.max(Memory::of(*pid).unwrap_or_default());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        })
    };
    let saturation = load::saturate(&base, queries, CONNECTIONS, duration).await;
    let fixed = load::fixed_rate(&base, queries, RATE, duration).await;
    let floor = load::fixed_rate(
        &base,
        &["/livez".to_owned()],
        RATE,
        duration.min(Duration::from_secs(3)),
    )
    .await;
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    // Index pages only accumulate under load, so the count at the end bounds
    // what was mapped at the peak: peak RSS less it is the process's own.
    let loaded: Vec<(Memory, u64)> = sampler
        .join()
        .expect("sampler")
        .into_iter()
        .zip(&servers.iter().map(|(_, s)| s.pid()).collect::<Vec<_>>())
        .map(|(peak, pid)| {
            (
                peak,
                peak.rss
                    .saturating_sub(Memory::mapped_under(*pid, index_dir).unwrap_or(0)),
            )
        })
        .collect();
    let memory = servers
        .iter()
        .zip(idle)
        .zip(loaded)
        .map(
            |(((name, _), (idle, idle_own)), (loaded, loaded_own))| ProcessMemory {
                name,
                idle,
                idle_own,
                loaded,
                loaded_own,
            },
        )
        .collect();
    Ok(ModeLoad {
        floor,
        saturation,
        fixed,
        memory,
    })
}

async fn run_load(
    trawl: &Path,
    data_dir: &Path,
    queries: &[String],
    duration: Duration,
) -> anyhow::Result<LoadFigures> {
    let index_dir = data_dir.join("index");
    let (one, _) = Server::start(trawl, data_dir, &[])?;
    let one_load =
        measure_mode(&[("one binary", &one)], &one, &index_dir, queries, duration).await?;
    one.stop()?;

    let [search, results, web] = Server::three(trawl, data_dir, &[])?;
    let three_load = measure_mode(
        &[("search", &search), ("results", &results), ("web", &web)],
        &web,
        &index_dir,
        queries,
        duration,
    )
    .await?;
    web.stop()?;
    results.stop()?;
    search.stop()?;
    Ok(LoadFigures {
        queries: queries.len(),
        connections: CONNECTIONS,
        rate: RATE,
        one: one_load,
        three: three_load,
    })
}

/// The index alone, in this process: what one query costs before any HTTP.
fn print_engine_cost(data_dir: &Path, queries: &[String]) -> anyhow::Result<()> {
    let index = trawl_index::LocalIndex::open_or_create(&data_dir.join("index"))?;
    let texts: Vec<String> = queries
        .iter()
        .map(|p| p.trim_start_matches("/api/v1/search?q=").replace('+', " "))
        .collect();
    let mut timings = Vec::new();
    for round in 0..3 {
        for text in &texts {
            let started = std::time::Instant::now();
            let page = index.search(text, 0, 10)?;
            std::hint::black_box(page);
            if round > 0 {
                timings.push(started.elapsed().as_micros() as u64);
            }
        }
    }
    timings.sort_unstable();
    let at = |q: f64| {
        timings[((q * timings.len() as f64) as usize).min(timings.len() - 1)] as f64 / 1000.0
    };
    println!(
        "\n### Engine alone (`LocalIndex::search`, top 10 with snippets, in process, one thread)\n\n| p50 | p90 | p99 |\n|---:|---:|---:|\n| {:.3} ms | {:.3} ms | {:.3} ms |",
        at(0.5),
        at(0.9),
        at(0.99)
    );
    // Suggestions (`/autocomplete`): every 2- to 4-letter prefix of the
    // queries' words, completed from the title field's term dictionary.
    let mut prefixes: Vec<String> = texts
        .iter()
        .flat_map(|t| {
            t.split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .filter(|w| w.chars().count() >= 4 && w.chars().all(char::is_alphanumeric))
        .flat_map(|w| (2..=4).map(move |n| w.chars().take(n).collect::<String>()))
        .collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    prefixes.truncate(2_000);
    let mut suggest = Vec::new();
    let mut offered = 0usize;
    for round in 0..3 {
        for prefix in &prefixes {
            let started = std::time::Instant::now();
            let words = index.suggest_words(prefix, 10)?;
            if round > 0 {
                suggest.push(started.elapsed().as_micros() as u64);
                offered += words.len();
            }
            std::hint::black_box(words);
        }
    }
    suggest.sort_unstable();
    let at_suggest = |q: f64| {
        suggest[((q * suggest.len() as f64) as usize).min(suggest.len() - 1)] as f64 / 1000.0
    };
    println!(
        "\n### Suggestions alone (`LocalIndex::suggest_words`, 10 title words for a prefix, {} prefixes, in process, one thread)\n\n| p50 | p90 | p99 | words offered (mean) | p50 vs a search's p50 |\n|---:|---:|---:|---:|---:|\n| {:.3} ms | {:.3} ms | {:.3} ms | {:.1} | {:.2}× |",
        prefixes.len(),
        at_suggest(0.5),
        at_suggest(0.9),
        at_suggest(0.99),
        offered as f64 / suggest.len().max(1) as f64,
        at_suggest(0.5) / at(0.5).max(0.000_001),
    );
    Ok(())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn print_load(l: &LoadFigures) {
    println!(
        "\n### Query load (`GET /api/v1/search`, {} distinct queries, loopback, load generator on the same 2 cores)\n",
        l.queries
    );
    println!(
        "| mode | throughput, {} connections | p50 at {} req/s | p90 | p99 | shed | errors |\n|---|---:|---:|---:|---:|---:|---:|",
        l.connections, l.rate
    );
    for (name, m) in [("one binary", &l.one), ("three processes", &l.three)] {
        println!(
            "| {name} | {:.0} req/s | {:.3} ms | {:.3} ms | {:.3} ms | {} | {} |",
            m.saturation.throughput(),
            m.fixed.quantile_ms(0.5),
            m.fixed.quantile_ms(0.9),
            m.fixed.quantile_ms(0.99),
            m.saturation.shed + m.fixed.shed,
            m.saturation.errors + m.fixed.errors
        );
    }
    println!(
        "| floor: `/livez` on the one binary | – | {:.3} ms | {:.3} ms | {:.3} ms | {} | {} |",
        l.one.floor.quantile_ms(0.5),
        l.one.floor.quantile_ms(0.9),
        l.one.floor.quantile_ms(0.99),
        l.one.floor.shed,
        l.one.floor.errors
    );
    println!(
        "\nPer extra network hop (two hops: web → results → search): {:+.3} ms at p50.",
        per_hop_ms(l)
    );
    println!("\n### Memory (resident, MiB; \"own\" excludes the memory-mapped index files)\n");
    println!(
        "| process | idle RSS | idle own | peak RSS under load | peak own under load |\n|---|---:|---:|---:|---:|"
    );
    for m in [&l.one, &l.three] {
        for p in &m.memory {
            println!(
                "| {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                p.name,
                mib(p.idle.rss),
                mib(p.idle_own),
                mib(p.loaded.rss),
                mib(p.loaded_own)
            );
        }
    }
}

fn per_hop_ms(l: &LoadFigures) -> f64 {
    (l.three.fixed.quantile_ms(0.5) - l.one.fixed.quantile_ms(0.5)) / 2.0
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run_startup(trawl: &Path, data_dir: &Path, runs: usize) -> anyhow::Result<Startup> {
    let (search, _) = Server::start(trawl, data_dir, &["--role", "search"])?;
    let search_url = search.url();
    let empty = tempfile::tempdir()?;
    let mut without_index_ms = Vec::new();
    let mut with_index_ms = Vec::new();
    for _ in 0..runs {
        let t = process::time_to_ready(
            trawl,
            empty.path(),
            &["--role", "results", "--search-url", &search_url],
        )?;
        without_index_ms.push(t.as_secs_f64() * 1000.0);
        let t = process::time_to_ready(trawl, data_dir, &[])?;
        with_index_ms.push(t.as_secs_f64() * 1000.0);
    }
    search.stop()?;
    Ok(Startup {
        runs,
        without_index_ms,
        with_index_ms,
    })
}

fn print_startup(s: &Startup) {
    println!(
        "\n### Start-up (exec to the first 200 from `/readyz`, {} runs)\n",
        s.runs
    );
    println!("| case | median | min | max |\n|---|---:|---:|---:|");
    for (name, v) in [
        ("results role (no index to open)", &s.without_index_ms),
        ("one binary, existing index", &s.with_index_ms),
    ] {
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(0.0, f64::max);
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms |",
            median(v),
            min,
            max
        );
    }
}

fn print_budgets(f: &Figures) {
    println!("\n### Budgets (../shared/PRODUCT.md)\n\n| budget | figure | |\n|---|---|---|");
    let row = |budget: &str, figure: String, met: Option<bool>| {
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "**not met**",
            None => "pending",
        };
        println!("| {budget} | {figure} | {verdict} |");
    };
    if let Some(l) = &f.load {
        let (p50, p99) = (l.one.fixed.quantile_ms(0.5), l.one.fixed.quantile_ms(0.99));
        row(
            "one-binary p50 ≤ 1 ms under load",
            format!("{p50:.3} ms at {} req/s", l.rate),
            Some(p50 <= 1.0),
        );
        row(
            "one-binary p99 ≤ 5 ms under load",
            format!("{p99:.3} ms at {} req/s", l.rate),
            Some(p99 <= 5.0),
        );
        let hop = per_hop_ms(l);
        row(
            "each extra hop ≤ 0.5 ms at p50",
            format!("{hop:+.3} ms"),
            Some(hop <= 0.5),
        );
        let own = |p: &ProcessMemory| mib(p.idle_own);
        let one = own(&l.one.memory[0]);
        row(
            "one binary ≤ 40 MB idle (index aside)",
            format!("{one:.1} MiB"),
            Some(one * 1.048576 <= 40.0),
        );
        let worst = l.three.memory.iter().map(own).fold(0.0, f64::max);
        row(
            "each service ≤ 20 MB idle (index aside)",
            format!("{worst:.1} MiB (largest of three)"),
            Some(worst * 1.048576 <= 20.0),
        );
    }
    if let Some(s) = &f.startup {
        let (a, b) = (median(&s.without_index_ms), median(&s.with_index_ms));
        row(
            "start to ready ≤ 20 ms without an index",
            format!("{a:.1} ms"),
            Some(a <= 20.0),
        );
        row(
            "start to ready ≤ 100 ms with an index",
            format!("{b:.1} ms"),
            Some(b <= 100.0),
        );
    }
    if let Some(i) = &f.indexing {
        let rate = i.documents as f64 / i.seconds;
        row(
            "indexing ≥ 20,000 short documents/s",
            format!("{rate:.0} documents/s"),
            Some(rate >= 20_000.0),
        );
    }
    if let Some(feeding) = &f.feeding
        && let Some(embedded) = feeding.cases.first()
    {
        let rate = embedded.rate();
        row(
            "feeding ≥ 15,000 documents/s, POST to searchable, embedded",
            format!("{rate:.0} documents/s"),
            Some(rate >= 15_000.0),
        );
    }
    if let Some(q) = &f.scifact {
        row(
            "SciFact nDCG@10 ≥ 0.679",
            format!("{:.4}", q.ndcg10),
            Some(q.ndcg10 >= 0.679),
        );
    }
    if let Some(fanout) = &f.fanout {
        let worst = fanout
            .cases
            .iter()
            .map(|(_, _, p50, _)| *p50)
            .fold(0.0, f64::max);
        row(
            "fan-out ≈ deadline or slowest engine + ≤ 2 ms",
            format!("+{worst:.2} ms at p50 (worse of the two cases)"),
            Some(worst <= 2.0),
        );
    }
    match &f.seed {
        Some(s) if s.peers.len() == 3 => {
            let seed = &s.peers[0];
            let one = &s.peers[1];
            let throughput = one.run.throughput() / seed.run.throughput();
            let p99 = one.run.quantile_ms(0.99) / seed.run.quantile_ms(0.99);
            let memory = one.loaded_pss_mib / seed.loaded_pss_mib;
            row(
                "vs seed: ≥ 20× throughput, ≤ 1/10 p99, ≤ 1/5 memory",
                format!("{throughput:.1}×, {p99:.3}×, {memory:.3}× (one binary)"),
                Some(throughput >= 20.0 && p99 <= 0.1 && memory <= 0.2),
            );
        }
        _ => row(
            "vs seed: ≥ 20× throughput, ≤ 1/10 p99, ≤ 1/5 memory",
            "not measured in this run (see above)".into(),
            None,
        ),
    }
}

/// Plausibility, not speed: the suite ran and its numbers mean something.
fn check(f: &Figures) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    if let Some(q) = &f.scifact
        && !(0.6..=0.8).contains(&q.ndcg10)
    {
        problems.push(format!("SciFact nDCG@10 {:.4} outside 0.6–0.8", q.ndcg10));
    }
    for q in &f.quality {
        if !(0.1..=0.95).contains(&q.ndcg10) || !(0.1..=1.0).contains(&q.recall100) {
            problems.push(format!(
                "{}: nDCG@10 {:.4}, Recall@100 {:.4} implausible",
                q.collection, q.ndcg10, q.recall100
            ));
        }
    }
    if let Some(c) = &f.crawl
        && let Err(e) = crawl::check(c)
    {
        problems.push(format!("crawl: {e}"));
    }
    if let Some(o) = &f.observability {
        for variant in &o.variants {
            let merged = variant.merged();
            if merged.ok() == 0 || merged.errors > 0 {
                problems.push(format!(
                    "observability, {}: {} answered, {} failed",
                    variant.name,
                    merged.ok(),
                    merged.errors
                ));
            }
        }
        if o.spans == 0 {
            problems.push("observability: no span reached the OTLP receiver".into());
        }
    }
    if let Some(i) = &f.indexing
        && (i.size_mib <= 0.0 || i.peak_mib <= 0.0)
    {
        problems.push("indexing reported no size or memory".into());
    }
    if let Some(l) = &f.load {
        for (name, m) in [("one binary", &l.one), ("three processes", &l.three)] {
            // Shed requests are the services working as designed when the
            // offered rate exceeds what this build serves (a debug build
            // cannot serve 1,000 req/s through three processes); failures of
            // any other kind are not.
            let errors = m.saturation.errors + m.fixed.errors;
            if errors > 0 || m.saturation.ok() == 0 || m.fixed.ok() == 0 {
                problems.push(format!(
                    "{name}: {errors} errors, {} + {} answers",
                    m.saturation.ok(),
                    m.fixed.ok()
                ));
            }
            if m.memory
                .iter()
                .any(|p| p.idle.rss == 0 || p.loaded.rss == 0)
            {
                problems.push(format!("{name}: no memory figures"));
            }
        }
    }
    if let Some(feeding) = &f.feeding {
        for case in &feeding.cases {
            if case.searchable_s <= 0.0 || case.latency_ms.is_empty() || case.documents == 0 {
                problems.push(format!("feeding, {}: no figures", case.name));
            }
        }
        if feeding.cases.is_empty() {
            problems.push("feeding measured nothing".into());
        }
    }
    if let Some(s) = &f.startup
        && s.with_index_ms
            .iter()
            .chain(&s.without_index_ms)
            .any(|&ms| ms <= 0.0)
    {
        problems.push("start-up times missing".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("implausible figures:\n  {}", problems.join("\n  "))
    }
}
