//! Configuration: defaults < TOML file < environment < command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trawl_indexer::{IndexerSettings, WorkerSettings};
use trawl_results::ResultsConfig;
use trawl_search::EngineSpec;
pub use trawl_search::{EngineConfig, SearchConfig};
use trawl_service::ServicesConfig;
use trawl_service::client::ProxySettings;
use trawl_service::connections::ConnectionLimits;
use trawl_service::logging::LogFormat;
use trawl_service::metrics::MetricsSettings;
use trawl_service::rate::{Budget, RateSettings};
use trawl_service::server::ServerSettings;
use trawl_store::StoreSettings;
use url::Url;

/// trawl's configuration: defaults, then the file, then the environment, then flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the server listens on (`TRAWL_LISTEN`, `--listen`).
    pub listen: SocketAddr,
    /// Where the index lives (`TRAWL_DATA_DIR`, `--data-dir`); unset means the
    /// platform's data directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Index the bundled demo corpus when the index is empty at start.
    pub demo: bool,
    /// Secret that signs API v2 page cursors (`TRAWL_CURSOR_SECRET`). Unset,
    /// each process signs with a random key: cursors then stop working when
    /// it restarts and are not accepted by other replicas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor_secret: Option<String>,
    /// The servers' own limits.
    pub server: ServerConfig,
    /// How the services reach each other.
    pub services: ServicesConfig,
    /// The search service.
    pub search: SearchConfig,
    /// The engines, in the order they are reported. Declaring any replaces
    /// the default (the local index alone).
    #[serde(deserialize_with = "engines")]
    pub engines: Vec<EngineConfig>,
    /// The results service.
    pub results: ResultsConfig,
    /// The database of jobs, keys and sources.
    pub store: StoreConfig,
    /// The job queue.
    pub queue: QueueConfig,
    /// The indexer.
    pub indexer: IndexerConfig,
    /// API keys.
    pub auth: AuthConfig,
    /// Per-client request budgets.
    pub rate_limits: RateLimitConfig,
    /// Crawling sources.
    pub crawl: CrawlConfig,
    /// Logging.
    pub log: LogConfig,
    /// Prometheus metrics (docs/observability.md).
    pub metrics: MetricsConfig,
    /// The environment variables that applied, for `config show`.
    #[serde(skip)]
    pub from_env: Vec<&'static str>,
}

/// Crawling sources (docs/crawling.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrawlConfig {
    /// Sent with every crawl request: name trawl and a page about your
    /// crawl, so that site owners can reach you. Empty: `trawl/VERSION`,
    /// with `server.public_url` as the contact when it is set.
    pub user_agent: String,
    /// The name robots.txt groups are matched against.
    pub robots_token: String,
    /// Requests to one host at once, at most.
    pub per_host_concurrency: usize,
    /// Least time between the starts of two requests to one host; a longer
    /// robots.txt `Crawl-delay` wins (up to `max_crawl_delay_ms`).
    pub delay_ms: u64,
    /// The longest `Crawl-delay` honoured.
    pub max_crawl_delay_ms: u64,
    /// Longest wait for one page, redirects included.
    pub page_timeout_ms: u64,
    /// Largest page read, after decompression (larger: skipped, counted).
    pub max_page_bytes: usize,
    /// Largest sitemap, feed or JSONL dump read, after decompression.
    pub max_document_bytes: usize,
    /// Networks crawls may reach besides the public internet, e.g.
    /// ["10.1.0.0/16"]: loopback, private, link-local and other
    /// non-public addresses are refused unless listed here.
    pub allow_networks: Vec<ipnet::IpNet>,
    /// Crawls one indexer runs at once.
    pub concurrent_crawls: usize,
    /// How often each indexer looks for sources due a crawl.
    pub schedule_every_s: u64,
    /// Documents handed to the index per job.
    pub batch_documents: usize,
}

impl Default for CrawlConfig {
    fn default() -> Self {
        let crawl = trawl_crawl::CrawlSettings::default();
        let crawler = trawl_indexer::CrawlerSettings::default();
        Self {
            user_agent: String::new(),
            robots_token: crawl.robots_token,
            per_host_concurrency: crawl.per_host_concurrency,
            delay_ms: crawl.delay.as_millis() as u64,
            max_crawl_delay_ms: crawl.max_crawl_delay.as_millis() as u64,
            page_timeout_ms: crawl.page_timeout.as_millis() as u64,
            max_page_bytes: crawl.max_page_bytes,
            max_document_bytes: crawl.max_document_bytes,
            allow_networks: crawl.allow_networks,
            concurrent_crawls: crawler.concurrent_crawls,
            schedule_every_s: crawler.schedule_every.as_secs(),
            batch_documents: crawler.batch_documents,
        }
    }
}

/// Where jobs, keys and the embedded queue are kept (docs/indexing.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `postgres://…` (`TRAWL_DATABASE_URL`, `--database-url`); unset, a
    /// SQLite file in the data directory (`trawl.db`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Connections at most.
    pub max_connections: u32,
    /// Longest wait for a connection (including making one).
    pub acquire_timeout_ms: u64,
    /// PostgreSQL's `statement_timeout`.
    pub statement_timeout_ms: u64,
}

/// The job queue (docs/indexing.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// `amqp://…` of a RabbitMQ (`TRAWL_AMQP_URL`, `--amqp-url`); unset,
    /// the queue is rows of the store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amqp_url: Option<String>,
    /// The queue's name (RabbitMQ adds `NAME.retry` and `NAME.dead`).
    pub name: String,
    /// RabbitMQ: messages a consumer holds unacknowledged at most.
    pub prefetch: u16,
    /// Embedded: how long a claimed message stays the worker's without news.
    pub lease_s: u64,
}

/// The write API and its worker (docs/indexing.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexerConfig {
    /// Largest body of `POST /v1/documents`.
    pub max_body_bytes: usize,
    /// Bytes of bodies received and not yet checked, at once; more wait.
    pub max_body_bytes_in_flight: usize,
    /// The same, for the requests of one API key.
    pub max_body_bytes_in_flight_per_key: usize,
    /// Most documents in one batch.
    pub max_documents: usize,
    /// Longest body of one document, in bytes (a longer one is refused;
    /// a crawled page or a file is indexed by its start).
    pub max_document_body_bytes: usize,
    /// Longest title of one document, in bytes.
    pub max_document_title_bytes: usize,
    /// Longest URL of one document, in bytes.
    pub max_document_url_bytes: usize,
    /// Most fields one JSON document may have.
    pub max_document_fields: usize,
    /// Serve the index's commits (`/v1/index/…`, what search replicas
    /// pull) without an API key.
    pub public_index: bool,
    /// Runs a job may take before it fails for good (then dead-lettered).
    pub max_attempts: u32,
    /// The first retry's delay; each attempt doubles it (jittered) up to
    /// `retry_backoff_max_ms`.
    pub retry_backoff_ms: u64,
    /// The longest wait between two attempts of a job.
    pub retry_backoff_max_ms: u64,
    /// Jobs committed to the index together, at most...
    pub group_jobs: usize,
    /// ...and documents.
    pub group_documents: u64,
    /// Longest wait for one call to the store or the queue.
    pub dependency_timeout_ms: u64,
    /// Days finished jobs are kept (then removed; their idempotency keys
    /// may be used again).
    pub keep_finished_jobs_days: u64,
}

