//! trawl's durable job queue: one trait, [`Queue`], and two
//! implementations — [`StoreQueue`], rows in the store with a lease (the
//! embedded default: no server), and [`AmqpQueue`], RabbitMQ.
//!
//! A message names a job and nothing more: the job's documents wait in the
//! store (the "claim check" pattern), so a message is a few bytes whatever
//! the batch, and no broker's message size limit applies to a batch.
//!
//! Delivery is at least once. A message stays the consumer's until it is
//! acknowledged ([`Queue::ack`]), put back for later ([`Queue::retry`]) or
//! moved to the dead letters ([`Queue::dead_letter`]); a consumer that dies
//! holding one loses it to the next (RabbitMQ redelivers when the
//! connection drops; the embedded queue when the lease runs out, or at once
//! when a new sole consumer [takes over](Queue::take_over)). Whoever
//! consumes must therefore be able to run a job twice: trawl's jobs are
//! upserts and deletes by id.

mod amqp;
mod embedded;
#[cfg(feature = "testing")]
pub mod testing;

use std::time::Duration;

use async_trait::async_trait;

pub use amqp::{AmqpQueue, AmqpSettings};
pub use embedded::{EmbeddedSettings, StoreQueue};

/// A message received, to be settled by exactly one of `ack`, `retry` or
/// `dead_letter`.
#[derive(Debug)]
pub struct Delivery {
    /// The job the message names.
    pub job_id: i64,
    /// Whether it was delivered before (and not settled).
    pub redelivered: bool,
    /// The W3C `traceparent` the message was published with (RabbitMQ's
    /// message header; the embedded queue's messages carry none, their
    /// job's row does).
    pub traceparent: Option<String>,
    tag: Tag,
}

#[derive(Debug)]
enum Tag {
    /// The message's row.
    Embedded { id: i64 },
    /// RabbitMQ's handle on the delivery, on the channel it came by.
    Amqp(lapin::Acker),
}

/// How the queue is doing, for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStatus {
    /// Whether it can take and give jobs.
    pub ok: bool,
    /// Why, for people.
    pub detail: String,
}

/// Why the queue could not do what it was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// The broker (or the store holding the queue) cannot be reached: worth
    /// trying again later.
    #[error("the {queue} queue is unavailable: {reason}")]
    Unavailable {
        /// Which queue.
        queue: &'static str,
        /// What is wrong, for people.
        reason: String,
    },
    /// The broker refused a message it was given (a negative publisher
    /// confirm): nothing was queued.
    #[error("the {queue} queue refused the message: {reason}")]
    Refused {
        /// Which queue.
        queue: &'static str,
        /// What is wrong, for people.
        reason: String,
    },
    /// Misconfiguration that retrying will not fix.
    #[error("{0}")]
    Invalid(String),
}

impl QueueError {
    /// Whether trying again later may work.
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::Invalid(_))
    }
}

/// Where job ids wait for a worker.
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// `embedded` or `rabbitmq`.
    fn kind(&self) -> &'static str;

    /// Queues a message for `job_id`. When this returns `Ok`, the message is
    /// durable: it survives the process and the broker restarting.
    async fn publish(&self, job_id: i64) -> Result<(), QueueError>;

    /// The next message, waiting up to `wait` for one.
    async fn receive(&self, wait: Duration) -> Result<Option<Delivery>, QueueError>;

    /// Done with: the message is gone.
    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError>;

    /// Back on the queue, deliverable again after `after`.
    async fn retry(
        &self,
        delivery: Delivery,
        after: Duration,
        error: &str,
    ) -> Result<(), QueueError>;

    /// To the dead letters, where it stays for an operator.
    async fn dead_letter(&self, delivery: Delivery, error: &str) -> Result<(), QueueError>;

    /// Keeps these deliveries from being given to another consumer while
    /// they are worked on.
    async fn keep(&self, deliveries: &[&Delivery]) -> Result<(), QueueError>;

    /// Called by a consumer that has become the only one (it holds the
    /// index's writer): what another consumer held can only be a dead one's.
    async fn take_over(&self) -> Result<(), QueueError>;

    /// How the queue is, for readiness.
    async fn status(&self) -> QueueStatus;
}
