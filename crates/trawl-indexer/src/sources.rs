//! [`Sources`]: the in-process [`SourcesService`]. A source is a row of the
//! store with a version: every change names the version it was made from,
//! and the store applies it only if that is still the version (one
//! statement decides), so two people editing at once never silently
//! overwrite each other. A crawl is a job on the crawl queue, made by
//! [`Sources::crawl`] or by the scheduler ([`crate::crawl`]) through the
//! same compare-and-set on the source's crawl counter: one crawl job per
//! turn, however many indexers run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trawl_api::jobs::{Accepted, Job, rfc3339};
use trawl_api::sources::{
    CrawlCounts, CrawlRun, IfMatch, RUNS_SHOWN, Source, SourceIn, SourceSpec, SourcesPage,
    SourcesQuery, merge_patch, sources_cursor,
};
use trawl_api::{InvalidRequest, ServiceError, SourcesService};
use trawl_queue::Queue;
use trawl_store::{
    JobKind, JobState, NewJob, NewSource, SourceChange, SourceRecord, SourceUpdate, Store,
    now_millis,
};

use crate::dependency;
use crate::service::{Indexer, publish, wire_job};

/// What a crawl's run records, as the store keeps it (JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunStats {
    pub pages: CrawlCounts,
    pub errors: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the crawl could not tell which pages left the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
}

/// The in-process sources API.
pub struct Sources {
    store: Arc<dyn Store>,
    indexer: Arc<Indexer>,
    crawls: Arc<dyn Queue>,
    timeout: Duration,
}

impl Sources {
    /// Over the indexer's store, the indexer (which queues the jobs that
    /// remove a source's documents) and the crawl queue.
    pub fn new(store: Arc<dyn Store>, indexer: Arc<Indexer>, crawls: Arc<dyn Queue>) -> Self {
        let timeout = indexer.settings().dependency_timeout;
        Self {
            store,
            indexer,
            crawls,
            timeout,
        }
    }

    async fn stored<T>(
        &self,
        call: impl std::future::Future<Output = trawl_store::Result<T>>,
    ) -> Result<T, ServiceError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| dependency::timed_out(self.store.as_ref(), self.timeout))?
            .map_err(|e| dependency::store(self.store.as_ref(), e))
    }

    async fn record(&self, id: i64) -> Result<SourceRecord, ServiceError> {
        self.stored(self.store.source(id))
            .await?
            .ok_or_else(|| no_source(id))
    }

    /// A source as the API shows it, with its last runs.
    async fn wire(&self, record: SourceRecord) -> Result<Source, ServiceError> {
        let runs = self
            .stored(self.store.runs(record.id, RUNS_SHOWN as u32))
            .await?;
        let crawl_job = match record.crawl_job {
            Some(job) => self.live(job).await?.then_some(job),
            None => None,
        };
        let spec: SourceIn = serde_json::from_str(&record.spec)
            .map_err(|e| ServiceError::Internal(format!("source {}: {e}", record.id)))?;
        Ok(Source {
            id: record.id,
            version: record.version,
            spec,
            created_at: rfc3339(record.created_at),
            updated_at: rfc3339(record.updated_at),
            next_crawl_at: record.next_run_at.map(rfc3339),
            crawl_job,
            pages: record.pages,
            runs: runs
                .into_iter()
                .map(|run| {
                    let stats: RunStats = serde_json::from_str(&run.stats).unwrap_or_default();
                    let end = run.finished_at.unwrap_or_else(now_millis);
                    CrawlRun {
                        job: run.job_id,
                        state: trawl_api::jobs::JobState::parse(&run.state)
                            .unwrap_or(trawl_api::jobs::JobState::Running),
                        started_at: rfc3339(run.started_at),
                        finished_at: run.finished_at.map(rfc3339),
                        duration_ms: (end - run.started_at).max(0) as u64,
                        complete: run.state == "succeeded" && stats.incomplete.is_none(),
                        incomplete: stats.incomplete,
                        pages: stats.pages,
                        errors: stats.errors,
                        error: stats.error,
                    }
                })
                .collect(),
        })
    }

    /// Whether a crawl job is queued or running.
    async fn live(&self, job: i64) -> Result<bool, ServiceError> {
        Ok(self
            .stored(self.store.job(job))
            .await?
            .is_some_and(|j| !j.state.is_terminal()))
    }

    /// Applies a new specification to a source, from the version `if_match`
    /// names.
    async fn change(
        &self,
        current: SourceRecord,
        spec: SourceSpec,
        if_match: &IfMatch,
    ) -> Result<Source, ServiceError> {
        let expected = match if_match {
            IfMatch::Any => None,
            IfMatch::Versions(versions) if versions.contains(&current.version) => {
                Some(current.version)
            }
            IfMatch::Versions(_) => return Err(stale(&current)),
        };
        let refresh_ms = spec.refresh.map(millis);
        // A source that gains a schedule is due now; one that keeps it
        // keeps its turn; one that loses it has none.
        let next_run_at = match refresh_ms {
            Some(_) => Some(current.next_run_at.unwrap_or_else(now_millis)),
            None => None,
        };
        let change = SourceChange {
            expected_version: expected,
            kind: spec.kind.as_str().to_owned(),
            spec: spec_json(&spec),
            refresh_ms,
            next_run_at,
            at: now_millis(),
        };
        match self
            .stored(self.store.update_source(current.id, change))
            .await?
        {
            SourceUpdate::Updated(record) => self.wire(record).await,
            SourceUpdate::Stale(record) => Err(stale(&record)),
            SourceUpdate::NotFound => Err(no_source(current.id)),
        }
    }

    /// Publishes a crawl job the store recorded, or takes it back.
    async fn publish(&self, job: i64) -> Result<(), ServiceError> {
        publish(self.store.as_ref(), self.crawls.as_ref(), job, self.timeout).await
    }
}

