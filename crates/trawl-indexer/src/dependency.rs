//! The store's and the queue's failures as the seam's errors: a dependency
//! that cannot be reached is a `503` that names it; anything else is the
//! indexer's own failure, logged and not described to the client.

use std::time::Duration;

use trawl_api::ServiceError;
use trawl_queue::{Queue, QueueError};
use trawl_store::{Store, StoreError};

pub(crate) fn store_name(store: &dyn Store) -> String {
    format!("the job store ({})", store.backend().name())
}

pub(crate) fn queue_name(queue: &dyn Queue) -> String {
    format!("the job queue ({})", queue.kind())
}

pub(crate) fn store(store: &dyn Store, error: StoreError) -> ServiceError {
    match error {
        StoreError::Corrupt(_) | StoreError::Failed { .. } | StoreError::Duplicate(_) => {
            ServiceError::Internal(error.to_string())
        }
        StoreError::StorageFull { .. } => ServiceError::StorageFull {
            dependency: store_name(store),
            reason: error.to_string(),
        },
        // Unreachable, or not usable by this binary (a newer schema, a bad
        // URL): either way, not the client's doing.
        _ => ServiceError::Dependency {
            dependency: store_name(store),
            reason: error.to_string(),
            retry_after: None,
        },
    }
}

pub(crate) fn queue(queue: &dyn Queue, error: QueueError) -> ServiceError {
    ServiceError::Dependency {
        dependency: queue_name(queue),
        reason: error.to_string(),
        retry_after: None,
    }
}

pub(crate) fn timed_out(store: &dyn Store, after: Duration) -> ServiceError {
    ServiceError::Dependency {
        dependency: store_name(store),
        reason: format!("no answer within {} ms", after.as_millis()),
        retry_after: None,
    }
}
