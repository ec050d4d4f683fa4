//! One suite over both queues: the embedded one on a SQLite store, and
//! RabbitMQ (skipped loudly when absent, unless `TRAWL_REQUIRE_SERVICES=1`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use trawl_queue::testing::fresh_rabbitmq;
use trawl_queue::*;
use trawl_store::{SqlStore, Store, StoreSettings};

type Counter = Box<dyn Fn() -> Pin<Box<dyn Future<Output = u64>>>>;

/// A queue, a way to make a second consumer of it (for redelivery), and a
/// count of its dead letters.
struct Under {
    name: &'static str,
    first: Box<dyn Queue>,
    second: Box<dyn Fn() -> Box<dyn Queue>>,
    dead: Counter,
    cleanup: Option<AmqpQueue>,
    _dir: tempfile::TempDir,
}

impl Under {
    async fn cleanup(self) {
        if let Some(queue) = self.cleanup {
            queue.delete_all().await.unwrap();
        }
    }
}

async fn queues(test: &str) -> Vec<Under> {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqlStore::open(&StoreSettings::sqlite(dir.path().join("q.db")))
            .await
            .unwrap(),
    );
    let embedded = |owner: &str| EmbeddedSettings {
        name: "jobs".to_owned(),
        owner: owner.to_owned(),
        lease: Duration::from_secs(60),
        poll: Duration::from_millis(20),
    };
    let (s1, s2, s3) = (store.clone(), store.clone(), store.clone());
    let second_settings = embedded("second");
    let mut all = vec![Under {
        name: "embedded",
        first: Box::new(StoreQueue::new(s1, embedded("first"))),
        second: Box::new(move || Box::new(StoreQueue::new(s2.clone(), second_settings.clone()))),
        dead: Box::new(move || {
            let store = s3.clone();
            Box::pin(async move { store.queue_stats("jobs", 0).await.unwrap().dead })
        }),
        cleanup: None,
        _dir: dir,
    }];
    if let Some((queue, settings)) = fresh_rabbitmq(test).await {
        let (for_second, for_dead) = (settings.clone(), settings.clone());
        all.push(Under {
            name: "rabbitmq",
            first: Box::new(queue),
            second: Box::new(move || {
                let mut settings = for_second.clone();
                settings.consumer.push_str("-second");
                Box::new(AmqpQueue::new(settings).unwrap())
            }),
            dead: Box::new(move || {
                let queue = AmqpQueue::new(for_dead.clone()).unwrap();
                Box::pin(async move { u64::from(queue.dead_letters().await.unwrap()) })
            }),
            cleanup: Some(AmqpQueue::new(settings).unwrap()),
            _dir: tempfile::tempdir().unwrap(),
        });
    }
    all
}

const WAIT: Duration = Duration::from_secs(5);
const NONE_WAIT: Duration = Duration::from_millis(100);

