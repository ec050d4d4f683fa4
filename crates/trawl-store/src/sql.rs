//! [`SqlStore`]: the [`Store`] over SQLite or PostgreSQL, through sqlx's
//! `Any` driver.
//!
//! One rule keeps SQLite's single writer from failing a transaction: a
//! transaction that writes starts with its write (a deferred transaction
//! that reads first cannot wait for the write lock when it needs it). The
//! claim of a queue message is one statement in both databases; PostgreSQL
//! adds `FOR UPDATE SKIP LOCKED`, so two workers never wait on, or take,
//! the same row.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, ConnectOptions, Connection, Executor, Row};

use crate::migrations::{self, MigrateError};
use crate::records::*;
use crate::{Backend, Result, Store, StoreError, now_millis};

/// Where the store is and how it is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// Where the database is.
    pub location: Location,
    /// Connections at most; a caller waits up to `acquire_timeout` for one.
    pub max_connections: u32,
    /// Longest wait for a connection, including making one: what a caller
    /// waits at most when the database is down.
    pub acquire_timeout: Duration,
    /// PostgreSQL's `statement_timeout`.
    pub statement_timeout: Duration,
}

/// Where a database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file, created if missing.
    Sqlite(PathBuf),
    /// `postgres://` or `postgresql://` URL (or `sqlite:` for a file by URL).
    Url(String),
}

impl StoreSettings {
    /// SQLite in the file at `path`.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        Self {
            location: Location::Sqlite(path.into()),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(10),
        }
    }

    /// A database at `url` (`postgres://…` or `sqlite:…`).
    pub fn url(url: impl Into<String>) -> Self {
        Self {
            location: Location::Url(url.into()),
            ..Self::sqlite("")
        }
    }
}

/// The store on SQLite or PostgreSQL, through sqlx.
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    migrated: AtomicBool,
    migrating: tokio::sync::Mutex<()>,
    /// When the database last could not be reached, and why: for a while
    /// after, calls fail at once instead of each waiting out the pool's
    /// acquire timeout.
    unreachable: std::sync::Mutex<Option<(std::time::Instant, String)>>,
    /// Why the last write found the disk full, until a probe's write fits
    /// again ([`Store::ping`]).
    full: std::sync::Mutex<Option<String>>,
}

/// How long calls fail at once after the database could not be reached.
const UNREACHABLE_FOR: Duration = Duration::from_secs(1);

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

const JOB_COLUMNS: &str = "id, kind, state, key_id, fingerprint, published, attempts, \
    max_attempts, total, done, added, replaced, skipped, deleted, errors, errors_total, \
    last_error, created_at, started_at, finished_at, lease_until, traceparent, source_id, kept";

const KEY_COLUMNS: &str = "id, name, prefix, hash, created_at, last_used_at, revoked_at";

impl SqlStore {
    /// Opens the store and brings its schema up to date. Fails with
    /// [`StoreError::NewerSchema`] when a newer trawl migrated it, and with
    /// [`StoreError::Unavailable`] when the database cannot be reached (see
    /// [`connect_lazy`](Self::connect_lazy) for starting anyway).
    pub async fn open(settings: &StoreSettings) -> Result<Self> {
        let store = Self::connect_lazy(settings)?;
        store.ensure_migrated().await?;
        Ok(store)
    }

