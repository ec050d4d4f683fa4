//! The worker: the only writer of the index, fed by the queue.
//!
//! It runs on a thread of its own (index writes are long, blocking work)
//! and drives the store and the queue through the runtime's handle. In
//! order:
//!
//! 1. **Leadership.** It takes an exclusive lock on a file beside the index
//!    (`indexer.lock`). A second indexer on the same data waits on standby,
//!    still serving the write API, and takes over when the first dies (the
//!    system releases a dead process's lock). Becoming the one consumer, it
//!    releases whatever a dead predecessor held in the queue.
//! 2. **Group commit.** It takes a message, runs its job into the index's
//!    writer, takes the next one the queue has ready, and so on up to
//!    `group_jobs` jobs or `group_documents` documents; then commits once.
//!    Only after the commit are the jobs marked `succeeded` and their
//!    messages acknowledged: a crash before that leaves them in the queue,
//!    and their rerun (upserts and deletes by id) changes nothing twice.
//! 3. **Failures.** A job whose payload cannot be read fails for good (dead
//!    letter); any other failure (the index, the store) puts the group's
//!    jobs back with a backoff that doubles per attempt, until a job's
//!    attempts are spent: then it fails and goes to the dead letters.
//!
//! A job's lease in the store is extended as it progresses; jobs whose
//! lease ran out (their worker died) are put back to `queued` by the
//! reaper, which also drops jobs that never reached the queue.
//! The writer is dropped after a while without work: memory goes back, and
//! `trawl index add` may take the lock in between.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use trawl_api::Check;
use trawl_index::{Document, IndexError, IndexWriter, LocalIndex, Upserted};
use trawl_queue::{Delivery, Queue};
use trawl_store::{Finish, JobKind, JobRecord, Millis, Start, Store};

use crate::now_millis;

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
    pub retry_backoff_max: Duration,
    pub max_attempts: u32,
    /// Drop the index's writer after this long without work.
    pub idle_release: Duration,
    /// Longest wait for one call to the store or the queue.
    pub dependency_timeout: Duration,
}

