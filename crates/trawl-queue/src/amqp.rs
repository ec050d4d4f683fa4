//! The RabbitMQ queue (AMQP 0-9-1, with lapin).
//!
//! Topology, declared by every process that connects (idempotently):
//!
//! | queue or exchange | what it holds |
//! |---|---|
//! | queue `NAME` | jobs to run: durable, persistent messages; a rejected message is dead-lettered to the exchange `NAME.dlx` |
//! | exchange `NAME.dlx` | the dead-letter exchange (direct, durable): routes `NAME`'s rejected messages to `NAME.dead` |
//! | queue `NAME.dead` | dead letters: jobs that failed for good, kept for an operator |
//! | queue `NAME.retry` | jobs waiting to be tried again: each message expires after its backoff and goes back to `NAME` |
//!
//! Publishing waits for the broker's confirm, so a message is on the
//! broker's disk before the job is acknowledged to whoever submitted it. A
//! consumer holds at most `prefetch` unacknowledged messages; RabbitMQ gives
//! them to another consumer if its connection drops.
//!
//! The connection is made when first needed and again after it fails; while
//! the broker is down, calls fail at once (not after a connection timeout
//! each) and one attempt is made every `reconnect_after`.
//!
//! Messages waiting in `NAME.retry` expire in order: one with a long backoff
//! holds back shorter ones behind it, so a retry may come later than its
//! backoff, never sooner.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};
use tokio::sync::Mutex;

use crate::{Delivery, Queue, QueueError, QueueStatus, Tag};

/// The message header naming the job's trace (W3C trace context).
const TRACEPARENT: &str = "traceparent";

const KIND: &str = "rabbitmq";

/// How the RabbitMQ queue is reached and used.
#[derive(Debug, Clone)]
pub struct AmqpSettings {
    /// `amqp://user:password@host:port/vhost`.
    pub url: String,
    /// The queue's name; `NAME.retry` and `NAME.dead` go with it.
    pub name: String,
    /// Unacknowledged messages a consumer may hold.
    pub prefetch: u16,
    /// Longest wait for a connection to be made.
    pub connect_timeout: Duration,
    /// After a failed connection, how long calls fail at once before the
    /// next attempt.
    pub reconnect_after: Duration,
    /// Names this process's consumer.
    pub consumer: String,
}

/// The queue on RabbitMQ.
pub struct AmqpQueue {
    settings: AmqpSettings,
    uri: AMQPUri,
    /// Where the broker is, for messages (never the credentials).
    host: String,
    link: Mutex<LinkState>,
    consumer: Mutex<Option<(u64, Consumer)>>,
}

#[derive(Default)]
struct LinkState {
    link: Option<Link>,
    generation: u64,
    failed: Option<(Instant, String)>,
}

#[derive(Clone)]
struct Link {
    connection: Arc<Connection>,
    /// In confirm mode.
    publish: Channel,
    generation: u64,
}

impl Link {
    fn usable(&self) -> bool {
        self.connection.status().connected() && self.publish.status().connected()
    }
}

fn unavailable(reason: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable {
        queue: KIND,
        reason: reason.to_string(),
    }
}

impl AmqpQueue {
    /// Checks the URL; connects when first used.
    pub fn new(settings: AmqpSettings) -> Result<Self, QueueError> {
        let mut uri: AMQPUri = settings
            .url
            .parse()
            .map_err(|e| QueueError::Invalid(format!("not an AMQP URL: {e}")))?;
        if uri.scheme == AMQPScheme::AMQPS {
            return Err(QueueError::Invalid(
                "amqps:// (TLS) is not supported by this build of trawl; reach the broker over \
                 a private network or a TLS-terminating sidecar with amqp://"
                    .to_owned(),
            ));
        }
        // Notice a silent broker within half a minute, not the default
        // minute or more.
        uri.query.heartbeat.get_or_insert(15);
        uri.query
            .connection_timeout
            .get_or_insert(settings.connect_timeout.as_millis() as u64);
        if settings.name.is_empty() || settings.name.len() > 200 {
            return Err(QueueError::Invalid(
                "the queue name must be 1 to 200 bytes".to_owned(),
            ));
        }
        let host = format!("{}:{}", uri.authority.host, uri.authority.port);
        Ok(Self {
            settings,
            uri,
            host,
            link: Mutex::new(LinkState::default()),
            consumer: Mutex::new(None),
        })
    }

