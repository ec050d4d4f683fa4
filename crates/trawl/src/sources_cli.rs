//! `trawl sources`: the sources API of a running indexer, from the shell.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use trawl::Config;
use trawl_api::jobs::{Job, JobState};
use trawl_api::sources::{IfMatch, Source, SourceIn, SourceKind, SourcesQuery};
use trawl_api::{IndexerService, SourcesService};
use trawl_service::clients::HttpIndexerClient;
use url::Url;

#[derive(Debug, clap::Args)]
pub(crate) struct SourcesArgs {
    /// The indexer (or one-process trawl) to talk to
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:8080/",
        global = true
    )]
    server: Url,
    /// API key [env: TRAWL_API_KEY]
    #[arg(
        long,
        value_name = "KEY",
        env = "TRAWL_API_KEY",
        hide_env_values = true,
        global = true
    )]
    key: Option<String>,
    #[command(subcommand)]
    command: SourcesCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SourcesCommand {
    /// Add a source: a sitemap, a feed, a site or a JSONL dump
    ///
    /// e.g. `trawl sources add sitemap https://example.org/sitemap.xml --refresh 6h`,
    /// `trawl sources add site https://example.org/docs/ --max-depth 3`
    Add {
        #[arg(value_enum)]
        kind: Kind,
        /// The sitemap's, feed's or dump's URL; for a site, where to start (repeatable)
        #[arg(required = true, value_name = "URL")]
        urls: Vec<String>,
        /// A name for people
        #[arg(long)]
        name: Option<String>,
        /// How often to crawl it, e.g. 6h (1m to 366d); without it, only on request
        #[arg(long, value_name = "INTERVAL")]
        refresh: Option<String>,
        /// URL prefixes a site crawl stays within (repeatable)
        #[arg(long, value_name = "PREFIX")]
        scope: Vec<String>,
        /// Index only pages whose path matches (repeatable)
        #[arg(long, value_name = "GLOB")]
        include: Vec<String>,
        /// Neither fetch nor index pages whose path matches (repeatable)
        #[arg(long, value_name = "GLOB")]
        exclude: Vec<String>,
        /// Links followed from a start URL at most (site)
        #[arg(long, value_name = "N")]
        max_depth: Option<u32>,
        /// Pages one crawl fetches at most
        #[arg(long, value_name = "N")]
        max_pages: Option<u32>,
        /// Crawl it now, and wait for the crawl
        #[arg(long)]
        crawl: bool,
    },
    /// List the sources
    List,
    /// Show a source and its last crawls
    Show { id: i64 },
    /// Change a source with a JSON merge patch, e.g. '{"refresh": "1h"}'
    ///
    /// The change is made from the version just read: if someone changed the
    /// source in between, it is refused (412) and nothing changes.
    Edit {
        id: i64,
        #[arg(value_name = "JSON")]
        patch: String,
    },
    /// Remove a source; its documents leave the index
    Rm { id: i64 },
    /// Crawl a source now and wait for the crawl (with progress)
    Crawl {
        id: i64,
        /// Return once the crawl is queued
        #[arg(long)]
        no_wait: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Kind {
    Sitemap,
    Feed,
    Site,
    Jsonl,
}

pub(crate) fn run(config: &Config, args: SourcesArgs) -> anyhow::Result<ExitCode> {
    let client = HttpIndexerClient::new(
        args.server.clone(),
        args.key.as_deref(),
        config.services.results_client(),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(command(&client, args.command))
}

fn nonempty(list: Vec<String>) -> Option<Vec<String>> {
    (!list.is_empty()).then_some(list)
}

async fn command(client: &HttpIndexerClient, command: SourcesCommand) -> anyhow::Result<ExitCode> {
    match command {
        SourcesCommand::Add {
            kind,
            urls,
            name,
            refresh,
            scope,
            include,
            exclude,
            max_depth,
            max_pages,
            crawl,
        } => {
            let kind = match kind {
                Kind::Sitemap => SourceKind::Sitemap,
                Kind::Feed => SourceKind::Feed,
                Kind::Site => SourceKind::Site,
                Kind::Jsonl => SourceKind::Jsonl,
            };
            let site = kind == SourceKind::Site;
            if !site && urls.len() > 1 {
                bail!("a {} source has one URL", kind.as_str());
            }
            let source = SourceIn {
                kind,
                name,
                url: (!site).then(|| urls[0].clone()),
                start_urls: site.then_some(urls),
                scope: nonempty(scope),
                include: nonempty(include),
                exclude: nonempty(exclude),
                max_depth,
                max_pages,
                refresh,
            };
            let created = client.create(source).await?;
            print_source(&created);
            if crawl {
                return crawl_and_wait(client, created.id).await;
            }
        }
        SourcesCommand::List => {
            let mut query = SourcesQuery {
                after: None,
                limit: 500,
            };
            loop {
                let page = client.sources(&query).await?;
                for source in &page.sources {
                    let last = source
                        .runs
                        .first()
                        .map_or("never crawled".to_owned(), |run| {
                            format!("last crawl {} ({})", run.state.as_str(), run.started_at)
                        });
                    println!(
                        "{:>5}  {:<8} {:<60} {:>7} pages  {}",
                        source.id,
                        source.spec.kind.as_str(),
                        where_of(source),
                        source.pages,
                        last
                    );
                }
                match page.sources.last() {
                    Some(last) if page.next_cursor.is_some() => query.after = Some(last.id),
                    _ => break,
                }
            }
        }
        SourcesCommand::Show { id } => print_source(&client.source(id).await?),
        SourcesCommand::Edit { id, patch } => {
            let patch: serde_json::Value =
                serde_json::from_str(&patch).context("the patch is not JSON")?;
            let current = client.source(id).await?;
            let changed = client
                .patch(id, patch, &IfMatch::Versions(vec![current.version]))
                .await?;
            print_source(&changed);
        }
        SourcesCommand::Rm { id } => match client.remove(id).await? {
            Some(job) => {
                eprintln!("removed source {id}; job {} removes its documents", job.id);
                let job = wait(client, job, None).await?;
                if job.state != JobState::Succeeded {
                    bail!(
                        "job {} {}: {}",
                        job.id,
                        job.state.as_str(),
                        job.last_error.unwrap_or_default()
                    );
                }
                eprintln!("{} documents removed", job.counts.deleted);
            }
            None => eprintln!("removed source {id} (it had no documents)"),
        },
        SourcesCommand::Crawl { id, no_wait } => {
            if no_wait {
                let accepted = client.crawl(id).await?;
                println!("{}", accepted.job.id);
                return Ok(ExitCode::SUCCESS);
            }
            return crawl_and_wait(client, id).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn where_of(source: &Source) -> String {
    source
        .spec
        .url
        .clone()
        .or_else(|| source.spec.start_urls.as_ref().map(|u| u.join(" ")))
        .unwrap_or_default()
}

fn print_source(source: &Source) {
    println!("source {} (version {})", source.id, source.version);
    if let Some(name) = &source.spec.name {
        println!("  name      {name}");
    }
    println!("  kind      {}", source.spec.kind.as_str());
    println!("  where     {}", where_of(source));
    if let Some(refresh) = &source.spec.refresh {
        println!(
            "  refresh   every {refresh}, next {}",
            source.next_crawl_at.as_deref().unwrap_or("-")
        );
    }
    println!("  pages     {}", source.pages);
    if let Some(job) = source.crawl_job {
        println!("  crawling  job {job}");
    }
    for run in &source.runs {
        let p = run.pages;
        println!(
            "  crawl {:>5} {:<9} {} {:>6} ms  fetched {} added {} changed {} unchanged {} removed {} skipped {}{}{}",
            run.job,
            run.state.as_str(),
            run.started_at,
            run.duration_ms,
            p.fetched,
            p.added,
            p.changed,
            p.unchanged,
            p.removed,
            p.skipped,
            if run.errors.is_empty() {
                String::new()
            } else {
                format!(
                    "  errors {}",
                    run.errors
                        .iter()
                        .map(|(k, n)| format!("{k}={n}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            },
            run.error
                .as_deref()
                .map(|e| format!("\n        {e}"))
                .unwrap_or_default(),
        );
    }
}

/// Crawls now and waits, showing pages as they are handled.
async fn crawl_and_wait(client: &HttpIndexerClient, id: i64) -> anyhow::Result<ExitCode> {
    let accepted = client.crawl(id).await?;
    if accepted.replayed {
        eprintln!(
            "a crawl of source {id} is already queued or running: job {}",
            accepted.job.id
        );
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} crawling: {pos} pages handled ({elapsed}) {msg}")
            .expect("static template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let job = wait(client, accepted.job, Some(&bar)).await?;
    bar.finish_and_clear();
    let source = client.source(id).await?;
    print_source(&source);
    if job.state != JobState::Succeeded {
        bail!(
            "the crawl (job {}) {}: {}",
            job.id,
            job.state.as_str(),
            job.last_error.unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait(
    client: &HttpIndexerClient,
    mut job: Job,
    bar: Option<&ProgressBar>,
) -> anyhow::Result<Job> {
    while !job.state.is_terminal() {
        tokio::time::sleep(Duration::from_millis(250)).await;
        job = client.job(job.id).await?;
        if let Some(bar) = bar {
            bar.set_position(job.progress.done);
            bar.set_message(job.state.as_str().to_owned());
        }
    }
    Ok(job)
}
