//! The settings of the calls between trawl's services, as the configuration
//! file's `[services]` section holds them, and the client settings they make.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::breaker::BreakerSettings;
use crate::clients::{ClientSettings, RetrySettings};

/// The circuit breaker on each service-to-service destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failed calls that open it.
    pub fail_max: u32,
    /// Failed share of the calls in the window that opens it, in percent.
    pub failure_rate_percent: u8,
    /// The window the failure rate looks at.
    pub window_s: u64,
    /// Calls the window must hold before its rate counts.
    pub min_calls: u32,
    /// How long it stays open before one probe call is let through.
    pub reset_timeout_s: u64,
}

/// How the services reach each other when they run as separate processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServicesConfig {
    /// Base URL of the search service, for `--role results`.
    pub search_url: Url,
    /// Base URL of the results service, for `--role web`.
    pub results_url: Url,
    /// Longest wait for a connection.
    pub connect_timeout_ms: u64,
    /// Limit on each call from results to search.
    pub search_timeout_ms: u64,
    /// Limit on each call from web to results; longer than the search
    /// timeout so the page can report which service failed.
    pub results_timeout_ms: u64,
    /// Calls to one destination at once (bulkhead); more are refused.
    pub max_in_flight: usize,
    /// Retries of a failed call (connection errors and 502/503/504 only).
    pub retries: u32,
    /// The first retry's backoff; each further one doubles, all jittered.
    pub retry_backoff_ms: u64,
    /// Load retries may add, in percent of calls.
    pub retry_budget_percent: u8,
    /// When a destination is left alone.
    pub breaker: BreakerConfig,
}

impl Default for ServicesConfig {
    fn default() -> Self {
        Self {
            search_url: Url::parse("http://127.0.0.1:8081/").expect("static URL"),
            results_url: Url::parse("http://127.0.0.1:8082/").expect("static URL"),
            connect_timeout_ms: 1_000,
            search_timeout_ms: 5_000,
            results_timeout_ms: 6_000,
            max_in_flight: 256,
            retries: RetrySettings::default().retries,
            retry_backoff_ms: RetrySettings::default().backoff.as_millis() as u64,
            retry_budget_percent: (RetrySettings::default().budget_ratio * 100.0).round() as u8,
            breaker: BreakerConfig::default(),
        }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        let defaults = BreakerSettings::default();
        Self {
            fail_max: defaults.fail_max,
            failure_rate_percent: (defaults.failure_rate * 100.0).round() as u8,
            window_s: defaults.window.as_secs(),
            min_calls: defaults.min_calls,
            reset_timeout_s: defaults.reset_timeout.as_secs(),
        }
    }
}

impl ServicesConfig {
    fn retry(&self) -> RetrySettings {
        RetrySettings {
            retries: self.retries,
            backoff: Duration::from_millis(self.retry_backoff_ms),
            budget_ratio: f32::from(self.retry_budget_percent) / 100.0,
        }
    }

    fn breaker(&self) -> BreakerSettings {
        let b = &self.breaker;
        BreakerSettings {
            fail_max: b.fail_max,
            failure_rate: f64::from(b.failure_rate_percent) / 100.0,
            window: Duration::from_secs(b.window_s),
            min_calls: b.min_calls,
            reset_timeout: Duration::from_secs(b.reset_timeout_s),
            max_reset_timeout: Duration::from_secs(b.reset_timeout_s),
        }
    }

    /// How the results service calls the search service.
    pub fn search_client(&self) -> ClientSettings {
        ClientSettings {
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            timeout: Duration::from_millis(self.search_timeout_ms),
            max_in_flight: self.max_in_flight,
            breaker: self.breaker(),
            retry: self.retry(),
        }
    }

    /// How the web service calls the results service.
    pub fn results_client(&self) -> ClientSettings {
        ClientSettings {
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            timeout: Duration::from_millis(self.results_timeout_ms),
            max_in_flight: self.max_in_flight,
            breaker: self.breaker(),
            retry: self.retry(),
        }
    }
}
