//! Wiring: which implementation sits behind each seam, per role.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use trawl_api::{CursorKey, ResultsService, SearchService};
use trawl_index::{IndexError, IngestError, LocalIndex, Progress};
use trawl_results::Results;
use trawl_search::engines::{
    ApiKey, Brave, Google, HackerNews, HttpSettings, JsonEngine, MediaWiki, Pointers, Searxng,
    StackExchange,
};
use trawl_search::{Engine, LocalEngine, Searcher, Slot};
use trawl_service::clients::{ClientBuildError, HttpResultsClient, HttpSearchClient};
use trawl_service::health::ReadinessCheck;

use crate::config::{Config, EngineConfig, EngineKind};
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
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Search => "search",
            Self::Results => "results",
            Self::Web => "web",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("cannot index the demo corpus: {0}")]
    Demo(#[from] IngestError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Client(#[from] ClientBuildError),
    #[error("engine `{name}` cannot be set up: {reason}")]
    Engine { name: String, reason: String },
    #[error("start-up task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// A bound, ready-to-run server for one role.
pub struct Application {
    listener: TcpListener,
    router: Router,
    role: Role,
}

impl Application {
    /// Opens what the role needs (the index, clients to other services),
    /// indexes the demo corpus on an empty index when enabled, and binds.
    pub async fn build(
        config: &Config,
        role: Role,
        progress: Box<dyn Progress + Send>,
    ) -> Result<Self, StartError> {
        let cursors = cursor_key(config)?;
        let (routes, readiness) = match role {
            Role::All => {
                let search = open_search(config, progress).await?;
                let pipeline = Arc::new(config.pipeline()?);
                let results: Arc<dyn ResultsService> =
                    Arc::new(Results::new(search.clone(), pipeline.clone()));
                let routes = trawl_search::routes(search, cursors.clone())
                    .merge(trawl_results::routes(results.clone(), pipeline))
                    .merge(trawl_web::routes(results.clone(), cursors));
                (routes, web_readiness(results))
            }
            Role::Search => {
                let search = open_search(config, progress).await?;
                let readiness = readiness_of(search.clone(), |s| {
                    Box::pin(async move { s.readiness().await })
                });
                (trawl_search::routes(search, cursors), readiness)
            }
            Role::Results => {
                let client = HttpSearchClient::new(
                    config.services.search_url.clone(),
                    config.search_client(),
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
                    config.results_client(),
                )?;
                let results: Arc<dyn ResultsService> = Arc::new(client);
                (
                    trawl_web::routes(results.clone(), cursors),
                    web_readiness(results),
                )
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
            router: trawl_service::server::app(
                routes,
                readiness,
                &openapi(role),
                config.server(),
                // Browsers get pages for the server's own refusals too.
                matches!(role, Role::All | Role::Web).then(|| {
                    let page: trawl_service::server::ProblemPage =
                        Arc::new(trawl_web::problem_page);
                    page
                }),
            ),
            role,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Serves until `shutdown` completes, then drains requests in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        trawl_service::server::serve(self.listener, self.router, shutdown).await
    }
}

/// The OpenAPI 3.1 document of a role: what it serves at `/openapi.json`,
/// and what `docs/openapi/<role>.json` holds.
pub fn openapi(role: Role) -> utoipa::openapi::OpenApi {
    use trawl_service::openapi::document;
    match role {
        Role::All => document(
            "trawl",
            "trawl in one process: the search, results and web services' routes on one port. \
             Errors are RFC 9457 problem documents (`application/problem+json`); see docs/api.md.",
            vec![
                trawl_search::openapi(),
                trawl_results::openapi(),
                trawl_web::openapi(),
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

/// The configured engines: the local index (opened, and filled with the
/// demo corpus when asked, when one is declared) and the upstream ones.
async fn open_search(
    config: &Config,
    progress: Box<dyn Progress + Send>,
) -> Result<Arc<dyn SearchService>, StartError> {
    let local = match config.engines.iter().any(|e| e.kind == EngineKind::Local) {
        true => Some(Arc::new(open_index(config, progress).await?)),
        false => None,
    };
    let http = |engine: &EngineConfig| HttpSettings {
        name: engine.name.clone(),
        timeout: config.engine_timeout(engine),
        suspension: config.suspension(),
    };
    let unusable = |engine: &EngineConfig, e: &dyn std::fmt::Display| StartError::Engine {
        name: engine.name.clone(),
        reason: e.to_string(),
    };
    let mut slots = Vec::with_capacity(config.engines.len());
    for engine in &config.engines {
        let timeout = config.engine_timeout(engine);
        let built: Arc<dyn Engine> = match engine.kind {
            EngineKind::Local => Arc::new(LocalEngine::new(
                &engine.name,
                local.clone().expect("opened above"),
            )),
            EngineKind::Mediawiki => Arc::new(
                MediaWiki::new(
                    &http(engine),
                    engine.base_url().expect("validated"),
                    engine.article_url.clone(),
                )
                .map_err(|e| unusable(engine, &e))?,
            ),
            EngineKind::Google => Arc::new(
                Google::new(
                    &http(engine),
                    engine.base_url().expect("a default"),
                    api_key(engine),
                    engine.cx.clone().expect("validated"),
                )
                .map_err(|e| unusable(engine, &e))?,
            ),
            EngineKind::Hackernews => Arc::new(
                HackerNews::new(&http(engine), engine.base_url().expect("a default"))
                    .map_err(|e| unusable(engine, &e))?,
            ),
            EngineKind::Searxng => Arc::new(
                Searxng::new(&http(engine), engine.base_url().expect("validated"))
                    .map_err(|e| unusable(engine, &e))?,
            ),
            EngineKind::Stackexchange => {
                let key = engine
                    .key_env
                    .is_some()
                    .then(|| api_key(engine).into_value())
                    .flatten();
                Arc::new(
                    StackExchange::new(
                        &http(engine),
                        engine.base_url().expect("a default"),
                        engine.site.clone().expect("validated"),
                        key,
                    )
                    .map_err(|e| unusable(engine, &e))?,
                )
            }
            EngineKind::Json => {
                let key = engine
                    .key_env
                    .is_some()
                    .then(|| api_key(engine).into_value())
                    .flatten();
                let header = engine
                    .key_header
                    .clone()
                    .unwrap_or_else(|| "Authorization".to_owned());
                Arc::new(
                    JsonEngine::new(
                        &http(engine),
                        engine.url_template.clone().expect("validated"),
                        Pointers {
                            results: engine.results_pointer.clone().expect("validated"),
                            title: engine.title_pointer.clone().expect("validated"),
                            url: engine.url_pointer.clone().expect("validated"),
                            snippet: engine.snippet_pointer.clone(),
                            total: engine.total_pointer.clone(),
                        },
                        key.map(|key| (header, key)),
                    )
                    .map_err(|e| unusable(engine, &e))?,
                )
            }
            EngineKind::Brave => Arc::new(
                Brave::new(
                    &http(engine),
                    engine.base_url().expect("a default"),
                    api_key(engine),
                )
                .map_err(|e| unusable(engine, &e))?,
            ),
        };
        slots.push(Slot {
            engine: built,
            enabled: engine.enabled,
            timeout,
            weight: engine.weight,
        });
    }
    Ok(Arc::new(Searcher::with_slots(slots)))
}

/// An engine's API key, read from the environment variable its
/// configuration names (and that name, for messages). A missing key is not
/// fatal: the engine reports `auth` errors, and the others serve.
fn api_key(engine: &EngineConfig) -> ApiKey {
    let key_env = engine.key_env.clone().expect("validated");
    let key = std::env::var(&key_env).ok().filter(|k| !k.is_empty());
    if key.is_none() {
        tracing::warn!(engine = %engine.name, key_env, "API key not set: the engine will report `auth` errors");
    }
    ApiKey::new(key, key_env)
}

/// Opens the index (and fills it with the demo corpus when asked) on the
/// blocking pool: it is file I/O and CPU work.
async fn open_index(
    config: &Config,
    progress: Box<dyn Progress + Send>,
) -> Result<LocalIndex, StartError> {
    let dir = config.index_dir();
    let demo = config.demo;
    let index = tokio::task::spawn_blocking(move || -> Result<LocalIndex, StartError> {
        let index = LocalIndex::open_or_create(&dir)?;
        if demo && let Some(report) = demo::ensure(&index, progress.as_ref())? {
            tracing::info!(
                documents = report.documents,
                "indexed the bundled demo corpus (first start)"
            );
        }
        Ok(index)
    })
    .await
    .map_err(|e| StartError::Task(e.to_string()))??;
    tracing::info!(path = %index.path().display(), documents = index.num_docs(), "index open");
    Ok(index)
}
