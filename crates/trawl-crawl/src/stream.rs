//! Reading a body as it streams in: the pieces arrive on the runtime, a
//! reader on the blocking pool decompresses and parses them
//! ([`crate::read`]), and what it finds reaches the caller one item at a
//! time. Each stage holds a few pieces or items at most, so a sitemap of a
//! million URLs costs what the caller keeps of it, not its size; and when
//! the caller has enough it stops the reading, and the rest of the body is
//! never fetched.

use std::io::{BufRead, Read};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::fetch::{FetchError, Opened};
use crate::read::{self, ReadError};

/// Pieces of the body in flight between the network and the reader.
const PIECES: usize = 4;
/// Items found and not yet taken.
const ITEMS: usize = 256;

/// Why a streamed body could not be read whole.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StreamError {
    /// Fetching it failed (time, size, connection).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// What came is not what it should be.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// A body being read: its items, then how the reading ended.
pub struct Streamed<T> {
    items: mpsc::Receiver<T>,
    pump: JoinHandle<Result<(), FetchError>>,
    parse: JoinHandle<Result<(), ReadError>>,
}

/// Reads `opened`'s body (gunzipped when it is gzip, at most `limit` bytes
/// once opened) with `parse`, which hands each item it finds to the
/// function it is given and stops when that returns `false`.
pub fn stream<T, P>(opened: Opened, limit: usize, parse: P) -> Streamed<T>
where
    T: Send + 'static,
    P: FnOnce(Box<dyn BufRead + Send>, &mut dyn FnMut(T) -> bool) -> Result<(), ReadError>
        + Send
        + 'static,
{
    let (pieces, received) = mpsc::channel::<Bytes>(PIECES);
    let (found, items) = mpsc::channel::<T>(ITEMS);
    let pump = tokio::spawn(async move {
        // Its reader takes its time with what it reads (the crawl writes
        // to the store meanwhile): a limit between pieces, not on the whole.
        let mut opened = opened.streaming();
        while let Some(piece) = opened.chunk().await? {
            if pieces.send(piece).await.is_err() {
                // The reader stopped: the rest is not wanted.
                return Ok(());
            }
        }
        Ok(())
    });
    let parse = tokio::task::spawn_blocking(move || {
        let body = read::body(
            Pieces {
                received,
                current: Bytes::new(),
            },
            limit,
        );
        let mut hand = |item: T| found.blocking_send(item).is_ok();
        parse(body, &mut hand)
    });
    Streamed { items, pump, parse }
}

impl<T> Streamed<T> {
    /// The next item found, `None` when there are no more.
    pub async fn next(&mut self) -> Option<T> {
        self.items.recv().await
    }

    /// Stops the reading (the caller may have taken every item, or enough)
    /// and says how it went: a failure to fetch the body first (the reader
    /// then saw a body cut short), else the reader's.
    pub async fn finish(self) -> Result<(), StreamError> {
        drop(self.items);
        let parsed = self
            .parse
            .await
            .unwrap_or_else(|e| Err(ReadError::Feed(format!("the reader failed: {e}"))));
        // The reader is done: what it did not read is not wanted.
        if !self.pump.is_finished() {
            self.pump.abort();
        }
        if let Ok(Err(e)) = self.pump.await {
            return Err(e.into());
        }
        parsed.map_err(StreamError::Read)
    }
}

/// A blocking reader over the pieces the pump sends.
struct Pieces {
    received: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.received.blocking_recv() {
                Some(piece) => self.current = piece,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
