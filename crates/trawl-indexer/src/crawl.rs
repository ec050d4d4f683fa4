//! Crawls: the scheduler that makes them and the crawler that runs them.
//!
//! - **Scheduler.** Every few seconds each indexer asks the store for the
//!   sources that are due, and makes each one's crawl job by a
//!   compare-and-set on the source's crawl counter
//!   ([`Store::claim_crawl`]): of two indexers that saw the same source
//!   due, one makes the job and the other makes nothing. A source whose
//!   last crawl is still queued or running skips its turn: never two
//!   crawls of one source at once.
//! - **Crawler.** Crawl jobs travel on a queue of their own (the index's
//!   queue is for index writes), consumed by every indexer, a few at a
//!   time. A crawl fetches the source's pages with a [`Fetcher`], keeps
//!   what it learnt of each page in the store (validators for conditional
//!   GETs, a hash of the text), and hands what changed to the index as
//!   ordinary jobs: documents to add or replace, ids to remove. The index
//!   jobs are queued before the pages' records are written, so a crawl
//!   killed at any point loses nothing when it runs again, and adds
//!   nothing twice (documents are upserted by id, their URL).
//! - **Removal, only with proof.** A page that answers 404 or 410, turns
//!   `noindex`, or is disallowed by robots.txt leaves the index (at the
//!   end of the crawl); pages no longer in the sitemap, the feed or the
//!   site's links leave it at the end of a crawl that read the whole
//!   source: its sitemaps or feed, every page whose links it follows, and
//!   robots.txt. A crawl that read only part of it (cut by `max_pages`, a
//!   listed sitemap or a linking page that failed) says why in its run
//!   (`incomplete`) and removes nothing for not having seen it; one that
//!   could not read its source at all (the sitemap, the feed, the dump,
//!   every start page, robots.txt) fails and changes nothing. A removal is
//!   the source letting go: a document another source (or the write API)
//!   also holds stays.
//! - **Bounded by settings.** Sitemaps, feeds and dumps are read as they
//!   stream in and only the pages the crawl can still take are kept; a
//!   site crawl knows at most `max_pages` pages at once and keeps at most
//!   2,000 links a page; pages are parsed off the
//!   runtime's threads.
//! - **Repair.** A crawl first asks the index for the documents the
//!   source's records say it holds; any the index lacks are fetched whole
//!   and indexed again (`restored`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;
use trawl_api::sources::{SourceIn, SourceKind, SourceSpec};
use trawl_crawl::read::{self, TextKind};
use trawl_crawl::{Conditional, CrawlSettings, FetchError, Fetched, Fetcher};
use trawl_index::{Document, Glob, LocalIndex, extract_markdown, extract_text};
use trawl_queue::{Delivery, Queue};
use trawl_service::redact;
use trawl_store::{CrawlRunRecord, Finish, Millis, PageRecord, Start, Store, now_millis};
use url::Url;

use crate::service::Indexer;
use crate::service::publish;
use crate::sources::{RunStats, crawl_job};

/// How crawls are run: the `[crawl]` section of the configuration.
#[derive(Debug, Clone)]
pub struct CrawlerSettings {
    /// How pages are fetched: politeness, limits, the SSRF guard.
    pub crawl: Arc<CrawlSettings>,
    /// Crawls this indexer runs at once.
    pub concurrent_crawls: usize,
    /// How often the scheduler looks for due sources.
    pub schedule_every: Duration,
    /// How long a running crawl stays this indexer's without news of it.
    pub lease: Duration,
    /// Documents handed to the index per job.
    pub batch_documents: usize,
    /// Longest wait for one call to the store or a queue.
    pub dependency_timeout: Duration,
}

impl Default for CrawlerSettings {
    fn default() -> Self {
        Self {
            crawl: Arc::new(CrawlSettings::default()),
            concurrent_crawls: 2,
            schedule_every: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            batch_documents: 200,
            dependency_timeout: Duration::from_secs(3),
        }
    }
}

/// Most sitemaps one crawl reads (an index and the sitemaps it lists).
const MAX_SITEMAPS: usize = 1000;

/// The scheduler and the crawler of one indexer.
pub struct Crawler {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    indexer: Arc<Indexer>,
    /// The index the indexer writes: asked which documents it holds.
    index: Arc<LocalIndex>,
    settings: CrawlerSettings,
    /// Room for pages being parsed at once, across crawls, in KiB of
    /// page ([`PARSE_KIB`]): a parsed page holds ten times its size or more
    /// while it is read.
    parsing: Arc<Semaphore>,
}

/// The running scheduler and crawler; [`stop`](Self::stop) ends them (a
/// crawl cut short runs again later, from its start, to the same end).
pub struct CrawlerHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl CrawlerHandle {
    /// Stops the scheduler and the consumer, and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Why a crawl ended without finishing.
#[derive(Debug)]
enum Failure {
    /// It cannot succeed as it is (refused, no sitemap, not a feed…).
    Crawl(String),
    /// The store or a queue failed: run it again later.
    Dependency(String),
    /// `Crawl`, with what the crawl had done before it failed.
    Ended(String, Box<RunStats>),
}

impl Crawler {
    /// `queue` is the crawl queue (not the index's); `index` the index the
    /// indexer's worker writes.
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        indexer: Arc<Indexer>,
        index: Arc<LocalIndex>,
        settings: CrawlerSettings,
    ) -> Self {
        Self {
            store,
            queue,
            indexer,
            index,
            settings,
            parsing: Arc::new(Semaphore::new(PARSE_KIB as usize)),
        }
    }

    /// Starts the scheduler and the consumer on the runtime.
    pub fn spawn(self) -> CrawlerHandle {
        let (stop, stopped) = watch::channel(false);
        let crawler = Arc::new(self);
        let tasks = vec![
            tokio::spawn(crawler.clone().schedule(stopped.clone())),
            tokio::spawn(crawler.consume(stopped)),
        ];
        CrawlerHandle { stop, tasks }
    }

    async fn call<T, E: std::fmt::Display>(
        &self,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, String> {
        let timeout = self.settings.dependency_timeout;
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        }
    }