    /// A store that connects when first used: every call migrates first if
    /// that has not happened yet, so a process started while its database
    /// was down begins to work when the database comes up.
    pub fn connect_lazy(settings: &StoreSettings) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (url, backend) = match &settings.location {
            Location::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        StoreError::BadUrl(format!("cannot create {}: {e}", parent.display()))
                    })?;
                }
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true);
                (options.to_url_lossy().to_string(), Backend::Sqlite)
            }
            Location::Url(url) => {
                let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://")
                {
                    Backend::Postgres
                } else if url.starts_with("sqlite:") {
                    Backend::Sqlite
                } else {
                    return Err(StoreError::BadUrl(format!(
                        "the database URL must start with postgres://, postgresql:// or sqlite:, not {:?}",
                        url.split(':').next().unwrap_or_default()
                    )));
                };
                (url.clone(), backend)
            }
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| StoreError::BadUrl(format!("not a database URL: {e}")))?
            .disable_statement_logging();
        let statement_timeout = settings.statement_timeout.as_millis().max(1) as i64;
        let pool = AnyPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(settings.acquire_timeout)
            .idle_timeout(Duration::from_secs(300))
            // A connection goes back to the pool only outside a
            // transaction. When a write fails for a full disk, SQLite rolls
            // the transaction back itself; sqlx's own ROLLBACK then fails and
            // its count of open transactions stays at one, so the next
            // `begin` would open a savepoint instead — a transaction that
            // never ends, holding the write lock for good. Such a connection
            // is closed here instead — and so is one whose transaction was
            // dropped and whose ROLLBACK is still queued (an error path:
            // rare; checking costs nothing on the common one).
            .after_release(move |conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    match backend {
                        // A writer waits for the lock rather than failing.
                        Backend::Sqlite => {
                            conn.execute("PRAGMA busy_timeout = 5000").await?;
                            // Every acknowledged write is on disk.
                            conn.execute("PRAGMA synchronous = FULL").await?;
                        }
                        Backend::Postgres => {
                            conn.execute(
                                format!("SET statement_timeout = {statement_timeout}").as_str(),
                            )
                            .await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            backend,
            migrated: AtomicBool::new(false),
            migrating: tokio::sync::Mutex::new(()),
            unreachable: std::sync::Mutex::new(None),
            full: std::sync::Mutex::new(None),
        })
    }

    /// Closes the connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs a statement as it is: for tests that need a database in a state
    /// trawl never makes (a schema from the future, say).
    #[cfg(feature = "testing")]
    pub async fn execute_for_tests(&self, statement: &str) {
        sqlx::query(statement)
            .execute(&self.pool)
            .await
            .expect("the test's statement runs");
    }

    /// Before every call: fails at once while the database was just found
    /// unreachable, and migrates if that has not happened yet.
    async fn ensure_migrated(&self) -> Result<()> {
        if let Some((at, reason)) = self.unreachable.lock().expect("not poisoned").as_ref()
            && at.elapsed() < UNREACHABLE_FOR
        {
            return Err(StoreError::Unavailable {
                backend: self.backend.name(),
                reason: format!(
                    "{reason} ({} ms ago; trying again {} s after)",
                    at.elapsed().as_millis(),
                    UNREACHABLE_FOR.as_secs()
                ),
            });
        }
        if self.migrated.load(Ordering::Acquire) {
            return Ok(());
        }
        let _one_at_a_time = self.migrating.lock().await;
        if self.migrated.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await.map_err(|e| self.error(e))?;
        match migrations::migrate(&mut conn, self.backend, now_millis()).await {
            Ok(_) => {
                self.migrated.store(true, Ordering::Release);
                Ok(())
            }
            Err(MigrateError::Store(e)) => Err(e),
            Err(MigrateError::Sql(e)) => Err(self.error(e)),
        }
    }

    fn error(&self, error: sqlx::Error) -> StoreError {
        // The database not there (rather than busy, or refusing a statement).
        let unreachable = matches!(
            error,
            sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::WorkerCrashed
        );
        let error = classify(self.backend, error);
        if let StoreError::StorageFull { reason, .. } = &error {
            *self.full.lock().expect("not poisoned") = Some(reason.clone());
        }
        if unreachable {
            *self.unreachable.lock().expect("not poisoned") =
                Some((std::time::Instant::now(), error.to_string()));
        }
        error
    }

    /// Drops a job's payload, within the transaction that ends the job.
    async fn drop_payload(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM trawl_job_payloads WHERE job_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    fn corrupt(error: sqlx::Error) -> StoreError {
        StoreError::Corrupt(error.to_string())
    }

    async fn fetch_job(&self, id: i64) -> Result<Option<JobRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM trawl_jobs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        row.as_ref().map(job_from_row).transpose()
    }
}

/// Which failures are worth retrying: the database unreachable, busy, or
/// shutting down; a broken connection.
fn classify(backend: Backend, error: sqlx::Error) -> StoreError {
    let unavailable = |reason: String| StoreError::Unavailable {
        backend: backend.name(),
        reason,
    };
    match &error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => unavailable(match &error {
            sqlx::Error::PoolTimedOut => "no connection could be made in time".to_owned(),
            other => other.to_string(),
        }),
        sqlx::Error::Configuration(e) => StoreError::BadUrl(e.to_string()),
        sqlx::Error::Database(db) => {
            let code = db
                .code()
                .map(std::borrow::Cow::into_owned)
                .unwrap_or_default();
            let full = match backend {
                // SQLITE_FULL (what the OS's ENOSPC becomes).
                Backend::Sqlite => code.parse::<i32>().is_ok_and(|c| c & 0xff == 13),
                // disk_full
                Backend::Postgres => code == "53100",
            };
            if full {
                return StoreError::StorageFull {
                    backend: backend.name(),
                    reason: db.message().to_owned(),
                };
            }
            let transient = match backend {
                // SQLITE_BUSY, SQLITE_LOCKED and their extended codes.
                Backend::Sqlite => code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6)),
                // Connection exceptions, insufficient resources, operator
                // intervention (shutdown), serialization failures and
                // deadlocks, and a cancelled statement (its timeout).
                Backend::Postgres => ["08", "53", "57", "40"].iter().any(|c| code.starts_with(c)),
            };
            if transient {
                unavailable(db.message().to_owned())
            } else {
                StoreError::Failed {
                    backend: backend.name(),
                    reason: db.message().to_owned(),
                }
            }
        }
        other => StoreError::Failed {
            backend: backend.name(),
            reason: other.to_string(),
        },
    }
}

/// The statement that adds a job (nothing when its idempotency key was
/// used by its key before), returning the job.
fn insert_job_query(
    job: &NewJob,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments<'static>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO trawl_jobs (kind, state, key_id, idempotency_key, fingerprint, \
             max_attempts, total, skipped, errors, errors_total, created_at, traceparent, \
             source_id) \
             VALUES ($1, 'queued', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (key_id, idempotency_key) DO NOTHING RETURNING {JOB_COLUMNS}"
        )
    });
    sqlx::query(SQL.as_str())
        .bind(job.kind.as_str())
        .bind(job.key_id)
        .bind(job.idempotency_key.clone())
        .bind(job.fingerprint.clone())
        .bind(i64::from(job.max_attempts))
        .bind(signed(job.total))
        .bind(signed(job.skipped))
        .bind(job.errors.clone())
        .bind(signed(job.errors_total))
        .bind(job.created_at)
        .bind(job.traceparent.clone())
        .bind(job.source_id)
}

