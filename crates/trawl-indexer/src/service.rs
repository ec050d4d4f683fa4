//! [`Indexer`]: the in-process [`IndexerService`]. It checks batches at the
//! door, records each job with its payload in the store, and publishes it
//! to the queue; a job is acknowledged (`202`) only once both hold it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use trawl_api::jobs::{
    Accepted, Batch, BatchFormat, DocumentError, IdempotencyKey, Job, JobCounts, JobProgress,
    JobsPage, JobsQuery, MAX_ID_BYTES, jobs_cursor, rfc3339,
};
use trawl_api::{Check, IndexerService, InvalidRequest, Readiness, ServiceError};
use trawl_queue::Queue;
use trawl_store::{Cancel, Inserted, JobRecord, NewJob, Store};

use crate::batch::check;
use crate::dependency;
use crate::worker::WorkerState;
use trawl_store::now_millis;

/// What the indexer accepts, and how long it waits for its dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexerSettings {
    /// Largest request body of `POST /v1/documents`.
    pub max_body_bytes: usize,
    /// Bytes of bodies received and not yet checked, at once: a request
    /// whose bytes find no room waits (within its deadline). Counted as
    /// bytes arrive, so a body that is announced and never sent holds
    /// nothing.
    pub max_body_bytes_in_flight: usize,
    /// The same, for the requests of one key: one key cannot take the
    /// room of every other.
    pub max_body_bytes_in_flight_per_key: usize,
    /// How large one document may be.
    pub document_limits: trawl_index::DocumentLimits,
    /// Most documents one batch may hold.
    pub max_documents: usize,
    /// Runs a job may take before it fails for good.
    pub max_attempts: u32,
    /// Longest wait for one call to the store or the queue.
    pub dependency_timeout: Duration,
}

impl Default for IndexerSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 * 1024 * 1024,
            max_body_bytes_in_flight: 96 * 1024 * 1024,
            max_body_bytes_in_flight_per_key: 32 * 1024 * 1024,
            document_limits: trawl_index::DocumentLimits::default(),
            max_documents: trawl_api::jobs::MAX_BATCH_DOCUMENTS,
            max_attempts: 5,
            dependency_timeout: Duration::from_secs(3),
        }
    }
}

/// The in-process write API.
pub struct Indexer {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    settings: IndexerSettings,
    /// The worker of this process, if it runs one, for readiness.
    worker: Option<Arc<WorkerState>>,
}

impl Indexer {
    /// The write path over a store, a queue and the index.
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        settings: IndexerSettings,
        worker: Option<Arc<WorkerState>>,
    ) -> Self {
        Self {
            store,
            queue,
            settings,
            worker,
        }
    }

    /// The limits it applies.
    pub fn settings(&self) -> &IndexerSettings {
        &self.settings
    }

    /// Queues a job by which `source` lets go of these documents (a crawl
    /// found them gone, or the source was removed): each leaves the index
    /// unless another owner still holds it.
    pub(crate) async fn remove_documents(
        &self,
        source: i64,
        ids: Vec<String>,
        submitter: Option<i64>,
    ) -> Result<Accepted, ServiceError> {
        let payload = serde_json::to_vec(&ids).expect("ids serialise");
        self.enqueue(NewJob {
            kind: trawl_store::JobKind::Remove,
            source_id: Some(source),
            key_id: submitter,
            idempotency_key: None,
            fingerprint: fingerprint(&[b"remove", &payload]),
            max_attempts: self.settings.max_attempts,
            total: ids.len() as u64,
            skipped: 0,
            errors: "[]".to_owned(),
            errors_total: 0,
            payload,
            created_at: now_millis(),
            traceparent: None,
        })
        .await
    }

    /// Queues a job that adds or replaces these documents for `source` (a
    /// crawl's), which then holds them.
    pub(crate) async fn add_documents(
        &self,
        source: i64,
        documents: &[trawl_index::Document],
    ) -> Result<Accepted, ServiceError> {
        let mut payload = Vec::new();
        for doc in documents {
            payload.extend_from_slice(doc.to_json().as_bytes());
            payload.push(b'\n');
        }
        self.enqueue(NewJob {
            kind: trawl_store::JobKind::Documents,
            source_id: Some(source),
            key_id: None,
            idempotency_key: None,
            fingerprint: fingerprint(&[b"documents", b"crawl", &payload]),
            max_attempts: self.settings.max_attempts,
            total: documents.len() as u64,
            skipped: 0,
            errors: "[]".to_owned(),
            errors_total: 0,
            payload,
            created_at: now_millis(),
            traceparent: None,
        })
        .await
    }

    /// A call to the store, bounded in time.
    async fn stored<T>(
        &self,
        call: impl Future<Output = trawl_store::Result<T>>,
    ) -> Result<T, ServiceError> {
        let timeout = self.settings.dependency_timeout;
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| dependency::timed_out(self.store.as_ref(), timeout))?
            .map_err(|e| dependency::store(self.store.as_ref(), e))
    }

    /// Records a job and hands it to the queue, or finds the job an earlier
    /// request with the same idempotency key made.
    /// The job carries the trace context of the request making it.
    async fn enqueue(&self, mut job: NewJob) -> Result<Accepted, ServiceError> {
        let fingerprint = job.fingerprint.clone();
        job.traceparent = trawl_service::trace::traceparent(&tracing::Span::current());
        match self.stored(self.store.insert_job(job)).await? {
            Inserted::New(record) => {
                self.publish(record.id).await?;
                Ok(Accepted {
                    job: wire_job(&JobRecord {
                        published: true,
                        ..record
                    }),
                    replayed: false,
                })
            }
            Inserted::Existing(record) => {
                if record.fingerprint != fingerprint {
                    return Err(ServiceError::IdempotencyKeyReused);
                }
                // The first attempt was refused after its job was recorded
                // (the queue was down): queue it now.
                if !record.published {
                    self.publish(record.id).await?;
                }
                Ok(Accepted {
                    job: wire_job(&record),
                    replayed: true,
                })
            }
        }
    }

    async fn publish(&self, id: i64) -> Result<(), ServiceError> {
        publish(
            self.store.as_ref(),
            self.queue.as_ref(),
            id,
            self.settings.dependency_timeout,
        )
        .await
    }
}

