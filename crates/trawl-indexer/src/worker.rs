//! The worker: the only writer of the index, fed by the queue.
//!
//! Two halves. An async task talks to the store and the queue; a thread of
//! its own (the [`writer`](crate::writer) thread) owns the index's writer
//! and does the long, blocking index work the task hands it. In order:
//!
//! 1. **Leadership.** The task takes an exclusive lock on a file in the
//!    data directory (`indexer.lock`). A second indexer on the same data
//!    waits on standby, still serving the write API, and takes over when the
//!    first dies (the system releases a dead process's lock). Becoming the
//!    one consumer, it releases whatever a dead predecessor held in the
//!    queue.
//! 2. **Group commit.** It takes a message, has its job run into the
//!    writer, takes the next message the queue has ready, and so on up to
//!    `group_jobs` jobs or `group_documents` documents; then commits once.
//!    Only after the commit are the jobs marked `succeeded` and their
//!    messages acknowledged: a crash before that leaves them in the queue,
//!    and their rerun (upserts and deletes by id) changes nothing twice.
//! 3. **Failures.** A job whose payload cannot be read fails for good (dead
//!    letter); any other failure (the index, the store) puts the group's
//!    jobs back with a backoff that doubles per attempt, until a job's
//!    attempts are spent: then it fails and goes to the dead letters.
//!
//! While jobs run, their leases (in the store, and in the embedded queue)
//! are extended every second; jobs whose lease ran out (their worker died)
//! are put back to `queued` by the reaper, which also drops jobs that never
//! reached the queue. The writer is dropped after a while without work:
//! memory goes back, and `trawl index add` may take the lock in between.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::Instrument;
use trawl_api::Check;
use trawl_index::LocalIndex;
use trawl_queue::{Delivery, Queue};
use trawl_store::{Finish, JobKind, JobRecord, Millis, Start, Store};

use crate::writer::{Applied, ApplyError, WriterThread};
use trawl_store::now_millis;

/// How the worker runs jobs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The leadership lock file.
    pub lock_path: PathBuf,
    /// Jobs committed together, at most.
    pub group_jobs: usize,
    /// Documents committed together, at most (a job is never split).
    pub group_documents: u64,
    /// How long a running job stays this worker's without news of it.
    pub lease: Duration,
    /// The first retry's delay; each attempt doubles it, up to
    /// `retry_backoff_max`.
    pub retry_backoff: Duration,
    /// The longest wait between two attempts of a job.
    pub retry_backoff_max: Duration,
    /// Drop the index's writer after this long without work.
    pub idle_release: Duration,
    /// Longest wait for one call to the store or the queue.
    pub dependency_timeout: Duration,
    /// How long finished jobs are kept (then removed, with what they say).
    pub keep_finished: Duration,
}

