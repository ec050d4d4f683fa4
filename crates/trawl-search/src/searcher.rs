//! The fan-out: every selected engine asked at once, each under its own
//! deadline, and a report per engine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tracing::Instrument;
use trawl_api::params::MAX_SUGGESTIONS;
use trawl_api::{
    EngineInfo, EngineReport, EngineStatus, EnginesResponse, InvalidRequest, Readiness, SearchHit,
    SearchRequest, SearchResponse, SearchService, ServiceError, Suggestions,
};
use trawl_service::metrics::Metric;

use crate::engine::{Engine, EngineError, EngineResults};

/// An engine as configured.
#[derive(Clone)]
pub struct Slot {
    /// The engine.
    pub engine: Arc<dyn Engine>,
    /// Asked when a request names no engines; a disabled engine is asked
    /// only when named.
    pub enabled: bool,
    /// Bounds its answer; a slower engine is reported as `timeout` and its
    /// work is cancelled.
    pub timeout: Duration,
    /// How much its results count when results are merged.
    pub weight: f64,
    /// The categories it is in: a request naming one asks it (if enabled).
    pub categories: Vec<String>,
}

/// Longest URL a hit may have as it leaves the search service; a hit with
/// a longer one is dropped and counted in its engine's `dropped` (the
/// results service drops URLs over `results.max_url_bytes`, at most this,
/// after cleaning).
pub const MAX_HIT_URL_BYTES: usize = 8 * 1024;
/// Longest title a hit keeps as it leaves the search service, in bytes
/// (the results service cuts titles to 200 characters).
pub const MAX_HIT_TITLE_BYTES: usize = 2 * 1024;
/// Longest snippet a hit keeps as it leaves the search service, in bytes
/// (the results service cuts snippets to at most 5,000 characters).
pub const MAX_HIT_SNIPPET_BYTES: usize = 32 * 1024;

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The in-process search service over a set of engines.
pub struct Searcher {
    slots: Vec<Slot>,
    /// The categories of the enabled engines, when they tell engines apart
    /// (every answer carries them, for the page's tabs).
    tabs: Vec<String>,
}

impl Searcher {
    /// Every engine enabled, each bounded by `engine_timeout`, of weight 1.
    pub fn new(engines: Vec<Arc<dyn Engine>>, engine_timeout: Duration) -> Self {
        Self::with_slots(
            engines
                .into_iter()
                .map(|engine| Slot {
                    engine,
                    enabled: true,
                    timeout: engine_timeout,
                    weight: 1.0,
                    categories: vec!["general".to_owned()],
                })
                .collect(),
        )
    }

    /// A service over `slots`, in the order reports list them.
    pub fn with_slots(slots: Vec<Slot>) -> Self {
        let enabled: Vec<&Slot> = slots.iter().filter(|s| s.enabled).collect();
        let mut tabs: Vec<String> = enabled
            .iter()
            .flat_map(|s| s.categories.iter().cloned())
            .collect();
        tabs.sort_unstable();
        tabs.dedup();
        // Categories that would all ask the same engines are no choice.
        let narrows = tabs
            .iter()
            .any(|c| enabled.iter().any(|s| !s.categories.contains(c)));
        if !narrows {
            tabs.clear();
        }
        Self { slots, tabs }
    }
}

