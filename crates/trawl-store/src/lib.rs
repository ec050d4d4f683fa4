//! trawl's store: the state the indexer keeps — jobs and their payloads,
//! API keys, and the rows of the embedded job queue — behind one trait,
//! [`Store`], with SQLite (the embedded default, a file in the data
//! directory) and PostgreSQL (the distributed mode) behind it.
//!
//! Both backends run the same SQL through sqlx's `Any` driver wherever the
//! two dialects agree, and name the few places they differ ([`Backend`]):
//! the DDL of the migrations, and row locking when a queue message is
//! claimed. The one test suite (`tests/store.rs`) runs over both.
//!
//! The schema is versioned (`migrations.rs`): opening a store applies the
//! migrations it lacks, and refuses a database whose schema is newer than
//! this binary knows ([`StoreError::NewerSchema`]).
//!
//! Times are Unix milliseconds ([`Millis`]) given by the caller, so that
//! every process of a deployment judges leases by the same rule.
//! This crate knows nothing of HTTP, of the index or of the wire format.

mod migrations;
mod records;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;

use async_trait::async_trait;

pub use migrations::SCHEMA_VERSION;
pub use records::{
    API_OWNER, Backlog, Cancel, CrawlRunRecord, Finish, Inserted, JobKind, JobRecord, JobState,
    KeyRecord, Millis, NewJob, NewKey, NewSource, Owner, PageRecord, QueueStats, QueuedMessage,
    SourceChange, SourceRecord, SourceUpdate, Start,
};
pub use sql::{Location, SqlStore, StoreSettings};

/// Which database holds the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, embedded.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgresql",
        }
    }
}

/// Why the store could not do what it was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is busy: worth trying again.
    #[error("the {backend} store is unavailable: {reason}")]
    Unavailable {
        /// Which backend.
        backend: &'static str,
        /// What happened.
        reason: String,
    },
    /// The database holds a schema this binary does not know.
    #[error(
        "the database's schema is version {found}, newer than the version {known} this trawl knows; \
         upgrade trawl (a newer trawl migrated it), or point it at another database"
    )]
    NewerSchema {
        /// The database's version.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// A migration failed; the database is left at the last version that
    /// applied whole.
    #[error("migrating the store to version {version} failed: {reason}")]
    Migration {
        /// The migration's version.
        version: i64,
        /// What is wrong, for people.
        reason: String,
    },
    /// The URL names no database trawl can use.
    #[error("{0}")]
    BadUrl(String),
    /// A row that cannot be read back: a bug, or a database edited by hand.
    #[error("the store holds a row it cannot read: {0}")]
    Corrupt(String),
    /// A name that must be unique is taken.
    #[error("{0} already exists")]
    Duplicate(String),
    /// The database's disk is full: nothing was written, and writes work
    /// again once there is room (no restart needed).
    #[error("the {backend} store's disk is full: {reason}")]
    StorageFull {
        /// Which backend.
        backend: &'static str,
        /// What the database said.
        reason: String,
    },
    /// Any other failure of a statement.
    #[error("the {backend} store failed: {reason}")]
    Failed {
        /// Which backend.
        backend: &'static str,
        /// What it holds that cannot be read.
        reason: String,
    },
}

impl StoreError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::StorageFull { .. })
    }
}

/// A store's result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Unix time now, in milliseconds: the clock every caller of the store
/// reads.
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

