//! The worker against a real index, a real store and both queues, with
//! failures injected where nothing real can be made to fail on demand: the
//! store's reads of a job's documents (as a database connection lost
//! mid-job would). Everything else is the real thing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use trawl_api::IndexerService;
use trawl_api::jobs::{Batch, BatchFormat, Job, JobState};
use trawl_index::LocalIndex;
use trawl_indexer::{Indexer, IndexerSettings, Worker, WorkerSettings};
use trawl_queue::testing::fresh_rabbitmq;
use trawl_queue::{AmqpQueue, EmbeddedSettings, Queue, StoreQueue};
use trawl_store::*;

/// The real store, whose `payload` fails while `failures` lasts.
struct Flaky {
    inner: SqlStore,
    failures: AtomicU32,
}

#[async_trait]
impl Store for Flaky {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    async fn insert_key(&self, key: NewKey) -> Result<KeyRecord> {
        self.inner.insert_key(key).await
    }
    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<KeyRecord>> {
        self.inner.key_by_prefix(prefix).await
    }
    async fn keys(&self) -> Result<Vec<KeyRecord>> {
        self.inner.keys().await
    }
    async fn revoke_key(&self, name_or_prefix: &str, at: Millis) -> Result<Option<KeyRecord>> {
        self.inner.revoke_key(name_or_prefix, at).await
    }
    async fn key_used(&self, id: i64, at: Millis) -> Result<()> {
        self.inner.key_used(id, at).await
    }
    async fn insert_job(&self, job: NewJob) -> Result<Inserted> {
        self.inner.insert_job(job).await
    }
    async fn set_published(&self, id: i64) -> Result<()> {
        self.inner.set_published(id).await
    }
    async fn discard_unpublished(&self, id: i64) -> Result<()> {
        self.inner.discard_unpublished(id).await
    }
    async fn purge_unpublished(&self, before: Millis) -> Result<u64> {
        self.inner.purge_unpublished(before).await
    }
    async fn job(&self, id: i64) -> Result<Option<JobRecord>> {
        self.inner.job(id).await
    }
    async fn jobs(
        &self,
        state: Option<trawl_store::JobState>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<JobRecord>> {
        self.inner.jobs(state, before, limit).await
    }
    async fn cancel_job(&self, id: i64, at: Millis) -> Result<Cancel> {
        self.inner.cancel_job(id, at).await
    }
    async fn start_job(&self, id: i64, lease_until: Millis, at: Millis) -> Result<Start> {
        self.inner.start_job(id, lease_until, at).await
    }
    async fn payload(&self, id: i64) -> Result<Option<Vec<u8>>> {
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(StoreError::Unavailable {
                backend: "sqlite",
                reason: "injected: the connection was lost".to_owned(),
            });
        }
        self.inner.payload(id).await
    }
    async fn progress(&self, id: i64, done: u64, lease_until: Millis) -> Result<()> {
        self.inner.progress(id, done, lease_until).await
    }
    async fn finish_job(&self, id: i64, finish: Finish, at: Millis) -> Result<()> {
        self.inner.finish_job(id, finish, at).await
    }
    async fn requeue_expired(&self, at: Millis) -> Result<u64> {
        self.inner.requeue_expired(at).await
    }
    async fn purge_finished(&self, before: Millis) -> Result<u64> {
        self.inner.purge_finished(before).await
    }
    async fn push_message(&self, queue: &str, job_id: i64, visible_at: Millis) -> Result<i64> {
        self.inner.push_message(queue, job_id, visible_at).await
    }
    async fn claim_message(
        &self,
        queue: &str,
        owner: &str,
        at: Millis,
        lease_until: Millis,
    ) -> Result<Option<QueuedMessage>> {
        self.inner
            .claim_message(queue, owner, at, lease_until)
            .await
    }
    async fn extend_message(&self, id: i64, owner: &str, lease_until: Millis) -> Result<bool> {
        self.inner.extend_message(id, owner, lease_until).await
    }
    async fn delete_message(&self, id: i64) -> Result<()> {
        self.inner.delete_message(id).await
    }
    async fn delay_message(&self, id: i64, visible_at: Millis, error: &str) -> Result<()> {
        self.inner.delay_message(id, visible_at, error).await
    }
    async fn bury_message(&self, id: i64, error: &str) -> Result<()> {
        self.inner.bury_message(id, error).await
    }
    async fn release_messages(&self, queue: &str) -> Result<u64> {
        self.inner.release_messages(queue).await
    }
    async fn queue_stats(&self, queue: &str, at: Millis) -> Result<QueueStats> {
        self.inner.queue_stats(queue, at).await
    }
    async fn backlog(&self, at: Millis) -> Result<trawl_store::Backlog> {
        self.inner.backlog(at).await
    }
    async fn insert_source(&self, source: NewSource) -> Result<SourceRecord> {
        self.inner.insert_source(source).await
    }
    async fn source(&self, id: i64) -> Result<Option<SourceRecord>> {
        self.inner.source(id).await
    }
    async fn sources(&self, after: Option<i64>, limit: u32) -> Result<Vec<SourceRecord>> {
        self.inner.sources(after, limit).await
    }
    async fn update_source(&self, id: i64, change: SourceChange) -> Result<SourceUpdate> {
        self.inner.update_source(id, change).await
    }
    async fn delete_source(&self, id: i64) -> Result<Option<Vec<String>>> {
        self.inner.delete_source(id).await
    }
    async fn due_sources(&self, at: Millis, limit: u32) -> Result<Vec<SourceRecord>> {
        self.inner.due_sources(at, limit).await
    }
    async fn claim_crawl(
        &self,
        source_id: i64,
        expected_seq: i64,
        job: NewJob,
        next_run_at: Option<Millis>,
    ) -> Result<Option<JobRecord>> {
        self.inner
            .claim_crawl(source_id, expected_seq, job, next_run_at)
            .await
    }
    async fn set_next_run(&self, source_id: i64, at: Option<Millis>) -> Result<()> {
        self.inner.set_next_run(source_id, at).await
    }
    async fn pages(&self, source_id: i64) -> Result<Vec<PageRecord>> {
        self.inner.pages(source_id).await
    }
    async fn put_pages(&self, source_id: i64, pages: &[PageRecord]) -> Result<()> {
        self.inner.put_pages(source_id, pages).await
    }
    async fn delete_pages(&self, source_id: i64, urls: &[String]) -> Result<()> {
        self.inner.delete_pages(source_id, urls).await
    }
    async fn put_run(&self, run: CrawlRunRecord) -> Result<()> {
        self.inner.put_run(run).await
    }
    async fn runs(&self, source_id: i64, limit: u32) -> Result<Vec<CrawlRunRecord>> {
        self.inner.runs(source_id, limit).await
    }
    async fn page_links(&self, source_id: i64, url: &str) -> Result<Option<String>> {
        self.inner.page_links(source_id, url).await
    }
    async fn pending_jobs(&self, source_id: i64) -> Result<u64> {
        self.inner.pending_jobs(source_id).await
    }
    async fn claim_documents(&self, owner: i64, ids: &[String]) -> Result<()> {
        self.inner.claim_documents(owner, ids).await
    }
    async fn release_documents(&self, owner: i64, ids: &[String]) -> Result<Vec<String>> {
        self.inner.release_documents(owner, ids).await
    }
}

