//! Wiring: which implementation sits behind each seam, per role.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use trawl_api::{CursorKey, IndexerService, Readiness, ResultsService, SearchService};
use trawl_index::{IndexError, IngestError, LocalIndex, Progress};
use trawl_indexer::{Crawler, CrawlerHandle, Indexer, Keys, Sources, Worker, WorkerHandle};
use trawl_queue::{AmqpQueue, AmqpSettings, EmbeddedSettings, Queue, QueueError, StoreQueue};
use trawl_results::Results;
use trawl_search::{Build, LocalSource, Searcher, Slot};
use trawl_service::clients::{ClientBuildError, HttpResultsClient, HttpSearchClient};
use trawl_service::connections::ConnectionLimits;
use trawl_service::health::ReadinessCheck;
use trawl_store::{SqlStore, Store, StoreError};

use crate::config::Config;
use crate::demo;

/// Which services this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// search, results and web in one process, calling each other in-process
    All,
    /// the search service: engines and the local index
    Search,
    /// the results service, calling search over HTTP
    Results,
    /// the web pages and public API, calling results over HTTP
    Web,
    /// the write API and the index's only writer, fed by the job queue
    Indexer,
}

impl Role {
    /// Its name, as `--role` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Search => "search",
            Self::Results => "results",
            Self::Web => "web",
            Self::Indexer => "indexer",
        }
    }

    /// Every role, for documents and tests.
    pub const ALL: [Self; 5] = [
        Self::All,
        Self::Search,
        Self::Results,
        Self::Web,
        Self::Indexer,
    ];
}