    /// Makes the crawl jobs of due sources, until stopped.
    async fn schedule(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.schedule_due().await {
                tracing::warn!(error = %e, "cannot schedule crawls now");
            }
            let every = self.settings.schedule_every;
            if tokio::time::timeout(every, stop.wait_for(|s| *s))
                .await
                .is_ok()
            {
                return;
            }
        }
    }

    async fn schedule_due(&self) -> Result<(), String> {
        let now = now_millis();
        let due = self.call(self.store.due_sources(now, 100)).await?;
        for source in due {
            let Some(refresh) = source.refresh_ms else {
                self.call(self.store.set_next_run(source.id, None)).await?;
                continue;
            };
            let next = now.saturating_add(refresh);
            if let Some(job) = source.crawl_job {
                let live = self
                    .call(self.store.job(job))
                    .await?
                    .is_some_and(|j| !j.state.is_terminal());
                if live {
                    // Still crawling from its last turn: skip this one.
                    self.call(self.store.set_next_run(source.id, Some(next)))
                        .await?;
                    continue;
                }
            }
            let job = crawl_job(source.id, self.indexer.settings().max_attempts);
            let claimed = self
                .call(
                    self.store
                        .claim_crawl(source.id, source.crawl_seq, job, Some(next)),
                )
                .await?;
            let Some(job) = claimed else {
                continue;
            };
            match publish(
                self.store.as_ref(),
                self.queue.as_ref(),
                job.id,
                self.settings.dependency_timeout,
            )
            .await
            {
                Ok(()) => tracing::info!(source = source.id, job = job.id, "crawl scheduled"),
                Err(e) => {
                    tracing::warn!(source = source.id, error = %e, "cannot queue a crawl; trying again shortly");
                    let soon = now.saturating_add(30_000).min(next);
                    let _ = self
                        .call(self.store.set_next_run(source.id, Some(soon)))
                        .await;
                }
            }
        }
        Ok(())
    }

    /// Runs crawl jobs from the queue, a few at once, until stopped.
    async fn consume(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.settings.concurrent_crawls.max(1)));
        let mut running = JoinSet::new();
        loop {
            while running.try_join_next().is_some() {}
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => slot.expect("never closed"),
                _ = stop.wait_for(|s| *s) => break,
            };
            let received = tokio::select! {
                received = self.call(self.queue.receive(Duration::from_millis(500))) => received,
                _ = stop.wait_for(|s| *s) => break,
            };
            match received {
                Ok(Some(delivery)) => {
                    let crawler = self.clone();
                    running.spawn(async move {
                        crawler.run(delivery).await;
                        drop(slot);
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "cannot receive from the crawl queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        // Crawls cut short run again once their leases run out.
        running.abort_all();
        while running.join_next().await.is_some() {}
    }

    fn lease_until(&self) -> Millis {
        now_millis() + self.settings.lease.as_millis() as Millis
    }

    /// Runs one crawl job and settles its message.
    async fn run(&self, delivery: Delivery) {
        let id = delivery.job_id;
        let job = match self
            .call(self.store.start_job(id, self.lease_until(), now_millis()))
            .await
        {
            Ok(Start::Started(job)) => job,
            Ok(Start::Finished(_) | Start::NotFound) => {
                let _ = self.call(self.queue.ack(delivery)).await;
                return;
            }
            Err(e) => {
                let _ = self
                    .call(self.queue.retry(delivery, Duration::from_secs(5), &e))
                    .await;
                return;
            }
        };
        let span = tracing::info_span!(
            parent: None,
            "job",
            job = id,
            kind = job.kind.as_str(),
            attempt = job.attempts,
            otel.name = "job crawl",
            otel.kind = "consumer",
        );
        if let Some(parent) = job.traceparent.as_ref().or(delivery.traceparent.as_ref()) {
            trawl_service::trace::continue_from_traceparent(&span, parent);
        }
        self.run_started(delivery, job).instrument(span).await;
    }

    /// Runs a crawl job the store has started.
    async fn run_started(&self, delivery: Delivery, job: trawl_store::JobRecord) {
        let id = job.id;
        if job.attempts > job.max_attempts.max(1) {
            let error = format!(
                "gave up after {} attempts that did not finish",
                job.max_attempts
            );
            self.settle(delivery, id, None, Err(Failure::Crawl(error)))
                .await;
            return;
        }
        let source = match self.call(self.store.payload(id)).await {
            Ok(Some(payload)) => std::str::from_utf8(&payload)
                .ok()
                .and_then(|s| s.parse::<i64>().ok()),
            Ok(None) => None,
            Err(e) => {
                return self
                    .settle(delivery, id, None, Err(Failure::Dependency(e)))
                    .await;
            }
        };
        let Some(source) = source else {
            let error = "its source is missing from the store".to_owned();
            return self
                .settle(delivery, id, None, Err(Failure::Crawl(error)))
                .await;
        };
        let started = now_millis();
        let outcome = self.crawl(&delivery, id, source, started).await;
        self.settle(delivery, id, Some((source, started)), outcome)
            .await;
    }

    /// Records how a crawl ended, and settles its message.
    async fn settle(
        &self,
        delivery: Delivery,
        job: i64,
        run: Option<(i64, Millis)>,
        outcome: Result<RunStats, Failure>,
    ) {
        let now = now_millis();
        let started = run.map_or(now, |(_, started)| started);
        let record = |outcome: &'static str| {
            use trawl_service::metrics::Metric;
            ::metrics::counter!(Metric::Jobs.name(), "outcome" => outcome).increment(1);
            ::metrics::histogram!(Metric::JobDuration.name(), "outcome" => outcome)
                .record(Duration::from_millis((now - started).max(0) as u64).as_secs_f64());
        };
        let (finish, state, stats) = match outcome {
            Ok(stats) => {
                let pages = stats.pages;
                tracing::info!(
                    job,
                    fetched = pages.fetched,
                    added = pages.added,
                    changed = pages.changed,
                    unchanged = pages.unchanged,
                    restored = pages.restored,
                    removed = pages.removed,
                    incomplete = stats.incomplete.as_deref().unwrap_or(""),
                    "crawl succeeded"
                );
                (
                    Finish::Succeeded {
                        added: pages.added + pages.restored,
                        replaced: pages.changed,
                        deleted: pages.removed,
                        kept: 0,
                    },
                    "succeeded",
                    stats,
                )
            }
            Err(Failure::Ended(error, mut stats)) => {
                tracing::warn!(job, error, "crawl failed");
                stats.error = Some(error.clone());
                (Finish::Failed { error }, "failed", *stats)
            }
            Err(Failure::Crawl(error)) => {
                tracing::warn!(job, error, "crawl failed");
                (
                    Finish::Failed {
                        error: error.clone(),
                    },
                    "failed",
                    RunStats {
                        error: Some(error),
                        ..RunStats::default()
                    },
                )
            }
            Err(Failure::Dependency(error)) => {
                tracing::warn!(
                    job,
                    error,
                    "crawl interrupted: its store or queue failed; it runs again later"
                );
                let _ = self
                    .call(self.store.finish_job(
                        job,
                        Finish::Retry {
                            error: error.clone(),
                        },
                        now,
                    ))
                    .await;
                let _ = self
                    .call(self.queue.retry(delivery, Duration::from_secs(30), &error))
                    .await;
                record("retried");
                return;
            }
        };
        record(state);
        record_pages(&stats);
        if let Some((source, started)) = run {
            let _ = self
                .call(self.store.put_run(CrawlRunRecord {
                    job_id: job,
                    source_id: source,
                    state: state.to_owned(),
                    started_at: started,
                    finished_at: Some(now),
                    stats: serde_json::to_string(&stats).expect("stats serialise"),
                }))
                .await;
        }
        let _ = self.call(self.store.finish_job(job, finish, now)).await;
        let _ = self.call(self.queue.ack(delivery)).await;
    }

    /// Crawls a source, keeping the job's leases while it runs.
    async fn crawl(
        &self,
        delivery: &Delivery,
        job: i64,
        source: i64,
        started: Millis,
    ) -> Result<RunStats, Failure> {
        let record = self
            .call(self.store.source(source))
            .await
            .map_err(Failure::Dependency)?
            .ok_or_else(|| Failure::Crawl(format!("source {source} was removed")))?;
        let spec = serde_json::from_str::<SourceIn>(&record.spec)
            .map_err(|e| e.to_string())
            .and_then(|s| s.validate().map_err(|e| e.to_string()))
            .map_err(|e| Failure::Crawl(format!("source {source} cannot be read: {e}")))?;
        let known: HashMap<String, PageRecord> = self
            .call(self.store.pages(source))
            .await
            .map_err(Failure::Dependency)?
            .into_iter()
            .map(|p| (p.url.clone(), p))
            .collect();
        let fetcher =
            Fetcher::new(self.settings.crawl.clone()).map_err(|e| Failure::Crawl(e.to_string()))?;
        let mut indexed: HashMap<String, Vec<u8>> = known
            .values()
            .filter_map(|p| Some((p.doc_id.clone()?, p.hash.clone())))
            .collect();
        // What the source's records say is indexed and the index does not
        // hold (another source's removal took it before owners were kept,
        // or someone removed it by id) is fetched whole and indexed again.
        let lost = self.lost(source, &indexed).await;
        if !lost.is_empty() {
            tracing::info!(
                source,
                documents = lost.len(),
                "documents of the source are missing from the index: indexing them again"
            );
        }
        indexed.retain(|id, _| !lost.contains(id));
        let indexed_texts = indexed
            .iter()
            .map(|(id, hash)| (hash.clone(), id.clone()))
            .collect();
        let walk = Walk {
            indexed,
            indexed_texts,
            lost,
            crawler: self,
            job,
            source,
            include: spec
                .include
                .iter()
                .map(|g| Glob::new(g.trim_start_matches('/')))
                .collect(),
            exclude: spec
                .exclude
                .iter()
                .map(|g| Glob::new(g.trim_start_matches('/')))
                .collect(),
            spec,
            fetcher,
            known,
            state: Mutex::new(WalkState::default()),
        };
        let work = walk.run();
        tokio::pin!(work);
        // The leases and the run's report are kept beside the crawl, both
        // polled at once: were the crawl suspended while these waited, a
        // transaction of its (SQLite's one writer) would hold the lock
        // they wait for, and both would wait out their deadlines.
        let keeper = async {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            tick.tick().await;
            loop {
                tick.tick().await;
                let (done, stats) = walk.progress();
                let _ = self
                    .call(self.store.progress(job, done, self.lease_until()))
                    .await;
                let _ = self.call(self.queue.keep(&[delivery])).await;
                let _ = self
                    .call(self.store.put_run(CrawlRunRecord {
                        job_id: job,
                        source_id: source,
                        state: "running".to_owned(),
                        started_at: started,
                        finished_at: None,
                        stats: serde_json::to_string(&stats).expect("stats serialise"),
                    }))
                    .await;
            }
        };
        tokio::pin!(keeper);
        let done = tokio::select! {
            done = &mut work => done,
            never = &mut keeper => never,
        };
        // The last count, not the last tick's: the job keeps it.
        let (pages, _) = walk.progress();
        let _ = self
            .call(self.store.progress(job, pages, self.lease_until()))
            .await;
        done.map_err(|failure| match failure {
            Failure::Crawl(error) => Failure::Ended(error, Box::new(walk.progress().1)),
            other => other,
        })
    }

    /// Which of `indexed`'s documents the index does not hold. Nothing,
    /// while jobs of the source wait for the index (their documents are
    /// not lost, only not yet written).
    async fn lost(&self, source: i64, indexed: &HashMap<String, Vec<u8>>) -> HashSet<String> {
        match self.call(self.store.pending_jobs(source)).await {
            Ok(0) => {}
            _ => return HashSet::new(),
        }
        let index = self.index.clone();
        let ids: Vec<String> = indexed.keys().cloned().collect();
        tokio::task::spawn_blocking(move || {
            ids.into_iter()
                // An index that cannot be read says nothing is lost.
                .filter(|id| index.contains(id).is_ok_and(|held| !held))
                .collect()
        })
        .await
        .unwrap_or_default()
    }
}

/// KiB of pages parsed at once: one page as large as `max_page_bytes`
/// allows (5 MiB) and a little more.
const PARSE_KIB: u32 = 6 * 1024;

/// Links of a site's page kept at most: a page with more makes its crawl
/// unable to tell which pages left the site.
const MAX_LINKS_PER_PAGE: usize = 2_000;

/// Bytes of a site's page's links recorded at most (for the crawl that
/// finds it unchanged); past them, [`MORE_LINKS`].
const MAX_RECORDED_LINK_BYTES: usize = 64 * 1024;

/// The last line of a page's recorded links when it had more than were
/// recorded: a crawl that follows them cannot tell what left the site.
const MORE_LINKS: &str = "#more";

/// One crawl of one source.
struct Walk<'c> {
    crawler: &'c Crawler,
    job: i64,
    source: i64,
    spec: SourceSpec,
    include: Vec<Glob>,
    exclude: Vec<Glob>,
    fetcher: Fetcher,
    /// What earlier crawls recorded, by URL.
    known: HashMap<String, PageRecord>,
    /// What the index holds of the source: documents by id, and their
    /// texts' hashes; and the other way round.
    indexed: HashMap<String, Vec<u8>>,
    indexed_texts: HashMap<Vec<u8>, String>,
    /// Documents the source's records name that the index lacks: their
    /// pages are fetched whole (not conditionally) and indexed again.
    lost: HashSet<String>,
    state: Mutex<WalkState>,
}

