//! A circuit breaker per destination, as in the guides'
//! `pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)`, plus a
//! failure-rate trigger.
//!
//! - **Closed**: calls pass. It opens after `fail_max` consecutive failures,
//!   or when at least `min_calls` calls in the last `window` failed at
//!   `failure_rate` or more. The window is kept as counts in tenths of it
//!   (constant memory and time per call, whatever the traffic), so a call
//!   leaves it between `window` and 1.1 × `window` after it was made.
//! - **Open**: calls are refused at once, for `reset_timeout`.
//! - **Half-open**: after that, exactly one call (the probe) passes; the
//!   others are still refused. The probe's success closes the breaker, its
//!   failure opens it for another `reset_timeout`. A probe that ends without
//!   a verdict (its caller gave up) lets the next call probe.
//!
//! What counts as a failure is the caller's to say (for HTTP: no connection,
//! no answer in time, or a 5xx); a 4xx means the destination works.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// When a breaker opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the breaker.
    pub fail_max: u32,
    /// Share of failed calls in `window` that opens it, from 0 to 1.
    pub failure_rate: f64,
    /// How far back the failure rate looks.
    pub window: Duration,
    /// Calls the window must hold before its rate counts.
    pub min_calls: u32,
    /// How long it stays open before a probe.
    pub reset_timeout: Duration,
    /// Each failed probe doubles the next open period, up to this (equal
    /// to `reset_timeout`: no doubling).
    pub max_reset_timeout: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            fail_max: 5,
            failure_rate: 0.5,
            window: Duration::from_secs(30),
            min_calls: 20,
            reset_timeout: Duration::from_secs(60),
            max_reset_timeout: Duration::from_secs(60),
        }
    }
}

/// The state, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Calls pass.
    Closed,
    /// Calls are refused.
    Open,
    /// One probe call passes.
    HalfOpen,
}

impl State {
    /// Its name in readiness details.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
        }
    }
}

/// A call was refused without being made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker open: retry in {} ms", retry_after.as_millis())]
pub struct Refused {
    /// When a call may next be let through (as a probe).
    pub retry_after: Duration,
}

/// What `/readyz` and logs show.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Closed, open or half open.
    pub state: State,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Until the next probe, when open.
    pub retry_after: Option<Duration>,
    /// Times it has opened since the process started.
    pub opened: u64,
    /// Calls it refused since the process started.
    pub refused: u64,
}

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "breaker {}", self.state.as_str())?;
        if let Some(after) = self.retry_after {
            write!(f, " (probe in {} ms)", after.as_millis())?;
        }
        write!(
            f,
            ", {} consecutive failures, opened {} times, refused {} calls",
            self.consecutive_failures, self.opened, self.refused
        )
    }
}

#[derive(Debug)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    consecutive_failures: u32,
    /// Outcomes in the window.
    recent: Window,
    /// The open period after the next failure.
    reset_timeout: Duration,
}

/// A circuit breaker: closed, open after failures, half open to probe.
#[derive(Debug)]
pub struct CircuitBreaker {
    settings: BreakerSettings,
    inner: Mutex<Inner>,
    opened: AtomicU64,
    refused: AtomicU64,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            inner: Mutex::new(Inner {
                phase: Phase::Closed,
                consecutive_failures: 0,
                recent: Window::new(settings.window),
                reset_timeout: settings.reset_timeout,
            }),
            opened: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Asks to make a call. The permit must be told how the call went.
    pub fn try_acquire(self: &Arc<Self>) -> Result<Permit, Refused> {
        let now = Instant::now();
        let mut inner = self.lock();
        let probe = match inner.phase {
            Phase::Closed => false,
            Phase::Open { until } if now >= until => {
                inner.phase = Phase::HalfOpen { probing: true };
                true
            }
            Phase::HalfOpen { probing: false } => {
                inner.phase = Phase::HalfOpen { probing: true };
                true
            }
            Phase::Open { until } => {
                return Err(self.refuse(until - now));
            }
            Phase::HalfOpen { probing: true } => {
                // A probe is out; until it tells, nobody else goes.
                return Err(self.refuse(Duration::from_secs(1)));
            }
        };
        Ok(Permit {
            breaker: self.clone(),
            probe,
            done: false,
        })
    }

    fn refuse(&self, retry_after: Duration) -> Refused {
        self.refused.fetch_add(1, Ordering::Relaxed);
        Refused { retry_after }
    }