/// Why trawl could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The index could not be opened.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The demo corpus could not be indexed.
    #[error("cannot index the demo corpus: {0}")]
    Demo(#[from] IngestError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A client of another service could not be made.
    #[error(transparent)]
    Client(#[from] ClientBuildError),
    /// An engine could not be built.
    #[error("engine `{name}` cannot be set up: {reason}")]
    Engine {
        /// The engine's name.
        name: String,
        /// Why it could not be built.
        reason: String,
    },
    /// A task of the start failed.
    #[error("start-up task failed: {0}")]
    Task(String),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The store could not be opened.
    #[error("the job store cannot be used: {0}")]
    Store(#[from] StoreError),
    /// The queue could not be opened.
    #[error("the job queue cannot be used: {0}")]
    Queue(#[from] QueueError),
}

/// A bound, ready-to-run server for one role.
pub struct Application {
    listener: TcpListener,
    connections: ConnectionLimits,
    router: Router,
    role: Role,
    /// The indexer's worker, its crawler, and its store, for the roles
    /// that have them.
    worker: Option<(WorkerHandle, CrawlerHandle)>,
    store: Option<Arc<SqlStore>>,
    /// A search replica's pulling of the index, when it pulls it.
    sync: Option<tokio::task::JoinHandle<()>>,
}

/// What the write path adds to a role: its routes, its readiness, and what
/// runs behind it.
struct WritePath {
    routes: Router,
    readiness: ReadinessCheck,
    worker: WorkerHandle,
    crawler: CrawlerHandle,
    store: Arc<SqlStore>,
    keys: Arc<Keys>,
}

impl Application {
    /// Opens what the role needs (the index, the store and queue, clients
    /// to other services), indexes the demo corpus on an empty index when
    /// enabled, starts the indexer's worker where the role has one, and
    /// binds. Call it within a multi-threaded runtime (the worker and the
    /// services share it).
    pub async fn build(
        config: &Config,
        role: Role,
        progress: Box<dyn Progress + Send>,
    ) -> Result<Self, StartError> {
        // Before anything could write one of them.
        config.register_secrets();
        // Before anything records: the clients set their breakers' gauges
        // as they are made.
        if config.metrics.enabled {
            trawl_service::metrics::set_commit(env!("TRAWL_COMMIT"));
            trawl_service::metrics::install();
        }
        let cursors = cursor_key(config)?;
        let mut store = None;
        let mut worker = None;
        let mut sync = None;
        let (routes, readiness) = match role {
            Role::All => {
                let index = Arc::new(open_index(config, progress).await?);
                let search = open_search(config, LocalSource::Open(index.clone())).await?;
                let pipeline = Arc::new(config.pipeline()?);
                let results: Arc<dyn ResultsService> =
                    Arc::new(Results::new(search.clone(), pipeline.clone()));
                let write = open_write_path(config, index).await?;
                let reads = trawl_search::routes(search, cursors.clone())
                    .merge(trawl_results::routes_beside_search(
                        results.clone(),
                        pipeline,
                    ))
                    .merge(trawl_web::routes(results.clone(), cursors));
                let reads = guard_reads(config, reads, &write.keys);
                let reads = trawl_service::rate::layer(reads, config.rate_limits());
                let readiness = reads_with_writes(web_readiness(results), write.readiness);
                store = Some(write.store);
                worker = Some((write.worker, write.crawler));
                (reads.merge(write.routes), readiness)
            }
            Role::Search => {
                // A replica that pulls its index from the indexer keeps
                // its copy where a replica on a shared disk reads it.
                let mut local = LocalSource::ReadOnly(config.index_dir());
                if let Some(settings) = config.search.index_sync() {
                    tracing::info!(from = %trawl_service::redact::url(&settings.from), "pulling the index from the indexer");
                    let pulls = trawl_search::replica::Pulls::default();
                    sync = Some(trawl_search::replica::spawn(
                        config.index_dir(),
                        settings,
                        pulls.clone(),
                    ));
                    local = LocalSource::Pulled(config.index_dir(), pulls);
                }
                let search = open_search(config, local).await?;
                let readiness = readiness_of(search.clone(), |s| {
                    Box::pin(async move { s.readiness().await })
                });
                (trawl_search::routes(search, cursors), readiness)
            }
            Role::Results => {
                let client = HttpSearchClient::new(
                    config.services.search_url.clone(),
                    config.services.search_client(),
                )?;
                let pipeline = Arc::new(config.pipeline()?);
                let results: Arc<dyn ResultsService> =
                    Arc::new(Results::new(Arc::new(client), pipeline.clone()));
                let readiness = readiness_of(results.clone(), |r| {
                    Box::pin(async move { r.readiness().await })
                });
                (trawl_results::routes(results, pipeline), readiness)
            }
            Role::Web => {
                let client = HttpResultsClient::new(
                    config.services.results_url.clone(),
                    config.services.results_client(),
                )?;
                let results: Arc<dyn ResultsService> = Arc::new(client);
                // Rate limits per client where clients call: the roles
                // behind web see only their own services' addresses.
                let mut routes = trawl_service::rate::layer(
                    trawl_web::routes(results.clone(), cursors),
                    config.rate_limits(),
                );
                if config.auth.require_key_for_reads {
                    let opened = open_store(config).await?;
                    let keys = Arc::new(Keys::new(
                        opened.clone(),
                        config.indexer_settings().dependency_timeout,
                        config.failure_budget(),
                    ));
                    routes = guard_reads(config, routes, &keys);
                    store = Some(opened);
                }
                (routes, web_readiness(results))
            }
            Role::Indexer => {
                let index = Arc::new(open_index(config, progress).await?);
                let write = open_write_path(config, index).await?;
                store = Some(write.store);
                worker = Some((write.worker, write.crawler));
                (write.routes, write.readiness)
            }
        };
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        Ok(Self {
            listener,
            connections: config.connections(),
            router: trawl_service::server::app(
                routes,
                readiness,
                &openapi(role),
                &config.server(),
                // Browsers get pages for the server's own refusals too.
                matches!(role, Role::All | Role::Web).then(|| {
                    let page: trawl_service::server::ProblemPage =
                        Arc::new(trawl_web::problem_page);
                    page
                }),
            ),
            role,
            worker,
            store,
            sync,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Which services it runs.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Serves until `shutdown` completes, then drains requests in flight,
    /// lets the indexer's worker finish (a job it is running is rolled back,
    /// to run again) and closes the store.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let served =
            trawl_service::server::serve(self.listener, self.router, self.connections, shutdown)
                .await;
        if let Some(sync) = self.sync {
            sync.abort();
        }
        if let Some((worker, crawler)) = self.worker {
            crawler.stop().await;
            worker.stop().await;
        }
        if let Some(store) = self.store {
            store.close().await;
        }
        served
    }
}

/// The OpenAPI 3.1 document of a role: what it serves at `/openapi.json`,
/// and what `docs/openapi/<role>.json` holds.
pub fn openapi(role: Role) -> utoipa::openapi::OpenApi {
    use trawl_service::openapi::document;
    match role {
        Role::All => document(
            "trawl",
            "trawl in one process: the search, results, web and indexer services' routes on one \
             port. Errors are RFC 9457 problem documents (`application/problem+json`); see \
             docs/api.md and docs/indexing.md.",
            vec![
                trawl_search::openapi(),
                trawl_results::openapi(),
                trawl_web::openapi(),
                trawl_indexer::openapi(),
            ],
        ),
        Role::Search => document(
            "trawl search service",
            "Asks every selected engine at once and reports each one's raw hits and status. \
             Errors are RFC 9457 problem documents (`application/problem+json`); see docs/api.md.",
            vec![trawl_search::openapi()],
        ),
        Role::Results => document(
            "trawl results service",
            "Cleans, de-duplicates and highlights the search service's hits. Errors are RFC 9457 \
             problem documents (`application/problem+json`); see docs/api.md.",
            vec![trawl_results::openapi()],
        ),
        Role::Web => document(
            "trawl web service",
            "The HTML pages and the public JSON API. Errors of the API are RFC 9457 problem \
             documents (`application/problem+json`); see docs/api.md.",
            vec![trawl_web::openapi()],
        ),
        Role::Indexer => document(
            "trawl indexer service",
            "The write API: batches of documents in, as jobs on a durable queue that this \
             service, the index's only writer, runs. Every operation needs an API key. Errors \
             are RFC 9457 problem documents (`application/problem+json`); see docs/indexing.md.",
            vec![trawl_indexer::openapi()],
        ),
    }
}

/// The key v2 cursors are signed with: from the configured secret, else
/// random for this process.
fn cursor_key(config: &Config) -> Result<CursorKey, StartError> {
    if let Some(secret) = &config.cursor_secret {
        return Ok(CursorKey::from_secret(secret));
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| StartError::Task(format!("no randomness for the cursor key: {e}")))?;
    tracing::info!(
        "API v2 cursors are signed with a key of this process; set TRAWL_CURSOR_SECRET to keep them valid across restarts and replicas"
    );
    Ok(CursorKey::from_bytes(bytes))
}

/// In one process, the write path's checks are reported beside the read
/// path's, but only the read path decides readiness: searches go on while
/// the store or the queue is away (writes answer 503 meanwhile).
fn reads_with_writes(reads: ReadinessCheck, writes: ReadinessCheck) -> ReadinessCheck {
    Arc::new(move || {
        let (reads, writes) = (reads.clone(), writes.clone());
        Box::pin(async move {
            let (mut readiness, written): (Readiness, Readiness) = tokio::join!(reads(), writes());
            readiness.checks.extend(written.checks);
            readiness
        })
    })
}

/// With `auth.require_key_for_reads`, every route of `routes` needs a key.
fn guard_reads(config: &Config, routes: Router, keys: &Arc<Keys>) -> Router {
    if !config.auth.require_key_for_reads {
        return routes;
    }
    routes.route_layer(axum::middleware::from_fn_with_state(
        keys.clone(),
        trawl_indexer::require_key,
    ))
}

/// The store: the configured database, else the SQLite file in the data
/// directory. A PostgreSQL that cannot be reached yet does not stop the
/// start: writes answer 503 until it can be, and it is migrated then.
pub async fn open_store(config: &Config) -> Result<Arc<SqlStore>, StartError> {
    let settings = config.store_settings();
    match SqlStore::open(&settings).await {
        Ok(store) => Ok(Arc::new(store)),
        Err(error) if error.is_transient() && config.store.database_url.is_some() => {
            tracing::warn!(%error, "the job store cannot be reached now: writes answer 503 until it can");
            Ok(Arc::new(SqlStore::connect_lazy(&settings)?))
        }
        Err(error) => Err(error.into()),
    }
}

/// The store, the queue, the worker on the index, and the write API over
/// them.
async fn open_write_path(config: &Config, index: Arc<LocalIndex>) -> Result<WritePath, StartError> {
    let store = open_store(config).await?;
    let shared: Arc<dyn Store> = store.clone();
    let owner = consumer_name();
    let open_queue = |name: String, prefetch: u16| -> Result<Arc<dyn Queue>, StartError> {
        Ok(match &config.queue.amqp_url {
            Some(url) => Arc::new(AmqpQueue::new(AmqpSettings {
                url: url.clone(),
                name,
                prefetch,
                connect_timeout: std::time::Duration::from_millis(
                    config.indexer.dependency_timeout_ms,
                ),
                reconnect_after: std::time::Duration::from_secs(1),
                consumer: owner.clone(),
            })?),
            None => Arc::new(StoreQueue::new(
                shared.clone(),
                EmbeddedSettings {
                    name,
                    owner: owner.clone(),
                    lease: std::time::Duration::from_secs(config.queue.lease_s),
                    poll: std::time::Duration::from_millis(250),
                },
            )),
        })
    };
    let queue = open_queue(config.queue.name.clone(), config.queue.prefetch)?;
    // Crawls have a queue of their own: a long crawl never holds up the
    // index's writes, and every indexer crawls (only one writes).
    let crawls = open_queue(
        format!("{}.crawl", config.queue.name),
        u16::try_from(config.crawl.concurrent_crawls).unwrap_or(u16::MAX),
    )?;
    let snapshots = trawl_indexer::snapshot_routes(index.clone());
    let worker = Worker::new(
        index.clone(),
        shared.clone(),
        queue.clone(),
        config.worker_settings(),
    );
    let state = worker.state();
    let worker = worker.spawn();
    let settings = config.indexer_settings();
    let indexer = Arc::new(Indexer::new(shared.clone(), queue, settings, Some(state)));
    let sources: Arc<dyn trawl_api::SourcesService> = Arc::new(Sources::new(
        shared.clone(),
        indexer.clone(),
        crawls.clone(),
    ));
    let crawler = Crawler::new(
        shared.clone(),
        crawls,
        indexer.clone(),
        index.clone(),
        config.crawler_settings(),
    )
    .spawn();
    let indexer: Arc<dyn IndexerService> = indexer;
    let keys = Arc::new(Keys::new(
        shared,
        settings.dependency_timeout,
        config.failure_budget(),
    ));
    let readiness = readiness_of(indexer.clone(), |i| {
        Box::pin(async move { i.readiness().await })
    });
    Ok(WritePath {
        routes: trawl_indexer::routes(indexer, settings, keys.clone())
            .merge(trawl_indexer::sources_routes(sources, keys.clone()))
            // The whole index, file by file: behind a key unless the owner
            // opened it on purpose, and on a budget of its own either way.
            .merge(trawl_service::rate::layer(
                if config.indexer.public_index {
                    snapshots
                } else {
                    trawl_indexer::guarded_snapshots(
                        snapshots,
                        keys.clone(),
                        config.search.index_key.clone(),
                    )
                },
                config.rate_limits(),
            )),
        readiness,
        worker,
        crawler,
        store,
        keys,
    })
}

/// Names this process to the queue: host, process and a random part, so
/// a restarted process is never taken for its predecessor.
fn consumer_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "trawl".to_owned());
    let random = getrandom::u32().unwrap_or(0);
    format!("{host}:{}:{random:08x}", std::process::id())
}

fn web_readiness(results: Arc<dyn ResultsService>) -> ReadinessCheck {
    readiness_of(results, |r| {
        Box::pin(async move { trawl_web::readiness(r.as_ref()).await })
    })
}

type ReadinessFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = trawl_api::Readiness> + Send>>;

/// A `/readyz` check that asks `service` with `probe` on every call.
fn readiness_of<S: ?Sized + Send + Sync + 'static>(
    service: Arc<S>,
    probe: impl Fn(Arc<S>) -> ReadinessFuture + Send + Sync + 'static,
) -> ReadinessCheck {
    Arc::new(move || probe(service.clone()))
}

/// The configured engines: the local index (when one is declared) and the
/// upstream ones.
async fn open_search(
    config: &Config,
    local: LocalSource,
) -> Result<Arc<dyn SearchService>, StartError> {
    let mut local = Some(local);
    let mut slots = Vec::with_capacity(config.engines.len());
    for engine in &config.engines {
        let mut build = Build {
            http: config.search.http(engine),
            local: local.take(),
        };
        let built = engine
            .spec
            .clone()
            .build(&mut build)
            .map_err(|e| StartError::Engine {
                name: engine.name.clone(),
                reason: e.to_string(),
            })?;
        local = build.local;
        slots.push(Slot {
            engine: built,
            enabled: engine.enabled,
            timeout: config.search.timeout(engine),
            weight: engine.weight,
            categories: engine.categories(),
        });
    }
    Ok(Arc::new(Searcher::with_slots(slots)))
}

/// Opens the index for writing, creating it if need be, and fills it with
/// the demo corpus when asked and it is empty, on the blocking pool (file
/// I/O and CPU work). When another process is writing the index, the demo
/// waits for another start.
async fn open_index(
    config: &Config,
    progress: Box<dyn Progress + Send>,
) -> Result<LocalIndex, StartError> {
    let dir = config.index_dir();
    let demo = config.demo;
    let index = tokio::task::spawn_blocking(move || -> Result<LocalIndex, StartError> {
        let index = LocalIndex::open_or_create(&dir)?;
        if demo {
            match demo::ensure(&index, progress.as_ref()) {
                Ok(Some(report)) => tracing::info!(
                    documents = report.documents,
                    "indexed the bundled demo corpus (first start)"
                ),
                Ok(None) => {}
                Err(IngestError::Index(IndexError::Locked { .. })) => tracing::info!(
                    "another process is writing the index: the demo corpus is not indexed now"
                ),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(index)
    })
    .await
    .map_err(|e| StartError::Task(e.to_string()))??;
    tracing::info!(path = %index.path().display(), documents = index.num_docs(), "index open");
    Ok(index)
}
