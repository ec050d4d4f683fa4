//! The writer thread: it owns the index's writer and does the index work
//! the worker's task hands it, one command at a time. Index writes are long
//! and blocking; here they neither stall the async runtime nor depend on it
//! (when the worker's task goes, the channel closes, uncommitted changes
//! are dropped, and the thread ends).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use tokio::sync::oneshot;
use trawl_index::{Document, IndexError, IndexWriter, LocalIndex, Upserted};
use trawl_store::JobKind;

/// What a job did to the index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    pub added: u64,
    pub replaced: u64,
    pub deleted: u64,
    /// Removals left undone: another owner holds the documents (the
    /// worker's count; the writer never sees them).
    pub kept: u64,
    /// The ids of the documents written, for their owner's claim.
    pub written: Vec<String>,
}

/// Why a job could not be run into the writer.
#[derive(Debug)]
pub(crate) enum ApplyError {
    /// This job can never succeed: its payload is unreadable or gone.
    Job(String),
    /// Nothing of the group can go on now (the index or the store failed).
    Group(String),
    /// The index's disk is full: the group waits for room, its attempts
    /// not spent.
    Full(String),
    /// The worker is stopping.
    Stopping,
}

impl ApplyError {
    /// The index's failure, as `Full` when it was for want of room: the
    /// error says so, or (tantivy often reports only that its writer's
    /// thread died) the index's disk has less than [`LOW_ROOM`] left.
    fn index(error: &IndexError, index: &LocalIndex) -> Self {
        let low = room(index.path()).is_some_and(|(free, total)| free < LOW_ROOM.min(total / 20));
        if error.is_storage_full() || low {
            Self::Full(error.to_string())
        } else {
            Self::Group(error.to_string())
        }
    }
}

/// Below this much free room on the index's disk (or a twentieth of a
/// smaller disk), a failure to write it is taken for a full disk (a
/// segment being flushed needs megabytes).
const LOW_ROOM: u64 = 64 * 1024 * 1024;

/// The bytes an unprivileged writer may still use on `path`'s filesystem,
/// and its size.
fn room(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `stat` a valid
    // statvfs for the call to fill.
    if unsafe { libc::statvfs(path.as_ptr(), &raw mut stat) } != 0 {
        return None;
    }
    // (All 64-bit on the 64-bit Linux targets trawl builds for.)
    Some((
        stat.f_bavail.saturating_mul(stat.f_frsize),
        stat.f_blocks.saturating_mul(stat.f_frsize),
    ))
}

enum Command {
    Apply {
        kind: JobKind,
        payload: Vec<u8>,
        progress: Arc<AtomicU64>,
        reply: oneshot::Sender<Result<Applied, ApplyError>>,
    },
    Commit(oneshot::Sender<Result<(), ApplyError>>),
    Rollback(oneshot::Sender<Result<(), String>>),
    /// Drop the writer (its lock, its memory) once merges are done.
    Release(oneshot::Sender<()>),
}

pub(crate) struct WriterThread {
    commands: mpsc::Sender<Command>,
}

const GONE: &str = "the index's writer thread stopped";

impl WriterThread {
    /// `cancel` cuts a job short (it is rolled back by the worker).
    pub(crate) fn start(index: Arc<LocalIndex>, cancel: Arc<AtomicBool>) -> Self {
        let (commands, received) = mpsc::channel();
        std::thread::Builder::new()
            .name("trawl-index-writer".to_owned())
            .spawn(move || serve(&index, &received, &cancel))
            .expect("the index writer's thread starts");
        Self { commands }
    }

    pub(crate) async fn apply(
        &self,
        kind: JobKind,
        payload: Vec<u8>,
        progress: Arc<AtomicU64>,
    ) -> Result<Applied, ApplyError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Apply {
                kind,
                payload,
                progress,
                reply,
            })
            .map_err(|_| ApplyError::Group(GONE.to_owned()))?;
        answer
            .await
            .unwrap_or_else(|_| Err(ApplyError::Group(GONE.to_owned())))
    }

    pub(crate) async fn commit(&self) -> Result<(), ApplyError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Commit(reply))
            .map_err(|_| ApplyError::Group(GONE.to_owned()))?;
        answer
            .await
            .unwrap_or_else(|_| Err(ApplyError::Group(GONE.to_owned())))
    }

    pub(crate) async fn rollback(&self) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Rollback(reply))
            .map_err(|_| GONE.to_owned())?;
        answer.await.unwrap_or_else(|_| Err(GONE.to_owned()))
    }

    pub(crate) async fn release(&self) {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Release(reply)).is_ok() {
            let _ = answer.await;
        }
    }
}