/// Who may do what (docs/indexing.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Ask for an API key on searches and pages too (writes always need
    /// one). Applies to the roles users reach: `all` and `web`.
    pub require_key_for_reads: bool,
    /// Requests with a missing or wrong key a client may make a minute,
    /// sustained; past its burst it gets `429` without its key being
    /// looked at.
    pub failures_per_minute: u32,
    /// Refused requests a client may make at once.
    pub failures_burst: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        let throttle = trawl_indexer::FailureBudget::default();
        Self {
            require_key_for_reads: false,
            failures_per_minute: throttle.per_minute,
            failures_burst: throttle.burst,
        }
    }
}

/// What each service takes in (docs/security.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Longest a request may take; a caller's budget can only shorten it.
    pub request_timeout_ms: u64,
    /// Requests served at once; more are shed with 503 and `Retry-After`.
    pub max_in_flight: usize,
    /// Connections open at once; beyond it, accepting pauses (lowered at
    /// start to fit the file-descriptor limit).
    pub max_connections: usize,
    /// From a connection opening, or its previous response, to the end of
    /// the next request's headers.
    pub header_read_timeout_ms: u64,
    /// A connection on which nothing moves for this long is closed.
    pub idle_timeout_ms: u64,
    /// Largest request line and headers together (431, or 414 for the
    /// line alone).
    pub max_header_bytes: usize,
    /// The URL people reach trawl at, e.g. `https://search.example.org`:
    /// absolute links (RSS) are built on it (`TRAWL_PUBLIC_URL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<Url>,
    /// Networks (CIDR) of the reverse proxies in front of trawl: only
    /// their `Forwarded` / `X-Forwarded-*` headers are read.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Per-client rate limits on the public roles (`all`, `web`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Page requests a minute per client, sustained (0: no limit).
    pub pages_per_minute: u32,
    /// Page requests a client may make at once.
    pub pages_burst: u32,
    /// API requests (`/api/…`, `/v1/…`) a minute per client (0: no limit).
    pub api_per_minute: u32,
    /// Requests an API burst may hold.
    pub api_burst: u32,
    /// Requests for the index's commits (`/v1/index/…`) a minute per
    /// client (0: no limit): search replicas poll every 2 s and fetch the
    /// files they lack.
    pub index_per_minute: u32,
    /// Requests an index burst may hold.
    pub index_burst: u32,
    /// Clients (CIDR) never limited: monitoring, your own scripts.
    pub exempt: Vec<ipnet::IpNet>,
    /// Clients tracked at once; beyond it new ones share one budget.
    pub max_clients: usize,
}

/// The documented configuration: every setting at its default, explained
/// (`docs/trawl.example.toml`).
pub const EXAMPLE: &str = include_str!("../../../docs/trawl.example.toml");

const PUBLIC_BEGIN: &str = "# --- public engines: begin ---";
const PUBLIC_END: &str = "# --- public engines: end ---";

/// The documented configuration, with its block of the engines that need
/// no key uncommented when `public_engines` (`trawl config init
/// --with-public-engines`).
pub fn example(public_engines: bool) -> String {
    if !public_engines {
        return EXAMPLE.to_owned();
    }
    let mut inside = false;
    let mut out = String::with_capacity(EXAMPLE.len());
    for line in EXAMPLE.lines() {
        let line = match line {
            PUBLIC_BEGIN => {
                inside = true;
                line
            }
            PUBLIC_END => {
                inside = false;
                line
            }
            _ if inside => line
                .strip_prefix("# ")
                .or_else(|| line.strip_prefix('#'))
                .unwrap_or(line),
            _ => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// An environment variable the configuration reads, and the setting it
/// overrides (a file's value, before flags).
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// Its name.
    pub name: &'static str,
    /// The setting it overrides, as the file spells it.
    pub setting: &'static str,
    /// An example value.
    pub example: &'static str,
}

/// Every environment variable the configuration reads, in the order they
/// apply: the one list the CLI's help, the README and `config show` use.
/// (`TRAWL_CONFIG` names the file; `trawl index add --remote` and `trawl
/// sources` read their key from `TRAWL_API_KEY`.)
pub const ENVIRONMENT: &[EnvVar] = &[
    EnvVar {
        name: "TRAWL_LISTEN",
        setting: "listen",
        example: "0.0.0.0:8080",
    },
    EnvVar {
        name: "TRAWL_DATA_DIR",
        setting: "data_dir",
        example: "/var/lib/trawl",
    },
    EnvVar {
        name: "TRAWL_SEARCH_URL",
        setting: "services.search_url",
        example: "http://search:8081/",
    },
    EnvVar {
        name: "TRAWL_RESULTS_URL",
        setting: "services.results_url",
        example: "http://results:8082/",
    },
    EnvVar {
        name: "TRAWL_DATABASE_URL",
        setting: "store.database_url",
        example: "postgres://trawl@db/trawl",
    },
    EnvVar {
        name: "TRAWL_AMQP_URL",
        setting: "queue.amqp_url",
        example: "amqp://guest:guest@broker:5672/%2f",
    },
    EnvVar {
        name: "TRAWL_PUBLIC_URL",
        setting: "server.public_url",
        example: "https://search.example.org/",
    },
    EnvVar {
        name: "TRAWL_RATE_LIMIT_EXEMPT",
        setting: "rate_limits.exempt",
        example: "10.0.0.0/8,::1/128",
    },
    EnvVar {
        name: "TRAWL_CURSOR_SECRET",
        setting: "cursor_secret",
        example: "a-long-random-string",
    },
    EnvVar {
        name: "TRAWL_INDEX_FROM",
        setting: "search.index_from",
        example: "http://indexer:8084/",
    },
    EnvVar {
        name: "TRAWL_INDEX_KEY",
        setting: "search.index_key",
        example: "a-shared-secret-of-32-characters",
    },
    EnvVar {
        name: "TRAWL_LOG_FORMAT",
        setting: "log.format",
        example: "json",
    },
    EnvVar {
        name: "TRAWL_LOG",
        setting: "log.filter",
        example: "info,trawl_search=debug",
    },
    EnvVar {
        name: "TRAWL_METRICS",
        setting: "metrics.enabled",
        example: "false",
    },
    EnvVar {
        name: "TRAWL_METRICS_ALLOW",
        setting: "metrics.allow",
        example: "10.0.0.0/8,127.0.0.1/32",
    },
];

/// The environment variables as the CLI's help lists them.
pub fn environment_help() -> String {
    let mut help = String::from(
        "Configuration: defaults, then the TOML file (--config, TRAWL_CONFIG), then these\n\
         environment variables, then flags, each overriding the one before:\n",
    );
    for var in ENVIRONMENT {
        help.push_str(&format!("  {:<25} {}\n", var.name, var.setting));
    }
    help
}

/// Reads `[[engines]]`, each error naming the engine it is in.
fn engines<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<EngineConfig>, D::Error> {
    Vec::<toml::Table>::deserialize(deserializer)?
        .into_iter()
        .map(|table| {
            let name = table
                .get("name")
                .and_then(toml::Value::as_str)
                .unwrap_or("")
                .to_owned();
            toml::Value::Table(table)
                .try_into::<EngineConfig>()
                .map_err(|e| serde::de::Error::custom(format!("engine `{name}`: {}", e.message())))
        })
        .collect()
}

/// `GET /metrics` on every role (docs/observability.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Record metrics and serve `/metrics` (`TRAWL_METRICS`).
    pub enabled: bool,
    /// Client networks (CIDR) that may read `/metrics`; others get 404
    /// (`TRAWL_METRICS_ALLOW`). Behind a reverse proxy on the same host,
    /// list the proxy in `server.trusted_proxies`, or every visitor it
    /// forwards looks local.
    pub allow: Vec<ipnet::IpNet>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        let defaults = MetricsSettings::default();
        Self {
            enabled: defaults.enabled,
            allow: defaults.allow,
        }
    }
}

