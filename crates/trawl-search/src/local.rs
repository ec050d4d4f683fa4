use std::sync::{Arc, Mutex, mpsc};

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
/// engine's own ([`SEARCHERS_PER_CORE`] per core), in the order they came.
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
    index: Arc<LocalIndex>,
    searchers: Searchers,
}

impl LocalEngine {
    pub fn new(name: impl Into<String>, index: Arc<LocalIndex>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            name: name.into(),
            index,
            searchers: Searchers::start(SEARCHERS_PER_CORE * cores),
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
        let index = self.index.clone();
        let query = request.query.as_str().to_owned();
        let (offset, limit) = (request.offset(), request.per_page as usize);
        let filter = Filter {
            published_since: request
                .time_range
                .map(|range| OffsetDateTime::now_utc() - range.duration()),
        };
        let page = self
            .searchers
            .run(move || index.search_filtered(&query, &filter, offset, limit))
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
                })
                .collect(),
        })
    }

    async fn documents(&self) -> Option<u64> {
        Some(self.index.num_docs())
    }

    async fn readiness(&self) -> Check {
        // Opening the index is what can fail; a LocalEngine only exists once
        // it is open, so what is left to report is what it holds.
        Check::new(
            &self.name,
            true,
            format!(
                "index open at {}, {} documents",
                self.index.path().display(),
                self.index.num_docs()
            ),
        )
    }
}