#[derive(Default)]
struct WalkState {
    stats: RunStats,
    /// Pages (by the URL they were fetched at) this crawl accounted for.
    seen: HashSet<String>,
    /// Documents this crawl indexed or kept, by id, and their texts'
    /// hashes: a second page with either is a duplicate.
    documents: HashSet<String>,
    hashes: HashSet<Vec<u8>>,
    /// Waiting to be handed over.
    add: Vec<Document>,
    records: Vec<PageRecord>,
    /// Records of pages that no longer give the document they gave:
    /// written with the removals, at the end (a crawl that fails before
    /// leaves the old records, which still name the documents the source
    /// holds).
    held: Vec<PageRecord>,
    /// Documents whose pages went, and those pages: removed at the end of
    /// the crawl (a document another page still has stays).
    gone_documents: HashSet<String>,
    forget: Vec<String>,
    /// Pages handled.
    done: u64,
}

/// What became of one page.
enum Handled {
    /// Read (or unchanged, with the links it had): its links, for a site
    /// crawl.
    Links(Vec<Url>),
    /// Accounted for, with nothing to follow (gone, not a page trawl
    /// indexes).
    Nothing,
    /// Answered `304`: as it was, its links those recorded last time
    /// (read when they are wanted).
    Unchanged,
    /// Not read (no answer, an error status, refused): what it links to
    /// is not known. Why, for the run's report.
    Failed(String),
}