impl WorkerSettings {
    /// A state whose writer lock is `lock_path`.
    pub fn new(lock_path: PathBuf) -> Self {
        Self {
            lock_path,
            group_jobs: 16,
            group_documents: 200_000,
            lease: Duration::from_secs(60),
            retry_backoff: Duration::from_secs(1),
            retry_backoff_max: Duration::from_secs(300),
            idle_release: Duration::from_secs(2),
            dependency_timeout: Duration::from_secs(3),
            keep_finished: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// What the worker is doing, for `/readyz`.
#[derive(Debug, Default)]
pub struct WorkerState {
    report: Mutex<(bool, String)>,
    succeeded: AtomicU64,
}

impl WorkerState {
    fn set(&self, ok: bool, detail: impl Into<String>) {
        *self.report.lock().expect("not poisoned") = (ok, detail.into());
    }

    /// The worker's readiness: whether it holds the writer lock and runs.
    pub fn check(&self) -> Check {
        let (ok, detail) = self.report.lock().expect("not poisoned").clone();
        let detail = if detail.is_empty() {
            "starting".to_owned()
        } else {
            detail
        };
        Check::new(
            "worker",
            ok,
            format!(
                "{detail}; {} jobs succeeded since start",
                self.succeeded.load(Ordering::Relaxed)
            ),
        )
    }
}

/// The index's only writer: takes jobs from the queue and runs them.
pub struct Worker {
    index: Arc<LocalIndex>,
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    settings: WorkerSettings,
    state: Arc<WorkerState>,
}

/// The running worker. [`stop`](Self::stop) lets it finish what it does;
/// dropping the handle (or the runtime) abandons it, and its jobs run
/// again later.
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Asks the worker to stop (a job cut short is rolled back, to run
    /// again later) and waits until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// A job in the current group.
struct Running {
    delivery: Delivery,
    job: JobRecord,
    applied: Applied,
    /// The job's span, from start to settling, in the trace of the
    /// request that made the job.
    span: tracing::Span,
    started: Instant,
}

impl Running {
    /// Counts the job's end by `outcome` and times it.
    fn record(&self, outcome: &'static str) {
        use trawl_service::metrics::Metric;
        ::metrics::counter!(Metric::Jobs.name(), "outcome" => outcome).increment(1);
        ::metrics::histogram!(Metric::JobDuration.name(), "outcome" => outcome)
            .record(self.started.elapsed().as_secs_f64());
    }
}

/// Sets the queue gauges from the store's count of unfinished jobs at
/// each scrape (a store that does not answer within a second leaves them
/// as they were: a scrape must not hang on it).
fn report_backlog(store: std::sync::Weak<dyn Store>) {
    use trawl_service::metrics::Metric;
    trawl_service::metrics::collect_on_scrape(Arc::new(move || {
        let store = store.upgrade();
        Box::pin(async move {
            let Some(store) = store else { return };
            let asked = store.backlog(now_millis());
            if let Ok(Ok(backlog)) = tokio::time::timeout(Duration::from_secs(1), asked).await {
                ::metrics::gauge!(Metric::QueueDepth.name()).set(backlog.jobs as f64);
                ::metrics::gauge!(Metric::QueueOldestAge.name())
                    .set(backlog.oldest_ms.unwrap_or(0) as f64 / 1000.0);
            }
        })
    }));
}

/// The worker at work: its task's side, with the writer thread it drives.
struct Run {
    worker: Arc<Worker>,
    writer: WriterThread,
    stop: watch::Receiver<bool>,
    /// Tells the writer thread to cut the job it runs short.
    cancel: Arc<AtomicBool>,
}

impl Worker {
    /// A worker over the index, the store and the queue.
    pub fn new(
        index: Arc<LocalIndex>,
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            index,
            store,
            queue,
            settings,
            state: Arc::new(WorkerState::default()),
        }
    }

    /// What it reports about itself.
    pub fn state(&self) -> Arc<WorkerState> {
        self.state.clone()
    }

    /// Starts the worker on the current runtime. Its queue's backlog is
    /// reported to each metrics scrape.
    pub fn spawn(self) -> WorkerHandle {
        let (stop, stopped) = watch::channel(false);
        let worker = Arc::new(self);
        report_backlog(Arc::downgrade(&worker.store));
        let task = tokio::spawn(async move {
            let cancel = Arc::new(AtomicBool::new(false));
            let run = Run {
                writer: WriterThread::start(worker.index.clone(), cancel.clone()),
                worker,
                stop: stopped,
                cancel,
            };
            run.run().await;
        });
        WorkerHandle { stop, task }
    }
}

impl Run {
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sleeps up to `duration`, waking early when asked to stop.
    async fn pause(&self, duration: Duration) {
        let mut stop = self.stop.clone();
        let _ = tokio::time::timeout(duration, stop.wait_for(|stop| *stop)).await;
    }

    /// A call to the store or the queue, bounded in time.
    async fn call<T, E: std::fmt::Display>(
        &self,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, String> {
        let timeout = self.worker.settings.dependency_timeout;
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        }
    }

    fn lease_until(&self) -> Millis {
        now_millis() + self.worker.settings.lease.as_millis() as Millis
    }

    fn state(&self) -> &WorkerState {
        &self.worker.state
    }

    async fn run(self) {
        let Some(_lock) = self.lead().await else {
            return;
        };
        while !self.stopping() {
            match self.call(self.worker.queue.take_over()).await {
                Ok(()) => break,
                Err(e) => {
                    self.state()
                        .set(false, format!("cannot take over the queue: {e}"));
                    self.pause(Duration::from_secs(1)).await;
                }
            }
        }
        tracing::info!(queue = self.worker.queue.kind(), "indexer worker running");
        self.state().set(true, "idle");
        let mut idle_since = Instant::now();
        let mut reaped = Instant::now() - Duration::from_secs(3600);
        let mut purged = Instant::now() - Duration::from_secs(7200);
        while !self.stopping() {
            if reaped.elapsed() >= Duration::from_secs(10) {
                self.reap().await;
                reaped = Instant::now();
            }
            if purged.elapsed() >= Duration::from_secs(3600) {
                self.purge().await;
                purged = Instant::now();
            }
            let mut stop = self.stop.clone();
            let received = tokio::select! {
                received = self.call(self.worker.queue.receive(Duration::from_millis(500))) => received,
                _ = stop.wait_for(|stop| *stop) => break,
            };
            match received {
                Err(e) => {
                    self.state()
                        .set(false, format!("cannot receive from the queue: {e}"));
                    self.pause(Duration::from_secs(1)).await;
                }
                Ok(None) => {
                    if idle_since.elapsed() >= self.worker.settings.idle_release {
                        self.writer.release().await;
                    }
                }
                Ok(Some(first)) => {
                    self.group(first).await;
                    idle_since = Instant::now();
                    if !self.stopping() {
                        self.state().set(true, "idle");
                    }
                }
            }
        }
        self.cancel.store(true, Ordering::Release);
        self.writer.release().await;
        tracing::info!("indexer worker stopped");
    }

    /// Waits until this process is the one indexer; `None` if asked to stop
    /// first.
    async fn lead(&self) -> Option<std::fs::File> {
        let path = self.worker.settings.lock_path.clone();
        let mut told = false;
        loop {
            if self.stopping() {
                return None;
            }
            let attempt = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| e.to_string())
                .and_then(|file| match file.try_lock() {
                    Ok(()) => Ok(Some(file)),
                    Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                    Err(std::fs::TryLockError::Error(e)) => Err(e.to_string()),
                });
            match attempt {
                Ok(Some(file)) => {
                    if told {
                        tracing::info!(lock = %path.display(), "the other indexer is gone: taking over");
                    }
                    return Some(file);
                }
                Ok(None) => {
                    if !told {
                        tracing::info!(lock = %path.display(), "another indexer holds the index: on standby (writes are still accepted and queued)");
                        told = true;
                    }
                    // No path: `/readyz` may be public (the log has it).
                    self.state().set(
                        true,
                        "standby: another indexer holds the index; this one takes over when it stops",
                    );
                }
                Err(e) => {
                    tracing::warn!(lock = %path.display(), error = %e, "cannot lock the index");
                    self.state()
                        .set(false, format!("cannot lock the index: {e}"));
                }
            }
            self.reap().await;
            self.pause(Duration::from_secs(1)).await;
        }
    }

    /// Jobs whose worker died go back to `queued`; jobs that never reached
    /// the queue, an hour on, go.
    async fn reap(&self) {
        let now = now_millis();
        match self.call(self.worker.store.requeue_expired(now)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "queued again: their worker stopped"),
            Err(e) => tracing::debug!(error = %e, "cannot reap jobs now"),
        }
        let _ = self
            .call(self.worker.store.purge_unpublished(now - 3_600_000))
            .await;
    }

    /// Removes the jobs that finished longer ago than they are kept.
    async fn purge(&self) {
        let keep = self.worker.settings.keep_finished.as_millis() as Millis;
        match self
            .call(
                self.worker
                    .store
                    .purge_finished(now_millis().saturating_sub(keep)),
            )
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "removed finished jobs past their keeping time"),
            Err(e) => tracing::debug!(error = %e, "cannot remove old jobs now"),
        }
    }

    /// Runs `first` and whatever the queue has ready after it, up to the
    /// group's limits, then commits once and settles every job.
    async fn group(&self, first: Delivery) {
        let started = Instant::now();
        let settings = self.worker.settings.clone();
        let mut running: Vec<Running> = Vec::new();
        let mut documents = 0u64;
        let mut next = Some(first);
        while let Some(delivery) = next.take() {
            if let Some(job) = self.start(delivery).await {
                documents += job.job.total;
                running.push(job);
                match self.apply_last(&mut running).await {
                    Ok(()) => {}
                    Err(ApplyError::Job(reason)) => {
                        // Undo the group, drop the culprit, redo the rest.
                        let culprit = running.pop().expect("pushed above");
                        documents -= culprit.job.total;
                        self.settle_failed(culprit, &reason).await;
                        if let Err(failed) = self.rerun(&mut running).await {
                            return self.after_failure(running, failed).await;
                        }
                    }
                    Err(failed) => return self.after_failure(running, failed).await,
                }
            }
            if running.len() < settings.group_jobs
                && documents < settings.group_documents
                && !self.stopping()
            {
                next = self
                    .call(self.worker.queue.receive(Duration::ZERO))
                    .await
                    .ok()
                    .flatten();
            }
        }
        if running.is_empty() {
            return;
        }
        self.state().set(
            true,
            format!("committing {} jobs, {documents} documents", running.len()),
        );
        if let Err(e) = self.writer.commit().await {
            let _ = self.writer.rollback().await;
            match e {
                ApplyError::Full(reason) => self.wait_for_room(running, &reason).await,
                other => {
                    let reason = describe(&other);
                    tracing::error!(error = %reason, jobs = running.len(), "commit failed");
                    self.retry_all(running, &format!("the index could not commit: {reason}"))
                        .await;
                }
            }
            return;
        }
        let jobs = running.len();
        for job in running {
            self.settle_succeeded(job).await;
        }
        tracing::info!(
            jobs,
            documents,
            ms = started.elapsed().as_millis() as u64,
            "jobs committed"
        );
    }

    /// Takes the delivered job in the store; `None` when there is nothing to
    /// run (its message settled here).
    async fn start(&self, delivery: Delivery) -> Option<Running> {
        let started = self
            .call(
                self.worker
                    .store
                    .start_job(delivery.job_id, self.lease_until(), now_millis()),
            )
            .await;
        match started {
            Ok(Start::Started(job)) => {
                let span = tracing::info_span!(
                    parent: None,
                    "job",
                    job = job.id,
                    kind = job.kind.as_str(),
                    attempt = job.attempts,
                    otel.name = %format_args!("job {}", job.kind.as_str()),
                    otel.kind = "consumer",
                );
                // The job's row has it; a message from RabbitMQ may too.
                if let Some(parent) = job.traceparent.as_ref().or(delivery.traceparent.as_ref()) {
                    trawl_service::trace::continue_from_traceparent(&span, parent);
                }
                let running = Running {
                    delivery,
                    job,
                    applied: Applied::default(),
                    span,
                    started: Instant::now(),
                };
                if running.job.attempts > running.job.max_attempts.max(1) {
                    // Its runs keep ending with no word of them (the
                    // process dies running it): stop trying.
                    let reason = format!(
                        "gave up after {} attempts that did not finish",
                        running.job.max_attempts
                    );
                    self.settle_failed(running, &reason).await;
                    return None;
                }
                tracing::info!(
                    job = running.job.id,
                    attempt = running.job.attempts,
                    documents = running.job.total,
                    redelivered = running.delivery.redelivered,
                    "job started"
                );
                Some(running)
            }
            // Done already (a message delivered twice), cancelled, or never
            // acknowledged to anyone: nothing to do.
            Ok(Start::Finished(_) | Start::NotFound) => {
                let _ = self.call(self.worker.queue.ack(delivery)).await;
                None
            }
            Err(e) => {
                tracing::warn!(job = delivery.job_id, error = %e, "cannot start a job: the store failed");
                let after = self.worker.settings.retry_backoff;
                let _ = self
                    .call(self.worker.queue.retry(delivery, after, &e))
                    .await;
                self.state()
                    .set(false, format!("cannot reach the store: {e}"));
                self.pause(Duration::from_millis(500)).await;
                None
            }
        }
    }

    /// Runs the group's last job into the writer.
    async fn apply_last(&self, running: &mut [Running]) -> Result<(), ApplyError> {
        let last = running.len() - 1;
        let (others, current) = running.split_at_mut(last);
        let job = &mut current[0];
        let payload = match self.call(self.worker.store.payload(job.job.id)).await {
            Ok(Some(payload)) => payload,
            Ok(None) => {
                return Err(ApplyError::Job(
                    "its documents are missing from the store".into(),
                ));
            }
            Err(e) => return Err(ApplyError::Group(format!("cannot read its documents: {e}"))),
        };
        self.state().set(
            true,
            format!("running job {} ({} documents)", job.job.id, job.job.total),
        );
        // A removal is its owner letting go: only what no other owner
        // holds leaves the index.
        let owner = job.job.owner();
        let (kind, payload, kept) = match job.job.kind {
            kind @ (JobKind::Delete | JobKind::Remove) => {
                let ids = removal_ids(kind, &payload)?;
                let free = match owner {
                    Some(owner) => tokio::time::timeout(
                        self.worker.settings.dependency_timeout,
                        self.worker.store.release_documents(owner, &ids),
                    )
                    .await
                    .map_err(|_| {
                        ApplyError::Group("cannot read who holds them: no answer in time".into())
                    })?
                    .map_err(|e| store_failed("cannot read who holds them", &e))?,
                    // A removal queued before documents had owners: as it
                    // was then, whoever else wrote them.
                    None => ids.clone(),
                };
                let kept = (ids.len() - free.len()) as u64;
                let payload = serde_json::to_vec(&free).expect("ids serialise");
                (JobKind::Remove, payload, kept)
            }
            kind => (kind, payload, 0),
        };
        let progress = Arc::new(AtomicU64::new(0));
        let apply = self
            .writer
            .apply(kind, payload, progress.clone())
            .instrument(tracing::info_span!(parent: &job.span, "apply"));
        tokio::pin!(apply);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tokio::select! {
                applied = &mut apply => {
                    let mut applied = applied?;
                    applied.kept = kept;
                    // Held before the next job of the group can let go of
                    // them (the commit comes after the whole group).
                    let written = std::mem::take(&mut applied.written);
                    if let Some(owner) = owner {
                        tokio::time::timeout(
                            self.worker.settings.dependency_timeout,
                            self.worker.store.claim_documents(owner, &written),
                        )
                        .await
                        .map_err(|_| ApplyError::Group("cannot record who holds them: no answer in time".to_owned()))?
                        .map_err(|e| store_failed("cannot record who holds them", &e))?;
                    }
                    job.applied = applied;
                    return Ok(());
                }
                _ = tick.tick() => {
                    if self.stopping() {
                        // Cut short: rolled back, and run again later.
                        self.cancel.store(true, Ordering::Release);
                        continue;
                    }
                    // Waiting on the index's lock, or writing: either way,
                    // the group's leases are kept.
                    let done = progress.load(Ordering::Relaxed);
                    let _ = self
                        .call(self.worker.store.progress(job.job.id, done, self.lease_until()))
                        .await;
                    let mut group: Vec<&Delivery> = others.iter().map(|r| &r.delivery).collect();
                    group.push(&job.delivery);
                    let _ = self.call(self.worker.queue.keep(&group)).await;
                    for other in others.iter() {
                        let _ = self
                            .call(self.worker.store.progress(other.job.id, other.job.total, self.lease_until()))
                            .await;
                    }
                }
            }
        }
    }

    /// Runs every job of the group again (after a rollback).
    async fn rerun(&self, running: &mut [Running]) -> Result<(), ApplyError> {
        self.writer
            .rollback()
            .await
            .map_err(|e| ApplyError::Group(format!("the index failed: {e}")))?;
        for i in 1..=running.len() {
            match self.apply_last(&mut running[..i]).await {
                Ok(()) => {}
                // Read fine once: it is the group's trouble now.
                Err(ApplyError::Job(reason)) => return Err(ApplyError::Group(reason)),
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    async fn after_failure(&self, running: Vec<Running>, failed: ApplyError) {
        let _ = self.writer.rollback().await;
        match failed {
            ApplyError::Stopping => self.abandon(running, "the indexer is stopping").await,
            ApplyError::Full(reason) => self.wait_for_room(running, &reason).await,
            ApplyError::Group(reason) | ApplyError::Job(reason) => {
                self.retry_all(running, &reason).await;
            }
        }
    }

    /// The index's disk is full: every job of the group goes back to the
    /// queue without spending an attempt (the jobs are not at fault; what
    /// was acknowledged must not fail for good for want of room), and the
    /// worker pauses before it tries again. Readiness says why meanwhile.
    async fn wait_for_room(&self, running: Vec<Running>, reason: &str) {
        tracing::error!(
            jobs = running.len(),
            reason,
            "a disk is full; jobs wait for room"
        );
        self.state()
            .set(false, format!("the disk is full: {reason}"));
        let settings = &self.worker.settings;
        let wait = settings
            .retry_backoff_max
            .min(WAIT_FOR_ROOM)
            .max(settings.retry_backoff);
        for job in running {
            job.record("retried");
            // Recorded whatever it takes (the store may be on the full
            // disk too): an attempt that waited must not count.
            self.record(
                job.job.id,
                Finish::Wait {
                    error: format!("the disk is full: {reason}"),
                },
            )
            .await;
            let _ = self
                .call(self.worker.queue.retry(job.delivery, wait, reason))
                .await;
        }
        self.pause(wait).await;
    }

    /// Puts jobs back as they were (the worker stops): their messages are
    /// released for a later run.
    async fn abandon(&self, running: Vec<Running>, reason: &str) {
        for job in running {
            self.requeue(job, Duration::ZERO, reason).await;
        }
    }

    /// Each job back to the queue with its backoff, or to the dead letters
    /// when its attempts are spent.
    async fn retry_all(&self, running: Vec<Running>, reason: &str) {
        tracing::warn!(jobs = running.len(), reason, "jobs failed; retrying later");
        self.state()
            .set(false, format!("the last group failed: {reason}"));
        for job in running {
            if job.job.attempts >= job.job.max_attempts {
                self.settle_failed(job, reason).await;
            } else {
                let after = self.backoff(job.job.attempts);
                self.requeue(job, after, reason).await;
            }
        }
    }

    /// A job back to `queued`, its message deliverable again after `after`.
    async fn requeue(&self, job: Running, after: Duration, reason: &str) {
        job.record("retried");
        let finish = Finish::Retry {
            error: reason.to_owned(),
        };
        let _ = self
            .call(
                self.worker
                    .store
                    .finish_job(job.job.id, finish, now_millis()),
            )
            .await;
        let _ = self
            .call(self.worker.queue.retry(job.delivery, after, reason))
            .await;
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let settings = &self.worker.settings;
        backoff(
            settings.retry_backoff,
            settings.retry_backoff_max,
            attempt,
            getrandom::u64().unwrap_or(0),
        )
    }

    async fn settle_failed(&self, job: Running, reason: &str) {
        job.record("failed");
        tracing::error!(
            job = job.job.id,
            attempts = job.job.attempts,
            reason,
            "job failed for good"
        );
        let finish = Finish::Failed {
            error: reason.to_owned(),
        };
        self.record(job.job.id, finish).await;
        let _ = self
            .call(self.worker.queue.dead_letter(job.delivery, reason))
            .await;
    }

    async fn settle_succeeded(&self, job: Running) {
        job.record("succeeded");
        let Applied {
            added,
            replaced,
            deleted,
            kept,
            ..
        } = job.applied;
        self.record(
            job.job.id,
            Finish::Succeeded {
                added,
                replaced,
                deleted,
                kept,
            },
        )
        .await;
        self.worker.state.succeeded.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            job = job.job.id,
            added,
            replaced,
            deleted,
            kept,
            "job succeeded"
        );
        // If this is lost, the message comes again and finds the job done.
        let _ = self.call(self.worker.queue.ack(job.delivery)).await;
    }

    /// Records how a job ended, trying until the store takes it (what is in
    /// the index must not be reported as undone) or the worker stops (then
    /// the job runs again, to the same end).
    async fn record(&self, id: i64, finish: Finish) {
        let mut wait = Duration::from_millis(100);
        loop {
            match self
                .call(
                    self.worker
                        .store
                        .finish_job(id, finish.clone(), now_millis()),
                )
                .await
            {
                Ok(()) => return,
                Err(e) => {
                    self.state()
                        .set(false, format!("cannot reach the store: {e}"));
                    if self.stopping() {
                        return;
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// The longest the worker waits before trying again when the index's disk
/// was full (the retry backoff's maximum, when shorter).
const WAIT_FOR_ROOM: Duration = Duration::from_secs(10);

fn describe(error: &ApplyError) -> String {
    match error {
        ApplyError::Job(reason) | ApplyError::Group(reason) | ApplyError::Full(reason) => {
            reason.clone()
        }
        ApplyError::Stopping => "the indexer is stopping".to_owned(),
    }
}

/// A store's failure while running a job: waiting for room when its disk
/// is full (the job is not at fault), the group's failure otherwise.
fn store_failed(what: &str, error: &trawl_store::StoreError) -> ApplyError {
    if matches!(error, trawl_store::StoreError::StorageFull { .. }) {
        ApplyError::Full(format!("{what}: {error}"))
    } else {
        ApplyError::Group(format!("{what}: {error}"))
    }
}

/// The ids a removal names: a `delete`'s one, a `remove`'s array.
fn removal_ids(kind: JobKind, payload: &[u8]) -> Result<Vec<String>, ApplyError> {
    if kind == JobKind::Delete {
        let id = std::str::from_utf8(payload)
            .map_err(|_| ApplyError::Job("its document id is not UTF-8".into()))?;
        return Ok(vec![id.to_owned()]);
    }
    serde_json::from_slice(payload)
        .map_err(|e| ApplyError::Job(format!("its ids are unreadable: {e}")))
}

/// `first × 2^(attempt-1)`, capped at `max`, then between half and all of
/// it (by `random`), so jobs failing together do not retry together.
fn backoff(first: Duration, max: Duration, attempt: u32, random: u64) -> Duration {
    let doubled = first.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
    let capped = doubled.min(max);
    let nanos = capped.as_nanos().min(u128::from(u64::MAX)) as u64;
    Duration::from_nanos(nanos / 2 + random % (nanos / 2 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_attempt_up_to_its_cap_jittered_within_half() {
        let (first, max) = (Duration::from_secs(1), Duration::from_secs(60));
        for (attempt, full) in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (40, 60)] {
            let full = Duration::from_secs(full);
            for random in [0, 1, 12345, u64::MAX] {
                let wait = backoff(first, max, attempt, random);
                assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
            }
        }
        assert_eq!(backoff(first, max, 3, 0), Duration::from_secs(2));
        assert_eq!(backoff(Duration::ZERO, max, 3, 7), Duration::ZERO);
    }
}