/// An indexer (service and worker) over a temporary index and SQLite
/// store, on the embedded queue or RabbitMQ.
struct Rig {
    name: &'static str,
    store: Arc<Flaky>,
    queue: Arc<dyn Queue>,
    indexer: Indexer,
    amqp: Option<AmqpQueue>,
    worker: Option<trawl_indexer::WorkerHandle>,
    index: Arc<LocalIndex>,
    _dir: tempfile::TempDir,
}

async fn rigs(test: &str, failures: u32, max_attempts: u32) -> Vec<Rig> {
    let mut rigs = Vec::new();
    let mut amqp = fresh_rabbitmq(test).await.map(|(_, settings)| settings);
    for name in ["embedded", "rabbitmq"] {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Flaky {
            inner: SqlStore::open(&StoreSettings::sqlite(dir.path().join("trawl.db")))
                .await
                .unwrap(),
            failures: AtomicU32::new(failures),
        });
        let shared: Arc<dyn Store> = store.clone();
        let (queue, cleanup): (Arc<dyn Queue>, _) = match name {
            "embedded" => (
                Arc::new(StoreQueue::new(
                    shared.clone(),
                    EmbeddedSettings {
                        name: "jobs".into(),
                        owner: "test".into(),
                        lease: Duration::from_secs(60),
                        poll: Duration::from_millis(20),
                    },
                )),
                None,
            ),
            _ => {
                let Some(settings) = amqp.take() else {
                    continue;
                };
                (
                    Arc::new(AmqpQueue::new(settings.clone()).unwrap()),
                    Some(AmqpQueue::new(settings).unwrap()),
                )
            }
        };
        let index = Arc::new(LocalIndex::open_or_create(&dir.path().join("index")).unwrap());
        let settings = WorkerSettings {
            retry_backoff: Duration::from_millis(50),
            retry_backoff_max: Duration::from_millis(200),
            ..WorkerSettings::new(dir.path().join("indexer.lock"))
        };
        let worker = Worker::new(index.clone(), shared.clone(), queue.clone(), settings);
        let indexer = Indexer::new(
            shared,
            queue.clone(),
            IndexerSettings {
                max_attempts,
                ..IndexerSettings::default()
            },
            Some(worker.state()),
        );
        rigs.push(Rig {
            name,
            store,
            queue,
            indexer,
            amqp: cleanup,
            worker: Some(worker.spawn()),
            index,
            _dir: dir,
        });
    }
    rigs
}

