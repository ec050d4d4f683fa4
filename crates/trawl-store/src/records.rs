//! What the store holds, as Rust values.

/// Unix time in milliseconds.
pub type Millis = i64;

/// A key to add. The key itself is never stored: only its public prefix
/// (to find it) and a hash (to check it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// The name it was made with.
    pub name: String,
    /// Its public prefix, shown in lists.
    pub prefix: String,
    /// SHA-256 of the key.
    pub hash: Vec<u8>,
    /// When it was made.
    pub created_at: Millis,
}

/// An API key as stored: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Its id.
    pub id: i64,
    /// The name it was made with.
    pub name: String,
    /// Its public prefix.
    pub prefix: String,
    /// SHA-256 of the key.
    pub hash: Vec<u8>,
    /// When it was made.
    pub created_at: Millis,
    /// When it was last used.
    pub last_used_at: Option<Millis>,
    /// When it was revoked.
    pub revoked_at: Option<Millis>,
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Adds or replaces documents.
    Documents,
    /// Removes a document by id.
    Delete,
    /// Removes documents by id: a JSON array of ids.
    Remove,
    /// Crawls a source: its payload is the source's id.
    Crawl,
}

impl JobKind {
    /// Its name in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Documents => "documents",
            Self::Delete => "delete",
            Self::Remove => "remove",
            Self::Crawl => "crawl",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "documents" => Some(Self::Documents),
            "delete" => Some(Self::Delete),
            "remove" => Some(Self::Remove),
            "crawl" => Some(Self::Crawl),
            _ => None,
        }
    }
}

/// Where a job is in its life: `queued` → `running` → `succeeded` or
/// `failed`, or `queued` → `cancelled`. A run that fails goes back to
/// `queued` until its attempts are spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker runs it.
    Running,
    /// Done.
    Succeeded,
    /// Gave up.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl JobState {
    /// Every state.
    pub const ALL: [Self; 5] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    /// Its name in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The state named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Nothing more will happen to it.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// A job to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// What it does.
    pub kind: JobKind,
    /// The key that submitted it.
    pub key_id: Option<i64>,
    /// The submitter's `Idempotency-Key`, unique per key.
    pub idempotency_key: Option<String>,
    /// A hash of the submitted request, to tell a retry from a different
    /// request reusing an idempotency key.
    pub fingerprint: Vec<u8>,
    /// Attempts before it fails for good.
    pub max_attempts: u32,
    /// Documents (or ids) in the payload.
    pub total: u64,
    /// Documents refused at the door (with `skip_bad`).
    pub skipped: u64,
    /// The refused documents and why, as a JSON array (the store does not
    /// look inside).
    pub errors: String,
    /// Documents refused in all (`errors` may list fewer).
    pub errors_total: u64,
    /// What it works on (documents, ids or a source).
    pub payload: Vec<u8>,
    /// When it was made.
    pub created_at: Millis,
    /// The W3C `traceparent` of the request that made it, if any: the
    /// job's spans join that trace.
    pub traceparent: Option<String>,
    /// The source it works for (a crawl's index jobs); `None` for the
    /// write API's. Whose the documents it adds are, and whose hold its
    /// removals let go of ([`Store::release_documents`](crate::Store::release_documents)).
    pub source_id: Option<i64>,
}

/// Who holds a document: the write API, or a source.
pub type Owner = i64;

/// The write API as an [`Owner`] (sources are their ids, from 1).
pub const API_OWNER: Owner = 0;

impl NewJob {
    /// The owner of its documents.
    pub fn owner(&self) -> Option<Owner> {
        owner(self.source_id, self.key_id)
    }
}

/// A source's jobs are the source's; a key's, the write API's; a job with
/// neither was queued before documents had owners (a crawl's): nobody's.
fn owner(source_id: Option<i64>, key_id: Option<i64>) -> Option<Owner> {
    match (source_id, key_id) {
        (Some(source), _) => Some(source),
        (None, Some(_)) => Some(API_OWNER),
        (None, None) => None,
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// Its id.
    pub id: i64,
    /// What it does.
    pub kind: JobKind,
    /// Where it is in its life.
    pub state: JobState,
    /// The key that submitted it.
    pub key_id: Option<i64>,
    /// A hash of the request, for idempotency.
    pub fingerprint: Vec<u8>,
    /// Whether its message reached the queue.
    pub published: bool,
    /// Attempts so far.
    pub attempts: u32,
    /// Attempts before it fails for good.
    pub max_attempts: u32,
    /// Units to do, when known.
    pub total: u64,
    /// Units done.
    pub done: u64,
    /// Documents added.
    pub added: u64,
    /// Documents replaced.
    pub replaced: u64,
    /// Documents skipped.
    pub skipped: u64,
    /// Documents deleted.
    pub deleted: u64,
    /// The first errors, as JSON.
    pub errors: String,
    /// Errors in all.
    pub errors_total: u64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was made.
    pub created_at: Millis,
    /// When it first started.
    pub started_at: Option<Millis>,
    /// When it ended.
    pub finished_at: Option<Millis>,
    /// Until when its worker holds it, while it runs.
    pub lease_until: Option<Millis>,
    /// The trace context it was made in (see [`NewJob::traceparent`]).
    pub traceparent: Option<String>,
    /// The source it works for (see [`NewJob::source_id`]).
    pub source_id: Option<i64>,
    /// Documents it did not remove because another owner holds them.
    pub kept: u64,
}

impl JobRecord {
    /// The owner of its documents (see [`NewJob::owner`]).
    pub fn owner(&self) -> Option<Owner> {
        owner(self.source_id, self.key_id)
    }
}

/// What [`Store::insert_job`](crate::Store::insert_job) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// A new job.
    New(JobRecord),
    /// The same key submitted a job with this idempotency key before.
    Existing(JobRecord),
}