impl Searcher {
    /// Positions of the engines a request names and of the enabled ones
    /// in the categories it names, or of every enabled engine when it names
    /// neither. A name no engine has, or a category no engine is in, is the
    /// client's mistake.
    fn select(
        &self,
        names: &[String],
        categories: &[String],
    ) -> Result<Vec<usize>, InvalidRequest> {
        if names.is_empty() && categories.is_empty() {
            return Ok((0..self.slots.len())
                .filter(|&i| self.slots[i].enabled)
                .collect());
        }
        let mut selected: Vec<usize> = names
            .iter()
            .map(|name| {
                self.slots
                    .iter()
                    .position(|s| s.engine.name() == name)
                    .ok_or_else(|| {
                        let known: Vec<String> = self
                            .slots
                            .iter()
                            .map(|s| format!("`{}`", s.engine.name()))
                            .collect();
                        InvalidRequest::InvalidParameter {
                            param: "engines",
                            reason: format!(
                                "names `{name}`, which is not a configured engine; the engines are {}",
                                known.join(", ")
                            ),
                        }
                    })
            })
            .collect::<Result<_, _>>()?;
        for category in categories {
            let within = |slot: &Slot| slot.categories.iter().any(|c| c == category);
            if !self.slots.iter().any(within) {
                let mut known: Vec<&str> = self
                    .slots
                    .iter()
                    .flat_map(|s| s.categories.iter().map(String::as_str))
                    .collect();
                known.sort_unstable();
                known.dedup();
                return Err(InvalidRequest::InvalidParameter {
                    param: "categories",
                    reason: format!(
                        "names `{category}`, which no configured engine is in; the categories are {}",
                        known
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            selected.extend(
                (0..self.slots.len()).filter(|&i| self.slots[i].enabled && within(&self.slots[i])),
            );
        }
        selected.sort_unstable();
        selected.dedup();
        Ok(selected)
    }
}

type Outcome = (
    usize,
    Result<Result<EngineResults, EngineError>, tokio::time::error::Elapsed>,
    Duration,
    Duration,
);

/// Counts an engine's call by outcome, times it, and counts its results.
fn record(
    engine: &str,
    outcome: &Result<Result<EngineResults, EngineError>, tokio::time::error::Elapsed>,
    elapsed: Duration,
) {
    let label = match outcome {
        Ok(Ok(_)) => "ok",
        Ok(Err(EngineError::Suspended { .. })) => "suspended",
        Ok(Err(EngineError::Timeout(_))) | Err(_) => "timeout",
        Ok(Err(EngineError::RateLimited(_))) => "rate_limited",
        Ok(Err(_)) => "error",
    };
    let engine = engine.to_owned();
    ::metrics::counter!(Metric::EngineCalls.name(), "engine" => engine.clone(), "outcome" => label)
        .increment(1);
    ::metrics::histogram!(Metric::EngineDuration.name(), "engine" => engine.clone())
        .record(elapsed.as_secs_f64());
    if let Ok(Ok(found)) = outcome {
        ::metrics::counter!(Metric::EngineResults.name(), "engine" => engine)
            .increment(found.hits.len() as u64);
    }
}

#[async_trait]
impl SearchService for Searcher {
    async fn search(&self, request: &SearchRequest) -> Result<SearchResponse, ServiceError> {
        let selected = self.select(&request.engines, &request.categories)?;
        // No engine may run past the request's own deadline, less the time
        // to answer with what the others found.
        let left = trawl_service::deadline::for_work();
        // The engines run concurrently inside this request's task rather
        // than as tasks of their own: nothing to hand over between
        // threads, the request's deadline scope reaches them, and when the
        // request is dropped their calls are dropped with it.
        let mut pending: FuturesUnordered<_> = selected
            .into_iter()
            .map(|position| {
                let slot = &self.slots[position];
                let timeout = left.map_or(slot.timeout, |left| left.min(slot.timeout));
                let span = tracing::info_span!(
                    "engine",
                    engine = slot.engine.name(),
                    kind = slot.engine.kind(),
                    otel.name = %format_args!("engine {}", slot.engine.name()),
                );
                async move {
                    let started = Instant::now();
                    let outcome = tokio::time::timeout(timeout, slot.engine.search(request)).await;
                    (position, outcome, started.elapsed(), timeout)
                }
                .instrument(span)
            })
            .collect();
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(pending.len());
        while let Some(outcome) = pending.next().await {
            outcomes.push(outcome);
        }
        // Report in configuration order, whatever order engines answered in.
        outcomes.sort_by_key(|(position, ..)| *position);

        let mut results = Vec::new();
        let mut engines = Vec::with_capacity(outcomes.len());
        for (position, outcome, elapsed, timeout) in outcomes {
            let name = self.slots[position].engine.name().to_owned();
            record(&name, &outcome, elapsed);
            let latency_ms = (elapsed.as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
            let report =
                |status, results: usize, total, error: Option<(&str, String)>, dropped: u32| {
                    let (error_kind, error) = match error {
                        Some((kind, message)) => (Some(kind.to_owned()), Some(message)),
                        None => (None, None),
                    };
                    EngineReport {
                        name: name.clone(),
                        status,
                        latency_ms,
                        results: results as u32,
                        total,
                        error,
                        error_kind,
                        weight: self.slots[position].weight,
                        dropped,
                    }
                };
            match outcome {
                Ok(Ok(mut found)) => {
                    // What was asked for, and no field beyond its bound:
                    // an upstream's answer cannot make this one balloon.
                    found.hits.truncate(request.per_page as usize);
                    let returned = found.hits.len();
                    let first_rank = request.offset() as u32 + 1;
                    let mut dropped = 0u32;
                    for (hit, rank) in found.hits.into_iter().zip(first_rank..) {
                        if hit.url.len() > MAX_HIT_URL_BYTES {
                            dropped += 1;
                            continue;
                        }
                        results.push(SearchHit {
                            title: cut(hit.title, MAX_HIT_TITLE_BYTES),
                            url: hit.url,
                            snippet: cut(hit.snippet, MAX_HIT_SNIPPET_BYTES),
                            engine: name.clone(),
                            rank,
                            score: hit.score,
                            highlights: hit.highlights,
                            published: hit
                                .published
                                .as_deref()
                                .and_then(trawl_api::dates::normalize),
                        });
                    }
                    engines.push(report(
                        EngineStatus::Ok,
                        returned,
                        found.total,
                        None,
                        dropped,
                    ));
                }
                Ok(Err(error)) => {
                    let status = match error {
                        EngineError::Suspended { .. } => EngineStatus::Suspended,
                        EngineError::Timeout(_) => EngineStatus::Timeout,
                        _ => EngineStatus::Error,
                    };
                    // An upstream's text may echo a key: never shown or
                    // logged as it came (`trawl_service::redact`).
                    let message = trawl_service::redact::text(&error.to_string()).into_owned();
                    if status != EngineStatus::Suspended {
                        tracing::warn!(engine = %name, kind = error.kind(), error = %message, "engine failed");
                    }
                    engines.push(report(status, 0, None, Some((error.kind(), message)), 0));
                }
                Err(_) => {
                    tracing::warn!(engine = %name, timeout_ms = timeout.as_millis() as u64, "engine timed out");
                    let message = format!("no answer within {} ms", timeout.as_millis());
                    engines.push(report(
                        EngineStatus::Timeout,
                        0,
                        None,
                        Some(("timeout", message)),
                        0,
                    ));
                }
            }
        }
        Ok(SearchResponse {
            query: request.query.to_string(),
            page: request.page,
            per_page: request.per_page,
            results,
            engines,
            categories: self.tabs.clone(),
        })
    }

    async fn engines(&self) -> Result<EnginesResponse, ServiceError> {
        let mut engines = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            engines.push(EngineInfo {
                name: slot.engine.name().to_owned(),
                kind: slot.engine.kind().to_owned(),
                enabled: slot.enabled,
                suspended: slot.engine.suspended(),
                weight: slot.weight,
                timeout_ms: slot.timeout.as_millis() as u64,
                documents: slot.engine.documents().await,
                categories: slot.categories.clone(),
            });
        }
        Ok(EnginesResponse { engines })
    }

    /// The enabled engines' completions, each engine under its timeout,
    /// merged in configuration order without repeats.
    async fn suggest(&self, text: &str) -> Result<Suggestions, ServiceError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Suggestions::default());
        }
        let asked = self
            .slots
            .iter()
            .filter(|s| s.enabled && !s.engine.suspended());
        let answers = futures_util::future::join_all(asked.map(|slot| async move {
            tokio::time::timeout(slot.timeout, slot.engine.suggest(text, MAX_SUGGESTIONS))
                .await
                .unwrap_or_default()
        }))
        .await;
        let mut suggestions: Vec<String> = Vec::new();
        for suggestion in answers.into_iter().flatten() {
            if suggestions.len() == MAX_SUGGESTIONS {
                break;
            }
            if !suggestions.contains(&suggestion) {
                suggestions.push(suggestion);
            }
        }
        Ok(Suggestions {
            query: text.to_owned(),
            suggestions,
        })
    }

    /// Ready while some enabled engine can answer: a suspended upstream
    /// engine makes answers partial, not impossible.
    async fn readiness(&self) -> Readiness {
        let mut checks = Vec::with_capacity(self.slots.len());
        let mut ready = false;
        for slot in &self.slots {
            let check = slot.engine.readiness().await;
            ready |= slot.enabled && check.ok;
            checks.push(check);
        }
        Readiness { ready, checks }
    }
}

#[cfg(test)]
mod tests {
    use trawl_api::{Check, Query};