/// Publishes a recorded job on `queue` (the index's, or the crawl queue).
/// If the queue refuses, the job is taken back: nobody will be told it
/// exists, and a retry starts afresh.
pub(crate) async fn publish(
    store: &dyn Store,
    queue: &dyn Queue,
    id: i64,
    timeout: Duration,
) -> Result<(), ServiceError> {
    let published = match tokio::time::timeout(timeout, queue.publish(id)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(dependency::queue(queue, e)),
        Err(_) => Err(dependency::queue(
            queue,
            trawl_queue::QueueError::Unavailable {
                queue: "job",
                reason: format!("no confirm within {} ms", timeout.as_millis()),
            },
        )),
    };
    if let Err(error) = published {
        tracing::warn!(job = id, %error, "job not queued; refused");
        let _ = tokio::time::timeout(timeout, store.discard_unpublished(id)).await;
        return Err(error);
    }
    tokio::time::timeout(timeout, store.set_published(id))
        .await
        .map_err(|_| dependency::timed_out(store, timeout))?
        .map_err(|e| dependency::store(store, e))
}

fn fingerprint(parts: &[&[u8]]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}

/// A job as the API shows it.
pub(crate) fn wire_job(record: &JobRecord) -> Job {
    use trawl_api::jobs::{JobKind as Kind, JobState as State};
    Job {
        id: record.id,
        kind: match record.kind {
            trawl_store::JobKind::Documents => Kind::Documents,
            trawl_store::JobKind::Delete => Kind::Delete,
            trawl_store::JobKind::Remove => Kind::Remove,
            trawl_store::JobKind::Crawl => Kind::Crawl,
        },
        state: match record.state {
            trawl_store::JobState::Queued => State::Queued,
            trawl_store::JobState::Running => State::Running,
            trawl_store::JobState::Succeeded => State::Succeeded,
            trawl_store::JobState::Failed => State::Failed,
            trawl_store::JobState::Cancelled => State::Cancelled,
        },
        attempts: record.attempts,
        max_attempts: record.max_attempts,
        // A crawl does not know its pages in advance: its total is what it
        // handled so far.
        progress: match record.kind {
            trawl_store::JobKind::Crawl => JobProgress {
                done: record.done,
                total: record.done.max(record.total),
            },
            _ => JobProgress {
                done: record.done.min(record.total),
                total: record.total,
            },
        },
        counts: JobCounts {
            added: record.added,
            replaced: record.replaced,
            skipped: record.skipped,
            deleted: record.deleted,
            kept: record.kept,
        },
        errors: serde_json::from_str::<Vec<DocumentError>>(&record.errors).unwrap_or_default(),
        errors_total: record.errors_total,
        last_error: record.last_error.clone(),
        created_at: rfc3339(record.created_at),
        started_at: record.started_at.map(rfc3339),
        finished_at: record.finished_at.map(rfc3339),
    }
}

fn store_state(state: trawl_api::jobs::JobState) -> trawl_store::JobState {
    use trawl_api::jobs::JobState as State;
    match state {
        State::Queued => trawl_store::JobState::Queued,
        State::Running => trawl_store::JobState::Running,
        State::Succeeded => trawl_store::JobState::Succeeded,
        State::Failed => trawl_store::JobState::Failed,
        State::Cancelled => trawl_store::JobState::Cancelled,
    }
}

fn no_job(id: i64) -> ServiceError {
    ServiceError::NotFound(format!("there is no job {id}"))
}

