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
}

impl Keys {
    /// Keys checked against `store`, each look-up bounded by `timeout`.
    pub fn new(store: Arc<dyn Store>, timeout: Duration) -> Self {
        Self {
            store,
            timeout,
            recorded: Mutex::new(HashMap::new()),
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
pub async fn require_key(
    State(keys): State<Arc<Keys>>,
    mut request: Request,
    next: Next,
) -> Response {
    match keys
        .verify(request.headers().get(axum::http::header::AUTHORIZATION))
        .await
    {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
