//! `trawl`: the command line. Parses arguments, loads configuration, and
//! hands over to the library; nothing here is logic worth testing apart
//! from the binary itself.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
mod sources_cli;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use trawl::{Application, Config, Overrides, Role};
use trawl_index::ingest::{IngestOptions, Unit};
use trawl_index::{Glob, LocalIndex, Progress};
use trawl_service::logging::{self, LogFormat};
use url::Url;

// Many small, short-lived allocations per request (parsed upstream answers,
// results, rendered pages): glibc's malloc spent a fifth of the CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A self-hostable search portal: one page and one JSON API over a local
/// full-text index and the upstream search APIs you configure.
#[derive(Debug, Parser)]
#[command(name = "trawl", version, max_term_width = 100)]
struct Cli {
    /// TOML configuration file [env: TRAWL_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for the index [default: the platform's data directory] [env: TRAWL_DATA_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log format [env: TRAWL_LOG_FORMAT]
    #[arg(long, global = true, value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// Database of jobs and keys: postgres://… [default: SQLite in the data directory] [env: TRAWL_DATABASE_URL]
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run trawl: all services in one process (the default), or one role
    Serve(ServeArgs),
    /// Manage the local index, or feed a remote one
    #[command(subcommand)]
    Index(IndexCommand),
    /// Manage the API keys that writes need
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage sources (sitemaps, feeds, sites, JSONL dumps) a running indexer crawls
    Sources(sources_cli::SourcesArgs),
    /// Inspect the configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Ask the trawl listening on --listen whether it is ready (a container's health check:
    /// the image has no shell or curl); exits 0 when GET <PATH> answers 2xx
    Probe {
        /// What to ask
        #[arg(long, default_value = "/readyz")]
        path: String,
        /// How long to wait for the answer
        #[arg(long, default_value_t = 2000, value_name = "MS")]
        timeout_ms: u64,
        /// Address trawl listens on [default: --listen's, on loopback] [env: TRAWL_LISTEN]
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Print a role's OpenAPI 3.1 document, as it serves it at /openapi.json
    Openapi {
        /// Whose document
        #[arg(long, value_enum, default_value = "all")]
        role: Role,
    },
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Which services to run
    #[arg(long, value_enum, default_value = "all")]
    role: Role,
    /// Address to listen on [default: 127.0.0.1:8080] [env: TRAWL_LISTEN]
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Base URL of the search service, for --role results [env: TRAWL_SEARCH_URL]
    #[arg(long, value_name = "URL")]
    search_url: Option<Url>,
    /// Base URL of the results service, for --role web [env: TRAWL_RESULTS_URL]
    #[arg(long, value_name = "URL")]
    results_url: Option<Url>,
    /// Do not index the bundled demo corpus when the index is empty
    #[arg(long)]
    no_demo: bool,
    /// RabbitMQ for the job queue: amqp://… [default: the embedded queue] [env: TRAWL_AMQP_URL]
    #[arg(long, value_name = "URL")]
    amqp_url: Option<String>,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make a key and print it; it is shown this once (the store keeps a hash)
    Create {
        /// What the key is for, e.g. `ci` or `docs-sync`; unique
        #[arg(long)]
        name: String,
    },
    /// List the keys (names, prefixes and dates; never the keys)
    List,
    /// Revoke a key, by name or prefix: requests with it are refused (403)
    Revoke {
        #[arg(value_name = "NAME_OR_PREFIX")]
        key: String,
    },
}

// Parsed once per run: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum IndexCommand {
    /// Add documents: JSONL files (.jsonl, .jsonl.gz) and folders of HTML, Markdown and text
    ///
    /// JSONL lines are {"id", "title", "url", "body", "published"?}. A document
    /// whose id is already in the index replaces it. The batch becomes visible
    /// at once when it is complete; a malformed line stops it (nothing is added)
    /// unless --skip-bad is given.
    ///
    /// With --remote, the documents go to a running indexer's write API in
    /// batches (each a job), and the command waits for the jobs: it fails if
    /// one does. The input is checked whole before anything is sent.
    Add {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Map files of a folder onto this URL: FOLDER/a/b.html becomes URL/a/b.html
        #[arg(long, value_name = "URL")]
        base_url: Option<Url>,
        /// Skip malformed JSONL lines (each is reported and counted) instead of stopping
        #[arg(long)]
        skip_bad: bool,
        /// Leave out folder files matching this pattern (* ** ?); repeatable
        #[arg(long, value_name = "GLOB")]
        exclude: Vec<String>,
        /// Send to the indexer at this base URL (e.g. http://127.0.0.1:8080/) instead of
        /// writing the local index
        #[arg(long, value_name = "URL")]
        remote: Option<Url>,
        /// API key for --remote [env: TRAWL_API_KEY]
        #[arg(
            long,
            value_name = "KEY",
            env = "TRAWL_API_KEY",
            hide_env_values = true
        )]
        key: Option<String>,
        /// Documents per batch, with --remote
        #[arg(long, value_name = "N", default_value_t = 5000, requires = "remote")]
        batch_size: usize,
        /// Return once the batches are queued, without waiting for the jobs (--remote)
        #[arg(long, requires = "remote")]
        no_wait: bool,
    },
    /// Show what the index holds
    Stats,
    /// Remove documents by id
    Remove {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
    /// Write every document to a JSONL file (gzip-compressed if it ends in .gz), sorted by id
    Export {
        #[arg(value_name = "FILE")]
        output: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, credentials masked
    Show,
    /// Write the documented configuration (every setting at its default)
    Init {
        /// Where to write it [default: standard output]
        #[arg(value_name = "FILE")]
        output: Option<PathBuf>,
        /// With every engine that needs no key (Wikipedia, arXiv, GitHub, …)
        #[arg(long)]
        with_public_engines: bool,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
}

/// mimalloc v3's option numbers (`mi_option_e` in its `mimalloc.h`; the
/// crate names only some of them).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Returns freed memory to the system at once and commits arena memory only
/// when used: by default mimalloc held on to 4× the peak memory glibc did
/// under query load (docs/BENCHMARKS.md), at no measurable gain in speed.
fn tune_allocator() {
    // SAFETY: plain setters of process-wide options, called before any
    // thread is started.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let matches = Cli::command()
        .after_help(trawl::config::environment_help())
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        log_format: cli.log_format.as_deref().map(|f| {
            if f == "json" {
                LogFormat::Json
            } else {
                LogFormat::Text
            }
        }),
        ..Default::default()
    };
    if let Command::Serve(args) = &cli.command {
        overrides.listen = args.listen;
        overrides.search_url = args.search_url.clone();
        overrides.results_url = args.results_url.clone();
        overrides.no_demo = args.no_demo;
        overrides.amqp_url = args.amqp_url.clone();
    }
    if let Command::Config(ConfigCommand::Init {
        output,
        with_public_engines,
        force,
    }) = cli.command
    {
        return init(output, with_public_engines, force);
    }
    let config_file = cli
        .config
        .clone()
        .or_else(|| std::env::var_os("TRAWL_CONFIG").map(PathBuf::from));
    let config = Config::load(
        config_file.as_deref(),
        |name| std::env::var(name).ok(),
        &overrides,
    )?;
    match cli.command {
        Command::Serve(args) => serve(&config, args.role),
        Command::Index(IndexCommand::Add {
            paths,
            base_url,
            skip_bad,
            exclude,
            remote: Some(remote),
            key,
            batch_size,
            no_wait,
        }) => {
            let options = IngestOptions {
                base_url,
                skip_bad,
                exclude: exclude.iter().map(|g| Glob::new(g)).collect(),
            };
            add_remote(
                &config,
                &paths,
                &options,
                remote,
                key,
                trawl::remote::RemoteOptions {
                    batch_documents: batch_size.max(1),
                    wait: !no_wait,
                    ..Default::default()
                },
            )
        }
        Command::Index(command) => index(&config, command),
        Command::Keys(command) => keys(&config, command),
        Command::Sources(args) => sources_cli::run(&config, args),
        Command::Config(ConfigCommand::Show) => {
            print!("{}", config.show());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Init { .. }) => unreachable!("handled before loading"),
        Command::Probe {
            path,
            timeout_ms,
            listen,
        } => {
            let addr = trawl::probe::address(listen.unwrap_or(config.listen));
            match trawl::probe::probe(addr, &path, std::time::Duration::from_millis(timeout_ms)) {
                Ok(_) => Ok(ExitCode::SUCCESS),
                Err(error) => {
                    eprintln!("trawl probe: {error}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Openapi { role } => {
            print!("{}", trawl_service::openapi::render(&trawl::openapi(role)));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `trawl config init`: needs no configuration, not even a valid one.
fn init(
    output: Option<PathBuf>,
    with_public_engines: bool,
    force: bool,
) -> anyhow::Result<ExitCode> {
    let text = trawl::config::example(with_public_engines);
    match output {
        None => print!("{text}"),
        Some(path) => {
            let mut file = std::fs::OpenOptions::new();
            file.write(true);
            if force {
                file.create(true).truncate(true);
            } else {
                file.create_new(true);
            }
            let mut file = file.open(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    anyhow::anyhow!("{} exists: pass --force to replace it", path.display())
                }
                _ => anyhow::anyhow!("cannot write {}: {e}", path.display()),
            })?;
            std::io::Write::write_all(&mut file, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(config: &Config, role: Role) -> anyhow::Result<ExitCode> {
    let traces = logging::init(
        config.log.format,
        &config.log.filter,
        &format!("trawl-{}", role.name()),
    )?;
    let runtime = runtime()?;
    let served = runtime.block_on(async {
        let app = Application::build(
            config,
            role,
            Box::new(ProgressReporter::new("indexing the demo corpus")),
        )
        .await
        .with_context(|| format!("cannot start the {} role", role.name()))?;
        let address = app.local_addr();
        tracing::info!(%address, role = role.name(), "listening");
        if role == Role::All || role == Role::Web {
            eprintln!("trawl is ready: open http://{address}/");
        }
        app.run_until_stopped(trawl_service::server::shutdown_signal())
            .await?;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    });
    // The last spans, exported before exit.
    traces.shutdown();
    served
}

fn index(config: &Config, command: IndexCommand) -> anyhow::Result<ExitCode> {
    let index = LocalIndex::open_or_create(&config.index_dir())?;
    match command {
        IndexCommand::Add {
            paths,
            base_url,
            skip_bad,
            exclude,
            ..
        } => {
            let options = IngestOptions {
                base_url,
                skip_bad,
                exclude: exclude.iter().map(|g| Glob::new(g)).collect(),
            };
            let mut writer = wait_for_writer(&index)?;
            let progress = ProgressReporter::new("adding");
            let report = match trawl_index::ingest::ingest(&mut writer, &paths, &options, &progress)
            {
                Ok(report) => report,
                Err(error) => {
                    progress.bar.abandon();
                    drop(writer);
                    bail!("{error}\nnothing was added (use --skip-bad to skip malformed lines)");
                }
            };
            let summary = writer.commit()?;
            writer.finish()?;
            eprintln!(
                "added {} documents ({} distinct ids) from {} files{}; the index holds {} documents",
                report.documents,
                summary.upserted,
                report.files,
                if report.skipped > 0 {
                    format!(", skipped {} malformed lines", report.skipped)
                } else {
                    String::new()
                },
                index.num_docs()
            );
        }
        IndexCommand::Stats => {
            let stats = index.stats()?;
            println!("path       {}", stats.path.display());
            println!("documents  {}", stats.documents);
            println!("segments   {}", stats.segments);
            println!(
                "size       {:.1} MiB",
                stats.size_bytes as f64 / 1024.0 / 1024.0
            );
        }
        IndexCommand::Remove { ids } => {
            let mut writer = wait_for_writer(&index)?;
            let mut missing = Vec::new();
            for id in &ids {
                if !writer.remove(id)? {
                    missing.push(id);
                }
            }
            writer.commit()?;
            writer.finish()?;
            eprintln!(
                "removed {} documents; the index holds {}",
                ids.len() - missing.len(),
                index.num_docs()
            );
            if !missing.is_empty() {
                for id in missing {
                    eprintln!("no document with id {id:?}");
                }
                return Ok(ExitCode::FAILURE);
            }
        }
        IndexCommand::Export { output } => {
            let docs = index.documents()?;
            export(&docs, &output).with_context(|| format!("cannot write {}", output.display()))?;
            eprintln!("exported {} documents to {}", docs.len(), output.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The index's writer, waiting while another process holds it (a running
/// trawl's indexer between jobs lets it go within seconds).
fn wait_for_writer(index: &LocalIndex) -> anyhow::Result<trawl_index::IndexWriter<'_>> {
    let started = std::time::Instant::now();
    let mut told = false;
    loop {
        match index.writer() {
            Err(trawl_index::IndexError::Locked { .. })
                if started.elapsed() < std::time::Duration::from_secs(600) =>
            {
                if !told {
                    eprintln!(
                        "another process is writing the index (a running trawl indexing its jobs?); \
                         waiting for it — or send the documents through it with --remote"
                    );
                    told = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            other => return Ok(other?),
        }
    }
}

fn export(docs: &[trawl_index::Document], output: &std::path::Path) -> anyhow::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(output)?);
    let gzip = output.extension().is_some_and(|e| e == "gz");
    let mut out: Box<dyn Write> = if gzip {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::best(),
        ))
    } else {
        Box::new(file)
    };
    for doc in docs {
        out.write_all(doc.to_json().as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn keys(config: &Config, command: KeysCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = trawl::open_store(config).await?;
        let result = keys_command(store.as_ref(), command).await;
        store.close().await;
        result
    })
}

async fn keys_command(
    store: &dyn trawl_store::Store,
    command: KeysCommand,
) -> anyhow::Result<ExitCode> {
    let date = |ms: i64| trawl_api::jobs::rfc3339(ms);
    match command {
        KeysCommand::Create { name } => {
            let made = trawl_indexer::keys::create(store, &name).await?;
            eprintln!(
                "made key {:?} (prefix {}); it is shown this once, keep it safe:",
                made.record.name, made.record.prefix
            );
            println!("{}", made.key);
        }
        KeysCommand::List => {
            let keys = store.keys().await?;
            if keys.is_empty() {
                eprintln!("no keys yet: make one with `trawl keys create --name NAME`");
            }
            for key in keys {
                let state = match key.revoked_at {
                    Some(at) => format!("revoked {}", date(at)),
                    None => "active".to_owned(),
                };
                let used = key.last_used_at.map_or_else(
                    || "never used".to_owned(),
                    |at| format!("last used {}", date(at)),
                );
                println!(
                    "{}\t{}\tcreated {}\t{used}\t{state}",
                    key.prefix,
                    key.name,
                    date(key.created_at)
                );
            }
        }
        KeysCommand::Revoke { key } => {
            match store.revoke_key(&key, trawl_store::now_millis()).await? {
                Some(record) => eprintln!(
                    "revoked key {:?} (prefix {}): requests with it are refused from now on",
                    record.name, record.prefix
                ),
                None => {
                    eprintln!("no key named {key:?} or with that prefix");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn add_remote(
    config: &Config,
    paths: &[PathBuf],
    options: &IngestOptions,
    remote: Url,
    key: Option<String>,
    remote_options: trawl::remote::RemoteOptions,
) -> anyhow::Result<ExitCode> {
    let settings = trawl_service::clients::ClientSettings {
        // A batch of megabytes, and an indexer whose store may be slow.
        timeout: std::time::Duration::from_secs(120),
        ..config.services.results_client()
    };
    let client =
        trawl_service::clients::HttpIndexerClient::new(remote.clone(), key.as_deref(), settings)?;
    let waiting = ProgressBar::hidden();
    let on_progress = |finished: usize, done: u64, total: u64| {
        if waiting.is_hidden() {
            waiting.set_style(
                ProgressStyle::with_template(
                    "indexing [{bar:30}] {pos}/{len} documents ({msg}) ({eta})",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            waiting.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        waiting.set_length(total);
        waiting.set_position(done);
        waiting.set_message(format!("{finished} jobs done"));
    };
    let mut sent = Vec::new();
    let outcome = runtime()?.block_on(trawl::remote::add(
        &client,
        paths,
        options,
        &remote_options,
        trawl::remote::Reporters {
            checking: Box::new(ProgressReporter::new("checking")),
            sending: Box::new(ProgressReporter::new("sending")),
            jobs: &on_progress,
        },
        &mut sent,
    ));
    waiting.finish_and_clear();
    let report = match outcome {
        Ok(report) => report,
        Err(error) => {
            let queued = if sent.is_empty() {
                "nothing was queued".to_owned()
            } else {
                format!(
                    "{} batches were queued before it stopped (jobs {})",
                    sent.len(),
                    sent.iter()
                        .map(|j| j.id.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            bail!("{error}\n{queued}");
        }
    };
    let documents: u64 = report.jobs.iter().map(|j| j.progress.total).sum();
    if !remote_options.wait {
        eprintln!(
            "queued {documents} documents in {} jobs at {remote} (not waiting for them): {}",
            report.jobs.len(),
            report
                .jobs
                .iter()
                .map(|j| format!("/v1/jobs/{}", j.id))
                .collect::<Vec<_>>()
                .join(" ")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (added, replaced) = report.jobs.iter().fold((0, 0), |(a, r), j| {
        (a + j.counts.added, r + j.counts.replaced)
    });
    let failed = report.unsuccessful();
    for job in &failed {
        eprintln!(
            "job {} {}: {}",
            job.id,
            job.state.as_str(),
            job.last_error.as_deref().unwrap_or("no reason given")
        );
    }
    eprintln!(
        "sent {documents} documents from {} files in {} jobs{}: {added} added, {replaced} replaced{}",
        report.read.files,
        report.jobs.len(),
        if report.read.skipped > 0 {
            format!(", skipped {} malformed lines", report.read.skipped)
        } else {
            String::new()
        },
        if failed.is_empty() {
            String::new()
        } else {
            format!("; {} jobs did not succeed", failed.len())
        }
    );
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Progress bars on stderr; silent when stderr is not a terminal.
struct ProgressReporter {
    bar: ProgressBar,
    label: &'static str,
}

impl ProgressReporter {
    fn new(label: &'static str) -> Self {
        Self {
            bar: ProgressBar::hidden(),
            label,
        }
    }
}

impl Progress for ProgressReporter {
    fn start(&self, source: &str, total: u64, unit: Unit) {
        let template = match unit {
            Unit::Bytes => "{prefix} {msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({eta})",
            Unit::Files => "{prefix} {msg} [{bar:30}] {pos}/{len} files ({eta})",
        };

        self.bar.set_style(
            ProgressStyle::with_template(template)
                .expect("static template")
                .progress_chars("=> "),
        );
        self.bar.set_prefix(self.label);
        self.bar.set_message(source.to_owned());
        self.bar.set_length(total);
        self.bar.set_position(0);
        // Last: drawing starts once the bar knows what it measures.
        self.bar
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }

    fn advance(&self, units: u64) {
        self.bar.inc(units);
    }

    fn warn(&self, message: &str) {
        if self.bar.is_hidden() {
            eprintln!("{message}");
        } else {
            self.bar.println(message);
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