/// Pages a sitemap or feed crawl will fetch, each once, at most the
/// source's `max_pages`.
struct Wanted {
    urls: Vec<Url>,
    unique: HashSet<String>,
    max: usize,
}

impl Wanted {
    fn new(max: usize) -> Self {
        Self {
            urls: Vec::new(),
            unique: HashSet::new(),
            max,
        }
    }

    /// Takes `url` unless it is there already; `false` when there is no
    /// room for it.
    fn take(&mut self, url: Url) -> bool {
        if self.unique.contains(url.as_str()) {
            return true;
        }
        if self.urls.len() >= self.max {
            return false;
        }
        self.unique.insert(url.as_str().to_owned());
        self.urls.push(url);
        true
    }
}

impl Walk<'_> {
    fn progress(&self) -> (u64, RunStats) {
        let state = self.state.lock().expect("not poisoned");
        let mut stats = state.stats.clone();
        stats.pages.fetched = self.fetcher.requests();
        stats.pages.bytes = self.fetcher.bytes();
        (state.done, stats)
    }

    fn error(&self, kind: &str) {
        *self
            .state
            .lock()
            .expect("not poisoned")
            .stats
            .errors
            .entry(kind.to_owned())
            .or_default() += 1;
    }

    /// This crawl cannot tell which pages left the source: it removes only
    /// what it has proof of (a 404, a 410, `noindex`, robots.txt), nothing
    /// for not having seen it. The first reason is kept.
    fn incomplete(&self, reason: impl FnOnce() -> String) {
        let mut state = self.state.lock().expect("not poisoned");
        if state.stats.incomplete.is_none() {
            state.stats.incomplete = Some(reason());
        }
    }

    fn path(url: &Url) -> String {
        let path = url.path().trim_start_matches('/');
        match url.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        }
    }

    fn may_fetch(&self, url: &Url) -> bool {
        let path = Self::path(url);
        if self.exclude.iter().any(|g| g.matches(&path)) {
            return false;
        }
        self.spec.kind != SourceKind::Site
            || self
                .spec
                .scope
                .iter()
                .any(|p| url.as_str().starts_with(p.as_str()))
    }

    fn may_index(&self, url: &Url) -> bool {
        self.include.is_empty() || self.include.iter().any(|g| g.matches(&Self::path(url)))
    }

    fn max_pages(&self) -> usize {
        self.spec.max_pages as usize
    }

    /// Crawls the source. A crawl that cannot read its source at all (the
    /// sitemap, the feed, the dump, every start page) fails and changes
    /// nothing; one that read it whole removes the pages it no longer
    /// found; one that read part of it removes only what it has proof of.
    async fn run(&self) -> Result<RunStats, Failure> {
        match self.spec.kind {
            SourceKind::Sitemap => {
                let pages = self.sitemap().await?;
                self.pages(pages).await?;
            }
            SourceKind::Feed => {
                let pages = self.feed().await?;
                self.pages(pages).await?;
            }
            SourceKind::Site => self.site().await?,
            SourceKind::Jsonl => self.jsonl().await?,
        }
        let complete = self
            .state
            .lock()
            .expect("not poisoned")
            .stats
            .incomplete
            .is_none();
        if complete {
            self.sweep();
        }
        self.flush(true).await?;
        Ok(self.progress().1)
    }

    /// The source's own URL (a sitemap's, feed's or dump's: validated when
    /// the source was made).
    fn source_url(&self, what: &str) -> Result<Url, Failure> {
        self.spec
            .url
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|e| Failure::Crawl(format!("the {what}'s URL: {e}")))
    }

    /// Opens a sitemap, feed or dump (its body to be read as it streams
    /// in): anything but a `2xx` or `304` is an error.
    async fn open(
        &self,
        url: &Url,
        what: &str,
        conditional: &Conditional,
    ) -> Result<trawl_crawl::Opened, String> {
        let limit = self.crawler.settings.crawl.max_document_bytes;
        let opened = self
            .fetcher
            .open(url, conditional, limit)
            .await
            .map_err(|e| format!("the {what} {}: {e}", redact::url(url)))?;
        if !(200..300).contains(&opened.status) && opened.status != 304 {
            return Err(format!(
                "the {what} {} answered {}",
                redact::url(url),
                opened.status
            ));
        }
        Ok(opened)
    }

    /// The pages a sitemap (and the sitemaps it lists) names, within
    /// `max_pages`. The source's own sitemap must be read; one it lists
    /// that cannot be leaves the crawl unable to tell what left.
    async fn sitemap(&self) -> Result<Vec<Url>, Failure> {
        let root = self.source_url("sitemap")?;
        let mut queue = VecDeque::from([root.clone()]);
        let mut visited: HashSet<String> = HashSet::new();
        let mut wanted = Wanted::new(self.max_pages());
        while let Some(url) = queue.pop_front() {
            if !visited.insert(url.as_str().to_owned()) {
                continue;
            }
            match self
                .read_sitemap(&url, &mut wanted, &mut queue, &visited)
                .await
            {
                Ok(true) => {}
                // Full: no room for the rest.
                Ok(false) => break,
                Err(e) if url == root => return Err(Failure::Crawl(e)),
                Err(e) => {
                    tracing::info!(error = %e, "a listed sitemap cannot be read");
                    self.error("sitemap");
                    self.incomplete(|| format!("{e}: the pages it lists are unknown"));
                }
            }
        }
        Ok(wanted.urls)
    }

    /// Reads one sitemap into `wanted` (its pages) and `queue` (the
    /// sitemaps an index lists); `false` once `wanted` is full.
    async fn read_sitemap(
        &self,
        url: &Url,
        wanted: &mut Wanted,
        queue: &mut VecDeque<Url>,
        visited: &HashSet<String>,
    ) -> Result<bool, String> {
        let opened = self.open(url, "sitemap", &Conditional::default()).await?;
        let limit = self.crawler.settings.crawl.max_document_bytes;
        let mut listed = trawl_crawl::stream(opened, limit, |body, hand| {
            read::sitemap_each(body, &mut |listed| hand(listed))
        });
        let mut room = true;
        while let Some(item) = listed.next().await {
            match item {
                read::Listed::Page(page) => {
                    let page = read::without_fragment(page);
                    if !self.may_fetch(&page) {
                        self.skip();
                        continue;
                    }
                    if !wanted.take(page) {
                        let max = wanted.max;
                        self.incomplete(|| {
                            format!("the source lists more than its max_pages ({max}) pages")
                        });
                        room = false;
                        break;
                    }
                }
                read::Listed::Sitemap(sitemap) => {
                    if visited.contains(sitemap.as_str()) {
                        continue;
                    }
                    if visited.len() + queue.len() >= MAX_SITEMAPS {
                        self.incomplete(|| {
                            format!("the source lists more than {MAX_SITEMAPS} sitemaps")
                        });
                        continue;
                    }
                    queue.push_back(sitemap);
                }
            }
        }
        listed
            .finish()
            .await
            .map_err(|e| format!("the sitemap {}: {e}", redact::url(url)))?;
        Ok(room)
    }

    /// The pages a feed's entries link to, within `max_pages`.
    async fn feed(&self) -> Result<Vec<Url>, Failure> {
        let url = self.source_url("feed")?;
        let opened = self
            .open(&url, "feed", &Conditional::default())
            .await
            .map_err(Failure::Crawl)?;
        let limit = self.crawler.settings.crawl.max_document_bytes;
        let base = opened.url.clone();
        let mut entries = trawl_crawl::stream(opened, limit, move |body, hand| {
            read::feed_each(body, &base, &mut |link| hand(link))
        });
        let mut wanted = Wanted::new(self.max_pages());
        while let Some(link) = entries.next().await {
            let link = read::without_fragment(link);
            if !self.may_fetch(&link) {
                self.skip();
                continue;
            }
            if !wanted.take(link) {
                let max = wanted.max;
                self.incomplete(|| format!("the feed lists more than its max_pages ({max}) pages"));
                break;
            }
        }
        entries
            .finish()
            .await
            .map_err(|e| Failure::Crawl(format!("the feed {}: {e}", redact::url(&url))))?;
        Ok(wanted.urls)
    }

    /// Fetches and handles the pages of a sitemap or feed.
    async fn pages(&self, urls: Vec<Url>) -> Result<(), Failure> {
        let width = self.crawler.settings.crawl.per_host_concurrency.max(1) * 4;
        let mut pages = futures_util::stream::iter(urls)
            .map(|url| async move { self.page(url, false).await })
            .buffer_unordered(width);
        while pages.next().await.is_some() {
            self.flush_if_full().await?;
        }
        Ok(())
    }

    /// A site: breadth first from its start URLs, within its scope and
    /// depth, at most `max_pages` pages known at once. A page whose links
    /// cannot be read (it failed, or had more than this crawl keeps)
    /// leaves the crawl unable to tell which pages left the site; when no
    /// start page can be read, the crawl fails.
    async fn site(&self) -> Result<(), Failure> {
        let max = self.max_pages();
        let mut queued: HashSet<String> = HashSet::new();
        let mut level: Vec<Url> = Vec::new();
        for start in &self.spec.start_urls {
            if let Ok(url) = Url::parse(start)
                && level.len() < max
                && queued.insert(url.as_str().to_owned())
            {
                level.push(url);
            }
        }
        let width = self.crawler.settings.crawl.per_host_concurrency.max(1) * 4;
        let mut fetched = 0usize;
        for depth in 0..=self.spec.max_depth {
            if level.is_empty() {
                break;
            }
            fetched += level.len();
            let follow = depth < self.spec.max_depth;
            let mut next = Vec::new();
            let mut read = 0usize;
            let mut first_failure = None;
            let mut pages = futures_util::stream::iter(std::mem::take(&mut level))
                .map(|url| async move {
                    let shown = redact::url(&url);
                    (shown, self.page(url, follow).await)
                })
                .buffer_unordered(width);
            while let Some((url, handled)) = pages.next().await {
                match handled {
                    Handled::Links(links) => {
                        read += 1;
                        if follow {
                            for link in links {
                                if !self.may_fetch(&link) || queued.contains(link.as_str()) {
                                    continue;
                                }
                                if fetched + next.len() >= max {
                                    self.incomplete(|| {
                                        format!(
                                            "the site has more than its max_pages ({max}) pages"
                                        )
                                    });
                                    break;
                                }
                                queued.insert(link.as_str().to_owned());
                                next.push(link);
                            }
                        }
                    }
                    Handled::Nothing if depth == 0 => {
                        // A start page that is gone, disallowed or not a
                        // page gives no proof of what the site holds.
                        let why = "gone, disallowed or not a page".to_owned();
                        self.incomplete(|| format!("the start page {url} is {why}"));
                        first_failure.get_or_insert(format!("{url}: {why}"));
                    }
                    Handled::Nothing | Handled::Unchanged => read += 1,
                    Handled::Failed(why) => {
                        if follow {
                            self.incomplete(|| {
                                format!("the page {url} could not be read ({why}): its links are unknown")
                            });
                        }
                        first_failure.get_or_insert(format!("{url}: {why}"));
                    }
                }
                self.flush_if_full().await?;
            }
            drop(pages);
            if depth == 0 && read == 0 {
                return Err(Failure::Crawl(format!(
                    "no start page could be read ({}); nothing was changed",
                    first_failure.unwrap_or_default()
                )));
            }
            level = next;
        }
        Ok(())
    }

    fn skip(&self) {
        self.state.lock().expect("not poisoned").stats.pages.skipped += 1;
    }

    /// Fetches one page and decides what the index gets of it; `follow`
    /// when its links are wanted (a site's page above its last level).
    async fn page(&self, url: Url, follow: bool) -> Handled {
        let key = url.as_str().to_owned();
        let known = self.known.get(&key);
        let site = self.spec.kind == SourceKind::Site;
        // Asked conditionally only when an unchanged answer is enough: the
        // document is in the index, and (for a site page whose links are
        // wanted) its links were recorded.
        let conditional = known
            .filter(|k| {
                k.doc_id
                    .as_ref()
                    .is_some_and(|doc| !self.lost.contains(doc))
            })
            .filter(|k| !(site && follow && !k.has_links))
            .map(|k| Conditional {
                etag: k.etag.clone(),
                last_modified: k.last_modified.clone(),
            })
            .unwrap_or_default();
        let limit = self.crawler.settings.crawl.max_page_bytes;
        let fetched = self.fetcher.fetch(&url, &conditional, limit).await;
        let (fetched, kind) = match self.answered(&url, &key, fetched) {
            Ok(read) => read,
            Err(Handled::Unchanged) if site && follow => return self.links_recorded(&key).await,
            Err(handled) => return handled,
        };
        self.read_page(url, key, fetched, kind, follow).await
    }

    /// What an answer means before its body is read: the page is gone,
    /// unchanged, failed, or (`Ok`) there is a page of `kind` to read.
    fn answered(
        &self,
        url: &Url,
        key: &str,
        fetched: Result<Fetched, FetchError>,
    ) -> Result<(Fetched, TextKind), Handled> {
        let key = key.to_owned();
        let mut state = self.state.lock().expect("not poisoned");
        state.done += 1;
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(FetchError::Disallowed(_)) => {
                // robots.txt now says no: it leaves the index.
                state.stats.pages.skipped += 1;
                self.gone(&mut state, &key);
                return Err(Handled::Nothing);
            }
            Err(e) => {
                *state.stats.errors.entry(e.kind().to_owned()).or_default() += 1;
                tracing::debug!(url = %redact::url(url), error = %e, "page not fetched");
                // Kept as it was: a failure is not a removal.
                self.keep(&mut state, &key, None);
                return Err(Handled::Failed(e.kind().to_owned()));
            }
        };
        match fetched.status {
            304 => {
                state.stats.pages.unchanged += 1;
                self.keep(&mut state, &key, Some(&fetched));
                return Err(Handled::Unchanged);
            }
            404 | 410 => {
                self.gone(&mut state, &key);
                return Err(Handled::Nothing);
            }
            200..=299 => {}
            status => {
                *state
                    .stats
                    .errors
                    .entry(format!("http_{status}"))
                    .or_default() += 1;
                self.keep(&mut state, &key, None);
                return Err(Handled::Failed(format!("http_{status}")));
            }
        }
        let Some(kind) = TextKind::of(fetched.content_type.as_deref(), &fetched.url) else {
            *state.stats.errors.entry("type".to_owned()).or_default() += 1;
            state.stats.pages.skipped += 1;
            self.gone(&mut state, &key);
            return Err(Handled::Nothing);
        };
        Ok((fetched, kind))
    }

    /// Reads a page's body: its text, links and directives, and what the
    /// index gets of it.
    async fn read_page(
        &self,
        url: Url,
        key: String,
        fetched: Fetched,
        kind: TextKind,
        follow: bool,
    ) -> Handled {
        // Parsing a page of megabytes takes milliseconds of CPU: off the
        // runtime's threads, which the store's and queue's calls need.
        let token = self.crawler.settings.crawl.robots_token.clone();
        let header = fetched
            .x_robots_tag
            .as_deref()
            .map_or((false, false), |v| read::x_robots_tag(v, &token));
        let body = fetched.body.clone();
        let at = fetched.url.clone();
        // Room to parse, by the page's size: one page of megabytes at a
        // time, many small ones.
        let kib = u32::try_from(fetched.body.len().div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, PARSE_KIB);
        let _parsing = self
            .crawler
            .parsing
            .acquire_many(kib)
            .await
            .expect("never closed");
        let parsed = tokio::task::spawn_blocking(move || {
            let text = String::from_utf8_lossy(&body);
            match kind {
                TextKind::Html => {
                    let (meta, text) = read::page(&text, &at, &token, MAX_LINKS_PER_PAGE);
                    (Some(meta), text)
                }
                TextKind::Markdown => (None, extract_markdown(&text)),
                TextKind::Plain => (None, extract_text(&text)),
            }
        })
        .await;
        let Ok((meta, extracted)) = parsed else {
            let mut state = self.state.lock().expect("not poisoned");
            *state
                .stats
                .errors
                .entry("unreadable".to_owned())
                .or_default() += 1;
            self.keep(&mut state, &key, None);
            return Handled::Failed("unreadable".to_owned());
        };
        self.page_read(url, key, fetched, (meta, header, extracted), follow)
    }

    /// What the index gets of a page that was read.
    fn page_read(
        &self,
        url: Url,
        key: String,
        fetched: Fetched,
        parsed: (Option<read::PageMeta>, (bool, bool), trawl_index::Extracted),
        follow: bool,
    ) -> Handled {
        let site = self.spec.kind == SourceKind::Site;
        let (meta, header, extracted) = parsed;
        let (mut noindex, mut nofollow) = header;
        let mut canonical = None;
        let mut links = Vec::new();
        let meta_more_links = meta.as_ref().is_some_and(|m| m.more_links);
        if let Some(meta) = meta {
            noindex |= meta.noindex;
            nofollow |= meta.nofollow;
            canonical = meta.canonical;
            links = meta.links;
            if meta.more_links && follow {
                let shown = redact::url(&url);
                self.incomplete(|| {
                    format!("the page {shown} has more than {MAX_LINKS_PER_PAGE} links")
                });
            }
        }
        let links = if nofollow { Vec::new() } else { links };
        // What a crawl that finds the page unchanged will follow: its
        // links within the site's scope, at most MAX_RECORDED_LINK_BYTES
        // of them, and a mark when there were more.
        let more = meta_more_links;
        let recorded = site.then(|| {
            let mut recorded = String::new();
            let mut cut = more;
            for link in links.iter().filter(|l| self.may_fetch(l)) {
                if recorded.len() + link.as_str().len() + 1 > MAX_RECORDED_LINK_BYTES {
                    cut = true;
                    break;
                }
                recorded.push_str(link.as_str());
                recorded.push('\n');
            }
            if cut {
                recorded.push_str(MORE_LINKS);
            }
            recorded
        });
        let mut state = self.state.lock().expect("not poisoned");
        if noindex {
            state.stats.pages.skipped += 1;
            self.drop_document(&mut state, &key);
            self.record(&mut state, &key, None, &fetched, Vec::new(), recorded);
            return Handled::Links(links);
        }
        let document_url = read::without_fragment(fetched.url.clone());
        // A page whose canonical URL is another page (of its origin: a
        // page cannot speak for another site) is a copy: the canonical page
        // is indexed when it is crawled, and only it, whatever the order
        // pages are fetched in.
        if let Some(canonical) =
            canonical.filter(|c| c.origin() == fetched.url.origin() && *c != document_url)
        {
            state.stats.pages.skipped += 1;
            self.drop_document(&mut state, &key);
            let mut links = links;
            let recorded = recorded.map(|r| {
                if self.may_fetch(&canonical) {
                    format!("{}\n{r}", canonical.as_str())
                } else {
                    r
                }
            });
            self.record(&mut state, &key, None, &fetched, Vec::new(), recorded);
            links.push(canonical);
            return Handled::Links(links);
        }
        if !self.may_index(&document_url) {
            state.stats.pages.skipped += 1;
            self.drop_document(&mut state, &key);
            self.record(&mut state, &key, None, &fetched, Vec::new(), recorded);
            return Handled::Links(links);
        }
        let title = extracted
            .title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| document_url.to_string());
        let hash = read::text_hash(&title, &extracted.body);
        let id = document_url.as_str().to_owned();
        let previous = known_doc(self.known.get(&key));
        // The same text indexed under another id, by this crawl or (still
        // in the index, its page not yet fetched) an earlier one.
        let same_text = state.hashes.contains(&hash)
            || self
                .indexed_texts
                .get(&hash)
                .is_some_and(|other| *other != id && !state.gone_documents.contains(other));
        if state.documents.contains(&id) || (previous != Some(&id) && same_text) {
            // A duplicate of a page this crawl has: by URL or by text.
            state.stats.pages.skipped += 1;
            if previous.is_some_and(|p| *p != id) {
                self.drop_document(&mut state, &key);
            }
            self.record(&mut state, &key, None, &fetched, Vec::new(), recorded);
            return Handled::Links(links);
        }
        state.documents.insert(id.clone());
        state.hashes.insert(hash.clone());
        if let Some(old) = known_doc(self.known.get(&key)).filter(|old| **old != id) {
            // This URL now names another document: the old one goes,
            // unless another page of the source still has it.
            state.gone_documents.insert(old.clone());
        }
        // The document may have been indexed from another of the
        // source's URLs (a redirect, a canonical copy): what the index
        // holds is what counts.
        let indexed = self.indexed.get(&id);
        if indexed == Some(&hash) {
            state.stats.pages.unchanged += 1;
        } else {
            let limits = self.crawler.indexer.settings().document_limits;
            // A page too long to index whole is indexed by its start.
            let made = Document::new(id.clone(), title, id.clone(), extracted.body, None).and_then(
                |doc| {
                    doc.fit(&limits)
                        .ok_or(trawl_index::InvalidDocument::TooLong {
                            field: "url",
                            size: id.len(),
                            limit: limits.max_url_bytes,
                        })
                },
            );
            match made {
                Ok(doc) => {
                    if self.lost.contains(&id) {
                        state.stats.pages.restored += 1;
                    } else if indexed.is_some() {
                        state.stats.pages.changed += 1;
                    } else {
                        state.stats.pages.added += 1;
                    }
                    state.add.push(doc);
                }
                Err(e) => {
                    tracing::debug!(url = %redact::url(&url), error = %e, "not a document");
                    *state.stats.errors.entry("invalid".to_owned()).or_default() += 1;
                    self.keep(&mut state, &key, None);
                    return Handled::Links(links);
                }
            }
        }
        self.record(&mut state, &key, Some(id), &fetched, hash, recorded);
        Handled::Links(links)
    }

    /// An unchanged site page's links, as recorded when it was last read
    /// (read from the store now: a source's records are not held with
    /// their links).
    async fn links_recorded(&self, key: &str) -> Handled {
        let recorded = self
            .crawler
            .call(self.crawler.store.page_links(self.source, key))
            .await;
        let recorded = match recorded {
            Ok(Some(recorded)) => recorded,
            Ok(None) => return Handled::Failed("its links were not recorded".to_owned()),
            Err(e) => return Handled::Failed(format!("its links cannot be read: {e}")),
        };
        let mut links = Vec::new();
        for line in recorded.lines() {
            if line == MORE_LINKS {
                let shown = redact::url_text(key);
                self.incomplete(|| format!("the page {shown} had more links than were kept"));
            } else if let Ok(link) = Url::parse(line) {
                links.push(link);
            }
        }
        Handled::Links(links)
    }

    /// The page is accounted for as it was before (or, with `fetched`, with
    /// its new validators).
    fn keep(&self, state: &mut WalkState, key: &str, fetched: Option<&Fetched>) {
        state.seen.insert(key.to_owned());
        let Some(known) = self.known.get(key) else {
            return;
        };
        if let Some(doc) = &known.doc_id {
            state.documents.insert(doc.clone());
            state.hashes.insert(known.hash.clone());
        }
        let mut record = known.clone();
        record.seen_job = self.job;
        if let Some(fetched) = fetched {
            record.etag = fetched.etag.clone().or(record.etag);
            record.last_modified = fetched.last_modified.clone().or(record.last_modified);
            record.fetched_at = now_millis();
        }
        state.records.push(record);
    }

    fn record(
        &self,
        state: &mut WalkState,
        key: &str,
        doc_id: Option<String>,
        fetched: &Fetched,
        hash: Vec<u8>,
        links: Option<String>,
    ) {
        state.seen.insert(key.to_owned());
        let drops = known_doc(self.known.get(key)).is_some_and(|old| doc_id.as_ref() != Some(old));
        let record = PageRecord {
            url: key.to_owned(),
            doc_id,
            etag: fetched.etag.clone(),
            last_modified: fetched.last_modified.clone(),
            hash,
            seen_job: self.job,
            fetched_at: now_millis(),
            links,
            has_links: false,
        };
        if drops {
            state.held.push(record);
        } else {
            state.records.push(record);
        }
    }

    /// The page is gone: its document leaves the index, its record the
    /// store.
    fn gone(&self, state: &mut WalkState, key: &str) {
        self.drop_document(state, key);
        if self.known.contains_key(key) {
            state.forget.push(key.to_owned());
        }
    }

    /// The page is accounted for, but no longer gives the document it gave
    /// (a duplicate now, `noindex`, excluded): the document goes at the
    /// end unless another page has it; the page's record stays.
    fn drop_document(&self, state: &mut WalkState, key: &str) {
        state.seen.insert(key.to_owned());
        if let Some(doc) = known_doc(self.known.get(key)) {
            state.gone_documents.insert(doc.clone());
        }
    }

    /// At the end of a crawl that saw the whole source: what it did not
    /// see is gone.
    fn sweep(&self) {
        let mut state = self.state.lock().expect("not poisoned");
        let unseen: Vec<String> = self
            .known
            .keys()
            .filter(|url| !state.seen.contains(*url))
            .cloned()
            .collect();
        for url in unseen {
            self.gone(&mut state, &url);
        }
    }

    async fn flush_if_full(&self) -> Result<(), Failure> {
        let full = {
            let state = self.state.lock().expect("not poisoned");
            state.add.len() >= self.crawler.settings.batch_documents
                || state.records.len() >= 4 * self.crawler.settings.batch_documents
        };
        if full {
            self.flush(false).await
        } else {
            Ok(())
        }
    }

    /// Hands what waits to the index (as jobs), then records the pages:
    /// in this order, so that a crawl killed in between does the work
    /// again rather than miss it. Removals wait for the `last` flush: only
    /// then is it known that no other page of the source has the
    /// document (and a crawl that fails never gets there).
    async fn flush(&self, last: bool) -> Result<(), Failure> {
        let (add, remove, records, forget) = {
            let mut state = self.state.lock().expect("not poisoned");
            let mut records = std::mem::take(&mut state.records);
            let (remove, forget) = if last {
                let mut remove: Vec<String> = state
                    .gone_documents
                    .iter()
                    .filter(|doc| !state.documents.contains(*doc))
                    .cloned()
                    .collect();
                remove.sort();
                state.stats.pages.removed = remove.len() as u64;
                records.append(&mut state.held);
                (remove, std::mem::take(&mut state.forget))
            } else {
                (Vec::new(), Vec::new())
            };
            (std::mem::take(&mut state.add), remove, records, forget)
        };
        let indexer = &self.crawler.indexer;
        if !add.is_empty() {
            indexer
                .add_documents(self.source, &add)
                .await
                .map_err(|e| Failure::Dependency(e.to_string()))?;
        }
        if !remove.is_empty() {
            indexer
                .remove_documents(self.source, remove, None)
                .await
                .map_err(|e| Failure::Dependency(e.to_string()))?;
        }
        let store = &self.crawler.store;
        for records in records.chunks(STORE_BATCH) {
            self.crawler
                .call(store.put_pages(self.source, records))
                .await
                .map_err(Failure::Dependency)?;
        }
        for forget in forget.chunks(STORE_BATCH) {
            self.crawler
                .call(store.delete_pages(self.source, forget))
                .await
                .map_err(Failure::Dependency)?;
        }
        Ok(())
    }

    /// A JSONL dump, read as it streams in: every line a document in
    /// trawl's format; unchanged lines (by hash) are not indexed again.
    async fn jsonl(&self) -> Result<(), Failure> {
        let url = self.source_url("dump")?;
        let key = url.as_str().to_owned();
        // A dump holding a document the index lost is read whole.
        let conditional = self
            .known
            .get(&key)
            .filter(|_| self.lost.is_empty())
            .map(|k| Conditional {
                etag: k.etag.clone(),
                last_modified: k.last_modified.clone(),
            })
            .unwrap_or_default();
        let opened = self
            .open(&url, "dump", &conditional)
            .await
            .map_err(Failure::Crawl)?;
        if opened.status == 304 {
            // Nothing changed: every document stays as it is.
            let mut state = self.state.lock().expect("not poisoned");
            state.stats.pages.unchanged +=
                self.known.values().filter(|k| k.doc_id.is_some()).count() as u64;
            let keys: Vec<String> = self.known.keys().cloned().collect();
            for key in keys {
                state.seen.insert(key);
            }
            return Ok(());
        }
        let validators = Fetched {
            url: opened.url.clone(),
            status: opened.status,
            etag: opened.etag.clone(),
            last_modified: opened.last_modified.clone(),
            content_type: None,
            x_robots_tag: None,
            body: bytes::Bytes::new(),
        };
        let limit = self.crawler.settings.crawl.max_document_bytes;
        // A line is one document: at most what one page may be.
        let max_line = self.crawler.settings.crawl.max_page_bytes;
        let mut lines = trawl_crawl::stream(opened, limit, move |body, hand| {
            read::lines_each(body, max_line, &mut |line| hand(line.map(<[u8]>::to_vec)))
        });
        let mut count = 0usize;
        let mut n = 0usize;
        while let Some(line) = lines.next().await {
            n += 1;
            let line = match line {
                Ok(line) if line.trim_ascii().is_empty() => continue,
                Ok(line) => Ok(line),
                Err(length) => Err(format!("a line of {length} bytes, over {max_line}")),
            };
            count += 1;
            if count > self.max_pages() {
                let max = self.max_pages();
                self.incomplete(|| {
                    format!("the dump holds more than its max_pages ({max}) documents")
                });
                break;
            }
            self.dump_line(&key, n, line);
            self.flush_if_full().await?;
        }
        lines
            .finish()
            .await
            .map_err(|e| Failure::Crawl(format!("the dump {}: {e}", redact::url(&url))))?;
        // The dump itself: its validators, for the next crawl.
        let mut state = self.state.lock().expect("not poisoned");
        let body_hash = read::text_hash("", "");
        self.record(&mut state, &key, None, &validators, body_hash, None);
        Ok(())
    }

    /// One line of a dump.
    fn dump_line(&self, key: &str, n: usize, line: Result<Vec<u8>, String>) {
        let limits = self.crawler.indexer.settings().document_limits;
        let document = line.and_then(|line| {
            std::str::from_utf8(line.trim_ascii())
                .map_err(|_| "not UTF-8".to_owned())
                .and_then(|json| Document::from_json_within(json, &limits))
        });
        let mut state = self.state.lock().expect("not poisoned");
        state.done += 1;
        let document = match document {
            Ok(doc) => doc,
            Err(e) => {
                tracing::debug!(line = n, error = %e, "a bad line in a dump");
                *state.stats.errors.entry("invalid".to_owned()).or_default() += 1;
                // Its document, if it had one, cannot be told apart.
                drop(state);
                self.incomplete(|| format!("line {n} of the dump cannot be read"));
                return;
            }
        };
        let page_key = format!("{key}#{}", document.id);
        let hash = read::text_hash(&document.title, &document.to_json());
        if !state.documents.insert(document.id.clone()) {
            state.stats.pages.skipped += 1;
            return;
        }
        let known = self.known.get(&page_key);
        let lost = self.lost.contains(&document.id);
        if known.is_some_and(|k| k.hash == hash) && !lost {
            state.stats.pages.unchanged += 1;
        } else {
            if lost {
                state.stats.pages.restored += 1;
            } else if known.is_some() {
                state.stats.pages.changed += 1;
            } else {
                state.stats.pages.added += 1;
            }
            state.add.push(document.clone());
        }
        state.seen.insert(page_key.clone());
        state.records.push(PageRecord {
            url: page_key,
            doc_id: Some(document.id),
            etag: None,
            last_modified: None,
            hash,
            seen_job: self.job,
            fetched_at: now_millis(),
            links: None,
            has_links: false,
        });
    }
}

/// Page records written (or forgotten) by one call to the store: a big
/// crawl's work goes in pieces that each end well within the store's
/// time limit.
const STORE_BATCH: usize = 500;

fn known_doc(known: Option<&PageRecord>) -> Option<&String> {
    known.and_then(|k| k.doc_id.as_ref())
}

/// Counts a crawl's pages by what became of them.
fn record_pages(stats: &RunStats) {
    use trawl_service::metrics::Metric;
    let pages = &stats.pages;
    let failed: u64 = stats.errors.values().sum();
    for (outcome, count) in [
        ("added", pages.added),
        ("changed", pages.changed),
        ("unchanged", pages.unchanged),
        ("removed", pages.removed),
        ("skipped", pages.skipped),
        ("failed", failed),
    ] {
        ::metrics::counter!(Metric::CrawlPages.name(), "outcome" => outcome).increment(count);
    }
}
