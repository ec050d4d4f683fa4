//! A fixed loop of searches for profiling the engine with instruction counts,
//! which are repeatable on a noisy machine:
//!
//! ```sh
//! cargo build --release -p trawl-bench --example profile_search
//! trawl --data-dir /tmp/demo index add demo/trawl-demo.jsonl.gz
//! valgrind --tool=callgrind target/release/examples/profile_search /tmp/demo/index
//! callgrind_annotate callgrind.out.*
//! ```

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: profile_search INDEX_DIR");
    let index =
        trawl_index::LocalIndex::open_or_create(std::path::Path::new(&dir)).expect("an index");
    let queries = [
        "create index concurrently",
        "asyncio gather",
        "list comprehension",
        "vacuum full",
        "json dumps indent",
        "foreign key",
        "dataclass frozen",
        "window functions",
    ];
    for _ in 0..5 {
        for query in queries {
            std::hint::black_box(index.search(query, 0, 10).expect("a search"));
        }
    }
}