/// Document ids as one parameter, a JSON array of strings, which
/// `Backend::json_strings` reads as rows: any number in one statement.
/// (A job's 5,000 ids bound one parameter each, 500 a statement, took
/// sqlx's `Any` driver 44–440 ms where SQLite inserts them in about 6;
/// SQLite and PostgreSQL also cap a statement's parameters.)
fn json_list(ids: &[String]) -> String {
    serde_json::to_string(ids).expect("strings serialise")
}

impl Backend {
    /// A table of one `value` column: the strings of the JSON array in
    /// `param`.
    fn json_strings(self, param: &str) -> String {
        match self {
            Self::Sqlite => format!("json_each({param})"),
            Self::Postgres => format!("json_array_elements_text({param}::json) AS ids (value)"),
        }
    }
}

const SOURCE_COLUMNS: &str = "s.id, s.kind, s.spec, s.refresh_ms, s.version, s.created_at, \
    s.updated_at, s.next_run_at, s.crawl_job, s.crawl_seq, \
    (SELECT COUNT(*) FROM trawl_crawl_pages p WHERE p.source_id = s.id AND p.doc_id IS NOT NULL) AS pages";

fn source_from_row(row: &AnyRow) -> Result<SourceRecord> {
    let get = |name: &str| row.try_get::<i64, _>(name).map_err(SqlStore::corrupt);
    let opt = |name: &str| {
        row.try_get::<Option<i64>, _>(name)
            .map_err(SqlStore::corrupt)
    };
    Ok(SourceRecord {
        id: get("id")?,
        kind: row.try_get("kind").map_err(SqlStore::corrupt)?,
        spec: row.try_get("spec").map_err(SqlStore::corrupt)?,
        refresh_ms: opt("refresh_ms")?,
        version: get("version")?,
        created_at: get("created_at")?,
        updated_at: get("updated_at")?,
        next_run_at: opt("next_run_at")?,
        crawl_job: opt("crawl_job")?,
        crawl_seq: get("crawl_seq")?,
        pages: unsigned(get("pages")?),
    })
}

fn page_from_row(row: &AnyRow) -> Result<PageRecord> {
    Ok(PageRecord {
        url: row.try_get("url").map_err(SqlStore::corrupt)?,
        doc_id: row.try_get("doc_id").map_err(SqlStore::corrupt)?,
        etag: row.try_get("etag").map_err(SqlStore::corrupt)?,
        last_modified: row.try_get("last_modified").map_err(SqlStore::corrupt)?,
        hash: row.try_get("hash").map_err(SqlStore::corrupt)?,
        seen_job: row.try_get("seen_job").map_err(SqlStore::corrupt)?,
        fetched_at: row.try_get("fetched_at").map_err(SqlStore::corrupt)?,
        links: None,
        has_links: row
            .try_get::<i64, _>("has_links")
            .map_err(SqlStore::corrupt)?
            != 0,
    })
}

fn run_from_row(row: &AnyRow) -> Result<CrawlRunRecord> {
    Ok(CrawlRunRecord {
        job_id: row.try_get("job_id").map_err(SqlStore::corrupt)?,
        source_id: row.try_get("source_id").map_err(SqlStore::corrupt)?,
        state: row.try_get("state").map_err(SqlStore::corrupt)?,
        started_at: row.try_get("started_at").map_err(SqlStore::corrupt)?,
        finished_at: row.try_get("finished_at").map_err(SqlStore::corrupt)?,
        stats: row.try_get("stats").map_err(SqlStore::corrupt)?,
    })
}

fn unsigned(value: i64) -> u64 {
    value.max(0) as u64
}

fn signed(value: u64) -> i64 {
    value.min(i64::MAX as u64) as i64
}

fn job_from_row(row: &AnyRow) -> Result<JobRecord> {
    let get_i64 = |name: &str| row.try_get::<i64, _>(name).map_err(SqlStore::corrupt);
    let get_opt = |name: &str| {
        row.try_get::<Option<i64>, _>(name)
            .map_err(SqlStore::corrupt)
    };
    let kind: String = row.try_get("kind").map_err(SqlStore::corrupt)?;
    let state: String = row.try_get("state").map_err(SqlStore::corrupt)?;
    Ok(JobRecord {
        id: get_i64("id")?,
        kind: JobKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("job kind {kind:?}")))?,
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("job state {state:?}")))?,
        key_id: get_opt("key_id")?,
        fingerprint: row.try_get("fingerprint").map_err(SqlStore::corrupt)?,
        published: get_i64("published")? != 0,
        attempts: get_i64("attempts")?.clamp(0, i64::from(u32::MAX)) as u32,
        max_attempts: get_i64("max_attempts")?.clamp(0, i64::from(u32::MAX)) as u32,
        total: unsigned(get_i64("total")?),
        done: unsigned(get_i64("done")?),
        added: unsigned(get_i64("added")?),
        replaced: unsigned(get_i64("replaced")?),
        skipped: unsigned(get_i64("skipped")?),
        deleted: unsigned(get_i64("deleted")?),
        errors: row.try_get("errors").map_err(SqlStore::corrupt)?,
        errors_total: unsigned(get_i64("errors_total")?),
        last_error: row.try_get("last_error").map_err(SqlStore::corrupt)?,
        created_at: get_i64("created_at")?,
        started_at: get_opt("started_at")?,
        finished_at: get_opt("finished_at")?,
        lease_until: get_opt("lease_until")?,
        traceparent: row.try_get("traceparent").map_err(SqlStore::corrupt)?,
        source_id: get_opt("source_id")?,
        kept: unsigned(get_i64("kept")?),
    })
}