    fn retry_queue(&self) -> String {
        format!("{}.retry", self.settings.name)
    }

    fn dead_queue(&self) -> String {
        format!("{}.dead", self.settings.name)
    }

    fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.settings.name)
    }

    /// The live connection, made now if needed.
    async fn link(&self) -> Result<Link, QueueError> {
        let mut state = self.link.lock().await;
        if let Some(link) = state.link.as_ref().filter(|l| l.usable()) {
            return Ok(link.clone());
        }
        if let Some((when, reason)) = &state.failed
            && when.elapsed() < self.settings.reconnect_after
        {
            return Err(unavailable(format!(
                "RabbitMQ at {} cannot be reached: {reason}",
                self.host
            )));
        }
        if let Some(old) = state.link.take() {
            let _ = old.connection.close(200, "reconnecting".into()).await;
        }
        let generation = state.generation + 1;
        match tokio::time::timeout(self.settings.connect_timeout, self.connect(generation)).await {
            Ok(Ok(link)) => {
                if state.failed.take().is_some() {
                    tracing::info!(host = %self.host, "RabbitMQ reachable again");
                }
                state.generation = generation;
                state.link = Some(link.clone());
                Ok(link)
            }
            outcome => {
                let reason = match outcome {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!(
                        "no connection within {} ms",
                        self.settings.connect_timeout.as_millis()
                    ),
                };
                tracing::warn!(host = %self.host, %reason, "cannot connect to RabbitMQ");
                state.failed = Some((Instant::now(), reason.clone()));
                Err(unavailable(format!(
                    "RabbitMQ at {} cannot be reached: {reason}",
                    self.host
                )))
            }
        }
    }

    async fn connect(&self, generation: u64) -> Result<Link, lapin::Error> {
        let properties =
            ConnectionProperties::default().with_connection_name("trawl indexer".into());
        let connection = Connection::connect_uri(self.uri.clone(), properties).await?;
        let publish = connection.create_channel().await?;
        publish
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        self.declare(&publish).await?;
        Ok(Link {
            connection: Arc::new(connection),
            publish,
            generation,
        })
    }

    /// The queues and the dead-letter exchange (see the module's table).
    async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        let durable = QueueDeclareOptions::durable();
        let dead_letters_to = |exchange: &str, routing_key: &str| {
            let mut arguments = FieldTable::default();
            arguments.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(exchange.into()),
            );
            arguments.insert(
                "x-dead-letter-routing-key".into(),
                AMQPValue::LongString(routing_key.into()),
            );
            arguments
        };
        let (name, dlx, dead) = (
            self.settings.name.as_str(),
            self.dead_letter_exchange(),
            self.dead_queue(),
        );
        channel
            .exchange_declare(
                dlx.as_str().into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_declare(dead.as_str().into(), durable, FieldTable::default())
            .await?;
        channel
            .queue_bind(
                dead.as_str().into(),
                dlx.as_str().into(),
                dead.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_declare(name.into(), durable, dead_letters_to(&dlx, &dead))
            .await?;
        // Expired retries go back to the main queue, by the default exchange.
        channel
            .queue_declare(
                self.retry_queue().as_str().into(),
                durable,
                dead_letters_to("", name),
            )
            .await?;
        Ok(())
    }

    /// Publishes to `queue` and waits for the broker's confirm.
    async fn publish_to(
        &self,
        queue: &str,
        job_id: i64,
        expiration: Option<Duration>,
    ) -> Result<(), QueueError> {
        let link = self.link().await?;
        let mut properties = BasicProperties::default()
            // persistent
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(job_id.to_string().into());
        if let Some(after) = expiration {
            properties = properties.with_expiration(after.as_millis().max(1).to_string().into());
        }
        // The trace the job belongs to, for whoever reads the broker (the
        // worker reads it from the job's row, which outlives the message).
        if let Some(traceparent) = trawl_service::trace::traceparent(&tracing::Span::current()) {
            let mut headers = FieldTable::default();
            headers.insert(
                TRACEPARENT.into(),
                AMQPValue::LongString(traceparent.into()),
            );
            properties = properties.with_headers(headers);
        }
        let body = format!("{{\"job\":{job_id}}}");
        let confirm = async {
            link.publish
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions::default(),
                    body.as_bytes(),
                    properties,
                )
                .await?
                .await
        };
        match tokio::time::timeout(self.settings.connect_timeout, confirm).await {
            Ok(Ok(confirmation)) if confirmation.is_ack() => Ok(()),
            Ok(Ok(_)) => Err(QueueError::Refused {
                queue: KIND,
                reason: "the broker did not confirm the message (nack)".to_owned(),
            }),
            Ok(Err(e)) => Err(unavailable(e)),
            Err(_) => Err(unavailable(format!(
                "no publisher confirm within {} ms",
                self.settings.connect_timeout.as_millis()
            ))),
        }
    }

    async fn consume(&self, link: &Link) -> Result<Consumer, lapin::Error> {
        let channel = link.connection.create_channel().await?;
        channel
            .basic_qos(self.settings.prefetch.max(1), BasicQosOptions::default())
            .await?;
        channel
            .basic_consume(
                self.settings.name.as_str().into(),
                self.settings.consumer.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
    }

    fn acker(delivery: &Delivery) -> &lapin::Acker {
        match &delivery.tag {
            Tag::Amqp(acker) => acker,
            Tag::Embedded { .. } => unreachable!("a RabbitMQ queue only makes RabbitMQ deliveries"),
        }
    }

    /// Reads a message's job id: `{"job": N}`.
    fn job_id(data: &[u8]) -> Option<i64> {
        let text = std::str::from_utf8(data).ok()?.trim();
        let number = text.strip_prefix("{\"job\":")?.strip_suffix('}')?;
        number.trim().parse().ok()
    }

    /// Removes this queue, its retry and dead-letter queues and its
    /// dead-letter exchange from the broker, with whatever they hold (for
    /// tests).
    pub async fn delete_all(&self) -> Result<(), QueueError> {
        let link = self.link().await?;
        for queue in [
            self.settings.name.clone(),
            self.retry_queue(),
            self.dead_queue(),
        ] {
            link.publish
                .queue_delete(queue.as_str().into(), Default::default())
                .await
                .map_err(unavailable)?;
        }
        link.publish
            .exchange_delete(
                self.dead_letter_exchange().as_str().into(),
                Default::default(),
            )
            .await
            .map_err(unavailable)
    }

    /// Messages in the dead-letter queue now.
    pub async fn dead_letters(&self) -> Result<u32, QueueError> {
        self.count(&self.dead_queue()).await
    }

    /// Messages ready in `queue`: a passive declare on a channel of its own
    /// (a failed one closes its channel).
    async fn count(&self, queue: &str) -> Result<u32, QueueError> {
        let link = self.link().await?;
        let channel = link
            .connection
            .create_channel()
            .await
            .map_err(unavailable)?;
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        let _ = channel.close(200, "done".into()).await;
        Ok(declared.message_count())
    }
}