/// How many times (50 ms apart) a crawl asked for waits for the source's
/// crawl that is made but not yet published.
const UNPUBLISHED_WAITS: u32 = 60;

/// A crawl job for a source, as the store records it.
pub(crate) fn crawl_job(source: i64, max_attempts: u32) -> NewJob {
    NewJob {
        kind: JobKind::Crawl,
        key_id: None,
        idempotency_key: None,
        fingerprint: format!("crawl {source}").into_bytes(),
        max_attempts,
        total: 0,
        skipped: 0,
        errors: "[]".to_owned(),
        errors_total: 0,
        payload: source.to_string().into_bytes(),
        created_at: now_millis(),
        traceparent: None,
        source_id: Some(source),
    }
}

fn millis(duration: Duration) -> i64 {
    duration.as_millis().min(i64::MAX as u128) as i64
}

/// What the store keeps of a specification: its wire form with every
/// default filled in (validated again when read).
fn spec_json(spec: &SourceSpec) -> String {
    serde_json::to_string(&spec.to_wire()).expect("a source serialises")
}

fn no_source(id: i64) -> ServiceError {
    ServiceError::NotFound(format!("there is no source {id}"))
}

fn stale(current: &SourceRecord) -> ServiceError {
    ServiceError::PreconditionFailed(format!(
        "source {} changed since you read it: it is at version {} now (ETag \"v{}\"); read it again and reapply your change",
        current.id, current.version, current.version
    ))
}

fn invalid_body(error: InvalidRequest) -> ServiceError {
    ServiceError::Invalid(error)
}

#[async_trait]
impl SourcesService for Sources {
    async fn create(&self, source: SourceIn) -> Result<Source, ServiceError> {
        let spec = source.validate().map_err(invalid_body)?;
        let now = now_millis();
        let record = self
            .stored(self.store.insert_source(NewSource {
                kind: spec.kind.as_str().to_owned(),
                spec: spec_json(&spec),
                refresh_ms: spec.refresh.map(millis),
                // With a schedule, its first crawl is due at once.
                next_run_at: spec.refresh.map(|_| now),
                created_at: now,
            }))
            .await?;
        self.wire(record).await
    }

    async fn sources(&self, query: &SourcesQuery) -> Result<SourcesPage, ServiceError> {
        let limit = query.limit.max(1);
        let mut records = self
            .stored(self.store.sources(query.after, limit + 1))
            .await?;
        let more = records.len() > limit as usize;
        records.truncate(limit as usize);
        let next_cursor = more
            .then(|| records.last().map(|r| sources_cursor(r.id)))
            .flatten();
        let mut sources = Vec::with_capacity(records.len());
        for record in records {
            sources.push(self.wire(record).await?);
        }
        Ok(SourcesPage {
            sources,
            next_cursor,
        })
    }

    async fn source(&self, id: i64) -> Result<Source, ServiceError> {
        let record = self.record(id).await?;
        self.wire(record).await
    }

    async fn replace(
        &self,
        id: i64,
        source: SourceIn,
        if_match: &IfMatch,
    ) -> Result<Source, ServiceError> {
        let spec = source.validate().map_err(invalid_body)?;
        let current = self.record(id).await?;
        self.change(current, spec, if_match).await
    }