fn serve(index: &LocalIndex, commands: &mpsc::Receiver<Command>, cancel: &AtomicBool) {
    let mut writer: Option<IndexWriter<'_>> = None;
    while let Ok(command) = commands.recv() {
        match command {
            Command::Apply {
                kind,
                payload,
                progress,
                reply,
            } => {
                let result = match open(index, &mut writer, cancel) {
                    Ok(writer) => apply(index, writer, kind, &payload, &progress, cancel),
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            // A writer that failed to commit or roll back (a full disk, an
            // I/O error) is not trusted again: it is dropped, which gives
            // back the lock and whatever it had not committed, and the next
            // job opens a fresh one on the last commit. Nothing acknowledged
            // is lost: the group's jobs run again.
            Command::Commit(reply) => {
                let result = match writer.as_mut() {
                    Some(w) => w
                        .commit()
                        .map(|_| ())
                        .map_err(|e| ApplyError::index(&e, index)),
                    None => Ok(()),
                };
                if result.is_err() {
                    writer = None;
                }
                let _ = reply.send(result);
            }
            Command::Rollback(reply) => {
                let result = match writer.as_mut() {
                    Some(w) => w.rollback().map_err(|e| e.to_string()),
                    None => Ok(()),
                };
                if result.is_err() {
                    writer = None;
                }
                let _ = reply.send(result);
            }
            Command::Release(reply) => {
                if let Some(w) = writer.take() {
                    let _ = w.finish();
                }
                let _ = reply.send(());
            }
        }
    }
}

/// The writer, taken now if need be: while another process (`trawl index
/// add`) holds the index's lock, this waits (the worker keeps its jobs'
/// leases meanwhile).
fn open<'w, 'i>(
    index: &'i LocalIndex,
    writer: &'w mut Option<IndexWriter<'i>>,
    cancel: &AtomicBool,
) -> Result<&'w mut IndexWriter<'i>, ApplyError> {
    let mut told = false;
    while writer.is_none() {
        match index.writer() {
            Ok(w) => *writer = Some(w),
            Err(IndexError::Locked { .. }) => {
                if !told {
                    tracing::warn!("another process is writing to the index: jobs wait for it");
                    told = true;
                }
                if cancel.load(Ordering::Acquire) {
                    return Err(ApplyError::Stopping);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) if e.is_storage_full() => return Err(ApplyError::Full(e.to_string())),
            Err(e) => return Err(ApplyError::Group(format!("cannot write the index: {e}"))),
        }
    }
    Ok(writer.as_mut().expect("set above"))
}

fn apply(
    index: &LocalIndex,
    writer: &mut IndexWriter<'_>,
    kind: JobKind,
    payload: &[u8],
    progress: &AtomicU64,
    cancel: &AtomicBool,
) -> Result<Applied, ApplyError> {
    let mut applied = Applied::default();
    match kind {
        JobKind::Delete => {
            let id = std::str::from_utf8(payload)
                .map_err(|_| ApplyError::Job("its document id is not UTF-8".into()))?;
            let existed = writer
                .remove(id)
                .map_err(|e| ApplyError::index(&e, index))?;
            applied.deleted = u64::from(existed);
            progress.store(1, Ordering::Relaxed);
        }
        JobKind::Remove => {
            let ids: Vec<String> = serde_json::from_slice(payload)
                .map_err(|e| ApplyError::Job(format!("its ids are unreadable: {e}")))?;
            for (i, id) in ids.iter().enumerate() {
                let existed = writer
                    .remove(id)
                    .map_err(|e| ApplyError::index(&e, index))?;
                applied.deleted += u64::from(existed);
                progress.store(i as u64 + 1, Ordering::Relaxed);
                if i % 1024 == 1023 && cancel.load(Ordering::Acquire) {
                    return Err(ApplyError::Stopping);
                }
            }
        }
        JobKind::Crawl => {
            return Err(ApplyError::Job(
                "a crawl job reached the index queue; crawls run from the crawl queue".into(),
            ));
        }
        JobKind::Documents => {
            let mut done = 0u64;
            for (i, line) in payload.split(|b| *b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                let doc = std::str::from_utf8(line)
                    .map_err(|_| "not UTF-8".to_owned())
                    .and_then(Document::from_json)
                    .map_err(|e| {
                        ApplyError::Job(format!(
                            "its document on line {} is unreadable: {e}",
                            i + 1
                        ))
                    })?;
                let id = doc.id.clone();
                match writer
                    .upsert(doc)
                    .map_err(|e| ApplyError::index(&e, index))?
                {
                    Upserted::Added => applied.added += 1,
                    Upserted::Replaced => applied.replaced += 1,
                }
                applied.written.push(id);
                done += 1;
                if done.is_multiple_of(1024) {
                    progress.store(done, Ordering::Relaxed);
                    if cancel.load(Ordering::Acquire) {
                        return Err(ApplyError::Stopping);
                    }
                }
            }
            progress.store(done, Ordering::Relaxed);
        }
    }
    Ok(applied)
}