    use super::*;
    use crate::engine::EngineHit;

    /// An engine that answers after a delay, or fails.
    struct Scripted {
        name: &'static str,
        delay: Duration,
        fail: bool,
    }

    #[async_trait]
    impl Engine for Scripted {
        fn name(&self) -> &str {
            self.name
        }
        fn kind(&self) -> &'static str {
            "scripted"
        }
        async fn search(&self, _: &SearchRequest) -> Result<EngineResults, EngineError> {
            tokio::time::sleep(self.delay).await;
            if self.fail {
                return Err(EngineError::Failed("boom".into()));
            }
            Ok(EngineResults {
                hits: vec![EngineHit {
                    title: self.name.into(),
                    url: format!("https://{}.example/", self.name),
                    snippet: String::new(),
                    highlights: vec![],
                    score: 1.0,
                    // Dates as engines give them: an offset, or words.
                    published: match self.name {
                        "dated" => Some("2024-04-28T12:26:40+02:00".into()),
                        "garbled" => Some("yesterday".into()),
                        _ => None,
                    },
                }],
                total: Some(1),
            })
        }
        async fn documents(&self) -> Option<u64> {
            None
        }
        async fn readiness(&self) -> Check {
            Check::new(self.name, true, "ok")
        }
    }

    #[tokio::test]
    async fn dates_are_normalised_and_unreadable_ones_dropped() {
        let engine = |name| -> Arc<dyn Engine> {
            Arc::new(Scripted {
                name,
                delay: Duration::ZERO,
                fail: false,
            })
        };
        let searcher = Searcher::new(
            vec![engine("dated"), engine("garbled"), engine("plain")],
            Duration::from_secs(1),
        );
        let found = searcher
            .search(&SearchRequest::new(Query::parse("x").unwrap()))
            .await
            .unwrap();
        let dates: Vec<Option<&str>> = found
            .results
            .iter()
            .map(|h| h.published.as_deref())
            .collect();
        assert_eq!(dates, [Some("2024-04-28T10:26:40Z"), None, None]);
    }