    async fn patch(
        &self,
        id: i64,
        patch: serde_json::Value,
        if_match: &IfMatch,
    ) -> Result<Source, ServiceError> {
        if !patch.is_object() {
            return Err(ServiceError::Invalid(InvalidRequest::InvalidParameter {
                param: "body",
                reason: "a merge patch of a source must be a JSON object".to_owned(),
            }));
        }
        let current = self.record(id).await?;
        let mut document: serde_json::Value = serde_json::from_str(&current.spec)
            .map_err(|e| ServiceError::Internal(format!("source {id}: {e}")))?;
        // Defaults that belong to one kind go when the kind changes.
        if let Some(kind) = patch.get("kind")
            && Some(kind) != document.get("kind")
            && let Some(fields) = document.as_object_mut()
        {
            for field in ["url", "start_urls", "scope", "max_depth"] {
                fields.remove(field);
            }
        }
        merge_patch(&mut document, &patch);
        let source: SourceIn = serde_json::from_value(document).map_err(|e| {
            ServiceError::Invalid(InvalidRequest::InvalidParameter {
                param: "body",
                reason: format!("the patched source is not valid: {e}"),
            })
        })?;
        let spec = source.validate().map_err(invalid_body)?;
        self.change(current, spec, if_match).await
    }

    async fn remove(&self, id: i64) -> Result<Option<Job>, ServiceError> {
        let current = self.record(id).await?;
        if let Some(job) = current.crawl_job
            && self.live(job).await?
        {
            // A queued crawl can be called off; a running one cannot.
            match self
                .stored(self.store.cancel_job(job, now_millis()))
                .await?
            {
                trawl_store::Cancel::Cancelled(_) | trawl_store::Cancel::NotFound => {}
                trawl_store::Cancel::TooLate(record) if record.state == JobState::Running => {
                    return Err(ServiceError::Conflict(format!(
                        "source {id} is being crawled (job {job}); remove it once the crawl ends, \
                         or cancel nothing and try again shortly"
                    )));
                }
                trawl_store::Cancel::TooLate(_) => {}
            }
        }
        let Some(documents) = self.stored(self.store.delete_source(id)).await? else {
            return Err(no_source(id));
        };
        if documents.is_empty() {
            return Ok(None);
        }
        // The source is gone from the store: if queuing the removal fails
        // now, its documents stay in the index until removed by id, so the
        // failure is reported with their count.
        let count = documents.len();
        match self.indexer.remove_documents(id, documents, None).await {
            Ok(accepted) => Ok(Some(accepted.job)),
            Err(e) => Err(ServiceError::Internal(format!(
                "source {id} was removed, but the job removing its {count} documents could not be queued: {e}"
            ))),
        }
    }

    async fn crawl(&self, id: i64) -> Result<Accepted, ServiceError> {
        let mut waited = 0;
        let mut claims = 0;
        while claims < 3 {
            let current = self.record(id).await?;
            if let Some(job) = current.crawl_job {
                let record = self.stored(self.store.job(job)).await?;
                match record.filter(|j| !j.state.is_terminal()) {
                    Some(record) if record.published => {
                        return Ok(Accepted {
                            job: wire_job(&record),
                            replayed: true,
                        });
                    }
                    // The scheduler made it a moment ago and is publishing
                    // it: a second crawl now would run beside it. Wait for
                    // it (a publisher that died leaves it unpublished: then
                    // this one is made, and that one purged).
                    Some(_) if waited < UNPUBLISHED_WAITS => {
                        waited += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    _ => {}
                }
            }
            claims += 1;
            let mut job = crawl_job(id, self.indexer.settings().max_attempts);
            job.traceparent = trawl_service::trace::traceparent(&tracing::Span::current());
            // A crawl on request is this turn's: the next is one interval
            // from now.
            let next_run_at = current
                .refresh_ms
                .map(|refresh| now_millis().saturating_add(refresh));
            let claimed = self
                .stored(
                    self.store
                        .claim_crawl(id, current.crawl_seq, job, next_run_at),
                )
                .await?;
            if let Some(record) = claimed {
                self.publish(record.id).await?;
                return Ok(Accepted {
                    job: wire_job(&trawl_store::JobRecord {
                        published: true,
                        ..record
                    }),
                    replayed: false,
                });
            }
            // Someone made a crawl between our reading and our claim:
            // look again, and return theirs.
        }
        Err(ServiceError::Conflict(format!(
            "source {id} is changing too fast to crawl now; try again"
        )))
    }
}
