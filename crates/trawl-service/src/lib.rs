//! Plumbing every trawl service shares, so that each service crate holds only
//! its own logic and thin handlers.
//!
//! - [`error`]: the one mapping from errors to HTTP responses (RFC 9457
//!   problem documents);
//! - [`extract`]: request extractors that validate at the boundary and reject
//!   in the same format;
//! - [`health`]: `/livez` and `/readyz`;
//! - [`server`]: common middleware, serving, graceful shutdown;
//! - [`connections`]: the accept loop and its limits on connections;
//! - [`client`]: who a request is from (trusted proxies) and the origin
//!   absolute links use; [`rate`]: per-client rate limits;
//! - [`net`]: where outbound calls may be redirected (public addresses);
//! - [`redact`]: secrets kept out of every URL and text shown or logged;
//! - [`clients`]: the HTTP implementations of the service seams, each call
//!   through the [`outbound`] stack (deadline, bulkhead, circuit breaker
//!   ([`breaker`]), budgeted retries);
//! - [`deadline`]: per-request deadlines, propagated downstream;
//! - [`logging`]: structured logs; [`trace`]: W3C trace context and
//!   OpenTelemetry spans; [`metrics`]: the metric catalogue and `/metrics`;
//! - [`openapi`]: the parts of every OpenAPI document that all services share;
//! - [`versioning`]: v1's deprecation headers.

pub mod breaker;
pub mod client;
pub mod clients;
pub mod connections;
pub mod deadline;
pub mod error;
pub mod extract;
pub mod health;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod openapi;
pub mod outbound;
pub mod rate;
pub mod redact;
pub mod server;
pub mod settings;
pub mod trace;
pub mod versioning;

pub use error::ApiError;
pub use settings::{BreakerConfig, ServicesConfig};
