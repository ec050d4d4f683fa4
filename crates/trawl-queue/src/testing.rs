//! For tests that need a real RabbitMQ: queues of their own on the broker
//! in `TRAWL_TEST_AMQP_URL` (default: this machine's,
//! `amqp://guest:guest@127.0.0.1:5672/%2f`). When it cannot be reached,
//! [`fresh_rabbitmq`] says so loudly and returns `None` — unless
//! `TRAWL_REQUIRE_SERVICES=1`, which makes the test fail instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use trawl_store::testing::missing_service;

use crate::{AmqpQueue, AmqpSettings, Queue};

/// Where tests find RabbitMQ unless `TRAWL_TEST_AMQP_URL` says.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The broker's URL for tests.
pub fn amqp_url() -> String {
    std::env::var("TRAWL_TEST_AMQP_URL").unwrap_or_else(|_| DEFAULT_AMQP_URL.to_owned())
}

/// Settings for a queue name no other test uses, on `url`.
pub fn settings(url: &str, test: &str) -> AmqpSettings {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    AmqpSettings {
        url: url.to_owned(),
        name: format!(
            "trawl-test.{test}.{}.{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ),
        prefetch: 16,
        connect_timeout: Duration::from_secs(2),
        reconnect_after: Duration::from_millis(200),
        consumer: format!("trawl-test-{}", std::process::id()),
    }
}

/// A queue of the test's own on the test broker (its queues declared), or
/// `None`, having said why, when the broker cannot be reached and services
/// are not required. Call [`AmqpQueue::delete_all`] when done.
pub async fn fresh_rabbitmq(test: &str) -> Option<(AmqpQueue, AmqpSettings)> {
    let url = amqp_url();
    let settings = settings(&url, test);
    let queue = AmqpQueue::new(settings.clone()).expect("a valid test URL");
    match queue.status().await {
        status if status.ok => Some((queue, settings)),
        status => {
            missing_service(
                &format!("{test} (on RabbitMQ)"),
                &format!("RabbitMQ at {}", url.rsplit('@').next().unwrap_or(&url)),
                &status.detail,
            );
            None
        }
    }
}