    /// Its state and counters now.
    pub fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let inner = self.lock();
        let (state, retry_after) = match inner.phase {
            Phase::Closed => (State::Closed, None),
            Phase::Open { until } if now >= until => (State::HalfOpen, None),
            Phase::Open { until } => (State::Open, Some(until - now)),
            Phase::HalfOpen { .. } => (State::HalfOpen, None),
        };
        Snapshot {
            state,
            consecutive_failures: inner.consecutive_failures,
            retry_after,
            opened: self.opened.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state is a few counters: a panic elsewhere cannot leave it
        // inconsistent in a way worse than refusing to serve.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records an outcome; the state it moved the breaker to, if it did.
    fn record(&self, probe: bool, failed: bool) -> Option<State> {
        let now = Instant::now();
        let settings = &self.settings;
        let mut inner = self.lock();
        if failed {
            inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
        } else {
            inner.consecutive_failures = 0;
        }
        if probe {
            inner.recent.clear();
            if failed {
                // Still failing: wait longer before the next probe.
                inner.reset_timeout = (inner.reset_timeout * 2)
                    .min(settings.max_reset_timeout)
                    .max(settings.reset_timeout);
                self.open(&mut inner, now);
                return Some(State::Open);
            }
            inner.reset_timeout = settings.reset_timeout;
            inner.phase = Phase::Closed;
            return Some(State::Closed);
        }
        if !matches!(inner.phase, Phase::Closed) {
            // A call let through before the breaker opened, ending late.
            return None;
        }
        let (calls, failures) = inner.recent.record(now, failed);
        let rate_exceeded = calls >= u64::from(settings.min_calls)
            && calls > 0
            && failures as f64 / calls as f64 >= settings.failure_rate;
        if inner.consecutive_failures >= settings.fail_max || rate_exceeded {
            self.open(&mut inner, now);
            return Some(State::Open);
        }
        None
    }

    fn open(&self, inner: &mut Inner, now: Instant) {
        inner.recent.clear();
        inner.phase = Phase::Open {
            until: now + inner.reset_timeout,
        };
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// Opens it for at least `duration`, whatever its state: the
    /// destination asked to be left alone (HTTP 429 with `Retry-After`).
    pub fn open_for(&self, duration: Duration) {
        let now = Instant::now();
        let until = now + duration;
        let mut inner = self.lock();
        match inner.phase {
            Phase::Open { until: later } if later >= until => {}
            Phase::Open { .. } => inner.phase = Phase::Open { until },
            _ => {
                inner.phase = Phase::Open { until };
                inner.recent.clear();
                self.opened.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn abandon(&self, probe: bool) {
        if probe {
            let mut inner = self.lock();
            if matches!(inner.phase, Phase::HalfOpen { probing: true }) {
                inner.phase = Phase::HalfOpen { probing: false };
            }
        }
    }
}

/// Calls and failures over a sliding window, counted in buckets a tenth of
/// its length wide.
#[derive(Debug)]
struct Window {
    length: Duration,
    bucket: Duration,
    /// Oldest first; at most 11.
    buckets: VecDeque<Bucket>,
    calls: u64,
    failures: u64,
}

#[derive(Debug)]
struct Bucket {
    start: Instant,
    calls: u64,
    failures: u64,
}

impl Window {
    fn new(length: Duration) -> Self {
        Self {
            length,
            bucket: (length / 10).max(Duration::from_millis(1)),
            buckets: VecDeque::with_capacity(11),
            calls: 0,
            failures: 0,
        }
    }

    /// Counts one outcome; the calls and failures now in the window.
    fn record(&mut self, now: Instant, failed: bool) -> (u64, u64) {
        while let Some(old) = self
            .buckets
            .front()
            .filter(|b| now.duration_since(b.start) > self.length)
        {
            self.calls -= old.calls;
            self.failures -= old.failures;
            self.buckets.pop_front();
        }
        match self.buckets.back_mut() {
            Some(last) if now.duration_since(last.start) < self.bucket => {
                last.calls += 1;
                last.failures += u64::from(failed);
            }
            _ => self.buckets.push_back(Bucket {
                start: now,
                calls: 1,
                failures: u64::from(failed),
            }),
        }
        self.calls += 1;
        self.failures += u64::from(failed);
        (self.calls, self.failures)
    }

    fn clear(&mut self) {
        self.buckets.clear();
        self.calls = 0;
        self.failures = 0;
    }
}

/// Leave to make one call; say how it went with [`success`](Self::success)
/// or [`failure`](Self::failure). Dropped without either (the caller gave
/// up), it counts as neither.
#[must_use = "a permit must be told how the call went"]
#[derive(Debug)]
pub struct Permit {
    breaker: Arc<CircuitBreaker>,
    probe: bool,
    done: bool,
}

impl Permit {
    /// The call went well; the state the breaker moved to, if it moved.
    pub fn success(mut self) -> Option<State> {
        self.done = true;
        self.breaker.record(self.probe, false)
    }

    /// The call failed; the state the breaker moved to, if it moved.
    pub fn failure(mut self) -> Option<State> {
        self.done = true;
        self.breaker.record(self.probe, true)
    }

    /// Whether this call is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.abandon(self.probe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Arc<CircuitBreaker> {
        Arc::new(CircuitBreaker::new(BreakerSettings {
            fail_max: 3,
            failure_rate: 0.5,
            window: Duration::from_secs(10),
            min_calls: 6,
            reset_timeout: Duration::from_secs(60),
            max_reset_timeout: Duration::from_secs(60),
        }))
    }

    fn fail(b: &Arc<CircuitBreaker>) {
        b.try_acquire().unwrap().failure();
    }

    fn succeed(b: &Arc<CircuitBreaker>) {
        b.try_acquire().unwrap().success();
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_fail_max_consecutive_failures_and_refuses_fast() {
        let b = breaker();
        fail(&b);
        fail(&b);
        succeed(&b);
        fail(&b);
        fail(&b);
        assert_eq!(
            b.snapshot().state,
            State::Closed,
            "a success resets the run"
        );
        fail(&b);
        let snapshot = b.snapshot();
        assert_eq!(snapshot.state, State::Open);
        assert_eq!(snapshot.opened, 1);
        let refused = b.try_acquire().unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(
            b.try_acquire().unwrap_err().retry_after,
            Duration::from_secs(1)
        );
        assert_eq!(b.snapshot().refused, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_admits_one_probe_whose_success_closes_it() {
        let b = breaker();
        (0..3).for_each(|_| fail(&b));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(b.snapshot().state, State::HalfOpen);
        let probe = b.try_acquire().unwrap();
        assert!(probe.is_probe());
        assert!(b.try_acquire().is_err(), "only one probe at a time");
        probe.success();
        assert_eq!(b.snapshot().state, State::Closed);
        assert_eq!(b.snapshot().consecutive_failures, 0);
        assert!(!b.try_acquire().unwrap().is_probe());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_it_again_and_an_abandoned_one_frees_the_slot() {
        let b = breaker();
        (0..3).for_each(|_| fail(&b));
        tokio::time::advance(Duration::from_secs(60)).await;
        drop(b.try_acquire().unwrap());
        let probe = b.try_acquire().expect("the abandoned probe's slot is free");
        probe.failure();
        assert_eq!(b.snapshot().state, State::Open);
        assert_eq!(b.snapshot().opened, 2);
        assert_eq!(
            b.try_acquire().unwrap_err().retry_after,
            Duration::from_secs(60)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn opens_on_the_failure_rate_in_the_window() {
        let b = breaker();
        // Alternating: never 3 in a row, but half of the calls fail.
        for _ in 0..2 {
            fail(&b);
            succeed(&b);
        }
        fail(&b);
        assert_eq!(b.snapshot().state, State::Closed, "5 calls < min_calls");
        succeed(&b);
        assert_eq!(b.snapshot().state, State::Open, "3 of 6 failed");

        // Outcomes older than the window do not count.
        let b = breaker();
        fail(&b);
        fail(&b);
        tokio::time::advance(Duration::from_secs(11)).await;
        succeed(&b);
        for _ in 0..2 {
            fail(&b);
            succeed(&b);
            succeed(&b);
        }
        assert_eq!(b.snapshot().state, State::Closed, "2 of 7 recent failed");
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_counts_in_tenths_and_forgets_what_is_older() {
        let mut window = Window::new(Duration::from_secs(10));
        let start = Instant::now();
        // 100,000 calls over 20 s, a failure every 4th: the last 10 to 11 s
        // of them count, in at most 11 buckets.
        for i in 0..100_000u32 {
            let now = start + Duration::from_micros(u64::from(i) * 200);
            window.record(now, i % 4 == 0);
            assert!(window.buckets.len() <= 11);
        }
        let (calls, failures) = window.record(start + Duration::from_secs(20), false);
        assert!((50_000..=55_001).contains(&calls), "{calls}");
        assert!((12_500..=13_751).contains(&failures), "{failures}");
        assert_eq!(
            window.record(start + Duration::from_secs(40), true),
            (1, 1),
            "nothing older than the window"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probes_double_the_wait_up_to_the_cap_and_429s_open_it_for_as_long_as_asked() {
        let b = Arc::new(CircuitBreaker::new(BreakerSettings {
            fail_max: 1,
            reset_timeout: Duration::from_secs(60),
            max_reset_timeout: Duration::from_secs(200),
            ..BreakerSettings::default()
        }));
        fail(&b);
        let mut waits = Vec::new();
        for _ in 0..4 {
            let wait = b.snapshot().retry_after.unwrap();
            waits.push(wait.as_secs());
            tokio::time::advance(wait).await;
            fail(&b);
        }
        assert_eq!(waits, [60, 120, 200, 200]);
        tokio::time::advance(Duration::from_secs(200)).await;
        succeed(&b);
        fail(&b);
        assert_eq!(
            b.snapshot().retry_after,
            Some(Duration::from_secs(60)),
            "a success resets the wait"
        );

        let b = breaker();
        b.open_for(Duration::from_secs(600));
        assert_eq!(b.snapshot().state, State::Open);
        assert_eq!(
            b.try_acquire().unwrap_err().retry_after,
            Duration::from_secs(600)
        );
        b.open_for(Duration::from_secs(5));
        assert_eq!(
            b.snapshot().retry_after,
            Some(Duration::from_secs(600)),
            "never shortened"
        );
    }

    #[test]
    fn snapshot_reads_well() {
        let b = breaker();
        assert_eq!(
            b.snapshot().to_string(),
            "breaker closed, 0 consecutive failures, opened 0 times, refused 0 calls"
        );
    }
}
