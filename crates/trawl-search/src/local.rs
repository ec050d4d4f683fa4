//! The local tantivy index as an engine, searched on threads of its own.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::oneshot;
use trawl_api::{Check, SearchRequest};
use trawl_index::time::OffsetDateTime;
use trawl_index::{Filter, LocalIndex};

use crate::engine::{Engine, EngineError, EngineHit, EngineResults};

/// Threads that search the index, per core: two keep every core busy
/// while the next search is handed over; one left the cores idle in
/// between (see docs/BENCHMARKS.md, "Index searches in flight").
const SEARCHERS_PER_CORE: usize = 2;

/// The local tantivy index as an engine. Searches are CPU work that must
/// not stall the async workers: they run on a fixed set of threads of the
/// engine's own (`SEARCHERS_PER_CORE`, two, per core), in the order they came.
/// On tokio's blocking pool every search in flight would get a thread (and
/// its buffers) of its own: under load, a hundred threads and twice the
/// memory for no more throughput. A search whose caller gave up while it
/// waited (its deadline passed) is not run.
///
/// `time_range` keeps documents published within the range before now
/// (undated documents never match one). Documents carry no language and no
/// rating, so `lang` and `safe` do not apply.
pub struct LocalEngine {
    name: String,
    index: Source,
    searchers: Searchers,
}

/// Where the engine's index comes from.
enum Source {
    /// Open already (the process that writes it, or a replica that found it).
    Open(Arc<LocalIndex>),
    /// A search replica's: opened read-only once the indexer has made it.
    Awaited {
        dir: PathBuf,
        opened: OnceLock<Arc<LocalIndex>>,
        /// The last attempt, so that a missing index is looked for at most
        /// twice a second.
        tried: Mutex<Option<(Instant, String)>>,
        /// The pulls from the indexer that bring it, when this replica
        /// pulls: why the last failed, said beside "no index yet".
        pulls: Option<crate::replica::Pulls>,
    },
}

/// The local index a `local` engine searches.
pub enum LocalSource {
    /// Open already: this process writes it.
    Open(Arc<LocalIndex>),
    /// A search replica's: the directory the indexer writes, opened
    /// read-only once it is there.
    ReadOnly(PathBuf),
    /// A search replica's own copy, which `Pulls` brings from the indexer.
    Pulled(PathBuf, crate::replica::Pulls),
}

/// `[[engines]]` with `type = "local"`: no keys of its own.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {}

impl crate::engines::EngineSettings for Settings {
    const KIND: &'static str = "local";
    const CATEGORIES: &'static [&'static str] = &["general", "local"];

    fn build(
        self,
        build: &mut crate::engines::Build,
    ) -> Result<Arc<dyn Engine>, crate::engines::BuildError> {
        let name = build.http.name.clone();
        let engine = Arc::new(match build.local.take() {
            Some(LocalSource::Open(index)) => LocalEngine::new(name, index),
            Some(LocalSource::ReadOnly(dir)) => LocalEngine::read_only(name, dir, None),
            Some(LocalSource::Pulled(dir, pulls)) => LocalEngine::read_only(name, dir, Some(pulls)),
            None => return Err(crate::engines::BuildError::NoLocalIndex),
        });
        let watched = Arc::downgrade(&engine);
        trawl_service::metrics::collect_on_scrape(Arc::new(move || {
            let engine = watched.upgrade();
            Box::pin(async move {
                if let Some(engine) = engine {
                    engine.record_metrics();
                }
            })
        }));
        Ok(engine)
    }
}

/// How often a search replica looks for an index that is not there yet.
const LOOK_AGAIN: Duration = Duration::from_millis(500);

impl LocalEngine {
    /// An engine over an index this process has open.
    pub fn new(name: impl Into<String>, index: Arc<LocalIndex>) -> Self {
        Self::with_source(name.into(), Source::Open(index))
    }

    /// An engine over the index in `dir`, opened read-only: it never
    /// creates nor writes one. Until the indexer has made it (or `pulls`
    /// brought it), searches report an error and readiness says what is
    /// awaited, and why the last pull failed.
    pub fn read_only(
        name: impl Into<String>,
        dir: PathBuf,
        pulls: Option<crate::replica::Pulls>,
    ) -> Self {
        let source = Source::Awaited {
            dir,
            opened: OnceLock::new(),
            tried: Mutex::new(None),
            pulls,
        };
        let engine = Self::with_source(name.into(), source);
        let _ = engine.index();
        engine
    }