/// How trawl logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json` (`TRAWL_LOG_FORMAT`, `--log-format`).
    pub format: LogFormat,
    /// A `RUST_LOG`-style filter (`TRAWL_LOG`).
    pub filter: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: None,
            demo: true,
            cursor_secret: None,
            server: ServerConfig::default(),
            services: ServicesConfig::default(),
            search: SearchConfig::default(),
            engines: vec![EngineConfig::local()],
            results: ResultsConfig::default(),
            store: StoreConfig::default(),
            queue: QueueConfig::default(),
            indexer: IndexerConfig::default(),
            auth: AuthConfig::default(),
            rate_limits: RateLimitConfig::default(),
            crawl: CrawlConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            from_env: Vec::new(),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        let defaults = StoreSettings::sqlite("");
        Self {
            database_url: None,
            max_connections: defaults.max_connections,
            acquire_timeout_ms: defaults.acquire_timeout.as_millis() as u64,
            statement_timeout_ms: defaults.statement_timeout.as_millis() as u64,
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            amqp_url: None,
            name: "trawl.jobs".to_owned(),
            prefetch: 16,
            lease_s: 60,
        }
    }
}

impl Default for IndexerConfig {
    fn default() -> Self {
        let service = IndexerSettings::default();
        let worker = WorkerSettings::new(PathBuf::new());
        let limits = service.document_limits;
        Self {
            max_body_bytes: service.max_body_bytes,
            max_body_bytes_in_flight: service.max_body_bytes_in_flight,
            max_body_bytes_in_flight_per_key: service.max_body_bytes_in_flight_per_key,
            max_documents: service.max_documents,
            max_document_body_bytes: limits.max_body_bytes,
            max_document_title_bytes: limits.max_title_bytes,
            max_document_url_bytes: limits.max_url_bytes,
            max_document_fields: limits.max_fields,
            public_index: false,
            max_attempts: service.max_attempts,
            retry_backoff_ms: worker.retry_backoff.as_millis() as u64,
            retry_backoff_max_ms: worker.retry_backoff_max.as_millis() as u64,
            group_jobs: worker.group_jobs,
            group_documents: worker.group_documents,
            dependency_timeout_ms: service.dependency_timeout.as_millis() as u64,
            keep_finished_jobs_days: worker.keep_finished.as_secs() / 86_400,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        let defaults = ServerSettings::default();
        let connections = ConnectionLimits::default();
        Self {
            request_timeout_ms: defaults.request_timeout.as_millis() as u64,
            max_in_flight: defaults.max_in_flight,
            max_connections: connections.max_connections,
            header_read_timeout_ms: connections.header_read_timeout.as_millis() as u64,
            idle_timeout_ms: connections.idle_timeout.as_millis() as u64,
            max_header_bytes: connections.max_header_bytes,
            public_url: None,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        let defaults = RateSettings::default();
        Self {
            pages_per_minute: defaults.pages.per_minute,
            pages_burst: defaults.pages.burst,
            api_per_minute: defaults.api.per_minute,
            api_burst: defaults.api.burst,
            index_per_minute: defaults.index.per_minute,
            index_burst: defaults.index.burst,
            exempt: defaults.exempt,
            max_clients: defaults.max_clients,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".to_owned(),
        }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or not a configuration.
    #[error("configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An environment variable's value cannot be used.
    #[error("environment variable {var}={value:?}: {message}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        message: String,
    },
    /// A limit that must not be zero is.
    #[error("{field} must be greater than 0")]
    ZeroTimeout {
        /// The setting.
        field: &'static str,
    },
    /// An engine's declaration is wrong.
    #[error("engine `{name}`: {message}")]
    Engine {
        /// The engine's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A value outside its range.
    #[error("{field} must be {range}")]
    OutOfRange {
        /// The setting.
        field: &'static str,
        /// Its range.
        range: &'static str,
    },
    /// A URL that cannot be used.
    #[error("{field}: {message}")]
    Url {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A hostname rule that cannot be used.
    #[error(transparent)]
    HostnameRule(#[from] trawl_results::RuleError),
}

/// Values given on the command line; `None` leaves the layer below.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--search-url`.
    pub search_url: Option<Url>,
    /// `--results-url`.
    pub results_url: Option<Url>,
    /// `--no-demo`.
    pub no_demo: bool,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--amqp-url`.
    pub amqp_url: Option<String>,
}

impl Config {
    /// Builds the effective configuration from all four layers.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        config.apply_env(env)?;
        config.apply_overrides(overrides);
        config.validate()?;
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for var in ENVIRONMENT {
            if let Some(value) = env(var.name) {
                self.apply_var(var.name, value)?;
                self.from_env.push(var.name);
            }
        }
        Ok(())
    }

    /// Applies one of [`ENVIRONMENT`]'s variables.
    fn apply_var(&mut self, var: &'static str, v: String) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(var: &'static str, value: String) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e: T::Err| ConfigError::Env {
                var,
                message: e.to_string(),
                value,
            })
        }
        /// A comma-separated list of CIDR networks.
        fn networks(var: &'static str, v: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
            v.split(',')
                .map(str::trim)
                .filter(|net| !net.is_empty())
                .map(|net| parse(var, net.to_owned()))
                .collect()
        }
        match var {
            "TRAWL_LISTEN" => self.listen = parse(var, v)?,
            "TRAWL_DATA_DIR" => self.data_dir = Some(PathBuf::from(v)),
            "TRAWL_SEARCH_URL" => self.services.search_url = parse(var, v)?,
            "TRAWL_RESULTS_URL" => self.services.results_url = parse(var, v)?,
            "TRAWL_DATABASE_URL" if !v.is_empty() => self.store.database_url = Some(v),
            "TRAWL_AMQP_URL" if !v.is_empty() => self.queue.amqp_url = Some(v),
            "TRAWL_PUBLIC_URL" if !v.is_empty() => self.server.public_url = Some(parse(var, v)?),
            "TRAWL_RATE_LIMIT_EXEMPT" => self.rate_limits.exempt = networks(var, &v)?,
            "TRAWL_METRICS" => self.metrics.enabled = parse(var, v)?,
            "TRAWL_METRICS_ALLOW" => self.metrics.allow = networks(var, &v)?,
            "TRAWL_CURSOR_SECRET" => self.cursor_secret = Some(v),
            "TRAWL_INDEX_FROM" if !v.is_empty() => self.search.index_from = Some(parse(var, v)?),
            "TRAWL_INDEX_KEY" if !v.is_empty() => self.search.index_key = Some(v),
            "TRAWL_LOG_FORMAT" => {
                self.log.format = match v.as_str() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => {
                        return Err(ConfigError::Env {
                            var,
                            value: v,
                            message: "expected `text` or `json`".to_owned(),
                        });
                    }
                };
            }
            "TRAWL_LOG" => self.log.filter = v,
            // Empty: as if unset.
            "TRAWL_DATABASE_URL" | "TRAWL_AMQP_URL" | "TRAWL_PUBLIC_URL" | "TRAWL_INDEX_FROM"
            | "TRAWL_INDEX_KEY" => {}
            other => unreachable!("{other} is in ENVIRONMENT but not applied"),
        }
        Ok(())
    }

    fn apply_overrides(&mut self, overrides: &Overrides) {
        let o = overrides.clone();
        self.listen = o.listen.unwrap_or(self.listen);
        self.data_dir = o.data_dir.or(self.data_dir.take());
        if let Some(url) = o.search_url {
            self.services.search_url = url;
        }
        if let Some(url) = o.results_url {
            self.services.results_url = url;
        }
        if o.no_demo {
            self.demo = false;
        }
        self.log.format = o.log_format.unwrap_or(self.log.format);
        if let Some(url) = o.database_url {
            self.store.database_url = Some(url);
        }
        if let Some(url) = o.amqp_url {
            self.queue.amqp_url = Some(url);
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let timeouts = [
            (
                "services.connect_timeout_ms",
                self.services.connect_timeout_ms,
            ),
            (
                "services.search_timeout_ms",
                self.services.search_timeout_ms,
            ),
            (
                "services.results_timeout_ms",
                self.services.results_timeout_ms,
            ),
            ("search.engine_timeout_ms", self.search.engine_timeout_ms),
            ("server.request_timeout_ms", self.server.request_timeout_ms),
            ("server.max_in_flight", self.server.max_in_flight as u64),
            ("server.max_connections", self.server.max_connections as u64),
            (
                "server.header_read_timeout_ms",
                self.server.header_read_timeout_ms,
            ),
            ("server.idle_timeout_ms", self.server.idle_timeout_ms),
            (
                "search.max_answer_bytes",
                self.search.max_answer_bytes as u64,
            ),
            (
                "rate_limits.max_clients",
                self.rate_limits.max_clients as u64,
            ),
            ("services.max_in_flight", self.services.max_in_flight as u64),
            (
                "services.breaker.fail_max",
                u64::from(self.services.breaker.fail_max),
            ),
            ("services.breaker.window_s", self.services.breaker.window_s),
            (
                "crawl.per_host_concurrency",
                self.crawl.per_host_concurrency as u64,
            ),
            ("crawl.page_timeout_ms", self.crawl.page_timeout_ms),
            ("crawl.max_page_bytes", self.crawl.max_page_bytes as u64),
            (
                "crawl.max_document_bytes",
                self.crawl.max_document_bytes as u64,
            ),
            (
                "crawl.concurrent_crawls",
                self.crawl.concurrent_crawls as u64,
            ),
            ("crawl.schedule_every_s", self.crawl.schedule_every_s),
            ("crawl.batch_documents", self.crawl.batch_documents as u64),
            (
                "services.breaker.reset_timeout_s",
                self.services.breaker.reset_timeout_s,
            ),
        ];
        if let Some((field, _)) = timeouts.iter().find(|(_, n)| *n == 0) {
            return Err(ConfigError::ZeroTimeout { field });
        }
        self.validate_engines()?;
        if !(8 * 1024..=1024 * 1024).contains(&self.server.max_header_bytes) {
            return Err(ConfigError::OutOfRange {
                field: "server.max_header_bytes",
                range: "8192 to 1048576",
            });
        }
        if let Some(url) = &self.server.public_url
            && (!matches!(url.scheme(), "http" | "https")
                || url.host_str().is_none()
                || url.query().is_some()
                || url.fragment().is_some())
        {
            return Err(ConfigError::Url {
                field: "server.public_url (TRAWL_PUBLIC_URL)",
                message: "must be an http(s) URL with a host and no query or fragment, e.g. \
                          https://search.example.org"
                    .to_owned(),
            });
        }
        if let Some(url) = &self.search.index_from
            && (!matches!(url.scheme(), "http" | "https") || url.host_str().is_none())
        {
            return Err(ConfigError::Url {
                field: "search.index_from (TRAWL_INDEX_FROM)",
                message: "must be the indexer's http(s) URL, e.g. http://indexer:8084/".to_owned(),
            });
        }
        // The whole index is served to whoever holds it.
        if self
            .search
            .index_key
            .as_ref()
            .is_some_and(|key| key.trim().chars().count() < 16)
        {
            return Err(ConfigError::OutOfRange {
                field: "search.index_key (TRAWL_INDEX_KEY)",
                range: "at least 16 characters (e.g. openssl rand -base64 32)",
            });
        }
        if !(100..=3_600_000).contains(&self.search.index_sync_ms) {
            return Err(ConfigError::OutOfRange {
                field: "search.index_sync_ms",
                range: "100 to 3600000",
            });
        }
        if self.search.index_max_bytes == 0 {
            return Err(ConfigError::ZeroTimeout {
                field: "search.index_max_bytes",
            });
        }
        if !(256..=trawl_search::MAX_HIT_URL_BYTES).contains(&self.results.max_url_bytes) {
            return Err(ConfigError::OutOfRange {
                field: "results.max_url_bytes",
                range: "256 to 8192",
            });
        }
        if !(20..=5_000).contains(&self.results.snippet_chars) {
            return Err(ConfigError::OutOfRange {
                field: "results.snippet_chars",
                range: "20 to 5000",
            });
        }
        self.pipeline()?;
        if self.services.retry_budget_percent > 100 {
            return Err(ConfigError::OutOfRange {
                field: "services.retry_budget_percent",
                range: "0 to 100",
            });
        }
        if !(1..=100).contains(&self.services.breaker.failure_rate_percent) {
            return Err(ConfigError::OutOfRange {
                field: "services.breaker.failure_rate_percent",
                range: "1 to 100",
            });
        }
        self.validate_indexer()
    }

    fn validate_indexer(&self) -> Result<(), ConfigError> {
        let positive = [
            (
                "store.max_connections",
                u64::from(self.store.max_connections),
            ),
            ("store.acquire_timeout_ms", self.store.acquire_timeout_ms),
            (
                "store.statement_timeout_ms",
                self.store.statement_timeout_ms,
            ),
            ("queue.prefetch", u64::from(self.queue.prefetch)),
            ("queue.lease_s", self.queue.lease_s),
            ("indexer.max_body_bytes", self.indexer.max_body_bytes as u64),
            ("indexer.max_documents", self.indexer.max_documents as u64),
            ("indexer.max_attempts", u64::from(self.indexer.max_attempts)),
            ("indexer.retry_backoff_ms", self.indexer.retry_backoff_ms),
            ("indexer.group_jobs", self.indexer.group_jobs as u64),
            ("indexer.group_documents", self.indexer.group_documents),
            (
                "indexer.dependency_timeout_ms",
                self.indexer.dependency_timeout_ms,
            ),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, n)| *n == 0) {
            return Err(ConfigError::ZeroTimeout { field });
        }
        if self.indexer.max_body_bytes_in_flight < self.indexer.max_body_bytes {
            return Err(ConfigError::OutOfRange {
                field: "indexer.max_body_bytes_in_flight",
                range: "at least indexer.max_body_bytes",
            });
        }
        if self.indexer.max_body_bytes_in_flight_per_key < self.indexer.max_body_bytes
            || self.indexer.max_body_bytes_in_flight_per_key > self.indexer.max_body_bytes_in_flight
        {
            return Err(ConfigError::OutOfRange {
                field: "indexer.max_body_bytes_in_flight_per_key",
                range: "from indexer.max_body_bytes to indexer.max_body_bytes_in_flight",
            });
        }
        let document_limits = [
            (
                "indexer.max_document_body_bytes",
                self.indexer.max_document_body_bytes,
            ),
            (
                "indexer.max_document_title_bytes",
                self.indexer.max_document_title_bytes,
            ),
            (
                "indexer.max_document_url_bytes",
                self.indexer.max_document_url_bytes,
            ),
            (
                "indexer.max_document_fields",
                self.indexer.max_document_fields,
            ),
        ];
        if let Some((field, _)) = document_limits.iter().find(|(_, n)| *n == 0) {
            return Err(ConfigError::OutOfRange {
                field,
                range: "at least 1",
            });
        }
        if self.indexer.max_document_fields < 4 {
            return Err(ConfigError::OutOfRange {
                field: "indexer.max_document_fields",
                range: "at least 4 (id, title, url, body)",
            });
        }
        if self.queue.name.is_empty() || self.queue.name.len() > 200 {
            return Err(ConfigError::OutOfRange {
                field: "queue.name",
                range: "1 to 200 bytes",
            });
        }
        if let Some(url) = &self.store.database_url
            && !["postgres://", "postgresql://", "sqlite:"]
                .iter()
                .any(|scheme| url.starts_with(scheme))
        {
            return Err(ConfigError::Url {
                field: "store.database_url (TRAWL_DATABASE_URL)",
                message: "must start with postgres://, postgresql:// or sqlite:".to_owned(),
            });
        }
        if let Some(url) = &self.queue.amqp_url {
            if url.starts_with("amqps://") {
                return Err(ConfigError::Url {
                    field: "queue.amqp_url (TRAWL_AMQP_URL)",
                    message: "amqps:// (TLS) is not supported by this build; use amqp:// over a \
                              private network or a TLS-terminating sidecar"
                        .to_owned(),
                });
            }
            if !url.starts_with("amqp://") {
                return Err(ConfigError::Url {
                    field: "queue.amqp_url (TRAWL_AMQP_URL)",
                    message: "must start with amqp://".to_owned(),
                });
            }
        }
        Ok(())
    }

    fn validate_engines(&self) -> Result<(), ConfigError> {
        let invalid = |name: &str, message: String| ConfigError::Engine {
            name: name.to_owned(),
            message,
        };
        if self.search.suspend_after == 0 || self.search.suspend_s == 0 {
            return Err(ConfigError::ZeroTimeout {
                field: "search.suspend_after and search.suspend_s",
            });
        }
        if self.engines.is_empty() {
            return Err(invalid(
                "",
                "at least one engine must be declared".to_owned(),
            ));
        }
        for (i, engine) in self.engines.iter().enumerate() {
            let name = engine.name.as_str();
            if !trawl_api::options::is_engine_name(name) {
                return Err(invalid(
                    name,
                    "a name is 1 to 32 of a-z, 0-9, `-` and `_`, starting with a letter or digit"
                        .to_owned(),
                ));
            }
            if self.engines[..i].iter().any(|e| e.name == engine.name) {
                return Err(invalid(name, "is declared twice".to_owned()));
            }
            if !(engine.weight.is_finite() && engine.weight > 0.0) {
                return Err(invalid(
                    name,
                    "`weight` must be a positive number".to_owned(),
                ));
            }
            if engine.max_answer_bytes == Some(0) {
                return Err(invalid(
                    name,
                    "`max_answer_bytes` must be greater than 0".to_owned(),
                ));
            }
            if engine.timeout_ms == Some(0) {
                return Err(invalid(
                    name,
                    "`timeout_ms` must be greater than 0".to_owned(),
                ));
            }
            if let Some(categories) = &engine.categories {
                if let Some(bad) = categories
                    .iter()
                    .find(|c| !trawl_api::options::is_engine_name(c))
                {
                    return Err(invalid(
                        name,
                        format!(
                            "category `{bad}`: a category is 1 to 32 of a-z, 0-9, `-` and `_`, starting with a letter or digit"
                        ),
                    ));
                }
                if categories.is_empty() {
                    return Err(invalid(
                        name,
                        "`categories` must name at least one category".to_owned(),
                    ));
                }
            }
            if matches!(engine.spec, EngineSpec::Local(_))
                && self.engines[..i]
                    .iter()
                    .any(|e| matches!(e.spec, EngineSpec::Local(_)))
            {
                return Err(invalid(
                    name,
                    "there is one local index: declare it once".to_owned(),
                ));
            }
        }
        Ok(())
    }

    /// What a role's server takes in.
    pub fn server(&self) -> ServerSettings {
        ServerSettings {
            request_timeout: Duration::from_millis(self.server.request_timeout_ms),
            max_in_flight: self.server.max_in_flight,
            proxies: ProxySettings {
                trusted: self.server.trusted_proxies.clone(),
                public_url: self.server.public_url.clone(),
            },
            metrics: MetricsSettings {
                enabled: self.metrics.enabled,
                allow: self.metrics.allow.clone(),
            },
        }
    }

    /// The per-client rate limits of the routes anyone may call.
    pub fn rate_limits(&self) -> RateSettings {
        let r = &self.rate_limits;
        RateSettings {
            pages: Budget {
                per_minute: r.pages_per_minute,
                burst: r.pages_burst,
            },
            api: Budget {
                per_minute: r.api_per_minute,
                burst: r.api_burst,
            },
            index: Budget {
                per_minute: r.index_per_minute,
                burst: r.index_burst,
            },
            exempt: r.exempt.clone(),
            max_clients: r.max_clients,
        }
    }

    /// Requests with a missing or wrong key a client may make.
    pub fn failure_budget(&self) -> trawl_indexer::FailureBudget {
        trawl_indexer::FailureBudget {
            per_minute: self.auth.failures_per_minute,
            burst: self.auth.failures_burst,
        }
    }

    /// The limits on each server's connections.
    pub fn connections(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self.server.max_connections,
            header_read_timeout: Duration::from_millis(self.server.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(self.server.idle_timeout_ms),
            max_header_bytes: self.server.max_header_bytes,
            ..ConnectionLimits::default()
        }
    }

    /// The data directory: configured, else the platform's
    /// (`~/.local/share/trawl` on Linux).
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            directories::ProjectDirs::from("", "", "trawl").map_or_else(
                || PathBuf::from("trawl-data"),
                |dirs| dirs.data_dir().to_owned(),
            )
        })
    }

    /// Where the index is: `index` under the data directory.
    pub fn index_dir(&self) -> PathBuf {
        self.data_dir().join("index")
    }

    /// Where the store is: the configured database, else `trawl.db` in the
    /// data directory.
    pub fn store_settings(&self) -> StoreSettings {
        let mut settings = match &self.store.database_url {
            Some(url) => StoreSettings::url(url),
            None => StoreSettings::sqlite(self.data_dir().join("trawl.db")),
        };
        settings.max_connections = self.store.max_connections;
        settings.acquire_timeout = Duration::from_millis(self.store.acquire_timeout_ms);
        settings.statement_timeout = Duration::from_millis(self.store.statement_timeout_ms);
        settings
    }

    /// The indexer's limits.
    pub fn indexer_settings(&self) -> IndexerSettings {
        IndexerSettings {
            max_body_bytes: self.indexer.max_body_bytes,
            max_body_bytes_in_flight: self.indexer.max_body_bytes_in_flight,
            max_body_bytes_in_flight_per_key: self.indexer.max_body_bytes_in_flight_per_key,
            document_limits: trawl_index::DocumentLimits {
                max_body_bytes: self.indexer.max_document_body_bytes,
                max_title_bytes: self.indexer.max_document_title_bytes,
                max_url_bytes: self.indexer.max_document_url_bytes,
                max_fields: self.indexer.max_document_fields,
            },
            max_documents: self.indexer.max_documents,
            max_attempts: self.indexer.max_attempts,
            dependency_timeout: Duration::from_millis(self.indexer.dependency_timeout_ms),
        }
    }

    /// The worker's settings.
    pub fn worker_settings(&self) -> WorkerSettings {
        WorkerSettings {
            group_jobs: self.indexer.group_jobs,
            group_documents: self.indexer.group_documents,
            lease: Duration::from_secs(self.queue.lease_s),
            retry_backoff: Duration::from_millis(self.indexer.retry_backoff_ms),
            retry_backoff_max: Duration::from_millis(
                self.indexer
                    .retry_backoff_max_ms
                    .max(self.indexer.retry_backoff_ms),
            ),
            dependency_timeout: Duration::from_millis(self.indexer.dependency_timeout_ms),
            keep_finished: Duration::from_secs(
                self.indexer.keep_finished_jobs_days.saturating_mul(86_400),
            ),
            ..WorkerSettings::new(self.data_dir().join("indexer.lock"))
        }
    }

    /// How crawls run.
    pub fn crawler_settings(&self) -> trawl_indexer::CrawlerSettings {
        let crawl = &self.crawl;
        trawl_indexer::CrawlerSettings {
            crawl: std::sync::Arc::new(trawl_crawl::CrawlSettings {
                user_agent: if crawl.user_agent.trim().is_empty() {
                    trawl_crawl::default_user_agent(
                        self.server.public_url.as_ref().map(Url::as_str),
                    )
                } else {
                    crawl.user_agent.trim().to_owned()
                },
                robots_token: crawl.robots_token.clone(),
                per_host_concurrency: crawl.per_host_concurrency,
                delay: Duration::from_millis(crawl.delay_ms),
                max_crawl_delay: Duration::from_millis(crawl.max_crawl_delay_ms),
                page_timeout: Duration::from_millis(crawl.page_timeout_ms),
                max_page_bytes: crawl.max_page_bytes,
                max_document_bytes: crawl.max_document_bytes,
                allow_networks: crawl.allow_networks.clone(),
            }),
            concurrent_crawls: crawl.concurrent_crawls,
            schedule_every: Duration::from_secs(crawl.schedule_every_s),
            lease: Duration::from_secs(self.queue.lease_s),
            batch_documents: crawl.batch_documents,
            dependency_timeout: Duration::from_millis(self.indexer.dependency_timeout_ms),
        }
    }

    /// The results service's pipeline, its hostname rules compiled.
    pub fn pipeline(&self) -> Result<trawl_results::Pipeline, ConfigError> {
        Ok(self.results.pipeline()?)
    }

    /// Keeps this configuration's secrets out of every text trawl writes
    /// from now on ([`trawl_service::redact`]): passwords and keys in the
    /// services', store's and broker's URLs, the replica's key, the cursor
    /// secret. (Engine keys are registered as their engines read them.)
    pub fn register_secrets(&self) {
        use trawl_service::redact;
        let urls = [
            Some(&self.services.search_url),
            Some(&self.services.results_url),
            self.search.index_from.as_ref(),
        ];
        for url in urls.into_iter().flatten() {
            redact::register_url(url, &[]);
        }
        for raw in [&self.store.database_url, &self.queue.amqp_url]
            .into_iter()
            .flatten()
        {
            if let Ok(url) = url::Url::parse(raw) {
                redact::register_url(&url, &[]);
            }
        }
        for secret in [&self.search.index_key, &self.cursor_secret]
            .into_iter()
            .flatten()
        {
            redact::register(secret);
        }
    }

    /// The configuration as TOML, with the data directory resolved and
    /// credentials in URLs masked.
    pub fn show(&self) -> String {
        let mut shown = self.clone();
        shown.data_dir = Some(self.data_dir());
        for url in [
            &mut shown.services.search_url,
            &mut shown.services.results_url,
        ] {
            mask_credentials(url);
        }
        if shown.search.index_key.is_some() {
            shown.search.index_key = Some("****".to_owned());
        }
        if shown.cursor_secret.is_some() {
            shown.cursor_secret = Some("****".to_owned());
        }
        for url in [&mut shown.store.database_url, &mut shown.queue.amqp_url]
            .into_iter()
            .flatten()
        {
            *url = mask_password(url);
        }
        let applied: Vec<String> = ENVIRONMENT
            .iter()
            .filter(|var| self.from_env.contains(&var.name))
            .map(|var| format!("#   {} sets {}\n", var.name, var.setting))
            .collect();
        let header = if applied.is_empty() {
            "# No environment variable applied.\n".to_owned()
        } else {
            format!("# From the environment:\n{}", applied.concat())
        };
        format!(
            "# trawl's effective configuration: defaults < file < environment < flags.\n{header}\n{}",
            toml::to_string(&shown).expect("the configuration always serialises")
        )
    }
}

/// A URL with its password, if any, replaced by `****`; text that is not a
/// URL is masked whole past its scheme, in case it holds one.
fn mask_password(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) => {
            mask_credentials(&mut url);
            url.to_string()
        }
        Err(_) => format!("{}://****", raw.split("://").next().unwrap_or("")),
    }
}

fn mask_credentials(url: &mut Url) {
    if url.password().is_some() {
        let _ = url.set_password(Some("****"));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("trawl.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1111\"\ndemo = false\n[services]\nsearch_url = \"http://file:1/\"\nresults_url = \"http://file:2/\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&file), env(&[]), &Overrides::default()).unwrap();
        assert_eq!(config.listen.port(), 1111);
        assert!(!config.demo);
        assert_eq!(
            config.search.engine_timeout_ms, 3_000,
            "unset keys keep defaults"
        );

        let vars = env(&[
            ("TRAWL_LISTEN", "127.0.0.1:2222"),
            ("TRAWL_SEARCH_URL", "http://env:1/"),
        ]);
        let config = Config::load(Some(&file), vars, &Overrides::default()).unwrap();
        assert_eq!(config.listen.port(), 2222);
        assert_eq!(config.services.search_url.as_str(), "http://env:1/");
        assert_eq!(config.services.results_url.as_str(), "http://file:2/");

        let flags = Overrides {
            listen: Some("127.0.0.1:3333".parse().unwrap()),
            ..Default::default()
        };
        let vars = env(&[("TRAWL_LISTEN", "127.0.0.1:2222")]);
        assert_eq!(
            Config::load(Some(&file), vars, &flags)
                .unwrap()
                .listen
                .port(),
            3333
        );
    }

    #[test]
    fn public_url_and_rate_limit_exemptions_come_from_the_environment_and_are_checked() {
        let config = Config::load(
            None,
            env(&[
                ("TRAWL_PUBLIC_URL", "https://search.example.org/"),
                ("TRAWL_RATE_LIMIT_EXEMPT", "10.0.0.0/8, ::1/128"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            config.server.public_url.as_ref().map(Url::as_str),
            Some("https://search.example.org/")
        );
        assert_eq!(config.rate_limits.exempt.len(), 2);
        for (var, value, says) in [
            (
                "TRAWL_RATE_LIMIT_EXEMPT",
                "10.0.0.0/33",
                "TRAWL_RATE_LIMIT_EXEMPT",
            ),
            ("TRAWL_PUBLIC_URL", "ftp://x.example/", "server.public_url"),
            (
                "TRAWL_PUBLIC_URL",
                "https://x.example/?q=1",
                "server.public_url",
            ),
        ] {
            let err = Config::load(None, env(&[(var, value)]), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{value}: {err}");
        }
        let mut config = Config::default();
        config.server.max_header_bytes = 100;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("max_header_bytes")
        );
    }

    #[test]
    fn the_documented_example_is_the_defaults() {
        let example: Config = toml::from_str(&example(false)).unwrap();
        assert_eq!(example, Config::default());
    }

    #[test]
    fn every_environment_variable_applies_and_the_readme_lists_each() {
        for var in ENVIRONMENT {
            let config = Config::load(None, env(&[(var.name, var.example)]), &Overrides::default())
                .unwrap_or_else(|e| panic!("{}={}: {e}", var.name, var.example));
            assert_eq!(config.from_env, [var.name]);
            let shown = config.show();
            assert!(
                shown.contains(&format!("#   {} sets {}", var.name, var.setting)),
                "{shown}"
            );
            let mut default = Config::load(None, env(&[]), &Overrides::default()).unwrap();
            default.from_env = config.from_env.clone();
            assert_ne!(config, default, "{} changes nothing", var.name);
        }
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("Defaults < TOML file")
            .expect("the README's layering");
        let paragraph = &readme[start..start + readme[start..].find("\n\n").unwrap()];
        for var in ENVIRONMENT {
            assert!(
                paragraph.contains(var.name),
                "the README misses {}",
                var.name
            );
        }
        for word in paragraph.split(|c: char| !(c.is_ascii_uppercase() || c == '_')) {
            if word.starts_with("TRAWL_") {
                assert!(
                    ["TRAWL_CONFIG", "TRAWL_API_KEY"].contains(&word)
                        || ENVIRONMENT.iter().any(|v| v.name == word),
                    "the README names {word}, which is not read"
                );
            }
        }
    }

    #[test]
    fn the_public_engines_block_is_every_keyless_engine_and_valid() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("trawl.toml");
        std::fs::write(&file, example(true)).unwrap();
        let config = Config::load(Some(&file), env(&[]), &Overrides::default()).unwrap();
        let kinds: Vec<&str> = config.engines.iter().map(|e| e.spec.kind()).collect();
        assert_eq!(
            kinds,
            [
                "local",
                "mediawiki",
                "marginalia",
                "hackernews",
                "stackexchange",
                "arxiv",
                "openalex",
                "crossref",
                "pubmed",
                "github",
                "crates",
                "npm",
                "openlibrary",
                "archive",
            ]
        );
        // Only the keyless: no engine here needs a key to answer.
        for engine in &config.engines {
            let shown = toml::to_string(&engine.spec).unwrap();
            assert!(!shown.contains("key_env"), "{shown}");
        }
        // Everything outside the block is as documented.
        assert_eq!(
            Config {
                engines: Config::default().engines,
                ..config
            },
            Config {
                data_dir: None,
                ..Config::load(None, env(&[]), &Overrides::default()).unwrap()
            }
        );
    }

    #[test]
    fn errors_name_the_culprit() {
        let err = Config::load(
            None,
            env(&[("TRAWL_LISTEN", "nonsense")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("environment variable TRAWL_LISTEN=\"nonsense\""),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let err = Config::load(Some(&file), env(&[]), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("unknown field `lisen`"), "{err}");
        std::fs::write(&file, "[search]\nengine_timeout_ms = 0\n").unwrap();
        let err = Config::load(Some(&file), env(&[]), &Overrides::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "search.engine_timeout_ms must be greater than 0"
        );
        // The key the whole index is served to is not a short one.
        let err = Config::load(
            None,
            env(&[("TRAWL_INDEX_KEY", "short-key")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("at least 16 characters"), "{err}");
    }

    #[test]
    fn engines_are_declared_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("engines.toml");
        let load = |toml: &str| {
            std::fs::write(&file, toml).unwrap();
            Config::load(Some(&file), env(&[]), &Overrides::default())
        };
        let config = load(
            "[[engines]]\nname = \"local\"\ntype = \"local\"\n\n\
             [[engines]]\nname = \"wiki\"\ntype = \"mediawiki\"\nbase_url = \"https://en.wikipedia.org/w/api.php\"\nenabled = false\ntimeout_ms = 1500\nweight = 0.5\n",
        )
        .unwrap();
        assert_eq!(config.engines.len(), 2);
        let google = load(
            "[[engines]]\nname = \"g\"\ntype = \"google\"\nkey_env = \"TRAWL_GOOGLE_KEY\"\ncx = \"0123\"\n",
        )
        .unwrap();
        let EngineSpec::Google(settings) = &google.engines[0].spec else {
            panic!("not google: {:?}", google.engines[0]);
        };
        assert_eq!(
            settings.base_url.as_str(),
            "https://www.googleapis.com/customsearch/v1"
        );
        let shown = google.show();
        assert!(shown.contains("key_env = \"TRAWL_GOOGLE_KEY\""), "{shown}");
        let wiki = &config.engines[1];
        assert_eq!(
            (wiki.spec.kind(), wiki.enabled, wiki.weight),
            ("mediawiki", false, 0.5)
        );
        assert_eq!(config.search.timeout(wiki), Duration::from_millis(1500));
        assert_eq!(
            config.search.timeout(&config.engines[0]),
            Duration::from_millis(3000)
        );

        for (toml, message) in [
            ("engines = []\n", "at least one engine"),
            (
                "[[engines]]\nname = \"Wiki\"\ntype = \"local\"\n",
                "engine `Wiki`: a name is",
            ),
            (
                "[[engines]]\nname = \"w\"\ntype = \"mediawiki\"\n",
                "engine `w`: missing field `base_url`",
            ),
            (
                "[[engines]]\nname = \"w\"\ntype = \"mediawiki\"\nbase_url = \"ftp://x/api.php\"\n",
                "engine `w`: `base_url` must be http:// or https://",
            ),
            (
                "[[engines]]\nname = \"j\"\ntype = \"json\"\nurl_template = \"https://x/?q={query}\"\n",
                "engine `j`: missing field `results_pointer`",
            ),
            (
                "[[engines]]\nname = \"j\"\ntype = \"json\"\nurl_template = \"https://x/\"\nresults_pointer = \"/h\"\ntitle_pointer = \"/t\"\nurl_pointer = \"/u\"\n",
                "must contain {query}",
            ),
            (
                "[[engines]]\nname = \"so\"\ntype = \"stackexchange\"\n",
                "engine `so`: missing field `site`",
            ),
            (
                "[[engines]]\nname = \"s\"\ntype = \"searxng\"\n",
                "engine `s`: missing field `base_url`",
            ),
            (
                "[[engines]]\nname = \"a\"\ntype = \"local\"\n[[engines]]\nname = \"a\"\ntype = \"local\"\n",
                "engine `a`: is declared twice",
            ),
            (
                "[[engines]]\nname = \"a\"\ntype = \"local\"\n[[engines]]\nname = \"b\"\ntype = \"local\"\n",
                "declare it once",
            ),
            (
                "[[engines]]\nname = \"a\"\ntype = \"local\"\nweight = -1\n",
                "`weight` must be a positive number",
            ),
            (
                "[[engines]]\nname = \"a\"\ntype = \"bing\"\n",
                "unknown variant `bing`",
            ),
            (
                "[[engines]]\nname = \"g\"\ntype = \"google\"\ncx = \"abc\"\n",
                "engine `g`: missing field `key_env`",
            ),
            (
                "[[engines]]\nname = \"g\"\ntype = \"google\"\nkey_env = \"K\"\n",
                "engine `g`: missing field `cx`",
            ),
            (
                "[[engines]]\nname = \"g\"\ntype = \"google\"\nkey_env = \"K\"\ncx = \"c\"\nbase_url = \"file:///etc/passwd\"\n",
                "`base_url` must be http:// or https://",
            ),
            (
                "[[engines]]\nname = \"w\"\ntype = \"mediawiki\"\nbase_url = \"https://w/api.php\"\nsite = \"x\"\n",
                "engine `w`: unknown field `site`",
            ),
            (
                "[[engines]]\nname = \"l\"\ntype = \"local\"\nbase_url = \"https://x/\"\n",
                "engine `l`: unknown field `base_url`",
            ),
            (
                "[[engines]]\nname = \"w\"\ntype = \"mediawiki\"\n",
                "engine `w`: missing field `base_url`",
            ),
        ] {
            let err = load(toml).unwrap_err().to_string();
            assert!(err.contains(message), "{toml}: {err:?} {message:?}");
        }
    }

    #[test]
    fn store_and_queue_urls_are_layered_checked_and_masked() {
        let vars = env(&[
            (
                "TRAWL_DATABASE_URL",
                "postgres://trawl:hunter2@db:5432/trawl",
            ),
            ("TRAWL_AMQP_URL", "amqp://trawl:sw0rdfish@broker:5672/%2f"),
        ]);
        let config = Config::load(None, vars, &Overrides::default()).unwrap();
        let shown = config.show();
        assert!(
            !shown.contains("hunter2") && !shown.contains("sw0rdfish"),
            "{shown}"
        );
        assert!(
            shown.contains("postgres://trawl:****@db:5432/trawl"),
            "{shown}"
        );
        assert!(
            shown.contains("amqp://trawl:****@broker:5672/%2f"),
            "{shown}"
        );
        let flags = Overrides {
            database_url: Some("postgres://flag@db/x".into()),
            ..Default::default()
        };
        let config = Config::load(
            None,
            env(&[("TRAWL_DATABASE_URL", "postgres://env@db/x")]),
            &flags,
        )
        .unwrap();
        assert_eq!(
            config.store.database_url.as_deref(),
            Some("postgres://flag@db/x")
        );
        assert!(matches!(
            config.store_settings().location,
            trawl_store::Location::Url(_)
        ));
        let default = Config::load(None, env(&[]), &Overrides::default()).unwrap();
        assert!(matches!(default.store_settings().location,
                trawl_store::Location::Sqlite(path) if path.ends_with("trawl.db")));
        for (var, value, message) in [
            (
                "TRAWL_DATABASE_URL",
                "mysql://x/y",
                "must start with postgres://",
            ),
            ("TRAWL_AMQP_URL", "amqps://broker/", "TLS"),
            (
                "TRAWL_AMQP_URL",
                "http://broker/",
                "must start with amqp://",
            ),
        ] {
            let err = Config::load(None, env(&[(var, value)]), &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains(message), "{value}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("small.toml");
        std::fs::write(
            &file,
            "[indexer]\nmax_body_bytes = 1000\nmax_body_bytes_in_flight = 10\n",
        )
        .unwrap();
        let err = Config::load(Some(&file), env(&[]), &Overrides::default()).unwrap_err();
        assert!(
            err.to_string().contains("max_body_bytes_in_flight"),
            "{err}"
        );
    }

    #[test]
    fn show_masks_passwords_and_parses_back() {
        let flags = Overrides {
            search_url: Some(Url::parse("https://user:hunter2@search.internal/").unwrap()),
            data_dir: Some("/srv/trawl".into()),
            ..Default::default()
        };
        let config =
            Config::load(None, env(&[("TRAWL_CURSOR_SECRET", "sw0rdfish")]), &flags).unwrap();
        assert_eq!(config.cursor_secret.as_deref(), Some("sw0rdfish"));
        let shown = config.show();
        assert!(
            !shown.contains("hunter2") && !shown.contains("sw0rdfish"),
            "{shown}"
        );
        assert!(shown.contains("cursor_secret = \"****\""), "{shown}");
        assert!(
            shown.contains("https://user:****@search.internal/"),
            "{shown}"
        );
        let back: Config = toml::from_str(&shown).unwrap();
        assert_eq!(back.data_dir.as_deref(), Some(Path::new("/srv/trawl")));
    }
}
