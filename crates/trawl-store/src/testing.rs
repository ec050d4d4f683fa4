//! For tests that need a real PostgreSQL: each gets a schema of its own on
//! the server in `TRAWL_TEST_DATABASE_URL` (default: this machine's,
//! `postgres://postgres@127.0.0.1:5432/test`), dropped when it is done.
//!
//! When the server cannot be reached, [`fresh_postgres`] says so loudly and
//! returns `None` so the test can skip — unless `TRAWL_REQUIRE_SERVICES=1`
//! (as in CI), which makes it fail instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::{Connection, Executor};

/// Where tests find PostgreSQL unless `TRAWL_TEST_DATABASE_URL` says.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The test server's URL.
pub fn postgres_url() -> String {
    std::env::var("TRAWL_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// Whether tests may not skip for want of an outside server.
pub fn services_required() -> bool {
    std::env::var("TRAWL_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Reports a missing server: panics when services are required, else
/// prints a loud line and lets the caller skip.
pub fn missing_service(test: &str, what: &str, error: &dyn std::fmt::Display) {
    let message = format!("{what} is not reachable ({error}): the test `{test}` did NOT run");
    if services_required() {
        panic!("{message}; TRAWL_REQUIRE_SERVICES=1 forbids skipping it");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
}

/// A schema of one's own on the test server. Dropping it drops the schema.
pub struct PostgresSchema {
    /// A URL whose connections use the schema (`search_path`).
    pub url: String,
    name: String,
    base: String,
}

impl std::fmt::Debug for PostgresSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSchema")
            .field("name", &self.name)
            .finish()
    }
}

/// A new, empty schema for `test`, or `None` (having said why) when the
/// server cannot be reached and services are not required.
pub async fn fresh_postgres(test: &str) -> Option<PostgresSchema> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    sqlx::any::install_default_drivers();
    let base = postgres_url();
    let connected =
        tokio::time::timeout(Duration::from_secs(5), sqlx::AnyConnection::connect(&base)).await;
    let mut conn = match connected {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            missing_service(
                &format!("{test} (on PostgreSQL)"),
                &format!("PostgreSQL at {base}"),
                &e,
            );
            return None;
        }
        Err(_) => {
            missing_service(
                &format!("{test} (on PostgreSQL)"),
                &format!("PostgreSQL at {base}"),
                &"no answer in 5 s",
            );
            return None;
        }
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "trawl_test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    conn.execute(format!("CREATE SCHEMA {name}").as_str())
        .await
        .expect("the test database lets us create a schema");
    let _ = conn.close().await;
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(PostgresSchema {
        url: format!("{base}{separator}options=-c%20search_path%3D{name}"),
        name,
        base,
    })
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Drop cannot wait on the test's runtime: a thread with its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::AnyConnection::connect(&base).await {
                    let _ = conn
                        .execute(format!("DROP SCHEMA IF EXISTS {name} CASCADE").as_str())
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}