    fn with_source(name: String, index: Source) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            name,
            index,
            searchers: Searchers::start(SEARCHERS_PER_CORE * cores),
        }
    }

    /// Sets the index's gauges, for a scrape.
    fn record_metrics(&self) {
        use trawl_service::metrics::Metric;
        let Ok(index) = self.index() else {
            return;
        };
        if let Ok(stats) = index.stats_without_size() {
            ::metrics::gauge!(Metric::IndexDocuments.name()).set(stats.documents as f64);
            ::metrics::gauge!(Metric::IndexSegments.name()).set(stats.segments as f64);
        }
        if let Some(age) = index.last_commit_age() {
            ::metrics::gauge!(Metric::IndexCommitAge.name()).set(age.as_secs_f64());
        }
    }

    /// The index, opening it now if it is awaited and has appeared.
    fn index(&self) -> Result<Arc<LocalIndex>, String> {
        let (dir, opened, tried, pulls) = match &self.index {
            Source::Open(index) => return Ok(index.clone()),
            Source::Awaited {
                dir,
                opened,
                tried,
                pulls,
            } => (dir, opened, tried, pulls),
        };
        let with_pull = |error: String| match pulls
            .as_ref()
            .and_then(crate::replica::Pulls::failure)
        {
            Some(failure) => format!("{error}; the last pull from the indexer failed: {failure}"),
            None => error,
        };
        if let Some(index) = opened.get() {
            return Ok(index.clone());
        }
        let mut tried = tried.lock().expect("not poisoned");
        if let Some(index) = opened.get() {
            return Ok(index.clone());
        }
        if let Some((at, error)) = tried.as_ref()
            && at.elapsed() < LOOK_AGAIN
        {
            return Err(with_pull(error.clone()));
        }
        match LocalIndex::open_read_only(dir) {
            Ok(index) => {
                tracing::info!(path = %dir.display(), documents = index.num_docs(), "index open (read-only)");
                Ok(opened.get_or_init(|| Arc::new(index)).clone())
            }
            Err(e) => {
                // The path goes to the log; what is reported (publicly, in
                // `/readyz` and engine reports) does without it.
                tracing::warn!(error = %e, "index not available");
                let error = e.public_message().to_owned();
                *tried = Some((Instant::now(), error.clone()));
                Err(with_pull(error))
            }
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed pool of threads fed by a queue; they stop when it is dropped.
struct Searchers {
    jobs: mpsc::Sender<Job>,
}

impl Searchers {
    fn start(threads: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("trawl-search-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for a job.
                        let next = queue.lock().map(|queue| queue.recv());
                        let Ok(Ok(job)) = next else { return };
                        // A panicking search fails its own request only.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .expect("the index's search threads start");
        }
        Self { jobs }
    }

    /// Runs `work` on a search thread; `None` if it could not run.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            // Nobody waits for it any more: its deadline passed in the queue.
            if answer.is_closed() {
                return;
            }
            let _ = answer.send(work());
        });
        self.jobs.send(job).ok()?;
        answered.await.ok()
    }
}

#[async_trait]
impl Engine for LocalEngine {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "local"
    }

    async fn search(&self, request: &SearchRequest) -> Result<EngineResults, EngineError> {
        let index = self.index().map_err(EngineError::Failed)?;
        let query = request.query.as_str().to_owned();
        let (offset, limit) = (request.offset(), request.per_page as usize);
        let filter = Filter {
            published_since: request
                .time_range
                .map(|range| OffsetDateTime::now_utc() - range.duration()),
        };
        // Timed where it runs, on a search thread; waiting for one shows
        // as the gap before it.
        let span = tracing::info_span!("index.search", offset, limit);
        let page = self
            .searchers
            .run(move || {
                let _span = span.entered();
                index.search_filtered(&query, &filter, offset, limit)
            })
            .await
            .ok_or_else(|| EngineError::Failed("the search failed".to_owned()))?
            .map_err(|e| EngineError::Failed(e.to_string()))?;
        Ok(EngineResults {
            total: Some(page.total),
            hits: page
                .hits
                .into_iter()
                .map(|hit| EngineHit {
                    title: hit.title,
                    url: hit.url,
                    snippet: hit.snippet,
                    highlights: hit.highlights,
                    score: hit.score,
                    published: hit.published,
                })
                .collect(),
        })
    }

    async fn documents(&self) -> Option<u64> {
        self.index().ok().map(|index| index.num_docs())
    }

    /// The last word completed from the index's title words; the words
    /// before it kept as typed.
    async fn suggest(&self, text: &str, limit: usize) -> Vec<String> {
        let Ok(index) = self.index() else {
            return Vec::new();
        };
        let (head, last) = match text.rsplit_once(char::is_whitespace) {
            Some((head, last)) => (format!("{} ", head.trim_end()), last.to_owned()),
            None => (String::new(), text.to_owned()),
        };
        let words = self
            .searchers
            .run(move || index.suggest_words(&last, limit))
            .await;
        match words {
            Some(Ok(words)) => words.into_iter().map(|w| format!("{head}{w}")).collect(),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "suggestions failed");
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    async fn readiness(&self) -> Check {
        match self.index() {
            // No filesystem path: `/readyz` is served on the public port
            // (the path is in the logs and in `trawl config show`).
            Ok(index) => {
                let mut detail = format!("index open, {} documents", index.num_docs());
                // Serving the copy it has, and saying it may be stale.
                if let Source::Awaited {
                    pulls: Some(pulls), ..
                } = &self.index
                    && let Some(failure) = pulls.failure()
                {
                    detail.push_str(&format!(
                        "; the last pull from the indexer failed: {failure}"
                    ));
                }
                Check::new(&self.name, true, detail)
            }
            Err(error) => Check::new(&self.name, false, error),
        }
    }
}