impl Rig {
    async fn submit(&self, documents: usize) -> Job {
        let body: String = (0..documents)
            .map(|i| {
                format!("{{\"id\":\"d{i}\",\"title\":\"t\",\"url\":\"https://x.org/{i}\",\"body\":\"retried\"}}\n")
            })
            .collect();
        self.indexer
            .submit(
                Batch {
                    body: body.into(),
                    format: BatchFormat::Ndjson,
                    skip_bad: false,
                    idempotency_key: None,
                },
                None,
            )
            .await
            .unwrap()
            .job
    }

    async fn finished(&self, id: i64) -> Job {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let job = self.indexer.job(id).await.unwrap();
            if job.state.is_terminal() {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "{}: job {id} never finished: {job:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn dead_letters(&self) -> u64 {
        match &self.amqp {
            Some(queue) => u64::from(queue.dead_letters().await.unwrap()),
            None => self.store.queue_stats("jobs", 0).await.unwrap().dead,
        }
    }

    async fn done(mut self) {
        if let Some(worker) = self.worker.take() {
            worker.stop().await;
        }
        if let Some(queue) = self.amqp {
            queue.delete_all().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_retried_with_backoff_until_the_job_succeeds() {
    for rig in rigs("retried", 2, 5).await {
        let job = rig.submit(20).await;
        let done = rig.finished(job.id).await;
        assert_eq!(done.state, JobState::Succeeded, "{}: {done:?}", rig.name);
        assert_eq!(
            done.attempts, 3,
            "{}: two failed runs, then one that worked",
            rig.name
        );
        assert!(
            done.last_error.as_deref().unwrap().contains("injected"),
            "{}: {done:?}",
            rig.name
        );
        assert_eq!(done.counts.added, 20);
        assert_eq!(rig.index.num_docs(), 20);
        assert_eq!(rig.dead_letters().await, 0, "{}", rig.name);
        rig.done().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_keeps_failing_is_dead_lettered_and_failed_with_its_last_error() {
    for rig in rigs("dead_lettered", u32::MAX, 3).await {
        let job = rig.submit(5).await;
        let done = rig.finished(job.id).await;
        assert_eq!(done.state, JobState::Failed, "{}: {done:?}", rig.name);
        assert_eq!(done.attempts, 3, "{}", rig.name);
        assert!(done.last_error.as_deref().unwrap().contains("injected"));
        assert!(done.finished_at.is_some());
        let deadline = Instant::now() + Duration::from_secs(10);
        while rig.dead_letters().await != 1 {
            assert!(Instant::now() < deadline, "{}: no dead letter", rig.name);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(rig.index.num_docs(), 0);
        // Other work goes on.
        rig.store.failures.store(0, Ordering::SeqCst);
        let next = rig.submit(5).await;
        assert_eq!(rig.finished(next.id).await.state, JobState::Succeeded);
        rig.done().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_documents_cannot_be_read_fails_at_once_without_stopping_its_group() {
    for rig in rigs("unreadable", 0, 5).await {
        // Documents no door would have let in: written to the store
        // directly, as a bug or a hand-edited database could.
        let Inserted::New(bad) = rig
            .store
            .insert_job(NewJob {
                kind: JobKind::Documents,
                key_id: None,
                idempotency_key: None,
                fingerprint: vec![],
                max_attempts: 5,
                total: 2,
                skipped: 0,
                errors: "[]".into(),
                errors_total: 0,
                payload: b"{\"id\":\"ok\",\"title\":\"t\",\"url\":\"https://x.org/\",\"body\":\"b\"}\nnot a document\n".to_vec(),
                created_at: 0,
                traceparent: None,
                source_id: None,
            })
            .await
            .unwrap()
        else {
            panic!()
        };
        rig.store.set_published(bad.id).await.unwrap();
        rig.queue.publish(bad.id).await.unwrap();
        let good = rig.submit(3).await;
        let failed = rig.finished(bad.id).await;
        assert_eq!(
            (failed.state, failed.attempts),
            (JobState::Failed, 1),
            "{}: {failed:?}",
            rig.name
        );
        assert!(
            failed
                .last_error
                .as_deref()
                .unwrap()
                .contains("its document on line 2 is unreadable"),
            "{failed:?}"
        );
        assert_eq!(rig.finished(good.id).await.state, JobState::Succeeded);
        let ids: Vec<String> = rig
            .index
            .documents()
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(
            ids,
            ["d0", "d1", "d2"],
            "{}: nothing of the bad job",
            rig.name
        );
        assert_eq!(rig.dead_letters().await, 1);
        rig.done().await;
    }
}