impl WorkerSettings {
    pub fn new(lock_path: PathBuf) -> Self {
        Self {
            lock_path,
            group_jobs: 16,
            group_documents: 200_000,
            lease: Duration::from_secs(60),
            retry_backoff: Duration::from_secs(1),
            retry_backoff_max: Duration::from_secs(300),
            max_attempts: 5,
            idle_release: Duration::from_secs(2),
            dependency_timeout: Duration::from_secs(3),
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

    pub fn check(&self) -> Check {
        let (ok, detail) = self.report.lock().expect("not poisoned").clone();
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

pub struct Worker {
    index: Arc<LocalIndex>,
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    settings: WorkerSettings,
    state: Arc<WorkerState>,
    stop: Arc<AtomicBool>,
    runtime: Handle,
}

/// The running worker. [`stop`](Self::stop) it before the runtime goes.
pub struct WorkerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WorkerHandle {
    /// Asks the worker to stop after what it is doing (a job cut short is
    /// rolled back and runs again later), and waits for it.
    pub async fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// A job being run in the current group.
struct Running {
    delivery: Delivery,
    job: JobRecord,
    added: u64,
    replaced: u64,
    deleted: u64,
}

/// Why a job could not be run into the writer.
enum Failed {
    /// This job can never succeed: its payload is unreadable or gone.
    Job(String),
    /// Nothing of the group can go on now (the index or the store failed).
    Group(String),
    /// The worker is stopping.
    Stopping,
}

impl Worker {
    pub fn new(
        index: Arc<LocalIndex>,
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        settings: WorkerSettings,
        runtime: Handle,
    ) -> Self {
        Self {
            index,
            store,
            queue,
            settings,
            state: Arc::new(WorkerState::default()),
            stop: Arc::new(AtomicBool::new(false)),
            runtime,
        }
    }

    pub fn state(&self) -> Arc<WorkerState> {
        self.state.clone()
    }

    pub fn spawn(self) -> WorkerHandle {
        let stop = self.stop.clone();
        let thread = std::thread::Builder::new()
            .name("trawl-indexer".to_owned())
            .spawn(move || self.run())
            .expect("the indexer's thread starts");
        WorkerHandle {
            stop,
            thread: Some(thread),
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Sleeps up to `duration`, waking early when asked to stop.
    fn pause(&self, duration: Duration) {
        let until = Instant::now() + duration;
        while !self.stopping() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
    }

    /// Runs a call to the store or the queue, bounded in time.
    fn call<T, E: std::fmt::Display>(
        &self,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, String> {
        let timeout = self.settings.dependency_timeout;
        match self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, call).await })
        {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        }
    }

    fn lease_until(&self) -> Millis {
        now_millis() + self.settings.lease.as_millis() as Millis
    }

    fn run(self) {
        let Some(_lock) = self.lead() else { return };
        while !self.stopping() {
            match self.call(self.queue.take_over()) {
                Ok(()) => break,
                Err(e) => {
                    self.state.set(false, format!("cannot take over the queue: {e}"));
                    self.pause(Duration::from_secs(1));
                }
            }
        }
        tracing::info!(queue = self.queue.kind(), "indexer worker running");
        self.state.set(true, "idle");
        let index = self.index.clone();
        let mut writer: Option<IndexWriter<'_>> = None;
        let mut idle_since = Instant::now();
        let mut reaped = Instant::now() - Duration::from_secs(3600);
        while !self.stopping() {
            if reaped.elapsed() >= Duration::from_secs(10) {
                self.reap();
                reaped = Instant::now();
            }
            match self.call(self.queue.receive(Duration::from_millis(250))) {
                Err(e) => {
                    self.state.set(false, format!("cannot receive from the queue: {e}"));
                    self.pause(Duration::from_secs(1));
                }
                Ok(None) => {
                    if writer.is_some() && idle_since.elapsed() >= self.settings.idle_release {
                        if let Some(w) = writer.take() {
                            let _ = w.finish();
                        }
                    }
                }
                Ok(Some(first)) => {
                    self.group(&index, &mut writer, first);
                    idle_since = Instant::now();
                    if !self.stopping() {
                        self.state.set(true, "idle");
                    }
                }
            }
        }
        drop(writer);
        tracing::info!("indexer worker stopped");
    }

    /// Waits until this process is the one indexer; `None` if asked to stop
    /// first.
    fn lead(&self) -> Option<File> {
        let path = &self.settings.lock_path;
        let mut told = false;
        loop {
            if self.stopping() {
                return None;
            }
            let attempt = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
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
                    self.state.set(
                        true,
                        format!(
                            "standby: another indexer holds {}; this one takes over when it stops",
                            path.display()
                        ),
                    );
                }
                Err(e) => {
                    self.state.set(
                        false,
                        format!("cannot lock {}: {e}", path.display()),
                    );
                }
            }
            self.reap();
            self.pause(Duration::from_secs(1));
        }
    }

    /// Jobs whose worker died go back to `queued`; jobs that never reached
    /// the queue, an hour on, go.
    fn reap(&self) {
        let now = now_millis();
        match self.call(self.store.requeue_expired(now)) {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "queued again: their worker stopped"),
            Err(e) => tracing::debug!(error = %e, "cannot reap jobs now"),
        }
        let _ = self.call(self.store.purge_unpublished(now - 3_600_000));
    }

    /// Runs `first` and whatever the queue has ready after it, up to the
    /// group's limits, then commits once and settles every job.
    fn group<'i>(
        &self,
        index: &'i LocalIndex,
        writer: &mut Option<IndexWriter<'i>>,
        first: Delivery,
    ) {
        let started = Instant::now();
        let mut running: Vec<Running> = Vec::new();
        let mut documents = 0u64;
        let mut next = Some(first);
        while let Some(delivery) = next.take() {
            let Some(job) = self.start(delivery) else {
                next = self.ready_next();
                continue;
            };
            documents += job.job.total;
            running.push(job);
            if writer.is_none() {
                match self.open_writer(index, &running) {
                    Some(w) => *writer = Some(w),
                    None => return self.abandon(running, "the indexer is stopping"),
                }
            }
            let w = writer.as_mut().expect("opened above");
            let last = running.len() - 1;
            let (others, current) = running.split_at_mut(last);
            match self.run_job(w, &mut current[0], others) {
                Ok(()) => {}
                Err(Failed::Job(reason)) => {
                    // Undo the group, drop the culprit, redo the rest.
                    let culprit = running.pop().expect("pushed above");
                    documents -= culprit.job.total;
                    if let Err(e) = w.rollback() {
                        self.settle_failed(culprit, &reason);
                        return self.retry_all(running, &format!("the index failed: {e}"));
                    }
                    self.settle_failed(culprit, &reason);
                    if let Err(failed) = self.rerun(w, &mut running) {
                        return self.after_failure(w, running, failed);
                    }
                }
                Err(failed) => return self.after_failure(w, running, failed),
            }
            if running.len() < self.settings.group_jobs
                && documents < self.settings.group_documents
                && !self.stopping()
            {
                next = self.ready_next();
            }
        }
        if running.is_empty() {
            return;
        }
        let w = writer.as_mut().expect("a group has a writer");
        self.state.set(
            true,
            format!("committing {} jobs, {documents} documents", running.len()),
        );
        if let Err(e) = w.commit() {
            tracing::error!(error = %e, jobs = running.len(), "commit failed");
            let _ = w.rollback();
            return self.retry_all(running, &format!("the index could not commit: {e}"));
        }
        let jobs = running.len();
        for job in running {
            self.settle_succeeded(job);
        }
        tracing::info!(
            jobs,
            documents,
            ms = started.elapsed().as_millis() as u64,
            "jobs committed"
        );
    }

    /// The next message the queue has ready now, if any.
    fn ready_next(&self) -> Option<Delivery> {
        self.call(self.queue.receive(Duration::ZERO)).ok().flatten()
    }

    /// Takes the delivered job in the store; `None` when there is nothing to
    /// run (the message settled here).
    fn start(&self, delivery: Delivery) -> Option<Running> {
        match self.call(self.store.start_job(
            delivery.job_id,
            self.lease_until(),
            now_millis(),
        )) {
            Ok(Start::Started(job)) => {
                if job.attempts > job.max_attempts.max(1) {
                    // Its runs keep ending with no word of them (the process
                    // dies running it): stop trying.
                    let reason = format!(
                        "gave up after {} attempts that did not finish",
                        job.max_attempts
                    );
                    self.settle_failed(
                        Running {
                            delivery,
                            job,
                            added: 0,
                            replaced: 0,
                            deleted: 0,
                        },
                        &reason,
                    );
                    return None;
                }
                tracing::info!(
                    job = job.id,
                    attempt = job.attempts,
                    documents = job.total,
                    redelivered = delivery.redelivered,
                    "job started"
                );
                Some(Running {
                    delivery,
                    job,
                    added: 0,
                    replaced: 0,
                    deleted: 0,
                })
            }
            // Done already (a message delivered twice), cancelled, or
            // never acknowledged to anyone: nothing to do.
            Ok(Start::Finished(_) | Start::NotFound) => {
                let _ = self.call(self.queue.ack(delivery));
                None
            }
            Err(e) => {
                tracing::warn!(job = delivery.job_id, error = %e, "cannot start a job: the store failed");
                let after = self.settings.retry_backoff;
                let _ = self.call(self.queue.retry(delivery, after, &e));
                self.state.set(false, format!("cannot reach the store: {e}"));
                self.pause(Duration::from_millis(500));
                None
            }
        }
    }

    /// The index's writer, waiting while another process holds it.
    fn open_writer<'i>(&self, index: &'i LocalIndex, running: &[Running]) -> Option<IndexWriter<'i>> {
        let mut told = false;
        loop {
            if self.stopping() {
                return None;
            }
            match index.writer() {
                Ok(writer) => return Some(writer),
                Err(IndexError::Locked { .. }) => {
                    if !told {
                        tracing::warn!("another process is writing to the index; jobs wait for it");
                        told = true;
                    }
                    self.state.set(
                        true,
                        "waiting for another process (trawl index add?) to finish writing the index",
                    );
                }
                Err(e) => {
                    self.state.set(false, format!("cannot write the index: {e}"));
                    tracing::error!(error = %e, "cannot open the index's writer");
                }
            }
            self.keep(running);
            self.pause(Duration::from_millis(500));
        }
    }

    /// Keeps the group's leases: in the queue, and in the store.
    fn keep(&self, running: &[Running]) {
        let deliveries: Vec<&Delivery> = running.iter().map(|r| &r.delivery).collect();
        let _ = self.call(self.queue.keep(&deliveries));
        for job in running {
            let _ = self.call(self.store.progress(job.job.id, 0, self.lease_until()));
        }
    }

    /// Runs one job's payload into the writer (`others`: the jobs of the
    /// group before it, whose leases it keeps too).
    fn run_job(
        &self,
        writer: &mut IndexWriter<'_>,
        job: &mut Running,
        others: &[Running],
    ) -> Result<(), Failed> {
        let id = job.job.id;
        let payload = match self.call(self.store.payload(id)) {
            Ok(Some(payload)) => payload,
            Ok(None) => return Err(Failed::Job("its documents are missing from the store".into())),
            Err(e) => return Err(Failed::Group(format!("cannot read its documents: {e}"))),
        };
        job.added = 0;
        job.replaced = 0;
        job.deleted = 0;
        self.state.set(
            true,
            format!("running job {id} ({} documents)", job.job.total),
        );
        match job.job.kind {
            JobKind::Delete => {
                let doc_id = String::from_utf8(payload)
                    .map_err(|_| Failed::Job("its document id is not UTF-8".into()))?;
                let existed = writer
                    .remove(&doc_id)
                    .map_err(|e| Failed::Group(e.to_string()))?;
                job.deleted = u64::from(existed);
            }
            JobKind::Documents => {
                let mut done = 0u64;
                let mut reported = Instant::now();
                for (i, line) in payload.split(|b| *b == b'\n').enumerate() {
                    if line.is_empty() {
                        continue;
                    }
                    let doc = std::str::from_utf8(line)
                        .map_err(|_| "not UTF-8".to_owned())
                        .and_then(Document::from_json)
                        .map_err(|e| {
                            Failed::Job(format!("its document on line {} is unreadable: {e}", i + 1))
                        })?;
                    match writer.upsert(doc).map_err(|e| Failed::Group(e.to_string()))? {
                        Upserted::Added => job.added += 1,
                        Upserted::Replaced => job.replaced += 1,
                    }
                    done += 1;
                    if done % 1024 == 0 && reported.elapsed() >= Duration::from_secs(1) {
                        if self.stopping() {
                            return Err(Failed::Stopping);
                        }
                        let _ = self.call(self.store.progress(id, done, self.lease_until()));
                        let mut group: Vec<&Delivery> = others.iter().map(|r| &r.delivery).collect();
                        group.push(&job.delivery);
                        let _ = self.call(self.queue.keep(&group));
                        reported = Instant::now();
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs every job of the group again, from its payload (after a
    /// rollback).
    fn rerun(&self, writer: &mut IndexWriter<'_>, running: &mut [Running]) -> Result<(), Failed> {
        for i in 0..running.len() {
            let (before, rest) = running.split_at_mut(i);
            match self.run_job(writer, &mut rest[0], before) {
                Ok(()) => {}
                Err(Failed::Job(reason)) => {
                    // Cannot happen twice for a payload read fine before;
                    // treat it as the group's failure.
                    return Err(Failed::Group(reason));
                }
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    fn after_failure(&self, writer: &mut IndexWriter<'_>, running: Vec<Running>, failed: Failed) {
        let _ = writer.rollback();
        match failed {
            Failed::Stopping => self.abandon(running, "the indexer is stopping"),
            Failed::Group(reason) | Failed::Job(reason) => self.retry_all(running, &reason),
        }
    }

    /// Puts jobs back as they were, without counting it against them (the
    /// worker stops): their messages are released for a later run.
    fn abandon(&self, running: Vec<Running>, reason: &str) {
        for job in running {
            let _ = self.call(self.store.finish_job(
                job.job.id,
                Finish::Retry {
                    error: reason.to_owned(),
                },
                now_millis(),
            ));
            let _ = self.call(self.queue.retry(job.delivery, Duration::ZERO, reason));
        }
    }

    /// Each job back to the queue with its backoff, or to the dead letters
    /// when its attempts are spent.
    fn retry_all(&self, running: Vec<Running>, reason: &str) {
        tracing::warn!(jobs = running.len(), reason, "jobs failed; retrying later");
        self.state.set(false, format!("the last group failed: {reason}"));
        for job in running {
            if job.job.attempts >= job.job.max_attempts {
                self.settle_failed(job, reason);
                continue;
            }
            let after = self.backoff(job.job.attempts);
            let _ = self.call(self.store.finish_job(
                job.job.id,
                Finish::Retry {
                    error: reason.to_owned(),
                },
                now_millis(),
            ));
            let _ = self.call(self.queue.retry(job.delivery, after, reason));
        }
    }

    /// `retry_backoff × 2^(attempt-1)`, capped, then between half and all
    /// of it at random, so jobs failing together do not retry together.
    fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self
            .settings
            .retry_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let capped = doubled.min(self.settings.retry_backoff_max);
        let nanos = capped.as_nanos().min(u128::from(u64::MAX)) as u64;
        let random = getrandom::u64().unwrap_or(0);
        Duration::from_nanos(nanos / 2 + random % (nanos / 2 + 1))
    }

    fn settle_failed(&self, job: Running, reason: &str) {
        tracing::error!(job = job.job.id, attempts = job.job.attempts, reason, "job failed for good");
        self.retry_store(|| {
            self.store.finish_job(
                job.job.id,
                Finish::Failed {
                    error: reason.to_owned(),
                },
                now_millis(),
            )
        });
        let _ = self.call(self.queue.dead_letter(job.delivery, reason));
    }

    fn settle_succeeded(&self, job: Running) {
        self.retry_store(|| {
            self.store.finish_job(
                job.job.id,
                Finish::Succeeded {
                    added: job.added,
                    replaced: job.replaced,
                    deleted: job.deleted,
                },
                now_millis(),
            )
        });
        self.state.succeeded.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            job = job.job.id,
            added = job.added,
            replaced = job.replaced,
            deleted = job.deleted,
            "job succeeded"
        );
        // If this is lost, the message comes again and finds the job done.
        let _ = self.call(self.queue.ack(job.delivery));
    }

    /// Records an outcome, trying until the store takes it (what is in the
    /// index must not be reported as undone) or the worker stops (then the
    /// job runs again, to the same end).
    fn retry_store<F, Fut>(&self, write: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = trawl_store::Result<()>>,
    {
        let mut wait = Duration::from_millis(100);
        loop {
            match self.call(write()) {
                Ok(()) => return,
                Err(e) => {
                    self.state.set(false, format!("cannot reach the store: {e}"));
                    if self.stopping() {
                        return;
                    }
                    self.pause(wait);
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