#[async_trait]
impl Queue for AmqpQueue {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn publish(&self, job_id: i64) -> Result<(), QueueError> {
        self.publish_to(&self.settings.name, job_id, None).await
    }

    async fn receive(&self, wait: Duration) -> Result<Option<Delivery>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut slot = self.consumer.lock().await;
        loop {
            let link = self.link().await?;
            if slot.as_ref().is_none_or(|(g, _)| *g != link.generation) {
                let consumer = self.consume(&link).await.map_err(unavailable)?;
                *slot = Some((link.generation, consumer));
            }
            let (_, consumer) = slot.as_mut().expect("set above");
            let Ok(next) = tokio::time::timeout_at(deadline, consumer.next()).await else {
                return Ok(None);
            };
            match next {
                Some(Ok(delivery)) => {
                    let Some(job_id) = Self::job_id(&delivery.data) else {
                        tracing::error!(
                            "a message on the queue names no job: moved to the dead letters"
                        );
                        let _ = delivery
                            .acker
                            .reject(BasicRejectOptions { requeue: false })
                            .await;
                        continue;
                    };
                    let traceparent = delivery.properties.headers().as_ref().and_then(|headers| {
                        match headers.inner().get(TRACEPARENT) {
                            Some(AMQPValue::LongString(value)) => Some(value.to_string()),
                            _ => None,
                        }
                    });
                    return Ok(Some(Delivery {
                        job_id,
                        redelivered: delivery.redelivered,
                        traceparent,
                        tag: Tag::Amqp(delivery.acker),
                    }));
                }
                Some(Err(e)) => {
                    *slot = None;
                    return Err(unavailable(e));
                }
                None => {
                    *slot = None;
                    return Err(unavailable("the broker cancelled the consumer"));
                }
            }
        }
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        Self::acker(&delivery)
            .ack(BasicAckOptions::default())
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn retry(
        &self,
        delivery: Delivery,
        after: Duration,
        _error: &str,
    ) -> Result<(), QueueError> {
        self.publish_to(&self.retry_queue(), delivery.job_id, Some(after))
            .await?;
        self.ack(delivery).await
    }

