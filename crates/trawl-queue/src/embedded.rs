//! The embedded queue: messages are rows of the store ([`Store`]), leased
//! to the consumer that claims one until it settles it or its lease runs
//! out (a visibility timeout, as SQS's). The consumer extends its leases
//! while it works ([`Queue::keep`]).
//!
//! A publisher in the same process wakes the consumer at once; others
//! (several API processes on one PostgreSQL) are seen at the next poll.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use trawl_store::{Millis, Store, StoreError, now_millis};

use crate::{Delivery, Queue, QueueError, QueueStatus, Tag};

/// How the embedded queue leases jobs.
#[derive(Debug, Clone)]
pub struct EmbeddedSettings {
    /// Which queue of the store (tests and deployments sharing a database
    /// keep apart by name).
    pub name: String,
    /// Who consumes: unique per process.
    pub owner: String,
    /// How long a claimed message stays the consumer's without news of it.
    pub lease: Duration,
    /// How often a waiting consumer looks for messages published by other
    /// processes.
    pub poll: Duration,
}

/// The queue in the job store's own rows: no server.
pub struct StoreQueue {
    store: Arc<dyn Store>,
    settings: EmbeddedSettings,
    published: Notify,
}

impl StoreQueue {
    /// A queue over `store`.
    pub fn new(store: Arc<dyn Store>, settings: EmbeddedSettings) -> Self {
        Self {
            store,
            settings,
            published: Notify::new(),
        }
    }

    fn lease_until(&self, now: Millis) -> Millis {
        now + self.settings.lease.as_millis() as Millis
    }

    fn tag(delivery: &Delivery) -> i64 {
        match delivery.tag {
            Tag::Embedded { id } => id,
            Tag::Amqp(_) => unreachable!("an embedded queue only makes embedded deliveries"),
        }
    }
}

fn unavailable(error: StoreError) -> QueueError {
    if error.is_transient() {
        QueueError::Unavailable {
            queue: "embedded",
            reason: error.to_string(),
        }
    } else {
        QueueError::Invalid(error.to_string())
    }
}

#[async_trait]
impl Queue for StoreQueue {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn publish(&self, job_id: i64) -> Result<(), QueueError> {
        self.store
            .push_message(&self.settings.name, job_id, now_millis())
            .await
            .map_err(unavailable)?;
        self.published.notify_one();
        Ok(())
    }

    async fn receive(&self, wait: Duration) -> Result<Option<Delivery>, QueueError> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a publish in between is not missed.
            let published = self.published.notified();
            let at = now_millis();
            let claimed = self
                .store
                .claim_message(
                    &self.settings.name,
                    &self.settings.owner,
                    at,
                    self.lease_until(at),
                )
                .await
                .map_err(unavailable)?;
            if let Some(message) = claimed {
                return Ok(Some(Delivery {
                    job_id: message.job_id,
                    redelivered: message.delivery > 1,
                    // The job's row has it.
                    traceparent: None,
                    tag: Tag::Embedded { id: message.id },
                }));
            }
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let _ = tokio::time::timeout(left.min(self.settings.poll), published).await;
        }
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        self.store
            .delete_message(Self::tag(&delivery))
            .await
            .map_err(unavailable)
    }

    async fn retry(
        &self,
        delivery: Delivery,
        after: Duration,
        error: &str,
    ) -> Result<(), QueueError> {
        self.store
            .delay_message(
                Self::tag(&delivery),
                now_millis() + after.as_millis() as Millis,
                error,
            )
            .await
            .map_err(unavailable)
    }

    async fn dead_letter(&self, delivery: Delivery, error: &str) -> Result<(), QueueError> {
        self.store
            .bury_message(Self::tag(&delivery), error)
            .await
            .map_err(unavailable)
    }

    async fn keep(&self, deliveries: &[&Delivery]) -> Result<(), QueueError> {
        let until = self.lease_until(now_millis());
        for delivery in deliveries {
            self.store
                .extend_message(Self::tag(delivery), &self.settings.owner, until)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn take_over(&self) -> Result<(), QueueError> {
        let released = self
            .store
            .release_messages(&self.settings.name)
            .await
            .map_err(unavailable)?;
        if released > 0 {
            tracing::info!(
                released,
                "released the messages a previous consumer held: they will run again"
            );
        }
        Ok(())
    }

    async fn status(&self) -> QueueStatus {
        match self
            .store
            .queue_stats(&self.settings.name, now_millis())
            .await
        {
            Ok(stats) => QueueStatus {
                ok: true,
                detail: format!(
                    "embedded queue `{}` in the {} store: {} waiting, {} being worked on, {} dead letters{}",
                    self.settings.name,
                    self.store.backend().name(),
                    stats.waiting,
                    stats.leased,
                    stats.dead,
                    stats
                        .oldest_ms
                        .map(|ms| format!(", oldest {} s old", ms / 1000))
                        .unwrap_or_default()
                ),
            },
            Err(e) => QueueStatus {
                ok: false,
                detail: e.to_string(),
            },
        }
    }
}
