//! API keys: made, checked, listed and revoked.
//!
//! A key is `trawl_<prefix>_<secret>`: a 12-character public prefix that
//! finds it in the store and names it in listings, and 32 random bytes. The
//! store keeps the prefix and a SHA-256 hash of the whole key, never the key:
//! it is shown once, when made. A key is high-entropy, so a fast hash is the
//! right one (a password hash's slowness protects guessable secrets); the
//! hashes are compared in constant time. Keys never reach a log: request
//! logs carry no headers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use trawl_service::ApiError;
use trawl_store::{KeyRecord, NewKey, Store, StoreError};

use crate::dependency;
use trawl_store::now_millis;

const PREFIX_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;
/// How often a key's last use is written down, at most.
const USE_RECORDED_EVERY: Duration = Duration::from_secs(60);

/// Who made a request: the id of the key it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller(pub i64);

/// A key just made: `key` is shown once and never again.
#[derive(Debug)]
pub struct NewApiKey {
    /// The key: shown once, never stored.
    pub key: String,
    /// What is stored of it.
    pub record: KeyRecord,
}

/// Why a key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A name that is empty or too long.
    #[error("a key name is 1 to 64 visible characters (letters, digits, punctuation, spaces)")]
    BadName,
    /// The system's random source failed.
    #[error("no randomness for a key: {0}")]
    Random(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Makes a key named `name` and records it.
pub async fn create(store: &dyn Store, name: &str) -> Result<NewApiKey, KeyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(KeyError::BadName);
    }
    let mut random = [0u8; PREFIX_BYTES + SECRET_BYTES];
    getrandom::fill(&mut random).map_err(|e| KeyError::Random(e.to_string()))?;
    let prefix: String = random[..PREFIX_BYTES]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&random[PREFIX_BYTES..]);
    let key = format!("trawl_{prefix}_{secret}");
    let record = store
        .insert_key(NewKey {
            name: name.to_owned(),
            prefix,
            hash: hash(&key),
            created_at: now_millis(),
        })
        .await?;
    Ok(NewApiKey { key, record })
}

fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// The prefix of a well-formed key.
fn prefix_of(key: &str) -> Option<&str> {
    let (prefix, secret) = key.strip_prefix("trawl_")?.split_once('_')?;
    let well_formed = prefix.len() == PREFIX_BYTES * 2
        && prefix
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then_some(prefix)
}

/// Checks the keys requests carry.
pub struct Keys {
    store: Arc<dyn Store>,
    /// Longest wait for the store.
    timeout: Duration,
    /// When each key's use was last written down.
    recorded: Mutex<HashMap<i64, Instant>>,
    /// Refused requests per client.
    failures: FailureThrottle,
}

/// How many requests with a missing or wrong key a client may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureBudget {
    /// A minute, sustained (0: no limit).
    pub per_minute: u32,
    /// At once, after a quiet spell.
    pub burst: u32,
}

impl Default for FailureBudget {
    fn default() -> Self {
        Self {
            per_minute: 10,
            burst: 10,
        }
    }
}

/// Refused requests a client may make: a token bucket per client address,
/// spent by each refusal (a good key spends nothing). A client whose
/// bucket is empty gets `429` with `Retry-After` before its key is looked
/// at, and is logged once for each spell.
struct FailureThrottle {
    budget: FailureBudget,
    clients: Mutex<Clients>,
}

#[derive(Default)]
struct Clients {
    buckets: HashMap<std::net::IpAddr, Bucket>,
    /// When the table was last pruned (at most once a second, however
    /// many newcomers come while it is full).
    pruned: Option<Instant>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    /// Whether this spell of refusals was logged.
    logged: bool,
}

/// Clients whose failures are remembered at once: past it, the buckets
/// that have refilled are forgotten (a forgotten client is one with no
/// recent failures).
const MAX_FAILING_CLIENTS: usize = 100_000;