#[async_trait]
impl IndexerService for Indexer {
    async fn submit(&self, batch: Batch, submitter: Option<i64>) -> Result<Accepted, ServiceError> {
        let format: &[u8] = match batch.format {
            BatchFormat::Json => b"json",
            BatchFormat::Ndjson => b"ndjson",
        };
        let print = fingerprint(&[
            b"documents",
            format,
            &[u8::from(batch.skip_bad)],
            &batch.body,
        ]);
        let idempotency_key = batch.idempotency_key.clone();
        let max_documents = self.settings.max_documents;
        let limits = self.settings.document_limits;
        // Work in proportion to the body (up to tens of MiB): off the
        // async workers.
        let checked = tokio::task::spawn_blocking(move || check(&batch, max_documents, &limits))
            .await
            .map_err(|e| ServiceError::Internal(format!("checking a batch failed: {e}")))??;
        self.enqueue(NewJob {
            kind: trawl_store::JobKind::Documents,
            source_id: None,
            key_id: submitter,
            idempotency_key: idempotency_key.map(|k| k.as_str().to_owned()),
            fingerprint: print,
            max_attempts: self.settings.max_attempts,
            total: checked.documents,
            skipped: checked.errors_total,
            errors: serde_json::to_string(&checked.errors).expect("errors serialise"),
            errors_total: checked.errors_total,
            payload: checked.payload,
            created_at: now_millis(),
            traceparent: None,
        })
        .await
    }

    async fn delete(
        &self,
        id: &str,
        idempotency_key: Option<IdempotencyKey>,
        submitter: Option<i64>,
    ) -> Result<Accepted, ServiceError> {
        if id.trim().is_empty() || id.len() > MAX_ID_BYTES {
            return Err(ServiceError::Invalid(InvalidRequest::InvalidParameter {
                param: "id",
                reason: format!("must be a document id of 1 to {MAX_ID_BYTES} bytes"),
            }));
        }
        self.enqueue(NewJob {
            kind: trawl_store::JobKind::Delete,
            source_id: None,
            key_id: submitter,
            idempotency_key: idempotency_key.map(|k| k.as_str().to_owned()),
            fingerprint: fingerprint(&[b"delete", id.as_bytes()]),
            max_attempts: self.settings.max_attempts,
            total: 1,
            skipped: 0,
            errors: "[]".to_owned(),
            errors_total: 0,
            payload: id.as_bytes().to_vec(),
            created_at: now_millis(),
            traceparent: None,
        })
        .await
    }

    async fn job(&self, id: i64) -> Result<Job, ServiceError> {
        match self.stored(self.store.job(id)).await? {
            Some(record) if record.published => Ok(wire_job(&record)),
            _ => Err(no_job(id)),
        }
    }

    async fn jobs(&self, query: &JobsQuery) -> Result<JobsPage, ServiceError> {
        let limit = query.limit.max(1);
        let mut records = self
            .stored(
                self.store
                    .jobs(query.state.map(store_state), query.before, limit + 1),
            )
            .await?;
        let more = records.len() > limit as usize;
        records.truncate(limit as usize);
        Ok(JobsPage {
            next_cursor: more
                .then(|| records.last().map(|r| jobs_cursor(r.id)))
                .flatten(),
            jobs: records.iter().map(wire_job).collect(),
        })
    }

    async fn cancel(&self, id: i64) -> Result<Job, ServiceError> {
        match self.stored(self.store.cancel_job(id, now_millis())).await? {
            Cancel::Cancelled(record) => Ok(wire_job(&record)),
            Cancel::TooLate(record) => Err(ServiceError::Conflict(format!(
                "job {id} is {}: only a queued job can be cancelled",
                record.state.as_str()
            ))),
            Cancel::NotFound => Err(no_job(id)),
        }
    }

    async fn readiness(&self) -> Readiness {
        let timeout = self.settings.dependency_timeout;
        let store = match tokio::time::timeout(timeout, self.store.ping()).await {
            Ok(Ok(())) => Check::new(
                "store",
                true,
                format!("{} answers", dependency::store_name(self.store.as_ref())),
            ),
            Ok(Err(e)) => Check::new("store", false, e.to_string()),
            Err(_) => Check::new(
                "store",
                false,
                format!(
                    "{} did not answer within {} ms",
                    dependency::store_name(self.store.as_ref()),
                    timeout.as_millis()
                ),
            ),
        };
        let queue = match tokio::time::timeout(timeout, self.queue.status()).await {
            Ok(status) => Check::new("queue", status.ok, status.detail),
            Err(_) => Check::new(
                "queue",
                false,
                format!(
                    "{} did not answer within {} ms",
                    dependency::queue_name(self.queue.as_ref()),
                    timeout.as_millis()
                ),
            ),
        };
        let mut checks = vec![store, queue];
        if let Some(worker) = &self.worker {
            checks.push(worker.check());
        }
        Readiness::from_checks(checks)
    }
}
