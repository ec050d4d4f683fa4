//! Opaque, tamper-evident page cursors for API v2.
//!
//! A cursor is `PAYLOAD.TAG`: the payload is the request (query, page size,
//! page) as base64url JSON, the tag an HMAC-SHA256 of the payload under the
//! service's [`CursorKey`], truncated to 128 bits. Clients cannot read
//! meaning into it, and any change to it is detected.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::options::{Keyword, Lang, Safe, TimeRange, parse_categories, parse_engines};
use crate::params::{InvalidRequest, MAX_PAGE, MAX_PER_PAGE, Query, SearchRequest};

/// Bytes of the HMAC kept in a cursor.
const TAG_BYTES: usize = 16;

/// The key cursors are signed with. Replicas that must accept each other's
/// cursors share it (`TRAWL_CURSOR_SECRET`).
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(…)")
    }
}

#[derive(Serialize, Deserialize)]
struct Payload {
    /// Format version of the payload.
    v: u8,
    q: String,
    n: u32,
    p: u32,
    /// The options, in their query-string spelling; absent at their default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
}

impl CursorKey {
    /// A key derived from a configured secret.
    pub fn from_secret(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// A key from 32 random bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(payload);
        mac
    }

    /// The cursor that asks for `request` again.
    pub fn encode(&self, request: &SearchRequest) -> String {
        let payload = Payload {
            v: 1,
            q: request.query.as_str().to_owned(),
            n: request.per_page,
            p: request.page,
            s: (request.safe != Safe::default()).then(|| request.safe.as_str().to_owned()),
            t: request.time_range.map(|t| t.as_str().to_owned()),
            l: request.lang.map(|l| l.as_str().to_owned()),
            e: (!request.engines.is_empty()).then(|| request.engines.join(",")),
            c: (!request.categories.is_empty()).then(|| request.categories.join(",")),
        };
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).expect("a payload serialises"));
        let tag = self.mac(payload.as_bytes()).finalize().into_bytes();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES]))
    }

    /// The request a cursor stands for, if this key signed it unchanged.
    pub fn decode(&self, cursor: &str) -> Result<SearchRequest, InvalidRequest> {
        let invalid = || InvalidRequest::InvalidCursor {
            reason: "it is malformed, was altered, or was issued by another deployment".to_owned(),
        };
        let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        if tag.len() != TAG_BYTES {
            return Err(invalid());
        }
        self.mac(payload.as_bytes())
            .verify_truncated_left(&tag)
            .map_err(|_| invalid())?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let payload: Payload = serde_json::from_slice(&json).map_err(|_| invalid())?;
        if payload.v != 1
            || !(1..=MAX_PER_PAGE).contains(&payload.n)
            || !(1..=MAX_PAGE).contains(&payload.p)
        {
            return Err(invalid());
        }
        // Signed by us, so valid unless the rules tightened since: then the
        // cursor is refused like any other that cannot be honoured.
        Ok(SearchRequest {
            query: Query::parse(&payload.q).map_err(|_| invalid())?,
            page: payload.p,
            per_page: payload.n,
            safe: Safe::parse_param(payload.s.as_deref())
                .map_err(|_| invalid())?
                .unwrap_or_default(),
            time_range: TimeRange::parse_param(payload.t.as_deref()).map_err(|_| invalid())?,
            lang: Lang::parse_param(payload.l.as_deref()).map_err(|_| invalid())?,
            engines: parse_engines(payload.e.as_deref()).map_err(|_| invalid())?,
            categories: parse_categories(payload.c.as_deref()).map_err(|_| invalid())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(q: &str, page: u32) -> SearchRequest {
        SearchRequest {
            page,
            ..SearchRequest::new(Query::parse(q).unwrap())
        }
    }

    #[test]
    fn round_trip() {
        let key = CursorKey::from_secret("s3cret");
        let mut original = request("café & \"crème\" <b>", 7);
        original.safe = Safe::Off;
        original.time_range = Some(TimeRange::Year);
        original.lang = Lang::parse_param(Some("fr")).unwrap();
        original.engines = vec!["local".into(), "wiki".into()];
        let cursor = key.encode(&original);
        assert!(
            cursor
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{cursor}"
        );
        assert!(!cursor.contains("caf"), "opaque: {cursor}");
        assert_eq!(key.decode(&cursor).unwrap(), original);
    }

    #[test]
    fn any_change_is_detected() {
        let key = CursorKey::from_secret("s3cret");
        let cursor = key.encode(&request("index", 2));
        let (payload, _) = cursor.split_once('.').unwrap();
        // Every single-character change, anywhere.
        for i in 0..cursor.len() {
            let mut bytes = cursor.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            if altered != cursor {
                assert!(key.decode(&altered).is_err(), "accepted {altered}");
            }
        }
        // A forged payload asking for another page, with the old tag.
        let forged = URL_SAFE_NO_PAD.encode(br#"{"v":1,"q":"index","n":10,"p":3}"#);
        let tag = cursor.split_once('.').unwrap().1;
        assert!(key.decode(&format!("{forged}.{tag}")).is_err());
        assert_ne!(forged, payload);
        for garbage in ["", ".", "abc", "a.b", "x.AAAAAAAAAAAAAAAAAAAAAA"] {
            let err = key.decode(garbage).unwrap_err();
            assert_eq!(
                (err.code(), err.param()),
                ("invalid_cursor", Some("cursor"))
            );
        }
        assert!(
            CursorKey::from_secret("other").decode(&cursor).is_err(),
            "another key's cursor"
        );
    }
}