#[tokio::test]
async fn messages_arrive_in_order_once_and_acknowledged_are_gone() {
    for under in queues("order").await {
        let q = &under.first;
        for job in [1, 2, 3] {
            q.publish(job).await.unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..3 {
            let delivery = q.receive(WAIT).await.unwrap().expect("a message");
            assert!(!delivery.redelivered, "{}", under.name);
            got.push(delivery.job_id);
            q.ack(delivery).await.unwrap();
        }
        assert_eq!(got, [1, 2, 3], "{}", under.name);
        assert!(
            q.receive(NONE_WAIT).await.unwrap().is_none(),
            "{}",
            under.name
        );
        let status = q.status().await;
        assert!(status.ok, "{}: {}", under.name, status.detail);
        under.cleanup().await;
    }
}

#[tokio::test]
async fn a_waiting_consumer_gets_a_message_published_meanwhile() {
    for mut under in queues("wake").await {
        let q: Arc<dyn Queue> = Arc::from(std::mem::replace(&mut under.first, (under.second)()));
        let consumer = {
            let q = q.clone();
            tokio::spawn(async move { q.receive(Duration::from_secs(20)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        q.publish(77).await.unwrap();
        let delivery = consumer.await.unwrap().unwrap().expect("woken");
        assert_eq!(delivery.job_id, 77, "{}", under.name);
        q.ack(delivery).await.unwrap();
        under.cleanup().await;
    }
}

#[tokio::test]
async fn a_message_its_consumer_never_settled_goes_to_the_next() {
    for mut under in queues("redeliver").await {
        under.first.publish(5).await.unwrap();
        let held = under.first.receive(WAIT).await.unwrap().unwrap();
        assert_eq!(held.job_id, 5);
        // The first consumer dies holding it.
        std::mem::forget(held);
        let second = (under.second)();
        let first = std::mem::replace(&mut under.first, (under.second)());
        drop(first);
        second.take_over().await.unwrap();
        let again = second.receive(WAIT).await.unwrap().expect("redelivered");
        assert_eq!(
            (again.job_id, again.redelivered),
            (5, true),
            "{}",
            under.name
        );
        second.ack(again).await.unwrap();
        assert!(
            second.receive(NONE_WAIT).await.unwrap().is_none(),
            "{}",
            under.name
        );
        under.cleanup().await;
    }
}

#[tokio::test]
async fn a_retried_message_comes_back_after_its_delay_and_a_dead_letter_stays_dead() {
    for under in queues("retry").await {
        let q = &under.first;
        q.publish(9).await.unwrap();
        let delivery = q.receive(WAIT).await.unwrap().unwrap();
        q.retry(delivery, Duration::from_millis(400), "disk full")
            .await
            .unwrap();
        assert!(
            q.receive(NONE_WAIT).await.unwrap().is_none(),
            "{}: not before its delay",
            under.name
        );
        let back = q
            .receive(WAIT)
            .await
            .unwrap()
            .expect("back after the delay");
        assert_eq!(back.job_id, 9, "{}", under.name);
        q.keep(&[&back]).await.unwrap();
        q.dead_letter(back, "poison").await.unwrap();
        assert!(
            q.receive(Duration::from_millis(300))
                .await
                .unwrap()
                .is_none()
        );
        let mut dead = 0;
        for _ in 0..50 {
            dead = (under.dead)().await;
            if dead == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(dead, 1, "{}", under.name);
        under.cleanup().await;
    }
}

/// A RabbitMQ consumer holds at most `prefetch` unacknowledged messages:
/// the next waits in the broker until one is settled.
#[tokio::test]
async fn a_consumer_holds_no_more_than_its_prefetch() {
    let Some((cleanup, mut settings)) = fresh_rabbitmq("prefetch").await else {
        return;
    };
    settings.prefetch = 3;
    let queue = AmqpQueue::new(settings).unwrap();
    for job in 0..5 {
        queue.publish(job).await.unwrap();
    }
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(
            queue
                .receive(WAIT)
                .await
                .unwrap()
                .expect("within the prefetch"),
        );
    }
    assert!(
        queue
            .receive(Duration::from_millis(300))
            .await
            .unwrap()
            .is_none(),
        "a fourth is not given while three are held"
    );
    queue.ack(held.remove(0)).await.unwrap();
    let fourth = queue.receive(WAIT).await.unwrap().expect("room again");
    assert_eq!(fourth.job_id, 3);
    cleanup.delete_all().await.unwrap();
}

#[tokio::test]
async fn a_message_published_in_a_trace_carries_its_traceparent_on_rabbitmq() {
    use tracing_subscriber::layer::SubscriberExt;
    // Spans as OpenTelemetry spans, as the binary sets them up (nothing
    // exported).
    let tracing = trawl_service::trace::Tracing::new("queue-test").unwrap();
    let (otel, ids) = tracing.layers();
    let subscriber = tracing_subscriber::registry().with(otel).with(ids);
    let _default = tracing::subscriber::set_default(subscriber);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    for under in queues("traced").await {
        let span = tracing::info_span!("request");
        trawl_service::trace::continue_from_traceparent(
            &span,
            &format!("00-{trace_id}-00f067aa0ba902b7-01"),
        );
        {
            let _entered = span.enter();
            under.first.publish(31).await.unwrap();
        }
        under.first.publish(32).await.unwrap();
        let traced = under
            .first
            .receive(Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
        let untraced = under
            .first
            .receive(Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((traced.job_id, untraced.job_id), (31, 32), "{}", under.name);
        match under.name {
            "rabbitmq" => {
                let header = traced.traceparent.clone().expect("a traceparent header");
                assert!(
                    header.starts_with(&format!("00-{trace_id}-")),
                    "the publishing span's trace: {header}"
                );
                assert_eq!(untraced.traceparent, None, "published outside any span");
            }
            // The job's row carries it instead (trawl-store's tests).
            _ => assert_eq!(traced.traceparent, None),
        }
        under.first.ack(traced).await.unwrap();
        under.first.ack(untraced).await.unwrap();
        under.cleanup().await;
    }
}
