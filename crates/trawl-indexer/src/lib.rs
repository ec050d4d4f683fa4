//! The indexer service: the write API, API keys, and the worker that is the
//! index's only writer.
//!
//! A batch of documents travels:
//!
//! ```text
//! POST /v1/documents ─▶ check (batch.rs) ─▶ store: job + payload ─▶ queue: message ─▶ 202 + job
//!                                                                       │
//!          worker (worker.rs): message ─▶ payload ─▶ index writer ─▶ commit ─▶ job succeeded ─▶ ack
//! ```
//!
//! - [`Indexer`] is the in-process [`IndexerService`](trawl_api::IndexerService):
//!   it refuses a bad batch at the door (nothing of it queued), records the
//!   job and its payload in the [`Store`](trawl_store::Store), and publishes
//!   it to the [`Queue`](trawl_queue::Queue); only then is it acknowledged.
//! - [`Worker`] consumes the queue on a thread of its own, one indexer at a
//!   time (a lock file elects it), committing jobs in groups and settling
//!   their messages only after the commit.
//! - [`keys`] makes and checks API keys; [`routes`] serves the write API
//!   behind them.

mod batch;
pub mod crawl;
mod dependency;
mod http;
pub mod keys;
mod openapi;
use openapi::BearerKey;
mod service;
mod snapshots;
mod sources;
mod sources_http;
mod worker;
mod writer;

pub use crawl::{Crawler, CrawlerHandle, CrawlerSettings};
pub use http::{BATCH_TYPES, routes};
pub use keys::{Caller, FailureBudget, KeyError, Keys, NewApiKey, require_key};
pub use service::{Indexer, IndexerSettings};
pub use snapshots::{guarded as guarded_snapshots, snapshot_routes};
pub use sources::Sources;
pub use sources_http::sources_routes;
pub use worker::{Worker, WorkerHandle, WorkerSettings, WorkerState};

/// The write API's routes, as OpenAPI.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(http::submit, http::delete_document, http::jobs, http::job, http::cancel,
        sources_http::create, sources_http::list, sources_http::show, sources_http::replace,
        sources_http::patch, sources_http::remove, sources_http::crawl,
        snapshots::manifest, snapshots::file),
    components(schemas(trawl_api::jobs::DocumentError)),
    modifiers(&BearerKey),
    tags((name = "indexer", description = "The indexer service: documents in, as jobs on a durable queue."),
        (name = "sources", description = "Sites, sitemaps, feeds and dumps the indexer crawls on a schedule (docs/crawling.md)."),
        (name = "replicas", description = "The index's latest commit, which search replicas pull (docs/deploy.md).")),
)]
struct Api;

/// The OpenAPI description of [`routes`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    <Api as utoipa::OpenApi>::openapi()
}