impl FailureThrottle {
    fn new(budget: FailureBudget) -> Self {
        Self {
            budget,
            clients: Mutex::new(Clients::default()),
        }
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let rate = f64::from(self.budget.per_minute) / 60.0;
        let burst = f64::from(self.budget.burst.max(1));
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.logged = false;
        }
    }

    /// `Err` with the wait when `ip` has no refusal left: whether to log
    /// it too (once a spell).
    fn blocked(&self, ip: std::net::IpAddr) -> Result<(), (Duration, bool)> {
        if self.budget.per_minute == 0 {
            return Ok(());
        }
        let ip = trawl_service::rate::client_key(ip);
        let mut clients = self.clients.lock().expect("not poisoned");
        let Some(bucket) = clients.buckets.get_mut(&ip) else {
            return Ok(());
        };
        let now = Instant::now();
        self.refill(bucket, now);
        if bucket.tokens >= 1.0 {
            return Ok(());
        }
        let rate = f64::from(self.budget.per_minute) / 60.0;
        let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / rate);
        let log = !bucket.logged;
        bucket.logged = true;
        Err((wait, log))
    }

    /// Spends one refusal of `ip`'s.
    fn failed(&self, ip: std::net::IpAddr) {
        if self.budget.per_minute == 0 {
            return;
        }
        let ip = trawl_service::rate::client_key(ip);
        let now = Instant::now();
        let mut clients = self.clients.lock().expect("not poisoned");
        let Clients { buckets, pruned } = &mut *clients;
        if buckets.len() >= MAX_FAILING_CLIENTS && !buckets.contains_key(&ip) {
            if pruned.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1)) {
                *pruned = Some(now);
                let burst = f64::from(self.budget.burst.max(1));
                let rate = f64::from(self.budget.per_minute) / 60.0;
                buckets.retain(|_, b| {
                    b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst
                });
            }
            if buckets.len() >= MAX_FAILING_CLIENTS {
                // Full of clients still failing: the newcomer is not
                // tracked (what it costs is bounded by the rate limits).
                return;
            }
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: f64::from(self.budget.burst.max(1)),
            at: now,
            logged: false,
        });
        self.refill(bucket, now);
        bucket.tokens = (bucket.tokens - 1.0).max(0.0);
    }
}

impl Keys {
    /// Keys checked against `store`, each look-up bounded by `timeout`, a
    /// client allowed `failures` refused requests.
    pub fn new(store: Arc<dyn Store>, timeout: Duration, failures: FailureBudget) -> Self {
        Self {
            store,
            timeout,
            recorded: Mutex::new(HashMap::new()),
            failures: FailureThrottle::new(failures),
        }
    }

    /// The key an `Authorization` header carries: 401 without a bearer
    /// key, 403 for a key that is not (or no longer) valid, 503 when the
    /// store cannot say.
    pub async fn verify(&self, authorization: Option<&HeaderValue>) -> Result<Caller, ApiError> {
        const HOW: &str = "this endpoint needs an API key, sent as `Authorization: Bearer <key>` (make one with `trawl keys create`)";
        let header = authorization.ok_or(ApiError::Unauthorized(HOW))?;
        let value = header.to_str().map_err(|_| ApiError::Unauthorized(HOW))?;
        let (scheme, key) = value
            .trim()
            .split_once(' ')
            .ok_or(ApiError::Unauthorized(HOW))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::Unauthorized(HOW));
        }
        let key = key.trim();
        let prefix = prefix_of(key).ok_or(ApiError::Forbidden)?;
        let found = tokio::time::timeout(self.timeout, self.store.key_by_prefix(prefix))
            .await
            .map_err(|_| dependency::timed_out(self.store.as_ref(), self.timeout))?
            .map_err(|e| dependency::store(self.store.as_ref(), e))?;
        let Some(record) = found else {
            return Err(ApiError::Forbidden);
        };
        let matches: bool = hash(key).ct_eq(&record.hash).into();
        if !matches || record.revoked_at.is_some() {
            return Err(ApiError::Forbidden);
        }
        self.record_use(record.id).await;
        Ok(Caller(record.id))
    }

    /// Writes down that a key was used, at most once a minute per key; a
    /// failure to is not the request's.
    async fn record_use(&self, id: i64) {
        let due = {
            let mut recorded = self.recorded.lock().expect("not poisoned");
            let due = recorded
                .get(&id)
                .is_none_or(|at| at.elapsed() >= USE_RECORDED_EVERY);
            if due {
                recorded.insert(id, Instant::now());
            }
            due
        };
        if due {
            let _ = tokio::time::timeout(self.timeout, self.store.key_used(id, now_millis())).await;
        }
    }
}