/// The store. Every method is one transaction: it happens whole or not at
/// all, whatever else runs at the same time, in this process or another.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which database it is.
    fn backend(&self) -> Backend;

    /// Whether the database answers.
    async fn ping(&self) -> Result<()>;

    // ---- API keys -------------------------------------------------------

    /// Adds a key; its name must be unused ([`StoreError::Duplicate`]).
    async fn insert_key(&self, key: NewKey) -> Result<KeyRecord>;
    /// The key with this public prefix, revoked or not.
    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<KeyRecord>>;
    /// Every key, oldest first.
    async fn keys(&self) -> Result<Vec<KeyRecord>>;
    /// Revokes the key with this name or prefix; `None` when there is none.
    /// Revoking a revoked key changes nothing.
    async fn revoke_key(&self, name_or_prefix: &str, at: Millis) -> Result<Option<KeyRecord>>;
    /// Records that the key was used.
    async fn key_used(&self, id: i64, at: Millis) -> Result<()>;

    // ---- jobs -------------------------------------------------------------

    /// Adds a job with its payload, state `queued` and not yet published.
    /// When the same key already submitted a job with the same idempotency
    /// key, nothing is added and that job is returned instead.
    async fn insert_job(&self, job: NewJob) -> Result<Inserted>;
    /// Marks a job as handed to the queue: only now may it be listed.
    async fn set_published(&self, id: i64) -> Result<()>;
    /// Removes a job that never reached the queue, with its payload.
    async fn discard_unpublished(&self, id: i64) -> Result<()>;
    /// Removes jobs that never reached the queue and were created before
    /// `before` (their submitters were told it failed).
    async fn purge_unpublished(&self, before: Millis) -> Result<u64>;
    /// The job with this id.
    async fn job(&self, id: i64) -> Result<Option<JobRecord>>;
    /// Published jobs, newest first, with ids below `before`, in `state`.
    async fn jobs(
        &self,
        state: Option<JobState>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<JobRecord>>;
    /// Cancels a job if it is still queued.
    async fn cancel_job(&self, id: i64, at: Millis) -> Result<Cancel>;
    /// A worker takes the job: `queued` becomes `running`, one more
    /// attempt, leased to `lease_until`. A finished job is left as it is.
    async fn start_job(&self, id: i64, lease_until: Millis, at: Millis) -> Result<Start>;
    /// The documents (or ids) of a job, as submitted.
    async fn payload(&self, id: i64) -> Result<Option<Vec<u8>>>;
    /// A running job's progress; extends its lease.
    async fn progress(&self, id: i64, done: u64, lease_until: Millis) -> Result<()>;
    /// Ends a run of a job: succeeded, failed (for good), or back to
    /// `queued` for another attempt. A terminal state drops the payload.
    async fn finish_job(&self, id: i64, finish: Finish, at: Millis) -> Result<()>;
    /// Running jobs whose lease ran out (their worker is gone) go back to
    /// `queued`; how many.
    async fn requeue_expired(&self, at: Millis) -> Result<u64>;
    /// Removes finished jobs (succeeded, failed, cancelled) that finished
    /// before `before`; how many. Their idempotency keys may be used again.
    async fn purge_finished(&self, before: Millis) -> Result<u64>;

    // ---- the embedded queue -----------------------------------------------

    /// Appends a message for `job_id` to `queue`, deliverable from
    /// `visible_at`.
    async fn push_message(&self, queue: &str, job_id: i64, visible_at: Millis) -> Result<i64>;
    /// Leases the oldest deliverable message of `queue` to `owner` until
    /// `lease_until`: one whose time has come and whose lease, if any, has
    /// run out. No two owners hold the same message at once.
    async fn claim_message(
        &self,
        queue: &str,
        owner: &str,
        at: Millis,
        lease_until: Millis,
    ) -> Result<Option<QueuedMessage>>;
    /// Extends `owner`'s lease; `false` when it no longer holds it.
    async fn extend_message(&self, id: i64, owner: &str, lease_until: Millis) -> Result<bool>;
    /// Removes a message (acknowledged).
    async fn delete_message(&self, id: i64) -> Result<()>;
    /// Releases a message for another delivery from `visible_at`.
    async fn delay_message(&self, id: i64, visible_at: Millis, error: &str) -> Result<()>;
    /// Moves a message to the dead letters of its queue.
    async fn bury_message(&self, id: i64, error: &str) -> Result<()>;
    /// Releases every lease on `queue`'s messages: what a worker does when
    /// it becomes the only one, so that a dead predecessor's leases do not
    /// hold its work back.
    async fn release_messages(&self, queue: &str) -> Result<u64>;
    /// How many jobs wait in `queue`, and how old the oldest is at `at`.
    async fn queue_stats(&self, queue: &str, at: Millis) -> Result<QueueStats>;

    /// Jobs accepted and not finished (queued or running), and how old the
    /// oldest of them is at `at`: the queue's backlog, whatever the queue.
    async fn backlog(&self, at: Millis) -> Result<Backlog>;

    // ---- sources and their crawls ------------------------------------------

    /// Adds a source.
    async fn insert_source(&self, source: NewSource) -> Result<SourceRecord>;
    /// The source with this id.
    async fn source(&self, id: i64) -> Result<Option<SourceRecord>>;
    /// Sources with ids above `after`, oldest first.
    async fn sources(&self, after: Option<i64>, limit: u32) -> Result<Vec<SourceRecord>>;
    /// Changes a source if it is still at `change.expected_version` (any
    /// version when `None`); its version goes up by one.
    async fn update_source(&self, id: i64, change: SourceChange) -> Result<SourceUpdate>;
    /// Removes a source, with what its crawls recorded; the ids of the
    /// documents it had indexed or holds, `None` when there was no such
    /// source.
    async fn delete_source(&self, id: i64) -> Result<Option<Vec<String>>>;
    /// Sources whose next crawl is due at `at`, soonest first.
    async fn due_sources(&self, at: Millis, limit: u32) -> Result<Vec<SourceRecord>>;
    /// Makes `job` the source's crawl, if its `crawl_seq` is still
    /// `expected_seq` (nobody made one since the caller looked): records the
    /// job with its payload (not yet published), and the source's next run.
    /// `None` when another caller came first, or the source is gone.
    async fn claim_crawl(
        &self,
        source_id: i64,
        expected_seq: i64,
        job: NewJob,
        next_run_at: Option<Millis>,
    ) -> Result<Option<JobRecord>>;
    /// Sets when the source is next due.
    async fn set_next_run(&self, source_id: i64, at: Option<Millis>) -> Result<()>;
    /// Every page the source's crawls recorded.
    async fn pages(&self, source_id: i64) -> Result<Vec<PageRecord>>;
    /// Records pages (replacing what was recorded of the same URLs; links
    /// recorded before stay when a record carries none).
    async fn put_pages(&self, source_id: i64, pages: &[PageRecord]) -> Result<()>;
    /// The links recorded for the page at `url` of a source.
    async fn page_links(&self, source_id: i64, url: &str) -> Result<Option<String>>;
    /// A source's index jobs (not crawls) queued or running.
    async fn pending_jobs(&self, source_id: i64) -> Result<u64>;
    /// Forgets the pages at `urls` of a source.
    async fn delete_pages(&self, source_id: i64, urls: &[String]) -> Result<()>;
    /// Records a crawl's run (replacing what was recorded of the same job).
    async fn put_run(&self, run: CrawlRunRecord) -> Result<()>;
    /// A source's last runs, newest first.
    async fn runs(&self, source_id: i64, limit: u32) -> Result<Vec<CrawlRunRecord>>;

    // ---- who holds each document --------------------------------------------

    /// Records that `owner` holds each of `ids` (again: nothing changes).
    async fn claim_documents(&self, owner: Owner, ids: &[String]) -> Result<()>;
    /// `owner` lets go of `ids`; those no owner holds any more, in the
    /// order given: what may leave the index. An id nobody had recorded
    /// (written before owners were kept, or by `trawl index add`) is
    /// among them.
    async fn release_documents(&self, owner: Owner, ids: &[String]) -> Result<Vec<String>>;
}