/// What [`Store::cancel_job`](crate::Store::cancel_job) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancel {
    /// Cancelled now.
    Cancelled(JobRecord),
    /// It is running or finished: too late.
    TooLate(JobRecord),
    /// No such job.
    NotFound,
}

/// What [`Store::start_job`](crate::Store::start_job) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Now running, its attempts counted.
    Started(JobRecord),
    /// Succeeded, failed or cancelled already: nothing to do.
    Finished(JobRecord),
    /// No such job.
    NotFound,
}

/// How a run of a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// Done, with its changes.
    Succeeded {
        /// Documents added.
        added: u64,
        /// Documents replaced.
        replaced: u64,
        /// Documents deleted.
        deleted: u64,
        /// Documents not removed: another owner holds them.
        kept: u64,
    },
    /// For good: no attempts left, or it cannot succeed.
    Failed {
        /// Failed for good.
        error: String,
    },
    /// Back to `queued` for another attempt.
    Retry {
        /// Failed this time; tried again later.
        error: String,
    },
    /// Back to `queued`, and this run is not counted among its attempts:
    /// it failed for the place it runs in (a full disk), not for itself.
    Wait {
        /// Why it waits.
        error: String,
    },
}

/// A message of the embedded queue, leased to its claimant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    /// Its key's id.
    pub id: i64,
    /// The job it made.
    pub job_id: i64,
    /// Which delivery of the message this is: 1 the first time.
    pub delivery: u32,
}

/// How full an embedded queue is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Deliverable now or later, not leased.
    pub waiting: u64,
    /// Leased to a worker.
    pub leased: u64,
    /// Dead letters.
    pub dead: u64,
    /// Age of the oldest waiting or leased message, in milliseconds.
    pub oldest_ms: Option<u64>,
}

/// Unfinished jobs: see [`Store::backlog`](crate::Store::backlog).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Jobs queued or running.
    pub jobs: u64,
    /// Age of the oldest of them, in milliseconds.
    pub oldest_ms: Option<u64>,
}

/// A source to add: its kind and its specification as JSON (the store does
/// not look inside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSource {
    /// Its kind.
    pub kind: String,
    /// Its specification, as JSON.
    pub spec: String,
    /// Scheduled crawls' interval; `None`: only on request.
    pub refresh_ms: Option<i64>,
    /// When it is first due.
    pub next_run_at: Option<Millis>,
    /// When it was made.
    pub created_at: Millis,
}

/// A source as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// Its id.
    pub id: i64,
    /// Its kind.
    pub kind: String,
    /// Its specification, as JSON.
    pub spec: String,
    /// Its refresh interval.
    pub refresh_ms: Option<i64>,
    /// Goes up with every change (the API's `ETag`).
    pub version: i64,
    /// When it was made.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
    /// When it is next due.
    pub next_run_at: Option<Millis>,
    /// The last crawl job made for it (queued, running or finished).
    pub crawl_job: Option<i64>,
    /// Goes up with every crawl job made for it: the compare-and-set that
    /// keeps two schedulers from making two.
    pub crawl_seq: i64,
    /// Pages of it the store knows (indexed after its last crawl).
    pub pages: u64,
}

/// A change to a source, made only if it is still at `expected_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceChange {
    /// The version the change was made from; `None` for any.
    pub expected_version: Option<i64>,
    /// Its new kind.
    pub kind: String,
    /// Its new specification, as JSON.
    pub spec: String,
    /// Its new refresh interval.
    pub refresh_ms: Option<i64>,
    /// When it is next due.
    pub next_run_at: Option<Millis>,
    /// Now.
    pub at: Millis,
}

/// What [`Store::update_source`](crate::Store::update_source) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceUpdate {
    /// Changed.
    Updated(SourceRecord),
    /// Someone changed it first: it is at another version now.
    Stale(SourceRecord),
    /// No such source.
    NotFound,
}

/// What the store keeps of a crawled page, to ask for it conditionally
/// next time and to know whether its text changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRecord {
    /// The URL it is crawled at.
    pub url: String,
    /// The document it is indexed as (`None`: fetched, not indexed: a
    /// duplicate, `noindex`, an excluded page).
    pub doc_id: Option<String>,
    /// Its `ETag`.
    pub etag: Option<String>,
    /// Its `Last-Modified`.
    pub last_modified: Option<String>,
    /// A hash of what was indexed.
    pub hash: Vec<u8>,
    /// The crawl job that last saw it.
    pub seen_job: i64,
    /// When it was fetched.
    pub fetched_at: Millis,
    /// The in-scope links a site's page had, one per line (`None` for
    /// pages of sitemaps, feeds and dumps): what a crawl that finds the
    /// page unchanged (`304`) follows. Written with the page; never read
    /// with the source's pages ([`Store::pages`](crate::Store::pages)),
    /// but one page at a time ([`Store::page_links`](crate::Store::page_links)).
    /// `None` when written keeps the links recorded before.
    pub links: Option<String>,
    /// Whether links are recorded for it (read; ignored when written).
    pub has_links: bool,
}

/// One crawl of a source, as recorded (its counts as JSON, the store does
/// not look inside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrawlRunRecord {
    /// The crawl's job.
    pub job_id: i64,
    /// The source crawled.
    pub source_id: i64,
    /// How it ended, or `running`.
    pub state: String,
    /// When it started.
    pub started_at: Millis,
    /// When it ended.
    pub finished_at: Option<Millis>,
    /// What it did, as JSON.
    pub stats: String,
}