    async fn dead_letter(&self, delivery: Delivery, _error: &str) -> Result<(), QueueError> {
        Self::acker(&delivery)
            .reject(BasicRejectOptions { requeue: false })
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// RabbitMQ keeps an unacknowledged message its consumer's for as long
    /// as the channel is open (up to its `consumer_timeout`, 30 minutes by
    /// default): nothing to do.
    async fn keep(&self, _: &[&Delivery]) -> Result<(), QueueError> {
        Ok(())
    }

    /// RabbitMQ gave a dead consumer's messages back when its connection
    /// dropped: nothing to do.
    async fn take_over(&self) -> Result<(), QueueError> {
        Ok(())
    }

    async fn status(&self) -> QueueStatus {
        match self.count(&self.settings.name).await {
            Ok(ready) => QueueStatus {
                ok: true,
                detail: format!(
                    "RabbitMQ queue `{}` at {}: {ready} ready",
                    self.settings.name, self.host
                ),
            },
            Err(e) => QueueStatus {
                ok: false,
                detail: e.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_their_job() {
        assert_eq!(AmqpQueue::job_id(b"{\"job\":42}"), Some(42));
        assert_eq!(AmqpQueue::job_id(b"{\"job\": 7}\n"), Some(7));
        assert_eq!(AmqpQueue::job_id(b"{\"job\":\"x\"}"), None);
        assert_eq!(AmqpQueue::job_id(b"garbage"), None);
    }

    #[test]
    fn tls_and_nonsense_urls_are_refused_up_front() {
        let settings = |url: &str| AmqpSettings {
            url: url.to_owned(),
            name: "q".to_owned(),
            prefetch: 4,
            connect_timeout: Duration::from_secs(1),
            reconnect_after: Duration::from_secs(1),
            consumer: "test".to_owned(),
        };
        assert!(matches!(
            AmqpQueue::new(settings("amqps://broker/")),
            Err(QueueError::Invalid(m)) if m.contains("TLS")
        ));
        assert!(matches!(
            AmqpQueue::new(settings("http://broker/")),
            Err(QueueError::Invalid(_))
        ));
        assert!(AmqpQueue::new(settings("amqp://guest:guest@127.0.0.1:5672/%2f")).is_ok());
    }
}