/// Middleware: lets a request through only with a valid key, and gives the
/// handlers its [`Caller`].
///
/// A client whose refusals spent its budget ([`FailureBudget`]) is
/// answered `429` at once, its key not looked at.
pub async fn require_key(
    State(keys): State<Arc<Keys>>,
    mut request: Request,
    next: Next,
) -> Response {
    let ip = request
        .extensions()
        .get::<trawl_service::client::Client>()
        .and_then(|c| c.ip);
    if let Some(ip) = ip
        && let Err((wait, log)) = keys.failures.blocked(ip)
    {
        if log {
            tracing::warn!(client = %ip, retry_after_s = wait.as_secs(), "too many requests with a missing or wrong API key: refusing this client for a while");
        }
        ::metrics::counter!(trawl_service::metrics::Metric::HttpRateLimited.name(), "budget" => "unauthenticated")
            .increment(1);
        return ApiError::RateLimited {
            budget: "unauthenticated",
            burst: keys.failures.budget.burst.max(1),
            retry_after: wait,
        }
        .into_response();
    }
    match keys
        .verify(request.headers().get(axum::http::header::AUTHORIZATION))
        .await
    {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => {
            if let Some(ip) = ip
                && matches!(error, ApiError::Unauthorized(_) | ApiError::Forbidden)
            {
                keys.failures.failed(ip);
            }
            error.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_refused_once_its_failures_are_spent_and_others_are_not() {
        let throttle = FailureThrottle::new(FailureBudget {
            per_minute: 60,
            burst: 3,
        });
        let a: std::net::IpAddr = "198.51.100.1".parse().unwrap();
        let b: std::net::IpAddr = "198.51.100.2".parse().unwrap();
        for _ in 0..3 {
            assert!(throttle.blocked(a).is_ok());
            throttle.failed(a);
        }
        let (wait, log) = throttle.blocked(a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(log, "the first refusal of a spell is logged");
        assert!(!throttle.blocked(a).unwrap_err().1, "the next is not");
        assert!(throttle.blocked(b).is_ok());
        // IPv6 clients by their /64: another address of it is the same.
        let v6: std::net::IpAddr = "2001:db8:1:2::1".parse().unwrap();
        for _ in 0..3 {
            throttle.failed(v6);
        }
        assert!(
            throttle
                .blocked("2001:db8:1:2::ffff".parse().unwrap())
                .is_err()
        );
        assert!(throttle.blocked("2001:db8:1:3::1".parse().unwrap()).is_ok());
        // A budget of 0 limits nothing.
        let off = FailureThrottle::new(FailureBudget {
            per_minute: 0,
            burst: 0,
        });
        for _ in 0..100 {
            off.failed(a);
        }
        assert!(off.blocked(a).is_ok());
    }

    #[test]
    fn only_well_formed_keys_have_a_prefix() {
        let key = format!("trawl_0123456789ab_{}", "A".repeat(43));
        assert_eq!(prefix_of(&key), Some("0123456789ab"));
        for bad in [
            "",
            "trawl_",
            "0123456789ab_x",
            &format!("trawl_0123456789AB_{}", "A".repeat(43)),
            &format!("trawl_0123456789ab_{}", "A".repeat(42)),
            &format!("trawl_0123456789ab_{}!", "A".repeat(42)),
            &format!("other_0123456789ab_{}", "A".repeat(43)),
        ] {
            assert_eq!(prefix_of(bad), None, "{bad}");
        }
    }
}