    #[tokio::test(start_paused = true)]
    async fn engines_run_concurrently_and_report_in_configuration_order() {
        let engine = |name, ms, fail| -> Arc<dyn Engine> {
            Arc::new(Scripted {
                name,
                delay: Duration::from_millis(ms),
                fail,
            })
        };
        let searcher = Searcher::new(
            vec![
                engine("slow", 80, false),
                engine("hung", 10_000, false),
                engine("broken", 5, true),
                engine("fast", 10, false),
            ],
            Duration::from_millis(100),
        );
        let started = tokio::time::Instant::now();
        let mut request = SearchRequest::new(Query::parse("x").unwrap());
        request.page = 3;
        let response = searcher.search(&request).await.unwrap();
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(100),
            "bounded by the timeout, not the sum"
        );
        let statuses: Vec<_> = response
            .engines
            .iter()
            .map(|e| (e.name.as_str(), e.status))
            .collect();
        assert_eq!(
            statuses,
            [
                ("slow", EngineStatus::Ok),
                ("hung", EngineStatus::Timeout),
                ("broken", EngineStatus::Error),
                ("fast", EngineStatus::Ok)
            ]
        );
        let hits: Vec<_> = response
            .results
            .iter()
            .map(|h| (h.engine.as_str(), h.rank))
            .collect();
        assert_eq!(
            hits,
            [("slow", 21), ("fast", 21)],
            "ranks count from the page's offset"
        );
        assert_eq!(response.engines[2].error.as_deref(), Some("boom"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_asks_only_the_engines_it_names_and_refuses_unknown_ones() {
        let engine = |name| -> Arc<dyn Engine> {
            Arc::new(Scripted {
                name,
                delay: Duration::from_millis(1),
                fail: false,
            })
        };
        let searcher = Searcher::new(
            vec![engine("alpha"), engine("beta"), engine("gamma")],
            Duration::from_millis(100),
        );
        let mut request = SearchRequest::new(Query::parse("x").unwrap());
        request.engines = vec!["gamma".into(), "alpha".into()];
        let response = searcher.search(&request).await.unwrap();
        let asked: Vec<_> = response.engines.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(asked, ["alpha", "gamma"], "configuration order");
        assert_eq!(response.results.len(), 2);

        request.engines = vec!["alpha".into(), "delta".into()];
        let ServiceError::Invalid(invalid) = searcher.search(&request).await.unwrap_err() else {
            panic!("not an invalid request");
        };
        assert_eq!(invalid.param(), Some("engines"));
        assert!(
            invalid
                .to_string()
                .contains("`delta`, which is not a configured engine; the engines are `alpha`, `beta`, `gamma`"),
            "{invalid}"
        );
    }
}
