//! What the secret filter costs a log line: the filter over a request's
//! log line with no secret registered, and with eight (engine keys, a
//! replica key, passwords), measured in one run.
//!
//! ```sh
//! cargo run --release -p trawl-bench --example redact_cost
//! ```

use std::hint::black_box;
use std::time::Instant;

const LINE: &[u8] = br#"{"timestamp":"2026-12-08T00:40:12.401912Z","level":"INFO","fields":{"message":"served","status":200,"latency_ms":0.82},"target":"trawl_service::server","span":{"method":"GET","path":"/api/v1/search","otel.name":"GET /api/v1/search","otel.kind":"server","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","name":"request"}}"#;

fn per_line(rounds: u32) -> f64 {
    let started = Instant::now();
    for _ in 0..rounds {
        black_box(trawl_service::redact::bytes(black_box(LINE)));
    }
    started.elapsed().as_nanos() as f64 / f64::from(rounds)
}

fn main() {
    let rounds = 2_000_000;
    per_line(rounds / 10);
    let none = per_line(rounds);
    for i in 0..8 {
        trawl_service::redact::register(&format!("AIzaSyD-secret-key-number-{i}-0123456789abc"));
    }
    per_line(rounds / 10);
    let eight = per_line(rounds);
    println!(
        "a {}-byte log line: {none:.1} ns with no secret registered, {eight:.1} ns with eight",
        LINE.len()
    );
}