fn key_from_row(row: &AnyRow) -> Result<KeyRecord> {
    Ok(KeyRecord {
        id: row.try_get("id").map_err(SqlStore::corrupt)?,
        name: row.try_get("name").map_err(SqlStore::corrupt)?,
        prefix: row.try_get("prefix").map_err(SqlStore::corrupt)?,
        hash: row.try_get("hash").map_err(SqlStore::corrupt)?,
        created_at: row.try_get("created_at").map_err(SqlStore::corrupt)?,
        last_used_at: row.try_get("last_used_at").map_err(SqlStore::corrupt)?,
        revoked_at: row.try_get("revoked_at").map_err(SqlStore::corrupt)?,
    })
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn ping(&self) -> Result<()> {
        self.ensure_migrated().await?;
        let full = self.full.lock().expect("not poisoned").clone();
        if full.is_none() {
            sqlx::query("SELECT 1")
                .execute(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
            return Ok(());
        }
        // The last write found the disk full: answer for writes, by one.
        sqlx::query(
            "INSERT INTO trawl_heartbeat (id, at) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        )
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        *self.full.lock().expect("not poisoned") = None;
        tracing::info!(
            backend = self.backend.name(),
            "the store's writes fit again"
        );
        Ok(())
    }

    async fn insert_key(&self, key: NewKey) -> Result<KeyRecord> {
        self.ensure_migrated().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO trawl_keys (name, prefix, hash, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING {KEY_COLUMNS}"
        ))
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(&key.hash)
        .bind(key.created_at)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Duplicate(format!("a key named {:?}", key.name))
            }
            _ => self.error(e),
        })?;
        key_from_row(&row)
    }

    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<KeyRecord>> {
        self.ensure_migrated().await?;
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM trawl_keys WHERE prefix = $1"
        ))
        .bind(prefix)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn keys(&self) -> Result<Vec<KeyRecord>> {
        self.ensure_migrated().await?;
        let rows = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM trawl_keys ORDER BY id"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_key(&self, name_or_prefix: &str, at: Millis) -> Result<Option<KeyRecord>> {
        self.ensure_migrated().await?;
        let row = sqlx::query(&format!(
            "UPDATE trawl_keys SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE name = $2 OR prefix = $2 RETURNING {KEY_COLUMNS}"
        ))
        .bind(at)
        .bind(name_or_prefix)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn key_used(&self, id: i64, at: Millis) -> Result<()> {
        self.ensure_migrated().await?;
        sqlx::query("UPDATE trawl_keys SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn insert_job(&self, job: NewJob) -> Result<Inserted> {
        self.ensure_migrated().await?;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let inserted = insert_job_query(&job)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        let Some(row) = inserted else {
            let existing = sqlx::query(&format!(
                "SELECT {JOB_COLUMNS} FROM trawl_jobs WHERE key_id = $1 AND idempotency_key = $2"
            ))
            .bind(job.key_id)
            .bind(&job.idempotency_key)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
            tx.rollback().await.map_err(|e| self.error(e))?;
            return Ok(Inserted::Existing(job_from_row(&existing)?));
        };
        let record = job_from_row(&row)?;
        sqlx::query("INSERT INTO trawl_job_payloads (job_id, body) VALUES ($1, $2)")
            .bind(record.id)
            .bind(job.payload)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(Inserted::New(record))
    }

    async fn set_published(&self, id: i64) -> Result<()> {
        self.ensure_migrated().await?;
        sqlx::query("UPDATE trawl_jobs SET published = 1 WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn discard_unpublished(&self, id: i64) -> Result<()> {
        self.ensure_migrated().await?;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let deleted = sqlx::query("DELETE FROM trawl_jobs WHERE id = $1 AND published = 0")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        if deleted.rows_affected() > 0 {
            self.drop_payload(&mut tx, id).await?;
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn purge_unpublished(&self, before: Millis) -> Result<u64> {
        self.ensure_migrated().await?;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        sqlx::query(
            "DELETE FROM trawl_job_payloads WHERE job_id IN \
             (SELECT id FROM trawl_jobs WHERE published = 0 AND created_at < $1)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let deleted = sqlx::query("DELETE FROM trawl_jobs WHERE published = 0 AND created_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(deleted.rows_affected())
    }

    async fn job(&self, id: i64) -> Result<Option<JobRecord>> {
        self.ensure_migrated().await?;
        self.fetch_job(id).await
    }

    async fn jobs(
        &self,
        state: Option<JobState>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<JobRecord>> {
        self.ensure_migrated().await?;
        let mut sql = format!("SELECT {JOB_COLUMNS} FROM trawl_jobs WHERE published = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if state.is_some() {
            sql.push_str(&format!(" AND state = ${}", next()));
        }
        if before.is_some() {
            sql.push_str(&format!(" AND id < ${}", next()));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", next()));
        let mut query = sqlx::query(&sql);
        if let Some(state) = state {
            query = query.bind(state.as_str());
        }
        if let Some(before) = before {
            query = query.bind(before);
        }
        let rows = query
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        rows.iter().map(job_from_row).collect()
    }

    async fn cancel_job(&self, id: i64, at: Millis) -> Result<Cancel> {
        self.ensure_migrated().await?;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let cancelled = sqlx::query(&format!(
            "UPDATE trawl_jobs SET state = 'cancelled', finished_at = $1, lease_until = NULL \
             WHERE id = $2 AND state = 'queued' AND published = 1 RETURNING {JOB_COLUMNS}"
        ))
        .bind(at)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        if let Some(row) = cancelled {
            self.drop_payload(&mut tx, id).await?;
            tx.commit().await.map_err(|e| self.error(e))?;
            return Ok(Cancel::Cancelled(job_from_row(&row)?));
        }
        tx.rollback().await.map_err(|e| self.error(e))?;
        Ok(match self.fetch_job(id).await? {
            Some(job) if job.published => Cancel::TooLate(job),
            _ => Cancel::NotFound,
        })
    }

    async fn start_job(&self, id: i64, lease_until: Millis, at: Millis) -> Result<Start> {
        self.ensure_migrated().await?;
        // `running` too: a message is delivered to one worker at a time, so
        // a running job delivered again lost its worker.
        let started = sqlx::query(&format!(
            "UPDATE trawl_jobs SET state = 'running', attempts = attempts + 1, done = 0, \
             started_at = $1, lease_until = $2 \
             WHERE id = $3 AND state IN ('queued', 'running') RETURNING {JOB_COLUMNS}"
        ))
        .bind(at)
        .bind(lease_until)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        if let Some(row) = started {
            return Ok(Start::Started(job_from_row(&row)?));
        }
        Ok(match self.fetch_job(id).await? {
            Some(job) => Start::Finished(job),
            None => Start::NotFound,
        })
    }

    async fn payload(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.ensure_migrated().await?;
        let row = sqlx::query("SELECT body FROM trawl_job_payloads WHERE job_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        row.map(|row| row.try_get::<Vec<u8>, _>(0).map_err(Self::corrupt))
            .transpose()
    }

    async fn progress(&self, id: i64, done: u64, lease_until: Millis) -> Result<()> {
        self.ensure_migrated().await?;
        sqlx::query(
            "UPDATE trawl_jobs SET done = $1, lease_until = $2 \
             WHERE id = $3 AND state = 'running'",
        )
        .bind(signed(done))
        .bind(lease_until)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn finish_job(&self, id: i64, finish: Finish, at: Millis) -> Result<()> {
        self.ensure_migrated().await?;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        // A job the reaper put back in the queue while this run went on is
        // still this run's to finish; a finished one is left alone.
        let open = "id = $1 AND state IN ('queued', 'running')";
        let terminal = match &finish {
            Finish::Succeeded {
                added,
                replaced,
                deleted,
                kept,
            } => {
                sqlx::query(&format!(
                    "UPDATE trawl_jobs SET state = 'succeeded', added = $2, replaced = $3, \
                     deleted = $4, kept = $6, \
                     done = CASE WHEN done > total THEN done ELSE total END, finished_at = $5, lease_until = NULL WHERE {open}"
                ))
                .bind(id)
                .bind(signed(*added))
                .bind(signed(*replaced))
                .bind(signed(*deleted))
                .bind(at)
                .bind(signed(*kept))
                .execute(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
                true
            }
            Finish::Failed { error } => {
                sqlx::query(&format!(
                    "UPDATE trawl_jobs SET state = 'failed', last_error = $2, finished_at = $3, \
                     lease_until = NULL WHERE {open}"
                ))
                .bind(id)
                .bind(error)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
                true
            }
            Finish::Retry { error } => {
                sqlx::query(&format!(
                    "UPDATE trawl_jobs SET state = 'queued', last_error = $2, lease_until = NULL \
                     WHERE {open}"
                ))
                .bind(id)
                .bind(error)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
                false
            }
            Finish::Wait { error } => {
                sqlx::query(&format!(
                    "UPDATE trawl_jobs SET state = 'queued', last_error = $2, lease_until = NULL, \
                     attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END WHERE {open}"
                ))
                .bind(id)
                .bind(error)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
                false
            }
        };
        if terminal {
            self.drop_payload(&mut tx, id).await?;
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn requeue_expired(&self, at: Millis) -> Result<u64> {
        self.ensure_migrated().await?;
        let done = sqlx::query(
            "UPDATE trawl_jobs SET state = 'queued', lease_until = NULL \
             WHERE state = 'running' AND lease_until < $1",
        )
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(done.rows_affected())
    }

    async fn purge_finished(&self, before: Millis) -> Result<u64> {
        self.ensure_migrated().await?;
        let done = sqlx::query(
            "DELETE FROM trawl_jobs WHERE finished_at < $1 \
             AND state IN ('succeeded', 'failed', 'cancelled')",
        )
        .bind(before)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(done.rows_affected())
    }

    async fn push_message(&self, queue: &str, job_id: i64, visible_at: Millis) -> Result<i64> {
        self.ensure_migrated().await?;
        let row = sqlx::query(
            "INSERT INTO trawl_queue (queue, job_id, visible_at, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(queue)
        .bind(job_id)
        .bind(visible_at)
        .bind(now_millis())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        row.try_get(0).map_err(Self::corrupt)
    }

    async fn claim_message(
        &self,
        queue: &str,
        owner: &str,
        at: Millis,
        lease_until: Millis,
    ) -> Result<Option<QueuedMessage>> {
        self.ensure_migrated().await?;
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let row = sqlx::query(&format!(
            "UPDATE trawl_queue SET lease_owner = $1, lease_until = $2, deliveries = deliveries + 1 \
             WHERE id = (SELECT id FROM trawl_queue WHERE queue = $3 AND dead = 0 \
               AND visible_at <= $4 AND (lease_until IS NULL OR lease_until <= $4) \
               ORDER BY id LIMIT 1{lock}) \
             RETURNING id, job_id, deliveries"
        ))
        .bind(owner)
        .bind(lease_until)
        .bind(queue)
        .bind(at)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        row.map(|row| {
            Ok(QueuedMessage {
                id: row.try_get("id").map_err(Self::corrupt)?,
                job_id: row.try_get("job_id").map_err(Self::corrupt)?,
                delivery: row
                    .try_get::<i64, _>("deliveries")
                    .map_err(Self::corrupt)?
                    .clamp(0, i64::from(u32::MAX)) as u32,
            })
        })
        .transpose()
    }

    async fn extend_message(&self, id: i64, owner: &str, lease_until: Millis) -> Result<bool> {
        self.ensure_migrated().await?;
        let done = sqlx::query(
            "UPDATE trawl_queue SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND dead = 0",
        )
        .bind(lease_until)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_message(&self, id: i64) -> Result<()> {
        self.ensure_migrated().await?;
        sqlx::query("DELETE FROM trawl_queue WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn delay_message(&self, id: i64, visible_at: Millis, error: &str) -> Result<()> {
        self.ensure_migrated().await?;
        sqlx::query(
            "UPDATE trawl_queue SET visible_at = $1, lease_owner = NULL, lease_until = NULL, \
             last_error = $2 WHERE id = $3",
        )
        .bind(visible_at)
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn bury_message(&self, id: i64, error: &str) -> Result<()> {
        self.ensure_migrated().await?;
        sqlx::query(
            "UPDATE trawl_queue SET dead = 1, lease_owner = NULL, lease_until = NULL, \
             last_error = $1 WHERE id = $2",
        )
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn release_messages(&self, queue: &str) -> Result<u64> {
        self.ensure_migrated().await?;
        let done = sqlx::query(
            "UPDATE trawl_queue SET lease_owner = NULL, lease_until = NULL \
             WHERE queue = $1 AND lease_owner IS NOT NULL AND dead = 0",
        )
        .bind(queue)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(done.rows_affected())
    }

    async fn queue_stats(&self, queue: &str, at: Millis) -> Result<QueueStats> {
        self.ensure_migrated().await?;
        let row = sqlx::query(
            "SELECT \
               COALESCE(SUM(CASE WHEN dead = 0 AND (lease_until IS NULL OR lease_until <= $1) \
                 THEN 1 ELSE 0 END), 0) AS waiting, \
               COALESCE(SUM(CASE WHEN dead = 0 AND lease_until > $1 THEN 1 ELSE 0 END), 0) AS leased, \
               COALESCE(SUM(CASE WHEN dead = 1 THEN 1 ELSE 0 END), 0) AS dead, \
               MIN(CASE WHEN dead = 0 THEN created_at END) AS oldest \
             FROM trawl_queue WHERE queue = $2",
        )
        .bind(at)
        .bind(queue)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        let count = |name: &str| {
            row.try_get::<i64, _>(name)
                .map(unsigned)
                .map_err(Self::corrupt)
        };
        let oldest: Option<i64> = row.try_get("oldest").map_err(Self::corrupt)?;
        Ok(QueueStats {
            waiting: count("waiting")?,
            leased: count("leased")?,
            dead: count("dead")?,
            oldest_ms: oldest.map(|created| unsigned(at - created)),
        })
    }

    async fn backlog(&self, at: Millis) -> Result<Backlog> {
        self.ensure_migrated().await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS jobs, MIN(created_at) AS oldest FROM trawl_jobs \
             WHERE state IN ('queued', 'running') AND published = 1",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        let jobs: i64 = row.try_get("jobs").map_err(Self::corrupt)?;
        let oldest: Option<i64> = row.try_get("oldest").map_err(Self::corrupt)?;
        Ok(Backlog {
            jobs: unsigned(jobs),
            oldest_ms: oldest.map(|created| unsigned(at - created)),
        })
    }

    async fn insert_source(&self, source: NewSource) -> Result<SourceRecord> {
        self.ensure_migrated().await?;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let row = sqlx::query(
            "INSERT INTO trawl_sources (kind, spec, refresh_ms, created_at, updated_at, next_run_at) \
             VALUES ($1, $2, $3, $4, $4, $5) RETURNING id",
        )
        .bind(&source.kind)
        .bind(&source.spec)
        .bind(source.refresh_ms)
        .bind(source.created_at)
        .bind(source.next_run_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let id: i64 = row.try_get(0).map_err(Self::corrupt)?;
        let row = sqlx::query(&format!(
            "SELECT {SOURCE_COLUMNS} FROM trawl_sources s WHERE s.id = $1"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let record = source_from_row(&row)?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(record)
    }

    async fn source(&self, id: i64) -> Result<Option<SourceRecord>> {
        self.ensure_migrated().await?;
        let row = sqlx::query(&format!(
            "SELECT {SOURCE_COLUMNS} FROM trawl_sources s WHERE s.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        row.as_ref().map(source_from_row).transpose()
    }

    async fn sources(&self, after: Option<i64>, limit: u32) -> Result<Vec<SourceRecord>> {
        self.ensure_migrated().await?;
        let rows = sqlx::query(&format!(
            "SELECT {SOURCE_COLUMNS} FROM trawl_sources s WHERE s.id > $1 ORDER BY s.id LIMIT $2"
        ))
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        rows.iter().map(source_from_row).collect()
    }

    async fn update_source(&self, id: i64, change: SourceChange) -> Result<SourceUpdate> {
        self.ensure_migrated().await?;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        // One statement decides: two changes from the same version cannot
        // both match it.
        let updated = sqlx::query(
            "UPDATE trawl_sources SET kind = $1, spec = $2, refresh_ms = $3, next_run_at = $4, \
             updated_at = $5, version = version + 1 \
             WHERE id = $6 AND ($7 IS NULL OR version = $7) RETURNING id",
        )
        .bind(&change.kind)
        .bind(&change.spec)
        .bind(change.refresh_ms)
        .bind(change.next_run_at)
        .bind(change.at)
        .bind(id)
        .bind(change.expected_version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let row = sqlx::query(&format!(
            "SELECT {SOURCE_COLUMNS} FROM trawl_sources s WHERE s.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(match (updated, row) {
            (Some(_), Some(row)) => SourceUpdate::Updated(source_from_row(&row)?),
            (None, Some(row)) => SourceUpdate::Stale(source_from_row(&row)?),
            (_, None) => SourceUpdate::NotFound,
        })
    }

    async fn delete_source(&self, id: i64) -> Result<Option<Vec<String>>> {
        self.ensure_migrated().await?;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let deleted = sqlx::query("DELETE FROM trawl_sources WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        if deleted.rows_affected() == 0 {
            tx.rollback().await.map_err(|e| self.error(e))?;
            return Ok(None);
        }
        // What its pages name, and what it holds (a page whose document
        // changed may name none while the source still holds it; `owner
        // <> 0`, true of every source, lets the planner use the sources'
        // index of owners).
        let rows = sqlx::query(
            "SELECT doc_id FROM trawl_crawl_pages WHERE source_id = $1 AND doc_id IS NOT NULL \
             UNION SELECT doc_id FROM trawl_document_owners WHERE owner = $1 AND owner <> 0",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let ids = rows
            .iter()
            .map(|row| row.try_get::<String, _>(0).map_err(Self::corrupt))
            .collect::<Result<Vec<_>>>()?;
        for table in ["trawl_crawl_pages", "trawl_crawl_runs"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE source_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(Some(ids))
    }

    async fn due_sources(&self, at: Millis, limit: u32) -> Result<Vec<SourceRecord>> {
        self.ensure_migrated().await?;
        let rows = sqlx::query(&format!(
            "SELECT {SOURCE_COLUMNS} FROM trawl_sources s WHERE s.next_run_at <= $1 \
             ORDER BY s.next_run_at, s.id LIMIT $2"
        ))
        .bind(at)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        rows.iter().map(source_from_row).collect()
    }

    async fn claim_crawl(
        &self,
        source_id: i64,
        expected_seq: i64,
        job: NewJob,
        next_run_at: Option<Millis>,
    ) -> Result<Option<JobRecord>> {
        self.ensure_migrated().await?;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        // The compare-and-set first: of two callers that read the same
        // sequence number, the second finds it moved (PostgreSQL re-reads
        // the row it waited for) and makes nothing.
        let claimed = sqlx::query(
            "UPDATE trawl_sources SET crawl_seq = crawl_seq + 1, next_run_at = $1 \
             WHERE id = $2 AND crawl_seq = $3",
        )
        .bind(next_run_at)
        .bind(source_id)
        .bind(expected_seq)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        if claimed.rows_affected() == 0 {
            tx.rollback().await.map_err(|e| self.error(e))?;
            return Ok(None);
        }
        let row = insert_job_query(&job)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.error(e))?
            .ok_or_else(|| StoreError::Duplicate("a crawl job with this idempotency key".into()))?;
        let record = job_from_row(&row)?;
        sqlx::query("INSERT INTO trawl_job_payloads (job_id, body) VALUES ($1, $2)")
            .bind(record.id)
            .bind(job.payload)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        sqlx::query("UPDATE trawl_sources SET crawl_job = $1 WHERE id = $2")
            .bind(record.id)
            .bind(source_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(Some(record))
    }

    async fn set_next_run(&self, source_id: i64, at: Option<Millis>) -> Result<()> {
        self.ensure_migrated().await?;
        sqlx::query("UPDATE trawl_sources SET next_run_at = $1 WHERE id = $2")
            .bind(at)
            .bind(source_id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn pages(&self, source_id: i64) -> Result<Vec<PageRecord>> {
        self.ensure_migrated().await?;
        let rows = sqlx::query(
            "SELECT url, doc_id, etag, last_modified, hash, seen_job, fetched_at, \
             CAST(CASE WHEN links IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_links \
             FROM trawl_crawl_pages WHERE source_id = $1",
        )
        .bind(source_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        rows.iter().map(page_from_row).collect()
    }

    async fn put_pages(&self, source_id: i64, pages: &[PageRecord]) -> Result<()> {
        self.ensure_migrated().await?;
        if pages.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        for page in pages {
            sqlx::query(
                "INSERT INTO trawl_crawl_pages \
                 (source_id, url, doc_id, etag, last_modified, hash, seen_job, fetched_at, links) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (source_id, url) DO UPDATE SET doc_id = excluded.doc_id, \
                 etag = excluded.etag, last_modified = excluded.last_modified, \
                 hash = excluded.hash, seen_job = excluded.seen_job, \
                 fetched_at = excluded.fetched_at, \
                 links = COALESCE(excluded.links, trawl_crawl_pages.links)",
            )
            .bind(source_id)
            .bind(&page.url)
            .bind(&page.doc_id)
            .bind(&page.etag)
            .bind(&page.last_modified)
            .bind(&page.hash)
            .bind(page.seen_job)
            .bind(page.fetched_at)
            .bind(&page.links)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn page_links(&self, source_id: i64, url: &str) -> Result<Option<String>> {
        self.ensure_migrated().await?;
        let row =
            sqlx::query("SELECT links FROM trawl_crawl_pages WHERE source_id = $1 AND url = $2")
                .bind(source_id)
                .bind(url)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
        Ok(match row {
            Some(row) => row.try_get::<Option<String>, _>(0).map_err(Self::corrupt)?,
            None => None,
        })
    }

    async fn pending_jobs(&self, source_id: i64) -> Result<u64> {
        self.ensure_migrated().await?;
        let count: i64 = sqlx::query(
            "SELECT COUNT(*) FROM trawl_jobs WHERE source_id = $1 AND kind <> 'crawl' \
             AND state IN ('queued', 'running')",
        )
        .bind(source_id)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.error(e))?
        .try_get(0)
        .map_err(Self::corrupt)?;
        Ok(unsigned(count))
    }

    async fn delete_pages(&self, source_id: i64, urls: &[String]) -> Result<()> {
        self.ensure_migrated().await?;
        if urls.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        for url in urls {
            sqlx::query("DELETE FROM trawl_crawl_pages WHERE source_id = $1 AND url = $2")
                .bind(source_id)
                .bind(url)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn claim_documents(&self, owner: Owner, ids: &[String]) -> Result<()> {
        self.ensure_migrated().await?;
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO trawl_document_owners (doc_id, owner) \
             SELECT value, $1 FROM {} WHERE true \
             ON CONFLICT (doc_id, owner) DO NOTHING",
            self.backend.json_strings("$2")
        );
        sqlx::query(&sql)
            .bind(owner)
            .bind(json_list(ids))
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn release_documents(&self, owner: Owner, ids: &[String]) -> Result<Vec<String>> {
        self.ensure_migrated().await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = json_list(ids);
        let ids_in = format!(
            "doc_id IN (SELECT value FROM {})",
            self.backend.json_strings("$2")
        );
        // The write first (SQLite's single writer waits for it), then who
        // still holds them, in the same transaction.
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        sqlx::query(&format!(
            "DELETE FROM trawl_document_owners WHERE owner = $1 AND {ids_in}"
        ))
        .bind(owner)
        .bind(&list)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT doc_id FROM trawl_document_owners WHERE owner <> $1 AND {ids_in}"
        ))
        .bind(owner)
        .bind(&list)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        let held = rows
            .iter()
            .map(|row| row.try_get::<String, _>(0).map_err(Self::corrupt))
            .collect::<Result<std::collections::HashSet<String>>>()?;
        Ok(ids
            .iter()
            .filter(|id| !held.contains(*id))
            .cloned()
            .collect())
    }

    async fn put_run(&self, run: CrawlRunRecord) -> Result<()> {
        self.ensure_migrated().await?;
        sqlx::query(
            "INSERT INTO trawl_crawl_runs (job_id, source_id, state, started_at, finished_at, stats) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (job_id) DO UPDATE SET \
             state = excluded.state, started_at = excluded.started_at, \
             finished_at = excluded.finished_at, stats = excluded.stats",
        )
        .bind(run.job_id)
        .bind(run.source_id)
        .bind(&run.state)
        .bind(run.started_at)
        .bind(run.finished_at)
        .bind(&run.stats)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn runs(&self, source_id: i64, limit: u32) -> Result<Vec<CrawlRunRecord>> {
        self.ensure_migrated().await?;
        let rows = sqlx::query(
            "SELECT job_id, source_id, state, started_at, finished_at, stats \
             FROM trawl_crawl_runs WHERE source_id = $1 ORDER BY job_id DESC LIMIT $2",
        )
        .bind(source_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        rows.iter().map(run_from_row).collect()
    }
}
