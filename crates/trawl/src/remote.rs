//! `trawl index add --remote`: documents read as `trawl index add` reads
//! them, sent to an indexer's write API in batches, and the jobs waited
//! for.
//!
//! - Unless `skip_bad`, the input is read through once before anything is
//!   sent, so a malformed line stops the command with nothing queued (as
//!   locally, where a bad line leaves the index untouched).
//! - Each batch is a job of its own, sent with an `Idempotency-Key` of its
//!   own: a batch whose answer was lost (a timeout, the indexer's store or
//!   queue away for a while: `503`) is sent again, for up to `retry_for`,
//!   and cannot be queued twice.
//! - Then every job is polled until it has succeeded; one that failed or
//!   was cancelled makes the command fail.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use trawl_api::jobs::{Batch, BatchFormat, IdempotencyKey, Job, JobState};
use trawl_api::{IndexerService, ServiceError};
use trawl_index::ingest::{IngestOptions, Sink, ingest};
use trawl_index::{Document, IngestError, IngestReport, Progress};

/// How to send.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// Documents per batch, at most.
    pub batch_documents: usize,
    /// Bytes per batch, at most (below the indexer's body limit).
    pub batch_bytes: usize,
    /// Wait for the jobs to finish.
    pub wait: bool,
    /// How long to keep sending a batch again while the indexer answers
    /// that it cannot take it now.
    pub retry_for: Duration,
    /// How often jobs are polled.
    pub poll: Duration,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        Self {
            batch_documents: 5_000,
            batch_bytes: 8 * 1024 * 1024,
            wait: true,
            retry_for: Duration::from_secs(600),
            poll: Duration::from_millis(250),
        }
    }
}

/// What was sent and how the jobs ended.
#[derive(Debug, Clone, Default)]
pub struct RemoteReport {
    /// What was read from the files.
    pub read: IngestReport,
    /// The jobs the batches made, as they ended (or were last seen).
    pub jobs: Vec<Job>,
}

impl RemoteReport {
    /// The jobs that did not succeed (when waited for).
    pub fn unsuccessful(&self) -> Vec<&Job> {
        self.jobs
            .iter()
            .filter(|j| j.state.is_terminal() && j.state != JobState::Succeeded)
            .collect()
    }
}

/// Why a remote ingestion stopped.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The files could not be read.
    #[error("{0}")]
    Read(#[from] IngestError),
    /// The indexer refused a batch.
    #[error("the indexer refused batch {batch}: {error}")]
    Refused {
        /// Which batch (1-based).
        batch: usize,
        /// What the indexer said.
        error: ServiceError,
    },
    /// A batch could not be delivered.
    #[error(
        "the indexer could not take batch {batch} for {} s: {error}",
        waited.as_secs()
    )]
    GaveUp {
        /// Which batch (1-based).
        batch: usize,
        /// How long it was tried.
        waited: Duration,
        /// The last error.
        error: ServiceError,
    },
    /// A job could not be followed.
    #[error("cannot follow job {job}: {error}")]
    Follow {
        /// The job's id.
        job: i64,
        /// What the indexer said.
        error: ServiceError,
    },
    /// A thread of the ingestion failed.
    #[error("the reading thread failed: {0}")]
    Thread(String),
}

/// Called as jobs progress: jobs finished, documents done, documents in all.
pub type OnProgress<'a> = dyn Fn(usize, u64, u64) + Send + Sync + 'a;

/// Where progress goes: the check of the input, the sending of it, and
/// the jobs.
pub struct Reporters<'a> {
    /// Progress of checking the files.
    pub checking: Box<dyn Progress + Send>,
    /// Progress of sending the batches.
    pub sending: Box<dyn Progress + Send>,
    /// Told of each job's progress.
    pub jobs: &'a OnProgress<'a>,
}

/// Reads `paths` as `trawl index add` does and sends them to `indexer`.
/// Batches already queued when an error stops it are listed in the
/// error's message by the caller (`jobs_so_far`).
pub async fn add(
    indexer: &dyn IndexerService,
    paths: &[PathBuf],
    ingest_options: &IngestOptions,
    options: &RemoteOptions,
    reporters: Reporters<'_>,
    jobs_so_far: &mut Vec<Job>,
) -> Result<RemoteReport, RemoteError> {
    let Reporters {
        checking,
        sending: progress,
        jobs: on_progress,
    } = reporters;
    if !ingest_options.skip_bad {
        let (paths, check) = (paths.to_vec(), ingest_options.clone());
        tokio::task::spawn_blocking(move || {
            ingest(&mut Discard, &paths, &check, checking.as_ref())
        })
        .await
        .map_err(|e| RemoteError::Thread(e.to_string()))??;
    }
    // The reading thread cuts the documents into batches and hands them
    // over a bounded channel: memory holds a few batches, whatever the
    // input's size.
    let (bodies, mut received) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
    let reading = {
        let (paths, ingest_options, options) =
            (paths.to_vec(), ingest_options.clone(), options.clone());
        std::thread::spawn(move || {
            let mut sink = Batches::new(bodies, &options);
            let read = ingest(&mut sink, &paths, &ingest_options, progress.as_ref())?;
            sink.flush()?;
            Ok::<_, IngestError>(read)
        })
    };
    let mut number = 0;
    while let Some(body) = received.recv().await {
        number += 1;
        let job = send(indexer, number, body, ingest_options.skip_bad, options).await?;
        jobs_so_far.push(job);
    }
    let read = reading
        .join()
        .map_err(|_| RemoteError::Thread("the reading thread panicked".to_owned()))??;
    let mut report = RemoteReport {
        read,
        jobs: jobs_so_far.clone(),
    };
    if options.wait {
        report.jobs = follow(indexer, &report.jobs, options, on_progress).await?;
    }
    Ok(report)
}

/// Sends one batch, again while the indexer says it cannot take it now.
async fn send(
    indexer: &dyn IndexerService,
    number: usize,
    body: Vec<u8>,
    skip_bad: bool,
    options: &RemoteOptions,
) -> Result<Job, RemoteError> {
    let key = IdempotencyKey::parse(&random_key()).expect("hex is a valid key");
    let body = bytes::Bytes::from(body);
    let started = Instant::now();
    let mut wait = Duration::from_millis(250);
    loop {
        let batch = Batch {
            body: body.clone(),
            format: BatchFormat::Ndjson,
            skip_bad,
            idempotency_key: Some(key.clone()),
        };
        match indexer.submit(batch, None).await {
            Ok(accepted) => return Ok(accepted.job),
            Err(error) => {
                let Some(after) = worth_again(&error) else {
                    return Err(RemoteError::Refused {
                        batch: number,
                        error,
                    });
                };
                if started.elapsed() >= options.retry_for {
                    return Err(RemoteError::GaveUp {
                        batch: number,
                        waited: started.elapsed(),
                        error,
                    });
                }
                let pause = after.unwrap_or(wait).min(Duration::from_secs(30));
                tracing::warn!(batch = number, %error, retry_in_ms = pause.as_millis() as u64, "sending again");
                tokio::time::sleep(pause).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Whether a failed submission may succeed later, and when to try.
fn worth_again(error: &ServiceError) -> Option<Option<Duration>> {
    match error {
        ServiceError::Unavailable { retry_after, .. } => Some(*retry_after),
        ServiceError::Timeout { .. } | ServiceError::BadGateway { .. } => Some(None),
        ServiceError::Upstream {
            problem,
            retry_after,
            ..
        } if matches!(problem.status, 429 | 502..=504) => Some(*retry_after),
        _ => None,
    }
}

/// Polls the jobs until each has finished.
async fn follow(
    indexer: &dyn IndexerService,
    jobs: &[Job],
    options: &RemoteOptions,
    on_progress: &OnProgress<'_>,
) -> Result<Vec<Job>, RemoteError> {
    let mut current = jobs.to_vec();
    let total: u64 = current.iter().map(|j| j.progress.total).sum();
    loop {
        let mut finished = 0;
        let mut done = 0;
        for job in &mut current {
            if !job.state.is_terminal() {
                *job = indexer
                    .job(job.id)
                    .await
                    .map_err(|error| RemoteError::Follow { job: job.id, error })?;
            }
            if job.state.is_terminal() {
                finished += 1;
                done += job.progress.total;
            } else {
                done += job.progress.done;
            }
        }
        on_progress(finished, done, total);
        if finished == current.len() {
            return Ok(current);
        }
        tokio::time::sleep(options.poll).await;
    }
}

/// 128 random bits in hex: one batch's idempotency key.
fn random_key() -> String {
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Documents to nowhere: the check before anything is sent.
struct Discard;

impl Sink for Discard {
    fn put(&mut self, _: Document) -> Result<(), IngestError> {
        Ok(())
    }
}

/// Documents into NDJSON bodies of at most `max_documents` and
/// `max_bytes` (a single larger document goes alone), sent on as each
/// fills.
struct Batches {
    bodies: tokio::sync::mpsc::Sender<Vec<u8>>,
    body: Vec<u8>,
    count: usize,
    max_documents: usize,
    max_bytes: usize,
}

impl Batches {
    fn new(bodies: tokio::sync::mpsc::Sender<Vec<u8>>, options: &RemoteOptions) -> Self {
        Self {
            bodies,
            body: Vec::new(),
            count: 0,
            max_documents: options.batch_documents.max(1),
            max_bytes: options.batch_bytes.max(1),
        }
    }

    /// Sends the batch being filled, if it holds anything.
    fn flush(&mut self) -> Result<(), IngestError> {
        if self.count == 0 {
            return Ok(());
        }
        self.count = 0;
        self.bodies
            .blocking_send(std::mem::take(&mut self.body))
            .map_err(|_| IngestError::Sink("the sending side stopped".to_owned()))
    }
}

impl Sink for Batches {
    fn put(&mut self, doc: Document) -> Result<(), IngestError> {
        let line = doc.to_json();
        if self.count > 0 && self.body.len() + line.len() + 1 > self.max_bytes {
            self.flush()?;
        }
        self.body.extend_from_slice(line.as_bytes());
        self.body.push(b'\n');
        self.count += 1;
        if self.count >= self.max_documents {
            self.flush()?;
        }
        Ok(())
    }
}
